/*
 * sqlshared: what the SQL metadata engines (sqlite.c, postgres.c, mysql.c) share.
 *
 * JuiceFS keeps one schema for every SQL database (spec §4): the same tables,
 * the same value conventions (node times as microseconds plus leftover
 * nanoseconds, true slice refcounts, chunk records as one concatenated blob)
 * and SQL counter semantics. So the record primitives of meta-internal.h are
 * written once, here, over a small driver each engine supplies: prepare a
 * statement of the table below, bind, step, read columns. An engine keeps
 * only its dialect (the few statements that differ, its DDL, placeholders,
 * blob types), its connections and its transactions (begin, commit, abort:
 * commit outcomes are the engine's to know, meta-internal.h invariant 6).
 *
 * Statement text:
 *  1. Placeholders are written ?N (SQLite's numbered form); the PostgreSQL
 *     driver rewrites them to $N when it prepares a statement, the MySQL
 *     driver puts the bound values in their place.
 *  2. Upserts are INSERT ... ON CONFLICT (...) DO UPDATE, which SQLite and
 *     PostgreSQL speak; the old row is always named by its table (PostgreSQL
 *     calls a bare column ambiguous beside `excluded`). The MySQL driver
 *     rewrites the form to ON DUPLICATE KEY UPDATE (excluded.c is VALUES(c)),
 *     so an upsert must conflict on the table's one unique key.
 *  3. A statement whose text differs is listed with one text per dialect
 *     (SQLite, PostgreSQL, MySQL).
 *
 * Driver contract:
 *  - acquire/release bracket the calls made outside meta.c's transactions
 *    (get_setting, init_schema, reset, is_empty, alloc_ids); inside them the
 *    handle is a struct meta_txn whose drv, conn and label the engine set.
 *  - prep gives a statement ready to bind (indices from 1); done returns it.
 *    A scan's callback may run another primitive on the same connection
 *    while the scan's statement is still open, so prep must cope with a
 *    statement already handed out.
 *  - step: 1 a row, 0 done, -errno on failure (lock contention and
 *    serialization failures are -EAGAIN, an engine that went away
 *    META_ETRANSIENT). A bind failure is reported by the next step.
 *  - col_blob/col_text never return NULL (an empty value is ""); col_text is
 *    NUL-terminated. changes counts the rows the last step changed.
 */
#ifndef JFS_META_SQLSHARED_H
#define JFS_META_SQLSHARED_H

#include "meta/meta-internal.h"

enum msql_dialect { MSQL_SQLITE, MSQL_PG, MSQL_MY, MSQL_NDIALECT };

#define MSQL_NODE_COLS                                                                      \
	"type, flags, mode, uid, gid, atime, mtime, ctime, atimensec, mtimensec, ctimensec, " \
	"nlink, length, rdev, parent, access_acl_id, default_acl_id, tier_id"

/* The same columns of a table named t in a join. */
#define MSQL_NODE_COLS_OF(t)                                                                \
	t ".type, " t ".flags, " t ".mode, " t ".uid, " t ".gid, " t ".atime, " t ".mtime, " \
	t ".ctime, " t ".atimensec, " t ".mtimensec, " t ".ctimensec, " t ".nlink, "         \
	t ".length, " t ".rdev, " t ".parent, " t ".access_acl_id, " t ".default_acl_id, "  \
	t ".tier_id"

/* jfs_acl's statements, which differ only in how "group" is quoted. */
#define MSQL_ACL_GET(grp)                                                                   \
	"SELECT owner, " grp ", mask, other, named_users, named_groups FROM jfs_acl WHERE id = ?1"
#define MSQL_ACL_PUT(grp)                                                                   \
	"INSERT INTO jfs_acl (owner, " grp ", mask, other, named_users, named_groups) "       \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
#define MSQL_ACL_SCAN(grp)                                                                  \
	"SELECT owner, " grp ", mask, other, named_users, named_groups, id FROM jfs_acl "     \
	"ORDER BY id"

/*
 * Every statement of the engines: S(id, text) is shared, D(id, sqlite, pg)
 * differs by dialect. Appending to a chunk in SQLite casts back to BLOB:
 * its || yields TEXT, which a NUL byte would cut short for length(). A
 * listing without a limit binds INT64_MAX (MySQL takes no NULL or
 * expression in LIMIT).
 */
#define MSQL_STATEMENTS(S, D)                                                                \
	D(BEGIN_R, "BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",              \
	  "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION READ ONLY")    \
	D(BEGIN_W, "BEGIN IMMEDIATE", "BEGIN ISOLATION LEVEL SERIALIZABLE",                  \
	  "START TRANSACTION")                                                               \
	S(COMMIT, "COMMIT")                                                                  \
	S(ROLLBACK, "ROLLBACK")                                                              \
	D(HAS_OBJECT, "SELECT count(*) FROM sqlite_master WHERE name = ?1",                   \
	  "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "       \
	  "ON n.oid = c.relnamespace WHERE c.relname = ?1 AND n.nspname = current_schema()",   \
	  "SELECT (SELECT count(*) FROM information_schema.tables WHERE "                    \
	  "table_schema = DATABASE() AND table_name = ?1) + (SELECT count(*) FROM "          \
	  "information_schema.statistics WHERE table_schema = DATABASE() AND "               \
	  "index_name = ?1 AND seq_in_index = 1)")                                           \
	D(COUNT_FOREIGN,                                                                     \
	  "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "                     \
	  "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'jfs\\_%' ESCAPE '\\'",   \
	  "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "   \
	  "AND tablename NOT LIKE 'jfs\\_%' ESCAPE '\\'",                                      \
	  "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "  \
	  "AND table_name NOT LIKE 'jfs|_%' ESCAPE '|'")                                     \
	S(GET_SETTING, "SELECT value FROM jfs_setting WHERE name = 'format'")                \
	S(PUT_SETTING, "INSERT INTO jfs_setting (name, value) VALUES ('format', ?1) "       \
		       "ON CONFLICT (name) DO UPDATE SET value = excluded.value")            \
	S(GET_COUNTER, "SELECT value FROM jfs_counter WHERE name = ?1")                      \
	S(ADD_COUNTER, "INSERT INTO jfs_counter (name, value) VALUES (?1, ?2) "              \
		       "ON CONFLICT (name) DO UPDATE SET "                                   \
		       "value = jfs_counter.value + excluded.value")                         \
	S(SET_COUNTER, "INSERT INTO jfs_counter (name, value) VALUES (?1, ?2) "              \
		       "ON CONFLICT (name) DO UPDATE SET value = excluded.value")            \
	S(SEED_COUNTER, "INSERT INTO jfs_counter (name, value) VALUES (?1, ?2) "             \
			"ON CONFLICT (name) DO NOTHING")                                     \
	S(GET_ATTR, "SELECT " MSQL_NODE_COLS " FROM jfs_node WHERE inode = ?1")              \
	S(PUT_ATTR, "INSERT INTO jfs_node (inode, " MSQL_NODE_COLS ") VALUES (?1, ?2, ?3, "  \
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
	/* get_attrs: one round trip for a listing page's attributes (PostgreSQL; MySQL    \
	 * puts the list in the statement's text, SQLite does not use it). */                \
	D(GET_ATTRS, "SELECT NULL WHERE 0 AND ?1",                                            \
	  "SELECT inode, " MSQL_NODE_COLS " FROM jfs_node WHERE inode = ANY(CAST(?1 AS bigint[]))", \
	  "SELECT NULL FROM DUAL WHERE 0 AND ?1")                                            \
	S(DEL_ATTR, "DELETE FROM jfs_node WHERE inode = ?1")                                 \
	S(GET_ENTRY, "SELECT inode, type FROM jfs_edge WHERE parent = ?1 AND name = ?2")     \
	S(PUT_ENTRY, "INSERT INTO jfs_edge (parent, name, inode, type) VALUES (?1, ?2, ?3, " \
		     "?4) ON CONFLICT (parent, name) DO UPDATE SET inode = excluded.inode, " \
		     "type = excluded.type")                                                 \
	S(DEL_ENTRY, "DELETE FROM jfs_edge WHERE parent = ?1 AND name = ?2")                 \
	/* get_dir_entry: the directory, its entry of a name and that entry's node. */        \
	S(GET_DIR_ENTRY, "SELECT " MSQL_NODE_COLS_OF("p") ", e.inode, e.type, "              \
			 MSQL_NODE_COLS_OF("n") ", n.inode FROM jfs_node p LEFT JOIN jfs_edge e " \
			 "ON e.parent = p.inode AND e.name = ?2 LEFT JOIN jfs_node n "       \
			 "ON n.inode = e.inode WHERE p.inode = ?1")                          \
	D(SCAN_ENTRIES,                                                                      \
	  "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 "                        \
	  "ORDER BY name LIMIT coalesce(?2, -1)",                                            \
	  "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 ORDER BY name LIMIT ?2", \
	  "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 ORDER BY name LIMIT ?2") \
	D(SCAN_ENTRIES_AFTER,                                                                \
	  "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 "                        \
	  "AND name > ?3 ORDER BY name LIMIT coalesce(?2, -1)",                              \
	  "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 "                        \
	  "AND name > ?3 ORDER BY name LIMIT ?2",                                            \
	  "SELECT name, inode, type FROM jfs_edge WHERE parent = ?1 "                        \
	  "AND name > ?3 ORDER BY name LIMIT ?2")                                            \
	S(COUNT_ENTRIES, "SELECT count(*) FROM jfs_edge WHERE parent = ?1")                  \
	S(LIST_PARENTS, "SELECT DISTINCT parent FROM jfs_edge WHERE inode = ?1 "             \
			"ORDER BY parent")                                                   \
	S(GET_SYMLINK, "SELECT target FROM jfs_symlink WHERE inode = ?1")                    \
	S(PUT_SYMLINK, "INSERT INTO jfs_symlink (inode, target) VALUES (?1, ?2) "            \
		       "ON CONFLICT (inode) DO UPDATE SET target = excluded.target")         \
	S(DEL_SYMLINK, "DELETE FROM jfs_symlink WHERE inode = ?1")                           \
	S(GET_XATTR, "SELECT value FROM jfs_xattr WHERE inode = ?1 AND name = ?2")           \
	S(PUT_XATTR, "INSERT INTO jfs_xattr (inode, name, value) VALUES (?1, ?2, ?3) "       \
		     "ON CONFLICT (inode, name) DO UPDATE SET value = excluded.value")       \
	S(DEL_XATTR, "DELETE FROM jfs_xattr WHERE inode = ?1 AND name = ?2")                 \
	S(SCAN_XATTRS, "SELECT name FROM jfs_xattr WHERE inode = ?1 ORDER BY name")          \
	S(DEL_XATTRS, "DELETE FROM jfs_xattr WHERE inode = ?1")                              \
	S(GET_CHUNK, "SELECT slices FROM jfs_chunk WHERE inode = ?1 AND indx = ?2")          \
	D(APPEND_CHUNK,                                                                      \
	  "INSERT INTO jfs_chunk (inode, indx, slices) VALUES (?1, ?2, ?3) "                 \
	  "ON CONFLICT (inode, indx) DO UPDATE SET "                                         \
	  "slices = CAST(jfs_chunk.slices || excluded.slices AS BLOB)",                      \
	  "INSERT INTO jfs_chunk (inode, indx, slices) VALUES (?1, ?2, ?3) "                 \
	  "ON CONFLICT (inode, indx) DO UPDATE SET "                                         \
	  "slices = jfs_chunk.slices || excluded.slices",                                    \
	  "INSERT INTO jfs_chunk (inode, indx, slices) VALUES (?1, ?2, ?3) "                 \
	  "ON DUPLICATE KEY UPDATE slices = concat(slices, VALUES(slices))")                 \
	D(CHUNK_BYTES,                                                                       \
	  "SELECT length(CAST(slices AS BLOB)) FROM jfs_chunk WHERE inode = ?1 AND indx = ?2", \
	  "SELECT octet_length(slices) FROM jfs_chunk WHERE inode = ?1 AND indx = ?2",       \
	  "SELECT length(slices) FROM jfs_chunk WHERE inode = ?1 AND indx = ?2")             \
	S(SET_CHUNK, "INSERT INTO jfs_chunk (inode, indx, slices) VALUES (?1, ?2, ?3) "      \
		     "ON CONFLICT (inode, indx) DO UPDATE SET slices = excluded.slices")     \
	S(DEL_CHUNK, "DELETE FROM jfs_chunk WHERE inode = ?1 AND indx = ?2")                 \
	S(SCAN_CHUNKS, "SELECT inode, indx, slices FROM jfs_chunk WHERE inode = ?1 "         \
		       "ORDER BY indx")                                                      \
	S(SCAN_ALL_CHUNKS, "SELECT inode, indx, slices FROM jfs_chunk ORDER BY inode, indx") \
	S(NEW_SLICE, "INSERT INTO jfs_chunk_ref (chunkid, size, refs) VALUES (?1, ?2, 1)")   \
	S(INCR_REF, "INSERT INTO jfs_chunk_ref (chunkid, size, refs) VALUES (?1, ?2, 1 + ?3) " \
		    "ON CONFLICT (chunkid) DO UPDATE SET refs = jfs_chunk_ref.refs + ?3")    \
	S(GET_REF, "SELECT refs FROM jfs_chunk_ref WHERE chunkid = ?1")                      \
	S(DEL_REF, "DELETE FROM jfs_chunk_ref WHERE chunkid = ?1")                           \
	S(SCAN_DEAD_REFS, "SELECT chunkid, size, refs FROM jfs_chunk_ref WHERE refs <= 0 "   \
			  "ORDER BY chunkid")                                                \
	S(PUT_DELSLICES, "INSERT INTO jfs_delslices (chunkid, deleted, slices) "             \
			 "VALUES (?1, ?2, ?3) ON CONFLICT (chunkid) DO UPDATE SET "          \
			 "deleted = excluded.deleted, slices = excluded.slices")             \
	S(DEL_DELSLICES, "DELETE FROM jfs_delslices WHERE chunkid = ?1")                     \
	S(SCAN_DELSLICES, "SELECT chunkid, deleted, slices FROM jfs_delslices "              \
			  "ORDER BY chunkid")                                                \
	S(ADD_DELFILE, "INSERT INTO jfs_delfile (inode, length, expire) VALUES (?1, ?2, ?3) " \
		       "ON CONFLICT (inode) DO UPDATE SET length = excluded.length, "        \
		       "expire = excluded.expire")                                           \
	S(DEL_DELFILE, "DELETE FROM jfs_delfile WHERE inode = ?1")                           \
	S(SCAN_DELFILES, "SELECT inode, length, expire FROM jfs_delfile ORDER BY inode")     \
	S(ADD_SUSTAINED, "INSERT INTO jfs_sustained (sid, inode) VALUES (?1, ?2) "           \
			 "ON CONFLICT (sid, inode) DO NOTHING")                              \
	S(DEL_SUSTAINED, "DELETE FROM jfs_sustained WHERE sid = ?1 AND inode = ?2")          \
	S(SCAN_SUSTAINED, "SELECT sid, inode FROM jfs_sustained WHERE sid = ?1 "             \
			  "ORDER BY inode")                                                  \
	S(SCAN_SUSTAINED_ALL, "SELECT sid, inode FROM jfs_sustained ORDER BY sid, inode")    \
	S(PUT_SESSION, "INSERT INTO jfs_session2 (sid, expire, info) VALUES (?1, ?2, ?3) "   \
		       "ON CONFLICT (sid) DO UPDATE SET expire = excluded.expire, "          \
		       "info = excluded.info")                                               \
	S(TOUCH_SESSION, "UPDATE jfs_session2 SET expire = ?2 WHERE sid = ?1")               \
	S(DEL_SESSION, "DELETE FROM jfs_session2 WHERE sid = ?1")                            \
	S(SCAN_SESSIONS, "SELECT sid, expire, info FROM jfs_session2 ORDER BY sid")          \
	S(INCR_DIRSTAT, "INSERT INTO jfs_dir_stats (inode, data_length, used_space, "        \
			"used_inodes) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (inode) DO UPDATE " \
			"SET data_length = jfs_dir_stats.data_length + excluded.data_length, " \
			"used_space = jfs_dir_stats.used_space + excluded.used_space, "      \
			"used_inodes = jfs_dir_stats.used_inodes + excluded.used_inodes")    \
	S(GET_DIRSTAT, "SELECT data_length, used_space, used_inodes FROM jfs_dir_stats "     \
		       "WHERE inode = ?1")                                                   \
	S(DEL_DIRSTAT, "DELETE FROM jfs_dir_stats WHERE inode = ?1")                         \
	S(SCAN_FLOCKS, "SELECT sid, owner, ltype FROM jfs_flock WHERE inode = ?1 "           \
		       "ORDER BY sid, owner")                                                \
	S(PUT_FLOCK, "INSERT INTO jfs_flock (inode, sid, owner, ltype) VALUES (?1, ?2, ?3, " \
		     "?4) ON CONFLICT (inode, sid, owner) DO UPDATE SET ltype = excluded.ltype") \
	S(DEL_FLOCK, "DELETE FROM jfs_flock WHERE inode = ?1 AND sid = ?2 AND owner = ?3")   \
	S(SCAN_PLOCKS, "SELECT sid, owner, records FROM jfs_plock WHERE inode = ?1 "         \
		       "ORDER BY sid, owner")                                                \
	S(PUT_PLOCK, "INSERT INTO jfs_plock (inode, sid, owner, records) VALUES (?1, ?2, ?3, " \
		     "?4) ON CONFLICT (inode, sid, owner) DO UPDATE SET "                    \
		     "records = excluded.records")                                           \
	S(DEL_PLOCK, "DELETE FROM jfs_plock WHERE inode = ?1 AND sid = ?2 AND owner = ?3")   \
	S(DEL_SESSION_FLOCKS, "DELETE FROM jfs_flock WHERE sid = ?1")                        \
	S(DEL_SESSION_PLOCKS, "DELETE FROM jfs_plock WHERE sid = ?1")                        \
	S(SCAN_SESSION_FLOCKS, "SELECT inode, owner, ltype FROM jfs_flock WHERE sid = ?1 "   \
			       "ORDER BY inode, owner")                                      \
	S(SCAN_SESSION_PLOCKS, "SELECT inode, owner, records FROM jfs_plock WHERE sid = ?1 " \
			       "ORDER BY inode, owner")                                      \
	S(GET_QUOTA, "SELECT max_space, max_inodes, used_space, used_inodes FROM "           \
		     "jfs_dir_quota WHERE inode = ?1")                                       \
	S(PUT_QUOTA, "INSERT INTO jfs_dir_quota (inode, max_space, max_inodes, used_space, " \
		     "used_inodes) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (inode) DO UPDATE " \
		     "SET max_space = excluded.max_space, max_inodes = excluded.max_inodes, " \
		     "used_space = excluded.used_space, used_inodes = excluded.used_inodes") \
	S(INCR_QUOTA, "UPDATE jfs_dir_quota SET used_space = used_space + ?2, "              \
		      "used_inodes = used_inodes + ?3 WHERE inode = ?1")                     \
	S(DEL_QUOTA, "DELETE FROM jfs_dir_quota WHERE inode = ?1")                           \
	S(SCAN_QUOTAS, "SELECT inode, max_space, max_inodes, used_space, used_inodes FROM "  \
		       "jfs_dir_quota ORDER BY inode")                                       \
	D(GET_ACL, MSQL_ACL_GET("\"group\""), MSQL_ACL_GET("\"group\""),                     \
	  MSQL_ACL_GET("`group`"))                                                           \
	D(PUT_ACL, MSQL_ACL_PUT("\"group\"") " RETURNING id",                                \
	  MSQL_ACL_PUT("\"group\"") " RETURNING id", MSQL_ACL_PUT("`group`"))                \
	D(SCAN_ACLS, MSQL_ACL_SCAN("\"group\""), MSQL_ACL_SCAN("\"group\""),                 \
	  MSQL_ACL_SCAN("`group`"))

#define MSQL_ENUM_S(id, sql) MSQL_##id,
#define MSQL_ENUM_D(id, lite, pg, my) MSQL_##id,
enum msql_stmt_id { MSQL_STATEMENTS(MSQL_ENUM_S, MSQL_ENUM_D) MSQL_NSTMT };
#undef MSQL_ENUM_S
#undef MSQL_ENUM_D

/* The name (for logs) and the text of a statement in a dialect. */
const char *msql_stmt_name(enum msql_stmt_id id);
const char *msql_stmt_sql(enum msql_dialect d, enum msql_stmt_id id);

/*
 * The schema of JuiceFS 1.4.2, in its creation order: for each object its
 * name, whether it is a table, and its DDL per dialect, byte for byte what
 * the real client creates (SQLite stores the text; PostgreSQL's pg_dump -s
 * of a volume equals the real client's).
 */
struct msql_ddl {
	const char *name;
	int table;
	const char *sql[MSQL_NDIALECT];
};
extern const struct msql_ddl msql_schema[];
extern const size_t msql_nschema;

struct msql_stmt; /* driver-defined */

struct msql_driver {
	enum msql_dialect dialect;
	/* Outside transactions: a handle on a connection with none open. */
	int (*acquire)(struct meta *m, struct meta_txn **t);
	void (*release)(struct meta_txn *t);
	/* An engine-internal transaction on an acquired handle. */
	int (*tx_begin)(struct meta_txn *t, int write);
	int (*tx_commit)(struct meta_txn *t); /* rolls back when it fails */
	void (*tx_rollback)(struct meta_txn *t);
	int (*exec)(struct meta_txn *t, const char *sql); /* DDL, no rows */

	/* id -1 with sql: an ad-hoc statement, not cached. */
	int (*prep)(struct meta_txn *t, int id, const char *sql, struct msql_stmt **s);
	void (*bind_i64)(struct msql_stmt *s, int i, int64_t v);
	void (*bind_null)(struct msql_stmt *s, int i);
	void (*bind_blob)(struct msql_stmt *s, int i, const void *p, size_t n);
	void (*bind_text)(struct msql_stmt *s, int i, const char *str);
	int (*step)(struct msql_stmt *s);
	int64_t (*col_i64)(struct msql_stmt *s, int col);
	const void *(*col_blob)(struct msql_stmt *s, int col, size_t *n);
	const char *(*col_text)(struct msql_stmt *s, int col, size_t *n);
	int64_t (*changes)(struct msql_stmt *s);
	/*
	 * The id an INSERT gave its AUTO_INCREMENT column, for a dialect
	 * without INSERT ... RETURNING (MySQL); NULL where RETURNING is used.
	 */
	int64_t (*last_id)(struct msql_stmt *s);
	/*
	 * Optional: send a statement of an open write transaction (meta.c's
	 * begin) whose rows and change count nobody reads, without waiting for
	 * its answer: a failure shows at the next step of the transaction or at
	 * its commit, which then rolls back (-EAGAIN for a conflict,
	 * META_ENOTAPPLIED otherwise). Statements keep their order. sqlshared.c
	 * queues only the writes of msql_queueable(). NULL: run it now.
	 */
	int (*queue)(struct msql_stmt *s);
	void (*done)(struct msql_stmt *s); /* NULL-safe */
};

/* Base of an SQL engine: meta.c's base, then the driver the shared code calls. */
struct msql_meta {
	struct meta base;
	const struct msql_driver *drv;
};

static inline const struct msql_driver *msql_drv(struct meta *m)
{
	return ((struct msql_meta *)m)->drv;
}

/* The handle primitives get; engines embed it in their connection. */
struct meta_txn {
	const struct msql_driver *drv;
	void *conn;        /* the engine's connection */
	const char *label; /* "sqlite3 /path" or "postgres host:port/db", for logs */
	int write;
	int active;
	int new_slice; /* records a slice: a commit the fault hook may hit */
};

/*
 * A pool of connections, for the engines that keep several (postgres.c,
 * mysql.c): a transaction holds one from begin to commit/abort, the calls
 * outside transactions one for the call. At most max are open; a caller that
 * finds them all busy waits up to wait_ms, then gets META_ETRANSIENT. The
 * most recently returned connection is handed out first. A connection that
 * its engine calls not reusable (it failed, or a transaction is left open)
 * is closed when it comes back. Connections never cross fork(): a child
 * abandons its parent's (closing one would end the parent's session on the
 * shared socket), so close is told whether the connection is this process's.
 */
struct msql_pool;

struct msql_pconn { /* first in the engine's connection */
	struct msql_pconn *next; /* on the pool's idle list */
	unsigned fork_gen;
};

struct msql_pool_ops {
	/* A fresh connection; META_ETRANSIENT when the server cannot be reached. */
	int (*open)(struct msql_pool *p, struct msql_pconn **c);
	/* Free c; ours: opened by this process (else abandon its socket). */
	void (*close)(struct msql_pconn *c, int ours);
	/* May c serve another caller as it is? */
	int (*reusable)(struct msql_pconn *c);
};

struct msql_pool {
	const struct msql_pool_ops *ops;
	const char *label; /* for logs; the engine sets it */
	int max, wait_ms;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct msql_pconn *idle;
	int nopen;
};

void msql_pool_init(struct msql_pool *p, const struct msql_pool_ops *ops, int max, int wait_ms);
void msql_pool_destroy(struct msql_pool *p); /* closes the idle ones */
int msql_pool_take(struct msql_pool *p, struct msql_pconn **c);
void msql_pool_put(struct msql_pool *p, struct msql_pconn *c);
/* Count in a connection opened outside msql_pool_take and give it back. */
void msql_pool_adopt(struct msql_pool *p, struct msql_pconn *c);
/* Stamp a new connection as this process's. */
void msql_pconn_init(struct msql_pconn *c);
int msql_pconn_ours(const struct msql_pconn *c);

/* The shared operations outside transactions. */
int msql_get_setting(struct meta *m, struct buf *json);
int msql_init_schema(struct meta *m);
int msql_reset(struct meta *m);
int msql_is_empty(struct meta *m, int *empty);
int msql_alloc_ids(struct meta *m, const char *counter, uint64_t n, uint64_t *first);

/* The record primitives, for the engine's ops table (MSQL_PRIMITIVE_OPS). */
int msql_set_setting(struct meta_txn *t, const char *json);
int msql_get_counter(struct meta_txn *t, const char *name, int64_t *v);
int msql_incr_counter(struct meta_txn *t, const char *name, int64_t delta, int64_t *newv);
int msql_set_counter(struct meta_txn *t, const char *name, int64_t v);
int msql_get_attr(struct meta_txn *t, uint64_t ino, struct meta_attr *a);
int msql_put_attr(struct meta_txn *t, uint64_t ino, const struct meta_attr *a);
int msql_del_attr(struct meta_txn *t, uint64_t ino);
/* Not in MSQL_PRIMITIVE_OPS: only engines with a round trip per statement gain from it. */
int msql_get_attrs(struct meta_txn *t, const uint64_t *inos, size_t n, struct meta_attr *a,
		   uint8_t *found);
int msql_get_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
		   uint64_t *ino, uint8_t *type);
/* Not in MSQL_PRIMITIVE_OPS either: one round trip for three where that is dear. */
int msql_get_dir_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
		       struct meta_dir_entry *de);
int msql_put_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
		   uint64_t ino, uint8_t type);
int msql_del_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen);
int msql_scan_entries(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
		      size_t limit, meta_entry_fn cb, void *arg);
int msql_count_entries(struct meta_txn *t, uint64_t parent, uint64_t *n);
int msql_incr_parent(struct meta_txn *t, uint64_t ino, uint64_t parent, int64_t delta);
int msql_list_parents(struct meta_txn *t, uint64_t ino, meta_u64_fn cb, void *arg);
int msql_del_parents(struct meta_txn *t, uint64_t ino);
int msql_get_symlink(struct meta_txn *t, uint64_t ino, struct buf *target);
int msql_put_symlink(struct meta_txn *t, uint64_t ino, const char *target, size_t len);
int msql_del_symlink(struct meta_txn *t, uint64_t ino);
int msql_get_xattr(struct meta_txn *t, uint64_t ino, const char *name, struct buf *val);
int msql_put_xattr(struct meta_txn *t, uint64_t ino, const char *name, const void *val,
		   size_t len);
int msql_del_xattr(struct meta_txn *t, uint64_t ino, const char *name);
int msql_scan_xattrs(struct meta_txn *t, uint64_t ino, meta_name_fn cb, void *arg);
int msql_del_xattrs(struct meta_txn *t, uint64_t ino);
int msql_get_acl(struct meta_txn *t, uint32_t id, struct meta_acl *rule);
int msql_put_acl(struct meta_txn *t, const struct meta_acl *rule, uint32_t *id);
int msql_scan_acls(struct meta_txn *t, meta_acl_fn cb, void *arg);
int msql_get_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, struct buf *recs);
int msql_append_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
		      size_t len, size_t *count);
int msql_set_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
		   size_t len);
int msql_scan_chunks(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg);
int msql_scan_all_chunks(struct meta_txn *t, meta_chunk_fn cb, void *arg);
int msql_new_slice(struct meta_txn *t, uint64_t id, uint32_t size);
int msql_incr_ref(struct meta_txn *t, uint64_t id, uint32_t size, int64_t delta, int64_t *refs);
int msql_del_ref(struct meta_txn *t, uint64_t id, uint32_t size);
int msql_scan_dead_refs(struct meta_txn *t, meta_slice_ref_fn cb, void *arg);
int msql_put_delslices(struct meta_txn *t, uint64_t newid, int64_t when, const uint8_t *recs,
		       size_t len);
int msql_del_delslices(struct meta_txn *t, uint64_t newid, int64_t when);
int msql_scan_delslices(struct meta_txn *t, meta_delslices_fn cb, void *arg);
int msql_add_delfile(struct meta_txn *t, uint64_t ino, uint64_t length, int64_t when);
int msql_del_delfile(struct meta_txn *t, uint64_t ino);
int msql_scan_delfiles(struct meta_txn *t, meta_delfile_fn cb, void *arg);
int msql_add_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino);
int msql_del_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino);
int msql_scan_sustained(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg);
int msql_put_session(struct meta_txn *t, uint64_t sid, int64_t expire, const char *info);
int msql_touch_session(struct meta_txn *t, uint64_t sid, int64_t expire);
int msql_del_session(struct meta_txn *t, uint64_t sid);
int msql_scan_sessions(struct meta_txn *t, meta_session_raw_fn cb, void *arg);
int msql_incr_dirstat(struct meta_txn *t, uint64_t ino, const struct meta_dirstat *d);
int msql_get_dirstat(struct meta_txn *t, uint64_t ino, struct meta_dirstat *d);
int msql_del_dirstat(struct meta_txn *t, uint64_t ino);
int msql_get_quota(struct meta_txn *t, uint64_t ino, struct meta_quota *q);
int msql_put_quota(struct meta_txn *t, uint64_t ino, const struct meta_quota *q);
int msql_incr_quota(struct meta_txn *t, uint64_t ino, int64_t space, int64_t inodes);
int msql_del_quota(struct meta_txn *t, uint64_t ino);
int msql_scan_quotas(struct meta_txn *t, meta_quota_fn cb, void *arg);
int msql_scan_flocks(struct meta_txn *t, uint64_t ino, meta_flock_fn cb, void *arg);
int msql_put_flock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner, char ltype);
int msql_scan_plocks(struct meta_txn *t, uint64_t ino, meta_plock_fn cb, void *arg);
int msql_put_plock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
		   const uint8_t *recs, size_t len);
int msql_del_session_locks(struct meta_txn *t, uint64_t sid);
int msql_scan_session_locks(struct meta_txn *t, uint64_t sid, meta_session_lock_fn cb,
			    void *arg);

/* Designated initializers of every shared entry of struct meta_engine_ops. */
#define MSQL_PRIMITIVE_OPS                                                                   \
	.get_setting = msql_get_setting, .init_schema = msql_init_schema, .reset = msql_reset, \
	.is_empty = msql_is_empty, .alloc_ids = msql_alloc_ids,                              \
	.set_setting = msql_set_setting, .get_counter = msql_get_counter,                    \
	.incr_counter = msql_incr_counter, .set_counter = msql_set_counter,                  \
	.get_attr = msql_get_attr, .put_attr = msql_put_attr, .del_attr = msql_del_attr,     \
	.get_entry = msql_get_entry, .put_entry = msql_put_entry,                            \
	.del_entry = msql_del_entry, .scan_entries = msql_scan_entries,                      \
	.count_entries = msql_count_entries, .incr_parent = msql_incr_parent,                \
	.list_parents = msql_list_parents, .del_parents = msql_del_parents,                  \
	.get_symlink = msql_get_symlink, .put_symlink = msql_put_symlink,                    \
	.del_symlink = msql_del_symlink, .get_xattr = msql_get_xattr,                        \
	.put_xattr = msql_put_xattr, .del_xattr = msql_del_xattr,                            \
	.scan_xattrs = msql_scan_xattrs, .del_xattrs = msql_del_xattrs,                      \
	.get_acl = msql_get_acl, .put_acl = msql_put_acl, .scan_acls = msql_scan_acls,       \
	.get_chunk = msql_get_chunk, .append_chunk = msql_append_chunk,                      \
	.set_chunk = msql_set_chunk, .scan_chunks = msql_scan_chunks,                        \
	.scan_all_chunks = msql_scan_all_chunks, .new_slice = msql_new_slice,                \
	.incr_ref = msql_incr_ref, .del_ref = msql_del_ref,                                  \
	.scan_dead_refs = msql_scan_dead_refs, .put_delslices = msql_put_delslices,          \
	.del_delslices = msql_del_delslices, .scan_delslices = msql_scan_delslices,          \
	.add_delfile = msql_add_delfile, .del_delfile = msql_del_delfile,                    \
	.scan_delfiles = msql_scan_delfiles, .add_sustained = msql_add_sustained,            \
	.del_sustained = msql_del_sustained, .scan_sustained = msql_scan_sustained,          \
	.put_session = msql_put_session, .touch_session = msql_touch_session,                \
	.del_session = msql_del_session, .scan_sessions = msql_scan_sessions,                \
	.incr_dirstat = msql_incr_dirstat, .get_dirstat = msql_get_dirstat,                  \
	.del_dirstat = msql_del_dirstat, .get_quota = msql_get_quota,                        \
	.put_quota = msql_put_quota, .incr_quota = msql_incr_quota,                          \
	.del_quota = msql_del_quota, .scan_quotas = msql_scan_quotas,                        \
	.scan_flocks = msql_scan_flocks, .put_flock = msql_put_flock,                        \
	.scan_plocks = msql_scan_plocks, .put_plock = msql_put_plock,                        \
	.del_session_locks = msql_del_session_locks,                                         \
	.scan_session_locks = msql_scan_session_locks

#endif
