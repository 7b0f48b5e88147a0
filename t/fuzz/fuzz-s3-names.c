/*
 * fuzz-s3-names: what decides where an S3 request may reach (issue 12 item
 * 6): the one gate from (bucket root, key or prefix) to a volume path
 * (s3_name_path), the "." / ".." filter on decoded paths and query values
 * (s3_bad_component), bucket names (s3_valid_bucket_name) and the
 * SignedHeaders rule (s3_check_signed_headers, item 7). The first input byte
 * picks the bucket root and whether the name is a prefix.
 *
 * A path the gate lets through must stay inside the bucket: it is the root,
 * "/", then the name, with no "." or ".." segment, no empty segment but a
 * prefix's last, and (at the volume root) nothing under .sys or .trash.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3.h"

static int has_seg(const char *path, const char *seg)
{
	size_t n = strlen(seg);

	for (const char *p = path; (p = strchr(p, '/')); p++)
		if (!strncmp(p + 1, seg, n) && (p[1 + n] == '/' || !p[1 + n]))
			return 1;
	return 0;
}

static const char *hdr(void *arg, const char *lname)
{
	UNUSED(arg);
	return !strcmp(lname, "x-amz-date") || !strcmp(lname, "host") ? "v" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const roots[] = { "", "/alice", "/b.c-d" };
	uint8_t sel = (uint8_t)fuzz_take(&data, &size, 1);
	const char *root = roots[sel % 3];
	unsigned flags = sel & 4 ? S3_NAME_PREFIX : 0;
	char *name = fuzz_str(data, size);
	struct buf out = BUF_INIT;
	enum s3_err e = s3_name_path(root, name, flags, &out);

	if (e == S3E_OK) {
		size_t rl = strlen(root);
		const char *rest = out.ptr + rl + 1;

		FUZZ_CHECK(!strncmp(out.ptr, root, rl) && out.ptr[rl] == '/');
		FUZZ_CHECK(!has_seg(out.ptr + rl, ".") && !has_seg(out.ptr + rl, ".."));
		FUZZ_CHECK(!s3_bad_component(rest));
		FUZZ_CHECK(*rest != '/');
		/* An empty segment only at the end of a prefix. */
		FUZZ_CHECK(!strstr(rest, "//"));
		if (!flags)
			FUZZ_CHECK(!out.len || out.ptr[out.len - 1] != '/');
		if (!*root)
			FUZZ_CHECK(strncmp(rest, ".sys/", 5) && strcmp(rest, ".sys") &&
				   strncmp(rest, ".trash/", 7) && strcmp(rest, ".trash"));
		FUZZ_CHECK(strlen(out.ptr) <= rl + 1 + 1024);
	} else {
		FUZZ_CHECK(!out.len);
		FUZZ_CHECK(e == S3E_InvalidResourceName || e == S3E_InvalidObjectName ||
			   e == S3E_KeyTooLongError || e == S3E_AccessDenied ||
			   e == S3E_InvalidArgument);
	}

	if (s3_valid_bucket_name(name)) {
		size_t n = strlen(name);

		FUZZ_CHECK(n >= 3 && n <= 63 && !strstr(name, "..") && !strchr(name, '/'));
		/* A valid bucket name is a valid path segment too. */
		FUZZ_CHECK(s3_name_path("", name, 0, &out) == S3E_OK);
	}

	switch (s3_check_signed_headers(name, hdr, NULL)) {
	case S3E_OK:
		FUZZ_CHECK(strcasestr(name, "host"));
		break;
	case S3E_UnsignedHeaders:
	case S3E_MissingFields:
		break;
	default:
		FUZZ_CHECK(!"s3_check_signed_headers gave another error");
	}
	buf_release(&out);
	free(name);
	return 0;
}
