/*
 * fuzz-format-json: the volume setting, JuiceFS's "Format" JSON read back
 * from the metadata engine (conf_format_from_json), which any client of the
 * volume may have written. What is accepted must write out and read back to
 * the same setting (compared with secrets masked, as they are sealed with a
 * fresh nonce each time).
 */
#include "t/fuzz/fuzz.h"
#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = fuzz_str(data, size);
	struct conf_format f, g;
	struct buf err = BUF_INIT;

	if (!conf_format_from_json(json, &f, &err)) {
		char *a = conf_format_to_json(&f, 1), *full = conf_format_to_json(&f, 0), *b;

		buf_reset(&err);
		FUZZ_CHECK(!conf_format_from_json(full, &g, &err));
		b = conf_format_to_json(&g, 1);
		if (strcmp(a, b))
			fprintf(stderr, "first:\n%s\nsecond:\n%s\n", a, b);
		FUZZ_CHECK(!strcmp(a, b));
		conf_format_release(&g);
		free(a);
		free(b);
		free(full);
		conf_format_release(&f);
	} else {
		FUZZ_CHECK(err.len);
	}
	buf_release(&err);
	free(json);
	return 0;
}
