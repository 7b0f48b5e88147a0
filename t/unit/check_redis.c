/*
 * Redis engine specifics, against a redis-server started here: the keys of
 * the spec's Appendix D tiny volume byte for byte, the counter semantics
 * (last id handed out), slice refcounts stored as count-1, and a server
 * killed in the middle of a workload (operations fail with EIO while it is
 * down, recover without reopening, and no half-applied transaction remains).
 * The keys are read back with hiredis directly, not through our engine.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "meta/meta.h"
#include "t/unit/testhelp.h"

#define TRASH_INODE 9223372032828243968ULL

static struct test_redis srv;
static struct meta *m;
static struct meta_ctx root;
static redisContext *rc;

static char *url(void)
{
	return xasprintf("redis://127.0.0.1:%d/1", srv.port);
}

static struct meta *open_vol(const char *name, int trash_days)
{
	struct meta_conf c;
	struct buf err = BUF_INIT;
	struct conf_format f;
	struct meta *mm = NULL;
	char *u = url();

	meta_conf_defaults(&c);
	c.create = 1;
	ck_assert_msg(meta_open(u, &c, &mm, &err) == 0, "open: %s", err.ptr);
	if (name) {
		conf_format_defaults(&f);
		free(f.name);
		f.name = xstrdup(name);
		f.trash_days = trash_days;
		ck_assert_msg(meta_init(mm, &f, 0, &err) == 0, "init: %s", err.ptr);
		conf_format_release(&f);
	} else {
		ck_assert_int_eq(meta_load_format(mm, NULL), 0);
	}
	free(u);
	buf_release(&err);
	return mm;
}

static void setup(void)
{
	ck_assert_int_eq(test_redis_cmd(srv.port, "FLUSHALL"), 0);
	rc = redisConnect("127.0.0.1", srv.port);
	ck_assert(rc && !rc->err);
	redisReply *r = redisCommand(rc, "SELECT 1");
	ck_assert(r && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	meta_ctx_root(&root);
	m = NULL;
}

static void teardown(void)
{
	meta_close(m);
	m = NULL;
	redisFree(rc);
	rc = NULL;
}

/* Reply of a command; the caller frees it. */
static redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "redis: %s", rc->errstr);
	return r;
}

static void expect_type(const char *key, const char *type)
{
	redisReply *r = cmd("TYPE %s", key);
	ck_assert_msg(!strcmp(r->str, type), "TYPE %s = %s, want %s", key, r->str, type);
	freeReplyObject(r);
}

static void expect_str(const char *key, const char *val)
{
	redisReply *r = cmd("GET %s", key);
	ck_assert_msg(r->type == REDIS_REPLY_STRING && !strcmp(r->str, val), "GET %s = %s, want %s",
		      key, r->type == REDIS_REPLY_STRING ? r->str : "(nil)", val);
	freeReplyObject(r);
}

static void expect_hfield(const char *key, const char *field, const void *val, size_t len)
{
	redisReply *r = cmd("HGET %s %s", key, field);
	ck_assert_msg(r->type == REDIS_REPLY_STRING, "HGET %s %s is nil", key, field);
	ck_assert_msg(r->len == len && !memcmp(r->str, val, len), "HGET %s %s: wrong bytes", key,
		      field);
	freeReplyObject(r);
}

static long long hlen(const char *key)
{
	redisReply *r = cmd("HLEN %s", key);
	long long n = r->integer;
	freeReplyObject(r);
	return n;
}

/* The attribute at `key` equals `want` except the times (bytes 11..46). */
static void expect_attr(const char *key, const uint8_t *want)
{
	redisReply *r = cmd("GET %s", key);
	ck_assert_msg(r->type == REDIS_REPLY_STRING && r->len == 72, "%s: %zu bytes", key,
		      r->type == REDIS_REPLY_STRING ? r->len : 0);
	ck_assert_msg(!memcmp(r->str, want, 11), "%s: flags/mode/uid/gid differ", key);
	ck_assert_msg(!memcmp(r->str + 47, want + 47, 72 - 47), "%s: nlink..pad differ", key);
	freeReplyObject(r);
}

static void attr_bytes(uint8_t *a, uint16_t typemode, uint32_t nlink, uint64_t len,
		       uint64_t parent)
{
	memset(a, 0, 72);
	put_be16(a + 1, typemode);
	put_be32(a + 47, nlink);
	put_be64(a + 51, len);
	put_be64(a + 63, parent);
}

static int key_listed(redisReply *keys, const char *k)
{
	for (size_t i = 0; i < keys->elements; i++)
		if (!strcmp(keys->element[i]->str, k))
			return 1;
	return 0;
}

START_TEST(test_appendix_d)
{
	static const char *const expected[][2] = {
		{ "setting", "string" },	  { "i1", "string" },
		{ "i9223372032828243968", "string" }, { "nextsession", "string" },
		{ "allSessions", "zset" },	  { "sessionInfos", "hash" },
		{ "nextinode", "string" },	  { "nextchunk", "string" },
		{ "d1", "hash" },		  { "i2", "string" },
		{ "c2_0", "list" },		  { "usedSpace", "string" },
		{ "totalInodes", "string" },	  { "dirUsedInodes", "hash" },
		{ "dirUsedSpace", "hash" },	  { "dirDataLength", "hash" },
	};
	uint8_t a[72], ent[9], rec[24];
	uint64_t ino, sid;
	struct meta_slice s = { 0 };

	m = open_vol("myjfs", 1);
	ck_assert_int_eq(meta_new_session(m, "{\"MountPoint\":\"/jfs\"}"), 0);
	ck_assert_int_eq(meta_create(m, &root, 1, "a.txt", 0644, 022, 0, &ino, NULL), 0);
	ck_assert_uint_eq(ino, 2);
	ck_assert_int_eq(meta_new_slice_id(m, &sid), 0);
	ck_assert_uint_eq(sid, 1);
	s.id = sid;
	s.size = s.len = 5;
	ck_assert_int_eq(meta_write_slice(m, ino, 0, 0, &s, now_us(), NULL), 0);

	/* Exactly the keys of the table, each with its type. */
	redisReply *keys = cmd("KEYS *");
	for (size_t i = 0; i < keys->elements; i++) {
		int known = 0;
		for (size_t j = 0; j < ARRAY_SIZE(expected); j++)
			known |= !strcmp(keys->element[i]->str, expected[j][0]);
		ck_assert_msg(known, "unexpected key %s", keys->element[i]->str);
	}
	for (size_t j = 0; j < ARRAY_SIZE(expected); j++) {
		ck_assert_msg(key_listed(keys, expected[j][0]), "missing key %s", expected[j][0]);
		expect_type(expected[j][0], expected[j][1]);
	}
	freeReplyObject(keys);

	expect_str("nextinode", "1024");
	expect_str("nextchunk", "4096");
	expect_str("nextsession", "1");
	expect_str("usedSpace", "4096");
	expect_str("totalInodes", "1");
	redisReply *r = cmd("ZSCORE allSessions 1");
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert(strtoll(r->str, NULL, 10) > time(NULL) + 30);
	freeReplyObject(r);
	r = cmd("HGET sessionInfos 1");
	ck_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "\"MountPoint\":\"/jfs\""));
	freeReplyObject(r);
	r = cmd("GET setting");
	ck_assert(r->type == REDIS_REPLY_STRING && strstr(r->str, "\"Name\": \"myjfs\""));
	freeReplyObject(r);

	attr_bytes(a, 2 << 12 | 0777, 2, 4096, 1);
	expect_attr("i1", a);
	attr_bytes(a, 2 << 12 | 0555, 2, 4096, 1);
	expect_attr("i9223372032828243968", a);
	attr_bytes(a, 0x11A4, 1, 5, 1);
	expect_attr("i2", a);

	ent[0] = 1;
	put_be64(ent + 1, 2);
	expect_hfield("d1", "a.txt", ent, 9);
	ck_assert_int_eq(hlen("d1"), 1);

	r = cmd("LRANGE c2_0 0 -1");
	ck_assert_int_eq(r->elements, 1);
	memset(rec, 0, sizeof(rec));
	put_be64(rec + 4, 1);
	put_be32(rec + 12, 5);
	put_be32(rec + 20, 5);
	ck_assert(r->element[0]->len == 24 && !memcmp(r->element[0]->str, rec, 24));
	freeReplyObject(r);

	expect_hfield("dirUsedInodes", "1", "1", 1);
	expect_hfield("dirUsedSpace", "1", "4096", 4);
	expect_hfield("dirDataLength", "1", "5", 1);

	/* rm /a.txt with trash on: it moves into an hour directory. */
	ck_assert_int_eq(meta_unlink(m, &root, 1, "a.txt", 0), 0);
	expect_str("nextTrash", "1");
	attr_bytes(a, 2 << 12 | 0555, 2, 4096, TRASH_INODE);
	expect_attr("i9223372032828243969", a);
	char hour[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(hour, sizeof(hour), "%Y-%m-%d-%H", &tm);
	ent[0] = 2;
	put_be64(ent + 1, TRASH_INODE + 1);
	expect_hfield("d9223372032828243968", hour, ent, 9);
	ent[0] = 1;
	put_be64(ent + 1, 2);
	expect_hfield("d9223372032828243969", "1-2-a.txt", ent, 9);
	ck_assert_int_eq(hlen("d1"), 0);
	attr_bytes(a, 0x11A4, 1, 5, TRASH_INODE + 1);
	expect_attr("i2", a);
	expect_str("totalInodes", "2");
	expect_str("usedSpace", "8192");
}
END_TEST

/* Counters hold the last id handed out; a new client continues after it. */
START_TEST(test_counters)
{
	uint64_t ino, sid;

	m = open_vol("cnt", 0);
	ck_assert_int_eq(meta_mkdir(m, &root, 1, "d", 0755, 0, &ino, NULL), 0);
	ck_assert_uint_eq(ino, 2);
	expect_str("nextinode", "1024");
	meta_close(m);
	m = NULL;
	freeReplyObject(cmd("SET nextinode 5000"));
	freeReplyObject(cmd("SET nextchunk 70"));
	m = open_vol(NULL, 0);
	ck_assert_int_eq(meta_mkdir(m, &root, 1, "e", 0755, 0, &ino, NULL), 0);
	ck_assert_uint_eq(ino, 5001);
	expect_str("nextinode", "6024");
	ck_assert_int_eq(meta_new_slice_id(m, &sid), 0);
	ck_assert_uint_eq(sid, 71);
	expect_str("nextchunk", "4166");
	ck_assert_int_eq(meta_new_session(m, "{}"), 0);
	ck_assert_int_eq(meta_new_session(m, "{}"), 0);
	expect_str("nextsession", "2");
	ck_assert_uint_eq(meta_sid(m), 2);
	/* the lower-case keys only: no SQL-style spellings appear */
	redisReply *r = cmd("EXISTS nextInode nextChunk nextSession");
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
}
END_TEST

static uint64_t deleted_ids[16];
static int ndeleted;

static int record_delete(void *arg, uint64_t id, uint32_t size)
{
	UNUSED(arg);
	UNUSED(size);
	if (ndeleted < (int)ARRAY_SIZE(deleted_ids))
		deleted_ids[ndeleted++] = id;
	return 0;
}

static int field_state(const char *field, long long *v)
{
	redisReply *r = cmd("HGET sliceRef %s", field);
	int found = r->type == REDIS_REPLY_STRING;
	if (found)
		*v = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	return found;
}

/* sliceRef holds refcount-1; no field means one reference. */
START_TEST(test_refcounts)
{
	uint64_t a, b, sid, copied;
	struct meta_slice s = { 0 };
	long long v;
	char field[48];

	m = open_vol("refs", 0);
	meta_set_slice_deleter(m, record_delete, NULL);
	ck_assert_int_eq(meta_create(m, &root, 1, "a", 0644, 0, 0, &a, NULL), 0);
	ck_assert_int_eq(meta_create(m, &root, 1, "b", 0644, 0, 0, &b, NULL), 0);
	ck_assert_int_eq(meta_new_slice_id(m, &sid), 0);
	s.id = sid;
	s.size = s.len = 5;
	ck_assert_int_eq(meta_write_slice(m, a, 0, 0, &s, now_us(), NULL), 0);
	snprintf(field, sizeof(field), "k%llu_5", (unsigned long long)sid);
	ck_assert(!field_state(field, &v)); /* refcount 1: absent */
	ck_assert_int_eq(meta_copy_file_range(m, &root, a, 0, b, 0, 5, &copied, NULL), 0);
	ck_assert_uint_eq(copied, 5);
	ck_assert(field_state(field, &v));
	ck_assert_int_eq(v, 1); /* two references */
	ck_assert_int_eq(meta_unlink(m, &root, 1, "b", 1), 0);
	ck_assert(!field_state(field, &v) || v == 0); /* back to one */
	ck_assert_int_eq(ndeleted, 0);
	ck_assert_int_eq(meta_unlink(m, &root, 1, "a", 1), 0);
	ck_assert_int_eq(ndeleted, 1);
	ck_assert_uint_eq(deleted_ids[0], sid);
	ck_assert(!field_state(field, &v)); /* removed once the objects are gone */
	redisReply *r = cmd("EXISTS c%llu_0 c%llu_0", (unsigned long long)a,
			    (unsigned long long)b);
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
}
END_TEST

/* ---- Redis killed in the middle of a workload ---- */

struct worker {
	pthread_t th;
	int id;
	int ok_before, eio, ok_after, other;
	int err_other;
};

static volatile int phase; /* 0 up, 1 down, 2 back up, 3 stop */

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct meta_ctx c;

	meta_ctx_root(&c);
	for (int i = 0; phase != 3; i++) {
		char name[64];
		uint64_t ino, sid;
		int ph = phase, r;
		struct meta_slice s = { 0 };

		snprintf(name, sizeof(name), "w%d-%d", w->id, i);
		r = meta_create(m, &c, 1, name, 0644, 0, 0, &ino, NULL);
		if (!r)
			r = meta_new_slice_id(m, &sid);
		if (!r) {
			s.id = sid;
			s.size = s.len = 5000;
			r = meta_write_slice(m, ino, 0, 0, &s, now_us(), NULL);
		}
		if (!r && ph == 0)
			w->ok_before++;
		else if (!r && ph == 2)
			w->ok_after++;
		else if (r == -EIO || r == META_EUNKNOWN) /* cut off after EXEC: unknown */
			w->eio++;
		else if (r) {
			w->other++;
			w->err_other = r;
		}
		if (ph == 1)
			sleep_ms(5);
	}
	return NULL;
}

/* Until the counter at `off` is non-zero in every worker (at most 20 s). */
static void wait_workers(struct worker *w, size_t off)
{
	for (int t = 0; t < 2000; t++) {
		int all = 1;
		for (int i = 0; i < 4; i++)
			all &= *(volatile int *)((char *)&w[i] + off) > 0;
		if (all)
			break;
		sleep_ms(10);
	}
	sleep_ms(100);
}

START_TEST(test_restart)
{
	struct worker w[4];
	long long n, files = 0;

	m = open_vol("restart", 0);
	memset(w, 0, sizeof(w));
	phase = 0;
	for (int i = 0; i < 4; i++) {
		w[i].id = i;
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	/* Each phase lasts until every worker has seen it (the machine may be busy). */
	wait_workers(w, offsetof(struct worker, ok_before));
	/* SIGKILL: whatever transaction is in flight is cut off. */
	kill(srv.pid, SIGKILL);
	waitpid(srv.pid, NULL, 0);
	srv.pid = 0;
	phase = 1;
	wait_workers(w, offsetof(struct worker, eio));
	ck_assert_int_eq(test_redis_start(&srv, srv.port), 0);
	phase = 2;
	wait_workers(w, offsetof(struct worker, ok_after));
	phase = 3;
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].th, NULL);
		ck_assert_msg(w[i].other == 0, "worker %d: unexpected error %d", i,
			      w[i].err_other);
		ck_assert_int_gt(w[i].ok_before, 0);
		ck_assert_int_gt(w[i].eio, 0);
		ck_assert_int_gt(w[i].ok_after, 0);
	}

	/* Consistency of what survived (the append-only file keeps each EXEC whole). */
	redisFree(rc);
	rc = redisConnect("127.0.0.1", srv.port);
	ck_assert(rc && !rc->err);
	freeReplyObject(cmd("SELECT 1"));
	redisReply *d = cmd("HGETALL d1");
	long long space = 0;
	for (size_t i = 0; i + 1 < d->elements; i += 2) {
		uint64_t ino = get_be64((const uint8_t *)d->element[i + 1]->str + 1);
		redisReply *a = cmd("GET i%llu", (unsigned long long)ino);
		ck_assert_msg(a->type == REDIS_REPLY_STRING && a->len == 72,
			      "entry %s without attribute", d->element[i]->str);
		uint64_t len = get_be64((const uint8_t *)a->str + 51);
		freeReplyObject(a);
		redisReply *l = cmd("LLEN c%llu_0", (unsigned long long)ino);
		/* length and chunk list change in one transaction */
		ck_assert_int_eq(l->integer, len ? 1 : 0);
		freeReplyObject(l);
		space += len ? (long long)((len + 4095) / 4096 * 4096) : 4096;
		files++;
	}
	freeReplyObject(d);
	redisReply *t = cmd("GET totalInodes");
	n = t->type == REDIS_REPLY_STRING ? strtoll(t->str, NULL, 10) : 0;
	freeReplyObject(t);
	ck_assert_int_eq(n, files);
	t = cmd("GET usedSpace");
	n = t->type == REDIS_REPLY_STRING ? strtoll(t->str, NULL, 10) : 0;
	freeReplyObject(t);
	ck_assert_int_eq(n, space);
	/* no attribute without an entry either */
	redisReply *k = cmd("KEYS i*");
	ck_assert_int_eq((long long)k->elements, files + 1);
	freeReplyObject(k);
}
END_TEST

/*
 * An engine that stays down is waited for a bounded time (about 15 s of
 * back-off on refused connections), then reported as EIO; one that comes
 * back within it is not reported at all.
 */
static int restart_rc;

static void *restart_later(void *arg)
{
	UNUSED(arg);
	sleep_ms(2000);
	restart_rc = test_redis_start(&srv, srv.port);
	return NULL;
}

START_TEST(test_down_bounded)
{
	struct meta_attr a;
	int64_t t0, took;

	m = open_vol("bounded", 0);
	ck_assert_int_eq(meta_getattr(m, &root, 1, &a), 0);
	kill(srv.pid, SIGKILL);
	waitpid(srv.pid, NULL, 0);
	srv.pid = 0;
	t0 = mono_ms();
	ck_assert_int_eq(meta_getattr(m, &root, 1, &a), -EIO);
	took = mono_ms() - t0;
	ck_assert_msg(took >= 14000 && took < 25000, "gave up after %lld ms",
		      (long long)took);
	/* back within the wait: the call that was waiting succeeds */
	pthread_t th;
	restart_rc = -1;
	pthread_create(&th, NULL, restart_later, NULL);
	t0 = mono_ms();
	int r = meta_getattr(m, &root, 1, &a);
	took = mono_ms() - t0;
	pthread_join(th, NULL);
	ck_assert_int_eq(restart_rc, 0);
	ck_assert_msg(r == 0, "getattr across the restart: %d after %lld ms", r, (long long)took);
}
END_TEST

START_TEST(test_rediss_refused)
{
	struct meta *mm = NULL;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(meta_open("rediss://127.0.0.1:1/1", NULL, &mm, &err), -EPROTONOSUPPORT);
	ck_assert_ptr_null(mm);
	ck_assert_ptr_nonnull(strstr(err.ptr, "TLS"));
	ck_assert_ptr_null(strchr(err.ptr, '\n'));
	buf_release(&err);
	/* nothing listening: a clear error, not a hang */
	ck_assert_int_eq(meta_open("redis://127.0.0.1:1/1", NULL, &mm, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.ptr, "cannot connect"));
	buf_release(&err);
}
END_TEST

static Suite *redis_suite(void)
{
	Suite *s = suite_create("redis");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_appendix_d);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_refcounts);
	tcase_add_test(tc, test_rediss_refused);
	tcase_add_test(tc, test_down_bounded); /* replaces the server too */
	tcase_add_test(tc, test_restart); /* last: it replaces the server */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed, r;

	log_set_level(LOG_ERROR);
	srv.persist = 1;
	r = test_redis_start(&srv, 0);
	if (r) {
		printf("SKIP check_redis: cannot start redis-server (%s)\n",
		       r == -ENOENT ? "not installed" : strerror(-r));
		return 77;
	}
	SRunner *sr = srunner_create(redis_suite());
	/* The restart case kills and restarts the server: run in this process. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	test_redis_stop(&srv);
	test_rm_rf(srv.dir);
	free(srv.dir);
	return failed ? 1 : 0;
}
