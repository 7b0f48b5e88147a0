/*
 * gateway/s3bucket.c: the bucket verbs: ListBuckets, Create/DeleteBucket,
 * ListObjects (V1, V2 and versions), ?location, ?versioning, ?acl, and the
 * sub-resources (?policy, ?policyStatus here; ?cors in s3cors.c). The s3b_*
 * functions (contract in s3bucket.h) answer a document sub-resource without
 * a request; the documents live in the volume through s3cfg (one xattr per
 * document on the bucket directory), so every gateway of the volume answers
 * the same. The s3_op_* ones answer a request (s3-internal.h).
 */
#include "gateway/s3bucket.h"
#include "gateway/policy.h"
#include "gateway/s3-internal.h"
#include "gateway/s3access.h"

#include <openssl/evp.h>
#include <strings.h>

void s3b_answer_release(struct s3b_answer *a)
{
	buf_release(&a->msg);
	buf_release(&a->body);
}

static void policy_status(struct s3cfg_cache *c, const char *root, struct s3b_answer *a)
{
	struct s3cfg_snap *snap;
	int r = s3cfg_cache_get(c, root, S3ACCESS_POLICY, s3access_parse_policy,
				s3access_free_policy, &snap);

	if (r) {
		a->err = s3_err_from_errno(r);
		return;
	}
	buf_addf(&a->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PolicyStatus xmlns=\""
			   "http://s3.amazonaws.com/doc/2006-03-01/\"><IsPublic>%s</IsPublic>"
			   "</PolicyStatus>", policy_is_public(snap->parsed) ? "true" : "false");
	s3cfg_snap_unref(snap);
	a->status = 200;
	a->ctype = "application/xml";
}

void s3b_policy(struct s3cfg_cache *c, const char *method, const char *root, const char *bucket,
		int status_query, const char *body, size_t len, struct s3b_answer *a)
{
	int r = 0;

	if (status_query) {
		if (strcmp(method, "GET"))
			a->err = S3E_MethodNotAllowed;
		else
			policy_status(c, root, a);
		return;
	}
	if (!strcmp(method, "PUT")) {
		struct policy *p;

		if (len > POLICY_MAX_BYTES) {
			a->err = S3E_PolicyTooLarge;
			return;
		}
		r = policy_parse(body, len, POLICY_BUCKET, bucket, &p, &a->msg);
		if (r == -E2BIG) {
			a->err = S3E_PolicyTooLarge;
			return;
		}
		if (r) {
			a->err = S3E_MalformedPolicy;
			return;
		}
		policy_free(p);
		buf_reset(&a->msg);
		/* Kept as sent: GetBucketPolicy gives back the very bytes. */
		r = s3cfg_cache_put(c, root, S3ACCESS_POLICY, body, len);
		if (r)
			a->err = s3_err_from_errno(r);
		a->status = 204;
		return;
	}
	if (!strcmp(method, "GET")) {
		struct s3cfg_snap *snap;

		r = s3cfg_cache_get(c, root, S3ACCESS_POLICY, s3access_parse_policy,
				    s3access_free_policy, &snap);
		if (r) {
			a->err = s3_err_from_errno(r);
			return;
		}
		if (!snap->found) {
			a->err = S3E_NoSuchBucketPolicy;
		} else {
			buf_add(&a->body, snap->val, snap->len);
			a->status = 200;
			a->ctype = "application/json";
		}
		s3cfg_snap_unref(snap);
		return;
	}
	if (!strcmp(method, "DELETE")) {
		r = s3cfg_cache_del(c, root, S3ACCESS_POLICY);
		if (r && r != -ENOENT)
			a->err = s3_err_from_errno(r);
		a->status = 204;
		return;
	}
	a->err = S3E_MethodNotAllowed;
}

/* ---------------------------------------------------------------- listing */

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

int s3_op_list(struct s3_req *s, enum list_kind kind)
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
	struct buf after = BUF_INIT, out = BUF_INIT, v = BUF_INIT, dates = BUF_INIT;
	struct s3_list_res res;
	int64_t date_t = 0;
	uint32_t date_ms = 0;
	int have_date = 0;
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
		return s3_send_err(s, pe);
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
				return s3_send_err(s, S3E_InvalidArgument);
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
		return s3_send_err(s, s3_err_from_errno(r));
	}
	if (kind == LIST_V1)
		s3_xml_head(&out, "ListBucketResult");
	else if (kind == LIST_V2)
		s3_xml_head(&out, "ListBucketResult");
	else
		s3_xml_head(&out, "ListVersionsResult");
	s3_xml_el(&out, "Name", s->bucket);
	s3_xml_key(&out, "Prefix", prefix ? prefix : "", url);
	if (kind == LIST_V1) {
		s3_xml_key(&out, "Marker", marker ? marker : "", url);
	} else if (kind == LIST_V2) {
		if (token)
			s3_xml_el(&out, "ContinuationToken", token);
		if (start_after)
			s3_xml_key(&out, "StartAfter", start_after, url);
	} else {
		s3_xml_key(&out, "KeyMarker", marker ? marker : "", url);
		s3_xml_el(&out, "VersionIdMarker", s3_query_get(&s->q, "version-id-marker"));
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
		s3_xml_key(&out, "Delimiter", delim, url);
	if (url)
		s3_xml_el(&out, "EncodingType", "url");
	buf_addf(&out, "<IsTruncated>%s</IsTruncated>", res.truncated ? "true" : "false");
	if (res.truncated && (res.n || res.next)) {
		const char *last = res.next ? res.next : res.items[res.n - 1].key;

		if (kind == LIST_V1) {
			s3_xml_key(&out, "NextMarker", last, url);
		} else if (kind == LIST_V2) {
			struct buf t = BUF_INIT;

			b64(last, &t);
			s3_xml_el(&out, "NextContinuationToken", t.ptr);
			buf_release(&t);
		} else {
			s3_xml_key(&out, "NextKeyMarker", last, url);
			s3_xml_el(&out, "NextVersionIdMarker", "null");
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
	/* About 300 bytes a key: one allocation for the page, not a doubling series. */
	buf_grow(&out, res.n * 320);
	for (size_t i = 0; i < res.n; i++) {
		const struct s3_list_item *it = &res.items[i];
		char date[40];

		if (it->is_prefix)
			continue;
		buf_adds(&out, kind == LIST_VERSIONS ? "<Version>" : "<Contents>");
		s3_xml_key(&out, "Key", it->key, url);
		if (kind == LIST_VERSIONS)
			buf_adds(&out, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
		/* Keys of one page mostly share their time: format it once. */
		if (!have_date || it->mtime != date_t || it->mtimensec / 1000000 != date_ms) {
			have_date = 1;
			date_t = it->mtime;
			date_ms = it->mtimensec / 1000000;
			s3_iso_date(it->mtime, it->mtimensec, date, sizeof(date));
			buf_reset(&dates);
			s3_xml_el(&dates, "LastModified", date);
		}
		buf_add(&out, dates.ptr, dates.len);
		buf_reset(&v);
		if (it->key[strlen(it->key) - 1] == '/') {
			buf_adds(&v, EMPTY_MD5);
		} else {
			if (etag_found[netags])
				buf_add(&v, etags[netags].ptr, etags[netags].len);
			netags++;
		}
		if (v.len > 97) { /* what s3_quote_etag keeps of it */
			char q[100];

			s3_quote_etag(v.ptr, q, sizeof(q));
			s3_xml_el(&out, "ETag", q);
		} else if (v.len) {
			/* s3_quote_etag and s3_xml_el, without the copy: "..." escaped */
			buf_add(&out, "<ETag>&quot;", 12);
			s3_xml_escape(&out, v.ptr);
			buf_add(&out, "&quot;</ETag>", 13);
		} else {
			buf_adds(&out, "<ETag></ETag>");
		}
		buf_add(&out, "<Size>", 6);
		buf_add_u64(&out, it->size);
		buf_add(&out, "</Size>", 7);
		if (kind != LIST_V2 || fetch_owner)
			buf_adds(&out, "<Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID><DisplayName>minio</DisplayName></Owner>");
		buf_adds(&out, "<StorageClass>STANDARD</StorageClass>");
		buf_adds(&out, kind == LIST_VERSIONS ? "</Version>" : "</Contents>");
	}
	for (size_t i = 0; i < res.n; i++) {
		if (!res.items[i].is_prefix)
			continue;
		buf_adds(&out, "<CommonPrefixes>");
		s3_xml_key(&out, "Prefix", res.items[i].key, url);
		buf_adds(&out, "</CommonPrefixes>");
	}
	buf_adds(&out, kind == LIST_VERSIONS ? "</ListVersionsResult>" : "</ListBucketResult>");
	s3_send_xml(s, 200, &out);
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
	buf_release(&dates);
	return 0;
}

/* ---------------------------------------------------------------- buckets */

/* S3E_OK, S3E_NoSuchBucket, or the engine's failure (never NoSuchBucket for that). */
enum s3_err s3_bucket_check(struct s3_req *s)
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
	return s3_bucket_check(s) == S3E_OK;
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
	return !s3_authorize(s, root, name, NULL, "s3:ListBucket") ||
	       !s3_authorize(s, root, name, NULL, "s3:GetBucketLocation");
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
	s3_xml_el(w->out, "Name", name);
	s3_iso_date(d->attr.ctime, 0, date, sizeof(date));
	s3_xml_el(w->out, "CreationDate", date);
	buf_adds(w->out, "</Bucket>");
	return 0;
}

int s3_op_list_buckets(struct s3_req *s)
{
	struct buf out = BUF_INIT;
	char date[40];

	s3_xml_head(&out, "ListAllMyBucketsResult");
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
			s3_xml_el(&out, "Name", s->g->volume);
			s3_iso_date(a.ctime, 0, date, sizeof(date));
			s3_xml_el(&out, "CreationDate", date);
			buf_adds(&out, "</Bucket>");
		}
	}
	buf_adds(&out, "</Buckets></ListAllMyBucketsResult>");
	s3_send_xml(s, 200, &out);
	buf_release(&out);
	return 0;
}

/* ?policy and ?policyStatus (s3bucket.c): read the body, send the answer. */
int s3_op_bucket_policy(struct s3_req *s)
{
	struct s3b_answer a = S3B_ANSWER_INIT;
	struct buf body = BUF_INIT;
	enum s3_err e = S3E_OK;

	if (!strcmp(s->method, "PUT")) {
		/* s3_read_body refuses over its cap with MalformedXML: here, too large */
		e = s->body_len > POLICY_MAX_BYTES ? S3E_PolicyTooLarge
						   : s3_read_body(s, POLICY_MAX_BYTES, &body);
		if (e == S3E_MalformedXML)
			e = S3E_PolicyTooLarge;
	}
	if (!e)
		s3b_policy(s->g->cfg, s->method, s->root, s->bucket,
			   s3_query_has(&s->q, "policyStatus"), body.ptr, body.len, &a);
	if (e || a.err) {
		s3_send_error(s, e ? e : a.err, a.msg.len ? a.msg.ptr : NULL);
	} else if (a.ctype) {
		gw_resp_status(s->r, a.status);
		s3_add_common(s);
		gw_resp_header(s->r, "Content-Type", a.ctype);
		gw_resp_body(s->r, a.body.ptr, a.body.len);
	} else {
		s3_send_empty(s, a.status);
	}
	s3b_answer_release(&a);
	buf_release(&body);
	return 0;
}
/* CreateBucket (PUT without a sub-resource); with --multi-buckets only. */
int s3_op_create_bucket(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	uint64_t parent;
	const char *name;
	struct buf body = BUF_INIT;
	enum s3_err e;
	int r;

	if (!s3_valid_bucket_name(s->bucket))
		return s3_send_err(s, S3E_InvalidBucketName);
	/* The body, if any, must be a CreateBucketConfiguration, as AWS checks. */
	e = s3_read_body(s, 64 << 10, &body);
	if (!e && s3_xml_create_bucket(body.ptr, body.len))
		e = S3E_MalformedXML;
	buf_release(&body);
	if (e)
		return s3_send_err(s, e);
	if (bucket_exists(s))
		return s3_send_err(s, S3E_BucketAlreadyOwnedByYou);
	if (!g->c.multi_buckets)
		return s3_send_err(s, S3E_AccessDenied);
	r = s3_resolve_parent(g, s->root, &parent, &name);
	if (!r)
		r = fs_mkdir(g->fs, NULL, parent, name, 0777 & ~g->c.umask, 0, NULL, NULL);
	if (r == -EEXIST)
		return s3_send_err(s, S3E_BucketAlreadyOwnedByYou);
	if (r)
		return s3_send_err(s, s3_err_from_errno(r));
	gw_resp_header(s->r, "Location", gw_req_raw_path(s->r));
	return s3_send_empty(s, 200);
}

/* DeleteBucket: only an empty one, and only with --multi-buckets. */
int s3_op_delete_bucket(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	uint64_t parent;
	const char *name;
	int r;

	if (!g->c.multi_buckets)
		return s3_send_err(s, S3E_MethodNotAllowed);
	r = s3_resolve_parent(g, s->root, &parent, &name);
	if (!r)
		r = fs_rmdir(g->fs, NULL, parent, name, 0);
	if (r == -ENOTEMPTY)
		return s3_send_err(s, S3E_BucketNotEmpty);
	if (r)
		return s3_send_err(s, s3_err_from_errno(r));
	s3cfg_cache_forget(g->cfg, s->root); /* its documents went with it */
	return s3_send_empty(s, 204);
}

int s3_op_bucket_location(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	struct buf out = BUF_INIT;

	s3_xml_head(&out, "LocationConstraint");
	s3_xml_escape(&out, g->c.region && strcmp(g->c.region, "us-east-1")
				    ? g->c.region
				    : "");
	buf_adds(&out, "</LocationConstraint>");
	s3_send_xml(s, 200, &out);
	buf_release(&out);
	return 0;
}

int s3_op_bucket_versioning(struct s3_req *s)
{
	struct buf out = BUF_INIT;

	s3_xml_head(&out, "VersioningConfiguration");
	buf_adds(&out, "</VersioningConfiguration>");
	s3_send_xml(s, 200, &out);
	buf_release(&out);
	return 0;
}

/* GET ?acl of a bucket or an object: always the owner's full control. */
int s3_op_get_acl(struct s3_req *s)
{
	struct buf out = BUF_INIT;

	s3_xml_head(&out, "AccessControlPolicy");
	buf_adds(&out, "<Owner><ID>juicefs</ID><DisplayName>juicefs</DisplayName>"
		       "</Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>juicefs</ID><DisplayName>juicefs</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>");
	s3_send_xml(s, 200, &out);
	buf_release(&out);
	return 0;
}
