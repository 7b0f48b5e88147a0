/*
 * chunk: the block store under fscore (spec §1, §5.2-§5.4, §6.1-§6.3).
 *
 * A slice is an immutable run of bytes (at most one 64 MiB chunk) named by a
 * 64-bit id; it is stored as ceil(size / BlockSize) block objects, each
 * compressed on its own. This module turns (id, size, offset) into objects and
 * back: key naming, block framing, a slice writer with a bounded background
 * upload pool and a global buffer budget, a slice reader with a memory block
 * cache and a disk block cache, and slice deletion. It knows nothing of
 * inodes or chunk lists; fs.c composes it with meta.
 *
 * Contract:
 *  - struct chunk_store is fully thread-safe. A struct chunk_writer is used by
 *    one thread at a time (the caller serialises calls on one writer); upload
 *    workers never touch the caller's side of it.
 *  - The obj_store passed in is already wrapped with the "<Name>/" prefix and
 *    is not owned: it must outlive the chunk store.
 *  - Keys are relative to that prefix: "chunks/<id/1e6>/<id/1e3>/<id>_<i>_<bsize>"
 *    or, with HashPrefix, "chunks/<%02X id%256>/<id/1e6>/<id>_<i>_<bsize>".
 *  - Errors: -EINVAL (bad arguments), -EIO (a missing, short, corrupt or
 *    undecodable object; a storage failure after the retries), -ENOSPC (the
 *    object store reported a full disk; not retried). Never a crash or an
 *    overrun. NB: neither LZ4 blocks nor JuiceFS's zstd frames carry a
 *    checksum, so an object altered in place that still decodes to exactly
 *    bsize bytes cannot be told apart; cache files do carry CRC32C.
 *
 * Write-ordering invariants (what slice commit in fs.c relies on):
 *  1. chunk_writer_finish() returns 0 only after every block object of the
 *     slice, with its final key (bsize computed from the final length), has
 *     been put (readable; durable against power loss only after
 *     chunk_store_sync, which fs.c calls for fsync) -- or, with writeback,
 *     staged: written to <cache>/<uuid>/rawstaging/<key> with the file and
 *     its directory fsynced and registered for a background upload (see
 *     "staging" below). The caller commits {id, size = chunk_writer_len()}
 *     to metadata only after that; so metadata never points at a block that
 *     is neither stored nor durably staged.
 *  2. A block is put only once it is immutable: full blocks when the data
 *     reaches their end, the last (short) block in finish(). Bytes below
 *     chunk_writer_flushed() can no longer change; writes there are refused.
 *  3. When finish() fails the slice must not be committed; the caller then
 *     calls chunk_writer_abort(), which deletes whatever was uploaded. Slice
 *     ids are never reused, so a stale cached block can never be read as
 *     another slice's data.
 *  4. Buffer memory of writers (reserved per block, a full BlockSize each) is
 *     capped by buffer_size: a writer that needs a new block waits until
 *     uploads give memory back. A writer holds at most one partial block, and
 *     full blocks are always on their way out, so a writer only waits for
 *     memory that will come back -- unless partial blocks of idle writers hold
 *     the budget. Hence fs.c must (a) finish idle slices in the background
 *     and (b) not wait for memory while it keeps other open slices of its own
 *     locked: write with chunk_writer_write_nowait() and, on -EAGAIN, finish
 *     (commit) its own open slices before writing with chunk_writer_write().
 *     Then no waiting writer holds a partial block, and there is no cycle.
 *  5. Deletion (chunk_delete_slice) drops cached and staged copies first,
 *     then deletes every block key; a missing object counts as deleted.
 *
 * Staging (--writeback, JuiceFS's layout and rules):
 *  S1. A staged block is the same file as a disk cache file (data, then a
 *      CRC32C per 32 KiB) at <cache>/<uuid>/rawstaging/<key>. It is written
 *      as <key>.tmp, fdatasync'd, renamed, and its directory fsynced (new
 *      directories too) before finish() may return: a kill -9 or a power
 *      loss after the commit finds it whole.
 *  S2. It is uploaded in the background, at most max_uploads at once, not
 *      before upload_delay_ms after it was staged (its mtime after a
 *      restart). Only after the put succeeded is it unlisted and linked into
 *      raw/ as a read-cache file, and only after a later obj_sync (one a
 *      second at most, covering every upload since the last) is it unlinked
 *      from rawstaging; so at every moment a committed block is durable in
 *      the object store or in rawstaging.
 *  S3. Reads of a staged block are served from the staging file; if it is
 *      gone (uploaded meanwhile) the read goes on to the cache and store.
 *  S4. A client that stages into a cache directory holds an exclusive flock
 *      on <cache>/<uuid>/.lock for its lifetime; a second writeback client
 *      on the same directory is refused (-EBUSY, one line in conf.err).
 *      Any client that finds staged blocks at start and gets the lock
 *      uploads them (crash recovery), holding the lock until they are out.
 *  S5. A block whose slice is deleted before its upload is dropped from
 *      staging; one deleted during its upload is deleted again after it.
 *      Failed uploads stay staged and are retried with a back-off.
 */
#ifndef JFS_CHUNK_H
#define JFS_CHUNK_H

#include "base/base.h"
#include "conf/conf.h"
#include "storage/obj.h"

enum chunk_compress {
	CHUNK_COMPRESS_NONE = 0,
	CHUNK_COMPRESS_LZ4 = 1,
	CHUNK_COMPRESS_ZSTD = 2,
};

#define CHUNK_MAX_SLICE (64U << 20) /* a slice never crosses a 64 MiB chunk */
#define CHUNK_MIN_BLOCK (1U << 10)  /* 64 KiB at format; smaller only for tests */
#define CHUNK_MAX_BLOCK (16U << 20)
#define CHUNK_KEY_MAX 96            /* longest key plus NUL, with room to spare */

struct chunk_conf {
	uint32_t block_size;      /* bytes (Format.BlockSize is KiB) */
	int hash_prefix;          /* Format.HashPrefix */
	int compress;             /* enum chunk_compress */
	int encrypted;            /* Format.EncryptKey set: the store opens whole objects
				   * only, so a ranged GET would cost a whole block */
	int max_uploads;          /* --max-uploads, 20: upload worker threads */
	int max_downloads;        /* --max-downloads, 200: concurrent GETs */
	int prefetch;             /* --prefetch, 1: background whole-block fetchers (0 = off) */
	uint64_t buffer_size;     /* --buffer-size, 300 MiB: writer memory cap */
	int io_retries;           /* --io-retries, 10: a put/get is tried io_retries+1 times */
	int64_t retry_unit_ms;    /* back-off before try n is n² × unit (JuiceFS: 1 s) */
	uint64_t mem_cache_size;  /* in-memory block cache, 32 MiB; 0 = none */
	const char *cache_dir;    /* --cache-dir; NULL/"" = no disk cache; "memory" = RAM only */
	const char *uuid;         /* volume UUID: the disk cache lives in <cache_dir>/<uuid>/ */
	uint64_t cache_size;      /* --cache-size, 100 GiB; 0 = no disk cache */
	double free_space_ratio;  /* --free-space-ratio, 0.1 */
	unsigned cache_mode;      /* --cache-mode, 0600 */
	int cache_checksum;       /* 1 = CRC32C per 32 KiB in cache files, verified on read */
	int cache_fill_queue;     /* blocks read from the object store waiting for the disk
				   * cache; past it they are not cached, as JuiceFS drops them
				   * (16) */
	int writeback;            /* --writeback: stage blocks in the disk cache, upload later */
	int64_t upload_delay_ms;  /* --upload-delay, 0: keep staged blocks local this long */
	struct buf *err;          /* optional: why chunk_store_new failed, one line */
};

/* JuiceFS defaults for everything; block_size 4 MiB, no compression, no disk cache. */
void chunk_conf_defaults(struct chunk_conf *c);
/*
 * Take block size, compression, HashPrefix and UUID from a volume setting.
 * -ENOTSUP for an unknown compression,
 * -EINVAL for a block size out of range. Strings point into f.
 */
int chunk_conf_from_format(struct chunk_conf *c, const struct conf_format *f);
/* "none"/""/"lz4"/"zstd" (case-insensitive) -> enum; -ENOTSUP otherwise. */
int chunk_parse_compress(const char *name, int *out);

/* ---- pure helpers ---- */
/* Number of blocks of a slice of `size` bytes. */
static inline uint32_t chunk_nblocks(uint32_t size, uint32_t bs)
{
	return (uint32_t)(((uint64_t)size + bs - 1) / bs);
}
/* Uncompressed length of block indx: min(bs, size - indx*bs). */
static inline uint32_t chunk_block_len(uint32_t size, uint32_t indx, uint32_t bs)
{
	uint64_t start = (uint64_t)indx * bs;
	return start >= size ? 0 : (uint32_t)MIN((uint64_t)bs, size - start);
}
/* Key of block indx of slice (id, size), relative to the volume prefix. */
void chunk_block_key(char out[CHUNK_KEY_MAX], uint64_t id, uint32_t indx, uint32_t bsize,
		     int hash_prefix);

/* Worst-case compressed size of n bytes (n itself for NONE). */
size_t chunk_compress_bound(int algo, size_t n);
/* Compress n bytes into dst (cap >= chunk_compress_bound); returns the length or -EIO. */
ssize_t chunk_compress(int algo, const void *src, size_t n, void *dst, size_t cap);
/*
 * Decode an object of n bytes into exactly `expect` bytes at dst (the bsize of
 * the key). Anything else (corrupt input, too short, too long) is -EIO.
 */
int chunk_decompress(int algo, const void *src, size_t n, void *dst, size_t expect);

/* ---- the store ---- */
struct chunk_store;

/*
 * Create a store over obj (not owned). The disk cache directory is created
 * when configured; leftover *.tmp files are removed and the cache index is
 * rebuilt from the files present; staged blocks found there are queued for
 * upload (S4). -EINVAL for a bad conf; -EBUSY when writeback is asked and
 * another client holds the cache directory (conf.err says which); -errno when
 * the cache directory cannot be made (the caller may retry without a cache).
 * Writeback needs a disk cache: without one it is off.
 */
int chunk_store_new(struct obj_store *obj, const struct chunk_conf *c, struct chunk_store **out);
/* Stops the workers. Every writer must have been finished or aborted and freed. */
void chunk_store_free(struct chunk_store *cs);
const struct chunk_conf *chunk_store_conf(const struct chunk_store *cs);
struct obj_store *chunk_store_obj(const struct chunk_store *cs);

struct chunk_stats {
	uint64_t buffer_used, buffer_peak, buffer_cap; /* writer reservations, bytes */
	uint64_t mem_cache_bytes, mem_cache_blocks;
	uint64_t disk_cache_bytes, disk_cache_blocks; /* accounted as file size + 4 KiB */
	uint64_t puts, put_failures;   /* objects put; puts abandoned after all retries */
	uint64_t gets, get_failures;   /* object GETs (whole or ranged); failed reads */
	uint64_t mem_hits, disk_hits;  /* blocks served from the memory / disk cache */
	uint64_t uploads_active_peak;  /* most uploads running at once */
	uint64_t staged_blocks, staged_bytes; /* staged, not uploaded yet (--writeback) */
	uint64_t stage_writes;         /* blocks staged by this process */
	uint64_t pins;                 /* pinned pieces in chunk_vecs not released yet */
};
void chunk_store_stats(struct chunk_store *cs, struct chunk_stats *st);
/* 1 when a writer starting a new block would now wait for buffer space. */
int chunk_store_buffer_full(struct chunk_store *cs);

/* ---- writing a slice ---- */
struct chunk_writer;

/* A writer for the new slice `id` (from meta_new_slice_id). Never fails. */
struct chunk_writer *chunk_writer_new(struct chunk_store *cs, uint64_t id);
/*
 * Upload this writer's blocks before finish() returns even with writeback
 * (compaction, as JuiceFS's): call before the first write.
 */
void chunk_writer_no_writeback(struct chunk_writer *w);
uint64_t chunk_writer_id(const struct chunk_writer *w);
/* Bytes written so far (the slice size if finished now). */
uint32_t chunk_writer_len(const struct chunk_writer *w);
/* Block-aligned offset below which the data is frozen (uploaded or uploading). */
uint32_t chunk_writer_flushed(const struct chunk_writer *w);
/*
 * Write len bytes at slice offset off, where flushed <= off <= len and
 * off + len <= 64 MiB (else -EINVAL). May wait for buffer space. Full blocks
 * are queued for upload. Returns the first upload error already known
 * (-EIO/-ENOSPC) so a writer stops early.
 */
int chunk_writer_write(struct chunk_writer *w, uint32_t off, const void *data, size_t len);
/*
 * The same, except that it returns -EAGAIN, having written nothing, when the
 * write would first wait for buffer space (invariant 4).
 */
int chunk_writer_write_nowait(struct chunk_writer *w, uint32_t off, const void *data,
			      size_t len);
/*
 * Where a write's bytes come from: memory (mem), or a reader that fills dst
 * with the next n bytes of the write, whole, or fails with -errno (a FUSE
 * request still in the kernel's pipe, read straight into the block buffer).
 * Bytes are taken once, in order; a reader's failure fails the write.
 */
struct chunk_src {
	const char *mem;
	int (*read)(void *arg, void *dst, size_t n);
	void *arg;
};
/* chunk_writer_write / _nowait (nowait != 0) with the bytes taken from src. */
int chunk_writer_write_src(struct chunk_writer *w, uint32_t off, struct chunk_src *src,
			   size_t len, int nowait);
/*
 * Upload the remaining bytes (the last, short block) and wait for every
 * upload of the slice. 0: all blocks are stored; the slice may be committed
 * with size chunk_writer_len(). A writer cannot be written after finish.
 */
int chunk_writer_finish(struct chunk_writer *w);
/* Cancel: wait for running uploads, then delete every block put so far. */
void chunk_writer_abort(struct chunk_writer *w);
/* Frees; an unfinished writer is aborted first. NULL-safe. */
void chunk_writer_free(struct chunk_writer *w);

/* ---- reading a slice ---- */
/*
 * Read up to len bytes at offset off of slice (id, size) into dst; returns the
 * count (short only at the slice end, 0 at or past it), -ENOENT when a block
 * object does not exist, or -EIO. A missing block is not logged: it is the
 * expected answer when the slice was released since the caller looked it up
 * (compaction elsewhere), so the caller re-reads its slice list and reports a
 * block that is still missing (chunk_missing_key names it).
 */
ssize_t chunk_read(struct chunk_store *cs, uint64_t id, uint32_t size, uint32_t off, void *dst,
		   size_t len);
/* Key of the block this thread's last chunk_read/chunk_read_pin found missing. */
const char *chunk_missing_key(void);
/*
 * Pieces of read data that point into blocks held in memory instead of
 * copies: a FUSE read is answered straight from them (one copy, into the
 * kernel), and the blocks stay valid -- they are immutable, and pinned
 * against eviction and deletion -- until the vector is released, whatever
 * happens to the file or handle meanwhile.
 */
struct chunk_piece {
	const char *data;
	size_t len;
	void *pin; /* the block data lives in; NULL for static memory (zeros) */
};
struct chunk_vec {
	struct chunk_store *cs; /* set by the first pinned piece */
	struct chunk_piece *p;
	size_t n, alloc;
};
#define CHUNK_VEC_INIT { NULL, NULL, 0, 0 }
/* Append a piece of static memory (pin NULL). */
void chunk_vec_add_static(struct chunk_vec *v, const char *data, size_t len);
/* Unpin and drop the pieces from index n on. */
void chunk_vec_truncate(struct chunk_vec *v, size_t n);
/* Unpin every piece and free the array; v is empty (and reusable) after. NULL-safe. */
void chunk_vec_release(struct chunk_vec *v);
/*
 * chunk_read without the copy: append to v pieces covering up to len bytes at
 * offset off of slice (id, size), in order. Returns the byte count (short
 * only at the slice end), -ENOENT or -EIO as chunk_read, with nothing
 * appended on error. flags:
 *  - CHUNK_READ_SEQ: the caller reads sequentially, so whole blocks are
 *    loaded, never ranges;
 *  - CHUNK_READ_CACHED: only blocks held here (memory cache, disk cache,
 *    staging); -EAGAIN, nothing appended, when one would be fetched from
 *    the object store.
 */
#define CHUNK_READ_SEQ 1
#define CHUNK_READ_CACHED 2
ssize_t chunk_read_pin(struct chunk_store *cs, uint64_t id, uint32_t size, uint32_t off,
		       size_t len, int flags, struct chunk_vec *v);
/*
 * Readahead: queue background loads of the blocks covering [off, off+len)
 * into the caches; best effort. Blocks loaded ahead and not read yet take
 * at most half the memory cache: past that, the hint is dropped (the
 * reader asks again as it moves on), so readahead never evicts readahead.
 */
void chunk_prefetch(struct chunk_store *cs, uint64_t id, uint32_t size, uint32_t off,
		    uint32_t len);

/* ---- deleting a slice ---- */
/*
 * Drop cached copies, then delete every block object of (id, size); missing
 * objects count as deleted. 0 when all are gone, else the first error (the
 * caller keeps the slice to retry later).
 */
int chunk_delete_slice(struct chunk_store *cs, uint64_t id, uint32_t size);
/*
 * Blocks read from the object store reach the disk cache in the background;
 * wait until every one queued so far is written (tests, tools).
 */
void chunk_store_wait_fills(struct chunk_store *cs);
/* The calling thread's reads are always cached, never dropped when the fillers lag (warmup). */
void chunk_cache_every_read(int on);
/*
 * Wait until no staged block is due or uploading (only delayed ones remain),
 * at most timeout_ms; 0 when drained, -ETIMEDOUT otherwise (tests, tools).
 */
int chunk_store_wait_staged(struct chunk_store *cs, int64_t timeout_ms);
/* Make every block uploaded so far durable (obj_sync); -errno on failure. */
int chunk_store_sync(struct chunk_store *cs);
/*
 * CRC32C (Castagnoli, as the cache files' checksums, spec §6.3): of one
 * buffer; the same from the lookup table whatever the CPU (tests); and
 * out[i] for each span-byte span of data, the last one short.
 */
uint32_t chunk_crc32c(const void *data, size_t n);
uint32_t chunk_crc32c_table(const void *data, size_t n);
void chunk_crc32c_spans(const void *data, size_t n, size_t span, uint32_t *out);
/* The same with meta_delete_slice_fn's shape; arg is the struct chunk_store. */
int chunk_slice_deleter(void *arg, uint64_t id, uint32_t size);

#endif
