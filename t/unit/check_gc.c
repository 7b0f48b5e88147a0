/*
 * The metadata listings that gc and fsck are built on (meta.h): dead slices
 * and their cleanup, delayed slices of compaction and their release at trash
 * expiry, and the scan of every chunk with its inode. Each test writes real
 * data through fs.h on a mem:// volume with mem object storage and checks
 * both the listing and the objects in the store.
 */
#include <check.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fscore/chunk.h"
#include "fscore/fs.h"
#include "storage/obj.h"
#include "t/unit/testhelp.h"

#define KB 1024U
#define BS (64 * KB) /* small blocks: several objects per slice */

static struct obj_store *store;
static struct fs *fs;
static struct meta *admin; /* a second handle, like `juicefs gc`, that may delete */
static struct chunk_store *cs;
static struct meta_ctx root;
static char *url;
static int seq;

/* max_deletes 0 for the fs: dead slices stay, as when a client crashes first. */
static void open_vol(int trash_days)
{
	struct meta_conf mc;
	struct meta *m;
	struct conf_format f;
	struct fs_conf c;
	struct chunk_conf cc;
	struct buf err = BUF_INIT;

	url = xasprintf("mem://gc-%d-%d", (int)getpid(), ++seq);
	meta_conf_defaults(&mc);
	mc.create = 1;
	ck_assert_int_eq(meta_open(url, &mc, &m, &err), 0);
	conf_format_defaults(&f);
	free(f.name);
	f.name = xstrdup("gcvol");
	f.block_size = BS / KB;
	f.trash_days = trash_days;
	ck_assert_int_eq(meta_init(m, &f, 0, &err), 0);
	conf_format_release(&f);
	memset(&f, 0, sizeof(f));

	store = obj_prefix_new(obj_mem_new(), "gcvol/");
	fs_conf_defaults(&c);
	c.obj = store;
	c.cache_dir = "";
	c.io_retries = 0;
	c.no_bgjob = 1;
	c.meta.max_deletes = 0;
	ck_assert_msg(fs_open(url, &c, &fs, &err) == 0, "fs_open: %s", err.ptr);
	meta_close(m);

	meta_conf_defaults(&mc);
	mc.no_bgjob = 1;
	ck_assert_int_eq(meta_open(url, &mc, &admin, &err), 0);
	ck_assert_int_eq(meta_load_format(admin, &f), 0);
	chunk_conf_defaults(&cc);
	ck_assert_int_eq(chunk_conf_from_format(&cc, &f), 0);
	cc.cache_dir = "";
	ck_assert_int_eq(chunk_store_new(store, &cc, &cs), 0);
	meta_set_slice_deleter(admin, chunk_slice_deleter, cs);
	conf_format_release(&f);
	buf_release(&err);
	meta_ctx_root(&root);
}

static void close_vol(void)
{
	fs_close(fs);
	meta_close(admin);
	chunk_store_free(cs);
	obj_free(store);
	free(url);
	fs = NULL;
	admin = NULL;
}

static int count_obj(void *arg, const struct obj_info *oi)
{
	UNUSED(oi);
	(*(size_t *)arg)++;
	return 0;
}

static size_t nobjects(void)
{
	size_t n = 0;

	ck_assert_int_eq(obj_list(store, "chunks/", NULL, 0, count_obj, &n), 0);
	return n;
}

struct refs {
	struct meta_slice_ref v[256];
	size_t n;
};

static int collect_ref(void *arg, const struct meta_slice_ref *r)
{
	struct refs *a = arg;

	ck_assert_uint_lt(a->n, 256);
	a->v[a->n++] = *r;
	return 0;
}

/* Write `n` separate slices of `len` bytes at increasing offsets of a new file. */
static uint64_t write_slices(const char *name, int n, uint32_t len, uint32_t step)
{
	struct fs_file *fh;
	uint64_t ino;
	char *buf = xmalloc(len);

	memset(buf, 'a', len);
	ck_assert_int_eq(fs_create(fs, &root, 1, name, 0644, 0, O_RDWR, &fh, &ino, NULL), 0);
	for (int i = 0; i < n; i++) {
		buf[0] = (char)i;
		ck_assert_int_eq(fs_write(fh, (uint64_t)i * step, buf, len), (ssize_t)len);
		ck_assert_int_eq(fs_flush(fh), 0); /* each write its own slice */
	}
	ck_assert_int_eq(fs_release(fh), 0);
	free(buf);
	return ino;
}

START_TEST(test_dead_slices)
{
	struct refs live = { .n = 0 }, dead = { .n = 0 };
	int done = -1;

	open_vol(0);
	write_slices("f", 3, 100 * KB, 100 * KB); /* 3 slices, 2 objects each */
	ck_assert_int_eq(meta_list_slices(admin, collect_ref, &live), 0);
	ck_assert_uint_eq(live.n, 3);
	ck_assert_uint_eq(nobjects(), 6);
	ck_assert_int_eq(meta_list_dead_slices(admin, collect_ref, &dead), 0);
	ck_assert_uint_eq(dead.n, 0);

	/* unlink with object deletion off: the slices die, the objects stay */
	ck_assert_int_eq(fs_unlink(fs, &root, 1, "f", 1), 0);
	live.n = 0;
	ck_assert_int_eq(meta_list_slices(admin, collect_ref, &live), 0);
	ck_assert_uint_eq(live.n, 0);
	ck_assert_int_eq(meta_list_dead_slices(admin, collect_ref, &dead), 0);
	ck_assert_uint_eq(dead.n, 3);
	for (size_t i = 0; i < dead.n; i++) {
		ck_assert_uint_eq(dead.v[i].size, 100 * KB);
		ck_assert_int_lt(dead.v[i].refs, 1);
	}
	ck_assert_uint_eq(nobjects(), 6);

	/* gc --delete: objects and refcount records go */
	ck_assert_int_eq(meta_cleanup_slices(admin, &done), 0);
	ck_assert_int_eq(done, 3);
	ck_assert_uint_eq(nobjects(), 0);
	dead.n = 0;
	ck_assert_int_eq(meta_list_dead_slices(admin, collect_ref, &dead), 0);
	ck_assert_uint_eq(dead.n, 0);
	close_vol();
}
END_TEST

START_TEST(test_delayed_slices)
{
	struct refs live = { .n = 0 }, delayed = { .n = 0 };
	uint64_t ino;
	size_t before;
	int n = -1;

	open_vol(1);
	/* overlapping slices, so compaction has something to drop */
	ino = write_slices("f", 5, 70 * KB, 10 * KB);
	before = nobjects();
	ck_assert_uint_eq(before, 10);
	ck_assert_int_eq(fs_compact(fs, ino), 0);
	ck_assert_int_eq(meta_list_slices(admin, collect_ref, &live), 0);
	ck_assert_uint_eq(live.n, 1);
	ck_assert_uint_eq(live.v[0].size, 110 * KB);
	/* trash on: the old slices are kept as delayed slices, objects and all */
	ck_assert_int_eq(meta_list_delayed_slices(admin, collect_ref, &delayed), 0);
	ck_assert_uint_eq(delayed.n, 5);
	for (size_t i = 0; i < delayed.n; i++)
		ck_assert_uint_eq(delayed.v[i].size, 70 * KB);
	ck_assert_uint_eq(nobjects(), before + 2);

	/* not yet due: nothing is released */
	ck_assert_int_eq(meta_cleanup_trash(admin, 0, &n), 0);
	delayed.n = 0;
	ck_assert_int_eq(meta_list_delayed_slices(admin, collect_ref, &delayed), 0);
	ck_assert_uint_eq(delayed.n, 5);

	/* two days later they are released and their objects deleted */
	ck_assert_int_eq(meta_cleanup_trash(admin, (int64_t)time(NULL) + 2 * 86400, &n), 0);
	delayed.n = 0;
	ck_assert_int_eq(meta_list_delayed_slices(admin, collect_ref, &delayed), 0);
	ck_assert_uint_eq(delayed.n, 0);
	ck_assert_uint_eq(nobjects(), 2);
	close_vol();
}
END_TEST

struct chunks_seen {
	uint64_t ino[8];
	size_t records[8];
	size_t n;
};

static int collect_chunk(void *arg, uint64_t ino, uint32_t indx, const struct meta_slice *s,
			 size_t n)
{
	struct chunks_seen *c = arg;

	ck_assert_uint_eq(indx, 0);
	ck_assert_uint_lt(c->n, 8);
	for (size_t i = 0; i < n; i++)
		ck_assert(s[i].id != 0 && s[i].size == 20 * KB);
	c->ino[c->n] = ino;
	c->records[c->n++] = n;
	return 0;
}

static int count_delfile(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	UNUSED(ino);
	UNUSED(length);
	UNUSED(when);
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_scan_chunks)
{
	struct chunks_seen c = { .n = 0 };
	uint64_t a, b;
	int ndel = 0;

	open_vol(0);
	a = write_slices("a", 2, 20 * KB, 30 * KB);
	b = write_slices("b", 3, 20 * KB, 30 * KB);
	ck_assert_int_eq(meta_scan_all_chunks(admin, collect_chunk, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	for (size_t i = 0; i < c.n; i++) {
		ck_assert(c.ino[i] == a || c.ino[i] == b);
		ck_assert_uint_eq(c.records[i], c.ino[i] == a ? 2 : 3);
	}
	ck_assert_int_eq(meta_list_deleted_files(admin, count_delfile, &ndel), 0);
	ck_assert_int_eq(ndel, 0);
	close_vol();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gc");
	TCase *tc = tcase_create("listings");
	SRunner *sr;
	int failures;

	tcase_add_test(tc, test_dead_slices);
	tcase_add_test(tc, test_delayed_slices);
	tcase_add_test(tc, test_scan_chunks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
