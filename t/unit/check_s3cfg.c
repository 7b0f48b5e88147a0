/*
 * gateway/s3cfg: per-bucket documents in the volume, seen by a second client
 * of the same SQLite volume (a second gateway), and the cache over them.
 */
#include <check.h>
#include <unistd.h>

#include "gateway/s3cfg.h"
#include "storage/obj.h"
#include "t/unit/testhelp.h"

static char *tmpdir, *url;
static struct obj_store *store;
static struct fs *fs1, *fs2;

static struct fs *open_client(void)
{
	struct buf err = BUF_INIT;
	struct fs_conf c;
	struct fs *fs;

	fs_conf_defaults(&c);
	c.obj = store;
	c.cache_dir = "";
	c.no_bgjob = 1;
	ck_assert_msg(fs_open(url, &c, &fs, &err) == 0, "fs_open: %s", err.ptr);
	buf_release(&err);
	return fs;
}

static void setup(void)
{
	struct meta_conf mc;
	struct meta *m;
	struct buf err = BUF_INIT;
	struct conf_format f;

	tmpdir = test_tmpdir("s3cfg");
	url = xasprintf("sqlite3://%s/meta.db", tmpdir);
	meta_conf_defaults(&mc);
	mc.create = 1;
	ck_assert_int_eq(meta_open(url, &mc, &m, &err), 0);
	conf_format_defaults(&f);
	free(f.name);
	f.name = xstrdup("cfgvol");
	ck_assert_int_eq(meta_init(m, &f, 0, &err), 0);
	conf_format_release(&f);
	meta_close(m);
	buf_release(&err);
	store = obj_mem_new();
	fs1 = open_client();
	fs2 = open_client();
	ck_assert_int_eq(fs_mkdir(fs1, NULL, 1, "bkt", 0755, 0, NULL, NULL), 0);
}

static void teardown(void)
{
	fs_close(fs2);
	fs_close(fs1);
	obj_free(store);
	test_rm_rf(tmpdir);
	free(tmpdir);
	free(url);
}

static void expect(struct fs *fs, const char *root, const char *name, const char *want)
{
	char *v;
	size_t n;
	int r = s3cfg_get(fs, root, name, &v, &n);

	if (!want) {
		ck_assert_int_eq(r, -ENOENT);
		ck_assert_ptr_null(v);
		ck_assert_uint_eq(n, 0);
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_str_eq(v, want);
	free(v);
}

START_TEST(put_get_del_across_clients)
{
	/* single-bucket root and a --multi-buckets bucket, each its own documents */
	expect(fs2, "", "policy", NULL);
	ck_assert_int_eq(s3cfg_put(fs1, "", "policy", "{\"v\":1}", 7), 0);
	ck_assert_int_eq(s3cfg_put(fs1, "/bkt", "policy", "{\"v\":2}", 7), 0);
	ck_assert_int_eq(s3cfg_put(fs1, "/bkt", "cors", "<x/>", 4), 0);
	expect(fs2, "", "policy", "{\"v\":1}");
	expect(fs2, "/bkt", "policy", "{\"v\":2}");
	expect(fs2, "/bkt", "cors", "<x/>");
	expect(fs2, "", "cors", NULL);
	/* replace, then delete; deleting twice is ENOENT */
	ck_assert_int_eq(s3cfg_put(fs2, "/bkt", "policy", "", 0), 0);
	expect(fs1, "/bkt", "policy", "");
	ck_assert_int_eq(s3cfg_del(fs2, "/bkt", "policy"), 0);
	expect(fs1, "/bkt", "policy", NULL);
	ck_assert_int_eq(s3cfg_del(fs1, "/bkt", "policy"), -ENOENT);
	expect(fs1, "/bkt", "cors", "<x/>");

	/* the documents go with the bucket */
	ck_assert_int_eq(s3cfg_del(fs1, "/bkt", "cors"), 0);
	ck_assert_int_eq(s3cfg_put(fs1, "/bkt", "cors", "<y/>", 4), 0);
	ck_assert_int_eq(fs_rmdir(fs1, NULL, 1, "bkt", 1), 0);
	expect(fs2, "/bkt", "cors", NULL);
	ck_assert_int_eq(s3cfg_put(fs2, "/bkt", "cors", "z", 1), -ENOENT);
	ck_assert_int_eq(fs_mkdir(fs1, NULL, 1, "bkt", 0755, 0, NULL, NULL), 0);
	expect(fs2, "/bkt", "cors", NULL);
}
END_TEST

START_TEST(bad_names_and_sizes)
{
	char *big = xmalloc(S3CFG_MAX_VALUE + 1);
	char *v;
	size_t n;

	memset(big, 'a', S3CFG_MAX_VALUE + 1);
	ck_assert_int_eq(s3cfg_put(fs1, "", "policy", big, S3CFG_MAX_VALUE + 1), -E2BIG);
	ck_assert_int_eq(s3cfg_put(fs1, "", "policy", big, S3CFG_MAX_VALUE), 0);
	ck_assert_int_eq(s3cfg_get(fs2, "", "policy", &v, &n), 0);
	ck_assert_uint_eq(n, S3CFG_MAX_VALUE);
	ck_assert(!memcmp(v, big, n));
	free(v);
	free(big);
	ck_assert_int_eq(s3cfg_put(fs1, "", "", "x", 1), -EINVAL);
	ck_assert_int_eq(s3cfg_put(fs1, "", "Policy", "x", 1), -EINVAL);
	ck_assert_int_eq(s3cfg_put(fs1, "", "a.b", "x", 1), -EINVAL);
	ck_assert_int_eq(s3cfg_get(fs1, "", "../x", &v, &n), -EINVAL);
	ck_assert_int_eq(s3cfg_del(fs1, "", "012345678901234567890123456789012"), -EINVAL);
	/* a file is no bucket */
	ck_assert_int_eq(fs_mknod(fs1, NULL, 1, "file", META_TYPE_FILE, 0644, 0, 0, NULL, NULL),
			 0);
	ck_assert_int_eq(s3cfg_put(fs1, "/file", "policy", "x", 1), -ENOENT);
	ck_assert_int_eq(s3cfg_get(fs1, "/file/x", "policy", &v, &n), -ENOENT);
	/* stored under the prefixed name, nothing else */
	struct buf names = BUF_INIT;
	ck_assert_int_eq(fs_listxattr(fs1, NULL, 1, &names), 0);
	ck_assert_uint_eq(names.len, sizeof("s3.policy"));
	ck_assert_str_eq(names.ptr, "s3.policy");
	buf_release(&names);
}
END_TEST

static int parses;

static void *parse_len(const char *val, size_t len)
{
	size_t *p = xmalloc(sizeof(*p));

	(void)val;
	*p = len;
	parses++;
	return p;
}

START_TEST(cache_sees_other_gateway)
{
	/* ttl 0: every lookup reads the volume, and parses only on a change */
	struct s3cfg_cache *c0 = s3cfg_cache_new(fs2, 0, 8);
	/* a long ttl: stale until this cache itself writes */
	struct s3cfg_cache *cl = s3cfg_cache_new(fs2, 3600 * 1000, 8);
	struct s3cfg_snap *s, *kept;

	parses = 0;
	ck_assert_int_eq(s3cfg_cache_get(c0, "", "policy", parse_len, free, &s), 0);
	ck_assert_int_eq(s->found, 0);
	ck_assert_ptr_null(s->parsed);
	s3cfg_snap_unref(s);
	ck_assert_int_eq(s3cfg_cache_get(cl, "", "policy", parse_len, free, &s), 0);
	ck_assert_int_eq(s->found, 0);
	s3cfg_snap_unref(s);

	ck_assert_int_eq(s3cfg_put(fs1, "", "policy", "abc", 3), 0);
	ck_assert_int_eq(s3cfg_cache_get(c0, "", "policy", parse_len, free, &kept), 0);
	ck_assert_int_eq(kept->found, 1);
	ck_assert_str_eq(kept->val, "abc");
	ck_assert_uint_eq(*(size_t *)kept->parsed, 3);
	ck_assert_int_eq(parses, 1);
	ck_assert_int_eq(s3cfg_cache_get(c0, "", "policy", parse_len, free, &s), 0);
	ck_assert_ptr_eq(s, kept); /* unchanged bytes: same snapshot, no parse */
	ck_assert_int_eq(parses, 1);
	s3cfg_snap_unref(s);
	ck_assert_int_eq(s3cfg_cache_get(cl, "", "policy", parse_len, free, &s), 0);
	ck_assert_int_eq(s->found, 0); /* within its ttl */
	s3cfg_snap_unref(s);

	/* replaced by the other gateway: a new snapshot; the old one stays valid */
	ck_assert_int_eq(s3cfg_put(fs1, "", "policy", "defg", 4), 0);
	ck_assert_int_eq(s3cfg_cache_get(c0, "", "policy", parse_len, free, &s), 0);
	ck_assert_ptr_ne(s, kept);
	ck_assert_str_eq(s->val, "defg");
	ck_assert_uint_eq(*(size_t *)s->parsed, 4);
	ck_assert_str_eq(kept->val, "abc");
	s3cfg_snap_unref(kept);
	s3cfg_snap_unref(s);

	/* a write through the cache is seen at once */
	ck_assert_int_eq(s3cfg_cache_put(cl, "", "policy", "xy", 2), 0);
	ck_assert_int_eq(s3cfg_cache_get(cl, "", "policy", parse_len, free, &s), 0);
	ck_assert_str_eq(s->val, "xy");
	s3cfg_snap_unref(s);
	ck_assert_int_eq(s3cfg_cache_del(cl, "", "policy"), 0);
	ck_assert_int_eq(s3cfg_cache_get(cl, "", "policy", parse_len, free, &s), 0);
	ck_assert_int_eq(s->found, 0);
	s3cfg_snap_unref(s);
	ck_assert_int_eq(s3cfg_cache_get(c0, "", "policy", NULL, NULL, &s), 0);
	ck_assert_int_eq(s->found, 0);
	s3cfg_snap_unref(s);

	/* forget drops a bucket's entries; cap evicts the oldest */
	ck_assert_int_eq(s3cfg_put(fs1, "/bkt", "cors", "c", 1), 0);
	ck_assert_int_eq(s3cfg_cache_get(cl, "/bkt", "cors", NULL, NULL, &s), 0);
	ck_assert_int_eq(s->found, 1);
	s3cfg_snap_unref(s);
	ck_assert_int_eq(s3cfg_del(fs1, "/bkt", "cors"), 0);
	s3cfg_cache_forget(cl, "/bkt");
	ck_assert_int_eq(s3cfg_cache_get(cl, "/bkt", "cors", NULL, NULL, &s), 0);
	ck_assert_int_eq(s->found, 0);
	s3cfg_snap_unref(s);
	for (int i = 0; i < 20; i++) {
		char root[16];

		snprintf(root, sizeof(root), "/b%d", i);
		ck_assert_int_eq(s3cfg_cache_get(cl, root, "cors", NULL, NULL, &s), 0);
		ck_assert_int_eq(s->found, 0);
		s3cfg_snap_unref(s);
	}
	s3cfg_cache_free(cl);
	s3cfg_cache_free(c0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("s3cfg");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, put_get_del_across_clients);
	tcase_add_test(tc, bad_names_and_sizes);
	tcase_add_test(tc, cache_sees_other_gateway);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
