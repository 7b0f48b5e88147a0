/*
 * fuzz-range: the Range header of a GET, as the S3 gateway reads it
 * (s3_parse_range) and as the WebDAV server does (dav_parse_range), and the
 * S3 x-amz-copy-source-range of UploadPartCopy (s3_copy_source_range).
 * The first 8 input bytes are the object size (small sizes are the
 * interesting ones, so mostly the first byte alone), the rest the header.
 * A range they accept must lie inside the object.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/dav_proto.h"
#include "gateway/s3.h"
#include "gateway/s3-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel = (uint8_t)fuzz_take(&data, &size, 1);
	uint64_t osize = sel & 0x80 ? fuzz_take(&data, &size, 8) : sel & 0x7f;
	char *h = fuzz_str(data, size);
	uint64_t start = 0, len = 0, end = 0;
	int r;

	r = s3_parse_range(h, osize, &start, &len);
	FUZZ_CHECK(r == 0 || r == 1 || r == -ERANGE);
	if (r == 0)
		FUZZ_CHECK(len && start < osize && len <= osize - start);

	r = dav_parse_range(h, osize, &start, &end);
	FUZZ_CHECK(r >= -1 && r <= 1);
	if (r == 1)
		FUZZ_CHECK(start <= end && end < osize);

	switch (s3_copy_source_range(h, osize, &start, &len)) {
	case S3E_OK:
		FUZZ_CHECK(len && start < osize && len <= osize - start);
		break;
	case S3E_InvalidArgument:
	case S3E_InvalidRange:
		break;
	default:
		FUZZ_CHECK(!"s3_copy_source_range gave another error");
	}
	free(h);
	return 0;
}
