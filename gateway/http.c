/*
 * gateway/http.c: the HTTP layer of gateway/http.h over libmicrohttpd.
 *
 * Threads (none of them ever blocks on another client):
 *  - the gate: one thread with its own epoll set. It accepts, counts
 *    connections (in total and per client address; over a cap the client
 *    gets a 503 and the socket is closed), and holds each new plain-HTTP
 *    connection until its first request head has arrived whole (peeked, not
 *    read, so MHD still reads every byte): a head that is malformed (NUL or
 *    control bytes, empty request line, folded or nameless header lines,
 *    conflicting Content-Length values) gets a prompt 400, one that is too
 *    big 414/431, and one that is not complete within the header deadline
 *    is dropped. Only then does the socket go to MHD (MHD_add_connection).
 *    It also shuts down MHD's connections that are past their head
 *    deadline (see struct gw_conn).
 *  - MHD's polling threads (poll(), a small pool): they parse, run the
 *    request-line and header checks that later requests on a kept-alive
 *    connection get (the gate sees only the first), copy upload bytes into
 *    the request and copy response bytes out of it. They never run handler
 *    code: a connection that waits for the handler is suspended.
 *  - handler workers: a bounded pool that runs the handlers (which block on
 *    fs.h and on the body) and produces streamed response bodies. A worker
 *    resumes the suspended connection when it has something for MHD.
 *
 * A request is reference-counted: MHD holds one reference until it reports
 * the request complete, each queued or running job holds one. After MHD's
 * completion the connection is never touched again (`gone`).
 *
 * Invariants of suspension (MHD aborts in MHD_stop_daemon on a connection
 * still suspended, and a suspended connection never times out):
 *  1. A connection is suspended only from an MHD callback, under r->mu, and
 *     only while a job of r that will resume it is queued or running: the
 *     handler before it is done, or the stream producer while it is busy.
 *  2. It is resumed only under r->mu, by that job's end or by the handler
 *     asking for the body or making room in it, and never once `gone`.
 *  3. Once stopping has closed the pool no job starts, so when the running
 *     ones are over no connection is suspended.
 *
 * The raw request target (percent-encoding intact) comes from MHD's URI log
 * callback, which sees it before MHD unescapes or splits it: SigV4 needs the
 * bytes as the client signed them.
 */
#include "gateway/http.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif

enum {
	/*
	 * Upload bytes held per request (at most; a body known to be shorter
	 * gets its length). While a large body arrives faster than the handler
	 * hashes and stores it, MHD fills this, is suspended, and is resumed
	 * once half is free: the other half is what the handler works on while
	 * MHD's thread is woken and reads again. At 1 MiB that was ~1 ms of
	 * MD5, shorter than a wake-up on a busy machine, and a 64 MiB PUT's
	 * handler waited for its body 20-70 ms (doc/s3-bodies.md).
	 */
	IN_CAP = 4 * 1024 * 1024,
	SBUF_CAP = 256 * 1024,   /* streamed response bytes per buffer (two) */
	/*
	 * A view costs no buffer, so a viewed stream asks for up to this much a
	 * hand-off: a lender of cached blocks gives a whole block (4 MiB by
	 * default) at once and a 64 MiB GET takes 16 worker round trips instead
	 * of 256 (the profile's scheduling and futex share). Not more: a lender
	 * pins what it is asked for before it cuts the view to one block.
	 */
	VIEW_CAP = 4 * 1024 * 1024,
	MAX_TARGET = 16 * 1024,  /* request target (path and query): 414 past it */
	MAX_PARAMS = 1000,       /* query parameters: 414 past it */
	IP_BUCKETS = 256,
	LINGER_MAX = 256,
	POLL_THREADS = 2,
	DEFAULT_WORKERS = 1024,  /* above the per-address cap: one client cannot take all */
	WORKER_IDLE_MS = 30000,  /* an idle worker past this exits */
};

struct gw_ip {
	struct gw_ip *next;
	unsigned char a[16];
	unsigned n;
};

/* A new connection the gate holds until its first request head is whole. */
struct gw_pend {
	struct gw_pend *next, *prev;
	int fd;
	int peek_off;           /* SO_PEEK_OFF works: each peek returns new bytes */
	struct gw_ip *ip;
	int64_t deadline;
	char *buf;
	size_t len;
	struct sockaddr_storage sa;
	socklen_t salen;
};

/*
 * A connection MHD holds. `deadline` (under cmu, 0 = none) bounds the wait
 * for a whole request head: a kept-alive connection gets the idle timeout
 * from the end of its last request to send the next head, and once its
 * request line is in, the header deadline for the rest of the head; the gate
 * shuts down a connection past it. The entry leaves the list (under cmu)
 * before MHD closes the socket, so the descriptor is never someone else's.
 */
struct gw_conn {
	struct gw_conn *next, *prev;
	struct gw_ip *ip;
	int fd;
	int64_t deadline;
};

struct gw_linger {
	int fd;
	int64_t until;
};

struct gw_server {
	/* door metrics (conf.metrics_door), NULL when off */
	struct metric_family *m_reqs, *m_dur, *m_sent;
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

	/* limits */
	unsigned max_conns, per_ip;
	int64_t header_ms, idle_ms;

	/* connection accounting, under cmu */
	pthread_mutex_t cmu;
	unsigned total;
	struct gw_ip *ips[IP_BUCKETS];
	struct gw_ip **by_fd;   /* handed to MHD, not yet started: fd -> address */
	size_t nby_fd;
	struct gw_req *reqs;    /* live requests (for stop) */
	struct gw_conn *conns;  /* connections MHD holds */

	/* the gate */
	pthread_t gate;
	int gate_started;
	int epfd, efd;
	atomic_int stopping;
	struct gw_pend *pend_head, *pend_tail;
	struct gw_linger linger[LINGER_MAX];
	size_t nlinger;

	/* handler workers, under pmu */
	pthread_mutex_t pmu;
	pthread_cond_t pcond, pidle;
	struct gw_req *jobs, *jobs_tail;
	unsigned njobs, nthreads, idle, running, max_workers;
	int pool_closed;        /* no new jobs (stopping) */
	int pool_stop;
};

struct gw_hdr {
	const char *name, *value;
};

struct gw_arena {
	struct gw_arena *next;
	char data[];
};

enum { PH_NEW, PH_START, PH_BODY, PH_FINAL };
enum { JOB_HANDLER, JOB_PRODUCE };

struct gw_req {
	struct gw_server *srv;
	struct MHD_Connection *conn;
	struct gw_req *lnext, *lprev;   /* srv->reqs */
	char *uri;              /* raw target as received */
	const char *uri_at;     /* where MHD holds it (request-line check) */
	int reject;             /* status decided before any handler */
	const char *method;
	const char *path, *query;
	struct gw_hdr *hdrs;
	size_t nhdrs;
	size_t hdr_bytes;
	char remote[64];
	int tls;
	int64_t clen;
	int64_t started_ms;
	uint64_t started_us;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	int refs;               /* under mu */
	int phase;
	int suspended;          /* we suspended the connection and owe a resume */
	int gone;               /* MHD completed the request */
	/*
	 * Upload bytes copied from MHD, not read yet: a ring of in_cap bytes,
	 * in_len of them from in_off on (wrapping). One writer (MHD's callback)
	 * and one reader (the handler) copy without r->mu: under it the writer
	 * only notes where the free space starts and publishes what it copied
	 * (in_len grows), the reader notes where the bytes are and gives them
	 * back (in_off moves on, in_len shrinks), so neither touches bytes the
	 * other may be copying, and in_off + in_len (the free space's start)
	 * never moves under the writer.
	 */
	char *in;
	size_t in_off, in_len, in_cap;
	int in_eof, aborted, done;
	int wants_body;         /* the handler asked for the body */
	struct gw_req *job_next;
	int job_kind;

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
	/*
	 * Streamed bytes, double-buffered: MHD takes [s_off, s_len) of sbuf
	 * while a worker fills sback (b_len bytes once b_ready).
	 */
	char *sbuf, *sback;
	size_t s_off, s_len, b_len;
	int b_ready;
	/*
	 * A viewed stream (gw_resp_stream_view): the front and back are views
	 * lent by vfn, each given back with vunview(sarg, cookie) once MHD has
	 * taken its bytes (or at the end), instead of buffers of our own.
	 */
	gw_view_fn vfn;
	gw_unview_fn vunview;
	const char *sview, *bview;
	void *scookie, *bcookie;
	int s_lent, b_lent;
	uint64_t s_pos;
	int s_busy, s_eof, s_err;

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

/* ---------------------------------------------------------------- workers */

static void *worker_main(void *arg);

static int worker_start(struct gw_server *s)
{
	pthread_attr_t a;
	pthread_t t;
	int r;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &a, worker_main, s);
	pthread_attr_destroy(&a);
	return r;
}

/*
 * Queue a job on r; the caller holds r->mu and takes a reference for the
 * job when this succeeds. -ESHUTDOWN once the server is closing the pool
 * (then no connection may be left suspended: MHD aborts on one at stop).
 */
static int job_push(struct gw_req *r, int kind)
{
	struct gw_server *s = r->srv;

	r->job_kind = kind;
	r->job_next = NULL;
	pthread_mutex_lock(&s->pmu);
	if (s->pool_closed) {
		pthread_mutex_unlock(&s->pmu);
		return -ESHUTDOWN;
	}
	if (s->jobs_tail)
		s->jobs_tail->job_next = r;
	else
		s->jobs = r;
	s->jobs_tail = r;
	s->njobs++;
	if (s->idle < s->njobs && s->nthreads < s->max_workers && !worker_start(s))
		s->nthreads++;
	else
		pthread_cond_signal(&s->pcond);
	pthread_mutex_unlock(&s->pmu);
	return 0;
}

/* The caller holds r->mu. MHD gets the connection back if we took it away. */
static void wake_conn(struct gw_req *r)
{
	if (r->suspended && !r->gone) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
	}
}

/* The caller holds r->mu; only from an MHD callback (MHD's rule). */
static void suspend_conn(struct gw_req *r)
{
	r->suspended = 1;
	MHD_suspend_connection(r->conn);
}

static void req_free(struct gw_req *r);

static void req_unref(struct gw_req *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = --r->refs;
	pthread_mutex_unlock(&r->mu);
	if (!n)
		req_free(r);
}

static void run_handler(struct gw_req *r)
{
	int gone, rc;

	pthread_mutex_lock(&r->mu);
	gone = r->gone;
	pthread_mutex_unlock(&r->mu);
	if (!gone) {
		rc = r->srv->fn(r->srv->arg, r);
		if (rc < 0 && !r->status) {
			r->status = 500;
			gw_resp_body(r, NULL, 0);
		}
	}
	if (!r->status)
		r->status = 500;
	pthread_mutex_lock(&r->mu);
	r->done = 1;
	pthread_cond_broadcast(&r->cond);
	wake_conn(r);
	pthread_mutex_unlock(&r->mu);
}

/* The caller holds r->mu: have a worker fill the back buffer. */
static void stream_more(struct gw_req *r)
{
	if (r->s_busy || r->b_ready || r->s_eof || r->s_err)
		return;
	if (job_push(r, JOB_PRODUCE)) {
		r->s_err = 1;
		return;
	}
	r->s_busy = 1;
	r->refs++;
}

/* The caller holds r->mu; the front buffer is used up and the back is full. */
static void stream_swap(struct gw_req *r)
{
	char *t = r->sbuf;

	if (r->vfn) {
		if (r->s_lent)
			r->vunview(r->sarg, r->scookie);
		r->sview = r->bview;
		r->scookie = r->bcookie;
		r->s_lent = r->b_lent;
		r->b_lent = 0;
	}
	r->sbuf = r->sback;
	r->sback = t;
	r->s_off = 0;
	r->s_len = r->b_len;
	r->b_ready = 0;
	stream_more(r);
}

static void run_produce(struct gw_req *r)
{
	size_t max = r->vfn ? VIEW_CAP : SBUF_CAP;
	ssize_t n = 0;
	const char *view = NULL;
	void *cookie = NULL;
	int gone;

	pthread_mutex_lock(&r->mu);
	gone = r->gone;
	if (r->stream_len >= 0)
		max = (size_t)MIN((uint64_t)max, (uint64_t)r->stream_len - r->s_pos);
	pthread_mutex_unlock(&r->mu);
	if (atomic_load(&r->srv->stopping) || gone)
		n = -ECONNRESET;
	else if (max && r->vfn)
		n = r->vfn(r->sarg, r->s_pos, max, &view, &cookie);
	else if (max)
		n = r->sfn(r->sarg, r->s_pos, r->sback, max);
	pthread_mutex_lock(&r->mu);
	r->s_busy = 0;
	if (n < 0) {
		r->s_err = 1;
	} else if (n == 0) {
		r->s_eof = 1;
	} else {
		if (r->vfn) {
			r->bview = view;
			r->bcookie = cookie;
			r->b_lent = 1;
		}
		r->b_len = (size_t)MIN((size_t)n, max);
		r->b_ready = 1;
		r->s_pos += r->b_len;
		if (r->s_off == r->s_len)
			stream_swap(r);
	}
	wake_conn(r);
	pthread_mutex_unlock(&r->mu);
}

static void *worker_main(void *arg)
{
	struct gw_server *s = arg;
	struct gw_req *r;

	pthread_mutex_lock(&s->pmu);
	for (;;) {
		int timed_out = 0;

		while (!s->jobs && !s->pool_stop && !timed_out) {
			struct timespec ts;

			/* Idle workers go away: a burst leaves no crowd of threads. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += WORKER_IDLE_MS / 1000;
			s->idle++;
			timed_out = pthread_cond_timedwait(&s->pcond, &s->pmu, &ts) == ETIMEDOUT;
			s->idle--;
		}
		if (!s->jobs)
			break;
		r = s->jobs;
		s->jobs = r->job_next;
		if (!s->jobs)
			s->jobs_tail = NULL;
		s->njobs--;
		s->running++;
		pthread_mutex_unlock(&s->pmu);
		if (r->job_kind == JOB_HANDLER)
			run_handler(r);
		else
			run_produce(r);
		req_unref(r);
		pthread_mutex_lock(&s->pmu);
		s->running--;
		if (!s->running && !s->jobs)
			pthread_cond_broadcast(&s->pidle);
	}
	s->nthreads--;
	pthread_cond_broadcast(&s->pidle);
	pthread_mutex_unlock(&s->pmu);
	return NULL;
}

/* ---------------------------------------------------------------- body */

ssize_t gw_req_read(struct gw_req *r, void *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	pthread_mutex_lock(&r->mu);
	if (!r->wants_body) {
		r->wants_body = 1;
		wake_conn(r);
	}
	while (!r->in_len && !r->in_eof && !r->aborted)
		pthread_cond_wait(&r->cond, &r->mu);
	if (r->in_len) {
		size_t off = r->in_off, k;

		n = (ssize_t)MIN(len, r->in_len);
		pthread_mutex_unlock(&r->mu);
		/* r->in lives as long as this job's reference */
		k = MIN((size_t)n, r->in_cap - off);
		memcpy(buf, r->in + off, k);
		memcpy((char *)buf + k, r->in, (size_t)n - k);
		pthread_mutex_lock(&r->mu);
		r->in_off = (off + (size_t)n) % r->in_cap;
		r->in_len -= (size_t)n;
		/* Room again: MHD refills while this handler works on what it got. */
		if (r->in_len <= r->in_cap / 2)
			wake_conn(r);
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
	r->vfn = NULL;
	r->sdone = done;
	r->sarg = arg;
}

void gw_resp_stream_view(struct gw_req *r, int64_t len, gw_view_fn fn, gw_unview_fn unview,
			 gw_done_fn done, void *arg)
{
	gw_resp_stream(r, len, NULL, done, arg);
	r->vfn = fn;
	r->vunview = unview;
}

/* ---------------------------------------------------------------- plumbing */

static void req_free(struct gw_req *r)
{
	struct gw_server *s;

	if (!r)
		return;
	s = r->srv;
	pthread_mutex_lock(&s->cmu);
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else
		s->reqs = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	pthread_mutex_unlock(&s->cmu);
	/* Views go back before the stream's owner is done with it. */
	if (r->s_lent)
		r->vunview(r->sarg, r->scookie);
	if (r->b_lent)
		r->vunview(r->sarg, r->bcookie);
	if (r->streamed && r->sdone)
		r->sdone(r->sarg);
	for (size_t i = 0; i < r->nrh; i++) {
		free(r->rh[i].name);
		free(r->rh[i].value);
	}
	free(r->rh);
	free(r->body);
	free(r->hdrs);
	free(r->in);
	free(r->sbuf);
	free(r->sback);
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

/*
 * Set the head deadline of con: at `when` (0: none); with `sooner`, only
 * move it earlier.
 */
static void conn_deadline(struct gw_server *s, struct MHD_Connection *con, int64_t when,
			  int sooner)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct gw_conn *c = ci ? ci->socket_context : NULL;

	if (!c)
		return;
	pthread_mutex_lock(&s->cmu);
	if (!sooner || !c->deadline || when < c->deadline)
		c->deadline = when;
	pthread_mutex_unlock(&s->cmu);
}

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct gw_server *s = cls;
	struct gw_req *r = xcalloc(1, sizeof(*r));
	const char *q;

	/* The request line is in: the rest of the head comes promptly. */
	conn_deadline(s, con, mono_ms() + s->header_ms, 1);
	r->srv = s;
	r->uri = xstrdup(uri ? uri : "/");
	r->uri_at = uri;
	r->refs = 1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->started_ms = mono_ms();
	r->started_us = metric_now_us();
	q = uri ? strchr(uri, '?') : NULL;
	if (uri && strlen(uri) > MAX_TARGET) {
		r->reject = 414;
	} else if (q) {
		unsigned n = 1;

		for (const char *p = q; *p; p++)
			n += *p == '&';
		if (n > MAX_PARAMS)
			r->reject = 414;
	}
	if (r->reject && q) {
		/*
		 * MHD splits the query into its pool right after this callback;
		 * thousands of parameters exhaust the pool and MHD drops the
		 * connection without a word. We answer 414 ourselves and never
		 * look at MHD's copy, so it gets an empty query to split (the
		 * raw target was copied above).
		 */
		((char *)q)[1] = '\0';
	}
	pthread_mutex_lock(&s->cmu);
	r->lnext = s->reqs;
	if (s->reqs)
		s->reqs->lprev = r;
	s->reqs = r;
	pthread_mutex_unlock(&s->cmu);
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

/*
 * Called by MHD on its polling thread: hands out what a worker produced and
 * never calls the stream function itself (it may block on the object store).
 */
static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct gw_req *r = cls;
	ssize_t n;

	pthread_mutex_lock(&r->mu);
	if (r->s_len == r->s_off && r->b_ready)
		stream_swap(r);
	if (r->s_len > r->s_off) {
		n = (ssize_t)MIN(max, r->s_len - r->s_off);
		memcpy(buf, (r->vfn ? r->sview : r->sbuf) + r->s_off, (size_t)n);
		r->s_off += (size_t)n;
		/* Produce the next piece while MHD sends this one. */
		stream_more(r);
		r->sent += (uint64_t)n;
		pthread_mutex_unlock(&r->mu);
		return n;
	}
	if (r->s_err || r->s_eof) {
		int bad = r->s_err || (r->stream_len >= 0 && pos < (uint64_t)r->stream_len);

		pthread_mutex_unlock(&r->mu);
		return bad ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
	}
	stream_more(r);
	if (r->s_err) {
		pthread_mutex_unlock(&r->mu);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	/* Returning 0 without suspending would make MHD spin. */
	suspend_conn(r);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static enum MHD_Result queue(struct gw_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (r->streamed) {
		if (!r->sbuf && !r->vfn) {
			r->sbuf = xmalloc(SBUF_CAP);
			r->sback = xmalloc(SBUF_CAP);
		}
		resp = MHD_create_response_from_callback(
			r->stream_len >= 0 ? (uint64_t)r->stream_len : MHD_SIZE_UNKNOWN,
			SBUF_CAP, stream_cb, r, NULL);
	} else {
		resp = MHD_create_response_from_buffer(r->body_len, r->body,
						       MHD_RESPMEM_MUST_COPY);
	}
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

/*
 * MHD 0.9.75 parses the head in place and hands out C strings, so a NUL byte
 * inside the request line or a header value silently cuts it short:
 * "DELETE\0 /victim" reads as the method DELETE. The strings still point
 * into the head as received, where MHD turned each separator into one NUL
 * (the space after the method and after the target, each CR and LF of a line
 * end, the colon of a header); anything else between two strings means the
 * client sent a NUL (or folded a header line). The gate checks the first
 * request's raw bytes; this covers the later ones on a kept-alive connection.
 * NEEDSWORK: a NUL right before a bare-LF line end looks like a CR there
 * (both are one NUL now); it hides nothing, the value just loses it.
 */
struct head_walk {
	const char *end;        /* just past the previous string */
	int bad;
};

/* The bytes in [from, to) may only be 1 or 2 NULs (a line end). */
static int line_gap_ok(const char *from, const char *to)
{
	if (to <= from || to - from > 2)
		return 0;
	for (const char *p = from; p < to; p++)
		if (*p)
			return 0;
	return 1;
}

static enum MHD_Result head_walk_cb(void *cls, enum MHD_ValueKind kind, const char *key,
				    size_t key_size, const char *value, size_t value_size)
{
	struct head_walk *w = cls;

	UNUSED(kind);
	if (!value || !line_gap_ok(w->end, key)) {
		w->bad = 1;
		return MHD_NO;
	}
	/* "Name:" then optional blanks, then the value. */
	for (const char *p = key + key_size + 1; p < value; p++)
		if (*p != ' ' && *p != '\t') {
			w->bad = 1;
			return MHD_NO;
		}
	if (value < key + key_size + 1) {
		w->bad = 1;
		return MHD_NO;
	}
	w->end = value + value_size;
	return MHD_YES;
}

static int head_intact(struct gw_req *r, const char *method, const char *url,
		       const char *version)
{
	struct head_walk w;

	if (!r->uri_at || url != r->uri_at || method + strlen(method) + 1 != url ||
	    url + strlen(r->uri) + 1 != version || strncmp(version, "HTTP/1.", 7))
		return 0;
	w.end = version + strlen(version);
	w.bad = 0;
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, head_walk_cb, &w);
	if (w.bad)
		return 0;
	/* After the last string: its line end and the empty line, NULs now. */
	return !w.end[0] && !w.end[1];
}

/* Two Content-Length headers that disagree: the body's end is unknowable. */
static int clen_conflict(struct gw_req *r)
{
	const char *first = NULL;

	for (size_t i = 0; i < r->nhdrs; i++) {
		if (strcasecmp(r->hdrs[i].name, "Content-Length"))
			continue;
		if (first && strcmp(first, r->hdrs[i].value))
			return 1;
		first = r->hdrs[i].value;
	}
	return 0;
}

static enum MHD_Result first_call(struct gw_server *s, struct gw_req *r,
				  struct MHD_Connection *con, const char *url,
				  const char *method, const char *version)
{
	const char *cl;
	char *q;
	int has_body;

	r->conn = con;
	conn_deadline(s, con, 0, 0);
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
	if (r->reject)
		return layer_error(r, r->reject);
	if (!head_intact(r, method, url, version) || clen_conflict(r))
		return layer_error(r, 400);
	cl = gw_req_header(r, "Content-Length");
	if (cl) {
		uint64_t v;

		if (parse_u64(cl, &v) || v > INT64_MAX)
			return layer_error(r, 400);
		r->clen = (int64_t)v;
	}
	if (r->hdr_bytes + strlen(r->uri) > s->max_header)
		return layer_error(r, 431);
	if (atomic_load(&s->stopping)) {
		gw_resp_header(r, "Retry-After", "1");
		return layer_error(r, 503);
	}
	has_body = !(r->clen == 0 || (r->clen < 0 && !gw_req_header(r, "Transfer-Encoding")));
	pthread_mutex_lock(&r->mu);
	if (job_push(r, JOB_HANDLER)) {
		pthread_mutex_unlock(&r->mu);
		gw_resp_header(r, "Retry-After", "1");
		return layer_error(r, 503);
	}
	r->refs++;
	if (!has_body) {
		/*
		 * Nothing to read: MHD goes straight on to its final call, which
		 * waits for the handler. A response queued now would make MHD
		 * close the connection after it.
		 */
		r->in_eof = 1;
		r->phase = PH_FINAL;
	} else {
		/*
		 * MHD accepts a response only now or after the whole body: wait
		 * until the handler either asks for the body or is done without
		 * it (then no 100-continue is sent and the body is never read).
		 */
		r->in_cap = r->clen > 0 && r->clen < IN_CAP ? (size_t)r->clen : IN_CAP;
		r->in = xmalloc(r->in_cap);
		r->phase = PH_START;
		if (!r->wants_body && !r->done)
			suspend_conn(r);
	}
	pthread_mutex_unlock(&r->mu);
	return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct gw_server *s = cls;
	struct gw_req *r = *con_cls;
	size_t n;

	if (!r) /* no URI log callback ran: cannot happen with our options */
		return MHD_NO;
	if (!r->conn)
		return first_call(s, r, con, url, method, version);
	if (r->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&r->mu);
	switch (r->phase) {
	case PH_START:
		if (r->done) {
			pthread_mutex_unlock(&r->mu);
			return queue(r);
		}
		if (!r->wants_body)
			suspend_conn(r);
		else
			r->phase = PH_BODY;
		pthread_mutex_unlock(&r->mu);
		return MHD_YES;
	case PH_BODY:
		if (*upload_data_size) {
			if (r->done) {
				/* After the handler is done, the rest of the body is drained. */
				*upload_data_size = 0;
			} else {
				size_t tail = (r->in_off + r->in_len) % r->in_cap, k;

				n = MIN(r->in_cap - r->in_len, *upload_data_size);
				pthread_mutex_unlock(&r->mu);
				k = MIN(n, r->in_cap - tail);
				memcpy(r->in + tail, upload_data, k);
				memcpy(r->in, upload_data + k, n - k);
				pthread_mutex_lock(&r->mu);
				r->in_len += n;
				*upload_data_size -= n;
				if (n)
					pthread_cond_broadcast(&r->cond);
				/*
				 * Full: MHD keeps the rest until the handler has read,
				 * unless the handler finished meanwhile (then nobody
				 * would resume us, and the rest is drained as above).
				 */
				if (*upload_data_size && r->done)
					*upload_data_size = 0;
				else if (*upload_data_size)
					suspend_conn(r);
			}
			pthread_mutex_unlock(&r->mu);
			return MHD_YES;
		}
		r->in_eof = 1;
		pthread_cond_broadcast(&r->cond);
		r->phase = PH_FINAL;
		/* fall through */
	default:
		if (!r->done) {
			suspend_conn(r);
			pthread_mutex_unlock(&r->mu);
			return MHD_YES;
		}
		pthread_mutex_unlock(&r->mu);
		return queue(r);
	}
}

/*
 * The method label of the door metrics: a label set is kept for the life of
 * the process, so a client inventing methods must not add one per request.
 */
static const char *metric_method(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS",
					     "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY",
					     "MOVE", "LOCK", "UNLOCK" };
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (!strcmp(m, known[i]))
			return known[i];
	return "OTHER";
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gw_server *s = cls;
	struct gw_req *r = *con_cls;

	if (!r)
		return;
	*con_cls = NULL;
	if (s->m_reqs && r->method) {
		const char *m = metric_method(r->method);
		char st[16];
		snprintf(st, sizeof(st), "%d", r->status);
		metric_add(metric_child(s->m_reqs, m, st), 1);
		metric_observe(metric_child(s->m_dur, m, st), metric_now_us() - r->started_us);
		if (r->sent)
			metric_add(metric_child(s->m_sent, m), r->sent);
	}
	/* Kept alive: the next head must be whole within the idle timeout. */
	conn_deadline(s, con, mono_ms() + s->idle_ms, 0);
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
	pthread_mutex_lock(&r->mu);
	r->gone = 1;
	r->aborted = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	req_unref(r);
	atomic_fetch_sub(&s->active, 1);
}


/* ---------------------------------------------------------------- connection caps */

static size_t ip_key(const struct sockaddr *sa, unsigned char a[16])
{
	memset(a, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return 16;
	}
	return 0;
}

/* Count one more connection from sa; NULL when a cap is reached. Under cmu. */
static struct gw_ip *ip_take(struct gw_server *s, const struct sockaddr *sa)
{
	unsigned char a[16];
	unsigned h = 0;
	struct gw_ip *ip;

	ip_key(sa, a);
	for (int i = 0; i < 16; i++)
		h = h * 31 + a[i];
	h %= IP_BUCKETS;
	for (ip = s->ips[h]; ip; ip = ip->next)
		if (!memcmp(ip->a, a, 16))
			break;
	if (s->total >= s->max_conns || (ip && ip->n >= s->per_ip))
		return NULL;
	if (!ip) {
		ip = xcalloc(1, sizeof(*ip));
		memcpy(ip->a, a, 16);
		ip->next = s->ips[h];
		s->ips[h] = ip;
	}
	ip->n++;
	s->total++;
	return ip;
}

static void ip_put(struct gw_server *s, struct gw_ip *ip)
{
	unsigned h = 0;
	struct gw_ip **pp;

	if (!ip)
		return;
	pthread_mutex_lock(&s->cmu);
	s->total--;
	if (!--ip->n) {
		for (int i = 0; i < 16; i++)
			h = h * 31 + ip->a[i];
		for (pp = &s->ips[h % IP_BUCKETS]; *pp != ip; pp = &(*pp)->next)
			;
		*pp = ip->next;
		free(ip);
	}
	pthread_mutex_unlock(&s->cmu);
}

/*
 * MHD reports each connection it took and each it closed: the count taken by
 * the gate follows the socket (found by its descriptor, registered before
 * MHD_add_connection) and is given back when MHD closes it.
 */
static void notify_conn_cb(void *cls, struct MHD_Connection *con, void **socket_context,
			   enum MHD_ConnectionNotificationCode toe)
{
	struct gw_server *s = cls;
	const union MHD_ConnectionInfo *ci;

	struct gw_conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || ci->connect_fd < 0)
			return;
		c = xcalloc(1, sizeof(*c));
		c->fd = ci->connect_fd;
		pthread_mutex_lock(&s->cmu);
		if ((size_t)c->fd < s->nby_fd) {
			c->ip = s->by_fd[c->fd];
			s->by_fd[c->fd] = NULL;
		}
		/* Over TLS the gate saw nothing: the first head's deadline runs now. */
		if (s->cert)
			c->deadline = mono_ms() + s->header_ms;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->cmu);
		*socket_context = c;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && (c = *socket_context)) {
		pthread_mutex_lock(&s->cmu);
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&s->cmu);
		ip_put(s, c->ip);
		free(c);
		*socket_context = NULL;
	}
}

/* ---------------------------------------------------------------- the gate */

/*
 * Close after an answer: send it, stop writing, and keep reading (and
 * dropping) what the client still sends for a moment, so that the answer is
 * not destroyed by a reset.
 */
static void close_with(struct gw_server *s, int fd, const char *status_line, const char *extra)
{
	char msg[512];
	int n;

	if (status_line) {
		n = snprintf(msg, sizeof(msg),
			     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			     "%sConnection: close\r\n\r\n%s\n",
			     status_line, strlen(status_line) + 1, extra ? extra : "", status_line);
		if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			status_line = NULL;
	}
	if (!status_line || s->nlinger == LINGER_MAX) {
		close(fd);
		return;
	}
	shutdown(fd, SHUT_WR);
	s->linger[s->nlinger].fd = fd;
	s->linger[s->nlinger].until = mono_ms() + 2000;
	s->nlinger++;
}

static void linger_tick(struct gw_server *s)
{
	char tmp[4096];
	int64_t now = mono_ms();

	for (size_t i = 0; i < s->nlinger;) {
		struct gw_linger *l = &s->linger[i];
		ssize_t n;

		while ((n = recv(l->fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
			;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || now >= l->until) {
			close(l->fd);
			*l = s->linger[--s->nlinger];
			continue;
		}
		i++;
	}
}

static void pend_unlink(struct gw_server *s, struct gw_pend *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		s->pend_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		s->pend_tail = p->prev;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	free(p->buf);
}

/* Drop a held connection: status_line NULL closes without a word. */
static void pend_drop(struct gw_server *s, struct gw_pend *p, const char *status_line)
{
	pend_unlink(s, p);
	close_with(s, p->fd, status_line, NULL);
	ip_put(s, p->ip);
	free(p);
}

static void pend_pass(struct gw_server *s, struct gw_pend *p)
{
	int off = -1, fd = p->fd;

	pend_unlink(s, p);
	if (p->peek_off)
		setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	pthread_mutex_lock(&s->cmu);
	if ((size_t)fd >= s->nby_fd) {
		size_t n = MAX((size_t)fd + 1, s->nby_fd * 2);

		s->by_fd = xrealloc(s->by_fd, n * sizeof(*s->by_fd));
		memset(s->by_fd + s->nby_fd, 0, (n - s->nby_fd) * sizeof(*s->by_fd));
		s->nby_fd = n;
	}
	s->by_fd[fd] = p->ip;
	pthread_mutex_unlock(&s->cmu);
	if (MHD_add_connection(s->d, fd, (const struct sockaddr *)&p->sa, p->salen) != MHD_YES) {
		/* MHD closed the socket; it never started, so the count is ours. */
		struct gw_ip *ip = NULL;

		pthread_mutex_lock(&s->cmu);
		if (s->by_fd[fd] == p->ip) {
			ip = p->ip;
			s->by_fd[fd] = NULL;
		}
		pthread_mutex_unlock(&s->cmu);
		ip_put(s, ip);
	}
	free(p);
}

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "METHOD SP target SP HTTP/d.d", single spaces, nothing else. */
static int request_line_ok(const char *l, size_t n)
{
	size_t i = 0, t;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (!i || i == n || l[i] != ' ')
		return 0;
	t = ++i;
	while (i < n && l[i] != ' ')
		i++;
	if (i == t || i == n)
		return 0;
	i++;
	return n - i == 8 && !memcmp(l + i, "HTTP/", 5) && l[i + 5] >= '0' && l[i + 5] <= '9' &&
	       l[i + 6] == '.' && l[i + 7] >= '0' && l[i + 7] <= '9';
}

struct head_state {
	char clen[32];          /* the first Content-Length value seen */
	int have_clen;
};

/* "name: value" with a token name; folded lines (obsolete) are refused. */
static int header_line_ok(const char *l, size_t n, struct head_state *h)
{
	size_t i = 0, vs, ve;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (!i || i == n || l[i] != ':')
		return 0;
	if (i == 14 && !strncasecmp(l, "Content-Length", 14)) {
		vs = i + 1;
		while (vs < n && (l[vs] == ' ' || l[vs] == '\t'))
			vs++;
		ve = n;
		while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
			ve--;
		if (ve - vs >= sizeof(h->clen))
			return 0;
		if (h->have_clen)
			return strlen(h->clen) == ve - vs && !memcmp(h->clen, l + vs, ve - vs);
		memcpy(h->clen, l + vs, ve - vs);
		h->clen[ve - vs] = 0;
		h->have_clen = 1;
	}
	return 1;
}

enum { HEAD_MORE, HEAD_OK };

/*
 * Judge a request head from its first bytes: HEAD_MORE (incomplete so far),
 * HEAD_OK (complete and well-formed), or an HTTP status to refuse it with.
 */
static int head_check(const char *b, size_t len, size_t max_header)
{
	struct head_state h = { .have_clen = 0 };
	size_t ls = 0;
	int line = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)b[i];

		if (c == '\n') {
			size_t e = i > ls && b[i - 1] == '\r' ? i - 1 : i;

			if (line == 0) {
				if (!request_line_ok(b + ls, e - ls))
					return 400;
			} else if (e == ls) {
				return HEAD_OK;
			} else if (!header_line_ok(b + ls, e - ls, &h)) {
				return 400;
			}
			line++;
			ls = i + 1;
			continue;
		}
		/* Control bytes (NUL among them) and a CR not before LF. */
		if (c == '\r' ? i + 1 < len && b[i + 1] != '\n'
			      : (c < 0x20 && c != '\t') || c == 0x7f)
			return 400;
		if (!line && i - ls > MAX_TARGET + 32)
			return 414;
	}
	if (len > max_header)
		return line ? 431 : 414;
	return HEAD_MORE;
}

static const char *status_line(int code)
{
	switch (code) {
	case 400: return "400 Bad Request";
	case 408: return "408 Request Timeout";
	case 414: return "414 URI Too Long";
	case 431: return "431 Request Header Fields Too Large";
	default: return "503 Service Unavailable";
	}
}

static void pend_read(struct gw_server *s, struct gw_pend *p)
{
	size_t cap = s->max_header + 1;
	ssize_t n;
	int v;

	for (;;) {
		if (!p->peek_off)
			p->len = 0;
		if (p->len >= cap)
			break;
		n = recv(p->fd, p->buf + p->len, cap - p->len, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			pend_drop(s, p, NULL);
			return;
		}
		if (n < 0)
			break;
		p->len += (size_t)n;
		if (!p->peek_off)
			break;
	}
	v = head_check(p->buf, p->len, s->max_header);
	if (v == HEAD_OK)
		pend_pass(s, p);
	else if (v != HEAD_MORE)
		pend_drop(s, p, status_line(v));
}

static void gate_accept(struct gw_server *s)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		struct epoll_event ev;
		struct gw_pend *p;
		struct gw_ip *ip;
		int fd = accept4(s->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int zero = 0;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				static int64_t last;

				if (mono_ms() - last > 10000) {
					last = mono_ms();
					log_warn("accept: %s (raise the open file limit)",
						 strerror(errno));
				}
				sleep_ms(50);
			}
			return;
		}
		pthread_mutex_lock(&s->cmu);
		ip = ip_take(s, (struct sockaddr *)&sa);
		pthread_mutex_unlock(&s->cmu);
		if (!ip) {
			close_with(s, fd, status_line(503), "Retry-After: 1\r\n");
			continue;
		}
		p = xcalloc(1, sizeof(*p));
		p->fd = fd;
		p->ip = ip;
		p->sa = sa;
		p->salen = sl;
		if (s->cert) {
			/* TLS: the head is encrypted; MHD sees it first. */
			pend_pass(s, p);
			continue;
		}
		p->deadline = mono_ms() + s->header_ms;
		p->buf = xmalloc(s->max_header + 1);
		p->peek_off = !setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
		p->prev = s->pend_tail;
		if (s->pend_tail)
			s->pend_tail->next = p;
		else
			s->pend_head = p;
		s->pend_tail = p;
		/* Edge-triggered: peeked bytes stay readable, only new ones wake us. */
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = p;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			pend_drop(s, p, status_line(503));
			continue;
		}
		pend_read(s, p);
	}
}

static void *gate_main(void *arg)
{
	struct gw_server *s = arg;
	struct epoll_event evs[64];

	while (!atomic_load(&s->stopping)) {
		int n = epoll_wait(s->epfd, evs, ARRAY_SIZE(evs), 200);
		int64_t now;

		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &s->fd)
				gate_accept(s);
			else if (evs[i].data.ptr != &s->efd)
				pend_read(s, evs[i].data.ptr);
		}
		/* Deadlines come in accept order. */
		now = mono_ms();
		while (s->pend_head && s->pend_head->deadline <= now)
			pend_drop(s, s->pend_head, s->pend_head->len ? status_line(408) : NULL);
		linger_tick(s);
		/* MHD sees the shutdown as the client leaving and closes. */
		pthread_mutex_lock(&s->cmu);
		for (struct gw_conn *c = s->conns; c; c = c->next)
			if (c->deadline && c->deadline <= now) {
				shutdown(c->fd, SHUT_RDWR);
				c->deadline = 0;
			}
		pthread_mutex_unlock(&s->cmu);
	}
	while (s->pend_head)
		pend_drop(s, s->pend_head, NULL);
	for (size_t i = 0; i < s->nlinger; i++)
		close(s->linger[i].fd);
	s->nlinger = 0;
	return NULL;
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
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 4096)) {
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
	if (c->metrics_door) {
		static const char *const ms[] = { "method", "status", NULL };
		static const char *const m[] = { "method", NULL };
		char name[96], help[128];
		double b[30];
		metric_exp_buckets(b, 0.0001, 1.5, 30);
		snprintf(name, sizeof(name), "juicefs_%s_requests_total", c->metrics_door);
		snprintf(help, sizeof(help), "Requests served by the %s door.", c->metrics_door);
		s->m_reqs = metric_family(METRIC_COUNTER, name, help, 1, ms, NULL, 0);
		snprintf(name, sizeof(name), "juicefs_%s_request_durations_histogram_seconds",
			 c->metrics_door);
		snprintf(help, sizeof(help), "%s request latency distributions.", c->metrics_door);
		s->m_dur = metric_family(METRIC_HISTOGRAM, name, help, 1e-6, ms, b, 30);
		snprintf(name, sizeof(name), "juicefs_%s_sent_bytes", c->metrics_door);
		snprintf(help, sizeof(help), "Response body bytes sent by the %s door.",
			 c->metrics_door);
		s->m_sent = metric_family(METRIC_COUNTER, name, help, 1, m, NULL, 0);
	}
	/*
	 * poll, not select: no FD_SETSIZE ceiling. Not epoll either: MHD's epoll
	 * loop (0.9.75, Debian 12's, and 1.0.1 alike) drains events in rounds of
	 * 128 and, when a round is exactly full, waits again with the full
	 * timeout (up to the connection timeout, or forever when every
	 * connection is suspended) before it handles what it has: a burst of 128 or 256 requests on one
	 * polling thread then sat unanswered until the next event (t4401).
	 * The listening socket stays ours (the gate); MHD only gets
	 * connections whose first head is in.
	 */
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
	struct MHD_OptionItem opts[12];
	struct sockaddr_storage ss;
	struct epoll_event ev;
	socklen_t sl = sizeof(ss);
	size_t mem, no = 0;
	int r;

	s->fd = -1;
	s->epfd = -1;
	s->efd = -1;
	s->fn = fn;
	s->arg = arg;
	s->max_header = c->max_header ? c->max_header : 64 * 1024;
	s->max_conns = c->max_conns ? c->max_conns : 4096;
	s->per_ip = c->max_conns_per_ip ? c->max_conns_per_ip : 512;
	s->header_ms = (int64_t)(c->header_timeout_s ? c->header_timeout_s : 10) * 1000;
	s->idle_ms = (int64_t)(c->timeout_s ? c->timeout_s : 300) * 1000;
	s->max_workers = c->max_workers ? c->max_workers : DEFAULT_WORKERS;
	pthread_mutex_init(&s->log_mu, NULL);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_mutex_init(&s->pmu, NULL);
	pthread_cond_init(&s->pcond, NULL);
	pthread_cond_init(&s->pidle, NULL);
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
	fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
	/*
	 * MHD's pool per connection holds the head, the query split into
	 * parameters (at most MAX_PARAMS, see uri_log_cb) and upload chunks of
	 * a useful size.
	 */
	mem = MAX(s->max_header * 2 + MAX_PARAMS * 64, (size_t)512 * 1024);
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, POLL_THREADS, NULL };
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK,
					      (intptr_t)uri_log_cb, s };
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
					      (intptr_t)completed_cb, s };
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
					      (intptr_t)notify_conn_cb, s };
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
					      (intptr_t)s->max_conns, NULL };
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
					      c->timeout_s ? c->timeout_s : 300u, NULL };
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					      (intptr_t)mem, NULL };
	if (s->cert) {
		opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert };
		opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->key };
	}
	opts[no++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	if (!s->d) {
		buf_addf(err, "cannot start the HTTP server on %s", c->address);
		r = -EIO;
		goto fail;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epfd < 0 || s->efd < 0) {
		r = -errno;
		buf_addf(err, "epoll: %s", strerror(errno));
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &s->fd;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->fd, &ev);
	ev.data.ptr = &s->efd;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev);
	if (pthread_create(&s->gate, NULL, gate_main, s)) {
		r = -EAGAIN;
		buf_addf(err, "cannot start the HTTP server thread");
		goto fail;
	}
	s->gate_started = 1;
	*out = s;
	return 0;
fail:
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->fd >= 0)
		close(s->fd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->efd >= 0)
		close(s->efd);
	if (s->log_owned)
		fclose(s->log);
	free(s->cert);
	free(s->key);
	pthread_mutex_destroy(&s->log_mu);
	pthread_mutex_destroy(&s->cmu);
	pthread_mutex_destroy(&s->pmu);
	pthread_cond_destroy(&s->pcond);
	pthread_cond_destroy(&s->pidle);
	free(s);
	return r;
}

unsigned gw_server_port(const struct gw_server *s) { return s->port; }

void gw_server_stop(struct gw_server *s, int grace_ms)
{
	uint64_t one = 1;
	int64_t end, next_log;

	if (!s)
		return;
	/* No new connections; new requests on open ones get 503. */
	atomic_store(&s->stopping, 1);
	if (write(s->efd, &one, sizeof(one)) < 0)
		log_debug("wake the HTTP gate: %s", strerror(errno));
	pthread_join(s->gate, NULL);
	close(s->fd);
	s->fd = -1;
	end = mono_ms() + grace_ms;
	while (atomic_load(&s->active) > 0 && mono_ms() < end)
		sleep_ms(20);
	/*
	 * Past the grace period a handler waiting for body bytes gets a reset;
	 * every handler must then return before MHD (and the volume) goes away.
	 */
	pthread_mutex_lock(&s->cmu);
	for (struct gw_req *r = s->reqs; r; r = r->lnext) {
		pthread_mutex_lock(&r->mu);
		r->aborted = 1;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->mu);
	}
	pthread_mutex_unlock(&s->cmu);
	/*
	 * No job starts from now on, so once the running ones are over every
	 * connection we suspended has been resumed (each suspension waits on
	 * a job), as MHD_stop_daemon requires.
	 */
	next_log = mono_ms() + 5000;
	pthread_mutex_lock(&s->pmu);
	s->pool_closed = 1;
	while (s->running || s->jobs) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&s->pidle, &s->pmu, &ts);
		if (mono_ms() > next_log && (s->running || s->jobs)) {
			log_warn("stopping: %u request handlers still running", s->running);
			next_log = mono_ms() + 5000;
		}
	}
	pthread_mutex_unlock(&s->pmu);
	MHD_stop_daemon(s->d);
	/* Workers are detached: wait until the last has left s alone. */
	pthread_mutex_lock(&s->pmu);
	s->pool_stop = 1;
	pthread_cond_broadcast(&s->pcond);
	while (s->nthreads)
		pthread_cond_wait(&s->pidle, &s->pmu);
	pthread_mutex_unlock(&s->pmu);
	close(s->epfd);
	close(s->efd);
	if (s->log_owned)
		fclose(s->log);
	free(s->cert);
	free(s->key);
	free(s->by_fd);
	pthread_mutex_destroy(&s->log_mu);
	pthread_mutex_destroy(&s->cmu);
	pthread_mutex_destroy(&s->pmu);
	pthread_cond_destroy(&s->pcond);
	pthread_cond_destroy(&s->pidle);
	free(s);
}
