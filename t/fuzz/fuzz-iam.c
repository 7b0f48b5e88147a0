/*
 * fuzz-iam: the users document (iam_parse), read from the volume root's
 * s3.iam xattr by every gateway. What parses must dump and parse back to
 * the same document, every user's secret must either unseal or be refused
 * (never crash), and evaluation for each user must give one of the three
 * decisions.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/iam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iam *iam, *back;
	struct buf why = BUF_INIT, a = BUF_INIT, b = BUF_INIT, sec = BUF_INIT;
	struct iam_key key;
	int r = iam_parse((const char *)data, size, &iam, &why);

	if (r) {
		FUZZ_CHECK(r == -EINVAL && why.len > 0 && !iam);
		buf_release(&why);
		return 0;
	}
	iam_dump(iam, &a);
	buf_reset(&why);
	FUZZ_CHECK(iam_parse(a.ptr, a.len, &back, &why) == 0);
	iam_dump(back, &b);
	FUZZ_CHECK(a.len == b.len && !memcmp(a.ptr, b.ptr, a.len));
	iam_key_derive("rootuser", "rootsecret", &key);
	size_t n;
	const struct iam_user **u = iam_users(iam, &n);
	for (size_t i = 0; i < n; i++) {
		struct policy_req q = { u[i]->name, "s3:GetObject", "bkt", "k", NULL, NULL };
		enum policy_decision d = iam_eval(iam, u[i], &q);

		r = iam_user_secret(u[i], &key, &sec);
		FUZZ_CHECK(r == 0 || r == -EACCES);
		FUZZ_CHECK(d == POLICY_NONE || d == POLICY_ALLOW || d == POLICY_DENY);
	}
	free(u);
	iam_free(back);
	iam_free(iam);
	buf_release(&why);
	buf_release(&a);
	buf_release(&b);
	buf_release(&sec);
	return 0;
}
