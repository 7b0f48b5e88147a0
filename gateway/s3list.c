/*
 * gateway/s3list.c: S3 listing over the directory tree.
 *
 * S3 lists keys in byte order, but a directory walk in name order is not key
 * order: the file "a-b" sorts before the directory "a" whose keys start
 * with "a/" ('-' < '/'). So each directory's entries are sorted by their key
 * form (directories with the trailing '/') before the walk descends, which
 * makes a depth-first walk emit keys in exact byte order.
 *
 * The walk starts at the deepest directory named by the prefix, prunes
 * subtrees that lie entirely at or before the marker, and stops after max
 * items plus one (to know whether the answer is truncated). A directory with
 * no entries is a directory object "dir/"; with a delimiter, directories
 * roll up into common prefixes without being walked.
 *
 * A symlink (made through a mount) is listed as what it points to, as the
 * real gateway does: a file with the target's size and time, a directory
 * walked under the link's name. It is resolved with the bucket as jail root
 * (fs_resolve_at), so a link that leaves the bucket, dangles or loops is
 * left out; a directory link back to a directory being walked (a cycle) is
 * not descended.
 */
#include "gateway/s3.h"

struct ent {
	char *skey; /* name, plus '/' for a directory */
	uint8_t type;
	uint64_t ino;
	struct meta_attr attr;
};

struct dirlist {
	struct ent *e;
	size_t n, cap;
	int hide_sys;
};

struct walk {
	struct fs *fs;
	const char *prefix, *delim, *after;
	size_t plen, dlen, max;
	struct s3_list_res *res;
	int stop;
	uint64_t root;    /* the bucket directory: links resolve inside it */
	uint64_t *stack;  /* directories being walked, to stop link cycles */
	size_t depth, cap;
};

static int collect_cb(void *arg, const struct meta_dirent *d)
{
	struct dirlist *l = arg;
	struct ent *e;

	if (d->type != META_TYPE_FILE && d->type != META_TYPE_DIRECTORY &&
	    d->type != META_TYPE_SYMLINK)
		return 0;
	if (l->hide_sys && ((d->namelen == 4 && !memcmp(d->name, ".sys", 4)) ||
			    (d->namelen == 10 && !memcmp(d->name, ".minio.sys", 10)) ||
			    (d->namelen == 6 && !memcmp(d->name, ".trash", 6))))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
	}
	e = &l->e[l->n++];
	e->skey = xmalloc(d->namelen + 2);
	memcpy(e->skey, d->name, d->namelen);
	e->skey[d->namelen] = d->type == META_TYPE_DIRECTORY ? '/' : 0;
	e->skey[d->namelen + 1] = 0;
	e->type = d->type;
	e->ino = d->ino;
	e->attr = d->attr;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->skey, ((const struct ent *)b)->skey);
}

static void dirlist_free(struct dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].skey);
	free(l->e);
}

static int starts(const char *s, const char *p, size_t plen)
{
	return !strncmp(s, p, plen);
}

/* Append an item; sets stop once one item past max was seen. */
static void add_item(struct walk *w, const char *key, int is_prefix, const struct ent *e)
{
	struct s3_list_res *r = w->res;
	struct s3_list_item *it;

	if (r->n >= w->max) {
		r->truncated = 1;
		w->stop = 1;
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->items = xrealloc(r->items, r->cap * sizeof(*r->items));
	}
	it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->key = xstrdup(key);
	it->is_prefix = is_prefix;
	if (e && !is_prefix) {
		it->size = e->type == META_TYPE_FILE ? e->attr.length : 0;
		it->mtime = e->attr.mtime;
		it->mtimensec = e->attr.mtimensec;
		it->ino = e->ino;
	}
}

/* A key (object or directory object) that passed the prefix check. */
static void emit_key(struct walk *w, const char *key, const struct ent *e)
{
	if (w->dlen) {
		const char *d = strstr(key + w->plen, w->delim);

		if (d) {
			size_t n = (size_t)(d - key) + w->dlen;
			char *cp = xstrndup(key, n);
			struct s3_list_res *r = w->res;

			if ((!w->after || strcmp(cp, w->after) > 0) &&
			    !(r->n && r->items[r->n - 1].is_prefix &&
			      !strcmp(r->items[r->n - 1].key, cp)))
				add_item(w, cp, 1, NULL);
			free(cp);
			return;
		}
	}
	if (w->after && strcmp(key, w->after) <= 0)
		return;
	add_item(w, key, 0, e);
}

/* Replace each symlink by what it resolves to inside the bucket, or drop it. */
static void follow_links(struct walk *w, struct dirlist *l, const char *dirkey)
{
	struct buf rel = BUF_INIT;
	size_t keep = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct ent *e = &l->e[i];

		if (e->type == META_TYPE_SYMLINK) {
			struct meta_attr a;
			uint64_t ino;
			size_t n = strlen(e->skey);
			int r;

			buf_reset(&rel);
			buf_adds(&rel, dirkey);
			buf_adds(&rel, e->skey);
			r = fs_resolve_at(w->fs, NULL, w->root, rel.ptr, FS_RESOLVE_FOLLOW, &ino,
					  &a);
			if (r || (a.type != META_TYPE_FILE && a.type != META_TYPE_DIRECTORY)) {
				free(e->skey);
				continue;
			}
			if (a.type == META_TYPE_DIRECTORY) {
				e->skey = xrealloc(e->skey, n + 2);
				e->skey[n] = '/';
				e->skey[n + 1] = 0;
			}
			e->type = a.type;
			e->ino = ino;
			e->attr = a;
		}
		l->e[keep++] = *e;
	}
	l->n = keep;
	buf_release(&rel);
}

static int on_stack(const struct walk *w, uint64_t ino)
{
	for (size_t i = 0; i < w->depth; i++)
		if (w->stack[i] == ino)
			return 1;
	return 0;
}

static int walk_dir(struct walk *w, uint64_t dir, const char *dirkey, int hide_sys,
		    size_t *nentries)
{
	struct dirlist l = { .hide_sys = hide_sys };
	struct buf key = BUF_INIT;
	int r;

	if (w->depth == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->stack = xrealloc(w->stack, w->cap * sizeof(*w->stack));
	}
	w->stack[w->depth++] = dir;
	r = fs_list(w->fs, NULL, dir, NULL, 0, collect_cb, &l);
	if (r)
		goto out;
	follow_links(w, &l, dirkey);
	*nentries = l.n;
	if (l.n)
		qsort(l.e, l.n, sizeof(*l.e), ent_cmp);
	for (size_t i = 0; i < l.n && !w->stop; i++) {
		struct ent *e = &l.e[i];
		size_t sub = 0;

		buf_reset(&key);
		buf_adds(&key, dirkey);
		buf_adds(&key, e->skey);
		if (e->type == META_TYPE_FILE) {
			if (starts(key.ptr, w->prefix, w->plen))
				emit_key(w, key.ptr, e);
			continue;
		}
		/* A directory: its keys all start with key ("x/"). */
		if (!starts(key.ptr, w->prefix, w->plen)) {
			if (!starts(w->prefix, key.ptr, key.len))
				continue; /* disjoint from the prefix */
		} else if (w->after && strcmp(key.ptr, w->after) < 0 &&
			   !starts(w->after, key.ptr, key.len)) {
			continue; /* every key below lies before the marker */
		} else if (w->dlen) {
			const char *d = strstr(key.ptr + w->plen, w->delim);

			/* The delimiter lies inside this directory's own key: one prefix. */
			if (d) {
				emit_key(w, key.ptr, e);
				continue;
			}
		}
		if (on_stack(w, e->ino))
			continue; /* a link back up: its keys would never end */
		r = walk_dir(w, e->ino, key.ptr, 0, &sub);
		if (r == -ENOENT || r == -ENOTDIR) /* removed meanwhile */
			r = 0;
		if (r)
			goto out;
		if (!sub && !w->stop && starts(key.ptr, w->prefix, w->plen))
			emit_key(w, key.ptr, e); /* empty directory: a directory object */
	}
out:
	w->depth--;
	buf_release(&key);
	dirlist_free(&l);
	return r;
}

int s3_list(struct fs *fs, const char *root_path, int hide_sys, const char *prefix,
	    const char *delimiter, const char *after, size_t max, struct s3_list_res *res)
{
	struct walk w = { .fs = fs, .prefix = prefix ? prefix : "",
			  .delim = delimiter ? delimiter : "", .after = after, .max = max,
			  .res = res };
	const char *slash;
	char *dirkey;
	uint64_t ino;
	struct meta_attr attr;
	struct buf dirpath = BUF_INIT;
	enum s3_err e;
	size_t n = 0;
	int r;

	memset(res, 0, sizeof(*res));
	w.plen = strlen(w.prefix);
	w.dlen = strlen(w.delim);
	if (after && !*after)
		w.after = NULL;
	if (!max) {
		/* max-keys=0: nothing, but say whether there is something. */
		return 0;
	}
	/*
	 * Start at the deepest directory the prefix names, once the name gate
	 * (s3_name_path) says it is a path inside the bucket: a prefix into the
	 * volume's internal folders names no key, any other refusal is the
	 * caller's error to report.
	 */
	slash = strrchr(w.prefix, '/');
	dirkey = xstrndup(w.prefix, slash ? (size_t)(slash - w.prefix) + 1 : 0);
	e = s3_name_path(root_path, dirkey, S3_NAME_PREFIX, &dirpath);
	if (e) {
		r = e == S3E_AccessDenied ? 0 : -EINVAL;
		goto out;
	}
	r = fs_resolve(fs, NULL, *root_path ? root_path : "/", &w.root, NULL);
	if (!r)
		r = fs_resolve_at(fs, NULL, w.root, dirkey, FS_RESOLVE_FOLLOW, &ino, &attr);
	if (r == -ENOENT || r == -ENOTDIR || r == -EXDEV || r == -ELOOP ||
	    (!r && attr.type != META_TYPE_DIRECTORY)) {
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	r = walk_dir(&w, ino, dirkey, hide_sys && !*dirkey, &n);
	if (r == -ENOENT)
		r = 0;
out:
	buf_release(&dirpath);
	free(w.stack);
	free(dirkey);
	if (r)
		s3_list_free(res);
	return r;
}

void s3_list_free(struct s3_list_res *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->items[i].key);
	free(res->items);
	memset(res, 0, sizeof(*res));
}
