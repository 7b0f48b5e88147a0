/*
 * fuzz-s3-form: the multipart/form-data parser of POST object (s3form.c),
 * and the policy document parser and checker behind it (s3post.c).
 *
 * Input: a first line that is the Content-Type header (its boundary), one
 * byte choosing the size of each network read, then the body. The parser
 * must give the same fields, the same file bytes and the same verdict for
 * every way the body is cut; keep its caps (fields before the file, part
 * heads); and never report a field after the file or a second file. Each
 * field value is also given to the policy parser, whose accepted documents
 * must keep their invariants and check without crashing.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/s3post.h"

struct res {
	struct buf log, file;
	size_t fields_bytes;
	int files, ended, after_file;
};

static int on_field(void *arg, const char *name, const char *value, size_t len)
{
	struct res *r = arg;

	FUZZ_CHECK(*name && value[len] == 0);
	if (r->files)
		r->after_file = 1;
	r->fields_bytes += strlen(name) + len;
	buf_addf(&r->log, "%zu:%s=%zu:", strlen(name), name, len);
	buf_add(&r->log, value, len);
	return 0;
}

static int on_begin(void *arg, const char *filename, const char *ctype)
{
	struct res *r = arg;

	r->files++;
	buf_addf(&r->log, "F%s|%s;", filename, ctype);
	return 0;
}

static int on_data(void *arg, const uint8_t *p, size_t n)
{
	struct res *r = arg;

	FUZZ_CHECK(r->files == 1 && !r->ended && n);
	buf_add(&r->file, p, n);
	return 0;
}

static int on_end(void *arg)
{
	struct res *r = arg;

	r->ended++;
	return 0;
}

static const struct s3_form_cb cb = { on_field, on_begin, on_data, on_end };

static int run(const char *ct, const uint8_t *body, size_t n, size_t step, struct res *r)
{
	struct s3_form f;
	int e;

	memset(r, 0, sizeof(*r));
	buf_init(&r->log, 0);
	buf_init(&r->file, 0);
	e = s3_form_init(&f, ct);
	for (size_t off = 0; !e && off < n; off += step)
		e = s3_form_feed(&f, body + off, MIN(step, n - off), &cb, r);
	if (!e)
		e = s3_form_finish(&f);
	s3_form_release(&f);
	FUZZ_CHECK(e == 0 || e == -EINVAL || e == -EBADMSG || e == -E2BIG);
	FUZZ_CHECK(r->files <= 1 && r->ended <= r->files && !r->after_file);
	FUZZ_CHECK(r->fields_bytes <= S3_FORM_FIELDS_MAX);
	return e;
}

static void policy(const char *v, size_t len)
{
	struct s3_post_policy p;
	struct buf err = BUF_INIT;
	const struct s3_post_field f[] = { { "bucket", "b" }, { "key", v } };

	if (!s3_post_policy_parse(v, len, &p, &err)) {
		FUZZ_CHECK(p.n > 0 || p.has_range);
		FUZZ_CHECK(p.min <= p.max);
		for (size_t i = 0; i < p.n; i++)
			FUZZ_CHECK(*p.c[i].field && p.c[i].value);
		s3_post_policy_check(&p, f, 2, &err);
		s3_post_policy_free(&p);
	} else {
		FUZZ_CHECK(err.len && !p.n);
	}
	buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size), *body;
	size_t hdr, n, step;
	char *ct, *text;
	struct res whole, cut;
	int e1, e2;

	if (!nl || (size_t)(nl - data) + 2 > size)
		return 0;
	hdr = (size_t)(nl - data) + 2;
	ct = xstrndup((const char *)data, (size_t)(nl - data));
	step = 1 + nl[1] % 64;
	body = data + hdr;
	n = size - hdr;
	e1 = run(ct, body, n, n ? n : 1, &whole);
	e2 = run(ct, body, n, step, &cut);
	/* the same verdict and the same output, however the body arrives */
	FUZZ_CHECK(e1 == e2);
	if (!e1) {
		FUZZ_CHECK(whole.log.len == cut.log.len &&
			   !memcmp(whole.log.ptr, cut.log.ptr, cut.log.len));
		FUZZ_CHECK(whole.file.len == cut.file.len &&
			   !memcmp(whole.file.ptr, cut.file.ptr, cut.file.len));
		FUZZ_CHECK(whole.ended == whole.files);
	}
	/* the body as a policy document too (the key field compared against it) */
	text = xstrndup((const char *)body, n);
	policy(text, strlen(text));
	free(text);
	buf_release(&whole.log);
	buf_release(&whole.file);
	buf_release(&cut.log);
	buf_release(&cut.file);
	free(ct);
	return 0;
}
