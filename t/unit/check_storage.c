/*
 * Unit tests of the object-storage layer (storage/obj.h).
 *
 * One conformance body runs against every back end (loop tests over
 * `backends`): mem, file, the "<Name>/" prefix wrapper over both, and a
 * fault wrapper with an empty spec. Then file-only behaviour (layout, key
 * checks, temp files, EACCES, ENOSPC on a real full file system) and the
 * fault wrapper's rules.
 */
#include "storage/obj.h"
#include "t/unit/testhelp.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- back ends under test ---- */

enum { BK_MEM, BK_FILE, BK_PREFIX_FILE, BK_PREFIX_MEM, BK_FAULT_MEM, BK_N };
static const char *const bk_names[BK_N] = { "mem", "file", "prefix+file", "prefix+mem",
					    "fault+mem" };

struct bk {
	struct obj_store *s;
	char *dir; /* file back ends: the temp directory, removed at close */
};

static struct bk bk_open(int kind)
{
	struct bk b = { 0 };

	if (kind == BK_FILE || kind == BK_PREFIX_FILE) {
		b.dir = test_tmpdir("storage");
		ck_assert_ptr_nonnull(b.dir);
		char *bucket = xasprintf("%s/bucket", b.dir);
		b.s = obj_file_new(bucket);
		free(bucket);
	} else {
		b.s = obj_mem_new();
	}
	ck_assert_ptr_nonnull(b.s);
	if (kind == BK_PREFIX_FILE || kind == BK_PREFIX_MEM)
		b.s = obj_prefix_new(b.s, "vol/");
	if (kind == BK_FAULT_MEM)
		b.s = obj_fault_new(b.s, "");
	ck_assert_ptr_nonnull(b.s);
	ck_assert_int_eq(obj_create_bucket(b.s), 0);
	return b;
}

static void bk_close(struct bk *b)
{
	obj_free(b->s);
	if (b->dir)
		ck_assert_int_eq(test_rm_rf(b->dir), 0);
	free(b->dir);
}

/* ---- small helpers ---- */

static void put_str(struct obj_store *s, const char *key, const char *val)
{
	int r = obj_put(s, key, val, strlen(val));
	ck_assert_msg(r == 0, "put %s: %d", key, r);
}

/* The object's content as a string, or NULL when get fails. */
static char *get_str(struct obj_store *s, const char *key)
{
	char buf[4096];
	ssize_t n = obj_get(s, key, 0, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = 0;
	return xstrdup(buf);
}

static void assert_content(struct obj_store *s, const char *key, const char *want)
{
	char *got = get_str(s, key);

	ck_assert_msg(got != NULL, "get %s failed", key);
	ck_assert_str_eq(got, want);
	free(got);
}

struct keys {
	char **v;
	size_t n;
	uint64_t *size;
	int stop_at; /* callback returns 42 at this many keys (0 = never) */
};

static int collect(void *arg, const struct obj_info *oi)
{
	struct keys *k = arg;

	k->v = xrealloc(k->v, (k->n + 1) * sizeof(*k->v));
	k->size = xrealloc(k->size, (k->n + 1) * sizeof(*k->size));
	k->v[k->n] = xstrdup(oi->key);
	k->size[k->n] = oi->size;
	k->n++;
	return k->stop_at && (int)k->n == k->stop_at ? 42 : 0;
}

static void keys_release(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	free(k->size);
	memset(k, 0, sizeof(*k));
}

/* List and compare with want[0..nwant). */
static void expect_list(struct obj_store *s, const char *prefix, const char *after, size_t limit,
			const char *const *want, size_t nwant)
{
	struct keys k = { 0 };
	int r = obj_list(s, prefix, after, limit, collect, &k);

	ck_assert_int_eq(r, 0);
	for (size_t i = 0; i < MIN(k.n, nwant); i++)
		ck_assert_msg(!strcmp(k.v[i], want[i]),
			      "list(%s, %s, %zu)[%zu] = \"%s\", want \"%s\"", prefix ? prefix : "-",
			      after ? after : "-", limit, i, k.v[i], want[i]);
	ck_assert_msg(k.n == nwant, "list(%s, %s, %zu): %zu keys, want %zu", prefix ? prefix : "-",
		      after ? after : "-", limit, k.n, nwant);
	keys_release(&k);
}

static size_t count_keys(struct obj_store *s, const char *prefix)
{
	struct keys k = { 0 };
	size_t n;

	ck_assert_int_eq(obj_list(s, prefix, NULL, 0, collect, &k), 0);
	n = k.n;
	keys_release(&k);
	return n;
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* ---- conformance ---- */

START_TEST(t_put_get_overwrite)
{
	struct bk b = bk_open(_i);
	struct obj_store *s = b.s;
	char buf[64];

	ck_assert_int_eq(obj_get(s, "k1", 0, buf, sizeof(buf)), -ENOENT);
	put_str(s, "k1", "hello");
	assert_content(s, "k1", "hello");
	/* Overwrite with something longer, then shorter, then empty. */
	put_str(s, "k1", "hello, world");
	assert_content(s, "k1", "hello, world");
	put_str(s, "k1", "bye");
	assert_content(s, "k1", "bye");
	ck_assert_int_eq(obj_put(s, "k1", "", 0), 0);
	ck_assert_int_eq(obj_get(s, "k1", 0, buf, sizeof(buf)), 0);
	struct obj_info oi;
	ck_assert_int_eq(obj_head(s, "k1", &oi), 0);
	ck_assert_uint_eq(oi.size, 0);
	/* Binary content with NUL bytes survives. */
	const char bin[] = { 0, 1, 2, 0, (char)0xff, 0 };
	ck_assert_int_eq(obj_put(s, "dir/bin", bin, sizeof(bin)), 0);
	ck_assert_int_eq(obj_get(s, "dir/bin", 0, buf, sizeof(buf)), sizeof(bin));
	ck_assert_mem_eq(buf, bin, sizeof(bin));
	/* Deep keys create their directories on demand. */
	put_str(s, "d1/d2/d3/d4/leaf", "deep");
	assert_content(s, "d1/d2/d3/d4/leaf", "deep");
	ck_assert_int_eq(obj_get(s, "d1/d2", 0, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(obj_head(s, "d1/d2", &oi), -ENOENT);
	ck_assert_int_eq(obj_get(s, "k1/under-a-file", 0, buf, sizeof(buf)), -ENOENT);
	bk_close(&b);
}
END_TEST

START_TEST(t_get_range)
{
	struct bk b = bk_open(_i);
	struct obj_store *s = b.s;
	uint8_t data[100], buf[200];

	fill_pattern(data, sizeof(data), 7);
	ck_assert_int_eq(obj_put(s, "r", data, sizeof(data)), 0);
	ck_assert_int_eq(obj_get(s, "r", 0, buf, sizeof(buf)), 100);
	ck_assert_mem_eq(buf, data, 100);
	ck_assert_int_eq(obj_get(s, "r", 10, buf, 20), 20);
	ck_assert_mem_eq(buf, data + 10, 20);
	/* Short at the end, 0 at and past it. */
	ck_assert_int_eq(obj_get(s, "r", 90, buf, 20), 10);
	ck_assert_mem_eq(buf, data + 90, 10);
	ck_assert_int_eq(obj_get(s, "r", 99, buf, 1), 1);
	ck_assert_uint_eq(buf[0], data[99]);
	ck_assert_int_eq(obj_get(s, "r", 100, buf, 20), 0);
	ck_assert_int_eq(obj_get(s, "r", 1000, buf, 20), 0);
	ck_assert_int_eq(obj_get(s, "r", UINT64_MAX, buf, 20), 0);
	ck_assert_int_eq(obj_get(s, "r", 5, buf, 0), 0);
	ck_assert_int_eq(obj_get(s, "missing", 5, buf, 0), -ENOENT);
	bk_close(&b);
}
END_TEST

START_TEST(t_head)
{
	struct bk b = bk_open(_i);
	struct obj_store *s = b.s;
	struct obj_info oi;
	const char *key = "h/obj";
	int64_t before = now_us();

	ck_assert_int_eq(obj_head(s, key, &oi), -ENOENT);
	put_str(s, key, "0123456789");
	ck_assert_int_eq(obj_head(s, key, &oi), 0);
	ck_assert_ptr_eq(oi.key, key);
	ck_assert_uint_eq(oi.size, 10);
	/* File mtimes come from the kernel clock, which may lag by a tick. */
	ck_assert_int_ge(oi.mtime_us, before - 1000000);
	ck_assert_int_le(oi.mtime_us, now_us() + 1000000);
	bk_close(&b);
}
END_TEST

START_TEST(t_delete)
{
	struct bk b = bk_open(_i);
	struct obj_store *s = b.s;
	struct obj_info oi;

	put_str(s, "x/y/z", "1");
	put_str(s, "x/y2", "2");
	ck_assert_int_eq(obj_delete(s, "x/y/z"), 0);
	ck_assert_int_eq(obj_head(s, "x/y/z", &oi), -ENOENT);
	ck_assert_int_eq(obj_delete(s, "x/y/z"), 0);
	ck_assert_int_eq(obj_delete(s, "never/was"), 0);
	/* A "directory" of other keys is not an object: deleting it is a no-op. */
	ck_assert_int_eq(obj_delete(s, "x"), 0);
	assert_content(s, "x/y2", "2");
	/* The key can be created again after a delete emptied its directories. */
	put_str(s, "x/y/z", "3");
	assert_content(s, "x/y/z", "3");
	const char *want[] = { "x/y/z", "x/y2" };
	expect_list(s, NULL, NULL, 0, want, 2);
	bk_close(&b);
}
END_TEST

/* Sorted by unsigned bytes: '-' 2d < '.' 2e < '/' 2f < '0' 30 < 'A' < '_' < 'a'. */
static const char *const tricky[] = {
	"0", "A", "a-b", "a.b", "a/b", "a/c-x", "a/c/d", "a/c/e/f", "a/c0", "a0", "a_b", "a\x7f",
	"a\xc3\xa9", /* a-acute */
	"b",
	"\xe4\xb8\xad", /* a CJK ideograph */
};
#define NTRICKY ARRAY_SIZE(tricky)

static void put_tricky(struct obj_store *s)
{
	/* Insert in a scrambled order so no back end gets sorted input. */
	for (size_t i = 0; i < NTRICKY; i++)
		put_str(s, tricky[(i * 7) % NTRICKY], tricky[(i * 7) % NTRICKY]);
}

START_TEST(t_list_order)
{
	struct bk b = bk_open(_i);
	struct obj_store *s = b.s;
	struct keys k = { 0 };

	/* The table itself must be in byte order, or the test proves nothing. */
	for (size_t i = 1; i < NTRICKY; i++)
		ck_assert_int_lt(strcmp(tricky[i - 1], tricky[i]), 0);
	expect_list(s, NULL, NULL, 0, NULL, 0);
	put_tricky(s);
	expect_list(s, NULL, NULL, 0, tricky, NTRICKY);
	expect_list(s, "", "", 0, tricky, NTRICKY);
	ck_assert_int_eq(obj_list(s, NULL, NULL, 0, collect, &k), 0);
	for (size_t i = 0; i < k.n; i++)
		ck_assert_uint_eq(k.size[i], strlen(tricky[i]));
	keys_release(&k);
	bk_close(&b);
}
END_TEST

START_TEST(t_list_filters)
{
	struct bk b = bk_open(_i);
	struct obj_store *s = b.s;
	struct keys k = { 0 };

	put_tricky(s);
	/* tricky[5..8] = a/c-x a/c/d a/c/e/f a/c0 */
	expect_list(s, "a/c", NULL, 0, tricky + 5, 4);
	expect_list(s, "a/c/", NULL, 0, tricky + 6, 2);
	expect_list(s, "a/c/e", NULL, 0, tricky + 7, 1);
	expect_list(s, "a/c/e/f", NULL, 0, tricky + 7, 1);
	expect_list(s, "a/c/e/f/", NULL, 0, NULL, 0);
	expect_list(s, "a/b", NULL, 0, tricky + 4, 1);
	expect_list(s, "a/", NULL, 0, tricky + 4, 5);
	expect_list(s, "a", NULL, 0, tricky + 2, 11);
	expect_list(s, "zz", NULL, 0, NULL, 0);
	expect_list(s, "nodir/", NULL, 0, NULL, 0);
	expect_list(s, "\xe4", NULL, 0, tricky + 14, 1);
	/* start_after is exclusive and need not be a key. */
	expect_list(s, NULL, "a/c-x", 0, tricky + 6, NTRICKY - 6);
	expect_list(s, NULL, "a/c", 0, tricky + 5, NTRICKY - 5);
	expect_list(s, NULL, "a/c/", 0, tricky + 6, NTRICKY - 6);
	expect_list(s, NULL, "a/c/e/f", 0, tricky + 8, NTRICKY - 8);
	expect_list(s, NULL, "a/c/z", 0, tricky + 8, NTRICKY - 8);
	expect_list(s, NULL, "a/", 0, tricky + 4, NTRICKY - 4);
	expect_list(s, NULL, "\xff", 0, NULL, 0);
	expect_list(s, NULL, "", 0, tricky, NTRICKY);
	/* limit, alone and with the others. */
	expect_list(s, NULL, NULL, 3, tricky, 3);
	expect_list(s, NULL, NULL, 100, tricky, NTRICKY);
	expect_list(s, NULL, "a/b", 3, tricky + 5, 3);
	expect_list(s, "a/", "a/c/d", 2, tricky + 7, 2);
	expect_list(s, "a/c", "a/c0", 5, NULL, 0);
	expect_list(s, "a/c", "0", 0, tricky + 5, 4);
	/* Paging with start_after = last key rebuilds the whole listing. */
	for (const char *after = NULL;;) {
		struct keys page = { 0 };
		ck_assert_int_eq(obj_list(s, NULL, after, 4, collect, &page), 0);
		ck_assert_uint_le(page.n, 4);
		for (size_t i = 0; i < page.n; i++)
			collect(&k, &(struct obj_info){ .key = page.v[i] });
		keys_release(&page);
		if (k.n == 0 || (after && !strcmp(after, k.v[k.n - 1])))
			break;
		after = k.v[k.n - 1];
	}
	ck_assert_uint_eq(k.n, NTRICKY);
	for (size_t i = 0; i < NTRICKY; i++)
		ck_assert_str_eq(k.v[i], tricky[i]);
	keys_release(&k);
	/* A callback's non-zero return stops the walk and is returned. */
	k.stop_at = 2;
	ck_assert_int_eq(obj_list(s, NULL, NULL, 0, collect, &k), 42);
	ck_assert_uint_eq(k.n, 2);
	keys_release(&k);
	bk_close(&b);
}
END_TEST

struct del_ctx {
	struct obj_store *s;
	size_t n;
};

static int delete_cb(void *arg, const struct obj_info *oi)
{
	struct del_ctx *d = arg;

	d->n++;
	return obj_delete(d->s, oi->key);
}

/* destroy lists and deletes in one pass: the callback may modify the store. */
START_TEST(t_list_delete_during)
{
	struct bk b = bk_open(_i);
	struct del_ctx d = { b.s, 0 };
	char key[64];

	for (int i = 0; i < 600; i++) {
		snprintf(key, sizeof(key), "chunks/%d/%d/%d_0_4", i / 100, i / 10, i);
		put_str(b.s, key, "data");
	}
	ck_assert_int_eq(obj_list(b.s, "chunks/", NULL, 0, delete_cb, &d), 0);
	ck_assert_uint_eq(d.n, 600);
	ck_assert_uint_eq(count_keys(b.s, NULL), 0);
	bk_close(&b);
}
END_TEST

/* ---- concurrency ---- */

#define NTHREADS 8
#define PER_THREAD 40
#define SHARED_LEN (64 * 1024)

struct worker {
	struct obj_store *s;
	int id;
	int errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *shared = xmalloc(SHARED_LEN), *rd = xmalloc(SHARED_LEN);
	char key[64], val[64], got[64];

	for (int j = 0; j < PER_THREAD; j++) {
		snprintf(key, sizeof(key), "t%d/o%03d", w->id, j);
		snprintf(val, sizeof(val), "value of %d/%d", w->id, j);
		if (obj_put(w->s, key, val, strlen(val)))
			w->errors++;
		ssize_t n = obj_get(w->s, key, 0, got, sizeof(got));
		if (n != (ssize_t)strlen(val) || memcmp(got, val, (size_t)n))
			w->errors++;
		/*
		 * Everyone overwrites one shared key with a block of its own id
		 * byte: put is atomic, so a read sees one writer's block whole.
		 */
		memset(shared, w->id + 1, SHARED_LEN);
		if (obj_put(w->s, "shared", shared, SHARED_LEN))
			w->errors++;
		n = obj_get(w->s, "shared", 0, rd, SHARED_LEN);
		if (n != SHARED_LEN)
			w->errors++;
		for (ssize_t i = 1; i < n; i++)
			if (rd[i] != rd[0]) {
				w->errors++;
				break;
			}
		if (j % 10 == 0) {
			struct keys k = { 0 };
			if (obj_list(w->s, NULL, NULL, 0, collect, &k))
				w->errors++;
			for (size_t i = 1; i < k.n; i++)
				if (strcmp(k.v[i - 1], k.v[i]) >= 0)
					w->errors++;
			keys_release(&k);
		}
	}
	free(shared);
	free(rd);
	return NULL;
}

START_TEST(t_concurrent)
{
	struct bk b = bk_open(_i);
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ b.s, i, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(w[i].errors == 0, "thread %d saw %d errors", i, w[i].errors);
	}
	ck_assert_uint_eq(count_keys(b.s, NULL), NTHREADS * PER_THREAD + 1);
	ck_assert_uint_eq(count_keys(b.s, "t3/"), PER_THREAD);
	bk_close(&b);
}
END_TEST

START_TEST(t_large)
{
	struct bk b = bk_open(_i);
	size_t n = 8 << 20;
	uint8_t *data = xmalloc(n), *rd = xmalloc(n + 10);
	struct buf all = BUF_INIT;
	struct obj_info oi;

	fill_pattern(data, n, 99);
	ck_assert_int_eq(obj_put(b.s, "chunks/0/0/1_0_8388608", data, n), 0);
	ck_assert_int_eq(obj_head(b.s, "chunks/0/0/1_0_8388608", &oi), 0);
	ck_assert_uint_eq(oi.size, n);
	ck_assert_int_eq(obj_get(b.s, "chunks/0/0/1_0_8388608", 0, rd, n + 10), (ssize_t)n);
	ck_assert_int_eq(memcmp(rd, data, n), 0);
	ck_assert_int_eq(obj_get(b.s, "chunks/0/0/1_0_8388608", 4 << 20, rd, 1 << 20), 1 << 20);
	ck_assert_int_eq(memcmp(rd, data + (4 << 20), 1 << 20), 0);
	ck_assert_int_eq(obj_get_all(b.s, "chunks/0/0/1_0_8388608", n, &all), 0);
	ck_assert_uint_eq(all.len, n);
	ck_assert_int_eq(memcmp(all.ptr, data, n), 0);
	ck_assert_int_eq(obj_get_all(b.s, "chunks/0/0/1_0_8388608", n - 1, &all), -E2BIG);
	buf_release(&all);
	free(data);
	free(rd);
	bk_close(&b);
}
END_TEST

/* Page-aligned big objects and odd sizes near them read back whole, also when replaced. */
/*
 * Page-aligned buffers of the sizes the file back end writes with O_DIRECT
 * (a whole block, an aligned part and a short tail, the smallest direct
 * size, one page short of 1 MiB), and the same bytes from an unaligned
 * address, which go through the page cache.
 */
/*
 * Reads of data[0..n) stored at key into a page-aligned buffer, the way the
 * file back end reads O_DIRECT (aligned head direct, tail buffered): whole
 * and past the end, from an aligned and an unaligned offset, a length that
 * ends mid-page, and one page short of the smallest direct read.
 */
static void get_aligned(struct obj_store *s, const char *key, const uint8_t *data, size_t n)
{
	const struct {
		uint64_t off;
		size_t len;
	} rq[] = { { 0, n + 10 }, { 0, n }, { 4096, n }, { 0, n - 1 }, { 8192, n - 8192 - 100 },
		   { 512, n }, { 0, DIRECT_MIN - 4096 }, { 4096, DIRECT_MIN } };
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 4096, n + 4096 + 10), 0);
	for (size_t i = 0; i < sizeof(rq) / sizeof(rq[0]); i++) {
		size_t want;
		if (rq[i].off >= n)
			continue;
		want = MIN(rq[i].len, n - (size_t)rq[i].off);
		memset(p, 0xee, n + 4096 + 10);
		ck_assert_int_eq(obj_get(s, key, rq[i].off, p, rq[i].len), (ssize_t)want);
		ck_assert_msg(!memcmp(p, data + rq[i].off, want), "size %zu get %llu+%zu differs",
			      n, (unsigned long long)rq[i].off, rq[i].len);
		/* nothing written past what was read */
		ck_assert_uint_eq(((uint8_t *)p)[want], 0xee);
	}
	free(p);
}

static void put_get_aligned(struct obj_store *s)
{
	const size_t sizes[] = { 4 << 20, (4 << 20) + 100, 1 << 20, (1 << 20) - 4096,
				 256 << 10, (256 << 10) + 4095 };
	void *p = NULL;
	uint8_t *rd = xmalloc((5 << 20) + 10);

	ck_assert_int_eq(posix_memalign(&p, 4096, (5 << 20) + 4096), 0);
	for (int shift = 0; shift <= 512; shift += 512) {
		uint8_t *data = (uint8_t *)p + shift;
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t n = sizes[k];
			fill_pattern(data, n, (uint32_t)(k + 7 + (size_t)shift));
			/* twice: the second put replaces the first */
			for (int pass = 0; pass < 2; pass++) {
				data[n / 2] ^= (uint8_t)(pass + 1);
				ck_assert_int_eq(obj_put(s, "chunks/0/0/2_0_4194304", data, n), 0);
				ck_assert_int_eq(obj_get(s, "chunks/0/0/2_0_4194304", 0, rd, n + 10),
						 (ssize_t)n);
				ck_assert_msg(!memcmp(rd, data, n), "size %zu shift %d pass %d differs",
					      n, shift, pass);
				get_aligned(s, "chunks/0/0/2_0_4194304", data, n);
			}
		}
	}
	free(p);
	free(rd);
}

START_TEST(t_large_aligned)
{
	struct bk b = bk_open(_i);

	put_get_aligned(b.s);
	bk_close(&b);
}
END_TEST

START_TEST(t_get_all)
{
	struct bk b = bk_open(_i);
	struct buf v = BUF_INIT;

	put_str(b.s, "juicefs_uuid", "8e6c6f51-5b5b-4d1e-9d50-4a8c1f0e2c7a");
	buf_adds(&v, "old junk");
	ck_assert_int_eq(obj_get_all(b.s, "juicefs_uuid", 1024, &v), 0);
	ck_assert_str_eq(v.ptr, "8e6c6f51-5b5b-4d1e-9d50-4a8c1f0e2c7a");
	ck_assert_uint_eq(v.len, 36);
	ck_assert_int_eq(obj_get_all(b.s, "juicefs_uuid", 36, &v), 0);
	ck_assert_int_eq(obj_get_all(b.s, "juicefs_uuid", 35, &v), -E2BIG);
	ck_assert_int_eq(obj_get_all(b.s, "nope", 1024, &v), -ENOENT);
	ck_assert_int_eq(obj_put(b.s, "empty", "", 0), 0);
	ck_assert_int_eq(obj_get_all(b.s, "empty", 0, &v), 0);
	ck_assert_uint_eq(v.len, 0);
	ck_assert_str_eq(v.ptr, "");
	buf_release(&v);
	bk_close(&b);
}
END_TEST

/*
 * A store whose head understates the size for the first `lies` calls, as if
 * the object grew between head and get: obj_get_all must notice and retry
 * instead of returning a truncated object.
 */
struct liar {
	struct obj_store base;
	int lies;
};

static int liar_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	struct liar *l = (struct liar *)s;
	int r = obj_head(s->inner, key, oi);

	if (!r && l->lies > 0) {
		l->lies--;
		oi->size /= 2;
	}
	return r;
}

static ssize_t liar_get(struct obj_store *s, const char *key, uint64_t off, void *dst, size_t n)
{
	return obj_get(s->inner, key, off, dst, n);
}

static void liar_free(struct obj_store *s) { free(s); }

static const struct obj_ops liar_ops = {
	.name = "liar", .head = liar_head, .get = liar_get, .free = liar_free,
};

START_TEST(t_get_all_grown)
{
	struct liar *l = xcalloc(1, sizeof(*l));
	struct buf v = BUF_INIT;

	l->base.ops = &liar_ops;
	l->base.inner = obj_mem_new();
	put_str(l->base.inner, "k", "0123456789");
	l->lies = 2;
	ck_assert_int_eq(obj_get_all(&l->base, "k", 100, &v), 0);
	ck_assert_str_eq(v.ptr, "0123456789");
	ck_assert_int_eq(l->lies, 0);
	l->lies = 100;
	ck_assert_int_eq(obj_get_all(&l->base, "k", 100, &v), -EAGAIN);
	buf_release(&v);
	obj_free(&l->base);
}
END_TEST

/* ---- obj_create and the file back end ---- */

START_TEST(t_create)
{
	struct buf err = BUF_INIT;
	struct obj_store *s = NULL;
	char *dir = test_tmpdir("storage"), *cwd = getcwd(NULL, 0);
	char *want;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chdir(dir), 0);
	/* Relative, with "." and ".." and doubled slashes, like JuiceFS's Abs. */
	ck_assert_int_eq(obj_create("file", "./sub/..//bkt/.", NULL, NULL, NULL, &s, &err), 0);
	want = xasprintf("file://%s/bkt/", dir);
	ck_assert_str_eq(obj_describe(s), want);
	free(want);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	s = obj_prefix_new(s, "vol/");
	want = xasprintf("file://%s/bkt/vol/", dir);
	ck_assert_str_eq(obj_describe(s), want);
	free(want);
	put_str(s, "juicefs_uuid", "uuid-text");
	obj_free(s);
	/* The object is a plain file at bucket/key, as JuiceFS lays it out. */
	char *path = xasprintf("%s/bkt/vol/juicefs_uuid", dir);
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 9);
	close(fd);
	ck_assert_str_eq(buf, "uuid-text");
	free(path);

	ck_assert_int_eq(obj_create("FILE", "/abs/path", NULL, NULL, NULL, &s, &err), 0);
	ck_assert_str_eq(obj_describe(s), "file:///abs/path/");
	obj_free(s);
	ck_assert_int_eq(obj_create("file", "/", NULL, NULL, NULL, &s, &err), 0);
	ck_assert_str_eq(obj_describe(s), "file:///");
	obj_free(s);
	ck_assert_int_eq(obj_create("file", "/a/b/../../..", NULL, NULL, NULL, &s, &err), 0);
	ck_assert_str_eq(obj_describe(s), "file:///");
	obj_free(s);
	ck_assert_int_eq(obj_create("mem", "", NULL, NULL, NULL, &s, &err), 0);
	ck_assert_ptr_nonnull(s);
	obj_free(s);
	ck_assert_uint_eq(err.len, 0);

	/* s3 only parses its URL here; the requests are tested in check_s3store. */
	ck_assert_int_eq(obj_create("S3", "http://h:9000/b", "ak", "sk", NULL, &s, &err), 0);
	ck_assert_str_eq(obj_describe(s), "s3://h:9000/b/");
	obj_free(s);
	ck_assert_int_eq(obj_create("s3", "ftp://h/b", "ak", "sk", NULL, &s, &err), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(err.ptr, "ftp://h/b"));
	ck_assert_ptr_null(strchr(err.ptr, '\n'));
	buf_reset(&err);
	ck_assert_int_eq(obj_create("s3", "", "ak", "sk", NULL, &s, &err), -EINVAL);
	ck_assert_ptr_null(s);
	buf_reset(&err);
	ck_assert_int_eq(obj_create("gopher", "x", NULL, NULL, NULL, &s, &err), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(err.ptr, "gopher"));
	buf_reset(&err);
	ck_assert_int_eq(obj_create("file", "", NULL, NULL, NULL, &s, &err), -EINVAL);
	ck_assert_uint_gt(err.len, 0);
	obj_free(NULL);

	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(test_rm_rf(dir), 0);
	buf_release(&err);
	free(dir);
	free(cwd);
}
END_TEST

START_TEST(t_file_bad_keys)
{
	struct bk b = bk_open(BK_FILE);
	static const char *const bad[] = {
		"",  "/etc/passwd", "..",   "../x", "a/../../x", "a/..", "a/./b",
		".", "a//b",	    "a/",
	};
	/* Temp names: never written as keys, but readable and deletable (gc). */
	static const char *const tmp[] = { ".jfs.k.tmp.1", "a/.jfs.b.tmp.2/y" };
	char buf[8];
	struct obj_info oi;
	struct keys k = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(obj_put(b.s, bad[i], "x", 1) == -EINVAL, "put \"%s\"", bad[i]);
		ck_assert_msg(obj_get(b.s, bad[i], 0, buf, 1) == -EINVAL, "get \"%s\"", bad[i]);
		ck_assert_msg(obj_head(b.s, bad[i], &oi) == -EINVAL, "head \"%s\"", bad[i]);
		ck_assert_msg(obj_delete(b.s, bad[i]) == -EINVAL, "del \"%s\"", bad[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(tmp); i++) {
		ck_assert_msg(obj_put(b.s, tmp[i], "x", 1) == -EINVAL, "put \"%s\"", tmp[i]);
		ck_assert_msg(obj_get(b.s, tmp[i], 0, buf, 1) == -ENOENT, "get \"%s\"", tmp[i]);
		ck_assert_msg(obj_head(b.s, tmp[i], &oi) == -ENOENT, "head \"%s\"", tmp[i]);
		ck_assert_msg(obj_delete(b.s, tmp[i]) == 0, "del \"%s\"", tmp[i]);
	}
	ck_assert_int_eq(obj_list(b.s, "../", NULL, 0, collect, &k), -EINVAL);
	ck_assert_int_eq(obj_list(b.s, "/etc/", NULL, 0, collect, &k), -EINVAL);
	ck_assert_uint_eq(k.n, 0);
	/* Dots inside a name are fine. */
	put_str(b.s, "a/..b/...", "ok");
	assert_content(b.s, "a/..b/...", "ok");
	/* Nothing escaped: the temp dir holds only the bucket. */
	DIR *d = opendir(b.dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ck_assert_str_eq(de->d_name, "bucket");
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, 1);
	bk_close(&b);
}
END_TEST

/* Count temp files left anywhere under dir. */
static int count_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, ".jfs.", 5) && strstr(de->d_name, ".tmp."))
			n++;
		if (de->d_type == DT_DIR) {
			char *sub = xasprintf("%s/%s", dir, de->d_name);
			n += count_temps(sub);
			free(sub);
		}
	}
	closedir(d);
	return n;
}

/* Racing a put, a lister sees the key and perhaps the put's temp file. */
static int check_key_cb(void *arg, const struct obj_info *oi)
{
	int *bad = arg;

	if (strcmp(oi->key, "busy") && strncmp(oi->key, ".jfs.busy.tmp.", 14))
		(*bad)++;
	return 0;
}

struct lister {
	struct obj_store *s;
	volatile int stop;
	int bad, rounds;
};

static void *lister_main(void *arg)
{
	struct lister *l = arg;

	while (!l->stop) {
		if (obj_list(l->s, NULL, NULL, 0, check_key_cb, &l->bad))
			l->bad++;
		l->rounds++;
	}
	return NULL;
}

START_TEST(t_file_temps)
{
	struct bk b = bk_open(BK_FILE);
	struct lister l = { b.s, 0, 0, 0 };
	pthread_t th;
	uint8_t *data = xmalloc(256 * 1024);
	char *path;

	/* A lister racing with overwrites sees the key whole, never another name. */
	ck_assert_int_eq(pthread_create(&th, NULL, lister_main, &l), 0);
	for (int i = 0; i < 100; i++) {
		memset(data, i, 256 * 1024);
		ck_assert_int_eq(obj_put(b.s, "busy", data, 256 * 1024), 0);
	}
	l.stop = 1;
	pthread_join(th, NULL);
	ck_assert_int_eq(l.bad, 0);
	ck_assert_int_gt(l.rounds, 0);
	ck_assert_int_eq(count_temps(b.dir), 0);

	/*
	 * A crashed put's leftover temp file is listed, as JuiceFS lists it, so
	 * that gc can find and delete it; deleting it drops its empty directory.
	 */
	char *sub = xasprintf("%s/bucket/d", b.dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	path = xasprintf("%s/.jfs.busy.tmp.12345", sub);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "abc", 3), 3);
	close(fd);
	const char *want[] = { "busy", "d/.jfs.busy.tmp.12345" };
	expect_list(b.s, NULL, NULL, 0, want, 2);
	struct obj_info oi;
	ck_assert_int_eq(obj_head(b.s, "d/.jfs.busy.tmp.12345", &oi), 0);
	ck_assert_uint_eq(oi.size, 3);
	ck_assert_int_eq(obj_delete(b.s, "d/.jfs.busy.tmp.12345"), 0);
	ck_assert_int_eq(count_temps(b.dir), 0);
	ck_assert_int_eq(access(sub, F_OK), -1);
	free(sub);
	free(path);
	expect_list(b.s, NULL, NULL, 0, want, 1);
	/* Names that merely resemble one are ordinary keys. */
	put_str(b.s, ".jfs.plain", "1");
	put_str(b.s, "x.tmp.1", "2");
	const char *want2[] = { ".jfs.plain", "busy", "x.tmp.1" };
	expect_list(b.s, NULL, NULL, 0, want2, 3);
	free(data);
	bk_close(&b);
}
END_TEST

/* sync is what fsync relies on: it must succeed on every back end, through wrappers, and
 * on a file store whose root does not exist yet; a failing syncfs must surface. */
START_TEST(t_sync)
{
	for (int k = 0; k < BK_N; k++) {
		struct bk b = bk_open(k);

		ck_assert_int_eq(obj_sync(b.s), 0);
		put_str(b.s, "a/b", "x");
		ck_assert_int_eq(obj_sync(b.s), 0);
		ck_assert_int_eq(obj_sync(b.s), 0); /* nothing new */
		bk_close(&b);
	}
	struct obj_store *s = obj_file_new("/nonexistent-jfs-root/sub/");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(obj_sync(s), 0);
	obj_free(s);
}
END_TEST

START_TEST(t_file_dirs)
{
	struct bk b = bk_open(BK_FILE);
	struct stat st;
	char *x = xasprintf("%s/bucket/x", b.dir), *bucket = xasprintf("%s/bucket", b.dir);
	char buf[8];

	put_str(b.s, "x/y/z", "1");
	ck_assert_int_eq(stat(x, &st), 0);
	ck_assert_int_eq(obj_delete(b.s, "x/y/z"), 0);
	/* Emptied directories go, the bucket stays. */
	ck_assert_int_eq(stat(x, &st), -1);
	ck_assert_int_eq(stat(bucket, &st), 0);
	/* A key whose parent is an object cannot be written. */
	put_str(b.s, "f", "file");
	ck_assert_int_eq(obj_put(b.s, "f/g", "x", 1), -ENOTDIR);
	ck_assert_int_eq(obj_get(b.s, "f/g", 0, buf, 1), -ENOENT);
	ck_assert_int_eq(obj_delete(b.s, "f/g"), 0);
	assert_content(b.s, "f", "file");
	/* The longest file name works: the temp name keeps only part of it. */
	char longname[300];
	memset(longname, 'n', sizeof(longname));
	longname[255] = 0;
	put_str(b.s, longname, "long");
	assert_content(b.s, longname, "long");
	ck_assert_int_eq(obj_delete(b.s, longname), 0);
	longname[255] = 'n';
	longname[256] = 0;
	ck_assert_int_eq(obj_put(b.s, longname, "x", 1), -ENAMETOOLONG);
	/* A subdirectory symlinked into the bucket is followed, like a directory. */
	char *other = xasprintf("%s/other", b.dir), *link = xasprintf("%s/bucket/ln", b.dir);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	ck_assert_int_eq(symlink(other, link), 0);
	put_str(b.s, "ln/obj", "via link");
	const char *want[] = { "f", "ln/obj" };
	expect_list(b.s, NULL, NULL, 0, want, 2);
	free(other);
	free(link);
	/* create_bucket makes missing parents and refuses a file in the way. */
	char *deep = xasprintf("%s/p/q/r", b.dir), *file = xasprintf("%s/bucket/f", b.dir);
	struct obj_store *s2 = obj_file_new(deep);
	ck_assert_int_eq(obj_create_bucket(s2), 0);
	ck_assert_int_eq(obj_create_bucket(s2), 0);
	ck_assert_int_eq(stat(deep, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	obj_free(s2);
	s2 = obj_file_new(file);
	ck_assert_int_lt(obj_create_bucket(s2), 0);
	obj_free(s2);
	free(deep);
	free(file);
	free(x);
	free(bucket);
	bk_close(&b);
}
END_TEST

/*
 * Root ignores permission bits, so a child process drops to "nobody" and
 * reports the first failing step in its exit status; the parent (still root)
 * checks it and can clean up afterwards.
 */
static int eacces_child(struct obj_store *s)
{
	char buf[8];

	if (setgid(65534) || setuid(65534))
		return 100;
	if (obj_put(s, "ro/after", "x", 1) != -EACCES)
		return 1;
	if (obj_put(s, "newdir/after", "x", 1) != -EACCES)
		return 2;
	if (obj_put(s, "top", "new", 3) != -EACCES)
		return 3;
	if (obj_create_bucket(s) != -EACCES)
		return 4;
	if (obj_delete(s, "top") != -EACCES)
		return 5;
	if (obj_get(s, "ro/before", 0, buf, sizeof(buf)) != 4 || memcmp(buf, "kept", 4))
		return 6;
	if (obj_get(s, "top", 0, buf, sizeof(buf)) != 4 || memcmp(buf, "kept", 4))
		return 7;
	return 0;
}

START_TEST(t_file_eacces)
{
	struct bk b = bk_open(BK_FILE);
	char *bucket = xasprintf("%s/bucket", b.dir), *sub = xasprintf("%s/bucket/ro", b.dir);
	int status;
	pid_t pid;

	put_str(b.s, "ro/before", "kept");
	put_str(b.s, "top", "kept");
	ck_assert_int_eq(chmod(b.dir, 0755), 0);
	ck_assert_int_eq(chmod(bucket, 0555), 0);
	ck_assert_int_eq(chmod(sub, 0555), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(eacces_child(b.s));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 100)
		printf("t_file_eacces: skipped (cannot drop root privileges)\n");
	else
		ck_assert_msg(WEXITSTATUS(status) == 0, "EACCES step %d failed",
			      WEXITSTATUS(status));
	ck_assert_int_eq(chmod(bucket, 0755), 0);
	ck_assert_int_eq(chmod(sub, 0755), 0);
	free(bucket);
	free(sub);
	bk_close(&b);
}
END_TEST

/*
 * A real full file system: a 1 MiB tmpfs mounted in a private mount namespace,
 * so it vanishes with this (forked) test process whatever happens.
 */
START_TEST(t_file_enospc)
{
	char *dir = test_private_mount("storage-full", "tmpfs", "size=1m");
	size_t sz = 100 * 1024;
	uint8_t *data;
	struct obj_store *s;
	int n = 0, r = 0;

	if (!dir)
		return;
	data = xmalloc(2 * sz);
	s = obj_file_new(dir);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	for (n = 0; n < 100; n++) {
		char key[32];
		snprintf(key, sizeof(key), "vol/chunks/%d", n);
		fill_pattern(data, sz, (uint32_t)n);
		r = obj_put(s, key, data, sz);
		if (r)
			break;
	}
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_int_gt(n, 3);
	ck_assert_int_eq(count_temps(dir), 0);
	/* Overwriting with a bigger object fails and keeps the old one. */
	fill_pattern(data, 2 * sz, 12345);
	ck_assert_int_eq(obj_put(s, "vol/chunks/0", data, 2 * sz), -ENOSPC);
	/* Every earlier object is intact, and the failed one is absent. */
	uint8_t *rd = xmalloc(sz + 1);
	for (int i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "vol/chunks/%d", i);
		fill_pattern(data, sz, (uint32_t)i);
		ck_assert_int_eq(obj_get(s, key, 0, rd, sz + 1), (ssize_t)sz);
		ck_assert_int_eq(memcmp(rd, data, sz), 0);
	}
	ck_assert_uint_eq(count_keys(s, NULL), (size_t)n);
	ck_assert_int_eq(count_temps(dir), 0);
	/* Space freed by a delete can be used again. */
	ck_assert_int_eq(obj_delete(s, "vol/chunks/1"), 0);
	ck_assert_int_eq(obj_put(s, "vol/chunks/new", data, sz / 2), 0);
	free(rd);
	obj_free(s);
	umount(dir);
	rmdir(dir);
	free(dir);
	free(data);
}
END_TEST

/*
 * ramfs refuses O_DIRECT (EINVAL at open, after the file is created): every
 * put still lands whole, through the page cache, and no temp file is left;
 * a get that asks for O_DIRECT (EINVAL at F_SETFL) reads the same bytes.
 */
START_TEST(t_file_direct_refused)
{
	char *dir = test_private_mount("storage-ramfs", "ramfs", NULL);
	size_t n = (1 << 20) + 100;
	struct obj_store *s;
	void *p = NULL;

	if (!dir)
		return;
	s = obj_file_new(dir);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	put_get_aligned(s);
	ck_assert_int_eq(count_temps(dir), 0);
	ck_assert_uint_eq(count_keys(s, NULL), 1);
	/* A fresh store has not met the refusal yet: its first direct get does. */
	ck_assert_int_eq(posix_memalign(&p, 4096, n), 0);
	fill_pattern(p, n, 99);
	ck_assert_int_eq(obj_put(s, "chunks/0/0/3_0_4194304", p, n), 0);
	obj_free(s);
	s = obj_file_new(dir);
	get_aligned(s, "chunks/0/0/3_0_4194304", p, n);
	get_aligned(s, "chunks/0/0/3_0_4194304", p, n);
	free(p);
	obj_free(s);
	umount(dir);
	rmdir(dir);
	free(dir);
}
END_TEST

/* A direct write that runs out of space fails the put and keeps what was stored. */
START_TEST(t_file_enospc_direct)
{
	char *dir = test_private_mount("storage-full-direct", "tmpfs", "size=4m");
	size_t sz = 1 << 20;
	uint8_t *data, *rd;
	struct obj_store *s;
	void *p = NULL;
	int n, r = 0;

	if (!dir)
		return;
	ck_assert_int_eq(posix_memalign(&p, 4096, sz), 0);
	data = p;
	rd = xmalloc(sz + 1);
	s = obj_file_new(dir);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	for (n = 0; n < 16; n++) {
		char key[32];
		snprintf(key, sizeof(key), "vol/chunks/%d", n);
		fill_pattern(data, sz, (uint32_t)n);
		r = obj_put(s, key, data, sz);
		if (r)
			break;
	}
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_int_gt(n, 1);
	ck_assert_int_eq(count_temps(dir), 0);
	for (int i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "vol/chunks/%d", i);
		fill_pattern(data, sz, (uint32_t)i);
		ck_assert_int_eq(obj_get(s, key, 0, rd, sz + 1), (ssize_t)sz);
		ck_assert_int_eq(memcmp(rd, data, sz), 0);
	}
	ck_assert_uint_eq(count_keys(s, NULL), (size_t)n);
	obj_free(s);
	umount(dir);
	rmdir(dir);
	free(dir);
	free(rd);
	free(p);
}
END_TEST

/* ---- fault wrapper ---- */

/* Bit i of the result: call i+1 of put failed (with `err`). */
static uint64_t put_pattern(struct obj_store *s, int calls, int err)
{
	uint64_t bits = 0;

	for (int i = 0; i < calls; i++) {
		int r = obj_put(s, "k", "v", 1);
		ck_assert(r == 0 || r == err);
		if (r)
			bits |= 1ULL << i;
	}
	return bits;
}

START_TEST(t_fault_nth_every)
{
	struct obj_store *s = obj_fault_new(obj_mem_new(), "put=nth:3");
	char key[8], buf[8];

	ck_assert_ptr_nonnull(s);
	for (int i = 1; i <= 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(obj_put(s, key, "v", 1), i == 3 ? -EIO : 0);
	}
	/* The failed put never reached the inner store. */
	ck_assert_int_eq(obj_get(s, "k3", 0, buf, 1), -ENOENT);
	ck_assert_uint_eq(count_keys(s, NULL), 5);

	ck_assert_int_eq(obj_fault_set(s, "get=every:2"), 0);
	for (int i = 1; i <= 7; i++)
		ck_assert_int_eq(obj_get(s, "k1", 0, buf, 1), i % 2 ? 1 : -EIO);
	ck_assert_int_eq(obj_put(s, "k9", "v", 1), 0);
	obj_free(s);
}
END_TEST

START_TEST(t_fault_all)
{
	struct obj_store *s = obj_fault_new(obj_mem_new(), "all=nth:2");
	struct obj_info oi;
	struct keys k = { 0 };
	char buf[4];

	/* Counters are per op: the second call of each op fails. */
	ck_assert_int_eq(obj_put(s, "a", "1", 1), 0);
	ck_assert_int_eq(obj_get(s, "a", 0, buf, 1), 1);
	ck_assert_int_eq(obj_put(s, "b", "2", 1), -EIO);
	ck_assert_int_eq(obj_put(s, "b", "2", 1), 0);
	ck_assert_int_eq(obj_head(s, "a", &oi), 0);
	ck_assert_int_eq(obj_head(s, "a", &oi), -EIO);
	ck_assert_int_eq(obj_get(s, "a", 0, buf, 1), -EIO);
	ck_assert_int_eq(obj_list(s, NULL, NULL, 0, collect, &k), 0);
	ck_assert_int_eq(obj_list(s, NULL, NULL, 0, collect, &k), -EIO);
	ck_assert_uint_eq(k.n, 2);
	keys_release(&k);
	ck_assert_int_eq(obj_delete(s, "a"), 0);
	ck_assert_int_eq(obj_delete(s, "b"), -EIO);
	ck_assert_int_eq(obj_delete(s, "b"), 0);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	ck_assert_str_eq(obj_describe(s), "fault(mem://)");
	obj_free(s);

	/* Later items override earlier ones. */
	s = obj_fault_new(obj_mem_new(), "all=every:1,put=nth:1");
	ck_assert_int_eq(obj_put(s, "a", "1", 1), -EIO);
	ck_assert_int_eq(obj_put(s, "a", "1", 1), 0);
	ck_assert_int_eq(obj_head(s, "a", &oi), -EIO);
	obj_free(s);
}
END_TEST

START_TEST(t_fault_prob)
{
	struct obj_store *a = obj_fault_new(obj_mem_new(), "put=prob:0.5,seed=42");
	struct obj_store *b = obj_fault_new(obj_mem_new(), "seed=42,put=prob:0.5");
	struct obj_store *c = obj_fault_new(obj_mem_new(), "put=prob:0.5,seed=43");
	uint64_t pa = put_pattern(a, 64, -EIO);

	/* Same seed, same failures; another seed, other failures. */
	ck_assert_uint_eq(put_pattern(b, 64, -EIO), pa);
	ck_assert_uint_ne(put_pattern(c, 64, -EIO), pa);
	int ones = __builtin_popcountll(pa);
	ck_assert_int_gt(ones, 16);
	ck_assert_int_lt(ones, 48);
	/* obj_fault_set restarts the generator from the seed. */
	ck_assert_int_eq(obj_fault_set(a, "put=prob:0.5,seed=42"), 0);
	ck_assert_uint_eq(put_pattern(a, 64, -EIO), pa);
	/* Only calls of an op with a prob rule draw: gets do not shift puts. */
	ck_assert_int_eq(obj_fault_set(a, "put=prob:0.5,seed=42"), 0);
	char buf[2];
	for (int i = 0; i < 10; i++)
		obj_get(a, "k", 0, buf, 1);
	ck_assert_uint_eq(put_pattern(a, 64, -EIO), pa);
	ck_assert_int_eq(obj_fault_set(a, "put=prob:0"), 0);
	ck_assert_uint_eq(put_pattern(a, 64, -EIO), 0);
	ck_assert_int_eq(obj_fault_set(a, "put=prob:1"), 0);
	ck_assert_uint_eq(put_pattern(a, 64, -EIO), UINT64_MAX);
	obj_free(a);
	obj_free(b);
	obj_free(c);
}
END_TEST

START_TEST(t_fault_errno_set)
{
	struct obj_store *m = obj_mem_new();
	struct obj_store *s;

	ck_assert_ptr_null(obj_fault_new(m, "put=nth:0"));
	ck_assert_ptr_null(obj_fault_new(m, "put=sometimes"));
	ck_assert_ptr_null(obj_fault_new(m, "write=nth:1"));
	ck_assert_ptr_null(obj_fault_new(m, "put=prob:1.5"));
	ck_assert_ptr_null(obj_fault_new(m, "put=prob:"));
	ck_assert_ptr_null(obj_fault_new(m, "put=prob:nan"));
	ck_assert_ptr_null(obj_fault_new(m, "errno=EWHAT"));
	ck_assert_ptr_null(obj_fault_new(m, "seed=-1"));
	ck_assert_ptr_null(obj_fault_new(m, "put"));
	ck_assert_int_eq(obj_fault_set(m, ""), -EINVAL);
	/* On failure the caller still owns inner; now the wrapper takes it. */
	s = obj_fault_new(m, "put=nth:1,errno=ENOSPC");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(obj_put(s, "a", "1", 1), -ENOSPC);
	ck_assert_int_eq(obj_put(s, "a", "1", 1), 0);
	/* A bad spec at run time changes nothing. */
	ck_assert_int_eq(obj_fault_set(s, "put=every:x"), -EINVAL);
	ck_assert_int_eq(obj_fault_set(s, "put=every:1,errno=enospc,"), 0);
	ck_assert_int_eq(obj_put(s, "a", "1", 1), -ENOSPC);
	ck_assert_int_eq(obj_fault_set(s, ""), 0);
	ck_assert_int_eq(put_pattern(s, 20, -EIO), 0);
	ck_assert_int_eq(obj_fault_set(s, NULL), 0);
	ck_assert_int_eq(obj_fault_set(s, "put=nth:2"), 0);
	ck_assert_uint_eq(put_pattern(s, 5, -EIO), 2);
	obj_free(s);
}
END_TEST

struct fault_worker {
	struct obj_store *s;
	int id, failed;
};

static void *fault_worker_main(void *arg)
{
	struct fault_worker *w = arg;
	char key[32];

	for (int i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "w%d/%d", w->id, i);
		if (obj_put(w->s, key, "v", 1))
			w->failed++;
	}
	return NULL;
}

START_TEST(t_fault_threads)
{
	struct obj_store *s = obj_fault_new(obj_mem_new(), "put=every:4");
	struct fault_worker w[4];
	pthread_t th[4];
	int failed = 0;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct fault_worker){ s, i, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, fault_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		failed += w[i].failed;
	}
	/* 1000 puts, every 4th fails: exactly 250 whatever the interleaving. */
	ck_assert_int_eq(failed, 250);
	ck_assert_uint_eq(count_keys(s, NULL), 750);
	obj_free(s);
}
END_TEST

static Suite *storage_suite(void)
{
	Suite *su = suite_create("storage");
	TCase *tc = tcase_create("conformance");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, t_put_get_overwrite, 0, BK_N);
	tcase_add_loop_test(tc, t_get_range, 0, BK_N);
	tcase_add_loop_test(tc, t_head, 0, BK_N);
	tcase_add_loop_test(tc, t_delete, 0, BK_N);
	tcase_add_loop_test(tc, t_list_order, 0, BK_N);
	tcase_add_loop_test(tc, t_list_filters, 0, BK_N);
	tcase_add_loop_test(tc, t_list_delete_during, 0, BK_N);
	tcase_add_loop_test(tc, t_concurrent, 0, BK_N);
	tcase_add_loop_test(tc, t_large, 0, BK_N);
	tcase_add_loop_test(tc, t_large_aligned, 0, BK_N);
	tcase_add_loop_test(tc, t_get_all, 0, BK_N);
	suite_add_tcase(su, tc);

	tc = tcase_create("obj");
	tcase_add_test(tc, t_get_all_grown);
	suite_add_tcase(su, tc);

	tc = tcase_create("file");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_create);
	tcase_add_test(tc, t_file_bad_keys);
	tcase_add_test(tc, t_file_temps);
	tcase_add_test(tc, t_file_dirs);
	tcase_add_test(tc, t_sync);
	tcase_add_test(tc, t_file_eacces);
	tcase_add_test(tc, t_file_enospc);
	tcase_add_test(tc, t_file_direct_refused);
	tcase_add_test(tc, t_file_enospc_direct);
	suite_add_tcase(su, tc);

	tc = tcase_create("fault");
	tcase_add_test(tc, t_fault_nth_every);
	tcase_add_test(tc, t_fault_all);
	tcase_add_test(tc, t_fault_prob);
	tcase_add_test(tc, t_fault_errno_set);
	tcase_add_test(tc, t_fault_threads);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(storage_suite());
	int failures;

	/* Say which back end a loop test's _i stands for when it fails. */
	for (int i = 0; i < BK_N; i++)
		fprintf(stderr, "# back end %d = %s\n", i, bk_names[i]);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
