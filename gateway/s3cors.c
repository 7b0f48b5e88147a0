/*
 * gateway/s3cors.c: bucket CORS (contract in s3cors.h): the configuration
 * parsed with libxml2 under the same rule as s3util.c's bodies (no DTD, no
 * entities, no network), stored as its canonical XML through the s3cfg
 * cache (so every gateway of the volume answers from the same rules within
 * the cache's TTL), and applied to preflights and actual responses.
 */
#include "gateway/s3cors.h"
#include "gateway/s3-internal.h"
#include "gateway/s3cfg.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <strings.h>

#define CORS_DOC "cors"
#define CORS_VARY "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

/* ---------------------------------------------------------------- configuration */

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void s3_cors_free(struct s3_cors_conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct s3_cors_rule *r = &c->r[i];

		free(r->id);
		strv_free(r->origins, r->norigins);
		strv_free(r->methods, r->nmethods);
		strv_free(r->headers, r->nheaders);
		strv_free(r->expose, r->nexpose);
	}
	free(c->r);
	c->r = NULL;
	c->n = 0;
}

static void strv_add(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static int stars(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '*';
	return n;
}

/* The text of an element with element children is not a value: MalformedXML. */
static char *leaf_text(xmlNodePtr n)
{
	for (xmlNodePtr c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return NULL;
	return (char *)xmlNodeGetContent(n);
}

static enum s3_err parse_rule(xmlNodePtr rn, struct s3_cors_rule *r, struct buf *msg)
{
	static const char *const methods[] = { "GET", "PUT", "HEAD", "POST", "DELETE" };
	int have_age = 0;

	r->max_age = -1;
	for (xmlNodePtr c = rn->children; c; c = c->next) {
		const char *name = (const char *)c->name;
		char *t;
		enum s3_err e = S3E_OK;

		if (c->type == XML_TEXT_NODE || c->type == XML_COMMENT_NODE)
			continue;
		if (c->type != XML_ELEMENT_NODE)
			return S3E_MalformedXML;
		t = leaf_text(c);
		if (!t)
			return S3E_MalformedXML;
		if (!strcmp(name, "AllowedOrigin")) {
			if (stars(t) > 1) {
				buf_addf(msg, "AllowedOrigin \"%.200s\" can not have more than "
					      "one wildcard.",
					 t);
				e = S3E_InvalidRequest;
			} else {
				strv_add(&r->origins, &r->norigins, t);
			}
		} else if (!strcmp(name, "AllowedMethod")) {
			size_t i;

			for (i = 0; i < ARRAY_SIZE(methods) && strcmp(t, methods[i]); i++)
				;
			if (i == ARRAY_SIZE(methods)) {
				buf_addf(msg, "Found unsupported HTTP method in CORS config. "
					      "Unsupported method is %.32s",
					 t);
				e = S3E_InvalidRequest;
			} else {
				strv_add(&r->methods, &r->nmethods, t);
			}
		} else if (!strcmp(name, "AllowedHeader")) {
			if (stars(t) > 1) {
				buf_addf(msg, "AllowedHeader \"%.200s\" can not have more than "
					      "one wildcard.",
					 t);
				e = S3E_InvalidRequest;
			} else {
				strv_add(&r->headers, &r->nheaders, t);
			}
		} else if (!strcmp(name, "ExposeHeader")) {
			if (strchr(t, '*')) {
				buf_addf(msg, "ExposeHeader \"%.200s\" contains wildcard.", t);
				e = S3E_InvalidRequest;
			} else {
				strv_add(&r->expose, &r->nexpose, t);
			}
		} else if (!strcmp(name, "MaxAgeSeconds")) {
			int64_t v;

			if (have_age || parse_i64(t, &v) || v < 0)
				e = S3E_MalformedXML;
			r->max_age = v;
			have_age = 1;
		} else if (!strcmp(name, "ID")) {
			if (r->id || strlen(t) > 255)
				e = S3E_MalformedXML;
			else
				r->id = xstrdup(t);
		} else {
			e = S3E_MalformedXML;
		}
		/* a value that would break a header line is no value */
		if (!e && strpbrk(t, "\r\n,") && strcmp(name, "ID"))
			e = S3E_MalformedXML;
		xmlFree(t);
		if (e)
			return e;
	}
	return r->norigins && r->nmethods ? S3E_OK : S3E_MalformedXML;
}

enum s3_err s3_cors_parse(const char *xml, size_t n, struct s3_cors_conf *c, struct buf *msg)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	enum s3_err e = S3E_MalformedXML;

	memset(c, 0, sizeof(*c));
	if (!n || n > S3_CORS_MAX_BODY)
		return S3E_MalformedXML;
	doc = xmlReadMemory(xml, (int)n, "cors.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	/* a DTD is how a body smuggles entities in: never (as s3util.c's xml_read) */
	if (!doc || doc->intSubset || doc->extSubset)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "CORSConfiguration"))
		goto out;
	for (xmlNodePtr rn = root->children; rn; rn = rn->next) {
		if (rn->type == XML_TEXT_NODE || rn->type == XML_COMMENT_NODE)
			continue;
		if (rn->type != XML_ELEMENT_NODE || strcmp((const char *)rn->name, "CORSRule") ||
		    c->n == S3_CORS_MAX_RULES)
			goto out;
		c->r = xrealloc(c->r, (c->n + 1) * sizeof(*c->r));
		memset(&c->r[c->n], 0, sizeof(*c->r));
		c->n++;
		e = parse_rule(rn, &c->r[c->n - 1], msg);
		if (e)
			goto out;
		e = S3E_MalformedXML;
	}
	if (c->n)
		e = S3E_OK;
out:
	xmlFreeDoc(doc);
	if (e)
		s3_cors_free(c);
	return e;
}

static void xml_list(struct buf *b, const char *el, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_addf(b, "<%s>", el);
		s3_xml_escape(b, v[i]);
		buf_addf(b, "</%s>", el);
	}
}

void s3_cors_xml(const struct s3_cors_conf *c, struct buf *out)
{
	buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration "
		      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < c->n; i++) {
		const struct s3_cors_rule *r = &c->r[i];

		buf_adds(out, "<CORSRule>");
		if (r->id) {
			buf_adds(out, "<ID>");
			s3_xml_escape(out, r->id);
			buf_adds(out, "</ID>");
		}
		xml_list(out, "AllowedHeader", r->headers, r->nheaders);
		xml_list(out, "AllowedMethod", r->methods, r->nmethods);
		xml_list(out, "AllowedOrigin", r->origins, r->norigins);
		xml_list(out, "ExposeHeader", r->expose, r->nexpose);
		if (r->max_age >= 0)
			buf_addf(out, "<MaxAgeSeconds>%lld</MaxAgeSeconds>", (long long)r->max_age);
		buf_adds(out, "</CORSRule>");
	}
	buf_adds(out, "</CORSConfiguration>");
}

/* ---------------------------------------------------------------- matching */

static int ceq(char a, char b, int icase)
{
	return icase ? tolower((unsigned char)a) == tolower((unsigned char)b) : a == b;
}

int s3_cors_glob(const char *pat, const char *s, int icase)
{
	const char *star = NULL, *resume = NULL;

	/* greedy with one backtrack point: linear for the one '*' patterns stored */
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat && ceq(*pat, *s, icase)) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

static int any_glob(char **pats, size_t n, const char *s, int icase)
{
	for (size_t i = 0; i < n; i++)
		if (s3_cors_glob(pats[i], s, icase))
			return 1;
	return 0;
}

/* Every name of a comma-separated list matches one of the rule's AllowedHeader. */
static int headers_allowed(const struct s3_cors_rule *r, const char *list)
{
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t l;
		char *h;
		int ok;

		if (!e)
			e = p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		l = (size_t)(e - p);
		while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		if (l) {
			h = xstrndup(p, l);
			ok = any_glob(r->headers, r->nheaders, h, 1);
			free(h);
			if (!ok)
				return 0;
		}
		p = *e ? e + 1 : e;
	}
	return 1;
}

const struct s3_cors_rule *s3_cors_find(const struct s3_cors_conf *c, const char *origin,
					const char *method, const char *req_headers)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct s3_cors_rule *r = &c->r[i];
		size_t m;

		if (!any_glob(r->origins, r->norigins, origin, 0))
			continue;
		for (m = 0; m < r->nmethods && strcmp(r->methods[m], method); m++)
			;
		if (m == r->nmethods)
			continue;
		if (req_headers && !headers_allowed(r, req_headers))
			continue;
		return r;
	}
	return NULL;
}

/* ---------------------------------------------------------------- request path */

static void *cors_parse_cb(const char *val, size_t len)
{
	struct s3_cors_conf *c = xcalloc(1, sizeof(*c));
	struct buf msg = BUF_INIT;

	/* what is stored was validated when it was put; anything else is ignored */
	if (s3_cors_parse(val, len, c, &msg)) {
		free(c);
		c = NULL;
	}
	buf_release(&msg);
	return c;
}

static void cors_free_cb(void *p)
{
	if (p) {
		s3_cors_free(p);
		free(p);
	}
}

static int cors_snap(struct s3_req *s, struct s3cfg_snap **snap)
{
	return s3cfg_cache_get(s->g->cfg, s->root, CORS_DOC, cors_parse_cb, cors_free_cb, snap);
}

static void join(struct buf *b, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_adds(b, ", ");
		buf_adds(b, v[i]);
	}
}

/* The headers of a matched rule; preflight adds the ones only it carries. */
static void rule_headers(struct s3_req *s, const struct s3_cors_rule *r, const char *origin,
			 int preflight)
{
	struct buf b = BUF_INIT;
	int any = r->norigins == 1 && !strcmp(r->origins[0], "*");

	/* "*" to anyone when the rule says any origin, as S3; else the origin itself */
	gw_resp_header(s->r, "Access-Control-Allow-Origin", any ? "*" : origin);
	if (!any)
		gw_resp_header(s->r, "Access-Control-Allow-Credentials", "true");
	join(&b, r->methods, r->nmethods);
	gw_resp_header(s->r, "Access-Control-Allow-Methods", b.ptr);
	if (r->nexpose) {
		buf_reset(&b);
		join(&b, r->expose, r->nexpose);
		gw_resp_header(s->r, "Access-Control-Expose-Headers", b.ptr);
	}
	if (preflight) {
		const char *rh = gw_req_header(s->r, "Access-Control-Request-Headers");

		if (rh && *rh)
			gw_resp_header(s->r, "Access-Control-Allow-Headers", rh);
		if (r->max_age >= 0) {
			buf_reset(&b);
			buf_addf(&b, "%lld", (long long)r->max_age);
			gw_resp_header(s->r, "Access-Control-Max-Age", b.ptr);
		}
	}
	buf_release(&b);
}

void s3_cors_headers(struct s3_req *s)
{
	const char *origin = gw_req_header(s->r, "Origin");
	const char *method = gw_req_header(s->r, "Access-Control-Request-Method");
	struct s3cfg_snap *snap = NULL;
	const struct s3_cors_rule *r;

	/* a preflight writes its own headers; a service request has no rules */
	if (!origin || !s->bucket || !s->g->cfg || !strcmp(s->method, "OPTIONS"))
		return;
	/* a bucket name that routed nowhere (single bucket: not the volume's) */
	if (s->g->c.multi_buckets ? !*s->root : strcmp(s->bucket, s->g->volume) != 0)
		return;
	if (cors_snap(s, &snap) || !snap->found || !snap->parsed)
		goto out;
	gw_resp_header(s->r, "Vary", CORS_VARY);
	r = s3_cors_find(snap->parsed, origin, method && *method ? method : s->method, NULL);
	if (r)
		rule_headers(s, r, origin, 0);
out:
	s3cfg_snap_unref(snap);
}

int s3_cors_preflight(struct s3_req *s)
{
	const char *origin = gw_req_header(s->r, "Origin");
	const char *method = gw_req_header(s->r, "Access-Control-Request-Method");
	const char *rh = gw_req_header(s->r, "Access-Control-Request-Headers");
	struct s3cfg_snap *snap = NULL;
	const struct s3_cors_rule *r = NULL;
	enum s3_err e;
	int rc;

	if (!origin || !*origin || !method || !*method)
		return s3_send_error(s, S3E_InvalidRequest,
				     "Insufficient information. Origin request header needed.");
	if (!s->bucket)
		return s3_send_error(s, S3E_AccessForbidden, "CORSResponse: Bucket not found");
	e = s3_bucket_check(s);
	if (e)
		return s3_send_error(s, e, NULL);
	if (cors_snap(s, &snap))
		return s3_send_error(s, S3E_InternalError, NULL);
	if (!snap->found || !snap->parsed) {
		s3cfg_snap_unref(snap);
		return s3_send_error(s, S3E_AccessForbidden,
				     "CORSResponse: CORS is not enabled for this bucket.");
	}
	r = s3_cors_find(snap->parsed, origin, method, rh && *rh ? rh : NULL);
	if (!r) {
		gw_resp_header(s->r, "Vary", CORS_VARY);
		rc = s3_send_error(s, S3E_AccessForbidden, NULL);
	} else {
		gw_resp_header(s->r, "Vary", CORS_VARY);
		rule_headers(s, r, origin, 1);
		rc = s3_send_empty(s, 200);
	}
	s3cfg_snap_unref(snap);
	return rc;
}

int s3_cors_op(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	struct buf body = BUF_INIT, msg = BUF_INIT, out = BUF_INIT;
	struct s3_cors_conf c;
	char *val = NULL;
	size_t len;
	enum s3_err e;
	int r;

	if (!strcmp(s->method, "PUT")) {
		e = s3_read_body(s, S3_CORS_MAX_BODY, &body);
		if (!e)
			e = s3_cors_parse(body.ptr, body.len, &c, &msg);
		if (!e) {
			s3_cors_xml(&c, &out);
			s3_cors_free(&c);
			r = s3cfg_cache_put(g->cfg, s->root, CORS_DOC, out.ptr, out.len);
			/* over what the volume keeps for a document: too large, not a fault */
			e = r == -E2BIG ? S3E_EntityTooLarge : r ? s3_err_from_errno(r) : S3E_OK;
		}
		if (!e)
			s3_send_empty(s, 200);
	} else if (!strcmp(s->method, "GET")) {
		r = s3cfg_get(g->fs, s->root, CORS_DOC, &val, &len);
		e = r == -ENOENT ? S3E_NoSuchCORSConfiguration : r ? s3_err_from_errno(r) : S3E_OK;
		if (!e) {
			buf_add(&out, val, len);
			s3_send_xml(s, 200, &out);
		}
	} else if (!strcmp(s->method, "DELETE")) {
		r = s3cfg_cache_del(g->cfg, s->root, CORS_DOC);
		e = r && r != -ENOENT ? s3_err_from_errno(r) : S3E_OK;
		if (!e)
			s3_send_empty(s, 204);
	} else {
		e = S3E_MethodNotAllowed;
	}
	if (e)
		s3_send_error(s, e, msg.len ? msg.ptr : NULL);
	free(val);
	buf_release(&body);
	buf_release(&msg);
	buf_release(&out);
	return 0;
}
