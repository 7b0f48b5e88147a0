/*
 * gateway/s3access.c: anonymous access through bucket policies (contract in
 * s3access.h).
 */
#include "gateway/s3access.h"

#include <strings.h>
#include <time.h>

void *s3access_parse_policy(const char *val, size_t len)
{
	struct policy *p = NULL;

	/* Checked against its bucket when it was put; NULL bucket skips that here. */
	if (policy_parse(val, len, POLICY_BUCKET, NULL, &p, NULL))
		log_warn("s3: a stored bucket policy no longer parses; anonymous access denied");
	return p;
}

void s3access_free_policy(void *p)
{
	policy_free(p);
}

struct keys {
	struct gw_req *r;
	const struct s3_query *q;
	char now[32], epoch[24];
	const char *user; /* NULL: anonymous */
	/* s3:ExistingObjectTag/T: the object's tags, read when a condition asks */
	struct fs *fs;
	const char *root, *key;
	int tags_read;
	struct s3_query tags, req_tags;
	int req_tags_read;
};

/* The s3-tags xattr of the object (query encoded), as s3object.c keeps it. */
static void read_tags(struct keys *k)
{
	struct buf path = BUF_INIT, v = BUF_INIT;
	struct meta_attr a;
	uint64_t ino;

	k->tags_read = 1;
	if (!k->key || s3_name_path(k->root, k->key, 0, &path) ||
	    fs_resolve(k->fs, NULL, path.ptr, &ino, &a) || fs_getxattr(k->fs, NULL, ino, "s3-tags", &v) ||
	    s3_query_parse(v.ptr, &k->tags))
		memset(&k->tags, 0, sizeof(k->tags));
	buf_release(&path);
	buf_release(&v);
}

static void keys_release(struct keys *k)
{
	if (k->tags_read)
		s3_query_free(&k->tags);
	if (k->req_tags_read)
		s3_query_free(&k->req_tags);
}

static const char *cond_key(void *arg, const char *key)
{
	struct keys *k = arg;

	if (!strcmp(key, "aws:sourceip"))
		return gw_req_remote(k->r);
	if (!strcmp(key, "aws:securetransport"))
		return gw_req_is_tls(k->r) ? "true" : "false";
	if (!strcmp(key, "aws:referer"))
		return gw_req_header(k->r, "Referer");
	if (!strcmp(key, "aws:useragent"))
		return gw_req_header(k->r, "User-Agent");
	if (!strcmp(key, "aws:principaltype"))
		return k->user ? "User" : "Anonymous";
	if (!strcmp(key, "aws:username") || !strcmp(key, "aws:userid"))
		return k->user;
	if (!strcmp(key, "aws:currenttime") || !strcmp(key, "aws:epochtime")) {
		time_t t = (time_t)(now_us() / 1000000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(k->now, sizeof(k->now), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(k->epoch, sizeof(k->epoch), "%lld", (long long)t);
		return key[4] == 'c' ? k->now : k->epoch;
	}
	if (!strcmp(key, "s3:prefix") || !strcmp(key, "s3:delimiter") ||
	    !strcmp(key, "s3:max-keys"))
		return s3_query_get(k->q, key + 3);
	if (!strcmp(key, "s3:versionid"))
		return s3_query_get(k->q, "versionId");
	if (!strncmp(key, "s3:x-amz-", 9))
		return gw_req_header(k->r, key + 3);
	if (!strncmp(key, "s3:existingobjecttag/", 21)) {
		if (!k->tags_read)
			read_tags(k);
		return s3_query_get(&k->tags, key + 21);
	}
	if (!strncmp(key, "s3:requestobjecttag/", 20)) {
		const char *h = gw_req_header(k->r, "x-amz-tagging");

		if (!k->req_tags_read) {
			k->req_tags_read = 1;
			if (!h || s3_query_parse(h, &k->req_tags))
				memset(&k->req_tags, 0, sizeof(k->req_tags));
		}
		return s3_query_get(&k->req_tags, key + 20);
	}
	return NULL;
}

enum s3_err s3access_anonymous(struct s3cfg_cache *c, const char *root, const char *bucket,
			       const char *key, const char *action, struct gw_req *r,
			       const struct s3_query *q)
{
	struct s3cfg_snap *snap;
	struct keys k = { r, q, "", "", NULL, s3cfg_cache_fs(c), root, key, 0, { 0 }, { 0 }, 0 };
	struct policy_req pr = { "*", action, bucket, key, cond_key, &k };
	enum policy_decision d;
	int rc;

	if (!bucket || !action)
		return S3E_AccessDenied;
	rc = s3cfg_cache_get(c, root, S3ACCESS_POLICY, s3access_parse_policy,
			     s3access_free_policy, &snap);
	if (rc)
		return rc == -EINVAL ? S3E_AccessDenied : s3_err_from_errno(rc);
	d = policy_eval(snap->parsed, &pr);
	s3cfg_snap_unref(snap);
	keys_release(&k);
	return d == POLICY_ALLOW ? S3E_OK : S3E_AccessDenied;
}

static void *parse_iam(const char *val, size_t len)
{
	struct iam *iam = NULL;
	struct buf why = BUF_INIT;

	if (iam_parse(val, len, &iam, &why))
		log_warn("s3: the stored IAM document does not parse (%s); its users are refused",
			 why.ptr);
	buf_release(&why);
	return iam;
}

static void free_iam(void *p)
{
	iam_free(p);
}

enum s3_err s3access_user_lookup(struct s3cfg_cache *c, const struct iam_key *key,
				 const char *access_key, struct s3cfg_snap **snap,
				 const struct iam_user **user, struct buf *secret)
{
	const struct iam_user *u;
	int r = s3cfg_cache_get(c, "", IAM_DOC, parse_iam, free_iam, snap);

	*user = NULL;
	if (r) {
		*snap = NULL;
		return s3_err_from_errno(r);
	}
	u = iam_user_get((*snap)->parsed, access_key);
	if (!u) {
		/*
		 * Perhaps added a moment ago through another gateway or
		 * gateway-admin: read the document once more before refusing.
		 */
		s3cfg_snap_unref(*snap);
		*snap = NULL;
		if ((r = s3cfg_cache_get_fresh(c, "", IAM_DOC, parse_iam, free_iam, snap)))
			return s3_err_from_errno(r);
		u = iam_user_get((*snap)->parsed, access_key);
	}
	if (u && u->parent) {
		/* a service account lives while its parent does and is enabled */
		const struct iam_user *p = iam_user_get((*snap)->parsed, u->parent);

		if (!p || !p->enabled)
			u = NULL;
	}
	if (!u || !u->enabled || iam_user_secret(u, key, secret)) {
		s3cfg_snap_unref(*snap);
		*snap = NULL;
		return S3E_InvalidAccessKeyId;
	}
	*user = u;
	return S3E_OK;
}

enum s3_err s3access_user(struct s3cfg_cache *c, const struct iam *iam, const struct iam_user *u,
			  const char *root, const char *bucket, const char *key,
			  const char *action, struct gw_req *r, const struct s3_query *q)
{
	struct keys k = { r, q, "", "", u->name, s3cfg_cache_fs(c), root, key, 0, { 0 }, { 0 }, 0 };
	enum s3_err e = S3E_AccessDenied;
	struct policy_req pr = { u->name, action, bucket, key, cond_key, &k };
	enum policy_decision id, bp = POLICY_NONE;
	struct s3cfg_snap *snap;
	int rc;

	if (!action)
		return S3E_AccessDenied;
	id = iam_eval(iam, u, &pr);
	if (id == POLICY_DENY)
		goto out;
	if (bucket) {
		rc = s3cfg_cache_get(c, root, S3ACCESS_POLICY, s3access_parse_policy,
				     s3access_free_policy, &snap);
		if (rc) {
			e = s3_err_from_errno(rc);
			goto out;
		}
		bp = policy_eval(snap->parsed, &pr);
		s3cfg_snap_unref(snap);
	}
	if (bp != POLICY_DENY && (id == POLICY_ALLOW || bp == POLICY_ALLOW))
		e = S3E_OK;
out:
	keys_release(&k);
	return e;
}
