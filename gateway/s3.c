/*
 * gateway/s3.c: the S3 request handler's front: responses, authentication,
 * the request body (its digests and aws-chunked decoding), routing of each
 * request to its verb, access checks, and the gateway's life (s3_new,
 * s3_free, s3_cleanup_tmp). The verbs live by resource: objects in
 * s3object.c, multipart uploads in s3multipart.c, buckets and their
 * sub-resources in s3bucket.c (also s3cors.c, s3post.c); what they share is
 * declared in s3-internal.h.
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

/* ---------------------------------------------------------------- responses */

void s3_add_common(struct s3_req *s)
{
	gw_resp_header(s->r, "x-amz-request-id", s->reqid);
	gw_resp_header(s->r, "Server", "JuiceFS-C");
	s3_cors_headers(s);
}

void s3_send_xml(struct s3_req *s, int status, struct buf *b)
{
	gw_resp_status(s->r, status);
	s3_add_common(s);
	gw_resp_header(s->r, "Content-Type", "application/xml");
	gw_resp_body(s->r, b->ptr, b->len);
}

void s3_xml_head(struct buf *b, const char *root)
{
	buf_addf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s xmlns=\"%s\">", root, XMLNS);
}

void s3_xml_el(struct buf *b, const char *name, const char *val)
{
	size_t n = strlen(name);

	buf_addch(b, '<');
	buf_add(b, name, n);
	buf_addch(b, '>');
	s3_xml_escape(b, val ? val : "");
	buf_add(b, "</", 2);
	buf_add(b, name, n);
	buf_addch(b, '>');
}

/* A key-like value, percent-encoded when the client asked for encoding-type=url. */
void s3_xml_key(struct buf *b, const char *name, const char *val, int url)
{
	size_t n = strlen(name);

	if (!url) {
		s3_xml_el(b, name, val);
		return;
	}
	/* Percent-encoded text holds nothing XML escapes: straight into b. */
	buf_addch(b, '<');
	buf_add(b, name, n);
	buf_addch(b, '>');
	s3_uri_encode(b, val, strlen(val), 1);
	buf_add(b, "</", 2);
	buf_add(b, name, n);
	buf_addch(b, '>');
}

int s3_send_error(struct s3_req *s, enum s3_err e, const char *msg)
{
	struct buf b = BUF_INIT;

	gw_resp_status(s->r, s3_err_status(e));
	s3_add_common(s);
	if (s->head || e == S3E_NotModified) {
		gw_resp_body(s->r, NULL, 0);
		return 0;
	}
	buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	s3_xml_el(&b, "Code", s3_err_code(e));
	s3_xml_el(&b, "Message", msg ? msg : s3_err_message(e));
	if (s->key)
		s3_xml_el(&b, "Key", s->key);
	if (s->bucket)
		s3_xml_el(&b, "BucketName", s->bucket);
	s3_xml_el(&b, "Resource", gw_req_raw_path(s->r));
	s3_xml_el(&b, "RequestId", s->reqid);
	buf_adds(&b, "<HostId></HostId></Error>");
	gw_resp_header(s->r, "Content-Type", "application/xml");
	gw_resp_body(s->r, b.ptr, b.len);
	buf_release(&b);
	return 0;
}

int s3_send_err(struct s3_req *s, enum s3_err e)
{
	return s3_send_error(s, e, NULL);
}

int s3_send_empty(struct s3_req *s, int status)
{
	gw_resp_status(s->r, status);
	s3_add_common(s);
	gw_resp_body(s->r, NULL, 0);
	return 0;
}

void s3_quote_etag(const char *etag, char *out, size_t n)
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

/*
 * The payload's digests, both in one sweep: each piece goes through MD5 and
 * then SHA-256 while it is still in the first-level cache, rather than the
 * whole read through one and then again through the other. SHA-256 runs only
 * when the signature covers the payload (want_sha); UNSIGNED-PAYLOAD and the
 * aws-chunked forms (whose chunks carry their own signatures) need none.
 */
static void body_hash(struct s3_req *s, const void *p, size_t n)
{
	enum { PIECE = 16 << 10 };
	const uint8_t *b = p;

	if (!s->sha) {
		EVP_DigestUpdate(s->md5, b, n);
		return;
	}
	for (size_t off = 0; off < n; off += PIECE) {
		size_t k = MIN((size_t)PIECE, n - off);

		EVP_DigestUpdate(s->md5, b + off, k);
		EVP_DigestUpdate(s->sha, b + off, k);
	}
}

/* Payload bytes; 0 at the end; -1 with body_err set. */
ssize_t s3_body_read(struct s3_req *s, void *out, size_t len)
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
			/* Only a signed chunk needs its SHA-256 (its signature covers it). */
			if (got && s->stream_signed)
				EVP_DigestUpdate(s->chunk_sha, out, got);
			if (s->ch.chunk_done) {
				uint8_t md[32];
				char hex[65], want[65];
				unsigned int l;

				if (s->stream_signed) {
					EVP_DigestFinal_ex(s->chunk_sha, md, &l);
					EVP_DigestInit_ex(s->chunk_sha, EVP_sha256(), NULL);
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
	body_hash(s, out, (size_t)n);
	return n;
}

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
enum s3_err s3_body_finish(struct s3_req *s)
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
enum s3_err s3_read_body(struct s3_req *s, size_t cap, struct buf *out)
{
	char tmp[16384];
	ssize_t n;

	if (s->body_len > (int64_t)cap)
		return S3E_MalformedXML;
	while ((n = s3_body_read(s, tmp, sizeof(tmp))) > 0) {
		if (out->len + (size_t)n > cap)
			return S3E_MalformedXML;
		buf_add(out, tmp, (size_t)n);
	}
	if (n < 0)
		return s->body_err;
	return s3_body_finish(s);
}

/* ---------------------------------------------------------------- paths and access */

/* The path of key in this request's bucket: only through the name gate (s3util.c). */
enum s3_err s3_key_path(struct s3_req *s, const char *key, struct buf *out)
{
	return s3_name_path(s->root, key, 0, out);
}

/* A key S3 accepts and that maps onto a path inside the bucket. */
enum s3_err s3_check_key(struct s3_req *s, const char *key)
{
	struct buf path = BUF_INIT;
	enum s3_err e = s3_key_path(s, key, &path);

	buf_release(&path);
	return e;
}

/* May the requester (anonymous, a user; the root key always may) do action? */
enum s3_err s3_authorize(struct s3_req *s, const char *root, const char *bucket,
			 const char *key, const char *action)
{
	if (s->anon)
		return s3access_anonymous(s->g->cfg, root, bucket, key, action, s->r, &s->q);
	if (s->user)
		return s3access_user(s->g->cfg, s->iam->parsed, s->user, root, bucket, key, action,
				     s->r, &s->q);
	return S3E_OK;
}

/* ---------------------------------------------------------------- bucket roots and copy sources */

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
enum s3_err s3_parse_copy_source(struct s3_req *s, char *root, size_t rootcap, char **key)
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

static int op_bucket(struct s3_req *s)
{
	const char *m = s->method;

	if (!strcmp(m, "PUT") && !s->q.n)
		return s3_op_create_bucket(s);
	enum s3_err be = s3_bucket_check(s);
	if (be)
		return s3_send_err(s, be);
	if (s3_query_has(&s->q, "policy") || s3_query_has(&s->q, "policyStatus"))
		return s3_op_bucket_policy(s);
	if (!strcmp(m, "HEAD"))
		return s3_send_empty(s, 200);
	if (s3_query_has(&s->q, "cors"))
		return s3_cors_op(s);
	if (!strcmp(m, "DELETE") && !s->q.n)
		return s3_op_delete_bucket(s);
	if (!strcmp(m, "POST") && s3_query_has(&s->q, "delete"))
		return s3_op_delete_objects(s);
	if (!strcmp(m, "GET")) {
		if (s3_query_has(&s->q, "location"))
			return s3_op_bucket_location(s);
		if (s3_query_has(&s->q, "versioning"))
			return s3_op_bucket_versioning(s);
		if (s3_query_has(&s->q, "versions"))
			return s3_op_list(s, LIST_VERSIONS);
		if (s3_query_has(&s->q, "uploads"))
			return s3_op_list_uploads(s);
		if (s3_query_has(&s->q, "acl"))
			return s3_op_get_acl(s);
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
			return s3_send_err(s, S3E_NotImplemented); /* never a listing instead */
		{
			const char *lt = s3_query_get(&s->q, "list-type");

			if (lt && !strcmp(lt, "2"))
				return s3_op_list(s, LIST_V2);
			return s3_op_list(s, LIST_V1);
		}
	}
	return s3_send_err(s, S3E_MethodNotAllowed);
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

/*
 * SSE-C over plain HTTP: AWS and the real gateway refuse it (400
 * InvalidRequest) before looking any closer, malformed or not: the key has
 * already crossed the wire in clear, and a 501 would tell the client that
 * trying again could help. Over TLS check_unoffered() answers as before.
 */
static const char *const ssec_headers[] = {
	"x-amz-server-side-encryption-customer-algorithm",
	"x-amz-server-side-encryption-customer-key",
	"x-amz-server-side-encryption-customer-key-MD5",
	"x-amz-copy-source-server-side-encryption-customer-algorithm",
	"x-amz-copy-source-server-side-encryption-customer-key",
	"x-amz-copy-source-server-side-encryption-customer-key-MD5",
};

static int ssec_in_clear(struct s3_req *s)
{
	if (gw_req_is_tls(s->r))
		return 0;
	for (size_t i = 0; i < sizeof(ssec_headers) / sizeof(ssec_headers[0]); i++)
		if (gw_req_header(s->r, ssec_headers[i]))
			return 1;
	return 0;
}

static int op_object(struct s3_req *s)
{
	const char *m = s->method;
	enum s3_err e;

	enum s3_err be = s3_bucket_check(s);
	if (be)
		return s3_send_err(s, be);
	e = s3_check_key(s, s->key);
	if (e)
		return s3_send_err(s, e);
	if (ssec_in_clear(s))
		return s3_send_error(s, S3E_InvalidRequest,
				     "Requests specifying Server Side Encryption with Customer "
				     "provided keys must be made over a secure connection.");
	e = check_unoffered(s);
	if (e)
		return s3_send_err(s, e);
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
		return s3_send_err(s, S3E_NotImplemented);
	if (!strcmp(m, "PUT")) {
		int is_part = s3_query_has(&s->q, "uploadId") && s3_query_has(&s->q, "partNumber");

		if (s3_query_has(&s->q, "tagging"))
			return s3_op_put_tagging(s);
		if (s3_query_has(&s->q, "acl"))
			return s3_send_empty(s, 200);
		if (gw_req_header(s->r, "x-amz-copy-source"))
			return is_part ? s3_op_upload_part(s, 1) : s3_op_copy_object(s);
		if (is_part)
			return s3_op_upload_part(s, 0);
		return s3_op_put_object(s);
	}
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
		if (s3_query_has(&s->q, "tagging"))
			return s3_op_get_tagging(s);
		if (s3_query_has(&s->q, "uploadId"))
			return s3_op_list_parts(s);
		if (s3_query_has(&s->q, "attributes") && !s->head)
			return s3_op_get_attributes(s);
		if (s3_query_has(&s->q, "acl"))
			return s3_op_get_acl(s);
		return s3_op_get_object(s);
	}
	if (!strcmp(m, "DELETE")) {
		if (s3_query_has(&s->q, "tagging"))
			return s3_op_delete_tagging(s);
		if (s3_query_has(&s->q, "uploadId"))
			return s3_op_abort_upload(s);
		return s3_op_delete_object(s);
	}
	if (!strcmp(m, "POST")) {
		if (s3_query_has(&s->q, "uploads"))
			return s3_op_create_upload(s);
		if (s3_query_has(&s->q, "uploadId"))
			return s3_op_complete_upload(s);
		return s3_send_err(s, S3E_NotImplemented);
	}
	return s3_send_err(s, S3E_MethodNotAllowed);
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
 * its source; DeleteObjects is judged key by key (s3_op_delete_objects).
 */
static enum s3_err check_access(struct s3_req *s)
{
	const char *action = policy_s3_action(s->method, !!s->bucket, !!s->key, &s->q, 0);
	enum s3_err e;

	if (!action || (s->anon && !s->bucket))
		return S3E_AccessDenied;
	if (!s->key && !strcmp(s->method, "POST") && s3_query_has(&s->q, "delete"))
		return S3E_OK;
	e = s3_authorize(s, s->root, s->bucket, s->key, action);
	if (e == S3E_AccessDenied && s->user && !s->bucket) {
		s->list_filter = 1;
		return S3E_OK;
	}
	if (!e && s->key && gw_req_header(s->r, "x-amz-copy-source")) {
		char root[300];
		char *key = NULL;

		if (s3_parse_copy_source(s, root, sizeof(root), &key))
			e = S3E_AccessDenied; /* says nothing of the source to a stranger */
		else
			e = s3_authorize(s, root, *root ? root + 1 : s->g->volume, key,
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
		s3_send_err(&s, S3E_InvalidArgument);
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
		s3_send_err(&s, e);
		goto out;
	}
	if (body_setup(&s)) {
		s3_send_err(&s, S3E_MissingContentLength);
		goto out;
	}
	if (!s.bucket) {
		if (!strcmp(s.method, "GET"))
			rc = s3_op_list_buckets(&s);
		else
			rc = s3_send_err(&s, S3E_MethodNotAllowed);
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
	pthread_mutex_init(&g->done_mu, NULL);
	return g;
}

void s3_free(struct s3_gw *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < S3_DONE_UPLOADS; i++) {
		free(g->done[i].bucket);
		free(g->done[i].key);
	}
	pthread_mutex_destroy(&g->done_mu);
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

/* ---------------------------------------------------------------- for s3admin.c */

void s3_send_body(struct s3_req *s, int status, const char *ctype, const void *p, size_t n)
{
	gw_resp_status(s->r, status);
	s3_add_common(s);
	gw_resp_header(s->r, "Content-Type", ctype);
	gw_resp_body(s->r, p, n);
}
