/*
 * WebDAV protocol parsers (gateway/dav_proto.c) against valid and hostile
 * input: request paths, Depth/Overwrite/Timeout/Destination, the If header
 * and its evaluation, PROPFIND/PROPPATCH/LOCK bodies, lock records and the
 * response text helpers; then the methods themselves (dav_handle) over a
 * real fs on in-memory storage, through an in-memory stand-in for the HTTP
 * layer: status codes, atomic PROPPATCH, locks seen by a second server,
 * expiry, hostile paths and auth.
 */
#include <check.h>
#include <strings.h>
#include <unistd.h>

#include "fscore/fs.h"
#include "gateway/dav.h"
#include "gateway/dav_proto.h"
#include "storage/obj.h"

static int norm(const char *raw, struct buf *b)
{
	return dav_norm_path(raw, 1, b, NULL);
}

START_TEST(test_path_good)
{
	struct buf b = BUF_INIT;
	int tr = -1;

	ck_assert_int_eq(norm("/", &b), 0);
	ck_assert_str_eq(b.ptr, "/");
	ck_assert_int_eq(norm("/a/b", &b), 0);
	ck_assert_str_eq(b.ptr, "/a/b");
	ck_assert_int_eq(dav_norm_path("/a//b/./c/", 1, &b, &tr), 0);
	ck_assert_str_eq(b.ptr, "/a/b/c");
	ck_assert_int_eq(tr, 1);
	ck_assert_int_eq(norm("/caf%C3%A9/x%20y", &b), 0);
	ck_assert_str_eq(b.ptr, "/caf\xc3\xa9/x y");
	ck_assert_int_eq(norm("//", &b), 0);
	ck_assert_str_eq(b.ptr, "/");
	/* Not encoded: a literal '%' is kept. */
	ck_assert_int_eq(dav_norm_path("/50%", 0, &b, NULL), 0);
	ck_assert_str_eq(b.ptr, "/50%");
	buf_release(&b);
}
END_TEST

START_TEST(test_path_hostile)
{
	struct buf b = BUF_INIT;
	char *longseg, *longpath;

	ck_assert_int_eq(norm("/a/../b", &b), -EINVAL);
	ck_assert_int_eq(norm("/..", &b), -EINVAL);
	ck_assert_int_eq(norm("/a/%2e%2e/b", &b), -EINVAL);
	ck_assert_int_eq(norm("/a/%2E%2e", &b), -EINVAL);
	ck_assert_int_eq(norm("/a%00b", &b), -EINVAL);
	ck_assert_int_eq(norm("/a%2", &b), -EINVAL);
	ck_assert_int_eq(norm("/a%zz", &b), -EINVAL);
	ck_assert_int_eq(norm("a/b", &b), -EINVAL);
	ck_assert_int_eq(norm("", &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	longseg = xmalloc(300);
	longseg[0] = '/';
	memset(longseg + 1, 'x', 298);
	longseg[299] = 0;
	ck_assert_int_eq(norm(longseg, &b), -ENAMETOOLONG);
	longseg[256] = 0; /* exactly 255 bytes */
	ck_assert_int_eq(norm(longseg, &b), 0);
	longpath = xmalloc(20000);
	for (int i = 0; i < 19998; i += 2) {
		longpath[i] = '/';
		longpath[i + 1] = 'a';
	}
	longpath[19998] = 0;
	ck_assert_int_eq(norm(longpath, &b), -ENAMETOOLONG);
	free(longseg);
	free(longpath);
	buf_release(&b);
}
END_TEST

START_TEST(test_headers)
{
	int d, o;
	int64_t t;

	ck_assert_int_eq(dav_parse_depth(NULL, 7, &d), 0);
	ck_assert_int_eq(d, 7);
	ck_assert_int_eq(dav_parse_depth("0", 1, &d), 0);
	ck_assert_int_eq(d, 0);
	ck_assert_int_eq(dav_parse_depth(" 1 ", 0, &d), 0);
	ck_assert_int_eq(d, 1);
	ck_assert_int_eq(dav_parse_depth("Infinity", 0, &d), 0);
	ck_assert_int_eq(d, DAV_DEPTH_INF);
	ck_assert_int_eq(dav_parse_depth("2", 0, &d), -EINVAL);
	ck_assert_int_eq(dav_parse_depth("", 0, &d), -EINVAL);
	ck_assert_int_eq(dav_parse_depth("01", 0, &d), -EINVAL);
	ck_assert_int_eq(dav_parse_depth("infinityx", 0, &d), -EINVAL);

	ck_assert_int_eq(dav_parse_overwrite(NULL, &o), 0);
	ck_assert_int_eq(o, 1);
	ck_assert_int_eq(dav_parse_overwrite("F", &o), 0);
	ck_assert_int_eq(o, 0);
	ck_assert_int_eq(dav_parse_overwrite("T", &o), 0);
	ck_assert_int_eq(o, 1);
	ck_assert_int_eq(dav_parse_overwrite("yes", &o), -EINVAL);

	ck_assert_int_eq(dav_parse_timeout(NULL, &t), 0);
	ck_assert_int_eq(t, -1);
	ck_assert_int_eq(dav_parse_timeout("Second-3600", &t), 0);
	ck_assert_int_eq(t, 3600);
	ck_assert_int_eq(dav_parse_timeout("Infinite, Second-10", &t), 0);
	ck_assert_int_eq(t, -1);
	ck_assert_int_eq(dav_parse_timeout("Bogus, Second-10", &t), 0);
	ck_assert_int_eq(t, 10);
	ck_assert_int_eq(dav_parse_timeout("Second-99999999999999", &t), -EINVAL);
	ck_assert_int_eq(dav_parse_timeout("Second--1", &t), -EINVAL);
}
END_TEST

START_TEST(test_dest)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(dav_parse_dest("http://h:8080/a/b%20c", "h:8080", &b), 0);
	ck_assert_str_eq(b.ptr, "/a/b c");
	ck_assert_int_eq(dav_parse_dest("/x/y/", "h", &b), 0);
	ck_assert_str_eq(b.ptr, "/x/y");
	ck_assert_int_eq(dav_parse_dest("HTTP://H:80/z", "h", &b), 0);
	ck_assert_str_eq(b.ptr, "/z");
	ck_assert_int_eq(dav_parse_dest("http://other:8080/a", "h:8080", &b), -EXDEV);
	ck_assert_int_eq(dav_parse_dest("http://h:9999/a", "h:8080", &b), -EXDEV);
	ck_assert_int_eq(dav_parse_dest("http://h:8080/a/../../etc", "h:8080", &b), -EINVAL);
	ck_assert_int_eq(dav_parse_dest("http://h:8080/a%00", "h:8080", &b), -EINVAL);
	ck_assert_int_eq(dav_parse_dest("http://user@h:8080/a", "h:8080", &b), -EINVAL);
	ck_assert_int_eq(dav_parse_dest("ftp://h/a", "h", &b), -EINVAL);
	ck_assert_int_eq(dav_parse_dest("", "h", &b), -EINVAL);
	ck_assert_int_eq(dav_parse_dest(NULL, "h", &b), -EINVAL);
	buf_release(&b);
}
END_TEST

START_TEST(test_if_parse)
{
	struct dav_if *h;

	ck_assert_int_eq(dav_if_parse("(<opaquelocktoken:abc>)", "h", &h), 0);
	ck_assert_uint_eq(h->nlists, 1);
	ck_assert_ptr_null(h->lists[0].tag);
	ck_assert_uint_eq(h->lists[0].nconds, 1);
	ck_assert_str_eq(h->lists[0].conds[0].value, "opaquelocktoken:abc");
	ck_assert_int_eq(dav_if_has_token(h, "opaquelocktoken:abc"), 1);
	ck_assert_int_eq(dav_if_has_token(h, "opaquelocktoken:abd"), 0);
	dav_if_free(h);

	ck_assert_int_eq(dav_if_parse("<http://h/a%20b> (<urn:x> [\"e]1\"]) (Not <DAV:no-lock> "
				      "[W/\"w\"]) </c> (<urn:y>)",
				      "h", &h),
			 0);
	ck_assert_uint_eq(h->nlists, 3);
	ck_assert_str_eq(h->lists[0].tag, "/a b");
	ck_assert_str_eq(h->lists[1].tag, "/a b");
	ck_assert_str_eq(h->lists[2].tag, "/c");
	ck_assert_int_eq(h->lists[0].conds[1].is_etag, 1);
	ck_assert_str_eq(h->lists[0].conds[1].value, "\"e]1\"");
	ck_assert_int_eq(h->lists[1].conds[0].neg, 1);
	ck_assert_str_eq(h->lists[1].conds[1].value, "W/\"w\"");
	dav_if_free(h);

	/* Malformed: each must fail cleanly. */
	static const char *const bad[] = {
		"", "()", "(<a>", "(<>)", "<http://h/a>", "(<a>) <http://h/b> (<c>)",
		"(Nut <a>)", "([noquote])", "([\"x\"", "garbage", "(<a>) x", "<../x> (<a>)",
		"(<a>)(", "(Not)",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		h = (struct dav_if *)1;
		ck_assert_msg(dav_if_parse(bad[i], "h", &h) == -EINVAL, "accepted: %s", bad[i]);
		ck_assert_ptr_null(h);
	}
}
END_TEST

struct fake_state {
	const char *token_path; /* the one resource the valid token covers */
	const char *etag;
};

static int fake_cond(void *arg, const char *path, const struct dav_if_cond *c)
{
	struct fake_state *s = arg;

	if (c->is_etag)
		return !strcmp(c->value, s->etag);
	return !strcmp(c->value, "urn:good") && !strcmp(path, s->token_path);
}

START_TEST(test_if_eval)
{
	struct fake_state s = { "/f", "\"e1\"" };
	struct dav_if *h;

	ck_assert_int_eq(dav_if_eval(NULL, "/f", fake_cond, &s), 1);
#define EVAL(hdr, path, want)                                                      \
	do {                                                                       \
		ck_assert_int_eq(dav_if_parse(hdr, "h", &h), 0);                   \
		ck_assert_msg(dav_if_eval(h, path, fake_cond, &s) == (want), "%s", hdr); \
		dav_if_free(h);                                                    \
	} while (0)
	EVAL("(<urn:good>)", "/f", 1);
	EVAL("(<urn:good>)", "/g", 0);
	EVAL("(<urn:bad>)", "/f", 0);
	EVAL("(Not <urn:bad>)", "/f", 1);
	EVAL("(<urn:good> [\"e1\"])", "/f", 1);
	EVAL("(<urn:good> [\"e2\"])", "/f", 0);
	EVAL("(<urn:bad>) (<urn:good>)", "/f", 1);
	EVAL("(<urn:good> [\"bad\"]) (Not <DAV:no-lock> [\"bad\"])", "/f", 0);
	EVAL("(<urn:good> [\"e1\"]) (Not <DAV:no-lock> [\"e1\"])", "/f", 1);
	EVAL("(<urn:bad>) (Not <DAV:no-lock>)", "/f", 1);
	EVAL("</f> (<urn:good>)", "/g", 1);
	EVAL("</g> (<urn:good>)", "/f", 0);
#undef EVAL
}
END_TEST

#define PF_HEAD "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\">"

START_TEST(test_propfind)
{
	struct dav_propfind pf;
	const char *b;

	ck_assert_int_eq(dav_parse_propfind("", 0, &pf), 0);
	ck_assert_int_eq(pf.mode, DAV_PF_ALLPROP);
	dav_propfind_release(&pf);

	b = PF_HEAD "<D:prop><D:getetag/><x:foo xmlns:x=\"urn:x\"/><bar xmlns=\"\"/></D:prop>"
		    "</D:propfind>";
	ck_assert_int_eq(dav_parse_propfind(b, strlen(b), &pf), 0);
	ck_assert_int_eq(pf.mode, DAV_PF_PROP);
	ck_assert_uint_eq(pf.nprops, 3);
	ck_assert_str_eq(pf.props[0].ns, "DAV:");
	ck_assert_str_eq(pf.props[0].name, "getetag");
	ck_assert_str_eq(pf.props[1].ns, "urn:x");
	ck_assert_str_eq(pf.props[2].ns, "");
	ck_assert_str_eq(pf.props[2].name, "bar");
	dav_propfind_release(&pf);

	b = PF_HEAD "<D:propname/></D:propfind>";
	ck_assert_int_eq(dav_parse_propfind(b, strlen(b), &pf), 0);
	ck_assert_int_eq(pf.mode, DAV_PF_PROPNAME);
	dav_propfind_release(&pf);

	b = PF_HEAD "<D:allprop/><D:include><y:z xmlns:y=\"urn:y\"/></D:include></D:propfind>";
	ck_assert_int_eq(dav_parse_propfind(b, strlen(b), &pf), 0);
	ck_assert_int_eq(pf.mode, DAV_PF_ALLPROP);
	ck_assert_uint_eq(pf.nprops, 1);
	dav_propfind_release(&pf);

	static const char *const bad[] = {
		"<foo>",                                            /* not well-formed */
		"<D:propfind xmlns:D=\"DAV:\"></D:propfind>",       /* no allprop/prop */
		"<propfind><allprop/></propfind>",                  /* no DAV: namespace */
		"<D:propfind xmlns:D=\"DAV:\"><D:prop><bar:foo xmlns:bar=\"\"/></D:prop>"
		"</D:propfind>",                                    /* empty prefix binding */
		"<!DOCTYPE d [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
		"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>", /* DTD */
		"<D:propfind xmlns:D=\"DAV:\"><D:allprop/><D:propname/></D:propfind>",
		"<x:propfind xmlns:x=\"urn:x\"><x:allprop/></x:propfind>",
		"\x01\x02",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(dav_parse_propfind(bad[i], strlen(bad[i]), &pf) == -EINVAL, "%s",
			      bad[i]);
}
END_TEST

START_TEST(test_xml_huge)
{
	struct dav_propfind pf;
	size_t n = DAV_MAX_XML + 10, depth = 100000;
	char *b = xmalloc(n);
	struct buf deep = BUF_INIT;

	memset(b, ' ', n);
	ck_assert_int_eq(dav_parse_propfind(b, n, &pf), -E2BIG);
	free(b);
	/* Deep nesting is refused by the parser's own depth limit, not by a crash. */
	buf_adds(&deep, PF_HEAD "<D:prop>");
	for (size_t i = 0; i < depth / 10; i++)
		buf_adds(&deep, "<a>");
	ck_assert_int_eq(dav_parse_propfind(deep.ptr, deep.len, &pf), -EINVAL);
	buf_release(&deep);
}
END_TEST

START_TEST(test_proppatch)
{
	struct dav_proppatch pp;
	const char *b =
		"<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"http://z/\">"
		"<D:set><D:prop><Z:a>va<Z:b x=\"1\">in</Z:b></Z:a><n xmlns=\"\">v</n>"
		"</D:prop></D:set>"
		"<D:remove><D:prop><Z:c/></D:prop></D:remove>"
		"<D:set><D:prop><Z:c>\xf0\x90\x80\x80</Z:c></D:prop></D:set>"
		"</D:propertyupdate>";

	ck_assert_int_eq(dav_parse_proppatch(b, strlen(b), &pp), 0);
	ck_assert_uint_eq(pp.nops, 4);
	ck_assert_int_eq(pp.ops[0].remove, 0);
	ck_assert_str_eq(pp.ops[0].p.ns, "http://z/");
	ck_assert_str_eq(pp.ops[0].p.name, "a");
	/* Self-contained: the namespace declared on an ancestor is carried along. */
	ck_assert_ptr_nonnull(strstr(pp.ops[0].xml, "xmlns:Z=\"http://z/\""));
	ck_assert_ptr_nonnull(strstr(pp.ops[0].xml, "<Z:b x=\"1\">in</Z:b>"));
	ck_assert_str_eq(pp.ops[1].p.ns, "");
	ck_assert_int_eq(pp.ops[2].remove, 1);
	ck_assert_ptr_null(pp.ops[2].xml);
	ck_assert_ptr_nonnull(strstr(pp.ops[3].xml, "\xf0\x90\x80\x80"));
	dav_proppatch_release(&pp);

	static const char *const bad[] = {
		"<D:propertyupdate xmlns:D=\"DAV:\"></D:propertyupdate>",
		"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>",
		"<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><a>",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(dav_parse_proppatch(bad[i], strlen(bad[i]), &pp) == -EINVAL, "%s",
			      bad[i]);
}
END_TEST

START_TEST(test_lockinfo)
{
	struct dav_lockinfo li;
	const char *b = "<?xml version=\"1.0\"?><D:lockinfo xmlns:D=\"DAV:\">"
			"<D:lockscope><D:exclusive/></D:lockscope>"
			"<D:locktype><D:write/></D:locktype>"
			"<D:owner><D:href>http://me/</D:href></D:owner></D:lockinfo>";

	ck_assert_int_eq(dav_parse_lockinfo(b, strlen(b), &li), 0);
	ck_assert_int_eq(li.exclusive, 1);
	ck_assert_ptr_nonnull(strstr(li.owner, "http://me/"));
	ck_assert_ptr_nonnull(strstr(li.owner, "xmlns:D=\"DAV:\""));
	dav_lockinfo_release(&li);

	b = "<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:shared/></D:lockscope>"
	    "<D:locktype><D:write/></D:locktype></D:lockinfo>";
	ck_assert_int_eq(dav_parse_lockinfo(b, strlen(b), &li), 0);
	ck_assert_int_eq(li.exclusive, 0);
	ck_assert_ptr_null(li.owner);
	dav_lockinfo_release(&li);

	static const char *const bad[] = {
		"<D:lockinfo xmlns:D=\"DAV:\"><D:locktype><D:write/></D:locktype></D:lockinfo>",
		"<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:weird/></D:lockscope>"
		"<D:locktype><D:write/></D:locktype></D:lockinfo>",
		"<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:shared/></D:lockscope>"
		"<D:locktype><D:read/></D:locktype></D:lockinfo>",
		"<lockinfo/>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(dav_parse_lockinfo(bad[i], strlen(bad[i]), &li) == -EINVAL, "%s",
			      bad[i]);
}
END_TEST

START_TEST(test_lock_record)
{
	struct dav_lock l = { "opaquelocktoken:t", (char *)"/a\nb/c d", 1, 1, 3600, 12345,
			      (char *)"<D:owner xmlns:D=\"DAV:\">me\nyou</D:owner>" };
	struct dav_lock back;
	struct buf b = BUF_INIT;

	dav_lock_encode(&l, &b);
	ck_assert_int_eq(dav_lock_decode("opaquelocktoken:t", b.ptr, b.len, &back), 0);
	ck_assert_str_eq(back.token, l.token);
	ck_assert_str_eq(back.root, l.root);
	ck_assert_str_eq(back.owner, l.owner);
	ck_assert_int_eq(back.exclusive, 1);
	ck_assert_int_eq(back.depth_inf, 1);
	ck_assert_int_eq(back.timeout, 3600);
	ck_assert_int_eq(back.expires, 12345);
	dav_lock_release(&back);
	ck_assert_int_eq(dav_lock_decode("t", "v2\n1\n1\n1\n1\n/\n", 15, &back), -EINVAL);
	ck_assert_int_eq(dav_lock_decode("t", "v1\n1\n1\n", 7, &back), -EINVAL);
	ck_assert_int_eq(dav_lock_decode("t", "v1\nx\n1\n1\n1\n/\n", 14, &back), -EINVAL);
	buf_release(&b);

	ck_assert_int_eq(dav_lock_covers("/a", 0, "/a"), 1);
	ck_assert_int_eq(dav_lock_covers("/a", 0, "/a/b"), 0);
	ck_assert_int_eq(dav_lock_covers("/a", 1, "/a/b"), 1);
	ck_assert_int_eq(dav_lock_covers("/a", 1, "/ab"), 0);
	ck_assert_int_eq(dav_lock_covers("/", 1, "/x"), 1);
	ck_assert_int_eq(dav_path_within("/a/b", "/a"), 0);
}
END_TEST

START_TEST(test_text)
{
	struct buf b = BUF_INIT;
	char d[64];
	int64_t t;

	dav_xml_escape(&b, "a<b>&\"c");
	ck_assert_str_eq(b.ptr, "a&lt;b&gt;&amp;&quot;c");
	/* Bytes that are not text (a GBK name, controls) become U+FFFD, as Go's encoder does. */
	buf_reset(&b);
	dav_xml_escape(&b, "\xd6\xd0\xce\xc4.txt caf\xc3\xa9\x01");
	ck_assert_str_eq(b.ptr, UTF8_REPLACEMENT UTF8_REPLACEMENT UTF8_REPLACEMENT
			 UTF8_REPLACEMENT ".txt caf\xc3\xa9" UTF8_REPLACEMENT);
	buf_reset(&b);
	dav_href(&b, "/\xd6\xd0\xce\xc4.txt", 0);
	ck_assert_str_eq(b.ptr, "/%D6%D0%CE%C4.txt");
	buf_reset(&b);
	dav_href(&b, "/a b/caf\xc3\xa9#?%", 1);
	ck_assert_str_eq(b.ptr, "/a%20b/caf%C3%A9%23%3F%25/");
	ck_assert_str_eq(dav_mime_type("x.TXT"), "text/plain; charset=utf-8");
	ck_assert_str_eq(dav_mime_type("noext"), "application/octet-stream");
	ck_assert_str_eq(dav_mime_type("a.png"), "image/png");
	dav_http_date(784111777, d, sizeof(d));
	ck_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	ck_assert_int_eq(dav_parse_http_date(d, &t), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(dav_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(dav_parse_http_date("Sun Nov  6 08:49:37 1994", &t), 0);
	ck_assert_int_eq(t, 784111777);
	ck_assert_int_eq(dav_parse_http_date("yesterday", &t), -EINVAL);
	buf_release(&b);
}
END_TEST

/* ------------------------------------------------------------ the server, fake HTTP */

/*
 * gateway/http.h implemented in memory: a request is a method, a path,
 * headers and a body; the response is collected (streams are pulled whole).
 * This drives dav_handle over a real fs on mem storage without sockets.
 */
struct gw_req {
	const char *method, *path;
	const char *hdr[16][2];
	int nhdr;
	const char *body;
	size_t body_len, body_off;
	int status;
	struct buf resp;
	struct buf rhdr; /* "Name: value\n" lines */
	char *arena[64];
	int narena;
};

const char *gw_req_method(struct gw_req *r) { return r->method; }
const char *gw_req_raw_path(struct gw_req *r) { return r->path; }
const char *gw_req_raw_query(struct gw_req *r) { UNUSED(r); return ""; }
const char *gw_req_remote(struct gw_req *r) { UNUSED(r); return "127.0.0.1"; }
int gw_req_is_tls(struct gw_req *r) { UNUSED(r); return 0; }

const char *gw_req_header(struct gw_req *r, const char *name)
{
	for (int i = 0; i < r->nhdr; i++)
		if (!strcasecmp(r->hdr[i][0], name))
			return r->hdr[i][1];
	return NULL;
}

int gw_req_headers(struct gw_req *r, gw_header_fn cb, void *arg)
{
	for (int i = 0; i < r->nhdr; i++)
		if (cb(arg, r->hdr[i][0], r->hdr[i][1]))
			return 1;
	return 0;
}

int64_t gw_req_content_length(struct gw_req *r)
{
	return r->body ? (int64_t)r->body_len : -1;
}

ssize_t gw_req_read(struct gw_req *r, void *buf, size_t len)
{
	size_t n = r->body ? MIN(len, r->body_len - r->body_off) : 0;

	if (n)
		memcpy(buf, r->body + r->body_off, n);
	r->body_off += n;
	return (ssize_t)n;
}

void *gw_req_alloc(struct gw_req *r, size_t n)
{
	ck_assert_int_lt(r->narena, 64);
	return r->arena[r->narena++] = xcalloc(1, n);
}

char *gw_req_strdup(struct gw_req *r, const char *s)
{
	char *p = gw_req_alloc(r, strlen(s) + 1);

	memcpy(p, s, strlen(s) + 1);
	return p;
}

void gw_resp_status(struct gw_req *r, int code) { r->status = code; }

void gw_resp_header(struct gw_req *r, const char *name, const char *value)
{
	buf_addf(&r->rhdr, "%s: %s\n", name, value);
}

void gw_resp_body(struct gw_req *r, const void *data, size_t len)
{
	buf_reset(&r->resp);
	buf_add(&r->resp, data, len);
}

void gw_resp_stream(struct gw_req *r, int64_t len, gw_stream_fn fn, gw_done_fn done, void *arg)
{
	char tmp[65536];
	uint64_t off = 0;

	buf_reset(&r->resp);
	while (len < 0 || off < (uint64_t)len) {
		size_t max = len < 0 ? sizeof(tmp) : MIN(sizeof(tmp), (uint64_t)len - off);
		ssize_t n = fn(arg, off, tmp, max);

		if (n <= 0)
			break;
		buf_add(&r->resp, tmp, (size_t)n);
		off += (uint64_t)n;
	}
	if (done)
		done(arg);
}

/* A body of pieces: copied out, then released, as MHD does once sent. */
void gw_resp_pieces(struct gw_req *r, const struct gw_piece *v, size_t n, gw_done_fn release,
		    void *arg)
{
	buf_reset(&r->resp);
	for (size_t i = 0; i < n; i++)
		buf_add(&r->resp, v[i].p, v[i].len);
	if (release)
		release(arg);
}

/* Views are taken one at a time and each given back before the next. */
void gw_resp_stream_view(struct gw_req *r, int64_t len, gw_view_fn fn, gw_unview_fn unview,
			 gw_done_fn done, void *arg)
{
	uint64_t off = 0;

	buf_reset(&r->resp);
	while (len < 0 || off < (uint64_t)len) {
		size_t max = len < 0 ? 65536 : MIN(65536, (uint64_t)len - off);
		const char *p;
		void *cookie;
		ssize_t n = fn(arg, off, max, &p, &cookie);

		if (n <= 0)
			break;
		ck_assert_uint_le((size_t)n, max);
		buf_add(&r->resp, p, (size_t)n);
		unview(arg, cookie);
		off += (uint64_t)n;
	}
	if (done)
		done(arg);
}

static struct fs *sfs;
static struct obj_store *sstore;
static struct dav_server *srv;
static int svol;
static int srv_gzip; /* --gzip for the next srv_open */

static void srv_open(const char *user, const char *pass)
{
	struct meta_conf mc;
	struct meta *m;
	struct buf err = BUF_INIT;
	struct conf_format f;
	struct fs_conf c;
	struct dav_conf dc = { user, pass, srv_gzip, 0, 0 };
	char *url = xasprintf("mem://dav-%d-%d", (int)getpid(), ++svol);

	meta_conf_defaults(&mc);
	mc.create = 1;
	ck_assert_int_eq(meta_open(url, &mc, &m, &err), 0);
	conf_format_defaults(&f);
	free(f.name);
	f.name = xstrdup("davvol");
	f.trash_days = 0;
	ck_assert_int_eq(meta_init(m, &f, 0, &err), 0);
	conf_format_release(&f);
	sstore = obj_prefix_new(obj_mem_new(), "davvol/");
	fs_conf_defaults(&c);
	c.obj = sstore;
	c.cache_dir = "";
	c.io_retries = 0;
	c.buffer_size = 8 << 20;
	ck_assert_int_eq(fs_open(url, &c, &sfs, &err), 0);
	meta_close(m);
	free(url);
	buf_release(&err);
	ck_assert_int_eq(dav_new(sfs, &dc, &srv), 0);
}

static void srv_close(void)
{
	dav_free(srv);
	fs_close(sfs);
	obj_free(sstore);
}

static void req_release(struct gw_req *r)
{
	buf_release(&r->resp);
	buf_release(&r->rhdr);
	for (int i = 0; i < r->narena; i++)
		free(r->arena[i]);
}

/* do_req(&r, METHOD, PATH, BODY-or-NULL, "Name", "value", ..., NULL): returns the status. */
static int do_req(struct gw_req *r, const char *method, const char *path, const char *body, ...)
{
	va_list ap;
	const char *n;

	memset(r, 0, sizeof(*r));
	buf_init(&r->resp, 0);
	buf_init(&r->rhdr, 0);
	r->method = method;
	r->path = path;
	r->body = body;
	r->body_len = body ? strlen(body) : 0;
	r->hdr[r->nhdr][0] = "Host";
	r->hdr[r->nhdr++][1] = "h:80";
	va_start(ap, body);
	while ((n = va_arg(ap, const char *)) && r->nhdr < 16) {
		r->hdr[r->nhdr][0] = n;
		r->hdr[r->nhdr++][1] = va_arg(ap, const char *);
	}
	va_end(ap);
	r->status = 500;
	ck_assert_int_eq(dav_handle(srv, r), 0);
	return r->status;
}

static int status_of(const char *method, const char *path, const char *body, const char *h1,
		     const char *v1)
{
	struct gw_req r;
	int s = do_req(&r, method, path, body, h1, v1, NULL);

	req_release(&r);
	return s;
}

static char *get_body(const char *path)
{
	struct gw_req r;
	char *s = NULL;

	if (do_req(&r, "GET", path, NULL, NULL) == 200)
		s = xstrndup(r.resp.ptr, r.resp.len);
	req_release(&r);
	return s;
}

#define LOCKX "<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope>" \
	      "<D:locktype><D:write/></D:locktype></D:lockinfo>"
#define LOCKS "<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:shared/></D:lockscope>" \
	      "<D:locktype><D:write/></D:locktype></D:lockinfo>"

START_TEST(test_srv_basic)
{
	struct gw_req r;
	char *b;

	srv_open(NULL, NULL);
	ck_assert_int_eq(status_of("PUT", "/a.txt", "hello world", NULL, NULL), 201);
	ck_assert_int_eq(status_of("PUT", "/a.txt", "hello again", NULL, NULL), 204);
	b = get_body("/a.txt");
	ck_assert_str_eq(b, "hello again");
	free(b);
	ck_assert_int_eq(do_req(&r, "GET", "/a.txt", NULL, "Range", "bytes=6-8", NULL), 206);
	ck_assert_str_eq(r.resp.ptr, "aga");
	ck_assert_ptr_nonnull(strstr(r.rhdr.ptr, "Content-Range: bytes 6-8/11"));
	req_release(&r);
	ck_assert_int_eq(status_of("GET", "/a.txt", NULL, "Range", "bytes=50-"), 416);
	ck_assert_int_eq(status_of("PUT", "/no/parent", "x", NULL, NULL), 409);
	ck_assert_int_eq(status_of("MKCOL", "/d", NULL, NULL, NULL), 201);
	ck_assert_int_eq(status_of("MKCOL", "/d", NULL, NULL, NULL), 405);
	ck_assert_int_eq(status_of("MKCOL", "/e", "body", NULL, NULL), 415);
	ck_assert_int_eq(status_of("MKCOL", "/x/y", NULL, NULL, NULL), 409);
	ck_assert_int_eq(status_of("PUT", "/d/f1", "1", NULL, NULL), 201);
	ck_assert_int_eq(status_of("MKCOL", "/d/sub", NULL, NULL, NULL), 201);
	ck_assert_int_eq(status_of("PUT", "/d/sub/f2", "22", NULL, NULL), 201);
	/* COPY: zero-copy, Overwrite F refused, depth infinity copies members. */
	ck_assert_int_eq(status_of("COPY", "/d", NULL, "Destination", "http://h/d2"), 201);
	b = get_body("/d2/sub/f2");
	ck_assert_str_eq(b, "22");
	free(b);
	ck_assert_int_eq(do_req(&r, "COPY", "/a.txt", NULL, "Destination", "/d2/f1", "Overwrite",
				"F", NULL),
			 412);
	req_release(&r);
	ck_assert_int_eq(status_of("COPY", "/a.txt", NULL, "Destination", "/d2/f1"), 204);
	b = get_body("/d2/f1");
	ck_assert_str_eq(b, "hello again");
	free(b);
	ck_assert_int_eq(status_of("MOVE", "/d2", NULL, "Destination", "/d3"), 201);
	ck_assert_int_eq(status_of("GET", "/d2/f1", NULL, NULL, NULL), 404);
	ck_assert_int_eq(status_of("MOVE", "/d3", NULL, "Destination", "http://other/d4"), 502);
	ck_assert_int_eq(status_of("MOVE", "/d3", NULL, "Destination", "/d3/inside"), 409);
	/* PROPFIND Depth 1 lists members, never the internal folders. */
	ck_assert_int_eq(do_req(&r, "PROPFIND", "/", NULL, "Depth", "1", NULL), 207);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "<D:href>/d3/</D:href>"));
	ck_assert_ptr_null(strstr(r.resp.ptr, ".sys"));
	ck_assert_ptr_null(strstr(r.resp.ptr, "/d3/sub/"));
	req_release(&r);
	ck_assert_int_eq(do_req(&r, "PROPFIND", "/", NULL, "Depth", "infinity", NULL), 207);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "<D:href>/d3/sub/f2</D:href>"));
	req_release(&r);
	ck_assert_int_eq(status_of("DELETE", "/d3", NULL, NULL, NULL), 204);
	ck_assert_int_eq(status_of("GET", "/d3/sub/f2", NULL, NULL, NULL), 404);
	ck_assert_int_eq(status_of("DELETE", "/d3", NULL, NULL, NULL), 404);
	srv_close();
}
END_TEST

START_TEST(test_srv_hostile)
{
	struct gw_req r;

	srv_open(NULL, NULL);
	ck_assert_int_eq(status_of("PUT", "/a/../b", "x", NULL, NULL), 400);
	ck_assert_int_eq(status_of("PUT", "/%2e%2e/b", "x", NULL, NULL), 400);
	ck_assert_int_eq(status_of("PUT", "/b%00c", "x", NULL, NULL), 400);
	ck_assert_int_eq(status_of("PUT", "/.sys/tmp/x", "x", NULL, NULL), 404);
	ck_assert_int_eq(status_of("DELETE", "/.sys", NULL, NULL, NULL), 404);
	ck_assert_int_eq(status_of("PROPFIND", "/", "<bad", "Depth", "0"), 400);
	ck_assert_int_eq(status_of("PROPFIND", "/", NULL, "Depth", "7"), 400);
	ck_assert_int_eq(status_of("PUT", "/f", "x", "If", "(<broken"), 400);
	ck_assert_int_eq(status_of("DELETE", "/", NULL, NULL, NULL), 403);
	ck_assert_int_eq(status_of("BREW", "/", NULL, NULL, NULL), 405);
	/* Nothing was created by any of them. */
	ck_assert_int_eq(do_req(&r, "PROPFIND", "/", NULL, "Depth", "1", NULL), 207);
	ck_assert_ptr_null(strstr(r.resp.ptr, "<D:href>/b"));
	ck_assert_ptr_null(strstr(r.resp.ptr, "<D:href>/f"));
	req_release(&r);
	srv_close();
}
END_TEST

START_TEST(test_srv_auth)
{
	struct gw_req r;

	srv_open("u", "p:w");
	ck_assert_int_eq(do_req(&r, "PUT", "/x", "1", NULL), 401);
	ck_assert_ptr_nonnull(strstr(r.rhdr.ptr, "WWW-Authenticate: Basic"));
	req_release(&r);
	/* "u:p:w" and "u:bad" */
	ck_assert_int_eq(status_of("PUT", "/x", "1", "Authorization", "Basic dTpwOnc="), 201);
	ck_assert_int_eq(status_of("PUT", "/x", "1", "Authorization", "Basic dTpiYWQ="), 401);
	ck_assert_int_eq(status_of("PUT", "/x", "1", "Authorization", "Basic !!!"), 401);
	ck_assert_int_eq(status_of("PUT", "/x", "1", "Authorization", "Bearer dTpwOnc="), 401);
	srv_close();
}
END_TEST

START_TEST(test_srv_props)
{
	struct gw_req r;
	const char *set2 = "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"urn:z\"><D:set><D:prop>"
			   "<Z:a>one</Z:a><Z:b>two</Z:b></D:prop></D:set></D:propertyupdate>";
	const char *bad = "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"urn:z\"><D:set><D:prop>"
			  "<Z:c>three</Z:c><D:getetag>x</D:getetag></D:prop></D:set>"
			  "</D:propertyupdate>";
	const char *get = "<D:propfind xmlns:D=\"DAV:\"><D:prop><Z:a xmlns:Z=\"urn:z\"/>"
			  "<Z:c xmlns:Z=\"urn:z\"/></D:prop></D:propfind>";

	srv_open(NULL, NULL);
	ck_assert_int_eq(status_of("PUT", "/f", "x", NULL, NULL), 201);
	ck_assert_int_eq(do_req(&r, "PROPPATCH", "/f", set2, NULL), 207);
	ck_assert_int_eq((int)(strstr(r.resp.ptr, "200 OK") != NULL), 1);
	req_release(&r);
	/* One protected property fails the whole request: c is not stored. */
	ck_assert_int_eq(do_req(&r, "PROPPATCH", "/f", bad, NULL), 207);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "403 Forbidden"));
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "424 Failed Dependency"));
	req_release(&r);
	ck_assert_int_eq(do_req(&r, "PROPFIND", "/f", get, "Depth", "0", NULL), 207);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, ">one</Z:a>"));
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "404 Not Found"));
	req_release(&r);
	/* Dead properties follow MOVE and COPY. */
	ck_assert_int_eq(status_of("COPY", "/f", NULL, "Destination", "/g"), 201);
	ck_assert_int_eq(do_req(&r, "PROPFIND", "/g", get, "Depth", "0", NULL), 207);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, ">one</Z:a>"));
	req_release(&r);
	ck_assert_int_eq(do_req(&r, "PROPFIND", "/g", "<D:propfind xmlns:D=\"DAV:\"><D:propname/>"
				"</D:propfind>", "Depth", "0", NULL),
			 207);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "<b xmlns=\"urn:z\"/>"));
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "<D:getetag/>"));
	req_release(&r);
	srv_close();
}
END_TEST

/* The token of a LOCK response, malloc'ed. */
static char *lock_token(struct gw_req *r)
{
	const char *p = strstr(r->rhdr.ptr, "Lock-Token: <");
	const char *e = p ? strchr(p, '>') : NULL;

	ck_assert_ptr_nonnull(e);
	return xstrndup(p + 13, (size_t)(e - p - 13));
}

START_TEST(test_srv_locks)
{
	struct gw_req r;
	char *tok, *tok2, ifh[128], ifh2[128];
	struct dav_server *other;
	struct dav_conf dc = { NULL, NULL, 0, 0, 0 };

	srv_open(NULL, NULL);
	ck_assert_int_eq(status_of("MKCOL", "/c", NULL, NULL, NULL), 201);
	ck_assert_int_eq(status_of("PUT", "/c/f", "x", NULL, NULL), 201);
	/* Lock on an unmapped URL creates an empty resource. */
	ck_assert_int_eq(do_req(&r, "LOCK", "/c/new", LOCKX, NULL), 201);
	free(lock_token(&r));
	req_release(&r);
	ck_assert_int_eq(do_req(&r, "LOCK", "/c", LOCKX, "Depth", "infinity", NULL), 423);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "no-conflicting-lock"));
	req_release(&r);

	ck_assert_int_eq(do_req(&r, "LOCK", "/c/f", LOCKX, "Timeout", "Second-100", NULL), 200);
	tok = lock_token(&r);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "Second-100"));
	req_release(&r);
	snprintf(ifh, sizeof(ifh), "(<%s>)", tok);
	ck_assert_int_eq(status_of("PUT", "/c/f", "y", NULL, NULL), 423);
	ck_assert_int_eq(status_of("DELETE", "/c", NULL, NULL, NULL), 423);
	ck_assert_int_eq(status_of("MOVE", "/c/f", NULL, "Destination", "/z"), 423);
	ck_assert_int_eq(status_of("LOCK", "/c/f", LOCKS, NULL, NULL), 423);
	ck_assert_int_eq(status_of("PUT", "/c/f", "y", "If", "(<opaquelocktoken:bogus>)"), 412);
	ck_assert_int_eq(status_of("PUT", "/c/f", "y", "If", ifh), 204);
	/* A second server over the same volume sees the lock. */
	dav_new(sfs, &dc, &other);
	{
		struct dav_server *mine = srv;

		srv = other;
		ck_assert_int_eq(status_of("PUT", "/c/f", "z", NULL, NULL), 423);
		ck_assert_int_eq(status_of("PUT", "/c/f", "z", "If", ifh), 204);
		srv = mine;
	}
	dav_free(other);
	/* Refresh through the If header. */
	ck_assert_int_eq(do_req(&r, "LOCK", "/c/f", NULL, "If", ifh, "Timeout", "Second-500",
				NULL),
			 200);
	ck_assert_ptr_nonnull(strstr(r.resp.ptr, "Second-500"));
	req_release(&r);
	ck_assert_int_eq(status_of("UNLOCK", "/c/f", NULL, "Lock-Token", "<opaquelocktoken:x>"),
			 409);
	snprintf(ifh2, sizeof(ifh2), "<%s>", tok);
	ck_assert_int_eq(status_of("UNLOCK", "/c/f", NULL, "Lock-Token", ifh2), 204);
	ck_assert_int_eq(status_of("PUT", "/c/f", "w", NULL, NULL), 204);

	/* Shared locks: two may coexist; any of their tokens lets a change through. */
	ck_assert_int_eq(do_req(&r, "LOCK", "/c/f", LOCKS, NULL), 200);
	tok2 = lock_token(&r);
	req_release(&r);
	ck_assert_int_eq(do_req(&r, "LOCK", "/c/f", LOCKS, NULL), 200);
	free(lock_token(&r));
	req_release(&r);
	ck_assert_int_eq(status_of("LOCK", "/c/f", LOCKX, NULL, NULL), 423);
	snprintf(ifh2, sizeof(ifh2), "(<%s>)", tok2);
	ck_assert_int_eq(status_of("PUT", "/c/f", "v", "If", ifh2), 204);
	ck_assert_int_eq(status_of("PUT", "/c/f", "v", NULL, NULL), 423);

	/* An expired lock no longer counts. */
	ck_assert_int_eq(do_req(&r, "LOCK", "/c/g", LOCKX, "Timeout", "Second-1", NULL), 201);
	free(lock_token(&r));
	req_release(&r);
	ck_assert_int_eq(status_of("PUT", "/c/g", "1", NULL, NULL), 423);
	sleep_ms(2100);
	ck_assert_int_eq(status_of("PUT", "/c/g", "1", NULL, NULL), 204);
	free(tok);
	free(tok2);
	srv_close();
}
END_TEST

static int delete_obj(void *arg, const struct obj_info *oi)
{
	ck_assert_int_eq(obj_delete(arg, oi->key), 0);
	return 0;
}

/*
 * Issue 12 item 2: a file whose blocks are lost from the store is a 500
 * with none of a 200's headers, with or without gzip; never a 200.
 */
START_TEST(test_srv_lost_block)
{
	struct gw_req r;

	srv_open(NULL, NULL);
	ck_assert_int_eq(status_of("PUT", "/lost.txt", "these bytes will be lost", NULL, NULL),
			 201);
	ck_assert_int_eq(obj_list(sstore, "chunks/", "", 1000, delete_obj, sstore), 0);
	ck_assert_int_eq(do_req(&r, "GET", "/lost.txt", NULL, NULL), 500);
	ck_assert_ptr_null(strstr(r.rhdr.ptr, "ETag"));
	req_release(&r);
	ck_assert_int_eq(do_req(&r, "GET", "/lost.txt", NULL, "Range", "bytes=3-5", NULL), 500);
	ck_assert_ptr_null(strstr(r.rhdr.ptr, "Content-Range"));
	req_release(&r);
	ck_assert_int_eq(status_of("HEAD", "/lost.txt", NULL, NULL, NULL), 200);
	srv_close();
	srv_gzip = 1;
	srv_open(NULL, NULL);
	srv_gzip = 0;
	ck_assert_int_eq(status_of("PUT", "/lost.txt", "these bytes will be lost", NULL, NULL),
			 201);
	ck_assert_int_eq(obj_list(sstore, "chunks/", "", 1000, delete_obj, sstore), 0);
	ck_assert_int_eq(do_req(&r, "GET", "/lost.txt", NULL, "Accept-Encoding", "gzip", NULL),
			 500);
	ck_assert_ptr_null(strstr(r.rhdr.ptr, "Content-Encoding"));
	req_release(&r);
	srv_close();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dav");
	TCase *tc = tcase_create("proto");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_path_good);
	tcase_add_test(tc, test_path_hostile);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_dest);
	tcase_add_test(tc, test_if_parse);
	tcase_add_test(tc, test_if_eval);
	tcase_add_test(tc, test_propfind);
	tcase_add_test(tc, test_xml_huge);
	tcase_add_test(tc, test_proppatch);
	tcase_add_test(tc, test_lockinfo);
	tcase_add_test(tc, test_lock_record);
	tcase_add_test(tc, test_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_srv_basic);
	tcase_add_test(tc, test_srv_hostile);
	tcase_add_test(tc, test_srv_auth);
	tcase_add_test(tc, test_srv_props);
	tcase_add_test(tc, test_srv_locks);
	tcase_add_test(tc, test_srv_lost_block);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
