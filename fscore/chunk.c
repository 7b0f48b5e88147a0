/*
 * chunk: block store (see chunk.h for the contract and the write-ordering
 * invariants).
 *
 * Pieces, in file order:
 *  - conf, key naming (spec §5.2, Appendix E) and block framing (spec §5.3);
 *  - CRC32C for cache files (spec §6.3: one checksum per 32 KiB, u32 BE);
 *  - a small (id, indx) hash table shared by the two caches;
 *  - a worker pool (uploads, prefetch) whose threads start on demand;
 *  - the writer buffer budget;
 *  - the memory cache, which doubles as the single-flight table: a block
 *    being fetched has one entry that every concurrent reader waits on;
 *  - the disk cache: <dir>/<uuid>/raw/<key>, written as .tmp then renamed,
 *    indexed in memory, evicted by "2-random" (of two random entries drop the
 *    one used longer ago) on --cache-size and --free-space-ratio; a whole
 *    block read back from it is a read-only mapping of its file (MAP_MIN),
 *    which assumes no cache file is ever truncated in place;
 *  - object I/O with bounded retries and back-off;
 *  - staging (--writeback): <dir>/<uuid>/rawstaging/<key>, a table of the
 *    staged blocks, a scheduler thread for --upload-delay and retries, and
 *    a pool of max_uploads background uploaders (chunk.h S1-S5);
 *  - the slice writer, the reader, prefetch and deletion.
 *
 * Locking: every lock (budget, memory cache, download slots, each disk cache,
 * each pool, each writer, the staging table) is a leaf; no function holds two
 * at once, so there is no lock order to get wrong -- with one exception: the
 * staging table's lock is held while an entry is queued on the stagers pool
 * (slk, then that pool's lock; pool code never takes slk).
 */
#include "fscore/chunk.h"
#include "base/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <lz4.h>
#include <pthread.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zstd.h>

#define CACHE_CRC_SPAN (32U << 10)  /* spec §6.3: one CRC32C per 32 KiB */
#define CACHE_ITEM_OVERHEAD 4096    /* spec §6.3: each item counts size + 4 KiB */
#define FIRST_BLOCK_START (64U << 10) /* first block grows from 64 KiB (small files) */
#define PREFETCH_QUEUE_MAX 64
#define DELETE_TRIES 3
#define MIN_EVICT_BATCH 16
#define STAGE_RETRY_MS 10000        /* a failed staged upload is tried again after n × this */
#define STAGE_RETRY_MAX_MS 300000

/* ------------------------------------------------------------------ conf */

void chunk_conf_defaults(struct chunk_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->block_size = 4U << 20;
	c->compress = CHUNK_COMPRESS_NONE;
	c->max_uploads = 20;
	c->max_downloads = 200;
	c->prefetch = 1;
	c->buffer_size = 300ULL << 20;
	c->io_retries = 10;
	c->retry_unit_ms = 1000;
	c->mem_cache_size = 32ULL << 20;
	c->cache_size = 100ULL << 30;
	c->free_space_ratio = 0.1;
	c->cache_fill_queue = 16;
	c->cache_mode = 0600;
	c->cache_checksum = 1;
}

int chunk_parse_compress(const char *name, int *out)
{
	if (!name || !*name || !strcasecmp(name, "none"))
		*out = CHUNK_COMPRESS_NONE;
	else if (!strcasecmp(name, "lz4"))
		*out = CHUNK_COMPRESS_LZ4;
	else if (!strcasecmp(name, "zstd"))
		*out = CHUNK_COMPRESS_ZSTD;
	else
		return -ENOTSUP;
	return 0;
}

int chunk_conf_from_format(struct chunk_conf *c, const struct conf_format *f)
{
	int algo, r;

	if ((r = chunk_parse_compress(f->compression, &algo))) {
		log_error("unsupported compression %s", f->compression);
		return r;
	}
	if (f->block_size <= 0 || (uint64_t)f->block_size * 1024 > CHUNK_MAX_BLOCK ||
	    (uint64_t)f->block_size * 1024 < CHUNK_MIN_BLOCK)
		return -EINVAL;
	c->block_size = (uint32_t)f->block_size * 1024;
	c->compress = algo;
	c->hash_prefix = f->hash_prefix;
	c->encrypted = f->encrypt_key && *f->encrypt_key;
	c->uuid = f->uuid;
	return 0;
}

/* ------------------------------------------------------------------ keys */

void chunk_block_key(char out[CHUNK_KEY_MAX], uint64_t id, uint32_t indx, uint32_t bsize,
		     int hash_prefix)
{
	if (hash_prefix)
		snprintf(out, CHUNK_KEY_MAX, "chunks/%02X/%" PRIu64 "/%" PRIu64 "_%u_%u",
			 (unsigned)(id % 256), id / 1000000, id, indx, bsize);
	else
		snprintf(out, CHUNK_KEY_MAX, "chunks/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "_%u_%u",
			 id / 1000000, id / 1000, id, indx, bsize);
}

/* ------------------------------------------------------------ compression */

size_t chunk_compress_bound(int algo, size_t n)
{
	switch (algo) {
	case CHUNK_COMPRESS_LZ4:
		return n > LZ4_MAX_INPUT_SIZE ? 0 : (size_t)LZ4_compressBound((int)n);
	case CHUNK_COMPRESS_ZSTD:
		return ZSTD_compressBound(n);
	default:
		return n;
	}
}

static ssize_t compress_with(int algo, ZSTD_CCtx *cctx, const void *src, size_t n, void *dst,
			     size_t cap)
{
	switch (algo) {
	case CHUNK_COMPRESS_LZ4: {
		if (n > LZ4_MAX_INPUT_SIZE)
			return -EIO;
		int r = LZ4_compress_default(src, dst, (int)n, (int)MIN(cap, (size_t)INT_MAX));
		return r > 0 ? r : -EIO;
	}
	case CHUNK_COMPRESS_ZSTD: {
		/* Level 1 as JuiceFS; a reused context gives the same frame as ZSTD_compress. */
		size_t r = cctx ? ZSTD_compressCCtx(cctx, dst, cap, src, n, 1)
				: ZSTD_compress(dst, cap, src, n, 1);
		return ZSTD_isError(r) ? -EIO : (ssize_t)r;
	}
	case CHUNK_COMPRESS_NONE:
		if (cap < n)
			return -EIO;
		memcpy(dst, src, n);
		return (ssize_t)n;
	default:
		return -EINVAL;
	}
}

ssize_t chunk_compress(int algo, const void *src, size_t n, void *dst, size_t cap)
{
	return compress_with(algo, NULL, src, n, dst, cap);
}

int chunk_decompress(int algo, const void *src, size_t n, void *dst, size_t expect)
{
	switch (algo) {
	case CHUNK_COMPRESS_NONE:
		if (n != expect)
			return -EIO;
		if (n && dst != src)
			memcpy(dst, src, n);
		return 0;
	case CHUNK_COMPRESS_LZ4: {
		if (n > INT_MAX || expect > INT_MAX || n == 0)
			return -EIO;
		/* _safe never writes past expect and fails on malformed input. */
		int r = LZ4_decompress_safe(src, dst, (int)n, (int)expect);
		return r >= 0 && (size_t)r == expect ? 0 : -EIO;
	}
	case CHUNK_COMPRESS_ZSTD: {
		if (n == 0)
			return -EIO;
		size_t r = ZSTD_decompress(dst, expect, src, n);
		return !ZSTD_isError(r) && r == expect ? 0 : -EIO;
	}
	default:
		return -EINVAL;
	}
}

/* ----------------------------------------------------------------- CRC32C */

static uint32_t crc_table[8][256];
static int crc_hw; /* the CPU has SSE4.2's crc32 */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2") && !getenv("JFS_CRC_SOFT");
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/*
 * SSE4.2's crc32 instruction computes exactly this CRC (reflected
 * Castagnoli): about five times the table's speed. Every read served from
 * the disk cache checksums its span, so the table alone held a 64 MiB GET
 * at half its speed.
 */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t c, const uint8_t *p,
							   size_t n)
{
	uint64_t c64 = c;

	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}

/*
 * The CRCs of four spans of n bytes each, stride bytes apart, in one loop.
 * crc32 has a latency of 3 cycles and a throughput of one a cycle: a single
 * stream leaves the unit idle two cycles in three, and the spans of a block
 * are independent CRCs (spec §6.3), so four streams run at its full rate.
 */
__attribute__((target("sse4.2"))) static void crc32c_hw_x4(const uint8_t *p, size_t stride,
							   size_t n, uint32_t out[4])
{
	uint64_t c0 = 0xFFFFFFFFU, c1 = c0, c2 = c0, c3 = c0;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v0, v1, v2, v3;
		memcpy(&v0, p + i, 8);
		memcpy(&v1, p + stride + i, 8);
		memcpy(&v2, p + 2 * stride + i, 8);
		memcpy(&v3, p + 3 * stride + i, 8);
		c0 = _mm_crc32_u64(c0, v0);
		c1 = _mm_crc32_u64(c1, v1);
		c2 = _mm_crc32_u64(c2, v2);
		c3 = _mm_crc32_u64(c3, v3);
	}
	out[0] = crc32c_hw((uint32_t)c0, p + i, n - i) ^ 0xFFFFFFFFU;
	out[1] = crc32c_hw((uint32_t)c1, p + stride + i, n - i) ^ 0xFFFFFFFFU;
	out[2] = crc32c_hw((uint32_t)c2, p + 2 * stride + i, n - i) ^ 0xFFFFFFFFU;
	out[3] = crc32c_hw((uint32_t)c3, p + 3 * stride + i, n - i) ^ 0xFFFFFFFFU;
}
#endif

static uint32_t crc32c_table(uint32_t c, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
		    crc_table[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

/* Castagnoli CRC as Go's crc32.Checksum(p, MakeTable(Castagnoli)); slicing by 8. */
static uint32_t crc32c(const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		return crc32c_hw(0xFFFFFFFFU, data, n) ^ 0xFFFFFFFFU;
#endif
	return crc32c_table(0xFFFFFFFFU, data, n) ^ 0xFFFFFFFFU;
}

/*
 * out[i] = CRC32C of the i-th span bytes of [data, data + n), the last one
 * short when n is not a multiple of span: a cache file's checksums.
 */
static void crc32c_spans(const void *data, size_t n, size_t span, uint32_t *out)
{
	const uint8_t *p = data;
	size_t i = 0;

	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		for (; n >= 4 * span; i += 4, p += 4 * span, n -= 4 * span)
			crc32c_hw_x4(p, span, span, out + i);
#endif
	for (; n; i++, p += MIN(span, n), n -= MIN(span, n))
		out[i] = crc32c(p, MIN(span, n));
}

uint32_t chunk_crc32c(const void *data, size_t n) { return crc32c(data, n); }

uint32_t chunk_crc32c_table(const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
	return crc32c_table(0xFFFFFFFFU, data, n) ^ 0xFFFFFFFFU;
}

void chunk_crc32c_spans(const void *data, size_t n, size_t span, uint32_t *out)
{
	crc32c_spans(data, n, span, out);
}

static uint32_t crc_count(uint32_t bsize)
{
	return (bsize + CACHE_CRC_SPAN - 1) / CACHE_CRC_SPAN;
}

/* ------------------------------------------------- (id, indx) hash table */

struct bnode {
	uint64_t id;
	uint32_t indx;
	struct bnode *hnext;
};

struct btable {
	struct bnode **b;
	size_t nb, n;
};

static size_t bhash(uint64_t id, uint32_t indx, size_t nb)
{
	/* splitmix64's finaliser: every input bit reaches every output bit */
	uint64_t h = id ^ ((uint64_t)indx * 0x9E3779B97F4A7C15ULL);
	h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
	h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
	h ^= h >> 31;
	return (size_t)h & (nb - 1);
}

static void btable_init(struct btable *t)
{
	t->nb = 256;
	t->n = 0;
	t->b = xcalloc(t->nb, sizeof(*t->b));
}

static struct bnode *btable_find(struct btable *t, uint64_t id, uint32_t indx)
{
	for (struct bnode *e = t->b[bhash(id, indx, t->nb)]; e; e = e->hnext)
		if (e->id == id && e->indx == indx)
			return e;
	return NULL;
}

static void btable_insert(struct btable *t, struct bnode *e)
{
	if (t->n >= t->nb) {
		size_t nb = t->nb * 2;
		struct bnode **b = xcalloc(nb, sizeof(*b));
		for (size_t i = 0; i < t->nb; i++)
			for (struct bnode *x = t->b[i], *nx; x; x = nx) {
				nx = x->hnext;
				size_t h = bhash(x->id, x->indx, nb);
				x->hnext = b[h];
				b[h] = x;
			}
		free(t->b);
		t->b = b;
		t->nb = nb;
	}
	size_t h = bhash(e->id, e->indx, t->nb);
	e->hnext = t->b[h];
	t->b[h] = e;
	t->n++;
}

static void btable_remove(struct btable *t, struct bnode *e)
{
	for (struct bnode **pp = &t->b[bhash(e->id, e->indx, t->nb)]; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			t->n--;
			return;
		}
	BUG_ON(1);
}

/* ------------------------------------------------------------ worker pool */

struct scratch {
	char *buf;
	size_t cap;
	ZSTD_CCtx *cctx;
};

struct cjob;
typedef void (*cjob_fn)(struct chunk_store *cs, struct cjob *j, struct scratch *s);
struct cjob {
	cjob_fn fn;
	struct cjob *next;
};

struct cpool {
	struct chunk_store *cs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cjob *head, *tail;
	size_t qlen, qmax; /* qmax 0 = unbounded */
	int nthreads, max, idle, stop;
	pthread_t *tids;
};

static void *cpool_main(void *arg)
{
	struct cpool *p = arg;
	struct scratch s = { NULL, 0, NULL };

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stop) {
			p->idle++;
			pthread_cond_wait(&p->cond, &p->lock);
			p->idle--;
		}
		if (!p->head)
			break;
		struct cjob *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->qlen--;
		pthread_mutex_unlock(&p->lock);
		j->fn(p->cs, j, &s);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	free(s.buf);
	ZSTD_freeCCtx(s.cctx);
	return NULL;
}

static void cpool_init(struct cpool *p, struct chunk_store *cs, int max, size_t qmax)
{
	memset(p, 0, sizeof(*p));
	p->cs = cs;
	p->max = max;
	p->qmax = qmax;
	p->tids = xcalloc((size_t)MAX(max, 1), sizeof(*p->tids));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

/* Queue a job; a thread is started when none is idle and the pool is not full. */
static int cpool_submit(struct cpool *p, struct cjob *j)
{
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->stop || p->max <= 0 || (p->qmax && p->qlen >= p->qmax)) {
		r = -EAGAIN;
		goto out;
	}
	j->next = NULL;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->qlen++;
	if (p->idle < (int)MIN(p->qlen, (size_t)INT_MAX) && p->nthreads < p->max) {
		if (!pthread_create(&p->tids[p->nthreads], NULL, cpool_main, p))
			p->nthreads++;
		else if (!p->nthreads)
			jfs_die(__FILE__, __LINE__, "cannot start a worker thread");
	}
	pthread_cond_signal(&p->cond);
out:
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Runs the queued jobs to completion, then joins the threads. */
static void cpool_stop(struct cpool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->tids[i], NULL);
	BUG_ON(p->head);
	free(p->tids);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}

/* ------------------------------------------------------------ the store */

/* Free whole-block buffers kept beyond those the writer budget holds. */
#define BUF_POOL_SPARE 4
/*
 * Full blocks a writer may have queued behind the running uploads before it
 * waits. Queued blocks add no throughput (the uploads run max_uploads at a
 * time) but each one is 4 MiB of resident memory: with 4 writers outrunning
 * the store the whole --buffer-size budget sat in the queue.
 */
#define UPLOAD_QUEUE_MAX 4

struct mblock {
	struct bnode node; /* first: the hash table links these */
	uint32_t len;
	char *data;
	int refs;
	int loading;
	int err;
	int hashed; /* findable in the table */
	int cached; /* in the LRU list and counted in mc_used */
	int pooled; /* data is a block_size + 1 buffer that goes back to the pool */
	size_t maplen; /* data is a cache file mapped read-only (MAP_MIN), this long */
	int ahead;  /* loaded by readahead, not read yet: counted in ahead_bytes */
	int fill_refs; /* of refs, those of the disk cache's fill queue */
	int used;   /* a reader has had it */
	struct mblock *prev, *next;
};

struct dentry {
	struct bnode node;
	uint32_t bsize;
	int busy;   /* being written */
	int doomed; /* dropped while being written: unlink when done */
	uint64_t acct;
	int64_t atime;
	size_t pos; /* index in dcache.arr */
};

struct dcache {
	char *root; /* <dir>/<uuid>/ */
	char *raw;  /* <dir>/<uuid>/raw/ */
	pthread_mutex_t lock;
	struct btable t;
	struct dentry **arr;
	size_t n, alloc;
	uint64_t used, cap;
	int64_t space_checked_ms;
	int space_low;
	uint64_t rng;
	/* staging (S1-S4); lock_fd is the flock'd .lock, held while locked */
	char *staging; /* <dir>/<uuid>/rawstaging/ */
	int lock_fd, locked;
	uint64_t nstaged; /* under chunk_store.slk */
	int64_t stage_checked_ms;
	int stage_low;
};

struct chunk_store {
	struct obj_store *obj;
	struct chunk_conf conf;
	char *cache_dir, *uuid; /* owned copies behind conf's pointers */
	int stopping;

	/* writer buffer budget */
	pthread_mutex_t blk;
	pthread_cond_t bcond;
	uint64_t bused, bpeak, bcap;
	int nwriters;
	int uqueued; /* full blocks submitted to the uploaders and not started */
	/*
	 * Writer uploads running, in the pool or on a finishing writer's own
	 * thread (writer_submit_how): together at most max_uploads; a pool
	 * job waits on ucond for a slot.
	 */
	int uslots;
	pthread_cond_t ucond;
	uint64_t bsince_trim; /* bytes released since the last heap trim */
	int64_t btrim_ms;

	/* memory cache and single-flight table */
	pthread_mutex_t mlk;
	pthread_cond_t mcond;
	struct btable mt;
	struct mblock *lru_head, *lru_tail;
	uint64_t mc_used, mc_cap;
	/*
	 * Readahead queued or loaded and not read yet, capped at half the
	 * cache: 4 sequential readers with 32 MiB windows each evicted their
	 * own readahead from the 32 MiB cache before reading it, and every
	 * block was fetched 2.75 times (object GET bytes / bytes read).
	 */
	uint64_t ahead_bytes;

	/*
	 * Free whole-block buffers, linked through their first bytes. A
	 * sequential read loads a block a few milliseconds after the last was
	 * freed, and a writer takes one as an upload gives one back: malloc
	 * would hand 4 MiB back to the kernel and take it again, and the page
	 * faults and the zeroing of fresh pages cost 15 % of a cold read
	 * (perf). The buffers are mapped, not malloc'ed: glibc raises its mmap
	 * threshold after the first free of a 4 MiB chunk, and from then on
	 * block buffers landed in its arenas, which kept 100-150 MiB resident
	 * after a 4-writer load had ended. The pool holds at most what the
	 * writer budget has reserved plus BUF_POOL_SPARE, and is cut back to
	 * the spares when the budget falls idle, so resident memory follows
	 * the load down.
	 */
	pthread_mutex_t plk;
	char *pool;
	int npool;

	/* download slots */
	pthread_mutex_t dlk;
	pthread_cond_t dcond;
	int downloads;

	struct dcache *dc;
	size_t ndc;

	struct cpool uploads, prefetchers;
	struct cpool fillers; /* disk cache writes of blocks read from the object store */
	int fills;            /* fill jobs queued or running */
	int dc_no_direct;     /* a cache dir refused O_DIRECT: write through the page cache */
	int dc_no_map;        /* a cache dir maps no file (ENODEV): read cached blocks */
	int uploads_active;

	/* staging table (S2-S5): staged blocks not uploaded yet */
	pthread_mutex_t slk;
	pthread_cond_t scond;
	struct btable stt;
	struct sentry *wait_head, *wait_tail; /* not queued yet, by due time */
	uint64_t staged_bytes;
	int sbusy;             /* entries queued in or running on the stagers pool */
	int sched_stop, sched_started;
	char **unsynced;       /* uploaded staged files, unlinked after the next obj_sync */
	size_t nunsynced, unsynced_alloc;
	size_t unlinking;      /* taken off the list, being synced and unlinked */
	pthread_t sched;
	struct cpool stagers;  /* background uploads of staged blocks */

	struct chunk_stats st; /* counters updated with atomics */
};

#define STAT_ADD(cs, f, v) __atomic_add_fetch(&(cs)->st.f, (v), __ATOMIC_RELAXED)

/*
 * JuiceFS's object-request and block-cache metrics (its Grafana dashboard and
 * `juicefs stats` read these names). Process-wide, as in JuiceFS: one volume
 * per process. The storage class is "STANDARD", the label JuiceFS reports
 * when the volume sets none (we have no per-class storage).
 */
static struct {
	struct metric *req[4], *bytes_get, *bytes_put, *errors;
	struct metric *hits, *hit_bytes, *miss, *miss_bytes, *writes, *write_bytes, *evicts, *drops;
	struct metric *read_hist, *write_hist;
	struct metric_family *bc_blocks, *bc_bytes, *stg_blocks, *stg_bytes, *uploading;
	struct metric_family *buf_used, *store_cache, *stg_writing, *pins;
	struct metric *stg_delay, *stg_errors, *stg_write_bytes;
} cm;
enum { REQ_GET, REQ_PUT, REQ_DELETE, REQ_HEAD };

static void cm_init(void)
{
	static const char *const method_sc[] = { "method", "storage_class", NULL };
	static const char *const names[] = { "GET", "PUT", "DELETE", "HEAD" };
	double b[25], c[20];
	struct metric_family *f;

	metric_exp_buckets(b, 0.01, 1.5, 25);
	f = metric_family(METRIC_HISTOGRAM, "juicefs_object_request_durations_histogram_seconds",
			  "Object requests latency distributions.", 1e-6, method_sc, b, 25);
	for (int i = 0; i < 4; i++)
		cm.req[i] = metric_child(f, names[i], "STANDARD");
	f = metric_family(METRIC_COUNTER, "juicefs_object_request_data_bytes",
			  "Object requests size in bytes.", 1, method_sc, NULL, 0);
	cm.bytes_get = metric_child(f, "GET", "STANDARD");
	cm.bytes_put = metric_child(f, "PUT", "STANDARD");
	cm.errors = metric_get(metric_family(METRIC_COUNTER, "juicefs_object_request_errors",
					     "failed requests to object store", 1, NULL, NULL, 0));
	cm.uploading = metric_family(METRIC_GAUGE, "juicefs_object_request_uploading",
				     "number of uploading requests", 1, NULL, NULL, 0);
#define CM_COUNTER(field, name, help)                                                       \
	cm.field = metric_get(metric_family(METRIC_COUNTER, name, help, 1, NULL, NULL, 0))
	CM_COUNTER(hits, "juicefs_blockcache_hits", "read from cached block");
	CM_COUNTER(hit_bytes, "juicefs_blockcache_hit_bytes", "read bytes from cached block");
	CM_COUNTER(miss, "juicefs_blockcache_miss", "missed read from cached block");
	CM_COUNTER(miss_bytes, "juicefs_blockcache_miss_bytes", "missed bytes from cached block");
	CM_COUNTER(writes, "juicefs_blockcache_writes", "written cached block");
	CM_COUNTER(write_bytes, "juicefs_blockcache_write_bytes", "write bytes of cached block");
	CM_COUNTER(evicts, "juicefs_blockcache_evicts", "evicted cache blocks");
	CM_COUNTER(drops, "juicefs_blockcache_drops", "dropped block");
#undef CM_COUNTER
	metric_exp_buckets(c, 0.00001, 2, 20);
	cm.read_hist = metric_get(metric_family(METRIC_HISTOGRAM,
						"juicefs_blockcache_read_hist_seconds",
						"read cached block latency distribution", 1e-6,
						NULL, c, 20));
	cm.write_hist = metric_get(metric_family(METRIC_HISTOGRAM,
						 "juicefs_blockcache_write_hist_seconds",
						 "write cached block latency distribution", 1e-6,
						 NULL, c, 20));
	cm.bc_blocks = metric_family(METRIC_GAUGE, "juicefs_blockcache_blocks",
				     "number of cached blocks", 1, NULL, NULL, 0);
	cm.bc_bytes = metric_family(METRIC_GAUGE, "juicefs_blockcache_bytes",
				    "number of cached bytes", 1, NULL, NULL, 0);
	cm.stg_blocks = metric_family(METRIC_GAUGE, "juicefs_staging_blocks",
				      "Number of blocks in the staging path.", 1, NULL, NULL, 0);
	cm.stg_bytes = metric_family(METRIC_GAUGE, "juicefs_staging_block_bytes",
				     "Total bytes of blocks in the staging path.", 1, NULL, NULL, 0);
	cm.stg_writing = metric_family(METRIC_GAUGE, "juicefs_staging_writing_blocks",
				       "Number of writing blocks in staging.", 1, NULL, NULL, 0);
	cm.stg_delay = metric_get(metric_family(METRIC_COUNTER, "juicefs_staging_block_delay_seconds",
						"Total seconds of delay for staging blocks", 1e-3,
						NULL, NULL, 0));
	cm.stg_errors = metric_get(metric_family(METRIC_COUNTER, "juicefs_staging_block_errors",
						 "Total errors when staging blocks", 1, NULL, NULL,
						 0));
	cm.stg_write_bytes = metric_get(metric_family(METRIC_COUNTER, "juicefs_staging_write_bytes",
						      "write bytes of blocks in the staging path.",
						      1, NULL, NULL, 0));
	cm.buf_used = metric_family(METRIC_GAUGE, "juicefs_used_buffer_size_bytes",
				    "size of currently used buffer.", 1, NULL, NULL, 0);
	cm.store_cache = metric_family(METRIC_GAUGE, "juicefs_store_cache_size_bytes",
				       "size of store cache.", 1, NULL, NULL, 0);
	/* ours: a pin never given back holds its block past the cache's size */
	cm.pins = metric_family(METRIC_GAUGE, "juicefs_blockcache_reader_pins",
				"Pieces of cached blocks pinned by readers (replies being sent).",
				1, NULL, NULL, 0);
}

static pthread_once_t cm_once = PTHREAD_ONCE_INIT;

/* At every scrape: the gauges that are state, not events. */
static void cm_collect(void *arg)
{
	struct chunk_stats st;
	chunk_store_stats(arg, &st);
	metric_set(metric_get(cm.bc_blocks), (double)st.disk_cache_blocks);
	metric_set(metric_get(cm.bc_bytes), (double)st.disk_cache_bytes);
	metric_set(metric_get(cm.stg_blocks), (double)st.staged_blocks);
	metric_set(metric_get(cm.stg_bytes), (double)st.staged_bytes);
	metric_set(metric_get(cm.buf_used), (double)st.buffer_used);
	metric_set(metric_get(cm.store_cache), (double)st.mem_cache_bytes);
	metric_set(metric_get(cm.pins), (double)st.pins);
}

static void cm_request(int method, uint64_t t0, int failed)
{
	metric_observe(cm.req[method], metric_now_us() - t0);
	if (failed)
		metric_add(cm.errors, 1);
}

const struct chunk_conf *chunk_store_conf(const struct chunk_store *cs) { return &cs->conf; }
struct obj_store *chunk_store_obj(const struct chunk_store *cs) { return cs->obj; }

int chunk_store_sync(struct chunk_store *cs) { return obj_sync(cs->obj); }

static void key_of(const struct chunk_store *cs, char key[CHUNK_KEY_MAX], uint64_t id,
		   uint32_t indx, uint32_t bsize)
{
	chunk_block_key(key, id, indx, bsize, cs->conf.hash_prefix);
}

/*
 * Back-off before try number `tries` (1-based retry count): tries² × unit, as
 * JuiceFS sleeps try² seconds. -ECANCELED once the store is shutting down.
 */
static int backoff(struct chunk_store *cs, int tries)
{
	int64_t ms = (int64_t)tries * tries * cs->conf.retry_unit_ms;
	if (__atomic_load_n(&cs->stopping, __ATOMIC_RELAXED))
		return -ECANCELED;
	if (ms > 0)
		sleep_ms(ms);
	return 0;
}

/* ---------------------------------------------------------------- budget */

/*
 * Reserve n bytes, waiting for uploads to give memory back; -EAGAIN if
 * !wait. Then wait, in either mode, for the upload queue to drain below
 * UPLOAD_QUEUE_MAX: that wait always ends (the uploaders need nothing a
 * writer holds), so it is no reason for fs.c to commit its open slices
 * (chunk.h invariant 4); refusing here cut sequential writes into 4 MiB
 * slices.
 */
static int budget_acquire(struct chunk_store *cs, uint64_t n, int wait)
{
	int r = 0;
	pthread_mutex_lock(&cs->blk);
	for (;;) {
		if (cs->bused + n > cs->bcap) {
			if (!wait) {
				r = -EAGAIN;
				goto out;
			}
		} else if (cs->uqueued < UPLOAD_QUEUE_MAX) {
			break;
		}
		pthread_cond_wait(&cs->bcond, &cs->blk);
	}
	cs->bused += n;
	if (cs->bused > cs->bpeak)
		cs->bpeak = cs->bused;
out:
	pthread_mutex_unlock(&cs->blk);
	return r;
}

int chunk_store_buffer_full(struct chunk_store *cs)
{
	pthread_mutex_lock(&cs->blk);
	int full = cs->bused + cs->conf.block_size > cs->bcap;
	pthread_mutex_unlock(&cs->blk);
	return full;
}

/*
 * When the last writer buffer is given back after a load of at least
 * TRIM_AFTER_BYTES, the heap is trimmed: the first block of every slice
 * grows by realloc from 64 KiB (small files stay small), and after a
 * many-writer load glibc's per-thread arenas kept those frees resident
 * (about 40 MiB on an idle mount). At most once a second.
 */
#define TRIM_AFTER_BYTES (64ULL << 20)

static void blockbuf_trim(struct chunk_store *cs, int keep);

static void budget_release(struct chunk_store *cs, uint64_t n)
{
	int idle, trim = 0;
	if (!n)
		return;
	pthread_mutex_lock(&cs->blk);
	BUG_ON(cs->bused < n);
	cs->bused -= n;
	cs->bsince_trim += n;
	idle = !cs->bused;
	if (idle && cs->bsince_trim >= TRIM_AFTER_BYTES && mono_ms() - cs->btrim_ms >= 1000) {
		cs->bsince_trim = 0;
		cs->btrim_ms = mono_ms();
		trim = 1;
	}
	pthread_cond_broadcast(&cs->bcond);
	pthread_mutex_unlock(&cs->blk);
	/* buffers pooled while the budget was busy are not needed now */
	if (idle)
		blockbuf_trim(cs, BUF_POOL_SPARE);
	if (trim)
		malloc_trim(0);
}

/* ----------------------------------------------------------- memory cache */

static void lru_unlink(struct chunk_store *cs, struct mblock *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		cs->lru_head = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		cs->lru_tail = b->prev;
	b->prev = b->next = NULL;
}

static void lru_push(struct chunk_store *cs, struct mblock *b)
{
	b->prev = NULL;
	b->next = cs->lru_head;
	if (cs->lru_head)
		cs->lru_head->prev = b;
	else
		cs->lru_tail = b;
	cs->lru_head = b;
}

static size_t blockbuf_maplen(const struct chunk_store *cs)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return ((size_t)cs->conf.block_size + 1 + pg - 1) / pg * pg;
}

/* A buffer for a whole block of bsize bytes (one spare byte); *pooled says where it goes back. */
static char *blockbuf_get(struct chunk_store *cs, uint32_t bsize, int *pooled)
{
	char *p = NULL;
	*pooled = bsize == cs->conf.block_size;
	if (!*pooled)
		return xmalloc((size_t)bsize + 1);
	pthread_mutex_lock(&cs->plk);
	if (cs->pool) {
		p = cs->pool;
		memcpy(&cs->pool, p, sizeof(char *));
		cs->npool--;
	}
	pthread_mutex_unlock(&cs->plk);
	if (!p) {
		p = mmap(NULL, blockbuf_maplen(cs), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			jfs_die(__FILE__, __LINE__, "out of memory (a %u-byte block buffer)",
				cs->conf.block_size);
	}
	return p;
}

/* Unmap pooled buffers beyond keep. */
static void blockbuf_trim(struct chunk_store *cs, int keep)
{
	char *drop = NULL, *p;

	pthread_mutex_lock(&cs->plk);
	while (cs->npool > keep) {
		p = cs->pool;
		memcpy(&cs->pool, p, sizeof(char *));
		cs->npool--;
		memcpy(p, &drop, sizeof(char *));
		drop = p;
	}
	pthread_mutex_unlock(&cs->plk);
	while (drop) {
		p = drop;
		memcpy(&drop, p, sizeof(char *));
		munmap(p, blockbuf_maplen(cs));
	}
}

static void blockbuf_put(struct chunk_store *cs, char *p, int pooled)
{
	if (p && pooled) {
		uint64_t keep;
		pthread_mutex_lock(&cs->blk);
		keep = cs->bused / cs->conf.block_size + BUF_POOL_SPARE;
		pthread_mutex_unlock(&cs->blk);
		pthread_mutex_lock(&cs->plk);
		if ((uint64_t)cs->npool < keep) {
			memcpy(p, &cs->pool, sizeof(char *));
			cs->pool = p;
			cs->npool++;
			p = NULL;
		}
		pthread_mutex_unlock(&cs->plk);
		if (p)
			munmap(p, blockbuf_maplen(cs));
		return;
	}
	free(p);
}

static void mblock_free(struct chunk_store *cs, struct mblock *b)
{
	if (!b)
		return;
	if (b->maplen)
		munmap(b->data, b->maplen);
	else
		blockbuf_put(cs, b->data, b->pooled);
	free(b);
}

/* Make b unfindable and uncounted; it is freed now or by its last unref. */
static void mc_forget_locked(struct chunk_store *cs, struct mblock *b)
{
	if (b->ahead) {
		cs->ahead_bytes -= b->len;
		b->ahead = 0;
	}
	if (b->cached) {
		lru_unlink(cs, b);
		cs->mc_used -= b->len;
		b->cached = 0;
	}
	if (b->hashed) {
		btable_remove(&cs->mt, &b->node);
		b->hashed = 0;
	}
	if (!b->refs)
		mblock_free(cs, b);
}

/*
 * A block pinned only by the fill queue is evicted as any other: it leaves
 * the cache and its accounting, and is freed once written. Counted, up to 16
 * such blocks took the whole cache, and every unpin evicted the block a
 * reader was in the middle of (a 4 GiB read fetched 14.7 GB).
 */
/*
 * Readahead not read yet goes last (it is at most half the cache, see
 * ahead_bytes): with several loaders, blocks loaded ahead aged to the LRU
 * tail behind blocks the readers had already consumed, were evicted unread
 * and fetched again (4 readers: 1.08-1.18 GET bytes per byte read).
 */
static void mc_evict_locked(struct chunk_store *cs)
{
	for (int spare_ahead = 1; spare_ahead >= 0 && cs->mc_used > cs->mc_cap; spare_ahead--) {
		struct mblock *b = cs->lru_tail;
		while (cs->mc_used > cs->mc_cap && b) {
			struct mblock *prev = b->prev;
			if (b->refs == b->fill_refs && !(spare_ahead && b->ahead))
				mc_forget_locked(cs, b);
			b = prev;
		}
	}
}

/*
 * Blocks pinned by readers cannot be evicted, so the cache may run over its
 * cap while they are; it is brought back under as the pins go.
 */
static void mc_unref(struct chunk_store *cs, struct mblock *b)
{
	pthread_mutex_lock(&cs->mlk);
	BUG_ON(b->refs <= 0);
	if (!--b->refs && !b->hashed)
		mblock_free(cs, b);
	else if (!b->refs && cs->mc_used > cs->mc_cap)
		mc_evict_locked(cs);
	pthread_mutex_unlock(&cs->mlk);
}

/*
 * Find a block, waiting while another thread loads it. Returns it pinned, or
 * NULL (absent) with *err 0, or NULL with the loader's error.
 */
static struct mblock *mc_lookup_locked(struct chunk_store *cs, uint64_t id, uint32_t indx,
				       int *err)
{
	struct mblock *b = (struct mblock *)btable_find(&cs->mt, id, indx);
	*err = 0;
	if (!b)
		return NULL;
	b->refs++;
	if (!b->loading)
		STAT_ADD(cs, mem_hits, 1);
	while (b->loading)
		pthread_cond_wait(&cs->mcond, &cs->mlk);
	if (b->err) {
		*err = b->err;
		if (!--b->refs && !b->hashed)
			mblock_free(cs, b);
		return NULL;
	}
	if (b->cached) {
		lru_unlink(cs, b);
		lru_push(cs, b);
	}
	return b;
}

/* A reader has b: its readahead is spent. */
static void mc_used_locked(struct chunk_store *cs, struct mblock *b)
{
	b->used = 1;
	if (b->ahead) {
		cs->ahead_bytes -= b->len;
		b->ahead = 0;
	}
}

static void mc_drop(struct chunk_store *cs, uint64_t id, uint32_t indx)
{
	pthread_mutex_lock(&cs->mlk);
	struct mblock *b = (struct mblock *)btable_find(&cs->mt, id, indx);
	if (b)
		mc_forget_locked(cs, b);
	pthread_mutex_unlock(&cs->mlk);
}

/* ------------------------------------------------------------- disk cache */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: only picks eviction candidates */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static struct dcache *dc_for(struct chunk_store *cs, uint64_t id, uint32_t indx)
{
	if (!cs->ndc)
		return NULL;
	return &cs->dc[bhash(id, indx, 1U << 16) % cs->ndc];
}

static void dc_path(const struct chunk_store *cs, const struct dcache *d, struct buf *p,
		    uint64_t id, uint32_t indx, uint32_t bsize)
{
	char key[CHUNK_KEY_MAX];
	key_of(cs, key, id, indx, bsize);
	buf_reset(p);
	buf_adds(p, d->raw);
	buf_adds(p, key);
}

static void dc_add_locked(struct dcache *d, struct dentry *e)
{
	if (d->n == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 64;
		d->arr = xrealloc(d->arr, d->alloc * sizeof(*d->arr));
	}
	e->pos = d->n;
	d->arr[d->n++] = e;
	btable_insert(&d->t, &e->node);
	d->used += e->acct;
}

static void dc_del_locked(struct dcache *d, struct dentry *e)
{
	btable_remove(&d->t, &e->node);
	d->arr[e->pos] = d->arr[--d->n];
	d->arr[e->pos]->pos = e->pos;
	d->used -= e->acct;
}

/* Remove an idle entry and its file. */
static void dc_evict_entry_locked(struct chunk_store *cs, struct dcache *d, struct dentry *e)
{
	struct buf p = BUF_INIT;
	dc_path(cs, d, &p, e->node.id, e->node.indx, e->bsize);
	if (unlink(p.ptr) && errno != ENOENT)
		log_warn("remove cached block %s: %s", p.ptr, strerror(errno));
	buf_release(&p);
	dc_del_locked(d, e);
	free(e);
}

/* "2-random": of two random idle entries, evict the one used longer ago. */
static int dc_evict_one_locked(struct chunk_store *cs, struct dcache *d)
{
	struct dentry *victim = NULL;
	for (int tries = 0; tries < 8 && d->n; tries++) {
		struct dentry *a = d->arr[rng_next(&d->rng) % d->n];
		struct dentry *b = d->arr[rng_next(&d->rng) % d->n];
		if (a->busy)
			a = b;
		if (b->busy)
			b = a;
		if (a->busy)
			continue;
		victim = a->atime <= b->atime ? a : b;
		break;
	}
	if (!victim)
		return 0;
	dc_evict_entry_locked(cs, d, victim);
	metric_add(cm.evicts, 1);
	return 1;
}

/* Free space below --free-space-ratio? Checked at most once per second. */
static int dc_space_low_locked(struct dcache *d, double ratio, int force)
{
	int64_t now = mono_ms();
	struct statvfs sv;

	if (!force && now - d->space_checked_ms < 1000)
		return d->space_low;
	d->space_checked_ms = now;
	if (statvfs(d->root, &sv) || !sv.f_blocks)
		d->space_low = 0;
	else
		d->space_low = (double)sv.f_bavail / (double)sv.f_blocks < ratio;
	return d->space_low;
}

static ssize_t pread_all(int fd, void *p, size_t n, off_t off)
{
	char *c = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, c + got, n - got, off + (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!r)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		r = -errno;
	close(fd);
	return r;
}

/*
 * Create the missing directories of path's parent below root (which exists
 * durably); the parent of each is fsynced, so the path survives a power loss
 * once its own directory is synced too. Only called when a directory was
 * missing: a directory another thread has just made (EEXIST) may not be
 * synced yet, so its parent is synced here too.
 */
static int mkdirs_durable(const char *root, const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int r = 0;

	for (char *s = p + strlen(root); (s = strchr(s, '/')); *s++ = '/') {
		*s = 0;
		if (!mkdir(p, mode) || errno == EEXIST) {
			char *slash = strrchr(p, '/');
			*slash = 0;
			r = fsync_dir(p);
			*slash = '/';
		} else {
			r = -errno;
		}
		if (r) {
			*s = '/';
			break;
		}
	}
	free(p);
	return r;
}

/*
 * Cache files of whole blocks are written with O_DIRECT, as objects are
 * (storage/file.c): through the page cache, the copy into fresh page-cache
 * pages was the largest cost of a cold sequential read (perf, 1 reader: the
 * filler thread 60-67 % of the mount's CPU, `copy_folio_from_iter_atomic`
 * 49-57 %, about 1.5 s/GiB). The block buffers are page-aligned (the mapped
 * pool); anything else, a tail under DIRECT_ALIGN and the CRCs go through
 * the page cache. A file system that refuses O_DIRECT (EINVAL at open or at
 * the first write) gets the same bytes through the page cache, and the store
 * stops asking.
 */

static void dc_direct_refused(struct chunk_store *cs, const char *path)
{
	if (!__atomic_exchange_n(&cs->dc_no_direct, 1, __ATOMIC_RELAXED))
		log_info("cache file %s: O_DIRECT refused, writing through the page cache", path);
}

/* data[0..len) to fd at offset 0, O_DIRECT (if set) for the aligned head */
static int dc_write_data(struct chunk_store *cs, int fd, const char *data, size_t len,
			 int direct, const char *path)
{
	int refused, r;

	if (!direct)
		return fd_write_all(fd, data, len);
	r = fd_write_direct(fd, data, len, &refused);
	if (refused)
		dc_direct_refused(cs, path);
	return r;
}

/* open(path, *oflags); refused O_DIRECT (EINVAL) opens again without it. */
static int dc_open_tmp(struct chunk_store *cs, const char *path, int *oflags, int *direct)
{
	int fd = open(path, *oflags, cs->conf.cache_mode);

	if (fd < 0 && errno == EINVAL && *direct) {
		dc_direct_refused(cs, path);
		*direct = 0;
		*oflags &= ~O_DIRECT;
		fd = open(path, *oflags, cs->conf.cache_mode);
	}
	return fd;
}

/*
 * Write a cache-format file (data, CRCs) as path.tmp, then rename it. With
 * durable_root (staging, S1) the file is fdatasync'd before the rename and
 * its directory fsynced after, new directories below durable_root included.
 */
static int dc_write_file(struct chunk_store *cs, const char *path, const void *data,
			 uint32_t bsize, const char *durable_root)
{
	struct buf tmp = BUF_INIT;
	uint8_t *crcs = NULL;
	size_t ncrc = cs->conf.cache_checksum ? crc_count(bsize) : 0;
	int fd = -1, r = 0;
	int direct = !durable_root && bsize >= DIRECT_MIN &&
		     !((uintptr_t)data % DIRECT_ALIGN) &&
		     !__atomic_load_n(&cs->dc_no_direct, __ATOMIC_RELAXED);
	int oflags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0);

	buf_addf(&tmp, "%s.tmp", path);
	fd = dc_open_tmp(cs, tmp.ptr, &oflags, &direct);
	if (fd < 0 && errno == ENOENT) {
		char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		mode_t dmode = cs->conf.cache_mode | ((cs->conf.cache_mode & 0444) >> 2);
		*slash = 0;
		if (durable_root)
			mkdirs_durable(durable_root, path, dmode | 0700);
		else
			mkdir_p(dir, dmode | 0700);
		free(dir);
		fd = dc_open_tmp(cs, tmp.ptr, &oflags, &direct);
	}
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = dc_write_data(cs, fd, data, bsize, direct, tmp.ptr)))
		goto out;
	if (ncrc) {
		uint32_t *sum = xmalloc(ncrc * 4);
		crcs = (uint8_t *)sum;
		crc32c_spans(data, bsize, CACHE_CRC_SPAN, sum);
		for (size_t i = 0; i < ncrc; i++)
			put_be32(crcs + i * 4, sum[i]); /* in place: sum[i] is read first */
		if ((r = fd_write_all(fd, crcs, ncrc * 4)))
			goto out;
	}
	if (durable_root && fdatasync(fd)) {
		r = -errno;
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp.ptr, path)) {
		r = -errno;
		goto out;
	}
	if (durable_root) {
		char *dir = xstrdup(path);
		*strrchr(dir, '/') = 0;
		r = fsync_dir(dir);
		free(dir);
		if (r)
			unlink(path); /* not durable: the caller uploads it directly */
	}
out:
	if (fd >= 0)
		close(fd);
	if (r)
		unlink(tmp.ptr);
	free(crcs);
	buf_release(&tmp);
	return r;
}

/* Best effort: a cache that cannot take the block simply does not have it. */
static void dc_put(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		   const void *data)
{
	struct dcache *d = dc_for(cs, id, indx);
	struct dentry *e;
	struct buf p = BUF_INIT;
	uint64_t acct = (uint64_t)bsize + (cs->conf.cache_checksum ? crc_count(bsize) * 4 : 0) +
			CACHE_ITEM_OVERHEAD;
	int r;

	if (!d || acct > d->cap)
		return;
	pthread_mutex_lock(&d->lock);
	if (btable_find(&d->t, id, indx)) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	while (d->used + acct > d->cap && dc_evict_one_locked(cs, d))
		;
	if (dc_space_low_locked(d, cs->conf.free_space_ratio, 0)) {
		for (int i = 0; i < MIN_EVICT_BATCH && dc_evict_one_locked(cs, d); i++)
			;
		if (dc_space_low_locked(d, cs->conf.free_space_ratio, 1) ||
		    d->used + acct > d->cap) {
			pthread_mutex_unlock(&d->lock);
			return;
		}
	}
	if (d->used + acct > d->cap) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->node.id = id;
	e->node.indx = indx;
	e->bsize = bsize;
	e->busy = 1;
	e->acct = acct;
	e->atime = mono_ms();
	dc_add_locked(d, e);
	pthread_mutex_unlock(&d->lock);

	dc_path(cs, d, &p, id, indx, bsize);
	uint64_t t0 = metric_now_us();
	r = dc_write_file(cs, p.ptr, data, bsize, NULL);
	if (r) {
		log_warn("cache block %s: %s", p.ptr, strerror(-r));
	} else {
		metric_observe(cm.write_hist, metric_now_us() - t0);
		metric_add(cm.writes, 1);
		metric_add(cm.write_bytes, bsize);
	}

	pthread_mutex_lock(&d->lock);
	e->busy = 0;
	if (r || e->doomed) {
		if (!r)
			unlink(p.ptr);
		dc_del_locked(d, e);
		free(e);
	}
	pthread_mutex_unlock(&d->lock);
	buf_release(&p);
}

/*
 * A whole cached block of at least MAP_MIN bytes is loaded by mapping its
 * cache file rather than reading it into block memory: the read was a copy
 * of every byte served (a quarter of a large GET's CPU), and the mapping
 * lends the page cache itself to the readers. Shorter blocks are copied:
 * for them mapping and unmapping cost more than the copy.
 *
 * This relies on nothing truncating a cache file in place: a mapped page
 * past a file's new end raises SIGBUS. This module never does (a file is
 * written as .tmp and renamed over, and removed by unlink, both of which
 * leave a mapped inode whole); a foreign process truncating files under the
 * cache dir is not supported. The checksums are verified once, when the
 * block is mapped; a clean page the kernel reclaims meanwhile is read from
 * the disk again unverified, a window the copy did not have.
 */
#define MAP_MIN (64U << 10)

/*
 * Map the cache-format file at path, verifying its checksums: *map is the
 * block (read-only, *maplen bytes with the CRCs after bsize). -EAGAIN when
 * the file cannot be mapped (read it instead); -ENODEV when its file system
 * maps no file.
 */
static int map_block_file(int fd, const char *path, uint64_t size, uint32_t bsize,
			  char **map, size_t *maplen)
{
	uint32_t ncrc = size == bsize ? 0 : crc_count(bsize);
	uint32_t *sum = NULL;
	char *p = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);

	if (p == MAP_FAILED) {
		/* ENOMEM: out of mappings (vm.max_map_count) for now, say */
		int e = errno;
		log_debug("map block file %s: %s", path, strerror(e));
		return e == ENODEV ? -ENODEV : -EAGAIN;
	}
	if (ncrc) {
		sum = xmalloc((size_t)ncrc * 4);
		crc32c_spans(p, bsize, CACHE_CRC_SPAN, sum);
		for (uint32_t s = 0; s < ncrc; s++) {
			if (sum[s] != get_be32((const uint8_t *)p + bsize + (size_t)s * 4)) {
				log_warn("block file %s: checksum mismatch at %u", path,
					 s * CACHE_CRC_SPAN);
				free(sum);
				munmap(p, size);
				return -EIO;
			}
		}
		free(sum);
	}
	*map = p;
	*maplen = size;
	return 0;
}

/*
 * Read [boff, boff+len) of a cache-format file (a cached or staged block of
 * bsize bytes) into dst, verifying the checksums of the 32 KiB spans it
 * touches. 0, -ENOENT when the file is not there, -EIO when it is bad. With
 * map, the whole block is mapped instead (map_block_file; dst unused).
 */
static int read_block_file(const char *path, uint32_t bsize, uint32_t boff, void *dst,
			   uint32_t len, char **map, size_t *maplen)
{
	char *tmp = NULL;
	uint8_t *crcs = NULL;
	uint32_t *sum = NULL;
	struct stat st;
	int fd, r = -EIO;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (fstat(fd, &st))
		goto bad;
	uint32_t ncrc = crc_count(bsize);
	if (map && ((uint64_t)st.st_size == bsize ||
		    (uint64_t)st.st_size == (uint64_t)bsize + ncrc * 4ULL)) {
		r = map_block_file(fd, path, (uint64_t)st.st_size, bsize, map, maplen);
		goto bad;
	} else if ((uint64_t)st.st_size == bsize) {
		/* written without checksums (level none): nothing to verify */
		ssize_t n = pread_all(fd, dst, len, boff);
		if (n != (ssize_t)len)
			goto bad;
	} else if ((uint64_t)st.st_size == (uint64_t)bsize + ncrc * 4ULL) {
		uint32_t s0 = boff / CACHE_CRC_SPAN;
		uint32_t s1 = (boff + len + CACHE_CRC_SPAN - 1) / CACHE_CRC_SPAN;
		uint32_t from = s0 * CACHE_CRC_SPAN;
		uint32_t to = MIN(s1 * CACHE_CRC_SPAN, bsize);
		char *area = from == boff && to == boff + len ? dst : (tmp = xmalloc(to - from));
		crcs = xmalloc((size_t)(s1 - s0) * 4);
		if (pread_all(fd, area, to - from, from) != (ssize_t)(to - from) ||
		    pread_all(fd, crcs, (size_t)(s1 - s0) * 4, (off_t)bsize + (off_t)s0 * 4) !=
			    (ssize_t)(s1 - s0) * 4)
			goto bad;
		sum = xmalloc((size_t)(s1 - s0) * 4);
		crc32c_spans(area, to - from, CACHE_CRC_SPAN, sum);
		for (uint32_t s = s0; s < s1; s++) {
			if (sum[s - s0] != get_be32(crcs + (s - s0) * 4)) {
				log_warn("block file %s: checksum mismatch at %u", path,
					 s * CACHE_CRC_SPAN);
				goto bad;
			}
		}
		if (area != dst)
			memcpy(dst, area + (boff - from), len);
	} else {
		log_warn("block file %s: size %lld, expected %u", path, (long long)st.st_size,
			 bsize);
		goto bad;
	}
	r = 0;
bad:
	close(fd);
	free(tmp);
	free(crcs);
	free(sum);
	return r;
}

/*
 * Read [boff, boff+len) of a cached block into dst, or with map the whole
 * block mapped (read_block_file; -EAGAIN: read it instead). -ENOENT on a
 * miss; a bad file is removed and reported as a miss so the caller falls
 * back to the object.
 */
static int dc_get(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		  uint32_t boff, void *dst, uint32_t len, char **map, size_t *maplen)
{
	struct dcache *d = dc_for(cs, id, indx);
	struct dentry *e;
	struct buf p = BUF_INIT;
	int r;

	uint64_t t0 = metric_now_us();

	if (!d)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	e = (struct dentry *)btable_find(&d->t, id, indx);
	if (!e || e->busy || e->bsize != bsize) {
		pthread_mutex_unlock(&d->lock);
		metric_add(cm.miss, 1);
		metric_add(cm.miss_bytes, len);
		return -ENOENT;
	}
	e->atime = mono_ms();
	pthread_mutex_unlock(&d->lock);

	dc_path(cs, d, &p, id, indx, bsize);
	r = read_block_file(p.ptr, bsize, boff, dst, len, map, maplen);
	if (r == -ENODEV || r == -EAGAIN) {
		if (r == -ENODEV)
			__atomic_store_n(&cs->dc_no_map, 1, __ATOMIC_RELAXED);
		r = -EAGAIN;
		goto out;
	}
	if (!r) {
		STAT_ADD(cs, disk_hits, 1);
		metric_add(cm.hits, 1);
		metric_add(cm.hit_bytes, len);
		metric_observe(cm.read_hist, metric_now_us() - t0);
		goto out;
	}
	metric_add(cm.miss, 1);
	metric_add(cm.miss_bytes, len);
	/* drop the entry so the block is fetched (and cached) again */
	pthread_mutex_lock(&d->lock);
	e = (struct dentry *)btable_find(&d->t, id, indx);
	if (e && !e->busy)
		dc_evict_entry_locked(cs, d, e);
	pthread_mutex_unlock(&d->lock);
	r = -ENOENT;
out:
	buf_release(&p);
	return r;
}

static int dc_has(struct chunk_store *cs, uint64_t id, uint32_t indx)
{
	struct dcache *d = dc_for(cs, id, indx);
	int r;
	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	r = btable_find(&d->t, id, indx) != NULL;
	pthread_mutex_unlock(&d->lock);
	return r;
}

static void dc_drop(struct chunk_store *cs, uint64_t id, uint32_t indx)
{
	struct dcache *d = dc_for(cs, id, indx);
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	struct dentry *e = (struct dentry *)btable_find(&d->t, id, indx);
	if (e) {
		if (e->busy)
			e->doomed = 1;
		else
			dc_evict_entry_locked(cs, d, e);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Parse "<id>_<indx>_<bsize>". */
static int parse_block_name(const char *name, uint64_t *id, uint32_t *indx, uint32_t *bsize)
{
	char part[3][24];
	const char *s = name;
	for (int i = 0; i < 3; i++) {
		const char *e = i < 2 ? strchr(s, '_') : s + strlen(s);
		if (!e || e == s || (size_t)(e - s) >= sizeof(part[i]))
			return -EINVAL;
		memcpy(part[i], s, (size_t)(e - s));
		part[i][e - s] = 0;
		s = *e ? e + 1 : e;
	}
	if (parse_u64(part[0], id) || parse_u32(part[1], indx) || parse_u32(part[2], bsize))
		return -EINVAL;
	return 0;
}

/* Rebuild the index from the files present; remove leftover .tmp and bad files. */
static void dc_scan(struct chunk_store *cs, struct dcache *d, struct buf *path, int depth)
{
	DIR *dir = opendir(path->ptr);
	struct dirent *de;
	size_t base = path->len;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct stat st;
		uint64_t id;
		uint32_t indx, bsize;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		path->len = base;
		path->ptr[base] = 0;
		buf_addf(path, "/%s", de->d_name);
		if (lstat(path->ptr, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < 4)
				dc_scan(cs, d, path, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		size_t nl = strlen(de->d_name);
		if (nl > 4 && !strcmp(de->d_name + nl - 4, ".tmp")) {
			unlink(path->ptr);
			continue;
		}
		if (parse_block_name(de->d_name, &id, &indx, &bsize))
			continue;
		/* only files at the path their key maps to belong to the index */
		struct buf want = BUF_INIT;
		dc_path(cs, d, &want, id, indx, bsize);
		int here = !strcmp(want.ptr, path->ptr);
		buf_release(&want);
		if (!here || dc_for(cs, id, indx) != d || btable_find(&d->t, id, indx))
			continue;
		if ((uint64_t)st.st_size != bsize &&
		    (uint64_t)st.st_size != (uint64_t)bsize + crc_count(bsize) * 4ULL) {
			unlink(path->ptr);
			continue;
		}
		struct dentry *e = xcalloc(1, sizeof(*e));
		e->node.id = id;
		e->node.indx = indx;
		e->bsize = bsize;
		e->acct = (uint64_t)st.st_size + CACHE_ITEM_OVERHEAD;
		e->atime = mono_ms() - 1000; /* older than anything touched from now on */
		dc_add_locked(d, e);
	}
	closedir(dir);
	path->len = base;
	path->ptr[base] = 0;
}

static int stage_open(struct chunk_store *cs, struct dcache *d);

static int dc_open(struct chunk_store *cs, struct dcache *d, const char *dir, uint64_t cap)
{
	struct buf p = BUF_INIT;
	mode_t dmode = cs->conf.cache_mode | ((cs->conf.cache_mode & 0444) >> 2) | 0700;
	int r;

	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	btable_init(&d->t);
	d->cap = cap;
	random_bytes(&d->rng, sizeof(d->rng));
	d->rng |= 1;
	d->root = xasprintf("%s%s%s/", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", cs->uuid);
	d->raw = xasprintf("%sraw/", d->root);
	if ((r = mkdir_p(d->raw, dmode))) {
		log_error("cache directory %s: %s", d->raw, strerror(-r));
		return r;
	}
	buf_addf(&p, "%s.lock", d->root);
	if (access(p.ptr, F_OK)) {
		char id[37];
		uuid4(id);
		write_file_atomic(p.ptr, id, strlen(id), 0);
	}
	if ((r = stage_open(cs, d))) {
		buf_release(&p);
		return r;
	}
	buf_reset(&p);
	buf_addf(&p, "%schunks", d->raw);
	pthread_mutex_lock(&d->lock);
	dc_scan(cs, d, &p, 0);
	while (d->used > d->cap && dc_evict_one_locked(cs, d))
		;
	pthread_mutex_unlock(&d->lock);
	buf_release(&p);
	return 0;
}

static void dc_close(struct dcache *d)
{
	if (d->lock_fd >= 0)
		close(d->lock_fd); /* releases the flock */
	d->lock_fd = -1;
	free(d->staging);
	d->staging = NULL;
	if (!d->t.b)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->arr[i]);
	free(d->arr);
	free(d->t.b);
	free(d->root);
	free(d->raw);
	pthread_mutex_destroy(&d->lock);
}

/* ---------------------------------------------------------- object I/O */

static void download_slot(struct chunk_store *cs, int take)
{
	pthread_mutex_lock(&cs->dlk);
	if (take) {
		while (cs->downloads >= cs->conf.max_downloads)
			pthread_cond_wait(&cs->dcond, &cs->dlk);
		cs->downloads++;
	} else {
		cs->downloads--;
		pthread_cond_signal(&cs->dcond);
	}
	pthread_mutex_unlock(&cs->dlk);
}

/*
 * GET [off, off+len) of key into dst with retries. Returns the byte count;
 * a missing object is -ENOENT at once (it will not appear by waiting), and
 * one that fails its integrity check -EBADMSG at once.
 */
static ssize_t get_retry(struct chunk_store *cs, const char *key, uint64_t off, void *dst,
			 size_t len)
{
	ssize_t n = -EIO;
	for (int tries = 0; tries <= cs->conf.io_retries; tries++) {
		if (tries && backoff(cs, tries))
			break;
		download_slot(cs, 1);
		uint64_t t0 = metric_now_us();
		n = obj_get(cs->obj, key, off, dst, len);
		cm_request(REQ_GET, t0, n < 0);
		if (n > 0)
			metric_add(cm.bytes_get, (uint64_t)n);
		download_slot(cs, 0);
		STAT_ADD(cs, gets, 1);
		/* a sealed object that does not verify will not verify on the next try */
		if (n >= 0 || n == -ENOENT || n == -EBADMSG)
			break;
		log_warn("get %s: %s (try %d)", key, strerror((int)-n), tries + 1);
	}
	return n;
}

/*
 * A block read from the object store goes to the disk cache in the
 * background, as JuiceFS's cache does: written inline, the cache file cost
 * a cold 16 MiB read half its speed. When the fillers lag cache_fill_queue
 * blocks behind, the block is not cached, as JuiceFS drops it: under a heavy
 * cold read, writing every block to the cache doubled the disk traffic and
 * halved the read.
 */
/*
 * One filler per cache directory, as JuiceFS has one flusher per directory:
 * with two, on a 2-core machine the fills took CPU from the reads they were
 * meant to speed up and were never dropped (4 jobs reading cold: 30 % of the
 * mount's CPU in cache-file writes and their CRCs, perf).
 */
#define FILL_THREADS_MAX 8
/*
 * Fills are background work and run niced: at the readers' priority the
 * filler took a core's worth of CPU from the reads it was caching for, and
 * a 2-core machine read 4 files 1.6x slower than with fills niced (the
 * fillers then lag and blocks are dropped, as JuiceFS drops them).
 */
#define FILL_NICE 10

/* The block is filled from the memory block itself, pinned until written. */
struct fjob {
	struct cjob job;
	struct mblock *b;
};

static __thread int filler_niced;

static void fill_job(struct chunk_store *cs, struct cjob *j, struct scratch *s)
{
	struct fjob *f = (struct fjob *)j;

	UNUSED(s);
	if (!filler_niced) {
		filler_niced = 1;
		/* Linux: a thread's own nice value; best effort */
		if (setpriority(PRIO_PROCESS, (id_t)gettid(), FILL_NICE))
			log_debug("filler nice: %s", strerror(errno));
	}
	dc_put(cs, f->b->node.id, f->b->node.indx, f->b->len, f->b->data);
	pthread_mutex_lock(&cs->mlk);
	f->b->fill_refs--;
	pthread_mutex_unlock(&cs->mlk);
	mc_unref(cs, f->b);
	free(f);
	__atomic_sub_fetch(&cs->fills, 1, __ATOMIC_RELEASE);
}

static __thread int fill_always;

void chunk_cache_every_read(int on) { fill_always = on; }

/* b: just loaded from the object store, pinned by the caller. */
static void dc_put_later(struct chunk_store *cs, struct mblock *b)
{
	struct fjob *f;

	if (!cs->ndc)
		return;
	if (__atomic_load_n(&cs->fills, __ATOMIC_RELAXED) >= cs->conf.cache_fill_queue) {
		if (fill_always) {
			/* warmup: caching is the point */
			dc_put(cs, b->node.id, b->node.indx, b->len, b->data);
			return;
		}
		metric_add(cm.drops, 1);
		return; /* the fillers lag: this block goes uncached */
	}
	f = xmalloc(sizeof(*f));
	f->job.fn = fill_job;
	f->b = b;
	pthread_mutex_lock(&cs->mlk);
	b->refs++;
	b->fill_refs++;
	pthread_mutex_unlock(&cs->mlk);
	__atomic_add_fetch(&cs->fills, 1, __ATOMIC_RELAXED);
	if (cpool_submit(&cs->fillers, &f->job)) {
		if (fill_always)
			dc_put(cs, b->node.id, b->node.indx, b->len, b->data);
		pthread_mutex_lock(&cs->mlk);
		b->fill_refs--;
		pthread_mutex_unlock(&cs->mlk);
		mc_unref(cs, b);
		free(f);
		__atomic_sub_fetch(&cs->fills, 1, __ATOMIC_RELEASE);
	}
}

void chunk_store_wait_fills(struct chunk_store *cs)
{
	while (__atomic_load_n(&cs->fills, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static int stage_get(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		     uint32_t boff, void *dst, uint32_t len);

/*
 * Load a whole block into b->data: staging, disk cache, else the object
 * (decoded; *from_store set so the caller queues it for the disk cache).
 */
static int load_block(struct chunk_store *cs, struct mblock *b, int *from_store)
{
	char key[CHUNK_KEY_MAX];
	uint64_t id = b->node.id;
	uint32_t indx = b->node.indx, bsize = b->len;
	int algo = cs->conf.compress, pooled = 0;
	char *data = NULL, *packed = NULL;
	size_t cap = algo == CHUNK_COMPRESS_NONE ? bsize : chunk_compress_bound(algo, bsize);
	ssize_t n;
	int r = -EAGAIN;

	*from_store = 0;
	/* staged blocks first, as ever (none staged: no buffer taken for them) */
	if (__atomic_load_n(&cs->stt.n, __ATOMIC_RELAXED)) {
		data = blockbuf_get(cs, bsize, &pooled);
		if (!stage_get(cs, id, indx, bsize, 0, data, bsize))
			goto loaded;
	}
	/*
	 * The disk cache holds blocks decoded (compressed or encrypted volumes
	 * alike), so any whole block may be mapped.
	 */
	if (bsize >= MAP_MIN && cs->ndc && !__atomic_load_n(&cs->dc_no_map, __ATOMIC_RELAXED)) {
		r = dc_get(cs, id, indx, bsize, 0, NULL, bsize, &b->data, &b->maplen);
		if (!r) {
			blockbuf_put(cs, data, pooled);
			return 0;
		}
	}
	if (!data)
		data = blockbuf_get(cs, bsize, &pooled);
	if (r == -EAGAIN && !dc_get(cs, id, indx, bsize, 0, data, bsize, NULL, NULL)) {
loaded:
		b->data = data;
		b->pooled = pooled;
		return 0;
	}
	key_of(cs, key, id, indx, bsize);
	/* one byte more than any valid object, so an oversized one is caught */
	if (algo != CHUNK_COMPRESS_NONE)
		packed = xmalloc(cap + 1);
	n = get_retry(cs, key, 0, packed ? packed : data, cap + 1);
	if (n == -ENOENT) {
		/* the caller tells a released slice from a lost block (chunk_read) */
		log_debug("block %s is not in the object store", key);
		r = -ENOENT;
		goto out;
	}
	if (n < 0) {
		log_error("get block %s: %s", key, strerror((int)-n));
		r = -EIO;
		goto out;
	}
	if ((size_t)n > cap) {
		log_error("block %s: object larger than %zu bytes", key, cap);
		r = -EIO;
		goto out;
	}
	if ((r = chunk_decompress(algo, packed ? packed : data, (size_t)n, data, bsize))) {
		log_error("block %s: cannot decode %zd bytes into %u", key, n, bsize);
		r = -EIO;
		goto out;
	}
	b->data = data;
	b->pooled = pooled;
	*from_store = 1;
	data = NULL;
out:
	free(packed);
	blockbuf_put(cs, data, pooled);
	if (r)
		STAT_ADD(cs, get_failures, 1);
	return r;
}

/* Get a whole block pinned in the memory cache, fetching it once for all waiters. */
static int get_block(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		     struct mblock **out)
{
	struct mblock *b;
	int r, from_store = 0;

	pthread_mutex_lock(&cs->mlk);
	b = mc_lookup_locked(cs, id, indx, &r);
	if (b || r) {
		pthread_mutex_unlock(&cs->mlk);
		*out = b;
		return r;
	}
	b = xcalloc(1, sizeof(*b));
	b->node.id = id;
	b->node.indx = indx;
	b->len = bsize;
	b->refs = 1;
	b->loading = 1;
	b->hashed = 1;
	btable_insert(&cs->mt, &b->node);
	pthread_mutex_unlock(&cs->mlk);

	/* b->data is written here only, before loading is cleared under the lock */
	r = load_block(cs, b, &from_store);

	pthread_mutex_lock(&cs->mlk);
	b->loading = 0;
	if (r) {
		b->err = r;
		if (b->hashed) {
			btable_remove(&cs->mt, &b->node);
			b->hashed = 0;
		}
	} else {
		if (b->hashed && bsize <= cs->mc_cap) {
			b->cached = 1;
			lru_push(cs, b);
			cs->mc_used += bsize;
			mc_evict_locked(cs);
		} else if (b->hashed) {
			btable_remove(&cs->mt, &b->node);
			b->hashed = 0;
		}
	}
	pthread_cond_broadcast(&cs->mcond);
	if (r) {
		if (!--b->refs && !b->hashed)
			mblock_free(cs, b);
		b = NULL;
	}
	pthread_mutex_unlock(&cs->mlk);
	if (b && from_store)
		dc_put_later(cs, b);
	*out = b;
	return r;
}

static int put_retry(struct chunk_store *cs, const char *key, const void *data, size_t len)
{
	int r = -EIO;
	for (int tries = 0; tries <= cs->conf.io_retries; tries++) {
		if (tries && backoff(cs, tries))
			break;
		uint64_t t0 = metric_now_us();
		metric_gauge_add(metric_get(cm.uploading), 1);
		r = obj_put(cs->obj, key, data, len);
		metric_gauge_add(metric_get(cm.uploading), -1);
		cm_request(REQ_PUT, t0, r != 0);
		if (!r) {
			metric_add(cm.bytes_put, len);
			STAT_ADD(cs, puts, 1);
			return 0;
		}
		log_warn("put %s: %s (try %d)", key, strerror(-r), tries + 1);
		if (r == -ENOSPC) /* a full disk does not empty itself: report it now */
			break;
	}
	STAT_ADD(cs, put_failures, 1);
	log_error("upload %s failed: %s", key, strerror(-r));
	return r == -ENOSPC ? -ENOSPC : -EIO;
}

static int delete_retry(struct chunk_store *cs, const char *key)
{
	int r = 0;
	for (int tries = 0; tries < DELETE_TRIES; tries++) {
		if (tries && backoff(cs, tries))
			break;
		uint64_t t0 = metric_now_us();
		r = obj_delete(cs->obj, key);
		cm_request(REQ_DELETE, t0, r && r != -ENOENT);
		if (!r || r == -ENOENT)
			return 0;
		log_warn("delete %s: %s (try %d)", key, strerror(-r), tries + 1);
	}
	return r ? r : -EIO;
}

/* --------------------------------------------------------------- staging */

/*
 * A staged block not uploaded yet (chunk.h S1-S5). Its life:
 *
 *   stage_block --> WAITING (on the wait list, until due) --scheduler-->
 *   QUEUED (in the stagers pool) --upload ok--> gone (linked into raw/)
 *                                --upload failed--> WAITING (due later)
 *
 * A deletion removes a WAITING entry and its file at once; a QUEUED one is
 * marked doomed and its job removes it (and the object, if the put went
 * through). Entries live in cs->stt under cs->slk.
 */
struct sentry {
	struct bnode node; /* first: the hash table links these */
	uint32_t bsize;
	struct dcache *d;
	int64_t due_ms; /* wall clock: not uploaded before */
	int64_t staged_ms; /* wall clock: when it was staged (set once) */
	int queued;
	int doomed;
	int tries;
	struct sentry *prev, *next; /* wait list, by due_ms */
};

struct sjob {
	struct cjob job;
	struct sentry *e;
};

static int64_t wall_ms(void) { return now_us() / 1000; }

static void stage_path(const struct chunk_store *cs, const struct dcache *d, struct buf *p,
		       uint64_t id, uint32_t indx, uint32_t bsize)
{
	char key[CHUNK_KEY_MAX];
	key_of(cs, key, id, indx, bsize);
	buf_reset(p);
	buf_adds(p, d->staging);
	buf_adds(p, key);
}

/* Insert into the wait list, kept sorted by due time (appends are the common case). */
static void wait_insert_locked(struct chunk_store *cs, struct sentry *e)
{
	struct sentry *after = cs->wait_tail;
	while (after && after->due_ms > e->due_ms)
		after = after->prev;
	e->prev = after;
	e->next = after ? after->next : cs->wait_head;
	if (e->next)
		e->next->prev = e;
	else
		cs->wait_tail = e;
	if (after)
		after->next = e;
	else
		cs->wait_head = e;
	pthread_cond_broadcast(&cs->scond);
}

static void wait_remove_locked(struct chunk_store *cs, struct sentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		cs->wait_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		cs->wait_tail = e->prev;
	e->prev = e->next = NULL;
}

/* Recovery-only holders give the directory back once their blocks are out (S4). */
static void stage_forget_locked(struct chunk_store *cs, struct sentry *e)
{
	struct dcache *d = e->d;
	btable_remove(&cs->stt, &e->node);
	cs->staged_bytes -= e->bsize;
	if (!--d->nstaged && !cs->conf.writeback && d->locked) {
		flock(d->lock_fd, LOCK_UN);
		d->locked = 0;
	}
	free(e);
	pthread_cond_broadcast(&cs->scond);
}

static void stage_upload_job(struct chunk_store *cs, struct cjob *j, struct scratch *s);

static void stage_queue_locked(struct chunk_store *cs, struct sentry *e)
{
	struct sjob *sj = xcalloc(1, sizeof(*sj));
	sj->job.fn = stage_upload_job;
	sj->e = e;
	e->queued = 1;
	cs->sbusy++;
	if (cpool_submit(&cs->stagers, &sj->job)) {
		/* stopping: it stays staged for the next start */
		e->queued = 0;
		cs->sbusy--;
		free(sj);
	}
}

/* Register a staged block (its file is durable); due at due_ms. */
static void stage_add(struct chunk_store *cs, struct dcache *d, uint64_t id, uint32_t indx,
		      uint32_t bsize, int64_t due_ms)
{
	struct sentry *e = xcalloc(1, sizeof(*e));
	e->node.id = id;
	e->node.indx = indx;
	e->bsize = bsize;
	e->d = d;
	e->due_ms = due_ms;
	e->staged_ms = due_ms - cs->conf.upload_delay_ms;
	pthread_mutex_lock(&cs->slk);
	BUG_ON(btable_find(&cs->stt, id, indx));
	btable_insert(&cs->stt, &e->node);
	cs->staged_bytes += bsize;
	d->nstaged++;
	if (due_ms <= wall_ms() && !cs->wait_head)
		stage_queue_locked(cs, e);
	else
		wait_insert_locked(cs, e);
	pthread_mutex_unlock(&cs->slk);
}

/* Staging is refused (the block is put directly) below half the free-space ratio, as JuiceFS. */
static int stage_space_low(struct chunk_store *cs, struct dcache *d)
{
	int64_t now = mono_ms();
	struct statvfs sv;
	int low;

	pthread_mutex_lock(&d->lock);
	if (now - d->stage_checked_ms >= 1000) {
		d->stage_checked_ms = now;
		d->stage_low = !statvfs(d->root, &sv) && sv.f_blocks &&
			       (double)sv.f_bavail / (double)sv.f_blocks <
				       cs->conf.free_space_ratio / 2;
	}
	low = d->stage_low;
	pthread_mutex_unlock(&d->lock);
	return low;
}

/* S1: write the block durably into rawstaging and register it. 0 or -errno. */
static int stage_block(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		       const void *data)
{
	struct dcache *d = dc_for(cs, id, indx);
	struct buf p = BUF_INIT;
	int r;

	if (!d || !d->locked)
		return -ENOTSUP;
	if (stage_space_low(cs, d))
		return -ENOSPC;
	stage_path(cs, d, &p, id, indx, bsize);
	metric_gauge_add(metric_get(cm.stg_writing), 1);
	r = dc_write_file(cs, p.ptr, data, bsize, d->staging);
	metric_gauge_add(metric_get(cm.stg_writing), -1);
	if (r) {
		metric_add(cm.stg_errors, 1);
		log_warn("stage block %s: %s; uploading it directly", p.ptr, strerror(-r));
	} else {
		metric_add(cm.stg_write_bytes, bsize);
		stage_add(cs, d, id, indx, bsize, wall_ms() + cs->conf.upload_delay_ms);
	}
	buf_release(&p);
	if (!r)
		STAT_ADD(cs, stage_writes, 1);
	return r;
}

/* S3: read from the staging file; -ENOENT when not staged (or uploaded meanwhile). */
static int stage_get(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		     uint32_t boff, void *dst, uint32_t len)
{
	struct sentry *e;
	struct buf p = BUF_INIT;
	int r;

	/* a block is listed before its slice is committed, so readers of it see n > 0 */
	if (!__atomic_load_n(&cs->stt.n, __ATOMIC_RELAXED))
		return -ENOENT;
	pthread_mutex_lock(&cs->slk);
	e = (struct sentry *)btable_find(&cs->stt, id, indx);
	if (!e || e->doomed || e->bsize != bsize) {
		pthread_mutex_unlock(&cs->slk);
		return -ENOENT;
	}
	stage_path(cs, e->d, &p, id, indx, bsize);
	pthread_mutex_unlock(&cs->slk);
	r = read_block_file(p.ptr, bsize, boff, dst, len, NULL, NULL);
	if (r == -EIO)
		log_error("staged block %s is unreadable", p.ptr);
	buf_release(&p);
	return r ? -ENOENT : 0;
}

/* 1 when the block is staged (a read of it is served from the staging file). */
static int stage_has(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize)
{
	struct sentry *e;
	int r;

	if (!__atomic_load_n(&cs->stt.n, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&cs->slk);
	e = (struct sentry *)btable_find(&cs->stt, id, indx);
	r = e && !e->doomed && e->bsize == bsize;
	pthread_mutex_unlock(&cs->slk);
	return r;
}

/* S5: the slice goes away; drop a staged block of it. */
static void stage_drop(struct chunk_store *cs, uint64_t id, uint32_t indx)
{
	struct sentry *e;
	struct buf p = BUF_INIT;

	if (!__atomic_load_n(&cs->stt.n, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&cs->slk);
	e = (struct sentry *)btable_find(&cs->stt, id, indx);
	if (e && !e->doomed) {
		stage_path(cs, e->d, &p, id, indx, e->bsize);
		if (e->queued) {
			e->doomed = 1; /* its job unlinks the file and deletes the object */
			buf_reset(&p);
		} else {
			wait_remove_locked(cs, e);
			stage_forget_locked(cs, e);
		}
	}
	pthread_mutex_unlock(&cs->slk);
	if (p.len && unlink(p.ptr) && errno != ENOENT)
		log_warn("remove staged block %s: %s", p.ptr, strerror(errno));
	buf_release(&p);
}

/* After the upload the staged file becomes a read-cache file: a link, no copy. */
static void dc_adopt(struct chunk_store *cs, struct dcache *d, uint64_t id, uint32_t indx,
		     uint32_t bsize, const char *from)
{
	struct buf p = BUF_INIT;
	struct stat st;
	struct dentry *e;

	if (!d->cap || stat(from, &st))
		return;
	uint64_t acct = (uint64_t)st.st_size + CACHE_ITEM_OVERHEAD;
	pthread_mutex_lock(&d->lock);
	if (btable_find(&d->t, id, indx) || acct > d->cap) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	while (d->used + acct > d->cap && dc_evict_one_locked(cs, d))
		;
	if (d->used + acct > d->cap) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->node.id = id;
	e->node.indx = indx;
	e->bsize = bsize;
	e->busy = 1;
	e->acct = acct;
	e->atime = mono_ms();
	dc_add_locked(d, e);
	pthread_mutex_unlock(&d->lock);

	dc_path(cs, d, &p, id, indx, bsize);
	int r = link(from, p.ptr);
	if (r && errno == ENOENT) {
		char *dir = xstrdup(p.ptr);
		mode_t dmode = cs->conf.cache_mode | ((cs->conf.cache_mode & 0444) >> 2);
		*strrchr(dir, '/') = 0;
		mkdir_p(dir, dmode | 0700);
		free(dir);
		r = link(from, p.ptr);
	}
	pthread_mutex_lock(&d->lock);
	e->busy = 0;
	if (r || e->doomed) {
		if (!r)
			unlink(p.ptr);
		dc_del_locked(d, e);
		free(e);
	}
	pthread_mutex_unlock(&d->lock);
	buf_release(&p);
}

static void stage_upload_job(struct chunk_store *cs, struct cjob *j, struct scratch *s)
{
	struct sentry *e = ((struct sjob *)j)->e;
	struct buf p = BUF_INIT;
	char key[CHUNK_KEY_MAX];
	uint64_t id = e->node.id;
	uint32_t indx = e->node.indx, bsize = e->bsize;
	int64_t staged_ms = e->staged_ms;
	char *data = xmalloc(MAX(bsize, 1U));
	int r, doomed, active;

	free(j);
	key_of(cs, key, id, indx, bsize);
	stage_path(cs, e->d, &p, id, indx, bsize);
	pthread_mutex_lock(&cs->slk);
	doomed = e->doomed; /* e stays ours while queued: drop only marks it */
	pthread_mutex_unlock(&cs->slk);

	r = doomed ? -ECANCELED : read_block_file(p.ptr, bsize, 0, data, bsize, NULL, NULL);
	struct obj_info oi;
	int hr = -1;
	if (r == -ENOENT) {
		uint64_t t0 = metric_now_us();
		hr = obj_head(cs->obj, key, &oi);
		cm_request(REQ_HEAD, t0, hr && hr != -ENOENT);
	}
	if (r == -ENOENT && !hr) {
		/* a client that ignores our lock (the real one) uploaded it already */
		log_debug("staged block %s is gone and %s is stored", p.ptr, key);
	} else if (r == -ENOENT || r == -EIO) {
		/* committed data is gone: say so loudly; reads fail with EIO, never zeros */
		log_error("staged block %s is %s: its data is lost", p.ptr,
			  r == -ENOENT ? "missing" : "corrupt");
	} else if (!r) {
		const void *payload = data;
		size_t plen = bsize;
		active = __atomic_add_fetch(&cs->uploads_active, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&cs->blk);
		if ((uint64_t)active > cs->st.uploads_active_peak)
			cs->st.uploads_active_peak = (uint64_t)active;
		pthread_mutex_unlock(&cs->blk);
		if (cs->conf.compress != CHUNK_COMPRESS_NONE) {
			size_t bound = chunk_compress_bound(cs->conf.compress, bsize);
			if (s->cap < bound) {
				free(s->buf);
				s->buf = xmalloc(bound);
				s->cap = bound;
			}
			if (cs->conf.compress == CHUNK_COMPRESS_ZSTD && !s->cctx)
				s->cctx = ZSTD_createCCtx();
			ssize_t n = compress_with(cs->conf.compress, s->cctx, data, bsize, s->buf,
						  s->cap);
			payload = s->buf;
			plen = n < 0 ? 0 : (size_t)n;
			r = n < 0 ? -EIO : 0;
		}
		if (!r) {
			int64_t waited = wall_ms() - staged_ms;
			metric_add(cm.stg_delay, waited > 0 ? (uint64_t)waited : 0);
			r = put_retry(cs, key, payload, plen);
		}
		__atomic_sub_fetch(&cs->uploads_active, 1, __ATOMIC_RELAXED);
		if (r)
			r = -EAGAIN; /* stays staged: tried again later */
	}
	free(data);

	pthread_mutex_lock(&cs->slk);
	e->queued = 0;
	doomed = e->doomed;
	if (r == -EAGAIN && !doomed) {
		e->tries++;
		e->due_ms = wall_ms() + MIN((int64_t)STAGE_RETRY_MS * e->tries, STAGE_RETRY_MAX_MS);
		wait_insert_locked(cs, e);
		pthread_mutex_unlock(&cs->slk);
		goto out;
	}
	struct dcache *d = e->d;
	stage_forget_locked(cs, e); /* S2: unlisted before the file goes */
	pthread_mutex_unlock(&cs->slk);
	if (doomed) {
		/* the slice was deleted meanwhile: whatever was put (or half put) must go too */
		if ((!r || r == -EAGAIN) && delete_retry(cs, key))
			log_warn("block %s of a deleted slice is left behind", key);
	} else if (!r && dc_for(cs, id, indx) == d) {
		dc_adopt(cs, d, id, indx, bsize, p.ptr);
	}
	if (doomed) {
		unlink(p.ptr);
	} else if (!r) {
		/*
		 * A put is not durable in every store (the file store syncs on
		 * obj_sync only): the staged copy goes once a sync covers it (S2).
		 */
		pthread_mutex_lock(&cs->slk);
		if (cs->nunsynced == cs->unsynced_alloc) {
			cs->unsynced_alloc = cs->unsynced_alloc ? cs->unsynced_alloc * 2 : 64;
			cs->unsynced =
				xrealloc(cs->unsynced, cs->unsynced_alloc * sizeof(*cs->unsynced));
		}
		cs->unsynced[cs->nunsynced++] = buf_detach(&p, NULL);
		pthread_mutex_unlock(&cs->slk);
	}
out:
	/* counted busy until the file is gone, so chunk_store_wait_staged means "on disk: done" */
	pthread_mutex_lock(&cs->slk);
	cs->sbusy--;
	pthread_cond_broadcast(&cs->scond);
	pthread_mutex_unlock(&cs->slk);
	buf_release(&p);
}

/*
 * Make the uploads behind the listed staged files durable, then unlink the
 * files; on a failed sync they stay listed for the next round. Called
 * without slk held.
 */
static void stage_sync_unlink(struct chunk_store *cs)
{
	char **v;
	size_t n;

	pthread_mutex_lock(&cs->slk);
	v = cs->unsynced;
	n = cs->nunsynced;
	cs->unsynced = NULL;
	cs->nunsynced = cs->unsynced_alloc = 0;
	cs->unlinking += n;
	pthread_mutex_unlock(&cs->slk);
	if (!n)
		return;
	int r = obj_sync(cs->obj);
	if (r) {
		log_warn("sync uploaded blocks: %s; their staged copies stay", strerror(-r));
		pthread_mutex_lock(&cs->slk);
		for (size_t i = 0; i < n; i++) {
			if (cs->nunsynced == cs->unsynced_alloc) {
				cs->unsynced_alloc = cs->unsynced_alloc ? cs->unsynced_alloc * 2 : 64;
				cs->unsynced = xrealloc(cs->unsynced,
							cs->unsynced_alloc * sizeof(*cs->unsynced));
			}
			cs->unsynced[cs->nunsynced++] = v[i];
		}
		cs->unlinking -= n;
		pthread_mutex_unlock(&cs->slk);
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (unlink(v[i]) && errno != ENOENT)
			log_warn("remove staged block %s: %s", v[i], strerror(errno));
		free(v[i]);
	}
	free(v);
	pthread_mutex_lock(&cs->slk);
	cs->unlinking -= n;
	pthread_cond_broadcast(&cs->scond);
	pthread_mutex_unlock(&cs->slk);
}

/* 1 when some cache disk has less free space than --free-space-ratio. */
static int stage_disk_low(struct chunk_store *cs)
{
	struct statvfs sv;

	for (size_t i = 0; i < cs->ndc; i++)
		if (cs->dc[i].locked && !statvfs(cs->dc[i].root, &sv) && sv.f_blocks &&
		    (double)sv.f_bavail / (double)sv.f_blocks < cs->conf.free_space_ratio)
			return 1;
	return 0;
}

/*
 * Moves due entries of the wait list to the stagers pool (upload delay,
 * retries). When a cache disk runs short of space, the oldest waiting blocks
 * go out before their delay, as JuiceFS's uploadStaging does.
 */
static void *stage_sched_main(void *arg)
{
	struct chunk_store *cs = arg;
	int64_t checked = 0, synced = mono_ms();

	pthread_mutex_lock(&cs->slk);
	while (!cs->sched_stop) {
		int64_t now = wall_ms();
		/* one store sync per second at most covers every upload since the last */
		if (cs->nunsynced && (mono_ms() - synced >= 1000 || cs->nunsynced >= 4096)) {
			pthread_mutex_unlock(&cs->slk);
			stage_sync_unlink(cs);
			synced = mono_ms();
			pthread_mutex_lock(&cs->slk);
			continue;
		}
		if (cs->wait_head && cs->wait_head->due_ms > now && mono_ms() - checked >= 1000) {
			pthread_mutex_unlock(&cs->slk);
			int low = stage_disk_low(cs);
			checked = mono_ms();
			pthread_mutex_lock(&cs->slk);
			for (int n = 0; low && cs->wait_head && n < cs->conf.max_uploads &&
					cs->sbusy < 2 * cs->conf.max_uploads;
			     n++) {
				struct sentry *e = cs->wait_head;
				wait_remove_locked(cs, e);
				stage_queue_locked(cs, e);
			}
		}
		while (cs->wait_head && cs->wait_head->due_ms <= now) {
			struct sentry *e = cs->wait_head;
			wait_remove_locked(cs, e);
			stage_queue_locked(cs, e);
		}
		int64_t wake = cs->wait_head ? MIN(cs->wait_head->due_ms, now + 1000) : now + 1000;
		struct timespec ts = { (time_t)(wake / 1000), (long)(wake % 1000) * 1000000 };
		pthread_cond_timedwait(&cs->scond, &cs->slk, &ts);
	}
	pthread_mutex_unlock(&cs->slk);
	return NULL;
}

int chunk_store_wait_staged(struct chunk_store *cs, int64_t timeout_ms)
{
	int64_t end = mono_ms() + timeout_ms;
	int r = 0;

	pthread_mutex_lock(&cs->slk);
	for (;;) {
		int64_t now = wall_ms();
		int due = cs->sbusy || cs->nunsynced || cs->unlinking ||
			  (cs->wait_head && cs->wait_head->due_ms <= now);
		if (!due)
			break;
		if (mono_ms() >= end) {
			r = -ETIMEDOUT;
			break;
		}
		pthread_mutex_unlock(&cs->slk);
		sleep_ms(5);
		pthread_mutex_lock(&cs->slk);
	}
	pthread_mutex_unlock(&cs->slk);
	return r;
}

/* The pid holding a flock on fd's file, from /proc/locks; 0 when unknown. */
static int flock_holder(int fd)
{
	struct stat st;
	char want[64], line[256];
	int pid = 0;
	FILE *f;

	if (fstat(fd, &st) || !(f = fopen("/proc/locks", "r")))
		return 0;
	snprintf(want, sizeof(want), "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
		 (unsigned long long)st.st_ino);
	while (!pid && fgets(line, sizeof(line), f)) {
		char type[16], dev[64];
		int p;
		if (strstr(line, "->"))
			continue; /* a waiter, not the holder */
		if (sscanf(line, "%*[^:]: %15s %*s %*s %d %63s", type, &p, dev) == 3 &&
		    !strcmp(type, "FLOCK") && !strcmp(dev, want))
			pid = p;
	}
	fclose(f);
	return pid;
}

static int scan_cmp(const void *a, const void *b)
{
	const struct sentry *x = *(struct sentry *const *)a, *y = *(struct sentry *const *)b;
	return x->due_ms < y->due_ms ? -1 : x->due_ms > y->due_ms;
}

struct scan_acc {
	struct sentry **v;
	size_t n, alloc;
	uint64_t bytes;
};

/* Collect the staged blocks under path (S4: crash recovery); drop leftover .tmp files. */
static void stage_scan_dir(struct chunk_store *cs, struct dcache *d, struct buf *path, int depth,
			   struct scan_acc *acc)
{
	DIR *dir = opendir(path->ptr);
	struct dirent *de;
	size_t base = path->len;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct stat st;
		uint64_t id;
		uint32_t indx, bsize;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		path->len = base;
		path->ptr[base] = 0;
		buf_addf(path, "/%s", de->d_name);
		if (lstat(path->ptr, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < 4)
				stage_scan_dir(cs, d, path, depth + 1, acc);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		size_t nl = strlen(de->d_name);
		if (nl > 4 && !strcmp(de->d_name + nl - 4, ".tmp")) {
			unlink(path->ptr); /* never renamed: its slice was never committed */
			continue;
		}
		struct buf want = BUF_INIT;
		int ok = !parse_block_name(de->d_name, &id, &indx, &bsize) && id && bsize;
		if (ok) {
			/*
			 * Not checked against dc_for(): with another list of cache
			 * directories than at the crash, the block is still uploaded
			 * from where it is.
			 */
			stage_path(cs, d, &want, id, indx, bsize);
			ok = !strcmp(want.ptr, path->ptr);
		}
		buf_release(&want);
		if (!ok) {
			log_warn("ignore invalid file in staging: %s", path->ptr);
			continue;
		}
		if (btable_find(&cs->stt, id, indx))
			continue;
		struct sentry *e = xcalloc(1, sizeof(*e));
		e->node.id = id;
		e->node.indx = indx;
		e->bsize = bsize;
		e->d = d;
		e->due_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 +
			    cs->conf.upload_delay_ms;
		btable_insert(&cs->stt, &e->node);
		if (acc->n == acc->alloc) {
			acc->alloc = acc->alloc ? acc->alloc * 2 : 64;
			acc->v = xrealloc(acc->v, acc->alloc * sizeof(*acc->v));
		}
		acc->v[acc->n++] = e;
		acc->bytes += bsize;
	}
	closedir(dir);
	path->len = base;
	path->ptr[base] = 0;
}

/* 1 when rawstaging holds anything at all. */
static int stage_dir_busy(const char *staging)
{
	char *p = xasprintf("%schunks", staging);
	DIR *dir = opendir(p);
	struct dirent *de;
	int busy = 0;

	free(p);
	if (!dir)
		return 0;
	while (!busy && (de = readdir(dir)))
		busy = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(dir);
	return busy;
}

/*
 * S4 for one cache directory: take the lock (writeback: or fail), then find
 * what an earlier client left staged. Called before any writer exists.
 */
static int stage_open(struct chunk_store *cs, struct dcache *d)
{
	struct buf p = BUF_INIT;
	struct scan_acc acc = { NULL, 0, 0, 0 };
	mode_t dmode = cs->conf.cache_mode | ((cs->conf.cache_mode & 0444) >> 2) | 0700;
	int r = 0;

	d->staging = xasprintf("%srawstaging/", d->root);
	if (!cs->conf.writeback && !stage_dir_busy(d->staging))
		return 0;
	buf_addf(&p, "%s.lock", d->root);
	d->lock_fd = open(p.ptr, O_RDONLY | O_CLOEXEC);
	if (d->lock_fd < 0) {
		r = -errno;
		log_error("open %s: %s", p.ptr, strerror(-r));
		goto out;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
		int pid = flock_holder(d->lock_fd);
		if (!cs->conf.writeback)
			goto out; /* its owner uploads what is staged there */
		r = -EBUSY;
		if (cs->conf.err) {
			buf_reset(cs->conf.err);
			buf_addf(cs->conf.err,
				 "cache directory %s is in use by another client that stages "
				 "--writeback blocks there",
				 d->root);
			if (pid)
				buf_addf(cs->conf.err, " (pid %d)", pid);
			buf_adds(cs->conf.err, "; give each client its own --cache-dir");
		}
		goto out;
	}
	d->locked = 1;
	/* rawstaging and the directories above it must survive a power loss (S1) */
	if (mkdir(d->staging, dmode) == 0 || errno == EEXIST) {
		char *up = xasprintf("%s..", d->root);
		fsync_dir(d->root);
		fsync_dir(up);
		free(up);
	}
	buf_reset(&p);
	buf_addf(&p, "%schunks", d->staging);
	pthread_mutex_lock(&cs->slk);
	stage_scan_dir(cs, d, &p, 0, &acc);
	if (acc.n) {
		qsort(acc.v, acc.n, sizeof(*acc.v), scan_cmp);
		for (size_t i = 0; i < acc.n; i++)
			wait_insert_locked(cs, acc.v[i]);
		d->nstaged += acc.n;
		cs->staged_bytes += acc.bytes;
		log_info("found %zu staged blocks (%llu bytes) in %s: uploading them", acc.n,
			 (unsigned long long)acc.bytes, d->staging);
	} else if (!cs->conf.writeback) {
		flock(d->lock_fd, LOCK_UN);
		d->locked = 0;
	}
	pthread_mutex_unlock(&cs->slk);
out:
	free(acc.v);
	buf_release(&p);
	return r;
}

/* ------------------------------------------------------------------ writer */

struct chunk_writer {
	struct chunk_store *cs;
	uint64_t id;
	uint32_t len, flushed;
	char *cur;             /* partial block [flushed, flushed + bs) */
	size_t cur_alloc;
	int cur_pooled;        /* cur is a whole-block buffer (blockbuf_get) */
	uint64_t cur_reserved; /* budget held for cur */
	uint32_t tail_len;     /* length of the short last block, once submitted */
	int finished;
	int writeback;         /* stage blocks instead of putting them (S1) */

	pthread_mutex_t lock; /* the fields below are shared with upload workers */
	pthread_cond_t cond;
	int pending;
	int err;
	int cancel;
};

struct ujob {
	struct cjob job;
	struct chunk_writer *w;
	uint32_t indx, len;
	char *data;
	int pooled; /* data came from blockbuf_get */
	uint64_t reserved;
	int slot;   /* run in place: the caller took its upload slot */
};

static int upload_slots(const struct chunk_store *cs)
{
	return MAX(cs->conf.max_uploads, 1);
}

static void upload_job(struct chunk_store *cs, struct cjob *j, struct scratch *s)
{
	struct ujob *u = (struct ujob *)j;
	struct chunk_writer *w = u->w;
	char key[CHUNK_KEY_MAX];
	int skip, r = 0, active;

	pthread_mutex_lock(&w->lock);
	skip = w->cancel || w->err;
	pthread_mutex_unlock(&w->lock);

	pthread_mutex_lock(&cs->blk);
	if (!u->slot) {
		while (cs->uslots >= upload_slots(cs))
			pthread_cond_wait(&cs->ucond, &cs->blk);
		cs->uslots++;
	}
	active = __atomic_add_fetch(&cs->uploads_active, 1, __ATOMIC_RELAXED);
	if ((uint64_t)active > cs->st.uploads_active_peak)
		cs->st.uploads_active_peak = (uint64_t)active;
	if (cs->uqueued-- == UPLOAD_QUEUE_MAX)
		pthread_cond_broadcast(&cs->bcond);
	pthread_mutex_unlock(&cs->blk);

	/* S1: a block that cannot be staged (disk full or failing) is put directly */
	if (!skip && w->writeback && !stage_block(cs, w->id, u->indx, u->len, u->data))
		skip = 1;
	else if (!skip) {
		const void *payload = u->data;
		size_t plen = u->len;
		key_of(cs, key, w->id, u->indx, u->len);
		if (cs->conf.compress != CHUNK_COMPRESS_NONE) {
			size_t bound = chunk_compress_bound(cs->conf.compress, u->len);
			if (s->cap < bound) {
				free(s->buf);
				s->buf = xmalloc(bound);
				s->cap = bound;
			}
			if (cs->conf.compress == CHUNK_COMPRESS_ZSTD && !s->cctx)
				s->cctx = ZSTD_createCCtx();
			ssize_t n = compress_with(cs->conf.compress, s->cctx, u->data, u->len,
						  s->buf, s->cap);
			if (n < 0) {
				log_error("compress block %s failed", key);
				r = -EIO;
			}
			payload = s->buf;
			plen = n < 0 ? 0 : (size_t)n;
		}
		if (!r)
			r = put_retry(cs, key, payload, plen);
		/* spec §6.1 step 8: a short block is also kept in the read cache */
		if (!r && u->len < cs->conf.block_size)
			dc_put(cs, w->id, u->indx, u->len, u->data);
	}
	__atomic_sub_fetch(&cs->uploads_active, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&cs->blk);
	cs->uslots--;
	pthread_cond_signal(&cs->ucond);
	pthread_mutex_unlock(&cs->blk);

	blockbuf_put(cs, u->data, u->pooled);
	budget_release(cs, u->reserved);
	pthread_mutex_lock(&w->lock);
	if (r && !w->err)
		w->err = r;
	w->pending--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	free(u);
}

struct chunk_writer *chunk_writer_new(struct chunk_store *cs, uint64_t id)
{
	struct chunk_writer *w = xcalloc(1, sizeof(*w));
	BUG_ON(!id);
	w->cs = cs;
	w->id = id;
	w->writeback = cs->conf.writeback;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_lock(&cs->blk);
	cs->nwriters++;
	pthread_mutex_unlock(&cs->blk);
	return w;
}

void chunk_writer_no_writeback(struct chunk_writer *w) { w->writeback = 0; }

uint64_t chunk_writer_id(const struct chunk_writer *w) { return w->id; }
uint32_t chunk_writer_len(const struct chunk_writer *w) { return w->len; }
uint32_t chunk_writer_flushed(const struct chunk_writer *w) { return w->flushed; }

static int writer_err(struct chunk_writer *w)
{
	pthread_mutex_lock(&w->lock);
	int r = w->err;
	pthread_mutex_unlock(&w->lock);
	return r;
}

/*
 * Hand cur (len bytes, block indx) to the upload pool; it owns the buffer
 * now. With `here`, upload it on the calling thread instead: the caller is
 * about to wait for it anyway (finish), and a 1 MiB PUT spent ~6 ms of its
 * ~20 waiting for a pool thread to be scheduled on a busy machine.
 */
static void writer_submit_how(struct chunk_writer *w, uint32_t len, int here)
{
	struct chunk_store *cs = w->cs;
	struct ujob *u = xcalloc(1, sizeof(*u));

	u->job.fn = upload_job;
	u->w = w;
	u->indx = w->flushed / cs->conf.block_size;
	u->len = len;
	u->data = w->cur;
	u->pooled = w->cur_pooled;
	u->reserved = w->cur_reserved;
	w->cur = NULL;
	w->cur_alloc = 0;
	w->cur_pooled = 0;
	w->cur_reserved = 0;
	pthread_mutex_lock(&w->lock);
	w->pending++;
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_lock(&cs->blk);
	cs->uqueued++;
	/* in place only with a free slot: --max-uploads holds either way */
	if (here && cs->uslots < upload_slots(cs)) {
		cs->uslots++;
		u->slot = 1;
	}
	pthread_mutex_unlock(&cs->blk);
	if (u->slot) {
		struct scratch sc = { NULL, 0, NULL };

		upload_job(cs, &u->job, &sc);
		free(sc.buf);
		ZSTD_freeCCtx(sc.cctx);
		return;
	}
	BUG_ON(cpool_submit(&cs->uploads, &u->job));
}

static void writer_submit(struct chunk_writer *w, uint32_t len)
{
	writer_submit_how(w, len, 0);
}

static int src_take(struct chunk_src *src, void *dst, size_t n)
{
	if (!src->mem)
		return src->read(src->arg, dst, n);
	memcpy(dst, src->mem, n);
	src->mem += n;
	return 0;
}

static int writer_write(struct chunk_writer *w, uint32_t off, struct chunk_src *src, size_t len,
			int nowait)
{
	struct chunk_store *cs = w->cs;
	uint32_t bs = cs->conf.block_size;
	int r;

	if (w->finished || off < w->flushed || off > w->len || len > CHUNK_MAX_SLICE - off)
		return -EINVAL;
	if ((r = writer_err(w)))
		return r;
	while (len) {
		uint32_t boff = off - w->flushed;
		uint32_t m = (uint32_t)MIN((size_t)(bs - boff), len);
		BUG_ON(boff >= bs);
		if (!w->cur) {
			/*
			 * Only before the first byte may this refuse: a later
			 * block follows one this write just queued, whose upload
			 * gives memory back.
			 */
			if (budget_acquire(cs, bs, !nowait))
				return -EAGAIN;
			w->cur_reserved = bs;
			/* later blocks of a slice will be full: allocate them whole */
			if (w->flushed) {
				w->cur = blockbuf_get(cs, bs, &w->cur_pooled);
				w->cur_alloc = bs;
			} else {
				w->cur_alloc = MIN(bs, FIRST_BLOCK_START);
				w->cur = xmalloc(w->cur_alloc);
			}
		}
		if (boff + m > w->cur_alloc) {
			size_t na = w->cur_alloc;
			while (na < boff + m)
				na *= 2;
			if (na >= bs) {
				/* the first block is becoming a whole one */
				char *whole = blockbuf_get(cs, bs, &w->cur_pooled);
				memcpy(whole, w->cur, w->len - w->flushed);
				free(w->cur);
				w->cur = whole;
				w->cur_alloc = bs;
			} else {
				w->cur_alloc = na;
				w->cur = xrealloc(w->cur, w->cur_alloc);
			}
		}
		/* a failed reader leaves len as it was: the bytes never landed */
		if ((r = src_take(src, w->cur + boff, m)))
			return r;
		if (off + m > w->len)
			w->len = off + m;
		off += m;
		len -= m;
		if (w->len - w->flushed == bs) {
			writer_submit(w, bs);
			w->flushed += bs;
		}
		nowait = 0; /* bytes went in: never report -EAGAIN after that */
	}
	return 0;
}

int chunk_writer_write(struct chunk_writer *w, uint32_t off, const void *data, size_t len)
{
	struct chunk_src src = { .mem = data };
	return writer_write(w, off, &src, len, 0);
}

int chunk_writer_write_nowait(struct chunk_writer *w, uint32_t off, const void *data,
			      size_t len)
{
	struct chunk_src src = { .mem = data };
	return writer_write(w, off, &src, len, 1);
}

int chunk_writer_write_src(struct chunk_writer *w, uint32_t off, struct chunk_src *src,
			   size_t len, int nowait)
{
	return writer_write(w, off, src, len, nowait);
}

static void writer_wait(struct chunk_writer *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->pending)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void writer_drop_cur(struct chunk_writer *w)
{
	blockbuf_put(w->cs, w->cur, w->cur_pooled);
	w->cur = NULL;
	w->cur_alloc = 0;
	w->cur_pooled = 0;
	budget_release(w->cs, w->cur_reserved);
	w->cur_reserved = 0;
}

int chunk_writer_finish(struct chunk_writer *w)
{
	if (!w->finished) {
		w->finished = 1;
		if (w->len > w->flushed && !writer_err(w)) {
			w->tail_len = w->len - w->flushed;
			/* a compressor is a pool thread's, kept across jobs */
			writer_submit_how(w, w->tail_len,
					  w->cs->conf.compress == CHUNK_COMPRESS_NONE);
		} else {
			writer_drop_cur(w);
		}
	}
	writer_wait(w);
	return writer_err(w);
}

void chunk_writer_abort(struct chunk_writer *w)
{
	struct chunk_store *cs = w->cs;
	uint32_t bs = cs->conf.block_size;
	uint32_t nfull = w->flushed / bs;
	char key[CHUNK_KEY_MAX];

	pthread_mutex_lock(&w->lock);
	w->cancel = 1;
	pthread_mutex_unlock(&w->lock);
	writer_wait(w);
	writer_drop_cur(w);
	w->finished = 1;
	/* the slice was never committed: nothing else can reference its blocks */
	for (uint32_t i = 0; i < nfull + (w->tail_len ? 1 : 0); i++) {
		uint32_t bl = i < nfull ? bs : w->tail_len;
		mc_drop(cs, w->id, i);
		dc_drop(cs, w->id, i);
		stage_drop(cs, w->id, i);
		key_of(cs, key, w->id, i, bl);
		if (delete_retry(cs, key))
			log_warn("abandoned block %s of an aborted slice is left behind", key);
	}
}

void chunk_writer_free(struct chunk_writer *w)
{
	if (!w)
		return;
	if (!w->finished)
		chunk_writer_abort(w);
	writer_wait(w);
	pthread_mutex_lock(&w->cs->blk);
	w->cs->nwriters--;
	pthread_mutex_unlock(&w->cs->blk);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

/* ------------------------------------------------------------------ reader */

struct pjob {
	struct cjob job;
	uint64_t id;
	uint32_t indx, bsize;
	int ahead;
};

static void prefetch_job(struct chunk_store *cs, struct cjob *j, struct scratch *s)
{
	struct pjob *p = (struct pjob *)j;
	struct mblock *b = NULL;
	int counted = p->ahead;
	UNUSED(s);
	if (!__atomic_load_n(&cs->stopping, __ATOMIC_RELAXED) &&
	    !get_block(cs, p->id, p->indx, p->bsize, &b)) {
		pthread_mutex_lock(&cs->mlk);
		if (counted && b->cached && !b->used && !b->ahead) {
			b->ahead = 1; /* its bytes stay counted until a reader has it */
			counted = 0;
		}
		pthread_mutex_unlock(&cs->mlk);
		mc_unref(cs, b);
	}
	if (counted) {
		pthread_mutex_lock(&cs->mlk);
		cs->ahead_bytes -= p->bsize;
		pthread_mutex_unlock(&cs->mlk);
	}
	free(p);
}

/* ahead: readahead of a sequential reader, bounded by the ahead budget */
static void prefetch_block(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
			   int ahead)
{
	struct pjob *p;

	if (!cs->ndc && bsize > cs->mc_cap)
		return; /* nowhere to keep it */
	pthread_mutex_lock(&cs->mlk);
	int skip = btable_find(&cs->mt, id, indx) != NULL ||
		   (ahead && cs->mc_cap && cs->ahead_bytes + bsize > cs->mc_cap / 2);
	if (!skip && ahead)
		cs->ahead_bytes += bsize;
	pthread_mutex_unlock(&cs->mlk);
	/*
	 * A block in the disk cache is read from there when wanted; but a
	 * sequential reader's next blocks are loaded ahead all the same: their
	 * cache files were written with O_DIRECT, so loading one faults it in
	 * from the disk, which on the reader's path halved a cached read.
	 */
	if (!skip && !ahead && dc_has(cs, id, indx))
		skip = 2;
	if (!skip) {
		p = xcalloc(1, sizeof(*p));
		p->job.fn = prefetch_job;
		p->id = id;
		p->indx = indx;
		p->bsize = bsize;
		p->ahead = ahead;
		if (!cpool_submit(&cs->prefetchers, &p->job))
			return;
		free(p); /* queue full or prefetch off: it was only a hint */
	}
	if (skip != 1 && ahead) {
		pthread_mutex_lock(&cs->mlk);
		cs->ahead_bytes -= bsize;
		pthread_mutex_unlock(&cs->mlk);
	}
}

void chunk_prefetch(struct chunk_store *cs, uint64_t id, uint32_t size, uint32_t off,
		    uint32_t len)
{
	uint32_t bs = cs->conf.block_size;
	if (!id || off >= size)
		return;
	len = MIN(len, size - off);
	for (uint32_t i = off / bs; len && (uint64_t)i * bs < (uint64_t)off + len; i++)
		prefetch_block(cs, id, i, chunk_block_len(size, i, bs), 1);
}

/* This thread's last block that chunk_read found missing (chunk_missing_key). */
static __thread char missing_key[CHUNK_KEY_MAX];

const char *chunk_missing_key(void)
{
	return missing_key;
}

/*
 * [boff, boff+len) of one block (spec §6.2 step 3), pinned: *bp is the block
 * (unref'd by the caller) and *ptr the first byte. With dst, a ranged GET
 * reads straight into dst and *bp is NULL; without, it reads into a block of
 * its own that is never cached.
 */
static int pin_block(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		     uint32_t boff, uint32_t len, char *dst, int flags, struct mblock **bp,
		     const char **ptr)
{
	int seq = flags & CHUNK_READ_SEQ;
	struct mblock *b;
	int r;

	*bp = NULL;
	pthread_mutex_lock(&cs->mlk);
	b = mc_lookup_locked(cs, id, indx, &r);
	if (b)
		mc_used_locked(cs, b);
	pthread_mutex_unlock(&cs->mlk);
	if (b)
		goto found;
	/*
	 * Only what is local: a block that is neither staged nor in the disk
	 * cache would be fetched, and the caller wants none. A cache file that
	 * goes (evicted, or found bad) before it is loaded is fetched after all:
	 * slower, the same bytes.
	 */
	if ((flags & CHUNK_READ_CACHED) && !stage_has(cs, id, indx, bsize) &&
	    !dc_has(cs, id, indx))
		return -EAGAIN;
	/*
	 * An uncompressed block read in part is a ranged GET when there is no
	 * disk cache, or when the read is small and not at the block start (the
	 * block is then prefetched whole for the neighbours). Not for a
	 * sequential reader: it reads the rest of the block next, and the
	 * ranged GETs fetched its bytes once more besides the whole block.
	 */
	if (cs->conf.compress == CHUNK_COMPRESS_NONE && !cs->conf.encrypted && len < bsize &&
	    !seq && (!cs->ndc || (len <= bsize / 4 && boff))) {
		char key[CHUNK_KEY_MAX];
		struct mblock *t = NULL;
		if (!dst) {
			t = xcalloc(1, sizeof(*t));
			t->data = xmalloc(len);
			t->len = len;
			t->refs = 1;
			dst = t->data;
		}
		if (!stage_get(cs, id, indx, bsize, boff, dst, len) ||
		    !dc_get(cs, id, indx, bsize, boff, dst, len, NULL, NULL))
			goto ranged;
		key_of(cs, key, id, indx, bsize);
		ssize_t n = get_retry(cs, key, boff, dst, len);
		if (n == -ENOENT) {
			log_debug("block %s is not in the object store", key);
			STAT_ADD(cs, get_failures, 1);
			mblock_free(cs, t);
			r = -ENOENT;
			goto missing;
		}
		if (n != (ssize_t)len) {
			if (n < 0)
				log_error("get block %s: %s", key, strerror((int)-n));
			else
				log_error("block %s: short read %zd < %u at %u", key, n, len, boff);
			STAT_ADD(cs, get_failures, 1);
			mblock_free(cs, t);
			return -EIO;
		}
		if (cs->ndc)
			prefetch_block(cs, id, indx, bsize, 0);
ranged:
		*bp = t;
		*ptr = dst;
		return 0;
	}
	if ((r = get_block(cs, id, indx, bsize, &b))) {
missing:
		if (r == -ENOENT)
			key_of(cs, missing_key, id, indx, bsize);
		return r;
	}
	pthread_mutex_lock(&cs->mlk);
	mc_used_locked(cs, b);
	pthread_mutex_unlock(&cs->mlk);
found:
	*bp = b;
	*ptr = b->data + boff;
	return 0;
}

static int read_block(struct chunk_store *cs, uint64_t id, uint32_t indx, uint32_t bsize,
		      uint32_t boff, char *dst, uint32_t len)
{
	struct mblock *b;
	const char *p;
	int r = pin_block(cs, id, indx, bsize, boff, len, dst, 0, &b, &p);
	if (!r && b) {
		memcpy(dst, p, len);
		mc_unref(cs, b);
	}
	return r;
}

/* Clip a read of a slice; 0 to go on, else what chunk_read returns. */
static ssize_t read_bounds(uint64_t id, uint32_t size, uint32_t off)
{
	if (!id || size > CHUNK_MAX_SLICE)
		return -EINVAL;
	return off >= size ? 0 : 1;
}

ssize_t chunk_read(struct chunk_store *cs, uint64_t id, uint32_t size, uint32_t off, void *dst,
		   size_t len)
{
	uint32_t bs = cs->conf.block_size;
	char *p = dst;
	size_t done = 0;
	ssize_t r = read_bounds(id, size, off);

	if (r <= 0)
		return r;
	len = MIN(len, (size_t)(size - off));
	while (done < len) {
		uint32_t indx = off / bs, boff = off % bs;
		uint32_t bsize = chunk_block_len(size, indx, bs);
		uint32_t m = (uint32_t)MIN((size_t)(bsize - boff), len - done);
		int e = read_block(cs, id, indx, bsize, boff, p + done, m);
		if (e)
			return e;
		done += m;
		off += m;
	}
	return (ssize_t)done;
}

static void vec_add(struct chunk_vec *v, const char *data, size_t len, void *pin)
{
	if (v->n == v->alloc) {
		v->alloc = v->alloc ? v->alloc * 2 : 8;
		v->p = xrealloc(v->p, v->alloc * sizeof(*v->p));
	}
	v->p[v->n++] = (struct chunk_piece){ data, len, pin };
	if (pin)
		STAT_ADD(v->cs, pins, 1);
}

void chunk_vec_add_static(struct chunk_vec *v, const char *data, size_t len)
{
	vec_add(v, data, len, NULL);
}

void chunk_vec_truncate(struct chunk_vec *v, size_t n)
{
	while (v->n > n) {
		struct chunk_piece *pc = &v->p[--v->n];
		if (pc->pin) {
			mc_unref(v->cs, pc->pin);
			__atomic_sub_fetch(&v->cs->st.pins, 1, __ATOMIC_RELAXED);
		}
	}
}

void chunk_vec_release(struct chunk_vec *v)
{
	if (!v)
		return;
	chunk_vec_truncate(v, 0);
	free(v->p);
	*v = (struct chunk_vec)CHUNK_VEC_INIT;
}

ssize_t chunk_read_pin(struct chunk_store *cs, uint64_t id, uint32_t size, uint32_t off,
		       size_t len, int flags, struct chunk_vec *v)
{
	uint32_t bs = cs->conf.block_size;
	size_t done = 0, n0 = v->n;
	ssize_t r = read_bounds(id, size, off);

	if (r <= 0)
		return r;
	BUG_ON(v->cs && v->cs != cs);
	v->cs = cs;
	len = MIN(len, (size_t)(size - off));
	while (done < len) {
		uint32_t indx = off / bs, boff = off % bs;
		uint32_t bsize = chunk_block_len(size, indx, bs);
		uint32_t m = (uint32_t)MIN((size_t)(bsize - boff), len - done);
		struct mblock *b;
		const char *p;
		int e = pin_block(cs, id, indx, bsize, boff, m, NULL, flags, &b, &p);
		if (e) {
			chunk_vec_truncate(v, n0);
			return e;
		}
		vec_add(v, p, m, b);
		done += m;
		off += m;
	}
	return (ssize_t)done;
}

/* ---------------------------------------------------------------- delete */

int chunk_delete_slice(struct chunk_store *cs, uint64_t id, uint32_t size)
{
	uint32_t bs = cs->conf.block_size, n = chunk_nblocks(size, bs);
	char key[CHUNK_KEY_MAX];
	int first = 0;

	for (uint32_t i = 0; i < n; i++) {
		mc_drop(cs, id, i);
		dc_drop(cs, id, i);
		stage_drop(cs, id, i);
	}
	for (uint32_t i = 0; i < n; i++) {
		key_of(cs, key, id, i, chunk_block_len(size, i, bs));
		int r = delete_retry(cs, key);
		if (r) {
			log_error("delete block %s: %s", key, strerror(-r));
			if (!first)
				first = r;
		}
	}
	return first;
}

int chunk_slice_deleter(void *arg, uint64_t id, uint32_t size)
{
	return chunk_delete_slice(arg, id, size);
}

/* ------------------------------------------------------------ lifecycle */

static int setup_disk_cache(struct chunk_store *cs)
{
	char **dirs;
	size_t n = 1, k = 0;
	int r = 0;

	if (!cs->uuid || !*cs->uuid) {
		log_error("a disk cache needs the volume UUID");
		return -EINVAL;
	}
	/* several directories are separated by ':'; the size is split evenly */
	for (const char *s = cs->cache_dir; *s; s++)
		n += *s == ':';
	dirs = xcalloc(n, sizeof(*dirs));
	for (const char *s = cs->cache_dir; *s;) {
		const char *e = strchr(s, ':');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l)
			dirs[k++] = xstrndup(s, l);
		s += l + (e ? 1 : 0);
	}
	/* dc_for() must see the final count while the index is rebuilt */
	cs->dc = xcalloc(MAX(k, (size_t)1), sizeof(*cs->dc));
	cs->ndc = k;
	for (size_t i = 0; i < k; i++)
		if (!r)
			r = dc_open(cs, &cs->dc[i], dirs[i], cs->conf.cache_size / k);
	for (size_t i = 0; i < k; i++)
		free(dirs[i]);
	free(dirs);
	return r;
}

/*
 * Threads that load blocks ahead of a reader. JuiceFS loads every block of
 * its readahead window in a goroutine of its own; here --prefetch (JuiceFS's
 * knob for whole-block prefetch of random reads, default 1) sized the pool
 * that readahead shares, so one thread fetched every block of a sequential
 * reader, one pread at a time.
 *
 * Opening a sealed block is CPU work (RSA unwrap and AEAD, ~2 ms of a core
 * per 4 MiB): with one loader, an encrypted volume's reader waited on one
 * core's decryption while the other idled (perf: the prefetcher 100 % busy,
 * 0.74 of the plain GET), so an encrypted store gets one loader per CPU (at
 * most PREFETCH_CPU_MAX). A plain block's loader mostly waits for the object
 * (a cold pread, a GET): it gets at least READAHEAD_LOADERS, the blocks the
 * ahead budget admits at the defaults (half the 32 MiB memory cache, 4 MiB
 * blocks). With 4 instead of 1, 1 job read 1.74x and 4 jobs 1.44x as fast
 * (doc/read-path.md). --prefetch above that still wins; --prefetch 0 still
 * turns both off.
 */
#define PREFETCH_CPU_MAX 8
#define READAHEAD_LOADERS 4
static int prefetch_threads(const struct chunk_conf *c)
{
	if (c->prefetch <= 0)
		return c->prefetch;
	long n = MIN(MAX(sysconf(_SC_NPROCESSORS_ONLN), 1L), (long)PREFETCH_CPU_MAX);
	if (!c->encrypted)
		n = MAX(n, READAHEAD_LOADERS);
	return MAX(c->prefetch, (int)n);
}

int chunk_store_new(struct obj_store *obj, const struct chunk_conf *c, struct chunk_store **out)
{
	struct chunk_store *cs;
	int r;

	if (!obj || c->block_size < CHUNK_MIN_BLOCK || c->block_size > CHUNK_MAX_BLOCK ||
	    c->compress < CHUNK_COMPRESS_NONE || c->compress > CHUNK_COMPRESS_ZSTD ||
	    c->io_retries < 0 || c->retry_unit_ms < 0 || c->free_space_ratio < 0 ||
	    c->free_space_ratio >= 1)
		return -EINVAL;
	pthread_once(&cm_once, cm_init);
	cs = xcalloc(1, sizeof(*cs));
	cs->obj = obj;
	cs->conf = *c;
	cs->conf.max_uploads = MAX(c->max_uploads, 1);
	cs->conf.max_downloads = MAX(c->max_downloads, 1);
	cs->conf.prefetch = MAX(c->prefetch, 0);
	cs->cache_dir = xstrdup(c->cache_dir ? c->cache_dir : "");
	cs->uuid = xstrdup(c->uuid ? c->uuid : "");
	cs->conf.cache_dir = cs->cache_dir;
	cs->conf.uuid = cs->uuid;
	/* a cap below one block could never be satisfied */
	cs->bcap = MAX(c->buffer_size, (uint64_t)c->block_size);
	cs->mc_cap = c->mem_cache_size;
	if (!strcmp(cs->cache_dir, "memory"))
		cs->mc_cap = c->cache_size;
	pthread_mutex_init(&cs->blk, NULL);
	pthread_cond_init(&cs->bcond, NULL);
	pthread_cond_init(&cs->ucond, NULL);
	pthread_mutex_init(&cs->mlk, NULL);
	pthread_cond_init(&cs->mcond, NULL);
	pthread_mutex_init(&cs->dlk, NULL);
	pthread_cond_init(&cs->dcond, NULL);
	btable_init(&cs->mt);
	pthread_mutex_init(&cs->slk, NULL);
	pthread_cond_init(&cs->scond, NULL);
	btable_init(&cs->stt);
	cpool_init(&cs->stagers, cs, cs->conf.max_uploads, 0);
	cpool_init(&cs->uploads, cs, cs->conf.max_uploads, 0);
	cpool_init(&cs->prefetchers, cs, prefetch_threads(&cs->conf), PREFETCH_QUEUE_MAX);
	cpool_init(&cs->fillers, cs, FILL_THREADS_MAX, (size_t)MAX(cs->conf.cache_fill_queue, 1));
	pthread_mutex_init(&cs->plk, NULL);
	if (*cs->cache_dir && strcmp(cs->cache_dir, "memory") && c->cache_size > 0 &&
	    (r = setup_disk_cache(cs))) {
		chunk_store_free(cs);
		return r;
	}
	cs->fillers.max = (int)MIN(MAX(cs->ndc, (size_t)1), (size_t)FILL_THREADS_MAX);
	if (cs->conf.writeback && !cs->ndc) {
		log_warn("--writeback needs a disk cache (--cache-dir, --cache-size > 0): "
			 "blocks are uploaded before each commit");
		cs->conf.writeback = 0;
	}
	if (cs->conf.writeback || cs->stt.n) {
		if (pthread_create(&cs->sched, NULL, stage_sched_main, cs))
			jfs_die(__FILE__, __LINE__, "cannot start the staging scheduler");
		cs->sched_started = 1;
	}
	metrics_add_collector(cm_collect, cs);
	*out = cs;
	return 0;
}

void chunk_store_free(struct chunk_store *cs)
{
	if (!cs)
		return;
	BUG_ON(cs->nwriters);
	metrics_remove_collector(cm_collect, cs);
	if (cs->sched_started) {
		pthread_mutex_lock(&cs->slk);
		cs->sched_stop = 1;
		pthread_cond_broadcast(&cs->scond);
		pthread_mutex_unlock(&cs->slk);
		pthread_join(cs->sched, NULL);
	}
	/* what is due goes out now, not at the next start (the scheduler may not have woken) */
	pthread_mutex_lock(&cs->slk);
	for (int64_t now = wall_ms(); cs->wait_head && cs->wait_head->due_ms <= now;) {
		struct sentry *e = cs->wait_head;
		wait_remove_locked(cs, e);
		stage_queue_locked(cs, e);
	}
	pthread_mutex_unlock(&cs->slk);
	/*
	 * Uploads already due are made (the pool runs its queue), but a failing
	 * one is not retried: it and the delayed blocks stay staged for the
	 * next start (S2).
	 */
	__atomic_store_n(&cs->stopping, 1, __ATOMIC_RELAXED);
	cpool_stop(&cs->stagers);
	stage_sync_unlink(cs);
	cpool_stop(&cs->prefetchers);
	cpool_stop(&cs->uploads);
	cpool_stop(&cs->fillers); /* before the caches its jobs write to close */
	pthread_mutex_lock(&cs->mlk);
	while (cs->lru_head)
		mc_forget_locked(cs, cs->lru_head);
	pthread_mutex_unlock(&cs->mlk);
	BUG_ON(cs->mt.n); /* a block still pinned or loading: a reader outlived the store */
	free(cs->mt.b);
	for (size_t i = 0; i < cs->stt.nb; i++)
		for (struct bnode *x = cs->stt.b[i], *nx; x; x = nx) {
			nx = x->hnext;
			free(x); /* still staged on disk: the next start uploads it */
		}
	free(cs->stt.b);
	for (size_t i = 0; i < cs->nunsynced; i++)
		free(cs->unsynced[i]); /* the sync failed: re-uploaded at the next start */
	free(cs->unsynced);
	pthread_mutex_destroy(&cs->slk);
	pthread_cond_destroy(&cs->scond);
	for (size_t i = 0; i < cs->ndc; i++)
		dc_close(&cs->dc[i]);
	free(cs->dc);
	pthread_mutex_destroy(&cs->blk);
	pthread_cond_destroy(&cs->bcond);
	pthread_cond_destroy(&cs->ucond);
	pthread_mutex_destroy(&cs->mlk);
	pthread_cond_destroy(&cs->mcond);
	pthread_mutex_destroy(&cs->dlk);
	pthread_cond_destroy(&cs->dcond);
	while (cs->pool) {
		char *p = cs->pool;
		memcpy(&cs->pool, p, sizeof(char *));
		munmap(p, blockbuf_maplen(cs));
	}
	pthread_mutex_destroy(&cs->plk);
	free(cs->cache_dir);
	free(cs->uuid);
	free(cs);
}

void chunk_store_stats(struct chunk_store *cs, struct chunk_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->puts = __atomic_load_n(&cs->st.puts, __ATOMIC_RELAXED);
	st->put_failures = __atomic_load_n(&cs->st.put_failures, __ATOMIC_RELAXED);
	st->gets = __atomic_load_n(&cs->st.gets, __ATOMIC_RELAXED);
	st->get_failures = __atomic_load_n(&cs->st.get_failures, __ATOMIC_RELAXED);
	st->mem_hits = __atomic_load_n(&cs->st.mem_hits, __ATOMIC_RELAXED);
	st->disk_hits = __atomic_load_n(&cs->st.disk_hits, __ATOMIC_RELAXED);
	st->pins = __atomic_load_n(&cs->st.pins, __ATOMIC_RELAXED);
	pthread_mutex_lock(&cs->blk);
	st->buffer_used = cs->bused;
	st->buffer_peak = cs->bpeak;
	st->buffer_cap = cs->bcap;
	st->uploads_active_peak = cs->st.uploads_active_peak;
	pthread_mutex_unlock(&cs->blk);
	st->stage_writes = __atomic_load_n(&cs->st.stage_writes, __ATOMIC_RELAXED);
	pthread_mutex_lock(&cs->slk);
	st->staged_blocks = cs->stt.n;
	st->staged_bytes = cs->staged_bytes;
	pthread_mutex_unlock(&cs->slk);
	pthread_mutex_lock(&cs->mlk);
	st->mem_cache_bytes = cs->mc_used;
	for (struct mblock *b = cs->lru_head; b; b = b->next)
		st->mem_cache_blocks++;
	pthread_mutex_unlock(&cs->mlk);
	for (size_t i = 0; i < cs->ndc; i++) {
		pthread_mutex_lock(&cs->dc[i].lock);
		st->disk_cache_bytes += cs->dc[i].used;
		st->disk_cache_blocks += cs->dc[i].n;
		pthread_mutex_unlock(&cs->dc[i].lock);
	}
}
