/*
 * meta-internal: the engine primitive table and the base struct.
 *
 * Engines implement transactional record primitives; meta.c composes them into
 * file-system operations so that every rule exists once. A transaction is
 * begun, primitives are called on it, and it is committed or aborted. On
 * commit conflict (SQLite busy, Redis WATCH failure) commit returns -EAGAIN
 * and meta.c reruns the whole operation with back-off (up to 50 times).
 *
 * Engine invariants:
 *  1. Reads inside a transaction see the transaction's own earlier writes.
 *  2. Nothing written inside a transaction is visible to others before commit,
 *     and abort discards all of it.
 *  3. Primitives return 0 or -errno; "not found" is -ENOENT; engine failure is
 *     -EIO (after logging what failed). They never enforce file-system rules.
 *  4. Each engine keeps JuiceFS's own schema and value encodings (spec §3/§4),
 *     including per-engine counter and refcount semantics; the primitives below
 *     speak one normalised language and the engine translates:
 *       - alloc_ids returns the first id of a fresh range [first, first+n);
 *       - slice refcounts are true counts (SQL stores them, Redis stores count-1).
 *  5. A primitive may be called from any thread; engines keep per-thread
 *     connections (SQLite) or a pool (PostgreSQL), and a transaction never
 *     migrates between threads.
 *  6. Commit outcome: 0 applied; -EAGAIN conflict, not applied (rerun);
 *     META_ENOTAPPLIED certainly not applied (nothing reached the engine, or
 *     it refused the whole transaction); META_ETRANSIENT certainly not
 *     applied and the engine is briefly unavailable (rerun after back-off);
 *     -ENOSPC certainly not applied because the engine is out of space
 *     (a full disk under SQLite or PostgreSQL, Redis over maxmemory), so
 *     the writer is told ENOSPC and may delete what it uploaded.
 *     Any other error means the outcome is unknown: the commit may have been
 *     applied and only its answer lost. Engines return META_ENOTAPPLIED or
 *     META_ETRANSIENT only when they know; unknown is the safe default.
 *     Primitives, begin, alloc_ids and get_setting may return
 *     META_ETRANSIENT too; meta.c never passes either code to its callers.
 */
#ifndef JFS_META_INTERNAL_H
#define JFS_META_INTERNAL_H

#include <pthread.h>

#include "meta/meta.h"

struct meta_txn; /* engine-defined */

/* What get_dir_entry reads: a directory, its entry of a name, the entry's node. */
struct meta_dir_entry {
	struct meta_attr dir;
	int found, have_attr;
	uint64_t ino;
	uint8_t type;
	struct meta_attr attr;
};

/* Engine results private to the meta layer (engine invariant 6). */
#define META_ENOTAPPLIED (-ECANCELED)
#define META_TXN_SOLO 2
#define META_ETRANSIENT (-ERESTART)
/* How long meta.c waits out META_ETRANSIENT before failing with -EIO. */
#define META_TRANSIENT_MS 15000
/* ... and while meta_close ends the session: a server told to stop should not
 * spend 15 s per call on a dead engine; a session left behind goes stale and
 * another client cleans it up. */
#define META_CLOSING_TRANSIENT_MS 2000

typedef int (*meta_entry_fn)(void *arg, const char *name, size_t namelen, uint64_t ino,
			     uint8_t type);
typedef int (*meta_name_fn)(void *arg, const char *name, size_t len);
typedef int (*meta_u64_fn)(void *arg, uint64_t v);
typedef int (*meta_chunk_fn)(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs,
			     size_t len);
typedef int (*meta_delfile_fn)(void *arg, uint64_t ino, uint64_t length, int64_t when);
typedef int (*meta_sustained_fn)(void *arg, uint64_t sid, uint64_t ino);
typedef int (*meta_flock_fn)(void *arg, uint64_t sid, uint64_t owner, char ltype);
typedef int (*meta_plock_fn)(void *arg, uint64_t sid, uint64_t owner, const uint8_t *recs,
			     size_t len);
typedef int (*meta_delslices_fn)(void *arg, uint64_t newid, int64_t when, const uint8_t *recs,
				 size_t len);
typedef int (*meta_acl_fn)(void *arg, uint32_t id, const struct meta_acl *rule);
typedef int (*meta_session_raw_fn)(void *arg, uint64_t sid, int64_t expire, const char *info);
/* One lock held by a session: flock (ltype 'R'/'W') or plock (recs, len). */
typedef int (*meta_session_lock_fn)(void *arg, uint64_t ino, uint64_t owner, int is_flock,
				    char ltype, const uint8_t *recs, size_t len);

/* What a dump writes of an inode besides its attribute (get_extras). */
struct meta_extras {
	struct buf xattrs;  /* repeated: u32 BE name length, name, u32 BE value length, value */
	struct buf target;  /* symlink target */
	struct buf *chunks; /* raw records of chunk i < nchunks; malloc'ed by the engine */
	uint32_t nchunks;
};

struct meta_dirstat {
	int64_t length, space, inodes;
};

struct meta_engine_ops {
	const char *name;
	int solo_reads; /* begin takes META_TXN_SOLO */
	void (*close)(struct meta *m);

	/* ---- outside transactions ---- */
	/* -ENOENT: no setting; -EINVAL: not a JuiceFS database. */
	int (*get_setting)(struct meta *m, struct buf *json);
	/* Create the schema if missing (idempotent). */
	int (*init_schema)(struct meta *m);
	/* Drop everything of the volume. */
	int (*reset)(struct meta *m);
	/*
	 * *empty = 1 when the database holds no record of any kind JuiceFS
	 * writes (an empty schema counts as empty): the only state `load` accepts.
	 */
	int (*is_empty)(struct meta *m, int *empty);
	/* Reserve n ids of counter ("nextInode", "nextChunk", "nextSession", "nextTrash") in its own transaction. */
	int (*alloc_ids)(struct meta *m, const char *counter, uint64_t n, uint64_t *first);

	/* ---- transactions ---- */
	/*
	 * write: 0 a read, 1 a write, META_TXN_SOLO (engines with solo_reads
	 * only) a read whose statements need no common snapshot: the engine
	 * may run each on its own, as the real client runs its lookups and
	 * getattrs, and spare BEGIN and COMMIT.
	 */
	int (*begin)(struct meta *m, int write, struct meta_txn **t);
	int (*commit)(struct meta_txn *t); /* frees t; -EAGAIN on conflict */
	void (*abort)(struct meta_txn *t); /* frees t */

	int (*set_setting)(struct meta_txn *t, const char *json);
	/* Plain counters (usedSpace, totalInodes, lastCleanup*): value 0 when absent. */
	int (*get_counter)(struct meta_txn *t, const char *name, int64_t *v);
	int (*incr_counter)(struct meta_txn *t, const char *name, int64_t delta, int64_t *newv);
	int (*set_counter)(struct meta_txn *t, const char *name, int64_t v);

	int (*get_attr)(struct meta_txn *t, uint64_t ino, struct meta_attr *a);
	/*
	 * Optional batch of get_attr for readdir-plus: found[i] = 0 for a missing
	 * inode. Engines that lack it get one get_attr per entry.
	 */
	int (*get_attrs)(struct meta_txn *t, const uint64_t *inos, size_t n, struct meta_attr *a,
			 uint8_t *found);
	/*
	 * Optional, read transactions only (-ENOSYS otherwise): for a page of a
	 * dump, the xattrs of each inode, the target of each symlink and the
	 * chunks of each file below its length, from attributes already read
	 * (a zeroed attribute: nothing to read). Lets an engine batch the reads
	 * a dump would make one at a time (Redis: one pipeline).
	 */
	int (*get_extras)(struct meta_txn *t, const uint64_t *inos, const struct meta_attr *a,
			  size_t n, struct meta_extras *out);
	int (*put_attr)(struct meta_txn *t, uint64_t ino, const struct meta_attr *a);
	int (*del_attr)(struct meta_txn *t, uint64_t ino);

	int (*get_entry)(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			 uint64_t *ino, uint8_t *type);
	/*
	 * Optional, for engines that pay a round trip per statement: get_attr
	 * of parent, its get_entry of name and get_attr of that entry's inode
	 * in one call. -ENOENT when parent has no node; found 0 without the
	 * entry, have_attr 0 when the entry names no node (dangling).
	 */
	int (*get_dir_entry)(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			     struct meta_dir_entry *de);
	int (*put_entry)(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			 uint64_t ino, uint8_t type); /* insert or replace */
	int (*del_entry)(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen);
	/* Byte order of names, strictly after `after` (NULL = start), limit 0 = all. */
	int (*scan_entries)(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
			    size_t limit, meta_entry_fn cb, void *arg);
	/*
	 * Optional: every entry in the order JuiceFS's own doReaddir sees them
	 * (Redis: HSCAN), for outputs that copy its order; NULL = scan_entries.
	 */
	int (*scan_entries_native)(struct meta_txn *t, uint64_t parent, meta_entry_fn cb,
				   void *arg);
	int (*count_entries)(struct meta_txn *t, uint64_t parent, uint64_t *n);

	/*
	 * Hard-link parent table (Redis p<ino>; SQL derives it from edges and
	 * implements incr as a no-op). list gives each distinct parent once.
	 */
	int (*incr_parent)(struct meta_txn *t, uint64_t ino, uint64_t parent, int64_t delta);
	int (*list_parents)(struct meta_txn *t, uint64_t ino, meta_u64_fn cb, void *arg);
	int (*del_parents)(struct meta_txn *t, uint64_t ino);

	int (*get_symlink)(struct meta_txn *t, uint64_t ino, struct buf *target);
	int (*put_symlink)(struct meta_txn *t, uint64_t ino, const char *target, size_t len);
	int (*del_symlink)(struct meta_txn *t, uint64_t ino);

	int (*get_xattr)(struct meta_txn *t, uint64_t ino, const char *name, struct buf *val);
	/*
	 * Optional: get_xattr of one name for n inodes (a listing page's ETags),
	 * found[i] = 0 when absent; vals[i] is reset first. Engines that lack it
	 * get one get_xattr per inode.
	 */
	int (*get_xattrs)(struct meta_txn *t, const uint64_t *inos, size_t n, const char *name,
			  struct buf *vals, uint8_t *found);
	int (*put_xattr)(struct meta_txn *t, uint64_t ino, const char *name, const void *val,
			 size_t len);
	int (*del_xattr)(struct meta_txn *t, uint64_t ino, const char *name); /* -ENOENT if absent */
	int (*scan_xattrs)(struct meta_txn *t, uint64_t ino, meta_name_fn cb, void *arg);
	int (*del_xattrs)(struct meta_txn *t, uint64_t ino);

	/* Chunk record lists: raw concatenated 24-byte records. Missing = empty. */
	int (*get_chunk)(struct meta_txn *t, uint64_t ino, uint32_t indx, struct buf *recs);
	/* Append; *count (may be NULL) = number of records after. */
	int (*append_chunk)(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			    size_t len, size_t *count);
	int (*set_chunk)(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			 size_t len); /* len 0 deletes */
	int (*scan_chunks)(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg);
	/*
	 * Optional: the chunks of ino among indices [0, nchunks), without their
	 * records (cb gets recs NULL, len 0). For engines where listing by key
	 * pattern walks the whole keyspace (Redis SCAN); meta.c uses it only
	 * where no chunk can lie past the file's length (truncate drops them).
	 */
	int (*chunks_below)(struct meta_txn *t, uint64_t ino, uint32_t nchunks, meta_chunk_fn cb,
			    void *arg);
	/* Every chunk of every inode (ino 0) for gc; may be called without a write txn. */
	int (*scan_all_chunks)(struct meta_txn *t, meta_chunk_fn cb, void *arg);

	/* Slice refcounts as true counts. new_slice records refcount 1 (SQL row; Redis no-op). */
	int (*new_slice)(struct meta_txn *t, uint64_t id, uint32_t size);
	int (*incr_ref)(struct meta_txn *t, uint64_t id, uint32_t size, int64_t delta,
			int64_t *refs);
	int (*del_ref)(struct meta_txn *t, uint64_t id, uint32_t size);
	/* Slices whose refcount is < 1 (pending deletion). */
	int (*scan_dead_refs)(struct meta_txn *t, meta_slice_ref_fn cb, void *arg);

	int (*put_delslices)(struct meta_txn *t, uint64_t newid, int64_t when, const uint8_t *recs,
			     size_t len);
	int (*del_delslices)(struct meta_txn *t, uint64_t newid, int64_t when);
	int (*scan_delslices)(struct meta_txn *t, meta_delslices_fn cb, void *arg);

	int (*add_delfile)(struct meta_txn *t, uint64_t ino, uint64_t length, int64_t when);
	int (*del_delfile)(struct meta_txn *t, uint64_t ino);
	int (*scan_delfiles)(struct meta_txn *t, meta_delfile_fn cb, void *arg);

	int (*add_sustained)(struct meta_txn *t, uint64_t sid, uint64_t ino);
	int (*del_sustained)(struct meta_txn *t, uint64_t sid, uint64_t ino);
	/* sid 0 = all sessions */
	int (*scan_sustained)(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg);

	int (*put_session)(struct meta_txn *t, uint64_t sid, int64_t expire, const char *info);
	/* Update expiry only; -ENOENT if the session record vanished. */
	int (*touch_session)(struct meta_txn *t, uint64_t sid, int64_t expire);
	int (*del_session)(struct meta_txn *t, uint64_t sid);
	int (*scan_sessions)(struct meta_txn *t, meta_session_raw_fn cb, void *arg);

	/* Dir stats: add deltas (creating the record); get is -ENOENT when absent. */
	int (*incr_dirstat)(struct meta_txn *t, uint64_t ino, const struct meta_dirstat *d);
	int (*get_dirstat)(struct meta_txn *t, uint64_t ino, struct meta_dirstat *d);
	int (*del_dirstat)(struct meta_txn *t, uint64_t ino);

	/* ltype 'R' / 'W'; put with ltype 0 deletes. */
	int (*scan_flocks)(struct meta_txn *t, uint64_t ino, meta_flock_fn cb, void *arg);
	int (*put_flock)(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner, char ltype);
	/* recs: concatenated 24-byte plock records; len 0 deletes. */
	int (*scan_plocks)(struct meta_txn *t, uint64_t ino, meta_plock_fn cb, void *arg);
	int (*put_plock)(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
			 const uint8_t *recs, size_t len);
	/* Drop every flock/plock of a session (stale-session cleanup). */
	int (*del_session_locks)(struct meta_txn *t, uint64_t sid);
	/* Every flock, then every plock, a session holds (`status -s`). */
	int (*scan_session_locks)(struct meta_txn *t, uint64_t sid, meta_session_lock_fn cb,
				  void *arg);

	/*
	 * Dir quotas (SQL jfs_dir_quota, Redis dirQuota* hashes, TKV QD):
	 * get is -ENOENT when ino has no quota; put writes all four fields;
	 * incr adds to the usage of an existing quota; scan gives every one.
	 */
	int (*get_quota)(struct meta_txn *t, uint64_t ino, struct meta_quota *q);
	int (*put_quota)(struct meta_txn *t, uint64_t ino, const struct meta_quota *q);
	int (*incr_quota)(struct meta_txn *t, uint64_t ino, int64_t space, int64_t inodes);
	int (*del_quota)(struct meta_txn *t, uint64_t ino);
	int (*scan_quotas)(struct meta_txn *t, meta_quota_fn cb, void *arg);

	/*
	 * POSIX ACL rules (spec §10.6: SQL jfs_acl, Redis hash acl, TKV-style
	 * R<id>): get is -ENOENT for an unknown id; put stores the rule under a
	 * fresh id (SQL auto-increment; counter aclMaxId elsewhere) without
	 * looking for an identical one, which meta.c does; scan gives every rule.
	 */
	int (*get_acl)(struct meta_txn *t, uint32_t id, struct meta_acl *rule);
	int (*put_acl)(struct meta_txn *t, const struct meta_acl *rule, uint32_t *id);
	int (*scan_acls)(struct meta_txn *t, meta_acl_fn cb, void *arg);
};

/* An open file counted by this process (sustained-inode bookkeeping). */
struct meta_open_ent {
	uint64_t ino;
	int refs;
	struct meta_open_ent *next;
};

/* Base struct, embedded first in every engine. */
struct meta {
	const struct meta_engine_ops *ops;
	int closing; /* atomic: meta_close has begun; see META_CLOSING_TRANSIENT_MS */
	char *url;
	struct meta_conf conf;
	struct conf_format fmt;
	int fmt_loaded;
	uint64_t sid;
	char *session_info; /* SessionInfo JSON, re-put if the record vanished */

	/*
	 * Guards the id batches. Held across alloc_ids (a write transaction),
	 * so it must never be taken inside one, and never together with mu,
	 * which transactions do take.
	 */
	pthread_mutex_t id_mu;
	uint64_t next_ino, max_ino;
	uint64_t next_slice, max_slice;
	pthread_mutex_t mu; /* guards everything below */
	struct meta_open_ent *open_files[256];
	uint64_t trash_hour_ino; /* cached hour directory */
	char trash_hour_name[16];
	meta_delete_slice_fn deleter;
	void *deleter_arg;

	/*
	 * Files whose data is deleted in the background (conf.async_deletes):
	 * a ring of DEAD_QUEUE_MAX (meta.c) entries served by up to async_deletes threads,
	 * started on demand; meta_close stops taking entries, and the threads
	 * finish the queue and are joined before the session closes. Under dq_mu.
	 */
	pthread_mutex_t dq_mu;
	pthread_cond_t dq_cond;
	struct meta_dead_file {
		uint64_t ino, length;
	} *dq;
	size_t dq_head, dq_len;
	pthread_t *dq_th;
	unsigned dq_threads, dq_idle;
	int dq_stop;

	/*
	 * Directories that have a quota, sorted, reloaded every second (see
	 * meta.h). Taken briefly inside transactions, never held across one.
	 */
	pthread_mutex_t quota_mu;
	uint64_t *quota_inos;
	size_t nquota;
	int64_t quota_loaded_ms; /* 0 = never */
	int quota_load_failed;   /* warned once until a load succeeds */

	/*
	 * ACL rules by id (spec §10.6). A stored rule never changes, so a rule
	 * once read stays true; only rules read from the engine enter, never
	 * one this process just put (its transaction may still abort).
	 * acl_mu is taken briefly, never across an engine call.
	 */
	pthread_mutex_t acl_mu;
	struct meta_acl *acls; /* index id; acl_have[id] says whether it is loaded */
	uint8_t *acl_have;
	uint32_t nacls;
};

/* Engine constructors: set m->ops and engine state; base fields are filled by meta_open. */
int meta_sqlite_open(const struct conf_meta_url *u, struct meta **out, struct buf *err);
int meta_mem_open(const struct conf_meta_url *u, struct meta **out, struct buf *err);
/* redis://, unix:// (Sentinel and Cluster from the host list); rediss:// is refused. */
int meta_redis_open(const struct conf_meta_url *u, struct meta **out, struct buf *err);
/* postgres://user:pass@host:port/db?libpq-options */
int meta_postgres_open(const struct conf_meta_url *u, struct meta **out, struct buf *err);
/* mysql://user:pass@(host:port)/db?params, unix(/socket) too (mysql.c) */
int meta_mysql_open(const struct conf_meta_url *u, struct meta **out, struct buf *err);

#endif
