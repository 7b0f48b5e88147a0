/*
 * gateway/s3list.c: S3 listing over the directory tree, one page at a time.
 *
 * S3 lists keys in byte order, but a directory's name order is not key
 * order: the file "a-b" sorts after the directory "a" by name, yet before
 * the keys "a/..." ('-' < '/'). The walk reads each directory in name order
 * (the engine's sorted, resumable scan: an index range in SQL, an ordered
 * tree in memory, a cached sorted copy in Redis) and turns it into key order
 * with a small stack: a directory waits on the stack until the first name
 * whose key sorts after "dir/" arrives. Every waiting directory is a prefix
 * of the current name followed by a byte below '/', so the stack is a chain
 * of prefixes of one name (at most 255 deep) and its top, the longest, is
 * the smallest key: it is emitted first.
 *
 * A page costs what it lists, not the size of the directories it touches:
 *  1. Names are read in batches strictly after a bound, never the whole
 *     directory. The first bound comes from the marker: in the directory
 *     the marker leads into, the walk starts after the marker's first
 *     component ("comp", or "comp/" when the marker goes deeper, as every
 *     name between comp and comp/ is a key before it), looks up "comp" to
 *     descend into it with the rest of the marker (when the marker ends
 *     there, the scan starts just before "comp" instead and meets it), and
 *     looks up the few prefixes of comp that end before a byte below '/'
 *     (directories whose keys still follow the marker). The prefix bounds
 *     the scan the same way and ends it at the first name past the prefix.
 *  2. A run of names that all roll up into one common prefix (a delimiter
 *     inside the name) is skipped by restarting the scan after the run.
 *  3. Attributes (size, time) are read once per page, in one batch, only for
 *     the keys returned; an entry removed meanwhile is left out.
 * The marker and prefix checks on every key stay as they were: the bounds
 * above only spare reading what those checks would drop.
 *
 * A directory with no entries is a directory object "dir/"; with a
 * delimiter, directories roll up into common prefixes without being walked.
 * The walk stops after max items plus one (to know whether the answer is
 * truncated).
 *
 * A symlink (made through a mount) is listed as what it points to, as the
 * real gateway does: a file with the target's size and time, a directory
 * walked under the link's name. It is resolved with the bucket as jail root
 * (fs_resolve_at), so a link that leaves the bucket, dangles or loops is
 * left out; a directory link back to a directory being walked (a cycle) is
 * not descended.
 */
#include "gateway/s3.h"

/* Longest name (META_MAX_NAME): every name of a run "p..." sorts before p + 0xff... */
#define NAME_MAX_LEN 255

struct ent {
	char *name; /* NUL-terminated, malloc'ed */
	size_t nlen;
	uint8_t type;  /* FILE or DIRECTORY once a symlink is resolved */
	uint64_t ino;
	int have_attr; /* attr known (a lookup or a resolved link), else read per page */
	struct meta_attr attr;
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
	size_t *aidx;     /* items whose attributes are read at the end */
	size_t na, acap;
	struct buf key;   /* do_file's scratch key: one allocation a page, not one a key */
};

/* One directory's scan: the waiting directories and the run being rolled up. */
struct scan {
	const char *dirkey;
	size_t dklen;
	int hide_sys;
	struct ent *pend; /* stack; the top is the smallest key */
	size_t npend, cpend;
	char *skip;       /* names starting with it roll into the last common prefix */
	size_t skiplen;
	size_t seen;      /* listable entries met */
};

static int walk_dir(struct walk *w, uint64_t dir, const char *dirkey, int hide_sys,
		    const char *mrest, const char *pp, size_t *nseen);

static int starts(const char *s, const char *p, size_t plen)
{
	return !strncmp(s, p, plen);
}

static int hidden(const struct scan *s, const char *name, size_t nlen)
{
	return s->hide_sys && ((nlen == 4 && !memcmp(name, ".sys", 4)) ||
			       (nlen == 10 && !memcmp(name, ".minio.sys", 10)) ||
			       (nlen == 6 && !memcmp(name, ".trash", 6)));
}

static void ent_free(struct ent *e)
{
	free(e->name);
	e->name = NULL;
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
		it->ino = e->ino;
		if (e->have_attr) {
			it->size = e->type == META_TYPE_FILE ? e->attr.length : 0;
			it->mtime = e->attr.mtime;
			it->mtimensec = e->attr.mtimensec;
		} else {
			if (w->na == w->acap) {
				w->acap = w->acap ? w->acap * 2 : 64;
				w->aidx = xrealloc(w->aidx, w->acap * sizeof(*w->aidx));
			}
			w->aidx[w->na++] = r->n - 1;
		}
	}
}

/*
 * A key (object or directory object) that passed the prefix check. Returns
 * the length of the common prefix it rolled up into, or 0.
 */
static size_t emit_key(struct walk *w, const char *key, const struct ent *e)
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
			return n;
		}
	}
	if (w->after && strcmp(key, w->after) <= 0)
		return 0;
	add_item(w, key, 0, e);
	return 0;
}

/*
 * Resolve a symlink entry to what it points to inside the bucket: 1 when it
 * is listed (e now has the target's type, inode and attributes), 0 when it
 * is left out.
 */
static int follow_link(struct walk *w, const struct scan *s, struct ent *e)
{
	struct buf rel = BUF_INIT;
	struct meta_attr a;
	uint64_t ino;
	int r;

	buf_adds(&rel, s->dirkey);
	buf_adds(&rel, e->name);
	r = fs_resolve_at(w->fs, NULL, w->root, rel.ptr, FS_RESOLVE_FOLLOW, &ino, &a);
	buf_release(&rel);
	if (r || (a.type != META_TYPE_FILE && a.type != META_TYPE_DIRECTORY))
		return 0;
	e->type = a.type;
	e->ino = ino;
	e->attr = a;
	e->have_attr = 1;
	return 1;
}

static int on_stack(const struct walk *w, uint64_t ino)
{
	for (size_t i = 0; i < w->depth; i++)
		if (w->stack[i] == ino)
			return 1;
	return 0;
}

/* Names after a common prefix that ends inside this name roll into it too: skip them. */
static void note_rollup(struct scan *s, const struct ent *e, size_t cpend)
{
	if (cpend <= s->dklen || cpend > s->dklen + e->nlen)
		return;
	free(s->skip);
	s->skiplen = cpend - s->dklen;
	s->skip = xmemdup(e->name, s->skiplen);
}

static void do_file(struct walk *w, struct scan *s, const struct ent *e)
{
	buf_reset(&w->key);
	buf_add(&w->key, s->dirkey, s->dklen);
	buf_add(&w->key, e->name, e->nlen);
	if (starts(w->key.ptr, w->prefix, w->plen))
		note_rollup(s, e, emit_key(w, w->key.ptr, e));
}

/* A directory in key order: roll it up, pass it by, or walk it (from mrest when set). */
static int do_dir(struct walk *w, struct scan *s, const struct ent *e, const char *mrest)
{
	struct buf key = BUF_INIT;
	size_t sub = 0;
	int r = 0;

	buf_adds(&key, s->dirkey);
	buf_adds(&key, e->name);
	buf_adds(&key, "/");
	/* Its keys all start with key ("x/"). */
	if (!starts(key.ptr, w->prefix, w->plen)) {
		if (!starts(w->prefix, key.ptr, key.len))
			goto out; /* disjoint from the prefix */
	} else if (w->after && strcmp(key.ptr, w->after) < 0 &&
		   !starts(w->after, key.ptr, key.len)) {
		goto out; /* every key below lies before the marker */
	} else if (w->dlen) {
		const char *d = strstr(key.ptr + w->plen, w->delim);

		/* The delimiter lies inside this directory's own key: one prefix. */
		if (d) {
			note_rollup(s, e, emit_key(w, key.ptr, e));
			goto out;
		}
	}
	if (on_stack(w, e->ino))
		goto out; /* a link back up: its keys would never end */
	r = walk_dir(w, e->ino, key.ptr, 0, mrest, NULL, &sub);
	if (r == -ENOENT || r == -ENOTDIR) /* removed meanwhile */
		r = 0;
	if (!r && !sub && !w->stop && starts(key.ptr, w->prefix, w->plen))
		emit_key(w, key.ptr, e); /* empty directory: a directory object */
out:
	buf_release(&key);
	return r;
}

/* Does the key "top/" sort before the name n (which follows top by name)? */
static int dirkey_before(const struct ent *top, const char *n, size_t nlen)
{
	int c = memcmp(top->name, n, MIN(top->nlen, nlen));

	if (c)
		return c < 0;
	if (nlen <= top->nlen)
		return 0;
	return (unsigned char)n[top->nlen] > '/';
}

/* Walk the waiting directories whose keys sort before name n (n NULL: all of them). */
static int pop_before(struct walk *w, struct scan *s, const char *n, size_t nlen)
{
	int r = 0;

	while (!r && s->npend && !w->stop) {
		struct ent *top = &s->pend[s->npend - 1];

		if (n && !dirkey_before(top, n, nlen))
			break;
		r = do_dir(w, s, top, NULL);
		ent_free(&s->pend[s->npend - 1]);
		s->npend--;
	}
	return r;
}

/* Takes e's name. */
static void push_dir(struct scan *s, struct ent *e)
{
	if (s->npend == s->cpend) {
		s->cpend = s->cpend ? s->cpend * 2 : 8;
		s->pend = xrealloc(s->pend, s->cpend * sizeof(*s->pend));
	}
	s->pend[s->npend++] = *e;
	e->name = NULL;
}

/*
 * One entry, in name order. Frees or takes e's name. Returns 1 when the scan
 * may end (a name past the prefix pp), else 0 or -errno.
 */
static int take_entry(struct walk *w, struct scan *s, struct ent *e, const char *pp)
{
	int r = 0;

	if ((e->type != META_TYPE_FILE && e->type != META_TYPE_DIRECTORY &&
	     e->type != META_TYPE_SYMLINK) ||
	    hidden(s, e->name, e->nlen))
		goto out;
	if (pp && !starts(e->name, pp, strlen(pp))) {
		r = strcmp(e->name, pp) > 0;
		goto out;
	}
	if (s->skip && e->nlen >= s->skiplen && !memcmp(e->name, s->skip, s->skiplen)) {
		s->seen++;
		goto out;
	}
	if (e->type == META_TYPE_SYMLINK && !follow_link(w, s, e))
		goto out;
	s->seen++;
	r = pop_before(w, s, e->name, e->nlen);
	if (r || w->stop)
		goto out;
	if (e->type == META_TYPE_DIRECTORY)
		push_dir(s, e);
	else
		do_file(w, s, e);
out:
	ent_free(e);
	return r;
}

struct batch {
	struct ent *e;
	size_t n, cap;
};

static int batch_cb(void *arg, const struct meta_dirent *d)
{
	struct batch *b = arg;
	struct ent *e;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->e = xrealloc(b->e, b->cap * sizeof(*b->e));
	}
	e = &b->e[b->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrndup(d->name, d->namelen);
	e->nlen = strlen(e->name); /* a name holds no NUL */
	e->type = d->type;
	e->ino = d->ino;
	return 0;
}

/* Look up one name of dir: 1 and e filled when it exists, 0 when not, or -errno. */
static int lookup_ent(struct walk *w, uint64_t dir, const char *name, size_t nlen, struct ent *e)
{
	char *n;
	int r;

	memset(e, 0, sizeof(*e));
	/* A key "../x" names no entry: the lookup would climb out of the directory. */
	if ((nlen == 1 && name[0] == '.') || (nlen == 2 && !memcmp(name, "..", 2)))
		return 0;
	n = xstrndup(name, nlen);
	r = fs_lookup(w->fs, NULL, dir, n, &e->ino, &e->attr);
	if (r) {
		free(n);
		return r == -ENOENT || r == -ENAMETOOLONG ? 0 : r;
	}
	e->name = n;
	e->nlen = nlen;
	e->type = e->attr.type;
	e->have_attr = 1;
	return 1;
}

/* A looked-up entry that is (or links to) a listable directory? */
static int is_dir_ent(struct walk *w, const struct scan *s, struct ent *e)
{
	if (hidden(s, e->name, e->nlen))
		return 0;
	if (e->type == META_TYPE_SYMLINK && !follow_link(w, s, e))
		return 0;
	return e->type == META_TYPE_DIRECTORY;
}

/* The bound name + 0xff...: strictly after it comes the first name not starting with name. */
static char *past_run(const char *name, size_t len)
{
	char *b = xmalloc(NAME_MAX_LEN + 1);

	memcpy(b, name, len);
	memset(b + len, 0xff, NAME_MAX_LEN - len);
	b[NAME_MAX_LEN] = 0;
	return b;
}

/*
 * Where the scan of a directory starts, from the marker's part below it
 * (mrest): waiting directories pushed, the marker's own directory walked
 * from the rest of the marker; *start gets the bound to scan after.
 */
static int seek_marker(struct walk *w, struct scan *s, uint64_t dir, const char *mrest,
		       char **start)
{
	size_t c = strcspn(mrest, "/");
	int slash = mrest[c] == '/', r = 0;
	struct ent e;

	/* Prefixes of comp ending before a byte below '/': "p/..." follows the marker. */
	for (size_t i = 1; i < c && i <= NAME_MAX_LEN && r >= 0; i++) {
		if ((unsigned char)mrest[i] >= '/')
			continue;
		r = lookup_ent(w, dir, mrest, i, &e);
		if (r == 1 && is_dir_ent(w, s, &e))
			push_dir(s, &e);
		ent_free(&e);
	}
	/*
	 * A marker ending in this directory ("comp", no '/'): scan from comp
	 * itself instead of looking it up (two round trips on Redis, every
	 * page). The scan takes comp as take_entry takes any name, which is
	 * what the lookup below does with it: a directory waits on the stack
	 * ("comp/..." follows the marker), a file is dropped by the marker
	 * check. The bound is the greatest name before comp: comp with its
	 * last byte one less, then 0xff up to the longest name (a last byte of
	 * 1 would leave a NUL in it: looked up instead).
	 */
	if (r >= 0 && c && !slash && (unsigned char)mrest[c - 1] > 1 && c <= NAME_MAX_LEN) {
		char *b = past_run(mrest, c);

		b[c - 1] = (char)((unsigned char)b[c - 1] - 1);
		*start = b;
		return 0;
	}
	if (r >= 0 && c)
		r = lookup_ent(w, dir, mrest, c, &e);
	if (r == 1) {
		r = 0;
		if (is_dir_ent(w, s, &e)) {
			if (slash)
				r = do_dir(w, s, &e, mrest + c + 1);
			else
				push_dir(s, &e); /* "comp/..." follows the marker "comp" */
		}
		ent_free(&e);
	}
	*start = xstrndup(mrest, c + (size_t)slash);
	return r < 0 ? r : 0;
}

/*
 * Walk directory dir (its keys start with dirkey) in key order. mrest: the
 * marker's part below dirkey when the marker leads into this directory
 * (NULL: every key here follows the marker). pp: only names starting with
 * it (the prefix's last component, top directory only). *nseen: listable
 * entries met.
 */
static int walk_dir(struct walk *w, uint64_t dir, const char *dirkey, int hide_sys,
		    const char *mrest, const char *pp, size_t *nseen)
{
	struct scan s = { .dirkey = dirkey, .dklen = strlen(dirkey), .hide_sys = hide_sys };
	struct batch b = { 0 };
	char *start = NULL;
	int r = 0, done = 0;

	if (pp && !*pp)
		pp = NULL;
	if (w->depth == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->stack = xrealloc(w->stack, w->cap * sizeof(*w->stack));
	}
	w->stack[w->depth++] = dir;
	if (mrest)
		r = seek_marker(w, &s, dir, mrest, &start);
	if (!r && !w->stop && pp && (!start || strcmp(start, pp) < 0)) {
		struct ent e;

		/* Names before pp hold no key of the prefix; pp itself is looked up. */
		r = lookup_ent(w, dir, pp, strlen(pp), &e);
		if (r == 1)
			r = take_entry(w, &s, &e, pp);
		r = r < 0 ? r : 0;
		free(start);
		start = xstrdup(pp);
	}
	while (!r && !done && !w->stop) {
		size_t want = w->max - MIN(w->max, w->res->n) + 2;
		/* max-keys 1000 + 2: one batch for a whole page */
		size_t lim = MIN(MAX(want, (size_t)64), (size_t)1024);
		char *next;

		b.n = 0;
		r = fs_readdir(w->fs, NULL, dir, 0, start, lim, batch_cb, &b);
		if (r || !b.n)
			break;
		next = xstrdup(b.e[b.n - 1].name);
		for (size_t i = 0; i < b.n; i++) {
			if (!r && !done && !w->stop) {
				int t = take_entry(w, &s, &b.e[i], pp);

				if (t < 0)
					r = t;
				else if (t)
					done = 1;
			}
			ent_free(&b.e[i]);
		}
		free(start);
		start = next;
		if (b.n < lim)
			break;
		/* Past the run rolled up into one prefix, when the batch ended inside it. */
		if (s.skip && starts(start, s.skip, s.skiplen)) {
			free(start);
			start = past_run(s.skip, s.skiplen);
		}
	}
	if (!r)
		r = pop_before(w, &s, NULL, 0);
	*nseen = s.seen;
	for (size_t i = 0; i < s.npend; i++)
		ent_free(&s.pend[i]);
	free(s.pend);
	free(s.skip);
	free(b.e);
	free(start);
	w->depth--;
	return r;
}

/* Sizes and times of the listed keys, in one read; keys removed meanwhile drop out. */
static int fill_attrs(struct walk *w)
{
	struct s3_list_res *res = w->res;
	uint64_t *inos;
	struct meta_attr *at;
	uint8_t *found;
	char *lastkey = NULL;
	size_t keep = 0;
	int r;

	if (!w->na)
		return 0;
	inos = xmalloc(w->na * sizeof(*inos));
	at = xmalloc(w->na * sizeof(*at));
	found = xmalloc(w->na);
	for (size_t i = 0; i < w->na; i++)
		inos[i] = res->items[w->aidx[i]].ino;
	r = fs_getattrs(w->fs, inos, w->na, at, found);
	for (size_t i = 0; !r && i < w->na; i++) {
		struct s3_list_item *it = &res->items[w->aidx[i]];

		if (!found[i]) {
			if (w->aidx[i] == res->n - 1)
				lastkey = it->key;
			else
				free(it->key);
			it->key = NULL; /* dropped below */
			continue;
		}
		it->size = at[i].type == META_TYPE_FILE ? at[i].length : 0;
		it->mtime = at[i].mtime;
		it->mtimensec = at[i].mtimensec;
	}
	/* The next page starts after the last key seen, even when it is gone now. */
	if (!r && res->truncated && res->n && !res->items[res->n - 1].key)
		res->next = xstrdup(lastkey);
	for (size_t i = 0; !r && i < res->n; i++)
		if (res->items[i].key)
			res->items[keep++] = res->items[i];
	if (!r)
		res->n = keep;
	free(lastkey);
	free(inos);
	free(at);
	free(found);
	return r;
}

int s3_list(struct fs *fs, const char *root_path, int hide_sys, const char *prefix,
	    const char *delimiter, const char *after, size_t max, struct s3_list_res *res)
{
	struct walk w = { .fs = fs, .prefix = prefix ? prefix : "",
			  .delim = delimiter ? delimiter : "", .after = after, .max = max,
			  .res = res, .key = BUF_INIT };
	const char *slash, *mrest = NULL;
	char *dirkey;
	uint64_t ino;
	struct meta_attr attr;
	struct buf dirpath = BUF_INIT;
	enum s3_err e;
	size_t n = 0, dklen;
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
	dklen = slash ? (size_t)(slash - w.prefix) + 1 : 0;
	dirkey = xstrndup(w.prefix, dklen);
	e = s3_name_path(root_path, dirkey, S3_NAME_PREFIX, &dirpath);
	if (e) {
		r = e == S3E_AccessDenied ? 0 : -EINVAL;
		goto out;
	}
	/* Every key lies below dirkey: a marker past all of them lists nothing. */
	if (w.after) {
		if (starts(w.after, dirkey, dklen))
			mrest = w.after + dklen;
		else if (strcmp(w.after, dirkey) > 0) {
			r = 0;
			goto out;
		}
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
	r = walk_dir(&w, ino, dirkey, hide_sys && !*dirkey, mrest, w.prefix + dklen, &n);
	if (r == -ENOENT)
		r = 0;
	if (!r)
		r = fill_attrs(&w);
out:
	buf_release(&dirpath);
	buf_release(&w.key);
	free(w.stack);
	free(w.aidx);
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
	free(res->next);
	memset(res, 0, sizeof(*res));
}
