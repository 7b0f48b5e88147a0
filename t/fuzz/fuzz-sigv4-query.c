/*
 * fuzz-sigv4-query: a presigned URL's query string. s3_query_parse decodes
 * it, s3_parse_presigned takes the X-Amz-* parameters, and the canonical
 * request is built from the raw query as check_auth does. The access log's
 * copy of the URL (gw_access_log_target) must not hold the signature.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/http.h"
#include "gateway/s3.h"

static const char *hdr(void *arg, const char *lname)
{
	UNUSED(arg);
	return !strcmp(lname, "host") ? "127.0.0.1:9000" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = fuzz_str(data, size);
	struct s3_query q;
	struct s3_sigv4 sv;
	struct buf canon = BUF_INIT;

	{
		struct buf logged = BUF_INIT;
		char *uri = xasprintf("/b/k?%s", raw);

		gw_access_log_target(uri, &logged);
		/* Every X-Amz-Signature parameter of the query is REDACTED in the log line. */
		for (const char *p = strchr(logged.ptr, '?') + 1;;) {
			if (!strncmp(p, "X-Amz-Signature=", 16))
				FUZZ_CHECK(!strncmp(p + 16, "REDACTED", 8) &&
					   (!p[24] || p[24] == '&'));
			if (!(p = strchr(p, '&')))
				break;
			p++;
		}
		free(uri);
		buf_release(&logged);
	}
	if (!s3_query_parse(raw, &q)) {
		for (size_t i = 0; i < q.n; i++) {
			FUZZ_CHECK(q.p[i].name && q.p[i].value);
			FUZZ_CHECK(q.p[i].has_value || !*q.p[i].value);
			/* A lookup by a parsed name finds a value. */
			FUZZ_CHECK(s3_query_get(&q, q.p[i].name));
		}
		if (!s3_parse_presigned(&q, &sv)) {
			FUZZ_CHECK(sv.presigned);
			FUZZ_CHECK(strlen(sv.amz_date) == 16 && strlen(sv.signature) == 64);
			FUZZ_CHECK(sv.expires >= 0 && sv.expires <= 7 * 24 * 3600);
			if (!s3_canonical_request(&canon, "GET", "/b/k", raw, sv.signed_headers,
						  hdr, NULL, "UNSIGNED-PAYLOAD", 1)) {
				uint8_t key[32];
				char sig[65];
				/* The signature never signs itself: it is not in the query line. */
				const char *ql = strchr(strchr(canon.ptr, '\n') + 1, '\n') + 1;
				char *amp = xasprintf("&%.*s", (int)strcspn(ql, "\n"), ql);

				FUZZ_CHECK(!strstr(amp, "&X-Amz-Signature="));
				free(amp);
				s3_sign("secret", &sv, canon.ptr, key, sig);
			}
		}
		s3_query_free(&q);
	}
	buf_release(&canon);
	free(raw);
	return 0;
}
