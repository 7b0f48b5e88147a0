/*
 * meta: the metadata contract (spec §1, §3, §4, §8, §10).
 *
 * A struct meta is one open volume database. meta.c holds every rule that is
 * the same for all engines (name checks, permissions, trash placement, usage
 * counters, dir stats, sustained inodes, id batching); engines (sqlite.c,
 * mem.c, later redis.c) implement transactional primitives only, declared in
 * meta-internal.h.
 *
 * Contract:
 *  - Thread-safe: any thread may call any function on one struct meta.
 *  - Every call returns 0 or -errno. Errors follow JuiceFS/POSIX: -ENOENT,
 *    -EEXIST, -ENOTDIR, -EISDIR, -ENOTEMPTY, -EACCES, -EPERM, -EINVAL,
 *    -ENAMETOOLONG, -ENOSPC (volume capacity/inodes), -EXDEV, -ENODATA (xattr),
 *    -ERANGE, -EROFS (read-only), -EIO (engine failure), -EAGAIN (lock busy).
 *  - Mutations are transactional: on error nothing is changed.
 *  - Out-parameters are written only on success.
 *  - Inode 0 passed as an inode means the root (spec §1.1).
 *  - An engine that is briefly unavailable (Redis LOADING, BUSY, MASTERDOWN,
 *    TRYAGAIN, a refused or reset connection while it restarts) is waited
 *    for with back-off, about 15 s in all, before a call fails with -EIO.
 */
#ifndef JFS_META_H
#define JFS_META_H

#include "base/base.h"
#include "conf/conf.h"

#define META_ROOT_INODE 1ULL
#define META_TRASH_INODE 0x7FFFFFFF10000000ULL
#define META_MIN_INTERNAL_INODE 0x7FFFFFFF00000000ULL
#define META_CHUNK_BITS 26
#define META_CHUNK_SIZE (1U << META_CHUNK_BITS)
#define META_MAX_FILE_SIZE (((uint64_t)META_CHUNK_SIZE) << 31)
#define META_MAX_NAME 255
#define META_MAX_SYMLINK 4096
#define META_MAX_XATTR_NAME 255
#define META_MAX_XATTR_VALUE 65536

static inline int meta_is_trash(uint64_t ino) { return ino >= META_TRASH_INODE; }

enum meta_type {
	META_TYPE_FILE = 1,
	META_TYPE_DIRECTORY = 2,
	META_TYPE_SYMLINK = 3,
	META_TYPE_FIFO = 4,
	META_TYPE_BLOCKDEV = 5,
	META_TYPE_CHARDEV = 6,
	META_TYPE_SOCKET = 7,
};

/* Attribute flags (spec §3.2). */
#define META_FLAG_IMMUTABLE 0x01
#define META_FLAG_APPEND 0x02
#define META_FLAG_SKIP_TRASH 0x20

struct meta_attr {
	uint8_t flags;
	uint8_t type;     /* enum meta_type */
	uint16_t mode;    /* 12 permission bits incl. suid/sgid/sticky; no type bits */
	uint32_t uid, gid;
	int64_t atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec;
	uint32_t nlink;
	uint64_t length;
	uint32_t rdev;
	uint64_t parent;  /* 0 = several parents (hard links) */
	uint32_t access_acl, default_acl;
	uint8_t tier;
};

/* Binary attribute encoding of spec §3.2 (72/73/80/81 bytes). */
#define META_ATTR_MAX_ENC 81
size_t meta_attr_encode(const struct meta_attr *a, uint8_t out[META_ATTR_MAX_ENC]);
int meta_attr_decode(const uint8_t *p, size_t n, struct meta_attr *a);
/* st_mode style type+permission bits. */
uint32_t meta_attr_smode(const struct meta_attr *a);

/* One slice record (spec §3.4); id 0 is a hole. */
struct meta_slice {
	uint32_t pos;
	uint64_t id;
	uint32_t size;
	uint32_t off;
	uint32_t len;
};
#define META_SLICE_BYTES 24
void meta_slice_encode(const struct meta_slice *s, uint8_t out[META_SLICE_BYTES]);
void meta_slice_decode(const uint8_t in[META_SLICE_BYTES], struct meta_slice *s);
/*
 * Resolve raw records (in list order, later wins) into the visible,
 * non-overlapping pieces of a chunk, holes between pieces included and no
 * trailing hole (spec §3.4, Appendix E). *out is malloc'ed.
 */
void meta_build_slices(const struct meta_slice *in, size_t n, struct meta_slice **out,
		       size_t *nout);

/* Caller identity for permission checks. */
struct meta_ctx {
	uint32_t uid, gid;
	uint32_t gids[32]; /* supplementary groups */
	int ngids;
	uint32_t pid;
	int check_permission; /* 0 = skip POSIX checks (admin tools, root-like doors) */
};
void meta_ctx_root(struct meta_ctx *c);

/*
 * ---- POSIX ACL rules (spec §10.6; meta/acl.c) ----
 * A rule: the owner, owning-group, mask and other permissions (rwx in the low
 * 3 bits; META_ACL_UNSET when absent) and named user/group entries in
 * ascending id order, malloc'ed and owned by the rule. Pure functions, no I/O.
 */
#define META_ACL_UNSET 0xFFFF
#define META_ACL_ACCESS 1
#define META_ACL_DEFAULT 2
#define META_ACL_MAX_ENTRIES 8191 /* what fits in a 64 KiB xattr value */
#define META_XATTR_ACL_ACCESS "system.posix_acl_access"
#define META_XATTR_ACL_DEFAULT "system.posix_acl_default"
struct meta_acl_entry {
	uint32_t id;
	uint16_t perm;
};
struct meta_acl {
	uint16_t owner, group, mask, other;
	uint32_t nusers, ngroups;
	struct meta_acl_entry *users, *groups;
};
void meta_acl_init(struct meta_acl *a);    /* every field unset, no entries */
void meta_acl_release(struct meta_acl *a); /* frees the entries and re-inits; NULL-safe */
void meta_acl_copy(struct meta_acl *dst, const struct meta_acl *src);
/* Empty: nothing set (removes an ACL). Minimal: no named entries and no mask. */
int meta_acl_is_empty(const struct meta_acl *a);
int meta_acl_is_minimal(const struct meta_acl *a);
int meta_acl_equal(const struct meta_acl *x, const struct meta_acl *y);
/* JuiceFS's stored encoding (Redis/TKV value, binary dump), big-endian. */
void meta_acl_encode(const struct meta_acl *a, struct buf *out);
int meta_acl_decode(const void *p, size_t n, struct meta_acl *a); /* -EINVAL when malformed */
/* The SQL form: four columns and two blobs of 6-byte entries without a count. */
void meta_acl_encode_entries(const struct meta_acl_entry *e, uint32_t n, struct buf *out);
int meta_acl_decode_sql(uint16_t owner, uint16_t group, uint16_t mask, uint16_t other,
			const void *users, size_t ulen, const void *groups, size_t glen,
			struct meta_acl *a);
/*
 * The kernel's system.posix_acl_* value: version 2 header, then 8-byte
 * little-endian entries tag/perm/id. Parsing refuses (-EINVAL) a bad length
 * or version, unknown tags, perms beyond rwx, repeated base entries or named
 * ids, missing base entries, and named entries without a mask. A header
 * alone parses as the empty rule.
 */
int meta_acl_from_xattr(const void *p, size_t n, struct meta_acl *a);
void meta_acl_to_xattr(const struct meta_acl *a, struct buf *out);
/* Mode bits (rwxrwxrwx) an access ACL implies: the group class shows the mask. */
uint16_t meta_acl_get_mode(const struct meta_acl *a);
/* chmod: owner/other and the mask (the group entry of a minimal rule) follow mode. */
void meta_acl_set_mode(struct meta_acl *a, uint16_t mode);
/* Fill unset base entries from mode (a rule set without them). */
void meta_acl_inherit_perms(struct meta_acl *a, uint16_t mode);
/* A new child's access ACL from its parent's default ACL and the create mode. */
void meta_acl_child_access(const struct meta_acl *def, uint16_t mode, struct meta_acl *out);
/*
 * POSIX.1e access check (mask: 4 r, 2 w, 1 x) of an access ACL on a node
 * owned by fuid:fgid: owner, named users, then the group class (owning
 * group and named groups, each limited by the mask; any match may grant),
 * then other. 1 = permitted.
 */
int meta_acl_permits(const struct meta_acl *a, const struct meta_ctx *c, uint32_t fuid,
		     uint32_t fgid, int mask);

enum meta_atime_mode { META_NOATIME, META_RELATIME, META_STRICTATIME };

struct meta_conf {
	int read_only;
	int no_bgjob;
	int64_t heartbeat_ms;      /* 12 s */
	int64_t skip_dir_mtime_ms; /* 100 ms */
	int atime_mode;
	const char *mount_point;   /* for SessionInfo: path, "s3gateway", "webdav" */
	int max_deletes;           /* object-deletion workers; 0 = never delete objects */
	/*
	 * Threads that delete an unlinked or replaced file's data after
	 * meta_unlink/meta_rename returned (its delfiles record, written in the
	 * same transaction, keeps the deletion owed across a crash); past
	 * their queue, or with 0, the caller deletes it before returning.
	 * meta_close waits for the queue.
	 */
	int async_deletes;
	int create;                /* format only: the engine may create a missing database */
};
void meta_conf_defaults(struct meta_conf *c);

struct meta;

/*
 * Open by URL. Unknown scheme: -EPROTONOSUPPORT; known but not built
 * (redis before its issue): -ENOSYS; missing or unusable path: -ENOENT/-EACCES;
 * a file that is not a database: -EINVAL. err gets a one-line message.
 * c may be NULL for defaults.
 */
int meta_open(const char *url, const struct meta_conf *c, struct meta **out, struct buf *err);
void meta_close(struct meta *m); /* closes the session if one is open; NULL-safe */
const char *meta_engine_name(const struct meta *m);

/* ---- the volume setting ---- */
/* -ENOENT: database has no volume; -EINVAL: not a JuiceFS database. */
int meta_load_format(struct meta *m, struct conf_format *f);
/*
 * Format (spec §2.2). On an empty database: write the setting, counters, root
 * inode and (trash_days > 0) the trash inode. On an existing volume: the name
 * must match unless force; immutable fields must match unless force; the UUID
 * is always kept (f->uuid is updated to it). -EEXIST + err when refused;
 * META_EUNKNOWN when the setting may have been written (answer lost).
 */
int meta_init(struct meta *m, struct conf_format *f, int force, struct buf *err);
/* Replace the stored setting (config). */
int meta_save_format(struct meta *m, const struct conf_format *f);
/* Drop every table/key of the volume (destroy). */
int meta_reset(struct meta *m);
/* Currently loaded setting (after meta_load_format/meta_init); NULL before. */
const struct conf_format *meta_format(const struct meta *m);

/* ---- counters, sessions ---- */
int meta_get_counter(struct meta *m, const char *name, int64_t *v);
/*
 * Background-job leader election, JuiceFS's setIfSmall (spec §9.3): in one
 * transaction, if counter (e.g. "lastCleanupTrash") is at most now_s - diff_s
 * (absent = 0), set it to now_s and *won = 1; else *won = 0. Every client of
 * a volume, ours or the real one, races on the same counter, so one of them
 * runs the job per interval. now_s 0 = now.
 */
int meta_elect(struct meta *m, const char *counter, int64_t now_s, int64_t diff_s, int *won);
/*
 * The automatic metadata backup's election, as the real client does it: the
 * root's xattr "lastBackup" (RFC 3339) older than interval_s is replaced by
 * now and *won = 1 (here in one transaction, so two clients never both win).
 */
int meta_elect_backup(struct meta *m, int64_t now_s, int64_t interval_s, int *won);
/* Registers a session (spec §10.1); info_json is the SessionInfo document. */
int meta_new_session(struct meta *m, const char *info_json);
uint64_t meta_sid(const struct meta *m);
int meta_refresh_session(struct meta *m);
int meta_close_session(struct meta *m);
/* Remove sessions whose expiry passed: locks, sustained inodes, records. */
int meta_cleanup_stale_sessions(struct meta *m, int *cleaned);
/* A lock a session holds: a flock (ltype 'R'/'W') or a plock (24-byte records). */
struct meta_session_lock {
	uint64_t ino, owner;
	int is_flock;
	char ltype;
	const uint8_t *recs;
	size_t len;
};
struct meta_session {
	uint64_t sid;
	int64_t expire;   /* Unix seconds */
	const char *info; /* SessionInfo JSON or "" */
	const uint64_t *sustained;
	size_t nsustained;
	const struct meta_session_lock *locks; /* meta_get_session only: flocks, then plocks */
	size_t nlocks;
};
typedef int (*meta_session_fn)(void *arg, const struct meta_session *s);
int meta_list_sessions(struct meta *m, meta_session_fn cb, void *arg);
/* One session with its sustained inodes and locks; -ENOENT if there is none. */
int meta_get_session(struct meta *m, uint64_t sid, meta_session_fn cb, void *arg);

/* ---- namespace ---- */
struct meta_statfs {
	uint64_t total_space, avail_space, used_inodes, avail_inodes;
};
int meta_statfs(struct meta *m, const struct meta_ctx *c, uint64_t ino, struct meta_statfs *st);
int meta_lookup(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		uint64_t *ino, struct meta_attr *attr);
int meta_getattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, struct meta_attr *attr);
/*
 * Attributes of n inodes in one read transaction (one round trip where the
 * engine can batch): found[i] = 0 for an inode that does not exist, and
 * attrs[i] is then undefined. For listings that read names first and
 * attributes only for the entries they return.
 */
int meta_getattrs(struct meta *m, const uint64_t *inos, size_t n, struct meta_attr *attrs,
		  uint8_t *found);
/* mask bits for meta_access: 4 read, 2 write, 1 exec (R_OK/W_OK/X_OK) */
int meta_access(struct meta *m, const struct meta_ctx *c, uint64_t ino, int mask,
		const struct meta_attr *attr);

#define META_SET_MODE 0x01
#define META_SET_UID 0x02
#define META_SET_GID 0x04
#define META_SET_ATIME 0x08
#define META_SET_MTIME 0x10
#define META_SET_ATIME_NOW 0x20
#define META_SET_MTIME_NOW 0x40
#define META_SET_CTIME 0x80
#define META_SET_FLAGS 0x100
int meta_setattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, unsigned set,
		 const struct meta_attr *in, struct meta_attr *out);

/* type: enum meta_type (not DIRECTORY/SYMLINK: use mkdir/symlink). */
int meta_mknod(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
	       uint8_t type, uint16_t mode, uint16_t cumask, uint32_t rdev, uint64_t *ino,
	       struct meta_attr *attr);
int meta_mkdir(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
	       uint16_t mode, uint16_t cumask, uint64_t *ino, struct meta_attr *attr);
/* Create a regular file and open it (counts as an open for sustained inodes). */
int meta_create(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		uint16_t mode, uint16_t cumask, int flags, uint64_t *ino, struct meta_attr *attr);
int meta_symlink(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		 const char *target, uint64_t *ino, struct meta_attr *attr);
int meta_readlink(struct meta *m, uint64_t ino, struct buf *target);
/* skip_trash: delete permanently even when trash is enabled. */
int meta_unlink(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		int skip_trash);
/*
 * meta_unlink of the entry only while it names inode ino, checked in the
 * unlink's own transaction (-ESTALE otherwise, nothing changes): a delete
 * conditional on what the caller saw cannot remove a file put there since.
 */
int meta_unlink_if(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		   int skip_trash, uint64_t ino);
int meta_rmdir(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
	       int skip_trash);
#define META_RENAME_NOREPLACE 1
#define META_RENAME_EXCHANGE 2
#define META_RENAME_WHITEOUT 4
#define META_RENAME_RESTORE 32
int meta_rename(struct meta *m, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
		uint64_t pdst, const char *ndst, unsigned flags, uint64_t *ino,
		struct meta_attr *attr);
/*
 * meta_rename that moves only the inode src_ino and replaces only the inode
 * dst_ino: both entries are checked inside the rename's own transaction, so
 * the check and the move are one atomic step on every engine (a
 * compare-and-swap on the names). Where psrc/nsrc names another inode, or
 * pdst/ndst is missing or names another one: -ESTALE and nothing changes.
 * 0 for either is no guard on that side; a dst_ino with NOREPLACE or
 * EXCHANGE is -EINVAL.
 */
int meta_rename_if(struct meta *m, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
		   uint64_t pdst, const char *ndst, unsigned flags, uint64_t src_ino,
		   uint64_t dst_ino, uint64_t *ino, struct meta_attr *attr);
int meta_link(struct meta *m, const struct meta_ctx *c, uint64_t ino, uint64_t parent,
	      const char *name, struct meta_attr *attr);

struct meta_dirent {
	const char *name;
	size_t namelen;
	uint64_t ino;
	uint8_t type;
	struct meta_attr attr; /* filled only for plus listings */
};
typedef int (*meta_dirent_fn)(void *arg, const struct meta_dirent *e);
/*
 * Entries of directory ino in byte order of their names, strictly after
 * `after` (NULL = from the start), at most limit (0 = all). "." and ".." are
 * not produced; callers add them. cb returns non-zero to stop (returned).
 * With plus, attributes are read in the same transaction.
 */
int meta_readdir(struct meta *m, const struct meta_ctx *c, uint64_t ino, int plus,
		 const char *after, size_t limit, meta_dirent_fn cb, void *arg);
/*
 * All entries in the order JuiceFS's doReaddir lists them (SQL: by name;
 * Redis: HSCAN order), for outputs that copy JuiceFS's ordering of ties.
 */
int meta_readdir_native(struct meta *m, const struct meta_ctx *c, uint64_t ino, int plus,
			meta_dirent_fn cb, void *arg);

/* ---- open files and sustained inodes ---- */
int meta_open_file(struct meta *m, const struct meta_ctx *c, uint64_t ino, int flags,
		   struct meta_attr *attr);
/* Last close of an unlinked file deletes it. */
int meta_close_file(struct meta *m, uint64_t ino);

/* ---- xattrs (spec §10.7); flags: XATTR_CREATE 1, XATTR_REPLACE 2 ---- */
int meta_getxattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, const char *name,
		  struct buf *value);
/*
 * One xattr of n inodes in one read transaction, without permission checks
 * (for doors that list as root): found[i] = 1 and vals[i] the value when the
 * inode has it; vals[i] is reset either way.
 */
int meta_getxattrs(struct meta *m, const uint64_t *inos, size_t n, const char *name,
		   struct buf *vals, uint8_t *found);
int meta_setxattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, const char *name,
		  const void *value, size_t len, int flags);
/* Names, each NUL-terminated, concatenated (Linux listxattr format). */
int meta_listxattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, struct buf *names);
int meta_removexattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, const char *name);
/*
 * ---- POSIX ACLs (spec §10.6), on volumes with EnableACL ----
 * The xattr calls above route system.posix_acl_access/_default here (kernel
 * binary form; -EINVAL for a malformed value, -ENOTSUP without EnableACL;
 * remove never fails with -ENODATA). getfacl: -ENODATA when the node has no
 * such ACL (an access ACL that is only mode bits is not stored). setfacl:
 * owner or root (-EPERM); an empty rule removes; a minimal access rule only
 * sets mode bits; otherwise unset base entries come from the mode, the rule
 * is stored once per distinct rule, and an access rule's owner/mask/other
 * become the mode's rwx bits. A default ACL on a non-directory is -EACCES.
 */
int meta_getfacl(struct meta *m, const struct meta_ctx *c, uint64_t ino, int type,
		 struct meta_acl *rule);
int meta_setfacl(struct meta *m, const struct meta_ctx *c, uint64_t ino, int type,
		 const struct meta_acl *rule);

/* ---- chunks and slices (spec §3.4-§3.8, §7, §9) ---- */
int meta_new_slice_id(struct meta *m, uint64_t *id);
/* Raw records of chunk indx in list order; *out malloc'ed (NULL when empty). */
int meta_read_chunk(struct meta *m, uint64_t ino, uint32_t indx, struct meta_slice **out,
		    size_t *n);
/*
 * Commit a written slice at chunk offset pos (spec §3.6): grows the length,
 * usage and mtime. *nrecords (may be NULL) gets the chunk's record count after
 * the append, for the compaction trigger (spec §7.1).
 */
int meta_write_slice(struct meta *m, uint64_t ino, uint32_t indx, uint32_t pos,
		     const struct meta_slice *s, int64_t mtime_us, size_t *nrecords);
/*
 * Commit outcome of meta_write_slice and meta_compact_swap. They fail with
 * META_EUNKNOWN when the commit went out but its answer was lost (a Redis
 * connection dropped after EXEC, an SQLite error from COMMIT itself): the
 * records may be in the database, so the new slice's objects must be left
 * for gc. Only a failure for which meta_not_applied() holds lets the caller
 * delete them. Other meta_* calls report such a failure as -EIO.
 */
#define META_EUNKNOWN (-ENOTRECOVERABLE)
static inline int meta_not_applied(int r) { return r < 0 && r != META_EUNKNOWN; }
/* Set the length; appends hole records per spec §3.7. */
int meta_truncate(struct meta *m, const struct meta_ctx *c, uint64_t ino, uint64_t length,
		  struct meta_attr *attr);
#define META_FALLOC_KEEP_SIZE 0x01
#define META_FALLOC_PUNCH_HOLE 0x02
#define META_FALLOC_COLLAPSE_RANGE 0x08
#define META_FALLOC_ZERO_RANGE 0x10
#define META_FALLOC_INSERT_RANGE 0x20
int meta_fallocate(struct meta *m, const struct meta_ctx *c, uint64_t ino, int mode,
		   uint64_t off, uint64_t len, struct meta_attr *attr);
/*
 * Zero-copy copy: append the source's resolved pieces to the destination
 * chunks and take a reference on every slice (spec §3.7). *copied gets the
 * byte count (short at the source's end).
 */
int meta_copy_file_range(struct meta *m, const struct meta_ctx *c, uint64_t fin, uint64_t offin,
			 uint64_t fout, uint64_t offout, uint64_t size, uint64_t *copied,
			 struct meta_attr *out_attr);
/*
 * Compaction swap (spec §7.2 step 5): if the chunk still starts with the
 * `norigin` records `origin`, replace them with `skipped` records kept
 * as-is plus the new slice; else -EINVAL. Old slices go to delayed slices
 * (trash on) or are released.
 */
int meta_compact_swap(struct meta *m, uint64_t ino, uint32_t indx,
		      const struct meta_slice *origin, size_t norigin, size_t nskipped,
		      const struct meta_slice *newslice);

/*
 * Object deletion hook: meta calls it (from the calling thread or a cleanup
 * job) for every slice whose refcount dropped below one. It returns 0 once
 * every block object is gone; the refcount record is then removed.
 */
typedef int (*meta_delete_slice_fn)(void *arg, uint64_t id, uint32_t size);
void meta_set_slice_deleter(struct meta *m, meta_delete_slice_fn fn, void *arg);
/* Process delfiles entries older than `older_than_s` seconds (0 = all). */
int meta_cleanup_deleted_files(struct meta *m, int64_t older_than_s, int *count);
/* Trash expiry (spec §8) and delayed slices; now_s for testability (0 = now). */
int meta_cleanup_trash(struct meta *m, int64_t now_s, int *count);

struct meta_slice_ref {
	uint64_t id;
	uint32_t size;
	int64_t refs;
};
typedef int (*meta_slice_ref_fn)(void *arg, const struct meta_slice_ref *r);
/* Every slice referenced by some chunk (deduplicated); for gc and fsck. */
int meta_list_slices(struct meta *m, meta_slice_ref_fn cb, void *arg);
/* Slices whose refcount fell below one, waiting for their objects to go (gc). */
int meta_list_dead_slices(struct meta *m, meta_slice_ref_fn cb, void *arg);
/* Slices held by delayed-slice records (compaction with trash on); refs = 0. */
int meta_list_delayed_slices(struct meta *m, meta_slice_ref_fn cb, void *arg);
/*
 * Delete the objects of every dead slice through the deleter and drop its
 * refcount record (the hourly "slices" job, gc --delete). *count: slices done.
 */
int meta_cleanup_slices(struct meta *m, int *count);
typedef int (*meta_delfile_info_fn)(void *arg, uint64_t ino, uint64_t length, int64_t when);
/* Pending deleted files (delfiles). */
int meta_list_deleted_files(struct meta *m, meta_delfile_info_fn cb, void *arg);
/* Every chunk's raw records with its inode, for fsck's broken-file report. */
typedef int (*meta_chunk_records_fn)(void *arg, uint64_t ino, uint32_t indx,
				     const struct meta_slice *s, size_t n);
int meta_scan_all_chunks(struct meta *m, meta_chunk_records_fn cb, void *arg);

/* ---- locks (spec §10.2) ---- */
#define META_LOCK_UNLOCK 0
#define META_LOCK_READ 1
#define META_LOCK_WRITE 2
/* flock: -EAGAIN when held elsewhere and !block; block polls. */
int meta_flock(struct meta *m, uint64_t ino, uint64_t owner, int type, int block);
struct meta_plock {
	int type; /* META_LOCK_* */
	uint32_t pid;
	uint64_t start, end; /* inclusive end; UINT64 0x7FFFFFFFFFFFFFFF = to EOF */
};
int meta_getlk(struct meta *m, uint64_t ino, uint64_t owner, struct meta_plock *lk);
int meta_setlk(struct meta *m, uint64_t ino, uint64_t owner, int block,
	       const struct meta_plock *lk);

/* ---- paths (for the HTTP doors and tools) ---- */
/* Resolve "/a/b" from the root (no symlink following); -ENOENT/-ENOTDIR. */
int meta_resolve(struct meta *m, const struct meta_ctx *c, const char *path, uint64_t *ino,
		 struct meta_attr *attr);
/* Path of an inode from its parent pointers ("/" for root); -ENOENT if detached. */
int meta_path_of(struct meta *m, uint64_t ino, struct buf *path);

/* ---- dump / load (spec §11.1, §11.2; meta/dump.c) ---- */
/* Sinks and sources of the JSON stream: bytes done (0 = end of input) or -errno. */
typedef ssize_t (*meta_write_fn)(void *arg, const void *p, size_t n);
typedef ssize_t (*meta_read_fn)(void *arg, void *p, size_t n);
struct meta_dump_opts {
	const char *subdir; /* dump this directory as the root (no trash) */
	int keep_secret;    /* else SecretKey and SessionToken become "removed" */
	int skip_trash;
	int threads;        /* readers of a directory page at once (1..64) */
	int progress;       /* counts and rate on stderr */
};
/*
 * Stream the volume as JuiceFS 1.x JSON (the setting must be loaded). Memory
 * does not grow with the volume. err gets one line on failure.
 */
int meta_dump(struct meta *m, const struct meta_dump_opts *o, meta_write_fn fn, void *arg,
	      struct buf *err);
struct meta_load_opts {
	int progress;
};
/*
 * Load a JSON dump into a database that holds nothing (-EEXIST: a volume;
 * -ENOTEMPTY: records without a volume). Any other failure leaves the
 * database empty again; err gets one line naming the input position.
 */
int meta_load(struct meta *m, const struct meta_load_opts *o, meta_read_fn fn, void *arg,
	      struct buf *err);

/* ---- directory quotas (spec §10.5) ---- */
/*
 * A quota on a directory limits the space and inodes of everything below it
 * (recursively; the directory itself is not counted). Limits <= 0 are
 * unlimited. Usage is kept in the same transaction as the change that causes
 * it, for every quota on the way to the root (nested quotas all count), so it
 * is exact however many writers race; a change that would take any of them
 * past its limit fails with -EDQUOT and changes nothing. Which directories
 * have a quota is cached and reloaded every second (as JuiceFS reloads it
 * every heartbeat): another client's new quota is enforced from then on.
 */
struct meta_quota {
	int64_t max_space, max_inodes;
	int64_t used_space, used_inodes;
};
typedef int (*meta_quota_fn)(void *arg, uint64_t ino, const struct meta_quota *q);
/*
 * Set the limits of directory ino; a limit < 0 keeps the stored one (or
 * unlimited for a new quota). A new quota's usage is counted by a walk (strict:
 * every attribute; otherwise dir stats where present), as `quota set` does.
 * Turns DirStats on. *created (may be NULL) tells whether it is new.
 */
int meta_quota_set(struct meta *m, uint64_t ino, int64_t max_space, int64_t max_inodes,
		   int strict, int *created);
int meta_quota_get(struct meta *m, uint64_t ino, struct meta_quota *q); /* -ENOENT: none */
int meta_quota_del(struct meta *m, uint64_t ino);
int meta_quota_list(struct meta *m, meta_quota_fn cb, void *arg);
/*
 * Usage of the tree below directory ino as a quota counts it (the directory
 * itself excluded): strict walks every attribute, otherwise dir stats are
 * used where present.
 */
int meta_dir_usage(struct meta *m, uint64_t ino, int strict, int64_t *space, int64_t *inodes);
/* Overwrite the stored usage of ino's quota (quota check --repair). */
int meta_quota_set_usage(struct meta *m, uint64_t ino, int64_t space, int64_t inodes);
/*
 * Would adding space/inodes below ino (a directory: itself; otherwise its
 * parent directories) cross a quota? 0 or -EDQUOT. A read only, for doors
 * that refuse before storing data; the commit checks again.
 */
int meta_quota_precheck(struct meta *m, uint64_t ino, int64_t space, int64_t inodes);
/*
 * Room for file ino to grow: the least space left in the quotas above its
 * directories (*room -1: no limit), and its committed length.
 */
int meta_quota_room(struct meta *m, uint64_t ino, int64_t *room, uint64_t *length);
/* Reload the cached set of quota directories now (after a change elsewhere). */
void meta_quota_reload(struct meta *m);
/* Whether the volume has any directory quota (cached, as above): cheap. */
int meta_quota_any(struct meta *m);

#endif
