/*
 * gateway/http.c: the HTTP layer of gateway/http.h over libmicrohttpd.
 *
 * MHD runs one thread per connection. Each request gets a handler thread of
 * its own so that the handler can block on fs.h and on the body: the
 * connection thread hands every upload chunk MHD gives it to the handler
 * (a one-slot buffer, so gw_req_read blocks and the body is never held whole)
 * and waits until it is consumed. When the handler returns, the connection
 * thread queues its response; streamed bodies are pulled by MHD through a
 * callback on the connection thread.
 *
 * The raw request target (percent-encoding intact) comes from MHD's URI log
 * callback, which sees it before MHD unescapes or splits it: SigV4 needs the
 * bytes as the client signed them.
 */
#include "gateway/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct gw_server {
	struct MHD_Daemon *d;
	int fd;
	unsigned port;
	gw_handler_fn fn;
	void *arg;
	FILE *log;
	int log_owned;
	pthread_mutex_t log_mu;
	size_t max_header;
	atomic_int active;
	char *cert, *key;
};

struct gw_hdr {
	const char *name, *value;
};

struct gw_arena {
	struct gw_arena *next;
	char data[];
};

struct gw_req {
	struct gw_server *srv;
	struct MHD_Connection *conn;
	char *uri;              /* raw target as received */
	const char *method;
	const char *path, *query;
	struct gw_hdr *hdrs;
	size_t nhdrs;
	size_t hdr_bytes;
	char remote[64];
	int tls;
	int64_t clen;
	int64_t started_ms;

	pthread_t th;
	int th_started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	const char *in_ptr;     /* pending upload chunk (owned by MHD) */
	size_t in_len;
	int in_eof, aborted, done;
	int wants_body;         /* the handler asked for the body */

	int status;
	struct { char *name, *value; } *rh;
	size_t nrh, rh_cap;
	char *body;
	size_t body_len;
	int streamed;
	int64_t stream_len;
	gw_stream_fn sfn;
	gw_done_fn sdone;
	void *sarg;
	int queued;
	uint64_t sent;

	struct gw_arena *arena;
};

/* ---------------------------------------------------------------- arena */

void *gw_req_alloc(struct gw_req *r, size_t n)
{
	struct gw_arena *a = xmalloc(sizeof(*a) + n + 1);

	a->next = r->arena;
	r->arena = a;
	memset(a->data, 0, n + 1);
	return a->data;
}

char *gw_req_strdup(struct gw_req *r, const char *s)
{
	size_t n = strlen(s);
	char *p = gw_req_alloc(r, n);

	memcpy(p, s, n);
	return p;
}

/* ---------------------------------------------------------------- accessors */

const char *gw_req_method(struct gw_req *r) { return r->method; }
const char *gw_req_raw_path(struct gw_req *r) { return r->path; }
const char *gw_req_raw_query(struct gw_req *r) { return r->query; }
const char *gw_req_remote(struct gw_req *r) { return r->remote; }
int gw_req_is_tls(struct gw_req *r) { return r->tls; }
int64_t gw_req_content_length(struct gw_req *r) { return r->clen; }

const char *gw_req_header(struct gw_req *r, const char *name)
{
	for (size_t i = 0; i < r->nhdrs; i++)
		if (!strcasecmp(r->hdrs[i].name, name))
			return r->hdrs[i].value;
	return NULL;
}

int gw_req_headers(struct gw_req *r, gw_header_fn cb, void *arg)
{
	for (size_t i = 0; i < r->nhdrs; i++) {
		int rc = cb(arg, r->hdrs[i].name, r->hdrs[i].value);

		if (rc)
			return rc;
	}
	return 0;
}

ssize_t gw_req_read(struct gw_req *r, void *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	pthread_mutex_lock(&r->mu);
	if (!r->wants_body) {
		r->wants_body = 1;
		pthread_cond_broadcast(&r->cond);
	}
	while (!r->in_len && !r->in_eof && !r->aborted)
		pthread_cond_wait(&r->cond, &r->mu);
	if (r->in_len) {
		n = (ssize_t)MIN(len, r->in_len);
		memcpy(buf, r->in_ptr, (size_t)n);
		r->in_ptr += n;
		r->in_len -= (size_t)n;
		if (!r->in_len)
			pthread_cond_broadcast(&r->cond);
	} else {
		n = r->aborted ? -ECONNRESET : 0;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* ---------------------------------------------------------------- response */

void gw_resp_status(struct gw_req *r, int code) { r->status = code; }

void gw_resp_header(struct gw_req *r, const char *name, const char *value)
{
	if (r->nrh == r->rh_cap) {
		r->rh_cap = r->rh_cap ? r->rh_cap * 2 : 16;
		r->rh = xrealloc(r->rh, r->rh_cap * sizeof(*r->rh));
	}
	r->rh[r->nrh].name = xstrdup(name);
	r->rh[r->nrh].value = xstrdup(value);
	r->nrh++;
}

void gw_resp_body(struct gw_req *r, const void *data, size_t len)
{
	free(r->body);
	r->body = len ? xmemdup(data, len) : NULL;
	r->body_len = len;
	r->streamed = 0;
}

void gw_resp_stream(struct gw_req *r, int64_t len, gw_stream_fn fn, gw_done_fn done, void *arg)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	r->streamed = 1;
	r->stream_len = len;
	r->sfn = fn;
	r->sdone = done;
	r->sarg = arg;
}

/* ---------------------------------------------------------------- plumbing */

static void *handler_main(void *arg)
{
	struct gw_req *r = arg;
	int rc = r->srv->fn(r->srv->arg, r);

	if (rc < 0 && !r->status) {
		r->status = 500;
		gw_resp_body(r, NULL, 0);
	}
	if (!r->status)
		r->status = 500;
	pthread_mutex_lock(&r->mu);
	r->done = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void req_free(struct gw_req *r)
{
	if (!r)
		return;
	if (r->th_started) {
		pthread_mutex_lock(&r->mu);
		r->aborted = 1;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->th, NULL);
	}
	if (r->streamed && r->sdone)
		r->sdone(r->sarg);
	for (size_t i = 0; i < r->nrh; i++) {
		free(r->rh[i].name);
		free(r->rh[i].value);
	}
	free(r->rh);
	free(r->body);
	free(r->hdrs);
	while (r->arena) {
		struct gw_arena *a = r->arena;

		r->arena = a->next;
		free(a);
	}
	free(r->uri);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cond);
	free(r);
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct gw_server *s = cls;
	struct gw_req *r = xcalloc(1, sizeof(*r));

	UNUSED(con);
	r->srv = s;
	r->uri = xstrdup(uri ? uri : "/");
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->started_ms = mono_ms();
	atomic_fetch_add(&s->active, 1);
	return r;
}

static enum MHD_Result hdr_collect(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct gw_req *r = cls;

	UNUSED(kind);
	r->hdrs = xrealloc(r->hdrs, (r->nhdrs + 1) * sizeof(*r->hdrs));
	r->hdrs[r->nhdrs].name = gw_req_strdup(r, key);
	r->hdrs[r->nhdrs].value = gw_req_strdup(r, value ? value : "");
	r->hdr_bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	r->nhdrs++;
	return MHD_YES;
}

static void remote_text(struct gw_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN] = "-";

	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				  host, sizeof(host));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, host,
				  sizeof(host));
	}
	snprintf(r->remote, sizeof(r->remote), "%s", host);
}

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct gw_req *r = cls;
	ssize_t n;

	if (r->stream_len >= 0) {
		if (pos >= (uint64_t)r->stream_len)
			return MHD_CONTENT_READER_END_OF_STREAM;
		max = (size_t)MIN((uint64_t)max, (uint64_t)r->stream_len - pos);
	}
	n = r->sfn(r->sarg, pos, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0)
		return r->stream_len >= 0 ? MHD_CONTENT_READER_END_WITH_ERROR
					  : MHD_CONTENT_READER_END_OF_STREAM;
	r->sent += (uint64_t)n;
	return n;
}

static enum MHD_Result queue(struct gw_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (r->streamed)
		resp = MHD_create_response_from_callback(
			r->stream_len >= 0 ? (uint64_t)r->stream_len : MHD_SIZE_UNKNOWN,
			256 * 1024, stream_cb, r, NULL);
	else
		resp = MHD_create_response_from_buffer(r->body_len, r->body,
						       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	for (size_t i = 0; i < r->nrh; i++)
		MHD_add_response_header(resp, r->rh[i].name, r->rh[i].value);
	if (!r->streamed)
		r->sent = r->body_len;
	rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	r->queued = 1;
	return rc;
}

/* An error answered by the layer itself, before any handler ran. */
static enum MHD_Result layer_error(struct gw_req *r, int status)
{
	r->status = status;
	gw_resp_body(r, NULL, 0);
	gw_resp_header(r, "Connection", "close");
	return queue(r);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct gw_server *s = cls;
	struct gw_req *r = *con_cls;
	const char *cl;

	UNUSED(url);
	UNUSED(version);
	if (!r) /* no URI log callback ran: cannot happen with our options */
		return MHD_NO;
	if (!r->conn) {
		char *q;

		r->conn = con;
		r->method = gw_req_strdup(r, method);
		q = strchr(r->uri, '?');
		if (q) {
			r->path = gw_req_alloc(r, (size_t)(q - r->uri));
			memcpy((char *)r->path, r->uri, (size_t)(q - r->uri));
			r->query = gw_req_strdup(r, q + 1);
		} else {
			r->path = gw_req_strdup(r, r->uri);
			r->query = "";
		}
		MHD_get_connection_values(con, MHD_HEADER_KIND, hdr_collect, r);
		remote_text(r);
		r->tls = s->cert != NULL;
		r->clen = -1;
		cl = gw_req_header(r, "Content-Length");
		if (cl) {
			uint64_t v;

			if (parse_u64(cl, &v) || v > INT64_MAX)
				return layer_error(r, 400);
			r->clen = (int64_t)v;
		}
		if (r->hdr_bytes + strlen(r->uri) > s->max_header)
			return layer_error(r, 431);
		if (r->clen == 0 || (r->clen < 0 && !gw_req_header(r, "Transfer-Encoding"))) {
			/*
			 * No body: nothing to interleave with MHD's upload calls,
			 * so the handler runs right here, on the connection's own
			 * thread, and a GET costs no thread creation.
			 */
			r->in_eof = 1;
			handler_main(r);
			/*
			 * Queued on MHD's next call, when the request counts as
			 * fully received: a response queued now would make MHD
			 * close the connection after it.
			 */
			return MHD_YES;
		}
		if (pthread_create(&r->th, NULL, handler_main, r))
			return layer_error(r, 503);
		r->th_started = 1;
		/*
		 * MHD accepts a response only now or after the whole body: wait
		 * until the handler either asks for the body or is done without
		 * it (then no 100-continue is sent and the body is never read).
		 */
		pthread_mutex_lock(&r->mu);
		while (!r->wants_body && !r->done)
			pthread_cond_wait(&r->cond, &r->mu);
		pthread_mutex_unlock(&r->mu);
		if (r->done)
			return queue(r);
		return MHD_YES;
	}
	if (r->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&r->mu);
	if (*upload_data_size) {
		/* After the handler is done, the rest of the body is drained. */
		r->in_ptr = upload_data;
		r->in_len = r->done ? 0 : *upload_data_size;
		pthread_cond_broadcast(&r->cond);
		while (r->in_len && !r->done)
			pthread_cond_wait(&r->cond, &r->mu);
		r->in_len = 0;
		*upload_data_size = 0;
		pthread_mutex_unlock(&r->mu);
		return MHD_YES;
	} else {
		r->in_eof = 1;
		pthread_cond_broadcast(&r->cond);
		while (!r->done)
			pthread_cond_wait(&r->cond, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return queue(r);
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gw_server *s = cls;
	struct gw_req *r = *con_cls;

	UNUSED(con);
	if (!r)
		return;
	*con_cls = NULL;
	if (s->log && r->method) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;

		struct buf target = BUF_INIT;

		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		gw_access_log_target(r->uri ? r->uri : "", &target);
		pthread_mutex_lock(&s->log_mu);
		fprintf(s->log, "%s %s \"%s %s\" %d %llu %lldms%s\n", ts, r->remote, r->method,
			target.ptr, r->status, (unsigned long long)r->sent,
			(long long)(mono_ms() - r->started_ms),
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
		fflush(s->log);
		pthread_mutex_unlock(&s->log_mu);
		buf_release(&target);
	}
	req_free(r);
	atomic_fetch_sub(&s->active, 1);
}

/* ---------------------------------------------------------------- server */

static int bind_address(const char *address, int *fd_out, struct buf *err)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char host[256], port[16];
	const char *colon;
	int fd = -1, r, one = 1;

	if (address[0] == '[') {
		const char *e = strchr(address, ']');

		if (!e || e[1] != ':')
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(e - address - 1), address + 1);
		colon = e + 1;
	} else {
		colon = strrchr(address, ':');
		if (!colon)
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (!port[0])
		goto bad;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (r) {
		buf_addf(err, "resolve %s: %s", address, gai_strerror(r));
		return -EINVAL;
	}
	r = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 512)) {
			r = 0;
			break;
		}
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (r) {
		buf_addf(err, "listen on %s: %s", address, strerror(-r));
		return r;
	}
	*fd_out = fd;
	return 0;
bad:
	buf_addf(err, "bad address %s (want HOST:PORT)", address);
	return -EINVAL;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

int gw_server_start(const struct gw_server_conf *c, gw_handler_fn fn, void *arg,
		    struct gw_server **out, struct buf *err)
{
	struct gw_server *s = xcalloc(1, sizeof(*s));
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ERROR_LOG | MHD_USE_ITC;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	size_t mem;
	int r;

	s->fd = -1;
	s->fn = fn;
	s->arg = arg;
	s->max_header = c->max_header ? c->max_header : 64 * 1024;
	pthread_mutex_init(&s->log_mu, NULL);
	if (c->access_log) {
		if (!strcmp(c->access_log, "-")) {
			s->log = stderr;
		} else {
			s->log = gw_access_log_open(c->access_log, err);
			if (!s->log) {
				r = -EACCES;
				goto fail;
			}
			s->log_owned = 1;
		}
	}
	if (c->cert_file && c->key_file) {
		s->cert = slurp(c->cert_file);
		s->key = slurp(c->key_file);
		if (!s->cert || !s->key) {
			buf_addf(err, "read certificate %s / key %s", c->cert_file, c->key_file);
			r = -ENOENT;
			goto fail;
		}
		flags |= MHD_USE_TLS;
	}
	r = bind_address(c->address, &s->fd, err);
	if (r)
		goto fail;
	if (!getsockname(s->fd, (struct sockaddr *)&ss, &sl)) {
		if (ss.ss_family == AF_INET)
			s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	/* Headers plus room for upload chunks of a useful size. */
	mem = MAX(s->max_header * 2, (size_t)512 * 1024);
	if (s->cert)
		s->d = MHD_start_daemon(
			flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
			MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, s, MHD_OPTION_NOTIFY_COMPLETED,
			completed_cb, s, MHD_OPTION_CONNECTION_LIMIT,
			c->max_conns ? c->max_conns : 1024u, MHD_OPTION_CONNECTION_TIMEOUT,
			c->timeout_s ? c->timeout_s : 300u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			mem, MHD_OPTION_HTTPS_MEM_CERT, s->cert, MHD_OPTION_HTTPS_MEM_KEY, s->key,
			MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(
			flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
			MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, s, MHD_OPTION_NOTIFY_COMPLETED,
			completed_cb, s, MHD_OPTION_CONNECTION_LIMIT,
			c->max_conns ? c->max_conns : 1024u, MHD_OPTION_CONNECTION_TIMEOUT,
			c->timeout_s ? c->timeout_s : 300u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
			mem, MHD_OPTION_END);
	if (!s->d) {
		buf_addf(err, "cannot start the HTTP server on %s", c->address);
		r = -EIO;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->log_owned)
		fclose(s->log);
	free(s->cert);
	free(s->key);
	pthread_mutex_destroy(&s->log_mu);
	free(s);
	return r;
}

unsigned gw_server_port(const struct gw_server *s) { return s->port; }

void gw_server_stop(struct gw_server *s, int grace_ms)
{
	int fd;
	int64_t end;

	if (!s)
		return;
	fd = MHD_quiesce_daemon(s->d);
	if (fd >= 0)
		close(fd);
	s->fd = -1;
	end = mono_ms() + grace_ms;
	while (atomic_load(&s->active) > 0 && mono_ms() < end)
		sleep_ms(20);
	MHD_stop_daemon(s->d);
	if (s->log_owned)
		fclose(s->log);
	free(s->cert);
	free(s->key);
	pthread_mutex_destroy(&s->log_mu);
	free(s);
}
