/*
 * fuzz-sigv4-header: the SigV4 Authorization header (s3_parse_auth_header),
 * then the canonical request and signature built from what it parsed, as
 * check_auth does for every signed request before any key is known good.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3.h"

static const char *hdr(void *arg, const char *lname)
{
	UNUSED(arg);
	return !strcmp(lname, "host") ? "  bucket.example.com   " : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = fuzz_str(data, size);
	struct s3_sigv4 sv;

	if (!s3_parse_auth_header(h, &sv)) {
		struct buf canon = BUF_INIT;
		uint8_t key[32];
		char sig[65];

		/* Every field fits its array and is terminated. */
		FUZZ_CHECK(strlen(sv.date) == 8);
		FUZZ_CHECK(strlen(sv.signature) == 64);
		FUZZ_CHECK(strlen(sv.access_key) < sizeof(sv.access_key));
		FUZZ_CHECK(strlen(sv.region) < sizeof(sv.region));
		FUZZ_CHECK(strlen(sv.service) < sizeof(sv.service));
		FUZZ_CHECK(strlen(sv.signed_headers) < sizeof(sv.signed_headers));
		FUZZ_CHECK(!sv.presigned);
		if (!s3_canonical_request(&canon, "PUT", "/bucket/key%20x", "a=1&b",
					  sv.signed_headers, hdr, NULL, "UNSIGNED-PAYLOAD", 0)) {
			FUZZ_CHECK(strlen(canon.ptr) == canon.len);
			s3_sign("secret", &sv, canon.ptr, key, sig);
			FUZZ_CHECK(strlen(sig) == 64);
		}
		buf_release(&canon);
	}
	free(h);
	return 0;
}
