/*
 * fuzz-dav-if: the WebDAV If header (RFC 4918 §10.4, dav_if_parse), then
 * its evaluation and token lookup as every locked-resource check does. The
 * input is the header, then optionally '\n' and the request's Host.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/dav_proto.h"

static int cond(void *arg, const char *path, const struct dav_if_cond *c)
{
	size_t *calls = arg;

	FUZZ_CHECK(path && path[0] == '/');
	FUZZ_CHECK(c->value);
	++*calls;
	/* Any verdict will do; make it depend on the condition to reach both. */
	return (int)(strlen(c->value) & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h, *host;
	struct dav_if *ih;
	size_t calls = 0, nconds = 0;

	fuzz_split(data, size, &h, &host);
	if (!dav_if_parse(h, *host ? host : NULL, &ih)) {
		FUZZ_CHECK(ih && ih->nlists > 0 && ih->nlists <= 64);
		for (size_t i = 0; i < ih->nlists; i++) {
			const struct dav_if_list *l = &ih->lists[i];

			FUZZ_CHECK(l->nconds > 0 && l->nconds <= 64);
			/* A tag is a normalised path, like every path the server uses. */
			FUZZ_CHECK(!l->tag || l->tag[0] == '/');
			for (size_t j = 0; j < l->nconds; j++) {
				FUZZ_CHECK(l->conds[j].value);
				if (!l->conds[j].is_etag)
					FUZZ_CHECK(dav_if_has_token(ih, l->conds[j].value));
			}
			nconds += l->nconds;
		}
		dav_if_eval(ih, "/dir/file", cond, &calls);
		FUZZ_CHECK(calls <= nconds);
		dav_if_free(ih);
	} else {
		FUZZ_CHECK(!ih);
	}
	free(h);
	free(host);
	return 0;
}
