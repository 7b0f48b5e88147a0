/*
 * fuzz-meta-url: meta engine URLs (conf_parse_meta_url, spec §13.1) and
 * their redaction for logs (conf_redact_url). A URL that parses with a
 * password must not show that password once redacted.
 */
#include "t/fuzz/fuzz.h"
#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_str(data, size);
	struct conf_meta_url u;
	struct buf err = BUF_INIT;
	char *red = conf_redact_url(url);

	if (!conf_parse_meta_url(url, &u, &err)) {
		FUZZ_CHECK(u.raw && u.scheme && u.path && u.user && u.password && u.hosts && u.db);
		for (size_t i = 0; i < u.nquery; i++) {
			FUZZ_CHECK(u.query[i].key && u.query[i].val);
			FUZZ_CHECK(conf_url_query(&u, u.query[i].key));
		}
		if (*u.password)
			FUZZ_CHECK(strstr(red, "****"));
		conf_meta_url_release(&u);
	} else {
		FUZZ_CHECK(err.len);
		FUZZ_CHECK(!u.raw && !u.scheme && !u.query);
	}
	free(red);
	buf_release(&err);
	free(url);
	return 0;
}
