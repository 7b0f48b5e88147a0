/*
 * fuzz-path: percent-decoding and path normalisation, the first parsers
 * every request meets: the WebDAV request path (dav_norm_path, encoded and
 * not), the S3 path and query decoding (s3_uri_decode) and their encoders,
 * which must round-trip: what an href or a SigV4 canonical path encodes
 * decodes to the same bytes.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/dav_proto.h"
#include "gateway/s3.h"

static void check_norm(const char *p)
{
	size_t n = strlen(p);

	FUZZ_CHECK(p[0] == '/' && n <= DAV_MAX_PATH);
	FUZZ_CHECK(n == 1 || p[n - 1] != '/');
	FUZZ_CHECK(!strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../"));
	FUZZ_CHECK(strcmp(p + (n >= 2 ? n - 2 : 0), "/.") &&
		   strcmp(p + (n >= 3 ? n - 3 : 0), "/.."));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct buf out = BUF_INIT, again = BUF_INIT, enc = BUF_INIT, dec = BUF_INIT;
	int trailing = 0;

	for (int encoded = 0; encoded < 2; encoded++) {
		if (dav_norm_path(s, encoded, &out, &trailing))
			continue;
		check_norm(out.ptr);
		/* Normalising is idempotent, and an href of the result leads back to it. */
		FUZZ_CHECK(!dav_norm_path(out.ptr, 0, &again, NULL) && !strcmp(again.ptr, out.ptr));
		buf_reset(&enc);
		dav_href(&enc, out.ptr, 0);
		FUZZ_CHECK(!dav_norm_path(enc.ptr, 1, &again, NULL) && !strcmp(again.ptr, out.ptr));
	}

	for (int plus = 0; plus < 2; plus++) {
		buf_reset(&dec);
		if (s3_uri_decode(&dec, (const char *)data, size, plus))
			continue;
		FUZZ_CHECK(strlen(dec.ptr) == dec.len); /* no NUL gets through */
		for (int slash = 0; slash < 2; slash++) {
			buf_reset(&enc);
			buf_reset(&again);
			s3_uri_encode(&enc, dec.ptr, dec.len, slash);
			FUZZ_CHECK(!s3_uri_decode(&again, enc.ptr, enc.len, plus));
			FUZZ_CHECK(again.len == dec.len && !memcmp(again.ptr, dec.ptr, dec.len));
		}
	}
	buf_release(&out);
	buf_release(&again);
	buf_release(&enc);
	buf_release(&dec);
	free(s);
	return 0;
}
