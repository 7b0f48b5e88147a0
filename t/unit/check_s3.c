/*
 * check_s3: the S3 gateway's parsers, against AWS's published SigV4
 * examples (GET object, and the streaming PUT with its chunk signatures),
 * plus the Range header, query strings, URI encoding, the aws-chunked
 * decoder fed in every split, the XML bodies and the error table.
 */
#include <check.h>

#include "gateway/s3.h"
#include "gateway/s3-internal.h"

#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct hdrs {
	const char *const (*kv)[2];
	size_t n;
};

static const char *hdr_get(void *arg, const char *lname)
{
	struct hdrs *h = arg;

	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->kv[i][0], lname))
			return h->kv[i][1];
	return NULL;
}

START_TEST(sigv4_get_example)
{
	static const char *const kv[][2] = {
		{ "host", "examplebucket.s3.amazonaws.com" },
		{ "range", "bytes=0-9" },
		{ "x-amz-content-sha256", EMPTY_SHA },
		{ "x-amz-date", "20130524T000000Z" },
	};
	struct hdrs h = { kv, ARRAY_SIZE(kv) };
	struct s3_sigv4 sv;
	struct buf c = BUF_INIT;
	uint8_t key[32];
	char sig[65];

	ck_assert_int_eq(
		s3_parse_auth_header("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
				     "us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-"
				     "content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35"
				     "b5d6ed310bd44f0170aba48dd91039c6036bdb41",
				     &sv),
		0);
	ck_assert_str_eq(sv.access_key, "AKIAIOSFODNN7EXAMPLE");
	ck_assert_str_eq(sv.region, "us-east-1");
	ck_assert_str_eq(sv.date, "20130524");
	snprintf(sv.amz_date, sizeof(sv.amz_date), "20130524T000000Z");
	ck_assert_int_eq(s3_canonical_request(&c, "GET", "/test.txt", "", sv.signed_headers,
					      hdr_get, &h, EMPTY_SHA, 0),
			 0);
	ck_assert_str_eq(c.ptr, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
				"range:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA "\n"
				"x-amz-date:20130524T000000Z\n\n"
				"host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA);
	s3_sign(AWS_SECRET, &sv, c.ptr, key, sig);
	ck_assert_str_eq(sig, sv.signature);
	buf_release(&c);
}
END_TEST

/* AWS's published SigV2 example (upload with x-amz-meta-* given twice). */
START_TEST(sigv2_upload_example)
{
	struct s3_v2_hdr amz[] = {
		{ "x-amz-acl", "public-read" },
		{ "x-amz-meta-reviewedby", "joe@example.com" },
		{ "x-amz-meta-reviewedby", "jane@example.com" },
		{ "x-amz-meta-filechecksum", " 0x02661779 " },
		{ "x-amz-meta-checksumalgorithm", "crc32" },
	};
	struct s3_query q;
	struct buf sts = BUF_INIT;
	char sig[29];

	ck_assert_int_eq(s3_query_parse("", &q), 0);
	s3_v2_string_to_sign(&sts, "PUT", "4gJE4saaMU4BqNR0kLY+lw==", "application/x-download",
			     "Tue, 27 Mar 2007 21:06:08 +0000", amz, 5,
			     "/static.example.com/db-backup.dat.gz", &q);
	ck_assert_str_eq(sts.ptr, "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n"
				  "Tue, 27 Mar 2007 21:06:08 +0000\nx-amz-acl:public-read\n"
				  "x-amz-meta-checksumalgorithm:crc32\n"
				  "x-amz-meta-filechecksum:0x02661779\n"
				  "x-amz-meta-reviewedby:joe@example.com,jane@example.com\n"
				  "/static.example.com/db-backup.dat.gz");
	s3_v2_sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sts.ptr, sts.len, sig);
	ck_assert_str_eq(sig, "jtBQa0Aq+DkULFI8qrpwIjGEx0E=");
	s3_query_free(&q);
	/* sub-resources in byte order, values decoded, other parameters left out */
	buf_reset(&sts);
	ck_assert_int_eq(s3_query_parse("versionId=7&prefix=x&uploadId=a%2Bb&acl&max-keys=3", &q), 0);
	s3_v2_string_to_sign(&sts, "GET", NULL, NULL, "1700000000", NULL, 0, "/b/k", &q);
	ck_assert_str_eq(sts.ptr, "GET\n\n\n1700000000\n/b/k?acl&uploadId=a+b&versionId=7");
	s3_query_free(&q);
	buf_release(&sts);
}
END_TEST

START_TEST(sigv4_header_malformed)
{
	struct s3_sigv4 sv;

	ck_assert_int_ne(s3_parse_auth_header("AWS4-HMAC-SHA256 Credential=a/b", &sv), 0);
	ck_assert_int_ne(s3_parse_auth_header("AWS AKIA:sig", &sv), 0);
	ck_assert_int_ne(s3_parse_auth_header("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/"
					      "s3/aws4_request, SignedHeaders=host, Signature=abc",
					      &sv),
			 0);
	/* An access key containing '/' still splits from the right. */
	ck_assert_int_eq(s3_parse_auth_header(
				 "AWS4-HMAC-SHA256 Credential=A/K/20130524/r1/s3/aws4_request, "
				 "SignedHeaders=host, Signature=" EMPTY_SHA,
				 &sv),
			 0);
	ck_assert_str_eq(sv.access_key, "A/K");
	ck_assert_str_eq(sv.region, "r1");
}
END_TEST

START_TEST(sigv4_query_canonical)
{
	static const char *const kv[][2] = { { "host", "h" } };
	struct hdrs h = { kv, 1 };
	struct buf c = BUF_INIT;

	/* Sorted by name, re-encoded strictly, empty values keep '=', signature dropped. */
	ck_assert_int_eq(s3_canonical_request(&c, "GET", "/b/a%20b+c", "z=1&a=%7e&list-type=2&acl&X-Amz-Signature=ff",
					      "host", hdr_get, &h, "UNSIGNED-PAYLOAD", 1),
			 0);
	ck_assert_str_eq(c.ptr, "GET\n/b/a%20b%2Bc\na=~&acl=&list-type=2&z=1\nhost:h\n\nhost\n"
				"UNSIGNED-PAYLOAD");
	ck_assert_int_ne(s3_canonical_request(&c, "GET", "/b/%zz", "", "host", hdr_get, &h, "x", 0),
			 0);
	buf_release(&c);
}
END_TEST

START_TEST(sigv4_presigned_parse)
{
	struct s3_query q;
	struct s3_sigv4 sv;

	ck_assert_int_eq(s3_query_parse("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F"
					"20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
					"20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders="
					"host&X-Amz-Signature=" EMPTY_SHA,
					&q),
			 0);
	ck_assert_int_eq(s3_parse_presigned(&q, &sv), 0);
	ck_assert_int_eq(sv.expires, 86400);
	ck_assert_str_eq(sv.access_key, "AK");
	ck_assert_str_eq(sv.amz_date, "20130524T000000Z");
	s3_query_free(&q);
	ck_assert_int_eq(s3_query_parse("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=999999999",
					&q),
			 0);
	ck_assert_int_ne(s3_parse_presigned(&q, &sv), 0);
	s3_query_free(&q);
}
END_TEST

/* AWS's streaming example: seed, then 64 KiB + 1 KiB of 'a' and the final chunk. */
static const char *const chunk_sigs[] = {
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
};

static void example_sv(struct s3_sigv4 *sv, uint8_t key[32], char seed[65])
{
	static const char *const kv[][2] = {
		{ "content-encoding", "aws-chunked" },
		{ "content-length", "66824" },
		{ "host", "s3.amazonaws.com" },
		{ "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-decoded-content-length", "66560" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	};
	struct hdrs h = { kv, ARRAY_SIZE(kv) };
	struct buf c = BUF_INIT;

	memset(sv, 0, sizeof(*sv));
	snprintf(sv->date, sizeof(sv->date), "20130524");
	snprintf(sv->region, sizeof(sv->region), "us-east-1");
	snprintf(sv->service, sizeof(sv->service), "s3");
	snprintf(sv->amz_date, sizeof(sv->amz_date), "20130524T000000Z");
	snprintf(sv->signed_headers, sizeof(sv->signed_headers),
		 "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
		 "x-amz-decoded-content-length;x-amz-storage-class");
	ck_assert_int_eq(s3_canonical_request(&c, "PUT", "/examplebucket/chunkObject.txt", "",
					      sv->signed_headers, hdr_get, &h,
					      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 0),
			 0);
	s3_sign(AWS_SECRET, sv, c.ptr, key, seed);
	buf_release(&c);
}

START_TEST(sigv4_streaming_example)
{
	struct s3_sigv4 sv;
	uint8_t key[32];
	char seed[65], sig[65], sha[65];
	uint8_t *a = xmalloc(65536);

	example_sv(&sv, key, seed);
	ck_assert_str_eq(seed, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
	memset(a, 'a', 65536);
	s3_sha256_hex(a, 65536, sha);
	s3_chunk_sign(key, &sv, seed, sha, sig);
	ck_assert_str_eq(sig, chunk_sigs[0]);
	s3_sha256_hex(a, 1024, sha);
	s3_chunk_sign(key, &sv, chunk_sigs[0], sha, sig);
	ck_assert_str_eq(sig, chunk_sigs[1]);
	s3_chunk_sign(key, &sv, chunk_sigs[1], EMPTY_SHA, sig);
	ck_assert_str_eq(sig, chunk_sigs[2]);
	free(a);
}
END_TEST

/* The example body, decoded with input split every `step` bytes and a small out buffer. */
START_TEST(chunked_decoder_splits)
{
	static const size_t steps[] = { 1, 2, 7, 64, 4096, 1 << 20 };
	struct buf body = BUF_INIT;
	uint8_t *a = xmalloc(65536);
	size_t sizes[] = { 65536, 1024, 0 };

	memset(a, 'a', 65536);
	for (int i = 0; i < 3; i++) {
		buf_addf(&body, "%zx;chunk-signature=%s\r\n", sizes[i], chunk_sigs[i]);
		buf_add(&body, a, sizes[i]);
		buf_adds(&body, "\r\n");
	}
	for (size_t si = 0; si < ARRAY_SIZE(steps); si++) {
		struct s3_chunked ch;
		size_t pos = 0, total = 0;
		int nsig = 0;
		uint8_t out[1000];

		s3_chunked_init(&ch);
		while (pos < body.len && !ch.finished) {
			size_t n = MIN(steps[si], body.len - pos);
			const uint8_t *in = (const uint8_t *)body.ptr + pos;
			size_t inlen = n;

			while (inlen && !ch.finished) {
				size_t got;

				ck_assert_int_eq(s3_chunked_feed(&ch, &in, &inlen, out, sizeof(out),
								 &got),
						 0);
				for (size_t k = 0; k < got; k++)
					ck_assert_int_eq(out[k], 'a');
				total += got;
				if (ch.chunk_done) {
					ck_assert_int_lt(nsig, 3);
					ck_assert_str_eq(ch.sig, chunk_sigs[nsig]);
					nsig++;
				}
			}
			pos += n;
		}
		ck_assert_msg(ch.finished, "step %zu", steps[si]);
		ck_assert_int_eq(nsig, 3);
		ck_assert_int_eq(total, 66560);
	}
	free(a);
	buf_release(&body);
}
END_TEST

START_TEST(chunked_decoder_bad)
{
	static const char *const bad[] = {
		"zz;chunk-signature=" EMPTY_SHA "\r\n",
		"4;chunk-signature=abc\r\n",
		"4;chunk-signature=" EMPTY_SHA "\r\nabcdXX\r\n",
		"4;chunk-signature=" EMPTY_SHA "\nabcd\r\n",
		"11111111111111111;chunk-signature=" EMPTY_SHA "\r\n",
		/* A byte after the end of the stream (it used to be never consumed). */
		"0;chunk-signature=" EMPTY_SHA "\r\n\r\nZ",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct s3_chunked ch;
		const uint8_t *in = (const uint8_t *)bad[i];
		size_t inlen = strlen(bad[i]), got;
		uint8_t out[64];
		int r = 0;

		s3_chunked_init(&ch);
		while (inlen && !r)
			r = s3_chunked_feed(&ch, &in, &inlen, out, sizeof(out), &got);
		ck_assert_msg(r == -EINVAL, "case %zu", i);
	}
	/* Unsigned chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with a trailer. */
	{
		static const char ok[] = "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
		struct s3_chunked ch;
		const uint8_t *in = (const uint8_t *)ok;
		size_t inlen = strlen(ok), got, total = 0;
		uint8_t out[64];

		s3_chunked_init(&ch);
		while (inlen) {
			ck_assert_int_eq(s3_chunked_feed(&ch, &in, &inlen, out + total,
							 sizeof(out) - total, &got),
					 0);
			total += got;
		}
		ck_assert(ch.finished);
		ck_assert_int_eq(total, 3);
		ck_assert(!memcmp(out, "abc", 3));
	}
}
END_TEST

START_TEST(range_header)
{
	uint64_t s, l;

	ck_assert_int_eq(s3_parse_range("bytes=0-9", 100, &s, &l), 0);
	ck_assert(s == 0 && l == 10);
	ck_assert_int_eq(s3_parse_range("bytes=90-", 100, &s, &l), 0);
	ck_assert(s == 90 && l == 10);
	ck_assert_int_eq(s3_parse_range("bytes=-5", 100, &s, &l), 0);
	ck_assert(s == 95 && l == 5);
	ck_assert_int_eq(s3_parse_range("bytes=-500", 100, &s, &l), 0);
	ck_assert(s == 0 && l == 100);
	ck_assert_int_eq(s3_parse_range("bytes=50-5000", 100, &s, &l), 0);
	ck_assert(s == 50 && l == 50);
	ck_assert_int_eq(s3_parse_range("bytes=100-", 100, &s, &l), -ERANGE);
	ck_assert_int_eq(s3_parse_range("bytes=-0", 100, &s, &l), -ERANGE);
	ck_assert_int_eq(s3_parse_range("bytes=0-", 0, &s, &l), -ERANGE);
	ck_assert_int_eq(s3_parse_range(NULL, 100, &s, &l), 1);
	ck_assert_int_eq(s3_parse_range("bytes=5-2", 100, &s, &l), 1);
	ck_assert_int_eq(s3_parse_range("bytes=0-1,5-6", 100, &s, &l), 1);
	ck_assert_int_eq(s3_parse_range("items=0-1", 100, &s, &l), 1);
	ck_assert_int_eq(s3_parse_range("bytes=a-1", 100, &s, &l), 1);
	ck_assert_int_eq(s3_parse_range("bytes=-", 100, &s, &l), 1);
	ck_assert_int_eq(s3_parse_range("bytes=99999999999999999999-", 100, &s, &l), 1);
}
END_TEST

START_TEST(uri_and_query)
{
	struct buf b = BUF_INIT;
	struct s3_query q;

	s3_uri_encode(&b, "a b/ü~+", strlen("a b/ü~+"), 1);
	ck_assert_str_eq(b.ptr, "a%20b/%C3%BC~%2B");
	buf_reset(&b);
	s3_uri_encode(&b, "a/b", 3, 0);
	ck_assert_str_eq(b.ptr, "a%2Fb");
	buf_reset(&b);
	ck_assert_int_eq(s3_uri_decode(&b, "a%2fb+c", 7, 0), 0);
	ck_assert_str_eq(b.ptr, "a/b+c");
	buf_reset(&b);
	ck_assert_int_eq(s3_uri_decode(&b, "a+c", 3, 1), 0);
	ck_assert_str_eq(b.ptr, "a c");
	buf_reset(&b);
	ck_assert_int_eq(s3_uri_decode(&b, "a%00", 4, 0), -EINVAL);
	buf_reset(&b);
	ck_assert_int_eq(s3_uri_decode(&b, "a%4", 3, 0), -EINVAL);
	buf_reset(&b);
	ck_assert_int_eq(s3_uri_decode(&b, "%", 1, 0), -EINVAL);
	/* encoding-type=url keeps every byte of a non-UTF-8 key. */
	buf_reset(&b);
	s3_uri_encode(&b, "d/\xd6\xd0", 4, 1);
	ck_assert_str_eq(b.ptr, "d/%D6%D0");
	/* Without it the XML must stay well-formed: not text becomes U+FFFD, as the real gateway. */
	buf_reset(&b);
	s3_xml_escape(&b, "\xd6\xd0\xce\xc4.txt <&> caf\xc3\xa9\x01");
	ck_assert_str_eq(b.ptr, UTF8_REPLACEMENT UTF8_REPLACEMENT UTF8_REPLACEMENT
			 UTF8_REPLACEMENT ".txt &lt;&amp;&gt; caf\xc3\xa9" UTF8_REPLACEMENT);
	/* Plain runs are copied whole: around, between and after the escaped bytes. */
	buf_reset(&b);
	s3_xml_escape(&b, "a'b\"\"c\x7f~\tend");
	ck_assert_str_eq(b.ptr, "a&apos;b&quot;&quot;c\x7f~\tend");
	buf_reset(&b);
	s3_xml_escape(&b, "");
	ck_assert_str_eq(b.ptr, "");
	buf_reset(&b);
	s3_xml_el(&b, "ETag", "\"x\"");
	ck_assert_str_eq(b.ptr, "<ETag>&quot;x&quot;</ETag>");
	buf_release(&b);

	ck_assert_int_eq(s3_query_parse("uploads&prefix=a%2Fb&max-keys=&&x=1=2", &q), 0);
	ck_assert_int_eq(q.n, 4);
	ck_assert(s3_query_has(&q, "uploads"));
	ck_assert_str_eq(s3_query_get(&q, "prefix"), "a/b");
	ck_assert_str_eq(s3_query_get(&q, "max-keys"), "");
	ck_assert_str_eq(s3_query_get(&q, "x"), "1=2");
	ck_assert_ptr_null(s3_query_get(&q, "nope"));
	s3_query_free(&q);
	ck_assert_int_eq(s3_query_parse("a=%zz", &q), -EINVAL);
}
END_TEST

START_TEST(dates)
{
	char out[64];
	int64_t t;

	s3_http_date(1445412480, out, sizeof(out));
	ck_assert_str_eq(out, "Wed, 21 Oct 2015 07:28:00 GMT");
	s3_iso_date(1445412480, 123456789, out, sizeof(out));
	ck_assert_str_eq(out, "2015-10-21T07:28:00.123Z");
	s3_iso_date(0, 7000000, out, sizeof(out));
	ck_assert_str_eq(out, "1970-01-01T00:00:00.007Z");
	s3_iso_date(253402300799, 999999999, out, sizeof(out));
	ck_assert_str_eq(out, "9999-12-31T23:59:59.999Z");
	s3_iso_date(1445412480, 0, out, 11);
	ck_assert_str_eq(out, "2015-10-21");
	ck_assert_int_eq(s3_parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT", &t), 0);
	ck_assert_int_eq(t, 1445412480);
	ck_assert_int_eq(s3_parse_amz_date("20151021T072800Z", &t), 0);
	ck_assert_int_eq(t, 1445412480);
	ck_assert_int_ne(s3_parse_amz_date("20151021T072800", &t), 0);
	ck_assert_int_ne(s3_parse_http_date("yesterday", &t), 0);
}
END_TEST

START_TEST(xml_bodies)
{
	static const char complete[] =
		"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part>"
		"<Part><ETag>def</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>";
	static const char del[] = "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>"
				  "<Object><Key>c</Key><VersionId>null</VersionId></Object></Delete>";
	static const char tags[] = "<Tagging><TagSet><Tag><Key>k 1</Key><Value>v&amp;=</Value>"
				   "</Tag><Tag><Key>e</Key><Value></Value></Tag></TagSet></Tagging>";
	static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM "
				  "\"file:///etc/passwd\">]><Delete><Object><Key>&x;</Key>"
				  "</Object></Delete>";
	struct s3_part_ref *parts;
	size_t n;
	char **keys;
	int quiet;
	struct buf b = BUF_INIT;

	ck_assert_int_eq(s3_xml_complete(complete, strlen(complete), &parts, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(parts[0].number, 1);
	ck_assert_str_eq(parts[0].etag, "abc");
	ck_assert_int_eq(parts[1].number, 3);
	ck_assert_str_eq(parts[1].etag, "def");
	free(parts);
	{
		static const char bad[] = "<CompleteMultipartUpload><Part><PartNumber>x"
					  "</PartNumber></Part></CompleteMultipartUpload>";
		ck_assert_int_ne(s3_xml_complete(bad, sizeof(bad) - 1, &parts, &n), 0);
	}
	ck_assert_int_ne(s3_xml_complete("<Complete", 9, &parts, &n), 0);
	ck_assert_int_ne(s3_xml_complete("<Other/>", 8, &parts, &n), 0);

	ck_assert_int_eq(s3_xml_delete(del, strlen(del), &keys, &n, &quiet), 0);
	ck_assert_int_eq(n, 2);
	ck_assert(quiet);
	ck_assert_str_eq(keys[0], "a&b");
	ck_assert_str_eq(keys[1], "c");
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	/* External entities are never loaded. */
	if (!s3_xml_delete(xxe, strlen(xxe), &keys, &n, &quiet)) {
		ck_assert(!strstr(keys[0], "root:"));
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}

	ck_assert_int_eq(s3_xml_tagging(tags, strlen(tags), &b), 0);
	ck_assert_str_eq(b.ptr, "k%201=v%26%3D&e=");
	buf_reset(&b);
	ck_assert_int_eq(s3_xml_tagging("<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet>"
					"</Tagging>",
					63, &b),
			 -EINVAL);
	buf_release(&b);
}
END_TEST

/*
 * Base64 of a continuation-token or SSE-C key. "====" once decoded to a
 * length of -1 (3 bytes less 4 pads), which buf_add refused, so it passed as
 * an empty token (t/fuzz/corpus/s3-headers/unb64-*).
 */
START_TEST(base64_values)
{
	static const char *const bad[] = { "====", "A===", "=AAA", "AB=C", "YQ=a", "YWJj=",
					   "YW", "YW\nJ", "YWJ\xff" };
	struct buf b = BUF_INIT;
	uint8_t md5[16];

	ck_assert_int_eq(s3_unb64("YWI=", &b), 0);
	ck_assert_str_eq(b.ptr, "ab");
	buf_reset(&b);
	ck_assert_int_eq(s3_unb64("YWJj", &b), 0);
	ck_assert_str_eq(b.ptr, "abc");
	buf_reset(&b);
	ck_assert_int_eq(s3_unb64("YQ==", &b), 0);
	ck_assert_str_eq(b.ptr, "a");
	buf_reset(&b);
	ck_assert_int_eq(s3_unb64("", &b), 0);
	ck_assert_uint_eq(b.len, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&b);
		ck_assert_msg(s3_unb64(bad[i], &b) == -EINVAL, "accepted \"%s\" as %zu bytes", bad[i],
			      b.len);
	}
	buf_release(&b);
	ck_assert_int_eq(s3_b64_decode16("1B2M2Y8AsgTpgAmY7PhCfg==", md5), 0);
	ck_assert_int_ne(s3_b64_decode16("1B2M2Y8AsgTpgAmY7PhCf===", md5), 0);
}
END_TEST

START_TEST(access_log_redacts)
{
	static const char *const cases[][2] = {
		{ "/b/k", "/b/k" },
		{ "/b/k?X-Amz-Signature=abc123", "/b/k?X-Amz-Signature=REDACTED" },
		{ "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ak%2F2026&"
		  "X-Amz-Signature=deadbeef&x=1",
		  "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ak%2F2026&"
		  "X-Amz-Signature=REDACTED&x=1" },
		{ "/b?AWSAccessKeyId=ak&Expires=1&Signature=sig%2Bx",
		  "/b?AWSAccessKeyId=ak&Expires=1&Signature=REDACTED" },
		{ "/b?x-amz-signature=s&X%2DAmz%2DSignature=t&X-Amz-Security-Token=tok",
		  "/b?x-amz-signature=REDACTED&X%2DAmz%2DSignature=REDACTED&"
		  "X-Amz-Security-Token=REDACTED" },
		{ "/b?prefix=Signature&SignatureX=1&Signature", "/b?prefix=Signature&SignatureX=1&"
							       "Signature" },
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		gw_access_log_target(cases[i][0], &b);
		ck_assert_str_eq(b.ptr, cases[i][1]);
	}
	buf_release(&b);
}
END_TEST

static const char *fake_hdr(void *arg, const char *lname)
{
	UNUSED(arg);
	return !strcmp(lname, "x-amz-date") || !strcmp(lname, "x-amz-content-sha256") ? "v" : NULL;
}

START_TEST(sigv4_host_signed)
{
	ck_assert_int_eq(s3_check_signed_headers("host;x-amz-content-sha256;x-amz-date", fake_hdr,
						 NULL),
			 S3E_OK);
	ck_assert_int_eq(s3_check_signed_headers("host", fake_hdr, NULL), S3E_OK);
	ck_assert_int_eq(s3_check_signed_headers("content-length;host", fake_hdr, NULL), S3E_OK);
	ck_assert_int_eq(s3_check_signed_headers("x-amz-content-sha256;x-amz-date", fake_hdr, NULL),
			 S3E_UnsignedHeaders);
	ck_assert_int_eq(s3_check_signed_headers("hostx;x-amz-date", fake_hdr, NULL),
			 S3E_UnsignedHeaders);
	ck_assert_int_eq(s3_check_signed_headers("host;x-amz-meta-gone", fake_hdr, NULL),
			 S3E_UnsignedHeaders);
	ck_assert_int_eq(s3_check_signed_headers("", fake_hdr, NULL), S3E_MissingFields);
}
END_TEST

/* The one gate from S3 names to paths: what it refuses, and with which error. */
START_TEST(name_gate)
{
	static const struct {
		const char *root, *name;
		unsigned flags;
		enum s3_err want;
		const char *path;
	} cases[] = {
		{ "/alice", "a/b.txt", 0, S3E_OK, "/alice/a/b.txt" },
		{ "/alice", "dir/", 0, S3E_OK, "/alice/dir" },
		{ "", "a", 0, S3E_OK, "/a" },
		{ "/alice", "", S3_NAME_PREFIX, S3E_OK, "/alice/" },
		{ "/alice", "d/", S3_NAME_PREFIX, S3E_OK, "/alice/d/" },
		{ "/alice", "x/.../y", 0, S3E_OK, "/alice/x/.../y" },
		{ "/alice", ".hidden", 0, S3E_OK, "/alice/.hidden" },
		{ "/alice", ".sys/x", 0, S3E_OK, "/alice/.sys/x" }, /* a folder of the bucket */
		{ "/alice", "", 0, S3E_InvalidArgument, NULL },
		{ "/alice", "..", 0, S3E_InvalidResourceName, NULL },
		{ "/alice", "../bob/x", 0, S3E_InvalidResourceName, NULL },
		{ "/alice", "../", S3_NAME_PREFIX, S3E_InvalidResourceName, NULL },
		{ "/alice", "./a", 0, S3E_InvalidResourceName, NULL },
		{ "/alice", "d/../a", 0, S3E_InvalidResourceName, NULL },
		{ "/alice", "d/ .. /a", 0, S3E_InvalidResourceName, NULL },
		{ "/alice", "d/.", 0, S3E_InvalidResourceName, NULL },
		{ "/alice", "/a", 0, S3E_InvalidObjectName, NULL },
		{ "/alice", "/", S3_NAME_PREFIX, S3E_InvalidObjectName, NULL },
		{ "/alice", "a//b", 0, S3E_InvalidObjectName, NULL },
		{ "/alice", "d//", S3_NAME_PREFIX, S3E_InvalidObjectName, NULL },
		{ "", ".trash/2026-01-01-00/1-2-x", 0, S3E_AccessDenied, NULL },
		{ "", ".sys/uploads/abc/", S3_NAME_PREFIX, S3E_AccessDenied, NULL },
		{ "", ".minio.sys", 0, S3E_AccessDenied, NULL },
		{ "", ".sys", S3_NAME_PREFIX, S3E_AccessDenied, NULL },
		{ "", ".sysx/a", 0, S3E_OK, "/.sysx/a" },
	};
	struct buf b = BUF_INIT;
	char big[1100];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum s3_err e = s3_name_path(cases[i].root, cases[i].name, cases[i].flags, &b);

		ck_assert_msg(e == cases[i].want, "%s: got %d want %d", cases[i].name, e,
			      cases[i].want);
		if (cases[i].path)
			ck_assert_str_eq(b.ptr, cases[i].path);
		else
			ck_assert_uint_eq(b.len, 0);
	}
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(s3_name_path("", big, 0, &b), S3E_KeyTooLongError);
	big[300] = 0;
	ck_assert_int_eq(s3_name_path("", big, 0, &b), S3E_KeyTooLongError); /* one segment */
	buf_release(&b);

	ck_assert(s3_bad_component(".."));
	ck_assert(s3_bad_component("a/./b"));
	ck_assert(s3_bad_component("a/ ..\t"));
	ck_assert(!s3_bad_component("a..b/...c"));
	ck_assert(!s3_bad_component(""));

	ck_assert(s3_valid_bucket_name("my-bucket.v2"));
	ck_assert(s3_valid_bucket_name("xn--abc"));
	ck_assert(s3_valid_bucket_name("1.2.3"));
	ck_assert(!s3_valid_bucket_name("a..b"));
	ck_assert(!s3_valid_bucket_name("a.-b"));
	ck_assert(!s3_valid_bucket_name("a-.b"));
	ck_assert(!s3_valid_bucket_name("192.168.1.1"));
	ck_assert(!s3_valid_bucket_name(".trash"));
	ck_assert(!s3_valid_bucket_name(".sys"));
	ck_assert(!s3_valid_bucket_name(".."));
	ck_assert(!s3_valid_bucket_name("Abc"));
	ck_assert(!s3_valid_bucket_name("ab"));
	ck_assert(!s3_valid_bucket_name("abc-"));
}
END_TEST

/* No DTD in any body: entities are neither defined nor expanded (AWS: MalformedXML). */
START_TEST(xml_no_dtd)
{
	static const char tag_ent[] = "<?xml version=\"1.0\"?><!DOCTYPE t [<!ENTITY x \"EXP\">]>"
				      "<Tagging><TagSet><Tag><Key>k</Key><Value>&x;</Value></Tag>"
				      "</TagSet></Tagging>";
	static const char del_ent[] = "<!DOCTYPE d [<!ENTITY x \"b\">]><Delete><Object><Key>&x;"
				      "</Key></Object></Delete>";
	static const char cmp_dtd[] = "<!DOCTYPE CompleteMultipartUpload><CompleteMultipartUpload>"
				      "<Part><PartNumber>1</PartNumber></Part>"
				      "</CompleteMultipartUpload>";
	static const char undecl[] = "<Tagging><TagSet><Tag><Key>k</Key><Value>&x;</Value></Tag>"
				     "</TagSet></Tagging>";
	static const char dup[] = "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
				  "<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>";
	struct buf b = BUF_INIT;
	struct s3_part_ref *parts;
	char **keys;
	size_t n;
	int quiet;

	ck_assert_int_eq(s3_xml_tagging(tag_ent, strlen(tag_ent), &b), -EINVAL);
	ck_assert_int_eq(s3_xml_tagging(undecl, strlen(undecl), &b), -EINVAL);
	ck_assert_int_eq(s3_xml_tagging(dup, strlen(dup), &b), -EEXIST);
	ck_assert_int_ne(s3_xml_delete(del_ent, strlen(del_ent), &keys, &n, &quiet), 0);
	ck_assert_int_ne(s3_xml_complete(cmp_dtd, strlen(cmp_dtd), &parts, &n), 0);
	ck_assert_int_eq(s3_xml_create_bucket("", 0), 0);
	ck_assert_int_eq(s3_xml_create_bucket("<CreateBucketConfiguration><LocationConstraint>"
					      "us-east-1</LocationConstraint>"
					      "</CreateBucketConfiguration>",
					      105),
			 0);
	ck_assert_int_ne(s3_xml_create_bucket("garbage", 7), 0);
	ck_assert_int_ne(s3_xml_create_bucket("<CreateBucketConfiguration>", 27), 0);
	ck_assert_int_ne(s3_xml_create_bucket("<Other/>", 8), 0);
	buf_release(&b);
}
END_TEST

START_TEST(error_table)
{
	ck_assert_str_eq(s3_err_code(S3E_NoSuchKey), "NoSuchKey");
	ck_assert_int_eq(s3_err_status(S3E_NoSuchKey), 404);
	ck_assert_int_eq(s3_err_status(S3E_InvalidRange), 416);
	ck_assert_int_eq(s3_err_status(S3E_NotModified), 304);
	ck_assert_int_eq(s3_err_status(S3E_SignatureDoesNotMatch), 403);
	ck_assert_int_eq(s3_err_status(S3E_MethodNotAllowed), 405);
	ck_assert_int_eq(s3_err_from_errno(-ENOENT), S3E_NoSuchKey);
	ck_assert_int_eq(s3_err_from_errno(-EACCES), S3E_AccessDenied);
	ck_assert_int_eq(s3_err_from_errno(-ENOSPC), S3E_StorageFull);
	ck_assert_str_eq(s3_err_code(S3E_StorageFull), "XMinioStorageFull");
	/* a directory quota: the real gateway's InternalError with its cause */
	ck_assert_int_eq(s3_err_from_errno(-EDQUOT), S3E_QuotaExceeded);
	ck_assert_str_eq(s3_err_code(S3E_QuotaExceeded), "InternalError");
	ck_assert_int_eq(s3_err_status(S3E_QuotaExceeded), 500);
	ck_assert_int_eq(s3_err_from_errno(-EIO), S3E_InternalError);
	ck_assert_str_eq(s3_err_code(S3E_InvalidResourceName), "XMinioInvalidResourceName");
	ck_assert_str_eq(s3_err_code(S3E_UnsignedHeaders), "AccessDenied");
	ck_assert_int_eq(s3_err_status(S3E_UnsignedHeaders), 400);
	ck_assert_str_eq(s3_err_code(S3E_InvalidTagDuplicate), "InvalidTag");
	ck_assert_str_eq(s3_err_code(S3E_MetadataTooLarge), "MetadataTooLarge");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("parsers");
	SRunner *sr;
	int failures;

	tcase_add_test(tc, sigv4_get_example);
	tcase_add_test(tc, sigv2_upload_example);
	tcase_add_test(tc, sigv4_header_malformed);
	tcase_add_test(tc, sigv4_query_canonical);
	tcase_add_test(tc, sigv4_presigned_parse);
	tcase_add_test(tc, sigv4_streaming_example);
	tcase_add_test(tc, chunked_decoder_splits);
	tcase_add_test(tc, chunked_decoder_bad);
	tcase_add_test(tc, range_header);
	tcase_add_test(tc, uri_and_query);
	tcase_add_test(tc, dates);
	tcase_add_test(tc, xml_bodies);
	tcase_add_test(tc, base64_values);
	tcase_add_test(tc, error_table);
	tcase_add_test(tc, name_gate);
	tcase_add_test(tc, sigv4_host_signed);
	tcase_add_test(tc, access_log_redacts);
	tcase_add_test(tc, xml_no_dtd);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
