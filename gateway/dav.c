/*
 * dav.c: the WebDAV methods over fs.h (see dav.h for where state lives).
 *
 * Every request follows one order, so that a refused request touches
 * nothing: authenticate, normalise the path (hostile paths end here), parse
 * headers and body, check the If header (412), then locks (423: a token
 * must be submitted in the If header for every lock in the way), then act.
 * Writes are atomic where the RFC asks for it: PUT goes through a temp file
 * renamed over the target, PROPPATCH rolls back what it applied when a later
 * property fails, COPY clones slices instead of moving bytes.
 */
#include "gateway/dav.h"

#include <fcntl.h>
#include <pthread.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <zlib.h>

#include "gateway/dav_proto.h"
#include "gateway/filebody.h"

#define LOCK_DIR "/.sys/davlocks"
#define TMP_DIR "/.sys/tmp"
#define LOCK_XATTR "user.davlock"
#define PROP_PREFIX "user.dav.{"
#define IO_CHUNK (1 << 20)
#define MAX_PROPFIND_ENTRIES 200000

struct dav_server {
	struct fs *fs;
	struct dav_conf conf;
	struct meta_ctx ctx;
	pthread_mutex_t lock_mu; /* serialises LOCK's check-then-create in this process */
};

struct dreq {
	struct dav_server *d;
	struct gw_req *r;
	const char *method;
	struct buf path;
	const char *host;
	struct dav_if *ifh;
	struct dav_lock *locks;
	size_t nlocks;
	char (*seen)[20]; /* lock buckets already loaded (gather_locks) */
	size_t nseen;
	int if_err; /* an If condition could not be evaluated (engine failure) */
	int if_etag; /* the If header asked for the request resource's ETag */
};

/* ------------------------------------------------------------ small helpers */

static void reply(struct gw_req *r, int code)
{
	gw_resp_status(r, code);
	gw_resp_body(r, "", 0);
}

static void reply_xml(struct gw_req *r, int code, const struct buf *b)
{
	gw_resp_status(r, code);
	gw_resp_header(r, "Content-Type", "application/xml; charset=utf-8");
	gw_resp_body(r, b->ptr, b->len);
}

/* 4xx with an RFC 4918 precondition element. */
static void reply_cond(struct gw_req *r, int code, const char *cond, const char *href_path)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:");
	buf_adds(&b, cond);
	if (href_path) {
		buf_adds(&b, "><D:href>");
		dav_href(&b, href_path, 0);
		buf_addf(&b, "</D:href></D:%s>", cond);
	} else {
		buf_adds(&b, "/>");
	}
	buf_adds(&b, "</D:error>");
	reply_xml(r, code, &b);
	buf_release(&b);
}

static int errno_status(int e)
{
	switch (e) {
	case -ENOENT: return 404;
	case -EEXIST: return 405;
	case -ENOTDIR: return 409;
	case -ENOTEMPTY: return 409;
	case -EISDIR: return 405;
	case -EACCES:
	case -EPERM:
	case -EROFS: return 403;
	case -ENOSPC:
	case -EDQUOT: return 507;
	case -ENAMETOOLONG: return 414;
	case -EXDEV: return 403; /* a symlink out of the volume */
	case -ELOOP: return 508;
	case -E2BIG:
	case -ERANGE: return 413;
	case -EINVAL: return 400;
	default: return 500;
	}
}

/*
 * The answer when a request's parent collection did not resolve to one
 * (r = 0: it is not a collection): 409 only when it is missing, never for an
 * engine failure, which a client must not take as a fact about the tree.
 */
static int parent_status(int r)
{
	return !r || r == -ENOENT || r == -ENOTDIR ? 409 : errno_status(r);
}

/* A lookup failed for a reason other than "not there". */
static int lookup_failed(int r)
{
	return r && r != -ENOENT && r != -ENOTDIR;
}

static char *parent_of(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s || s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * Symlinks made through a mount are followed, as the real server does, but
 * never out of the volume nor into its internal folders (fs_resolve_at
 * with the volume root as the jail). resolve() follows a final link too,
 * for reading (GET, PROPFIND, the parent of a new member, a COPY source);
 * resolve_link() stops at it, for what acts on the name itself: DELETE and
 * MOVE of the link, a PUT or COPY that replaces it.
 */
static int resolve(struct dreq *q, const char *path, uint64_t *ino, struct meta_attr *a)
{
	return fs_resolve_at(q->d->fs, &q->d->ctx, META_ROOT_INODE, path, FS_RESOLVE_FOLLOW, ino,
			     a);
}

static int resolve_link(struct dreq *q, const char *path, uint64_t *ino, struct meta_attr *a)
{
	return fs_resolve_at(q->d->fs, &q->d->ctx, META_ROOT_INODE, path, 0, ino, a);
}

/*
 * Where name in the directory dir really is (its parents free of links),
 * for the calls that take a path: fs_replace creates parents by name.
 */
static int physical_path(struct dreq *q, uint64_t dir, const char *name, struct buf *out)
{
	int r;

	buf_reset(out);
	if ((r = fs_path_of(q->d->fs, dir, out)))
		return r;
	if (!out->len || out->ptr[out->len - 1] != '/')
		buf_addch(out, '/');
	buf_adds(out, name);
	return 0;
}

/* The internal folders stay out of reach and out of listings. */
static int reserved_path(const char *path)
{
	return dav_path_within("/.sys", path) || dav_path_within("/.trash", path);
}

static int reserved_name(uint64_t dir, const char *name)
{
	return dir == META_ROOT_INODE && (!strcmp(name, ".sys") || !strcmp(name, ".trash"));
}

static void etag_of(uint64_t ino, const struct meta_attr *a, char *out, size_t n)
{
	snprintf(out, n, "\"%llx-%llx%09x-%llx\"", (unsigned long long)ino,
		 (unsigned long long)a->mtime, a->mtimensec, (unsigned long long)a->length);
}

/* Read a bounded body (XML). -E2BIG past DAV_MAX_XML. */
static int read_small_body(struct gw_req *r, struct buf *b)
{
	char tmp[16384];

	for (;;) {
		ssize_t n = gw_req_read(r, tmp, sizeof(tmp));

		if (n < 0)
			return (int)n;
		if (!n)
			return 0;
		if (b->len + (size_t)n > DAV_MAX_XML)
			return -E2BIG;
		buf_add(b, tmp, (size_t)n);
	}
}

/* ------------------------------------------------------------ locks */

struct name_list {
	char **v;
	size_t n;
};

static int collect_name(void *arg, const struct meta_dirent *e)
{
	struct name_list *l = arg;

	if (l->n >= 100000)
		return 1;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrndup(e->name, e->namelen);
	return 0;
}

/*
 * Locks live in the volume, so that every webdav process on it sees the
 * same ones, and they are indexed by path, so that LOCK, UNLOCK and the
 * check on a write cost the same with 10 locks held or 100,000:
 *
 *   LOCK_DIR/r<H(root)>/<uuid>  the lock rooted at root: an empty file whose
 *                               xattr LOCK_XATTR is the record
 *   LOCK_DIR/d<H(a)>/<uuid>     a hard link of that file for every proper
 *                               ancestor a of root ("/" included)
 *
 * H is 64-bit FNV-1a in hex. A bucket may hold the locks of another path
 * whose hash collides; each record names its root, and loading filters.
 *
 * The locks that can forbid a change to path are rooted at path or at an
 * ancestor: the r buckets of path's prefixes, one lookup each. Those rooted
 * below path (DELETE, MOVE, a depth-infinity LOCK of a collection) are the
 * d bucket of path: work in proportion to the locks in that subtree only.
 *
 * Invariants:
 *  1. A lock is stored whole (r entry with its record, then every d link)
 *     before LOCK looks for conflicts a second time; so of two servers
 *     locking in a race, the one that looks last sees the other's lock.
 *  2. Removal unlinks the d links first and the r entry last; an empty
 *     bucket is removed, and a store that finds its bucket gone (ENOENT)
 *     makes it again.
 *  3. The hard links share one inode, so a refresh rewrites one xattr.
 * Locks from before this layout (LOCK_DIR/<uuid>) are not seen; locks are
 * short-lived, so nothing migrates them.
 */

static void free_locks(struct dreq *q)
{
	for (size_t i = 0; i < q->nlocks; i++)
		dav_lock_release(&q->locks[i]);
	free(q->locks);
	q->locks = NULL;
	q->nlocks = 0;
	free(q->seen);
	q->seen = NULL;
	q->nseen = 0;
}

static void bucket_name(char kind, const char *path, char out[20])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	snprintf(out, 20, "%c%016llx", kind, (unsigned long long)h);
}

struct names {
	char **v;
	size_t n;
};

static int collect_all(void *arg, const struct meta_dirent *e)
{
	struct names *l = arg;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrndup(e->name, e->namelen);
	return 0;
}

/* Calls fn(prefix) for "/", "/a", "/a/b", ... path; proper ones only unless self. */
static void for_prefixes(const char *path, int self, void (*fn)(void *, const char *), void *arg)
{
	size_t n = strlen(path);
	char *p;

	if (!strcmp(path, "/")) { /* "/" has no proper prefix */
		if (self)
			fn(arg, "/");
		return;
	}
	p = xstrdup(path);
	fn(arg, "/");
	for (size_t i = 1; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (i == n && !self)
			break;
		p[i] = 0;
		fn(arg, p);
		if (i < n)
			p[i] = '/';
	}
	free(p);
}

/* Unlink one name of a lock; drop its bucket when that leaves it empty. */
static void unlink_in_bucket(struct dav_server *d, uint64_t top, char kind, const char *path,
			     const char *uuid)
{
	char b[20];
	uint64_t dir;

	bucket_name(kind, path, b);
	if (fs_lookup(d->fs, &d->ctx, top, b, &dir, NULL))
		return;
	fs_unlink(d->fs, &d->ctx, dir, uuid, 1);
	fs_rmdir(d->fs, &d->ctx, top, b, 1); /* -ENOTEMPTY while other locks use it */
}

struct unlink_arg {
	struct dav_server *d;
	uint64_t top;
	const char *uuid;
};

static void unlink_d(void *arg, const char *prefix)
{
	struct unlink_arg *u = arg;

	unlink_in_bucket(u->d, u->top, 'd', prefix, u->uuid);
}

static void lock_remove(struct dav_server *d, const struct dav_lock *l)
{
	const char *uuid = strchr(l->token, ':');
	struct unlink_arg u = { d, 0, uuid ? uuid + 1 : NULL };

	if (!uuid || !l->root || fs_resolve(d->fs, &d->ctx, LOCK_DIR, &u.top, NULL))
		return;
	if (strcmp(l->root, "/"))
		for_prefixes(l->root, 0, unlink_d, &u);
	unlink_in_bucket(d, u.top, 'r', l->root, u.uuid);
}

/*
 * Append the live locks of one bucket: with kind 'r' those rooted at path,
 * with 'd' those rooted strictly below it. Expired ones are removed.
 */
static int load_bucket(struct dreq *q, char kind, const char *path)
{
	struct dav_server *d = q->d;
	struct names names = { NULL, 0 };
	struct buf v = BUF_INIT;
	int64_t now = now_us() / 1000000;
	uint64_t top, dir;
	char b[20];
	int r;

	r = fs_resolve(d->fs, &d->ctx, LOCK_DIR, &top, NULL);
	if (r)
		return r == -ENOENT ? 0 : r;
	bucket_name(kind, path, b);
	r = fs_lookup(d->fs, &d->ctx, top, b, &dir, NULL);
	if (r)
		return r == -ENOENT ? 0 : r;
	r = fs_list(d->fs, &d->ctx, dir, NULL, 0, collect_all, &names);
	if (r < 0)
		goto out;
	r = 0;
	for (size_t i = 0; i < names.n; i++) {
		uint64_t ino;
		struct dav_lock l;
		char token[64];

		buf_reset(&v);
		r = fs_lookup(d->fs, &d->ctx, dir, names.v[i], &ino, NULL);
		if (!r)
			r = fs_getxattr(d->fs, &d->ctx, ino, LOCK_XATTR, &v);
		if (r == -ENOENT || r == -ENODATA) { /* released meanwhile */
			r = 0;
			continue;
		}
		if (r)
			break; /* a lock that cannot be read must not read as no lock */
		snprintf(token, sizeof(token), "opaquelocktoken:%s", names.v[i]);
		if (dav_lock_decode(token, v.ptr, v.len, &l))
			continue;
		if (kind == 'r' ? strcmp(l.root, path)
				: !dav_path_within(path, l.root) || !strcmp(l.root, path)) {
			dav_lock_release(&l); /* another path with the same hash */
			continue;
		}
		if (l.expires && l.expires < now) {
			lock_remove(d, &l);
			dav_lock_release(&l);
			continue;
		}
		q->locks = xrealloc(q->locks, (q->nlocks + 1) * sizeof(*q->locks));
		q->locks[q->nlocks++] = l;
	}
out:
	for (size_t i = 0; i < names.n; i++)
		free(names.v[i]);
	free(names.v);
	buf_release(&v);
	return r;
}

/* load_bucket once per request for each (kind, path). */
static int load_bucket_once(struct dreq *q, char kind, const char *path)
{
	char b[20];

	bucket_name(kind, path, b);
	for (size_t i = 0; i < q->nseen; i++)
		if (!strcmp(q->seen[i], b))
			return 0;
	q->seen = xrealloc(q->seen, (q->nseen + 1) * sizeof(*q->seen));
	memcpy(q->seen[q->nseen++], b, sizeof(b));
	return load_bucket(q, kind, path);
}

struct gather_arg {
	struct dreq *q;
	int r;
};

static void gather_r(void *arg, const char *prefix)
{
	struct gather_arg *g = arg;

	if (!g->r)
		g->r = load_bucket_once(g->q, 'r', prefix);
}

enum { LK_DESC = 1, LK_PARENT = 2 };

/*
 * Make q->locks hold every lock that matters to path: those rooted at it or
 * at an ancestor, and with LK_DESC those rooted below it. It may hold
 * others (loaded for another path): users filter by root.
 */
static int gather_locks(struct dreq *q, const char *path, int flags)
{
	struct gather_arg g = { q, 0 };

	for_prefixes(path, 1, gather_r, &g);
	if (!g.r && (flags & LK_DESC))
		g.r = load_bucket_once(q, 'd', path);
	return g.r;
}

struct link_arg {
	struct dav_server *d;
	uint64_t top, ino;
	const char *uuid;
	int r;
};

/* Make the bucket (again, if a removal raced us) and run one step in it. */
static int in_bucket(struct dav_server *d, uint64_t top, const char *b, uint64_t *dir)
{
	int r = fs_lookup(d->fs, &d->ctx, top, b, dir, NULL);

	if (r == -ENOENT) {
		r = fs_mkdir(d->fs, &d->ctx, top, b, 0700, 0, dir, NULL);
		if (r == -EEXIST)
			r = fs_lookup(d->fs, &d->ctx, top, b, dir, NULL);
	}
	return r;
}

static void link_d(void *arg, const char *prefix)
{
	struct link_arg *a = arg;
	char b[20];
	uint64_t dir;

	if (a->r)
		return;
	bucket_name('d', prefix, b);
	for (int attempt = 0; attempt < 3; attempt++) {
		if (!(a->r = in_bucket(a->d, a->top, b, &dir)))
			a->r = fs_link(a->d->fs, &a->d->ctx, a->ino, dir, a->uuid, NULL);
		if (a->r != -ENOENT)
			break;
	}
}

static int lock_store(struct dav_server *d, const struct dav_lock *l, int create)
{
	struct buf rec = BUF_INIT;
	struct link_arg la = { d, 0, 0, strchr(l->token, ':') + 1, 0 };
	struct fs_file *fh = NULL;
	uint64_t dir;
	char b[20];
	int r;

	if ((r = fs_mkdir_p(d->fs, &d->ctx, LOCK_DIR, 0700, &la.top)))
		return r;
	bucket_name('r', l->root, b);
	dav_lock_encode(l, &rec);
	if (!create) {
		r = fs_lookup(d->fs, &d->ctx, la.top, b, &dir, NULL);
		if (!r)
			r = fs_lookup(d->fs, &d->ctx, dir, la.uuid, &la.ino, NULL);
		if (!r)
			r = fs_setxattr(d->fs, &d->ctx, la.ino, LOCK_XATTR, rec.ptr, rec.len, 0);
		goto out;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		if (!(r = in_bucket(d, la.top, b, &dir)))
			r = fs_create(d->fs, &d->ctx, dir, la.uuid, 0600, 0, O_RDWR, &fh, &la.ino,
				      NULL);
		if (r != -ENOENT)
			break;
	}
	if (r)
		goto out;
	fs_release(fh);
	r = fs_setxattr(d->fs, &d->ctx, la.ino, LOCK_XATTR, rec.ptr, rec.len, 0);
	if (!r && strcmp(l->root, "/")) {
		for_prefixes(l->root, 0, link_d, &la);
		r = la.r;
	}
	if (r)
		lock_remove(d, l);
out:
	buf_release(&rec);
	return r;
}

/*
 * Locks that forbid changing `path` without a submitted token: those
 * covering it, with LK_DESC those rooted below it, with LK_PARENT those
 * rooted at its parent (membership). A shared lock is satisfied by the
 * token of any shared lock with the same root. Returns 0 or 423 (after
 * replying).
 */
static int check_locks(struct dreq *q, const char *path, int flags)
{
	char *parent = parent_of(path);
	int r = 0;

	if (gather_locks(q, path, flags)) {
		reply(q->r, 500);
		free(parent);
		return 500;
	}
	for (size_t i = 0; i < q->nlocks && !r; i++) {
		const struct dav_lock *l = &q->locks[i];
		int ok = 0;

		if (!(dav_lock_covers(l->root, l->depth_inf, path) ||
		      ((flags & LK_DESC) && dav_path_within(path, l->root)) ||
		      ((flags & LK_PARENT) && strcmp(path, "/") && !strcmp(l->root, parent))))
			continue;
		if (dav_if_has_token(q->ifh, l->token))
			continue;
		for (size_t j = 0; j < q->nlocks && !l->exclusive && !ok; j++)
			ok = !q->locks[j].exclusive && !strcmp(q->locks[j].root, l->root) &&
			     dav_if_has_token(q->ifh, q->locks[j].token);
		if (ok)
			continue;
		reply_cond(q->r, 423, "lock-token-submitted", l->root);
		r = 423;
	}
	free(parent);
	return r;
}

static int if_cond(void *arg, const char *path, const struct dav_if_cond *c)
{
	struct dreq *q = arg;

	if (c->is_etag) {
		struct meta_attr a;
		uint64_t ino;
		char et[96];
		const char *want = c->value;

		if (!strcmp(path, q->path.ptr))
			q->if_etag = 1;
		int r = resolve(q, path, &ino, &a);
		if (r) {
			if (lookup_failed(r) && !q->if_err)
				q->if_err = r;
			return 0;
		}
		etag_of(ino, &a, et, sizeof(et));
		if (!strncmp(want, "W/", 2))
			want += 2;
		return !strcmp(want, et);
	}
	int r = gather_locks(q, path, 0);
	if (r) {
		if (!q->if_err)
			q->if_err = r;
		return 0;
	}
	for (size_t i = 0; i < q->nlocks; i++)
		if (!strcmp(q->locks[i].token, c->value) &&
		    dav_lock_covers(q->locks[i].root, q->locks[i].depth_inf, path))
			return 1;
	return 0;
}

/*
 * 412 (after replying) when the If header is false, 5xx when it could not be
 * checked; 0 otherwise.
 */
static int check_if(struct dreq *q)
{
	if (!q->ifh)
		return 0;
	if (dav_if_eval(q->ifh, q->path.ptr, if_cond, q))
		return 0;
	if (q->if_err) {
		/* a condition that could not be checked is not a false one */
		reply(q->r, errno_status(q->if_err));
		return 500;
	}
	reply(q->r, 412);
	return 412;
}

/* Drop the locks rooted at or below path (after DELETE and MOVE). */
static void drop_locks_within(struct dreq *q, const char *path)
{
	free_locks(q);
	if (gather_locks(q, path, LK_DESC))
		return;
	for (size_t i = 0; i < q->nlocks; i++)
		if (dav_path_within(path, q->locks[i].root))
			lock_remove(q->d, &q->locks[i]);
	free_locks(q);
}

/* ------------------------------------------------------------ OPTIONS */

static int do_options(struct dreq *q)
{
	gw_resp_header(q->r, "DAV", "1, 2");
	gw_resp_header(q->r, "MS-Author-Via", "DAV");
	gw_resp_header(q->r, "Allow", "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, "
				      "PROPFIND, PROPPATCH, LOCK, UNLOCK");
	reply(q->r, 200);
	return 0;
}

/* ------------------------------------------------------------ GET / HEAD */

struct html_list {
	struct buf *b;
	uint64_t dir;
};

/*
 * --gzip: a whole file served to a client that accepts gzip is compressed on
 * the fly into a chunked response.
 */
#define GZ_IN (256 << 10)

struct gz_reader {
	struct fs_file *fh;
	uint64_t pos, size;
	z_stream z;
	int zinit, finished;
	unsigned char in[GZ_IN];
};

/* Refill the input when it is used up; 0 or -errno (a file shortened under us: -EIO). */
static int gz_fill(struct gz_reader *g)
{
	if (!g->z.avail_in && g->pos < g->size) {
		size_t want = (size_t)MIN(g->size - g->pos, GZ_IN);
		ssize_t n = fs_read(g->fh, g->pos, g->in, want);

		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		g->pos += (uint64_t)n;
		g->z.next_in = g->in;
		g->z.avail_in = (uInt)n;
	}
	return 0;
}

static ssize_t gz_cb(void *arg, uint64_t off, void *buf, size_t max)
{
	struct gz_reader *g = arg;
	int r;

	UNUSED(off);
	if (g->finished)
		return 0;
	g->z.next_out = buf;
	g->z.avail_out = (uInt)MIN(max, (size_t)UINT32_MAX);
	while (g->z.avail_out && !g->finished) {
		int zr, flush = Z_NO_FLUSH;

		if ((r = gz_fill(g)))
			return r;
		if (!g->z.avail_in && g->pos >= g->size)
			flush = Z_FINISH;
		zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_END)
			g->finished = 1;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return -EIO;
	}
	return (ssize_t)((unsigned char *)g->z.next_out - (unsigned char *)buf);
}

static void gz_done(void *arg)
{
	struct gz_reader *g = arg;

	if (g->zinit)
		deflateEnd(&g->z);
	if (g->fh)
		fs_release(g->fh);
	free(g);
}

static int accepts_gzip(struct gw_req *r)
{
	const char *ae = gw_req_header(r, "Accept-Encoding");

	return ae && strcasestr(ae, "gzip") && !strcasestr(ae, "gzip;q=0");
}

static int list_html_cb(void *arg, const struct meta_dirent *e)
{
	struct html_list *l = arg;
	char *name = xstrndup(e->name, e->namelen);

	if (!reserved_name(l->dir, name)) {
		buf_adds(l->b, "<a href=\"");
		dav_href(l->b, name, e->type == META_TYPE_DIRECTORY);
		buf_adds(l->b, "\">");
		dav_xml_escape(l->b, name);
		if (e->type == META_TYPE_DIRECTORY)
			buf_addch(l->b, '/');
		buf_adds(l->b, "</a>\n");
	}
	free(name);
	return 0;
}

/*
 * A conditional header, or NULL when absent or empty: the real server (Go's
 * Header.Get == "") ignores an empty one, and clients that copy a missing
 * ETag send exactly that.
 */
static const char *cond_header(struct dreq *q, const char *name)
{
	const char *v = gw_req_header(q->r, name);

	if (v)
		v += strspn(v, " \t");
	return v && *v ? v : NULL;
}

/* Conditional GET headers: 0 to go on, else the status already replied. */
static int check_preconditions(struct dreq *q, const char *etag, int64_t mtime)
{
	const char *im = cond_header(q, "If-Match");
	const char *inm = cond_header(q, "If-None-Match");
	const char *ims = cond_header(q, "If-Modified-Since");
	const char *ius = cond_header(q, "If-Unmodified-Since");
	int64_t t;
	int get = !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");

	if (im && strcmp(im, "*") && !strstr(im, etag)) {
		reply(q->r, 412);
		return 412;
	}
	if (!im && ius && !dav_parse_http_date(ius, &t) && mtime > t) {
		reply(q->r, 412);
		return 412;
	}
	if (inm && (!strcmp(inm, "*") || strstr(inm, etag))) {
		gw_resp_header(q->r, "ETag", etag);
		reply(q->r, get ? 304 : 412);
		return 304;
	}
	if (get && !inm && ims && !dav_parse_http_date(ims, &t) && mtime <= t) {
		gw_resp_header(q->r, "ETag", etag);
		reply(q->r, 304);
		return 304;
	}
	return 0;
}

/* Validators of a GET answer (gzip: the compressed representation). */
static void get_headers(struct dreq *q, const char *etag, int64_t mtime, int gzip)
{
	char date[64];

	dav_http_date(mtime, date, sizeof(date));
	gw_resp_header(q->r, "Last-Modified", date);
	if (gzip) {
		/* Another representation: a weak tag of the same version. */
		char *w = xasprintf("W/%s", etag);

		gw_resp_header(q->r, "ETag", w);
		gw_resp_header(q->r, "Content-Encoding", "gzip");
		gw_resp_header(q->r, "Vary", "Accept-Encoding");
		free(w);
	} else {
		gw_resp_header(q->r, "ETag", etag);
		if (q->d->conf.gzip)
			gw_resp_header(q->r, "Vary", "Accept-Encoding");
	}
}

/* A failed first read: an error status, with none of a 200's headers. */
static int get_failed(struct dreq *q, int r)
{
	if (errno_status(r) >= 500)
		log_error("GET %s: %s", q->path.ptr, strerror(-r));
	reply(q->r, errno_status(r));
	return 0;
}

/*
 * GET/HEAD of a file. The first piece is read before any header is added
 * (filebody.h): a file that cannot be read is a 5xx (404 when it went away),
 * and a failure after the headers aborts the connection.
 */
static int get_file(struct dreq *q, uint64_t ino, const struct meta_attr *a, const char *etag,
		    int gzip)
{
	int head = !strcmp(q->method, "HEAD"), r, ranged;
	uint64_t start = 0, end = 0;
	struct gw_body *body = NULL;
	char cr[96];

	if (gzip) {
		struct gz_reader *g = xcalloc(1, sizeof(*g));

		g->size = a->length;
		if (!head) {
			r = fs_open_file(q->d->fs, &q->d->ctx, ino, O_RDONLY, &g->fh, NULL);
			if (!r && deflateInit2(&g->z, 6, Z_DEFLATED, 15 + 16, 8,
					       Z_DEFAULT_STRATEGY) != Z_OK)
				r = -ENOMEM;
			g->zinit = !r;
			if (!r)
				r = gz_fill(g);
			if (r) {
				gz_done(g);
				return get_failed(q, r);
			}
		}
		get_headers(q, etag, a->mtime, 1);
		gw_resp_header(q->r, "Content-Type", dav_mime_type(base_of(q->path.ptr)));
		gw_resp_status(q->r, 200);
		gw_resp_stream(q->r, -1, gz_cb, gz_done, g);
		return 0;
	}
	ranged = dav_parse_range(gw_req_header(q->r, "Range"), a->length, &start, &end);
	if (ranged && gw_req_header(q->r, "If-Range") &&
	    strcmp(gw_req_header(q->r, "If-Range"), etag))
		ranged = 0;
	if (!ranged) {
		start = 0;
		end = a->length ? a->length - 1 : 0;
	}
	if (ranged >= 0 && !head && a->length) {
		struct fs_file *fh;

		r = fs_open_file(q->d->fs, &q->d->ctx, ino, O_RDONLY, &fh, NULL);
		if (!r)
			r = gw_body_prime(fh, start, end - start + 1, &body);
		if (r)
			return get_failed(q, r);
	}
	get_headers(q, etag, a->mtime, 0);
	gw_resp_header(q->r, "Content-Type", dav_mime_type(base_of(q->path.ptr)));
	gw_resp_header(q->r, "Accept-Ranges", "bytes");
	if (ranged < 0) {
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)a->length);
		gw_resp_header(q->r, "Content-Range", cr);
		reply(q->r, 416);
		return 0;
	}
	if (ranged) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
			 (unsigned long long)end, (unsigned long long)a->length);
		gw_resp_header(q->r, "Content-Range", cr);
	}
	gw_resp_status(q->r, ranged ? 206 : 200);
	gw_body_send(q->r, body, a->length ? end - start + 1 : 0);
	return 0;
}

static int do_get(struct dreq *q)
{
	struct meta_attr a;
	uint64_t ino;
	char etag[96];
	int r, gzip;

	if ((r = resolve(q, q->path.ptr, &ino, &a))) {
		reply(q->r, errno_status(r));
		return 0;
	}
	if (check_if(q))
		return 0;
	etag_of(ino, &a, etag, sizeof(etag));
	if (check_preconditions(q, etag, a.mtime))
		return 0;
	gzip = q->d->conf.gzip && a.type == META_TYPE_FILE && a.length > 0 &&
	       !gw_req_header(q->r, "Range") && accepts_gzip(q->r);
	if (a.type == META_TYPE_FILE)
		return get_file(q, ino, &a, etag, gzip);
	get_headers(q, etag, a.mtime, 0);
	if (a.type == META_TYPE_DIRECTORY) {
		struct buf b = BUF_INIT;

		if (q->d->conf.disallow_list) {
			reply(q->r, 403);
			return 0;
		}
		struct html_list hl = { &b, ino };

		buf_adds(&b, "<!DOCTYPE html>\n<html><body><pre>\n");
		r = fs_list(q->d->fs, &q->d->ctx, ino, NULL, 0, list_html_cb, &hl);
		buf_adds(&b, "</pre></body></html>\n");
		gw_resp_status(q->r, r < 0 ? errno_status(r) : 200);
		gw_resp_header(q->r, "Content-Type", "text/html; charset=utf-8");
		gw_resp_body(q->r, b.ptr, b.len);
		buf_release(&b);
		return 0;
	}
	reply(q->r, 403);
	return 0;
}

/* ------------------------------------------------------------ PUT */

/*
 * Fault injection for tests: JFS_FAULT_DAV_COMMIT_SLEEP_MS=N sleeps N ms
 * between a conditional PUT/COPY/MOVE/DELETE's look and its act, to hold open
 * the window that the engine-side guards close (t/integ/t4203).
 */
static void fault_commit_sleep(void)
{
	const char *v = getenv("JFS_FAULT_DAV_COMMIT_SLEEP_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	if (ms > 0 && ms <= 60000) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static int do_put(struct dreq *q)
{
	struct dav_server *d = q->d;
	struct meta_attr a, pa;
	uint64_t ino, pino, tino;
	struct fs_file *fh = NULL;
	struct buf tname = BUF_INIT, real = BUF_INIT;
	char *parent = parent_of(q->path.ptr), *data = NULL;
	uint64_t off = 0;
	int exists, r;
	char etag[96];

	if (!strcmp(q->path.ptr, "/")) {
		reply(q->r, 405);
		goto out;
	}
	r = resolve_link(q, q->path.ptr, &ino, &a);
	exists = r == 0;
	if (lookup_failed(r)) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if (exists && a.type == META_TYPE_DIRECTORY) {
		reply(q->r, 405);
		goto out;
	}
	if ((r = resolve(q, parent, &pino, &pa)) || pa.type != META_TYPE_DIRECTORY) {
		reply(q->r, parent_status(r));
		goto out;
	}
	if (check_if(q) || check_locks(q, q->path.ptr, exists ? 0 : LK_PARENT))
		goto out;
	/* a directory quota refuses the body before it is stored (507) */
	if (gw_req_content_length(q->r) > 0 &&
	    (r = fs_quota_precheck_dir(d->fs, pino, (uint64_t)gw_req_content_length(q->r),
				       exists && a.type == META_TYPE_FILE ? (int64_t)a.length : -1))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if ((r = fs_create_temp(d->fs, &d->ctx, TMP_DIR, &fh, &tino, &tname))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	fs_file_quota_dir(fh, pino, exists && a.type == META_TYPE_FILE ? (int64_t)a.length : -1);
	data = xmalloc(IO_CHUNK);
	for (;;) {
		ssize_t n = gw_req_read(q->r, data, IO_CHUNK);

		if (n <= 0) {
			r = (int)n;
			break;
		}
		n = fs_write(fh, off, data, (size_t)n);
		if (n < 0) {
			r = (int)n;
			break;
		}
		off += (uint64_t)n;
	}
	{
		int rr = fs_release(fh);

		if (!r)
			r = rr;
	}
	if (!r)
		r = physical_path(q, pino, base_of(q->path.ptr), &real);
	/*
	 * An If header that held for the resource's ETag held for the inode
	 * looked at before the body came: only that inode may be replaced, or
	 * a PUT in between is overwritten by one that matched its predecessor.
	 */
	if (!r && q->if_etag && exists)
		fault_commit_sleep();
	if (!r)
		r = fs_replace_if(d->fs, &d->ctx, TMP_DIR, tname.ptr, real.ptr, 0,
				  q->if_etag && exists ? ino : 0);
	if (r) {
		uint64_t tdir;

		if (!fs_resolve(d->fs, &d->ctx, TMP_DIR, &tdir, NULL))
			fs_unlink(d->fs, &d->ctx, tdir, tname.ptr, 1);
		reply(q->r, r == -ECONNRESET ? 400 : r == -ESTALE ? 412 : errno_status(r));
		goto out;
	}
	if (!resolve(q, q->path.ptr, &ino, &a)) {
		etag_of(ino, &a, etag, sizeof(etag));
		gw_resp_header(q->r, "ETag", etag);
	}
	reply(q->r, exists ? 204 : 201);
out:
	free(data);
	free(parent);
	buf_release(&tname);
	buf_release(&real);
	return 0;
}

/* ------------------------------------------------------------ DELETE */

struct del_fail {
	struct buf *ms;
	int n;
};

static void ms_begin(struct buf *b)
{
	buf_adds(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">");
}

static void ms_status(struct buf *b, const char *path, int coll, int code)
{
	buf_adds(b, "<D:response><D:href>");
	dav_href(b, path, coll);
	buf_addf(b, "</D:href><D:status>%s</D:status></D:response>", dav_status_line(code));
}

/* Depth-first removal (to trash) of dir/name; failed members are listed in f. */
static int delete_tree(struct dav_server *d, uint64_t dir, const char *name, uint64_t ino,
		       int is_dir, const char *path, struct del_fail *f)
{
	struct name_list kids = { NULL, 0 };
	int r, bad = 0;

	if (!is_dir)
		return fs_unlink(d->fs, &d->ctx, dir, name, 0);
	r = fs_list(d->fs, &d->ctx, ino, NULL, 0, collect_name, &kids);
	for (size_t i = 0; r >= 0 && i < kids.n; i++) {
		struct meta_attr a;
		uint64_t kino;
		char *kpath = xasprintf("%s/%s", strcmp(path, "/") ? path : "", kids.v[i]);
		int kr = fs_lookup(d->fs, &d->ctx, ino, kids.v[i], &kino, &a);

		if (!kr)
			kr = delete_tree(d, ino, kids.v[i], kino, a.type == META_TYPE_DIRECTORY,
					 kpath, f);
		if (kr && kr != -ENOENT) {
			if (kr != -ENOTEMPTY || a.type != META_TYPE_DIRECTORY) {
				ms_status(f->ms, kpath, 0, errno_status(kr));
				f->n++;
			}
			bad = 1;
		}
		free(kpath);
	}
	for (size_t i = 0; i < kids.n; i++)
		free(kids.v[i]);
	free(kids.v);
	if (r < 0)
		return r;
	if (bad)
		return -ENOTEMPTY;
	return fs_rmdir(d->fs, &d->ctx, dir, name, 0);
}

static int do_delete(struct dreq *q)
{
	struct meta_attr a;
	uint64_t ino, pino;
	char *parent = parent_of(q->path.ptr);
	struct buf ms = BUF_INIT;
	struct del_fail f = { &ms, 0 };
	int r, depth;

	if (dav_parse_depth(gw_req_header(q->r, "Depth"), DAV_DEPTH_INF, &depth) ||
	    depth != DAV_DEPTH_INF) {
		reply(q->r, 400);
		goto out;
	}
	if (!strcmp(q->path.ptr, "/")) {
		reply(q->r, 403);
		goto out;
	}
	if ((r = resolve_link(q, q->path.ptr, &ino, &a))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if (check_if(q) || check_locks(q, q->path.ptr, LK_DESC | LK_PARENT))
		goto out;
	if ((r = resolve(q, parent, &pino, NULL))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	ms_begin(&ms);
	if (q->if_etag && a.type != META_TYPE_DIRECTORY) {
		/* the file whose ETag matched, not one put there since the look */
		fault_commit_sleep();
		r = fs_unlink_if(q->d->fs, &q->d->ctx, pino, base_of(q->path.ptr), 0, ino);
		if (r == -ESTALE || r == -ENOENT) {
			reply(q->r, 412);
			goto out;
		}
	} else {
		r = delete_tree(q->d, pino, base_of(q->path.ptr), ino,
				a.type == META_TYPE_DIRECTORY, q->path.ptr, &f);
	}
	drop_locks_within(q, q->path.ptr);
	if (!r || r == -ENOENT) {
		reply(q->r, 204);
	} else if (f.n) {
		buf_adds(&ms, "</D:multistatus>");
		reply_xml(q->r, 207, &ms);
	} else {
		reply(q->r, errno_status(r));
	}
out:
	free(parent);
	buf_release(&ms);
	return 0;
}

/* ------------------------------------------------------------ MKCOL */

static int has_body(struct gw_req *r)
{
	int64_t cl = gw_req_content_length(r);

	return cl > 0 || (cl < 0 && gw_req_header(r, "Transfer-Encoding"));
}

static int do_mkcol(struct dreq *q)
{
	struct meta_attr a;
	uint64_t ino, pino;
	char *parent = parent_of(q->path.ptr);
	int r;

	if (has_body(q->r)) {
		struct buf junk = BUF_INIT;

		/* Read what was sent so the connection stays usable for the answer. */
		read_small_body(q->r, &junk);
		buf_release(&junk);
		reply(q->r, 415);
		goto out;
	}
	if (!(r = resolve_link(q, q->path.ptr, &ino, &a)) || lookup_failed(r)) {
		reply(q->r, r ? errno_status(r) : 405);
		goto out;
	}
	if ((r = resolve(q, parent, &pino, &a)) || a.type != META_TYPE_DIRECTORY) {
		reply(q->r, parent_status(r));
		goto out;
	}
	if (check_if(q) || check_locks(q, q->path.ptr, LK_PARENT))
		goto out;
	r = fs_mkdir(q->d->fs, &q->d->ctx, pino, base_of(q->path.ptr), 0755, 0, &ino, NULL);
	reply(q->r, r ? errno_status(r) : 201);
out:
	free(parent);
	return 0;
}

/* ------------------------------------------------------------ COPY / MOVE */

static void copy_dead_props(struct dav_server *d, uint64_t src, uint64_t dst)
{
	struct buf names = BUF_INIT, v = BUF_INIT;

	if (fs_listxattr(d->fs, &d->ctx, src, &names))
		goto out;
	for (size_t o = 0; o < names.len; o += strlen(names.ptr + o) + 1) {
		const char *n = names.ptr + o;

		if (strncmp(n, PROP_PREFIX, strlen(PROP_PREFIX)))
			continue;
		buf_reset(&v);
		if (!fs_getxattr(d->fs, &d->ctx, src, n, &v))
			fs_setxattr(d->fs, &d->ctx, dst, n, v.ptr, v.len, 0);
	}
out:
	buf_release(&names);
	buf_release(&v);
}

static int copy_tree(struct dav_server *d, uint64_t src, const struct meta_attr *sa, uint64_t dpar,
		     const char *name, int depth, int nest)
{
	uint64_t dino;
	int r;

	if (nest > 1000)
		return -ELOOP;
	if (sa->type == META_TYPE_FILE) {
		struct fs_file *fh;

		r = fs_create(d->fs, &d->ctx, dpar, name, sa->mode & 07777, 0, O_RDWR, &fh, &dino,
			      NULL);
		if (r)
			return r;
		fs_release(fh);
		if ((r = fs_clone(d->fs, &d->ctx, src, dino)))
			return r;
		copy_dead_props(d, src, dino);
		return 0;
	}
	if (sa->type == META_TYPE_SYMLINK) {
		/* Inside a copied tree a link stays a link, as cp -R does. */
		struct buf t = BUF_INIT;

		r = fs_readlink(d->fs, src, &t);
		if (!r)
			r = fs_symlink(d->fs, &d->ctx, dpar, name, t.ptr, &dino, NULL);
		buf_release(&t);
		return r;
	}
	if (sa->type != META_TYPE_DIRECTORY)
		return -EPERM;
	if ((r = fs_mkdir(d->fs, &d->ctx, dpar, name, sa->mode & 07777, 0, &dino, NULL)))
		return r;
	copy_dead_props(d, src, dino);
	if (depth != DAV_DEPTH_INF)
		return 0;
	{
		struct name_list kids = { NULL, 0 };

		r = fs_list(d->fs, &d->ctx, src, NULL, 0, collect_name, &kids);
		if (r > 0)
			r = 0;
		for (size_t i = 0; !r && i < kids.n; i++) {
			struct meta_attr ka;
			uint64_t kino;

			if (src == META_ROOT_INODE && reserved_name(src, kids.v[i]))
				continue;
			r = fs_lookup(d->fs, &d->ctx, src, kids.v[i], &kino, &ka);
			if (!r)
				r = copy_tree(d, kino, &ka, dino, kids.v[i], depth, nest + 1);
		}
		for (size_t i = 0; i < kids.n; i++)
			free(kids.v[i]);
		free(kids.v);
	}
	return r;
}

/*
 * COPY of one file: a zero-copy clone into a temp file renamed over dest
 * (flags META_RENAME_NOREPLACE: only where dest is free, -EEXIST otherwise).
 */
static int copy_file_atomic(struct dav_server *d, uint64_t src, const char *dest, unsigned flags)
{
	struct buf name = BUF_INIT;
	struct fs_file *fh;
	uint64_t tino, tdir;
	int r;

	if ((r = fs_create_temp(d->fs, &d->ctx, TMP_DIR, &fh, &tino, &name)))
		goto out;
	fs_release(fh);
	r = fs_clone(d->fs, &d->ctx, src, tino);
	if (!r) {
		copy_dead_props(d, src, tino);
		r = fs_replace_if(d->fs, &d->ctx, TMP_DIR, name.ptr, dest, flags, 0);
	}
	if (r && !fs_resolve(d->fs, &d->ctx, TMP_DIR, &tdir, NULL))
		fs_unlink(d->fs, &d->ctx, tdir, name.ptr, 1);
out:
	buf_release(&name);
	return r;
}

static int do_copymove(struct dreq *q, int move)
{
	struct dav_server *d = q->d;
	struct buf dest = BUF_INIT, ms = BUF_INIT;
	struct meta_attr sa, da, pa;
	uint64_t sino, dino, pino, spino;
	char *dparent = NULL, *sparent = parent_of(q->path.ptr);
	int depth, overwrite, r, dexists;

	r = dav_parse_dest(gw_req_header(q->r, "Destination"), q->host, &dest);
	if (r) {
		reply(q->r, r == -EXDEV ? 502 : r == -ENAMETOOLONG ? 414 : 400);
		goto out;
	}
	if (reserved_path(dest.ptr)) {
		reply(q->r, 403);
		goto out;
	}
	if (dav_parse_depth(gw_req_header(q->r, "Depth"), DAV_DEPTH_INF, &depth) || depth == 1 ||
	    (move && depth != DAV_DEPTH_INF) ||
	    dav_parse_overwrite(gw_req_header(q->r, "Overwrite"), &overwrite)) {
		reply(q->r, 400);
		goto out;
	}
	if ((r = move ? resolve_link(q, q->path.ptr, &sino, &sa)
		      : resolve(q, q->path.ptr, &sino, &sa))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if (!strcmp(dest.ptr, q->path.ptr) || !strcmp(q->path.ptr, "/") ||
	    !strcmp(dest.ptr, "/")) {
		reply(q->r, 403);
		goto out;
	}
	if (sa.type == META_TYPE_DIRECTORY && dav_path_within(q->path.ptr, dest.ptr)) {
		reply(q->r, 409);
		goto out;
	}
	dparent = parent_of(dest.ptr);
	if ((r = resolve(q, dparent, &pino, &pa)) || pa.type != META_TYPE_DIRECTORY) {
		reply(q->r, parent_status(r));
		goto out;
	}
	r = resolve_link(q, dest.ptr, &dino, &da);
	dexists = !r;
	if (lookup_failed(r)) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if (dexists && !overwrite) {
		reply(q->r, 412);
		goto out;
	}
	if (check_if(q) || (move && check_locks(q, q->path.ptr, LK_DESC | LK_PARENT)) ||
	    check_locks(q, dest.ptr, LK_DESC | (dexists ? 0 : LK_PARENT)))
		goto out;
	/*
	 * A file over a file is replaced atomically (rename / clone into a temp
	 * file renamed over it); anything else deletes the destination first,
	 * as RFC 4918 §9.8.4 and §9.9.3 describe.
	 */
	if (dexists && !(sa.type == META_TYPE_FILE && da.type == META_TYPE_FILE)) {
		struct del_fail f = { &ms, 0 };

		ms_begin(&ms);
		r = delete_tree(d, pino, base_of(dest.ptr), dino, da.type == META_TYPE_DIRECTORY,
				dest.ptr, &f);
		if (r && r != -ENOENT) {
			if (f.n) {
				buf_adds(&ms, "</D:multistatus>");
				reply_xml(q->r, 207, &ms);
			} else {
				reply(q->r, errno_status(r));
			}
			goto out;
		}
	}
	/*
	 * Overwrite: F was checked above by a look; the rename itself must not
	 * replace either (NOREPLACE), or a destination made since is lost.
	 */
	if (!overwrite || (move && q->if_etag))
		fault_commit_sleep();
	if (move) {
		/* an If ETag names the source: move that inode, not one put there since */
		if ((r = resolve(q, sparent, &spino, NULL)) ||
		    (r = fs_rename_if(d->fs, &d->ctx, spino, base_of(q->path.ptr), pino,
				      base_of(dest.ptr), overwrite ? 0 : META_RENAME_NOREPLACE,
				      q->if_etag ? sino : 0, 0))) {
			int lost = (r == -EEXIST && !overwrite) || r == -ESTALE ||
				   (r == -ENOENT && q->if_etag);

			reply(q->r, lost ? 412 : errno_status(r));
			goto out;
		}
		drop_locks_within(q, q->path.ptr);
	} else if (sa.type == META_TYPE_FILE) {
		struct buf real = BUF_INIT;

		r = physical_path(q, pino, base_of(dest.ptr), &real);
		if (!r)
			r = copy_file_atomic(d, sino, real.ptr,
					     overwrite ? 0 : META_RENAME_NOREPLACE);
		buf_release(&real);
		if (r) {
			reply(q->r, r == -EEXIST && !overwrite ? 412 : errno_status(r));
			goto out;
		}
	} else if ((r = copy_tree(d, sino, &sa, pino, base_of(dest.ptr), depth, 0))) {
		reply(q->r, r == -EEXIST && !overwrite ? 412 : errno_status(r));
		goto out;
	}
	reply(q->r, dexists ? 204 : 201);
out:
	free(dparent);
	free(sparent);
	buf_release(&dest);
	buf_release(&ms);
	return 0;
}

/* ------------------------------------------------------------ properties */

enum live {
	P_CREATIONDATE, P_DISPLAYNAME, P_GETCONTENTLENGTH, P_GETCONTENTTYPE, P_GETETAG,
	P_GETLASTMODIFIED, P_RESOURCETYPE, P_SUPPORTEDLOCK, P_LOCKDISCOVERY, P_QUOTA_USED,
	P_QUOTA_AVAIL, P_NLIVE
};
static const char *const live_names[P_NLIVE] = {
	"creationdate", "displayname", "getcontentlength", "getcontenttype", "getetag",
	"getlastmodified", "resourcetype", "supportedlock", "lockdiscovery", "quota-used-bytes",
	"quota-available-bytes",
};

static int live_index(const struct dav_pname *p)
{
	if (strcmp(p->ns, "DAV:"))
		return -1;
	for (int i = 0; i < P_NLIVE; i++)
		if (!strcmp(p->name, live_names[i]))
			return i;
	return -1;
}

/* An empty element for (ns, name): DAV: with its prefix, others with a default namespace. */
static void open_tag(struct buf *b, const char *ns, const char *name, int empty)
{
	if (!strcmp(ns, "DAV:")) {
		buf_addf(b, "<D:%s%s>", name, empty ? "/" : "");
		return;
	}
	buf_addf(b, "<%s xmlns=\"", name);
	dav_xml_escape(b, ns);
	buf_addf(b, "\"%s>", empty ? "/" : "");
}

static void activelock_xml(struct buf *b, const struct dav_lock *l)
{
	int64_t now = now_us() / 1000000;

	buf_addf(b, "<D:activelock><D:locktype><D:write/></D:locktype>"
		    "<D:lockscope><D:%s/></D:lockscope><D:depth>%s</D:depth>",
		 l->exclusive ? "exclusive" : "shared", l->depth_inf ? "infinity" : "0");
	if (l->owner)
		buf_adds(b, l->owner);
	if (l->expires)
		buf_addf(b, "<D:timeout>Second-%lld</D:timeout>",
			 (long long)MAX(l->expires - now, 0));
	else
		buf_adds(b, "<D:timeout>Infinite</D:timeout>");
	buf_addf(b, "<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>",
		 l->token);
	dav_href(b, l->root, 0);
	buf_adds(b, "</D:href></D:lockroot></D:activelock>");
}

/* Value of a live property (its whole element) into b; -ENOENT if it has none. */
static int live_prop(struct dreq *q, int idx, const char *path, uint64_t ino,
		     const struct meta_attr *a, struct buf *b)
{
	int dir = a->type == META_TYPE_DIRECTORY;
	char t[96];

	switch (idx) {
	case P_CREATIONDATE: {
		time_t tt = (time_t)a->ctime;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		buf_addf(b, "<D:creationdate>%s</D:creationdate>", t);
		return 0;
	}
	case P_DISPLAYNAME:
		buf_adds(b, "<D:displayname>");
		dav_xml_escape(b, strcmp(path, "/") ? base_of(path) : "");
		buf_adds(b, "</D:displayname>");
		return 0;
	case P_GETCONTENTLENGTH:
		if (dir)
			return -ENOENT;
		buf_addf(b, "<D:getcontentlength>%llu</D:getcontentlength>",
			 (unsigned long long)a->length);
		return 0;
	case P_GETCONTENTTYPE:
		if (dir)
			return -ENOENT;
		buf_addf(b, "<D:getcontenttype>%s</D:getcontenttype>",
			 dav_mime_type(base_of(path)));
		return 0;
	case P_GETETAG:
		etag_of(ino, a, t, sizeof(t));
		buf_adds(b, "<D:getetag>");
		dav_xml_escape(b, t);
		buf_adds(b, "</D:getetag>");
		return 0;
	case P_GETLASTMODIFIED:
		dav_http_date(a->mtime, t, sizeof(t));
		buf_addf(b, "<D:getlastmodified>%s</D:getlastmodified>", t);
		return 0;
	case P_RESOURCETYPE:
		buf_adds(b, dir ? "<D:resourcetype><D:collection/></D:resourcetype>"
				: "<D:resourcetype/>");
		return 0;
	case P_SUPPORTEDLOCK:
		buf_adds(b, "<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/>"
			    "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"
			    "<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype>"
			    "<D:write/></D:locktype></D:lockentry></D:supportedlock>");
		return 0;
	case P_LOCKDISCOVERY:
		/* do_propfind gathered the locks of path and its ancestors. */
		buf_adds(b, "<D:lockdiscovery>");
		for (size_t i = 0; i < q->nlocks; i++)
			if (dav_lock_covers(q->locks[i].root, q->locks[i].depth_inf, path))
				activelock_xml(b, &q->locks[i]);
		buf_adds(b, "</D:lockdiscovery>");
		return 0;
	case P_QUOTA_USED:
	case P_QUOTA_AVAIL: {
		struct meta_statfs st;

		if (fs_statfs(q->d->fs, &q->d->ctx, ino, &st))
			return -ENOENT;
		if (idx == P_QUOTA_USED)
			buf_addf(b, "<D:quota-used-bytes>%llu</D:quota-used-bytes>",
				 (unsigned long long)(st.total_space - st.avail_space));
		else
			buf_addf(b, "<D:quota-available-bytes>%llu</D:quota-available-bytes>",
				 (unsigned long long)st.avail_space);
		return 0;
	}
	}
	return -ENOENT;
}

static char *prop_xattr_name(const char *ns, const char *name)
{
	return xasprintf(PROP_PREFIX "%s}%s", ns, name);
}

/* Split a dead-property xattr name into ns and name (pointers into a copy). */
static int prop_split(const char *x, char **ns, char **name)
{
	const char *close;

	if (strncmp(x, PROP_PREFIX, strlen(PROP_PREFIX)))
		return -EINVAL;
	x += strlen(PROP_PREFIX);
	close = strrchr(x, '}');
	if (!close || !close[1])
		return -EINVAL;
	*ns = xstrndup(x, (size_t)(close - x));
	*name = xstrdup(close + 1);
	return 0;
}

/*
 * One <D:response> for a resource. Returns 0, or the engine failure that
 * kept a dead property from being read (the caller answers 5xx: a property
 * must not be reported missing because it could not be read).
 */
static int prop_response(struct dreq *q, const struct dav_propfind *pf, const char *path,
			 uint64_t ino, const struct meta_attr *a, struct buf *b)
{
	struct buf ok = BUF_INIT, miss = BUF_INIT, names = BUF_INIT, v = BUF_INIT;
	int dir = a->type == META_TYPE_DIRECTORY, err = 0, r;

	buf_adds(b, "<D:response><D:href>");
	dav_href(b, path, dir);
	buf_adds(b, "</D:href>");
	if (pf->mode == DAV_PF_PROP) {
		for (size_t i = 0; i < pf->nprops; i++) {
			const struct dav_pname *p = &pf->props[i];
			int li = live_index(p);

			if (li >= 0 && !live_prop(q, li, path, ino, a, &ok))
				continue;
			if (li < 0) {
				char *x = prop_xattr_name(p->ns, p->name);

				buf_reset(&v);
				if (!(r = fs_getxattr(q->d->fs, &q->d->ctx, ino, x, &v))) {
					buf_add(&ok, v.ptr, v.len);
					free(x);
					continue;
				}
				free(x);
				if (r != -ENODATA && r != -ENOENT && !err)
					err = r;
			}
			open_tag(&miss, p->ns, p->name, 1);
		}
	} else {
		for (int i = 0; i < P_NLIVE; i++) {
			if (pf->mode == DAV_PF_ALLPROP && (i == P_QUOTA_USED || i == P_QUOTA_AVAIL))
				continue;
			if (pf->mode == DAV_PF_PROPNAME) {
				if (dir && (i == P_GETCONTENTLENGTH || i == P_GETCONTENTTYPE))
					continue;
				open_tag(&ok, "DAV:", live_names[i], 1);
			} else {
				live_prop(q, i, path, ino, a, &ok);
			}
		}
		r = fs_listxattr(q->d->fs, &q->d->ctx, ino, &names);
		if (r && r != -ENOENT && !err)
			err = r;
		if (!r) {
			for (size_t o = 0; o < names.len; o += strlen(names.ptr + o) + 1) {
				char *ns, *name;

				if (prop_split(names.ptr + o, &ns, &name))
					continue;
				if (pf->mode == DAV_PF_PROPNAME) {
					open_tag(&ok, ns, name, 1);
				} else {
					buf_reset(&v);
					r = fs_getxattr(q->d->fs, &q->d->ctx, ino, names.ptr + o,
							&v);
					if (!r)
						buf_add(&ok, v.ptr, v.len);
					else if (r != -ENODATA && r != -ENOENT && !err)
						err = r;
				}
				free(ns);
				free(name);
			}
		}
		/* allprop's <include>: live ones not already there. */
		for (size_t i = 0; pf->mode == DAV_PF_ALLPROP && i < pf->nprops; i++) {
			int li = live_index(&pf->props[i]);

			if (li == P_QUOTA_USED || li == P_QUOTA_AVAIL)
				live_prop(q, li, path, ino, a, &ok);
		}
	}
	if (ok.len)
		buf_addf(b, "<D:propstat><D:prop>%s</D:prop><D:status>%s</D:status></D:propstat>",
			 ok.ptr, dav_status_line(200));
	if (miss.len)
		buf_addf(b, "<D:propstat><D:prop>%s</D:prop><D:status>%s</D:status></D:propstat>",
			 miss.ptr, dav_status_line(404));
	buf_adds(b, "</D:response>");
	buf_release(&ok);
	buf_release(&miss);
	buf_release(&names);
	buf_release(&v);
	return err;
}

static int wants_lockdiscovery(const struct dav_propfind *pf)
{
	if (pf->mode == DAV_PF_ALLPROP)
		return 1;
	for (size_t i = 0; pf->mode == DAV_PF_PROP && i < pf->nprops; i++)
		if (live_index(&pf->props[i]) == P_LOCKDISCOVERY)
			return 1;
	return 0;
}

struct pf_walk {
	struct dreq *q;
	const struct dav_propfind *pf;
	struct buf *out;
	size_t count;
	int depth;
	int too_many;
};

static int pf_children(struct pf_walk *w, const char *path, uint64_t ino, int level);

struct pf_ent {
	char *name;
	uint64_t ino;
	struct meta_attr a;
};

struct pf_list {
	struct pf_ent *v;
	size_t n;
};

static int pf_collect(void *arg, const struct meta_dirent *e)
{
	struct pf_list *l = arg;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].name = xstrndup(e->name, e->namelen);
	l->v[l->n].ino = e->ino;
	l->v[l->n].a = e->attr;
	l->n++;
	return 0;
}

static int pf_children(struct pf_walk *w, const char *path, uint64_t ino, int level)
{
	struct pf_list l = { NULL, 0 };
	int r = fs_list(w->q->d->fs, &w->q->d->ctx, ino, NULL, 0, pf_collect, &l);

	if (r > 0)
		r = 0;
	for (size_t i = 0; !r && i < l.n; i++) {
		char *kp;
		int linked;

		if (reserved_name(ino, l.v[i].name))
			continue;
		if (++w->count > MAX_PROPFIND_ENTRIES) {
			w->too_many = 1;
			r = -E2BIG;
			break;
		}
		kp = xasprintf("%s/%s", strcmp(path, "/") ? path : "", l.v[i].name);
		linked = l.v[i].a.type == META_TYPE_SYMLINK;
		/* A link shows as its target; one that dangles, loops or leaves is left out. */
		if (linked && (r = resolve(w->q, kp, &l.v[i].ino, &l.v[i].a))) {
			free(kp);
			if (r == -EIO) /* the engine failed: not a dangling link */
				break;
			r = 0;
			continue;
		}
		/* The member's own locks; its ancestors' are loaded already. */
		if (wants_lockdiscovery(w->pf))
			load_bucket(w->q, 'r', kp);
		r = prop_response(w->q, w->pf, kp, l.v[i].ino, &l.v[i].a, w->out);
		/* Depth infinity does not descend through links (a cycle would never end). */
		if (!r && w->depth == DAV_DEPTH_INF && l.v[i].a.type == META_TYPE_DIRECTORY &&
		    !linked && level < 1000)
			r = pf_children(w, kp, l.v[i].ino, level + 1);
		free(kp);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	return r;
}

static int do_propfind(struct dreq *q)
{
	struct buf body = BUF_INIT, out = BUF_INIT;
	struct dav_propfind pf;
	struct meta_attr a;
	uint64_t ino;
	int depth, r;

	memset(&pf, 0, sizeof(pf));
	if (dav_parse_depth(gw_req_header(q->r, "Depth"), DAV_DEPTH_INF, &depth)) {
		reply(q->r, 400);
		goto out;
	}
	if ((r = read_small_body(q->r, &body))) {
		reply(q->r, r == -E2BIG ? 413 : 400);
		goto out;
	}
	if ((r = dav_parse_propfind(body.ptr, body.len, &pf))) {
		reply(q->r, r == -E2BIG ? 413 : 400);
		goto out;
	}
	if ((r = resolve(q, q->path.ptr, &ino, &a))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if (check_if(q))
		goto out;
	if (wants_lockdiscovery(&pf) && gather_locks(q, q->path.ptr, 0)) {
		reply(q->r, 500);
		goto out;
	}
	ms_begin(&out);
	r = prop_response(q, &pf, q->path.ptr, ino, &a, &out);
	if (!r && depth > 0 && a.type == META_TYPE_DIRECTORY) {
		struct pf_walk w = { q, &pf, &out, 1, depth, 0 };

		r = pf_children(&w, q->path.ptr, ino, 0);
		if (w.too_many) {
			reply_cond(q->r, 403, "propfind-finite-depth", NULL);
			goto out;
		}
	}
	if (r) {
		/* a listing with members or properties left out would read as the truth */
		reply(q->r, errno_status(r));
		goto out;
	}
	buf_adds(&out, "</D:multistatus>");
	reply_xml(q->r, 207, &out);
out:
	dav_propfind_release(&pf);
	buf_release(&body);
	buf_release(&out);
	return 0;
}

static int do_proppatch(struct dreq *q)
{
	struct dav_server *d = q->d;
	struct buf body = BUF_INIT, out = BUF_INIT;
	struct dav_proppatch pp;
	struct meta_attr a;
	uint64_t ino;
	int r, *st = NULL, failed = 0;
	struct buf *old = NULL;
	int *had = NULL;
	size_t applied = 0;

	memset(&pp, 0, sizeof(pp));
	if ((r = read_small_body(q->r, &body))) {
		reply(q->r, r == -E2BIG ? 413 : 400);
		goto out;
	}
	if ((r = dav_parse_proppatch(body.ptr, body.len, &pp))) {
		reply(q->r, r == -E2BIG ? 413 : 400);
		goto out;
	}
	if ((r = resolve(q, q->path.ptr, &ino, &a))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	if (check_if(q) || check_locks(q, q->path.ptr, 0))
		goto out;
	st = xcalloc(pp.nops, sizeof(*st));
	old = xcalloc(pp.nops, sizeof(*old));
	had = xcalloc(pp.nops, sizeof(*had));
	for (size_t i = 0; i < pp.nops; i++) {
		char *x = prop_xattr_name(pp.ops[i].p.ns, pp.ops[i].p.name);

		buf_init(&old[i], 0);
		st[i] = 200;
		if (live_index(&pp.ops[i].p) >= 0)
			st[i] = 403;
		else if (strlen(x) > 255)
			st[i] = 403;
		else if (pp.ops[i].xml && strlen(pp.ops[i].xml) > 65536)
			st[i] = 507;
		free(x);
		failed |= st[i] != 200;
	}
	/* Apply in document order, remembering what was there to undo on failure. */
	for (size_t i = 0; !failed && i < pp.nops; i++) {
		char *x = prop_xattr_name(pp.ops[i].p.ns, pp.ops[i].p.name);

		had[i] = !fs_getxattr(d->fs, &d->ctx, ino, x, &old[i]);
		if (pp.ops[i].remove)
			r = fs_removexattr(d->fs, &d->ctx, ino, x);
		else
			r = fs_setxattr(d->fs, &d->ctx, ino, x, pp.ops[i].xml,
					strlen(pp.ops[i].xml), 0);
		if (r == -ENODATA)
			r = 0;
		free(x);
		if (r) {
			st[i] = errno_status(r);
			failed = 1;
			break;
		}
		applied = i + 1;
	}
	if (failed) {
		for (size_t i = applied; i-- > 0;) {
			char *x = prop_xattr_name(pp.ops[i].p.ns, pp.ops[i].p.name);

			if (had[i])
				fs_setxattr(d->fs, &d->ctx, ino, x, old[i].ptr, old[i].len, 0);
			else
				fs_removexattr(d->fs, &d->ctx, ino, x);
			free(x);
		}
		for (size_t i = 0; i < pp.nops; i++)
			if (st[i] == 200)
				st[i] = 424;
	}
	ms_begin(&out);
	buf_adds(&out, "<D:response><D:href>");
	dav_href(&out, q->path.ptr, a.type == META_TYPE_DIRECTORY);
	buf_adds(&out, "</D:href>");
	for (size_t i = 0; i < pp.nops; i++) {
		buf_adds(&out, "<D:propstat><D:prop>");
		open_tag(&out, pp.ops[i].p.ns, pp.ops[i].p.name, 1);
		buf_addf(&out, "</D:prop><D:status>%s</D:status></D:propstat>",
			 dav_status_line(st[i]));
	}
	buf_adds(&out, "</D:response></D:multistatus>");
	reply_xml(q->r, 207, &out);
out:
	for (size_t i = 0; old && i < pp.nops; i++)
		buf_release(&old[i]);
	free(old);
	free(had);
	free(st);
	dav_proppatch_release(&pp);
	buf_release(&body);
	buf_release(&out);
	return 0;
}

/* ------------------------------------------------------------ LOCK / UNLOCK */

static void reply_lock(struct gw_req *r, int code, const struct dav_lock *l, int token_header)
{
	struct buf b = BUF_INIT;

	if (token_header) {
		char *h = xasprintf("<%s>", l->token);

		gw_resp_header(r, "Lock-Token", h);
		free(h);
	}
	buf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\">"
		     "<D:lockdiscovery>");
	activelock_xml(&b, l);
	buf_adds(&b, "</D:lockdiscovery></D:prop>");
	reply_xml(r, code, &b);
	buf_release(&b);
}

static int do_lock(struct dreq *q)
{
	struct dav_server *d = q->d;
	struct buf body = BUF_INIT;
	struct dav_lockinfo li;
	struct dav_lock nl;
	struct meta_attr a;
	uint64_t ino, pino;
	int64_t timeout, now = now_us() / 1000000;
	char *parent = parent_of(q->path.ptr);
	int depth, r, created = 0, locked = 0, scope;
	char uuid[37];

	memset(&li, 0, sizeof(li));
	memset(&nl, 0, sizeof(nl));
	if (dav_parse_depth(gw_req_header(q->r, "Depth"), DAV_DEPTH_INF, &depth) || depth == 1 ||
	    dav_parse_timeout(gw_req_header(q->r, "Timeout"), &timeout)) {
		reply(q->r, 400);
		goto out;
	}
	if ((r = read_small_body(q->r, &body))) {
		reply(q->r, r == -E2BIG ? 413 : 400);
		goto out;
	}
	pthread_mutex_lock(&d->lock_mu);
	locked = 1;
	scope = depth == DAV_DEPTH_INF ? LK_DESC : 0;
	if (gather_locks(q, q->path.ptr, scope)) {
		reply(q->r, 500);
		goto out;
	}
	if (!body.len) {
		/* Refresh: the If header names the lock(s). */
		struct dav_lock *hit = NULL;

		for (size_t i = 0; i < q->nlocks; i++) {
			struct dav_lock *l = &q->locks[i];

			if (!dav_if_has_token(q->ifh, l->token) ||
			    !dav_lock_covers(l->root, l->depth_inf, q->path.ptr))
				continue;
			l->timeout = timeout;
			l->expires = timeout < 0 ? 0 : now + timeout;
			if ((r = lock_store(d, l, 0))) {
				reply(q->r, errno_status(r));
				goto out;
			}
			hit = l;
		}
		if (!hit) {
			reply_cond(q->r, 412, "lock-token-matches-request-uri", NULL);
			goto out;
		}
		reply_lock(q->r, 200, hit, 0);
		goto out;
	}
	if ((r = dav_parse_lockinfo(body.ptr, body.len, &li))) {
		reply(q->r, 400);
		goto out;
	}
	for (size_t i = 0; i < q->nlocks; i++) {
		const struct dav_lock *l = &q->locks[i];

		if (!(dav_lock_covers(l->root, l->depth_inf, q->path.ptr) ||
		      (depth == DAV_DEPTH_INF && dav_path_within(q->path.ptr, l->root))))
			continue;
		if (l->exclusive || li.exclusive) {
			reply_cond(q->r, 423, "no-conflicting-lock", l->root);
			goto out;
		}
	}
	if (check_if(q))
		goto out;
	if ((r = resolve(q, q->path.ptr, &ino, &a))) {
		/* Unmapped URL: RFC 4918 §7.3 creates an empty resource. */
		struct fs_file *fh;

		if (lookup_failed(r)) {
			reply(q->r, errno_status(r));
			goto out;
		}
		if (check_locks(q, q->path.ptr, LK_PARENT))
			goto out;
		if ((r = resolve(q, parent, &pino, &a)) || a.type != META_TYPE_DIRECTORY) {
			reply(q->r, parent_status(r));
			goto out;
		}
		r = fs_create(d->fs, &d->ctx, pino, base_of(q->path.ptr), 0644, 0, O_RDWR, &fh,
			      &ino, NULL);
		if (r) {
			reply(q->r, errno_status(r));
			goto out;
		}
		fs_release(fh);
		created = 1;
	}
	uuid4(uuid);
	snprintf(nl.token, sizeof(nl.token), "opaquelocktoken:%s", uuid);
	nl.root = xstrdup(q->path.ptr);
	nl.exclusive = li.exclusive;
	nl.depth_inf = depth == DAV_DEPTH_INF;
	nl.timeout = timeout;
	nl.expires = timeout < 0 ? 0 : now + timeout;
	nl.owner = li.owner ? xstrdup(li.owner) : NULL;
	if ((r = lock_store(d, &nl, 1))) {
		reply(q->r, errno_status(r));
		goto out;
	}
	/*
	 * Another server may have locked the same resource between our check
	 * and our store: look again, and back off on any conflict (both may back
	 * off; neither is granted a lock the other holds).
	 */
	free_locks(q);
	if (gather_locks(q, nl.root, scope)) {
		lock_remove(d, &nl);
		reply(q->r, 500);
		goto out;
	}
	for (size_t i = 0; i < q->nlocks; i++) {
		const struct dav_lock *l = &q->locks[i];

		if (!strcmp(l->token, nl.token) ||
		    !(dav_lock_covers(l->root, l->depth_inf, nl.root) ||
		      dav_lock_covers(nl.root, nl.depth_inf, l->root)) ||
		    (!l->exclusive && !nl.exclusive))
			continue;
		lock_remove(d, &nl);
		reply_cond(q->r, 423, "no-conflicting-lock", l->root);
		goto out;
	}
	reply_lock(q->r, created ? 201 : 200, &nl, 1);
out:
	if (locked)
		pthread_mutex_unlock(&d->lock_mu);
	dav_lock_release(&nl);
	dav_lockinfo_release(&li);
	buf_release(&body);
	free(parent);
	return 0;
}

static int do_unlock(struct dreq *q)
{
	const char *h = gw_req_header(q->r, "Lock-Token");
	char *tok = NULL;
	size_t n;

	if (!h || (n = strlen(h)) < 3 || h[0] != '<' || h[n - 1] != '>') {
		reply(q->r, 400);
		return 0;
	}
	tok = xstrndup(h + 1, n - 2);
	if (gather_locks(q, q->path.ptr, 0)) {
		reply(q->r, 500);
		goto out;
	}
	for (size_t i = 0; i < q->nlocks; i++) {
		if (strcmp(q->locks[i].token, tok) ||
		    !dav_lock_covers(q->locks[i].root, q->locks[i].depth_inf, q->path.ptr))
			continue;
		lock_remove(q->d, &q->locks[i]);
		reply(q->r, 204);
		goto out;
	}
	reply_cond(q->r, 409, "lock-token-matches-request-uri", NULL);
out:
	free(tok);
	return 0;
}

/* ------------------------------------------------------------ auth, dispatch */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int b64decode(const char *s, struct buf *out)
{
	unsigned acc = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		int v = b64val((unsigned char)*s);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addch(out, (char)((acc >> bits) & 0xff));
		}
		if (out->len > 1024)
			return -EINVAL;
	}
	/* Only padding may follow: "creds=junk" is not the credentials "creds". */
	while (*s == '=')
		s++;
	return *s ? -EINVAL : 0;
}

/* Length-independent time comparison of secrets. */
static int secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return !diff;
}

static int authorized(struct dav_server *d, struct gw_req *r)
{
	const char *h = gw_req_header(r, "Authorization");
	struct buf dec = BUF_INIT;
	char *colon;
	int ok = 0;

	if (!d->conf.user)
		return 1;
	if (!h || strncasecmp(h, "Basic ", 6))
		return 0;
	h += 6;
	while (*h == ' ')
		h++;
	/* A NUL inside would end the name or password early in a comparison. */
	if (b64decode(h, &dec) || memchr(dec.ptr, 0, dec.len) ||
	    !(colon = memchr(dec.ptr, ':', dec.len)))
		goto out;
	*colon = 0;
	ok = secret_eq(dec.ptr, d->conf.user) &
	     secret_eq(colon + 1, d->conf.password ? d->conf.password : "");
out:
	buf_release(&dec);
	return ok;
}

/*
 * A request refused before its body was read: read (a bounded amount of)
 * the rest, so that the client gets the answer instead of a reset.
 */
static void drain_body(struct gw_req *r)
{
	char tmp[16384];
	size_t total = 0;

	while (total < (16u << 20)) {
		ssize_t n = gw_req_read(r, tmp, sizeof(tmp));

		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

int dav_handle(void *arg, struct gw_req *req)
{
	struct dreq q;
	const char *ifh;
	int r, trailing = 0;

	memset(&q, 0, sizeof(q));
	q.d = arg;
	q.r = req;
	q.method = gw_req_method(req);
	q.host = gw_req_header(req, "Host");
	buf_init(&q.path, 0);
	if (!authorized(q.d, req)) {
		gw_resp_header(req, "WWW-Authenticate", "Basic realm=\"juicefs\"");
		reply(req, 401);
		goto out;
	}
	r = dav_norm_path(gw_req_raw_path(req), 1, &q.path, &trailing);
	if (r) {
		reply(req, r == -ENAMETOOLONG ? 414 : 400);
		goto out;
	}
	if (reserved_path(q.path.ptr)) {
		reply(req, 404);
		goto out;
	}
	ifh = gw_req_header(req, "If");
	if (ifh && dav_if_parse(ifh, q.host, &q.ifh)) {
		reply(req, 400);
		goto out;
	}
	if (!strcmp(q.method, "OPTIONS"))
		do_options(&q);
	else if (!strcmp(q.method, "GET") || !strcmp(q.method, "HEAD"))
		do_get(&q);
	else if (!strcmp(q.method, "PUT"))
		do_put(&q);
	else if (!strcmp(q.method, "DELETE"))
		do_delete(&q);
	else if (!strcmp(q.method, "MKCOL"))
		do_mkcol(&q);
	else if (!strcmp(q.method, "COPY"))
		do_copymove(&q, 0);
	else if (!strcmp(q.method, "MOVE"))
		do_copymove(&q, 1);
	else if (!strcmp(q.method, "PROPFIND"))
		do_propfind(&q);
	else if (!strcmp(q.method, "PROPPATCH"))
		do_proppatch(&q);
	else if (!strcmp(q.method, "LOCK"))
		do_lock(&q);
	else if (!strcmp(q.method, "UNLOCK"))
		do_unlock(&q);
	else {
		gw_resp_header(req, "Allow", "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, "
					     "PROPFIND, PROPPATCH, LOCK, UNLOCK");
		reply(req, 405);
	}
out:
	drain_body(req);
	dav_if_free(q.ifh);
	free_locks(&q);
	buf_release(&q.path);
	return 0;
}

int dav_new(struct fs *fs, const struct dav_conf *c, struct dav_server **out)
{
	struct dav_server *d = xcalloc(1, sizeof(*d));

	/* libxml2's global state must be set up before worker threads parse. */
	xmlInitParser();
	d->fs = fs;
	d->conf = *c;
	/* as the real WebDAV server: requests act as this process's user (root passes) */
	fs_ctx_process(&d->ctx);
	pthread_mutex_init(&d->lock_mu, NULL);
	*out = d;
	return 0;
}

void dav_free(struct dav_server *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock_mu);
	free(d);
}
