/*
 * gateway/s3bucket.c: bucket sub-resources (contract in s3bucket.h). The
 * documents live in the volume through s3cfg (one xattr per document on the
 * bucket directory), so every gateway of the volume answers the same.
 */
#include "gateway/s3bucket.h"
#include "gateway/policy.h"
#include "gateway/s3access.h"

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
