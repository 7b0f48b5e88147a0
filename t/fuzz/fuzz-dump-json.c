/*
 * fuzz-dump-json: the input of `juicefs load`, a JuiceFS 1.x JSON dump that
 * may come from anywhere (a backup object, another client, a hand edit).
 *
 * Contracts checked beyond memory safety:
 *  - the tokenizer gives the same tokens, or fails at the same place,
 *    whether its source hands over the whole input or 7 bytes at a time;
 *  - a refused load names a position and leaves the engine with no volume;
 *  - what a load accepts dumps again, that dump loads, and dumping the
 *    second volume gives the same document (counters that a load recomputes
 *    aside): load and dump agree on what the format means.
 */
#include "t/fuzz/fuzz.h"
#include "conf/conf.h"
#include "meta/jsonstream.h"
#include "meta/meta.h"

#include <errno.h>
#include <string.h>

struct src {
	const uint8_t *p;
	size_t n, off, step;
};

static ssize_t src_read(void *arg, void *p, size_t n)
{
	struct src *s = arg;
	size_t k = MIN(n, MIN(s->step, s->n - s->off));

	memcpy(p, s->p + s->off, k);
	s->off += k;
	return (ssize_t)k;
}

static ssize_t buf_sink(void *arg, const void *p, size_t n)
{
	return buf_add(arg, p, n) ? -E2BIG : (ssize_t)n;
}

/* Every token of the input with its text, or the error, as one string. */
static void tokens(const uint8_t *data, size_t size, size_t step, struct buf *out)
{
	struct src s = { data, size, 0, step };
	struct meta_jsr r;
	int tok, rc;

	meta_jsr_init(&r, src_read, &s);
	for (;;) {
		rc = meta_jsr_next(&r, &tok);
		if (rc) {
			buf_addf(out, "error %s", r.err);
			break;
		}
		buf_addf(out, "%d:", tok);
		if (tok == META_JS_KEY || tok == META_JS_STRING || tok == META_JS_NUMBER)
			buf_add(out, r.str.ptr, r.str.len);
		buf_add(out, "\n", 1);
		if (tok == META_JS_EOF)
			break;
	}
	meta_jsr_release(&r);
}

/* A dump renders the id counters a load recomputes; leave them out. */
static void drop_recomputed(struct buf *b)
{
	struct buf o = BUF_INIT;
	const char *p = b->ptr ? b->ptr : "";

	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p + 1) : strlen(p);

		if (!memmem(p, n, "\"nextInodes\"", 12) && !memmem(p, n, "\"nextChunk\"", 11) &&
		    !memmem(p, n, "\"nextSession\"", 13))
			buf_add(&o, p, n);
		p += n;
	}
	buf_release(b);
	*b = o;
}

static struct meta *private_mem(void)
{
	struct meta *m = NULL;
	struct buf err = BUF_INIT;

	/* "mem://" with no name is a private store, freed when it is closed */
	FUZZ_CHECK(meta_open("mem://", NULL, &m, &err) == 0);
	buf_release(&err);
	return m;
}

static int load(struct meta *m, const uint8_t *p, size_t n, struct buf *err)
{
	struct src s = { p, n, 0, 4096 };
	struct meta_load_opts lo = { 0 };

	return meta_load(m, &lo, src_read, &s, err);
}

static void dump(struct meta *m, struct buf *out)
{
	struct meta_dump_opts o = { 0 };
	struct conf_format f = { 0 };
	struct buf err = BUF_INIT;
	int rc;

	FUZZ_CHECK(meta_load_format(m, &f) == 0);
	conf_format_release(&f);
	o.threads = 1;
	rc = meta_dump(m, &o, buf_sink, out, &err);
	if (rc)
		fprintf(stderr, "dump of a loaded volume failed: %s\n", err.ptr ? err.ptr : "");
	FUZZ_CHECK(rc == 0);
	buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = BUF_INIT, bits = BUF_INIT, err = BUF_INIT;
	struct buf one = BUF_INIT, two = BUF_INIT;
	struct conf_format f = { 0 };
	struct meta *m, *m2;

	if (size > (1U << 20))
		return 0; /* the loader streams; big inputs only slow the search */

	tokens(data, size, size ? size : 1, &whole);
	tokens(data, size, 7, &bits);
	FUZZ_CHECK(whole.len == bits.len && !memcmp(whole.ptr, bits.ptr, whole.len));

	m = private_mem();
	if (load(m, data, size, &err)) {
		FUZZ_CHECK(err.len && strstr(err.ptr, "line ") != NULL);
		FUZZ_CHECK(meta_load_format(m, &f) == -ENOENT);
	} else {
		dump(m, &one);
		m2 = private_mem();
		buf_reset(&err);
		if (load(m2, (const uint8_t *)one.ptr, one.len, &err))
			fprintf(stderr, "our own dump did not load: %s\n", err.ptr);
		FUZZ_CHECK(err.len == 0);
		dump(m2, &two);
		drop_recomputed(&one);
		drop_recomputed(&two);
		if (one.len != two.len || memcmp(one.ptr, two.ptr, one.len))
			fprintf(stderr, "first dump:\n%s\nsecond dump:\n%s\n", one.ptr, two.ptr);
		FUZZ_CHECK(one.len == two.len && !memcmp(one.ptr, two.ptr, one.len));
		meta_close(m2);
	}
	meta_close(m);
	buf_release(&whole);
	buf_release(&bits);
	buf_release(&err);
	buf_release(&one);
	buf_release(&two);
	return 0;
}
