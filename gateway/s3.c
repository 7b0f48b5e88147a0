/*
 * gateway/s3.c: the S3 request handler: authentication, routing, and every
 * bucket and object operation over fs.h (layout and xattrs in s3.h).
 *
 * Writes are atomic: a body streams into a temp file under /.sys/tmp (MD5
 * and, when the client signed it, SHA-256 computed on the way), is checked,
 * gets its xattrs, and only then is renamed over the target. Any failure
 * before the rename unlinks the temp file, so readers never see a partial
 * object and a failed upload leaves the old one intact. Copies and multipart
 * completion share slices (fs_clone, fs_copy_file_range) instead of bytes.
 */
#include "gateway/s3.h"
#include "gateway/s3-internal.h"
#include "gateway/s3admin.h"
#include "gateway/filebody.h"
#include "gateway/s3access.h"
#include "gateway/s3bucket.h"
#include "gateway/s3cfg.h"
#include "gateway/s3cors.h"
#include "gateway/s3post.h"

#include <ctype.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>
#include <time.h>

#define S3_TMP "/.sys/tmp"
#define S3_UPLOADS "/.sys/uploads"
#define XATTR_ETAG "s3-etag"
#define XATTR_META "s3-meta"
#define XATTR_TAGS "s3-tags"
#define XATTR_UP_BUCKET "s3-bucket"
#define XATTR_UP_KEY "s3-key"
#define EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define MIN_PART (5ULL << 20)
#define MAX_OBJECT (5ULL << 40)
#define IO_BUF (1 << 20)

/* struct s3_gw and struct s3_req: s3-internal.h (s3post.c and s3cors.c share them) */

/* ---------------------------------------------------------------- responses */

static void add_common(struct s3_req *s)
{
	gw_resp_header(s->r, "x-amz-request-id", s->reqid);
	gw_resp_header(s->r, "Server", "JuiceFS-C");
	s3_cors_headers(s);
}

static void send_xml(struct s3_req *s, int status, struct buf *b)
{
	gw_resp_status(s->r, status);
	add_common(s);
	gw_resp_header(s->r, "Content-Type", "application/xml");
	gw_resp_body(s->r, b->ptr, b->len);
}

static void xml_head(struct buf *b, const char *root)
{
	buf_addf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s xmlns=\"%s\">", root, XMLNS);
}

static void xml_el(struct buf *b, const char *name, const char *val)
{
	buf_addf(b, "<%s>", name);
	s3_xml_escape(b, val ? val : "");
	buf_addf(b, "</%s>", name);
}

/* A key-like value, percent-encoded when the client asked for encoding-type=url. */
static void xml_key(struct buf *b, const char *name, const char *val, int url)
{
	struct buf e = BUF_INIT;

	if (url) {
		s3_uri_encode(&e, val, strlen(val), 1);
		xml_el(b, name, e.ptr);
	} else {
		xml_el(b, name, val);
	}
	buf_release(&e);
}

static int send_error_msg(struct s3_req *s, enum s3_err e, const char *msg)
{
	struct buf b = BUF_INIT;

	gw_resp_status(s->r, s3_err_status(e));
	add_common(s);
	if (s->head || e == S3E_NotModified) {
		gw_resp_body(s->r, NULL, 0);
		return 0;
	}
	buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	xml_el(&b, "Code", s3_err_code(e));
	xml_el(&b, "Message", msg ? msg : s3_err_message(e));
	if (s->key)
		xml_el(&b, "Key", s->key);
	if (s->bucket)
		xml_el(&b, "BucketName", s->bucket);
	xml_el(&b, "Resource", gw_req_raw_path(s->r));
	xml_el(&b, "RequestId", s->reqid);
	buf_adds(&b, "<HostId></HostId></Error>");
	gw_resp_header(s->r, "Content-Type", "application/xml");
	gw_resp_body(s->r, b.ptr, b.len);
	buf_release(&b);
	return 0;
}

static int send_error(struct s3_req *s, enum s3_err e)
{
	return send_error_msg(s, e, NULL);
}

static int send_empty(struct s3_req *s, int status)
{
	gw_resp_status(s->r, status);
	add_common(s);
	gw_resp_body(s->r, NULL, 0);
	return 0;
}

static void quote_etag(const char *etag, char *out, size_t n)
{
	snprintf(out, n, "\"%s\"", etag);
}

/* ---------------------------------------------------------------- auth */

static const char *hdr_lookup(void *arg, const char *lname)
{
	return gw_req_header(arg, lname);
}

struct v2_amz {
	struct s3_v2_hdr *v;
	size_t n, cap;
};

static int v2_amz_cb(void *arg, const char *name, const char *value)
{
	struct v2_amz *a = arg;

	if (strncasecmp(name, "x-amz-", 6))
		return 0;
	if (a->n == a->cap) {
		if (a->cap >= 256)
			return 1; /* more would only feed a hostile request */
		a->cap = a->cap ? 2 * a->cap : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n].name = xstrdup(name);
	for (char *c = (char *)a->v[a->n].name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	a->v[a->n++].value = value;
	return 0;
}

/*
 * SigV2 (s3.h), header form (hdr = "KEY:SIG" after "AWS ") or presigned
 * (hdr NULL). The resource is the path as sent, with the bucket in front
 * for a virtual-host request. A request with x-amz-date may have been
 * signed with that date in place of Date or with an empty Date line (AWS's
 * rule): both are tried.
 */
static enum s3_err check_auth_v2(struct s3_req *s, const char *hdr)
{
	struct s3_gw *g = s->g;
	struct v2_amz amz = { NULL, 0, 0 };
	struct buf sts = BUF_INIT, res = BUF_INIT;
	const char *sig, *date, *xdate = gw_req_header(s->r, "x-amz-date");
	char want[29];
	int64_t t, now = now_us() / 1000000;
	enum s3_err e = S3E_OK;
	uint64_t exp;

	if (hdr) {
		const char *colon = strrchr(hdr, ':');

		if (!colon || colon == hdr || (size_t)(colon - hdr) >= sizeof(s->sv.access_key))
			return S3E_AuthorizationHeaderMalformed;
		memcpy(s->sv.access_key, hdr, (size_t)(colon - hdr));
		s->sv.access_key[colon - hdr] = 0;
		sig = colon + 1;
		date = gw_req_header(s->r, "Date");
		if (xdate ? s3_parse_http_date(xdate, &t) : !date || s3_parse_http_date(date, &t))
			return S3E_AccessDenied;
		if (t > now + g->c.max_skew_s || t < now - g->c.max_skew_s)
			return S3E_RequestTimeTooSkewed;
	} else {
		const char *ak = s3_query_get(&s->q, "AWSAccessKeyId");

		sig = s3_query_get(&s->q, "Signature");
		date = s3_query_get(&s->q, "Expires");
		if (!ak || !*ak || strlen(ak) >= sizeof(s->sv.access_key) || !sig || !date ||
		    parse_u64(date, &exp))
			return S3E_AccessDenied;
		snprintf(s->sv.access_key, sizeof(s->sv.access_key), "%s", ak);
		if ((int64_t)exp <= now)
			return S3E_AccessDenied; /* expired */
		xdate = NULL;
	}
	if (strlen(sig) != 28)
		return S3E_SignatureDoesNotMatch;
	if (strcmp(s->sv.access_key, g->c.access_key) &&
	    (e = s3access_user_lookup(g->cfg, &g->iam_key, s->sv.access_key, &s->iam, &s->user,
				      &s->user_secret)))
		return e;
	gw_req_headers(s->r, v2_amz_cb, &amz);
	if (s->vhost)
		buf_addf(&res, "/%s", s->bucket);
	buf_adds(&res, gw_req_raw_path(s->r));
	e = S3E_SignatureDoesNotMatch;
	/* botocore signs a bucket as "/bucket/" and sends "/bucket": take either */
	for (int slash = 0; slash < (s->key ? 1 : 2) && e; slash++) {
		if (slash && res.len > 1 && res.ptr[res.len - 1] == '/')
			res.ptr[--res.len] = 0;
		else if (slash)
			buf_addch(&res, '/');
		for (int pass = 0; pass < (xdate ? 2 : 1) && e; pass++) {
			buf_reset(&sts);
			s3_v2_string_to_sign(&sts, s->method, gw_req_header(s->r, "Content-MD5"),
					     gw_req_header(s->r, "Content-Type"), pass ? "" : date,
					     amz.v, amz.n, res.ptr, &s->q);
			s3_v2_sign(s->user ? s->user_secret.ptr : g->c.secret_key, sts.ptr,
				   sts.len, want);
			if (!CRYPTO_memcmp(want, sig, 28))
				e = S3E_OK;
		}
	}
	if (e)
		log_debug("s3: SigV2 mismatch; string to sign:\n%s", sts.ptr);
	for (size_t i = 0; i < amz.n; i++)
		free((char *)amz.v[i].name);
	free(amz.v);
	buf_release(&sts);
	buf_release(&res);
	return e;
}

static enum s3_err check_auth(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	const char *auth = gw_req_header(s->r, "Authorization");
	const char *payload = NULL;
	struct buf canon = BUF_INIT;
	char sig[65];
	int64_t t, now = now_us() / 1000000;
	enum s3_err e = S3E_OK;

	if (auth) {
		const char *d = gw_req_header(s->r, "x-amz-date");

		if (!strncmp(auth, "AWS ", 4))
			return check_auth_v2(s, auth + 4);
		if (s3_parse_auth_header(auth, &s->sv))
			return S3E_AuthorizationHeaderMalformed;
		if (d) {
			if (s3_parse_amz_date(d, &t))
				return S3E_AccessDenied;
			snprintf(s->sv.amz_date, sizeof(s->sv.amz_date), "%s", d);
		} else {
			struct tm tm;
			time_t tt;

			d = gw_req_header(s->r, "Date");
			if (!d || s3_parse_http_date(d, &t))
				return S3E_AccessDenied;
			tt = (time_t)t;
			gmtime_r(&tt, &tm);
			strftime(s->sv.amz_date, sizeof(s->sv.amz_date), "%Y%m%dT%H%M%SZ", &tm);
		}
		payload = gw_req_header(s->r, "x-amz-content-sha256");
		if (!payload) /* signed as empty, body unchecked (as MinIO does) */
			payload = "";
	} else if (s3_query_has(&s->q, "AWSAccessKeyId")) {
		return check_auth_v2(s, NULL);
	} else if (s3_query_has(&s->q, "X-Amz-Algorithm")) {
		if (s3_parse_presigned(&s->q, &s->sv))
			return S3E_AuthorizationHeaderMalformed;
		if (s3_parse_amz_date(s->sv.amz_date, &t))
			return S3E_AccessDenied;
		payload = s3_query_get(&s->q, "X-Amz-Content-Sha256");
		if (!payload)
			payload = "UNSIGNED-PAYLOAD";
	} else {
		s->anon = 1;
		return S3E_AccessDenied;
	}
	if (strcmp(s->sv.access_key, g->c.access_key) &&
	    (e = s3access_user_lookup(g->cfg, &g->iam_key, s->sv.access_key, &s->iam, &s->user,
				      &s->user_secret)))
		return e;
	e = s3_check_signed_headers(s->sv.signed_headers, hdr_lookup, s->r);
	if (e)
		return e;
	if (strcmp(s->sv.service, "s3") || strncmp(s->sv.amz_date, s->sv.date, 8))
		return S3E_AuthorizationHeaderMalformed;
	if (s->sv.presigned) {
		if (now < t - g->c.max_skew_s)
			return S3E_RequestTimeTooSkewed;
		/* valid for [t, t + expires): X-Amz-Expires=0 is never valid */
		if (now >= t + s->sv.expires)
			return S3E_AccessDenied;
	} else if (t > now + g->c.max_skew_s || t < now - g->c.max_skew_s) {
		return S3E_RequestTimeTooSkewed;
	}
	if (s3_canonical_request(&canon, s->method, gw_req_raw_path(s->r), gw_req_raw_query(s->r),
				 s->sv.signed_headers, hdr_lookup, s->r, *payload ? payload : EMPTY_SHA256,
				 s->sv.presigned)) {
		e = S3E_AuthorizationHeaderMalformed;
		goto out;
	}
	s3_sign(s->user ? s->user_secret.ptr : g->c.secret_key, &s->sv, canon.ptr, s->skey, sig);
	if (CRYPTO_memcmp(sig, s->sv.signature, 64)) {
		log_debug("s3: signature mismatch; canonical request:\n%s", canon.ptr);
		e = S3E_SignatureDoesNotMatch;
		goto out;
	}
	memcpy(s->prev_sig, sig, 65);
	if (!strcmp(payload, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")) {
		s->streaming = 1;
		s->stream_signed = 1;
	} else if (!strcmp(payload, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")) {
		s->streaming = 1;
	} else if (*payload && strcmp(payload, "UNSIGNED-PAYLOAD")) {
		if (strlen(payload) != 64) {
			e = S3E_XAmzContentSHA256Mismatch;
			goto out;
		}
		s->want_sha = payload;
	}
out:
	buf_release(&canon);
	return e;
}

/* ---------------------------------------------------------------- body */

static int body_setup(struct s3_req *s)
{
	s->md5 = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s->md5, EVP_md5(), NULL);
	if (s->want_sha) {
		s->sha = EVP_MD_CTX_new();
		EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL);
	}
	s->body_len = gw_req_content_length(s->r);
	if (s->streaming) {
		const char *d = gw_req_header(s->r, "x-amz-decoded-content-length");
		uint64_t v;

		if (!d || parse_u64(d, &v))
			return -1;
		s->body_len = (int64_t)v;
		s3_chunked_init(&s->ch);
		s->raw = gw_req_alloc(s->r, 64 * 1024);
		s->chunk_sha = EVP_MD_CTX_new();
		EVP_DigestInit_ex(s->chunk_sha, EVP_sha256(), NULL);
	}
	return 0;
}

static void body_free(struct s3_req *s)
{
	EVP_MD_CTX_free(s->md5);
	EVP_MD_CTX_free(s->sha);
	EVP_MD_CTX_free(s->chunk_sha);
}

/* Payload bytes; 0 at the end; -1 with body_err set. */
static ssize_t body_read(struct s3_req *s, void *out, size_t len)
{
	ssize_t n;

	if (!s->streaming) {
		int64_t left = s->body_len < 0 ? (int64_t)len : s->body_len - s->consumed;

		if (left <= 0)
			return 0;
		n = gw_req_read(s->r, out, (size_t)MIN((int64_t)len, left));
		if (n < 0 || (n == 0 && s->body_len >= 0)) {
			s->body_err = S3E_IncompleteBody;
			return -1;
		}
		s->consumed += n;
	} else {
		size_t got = 0;

		for (;;) {
			const uint8_t *in;
			size_t inlen;

			if (s->ch.finished) {
				/*
				 * The framing says the body is over: anything
				 * after it is a malformed body, never more input
				 * to wait for or to skip.
				 */
				if (s->raw_pos != s->raw_len ||
				    gw_req_read(s->r, s->raw, 1) != 0) {
					s->body_err = S3E_IncompleteBody;
					return -1;
				}
				return 0;
			}
			if (s->raw_pos == s->raw_len) {
				n = gw_req_read(s->r, s->raw, 64 * 1024);
				if (n < 0 || (n == 0 && !s->ch.final)) {
					s->body_err = S3E_IncompleteBody;
					return -1;
				}
				if (n == 0)
					return 0;
				s->raw_pos = 0;
				s->raw_len = (size_t)n;
			}
			in = s->raw + s->raw_pos;
			inlen = s->raw_len - s->raw_pos;
			if (s3_chunked_feed(&s->ch, &in, &inlen, out, len, &got)) {
				s->body_err = S3E_IncompleteBody;
				return -1;
			}
			/* Every turn must consume input or emit payload: never spin. */
			if (s->raw_len - inlen == s->raw_pos && !got && !s->ch.chunk_done) {
				s->body_err = S3E_IncompleteBody;
				return -1;
			}
			s->raw_pos = s->raw_len - inlen;
			if (got)
				EVP_DigestUpdate(s->chunk_sha, out, got);
			if (s->ch.chunk_done) {
				uint8_t md[32];
				char hex[65], want[65];
				unsigned int l;

				EVP_DigestFinal_ex(s->chunk_sha, md, &l);
				EVP_DigestInit_ex(s->chunk_sha, EVP_sha256(), NULL);
				if (s->stream_signed) {
					s3_hex(md, 32, hex);
					s3_chunk_sign(s->skey, &s->sv, s->prev_sig, hex, want);
					if (CRYPTO_memcmp(want, s->ch.sig, 64)) {
						s->body_err = S3E_SignatureDoesNotMatch;
						return -1;
					}
					memcpy(s->prev_sig, want, 65);
				}
			}
			if (got)
				break;
		}
		n = (ssize_t)got;
	}
	s->produced += (uint64_t)n;
	if (s->streaming && s->body_len >= 0 && s->produced > (uint64_t)s->body_len) {
		s->body_err = S3E_IncompleteBody;
		return -1;
	}
	EVP_DigestUpdate(s->md5, out, (size_t)n);
	if (s->sha)
		EVP_DigestUpdate(s->sha, out, (size_t)n);
	return n;
}

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

int s3_b64_decode16(const char *in, uint8_t out[16])
{
	uint8_t tmp[64];
	size_t l = strlen(in);
	int n;

	/* 22 digits and two pads: EVP_DecodeBlock would take '=' as a digit. */
	if (l != 24 || strspn(in, B64_ALPHABET) != 22 || strcmp(in + 22, "=="))
		return -EINVAL;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)l);
	if (n != 18) /* 16 bytes + two '=' pads decode as zeros */
		return -EINVAL;
	memcpy(out, tmp, 16);
	return 0;
}

/* After the body ended: lengths and digests. */
static enum s3_err body_finish(struct s3_req *s)
{
	unsigned int l;
	const char *cmd5 = gw_req_header(s->r, "Content-MD5");

	if (s->body_len >= 0 && s->produced != (uint64_t)s->body_len)
		return S3E_IncompleteBody;
	if (s->streaming && !s->ch.final)
		return S3E_IncompleteBody;
	EVP_DigestFinal_ex(s->md5, s->md5_out, &l);
	if (cmd5) {
		uint8_t want[16];

		if (s3_b64_decode16(cmd5, want))
			return S3E_InvalidDigest;
		if (memcmp(want, s->md5_out, 16))
			return S3E_BadDigest;
	}
	if (s->sha) {
		uint8_t md[32];
		char hex[65];

		EVP_DigestFinal_ex(s->sha, md, &l);
		s3_hex(md, 32, hex);
		if (strcasecmp(hex, s->want_sha))
			return S3E_XAmzContentSHA256Mismatch;
	}
	return S3E_OK;
}

/* A small body (XML) read whole, at most cap bytes. */
static enum s3_err read_small(struct s3_req *s, size_t cap, struct buf *out)
{
	char tmp[16384];
	ssize_t n;

	if (s->body_len > (int64_t)cap)
		return S3E_MalformedXML;
	while ((n = body_read(s, tmp, sizeof(tmp))) > 0) {
		if (out->len + (size_t)n > cap)
			return S3E_MalformedXML;
		buf_add(out, tmp, (size_t)n);
	}
	if (n < 0)
		return s->body_err;
	return body_finish(s);
}

/* ---------------------------------------------------------------- paths and xattrs */

/* The path of key in this request's bucket: only through the name gate (s3util.c). */
static enum s3_err obj_path(struct s3_req *s, const char *key, struct buf *out)
{
	return s3_name_path(s->root, key, 0, out);
}

/* A key S3 accepts and that maps onto a path inside the bucket. */
static enum s3_err check_key(struct s3_req *s, const char *key)
{
	struct buf path = BUF_INIT;
	enum s3_err e = obj_path(s, key, &path);

	buf_release(&path);
	return e;
}

static int get_xattr_str(struct s3_gw *g, uint64_t ino, const char *name, struct buf *out)
{
	buf_reset(out);
	return fs_getxattr(g->fs, NULL, ino, name, out);
}

static int set_xattr_str(struct s3_gw *g, uint64_t ino, const char *name, const char *v)
{
	return fs_setxattr(g->fs, NULL, ino, name, v, strlen(v), 0);
}

static const char *const meta_hdrs[] = { "content-type", "content-encoding", "content-disposition",
					 "cache-control", "expires", "content-language" };

static int meta_cb(void *arg, const char *name, const char *value)
{
	struct buf *b = arg;
	int keep = !strncasecmp(name, "x-amz-meta-", 11);

	for (size_t i = 0; i < ARRAY_SIZE(meta_hdrs) && !keep; i++)
		keep = !strcasecmp(name, meta_hdrs[i]);
	if (!keep || strchr(value, '\n'))
		return 0;
	for (const char *c = name; *c; c++)
		buf_addch(b, (char)tolower((unsigned char)*c));
	buf_addf(b, ": %s\n", value);
	return 0;
}

/* The persisted headers of this request, as "name: value" lines. */
static void request_meta(struct s3_req *s, struct buf *out)
{
	buf_reset(out);
	gw_req_headers(s->r, meta_cb, out);
}

/* Emit the persisted headers of an object, minus those overridden by response-*. */
static int emit_meta(struct s3_req *s, const char *meta)
{
	const char *p = meta;
	int have_ct = 0;

	while (p && *p) {
		const char *nl = strchr(p, '\n'), *colon = strstr(p, ": ");
		char name[256];
		char *val;
		size_t vl;

		if (!nl)
			break;
		if (colon && colon < nl && (size_t)(colon - p) < sizeof(name)) {
			char ov[300];

			memcpy(name, p, (size_t)(colon - p));
			name[colon - p] = 0;
			vl = (size_t)(nl - colon - 2);
			val = xstrndup(colon + 2, vl);
			snprintf(ov, sizeof(ov), "response-%s", name);
			if (!s3_query_has(&s->q, ov)) {
				/*
				 * libmicrohttpd refuses an empty header value; one
				 * space is the same on the wire (clients strip the
				 * blanks around a value), so x-amz-meta-x: "" stays.
				 */
				gw_resp_header(s->r, name, *val ? val : " ");
				if (!strcmp(name, "content-type"))
					have_ct = 1;
			}
			free(val);
		}
		p = nl + 1;
	}
	return have_ct;
}

static void emit_overrides(struct s3_req *s)
{
	static const char *const ov[][2] = {
		{ "response-content-type", "Content-Type" },
		{ "response-content-language", "Content-Language" },
		{ "response-expires", "Expires" },
		{ "response-cache-control", "Cache-Control" },
		{ "response-content-disposition", "Content-Disposition" },
		{ "response-content-encoding", "Content-Encoding" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ov); i++) {
		const char *v = s3_query_get(&s->q, ov[i][0]);

		if (v)
			gw_resp_header(s->r, ov[i][1], v);
	}
}

static int tag_count(const char *tags)
{
	int n = 0;

	if (!*tags)
		return 0;
	for (n = 1; *tags; tags++)
		n += *tags == '&';
	return n;
}

/* Split "/a/b/c" into the parent's inode and the last name. */
static int resolve_parent(struct s3_gw *g, const char *path, uint64_t *parent, const char **name)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int r;

	if (!slash)
		return -EINVAL;
	*name = slash + 1;
	dir = xstrndup(path, (size_t)(slash - path));
	r = fs_resolve(g->fs, NULL, dir, parent, NULL);
	free(dir);
	return r;
}

static void unlink_temp(struct s3_gw *g, const char *name)
{
	uint64_t dir;

	if (!fs_resolve(g->fs, NULL, S3_TMP, &dir, NULL))
		fs_unlink(g->fs, NULL, dir, name, 1);
}

/* Remove now-empty directories from path's parent up to (not including) the bucket root. */
static void prune_dirs(struct s3_req *s, const char *path)
{
	char *p = xstrdup(path);
	size_t rootlen = strlen(s->root);

	for (;;) {
		char *slash = strrchr(p, '/');
		uint64_t parent;
		const char *name;

		if (!slash || (size_t)(slash - p) <= rootlen)
			break;
		*slash = 0;
		if (resolve_parent(s->g, p, &parent, &name))
			break;
		if (fs_rmdir(s->g->fs, NULL, parent, name, 1))
			break;
	}
	free(p);
}

/* ---------------------------------------------------------------- writing an object */

struct obj_stat {
	uint64_t ino;
	struct meta_attr attr;
	char etag[80];
	struct buf meta;
	struct buf tags;
	int is_dir;
};

struct put_src {
	const char *etag;      /* preset ETag (copy), else MD5 of the body */
	const char *meta;      /* s3-meta value */
	const char *tags;      /* s3-tags value, NULL = none */
	int noreplace;         /* If-None-Match: *: the rename must not replace */
	const char *if_match;  /* If-Match: the object replaced must have this ETag */
};

static enum s3_err stat_object(struct s3_req *s, const char *key, struct obj_stat *st);
static void stat_free(struct obj_stat *st);
static const char *cond_header(struct s3_req *s, const char *prefix, const char *name);

/*
 * Conditional writes (PutObject, CompleteMultipartUpload), as AWS does them:
 * If-None-Match: * writes only where the key has no object (412 otherwise;
 * another value is NotImplemented), If-Match only over an object with one of
 * the listed ETags (412; no object at all: 404 NoSuchKey). Checked before the
 * body is read, so a refused upload costs nothing, and again at the commit
 * (commit_temp): If-None-Match by a rename that cannot replace, which is
 * atomic in the metadata engine; If-Match by a second look just before the
 * rename. NEEDSWORK: a writer between that look and the rename still wins;
 * closing it needs a rename conditional on the replaced inode.
 */
static enum s3_err put_conditions(struct s3_req *s, const char *key, struct put_src *ps)
{
	const char *inm = cond_header(s, "", "if-none-match");
	const char *im = cond_header(s, "", "if-match");
	struct obj_stat st;
	enum s3_err e;

	ps->noreplace = 0;
	ps->if_match = NULL;
	if (!inm && !im)
		return S3E_OK;
	if (inm && strcmp(inm, "*"))
		return S3E_NotImplemented;
	e = stat_object(s, key, &st);
	if (e == S3E_OK && inm)
		e = S3E_PreconditionFailed;
	else if (e == S3E_NoSuchKey && !im)
		e = S3E_OK;
	else if (e == S3E_OK && im && !s3_etag_matches(im, st.etag))
		e = S3E_PreconditionFailed;
	stat_free(&st);
	ps->noreplace = inm != NULL;
	ps->if_match = im;
	return e;
}

/* Move tmpdir/name to path only where path is free (If-None-Match: *). */
static int rename_noreplace(struct s3_gw *g, const char *name, const char *path)
{
	const char *slash = strrchr(path, '/');
	uint64_t tdir, pdir = 1;
	char *dir;
	int r = fs_resolve(g->fs, NULL, S3_TMP, &tdir, NULL);

	if (r || !slash)
		return r ? r : -EINVAL;
	dir = xstrndup(path, (size_t)(slash - path));
	if (*dir)
		r = fs_mkdir_p(g->fs, NULL, dir, 0755, &pdir);
	free(dir);
	if (!r)
		r = fs_rename(g->fs, NULL, tdir, name, pdir, slash + 1, META_RENAME_NOREPLACE, NULL,
			      NULL);
	return r;
}

/* Stream the request body into a new temp file; name/ino out. */
static enum s3_err body_to_temp(struct s3_req *s, struct buf *tmpname, uint64_t *ino)
{
	struct s3_gw *g = s->g;
	struct fs_file *fh = NULL;
	uint8_t *buf = xmalloc(IO_BUF);
	uint64_t off = 0;
	enum s3_err e = S3E_OK;
	ssize_t n;
	int r;

	r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, ino, tmpname);
	if (r) {
		e = s3_err_from_errno(r);
		goto out;
	}
	for (;;) {
		size_t fill = 0;

		/* Fill a large buffer first: fewer, bigger writes into the chunk store. */
		while (fill < IO_BUF) {
			n = body_read(s, buf + fill, IO_BUF - fill);
			if (n <= 0)
				break;
			fill += (size_t)n;
		}
		if (n < 0) {
			e = s->body_err;
			break;
		}
		if (fill) {
			ssize_t w = fs_write(fh, off, buf, fill);

			if (w != (ssize_t)fill) {
				e = s3_err_from_errno(w < 0 ? (int)w : -EIO);
				break;
			}
			off += fill;
		}
		if (n == 0)
			break;
	}
	if (!e)
		e = body_finish(s);
	r = fs_release(fh);
	if (!e && r)
		e = s3_err_from_errno(r);
	if (!e && g->c.umask) {
		struct meta_attr a = { .mode = (uint16_t)(0666 & ~g->c.umask) };

		fs_setattr(g->fs, NULL, *ino, META_SET_MODE, &a, NULL);
	}
	if (e)
		unlink_temp(g, tmpname->ptr);
out:
	free(buf);
	return e;
}

/* Give the temp file its xattrs and rename it over path. */
static enum s3_err commit_temp(struct s3_req *s, const char *tmpname, uint64_t ino,
			       const struct put_src *ps, const char *path)
{
	struct s3_gw *g = s->g;
	int r = set_xattr_str(g, ino, XATTR_ETAG, ps->etag);

	if (!r && ps->meta && *ps->meta)
		r = set_xattr_str(g, ino, XATTR_META, ps->meta);
	if (!r && ps->tags && *ps->tags)
		r = set_xattr_str(g, ino, XATTR_TAGS, ps->tags);
	if (!r && ps->if_match) {
		struct obj_stat st;
		enum s3_err e = stat_object(s, s->key, &st);

		if (e || !s3_etag_matches(ps->if_match, st.etag)) {
			stat_free(&st);
			unlink_temp(g, tmpname);
			return e == S3E_NoSuchKey ? e : S3E_PreconditionFailed;
		}
		stat_free(&st);
	}
	if (!r && ps->noreplace)
		r = rename_noreplace(g, tmpname, path);
	else if (!r)
		r = fs_replace(g->fs, NULL, S3_TMP, tmpname, path);
	if (r) {
		unlink_temp(g, tmpname);
		return r == -EEXIST && ps->noreplace ? S3E_PreconditionFailed
						     : s3_err_from_errno(r);
	}
	return S3E_OK;
}

static enum s3_err header_tags(struct s3_req *s, struct buf *out)
{
	const char *t = gw_req_header(s->r, "x-amz-tagging");
	struct s3_query q;
	enum s3_err e = S3E_OK;

	buf_reset(out);
	if (!t || !*t)
		return S3E_OK;
	if (s3_query_parse(t, &q))
		return S3E_InvalidTag;
	if (q.n > 10)
		e = S3E_InvalidTag;
	for (size_t i = 0; i < q.n && !e; i++) {
		if (!*q.p[i].name || strlen(q.p[i].name) > 128 || strlen(q.p[i].value) > 256) {
			e = S3E_InvalidTag;
			break;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(q.p[j].name, q.p[i].name))
				e = S3E_InvalidTagDuplicate;
		if (e)
			break;
		if (out->len)
			buf_addch(out, '&');
		s3_uri_encode(out, q.p[i].name, strlen(q.p[i].name), 0);
		buf_addch(out, '=');
		s3_uri_encode(out, q.p[i].value, strlen(q.p[i].value), 0);
	}
	s3_query_free(&q);
	return e;
}

static int op_put_object(struct s3_req *s)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT, meta = BUF_INIT, tags = BUF_INIT;
	char etag[33], q[40];
	uint64_t ino;
	struct put_src ps = { 0 };
	enum s3_err e;

	if (s->body_len < 0) {
		e = S3E_MissingContentLength;
		goto out;
	}
	if ((uint64_t)s->body_len > MAX_OBJECT) {
		e = S3E_EntityTooLarge;
		goto out;
	}
	e = header_tags(s, &tags);
	if (!e)
		e = obj_path(s, s->key, &path);
	if (!e)
		e = put_conditions(s, s->key, &ps);
	if (e)
		goto out;
	/* a directory quota refuses the object before its body is stored */
	if (s->key[strlen(s->key) - 1] != '/') {
		int qr = fs_quota_precheck(s->g->fs, path.ptr, (uint64_t)s->body_len);
		if (qr) {
			e = s3_err_from_errno(qr);
			goto out;
		}
	}
	if (s->key[strlen(s->key) - 1] == '/') { /* directory object */
		char b[4096];
		ssize_t n;
		int r;

		while ((n = body_read(s, b, sizeof(b))) > 0)
			;
		e = n < 0 ? s->body_err : body_finish(s);
		if (e)
			goto out;
		if (s->produced) {
			e = S3E_InvalidArgument;
			goto out;
		}
		r = fs_mkdir_p(s->g->fs, NULL, path.ptr, 0777 & ~s->g->c.umask, NULL);
		if (r) {
			e = s3_err_from_errno(r);
			goto out;
		}
		snprintf(etag, sizeof(etag), "%s", EMPTY_MD5);
	} else {
		e = body_to_temp(s, &tmp, &ino);
		if (e)
			goto out;
		s3_hex(s->md5_out, 16, etag);
		request_meta(s, &meta);
		ps.etag = etag;
		ps.meta = meta.ptr;
		ps.tags = tags.ptr;
		e = commit_temp(s, tmp.ptr, ino, &ps, path.ptr);
		if (e)
			goto out;
	}
	quote_etag(etag, q, sizeof(q));
	gw_resp_header(s->r, "ETag", q);
	send_empty(s, 200);
out:
	buf_release(&path);
	buf_release(&tmp);
	buf_release(&meta);
	buf_release(&tags);
	return e ? send_error(s, e) : 0;
}

/* ---------------------------------------------------------------- reading */

/*
 * The object a key names, reading: symlinks made through a mount are
 * followed as the real gateway does, but only within the bucket (the bucket
 * directory is the jail root of fs_resolve_at: a link out of it is refused
 * with -EXDEV, a loop gives -ELOOP).
 */
static int resolve_object(struct s3_req *s, const char *key, uint64_t *ino,
			  struct meta_attr *attr)
{
	uint64_t root;
	struct meta_attr ra;
	int r;

	if (check_key(s, key))
		return -EACCES; /* callers checked it already: never reached */
	r = fs_resolve(s->g->fs, NULL, s->root, &root, &ra);
	if (r)
		return r;
	return fs_resolve_at(s->g->fs, NULL, root, key, FS_RESOLVE_FOLLOW, ino, attr);
}

static enum s3_err stat_object(struct s3_req *s, const char *key, struct obj_stat *st)
{
	int r;
	int dirkey = key[strlen(key) - 1] == '/';

	buf_init(&st->meta, 0);
	buf_init(&st->tags, 0);
	st->etag[0] = 0;
	r = resolve_object(s, key, &st->ino, &st->attr);
	if (r)
		return r == -ENOENT || r == -ENOTDIR || r == -ENAMETOOLONG ? S3E_NoSuchKey
									    : s3_err_from_errno(r);
	st->is_dir = st->attr.type == META_TYPE_DIRECTORY;
	if (dirkey != st->is_dir || (!st->is_dir && st->attr.type != META_TYPE_FILE))
		return S3E_NoSuchKey;
	if (st->is_dir) {
		snprintf(st->etag, sizeof(st->etag), "%s", EMPTY_MD5);
		st->attr.length = 0;
	} else {
		struct buf b = BUF_INIT;

		r = get_xattr_str(s->g, st->ino, XATTR_ETAG, &b);
		if (!r)
			snprintf(st->etag, sizeof(st->etag), "%s", b.ptr);
		buf_release(&b);
		if (r == -ENODATA)
			r = 0;
	}
	/* an object answered without its ETag or metadata would be a wrong answer */
	if (!r && (r = get_xattr_str(s->g, st->ino, XATTR_META, &st->meta)) == -ENODATA)
		r = 0;
	if (!r && (r = get_xattr_str(s->g, st->ino, XATTR_TAGS, &st->tags)) == -ENODATA)
		r = 0;
	return r ? s3_err_from_errno(r) : S3E_OK;
}

static void stat_free(struct obj_stat *st)
{
	buf_release(&st->meta);
	buf_release(&st->tags);
}

/* Does an If-Match / If-None-Match list name this ETag? */
int s3_etag_matches(const char *list, const char *etag)
{
	const char *p = list;

	while (*p) {
		const char *e;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n && p[n - 1] == ' ')
			n--;
		if (n == 1 && *p == '*')
			return 1;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;
			n -= 2;
		}
		if (n == strlen(etag) && !memcmp(p, etag, n))
			return 1;
		p += n;
		if (*p == '"')
			p++;
	}
	return 0;
}

/*
 * A conditional header, or NULL when it is absent or has an empty value. The
 * aws CLI copies a listed ETag into If-Match on each ranged GET of a large
 * download, and an object written through the mount or WebDAV lists with an
 * empty ETag: the header then arrives with no value. The real gateway (Go's
 * Header.Get == "") reads that as no condition, so must we, or the download
 * fails with 412.
 */
static const char *cond_header(struct s3_req *s, const char *prefix, const char *name)
{
	char h[80];
	const char *v;

	snprintf(h, sizeof(h), "%s%s", prefix, name);
	v = gw_req_header(s->r, h);
	if (v)
		v += strspn(v, " \t");
	return v && *v ? v : NULL;
}

/* The four conditionals; prefix "" for GET/HEAD, "x-amz-copy-source-" for copies. */
static enum s3_err check_conditions(struct s3_req *s, const char *prefix,
				    const struct obj_stat *st, int copy)
{
	const char *v;
	int64_t t;

	v = cond_header(s, prefix, "if-match");
	if (v && !s3_etag_matches(v, st->etag))
		return S3E_PreconditionFailed;
	if (!v) {
		v = cond_header(s, prefix, "if-unmodified-since");
		if (v && !s3_parse_http_date(v, &t) && st->attr.mtime > t)
			return S3E_PreconditionFailed;
	}
	v = cond_header(s, prefix, "if-none-match");
	if (v && s3_etag_matches(v, st->etag))
		return copy ? S3E_PreconditionFailed : S3E_NotModified;
	if (!v) {
		v = cond_header(s, prefix, "if-modified-since");
		if (v && !s3_parse_http_date(v, &t) && st->attr.mtime <= t)
			return copy ? S3E_PreconditionFailed : S3E_NotModified;
	}
	return S3E_OK;
}

static void object_headers(struct s3_req *s, const struct obj_stat *st)
{
	char v[100];

	if (st->etag[0]) {
		quote_etag(st->etag, v, sizeof(v));
		gw_resp_header(s->r, "ETag", v);
	}
	s3_http_date(st->attr.mtime, v, sizeof(v));
	gw_resp_header(s->r, "Last-Modified", v);
	gw_resp_header(s->r, "Accept-Ranges", "bytes");
	if (!emit_meta(s, st->meta.ptr) && !s3_query_has(&s->q, "response-content-type"))
		gw_resp_header(s->r, "Content-Type", "application/octet-stream");
	emit_overrides(s);
	if (st->tags.len) {
		snprintf(v, sizeof(v), "%d", tag_count(st->tags.ptr));
		gw_resp_header(s->r, "x-amz-tagging-count", v);
	}
}

/*
 * GetObject/HeadObject. The first piece of the body is read before anything
 * is answered (filebody.h): an object that cannot be read is a 500
 * InternalError, or a 404 NoSuchKey when another client deleted it
 * meanwhile; one that another client replaced meanwhile is served again
 * from the top, its new version whole. Once the headers are out a failure
 * aborts the connection.
 */
#define GET_TRIES 3

static int op_get_object(struct s3_req *s)
{
	struct obj_stat st;
	enum s3_err e;
	uint64_t start = 0, len;
	int partial = 0, rr;
	struct gw_body *body = NULL;

	for (int tries = 1;; tries++) {
		struct fs_file *fh;
		uint64_t ino;
		int r;

		e = stat_object(s, s->key, &st);
		if (e)
			goto out;
		e = check_conditions(s, "", &st, 0);
		if (e) {
			if (e == S3E_NotModified) {
				char v[100];

				quote_etag(st.etag, v, sizeof(v));
				gw_resp_header(s->r, "ETag", v);
			}
			goto out;
		}
		len = st.attr.length;
		rr = s3_parse_range(gw_req_header(s->r, "Range"), st.attr.length, &start, &len);
		if (rr == -ERANGE) {
			char v[64];

			snprintf(v, sizeof(v), "bytes */%llu", (unsigned long long)st.attr.length);
			gw_resp_header(s->r, "Content-Range", v);
			e = S3E_InvalidRange;
			goto out;
		}
		partial = rr == 0;
		if (!partial) {
			start = 0;
			len = st.attr.length;
		}
		if (s->head || !len)
			break;
		r = fs_open_file(s->g->fs, NULL, st.ino, O_RDONLY, &fh, NULL);
		if (!r)
			r = gw_body_prime(fh, start, len, &body);
		if (!r)
			break;
		/* What is there now tells a failed read from a changed object. */
		ino = st.ino;
		stat_free(&st);
		e = stat_object(s, s->key, &st);
		if (!e && (st.ino == ino || tries == GET_TRIES))
			e = r == -ENOENT ? S3E_NoSuchKey : s3_err_from_errno(r);
		if (e) {
			if (e != S3E_NoSuchKey)
				log_error("GET of key %s: %s", s->key, strerror(-r));
			goto out;
		}
		stat_free(&st);
	}
	if (partial) {
		char v[96];

		snprintf(v, sizeof(v), "bytes %llu-%llu/%llu", (unsigned long long)start,
			 (unsigned long long)(start + len - 1), (unsigned long long)st.attr.length);
		gw_resp_header(s->r, "Content-Range", v);
	}
	object_headers(s, &st);
	gw_resp_status(s->r, partial ? 206 : 200);
	add_common(s);
	gw_body_send(s->r, body, len);
out:
	stat_free(&st);
	return e ? send_error(s, e) : 0;
}

/*
 * GetObjectAttributes (GET ?attributes): an XML document of what
 * x-amz-object-attributes asks for, never the body. ETag (unquoted, as AWS
 * sends it here), ObjectSize, StorageClass, and ObjectParts for a multipart
 * object (its part count, from the "-N" of the ETag: the parts' own sizes
 * are not kept after completion). Checksum is never kept, so never sent.
 */
static int op_get_attributes(struct s3_req *s)
{
	static const char *const known[] = { "ETag", "Checksum", "ObjectParts", "StorageClass",
					     "ObjectSize" };
	const char *want = gw_req_header(s->r, "x-amz-object-attributes");
	struct buf out = BUF_INIT;
	unsigned mask = 0;
	struct obj_stat st;
	char v[100];
	enum s3_err e;

	for (const char *p = want; p && *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p), i;

		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (strlen(known[i]) == n && !memcmp(known[i], p, n))
				break;
		if (i == ARRAY_SIZE(known))
			return send_error_msg(s, S3E_InvalidArgument,
					      "Invalid attribute name specified.");
		mask |= 1u << i;
		p = c ? c + 1 : p + n;
	}
	if (!mask)
		return send_error_msg(s, S3E_InvalidArgument,
				      "The x-amz-object-attributes header specifying the "
				      "attributes to be retrieved is either missing or empty");
	e = stat_object(s, s->key, &st);
	if (!e)
		e = check_conditions(s, "", &st, 0);
	if (e) {
		stat_free(&st);
		return send_error(s, e);
	}
	xml_head(&out, "GetObjectAttributesResponse");
	if (mask & 1)
		xml_el(&out, "ETag", st.etag);
	if (mask & 4) {
		const char *dash = strchr(st.etag, '-');

		if (dash)
			buf_addf(&out, "<ObjectParts><PartsCount>%s</PartsCount></ObjectParts>",
				 dash + 1);
	}
	if (mask & 8)
		xml_el(&out, "StorageClass", "STANDARD");
	if (mask & 16)
		buf_addf(&out, "<ObjectSize>%llu</ObjectSize>", (unsigned long long)st.attr.length);
	buf_adds(&out, "</GetObjectAttributesResponse>");
	s3_http_date(st.attr.mtime, v, sizeof(v));
	gw_resp_header(s->r, "Last-Modified", v);
	send_xml(s, 200, &out);
	buf_release(&out);
	stat_free(&st);
	return 0;
}

/* ---------------------------------------------------------------- delete */

static enum s3_err delete_key(struct s3_req *s, const char *key)
{
	struct buf path = BUF_INIT;
	uint64_t parent, ino;
	const char *name;
	struct meta_attr a;
	enum s3_err e;
	int r;

	e = obj_path(s, key, &path);
	if (e) {
		buf_release(&path);
		return e;
	}
	r = resolve_parent(s->g, path.ptr, &parent, &name);
	if (!r)
		r = fs_lookup(s->g->fs, NULL, parent, name, &ino, &a);
	if (r == -ENOENT || r == -ENOTDIR) {
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	if (key[strlen(key) - 1] == '/') {
		if (a.type == META_TYPE_DIRECTORY) {
			r = fs_rmdir(s->g->fs, NULL, parent, name, 0);
			if (r == -ENOTEMPTY)
				r = 0;
		}
	} else if (a.type != META_TYPE_DIRECTORY) {
		r = fs_unlink(s->g->fs, NULL, parent, name, 0);
		if (r == -ENOENT)
			r = 0;
	}
	if (!r)
		prune_dirs(s, path.ptr);
out:
	buf_release(&path);
	return r ? s3_err_from_errno(r) : S3E_OK;
}

static int op_delete_object(struct s3_req *s)
{
	enum s3_err e = delete_key(s, s->key);

	return e ? send_error(s, e) : send_empty(s, 204);
}

/* May the requester (anonymous, a user; the root key always may) do action? */
static enum s3_err authorize(struct s3_req *s, const char *root, const char *bucket,
			     const char *key, const char *action)
{
	if (s->anon)
		return s3access_anonymous(s->g->cfg, root, bucket, key, action, s->r, &s->q);
	if (s->user)
		return s3access_user(s->g->cfg, s->iam->parsed, s->user, root, bucket, key, action,
				     s->r, &s->q);
	return S3E_OK;
}

static int op_delete_objects(struct s3_req *s)
{
	struct buf body = BUF_INIT, out = BUF_INIT;
	char **keys = NULL;
	size_t nkeys = 0;
	int quiet = 0;
	enum s3_err e;

	if (!gw_req_header(s->r, "Content-MD5") && !s->want_sha && !s->stream_signed) {
		/* S3 wants an integrity check here; MinIO waives it, and so do we. */
	}
	e = read_small(s, 2 << 20, &body);
	if (e)
		goto out;
	if (s3_xml_delete(body.ptr, body.len, &keys, &nkeys, &quiet)) {
		e = S3E_MalformedXML;
		goto out;
	}
	xml_head(&out, "DeleteResult");
	for (size_t i = 0; i < nkeys; i++) {
		enum s3_err de = check_key(s, keys[i]);

		if (!de)
			de = authorize(s, s->root, s->bucket, keys[i], "s3:DeleteObject");
		if (!de)
			de = delete_key(s, keys[i]);
		if (de) {
			buf_adds(&out, "<Error>");
			xml_el(&out, "Key", keys[i]);
			xml_el(&out, "Code", s3_err_code(de));
			xml_el(&out, "Message", s3_err_message(de));
			buf_adds(&out, "</Error>");
		} else if (!quiet) {
			buf_adds(&out, "<Deleted>");
			xml_el(&out, "Key", keys[i]);
			buf_adds(&out, "</Deleted>");
		}
	}
	buf_adds(&out, "</DeleteResult>");
	send_xml(s, 200, &out);
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	buf_release(&body);
	buf_release(&out);
	return e ? send_error(s, e) : 0;
}

/* ---------------------------------------------------------------- copy */

/*
 * The root directory of a bucket a request names (its path or a copy
 * source): "" for the volume's one bucket, "/NAME" with --multi-buckets. Only
 * a valid bucket name becomes a path, so "..", ".", ".sys" and ".trash" never
 * do. Whether the bucket exists is the caller's question.
 */
static enum s3_err bucket_root(struct s3_gw *g, const char *bucket, size_t n, char *root,
			       size_t cap)
{
	char name[64];

	if (n >= sizeof(name))
		return S3E_InvalidBucketName;
	memcpy(name, bucket, n);
	name[n] = 0;
	if (!s3_valid_bucket_name(name))
		return S3E_InvalidBucketName;
	if (g->c.multi_buckets)
		snprintf(root, cap, "/%s", name);
	else
		root[0] = 0;
	return S3E_OK;
}

/* "x-amz-copy-source: /bucket/key?versionId=x" into a bucket root and key. */
static enum s3_err parse_copy_source(struct s3_req *s, char *root, size_t rootcap, char **key)
{
	const char *src = gw_req_header(s->r, "x-amz-copy-source");
	struct buf d = BUF_INIT;
	const char *q, *p, *slash;
	enum s3_err e = S3E_OK;

	*key = NULL;
	q = strchr(src, '?');
	if (s3_uri_decode(&d, src, q ? (size_t)(q - src) : strlen(src), 0)) {
		e = S3E_InvalidArgument;
		goto out;
	}
	if (q && strncmp(q, "?versionId=", 11) == 0 && strcmp(q + 11, "null")) {
		e = S3E_NoSuchKey;
		goto out;
	}
	p = d.ptr;
	if (*p == '/')
		p++;
	slash = strchr(p, '/');
	if (!slash || !slash[1]) {
		e = S3E_InvalidArgument;
		goto out;
	}
	e = bucket_root(s->g, p, (size_t)(slash - p), root, rootcap);
	if (e)
		goto out;
	if (s->g->c.multi_buckets) {
		uint64_t ino;
		struct meta_attr a;

		int r = fs_resolve(s->g->fs, NULL, root, &ino, &a);
		if (r || a.type != META_TYPE_DIRECTORY) {
			e = r && r != -ENOENT && r != -ENOTDIR ? s3_err_from_errno(r)
							       : S3E_NoSuchBucket;
			goto out;
		}
	} else {
		if ((size_t)(slash - p) != strlen(s->g->volume) ||
		    memcmp(p, s->g->volume, (size_t)(slash - p))) {
			e = S3E_NoSuchBucket;
			goto out;
		}
		root[0] = 0;
	}
	*key = xstrdup(slash + 1);
	{
		/* The source key passes the same gate, under the source bucket. */
		struct buf path = BUF_INIT;

		e = s3_name_path(root, *key, 0, &path);
		buf_release(&path);
	}
out:
	buf_release(&d);
	if (e) {
		free(*key);
		*key = NULL;
	}
	return e;
}

/* Stat an object in another bucket root. */
static enum s3_err stat_in_root(struct s3_req *s, const char *root, const char *key,
				struct obj_stat *st)
{
	char saved[sizeof(s->root)];
	enum s3_err e;

	memcpy(saved, s->root, sizeof(saved));
	snprintf(s->root, sizeof(s->root), "%s", root);
	e = stat_object(s, key, st);
	memcpy(s->root, saved, sizeof(saved));
	return e;
}

static int op_copy_object(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	char sroot[300], date[40], q[100];
	char *skey = NULL;
	struct obj_stat st = { 0 };
	struct buf path = BUF_INIT, spath = BUF_INIT, tmp = BUF_INIT, meta = BUF_INIT,
		   tags = BUF_INIT, out = BUF_INIT;
	const char *md = gw_req_header(s->r, "x-amz-metadata-directive");
	const char *td = gw_req_header(s->r, "x-amz-tagging-directive");
	int replace = md && !strcasecmp(md, "REPLACE");
	struct fs_file *fh = NULL;
	struct put_src ps = { 0 };
	uint64_t ino;
	enum s3_err e;
	int r;

	buf_init(&st.meta, 0);
	buf_init(&st.tags, 0);
	e = parse_copy_source(s, sroot, sizeof(sroot), &skey);
	if (e)
		goto out;
	e = stat_in_root(s, sroot, skey, &st);
	if (e)
		goto out;
	e = check_conditions(s, "x-amz-copy-source-", &st, 1);
	if (e)
		goto out;
	e = obj_path(s, s->key, &path);
	if (!e)
		e = s3_name_path(sroot, skey, 0, &spath);
	if (e)
		goto out;
	if (!strcmp(spath.ptr, path.ptr) && !replace && !(td && !strcasecmp(td, "REPLACE"))) {
		e = S3E_InvalidRequest;
		goto out;
	}
	if (replace)
		request_meta(s, &meta);
	else
		buf_adds(&meta, st.meta.ptr);
	if (td && !strcasecmp(td, "REPLACE")) {
		e = header_tags(s, &tags);
		if (e)
			goto out;
	} else {
		buf_adds(&tags, st.tags.ptr);
	}
	if (st.is_dir) {
		r = fs_mkdir_p(g->fs, NULL, path.ptr, 0777 & ~g->c.umask, &ino);
		if (r) {
			e = s3_err_from_errno(r);
			goto out;
		}
	} else {
		r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, &ino, &tmp);
		if (r) {
			e = s3_err_from_errno(r);
			goto out;
		}
		r = fs_release(fh);
		if (!r)
			r = fs_clone(g->fs, NULL, st.ino, ino);
		if (r) {
			unlink_temp(g, tmp.ptr);
			e = s3_err_from_errno(r);
			goto out;
		}
		ps.etag = st.etag[0] ? st.etag : EMPTY_MD5;
		ps.meta = meta.ptr;
		ps.tags = tags.ptr;
		e = commit_temp(s, tmp.ptr, ino, &ps, path.ptr);
		if (e)
			goto out;
	}
	xml_head(&out, "CopyObjectResult");
	s3_iso_date(now_us() / 1000000, 0, date, sizeof(date));
	xml_el(&out, "LastModified", date);
	quote_etag(st.etag[0] ? st.etag : EMPTY_MD5, q, sizeof(q));
	xml_el(&out, "ETag", q);
	buf_adds(&out, "</CopyObjectResult>");
	send_xml(s, 200, &out);
out:
	free(skey);
	stat_free(&st);
	buf_release(&path);
	buf_release(&spath);
	buf_release(&tmp);
	buf_release(&meta);
	buf_release(&tags);
	buf_release(&out);
	return e ? send_error(s, e) : 0;
}

/* ---------------------------------------------------------------- tagging */

static int op_get_tagging(struct s3_req *s)
{
	struct obj_stat st;
	struct buf out = BUF_INIT;
	struct s3_query q = { 0 };
	enum s3_err e = stat_object(s, s->key, &st);

	if (e)
		goto out;
	if (s3_query_parse(st.tags.ptr, &q)) {
		e = S3E_InternalError;
		goto out;
	}
	xml_head(&out, "Tagging");
	buf_adds(&out, "<TagSet>");
	for (size_t i = 0; i < q.n; i++) {
		buf_adds(&out, "<Tag>");
		xml_el(&out, "Key", q.p[i].name);
		xml_el(&out, "Value", q.p[i].value);
		buf_adds(&out, "</Tag>");
	}
	buf_adds(&out, "</TagSet></Tagging>");
	send_xml(s, 200, &out);
out:
	s3_query_free(&q);
	stat_free(&st);
	buf_release(&out);
	return e ? send_error(s, e) : 0;
}

static int op_put_tagging(struct s3_req *s)
{
	struct obj_stat st;
	struct buf body = BUF_INIT, tags = BUF_INIT;
	enum s3_err e = stat_object(s, s->key, &st);
	int r;

	if (e)
		goto out;
	e = read_small(s, 1 << 20, &body);
	if (e)
		goto out;
	r = s3_xml_tagging(body.ptr, body.len, &tags);
	if (r) {
		e = r == -E2BIG ? S3E_InvalidTag
				: r == -EEXIST ? S3E_InvalidTagDuplicate : S3E_MalformedXML;
		goto out;
	}
	if (tags.len)
		r = set_xattr_str(s->g, st.ino, XATTR_TAGS, tags.ptr);
	else
		r = fs_removexattr(s->g->fs, NULL, st.ino, XATTR_TAGS);
	if (r && r != -ENODATA)
		e = s3_err_from_errno(r);
	else
		send_empty(s, 200);
out:
	stat_free(&st);
	buf_release(&body);
	buf_release(&tags);
	return e ? send_error(s, e) : 0;
}

static int op_delete_tagging(struct s3_req *s)
{
	struct obj_stat st;
	enum s3_err e = stat_object(s, s->key, &st);

	if (!e)
		fs_removexattr(s->g->fs, NULL, st.ino, XATTR_TAGS);
	stat_free(&st);
	return e ? send_error(s, e) : send_empty(s, 204);
}

/* ---------------------------------------------------------------- multipart */

static int valid_upload_id(const char *id)
{
	size_t n = strlen(id);

	if (n != 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return 0;
	return 1;
}

static void upload_dir(const char *id, struct buf *out)
{
	buf_reset(out);
	buf_addf(out, "%s/%.3s/%s", S3_UPLOADS, id, id);
}

/* The upload's directory, checked to belong to this bucket and key. */
static enum s3_err get_upload(struct s3_req *s, const char *id, uint64_t *dir, struct buf *path)
{
	struct buf v = BUF_INIT;
	enum s3_err e = S3E_NoSuchUpload;
	struct meta_attr a;
	int r;

	if (!id || !valid_upload_id(id))
		return S3E_NoSuchUpload;
	upload_dir(id, path);
	/* Only a missing upload is NoSuchUpload: clients give up on one, not on a 5xx. */
	if ((r = fs_resolve(s->g->fs, NULL, path->ptr, dir, &a)) || a.type != META_TYPE_DIRECTORY)
		goto fail;
	if ((r = get_xattr_str(s->g, *dir, XATTR_UP_BUCKET, &v)) || strcmp(v.ptr, s->bucket))
		goto fail;
	if ((r = get_xattr_str(s->g, *dir, XATTR_UP_KEY, &v)) || strcmp(v.ptr, s->key))
		goto fail;
	e = S3E_OK;
	goto out;
fail:
	if (r && r != -ENOENT && r != -ENOTDIR && r != -ENODATA)
		e = s3_err_from_errno(r);
out:
	buf_release(&v);
	return e;
}

static int op_create_upload(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	uint8_t rnd[16];
	char id[33];
	struct buf path = BUF_INIT, meta = BUF_INIT, tags = BUF_INIT, out = BUF_INIT;
	uint64_t dir;
	enum s3_err e;
	int r;

	e = header_tags(s, &tags);
	if (e)
		goto out;
	random_bytes(rnd, sizeof(rnd));
	s3_hex(rnd, 16, id);
	upload_dir(id, &path);
	r = fs_mkdir_p(g->fs, NULL, path.ptr, 0755, &dir);
	request_meta(s, &meta);
	if (!r)
		r = set_xattr_str(g, dir, XATTR_UP_BUCKET, s->bucket);
	if (!r)
		r = set_xattr_str(g, dir, XATTR_UP_KEY, s->key);
	if (!r && meta.len)
		r = set_xattr_str(g, dir, XATTR_META, meta.ptr);
	if (!r && tags.len)
		r = set_xattr_str(g, dir, XATTR_TAGS, tags.ptr);
	if (r) {
		e = s3_err_from_errno(r);
		goto out;
	}
	xml_head(&out, "InitiateMultipartUploadResult");
	xml_el(&out, "Bucket", s->bucket);
	xml_el(&out, "Key", s->key);
	xml_el(&out, "UploadId", id);
	buf_adds(&out, "</InitiateMultipartUploadResult>");
	send_xml(s, 200, &out);
out:
	buf_release(&path);
	buf_release(&meta);
	buf_release(&tags);
	buf_release(&out);
	return e ? send_error(s, e) : 0;
}

static int part_number(struct s3_req *s, int *n)
{
	const char *v = s3_query_get(&s->q, "partNumber");

	if (!v || parse_int(v, n) || *n < 1 || *n > 10000)
		return -EINVAL;
	return 0;
}

/* md5 hex of a file's bytes (for UploadPartCopy of a range). */
static int file_md5(struct s3_gw *g, uint64_t ino, uint64_t len, char out[33])
{
	struct fs_file *fh;
	uint8_t *buf, md[16];
	EVP_MD_CTX *ctx;
	uint64_t off = 0;
	unsigned int l;
	int r = fs_open_file(g->fs, NULL, ino, O_RDONLY, &fh, NULL);

	if (r)
		return r;
	buf = xmalloc(IO_BUF);
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	while (off < len) {
		ssize_t n = fs_read(fh, off, buf, (size_t)MIN((uint64_t)IO_BUF, len - off));

		if (n <= 0) {
			r = n < 0 ? (int)n : -EIO;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, md, &l);
	s3_hex(md, 16, out);
	EVP_MD_CTX_free(ctx);
	free(buf);
	fs_release(fh);
	return r;
}


/*
 * x-amz-copy-source-range: only "bytes=FIRST-LAST" is allowed (no suffix, no
 * open end, one range). Bad syntax is InvalidArgument; a range the source
 * cannot satisfy is InvalidRange, as AWS answers.
 */
enum s3_err s3_copy_source_range(const char *v, uint64_t size, uint64_t *start,
				 uint64_t *len)
{
	uint64_t a, b;
	const char *dash;
	char num[24];
	size_t n;

	if (strncmp(v, "bytes=", 6))
		return S3E_InvalidArgument;
	v += 6;
	dash = strchr(v, '-');
	if (!dash || (n = (size_t)(dash - v)) == 0 || n >= sizeof(num))
		return S3E_InvalidArgument;
	memcpy(num, v, n);
	num[n] = 0;
	if (parse_u64(num, &a) || parse_u64(dash + 1, &b) || b < a)
		return S3E_InvalidArgument;
	if (b >= size)
		return S3E_InvalidRange;
	*start = a;
	*len = b - a + 1;
	return S3E_OK;
}

static int op_upload_part(struct s3_req *s, int copy)
{
	struct s3_gw *g = s->g;
	struct buf dpath = BUF_INIT, ppath = BUF_INIT, tmp = BUF_INIT, out = BUF_INIT;
	char etag[33], q[40];
	uint64_t dir, ino;
	int pn, r;
	enum s3_err e;
	struct put_src ps = { 0 };

	e = get_upload(s, s3_query_get(&s->q, "uploadId"), &dir, &dpath);
	if (e)
		goto out;
	if (part_number(s, &pn)) {
		e = S3E_InvalidArgument;
		goto out;
	}
	buf_addf(&ppath, "%s/%d", dpath.ptr, pn);
	if (!copy) {
		if (s->body_len < 0) {
			e = S3E_MissingContentLength;
			goto out;
		}
		{
			/* a part that alone cannot fit the key's quota is refused unstored */
			struct buf kp = BUF_INIT;
			r = obj_path(s, s->key, &kp) ? 0
						      : fs_quota_precheck(g->fs, kp.ptr,
									  (uint64_t)s->body_len);
			buf_release(&kp);
			if (r) {
				e = s3_err_from_errno(r);
				goto out;
			}
		}
		e = body_to_temp(s, &tmp, &ino);
		if (e)
			goto out;
		s3_hex(s->md5_out, 16, etag);
	} else {
		char sroot[300], *skey = NULL;
		struct obj_stat st = { 0 };
		uint64_t start = 0, len;
		struct fs_file *fh;
		const char *rng = gw_req_header(s->r, "x-amz-copy-source-range");

		buf_init(&st.meta, 0);
		buf_init(&st.tags, 0);
		e = parse_copy_source(s, sroot, sizeof(sroot), &skey);
		if (!e)
			e = stat_in_root(s, sroot, skey, &st);
		free(skey);
		if (!e)
			e = check_conditions(s, "x-amz-copy-source-", &st, 1);
		len = st.attr.length;
		if (!e && rng)
			e = s3_copy_source_range(rng, st.attr.length, &start, &len);
		if (!e) {
			r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, &ino, &tmp);
			if (!r)
				r = fs_release(fh);
			if (!r && len) {
				uint64_t done = 0;

				while (done < len) {
					ssize_t n = fs_copy_file_range(g->fs, NULL, st.ino,
								       start + done, ino, done,
								       len - done);
					if (n <= 0) {
						r = n < 0 ? (int)n : -EIO;
						break;
					}
					done += (uint64_t)n;
				}
			}
			if (!r)
				r = file_md5(g, ino, len, etag);
			if (r) {
				if (tmp.len)
					unlink_temp(g, tmp.ptr);
				e = s3_err_from_errno(r);
			}
		}
		stat_free(&st);
		if (e)
			goto out;
	}
	ps.etag = etag;
	e = commit_temp(s, tmp.ptr, ino, &ps, ppath.ptr);
	if (e)
		goto out;
	quote_etag(etag, q, sizeof(q));
	if (copy) {
		char date[40];

		xml_head(&out, "CopyPartResult");
		s3_iso_date(now_us() / 1000000, 0, date, sizeof(date));
		xml_el(&out, "LastModified", date);
		xml_el(&out, "ETag", q);
		buf_adds(&out, "</CopyPartResult>");
		send_xml(s, 200, &out);
	} else {
		gw_resp_header(s->r, "ETag", q);
		send_empty(s, 200);
	}
out:
	buf_release(&dpath);
	buf_release(&ppath);
	buf_release(&tmp);
	buf_release(&out);
	return e ? send_error(s, e) : 0;
}

static int remove_cb(void *arg, const struct meta_dirent *d)
{
	struct buf *names = arg;

	buf_add(names, d->name, d->namelen);
	buf_addch(names, 0);
	return 0;
}

/* Remove an upload's directory and its parts. */
/* 0, or the first failure other than "already gone" (the upload may remain). */
static int remove_upload(struct s3_gw *g, const char *id, uint64_t dir)
{
	struct buf names = BUF_INIT, path = BUF_INIT;
	uint64_t parent;
	const char *name;
	int r, err;

	err = fs_list(g->fs, NULL, dir, NULL, 0, remove_cb, &names);
	for (size_t off = 0; off < names.len; off += strlen(names.ptr + off) + 1)
		if ((r = fs_unlink(g->fs, NULL, dir, names.ptr + off, 1)) && r != -ENOENT && !err)
			err = r;
	upload_dir(id, &path);
	r = resolve_parent(g, path.ptr, &parent, &name);
	if (!r)
		r = fs_rmdir(g->fs, NULL, parent, name, 1);
	if (r && r != -ENOENT && !err)
		err = r;
	buf_release(&names);
	buf_release(&path);
	return err == -ENOENT ? 0 : err;
}

static int op_abort_upload(struct s3_req *s)
{
	struct buf path = BUF_INIT;
	uint64_t dir;
	const char *id = s3_query_get(&s->q, "uploadId");
	enum s3_err e = get_upload(s, id, &dir, &path);

	if (!e)
		e = s3_err_from_errno(remove_upload(s->g, id, dir));
	buf_release(&path);
	return e ? send_error(s, e) : send_empty(s, 204);
}

static int op_complete_upload(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	const char *id = s3_query_get(&s->q, "uploadId");
	struct buf dpath = BUF_INIT, body = BUF_INIT, path = BUF_INIT, tmp = BUF_INIT,
		   meta = BUF_INIT, tags = BUF_INIT, v = BUF_INIT, out = BUF_INIT;
	struct s3_part_ref *parts = NULL;
	size_t nparts = 0;
	uint64_t dir, ino = 0, off = 0;
	struct fs_file *fh = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint8_t md[16];
	unsigned int l;
	char etag[48], q[60];
	struct put_src cond = { 0 };
	enum s3_err e;
	int r = 0;

	e = get_upload(s, id, &dir, &dpath);
	if (!e)
		e = put_conditions(s, s->key, &cond);
	if (e)
		goto out;
	e = read_small(s, 4 << 20, &body);
	if (e)
		goto out;
	if (s3_xml_complete(body.ptr, body.len, &parts, &nparts)) {
		e = S3E_MalformedXML;
		goto out;
	}
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].number < 1 || parts[i].number > 10000) {
			e = S3E_InvalidPart;
			goto out;
		}
		if (i && parts[i].number <= parts[i - 1].number) {
			e = S3E_InvalidPartOrder;
			goto out;
		}
	}
	r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, &ino, &tmp);
	if (!r)
		r = fs_release(fh);
	if (r) {
		e = s3_err_from_errno(r);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (size_t i = 0; i < nparts && !e; i++) {
		char name[16];
		uint64_t pino, done = 0;
		struct meta_attr a;
		uint8_t bin[16];

		snprintf(name, sizeof(name), "%d", parts[i].number);
		if (fs_lookup(g->fs, NULL, dir, name, &pino, &a) ||
		    get_xattr_str(g, pino, XATTR_ETAG, &v) || strcmp(v.ptr, parts[i].etag) ||
		    v.len != 32) {
			e = S3E_InvalidPart;
			break;
		}
		if (i + 1 < nparts && a.length < MIN_PART) {
			e = S3E_EntityTooSmall;
			break;
		}
		for (int k = 0; k < 16; k++) {
			unsigned hi = (unsigned)(isdigit((unsigned char)v.ptr[2 * k])
							 ? v.ptr[2 * k] - '0'
							 : v.ptr[2 * k] - 'a' + 10);
			unsigned lo = (unsigned)(isdigit((unsigned char)v.ptr[2 * k + 1])
							 ? v.ptr[2 * k + 1] - '0'
							 : v.ptr[2 * k + 1] - 'a' + 10);
			bin[k] = (uint8_t)(hi << 4 | lo);
		}
		EVP_DigestUpdate(ctx, bin, 16);
		while (done < a.length) {
			ssize_t n = fs_copy_file_range(g->fs, NULL, pino, done, ino, off + done,
						       a.length - done);

			if (n <= 0) {
				e = s3_err_from_errno(n < 0 ? (int)n : -EIO);
				break;
			}
			done += (uint64_t)n;
		}
		off += a.length;
	}
	if (e) {
		unlink_temp(g, tmp.ptr);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &l);
	s3_hex(md, 16, etag);
	snprintf(etag + 32, sizeof(etag) - 32, "-%zu", nparts);
	get_xattr_str(g, dir, XATTR_META, &meta);
	get_xattr_str(g, dir, XATTR_TAGS, &tags);
	{
		struct put_src ps = { .etag = etag, .meta = meta.ptr, .tags = tags.ptr,
				      .noreplace = cond.noreplace, .if_match = cond.if_match };

		e = obj_path(s, s->key, &path);
		if (!e)
			e = commit_temp(s, tmp.ptr, ino, &ps, path.ptr);
		else
			unlink_temp(g, tmp.ptr);
	}
	if (e)
		goto out;
	remove_upload(g, id, dir);
	xml_head(&out, "CompleteMultipartUploadResult");
	xml_el(&out, "Location", gw_req_raw_path(s->r));
	xml_el(&out, "Bucket", s->bucket);
	xml_el(&out, "Key", s->key);
	quote_etag(etag, q, sizeof(q));
	xml_el(&out, "ETag", q);
	buf_adds(&out, "</CompleteMultipartUploadResult>");
	send_xml(s, 200, &out);
out:
	EVP_MD_CTX_free(ctx);
	free(parts);
	buf_release(&dpath);
	buf_release(&body);
	buf_release(&path);
	buf_release(&tmp);
	buf_release(&meta);
	buf_release(&tags);
	buf_release(&v);
	buf_release(&out);
	return e ? send_error(s, e) : 0;
}

struct part_info {
	int number;
	uint64_t ino, size;
	int64_t mtime;
};

struct part_list {
	struct part_info *p;
	size_t n;
};

static int parts_cb(void *arg, const struct meta_dirent *d)
{
	struct part_list *pl = arg;
	char name[16];
	int n;

	if (d->type != META_TYPE_FILE || d->namelen >= sizeof(name))
		return 0;
	memcpy(name, d->name, d->namelen);
	name[d->namelen] = 0;
	if (parse_int(name, &n))
		return 0;
	pl->p = xrealloc(pl->p, (pl->n + 1) * sizeof(*pl->p));
	pl->p[pl->n].number = n;
	pl->p[pl->n].ino = d->ino;
	pl->p[pl->n].size = d->attr.length;
	pl->p[pl->n].mtime = d->attr.mtime;
	pl->n++;
	return 0;
}

static int part_cmp(const void *a, const void *b)
{
	return ((const struct part_info *)a)->number - ((const struct part_info *)b)->number;
}

static int op_list_parts(struct s3_req *s)
{
	const char *id = s3_query_get(&s->q, "uploadId");
	const char *mk = s3_query_get(&s->q, "part-number-marker");
	const char *mp = s3_query_get(&s->q, "max-parts");
	struct buf dpath = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct part_list pl = { 0 };
	int marker = 0, maxp = 1000, last = 0;
	size_t shown = 0, i;
	uint64_t dir;
	enum s3_err e = get_upload(s, id, &dir, &dpath);

	if (e)
		goto out;
	if ((mk && parse_int(mk, &marker)) || (mp && (parse_int(mp, &maxp) || maxp < 0))) {
		e = S3E_InvalidArgument;
		goto out;
	}
	maxp = MIN(maxp, 1000);
	int r = fs_list(s->g->fs, NULL, dir, NULL, 0, parts_cb, &pl);
	if (r) {
		e = r == -ENOENT ? S3E_NoSuchUpload : s3_err_from_errno(r);
		goto out;
	}
	if (pl.n)
		qsort(pl.p, pl.n, sizeof(*pl.p), part_cmp);
	xml_head(&out, "ListPartsResult");
	xml_el(&out, "Bucket", s->bucket);
	xml_el(&out, "Key", s->key);
	xml_el(&out, "UploadId", id);
	buf_addf(&out, "<PartNumberMarker>%d</PartNumberMarker>", marker);
	for (i = 0; i < pl.n; i++) {
		char date[40], q[48];

		if (pl.p[i].number <= marker)
			continue;
		if ((int)shown == maxp)
			break;
		get_xattr_str(s->g, pl.p[i].ino, XATTR_ETAG, &v);
		buf_adds(&out, "<Part>");
		buf_addf(&out, "<PartNumber>%d</PartNumber>", pl.p[i].number);
		s3_iso_date(pl.p[i].mtime, 0, date, sizeof(date));
		xml_el(&out, "LastModified", date);
		quote_etag(v.ptr, q, sizeof(q));
		xml_el(&out, "ETag", q);
		buf_addf(&out, "<Size>%llu</Size></Part>", (unsigned long long)pl.p[i].size);
		last = pl.p[i].number;
		shown++;
	}
	buf_addf(&out, "<NextPartNumberMarker>%d</NextPartNumberMarker>", last);
	buf_addf(&out, "<MaxParts>%d</MaxParts><IsTruncated>%s</IsTruncated>", maxp,
		 i < pl.n ? "true" : "false");
	buf_adds(&out, "<StorageClass>STANDARD</StorageClass></ListPartsResult>");
	send_xml(s, 200, &out);
out:
	free(pl.p);
	buf_release(&dpath);
	buf_release(&out);
	buf_release(&v);
	return e ? send_error(s, e) : 0;
}

struct upload_info {
	char *key, *id;
	int64_t mtime;
};

struct upload_walk {
	struct s3_gw *g;
	const char *bucket, *prefix;
	struct upload_info *u;
	size_t n;
	uint64_t *dirs;
	size_t ndirs;
};

static int uploads_top_cb(void *arg, const struct meta_dirent *d)
{
	struct upload_walk *w = arg;

	if (d->type == META_TYPE_DIRECTORY) {
		w->dirs = xrealloc(w->dirs, (w->ndirs + 1) * sizeof(*w->dirs));
		w->dirs[w->ndirs++] = d->ino;
	}
	return 0;
}

static int uploads_cb(void *arg, const struct meta_dirent *d)
{
	struct upload_walk *w = arg;
	struct buf b = BUF_INIT, k = BUF_INIT;
	int rb, rk = -ENODATA;

	if (d->type != META_TYPE_DIRECTORY)
		return 0;
	if (!(rb = get_xattr_str(w->g, d->ino, XATTR_UP_BUCKET, &b)) && !strcmp(b.ptr, w->bucket) &&
	    !(rk = get_xattr_str(w->g, d->ino, XATTR_UP_KEY, &k)) &&
	    !strncmp(k.ptr, w->prefix, strlen(w->prefix))) {
		w->u = xrealloc(w->u, (w->n + 1) * sizeof(*w->u));
		w->u[w->n].key = buf_detach(&k, NULL);
		w->u[w->n].id = xstrndup(d->name, d->namelen);
		w->u[w->n].mtime = d->attr.mtime;
		w->n++;
	}
	buf_release(&b);
	buf_release(&k);
	/* an upload that could not be read is an error, not an upload left out */
	if (rb == -ENODATA || rb == -ENOENT)
		rb = 0;
	return rb ? rb : rk == -ENODATA || rk == -ENOENT ? 0 : rk;
}

static int upload_cmp(const void *a, const void *b)
{
	const struct upload_info *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->id, y->id);
}

static int op_list_uploads(struct s3_req *s)
{
	const char *prefix = s3_query_get(&s->q, "prefix");
	const char *km = s3_query_get(&s->q, "key-marker");
	const char *um = s3_query_get(&s->q, "upload-id-marker");
	const char *mu = s3_query_get(&s->q, "max-uploads");
	const char *delim = s3_query_get(&s->q, "delimiter");
	struct upload_walk w = { .g = s->g, .bucket = s->bucket, .prefix = prefix ? prefix : "" };
	struct buf out = BUF_INIT;
	uint64_t top;
	int maxu = 1000;
	size_t shown = 0, i;
	const struct upload_info *last = NULL;

	if (mu && (parse_int(mu, &maxu) || maxu < 0))
		return send_error(s, S3E_InvalidArgument);
	maxu = MIN(maxu, 1000);
	int r = fs_resolve(s->g->fs, NULL, S3_UPLOADS, &top, NULL);
	if (!r) {
		r = fs_list(s->g->fs, NULL, top, NULL, 0, uploads_top_cb, &w);
		for (i = 0; r >= 0 && i < w.ndirs; i++)
			r = fs_list(s->g->fs, NULL, w.dirs[i], NULL, 0, uploads_cb, &w);
	}
	if (r < 0 && r != -ENOENT) {
		r = send_error(s, s3_err_from_errno(r)); /* not a list with uploads left out */
		goto out;
	}
	r = 0;
	if (w.n)
		qsort(w.u, w.n, sizeof(*w.u), upload_cmp);
	xml_head(&out, "ListMultipartUploadsResult");
	xml_el(&out, "Bucket", s->bucket);
	xml_el(&out, "KeyMarker", km);
	xml_el(&out, "UploadIdMarker", um);
	xml_el(&out, "Prefix", prefix);
	if (delim)
		xml_el(&out, "Delimiter", delim);
	for (i = 0; i < w.n; i++) {
		char date[40];
		int c = km ? strcmp(w.u[i].key, km) : 1;

		if (c < 0 || (c == 0 && (!um || strcmp(w.u[i].id, um) <= 0)))
			continue;
		if ((int)shown == maxu)
			break;
		buf_adds(&out, "<Upload>");
		xml_el(&out, "Key", w.u[i].key);
		xml_el(&out, "UploadId", w.u[i].id);
		s3_iso_date(w.u[i].mtime, 0, date, sizeof(date));
		buf_adds(&out, "<Initiator><ID>juicefs</ID><DisplayName>juicefs</DisplayName>"
			       "</Initiator><Owner><ID>juicefs</ID><DisplayName>juicefs"
			       "</DisplayName></Owner><StorageClass>STANDARD</StorageClass>");
		xml_el(&out, "Initiated", date);
		buf_adds(&out, "</Upload>");
		last = &w.u[i];
		shown++;
	}
	xml_el(&out, "NextKeyMarker", last ? last->key : "");
	xml_el(&out, "NextUploadIdMarker", last ? last->id : "");
	buf_addf(&out, "<MaxUploads>%d</MaxUploads><IsTruncated>%s</IsTruncated>", maxu,
		 i < w.n ? "true" : "false");
	buf_adds(&out, "</ListMultipartUploadsResult>");
	send_xml(s, 200, &out);
out:
	for (i = 0; i < w.n; i++) {
		free(w.u[i].key);
		free(w.u[i].id);
	}
	free(w.u);
	free(w.dirs);
	buf_release(&out);
	return r;
}

/* ---------------------------------------------------------------- listing */

enum list_kind { LIST_V1, LIST_V2, LIST_VERSIONS };

static void b64(const char *in, struct buf *out)
{
	size_t n = strlen(in);
	char *tmp = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)tmp, (const unsigned char *)in, (int)n);
	buf_adds(out, tmp);
	free(tmp);
}

int s3_unb64(const char *in, struct buf *out)
{
	size_t n = strlen(in), body = strspn(in, B64_ALPHABET), pads = n - body;
	unsigned char *tmp;
	int l;

	/*
	 * EVP_DecodeBlock takes '=' anywhere as a zero digit and always counts
	 * three bytes a quartet, so check the form here: whole quartets, at most
	 * two pads and only at the end. The pads then say how many bytes of
	 * the last quartet are real.
	 */
	if (n % 4 || pads > 2 || strspn(in + body, "=") != pads)
		return -EINVAL;
	tmp = xmalloc(n + 1);
	l = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
	if (l < 0 || (size_t)l < pads) {
		free(tmp);
		return -EINVAL;
	}
	buf_add(out, tmp, (size_t)l - pads);
	free(tmp);
	return strlen(out->ptr) == out->len ? 0 : -EINVAL;
}

/*
 * A listing prefix that starts with '/' loses it as in the real gateway
 * (MinIO's trimLeadingSlash: runs of '/' folded, a final '/' kept, then the
 * first '/' dropped), so "/" lists the bucket and "/d/" is "d/". Only "//..."
 * still starts with '/' after that, and no key can: it lists nothing.
 */
static char *trim_leading_slash(const char *p)
{
	struct buf b = BUF_INIT;
	size_t n = strlen(p);
	char *r;

	if (!n || p[0] != '/')
		return NULL;
	/* path.Clean of a name without dot segments: '/' runs folded, no final '/' but in "/". */
	for (size_t i = 0; i < n; i++)
		if (p[i] != '/' || !b.len || b.ptr[b.len - 1] != '/')
			buf_addch(&b, p[i]);
	if (b.len > 1 && b.ptr[b.len - 1] == '/')
		b.ptr[--b.len] = 0;
	if (n > 1 && p[n - 1] == '/')
		buf_addch(&b, '/');
	r = xstrdup(b.ptr + 1);
	buf_release(&b);
	return r;
}

static int op_list(struct s3_req *s, enum list_kind kind)
{
	const char *prefix = s3_query_get(&s->q, "prefix");
	char *trimmed = trim_leading_slash(prefix ? prefix : "");
	struct buf ppath = BUF_INIT;
	enum s3_err pe;
	const char *delim = s3_query_get(&s->q, "delimiter");
	const char *mk = s3_query_get(&s->q, "max-keys");
	const char *enc = s3_query_get(&s->q, "encoding-type");
	const char *marker = NULL, *token = NULL, *start_after = NULL;
	int url = enc && !strcmp(enc, "url");
	int fetch_owner = 0;
	struct buf after = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct s3_list_res res;
	int64_t maxk = 1000;
	size_t nkeys = 0, ncp = 0, netags = 0;
	struct buf *etags;
	uint64_t *etag_inos;
	uint8_t *etag_found;
	int r;

	if (trimmed)
		prefix = trimmed;
	/* The name gate decides what the prefix may reach (an internal folder: nothing). */
	pe = prefix && *prefix == '/' ? S3E_OK : s3_name_path(s->root, prefix ? prefix : "",
							      S3_NAME_PREFIX, &ppath);
	buf_release(&ppath);
	if (pe == S3E_AccessDenied)
		pe = S3E_OK;
	if ((enc && !url) || (mk && (parse_i64(mk, &maxk) || maxk < 0)))
		pe = S3E_InvalidArgument;
	if (pe) {
		free(trimmed);
		return send_error(s, pe);
	}
	maxk = MIN(maxk, 1000);
	if (delim && !*delim)
		delim = NULL;
	if (kind == LIST_V1) {
		marker = s3_query_get(&s->q, "marker");
		if (marker)
			buf_adds(&after, marker);
	} else if (kind == LIST_V2) {
		const char *fo = s3_query_get(&s->q, "fetch-owner");

		fetch_owner = fo && !strcmp(fo, "true");
		token = s3_query_get(&s->q, "continuation-token");
		start_after = s3_query_get(&s->q, "start-after");
		if (token) {
			if (!*token || s3_unb64(token, &after)) {
				free(trimmed);
				return send_error(s, S3E_InvalidArgument);
			}
		} else if (start_after) {
			buf_adds(&after, start_after);
		}
	} else {
		marker = s3_query_get(&s->q, "key-marker");
		if (marker)
			buf_adds(&after, marker);
	}
	if (prefix && *prefix == '/') /* no key starts with '/' */
		r = s3_list(s->g->fs, s->root, 0, prefix, delim, after.ptr, 0, &res);
	else
		r = s3_list(s->g->fs, s->root, !s->g->c.multi_buckets, prefix, delim, after.ptr,
			    (size_t)maxk, &res);
	if (r) {
		free(trimmed);
		buf_release(&after);
		return send_error(s, s3_err_from_errno(r));
	}
	if (kind == LIST_V1)
		xml_head(&out, "ListBucketResult");
	else if (kind == LIST_V2)
		xml_head(&out, "ListBucketResult");
	else
		xml_head(&out, "ListVersionsResult");
	xml_el(&out, "Name", s->bucket);
	xml_key(&out, "Prefix", prefix ? prefix : "", url);
	if (kind == LIST_V1) {
		xml_key(&out, "Marker", marker ? marker : "", url);
	} else if (kind == LIST_V2) {
		if (token)
			xml_el(&out, "ContinuationToken", token);
		if (start_after)
			xml_key(&out, "StartAfter", start_after, url);
	} else {
		xml_key(&out, "KeyMarker", marker ? marker : "", url);
		xml_el(&out, "VersionIdMarker", s3_query_get(&s->q, "version-id-marker"));
	}
	for (size_t i = 0; i < res.n; i++)
		if (res.items[i].is_prefix)
			ncp++;
		else
			nkeys++;
	if (kind == LIST_V2)
		buf_addf(&out, "<KeyCount>%zu</KeyCount>", nkeys + ncp);
	buf_addf(&out, "<MaxKeys>%lld</MaxKeys>", (long long)maxk);
	if (delim)
		xml_key(&out, "Delimiter", delim, url);
	if (url)
		xml_el(&out, "EncodingType", "url");
	buf_addf(&out, "<IsTruncated>%s</IsTruncated>", res.truncated ? "true" : "false");
	if (res.truncated && (res.n || res.next)) {
		const char *last = res.next ? res.next : res.items[res.n - 1].key;

		if (kind == LIST_V1) {
			xml_key(&out, "NextMarker", last, url);
		} else if (kind == LIST_V2) {
			struct buf t = BUF_INIT;

			b64(last, &t);
			xml_el(&out, "NextContinuationToken", t.ptr);
			buf_release(&t);
		} else {
			xml_key(&out, "NextKeyMarker", last, url);
			xml_el(&out, "NextVersionIdMarker", "null");
		}
	}
	/* The page's ETags in one read (one round trip on Redis), not one per key. */
	etags = xmalloc((res.n ? res.n : 1) * sizeof(*etags));
	for (size_t i = 0; i < res.n; i++)
		buf_init(&etags[i], 0);
	etag_inos = xmalloc((res.n ? res.n : 1) * sizeof(*etag_inos));
	etag_found = xcalloc(res.n ? res.n : 1, 1);
	for (size_t i = 0; i < res.n; i++) {
		const struct s3_list_item *it = &res.items[i];

		if (!it->is_prefix && it->key[strlen(it->key) - 1] != '/')
			etag_inos[netags++] = it->ino;
	}
	if (fs_getxattrs(s->g->fs, etag_inos, netags, XATTR_ETAG, etags, etag_found))
		memset(etag_found, 0, res.n ? res.n : 1); /* as before: a failed read, no ETag */
	netags = 0;
	for (size_t i = 0; i < res.n; i++) {
		const struct s3_list_item *it = &res.items[i];
		char date[40], q[100];

		if (it->is_prefix)
			continue;
		buf_adds(&out, kind == LIST_VERSIONS ? "<Version>" : "<Contents>");
		xml_key(&out, "Key", it->key, url);
		if (kind == LIST_VERSIONS)
			buf_adds(&out, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
		s3_iso_date(it->mtime, it->mtimensec, date, sizeof(date));
		xml_el(&out, "LastModified", date);
		buf_reset(&v);
		if (it->key[strlen(it->key) - 1] == '/') {
			buf_adds(&v, EMPTY_MD5);
		} else {
			if (etag_found[netags])
				buf_add(&v, etags[netags].ptr, etags[netags].len);
			netags++;
		}
		if (v.len) {
			quote_etag(v.ptr, q, sizeof(q));
			xml_el(&out, "ETag", q);
		} else {
			buf_adds(&out, "<ETag></ETag>");
		}
		buf_addf(&out, "<Size>%llu</Size>", (unsigned long long)it->size);
		if (kind != LIST_V2 || fetch_owner)
			buf_adds(&out, "<Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID><DisplayName>minio</DisplayName></Owner>");
		buf_adds(&out, "<StorageClass>STANDARD</StorageClass>");
		buf_adds(&out, kind == LIST_VERSIONS ? "</Version>" : "</Contents>");
	}
	for (size_t i = 0; i < res.n; i++) {
		if (!res.items[i].is_prefix)
			continue;
		buf_adds(&out, "<CommonPrefixes>");
		xml_key(&out, "Prefix", res.items[i].key, url);
		buf_adds(&out, "</CommonPrefixes>");
	}
	buf_adds(&out, kind == LIST_VERSIONS ? "</ListVersionsResult>" : "</ListBucketResult>");
	send_xml(s, 200, &out);
	for (size_t i = 0; i < res.n; i++)
		buf_release(&etags[i]);
	free(etags);
	free(etag_inos);
	free(etag_found);
	s3_list_free(&res);
	free(trimmed);
	buf_release(&after);
	buf_release(&out);
	buf_release(&v);
	return 0;
}

/* ---------------------------------------------------------------- buckets */

/* S3E_OK, S3E_NoSuchBucket, or the engine's failure (never NoSuchBucket for that). */
static enum s3_err bucket_check(struct s3_req *s)
{
	uint64_t ino;
	struct meta_attr a;
	int r;

	if (!s->g->c.multi_buckets)
		return strcmp(s->bucket, s->g->volume) ? S3E_NoSuchBucket : S3E_OK;
	if (!s3_valid_bucket_name(s->bucket))
		return S3E_NoSuchBucket;
	r = fs_resolve(s->g->fs, NULL, s->root, &ino, &a);
	if (r && r != -ENOENT && r != -ENOTDIR)
		return s3_err_from_errno(r);
	return !r && a.type == META_TYPE_DIRECTORY ? S3E_OK : S3E_NoSuchBucket;
}

static int bucket_exists(struct s3_req *s)
{
	return bucket_check(s) == S3E_OK;
}

struct bucket_walk {
	struct buf *out;
	struct s3_req *s;
};

/*
 * A user without s3:ListAllMyBuckets sees the buckets it may list or locate,
 * possibly none, rather than AccessDenied: on S3 a requester of another
 * account lists its own (none), which s3-tests' fixtures rely on for their
 * alt user. The real gateway answers such a user AccessDenied (t4702).
 */
static int bucket_visible(struct s3_req *s, const char *name)
{
	char root[80];

	if (!s->list_filter)
		return 1;
	if (s->g->c.multi_buckets)
		snprintf(root, sizeof(root), "/%s", name);
	else
		root[0] = 0;
	return !authorize(s, root, name, NULL, "s3:ListBucket") ||
	       !authorize(s, root, name, NULL, "s3:GetBucketLocation");
}

static int buckets_cb(void *arg, const struct meta_dirent *d)
{
	struct bucket_walk *w = arg;
	char name[256], date[40];

	if (d->type != META_TYPE_DIRECTORY || d->namelen >= sizeof(name))
		return 0;
	memcpy(name, d->name, d->namelen);
	name[d->namelen] = 0;
	if (!s3_valid_bucket_name(name) || !bucket_visible(w->s, name))
		return 0;
	buf_adds(w->out, "<Bucket>");
	xml_el(w->out, "Name", name);
	s3_iso_date(d->attr.ctime, 0, date, sizeof(date));
	xml_el(w->out, "CreationDate", date);
	buf_adds(w->out, "</Bucket>");
	return 0;
}

static int op_list_buckets(struct s3_req *s)
{
	struct buf out = BUF_INIT;
	char date[40];

	xml_head(&out, "ListAllMyBucketsResult");
	buf_adds(&out, "<Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4"
		       "</ID><DisplayName>minio</DisplayName></Owner><Buckets>");
	if (s->g->c.multi_buckets) {
		struct bucket_walk w = { &out, s };

		fs_list(s->g->fs, NULL, 1, NULL, 0, buckets_cb, &w);
	} else {
		struct meta_attr a;
		uint64_t ino;

		fs_resolve(s->g->fs, NULL, "/", &ino, &a);
		if (bucket_visible(s, s->g->volume)) {
			buf_adds(&out, "<Bucket>");
			xml_el(&out, "Name", s->g->volume);
			s3_iso_date(a.ctime, 0, date, sizeof(date));
			xml_el(&out, "CreationDate", date);
			buf_adds(&out, "</Bucket>");
		}
	}
	buf_adds(&out, "</Buckets></ListAllMyBucketsResult>");
	send_xml(s, 200, &out);
	buf_release(&out);
	return 0;
}

/* ?policy and ?policyStatus (s3bucket.c): read the body, send the answer. */
static int op_bucket_policy(struct s3_req *s)
{
	struct s3b_answer a = S3B_ANSWER_INIT;
	struct buf body = BUF_INIT;
	enum s3_err e = S3E_OK;

	if (!strcmp(s->method, "PUT")) {
		/* read_small refuses over its cap with MalformedXML: here, too large */
		e = s->body_len > POLICY_MAX_BYTES ? S3E_PolicyTooLarge
						   : read_small(s, POLICY_MAX_BYTES, &body);
		if (e == S3E_MalformedXML)
			e = S3E_PolicyTooLarge;
	}
	if (!e)
		s3b_policy(s->g->cfg, s->method, s->root, s->bucket,
			   s3_query_has(&s->q, "policyStatus"), body.ptr, body.len, &a);
	if (e || a.err) {
		send_error_msg(s, e ? e : a.err, a.msg.len ? a.msg.ptr : NULL);
	} else if (a.ctype) {
		gw_resp_status(s->r, a.status);
		add_common(s);
		gw_resp_header(s->r, "Content-Type", a.ctype);
		gw_resp_body(s->r, a.body.ptr, a.body.len);
	} else {
		send_empty(s, a.status);
	}
	s3b_answer_release(&a);
	buf_release(&body);
	return 0;
}

static int op_bucket(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	const char *m = s->method;
	struct buf out = BUF_INIT;
	int r;

	if (!strcmp(m, "PUT") && !s->q.n) {
		uint64_t parent;
		const char *name;
		struct buf body = BUF_INIT;
		enum s3_err e;

		if (!s3_valid_bucket_name(s->bucket))
			return send_error(s, S3E_InvalidBucketName);
		/* The body, if any, must be a CreateBucketConfiguration, as AWS checks. */
		e = read_small(s, 64 << 10, &body);
		if (!e && s3_xml_create_bucket(body.ptr, body.len))
			e = S3E_MalformedXML;
		buf_release(&body);
		if (e)
			return send_error(s, e);
		if (bucket_exists(s))
			return send_error(s, S3E_BucketAlreadyOwnedByYou);
		if (!g->c.multi_buckets)
			return send_error(s, S3E_AccessDenied);
		r = resolve_parent(g, s->root, &parent, &name);
		if (!r)
			r = fs_mkdir(g->fs, NULL, parent, name, 0777 & ~g->c.umask, 0, NULL, NULL);
		if (r == -EEXIST)
			return send_error(s, S3E_BucketAlreadyOwnedByYou);
		if (r)
			return send_error(s, s3_err_from_errno(r));
		gw_resp_header(s->r, "Location", gw_req_raw_path(s->r));
		return send_empty(s, 200);
	}
	enum s3_err be = bucket_check(s);
	if (be)
		return send_error(s, be);
	if (s3_query_has(&s->q, "policy") || s3_query_has(&s->q, "policyStatus"))
		return op_bucket_policy(s);
	if (!strcmp(m, "HEAD"))
		return send_empty(s, 200);
	if (s3_query_has(&s->q, "cors"))
		return s3_cors_op(s);
	if (!strcmp(m, "DELETE") && !s->q.n) {
		uint64_t parent;
		const char *name;

		if (!g->c.multi_buckets)
			return send_error(s, S3E_MethodNotAllowed);
		r = resolve_parent(g, s->root, &parent, &name);
		if (!r)
			r = fs_rmdir(g->fs, NULL, parent, name, 0);
		if (r == -ENOTEMPTY)
			return send_error(s, S3E_BucketNotEmpty);
		if (r)
			return send_error(s, s3_err_from_errno(r));
		s3cfg_cache_forget(g->cfg, s->root); /* its documents went with it */
		return send_empty(s, 204);
	}
	if (!strcmp(m, "POST") && s3_query_has(&s->q, "delete"))
		return op_delete_objects(s);
	if (!strcmp(m, "GET")) {
		if (s3_query_has(&s->q, "location")) {
			xml_head(&out, "LocationConstraint");
			s3_xml_escape(&out, g->c.region && strcmp(g->c.region, "us-east-1")
						    ? g->c.region
						    : "");
			buf_adds(&out, "</LocationConstraint>");
			send_xml(s, 200, &out);
			buf_release(&out);
			return 0;
		}
		if (s3_query_has(&s->q, "versioning")) {
			xml_head(&out, "VersioningConfiguration");
			buf_adds(&out, "</VersioningConfiguration>");
			send_xml(s, 200, &out);
			buf_release(&out);
			return 0;
		}
		if (s3_query_has(&s->q, "versions"))
			return op_list(s, LIST_VERSIONS);
		if (s3_query_has(&s->q, "uploads"))
			return op_list_uploads(s);
		if (s3_query_has(&s->q, "acl")) {
			xml_head(&out, "AccessControlPolicy");
			buf_adds(&out, "<Owner><ID>juicefs</ID><DisplayName>juicefs</DisplayName>"
				       "</Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>juicefs</ID><DisplayName>juicefs</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>");
			send_xml(s, 200, &out);
			buf_release(&out);
			return 0;
		}
		if (s3_query_has(&s->q, "policy") || s3_query_has(&s->q, "lifecycle") ||
		    s3_query_has(&s->q, "cors") || s3_query_has(&s->q, "tagging") ||
		    s3_query_has(&s->q, "encryption") || s3_query_has(&s->q, "object-lock") ||
		    s3_query_has(&s->q, "replication") || s3_query_has(&s->q, "website") ||
		    s3_query_has(&s->q, "notification") || s3_query_has(&s->q, "logging") ||
		    s3_query_has(&s->q, "policyStatus") || s3_query_has(&s->q, "publicAccessBlock") ||
		    s3_query_has(&s->q, "ownershipControls") || s3_query_has(&s->q, "accelerate") ||
		    s3_query_has(&s->q, "requestPayment") ||
		    s3_query_has(&s->q, "intelligent-tiering") || s3_query_has(&s->q, "analytics") ||
		    s3_query_has(&s->q, "metrics") || s3_query_has(&s->q, "inventory"))
			return send_error(s, S3E_NotImplemented); /* never a listing instead */
		{
			const char *lt = s3_query_get(&s->q, "list-type");

			if (lt && !strcmp(lt, "2"))
				return op_list(s, LIST_V2);
			return op_list(s, LIST_V1);
		}
	}
	return send_error(s, S3E_MethodNotAllowed);
}

/*
 * Requests for what is not offered that S3 itself would refuse as malformed
 * get that 400 first, as AWS answers them, and only well-formed ones the 501:
 * SSE-C key headers without an algorithm, a key whose MD5 does not match,
 * an algorithm other than AES256; SSE headers on a read (reads never
 * declare SSE-S3/KMS); and object lock on a bucket, which here never has an
 * object lock configuration (InvalidRequest, as for any such bucket).
 */
static enum s3_err check_unoffered(struct s3_req *s)
{
	const char *alg = gw_req_header(s->r, "x-amz-server-side-encryption-customer-algorithm");
	const char *key = gw_req_header(s->r, "x-amz-server-side-encryption-customer-key");
	const char *md5 = gw_req_header(s->r, "x-amz-server-side-encryption-customer-key-MD5");
	int read = !strcmp(s->method, "GET") || !strcmp(s->method, "HEAD");

	if ((key || md5) && !alg)
		return S3E_InvalidArgument;
	if (alg) {
		struct buf k = BUF_INIT;
		uint8_t d[16], h[16];
		int bad;

		if (strcmp(alg, "AES256") || !key || !md5)
			return S3E_InvalidArgument;
		bad = s3_unb64(key, &k) || k.len != 32 || s3_b64_decode16(md5, d) ||
		      !EVP_Digest(k.ptr, 32, h, NULL, EVP_md5(), NULL) || memcmp(h, d, 16);
		buf_release(&k);
		if (bad)
			return S3E_InvalidArgument;
	}
	if (read && (gw_req_header(s->r, "x-amz-server-side-encryption") ||
		     gw_req_header(s->r, "x-amz-server-side-encryption-aws-kms-key-id")))
		return S3E_InvalidArgument;
	if (s3_query_has(&s->q, "retention") || s3_query_has(&s->q, "legal-hold") ||
	    gw_req_header(s->r, "x-amz-object-lock-mode") ||
	    gw_req_header(s->r, "x-amz-object-lock-retain-until-date") ||
	    gw_req_header(s->r, "x-amz-object-lock-legal-hold"))
		return S3E_InvalidRequest;
	return S3E_OK;
}

static int op_object(struct s3_req *s)
{
	const char *m = s->method;
	enum s3_err e;

	enum s3_err be = bucket_check(s);
	if (be)
		return send_error(s, be);
	e = check_key(s, s->key);
	if (e)
		return send_error(s, e);
	e = check_unoffered(s);
	if (e)
		return send_error(s, e);
	/*
	 * Server-side encryption and object lock are not offered: refuse them
	 * rather than store plain text or ignore a retention the client relies on.
	 */
	if (gw_req_header(s->r, "x-amz-server-side-encryption") ||
	    gw_req_header(s->r, "x-amz-server-side-encryption-customer-algorithm") ||
	    gw_req_header(s->r, "x-amz-server-side-encryption-aws-kms-key-id") ||
	    gw_req_header(s->r, "x-amz-copy-source-server-side-encryption-customer-algorithm") ||
	    s3_query_has(&s->q, "torrent") || s3_query_has(&s->q, "restore") ||
	    s3_query_has(&s->q, "select"))
		return send_error(s, S3E_NotImplemented);
	if (!strcmp(m, "PUT")) {
		int is_part = s3_query_has(&s->q, "uploadId") && s3_query_has(&s->q, "partNumber");

		if (s3_query_has(&s->q, "tagging"))
			return op_put_tagging(s);
		if (s3_query_has(&s->q, "acl"))
			return send_empty(s, 200);
		if (gw_req_header(s->r, "x-amz-copy-source"))
			return is_part ? op_upload_part(s, 1) : op_copy_object(s);
		if (is_part)
			return op_upload_part(s, 0);
		return op_put_object(s);
	}
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
		if (s3_query_has(&s->q, "tagging"))
			return op_get_tagging(s);
		if (s3_query_has(&s->q, "uploadId"))
			return op_list_parts(s);
		if (s3_query_has(&s->q, "attributes") && !s->head)
			return op_get_attributes(s);
		if (s3_query_has(&s->q, "acl")) {
			struct buf out = BUF_INIT;

			xml_head(&out, "AccessControlPolicy");
			buf_adds(&out, "<Owner><ID>juicefs</ID><DisplayName>juicefs</DisplayName>"
				       "</Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>juicefs</ID><DisplayName>juicefs</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>");
			send_xml(s, 200, &out);
			buf_release(&out);
			return 0;
		}
		return op_get_object(s);
	}
	if (!strcmp(m, "DELETE")) {
		if (s3_query_has(&s->q, "tagging"))
			return op_delete_tagging(s);
		if (s3_query_has(&s->q, "uploadId"))
			return op_abort_upload(s);
		return op_delete_object(s);
	}
	if (!strcmp(m, "POST")) {
		if (s3_query_has(&s->q, "uploads"))
			return op_create_upload(s);
		if (s3_query_has(&s->q, "uploadId"))
			return op_complete_upload(s);
		return send_error(s, S3E_NotImplemented);
	}
	return send_error(s, S3E_MethodNotAllowed);
}

/* ---------------------------------------------------------------- entry */

/* Bucket and key from the Host (virtual-host style) and the decoded path. */
static enum s3_err route(struct s3_req *s)
{
	struct buf path = BUF_INIT;
	const char *raw = gw_req_raw_path(s->r), *p, *slash;
	const char *host = gw_req_header(s->r, "Host");
	char *vhost = NULL;
	enum s3_err e = S3E_OK;

	if (s3_uri_decode(&path, raw, strlen(raw), 0) || path.ptr[0] != '/') {
		e = S3E_InvalidArgument;
		goto out;
	}
	if (s->g->c.domain && *s->g->c.domain && host) {
		size_t hl = strcspn(host, ":"), dl = strlen(s->g->c.domain);

		if (hl > dl + 1 && host[hl - dl - 1] == '.' &&
		    !strncasecmp(host + hl - dl, s->g->c.domain, dl))
			vhost = xstrndup(host, hl - dl - 1);
	}
	p = path.ptr + 1;
	if (vhost) {
		s->vhost = 1;
		s->bucket = vhost;
		if (*p)
			s->key = xstrdup(p);
	} else if (*p) {
		slash = strchr(p, '/');
		s->bucket = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
		if (slash && slash[1])
			s->key = xstrdup(slash + 1);
	}
	/* As the real gateway's request filter: before the bucket name, before auth. */
	if (s3_bad_component(path.ptr)) {
		e = S3E_InvalidResourceName;
		goto out;
	}
	if (s->bucket)
		e = bucket_root(s->g, s->bucket, strlen(s->bucket), s->root, sizeof(s->root));
out:
	buf_release(&path);
	return e;
}

static int meta_size_cb(void *arg, const char *name, const char *value)
{
	size_t *n = arg;

	if (!strncasecmp(name, "x-amz-meta-", 11))
		*n += strlen(name) + strlen(value);
	return 0;
}

/*
 * What the real gateway (MinIO's request filter) refuses before it looks at
 * anything else: a "." or ".." segment in any query value (route checked the
 * path), and user metadata over 2 KiB, counted as it counts it (each
 * x-amz-meta-* header's name and value).
 */
static enum s3_err request_filter(struct s3_req *s)
{
	size_t meta = 0;

	for (size_t i = 0; i < s->q.n; i++)
		if (s3_bad_component(s->q.p[i].value))
			return S3E_InvalidResourceName;
	gw_req_headers(s->r, meta_size_cb, &meta);
	if (meta > 2048)
		return S3E_MetadataTooLarge;
	return S3E_OK;
}

/*
 * Who may do what beyond the root key (s3access.h): an unsigned request when
 * its bucket's policy allows its action to everyone; a user's request when
 * its policies or the bucket's allow it. A copy also needs s3:GetObject on
 * its source; DeleteObjects is judged key by key (op_delete_objects).
 */
static enum s3_err check_access(struct s3_req *s)
{
	const char *action = policy_s3_action(s->method, !!s->bucket, !!s->key, &s->q, 0);
	enum s3_err e;

	if (!action || (s->anon && !s->bucket))
		return S3E_AccessDenied;
	if (!s->key && !strcmp(s->method, "POST") && s3_query_has(&s->q, "delete"))
		return S3E_OK;
	e = authorize(s, s->root, s->bucket, s->key, action);
	if (e == S3E_AccessDenied && s->user && !s->bucket) {
		s->list_filter = 1;
		return S3E_OK;
	}
	if (!e && s->key && gw_req_header(s->r, "x-amz-copy-source")) {
		char root[300];
		char *key = NULL;

		if (parse_copy_source(s, root, sizeof(root), &key))
			e = S3E_AccessDenied; /* says nothing of the source to a stranger */
		else
			e = authorize(s, root, *root ? root + 1 : s->g->volume, key,
				      "s3:GetObject");
		free(key);
	}
	return e;
}

int s3_handle(void *arg, struct gw_req *req)
{
	struct s3_req s = { 0 };
	uint8_t rnd[8];
	enum s3_err e;
	int rc = 0;

	s.g = arg;
	s.r = req;
	s.user_secret = (struct buf)BUF_INIT;
	s.method = gw_req_method(req);
	s.head = !strcmp(s.method, "HEAD");
	random_bytes(rnd, sizeof(rnd));
	s3_hex(rnd, 8, s.reqid);
	s.reqid[16] = 0;
	for (char *c = s.reqid; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	if (s3_query_parse(gw_req_raw_query(req), &s.q)) {
		send_error(&s, S3E_InvalidArgument);
		goto out;
	}
	e = route(&s);
	if (!e)
		e = request_filter(&s);
	/* Browsers: a preflight carries no credentials, a form upload its own. */
	if (!e && !strcmp(s.method, "OPTIONS")) {
		rc = s3_cors_preflight(&s);
		goto out;
	}
	if (!e && s3_is_post_object(&s)) {
		rc = s3_post_object(&s);
		goto out;
	}
	if (!e)
		e = check_auth(&s);
	if (s3admin_is_admin(gw_req_raw_path(req))) {
		rc = s3admin_handle(&s, e ? e : body_setup(&s) ? S3E_MissingContentLength : S3E_OK);
		goto out;
	}
	if ((e == S3E_AccessDenied && s.anon) || (!e && s.user))
		e = check_access(&s);
	if (e) {
		send_error(&s, e);
		goto out;
	}
	if (body_setup(&s)) {
		send_error(&s, S3E_MissingContentLength);
		goto out;
	}
	if (!s.bucket) {
		if (!strcmp(s.method, "GET"))
			rc = op_list_buckets(&s);
		else
			rc = send_error(&s, S3E_MethodNotAllowed);
	} else if (!s.key) {
		rc = op_bucket(&s);
	} else {
		rc = op_object(&s);
	}
out:
	body_free(&s);
	OPENSSL_cleanse(s.user_secret.ptr, s.user_secret.len);
	buf_release(&s.user_secret);
	s3cfg_snap_unref(s.iam);
	s3_query_free(&s.q);
	free(s.bucket);
	free(s.key);
	return rc;
}

struct s3_gw *s3_new(struct fs *fs, const struct s3_conf *c)
{
	struct s3_gw *g = xcalloc(1, sizeof(*g));

	g->fs = fs;
	g->c = *c;
	if (!g->c.max_skew_s)
		g->c.max_skew_s = 15 * 60;
	g->volume = xstrdup(fs_format(fs)->name);
	g->cfg = s3cfg_cache_new(fs, S3ACCESS_TTL_MS, 4096);
	iam_key_derive(c->access_key, c->secret_key, &g->iam_key);
	return g;
}

void s3_free(struct s3_gw *g)
{
	if (!g)
		return;
	free(g->volume);
	s3cfg_cache_free(g->cfg);
	free(g);
}

struct tmp_walk {
	struct buf names;
	int64_t cutoff;
};

static int tmp_cb(void *arg, const struct meta_dirent *d)
{
	struct tmp_walk *w = arg;

	if (d->type == META_TYPE_FILE && d->attr.mtime < w->cutoff) {
		buf_add(&w->names, d->name, d->namelen);
		buf_addch(&w->names, 0);
	}
	return 0;
}

void s3_cleanup_tmp(struct s3_gw *g, int64_t age_s)
{
	struct tmp_walk w = { BUF_INIT, now_us() / 1000000 - age_s };
	uint64_t dir;
	size_t n = 0;

	if (fs_resolve(g->fs, NULL, S3_TMP, &dir, NULL))
		return;
	fs_list(g->fs, NULL, dir, NULL, 0, tmp_cb, &w);
	for (size_t off = 0; off < w.names.len; off += strlen(w.names.ptr + off) + 1) {
		if (!fs_unlink(g->fs, NULL, dir, w.names.ptr + off, 1))
			n++;
	}
	if (n)
		log_info("removed %zu stale temp file(s) from %s", n, S3_TMP);
	buf_release(&w.names);
}

/* ---------------------------------------------------------------- for s3post.c, s3cors.c */

int s3_send_error(struct s3_req *s, enum s3_err e, const char *msg)
{
	return send_error_msg(s, e, msg);
}

int s3_send_empty(struct s3_req *s, int status)
{
	return send_empty(s, status);
}

void s3_send_xml(struct s3_req *s, int status, struct buf *b)
{
	send_xml(s, status, b);
}

void s3_send_body(struct s3_req *s, int status, const char *ctype, const void *p, size_t n)
{
	gw_resp_status(s->r, status);
	add_common(s);
	gw_resp_header(s->r, "Content-Type", ctype);
	gw_resp_body(s->r, p, n);
}

enum s3_err s3_read_body(struct s3_req *s, size_t cap, struct buf *out)
{
	return read_small(s, cap, out);
}

enum s3_err s3_bucket_check(struct s3_req *s)
{
	return bucket_check(s);
}

enum s3_err s3_key_path(struct s3_req *s, const char *key, struct buf *out)
{
	return obj_path(s, key, out);
}

int s3_temp_create(struct s3_req *s, struct fs_file **fh, uint64_t *ino, struct buf *name)
{
	return fs_create_temp(s->g->fs, NULL, S3_TMP, fh, ino, name);
}

void s3_temp_unlink(struct s3_req *s, const char *name)
{
	unlink_temp(s->g, name);
}

enum s3_err s3_temp_commit(struct s3_req *s, const char *tmpname, uint64_t ino,
			   const char *etag, const char *meta, const char *tags, const char *path)
{
	struct put_src ps = { .etag = etag, .meta = meta, .tags = tags };

	if (s->g->c.umask) {
		struct meta_attr a = { .mode = (uint16_t)(0666 & ~s->g->c.umask) };

		fs_setattr(s->g->fs, NULL, ino, META_SET_MODE, &a, NULL);
	}
	return commit_temp(s, tmpname, ino, &ps, path);
}
