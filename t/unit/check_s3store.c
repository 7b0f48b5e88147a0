/*
 * check_s3store: the s3 object-storage back end (storage/s3.c) against a
 * real S3 service started here on a free 127.0.0.1 port, chosen by
 * JFS_S3_SERVICE:
 *   gateway (the default): our own `juicefs gateway` ($JFS_BIN) over a
 *           scratch SQLite volume with --multi-buckets;
 *   minio:  MinIO ($JFS_MINIO, default /opt/peers/minio: a development-time
 *           peer, so the binary skips (exit 77) when it is not there);
 *   moto:   moto_server ($JFS_MOTO, default /opt/jfs-moto/bin/moto_server,
 *           PyPI moto[server]) with IAM authentication on, so that wrong keys
 *           and our SigV4 are checked by botocore's signer, not waved through.
 *
 * It runs the object contract of storage/obj.h through the s3 store: ranges
 * (short at the end, 0 past it), missing objects, paging past one 1000-key
 * page, prefix/start-after/limit, early stop, keys that need URI encoding in
 * the signature, path and virtual-host style, bucket creation, wrong keys
 * (-EACCES), a dead endpoint (-EIO within a bound) and 8 threads at once;
 * and, against a scripted HTTP server of its own, retries on 5xx/429 and on
 * dropped connections (no real service fails on demand).
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

/* automake's "skipped" exit status. */
#define EXIT_SKIP 77

/* The service under test; svc_ak/svc_sk are fixed except for moto, which makes its own. */
static const char *svc = "gateway";
static char svc_ak[128] = "s3admin", svc_sk[128] = "s3secret123";
/* Temporary keys and their session token, where the service issues them (minio, moto). */
static char tmp_ak[128], tmp_sk[128], tmp_token[4096];
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

/*
 * Run argv (NULL-terminated) with the "NAME=value" strings of env added,
 * output to log. wait_it: 0 when it exits 0, else -1; otherwise its pid.
 */
static pid_t spawn(char *const argv[], char *const env[], const char *log, int wait_it)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (!pid) {
		FILE *f = freopen(log, "a", stdout);
		if (f)
			dup2(fileno(f), 2);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		/* A service outliving a crashed test must not keep the test's stdin. */
		if (!freopen("/dev/null", "r", stdin))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (!wait_it)
		return pid;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return 0;
}

static void show_log(const char *what)
{
	char *log = xasprintf("%s/svc.log", gw_dir);
	FILE *f = fopen(log, "r");
	char line[512];

	fprintf(stderr, "check_s3store: %s; %s says:\n", what, log);
	if (f) {
		/* The log of a failed start is short: all of it. */
		while (fgets(line, sizeof(line), f))
			fprintf(stderr, "  %s", line);
		fclose(f);
	}
	free(log);
}

/*
 * Run the Python script py with `python` and the arguments port, svc_ak and
 * svc_sk; read whitespace-separated words of its output into out[i] (each of
 * sz[i] bytes). 0 when it exits 0 having printed them all.
 */
static int run_py(const char *python, const char *py, char *const out[], const size_t sz[],
		  int n)
{
	char *pyfile = xasprintf("%s/helper.py", gw_dir), *cmd;
	char word[4096];
	FILE *f = fopen(pyfile, "w");
	int r = -1;

	if (!f || fputs(py, f) < 0 || fclose(f)) {
		free(pyfile);
		return -1;
	}
	cmd = xasprintf("'%s' '%s' %d '%s' '%s' 2>>'%s/svc.log'", python, pyfile, gw_port, svc_ak,
			svc_sk, gw_dir);
	f = popen(cmd, "r");
	if (f) {
		r = 0;
		for (int i = 0; i < n && !r; i++)
			if (fscanf(f, "%4095s", word) != 1 || strlen(word) >= sz[i])
				r = -1;
			else
				memcpy(out[i], word, strlen(word) + 1);
		if (pclose(f))
			r = -1;
	}
	free(cmd);
	free(pyfile);
	return r;
}

/*
 * moto's IAM: one user allowed everything, its key pair into svc_ak/svc_sk,
 * and the temporary keys of a role it assumed into tmp_*.
 */
static int moto_keys(const char *moto_bin)
{
	static const char py[] =
		"import boto3, json, sys\n"
		"ep = 'http://127.0.0.1:%s' % sys.argv[1]\n"
		"allow = {'Version': '2012-10-17', 'Statement': [\n"
		"    {'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}\n"
		"iam = boto3.client('iam', endpoint_url=ep, region_name='us-east-1',\n"
		"    aws_access_key_id='x', aws_secret_access_key='x')\n"
		"iam.create_user(UserName='jfs')\n"
		"iam.put_user_policy(UserName='jfs', PolicyName='all', PolicyDocument=json.dumps(allow))\n"
		"k = iam.create_access_key(UserName='jfs')['AccessKey']\n"
		"print(k['AccessKeyId'], k['SecretAccessKey'])\n"
		"# A role of that user's, assumed: temporary keys with a session token.\n"
		"kw = dict(endpoint_url=ep, region_name='us-east-1',\n"
		"    aws_access_key_id=k['AccessKeyId'], aws_secret_access_key=k['SecretAccessKey'])\n"
		"iam = boto3.client('iam', **kw)\n"
		"trust = {'Version': '2012-10-17', 'Statement': [\n"
		"    {'Effect': 'Allow', 'Principal': {'AWS': '*'}, 'Action': 'sts:AssumeRole'}]}\n"
		"r = iam.create_role(RoleName='jfs', AssumeRolePolicyDocument=json.dumps(trust))\n"
		"iam.put_role_policy(RoleName='jfs', PolicyName='all', PolicyDocument=json.dumps(allow))\n"
		"c = boto3.client('sts', **kw).assume_role(RoleArn=r['Role']['Arn'],\n"
		"    RoleSessionName='jfs')['Credentials']\n"
		"print(c['AccessKeyId'], c['SecretAccessKey'], c['SessionToken'])\n";
	char *out[] = { svc_ak, svc_sk, tmp_ak, tmp_sk, tmp_token };
	const size_t sz[] = { sizeof(svc_ak), sizeof(svc_sk), sizeof(tmp_ak), sizeof(tmp_sk),
			      sizeof(tmp_token) };
	const char *slash = strrchr(moto_bin, '/');
	/* The venv's own python: it has boto3, which moto depends on. */
	char *python = slash ? xasprintf("%.*s/python3", (int)(slash - moto_bin), moto_bin)
			     : xstrdup("python3");
	int r = run_py(python, py, out, sz, ARRAY_SIZE(out));

	free(python);
	return r;
}

/*
 * MinIO's STS AssumeRole with the root keys, through Debian's python3-boto3
 * (scripts/deps.sh): temporary keys into tmp_*. Optional: the session_token
 * case only runs when this worked.
 */
static void minio_tmp_keys(void)
{
	static const char py[] =
		"import boto3, sys\n"
		"sts = boto3.client('sts', endpoint_url='http://127.0.0.1:%s' % sys.argv[1],\n"
		"    region_name='us-east-1', aws_access_key_id=sys.argv[2],\n"
		"    aws_secret_access_key=sys.argv[3])\n"
		"# MinIO ignores the role for its root user; botocore wants 20 characters.\n"
		"c = sts.assume_role(RoleArn='arn:minio:iam:::role/jfs-test',\n"
		"    RoleSessionName='jfs')['Credentials']\n"
		"print(c['AccessKeyId'], c['SecretAccessKey'], c['SessionToken'])\n";
	char *out[] = { tmp_ak, tmp_sk, tmp_token };
	const size_t sz[] = { sizeof(tmp_ak), sizeof(tmp_sk), sizeof(tmp_token) };

	if (run_py("python3", py, out, sz, ARRAY_SIZE(out)))
		tmp_token[0] = 0;
}

/* Is the service we started still running? Reaps it when not. */
static int gw_alive(void)
{
	if (gw_pid > 0 && waitpid(gw_pid, NULL, WNOHANG) == gw_pid)
		gw_pid = 0;
	return gw_pid > 0;
}

/* 0 once the service accepts connections, -1 when it died or ms passed. */
static int wait_listening(int64_t ms)
{
	for (int64_t t0 = mono_ms(); mono_ms() - t0 < ms && gw_alive(); usleep(50000))
		if (port_open(gw_port))
			return 0;
	return -1;
}

/* 0 when started, EXIT_SKIP when this service cannot be had here, else -1. */
static int gw_start(void)
{
	const char *bin = getenv("JFS_BIN");
	char *meta = NULL, *data = NULL, *log = NULL, *addr = NULL, *port = NULL;
	int r = -1;

	gw_dir = test_tmpdir("s3store");
	if (!gw_dir)
		return -1;
	log = xasprintf("%s/svc.log", gw_dir);
	gw_port = free_port();
	port = xasprintf("%d", gw_port);
	addr = xasprintf("127.0.0.1:%d", gw_port);
	if (!strcmp(svc, "gateway")) {
		char *env[] = { "MINIO_ROOT_USER=s3admin", "MINIO_ROOT_PASSWORD=s3secret123", NULL };

		if (!bin || access(bin, X_OK)) {
			fprintf(stderr, "check_s3store: JFS_BIN (our juicefs binary) is not set or built\n");
			goto out;
		}
		meta = xasprintf("sqlite3://%s/gw.db", gw_dir);
		data = xasprintf("%s/data", gw_dir);
		{
			char *fa[] = { (char *)bin, "format", meta, "gwvol", "--bucket", data, NULL };
			if (spawn(fa, env, log, 1))
				goto out;
		}
		{
			char *ga[] = { (char *)bin, "gateway", meta, addr, "--cache-dir", "none",
				       "--no-banner", "--multi-buckets", "--domain", "localhost", NULL };
			gw_pid = spawn(ga, env, log, 0);
		}
	} else if (!strcmp(svc, "minio")) {
		const char *mb = getenv("JFS_MINIO") ? getenv("JFS_MINIO") : "/opt/peers/minio";
		/* MINIO_DOMAIN: "*.localhost" names a bucket (virtual-host style). */
		char *env[] = { "MINIO_ROOT_USER=s3admin", "MINIO_ROOT_PASSWORD=s3secret123",
				"MINIO_DOMAIN=localhost", "MINIO_BROWSER=off", "MINIO_UPDATE=off",
				NULL };
		char *console;

		if (access(mb, X_OK)) {
			printf("SKIP: MinIO not found at %s (a development-time peer; set JFS_MINIO)\n",
			       mb);
			r = EXIT_SKIP;
			goto out;
		}
		data = xasprintf("%s/minio", gw_dir);
		console = xasprintf("127.0.0.1:%d", free_port());
		{
			char *ma[] = { (char *)mb, "server", data, "--address", addr,
				       "--console-address", console, "--quiet", NULL };
			gw_pid = spawn(ma, env, log, 0);
		}
		free(console);
	} else if (!strcmp(svc, "moto")) {
		const char *mb = getenv("JFS_MOTO") ? getenv("JFS_MOTO")
						     : "/opt/jfs-moto/bin/moto_server";
		/* Three unauthenticated calls to make the IAM user; everything after is signed. */
		char *env[] = { "INITIAL_NO_AUTH_ACTION_COUNT=3", NULL };

		if (access(mb, X_OK)) {
			printf("SKIP: moto_server not found at %s (bash scripts/deps.sh installs it; "
			       "or set JFS_MOTO)\n",
			       mb);
			r = EXIT_SKIP;
			goto out;
		}
		{
			char *ma[] = { (char *)mb, "-H", "127.0.0.1", "-p", port, NULL };
			gw_pid = spawn(ma, env, log, 0);
		}
		if (gw_pid <= 0 || wait_listening(20000) || moto_keys(mb)) {
			show_log("moto did not start or its IAM user could not be made");
			goto out;
		}
	} else {
		fprintf(stderr, "check_s3store: JFS_S3_SERVICE=%s: want gateway, minio or moto\n", svc);
		goto out;
	}
	if (gw_pid <= 0 || wait_listening(20000)) {
		show_log("the S3 service did not listen");
		goto out;
	}
	/*
	 * Listening is not serving (MinIO answers 503 while it sets up its
	 * drive): ready when a bucket can be made with the keys.
	 */
	for (int64_t t0 = mono_ms(); mono_ms() - t0 < 30000 && gw_alive();) {
		struct obj_store *s = NULL;
		struct buf err = BUF_INIT;
		char *url = xasprintf("http://127.0.0.1:%d/ready", gw_port);
		int ok = !obj_create("s3", url, svc_ak, svc_sk, NULL, &s, &err) && !obj_create_bucket(s);

		obj_free(s);
		buf_release(&err);
		free(url);
		if (ok) {
			r = 0;
			break;
		}
		usleep(50000);
	}
	if (r)
		show_log("the S3 service did not come up");
	else if (!strcmp(svc, "minio"))
		minio_tmp_keys();
out:
	free(meta);
	free(data);
	free(log);
	free(addr);
	free(port);
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

/* A store on bucket `bkt` of the service under test. */
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
	struct obj_store *s = store(bkt, svc_ak, svc_sk);

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
	/* The same characters in the query (start-after, prefix) of a signed listing. */
	buf_reset(&k.all);
	k.n = 0;
	ck_assert_int_eq(obj_list(s, "", "hash#tag", 3, collect, &k), 0);
	ck_assert_str_eq(k.all.ptr, "pct%41\nplus+sign\nq?mark\n");
	buf_reset(&k.all);
	k.n = 0;
	ck_assert_int_eq(obj_list(s, "ünï/", NULL, 0, collect, &k), 0);
	ck_assert_str_eq(k.all.ptr, "ünï/文件\n");
	buf_reset(&k.all);
	k.n = 0;
	ck_assert_int_eq(obj_list(s, "sp ", "semi;colon", 0, collect, &k), 0);
	ck_assert_str_eq(k.all.ptr, "sp ace\n");
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

	bad = store("made", svc_ak, "not-the-secret");
	ck_assert_int_eq(obj_create_bucket(bad), -EACCES);
	ck_assert_int_eq(obj_put(bad, "k2", "v", 1), -EACCES);
	ck_assert_int_eq(obj_get(bad, "k", 0, back, sizeof(back)), -EACCES);
	ck_assert_int_eq(obj_list(bad, "", NULL, 0, collect, &k), -EACCES);
	anon = store("made", NULL, NULL);
	ck_assert_int_eq(obj_get(anon, "k", 0, back, sizeof(back)), -EACCES);

	/* A bucket that does not exist is not a missing object. */
	obj_free(s);
	s = store("never-made", svc_ak, svc_sk);
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
	ck_assert_int_eq(obj_create("s3", url, svc_ak, svc_sk, NULL, &v, &err), 0);
	ck_assert_str_eq(obj_describe(v), "s3://vhost/");
	ck_assert_int_eq(obj_get(v, "x/y", 1, back, sizeof(back)), 4);
	ck_assert_mem_eq(back, "ello", 4);
	obj_free(v);
	free(url);
	/* The path form turned into virtual-host style by JFS_S3_VHOST_STYLE. */
	setenv("JFS_S3_VHOST_STYLE", "1", 1);
	url = xasprintf("http://localhost:%d/vhost?region=us-east-1", gw_port);
	ck_assert_int_eq(obj_create("s3", url, svc_ak, svc_sk, NULL, &v, &err), 0);
	unsetenv("JFS_S3_VHOST_STYLE");
	ck_assert_str_eq(obj_describe(v), "s3://vhost/");
	ck_assert_int_eq(obj_put(v, "x/z", "vv", 2), 0);
	ck_assert_int_eq(obj_get(s, "x/z", 0, back, sizeof(back)), 2);
	free(url);
	/* A bucket URL with no bucket at all is refused. */
	ck_assert_int_eq(obj_create("s3", "http://127.0.0.1:9/", svc_ak, svc_sk, NULL, &v, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.ptr, "bucket"));
	buf_release(&err);
	obj_free(s);
}
END_TEST

/* A region other than us-east-1 signs with it and names it at bucket creation. */
START_TEST(other_region)
{
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	struct keys k = { BUF_INIT, 0, 0, 0 };
	char *url = xasprintf("http://127.0.0.1:%d/regional?region=eu-west-1", gw_port);
	char back[8];

	ck_assert_int_eq(obj_create("s3", url, svc_ak, svc_sk, NULL, &s, &err), 0);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	ck_assert_int_eq(obj_put(s, "r/k", "eu", 2), 0);
	ck_assert_int_eq(obj_get(s, "r/k", 0, back, sizeof(back)), 2);
	ck_assert_int_eq(obj_list(s, "r/", NULL, 0, collect, &k), 0);
	ck_assert_str_eq(k.all.ptr, "r/k\n");
	ck_assert_int_eq(obj_delete(s, "r/k"), 0);
	buf_release(&k.all);
	buf_release(&err);
	free(url);
	obj_free(s);
}
END_TEST

/* Temporary keys: the session token is sent and signed (x-amz-security-token). */
START_TEST(session_token)
{
	struct obj_store *s = NULL, *bad = NULL;
	struct buf err = BUF_INIT;
	struct keys k = { BUF_INIT, 0, 0, 0 };
	char *url = xasprintf("http://127.0.0.1:%d/tokened", gw_port);
	char *wrong = xasprintf("x%s", tmp_token);
	char back[8];

	ck_assert_int_eq(obj_create("s3", url, tmp_ak, tmp_sk, tmp_token, &s, &err), 0);
	ck_assert_int_eq(obj_create_bucket(s), 0);
	ck_assert_int_eq(obj_put(s, "t/k", "tok", 3), 0);
	ck_assert_int_eq(obj_get(s, "t/k", 1, back, sizeof(back)), 2);
	ck_assert_mem_eq(back, "ok", 2);
	ck_assert_int_eq(obj_list(s, "t/", NULL, 0, collect, &k), 0);
	ck_assert_str_eq(k.all.ptr, "t/k\n");
	ck_assert_int_eq(obj_delete(s, "t/k"), 0);
	/* The same keys without their token, or with another, are refused. */
	ck_assert_int_eq(obj_create("s3", url, tmp_ak, tmp_sk, NULL, &bad, &err), 0);
	ck_assert_int_eq(obj_put(bad, "t/k", "x", 1), -EACCES);
	obj_free(bad);
	ck_assert_int_eq(obj_create("s3", url, tmp_ak, tmp_sk, wrong, &bad, &err), 0);
	ck_assert_int_eq(obj_put(bad, "t/k", "x", 1), -EACCES);
	obj_free(bad);
	buf_release(&k.all);
	buf_release(&err);
	free(wrong);
	free(url);
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

	ck_assert_int_eq(obj_create("s3", url, svc_ak, svc_sk, NULL, &s, &err), 0);
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

/*
 * A scripted S3 endpoint: the first `fail` requests get `status` (or, with
 * status 0, a connection closed before any answer), the rest a 206 "hello"
 * to a GET and a 200 to anything else. One request per connection.
 */
struct fake {
	int fd, port;
	int fail, status;
	int nreq;            /* requests seen */
	size_t last_body;    /* body bytes of the last request */
	pthread_t th;
};

static void fake_reply(int c, const char *head, const char *body)
{
	struct buf b = BUF_INIT;
	ssize_t n;

	buf_addf(&b, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", head,
		 strlen(body), body);
	n = write(c, b.ptr, b.len);
	(void)n;
	buf_release(&b);
}

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	int c;

	while ((c = accept(f->fd, NULL, NULL)) >= 0) {
		char req[65536];
		size_t len = 0, clen = 0, hdr = 0;
		ssize_t n;
		char *e, *cl;

		/* Headers, then Content-Length bytes of body (the client sends no Expect). */
		while (len < sizeof(req) - 1 && (n = read(c, req + len, sizeof(req) - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = 0;
			if (!hdr && (e = strstr(req, "\r\n\r\n"))) {
				hdr = (size_t)(e + 4 - req);
				cl = strcasestr(req, "\r\nContent-Length:");
				if (cl && cl < e)
					clen = strtoul(cl + 17, NULL, 10);
			}
			if (hdr && len - hdr >= clen)
				break;
			if (hdr && len == sizeof(req) - 1) {
				/* Count a big body without keeping it. */
				size_t body = len - hdr;
				while (body < clen && (n = read(c, req, sizeof(req))) > 0)
					body += (size_t)n;
				len = hdr + body;
				break;
			}
		}
		f->nreq++;
		f->last_body = hdr ? len - hdr : 0;
		if (f->nreq <= f->fail) {
			char head[64];

			snprintf(head, sizeof(head), "%d Scripted", f->status);
			if (f->status)
				fake_reply(c, head, "<Error><Code>SlowDown</Code></Error>");
		} else if (!strncmp(req, "GET ", 4)) {
			fake_reply(c, "206 Partial Content\r\nContent-Range: bytes 0-4/5", "hello");
		} else {
			fake_reply(c, "200 OK", "");
		}
		close(c);
	}
	return NULL;
}

static struct obj_store *fake_start(struct fake *f, int fail, int status)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	char *url;

	*f = (struct fake){ .fail = fail, .status = status };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->fd, 0);
	ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
	ck_assert_int_eq(listen(f->fd, 16), 0);
	f->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_serve, f), 0);
	url = xasprintf("http://127.0.0.1:%d/bkt", f->port);
	ck_assert_int_eq(obj_create("s3", url, "ak", "sk", NULL, &s, &err), 0);
	free(url);
	buf_release(&err);
	return s;
}

static void fake_stop(struct fake *f, struct obj_store *s)
{
	obj_free(s);
	/* Wakes the accept() of the serving thread. */
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->fd);
}

START_TEST(retries)
{
	struct fake f;
	struct obj_store *s;
	char back[8];
	size_t big = 300000;
	uint8_t *data = xmalloc(big);
	int64_t t0;

	/* Two 503s, then the answer. */
	s = fake_start(&f, 2, 503);
	ck_assert_int_eq(obj_get(s, "k", 0, back, sizeof(back)), 5);
	ck_assert_mem_eq(back, "hello", 5);
	ck_assert_int_eq(f.nreq, 3);
	fake_stop(&f, s);

	/* A PUT is replayed whole after 500s (its body is in memory). */
	random_bytes(data, big);
	s = fake_start(&f, 2, 500);
	ck_assert_int_eq(obj_put(s, "k", data, big), 0);
	ck_assert_int_eq(f.nreq, 3);
	ck_assert_uint_eq(f.last_body, big);
	fake_stop(&f, s);

	/* A connection closed before any answer is a transport error: retried. */
	s = fake_start(&f, 1, 0);
	ck_assert_int_eq(obj_get(s, "k", 0, back, sizeof(back)), 5);
	ck_assert_int_eq(f.nreq, 2);
	fake_stop(&f, s);

	/* 429 for ever: a bounded number of tries, within a bounded time, then -EIO. */
	s = fake_start(&f, 1000, 429);
	t0 = mono_ms();
	ck_assert_int_eq(obj_get(s, "k", 0, back, sizeof(back)), -EIO);
	ck_assert_int_gt(f.nreq, 1);
	ck_assert_int_le(f.nreq, 8);
	ck_assert_int_lt(mono_ms() - t0, 10000);
	fake_stop(&f, s);

	/* What a retry cannot change is not retried. */
	s = fake_start(&f, 1000, 403);
	ck_assert_int_eq(obj_get(s, "k", 0, back, sizeof(back)), -EACCES);
	ck_assert_int_eq(f.nreq, 1);
	fake_stop(&f, s);
	s = fake_start(&f, 1000, 404);
	ck_assert_int_eq(obj_head(s, "k", &(struct obj_info){ 0 }), -ENOENT);
	ck_assert_int_eq(f.nreq, 1);
	fake_stop(&f, s);
	free(data);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("s3store");
	TCase *tc = tcase_create("s3store");
	SRunner *sr;
	int failures, r;

	if (getenv("JFS_S3_SERVICE") && *getenv("JFS_S3_SERVICE"))
		svc = getenv("JFS_S3_SERVICE");
	if (!strcmp(svc, "ours"))
		svc = "gateway";
	r = gw_start();
	if (r) {
		if (r != EXIT_SKIP)
			fprintf(stderr, "check_s3store: could not start the S3 service (%s)\n", svc);
		gw_stop();
		return r == EXIT_SKIP ? EXIT_SKIP : 1;
	}
	printf("check_s3store: S3 service %s on 127.0.0.1:%d\n", svc, gw_port);
	fflush(stdout);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, roundtrip);
	tcase_add_test(tc, odd_keys);
	tcase_add_test(tc, list_pages_threads);
	tcase_add_test(tc, buckets_and_auth);
	tcase_add_test(tc, vhost_style);
	tcase_add_test(tc, other_region);
	if (*tmp_token)
		tcase_add_test(tc, session_token);
	else
		printf("check_s3store: no session_token case: %s issues no temporary keys here\n",
		       svc);
	tcase_add_test(tc, dead_endpoint);
	tcase_add_test(tc, retries);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	gw_stop();
	return failures ? 1 : 0;
}
