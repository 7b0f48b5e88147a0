/*
 * fscore/fs.h: the only API the front doors (S3, WebDAV, FUSE) call.
 *
 * A struct fs is one mounted volume: metadata engine + object storage + the
 * chunk store, a session, and the background jobs (heartbeat, stale-session
 * and trash cleanup, compaction, idle-slice flushing).
 *
 * Contract:
 *  - Thread-safe: every function may be called from any thread.
 *  - Returns 0 / a byte count, or -errno (POSIX numbers; the doors map them).
 *  - Consistency is JuiceFS's close-to-open: data written through a handle is
 *    committed to metadata on fs_flush/fs_fsync/fs_release (and by the idle
 *    flusher); a handle opened after that sees it. Within one struct fs, a
 *    read of an inode first commits this process's pending writes to it.
 *  - A failed upload fails the flush with -EIO; nothing that points at a
 *    missing block is ever committed (fscore/chunk.h invariants).
 *  - Handles (struct fs_file) are owned by the caller and must be released
 *    with fs_release exactly once.
 */
#ifndef JFS_FS_H
#define JFS_FS_H

#include "base/base.h"
#include "conf/conf.h"
#include "meta/meta.h"
#include "fscore/chunk.h"

struct fs;
struct fs_file;

struct fs_conf {
	struct meta_conf meta;
	/* chunk store (JuiceFS flag names) */
	int max_uploads;          /* --max-uploads 20 */
	int max_downloads;        /* --max-downloads 200 */
	int prefetch;             /* --prefetch 1 */
	uint64_t buffer_size;     /* --buffer-size 300 MiB */
	int io_retries;           /* --io-retries 10 */
	const char *cache_dir;    /* --cache-dir; NULL = default, "" or "none" = off */
	uint64_t cache_size;      /* --cache-size 100 GiB */
	double free_space_ratio;  /* --free-space-ratio 0.1 */
	int writeback;            /* --writeback: stage blocks in the cache dir, upload later */
	int64_t upload_delay_ms;  /* --upload-delay 0 */
	const char *storage;      /* --storage override (NULL = from the volume) */
	const char *bucket;       /* --bucket override */
	int no_bgjob;             /* --no-bgjob */
	const char *session_info; /* SessionInfo JSON; NULL = built from mount_point */
	struct obj_store *obj;    /* tests: use this store (not owned) instead of creating one */
};
void fs_conf_defaults(struct fs_conf *c);

/* Open a formatted volume: -ENOENT (not formatted) / -EINVAL etc.; err says why. */
int fs_open(const char *meta_url, const struct fs_conf *c, struct fs **out, struct buf *err);
/* Flushes every writer, stops the jobs, closes the session. NULL-safe. */
void fs_close(struct fs *fs);
const struct conf_format *fs_format(const struct fs *fs);
/* The volume's metadata engine, for admin tools (trash expiry, gc); owned by fs. */
struct meta *fs_meta(struct fs *fs);
/* The volume's object store (keys under "<Name>/"), for the metadata backup; owned by fs. */
struct obj_store *fs_obj(struct fs *fs);

/*
 * Background jobs that one client of a volume runs per interval, whoever
 * the clients are (ours or the real JuiceFS): fs_open starts JuiceFS's own
 * (stale sessions on "lastCleanupSessions" every heartbeat; trash expiry
 * "lastCleanupTrash", deleted files "lastCleanupFiles" and slices
 * "nextCleanupSlices" hourly). Another job plugs in with one call: a thread
 * of its own wakes every check_ms (+-10 %), wins the turn through
 * meta_elect(counter, diff 9/10 of interval_s) -- or, for counter
 * "lastBackup", through meta_elect_backup(interval_s) as the real client's
 * metadata backup does -- and then runs fn(fs, arg) on that thread. fs_close
 * waits for running jobs. Nothing starts with --no-bgjob or read-only.
 */
typedef void (*fs_bgjob_fn)(struct fs *fs, void *arg);
int fs_add_bgjob(struct fs *fs, const char *counter, int64_t interval_s, int64_t check_ms,
		 fs_bgjob_fn fn, void *arg);

/* ---- namespace (inode level); ctx may be NULL for root without checks ---- */
int fs_lookup(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	      uint64_t *ino, struct meta_attr *attr);
/* Attributes, with the length of unflushed writes of this process folded in. */
int fs_getattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, struct meta_attr *attr);
/* meta_getattrs: committed attributes of n inodes at once (found[i] 0: gone). */
int fs_getattrs(struct fs *fs, const uint64_t *inos, size_t n, struct meta_attr *attrs,
		uint8_t *found);
int fs_setattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, unsigned set,
	       const struct meta_attr *in, struct meta_attr *out);
int fs_mknod(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	     uint8_t type, uint16_t mode, uint16_t cumask, uint32_t rdev, uint64_t *ino,
	     struct meta_attr *attr);
int fs_mkdir(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	     uint16_t mode, uint16_t cumask, uint64_t *ino, struct meta_attr *attr);
int fs_symlink(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	       const char *target, uint64_t *ino, struct meta_attr *attr);
int fs_readlink(struct fs *fs, uint64_t ino, struct buf *target);
int fs_unlink(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	      int skip_trash);
int fs_rmdir(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	     int skip_trash);
int fs_rename(struct fs *fs, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
	      uint64_t pdst, const char *ndst, unsigned flags, uint64_t *ino,
	      struct meta_attr *attr);
/*
 * meta_unlink_if: acts only while the name still holds the inode the caller
 * checked, -ESTALE otherwise (fs_rename_if below is the rename's form).
 */
int fs_unlink_if(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
		 int skip_trash, uint64_t ino);
int fs_link(struct fs *fs, const struct meta_ctx *c, uint64_t ino, uint64_t parent,
	    const char *name, struct meta_attr *attr);
int fs_readdir(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int plus, const char *after,
	       size_t limit, meta_dirent_fn cb, void *arg);
/* meta_readdir_native: every entry, in JuiceFS's listing order (summary). */
int fs_readdir_native(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int plus,
		      meta_dirent_fn cb, void *arg);
int fs_statfs(struct fs *fs, const struct meta_ctx *c, uint64_t ino, struct meta_statfs *st);
int fs_getxattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, const char *name,
		struct buf *value);
/* meta_getxattrs: one xattr of n inodes at once (found[i] 0: absent). */
int fs_getxattrs(struct fs *fs, const uint64_t *inos, size_t n, const char *name,
		 struct buf *vals, uint8_t *found);
int fs_setxattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, const char *name,
		const void *value, size_t len, int flags);
int fs_listxattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, struct buf *names);
int fs_removexattr(struct fs *fs, const struct meta_ctx *c, uint64_t ino, const char *name);

/* ---- data ---- */
/* flags are open(2) flags (O_ACCMODE, O_TRUNC, O_APPEND). */
int fs_open_file(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int flags,
		 struct fs_file **fh, struct meta_attr *attr);
int fs_create(struct fs *fs, const struct meta_ctx *c, uint64_t parent, const char *name,
	      uint16_t mode, uint16_t cumask, int flags, struct fs_file **fh, uint64_t *ino,
	      struct meta_attr *attr);
uint64_t fs_file_ino(const struct fs_file *fh);
ssize_t fs_read(struct fs_file *fh, uint64_t off, void *buf, size_t len);
/*
 * fs_read without the copy: append to vec pieces pointing into pinned cached
 * blocks (and static zeros for holes) covering the bytes read, and return
 * their count. The same errors as fs_read, with nothing appended. The pieces
 * stay valid after the handle is released, until chunk_vec_release(vec).
 */
ssize_t fs_read_vec(struct fs_file *fh, uint64_t off, size_t len, struct chunk_vec *vec);
/*
 * fs_read_vec of blocks held locally only (memory cache, disk cache,
 * staging), each loaded whole: -EAGAIN, nothing appended, when one would be
 * fetched from the object store. A block loaded here was verified as any
 * other (a cache file's CRCs), so the pieces are the file's bytes.
 */
ssize_t fs_read_vec_cached(struct fs_file *fh, uint64_t off, size_t len, struct chunk_vec *vec);
/* --buffer-size of the volume's client: what the caller may hold in read buffers. */
uint64_t fs_file_buffer_size(const struct fs_file *fh);
/*
 * The caller will read [off, off+len) in order (an HTTP GET knows its range
 * up front): the first blocks of it are queued for loading now, in
 * parallel, instead of one by one as a sequential reader is discovered,
 * and readahead stops at the range's end. Bounded by the readahead budget
 * (chunk_prefetch); a hint: nothing is read or reported here. A read
 * elsewhere drops it.
 */
void fs_read_ahead(struct fs_file *fh, uint64_t off, uint64_t len);
struct fs *fs_file_fs(const struct fs_file *fh);
/* Offsets past 2^57 give -EFBIG. With O_APPEND the offset is the file end. */
ssize_t fs_write(struct fs_file *fh, uint64_t off, const void *buf, size_t len);
/*
 * fs_write of len bytes taken from src (chunk.h) straight into the block
 * buffers. A reader's failure is the write's error, as any other.
 */
ssize_t fs_write_src(struct fs_file *fh, uint64_t off, struct chunk_src *src, size_t len);
int fs_flush(struct fs_file *fh);
int fs_fsync(struct fs_file *fh);
/*
 * Directory quotas (meta.h) are enforced in meta for every change; in
 * addition fs_write asks, block by block, whether growing the file would
 * cross one, and fails with -EDQUOT before buffering the data. A temp file
 * that a door will rename into directory dir (over a file of length
 * replaced, -1: none) is checked against dir's quotas instead (set before
 * the first write).
 */
void fs_file_quota_dir(struct fs_file *fh, uint64_t dir, int64_t replaced);
/*
 * -EDQUOT when a file of bytes put at path (replacing the file there, if
 * any) would cross a quota; else 0.
 */
int fs_quota_precheck(struct fs *fs, const char *path, uint64_t bytes);
/* Same for a file of bytes in directory dir, replacing one of length replaced (-1: none). */
int fs_quota_precheck_dir(struct fs *fs, uint64_t dir, uint64_t bytes, int64_t replaced);
/* Flushes, releases, frees fh; returns the first deferred write error. */
int fs_release(struct fs_file *fh);
int fs_truncate(struct fs *fs, const struct meta_ctx *c, uint64_t ino, uint64_t length,
		struct meta_attr *attr);
int fs_fallocate(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int mode, uint64_t off,
		 uint64_t len);
/* Zero-copy: shares slices (refcounts) instead of copying bytes. */
ssize_t fs_copy_file_range(struct fs *fs, const struct meta_ctx *c, uint64_t fin, uint64_t offin,
			   uint64_t fout, uint64_t offout, uint64_t len);
/* dst becomes a zero-copy copy of src (dst is truncated first). */
int fs_clone(struct fs *fs, const struct meta_ctx *c, uint64_t src, uint64_t dst);
/* Compact every chunk of ino now (tests, `juicefs compact`). */
int fs_compact(struct fs *fs, uint64_t ino);

/* ---- locks (spec §10.2): kept in metadata, so they hold across mounts ---- */
/* type META_LOCK_*; -EAGAIN when held by another owner and !block. */
int fs_flock(struct fs *fs, uint64_t ino, uint64_t owner, int type, int block);
/* lk in: the wanted lock; out: the first conflicting lock, or type UNLOCK. */
int fs_getlk(struct fs *fs, uint64_t ino, uint64_t owner, struct meta_plock *lk);
int fs_setlk(struct fs *fs, uint64_t ino, uint64_t owner, int block,
	     const struct meta_plock *lk);
/*
 * The identity a door acts as when it passes no caller (c NULL) to the
 * calls here: the S3 gateway and WebDAV act as the user their process runs
 * as, like the real client's, and are checked (mode bits and POSIX ACLs)
 * as that user; root passes. NULL restores "unchecked root". Set it before
 * serving: it is read without a lock.
 */
void fs_set_identity(struct fs *fs, const struct meta_ctx *c);
/* This process's effective uid, gid and groups, with checks on. */
void fs_ctx_process(struct meta_ctx *c);
/* POSIX permission check of mask (R_OK/W_OK/X_OK bits) on ino for c. */
int fs_access(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int mask);

/* ---- paths, for the HTTP doors ---- */
/* "/a/b" from the root; no symlinks followed; "" and "/" are the root. */
int fs_resolve(struct fs *fs, const struct meta_ctx *c, const char *path, uint64_t *ino,
	       struct meta_attr *attr);
/*
 * Resolve path below the directory root, following symlinks as Linux does
 * (every intermediate one; the last only with FS_RESOLVE_FOLLOW; at most
 * FS_MAX_SYMLINKS hops, then -ELOOP), but jailed: the walk keeps the chain of
 * directories from root, so ".." pops it and never looks past root.
 * Containment is checked at every hop, not on the final answer:
 *  -EXDEV  an absolute link target, or ".." above root (from the path or a
 *          link): the name leaves root;
 *  -ENOENT also for the volume's internal folders (.sys, .trash directly
 *          under the volume root), which no name may reach through here;
 *  -ELOOP, -ENOTDIR, -ENAMETOOLONG as for a path walk.
 * root must be a directory. Without FS_RESOLVE_FOLLOW a final symlink is
 * returned itself (to delete or rename the link, not its target).
 */
#define FS_RESOLVE_FOLLOW 1u
#define FS_MAX_SYMLINKS 40
int fs_resolve_at(struct fs *fs, const struct meta_ctx *c, uint64_t root, const char *path,
		  unsigned flags, uint64_t *ino, struct meta_attr *attr);
/* mkdir -p; an existing non-directory component gives -ENOTDIR. */
int fs_mkdir_p(struct fs *fs, const struct meta_ctx *c, const char *path, uint16_t mode,
	       uint64_t *ino);
/*
 * Create an anonymous temp file under tmpdir (e.g. "/.sys/tmp", created on
 * demand). name_out gets its name inside tmpdir.
 */
int fs_create_temp(struct fs *fs, const struct meta_ctx *c, const char *tmpdir,
		   struct fs_file **fh, uint64_t *ino, struct buf *name_out);
/* fs_create_temp that gives the inode of tmpdir too, for fs_rename_if. */
int fs_create_temp_dir(struct fs *fs, const struct meta_ctx *c, const char *tmpdir,
		       uint64_t *dir, struct fs_file **fh, uint64_t *ino, struct buf *name_out);
/*
 * Atomically move tmpdir/name over path (parents created as needed); the
 * replaced file goes to trash like any overwrite.
 */
int fs_replace(struct fs *fs, const struct meta_ctx *c, const char *tmpdir, const char *name,
	       const char *path);
/*
 * fs_replace with meta_rename_if's guards, checked atomically with the
 * replace: flags META_RENAME_NOREPLACE (-EEXIST where path exists), or
 * dst_ino, the only inode path may name (-ESTALE where path is gone or names
 * another one). On an error the temp file is left where it was.
 */
int fs_replace_if(struct fs *fs, const struct meta_ctx *c, const char *tmpdir, const char *name,
		  const char *path, unsigned flags, uint64_t dst_ino);
/*
 * meta_rename_if between directories given by inode, with its guards on
 * both names: fs_replace_if for a caller that holds both folders already (no
 * path walks, no parents made), and a conditional MOVE.
 */
int fs_rename_if(struct fs *fs, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
		 uint64_t pdst, const char *ndst, unsigned flags, uint64_t src_ino,
		 uint64_t dst_ino, uint64_t *ino, struct meta_attr *attr);
/* Sorted listing of a directory, strictly after `after`, at most limit (0 = all). */
int fs_list(struct fs *fs, const struct meta_ctx *c, uint64_t dir, const char *after,
	    size_t limit, meta_dirent_fn cb, void *arg);

/* ---- inspection (`juicefs info`, warmup) ---- */
struct fs_summary {
	uint64_t length, size, files, dirs;
};
/*
 * JuiceFS's GetSummary by a strict walk: ino itself, then the entries below
 * it (every level when recursive); sizes 4 KiB-aligned, a directory 4 KiB,
 * length counts regular files only.
 */
int fs_summary(struct fs *fs, const struct meta_ctx *c, uint64_t ino, int recursive,
	       struct fs_summary *out);
/* Path of ino from the volume root (one of them for a hard-linked file). */
int fs_path_of(struct fs *fs, uint64_t ino, struct buf *path);
/*
 * Where a file's data lives, chunk by chunk in view order: with raw the
 * slices (key NULL); otherwise the block objects each slice covers, keys
 * with the volume name (JuiceFS's CalcObjects; a hole is one entry, key "").
 */
struct fs_extent {
	uint32_t indx;
	uint64_t id;
	const char *key;
	uint32_t size, off, len;
};
typedef int (*fs_extent_fn)(void *arg, const struct fs_extent *e);
int fs_layout(struct fs *fs, uint64_t ino, uint64_t length, int raw, fs_extent_fn cb, void *arg);
/* The calling thread's reads always fill the disk cache, never dropped (warmup). */
void fs_cache_every_read(int on);

/* Statistics for benchmarks and .stats. */
struct fs_stats {
	uint64_t buffer_used, buffer_peak, buffer_cap;
	uint64_t compactions;
	uint64_t staged_blocks, staged_bytes; /* --writeback: staged, not uploaded yet */
};
void fs_get_stats(struct fs *fs, struct fs_stats *st);

#endif
