/*
 * fuzz-s3-headers: the S3 request header values the gateway parses besides
 * Authorization and Range: If-Match / If-None-Match lists
 * (s3_etag_matches), base64 of a ListObjectsV2 continuation-token or an
 * SSE-C key (s3_unb64), Content-MD5 (s3_b64_decode16), and the dates of
 * If-Modified-Since and X-Amz-Date. The same value also goes through the
 * XML escaper of listings, whose output must stay XML text.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3.h"
#include "gateway/s3-internal.h"

#include <openssl/evp.h>

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = fuzz_str(data, size);
	struct buf b = BUF_INIT;
	uint8_t md5[16];
	int64_t t;

	/* A "*" entry or the value itself (quoted or not) always matches. */
	if (s3_etag_matches(v, "0123456789abcdef0123456789abcdef"))
		FUZZ_CHECK(strstr(v, "*") || strstr(v, "0123456789abcdef0123456789abcdef"));
	(void)s3_etag_matches(v, "");

	if (!s3_unb64(v, &b)) {
		/*
		 * Only base64 is taken: the alphabet with at most two '=' at the
		 * end, four characters for every three bytes. (Unused low bits
		 * of the last character may be set, as Go's decoder allows.)
		 */
		size_t n = strlen(v), body = strspn(v, B64_ALPHABET);
		char *enc = xmalloc(4 * ((b.len + 2) / 3) + 1);

		EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)b.ptr, (int)b.len);
		if (strlen(enc) != n)
			fprintf(stderr, "s3_unb64(\"%s\") gave %zu bytes, which encode as \"%s\"\n",
				v, b.len, enc);
		FUZZ_CHECK(strlen(enc) == n);
		FUZZ_CHECK(n - body <= 2 && strspn(v + body, "=") == n - body);
		FUZZ_CHECK(strlen(b.ptr) == b.len);
		free(enc);
	}
	if (!s3_b64_decode16(v, md5))
		FUZZ_CHECK(strlen(v) == 24 && strspn(v, B64_ALPHABET) == 22 &&
			   !strcmp(v + 22, "=="));

	(void)s3_parse_http_date(v, &t);
	if (!s3_parse_amz_date(v, &t)) {
		char back[40];

		s3_iso_date(t, 0, back, sizeof(back));
	}

	buf_reset(&b);
	s3_xml_escape(&b, v);
	for (const char *p = b.ptr; *p;) {
		size_t n = utf8_xml_char_len(p);

		FUZZ_CHECK(n > 0 && *p != '<');
		p += n;
	}
	buf_release(&b);
	free(v);
	return 0;
}
