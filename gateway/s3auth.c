/*
 * gateway/s3auth.c: AWS Signature Version 4 as S3 uses it: the Authorization
 * header and presigned-URL forms, the canonical request, the signing key, the
 * string to sign and signature of SigV2, the
 * per-chunk signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies and the
 * aws-chunked framing decoder. Pure functions of their inputs (no fs, no
 * HTTP), so t/unit/check_s3.c tests them against AWS's published examples.
 */
#include "gateway/s3.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>

void s3_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = 0;
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned int l = 0;

	EVP_Digest(p, n, md, &l, EVP_sha256(), NULL);
	s3_hex(md, 32, out);
}

void s3_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
	unsigned int l = 32;

	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l);
}

/* ---------------------------------------------------------------- parsing */

static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return -EINVAL;
	memcpy(dst, s, n);
	dst[n] = 0;
	return 0;
}

/* "AK/20130524/us-east-1/s3/aws4_request" */
static int parse_credential(const char *s, size_t n, struct s3_sigv4 *sv)
{
	const char *end = s + n, *p = s;
	const char *parts[5];
	size_t lens[5];
	int k = 0;
	const char *slash;

	/* The access key may itself contain '/', so split the scope from the right. */
	const char *cuts[4];
	int nc = 0;

	for (const char *q = end - 1; q >= s && nc < 4; q--)
		if (*q == '/')
			cuts[nc++] = q;
	if (nc < 4)
		return -EINVAL;
	parts[0] = s;
	lens[0] = (size_t)(cuts[3] - s);
	for (k = 1; k < 5; k++) {
		p = cuts[4 - k] + 1;
		slash = k < 4 ? cuts[3 - k] : end;
		parts[k] = p;
		lens[k] = (size_t)(slash - p);
	}
	if (copy_field(sv->access_key, sizeof(sv->access_key), parts[0], lens[0]) ||
	    lens[1] != 8 || copy_field(sv->date, sizeof(sv->date), parts[1], lens[1]) ||
	    copy_field(sv->region, sizeof(sv->region), parts[2], lens[2]) ||
	    copy_field(sv->service, sizeof(sv->service), parts[3], lens[3]) ||
	    lens[4] != 12 || memcmp(parts[4], "aws4_request", 12))
		return -EINVAL;
	return 0;
}

int s3_parse_auth_header(const char *h, struct s3_sigv4 *sv)
{
	static const char alg[] = "AWS4-HMAC-SHA256";
	const char *p;
	int have = 0;

	memset(sv, 0, sizeof(*sv));
	if (strncmp(h, alg, sizeof(alg) - 1) || h[sizeof(alg) - 1] != ' ')
		return -EINVAL;
	p = h + sizeof(alg);
	while (*p) {
		const char *e, *eq;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n && p[n - 1] == ' ')
			n--;
		eq = memchr(p, '=', n);
		if (!eq)
			return -EINVAL;
		if (eq - p == 10 && !memcmp(p, "Credential", 10)) {
			if (parse_credential(eq + 1, n - 11, sv))
				return -EINVAL;
			have |= 1;
		} else if (eq - p == 13 && !memcmp(p, "SignedHeaders", 13)) {
			if (copy_field(sv->signed_headers, sizeof(sv->signed_headers), eq + 1,
				       n - 14))
				return -EINVAL;
			have |= 2;
		} else if (eq - p == 9 && !memcmp(p, "Signature", 9)) {
			if (n - 10 != 64 ||
			    copy_field(sv->signature, sizeof(sv->signature), eq + 1, n - 10))
				return -EINVAL;
			have |= 4;
		} else {
			return -EINVAL;
		}
		p += n;
	}
	return have == 7 ? 0 : -EINVAL;
}

int s3_parse_presigned(const struct s3_query *q, struct s3_sigv4 *sv)
{
	const char *alg = s3_query_get(q, "X-Amz-Algorithm");
	const char *cred = s3_query_get(q, "X-Amz-Credential");
	const char *date = s3_query_get(q, "X-Amz-Date");
	const char *exp = s3_query_get(q, "X-Amz-Expires");
	const char *sh = s3_query_get(q, "X-Amz-SignedHeaders");
	const char *sig = s3_query_get(q, "X-Amz-Signature");
	uint64_t e;

	memset(sv, 0, sizeof(*sv));
	sv->presigned = 1;
	if (!alg || strcmp(alg, "AWS4-HMAC-SHA256") || !cred || !date || !sh || !sig || !exp)
		return -EINVAL;
	if (parse_credential(cred, strlen(cred), sv) || strlen(date) != 16 ||
	    copy_field(sv->amz_date, sizeof(sv->amz_date), date, 16) ||
	    copy_field(sv->signed_headers, sizeof(sv->signed_headers), sh, strlen(sh)) ||
	    strlen(sig) != 64 || copy_field(sv->signature, sizeof(sv->signature), sig, 64))
		return -EINVAL;
	if (parse_u64(exp, &e) || e > 7 * 24 * 3600)
		return -EINVAL;
	sv->expires = (int64_t)e;
	return 0;
}

/*
 * Host must be signed, as AWS and MinIO require: a signature that leaves it
 * out can be replayed against another endpoint or bucket (virtual-host style
 * names the bucket in Host). A header the list names but the request does not
 * carry is refused too, as MinIO does, except those an HTTP stack may consume
 * on the way (expect, transfer-encoding, content-length).
 */
enum s3_err s3_check_signed_headers(const char *list, s3_hdr_fn hdr, void *hdr_arg)
{
	const char *p = list;
	int host = 0;

	if (!*list)
		return S3E_MissingFields;
	while (*p) {
		const char *e = strchr(p, ';');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char name[128];

		if (n && n < sizeof(name)) {
			for (size_t i = 0; i < n; i++)
				name[i] = (char)tolower((unsigned char)p[i]);
			name[n] = 0;
			if (!strcmp(name, "host"))
				host = 1;
			else if (!hdr(hdr_arg, name) && strcmp(name, "expect") &&
				 strcmp(name, "transfer-encoding") &&
				 strcmp(name, "content-length"))
				return S3E_UnsignedHeaders;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return host ? S3E_OK : S3E_UnsignedHeaders;
}

/* ---------------------------------------------------------------- canonical request */

struct qkv {
	char *k, *v;
};

static int qkv_cmp(const void *a, const void *b)
{
	const struct qkv *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c ? c : strcmp(x->v, y->v);
}

int s3_canonical_request(struct buf *out, const char *method, const char *raw_path,
			 const char *raw_query, const char *signed_headers, s3_hdr_fn hdr,
			 void *hdr_arg, const char *payload_hash, int presigned)
{
	struct buf path = BUF_INIT;
	struct s3_query q;
	struct qkv *kv = NULL;
	size_t nkv = 0;
	int r;
	const char *p;

	buf_reset(out);
	buf_adds(out, method);
	buf_addch(out, '\n');
	r = s3_uri_decode(&path, raw_path, strlen(raw_path), 0);
	if (r)
		goto out;
	s3_uri_encode(out, path.ptr, path.len, 1);
	buf_addch(out, '\n');

	r = s3_query_parse(raw_query, &q);
	if (r)
		goto out;
	kv = xcalloc(q.n + 1, sizeof(*kv));
	for (size_t i = 0; i < q.n; i++) {
		struct buf k = BUF_INIT, v = BUF_INIT;

		if (presigned && !strcmp(q.p[i].name, "X-Amz-Signature"))
			continue;
		s3_uri_encode(&k, q.p[i].name, strlen(q.p[i].name), 0);
		s3_uri_encode(&v, q.p[i].value, strlen(q.p[i].value), 0);
		kv[nkv].k = buf_detach(&k, NULL);
		kv[nkv].v = buf_detach(&v, NULL);
		nkv++;
	}
	s3_query_free(&q);
	qsort(kv, nkv, sizeof(*kv), qkv_cmp);
	for (size_t i = 0; i < nkv; i++)
		buf_addf(out, "%s%s=%s", i ? "&" : "", kv[i].k, kv[i].v);
	buf_addch(out, '\n');

	p = signed_headers;
	while (*p) {
		const char *e = strchr(p, ';');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char name[128];
		const char *v;

		if (!n || n >= sizeof(name)) {
			r = -EINVAL;
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		name[n] = 0;
		v = hdr(hdr_arg, name);
		buf_addf(out, "%s:", name);
		if (v) {
			int space = 0, started = 0;

			/* Trim, and fold runs of spaces into one, as SigV4 says. */
			for (; *v; v++) {
				if (*v == ' ' || *v == '\t') {
					space = started;
					continue;
				}
				if (space)
					buf_addch(out, ' ');
				space = 0;
				started = 1;
				buf_addch(out, *v);
			}
		}
		buf_addch(out, '\n');
		p += n;
		if (*p == ';')
			p++;
	}
	buf_addch(out, '\n');
	buf_adds(out, signed_headers);
	buf_addch(out, '\n');
	buf_adds(out, payload_hash);
out:
	for (size_t i = 0; i < nkv; i++) {
		free(kv[i].k);
		free(kv[i].v);
	}
	free(kv);
	buf_release(&path);
	return r;
}

static void signing_key(const char *secret, const struct s3_sigv4 *sv, uint8_t key[32])
{
	char *k = xasprintf("AWS4%s", secret);

	s3_hmac_sha256(k, strlen(k), sv->date, strlen(sv->date), key);
	s3_hmac_sha256(key, 32, sv->region, strlen(sv->region), key);
	s3_hmac_sha256(key, 32, sv->service, strlen(sv->service), key);
	s3_hmac_sha256(key, 32, "aws4_request", 12, key);
	free(k);
}

void s3_sign(const char *secret, const struct s3_sigv4 *sv, const char *canonical,
	     uint8_t key_out[32], char sig_out[65])
{
	char h[65];
	uint8_t mac[32];
	char *sts;

	s3_sha256_hex(canonical, strlen(canonical), h);
	sts = xasprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", sv->amz_date, sv->date,
			sv->region, sv->service, h);
	signing_key(secret, sv, key_out);
	s3_hmac_sha256(key_out, 32, sts, strlen(sts), mac);
	s3_hex(mac, 32, sig_out);
	free(sts);
}

void s3_chunk_sign(const uint8_t key[32], const struct s3_sigv4 *sv, const char *prev_sig,
		   const char *chunk_sha_hex, char sig_out[65])
{
	static const char empty_sha[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	uint8_t mac[32];
	char *sts = xasprintf("AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s/%s/%s/aws4_request\n%s\n%s\n%s",
			      sv->amz_date, sv->date, sv->region, sv->service, prev_sig,
			      empty_sha, chunk_sha_hex);

	s3_hmac_sha256(key, 32, sts, strlen(sts), mac);
	s3_hex(mac, 32, sig_out);
	free(sts);
}

/* ---------------------------------------------------------------- aws-chunked */

enum { CH_HEADER, CH_DATA, CH_CRLF, CH_TRAILER, CH_END };

void s3_chunked_init(struct s3_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_HEADER;
}

/* Accumulate one CRLF-terminated line; 1 when complete, 0 when more input is needed. */
static int take_line(struct s3_chunked *c, const uint8_t **in, size_t *inlen, int *err)
{
	while (*inlen) {
		char ch = (char)**in;

		(*in)++;
		(*inlen)--;
		if (ch == '\n') {
			if (!c->linelen || c->line[c->linelen - 1] != '\r') {
				*err = -EINVAL;
				return 0;
			}
			c->line[--c->linelen] = 0;
			return 1;
		}
		if (c->linelen + 1 >= sizeof(c->line)) {
			*err = -EINVAL;
			return 0;
		}
		c->line[c->linelen++] = ch;
	}
	return 0;
}

static int parse_header(struct s3_chunked *c)
{
	const char *l = c->line, *semi = strchr(l, ';');
	size_t n = semi ? (size_t)(semi - l) : strlen(l);
	uint64_t v = 0;

	if (!n || n > 16)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int h = isxdigit((unsigned char)l[i]) ? (isdigit((unsigned char)l[i])
								 ? l[i] - '0'
								 : (tolower((unsigned char)l[i]) - 'a' + 10))
						      : -1;

		if (h < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)h;
	}
	c->sig[0] = 0;
	if (semi) {
		static const char key[] = "chunk-signature=";

		if (strncmp(semi + 1, key, sizeof(key) - 1) ||
		    strlen(semi + 1 + sizeof(key) - 1) != 64)
			return -EINVAL;
		memcpy(c->sig, semi + sizeof(key), 64);
		c->sig[64] = 0;
	}
	c->remain = v;
	return 0;
}

int s3_chunked_feed(struct s3_chunked *c, const uint8_t **in, size_t *inlen, uint8_t *out,
		    size_t outmax, size_t *outlen)
{
	int err = 0;

	*outlen = 0;
	c->chunk_done = 0;
	while (*inlen) {
		switch (c->state) {
		case CH_HEADER:
			if (!take_line(c, in, inlen, &err))
				return err;
			c->linelen = 0;
			if (parse_header(c))
				return -EINVAL;
			if (!c->remain) {
				c->final = 1;
				c->chunk_done = 1;
				c->state = CH_TRAILER;
				return 0;
			}
			c->state = CH_DATA;
			break;
		case CH_DATA: {
			size_t n = (size_t)MIN((uint64_t)*inlen, c->remain);

			n = MIN(n, outmax - *outlen);
			if (!n)
				return 0; /* out is full */
			memcpy(out + *outlen, *in, n);
			*outlen += n;
			*in += n;
			*inlen -= n;
			c->remain -= n;
			if (!c->remain)
				c->state = CH_CRLF;
			break;
		}
		case CH_CRLF:
			if (!take_line(c, in, inlen, &err))
				return err;
			if (c->linelen)
				return -EINVAL;
			c->state = CH_HEADER;
			c->chunk_done = 1;
			return 0;
		case CH_TRAILER:
			if (!take_line(c, in, inlen, &err))
				return err;
			if (!c->linelen) {
				c->state = CH_END;
				c->finished = 1;
			}
			c->linelen = 0;
			break;
		default: /* CH_END: bytes after the last chunk's trailers */
			return -EINVAL;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- SigV2 */

/* Sub-resources that are part of a SigV2 resource, in byte order. */
static const char *const v2_subresources[] = {
	"acl", "cors", "delete", "encryption", "legal-hold", "lifecycle", "location", "logging",
	"notification", "partNumber", "policy", "requestPayment", "response-cache-control",
	"response-content-disposition", "response-content-encoding", "response-content-language",
	"response-content-type", "response-expires", "retention", "select", "select-type",
	"tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions",
	"website",
};

static int v2_hdr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct s3_v2_hdr *)a)->name, ((const struct s3_v2_hdr *)b)->name);
}

/* A header value as SigV2 signs it: trimmed, folded lines joined by one space. */
static void v2_add_value(struct buf *out, const char *v)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n && strchr(" \t\r\n", v[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\r' || v[i] == '\n') {
			while (i + 1 < n && strchr(" \t\r\n", v[i + 1]))
				i++;
			buf_addch(out, ' ');
		} else {
			buf_addch(out, v[i]);
		}
	}
}

int s3_v2_string_to_sign(struct buf *out, const char *method, const char *content_md5,
			 const char *content_type, const char *date, struct s3_v2_hdr *amz,
			 size_t namz, const char *resource, const struct s3_query *q)
{
	char sep = '?';

	buf_addf(out, "%s\n", method);
	v2_add_value(out, content_md5 ? content_md5 : "");
	buf_addch(out, '\n');
	v2_add_value(out, content_type ? content_type : "");
	buf_addch(out, '\n');
	v2_add_value(out, date ? date : "");
	buf_addch(out, '\n');
	if (namz) /* qsort wants a non-NULL base even for none */
		qsort(amz, namz, sizeof(*amz), v2_hdr_cmp);
	for (size_t i = 0; i < namz; i++) {
		if (i && !strcmp(amz[i].name, amz[i - 1].name)) {
			buf_addch(out, ',');
		} else {
			if (i)
				buf_addch(out, '\n');
			buf_addf(out, "%s:", amz[i].name);
		}
		v2_add_value(out, amz[i].value);
	}
	if (namz)
		buf_addch(out, '\n');
	buf_adds(out, resource);
	for (size_t i = 0; i < sizeof(v2_subresources) / sizeof(v2_subresources[0]); i++) {
		const char *v;

		if (!s3_query_has(q, v2_subresources[i]))
			continue;
		v = s3_query_get(q, v2_subresources[i]);
		buf_addf(out, "%c%s", sep, v2_subresources[i]);
		if (v && *v)
			buf_addf(out, "=%s", v);
		sep = '&';
	}
	return 0;
}

void s3_v2_sign(const char *secret, const char *sts, size_t len, char out[29])
{
	uint8_t md[20];
	unsigned int l = sizeof(md);

	HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)sts, len, md, &l);
	EVP_EncodeBlock((unsigned char *)out, md, (int)sizeof(md));
}
