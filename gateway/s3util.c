/*
 * gateway/s3util.c: the S3 gateway's text plumbing: the error table, URI
 * encoding as SigV4 defines it, dates, the Range header, query strings and
 * the three XML request bodies (parsed with libxml2, never with entity
 * substitution or network access, and only after the caller capped the size).
 */
#include "gateway/s3.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- errors */

static const struct {
	const char *code;
	int status;
	const char *msg;
} s3_errs[] = {
	{ "", 200, "" },
#define S3_ERR_ROW(n, s, m) { #n, s, m },
	S3_ERRORS(S3_ERR_ROW)
#undef S3_ERR_ROW
};

const char *s3_err_code(enum s3_err e)
{
	/* MinIO-only codes carry its prefix, as clients see them from the real gateway. */
	if (e == S3E_ObjectExistsAsDirectory)
		return "XMinioObjectExistsAsDirectory";
	if (e == S3E_ParentIsObject)
		return "XMinioParentIsObject";
	if (e == S3E_StorageFull)
		return "XMinioStorageFull";
	/*
	 * The real gateway (JuiceFS 1.4.2) answers a directory quota with
	 * MinIO's generic error and the errno as its cause: same code, status
	 * and message here.
	 */
	if (e == S3E_QuotaExceeded)
		return "InternalError";
	if (e == S3E_InvalidResourceName)
		return "XMinioInvalidResourceName";
	if (e == S3E_InvalidObjectName)
		return "XMinioInvalidObjectName";
	/* Same code as their base, another status or message, as AWS and MinIO send them. */
	if (e == S3E_UnsignedHeaders)
		return "AccessDenied";
	if (e == S3E_InvalidTagDuplicate)
		return "InvalidTag";
	return s3_errs[e].code;
}

int s3_err_status(enum s3_err e) { return s3_errs[e].status; }
const char *s3_err_message(enum s3_err e) { return s3_errs[e].msg; }

enum s3_err s3_err_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return S3E_OK;
	case ENOENT:
		return S3E_NoSuchKey;
	case EACCES:
	case EPERM:
	case EROFS:
	case EXDEV: /* a symlink that leads out of the bucket (fs_resolve_at) */
		return S3E_AccessDenied;
	case ENAMETOOLONG:
		return S3E_KeyTooLongError;
	case ENOTDIR:
		return S3E_ParentIsObject;
	case EISDIR:
	case ENOTEMPTY:
	case EEXIST:
		return S3E_ObjectExistsAsDirectory;
	case ENOSPC:
		return S3E_StorageFull;
	case EDQUOT:
		return S3E_QuotaExceeded;
	case EFBIG:
		return S3E_EntityTooLarge;
	case EINVAL:
		return S3E_InvalidArgument;
	default:
		return S3E_InternalError;
	}
}

/* ---------------------------------------------------------------- names */

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Is the segment [p, p+n) "." or ".." once blanks around it are trimmed? */
static int dot_segment(const char *p, size_t n)
{
	while (n && blank(*p))
		p++, n--;
	while (n && blank(p[n - 1]))
		n--;
	return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

int s3_bad_component(const char *s)
{
	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (dot_segment(s, n))
			return 1;
		if (!e)
			return 0;
		s = e + 1;
	}
}

static int internal_folder(const char *p, size_t l)
{
	return (l == 4 && !memcmp(p, ".sys", 4)) || (l == 6 && !memcmp(p, ".trash", 6)) ||
	       (l == 10 && !memcmp(p, ".minio.sys", 10));
}

enum s3_err s3_name_path(const char *bucket_root, const char *name, unsigned flags,
			 struct buf *out)
{
	const char *p = name;
	size_t n = strlen(name);

	buf_reset(out);
	if (!n && !(flags & S3_NAME_PREFIX))
		return S3E_InvalidArgument;
	if (n > 1024)
		return S3E_KeyTooLongError;
	if (name[0] == '/')
		return S3E_InvalidObjectName;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (dot_segment(p, l))
			return S3E_InvalidResourceName;
		/* Only the end may be empty: "dir/" is a directory object or prefix. */
		if (!l && e)
			return S3E_InvalidObjectName;
		if (l > 255)
			return S3E_KeyTooLongError;
		if (p == name && !*bucket_root && internal_folder(p, l))
			return S3E_AccessDenied;
		if (!e)
			break;
		p = e + 1;
	}
	if (!(flags & S3_NAME_PREFIX))
		while (n && name[n - 1] == '/')
			n--;
	buf_adds(out, bucket_root);
	buf_addch(out, '/');
	buf_add(out, name, n);
	return S3E_OK;
}

int s3_valid_bucket_name(const char *b)
{
	size_t n = strlen(b), dots = 0;
	int all_num = 1;

	if (n < 3 || n > 63)
		return 0;
	if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      c == '.'))
			return 0;
		if (c == '.') {
			char nx = b[i + 1];

			if (nx == '.' || nx == '-' || (i && b[i - 1] == '-'))
				return 0;
			dots++;
		} else if (!isdigit((unsigned char)c)) {
			all_num = 0;
		}
	}
	return !(all_num && dots == 3); /* 192.168.1.1 */
}

/* ---------------------------------------------------------------- encoding */

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

void s3_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n;) {
		size_t run = i;

		/* Runs kept as they are go in one copy (listings encode every key). */
		while (i < n && (unreserved((unsigned char)s[i]) || (keep_slash && s[i] == '/')))
			i++;
		if (i > run)
			buf_add(out, s + run, i - run);
		if (i < n) {
			unsigned char c = (unsigned char)s[i++];
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			buf_add(out, e, 3);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int s3_uri_decode(struct buf *out, const char *s, size_t n, int plus)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= n)
				return -EINVAL;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (!c)
			return -EINVAL;
		buf_addch(out, c);
	}
	return 0;
}

/*
 * Bytes that go out as they are: printable ASCII but for the five markup
 * characters. A listing page escapes a few thousand names and values that are
 * almost always all plain: they are copied in runs, one buf_add a run, and
 * only the other bytes take the slow path below.
 */
static inline int xml_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '<' && c != '>' && c != '&' && c != '"' && c != '\'';
}

void s3_xml_escape(struct buf *out, const char *s)
{
	for (;;) {
		const char *run = s;

		while (xml_plain((unsigned char)*s))
			s++;
		if (s > run)
			buf_add(out, run, (size_t)(s - run));
		if (!*s)
			return;
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '<':
			buf_add(out, "&lt;", 4);
			break;
		case '>':
			buf_add(out, "&gt;", 4);
			break;
		case '&':
			buf_add(out, "&amp;", 5);
			break;
		case '"':
			buf_add(out, "&quot;", 6);
			break;
		case '\'':
			buf_add(out, "&apos;", 6);
			break;
		default: {
			/*
			 * A key is bytes (a GBK name made through a mount): what
			 * is not XML 1.0 text (invalid UTF-8; controls, which not
			 * even &#x1; may carry) becomes U+FFFD, one per byte, as
			 * the real gateway's encoder does, so the document stays
			 * well-formed; encoding-type=url keeps the exact bytes.
			 */
			size_t n = utf8_xml_char_len(s);

			if (!n) {
				buf_adds(out, UTF8_REPLACEMENT);
				break;
			}
			buf_add(out, s, n);
			s += n - 1;
		}
		}
		s++;
	}
}

/* ---------------------------------------------------------------- dates */

void s3_http_date(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	gmtime_r(&tt, &tm);
	snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
		 mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Two digits of v at p. */
static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* By hand, not snprintf: a listing page formats one date per key. */
void s3_iso_date(int64_t t, uint32_t nsec, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char d[25];
	unsigned y, ms = (unsigned)(nsec / 1000000);

	gmtime_r(&tt, &tm);
	y = (unsigned)(tm.tm_year + 1900);
	if (!n)
		return;
	if (tm.tm_year + 1900 < 0 || y > 9999) {
		snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
		return;
	}
	put2(d, y / 100);
	put2(d + 2, y % 100);
	d[4] = '-';
	put2(d + 5, (unsigned)tm.tm_mon + 1);
	d[7] = '-';
	put2(d + 8, (unsigned)tm.tm_mday);
	d[10] = 'T';
	put2(d + 11, (unsigned)tm.tm_hour);
	d[13] = ':';
	put2(d + 14, (unsigned)tm.tm_min);
	d[16] = ':';
	put2(d + 17, (unsigned)tm.tm_sec);
	d[19] = '.';
	d[20] = (char)('0' + ms / 100 % 10);
	put2(d + 21, ms % 100);
	d[23] = 'Z';
	d[24] = 0;
	memcpy(out, d, MIN(n - 1, sizeof(d) - 1));
	out[MIN(n - 1, sizeof(d) - 1)] = 0;
}

int s3_parse_http_date(const char *s, int64_t *t)
{
	static const char *fmts[] = { "%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
				      "%a %b %e %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%SZ",
				      "%Y-%m-%dT%H:%M:%S.000Z" };

	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		struct tm tm;
		const char *e;

		memset(&tm, 0, sizeof(tm));
		e = strptime(s, fmts[i], &tm);
		if (e && !*e) {
			*t = (int64_t)timegm(&tm);
			return 0;
		}
	}
	return -EINVAL;
}

int s3_parse_amz_date(const char *s, int64_t *t)
{
	struct tm tm;
	const char *e;

	if (strlen(s) != 16)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	e = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	if (!e || *e)
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}

/* ---------------------------------------------------------------- range */

static int parse_num(const char *s, size_t n, uint64_t *v)
{
	char tmp[24];

	if (!n || n >= sizeof(tmp))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return parse_u64(tmp, v);
}

int s3_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *spec, *dash;
	uint64_t a, b;

	if (!h)
		return 1;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "bytes=", 6))
		return 1;
	spec = h + 6;
	while (*spec == ' ')
		spec++;
	if (strchr(spec, ','))
		return 1;
	dash = strchr(spec, '-');
	if (!dash)
		return 1;
	if (dash == spec) { /* suffix: last N bytes */
		if (parse_num(dash + 1, strlen(dash + 1), &b))
			return 1;
		if (!b)
			return -ERANGE;
		if (!size)
			return -ERANGE;
		*len = MIN(b, size);
		*start = size - *len;
		return 0;
	}
	if (parse_num(spec, (size_t)(dash - spec), &a))
		return 1;
	if (!dash[1]) {
		b = UINT64_MAX;
	} else {
		if (parse_num(dash + 1, strlen(dash + 1), &b))
			return 1;
		if (b < a)
			return 1;
	}
	if (a >= size)
		return -ERANGE;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return 0;
}

/* ---------------------------------------------------------------- query */

int s3_query_parse(const char *raw, struct s3_query *q)
{
	const char *p = raw;

	q->p = NULL;
	q->n = 0;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		struct buf name = BUF_INIT, val = BUF_INIT;
		struct s3_qpair *qp;

		if (n) {
			size_t nl = eq ? (size_t)(eq - p) : n;

			if (s3_uri_decode(&name, p, nl, 1) ||
			    (eq && s3_uri_decode(&val, eq + 1, n - nl - 1, 1))) {
				buf_release(&name);
				buf_release(&val);
				s3_query_free(q);
				return -EINVAL;
			}
			q->p = xrealloc(q->p, (q->n + 1) * sizeof(*q->p));
			qp = &q->p[q->n++];
			qp->name = buf_detach(&name, NULL);
			qp->value = buf_detach(&val, NULL);
			qp->has_value = eq != NULL;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

void s3_query_free(struct s3_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->p[i].name);
		free(q->p[i].value);
	}
	free(q->p);
	q->p = NULL;
	q->n = 0;
}

const char *s3_query_get(const struct s3_query *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (!strcmp(q->p[i].name, name))
			return q->p[i].value;
	return NULL;
}

int s3_query_has(const struct s3_query *q, const char *name)
{
	return s3_query_get(q, name) != NULL;
}

/* ---------------------------------------------------------------- XML */

/*
 * No XML_PARSE_NOENT (substitution) or XML_PARSE_DTDLOAD, and a document that
 * has a DTD at all is refused: S3 bodies never carry one, and the entities it
 * may define (xmlNodeGetContent would expand internal ones) are how a body
 * smuggles text past a check or blows up in size (AWS answers MalformedXML).
 */
static xmlDocPtr xml_read(const char *xml, size_t n)
{
	xmlDocPtr doc;

	if (!n || n > INT32_MAX)
		return NULL;
	doc = xmlReadMemory(xml, (int)n, "body.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int is_el(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* Text of an element, or NULL; caller frees with xmlFree. */
static char *el_text(xmlNodePtr n)
{
	return (char *)xmlNodeGetContent(n);
}

int s3_xml_complete(const char *xml, size_t n, struct s3_part_ref **parts, size_t *nparts)
{
	xmlDocPtr doc = xml_read(xml, n);
	xmlNodePtr root, c, d;
	int r = 0;

	*parts = NULL;
	*nparts = 0;
	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_el(root, "CompleteMultipartUpload")) {
		r = -EINVAL;
		goto out;
	}
	for (c = root->children; c; c = c->next) {
		struct s3_part_ref pr = { 0 };
		int have_num = 0;

		if (!is_el(c, "Part"))
			continue;
		for (d = c->children; d; d = d->next) {
			char *t;

			if (is_el(d, "PartNumber")) {
				t = el_text(d);
				if (!t || parse_int(t, &pr.number)) {
					xmlFree(t);
					r = -EINVAL;
					goto out;
				}
				xmlFree(t);
				have_num = 1;
			} else if (is_el(d, "ETag")) {
				const char *e;
				size_t l;

				t = el_text(d);
				e = t ? t : "";
				while (*e == ' ' || *e == '"')
					e++;
				l = strlen(e);
				while (l && (e[l - 1] == '"' || e[l - 1] == ' '))
					l--;
				snprintf(pr.etag, sizeof(pr.etag), "%.*s", (int)MIN(l, 79), e);
				xmlFree(t);
			}
		}
		if (!have_num) {
			r = -EINVAL;
			goto out;
		}
		*parts = xrealloc(*parts, (*nparts + 1) * sizeof(**parts));
		(*parts)[(*nparts)++] = pr;
	}
	if (!*nparts)
		r = -EINVAL;
out:
	if (r) {
		free(*parts);
		*parts = NULL;
		*nparts = 0;
	}
	xmlFreeDoc(doc);
	return r;
}

int s3_xml_delete(const char *xml, size_t n, char ***keys, size_t *nkeys, int *quiet)
{
	xmlDocPtr doc = xml_read(xml, n);
	xmlNodePtr root, c, d;
	int r = 0;

	*keys = NULL;
	*nkeys = 0;
	*quiet = 0;
	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_el(root, "Delete")) {
		r = -EINVAL;
		goto out;
	}
	for (c = root->children; c; c = c->next) {
		if (is_el(c, "Quiet")) {
			char *t = el_text(c);

			*quiet = t && !strcasecmp(t, "true");
			xmlFree(t);
		} else if (is_el(c, "Object")) {
			char *key = NULL;

			for (d = c->children; d; d = d->next) {
				if (is_el(d, "Key")) {
					char *t = el_text(d);

					free(key);
					key = xstrdup(t ? t : "");
					xmlFree(t);
				}
			}
			if (!key) {
				r = -EINVAL;
				goto out;
			}
			if (*nkeys >= 1000) {
				free(key);
				r = -EINVAL;
				goto out;
			}
			*keys = xrealloc(*keys, (*nkeys + 1) * sizeof(**keys));
			(*keys)[(*nkeys)++] = key;
		}
	}
	if (!*nkeys)
		r = -EINVAL;
out:
	if (r) {
		for (size_t i = 0; i < *nkeys; i++)
			free((*keys)[i]);
		free(*keys);
		*keys = NULL;
		*nkeys = 0;
	}
	xmlFreeDoc(doc);
	return r;
}

int s3_xml_tagging(const char *xml, size_t n, struct buf *out)
{
	xmlDocPtr doc = xml_read(xml, n);
	xmlNodePtr root, set, t, d;
	int r = 0, ntags = 0;
	struct s3_query seen = { 0 };

	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_el(root, "Tagging")) {
		r = -EINVAL;
		goto out;
	}
	for (set = root->children; set; set = set->next) {
		if (!is_el(set, "TagSet"))
			continue;
		for (t = set->children; t; t = t->next) {
			char *k = NULL, *v = NULL;

			if (!is_el(t, "Tag"))
				continue;
			for (d = t->children; d; d = d->next) {
				if (is_el(d, "Key")) {
					xmlFree(k);
					k = el_text(d);
				} else if (is_el(d, "Value")) {
					xmlFree(v);
					v = el_text(d);
				}
			}
			if (!k) {
				xmlFree(v);
				r = -EINVAL;
				goto out;
			}
			if (!*k || strlen(k) > 128 || (v && strlen(v) > 256) || ++ntags > 10) {
				xmlFree(k);
				xmlFree(v);
				r = -E2BIG;
				goto out;
			}
			if (s3_query_get(&seen, k)) {
				xmlFree(k);
				xmlFree(v);
				r = -EEXIST;
				goto out;
			}
			seen.p = xrealloc(seen.p, (seen.n + 1) * sizeof(*seen.p));
			seen.p[seen.n].name = xstrdup(k);
			seen.p[seen.n].value = xstrdup("");
			seen.p[seen.n++].has_value = 1;
			if (out->len)
				buf_addch(out, '&');
			s3_uri_encode(out, k, strlen(k), 0);
			buf_addch(out, '=');
			if (v)
				s3_uri_encode(out, v, strlen(v), 0);
			xmlFree(k);
			xmlFree(v);
		}
	}
out:
	s3_query_free(&seen);
	xmlFreeDoc(doc);
	return r;
}

int s3_xml_create_bucket(const char *xml, size_t n)
{
	xmlDocPtr doc;
	xmlNodePtr root, c;
	int r = 0;

	if (!n)
		return 0;
	doc = xml_read(xml, n);
	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_el(root, "CreateBucketConfiguration")) {
		r = -EINVAL;
		goto out;
	}
	for (c = root->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !is_el(c, "LocationConstraint") &&
		    !is_el(c, "Location") && !is_el(c, "Bucket"))
			r = -EINVAL;
out:
	xmlFreeDoc(doc);
	return r;
}
