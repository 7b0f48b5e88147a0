/*
 * Unit tests of the sharded store (storage/shard.c): FNV-1a-32 as Go's
 * hash/fnv computes it, each key in the bucket JuiceFS would pick, listings
 * merged in byte order across pages (more keys than one page), with prefix,
 * start-after, limit and an early stop. Interoperability with the real client
 * is t/integ/t2302.
 */
#include "storage/obj.h"
#include "t/unit/testhelp.h"

#include <check.h>
#include <sys/stat.h>

START_TEST(t_fnv)
{
	/* published FNV-1a 32-bit test vectors */
	ck_assert_uint_eq(obj_shard_hash(""), 0x811c9dc5u);
	ck_assert_uint_eq(obj_shard_hash("a"), 0xe40c292cu);
	ck_assert_uint_eq(obj_shard_hash("foobar"), 0xbf9cf968u);
}
END_TEST

struct collect {
	char **keys;
	size_t n, stop_at;
};

static int collect_cb(void *arg, const struct obj_info *oi)
{
	struct collect *c = arg;

	c->keys = xrealloc(c->keys, (c->n + 1) * sizeof(*c->keys));
	c->keys[c->n++] = xstrdup(oi->key);
	return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->keys[i]);
	free(c->keys);
	memset(c, 0, sizeof(*c));
}

#define NKEYS 3600 /* over 1000 (one page of the merge) in every shard */

START_TEST(t_place_and_list)
{
	char *dir = test_tmpdir("shard");
	char *bucket = xasprintf("%s/b%%d/", dir);
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	struct collect c = { 0 };
	char key[64];
	struct stat st;

	ck_assert_int_eq(obj_shard_create("file", bucket, 3, NULL, NULL, NULL, &s, &err), 0);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	ck_assert(strstr(obj_describe(s), "shard3://"));
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "vol/chunks/%d/%d_0_1", i % 7, i);
		ck_assert_int_eq(obj_put(s, key, key, strlen(key)), 0);
		/* in bucket hash % 3, and nowhere else */
		for (unsigned b = 0; b < 3; b++) {
			char *p = xasprintf("%s/b%u/%s", dir, b, key);
			int there = stat(p, &st) == 0;
			ck_assert_int_eq(there, b == obj_shard_hash(key) % 3);
			free(p);
		}
	}
	ck_assert_int_eq(obj_list(s, "", NULL, 0, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, NKEYS);
	for (size_t i = 1; i < c.n; i++)
		ck_assert_msg(strcmp(c.keys[i - 1], c.keys[i]) < 0, "%s then %s", c.keys[i - 1],
			      c.keys[i]);
	char *mid = xstrdup(c.keys[1000]);
	collect_free(&c);
	ck_assert_int_eq(obj_list(s, "vol/chunks/3/", mid, 0, collect_cb, &c), 0);
	for (size_t i = 0; i < c.n; i++) {
		ck_assert(!strncmp(c.keys[i], "vol/chunks/3/", 13));
		ck_assert(strcmp(c.keys[i], mid) > 0);
	}
	collect_free(&c);
	ck_assert_int_eq(obj_list(s, "", mid, 10, collect_cb, &c), 0);
	ck_assert_uint_eq(c.n, 10);
	ck_assert(strcmp(c.keys[0], mid) > 0);
	collect_free(&c);
	c.stop_at = 5;
	ck_assert_int_eq(obj_list(s, "", NULL, 0, collect_cb, &c), 7);
	ck_assert_uint_eq(c.n, 5);
	collect_free(&c);
	uint8_t back[64];
	ck_assert_int_eq(obj_get(s, "vol/chunks/1/1_0_1", 0, back, sizeof(back)), 18);
	ck_assert(!memcmp(back, "vol/chunks/1/1_0_1", 18));
	ck_assert_int_eq(obj_delete(s, "vol/chunks/1/1_0_1"), 0);
	ck_assert_int_eq(obj_get(s, "vol/chunks/1/1_0_1", 0, back, sizeof(back)), -ENOENT);
	free(mid);
	obj_free(s);
	ck_assert_int_eq(test_rm_rf(dir), 0);
	free(dir);
	free(bucket);
	buf_release(&err);
}
END_TEST

START_TEST(t_bad_pattern)
{
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(obj_shard_create("mem", "/tmp/nopattern/", 2, NULL, NULL, NULL, &s, &err),
			 -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert(strstr(err.ptr, "can not generate different endpoint"));
	buf_release(&err);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("shard");
	TCase *tc = tcase_create("shard");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_fnv);
	tcase_add_test(tc, t_place_and_list);
	tcase_add_test(tc, t_bad_pattern);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
