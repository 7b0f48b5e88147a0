/*
 * fuzz-s3-xml: the XML request bodies of the S3 gateway, each input given
 * to every parser (the root element decides which one accepts it):
 * CompleteMultipartUpload (s3_xml_complete), Delete (s3_xml_delete),
 * Tagging (s3_xml_tagging) and CreateBucketConfiguration
 * (s3_xml_create_bucket). What they accept must keep their limits.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct s3_part_ref *parts;
	size_t nparts, nkeys;
	char **keys;
	int quiet, r;
	struct buf tags = BUF_INIT;

	if (!s3_xml_complete(xml, size, &parts, &nparts)) {
		FUZZ_CHECK(nparts > 0 && parts);
		for (size_t i = 0; i < nparts; i++)
			FUZZ_CHECK(strlen(parts[i].etag) < sizeof(parts[i].etag));
		free(parts);
	} else {
		FUZZ_CHECK(!parts && !nparts);
	}

	if (!s3_xml_delete(xml, size, &keys, &nkeys, &quiet)) {
		FUZZ_CHECK(nkeys > 0 && nkeys <= 1000 && (quiet == 0 || quiet == 1));
		for (size_t i = 0; i < nkeys; i++)
			free(keys[i]);
		free(keys);
	} else {
		FUZZ_CHECK(!keys && !nkeys);
	}

	r = s3_xml_tagging(xml, size, &tags);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG || r == -EEXIST);
	if (!r) {
		struct s3_query q;
		int n = 0;

		/* The stored form is a query string of at most 10 tags that parses back. */
		FUZZ_CHECK(!s3_query_parse(tags.ptr, &q));
		for (size_t i = 0; i < q.n; i++) {
			FUZZ_CHECK(*q.p[i].name && strlen(q.p[i].name) <= 128 &&
				   strlen(q.p[i].value) <= 256);
			n++;
		}
		FUZZ_CHECK(n <= 10);
		/* No key twice (InvalidTagDuplicate). */
		for (size_t i = 0; i < q.n; i++)
			for (size_t j = i + 1; j < q.n; j++)
				FUZZ_CHECK(strcmp(q.p[i].name, q.p[j].name));
		s3_query_free(&q);
	}
	buf_release(&tags);

	r = s3_xml_create_bucket(xml, size);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	return 0;
}
