/*
 * storage/s3.c: the "s3" back end, any service speaking the S3 REST API.
 *
 * The bucket is a URL, http[s]://host[:port]/bucket (path style) or
 * http[s]://bucket.host[:port]/ (virtual-host style, also chosen for the path
 * form when JFS_S3_VHOST_STYLE is set). A URL without a scheme means https.
 * The query may hold region=R and tls-insecure-skip-verify=true; otherwise the
 * region comes from an AWS host name, AWS_REGION or AWS_DEFAULT_REGION, and
 * is us-east-1 at last.
 *
 * Requests are signed with SigV4 by our own code (OpenSSL HMAC/SHA-256):
 * curl 7.88's built-in signer does not canonicalise query strings, which
 * ListObjectsV2 needs. Without an access key requests go unsigned.
 *
 * Invariants the code depends on:
 *  1. One CURL easy handle per thread and store (a pthread key of the store),
 *     so connections are kept alive and reused without locking. Every handle
 *     is also on the store's list, so obj_free releases the handles of threads
 *     that are still alive; a thread that exits first releases its own.
 *  2. Every request body is a memory buffer, so any request can be replayed:
 *     5xx, 429 and transport errors are retried a bounded number of times
 *     with exponential back-off, then give -EIO. 403 is -EACCES at once.
 *  3. The response body goes to the caller only for a 2xx status (the write
 *     callback checks the status, which curl knows before the body); error
 *     bodies go to a small buffer for the log, so a failed try never leaves
 *     half an error document in the caller's memory.
 */
#include "storage/obj.h"
#include "storage/s3-internal.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <strings.h>
#include <time.h>

/* Tries per request (invariant 2) and the first back-off; it doubles, capped. */
#define S3_TRIES 4
#define S3_BACKOFF_MS 100
#define S3_BACKOFF_MAX_MS 2000
#define S3_CONNECT_TIMEOUT_S 10L
/* spec §5.4: get-timeout and put-timeout default to 60 s. */
#define S3_TIMEOUT_S 60L
#define S3_LIST_PAGE 1000
/* Error documents are small; anything longer is cut for the log. */
#define S3_ERRBODY_MAX 4096

struct s3_conn {
	CURL *h;
	struct s3_store *s;
	struct s3_conn *prev, *next;
};

struct s3_store {
	struct obj_store base;
	char *scheme;   /* "http" or "https" */
	char *host;     /* host[:port] as sent in Host, bucket included for vhost */
	char *bucket;
	int vhost;
	int insecure;
	char *ak, *sk, *token; /* NULL when unsigned / no token */
	char *region;
	char *desc;
	pthread_key_t key;
	pthread_mutex_t mu; /* guards conns */
	struct s3_conn *conns;
};

static const struct obj_ops s3_ops;
static pthread_once_t s3_once = PTHREAD_ONCE_INIT;
static int s3_init_ok;

static void s3_global_init(void)
{
	/* Both are process-wide and not thread-safe on first use. */
	s3_init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	xmlInitParser();
}

static struct s3_store *s3_of(struct obj_store *s)
{
	BUG_ON(s->ops != &s3_ops);
	return (struct s3_store *)s;
}

/* ---- per-thread connections (invariant 1) ---- */

static void conn_unlink(struct s3_store *s, struct s3_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void conn_destroy(void *arg)
{
	struct s3_conn *c = arg;
	struct s3_store *s = c->s;

	pthread_mutex_lock(&s->mu);
	conn_unlink(s, c);
	pthread_mutex_unlock(&s->mu);
	curl_easy_cleanup(c->h);
	free(c);
}

static CURL *conn_get(struct s3_store *s)
{
	struct s3_conn *c = pthread_getspecific(s->key);

	if (c)
		return c->h;
	c = xcalloc(1, sizeof(*c));
	c->h = curl_easy_init();
	if (!c->h) {
		free(c);
		return NULL;
	}
	c->s = s;
	pthread_mutex_lock(&s->mu);
	c->next = s->conns;
	if (c->next)
		c->next->prev = c;
	s->conns = c;
	pthread_mutex_unlock(&s->mu);
	if (pthread_setspecific(s->key, c)) {
		conn_destroy(c);
		return NULL;
	}
	return c->h;
}

/* ---- SigV4 ---- */

static void hex_of(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = 0;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256(p, n, md);
	hex_of(md, sizeof(md), out);
}

static void hmac256(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
	unsigned int olen = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen);
}

/*
 * SigV4 URI encoding: unreserved characters stay, everything else is %XX in
 * upper-case hex; '/' stays when it separates path segments.
 */
static void uri_encode(struct buf *b, const char *s, int keep_slash)
{
	static const char hx[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~' || (keep_slash && ch == '/')) {
			buf_addch(b, (char)ch);
		} else {
			buf_addch(b, '%');
			buf_addch(b, hx[ch >> 4]);
			buf_addch(b, hx[ch & 15]);
		}
	}
}

/* A query parameter; the array is kept sorted by name (byte order) by the caller. */
struct s3_param {
	const char *name, *value;
};

static void query_string(struct buf *b, const struct s3_param *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addch(b, '&');
		uri_encode(b, q[i].name, 0);
		buf_addch(b, '=');
		uri_encode(b, q[i].value, 0);
	}
}

/*
 * Add the x-amz-* and Authorization headers for one request. The signed
 * headers are host, x-amz-content-sha256, x-amz-date and, with a session
 * token, x-amz-security-token (already in byte order).
 */
static struct curl_slist *sign(struct s3_store *s, const char *method, const char *path,
			       const char *query, const char *payload_hash,
			       struct curl_slist *hdrs)
{
	struct buf creq = BUF_INIT, sts = BUF_INIT, tmp = BUF_INIT;
	char amzdate[32], day[16], creq_hash[65], sig[65];
	uint8_t k[32];
	struct tm tm;
	time_t now = time(NULL);
	const char *signed_hdrs;

	gmtime_r(&now, &tm);
	strftime(amzdate, sizeof(amzdate), "%Y%m%dT%H%M%SZ", &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);

	buf_addf(&tmp, "x-amz-content-sha256: %s", payload_hash);
	hdrs = curl_slist_append(hdrs, tmp.ptr);
	buf_reset(&tmp);
	buf_addf(&tmp, "x-amz-date: %s", amzdate);
	hdrs = curl_slist_append(hdrs, tmp.ptr);
	if (s->token) {
		buf_reset(&tmp);
		buf_addf(&tmp, "x-amz-security-token: %s", s->token);
		hdrs = curl_slist_append(hdrs, tmp.ptr);
	}
	if (!s->ak)
		goto out;

	signed_hdrs = s->token ? "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
			       : "host;x-amz-content-sha256;x-amz-date";
	buf_addf(&creq, "%s\n%s\n%s\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n", method,
		 path, query, s->host, payload_hash, amzdate);
	if (s->token)
		buf_addf(&creq, "x-amz-security-token:%s\n", s->token);
	buf_addf(&creq, "\n%s\n%s", signed_hdrs, payload_hash);
	sha256_hex(creq.ptr, creq.len, creq_hash);
	buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", amzdate, day, s->region,
		 creq_hash);

	buf_reset(&tmp);
	buf_addf(&tmp, "AWS4%s", s->sk ? s->sk : "");
	hmac256(tmp.ptr, tmp.len, day, k);
	hmac256(k, sizeof(k), s->region, k);
	hmac256(k, sizeof(k), "s3", k);
	hmac256(k, sizeof(k), "aws4_request", k);
	{
		uint8_t mac[32];
		hmac256(k, sizeof(k), sts.ptr, mac);
		hex_of(mac, sizeof(mac), sig);
	}
	buf_reset(&tmp);
	buf_addf(&tmp,
		 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, "
		 "SignedHeaders=%s, Signature=%s",
		 s->ak, day, s->region, signed_hdrs, sig);
	hdrs = curl_slist_append(hdrs, tmp.ptr);
out:
	buf_release(&creq);
	buf_release(&sts);
	buf_release(&tmp);
	return hdrs;
}

/* ---- one request ---- */

struct s3_req {
	/* in */
	const char *method;
	const char *key; /* NULL: the bucket itself */
	const struct s3_param *query;
	size_t nquery;
	const void *body;
	size_t body_len;
	const char *range; /* "bytes=a-b" or NULL */
	/* out: a 2xx body goes to dst (at most cap bytes) or, when dst is NULL, to out */
	void *dst;
	size_t cap;
	struct buf *out;
	/* state of the current try */
	CURL *h;
	size_t got, sent;
	int overflow;
	struct buf err;
	uint64_t clen;
	int have_clen;
	int64_t mtime;
};

static int is_2xx(CURL *h)
{
	long code = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code >= 200 && code < 300;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct s3_req *q = arg;
	size_t len = sz * n;

	if (!is_2xx(q->h)) {
		if (q->err.len < S3_ERRBODY_MAX)
			buf_add(&q->err, p, MIN(len, S3_ERRBODY_MAX - q->err.len));
		return len;
	}
	if (q->dst) {
		if (len > q->cap - q->got) {
			/* More than the Range asked for: never write past the caller's buffer. */
			q->overflow = 1;
			return 0;
		}
		memcpy((char *)q->dst + q->got, p, len);
		q->got += len;
	} else if (q->out) {
		if (buf_add(q->out, p, len))
			return 0;
	}
	return len;
}

static size_t on_read(char *p, size_t sz, size_t n, void *arg)
{
	struct s3_req *q = arg;
	size_t len = MIN(sz * n, q->body_len - q->sent);

	if (len)
		memcpy(p, (const char *)q->body + q->sent, len);
	q->sent += len;
	return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct s3_req *q = arg;
	size_t len = sz * n;
	char line[256];
	char *v;

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = 0;
	line[strcspn(line, "\r\n")] = 0;
	v = strchr(line, ':');
	if (!v)
		return len;
	*v++ = 0;
	while (*v == ' ' || *v == '\t')
		v++;
	if (!strcasecmp(line, "Content-Length")) {
		q->have_clen = !parse_u64(v, &q->clen);
	} else if (!strcasecmp(line, "Last-Modified")) {
		time_t t = curl_getdate(v, NULL);
		if (t >= 0)
			q->mtime = (int64_t)t;
	}
	return len;
}

/* The error code of an S3 error document, for the log ("" when none). */
static void err_code(const struct buf *body, char *out, size_t outsz)
{
	const char *a, *b;

	out[0] = 0;
	if (!body->len)
		return;
	a = strstr(body->ptr, "<Code>");
	if (!a)
		return;
	a += 6;
	b = strstr(a, "</Code>");
	if (!b)
		return;
	snprintf(out, outsz, "%.*s", (int)MIN((size_t)(b - a), outsz - 1), a);
}

static int curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

/*
 * Run q, retrying per invariant 2. Returns the HTTP status (>= 200) of the
 * last try, or -errno when no usable answer came. *code gets the S3 error code.
 */
static int s3_do(struct s3_store *s, struct s3_req *q, char *code, size_t codesz)
{
	struct buf path = BUF_INIT, qs = BUF_INIT, url = BUF_INIT, tmp = BUF_INIT;
	char payload_hash[65];
	const char *why = "";
	int r = -EIO;
	long status = 0;

	code[0] = 0;
	buf_init(&q->err, 0);
	q->h = conn_get(s);
	if (!q->h) {
		r = -ENOMEM;
		goto out;
	}
	buf_addch(&path, '/');
	if (!s->vhost) {
		uri_encode(&path, s->bucket, 0);
		if (q->key)
			buf_addch(&path, '/');
	}
	if (q->key)
		uri_encode(&path, q->key, 1);
	buf_adds(&qs, "");
	query_string(&qs, q->query, q->nquery);
	buf_addf(&url, "%s://%s%s%s%s", s->scheme, s->host, path.ptr, qs.len ? "?" : "", qs.ptr);
	sha256_hex(q->body ? q->body : "", q->body ? q->body_len : 0, payload_hash);

	for (int tries = 0; tries < S3_TRIES; tries++) {
		struct curl_slist *hdrs = NULL;
		CURLcode cc;

		if (tries) {
			int64_t ms = (int64_t)S3_BACKOFF_MS << (tries - 1);
			sleep_ms(MIN(ms, (int64_t)S3_BACKOFF_MAX_MS));
		}
		q->got = q->sent = 0;
		q->overflow = 0;
		q->have_clen = 0;
		q->clen = 0;
		q->mtime = 0;
		buf_reset(&q->err);
		if (q->out)
			buf_reset(q->out);

		/* Reset keeps the connection cache (invariant 1). */
		curl_easy_reset(q->h);
		curl_easy_setopt(q->h, CURLOPT_URL, url.ptr);
		curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(q->h, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT_S);
		curl_easy_setopt(q->h, CURLOPT_TIMEOUT, S3_TIMEOUT_S);
		curl_easy_setopt(q->h, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(q->h, CURLOPT_WRITEDATA, q);
		curl_easy_setopt(q->h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(q->h, CURLOPT_HEADERDATA, q);
		if (s->insecure) {
			curl_easy_setopt(q->h, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(q->h, CURLOPT_SSL_VERIFYHOST, 0L);
		}
		if (!strcmp(q->method, "PUT")) {
			curl_easy_setopt(q->h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(q->h, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(q->h, CURLOPT_READDATA, q);
			curl_easy_setopt(q->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
			/* No 100-continue round trip: the body is small and in memory. */
			hdrs = curl_slist_append(hdrs, "Expect:");
		} else if (!strcmp(q->method, "HEAD")) {
			curl_easy_setopt(q->h, CURLOPT_NOBODY, 1L);
		} else if (strcmp(q->method, "GET")) {
			curl_easy_setopt(q->h, CURLOPT_CUSTOMREQUEST, q->method);
		}
		if (q->range) {
			buf_reset(&tmp);
			buf_addf(&tmp, "Range: %s", q->range);
			hdrs = curl_slist_append(hdrs, tmp.ptr);
		}
		hdrs = sign(s, q->method, path.ptr, qs.ptr, payload_hash, hdrs);
		curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, hdrs);
		cc = curl_easy_perform(q->h);
		curl_slist_free_all(hdrs);
		status = 0;
		curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK) {
			log_debug("s3 %s %s: %s", q->method, url.ptr, curl_easy_strerror(cc));
			why = curl_easy_strerror(cc);
			r = cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
			if (q->overflow || !curl_retryable(cc))
				goto out;
			continue;
		}
		err_code(&q->err, code, codesz);
		r = (int)status;
		if (status >= 500 || status == 429) {
			log_debug("s3 %s %s: HTTP %ld %s (try %d)", q->method, url.ptr, status, code,
				  tries + 1);
			why = "server error";
			r = -EIO;
			continue;
		}
		break;
	}
	if (r >= 300)
		log_debug("s3 %s %s: HTTP %d %s", q->method, url.ptr, r, code);
	else if (r < 0)
		log_warn("s3 %s %s: giving up after %d tries: %s", q->method, url.ptr, S3_TRIES, why);
out:
	buf_release(&path);
	buf_release(&qs);
	buf_release(&url);
	buf_release(&tmp);
	buf_release(&q->err);
	return r;
}

/* Map a final status that is not 2xx; code is its S3 error code ("" when none). */
static int status_errno(int st, const char *code)
{
	/*
	 * Credentials that AWS (and moto) refuse with 400, not 403: a session
	 * token that is malformed, wrong or expired is a permission problem
	 * to the user, not a bad argument of ours.
	 */
	static const char *const denied_400[] = { "InvalidToken", "ExpiredToken",
						  "TokenRefreshRequired" };

	if (st < 0)
		return st;
	if (st == 404)
		return -ENOENT;
	if (st == 403 || st == 401)
		return -EACCES;
	if (st == 400)
		for (size_t i = 0; i < ARRAY_SIZE(denied_400); i++)
			if (!strcmp(code, denied_400[i]))
				return -EACCES;
	if (st == 400 || st == 411 || st == 414)
		return -EINVAL;
	return -EIO;
}

static int check_key(const char *key)
{
	return key && *key ? 0 : -EINVAL;
}

/* ---- operations ---- */

static int s3_put(struct obj_store *os, const char *key, const void *data, size_t len)
{
	struct s3_store *s = s3_of(os);
	struct s3_req q = { .method = "PUT", .key = key, .body = data ? data : "", .body_len = len };
	char code[64];
	int st;

	if (check_key(key))
		return -EINVAL;
	st = s3_do(s, &q, code, sizeof(code));
	if (st >= 200 && st < 300)
		return 0;
	if (st == 404)
		return -EIO; /* NoSuchBucket: not a missing object */
	return status_errno(st, code);
}

static int s3_head(struct obj_store *os, const char *key, struct obj_info *oi)
{
	struct s3_store *s = s3_of(os);
	struct s3_req q = { .method = "HEAD", .key = key };
	char code[64];
	int st;

	if (check_key(key))
		return -EINVAL;
	st = s3_do(s, &q, code, sizeof(code));
	if (st < 200 || st >= 300)
		return status_errno(st, code);
	if (!q.have_clen)
		return -EIO;
	oi->key = key;
	oi->size = q.clen;
	oi->mtime_us = q.mtime * 1000000;
	return 0;
}

static ssize_t s3_get(struct obj_store *os, const char *key, uint64_t off, void *dst, size_t len)
{
	struct s3_store *s = s3_of(os);
	struct s3_req q = { .method = "GET", .key = key, .dst = dst, .cap = len };
	char code[64], range[64];
	int st;

	if (check_key(key))
		return -EINVAL;
	if (!len) {
		struct obj_info oi;
		int r = s3_head(os, key, &oi);
		return r ? r : 0;
	}
	len = MIN(len, (size_t)SSIZE_MAX);
	q.cap = len;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	q.range = range;
	st = s3_do(s, &q, code, sizeof(code));
	if (st == 416)
		return 0; /* InvalidRange: off is at or past the end */
	if (st < 200 || st >= 300)
		return status_errno(st, code);
	if (st == 200 && off) {
		/* The server ignored Range and sent the whole object from byte 0. */
		return -EIO;
	}
	return (ssize_t)q.got;
}

static int s3_del(struct obj_store *os, const char *key)
{
	struct s3_store *s = s3_of(os);
	struct s3_req q = { .method = "DELETE", .key = key };
	char code[64];
	int st;

	if (check_key(key))
		return -EINVAL;
	st = s3_do(s, &q, code, sizeof(code));
	if ((st >= 200 && st < 300) || (st == 404 && strcmp(code, "NoSuchBucket")))
		return 0;
	return status_errno(st, code);
}

static int s3_create_bucket(struct obj_store *os)
{
	struct s3_store *s = s3_of(os);
	struct s3_req q = { .method = "PUT" };
	struct buf body = BUF_INIT;
	char code[64];
	int st;

	/* us-east-1 is the default location and must not be named (AWS refuses it). */
	if (strcmp(s->region, "us-east-1"))
		buf_addf(&body,
			 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			 "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
			 s->region);
	q.body = body.len ? body.ptr : "";
	q.body_len = body.len;
	st = s3_do(s, &q, code, sizeof(code));
	buf_release(&body);
	if (st >= 200 && st < 300)
		return 0;
	if (st == 409 &&
	    (!strcmp(code, "BucketAlreadyOwnedByYou") || !strcmp(code, "BucketAlreadyExists")))
		return 0;
	return status_errno(st, code);
}

/* ---- list ---- */

static const char *child_text(xmlNode *n, const char *name)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) {
			xmlNode *t = c->children;
			return t && t->type == XML_TEXT_NODE ? (const char *)t->content : "";
		}
	return NULL;
}

/* "2026-11-25T18:01:26.123Z" -> microseconds since the epoch (0 if unparsable). */
static int64_t iso_time_us(const char *v)
{
	struct tm tm = { 0 };
	const char *p;
	int64_t us = 0;

	if (!v)
		return 0;
	p = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return 0;
	if (*p == '.') {
		int64_t scale = 100000;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			us += (*p - '0') * scale;
			scale /= 10;
		}
	}
	return (int64_t)timegm(&tm) * 1000000 + us;
}

int obj_s3_list_page(const struct buf *xml, const char *prefix, size_t *left, obj_list_fn cb,
		     void *arg, struct s3_page *pg)
{
	xmlDoc *doc;
	xmlNode *root;
	const char *trunc, *next;
	int r = 0;

	free(pg->token);
	pg->token = NULL;
	doc = xmlReadMemory(xml->ptr, (int)xml->len, "list.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	if (!doc)
		return -EIO;
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "ListBucketResult")) {
		r = -EIO;
		goto out;
	}
	for (xmlNode *c = root->children; c && !r; c = c->next) {
		struct obj_info oi;
		const char *key, *size;

		if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Contents"))
			continue;
		key = child_text(c, "Key");
		size = child_text(c, "Size");
		if (!key || !size || parse_u64(size, &oi.size)) {
			r = -EIO;
			break;
		}
		/* The contract promises byte order and strictly-after: enforce both. */
		if (strncmp(key, prefix, strlen(prefix)) || (pg->last && strcmp(key, pg->last) <= 0))
			continue;
		oi.key = key;
		oi.mtime_us = iso_time_us(child_text(c, "LastModified"));
		free(pg->last);
		pg->last = xstrdup(key);
		r = cb(arg, &oi);
		if (r)
			break;
		if (*left && !--*left) {
			r = 0;
			goto out;
		}
	}
	if (r)
		goto out;
	trunc = child_text(root, "IsTruncated");
	next = child_text(root, "NextContinuationToken");
	if (trunc && !strcmp(trunc, "true")) {
		if (!next || !*next) {
			r = -EIO;
			goto out;
		}
		pg->token = xstrdup(next);
	}
out:
	xmlFreeDoc(doc);
	return r;
}

static int s3_list(struct obj_store *os, const char *prefix, const char *start_after,
		   size_t limit, obj_list_fn cb, void *arg)
{
	struct s3_store *s = s3_of(os);
	struct s3_page pg = { NULL, NULL };
	struct buf xml = BUF_INIT;
	size_t left = limit;
	int r = 0;

	if (!prefix)
		prefix = "";
	if (start_after && *start_after)
		pg.last = xstrdup(start_after);
	for (;;) {
		struct s3_param qp[5];
		struct s3_req q = { .method = "GET", .query = qp, .out = &xml };
		char code[64], maxk[24];
		size_t n = 0;
		int st;

		snprintf(maxk, sizeof(maxk), "%zu",
			 left && left < S3_LIST_PAGE ? left : (size_t)S3_LIST_PAGE);
		/* In byte order of the names, as the canonical query needs. */
		if (pg.token)
			qp[n++] = (struct s3_param){ "continuation-token", pg.token };
		qp[n++] = (struct s3_param){ "list-type", "2" };
		qp[n++] = (struct s3_param){ "max-keys", maxk };
		qp[n++] = (struct s3_param){ "prefix", prefix };
		if (!pg.token && pg.last)
			qp[n++] = (struct s3_param){ "start-after", pg.last };
		q.nquery = n;
		st = s3_do(s, &q, code, sizeof(code));
		if (st < 200 || st >= 300) {
			r = status_errno(st, code);
			if (r == -ENOENT)
				r = -EIO; /* NoSuchBucket */
			break;
		}
		r = obj_s3_list_page(&xml, prefix, &left, cb, arg, &pg);
		if (r || !pg.token || (limit && !left))
			break;
	}
	free(pg.last);
	free(pg.token);
	buf_release(&xml);
	return r;
}

/* ---- setup ---- */

static void s3_free(struct obj_store *os)
{
	struct s3_store *s = s3_of(os);
	struct s3_conn *c, *next;

	/* No more destructors for this key; release what live threads still hold. */
	pthread_key_delete(s->key);
	pthread_mutex_lock(&s->mu);
	for (c = s->conns; c; c = next) {
		next = c->next;
		curl_easy_cleanup(c->h);
		free(c);
	}
	s->conns = NULL;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	free(s->scheme);
	free(s->host);
	free(s->bucket);
	free(s->ak);
	free(s->sk);
	free(s->token);
	free(s->region);
	free(s->desc);
	free(s);
}

static const char *s3_describe(struct obj_store *os) { return s3_of(os)->desc; }

static const struct obj_ops s3_ops = {
	.name = "s3",
	.create_bucket = s3_create_bucket,
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.del = s3_del,
	.list = s3_list,
	.free = s3_free,
	.describe = s3_describe,
};

static char *nonempty_dup(const char *v) { return v && *v ? xstrdup(v) : NULL; }

/* The region in an AWS host name: s3.R.amazonaws.com, s3-R.amazonaws.com, ... */
static char *aws_region(const char *host)
{
	const char *p = strstr(host, ".amazonaws.com");
	const char *s3 = NULL, *q;

	if (!p)
		return NULL;
	for (q = host; q < p; q++)
		if ((q == host || q[-1] == '.') && !strncmp(q, "s3", 2) && (q[2] == '.' || q[2] == '-'))
			s3 = q;
	if (!s3)
		return NULL;
	s3 += 3;
	if (s3 >= p)
		return NULL;
	q = memchr(s3, '.', (size_t)(p - s3));
	if (q)
		return NULL; /* s3.dualstack.R... and similar: let the environment decide */
	if (!strncmp(s3, "external-1", (size_t)(p - s3)))
		return xstrdup("us-east-1");
	return xstrndup(s3, (size_t)(p - s3));
}

static int parse_bucket_url(struct s3_store *s, const char *url, struct buf *err)
{
	const char *p = url, *hs, *he, *qs;
	char *host = NULL, *path = NULL, *region = NULL;
	int r = -EINVAL;

	if (!strncasecmp(p, "http://", 7)) {
		s->scheme = xstrdup("http");
		p += 7;
	} else if (!strncasecmp(p, "https://", 8)) {
		s->scheme = xstrdup("https");
		p += 8;
	} else if (strstr(p, "://")) {
		buf_addf(err, "invalid bucket URL %s: the scheme must be http or https", url);
		goto out;
	} else {
		s->scheme = xstrdup("https");
	}
	hs = p;
	he = hs + strcspn(hs, "/?#");
	if (he == hs || memchr(hs, '@', (size_t)(he - hs))) {
		buf_addf(err, "invalid bucket URL %s: no host", url);
		goto out;
	}
	host = xstrndup(hs, (size_t)(he - hs));
	qs = strchr(he, '?');
	if (*he == '/')
		he++;
	/* Only the first path segment names the bucket. */
	path = xstrndup(he, strcspn(he, "/?#"));
	if (qs) {
		char *query = xstrdup(qs + 1), *save = NULL;
		for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
			char *v = strchr(kv, '=');
			if (v)
				*v++ = 0;
			if (!strcmp(kv, "region") && v && *v) {
				free(region);
				region = xstrdup(v);
			} else if (!strcmp(kv, "tls-insecure-skip-verify")) {
				int b = 1;
				if (v && parse_bool(v, &b)) {
					buf_addf(err, "invalid bucket URL %s: bad %s", url, kv);
					free(query);
					goto out;
				}
				s->insecure = b;
			}
		}
		free(query);
	}
	if (*path) {
		s->bucket = xstrdup(path);
		s->vhost = getenv("JFS_S3_VHOST_STYLE") && *getenv("JFS_S3_VHOST_STYLE");
		s->host = s->vhost ? xasprintf("%s.%s", path, host) : xstrdup(host);
	} else {
		/* Virtual-host style: the bucket is the first label of the host. */
		size_t dot = strcspn(host, "."), hl = strcspn(host, ":");
		struct in_addr ip;
		char *name = xstrndup(host, hl);
		int is_ip = inet_pton(AF_INET, name, &ip) == 1 || host[0] == '[';

		free(name);
		if (!host[dot] || !dot || is_ip) {
			buf_addf(err, "invalid bucket URL %s: no bucket name", url);
			goto out;
		}
		s->bucket = xstrndup(host, dot);
		s->vhost = 1;
		s->host = xstrdup(host);
	}
	if (!region)
		region = aws_region(host);
	if (!region)
		region = nonempty_dup(getenv("AWS_REGION"));
	if (!region)
		region = nonempty_dup(getenv("AWS_DEFAULT_REGION"));
	s->region = region ? region : xstrdup("us-east-1");
	region = NULL;
	r = 0;
out:
	free(host);
	free(path);
	free(region);
	return r;
}

int obj_s3_create(const char *bucket, const char *ak, const char *sk, const char *token,
		  struct obj_store **out, struct buf *err)
{
	struct s3_store *s;
	int r;

	*out = NULL;
	pthread_once(&s3_once, s3_global_init);
	if (!s3_init_ok) {
		buf_addf(err, "libcurl failed to initialise");
		return -EIO;
	}
	if (!bucket || !*bucket) {
		buf_addf(err, "storage s3 needs a bucket URL (http[s]://host[:port]/bucket)");
		return -EINVAL;
	}
	s = xcalloc(1, sizeof(*s));
	s->base.ops = &s3_ops;
	r = parse_bucket_url(s, bucket, err);
	if (!r && pthread_key_create(&s->key, conn_destroy)) {
		buf_addf(err, "too many threads keys for another s3 store");
		r = -EAGAIN;
	}
	if (r) {
		free(s->scheme);
		free(s->host);
		free(s->bucket);
		free(s->region);
		free(s);
		return r;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->ak = nonempty_dup(ak);
	s->sk = nonempty_dup(sk);
	s->token = nonempty_dup(token);
	/* As JuiceFS names it: the bucket, after the endpoint for path style. */
	s->desc = s->vhost ? xasprintf("s3://%s/", s->bucket)
			   : xasprintf("s3://%s/%s/", s->host, s->bucket);
	*out = &s->base;
	return 0;
}
