/*
 * gateway/http.h: the HTTP layer shared by the S3 gateway and the WebDAV
 * server (DESIGN §8), over libmicrohttpd.
 *
 * Model: one handler call per request, on a worker thread where it may
 * block (on fs.h, on reading the body); the polling threads never run
 * handler code, so a slow request holds one worker and no one else. The
 * body is read incrementally with gw_req_read (never buffered whole); the
 * response is either a small buffered body or a stream pulled, on a worker,
 * through a callback.
 *
 * Contract:
 *  - The handler must set a status (default 500 if it returns without one)
 *    and return 0; a negative return makes the layer answer 500 unless a
 *    response was already started.
 *  - Strings returned by accessors live until the request completes.
 *  - gw_req_alloc memory (the request arena) is freed when the request
 *    completes; never free it yourself.
 *  - Limits enforced by the layer: connections in all and per client address
 *    (503 and close past them), a deadline for a new connection's first
 *    request head (dropped, 408 if it sent part of one), head size (431),
 *    request target size and query parameter count (414), malformed heads
 *    (400 and close: NUL or control bytes, empty request line, folded
 *    headers, conflicting Content-Length), the idle timeout.
 *  - One access-log line per request when an access log is configured.
 *  - gw_server_stop stops accepting, lets requests in flight finish for at
 *    most grace_ms, then closes everything.
 */
#ifndef JFS_GW_HTTP_H
#define JFS_GW_HTTP_H

#include "base/base.h"

struct gw_server;
struct gw_req;

typedef int (*gw_handler_fn)(void *arg, struct gw_req *req);

struct gw_server_conf {
	const char *address;     /* "127.0.0.1:9000", "[::1]:9000", ":9000" */
	const char *cert_file;   /* HTTPS when both are set */
	const char *key_file;
	const char *access_log;  /* path, "-" = stderr, NULL = none */
	unsigned max_conns;      /* open connections in all, 0 = 4096 */
	unsigned max_conns_per_ip; /* from one client address, 0 = 512 */
	unsigned timeout_s;      /* idle connection timeout, 0 = 300 */
	unsigned header_timeout_s; /* a new connection's first head, 0 = 10 */
	unsigned max_workers;    /* handler threads, 0 = 1024 */
	size_t max_header;       /* 0 = 64 KiB */
	/* "s3" or "webdav": juicefs_<door>_requests_total{method,status} & co.; NULL = none */
	const char *metrics_door;
};

int gw_server_start(const struct gw_server_conf *c, gw_handler_fn fn, void *arg,
		    struct gw_server **out, struct buf *err);
/* The port actually bound (useful with port 0 in tests). */
unsigned gw_server_port(const struct gw_server *s);
void gw_server_stop(struct gw_server *s, int grace_ms);

/* ---- request ---- */
const char *gw_req_method(struct gw_req *r);
/* Path as sent, percent-encoded, without the query string. */
const char *gw_req_raw_path(struct gw_req *r);
/* Query string as sent (without '?'), "" if none. */
const char *gw_req_raw_query(struct gw_req *r);
/* Case-insensitive header lookup; NULL when absent. */
const char *gw_req_header(struct gw_req *r, const char *name);
typedef int (*gw_header_fn)(void *arg, const char *name, const char *value);
/* Every header, in arrival order; cb returns non-zero to stop. */
int gw_req_headers(struct gw_req *r, gw_header_fn cb, void *arg);
const char *gw_req_remote(struct gw_req *r); /* client address text */
int gw_req_is_tls(struct gw_req *r);
/* Content-Length, or -1 when absent/chunked. */
int64_t gw_req_content_length(struct gw_req *r);
/* Read up to len body bytes; 0 at the end, -errno on failure (client gone: -ECONNRESET). */
ssize_t gw_req_read(struct gw_req *r, void *buf, size_t len);
/* Request arena. */
void *gw_req_alloc(struct gw_req *r, size_t n);
char *gw_req_strdup(struct gw_req *r, const char *s);

/* ---- response ---- */
void gw_resp_status(struct gw_req *r, int code);
/* Add a header (repeatable names allowed). */
void gw_resp_header(struct gw_req *r, const char *name, const char *value);
/* A complete, buffered body (copied). Sets Content-Length. */
void gw_resp_body(struct gw_req *r, const void *data, size_t len);
/*
 * A streamed body of exactly `len` bytes (len < 0: chunked). The layer calls
 * fn(arg, off, buf, max) until it has len bytes (or fn returns 0 for a
 * chunked stream); a negative return aborts the connection. done(arg) is
 * called once when the request completes, whatever happened (may be NULL).
 */
typedef ssize_t (*gw_stream_fn)(void *arg, uint64_t off, void *buf, size_t max);
typedef void (*gw_done_fn)(void *arg);
void gw_resp_stream(struct gw_req *r, int64_t len, gw_stream_fn fn, gw_done_fn done,
		    void *arg);
/*
 * The same with views instead of copies: fn(arg, off, max, &p, &cookie)
 * lends n bytes (0 < n <= max) at p, or returns 0 / -errno as above; the
 * bytes must stay valid and unchanged until unview(arg, cookie), which the
 * layer calls once MHD has taken them (at most two views are lent at once)
 * or when the request ends, always before done(arg). max may be many MiB:
 * a view is as long as the lender likes (up to max); a lender that copies
 * should copy less.
 */
typedef ssize_t (*gw_view_fn)(void *arg, uint64_t off, size_t max, const char **p,
			      void **cookie);
typedef void (*gw_unview_fn)(void *arg, void *cookie);
void gw_resp_stream_view(struct gw_req *r, int64_t len, gw_view_fn fn, gw_unview_fn unview,
			 gw_done_fn done, void *arg);

/* ---- access log (accesslog.c) ---- */
/* Open for appending, created 0600 (an existing file of ours narrowed to 0600); NULL + err. */
FILE *gw_access_log_open(const char *path, struct buf *err);
/* The request target as logged: X-Amz-Signature, Signature, X-Amz-Security-Token REDACTED. */
void gw_access_log_target(const char *uri, struct buf *out);

#endif
