/*
 * Unit tests of the dump JSON stream (meta/jsonstream.c) and of dump/load
 * through the in-memory engine (meta/dump.c): tokens and their positions,
 * grammar errors, escapes both ways, the writer's Go-compatible escaping,
 * re-indentation, reads split at every byte, and a volume that dumps, loads
 * into a fresh engine and dumps again to the same bytes.
 */
#include <check.h>

#include "meta/jsonstream.h"
#include "meta/meta.h"

/* A source over a string that hands out at most `step` bytes per call. */
struct src {
	const char *p;
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

static ssize_t buf_write(void *arg, const void *p, size_t n)
{
	return buf_add(arg, p, n) ? -E2BIG : (ssize_t)n;
}

/* All tokens of doc as a compact text ("{ k:a s:b }"), or the error. */
static void tokens(const char *doc, size_t step, struct buf *out)
{
	struct src s = { doc, strlen(doc), 0, step };
	struct meta_jsr r;
	int tok;

	meta_jsr_init(&r, src_read, &s);
	for (;;) {
		if (meta_jsr_next(&r, &tok)) {
			buf_addf(out, "ERR %s", r.err);
			break;
		}
		switch (tok) {
		case META_JS_EOF: buf_adds(out, "$"); break;
		case META_JS_OBJ: buf_adds(out, "{ "); break;
		case META_JS_OBJ_END: buf_adds(out, "} "); break;
		case META_JS_ARR: buf_adds(out, "[ "); break;
		case META_JS_ARR_END: buf_adds(out, "] "); break;
		case META_JS_KEY: buf_addf(out, "k:%s ", r.str.ptr); break;
		case META_JS_STRING: buf_addf(out, "s:%s ", r.str.ptr); break;
		case META_JS_NUMBER: buf_addf(out, "n:%s ", r.str.ptr); break;
		case META_JS_TRUE: buf_adds(out, "T "); break;
		case META_JS_FALSE: buf_adds(out, "F "); break;
		case META_JS_NULL: buf_adds(out, "N "); break;
		}
		if (tok == META_JS_EOF)
			break;
	}
	meta_jsr_release(&r);
}

static void check_tokens(const char *doc, const char *want)
{
	/* the same answer whatever the read sizes: 1 byte at a time up to all at once */
	static const size_t steps[] = { 1, 2, 3, 7, 4096 };

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct buf b = BUF_INIT;
		tokens(doc, steps[i], &b);
		ck_assert_msg(!strcmp(b.ptr, want), "doc %s step %zu: got [%s] want [%s]", doc,
			      steps[i], b.ptr, want);
		buf_release(&b);
	}
}

START_TEST(test_tokens)
{
	check_tokens("{}", "{ } $");
	check_tokens(" [ ] ", "[ ] $");
	check_tokens("{\"a\": [1, -2, 3.5e+2, true, false, null], \"b\": {\"c\": \"d\"}}",
		     "{ k:a [ n:1 n:-2 n:3.5e+2 T F N ] k:b { k:c s:d } } $");
	check_tokens("\"x\\\"\\\\\\/\\n\\t\\u0041\\u00e9\\ud83d\\ude00\"",
		     "s:x\"\\/\n\tA\xc3\xa9\xf0\x9f\x98\x80 $");
	check_tokens("\"\\ud800x\"", "s:\xef\xbf\xbdx $"); /* a lone surrogate */
	/* a high half followed by no low half, at every buffer split (steps) */
	check_tokens("\"\\ud800\\u0041\\ud83d\\n\\udc00\\ud83d\"",
		     "s:\xef\xbf\xbd" "A\xef\xbf\xbd\n\xef\xbf\xbd\xef\xbf\xbd $");
	check_tokens("\"raw \xff bytes\"", "s:raw \xff bytes $");
}
END_TEST

START_TEST(test_errors_name_position)
{
	static const struct {
		const char *doc, *want;
	} cases[] = {
		{ "", "ERR line 1, byte 0: empty input (no JSON document)" },
		{ "{\"a\": 1", "{ k:a n:1 ERR line 1, byte 7: unexpected end of input (truncated?)" },
		{ "{\n\"a\": 1,\n}", "{ k:a n:1 ERR line 3, byte 10: expected an object key, found '}'" },
		{ "{\"a\" 1}", "{ ERR line 1, byte 5: expected ':' after an object key" },
		{ "[1 2]", "[ n:1 ERR line 1, byte 3: expected ',' or ']', found '2'" },
		{ "[01]", "[ ERR line 1, byte 1: malformed number '01'" },
		{ "[1.]", "[ ERR line 1, byte 1: malformed number '1.'" },
		{ "{} {}", "{ } ERR line 1, byte 3: unexpected data after the end of the document" },
		{ "\"abc", "ERR line 1, byte 4: unexpected end of input in a string" },
		{ "\"a\nb\"", "ERR line 1, byte 2: control character in a string" },
		{ "\"\\x\"", "ERR line 1, byte 3: bad escape '\\x' in a string" },
		{ "[tru]", "[ ERR line 1, byte 1: invalid literal (expected 'true')" },
		{ "{]", "{ ERR line 1, byte 1: expected an object key, found ']'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT;
		tokens(cases[i].doc, 4096, &b);
		ck_assert_msg(!strcmp(b.ptr, cases[i].want), "doc %zu: got [%s] want [%s]", i,
			      b.ptr, cases[i].want);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_integers)
{
	struct meta_jsr r;
	const char *doc = "[18446744073709551615, 18446744073709551616, -9223372036854775808, "
			  "9223372036854775808, 1.5, -1]";
	int tok;
	uint64_t u;
	int64_t i;

	meta_jsr_init_mem(&r, doc, strlen(doc));
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_u64(&r, &u), 0);
	ck_assert(u == UINT64_MAX);
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_u64(&r, &u), -EINVAL);
	r.error = 0;
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_i64(&r, &i), 0);
	ck_assert(i == INT64_MIN);
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_i64(&r, &i), -EINVAL);
	r.error = 0;
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_u64(&r, &u), -EINVAL);
	r.error = 0;
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_u64(&r, &u), -EINVAL);
	meta_jsr_release(&r);
}
END_TEST

START_TEST(test_pct_escape)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "a b%c\"d\\e", "a%20b%25c%22d%5Ce" },
		{ "\x01\x1f\x7f", "%01%1F\x7f" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "bad\xff\xc3", "bad%FF%C3" },
		{ "\xef\xbf\xbd", "%EF%BF%BD" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf e = BUF_INIT, u = BUF_INIT;
		meta_js_pct_escape(&e, cases[i].in, strlen(cases[i].in));
		ck_assert_str_eq(e.ptr, cases[i].out);
		meta_js_pct_unescape(&u, e.ptr, e.len);
		ck_assert_str_eq(u.ptr, cases[i].in);
		buf_release(&e);
		buf_release(&u);
	}
	/* as the real loader: lower-case hex and a '%' too near the end stay as they are */
	struct buf u = BUF_INIT;
	meta_js_pct_unescape(&u, "%4a%41%4", 8);
	ck_assert_str_eq(u.ptr, "%4aA%4");
	buf_release(&u);
}
END_TEST

START_TEST(test_writer_escapes_like_go)
{
	struct buf out = BUF_INIT;
	struct meta_jsw w;
	const char in[] = "q\"b\\n\n<>&\x01\xe2\x80\xa8\xff\xc3\xa9";

	meta_jsw_init(&w, buf_write, &out);
	meta_jsw_str(&w, in, sizeof(in) - 1);
	ck_assert_int_eq(meta_jsw_flush(&w), 0);
	ck_assert_str_eq(out.ptr, "\"q\\\"b\\\\n\\n\\u003c\\u003e\\u0026\\u0001\\u2028\\ufffd\xc3\xa9\"");
	meta_jsw_release(&w);
	buf_release(&out);
}
END_TEST

START_TEST(test_copy_reindents)
{
	const char *doc = "{\"a\":1,\"b\":{\"c\":[1,{}],\"d\":[]},\"e\":\"x\"}";
	struct buf out = BUF_INIT;
	struct meta_jsw w;
	struct meta_jsr r;
	int tok;

	meta_jsw_init(&w, buf_write, &out);
	meta_jsr_init_mem(&r, doc, strlen(doc));
	ck_assert_int_eq(meta_jsr_next(&r, &tok), 0);
	ck_assert_int_eq(meta_jsr_copy(&r, tok, &w, 1), 0);
	ck_assert_int_eq(meta_jsw_flush(&w), 0);
	ck_assert_str_eq(out.ptr, "{\n    \"a\": 1,\n    \"b\": {\n      \"c\": [\n        1,\n"
				  "        {}\n      ],\n      \"d\": []\n    },\n    \"e\": \"x\"\n  }");
	meta_jsr_release(&r);
	meta_jsw_release(&w);
	buf_release(&out);
}
END_TEST

START_TEST(test_big_writes_flush)
{
	struct buf out = BUF_INIT;
	struct meta_jsw w;
	char chunk[1000];

	memset(chunk, 'x', sizeof(chunk));
	meta_jsw_init(&w, buf_write, &out);
	for (int i = 0; i < 300; i++)
		meta_jsw_raw(&w, chunk, sizeof(chunk));
	ck_assert_int_eq(meta_jsw_flush(&w), 0);
	ck_assert_uint_eq(out.len, 300000);
	ck_assert_uint_eq(w.total, 300000);
	meta_jsw_release(&w);
	buf_release(&out);
}
END_TEST

/* ---- dump and load through the mem engine ---- */

static struct meta *mem_volume(const char *url, int format)
{
	struct meta *m = NULL;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(meta_open(url, NULL, &m, &err), 0);
	if (format) {
		struct conf_format f;
		conf_format_defaults(&f);
		free(f.name);
		f.name = xstrdup("unitvol");
		free(f.uuid);
		f.uuid = xstrdup("6f1c2a4e-0000-4000-8000-000000000001");
		ck_assert_int_eq(meta_init(m, &f, 0, &err), 0);
		conf_format_release(&f);
	}
	buf_release(&err);
	return m;
}

static void dump_to(struct meta *m, struct buf *out)
{
	struct meta_dump_opts o = { 0 };
	struct buf err = BUF_INIT;
	struct conf_format f = { 0 };

	ck_assert_int_eq(meta_load_format(m, &f), 0);
	conf_format_release(&f);
	o.threads = 3;
	ck_assert_msg(meta_dump(m, &o, buf_write, out, &err) == 0, "dump: %s", err.ptr);
	buf_release(&err);
}

static void drop_id_counters(struct buf *b)
{
	/* a load recomputes the id counters the source reserved in batches */
	struct buf o = BUF_INIT;
	const char *p = b->ptr;
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

START_TEST(test_mem_round_trip)
{
	struct meta *m = mem_volume("mem://dump-src", 1), *m2;
	struct meta_ctx c;
	struct meta_attr a;
	uint64_t d, f, s, id;
	struct meta_slice sl = { 0, 0, 5000, 0, 5000 };
	struct buf one = BUF_INIT, two = BUF_INIT, err = BUF_INIT;

	meta_ctx_root(&c);
	ck_assert_int_eq(meta_mkdir(m, &c, 1, "dir \"q\"", 0755, 0, &d, &a), 0);
	ck_assert_int_eq(meta_create(m, &c, d, "file%1", 0644, 0, 0, &f, &a), 0);
	ck_assert_int_eq(meta_new_slice_id(m, &id), 0);
	sl.id = id;
	ck_assert_int_eq(meta_write_slice(m, f, 0, 100, &sl, 0, NULL), 0);
	ck_assert_int_eq(meta_write_slice(m, f, 2, 0, &sl, 0, NULL), 0);
	ck_assert_int_eq(meta_close_file(m, f), 0);
	ck_assert_int_eq(meta_setxattr(m, &c, f, "user.bin", "\0\xff<", 3, 0), 0);
	ck_assert_int_eq(meta_link(m, &c, f, 1, "hard", &a), 0);
	ck_assert_int_eq(meta_symlink(m, &c, d, "ln", "../t a%rget", &s, &a), 0);
	ck_assert_int_eq(meta_mknod(m, &c, 1, "fifo", META_TYPE_FIFO, 0600, 0, 0, &s, &a), 0);
	ck_assert_int_eq(meta_unlink(m, &c, 1, "fifo", 0), 0); /* into trash */
	dump_to(m, &one);
	ck_assert_ptr_nonnull(strstr(one.ptr, "\"dir%20%22q%22\": {"));
	ck_assert_ptr_nonnull(strstr(one.ptr, "\"value\":\"%00%FF\\u003c\""));
	ck_assert_ptr_nonnull(strstr(one.ptr, "\"symlink\": \"../t%20a%25rget\""));
	ck_assert_ptr_nonnull(strstr(one.ptr, "\"Trash\": {"));

	m2 = mem_volume("mem://dump-dst", 0);
	struct src in = { one.ptr, one.len, 0, 777 };
	struct meta_load_opts lo = { 0 };
	ck_assert_msg(meta_load(m2, &lo, src_read, &in, &err) == 0, "load: %s", err.ptr);
	dump_to(m2, &two);
	drop_id_counters(&one);
	drop_id_counters(&two);
	ck_assert_str_eq(two.ptr, one.ptr);

	/* the loaded volume works: the hard link has both names and nlink 2 */
	ck_assert_int_eq(meta_lookup(m2, &c, 1, "hard", &f, &a), 0);
	ck_assert_uint_eq(a.nlink, 2);
	ck_assert_uint_eq(a.length, 2 * (uint64_t)META_CHUNK_SIZE + 5000);

	/* and a second load into it is refused */
	buf_reset(&err);
	struct src again = { one.ptr, one.len, 0, 4096 };
	ck_assert_int_eq(meta_load(m2, &lo, src_read, &again, &err), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err.ptr, "used by volume unitvol"));
	meta_close(m);
	meta_close(m2);
	buf_release(&one);
	buf_release(&two);
	buf_release(&err);
}
END_TEST

START_TEST(test_mem_bad_load_leaves_empty)
{
	struct meta *m = mem_volume("mem://dump-src2", 1), *m2;
	struct buf one = BUF_INIT, err = BUF_INIT, js = BUF_INIT;
	struct meta_load_opts lo = { 0 };

	dump_to(m, &one);
	m2 = mem_volume("mem://dump-dst2", 0);
	/*
	 * every prefix of the dump is refused and leaves nothing behind (all
	 * but the trailing newline: without it the document is whole)
	 */
	ck_assert(one.len > 2 && !strcmp(one.ptr + one.len - 2, "}\n"));
	for (size_t cut = 0; cut < one.len - 1; cut += 1 + cut / 8) {
		struct src in = { one.ptr, cut, 0, 4096 };
		struct conf_format f = { 0 };
		buf_reset(&err);
		ck_assert_msg(meta_load(m2, &lo, src_read, &in, &err) != 0, "prefix %zu of %zu loaded",
			      cut, one.len);
		ck_assert_ptr_nonnull(strstr(err.ptr, "line "));
		ck_assert_int_eq(meta_load_format(m2, &f), -ENOENT);
	}
	for (size_t cut = one.len - 1; cut <= one.len; cut++) {
		struct src in = { one.ptr, cut, 0, 4096 };
		struct meta_load_opts lo2 = { 0 };
		struct meta *m3 = mem_volume(cut == one.len ? "mem://dump-dst3" : "mem://dump-dst4", 0);
		buf_reset(&err);
		ck_assert_msg(meta_load(m3, &lo2, src_read, &in, &err) == 0, "load: %s", err.ptr);
		meta_close(m3);
	}
	struct src in = { one.ptr, one.len, 0, 4096 };
	buf_reset(&err);
	ck_assert_msg(meta_load(m2, &lo, src_read, &in, &err) == 0, "load: %s", err.ptr);
	meta_close(m);
	meta_close(m2);
	buf_release(&one);
	buf_release(&err);
	buf_release(&js);
}
END_TEST

static Suite *dump_suite(void)
{
	Suite *s = suite_create("dump");
	TCase *tc = tcase_create("jsonstream");

	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_errors_name_position);
	tcase_add_test(tc, test_integers);
	tcase_add_test(tc, test_pct_escape);
	tcase_add_test(tc, test_writer_escapes_like_go);
	tcase_add_test(tc, test_copy_reindents);
	tcase_add_test(tc, test_big_writes_flush);
	suite_add_tcase(s, tc);

	tc = tcase_create("mem");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mem_round_trip);
	tcase_add_test(tc, test_mem_bad_load_leaves_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	log_set_level(LOG_FATAL);
	SRunner *sr = srunner_create(dump_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
