/*
 * fuzz-s3-store: what the s3 object-store back end parses: the bucket URL
 * of `juicefs format --bucket` (obj_s3_create; no request is made), and a
 * ListObjectsV2 reply, which comes from the S3 service, a peer whose answers
 * are untrusted (obj_s3_list_page). The first input byte picks the parser.
 * The keys a page hands out must be under the prefix and strictly increasing.
 */
#include "t/fuzz/fuzz.h"
#include "storage/obj.h"
#include "storage/s3-internal.h"

struct seen {
	const char *prefix;
	char *last;
	size_t n;
};

static int on_key(void *arg, const struct obj_info *oi)
{
	struct seen *s = arg;

	FUZZ_CHECK(oi->key && !strncmp(oi->key, s->prefix, strlen(s->prefix)));
	FUZZ_CHECK(!s->last || strcmp(oi->key, s->last) > 0);
	free(s->last);
	s->last = xstrdup(oi->key);
	s->n++;
	return 0;
}

static void list_page(const uint8_t *data, size_t size)
{
	size_t limit = (size_t)fuzz_take(&data, &size, 1);
	static const char *const prefixes[] = { "", "a", "dir/" };
	struct s3_page pg = { NULL, NULL };
	struct buf xml = BUF_INIT;
	struct seen s = { prefixes[limit % 3], NULL, 0 };
	size_t max = limit / 3, left = max;
	int r;

	buf_add(&xml, data, size);
	r = obj_s3_list_page(&xml, s.prefix, &left, on_key, &s, &pg);
	FUZZ_CHECK(r == 0 || r == -EIO);
	FUZZ_CHECK(!max || s.n <= max);
	if (!r && pg.token)
		FUZZ_CHECK(*pg.token);
	free(pg.last);
	free(pg.token);
	free(s.last);
	buf_release(&xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel = (uint8_t)fuzz_take(&data, &size, 1);

	if (sel & 1) {
		list_page(data, size);
	} else {
		char *url = fuzz_str(data, size);
		struct obj_store *st = NULL;
		struct buf err = BUF_INIT;

		if (obj_create("s3", url, "ak", "sk", NULL, &st, &err))
			FUZZ_CHECK(!st && err.len);
		obj_free(st);
		buf_release(&err);
		free(url);
	}
	return 0;
}
