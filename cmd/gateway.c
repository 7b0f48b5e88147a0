/*
 * `juicefs gateway META-URL ADDRESS`: serve a volume as S3 (DESIGN §6).
 *
 * The volume is opened like a mount (fs_open registers a session with
 * MountPoint "s3gateway"); temp files a crashed gateway left in /.sys/tmp
 * are removed at start; the HTTP layer serves gateway/s3.c. The main thread
 * waits for SIGTERM/SIGINT with every signal blocked in the worker threads,
 * then requests in flight get a grace period and fs_close flushes and closes
 * the session, so the exit is clean.
 *
 * Keys come from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (or the legacy
 * MINIO_ACCESS_KEY / MINIO_SECRET_KEY), at least 3 and 8 characters as
 * JuiceFS requires.
 */
#include "cmd/cmd.h"

#include <pthread.h>
#include <signal.h>

#include "fscore/fs.h"
#include "gateway/http.h"
#include "gateway/s3.h"

static const struct conf_opt gateway_opts[] = {
	{ "access-log", 0, OPT_STRING, NULL, 0, "path for JuiceFS access log (\"-\" = stderr)",
	  NULL },
	{ "no-banner", 0, OPT_BOOL, "false", 0, "disable MinIO startup information", NULL },
	{ "multi-buckets", 0, OPT_BOOL, "false", 0,
	  "use top level of directories as buckets", NULL },
	{ "keep-etag", 0, OPT_BOOL, "false", 0,
	  "keep the ETag for uploaded objects (this build always keeps it)", NULL },
	{ "umask", 0, OPT_OCTAL, "022", 0,
	  "umask for new files and directories in octal", NULL },
	{ "object-tag", 0, OPT_BOOL, "false", 0, "enable object tagging API", NULL },
	{ "object-meta", 0, OPT_BOOL, "false", 0,
	  "enable object metadata API (this build always keeps metadata)", NULL },
	{ "domain", 0, OPT_STRING, NULL, 0,
	  "domain for virtual-host-style requests (env MINIO_DOMAIN)", "MINIO_DOMAIN" },
	{ "cert-file", 0, OPT_STRING, NULL, 0, "certificate file for https", NULL },
	{ "key-file", 0, OPT_STRING, NULL, 0, "key file for https", NULL },
CMD_CLIENT_OPTS,
};

const struct conf_cmd cmd_gateway_conf = {
	.name = "gateway",
	.usage = "juicefs gateway [command options] META-URL ADDRESS",
	.summary = "Start an S3-compatible gateway",
	.description = "Examples:\n"
		       "$ export MINIO_ROOT_USER=admin\n"
		       "$ export MINIO_ROOT_PASSWORD=12345678\n"
		       "$ juicefs gateway redis://localhost localhost:9000",
	.opts = gateway_opts,
	.nopts = ARRAY_SIZE(gateway_opts),
	.min_args = 2,
	.max_args = 2,
};

#define OPT(n) conf_get(&cmd_gateway_conf, &p, n)

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (!v || !*v)
		v = getenv(b);
	return v && *v ? v : NULL;
}

int cmd_gateway(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct fs_conf fc;
	struct s3_conf sc;
	struct gw_server_conf gc;
	struct buf err = BUF_INIT;
	struct fs *fs = NULL;
	struct meta_ctx me;
	struct cmd_backup bk = { 0 };
	struct s3_gw *gw = NULL;
	struct gw_server *srv = NULL;
	sigset_t set;
	int r, sig, ret = 1;

	r = cmd_parse(&cmd_gateway_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	memset(&sc, 0, sizeof(sc));
	sc.access_key = env2("MINIO_ROOT_USER", "MINIO_ACCESS_KEY");
	sc.secret_key = env2("MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY");
	if (!sc.access_key || strlen(sc.access_key) < 3) {
		cmd_fatal("MINIO_ROOT_USER should be specified as an environment variable with at "
			  "least 3 characters");
		goto out;
	}
	if (!sc.secret_key || strlen(sc.secret_key) < 8) {
		cmd_fatal("MINIO_ROOT_PASSWORD should be specified as an environment variable with "
			  "at least 8 characters");
		goto out;
	}
	sc.multi_buckets = (int)OPT("multi-buckets")->i;
	sc.keep_etag = (int)OPT("keep-etag")->i;
	sc.object_tag = (int)OPT("object-tag")->i;
	sc.umask = (uint16_t)(OPT("umask")->i & 0777);
	sc.domain = OPT("domain")->str;
	sc.region = getenv("MINIO_REGION");

	if (cmd_client_conf(&cmd_gateway_conf, &p, "s3gateway", &fc) ||
	    cmd_backup_conf(&cmd_gateway_conf, &p, &bk))
		goto out;
	/*
	 * An object PUT or DELETE answers once the name is gone, not once the
	 * old object's blocks are (meta.h async_deletes; the real gateway
	 * deletes in the background too): the blocks of a replaced 64 MiB
	 * object took a quarter of each PUT of it.
	 */
	fc.meta.async_deletes = 4;
	if (!OPT("cert-file")->str != !OPT("key-file")->str) {
		cmd_fatal("--cert-file and --key-file must be given together");
		goto out;
	}

	/* Signals go to this thread only: block them before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((r = fs_open(p.args[0], &fc, &fs, &err))) {
		cmd_fatal("open %s: %s", p.args[0], err.len ? err.ptr : strerror(-r));
		goto out;
	}
	cmd_backup_start(fs, &bk);
	free(cmd_metrics_start(OPT("metrics"), fs, "s3gateway"));
	/* as the real gateway: requests act as this process's user (root passes) */
	fs_ctx_process(&me);
	fs_set_identity(fs, &me);
	gw = s3_new(fs, &sc);
	if (!fc.meta.read_only) {
		/*
		 * Another gateway may be writing temp files right now; an upload in
		 * flight keeps bumping its file's mtime, so only files idle for the
		 * age (10 minutes; JFS_GATEWAY_TMP_AGE seconds overrides it, for
		 * tests) are leftovers of a crash.
		 */
		const char *age = getenv("JFS_GATEWAY_TMP_AGE");
		int64_t a = 600;

		if (age && parse_i64(age, &a))
			a = 600;
		s3_cleanup_tmp(gw, a);
	}
	memset(&gc, 0, sizeof(gc));
	gc.address = p.args[1];
	gc.cert_file = OPT("cert-file")->str;
	gc.key_file = OPT("key-file")->str;
	gc.access_log = OPT("access-log")->str;
	gc.metrics_door = "s3";
	buf_reset(&err);
	if ((r = gw_server_start(&gc, s3_handle, gw, &srv, &err))) {
		cmd_fatal("listen on %s: %s", p.args[1], err.len ? err.ptr : strerror(-r));
		goto out;
	}
	if (!OPT("no-banner")->i)
		log_info("S3 gateway listening on %s://%s (port %u), bucket%s %s",
			 gc.cert_file ? "https" : "http", p.args[1], gw_server_port(srv),
			 sc.multi_buckets ? "s" : "",
			 sc.multi_buckets ? "= top-level directories" : fs_format(fs)->name);
	fflush(stderr);
	do {
		if (sigwait(&set, &sig))
			break;
	} while (sig == SIGHUP);
	log_info("received signal %d, shutting down", sig);
	ret = 0;
out:
	gw_server_stop(srv, 5000);
	s3_free(gw);
	if (fs)
		cmd_metrics_stop(fs);
	fs_close(fs);
	buf_release(&err);
	conf_parsed_release(&p);
	return ret;
}
