/*
 * check_sqlite: the SQLite engine's primitives, below meta.c.
 *
 * The engine is opened with meta_sqlite_open and driven through its ops
 * table, so these tests need nothing of meta.c or conf's URL parser. They pin
 * what the conformance suite cannot see: the schema text (against the real
 * client when /opt/jfs-ref/bin/juicefs is installed, else against the DDL
 * embedded below), the raw column encodings, SQL counter and refcount
 * semantics, and locking between threads, connections and processes.
 */
#include <check.h>
#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "meta/meta-internal.h"

#define REF_CLIENT "/opt/jfs-ref/bin/juicefs"

/* `.schema` of a volume formatted by JuiceFS 1.4.2. */
static const char expected_schema[] =
	"CREATE TABLE `jfs_setting` (`name` TEXT PRIMARY KEY NOT NULL, "
		"`value` TEXT NOT NULL);\n"
	"CREATE TABLE `jfs_counter` (`name` TEXT PRIMARY KEY NOT NULL, "
		"`value` INTEGER NOT NULL);\n"
	"CREATE TABLE `jfs_edge` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`parent` INTEGER NOT NULL, `name` BLOB NOT NULL, `inode` INTEGER NOT NULL, "
		"`type` INTEGER NOT NULL);\n"
	"CREATE TABLE sqlite_sequence(name,seq);\n"
	"CREATE UNIQUE INDEX `UQE_jfs_edge_edge` ON `jfs_edge` (`parent`,`name`);\n"
	"CREATE INDEX `IDX_jfs_edge_inode` ON `jfs_edge` (`inode`);\n"
	"CREATE TABLE `jfs_node` (`inode` INTEGER PRIMARY KEY NOT NULL, "
		"`type` INTEGER NOT NULL, `flags` INTEGER NOT NULL, `mode` INTEGER NOT NULL, "
		"`uid` INTEGER NOT NULL, `gid` INTEGER NOT NULL, `atime` INTEGER NOT NULL, "
		"`mtime` INTEGER NOT NULL, `ctime` INTEGER NOT NULL, "
		"`atimensec` INTEGER DEFAULT 0 NOT NULL, `mtimensec` INTEGER DEFAULT 0 NOT NULL, "
		"`ctimensec` INTEGER DEFAULT 0 NOT NULL, `nlink` INTEGER NOT NULL, "
		"`length` INTEGER NOT NULL, `rdev` INTEGER NULL, `parent` INTEGER NULL, "
		"`access_acl_id` INTEGER NULL, `default_acl_id` INTEGER NULL, "
		"`tier_id` INTEGER NULL);\n"
	"CREATE TABLE `jfs_symlink` (`inode` INTEGER PRIMARY KEY NOT NULL, "
		"`target` BLOB NOT NULL);\n"
	"CREATE TABLE `jfs_xattr` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`inode` INTEGER NOT NULL, `name` TEXT NOT NULL, `value` BLOB NOT NULL);\n"
	"CREATE UNIQUE INDEX `UQE_jfs_xattr_name` ON `jfs_xattr` (`inode`,`name`);\n"
	"CREATE TABLE `jfs_chunk` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`inode` INTEGER NOT NULL, `indx` INTEGER NOT NULL, `slices` BLOB NOT NULL);\n"
	"CREATE UNIQUE INDEX `UQE_jfs_chunk_chunk` ON `jfs_chunk` (`inode`,`indx`);\n"
	"CREATE TABLE `jfs_chunk_ref` (`chunkid` INTEGER PRIMARY KEY NOT NULL, "
		"`size` INTEGER NOT NULL, `refs` INTEGER NOT NULL);\n"
	"CREATE INDEX `IDX_jfs_chunk_ref_refs` ON `jfs_chunk_ref` (`refs`);\n"
	"CREATE TABLE `jfs_delslices` (`chunkid` INTEGER PRIMARY KEY NOT NULL, "
		"`deleted` INTEGER NOT NULL, `slices` BLOB NOT NULL);\n"
	"CREATE TABLE `jfs_session2` (`sid` INTEGER PRIMARY KEY NOT NULL, "
		"`expire` INTEGER NOT NULL, `info` BLOB NULL);\n"
	"CREATE TABLE `jfs_sustained` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`sid` INTEGER NOT NULL, `inode` INTEGER NOT NULL);\n"
	"CREATE UNIQUE INDEX `UQE_jfs_sustained_sustained` ON `jfs_sustained` (`sid`,`inode`);\n"
	"CREATE TABLE `jfs_delfile` (`inode` INTEGER PRIMARY KEY NOT NULL, "
		"`length` INTEGER NOT NULL, `expire` INTEGER NOT NULL);\n"
	"CREATE TABLE `jfs_flock` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`inode` INTEGER NOT NULL, `sid` INTEGER NOT NULL, `owner` INTEGER NOT NULL, "
		"`ltype` INTEGER NOT NULL);\n"
	"CREATE UNIQUE INDEX `UQE_jfs_flock_flock` ON `jfs_flock` (`inode`,`sid`,`owner`);\n"
	"CREATE TABLE `jfs_plock` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`inode` INTEGER NOT NULL, `sid` INTEGER NOT NULL, `owner` INTEGER NOT NULL, "
		"`records` BLOB NOT NULL);\n"
	"CREATE UNIQUE INDEX `UQE_jfs_plock_plock` ON `jfs_plock` (`inode`,`sid`,`owner`);\n"
	"CREATE TABLE `jfs_dir_quota` (`inode` INTEGER PRIMARY KEY NOT NULL, "
		"`max_space` INTEGER NOT NULL, `max_inodes` INTEGER NOT NULL, "
		"`used_space` INTEGER NOT NULL, `used_inodes` INTEGER NOT NULL);\n"
	"CREATE TABLE `jfs_user_group_quota` (`qtype` INTEGER NOT NULL, "
		"`qkey` INTEGER NOT NULL, `max_space` INTEGER NOT NULL, "
		"`max_inodes` INTEGER NOT NULL, "
		"`used_space` INTEGER NOT NULL, `used_inodes` INTEGER NOT NULL, "
		"PRIMARY KEY ( `qtype`,`qkey` ));\n"
	"CREATE TABLE `jfs_dir_stats` (`inode` INTEGER PRIMARY KEY NOT NULL, "
		"`data_length` INTEGER NOT NULL, `used_space` INTEGER NOT NULL, "
		"`used_inodes` INTEGER NOT NULL);\n"
	"CREATE TABLE `jfs_detached_node` (`inode` INTEGER PRIMARY KEY NOT NULL, "
		"`added` INTEGER NOT NULL);\n"
	"CREATE TABLE `jfs_acl` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`owner` INTEGER NULL, `group` INTEGER NULL, `mask` INTEGER NULL, "
		"`other` INTEGER NULL, `named_users` BLOB NULL, `named_groups` BLOB NULL);\n"
	"CREATE TABLE `jfs_delegation_token` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`token` BLOB NULL);\n"
	"CREATE TABLE `jfs_change_log` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
		"`entry` TEXT NOT NULL);\n";

/* ---------------- helpers ---------------- */

static char tdir[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	UNUSED(st);
	UNUSED(flag);
	UNUSED(f);
	return remove(p);
}

static void tdir_setup(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/check-sqlite-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void tdir_teardown(void)
{
	if (tdir[0])
		nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tpath(const char *name)
{
	return xasprintf("%s/%s", tdir, name);
}

/* Open like meta_open would, with the URL struct filled by hand. */
static int topen(const char *path, int create, const char *busy_ms, struct meta **m,
		 struct buf *err)
{
	struct conf_kv kv[2];
	struct conf_meta_url u;
	size_t n = 0;

	memset(&u, 0, sizeof(u));
	u.scheme = "sqlite3";
	u.path = (char *)path;
	if (create)
		kv[n++] = (struct conf_kv){ "_jfs_create", "1" };
	if (busy_ms)
		kv[n++] = (struct conf_kv){ "_busy_timeout", (char *)busy_ms };
	u.query = kv;
	u.nquery = n;
	return meta_sqlite_open(&u, m, err);
}

static struct meta *topen_ok(const char *path, const char *busy_ms)
{
	struct buf err = BUF_INIT;
	struct meta *m = NULL;
	int ret = topen(path, 1, busy_ms, &m, &err);

	ck_assert_msg(ret == 0, "open %s: %d %s", path, ret, err.ptr);
	buf_release(&err);
	return m;
}

/* A fresh database with the schema, in the test's directory. */
static struct meta *tnew(const char *busy_ms)
{
	char *p = tpath("m.db");
	struct meta *m = topen_ok(p, busy_ms);

	free(p);
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	return m;
}

static struct meta_txn *tbegin(struct meta *m, int write)
{
	struct meta_txn *t = NULL;

	ck_assert_int_eq(m->ops->begin(m, write, &t), 0);
	ck_assert_ptr_nonnull(t);
	return t;
}

static int file_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

/* The statements of sqlite_master as `.schema` prints them. */
static char *schema_of(const char *path)
{
	struct buf b = BUF_INIT;
	sqlite3 *db;
	sqlite3_stmt *s;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE sql NOT NULL "
						"ORDER BY rowid", -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		buf_addf(&b, "%s;\n", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return buf_detach(&b, NULL);
}

/* One integer (or -1 for "no row") from a raw query on a separate connection. */
static int64_t raw_i64(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int64_t counter_row(const char *path, const char *name)
{
	char *sql = xasprintf("SELECT value FROM jfs_counter WHERE name = '%s'", name);
	int64_t v = raw_i64(path, sql);

	free(sql);
	return v;
}

static char *raw_text(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	char *v = NULL;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		v = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	sqlite3_close(db);
}

static int have_ref(void)
{
	return access(REF_CLIENT, X_OK) == 0;
}

/* Format a volume with the real client; returns the database path. */
static char *ref_format(const char *name)
{
	char *db = tpath(name), *cmd;

	cmd = xasprintf("%s format sqlite3://%s vol --bucket %s/bucket >/dev/null 2>&1", REF_CLIENT,
			db, tdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	return db;
}

/* ---------------- open ---------------- */

START_TEST(test_open_errors)
{
	struct buf err = BUF_INIT;
	struct meta *m = NULL;
	char *p;
	FILE *f;

	/* A missing directory: nothing gets created, even with create. */
	p = xasprintf("%s/nodir/m.db", tdir);
	ck_assert_int_eq(topen(p, 1, NULL, &m, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.ptr, "does not exist"));
	ck_assert(!file_exists(p));
	free(p);

	/* A missing file without create (status, config, ...). */
	buf_reset(&err);
	p = tpath("absent.db");
	ck_assert_int_eq(topen(p, 0, NULL, &m, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.ptr, "does not exist"));
	ck_assert(!file_exists(p));
	free(p);

	/* Not a database. */
	buf_reset(&err);
	p = tpath("junk.db");
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 512; i++)
		fputs("this is not a database\n", f);
	fclose(f);
	ck_assert_int_eq(topen(p, 0, NULL, &m, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.ptr, "not a SQLite database"));
	free(p);

	/* A directory. */
	buf_reset(&err);
	ck_assert_int_eq(topen(tdir, 1, NULL, &m, &err), -EINVAL);
	buf_reset(&err);
	p = xasprintf("%s/", tdir);
	ck_assert_int_eq(topen(p, 1, NULL, &m, &err), -EINVAL);
	free(p);

	/* Bad options and an empty path. */
	buf_reset(&err);
	p = tpath("m.db");
	ck_assert_int_eq(topen(p, 1, "soon", &m, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.ptr, "busy timeout"));
	ck_assert(!file_exists(p));
	buf_reset(&err);
	ck_assert_int_eq(topen("", 1, NULL, &m, &err), -EINVAL);

	/* Create, then reopen without create; a relative path works too. */
	m = topen_ok(p, "250");
	ck_assert(file_exists(p));
	ck_assert_str_eq(m->ops->name, "sqlite3");
	m->ops->close(m);
	buf_reset(&err);
	ck_assert_int_eq(topen(p, 0, NULL, &m, &err), 0);
	m->ops->close(m);
	ck_assert_int_eq(chdir(tdir), 0);
	ck_assert_int_eq(topen("m.db", 0, NULL, &m, &err), 0);
	ck_assert_int_eq(chdir("/"), 0); /* the engine keeps an absolute path */
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	m->ops->close(m);
	{
		char *mode = raw_text(p, "PRAGMA journal_mode");

		ck_assert_str_eq(mode, "wal");
		free(mode);
	}
	free(p);
	buf_release(&err);
}
END_TEST

/* ---------------- schema and setting ---------------- */

START_TEST(test_schema_matches_real)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db"), *ours, *again;

	ours = schema_of(p);
	ck_assert_str_eq(ours, expected_schema);
	/* Idempotent: a second run changes nothing. */
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	again = schema_of(p);
	ck_assert_str_eq(again, ours);
	m->ops->close(m);

	if (have_ref()) {
		char *ref = ref_format("ref.db"), *theirs = schema_of(ref), *after;
		struct meta *r = topen_ok(ref, NULL);

		ck_assert_str_eq(ours, theirs);
		/* A real volume's schema is left alone. */
		ck_assert_int_eq(r->ops->init_schema(r), 0);
		r->ops->close(r);
		after = schema_of(ref);
		ck_assert_str_eq(after, theirs);
		free(after);
		free(theirs);
		free(ref);
	}
	free(again);
	free(ours);
	free(p);
}
END_TEST

START_TEST(test_partial_schema_completed)
{
	char *p = tpath("m.db"), *s;
	struct meta *m;

	/* An older volume lacking the newest tables gets them appended. */
	raw_exec(p, "CREATE TABLE `jfs_setting` (`name` TEXT PRIMARY KEY NOT NULL, "
		    "`value` TEXT NOT NULL);"
		    "CREATE TABLE `jfs_counter` (`name` TEXT PRIMARY KEY NOT NULL, "
		    "`value` INTEGER NOT NULL)");
	m = topen_ok(p, NULL);
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	m->ops->close(m);
	s = schema_of(p);
	ck_assert_str_eq(s, expected_schema);
	free(s);
	free(p);
}
END_TEST

START_TEST(test_setting)
{
	char *p = tpath("m.db");
	struct meta *m = topen_ok(p, NULL);
	struct buf b = BUF_INIT;
	struct meta_txn *t;

	/* Empty database, then schema without a setting: not formatted. */
	ck_assert_int_eq(m->ops->get_setting(m, &b), -ENOENT);
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	ck_assert_int_eq(m->ops->get_setting(m, &b), -ENOENT);

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->set_setting(t, "{\n\"Name\": \"v1\"\n}"), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(m->ops->get_setting(m, &b), 0);
	ck_assert_str_eq(b.ptr, "{\n\"Name\": \"v1\"\n}");
	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->set_setting(t, "{\"Name\": \"v2\"}"), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(m->ops->get_setting(m, &b), 0);
	ck_assert_str_eq(b.ptr, "{\"Name\": \"v2\"}");
	ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM jfs_setting"), 1);
	ck_assert_int_eq(raw_i64(p, "SELECT typeof(value) = 'text' FROM jfs_setting"), 1);
	m->ops->close(m);
	free(p);

	/* Some other application's database. */
	p = tpath("other.db");
	raw_exec(p, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
	m = topen_ok(p, NULL);
	ck_assert_int_eq(m->ops->get_setting(m, &b), -EINVAL);
	m->ops->close(m);
	free(p);

	if (have_ref()) {
		char *ref = ref_format("ref.db");

		m = topen_ok(ref, NULL);
		ck_assert_int_eq(m->ops->get_setting(m, &b), 0);
		ck_assert_ptr_nonnull(strstr(b.ptr, "\"Name\": \"vol\""));
		m->ops->close(m);
		free(ref);
	}
	buf_release(&b);
}
END_TEST

START_TEST(test_reset)
{
	char *p = tpath("m.db"), *s;
	struct meta *m = tnew(NULL);
	struct buf b = BUF_INIT;
	struct meta_txn *t;
	uint64_t first;

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->set_setting(t, "{}"), 0);
	ck_assert_int_eq(m->ops->put_entry(t, 1, "a", 1, 2, 1), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextInode", 10, &first), 0);
	raw_exec(p, "CREATE TABLE mine (x); "
		    "CREATE TABLE `jfs_session` (`sid` INTEGER PRIMARY KEY)");

	ck_assert_int_eq(m->ops->reset(m), 0);
	s = schema_of(p);
	/* Only JuiceFS's tables go; SQLite's own bookkeeping and foreign tables stay. */
	ck_assert_str_eq(s, "CREATE TABLE sqlite_sequence(name,seq);\nCREATE TABLE mine (x);\n");
	free(s);
	ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM sqlite_sequence"), 0);
	ck_assert_int_eq(m->ops->get_setting(m, &b), -EINVAL); /* mine is left */
	raw_exec(p, "DROP TABLE mine");
	ck_assert_int_eq(m->ops->get_setting(m, &b), -ENOENT);
	/* Cached statements of this connection survive the schema going and coming. */
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	t = tbegin(m, 0);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "a", 1, NULL, NULL), -ENOENT);
	m->ops->abort(t);
	ck_assert_int_eq(m->ops->reset(m), 0);
	ck_assert_int_eq(m->ops->reset(m), 0); /* nothing left: still fine */
	m->ops->close(m);
	buf_release(&b);
	free(p);
}
END_TEST

/* ---------------- counters ---------------- */

START_TEST(test_counters)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_txn *t;
	uint64_t first;
	int64_t v;

	/* init_schema seeds the rows `juicefs format` writes, in its order. */
	{
		char *names = raw_text(p, "SELECT group_concat(name || '=' || value, ',') FROM "
					  "(SELECT name, value FROM jfs_counter ORDER BY rowid)");

		ck_assert_str_eq(names, "nextInode=2,nextChunk=1,nextSession=0,usedSpace=0,"
					"totalInodes=0,nextCleanupSlices=0");
		free(names);
	}
	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->get_counter(t, "usedSpace", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(m->ops->get_counter(t, "lastCleanupTrash", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(m->ops->incr_counter(t, "usedSpace", 4096, &v), 0);
	ck_assert_int_eq(v, 4096);
	ck_assert_int_eq(m->ops->incr_counter(t, "usedSpace", -1000, &v), 0);
	ck_assert_int_eq(v, 3096);
	ck_assert_int_eq(m->ops->incr_counter(t, "totalInodes", 1, NULL), 0);
	ck_assert_int_eq(m->ops->set_counter(t, "nextInode", 2), 0);
	ck_assert_int_eq(m->ops->set_counter(t, "nextChunk", 1), 0);
	ck_assert_int_eq(m->ops->set_counter(t, "nextSession", 0), 0);
	ck_assert_int_eq(m->ops->set_counter(t, "lastCleanupFiles", -5), 0);
	ck_assert_int_eq(m->ops->get_counter(t, "lastCleanupFiles", &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(m->ops->commit(t), 0);

	/* SQL semantics: the counter is the next free id. */
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextInode", 1024, &first), 0);
	ck_assert_uint_eq(first, 2);
	ck_assert_int_eq(counter_row(p, "nextInode"), 1026);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextInode", 1024, &first), 0);
	ck_assert_uint_eq(first, 1026);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextChunk", 4096, &first), 0);
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(counter_row(p, "nextChunk"), 4097);
	/* nextSession/nextTrash hold the last id handed out: the first is 1. */
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextSession", 1, &first), 0);
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(counter_row(p, "nextSession"), 1);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextSession", 1, &first), 0);
	ck_assert_uint_eq(first, 2);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextTrash", 1, &first), 0); /* row created */
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(counter_row(p, "nextTrash"), 1);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextTrash", 1, &first), 0);
	ck_assert_uint_eq(first, 2);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextInode", 0, &first), -EINVAL);
	/* Seeding never overwrites. */
	ck_assert_int_eq(m->ops->init_schema(m), 0);
	ck_assert_int_eq(counter_row(p, "nextInode"), 2050);
	/* A missing or zero row never yields inode 0/1 or slice id 0. */
	raw_exec(p, "DELETE FROM jfs_counter WHERE name = 'nextInode'; "
		    "UPDATE jfs_counter SET value = 0 WHERE name = 'nextChunk'");
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextInode", 100, &first), 0);
	ck_assert_uint_eq(first, 2);
	ck_assert_int_eq(counter_row(p, "nextInode"), 102);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextChunk", 100, &first), 0);
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(counter_row(p, "nextChunk"), 101);

	t = tbegin(m, 0);
	ck_assert_int_eq(m->ops->get_counter(t, "usedSpace", &v), 0);
	ck_assert_int_eq(v, 3096);
	ck_assert_int_eq(m->ops->get_counter(t, "totalInodes", &v), 0);
	ck_assert_int_eq(v, 1);
	m->ops->abort(t);
	m->ops->close(m);
	free(p);
}
END_TEST

/* ---------------- nodes ---------------- */

static void attr_eq(const struct meta_attr *a, const struct meta_attr *b)
{
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_uint_eq(a->mode, b->mode);
	ck_assert_uint_eq(a->uid, b->uid);
	ck_assert_uint_eq(a->gid, b->gid);
	ck_assert_int_eq(a->atime, b->atime);
	ck_assert_int_eq(a->mtime, b->mtime);
	ck_assert_int_eq(a->ctime, b->ctime);
	ck_assert_uint_eq(a->atimensec, b->atimensec);
	ck_assert_uint_eq(a->mtimensec, b->mtimensec);
	ck_assert_uint_eq(a->ctimensec, b->ctimensec);
	ck_assert_uint_eq(a->nlink, b->nlink);
	ck_assert_uint_eq(a->length, b->length);
	ck_assert_uint_eq(a->rdev, b->rdev);
	ck_assert_uint_eq(a->parent, b->parent);
	ck_assert_uint_eq(a->access_acl, b->access_acl);
	ck_assert_uint_eq(a->default_acl, b->default_acl);
	ck_assert_uint_eq(a->tier, b->tier);
}

START_TEST(test_attr_roundtrip)
{
	static const struct {
		int64_t sec;
		uint32_t nsec;
	} times[] = {
		{ 0, 0 }, { 1700000000, 999 }, { 1700000000, 123456789 }, { 1700000001, 999999999 },
		{ -1, 5 }, { -1700000000, 999999001 }, { 4102444800LL, 1000 },
	};
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_attr a, b;
	struct meta_txn *t;
	size_t i;

	memset(&a, 0, sizeof(a));
	a.flags = META_FLAG_APPEND | META_FLAG_SKIP_TRASH;
	a.type = META_TYPE_CHARDEV;
	a.mode = 07755;
	a.uid = 4000000000U;
	a.gid = 65534;
	a.nlink = 3;
	a.length = 1ULL << 56;
	a.rdev = 0x0801;
	a.parent = META_TRASH_INODE + 7;
	a.access_acl = 11;
	a.default_acl = 12;
	a.tier = 3;
	for (i = 0; i < ARRAY_SIZE(times); i++) {
		a.atime = times[i].sec;
		a.atimensec = times[i].nsec;
		a.mtime = times[(i + 1) % ARRAY_SIZE(times)].sec;
		a.mtimensec = times[(i + 1) % ARRAY_SIZE(times)].nsec;
		a.ctime = times[(i + 2) % ARRAY_SIZE(times)].sec;
		a.ctimensec = times[(i + 2) % ARRAY_SIZE(times)].nsec;
		t = tbegin(m, 1);
		ck_assert_int_eq(m->ops->put_attr(t, 100 + i, &a), 0);
		/* Read-your-writes inside the transaction. */
		ck_assert_int_eq(m->ops->get_attr(t, 100 + i, &b), 0);
		attr_eq(&a, &b);
		ck_assert_int_eq(m->ops->commit(t), 0);
		t = tbegin(m, 0);
		ck_assert_int_eq(m->ops->get_attr(t, 100 + i, &b), 0);
		m->ops->abort(t);
		attr_eq(&a, &b);
	}

	/* Raw columns: microseconds + leftover nanoseconds, permission bits only. */
	ck_assert_int_eq(raw_i64(p, "SELECT atime FROM jfs_node WHERE inode = 102"),
			 1700000000LL * 1000000 + 123456);
	ck_assert_int_eq(raw_i64(p, "SELECT atimensec FROM jfs_node WHERE inode = 102"), 789);
	ck_assert_int_eq(raw_i64(p, "SELECT atime FROM jfs_node WHERE inode = 101"),
			 1700000000LL * 1000000);
	ck_assert_int_eq(raw_i64(p, "SELECT atimensec FROM jfs_node WHERE inode = 101"), 999);
	ck_assert_int_eq(raw_i64(p, "SELECT atime FROM jfs_node WHERE inode = 104"), -1000000);
	ck_assert_int_eq(raw_i64(p, "SELECT atimensec FROM jfs_node WHERE inode = 104"), 5);
	ck_assert_int_eq(raw_i64(p, "SELECT mode FROM jfs_node WHERE inode = 100"), 07755);
	ck_assert_int_eq(raw_i64(p, "SELECT type FROM jfs_node WHERE inode = 100"), 6);
	ck_assert_int_eq(raw_i64(p, "SELECT rdev FROM jfs_node WHERE inode = 100"), 0x0801);
	ck_assert_int_eq(raw_i64(p, "SELECT tier_id FROM jfs_node WHERE inode = 100"), 3);
	ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM jfs_node"), (int64_t)ARRAY_SIZE(times));

	/* NULL in the nullable columns reads as 0 (rows written by older clients). */
	raw_exec(p, "INSERT INTO jfs_node (inode, type, flags, mode, uid, gid, atime, mtime, "
		    "ctime, nlink, length) VALUES (50, 2, 0, 493, 0, 0, 1, 2, 3, 2, 4096)");
	t = tbegin(m, 0);
	ck_assert_int_eq(m->ops->get_attr(t, 50, &b), 0);
	ck_assert_uint_eq(b.parent, 0);
	ck_assert_uint_eq(b.tier, 0);
	ck_assert_uint_eq(b.mode, 0755);
	ck_assert_uint_eq(b.mtimensec, 2000);
	ck_assert_int_eq(m->ops->get_attr(t, 51, &b), -ENOENT);
	m->ops->abort(t);

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->del_attr(t, 100), 0);
	ck_assert_int_eq(m->ops->get_attr(t, 100, &b), -ENOENT);
	ck_assert_int_eq(m->ops->del_attr(t, 100), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);

	if (have_ref()) {
		char *ref = ref_format("ref.db");

		m = topen_ok(ref, NULL);
		t = tbegin(m, 0);
		ck_assert_int_eq(m->ops->get_attr(t, META_ROOT_INODE, &b), 0);
		ck_assert_uint_eq(b.type, META_TYPE_DIRECTORY);
		ck_assert_uint_eq(b.mode, 0777);
		ck_assert_uint_eq(b.nlink, 2);
		ck_assert_uint_eq(b.length, 4096);
		ck_assert_uint_eq(b.parent, 1);
		ck_assert(b.mtime > 1600000000);
		ck_assert(b.mtimensec < 1000000000);
		ck_assert_int_eq(m->ops->get_attr(t, META_TRASH_INODE, &b), 0);
		ck_assert_uint_eq(b.mode, 0555);
		m->ops->abort(t);
		m->ops->close(m);
		free(ref);
	}
	free(p);
}
END_TEST

/* ---------------- entries ---------------- */

struct ents {
	char names[16][16];
	size_t lens[16];
	uint64_t inos[16];
	uint8_t types[16];
	int n, stop_at;
};

static int ent_cb(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t type)
{
	struct ents *e = arg;

	ck_assert_int_lt(e->n, 16);
	ck_assert_uint_lt(namelen, 16);
	memcpy(e->names[e->n], name, namelen);
	e->lens[e->n] = namelen;
	e->inos[e->n] = ino;
	e->types[e->n] = type;
	e->n++;
	return e->n == e->stop_at ? 42 : 0;
}

static void ent_is(const struct ents *e, int i, const char *name, size_t len)
{
	ck_assert_uint_eq(e->lens[i], len);
	ck_assert_mem_eq(e->names[i], name, len);
}

START_TEST(test_entries)
{
	/* Byte order: "B" < "a" < "a\0b" < "ab" < "b" < "\xc3\xa9" < "\xff". */
	static const struct {
		const char *name;
		size_t len;
	} sorted[] = {
		{ "B", 1 }, { "a", 1 }, { "a\0b", 3 }, { "ab", 2 }, { "b", 1 }, { "\xc3\xa9", 2 },
		{ "\xff", 1 },
	};
	static const int insert_order[] = { 4, 6, 0, 3, 5, 1, 2 };
	struct meta *m = tnew(NULL);
	struct meta_txn *t;
	struct ents e;
	uint64_t ino, n;
	uint8_t type;
	size_t i;

	t = tbegin(m, 1);
	for (i = 0; i < ARRAY_SIZE(insert_order); i++) {
		int k = insert_order[i];

		ck_assert_int_eq(m->ops->put_entry(t, 1, sorted[k].name, sorted[k].len, 10 + k,
						   META_TYPE_FILE),
				 0);
	}
	/* Same names elsewhere must not leak into parent 1. */
	ck_assert_int_eq(m->ops->put_entry(t, 2, "a", 1, 99, META_TYPE_DIRECTORY), 0);
	ck_assert_int_eq(m->ops->put_entry(t, 0, "zz", 2, 98, META_TYPE_DIRECTORY), 0);

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->scan_entries(t, 1, NULL, 0, 0, ent_cb, &e), 0);
	ck_assert_int_eq(e.n, (int)ARRAY_SIZE(sorted));
	for (i = 0; i < ARRAY_SIZE(sorted); i++) {
		ent_is(&e, (int)i, sorted[i].name, sorted[i].len);
		ck_assert_uint_eq(e.inos[i], 10 + i);
		ck_assert_uint_eq(e.types[i], META_TYPE_FILE);
	}
	ck_assert_int_eq(m->ops->commit(t), 0);

	t = tbegin(m, 0);
	/* Strictly after "a", two at a time. */
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->scan_entries(t, 1, "a", 1, 2, ent_cb, &e), 0);
	ck_assert_int_eq(e.n, 2);
	ent_is(&e, 0, "a\0b", 3);
	ent_is(&e, 1, "ab", 2);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->scan_entries(t, 1, "ab", 2, 2, ent_cb, &e), 0);
	ck_assert_int_eq(e.n, 2);
	ent_is(&e, 0, "b", 1);
	ent_is(&e, 1, "\xc3\xa9", 2);
	/* A start key that is not an entry; and one past the end. */
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->scan_entries(t, 1, "aa", 2, 0, ent_cb, &e), 0);
	ck_assert_int_eq(e.n, 4);
	ent_is(&e, 0, "ab", 2);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->scan_entries(t, 1, "\xff", 1, 0, ent_cb, &e), 0);
	ck_assert_int_eq(e.n, 0);
	/* The empty key is "after nothing" too, unlike NULL it is a key. */
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->scan_entries(t, 1, "", 0, 0, ent_cb, &e), 0);
	ck_assert_int_eq(e.n, (int)ARRAY_SIZE(sorted));
	/* The callback stops the scan and its value comes back. */
	memset(&e, 0, sizeof(e));
	e.stop_at = 3;
	ck_assert_int_eq(m->ops->scan_entries(t, 1, NULL, 0, 0, ent_cb, &e), 42);
	ck_assert_int_eq(e.n, 3);
	ck_assert_int_eq(m->ops->count_entries(t, 1, &n), 0);
	ck_assert_uint_eq(n, ARRAY_SIZE(sorted));
	ck_assert_int_eq(m->ops->count_entries(t, 3, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "a\0b", 3, &ino, &type), 0);
	ck_assert_uint_eq(ino, 12);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "a\0c", 3, &ino, &type), -ENOENT);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "A", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(m->ops->get_entry(t, 2, "a", 1, &ino, &type), 0);
	ck_assert_uint_eq(ino, 99);
	ck_assert_uint_eq(type, META_TYPE_DIRECTORY);
	m->ops->abort(t);

	/* put replaces; del removes; the name column is a blob. */
	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->put_entry(t, 1, "b", 1, 77, META_TYPE_SYMLINK), 0);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "b", 1, &ino, &type), 0);
	ck_assert_uint_eq(ino, 77);
	ck_assert_uint_eq(type, META_TYPE_SYMLINK);
	ck_assert_int_eq(m->ops->del_entry(t, 1, "b", 1), 0);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "b", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(m->ops->count_entries(t, 1, &n), 0);
	ck_assert_uint_eq(n, ARRAY_SIZE(sorted) - 1);
	ck_assert_int_eq(m->ops->commit(t), 0);
	{
		char *p = tpath("m.db");

		ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM jfs_edge "
					    "WHERE typeof(name) != 'blob'"),
				 0);
		free(p);
	}
	m->ops->close(m);
}
END_TEST

static int u64_cb(void *arg, uint64_t v)
{
	struct ents *e = arg;

	e->inos[e->n++] = v;
	return 0;
}

START_TEST(test_parents)
{
	struct meta *m = tnew(NULL);
	struct meta_txn *t = tbegin(m, 1);
	struct ents e;

	ck_assert_int_eq(m->ops->put_entry(t, 5, "x", 1, 10, META_TYPE_FILE), 0);
	ck_assert_int_eq(m->ops->put_entry(t, 3, "y", 1, 10, META_TYPE_FILE), 0);
	ck_assert_int_eq(m->ops->put_entry(t, 3, "z", 1, 10, META_TYPE_FILE), 0);
	ck_assert_int_eq(m->ops->put_entry(t, 3, "w", 1, 11, META_TYPE_FILE), 0);
	ck_assert_int_eq(m->ops->incr_parent(t, 10, 3, 1), 0);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->list_parents(t, 10, u64_cb, &e), 0);
	ck_assert_int_eq(e.n, 2);
	ck_assert_uint_eq(e.inos[0], 3);
	ck_assert_uint_eq(e.inos[1], 5);
	/* Derived from the edges: deleting them is what changes the answer. */
	ck_assert_int_eq(m->ops->del_parents(t, 10), 0);
	ck_assert_int_eq(m->ops->del_entry(t, 3, "y", 1), 0);
	ck_assert_int_eq(m->ops->del_entry(t, 3, "z", 1), 0);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(m->ops->list_parents(t, 10, u64_cb, &e), 0);
	ck_assert_int_eq(e.n, 1);
	ck_assert_uint_eq(e.inos[0], 5);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);
}
END_TEST

/* ---------------- symlinks and xattrs ---------------- */

static int name_cb(void *arg, const char *name, size_t len)
{
	struct buf *b = arg;

	buf_add(b, name, len);
	buf_addch(b, '|');
	return 0;
}

START_TEST(test_symlink_xattr)
{
	struct meta *m = tnew(NULL);
	struct meta_txn *t = tbegin(m, 1);
	struct buf b = BUF_INIT;

	ck_assert_int_eq(m->ops->get_symlink(t, 7, &b), -ENOENT);
	ck_assert_int_eq(m->ops->put_symlink(t, 7, "../target", 9), 0);
	buf_adds(&b, "stale");
	ck_assert_int_eq(m->ops->get_symlink(t, 7, &b), 0);
	ck_assert_str_eq(b.ptr, "../target");
	ck_assert_int_eq(m->ops->put_symlink(t, 7, "/x", 2), 0);
	ck_assert_int_eq(m->ops->get_symlink(t, 7, &b), 0);
	ck_assert_str_eq(b.ptr, "/x");
	ck_assert_int_eq(m->ops->del_symlink(t, 7), 0);
	ck_assert_int_eq(m->ops->get_symlink(t, 7, &b), -ENOENT);

	ck_assert_int_eq(m->ops->get_xattr(t, 7, "user.a", &b), -ENOENT);
	ck_assert_int_eq(m->ops->put_xattr(t, 7, "user.z", "\0\1\2", 3), 0);
	ck_assert_int_eq(m->ops->put_xattr(t, 7, "user.a", "", 0), 0);
	ck_assert_int_eq(m->ops->put_xattr(t, 7, "user.m", "v1", 2), 0);
	ck_assert_int_eq(m->ops->put_xattr(t, 7, "user.m", "v2", 2), 0);
	ck_assert_int_eq(m->ops->put_xattr(t, 8, "user.other", "o", 1), 0);
	ck_assert_int_eq(m->ops->get_xattr(t, 7, "user.z", &b), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_mem_eq(b.ptr, "\0\1\2", 3);
	ck_assert_int_eq(m->ops->get_xattr(t, 7, "user.a", &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(m->ops->get_xattr(t, 7, "user.m", &b), 0);
	ck_assert_str_eq(b.ptr, "v2");
	buf_reset(&b);
	ck_assert_int_eq(m->ops->scan_xattrs(t, 7, name_cb, &b), 0);
	ck_assert_str_eq(b.ptr, "user.a|user.m|user.z|");
	ck_assert_int_eq(m->ops->del_xattr(t, 7, "user.m"), 0);
	ck_assert_int_eq(m->ops->del_xattr(t, 7, "user.m"), -ENOENT);
	ck_assert_int_eq(m->ops->del_xattrs(t, 7), 0);
	buf_reset(&b);
	ck_assert_int_eq(m->ops->scan_xattrs(t, 7, name_cb, &b), 0);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(m->ops->scan_xattrs(t, 8, name_cb, &b), 0);
	ck_assert_str_eq(b.ptr, "user.other|");
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);
	buf_release(&b);
}
END_TEST

/* ---------------- chunks ---------------- */

struct chunks {
	uint64_t ino[8];
	uint32_t indx[8];
	size_t len[8];
	int n;
};

static int chunk_cb(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs, size_t len)
{
	struct chunks *c = arg;

	UNUSED(recs);
	c->ino[c->n] = ino;
	c->indx[c->n] = indx;
	c->len[c->n] = len;
	c->n++;
	return 0;
}

static void rec(uint8_t out[META_SLICE_BYTES], uint32_t pos, uint64_t id, uint32_t len)
{
	put_be32(out, pos);
	put_be64(out + 4, id);
	put_be32(out + 12, len);
	put_be32(out + 16, 0);
	put_be32(out + 20, len);
}

START_TEST(test_chunks)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	uint8_t r[3][META_SLICE_BYTES], all[3 * META_SLICE_BYTES];
	struct buf b = BUF_INIT;
	struct meta_txn *t;
	struct chunks c;
	size_t count = 99;

	/* Records full of zero bytes: the blob must not be cut at a NUL. */
	rec(r[0], 0, 1, 4096);
	rec(r[1], 0, 0, 1 << 20);
	rec(r[2], 65536, 0x100000002ULL, 100);
	memcpy(all, r, sizeof(all));

	t = tbegin(m, 1);
	buf_adds(&b, "stale");
	ck_assert_int_eq(m->ops->get_chunk(t, 9, 0, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(m->ops->append_chunk(t, 9, 0, r[i], META_SLICE_BYTES, &count), 0);
		ck_assert_uint_eq(count, (size_t)i + 1);
	}
	ck_assert_int_eq(m->ops->append_chunk(t, 9, 5, r[0], META_SLICE_BYTES, NULL), 0);
	ck_assert_int_eq(m->ops->append_chunk(t, 9, 2, all, sizeof(all), &count), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_int_eq(m->ops->append_chunk(t, 8, 0, r[1], META_SLICE_BYTES, NULL), 0);
	ck_assert_int_eq(m->ops->get_chunk(t, 9, 0, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(all));
	ck_assert_mem_eq(b.ptr, all, sizeof(all));
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM jfs_chunk "
				    "WHERE typeof(slices) != 'blob'"),
			 0);
	ck_assert_int_eq(raw_i64(p, "SELECT length(slices) FROM jfs_chunk "
				    "WHERE inode = 9 AND indx = 0"),
			 72);

	t = tbegin(m, 1);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(m->ops->scan_chunks(t, 9, chunk_cb, &c), 0);
	ck_assert_int_eq(c.n, 3);
	ck_assert_uint_eq(c.indx[0], 0);
	ck_assert_uint_eq(c.indx[1], 2);
	ck_assert_uint_eq(c.indx[2], 5);
	ck_assert_uint_eq(c.len[0], 72);
	ck_assert_uint_eq(c.len[2], 24);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(m->ops->scan_all_chunks(t, chunk_cb, &c), 0);
	ck_assert_int_eq(c.n, 4);
	ck_assert_uint_eq(c.ino[0], 8);
	ck_assert_uint_eq(c.ino[3], 9);

	/* set replaces the list (compaction); length 0 deletes the row. */
	ck_assert_int_eq(m->ops->set_chunk(t, 9, 0, r[2], META_SLICE_BYTES), 0);
	ck_assert_int_eq(m->ops->get_chunk(t, 9, 0, &b), 0);
	ck_assert_uint_eq(b.len, META_SLICE_BYTES);
	ck_assert_mem_eq(b.ptr, r[2], META_SLICE_BYTES);
	ck_assert_int_eq(m->ops->set_chunk(t, 9, 7, r[0], META_SLICE_BYTES), 0);
	ck_assert_int_eq(m->ops->set_chunk(t, 9, 2, NULL, 0), 0);
	ck_assert_int_eq(m->ops->get_chunk(t, 9, 2, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM jfs_chunk WHERE inode = 9"), 3);
	m->ops->close(m);
	buf_release(&b);
	free(p);
}
END_TEST

/* ---------------- refcounts and delayed slices ---------------- */

struct refs {
	struct meta_slice_ref r[8];
	int n;
};

static int ref_cb(void *arg, const struct meta_slice_ref *r)
{
	struct refs *x = arg;

	x->r[x->n++] = *r;
	return 0;
}

START_TEST(test_refcounts)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_txn *t = tbegin(m, 1);
	struct refs x;
	int64_t refs;

	ck_assert_int_eq(m->ops->new_slice(t, 5, 4096), 0);
	ck_assert_int_eq(m->ops->new_slice(t, 6, 100), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	/* SQL keeps the true count: a new slice has a row with refs = 1. */
	ck_assert_int_eq(raw_i64(p, "SELECT refs FROM jfs_chunk_ref WHERE chunkid = 5"), 1);
	ck_assert_int_eq(raw_i64(p, "SELECT size FROM jfs_chunk_ref WHERE chunkid = 5"), 4096);

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->new_slice(t, 5, 4096), -EEXIST);
	m->ops->abort(t);

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->incr_ref(t, 5, 4096, 1, &refs), 0);
	ck_assert_int_eq(refs, 2);
	ck_assert_int_eq(m->ops->incr_ref(t, 5, 4096, -1, &refs), 0);
	ck_assert_int_eq(refs, 1);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(m->ops->scan_dead_refs(t, ref_cb, &x), 0);
	ck_assert_int_eq(x.n, 0);
	ck_assert_int_eq(m->ops->incr_ref(t, 5, 4096, -1, &refs), 0);
	ck_assert_int_eq(refs, 0);
	/* A slice without a row counts as referenced once. */
	ck_assert_int_eq(m->ops->incr_ref(t, 9, 300, -1, &refs), 0);
	ck_assert_int_eq(refs, 0);
	ck_assert_int_eq(m->ops->incr_ref(t, 6, 100, -2, NULL), 0);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(m->ops->scan_dead_refs(t, ref_cb, &x), 0);
	ck_assert_int_eq(x.n, 3);
	ck_assert_uint_eq(x.r[0].id, 5);
	ck_assert_uint_eq(x.r[0].size, 4096);
	ck_assert_int_eq(x.r[0].refs, 0);
	ck_assert_uint_eq(x.r[1].id, 6);
	ck_assert_int_eq(x.r[1].refs, -1);
	ck_assert_uint_eq(x.r[2].id, 9);
	ck_assert_uint_eq(x.r[2].size, 300);
	ck_assert_int_eq(m->ops->del_ref(t, 5, 4096), 0);
	ck_assert_int_eq(m->ops->del_ref(t, 6, 100), 0);
	ck_assert_int_eq(m->ops->del_ref(t, 9, 300), 0);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(m->ops->scan_dead_refs(t, ref_cb, &x), 0);
	ck_assert_int_eq(x.n, 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(raw_i64(p, "SELECT count(*) FROM jfs_chunk_ref"), 0);
	m->ops->close(m);
	free(p);
}
END_TEST

struct dels {
	uint64_t id[4];
	int64_t when[4];
	size_t len[4];
	int n;
};

static int delslices_cb(void *arg, uint64_t newid, int64_t when, const uint8_t *recs, size_t len)
{
	struct dels *d = arg;

	ck_assert_uint_eq(get_be64(recs), newid * 10);
	d->id[d->n] = newid;
	d->when[d->n] = when;
	d->len[d->n] = len;
	d->n++;
	return 0;
}

static int delfile_cb(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct dels *d = arg;

	d->id[d->n] = ino;
	d->len[d->n] = length;
	d->when[d->n] = when;
	d->n++;
	return 0;
}

START_TEST(test_delslices_delfiles)
{
	struct meta *m = tnew(NULL);
	struct meta_txn *t = tbegin(m, 1);
	uint8_t recs[24] = { 0 };
	struct dels d;

	put_be64(recs, 70);
	put_be32(recs + 8, 4096);
	put_be64(recs + 12, 71);
	put_be32(recs + 20, 5);
	ck_assert_int_eq(m->ops->put_delslices(t, 7, 1700000000, recs, 24), 0);
	put_be64(recs, 30);
	ck_assert_int_eq(m->ops->put_delslices(t, 3, 1700000001, recs, 12), 0);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(m->ops->scan_delslices(t, delslices_cb, &d), 0);
	ck_assert_int_eq(d.n, 2);
	ck_assert_uint_eq(d.id[0], 3);
	ck_assert_int_eq(d.when[0], 1700000001);
	ck_assert_uint_eq(d.len[0], 12);
	ck_assert_uint_eq(d.id[1], 7);
	ck_assert_uint_eq(d.len[1], 24);
	ck_assert_int_eq(m->ops->del_delslices(t, 7, 1700000000), 0);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(m->ops->scan_delslices(t, delslices_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);

	ck_assert_int_eq(m->ops->add_delfile(t, 20, 1 << 20, 1700000100), 0);
	ck_assert_int_eq(m->ops->add_delfile(t, 10, 0, 1700000200), 0);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(m->ops->scan_delfiles(t, delfile_cb, &d), 0);
	ck_assert_int_eq(d.n, 2);
	ck_assert_uint_eq(d.id[0], 10);
	ck_assert_uint_eq(d.id[1], 20);
	ck_assert_uint_eq(d.len[1], 1 << 20);
	ck_assert_int_eq(d.when[1], 1700000100);
	ck_assert_int_eq(m->ops->del_delfile(t, 10), 0);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(m->ops->scan_delfiles(t, delfile_cb, &d), 0);
	ck_assert_int_eq(d.n, 1);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);
}
END_TEST

/* ---------------- sessions and sustained inodes ---------------- */

struct sess {
	uint64_t sid[4], ino[4];
	int64_t expire[4];
	char info[4][64];
	int n;
};

static int sess_cb(void *arg, uint64_t sid, int64_t expire, const char *info)
{
	struct sess *s = arg;

	s->sid[s->n] = sid;
	s->expire[s->n] = expire;
	snprintf(s->info[s->n], sizeof(s->info[0]), "%s", info);
	s->n++;
	return 0;
}

static int sustained_cb(void *arg, uint64_t sid, uint64_t ino)
{
	struct sess *s = arg;

	s->sid[s->n] = sid;
	s->ino[s->n] = ino;
	s->n++;
	return 0;
}

START_TEST(test_sessions)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_txn *t = tbegin(m, 1);
	struct sess s;

	ck_assert_int_eq(m->ops->put_session(t, 2, 1700000060, "{\"ProcessID\":2}"), 0);
	ck_assert_int_eq(m->ops->put_session(t, 1, 1700000050, "{\"ProcessID\":1}"), 0);
	ck_assert_int_eq(m->ops->touch_session(t, 1, 1700000099), 0);
	ck_assert_int_eq(m->ops->touch_session(t, 3, 1700000099), -ENOENT);
	ck_assert_int_eq(m->ops->commit(t), 0);
	ck_assert_int_eq(raw_i64(p, "SELECT typeof(info) = 'blob' FROM jfs_session2 "
				    "WHERE sid = 1"),
			 1);
	/* A legacy record without info. */
	raw_exec(p, "INSERT INTO jfs_session2 (sid, expire, info) VALUES (9, 5, NULL)");

	t = tbegin(m, 1);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(m->ops->scan_sessions(t, sess_cb, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_uint_eq(s.sid[0], 1);
	ck_assert_int_eq(s.expire[0], 1700000099);
	ck_assert_str_eq(s.info[0], "{\"ProcessID\":1}");
	ck_assert_uint_eq(s.sid[1], 2);
	ck_assert_str_eq(s.info[2], "");
	ck_assert_int_eq(m->ops->del_session(t, 9), 0);
	ck_assert_int_eq(m->ops->del_session(t, 9), 0);

	ck_assert_int_eq(m->ops->add_sustained(t, 1, 100), 0);
	ck_assert_int_eq(m->ops->add_sustained(t, 1, 100), 0); /* once */
	ck_assert_int_eq(m->ops->add_sustained(t, 1, 50), 0);
	ck_assert_int_eq(m->ops->add_sustained(t, 2, 60), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(m->ops->scan_sustained(t, 1, sustained_cb, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_uint_eq(s.ino[0], 50);
	ck_assert_uint_eq(s.ino[1], 100);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(m->ops->scan_sustained(t, 0, sustained_cb, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_uint_eq(s.sid[2], 2);
	ck_assert_uint_eq(s.ino[2], 60);
	ck_assert_int_eq(m->ops->del_sustained(t, 1, 100), 0);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(m->ops->scan_sustained(t, 1, sustained_cb, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);
	free(p);
}
END_TEST

/* ---------------- dir stats and locks ---------------- */

struct locks {
	uint64_t sid[4], owner[4];
	char ltype[4];
	size_t len[4];
	int n;
};

static int flock_cb(void *arg, uint64_t sid, uint64_t owner, char ltype)
{
	struct locks *l = arg;

	l->sid[l->n] = sid;
	l->owner[l->n] = owner;
	l->ltype[l->n] = ltype;
	l->n++;
	return 0;
}

static int plock_cb(void *arg, uint64_t sid, uint64_t owner, const uint8_t *recs, size_t len)
{
	struct locks *l = arg;

	ck_assert_uint_eq(get_be64(recs + 8), 0);
	l->sid[l->n] = sid;
	l->owner[l->n] = owner;
	l->len[l->n] = len;
	l->n++;
	return 0;
}

START_TEST(test_dirstats_locks)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_txn *t = tbegin(m, 1);
	struct meta_dirstat d = { 100, 4096, 1 }, g;
	uint8_t recs[48] = { 0 };
	struct locks l;

	ck_assert_int_eq(m->ops->get_dirstat(t, 1, &g), -ENOENT);
	ck_assert_int_eq(m->ops->incr_dirstat(t, 1, &d), 0);
	ck_assert_int_eq(m->ops->incr_dirstat(t, 1, &d), 0);
	d = (struct meta_dirstat){ -300, -4096, -1 };
	ck_assert_int_eq(m->ops->incr_dirstat(t, 1, &d), 0);
	ck_assert_int_eq(m->ops->get_dirstat(t, 1, &g), 0);
	ck_assert_int_eq(g.length, -100);
	ck_assert_int_eq(g.space, 4096);
	ck_assert_int_eq(g.inodes, 1);
	d = (struct meta_dirstat){ 0, 0, 0 };
	ck_assert_int_eq(m->ops->incr_dirstat(t, 2, &d), 0); /* the mkdir row */
	ck_assert_int_eq(m->ops->get_dirstat(t, 2, &g), 0);
	ck_assert_int_eq(g.space, 0);
	ck_assert_int_eq(m->ops->del_dirstat(t, 1), 0);
	ck_assert_int_eq(m->ops->get_dirstat(t, 1, &g), -ENOENT);

	ck_assert_int_eq(m->ops->put_flock(t, 5, 1, UINT64_MAX, 'R'), 0);
	ck_assert_int_eq(m->ops->put_flock(t, 5, 2, 7, 'W'), 0);
	ck_assert_int_eq(m->ops->put_flock(t, 5, 2, 7, 'R'), 0);
	ck_assert_int_eq(m->ops->put_flock(t, 6, 2, 8, 'W'), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(m->ops->scan_flocks(t, 5, flock_cb, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_uint_eq(l.sid[0], 1);
	ck_assert_uint_eq(l.owner[0], UINT64_MAX);
	ck_assert_int_eq(l.ltype[0], 'R');
	ck_assert_int_eq(l.ltype[1], 'R');
	ck_assert_int_eq(m->ops->put_flock(t, 5, 1, UINT64_MAX, 0), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(m->ops->scan_flocks(t, 5, flock_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);

	ck_assert_int_eq(m->ops->put_plock(t, 5, 1, 3, recs, 24), 0);
	ck_assert_int_eq(m->ops->put_plock(t, 5, 1, 3, recs, 48), 0);
	ck_assert_int_eq(m->ops->put_plock(t, 5, 2, 4, recs, 24), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(m->ops->scan_plocks(t, 5, plock_cb, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_uint_eq(l.len[0], 48);
	ck_assert_int_eq(m->ops->put_plock(t, 5, 2, 4, NULL, 0), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(m->ops->scan_plocks(t, 5, plock_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(m->ops->commit(t), 0);
	/* ltype is the byte's value, owners the uint64's bits as int64. */
	ck_assert_int_eq(raw_i64(p, "SELECT ltype FROM jfs_flock WHERE inode = 6"), 'W');
	ck_assert_int_eq(raw_i64(p, "SELECT owner FROM jfs_flock WHERE inode = 6"), 8);

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->del_session_locks(t, 2), 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(m->ops->scan_flocks(t, 5, flock_cb, &l), 0);
	ck_assert_int_eq(m->ops->scan_flocks(t, 6, flock_cb, &l), 0);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(m->ops->scan_plocks(t, 5, plock_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_uint_eq(l.sid[0], 1);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);
	free(p);
}
END_TEST

/* ---------------- transactions ---------------- */

/* A scan's callback runs other primitives, including the scan itself. */
struct nested {
	struct meta *m;
	struct meta_txn *t;
	int outer, inner;
};

static int nested_inner(void *arg, const char *name, size_t len, uint64_t ino, uint8_t type)
{
	struct nested *n = arg;

	UNUSED(name);
	UNUSED(len);
	UNUSED(ino);
	UNUSED(type);
	n->inner++;
	return 0;
}

static int nested_outer(void *arg, const char *name, size_t len, uint64_t ino, uint8_t type)
{
	struct nested *n = arg;
	struct meta_attr a;

	UNUSED(type);
	n->outer++;
	ck_assert_int_eq(n->m->ops->get_attr(n->t, ino, &a), 0);
	ck_assert_uint_eq(a.nlink, ino);
	ck_assert_int_eq(n->m->ops->scan_entries(n->t, 1, name, len, 0, nested_inner, n), 0);
	return 0;
}

START_TEST(test_txn_visibility)
{
	struct meta *m = tnew(NULL);
	struct meta_attr a, b;
	struct meta_txn *t;
	struct nested n;
	int64_t v;

	memset(&a, 0, sizeof(a));
	a.type = META_TYPE_FILE;
	a.nlink = 1;
	a.mode = 0644;

	/* Abort discards every write. */
	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->put_attr(t, 2, &a), 0);
	ck_assert_int_eq(m->ops->put_entry(t, 1, "f", 1, 2, 1), 0);
	ck_assert_int_eq(m->ops->incr_counter(t, "totalInodes", 1, &v), 0);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "f", 1, NULL, NULL), 0);
	m->ops->abort(t);
	t = tbegin(m, 0);
	ck_assert_int_eq(m->ops->get_attr(t, 2, &b), -ENOENT);
	ck_assert_int_eq(m->ops->get_entry(t, 1, "f", 1, NULL, NULL), -ENOENT);
	ck_assert_int_eq(m->ops->get_counter(t, "totalInodes", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->abort(NULL);

	/* Nested use of statements inside a scan callback. */
	t = tbegin(m, 1);
	for (uint32_t i = 1; i <= 3; i++) {
		char name[2] = { (char)('a' + i), 0 };

		a.nlink = i;
		ck_assert_int_eq(m->ops->put_attr(t, i, &a), 0);
		ck_assert_int_eq(m->ops->put_entry(t, 1, name, 1, i, 1), 0);
	}
	memset(&n, 0, sizeof(n));
	n.m = m;
	n.t = t;
	ck_assert_int_eq(m->ops->scan_entries(t, 1, NULL, 0, 0, nested_outer, &n), 0);
	ck_assert_int_eq(n.outer, 3);
	ck_assert_int_eq(n.inner, 2 + 1 + 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);
}
END_TEST

START_TEST(test_nested_begin_is_a_bug)
{
	struct meta *m = tnew(NULL);
	struct meta_txn *t = tbegin(m, 0), *t2;

	UNUSED(t);
	m->ops->begin(m, 1, &t2); /* aborts */
}
END_TEST

/* Another thread: try a write transaction, and read what is committed. */
struct other {
	struct meta *m;
	int begin_ret;
	int read_ret;
	int64_t waited_ms;
};

static void *other_thread(void *arg)
{
	struct other *o = arg;
	struct meta_txn *t = NULL;
	struct meta_attr a;
	int64_t t0 = mono_ms();

	o->begin_ret = o->m->ops->begin(o->m, 1, &t);
	o->waited_ms = mono_ms() - t0;
	if (!o->begin_ret)
		o->m->ops->abort(t);
	/* Readers are never blocked by the writer and see the last commit. */
	if (o->m->ops->begin(o->m, 0, &t) == 0) {
		o->read_ret = o->m->ops->get_attr(t, 2, &a);
		o->m->ops->abort(t);
	}
	return NULL;
}

/*
 * The engine's passive checkpoints, counted: this definition interposes on
 * SQLite's for the engine linked into this binary and forwards to it.
 */
static atomic_int n_checkpoints;

int sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *name, int mode, int *log, int *ckpt)
{
	static int (*real)(sqlite3 *, const char *, int, int *, int *);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_wal_checkpoint_v2");
	atomic_fetch_add(&n_checkpoints, 1);
	return real(db, name, mode, log, ckpt);
}

/*
 * A reader's snapshot keeps a passive checkpoint from copying the frames
 * after it, so the WAL is not reset and stays past the checkpoint threshold
 * while writers go on. SQLite's rule (checkpoint whenever the WAL is that
 * long) then checkpointed after every commit, two fdatasyncs each; one per
 * threshold's worth of new frames is enough.
 */
START_TEST(test_checkpoint_per_new_frames)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_attr a;
	sqlite3 *rd;
	sqlite3_stmt *st;
	int n;

	memset(&a, 0, sizeof(a));
	a.type = META_TYPE_FILE;
	ck_assert_int_eq(sqlite3_open_v2(p, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(rd, "SELECT count(*) FROM jfs_node", -1, &st, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW); /* the snapshot is taken */
	atomic_store(&n_checkpoints, 0);
	for (uint64_t i = 0; i < 3000; i++) {
		struct meta_txn *t = tbegin(m, 1);

		a.length = i;
		ck_assert_int_eq(m->ops->put_attr(t, 2 + i % 64, &a), 0);
		ck_assert_int_eq(m->ops->commit(t), 0);
	}
	n = atomic_load(&n_checkpoints);
	/* each commit appends a frame or two: a few thousand frames in all */
	ck_assert_msg(n >= 1 && n <= 10, "%d checkpoints for 3000 commits", n);
	sqlite3_finalize(st);
	sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(rd);
	m->ops->close(m);
	free(p);
}
END_TEST

START_TEST(test_two_writers)
{
	struct meta *m = tnew("200"), *m2;
	char *p = tpath("m.db");
	struct meta_attr a;
	struct meta_txn *t;
	struct other o;
	pthread_t th;

	memset(&a, 0, sizeof(a));
	a.type = META_TYPE_FILE;
	m2 = topen_ok(p, "200"); /* a second handle, as another process would have */

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->put_attr(t, 2, &a), 0);
	/* Same handle, other thread (other connection); then the other handle. */
	for (int k = 0; k < 2; k++) {
		memset(&o, 0, sizeof(o));
		o.m = k ? m2 : m;
		ck_assert_int_eq(pthread_create(&th, NULL, other_thread, &o), 0);
		pthread_join(th, NULL);
		ck_assert_int_eq(o.begin_ret, -EAGAIN);
		ck_assert_int_ge(o.waited_ms, 150); /* the busy timeout was honoured */
		ck_assert_int_eq(o.read_ret, -ENOENT);
	}
	ck_assert_int_eq(m->ops->commit(t), 0);

	memset(&o, 0, sizeof(o));
	o.m = m2;
	ck_assert_int_eq(pthread_create(&th, NULL, other_thread, &o), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(o.begin_ret, 0);
	ck_assert_int_eq(o.read_ret, 0);
	m2->ops->close(m2);
	m->ops->close(m);
	free(p);
}
END_TEST

/* Retry a read-modify-write of a counter until it commits. */
static void bump(struct meta *m, const char *counter)
{
	for (int tries = 0;; tries++) {
		struct meta_txn *t;
		int64_t v;
		int ret;

		ck_assert_int_lt(tries, 1000);
		ret = m->ops->begin(m, 1, &t);
		if (ret == -EAGAIN)
			continue;
		ck_assert_int_eq(ret, 0);
		ck_assert_int_eq(m->ops->get_counter(t, counter, &v), 0);
		ck_assert_int_eq(m->ops->set_counter(t, counter, v + 1), 0);
		ret = m->ops->commit(t);
		if (ret == -EAGAIN)
			continue;
		ck_assert_int_eq(ret, 0);
		return;
	}
}

#define NTHREADS 4
#define NROUNDS 150
#define NALLOC 40

struct worker {
	struct meta *m;
	uint64_t firsts[NALLOC];
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < NROUNDS; i++)
		bump(w->m, "hits");
	for (int i = 0; i < NALLOC; i++) {
		int ret;

		do
			ret = w->m->ops->alloc_ids(w->m, "nextChunk", 10, &w->firsts[i]);
		while (ret == -EAGAIN);
		ck_assert_int_eq(ret, 0);
	}
	return NULL; /* the thread's connection is closed by the key destructor */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_concurrent_threads_and_processes)
{
	struct meta *m = tnew(NULL), *m2;
	char *p = tpath("m.db");
	struct worker w[NTHREADS];
	uint64_t all[NTHREADS * NALLOC];
	pthread_t th[NTHREADS];
	pid_t kids[2];
	int64_t v;
	struct meta_txn *t;

	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->set_counter(t, "nextChunk", 1), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);

	/* Two processes with their own handles hammer the same rows. */
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		ck_assert_int_ge(kids[k], 0);
		if (!kids[k]) {
			struct buf err = BUF_INIT;
			struct meta *pm = NULL;

			if (topen(p, 0, NULL, &pm, &err))
				_exit(2);
			for (int i = 0; i < NROUNDS; i++)
				bump(pm, "hits");
			pm->ops->close(pm);
			_exit(0);
		}
	}
	/* Threads share a handle (one connection each); half use a second handle. */
	m2 = topen_ok(p, NULL);
	for (int k = 0; k < NTHREADS; k++) {
		w[k].m = k % 2 ? m : m2;
		ck_assert_int_eq(pthread_create(&th[k], NULL, worker_thread, &w[k]), 0);
	}
	for (int k = 0; k < NTHREADS; k++)
		pthread_join(th[k], NULL);
	for (int k = 0; k < 2; k++) {
		int st;

		ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	t = tbegin(m, 0);
	ck_assert_int_eq(m->ops->get_counter(t, "hits", &v), 0);
	ck_assert_int_eq(v, (NTHREADS + 2) * NROUNDS);
	ck_assert_int_eq(m->ops->get_counter(t, "nextChunk", &v), 0);
	ck_assert_int_eq(v, 1 + NTHREADS * NALLOC * 10);
	m->ops->abort(t);
	/* The reserved ranges tile [1, 1 + 10n) without overlap. */
	for (int k = 0; k < NTHREADS; k++)
		memcpy(all + k * NALLOC, w[k].firsts, sizeof(w[k].firsts));
	qsort(all, ARRAY_SIZE(all), sizeof(all[0]), cmp_u64);
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		ck_assert_uint_eq(all[i], 1 + 10 * i);
	{
		char *ok = raw_text(p, "PRAGMA integrity_check");

		ck_assert_str_eq(ok, "ok");
		free(ok);
	}
	m2->ops->close(m2);
	m->ops->close(m);
	free(p);
}
END_TEST

static void *short_thread(void *arg)
{
	struct meta *m = arg;
	struct meta_txn *t;
	int64_t v;

	ck_assert_int_eq(m->ops->begin(m, 0, &t), 0);
	ck_assert_int_eq(m->ops->get_counter(t, "x", &v), 0);
	m->ops->abort(t);
	return NULL;
}

START_TEST(test_many_short_threads)
{
	struct meta *m = tnew(NULL);
	pthread_t th;

	/* Each thread's connection is closed when it exits (ASan sees leaks). */
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(pthread_create(&th, NULL, short_thread, m), 0);
		pthread_join(th, NULL);
	}
	/* And one still alive at close: close takes its connection. */
	m->ops->close(m);
}
END_TEST

START_TEST(test_fork_child_gets_own_connection)
{
	struct meta *m = tnew(NULL);
	char *p = tpath("m.db");
	struct meta_txn *t;
	int64_t v;
	pid_t kid;
	int st;

	bump(m, "hits"); /* this thread now has a connection */
	t = tbegin(m, 0); /* and a read transaction open across the fork */
	ck_assert_int_eq(m->ops->get_counter(t, "hits", &v), 0);
	kid = fork();
	ck_assert_int_ge(kid, 0);
	if (!kid) {
		/* The inherited connection (mid-transaction) must not be used. */
		for (int i = 0; i < 20; i++)
			bump(m, "hits");
		m->ops->close(m);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(kid, &st, 0), kid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The parent's snapshot predates the child's writes. */
	ck_assert_int_eq(m->ops->get_counter(t, "hits", &v), 0);
	ck_assert_int_eq(v, 1);
	m->ops->abort(t);
	bump(m, "hits");
	t = tbegin(m, 0);
	ck_assert_int_eq(m->ops->get_counter(t, "hits", &v), 0);
	ck_assert_int_eq(v, 22);
	m->ops->abort(t);
	m->ops->close(m);
	{
		char *ok = raw_text(p, "PRAGMA integrity_check");

		ck_assert_str_eq(ok, "ok");
		free(ok);
	}
	free(p);
}
END_TEST

/* ---------------- interoperability ---------------- */

START_TEST(test_real_client_reads_ours)
{
	struct meta *m;
	struct meta_attr a;
	struct meta_txn *t;
	uint8_t r[META_SLICE_BYTES];
	char *ref, *cmd, *dump, *json;
	struct buf b = BUF_INIT;
	uint64_t ino;
	FILE *f;
	char line[4096];

	if (!have_ref())
		return;
	ref = ref_format("ref.db");
	m = topen_ok(ref, NULL);
	ck_assert_int_eq(m->ops->alloc_ids(m, "nextInode", 1024, &ino), 0);
	ck_assert_uint_eq(ino, 2);
	memset(&a, 0, sizeof(a));
	a.type = META_TYPE_FILE;
	a.mode = 0640;
	a.uid = 1000;
	a.gid = 1001;
	a.atime = a.mtime = a.ctime = 1700000000;
	a.atimensec = 123456789;
	a.mtimensec = 999;
	a.ctimensec = 1000;
	a.nlink = 1;
	a.length = 5000;
	a.parent = META_ROOT_INODE;
	t = tbegin(m, 1);
	ck_assert_int_eq(m->ops->put_attr(t, ino, &a), 0);
	ck_assert_int_eq(m->ops->put_entry(t, META_ROOT_INODE, "hello.txt", 9, ino, a.type), 0);
	ck_assert_int_eq(m->ops->new_slice(t, 77, 3000), 0);
	rec(r, 0, 77, 3000);
	ck_assert_int_eq(m->ops->append_chunk(t, ino, 0, r, sizeof(r), NULL), 0);
	rec(r, 3000, 0, 2000);
	ck_assert_int_eq(m->ops->append_chunk(t, ino, 0, r, sizeof(r), NULL), 0);
	ck_assert_int_eq(m->ops->put_xattr(t, ino, "user.k", "val", 3), 0);
	ck_assert_int_eq(m->ops->incr_counter(t, "usedSpace", 8192, NULL), 0);
	ck_assert_int_eq(m->ops->incr_counter(t, "totalInodes", 1, NULL), 0);
	ck_assert_int_eq(m->ops->commit(t), 0);
	m->ops->close(m);

	dump = tpath("dump.json");
	cmd = xasprintf("%s dump sqlite3://%s %s >/dev/null 2>&1", REF_CLIENT, ref, dump);
	ck_assert_int_eq(system(cmd), 0);
	f = fopen(dump, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		buf_adds(&b, line);
	fclose(f);
	json = b.ptr;
	ck_assert_ptr_nonnull(strstr(json, "\"hello.txt\""));
	ck_assert_ptr_nonnull(strstr(json, "\"atime\":1700000000,"));
	ck_assert_ptr_nonnull(strstr(json, "\"atimensec\":123456789,"));
	ck_assert_ptr_nonnull(strstr(json, "\"mtimensec\":999,"));
	ck_assert_ptr_nonnull(strstr(json, "\"ctimensec\":1000,"));
	ck_assert_ptr_nonnull(strstr(json, "\"mode\":416,"));
	ck_assert_ptr_nonnull(strstr(json, "\"length\":5000"));
	ck_assert_ptr_nonnull(strstr(json, "\"id\":77"));
	ck_assert_ptr_nonnull(strstr(json, "\"size\":3000"));
	ck_assert_ptr_nonnull(strstr(json, "\"pos\":3000"));
	ck_assert_ptr_nonnull(strstr(json, "\"user.k\""));
	ck_assert_ptr_nonnull(strstr(json, "\"nextInodes\": 1026"));
	free(cmd);
	free(dump);
	free(ref);
	buf_release(&b);
}
END_TEST

static Suite *sqlite_suite(void)
{
	Suite *s = suite_create("sqlite");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, tdir_setup, tdir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_schema_matches_real);
	tcase_add_test(tc, test_partial_schema_completed);
	tcase_add_test(tc, test_setting);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_attr_roundtrip);
	tcase_add_test(tc, test_entries);
	tcase_add_test(tc, test_parents);
	tcase_add_test(tc, test_symlink_xattr);
	tcase_add_test(tc, test_chunks);
	tcase_add_test(tc, test_refcounts);
	tcase_add_test(tc, test_delslices_delfiles);
	tcase_add_test(tc, test_sessions);
	tcase_add_test(tc, test_dirstats_locks);
	tcase_add_test(tc, test_txn_visibility);
	tcase_add_test_raise_signal(tc, test_nested_begin_is_a_bug, SIGABRT);
	tcase_add_test(tc, test_checkpoint_per_new_frames);
	tcase_add_test(tc, test_two_writers);
	tcase_add_test(tc, test_concurrent_threads_and_processes);
	tcase_add_test(tc, test_many_short_threads);
	tcase_add_test(tc, test_fork_child_gets_own_connection);
	tcase_add_test(tc, test_real_client_reads_ours);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sqlite_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
