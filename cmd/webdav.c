/*
 * `juicefs webdav META-URL ADDRESS`: serve a volume over WebDAV (DESIGN §7).
 *
 * The HTTP layer starts listening first (so a bad address fails before the
 * volume is touched; requests get 503 until it is open), then the volume is
 * opened like a mount (fs_open registers a session with MountPoint
 * "webdav") and gateway/dav.c serves it. The main thread waits for
 * SIGTERM/SIGINT with every signal blocked in the worker threads; then
 * requests in flight get a grace period and fs_close flushes and closes the
 * session, so the exit is clean.
 *
 * Basic auth comes from WEBDAV_USER / WEBDAV_PASSWORD; without them the
 * server is open and says so.
 */
#include "cmd/cmd.h"

#include <signal.h>
#include <pthread.h>

#include "fscore/fs.h"
#include "gateway/dav.h"
#include "gateway/http.h"

static const struct conf_opt webdav_opts[] = {
	{ "cert-file", 0, OPT_STRING, NULL, 0, "certificate file for https", NULL },
	{ "key-file", 0, OPT_STRING, NULL, 0, "key file for https", NULL },
	{ "gzip", 0, OPT_BOOL, "false", 0, "compress served files via gzip", NULL },
	{ "disallowList", 0, OPT_BOOL, "false", 0, "disallow list a directory", NULL },
	{ "enable-proppatch", 0, OPT_BOOL, "false", 0,
	  "enable proppatch method support (always on in this build: dead properties are kept "
	  "in xattrs)",
	  NULL },
	{ "access-log", 0, OPT_STRING, NULL, 0, "path for JuiceFS access log (\"-\" = stderr)",
	  NULL },
CMD_CLIENT_OPTS,
};

const struct conf_cmd cmd_webdav_conf = {
	.name = "webdav",
	.usage = "juicefs webdav [command options] META-URL ADDRESS",
	.summary = "Start a WebDAV server",
	.description = "Examples:\n"
		       "$ export WEBDAV_USER=root\n"
		       "$ export WEBDAV_PASSWORD=1234\n"
		       "$ juicefs webdav sqlite3://myjfs.db localhost:9007",
	.opts = webdav_opts,
	.nopts = ARRAY_SIZE(webdav_opts),
	.min_args = 2,
	.max_args = 2,
};

#define OPT(n) conf_get(&cmd_webdav_conf, &p, n)

/* The handler the HTTP layer sees: 503 until the volume is open. */
struct gate {
	struct dav_server *dav;
};

static int gate_handle(void *arg, struct gw_req *req)
{
	struct gate *g = arg;
	struct dav_server *d = __atomic_load_n(&g->dav, __ATOMIC_ACQUIRE);

	if (!d) {
		gw_resp_header(req, "Retry-After", "1");
		gw_resp_status(req, 503);
		gw_resp_body(req, "", 0);
		return 0;
	}
	return dav_handle(d, req);
}

int cmd_webdav(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct fs_conf fc;
	struct dav_conf dc;
	struct gw_server_conf gc;
	struct buf err = BUF_INIT;
	struct cmd_logcap cap;
	struct fs *fs = NULL;
	struct cmd_backup bk = { 0 };
	struct dav_server *dav = NULL;
	struct gw_server *srv = NULL;
	struct gate gate = { NULL };
	sigset_t set;
	int r, sig, ret = 1;

	r = cmd_parse(&cmd_webdav_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	if (cmd_client_conf(&cmd_webdav_conf, &p, "webdav", &fc) ||
	    cmd_backup_conf(&cmd_webdav_conf, &p, &bk))
		goto out;
	/*
	 * A PUT, DELETE or MOVE over a file answers once the name is gone,
	 * not once the old file's blocks are (meta.h async_deletes), as the
	 * S3 gateway does.
	 */
	fc.meta.async_deletes = 4;
	if (!OPT("cert-file")->str != !OPT("key-file")->str) {
		cmd_fatal("--cert-file and --key-file must be given together");
		goto out;
	}

	memset(&dc, 0, sizeof(dc));
	dc.user = getenv("WEBDAV_USER");
	dc.password = getenv("WEBDAV_PASSWORD");
	if (dc.user && !*dc.user)
		dc.user = NULL;
	dc.gzip = (int)OPT("gzip")->i;
	dc.disallow_list = (int)OPT("disallowList")->i;
	dc.enable_proppatch = (int)OPT("enable-proppatch")->i;

	/* Signals go to this thread only: block them before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/*
	 * Listen first: a bad address or a busy port fails before the volume is
	 * touched (opening it registers a session). Until the volume is open,
	 * requests get 503.
	 */
	memset(&gc, 0, sizeof(gc));
	gc.address = p.args[1];
	gc.cert_file = OPT("cert-file")->str;
	gc.key_file = OPT("key-file")->str;
	gc.access_log = OPT("access-log")->str;
	gc.metrics_door = "webdav";
	if ((r = gw_server_start(&gc, gate_handle, &gate, &srv, &err))) {
		cmd_fatal("listen on %s: %s", p.args[1], err.len ? err.ptr : strerror(-r));
		goto out;
	}
	/* A failure is one line: what lower layers logged on the way is held back. */
	buf_reset(&err);
	cmd_logcap_begin(&cap);
	r = fs_open(p.args[0], &fc, &fs, &err);
	cmd_logcap_end(&cap, r != 0);
	if (r) {
		cmd_fatal("open %s: %s", p.args[0], err.len ? err.ptr : strerror(-r));
		goto out;
	}
	cmd_backup_start(fs, &bk);
	free(cmd_metrics_start(OPT("metrics"), fs, "webdav"));
	dav_new(fs, &dc, &dav);
	__atomic_store_n(&gate.dav, dav, __ATOMIC_RELEASE);
	if (!dc.user)
		log_warn("WEBDAV_USER is not set: the WebDAV server accepts every client without "
			 "authentication");
	log_info("WebDAV server listening on %s://%s (port %u)", gc.cert_file ? "https" : "http",
		 p.args[1], gw_server_port(srv));
	fflush(stderr);
	do {
		if (sigwait(&set, &sig))
			break;
	} while (sig == SIGHUP);
	log_info("received signal %d, shutting down", sig);
	ret = 0;
out:
	gw_server_stop(srv, 5000);
	dav_free(dav);
	if (fs)
		cmd_metrics_stop(fs);
	fs_close(fs);
	buf_release(&err);
	conf_parsed_release(&p);
	return ret;
}
