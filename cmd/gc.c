/*
 * `juicefs gc META-URL [--delete] [--compact]`: find data objects that no
 * metadata references (spec §9.4), and with --delete remove them, together
 * with expired trash, pending deleted files and dead slices.
 *
 * An object is judged against every slice the metadata still knows, looked
 * up in JuiceFS's order: live slices (every slice of every chunk, files in
 * the trash and sustained or pending-delete files included), then pending
 * ones (refcount below one, objects not yet deleted), then delayed ones
 * (kept by compaction while trash is on; with trash off JuiceFS ignores
 * them). It is leaked when its slice id is unknown or its (indx, bsize)
 * cannot belong to a slice of the known size. Objects younger than
 * JFS_GC_SKIPPEDTIME seconds (default 3600) are skipped: a writer may have
 * put them and not yet committed the slice, so deleting them would lose
 * data. Among the older objects only keys shaped chunks/<a>/<b>/<x>_<y>_<z>
 * are judged, the rest passed over, as JuiceFS does. A temp file of a put
 * that never finished (".jfs.<name>.tmp.<n>", file store) has that shape and
 * no slice id, so once past the skipped time it is a leaked object.
 *
 * The counts are printed in JuiceFS's words, and counted by its rules, so
 * that scripts can compare the two implementations on the same volume.
 */
#include "cmd/cmd.h"

#include <time.h>

#include "fscore/chunk.h"
#include "fscore/fs.h"
#include "meta/meta.h"
#include "storage/obj.h"

static const struct conf_opt gc_opts[] = {
	{ "compact", 0, OPT_BOOL, "false", 0, "compact all chunks with more than 1 slices",
	  NULL },
	{ "delete", 0, OPT_BOOL, "false", 0, "delete leaked objects", NULL },
};

const struct conf_cmd cmd_gc_conf = {
	.name = "gc",
	.usage = "juicefs gc [command options] META-URL",
	.summary = "Garbage collector of objects in data storage",
	.description = "It scans all objects in data storage and slices in metadata, comparing "
		       "them to see if\n"
		       "there is any leaked object. It can also actively trigger compaction of "
		       "slices and the\n"
		       "cleanup of delayed deleted slices or files.\n"
		       "\n"
		       "Examples:\n"
		       "# Check and show the count of leaked objects\n"
		       "$ juicefs gc redis://localhost\n"
		       "\n"
		       "# Trigger compaction of all slices\n"
		       "$ juicefs gc redis://localhost --compact\n"
		       "\n"
		       "# Delete leaked objects and delayed deleted slices or files\n"
		       "$ juicefs gc redis://localhost --delete",
	.opts = gc_opts,
	.nopts = ARRAY_SIZE(gc_opts),
	.min_args = 1,
	.max_args = 1,
};

/* ---------------------------------------------------------------- blocks */

struct block_vec {
	struct cmd_block *v;
	size_t n, alloc;
};

/* How many times c occurs in s. */
static size_t count_ch(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* A number of a block name; 0 when it is not one, as Go's Atoi error gives. */
static uint64_t name_num(const char *p, size_t len)
{
	char part[24];
	uint64_t v;

	if (!len || len >= sizeof(part))
		return 0;
	memcpy(part, p, len);
	part[len] = 0;
	return parse_u64(part, &v) ? 0 : v;
}

/*
 * Key "chunks/<a>/<b>/<name>" (shaped) with name "<id>_<indx>_<bsize>"
 * (named); the parts of a named key that are not numbers read as 0.
 */
static void parse_block_key(struct cmd_block *e)
{
	const char *name = e->key + strlen("chunks/"), *u1, *u2;
	uint64_t indx, bsize;

	e->shaped = !strncmp(e->key, "chunks/", 7) && count_ch(name, '/') == 2;
	if (!e->shaped)
		return;
	name = strrchr(name, '/') + 1;
	e->named = count_ch(name, '_') == 2;
	if (!e->named)
		return;
	u1 = strchr(name, '_');
	u2 = strchr(u1 + 1, '_');
	e->id = name_num(name, (size_t)(u1 - name));
	indx = name_num(u1 + 1, (size_t)(u2 - u1 - 1));
	bsize = name_num(u2 + 1, strlen(u2 + 1));
	e->indx = indx > UINT32_MAX ? 0 : (uint32_t)indx;
	e->bsize = bsize > UINT32_MAX ? 0 : (uint32_t)bsize;
}

static int collect_block(void *arg, const struct obj_info *oi)
{
	struct block_vec *b = arg;
	struct cmd_block *e;

	if (b->n == b->alloc) {
		b->alloc = b->alloc ? b->alloc * 2 : 1024;
		b->v = xrealloc(b->v, b->alloc * sizeof(*b->v));
	}
	e = &b->v[b->n++];
	memset(e, 0, sizeof(*e));
	e->key = xstrdup(oi->key);
	e->size = oi->size;
	e->mtime_us = oi->mtime_us;
	parse_block_key(e);
	return 0;
}

int cmd_list_blocks(struct obj_store *s, struct cmd_block **out, size_t *n)
{
	struct block_vec b = { NULL, 0, 0 };
	int r = obj_list(s, "chunks/", NULL, 0, collect_block, &b);

	if (r < 0) {
		cmd_free_blocks(b.v, b.n);
		return r;
	}
	*out = b.v;
	*n = b.n;
	return 0;
}

void cmd_free_blocks(struct cmd_block *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].key);
	free(v);
}

/* ---------------------------------------------------------------- slices */

struct slice_ent {
	uint64_t id;
	uint32_t size;
};

/*
 * Open-addressing map id -> size, one per kind of slice (live, pending,
 * delayed), as JuiceFS keeps one per kind: an id may be in several.
 */
struct slice_map {
	struct slice_ent *v;
	size_t cap, n;
};

static struct slice_ent *map_find(const struct slice_map *m, uint64_t id)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = (size_t)(id * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
	while (m->v[i].id) {
		if (m->v[i].id == id)
			return &m->v[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

/* Add id (the first size seen stays); 1 when it was new. */
static int map_add(struct slice_map *m, uint64_t id, uint32_t size)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct slice_map big = { xcalloc(m->cap ? m->cap * 2 : 1024, sizeof(*m->v)),
					 m->cap ? m->cap * 2 : 1024, 0 };

		for (size_t k = 0; k < m->cap; k++)
			if (m->v[k].id)
				map_add(&big, m->v[k].id, m->v[k].size);
		free(m->v);
		*m = big;
	}
	if (map_find(m, id))
		return 0;
	i = (size_t)(id * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
	while (m->v[i].id)
		i = (i + 1) & (m->cap - 1);
	m->v[i].id = id;
	m->v[i].size = size;
	m->n++;
	return 1;
}

/*
 * What JuiceFS's ListSlices returns, by kind: every slice record of every
 * chunk (once per record: a slice shared by two chunks counts twice in the
 * bytes), the pending slices and the delayed ones.
 */
struct slices {
	struct slice_map live, pending, delayed;
	uint64_t bytes; /* every record of every kind */
};

static int add_chunk(void *arg, uint64_t ino, uint32_t indx, const struct meta_slice *s,
		     size_t n)
{
	struct slices *sl = arg;

	UNUSED(ino);
	UNUSED(indx);
	for (size_t i = 0; i < n; i++) {
		if (!s[i].id)
			continue;
		map_add(&sl->live, s[i].id, s[i].size);
		sl->bytes += s[i].size;
	}
	return 0;
}

static int add_pending(void *arg, const struct meta_slice_ref *r)
{
	struct slices *sl = arg;

	map_add(&sl->pending, r->id, r->size);
	sl->bytes += r->size;
	return 0;
}

/* A delayed slice listed twice (before and after --delete released some) counts once. */
static int add_delayed(void *arg, const struct meta_slice_ref *r)
{
	struct slices *sl = arg;

	if (map_add(&sl->delayed, r->id, r->size))
		sl->bytes += r->size;
	return 0;
}

static void slices_free(struct slices *sl)
{
	free(sl->live.v);
	free(sl->pending.v);
	free(sl->delayed.v);
}

struct delfile_sum {
	uint64_t n, bytes;
};

static int sum_delfile(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct delfile_sum *s = arg;

	UNUSED(ino);
	UNUSED(when);
	s->n++;
	s->bytes += length;
	return 0;
}

static int sum_slice(void *arg, const struct meta_slice_ref *r)
{
	struct delfile_sum *s = arg;

	s->n++;
	s->bytes += r->size;
	return 0;
}

/*
 * Does block (indx, bsize) belong to a slice of `size` bytes with block size
 * bs? JuiceFS's test: a full block must end within the slice, any other
 * must end exactly at its end.
 */
static int block_fits(uint32_t indx, uint32_t bsize, uint32_t size, uint32_t bs)
{
	uint64_t start = (uint64_t)indx * bs;

	if (bsize == bs)
		return start + bs <= size;
	return start + bsize == size;
}

/* ---------------------------------------------------------------- compact */

struct compact_list {
	uint64_t *ino;
	size_t n, alloc;
};

static int find_fragmented(void *arg, uint64_t ino, uint32_t indx, const struct meta_slice *s,
			   size_t n)
{
	struct compact_list *l = arg;

	UNUSED(indx);
	UNUSED(s);
	if (n <= 1 || (l->n && l->ino[l->n - 1] == ino))
		return 0;
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 64;
		l->ino = xrealloc(l->ino, l->alloc * sizeof(*l->ino));
	}
	l->ino[l->n++] = ino;
	return 0;
}

/* Compaction needs the writer and reader of fs.h: run it as a short-lived client. */
static int compact_all(const char *url, struct meta *m)
{
	struct compact_list l = { NULL, 0, 0 };
	struct fs_conf fc;
	struct fs *fs = NULL;
	struct buf err = BUF_INIT;
	size_t done = 0;
	int r = meta_scan_all_chunks(m, find_fragmented, &l);

	if (r) {
		cmd_fatal("scan chunks: %s", strerror(-r));
		goto out;
	}
	fs_conf_defaults(&fc);
	fc.cache_dir = "none";
	fc.no_bgjob = 1;
	fc.meta.no_bgjob = 1;
	fc.meta.mount_point = "gc";
	r = fs_open(url, &fc, &fs, &err);
	if (r) {
		cmd_fatal("open volume for compaction: %s", err.len ? err.ptr : strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		int c = fs_compact(fs, l.ino[i]);

		if (c && c != -ENOENT)
			log_warn("compact inode %llu: %s", (unsigned long long)l.ino[i],
				 strerror(-c));
		else if (!c)
			done++;
	}
	log_info("compacted %zu of %zu files with fragmented chunks", done, l.n);
out:
	fs_close(fs);
	buf_release(&err);
	free(l.ino);
	return r;
}

/* ---------------------------------------------------------------- command */

static int64_t skipped_time(void)
{
	const char *e = getenv("JFS_GC_SKIPPEDTIME");
	uint64_t v;

	if (e && *e && !parse_u64(e, &v))
		return (int64_t)v;
	return 3600;
}

int cmd_gc(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta_conf mc;
	struct meta *m = NULL;
	struct obj_store *s = NULL;
	struct chunk_store *cs = NULL;
	struct chunk_conf cc;
	struct cmd_block *blocks = NULL;
	struct slices sl;
	struct delfile_sum del = { 0, 0 }, delsl = { 0, 0 };
	struct buf err = BUF_INIT;
	struct cmd_logcap cap;
	size_t nblocks = 0;
	uint64_t valid = 0, pending = 0, pending_b = 0, compacted = 0, compacted_b = 0;
	uint64_t leaked = 0, leaked_b = 0, skipped = 0, skipped_b = 0, removed = 0, scanned = 0;
	int64_t edge_us;
	const char *url;
	int ret = 1, r, do_delete, do_compact;

	memset(&sl, 0, sizeof(sl));
	r = cmd_parse(&cmd_gc_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	do_delete = conf_get(&cmd_gc_conf, &p, "delete")->i != 0;
	do_compact = conf_get(&cmd_gc_conf, &p, "compact")->i != 0;

	/* Unlike the other admin commands, gc deletes objects: it needs a deleter. */
	meta_conf_defaults(&mc);
	mc.no_bgjob = 1;
	mc.max_deletes = do_delete ? 10 : 0;
	mc.mount_point = "gc";
	cmd_logcap_begin(&cap);
	r = meta_open(url, &mc, &m, &err);
	cmd_logcap_end(&cap, r != 0);
	if (r) {
		char *red = conf_redact_url(url);

		cmd_fatal("Meta %s is not available: %s", red, err.len ? err.ptr : strerror(-r));
		free(red);
		goto out;
	}
	if (cmd_load_format(m, url, &f) || cmd_open_storage(&f, &s))
		goto out;
	log_info("Data use %s", obj_describe(s));
	chunk_conf_defaults(&cc);
	r = chunk_conf_from_format(&cc, &f);
	if (r) {
		cmd_fatal("volume data format not supported: %s", strerror(-r));
		goto out;
	}
	cc.cache_dir = "";
	cc.mem_cache_size = 0;
	cc.prefetch = 0;
	r = chunk_store_new(s, &cc, &cs);
	if (r) {
		cmd_fatal("chunk store: %s", strerror(-r));
		goto out;
	}
	meta_set_slice_deleter(m, chunk_slice_deleter, cs);

	/*
	 * As JuiceFS prints them, "delslices" and "delfiles" are what --delete
	 * released: delayed slices that came due, and pending deleted files.
	 */
	if (do_delete) {
		struct delfile_sum before = { 0, 0 }, after = { 0, 0 }, fbefore = { 0, 0 };
		int n = 0;

		r = meta_list_delayed_slices(m, sum_slice, &before);
		/*
		 * JuiceFS lists the delayed slices before it releases those that
		 * came due, and counts them among the slices in use: so do we.
		 */
		if (!r && f.trash_days)
			r = meta_list_delayed_slices(m, add_delayed, &sl);
		if (!r)
			r = meta_cleanup_trash(m, 0, &n);
		if (!r)
			r = meta_list_delayed_slices(m, sum_slice, &after);
		if (r) {
			cmd_fatal("clean up trash: %s", strerror(-r));
			goto out;
		}
		if (n)
			log_info("removed %d expired trash directories", n);
		delsl.n = before.n - MIN(before.n, after.n);
		delsl.bytes = before.bytes - MIN(before.bytes, after.bytes);

		r = meta_list_deleted_files(m, sum_delfile, &fbefore);
		if (!r && fbefore.n)
			r = meta_cleanup_deleted_files(m, 0, &n);
		if (!r && fbefore.n)
			r = meta_list_deleted_files(m, sum_delfile, &del);
		if (r) {
			cmd_fatal("pending deleted files: %s", strerror(-r));
			goto out;
		}
		del.n = fbefore.n - MIN(fbefore.n, del.n);
		del.bytes = fbefore.bytes - MIN(fbefore.bytes, del.bytes);
	}
	if (do_compact && compact_all(url, m))
		goto out;
	if (do_delete) {
		int n = 0;

		r = meta_cleanup_slices(m, &n);
		if (r) {
			cmd_fatal("clean up dead slices: %s", strerror(-r));
			goto out;
		}
		if (n)
			log_info("deleted %d slices with no reference", n);
	}

	/* With trash off JuiceFS does not look at delayed slices at all. */
	r = meta_scan_all_chunks(m, add_chunk, &sl);
	if (!r)
		r = meta_list_dead_slices(m, add_pending, &sl);
	if (!r && f.trash_days)
		r = meta_list_delayed_slices(m, add_delayed, &sl);
	if (r) {
		cmd_fatal("list slices: %s", strerror(-r));
		goto out;
	}
	log_info("using %zu slices (%llu bytes)", sl.live.n + sl.delayed.n,
		 (unsigned long long)sl.bytes);

	r = cmd_list_blocks(s, &blocks, &nblocks);
	if (r) {
		cmd_fatal("list objects in %s: %s", obj_describe(s), strerror(-r));
		goto out;
	}
	edge_us = now_us() - skipped_time() * 1000000;
	for (size_t i = 0; i < nblocks; i++) {
		struct cmd_block *b = &blocks[i];
		struct slice_ent *e;
		enum { LIVE, PENDING, DELAYED } kind = LIVE;

		if (b->mtime_us > edge_us) {
			skipped++;
			skipped_b += b->size;
			continue;
		}
		/* Other keys are not JuiceFS's blocks: neither counted nor deleted. */
		if (!b->named)
			continue;
		scanned++;
		/* Looked up as JuiceFS does: live, then pending, then delayed. */
		e = map_find(&sl.live, b->id);
		if (!e && (e = map_find(&sl.pending, b->id)))
			kind = PENDING;
		if (!e && (e = map_find(&sl.delayed, b->id)))
			kind = DELAYED;
		if (e && block_fits(b->indx, b->bsize, e->size, cc.block_size)) {
			if (kind == LIVE) {
				valid++;
			} else if (kind == PENDING) {
				pending++;
				pending_b += b->size;
			} else {
				compacted++;
				compacted_b += b->size;
			}
			continue;
		}
		leaked++;
		leaked_b += b->size;
		log_debug("leaked object: %s (%llu bytes)", b->key, (unsigned long long)b->size);
		if (do_delete) {
			int d = obj_delete(s, b->key);

			if (d)
				log_warn("delete leaked object %s: %s", b->key, strerror(-d));
			else
				removed++;
		}
	}
	log_info("scanned %llu objects, %llu valid, %llu pending delete (%llu bytes), %llu "
		 "compacted (%llu bytes), %llu leaked (%llu bytes), %llu delslices (%llu bytes), "
		 "%llu delfiles (%llu bytes), %llu skipped (%llu bytes)",
		 (unsigned long long)(scanned + skipped), (unsigned long long)valid,
		 (unsigned long long)pending, (unsigned long long)pending_b, (unsigned long long)compacted,
		 (unsigned long long)compacted_b, (unsigned long long)leaked,
		 (unsigned long long)leaked_b, (unsigned long long)delsl.n,
		 (unsigned long long)delsl.bytes, (unsigned long long)del.n,
		 (unsigned long long)del.bytes, (unsigned long long)skipped,
		 (unsigned long long)skipped_b);
	if (leaked && !do_delete)
		log_info("Please add `--delete` to clean leaked objects");
	else if (do_delete && leaked)
		log_info("deleted %llu leaked objects", (unsigned long long)removed);
	ret = do_delete && removed != leaked ? 1 : 0;
	if (ret)
		cmd_fatal("%llu leaked objects could not be deleted",
			  (unsigned long long)(leaked - removed));
out:
	cmd_free_blocks(blocks, nblocks);
	slices_free(&sl);
	meta_close(m);
	chunk_store_free(cs);
	obj_free(s);
	buf_release(&err);
	conf_format_release(&f);
	conf_parsed_release(&p);
	return ret;
}
