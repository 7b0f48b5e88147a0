/* Growable capped string buffer and allocation helpers (see base.h). */
#include "base.h"

char buf_empty[1];

JFS_NORETURN void jfs_die(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "juicefs: fatal at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		jfs_die(__FILE__, __LINE__, "out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		jfs_die(__FILE__, __LINE__, "out of memory allocating %zu x %zu", n, m);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		jfs_die(__FILE__, __LINE__, "out of memory reallocating %zu bytes", n);
	return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
	size_t l = strnlen(s, n);
	char *p = xmalloc(l + 1);
	memcpy(p, s, l);
	p[l] = 0;
	return p;
}

void *xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	((char *)q)[n] = 0;
	return q;
}

char *xasprintf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b, NULL);
}

void buf_init(struct buf *b, size_t cap)
{
	b->ptr = buf_empty;
	b->len = b->alloc = 0;
	b->cap = cap;
}

void buf_release(struct buf *b)
{
	if (!b)
		return;
	if (b->alloc)
		free(b->ptr);
	buf_init(b, b->cap);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->ptr[0] = 0;
}

int buf_grow(struct buf *b, size_t extra)
{
	size_t want;
	if (extra > SIZE_MAX - b->len - 1)
		return -E2BIG;
	want = b->len + extra + 1;
	if (b->cap && b->len + extra > b->cap)
		return -E2BIG;
	if (want <= b->alloc)
		return 0;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < want)
		n = n > SIZE_MAX / 2 ? want : n * 2;
	if (b->cap && n > b->cap + 1)
		n = MAX(want, b->cap + 1);
	char *p = realloc(b->alloc ? b->ptr : NULL, n);
	if (!p)
		return -ENOMEM;
	if (!b->alloc)
		p[0] = 0;
	b->ptr = p;
	b->alloc = n;
	return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	int r = buf_grow(b, n);
	if (r)
		return r;
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = 0;
	return 0;
}

int buf_adds(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }
int buf_addch(struct buf *b, char c) { return buf_add(b, &c, 1); }

int buf_add_u64(struct buf *b, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_add(b, d + i, sizeof(d) - i);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	char tmp[256];
	va_copy(cp, ap);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, cp);
	va_end(cp);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(tmp))
		return buf_add(b, tmp, (size_t)n);
	int r = buf_grow(b, (size_t)n);
	if (r)
		return r;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->alloc ? b->ptr : xstrdup("");
	if (len)
		*len = b->len;
	buf_init(b, b->cap);
	return p;
}
