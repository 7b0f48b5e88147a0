/*
 * dav_proto.c: WebDAV request parsing and response text that is pure
 * computation (see dav_proto.h). Everything here treats its input as
 * hostile: lengths are bounded, XML is parsed without DTDs, entities or
 * network access, and a failure never leaves half-built output behind.
 */
#include "gateway/dav_proto.h"

#include <ctype.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define DAV_NS "DAV:"

/* ------------------------------------------------------------ paths */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int dav_norm_path(const char *raw, int encoded, struct buf *out, int *trailing)
{
	struct buf dec = BUF_INIT;
	const char *p;
	int r = 0;

	buf_reset(out);
	if (!raw || raw[0] != '/')
		return -EINVAL;
	if (strlen(raw) > 3 * DAV_MAX_PATH)
		return -ENAMETOOLONG;
	for (p = raw; *p; p++) {
		int c = (unsigned char)*p;

		if (encoded && c == '%') {
			int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);

			if (h < 0 || l < 0) {
				r = -EINVAL;
				goto out;
			}
			c = h << 4 | l;
			p += 2;
		}
		if (c == 0) {
			r = -EINVAL;
			goto out;
		}
		buf_addch(&dec, (char)c);
	}
	if (trailing)
		*trailing = dec.len > 1 && dec.ptr[dec.len - 1] == '/';
	p = dec.ptr;
	while (*p) {
		const char *e;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			r = -EINVAL;
			goto out;
		}
		if (n > DAV_MAX_SEGMENT) {
			r = -ENAMETOOLONG;
			goto out;
		}
		if (!(n == 1 && p[0] == '.')) {
			buf_addch(out, '/');
			buf_add(out, p, n);
		}
		p += n;
	}
	if (!out->len)
		buf_addch(out, '/');
	if (out->len > DAV_MAX_PATH)
		r = -ENAMETOOLONG;
out:
	if (r)
		buf_reset(out);
	buf_release(&dec);
	return r;
}

int dav_path_within(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (!strcmp(root, "/"))
		return 1;
	return !strncmp(root, path, n) && (path[n] == 0 || path[n] == '/');
}

int dav_lock_covers(const char *root, int depth_inf, const char *path)
{
	if (!strcmp(root, path))
		return 1;
	return depth_inf && dav_path_within(root, path);
}

/* ------------------------------------------------------------ headers */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Header value with surrounding white space removed equals word (case-insensitive). */
static int word_is(const char *h, const char *word)
{
	size_t n = strlen(word);

	h = skip_ws(h);
	if (strncasecmp(h, word, n))
		return 0;
	return *skip_ws(h + n) == 0;
}

int dav_parse_depth(const char *h, int def, int *out)
{
	if (!h) {
		*out = def;
		return 0;
	}
	if (word_is(h, "0"))
		*out = 0;
	else if (word_is(h, "1"))
		*out = 1;
	else if (word_is(h, "infinity"))
		*out = DAV_DEPTH_INF;
	else
		return -EINVAL;
	return 0;
}

int dav_parse_overwrite(const char *h, int *out)
{
	if (!h) {
		*out = 1;
		return 0;
	}
	if (word_is(h, "T"))
		*out = 1;
	else if (word_is(h, "F"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

/* Host parts equal, ignoring case and a default port. */
static int same_host(const char *a, size_t an, const char *b, int https)
{
	size_t bn = strlen(b);
	const char *def = https ? ":443" : ":80";
	size_t dn = strlen(def);

	if (an >= dn && !strncmp(a + an - dn, def, dn))
		an -= dn;
	if (bn >= dn && !strcmp(b + bn - dn, def))
		bn -= dn;
	return an == bn && !strncasecmp(a, b, an);
}

/* An absolute URI or path to a normalised path; -EXDEV for another host. */
static int uri_to_path(const char *u, size_t n, const char *host, struct buf *path)
{
	char *s = xstrndup(u, n);
	const char *p = s;
	int r;

	if (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8)) {
		int https = s[4] == 's' || s[4] == 'S';
		const char *h = s + (https ? 8 : 7);
		const char *slash = strchr(h, '/');
		size_t hn = slash ? (size_t)(slash - h) : strlen(h);

		if (!hn || memchr(h, '@', hn)) {
			r = -EINVAL;
			goto out;
		}
		if (host && !same_host(h, hn, host, https)) {
			r = -EXDEV;
			goto out;
		}
		p = slash ? slash : "/";
	}
	/* Drop a query or fragment: they name no other resource. */
	s[strcspn(s, "?#")] = 0;
	r = dav_norm_path(p, 1, path, NULL);
out:
	free(s);
	return r;
}

int dav_parse_dest(const char *h, const char *host, struct buf *path)
{
	if (!h)
		return -EINVAL;
	h = skip_ws(h);
	size_t n = strlen(h);

	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (!n)
		return -EINVAL;
	return uri_to_path(h, n, host, path);
}

int dav_parse_timeout(const char *h, int64_t *secs)
{
	const char *p = h;

	*secs = -1;
	if (!h)
		return 0;
	while (*p) {
		const char *e;
		size_t n;

		p = skip_ws(p);
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 8 && !strncasecmp(p, "Infinite", 8)) {
			*secs = -1;
			return 0;
		}
		if (n > 7 && !strncasecmp(p, "Second-", 7) && n - 7 <= 10) {
			char num[16];
			uint64_t v;

			memcpy(num, p + 7, n - 7);
			num[n - 7] = 0;
			if (!parse_u64(num, &v) && v <= UINT32_MAX) {
				*secs = (int64_t)v;
				return 0;
			}
		}
		if (!e)
			break;
		p = e + 1;
	}
	return -EINVAL;
}

int dav_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
	const char *p, *dash;
	char a[24], b[24];
	uint64_t x, y;
	size_t an, bn;

	if (!h || strncasecmp(h, "bytes=", 6) || strchr(h, ','))
		return 0;
	p = h + 6;
	dash = strchr(p, '-');
	if (!dash)
		return 0;
	an = (size_t)(dash - p);
	bn = strlen(dash + 1);
	if (an >= sizeof(a) || bn >= sizeof(b))
		return 0;
	memcpy(a, p, an);
	a[an] = 0;
	memcpy(b, dash + 1, bn);
	b[bn] = 0;
	if (!an) {
		if (parse_u64(b, &y) || !y)
			return bn ? -1 : 0;
		if (!size)
			return -1;
		*start = y >= size ? 0 : size - y;
		*end = size - 1;
		return 1;
	}
	if (parse_u64(a, &x))
		return 0;
	if (bn) {
		if (parse_u64(b, &y) || y < x)
			return 0;
	} else {
		y = UINT64_MAX;
	}
	if (x >= size)
		return -1;
	*start = x;
	*end = MIN(y, size - 1);
	return 1;
}

/* ------------------------------------------------------------ If header */

void dav_if_free(struct dav_if *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nlists; i++) {
		for (size_t j = 0; j < h->lists[i].nconds; j++)
			free(h->lists[i].conds[j].value);
		free(h->lists[i].conds);
		free(h->lists[i].tag);
	}
	free(h->lists);
	free(h);
}

/* "(" 1*Condition ")" at *pp; tag owned by the new list. */
static int if_parse_list(const char **pp, struct dav_if *h, char *tag)
{
	const char *p = *pp + 1;
	struct dav_if_list l = { tag, NULL, 0 };
	int r = -EINVAL;

	for (;;) {
		struct dav_if_cond c = { 0, 0, NULL };
		const char *e;

		p = skip_ws(p);
		if (*p == ')') {
			p++;
			break;
		}
		if (!strncasecmp(p, "Not", 3) && (p[3] == ' ' || p[3] == '\t' || p[3] == '<' ||
						  p[3] == '[')) {
			c.neg = 1;
			p = skip_ws(p + 3);
		}
		if (*p == '<') {
			e = strchr(p + 1, '>');
			if (!e || e == p + 1)
				goto fail;
			c.value = xstrndup(p + 1, (size_t)(e - p - 1));
		} else if (*p == '[') {
			/* An entity tag is a quoted string that may itself hold ']'. */
			const char *q = p + 1;

			if (q[0] == 'W' && q[1] == '/')
				q += 2;
			if (*q != '"')
				goto fail;
			q = strchr(q + 1, '"');
			if (!q || q[1] != ']')
				goto fail;
			e = q + 1;
			c.is_etag = 1;
			c.value = xstrndup(p + 1, (size_t)(e - p - 1));
		} else {
			goto fail;
		}
		if (l.nconds >= 64) {
			free(c.value);
			goto fail;
		}
		l.conds = xrealloc(l.conds, (l.nconds + 1) * sizeof(*l.conds));
		l.conds[l.nconds++] = c;
		p = e + 1;
	}
	if (!l.nconds || h->nlists >= 64)
		goto fail;
	h->lists = xrealloc(h->lists, (h->nlists + 1) * sizeof(*h->lists));
	h->lists[h->nlists++] = l;
	*pp = p;
	return 0;
fail:
	for (size_t j = 0; j < l.nconds; j++)
		free(l.conds[j].value);
	free(l.conds);
	free(tag);
	return r;
}

int dav_if_parse(const char *hv, const char *host, struct dav_if **out)
{
	struct dav_if *h = xcalloc(1, sizeof(*h));
	const char *p = hv;
	struct buf path = BUF_INIT;
	char *cur_tag = NULL;
	int tagged = -1, r = 0;

	/* A tag naming another host would only fail to match: accept any host. */
	UNUSED(host);
	*out = NULL;
	if (strlen(hv) > 16384) {
		r = -EINVAL;
		goto out;
	}
	for (;;) {
		p = skip_ws(p);
		if (!*p)
			break;
		if (*p == '<') {
			const char *e = strchr(p + 1, '>');

			if (tagged == 0 || !e) {
				r = -EINVAL;
				goto out;
			}
			tagged = 1;
			r = uri_to_path(p + 1, (size_t)(e - p - 1), NULL, &path);
			if (r) {
				r = -EINVAL;
				goto out;
			}
			free(cur_tag);
			cur_tag = xstrdup(path.ptr);
			p = skip_ws(e + 1);
			if (*p != '(') {
				r = -EINVAL;
				goto out;
			}
		} else if (*p == '(') {
			if (tagged == 1 && !cur_tag) {
				r = -EINVAL;
				goto out;
			}
			if (tagged == -1)
				tagged = 0;
			r = if_parse_list(&p, h, cur_tag ? xstrdup(cur_tag) : NULL);
			if (r)
				goto out;
		} else {
			r = -EINVAL;
			goto out;
		}
	}
	if (!h->nlists)
		r = -EINVAL;
out:
	free(cur_tag);
	buf_release(&path);
	if (r)
		dav_if_free(h);
	else
		*out = h;
	return r;
}

int dav_if_has_token(const struct dav_if *h, const char *token)
{
	if (!h)
		return 0;
	for (size_t i = 0; i < h->nlists; i++)
		for (size_t j = 0; j < h->lists[i].nconds; j++) {
			const struct dav_if_cond *c = &h->lists[i].conds[j];

			if (!c->is_etag && !strcmp(c->value, token))
				return 1;
		}
	return 0;
}

int dav_if_eval(const struct dav_if *h, const char *req_path, dav_if_cond_fn fn, void *arg)
{
	if (!h)
		return 1;
	for (size_t i = 0; i < h->nlists; i++) {
		const struct dav_if_list *l = &h->lists[i];
		const char *path = l->tag ? l->tag : req_path;
		int ok = 1;

		for (size_t j = 0; j < l->nconds && ok; j++) {
			int v = fn(arg, path, &l->conds[j]) ? 1 : 0;

			ok = l->conds[j].neg ? !v : v;
		}
		if (ok)
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ XML */

static int is_el(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !strcmp((const char *)n->ns->href, DAV_NS) && !strcmp((const char *)n->name, name);
}

static const xmlNode *first_el(const xmlNode *n)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

/*
 * Parse a body: well-formed and namespace-well-formed, no DTD (which shuts
 * out entity expansion attacks), bounded size.
 */
static int xml_read(const char *body, size_t len, xmlDoc **out)
{
	xmlParserCtxt *ctx;
	xmlDoc *doc;
	int ok;

	*out = NULL;
	if (len > DAV_MAX_XML || len > INT32_MAX)
		return -E2BIG;
	ctx = xmlNewParserCtxt();
	if (!ctx)
		return -ENOMEM;
	doc = xmlCtxtReadMemory(ctx, body, (int)len, NULL, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ok = doc && ctx->wellFormed && ctx->nsWellFormed && !doc->intSubset && !doc->extSubset &&
	     xmlDocGetRootElement(doc);
	xmlFreeParserCtxt(ctx);
	if (!ok) {
		xmlFreeDoc(doc);
		return -EINVAL;
	}
	*out = doc;
	return 0;
}

static void pname_set(struct dav_pname *p, const xmlNode *n)
{
	p->ns = xstrdup(n->ns && n->ns->href ? (const char *)n->ns->href : "");
	p->name = xstrdup((const char *)n->name);
}

static int add_names(const xmlNode *prop, struct dav_pname **v, size_t *n)
{
	for (const xmlNode *c = prop->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (*n >= 10000)
			return -E2BIG;
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		pname_set(&(*v)[(*n)++], c);
	}
	return 0;
}

void dav_propfind_release(struct dav_propfind *p)
{
	for (size_t i = 0; i < p->nprops; i++) {
		free(p->props[i].ns);
		free(p->props[i].name);
	}
	free(p->props);
	memset(p, 0, sizeof(*p));
}

int dav_parse_propfind(const char *body, size_t len, struct dav_propfind *out)
{
	xmlDoc *doc = NULL;
	const xmlNode *root, *c;
	int r, seen = 0;

	memset(out, 0, sizeof(*out));
	out->mode = DAV_PF_ALLPROP;
	if (!len)
		return 0;
	if ((r = xml_read(body, len, &doc)))
		return r;
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "propfind")) {
		r = -EINVAL;
		goto out;
	}
	for (c = first_el(root->children); c; c = first_el(c->next)) {
		if (is_el(c, "allprop")) {
			out->mode = DAV_PF_ALLPROP;
			seen++;
		} else if (is_el(c, "propname")) {
			out->mode = DAV_PF_PROPNAME;
			seen++;
		} else if (is_el(c, "prop")) {
			out->mode = DAV_PF_PROP;
			seen++;
			if ((r = add_names(c, &out->props, &out->nprops)))
				goto out;
		} else if (is_el(c, "include")) {
			if ((r = add_names(c, &out->props, &out->nprops)))
				goto out;
		}
	}
	r = seen == 1 ? 0 : -EINVAL;
out:
	xmlFreeDoc(doc);
	if (r)
		dav_propfind_release(out);
	return r;
}

/* The element as standalone XML, with the namespaces it uses declared on it. */
static char *node_xml(const xmlNode *n)
{
	xmlDoc *d = xmlNewDoc((const xmlChar *)"1.0");
	xmlNode *copy = xmlDocCopyNode((xmlNode *)n, d, 1);
	xmlBuffer *xb = xmlBufferCreate();
	char *s = NULL;

	if (copy && xb) {
		xmlDocSetRootElement(d, copy);
		xmlReconciliateNs(d, copy);
		if (xmlNodeDump(xb, d, copy, 0, 0) >= 0)
			s = xstrndup((const char *)xmlBufferContent(xb),
				     (size_t)xmlBufferLength(xb));
	}
	xmlBufferFree(xb);
	xmlFreeDoc(d);
	return s;
}

void dav_proppatch_release(struct dav_proppatch *p)
{
	for (size_t i = 0; i < p->nops; i++) {
		free(p->ops[i].p.ns);
		free(p->ops[i].p.name);
		free(p->ops[i].xml);
	}
	free(p->ops);
	memset(p, 0, sizeof(*p));
}

int dav_parse_proppatch(const char *body, size_t len, struct dav_proppatch *out)
{
	xmlDoc *doc = NULL;
	const xmlNode *root, *c;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = xml_read(body, len, &doc)))
		return r;
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "propertyupdate")) {
		r = -EINVAL;
		goto out;
	}
	for (c = first_el(root->children); c; c = first_el(c->next)) {
		int remove = is_el(c, "remove");

		if (!remove && !is_el(c, "set"))
			continue;
		for (const xmlNode *pr = first_el(c->children); pr; pr = first_el(pr->next)) {
			if (!is_el(pr, "prop"))
				continue;
			for (const xmlNode *e = first_el(pr->children); e; e = first_el(e->next)) {
				struct dav_patch_op op = { remove, { NULL, NULL }, NULL };

				if (out->nops >= 10000) {
					r = -E2BIG;
					goto out;
				}
				if (!remove && !(op.xml = node_xml(e))) {
					r = -ENOMEM;
					goto out;
				}
				pname_set(&op.p, e);
				out->ops = xrealloc(out->ops, (out->nops + 1) * sizeof(*out->ops));
				out->ops[out->nops++] = op;
			}
		}
	}
	r = out->nops ? 0 : -EINVAL;
out:
	xmlFreeDoc(doc);
	if (r)
		dav_proppatch_release(out);
	return r;
}

void dav_lockinfo_release(struct dav_lockinfo *l)
{
	free(l->owner);
	memset(l, 0, sizeof(*l));
}

int dav_parse_lockinfo(const char *body, size_t len, struct dav_lockinfo *out)
{
	xmlDoc *doc = NULL;
	const xmlNode *root, *c;
	int r, scope = 0, type = 0;

	memset(out, 0, sizeof(*out));
	if ((r = xml_read(body, len, &doc)))
		return r;
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "lockinfo")) {
		r = -EINVAL;
		goto out;
	}
	for (c = first_el(root->children); c; c = first_el(c->next)) {
		const xmlNode *v = first_el(c->children);

		if (is_el(c, "lockscope")) {
			if (is_el(v, "exclusive"))
				out->exclusive = 1;
			else if (!is_el(v, "shared"))
				break;
			scope = 1;
		} else if (is_el(c, "locktype")) {
			if (!is_el(v, "write"))
				break;
			type = 1;
		} else if (is_el(c, "owner")) {
			free(out->owner);
			if (!(out->owner = node_xml(c))) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	r = scope && type ? 0 : -EINVAL;
out:
	xmlFreeDoc(doc);
	if (r)
		dav_lockinfo_release(out);
	return r;
}

/* ------------------------------------------------------------ lock records */

/*
 * Record: "v1\n<exclusive>\n<depth_inf>\n<timeout>\n<expires>\n<root, %-encoded>\n<owner>"
 * The root is encoded because a decoded path may hold a newline.
 */
void dav_lock_encode(const struct dav_lock *l, struct buf *out)
{
	buf_addf(out, "v1\n%d\n%d\n%lld\n%lld\n", l->exclusive, l->depth_inf,
		 (long long)l->timeout, (long long)l->expires);
	dav_href(out, l->root, 0);
	buf_addch(out, '\n');
	if (l->owner)
		buf_adds(out, l->owner);
}

void dav_lock_release(struct dav_lock *l)
{
	free(l->root);
	free(l->owner);
	l->root = l->owner = NULL;
}

int dav_lock_decode(const char *token, const char *p, size_t n, struct dav_lock *l)
{
	char *s = xstrndup(p, n), *f[7];
	struct buf path = BUF_INIT;
	int r = -EINVAL, nf = 0;
	int64_t v[4];
	char *q = s;

	memset(l, 0, sizeof(*l));
	while (nf < 6) {
		char *e = strchr(q, '\n');

		if (!e)
			goto out;
		*e = 0;
		f[nf++] = q;
		q = e + 1;
	}
	f[6] = q;
	if (strcmp(f[0], "v1"))
		goto out;
	for (int i = 0; i < 4; i++)
		if (parse_i64(f[1 + i], &v[i]))
			goto out;
	if (dav_norm_path(f[5], 1, &path, NULL))
		goto out;
	snprintf(l->token, sizeof(l->token), "%s", token);
	l->exclusive = v[0] != 0;
	l->depth_inf = v[1] != 0;
	l->timeout = v[2];
	l->expires = v[3];
	l->root = buf_detach(&path, NULL);
	l->owner = *f[6] ? xstrdup(f[6]) : NULL;
	r = 0;
out:
	buf_release(&path);
	free(s);
	return r;
}

/* ------------------------------------------------------------ response text */

void dav_xml_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_adds(b, "&lt;"); break;
		case '>': buf_adds(b, "&gt;"); break;
		case '&': buf_adds(b, "&amp;"); break;
		case '"': buf_adds(b, "&quot;"); break;
		default: {
			/*
			 * Names come from the volume as bytes (a GBK name made
			 * through a mount): what is not XML text (invalid UTF-8,
			 * controls) becomes U+FFFD, one per byte, as the real
			 * server's encoder does, so the document stays
			 * well-formed. hrefs keep the exact bytes (dav_href).
			 */
			size_t n = utf8_xml_char_len(s);

			if (!n) {
				buf_adds(b, UTF8_REPLACEMENT);
				break;
			}
			buf_add(b, s, n);
			s += n - 1;
		}
		}
	}
}

void dav_href(struct buf *b, const char *path, int collection)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (isalnum(*p) || strchr("/-._~!$'()*,;:@", *p)) {
			buf_addch(b, (char)*p);
		} else {
			buf_addch(b, '%');
			buf_addch(b, hex[*p >> 4]);
			buf_addch(b, hex[*p & 15]);
		}
	}
	if (collection && (!b->len || b->ptr[b->len - 1] != '/'))
		buf_addch(b, '/');
}

const char *dav_status_line(int code)
{
	switch (code) {
	case 200: return "HTTP/1.1 200 OK";
	case 201: return "HTTP/1.1 201 Created";
	case 204: return "HTTP/1.1 204 No Content";
	case 400: return "HTTP/1.1 400 Bad Request";
	case 403: return "HTTP/1.1 403 Forbidden";
	case 404: return "HTTP/1.1 404 Not Found";
	case 409: return "HTTP/1.1 409 Conflict";
	case 412: return "HTTP/1.1 412 Precondition Failed";
	case 423: return "HTTP/1.1 423 Locked";
	case 424: return "HTTP/1.1 424 Failed Dependency";
	case 507: return "HTTP/1.1 507 Insufficient Storage";
	default: return "HTTP/1.1 500 Internal Server Error";
	}
}

const char *dav_mime_type(const char *name)
{
	static const char *const map[][2] = {
		{ "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
		{ "txt", "text/plain; charset=utf-8" }, { "css", "text/css; charset=utf-8" },
		{ "js", "text/javascript; charset=utf-8" }, { "json", "application/json" },
		{ "xml", "text/xml; charset=utf-8" }, { "png", "image/png" },
		{ "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" }, { "gif", "image/gif" },
		{ "svg", "image/svg+xml" }, { "webp", "image/webp" }, { "ico", "image/x-icon" },
		{ "pdf", "application/pdf" }, { "zip", "application/zip" },
		{ "gz", "application/gzip" }, { "tar", "application/x-tar" },
		{ "mp4", "video/mp4" }, { "mp3", "audio/mpeg" }, { "wav", "audio/wav" },
		{ "csv", "text/csv; charset=utf-8" }, { "md", "text/markdown; charset=utf-8" },
		{ "wasm", "application/wasm" }, { "avif", "image/avif" },
	};
	const char *dot = strrchr(name, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < ARRAY_SIZE(map); i++)
			if (!strcasecmp(dot + 1, map[i][0]))
				return map[i][1];
	return "application/octet-stream";
}

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void dav_http_date(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int dav_parse_http_date(const char *s, int64_t *out)
{
	struct tm tm;
	const char *e;

	memset(&tm, 0, sizeof(tm));
	e = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!e || *e) {
		memset(&tm, 0, sizeof(tm));
		e = strptime(s, "%A, %d-%b-%y %H:%M:%S GMT", &tm);
	}
	if (!e || *e) {
		memset(&tm, 0, sizeof(tm));
		e = strptime(s, "%a %b %e %H:%M:%S %Y", &tm);
	}
	if (!e || *e)
		return -EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}
