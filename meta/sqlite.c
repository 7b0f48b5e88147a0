/*
 * sqlite: the SQLite metadata engine (spec §4, §1.2, §3.4, §3.5, §10).
 *
 * The database is the one real JuiceFS 1.4 creates: the same tables, created
 * with byte-identical DDL in the same order (so `.schema` of a volume we
 * formatted equals the real client's), the same value conventions (node times
 * as microseconds plus leftover nanoseconds, true slice refcounts, chunk
 * records as one concatenated blob) and SQL counter semantics. This file only
 * implements the transactional record primitives of meta-internal.h; the file
 * system rules live in meta.c.
 *
 * Concurrency model:
 *  1. Every thread gets its own connection (pthread key), opened lazily and
 *     closed at thread exit or at close. A connection carries its prepared
 *     statements, so a statement is never shared between threads.
 *  2. The database runs in WAL mode with a busy timeout, so several processes
 *     and threads may use one file: readers never block the writer and one
 *     writer at a time holds the write lock.
 *  3. Write transactions start with BEGIN IMMEDIATE, taking the write lock up
 *     front: a transaction that began never fails later for lack of it, and
 *     a lock still busy after the timeout is reported as -EAGAIN so meta.c
 *     reruns the whole operation. Read transactions use a deferred BEGIN and
 *     read one snapshot.
 *     Within one process, writers queue on a mutex before BEGIN IMMEDIATE:
 *     SQLite's busy handler waits by sleeping (up to 100 ms a lap), so
 *     letting our own threads collide on the file lock cut concurrent small
 *     writes to a few hundred a second.
 *  4. A thread has at most one transaction open; its handle lives inside the
 *     thread's connection, so begin allocates nothing. The primitives that
 *     run outside transactions (alloc_ids, get_setting, ...) must not be
 *     called by a thread that has one open: they would need to nest.
 *  5. Lock contention anywhere (SQLITE_BUSY/LOCKED, also from a read
 *     snapshot or a commit) is -EAGAIN; the transaction is then aborted and
 *     rerun by meta.c.
 *  6. Connections never cross fork(): a child opens its own.
 *
 * Commit outcome (meta-internal.h invariant 6): a transaction SQLite already
 * rolled back is META_ENOTAPPLIED and a busy COMMIT -EAGAIN (it is rolled
 * back here); any other error from COMMIT itself is an unknown outcome.
 * Fault injection for tests: with JFS_FAULT_SQLITE_SLICE_COMMIT=N in the
 * environment, every Nth transaction that records a new slice (a write or a
 * compaction) reports an I/O error after its COMMIT succeeded, the way a
 * failing disk or a lost answer would look. Unset, it costs one branch.
 *
 * Durability: synchronous=NORMAL. In WAL mode this never corrupts the file;
 * a power loss may drop the last transactions committed before it.
 *
 * URL options: _busy_timeout (or _timeout) in ms, default 5000; _journal (or
 * _journal_mode), default WAL; _jfs_create=1 (set by meta_open for format)
 * allows creating a missing file. go-sqlite3's cache=shared is ignored: each
 * connection has a private cache, which is what lets readers run beside the
 * writer.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "meta/meta-internal.h"

#define MSQ_DEFAULT_BUSY_MS 5000

/*
 * The schema of JuiceFS 1.4.2, statement for statement in creation order.
 * sqlite_sequence is created by SQLite itself with the first AUTOINCREMENT
 * table (jfs_edge), which puts it at the same place as in a real volume.
 */
static const struct msq_ddl {
	const char *name;
	const char *sql;
} msq_schema[] = {
	{ "jfs_setting",
	  "CREATE TABLE `jfs_setting` (`name` TEXT PRIMARY KEY NOT NULL, `value` TEXT NOT NULL)" },
	{ "jfs_counter",
	  "CREATE TABLE `jfs_counter` (`name` TEXT PRIMARY KEY NOT NULL, "
	  "`value` INTEGER NOT NULL)" },
	{ "jfs_edge",
	  "CREATE TABLE `jfs_edge` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`parent` INTEGER NOT NULL, `name` BLOB NOT NULL, `inode` INTEGER NOT NULL, "
	  "`type` INTEGER NOT NULL)" },
	{ "UQE_jfs_edge_edge",
	  "CREATE UNIQUE INDEX `UQE_jfs_edge_edge` ON `jfs_edge` (`parent`,`name`)" },
	{ "IDX_jfs_edge_inode", "CREATE INDEX `IDX_jfs_edge_inode` ON `jfs_edge` (`inode`)" },
	{ "jfs_node",
	  "CREATE TABLE `jfs_node` (`inode` INTEGER PRIMARY KEY NOT NULL, `type` INTEGER NOT NULL, "
	  "`flags` INTEGER NOT NULL, `mode` INTEGER NOT NULL, `uid` INTEGER NOT NULL, "
	  "`gid` INTEGER NOT NULL, `atime` INTEGER NOT NULL, `mtime` INTEGER NOT NULL, "
	  "`ctime` INTEGER NOT NULL, `atimensec` INTEGER DEFAULT 0 NOT NULL, "
	  "`mtimensec` INTEGER DEFAULT 0 NOT NULL, `ctimensec` INTEGER DEFAULT 0 NOT NULL, "
	  "`nlink` INTEGER NOT NULL, `length` INTEGER NOT NULL, `rdev` INTEGER NULL, "
	  "`parent` INTEGER NULL, `access_acl_id` INTEGER NULL, `default_acl_id` INTEGER NULL, "
	  "`tier_id` INTEGER NULL)" },
	{ "jfs_symlink",
	  "CREATE TABLE `jfs_symlink` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`target` BLOB NOT NULL)" },
	{ "jfs_xattr",
	  "CREATE TABLE `jfs_xattr` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `name` TEXT NOT NULL, `value` BLOB NOT NULL)" },
	{ "UQE_jfs_xattr_name",
	  "CREATE UNIQUE INDEX `UQE_jfs_xattr_name` ON `jfs_xattr` (`inode`,`name`)" },
	{ "jfs_chunk",
	  "CREATE TABLE `jfs_chunk` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `indx` INTEGER NOT NULL, `slices` BLOB NOT NULL)" },
	{ "UQE_jfs_chunk_chunk",
	  "CREATE UNIQUE INDEX `UQE_jfs_chunk_chunk` ON `jfs_chunk` (`inode`,`indx`)" },
	{ "jfs_chunk_ref",
	  "CREATE TABLE `jfs_chunk_ref` (`chunkid` INTEGER PRIMARY KEY NOT NULL, "
	  "`size` INTEGER NOT NULL, `refs` INTEGER NOT NULL)" },
	{ "IDX_jfs_chunk_ref_refs",
	  "CREATE INDEX `IDX_jfs_chunk_ref_refs` ON `jfs_chunk_ref` (`refs`)" },
	{ "jfs_delslices",
	  "CREATE TABLE `jfs_delslices` (`chunkid` INTEGER PRIMARY KEY NOT NULL, "
	  "`deleted` INTEGER NOT NULL, `slices` BLOB NOT NULL)" },
	{ "jfs_session2",
	  "CREATE TABLE `jfs_session2` (`sid` INTEGER PRIMARY KEY NOT NULL, "
	  "`expire` INTEGER NOT NULL, `info` BLOB NULL)" },
	{ "jfs_sustained",
	  "CREATE TABLE `jfs_sustained` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`sid` INTEGER NOT NULL, `inode` INTEGER NOT NULL)" },
	{ "UQE_jfs_sustained_sustained",
	  "CREATE UNIQUE INDEX `UQE_jfs_sustained_sustained` ON `jfs_sustained` (`sid`,`inode`)" },
	{ "jfs_delfile",
	  "CREATE TABLE `jfs_delfile` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`length` INTEGER NOT NULL, `expire` INTEGER NOT NULL)" },
	{ "jfs_flock",
	  "CREATE TABLE `jfs_flock` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `sid` INTEGER NOT NULL, `owner` INTEGER NOT NULL, "
	  "`ltype` INTEGER NOT NULL)" },
	{ "UQE_jfs_flock_flock",
	  "CREATE UNIQUE INDEX `UQE_jfs_flock_flock` ON `jfs_flock` (`inode`,`sid`,`owner`)" },
	{ "jfs_plock",
	  "CREATE TABLE `jfs_plock` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `sid` INTEGER NOT NULL, `owner` INTEGER NOT NULL, "
	  "`records` BLOB NOT NULL)" },
	{ "UQE_jfs_plock_plock",
	  "CREATE UNIQUE INDEX `UQE_jfs_plock_plock` ON `jfs_plock` (`inode`,`sid`,`owner`)" },
	{ "jfs_dir_quota",
	  "CREATE TABLE `jfs_dir_quota` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`max_space` INTEGER NOT NULL, `max_inodes` INTEGER NOT NULL, "
	  "`used_space` INTEGER NOT NULL, `used_inodes` INTEGER NOT NULL)" },
	{ "jfs_user_group_quota",
	  "CREATE TABLE `jfs_user_group_quota` (`qtype` INTEGER NOT NULL, `qkey` INTEGER NOT NULL, "
	  "`max_space` INTEGER NOT NULL, `max_inodes` INTEGER NOT NULL, "
	  "`used_space` INTEGER NOT NULL, `used_inodes` INTEGER NOT NULL, "
	  "PRIMARY KEY ( `qtype`,`qkey` ))" },
	{ "jfs_dir_stats",
	  "CREATE TABLE `jfs_dir_stats` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`data_length` INTEGER NOT NULL, `used_space` INTEGER NOT NULL, "
	  "`used_inodes` INTEGER NOT NULL)" },
	{ "jfs_detached_node",
	  "CREATE TABLE `jfs_detached_node` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`added` INTEGER NOT NULL)" },
	{ "jfs_acl",
	  "CREATE TABLE `jfs_acl` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`owner` INTEGER NULL, `group` INTEGER NULL, `mask` INTEGER NULL, `other` INTEGER NULL, "
	  "`named_users` BLOB NULL, `named_groups` BLOB NULL)" },
	{ "jfs_delegation_token",
	  "CREATE TABLE `jfs_delegation_token` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`token` BLOB NULL)" },
	{ "jfs_change_log",
	  "CREATE TABLE `jfs_change_log` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`entry` TEXT NOT NULL)" },
};

/*
 * The counter rows `juicefs format` writes, in its order. A real client
 * treats an absent nextChunk as 0 and would hand out slice id 0 (a hole), so
 * a volume we create must have them.
 */
static const struct {
	const char *name;
	int64_t value;
} msq_initial_counters[] = {
	{ "nextInode", 2 }, { "nextChunk", 1 },	  { "nextSession", 0 },
	{ "usedSpace", 0 }, { "totalInodes", 0 }, { "nextCleanupSlices", 0 },
};

/* Tables of older releases that reset drops as well (indexes go with their tables). */
static const char *const msq_legacy_tables[] = { "jfs_session" };

#define MSQ_NODE_COLS                                                                       \
	"type, flags, mode, uid, gid, atime, mtime, ctime, atimensec, mtimensec, ctimensec, " \
	"nlink, length, rdev, parent, access_acl_id, default_acl_id, tier_id"

/*
 * Every statement the engine runs, prepared once per connection. Appending
 * to a chunk casts the result back to BLOB: SQLite's || yields TEXT, which a
 * NUL byte would cut short for length() and which is not what a blob column
 * should hold.
 */
#define MSQ_STATEMENTS(X)                                                                    \
	X(BEGIN_R, "BEGIN")                                                                  \
	X(BEGIN_W, "BEGIN IMMEDIATE")                                                        \
	X(COMMIT, "COMMIT")                                                                  \
	X(ROLLBACK, "ROLLBACK")                                                              \
	X(HAS_OBJECT, "SELECT count(*) FROM sqlite_master WHERE name = ?1")                  \
	X(COUNT_FOREIGN,                                                                     \
	  "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "                     \
	  "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'jfs\\_%' ESCAPE '\\'")  \
	X(GET_SETTING, "SELECT value FROM jfs_setting WHERE name = 'format'")                \
	X(PUT_SETTING, "INSERT INTO jfs_setting (name, value) VALUES ('format', ?1) "       \
		       "ON CONFLICT (name) DO UPDATE SET value = excluded.value")            \
	X(GET_COUNTER, "SELECT value FROM jfs_counter WHERE name = ?1")                      \
	X(ADD_COUNTER, "INSERT INTO jfs_counter (name, value) VALUES (?1, ?2) "              \
		       "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value")    \
	X(SET_COUNTER, "INSERT INTO jfs_counter (name, value) VALUES (?1, ?2) "              \
		       "ON CONFLICT (name) DO UPDATE SET value = excluded.value")            \
	X(SEED_COUNTER, "INSERT INTO jfs_counter (name, value) VALUES (?1, ?2) "             \
			"ON CONFLICT (name) DO NOTHING")                                     \
	X(GET_ATTR, "SELECT " MSQ_NODE_COLS " FROM jfs_node WHERE inode = ?1")               \
	X(PUT_ATTR, "INSERT INTO jfs_node (inode, " MSQ_NODE_COLS ") VALUES (?1, ?2, ?3, "   \
		    "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "  \
		    "?19) ON CONFLICT (inode) DO UPDATE SET type = excluded.type, "          \
		    "flags = excluded.flags, mode = excluded.mode, uid = excluded.uid, "     \
		    "gid = excluded.gid, atime = excluded.atime, mtime = excluded.mtime, "   \
		    "ctime = excluded.ctime, atimensec = excluded.atimensec, "               \
		    "mtimensec = excluded.mtimensec, ctimensec = excluded.ctimensec, "       \
		    "nlink = excluded.nlink, length = excluded.length, "                     \
		    "rdev = excluded.rdev, parent = excluded.parent, "                       \
		    "access_acl_id = excluded.access_acl_id, "                               \
		    "default_acl_id = excluded.default_acl_id, tier_id = excluded.tier_id")  \
	X(DEL_ATTR, "DELETE FROM jfs_node WHERE inode = ?1")                                 \
	X(GET_ENTRY, "SELECT inode, type FROM jfs_edge WHERE parent = ?1 AND name = ?2")     \
	X(PUT_ENTRY, "INSERT INTO jfs_edge (parent, name, inode, type) VALUES (?1, ?2, ?3, " \
		     "?4) ON CONFLICT (parent, name) DO UPDATE SET inode = excluded.inode, " \
		     "type = excluded.type")                                                 \
	X(DEL_ENTRY, "DELETE FROM jfs_edge WHERE parent = ?1 AND name = ?2")                 \
	X(SCAN_ENTRIES, "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 "          \
			"ORDER BY name LIMIT ?2")                                            \
	X(SCAN_ENTRIES_AFTER, "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 "    \
			      "AND name > ?3 ORDER BY name LIMIT ?2")                        \
	X(COUNT_ENTRIES, "SELECT count(*) FROM jfs_edge WHERE parent = ?1")                  \
	X(LIST_PARENTS, "SELECT DISTINCT parent FROM jfs_edge WHERE inode = ?1 "             \
			"ORDER BY parent")                                                   \
	X(GET_SYMLINK, "SELECT target FROM jfs_symlink WHERE inode = ?1")                    \
	X(PUT_SYMLINK, "INSERT INTO jfs_symlink (inode, target) VALUES (?1, ?2) "            \
		       "ON CONFLICT (inode) DO UPDATE SET target = excluded.target")         \
	X(DEL_SYMLINK, "DELETE FROM jfs_symlink WHERE inode = ?1")                           \
	X(GET_XATTR, "SELECT value FROM jfs_xattr WHERE inode = ?1 AND name = ?2")           \
	X(PUT_XATTR, "INSERT INTO jfs_xattr (inode, name, value) VALUES (?1, ?2, ?3) "       \
		     "ON CONFLICT (inode, name) DO UPDATE SET value = excluded.value")       \
	X(DEL_XATTR, "DELETE FROM jfs_xattr WHERE inode = ?1 AND name = ?2")                 \
	X(SCAN_XATTRS, "SELECT name FROM jfs_xattr WHERE inode = ?1 ORDER BY name")          \
	X(DEL_XATTRS, "DELETE FROM jfs_xattr WHERE inode = ?1")                              \
	X(GET_CHUNK, "SELECT slices FROM jfs_chunk WHERE inode = ?1 AND indx = ?2")          \
	X(APPEND_CHUNK, "INSERT INTO jfs_chunk (inode, indx, slices) VALUES (?1, ?2, ?3) "   \
			"ON CONFLICT (inode, indx) DO UPDATE SET "                           \
			"slices = CAST(slices || excluded.slices AS BLOB)")                  \
	X(CHUNK_BYTES, "SELECT length(CAST(slices AS BLOB)) FROM jfs_chunk "                 \
		       "WHERE inode = ?1 AND indx = ?2")                                     \
	X(SET_CHUNK, "INSERT INTO jfs_chunk (inode, indx, slices) VALUES (?1, ?2, ?3) "      \
		     "ON CONFLICT (inode, indx) DO UPDATE SET slices = excluded.slices")     \
	X(DEL_CHUNK, "DELETE FROM jfs_chunk WHERE inode = ?1 AND indx = ?2")                 \
	X(SCAN_CHUNKS, "SELECT inode, indx, slices FROM jfs_chunk WHERE inode = ?1 "         \
		       "ORDER BY indx")                                                      \
	X(SCAN_ALL_CHUNKS, "SELECT inode, indx, slices FROM jfs_chunk ORDER BY inode, indx") \
	X(NEW_SLICE, "INSERT INTO jfs_chunk_ref (chunkid, size, refs) VALUES (?1, ?2, 1)")   \
	X(INCR_REF, "INSERT INTO jfs_chunk_ref (chunkid, size, refs) VALUES (?1, ?2, 1 + ?3) " \
		    "ON CONFLICT (chunkid) DO UPDATE SET refs = refs + ?3")                  \
	X(GET_REF, "SELECT refs FROM jfs_chunk_ref WHERE chunkid = ?1")                      \
	X(DEL_REF, "DELETE FROM jfs_chunk_ref WHERE chunkid = ?1")                           \
	X(SCAN_DEAD_REFS, "SELECT chunkid, size, refs FROM jfs_chunk_ref WHERE refs <= 0 "   \
			  "ORDER BY chunkid")                                                \
	X(PUT_DELSLICES, "INSERT INTO jfs_delslices (chunkid, deleted, slices) "             \
			 "VALUES (?1, ?2, ?3) ON CONFLICT (chunkid) DO UPDATE SET "          \
			 "deleted = excluded.deleted, slices = excluded.slices")             \
	X(DEL_DELSLICES, "DELETE FROM jfs_delslices WHERE chunkid = ?1")                     \
	X(SCAN_DELSLICES, "SELECT chunkid, deleted, slices FROM jfs_delslices "              \
			  "ORDER BY chunkid")                                                \
	X(ADD_DELFILE, "INSERT INTO jfs_delfile (inode, length, expire) VALUES (?1, ?2, ?3) " \
		       "ON CONFLICT (inode) DO UPDATE SET length = excluded.length, "        \
		       "expire = excluded.expire")                                           \
	X(DEL_DELFILE, "DELETE FROM jfs_delfile WHERE inode = ?1")                           \
	X(SCAN_DELFILES, "SELECT inode, length, expire FROM jfs_delfile ORDER BY inode")     \
	X(ADD_SUSTAINED, "INSERT INTO jfs_sustained (sid, inode) VALUES (?1, ?2) "           \
			 "ON CONFLICT (sid, inode) DO NOTHING")                              \
	X(DEL_SUSTAINED, "DELETE FROM jfs_sustained WHERE sid = ?1 AND inode = ?2")          \
	X(SCAN_SUSTAINED, "SELECT sid, inode FROM jfs_sustained WHERE sid = ?1 "             \
			  "ORDER BY inode")                                                  \
	X(SCAN_SUSTAINED_ALL, "SELECT sid, inode FROM jfs_sustained ORDER BY sid, inode")    \
	X(PUT_SESSION, "INSERT INTO jfs_session2 (sid, expire, info) VALUES (?1, ?2, ?3) "   \
		       "ON CONFLICT (sid) DO UPDATE SET expire = excluded.expire, "          \
		       "info = excluded.info")                                               \
	X(TOUCH_SESSION, "UPDATE jfs_session2 SET expire = ?2 WHERE sid = ?1")               \
	X(DEL_SESSION, "DELETE FROM jfs_session2 WHERE sid = ?1")                            \
	X(SCAN_SESSIONS, "SELECT sid, expire, info FROM jfs_session2 ORDER BY sid")          \
	X(INCR_DIRSTAT, "INSERT INTO jfs_dir_stats (inode, data_length, used_space, "        \
			"used_inodes) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (inode) DO UPDATE " \
			"SET data_length = data_length + excluded.data_length, "             \
			"used_space = used_space + excluded.used_space, "                    \
			"used_inodes = used_inodes + excluded.used_inodes")                  \
	X(GET_DIRSTAT, "SELECT data_length, used_space, used_inodes FROM jfs_dir_stats "     \
		       "WHERE inode = ?1")                                                   \
	X(DEL_DIRSTAT, "DELETE FROM jfs_dir_stats WHERE inode = ?1")                         \
	X(SCAN_FLOCKS, "SELECT sid, owner, ltype FROM jfs_flock WHERE inode = ?1 "           \
		       "ORDER BY sid, owner")                                                \
	X(PUT_FLOCK, "INSERT INTO jfs_flock (inode, sid, owner, ltype) VALUES (?1, ?2, ?3, " \
		     "?4) ON CONFLICT (inode, sid, owner) DO UPDATE SET ltype = excluded.ltype") \
	X(DEL_FLOCK, "DELETE FROM jfs_flock WHERE inode = ?1 AND sid = ?2 AND owner = ?3")   \
	X(SCAN_PLOCKS, "SELECT sid, owner, records FROM jfs_plock WHERE inode = ?1 "         \
		       "ORDER BY sid, owner")                                                \
	X(PUT_PLOCK, "INSERT INTO jfs_plock (inode, sid, owner, records) VALUES (?1, ?2, ?3, " \
		     "?4) ON CONFLICT (inode, sid, owner) DO UPDATE SET "                    \
		     "records = excluded.records")                                           \
	X(DEL_PLOCK, "DELETE FROM jfs_plock WHERE inode = ?1 AND sid = ?2 AND owner = ?3")   \
	X(DEL_SESSION_FLOCKS, "DELETE FROM jfs_flock WHERE sid = ?1")                        \
	X(DEL_SESSION_PLOCKS, "DELETE FROM jfs_plock WHERE sid = ?1")                        \
	X(SCAN_SESSION_FLOCKS, "SELECT inode, owner, ltype FROM jfs_flock WHERE sid = ?1 "   \
			       "ORDER BY inode, owner")                                      \
	X(SCAN_SESSION_PLOCKS, "SELECT inode, owner, records FROM jfs_plock WHERE sid = ?1 " \
			       "ORDER BY inode, owner")                                      \
	X(GET_QUOTA, "SELECT max_space, max_inodes, used_space, used_inodes FROM "           \
		     "jfs_dir_quota WHERE inode = ?1")                                       \
	X(PUT_QUOTA, "INSERT INTO jfs_dir_quota (inode, max_space, max_inodes, used_space, " \
		     "used_inodes) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (inode) DO UPDATE " \
		     "SET max_space = excluded.max_space, max_inodes = excluded.max_inodes, " \
		     "used_space = excluded.used_space, used_inodes = excluded.used_inodes") \
	X(INCR_QUOTA, "UPDATE jfs_dir_quota SET used_space = used_space + ?2, "              \
		      "used_inodes = used_inodes + ?3 WHERE inode = ?1")                     \
	X(DEL_QUOTA, "DELETE FROM jfs_dir_quota WHERE inode = ?1")                           \
	X(SCAN_QUOTAS, "SELECT inode, max_space, max_inodes, used_space, used_inodes FROM "  \
		       "jfs_dir_quota ORDER BY inode")

#define MSQ_ENUM(id, sql) MSQ_##id,
enum msq_stmt_id { MSQ_STATEMENTS(MSQ_ENUM) MSQ_NSTMT };
#undef MSQ_ENUM

#define MSQ_DEF(id, sql) { #id, sql },
static const struct {
	const char *name;
	const char *sql;
} msq_stmt_def[] = { MSQ_STATEMENTS(MSQ_DEF) };
#undef MSQ_DEF

struct msq_meta;
struct msq_conn;

struct meta_txn {
	struct msq_conn *c;
	int write;
	int active;
	int new_slice; /* records a slice: a commit the fault hook may hit */
};

struct msq_conn {
	struct msq_meta *sm;
	sqlite3 *db;
	unsigned fork_gen; /* msq_fork_gen when opened */
	sqlite3_stmt *stmt[MSQ_NSTMT];
	unsigned char busy[MSQ_NSTMT]; /* cached statement is being stepped */
	int bind_rc;                   /* first bind failure since the last step */
	struct meta_txn txn;
	struct msq_conn *prev, *next;
	struct msq_conn *idle_next; /* on sm->idle, owned by no thread */
	int wlocked;                /* holds sm->wmu */
};

/*
 * Connections of threads that exited wait here for the next new thread: the
 * doors run a short-lived thread per request, and opening a connection and
 * preparing its statements again cost more than the request itself.
 */
#define MSQ_IDLE_MAX 64

struct msq_meta {
	struct meta base; /* first: meta.c downcasts */
	char *path;       /* absolute, so a later chdir does not matter */
	char *journal;    /* journal mode for every connection */
	int busy_ms;
	pthread_key_t key;
	pthread_mutex_t conns_mu; /* guards the lists below */
	struct msq_conn *conns;   /* every open connection */
	struct msq_conn *idle;    /* the subset owned by no thread */
	int nidle;
	pthread_mutex_t wmu; /* held from BEGIN IMMEDIATE to COMMIT/ROLLBACK (rule 3) */
	atomic_int ckpt_due; /* the WAL is long: the next writer done checkpoints */
	int64_t fault_every;       /* JFS_FAULT_SQLITE_SLICE_COMMIT, 0 = off */
	atomic_llong slice_commits; /* counted only while fault_every is set */
};

static const struct meta_engine_ops msq_ops;

static struct msq_meta *msq_of(struct meta *m)
{
	BUG_ON(!m || m->ops != &msq_ops);
	return (struct msq_meta *)m;
}

/* ---------------- errors ---------------- */

/*
 * Map an SQLite result code to -errno. Lock contention is -EAGAIN (meta.c
 * retries); everything unexpected is logged with the statement it came from.
 */
static int msq_err(struct msq_conn *c, int rc, const char *what)
{
	const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
	const char *path = c ? c->sm->path : "";

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_debug("sqlite3 %s: %s: %s (will retry)", path, what, msg);
		return -EAGAIN;
	case SQLITE_NOTADB:
		log_error("sqlite3 %s: %s: %s", path, what, msg);
		return -EINVAL;
	case SQLITE_CONSTRAINT:
		log_error("sqlite3 %s: %s: %s", path, what, msg);
		return -EEXIST;
	case SQLITE_FULL:
		log_error("sqlite3 %s: %s: %s", path, what, msg);
		return -ENOSPC;
	case SQLITE_READONLY:
		log_error("sqlite3 %s: %s: %s", path, what, msg);
		return -EROFS;
	case SQLITE_TOOBIG:
		log_error("sqlite3 %s: %s: %s", path, what, msg);
		return -E2BIG;
	case SQLITE_NOMEM:
		log_error("sqlite3 %s: %s: out of memory", path, what);
		return -ENOMEM;
	default:
		log_error("sqlite3 %s: %s: %s", path, what, msg);
		return -EIO;
	}
}

/* ---------------- statements ---------------- */

/*
 * Hand out statement `id` ready for binding. A callback of a scan may run
 * another primitive while the scan's statement is still stepping; if that
 * primitive needs the same statement, it gets a private copy instead.
 */
static int msq_prep(struct msq_conn *c, enum msq_stmt_id id, sqlite3_stmt **out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	c->bind_rc = SQLITE_OK;
	if (c->stmt[id] && !c->busy[id]) {
		c->busy[id] = 1;
		*out = c->stmt[id];
		return 0;
	}
	rc = sqlite3_prepare_v3(c->db, msq_stmt_def[id].sql, -1,
				c->stmt[id] ? 0 : SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(s);
		return msq_err(c, rc, msq_stmt_def[id].name);
	}
	if (!c->stmt[id]) {
		c->stmt[id] = s;
		c->busy[id] = 1;
	}
	*out = s;
	return 0;
}

/* Return a statement from msq_prep: reset it and drop bound pointers; NULL-safe. */
static void msq_done(struct msq_conn *c, enum msq_stmt_id id, sqlite3_stmt *s)
{
	if (!s)
		return;
	if (s != c->stmt[id]) {
		sqlite3_finalize(s);
		return;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	c->busy[id] = 0;
}

static void msq_note_bind(struct msq_conn *c, int rc)
{
	if (rc != SQLITE_OK && c->bind_rc == SQLITE_OK)
		c->bind_rc = rc;
}

static void msq_bind_i64(struct msq_conn *c, sqlite3_stmt *s, int i, int64_t v)
{
	msq_note_bind(c, sqlite3_bind_int64(s, i, v));
}

/* Bound without copying: the statement is reset before the caller's data goes away. */
static void msq_bind_blob(struct msq_conn *c, sqlite3_stmt *s, int i, const void *p, size_t n)
{
	/* A NULL pointer would bind SQL NULL, not an empty blob. */
	if (n > INT_MAX) {
		msq_note_bind(c, SQLITE_TOOBIG);
		return;
	}
	msq_note_bind(c, sqlite3_bind_blob(s, i, p ? p : "", (int)n, SQLITE_STATIC));
}

static void msq_bind_text(struct msq_conn *c, sqlite3_stmt *s, int i, const char *str)
{
	size_t n = strlen(str);

	if (n > INT_MAX) {
		msq_note_bind(c, SQLITE_TOOBIG);
		return;
	}
	msq_note_bind(c, sqlite3_bind_text(s, i, str, (int)n, SQLITE_STATIC));
}

/* Step once: 1 = a row, 0 = done, <0 = error. */
static int msq_step(struct msq_conn *c, enum msq_stmt_id id, sqlite3_stmt *s)
{
	int rc;

	if (c->bind_rc != SQLITE_OK) {
		rc = c->bind_rc;
		c->bind_rc = SQLITE_OK;
		return msq_err(c, rc, msq_stmt_def[id].name);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return msq_err(c, rc, msq_stmt_def[id].name);
}

/* Run a statement that returns no rows (or whose rows do not matter). */
static int msq_exec_done(struct msq_conn *c, enum msq_stmt_id id, sqlite3_stmt *s)
{
	int ret;

	do
		ret = msq_step(c, id, s);
	while (ret == 1);
	return ret;
}

/* Statement taking one integer and returning no rows; *changes may be NULL. */
static int msq_exec_i64(struct msq_conn *c, enum msq_stmt_id id, int64_t v, int *changes)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, v);
	ret = msq_exec_done(c, id, s);
	if (!ret && changes)
		*changes = sqlite3_changes(c->db);
	msq_done(c, id, s);
	return ret;
}

/*
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold, fdatasync included, so every writer queued on wmu waited for
 * it. Instead the hook only notes that one is due, and the committing
 * thread runs a passive checkpoint after giving its write turn back.
 */
#define MSQ_CKPT_FRAMES 1000

static int msq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct msq_meta *sm = arg;

	UNUSED(db);
	UNUSED(name);
	if (frames >= MSQ_CKPT_FRAMES)
		atomic_store(&sm->ckpt_due, 1);
	return SQLITE_OK;
}

/* Give the process's write turn back once the transaction is over (rule 3). */
static void msq_write_turn_end(struct msq_conn *c)
{
	if (c->wlocked && sqlite3_get_autocommit(c->db)) {
		c->wlocked = 0;
		pthread_mutex_unlock(&c->sm->wmu);
		if (atomic_exchange(&c->sm->ckpt_due, 0))
			(void)sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
							NULL, NULL);
	}
}

/* Run a statement with no parameters and no rows (transaction control). */
static int msq_exec0(struct msq_conn *c, enum msq_stmt_id id)
{
	sqlite3_stmt *s;
	int ret;

	if (id == MSQ_BEGIN_W && !c->wlocked) {
		/* bounded like SQLite's own wait, with the same outcome */
		struct timespec ts;
		int64_t ns;

		clock_gettime(CLOCK_REALTIME, &ts);
		ns = ts.tv_nsec + (int64_t)c->sm->busy_ms % 1000 * 1000000;
		ts.tv_sec += c->sm->busy_ms / 1000 + ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		if (pthread_mutex_timedlock(&c->sm->wmu, &ts))
			return -EAGAIN;
		c->wlocked = 1;
	}
	ret = msq_prep(c, id, &s);
	if (!ret) {
		ret = msq_exec_done(c, id, s);
		msq_done(c, id, s);
	}
	msq_write_turn_end(c);
	return ret;
}

/* Copy a blob column into b, replacing its content. */
static int msq_col_buf(sqlite3_stmt *s, int col, struct buf *b)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	buf_reset(b);
	if (n <= 0)
		return 0;
	return buf_add(b, p, (size_t)n);
}

/* ---------------- connections ---------------- */

/*
 * A connection must not be used across fork(): its POSIX locks stay with the
 * parent, so a child writing through it could corrupt the file. Each fork
 * bumps this generation in the child; connections of an older generation are
 * abandoned there (closing them could checkpoint under the parent's feet).
 */
static unsigned msq_fork_gen;
static pthread_once_t msq_once = PTHREAD_ONCE_INIT;

static void msq_atfork_child(void)
{
	msq_fork_gen++;
}

static void msq_init_once(void)
{
	pthread_atfork(NULL, NULL, msq_atfork_child);
}

static void msq_conn_close(struct msq_conn *c)
{
	size_t i;

	if (!c)
		return;
	if (c->db) {
		/* A thread that died inside a transaction leaves it to be rolled back. */
		if (!sqlite3_get_autocommit(c->db))
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		for (i = 0; i < MSQ_NSTMT; i++)
			sqlite3_finalize(c->stmt[i]);
		if (sqlite3_close(c->db) != SQLITE_OK)
			log_error("sqlite3 %s: close: %s", c->sm->path, sqlite3_errmsg(c->db));
	}
	free(c);
}

static void msq_conn_unlink(struct msq_meta *sm, struct msq_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		sm->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Thread exit: the pthread key's destructor. Not called once close deleted the key. */
static void msq_conn_dtor(void *p)
{
	struct msq_conn *c = p;
	struct msq_meta *sm = c->sm;

	pthread_mutex_lock(&sm->conns_mu);
	if (c->fork_gen == msq_fork_gen && sm->nidle < MSQ_IDLE_MAX &&
	    sqlite3_get_autocommit(c->db)) {
		c->idle_next = sm->idle;
		sm->idle = c;
		sm->nidle++;
		c = NULL;
	} else {
		msq_conn_unlink(sm, c);
	}
	pthread_mutex_unlock(&sm->conns_mu);
	msq_conn_close(c);
}

static int msq_pragma(struct msq_conn *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : msq_err(c, rc, sql);
}

/*
 * Open a connection and apply the per-connection settings. The first query
 * also tells whether the file is a database at all (SQLITE_NOTADB).
 */
static int msq_conn_open(struct msq_meta *sm, int create, struct msq_conn **out, struct buf *err)
{
	struct msq_conn *c = xcalloc(1, sizeof(*c));
	char sql[64];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
	int rc, ret;

	c->sm = sm;
	c->fork_gen = msq_fork_gen;
	c->txn.c = c;
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(sm->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		ret = (rc & 0xff) == SQLITE_CANTOPEN && access(sm->path, R_OK | W_OK) &&
				      errno == EACCES ?
			      -EACCES :
			      -EIO;
		if (err)
			buf_addf(err, "sqlite3: cannot open %s: %s", sm->path,
				 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		log_error("sqlite3: cannot open %s: %s", sm->path,
			  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(c->db, sm->busy_ms);
	sqlite3_wal_hook(c->db, msq_wal_hook, sm); /* replaces the automatic checkpoint */
	ret = msq_pragma(c, "SELECT count(*) FROM sqlite_master");
	if (ret == -EINVAL) {
		if (err)
			buf_addf(err, "sqlite3: %s is not a SQLite database", sm->path);
		goto out;
	}
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = %s", sm->journal);
	if (!ret)
		ret = msq_pragma(c, sql);
	if (!ret)
		ret = msq_pragma(c, "PRAGMA synchronous = NORMAL");
	if (!ret)
		ret = msq_pragma(c, "PRAGMA foreign_keys = OFF");
	if (ret && err)
		buf_addf(err, "sqlite3: cannot set up %s: %s", sm->path, sqlite3_errmsg(c->db));
out:
	if (ret) {
		msq_conn_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

static void msq_conn_register(struct msq_meta *sm, struct msq_conn *c)
{
	pthread_mutex_lock(&sm->conns_mu);
	c->next = sm->conns;
	if (sm->conns)
		sm->conns->prev = c;
	sm->conns = c;
	pthread_mutex_unlock(&sm->conns_mu);
	BUG_ON(pthread_setspecific(sm->key, c));
}

/* The calling thread's connection, opened on first use. */
static int msq_conn_get(struct msq_meta *sm, struct msq_conn **out)
{
	struct msq_conn *c = pthread_getspecific(sm->key);
	int ret;

	if (c && c->fork_gen != msq_fork_gen) {
		/* Inherited from the parent process: leave it alone, open our own. */
		pthread_mutex_lock(&sm->conns_mu);
		msq_conn_unlink(sm, c);
		pthread_mutex_unlock(&sm->conns_mu);
		c = NULL;
	}
	if (!c) {
		pthread_mutex_lock(&sm->conns_mu);
		while ((c = sm->idle)) {
			sm->idle = c->idle_next;
			sm->nidle--;
			c->idle_next = NULL;
			if (c->fork_gen == msq_fork_gen)
				break;
			msq_conn_unlink(sm, c); /* a parent's: abandoned */
		}
		pthread_mutex_unlock(&sm->conns_mu);
		if (c) {
			BUG_ON(pthread_setspecific(sm->key, c));
			*out = c;
			return 0;
		}
		ret = msq_conn_open(sm, 0, &c, NULL);
		if (ret)
			return ret;
		msq_conn_register(sm, c);
	}
	*out = c;
	return 0;
}

/* Connection for a primitive that runs outside transactions. */
static int msq_conn_idle(struct meta *m, struct msq_conn **out)
{
	int ret = msq_conn_get(msq_of(m), out);

	/* meta.c never calls these with a transaction open on the same thread. */
	BUG_ON(!ret && (*out)->txn.active);
	return ret;
}

/* ---------------- transactions ---------------- */

static int msq_begin(struct meta *m, int write, struct meta_txn **t)
{
	struct msq_conn *c;
	int ret;

	ret = msq_conn_get(msq_of(m), &c);
	if (ret)
		return ret;
	BUG_ON(c->txn.active); /* transactions never nest */
	ret = msq_exec0(c, write ? MSQ_BEGIN_W : MSQ_BEGIN_R);
	if (ret)
		return ret;
	c->txn.active = 1;
	c->txn.write = write;
	*t = &c->txn;
	return 0;
}

static void msq_rollback(struct msq_conn *c)
{
	/* An I/O or full-disk error may already have rolled the transaction back. */
	if (!sqlite3_get_autocommit(c->db))
		msq_exec0(c, MSQ_ROLLBACK);
	msq_write_turn_end(c);
}

static int msq_commit(struct meta_txn *t)
{
	struct msq_conn *c = t->c;
	int ret;

	BUG_ON(!t->active);
	if (sqlite3_get_autocommit(c->db)) {
		/* SQLite already rolled back after a failed statement. */
		log_error("sqlite3 %s: commit: transaction was rolled back", c->sm->path);
		ret = META_ENOTAPPLIED;
		msq_write_turn_end(c);
	} else {
		ret = msq_exec0(c, MSQ_COMMIT);
		if (ret)
			msq_rollback(c);
		else if (t->new_slice && c->sm->fault_every &&
			 atomic_fetch_add(&c->sm->slice_commits, 1) % c->sm->fault_every ==
				 c->sm->fault_every - 1) {
			log_warn("sqlite3 %s: commit: injected I/O error after COMMIT",
				 c->sm->path);
			ret = -EIO;
		}
	}
	t->active = 0;
	t->new_slice = 0;
	return ret;
}

static void msq_abort(struct meta_txn *t)
{
	if (!t)
		return;
	BUG_ON(!t->active);
	msq_rollback(t->c);
	t->active = 0;
	t->new_slice = 0;
}

/* ---------------- outside transactions ---------------- */

static int msq_count(struct msq_conn *c, enum msq_stmt_id id, const char *arg, int64_t *n)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	if (arg)
		msq_bind_text(c, s, 1, arg);
	ret = msq_step(c, id, s);
	if (ret == 1) {
		*n = sqlite3_column_int64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		*n = 0;
	}
	msq_done(c, id, s);
	return ret;
}

static int msq_get_setting(struct meta *m, struct buf *json)
{
	struct msq_conn *c;
	sqlite3_stmt *s = NULL;
	int64_t n;
	int ret;

	ret = msq_conn_idle(m, &c);
	if (ret)
		return ret;
	ret = msq_count(c, MSQ_HAS_OBJECT, "jfs_setting", &n);
	if (ret)
		goto out;
	if (!n) {
		ret = msq_count(c, MSQ_COUNT_FOREIGN, NULL, &n);
		if (ret)
			goto out;
		if (n) {
			log_error("sqlite3 %s: not a JuiceFS database (it has other tables but no "
				  "jfs_setting)", c->sm->path);
			ret = -EINVAL;
		} else {
			ret = -ENOENT;
		}
		goto out;
	}
	ret = msq_prep(c, MSQ_GET_SETTING, &s);
	if (ret)
		goto out;
	ret = msq_step(c, MSQ_GET_SETTING, s);
	if (ret == 1)
		ret = msq_col_buf(s, 0, json);
	else if (ret == 0)
		ret = -ENOENT;
out:
	msq_done(c, MSQ_GET_SETTING, s);
	return ret;
}

static int msq_init_schema(struct meta *m)
{
	struct msq_conn *c;
	size_t i;
	int64_t n;
	int ret;

	ret = msq_conn_idle(m, &c);
	if (ret)
		return ret;
	ret = msq_exec0(c, MSQ_BEGIN_W);
	if (ret)
		return ret;
	/* Existence first, then the exact DDL: IF NOT EXISTS would be stored in .schema. */
	for (i = 0; i < ARRAY_SIZE(msq_schema); i++) {
		ret = msq_count(c, MSQ_HAS_OBJECT, msq_schema[i].name, &n);
		if (ret)
			goto out;
		if (n)
			continue;
		ret = msq_pragma(c, msq_schema[i].sql);
		if (ret)
			goto out;
	}
	for (i = 0; i < ARRAY_SIZE(msq_initial_counters); i++) {
		sqlite3_stmt *s;

		ret = msq_prep(c, MSQ_SEED_COUNTER, &s);
		if (ret)
			goto out;
		msq_bind_text(c, s, 1, msq_initial_counters[i].name);
		msq_bind_i64(c, s, 2, msq_initial_counters[i].value);
		ret = msq_exec_done(c, MSQ_SEED_COUNTER, s);
		msq_done(c, MSQ_SEED_COUNTER, s);
		if (ret)
			goto out;
	}
	ret = msq_exec0(c, MSQ_COMMIT);
out:
	if (ret)
		msq_rollback(c);
	return ret;
}

static int msq_drop_table(struct msq_conn *c, const char *name)
{
	char sql[128];
	int64_t n;
	int ret;

	ret = msq_count(c, MSQ_HAS_OBJECT, name, &n);
	if (ret || !n)
		return ret;
	snprintf(sql, sizeof(sql), "DROP TABLE `%s`", name);
	return msq_pragma(c, sql);
}

/*
 * Only the tables JuiceFS knows are dropped: a database may hold other
 * things. sqlite_sequence stays (SQLite owns it), as with the real client.
 */
static int msq_reset(struct meta *m)
{
	struct msq_conn *c;
	size_t i;
	int ret;

	ret = msq_conn_idle(m, &c);
	if (ret)
		return ret;
	ret = msq_exec0(c, MSQ_BEGIN_W);
	if (ret)
		return ret;
	for (i = 0; i < ARRAY_SIZE(msq_schema) && !ret; i++)
		if (!strncmp(msq_schema[i].sql, "CREATE TABLE", 12))
			ret = msq_drop_table(c, msq_schema[i].name);
	for (i = 0; i < ARRAY_SIZE(msq_legacy_tables) && !ret; i++)
		ret = msq_drop_table(c, msq_legacy_tables[i]);
	if (!ret)
		ret = msq_exec0(c, MSQ_COMMIT);
	if (ret)
		msq_rollback(c);
	return ret;
}

static int msq_is_empty(struct meta *m, int *empty)
{
	struct msq_conn *c;
	char sql[128];
	int64_t n;
	int ret;

	ret = msq_conn_idle(m, &c);
	if (ret)
		return ret;
	*empty = 1;
	for (size_t i = 0; i < ARRAY_SIZE(msq_schema) && *empty; i++) {
		sqlite3_stmt *s = NULL;
		int rc;

		if (strncmp(msq_schema[i].sql, "CREATE TABLE", 12))
			continue;
		ret = msq_count(c, MSQ_HAS_OBJECT, msq_schema[i].name, &n);
		if (ret)
			return ret;
		if (!n)
			continue;
		snprintf(sql, sizeof(sql), "SELECT 1 FROM `%s` LIMIT 1", msq_schema[i].name);
		rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				*empty = 0;
			else if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_OK && rc != SQLITE_ROW)
			return msq_err(c, rc, sql);
	}
	return 0;
}

static int msq_counter_value(struct msq_conn *c, const char *name, int64_t *v)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_COUNTER, &s);
	if (ret)
		return ret;
	msq_bind_text(c, s, 1, name);
	ret = msq_step(c, MSQ_GET_COUNTER, s);
	if (ret == 1) {
		*v = sqlite3_column_int64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		*v = 0;
	}
	msq_done(c, MSQ_GET_COUNTER, s);
	return ret;
}

static int msq_counter_add(struct msq_conn *c, const char *name, int64_t delta)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_ADD_COUNTER, &s);
	if (ret)
		return ret;
	msq_bind_text(c, s, 1, name);
	msq_bind_i64(c, s, 2, delta);
	ret = msq_exec_done(c, MSQ_ADD_COUNTER, s);
	msq_done(c, MSQ_ADD_COUNTER, s);
	return ret;
}

static int msq_counter_set(struct msq_conn *c, const char *name, int64_t v)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_SET_COUNTER, &s);
	if (ret)
		return ret;
	msq_bind_text(c, s, 1, name);
	msq_bind_i64(c, s, 2, v);
	ret = msq_exec_done(c, MSQ_SET_COUNTER, s);
	msq_done(c, MSQ_SET_COUNTER, s);
	return ret;
}

/*
 * SQL counters hold the next free id (nextInode starts at 2, nextChunk at 1),
 * so a reservation of n starts at the old value. nextSession and nextTrash
 * are the exception: JuiceFS increments them by one and uses the new value
 * (the first session is 1 with nextSession then 1; the first hour directory
 * is TrashInode+1), so the range starts one past the old value. `lowest`
 * keeps a missing or zero row from handing out inode 0/1 or slice id 0.
 */
static void msq_counter_rule(const char *name, int *uses_new, int64_t *lowest)
{
	*uses_new = !strcmp(name, "nextSession") || !strcmp(name, "nextTrash");
	*lowest = !strcmp(name, "nextInode") ? 2 : 1;
}

static int msq_alloc_ids(struct meta *m, const char *counter, uint64_t n, uint64_t *first_id)
{
	struct msq_conn *c;
	int64_t old = 0, lowest, first;
	int uses_new, ret;

	if (!n || n > INT64_MAX)
		return -EINVAL;
	msq_counter_rule(counter, &uses_new, &lowest);
	ret = msq_conn_idle(m, &c);
	if (ret)
		return ret;
	ret = msq_exec0(c, MSQ_BEGIN_W);
	if (ret)
		return ret;
	ret = msq_counter_value(c, counter, &old);
	if (ret)
		goto out;
	first = old < INT64_MAX && uses_new ? old + 1 : old;
	if (first < lowest)
		first = lowest;
	if (first > INT64_MAX - (int64_t)n) {
		log_error("sqlite3 %s: counter %s is %lld, cannot reserve %llu more", c->sm->path,
			  counter, (long long)old, (unsigned long long)n);
		ret = -EOVERFLOW;
		goto out;
	}
	/* The stored value after: next free id, or the last one handed out. */
	ret = msq_counter_set(c, counter, first + (int64_t)n - (uses_new ? 1 : 0));
	if (!ret)
		ret = msq_exec0(c, MSQ_COMMIT);
out:
	if (ret) {
		msq_rollback(c);
		return ret;
	}
	*first_id = (uint64_t)first;
	return 0;
}

/* ---------------- settings and counters ---------------- */

static int msq_set_setting(struct meta_txn *t, const char *json)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_SETTING, &s);
	if (ret)
		return ret;
	msq_bind_text(c, s, 1, json);
	ret = msq_exec_done(c, MSQ_PUT_SETTING, s);
	msq_done(c, MSQ_PUT_SETTING, s);
	return ret;
}

static int msq_get_counter(struct meta_txn *t, const char *name, int64_t *v)
{
	return msq_counter_value(t->c, name, v);
}

static int msq_incr_counter(struct meta_txn *t, const char *name, int64_t delta, int64_t *newv)
{
	int ret = msq_counter_add(t->c, name, delta);

	if (!ret && newv)
		ret = msq_counter_value(t->c, name, newv);
	return ret;
}

static int msq_set_counter(struct meta_txn *t, const char *name, int64_t v)
{
	return msq_counter_set(t->c, name, v);
}

/* ---------------- nodes ---------------- */

/* Seconds whose microsecond count still fits an int64. */
#define MSQ_MAX_SEC (INT64_MAX / 1000000 - 1)

/* jfs_node times: microseconds since the epoch plus the leftover nanoseconds (0-999). */
static void msq_time_enc(int64_t sec, uint32_t nsec, int64_t *us, int64_t *ns)
{
	if (sec > MSQ_MAX_SEC)
		sec = MSQ_MAX_SEC;
	if (sec < -MSQ_MAX_SEC)
		sec = -MSQ_MAX_SEC;
	if (nsec > 999999999)
		nsec = 999999999;
	*us = sec * 1000000 + nsec / 1000;
	*ns = nsec % 1000;
}

static void msq_time_dec(int64_t us, int64_t ns, int64_t *sec, uint32_t *nsec)
{
	int64_t s = us / 1000000, rem = us % 1000000;

	/* Floor division, so times before 1970 come back unchanged. */
	if (rem < 0) {
		rem += 1000000;
		s--;
	}
	if (ns < 0 || ns > 999)
		ns = 0;
	*sec = s;
	*nsec = (uint32_t)(rem * 1000 + ns);
}

static int msq_get_attr(struct meta_txn *t, uint64_t ino, struct meta_attr *a)
{
	struct msq_conn *c = t->c;
	struct meta_attr r;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_ATTR, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	ret = msq_step(c, MSQ_GET_ATTR, s);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto out;
	memset(&r, 0, sizeof(r));
	r.type = (uint8_t)sqlite3_column_int64(s, 0);
	r.flags = (uint8_t)sqlite3_column_int64(s, 1);
	r.mode = (uint16_t)(sqlite3_column_int64(s, 2) & 07777);
	r.uid = (uint32_t)sqlite3_column_int64(s, 3);
	r.gid = (uint32_t)sqlite3_column_int64(s, 4);
	msq_time_dec(sqlite3_column_int64(s, 5), sqlite3_column_int64(s, 8), &r.atime,
		     &r.atimensec);
	msq_time_dec(sqlite3_column_int64(s, 6), sqlite3_column_int64(s, 9), &r.mtime,
		     &r.mtimensec);
	msq_time_dec(sqlite3_column_int64(s, 7), sqlite3_column_int64(s, 10), &r.ctime,
		     &r.ctimensec);
	r.nlink = (uint32_t)sqlite3_column_int64(s, 11);
	r.length = (uint64_t)sqlite3_column_int64(s, 12);
	/* The nullable columns read as 0 when NULL. */
	r.rdev = (uint32_t)sqlite3_column_int64(s, 13);
	r.parent = (uint64_t)sqlite3_column_int64(s, 14);
	r.access_acl = (uint32_t)sqlite3_column_int64(s, 15);
	r.default_acl = (uint32_t)sqlite3_column_int64(s, 16);
	r.tier = (uint8_t)sqlite3_column_int64(s, 17);
	*a = r;
	ret = 0;
out:
	msq_done(c, MSQ_GET_ATTR, s);
	return ret;
}

static int msq_put_attr(struct meta_txn *t, uint64_t ino, const struct meta_attr *a)
{
	struct msq_conn *c = t->c;
	int64_t us[3], ns[3];
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_ATTR, &s);
	if (ret)
		return ret;
	msq_time_enc(a->atime, a->atimensec, &us[0], &ns[0]);
	msq_time_enc(a->mtime, a->mtimensec, &us[1], &ns[1]);
	msq_time_enc(a->ctime, a->ctimensec, &us[2], &ns[2]);
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, a->type);
	msq_bind_i64(c, s, 3, a->flags);
	msq_bind_i64(c, s, 4, a->mode & 07777);
	msq_bind_i64(c, s, 5, a->uid);
	msq_bind_i64(c, s, 6, a->gid);
	msq_bind_i64(c, s, 7, us[0]);
	msq_bind_i64(c, s, 8, us[1]);
	msq_bind_i64(c, s, 9, us[2]);
	msq_bind_i64(c, s, 10, ns[0]);
	msq_bind_i64(c, s, 11, ns[1]);
	msq_bind_i64(c, s, 12, ns[2]);
	msq_bind_i64(c, s, 13, a->nlink);
	msq_bind_i64(c, s, 14, (int64_t)a->length);
	msq_bind_i64(c, s, 15, a->rdev);
	msq_bind_i64(c, s, 16, (int64_t)a->parent);
	msq_bind_i64(c, s, 17, a->access_acl);
	msq_bind_i64(c, s, 18, a->default_acl);
	msq_bind_i64(c, s, 19, a->tier);
	ret = msq_exec_done(c, MSQ_PUT_ATTR, s);
	msq_done(c, MSQ_PUT_ATTR, s);
	return ret;
}

/*
 * Deletes of records that may already be gone are idempotent (0); only the
 * primitives whose contract says so report -ENOENT.
 */
static int msq_del_attr(struct meta_txn *t, uint64_t ino)
{
	return msq_exec_i64(t->c, MSQ_DEL_ATTR, (int64_t)ino, NULL);
}

/* ---------------- entries and parents ---------------- */

static int msq_get_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			 uint64_t *ino, uint8_t *type)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_ENTRY, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)parent);
	msq_bind_blob(c, s, 2, name, nlen);
	ret = msq_step(c, MSQ_GET_ENTRY, s);
	if (ret == 1) {
		if (ino)
			*ino = (uint64_t)sqlite3_column_int64(s, 0);
		if (type)
			*type = (uint8_t)sqlite3_column_int64(s, 1);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	msq_done(c, MSQ_GET_ENTRY, s);
	return ret;
}

static int msq_put_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			 uint64_t ino, uint8_t type)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_ENTRY, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)parent);
	msq_bind_blob(c, s, 2, name, nlen);
	msq_bind_i64(c, s, 3, (int64_t)ino);
	msq_bind_i64(c, s, 4, type);
	ret = msq_exec_done(c, MSQ_PUT_ENTRY, s);
	msq_done(c, MSQ_PUT_ENTRY, s);
	return ret;
}

static int msq_del_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_DEL_ENTRY, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)parent);
	msq_bind_blob(c, s, 2, name, nlen);
	ret = msq_exec_done(c, MSQ_DEL_ENTRY, s);
	msq_done(c, MSQ_DEL_ENTRY, s);
	return ret;
}

/* BLOB comparison is memcmp with the shorter prefix first: exactly byte order. */
static int msq_scan_entries(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
			    size_t limit, meta_entry_fn cb, void *arg)
{
	enum msq_stmt_id id = after ? MSQ_SCAN_ENTRIES_AFTER : MSQ_SCAN_ENTRIES;
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)parent);
	msq_bind_i64(c, s, 2, limit && limit <= INT64_MAX ? (int64_t)limit : -1);
	if (after)
		msq_bind_blob(c, s, 3, after, alen);
	while ((ret = msq_step(c, id, s)) == 1) {
		const char *name = sqlite3_column_blob(s, 0);
		int n = sqlite3_column_bytes(s, 0);

		ret = cb(arg, name ? name : "", (size_t)(n > 0 ? n : 0),
			 (uint64_t)sqlite3_column_int64(s, 1), (uint8_t)sqlite3_column_int64(s, 2));
		if (ret)
			break;
	}
	msq_done(c, id, s);
	return ret;
}

static int msq_count_entries(struct meta_txn *t, uint64_t parent, uint64_t *n)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_COUNT_ENTRIES, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)parent);
	ret = msq_step(c, MSQ_COUNT_ENTRIES, s);
	if (ret == 1) {
		*n = (uint64_t)sqlite3_column_int64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		*n = 0;
	}
	msq_done(c, MSQ_COUNT_ENTRIES, s);
	return ret;
}

/* SQL keeps no parent table: the edges' inode index answers it. */
static int msq_incr_parent(struct meta_txn *t, uint64_t ino, uint64_t parent, int64_t delta)
{
	UNUSED(t);
	UNUSED(ino);
	UNUSED(parent);
	UNUSED(delta);
	return 0;
}

static int msq_del_parents(struct meta_txn *t, uint64_t ino)
{
	UNUSED(t);
	UNUSED(ino);
	return 0;
}

/* Generic scan: bind one integer, call fn for every row until it returns non-zero. */
typedef int (*msq_row_fn)(sqlite3_stmt *s, void *cb, void *arg);

static int msq_scan(struct msq_conn *c, enum msq_stmt_id id, int nargs, int64_t a1, msq_row_fn fn,
		    void *cb, void *arg)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	if (nargs)
		msq_bind_i64(c, s, 1, a1);
	while ((ret = msq_step(c, id, s)) == 1) {
		ret = fn(s, cb, arg);
		if (ret)
			break;
	}
	msq_done(c, id, s);
	return ret;
}

/*
 * Callbacks travel through msq_scan as void *; the row functions below cast
 * them back (a function pointer cannot be converted to void * portably, so
 * they are wrapped in a one-member struct).
 */
struct msq_cb {
	union {
		meta_u64_fn u64;
		meta_name_fn name;
		meta_chunk_fn chunk;
		meta_slice_ref_fn ref;
		meta_delslices_fn delslices;
		meta_delfile_fn delfile;
		meta_sustained_fn sustained;
		meta_session_raw_fn session;
		meta_flock_fn flock;
		meta_plock_fn plock;
		meta_session_lock_fn slock;
		meta_quota_fn quota;
	} fn;
};

static int msq_row_parent(sqlite3_stmt *s, void *cb, void *arg)
{
	return ((struct msq_cb *)cb)->fn.u64(arg, (uint64_t)sqlite3_column_int64(s, 0));
}

static int msq_list_parents(struct meta_txn *t, uint64_t ino, meta_u64_fn cb, void *arg)
{
	struct msq_cb f = { .fn.u64 = cb };

	return msq_scan(t->c, MSQ_LIST_PARENTS, 1, (int64_t)ino, msq_row_parent, &f, arg);
}

/* ---------------- symlinks ---------------- */

static int msq_get_blob(struct msq_conn *c, enum msq_stmt_id id, int64_t key, struct buf *out)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, key);
	ret = msq_step(c, id, s);
	if (ret == 1)
		ret = msq_col_buf(s, 0, out);
	else if (ret == 0)
		ret = -ENOENT;
	msq_done(c, id, s);
	return ret;
}

static int msq_get_symlink(struct meta_txn *t, uint64_t ino, struct buf *target)
{
	return msq_get_blob(t->c, MSQ_GET_SYMLINK, (int64_t)ino, target);
}

static int msq_put_symlink(struct meta_txn *t, uint64_t ino, const char *target, size_t len)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_SYMLINK, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_blob(c, s, 2, target, len);
	ret = msq_exec_done(c, MSQ_PUT_SYMLINK, s);
	msq_done(c, MSQ_PUT_SYMLINK, s);
	return ret;
}

static int msq_del_symlink(struct meta_txn *t, uint64_t ino)
{
	return msq_exec_i64(t->c, MSQ_DEL_SYMLINK, (int64_t)ino, NULL);
}

/* ---------------- xattrs ---------------- */

static int msq_get_xattr(struct meta_txn *t, uint64_t ino, const char *name, struct buf *val)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_XATTR, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_text(c, s, 2, name);
	ret = msq_step(c, MSQ_GET_XATTR, s);
	if (ret == 1)
		ret = msq_col_buf(s, 0, val);
	else if (ret == 0)
		ret = -ENOENT;
	msq_done(c, MSQ_GET_XATTR, s);
	return ret;
}

static int msq_put_xattr(struct meta_txn *t, uint64_t ino, const char *name, const void *val,
			 size_t len)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_XATTR, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_text(c, s, 2, name);
	msq_bind_blob(c, s, 3, val, len);
	ret = msq_exec_done(c, MSQ_PUT_XATTR, s);
	msq_done(c, MSQ_PUT_XATTR, s);
	return ret;
}

static int msq_del_xattr(struct meta_txn *t, uint64_t ino, const char *name)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_DEL_XATTR, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_text(c, s, 2, name);
	ret = msq_exec_done(c, MSQ_DEL_XATTR, s);
	if (!ret && sqlite3_changes(c->db) == 0)
		ret = -ENOENT;
	msq_done(c, MSQ_DEL_XATTR, s);
	return ret;
}

static int msq_row_xattr(sqlite3_stmt *s, void *cb, void *arg)
{
	const char *name = (const char *)sqlite3_column_text(s, 0);
	int n = sqlite3_column_bytes(s, 0);

	return ((struct msq_cb *)cb)->fn.name(arg, name ? name : "", (size_t)(n > 0 ? n : 0));
}

static int msq_scan_xattrs(struct meta_txn *t, uint64_t ino, meta_name_fn cb, void *arg)
{
	struct msq_cb f = { .fn.name = cb };

	return msq_scan(t->c, MSQ_SCAN_XATTRS, 1, (int64_t)ino, msq_row_xattr, &f, arg);
}

static int msq_del_xattrs(struct meta_txn *t, uint64_t ino)
{
	return msq_exec_i64(t->c, MSQ_DEL_XATTRS, (int64_t)ino, NULL);
}

/* ---------------- chunks ---------------- */

static int msq_get_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, struct buf *recs)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_CHUNK, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, indx);
	ret = msq_step(c, MSQ_GET_CHUNK, s);
	if (ret == 1) {
		ret = msq_col_buf(s, 0, recs);
	} else if (ret == 0) {
		buf_reset(recs);
	}
	msq_done(c, MSQ_GET_CHUNK, s);
	return ret;
}

/* Insert-or-modify of one chunk row by (inode, indx) with a blob. */
static int msq_chunk_write(struct msq_conn *c, enum msq_stmt_id id, uint64_t ino, uint32_t indx,
			   const uint8_t *recs, size_t len)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, indx);
	if (id != MSQ_DEL_CHUNK)
		msq_bind_blob(c, s, 3, recs, len);
	ret = msq_exec_done(c, id, s);
	msq_done(c, id, s);
	return ret;
}

static int msq_append_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			    size_t len, size_t *count)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_chunk_write(c, MSQ_APPEND_CHUNK, ino, indx, recs, len);
	if (ret || !count)
		return ret;
	ret = msq_prep(c, MSQ_CHUNK_BYTES, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, indx);
	ret = msq_step(c, MSQ_CHUNK_BYTES, s);
	if (ret == 1) {
		*count = (size_t)sqlite3_column_int64(s, 0) / META_SLICE_BYTES;
		ret = 0;
	} else if (ret == 0) {
		*count = 0;
	}
	msq_done(c, MSQ_CHUNK_BYTES, s);
	return ret;
}

static int msq_set_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			 size_t len)
{
	return msq_chunk_write(t->c, len ? MSQ_SET_CHUNK : MSQ_DEL_CHUNK, ino, indx, recs, len);
}

static int msq_row_chunk(sqlite3_stmt *s, void *cb, void *arg)
{
	const uint8_t *p = sqlite3_column_blob(s, 2);
	int n = sqlite3_column_bytes(s, 2);

	return ((struct msq_cb *)cb)->fn.chunk(arg, (uint64_t)sqlite3_column_int64(s, 0),
					       (uint32_t)sqlite3_column_int64(s, 1),
					       p ? p : (const uint8_t *)"",
					       (size_t)(n > 0 ? n : 0));
}

static int msq_scan_chunks(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg)
{
	struct msq_cb f = { .fn.chunk = cb };

	return msq_scan(t->c, MSQ_SCAN_CHUNKS, 1, (int64_t)ino, msq_row_chunk, &f, arg);
}

static int msq_scan_all_chunks(struct meta_txn *t, meta_chunk_fn cb, void *arg)
{
	struct msq_cb f = { .fn.chunk = cb };

	return msq_scan(t->c, MSQ_SCAN_ALL_CHUNKS, 0, 0, msq_row_chunk, &f, arg);
}

/* ---------------- slice refcounts (true counts: a new slice has a row with 1) ---------------- */

static int msq_new_slice(struct meta_txn *t, uint64_t id, uint32_t size)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_NEW_SLICE, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)id);
	msq_bind_i64(c, s, 2, size);
	ret = msq_exec_done(c, MSQ_NEW_SLICE, s);
	msq_done(c, MSQ_NEW_SLICE, s);
	if (!ret)
		t->new_slice = 1;
	return ret;
}

/*
 * A slice without a row counts as referenced once (as in Redis, where no key
 * means one reference), so the row is created with 1 + delta.
 */
static int msq_incr_ref(struct meta_txn *t, uint64_t id, uint32_t size, int64_t delta,
			int64_t *refs)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_INCR_REF, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)id);
	msq_bind_i64(c, s, 2, size);
	msq_bind_i64(c, s, 3, delta);
	ret = msq_exec_done(c, MSQ_INCR_REF, s);
	msq_done(c, MSQ_INCR_REF, s);
	if (ret || !refs)
		return ret;
	ret = msq_prep(c, MSQ_GET_REF, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)id);
	ret = msq_step(c, MSQ_GET_REF, s);
	if (ret == 1) {
		*refs = sqlite3_column_int64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		log_error("sqlite3 %s: slice %llu lost its refcount row", c->sm->path,
			  (unsigned long long)id);
		ret = -EIO;
	}
	msq_done(c, MSQ_GET_REF, s);
	return ret;
}

static int msq_del_ref(struct meta_txn *t, uint64_t id, uint32_t size)
{
	UNUSED(size);
	return msq_exec_i64(t->c, MSQ_DEL_REF, (int64_t)id, NULL);
}

static int msq_row_ref(sqlite3_stmt *s, void *cb, void *arg)
{
	struct meta_slice_ref r = {
		.id = (uint64_t)sqlite3_column_int64(s, 0),
		.size = (uint32_t)sqlite3_column_int64(s, 1),
		.refs = sqlite3_column_int64(s, 2),
	};

	return ((struct msq_cb *)cb)->fn.ref(arg, &r);
}

static int msq_scan_dead_refs(struct meta_txn *t, meta_slice_ref_fn cb, void *arg)
{
	struct msq_cb f = { .fn.ref = cb };

	return msq_scan(t->c, MSQ_SCAN_DEAD_REFS, 0, 0, msq_row_ref, &f, arg);
}

/* ---------------- delayed slices ---------------- */

static int msq_put_delslices(struct meta_txn *t, uint64_t newid, int64_t when,
			     const uint8_t *recs, size_t len)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_DELSLICES, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)newid);
	msq_bind_i64(c, s, 2, when);
	msq_bind_blob(c, s, 3, recs, len);
	ret = msq_exec_done(c, MSQ_PUT_DELSLICES, s);
	msq_done(c, MSQ_PUT_DELSLICES, s);
	return ret;
}

/* The table is keyed by the new slice id alone; `when` only matters to Redis. */
static int msq_del_delslices(struct meta_txn *t, uint64_t newid, int64_t when)
{
	UNUSED(when);
	return msq_exec_i64(t->c, MSQ_DEL_DELSLICES, (int64_t)newid, NULL);
}

static int msq_row_delslices(sqlite3_stmt *s, void *cb, void *arg)
{
	const uint8_t *p = sqlite3_column_blob(s, 2);
	int n = sqlite3_column_bytes(s, 2);

	return ((struct msq_cb *)cb)->fn.delslices(arg, (uint64_t)sqlite3_column_int64(s, 0),
						   sqlite3_column_int64(s, 1),
						   p ? p : (const uint8_t *)"",
						   (size_t)(n > 0 ? n : 0));
}

static int msq_scan_delslices(struct meta_txn *t, meta_delslices_fn cb, void *arg)
{
	struct msq_cb f = { .fn.delslices = cb };

	return msq_scan(t->c, MSQ_SCAN_DELSLICES, 0, 0, msq_row_delslices, &f, arg);
}

/* ---------------- deleted files ---------------- */

static int msq_add_delfile(struct meta_txn *t, uint64_t ino, uint64_t length, int64_t when)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_ADD_DELFILE, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, (int64_t)length);
	msq_bind_i64(c, s, 3, when);
	ret = msq_exec_done(c, MSQ_ADD_DELFILE, s);
	msq_done(c, MSQ_ADD_DELFILE, s);
	return ret;
}

static int msq_del_delfile(struct meta_txn *t, uint64_t ino)
{
	return msq_exec_i64(t->c, MSQ_DEL_DELFILE, (int64_t)ino, NULL);
}

static int msq_row_delfile(sqlite3_stmt *s, void *cb, void *arg)
{
	return ((struct msq_cb *)cb)->fn.delfile(arg, (uint64_t)sqlite3_column_int64(s, 0),
						 (uint64_t)sqlite3_column_int64(s, 1),
						 sqlite3_column_int64(s, 2));
}

static int msq_scan_delfiles(struct meta_txn *t, meta_delfile_fn cb, void *arg)
{
	struct msq_cb f = { .fn.delfile = cb };

	return msq_scan(t->c, MSQ_SCAN_DELFILES, 0, 0, msq_row_delfile, &f, arg);
}

/* ---------------- sustained inodes ---------------- */

static int msq_sustained_op(struct meta_txn *t, enum msq_stmt_id id, uint64_t sid, uint64_t ino)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)sid);
	msq_bind_i64(c, s, 2, (int64_t)ino);
	ret = msq_exec_done(c, id, s);
	msq_done(c, id, s);
	return ret;
}

static int msq_add_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	return msq_sustained_op(t, MSQ_ADD_SUSTAINED, sid, ino);
}

static int msq_del_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	return msq_sustained_op(t, MSQ_DEL_SUSTAINED, sid, ino);
}

static int msq_row_sustained(sqlite3_stmt *s, void *cb, void *arg)
{
	return ((struct msq_cb *)cb)->fn.sustained(arg, (uint64_t)sqlite3_column_int64(s, 0),
						   (uint64_t)sqlite3_column_int64(s, 1));
}

static int msq_scan_sustained(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg)
{
	struct msq_cb f = { .fn.sustained = cb };

	if (!sid)
		return msq_scan(t->c, MSQ_SCAN_SUSTAINED_ALL, 0, 0, msq_row_sustained, &f, arg);
	return msq_scan(t->c, MSQ_SCAN_SUSTAINED, 1, (int64_t)sid, msq_row_sustained, &f, arg);
}

/* ---------------- sessions ---------------- */

static int msq_put_session(struct meta_txn *t, uint64_t sid, int64_t expire, const char *info)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_SESSION, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)sid);
	msq_bind_i64(c, s, 2, expire);
	/* JuiceFS stores the SessionInfo JSON as a blob. */
	if (info)
		msq_bind_blob(c, s, 3, info, strlen(info));
	ret = msq_exec_done(c, MSQ_PUT_SESSION, s);
	msq_done(c, MSQ_PUT_SESSION, s);
	return ret;
}

static int msq_touch_session(struct meta_txn *t, uint64_t sid, int64_t expire)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_TOUCH_SESSION, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)sid);
	msq_bind_i64(c, s, 2, expire);
	ret = msq_exec_done(c, MSQ_TOUCH_SESSION, s);
	if (!ret && sqlite3_changes(c->db) == 0)
		ret = -ENOENT;
	msq_done(c, MSQ_TOUCH_SESSION, s);
	return ret;
}

static int msq_del_session(struct meta_txn *t, uint64_t sid)
{
	return msq_exec_i64(t->c, MSQ_DEL_SESSION, (int64_t)sid, NULL);
}

static int msq_row_session(sqlite3_stmt *s, void *cb, void *arg)
{
	/* column_text adds the NUL the callback's string needs; NULL (legacy) reads as "". */
	const char *info = (const char *)sqlite3_column_text(s, 2);

	return ((struct msq_cb *)cb)->fn.session(arg, (uint64_t)sqlite3_column_int64(s, 0),
						 sqlite3_column_int64(s, 1), info ? info : "");
}

static int msq_scan_sessions(struct meta_txn *t, meta_session_raw_fn cb, void *arg)
{
	struct msq_cb f = { .fn.session = cb };

	return msq_scan(t->c, MSQ_SCAN_SESSIONS, 0, 0, msq_row_session, &f, arg);
}

/* ---------------- dir stats ---------------- */

static int msq_incr_dirstat(struct meta_txn *t, uint64_t ino, const struct meta_dirstat *d)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_INCR_DIRSTAT, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, d->length);
	msq_bind_i64(c, s, 3, d->space);
	msq_bind_i64(c, s, 4, d->inodes);
	ret = msq_exec_done(c, MSQ_INCR_DIRSTAT, s);
	msq_done(c, MSQ_INCR_DIRSTAT, s);
	return ret;
}

static int msq_get_dirstat(struct meta_txn *t, uint64_t ino, struct meta_dirstat *d)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_DIRSTAT, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	ret = msq_step(c, MSQ_GET_DIRSTAT, s);
	if (ret == 1) {
		d->length = sqlite3_column_int64(s, 0);
		d->space = sqlite3_column_int64(s, 1);
		d->inodes = sqlite3_column_int64(s, 2);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	msq_done(c, MSQ_GET_DIRSTAT, s);
	return ret;
}

static int msq_del_dirstat(struct meta_txn *t, uint64_t ino)
{
	return msq_exec_i64(t->c, MSQ_DEL_DIRSTAT, (int64_t)ino, NULL);
}

/* ---------------- dir quotas ---------------- */

static int msq_get_quota(struct meta_txn *t, uint64_t ino, struct meta_quota *q)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_GET_QUOTA, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	ret = msq_step(c, MSQ_GET_QUOTA, s);
	if (ret == 1) {
		q->max_space = sqlite3_column_int64(s, 0);
		q->max_inodes = sqlite3_column_int64(s, 1);
		q->used_space = sqlite3_column_int64(s, 2);
		q->used_inodes = sqlite3_column_int64(s, 3);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	msq_done(c, MSQ_GET_QUOTA, s);
	return ret;
}

static int msq_put_quota(struct meta_txn *t, uint64_t ino, const struct meta_quota *q)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_PUT_QUOTA, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, q->max_space);
	msq_bind_i64(c, s, 3, q->max_inodes);
	msq_bind_i64(c, s, 4, q->used_space);
	msq_bind_i64(c, s, 5, q->used_inodes);
	ret = msq_exec_done(c, MSQ_PUT_QUOTA, s);
	msq_done(c, MSQ_PUT_QUOTA, s);
	return ret;
}

static int msq_incr_quota(struct meta_txn *t, uint64_t ino, int64_t space, int64_t inodes)
{
	struct msq_conn *c = t->c;
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, MSQ_INCR_QUOTA, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, space);
	msq_bind_i64(c, s, 3, inodes);
	ret = msq_exec_done(c, MSQ_INCR_QUOTA, s);
	msq_done(c, MSQ_INCR_QUOTA, s);
	return ret;
}

static int msq_del_quota(struct meta_txn *t, uint64_t ino)
{
	return msq_exec_i64(t->c, MSQ_DEL_QUOTA, (int64_t)ino, NULL);
}

static int msq_row_quota(sqlite3_stmt *s, void *cb, void *arg)
{
	struct meta_quota q = { sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
				sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4) };

	return ((struct msq_cb *)cb)->fn.quota(arg, (uint64_t)sqlite3_column_int64(s, 0), &q);
}

static int msq_scan_quotas(struct meta_txn *t, meta_quota_fn cb, void *arg)
{
	struct msq_cb f = { .fn.quota = cb };

	return msq_scan(t->c, MSQ_SCAN_QUOTAS, 0, 0, msq_row_quota, &f, arg);
}

/* ---------------- locks ---------------- */

/* Owners are uint64 in memory and int64 columns: the bits round-trip unchanged. */
static int msq_row_flock(sqlite3_stmt *s, void *cb, void *arg)
{
	return ((struct msq_cb *)cb)->fn.flock(arg, (uint64_t)sqlite3_column_int64(s, 0),
					       (uint64_t)sqlite3_column_int64(s, 1),
					       (char)sqlite3_column_int64(s, 2));
}

static int msq_scan_flocks(struct meta_txn *t, uint64_t ino, meta_flock_fn cb, void *arg)
{
	struct msq_cb f = { .fn.flock = cb };

	return msq_scan(t->c, MSQ_SCAN_FLOCKS, 1, (int64_t)ino, msq_row_flock, &f, arg);
}

/* Insert-or-update (or delete) of a lock row keyed by (inode, sid, owner). */
static int msq_lock_write(struct msq_conn *c, enum msq_stmt_id id, uint64_t ino, uint64_t sid,
			  uint64_t owner, int64_t ltype, const uint8_t *recs, size_t len)
{
	sqlite3_stmt *s;
	int ret;

	ret = msq_prep(c, id, &s);
	if (ret)
		return ret;
	msq_bind_i64(c, s, 1, (int64_t)ino);
	msq_bind_i64(c, s, 2, (int64_t)sid);
	msq_bind_i64(c, s, 3, (int64_t)owner);
	if (id == MSQ_PUT_FLOCK)
		msq_bind_i64(c, s, 4, ltype);
	else if (id == MSQ_PUT_PLOCK)
		msq_bind_blob(c, s, 4, recs, len);
	ret = msq_exec_done(c, id, s);
	msq_done(c, id, s);
	return ret;
}

static int msq_put_flock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
			 char ltype)
{
	if (!ltype)
		return msq_lock_write(t->c, MSQ_DEL_FLOCK, ino, sid, owner, 0, NULL, 0);
	/* The column holds the byte's value: 'R' = 82, 'W' = 87. */
	return msq_lock_write(t->c, MSQ_PUT_FLOCK, ino, sid, owner, (unsigned char)ltype, NULL, 0);
}

static int msq_row_plock(sqlite3_stmt *s, void *cb, void *arg)
{
	const uint8_t *p = sqlite3_column_blob(s, 2);
	int n = sqlite3_column_bytes(s, 2);

	return ((struct msq_cb *)cb)->fn.plock(arg, (uint64_t)sqlite3_column_int64(s, 0),
					       (uint64_t)sqlite3_column_int64(s, 1),
					       p ? p : (const uint8_t *)"",
					       (size_t)(n > 0 ? n : 0));
}

static int msq_scan_plocks(struct meta_txn *t, uint64_t ino, meta_plock_fn cb, void *arg)
{
	struct msq_cb f = { .fn.plock = cb };

	return msq_scan(t->c, MSQ_SCAN_PLOCKS, 1, (int64_t)ino, msq_row_plock, &f, arg);
}

static int msq_put_plock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
			 const uint8_t *recs, size_t len)
{
	if (!len)
		return msq_lock_write(t->c, MSQ_DEL_PLOCK, ino, sid, owner, 0, NULL, 0);
	return msq_lock_write(t->c, MSQ_PUT_PLOCK, ino, sid, owner, 0, recs, len);
}

static int msq_del_session_locks(struct meta_txn *t, uint64_t sid)
{
	int ret = msq_exec_i64(t->c, MSQ_DEL_SESSION_FLOCKS, (int64_t)sid, NULL);

	if (!ret)
		ret = msq_exec_i64(t->c, MSQ_DEL_SESSION_PLOCKS, (int64_t)sid, NULL);
	return ret;
}

static int msq_row_session_flock(sqlite3_stmt *s, void *cb, void *arg)
{
	return ((struct msq_cb *)cb)->fn.slock(arg, (uint64_t)sqlite3_column_int64(s, 0),
					       (uint64_t)sqlite3_column_int64(s, 1), 1,
					       (char)sqlite3_column_int64(s, 2), NULL, 0);
}

static int msq_row_session_plock(sqlite3_stmt *s, void *cb, void *arg)
{
	const uint8_t *p = sqlite3_column_blob(s, 2);
	int n = sqlite3_column_bytes(s, 2);

	return ((struct msq_cb *)cb)->fn.slock(arg, (uint64_t)sqlite3_column_int64(s, 0),
					       (uint64_t)sqlite3_column_int64(s, 1), 0, 0,
					       p ? p : (const uint8_t *)"",
					       (size_t)(n > 0 ? n : 0));
}

static int msq_scan_session_locks(struct meta_txn *t, uint64_t sid, meta_session_lock_fn cb,
				  void *arg)
{
	struct msq_cb f = { .fn.slock = cb };
	int ret = msq_scan(t->c, MSQ_SCAN_SESSION_FLOCKS, 1, (int64_t)sid, msq_row_session_flock,
			   &f, arg);

	if (!ret)
		ret = msq_scan(t->c, MSQ_SCAN_SESSION_PLOCKS, 1, (int64_t)sid,
			       msq_row_session_plock, &f, arg);
	return ret;
}

/* ---------------- lifecycle ---------------- */

/*
 * Frees the engine: every connection (whichever thread opened it) and the
 * allocation that holds struct meta. meta.c has released the base fields
 * before, and no other thread uses m any more.
 */
static void msq_close(struct meta *m)
{
	struct msq_meta *sm;
	struct msq_conn *c, *next;

	if (!m)
		return;
	sm = msq_of(m);
	/* After this no thread-exit destructor runs for our connections. */
	pthread_key_delete(sm->key);
	pthread_mutex_lock(&sm->conns_mu);
	c = sm->conns;
	sm->conns = NULL;
	sm->idle = NULL;
	sm->nidle = 0;
	pthread_mutex_unlock(&sm->conns_mu);
	for (; c; c = next) {
		next = c->next;
		if (c->fork_gen == msq_fork_gen)
			msq_conn_close(c);
		/* else: a parent's connection, abandoned (see msq_fork_gen) */
	}
	pthread_mutex_destroy(&sm->conns_mu);
	pthread_mutex_destroy(&sm->wmu);
	free(sm->path);
	free(sm->journal);
	free(sm);
}

static const struct meta_engine_ops msq_ops = {
	.name = "sqlite3",
	.close = msq_close,
	.get_setting = msq_get_setting,
	.init_schema = msq_init_schema,
	.reset = msq_reset,
	.is_empty = msq_is_empty,
	.alloc_ids = msq_alloc_ids,
	.begin = msq_begin,
	.commit = msq_commit,
	.abort = msq_abort,
	.set_setting = msq_set_setting,
	.get_counter = msq_get_counter,
	.incr_counter = msq_incr_counter,
	.set_counter = msq_set_counter,
	.get_attr = msq_get_attr,
	.put_attr = msq_put_attr,
	.del_attr = msq_del_attr,
	.get_entry = msq_get_entry,
	.put_entry = msq_put_entry,
	.del_entry = msq_del_entry,
	.scan_entries = msq_scan_entries,
	.count_entries = msq_count_entries,
	.incr_parent = msq_incr_parent,
	.list_parents = msq_list_parents,
	.del_parents = msq_del_parents,
	.get_symlink = msq_get_symlink,
	.put_symlink = msq_put_symlink,
	.del_symlink = msq_del_symlink,
	.get_xattr = msq_get_xattr,
	.put_xattr = msq_put_xattr,
	.del_xattr = msq_del_xattr,
	.scan_xattrs = msq_scan_xattrs,
	.del_xattrs = msq_del_xattrs,
	.get_chunk = msq_get_chunk,
	.append_chunk = msq_append_chunk,
	.set_chunk = msq_set_chunk,
	.scan_chunks = msq_scan_chunks,
	.scan_all_chunks = msq_scan_all_chunks,
	.new_slice = msq_new_slice,
	.incr_ref = msq_incr_ref,
	.del_ref = msq_del_ref,
	.scan_dead_refs = msq_scan_dead_refs,
	.put_delslices = msq_put_delslices,
	.del_delslices = msq_del_delslices,
	.scan_delslices = msq_scan_delslices,
	.add_delfile = msq_add_delfile,
	.del_delfile = msq_del_delfile,
	.scan_delfiles = msq_scan_delfiles,
	.add_sustained = msq_add_sustained,
	.del_sustained = msq_del_sustained,
	.scan_sustained = msq_scan_sustained,
	.put_session = msq_put_session,
	.touch_session = msq_touch_session,
	.del_session = msq_del_session,
	.scan_sessions = msq_scan_sessions,
	.incr_dirstat = msq_incr_dirstat,
	.get_dirstat = msq_get_dirstat,
	.del_dirstat = msq_del_dirstat,
	.get_quota = msq_get_quota,
	.put_quota = msq_put_quota,
	.incr_quota = msq_incr_quota,
	.del_quota = msq_del_quota,
	.scan_quotas = msq_scan_quotas,
	.scan_flocks = msq_scan_flocks,
	.put_flock = msq_put_flock,
	.scan_plocks = msq_scan_plocks,
	.put_plock = msq_put_plock,
	.del_session_locks = msq_del_session_locks,
	.scan_session_locks = msq_scan_session_locks,
};

/* Read straight from the parsed URL, so the engine needs nothing of conf's code. */
static const char *msq_query(const struct conf_meta_url *u, const char *key)
{
	size_t i;

	for (i = 0; i < u->nquery; i++)
		if (u->query[i].key && !strcmp(u->query[i].key, key))
			return u->query[i].val ? u->query[i].val : "";
	return NULL;
}

static int msq_parse_options(const struct conf_meta_url *u, int *busy_ms, char **journal,
			     int *create, struct buf *err)
{
	static const char *const modes[] = { "WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY" };
	const char *v;
	size_t i;

	*busy_ms = MSQ_DEFAULT_BUSY_MS;
	/* go-sqlite3 accepts both spellings; JuiceFS itself adds _timeout. */
	v = msq_query(u, "_busy_timeout");
	if (!v)
		v = msq_query(u, "_timeout");
	if (v && (parse_int(v, busy_ms) || *busy_ms < 0)) {
		buf_addf(err, "sqlite3: invalid busy timeout '%s' (milliseconds)", v);
		return -EINVAL;
	}
	v = msq_query(u, "_journal");
	if (!v)
		v = msq_query(u, "_journal_mode");
	if (!v)
		v = "WAL";
	for (i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcasecmp(v, modes[i]))
			break;
	if (i == ARRAY_SIZE(modes)) {
		buf_addf(err, "sqlite3: unsupported journal mode '%s'", v);
		return -EINVAL;
	}
	*journal = xstrdup(modes[i]);
	v = msq_query(u, "_jfs_create");
	*create = 0;
	if (v && parse_bool(v, create)) {
		buf_addf(err, "sqlite3: invalid _jfs_create '%s'", v);
		free(*journal);
		*journal = NULL;
		return -EINVAL;
	}
	return 0;
}

/*
 * Absolute path of the database file. The directory must exist; the file must
 * exist unless `create`.
 */
static int msq_resolve_path(const char *path, int create, char **out, struct buf *err)
{
	const char *slash = strrchr(path, '/');
	char *dir, *real = NULL, *full = NULL;
	const char *base = slash ? slash + 1 : path;
	struct stat st;
	int ret = 0;

	if (!*base) {
		buf_addf(err, "sqlite3: %s names a directory, not a database file", path);
		return -EINVAL;
	}
	if (!slash)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	real = realpath(dir, NULL);
	if (!real) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENOTDIR)
			buf_addf(err, "sqlite3: directory %s of database %s does not exist", dir,
				 path);
		else
			buf_addf(err, "sqlite3: directory %s of database %s: %s", dir, path,
				 strerror(-ret));
		goto out;
	}
	full = xasprintf("%s%s%s", real, strcmp(real, "/") ? "/" : "", base);
	if (stat(full, &st)) {
		ret = -errno;
		if (ret == -ENOENT && create)
			ret = 0;
		else if (ret == -ENOENT)
			buf_addf(err, "sqlite3: database %s does not exist", path);
		else
			buf_addf(err, "sqlite3: database %s: %s", path, strerror(-ret));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		buf_addf(err, "sqlite3: %s is a directory, not a database file", path);
		ret = -EINVAL;
	}
out:
	free(dir);
	free(real);
	if (ret) {
		free(full);
		return ret;
	}
	*out = full;
	return 0;
}

int meta_sqlite_open(const struct conf_meta_url *u, struct meta **out, struct buf *err)
{
	struct msq_meta *sm = NULL;
	struct msq_conn *c;
	int create = 0, busy_ms, ret;
	char *journal = NULL, *path = NULL;

	if (!u->path || !*u->path) {
		buf_addf(err, "sqlite3: the meta URL has no database path");
		return -EINVAL;
	}
	ret = msq_parse_options(u, &busy_ms, &journal, &create, err);
	if (ret)
		return ret;
	ret = msq_resolve_path(u->path, create, &path, err);
	if (ret) {
		free(journal);
		return ret;
	}
	pthread_once(&msq_once, msq_init_once);
	sm = xcalloc(1, sizeof(*sm));
	sm->base.ops = &msq_ops;
	sm->path = path;
	sm->journal = journal;
	sm->busy_ms = busy_ms;
	const char *fault = getenv("JFS_FAULT_SQLITE_SLICE_COMMIT");
	if (fault && *fault && (parse_i64(fault, &sm->fault_every) || sm->fault_every < 0))
		sm->fault_every = 0;
	pthread_mutex_init(&sm->conns_mu, NULL);
	pthread_mutex_init(&sm->wmu, NULL);
	if (pthread_key_create(&sm->key, msq_conn_dtor)) {
		buf_addf(err, "sqlite3: out of thread-specific keys");
		pthread_mutex_destroy(&sm->conns_mu);
		free(sm->path);
		free(sm->journal);
		free(sm);
		return -EAGAIN;
	}
	/* The opening thread's connection also proves the file is usable. */
	ret = msq_conn_open(sm, create, &c, err);
	if (ret) {
		msq_close(&sm->base);
		return ret;
	}
	msq_conn_register(sm, c);
	*out = &sm->base;
	return 0;
}
