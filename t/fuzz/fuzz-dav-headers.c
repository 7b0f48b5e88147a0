/*
 * fuzz-dav-headers: the other request headers the WebDAV server parses:
 * Destination (dav_parse_dest, against the Host after a '\n' in the input),
 * Depth, Overwrite, Timeout and the HTTP dates of If-(Un)Modified-Since.
 * A Destination that is accepted is a normalised path inside the volume.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/dav_proto.h"

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
	char *h, *host;
	struct buf path = BUF_INIT;
	int v, r;
	int64_t secs, t;

	fuzz_split(data, size, &h, &host);
	r = dav_parse_dest(h, *host ? host : NULL, &path);
	if (!r)
		check_norm(path.ptr);
	else
		FUZZ_CHECK(r == -EINVAL || r == -EXDEV || r == -ENAMETOOLONG);

	if (!dav_parse_depth(h, 7, &v))
		FUZZ_CHECK(v == 0 || v == 1 || v == DAV_DEPTH_INF);
	if (!dav_parse_overwrite(h, &v))
		FUZZ_CHECK(v == 0 || v == 1);
	if (!dav_parse_timeout(h, &secs))
		FUZZ_CHECK(secs >= -1 && secs <= UINT32_MAX);
	if (!dav_parse_http_date(h, &t)) {
		char back[64];

		dav_http_date(t, back, sizeof(back));
	}
	buf_release(&path);
	free(h);
	free(host);
	return 0;
}
