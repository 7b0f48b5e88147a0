/*
 * fscore differential test: a file written through fs.h is compared, after
 * every operation, with an in-memory model. Seeded and reproducible
 * (JFS_SEED), bounded by default and long in soak mode (JFS_SOAK_OPS).
 * Runs on mem and file storage, and with fault-injection storage.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "fscore/fs.h"
#include "storage/obj.h"
#include "t/unit/testhelp.h"

#define MB (1ULL << 20)
#define SPAN (66 * MB) /* model covers offsets around the first chunk border */

static char *tmpdir;
static struct obj_store *store;
static struct fs *fs;
static int use_file_storage;

/*
 * A store wrapper that runs get_hook once, before the get_hook_at-th GET
 * after it is armed: a test's way to change the volume between a reader's
 * chunk-list read and its block fetch.
 */
static void (*get_hook)(void);
static int get_hook_at, use_get_hook;
/* With use_get_hook: each GET takes get_delay_ms; GETs and the most at once are counted. */
static int get_delay_ms;
static pthread_mutex_t get_mu = PTHREAD_MUTEX_INITIALIZER;
static int gets_active, gets_peak, gets_done;

static int hk_bucket(struct obj_store *s) { return obj_create_bucket(s->inner); }
static int hk_put(struct obj_store *s, const char *k, const void *d, size_t n)
{
	return obj_put(s->inner, k, d, n);
}
static ssize_t hk_get(struct obj_store *s, const char *k, uint64_t off, void *dst, size_t n)
{
	if (get_hook && !--get_hook_at) {
		void (*fn)(void) = get_hook;
		get_hook = NULL;
		fn();
	}
	pthread_mutex_lock(&get_mu);
	if (++gets_active > gets_peak)
		gets_peak = gets_active;
	pthread_mutex_unlock(&get_mu);
	if (get_delay_ms)
		usleep((useconds_t)get_delay_ms * 1000);
	ssize_t r = obj_get(s->inner, k, off, dst, n);
	pthread_mutex_lock(&get_mu);
	gets_active--;
	gets_done++;
	pthread_mutex_unlock(&get_mu);
	return r;
}
static int hk_head(struct obj_store *s, const char *k, struct obj_info *oi)
{
	return obj_head(s->inner, k, oi);
}
static int hk_del(struct obj_store *s, const char *k) { return obj_delete(s->inner, k); }
static int hk_list(struct obj_store *s, const char *prefix, const char *after, size_t limit,
		   obj_list_fn cb, void *arg)
{
	return obj_list(s->inner, prefix, after, limit, cb, arg);
}
static void hk_free(struct obj_store *s) { free(s); }
static int hk_sync(struct obj_store *s) { return obj_sync(s->inner); }
static const char *hk_describe(struct obj_store *s) { return obj_describe(s->inner); }
static const struct obj_ops hook_ops = { "hook",  hk_bucket, hk_put,  hk_get,     hk_head,
					 hk_del,  hk_list,   hk_free, hk_sync, hk_describe };

static struct obj_store *hook_new(struct obj_store *inner)
{
	struct obj_store *s = xcalloc(1, sizeof(*s));
	s->ops = &hook_ops;
	s->inner = inner;
	return s;
}
static int vol_seq;
static struct meta_ctx root;

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* xorshift64*: reproducible across platforms */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	uint64_t v;
	return s && !parse_u64(s, &v) ? v : def;
}

static void open_fs(const char *compress, const char *fault)
{
	struct meta_conf mc;
	struct meta *m;
	struct buf err = BUF_INIT;
	struct conf_format f;
	char *url = xasprintf("mem://fs-%d-%d", (int)getpid(), ++vol_seq);
	tmpdir = test_tmpdir("fs");
	meta_conf_defaults(&mc);
	mc.create = 1;
	ck_assert_int_eq(meta_open(url, &mc, &m, &err), 0);
	conf_format_defaults(&f);
	free(f.name);
	f.name = xstrdup("fsvol");
	f.block_size = 64; /* KiB: many blocks per slice with little data */
	free(f.compression);
	f.compression = xstrdup(compress);
	f.trash_days = 0;
	ck_assert_int_eq(meta_init(m, &f, 0, &err), 0);
	conf_format_release(&f);

	struct obj_store *base = use_file_storage ? obj_file_new(tmpdir) : obj_mem_new();
	store = obj_prefix_new(base, "fsvol/");
	if (fault)
		store = obj_fault_new(store, fault);
	if (use_get_hook)
		store = hook_new(store);
	struct fs_conf c;
	fs_conf_defaults(&c);
	c.obj = store;
	c.cache_dir = "";
	c.io_retries = 0;
	c.buffer_size = 8 * MB;
	c.max_uploads = 4;
	/* the shared mem:// store keeps the volume while m is open */
	int r = fs_open(url, &c, &fs, &err);
	ck_assert_msg(r == 0, "fs_open: %s", err.ptr);
	meta_close(m);
	free(url);
	buf_release(&err);
	meta_ctx_root(&root);
}

static void close_fs(void)
{
	fs_close(fs);
	fs = NULL;
	obj_free(store);
	store = NULL;
	test_rm_rf(tmpdir);
	free(tmpdir);
}

struct model {
	uint8_t *data;
	uint64_t len;
};

static void check_range(struct fs_file *fh, const struct model *md, uint64_t off, size_t n)
{
	uint8_t *got = xmalloc(n ? n : 1);
	ssize_t r = fs_read(fh, off, got, n);
	size_t want = off >= md->len ? 0 : (size_t)MIN((uint64_t)n, md->len - off);
	ck_assert_msg(r == (ssize_t)want, "read %llu+%zu: got %zd want %zu",
		      (unsigned long long)off, n, r, want);
	if (want && memcmp(got, md->data + off, want)) {
		size_t i = 0;
		while (got[i] == md->data[off + i])
			i++;
		ck_abort_msg("bytes differ at %llu (seed %llu)", (unsigned long long)(off + i),
			     (unsigned long long)env_u64("JFS_SEED", 1));
	}
	/* the FUSE door's read: the same bytes as pieces of pinned blocks and zeros */
	struct chunk_vec v = CHUNK_VEC_INIT;
	memset(got, 0x5a, n ? n : 1);
	r = fs_read_vec(fh, off, n, &v);
	ck_assert_msg(r == (ssize_t)want, "vec read %llu+%zu: got %zd want %zu",
		      (unsigned long long)off, n, r, want);
	size_t o = 0;
	for (size_t i = 0; i < v.n; o += v.p[i].len, i++) {
		ck_assert_uint_le(o + v.p[i].len, want);
		memcpy(got + o, v.p[i].data, v.p[i].len);
	}
	ck_assert_uint_eq(o, want);
	ck_assert_msg(!want || !memcmp(got, md->data + off, want), "vec read %llu+%zu differs",
		      (unsigned long long)off, n);
	chunk_vec_release(&v);
	free(got);
}

static uint64_t pick_off(void)
{
	/*
	 * Cluster around the chunk border, where bugs live. One cluster only:
	 * compaction materialises holes, so data at both ends of a chunk would
	 * make every compaction rewrite 64 MiB.
	 */
	return 63 * MB + rnd() % (2 * MB);
}

static void run_differential(uint64_t ops)
{
	struct model md = { xcalloc(1, SPAN), 0 };
	struct fs_file *fh;
	uint64_t ino, clone_ino = 0;
	uint8_t *buf = xmalloc(512 * 1024);
	ck_assert_int_eq(fs_create(fs, &root, 1, "f", 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
	for (uint64_t i = 0; i < ops; i++) {
		unsigned op = (unsigned)(rnd() % 100);
		if (op < 55) { /* write */
			uint64_t off = pick_off();
			size_t n = 1 + (size_t)(rnd() % (300 * 1024));
			if (off + n > SPAN)
				n = (size_t)(SPAN - off);
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)(rnd() >> 56);
			ck_assert_int_eq(fs_write(fh, off, buf, n), (ssize_t)n);
			memcpy(md.data + off, buf, n);
			md.len = MAX(md.len, off + n);
		} else if (op < 80) { /* read */
			check_range(fh, &md, pick_off(), 1 + (size_t)(rnd() % (400 * 1024)));
		} else if (op < 85) { /* truncate */
			uint64_t nl = rnd() % 8 ? pick_off() : 0;
			ck_assert_int_eq(fs_truncate(fs, &root, ino, nl, NULL), 0);
			if (nl < md.len)
				memset(md.data + nl, 0, md.len - nl);
			md.len = nl;
		} else if (op < 90) { /* reopen */
			ck_assert_int_eq(fs_release(fh), 0);
			ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDWR, &fh, NULL), 0);
		} else if (op < 93) { /* compact everything */
			ck_assert_int_eq(fs_flush(fh), 0);
			ck_assert_int_eq(fs_compact(fs, ino), 0);
		} else if (op < 97) { /* clone and check the copy */
			struct fs_file *ch;
			ck_assert_int_eq(fs_flush(fh), 0);
			if (!clone_ino) {
				ck_assert_int_eq(fs_create(fs, &root, 1, "clone", 0644, 0, O_RDWR,
							   &ch, &clone_ino, NULL), 0);
				ck_assert_int_eq(fs_release(ch), 0);
			}
			ck_assert_int_eq(fs_clone(fs, &root, ino, clone_ino), 0);
			ck_assert_int_eq(fs_open_file(fs, &root, clone_ino, O_RDONLY, &ch, NULL), 0);
			for (int k = 0; k < 4; k++)
				check_range(ch, &md, pick_off(), 256 * 1024);
			/* overwrite the source: the clone must keep the old bytes */
			uint64_t off = pick_off(), lo = off > 100 ? off - 100 : 0;
			uint8_t *old = xmalloc(8192);
			memcpy(old, md.data + lo, 8192);
			uint64_t oldlen = md.len;
			memset(buf, 0xAB, 4096);
			ck_assert_int_eq(fs_write(fh, off, buf, 4096), 4096);
			memcpy(md.data + off, buf, 4096);
			md.len = MAX(md.len, off + 4096);
			ck_assert_int_eq(fs_flush(fh), 0);
			uint8_t *got = xmalloc(8192);
			size_t want = lo >= oldlen ? 0 : (size_t)MIN(8192, oldlen - lo);
			ck_assert_int_eq(fs_read(ch, lo, got, 8192), (ssize_t)want);
			ck_assert(!memcmp(got, old, want));
			free(got);
			free(old);
			ck_assert_int_eq(fs_release(ch), 0);
		} else { /* getattr length */
			struct meta_attr a;
			ck_assert_int_eq(fs_getattr(fs, &root, ino, &a), 0);
			ck_assert_uint_eq(a.length, md.len);
		}
	}
	/* final sweep over the three regions */
	for (uint64_t off = 63 * MB; off < 65 * MB; off += 512 * 1024)
		check_range(fh, &md, off, 512 * 1024);
	check_range(fh, &md, 0, 512 * 1024); /* the hole before the cluster */
	ck_assert_int_eq(fs_release(fh), 0);
	free(buf);
	free(md.data);
}

static void differential(const char *compress, int file_storage)
{
	use_file_storage = file_storage;
	rng_state = env_u64("JFS_SEED", 1) * 2654435761ULL + 7;
	open_fs(compress, NULL);
	run_differential(env_u64("JFS_SOAK_OPS", 600));
	close_fs();
}

START_TEST(test_diff_mem_none) { differential("none", 0); }
END_TEST
START_TEST(test_diff_mem_lz4) { differential("lz4", 0); }
END_TEST
START_TEST(test_diff_file_zstd) { differential("zstd", 1); }
END_TEST
START_TEST(test_diff_file_none) { differential("none", 1); }
END_TEST

/* Each file is one slice: fsync either commits all of it or nothing. */
START_TEST(test_faults)
{
	use_file_storage = 0;
	rng_state = 99;
	open_fs("none", "put=prob:0.1,get=prob:0.1,seed=7");
	uint8_t *data = xmalloc(MB), *got = xmalloc(MB);
	int failed_flush = 0, ok_flush = 0, failed_read = 0;
	for (int i = 0; i < 40; i++) {
		char name[32];
		struct fs_file *fh;
		uint64_t ino;
		snprintf(name, sizeof(name), "f%d", i);
		for (size_t k = 0; k < MB; k++)
			data[k] = (uint8_t)(rnd() >> 56);
		ck_assert_int_eq(fs_create(fs, &root, 1, name, 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
		ck_assert_int_eq(fs_write(fh, 0, data, MB), (ssize_t)MB);
		int r = fs_fsync(fh);
		ck_assert_int_eq(fs_release(fh), 0);
		struct meta_attr a;
		ck_assert_int_eq(fs_getattr(fs, &root, ino, &a), 0);
		if (r) {
			ck_assert_int_eq(r, -EIO);
			ck_assert_uint_eq(a.length, 0); /* nothing committed */
			failed_flush++;
			continue;
		}
		ok_flush++;
		ck_assert_uint_eq(a.length, MB);
		ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
		for (int tries = 0;; tries++) {
			ssize_t n = fs_read(fh, 0, got, MB);
			if (n == -EIO && tries < 50) {
				failed_read++;
				continue; /* a failed download is an error, never wrong bytes */
			}
			ck_assert_int_eq(n, (ssize_t)MB);
			ck_assert(!memcmp(got, data, MB));
			break;
		}
		ck_assert_int_eq(fs_release(fh), 0);
	}
	ck_assert_int_gt(failed_flush, 0);
	ck_assert_int_gt(ok_flush, 0);
	ck_assert_int_gt(failed_read, 0);
	free(data);
	free(got);
	close_fs();
}
END_TEST

struct thr_arg {
	int id;
	int fail;
};

static void *writer_thread(void *p)
{
	struct thr_arg *a = p;
	char name[32];
	struct fs_file *fh;
	uint64_t ino;
	uint8_t *buf = xmalloc(256 * 1024);
	snprintf(name, sizeof(name), "t%d", a->id);
	if (fs_create(fs, &root, 1, name, 0644, 0, O_RDWR, &fh, &ino, NULL)) {
		a->fail = 1;
		goto out;
	}
	for (int i = 0; i < 16; i++) {
		memset(buf, a->id * 16 + i, 256 * 1024);
		if (fs_write(fh, (uint64_t)i * 256 * 1024, buf, 256 * 1024) != 256 * 1024)
			a->fail = 1;
	}
	if (fs_release(fh))
		a->fail = 1;
	if (fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL)) {
		a->fail = 1;
		goto out;
	}
	for (int i = 0; i < 16; i++) {
		if (fs_read(fh, (uint64_t)i * 256 * 1024, buf, 256 * 1024) != 256 * 1024 ||
		    buf[0] != (uint8_t)(a->id * 16 + i) || buf[256 * 1024 - 1] != buf[0])
			a->fail = 1;
	}
	fs_release(fh);
out:
	free(buf);
	return NULL;
}

static void *reader_thread(void *p)
{
	struct thr_arg *a = p;
	struct fs_file *fh;
	uint64_t ino;
	uint8_t *buf = xmalloc(64 * 1024);
	if (fs_resolve(fs, &root, "/shared", &ino, NULL) ||
	    fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL)) {
		a->fail = 1;
		free(buf);
		return NULL;
	}
	for (int round = 0; round < 20; round++)
		for (uint64_t off = 0; off < 2 * MB; off += 64 * 1024)
			if (fs_read(fh, off, buf, 64 * 1024) != 64 * 1024 ||
			    buf[0] != (uint8_t)(off / (64 * 1024)))
				a->fail = 1;
	fs_release(fh);
	free(buf);
	return NULL;
}

START_TEST(test_concurrency)
{
	use_file_storage = 1;
	open_fs("lz4", NULL);
	/* a shared file made of many small slices, so compaction has work */
	struct fs_file *fh;
	uint64_t ino;
	uint8_t blk[64 * 1024];
	ck_assert_int_eq(fs_create(fs, &root, 1, "shared", 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
	for (uint64_t off = 0; off < 2 * MB; off += sizeof(blk)) {
		memset(blk, (int)(off / sizeof(blk)), sizeof(blk));
		ck_assert_int_eq(fs_write(fh, off, blk, sizeof(blk)), (ssize_t)sizeof(blk));
		ck_assert_int_eq(fs_flush(fh), 0);
	}
	ck_assert_int_eq(fs_release(fh), 0);
	pthread_t th[8];
	struct thr_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i].id = i;
		args[i].fail = 0;
		pthread_create(&th[i], NULL, i < 4 ? writer_thread : reader_thread, &args[i]);
	}
	ck_assert_int_eq(fs_compact(fs, ino), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!args[i].fail, "thread %d failed", i);
	}
	struct fs_stats st;
	fs_get_stats(fs, &st);
	ck_assert_uint_le(st.buffer_peak, st.buffer_cap);
	close_fs();
}
END_TEST

/* ---- directory quotas through the file layer ---- */
static uint64_t quota_dir;

struct quota_thr {
	int id;
	uint64_t written; /* bytes acknowledged, all committed by release */
	int fail;
};

static void *quota_writer(void *p)
{
	struct quota_thr *a = p;
	struct fs_file *fh;
	uint64_t ino;
	uint8_t blk[16 * 1024];
	char name[16];
	snprintf(name, sizeof(name), "w%d", a->id);
	if (fs_create(fs, &root, quota_dir, name, 0644, 0, O_RDWR, &fh, &ino, NULL)) {
		a->fail = 1;
		return NULL;
	}
	memset(blk, 'a' + a->id, sizeof(blk));
	for (;;) {
		ssize_t w = fs_write(fh, a->written, blk, sizeof(blk));
		if (w == -EDQUOT)
			break;
		if (w != (ssize_t)sizeof(blk)) {
			a->fail = 2;
			break;
		}
		a->written += sizeof(blk);
	}
	/* racing writers: the commit may still refuse what the precheck let by */
	int r = fs_release(fh);
	if (r && r != -EDQUOT)
		a->fail = 3;
	struct meta_attr at;
	if (fs_lookup(fs, &root, quota_dir, name, &ino, &at))
		a->fail = 4;
	else if (!r && at.length != a->written)
		a->fail = 5; /* acknowledged and committed bytes differ */
	else
		a->written = at.length;
	return NULL;
}

START_TEST(test_quota_writes)
{
	open_fs("none", NULL);
	struct meta *m = fs_meta(fs);
	struct meta_quota q;
	struct fs_file *fh;
	uint64_t ino, tino;
	uint8_t blk[64 * 1024];
	struct buf tname = BUF_INIT;
	ck_assert_int_eq(fs_mkdir(fs, &root, 1, "q", 0755, 0, &quota_dir, NULL), 0);
	ck_assert_int_eq(meta_quota_set(m, quota_dir, 256 * 1024, -1, 0, NULL), 0);
	/* one writer fills the quota to the byte, then is refused before buffering */
	ck_assert_int_eq(fs_create(fs, &root, quota_dir, "f", 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
	memset(blk, 'x', sizeof(blk));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(fs_write(fh, (uint64_t)i * sizeof(blk), blk, sizeof(blk)),
				 (ssize_t)sizeof(blk));
	ck_assert_int_eq(fs_write(fh, 4 * sizeof(blk), blk, 1), -EDQUOT);
	ck_assert_int_eq(fs_release(fh), 0);
	ck_assert_int_eq(meta_quota_get(m, quota_dir, &q), 0);
	ck_assert_int_eq(q.used_space, 256 * 1024);
	/* a door's temp file is checked against its destination */
	ck_assert_int_eq(fs_unlink(fs, &root, quota_dir, "f", 1), 0);
	ck_assert_int_eq(fs_create_temp(fs, &root, "/.tmpq", &fh, &tino, &tname), 0);
	fs_file_quota_dir(fh, quota_dir, -1);
	ck_assert_int_eq(fs_write(fh, 0, blk, sizeof(blk)), (ssize_t)sizeof(blk));
	ck_assert_int_eq(fs_write(fh, 4 * sizeof(blk), blk, sizeof(blk)), -EDQUOT);
	ck_assert_int_eq(fs_release(fh), 0);
	buf_release(&tname);
	ck_assert_int_eq(fs_quota_precheck(fs, "/q/new", 300 * 1024), -EDQUOT);
	ck_assert_int_eq(fs_quota_precheck(fs, "/q/new", 200 * 1024), 0);
	ck_assert_int_eq(fs_quota_precheck(fs, "/elsewhere/new", 300 * 1024), 0);

	/* eight writers race one 1 MiB quota */
	ck_assert_int_eq(fs_mkdir(fs, &root, 1, "race", 0755, 0, &quota_dir, NULL), 0);
	ck_assert_int_eq(meta_quota_set(m, quota_dir, 1 << 20, -1, 0, NULL), 0);
	pthread_t th[8];
	struct quota_thr a[8];
	for (int i = 0; i < 8; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].id = i;
		pthread_create(&th[i], NULL, quota_writer, &a[i]);
	}
	uint64_t total = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!a[i].fail, "writer %d failed (%d)", i, a[i].fail);
		total += a[i].written;
	}
	int64_t space, inodes;
	ck_assert_int_eq(meta_quota_get(m, quota_dir, &q), 0);
	ck_assert_int_eq(meta_dir_usage(m, quota_dir, 1, &space, &inodes), 0);
	ck_assert_int_eq(q.used_space, space);
	ck_assert_int_le(q.used_space, 1 << 20);
	/* refusals only when full: less than one 16 KiB write per writer short */
	ck_assert_int_gt(q.used_space, (1 << 20) - 8 * 16 * 1024 - 8 * 4096);
	ck_assert_uint_le(total, 1 << 20);
	close_fs();
}
END_TEST

/*
 * The temp folder's inode is remembered (fs_create_temp_dir): one removed
 * behind its back is made again, and fs_rename_if moves a temp file into a
 * folder given by inode, with the guard on the replaced inode.
 */
START_TEST(test_temp_dir_remembered)
{
	open_fs("none", NULL);
	struct fs_file *fh;
	struct meta_attr a;
	uint64_t tdir, tdir2, tino, top, dino, ino;
	struct buf tname = BUF_INIT;
	ck_assert_int_eq(fs_create_temp_dir(fs, &root, "/.t/tmp", &tdir, &fh, &tino, &tname), 0);
	ck_assert_int_eq(fs_release(fh), 0);
	ck_assert_int_eq(fs_mkdir(fs, &root, 1, "d", 0755, 0, &dino, NULL), 0);
	ck_assert_int_eq(fs_rename_if(fs, &root, tdir, tname.ptr, dino, "f", 0, 0, 0, &ino, &a), 0);
	ck_assert_uint_eq(ino, tino);
	ck_assert_int_eq(a.type, META_TYPE_FILE);
	/* the folder goes: the next temp file makes it again */
	ck_assert_int_eq(fs_resolve(fs, &root, "/.t", &top, NULL), 0);
	ck_assert_int_eq(fs_rmdir(fs, &root, top, "tmp", 1), 0);
	ck_assert_int_eq(fs_create_temp_dir(fs, &root, "/.t/tmp", &tdir2, &fh, &tino, &tname), 0);
	ck_assert_int_eq(fs_release(fh), 0);
	ck_assert_uint_ne(tdir2, tdir);
	ck_assert_int_eq(fs_resolve(fs, &root, "/.t/tmp", &tdir, NULL), 0);
	ck_assert_uint_eq(tdir2, tdir);
	/* replace only the inode named: another one there is -ESTALE */
	ck_assert_int_eq(fs_rename_if(fs, &root, tdir, tname.ptr, dino, "f", 0, 0, tino + 1000, NULL,
				      NULL), -ESTALE);
	ck_assert_int_eq(fs_rename_if(fs, &root, tdir, tname.ptr, dino, "f", 0, 0, ino, NULL, NULL),
			 0);
	ck_assert_int_eq(fs_replace(fs, &root, "/.t/tmp", "nosuch", "/d/g"), -ENOENT);
	buf_release(&tname);
	close_fs();
}
END_TEST

/* Resolve below a jail root: links followed, every way out refused. */
START_TEST(test_resolve_at)
{
	struct meta_attr a;
	uint64_t alice, bob, sub, f, x, ino, lnk;
	struct fs_file *fh;

	use_file_storage = 0;
	open_fs("none", NULL);
	ck_assert_int_eq(fs_mkdir(fs, &root, 1, "alice", 0755, 0, &alice, NULL), 0);
	ck_assert_int_eq(fs_mkdir(fs, &root, 1, "bob", 0755, 0, &bob, NULL), 0);
	ck_assert_int_eq(fs_mkdir(fs, &root, alice, "sub", 0755, 0, &sub, NULL), 0);
	ck_assert_int_eq(fs_create(fs, &root, alice, "f", 0644, 0, O_RDWR, &fh, &f, NULL), 0);
	ck_assert_int_eq(fs_write(fh, 0, "hello", 5), 5);
	ck_assert_int_eq(fs_release(fh), 0);
	ck_assert_int_eq(fs_create(fs, &root, bob, "x", 0644, 0, O_RDWR, &fh, &x, NULL), 0);
	ck_assert_int_eq(fs_release(fh), 0);
	static const char *const links[][2] = {
		{ "lnk", "f" },		   { "rel", "./sub/../f" },  { "dlink", "sub" },
		{ "chain", "lnk" },	   { "dangle", "nothere" },  { "loop1", "loop2" },
		{ "loop2", "loop1" },	   { "abs", "/etc/passwd" }, { "absin", "/alice/f" },
		{ "esc", "../bob/x" },	   { "esc2", "sub/../../bob/x" },
		{ "deep", "../../../../bob/x" }, { "self", "." }, { "sys", "../.sys" },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		ck_assert_int_eq(fs_symlink(fs, &root, alice, links[i][0], links[i][1], NULL, NULL),
				 0);
	ck_assert_int_eq(fs_symlink(fs, &root, sub, "up", "../f", NULL, NULL), 0);
	ck_assert_int_eq(fs_symlink(fs, &root, 1, "tosys", ".sys", NULL, NULL), 0);
	ck_assert_int_eq(fs_mkdir(fs, &root, 1, ".sys", 0755, 0, NULL, NULL), 0);

	/* followed, the target's attributes */
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "lnk", FS_RESOLVE_FOLLOW, &ino, &a), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_uint_eq(a.length, 5);
	ck_assert_int_eq(a.type, META_TYPE_FILE);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "rel", FS_RESOLVE_FOLLOW, &ino, &a), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "chain", FS_RESOLVE_FOLLOW, &ino, &a), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "dlink/up", FS_RESOLVE_FOLLOW, &ino, &a),
			 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "self/self/f", 0, &ino, &a), 0);
	ck_assert_uint_eq(ino, f);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "/dlink/", FS_RESOLVE_FOLLOW, &ino, &a),
			 0);
	ck_assert_uint_eq(ino, sub);
	/* not followed at the end: the link itself; intermediate ones always */
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "lnk", 0, &lnk, &a), 0);
	ck_assert_int_eq(a.type, META_TYPE_SYMLINK);
	ck_assert_uint_ne(lnk, f);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "dlink/up", 0, &ino, &a), 0);
	ck_assert_int_eq(a.type, META_TYPE_SYMLINK);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "", 0, &ino, &a), 0);
	ck_assert_uint_eq(ino, alice);
	/* what does not resolve */
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "dangle", FS_RESOLVE_FOLLOW, &ino, &a),
			 -ENOENT);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "loop1", FS_RESOLVE_FOLLOW, &ino, &a),
			 -ELOOP);
	ck_assert_int_eq(fs_resolve_at(fs, &root, alice, "lnk/x", FS_RESOLVE_FOLLOW, &ino, &a),
			 -ENOTDIR);
	/* every way out of the jail, per hop */
	static const char *const out[] = { "abs", "absin", "esc", "esc2", "deep", "sys",
					   "..", "../bob/x", "sub/../../bob/x", "dlink/../../bob" };
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		ck_assert_msg(fs_resolve_at(fs, &root, alice, out[i], FS_RESOLVE_FOLLOW, &ino,
					    &a) == -EXDEV,
			      "%s escapes", out[i]);
	/* the same names from the volume root: absolute still refused, .sys hidden */
	ck_assert_int_eq(fs_resolve_at(fs, &root, 1, "alice/esc", FS_RESOLVE_FOLLOW, &ino, &a), 0);
	ck_assert_uint_eq(ino, x);
	ck_assert_int_eq(fs_resolve_at(fs, &root, 1, "alice/abs", FS_RESOLVE_FOLLOW, &ino, &a),
			 -EXDEV);
	ck_assert_int_eq(fs_resolve_at(fs, &root, 1, "alice/sys", FS_RESOLVE_FOLLOW, &ino, &a),
			 -ENOENT);
	ck_assert_int_eq(fs_resolve_at(fs, &root, 1, "tosys", FS_RESOLVE_FOLLOW, &ino, &a),
			 -ENOENT);
	ck_assert_int_eq(fs_resolve_at(fs, &root, 1, ".sys", 0, &ino, &a), -ENOENT);
	ck_assert_int_eq(fs_resolve_at(fs, &root, f, "", 0, &ino, &a), -ENOTDIR);
	close_fs();
}
END_TEST

/* Another client of the same volume: its own fs on the same metadata and store. */
static struct fs *open_other_client(void)
{
	char *url = xasprintf("mem://fs-%d-%d", (int)getpid(), vol_seq);
	struct buf err = BUF_INIT;
	struct fs_conf c;
	struct fs *other;

	fs_conf_defaults(&c);
	c.obj = store;
	c.cache_dir = "";
	c.io_retries = 0;
	c.buffer_size = 8 * MB;
	ck_assert_msg(fs_open(url, &c, &other, &err) == 0, "fs_open: %s", err.ptr);
	free(url);
	buf_release(&err);
	return other;
}

static uint64_t make_file(const char *name, const uint8_t *data, size_t n)
{
	struct fs_file *fh;
	uint64_t ino;

	ck_assert_int_eq(fs_create(fs, &root, 1, name, 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
	ck_assert_int_eq(fs_write(fh, 0, data, n), (ssize_t)n);
	ck_assert_int_eq(fs_release(fh), 0);
	return ino;
}

/*
 * Issue 12 item 2: a file that another client deletes or shortens while it
 * is open here is never read as zeros. Its chunk lists are gone, which
 * looked like a hole: the reader must tell a deleted file (EIO) from a hole,
 * and a shortened one (a short read) from one with zeros at its end.
 */
START_TEST(test_changed_under_reader)
{
	size_t n = 256 * 1024; /* four blocks */
	uint8_t *data = xmalloc(n), *got = xmalloc(n);
	struct fs_file *fh;
	struct fs *other;
	uint64_t ino;

	use_file_storage = 0;
	open_fs("none", NULL);
	other = open_other_client();
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i % 251 + 1);

	/* deleted (no trash) after the open, before the first read */
	ino = make_file("gone", data, n);
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	ck_assert_int_eq(fs_unlink(other, &root, 1, "gone", 1), 0);
	ck_assert_int_eq(fs_read(fh, 0, got, n), -EIO);
	struct chunk_vec v = CHUNK_VEC_INIT;
	ck_assert_int_eq(fs_read_vec(fh, 0, n, &v), -EIO);
	ck_assert_uint_eq(v.n, 0);
	ck_assert_int_eq(fs_release(fh), 0);

	/* deleted after the first read built and cached the chunk view */
	ino = make_file("gone2", data, n);
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	ck_assert_int_eq(fs_read(fh, 0, got, 1000), 1000);
	ck_assert(!memcmp(got, data, 1000));
	ck_assert_int_eq(fs_unlink(other, &root, 1, "gone2", 1), 0);
	ssize_t r = fs_read(fh, 3 * 64 * 1024, got, 64 * 1024);
	ck_assert_msg(r == -EIO || (r == 64 * 1024 && !memcmp(got, data + 3 * 64 * 1024, r)),
		      "read of a deleted file: %zd", r);
	ck_assert_int_eq(fs_release(fh), 0);

	/* shortened: the bytes that are left, then the end */
	ino = make_file("short", data, n);
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	ck_assert_int_eq(fs_truncate(other, &root, ino, 1000, NULL), 0);
	ck_assert_int_eq(fs_read(fh, 0, got, n), 1000);
	ck_assert(!memcmp(got, data, 1000));
	ck_assert_int_eq(fs_read(fh, 1000, got, n), 0);
	ck_assert_int_eq(fs_release(fh), 0);

	/* a real hole still reads as zeros */
	ino = make_file("sparse", data, 1000);
	ck_assert_int_eq(fs_truncate(other, &root, ino, n, NULL), 0);
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	memset(got, 0xff, n);
	ck_assert_int_eq(fs_read(fh, 0, got, n), (ssize_t)n);
	ck_assert(!memcmp(got, data, 1000));
	for (size_t i = 1000; i < n; i++)
		ck_assert_int_eq(got[i], 0);
	ck_assert_int_eq(fs_release(fh), 0);

	fs_close(other);
	free(data);
	free(got);
	close_fs();
}
END_TEST

static void gets_reset(void)
{
	pthread_mutex_lock(&get_mu);
	gets_peak = gets_active;
	gets_done = 0;
	pthread_mutex_unlock(&get_mu);
}

/* Wait (bounded) until no GET is in flight; returns the GETs done since gets_reset. */
static int gets_settled(void)
{
	int done = -1;
	for (int i = 0; i < 500; i++) {
		usleep(10000);
		pthread_mutex_lock(&get_mu);
		int idle = !gets_active, d = gets_done;
		pthread_mutex_unlock(&get_mu);
		if (idle && d == done)
			break; /* nothing started in the last 10 ms either */
		done = idle ? d : -1;
	}
	pthread_mutex_lock(&get_mu);
	done = gets_done;
	pthread_mutex_unlock(&get_mu);
	return done;
}

/*
 * A fresh volume on the memory store with GETs counted (use_get_hook) and a
 * file of n patterned bytes, returned in *data (the caller frees it).
 */
static uint64_t counted_file(const char *name, size_t n, uint8_t **data)
{
	use_file_storage = 0;
	use_get_hook = 1;
	open_fs("none", NULL);
	*data = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		(*data)[i] = (uint8_t)(i * 7 % 253 + 1);
	return make_file(name, *data, n);
}

/*
 * fs_read_ahead (a GET announcing its range): the blocks of the range load
 * in parallel from the start, not one after another as a sequential
 * reader is discovered, and nothing past the range is fetched. Every
 * byte is still checked.
 */
START_TEST(test_read_ahead)
{
	const size_t bs = 64 * 1024, n = 8 * bs;
	uint8_t *data, *got = xmalloc(n);
	struct fs_file *fh;
	uint64_t ino = counted_file("whole", n, &data);

	get_delay_ms = 50;

	/* the whole file announced: its first read waits beside the other loads */
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	gets_reset();
	fs_read_ahead(fh, 0, n);
	/* pinned: a copying read of part of a block is a ranged GET without a disk cache */
	struct chunk_vec v0 = CHUNK_VEC_INIT;
	ck_assert_int_eq(fs_read_vec(fh, 0, 1000, &v0), 1000);
	ck_assert_uint_eq(v0.n, 1);
	memcpy(got, v0.p[0].data, 1000);
	chunk_vec_release(&v0);
	for (size_t off = 1000; off < n;) {
		ssize_t r = fs_read(fh, off, got + off, MIN(n - off, 100 * 1024));
		ck_assert_int_gt(r, 0);
		off += (size_t)r;
	}
	ck_assert(!memcmp(got, data, n));
	ck_assert_int_eq(gets_settled(), 8); /* each block once */
	pthread_mutex_lock(&get_mu);
	/* 4 loaders (and the reader): one at a time without the hint */
	ck_assert_int_ge(gets_peak, 4);
	pthread_mutex_unlock(&get_mu);
	ck_assert_int_eq(fs_release(fh), 0);

	/* a range in the middle of another file: readahead stops at its end */
	ino = make_file("part", data, n);
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	gets_reset();
	fs_read_ahead(fh, bs + 100, 2 * bs);
	for (size_t off = bs + 100; off < 3 * bs + 100; off += 4096) {
		struct chunk_vec v = CHUNK_VEC_INIT;
		ck_assert_int_eq(fs_read_vec(fh, off, 4096, &v), 4096);
		size_t at = 0;
		for (size_t i = 0; i < v.n; i++) {
			ck_assert(!memcmp(v.p[i].data, data + off + at, v.p[i].len));
			at += v.p[i].len;
		}
		ck_assert_uint_eq(at, 4096);
		chunk_vec_release(&v);
	}
	ck_assert_int_eq(gets_settled(), 3); /* blocks 1, 2 and 3 */
	ck_assert_int_eq(fs_release(fh), 0);

	get_delay_ms = 0;
	use_get_hook = 0;
	free(data);
	free(got);
	close_fs();
}
END_TEST

/*
 * A sequential reader's window crosses into the next chunk: its first block
 * is fetched before the reader gets there (it stopped at the slice's end,
 * a cold block at the start of every chunk). Reads that arrive swapped, as
 * the kernel's async readahead sends them, keep the window.
 */
START_TEST(test_read_ahead_spans)
{
	const size_t bs = 64 * 1024, tail = 4 * bs, n = ((size_t)64 << 20) + tail;
	const size_t rd = 128 * 1024;
	uint8_t *data, *got = xmalloc(n);
	struct fs_file *fh;
	uint64_t ino = counted_file("two-chunks", n, &data);

	/* the last 1 MiB of chunk 0, in order: chunk 1's blocks come too */
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	gets_reset();
	for (size_t off = ((size_t)63 << 20); off < ((size_t)64 << 20); off += rd)
		ck_assert_int_eq(fs_read(fh, off, got + off, rd), (ssize_t)rd);
	ck_assert(!memcmp(got + ((size_t)63 << 20), data + ((size_t)63 << 20), 1 << 20));
	ck_assert_int_eq(gets_settled(), 16 + 4); /* without the spill: 16 */
	gets_reset();
	ck_assert_int_eq(fs_read(fh, (size_t)64 << 20, got + ((size_t)64 << 20), tail),
			 (ssize_t)tail);
	ck_assert(!memcmp(got + ((size_t)64 << 20), data + ((size_t)64 << 20), tail));
	ck_assert_int_eq(gets_settled(), 0); /* each block once */
	ck_assert_int_eq(fs_release(fh), 0);

	/* 0, 256K, 128K, 384K: the swap keeps the reader sequential */
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	gets_reset();
	static const size_t order[] = {0, 2, 1, 3};
	for (size_t k = 0; k < ARRAY_SIZE(order); k++)
		ck_assert_int_eq(fs_read(fh, order[k] * rd, got + order[k] * rd, rd), (ssize_t)rd);
	ck_assert(!memcmp(got, data, 4 * rd));
	/* 8 blocks read; ahead of them at least as many (only 8 if swaps reset it) */
	ck_assert_int_ge(gets_settled(), 16);
	ck_assert_int_eq(fs_release(fh), 0);

	use_get_hook = 0;
	free(data);
	free(got);
	close_fs();
}
END_TEST

struct key_list {
	char **v;
	size_t n;
};

static int collect_key(void *arg, const struct obj_info *oi)
{
	struct key_list *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(oi->key);
	return 0;
}

/* The log written since the tmpfile f was made the log file. */
static char *log_text(FILE *f)
{
	long n;
	fflush(f);
	n = ftell(f);
	char *s = xcalloc(1, (size_t)n + 1);
	rewind(f);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	return s;
}

/*
 * A read whose chunk view predates another client's compaction (trash off)
 * meets blocks that are gone: the expected case of the re-read (R3). It must
 * return the right bytes and log no ERROR; a block still missing after the
 * re-read is lost: EIO, logged at ERROR with its key.
 */
START_TEST(test_read_races_compaction)
{
	const size_t piece = 64 * 1024 + 123, n = 4 * piece;
	uint8_t *data = xmalloc(n), *got = xmalloc(n);
	struct fs_file *fh;
	struct fs *other;
	uint64_t ino;
	FILE *lf = tmpfile();
	char *txt;

	use_file_storage = 0;
	open_fs("none", NULL);
	other = open_other_client();
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i % 253 + 1);
	ck_assert_ptr_nonnull(lf);
	log_set_file(lf);
	for (int vec = 0; vec < 2; vec++) {
		/* four unaligned slices, written last first: under five, so no compaction here */
		ck_assert_int_eq(fs_create(fs, &root, 1, vec ? "raced-vec" : "raced", 0644, 0,
					   O_RDWR, &fh, &ino, NULL),
				 0);
		for (int i = 3; i >= 0; i--) {
			ck_assert_int_eq(fs_write(fh, i * piece, data + i * piece, piece),
					 (ssize_t)piece);
			ck_assert_int_eq(fs_flush(fh), 0);
		}
		ck_assert_int_eq(fs_release(fh), 0);
		ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
		ck_assert_int_eq(fs_read(fh, 0, got, 1000), 1000); /* builds the view */
		ck_assert(!memcmp(got, data, 1000));
		/* the other client releases the four slices: their blocks are deleted */
		ck_assert_int_eq(fs_compact(other, ino), 0);
		uint64_t off = 2 * piece + 5000;
		if (vec) { /* the FUSE door's read: pinned pieces */
			struct chunk_vec v = CHUNK_VEC_INIT;
			ck_assert_int_eq(fs_read_vec(fh, off, 1000, &v), 1000);
			size_t o = 0;
			for (size_t i = 0; i < v.n; o += v.p[i].len, i++)
				memcpy(got + o, v.p[i].data, v.p[i].len);
			ck_assert_uint_eq(o, 1000);
			chunk_vec_release(&v);
		} else {
			ck_assert_int_eq(fs_read(fh, off, got, 1000), 1000);
		}
		ck_assert(!memcmp(got, data + off, 1000));
		if (!vec)
			ck_assert_int_eq(fs_release(fh), 0);
	}
	txt = log_text(lf);
	ck_assert_msg(!strstr(txt, "<ERROR>"), "the expected re-read logged an error:\n%s", txt);
	free(txt);

	/* now really lost: every block object of the file */
	struct key_list kl = { NULL, 0 };
	ck_assert_int_eq(obj_list(store, "chunks/", NULL, 0, collect_key, &kl), 0);
	ck_assert_uint_gt(kl.n, 0);
	for (size_t i = 0; i < kl.n; i++) {
		ck_assert_int_eq(obj_delete(store, kl.v[i]), 0);
		free(kl.v[i]);
	}
	free(kl.v);
	/* before the last read: what readahead queued past it is cached, and right */
	ck_assert_int_eq(fs_read(fh, 7, got, 1000), -EIO);
	struct chunk_vec v = CHUNK_VEC_INIT;
	ck_assert_int_eq(fs_read_vec(fh, piece + 7, 70000, &v), -EIO);
	ck_assert_uint_eq(v.n, 0);
	txt = log_text(lf);
	ck_assert_msg(strstr(txt, "<ERROR>") && strstr(txt, "is missing from the object store"),
		      "a lost block is logged at ERROR:\n%s", txt);
	free(txt);
	log_set_file(NULL);
	fclose(lf);
	ck_assert_int_eq(fs_release(fh), 0);
	fs_close(other);
	free(data);
	free(got);
	close_fs();
}
END_TEST

/* The hook: another client adds a slice to the chunk and compacts it again. */
static struct fs *hook_other;
static uint64_t hook_ino;
static const uint8_t *hook_data;

static void compact_again(void)
{
	struct fs_file *h;
	ck_assert_int_eq(fs_open_file(hook_other, &root, hook_ino, O_RDWR, &h, NULL), 0);
	ck_assert_int_eq(fs_write(h, 10, hook_data + 10, 100), 100); /* same bytes, new slice */
	ck_assert_int_eq(fs_release(h), 0);
	ck_assert_int_eq(fs_compact(hook_other, hook_ino), 0);
}

/*
 * Two compactions elsewhere, one before the view and one between the
 * re-read chunk list and its block fetch: the second try meets a block
 * released too. The chunk list moved on each time, so the data is not lost:
 * the read goes on re-reading while the list changes.
 */
START_TEST(test_read_races_two_compactions)
{
	const size_t piece = 64 * 1024 + 123, n = 4 * piece;
	uint8_t *data = xmalloc(n), *got = xmalloc(n);
	struct fs_file *fh;
	uint64_t ino;

	use_file_storage = 0;
	use_get_hook = 1;
	open_fs("none", NULL);
	use_get_hook = 0;
	hook_other = open_other_client();
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i % 253 + 1);
	ck_assert_int_eq(fs_create(fs, &root, 1, "raced2", 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
	for (int i = 3; i >= 0; i--) {
		ck_assert_int_eq(fs_write(fh, i * piece, data + i * piece, piece), (ssize_t)piece);
		ck_assert_int_eq(fs_flush(fh), 0);
	}
	ck_assert_int_eq(fs_release(fh), 0);
	hook_ino = ino;
	hook_data = data;
	ck_assert_int_eq(fs_open_file(fs, &root, ino, O_RDONLY, &fh, NULL), 0);
	ck_assert_int_eq(fs_read(fh, 0, got, 1000), 1000); /* builds the view */
	ck_assert_int_eq(fs_compact(hook_other, ino), 0);
	/* GET 1: the old slice's block, gone; GET 2: the first compaction's, released now */
	get_hook = compact_again;
	get_hook_at = 2;
	uint64_t off = 2 * piece + 5000;
	ck_assert_int_eq(fs_read(fh, off, got, 1000), 1000);
	ck_assert(get_hook == NULL);
	ck_assert(!memcmp(got, data + off, 1000));
	ck_assert_int_eq(fs_release(fh), 0);
	fs_close(hook_other);
	free(data);
	free(got);
	close_fs();
}
END_TEST

static int job_runs[2];
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;

static void count_job(struct fs *f, void *arg)
{
	UNUSED(f);
	pthread_mutex_lock(&job_mu);
	job_runs[*(int *)arg]++;
	pthread_mutex_unlock(&job_mu);
}

/*
 * fs_add_bgjob: two clients of one volume ask every 20 ms for an hourly
 * turn, on a counter and on the backup's lastBackup xattr: each job runs
 * once in all, and the backup again once its stamp is an interval old.
 */
START_TEST(test_bgjob_election)
{
	static int on_counter = 0, on_backup = 1;
	struct fs *other;
	struct buf v = BUF_INIT;
	int64_t stamp = 0;

	use_file_storage = 0;
	open_fs("none", NULL);
	other = open_other_client();
	memset(job_runs, 0, sizeof(job_runs));
	ck_assert_int_eq(fs_add_bgjob(fs, "lastTestJob", 3600, 20, count_job, &on_counter), 0);
	ck_assert_int_eq(fs_add_bgjob(other, "lastTestJob", 3600, 20, count_job, &on_counter), 0);
	ck_assert_int_eq(fs_add_bgjob(fs, "lastBackup", 3600, 20, count_job, &on_backup), 0);
	ck_assert_int_eq(fs_add_bgjob(other, "lastBackup", 3600, 20, count_job, &on_backup), 0);
	ck_assert_int_eq(fs_add_bgjob(fs, "", 3600, 20, count_job, &on_counter), -EINVAL);
	usleep(500 * 1000);
	pthread_mutex_lock(&job_mu);
	ck_assert_int_eq(job_runs[0], 1);
	ck_assert_int_eq(job_runs[1], 1);
	pthread_mutex_unlock(&job_mu);
	ck_assert_int_eq(meta_get_counter(fs_meta(fs), "lastTestJob", &stamp), 0);
	ck_assert_int_ge(stamp, (int64_t)time(NULL) - 5);
	ck_assert_int_eq(fs_getxattr(fs, &root, 1, "lastBackup", &v), 0);
	ck_assert_uint_eq(v.len, 20); /* 2006-01-02T15:04:05Z */

	/* a backup stamp hours old (the real client's local time): one more run */
	ck_assert_int_eq(fs_setxattr(fs, &root, 1, "lastBackup", "2001-01-01T00:00:00+01:00", 25,
				     0),
			 0);
	usleep(500 * 1000);
	pthread_mutex_lock(&job_mu);
	ck_assert_int_eq(job_runs[0], 1);
	ck_assert_int_eq(job_runs[1], 2);
	pthread_mutex_unlock(&job_mu);
	buf_release(&v);
	fs_close(other);
	close_fs();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_diff_mem_none);
	tcase_add_test(tc, test_diff_mem_lz4);
	tcase_add_test(tc, test_diff_file_zstd);
	tcase_add_test(tc, test_diff_file_none);
	tcase_add_test(tc, test_faults);
	tcase_add_test(tc, test_concurrency);
	tcase_add_test(tc, test_resolve_at);
	tcase_add_test(tc, test_changed_under_reader);
	tcase_add_test(tc, test_read_ahead);
	tcase_add_test(tc, test_read_ahead_spans);
	tcase_add_test(tc, test_read_races_compaction);
	tcase_add_test(tc, test_read_races_two_compactions);
	tcase_add_test(tc, test_bgjob_election);
	tcase_add_test(tc, test_quota_writes);
	tcase_add_test(tc, test_temp_dir_remembered);
	suite_add_tcase(s, tc);
	log_set_level(LOG_ERROR);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
