/*
 * gateway/policy.c: policy documents (contract and grammar in policy.h).
 *
 * The JSON is read with jansson into a compact form: every string the
 * evaluation compares is copied out, lower-cased where AWS compares without
 * case (action names, condition keys and operators), and every condition
 * value is converted at parse time (CIDR, number, boolean, date), so that
 * policy_eval never fails and never allocates.
 */
#include "gateway/policy.h"
#include "gateway/s3.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- actions */

const char *const policy_actions[] = {
	"s3:AbortMultipartUpload", "s3:BypassGovernanceRetention", "s3:CreateBucket",
	"s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:DeleteBucketWebsite",
	"s3:DeleteObject", "s3:DeleteObjectTagging", "s3:DeleteObjectVersion",
	"s3:DeleteObjectVersionTagging", "s3:GetAccelerateConfiguration", "s3:GetBucketAcl",
	"s3:GetBucketCORS", "s3:GetBucketLocation", "s3:GetBucketLogging",
	"s3:GetBucketNotification", "s3:GetBucketObjectLockConfiguration",
	"s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus",
	"s3:GetBucketPublicAccessBlock", "s3:GetBucketRequestPayment", "s3:GetBucketTagging",
	"s3:GetBucketVersioning", "s3:GetBucketWebsite", "s3:GetEncryptionConfiguration",
	"s3:GetLifecycleConfiguration", "s3:GetObject", "s3:GetObjectAcl",
	"s3:GetObjectAttributes", "s3:GetObjectLegalHold", "s3:GetObjectRetention",
	"s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionAcl",
	"s3:GetObjectVersionAttributes", "s3:GetObjectVersionTagging",
	"s3:GetReplicationConfiguration", "s3:ListAllMyBuckets", "s3:ListBucket",
	"s3:ListBucketMultipartUploads", "s3:ListBucketVersions", "s3:ListMultipartUploadParts",
	"s3:PutAccelerateConfiguration", "s3:PutBucketAcl", "s3:PutBucketCORS",
	"s3:PutBucketLogging", "s3:PutBucketNotification", "s3:PutBucketObjectLockConfiguration",
	"s3:PutBucketOwnershipControls", "s3:PutBucketPolicy", "s3:PutBucketPublicAccessBlock",
	"s3:PutBucketRequestPayment", "s3:PutBucketTagging", "s3:PutBucketVersioning",
	"s3:PutBucketWebsite", "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration",
	"s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectLegalHold", "s3:PutObjectRetention",
	"s3:PutObjectTagging", "s3:PutObjectVersionAcl", "s3:PutObjectVersionTagging",
	"s3:PutReplicationConfiguration", "s3:ReplicateDelete", "s3:ReplicateObject",
	"s3:ReplicateTags", "s3:RestoreObject", "s3:ListJobs", "s3:CreateJob",
	"s3:DescribeJob", "s3:UpdateJobPriority", "s3:UpdateJobStatus",
	"s3:GetBucketObjectLockConfiguration", "s3:ObjectOwnerOverrideToBucketOwner",
	"s3:PutBucketObjectLockConfiguration", "s3:GetInventoryConfiguration",
	"s3:PutInventoryConfiguration", "s3:GetMetricsConfiguration",
	"s3:PutMetricsConfiguration", "s3:GetAnalyticsConfiguration",
	"s3:PutAnalyticsConfiguration", "s3:GetIntelligentTieringConfiguration",
	"s3:PutIntelligentTieringConfiguration",
	/* MinIO's own, which mc's canned policies name */
	"s3:ListenBucketNotification", "s3:ListenNotification", "s3:GetBucketQuota",
	"s3:PutBucketQuota",
	NULL
};

/* Sub-resources and their actions, by method: the first present wins. */
struct subres {
	const char *query, *action;
};

static const struct subres bucket_get[] = {
	{ "policyStatus", "s3:GetBucketPolicyStatus" },
	{ "policy", "s3:GetBucketPolicy" },
	{ "location", "s3:GetBucketLocation" },
	{ "versioning", "s3:GetBucketVersioning" },
	{ "versions", "s3:ListBucketVersions" },
	{ "uploads", "s3:ListBucketMultipartUploads" },
	{ "acl", "s3:GetBucketAcl" },
	{ "cors", "s3:GetBucketCORS" },
	{ "tagging", "s3:GetBucketTagging" },
	{ "lifecycle", "s3:GetLifecycleConfiguration" },
	{ "encryption", "s3:GetEncryptionConfiguration" },
	{ "object-lock", "s3:GetBucketObjectLockConfiguration" },
	{ "notification", "s3:GetBucketNotification" },
	{ "replication", "s3:GetReplicationConfiguration" },
	{ "website", "s3:GetBucketWebsite" },
	{ "logging", "s3:GetBucketLogging" },
	{ "publicAccessBlock", "s3:GetBucketPublicAccessBlock" },
	{ "ownershipControls", "s3:GetBucketOwnershipControls" },
	{ "accelerate", "s3:GetAccelerateConfiguration" },
	{ "requestPayment", "s3:GetBucketRequestPayment" },
	{ "intelligent-tiering", "s3:GetIntelligentTieringConfiguration" },
	{ "analytics", "s3:GetAnalyticsConfiguration" },
	{ "metrics", "s3:GetMetricsConfiguration" },
	{ "inventory", "s3:GetInventoryConfiguration" },
	{ NULL, NULL }
};

static const struct subres bucket_put[] = {
	{ "policy", "s3:PutBucketPolicy" },
	{ "cors", "s3:PutBucketCORS" },
	{ "tagging", "s3:PutBucketTagging" },
	{ "acl", "s3:PutBucketAcl" },
	{ "versioning", "s3:PutBucketVersioning" },
	{ "lifecycle", "s3:PutLifecycleConfiguration" },
	{ "encryption", "s3:PutEncryptionConfiguration" },
	{ "object-lock", "s3:PutBucketObjectLockConfiguration" },
	{ "notification", "s3:PutBucketNotification" },
	{ "replication", "s3:PutReplicationConfiguration" },
	{ "website", "s3:PutBucketWebsite" },
	{ "logging", "s3:PutBucketLogging" },
	{ "publicAccessBlock", "s3:PutBucketPublicAccessBlock" },
	{ "ownershipControls", "s3:PutBucketOwnershipControls" },
	{ "accelerate", "s3:PutAccelerateConfiguration" },
	{ "requestPayment", "s3:PutBucketRequestPayment" },
	{ "intelligent-tiering", "s3:PutIntelligentTieringConfiguration" },
	{ "analytics", "s3:PutAnalyticsConfiguration" },
	{ "metrics", "s3:PutMetricsConfiguration" },
	{ "inventory", "s3:PutInventoryConfiguration" },
	{ NULL, NULL }
};

/* AWS: removing a configuration needs the permission to put it, but for these two. */
static const struct subres bucket_delete[] = {
	{ "policy", "s3:DeleteBucketPolicy" },
	{ "website", "s3:DeleteBucketWebsite" },
	{ "cors", "s3:PutBucketCORS" },
	{ "tagging", "s3:PutBucketTagging" },
	{ "lifecycle", "s3:PutLifecycleConfiguration" },
	{ "encryption", "s3:PutEncryptionConfiguration" },
	{ "replication", "s3:PutReplicationConfiguration" },
	{ "publicAccessBlock", "s3:PutBucketPublicAccessBlock" },
	{ "ownershipControls", "s3:PutBucketOwnershipControls" },
	{ "intelligent-tiering", "s3:PutIntelligentTieringConfiguration" },
	{ "analytics", "s3:PutAnalyticsConfiguration" },
	{ "metrics", "s3:PutMetricsConfiguration" },
	{ "inventory", "s3:PutInventoryConfiguration" },
	{ NULL, NULL }
};

static const struct subres object_get[] = {
	{ "tagging", "s3:GetObjectTagging" },
	{ "uploadId", "s3:ListMultipartUploadParts" },
	{ "attributes", "s3:GetObjectAttributes" },
	{ "acl", "s3:GetObjectAcl" },
	{ "retention", "s3:GetObjectRetention" },
	{ "legal-hold", "s3:GetObjectLegalHold" },
	{ NULL, NULL }
};

static const struct subres object_put[] = {
	{ "tagging", "s3:PutObjectTagging" },
	{ "acl", "s3:PutObjectAcl" },
	{ "retention", "s3:PutObjectRetention" },
	{ "legal-hold", "s3:PutObjectLegalHold" },
	{ NULL, NULL }
};

static const struct subres object_delete[] = {
	{ "tagging", "s3:DeleteObjectTagging" },
	{ "uploadId", "s3:AbortMultipartUpload" },
	{ NULL, NULL }
};

static const struct subres object_post[] = {
	{ "uploads", "s3:PutObject" },
	{ "uploadId", "s3:PutObject" },
	{ "restore", "s3:RestoreObject" },
	{ "select", "s3:GetObject" },
	{ NULL, NULL }
};

static const char *pick(const struct subres *t, const struct s3_query *q, const char *dflt)
{
	for (; t->query; t++)
		if (s3_query_has(q, t->query))
			return t->action;
	return dflt;
}

const char *policy_s3_action(const char *method, int has_bucket, int has_key,
			     const struct s3_query *q, int copy_source)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	(void)copy_source; /* a copy needs s3:PutObject here and s3:GetObject on its source */
	if (!has_bucket)
		return get ? "s3:ListAllMyBuckets" : NULL;
	if (!has_key) {
		if (get)
			return pick(bucket_get, q, "s3:ListBucket");
		if (!strcmp(method, "PUT"))
			return pick(bucket_put, q, q->n ? NULL : "s3:CreateBucket");
		if (!strcmp(method, "DELETE"))
			return pick(bucket_delete, q, q->n ? NULL : "s3:DeleteBucket");
		if (!strcmp(method, "POST"))
			/* DeleteObjects is checked key by key; a browser form is a PutObject */
			return s3_query_has(q, "delete") ? "s3:DeleteObject" : "s3:PutObject";
		return NULL;
	}
	if (get)
		return pick(object_get, q, "s3:GetObject");
	if (!strcmp(method, "PUT"))
		return pick(object_put, q, "s3:PutObject");
	if (!strcmp(method, "DELETE"))
		return pick(object_delete, q, "s3:DeleteObject");
	if (!strcmp(method, "POST"))
		return pick(object_post, q, NULL);
	return NULL;
}

/* ---------------------------------------------------------------- matching */

/*
 * Wildcard match where lit[i] (lit may be NULL) makes pat[i] a plain byte:
 * the text a policy variable expanded to is matched literally, so a user or
 * prefix holding '*' cannot widen a resource. Greedy with one backtrack
 * point: on a mismatch after a '*', the star takes one more byte. Correct
 * for '*' and '?' and O(|pat| * |s|).
 */
static int glob_lit(const char *pat, const uint8_t *lit, const char *s, int nocase)
{
	const char *base = pat, *star = NULL, *resume = NULL;

	while (*s) {
		char pc = *pat, sc = *s;
		int wild = *pat && !(lit && lit[pat - base]);

		if (nocase) {
			pc = (char)tolower((unsigned char)pc);
			sc = (char)tolower((unsigned char)sc);
		}
		if (wild && *pat == '*') {
			star = ++pat;
			resume = s;
		} else if (*pat && ((wild && *pat == '?') || pc == sc)) {
			pat++;
			s++;
		} else if (star) {
			pat = star;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*pat == '*' && !(lit && lit[pat - base]))
		pat++;
	return !*pat;
}

int policy_glob(const char *pat, const char *s, int nocase)
{
	return glob_lit(pat, NULL, s, nocase);
}

/* ---------------------------------------------------------------- the parsed form */

enum op {
	OP_STR_EQ, OP_STR_EQ_NOCASE, OP_STR_LIKE, OP_NUM_EQ, OP_NUM_LT, OP_NUM_LE, OP_NUM_GT,
	OP_NUM_GE, OP_DATE_EQ, OP_DATE_LT, OP_DATE_LE, OP_DATE_GT, OP_DATE_GE, OP_BOOL, OP_IP,
	OP_NULL,
};

static const struct {
	const char *name;
	enum op op;
	int negate;
} ops[] = {
	{ "stringequals", OP_STR_EQ, 0 },
	{ "stringnotequals", OP_STR_EQ, 1 },
	{ "stringequalsignorecase", OP_STR_EQ_NOCASE, 0 },
	{ "stringnotequalsignorecase", OP_STR_EQ_NOCASE, 1 },
	{ "stringlike", OP_STR_LIKE, 0 },
	{ "stringnotlike", OP_STR_LIKE, 1 },
	{ "numericequals", OP_NUM_EQ, 0 },
	{ "numericnotequals", OP_NUM_EQ, 1 },
	{ "numericlessthan", OP_NUM_LT, 0 },
	{ "numericlessthanequals", OP_NUM_LE, 0 },
	{ "numericgreaterthan", OP_NUM_GT, 0 },
	{ "numericgreaterthanequals", OP_NUM_GE, 0 },
	{ "dateequals", OP_DATE_EQ, 0 },
	{ "datenotequals", OP_DATE_EQ, 1 },
	{ "datelessthan", OP_DATE_LT, 0 },
	{ "datelessthanequals", OP_DATE_LE, 0 },
	{ "dategreaterthan", OP_DATE_GT, 0 },
	{ "dategreaterthanequals", OP_DATE_GE, 0 },
	{ "bool", OP_BOOL, 0 },
	{ "ipaddress", OP_IP, 0 },
	{ "notipaddress", OP_IP, 1 },
	{ "null", OP_NULL, 0 },
};

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int bits;
};

struct cval {
	char *s;       /* as written (numbers and booleans as their JSON text) */
	int vars;      /* s holds a policy variable ("${...}") */
	double num;    /* OP_NUM_*, OP_DATE_* (seconds), OP_BOOL/OP_NULL (0/1) */
	struct cidr ip;
};

struct cond {
	enum op op;
	int negate, if_exists, for_all;
	char *key; /* lower-cased prefix, e.g. "aws:sourceip", "s3:existingobjecttag/Name" */
	struct cval *v;
	size_t n;
};

struct plist {
	char **v;
	size_t n;
	int not;       /* NotPrincipal / NotAction / NotResource */
	uint8_t *vars; /* resources: v[i] holds a policy variable (NULL: none does) */
};

struct stmt {
	int deny;
	int has_principal;
	struct plist principal, action, resource;
	struct cond *c;
	size_t nc;
};

struct policy {
	enum policy_kind kind;
	struct stmt *st;
	size_t n;
};

static void plist_free(struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->vars);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct stmt *s = &p->st[i];

		plist_free(&s->principal);
		plist_free(&s->action);
		plist_free(&s->resource);
		for (size_t j = 0; j < s->nc; j++) {
			for (size_t k = 0; k < s->c[j].n; k++)
				free(s->c[j].v[k].s);
			free(s->c[j].v);
			free(s->c[j].key);
		}
		free(s->c);
	}
	free(p->st);
	free(p);
}

/* ---------------------------------------------------------------- parsing */

struct pctx {
	enum policy_kind kind;
	const char *bucket;
	struct buf *why;
};

static int fail(struct pctx *x, const char *fmt, ...) JFS_PRINTF(2, 3);
static int fail(struct pctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->why && !x->why->len) {
		va_start(ap, fmt);
		buf_vaddf(x->why, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* A string, or an array of 1..POLICY_MAX_VALUES strings, into l. */
static int str_list(struct pctx *x, json_t *j, const char *what, struct plist *l)
{
	size_t n = json_is_array(j) ? json_array_size(j) : 1;

	if (!json_is_string(j) && !json_is_array(j))
		return fail(x, "%s must be a string or an array of strings", what);
	if (n == 0)
		return fail(x, "%s is empty", what);
	if (n > POLICY_MAX_VALUES)
		return fail(x, "%s has more than %d values", what, POLICY_MAX_VALUES);
	l->v = xcalloc(n, sizeof(*l->v));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_is_array(j) ? json_array_get(j, i) : j;

		if (!json_is_string(e))
			return fail(x, "%s must hold strings", what);
		if (!json_string_length(e) || strlen(json_string_value(e)) != json_string_length(e))
			return fail(x, "%s has an empty or NUL-bearing value", what);
		l->v[l->n++] = xstrdup(json_string_value(e));
	}
	return 0;
}

static int parse_principal(struct pctx *x, json_t *j, const char *what, struct plist *l)
{
	const char *k;
	json_t *v;

	if (json_is_string(j)) {
		if (strcmp(json_string_value(j), "*"))
			return fail(x, "%s must be \"*\" or {\"AWS\": ...}", what);
		return str_list(x, j, what, l);
	}
	if (!json_is_object(j) || !json_object_size(j))
		return fail(x, "%s must be \"*\" or {\"AWS\": ...}", what);
	json_object_foreach(j, k, v) {
		struct plist other = { 0 };
		int r;

		if (!strcmp(k, "AWS")) {
			if ((r = str_list(x, v, what, l)))
				return r;
			continue;
		}
		/*
		 * AWS takes services, canonical users and federated principals too;
		 * none of them is ever a requester here, so they are checked for
		 * form and then match nobody.
		 */
		if (strcmp(k, "Service") && strcmp(k, "CanonicalUser") && strcmp(k, "Federated"))
			return fail(x, "%s: unsupported principal type \"%s\"", what, k);
		r = str_list(x, v, what, &other);
		plist_free(&other);
		if (r)
			return r;
	}
	return 0;
}

static int action_known(struct pctx *x, const char *pat)
{
	if (!strcmp(pat, "*"))
		return 1;
	if (x->kind == POLICY_IAM &&
	    (!strncasecmp(pat, "admin:", 6) || !strncasecmp(pat, "kms:", 4)))
		return 1;
	if (strncasecmp(pat, "s3:", 3))
		return 0;
	for (const char *const *a = policy_actions; *a; a++)
		if (policy_glob(pat, *a, 1))
			return 1;
	return 0;
}

static int admin_only(const struct plist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (strncasecmp(l->v[i], "admin:", 6) && strncasecmp(l->v[i], "kms:", 4))
			return 0;
	return l->n > 0;
}

static int parse_actions(struct pctx *x, json_t *j, const char *what, struct plist *l)
{
	int r = str_list(x, j, what, l);

	for (size_t i = 0; !r && i < l->n; i++) {
		if (!action_known(x, l->v[i]))
			return fail(x, "invalid action \"%s\"", l->v[i]);
		lower(l->v[i]);
	}
	return r;
}

static int parse_resources(struct pctx *x, json_t *j, const char *what, struct plist *l)
{
	int r = str_list(x, j, what, l);

	for (size_t i = 0; !r && i < l->n; i++) {
		const char *v = l->v[i], *b;
		char *bpat;
		int ok;

		if (strstr(v, "${")) {
			if (!l->vars)
				l->vars = xcalloc(l->n, 1);
			l->vars[i] = 1;
		}
		if (!strcmp(v, "*"))
			continue;
		if (strncmp(v, "arn:aws:s3:::", 13) || !v[13])
			return fail(x, "invalid resource \"%s\"", v);
		if (x->kind != POLICY_BUCKET || !x->bucket)
			continue;
		/* The bucket part must be able to name this bucket: "*", "buck*", "bucket". */
		b = v + 13;
		bpat = xstrndup(b, strcspn(b, "/"));
		ok = policy_glob(bpat, x->bucket, 0);
		/*
		 * A star may also span the '/': "*x/y" names "bucket/abx/y". Then the
		 * literal text before the first star must still begin the bucket name.
		 */
		if (!ok && strchr(bpat, '*')) {
			size_t lit = strcspn(bpat, "*?");

			ok = lit <= strlen(x->bucket) && !strncmp(bpat, x->bucket, lit);
		}
		free(bpat);
		if (!ok)
			return fail(x, "resource \"%s\" is not in bucket \"%s\"", v, x->bucket);
	}
	return r;
}

/* "2026-12-05T21:00:00Z" (fraction and offset allowed) or epoch seconds. */
static int parse_date(const char *s, double *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, n = 0;
	double sec = 0;
	char *end;

	if (*s && strspn(s, "0123456789.") == strlen(s)) {
		*out = strtod(s, &end);
		return *end ? -EINVAL : 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -EINVAL;
	s += n;
	if (*s == 'T') {
		if (sscanf(s, "T%2d:%2d:%lf%n", &h, &mi, &sec, &n) != 3)
			return -EINVAL;
		s += n;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	*out = (double)timegm(&tm) + sec;
	if (*s == 'Z' && !s[1])
		return 0;
	if ((*s == '+' || *s == '-') && strlen(s) == 6 && s[3] == ':') {
		int oh, om;

		if (sscanf(s + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
			return -EINVAL;
		*out -= (*s == '+' ? 1 : -1) * (oh * 3600.0 + om * 60.0);
		return 0;
	}
	return *s ? -EINVAL : 0;
}

static int parse_cidr(const char *s, struct cidr *c)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = 0;
	if (inet_pton(AF_INET, addr, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	c->bits = max;
	if (slash) {
		const char *b = slash + 1;

		if (!*b || strlen(b) > 3 || strspn(b, "0123456789") != strlen(b))
			return -EINVAL;
		c->bits = (int)strtol(b, NULL, 10);
		if (c->bits > max)
			return -EINVAL;
	}
	return 0;
}

static int parse_bool_text(const char *s, double *out)
{
	if (!strcasecmp(s, "true"))
		*out = 1;
	else if (!strcasecmp(s, "false"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int key_known(const char *k)
{
	static const char *const exact[] = {
		"aws:sourceip", "aws:securetransport", "aws:username", "aws:userid",
		"aws:referer", "aws:useragent", "aws:currenttime", "aws:epochtime",
		"aws:principaltype", "aws:sourcevpce", "aws:sourcevpc", "aws:principalarn",
		"aws:principalaccount", "aws:requestedregion", "aws:multifactorauthpresent",
		"aws:tokenissuetime", "s3:prefix", "s3:delimiter", "s3:max-keys",
		"s3:signatureversion", "s3:authtype", "s3:versionid", "s3:locationconstraint",
		"s3:requestobjecttagkeys", "s3:signatureage", "s3:tlsversion", NULL
	};
	static const char *const prefixes[] = { "s3:x-amz-", "s3:existingobjecttag/",
						"s3:requestobjecttag/", "s3:object-lock-",
						"aws:requesttag/", "aws:resourcetag/", NULL };

	for (const char *const *e = exact; *e; e++)
		if (!strcmp(k, *e))
			return 1;
	for (const char *const *p = prefixes; *p; p++)
		if (!strncmp(k, *p, strlen(*p)) && k[strlen(*p)])
			return 1;
	return 0;
}

static int parse_value(struct pctx *x, struct cond *c, json_t *j, struct cval *v)
{
	char num[64];

	if (json_is_string(j)) {
		if (strlen(json_string_value(j)) != json_string_length(j))
			return fail(x, "condition value with a NUL");
		v->s = xstrdup(json_string_value(j));
	} else if (json_is_integer(j)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		v->s = xstrdup(num);
	} else if (json_is_real(j)) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(j));
		v->s = xstrdup(num);
	} else if (json_is_boolean(j)) {
		v->s = xstrdup(json_is_true(j) ? "true" : "false");
	} else {
		return fail(x, "condition value of %s must be a string, number or boolean", c->key);
	}
	v->vars = json_is_string(j) && strstr(v->s, "${") &&
		  (c->op == OP_STR_EQ || c->op == OP_STR_EQ_NOCASE || c->op == OP_STR_LIKE);
	switch (c->op) {
	case OP_NUM_EQ: case OP_NUM_LT: case OP_NUM_LE: case OP_NUM_GT: case OP_NUM_GE: {
		char *end;

		v->num = strtod(v->s, &end);
		if (!*v->s || *end || !isfinite(v->num))
			return fail(x, "\"%s\" is not a number", v->s);
		break;
	}
	case OP_DATE_EQ: case OP_DATE_LT: case OP_DATE_LE: case OP_DATE_GT: case OP_DATE_GE:
		if (parse_date(v->s, &v->num))
			return fail(x, "\"%s\" is not a date", v->s);
		break;
	case OP_BOOL: case OP_NULL:
		if (parse_bool_text(v->s, &v->num))
			return fail(x, "\"%s\" is not a boolean", v->s);
		break;
	case OP_IP:
		if (parse_cidr(v->s, &v->ip))
			return fail(x, "\"%s\" is not an IP address or CIDR", v->s);
		break;
	default:
		break;
	}
	return 0;
}

static int parse_op(struct pctx *x, const char *name, struct cond *c)
{
	char low[80];
	size_t n = strlen(name);

	if (n >= sizeof(low))
		return fail(x, "unknown condition operator");
	memcpy(low, name, n + 1);
	lower(low);
	char *p = low;
	if (!strncmp(p, "foranyvalue:", 12)) {
		p += 12;
	} else if (!strncmp(p, "forallvalues:", 13)) {
		p += 13;
		c->for_all = 1;
	}
	n = strlen(p);
	if (n > 8 && !strcmp(p + n - 8, "ifexists")) {
		p[n - 8] = 0;
		c->if_exists = 1;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!strcmp(p, ops[i].name)) {
			if (ops[i].op == OP_NULL && (c->if_exists || c->for_all || p != low))
				break;
			c->op = ops[i].op;
			c->negate = ops[i].negate;
			return 0;
		}
	}
	return fail(x, "unknown condition operator \"%s\"", name);
}

static int parse_conditions(struct pctx *x, json_t *j, struct stmt *s)
{
	const char *opname, *key;
	json_t *keys, *vals;
	size_t total = 0;

	if (!json_is_object(j) || !json_object_size(j))
		return fail(x, "Condition must be a non-empty object");
	json_object_foreach(j, opname, keys) {
		if (!json_is_object(keys) || !json_object_size(keys))
			return fail(x, "condition operator \"%s\" must map keys to values", opname);
		total += json_object_size(keys);
	}
	if (total > POLICY_MAX_VALUES)
		return fail(x, "more than %d condition keys", POLICY_MAX_VALUES);
	s->c = xcalloc(total, sizeof(*s->c));
	json_object_foreach(j, opname, keys) {
		json_object_foreach(keys, key, vals) {
			struct cond *c = &s->c[s->nc++];
			size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
			char *slash;

			c->key = xstrdup(key);
			/* the key's name is case-blind; a tag name after '/' is not */
			slash = strchr(c->key, '/');
			if (slash)
				*slash = 0;
			lower(c->key);
			if (slash)
				*slash = '/';
			if (parse_op(x, opname, c))
				return -EINVAL;
			if (!key_known(c->key))
				return fail(x, "unknown condition key \"%s\"", key);
			if (n == 0 || n > POLICY_MAX_VALUES)
				return fail(x, "condition key \"%s\" needs 1 to %d values", key,
					    POLICY_MAX_VALUES);
			c->v = xcalloc(n, sizeof(*c->v));
			for (size_t i = 0; i < n; i++) {
				json_t *e = json_is_array(vals) ? json_array_get(vals, i) : vals;

				c->n++;
				if (parse_value(x, c, e, &c->v[i]))
					return -EINVAL;
			}
		}
	}
	return 0;
}

static int parse_statement(struct pctx *x, json_t *j, struct stmt *s, json_t *sids)
{
	const char *k;
	json_t *v, *eff;
	int r = 0;

	if (!json_is_object(j))
		return fail(x, "a statement must be an object");
	json_object_foreach(j, k, v) {
		if (strcmp(k, "Sid") && strcmp(k, "Effect") && strcmp(k, "Principal") &&
		    strcmp(k, "NotPrincipal") && strcmp(k, "Action") && strcmp(k, "NotAction") &&
		    strcmp(k, "Resource") && strcmp(k, "NotResource") && strcmp(k, "Condition"))
			return fail(x, "unknown statement element \"%s\"", k);
	}
	if ((v = json_object_get(j, "Sid"))) {
		if (!json_is_string(v))
			return fail(x, "Sid must be a string");
		if (json_string_length(v)) {
			if (json_object_get(sids, json_string_value(v)))
				return fail(x, "duplicate Sid \"%s\"", json_string_value(v));
			json_object_set_new(sids, json_string_value(v), json_true());
		}
	}
	eff = json_object_get(j, "Effect");
	if (!json_is_string(eff) ||
	    (strcmp(json_string_value(eff), "Allow") && strcmp(json_string_value(eff), "Deny")))
		return fail(x, "Effect must be \"Allow\" or \"Deny\"");
	s->deny = !strcmp(json_string_value(eff), "Deny");

	json_t *pr = json_object_get(j, "Principal"), *npr = json_object_get(j, "NotPrincipal");
	if (x->kind == POLICY_IAM) {
		if (pr || npr)
			return fail(x, "an identity policy has no Principal");
	} else {
		if (!!pr == !!npr)
			return fail(x, "a statement needs one of Principal and NotPrincipal");
		if (npr && !s->deny)
			return fail(x, "NotPrincipal is only allowed with Effect Deny");
		s->has_principal = 1;
		s->principal.not = !!npr;
		r = parse_principal(x, pr ? pr : npr, pr ? "Principal" : "NotPrincipal",
				    &s->principal);
		if (r)
			return r;
	}

	json_t *ac = json_object_get(j, "Action"), *nac = json_object_get(j, "NotAction");
	if (!!ac == !!nac)
		return fail(x, "a statement needs one of Action and NotAction");
	s->action.not = !!nac;
	if ((r = parse_actions(x, ac ? ac : nac, ac ? "Action" : "NotAction", &s->action)))
		return r;

	json_t *rs = json_object_get(j, "Resource"), *nrs = json_object_get(j, "NotResource");
	/*
	 * MinIO's admin statements (consoleAdmin's {"Action":["admin:*"]}) carry
	 * no resource: resources are not matched for admin actions anyway.
	 */
	if (!rs && !nrs && x->kind == POLICY_IAM && !s->action.not && admin_only(&s->action))
		return (v = json_object_get(j, "Condition")) ? parse_conditions(x, v, s) : 0;
	if (!!rs == !!nrs)
		return fail(x, "a statement needs one of Resource and NotResource");
	s->resource.not = !!nrs;
	if ((r = parse_resources(x, rs ? rs : nrs, rs ? "Resource" : "NotResource",
				 &s->resource)))
		return r;

	if ((v = json_object_get(j, "Condition")))
		return parse_conditions(x, v, s);
	return 0;
}

int policy_parse(const char *doc, size_t len, enum policy_kind kind, const char *bucket,
		 struct policy **out, struct buf *why)
{
	struct pctx x = { kind, bucket, why };
	struct policy *p = NULL;
	json_error_t jerr;
	json_t *root = NULL, *st, *ver, *sids = NULL;
	const char *k;
	json_t *v;
	size_t n;
	int r = 0;

	*out = NULL;
	if (len > POLICY_MAX_BYTES) {
		if (why)
			buf_addf(why, "policy over %d bytes", POLICY_MAX_BYTES);
		return -E2BIG;
	}
	/*
	 * Nesting deeper than the grammar's is refused by the grammar; jansson's
	 * own depth cap (2048) bounds its recursion on a 20 KiB input of brackets.
	 */
	root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		r = fail(&x, "not valid JSON: %s", jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		r = fail(&x, "a policy must be a JSON object");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "Version") && strcmp(k, "Id") && strcmp(k, "Statement")) {
			r = fail(&x, "unknown policy element \"%s\"", k);
			goto out;
		}
	}
	ver = json_object_get(root, "Version");
	if (ver && (!json_is_string(ver) || (strcmp(json_string_value(ver), "2012-10-17") &&
					     strcmp(json_string_value(ver), "2008-10-17")))) {
		r = fail(&x, "Version must be \"2012-10-17\"");
		goto out;
	}
	if ((v = json_object_get(root, "Id")) && !json_is_string(v)) {
		r = fail(&x, "Id must be a string");
		goto out;
	}
	st = json_object_get(root, "Statement");
	if (!st || (!json_is_object(st) && !json_is_array(st))) {
		r = fail(&x, "Statement must be an object or an array");
		goto out;
	}
	n = json_is_array(st) ? json_array_size(st) : 1;
	if (n == 0) {
		r = fail(&x, "a policy needs at least one statement");
		goto out;
	}
	if (n > POLICY_MAX_STATEMENTS) {
		r = fail(&x, "more than %d statements", POLICY_MAX_STATEMENTS);
		goto out;
	}
	p = xcalloc(1, sizeof(*p));
	p->kind = kind;
	p->st = xcalloc(n, sizeof(*p->st));
	sids = json_object();
	for (size_t i = 0; i < n && !r; i++) {
		p->n++;
		r = parse_statement(&x, json_is_array(st) ? json_array_get(st, i) : st, &p->st[i],
				    sids);
	}
out:
	json_decref(sids);
	json_decref(root);
	if (r) {
		policy_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* ---------------------------------------------------------------- evaluation */

/*
 * Policy variables, as AWS and MinIO read them: "${KEY}" is the value of the
 * condition key KEY in this request (${aws:username}, ${aws:userid},
 * ${aws:SourceIp}, ${s3:prefix}, ...); "${*}", "${?}" and "${$}" are those
 * characters taken literally; a "${" without a closing "}" is plain text.
 * Returns a malloc'ed expansion with *lit marking the bytes that must match
 * literally, or NULL when a variable has no value in the request: the
 * element then matches nothing, as AWS evaluates it.
 */
#define POLICY_VAR_MAX 128
static char *expand_vars(const char *pat, const struct policy_req *r, uint8_t **lit)
{
	struct buf out = BUF_INIT, mask = BUF_INIT;
	const char *p = pat;

	while (*p) {
		const char *end = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
		size_t n = end ? (size_t)(end - p - 2) : 0;
		char name[POLICY_VAR_MAX];
		const char *val;

		if (!end || !n || n >= sizeof(name)) {
			buf_addch(&out, *p++);
			buf_addch(&mask, 0);
			continue;
		}
		memcpy(name, p + 2, n);
		name[n] = 0;
		p = end + 1;
		if (n == 1 && strchr("*?$", name[0])) {
			buf_addch(&out, name[0]);
			buf_addch(&mask, 1);
			continue;
		}
		/* condition keys are looked up lower-cased up to a tag name */
		for (char *c = name; *c && *c != '/'; c++)
			*c = (char)tolower((unsigned char)*c);
		val = r->cond ? r->cond(r->cond_arg, name) : NULL;
		if (!val) {
			buf_release(&out);
			buf_release(&mask);
			return NULL;
		}
		for (; *val; val++) {
			buf_addch(&out, *val);
			buf_addch(&mask, 1);
		}
	}
	buf_addch(&mask, 0); /* the terminator's slot */
	*lit = (uint8_t *)buf_detach(&mask, NULL);
	return buf_detach(&out, NULL);
}

/* pat (holding variables) against s: like policy_glob, or exact with !glob */
static int var_match(const char *pat, const struct policy_req *r, const char *s, int glob,
		     int nocase)
{
	uint8_t *lit = NULL;
	char *x = expand_vars(pat, r, &lit);
	int m;

	if (!x)
		return 0;
	m = glob ? glob_lit(x, lit, s, nocase) : nocase ? !strcasecmp(x, s) : !strcmp(x, s);
	free(x);
	free(lit);
	return m;
}

static int resource_match(const struct plist *l, const char *arn, const struct policy_req *r)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->vars && l->vars[i] ? var_match(l->v[i], r, arn, 1, 0)
					  : policy_glob(l->v[i], arn, 0))
			return !l->not;
	return l->not;
}

static int plist_match(const struct plist *l, const char *s, int nocase)
{
	for (size_t i = 0; i < l->n; i++)
		if (policy_glob(l->v[i], s, nocase))
			return !l->not;
	return l->not;
}

static int principal_match(const struct plist *l, const char *who)
{
	int hit = 0;

	for (size_t i = 0; i < l->n && !hit; i++) {
		const char *p = l->v[i];
		size_t pl = strlen(p), wl = strlen(who);

		/* "*" is everyone; a user by name or as an IAM user ARN ending in /NAME */
		hit = !strcmp(p, "*") ||
		      (strcmp(who, "*") &&
		       (!strcmp(p, who) ||
			(pl > wl + 6 && !strncmp(p, "arn:aws:iam::", 13) &&
			 !strcmp(p + pl - wl, who) && p[pl - wl - 1] == '/' &&
			 !strncmp(p + pl - wl - 6, ":user/", 6))));
	}
	return l->not ? !hit : hit;
}

static int ip_in(const struct cidr *c, const char *s)
{
	uint8_t a[16];
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (fam != c->family || inet_pton(fam, s, a) != 1)
		return 0;
	for (int b = 0; b < c->bits; b++) {
		int i = b / 8, m = 0x80 >> (b % 8);

		if ((a[i] & m) != (c->addr[i] & m))
			return 0;
	}
	return 1;
}

/* Does the request value match one value of c (before negation)? */
static int value_match(const struct cond *c, const char *rv, const struct policy_req *r)
{
	double num = 0;
	char *end;

	switch (c->op) {
	case OP_NUM_EQ: case OP_NUM_LT: case OP_NUM_LE: case OP_NUM_GT: case OP_NUM_GE:
		num = strtod(rv, &end);
		if (!*rv || *end)
			return 0;
		break;
	case OP_DATE_EQ: case OP_DATE_LT: case OP_DATE_LE: case OP_DATE_GT: case OP_DATE_GE:
		if (parse_date(rv, &num))
			return 0;
		break;
	case OP_BOOL:
		if (parse_bool_text(rv, &num))
			return 0;
		break;
	default:
		break;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct cval *v = &c->v[i];
		int m = 0;

		if (v->vars) {
			m = var_match(v->s, r, rv, c->op == OP_STR_LIKE, c->op == OP_STR_EQ_NOCASE);
			if (m)
				return 1;
			continue;
		}
		switch (c->op) {
		case OP_STR_EQ: m = !strcmp(rv, v->s); break;
		case OP_STR_EQ_NOCASE: m = !strcasecmp(rv, v->s); break;
		case OP_STR_LIKE: m = policy_glob(v->s, rv, 0); break;
		case OP_NUM_EQ: case OP_DATE_EQ: case OP_BOOL: m = num == v->num; break;
		case OP_NUM_LT: case OP_DATE_LT: m = num < v->num; break;
		case OP_NUM_LE: case OP_DATE_LE: m = num <= v->num; break;
		case OP_NUM_GT: case OP_DATE_GT: m = num > v->num; break;
		case OP_NUM_GE: case OP_DATE_GE: m = num >= v->num; break;
		case OP_IP: m = ip_in(&v->ip, rv); break;
		case OP_NULL: break;
		}
		if (m)
			return 1;
	}
	return 0;
}

static int cond_holds(const struct cond *c, const struct policy_req *r)
{
	const char *rv = r->cond ? r->cond(r->cond_arg, c->key) : NULL;

	if (c->op == OP_NULL) /* "true": the key must be absent */
		return (c->v[0].num != 0) == !rv;
	if (!rv)
		return c->if_exists || c->for_all || c->negate;
	return value_match(c, rv, r) != c->negate;
}

static int stmt_applies(const struct policy *p, const struct stmt *s, const struct policy_req *r,
			const char *arn)
{
	if (p->kind == POLICY_BUCKET && !principal_match(&s->principal, r->principal))
		return 0;
	if (!plist_match(&s->action, r->action, 1))
		return 0;
	if (strncasecmp(r->action, "admin:", 6) && !resource_match(&s->resource, arn, r))
		return 0;
	for (size_t i = 0; i < s->nc; i++)
		if (!cond_holds(&s->c[i], r))
			return 0;
	return 1;
}

enum policy_decision policy_eval(const struct policy *p, const struct policy_req *r)
{
	/* a bucket name is at most 63 bytes and a key 1024: no allocation per request */
	char small[1200], *arn = small;
	enum policy_decision d = POLICY_NONE;
	size_t need;

	if (!p || !r->action)
		return POLICY_NONE;
	need = 16 + (r->bucket ? strlen(r->bucket) : 0) + (r->key ? strlen(r->key) : 0);
	if (need > sizeof(small))
		arn = xmalloc(need);
	if (!r->bucket)
		snprintf(arn, need, "arn:aws:s3:::*");
	else if (!r->key)
		snprintf(arn, need, "arn:aws:s3:::%s", r->bucket);
	else
		snprintf(arn, need, "arn:aws:s3:::%s/%s", r->bucket, r->key);
	for (size_t i = 0; i < p->n; i++) {
		if (!stmt_applies(p, &p->st[i], r, arn))
			continue;
		if (p->st[i].deny) {
			d = POLICY_DENY;
			break;
		}
		d = POLICY_ALLOW;
	}
	if (arn != small)
		free(arn);
	return d;
}

int policy_is_public(const struct policy *p)
{
	if (!p || p->kind != POLICY_BUCKET)
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct stmt *s = &p->st[i];

		if (!s->deny && !s->nc && !s->principal.not && principal_match(&s->principal, "*"))
			return 1;
	}
	return 0;
}
