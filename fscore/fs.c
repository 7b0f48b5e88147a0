/*
 * fs.c: files over meta (chunk lists) and the chunk store (block objects).
 *
 * Write path (spec §6.1): writes land in per-inode slice writers, one chunk
 * at a time; a write continues an open slice when it appends to it or
 * overwrites its not-yet-uploaded tail, else it opens a new slice. Slices are
 * committed to metadata in creation order on flush/fsync/release, by the idle
 * flusher, or when an inode holds too many open slices.
 *
 * Invariants:
 *  1. A slice is committed (meta_write_slice) only after chunk_writer_finish
 *     returned 0, so metadata never references a missing block (with
 *     --writeback: one that is neither uploaded nor durably staged).
 *  2. Per inode, slices are committed in the order they were created, so a
 *     later overwrite always shadows an earlier one.
 *  3. A failed finish aborts the slice (its uploaded blocks are deleted), and
 *     the error is remembered on the inode and returned by the next
 *     write/flush/release of any handle of it.
 *  4. Compaction writes a new slice fully before meta_compact_swap; if the
 *     chunk changed meanwhile the swap is refused and the new slice deleted.
 *  5. in->mu serialises writes and commits of one inode; fs->mu guards only
 *     the inode table and the compaction queue, and is never held while
 *     waiting on storage or metadata.
 *  6. A slice's blocks are deleted after a failed commit (meta_write_slice,
 *     meta_compact_swap) only when meta_not_applied() says the engine
 *     certainly did not apply it. When the outcome is unknown (the answer was
 *     lost) the records may point at them: they stay, and gc reclaims them
 *     if the commit did not happen (meta/meta.c invariant 3).
 */
#include "fscore/fs.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <unistd.h>

#include "fscore/chunk.h"
#include "storage/obj.h"

#define INODE_BUCKETS 1024
#define MAX_OPEN_SLICES 16     /* per inode before a forced commit */
#define IDLE_FLUSH_MS 1000
#define MAX_SLICE_AGE_MS 5000
#define COMPACT_MAX_RECORDS 1000
#define COMPACT_QUEUE_MAX 1024
#define READ_MAX_TRIES 8 /* of a chunk whose blocks compactions keep releasing (R3) */

struct fs_slice {
	struct chunk_writer *cw;
	uint32_t indx;
	uint32_t pos; /* chunk offset of the slice start */
	int64_t started_ms, last_ms;
	int fin; /* chunk_writer_finish's result, in a durable flush */
	struct fs_slice *next;
};

struct fs_inode {
	uint64_t ino;
	int refs;
	pthread_mutex_t mu;
	struct fs_slice *head, *tail; /* uncommitted slices, creation order */
	int nslices;
	uint64_t wlen;     /* end of the furthest uncommitted write */
	int64_t mtime_us;  /* time of the last write */
	int err;           /* deferred write error */
	uint64_t gen;      /* bumped whenever this process changes the chunk lists */
	struct fs_inode *next;
};

struct compact_job {
	uint64_t ino;
	uint32_t indx;
};

struct fs {
	struct meta *m;
	/* who a door that passes no caller acts as (fs_set_identity); NULL: unchecked root */
	struct meta_ctx door;
	int have_door;
	struct obj_store *obj;
	int own_obj;
	struct chunk_store *cs;
	struct fs_conf conf;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct fs_inode *inodes[INODE_BUCKETS];
	struct compact_job queue[COMPACT_QUEUE_MAX];
	size_t qhead, qlen;
	int stopping;
	pthread_t bg, compactor, heartbeat;
	int bg_started;
	uint64_t compactions;
	struct compact_job running[8]; /* chunks being compacted now */
	struct fs_bgjob *jobs;         /* elected background jobs, each on its thread */
	char *tmp_path;                /* the doors' temp folder, looked up once (tmp_dir) */
	uint64_t tmp_ino;
};

/*
 * An elected background job (fs_add_bgjob). Its thread wakes every
 * check_ms (jittered +-10 % as JuiceFS's JitterIt), asks the volume for the
 * turn, and runs fn only when it won; losing is the normal case in a volume
 * with several clients.
 */
struct fs_bgjob {
	struct fs *fs;
	char *counter;
	int64_t interval_s, check_ms;
	fs_bgjob_fn fn;
	void *arg;
	pthread_t th;
	struct fs_bgjob *next;
};

struct view_cache {
	uint32_t indx;
	uint64_t gen;
	int valid;
	struct meta_slice *v;
	size_t n, nraw;
};

struct fs_file {
	struct fs *fs;
	struct fs_inode *in;
	uint64_t ino;
	int flags;
	struct meta_ctx ctx;
	uint64_t length;
	uint64_t length_gen;
	struct view_cache view;
	uint64_t last_end;  /* readahead: end of the previous read */
	uint32_t ra;        /* current readahead window */
	uint64_t ra_end;    /* fs_read_ahead: readahead stops here (0: no bound) */
	/*
	 * Readahead that went past the viewed chunk's end (copy_pieces sets
	 * spill, read_locked queues it in chunk spill_indx once the view is
	 * free); spill_done is how much of that chunk is queued already.
	 */
	uint32_t spill, spill_done, spill_indx, spill_q_indx;
	/*
	 * Serialises reads of this handle: the kernel sends concurrent reads
	 * of one open file (async readahead), and the view cache, length and
	 * readahead state above belong to one reader at a time.
	 */
	pthread_mutex_t rmu;
	/*
	 * Quota precheck (meta.h): writes ending past qok ask whether the
	 * growth crosses a directory quota before buffering more, so a
	 * refused write stores nothing and at most one block is ever
	 * buffered past a limit (the commit is then refused exactly).
	 * qdir: the directory a temp file will be renamed into (doors).
	 */
	uint64_t qok;
	uint64_t qdir;
	int64_t qrepl; /* length of the file the temp file will replace, -1: none */
};

void fs_conf_defaults(struct fs_conf *c)
{
	memset(c, 0, sizeof(*c));
	meta_conf_defaults(&c->meta);
	c->max_uploads = 20;
	c->max_downloads = 200;
	c->prefetch = 1;
	c->buffer_size = 300ULL << 20;
	c->io_retries = 10;
	c->cache_size = 100ULL << 30;
	c->free_space_ratio = 0.1;
}

const struct conf_format *fs_format(const struct fs *fs)
{
	return meta_format(fs->m);
}

struct meta *fs_meta(struct fs *fs)
{
	return fs->m;
}

struct obj_store *fs_obj(struct fs *fs)
{
	return fs->obj;
}

/* ------------------------------------------------------------ inode table */

static struct fs_inode *inode_get(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->mu);
	struct fs_inode **p = &fs->inodes[ino % INODE_BUCKETS];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	if (!*p) {
		struct fs_inode *in = xcalloc(1, sizeof(*in));
		in->ino = ino;
		pthread_mutex_init(&in->mu, NULL);
		*p = in;
	}
	(*p)->refs++;
	struct fs_inode *in = *p;
	pthread_mutex_unlock(&fs->mu);
	return in;
}

/* Look up without creating; a reference is taken when found. */
static struct fs_inode *inode_find(struct fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->mu);
	struct fs_inode *in = fs->inodes[ino % INODE_BUCKETS];
	while (in && in->ino != ino)
		in = in->next;
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->mu);
	return in;
}

static void inode_put(struct fs *fs, struct fs_inode *in)
{
	pthread_mutex_lock(&fs->mu);
	if (--in->refs == 0 && !in->head) {
		struct fs_inode **p = &fs->inodes[in->ino % INODE_BUCKETS];
		while (*p != in)
			p = &(*p)->next;
		*p = in->next;
		pthread_mutex_destroy(&in->mu);
		free(in);
	}
	pthread_mutex_unlock(&fs->mu);
}

/* ------------------------------------------------------------ compaction */

static void enqueue_compaction(struct fs *fs, uint64_t ino, uint32_t indx)
{
	pthread_mutex_lock(&fs->mu);
	for (size_t i = 0; i < fs->qlen; i++) {
		struct compact_job *j = &fs->queue[(fs->qhead + i) % COMPACT_QUEUE_MAX];
		if (j->ino == ino && j->indx == indx)
			goto out;
	}
	if (fs->qlen < COMPACT_QUEUE_MAX && fs->bg_started) {
		struct compact_job *j = &fs->queue[(fs->qhead + fs->qlen) % COMPACT_QUEUE_MAX];
		j->ino = ino;
		j->indx = indx;
		fs->qlen++;
		pthread_cond_broadcast(&fs->cond);
	}
out:
	pthread_mutex_unlock(&fs->mu);
}

static void bump_gen(struct fs *fs, uint64_t ino)
{
	struct fs_inode *in = inode_find(fs, ino);
	if (in) {
		__atomic_add_fetch(&in->gen, 1, __ATOMIC_SEQ_CST);
		inode_put(fs, in);
	}
}

/* Copy the visible bytes of pieces [start, start+size) of a chunk view into cw. */
static int copy_view(struct fs *fs, const struct meta_slice *v, size_t n, uint32_t start,
		     uint32_t end, struct chunk_writer *cw)
{
	size_t bufsz = 4 << 20;
	uint8_t *buf = xmalloc(bufsz);
	int r = 0;
	uint32_t cur = start;
	for (size_t i = 0; i < n && !r; i++) {
		uint32_t ps = v[i].pos, pe = v[i].pos + v[i].len;
		if (pe <= start || ps >= end)
			continue;
		ps = MAX(ps, start);
		pe = MIN(pe, end);
		BUG_ON(ps != cur);
		while (ps < pe && !r) {
			uint32_t take = (uint32_t)MIN((uint64_t)bufsz, (uint64_t)(pe - ps));
			if (v[i].id) {
				ssize_t got = chunk_read(fs->cs, v[i].id, v[i].size,
							 v[i].off + (ps - v[i].pos), buf, take);
				/*
				 * A slice shorter than its record is damage: copying
				 * zeros for the rest would make it permanent.
				 */
				if (got == -ENOENT) {
					/* released by another client's compaction, or lost */
					log_warn("compact: block %s is missing from the object store",
						 chunk_missing_key());
					r = -EIO;
				} else if (got < 0)
					r = (int)got;
				else if ((uint32_t)got < take)
					r = -EIO;
			} else {
				memset(buf, 0, take);
			}
			if (!r)
				r = chunk_writer_write(cw, ps - start, buf, take);
			ps += take;
			cur = ps;
		}
	}
	free(buf);
	return r;
}

/*
 * At most one compaction per chunk at a time (spec §7.1): a second one would
 * read slices the first has just released. Returns the claimed slot or -1.
 */
static int claim_chunk(struct fs *fs, uint64_t ino, uint32_t indx, int wait)
{
	int slot = -1;
	pthread_mutex_lock(&fs->mu);
	for (;;) {
		int busy = 0;
		slot = -1;
		for (int i = 0; i < (int)ARRAY_SIZE(fs->running); i++) {
			if (fs->running[i].ino == ino && fs->running[i].indx == indx)
				busy = 1;
			else if (!fs->running[i].ino && slot < 0)
				slot = i;
		}
		if (!busy && slot >= 0) {
			fs->running[slot].ino = ino;
			fs->running[slot].indx = indx;
			break;
		}
		slot = -1;
		if (!wait)
			break;
		pthread_mutex_unlock(&fs->mu);
		sleep_ms(5);
		pthread_mutex_lock(&fs->mu);
	}
	pthread_mutex_unlock(&fs->mu);
	return slot;
}

static void release_chunk(struct fs *fs, int slot)
{
	pthread_mutex_lock(&fs->mu);
	fs->running[slot].ino = 0;
	pthread_mutex_unlock(&fs->mu);
}

static int compact_chunk_locked(struct fs *fs, uint64_t ino, uint32_t indx);

static int compact_chunk(struct fs *fs, uint64_t ino, uint32_t indx, int wait)
{
	int slot = claim_chunk(fs, ino, indx, wait);
	if (slot < 0)
		return 0; /* someone else is on it */
	int r = compact_chunk_locked(fs, ino, indx);
	release_chunk(fs, slot);
	return r;
}

/* JuiceFS's juicefs_compact_size_histogram_bytes: the bytes each compaction rewrote. */
static struct metric *compact_size;
static pthread_once_t compact_size_once = PTHREAD_ONCE_INIT;

static void compact_size_init(void)
{
	double b[16];
	metric_exp_buckets(b, 1024, 2, 16);
	compact_size = metric_get(metric_family(METRIC_HISTOGRAM,
						"juicefs_compact_size_histogram_bytes",
						"Distribution of size of compacted data in bytes.", 1,
						NULL, b, 16));
}

/* spec §7.2, without skipSome (NEEDSWORK: keep large leading slices as they are). */
static int compact_chunk_locked(struct fs *fs, uint64_t ino, uint32_t indx)
{
	struct meta_slice *raw = NULL, *view = NULL;
	size_t n = 0, nv = 0;
	int r = meta_read_chunk(fs->m, ino, indx, &raw, &n);
	if (r || n < 2)
		goto out;
	if (n > COMPACT_MAX_RECORDS)
		n = COMPACT_MAX_RECORDS;
	meta_build_slices(raw, n, &view, &nv);
	size_t first = 0, last = nv;
	while (first < nv && !view[first].id)
		first++;
	while (last > first && !view[last - 1].id)
		last--;
	if (first == last)
		goto out; /* only holes: nothing to rewrite */
	uint32_t start = view[first].pos, end = view[last - 1].pos + view[last - 1].len;
	uint64_t id;
	if ((r = meta_new_slice_id(fs->m, &id)))
		goto out;
	struct chunk_writer *cw = chunk_writer_new(fs->cs, id);
	/* the swap frees the old blocks, which may be uploaded already: the new ones must be too */
	chunk_writer_no_writeback(cw);
	r = copy_view(fs, view, nv, start, end, cw);
	if (!r)
		r = chunk_writer_finish(cw);
	/* the swap lets the old, perhaps fsynced, blocks go: the new must be durable first */
	if (!r)
		r = chunk_store_sync(fs->cs);
	if (r) {
		chunk_writer_abort(cw);
		chunk_writer_free(cw);
		goto out;
	}
	chunk_writer_free(cw);
	struct meta_slice ns = { start, id, end - start, 0, end - start };
	r = meta_compact_swap(fs->m, ino, indx, raw, n, 0, &ns);
	if (r) {
		if (meta_not_applied(r))
			chunk_delete_slice(fs->cs, id, ns.size);
		else
			log_warn("compact inode %llu chunk %u: outcome unknown, slice %llu kept",
				 (unsigned long long)ino, indx, (unsigned long long)id);
		if (r == META_EUNKNOWN)
			r = -EIO;
		goto out;
	}
	bump_gen(fs, ino);
	pthread_mutex_lock(&fs->mu);
	fs->compactions++;
	pthread_mutex_unlock(&fs->mu);
	pthread_once(&compact_size_once, compact_size_init);
	metric_observe(compact_size, end - start);
out:
	free(raw);
	free(view);
	return r;
}

static void *compactor_main(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->mu);
	for (;;) {
		while (!fs->qlen && !fs->stopping)
			pthread_cond_wait(&fs->cond, &fs->mu);
		if (fs->stopping)
			break;
		struct compact_job j = fs->queue[fs->qhead];
		fs->qhead = (fs->qhead + 1) % COMPACT_QUEUE_MAX;
		fs->qlen--;
		pthread_mutex_unlock(&fs->mu);
		int r = compact_chunk(fs, j.ino, j.indx, 0);
		if (r && r != -EINVAL && r != -ENOENT)
			log_debug("compact inode %llu chunk %u: %s", (unsigned long long)j.ino,
				  j.indx, strerror(-r));
		pthread_mutex_lock(&fs->mu);
	}
	pthread_mutex_unlock(&fs->mu);
	return NULL;
}

int fs_compact(struct fs *fs, uint64_t ino)
{
	struct meta_attr a;
	int r = meta_getattr(fs->m, NULL, ino, &a);
	if (r)
		return r;
	for (uint64_t i = 0; !r && i * META_CHUNK_SIZE < a.length; i++) {
		r = compact_chunk(fs, ino, (uint32_t)i, 1);
		if (r == -EINVAL)
			r = 0; /* raced with a writer: fine */
	}
	return r;
}

/* ------------------------------------------------------------ write path */

/* Commit every open slice of in, in creation order. Caller holds in->mu. */
/*
 * Commit every open slice of the inode, oldest first. With `durable` (fsync)
 * all uploads finish and are synced before the first commit, so metadata
 * never promises a block a power loss could take back.
 */
static int flush_durable_locked(struct fs *fs, struct fs_inode *in, int durable)
{
	int err = 0, synced = 0;
	if (durable) {
		for (struct fs_slice *s = in->head; s; s = s->next)
			s->fin = chunk_writer_finish(s->cw);
		synced = chunk_store_sync(fs->cs);
		if (synced)
			log_warn("sync data of inode %llu: %s", (unsigned long long)in->ino,
				 strerror(-synced));
	}
	while (in->head) {
		struct fs_slice *s = in->head;
		int r = durable ? s->fin : chunk_writer_finish(s->cw);
		if (!r && synced)
			r = synced;
		uint32_t len = chunk_writer_len(s->cw);
		if (r) {
			chunk_writer_abort(s->cw);
		} else if (len) {
			struct meta_slice ms = { 0, chunk_writer_id(s->cw), len, 0, len };
			size_t count = 0;
			r = meta_write_slice(fs->m, in->ino, s->indx, s->pos, &ms, in->mtime_us,
					     &count);
			if (r && meta_not_applied(r)) {
				chunk_delete_slice(fs->cs, ms.id, len);
			} else if (r) {
				log_warn("commit slice %llu of inode %llu: outcome unknown, its "
					 "blocks are kept",
					 (unsigned long long)ms.id, (unsigned long long)in->ino);
				r = -EIO;
			} else if (count % 100 == 99 || count > 350) {
				enqueue_compaction(fs, in->ino, s->indx);
			}
		}
		if (r) {
			log_warn("commit slice of inode %llu: %s", (unsigned long long)in->ino,
				 strerror(-r));
			if (r != -ENOSPC && r != -EDQUOT && r != -ENOENT)
				r = -EIO;
			if (!err)
				err = r;
		}
		chunk_writer_free(s->cw);
		in->head = s->next;
		free(s);
		in->nslices--;
	}
	in->tail = NULL;
	in->wlen = 0;
	__atomic_add_fetch(&in->gen, 1, __ATOMIC_SEQ_CST);
	if (err && !in->err)
		in->err = err;
	return err;
}

static int flush_locked(struct fs *fs, struct fs_inode *in)
{
	return flush_durable_locked(fs, in, 0);
}

static int flush_inode_how(struct fs *fs, struct fs_inode *in, int durable)
{
	pthread_mutex_lock(&in->mu);
	if (in->head) {
		flush_durable_locked(fs, in, durable); /* records its error in in->err */
	} else if (durable) {
		/* slices committed earlier (idle flush, close) are synced now */
		int r = chunk_store_sync(fs->cs);
		if (r && !in->err)
			in->err = -EIO;
	}
	int r = in->err;
	in->err = 0; /* reported once, like a deferred writeback error */
	pthread_mutex_unlock(&in->mu);
	return r;
}

static int flush_inode(struct fs *fs, struct fs_inode *in)
{
	return flush_inode_how(fs, in, 0);
}

static int write_chunk(struct fs *fs, struct fs_inode *in, uint32_t indx, uint32_t coff,
		       struct chunk_src *data, uint32_t n, int may_flush)
{
	struct fs_slice *s = NULL;
	int64_t now = mono_ms();
	/* newest first: continue a slice we append to or whose tail is not uploaded */
	for (struct fs_slice *p = in->head; p; p = p->next) {
		if (p->indx != indx)
			continue;
		uint32_t flushed = p->pos + chunk_writer_flushed(p->cw);
		uint32_t end = p->pos + chunk_writer_len(p->cw);
		if (coff >= flushed && coff <= end && coff >= p->pos)
			s = p; /* keep the newest match */
		else if (s && coff < end && coff + n > p->pos)
			s = NULL; /* a newer slice overlaps: must not write under it */
	}
	if (!s) {
		if (in->nslices >= MAX_OPEN_SLICES) {
			int r = flush_locked(fs, in);
			if (r)
				return r;
		}
		uint64_t id;
		int r = meta_new_slice_id(fs->m, &id);
		if (r)
			return r;
		s = xcalloc(1, sizeof(*s));
		s->cw = chunk_writer_new(fs->cs, id);
		s->indx = indx;
		s->pos = coff;
		s->started_ms = now;
		if (in->tail)
			in->tail->next = s;
		else
			in->head = s;
		in->tail = s;
		in->nslices++;
	}
	s->last_ms = now;
	if (!may_flush)
		return chunk_writer_write_src(s->cw, coff - s->pos, data, n, 0);
	/*
	 * Waiting for buffer space while this inode's own open slices hold
	 * partial blocks could wait forever (chunk.h invariant 4): commit them
	 * first, then write into a fresh slice, which may wait safely.
	 */
	int r = chunk_writer_write_src(s->cw, coff - s->pos, data, n, 1);
	if (r != -EAGAIN)
		return r;
	if ((r = flush_locked(fs, in)))
		return r;
	return write_chunk(fs, in, indx, coff, data, n, 0);
}

static uint64_t align4k_u(uint64_t n) { return n ? ((n - 1) / 4096 + 1) * 4096 : 4096; }

/*
 * A write ending at end, past what the last check allowed (qok). A temp file
 * for a door is checked whole against its destination; a file is given the
 * room its quotas have left, so writes fill a quota up to the byte and the
 * one that would cross it fails before anything of it is buffered. qok
 * never runs more than one block past the last check, so a writer racing
 * others asks again at least once a block (the commit is exact anyway).
 */
static int quota_precheck_write(struct fs_file *fh, uint64_t end)
{
	struct fs *fs = fh->fs;
	uint64_t bs = (uint64_t)fs_format(fs)->block_size * 1024, len, ok;
	int64_t room;
	int r;
	if (!bs)
		bs = 4 << 20;
	if (fh->qdir) {
		if ((r = fs_quota_precheck_dir(fs, fh->qdir, end, fh->qrepl)))
			return r;
		fh->qok = (end + bs - 1) / bs * bs;
		return 0;
	}
	if ((r = meta_quota_room(fs->m, fh->ino, &room, &len)))
		return r;
	if (room < 0) {
		ok = end + bs; /* no limit above this file now */
	} else {
		/* growth counts align4k(new) - align4k(committed) */
		ok = align4k_u(len) + (uint64_t)room / 4096 * 4096;
		if (end > ok)
			return -EDQUOT;
		ok = MIN(ok, end + bs);
	}
	fh->qok = ok;
	return 0;
}

void fs_file_quota_dir(struct fs_file *fh, uint64_t dir, int64_t replaced)
{
	fh->qdir = dir;
	fh->qrepl = replaced;
	fh->qok = 0;
}

int fs_quota_precheck(struct fs *fs, const char *path, uint64_t bytes)
{
	/* the deepest directory of path that exists: the new file's quotas are its */
	char *p;
	uint64_t ino = META_ROOT_INODE, old;
	struct meta_attr a;
	int64_t replaced = -1;
	if (!meta_quota_any(fs->m))
		return 0; /* no path walks on the PUT path of a volume without quotas */
	p = xstrdup(path);
	if (!fs_resolve(fs, NULL, path, &old, &a) && a.type == META_TYPE_FILE)
		replaced = (int64_t)a.length;
	for (;;) {
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			ino = META_ROOT_INODE;
			break;
		}
		*slash = 0;
		if (!fs_resolve(fs, NULL, p, &ino, &a)) {
			if (a.type != META_TYPE_DIRECTORY)
				ino = 0;
			break;
		}
	}
	free(p);
	if (!ino)
		return 0; /* the write fails later with ENOTDIR */
	return fs_quota_precheck_dir(fs, ino, bytes, replaced);
}

int fs_quota_precheck_dir(struct fs *fs, uint64_t dir, uint64_t bytes, int64_t replaced)
{
	/* a replaced file leaves the quota in the same rename that brings the new one */
	if (replaced >= 0)
		return meta_quota_precheck(fs->m, dir,
					   (int64_t)align4k_u(bytes) -
						   (int64_t)align4k_u((uint64_t)replaced),
					   0);
	return meta_quota_precheck(fs->m, dir, (int64_t)align4k_u(bytes), 1);
}

ssize_t fs_write(struct fs_file *fh, uint64_t off, const void *buf, size_t len)
{
	struct chunk_src src = { .mem = buf };
	return fs_write_src(fh, off, &src, len);
}

ssize_t fs_write_src(struct fs_file *fh, uint64_t off, struct chunk_src *src, size_t len)
{
	struct fs *fs = fh->fs;
	struct fs_inode *in = fh->in;
	int r = 0;
	if ((fh->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (len == 0)
		return 0;
	pthread_mutex_lock(&in->mu);
	if (fh->flags & O_APPEND) {
		struct meta_attr a;
		if ((r = meta_getattr(fs->m, NULL, fh->ino, &a)))
			goto out;
		off = MAX(a.length, in->wlen);
	}
	if (off >= META_MAX_FILE_SIZE || len > META_MAX_FILE_SIZE - off) {
		r = -EFBIG;
		goto out;
	}
	if (in->err) {
		r = in->err;
		in->err = 0;
		goto out;
	}
	if (off + len > fh->qok && (r = quota_precheck_write(fh, off + len)))
		goto out;
	size_t done = 0;
	while (done < len) {
		uint64_t o = off + done;
		uint32_t indx = (uint32_t)(o >> META_CHUNK_BITS);
		uint32_t coff = (uint32_t)(o & (META_CHUNK_SIZE - 1));
		uint32_t n = (uint32_t)MIN((uint64_t)(len - done), (uint64_t)META_CHUNK_SIZE - coff);
		if ((r = write_chunk(fs, in, indx, coff, src, n, 1)))
			break;
		done += n;
	}
	if (done) {
		in->wlen = MAX(in->wlen, off + done);
		in->mtime_us = now_us();
	}
	if (r && done)
		r = 0; /* short write; the error comes back on the next call */
	pthread_mutex_unlock(&in->mu);
	return r ? r : (ssize_t)done;
out:
	pthread_mutex_unlock(&in->mu);
	return r;
}

int fs_flush(struct fs_file *fh)
{
	return flush_inode(fh->fs, fh->in);
}

int fs_fsync(struct fs_file *fh)
{
	return flush_inode_how(fh->fs, fh->in, 1);
}

/* Commit slices idle for a second or open for five (spec §6.1 step 5). */
static void flush_idle(struct fs *fs, int all)
{
	int64_t now = mono_ms();
	for (size_t b = 0; b < INODE_BUCKETS; b++) {
		for (;;) {
			struct fs_inode *victim = NULL;
			pthread_mutex_lock(&fs->mu);
			for (struct fs_inode *in = fs->inodes[b]; in; in = in->next) {
				int due;
				/*
				 * The slice list belongs to in->mu: a writer may
				 * commit and free it meanwhile, so look only
				 * under that lock (never wait for it here: we
				 * hold fs->mu; a busy inode is seen next tick).
				 */
				if (!__atomic_load_n(&in->head, __ATOMIC_RELAXED))
					continue;
				if (all) {
					due = 1;
				} else if (pthread_mutex_trylock(&in->mu) == 0) {
					struct fs_slice *s = in->head;
					due = s && (now - s->started_ms > MAX_SLICE_AGE_MS ||
						    now - in->tail->last_ms > IDLE_FLUSH_MS);
					pthread_mutex_unlock(&in->mu);
				} else {
					due = 0;
				}
				if (due) {
					victim = in;
					in->refs++;
					break;
				}
			}
			pthread_mutex_unlock(&fs->mu);
			if (!victim)
				break;
			if (all) {
				pthread_mutex_lock(&victim->mu);
			} else if (pthread_mutex_trylock(&victim->mu)) {
				inode_put(fs, victim);
				break; /* busy writing: it will be back */
			}
			if (victim->head)
				flush_locked(fs, victim);
			pthread_mutex_unlock(&victim->mu);
			inode_put(fs, victim);
		}
	}
}

/* ------------------------------------------------------------ read path */

/*
 * Read invariants:
 *  R1. Only a hole of the slice map reads as zeros. A block that cannot be
 *      read is an error (EIO) and never zeros, whatever the reason: another
 *      client deleted or compacted the file, or the object is lost.
 *  R2. A view is trusted to have holes only once the inode is known to have
 *      outlived the chunk-list read (get_view).
 *  R3. A failed block read re-reads the chunk list once (compaction may have
 *      moved the data to a new slice); a second failure is the answer. A
 *      missing block is expected (a view built before a compaction with
 *      trash off, whose old blocks are deleted at once) and only logged at
 *      debug; the read re-reads as long as the chunk list keeps changing
 *      (each try another compaction), at most READ_MAX_TRIES times. Missing
 *      on an unchanged list it is lost: ERROR, and EIO to the caller.
 */

/* Does the view leave a hole (zeros) anywhere in its first `upto` bytes? */
static int view_has_hole(const struct view_cache *vc, uint32_t upto)
{
	uint32_t end = 0;
	for (size_t i = 0; i < vc->n; i++) {
		if (!vc->v[i].id && vc->v[i].len)
			return 1;
		end = vc->v[i].pos + vc->v[i].len;
	}
	return end < upto;
}

/*
 * A hole reads as zeros, so before a view with one is trusted the inode must
 * still be there: another client that deletes a file drops its attribute
 * first and its chunk lists after (meta.c free_inode, then
 * delete_file_data), so a chunk list read before a successful getattr was
 * not emptied by a deletion. Without this check a reader of a file deleted
 * elsewhere read its now empty chunk lists as holes and returned zeros. A
 * file another client shortened is read at its new length (a short read), as
 * a local file system would.
 */
static int get_view(struct fs_file *fh, uint32_t indx, uint64_t gen)
{
	struct view_cache *vc = &fh->view;
	if (vc->valid && vc->indx == indx && vc->gen == gen)
		return 0;
	struct meta_slice *raw;
	size_t n;
	int r = meta_read_chunk(fh->fs->m, fh->ino, indx, &raw, &n);
	if (r)
		return r;
	free(vc->v);
	meta_build_slices(raw, n, &vc->v, &vc->n);
	free(raw);
	vc->nraw = n;
	vc->indx = indx;
	vc->gen = gen;
	vc->valid = 1;
	uint64_t cstart = (uint64_t)indx << META_CHUNK_BITS;
	if (fh->length > cstart &&
	    view_has_hole(vc, (uint32_t)MIN(fh->length - cstart, (uint64_t)META_CHUNK_SIZE))) {
		struct meta_attr a;
		r = meta_getattr(fh->fs->m, NULL, fh->ino, &a);
		if (r == -ENOENT) {
			log_warn("inode %llu was deleted by another client while it was read",
				 (unsigned long long)fh->ino);
			r = -EIO;
		}
		if (r) {
			vc->valid = 0;
			return r;
		}
		if (a.length < fh->length)
			fh->length = a.length;
	}
	if ((n >= 5 || vc->n >= 5) && !fh->fs->conf.meta.read_only)
		enqueue_compaction(fh->fs, fh->ino, indx);
	return 0;
}

static ssize_t read_locked(struct fs_file *fh, uint64_t off, void *buf, size_t len,
			   struct chunk_vec *vec, int flags);

ssize_t fs_read(struct fs_file *fh, uint64_t off, void *buf, size_t len)
{
	pthread_mutex_lock(&fh->rmu);
	ssize_t r = read_locked(fh, off, buf, len, NULL, 0);
	pthread_mutex_unlock(&fh->rmu);
	return r;
}

static ssize_t read_vec(struct fs_file *fh, uint64_t off, size_t len, struct chunk_vec *vec,
			int flags)
{
	size_t n0 = vec->n;
	pthread_mutex_lock(&fh->rmu);
	ssize_t r = read_locked(fh, off, NULL, len, vec, flags);
	pthread_mutex_unlock(&fh->rmu);
	if (r < 0)
		chunk_vec_truncate(vec, n0);
	return r;
}

ssize_t fs_read_vec(struct fs_file *fh, uint64_t off, size_t len, struct chunk_vec *vec)
{
	return read_vec(fh, off, len, vec, 0);
}

ssize_t fs_read_vec_cached(struct fs_file *fh, uint64_t off, size_t len, struct chunk_vec *vec)
{
	return read_vec(fh, off, len, vec, CHUNK_READ_SEQ | CHUNK_READ_CACHED);
}

uint64_t fs_file_buffer_size(const struct fs_file *fh) { return fh->fs->conf.buffer_size; }

/* The largest readahead window (fh->ra), reached by doubling from 4 MiB. */
#define RA_MAX (32U << 20)
/*
 * How far from the previous read's end a read still counts as sequential:
 * the kernel's requests in flight for one file (max_background 12 of up to
 * 128 KiB by default) may arrive in any order.
 */
#define SEQ_SLACK (2U << 20)

/* Queue loads of the blocks under [coff, cend) of a chunk whose view is v. */
static void prefetch_slices(struct fs *fs, const struct meta_slice *v, size_t n, uint32_t coff,
			    uint32_t cend)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t a = MAX(coff, v[i].pos), b = MIN(cend, v[i].pos + v[i].len);
		if (v[i].id && a < b)
			chunk_prefetch(fs->cs, v[i].id, v[i].size, v[i].off + (a - v[i].pos), b - a);
	}
}

/*
 * Queue loads of the blocks under [off, off+len) of the file, as the
 * current views say; a hint, so an error (or unflushed data, which the
 * read will flush first) just ends it.
 */
static void prefetch_range(struct fs_file *fh, uint64_t off, uint64_t len)
{
	struct fs *fs = fh->fs;
	uint64_t gen = __atomic_load_n(&fh->in->gen, __ATOMIC_SEQ_CST);
	uint64_t end;

	if (fh->in->head || fh->length_gen != gen)
		return;
	end = MIN(off + len, fh->length);
	while (off < end) {
		uint32_t indx = (uint32_t)(off >> META_CHUNK_BITS);
		uint32_t coff = (uint32_t)(off & (META_CHUNK_SIZE - 1));
		uint32_t cend = (uint32_t)MIN(end - off, (uint64_t)META_CHUNK_SIZE - coff) + coff;
		if (get_view(fh, indx, gen))
			return;
		prefetch_slices(fs, fh->view.v, fh->view.n, coff, cend);
		off += cend - coff;
	}
}

/*
 * Queue the part of a sequential reader's window that lies in the next
 * chunk (fh->spill, from prefetch_on). That chunk's slices are read into a
 * list of their own: through the handle's view cache, the reader's next
 * read had to read its own chunk again. Each call is still a chunk read,
 * so it is queued again only when the window there grew by a block; a
 * hint, so an error (or unflushed data) just skips it.
 */
static void spill_ahead(struct fs_file *fh)
{
	uint32_t want = fh->spill, bs = (uint32_t)fs_format(fh->fs)->block_size << 10;
	uint64_t cstart = (uint64_t)fh->spill_indx << META_CHUNK_BITS;
	struct meta_slice *raw, *view;
	size_t nraw, nview;

	fh->spill = 0;
	if (fh->spill_q_indx != fh->spill_indx) {
		fh->spill_q_indx = fh->spill_indx;
		fh->spill_done = 0;
	}
	if ((fh->spill_done && want < fh->spill_done + bs) || want <= fh->spill_done)
		return;
	if (fh->in->head || fh->length_gen != __atomic_load_n(&fh->in->gen, __ATOMIC_SEQ_CST) ||
	    cstart >= fh->length)
		return;
	if (meta_read_chunk(fh->fs->m, fh->ino, fh->spill_indx, &raw, &nraw))
		return;
	meta_build_slices(raw, nraw, &view, &nview);
	free(raw);
	want = (uint32_t)MIN((uint64_t)want, fh->length - cstart);
	prefetch_slices(fh->fs, view, nview, fh->spill_done, want);
	free(view);
	fh->spill_done = MAX(fh->spill_done, want);
}

void fs_read_ahead(struct fs_file *fh, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	pthread_mutex_lock(&fh->rmu);
	fh->last_end = off;
	fh->ra = RA_MAX;
	fh->ra_end = off + len;
	prefetch_range(fh, off, MIN(len, (uint64_t)RA_MAX));
	pthread_mutex_unlock(&fh->rmu);
}

struct fs *fs_file_fs(const struct fs_file *fh)
{
	return fh->fs;
}

/* Holes of a vector read point here: untouched .bss, so it costs no memory. */
static const char zeros[256 << 10];

/*
 * A sequential reader is at coff of the viewed chunk, in view entry i:
 * queue the window (fh->ra) ahead of it, across the following slices of
 * the chunk and, through fh->spill, into the next chunk. Stopping at the
 * slice's end left a cold block at the start of every chunk of a file
 * written in one go (a 64 MiB slice each), and of every later slice.
 */
static void prefetch_on(struct fs_file *fh, size_t i, uint32_t coff)
{
	uint32_t ra = fh->ra ? fh->ra : (4 << 20);
	uint64_t cstart = (uint64_t)fh->view.indx << META_CHUNK_BITS;
	uint64_t want = ra;

	if (fh->ra_end)
		want = fh->ra_end > cstart + coff ? MIN(want, fh->ra_end - (cstart + coff)) : 0;
	want = MIN(want, fh->length > cstart + coff ? fh->length - (cstart + coff) : 0);
	for (; i < fh->view.n && want && coff < META_CHUNK_SIZE; i++) {
		const struct meta_slice *v = &fh->view.v[i];
		uint32_t a = MAX(coff, v->pos), b = v->pos + v->len;
		uint32_t gap = a - coff; /* a hole before this entry: nothing to fetch */
		if (gap >= want)
			return;
		want -= gap;
		if (a >= b)
			continue;
		uint32_t n = (uint32_t)MIN((uint64_t)(b - a), want);
		if (v->id)
			chunk_prefetch(fh->fs->cs, v->id, v->size, v->off + (a - v->pos), n);
		want -= n;
		coff = b;
	}
	/* what is left of the window after the chunk's end (a hole to it included) */
	if (want > META_CHUNK_SIZE - coff) {
		fh->spill = (uint32_t)(want - (META_CHUNK_SIZE - coff));
		fh->spill_indx = fh->view.indx + 1;
	}
	if (fh->ra < RA_MAX)
		fh->ra = ra * 2;
}

/*
 * [coff, coff+n) of chunk indx from the current view: copied into dst, or
 * appended to vec as pinned pieces (then dst is NULL). A hole is zeros; a
 * slice whose blocks cannot be read is an error, never zeros.
 */
static int copy_pieces(struct fs_file *fh, uint32_t coff, uint32_t n, uint8_t *dst, int flags,
		       struct chunk_vec *vec)
{
	int seq = flags & CHUNK_READ_SEQ;
	struct fs *fs = fh->fs;
	const struct meta_slice *v = fh->view.v;
	uint32_t cur = coff, end = coff + n;
	size_t i = 0;
	while (cur < end) {
		while (i < fh->view.n && v[i].pos + v[i].len <= cur)
			i++;
		uint32_t stop;
		if (i < fh->view.n && v[i].pos <= cur && v[i].id) {
			stop = MIN(end, v[i].pos + v[i].len);
			uint32_t so = v[i].off + (cur - v[i].pos);
			ssize_t got = vec ? chunk_read_pin(fs->cs, v[i].id, v[i].size, so,
							   stop - cur, flags, vec)
					  : chunk_read(fs->cs, v[i].id, v[i].size, so,
						       dst + (cur - coff), stop - cur);
			if (got < 0)
				return (int)got;
			if ((uint32_t)got < stop - cur) { /* slice shorter than its record */
				log_error("slice %llu is shorter than its record in inode %llu",
					  (unsigned long long)v[i].id, (unsigned long long)fh->ino);
				return -EIO;
			}
			/* sequential reader: fetch ahead from here */
			if (seq && !(flags & CHUNK_READ_CACHED) && stop == end)
				prefetch_on(fh, i, stop);
		} else {
			if (i < fh->view.n && v[i].pos <= cur)
				stop = MIN(end, v[i].pos + v[i].len); /* a hole record */
			else
				stop = i < fh->view.n ? MIN(end, v[i].pos) : end;
			if (!vec)
				memset(dst + (cur - coff), 0, stop - cur);
			for (uint32_t z = cur; vec && z < stop; z += MIN(stop - z, sizeof(zeros)))
				chunk_vec_add_static(vec, zeros, MIN(stop - z, sizeof(zeros)));
		}
		cur = stop;
	}
	return 0;
}

static int same_view(const struct meta_slice *a, size_t na, const struct meta_slice *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (a[i].pos != b[i].pos || a[i].id != b[i].id || a[i].size != b[i].size ||
		    a[i].off != b[i].off || a[i].len != b[i].len)
			return 0;
	return 1;
}

/*
 * Read [coff, coff+n) of chunk indx. Returns the bytes read: n, or fewer
 * when another client shortened the file, or -errno.
 */
static ssize_t read_chunk(struct fs_file *fh, uint32_t indx, uint32_t coff, uint32_t n,
			  uint8_t *dst, uint64_t gen, int flags, struct chunk_vec *vec)
{
	uint64_t cstart = (uint64_t)indx << META_CHUNK_BITS;
	size_t n0 = vec ? vec->n : 0, nprev = 0;
	struct meta_slice *prev = NULL;
	ssize_t r;
	for (int tries = 0;; tries++) {
		if ((r = get_view(fh, indx, gen)))
			break;
		/*
		 * A block missing again on an unchanged chunk list is lost; on a
		 * changed one it was released by yet another compaction.
		 */
		if (prev && same_view(prev, nprev, fh->view.v, fh->view.n)) {
			r = -ENOENT;
			break;
		}
		if (cstart + coff >= fh->length) {
			r = 0;
			break;
		}
		n = (uint32_t)MIN((uint64_t)n, fh->length - cstart - coff);
		if (!(r = copy_pieces(fh, coff, n, dst, flags, vec))) {
			r = n;
			break;
		}
		if (vec)
			chunk_vec_truncate(vec, n0); /* the pieces of the failed try */
		if (r == -EAGAIN) /* not local (CHUNK_READ_CACHED): the caller reads otherwise */
			break;
		if ((r != -ENOENT && tries) || tries >= READ_MAX_TRIES - 1)
			break;
		if (r == -ENOENT) {
			log_debug("inode %llu chunk %u: block %s is gone, re-reading the chunk list",
				  (unsigned long long)fh->ino, indx, chunk_missing_key());
			free(prev);
			nprev = fh->view.n;
			prev = xmalloc(MAX(nprev, (size_t)1) * sizeof(*prev));
			memcpy(prev, fh->view.v, nprev * sizeof(*prev));
		}
		/*
		 * Compaction elsewhere may have released a slice after the view
		 * was built: re-read the chunk list and start the chunk over.
		 * The fresh view is checked as any other (get_view), so a file
		 * deleted meanwhile is an error and not a hole.
		 */
		fh->view.valid = 0;
	}
	free(prev);
	if (r == -ENOENT) {
		log_error("block %s is missing from the object store (inode %llu)",
			  chunk_missing_key(), (unsigned long long)fh->ino);
		r = -EIO;
	}
	return r;
}

static ssize_t read_locked(struct fs_file *fh, uint64_t off, void *buf, size_t len,
			   struct chunk_vec *vec, int flags)
{
	struct fs *fs = fh->fs;
	struct fs_inode *in = fh->in;
	uint8_t *dst = buf;
	int r;
	if ((fh->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (in->head && (r = flush_inode(fs, in)))
		return r;
	uint64_t gen = __atomic_load_n(&in->gen, __ATOMIC_SEQ_CST);
	if (fh->length_gen != gen) {
		struct meta_attr a;
		if ((r = meta_getattr(fs->m, NULL, fh->ino, &a)))
			return r;
		fh->length = a.length;
		fh->length_gen = gen;
	}
	if (off >= fh->length || len == 0)
		return 0;
	len = (size_t)MIN((uint64_t)len, fh->length - off);
	size_t done = 0;
	/*
	 * The kernel's readahead requests of one file are taken by several
	 * workers and reach here in any order within its window: a read that
	 * starts near the furthest end so far is still the same sequential
	 * reader. Only off == last_end reset the window on each swapped pair
	 * (38 times in a cold 1 GiB read, doc/read-path.md).
	 */
	int seq = fh->last_end != UINT64_MAX && off + SEQ_SLACK >= fh->last_end &&
		  off <= fh->last_end + SEQ_SLACK;
	flags |= seq ? CHUNK_READ_SEQ : 0;
	while (done < len) {
		uint64_t o = off + done;
		uint32_t indx = (uint32_t)(o >> META_CHUNK_BITS);
		uint32_t coff = (uint32_t)(o & (META_CHUNK_SIZE - 1));
		uint32_t n = (uint32_t)MIN((uint64_t)(len - done), (uint64_t)META_CHUNK_SIZE - coff);
		ssize_t got =
			read_chunk(fh, indx, coff, n, dst ? dst + done : NULL, gen, flags, vec);
		if (got < 0)
			return got;
		done += (size_t)got;
		if ((uint32_t)got < n)
			break; /* the file was shortened under us */
	}
	if (!seq) {
		fh->ra = 0;
		fh->ra_end = 0; /* the announced range is no longer what is read */
		fh->spill = 0;
	}
	fh->last_end = seq ? MAX(fh->last_end, off + done) : off + done;
	if (fh->spill)
		spill_ahead(fh);
	return (ssize_t)done;
}

/* ------------------------------------------------------------ handles */

/* The caller, or the door's identity when the door passes none. */
static const struct meta_ctx *door_ctx(const struct fs *fs, const struct meta_ctx *c)
{
	return c ? c : fs->have_door ? &fs->door : NULL;
}

void fs_set_identity(struct fs *fs, const struct meta_ctx *c)
{
	if (c)
		fs->door = *c;
	fs->have_door = c != NULL;
}

void fs_ctx_process(struct meta_ctx *c)
{
	gid_t g[ARRAY_SIZE(c->gids)];
	int n = getgroups((int)ARRAY_SIZE(g), g);
	memset(c, 0, sizeof(*c));
	c->uid = (uint32_t)geteuid();
	c->gid = (uint32_t)getegid();
	c->pid = (uint32_t)getpid();
	c->check_permission = 1;
	for (int i = 0; i < n; i++)
		c->gids[c->ngids++] = (uint32_t)g[i];
}

static struct fs_file *new_handle(struct fs *fs, const struct meta_ctx *c, uint64_t ino,
				  int flags, const struct meta_attr *a)
{
	struct fs_file *fh = xcalloc(1, sizeof(*fh));
	fh->fs = fs;
	fh->ino = ino;
	fh->flags = flags;
	if (c)
		fh->ctx = *c;
	else
		meta_ctx_root(&fh->ctx);
	fh->in = inode_get(fs, ino);
	fh->length = a->length;
	fh->length_gen = __atomic_load_n(&fh->in->gen, __ATOMIC_SEQ_CST);
	fh->last_end = UINT64_MAX;
	pthread_mutex_init(&fh->rmu, NULL);
	return fh;
}

uint64_t fs_file_ino(const struct fs_file *fh)
{
	return fh->ino;
}

int fs_open_file(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int flags,
		 struct fs_file **fhp, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	struct meta_attr a;
	int r = meta_open_file(fs->m, c, ino, flags, &a);
	if (r)
		return r;
	if (a.type == META_TYPE_DIRECTORY && (flags & O_ACCMODE) != O_RDONLY) {
		meta_close_file(fs->m, ino);
		return -EISDIR;
	}
	struct fs_file *fh = new_handle(fs, c, ino, flags, &a);
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && a.length) {
		if ((r = fs_truncate(fs, c, ino, 0, &a))) {
			fs_release(fh);
			return r;
		}
		fh->length = 0;
	}
	*fhp = fh;
	if (attr)
		*attr = a;
	return 0;
}

int fs_create(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	      uint16_t mode, uint16_t cumask, int flags, struct fs_file **fhp, uint64_t *ino,
	      struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	struct meta_attr a;
	uint64_t i;
	int r = meta_create(fs->m, c, parent, name, mode, cumask, flags, &i, &a);
	if (r)
		return r;
	*fhp = new_handle(fs, c, i, flags, &a);
	if (ino)
		*ino = i;
	if (attr)
		*attr = a;
	return 0;
}

int fs_release(struct fs_file *fh)
{
	if (!fh)
		return 0;
	struct fs *fs = fh->fs;
	int r = flush_inode(fs, fh->in);
	int r2 = meta_close_file(fs->m, fh->ino);
	inode_put(fs, fh->in);
	free(fh->view.v);
	pthread_mutex_destroy(&fh->rmu);
	free(fh);
	return r ? r : r2;
}

/* Commit pending writes of ino, if this process has any. */
static int flush_ino(struct fs *fs, uint64_t ino)
{
	struct fs_inode *in = inode_find(fs, ino);
	if (!in)
		return 0;
	int r = flush_inode(fs, in);
	inode_put(fs, in);
	return r;
}

int fs_truncate(struct fs *fs, const struct meta_ctx *c, uint64_t ino, uint64_t length,
		struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	struct fs_inode *in = inode_get(fs, ino);
	pthread_mutex_lock(&in->mu);
	int r = in->head ? flush_locked(fs, in) : 0;
	if (!r)
		r = meta_truncate(fs->m, c, ino, length, attr);
	__atomic_add_fetch(&in->gen, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&in->mu);
	inode_put(fs, in);
	return r;
}

int fs_fallocate(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int mode, uint64_t off,
		 uint64_t len)
{
	c = door_ctx(fs, c);
	struct fs_inode *in = inode_get(fs, ino);
	pthread_mutex_lock(&in->mu);
	int r = in->head ? flush_locked(fs, in) : 0;
	if (!r)
		r = meta_fallocate(fs->m, c, ino, mode, off, len, NULL);
	__atomic_add_fetch(&in->gen, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&in->mu);
	inode_put(fs, in);
	return r;
}

ssize_t fs_copy_file_range(struct fs *fs, const struct meta_ctx *c, uint64_t fin, uint64_t offin,
			   uint64_t fout, uint64_t offout, uint64_t len)
{
	c = door_ctx(fs, c);
	uint64_t copied = 0;
	int r = flush_ino(fs, fin);
	if (!r && fout != fin)
		r = flush_ino(fs, fout);
	if (!r)
		r = meta_copy_file_range(fs->m, c, fin, offin, fout, offout, len, &copied, NULL);
	bump_gen(fs, fout);
	if (r)
		return r;
	return (ssize_t)MIN(copied, (uint64_t)SSIZE_MAX);
}

int fs_clone(struct fs *fs, const struct meta_ctx *c, uint64_t src, uint64_t dst)
{
	c = door_ctx(fs, c);
	struct meta_attr a;
	uint64_t copied;
	int r = flush_ino(fs, src);
	if (!r)
		r = meta_getattr(fs->m, c, src, &a);
	if (!r && a.type != META_TYPE_FILE)
		r = -EINVAL;
	if (!r)
		r = fs_truncate(fs, c, dst, 0, NULL);
	if (!r && a.length)
		r = meta_copy_file_range(fs->m, c, src, 0, dst, 0, a.length, &copied, NULL);
	bump_gen(fs, dst);
	return r;
}

/* ------------------------------------------------------------ namespace */

int fs_lookup(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	      uint64_t *ino, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	uint64_t i;
	int r = meta_lookup(fs->m, c, parent, name, &i, attr);
	if (!r && attr) {
		struct fs_inode *in = inode_find(fs, i);
		if (in) {
			inode_put(fs, in);
			r = fs_getattr(fs, c, i, attr); /* ordered against commits */
		}
	}
	if (!r && ino)
		*ino = i;
	return r;
}

int fs_getattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	struct fs_inode *in = inode_find(fs, ino ? ino : META_ROOT_INODE);
	if (!in)
		return meta_getattr(fs->m, c, ino, attr);
	/*
	 * Read the committed length under in->mu: commits happen under it, so
	 * a flush between reading metadata and looking at the open slices can
	 * no longer hide the written length (the flusher races a getattr).
	 */
	pthread_mutex_lock(&in->mu);
	int r = meta_getattr(fs->m, c, ino, attr);
	if (!r && in->head && in->wlen > attr->length)
		attr->length = in->wlen;
	pthread_mutex_unlock(&in->mu);
	inode_put(fs, in);
	return r;
}

int fs_setattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, unsigned set,
	       const struct meta_attr *in, struct meta_attr *out)
{
	c = door_ctx(fs, c);
	/*
	 * A commit stamps the time of the last write as mtime: commit pending
	 * writes first, or they would overwrite an explicit mtime (cp -a,
	 * touch -d on an open file).
	 */
	if (set & (META_SET_MTIME | META_SET_MTIME_NOW)) {
		int r = flush_ino(fs, ino);
		if (r)
			return r;
	}
	return meta_setattr(fs->m, c, ino, set, in, out);
}

int fs_mknod(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	     uint8_t type, uint16_t mode, uint16_t cumask, uint32_t rdev, uint64_t *ino,
	     struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_mknod(fs->m, c, parent, name, type, mode, cumask, rdev, ino, attr);
}

int fs_mkdir(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	     uint16_t mode, uint16_t cumask, uint64_t *ino, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_mkdir(fs->m, c, parent, name, mode, cumask, ino, attr);
}

int fs_symlink(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	       const char *target, uint64_t *ino, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_symlink(fs->m, c, parent, name, target, ino, attr);
}

int fs_readlink(struct fs *fs, uint64_t ino, struct buf *target)
{
	return meta_readlink(fs->m, ino, target);
}

int fs_unlink(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	      int skip_trash)
{
	c = door_ctx(fs, c);
	return meta_unlink(fs->m, c, parent, name, skip_trash);
}

int fs_unlink_if(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
		 int skip_trash, uint64_t ino)
{
	c = door_ctx(fs, c);
	return meta_unlink_if(fs->m, c, parent, name, skip_trash, ino);
}

int fs_rmdir(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	     int skip_trash)
{
	c = door_ctx(fs, c);
	return meta_rmdir(fs->m, c, parent, name, skip_trash);
}

int fs_rename(struct fs *fs, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
	      uint64_t pdst, const char *ndst, unsigned flags, uint64_t *ino,
	      struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_rename(fs->m, c, psrc, nsrc, pdst, ndst, flags, ino, attr);
}

int fs_link(struct fs *fs, const struct meta_ctx *c, uint64_t ino, uint64_t parent,
	    const char *name, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_link(fs->m, c, ino, parent, name, attr);
}

int fs_getattrs(struct fs *fs, const uint64_t *inos, size_t n, struct meta_attr *attrs,
		uint8_t *found)
{
	return meta_getattrs(fs->m, inos, n, attrs, found);
}

int fs_readdir(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int plus, const char *after,
	       size_t limit, meta_dirent_fn cb, void *arg)
{
	c = door_ctx(fs, c);
	return meta_readdir(fs->m, c, ino, plus, after, limit, cb, arg);
}

int fs_readdir_native(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int plus,
		      meta_dirent_fn cb, void *arg)
{
	c = door_ctx(fs, c);
	return meta_readdir_native(fs->m, c, ino, plus, cb, arg);
}

int fs_statfs(struct fs *fs, const struct meta_ctx *c, uint64_t ino, struct meta_statfs *st)
{
	c = door_ctx(fs, c);
	return meta_statfs(fs->m, c, ino, st);
}

int fs_getxattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, const char *name,
		struct buf *value)
{
	c = door_ctx(fs, c);
	return meta_getxattr(fs->m, c, ino, name, value);
}

int fs_getxattrs(struct fs *fs, const uint64_t *inos, size_t n, const char *name,
		 struct buf *vals, uint8_t *found)
{
	return meta_getxattrs(fs->m, inos, n, name, vals, found);
}

int fs_setxattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, const char *name,
		const void *value, size_t len, int flags)
{
	c = door_ctx(fs, c);
	return meta_setxattr(fs->m, c, ino, name, value, len, flags);
}

int fs_listxattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, struct buf *names)
{
	c = door_ctx(fs, c);
	return meta_listxattr(fs->m, c, ino, names);
}

int fs_removexattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, const char *name)
{
	c = door_ctx(fs, c);
	return meta_removexattr(fs->m, c, ino, name);
}

/* ------------------------------------------------------------ locks */

int fs_flock(struct fs *fs, uint64_t ino, uint64_t owner, int type, int block)
{
	return meta_flock(fs->m, ino, owner, type, block);
}

int fs_getlk(struct fs *fs, uint64_t ino, uint64_t owner, struct meta_plock *lk)
{
	return meta_getlk(fs->m, ino, owner, lk);
}

int fs_setlk(struct fs *fs, uint64_t ino, uint64_t owner, int block,
	     const struct meta_plock *lk)
{
	return meta_setlk(fs->m, ino, owner, block, lk);
}

int fs_access(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int mask)
{
	c = door_ctx(fs, c);
	return meta_access(fs->m, c, ino, mask, NULL);
}

/* ------------------------------------------------------------ paths */

/* ---- inspection ---- */

static uint64_t align4k(uint64_t n) { return n ? ((n - 1) / 4096 + 1) * 4096 : 4096; }

static void summary_add(struct fs_summary *s, uint8_t type, uint64_t length)
{
	if (type == META_TYPE_DIRECTORY)
		s->dirs++;
	else
		s->files++;
	s->size += align4k(type == META_TYPE_DIRECTORY ? 0 : length);
	if (type == META_TYPE_FILE)
		s->length += length;
}

struct child_list {
	struct { uint64_t ino; uint8_t type; uint64_t length; } *v;
	size_t n, cap;
};

static int collect_child(void *arg, const struct meta_dirent *e)
{
	struct child_list *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].ino = e->ino;
	l->v[l->n].type = e->type;
	l->v[l->n].length = e->attr.length;
	l->n++;
	return 0;
}

static int dir_summary(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int recursive,
		       struct fs_summary *out)
{
	struct child_list l = { 0 };
	int r = meta_readdir(fs->m, c, ino, 1, NULL, 0, collect_child, &l);

	for (size_t i = 0; i < l.n && !r; i++) {
		summary_add(out, l.v[i].type, l.v[i].length);
		if (l.v[i].type == META_TYPE_DIRECTORY && recursive) {
			r = dir_summary(fs, c, l.v[i].ino, recursive, out);
			if (r == -ENOENT) /* removed meanwhile */
				r = 0;
		}
	}
	free(l.v);
	return r;
}

int fs_summary(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int recursive,
	       struct fs_summary *out)
{
	c = door_ctx(fs, c);
	struct meta_attr a;
	int r = fs_getattr(fs, c, ino, &a);

	memset(out, 0, sizeof(*out));
	if (r)
		return r;
	summary_add(out, a.type, a.length);
	return a.type == META_TYPE_DIRECTORY ? dir_summary(fs, c, ino, recursive, out) : 0;
}

int fs_path_of(struct fs *fs, uint64_t ino, struct buf *path)
{
	return meta_path_of(fs->m, ino, path);
}

/* CalcObjects of one view entry; a corrupt one lists nothing, as in JuiceFS. */
static int slice_objects(const struct conf_format *f, uint32_t indx, const struct meta_slice *s,
			 fs_extent_fn cb, void *arg)
{
	uint32_t bs = (uint32_t)f->block_size * 1024, first, last;
	char key[CHUNK_KEY_MAX];
	int r = 0;

	if (!s->id) {
		struct fs_extent e = { indx, 0, "", s->size, s->off, s->len };
		return cb(arg, &e);
	}
	if (!s->len || s->off + s->len > s->size || !bs)
		return 0;
	first = s->off / bs;
	last = (s->off + s->len - 1) / bs;
	for (uint32_t b = first; b <= last && !r; b++) {
		uint32_t bsize = chunk_block_len(s->size, b, bs);
		uint32_t off = b == first ? s->off - first * bs : 0;
		uint32_t end = b == last ? s->off + s->len - last * bs : bsize;
		char *full;
		chunk_block_key(key, s->id, b, bsize, f->hash_prefix);
		full = xasprintf("%s/%s", f->name, key);
		struct fs_extent e = { indx, s->id, full, bsize, off, end - off };
		r = cb(arg, &e);
		free(full);
	}
	return r;
}

int fs_layout(struct fs *fs, uint64_t ino, uint64_t length, int raw, fs_extent_fn cb, void *arg)
{
	const struct conf_format *f = fs_format(fs);
	int r = 0;

	if (!f)
		return -EIO;
	for (uint64_t indx = 0; indx * META_CHUNK_SIZE < length && !r; indx++) {
		struct meta_slice *rec = NULL, *view = NULL;
		size_t nr = 0, nv = 0;
		if ((r = meta_read_chunk(fs->m, ino, (uint32_t)indx, &rec, &nr)))
			break;
		meta_build_slices(rec, nr, &view, &nv);
		for (size_t i = 0; i < nv && !r; i++) {
			if (raw) {
				struct fs_extent e = { (uint32_t)indx, view[i].id, NULL, view[i].size,
						       view[i].off, view[i].len };
				r = cb(arg, &e);
			} else {
				r = slice_objects(f, (uint32_t)indx, &view[i], cb, arg);
			}
		}
		free(rec);
		free(view);
	}
	return r;
}

void fs_cache_every_read(int on) { chunk_cache_every_read(on); }

int fs_resolve(struct fs *fs, const struct meta_ctx *c, const char *path, uint64_t *ino,
	       struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_resolve(fs->m, c, path, ino, attr);
}

struct resolve_level {
	uint64_t ino;
	struct meta_attr attr;
};

static int internal_name(uint64_t dir, const char *name)
{
	return dir == META_ROOT_INODE && (!strcmp(name, ".sys") || !strcmp(name, ".trash"));
}

/*
 * The walk consumes `todo` from `pos`; a symlink replaces what is consumed
 * with its target, so the rest of the path continues from where the target
 * leads, relative to the link's directory (the top of the chain).
 */
int fs_resolve_at(struct fs *fs, const struct meta_ctx *c, uint64_t root, const char *path,
		  unsigned flags, uint64_t *ino, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	struct resolve_level *chain = NULL;
	size_t depth = 1, cap = 16;
	struct buf todo = BUF_INIT, target = BUF_INIT, next = BUF_INIT;
	size_t pos = 0;
	int hops = 0, r;

	chain = xmalloc(cap * sizeof(*chain));
	chain[0].ino = root;
	if ((r = fs_getattr(fs, c, root, &chain[0].attr)))
		goto out;
	if (chain[0].attr.type != META_TYPE_DIRECTORY) {
		r = -ENOTDIR;
		goto out;
	}
	buf_adds(&todo, path ? path : "");
	for (;;) {
		struct resolve_level *top = &chain[depth - 1];
		const char *p = todo.ptr + pos, *e;
		char name[META_MAX_NAME + 1];
		struct meta_attr a;
		uint64_t child;
		size_t n;
		int last;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n > META_MAX_NAME) {
			r = -ENAMETOOLONG;
			goto out;
		}
		memcpy(name, p, n);
		name[n] = 0;
		pos = (size_t)(p - todo.ptr) + n;
		if (top->attr.type != META_TYPE_DIRECTORY) {
			r = -ENOTDIR;
			goto out;
		}
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (depth == 1) {
				r = -EXDEV;
				goto out;
			}
			depth--;
			continue;
		}
		if (internal_name(top->ino, name)) {
			r = -ENOENT;
			goto out;
		}
		if ((r = fs_lookup(fs, c, top->ino, name, &child, &a)))
			goto out;
		p = todo.ptr + pos;
		while (*p == '/')
			p++;
		last = !*p;
		if (a.type == META_TYPE_SYMLINK && (!last || (flags & FS_RESOLVE_FOLLOW))) {
			if (++hops > FS_MAX_SYMLINKS) {
				r = -ELOOP;
				goto out;
			}
			buf_reset(&target);
			if ((r = fs_readlink(fs, child, &target)))
				goto out;
			if (!target.len) {
				r = -ENOENT;
				goto out;
			}
			if (target.ptr[0] == '/') {
				r = -EXDEV;
				goto out;
			}
			buf_reset(&next);
			buf_add(&next, target.ptr, target.len);
			buf_addch(&next, '/');
			buf_adds(&next, todo.ptr + pos);
			buf_reset(&todo);
			buf_add(&todo, next.ptr, next.len);
			pos = 0;
			continue;
		}
		if (depth == cap) {
			cap *= 2;
			chain = xrealloc(chain, cap * sizeof(*chain));
		}
		chain[depth].ino = child;
		chain[depth].attr = a;
		depth++;
	}
	if (ino)
		*ino = chain[depth - 1].ino;
	if (attr)
		*attr = chain[depth - 1].attr;
	r = 0;
out:
	free(chain);
	buf_release(&todo);
	buf_release(&target);
	buf_release(&next);
	return r;
}

int fs_mkdir_p(struct fs *fs, const struct meta_ctx *c, const char *path, uint16_t mode,
	       uint64_t *ino)
{
	c = door_ctx(fs, c);
	uint64_t cur = META_ROOT_INODE;
	const char *p = path;
	int r = 0;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > META_MAX_NAME)
			return -ENAMETOOLONG;
		char name[META_MAX_NAME + 1];
		memcpy(name, p, n);
		name[n] = 0;
		struct meta_attr a;
		uint64_t next;
		r = meta_lookup(fs->m, c, cur, name, &next, &a);
		if (r == -ENOENT) {
			r = meta_mkdir(fs->m, c, cur, name, mode, 0, &next, &a);
			if (r == -EEXIST) /* raced with another creator */
				r = meta_lookup(fs->m, c, cur, name, &next, &a);
		}
		if (r)
			return r;
		if (a.type != META_TYPE_DIRECTORY)
			return -ENOTDIR;
		cur = next;
		p += n;
	}
	if (ino)
		*ino = cur;
	return 0;
}

int fs_create_temp(struct fs *fs, const struct meta_ctx *c, const char *tmpdir,
		   struct fs_file **fh, uint64_t *ino, struct buf *name_out)
{
	uint64_t dir;
	return fs_create_temp_dir(fs, c, tmpdir, &dir, fh, ino, name_out);
}

/*
 * The inode of the doors' temp folder (made on demand), remembered: every
 * S3 and WebDAV PUT makes its temp file there and renames it out, and
 * walking the path each time cost a small PUT two metadata reads. Inode
 * numbers are never reused and the internal folders are out of every
 * door's reach; a create that finds the folder gone asks again (`fresh`).
 */
static int tmp_dir(struct fs *fs, const struct meta_ctx *c, const char *tmpdir, int fresh,
		   uint64_t *dir)
{
	int r;
	pthread_mutex_lock(&fs->mu);
	if (!fresh && fs->tmp_path && !strcmp(fs->tmp_path, tmpdir)) {
		*dir = fs->tmp_ino;
		pthread_mutex_unlock(&fs->mu);
		return 0;
	}
	pthread_mutex_unlock(&fs->mu);
	if ((r = fs_mkdir_p(fs, c, tmpdir, 0755, dir)))
		return r;
	pthread_mutex_lock(&fs->mu);
	free(fs->tmp_path);
	fs->tmp_path = xstrdup(tmpdir);
	fs->tmp_ino = *dir;
	pthread_mutex_unlock(&fs->mu);
	return 0;
}

int fs_create_temp_dir(struct fs *fs, const struct meta_ctx *c, const char *tmpdir,
		       uint64_t *dirp, struct fs_file **fh, uint64_t *ino, struct buf *name_out)
{
	c = door_ctx(fs, c);
	uint64_t dir;
	int r = tmp_dir(fs, c, tmpdir, 0, &dir), fresh = 0;
	if (r)
		return r;
	for (int attempt = 0; attempt < 5; attempt++) {
		uint8_t rnd[8];
		char name[32];
		random_bytes(rnd, sizeof(rnd));
		snprintf(name, sizeof(name), "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		r = fs_create(fs, c, dir, name, 0644, 0, O_RDWR, fh, ino, NULL);
		if (r == -EEXIST)
			continue;
		if (r == -ENOENT && !fresh) {
			fresh = 1;
			if ((r = tmp_dir(fs, c, tmpdir, 1, &dir)))
				return r;
			continue;
		}
		if (!r) {
			*dirp = dir;
			buf_reset(name_out);
			buf_adds(name_out, name);
		}
		return r;
	}
	return r;
}

int fs_replace(struct fs *fs, const struct meta_ctx *c, const char *tmpdir, const char *name,
	       const char *path)
{
	return fs_replace_if(fs, c, tmpdir, name, path, 0, 0);
}

int fs_replace_if(struct fs *fs, const struct meta_ctx *c, const char *tmpdir, const char *name,
		  const char *path, unsigned flags, uint64_t dst_ino)
{
	c = door_ctx(fs, c);
	uint64_t tdir, pdir;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int r;
	if (!*base)
		return -EINVAL;
	pthread_mutex_lock(&fs->mu);
	tdir = fs->tmp_path && !strcmp(fs->tmp_path, tmpdir) ? fs->tmp_ino : 0;
	pthread_mutex_unlock(&fs->mu);
	if (!tdir && (r = fs_resolve(fs, c, tmpdir, &tdir, NULL)))
		return r;
	if (slash && slash != path) {
		char *dir = xstrndup(path, (size_t)(slash - path));
		r = fs_mkdir_p(fs, c, dir, 0755, &pdir);
		free(dir);
		if (r)
			return r;
	} else {
		pdir = META_ROOT_INODE;
	}
	return meta_rename_if(fs->m, c, tdir, name, pdir, base, flags, 0, dst_ino, NULL, NULL);
}

int fs_rename_if(struct fs *fs, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
		 uint64_t pdst, const char *ndst, unsigned flags, uint64_t src_ino,
		 uint64_t dst_ino, uint64_t *ino, struct meta_attr *attr)
{
	c = door_ctx(fs, c);
	return meta_rename_if(fs->m, c, psrc, nsrc, pdst, ndst, flags, src_ino, dst_ino, ino,
			      attr);
}

int fs_list(struct fs *fs, const struct meta_ctx *c, uint64_t dir, const char *after,
	    size_t limit, meta_dirent_fn cb, void *arg)
{
	c = door_ctx(fs, c);
	return meta_readdir(fs->m, c, dir, 1, after, limit, cb, arg);
}

void fs_get_stats(struct fs *fs, struct fs_stats *st)
{
	struct chunk_stats cst;
	chunk_store_stats(fs->cs, &cst);
	memset(st, 0, sizeof(*st));
	st->buffer_used = cst.buffer_used;
	st->buffer_peak = cst.buffer_peak;
	st->buffer_cap = cst.buffer_cap;
	st->staged_blocks = cst.staged_blocks;
	st->staged_bytes = cst.staged_bytes;
	pthread_mutex_lock(&fs->mu);
	st->compactions = fs->compactions;
	pthread_mutex_unlock(&fs->mu);
}

/* ------------------------------------------------------------ lifecycle */

static int bg_sleep(struct fs *fs, int64_t ms);

/*
 * The session heartbeat has a thread of its own: on bg_main it waited for
 * idle flushes, whose uploads can hang on a slow store for longer than the
 * 5 heartbeats after which other clients clean the session up (its locks
 * and its open unlinked files with it).
 */
static void *heartbeat_main(void *arg)
{
	struct fs *fs = arg;
	int64_t hb = fs->conf.meta.heartbeat_ms;

	if (hb <= 0)
		return NULL;
	while (!bg_sleep(fs, hb)) {
		int r = meta_refresh_session(fs->m);
		if (r)
			log_warn("refresh session: %s", strerror(-r));
	}
	return NULL;
}

static void *bg_main(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->mu);
	while (!fs->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->cond, &fs->mu, &ts);
		if (fs->stopping)
			break;
		pthread_mutex_unlock(&fs->mu);
		flush_idle(fs, 0);
		pthread_mutex_lock(&fs->mu);
	}
	pthread_mutex_unlock(&fs->mu);
	return NULL;
}

/* Sleep ms or until fs_close; returns non-zero when stopping. */
static int bg_sleep(struct fs *fs, int64_t ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fs->mu);
	while (!fs->stopping && pthread_cond_timedwait(&fs->cond, &fs->mu, &ts) != ETIMEDOUT)
		;
	stop = fs->stopping;
	pthread_mutex_unlock(&fs->mu);
	return stop;
}

static void *bgjob_main(void *arg)
{
	struct fs_bgjob *j = arg;
	int backup = !strcmp(j->counter, "lastBackup");

	for (;;) {
		uint16_t rnd;
		int64_t wait, now;
		int won = 0, r;

		random_bytes(&rnd, sizeof(rnd));
		wait = j->check_ms * 9 / 10 + (int64_t)((double)j->check_ms / 5 * rnd / 65536);
		if (bg_sleep(j->fs, wait < 1 ? 1 : wait))
			break;
		now = (int64_t)time(NULL);
		/* JuiceFS's setIfSmall diff: 9/10 of the interval, in whole seconds */
		r = backup ? meta_elect_backup(j->fs->m, now, j->interval_s, &won)
			   : meta_elect(j->fs->m, j->counter, now, j->interval_s * 9 / 10, &won);
		if (r) {
			log_warn("checking counter %s: %s", j->counter, strerror(-r));
			continue;
		}
		if (!won)
			continue;
		/* the heartbeat-paced job would fill the log at INFO */
		if (j->interval_s >= 600)
			log_info("background job %s: elected at %lld in session %llu", j->counter,
				 (long long)now, (unsigned long long)meta_sid(j->fs->m));
		else
			log_debug("background job %s: elected at %lld in session %llu", j->counter,
				  (long long)now, (unsigned long long)meta_sid(j->fs->m));
		j->fn(j->fs, j->arg);
	}
	return NULL;
}

int fs_add_bgjob(struct fs *fs, const char *counter, int64_t interval_s, int64_t check_ms,
		 fs_bgjob_fn fn, void *arg)
{
	struct fs_bgjob *j;

	if (fs->conf.no_bgjob || fs->conf.meta.read_only)
		return 0;
	if (!counter || !*counter || interval_s <= 0 || check_ms <= 0 || !fn)
		return -EINVAL;
	j = xcalloc(1, sizeof(*j));
	j->fs = fs;
	j->counter = xstrdup(counter);
	j->interval_s = interval_s;
	j->check_ms = check_ms;
	j->fn = fn;
	j->arg = arg;
	if (pthread_create(&j->th, NULL, bgjob_main, j)) {
		free(j->counter);
		free(j);
		return -EAGAIN;
	}
	pthread_mutex_lock(&fs->mu);
	j->next = fs->jobs;
	fs->jobs = j;
	pthread_mutex_unlock(&fs->mu);
	return 0;
}

static void job_stale_sessions(struct fs *fs, void *arg)
{
	(void)arg;
	meta_cleanup_stale_sessions(fs->m, NULL);
}

static void job_trash(struct fs *fs, void *arg)
{
	int n = 0, r = meta_cleanup_trash(fs->m, 0, &n);

	(void)arg;
	if (r)
		log_warn("clean up trash: %s", strerror(-r));
	else if (n)
		log_info("clean up trash: removed %d expired hour directories", n);
}

static void job_files(struct fs *fs, void *arg)
{
	int n = 0, r = meta_cleanup_deleted_files(fs->m, 3600, &n);

	(void)arg;
	if (r)
		log_warn("clean up deleted files: %s", strerror(-r));
	else if (n)
		log_info("clean up deleted files: %d", n);
}

static void job_slices(struct fs *fs, void *arg)
{
	int r = meta_cleanup_slices(fs->m, NULL);

	(void)arg;
	if (r)
		log_warn("clean up slices: %s", strerror(-r));
}

/*
 * The jobs JuiceFS's meta client runs, on the same counters and intervals
 * (spec §9.3), so ours and the real client share one turn per interval.
 * JFS_BGJOB_CHECK_MS shortens how often the hourly ones ask (for tests);
 * the turn itself stays 54 minutes, as the real client expects.
 */
static void start_bgjobs(struct fs *fs)
{
	int64_t hb = fs->conf.meta.heartbeat_ms, hourly = 3600 * 1000;
	const char *env = getenv("JFS_BGJOB_CHECK_MS");

	if (env && *env) {
		char *end;
		long long v = strtoll(env, &end, 10);
		if (!*end && v > 0)
			hourly = v;
	}
	if (hb > 0)
		fs_add_bgjob(fs, "lastCleanupSessions", hb / 1000 > 0 ? hb / 1000 : 1, hb,
			     job_stale_sessions, NULL);
	fs_add_bgjob(fs, "lastCleanupTrash", 3600, hourly, job_trash, NULL);
	fs_add_bgjob(fs, "lastCleanupFiles", 3600, hourly, job_files, NULL);
	fs_add_bgjob(fs, "nextCleanupSlices", 3600, hourly, job_slices, NULL);
}

static void json_escape_into(struct buf *b, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"' || ch == '\\')
			buf_addf(b, "\\%c", ch);
		else if (ch < 0x20)
			buf_addf(b, "\\u%04x", ch);
		else
			buf_addch(b, (char)ch);
	}
}

struct local_ip {
	unsigned ifindex;
	int v6;
	size_t seq;
	char text[INET6_ADDRSTRLEN];
};

static int local_ip_cmp(const void *a, const void *b)
{
	const struct local_ip *x = a, *y = b;
	if (x->ifindex != y->ifindex)
		return x->ifindex < y->ifindex ? -1 : 1;
	if (x->v6 != y->v6)
		return x->v6 - y->v6;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * ,"IPAddrs":[...] as JuiceFS's FindLocalIPs lists them: the addresses of the
 * interfaces that are up and not loopback, by interface index, IPv4 before
 * IPv6 (Go reads each interface's addresses so); nothing when there is none
 * (omitempty).
 */
static void add_local_ips(struct buf *b)
{
	struct ifaddrs *all = NULL;
	struct local_ip *v = NULL;
	size_t n = 0, cap = 0;

	if (getifaddrs(&all)) {
		log_warn("Failed to get local IP: %s", strerror(errno));
		return;
	}
	for (struct ifaddrs *i = all; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;
		const void *raw;
		if (!sa || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (sa->sa_family == AF_INET) {
			const struct in_addr *a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
			if ((ntohl(a->s_addr) >> 24) == 127)
				continue;
			raw = a;
		} else if (sa->sa_family == AF_INET6) {
			const struct in6_addr *a =
				&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
			if (IN6_IS_ADDR_LOOPBACK(a))
				continue;
			raw = a;
		} else {
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n].ifindex = if_nametoindex(i->ifa_name);
		v[n].v6 = sa->sa_family == AF_INET6;
		v[n].seq = n;
		if (!inet_ntop(sa->sa_family, raw, v[n].text, sizeof(v[n].text)))
			continue;
		n++;
	}
	freeifaddrs(all);
	if (n) {
		qsort(v, n, sizeof(*v), local_ip_cmp);
		buf_addf(b, ",\"IPAddrs\":[");
		for (size_t i = 0; i < n; i++)
			buf_addf(b, "%s\"%s\"", i ? "," : "", v[i].text);
		buf_addch(b, ']');
	}
	free(v);
}

static char *session_info(const char *mount_point)
{
	char host[256] = "";
	char ts[64];
	struct timespec now;
	struct tm tm;
	gethostname(host, sizeof(host) - 1);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	struct buf b = BUF_INIT;
	/* Field order and format of JuiceFS's SessionInfo (newSessionInfo). */
	buf_addf(&b, "{\"Version\":\"1.4.2+juicefs-c-%s\",\"HostName\":\"", JFS_VERSION);
	json_escape_into(&b, host);
	buf_addch(&b, '"');
	add_local_ips(&b);
	buf_addf(&b, ",\"MountPoint\":\"");
	json_escape_into(&b, mount_point);
	/* Go's RFC3339Nano drops the fraction's trailing zeros, and the real
	 * client re-renders this field that way: write it so, or the two
	 * clients' `status` differ whenever the nanoseconds end in 0. */
	char frac[16] = "";
	if (now.tv_nsec) {
		int n = snprintf(frac, sizeof(frac), ".%09ld", (long)now.tv_nsec);
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	buf_addf(&b, "\",\"MountTime\":\"%s%sZ\",\"ProcessID\":%d}", ts, frac, (int)getpid());
	return buf_detach(&b, NULL);
}

static const char *default_cache_dir(struct buf *tmp)
{
	if (getuid() == 0)
		return "/var/jfsCache";
	const char *home = getenv("HOME");
	buf_addf(tmp, "%s/.juicefs/cache", home ? home : "/tmp");
	return tmp->ptr;
}

int fs_open(const char *meta_url, const struct fs_conf *c, struct fs **out, struct buf *err)
{
	struct fs *fs = xcalloc(1, sizeof(*fs));
	struct conf_format f;
	struct chunk_conf cc;
	struct buf tmp = BUF_INIT, why = BUF_INIT;
	int r;

	memset(&f, 0, sizeof(f));
	pthread_once(&compact_size_once, compact_size_init); /* served from the start, as JuiceFS */
	fs->conf = *c;
	pthread_mutex_init(&fs->mu, NULL);
	pthread_cond_init(&fs->cond, NULL);
	if ((r = meta_open(meta_url, &c->meta, &fs->m, err)))
		goto fail;
	r = meta_load_format(fs->m, &f);
	if (r == -ENOENT) {
		buf_addf(err, "database %s is not formatted", meta_url);
		goto fail;
	} else if (r) {
		buf_addf(err, "load volume setting: %s", strerror(-r));
		goto fail;
	}
	if (c->obj) {
		fs->obj = c->obj;
	} else {
		if ((r = obj_open_volume(&f, c->storage, c->bucket, &fs->obj, err)))
			goto fail;
		fs->own_obj = 1;
	}
	chunk_conf_defaults(&cc);
	if ((r = chunk_conf_from_format(&cc, &f))) {
		buf_addf(err, "volume data format not supported: %s", strerror(-r));
		goto fail;
	}
	cc.max_uploads = c->max_uploads;
	cc.max_downloads = c->max_downloads;
	cc.prefetch = c->prefetch;
	cc.buffer_size = c->buffer_size;
	cc.io_retries = c->io_retries;
	cc.cache_size = c->cache_size;
	cc.free_space_ratio = c->free_space_ratio;
	cc.writeback = c->writeback;
	cc.upload_delay_ms = c->upload_delay_ms;
	cc.err = &why;
	cc.cache_dir = c->cache_dir ? c->cache_dir : default_cache_dir(&tmp);
	if (!strcmp(cc.cache_dir, "none"))
		cc.cache_dir = "";
	r = chunk_store_new(fs->obj, &cc, &fs->cs);
	if (r == -EBUSY) {
		/* chunk.h S4: another client stages there; sharing would race on its blocks */
		buf_addf(err, "%s", why.ptr);
		goto fail;
	}
	if (r && cc.cache_dir && *cc.cache_dir) {
		log_warn("cache dir %s unusable (%s): running without a disk cache%s",
			 cc.cache_dir, strerror(-r), cc.writeback ? " nor --writeback" : "");
		cc.cache_dir = "";
		r = chunk_store_new(fs->obj, &cc, &fs->cs);
	}
	if (r) {
		buf_addf(err, "chunk store: %s", strerror(-r));
		goto fail;
	}
	if (c->meta.max_deletes > 0)
		meta_set_slice_deleter(fs->m, chunk_slice_deleter, fs->cs);
	if (!c->meta.read_only) {
		char *info = c->session_info ? xstrdup(c->session_info)
					     : session_info(c->meta.mount_point);
		r = meta_new_session(fs->m, info);
		free(info);
		if (r) {
			buf_addf(err, "register session: %s", strerror(-r));
			goto fail;
		}
	}
	fs->bg_started = 1;
	if (pthread_create(&fs->bg, NULL, bg_main, fs) ||
	    pthread_create(&fs->compactor, NULL, compactor_main, fs) ||
	    pthread_create(&fs->heartbeat, NULL, heartbeat_main, fs))
		BUG_ON("cannot start background threads");
	start_bgjobs(fs);
	conf_format_release(&f);
	buf_release(&tmp);
	buf_release(&why);
	*out = fs;
	return 0;
fail:
	conf_format_release(&f);
	buf_release(&tmp);
	buf_release(&why);
	if (fs->cs)
		chunk_store_free(fs->cs);
	if (fs->own_obj)
		obj_free(fs->obj);
	meta_close(fs->m);
	pthread_mutex_destroy(&fs->mu);
	pthread_cond_destroy(&fs->cond);
	free(fs);
	return r ? r : -EIO;
}

void fs_close(struct fs *fs)
{
	if (!fs)
		return;
	flush_idle(fs, 1);
	pthread_mutex_lock(&fs->mu);
	fs->stopping = 1;
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->mu);
	if (fs->bg_started) {
		pthread_join(fs->bg, NULL);
		pthread_join(fs->compactor, NULL);
		pthread_join(fs->heartbeat, NULL);
	}
	while (fs->jobs) {
		struct fs_bgjob *j = fs->jobs;
		fs->jobs = j->next;
		pthread_join(j->th, NULL);
		free(j->counter);
		free(j);
	}
	flush_idle(fs, 1);
	meta_close(fs->m); /* closes the session: sustained inodes are deleted */
	chunk_store_free(fs->cs);
	if (fs->own_obj)
		obj_free(fs->obj);
	for (size_t b = 0; b < INODE_BUCKETS; b++) {
		struct fs_inode *in = fs->inodes[b], *n;
		for (; in; in = n) {
			n = in->next;
			pthread_mutex_destroy(&in->mu);
			free(in);
		}
	}
	free(fs->tmp_path);
	pthread_mutex_destroy(&fs->mu);
	pthread_cond_destroy(&fs->cond);
	free(fs);
}
