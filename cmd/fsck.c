/*
 * `juicefs fsck META-URL`: check that every block object of every slice the
 * metadata keeps exists (spec §9.5, the object-level check without --path).
 *
 * The slices are JuiceFS's ListSlices: every slice record of every chunk
 * (files in the trash and sustained files included; a slice that two chunks
 * share is checked and counted for each), and with trash on the delayed
 * slices of compaction, which the trash may still need (reported under
 * inode 1). Inodes waiting in delfiles are skipped: their data is being
 * deleted on purpose. The object listing is taken first and each expected
 * key is looked up in it; a key missing from the listing is confirmed with
 * HEAD, because an object put after the listing began may be absent from it.
 * Lost blocks are reported with the files they belong to, and the command
 * then fails. The counts are JuiceFS's, for scripts that compare the two.
 */
#include "cmd/cmd.h"

#include "fscore/chunk.h"
#include "meta/meta.h"
#include "storage/obj.h"

const struct conf_cmd cmd_fsck_conf = {
	.name = "fsck",
	.usage = "juicefs fsck [command options] META-URL",
	.summary = "Check consistency of a volume",
	.description = "Check the consistency of the metadata and the data objects of a "
		       "volume: every block\n"
		       "that a file refers to must exist in the object storage.\n"
		       "\n"
		       "Examples:\n"
		       "$ juicefs fsck redis://localhost",
	.opts = NULL,
	.nopts = 0,
	.min_args = 1,
	.max_args = 1,
};

struct fsck_state {
	struct obj_store *s;
	struct cmd_block *blocks;
	size_t nblocks;
	uint32_t bs;
	int hash_prefix;
	uint64_t *skip_ino; /* delfiles, sorted */
	size_t nskip;
	uint64_t found, found_bytes; /* blocks listed, or found by HEAD */
	uint64_t slices, slice_bytes, lost, lost_bytes;
	uint64_t *broken; /* inodes with a lost block */
	size_t nbroken, broken_alloc;
	struct meta *m;
	int err;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_key(const void *k, const void *e)
{
	return strcmp(k, ((const struct cmd_block *)e)->key);
}

static void mark_broken(struct fsck_state *st, uint64_t ino)
{
	for (size_t i = 0; i < st->nbroken; i++)
		if (st->broken[i] == ino)
			return;
	if (st->nbroken == st->broken_alloc) {
		st->broken_alloc = st->broken_alloc ? st->broken_alloc * 2 : 16;
		st->broken = xrealloc(st->broken, st->broken_alloc * sizeof(*st->broken));
	}
	st->broken[st->nbroken++] = ino;
}

/* Check the blocks of one slice record of inode ino. */
static void check_slice(struct fsck_state *st, uint64_t ino, uint64_t id, uint32_t size)
{
	uint32_t nb = chunk_nblocks(size, st->bs);

	for (uint32_t b = 0; b < nb; b++) {
		char key[CHUNK_KEY_MAX];
		uint32_t bl = chunk_block_len(size, b, st->bs);
		struct obj_info oi;
		int r;

		chunk_block_key(key, id, b, bl, st->hash_prefix);
		if (st->nblocks &&
		    bsearch(key, st->blocks, st->nblocks, sizeof(*st->blocks), cmp_key))
			continue;
		r = obj_head(st->s, key, &oi);
		if (r == 0) {
			st->found++;
			st->found_bytes += oi.size;
			continue;
		}
		if (r != -ENOENT) {
			log_error("head %s: %s", key, strerror(-r));
			st->err = r;
		}
		{
			struct buf path = BUF_INIT;

			if (meta_path_of(st->m, ino, &path))
				buf_addf(&path, "(inode %llu)", (unsigned long long)ino);
			log_error("can't find block %s for file %s: %s", key + strlen("chunks/"),
				  path.ptr, strerror(-r));
			buf_release(&path);
		}
		st->lost++;
		st->lost_bytes += bl;
		mark_broken(st, ino);
	}
	st->slices++;
	st->slice_bytes += size;
}

static int check_chunk(void *arg, uint64_t ino, uint32_t indx, const struct meta_slice *s,
		       size_t n)
{
	struct fsck_state *st = arg;

	UNUSED(indx);
	if (st->nskip && bsearch(&ino, st->skip_ino, st->nskip, sizeof(uint64_t), cmp_u64))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i].id)
			check_slice(st, ino, s[i].id, s[i].size);
	return 0;
}

/* JuiceFS files the delayed slices under inode 1. */
static int check_delayed(void *arg, const struct meta_slice_ref *r)
{
	check_slice(arg, 1, r->id, r->size);
	return 0;
}

static int collect_skip(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct fsck_state *st = arg;

	UNUSED(length);
	UNUSED(when);
	st->skip_ino = xrealloc(st->skip_ino, (st->nskip + 1) * sizeof(uint64_t));
	st->skip_ino[st->nskip++] = ino;
	return 0;
}

int cmd_fsck(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta *m = NULL;
	struct obj_store *s = NULL;
	struct fsck_state st;
	struct buf msg = BUF_INIT;
	const char *url;
	int ret = 1, r;

	memset(&st, 0, sizeof(st));
	r = cmd_parse(&cmd_fsck_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	if (cmd_open_meta(url, 0, &m) || cmd_load_format(m, url, &f) || cmd_open_storage(&f, &s))
		goto out;
	log_info("Data use %s", obj_describe(s));
	st.s = s;
	st.m = m;
	st.bs = (uint32_t)f.block_size * 1024;
	st.hash_prefix = f.hash_prefix;
	if (!st.bs) {
		cmd_fatal("invalid block size in the volume setting");
		goto out;
	}
	r = cmd_list_blocks(s, &st.blocks, &st.nblocks);
	if (r) {
		cmd_fatal("list objects in %s: %s", obj_describe(s), strerror(-r));
		goto out;
	}
	/* Like JuiceFS, only keys chunks/<a>/<b>/<name> count as blocks. */
	for (size_t i = 0; i < st.nblocks; i++) {
		if (!st.blocks[i].shaped)
			continue;
		st.found++;
		st.found_bytes += st.blocks[i].size;
	}
	r = meta_list_deleted_files(m, collect_skip, &st);
	if (!r) {
		if (st.nskip)
			qsort(st.skip_ino, st.nskip, sizeof(uint64_t), cmp_u64);
		r = meta_scan_all_chunks(m, check_chunk, &st);
	}
	if (!r && f.trash_days)
		r = meta_list_delayed_slices(m, check_delayed, &st);
	if (r) {
		cmd_fatal("scan chunks: %s", strerror(-r));
		goto out;
	}
	log_info("Found %llu blocks (%llu bytes)", (unsigned long long)st.found,
		 (unsigned long long)st.found_bytes);
	log_info("Used by %llu slices (%llu bytes)", (unsigned long long)st.slices,
		 (unsigned long long)st.slice_bytes);
	if (st.lost) {
		buf_addf(&msg, "%llu objects are lost (%llu bytes), %zu broken files: INODE: PATH",
			 (unsigned long long)st.lost, (unsigned long long)st.lost_bytes,
			 st.nbroken);
		for (size_t i = 0; i < st.nbroken; i++) {
			struct buf path = BUF_INIT;

			if (meta_path_of(m, st.broken[i], &path))
				buf_addf(&path, "?");
			buf_addf(&msg, "; %llu: %s", (unsigned long long)st.broken[i], path.ptr);
			buf_release(&path);
		}
		cmd_fatal("%s", msg.ptr);
		goto out;
	}
	if (st.err) {
		cmd_fatal("some objects could not be checked: %s", strerror(-st.err));
		goto out;
	}
	ret = 0;
out:
	buf_release(&msg);
	cmd_free_blocks(st.blocks, st.nblocks);
	free(st.skip_ino);
	free(st.broken);
	obj_free(s);
	meta_close(m);
	conf_format_release(&f);
	conf_parsed_release(&p);
	return ret;
}
