/*
 * check_s3store: the s3 object-storage back end (storage/s3.c) against a
 * real S3 service, our own `juicefs gateway` ($JFS_BIN) started here on a
 * free 127.0.0.1 port over a scratch SQLite volume with --multi-buckets.
 *
 * It runs the object contract of storage/obj.h through the s3 store: ranges
 * (short at the end, 0 past it), missing objects, paging past one 1000-key
 * page, prefix/start-after/limit, early stop, keys that need URI encoding in
 * the signature, path and virtual-host style, bucket creation, wrong keys
 * (-EACCES), a dead endpoint (-EIO within a bound) and 8 threads at once.
 */
#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/obj.h"
#include "t/unit/testhelp.h"

#define AK "s3admin"
#define SK "s3secret123"

static int gw_port;
static pid_t gw_pid;
static char *gw_dir;

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &al))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Run $JFS_BIN with argv (NULL-terminated), output to log; 0 when it exits 0. */
static pid_t spawn(char *const argv[], const char *log, int wait_it)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (!pid) {
		FILE *f = freopen(log, "a", stdout);
		if (f)
			dup2(fileno(f), 2);
		setenv("MINIO_ROOT_USER", AK, 1);
		setenv("MINIO_ROOT_PASSWORD", SK, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (!wait_it)
		return pid;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return 0;
}

static int gw_start(void)
{
	const char *bin = getenv("JFS_BIN");
	char *meta, *data, *log, *addr;
	int r = -1;

	if (!bin || access(bin, X_OK)) {
		fprintf(stderr, "check_s3store: JFS_BIN (our juicefs binary) is not set or built\n");
		return -1;
	}
	gw_dir = test_tmpdir("s3store");
	if (!gw_dir)
		return -1;
	meta = xasprintf("sqlite3://%s/gw.db", gw_dir);
	data = xasprintf("%s/data", gw_dir);
	log = xasprintf("%s/gw.log", gw_dir);
	gw_port = free_port();
	addr = xasprintf("127.0.0.1:%d", gw_port);
	{
		char *fa[] = { (char *)bin, "format", meta, "gwvol", "--bucket", data, NULL };
		if (spawn(fa, log, 1))
			goto out;
	}
	{
		char *ga[] = { (char *)bin, "gateway", meta, addr, "--cache-dir", "none", "--no-banner",
			       "--multi-buckets", "--domain", "localhost", NULL };
		gw_pid = spawn(ga, log, 0);
		if (gw_pid <= 0)
			goto out;
	}
	for (int i = 0; i < 200 && !port_open(gw_port); i++)
		usleep(50000);
	r = port_open(gw_port) ? 0 : -1;
out:
	free(meta);
	free(data);
	free(log);
	free(addr);
	return r;
}

static void gw_stop(void)
{
	if (gw_pid > 0) {
		kill(gw_pid, SIGTERM);
		waitpid(gw_pid, NULL, 0);
	}
	test_rm_rf(gw_dir);
	free(gw_dir);
}

/* A store on bucket `bkt` of the gateway, created when missing. */
static struct obj_store *store(const char *bkt, const char *ak, const char *sk)
{
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	char *url = xasprintf("http://127.0.0.1:%d/%s", gw_port, bkt);

	ck_assert_msg(obj_create("s3", url, ak, sk, NULL, &s, &err) == 0, "%s", err.ptr);
	free(url);
	buf_release(&err);
	return s;
}

static struct obj_store *fresh(const char *bkt)
{
	struct obj_store *s = store(bkt, AK, SK);

	ck_assert_int_eq(obj_create_bucket(s), 0);
	return s;
}

struct keys {
	struct buf all; /* "k1\nk2\n..." */
	size_t n, stop_at;
	int ret;
};

static int collect(void *arg, const struct obj_info *oi)
{
	struct keys *k = arg;

	buf_adds(&k->all, oi->key);
	buf_addch(&k->all, '\n');
	if (++k->n == k->stop_at)
		return k->ret;
	return 0;
}

START_TEST(roundtrip)
{
	struct obj_store *s = fresh("rtrip");
	size_t big = (1u << 20) + 123;
	uint8_t *data = xmalloc(big), *back = xmalloc(big + 10);
	struct obj_info oi;
	int64_t t0 = now_us();

	random_bytes(data, big);
	ck_assert_int_eq(obj_put(s, "dir/big", data, big), 0);
	ck_assert_int_eq(obj_get(s, "dir/big", 0, back, big + 10), (ssize_t)big);
	ck_assert_mem_eq(back, data, big);
	/* Ranges: in the middle, short at the end, empty at and past the end. */
	ck_assert_int_eq(obj_get(s, "dir/big", 1000, back, 5000), 5000);
	ck_assert_mem_eq(back, data + 1000, 5000);
	ck_assert_int_eq(obj_get(s, "dir/big", big - 7, back, 100), 7);
	ck_assert_mem_eq(back, data + big - 7, 7);
	ck_assert_int_eq(obj_get(s, "dir/big", big, back, 100), 0);
	ck_assert_int_eq(obj_get(s, "dir/big", big + 5000, back, 100), 0);
	ck_assert_int_eq(obj_head(s, "dir/big", &oi), 0);
	ck_assert_uint_eq(oi.size, big);
	ck_assert_int_ge(oi.mtime_us, t0 - 2000000);
	ck_assert_int_le(oi.mtime_us, now_us() + 2000000);

	/* Empty object, overwrite, then delete (twice). */
	ck_assert_int_eq(obj_put(s, "empty", "", 0), 0);
	ck_assert_int_eq(obj_head(s, "empty", &oi), 0);
	ck_assert_uint_eq(oi.size, 0);
	ck_assert_int_eq(obj_get(s, "empty", 0, back, 10), 0);
	ck_assert_int_eq(obj_put(s, "empty", "xyz", 3), 0);
	ck_assert_int_eq(obj_get(s, "empty", 0, back, 10), 3);
	ck_assert_mem_eq(back, "xyz", 3);
	ck_assert_int_eq(obj_delete(s, "empty"), 0);
	ck_assert_int_eq(obj_delete(s, "empty"), 0);

	/* Missing objects. */
	ck_assert_int_eq(obj_get(s, "empty", 0, back, 10), -ENOENT);
	ck_assert_int_eq(obj_get(s, "nope/x", 0, back, 0), -ENOENT);
	ck_assert_int_eq(obj_head(s, "nope", &oi), -ENOENT);
	ck_assert_int_eq(obj_delete(s, "nope/deeper"), 0);
	ck_assert_int_eq(obj_put(s, "", "x", 1), -EINVAL);
	free(data);
	free(back);
	obj_free(s);
}
END_TEST

START_TEST(odd_keys)
{
	/* Each needs encoding in the URL and in the canonical request. */
	static const char *const names[] = { "sp ace", "plus+sign", "pct%41", "q?mark", "amp&and",
					     "eq=sign", "ünï/文件", "tilde~", "semi;colon",
					     "hash#tag" };
	struct obj_store *s = fresh("odd");
	struct keys k = { BUF_INIT, 0, 0, 0 };
	struct buf want = BUF_INIT;
	char back[64];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		ck_assert_msg(obj_put(s, names[i], names[i], strlen(names[i])) == 0, "%s", names[i]);
		ck_assert_int_eq(obj_get(s, names[i], 0, back, sizeof(back)),
				 (ssize_t)strlen(names[i]));
		ck_assert_mem_eq(back, names[i], strlen(names[i]));
	}
	ck_assert_int_eq(obj_list(s, "", NULL, 0, collect, &k), 0);
	/* Byte order. */
	buf_adds(&want, "amp&and\neq=sign\nhash#tag\npct%41\nplus+sign\nq?mark\nsemi;colon\n"
			"sp ace\ntilde~\nünï/文件\n");
	ck_assert_str_eq(k.all.ptr, want.ptr);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		ck_assert_int_eq(obj_delete(s, names[i]), 0);
	buf_release(&k.all);
	buf_release(&want);
	obj_free(s);
}
END_TEST

struct filler {
	struct obj_store *s;
	int from, to;
	int err;
};

static void *fill(void *arg)
{
	struct filler *f = arg;
	char key[64], back[64];

	for (int i = f->from; i < f->to && !f->err; i++) {
		snprintf(key, sizeof(key), "p/%05d", i);
		if (obj_put(f->s, key, key, strlen(key)))
			f->err = 1;
		else if (obj_get(f->s, key, 0, back, sizeof(back)) != (ssize_t)strlen(key) ||
			 memcmp(back, key, strlen(key)))
			f->err = 2;
	}
	return NULL;
}

/* 1100 keys written by 8 threads (each its own connection), listed in pages. */
START_TEST(list_pages_threads)
{
	struct obj_store *s = fresh("pages");
	struct filler f[8];
	pthread_t th[8];
	struct keys k = { BUF_INIT, 0, 0, 0 };
	int n = 1100;

	for (int i = 0; i < 8; i++) {
		f[i] = (struct filler){ s, i * n / 8, (i + 1) * n / 8, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, fill, &f[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(f[i].err, 0);
	}
	ck_assert_int_eq(obj_put(s, "q", "q", 1), 0);
	ck_assert_int_eq(obj_put(s, "o", "o", 1), 0);

	/* Everything under "p/", across a page boundary, in order. */
	ck_assert_int_eq(obj_list(s, "p/", NULL, 0, collect, &k), 0);
	ck_assert_uint_eq(k.n, (size_t)n);
	{
		struct buf want = BUF_INIT;
		for (int i = 0; i < n; i++)
			buf_addf(&want, "p/%05d\n", i);
		ck_assert_str_eq(k.all.ptr, want.ptr);
		buf_release(&want);
	}
	/* Whole bucket: "o" < "p/..." < "q". */
	buf_reset(&k.all);
	k.n = 0;
	ck_assert_int_eq(obj_list(s, "", NULL, 0, collect, &k), 0);
	ck_assert_uint_eq(k.n, (size_t)n + 2);
	ck_assert(!strncmp(k.all.ptr, "o\np/00000\n", 10));
	ck_assert(!strcmp(k.all.ptr + k.all.len - 10, "p/01099\nq\n"));

	/* start_after + limit spanning the page boundary. */
	buf_reset(&k.all);
	k.n = 0;
	ck_assert_int_eq(obj_list(s, "p/", "p/00990", 15, collect, &k), 0);
	ck_assert_uint_eq(k.n, 15);
	ck_assert(!strncmp(k.all.ptr, "p/00991\n", 8));
	ck_assert(!strcmp(k.all.ptr + k.all.len - 8, "p/01005\n"));
	/* start_after past every key of the prefix, and an unknown prefix. */
	buf_reset(&k.all);
	k.n = 0;
	ck_assert_int_eq(obj_list(s, "p/", "p/01099", 0, collect, &k), 0);
	ck_assert_int_eq(obj_list(s, "zzz", NULL, 0, collect, &k), 0);
	ck_assert_uint_eq(k.n, 0);
	/* The callback stops the walk, and its value comes back. */
	k.stop_at = 1005;
	k.ret = 42;
	ck_assert_int_eq(obj_list(s, "", NULL, 0, collect, &k), 42);
	ck_assert_uint_eq(k.n, 1005);
	buf_release(&k.all);
	obj_free(s);
}
END_TEST

START_TEST(buckets_and_auth)
{
	struct obj_store *s = fresh("made"), *bad, *anon;
	char back[8];
	struct keys k = { BUF_INIT, 0, 0, 0 };

	/* Creating an existing bucket is fine. */
	ck_assert_int_eq(obj_create_bucket(s), 0);
	ck_assert_int_eq(obj_put(s, "k", "v", 1), 0);

	bad = store("made", AK, "not-the-secret");
	ck_assert_int_eq(obj_create_bucket(bad), -EACCES);
	ck_assert_int_eq(obj_put(bad, "k2", "v", 1), -EACCES);
	ck_assert_int_eq(obj_get(bad, "k", 0, back, sizeof(back)), -EACCES);
	ck_assert_int_eq(obj_list(bad, "", NULL, 0, collect, &k), -EACCES);
	anon = store("made", NULL, NULL);
	ck_assert_int_eq(obj_get(anon, "k", 0, back, sizeof(back)), -EACCES);

	/* A bucket that does not exist is not a missing object. */
	obj_free(s);
	s = store("never-made", AK, SK);
	ck_assert_int_ne(obj_put(s, "k", "v", 1), 0);
	ck_assert_int_eq(obj_list(s, "", NULL, 0, collect, &k), -EIO);
	ck_assert_uint_eq(k.n, 0);
	buf_release(&k.all);
	obj_free(s);
	obj_free(bad);
	obj_free(anon);
}
END_TEST

START_TEST(vhost_style)
{
	struct obj_store *s = fresh("vhost"), *v;
	struct buf err = BUF_INIT;
	char *url, back[8];

	ck_assert_int_eq(obj_put(s, "x/y", "hello", 5), 0);
	/* The bucket in the host name ("*.localhost" is loopback to curl). */
	url = xasprintf("http://vhost.localhost:%d/", gw_port);
	ck_assert_int_eq(obj_create("s3", url, AK, SK, NULL, &v, &err), 0);
	ck_assert_str_eq(obj_describe(v), "s3://vhost/");
	ck_assert_int_eq(obj_get(v, "x/y", 1, back, sizeof(back)), 4);
	ck_assert_mem_eq(back, "ello", 4);
	obj_free(v);
	free(url);
	/* The path form turned into virtual-host style by JFS_S3_VHOST_STYLE. */
	setenv("JFS_S3_VHOST_STYLE", "1", 1);
	url = xasprintf("http://localhost:%d/vhost?region=us-east-1", gw_port);
	ck_assert_int_eq(obj_create("s3", url, AK, SK, NULL, &v, &err), 0);
	unsetenv("JFS_S3_VHOST_STYLE");
	ck_assert_str_eq(obj_describe(v), "s3://vhost/");
	ck_assert_int_eq(obj_put(v, "x/z", "vv", 2), 0);
	ck_assert_int_eq(obj_get(s, "x/z", 0, back, sizeof(back)), 2);
	free(url);
	/* A bucket URL with no bucket at all is refused. */
	ck_assert_int_eq(obj_create("s3", "http://127.0.0.1:9/", AK, SK, NULL, &v, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.ptr, "bucket"));
	buf_release(&err);
	obj_free(s);
}
END_TEST

START_TEST(dead_endpoint)
{
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	char *url = xasprintf("http://127.0.0.1:%d/b", free_port());
	struct obj_info oi;
	char back[8];
	int64_t t0;

	ck_assert_int_eq(obj_create("s3", url, AK, SK, NULL, &s, &err), 0);
	t0 = mono_ms();
	ck_assert_int_eq(obj_put(s, "k", "v", 1), -EIO);
	ck_assert_int_eq(obj_get(s, "k", 0, back, sizeof(back)), -EIO);
	ck_assert_int_eq(obj_head(s, "k", &oi), -EIO);
	ck_assert_int_eq(obj_delete(s, "k"), -EIO);
	/* Bounded retries with back-off: a few hundred ms each, not minutes. */
	ck_assert_int_lt(mono_ms() - t0, 10000);
	free(url);
	buf_release(&err);
	obj_free(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("s3store");
	TCase *tc = tcase_create("s3store");
	SRunner *sr;
	int failures;

	if (gw_start()) {
		fprintf(stderr, "check_s3store: could not start the S3 gateway\n");
		gw_stop();
		return 1;
	}
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, odd_keys);
	tcase_add_test(tc, list_pages_threads);
	tcase_add_test(tc, buckets_and_auth);
	tcase_add_test(tc, vhost_style);
	tcase_add_test(tc, dead_endpoint);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	gw_stop();
	return failures ? 1 : 0;
}
