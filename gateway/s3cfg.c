/*
 * gateway/s3cfg.c: per-bucket configuration documents as xattrs of the
 * bucket's root directory, and a small TTL cache of them (contract in
 * s3cfg.h).
 */
#include "gateway/s3cfg.h"

#include <pthread.h>

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return 0;
	}
	return 1;
}

/* The bucket directory's inode and the xattr name. */
static int locate(struct fs *fs, const char *root, const char *name, uint64_t *ino,
		  char xname[64])
{
	struct meta_attr a;
	int r;

	if (!name_ok(name))
		return -EINVAL;
	snprintf(xname, 64, "%s%s", S3CFG_XATTR_PREFIX, name);
	r = fs_resolve(fs, NULL, *root ? root : "/", ino, &a);
	if (r == -ENOTDIR || (!r && a.type != META_TYPE_DIRECTORY))
		return -ENOENT;
	return r;
}

int s3cfg_get(struct fs *fs, const char *root, const char *name, char **val, size_t *len)
{
	struct buf b = BUF_INIT;
	char xname[64];
	uint64_t ino;
	int r;

	*val = NULL;
	*len = 0;
	r = locate(fs, root, name, &ino, xname);
	if (!r)
		r = fs_getxattr(fs, NULL, ino, xname, &b);
	if (r == -ENODATA)
		r = -ENOENT;
	if (!r) {
		*len = b.len;
		*val = xmalloc(b.len + 1);
		memcpy(*val, b.ptr ? b.ptr : "", b.len);
		(*val)[b.len] = 0;
	}
	buf_release(&b);
	return r;
}

int s3cfg_put(struct fs *fs, const char *root, const char *name, const void *val, size_t len)
{
	char xname[64];
	uint64_t ino;
	int r;

	if (len > S3CFG_MAX_VALUE)
		return -E2BIG;
	r = locate(fs, root, name, &ino, xname);
	return r ? r : fs_setxattr(fs, NULL, ino, xname, val, len, 0);
}

int s3cfg_del(struct fs *fs, const char *root, const char *name)
{
	char xname[64];
	uint64_t ino;
	int r = locate(fs, root, name, &ino, xname);

	if (!r)
		r = fs_removexattr(fs, NULL, ino, xname);
	return r == -ENODATA ? -ENOENT : r;
}

/* ---------------------------------------------------------------- cache */

struct entry {
	struct entry *next;
	char *root, *name;
	int64_t read_ms;          /* monotonic time of the last volume read */
	struct s3cfg_snap *snap;  /* the cache's reference */
};

struct s3cfg_cache {
	struct fs *fs;
	int64_t ttl_ms;
	size_t cap, n;
	pthread_mutex_t mu;
	struct entry *head; /* most recently read first */
};

struct s3cfg_cache *s3cfg_cache_new(struct fs *fs, int64_t ttl_ms, size_t cap)
{
	struct s3cfg_cache *c = xcalloc(1, sizeof(*c));

	c->fs = fs;
	c->ttl_ms = ttl_ms;
	c->cap = cap ? cap : 1;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void s3cfg_snap_unref(struct s3cfg_snap *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (s->parsed && s->free_parsed)
		s->free_parsed(s->parsed);
	free(s->val);
	free(s);
}

static void entry_free(struct entry *e)
{
	s3cfg_snap_unref(e->snap);
	free(e->root);
	free(e->name);
	free(e);
}

void s3cfg_cache_free(struct s3cfg_cache *c)
{
	if (!c)
		return;
	while (c->head) {
		struct entry *e = c->head;

		c->head = e->next;
		entry_free(e);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The entry of (root, name), unlinked from the list; NULL when none. Locked. */
static struct entry *take(struct s3cfg_cache *c, const char *root, const char *name)
{
	for (struct entry **p = &c->head; *p; p = &(*p)->next) {
		struct entry *e = *p;

		if (!strcmp(e->root, root) && !strcmp(e->name, name)) {
			*p = e->next;
			c->n--;
			return e;
		}
	}
	return NULL;
}

/* Put e first, evicting the last entries over cap. Locked. */
static void push(struct s3cfg_cache *c, struct entry *e)
{
	e->next = c->head;
	c->head = e;
	if (++c->n <= c->cap)
		return;
	for (struct entry **p = &c->head; *p; p = &(*p)->next) {
		if (!(*p)->next) {
			entry_free(*p);
			*p = NULL;
			c->n--;
			break;
		}
	}
}

static void drop(struct s3cfg_cache *c, const char *root, const char *name);

static int cache_get(struct s3cfg_cache *c, const char *root, const char *name,
		     s3cfg_parse_fn parse, s3cfg_free_fn free_parsed, struct s3cfg_snap **out,
		     int fresh)
{
	struct entry *e;
	struct s3cfg_snap *s;
	char *val;
	size_t len;
	int64_t now = mono_ms();
	int r;

	*out = NULL;
	pthread_mutex_lock(&c->mu);
	e = take(c, root, name);
	if (e && !fresh && c->ttl_ms > 0 && now - e->read_ms < c->ttl_ms) {
		push(c, e);
		__atomic_add_fetch(&e->snap->refs, 1, __ATOMIC_ACQ_REL);
		*out = e->snap;
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	pthread_mutex_unlock(&c->mu);

	/* Read outside the lock: a slow engine must not stall other buckets. */
	r = s3cfg_get(c->fs, root, name, &val, &len);
	if (r && r != -ENOENT) {
		if (e)
			entry_free(e);
		return r;
	}
	if (e && e->snap->found == !r && e->snap->len == len &&
	    (r || !memcmp(e->snap->val, val, len))) {
		free(val); /* unchanged: keep what was parsed */
		s = e->snap;
	} else {
		s = xcalloc(1, sizeof(*s));
		s->refs = 1;
		s->found = !r;
		s->val = val ? val : xstrdup("");
		s->len = len;
		s->free_parsed = free_parsed;
		if (s->found && parse)
			s->parsed = parse(s->val, s->len);
		if (!e) {
			e = xcalloc(1, sizeof(*e));
			e->root = xstrdup(root);
			e->name = xstrdup(name);
		} else {
			s3cfg_snap_unref(e->snap);
		}
		e->snap = s;
	}
	e->read_ms = now;
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	*out = s;

	pthread_mutex_lock(&c->mu);
	/* Another thread may have read the same entry meanwhile: keep the newer. */
	struct entry *other = take(c, root, name);
	if (other)
		entry_free(other);
	push(c, e);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int s3cfg_cache_get(struct s3cfg_cache *c, const char *root, const char *name,
		    s3cfg_parse_fn parse, s3cfg_free_fn free_parsed, struct s3cfg_snap **out)
{
	return cache_get(c, root, name, parse, free_parsed, out, 0);
}

int s3cfg_cache_get_fresh(struct s3cfg_cache *c, const char *root, const char *name,
			  s3cfg_parse_fn parse, s3cfg_free_fn free_parsed,
			  struct s3cfg_snap **out)
{
	return cache_get(c, root, name, parse, free_parsed, out, 1);
}

void s3cfg_cache_drop(struct s3cfg_cache *c, const char *root, const char *name)
{
	drop(c, root, name);
}

static void drop(struct s3cfg_cache *c, const char *root, const char *name)
{
	struct entry *e;

	pthread_mutex_lock(&c->mu);
	e = take(c, root, name);
	pthread_mutex_unlock(&c->mu);
	if (e)
		entry_free(e);
}

int s3cfg_cache_put(struct s3cfg_cache *c, const char *root, const char *name, const void *val,
		    size_t len)
{
	int r = s3cfg_put(c->fs, root, name, val, len);

	drop(c, root, name);
	return r;
}

int s3cfg_cache_del(struct s3cfg_cache *c, const char *root, const char *name)
{
	int r = s3cfg_del(c->fs, root, name);

	drop(c, root, name);
	return r;
}

void s3cfg_cache_forget(struct s3cfg_cache *c, const char *root)
{
	struct entry *gone = NULL;

	pthread_mutex_lock(&c->mu);
	for (struct entry **p = &c->head; *p;) {
		struct entry *e = *p;

		if (!strcmp(e->root, root)) {
			*p = e->next;
			c->n--;
			e->next = gone;
			gone = e;
		} else {
			p = &e->next;
		}
	}
	pthread_mutex_unlock(&c->mu);
	while (gone) {
		struct entry *e = gone;

		gone = e->next;
		entry_free(e);
	}
}

struct fs *s3cfg_cache_fs(const struct s3cfg_cache *c)
{
	return c->fs;
}
