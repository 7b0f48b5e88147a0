/*
 * check_s3post: the pure parts of browser uploads and CORS. The form parser
 * is fed every body in every split (one byte at a time, each cut point)
 * and must report the same fields and file bytes, with the boundary's
 * look-alikes in the file kept as data; its caps and malformed bodies give
 * their errors. The policy parser and condition checker go rule by rule
 * (AWS's grammar, s3-tests' cases), and the CORS configuration parser,
 * wildcard and rule matching likewise.
 */
#include <check.h>

#include "gateway/s3cors.h"
#include "gateway/s3post.h"

/* ---------------------------------------------------------------- form */

struct got {
	struct buf log;  /* "name=value;" per field, "F(filename|ctype)" at the file */
	struct buf file; /* the file's bytes */
	int ended;
	int stop_at_file; /* file_begin returns this when non-zero */
};

static int g_field(void *arg, const char *name, const char *value, size_t len)
{
	struct got *g = arg;

	buf_addf(&g->log, "%s=", name);
	buf_add(&g->log, value, len);
	buf_addch(&g->log, ';');
	return 0;
}

static int g_begin(void *arg, const char *filename, const char *ctype)
{
	struct got *g = arg;

	buf_addf(&g->log, "F(%s|%s);", filename, ctype);
	return g->stop_at_file;
}

static int g_data(void *arg, const uint8_t *p, size_t n)
{
	struct got *g = arg;

	buf_add(&g->file, p, n);
	return 0;
}

static int g_end(void *arg)
{
	struct got *g = arg;

	g->ended++;
	return 0;
}

static const struct s3_form_cb cb = { g_field, g_begin, g_data, g_end };

/* Parse body cut into pieces of `step` bytes (0: whole); the final status. */
static int parse(const char *ct, const void *body, size_t n, size_t step, struct got *g)
{
	struct s3_form f;
	int r = s3_form_init(&f, ct);

	memset(g, 0, sizeof(*g));
	g->log = (struct buf)BUF_INIT;
	g->file = (struct buf)BUF_INIT;
	if (r) {
		s3_form_release(&f);
		return r;
	}
	for (size_t off = 0; off < n && !r;) {
		size_t k = step ? MIN(step, n - off) : n;

		r = s3_form_feed(&f, (const uint8_t *)body + off, k, &cb, g);
		off += k;
	}
	if (!r)
		r = s3_form_finish(&f);
	s3_form_release(&f);
	return r;
}

static void got_free(struct got *g)
{
	buf_release(&g->log);
	buf_release(&g->file);
}

#define CT "multipart/form-data; boundary=XyZ"

START_TEST(form_basic_every_split)
{
	/* the file holds CR LF, "--XyZ" without its CR LF, and "\r\n--XyX" */
	static const char body[] =
		"preamble\r\n--XyZ\r\n"
		"Content-Disposition: form-data; name=\"key\"\r\n\r\n"
		"a/${filename}\r\n--XyZ\r\n"
		"content-disposition: form-data; name=Policy\r\n\r\n"
		"eyJ9\r\n--XyZ   \r\n"
		"Content-Disposition: form-data; name=\"file\"; filename=\"x \\\"y\\\".txt\"\r\n"
		"Content-Type: text/plain\r\n\r\n"
		"line1\r\n--XyX\r\r\n--Xy--XyZ\r\n\r\n-\r\n--XyZ\r\n"
		"Content-Disposition: form-data; name=\"after\"\r\n\r\n"
		"ignored\r\n--XyZ--\r\nepilogue";
	static const char want_file[] = "line1\r\n--XyX\r\r\n--Xy--XyZ\r\n\r\n-";
	size_t n = sizeof(body) - 1;

	for (size_t step = 0; step <= n; step++) {
		struct got g;

		ck_assert_int_eq(parse(CT, body, n, step, &g), 0);
		ck_assert_str_eq(g.log.ptr, "key=a/${filename};Policy=eyJ9;F(x \"y\".txt|text/plain);");
		ck_assert_uint_eq(g.file.len, sizeof(want_file) - 1);
		ck_assert(!memcmp(g.file.ptr, want_file, g.file.len));
		ck_assert_int_eq(g.ended, 1);
		got_free(&g);
	}
}
END_TEST

START_TEST(form_binary_file)
{
	struct buf body = BUF_INIT, want = BUF_INIT;
	struct got g;

	buf_adds(&body, "--b\r\nContent-Disposition: form-data; name=file\r\n\r\n");
	for (int i = 0; i < 70000; i++) {
		char c = (char)(i * 7 % 256);

		/* every byte value, and many CRs and near-delimiters */
		if (i % 1000 == 0) {
			buf_adds(&want, "\r\n--");
			buf_adds(&body, "\r\n--");
		}
		buf_addch(&want, c);
		buf_addch(&body, c);
	}
	buf_adds(&body, "\r\n--b--");
	for (size_t step = 1; step < 20000; step = step * 3 + 1) {
		ck_assert_int_eq(parse("multipart/form-data; boundary=b", body.ptr, body.len, step, &g),
				 0);
		ck_assert_uint_eq(g.file.len, want.len);
		ck_assert(!memcmp(g.file.ptr, want.ptr, want.len));
		got_free(&g);
	}
	buf_release(&body);
	buf_release(&want);
}
END_TEST

START_TEST(form_content_types)
{
	struct s3_form f;

	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data; boundary=\"a b\""), 0);
	ck_assert_str_eq(f.delim, "\r\n--a b");
	s3_form_release(&f);
	ck_assert_int_eq(s3_form_init(&f, "Multipart/Form-Data;charset=utf-8;BOUNDARY=q"), 0);
	s3_form_release(&f);
	ck_assert_int_eq(s3_form_init(&f, NULL), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/mixed; boundary=a"), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data"), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data; boundary="), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data; boundary=\"a\r\"b"), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data; boundary=\"ends \""), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data; boundary=\"unterminated"), -EINVAL);
	ck_assert_int_eq(s3_form_init(&f, "multipart/form-data; boundary="
					  "01234567890123456789012345678901234567890123456789"
					  "012345678901234567890"),
			 -EINVAL); /* 71 characters */
	s3_form_release(&f);
}
END_TEST

START_TEST(form_malformed)
{
	static const char *const bad[] = {
		"",                                            /* no delimiter at all */
		"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv", /* truncated */
		"--XyZ\r\n\r\nv\r\n--XyZ--",                   /* a part without a head */
		"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", /* no disposition */
		"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--",
		"--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--", /* no name */
		"--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv\r\n--XyZ--",
		"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--",
		"--XyZ\r\nno colon\r\n\r\nv\r\n--XyZ--",
		"--XyZx\r\n",                                  /* junk after a delimiter */
		"--XyZ-x",
		"--XyZ\rx",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct got g;

		ck_assert_msg(parse(CT, bad[i], strlen(bad[i]), 0, &g) == -EBADMSG, "body %zu", i);
		got_free(&g);
	}
}
END_TEST

START_TEST(form_caps)
{
	struct buf body = BUF_INIT;
	struct got g;
	int r;

	/* fields before the file are capped in all */
	for (int i = 0; i < 20; i++) {
		buf_addf(&body, "--XyZ\r\nContent-Disposition: form-data; name=f%d\r\n\r\n", i);
		for (int j = 0; j < 4000; j++)
			buf_addch(&body, 'v');
		buf_adds(&body, "\r\n");
	}
	buf_adds(&body, "--XyZ--");
	r = parse(CT, body.ptr, body.len, 1000, &g);
	ck_assert_int_eq(r, -E2BIG);
	got_free(&g);
	/* a part head is capped */
	buf_reset(&body);
	buf_adds(&body, "--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ");
	for (int j = 0; j < 9000; j++)
		buf_addch(&body, 'p');
	buf_adds(&body, "\r\n\r\nv\r\n--XyZ--");
	ck_assert_int_eq(parse(CT, body.ptr, body.len, 0, &g), -EBADMSG);
	got_free(&g);
	/* the file is not: 5 MiB passes, and the fields after it cost nothing */
	buf_reset(&body);
	buf_adds(&body, "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n");
	for (int j = 0; j < (5 << 20); j++)
		buf_addch(&body, 'x');
	buf_adds(&body, "\r\n");
	for (int i = 0; i < 100; i++) {
		buf_addf(&body, "--XyZ\r\nContent-Disposition: form-data; name=after%d\r\n\r\n", i);
		for (int j = 0; j < 4000; j++)
			buf_addch(&body, 'v');
		buf_adds(&body, "\r\n");
	}
	buf_adds(&body, "--XyZ--");
	ck_assert_int_eq(parse(CT, body.ptr, body.len, 65536, &g), 0);
	ck_assert_uint_eq(g.file.len, 5u << 20);
	ck_assert_str_eq(g.log.ptr, "F(|);");
	got_free(&g);
	buf_release(&body);
}
END_TEST

START_TEST(form_callback_stops)
{
	static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n"
				   "data\r\n--XyZ--";
	struct s3_form f;
	struct got g = { .log = BUF_INIT, .file = BUF_INIT, .stop_at_file = 77 };

	ck_assert_int_eq(s3_form_init(&f, CT), 0);
	ck_assert_int_eq(s3_form_feed(&f, (const uint8_t *)body, sizeof(body) - 1, &cb, &g), 77);
	ck_assert_uint_eq(g.file.len, 0);
	s3_form_release(&f);
	got_free(&g);
}
END_TEST

/* ---------------------------------------------------------------- policy */

static int pparse(const char *json, struct s3_post_policy *p)
{
	struct buf err = BUF_INIT;
	int r = s3_post_policy_parse(json, strlen(json), p, &err);

	if (r)
		ck_assert_uint_gt(err.len, 0);
	buf_release(&err);
	return r;
}

START_TEST(policy_parse)
{
	struct s3_post_policy p;
	static const char *const bad[] = {
		"",
		"[]",
		"{\"conditions\": [{\"bucket\": \"b\"}]}",                      /* no expiration */
		"{\"EXPIRATION\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"bucket\": \"b\"}]}",
		"{\"expiration\": \"2030-01-01 00:00:00+00:00\", \"conditions\": [{\"a\": \"b\"}]}",
		"{\"expiration\": \"2030-01-01T00:00:00\", \"conditions\": [{\"a\": \"b\"}]}",
		"{\"expiration\": \"2030-01-01T00:00:00.Z\", \"conditions\": [{\"a\": \"b\"}]}",
		"{\"expiration\": 5, \"conditions\": [{\"a\": \"b\"}]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\"}",                   /* no conditions */
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"CONDITIONS\": [{\"a\": \"b\"}]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": []}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{}]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": {\"a\": \"b\"}}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"a\": 1}]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"eq\", \"key\", \"v\"]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"eq\", \"$key\"]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"like\", \"$key\", \"v\"]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", 0]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", -1, 0]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", 9, 3]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", \"x\", 3]]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [\"eq\"]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"$\": \"v\"}]}",
		"{\"expiration\": \"2030-01-01T00:00:00Z\", \"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"a\": \"b\"}]}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(pparse(bad[i], &p) == -EINVAL, "policy %zu", i);
		ck_assert_uint_eq(p.n, 0);
	}
	ck_assert_int_eq(pparse("{\"expiration\": \"2030-01-01T00:00:00.123Z\", \"conditions\": ["
				"{\"bUcKeT\": \"b\"}, [\"StArTs-WiTh\", \"$KeY\", \"up/\"],"
				"[\"eq\", \"$x-amz-meta-a\", \"\"],"
				"[\"content-length-range\", 10, 100], [\"content-length-range\", \"5\", 50]]}",
				&p),
			 0);
	ck_assert_int_eq(p.expiration, 1893456000);
	ck_assert_uint_eq(p.n, 3);
	ck_assert_str_eq(p.c[0].field, "bucket");
	ck_assert_int_eq(p.c[1].op, S3C_STARTS_WITH);
	ck_assert_str_eq(p.c[1].field, "key");
	ck_assert_str_eq(p.c[1].value, "up/");
	ck_assert_int_eq(p.c[2].op, S3C_EQ);
	ck_assert_str_eq(p.c[2].value, "");
	/* two ranges: both hold */
	ck_assert(p.has_range && p.min == 10 && p.max == 50);
	s3_post_policy_free(&p);
}
END_TEST

static int pcheck(const char *conds, const struct s3_post_field *f, size_t n)
{
	struct s3_post_policy p;
	struct buf err = BUF_INIT, json = BUF_INIT;
	int r;

	buf_addf(&json, "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [%s]}", conds);
	ck_assert_int_eq(pparse(json.ptr, &p), 0);
	r = s3_post_policy_check(&p, f, n, &err);
	if (r)
		ck_assert(strstr(err.ptr, "Invalid according to Policy"));
	s3_post_policy_free(&p);
	buf_release(&err);
	buf_release(&json);
	return r;
}

START_TEST(policy_check)
{
	const struct s3_post_field f[] = {
		{ "bucket", "b" },
		{ "key", "up/x.txt" },
		{ "content-type", "text/plain" },
		{ "policy", "..." },
		{ "x-amz-signature", "..." },
		{ "awsaccesskeyid", "..." },
		{ "signature", "..." },
		{ "x-ignore-me", "1" },
		{ "x-amz-checksum-sha256", "..." },
	};
	const struct s3_post_field meta[] = { { "bucket", "b" }, { "x-amz-meta-foo", "barclamp" } };
	const char *base = "{\"bucket\": \"b\"}, [\"starts-with\", \"$key\", \"up/\"], "
			   "[\"starts-with\", \"$Content-Type\", \"text/\"]";
	struct buf c = BUF_INIT;

	ck_assert_int_eq(pcheck(base, f, ARRAY_SIZE(f)), 0);
	/* each condition failing alone */
	ck_assert_int_eq(pcheck("{\"bucket\": \"B\"}, [\"starts-with\", \"$key\", \"up/\"], "
				"[\"starts-with\", \"$Content-Type\", \"text/\"]",
				f, ARRAY_SIZE(f)),
			 -EACCES); /* values are case-sensitive */
	ck_assert_int_eq(pcheck("{\"bucket\": \"b\"}, [\"starts-with\", \"$key\", \"down/\"], "
				"[\"starts-with\", \"$Content-Type\", \"text/\"]",
				f, ARRAY_SIZE(f)),
			 -EACCES);
	ck_assert_int_eq(pcheck("{\"bucket\": \"b\"}, [\"eq\", \"$key\", \"up/x.tx\"], "
				"[\"starts-with\", \"$Content-Type\", \"text/\"]",
				f, ARRAY_SIZE(f)),
			 -EACCES);
	ck_assert_int_eq(pcheck("{\"bucket\": \"b\"}, [\"eq\", \"$key\", \"up/x.txt\"], "
				"[\"starts-with\", \"$Content-Type\", \"\"]",
				f, ARRAY_SIZE(f)),
			 0);
	/* a field the policy does not name: the bucket, or content-type */
	ck_assert_int_eq(pcheck("[\"starts-with\", \"$key\", \"up/\"], "
				"[\"starts-with\", \"$Content-Type\", \"text/\"]",
				f, ARRAY_SIZE(f)),
			 -EACCES);
	ck_assert_int_eq(pcheck("{\"bucket\": \"b\"}, [\"starts-with\", \"$key\", \"up/\"]", f,
				ARRAY_SIZE(f)),
			 -EACCES);
	/* a condition on a field the form lacks: compared with "" */
	buf_addf(&c, "%s, [\"starts-with\", \"$x-amz-meta-foo\", \"bar\"]", base);
	ck_assert_int_eq(pcheck(c.ptr, f, ARRAY_SIZE(f)), -EACCES);
	buf_reset(&c);
	buf_addf(&c, "%s, [\"eq\", \"$x-amz-meta-foo\", \"\"]", base);
	ck_assert_int_eq(pcheck(c.ptr, f, ARRAY_SIZE(f)), 0);
	/* s3-tests: eq "" against a value, starts-with matching */
	ck_assert_int_eq(pcheck("{\"bucket\": \"b\"}, [\"eq\", \"$x-amz-meta-foo\", \"\"]", meta, 2),
			 -EACCES);
	ck_assert_int_eq(pcheck("{\"bucket\": \"b\"}, [\"starts-with\", \"$x-amz-meta-foo\", \"bar\"]",
				meta, 2),
			 0);
	buf_release(&c);
}
END_TEST

/* ---------------------------------------------------------------- CORS */

static enum s3_err cparse(const char *xml, struct s3_cors_conf *c)
{
	struct buf msg = BUF_INIT;
	enum s3_err e = s3_cors_parse(xml, strlen(xml), c, &msg);

	if (e == S3E_InvalidRequest)
		ck_assert_uint_gt(msg.len, 0);
	buf_release(&msg);
	return e;
}

#define RULE(x) "<CORSConfiguration><CORSRule>" x "</CORSRule></CORSConfiguration>"

START_TEST(cors_parse)
{
	struct s3_cors_conf c;
	struct buf xml = BUF_INIT, again = BUF_INIT;
	static const char *const malformed[] = {
		"",
		"<CORSConfiguration/>",
		"<Other><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
		"</CORSRule></Other>",
		RULE("<AllowedMethod>GET</AllowedMethod>"),
		RULE("<AllowedOrigin>*</AllowedOrigin>"),
		RULE("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Bogus/>"),
		RULE("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
		     "<MaxAgeSeconds>-1</MaxAgeSeconds>"),
		RULE("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
		     "<MaxAgeSeconds>1x</MaxAgeSeconds>"),
		RULE("<AllowedOrigin><b>*</b></AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
		RULE("<AllowedOrigin>a,b</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
		"<!DOCTYPE x [<!ENTITY e \"*\">]>" RULE("<AllowedOrigin>&e;</AllowedOrigin>"
							"<AllowedMethod>GET</AllowedMethod>"),
		"<CORSConfiguration><CORSRule>",
	};

	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++)
		ck_assert_msg(cparse(malformed[i], &c) == S3E_MalformedXML, "xml %zu", i);
	ck_assert_int_eq(cparse(RULE("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH"
				     "</AllowedMethod>"),
				&c),
			 S3E_InvalidRequest);
	ck_assert_int_eq(cparse(RULE("<AllowedOrigin>*.a.*</AllowedOrigin><AllowedMethod>GET"
				     "</AllowedMethod>"),
				&c),
			 S3E_InvalidRequest);
	/* 100 rules are fine, 101 are not */
	buf_adds(&xml, "<CORSConfiguration>");
	for (int i = 0; i < 100; i++)
		buf_adds(&xml, "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
			       "</AllowedMethod></CORSRule>");
	buf_adds(&again, xml.ptr);
	buf_adds(&xml, "</CORSConfiguration>");
	ck_assert_int_eq(cparse(xml.ptr, &c), S3E_OK);
	ck_assert_uint_eq(c.n, 100);
	s3_cors_free(&c);
	buf_adds(&again, "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
			 "</AllowedMethod></CORSRule></CORSConfiguration>");
	ck_assert_int_eq(cparse(again.ptr, &c), S3E_MalformedXML);
	/* the canonical form parses back to itself */
	ck_assert_int_eq(
		cparse("<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		       "<CORSRule><ID>r&amp;1</ID><AllowedOrigin>http://a.example</AllowedOrigin>"
		       "<AllowedOrigin>https://*.b.example</AllowedOrigin>"
		       "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
		       "<AllowedHeader>x-amz-*</AllowedHeader><MaxAgeSeconds>3000</MaxAgeSeconds>"
		       "<ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>",
		       &c),
		S3E_OK);
	buf_reset(&xml);
	s3_cors_xml(&c, &xml);
	s3_cors_free(&c);
	ck_assert_int_eq(cparse(xml.ptr, &c), S3E_OK);
	buf_reset(&again);
	s3_cors_xml(&c, &again);
	ck_assert_str_eq(xml.ptr, again.ptr);
	ck_assert_str_eq(c.r[0].id, "r&1");
	ck_assert_int_eq(c.r[0].max_age, 3000);
	ck_assert_uint_eq(c.r[0].nmethods, 2);
	s3_cors_free(&c);
	buf_release(&xml);
	buf_release(&again);
}
END_TEST

START_TEST(cors_match)
{
	struct s3_cors_conf c;

	ck_assert(s3_cors_glob("*suffix", "foo.suffix", 0));
	ck_assert(!s3_cors_glob("*suffix", "foo.suffix.get", 0));
	ck_assert(s3_cors_glob("start*end", "startend", 0));
	ck_assert(s3_cors_glob("start*end", "start12end", 0));
	ck_assert(!s3_cors_glob("start*end", "0start12end", 0));
	ck_assert(s3_cors_glob("prefix*", "prefix", 0));
	ck_assert(!s3_cors_glob("prefix*", "bla.prefix", 0));
	ck_assert(s3_cors_glob("*", "", 0));
	ck_assert(!s3_cors_glob("abc", "ABC", 0));
	ck_assert(s3_cors_glob("x-amz-*", "X-Amz-Date", 1));
	ck_assert(s3_cors_glob("a*a", "aaaa", 0));
	ck_assert(!s3_cors_glob("a*ab", "aaaa", 0));

	ck_assert_int_eq(
		cparse("<CORSConfiguration>"
		       "<CORSRule><AllowedOrigin>*suffix</AllowedOrigin><AllowedMethod>GET"
		       "</AllowedMethod></CORSRule>"
		       "<CORSRule><AllowedOrigin>*.put</AllowedOrigin><AllowedMethod>PUT"
		       "</AllowedMethod><AllowedHeader>content-*</AllowedHeader>"
		       "<AllowedHeader>x-amz-date</AllowedHeader></CORSRule>"
		       "</CORSConfiguration>",
		       &c),
		S3E_OK);
	ck_assert_ptr_eq(s3_cors_find(&c, "foo.suffix", "GET", NULL), &c.r[0]);
	ck_assert_ptr_null(s3_cors_find(&c, "foo.suffix", "PUT", NULL));
	ck_assert_ptr_null(s3_cors_find(&c, "foo.suffix", "get", NULL));
	ck_assert_ptr_null(s3_cors_find(&c, "foo.bar", "GET", NULL));
	ck_assert_ptr_eq(s3_cors_find(&c, "a.put", "PUT", "Content-Type, X-Amz-Date"), &c.r[1]);
	ck_assert_ptr_eq(s3_cors_find(&c, "a.put", "PUT", " , content-md5 ,"), &c.r[1]);
	ck_assert_ptr_null(s3_cors_find(&c, "a.put", "PUT", "content-type, authorization"));
	/* a rule with no AllowedHeader allows no requested header */
	ck_assert_ptr_null(s3_cors_find(&c, "foo.suffix", "GET", "x-amz-meta-header2"));
	s3_cors_free(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3post");
	TCase *tc = tcase_create("parsers");
	SRunner *sr;
	int failures;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, form_basic_every_split);
	tcase_add_test(tc, form_binary_file);
	tcase_add_test(tc, form_content_types);
	tcase_add_test(tc, form_malformed);
	tcase_add_test(tc, form_caps);
	tcase_add_test(tc, form_callback_stops);
	tcase_add_test(tc, policy_parse);
	tcase_add_test(tc, policy_check);
	tcase_add_test(tc, cors_parse);
	tcase_add_test(tc, cors_match);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
