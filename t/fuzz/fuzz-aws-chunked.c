/*
 * fuzz-aws-chunked: the aws-chunked framing decoder (s3_chunked_feed) that
 * reads STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies.
 *
 * The first two bytes choose how the rest arrives (the size of each network
 * read) and how much room the caller gives for payload; the decoder must
 * give the same payload, the same end state and the same verdict whatever
 * they are, and every call must make progress (consume input or produce
 * payload) until the body is finished. What stays unconsumed after the end
 * is the caller's to refuse (gateway/s3.c s3_body_read, issue 12 item 10): the
 * decoder stops there, which this target accepts.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3.h"

struct result {
	int err;          /* a framing error was reported */
	int final, finished;
	size_t chunks;    /* chunk_done events */
	size_t leftover;  /* bytes after the end of the body */
	struct buf payload;
};

static void decode(const uint8_t *data, size_t size, size_t step, size_t outmax,
		   struct result *res)
{
	struct s3_chunked c;
	uint8_t *out = xmalloc(outmax);
	size_t left = size;

	memset(res, 0, sizeof(*res));
	buf_init(&res->payload, 0);
	s3_chunked_init(&c);
	while (left) {
		size_t piece = MIN(left, step);
		const uint8_t *p = data + (size - left);
		size_t pl = piece;

		while (pl) {
			size_t before = pl, got = 0;

			if (s3_chunked_feed(&c, &p, &pl, out, outmax, &got)) {
				res->err = 1;
				goto out;
			}
			FUZZ_CHECK(got <= outmax && pl <= before);
			buf_add(&res->payload, out, got);
			if (c.chunk_done) {
				res->chunks++;
				FUZZ_CHECK(strlen(c.sig) == 0 || strlen(c.sig) == 64);
			}
			if (pl == before && !got) {
				/* No progress is only allowed once the body is over. */
				FUZZ_CHECK(c.finished);
				res->leftover = pl + (left - piece);
				goto out;
			}
		}
		left -= piece;
	}
out:
	res->final = c.final;
	res->finished = c.finished;
	FUZZ_CHECK(!c.finished || c.final);
	FUZZ_CHECK(res->payload.len <= size);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step = (size_t)fuzz_take(&data, &size, 1) + 1;
	size_t outmax = (size_t)fuzz_take(&data, &size, 1) + 1;
	struct result whole, split;

	decode(data, size, size ? size : 1, 65536, &whole);
	decode(data, size, step, outmax, &split);
	FUZZ_CHECK(whole.err == split.err);
	if (!whole.err) {
		FUZZ_CHECK(whole.final == split.final && whole.finished == split.finished);
		FUZZ_CHECK(whole.leftover == split.leftover && whole.chunks == split.chunks);
		FUZZ_CHECK(whole.payload.len == split.payload.len &&
			   !memcmp(whole.payload.ptr, split.payload.ptr, whole.payload.len));
	}
	buf_release(&whole.payload);
	buf_release(&split.payload);
	return 0;
}
