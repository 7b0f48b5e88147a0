/*
 * gateway/s3access.h: who may do what, beyond the root key. Today: an
 * anonymous request (no Authorization header, no presigned query) is allowed
 * exactly when its bucket's policy allows its action for principal "*", and
 * no statement denies it (policy.h evaluates; s3cfg.h keeps and caches the
 * document). The root key is always allowed and never reaches this file, so
 * a signed request pays nothing for policies.
 *
 * Cost of an anonymous request: one cache lookup (a mutex and a list walk);
 * once per S3ACCESS_TTL_MS per bucket one xattr read, and one parse per
 * change of the document. A policy changed through another gateway of the
 * volume is therefore in force here within S3ACCESS_TTL_MS.
 */
#ifndef JFS_GW_S3ACCESS_H
#define JFS_GW_S3ACCESS_H

#include "gateway/http.h"
#include "gateway/iam.h"
#include "gateway/policy.h"
#include "gateway/s3.h"
#include "gateway/s3cfg.h"

#define S3ACCESS_TTL_MS 1000
/* The document name of a bucket policy in s3cfg ("s3.policy" xattr). */
#define S3ACCESS_POLICY "policy"

/* The parsed form kept in the cache for a stored policy (NULL when it no longer parses). */
void *s3access_parse_policy(const char *val, size_t len);
void s3access_free_policy(void *p);

/*
 * May an anonymous request do `action` on bucket (root is its directory,
 * as s3cfg wants) and key (NULL for a bucket-level action)? S3E_OK, or
 * S3E_AccessDenied (no policy, no Allow, or a Deny: never says which), or
 * the error of the failed metadata read. The request's condition keys come
 * from r and q: aws:SourceIp, aws:SecureTransport, aws:Referer,
 * aws:UserAgent, aws:CurrentTime, aws:EpochTime, aws:PrincipalType
 * ("Anonymous"), s3:prefix, s3:delimiter, s3:max-keys, s3:versionid,
 * s3:x-amz-* (the request header of that name), s3:ExistingObjectTag/T (the
 * object's tag T, read from the volume only when a condition asks for it)
 * and s3:RequestObjectTag/T (from the x-amz-tagging header).
 */
enum s3_err s3access_anonymous(struct s3cfg_cache *c, const char *root, const char *bucket,
			       const char *key, const char *action, struct gw_req *r,
			       const struct s3_query *q);

/*
 * The user whose access key a signed request names (iam.h; the store is the
 * volume root's IAM_DOC document, through the same cache): S3E_OK with
 * *snap (the store; unref it when the request ends), *user (inside it) and
 * its secret key in secret; S3E_InvalidAccessKeyId when there is no such
 * user, it is disabled, or its secret does not unseal with this gateway's
 * root credentials; or the error of the failed metadata read. A key the
 * cached copy lacks is looked up once more in a fresh read (added a moment
 * ago elsewhere). A service account is refused when its parent is gone or
 * disabled.
 */
enum s3_err s3access_user_lookup(struct s3cfg_cache *c, const struct iam_key *key,
				 const char *access_key, struct s3cfg_snap **snap,
				 const struct iam_user **user, struct buf *secret);
/*
 * May user u do `action`? S3E_OK when its policies or the bucket's policy
 * (for principal u) allow it and none of them denies it, else
 * S3E_AccessDenied. Condition keys as for anonymous requests, plus
 * aws:username and aws:userid (the user's name) and aws:PrincipalType "User".
 * bucket NULL: ListAllMyBuckets.
 */
enum s3_err s3access_user(struct s3cfg_cache *c, const struct iam *iam, const struct iam_user *u,
			  const char *root, const char *bucket, const char *key,
			  const char *action, struct gw_req *r, const struct s3_query *q);

#endif
