/*
 * jsonstream: streaming JSON for metadata dumps (see jsonstream.h).
 *
 * Reader states: after '{' a key or '}' may come (S_KEY_OR_END); after a key
 * and its ':' a value (S_VALUE); after a member or element ',' or the closing
 * bracket (S_COMMA_OR_END); after '[' a value or ']' (S_VALUE_OR_END); after
 * ',' in an object a key (S_KEY). At the top level one value, then only
 * white space until the end of input.
 */
#include "meta/jsonstream.h"

#define WBUF (64U << 10)
#define RBUF (64U << 10)

enum { S_VALUE, S_VALUE_OR_END, S_KEY, S_KEY_OR_END, S_COMMA_OR_END };

/* ---------------------------------------------------------------- writer */

void meta_jsw_init(struct meta_jsw *w, meta_js_write_fn fn, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	w->size = WBUF;
	w->buf = xmalloc(w->size);
}

void meta_jsw_release(struct meta_jsw *w)
{
	if (!w)
		return;
	free(w->buf);
	w->buf = NULL;
}

int meta_jsw_flush(struct meta_jsw *w)
{
	size_t off = 0;

	while (!w->err && off < w->len) {
		ssize_t n = w->fn(w->arg, w->buf + off, w->len - off);
		if (n < 0)
			w->err = (int)n;
		else if (n == 0)
			w->err = -EIO;
		else
			off += (size_t)n;
	}
	w->total += off;
	w->len = 0;
	return w->err;
}

void meta_jsw_raw(struct meta_jsw *w, const void *p, size_t n)
{
	const char *s = p;

	while (n && !w->err) {
		size_t k = MIN(n, w->size - w->len);
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == w->size)
			meta_jsw_flush(w);
	}
}

void meta_jsw_puts(struct meta_jsw *w, const char *s)
{
	meta_jsw_raw(w, s, strlen(s));
}

void meta_jsw_printf(struct meta_jsw *w, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		meta_jsw_raw(w, small, (size_t)n);
		return;
	}
	struct buf b = BUF_INIT;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	meta_jsw_raw(w, b.ptr, b.len);
	buf_release(&b);
}

void meta_jsw_indent(struct meta_jsw *w, int depth)
{
	static const char sp[] = "\n                                ";

	meta_jsw_raw(w, "\n", 1);
	for (int n = depth * 2; n > 0;) {
		int k = MIN(n, (int)sizeof(sp) - 2);
		meta_jsw_raw(w, sp + 1, (size_t)k);
		n -= k;
	}
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

void meta_jsw_str(struct meta_jsw *w, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i = 0, start = 0;
	char esc[8];

	meta_jsw_raw(w, "\"", 1);
	while (i < n) {
		unsigned c = s[i];
		size_t k;
		const char *rep = NULL;
		size_t replen = 0;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' &&
		    c != '&') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			k = utf8_seq(s + i, n - i);
			if (k == 3 && c == 0xE2 && s[i + 1] == 0x80 &&
			    (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
				rep = s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
				replen = 6;
			} else if (k) {
				i += k;
				continue;
			} else {
				rep = "\\ufffd";
				replen = 6;
				k = 1;
			}
		} else {
			k = 1;
			switch (c) {
			case '"': rep = "\\\""; replen = 2; break;
			case '\\': rep = "\\\\"; replen = 2; break;
			case '\n': rep = "\\n"; replen = 2; break;
			case '\r': rep = "\\r"; replen = 2; break;
			case '\t': rep = "\\t"; replen = 2; break;
			default:
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				rep = esc;
				replen = 6;
			}
		}
		meta_jsw_raw(w, s + start, i - start);
		meta_jsw_raw(w, rep, replen);
		i += k;
		start = i;
	}
	meta_jsw_raw(w, s + start, i - start);
	meta_jsw_raw(w, "\"", 1);
}

void meta_js_pct_escape(struct buf *out, const void *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = p;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k = utf8_seq(s + i, n - i);

		/* U+FFFD itself is escaped too, byte by byte, so it cannot be mistaken. */
		if (k == 3 && c == 0xEF && s[i + 1] == 0xBF && s[i + 2] == 0xBD) {
			for (int j = 0; j < 3; j++) {
				buf_addch(out, '%');
				buf_addch(out, hex[s[i + j] >> 4]);
				buf_addch(out, hex[s[i + j] & 15]);
			}
			i += 3;
			continue;
		}
		if (k > 1) {
			buf_add(out, s + i, k);
			i += k;
			continue;
		}
		if (k == 1 && c > 0x20 && c != '%' && c != '"' && c != '\\') {
			buf_addch(out, (char)c);
			i++;
			continue;
		}
		/* invalid UTF-8 (k == 0) or a byte that must be escaped */
		buf_addch(out, '%');
		buf_addch(out, hex[c >> 4]);
		buf_addch(out, hex[c & 15]);
		i++;
	}
}

static int uhex(unsigned c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}

void meta_js_pct_unescape(struct buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];
		if (c == '%' && i + 2 < n) {
			int h = uhex(s[i + 1]), l = uhex(s[i + 2]);
			if (h >= 0 && l >= 0) {
				c = (unsigned)(h * 16 + l);
				i += 2;
			}
		}
		buf_addch(out, (char)c);
	}
}

/* ---------------------------------------------------------------- reader */

void meta_jsr_init(struct meta_jsr *r, meta_js_read_fn fn, void *arg)
{
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
	r->buf = xmalloc(RBUF);
	r->line = 1;
	r->tok_line = 1;
	buf_init(&r->str, META_JS_MAX_STRING);
	r->stack = xmalloc(META_JS_MAX_DEPTH);
	r->state = S_VALUE;
}

void meta_jsr_init_mem(struct meta_jsr *r, const char *p, size_t n)
{
	meta_jsr_init(r, NULL, NULL);
	free(r->buf);
	r->buf = (unsigned char *)p;
	r->end = n;
	r->at_eof = 1;
	r->mem = 1;
}

void meta_jsr_release(struct meta_jsr *r)
{
	if (!r)
		return;
	if (!r->mem)
		free(r->buf);
	free(r->stack);
	buf_release(&r->str);
	r->buf = NULL;
	r->stack = NULL;
}

static int vfail_at(struct meta_jsr *r, uint64_t line, uint64_t off, const char *fmt, va_list ap)
{
	if (r->error)
		return r->error;
	int n = snprintf(r->err, sizeof(r->err), "line %llu, byte %llu: ",
			 (unsigned long long)line, (unsigned long long)off);
	if (n > 0 && (size_t)n < sizeof(r->err))
		vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	r->error = -EINVAL;
	return r->error;
}

int meta_jsr_fail(struct meta_jsr *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = vfail_at(r, r->tok_line, r->tok_off, fmt, ap);
	va_end(ap);
	return ret;
}

/* Error at the current read position (not the last token's). */
static int fail_here(struct meta_jsr *r, const char *fmt, ...) JFS_PRINTF(2, 3);
static int fail_here(struct meta_jsr *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = vfail_at(r, r->line, r->base + r->pos, fmt, ap);
	va_end(ap);
	return ret;
}

/* Make at least one byte available: 1, 0 at the end of input, or -errno. */
static int fill(struct meta_jsr *r)
{
	if (r->pos < r->end)
		return 1;
	if (r->at_eof)
		return 0;
	r->base += r->end;
	r->pos = r->end = 0;
	for (;;) {
		ssize_t n = r->fn(r->arg, r->buf, RBUF);
		if (n < 0) {
			if (!r->error) {
				snprintf(r->err, sizeof(r->err), "line %llu, byte %llu: read: %s",
					 (unsigned long long)r->line, (unsigned long long)r->base,
					 strerror((int)-n));
				r->error = (int)n;
			}
			return (int)n;
		}
		if (n == 0) {
			r->at_eof = 1;
			return 0;
		}
		r->end = (size_t)n;
		return 1;
	}
}

static int peekc(struct meta_jsr *r)
{
	int f = fill(r);
	if (f <= 0)
		return f == 0 ? -1 : -2;
	return r->buf[r->pos];
}

static void skip_ws(struct meta_jsr *r)
{
	for (;;) {
		int c = peekc(r);
		if (c == '\n')
			r->line++;
		else if (c != ' ' && c != '\t' && c != '\r')
			return;
		r->pos++;
	}
}

static int hex4(struct meta_jsr *r, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int c = peekc(r);
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return c == -1 ? fail_here(r, "unexpected end of input in a string") :
					 fail_here(r, "bad \\u escape in a string");
		*v = (*v << 4) | (uint32_t)d;
		r->pos++;
	}
	return 0;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_add(b, u, n);
}

/*
 * The opening quote is consumed. A \uD8xx high surrogate waits in `hi` for
 * the low half that should follow; anything else in its place makes it
 * U+FFFD (as Go's decoder does), so nothing ever has to be read again.
 */
static int read_string(struct meta_jsr *r)
{
	uint32_t hi = 0;

	buf_reset(&r->str);
	for (;;) {
		if (fill(r) <= 0)
			return r->error ? r->error :
					  fail_here(r, "unexpected end of input in a string");
		int c = r->buf[r->pos];
		if (hi && c != '\\') {
			put_utf8(&r->str, 0xFFFD);
			hi = 0;
		}
		/* copy a run of plain bytes at once */
		size_t i = r->pos;
		while (i < r->end && r->buf[i] != '"' && r->buf[i] != '\\' && r->buf[i] >= 0x20)
			i++;
		if (i > r->pos) {
			if (buf_add(&r->str, r->buf + r->pos, i - r->pos))
				return fail_here(r, "string longer than %u bytes",
						 META_JS_MAX_STRING);
			r->pos = i;
			continue;
		}
		if (c == '"') {
			r->pos++;
			return 0;
		}
		if (c < 0x20)
			return fail_here(r, "control character in a string");
		r->pos++; /* backslash */
		c = peekc(r);
		if (c < 0)
			return r->error ? r->error :
					  fail_here(r, "unexpected end of input in a string");
		r->pos++;
		uint32_t cp;
		int rc = 0;
		if (hi && c != 'u') {
			put_utf8(&r->str, 0xFFFD);
			hi = 0;
		}
		switch (c) {
		case '"': rc = buf_addch(&r->str, '"'); break;
		case '\\': rc = buf_addch(&r->str, '\\'); break;
		case '/': rc = buf_addch(&r->str, '/'); break;
		case 'b': rc = buf_addch(&r->str, '\b'); break;
		case 'f': rc = buf_addch(&r->str, '\f'); break;
		case 'n': rc = buf_addch(&r->str, '\n'); break;
		case 'r': rc = buf_addch(&r->str, '\r'); break;
		case 't': rc = buf_addch(&r->str, '\t'); break;
		case 'u':
			if (hex4(r, &cp))
				return r->error;
			if (hi && cp >= 0xDC00 && cp < 0xE000) {
				cp = 0x10000 + ((hi - 0xD800) << 10) + (cp - 0xDC00);
				hi = 0;
			} else {
				if (hi)
					put_utf8(&r->str, 0xFFFD);
				hi = 0;
				if (cp >= 0xD800 && cp < 0xDC00) {
					hi = cp;
					break;
				}
				if (cp >= 0xDC00 && cp < 0xE000)
					cp = 0xFFFD;
			}
			put_utf8(&r->str, cp);
			rc = r->str.len > META_JS_MAX_STRING ? -E2BIG : 0;
			break;
		default:
			return fail_here(r, "bad escape '\\%c' in a string", c);
		}
		if (rc)
			return fail_here(r, "string longer than %u bytes", META_JS_MAX_STRING);
	}
}

static int read_number(struct meta_jsr *r)
{
	buf_reset(&r->str);
	for (;;) {
		int c = peekc(r);
		if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
		      c == 'E'))
			break;
		if (r->str.len > 64)
			return fail_here(r, "number too long");
		buf_addch(&r->str, (char)c);
		r->pos++;
	}
	/* JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	const char *s = r->str.ptr;
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		goto bad;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			goto bad;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			goto bad;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s)
		goto bad;
	return 0;
bad:
	return meta_jsr_fail(r, "malformed number '%s'", r->str.ptr);
}

static int literal(struct meta_jsr *r, const char *word)
{
	for (const char *p = word; *p; p++) {
		int c = peekc(r);
		if (c != *p)
			return c == -1 ? fail_here(r, "unexpected end of input") :
					 meta_jsr_fail(r, "invalid literal (expected '%s')", word);
		r->pos++;
	}
	return 0;
}

const char *meta_js_tok_name(int tok)
{
	switch (tok) {
	case META_JS_EOF: return "end of input";
	case META_JS_OBJ: return "'{'";
	case META_JS_OBJ_END: return "'}'";
	case META_JS_ARR: return "'['";
	case META_JS_ARR_END: return "']'";
	case META_JS_KEY: return "key";
	case META_JS_STRING: return "string";
	case META_JS_NUMBER: return "number";
	case META_JS_TRUE: return "true";
	case META_JS_FALSE: return "false";
	case META_JS_NULL: return "null";
	}
	return "token";
}

/* A value is complete: what may come next depends on the container. */
static void value_done(struct meta_jsr *r)
{
	if (!r->depth)
		r->done = 1;
	else
		r->state = S_COMMA_OR_END;
}

int meta_jsr_next(struct meta_jsr *r, int *tok)
{
	int c;

	if (r->error)
		return r->error;
again:
	skip_ws(r);
	if (r->error)
		return r->error;
	r->tok_off = r->base + r->pos;
	r->tok_line = r->line;
	c = peekc(r);
	if (r->done) {
		if (c == -1) {
			*tok = META_JS_EOF;
			return 0;
		}
		return c == -2 ? r->error : meta_jsr_fail(r, "unexpected data after the end of the document");
	}
	if (c == -1)
		return fail_here(r, r->base + r->pos == 0 ? "empty input (no JSON document)" :
							   "unexpected end of input (truncated?)");
	if (c == -2)
		return r->error;

	switch (r->state) {
	case S_COMMA_OR_END: {
		uint8_t top = r->stack[r->depth - 1];
		if (c == ',') {
			r->pos++;
			r->state = top == 'o' ? S_KEY : S_VALUE;
			goto again;
		}
		if ((top == 'o' && c == '}') || (top == 'a' && c == ']')) {
			r->pos++;
			r->depth--;
			*tok = top == 'o' ? META_JS_OBJ_END : META_JS_ARR_END;
			value_done(r);
			return 0;
		}
		return meta_jsr_fail(r, "expected ',' or '%c', found '%c'", top == 'o' ? '}' : ']',
				     c);
	}
	case S_KEY:
	case S_KEY_OR_END:
		if (c == '}' && r->state == S_KEY_OR_END) {
			r->pos++;
			r->depth--;
			*tok = META_JS_OBJ_END;
			value_done(r);
			return 0;
		}
		if (c != '"')
			return meta_jsr_fail(r, "expected an object key, found '%c'", c);
		r->pos++;
		if (read_string(r))
			return r->error;
		skip_ws(r);
		if (peekc(r) != ':')
			return r->error ? r->error : fail_here(r, "expected ':' after an object key");
		r->pos++;
		r->state = S_VALUE;
		*tok = META_JS_KEY;
		return 0;
	case S_VALUE_OR_END:
		if (c == ']') {
			r->pos++;
			r->depth--;
			*tok = META_JS_ARR_END;
			value_done(r);
			return 0;
		}
		/* fall through */
	case S_VALUE:
		break;
	}
	switch (c) {
	case '{':
	case '[':
		if (r->depth >= META_JS_MAX_DEPTH)
			return meta_jsr_fail(r, "nesting deeper than %d", META_JS_MAX_DEPTH);
		r->pos++;
		r->stack[r->depth++] = c == '{' ? 'o' : 'a';
		r->state = c == '{' ? S_KEY_OR_END : S_VALUE_OR_END;
		*tok = c == '{' ? META_JS_OBJ : META_JS_ARR;
		return 0;
	case '"':
		r->pos++;
		if (read_string(r))
			return r->error;
		*tok = META_JS_STRING;
		break;
	case 't':
		if (literal(r, "true"))
			return r->error;
		*tok = META_JS_TRUE;
		break;
	case 'f':
		if (literal(r, "false"))
			return r->error;
		*tok = META_JS_FALSE;
		break;
	case 'n':
		if (literal(r, "null"))
			return r->error;
		*tok = META_JS_NULL;
		break;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			if (read_number(r))
				return r->error;
			*tok = META_JS_NUMBER;
			break;
		}
		return meta_jsr_fail(r, "unexpected character '%c'", c);
	}
	value_done(r);
	return 0;
}

int meta_jsr_skip(struct meta_jsr *r, int tok)
{
	int depth = 0;

	for (;;) {
		if (tok == META_JS_OBJ || tok == META_JS_ARR)
			depth++;
		else if (tok == META_JS_OBJ_END || tok == META_JS_ARR_END)
			depth--;
		if (depth <= 0 && tok != META_JS_KEY)
			return 0;
		if (meta_jsr_next(r, &tok))
			return r->error;
	}
}

int meta_jsr_u64(struct meta_jsr *r, uint64_t *v)
{
	const char *s = r->str.ptr;
	uint64_t x = 0;

	if (!*s || *s == '-')
		return meta_jsr_fail(r, "expected an unsigned integer, found %s", s);
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return meta_jsr_fail(r, "expected an integer, found %s", r->str.ptr);
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return meta_jsr_fail(r, "integer %s out of range", r->str.ptr);
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

int meta_jsr_i64(struct meta_jsr *r, int64_t *v)
{
	const char *s = r->str.ptr;
	int neg = *s == '-';
	uint64_t x = 0;

	if (neg)
		s++;
	if (!*s)
		return meta_jsr_fail(r, "expected an integer");
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return meta_jsr_fail(r, "expected an integer, found %s", r->str.ptr);
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return meta_jsr_fail(r, "integer %s out of range", r->str.ptr);
		x = x * 10 + (uint64_t)(*s - '0');
	}
	if (x > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return meta_jsr_fail(r, "integer %s out of range", r->str.ptr);
	*v = neg ? (int64_t)(0 - x) : (int64_t)x;
	return 0;
}

int meta_jsr_copy(struct meta_jsr *r, int tok, struct meta_jsw *w, int depth)
{
	int n = 0;

	switch (tok) {
	case META_JS_OBJ:
	case META_JS_ARR: {
		int end = tok == META_JS_OBJ ? META_JS_OBJ_END : META_JS_ARR_END;
		meta_jsw_raw(w, tok == META_JS_OBJ ? "{" : "[", 1);
		for (;;) {
			if (meta_jsr_next(r, &tok))
				return r->error;
			if (tok == end)
				break;
			if (n++)
				meta_jsw_raw(w, ",", 1);
			meta_jsw_indent(w, depth + 1);
			if (tok == META_JS_KEY) {
				meta_jsw_str(w, r->str.ptr, r->str.len);
				meta_jsw_raw(w, ": ", 2);
				if (meta_jsr_next(r, &tok))
					return r->error;
			}
			if (meta_jsr_copy(r, tok, w, depth + 1))
				return r->error;
		}
		if (n)
			meta_jsw_indent(w, depth);
		meta_jsw_raw(w, end == META_JS_OBJ_END ? "}" : "]", 1);
		return 0;
	}
	case META_JS_STRING:
		meta_jsw_str(w, r->str.ptr, r->str.len);
		return 0;
	case META_JS_NUMBER:
		meta_jsw_raw(w, r->str.ptr, r->str.len);
		return 0;
	case META_JS_TRUE:
		meta_jsw_puts(w, "true");
		return 0;
	case META_JS_FALSE:
		meta_jsw_puts(w, "false");
		return 0;
	case META_JS_NULL:
		meta_jsw_puts(w, "null");
		return 0;
	}
	return meta_jsr_fail(r, "unexpected %s", meta_js_tok_name(tok));
}
