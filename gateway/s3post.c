/*
 * gateway/s3post.c: POST object, the browser upload of AWS's "browser-based
 * uploads using HTTP POST": a multipart/form-data body posted to the bucket
 * URL, whose fields carry the key, the object's headers, a policy document
 * and its signature (V4: x-amz-algorithm, x-amz-credential, x-amz-date,
 * x-amz-signature = hex HMAC-SHA256 of the base64 policy under the SigV4
 * signing key; V2: AWSAccessKeyId, signature = base64 HMAC-SHA1 of it).
 *
 * The order is what keeps memory bounded and the volume clean:
 *  1. fields before the file are collected (capped, s3form.c);
 *  2. when the file part starts, everything is checked: signature, policy
 *     (expiry, conditions, every field named by one), key; nothing has been
 *     stored yet, so a refusal costs only the fields;
 *  3. the file streams into a temp file in 1 MiB writes, counted against
 *     content-length-range as it comes (EntityTooLarge as soon as it
 *     passes the maximum), MD5 on the way;
 *  4. only when the whole body has parsed is the temp file committed
 *     (s3_temp_commit: xattrs, then the rename), so a truncated or malformed
 *     body, or one under the minimum, leaves the old object intact.
 *
 * Anonymous uploads (a form without policy and signature) are allowed when
 * the bucket policy allows s3:PutObject on the key to everyone (s3access.h),
 * as for an anonymous PUT; the form then needs no conditions.
 */
#include "gateway/s3post.h"
#include "gateway/s3-internal.h"
#include "gateway/s3access.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>
#include <time.h>

#define POST_IO_BUF (1u << 20)

/* ---------------------------------------------------------------- policy */

static void cond_free(struct s3_cond *c)
{
	free(c->field);
	free(c->value);
}

void s3_post_policy_free(struct s3_post_policy *p)
{
	for (size_t i = 0; i < p->n; i++)
		cond_free(&p->c[i]);
	free(p->c);
	memset(p, 0, sizeof(*p));
}

/* "2007-12-01T12:00:00Z" or with a fraction of seconds "...00.000Z". */
static int parse_expiration(const char *s, int64_t *t)
{
	struct tm tm;
	const char *e;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 20 || s[4] != '-' || s[10] != 'T')
		return -EINVAL;
	e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!e || e != s + 19)
		return -EINVAL;
	if (*e == '.') {
		e++;
		if (!isdigit((unsigned char)*e))
			return -EINVAL;
		while (isdigit((unsigned char)*e))
			e++;
	}
	if (strcmp(e, "Z"))
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *c = d; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return d;
}

/* A length bound: a non-negative integer, or a string of digits. */
static int json_length(json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0)
			return -EINVAL;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_string(v))
		return parse_u64(json_string_value(v), out);
	return -EINVAL;
}

static int add_cond(struct s3_post_policy *p, enum s3_cond_op op, const char *field,
		    const char *value, struct buf *err)
{
	struct s3_cond *c;

	if (!*field) {
		buf_addf(err, "Invalid Policy: empty field name in a condition.");
		return -EINVAL;
	}
	p->c = xrealloc(p->c, (p->n + 1) * sizeof(*p->c));
	c = &p->c[p->n++];
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->field = lower_dup(field);
	c->value = xstrdup(value ? value : "");
	return 0;
}

static int parse_cond(struct s3_post_policy *p, json_t *c, struct buf *err)
{
	if (json_is_object(c)) {
		const char *k;
		json_t *v;

		if (!json_object_size(c)) {
			buf_addf(err, "Invalid Policy: an empty condition.");
			return -EINVAL;
		}
		json_object_foreach(c, k, v) {
			if (!json_is_string(v)) {
				buf_addf(err, "Invalid Policy: condition %s is not a string.", k);
				return -EINVAL;
			}
			if (add_cond(p, S3C_EQ, k[0] == '$' ? k + 1 : k, json_string_value(v), err))
				return -EINVAL;
		}
		return 0;
	}
	if (json_is_array(c) && json_array_size(c) >= 1 && json_is_string(json_array_get(c, 0))) {
		const char *op = json_string_value(json_array_get(c, 0));
		size_t n = json_array_size(c);

		if (!strcasecmp(op, "content-length-range")) {
			uint64_t lo, hi;

			if (n != 3 || json_length(json_array_get(c, 1), &lo) ||
			    json_length(json_array_get(c, 2), &hi) || lo > hi) {
				buf_addf(err, "Invalid Policy: content-length-range needs "
					      "0 <= min <= max.");
				return -EINVAL;
			}
			if (!p->has_range || lo > p->min)
				p->min = lo;
			if (!p->has_range || hi < p->max)
				p->max = hi;
			p->has_range = 1;
			return 0;
		}
		if (!strcasecmp(op, "eq") || !strcasecmp(op, "starts-with")) {
			json_t *f = json_array_get(c, 1), *v = json_array_get(c, 2);

			if (n != 3 || !json_is_string(f) || !json_is_string(v) ||
			    json_string_value(f)[0] != '$') {
				buf_addf(err, "Invalid Policy: %s needs "
					      "[\"%s\", \"$field\", \"value\"].",
					 op, op);
				return -EINVAL;
			}
			return add_cond(p, tolower((unsigned char)op[0]) == 'e' ? S3C_EQ
									   : S3C_STARTS_WITH,
					json_string_value(f) + 1, json_string_value(v), err);
		}
		buf_addf(err, "Invalid Policy: unknown condition operator.");
		return -EINVAL;
	}
	buf_addf(err, "Invalid Policy: a condition is neither an object nor a list.");
	return -EINVAL;
}

int s3_post_policy_parse(const char *json, size_t n, struct s3_post_policy *p, struct buf *err)
{
	json_error_t je;
	json_t *root, *exp, *conds, *c;
	size_t i;
	int r = -EINVAL;

	memset(p, 0, sizeof(*p));
	p->max = UINT64_MAX;
	root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
	if (!root || !json_is_object(root)) {
		buf_addf(err, "Invalid Policy: not a JSON object.");
		goto out;
	}
	exp = json_object_get(root, "expiration");
	if (!json_is_string(exp)) {
		buf_addf(err, "Invalid Policy: Policy missing expiration.");
		goto out;
	}
	if (parse_expiration(json_string_value(exp), &p->expiration)) {
		buf_addf(err, "Invalid Policy: Invalid 'expiration' value: '%.64s'",
			 json_string_value(exp));
		goto out;
	}
	conds = json_object_get(root, "conditions");
	if (!json_is_array(conds) || !json_array_size(conds)) {
		buf_addf(err, "Invalid Policy: Policy missing conditions.");
		goto out;
	}
	json_array_foreach(conds, i, c) {
		if (parse_cond(p, c, err))
			goto out;
	}
	r = 0;
out:
	json_decref(root);
	if (r) {
		s3_post_policy_free(p);
		p->max = UINT64_MAX;
	}
	return r;
}

static const char *field_get(const struct s3_post_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i].name, name))
			return f[i].value;
	return NULL;
}

/*
 * Fields a policy need not name: AWS's list, V2's pair and the checksums (as
 * MinIO and RGW accept them).
 */
static int field_exempt(const char *name)
{
	static const char *const ex[] = { "file", "policy", "x-amz-signature", "signature",
					  "awsaccesskeyid" };

	for (size_t i = 0; i < ARRAY_SIZE(ex); i++)
		if (!strcmp(name, ex[i]))
			return 1;
	return !strncmp(name, "x-ignore-", 9) || !strncmp(name, "x-amz-checksum-", 15);
}

int s3_post_policy_check(const struct s3_post_policy *p, const struct s3_post_field *f,
			 size_t n, struct buf *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct s3_cond *c = &p->c[i];
		const char *v = field_get(f, n, c->field);
		int ok;

		if (!v)
			v = "";
		ok = c->op == S3C_EQ ? !strcmp(v, c->value)
				     : !strncmp(v, c->value, strlen(c->value));
		if (!ok) {
			buf_addf(err, "Invalid according to Policy: Policy Condition failed: "
				      "[\"%s\", \"$%s\", \"%s\"]",
				 c->op == S3C_EQ ? "eq" : "starts-with", c->field, c->value);
			return -EACCES;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int named = field_exempt(f[i].name);

		for (size_t j = 0; j < p->n && !named; j++)
			named = !strcmp(p->c[j].field, f[i].name);
		if (!named) {
			buf_addf(err, "Invalid according to Policy: Extra input fields: %s",
				 f[i].name);
			return -EACCES;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- the operation */

struct post {
	struct s3_req *s;
	struct s3_post_field *f; /* fields before the file, names lower case */
	size_t n;
	int file_seen, file_done;
	char *filename, *part_ctype;
	char *key;
	struct s3_post_policy pol;
	struct buf errmsg;
	struct buf tags; /* the tagging field, query encoded as s3-tags keeps them */
	/* the body on its way into the temp file */
	struct fs_file *fh;
	uint64_t ino;
	struct buf tmpname;
	uint8_t *io;
	size_t fill;
	uint64_t size, off;
	EVP_MD_CTX *md5;
	EVP_MD_CTX *ck; /* x-amz-checksum-sha256 or -sha1 to verify, else NULL */
	uint8_t ck_want[32];
	const char *ck_name;
};

int s3_is_post_object(struct s3_req *s)
{
	const char *ct = gw_req_header(s->r, "Content-Type");

	if (strcmp(s->method, "POST") || !s->bucket || s->key || s->q.n || !ct)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return !strncasecmp(ct, "multipart/form-data", 19);
}

static const char *form_get(struct post *p, const char *name)
{
	return field_get(p->f, p->n, name);
}

static int on_field(void *arg, const char *name, const char *value, size_t len)
{
	struct post *p = arg;

	/* A NUL in a value can be neither compared nor stored: malformed. */
	if (strlen(value) != len)
		return S3E_MalformedPOSTRequest;
	p->f = xrealloc(p->f, (p->n + 1) * sizeof(*p->f));
	p->f[p->n].name = lower_dup(name);
	p->f[p->n].value = xstrdup(value);
	p->n++;
	return 0;
}

/* A field given twice: AWS takes neither (InvalidArgument), so do we. */
static int duplicate_field(struct post *p)
{
	for (size_t i = 0; i < p->n; i++)
		for (size_t j = i + 1; j < p->n; j++)
			if (!strcmp(p->f[i].name, p->f[j].name))
				return 1;
	return 0;
}

static enum s3_err missing(struct post *p, const char *field)
{
	buf_reset(&p->errmsg);
	buf_addf(&p->errmsg, "Bucket POST must contain a field named '%s'.", field);
	return S3E_InvalidArgument;
}

/*
 * The secret of an access key: the root's, or a user's (s3access.h; its entry
 * stays in the request for the authorization after the policy checks).
 */
static enum s3_err key_secret(struct post *p, const char *ak, size_t len, const char **secret)
{
	struct s3_req *s = p->s;
	const struct s3_conf *c = &s->g->c;
	char *name;
	enum s3_err e;

	if (len == strlen(c->access_key) && !strncmp(ak, c->access_key, len)) {
		*secret = c->secret_key;
		return S3E_OK;
	}
	name = xstrndup(ak, len);
	e = s3access_user_lookup(s->g->cfg, &s->g->iam_key, name, &s->iam, &s->user,
				 &s->user_secret);
	free(name);
	if (!e)
		*secret = s->user_secret.ptr;
	return e;
}

/* V4: the signing key of the credential's scope, over the base64 policy. */
static enum s3_err check_v4(struct post *p, const char *policy)
{
	const char *alg = form_get(p, "x-amz-algorithm"), *cred = form_get(p, "x-amz-credential");
	const char *date = form_get(p, "x-amz-date"), *sig = form_get(p, "x-amz-signature");
	const char *parts[5];
	size_t lens[5];
	uint8_t key[32];
	char want[65], *tmp;
	const char *secret, *e;
	enum s3_err err;
	int64_t t;

	if (!cred)
		return missing(p, "x-amz-credential");
	if (!date)
		return missing(p, "x-amz-date");
	if (!sig)
		return missing(p, "x-amz-signature");
	if (strcmp(alg, "AWS4-HMAC-SHA256")) {
		buf_addf(&p->errmsg,
			 "Invalid x-amz-algorithm: only AWS4-HMAC-SHA256 is supported.");
		return S3E_InvalidArgument;
	}
	/* AK/YYYYMMDD/region/s3/aws4_request, split from the right (a key may hold '/') */
	e = cred + strlen(cred);
	for (int i = 4; i > 0; i--) {
		const char *sl = e;

		while (sl > cred && sl[-1] != '/')
			sl--;
		if (sl == cred) {
			buf_addf(&p->errmsg, "Malformed x-amz-credential.");
			return S3E_InvalidArgument;
		}
		parts[i] = sl;
		lens[i] = (size_t)(e - sl);
		e = sl - 1;
	}
	parts[0] = cred;
	lens[0] = (size_t)(e - cred);
	if (lens[1] != 8 || lens[3] != 2 || strncmp(parts[3], "s3", 2) || lens[4] != 12 ||
	    strncmp(parts[4], "aws4_request", 12) || s3_parse_amz_date(date, &t) ||
	    strncmp(date, parts[1], 8)) {
		buf_addf(&p->errmsg, "Malformed x-amz-credential or x-amz-date.");
		return S3E_InvalidArgument;
	}
	err = key_secret(p, cred, lens[0], &secret);
	if (err)
		return err;
	tmp = xasprintf("AWS4%s", secret);
	s3_hmac_sha256(tmp, strlen(tmp), parts[1], 8, key);
	s3_hmac_sha256(key, 32, parts[2], lens[2], key);
	s3_hmac_sha256(key, 32, "s3", 2, key);
	s3_hmac_sha256(key, 32, "aws4_request", 12, key);
	s3_hmac_sha256(key, 32, policy, strlen(policy), key);
	OPENSSL_cleanse(tmp, strlen(tmp));
	free(tmp);
	s3_hex(key, 32, want);
	if (strlen(sig) != 64 || CRYPTO_memcmp(want, sig, 64))
		return S3E_SignatureDoesNotMatch;
	return S3E_OK;
}

/* V2: base64 HMAC-SHA1 of the base64 policy. */
static enum s3_err check_v2(struct post *p, const char *policy)
{
	const char *ak = form_get(p, "awsaccesskeyid"), *sig = form_get(p, "signature");
	const char *secret;
	uint8_t mac[20];
	unsigned int l = 20;
	char want[64];
	enum s3_err e;

	if (!ak)
		return missing(p, "AWSAccessKeyId");
	if (!sig)
		return missing(p, "Signature");
	e = key_secret(p, ak, strlen(ak), &secret);
	if (e)
		return e;
	HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)policy,
	     strlen(policy), mac, &l);
	EVP_EncodeBlock((unsigned char *)want, mac, 20);
	if (strlen(sig) != strlen(want) || CRYPTO_memcmp(want, sig, strlen(want)))
		return S3E_SignatureDoesNotMatch;
	return S3E_OK;
}

/* The key with ${filename} replaced by the file's name (its last path segment). */
static char *expand_key(const char *key, const char *filename)
{
	const char *base = filename, *v;
	struct buf b = BUF_INIT;

	for (const char *c = filename; *c; c++)
		if (*c == '/' || *c == '\\')
			base = c + 1;
	while ((v = strstr(key, "${filename}"))) {
		buf_add(&b, key, (size_t)(v - key));
		buf_adds(&b, base);
		key = v + 11;
	}
	buf_adds(&b, key);
	return buf_detach(&b, NULL);
}

/* Everything before a byte is stored: who signed what, and may they. */
static enum s3_err authorize(struct post *p)
{
	struct s3_req *s = p->s;
	const char *policy = form_get(p, "policy"), *key = form_get(p, "key");
	struct s3_post_field *all;
	struct buf json = BUF_INIT;
	enum s3_err e;
	size_t n = 0;

	if (duplicate_field(p)) {
		buf_addf(&p->errmsg, "A form field was given more than once.");
		return S3E_InvalidArgument;
	}
	if (!policy) {
		if (form_get(p, "x-amz-signature") || form_get(p, "signature") ||
		    form_get(p, "x-amz-credential") || form_get(p, "awsaccesskeyid"))
			return missing(p, "Policy");
		/* anonymous: what the bucket policy allows everyone (s3access.h) */
		if (!key)
			return missing(p, "key");
		p->key = expand_key(key, p->filename ? p->filename : "");
		return s3access_anonymous(s->g->cfg, s->root, s->bucket, p->key, "s3:PutObject",
					  s->r, &s->q);
	}
	if (form_get(p, "x-amz-algorithm"))
		e = check_v4(p, policy);
	else if (form_get(p, "awsaccesskeyid") || form_get(p, "signature"))
		e = check_v2(p, policy);
	else
		e = missing(p, form_get(p, "x-amz-credential") ? "x-amz-algorithm"
								: "AWSAccessKeyId");
	if (e)
		return e;
	if (s3_unb64(policy, &json) ||
	    s3_post_policy_parse(json.ptr, json.len, &p->pol, &p->errmsg)) {
		if (!p->errmsg.len)
			buf_addf(&p->errmsg, "Invalid Policy: not base64.");
		buf_release(&json);
		return S3E_InvalidPolicyDocument;
	}
	buf_release(&json);
	if (p->pol.expiration <= now_us() / 1000000) {
		buf_addf(&p->errmsg, "Invalid according to Policy: Policy expired.");
		return S3E_AccessDenied;
	}
	if (!key)
		return missing(p, "key");
	p->key = expand_key(key, p->filename ? p->filename : "");
	/* the form as the policy sees it: the bucket of the URL, the key expanded */
	all = xcalloc(p->n + 1, sizeof(*all));
	for (size_t i = 0; i < p->n; i++) {
		if (!strcmp(p->f[i].name, "bucket"))
			continue;
		all[n] = p->f[i];
		if (!strcmp(all[n].name, "key"))
			all[n].value = p->key;
		n++;
	}
	all[n].name = "bucket";
	all[n++].value = s->bucket;
	e = s3_post_policy_check(&p->pol, all, n, &p->errmsg) ? S3E_AccessDenied : S3E_OK;
	free(all);
	/* a user's form: as a PUT of the key by that user (the root key always may) */
	if (!e && s->user)
		e = s3access_user(s->g->cfg, s->iam->parsed, s->user, s->root, s->bucket, p->key,
				  "s3:PutObject", s->r, &s->q);
	return e;
}

static int flush_io(struct post *p)
{
	ssize_t w;

	if (!p->fill)
		return 0;
	w = fs_write(p->fh, p->off, p->io, p->fill);
	if (w != (ssize_t)p->fill)
		return w < 0 ? (int)w : -EIO;
	p->off += p->fill;
	p->fill = 0;
	return 0;
}

/*
 * A checksum field: SHA-256 and SHA-1 are verified over the file (a bad
 * value is refused before a byte is stored). The CRC ones are not computed
 * here, as PUT does not either.
 */
static enum s3_err checksum_setup(struct post *p)
{
	static const struct {
		const char *field;
		size_t len;
	} ck[] = { { "x-amz-checksum-sha256", 32 }, { "x-amz-checksum-sha1", 20 } };

	for (size_t i = 0; i < ARRAY_SIZE(ck); i++) {
		const char *v = form_get(p, ck[i].field);
		size_t l, body, pads;
		uint8_t tmp[48];
		int bad, n;

		if (!v)
			continue;
		/* whole quartets, pads only at the end (EVP_DecodeBlock takes '=' as a digit) */
		l = strlen(v);
		body = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz0123456789+/");
		pads = l - body;
		bad = l != 4 * ((ck[i].len + 2) / 3) || pads > 2 || strspn(v + body, "=") != pads;
		if (!bad) {
			n = EVP_DecodeBlock(tmp, (const unsigned char *)v, (int)l);
			bad = n < 0 || (size_t)n - pads != ck[i].len;
		}
		if (!bad)
			memcpy(p->ck_want, tmp, ck[i].len);
		if (bad) {
			buf_addf(&p->errmsg, "Value for %s header is invalid.", ck[i].field);
			return S3E_InvalidRequest;
		}
		p->ck_name = ck[i].field;
		p->ck = EVP_MD_CTX_new();
		EVP_DigestInit_ex(p->ck, i == 0 ? EVP_sha256() : EVP_sha1(), NULL);
		return S3E_OK;
	}
	return S3E_OK;
}

static int on_file_begin(void *arg, const char *filename, const char *ctype)
{
	struct post *p = arg;
	struct buf path = BUF_INIT;
	enum s3_err e;
	int r;

	p->file_seen = 1;
	p->filename = xstrdup(filename);
	p->part_ctype = xstrdup(ctype);
	e = authorize(p);
	if (e)
		return (int)e;
	if (form_get(p, "x-amz-server-side-encryption") ||
	    form_get(p, "x-amz-server-side-encryption-customer-algorithm") ||
	    form_get(p, "x-amz-server-side-encryption-aws-kms-key-id"))
		return S3E_NotImplemented; /* never store plain text the client thinks sealed */
	e = checksum_setup(p);
	if (e)
		return (int)e;
	if (form_get(p, "tagging")) {
		const char *t = form_get(p, "tagging");

		r = s3_xml_tagging(t, strlen(t), &p->tags);
		if (r)
			return r == -E2BIG ? S3E_InvalidTag : r == -EEXIST ? S3E_InvalidTagDuplicate
									   : S3E_MalformedXML;
	}
	e = s3_key_path(p->s, p->key, &path);
	buf_release(&path);
	if (e)
		return (int)e;
	if (p->key[strlen(p->key) - 1] == '/') {
		buf_addf(&p->errmsg, "A form upload cannot make a directory object.");
		return S3E_InvalidArgument;
	}
	r = s3_temp_create(p->s, &p->fh, &p->ino, &p->tmpname);
	if (r)
		return (int)s3_err_from_errno(r);
	p->io = xmalloc(POST_IO_BUF);
	p->md5 = EVP_MD_CTX_new();
	EVP_DigestInit_ex(p->md5, EVP_md5(), NULL);
	return 0;
}

static int on_file_data(void *arg, const uint8_t *d, size_t n)
{
	struct post *p = arg;

	p->size += n;
	if (p->size > p->pol.max)
		return S3E_EntityTooLarge;
	EVP_DigestUpdate(p->md5, d, n);
	if (p->ck)
		EVP_DigestUpdate(p->ck, d, n);
	while (n) {
		size_t k = MIN(n, POST_IO_BUF - p->fill);
		int r;

		memcpy(p->io + p->fill, d, k);
		p->fill += k;
		d += k;
		n -= k;
		if (p->fill == POST_IO_BUF && (r = flush_io(p)))
			return (int)s3_err_from_errno(r);
	}
	return 0;
}

static int on_file_end(void *arg)
{
	struct post *p = arg;
	int r = flush_io(p);

	if (r)
		return (int)s3_err_from_errno(r);
	p->file_done = 1;
	return 0;
}

static const struct s3_form_cb post_cb = { on_field, on_file_begin, on_file_data, on_file_end };

/* The persisted headers: Content-Type and the like from the form, as PUT keeps them. */
static void post_meta(struct post *p, struct buf *out)
{
	static const char *const keep[] = { "content-type", "content-encoding",
					    "content-disposition", "cache-control", "expires",
					    "content-language" };
	int have_ct = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct s3_post_field *f = &p->f[i];
		int k = !strncmp(f->name, "x-amz-meta-", 11);

		for (size_t j = 0; j < ARRAY_SIZE(keep) && !k; j++)
			k = !strcmp(f->name, keep[j]);
		if (!k || strpbrk(f->value, "\r\n"))
			continue;
		have_ct |= !strcmp(f->name, "content-type");
		buf_addf(out, "%s: %s\n", f->name, f->value);
	}
	/* no Content-Type field: the file part's own, as a browser labels the file */
	if (!have_ct && *p->part_ctype && !strpbrk(p->part_ctype, "\r\n"))
		buf_addf(out, "content-type: %s\n", p->part_ctype);
}

static size_t meta_size(struct post *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		if (!strncmp(p->f[i].name, "x-amz-meta-", 11))
			n += strlen(p->f[i].name) + strlen(p->f[i].value);
	return n;
}

/* The answer S3 gives a successful form: a redirect, or the status asked for. */
static int respond(struct post *p, const char *etag)
{
	struct s3_req *s = p->s;
	const char *redir = form_get(p, "success_action_redirect");
	const char *status = form_get(p, "success_action_status");
	const char *host = gw_req_header(s->r, "Host");
	struct buf loc = BUF_INIT, b = BUF_INIT;
	char q[40];
	int code = 204;

	if (!redir || !*redir)
		redir = form_get(p, "redirect");
	snprintf(q, sizeof(q), "\"%s\"", etag);
	gw_resp_header(s->r, "ETag", q);
	buf_addf(&loc, "%s://%s/", gw_req_is_tls(s->r) ? "https" : "http", host ? host : "");
	s3_uri_encode(&loc, s->bucket, strlen(s->bucket), 0);
	buf_addch(&loc, '/');
	s3_uri_encode(&loc, p->key, strlen(p->key), 1);
	if (redir && *redir && !strpbrk(redir, "\r\n")) {
		buf_adds(&b, redir);
		buf_addch(&b, strchr(redir, '?') ? '&' : '?');
		buf_adds(&b, "bucket=");
		s3_uri_encode(&b, s->bucket, strlen(s->bucket), 0);
		buf_adds(&b, "&key=");
		s3_uri_encode(&b, p->key, strlen(p->key), 0);
		buf_adds(&b, "&etag=");
		s3_uri_encode(&b, q, strlen(q), 0);
		gw_resp_header(s->r, "Location", b.ptr);
		code = 303;
	} else {
		if (status && !strcmp(status, "200"))
			code = 200;
		else if (status && !strcmp(status, "201"))
			code = 201;
		gw_resp_header(s->r, "Location", loc.ptr);
	}
	if (code == 201) {
		buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			     "<PostResponse><Location>");
		s3_xml_escape(&b, loc.ptr);
		buf_adds(&b, "</Location><Bucket>");
		s3_xml_escape(&b, s->bucket);
		buf_adds(&b, "</Bucket><Key>");
		s3_xml_escape(&b, p->key);
		buf_adds(&b, "</Key><ETag>");
		s3_xml_escape(&b, q);
		buf_adds(&b, "</ETag></PostResponse>");
		s3_send_xml(s, 201, &b);
	} else {
		s3_send_empty(s, code);
	}
	buf_release(&loc);
	buf_release(&b);
	return 0;
}

int s3_post_object(struct s3_req *s)
{
	struct post p = { .s = s };
	struct s3_form form;
	struct buf path = BUF_INIT, meta = BUF_INIT;
	uint8_t *raw = NULL;
	enum s3_err e;
	int r = 0, rc;

	p.errmsg = (struct buf)BUF_INIT;
	p.tmpname = (struct buf)BUF_INIT;
	p.tags = (struct buf)BUF_INIT;
	p.pol.max = UINT64_MAX;
	e = s3_bucket_check(s);
	if (e)
		return s3_send_error(s, e, NULL);
	if (s3_form_init(&form, gw_req_header(s->r, "Content-Type"))) {
		s3_form_release(&form);
		return s3_send_error(s, S3E_MalformedPOSTRequest, NULL);
	}
	raw = xmalloc(64 << 10);
	for (;;) {
		ssize_t n = gw_req_read(s->r, raw, 64 << 10);

		if (n < 0) {
			e = S3E_IncompleteBody;
			break;
		}
		if (n == 0) {
			r = s3_form_finish(&form);
			break;
		}
		r = s3_form_feed(&form, raw, (size_t)n, &post_cb, &p);
		if (r)
			break;
	}
	if (!e && r > 0)
		e = (enum s3_err)r;
	else if (!e && r == -E2BIG)
		e = S3E_MaxPostPreDataLengthExceededError;
	else if (!e && r)
		e = S3E_MalformedPOSTRequest;
	if (!e && !p.file_seen)
		e = S3E_IncorrectNumberOfFilesInPostRequest;
	if (!e && !p.file_done)
		e = S3E_MalformedPOSTRequest;
	if (!e && p.size < p.pol.min)
		e = S3E_EntityTooSmall;
	if (!e && meta_size(&p) > 2048)
		e = S3E_MetadataTooLarge;
	if (!e && p.ck) {
		uint8_t md[32];
		unsigned int l;

		EVP_DigestFinal_ex(p.ck, md, &l);
		if (memcmp(md, p.ck_want, l)) {
			buf_reset(&p.errmsg);
			buf_addf(&p.errmsg,
				 "The %s you specified did not match the calculated checksum.",
				 p.ck_name + 15);
			e = S3E_BadDigest;
		}
	}
	if (p.fh) {
		rc = fs_release(p.fh);
		p.fh = NULL;
		if (!e && rc)
			e = s3_err_from_errno(rc);
	}
	if (!e) {
		uint8_t md[16];
		unsigned int l;
		char etag[33];

		EVP_DigestFinal_ex(p.md5, md, &l);
		s3_hex(md, 16, etag);
		post_meta(&p, &meta);
		e = s3_key_path(s, p.key, &path);
		if (!e)
			e = s3_temp_commit(s, p.tmpname.ptr, p.ino, etag, meta.ptr, p.tags.ptr,
					   path.ptr);
		if (!e)
			respond(&p, etag);
	} else if (p.tmpname.len) {
		s3_temp_unlink(s, p.tmpname.ptr);
	}
	if (e)
		s3_send_error(s, e, p.errmsg.len ? p.errmsg.ptr : NULL);
	s3_form_release(&form);
	free(raw);
	free(p.io);
	EVP_MD_CTX_free(p.md5);
	EVP_MD_CTX_free(p.ck);
	for (size_t i = 0; i < p.n; i++) {
		free((char *)p.f[i].name);
		free((char *)p.f[i].value);
	}
	free(p.f);
	free(p.filename);
	free(p.part_ctype);
	free(p.key);
	s3_post_policy_free(&p.pol);
	buf_release(&p.errmsg);
	buf_release(&p.tmpname);
	buf_release(&p.tags);
	buf_release(&path);
	buf_release(&meta);
	return 0;
}
