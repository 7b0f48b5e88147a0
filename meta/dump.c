/*
 * dump: `juicefs dump` and `juicefs load` in JuiceFS 1.x's JSON format
 * (spec §11.1, §11.2), for every engine through the primitive table.
 *
 * Dump walks the tree depth-first from the root (or --subdir), a page of
 * directory entries at a time in their own read transaction, and streams the
 * JSON out as it goes, in the real client's layout (the same indentation,
 * names in byte order, hard links written in full at every name), so a dump
 * of a million files holds one page per directory level in memory, never
 * the tree.
 *
 * Load is the reverse, streamed as well. Invariants:
 *  1. It runs only on a database with no record at all (is_empty), so a
 *     failure may wipe the database (reset) without destroying anything that
 *     was there before: on any error the target is left empty.
 *  2. The volume setting is written last, in the final transaction. Until
 *     then no client can open the database as a volume; a load killed
 *     midway leaves records but no setting, which the next load refuses
 *     as "not empty" with a message telling how to wipe it.
 *  3. A node is written when its JSON object closes (its nlink, length and
 *     dir stats are known only then); edges, chunks and xattrs as they are
 *     read. Writes go in transactions of LOAD_BATCH nodes.
 *  4. What must be seen whole is kept in compact hash sets: inodes seen
 *     (duplicates are errors, except files at several names: hard links,
 *     fixed up at the end) and slices seen (first reference creates the
 *     refcount record, later ones add to it). Counters are recomputed from
 *     the tree, as the real loader does.
 */
#include "meta/meta-internal.h"
#include "meta/jsonstream.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define DUMP_PAGE 1000
#define DUMP_MAX_THREADS 64
#define LOAD_BATCH 1000

static const char *const type_names[] = {
	[META_TYPE_FILE] = "regular",   [META_TYPE_DIRECTORY] = "directory",
	[META_TYPE_SYMLINK] = "symlink", [META_TYPE_FIFO] = "fifo",
	[META_TYPE_BLOCKDEV] = "blockdev", [META_TYPE_CHARDEV] = "chardev",
	[META_TYPE_SOCKET] = "socket",
};

static int type_from_name(const char *s)
{
	for (size_t i = 1; i < ARRAY_SIZE(type_names); i++)
		if (!strcmp(s, type_names[i]))
			return (int)i;
	return 0;
}

static int64_t align4k(uint64_t len)
{
	return len == 0 ? 4096 : (int64_t)(((len - 1) / 4096 + 1) * 4096);
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts and rate on stderr, as the real client's progress bar does, when asked. */
struct progress {
	int on;
	const char *what;
	uint64_t n;
	double start, last;
};

static void progress_tick(struct progress *p, int final)
{
	double now;

	if (!p->on)
		return;
	now = mono_now();
	if (!final && now - p->last < 0.25)
		return;
	p->last = now;
	double el = now - p->start;
	fprintf(stderr, "\r%s: %llu (%.0f/s)%s", p->what, (unsigned long long)p->n,
		el > 0 ? (double)p->n / el : 0.0, final ? "\n" : "");
	fflush(stderr);
}

/* ================================================================== dump */

struct dent {
	char *name;
	size_t nlen;
	uint64_t ino;
	uint8_t type;
};

struct dpage {
	struct dent *v;
	size_t n, cap;
};

struct dumper {
	struct meta *m;
	struct meta_jsw w;
	struct meta_txn *t; /* the open read transaction, or NULL */
	struct buf tmp;     /* escaping scratch */
	struct buf val;
	struct progress prog;
	struct buf *err;
	struct dumper *workers; /* page renderers, one per thread (--threads) */
	int nworkers;
	struct pool *pool;
};

static int dpage_cb(void *arg, const char *name, size_t nlen, uint64_t ino, uint8_t type)
{
	struct dpage *p = arg;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].name = xmemdup(name, nlen + 1);
	p->v[p->n].name[nlen] = 0;
	p->v[p->n].nlen = nlen;
	p->v[p->n].ino = ino;
	p->v[p->n].type = type;
	p->n++;
	return 0;
}

static void dpage_clear(struct dpage *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].name);
	p->n = 0;
}

static int d_txn(struct dumper *d)
{
	if (d->t)
		return 0;
	return d->m->ops->begin(d->m, 0, &d->t);
}

static void d_end(struct dumper *d)
{
	if (d->t) {
		d->m->ops->abort(d->t);
		d->t = NULL;
	}
}

static void put_pct(struct dumper *d, const char *p, size_t n)
{
	buf_reset(&d->tmp);
	meta_js_pct_escape(&d->tmp, p, n);
	meta_jsw_raw(&d->w, d->tmp.ptr, d->tmp.len);
}

static void put_attr(struct dumper *d, uint64_t ino, const struct meta_attr *a)
{
	struct meta_jsw *w = &d->w;

	meta_jsw_printf(w, "{\"inode\":%llu,", (unsigned long long)ino);
	if (a->flags)
		meta_jsw_printf(w, "\"flags\":%u,", a->flags);
	meta_jsw_printf(w, "\"type\":\"%s\",\"mode\":%u,\"uid\":%u,\"gid\":%u,",
			a->type < ARRAY_SIZE(type_names) && type_names[a->type] ?
				type_names[a->type] : "",
			a->mode, a->uid, a->gid);
	meta_jsw_printf(w, "\"atime\":%lld,\"mtime\":%lld,\"ctime\":%lld,", (long long)a->atime,
			(long long)a->mtime, (long long)a->ctime);
	if (a->atimensec)
		meta_jsw_printf(w, "\"atimensec\":%u,", a->atimensec);
	if (a->mtimensec)
		meta_jsw_printf(w, "\"mtimensec\":%u,", a->mtimensec);
	if (a->ctimensec)
		meta_jsw_printf(w, "\"ctimensec\":%u,", a->ctimensec);
	meta_jsw_printf(w, "\"nlink\":%u,\"length\":%llu", a->nlink,
			(unsigned long long)(a->type == META_TYPE_FILE ? a->length : 0));
	if (a->rdev)
		meta_jsw_printf(w, ",\"rdev\":%u", a->rdev);
	if (a->tier)
		meta_jsw_printf(w, ",\"tier\":%u", a->tier);
	meta_jsw_raw(w, "}", 1);
}

struct names {
	char **v;
	size_t n, cap;
};

static int names_cb(void *arg, const char *name, size_t len)
{
	struct names *ns = arg;

	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 8;
		ns->v = xrealloc(ns->v, ns->cap * sizeof(*ns->v));
	}
	ns->v[ns->n++] = xstrndup(name, len);
	return 0;
}

struct xpair {
	char *name;
	char *val;
	size_t vlen;
};

static int cmp_xpair(const void *a, const void *b)
{
	return strcmp(((const struct xpair *)a)->name, ((const struct xpair *)b)->name);
}

/* The fields after "attr" that every type may have: xattrs (sorted by name). */
static int put_xattrs(struct dumper *d, uint64_t ino, int depth, const struct meta_extras *ex)
{
	struct xpair *v = NULL;
	size_t n = 0;
	int r = 0;

	if (ex) {
		/* repeated: u32 BE name length, name, u32 BE value length, value */
		const uint8_t *p = (const uint8_t *)ex->xattrs.ptr, *end = p + ex->xattrs.len;
		while (end - p >= 8) {
			uint32_t nl = get_be32(p), vl;
			if ((size_t)(end - p) < 8 + (size_t)nl)
				break;
			vl = get_be32(p + 4 + nl);
			if ((size_t)(end - p) < 8 + (size_t)nl + vl)
				break;
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n].name = xstrndup((const char *)p + 4, nl);
			v[n].val = xmemdup(p + 8 + nl, vl + 1);
			v[n].vlen = vl;
			n++;
			p += 8 + nl + vl;
		}
	} else {
		struct names ns = { 0 };
		r = d->m->ops->scan_xattrs(d->t, ino, names_cb, &ns);
		for (size_t i = 0; i < ns.n; i++) {
			if (!r) {
				buf_reset(&d->val);
				r = d->m->ops->get_xattr(d->t, ino, ns.v[i], &d->val);
				if (r == -ENOENT || r == -ENODATA) {
					r = 0; /* removed meanwhile */
				} else if (!r) {
					v = xrealloc(v, (n + 1) * sizeof(*v));
					v[n].name = ns.v[i];
					v[n].vlen = d->val.len;
					v[n].val = xmemdup(d->val.ptr, d->val.len + 1);
					n++;
					continue;
				}
			}
			free(ns.v[i]);
		}
		free(ns.v);
	}
	if (r == 0 && n) {
		qsort(v, n, sizeof(*v), cmp_xpair);
		meta_jsw_raw(&d->w, ",", 1);
		meta_jsw_indent(&d->w, depth);
		meta_jsw_puts(&d->w, "\"xattrs\": [");
		for (size_t i = 0; i < n; i++) {
			if (i)
				meta_jsw_raw(&d->w, ",", 1);
			meta_jsw_puts(&d->w, "{\"name\":");
			meta_jsw_str(&d->w, v[i].name, strlen(v[i].name));
			meta_jsw_puts(&d->w, ",\"value\":");
			buf_reset(&d->tmp);
			meta_js_pct_escape(&d->tmp, v[i].val, v[i].vlen);
			meta_jsw_str(&d->w, d->tmp.ptr, d->tmp.len);
			meta_jsw_raw(&d->w, "}", 1);
		}
		meta_jsw_raw(&d->w, "]", 1);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].val);
	}
	free(v);
	return r;
}

static void put_acl_entries(struct dumper *d, const struct meta_acl_entry *e, uint32_t n)
{
	if (!n) {
		meta_jsw_puts(&d->w, "null"); /* Go marshals an empty slice as null */
		return;
	}
	meta_jsw_raw(&d->w, "[", 1);
	for (uint32_t i = 0; i < n; i++)
		meta_jsw_printf(&d->w, "%s{\"id\":%u,\"perm\":%u}", i ? "," : "", e[i].id,
				e[i].perm);
	meta_jsw_raw(&d->w, "]", 1);
}

/* "posix_acl_access"/"posix_acl_default" of a node, as JuiceFS writes them (spec §11.1). */
static int put_acl(struct dumper *d, const char *key, uint32_t id, int depth)
{
	struct meta_acl a;
	int r;
	if (!id)
		return 0;
	r = d->m->ops->get_acl(d->t, id, &a);
	if (r == -ENOENT) {
		log_error("dump: ACL rule %u is missing", id);
		return -EIO;
	}
	if (r)
		return r;
	meta_jsw_raw(&d->w, ",", 1);
	meta_jsw_indent(&d->w, depth);
	meta_jsw_printf(&d->w, "\"%s\": {\"owner\":%u,\"group\":%u,\"other\":%u,\"mask\":%u,"
			       "\"users\":",
			key, a.owner, a.group, a.other, a.mask);
	put_acl_entries(d, a.users, a.nusers);
	meta_jsw_puts(&d->w, ",\"groups\":");
	put_acl_entries(d, a.groups, a.ngroups);
	meta_jsw_raw(&d->w, "}", 1);
	meta_acl_release(&a);
	return 0;
}

static int put_acls(struct dumper *d, const struct meta_attr *a, int depth)
{
	int r = put_acl(d, "posix_acl_access", a->access_acl, depth);
	return r ? r : put_acl(d, "posix_acl_default", a->default_acl, depth);
}

static void put_chunk(struct dumper *d, uint32_t indx, const struct buf *recs)
{
	meta_jsw_printf(&d->w, "{\"index\":%u,\"slices\":[", indx);
	for (size_t i = 0; i + META_SLICE_BYTES <= recs->len; i += META_SLICE_BYTES) {
		struct meta_slice s;
		meta_slice_decode((const uint8_t *)recs->ptr + i, &s);
		meta_jsw_printf(&d->w, "%s{\"id\":%llu", i ? "," : "", (unsigned long long)s.id);
		if (s.pos)
			meta_jsw_printf(&d->w, ",\"pos\":%u", s.pos);
		meta_jsw_printf(&d->w, ",\"size\":%u", s.size);
		if (s.off)
			meta_jsw_printf(&d->w, ",\"off\":%u", s.off);
		meta_jsw_printf(&d->w, ",\"len\":%u}", s.len);
	}
	meta_jsw_raw(&d->w, "]}", 2);
}

static int put_chunks(struct dumper *d, uint64_t ino, const struct meta_attr *a, int depth,
		      const struct meta_extras *ex)
{
	uint64_t nchunks = (a->length + META_CHUNK_SIZE - 1) / META_CHUNK_SIZE;
	struct buf recs = BUF_INIT, first = BUF_INIT;
	uint32_t first_indx = 0;
	int count = 0, r = 0;

	for (uint64_t i = 0; i < nchunks; i++) {
		buf_reset(&recs);
		if (ex)
			r = i < ex->nchunks ?
				    buf_add(&recs, ex->chunks[i].ptr, ex->chunks[i].len) :
				    0;
		else
			r = d->m->ops->get_chunk(d->t, ino, (uint32_t)i, &recs);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r)
			break;
		if (!recs.len)
			continue;
		/* The real writer puts one chunk on the "chunks" line, several one per line. */
		if (count == 0) {
			buf_add(&first, recs.ptr, recs.len);
			first_indx = (uint32_t)i;
			count = 1;
			continue;
		}
		if (count == 1) {
			meta_jsw_raw(&d->w, ",", 1);
			meta_jsw_indent(&d->w, depth);
			meta_jsw_puts(&d->w, "\"chunks\": [");
			meta_jsw_indent(&d->w, depth + 1);
			put_chunk(d, first_indx, &first);
		}
		meta_jsw_raw(&d->w, ",", 1);
		meta_jsw_indent(&d->w, depth + 1);
		put_chunk(d, (uint32_t)i, &recs);
		count++;
	}
	if (!r && count == 1) {
		meta_jsw_raw(&d->w, ",", 1);
		meta_jsw_indent(&d->w, depth);
		meta_jsw_puts(&d->w, "\"chunks\": [");
		put_chunk(d, first_indx, &first);
		meta_jsw_raw(&d->w, "]", 1);
	} else if (!r && count > 1) {
		meta_jsw_indent(&d->w, depth);
		meta_jsw_raw(&d->w, "]", 1);
	}
	buf_release(&recs);
	buf_release(&first);
	return r;
}

/* `"name": {` and the attr line; the caller's read transaction is open. */
static void put_head(struct dumper *d, const char *name, size_t nlen, int literal, uint64_t ino,
		     const struct meta_attr *a, int depth)
{
	meta_jsw_indent(&d->w, depth);
	meta_jsw_raw(&d->w, "\"", 1);
	if (literal)
		meta_jsw_raw(&d->w, name, nlen);
	else
		put_pct(d, name, nlen);
	meta_jsw_puts(&d->w, "\": {");
	meta_jsw_indent(&d->w, depth + 1);
	meta_jsw_puts(&d->w, "\"attr\": ");
	put_attr(d, ino, a);
}

static ssize_t buf_sink(void *arg, const void *p, size_t n)
{
	return buf_add(arg, p, n) ? -E2BIG : (ssize_t)n;
}

/*
 * Render one member of a directory into out: all of it for a non-directory;
 * for a directory its head up to the opening of "entries", the caller
 * writing the members and the closing. Runs in a worker with its own read
 * transaction (wk->t) and writer (sinking into out).
 */
static int render_node(struct dumper *wk, const struct dent *e, int depth, struct buf *out,
		       uint8_t *is_dir, const struct meta_attr *pre, int found,
		       const struct meta_extras *ex)
{
	struct meta_attr a;
	int r = d_txn(wk);

	wk->w.arg = out;
	wk->w.err = 0;
	if (r)
		return r;
	if (pre) {
		r = found ? 0 : -ENOENT;
		if (found)
			a = *pre;
	} else {
		r = wk->m->ops->get_attr(wk->t, e->ino, &a);
	}
	if (r == -ENOENT) {
		/* As the real client: a dangling entry is dumped with what the edge says. */
		log_warn("dump: the entry %s (inode %llu) has no attribute", e->name,
			 (unsigned long long)e->ino);
		memset(&a, 0, sizeof(a));
		a.type = e->type;
		a.nlink = e->type == META_TYPE_DIRECTORY ? 2 : 1;
		r = 0;
	}
	if (r)
		return r;
	if (!a.type)
		a.type = e->type;
	*is_dir = a.type == META_TYPE_DIRECTORY;
	put_head(wk, e->name, e->nlen, 0, e->ino, &a, depth);
	if (a.type == META_TYPE_SYMLINK) {
		buf_reset(&wk->val);
		if (ex)
			r = buf_add(&wk->val, ex->target.ptr, ex->target.len);
		else
			r = wk->m->ops->get_symlink(wk->t, e->ino, &wk->val);
		if (r == -ENOENT)
			r = 0;
		if (r)
			return r;
		if (wk->val.len) {
			meta_jsw_raw(&wk->w, ",", 1);
			meta_jsw_indent(&wk->w, depth + 1);
			meta_jsw_puts(&wk->w, "\"symlink\": \"");
			put_pct(wk, wk->val.ptr, wk->val.len);
			meta_jsw_raw(&wk->w, "\"", 1);
		}
	}
	if ((r = put_xattrs(wk, e->ino, depth + 1, ex && found ? ex : NULL)) ||
	    (r = put_acls(wk, &a, depth + 1)))
		return r;
	if (a.type == META_TYPE_FILE &&
	    (r = put_chunks(wk, e->ino, &a, depth + 1, ex && found ? ex : NULL)))
		return r;
	if (*is_dir) {
		meta_jsw_raw(&wk->w, ",", 1);
		meta_jsw_indent(&wk->w, depth + 1);
		meta_jsw_puts(&wk->w, "\"entries\": {");
	} else {
		meta_jsw_indent(&wk->w, depth);
		meta_jsw_raw(&wk->w, "}", 1);
	}
	return meta_jsw_flush(&wk->w);
}

/* A page of members rendered by the workers, in parallel when there are several. */
struct pagejob {
	struct dumper *wk;
	struct dpage *pg;
	size_t *next;
	pthread_mutex_t *mu;
	struct buf *out;
	uint8_t *is_dir;
	int *rc;
	int depth;
};

static void *page_worker(void *arg)
{
	struct pagejob *j = arg;

	for (;;) {
		pthread_mutex_lock(j->mu);
		size_t i = (*j->next)++;
		pthread_mutex_unlock(j->mu);
		if (i >= j->pg->n)
			break;
		j->rc[i] = render_node(j->wk, &j->pg->v[i], j->depth, &j->out[i], &j->is_dir[i],
				       NULL, 0, NULL);
		if (j->rc[i])
			break;
	}
	d_end(j->wk);
	return NULL;
}

/*
 * Worker threads live for the whole dump: engines keep a connection per
 * thread, and a fresh thread per page would open a fresh one each time.
 * The dumping thread posts a page (gen bumps), works on it too, and waits
 * until every worker has finished it.
 */
struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	uint64_t gen;
	int busy, quit;
	struct pagejob *jobs;
	pthread_t *tid;
	int nthreads;
};

struct pool_arg {
	struct pool *p;
	int k;
};

static void *pool_main(void *arg)
{
	struct pool_arg *pa = arg;
	struct pool *p = pa->p;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && p->gen == seen)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		page_worker(&p->jobs[pa->k]);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	free(pa);
	return NULL;
}

static void pool_start(struct dumper *d)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->jobs = xcalloc((size_t)d->nworkers, sizeof(*p->jobs));
	p->tid = xcalloc((size_t)d->nworkers, sizeof(*p->tid));
	for (int k = 1; k < d->nworkers; k++) {
		struct pool_arg *pa = xmalloc(sizeof(*pa));
		pa->p = p;
		pa->k = k;
		/* a failed spawn just means fewer helpers */
		if (pthread_create(&p->tid[p->nthreads], NULL, pool_main, pa)) {
			free(pa);
			break;
		}
		p->nthreads++;
	}
	d->pool = p;
}

static void pool_stop(struct dumper *d)
{
	struct pool *p = d->pool;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int k = 0; k < p->nthreads; k++)
		pthread_join(p->tid[k], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->jobs);
	free(p->tid);
	free(p);
	d->pool = NULL;
}

/*
 * Engines with batch reads (get_attrs + get_extras: Redis pipelines) render
 * a page in this thread from two or three round trips; -ENOSYS: no batch.
 */
static int render_page_batched(struct dumper *d, struct dpage *pg, int depth, struct buf *out,
			       uint8_t *is_dir)
{
	struct dumper *wk = &d->workers[0];
	const struct meta_engine_ops *ops = d->m->ops;
	uint64_t *inos;
	struct meta_attr *attrs;
	uint8_t *found;
	struct meta_extras *ex;
	int r;

	if (!ops->get_attrs || !ops->get_extras || !pg->n)
		return -ENOSYS;
	if ((r = d_txn(wk)))
		return r;
	inos = xcalloc(pg->n, sizeof(*inos));
	attrs = xcalloc(pg->n, sizeof(*attrs));
	found = xcalloc(pg->n, 1);
	ex = xcalloc(pg->n, sizeof(*ex));
	for (size_t i = 0; i < pg->n; i++)
		inos[i] = pg->v[i].ino;
	r = ops->get_attrs(wk->t, inos, pg->n, attrs, found);
	for (size_t i = 0; !r && i < pg->n; i++) {
		if (!found[i])
			memset(&attrs[i], 0, sizeof(attrs[i])); /* nothing to fetch for it */
		buf_init(&ex[i].xattrs, 0);
		buf_init(&ex[i].target, 0);
	}
	if (!r)
		r = ops->get_extras(wk->t, inos, attrs, pg->n, ex);
	for (size_t i = 0; !r && i < pg->n; i++) {
		buf_reset(&out[i]);
		r = render_node(wk, &pg->v[i], depth, &out[i], &is_dir[i], &attrs[i], found[i],
				&ex[i]);
	}
	for (size_t i = 0; i < pg->n; i++) {
		buf_release(&ex[i].xattrs);
		buf_release(&ex[i].target);
		for (uint32_t k = 0; k < ex[i].nchunks; k++)
			buf_release(&ex[i].chunks[k]);
		free(ex[i].chunks);
	}
	d_end(wk);
	free(inos);
	free(attrs);
	free(found);
	free(ex);
	return r;
}

static int render_page(struct dumper *d, struct dpage *pg, int depth, struct buf *out,
		       uint8_t *is_dir, int *rc)
{
	int br = render_page_batched(d, pg, depth, out, is_dir);
	if (br != -ENOSYS)
		return br;

	struct pool *p = d->pool;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	size_t next = 0;
	int helpers = pg->n > 16 ? p->nthreads : 0;

	for (size_t i = 0; i < pg->n; i++) {
		buf_reset(&out[i]);
		rc[i] = -ECANCELED;
	}
	for (int k = 0; k <= helpers; k++)
		p->jobs[k] = (struct pagejob){ &d->workers[k], pg, &next, &mu, out, is_dir, rc,
					       depth };
	if (helpers) {
		pthread_mutex_lock(&p->mu);
		p->busy = helpers;
		p->gen++;
		pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->mu);
	}
	page_worker(&p->jobs[0]);
	if (helpers) {
		pthread_mutex_lock(&p->mu);
		while (p->busy)
			pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
	for (size_t i = 0; i < pg->n; i++)
		if (rc[i])
			return rc[i];
	return 0;
}

/* The members of directory ino, in byte order of their names, a page at a time. */
static int dump_dir(struct dumper *d, uint64_t ino, int depth)
{
	struct dpage pg = { 0 };
	struct buf *out = xcalloc(DUMP_PAGE, sizeof(*out));
	uint8_t *is_dir = xcalloc(DUMP_PAGE, 1);
	int *rc = xcalloc(DUMP_PAGE, sizeof(*rc));
	char *after = NULL;
	size_t alen = 0, total = 0;
	int r = 0;

	for (;;) {
		if ((r = d_txn(d)))
			break;
		dpage_clear(&pg);
		r = d->m->ops->scan_entries(d->t, ino, after, alen, DUMP_PAGE, dpage_cb, &pg);
		d_end(d);
		if (r)
			break;
		if ((r = render_page(d, &pg, depth, out, is_dir, rc)))
			break;
		for (size_t i = 0; i < pg.n && !r; i++) {
			if (total++)
				meta_jsw_raw(&d->w, ",", 1);
			meta_jsw_raw(&d->w, out[i].ptr, out[i].len);
			if (is_dir[i]) {
				if ((r = dump_dir(d, pg.v[i].ino, depth + 2)))
					break;
				meta_jsw_indent(&d->w, depth + 1);
				meta_jsw_raw(&d->w, "}", 1);
				meta_jsw_indent(&d->w, depth);
				meta_jsw_raw(&d->w, "}", 1);
			}
			d->prog.n++;
			progress_tick(&d->prog, 0);
			r = d->w.err;
		}
		if (r || pg.n < DUMP_PAGE)
			break;
		free(after);
		alen = pg.v[pg.n - 1].nlen;
		after = xmemdup(pg.v[pg.n - 1].name, alen + 1);
	}
	d_end(d);
	dpage_clear(&pg);
	free(pg.v);
	free(after);
	for (size_t i = 0; i < DUMP_PAGE; i++)
		buf_release(&out[i]);
	free(out);
	free(is_dir);
	free(rc);
	return r;
}

/* A top-level tree ("FSTree" or "Trash"): its head, xattrs and members. */
static int dump_tree(struct dumper *d, const char *key, uint64_t ino, int required)
{
	struct meta_attr a;
	int r = d_txn(d);

	if (r)
		return r;
	r = d->m->ops->get_attr(d->t, ino, &a);
	if (r == -ENOENT && !required) {
		/* the real client dumps a volume without trash with an empty one */
		memset(&a, 0, sizeof(a));
		a.type = META_TYPE_DIRECTORY;
		a.nlink = 2;
		r = 0;
	} else if (r == -ENOENT) {
		buf_addf(d->err, "the root directory (inode %llu) has no attribute",
			 (unsigned long long)ino);
		return -ENOENT;
	}
	if (r)
		return r;
	put_head(d, key, strlen(key), 1, ino, &a, 1);
	if ((r = put_xattrs(d, ino, 2, NULL)) || (r = put_acls(d, &a, 2)))
		return r;
	meta_jsw_raw(&d->w, ",", 1);
	meta_jsw_indent(&d->w, 2);
	meta_jsw_puts(&d->w, "\"entries\": {");
	d_end(d);
	d->prog.n++;
	if ((r = dump_dir(d, ino, 3)))
		return r;
	meta_jsw_indent(&d->w, 2);
	meta_jsw_raw(&d->w, "}", 1);
	meta_jsw_indent(&d->w, 1);
	meta_jsw_raw(&d->w, "}", 1);
	return d->w.err;
}

struct sus {
	uint64_t sid, ino;
};
struct susv {
	struct sus *v;
	size_t n, cap;
};

static int sus_cb(void *arg, uint64_t sid, uint64_t ino)
{
	struct susv *s = arg;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n].sid = sid;
	s->v[s->n].ino = ino;
	s->n++;
	return 0;
}

static int cmp_sus(const void *a, const void *b)
{
	const struct sus *x = a, *y = b;
	if (x->sid != y->sid)
		return x->sid < y->sid ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct delv {
	struct meta_jsw *w;
	size_t n;
};

static int del_cb(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct delv *dv = arg;
	struct meta_jsw *w = dv->w;

	if (dv->n++)
		meta_jsw_raw(w, ",", 1);
	meta_jsw_indent(w, 2);
	meta_jsw_raw(w, "{", 1);
	meta_jsw_indent(w, 3);
	meta_jsw_printf(w, "\"inode\": %llu,", (unsigned long long)ino);
	meta_jsw_indent(w, 3);
	meta_jsw_printf(w, "\"length\": %llu,", (unsigned long long)length);
	meta_jsw_indent(w, 3);
	meta_jsw_printf(w, "\"expire\": %lld", (long long)when);
	meta_jsw_indent(w, 2);
	meta_jsw_raw(w, "}", 1);
	return 0;
}

/* Sealed secrets of the stored setting (KeyEncrypted), by field. */
static const char *const sealed_names[3] = { "SecretKey", "SessionToken", "EncryptKey" };
struct sealed {
	char *v[3];
};

static int sealed_index(const char *k)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(k, sealed_names[i]))
			return i;
	return -1;
}

/* Only when the stored setting says KeyEncrypted: then its secrets are ciphertext. */
static void stored_secrets(struct meta *m, struct sealed *sl)
{
	struct buf raw = BUF_INIT;
	struct meta_jsr jr;
	int tok, enc = 0;

	memset(sl, 0, sizeof(*sl));
	if (m->ops->get_setting(m, &raw))
		goto out;
	meta_jsr_init_mem(&jr, raw.ptr, raw.len);
	if (meta_jsr_next(&jr, &tok) || tok != META_JS_OBJ)
		goto done;
	while (!meta_jsr_next(&jr, &tok) && tok == META_JS_KEY) {
		int k = sealed_index(jr.str.ptr);
		int is_enc = !strcmp(jr.str.ptr, "KeyEncrypted");
		if (meta_jsr_next(&jr, &tok))
			break;
		if (is_enc)
			enc = tok == META_JS_TRUE;
		if (k >= 0 && tok == META_JS_STRING && !sl->v[k])
			sl->v[k] = xstrdup(jr.str.ptr);
		if (meta_jsr_skip(&jr, tok))
			break;
	}
done:
	meta_jsr_release(&jr);
	if (!enc)
		for (int i = 0; i < 3; i++) {
			free(sl->v[i]);
			sl->v[i] = NULL;
		}
out:
	buf_release(&raw);
}

struct dquota {
	char key[24]; /* the inode in decimal: Go sorts map keys as strings */
	int64_t max_space, max_inodes;
};
struct dquotas {
	struct dquota *v;
	size_t n;
};

static int dquota_cb(void *arg, uint64_t ino, const struct meta_quota *q)
{
	struct dquotas *qs = arg;

	qs->v = xrealloc(qs->v, (qs->n + 1) * sizeof(*qs->v));
	snprintf(qs->v[qs->n].key, sizeof(qs->v[qs->n].key), "%llu", (unsigned long long)ino);
	qs->v[qs->n].max_space = q->max_space;
	qs->v[qs->n].max_inodes = q->max_inodes;
	qs->n++;
	return 0;
}

static int cmp_dquota(const void *a, const void *b)
{
	return strcmp(((const struct dquota *)a)->key, ((const struct dquota *)b)->key);
}

/* Directory quotas (limits only: a load counts the usage again), when there are any. */
static int put_quotas(struct dumper *d)
{
	struct dquotas qs = { 0 };
	struct meta_jsw *w = &d->w;
	int r;

	if (!d->m->ops->scan_quotas)
		return 0;
	r = d->m->ops->scan_quotas(d->t, dquota_cb, &qs);
	if (!r && qs.n) {
		qsort(qs.v, qs.n, sizeof(*qs.v), cmp_dquota);
		meta_jsw_indent(w, 1);
		meta_jsw_puts(w, "\"Quotas\": {");
		for (size_t i = 0; i < qs.n; i++) {
			meta_jsw_indent(w, 2);
			meta_jsw_printf(w, "\"%s\": {", qs.v[i].key);
			meta_jsw_indent(w, 3);
			meta_jsw_printf(w, "\"maxSpace\": %lld,", (long long)qs.v[i].max_space);
			meta_jsw_indent(w, 3);
			meta_jsw_printf(w, "\"maxInodes\": %lld", (long long)qs.v[i].max_inodes);
			meta_jsw_indent(w, 2);
			meta_jsw_raw(w, i + 1 < qs.n ? "}," : "}", i + 1 < qs.n ? 2 : 1);
		}
		meta_jsw_indent(w, 1);
		meta_jsw_puts(w, "},");
	}
	free(qs.v);
	return r;
}

/* The part before FSTree: Setting, Counters, Sustained, DelFiles. */
static int dump_head(struct dumper *d, int keep_secret)
{
	struct meta *m = d->m;
	struct meta_jsw *w = &d->w;
	struct conf_format f;
	struct susv sv = { 0 };
	char *json;
	int r;

	/* JuiceFS strips the S3 secret and session token; the encryption key stays. */
	conf_format_copy(&f, meta_format(m));
	if (!keep_secret && f.secret_key && *f.secret_key) {
		free(f.secret_key);
		f.secret_key = xstrdup("removed");
		log_warn("Secret key is removed for the sake of safety");
	}
	if (!keep_secret && f.session_token && *f.session_token) {
		free(f.session_token);
		f.session_token = xstrdup("removed");
		log_warn("Session token is removed for the sake of safety");
	}
	json = conf_format_to_json(&f, 0);
	conf_format_release(&f);
	{
		/* re-indent the setting inside the document, as MarshalIndent does */
		struct meta_jsr jr;
		struct sealed sl;
		int tok, n = 0;

		stored_secrets(m, &sl);
		meta_jsr_init_mem(&jr, json, strlen(json));
		meta_jsw_puts(w, "{");
		meta_jsw_indent(w, 1);
		meta_jsw_puts(w, "\"Setting\": {");
		r = meta_jsr_next(&jr, &tok);
		if (!r && tok != META_JS_OBJ)
			r = meta_jsr_fail(&jr, "not an object");
		while (!r && !(r = meta_jsr_next(&jr, &tok)) && tok == META_JS_KEY) {
			int k = sealed_index(jr.str.ptr);
			if (n++)
				meta_jsw_raw(w, ",", 1);
			meta_jsw_indent(w, 2);
			meta_jsw_str(w, jr.str.ptr, jr.str.len);
			meta_jsw_raw(w, ": ", 2);
			if ((r = meta_jsr_next(&jr, &tok)))
				break;
			if (k >= 0 && sl.v[k] && tok == META_JS_STRING &&
			    strcmp(jr.str.ptr, "removed")) {
				/*
				 * The ciphertext as stored: sealing again would give other
				 * bytes (a fresh nonce) than the real client writes.
				 */
				meta_jsw_str(w, sl.v[k], strlen(sl.v[k]));
				continue;
			}
			r = meta_jsr_copy(&jr, tok, w, 2);
		}
		if (!r)
			meta_jsr_next(&jr, &tok);
		if (!r) {
			meta_jsw_indent(w, 1);
			meta_jsw_raw(w, "}", 1);
		}
		if (r)
			buf_addf(d->err, "the volume setting: %s", jr.err);
		meta_jsr_release(&jr);
		for (int i = 0; i < 3; i++)
			free(sl.v[i]);
	}
	free(json);
	if (r)
		return r;

	int64_t c[6] = { 0 };
	static const char *const cn[6] = { "usedSpace", "totalInodes", "nextInode",
					   "nextChunk", "nextSession", "nextTrash" };
	static const char *const dn[6] = { "usedSpace", "usedInodes", "nextInodes",
					   "nextChunk", "nextSession", "nextTrash" };
	if ((r = d_txn(d)))
		return r;
	for (int i = 0; i < 6 && !r; i++)
		r = m->ops->get_counter(d->t, cn[i], &c[i]);
	if (r)
		return r;
	meta_jsw_raw(w, ",", 1);
	meta_jsw_indent(w, 1);
	meta_jsw_puts(w, "\"Counters\": {");
	for (int i = 0; i < 6; i++) {
		meta_jsw_indent(w, 2);
		meta_jsw_printf(w, "\"%s\": %lld%s", dn[i], (long long)c[i], i < 5 ? "," : "");
	}
	meta_jsw_indent(w, 1);
	meta_jsw_puts(w, "},");

	r = m->ops->scan_sustained(d->t, 0, sus_cb, &sv);
	if (r) {
		free(sv.v);
		return r;
	}
	if (sv.n)
		qsort(sv.v, sv.n, sizeof(*sv.v), cmp_sus);
	meta_jsw_indent(w, 1);
	meta_jsw_puts(w, "\"Sustained\": [");
	for (size_t i = 0; i < sv.n;) {
		size_t j = i;
		meta_jsw_raw(w, i ? "," : "", i ? 1 : 0);
		meta_jsw_indent(w, 2);
		meta_jsw_raw(w, "{", 1);
		meta_jsw_indent(w, 3);
		meta_jsw_printf(w, "\"sid\": %llu,", (unsigned long long)sv.v[i].sid);
		meta_jsw_indent(w, 3);
		meta_jsw_puts(w, "\"inodes\": [");
		for (; j < sv.n && sv.v[j].sid == sv.v[i].sid; j++) {
			meta_jsw_raw(w, j > i ? "," : "", j > i);
			meta_jsw_indent(w, 4);
			meta_jsw_printf(w, "%llu", (unsigned long long)sv.v[j].ino);
		}
		meta_jsw_indent(w, 3);
		meta_jsw_raw(w, "]", 1);
		meta_jsw_indent(w, 2);
		meta_jsw_raw(w, "}", 1);
		i = j;
	}
	if (sv.n)
		meta_jsw_indent(w, 1);
	meta_jsw_puts(w, "],");
	free(sv.v);

	struct delv dv = { w, 0 };
	meta_jsw_indent(w, 1);
	meta_jsw_puts(w, "\"DelFiles\": [");
	r = m->ops->scan_delfiles(d->t, del_cb, &dv);
	if (r)
		return r;
	if (dv.n)
		meta_jsw_indent(w, 1);
	meta_jsw_puts(w, "],");
	r = put_quotas(d);
	d_end(d);
	return r ? r : w->err;
}

int meta_dump(struct meta *m, const struct meta_dump_opts *o, meta_write_fn fn, void *arg,
	      struct buf *err)
{
	struct dumper d;
	uint64_t root = META_ROOT_INODE;
	int r;

	if (!meta_format(m)) {
		buf_addf(err, "the volume setting is not loaded");
		return -EINVAL;
	}
	if (o->subdir && *o->subdir && strcmp(o->subdir, "/")) {
		struct meta_ctx c;
		struct meta_attr a;
		meta_ctx_root(&c);
		r = meta_resolve(m, &c, o->subdir, &root, &a);
		if (r) {
			buf_addf(err, "subdir %s: %s", o->subdir, strerror(-r));
			return r;
		}
		if (a.type != META_TYPE_DIRECTORY) {
			buf_addf(err, "subdir %s: not a directory", o->subdir);
			return -ENOTDIR;
		}
	}
	memset(&d, 0, sizeof(d));
	d.m = m;
	d.err = err;
	buf_init(&d.tmp, 0);
	buf_init(&d.val, 0);
	meta_jsw_init(&d.w, fn, arg);
	d.prog.on = o->progress;
	d.prog.what = "Dumped entries";
	d.prog.start = d.prog.last = mono_now();
	/*
	 * Workers serve engines without batch reads (SQLite, mem), whose reads
	 * are CPU in this process: more of them than CPUs only costs memory
	 * (each SQLite connection has its own page cache).
	 */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	d.nworkers = o->threads < 1 ? 1 : MIN(o->threads, DUMP_MAX_THREADS);
	if (!m->ops->get_extras && ncpu > 0 && d.nworkers > ncpu)
		d.nworkers = (int)ncpu;
	d.workers = xcalloc((size_t)d.nworkers, sizeof(*d.workers));
	for (int k = 0; k < d.nworkers; k++) {
		d.workers[k].m = m;
		d.workers[k].err = err;
		buf_init(&d.workers[k].tmp, 0);
		buf_init(&d.workers[k].val, 0);
		meta_jsw_init(&d.workers[k].w, buf_sink, NULL);
	}

	pool_start(&d);
	r = dump_head(&d, o->keep_secret);
	if (!r)
		r = dump_tree(&d, "FSTree", root, 1);
	if (!r && root == META_ROOT_INODE && !o->skip_trash) {
		meta_jsw_raw(&d.w, ",", 1);
		r = dump_tree(&d, "Trash", META_TRASH_INODE, 0);
	}
	if (!r) {
		meta_jsw_puts(&d.w, "\n}\n");
		r = meta_jsw_flush(&d.w);
	}
	d_end(&d);
	pool_stop(&d);
	progress_tick(&d.prog, 1);
	if (r && !err->len)
		buf_addf(err, "%s", d.w.err ? "write the dump" : "read the metadata");
	if (r && err->len && !strstr(err->ptr, ": "))
		buf_addf(err, ": %s", strerror(-r));
	meta_jsw_release(&d.w);
	buf_release(&d.tmp);
	buf_release(&d.val);
	for (int k = 0; k < d.nworkers; k++) {
		meta_jsw_release(&d.workers[k].w);
		buf_release(&d.workers[k].tmp);
		buf_release(&d.workers[k].val);
	}
	free(d.workers);
	return r;
}

/* ================================================================== load */

/* Open-addressing set of u64 keys with a u64 value; key 0 never stored. */
struct u64map {
	uint64_t *k, *v;
	uint8_t *t; /* a small tag per key (the node type) */
	size_t cap, n;
};

static size_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (size_t)x;
}

static uint64_t *map_slot(struct u64map *mp, uint64_t key, int *found)
{
	if ((mp->n + 1) * 10 >= mp->cap * 7) {
		struct u64map nm = { 0 };
		nm.cap = mp->cap ? mp->cap * 2 : 1024;
		nm.k = xcalloc(nm.cap, sizeof(uint64_t));
		nm.v = xcalloc(nm.cap, sizeof(uint64_t));
		nm.t = xcalloc(nm.cap, 1);
		for (size_t i = 0; i < mp->cap; i++) {
			if (!mp->k[i])
				continue;
			size_t j = mix(mp->k[i]) & (nm.cap - 1);
			while (nm.k[j])
				j = (j + 1) & (nm.cap - 1);
			nm.k[j] = mp->k[i];
			nm.v[j] = mp->v[i];
			nm.t[j] = mp->t[i];
		}
		nm.n = mp->n;
		free(mp->k);
		free(mp->v);
		free(mp->t);
		*mp = nm;
	}
	size_t j = mix(key) & (mp->cap - 1);
	while (mp->k[j] && mp->k[j] != key)
		j = (j + 1) & (mp->cap - 1);
	*found = mp->k[j] == key;
	if (!*found) {
		mp->k[j] = key;
		mp->v[j] = 0;
		mp->t[j] = 0;
		mp->n++;
	}
	return &mp->v[j];
}

/* The tag of the key whose value slot map_slot returned. */
static uint8_t *map_tag(struct u64map *mp, uint64_t *slot)
{
	return &mp->t[slot - mp->v];
}

static void map_free(struct u64map *mp)
{
	free(mp->k);
	free(mp->v);
	free(mp->t);
	memset(mp, 0, sizeof(*mp));
}

struct link {
	uint64_t ino, parent;
};

struct lquota {
	uint64_t ino;
	int64_t max_space, max_inodes;
};

struct loader {
	struct meta *m;
	struct lquota *quotas;
	size_t nquotas;
	struct meta_jsr r;
	struct meta_txn *t;
	size_t nops;
	struct buf *err;
	int wrote; /* something was written: a failure must wipe */

	int64_t used_space, used_inodes, next_session;
	uint64_t next_inode, next_chunk, next_trash;
	/* inode -> first parent; the tag is the node type */
	struct u64map seen;
	/* slice id -> size */
	struct u64map slices;
	struct link *links;
	size_t nlinks, caplinks;

	char *setting;
	int have_counters, have_tree;
	struct buf name, tmp;
	struct progress prog;
	/* distinct ACL rules stored so far and their ids (spec §11.2 re-creates ids) */
	struct meta_acl *acls;
	uint32_t *acl_ids;
	size_t nacls;
};

static int l_txn(struct loader *l)
{
	if (l->t)
		return 0;
	l->wrote = 1;
	return l->m->ops->begin(l->m, 1, &l->t);
}

static int l_commit(struct loader *l)
{
	int r = 0;
	if (l->t) {
		r = l->m->ops->commit(l->t);
		l->t = NULL;
		if (r == -EAGAIN)
			r = -EIO; /* nobody else may write an empty database being loaded */
	}
	l->nops = 0;
	return r;
}

static int l_step(struct loader *l)
{
	/*
	 * NEEDSWORK: the Redis engine's transaction overlay is searched linearly,
	 * so its transactions cost the square of their size; keep them small.
	 */
	size_t batch = strcmp(l->m->ops->name, "redis") ? LOAD_BATCH : LOAD_BATCH / 10;

	if (++l->nops >= batch)
		return l_commit(l);
	return 0;
}

static int expect(struct loader *l, int want, int *tok, const char *what)
{
	if (meta_jsr_next(&l->r, tok))
		return l->r.error;
	if (*tok != want)
		return meta_jsr_fail(&l->r, "%s: expected %s, found %s", what,
				     meta_js_tok_name(want), meta_js_tok_name(*tok));
	return 0;
}

static int num_u64(struct loader *l, const char *what, uint64_t *v)
{
	int tok;
	if (meta_jsr_next(&l->r, &tok))
		return l->r.error;
	if (tok != META_JS_NUMBER)
		return meta_jsr_fail(&l->r, "\"%s\": expected a number, found %s", what,
				     meta_js_tok_name(tok));
	return meta_jsr_u64(&l->r, v);
}

static int num_i64(struct loader *l, const char *what, int64_t *v)
{
	int tok;
	if (meta_jsr_next(&l->r, &tok))
		return l->r.error;
	if (tok != META_JS_NUMBER)
		return meta_jsr_fail(&l->r, "\"%s\": expected a number, found %s", what,
				     meta_js_tok_name(tok));
	return meta_jsr_i64(&l->r, v);
}

static int num_u32(struct loader *l, const char *what, uint64_t max, uint32_t *v)
{
	uint64_t x;
	int r = num_u64(l, what, &x);
	if (r)
		return r;
	if (x > max)
		return meta_jsr_fail(&l->r, "\"%s\": %llu out of range", what,
				     (unsigned long long)x);
	*v = (uint32_t)x;
	return 0;
}

static int engine_fail(struct loader *l, int r, const char *what)
{
	if (!l->r.error)
		snprintf(l->r.err, sizeof(l->r.err), "line %llu, byte %llu: %s: %s",
			 (unsigned long long)l->r.tok_line, (unsigned long long)l->r.tok_off, what,
			 strerror(-r));
	l->r.error = r;
	return r;
}

struct lattr {
	uint64_t ino;
	struct meta_attr a;
	int have_ino, have_type;
};

static int load_attr(struct loader *l, struct lattr *la)
{
	int tok, r;
	uint32_t v32 = 0;

	memset(la, 0, sizeof(*la));
	if ((r = expect(l, META_JS_OBJ, &tok, "\"attr\"")))
		return r;
	for (;;) {
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok == META_JS_OBJ_END)
			break;
		const char *k = l->r.str.ptr;
		char key[32];
		snprintf(key, sizeof(key), "%s", k);
		if (!strcmp(key, "inode")) {
			r = num_u64(l, key, &la->ino);
			la->have_ino = 1;
		} else if (!strcmp(key, "type")) {
			if ((r = expect(l, META_JS_STRING, &tok, "\"type\"")))
				return r;
			la->a.type = (uint8_t)type_from_name(l->r.str.ptr);
			if (!la->a.type)
				return meta_jsr_fail(&l->r, "unknown node type \"%s\"",
						     l->r.str.ptr);
			la->have_type = 1;
		} else if (!strcmp(key, "flags")) {
			r = num_u32(l, key, 0xFF, &v32);
			la->a.flags = (uint8_t)v32;
		} else if (!strcmp(key, "mode")) {
			r = num_u32(l, key, 0xFFFF, &v32);
			la->a.mode = (uint16_t)(v32 & 07777);
		} else if (!strcmp(key, "uid")) {
			r = num_u32(l, key, UINT32_MAX, &la->a.uid);
		} else if (!strcmp(key, "gid")) {
			r = num_u32(l, key, UINT32_MAX, &la->a.gid);
		} else if (!strcmp(key, "atime")) {
			r = num_i64(l, key, &la->a.atime);
		} else if (!strcmp(key, "mtime")) {
			r = num_i64(l, key, &la->a.mtime);
		} else if (!strcmp(key, "ctime")) {
			r = num_i64(l, key, &la->a.ctime);
		} else if (!strcmp(key, "atimensec")) {
			r = num_u32(l, key, 999999999, &la->a.atimensec);
		} else if (!strcmp(key, "mtimensec")) {
			r = num_u32(l, key, 999999999, &la->a.mtimensec);
		} else if (!strcmp(key, "ctimensec")) {
			r = num_u32(l, key, 999999999, &la->a.ctimensec);
		} else if (!strcmp(key, "nlink")) {
			r = num_u32(l, key, UINT32_MAX, &la->a.nlink);
		} else if (!strcmp(key, "length")) {
			r = num_u64(l, key, &la->a.length);
		} else if (!strcmp(key, "rdev")) {
			r = num_u32(l, key, UINT32_MAX, &la->a.rdev);
		} else if (!strcmp(key, "tier")) {
			r = num_u32(l, key, 0xFF, &v32);
			la->a.tier = (uint8_t)v32;
		} else {
			if (meta_jsr_next(&l->r, &tok))
				return l->r.error;
			r = meta_jsr_skip(&l->r, tok);
		}
		if (r)
			return r;
	}
	if (!la->have_ino)
		return meta_jsr_fail(&l->r, "\"attr\" has no \"inode\"");
	if (!la->have_type)
		return meta_jsr_fail(&l->r, "\"attr\" has no \"type\"");
	if (!la->ino)
		return meta_jsr_fail(&l->r, "\"attr\" has inode 0");
	return 0;
}

static int load_xattrs(struct loader *l, uint64_t ino, int write)
{
	int tok, r;
	struct buf name = BUF_INIT;

	if ((r = expect(l, META_JS_ARR, &tok, "\"xattrs\"")))
		return r;
	for (;;) {
		int have_name = 0, have_value = 0;
		if (meta_jsr_next(&l->r, &tok))
			goto out;
		if (tok == META_JS_ARR_END)
			break;
		if (tok != META_JS_OBJ) {
			r = meta_jsr_fail(&l->r, "\"xattrs\": expected an object, found %s",
					  meta_js_tok_name(tok));
			goto out;
		}
		buf_reset(&name);
		buf_reset(&l->tmp);
		for (;;) {
			if (meta_jsr_next(&l->r, &tok))
				goto out;
			if (tok == META_JS_OBJ_END)
				break;
			int is_name = !strcmp(l->r.str.ptr, "name");
			int is_value = !strcmp(l->r.str.ptr, "value");
			if (meta_jsr_next(&l->r, &tok))
				goto out;
			if ((is_name || is_value) && tok != META_JS_STRING) {
				r = meta_jsr_fail(&l->r, "xattr %s: expected a string, found %s",
						  is_name ? "name" : "value",
						  meta_js_tok_name(tok));
				goto out;
			}
			if (is_name) {
				buf_add(&name, l->r.str.ptr, l->r.str.len);
				have_name = 1;
			} else if (is_value) {
				meta_js_pct_unescape(&l->tmp, l->r.str.ptr, l->r.str.len);
				have_value = 1;
			} else if ((r = meta_jsr_skip(&l->r, tok))) {
				goto out;
			}
		}
		if (!have_name || !name.len || memchr(name.ptr, 0, name.len)) {
			r = meta_jsr_fail(&l->r, "an xattr without a valid \"name\"");
			goto out;
		}
		UNUSED(have_value);
		if (l->tmp.len > META_MAX_XATTR_VALUE) {
			r = meta_jsr_fail(&l->r, "xattr %s: value longer than %d bytes", name.ptr,
					  META_MAX_XATTR_VALUE);
			goto out;
		}
		if (write) {
			if ((r = l_txn(l)) ||
			    (r = l->m->ops->put_xattr(l->t, ino, name.ptr, l->tmp.ptr,
						      l->tmp.len))) {
				engine_fail(l, r, "write an xattr");
				goto out;
			}
		}
	}
	r = 0;
out:
	buf_release(&name);
	return r ? r : l->r.error;
}

/*
 * Slice refcounts: the first reference creates the record, later ones add to
 * it. A slice id has one size; the map keeps it to notice one that does not.
 */
static int add_slice_ref(struct loader *l, uint64_t id, uint32_t size)
{
	int found;
	uint64_t *v = map_slot(&l->slices, id, &found);

	if (!found) {
		*v = size;
		return l->m->ops->new_slice(l->t, id, size);
	}
	if (*v != size)
		return meta_jsr_fail(&l->r, "slice %llu appears with sizes %llu and %u",
				     (unsigned long long)id, (unsigned long long)*v, size);
	return l->m->ops->incr_ref(l->t, id, size, 1, NULL);
}

static int load_chunks(struct loader *l, uint64_t ino, int write)
{
	int tok, r;
	struct buf recs = BUF_INIT;

	if ((r = expect(l, META_JS_ARR, &tok, "\"chunks\"")))
		return r;
	for (;;) {
		uint32_t indx = 0;
		int have_index = 0;
		if (meta_jsr_next(&l->r, &tok))
			goto out;
		if (tok == META_JS_ARR_END)
			break;
		if (tok != META_JS_OBJ) {
			r = meta_jsr_fail(&l->r, "\"chunks\": expected an object, found %s",
					  meta_js_tok_name(tok));
			goto out;
		}
		buf_reset(&recs);
		for (;;) {
			if (meta_jsr_next(&l->r, &tok))
				goto out;
			if (tok == META_JS_OBJ_END)
				break;
			if (!strcmp(l->r.str.ptr, "index")) {
				if ((r = num_u32(l, "index", UINT32_MAX, &indx)))
					goto out;
				have_index = 1;
				continue;
			}
			if (strcmp(l->r.str.ptr, "slices")) {
				if (meta_jsr_next(&l->r, &tok) || meta_jsr_skip(&l->r, tok))
					goto out;
				continue;
			}
			if ((r = expect(l, META_JS_ARR, &tok, "\"slices\"")))
				goto out;
			for (;;) {
				struct meta_slice s = { 0 };
				uint64_t chunkid = 0;
				uint8_t rec[META_SLICE_BYTES];
				int have_len = 0, have_size = 0;
				if (meta_jsr_next(&l->r, &tok))
					goto out;
				if (tok == META_JS_ARR_END)
					break;
				if (tok != META_JS_OBJ) {
					r = meta_jsr_fail(&l->r,
							  "\"slices\": expected an object, found %s",
							  meta_js_tok_name(tok));
					goto out;
				}
				for (;;) {
					char key[16];
					if (meta_jsr_next(&l->r, &tok))
						goto out;
					if (tok == META_JS_OBJ_END)
						break;
					snprintf(key, sizeof(key), "%s", l->r.str.ptr);
					if (!strcmp(key, "id"))
						r = num_u64(l, key, &s.id);
					else if (!strcmp(key, "chunkid"))
						r = num_u64(l, key, &chunkid);
					else if (!strcmp(key, "pos"))
						r = num_u32(l, key, UINT32_MAX, &s.pos);
					else if (!strcmp(key, "size"))
						r = num_u32(l, key, UINT32_MAX, &s.size),
						have_size = 1;
					else if (!strcmp(key, "off"))
						r = num_u32(l, key, UINT32_MAX, &s.off);
					else if (!strcmp(key, "len"))
						r = num_u32(l, key, UINT32_MAX, &s.len),
						have_len = 1;
					else if (!meta_jsr_next(&l->r, &tok))
						r = meta_jsr_skip(&l->r, tok);
					else
						r = l->r.error;
					if (r)
						goto out;
				}
				if (!s.id && chunkid)
					s.id = chunkid; /* dumps of old releases */
				if (!have_len || !have_size) {
					r = meta_jsr_fail(&l->r, "a slice without \"%s\"",
							  have_len ? "size" : "len");
					goto out;
				}
				if ((uint64_t)s.pos + s.len > META_CHUNK_SIZE ||
				    (s.id && (uint64_t)s.off + s.len > s.size)) {
					r = meta_jsr_fail(&l->r,
							  "slice %llu (pos %u, off %u, len %u, size %u) "
							  "points past its chunk",
							  (unsigned long long)s.id, s.pos, s.off, s.len,
							  s.size);
					goto out;
				}
				meta_slice_encode(&s, rec);
				buf_add(&recs, rec, sizeof(rec));
				if (write && s.id) {
					if (s.id + 1 > l->next_chunk)
						l->next_chunk = s.id + 1;
					if ((r = l_txn(l)) || (r = add_slice_ref(l, s.id, s.size))) {
						if (!l->r.error)
							engine_fail(l, r, "write a slice reference");
						goto out;
					}
				}
			}
		}
		if (!have_index) {
			r = meta_jsr_fail(&l->r, "a chunk without \"index\"");
			goto out;
		}
		if (write && recs.len) {
			if ((r = l_txn(l)) ||
			    /* the database was empty: appending is setting (and one command less) */
			    (r = l->m->ops->append_chunk(l->t, ino, indx, (const uint8_t *)recs.ptr,
							 recs.len, NULL))) {
				engine_fail(l, r, "write a chunk");
				goto out;
			}
		}
	}
	r = 0;
out:
	buf_release(&recs);
	return r ? r : l->r.error;
}

struct child {
	uint64_t ino;
	uint8_t type;
	uint64_t length;
};

enum { K_ROOT, K_TRASH, K_NORMAL };

/*
 * One entry object, its '{' next in the stream. parent is the directory it
 * is in (for the root: 1, as the real loader; for the trash: 1).
 */
static int load_acl_perm(struct loader *l, const char *what, uint16_t *v)
{
	uint64_t n;
	int r = num_u64(l, what, &n);
	if (!r && n > 0xFFFF)
		r = meta_jsr_fail(&l->r, "\"%s\": %llu is not a 16-bit value", what,
				  (unsigned long long)n);
	if (!r)
		*v = (uint16_t)n;
	return r;
}

/* "users"/"groups": null or [{"id":N,"perm":N}, ...]; *e is malloc'ed. */
static int load_acl_entries(struct loader *l, const char *what, struct meta_acl_entry **e,
			    uint32_t *n)
{
	int tok, r;
	if (meta_jsr_next(&l->r, &tok))
		return l->r.error;
	if (tok == META_JS_NULL)
		return 0;
	if (tok != META_JS_ARR)
		return meta_jsr_fail(&l->r, "\"%s\": expected an array, found %s", what,
				     meta_js_tok_name(tok));
	for (;;) {
		struct meta_acl_entry x = { 0, 0 };
		int have_id = 0, have_perm = 0;
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok == META_JS_ARR_END)
			return 0;
		if (tok != META_JS_OBJ)
			return meta_jsr_fail(&l->r, "\"%s\": expected an object, found %s", what,
					     meta_js_tok_name(tok));
		for (;;) {
			uint64_t v;
			if (meta_jsr_next(&l->r, &tok))
				return l->r.error;
			if (tok == META_JS_OBJ_END)
				break;
			if (!strcmp(l->r.str.ptr, "id")) {
				if ((r = num_u64(l, "id", &v)))
					return r;
				if (v > UINT32_MAX)
					return meta_jsr_fail(&l->r, "ACL id %llu out of range",
							     (unsigned long long)v);
				x.id = (uint32_t)v;
				have_id = 1;
			} else if (!strcmp(l->r.str.ptr, "perm")) {
				if ((r = load_acl_perm(l, "perm", &x.perm)))
					return r;
				have_perm = 1;
			} else if (meta_jsr_next(&l->r, &tok) || meta_jsr_skip(&l->r, tok)) {
				return l->r.error;
			}
		}
		if (!have_id || !have_perm)
			return meta_jsr_fail(&l->r, "\"%s\": an entry without id or perm", what);
		if (*n >= META_ACL_MAX_ENTRIES)
			return meta_jsr_fail(&l->r, "\"%s\": more than %d entries", what,
					     META_ACL_MAX_ENTRIES);
		*e = xrealloc(*e, (*n + 1) * sizeof(**e));
		(*e)[(*n)++] = x;
	}
}

/*
 * One "posix_acl_access"/"posix_acl_default" object; *id gets the id of the
 * rule, which is stored the first time it is seen (write) and shared after.
 */
static int load_acl(struct loader *l, const char *key, int write, uint32_t *id)
{
	struct meta_acl a;
	int tok, r;
	meta_acl_init(&a);
	*id = 0;
	if (meta_jsr_next(&l->r, &tok))
		return l->r.error;
	if (tok == META_JS_NULL)
		return 0;
	if (tok != META_JS_OBJ)
		return meta_jsr_fail(&l->r, "\"%s\": expected %s, found %s", key,
				     meta_js_tok_name(META_JS_OBJ), meta_js_tok_name(tok));
	for (;;) {
		if (meta_jsr_next(&l->r, &tok)) {
			r = l->r.error;
			goto out;
		}
		if (tok == META_JS_OBJ_END)
			break;
		const char *f = l->r.str.ptr;
		if (!strcmp(f, "owner"))
			r = load_acl_perm(l, "owner", &a.owner);
		else if (!strcmp(f, "group"))
			r = load_acl_perm(l, "group", &a.group);
		else if (!strcmp(f, "mask"))
			r = load_acl_perm(l, "mask", &a.mask);
		else if (!strcmp(f, "other"))
			r = load_acl_perm(l, "other", &a.other);
		else if (!strcmp(f, "users"))
			r = load_acl_entries(l, "users", &a.users, &a.nusers);
		else if (!strcmp(f, "groups"))
			r = load_acl_entries(l, "groups", &a.groups, &a.ngroups);
		else
			r = meta_jsr_next(&l->r, &tok) || meta_jsr_skip(&l->r, tok) ? l->r.error
										     : 0;
		if (r)
			goto out;
	}
	r = 0;
	if (!write)
		goto out;
	for (size_t i = 0; i < l->nacls; i++)
		if (meta_acl_equal(&l->acls[i], &a)) {
			*id = l->acl_ids[i];
			goto out;
		}
	if ((r = l_txn(l)) || (r = l->m->ops->put_acl(l->t, &a, id))) {
		engine_fail(l, r, "write an ACL rule");
		goto out;
	}
	l->acls = xrealloc(l->acls, (l->nacls + 1) * sizeof(*l->acls));
	l->acl_ids = xrealloc(l->acl_ids, (l->nacls + 1) * sizeof(*l->acl_ids));
	l->acls[l->nacls] = a;
	l->acl_ids[l->nacls++] = *id;
	return 0;
out:
	meta_acl_release(&a);
	return r;
}

static int load_entry(struct loader *l, uint64_t parent, const char *name, size_t nlen, int kind,
		      struct child *out)
{
	struct lattr la;
	struct buf target = BUF_INIT;
	struct meta_dirstat st = { 0, 0, 0 };
	uint32_t subdirs = 0, access_acl = 0, default_acl = 0;
	int tok, r, first, have_target = 0;
	uint64_t ino;

	if ((r = expect(l, META_JS_OBJ, &tok, "an entry")))
		return r;
	if (meta_jsr_next(&l->r, &tok))
		return l->r.error;
	if (tok != META_JS_KEY || strcmp(l->r.str.ptr, "attr"))
		return meta_jsr_fail(&l->r, "entry \"%.*s\": missing \"attr\" (it must come first)",
				     (int)MIN(nlen, 200), name);
	if ((r = load_attr(l, &la)))
		return r;
	if (kind == K_ROOT)
		la.ino = META_ROOT_INODE; /* a --subdir dump's root becomes the root */
	if ((kind != K_NORMAL) && la.a.type != META_TYPE_DIRECTORY)
		return meta_jsr_fail(&l->r, "the %s is not a directory",
				     kind == K_ROOT ? "root" : "trash");
	if (kind == K_NORMAL && (la.ino == META_ROOT_INODE || la.ino == META_TRASH_INODE))
		return meta_jsr_fail(&l->r, "entry \"%.*s\" has the reserved inode %llu",
				     (int)MIN(nlen, 200), name, (unsigned long long)la.ino);
	ino = la.ino;

	int found;
	uint64_t *slot = map_slot(&l->seen, ino, &found);
	int is_dir = la.a.type == META_TYPE_DIRECTORY;
	uint8_t *tag = map_tag(&l->seen, slot);
	if (found) {
		/* only a file (not a directory) may have several names: a hard link */
		if (is_dir || *tag != la.a.type)
			return meta_jsr_fail(&l->r, "duplicate inode %llu",
					     (unsigned long long)ino);
		if (l->nlinks == l->caplinks) {
			l->caplinks = l->caplinks ? l->caplinks * 2 : 64;
			l->links = xrealloc(l->links, l->caplinks * sizeof(*l->links));
		}
		l->links[l->nlinks].ino = ino;
		l->links[l->nlinks].parent = parent;
		l->nlinks++;
	} else {
		*slot = parent;
		*tag = la.a.type;
	}
	first = !found;
	if (first) {
		if (ino > META_ROOT_INODE && ino != META_TRASH_INODE) {
			l->used_space += align4k(la.a.type == META_TYPE_FILE ? la.a.length : 0);
			l->used_inodes++;
		}
		if (ino < META_TRASH_INODE) {
			if (ino + 1 > l->next_inode)
				l->next_inode = ino + 1;
		} else if (ino - META_TRASH_INODE > l->next_trash) {
			l->next_trash = ino - META_TRASH_INODE;
		}
	}

	for (;;) {
		if (meta_jsr_next(&l->r, &tok))
			goto out;
		if (tok == META_JS_OBJ_END)
			break;
		if (!strcmp(l->r.str.ptr, "symlink")) {
			if ((r = expect(l, META_JS_STRING, &tok, "\"symlink\"")))
				goto out;
			buf_reset(&target);
			meta_js_pct_unescape(&target, l->r.str.ptr, l->r.str.len);
			have_target = 1;
			if (la.a.type != META_TYPE_SYMLINK) {
				r = meta_jsr_fail(&l->r, "inode %llu is not a symlink but has a target",
						  (unsigned long long)ino);
				goto out;
			}
			if (!target.len || target.len > META_MAX_SYMLINK) {
				r = meta_jsr_fail(&l->r, "symlink %llu: bad target length %zu",
						  (unsigned long long)ino, target.len);
				goto out;
			}
		} else if (!strcmp(l->r.str.ptr, "xattrs")) {
			if ((r = load_xattrs(l, ino, first)))
				goto out;
		} else if (!strcmp(l->r.str.ptr, "chunks")) {
			if (la.a.type != META_TYPE_FILE) {
				r = meta_jsr_fail(&l->r, "inode %llu is not a regular file but has chunks",
						  (unsigned long long)ino);
				goto out;
			}
			if ((r = load_chunks(l, ino, first)))
				goto out;
		} else if (!strcmp(l->r.str.ptr, "posix_acl_access")) {
			if ((r = load_acl(l, "posix_acl_access", first, &access_acl)))
				goto out;
		} else if (!strcmp(l->r.str.ptr, "posix_acl_default")) {
			if ((r = load_acl(l, "posix_acl_default", first, &default_acl)))
				goto out;
		} else if (!strcmp(l->r.str.ptr, "entries")) {
			if (!is_dir) {
				r = meta_jsr_fail(&l->r, "inode %llu is not a directory but has entries",
						  (unsigned long long)ino);
				goto out;
			}
			if ((r = expect(l, META_JS_OBJ, &tok, "\"entries\"")))
				goto out;
			for (;;) {
				struct child ch;
				char *cname;
				size_t clen;
				if (meta_jsr_next(&l->r, &tok))
					goto out;
				if (tok == META_JS_OBJ_END)
					break;
				buf_reset(&l->name);
				meta_js_pct_unescape(&l->name, l->r.str.ptr, l->r.str.len);
				if (!l->name.len || l->name.len > META_MAX_NAME ||
				    memchr(l->name.ptr, '/', l->name.len) ||
				    memchr(l->name.ptr, 0, l->name.len) ||
				    !strcmp(l->name.ptr, ".") || !strcmp(l->name.ptr, "..")) {
					r = meta_jsr_fail(&l->r, "invalid entry name \"%s\"",
							  l->r.str.ptr);
					goto out;
				}
				clen = l->name.len;
				cname = xmemdup(l->name.ptr, clen + 1);
				r = load_entry(l, ino, cname, clen, K_NORMAL, &ch);
				if (!r && (r = l_txn(l)) == 0)
					r = l->m->ops->put_entry(l->t, ino, cname, clen, ch.ino, ch.type);
				free(cname);
				if (r) {
					if (!l->r.error)
						engine_fail(l, r, "write an entry");
					goto out;
				}
				st.length += ch.type == META_TYPE_FILE ? (int64_t)ch.length : 0;
				st.space += align4k(ch.type == META_TYPE_FILE ? ch.length : 0);
				st.inodes++;
				if (ch.type == META_TYPE_DIRECTORY && ino < META_TRASH_INODE)
					subdirs++;
			}
		} else {
			/* fields of later releases: skipped, as the real loader does */
			if (meta_jsr_next(&l->r, &tok) || meta_jsr_skip(&l->r, tok))
				goto out;
		}
	}
	if (la.a.type == META_TYPE_SYMLINK && !have_target && first) {
		r = meta_jsr_fail(&l->r, "symlink %llu has no target", (unsigned long long)ino);
		goto out;
	}
	out->ino = ino;
	out->type = la.a.type;
	out->length = la.a.type == META_TYPE_FILE ? la.a.length : 0;
	if (!first) {
		r = 0;
		goto out;
	}
	/* the node itself (invariant 3) */
	la.a.parent = kind == K_NORMAL ? parent : META_ROOT_INODE;
	if (is_dir) {
		la.a.nlink = 2 + subdirs;
		la.a.length = 4096;
	} else {
		la.a.nlink = 1;
		if (la.a.type == META_TYPE_SYMLINK)
			la.a.length = target.len;
		else if (la.a.type != META_TYPE_FILE)
			la.a.length = 0;
	}
	la.a.access_acl = access_acl;
	la.a.default_acl = default_acl;
	if ((r = l_txn(l)) || (r = l->m->ops->put_attr(l->t, ino, &la.a)) ||
	    (la.a.type == META_TYPE_SYMLINK &&
	     (r = l->m->ops->put_symlink(l->t, ino, target.ptr, target.len))) ||
	    (is_dir && (r = l->m->ops->incr_dirstat(l->t, ino, &st)))) {
		engine_fail(l, r, "write a node");
		goto out;
	}
	l->prog.n++;
	progress_tick(&l->prog, 0);
	r = l_step(l);
	if (r)
		engine_fail(l, r, "commit");
out:
	buf_release(&target);
	return r ? r : l->r.error;
}

static int load_counters(struct loader *l)
{
	int tok, r;

	if ((r = expect(l, META_JS_OBJ, &tok, "\"Counters\"")))
		return r;
	for (;;) {
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok == META_JS_OBJ_END)
			break;
		if (!strcmp(l->r.str.ptr, "nextSession")) {
			if ((r = num_i64(l, "nextSession", &l->next_session)))
				return r;
			continue;
		}
		char key[32];
		snprintf(key, sizeof(key), "%s", l->r.str.ptr);
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok != META_JS_NUMBER)
			return meta_jsr_fail(&l->r, "counter \"%s\": expected a number, found %s", key,
					     meta_js_tok_name(tok));
	}
	l->have_counters = 1;
	return 0;
}

static int load_delfiles(struct loader *l)
{
	int tok, r;

	if ((r = expect(l, META_JS_ARR, &tok, "\"DelFiles\"")))
		return r;
	for (;;) {
		uint64_t ino = 0, length = 0;
		int64_t expire = 0;
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok == META_JS_ARR_END)
			break;
		if (tok != META_JS_OBJ)
			return meta_jsr_fail(&l->r, "\"DelFiles\": expected an object, found %s",
					     meta_js_tok_name(tok));
		for (;;) {
			if (meta_jsr_next(&l->r, &tok))
				return l->r.error;
			if (tok == META_JS_OBJ_END)
				break;
			if (!strcmp(l->r.str.ptr, "inode"))
				r = num_u64(l, "inode", &ino);
			else if (!strcmp(l->r.str.ptr, "length"))
				r = num_u64(l, "length", &length);
			else if (!strcmp(l->r.str.ptr, "expire"))
				r = num_i64(l, "expire", &expire);
			else if (!meta_jsr_next(&l->r, &tok))
				r = meta_jsr_skip(&l->r, tok);
			else
				r = l->r.error;
			if (r)
				return r;
		}
		if (!ino)
			return meta_jsr_fail(&l->r, "a deleted file without \"inode\"");
		if ((r = l_txn(l)) || (r = l->m->ops->add_delfile(l->t, ino, length, expire)))
			return engine_fail(l, r, "write a deleted file");
	}
	return 0;
}

/*
 * Directory quotas: their limits are kept and set in the final transaction,
 * with the usage counted from the loaded tree (as the real loader does).
 * User and group quotas cannot be stored by this build: refused.
 */
static int load_quotas(struct loader *l, const char *key)
{
	int tok, r;
	int dir = !strcmp(key, "Quotas");

	if (meta_jsr_next(&l->r, &tok))
		return l->r.error;
	if (tok == META_JS_NULL)
		return 0;
	if (tok != META_JS_OBJ)
		return meta_jsr_fail(&l->r, "\"%s\": expected an object, found %s", key,
				     meta_js_tok_name(tok));
	for (;;) {
		struct lquota q = { 0, -1, -1 };
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok == META_JS_OBJ_END)
			return 0;
		if (!dir || !l->m->ops->put_quota)
			return meta_jsr_fail(&l->r, "\"%s\": quotas of this kind cannot be stored "
						    "by this build (NEEDSWORK)", key);
		char *end = NULL;
		errno = 0;
		unsigned long long ino = strtoull(l->r.str.ptr, &end, 10);
		if (errno || !*l->r.str.ptr || *end || !ino)
			return meta_jsr_fail(&l->r, "\"Quotas\": bad inode \"%s\"", l->r.str.ptr);
		q.ino = ino;
		if ((r = expect(l, META_JS_OBJ, &tok, "a quota")))
			return r;
		for (;;) {
			if (meta_jsr_next(&l->r, &tok))
				return l->r.error;
			if (tok == META_JS_OBJ_END)
				break;
			if (!strcmp(l->r.str.ptr, "maxSpace"))
				r = num_i64(l, "maxSpace", &q.max_space);
			else if (!strcmp(l->r.str.ptr, "maxInodes"))
				r = num_i64(l, "maxInodes", &q.max_inodes);
			else if (!meta_jsr_next(&l->r, &tok))
				r = meta_jsr_skip(&l->r, tok);
			else
				r = l->r.error;
			if (r)
				return r;
		}
		l->quotas = xrealloc(l->quotas, (l->nquotas + 1) * sizeof(*l->quotas));
		l->quotas[l->nquotas++] = q;
	}
}

static int load_setting(struct loader *l)
{
	struct meta_jsw w;
	struct buf out;
	struct conf_format f = { 0 };
	struct buf e = BUF_INIT;
	int tok, r;

	/* a setting is small: copy it into a capped buffer, then parse it whole */
	buf_init(&out, 1U << 20);
	meta_jsw_init(&w, buf_sink, &out);
	if ((r = expect(l, META_JS_OBJ, &tok, "\"Setting\"")))
		goto out;
	if ((r = meta_jsr_copy(&l->r, tok, &w, 0)))
		goto out;
	if (meta_jsw_flush(&w)) {
		r = meta_jsr_fail(&l->r, "\"Setting\" is too large");
		goto out;
	}
	r = conf_format_from_json(out.ptr, &f, &e);
	if (r) {
		r = meta_jsr_fail(&l->r, "\"Setting\": %s", e.ptr);
		goto out;
	}
	if (!f.name || !*f.name || !f.uuid || !*f.uuid) {
		r = meta_jsr_fail(&l->r, "\"Setting\" has no Name or UUID");
		goto out;
	}
	/* refused now, not after the load: no client could open what it wrote */
	if (f.meta_version > CONF_MAX_META_VERSION) {
		r = meta_jsr_fail(&l->r, "\"Setting\": MetaVersion %d is newer than supported (%d)",
				  f.meta_version, CONF_MAX_META_VERSION);
		goto out;
	}
	free(l->setting);
	l->setting = conf_format_to_json(&f, 0);
out:
	conf_format_release(&f);
	buf_release(&e);
	buf_release(&out);
	meta_jsw_release(&w);
	return r;
}

static int load_doc(struct loader *l)
{
	int tok, r;

	if ((r = expect(l, META_JS_OBJ, &tok, "the document")))
		return r;
	for (;;) {
		if (meta_jsr_next(&l->r, &tok))
			return l->r.error;
		if (tok == META_JS_OBJ_END)
			break;
		char k[32];
		snprintf(k, sizeof(k), "%s", l->r.str.ptr);
		if (!strcmp(k, "Setting")) {
			r = load_setting(l);
		} else if (!strcmp(k, "Counters")) {
			r = load_counters(l);
		} else if (!strcmp(k, "DelFiles")) {
			r = load_delfiles(l);
		} else if (!strcmp(k, "Quotas") || !strcmp(k, "UserQuotas") ||
			   !strcmp(k, "GroupQuotas")) {
			r = load_quotas(l, k);
		} else if (!strcmp(k, "FSTree") || !strcmp(k, "Trash")) {
			struct child ch;
			int trash = !strcmp(k, "Trash");
			if (!trash && l->have_tree)
				return meta_jsr_fail(&l->r, "a second \"FSTree\"");
			if (!trash && (!l->setting || !l->have_counters))
				return meta_jsr_fail(&l->r, "\"FSTree\" before %s",
						     l->setting ? "\"Counters\"" : "\"Setting\"");
			r = load_entry(l, META_ROOT_INODE, k, strlen(k), trash ? K_TRASH : K_ROOT,
				       &ch);
			if (!r && trash && ch.ino != META_TRASH_INODE)
				r = meta_jsr_fail(&l->r, "\"Trash\" has inode %llu, not %llu",
						  (unsigned long long)ch.ino,
						  (unsigned long long)META_TRASH_INODE);
			if (!trash)
				l->have_tree = 1;
		} else {
			/* Sustained (sessions do not survive a load), ChangeLog, later fields */
			if (meta_jsr_next(&l->r, &tok))
				return l->r.error;
			r = meta_jsr_skip(&l->r, tok);
		}
		if (r)
			return r;
	}
	if ((r = meta_jsr_next(&l->r, &tok)))
		return r;
	if (!l->setting)
		return meta_jsr_fail(&l->r, "the dump has no \"Setting\"");
	if (!l->have_counters)
		return meta_jsr_fail(&l->r, "the dump has no \"Counters\"");
	if (!l->have_tree)
		return meta_jsr_fail(&l->r, "the dump has no \"FSTree\"");
	return 0;
}

static int cmp_link(const void *a, const void *b)
{
	const struct link *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->parent < y->parent ? -1 : x->parent > y->parent;
}

/* Hard links, counters and the setting: the final transaction (invariant 2). */
static int load_finish(struct loader *l)
{
	struct meta *m = l->m;
	int r;

	if ((r = l_commit(l)) || (r = l_txn(l)))
		return r;
	if (l->nlinks)
		qsort(l->links, l->nlinks, sizeof(*l->links), cmp_link);
	for (size_t i = 0; i < l->nlinks;) {
		uint64_t ino = l->links[i].ino;
		struct meta_attr a;
		int found;
		uint64_t first = *map_slot(&l->seen, ino, &found);
		size_t j = i;

		if ((r = m->ops->get_attr(l->t, ino, &a)))
			return r;
		while (j < l->nlinks && l->links[j].ino == ino)
			j++;
		a.nlink = (uint32_t)(1 + j - i);
		a.parent = 0;
		if ((r = m->ops->put_attr(l->t, ino, &a)) ||
		    (r = m->ops->incr_parent(l->t, ino, first, 1)))
			return r;
		for (size_t k = i; k < j; k++)
			if ((r = m->ops->incr_parent(l->t, ino, l->links[k].parent, 1)))
				return r;
		i = j;
		if ((r = l_step(l)) || (r = l_txn(l)))
			return r;
	}
	/* quota usage is counted by reading the tree: before the final transaction */
	if ((r = l_commit(l)))
		return r;
	struct meta_quota *qv = l->nquotas ? xcalloc(l->nquotas, sizeof(*qv)) : NULL;
	uint8_t *keep = l->nquotas ? xcalloc(l->nquotas, 1) : NULL;
	for (size_t i = 0; i < l->nquotas && !r; i++) {
		struct lquota *lq = &l->quotas[i];
		int found;
		uint64_t *slot = map_slot(&l->seen, lq->ino, &found);

		if (!found || *map_tag(&l->seen, slot) != META_TYPE_DIRECTORY) {
			/* e.g. a --subdir dump: the quota's directory is not in the tree */
			log_warn("load: skip the quota of inode %llu: not a directory of the dump",
				 (unsigned long long)lq->ino);
			continue;
		}
		qv[i].max_space = lq->max_space;
		qv[i].max_inodes = lq->max_inodes;
		keep[i] = 1;
		r = meta_dir_usage(m, lq->ino, 0, &qv[i].used_space, &qv[i].used_inodes);
	}
	if (!r)
		r = l_txn(l);
	for (size_t i = 0; i < l->nquotas && !r; i++)
		if (keep[i])
			r = m->ops->put_quota(l->t, l->quotas[i].ino, &qv[i]);
	free(qv);
	free(keep);
	if (r)
		return r;
	if ((r = m->ops->set_counter(l->t, "usedSpace", l->used_space)) ||
	    (r = m->ops->set_counter(l->t, "totalInodes", l->used_inodes)) ||
	    (r = m->ops->set_counter(l->t, "nextInode", (int64_t)l->next_inode)) ||
	    (r = m->ops->set_counter(l->t, "nextChunk", (int64_t)l->next_chunk)) ||
	    /* sessions do not survive a load: the real loader restarts their ids too */
	    (r = m->ops->set_counter(l->t, "nextSession", 0)) ||
	    (r = m->ops->set_counter(l->t, "nextTrash", (int64_t)l->next_trash)) ||
	    (r = m->ops->set_setting(l->t, l->setting)))
		return r;
	return l_commit(l);
}

int meta_load(struct meta *m, const struct meta_load_opts *o, meta_read_fn fn, void *arg,
	      struct buf *err)
{
	struct loader l;
	struct buf js = BUF_INIT;
	int r, empty = 0;

	r = m->ops->get_setting(m, &js);
	buf_release(&js);
	if (r == 0) {
		struct conf_format f = { 0 };
		if (!meta_load_format(m, &f))
			buf_addf(err, "database is used by volume %s", f.name);
		else
			buf_addf(err, "database holds a volume already");
		conf_format_release(&f);
		return -EEXIST;
	}
	if (r != -ENOENT) {
		buf_addf(err, "cannot read the database: %s", strerror(-r));
		return r;
	}
	r = m->ops->is_empty(m, &empty);
	if (r) {
		buf_addf(err, "cannot read the database: %s", strerror(-r));
		return r;
	}
	if (!empty) {
		buf_addf(err, "database is not empty but holds no volume (an interrupted load?): "
			      "empty it (SQLite: remove the file; Redis: FLUSHDB) and load again");
		return -ENOTEMPTY;
	}
	r = m->ops->init_schema(m);
	if (r) {
		buf_addf(err, "cannot create the metadata schema: %s", strerror(-r));
		m->ops->reset(m);
		return r;
	}

	memset(&l, 0, sizeof(l));
	l.m = m;
	l.err = err;
	l.next_inode = 2;
	l.next_chunk = 1;
	buf_init(&l.name, 0);
	buf_init(&l.tmp, 0);
	l.prog.on = o && o->progress;
	l.prog.what = "Loaded entries";
	l.prog.start = l.prog.last = mono_now();
	meta_jsr_init(&l.r, fn, arg);
	l.wrote = 1; /* the schema: a failure drops it again, as if never loaded */

	r = load_doc(&l);
	if (!r) {
		r = load_finish(&l);
		if (r)
			engine_fail(&l, r, "finish the load");
	}
	if (l.t) {
		m->ops->abort(l.t);
		l.t = NULL;
	}
	progress_tick(&l.prog, 1);
	if (r) {
		buf_addf(err, "%s", l.r.err[0] ? l.r.err : strerror(-r));
		/* invariant 1: the target held nothing, so nothing of value is lost */
		if (l.wrote) {
			int rr = m->ops->reset(m);
			if (rr)
				buf_addf(err, " (and wiping the partial load failed: %s)",
					 strerror(-rr));
		}
	}
	meta_jsr_release(&l.r);
	map_free(&l.seen);
	map_free(&l.slices);
	free(l.links);
	free(l.quotas);
	free(l.setting);
	buf_release(&l.name);
	buf_release(&l.tmp);
	for (size_t i = 0; i < l.nacls; i++)
		meta_acl_release(&l.acls[i]);
	free(l.acls);
	free(l.acl_ids);
	return r;
}
