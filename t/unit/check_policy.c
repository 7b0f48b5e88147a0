/*
 * gateway/policy: the grammar (accepted and refused documents), the action
 * of every S3 request the gateway serves, and evaluation action by action,
 * wildcard by wildcard and condition by condition.
 */
#include <check.h>

#include "gateway/policy.h"
#include "gateway/s3.h"

static struct policy *must_parse(enum policy_kind kind, const char *bucket, const char *doc)
{
	struct policy *p;
	struct buf why = BUF_INIT;
	int r = policy_parse(doc, strlen(doc), kind, bucket, &p, &why);

	ck_assert_msg(r == 0, "refused (%s): %s", why.ptr, doc);
	buf_release(&why);
	return p;
}

static void must_refuse(enum policy_kind kind, const char *bucket, const char *doc, int err,
			const char *why_has)
{
	struct policy *p = (struct policy *)1;
	struct buf why = BUF_INIT;
	int r = policy_parse(doc, strlen(doc), kind, bucket, &p, &why);

	ck_assert_msg(r == err, "got %d, want %d for: %.200s", r, err, doc);
	ck_assert_ptr_null(p);
	ck_assert_msg(why.len > 0, "no reason for: %.200s", doc);
	if (why_has)
		ck_assert_msg(strstr(why.ptr, why_has), "reason \"%s\" lacks \"%s\"", why.ptr,
			      why_has);
	buf_release(&why);
}

/* A bucket policy of one statement: effect, action(s), resource(s) and a condition (or ""). */
static struct policy *one(const char *effect, const char *action, const char *resource,
			  const char *cond)
{
	char *doc = xasprintf("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"%s\","
			      "\"Principal\":\"*\",\"Action\":%s,\"Resource\":%s%s%s}]}",
			      effect, action, resource, *cond ? ",\"Condition\":" : "", cond);
	struct policy *p = must_parse(POLICY_BUCKET, "bkt", doc);

	free(doc);
	return p;
}

/* Condition keys of a test request: "k=v\nk2=v2" (keys lower-case). */
static const char *kv_lookup(void *arg, const char *key)
{
	/* a few buffers: a variable is looked up while a condition's value is held */
	static char vals[4][256];
	static int turn;
	char *val = vals[turn++ % 4];
	const char *s = arg;
	size_t kl = strlen(key);

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);

		if (n > kl && !strncmp(s, key, kl) && s[kl] == '=') {
			snprintf(val, sizeof(vals[0]), "%.*s", (int)(n - kl - 1), s + kl + 1);
			return val;
		}
		s = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static enum policy_decision eval(const struct policy *p, const char *who, const char *action,
				 const char *bucket, const char *key, const char *kv)
{
	struct policy_req r = { who, action, bucket, key, kv_lookup, (void *)kv };

	return policy_eval(p, &r);
}

#define ALLOW POLICY_ALLOW
#define DENY POLICY_DENY
#define NONE POLICY_NONE

START_TEST(glob)
{
	ck_assert(policy_glob("*", "", 0));
	ck_assert(policy_glob("*", "anything/at/all", 0));
	ck_assert(policy_glob("a*c", "abbbc", 0));
	ck_assert(!policy_glob("a*c", "abbbd", 0));
	ck_assert(policy_glob("a?c", "abc", 0));
	ck_assert(!policy_glob("a?c", "ac", 0));
	ck_assert(policy_glob("*/*", "b/k", 0));
	ck_assert(!policy_glob("*/*", "bk", 0));
	ck_assert(policy_glob("s3:get*", "s3:GetObject", 1));
	ck_assert(!policy_glob("s3:get*", "s3:GetObject", 0));
	ck_assert(policy_glob("a*b*c*d", "aXbYbZcWd", 0));
	ck_assert(!policy_glob("abc", "abcd", 0));
	ck_assert(!policy_glob("abcd", "abc", 0));
	/* the backtracking worst case stays quadratic, not exponential */
	char *s = xmalloc(4001), *pat = xmalloc(2002);
	memset(s, 'a', 4000);
	s[4000] = 0;
	for (int i = 0; i < 1000; i++) {
		pat[2 * i] = '*';
		pat[2 * i + 1] = 'a';
	}
	pat[2000] = 'b';
	pat[2001] = 0;
	ck_assert(!policy_glob(pat, s, 0));
	free(s);
	free(pat);
}
END_TEST

START_TEST(grammar_accepts)
{
	const char *ok[] = {
		/* statement as an object, principal forms, no version */
		"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
		"\"Resource\":\"arn:aws:s3:::bkt/*\"}}",
		"{\"Version\":\"2008-10-17\",\"Id\":\"x\",\"Statement\":[{\"Sid\":\"a\",\"Effect\":\"Deny\","
		"\"Principal\":{\"AWS\":[\"*\"]},\"NotAction\":[\"s3:Get*\",\"s3:List*\"],"
		"\"NotResource\":[\"arn:aws:s3:::bkt/pub/*\"]}]}",
		"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
		"\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:user/alice\"},\"Action\":\"*\","
		"\"Resource\":\"*\"}]}",
		"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\","
		"\"NotPrincipal\":{\"AWS\":\"alice\"},\"Action\":\"s3:*\",\"Resource\":[\"arn:aws:s3:::bkt\","
		"\"arn:aws:s3:::bkt/*\"]}]}",
		/* another bucket's resource through wildcards that can name this one */
		"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:ListBucket\","
		"\"Resource\":[\"arn:aws:s3:::*\",\"arn:aws:s3:::*/*\",\"arn:aws:s3:::b?t\","
		"\"arn:aws:s3:::bk*x/y\"]}]}",
		/* every operator, qualifiers, IfExists, value types */
		"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:ListBucket\","
		"\"Resource\":\"arn:aws:s3:::bkt\",\"Condition\":{"
		"\"StringEquals\":{\"s3:prefix\":[\"a\",\"b\"],\"aws:username\":\"u\"},"
		"\"StringNotEquals\":{\"s3:delimiter\":\"/\"},"
		"\"StringEqualsIgnoreCase\":{\"aws:UserAgent\":\"x\"},"
		"\"StringNotEqualsIgnoreCase\":{\"aws:UserAgent\":\"y\"},"
		"\"StringLikeIfExists\":{\"aws:Referer\":\"http://x/*\"},"
		"\"StringNotLike\":{\"s3:x-amz-acl\":\"public*\"},"
		"\"NumericLessThanEquals\":{\"s3:max-keys\":100},"
		"\"NumericEquals\":{\"s3:max-keys\":\"10\"},\"NumericNotEquals\":{\"s3:max-keys\":1.5},"
		"\"NumericLessThan\":{\"s3:max-keys\":1},\"NumericGreaterThan\":{\"s3:max-keys\":1},"
		"\"NumericGreaterThanEquals\":{\"s3:max-keys\":1},"
		"\"DateLessThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"},"
		"\"DateGreaterThanEquals\":{\"aws:CurrentTime\":\"2020-01-01\"},"
		"\"DateEquals\":{\"aws:EpochTime\":\"1700000000\"},"
		"\"DateNotEquals\":{\"aws:CurrentTime\":\"2020-01-01T00:00:00+02:00\"},"
		"\"DateLessThanEquals\":{\"aws:CurrentTime\":\"2020-01-01T00:00:00.5Z\"},"
		"\"DateGreaterThan\":{\"aws:CurrentTime\":\"2020-01-01T00:00:00Z\"},"
		"\"Bool\":{\"aws:SecureTransport\":true},\"IpAddress\":{\"aws:SourceIp\":[\"10.0.0.0/8\","
		"\"::1\",\"2001:db8::/32\"]},\"NotIpAddress\":{\"aws:SourceIp\":\"192.168.1.1\"},"
		"\"Null\":{\"s3:x-amz-server-side-encryption\":\"true\"},"
		"\"ForAnyValue:StringEquals\":{\"s3:RequestObjectTagKeys\":\"a\"},"
		"\"ForAllValues:StringLike\":{\"s3:ExistingObjectTag/Name\":\"*\"}}}]}",
		NULL
	};

	for (int i = 0; ok[i]; i++)
		policy_free(must_parse(POLICY_BUCKET, "bkt", ok[i]));
	/* IAM: no principal; MinIO's admin and kms actions */
	policy_free(must_parse(POLICY_IAM, NULL,
			       "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
			       "\"Action\":[\"admin:*\",\"kms:*\",\"s3:*\"],\"Resource\":"
			       "[\"arn:aws:s3:::*\"]}]}"));
}
END_TEST

START_TEST(grammar_refuses)
{
	const struct {
		enum policy_kind kind;
		const char *doc, *why;
	} bad[] = {
		{ POLICY_BUCKET, "", "JSON" },
		{ POLICY_BUCKET, "{", "JSON" },
		{ POLICY_BUCKET, "[]", "object" },
		{ POLICY_BUCKET, "{\"Statement\":[]}", "at least one" },
		{ POLICY_BUCKET, "{\"Version\":\"2012-10-17\"}", "Statement" },
		{ POLICY_BUCKET, "{\"Statement\":\"x\"}", "Statement" },
		{ POLICY_BUCKET, "{\"Version\":\"2013-01-01\",\"Statement\":{}}", "Version" },
		{ POLICY_BUCKET, "{\"Junk\":1,\"Statement\":{}}", "Junk" },
		{ POLICY_BUCKET, "{\"Statement\":[1]}", "object" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Effect\":\"Deny\"}}", "JSON" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"allow\",\"Principal\":\"*\",\"Action\":"
				 "\"s3:*\",\"Resource\":\"*\"}}", "Effect" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\","
				 "\"Resource\":\"*\"}}", "Principal" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"alice\","
				 "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "Principal" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"Robot\":\"x\"},"
				 "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "Robot" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"Service\":1},"
				 "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "Principal" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{},"
				 "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "Principal" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"NotPrincipal\":{\"AWS\":\"a\"},"
				 "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "NotPrincipal" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"NotPrincipal\":\"*\",\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "one of" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Resource\":\"*\"}}", "Action" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"NotAction\":\"s3:*\",\"Resource\":\"*\"}}", "Action" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:GetObjectz\",\"Resource\":\"*\"}}", "s3:GetObjectz" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:Frob*\",\"Resource\":\"*\"}}", "invalid action" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"admin:*\",\"Resource\":\"*\"}}", "invalid action" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":[],\"Resource\":\"*\"}}", "empty" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":[[\"s3:*\"]],\"Resource\":\"*\"}}", "strings" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\"}}", "Resource" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::other/*\"}}", "not in bucket" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::bk\"}}", "not in bucket" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::x*\"}}", "not in bucket" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"arn:aws:iam:::bkt\"}}", "invalid resource" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::\"}}", "invalid resource" },
		{ POLICY_BUCKET, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"*\",\"Foo\":1}}", "Foo" },
		{ POLICY_BUCKET, "{\"Statement\":[{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":\"*\","
				 "\"Action\":\"s3:*\",\"Resource\":\"*\"},{\"Sid\":\"a\",\"Effect\":\"Allow\","
				 "\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}", "duplicate Sid" },
		{ POLICY_IAM, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
			      "\"Action\":\"s3:*\",\"Resource\":\"*\"}}", "Principal" },
		{ 0, NULL, NULL }
	};
	const char *cond_bad[][2] = {
		{ "[]", "Condition" },
		{ "{}", "Condition" },
		{ "{\"StringEquals\":\"x\"}", "operator" },
		{ "{\"StringFrob\":{\"s3:prefix\":\"a\"}}", "StringFrob" },
		{ "{\"NullIfExists\":{\"s3:prefix\":\"true\"}}", "NullIfExists" },
		{ "{\"StringEquals\":{\"s3:nosuch\":\"a\"}}", "s3:nosuch" },
		{ "{\"StringEquals\":{\"aws:Nosuch\":\"a\"}}", "aws:Nosuch" },
		{ "{\"StringEquals\":{\"s3:x-amz-\":\"a\"}}", "s3:x-amz-" },
		{ "{\"StringEquals\":{\"s3:prefix\":[]}}", "values" },
		{ "{\"StringEquals\":{\"s3:prefix\":{\"a\":1}}}", "string, number or boolean" },
		{ "{\"StringEquals\":{\"s3:prefix\":[[\"a\"]]}}", "string, number or boolean" },
		{ "{\"StringEquals\":{\"s3:prefix\":null}}", "string, number or boolean" },
		{ "{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/33\"}}", "IP" },
		{ "{\"IpAddress\":{\"aws:SourceIp\":\"300.0.0.1\"}}", "IP" },
		{ "{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/\"}}", "IP" },
		{ "{\"NumericEquals\":{\"s3:max-keys\":\"ten\"}}", "number" },
		{ "{\"NumericEquals\":{\"s3:max-keys\":\"\"}}", "number" },
		{ "{\"Bool\":{\"aws:SecureTransport\":\"yes\"}}", "boolean" },
		{ "{\"DateLessThan\":{\"aws:CurrentTime\":\"2020-13-01\"}}", "date" },
		{ "{\"DateLessThan\":{\"aws:CurrentTime\":\"tomorrow\"}}", "date" },
		{ NULL, NULL }
	};

	for (int i = 0; bad[i].doc; i++)
		must_refuse(bad[i].kind, "bkt", bad[i].doc, -EINVAL, bad[i].why);
	for (int i = 0; cond_bad[i][0]; i++) {
		char *doc = xasprintf("{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
				      "\"Action\":\"s3:*\",\"Resource\":\"*\",\"Condition\":%s}}",
				      cond_bad[i][0]);

		must_refuse(POLICY_BUCKET, "bkt", doc, -EINVAL, cond_bad[i][1]);
		free(doc);
	}
}
END_TEST

START_TEST(hostile_documents)
{
	struct buf doc = BUF_INIT;
	struct policy *p;
	struct buf why = BUF_INIT;
	const char *st = "{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
			 "\"Resource\":\"arn:aws:s3:::bkt/*\"}";

	/* 10,000 statements: over the size cap, refused before parsing */
	buf_adds(&doc, "{\"Statement\":[");
	for (int i = 0; i < 10000; i++)
		buf_addf(&doc, "%s%s", i ? "," : "", st);
	buf_adds(&doc, "]}");
	ck_assert_int_eq(policy_parse(doc.ptr, doc.len, POLICY_BUCKET, "bkt", &p, &why), -E2BIG);
	ck_assert_ptr_null(p);
	ck_assert(why.len);
	/* the most statements that fit are parsed and evaluated */
	buf_reset(&doc);
	buf_reset(&why);
	buf_adds(&doc, "{\"Statement\":[");
	int n = 0;
	while (doc.len + strlen(st) + 3 < POLICY_MAX_BYTES)
		buf_addf(&doc, "%s%s", n++ ? "," : "", st);
	buf_adds(&doc, "]}");
	ck_assert_int_eq(policy_parse(doc.ptr, doc.len, POLICY_BUCKET, "bkt", &p, &why), 0);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "k", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "k", NULL), NONE);
	policy_free(p);
	/* nesting: brackets 20 KiB deep, and a condition nested past the grammar */
	buf_reset(&doc);
	for (int i = 0; i < POLICY_MAX_BYTES / 2; i++)
		buf_addch(&doc, '[');
	for (int i = 0; i < POLICY_MAX_BYTES / 2; i++)
		buf_addch(&doc, ']');
	buf_reset(&why);
	ck_assert_int_eq(policy_parse(doc.ptr, doc.len, POLICY_BUCKET, "bkt", &p, &why), -EINVAL);
	buf_reset(&doc);
	buf_adds(&doc, "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:*\","
		       "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"s3:prefix\":");
	for (int i = 0; i < 500; i++)
		buf_adds(&doc, "{\"a\":");
	buf_adds(&doc, "1");
	for (int i = 0; i < 500; i++)
		buf_adds(&doc, "}");
	buf_adds(&doc, "}}}}");
	buf_reset(&why);
	ck_assert_int_eq(policy_parse(doc.ptr, doc.len, POLICY_BUCKET, "bkt", &p, &why), -EINVAL);
	/* a NUL inside the document, and invalid UTF-8 */
	ck_assert_int_eq(policy_parse("{\"Statement\":\"\\u0000\"}", 22, POLICY_BUCKET, "bkt", &p,
				      &why), -EINVAL);
	ck_assert_int_eq(policy_parse("{\"Id\":\"\xff\"}", 10, POLICY_BUCKET, "bkt", &p, &why),
			 -EINVAL);
	buf_release(&doc);
	buf_release(&why);
}
END_TEST

/* Every S3 request the gateway serves, and the action it needs. */
START_TEST(action_of_each_request)
{
	const struct {
		const char *method, *query;
		int bucket, key;
		const char *action;
	} t[] = {
		{ "GET", "", 0, 0, "s3:ListAllMyBuckets" },
		{ "PUT", "", 1, 0, "s3:CreateBucket" },
		{ "HEAD", "", 1, 0, "s3:ListBucket" },
		{ "DELETE", "", 1, 0, "s3:DeleteBucket" },
		{ "GET", "", 1, 0, "s3:ListBucket" },
		{ "GET", "list-type=2&prefix=a", 1, 0, "s3:ListBucket" },
		{ "GET", "versions", 1, 0, "s3:ListBucketVersions" },
		{ "GET", "uploads", 1, 0, "s3:ListBucketMultipartUploads" },
		{ "GET", "location", 1, 0, "s3:GetBucketLocation" },
		{ "GET", "versioning", 1, 0, "s3:GetBucketVersioning" },
		{ "GET", "acl", 1, 0, "s3:GetBucketAcl" },
		{ "GET", "policy", 1, 0, "s3:GetBucketPolicy" },
		{ "PUT", "policy", 1, 0, "s3:PutBucketPolicy" },
		{ "DELETE", "policy", 1, 0, "s3:DeleteBucketPolicy" },
		{ "GET", "policyStatus", 1, 0, "s3:GetBucketPolicyStatus" },
		{ "GET", "cors", 1, 0, "s3:GetBucketCORS" },
		{ "PUT", "cors", 1, 0, "s3:PutBucketCORS" },
		{ "DELETE", "cors", 1, 0, "s3:PutBucketCORS" },
		{ "GET", "tagging", 1, 0, "s3:GetBucketTagging" },
		{ "PUT", "tagging", 1, 0, "s3:PutBucketTagging" },
		{ "GET", "lifecycle", 1, 0, "s3:GetLifecycleConfiguration" },
		{ "GET", "encryption", 1, 0, "s3:GetEncryptionConfiguration" },
		{ "GET", "object-lock", 1, 0, "s3:GetBucketObjectLockConfiguration" },
		{ "PUT", "versioning", 1, 0, "s3:PutBucketVersioning" },
		{ "PUT", "acl", 1, 0, "s3:PutBucketAcl" },
		{ "PUT", "frob", 1, 0, NULL },
		{ "POST", "delete", 1, 0, "s3:DeleteObject" },
		{ "POST", "", 1, 0, "s3:PutObject" },
		{ "GET", "", 1, 1, "s3:GetObject" },
		{ "HEAD", "", 1, 1, "s3:GetObject" },
		{ "GET", "partNumber=1", 1, 1, "s3:GetObject" },
		{ "GET", "attributes", 1, 1, "s3:GetObjectAttributes" },
		{ "GET", "tagging", 1, 1, "s3:GetObjectTagging" },
		{ "GET", "acl", 1, 1, "s3:GetObjectAcl" },
		{ "GET", "uploadId=x", 1, 1, "s3:ListMultipartUploadParts" },
		{ "PUT", "", 1, 1, "s3:PutObject" },
		{ "PUT", "partNumber=1&uploadId=x", 1, 1, "s3:PutObject" },
		{ "PUT", "tagging", 1, 1, "s3:PutObjectTagging" },
		{ "PUT", "acl", 1, 1, "s3:PutObjectAcl" },
		{ "DELETE", "", 1, 1, "s3:DeleteObject" },
		{ "DELETE", "tagging", 1, 1, "s3:DeleteObjectTagging" },
		{ "DELETE", "uploadId=x", 1, 1, "s3:AbortMultipartUpload" },
		{ "POST", "uploads", 1, 1, "s3:PutObject" },
		{ "POST", "uploadId=x", 1, 1, "s3:PutObject" },
		{ "POST", "", 1, 1, NULL },
		{ "PATCH", "", 1, 1, NULL },
		{ NULL, NULL, 0, 0, NULL },
	};

	for (int i = 0; t[i].method; i++) {
		struct s3_query q;
		const char *a;

		ck_assert_int_eq(s3_query_parse(t[i].query, &q), 0);
		a = policy_s3_action(t[i].method, t[i].bucket, t[i].key, &q, 0);
		if (!t[i].action)
			ck_assert_msg(!a, "%s ?%s: %s", t[i].method, t[i].query, a);
		else
			ck_assert_msg(a && !strcmp(a, t[i].action), "%s ?%s: %s, want %s",
				      t[i].method, t[i].query, a ? a : "NULL", t[i].action);
		/* every action we map is one a policy may name */
		if (a) {
			int known = 0;

			for (const char *const *k = policy_actions; *k; k++)
				known |= !strcmp(*k, a);
			ck_assert_msg(known, "%s is not in policy_actions", a);
		}
		s3_query_free(&q);
	}
}
END_TEST

/* Each action allowed alone allows exactly itself, on the right resource. */
START_TEST(action_by_action)
{
	const char *bucket_acts[] = { "s3:ListBucket", "s3:ListBucketVersions",
				      "s3:ListBucketMultipartUploads", "s3:GetBucketLocation",
				      "s3:GetBucketPolicy", "s3:PutBucketPolicy",
				      "s3:DeleteBucketPolicy", "s3:GetBucketPolicyStatus",
				      "s3:CreateBucket", "s3:DeleteBucket", "s3:GetBucketCORS",
				      "s3:PutBucketCORS", "s3:GetBucketVersioning", "s3:GetBucketAcl",
				      NULL };
	const char *object_acts[] = { "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
				      "s3:GetObjectTagging", "s3:PutObjectTagging",
				      "s3:DeleteObjectTagging", "s3:AbortMultipartUpload",
				      "s3:ListMultipartUploadParts", "s3:GetObjectAttributes",
				      "s3:GetObjectAcl", "s3:PutObjectAcl", NULL };

	for (int i = 0; bucket_acts[i]; i++) {
		char *a = xasprintf("\"%s\"", bucket_acts[i]);
		struct policy *p = one("Allow", a, "\"arn:aws:s3:::bkt\"", "");

		for (int j = 0; bucket_acts[j]; j++)
			ck_assert_int_eq(eval(p, "*", bucket_acts[j], "bkt", NULL, NULL),
					 i == j ? ALLOW : NONE);
		for (int j = 0; object_acts[j]; j++)
			ck_assert_int_eq(eval(p, "*", object_acts[j], "bkt", "k", NULL), NONE);
		policy_free(p);
		free(a);
	}
	for (int i = 0; object_acts[i]; i++) {
		char *a = xasprintf("[\"%s\"]", object_acts[i]);
		struct policy *p = one("Allow", a, "\"arn:aws:s3:::bkt/*\"", "");

		for (int j = 0; object_acts[j]; j++) {
			ck_assert_int_eq(eval(p, "*", object_acts[j], "bkt", "dir/k", NULL),
					 i == j ? ALLOW : NONE);
			/* the bucket ARN is not an object ARN */
			ck_assert_int_eq(eval(p, "*", object_acts[j], "bkt", NULL, NULL), NONE);
		}
		for (int j = 0; bucket_acts[j]; j++)
			ck_assert_int_eq(eval(p, "*", bucket_acts[j], "bkt", NULL, NULL), NONE);
		/* and Deny of the same action wins over an Allow of everything */
		char *doc = xasprintf("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
				      "\"Action\":\"s3:*\",\"Resource\":\"*\"},{\"Effect\":\"Deny\","
				      "\"Principal\":\"*\",\"Action\":%s,\"Resource\":"
				      "\"arn:aws:s3:::bkt/*\"}]}", a);
		policy_free(p);
		p = must_parse(POLICY_BUCKET, "bkt", doc);
		for (int j = 0; object_acts[j]; j++)
			ck_assert_int_eq(eval(p, "*", object_acts[j], "bkt", "k", NULL),
					 i == j ? DENY : ALLOW);
		ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), ALLOW);
		free(doc);
		policy_free(p);
		free(a);
	}
}
END_TEST

START_TEST(wildcards_and_not)
{
	struct policy *p = one("Allow", "\"s3:Get*\"", "\"arn:aws:s3:::bkt/pub/*\"", "");

	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "pub/a", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObjectTagging", "bkt", "pub/a/b", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "pub", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "private/a", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "pub/a", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "other", "pub/a", NULL), NONE);
	/* a key longer than the ARN buffer on the stack */
	char *longkey = xmalloc(3001);
	memcpy(longkey, "pub/", 4);
	memset(longkey + 4, 'x', 2996);
	longkey[3000] = 0;
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", longkey, NULL), ALLOW);
	longkey[0] = 'q';
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", longkey, NULL), NONE);
	free(longkey);
	policy_free(p);
	/* actions are case-blind, resources are not */
	p = one("Allow", "\"S3:getobject\"", "\"arn:aws:s3:::bkt/A?c\"", "");
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "Abc", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "abc", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "Abbc", NULL), NONE);
	policy_free(p);
	/* NotAction / NotResource */
	p = must_parse(POLICY_BUCKET, "bkt",
		       "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"NotAction\":"
		       "[\"s3:Delete*\",\"s3:Put*\"],\"NotResource\":\"arn:aws:s3:::bkt/secret/*\"}]}");
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "a", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "secret/a", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "a", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:DeleteBucket", "bkt", NULL, NULL), NONE);
	policy_free(p);
	/* principals: "*" is everyone; a named user is not the anonymous one */
	p = must_parse(POLICY_BUCKET, "bkt",
		       "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":["
		       "\"arn:aws:iam::123:user/alice\",\"bob\"]},\"Action\":\"s3:*\",\"Resource\":"
		       "\"arn:aws:s3:::bkt/*\"},{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\"bob\"},"
		       "\"Action\":\"s3:DeleteObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}");
	ck_assert_int_eq(eval(p, "alice", "s3:GetObject", "bkt", "k", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "bob", "s3:GetObject", "bkt", "k", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "k", NULL), NONE);
	ck_assert_int_eq(eval(p, "lice", "s3:GetObject", "bkt", "k", NULL), NONE);
	ck_assert_int_eq(eval(p, "alice", "s3:DeleteObject", "bkt", "k", NULL), DENY);
	ck_assert_int_eq(eval(p, "bob", "s3:DeleteObject", "bkt", "k", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:DeleteObject", "bkt", "k", NULL), DENY);
	policy_free(p);
	/* IAM: no principal; ListAllMyBuckets has no bucket */
	p = must_parse(POLICY_IAM, NULL,
		       "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:ListAllMyBuckets\","
		       "\"s3:GetObject\"],\"Resource\":\"arn:aws:s3:::*\"}]}");
	ck_assert_int_eq(eval(p, "alice", "s3:ListAllMyBuckets", NULL, NULL, NULL), ALLOW);
	ck_assert_int_eq(eval(p, "alice", "s3:GetObject", "any", "k", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "alice", "s3:PutObject", "any", "k", NULL), NONE);
	policy_free(p);
	ck_assert_int_eq(eval(NULL, "*", "s3:GetObject", "bkt", "k", NULL), NONE);
	/* a service principal is accepted, and is nobody here */
	p = must_parse(POLICY_BUCKET, "bkt",
		       "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":"
		       "\"logging.s3.amazonaws.com\"},\"Action\":\"s3:PutObject\",\"Resource\":"
		       "\"arn:aws:s3:::bkt/*\"},{\"Effect\":\"Deny\",\"NotPrincipal\":{\"CanonicalUser\":"
		       "\"abc\"},\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::bkt/*\"}]}");
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "k", NULL), NONE);
	ck_assert_int_eq(eval(p, "alice", "s3:PutObject", "bkt", "k", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "k", NULL), DENY);
	ck_assert(!policy_is_public(p));
	policy_free(p);
}
END_TEST

START_TEST(conditions)
{
	struct policy *p;
	const char *L = "\"s3:ListBucket\"", *B = "\"arn:aws:s3:::bkt\"";

	/* StringEquals: values OR, absent key fails */
	p = one("Allow", L, B, "{\"StringEquals\":{\"s3:prefix\":[\"a/\",\"b/\"]}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=a/"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=b/"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=c/"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=A/"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), NONE);
	policy_free(p);
	/* StringNotEquals: absent key passes */
	p = one("Allow", L, B, "{\"StringNotEquals\":{\"s3:delimiter\":\"/\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:delimiter=/"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:delimiter=-"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), ALLOW);
	policy_free(p);
	/* IgnoreCase */
	p = one("Allow", L, B, "{\"StringEqualsIgnoreCase\":{\"aws:UserAgent\":\"Curl\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:useragent=cURL"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:useragent=wget"), NONE);
	policy_free(p);
	/* StringLike / StringNotLike, IfExists */
	p = one("Allow", L, B, "{\"StringLike\":{\"s3:prefix\":\"home/*/\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=home/al/"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=home/al"), NONE);
	policy_free(p);
	p = one("Allow", L, B, "{\"StringNotLike\":{\"aws:Referer\":\"http://evil/*\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:referer=http://evil/x"),
			 NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:referer=http://ok/x"),
			 ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), ALLOW);
	policy_free(p);
	p = one("Allow", L, B, "{\"StringLikeIfExists\":{\"aws:Referer\":\"http://www.example.com/*\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "aws:referer=http://www.example.com/"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "aws:referer=http://example.com"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), ALLOW);
	policy_free(p);
	/* IpAddress / NotIpAddress, v4 and v6 */
	p = one("Allow", L, B, "{\"IpAddress\":{\"aws:SourceIp\":[\"10.1.0.0/16\",\"2001:db8::/32\"]}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=10.1.2.3"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=10.2.0.1"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=2001:db8::5"),
			 ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=2001:db9::5"),
			 NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=junk"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), NONE);
	policy_free(p);
	p = one("Deny", L, B, "{\"NotIpAddress\":{\"aws:SourceIp\":\"127.0.0.1\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=127.0.0.1"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:sourceip=127.0.0.2"), DENY);
	policy_free(p);
	/* Bool: aws:SecureTransport */
	p = one("Deny", L, B, "{\"Bool\":{\"aws:SecureTransport\":\"false\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:securetransport=false"),
			 DENY);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:securetransport=true"),
			 NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), NONE);
	policy_free(p);
	/* Numeric: s3:max-keys */
	p = one("Allow", L, B, "{\"NumericLessThanEquals\":{\"s3:max-keys\":\"10\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:max-keys=10"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:max-keys=11"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:max-keys=x"), NONE);
	policy_free(p);
	p = one("Allow", L, B, "{\"NumericNotEquals\":{\"s3:max-keys\":5},"
			       "\"NumericGreaterThan\":{\"s3:max-keys\":1}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:max-keys=5"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:max-keys=6"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:max-keys=1"), NONE);
	policy_free(p);
	/* Date against aws:CurrentTime */
	p = one("Allow", L, B, "{\"DateLessThan\":{\"aws:CurrentTime\":\"2030-01-01T00:00:00Z\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "aws:currenttime=2029-12-31T23:59:59Z"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "aws:currenttime=2030-01-01T00:00:00Z"), NONE);
	policy_free(p);
	/* Null: the key absent ("true") or present ("false") */
	p = one("Deny", "\"s3:PutObject\"", "\"arn:aws:s3:::bkt/*\"",
		"{\"Null\":{\"s3:x-amz-server-side-encryption\":\"true\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "k", NULL), DENY);
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "k",
			      "s3:x-amz-server-side-encryption=AES256"), NONE);
	policy_free(p);
	/* several operators and keys: all must hold */
	p = one("Allow", L, B, "{\"StringEquals\":{\"s3:prefix\":\"a\",\"s3:delimiter\":\"/\"},"
			       "\"IpAddress\":{\"aws:SourceIp\":\"127.0.0.0/8\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=a\ns3:delimiter=/\naws:sourceip=127.0.0.1"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=a\ns3:delimiter=/\naws:sourceip=10.0.0.1"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=a\naws:sourceip=127.0.0.1"), NONE);
	policy_free(p);
	/* condition keys are case-blind, a tag name is not; s3:x-amz-* headers */
	p = one("Allow", "\"s3:PutObject\"", "\"arn:aws:s3:::bkt/*\"",
		"{\"StringEquals\":{\"S3:X-Amz-Acl\":\"private\","
		"\"s3:RequestObjectTag/Team\":\"x\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "k",
			      "s3:x-amz-acl=private\ns3:requestobjecttag/Team=x"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:PutObject", "bkt", "k",
			      "s3:x-amz-acl=private\ns3:requestobjecttag/team=x"), NONE);
	policy_free(p);
	/* aws:username */
	p = one("Allow", L, B, "{\"StringEquals\":{\"aws:username\":\"alice\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "aws:username=alice"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, NULL), NONE);
	policy_free(p);
}
END_TEST

/* Policy variables in resources and string conditions, taken literally. */
START_TEST(policy_variables)
{
	struct policy *p;
	const char *G = "\"s3:GetObject\"", *L = "\"s3:ListBucket\"";
	const char *B = "\"arn:aws:s3:::bkt\"";

	p = one("Allow", G, "\"arn:aws:s3:::bkt/home/${aws:username}/*\"", "");
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home/alice/x", "aws:username=alice"),
			 ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home/bob/x", "aws:username=alice"),
			 NONE);
	/* no value (anonymous): the resource matches nothing */
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home/alice/x", NULL), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home//x", NULL), NONE);
	/* the value is literal: a user named "*" or "?" widens nothing */
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home/bob/x", "aws:username=*"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home/*/x", "aws:username=*"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "home/b/x", "aws:username=?"), NONE);
	/* the variable name is case-insensitive, the pattern's own '*' still a wildcard */
	policy_free(p);
	p = one("Allow", G, "\"arn:aws:s3:::bkt/${AWS:UserName}*\"", "");
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "al/any/thing", "aws:username=al"),
			 ALLOW);
	policy_free(p);
	/* ${*} ${?} ${$} are those characters, literally; an unclosed "${" is text */
	p = one("Allow", G, "\"arn:aws:s3:::bkt/a${*}b${$}c${?}\"", "");
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "a*b$c?", NULL), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "axxb$c!", NULL), NONE);
	policy_free(p);
	p = one("Allow", G, "\"arn:aws:s3:::bkt/${aws:username\"", "");
	ck_assert_int_eq(eval(p, "*", "s3:GetObject", "bkt", "${aws:username", "aws:username=u"),
			 ALLOW);
	policy_free(p);
	/* conditions: StringLike and StringEquals against a variable */
	p = one("Allow", L, B, "{\"StringLike\":{\"s3:prefix\":\"home/${aws:username}/*\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=home/al/docs/\naws:username=al"), ALLOW);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=home/bo/docs/\naws:username=al"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL, "s3:prefix=home/al/"), NONE);
	policy_free(p);
	p = one("Deny", L, B, "{\"StringNotEquals\":{\"s3:prefix\":\"${aws:userid}/\"}}");
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=u1/\naws:userid=u1"), NONE);
	ck_assert_int_eq(eval(p, "*", "s3:ListBucket", "bkt", NULL,
			      "s3:prefix=u2/\naws:userid=u1"), DENY);
	policy_free(p);
}
END_TEST

START_TEST(public_status)
{
	struct policy *p = one("Allow", "\"s3:ListBucket\"", "\"arn:aws:s3:::bkt\"", "");

	ck_assert(policy_is_public(p));
	policy_free(p);
	p = one("Allow", "\"s3:ListBucket\"", "\"arn:aws:s3:::bkt\"",
		"{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/32\"}}");
	ck_assert(!policy_is_public(p));
	policy_free(p);
	p = one("Deny", "\"s3:ListBucket\"", "\"arn:aws:s3:::bkt\"", "");
	ck_assert(!policy_is_public(p));
	policy_free(p);
	p = must_parse(POLICY_BUCKET, "bkt",
		       "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"
		       "\"arn:aws:iam::s3tenant1:root\"},\"Action\":\"s3:ListBucket\","
		       "\"Resource\":\"arn:aws:s3:::bkt\"}}");
	ck_assert(!policy_is_public(p));
	policy_free(p);
	ck_assert(!policy_is_public(NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	SRunner *sr;
	int failures;

	tcase_add_test(tc, glob);
	tcase_add_test(tc, grammar_accepts);
	tcase_add_test(tc, grammar_refuses);
	tcase_add_test(tc, hostile_documents);
	tcase_add_test(tc, action_of_each_request);
	tcase_add_test(tc, action_by_action);
	tcase_add_test(tc, wildcards_and_not);
	tcase_add_test(tc, conditions);
	tcase_add_test(tc, policy_variables);
	tcase_add_test(tc, public_status);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
