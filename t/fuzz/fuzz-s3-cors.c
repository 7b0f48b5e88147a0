/*
 * fuzz-s3-cors: the bucket CORS configuration (s3_cors_parse, s3cors.c)
 * and the rule matching of preflights (s3_cors_find, s3_cors_glob).
 *
 * Input: a first line "origin method request-headers" (space-separated,
 * any part may be missing), then the XML body. What the parser accepts must
 * keep its limits (1 to 100 rules, each with an origin and an allowed
 * method, at most one '*' per origin), and its canonical XML must parse
 * back to the same canonical XML. Matching must not crash, and a rule it
 * returns must list the method.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3cors.h"

static int count_stars(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '*';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, *xml, *origin, *method, *hdrs, *sp;
	struct s3_cors_conf c, again;
	struct buf msg = BUF_INIT, canon = BUF_INIT, canon2 = BUF_INIT;
	enum s3_err e;

	fuzz_split(data, size, &line, &xml);
	origin = line;
	method = "";
	hdrs = NULL;
	if ((sp = strchr(origin, ' '))) {
		*sp = 0;
		method = sp + 1;
		if ((sp = strchr(method, ' '))) {
			*sp = 0;
			hdrs = sp + 1;
		}
	}
	e = s3_cors_parse(xml, strlen(xml), &c, &msg);
	FUZZ_CHECK(e == S3E_OK || e == S3E_MalformedXML || e == S3E_InvalidRequest);
	if (e == S3E_OK) {
		FUZZ_CHECK(c.n >= 1 && c.n <= S3_CORS_MAX_RULES);
		for (size_t i = 0; i < c.n; i++) {
			FUZZ_CHECK(c.r[i].norigins && c.r[i].nmethods);
			for (size_t j = 0; j < c.r[i].norigins; j++)
				FUZZ_CHECK(count_stars(c.r[i].origins[j]) <= 1);
		}
		s3_cors_xml(&c, &canon);
		FUZZ_CHECK(s3_cors_parse(canon.ptr, canon.len, &again, &msg) == S3E_OK);
		s3_cors_xml(&again, &canon2);
		FUZZ_CHECK(canon.len == canon2.len && !memcmp(canon.ptr, canon2.ptr, canon.len));
		s3_cors_free(&again);
		{
			const struct s3_cors_rule *r = s3_cors_find(&c, origin, method, hdrs);
			int listed = 0;

			for (size_t m = 0; r && m < r->nmethods; m++)
				listed |= !strcmp(r->methods[m], method);
			FUZZ_CHECK(!r || listed);
		}
		s3_cors_free(&c);
	} else {
		FUZZ_CHECK(!c.n && !c.r);
	}
	s3_cors_glob(origin, method, 0);
	s3_cors_glob(origin, method, 1);
	buf_release(&msg);
	buf_release(&canon);
	buf_release(&canon2);
	free(line);
	free(xml);
	return 0;
}
