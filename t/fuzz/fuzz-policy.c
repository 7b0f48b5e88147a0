/*
 * fuzz-policy: bucket and IAM policy documents (policy_parse), which any
 * client holding s3:PutBucketPolicy sends. A refusal is -EINVAL or -E2BIG
 * and always says why; an accepted document evaluates to one of the three
 * decisions for a spread of requests (anonymous and named, with and
 * without condition keys), under the sanitizers.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/policy.h"

static const char *keys(void *arg, const char *key)
{
	(void)arg;
	if (!strcmp(key, "aws:sourceip"))
		return "10.1.2.3";
	if (!strcmp(key, "aws:securetransport"))
		return "false";
	if (!strcmp(key, "s3:prefix"))
		return "a/";
	if (!strcmp(key, "s3:max-keys"))
		return "100";
	if (!strcmp(key, "aws:currenttime"))
		return "2026-12-05T00:00:00Z";
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const acts[] = { "s3:GetObject", "s3:PutObject", "s3:ListBucket",
					    "s3:DeleteBucketPolicy", "s3:ListAllMyBuckets" };
	for (int kind = POLICY_BUCKET; kind <= POLICY_IAM; kind++) {
		struct policy *p;
		struct buf why = BUF_INIT;
		int r = policy_parse((const char *)data, size, kind, "bkt", &p, &why);

		if (r) {
			FUZZ_CHECK(r == -EINVAL || r == -E2BIG);
			FUZZ_CHECK(why.len > 0 && !p);
			buf_release(&why);
			continue;
		}
		for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
			for (int k = 0; k < 3; k++) {
				struct policy_req q = { k == 2 ? "alice" : "*", acts[i],
							i == 4 ? NULL : "bkt",
							i == 0 || i == 1 ? (k ? "a/b" : "x") : NULL,
							k ? keys : NULL, NULL };
				enum policy_decision d = policy_eval(p, &q);

				FUZZ_CHECK(d == POLICY_NONE || d == POLICY_ALLOW || d == POLICY_DENY);
			}
		}
		(void)policy_is_public(p);
		policy_free(p);
		buf_release(&why);
	}
	return 0;
}
