/*
 * gateway/policy.h: IAM and bucket policy documents (AWS's JSON grammar),
 * parsed and validated once, then evaluated per request.
 *
 * Grammar accepted (anything else is refused with a one-line reason):
 *   { "Version": "2012-10-17" | "2008-10-17" (optional), "Id": string,
 *     "Statement": statement | [statement, ...] }
 *   statement: "Sid" (string, unique in the document), "Effect": "Allow" |
 *     "Deny"; exactly one of "Principal" / "NotPrincipal" in a bucket
 *     policy, neither in an IAM policy ("*", {"AWS": string | [string]};
 *     "Service", "CanonicalUser" and "Federated" are taken and match nobody);
 *     NotPrincipal only with Deny; exactly one of "Action" / "NotAction";
 *     exactly one of "Resource" / "NotResource"; "Condition".
 *   Action: "*" or "s3:NAME" with '*'/'?' wildcards, matched without regard
 *     to case, each naming at least one S3 action we know (policy_actions);
 *     IAM policies also take "admin:*" and "kms:*" patterns (MinIO's canned
 *     consoleAdmin) which never match an S3 request.
 *   Resource: "*" or "arn:aws:s3:::BUCKET[/KEY]" with wildcards; in a bucket
 *     policy the bucket part must be able to match the policy's bucket (an
 *     ARN for another bucket is MalformedPolicy, as AWS and MinIO answer).
 *   Condition: { OPERATOR: { KEY: value | [values] } }, OPERATOR one of
 *     String(Not)Equals, String(Not)EqualsIgnoreCase, String(Not)Like,
 *     Numeric(Not)Equals, NumericLessThan(Equals), NumericGreaterThan(Equals),
 *     Date(Not)Equals, DateLessThan(Equals), DateGreaterThan(Equals), Bool,
 *     (Not)IpAddress, Null; optionally prefixed "ForAnyValue:" or
 *     "ForAllValues:" and suffixed "IfExists" (not Null). KEY: aws:SourceIp,
 *     aws:SecureTransport, aws:username, aws:userid, aws:Referer,
 *     aws:UserAgent, aws:CurrentTime, aws:EpochTime, aws:PrincipalType,
 *     s3:prefix, s3:delimiter, s3:max-keys, s3:signatureversion, s3:authType,
 *     s3:versionid, s3:x-amz-..., s3:ExistingObjectTag/TAG, s3:RequestObjectTag/TAG,
 *     s3:RequestObjectTagKeys, s3:object-lock-*. Values are strings,
 *     numbers or booleans, checked for their operator at parse time (an IP
 *     or CIDR, a number, "true"/"false", a date).
 *
 * Hostile input is bounded: the document is at most POLICY_MAX_BYTES (AWS's
 * 20 KiB for bucket policies), at most POLICY_MAX_STATEMENTS statements and
 * POLICY_MAX_VALUES values per element; JSON nesting beyond the grammar is
 * refused; duplicate object keys are refused. Evaluation is linear in the
 * document (wildcard matching is O(pattern * subject) at worst, both capped).
 *
 * Evaluation (policy_eval): the statements that apply to the request are
 * those whose principal, action, resource and every condition match.
 * Any applicable Deny gives POLICY_DENY; else any applicable Allow gives
 * POLICY_ALLOW; else POLICY_NONE (the caller denies: implicit deny).
 * Condition semantics are AWS's: operators AND, keys AND, values OR; an
 * absent key fails a positive operator and passes a negated one
 * (StringNotEquals, NotIpAddress, ...), passes any ...IfExists, and passes
 * ForAllValues. Policy variables ("${aws:username}", any condition key,
 * and "${*}", "${?}", "${$}") are expanded in Resource patterns and in
 * String* condition values, per request; the expanded text matches
 * literally (a user named "*" widens nothing), and a variable without a
 * value makes its element match nothing.
 *
 * A parsed policy is immutable: thread safe for concurrent policy_eval.
 */
#ifndef JFS_GW_POLICY_H
#define JFS_GW_POLICY_H

#include "base/base.h"

#define POLICY_MAX_BYTES (20 << 10)
#define POLICY_MAX_STATEMENTS 1000
#define POLICY_MAX_VALUES 1000

enum policy_kind {
	POLICY_BUCKET, /* attached to a bucket: Principal required, resources of that bucket */
	POLICY_IAM,    /* attached to a user or group: no Principal */
};

struct policy;
/*
 * 0 and *out, or -EINVAL (malformed: why says what, one line) or -E2BIG
 * (over POLICY_MAX_BYTES). bucket: the bucket of a POLICY_BUCKET policy;
 * NULL skips the check of its resources (a stored policy, checked when put).
 */
int policy_parse(const char *doc, size_t len, enum policy_kind kind, const char *bucket,
		 struct policy **out, struct buf *why);
void policy_free(struct policy *p);

/* A condition key's value in the request (key lower-cased, e.g. "aws:sourceip"), or NULL. */
typedef const char *(*policy_key_fn)(void *arg, const char *key);

struct policy_req {
	const char *principal; /* "*" anonymous, else the user's name */
	const char *action;    /* "s3:GetObject" (policy_s3_action) */
	const char *bucket;    /* NULL for ListAllMyBuckets */
	const char *key;       /* NULL for a bucket-level action */
	policy_key_fn cond;    /* may be NULL: every key absent */
	void *cond_arg;
};

enum policy_decision { POLICY_NONE = 0, POLICY_ALLOW, POLICY_DENY };
enum policy_decision policy_eval(const struct policy *p, const struct policy_req *r);
/*
 * GetBucketPolicyStatus's IsPublic: some Allow statement applies to every
 * principal ("*") without a Condition (a condition such as a source IP
 * range makes it non-public, as AWS judges).
 */
int policy_is_public(const struct policy *p);

/* Every S3 action name we know, NULL-terminated (validation of Action patterns). */
extern const char *const policy_actions[];

/*
 * The action an S3 request needs, from its method, whether it names a key,
 * its query and whether it carries x-amz-copy-source: "s3:GetObject", ...
 * Bucket NULL: ListAllMyBuckets (or CreateBucket for a PUT with a bucket
 * and no sub-resource). NULL when the request is none we serve.
 */
struct s3_query;
const char *policy_s3_action(const char *method, int has_bucket, int has_key,
			     const struct s3_query *q, int copy_source);

/* Wildcard match ('*' any run, '?' one byte), case-folded when nocase. Exported for tests. */
int policy_glob(const char *pat, const char *s, int nocase);

#endif
