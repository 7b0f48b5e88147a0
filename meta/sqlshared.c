/*
 * sqlshared: JuiceFS's SQL schema and the record primitives written once for
 * every SQL engine (see sqlshared.h for the split and the driver contract).
 */
#include <limits.h>
#include <time.h>

#include "meta/sqlshared.h"

#define MSQL_NAME_S(id, sql) #id,
#define MSQL_NAME_D(id, lite, pg, my) #id,
static const char *const msql_names[] = { MSQL_STATEMENTS(MSQL_NAME_S, MSQL_NAME_D) };
#define MSQL_LITE_S(id, sql) sql,
#define MSQL_LITE_D(id, lite, pg, my) lite,
#define MSQL_PG_S(id, sql) sql,
#define MSQL_PG_D(id, lite, pg, my) pg,
#define MSQL_MY_S(id, sql) sql,
#define MSQL_MY_D(id, lite, pg, my) my,
static const char *const msql_text[MSQL_NDIALECT][MSQL_NSTMT] = {
	[MSQL_SQLITE] = { MSQL_STATEMENTS(MSQL_LITE_S, MSQL_LITE_D) },
	[MSQL_PG] = { MSQL_STATEMENTS(MSQL_PG_S, MSQL_PG_D) },
	[MSQL_MY] = { MSQL_STATEMENTS(MSQL_MY_S, MSQL_MY_D) },
};

const char *msql_stmt_name(enum msql_stmt_id id)
{
	return msql_names[id];
}

const char *msql_stmt_sql(enum msql_dialect d, enum msql_stmt_id id)
{
	return msql_text[d][id];
}

/*
 * SQLite: sqlite_sequence is created by SQLite itself with the first
 * AUTOINCREMENT table (jfs_edge), which puts it at the same place as in a
 * real volume. PostgreSQL: xorm's types (int64 bigint, int32/uint8 integer,
 * []byte bytea, string varchar(255)), serial ids with their sequences, and
 * primary keys under PostgreSQL's default constraint names. MySQL: xorm's
 * MySQL types (int64 BIGINT, int32/uint8 INT, []byte BLOB unless the field
 * names varbinary, string VARCHAR(255)), AUTO_INCREMENT ids, and no engine
 * or charset clause: the tables take the database's defaults, as the real
 * client's do (SHOW CREATE TABLE of both compare equal, t/integ/t1601).
 */
#define T(name, lite, pg, my) { name, 1, { lite, pg, my } },
#define I(name, lite, pg, my) { name, 0, { lite, pg, my } },
const struct msql_ddl msql_schema[] = {
	T("jfs_setting",
	  "CREATE TABLE `jfs_setting` (`name` TEXT PRIMARY KEY NOT NULL, `value` TEXT NOT NULL)",
	  "CREATE TABLE jfs_setting (name VARCHAR(255) NOT NULL, value TEXT NOT NULL, "
	  "PRIMARY KEY (name))",
	  "CREATE TABLE `jfs_setting` (`name` VARCHAR(255) NOT NULL, `value` TEXT NOT "
	  "NULL, PRIMARY KEY (`name`))")
	T("jfs_counter",
	  "CREATE TABLE `jfs_counter` (`name` TEXT PRIMARY KEY NOT NULL, "
	  "`value` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_counter (name VARCHAR(255) NOT NULL, value BIGINT NOT NULL, "
	  "PRIMARY KEY (name))",
	  "CREATE TABLE `jfs_counter` (`name` VARCHAR(255) NOT NULL, `value` BIGINT NOT "
	  "NULL, PRIMARY KEY (`name`))")
	T("jfs_edge",
	  "CREATE TABLE `jfs_edge` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`parent` INTEGER NOT NULL, `name` BLOB NOT NULL, `inode` INTEGER NOT NULL, "
	  "`type` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_edge (id BIGSERIAL NOT NULL, parent BIGINT NOT NULL, "
	  "name BYTEA NOT NULL, inode BIGINT NOT NULL, type INTEGER NOT NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_edge` (`id` BIGINT NOT NULL AUTO_INCREMENT, `parent` BIGINT "
	  "NOT NULL, `name` VARBINARY(255) NOT NULL, `inode` BIGINT NOT NULL, `type` INT "
	  "NOT NULL, PRIMARY KEY (`id`))")
	I("UQE_jfs_edge_edge",
	  "CREATE UNIQUE INDEX `UQE_jfs_edge_edge` ON `jfs_edge` (`parent`,`name`)",
	  "CREATE UNIQUE INDEX \"UQE_jfs_edge_edge\" ON jfs_edge (parent, name)",
	  "CREATE UNIQUE INDEX `UQE_jfs_edge_edge` ON `jfs_edge` (`parent`,`name`)")
	I("IDX_jfs_edge_inode", "CREATE INDEX `IDX_jfs_edge_inode` ON `jfs_edge` (`inode`)",
	  "CREATE INDEX \"IDX_jfs_edge_inode\" ON jfs_edge (inode)",
	  "CREATE INDEX `IDX_jfs_edge_inode` ON `jfs_edge` (`inode`)")
	T("jfs_node",
	  "CREATE TABLE `jfs_node` (`inode` INTEGER PRIMARY KEY NOT NULL, `type` INTEGER NOT NULL, "
	  "`flags` INTEGER NOT NULL, `mode` INTEGER NOT NULL, `uid` INTEGER NOT NULL, "
	  "`gid` INTEGER NOT NULL, `atime` INTEGER NOT NULL, `mtime` INTEGER NOT NULL, "
	  "`ctime` INTEGER NOT NULL, `atimensec` INTEGER DEFAULT 0 NOT NULL, "
	  "`mtimensec` INTEGER DEFAULT 0 NOT NULL, `ctimensec` INTEGER DEFAULT 0 NOT NULL, "
	  "`nlink` INTEGER NOT NULL, `length` INTEGER NOT NULL, `rdev` INTEGER NULL, "
	  "`parent` INTEGER NULL, `access_acl_id` INTEGER NULL, `default_acl_id` INTEGER NULL, "
	  "`tier_id` INTEGER NULL)",
	  "CREATE TABLE jfs_node (inode BIGINT NOT NULL, type INTEGER NOT NULL, "
	  "flags INTEGER NOT NULL, mode INTEGER NOT NULL, uid INTEGER NOT NULL, "
	  "gid INTEGER NOT NULL, atime BIGINT NOT NULL, mtime BIGINT NOT NULL, "
	  "ctime BIGINT NOT NULL, atimensec INTEGER DEFAULT 0 NOT NULL, "
	  "mtimensec INTEGER DEFAULT 0 NOT NULL, ctimensec INTEGER DEFAULT 0 NOT NULL, "
	  "nlink INTEGER NOT NULL, length BIGINT NOT NULL, rdev INTEGER NULL, "
	  "parent BIGINT NULL, access_acl_id INTEGER NULL, default_acl_id INTEGER NULL, "
	  "tier_id INTEGER NULL, PRIMARY KEY (inode))",
	  "CREATE TABLE `jfs_node` (`inode` BIGINT NOT NULL, `type` INT NOT NULL, `flags` "
	  "INT NOT NULL, `mode` INT NOT NULL, `uid` INT NOT NULL, `gid` INT NOT NULL, "
	  "`atime` BIGINT NOT NULL, `mtime` BIGINT NOT NULL, `ctime` BIGINT NOT NULL, "
	  "`atimensec` INT DEFAULT 0 NOT NULL, `mtimensec` INT DEFAULT 0 NOT NULL, "
	  "`ctimensec` INT DEFAULT 0 NOT NULL, `nlink` INT NOT NULL, `length` BIGINT NOT "
	  "NULL, `rdev` INT NULL, `parent` BIGINT NULL, `access_acl_id` INT NULL, "
	  "`default_acl_id` INT NULL, `tier_id` INT NULL, PRIMARY KEY (`inode`))")
	T("jfs_symlink",
	  "CREATE TABLE `jfs_symlink` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`target` BLOB NOT NULL)",
	  "CREATE TABLE jfs_symlink (inode BIGINT NOT NULL, target BYTEA NOT NULL, "
	  "PRIMARY KEY (inode))",
	  "CREATE TABLE `jfs_symlink` (`inode` BIGINT NOT NULL, `target` VARBINARY(4096) "
	  "NOT NULL, PRIMARY KEY (`inode`))")
	T("jfs_xattr",
	  "CREATE TABLE `jfs_xattr` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `name` TEXT NOT NULL, `value` BLOB NOT NULL)",
	  "CREATE TABLE jfs_xattr (id BIGSERIAL NOT NULL, inode BIGINT NOT NULL, "
	  "name VARCHAR(255) NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_xattr` (`id` BIGINT NOT NULL AUTO_INCREMENT, `inode` BIGINT "
	  "NOT NULL, `name` VARCHAR(255) NOT NULL, `value` BLOB NOT NULL, PRIMARY KEY "
	  "(`id`))")
	I("UQE_jfs_xattr_name",
	  "CREATE UNIQUE INDEX `UQE_jfs_xattr_name` ON `jfs_xattr` (`inode`,`name`)",
	  "CREATE UNIQUE INDEX \"UQE_jfs_xattr_name\" ON jfs_xattr (inode, name)",
	  "CREATE UNIQUE INDEX `UQE_jfs_xattr_name` ON `jfs_xattr` (`inode`,`name`)")
	T("jfs_chunk",
	  "CREATE TABLE `jfs_chunk` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `indx` INTEGER NOT NULL, `slices` BLOB NOT NULL)",
	  "CREATE TABLE jfs_chunk (id BIGSERIAL NOT NULL, inode BIGINT NOT NULL, "
	  "indx INTEGER NOT NULL, slices BYTEA NOT NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_chunk` (`id` BIGINT NOT NULL AUTO_INCREMENT, `inode` BIGINT "
	  "NOT NULL, `indx` INT NOT NULL, `slices` BLOB NOT NULL, PRIMARY KEY (`id`))")
	I("UQE_jfs_chunk_chunk",
	  "CREATE UNIQUE INDEX `UQE_jfs_chunk_chunk` ON `jfs_chunk` (`inode`,`indx`)",
	  "CREATE UNIQUE INDEX \"UQE_jfs_chunk_chunk\" ON jfs_chunk (inode, indx)",
	  "CREATE UNIQUE INDEX `UQE_jfs_chunk_chunk` ON `jfs_chunk` (`inode`,`indx`)")
	T("jfs_chunk_ref",
	  "CREATE TABLE `jfs_chunk_ref` (`chunkid` INTEGER PRIMARY KEY NOT NULL, "
	  "`size` INTEGER NOT NULL, `refs` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_chunk_ref (chunkid BIGINT NOT NULL, size INTEGER NOT NULL, "
	  "refs INTEGER NOT NULL, PRIMARY KEY (chunkid))",
	  "CREATE TABLE `jfs_chunk_ref` (`chunkid` BIGINT NOT NULL, `size` INT NOT NULL, "
	  "`refs` INT NOT NULL, PRIMARY KEY (`chunkid`))")
	I("IDX_jfs_chunk_ref_refs",
	  "CREATE INDEX `IDX_jfs_chunk_ref_refs` ON `jfs_chunk_ref` (`refs`)",
	  "CREATE INDEX \"IDX_jfs_chunk_ref_refs\" ON jfs_chunk_ref (refs)",
	  "CREATE INDEX `IDX_jfs_chunk_ref_refs` ON `jfs_chunk_ref` (`refs`)")
	T("jfs_delslices",
	  "CREATE TABLE `jfs_delslices` (`chunkid` INTEGER PRIMARY KEY NOT NULL, "
	  "`deleted` INTEGER NOT NULL, `slices` BLOB NOT NULL)",
	  "CREATE TABLE jfs_delslices (chunkid BIGINT NOT NULL, deleted BIGINT NOT NULL, "
	  "slices BYTEA NOT NULL, PRIMARY KEY (chunkid))",
	  "CREATE TABLE `jfs_delslices` (`chunkid` BIGINT NOT NULL, `deleted` BIGINT NOT "
	  "NULL, `slices` BLOB NOT NULL, PRIMARY KEY (`chunkid`))")
	T("jfs_session2",
	  "CREATE TABLE `jfs_session2` (`sid` INTEGER PRIMARY KEY NOT NULL, "
	  "`expire` INTEGER NOT NULL, `info` BLOB NULL)",
	  "CREATE TABLE jfs_session2 (sid BIGINT NOT NULL, expire BIGINT NOT NULL, "
	  "info BYTEA NULL, PRIMARY KEY (sid))",
	  "CREATE TABLE `jfs_session2` (`sid` BIGINT NOT NULL, `expire` BIGINT NOT NULL, "
	  "`info` BLOB NULL, PRIMARY KEY (`sid`))")
	T("jfs_sustained",
	  "CREATE TABLE `jfs_sustained` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`sid` INTEGER NOT NULL, `inode` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_sustained (id BIGSERIAL NOT NULL, sid BIGINT NOT NULL, "
	  "inode BIGINT NOT NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_sustained` (`id` BIGINT NOT NULL AUTO_INCREMENT, `sid` "
	  "BIGINT NOT NULL, `inode` BIGINT NOT NULL, PRIMARY KEY (`id`))")
	I("UQE_jfs_sustained_sustained",
	  "CREATE UNIQUE INDEX `UQE_jfs_sustained_sustained` ON `jfs_sustained` (`sid`,`inode`)",
	  "CREATE UNIQUE INDEX \"UQE_jfs_sustained_sustained\" ON jfs_sustained (sid, inode)",
	  "CREATE UNIQUE INDEX `UQE_jfs_sustained_sustained` ON `jfs_sustained` "
	  "(`sid`,`inode`)")
	T("jfs_delfile",
	  "CREATE TABLE `jfs_delfile` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`length` INTEGER NOT NULL, `expire` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_delfile (inode BIGINT NOT NULL, length BIGINT NOT NULL, "
	  "expire BIGINT NOT NULL, PRIMARY KEY (inode))",
	  "CREATE TABLE `jfs_delfile` (`inode` BIGINT NOT NULL, `length` BIGINT NOT NULL, "
	  "`expire` BIGINT NOT NULL, PRIMARY KEY (`inode`))")
	T("jfs_flock",
	  "CREATE TABLE `jfs_flock` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `sid` INTEGER NOT NULL, `owner` INTEGER NOT NULL, "
	  "`ltype` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_flock (id BIGSERIAL NOT NULL, inode BIGINT NOT NULL, "
	  "sid BIGINT NOT NULL, owner BIGINT NOT NULL, ltype INTEGER NOT NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_flock` (`id` BIGINT NOT NULL AUTO_INCREMENT, `inode` BIGINT "
	  "NOT NULL, `sid` BIGINT NOT NULL, `owner` BIGINT NOT NULL, `ltype` INT NOT "
	  "NULL, PRIMARY KEY (`id`))")
	I("UQE_jfs_flock_flock",
	  "CREATE UNIQUE INDEX `UQE_jfs_flock_flock` ON `jfs_flock` (`inode`,`sid`,`owner`)",
	  "CREATE UNIQUE INDEX \"UQE_jfs_flock_flock\" ON jfs_flock (inode, sid, owner)",
	  "CREATE UNIQUE INDEX `UQE_jfs_flock_flock` ON `jfs_flock` "
	  "(`inode`,`sid`,`owner`)")
	T("jfs_plock",
	  "CREATE TABLE `jfs_plock` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`inode` INTEGER NOT NULL, `sid` INTEGER NOT NULL, `owner` INTEGER NOT NULL, "
	  "`records` BLOB NOT NULL)",
	  "CREATE TABLE jfs_plock (id BIGSERIAL NOT NULL, inode BIGINT NOT NULL, "
	  "sid BIGINT NOT NULL, owner BIGINT NOT NULL, records BYTEA NOT NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_plock` (`id` BIGINT NOT NULL AUTO_INCREMENT, `inode` BIGINT "
	  "NOT NULL, `sid` BIGINT NOT NULL, `owner` BIGINT NOT NULL, `records` BLOB NOT "
	  "NULL, PRIMARY KEY (`id`))")
	I("UQE_jfs_plock_plock",
	  "CREATE UNIQUE INDEX `UQE_jfs_plock_plock` ON `jfs_plock` (`inode`,`sid`,`owner`)",
	  "CREATE UNIQUE INDEX \"UQE_jfs_plock_plock\" ON jfs_plock (inode, sid, owner)",
	  "CREATE UNIQUE INDEX `UQE_jfs_plock_plock` ON `jfs_plock` "
	  "(`inode`,`sid`,`owner`)")
	T("jfs_dir_quota",
	  "CREATE TABLE `jfs_dir_quota` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`max_space` INTEGER NOT NULL, `max_inodes` INTEGER NOT NULL, "
	  "`used_space` INTEGER NOT NULL, `used_inodes` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_dir_quota (inode BIGINT NOT NULL, max_space BIGINT NOT NULL, "
	  "max_inodes BIGINT NOT NULL, used_space BIGINT NOT NULL, used_inodes BIGINT NOT NULL, "
	  "PRIMARY KEY (inode))",
	  "CREATE TABLE `jfs_dir_quota` (`inode` BIGINT NOT NULL, `max_space` BIGINT NOT "
	  "NULL, `max_inodes` BIGINT NOT NULL, `used_space` BIGINT NOT NULL, "
	  "`used_inodes` BIGINT NOT NULL, PRIMARY KEY (`inode`))")
	T("jfs_user_group_quota",
	  "CREATE TABLE `jfs_user_group_quota` (`qtype` INTEGER NOT NULL, `qkey` INTEGER NOT NULL, "
	  "`max_space` INTEGER NOT NULL, `max_inodes` INTEGER NOT NULL, "
	  "`used_space` INTEGER NOT NULL, `used_inodes` INTEGER NOT NULL, "
	  "PRIMARY KEY ( `qtype`,`qkey` ))",
	  "CREATE TABLE jfs_user_group_quota (qtype INTEGER NOT NULL, qkey BIGINT NOT NULL, "
	  "max_space BIGINT NOT NULL, max_inodes BIGINT NOT NULL, used_space BIGINT NOT NULL, "
	  "used_inodes BIGINT NOT NULL, PRIMARY KEY (qtype, qkey))",
	  "CREATE TABLE `jfs_user_group_quota` (`qtype` INT NOT NULL, `qkey` BIGINT NOT "
	  "NULL, `max_space` BIGINT NOT NULL, `max_inodes` BIGINT NOT NULL, `used_space` "
	  "BIGINT NOT NULL, `used_inodes` BIGINT NOT NULL, PRIMARY KEY (`qtype`,`qkey`))")
	T("jfs_dir_stats",
	  "CREATE TABLE `jfs_dir_stats` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`data_length` INTEGER NOT NULL, `used_space` INTEGER NOT NULL, "
	  "`used_inodes` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_dir_stats (inode BIGINT NOT NULL, data_length BIGINT NOT NULL, "
	  "used_space BIGINT NOT NULL, used_inodes BIGINT NOT NULL, PRIMARY KEY (inode))",
	  "CREATE TABLE `jfs_dir_stats` (`inode` BIGINT NOT NULL, `data_length` BIGINT "
	  "NOT NULL, `used_space` BIGINT NOT NULL, `used_inodes` BIGINT NOT NULL, PRIMARY "
	  "KEY (`inode`))")
	T("jfs_detached_node",
	  "CREATE TABLE `jfs_detached_node` (`inode` INTEGER PRIMARY KEY NOT NULL, "
	  "`added` INTEGER NOT NULL)",
	  "CREATE TABLE jfs_detached_node (inode BIGINT NOT NULL, added BIGINT NOT NULL, "
	  "PRIMARY KEY (inode))",
	  "CREATE TABLE `jfs_detached_node` (`inode` BIGINT NOT NULL, `added` BIGINT NOT "
	  "NULL, PRIMARY KEY (`inode`))")
	T("jfs_acl",
	  "CREATE TABLE `jfs_acl` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`owner` INTEGER NULL, `group` INTEGER NULL, `mask` INTEGER NULL, `other` INTEGER NULL, "
	  "`named_users` BLOB NULL, `named_groups` BLOB NULL)",
	  "CREATE TABLE jfs_acl (id SERIAL NOT NULL, owner INTEGER NULL, \"group\" INTEGER NULL, "
	  "mask INTEGER NULL, other INTEGER NULL, named_users BYTEA NULL, "
	  "named_groups BYTEA NULL, PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_acl` (`id` INT NOT NULL AUTO_INCREMENT, `owner` INT NULL, "
	  "`group` INT NULL, `mask` INT NULL, `other` INT NULL, `named_users` BLOB NULL, "
	  "`named_groups` BLOB NULL, PRIMARY KEY (`id`))")
	T("jfs_delegation_token",
	  "CREATE TABLE `jfs_delegation_token` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`token` BLOB NULL)",
	  "CREATE TABLE jfs_delegation_token (id SERIAL NOT NULL, token BYTEA NULL, "
	  "PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_delegation_token` (`id` INT NOT NULL AUTO_INCREMENT, `token` "
	  "BLOB NULL, PRIMARY KEY (`id`))")
	T("jfs_change_log",
	  "CREATE TABLE `jfs_change_log` (`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
	  "`entry` TEXT NOT NULL)",
	  "CREATE TABLE jfs_change_log (id BIGSERIAL NOT NULL, entry TEXT NOT NULL, "
	  "PRIMARY KEY (id))",
	  "CREATE TABLE `jfs_change_log` (`id` BIGINT NOT NULL AUTO_INCREMENT, `entry` "
	  "TEXT NOT NULL, PRIMARY KEY (`id`))")
};
#undef T
#undef I
const size_t msql_nschema = ARRAY_SIZE(msql_schema);

/*
 * The counter rows `juicefs format` writes, in its order. A real client
 * treats an absent nextChunk as 0 and would hand out slice id 0 (a hole), so
 * a volume we create must have them.
 */
static const struct {
	const char *name;
	int64_t value;
} msql_initial_counters[] = {
	{ "nextInode", 2 }, { "nextChunk", 1 },	  { "nextSession", 0 },
	{ "usedSpace", 0 }, { "totalInodes", 0 }, { "nextCleanupSlices", 0 },
};

/* Tables of older releases that reset drops as well (indexes go with their tables). */
static const char *const msql_legacy_tables[] = { "jfs_session" };

/* ---------------- connection pool ---------------- */

static unsigned msql_fork_gen;
static pthread_once_t msql_fork_once = PTHREAD_ONCE_INIT;

static void msql_atfork_child(void)
{
	msql_fork_gen++;
}

static void msql_fork_init(void)
{
	pthread_atfork(NULL, NULL, msql_atfork_child);
}

void msql_pconn_init(struct msql_pconn *c)
{
	c->next = NULL;
	c->fork_gen = msql_fork_gen;
}

int msql_pconn_ours(const struct msql_pconn *c)
{
	return c->fork_gen == msql_fork_gen;
}

void msql_pool_init(struct msql_pool *p, const struct msql_pool_ops *ops, int max, int wait_ms)
{
	pthread_once(&msql_fork_once, msql_fork_init);
	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->max = max;
	p->wait_ms = wait_ms;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
}

void msql_pool_destroy(struct msql_pool *p)
{
	struct msql_pconn *c, *next;

	for (c = p->idle; c; c = next) {
		next = c->next;
		p->ops->close(c, msql_pconn_ours(c));
	}
	p->idle = NULL;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
}

/* Take a connection from the pool, opening one when none is idle. */
int msql_pool_take(struct msql_pool *p, struct msql_pconn **out)
{
	struct msql_pconn *c = NULL;
	struct timespec ts;
	int ret;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += p->wait_ms / 1000;
	ts.tv_nsec += (long)(p->wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while ((c = p->idle)) {
			p->idle = c->next;
			c->next = NULL;
			if (msql_pconn_ours(c))
				break;
			p->nopen--;
			p->ops->close(c, 0); /* a parent's: abandoned */
		}
		if (c || p->nopen < p->max)
			break;
		if (pthread_cond_timedwait(&p->cond, &p->mu, &ts)) {
			pthread_mutex_unlock(&p->mu);
			log_warn("%s: all %d connections busy for %d ms", p->label, p->max,
				 p->wait_ms);
			return META_ETRANSIENT;
		}
	}
	if (!c)
		p->nopen++;
	pthread_mutex_unlock(&p->mu);
	if (c) {
		*out = c;
		return 0;
	}
	ret = p->ops->open(p, &c);
	if (ret) {
		pthread_mutex_lock(&p->mu);
		p->nopen--;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->mu);
		return ret;
	}
	*out = c;
	return 0;
}

/* Give a connection back; one that may not serve again is closed. */
void msql_pool_put(struct msql_pool *p, struct msql_pconn *c)
{
	int keep = msql_pconn_ours(c) && p->ops->reusable(c);

	pthread_mutex_lock(&p->mu);
	if (!keep) {
		p->nopen--;
	} else {
		c->next = p->idle;
		p->idle = c;
	}
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
	if (!keep)
		p->ops->close(c, msql_pconn_ours(c));
}

void msql_pool_adopt(struct msql_pool *p, struct msql_pconn *c)
{
	pthread_mutex_lock(&p->mu);
	p->nopen++;
	pthread_mutex_unlock(&p->mu);
	msql_pool_put(p, c);
}

/* ---------------- statement helpers ---------------- */

static int msql_prep(struct meta_txn *t, enum msql_stmt_id id, struct msql_stmt **s)
{
	return t->drv->prep(t, (int)id, NULL, s);
}

/* Run a statement that returns no rows (or whose rows do not matter). */
static int msql_exec_done(struct meta_txn *t, struct msql_stmt *s)
{
	int ret;

	do
		ret = t->drv->step(s);
	while (ret == 1);
	return ret;
}

/*
 * The writes a driver may queue (sqlshared.h, queue): upserts and deletes of
 * the create, remove and rename paths, none of which can fail for the data
 * they carry (chunk and slice writes can: a chunk past its column's limit,
 * E2BIG, is the caller's to hear at once).
 */
static int msql_queueable(enum msql_stmt_id id)
{
	switch (id) {
	case MSQL_PUT_ATTR:
	case MSQL_DEL_ATTR:
	case MSQL_PUT_ENTRY:
	case MSQL_DEL_ENTRY:
	case MSQL_ADD_COUNTER:
	case MSQL_INCR_DIRSTAT:
	case MSQL_DEL_SYMLINK:
	case MSQL_DEL_XATTRS:
	case MSQL_ADD_DELFILE:
	case MSQL_INCR_QUOTA:
		return 1;
	default:
		return 0;
	}
}

/* A write whose change count nobody reads: queued where the driver can. */
static int msql_exec_write(struct meta_txn *t, enum msql_stmt_id id, struct msql_stmt *s)
{
	if (t->active && t->write && t->drv->queue && msql_queueable(id))
		return t->drv->queue(s);
	return msql_exec_done(t, s);
}

/* Statement taking integers and returning no rows; *changes may be NULL. */
static int msql_exec_ints(struct meta_txn *t, enum msql_stmt_id id, int n, const int64_t *v,
			  int64_t *changes)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	for (int i = 0; i < n; i++)
		d->bind_i64(s, i + 1, v[i]);
	ret = changes ? msql_exec_done(t, s) : msql_exec_write(t, id, s);
	if (!ret && changes)
		*changes = d->changes(s);
	d->done(s);
	return ret;
}

static int msql_exec_i64(struct meta_txn *t, enum msql_stmt_id id, int64_t v, int64_t *changes)
{
	return msql_exec_ints(t, id, 1, &v, changes);
}

/* Copy a blob column into b, replacing its content. */
static int msql_col_buf(struct meta_txn *t, struct msql_stmt *s, int col, struct buf *b)
{
	size_t n;
	const void *p = t->drv->col_blob(s, col, &n);

	buf_reset(b);
	if (!n)
		return 0;
	return buf_add(b, p, n);
}

/*
 * One row of integers keyed by integers: 0 and the columns, -ENOENT without
 * a row (or 0 with zeroes when absent_zero).
 */
static int msql_row_ints(struct meta_txn *t, enum msql_stmt_id id, int nargs, const int64_t *args,
			 int ncols, int64_t *cols, int absent_zero)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	for (int i = 0; i < nargs; i++)
		d->bind_i64(s, i + 1, args[i]);
	ret = d->step(s);
	if (ret == 1) {
		for (int i = 0; i < ncols; i++)
			cols[i] = d->col_i64(s, i);
		ret = 0;
	} else if (ret == 0) {
		if (absent_zero)
			memset(cols, 0, sizeof(*cols) * (size_t)ncols);
		else
			ret = -ENOENT;
	}
	d->done(s);
	return ret;
}

/* ---------------- outside transactions ---------------- */

static int msql_count(struct meta_txn *t, enum msql_stmt_id id, const char *arg, int64_t *n)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	if (arg)
		d->bind_text(s, 1, arg);
	ret = d->step(s);
	if (ret == 1) {
		*n = d->col_i64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		*n = 0;
	}
	d->done(s);
	return ret;
}

int msql_get_setting(struct meta *m, struct buf *json)
{
	const struct msql_driver *d;
	struct msql_stmt *s = NULL;
	struct meta_txn *t;
	int64_t n;
	int ret;

	d = msql_drv(m);
	ret = d->acquire(m, &t);
	if (ret)
		return ret;
	ret = msql_count(t, MSQL_HAS_OBJECT, "jfs_setting", &n);
	if (ret)
		goto out;
	if (!n) {
		ret = msql_count(t, MSQL_COUNT_FOREIGN, NULL, &n);
		if (ret)
			goto out;
		if (n) {
			log_error("%s: not a JuiceFS database (it has other tables but no "
				  "jfs_setting)", t->label);
			ret = -EINVAL;
		} else {
			ret = -ENOENT;
		}
		goto out;
	}
	ret = msql_prep(t, MSQL_GET_SETTING, &s);
	if (ret)
		goto out;
	ret = d->step(s);
	if (ret == 1) {
		size_t len;
		const char *v = d->col_text(s, 0, &len);

		buf_reset(json);
		ret = buf_add(json, v, len);
	} else if (ret == 0) {
		ret = -ENOENT;
	}
out:
	d->done(s);
	d->release(t);
	return ret;
}

static int msql_has_object(struct meta_txn *t, const char *name, int64_t *n)
{
	return msql_count(t, MSQL_HAS_OBJECT, name, n);
}

int msql_init_schema(struct meta *m)
{
	const struct msql_driver *d = msql_drv(m);
	struct meta_txn *t;
	size_t i;
	int64_t n;
	int ret;

	ret = d->acquire(m, &t);
	if (ret)
		return ret;
	ret = d->tx_begin(t, 1);
	if (ret)
		goto out;
	/* Existence first, then the exact DDL: IF NOT EXISTS would be stored in .schema. */
	for (i = 0; i < msql_nschema; i++) {
		ret = msql_has_object(t, msql_schema[i].name, &n);
		if (ret)
			goto fail;
		if (n)
			continue;
		ret = d->exec(t, msql_schema[i].sql[d->dialect]);
		if (ret)
			goto fail;
	}
	for (i = 0; i < ARRAY_SIZE(msql_initial_counters); i++) {
		struct msql_stmt *s;

		ret = msql_prep(t, MSQL_SEED_COUNTER, &s);
		if (ret)
			goto fail;
		d->bind_text(s, 1, msql_initial_counters[i].name);
		d->bind_i64(s, 2, msql_initial_counters[i].value);
		ret = msql_exec_done(t, s);
		d->done(s);
		if (ret)
			goto fail;
	}
	ret = d->tx_commit(t);
	goto out;
fail:
	d->tx_rollback(t);
out:
	d->release(t);
	return ret;
}

static int msql_drop_table(struct meta_txn *t, const char *name)
{
	char sql[128];
	int64_t n;
	int ret;

	ret = msql_has_object(t, name, &n);
	if (ret || !n)
		return ret;
	snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
	return t->drv->exec(t, sql);
}

/*
 * Only the tables JuiceFS knows are dropped: a database may hold other
 * things. SQLite's sqlite_sequence stays (SQLite owns it), as with the real
 * client; PostgreSQL drops a table's sequences with it.
 */
int msql_reset(struct meta *m)
{
	const struct msql_driver *d = msql_drv(m);
	struct meta_txn *t;
	size_t i;
	int ret;

	ret = d->acquire(m, &t);
	if (ret)
		return ret;
	ret = d->tx_begin(t, 1);
	if (ret)
		goto out;
	for (i = 0; i < msql_nschema && !ret; i++)
		if (msql_schema[i].table)
			ret = msql_drop_table(t, msql_schema[i].name);
	for (i = 0; i < ARRAY_SIZE(msql_legacy_tables) && !ret; i++)
		ret = msql_drop_table(t, msql_legacy_tables[i]);
	if (!ret)
		ret = d->tx_commit(t);
	else
		d->tx_rollback(t);
out:
	d->release(t);
	return ret;
}

int msql_is_empty(struct meta *m, int *empty)
{
	const struct msql_driver *d = msql_drv(m);
	struct meta_txn *t;
	char sql[128];
	int64_t n;
	int ret;

	ret = d->acquire(m, &t);
	if (ret)
		return ret;
	*empty = 1;
	for (size_t i = 0; i < msql_nschema && *empty; i++) {
		struct msql_stmt *s;

		if (!msql_schema[i].table)
			continue;
		ret = msql_has_object(t, msql_schema[i].name, &n);
		if (ret)
			break;
		if (!n)
			continue;
		snprintf(sql, sizeof(sql), "SELECT 1 FROM %s LIMIT 1", msql_schema[i].name);
		ret = d->prep(t, -1, sql, &s);
		if (ret)
			break;
		ret = d->step(s);
		d->done(s);
		if (ret < 0)
			break;
		if (ret == 1)
			*empty = 0;
		ret = 0;
	}
	d->release(t);
	return ret;
}

static int msql_counter_value(struct meta_txn *t, const char *name, int64_t *v)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, MSQL_GET_COUNTER, &s);
	if (ret)
		return ret;
	d->bind_text(s, 1, name);
	ret = d->step(s);
	if (ret == 1) {
		*v = d->col_i64(s, 0);
		ret = 0;
	} else if (ret == 0) {
		*v = 0;
	}
	d->done(s);
	return ret;
}

static int msql_counter_write(struct meta_txn *t, enum msql_stmt_id id, const char *name,
			      int64_t v)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	d->bind_text(s, 1, name);
	d->bind_i64(s, 2, v);
	ret = msql_exec_write(t, id, s);
	d->done(s);
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
static void msql_counter_rule(const char *name, int *uses_new, int64_t *lowest)
{
	*uses_new = !strcmp(name, "nextSession") || !strcmp(name, "nextTrash");
	*lowest = !strcmp(name, "nextInode") ? 2 : 1;
}

/* Conflicts on a hot counter are expected with several clients: rerun here. */
#define MSQL_ALLOC_TRIES 50

static int msql_alloc_once(struct meta_txn *t, const char *counter, uint64_t n, uint64_t *first_id)
{
	const struct msql_driver *d = t->drv;
	int64_t old = 0, lowest, first;
	int uses_new, ret;

	msql_counter_rule(counter, &uses_new, &lowest);
	ret = d->tx_begin(t, 1);
	if (ret)
		return ret;
	ret = msql_counter_value(t, counter, &old);
	if (ret)
		goto fail;
	first = old < INT64_MAX && uses_new ? old + 1 : old;
	if (first < lowest)
		first = lowest;
	if (first > INT64_MAX - (int64_t)n) {
		log_error("%s: counter %s is %lld, cannot reserve %llu more", t->label, counter,
			  (long long)old, (unsigned long long)n);
		ret = -EOVERFLOW;
		goto fail;
	}
	/* The stored value after: next free id, or the last one handed out. */
	ret = msql_counter_write(t, MSQL_SET_COUNTER, counter,
				 first + (int64_t)n - (uses_new ? 1 : 0));
	if (ret)
		goto fail;
	ret = d->tx_commit(t);
	if (!ret)
		*first_id = (uint64_t)first;
	return ret;
fail:
	d->tx_rollback(t);
	return ret;
}

int msql_alloc_ids(struct meta *m, const char *counter, uint64_t n, uint64_t *first_id)
{
	const struct msql_driver *d = msql_drv(m);
	struct meta_txn *t;
	int ret;

	if (!n || n > INT64_MAX)
		return -EINVAL;
	ret = d->acquire(m, &t);
	if (ret)
		return ret;
	for (int i = 0; i < MSQL_ALLOC_TRIES; i++) {
		ret = msql_alloc_once(t, counter, n, first_id);
		if (ret != -EAGAIN)
			break;
		sleep_ms(1 + i % 10);
	}
	d->release(t);
	return ret;
}

/* ---------------- settings and counters ---------------- */

int msql_set_setting(struct meta_txn *t, const char *json)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, MSQL_PUT_SETTING, &s);
	if (ret)
		return ret;
	d->bind_text(s, 1, json);
	ret = msql_exec_done(t, s);
	d->done(s);
	return ret;
}

int msql_get_counter(struct meta_txn *t, const char *name, int64_t *v)
{
	return msql_counter_value(t, name, v);
}

int msql_incr_counter(struct meta_txn *t, const char *name, int64_t delta, int64_t *newv)
{
	int ret = msql_counter_write(t, MSQL_ADD_COUNTER, name, delta);

	if (!ret && newv)
		ret = msql_counter_value(t, name, newv);
	return ret;
}

int msql_set_counter(struct meta_txn *t, const char *name, int64_t v)
{
	return msql_counter_write(t, MSQL_SET_COUNTER, name, v);
}

/* ---------------- nodes ---------------- */

/* Seconds whose microsecond count still fits an int64. */
#define MSQL_MAX_SEC (INT64_MAX / 1000000 - 1)

/* jfs_node times: microseconds since the epoch plus the leftover nanoseconds (0-999). */
static void msql_time_enc(int64_t sec, uint32_t nsec, int64_t *us, int64_t *ns)
{
	if (sec > MSQL_MAX_SEC)
		sec = MSQL_MAX_SEC;
	if (sec < -MSQL_MAX_SEC)
		sec = -MSQL_MAX_SEC;
	if (nsec > 999999999)
		nsec = 999999999;
	*us = sec * 1000000 + nsec / 1000;
	*ns = nsec % 1000;
}

static void msql_time_dec(int64_t us, int64_t ns, int64_t *sec, uint32_t *nsec)
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

/* A jfs_node row (MSQL_NODE_COLS order) into an attribute. */
static void msql_attr_dec(const int64_t *c, struct meta_attr *a)
{
	struct meta_attr r;

	memset(&r, 0, sizeof(r));
	r.type = (uint8_t)c[0];
	r.flags = (uint8_t)c[1];
	r.mode = (uint16_t)(c[2] & 07777);
	r.uid = (uint32_t)c[3];
	r.gid = (uint32_t)c[4];
	msql_time_dec(c[5], c[8], &r.atime, &r.atimensec);
	msql_time_dec(c[6], c[9], &r.mtime, &r.mtimensec);
	msql_time_dec(c[7], c[10], &r.ctime, &r.ctimensec);
	r.nlink = (uint32_t)c[11];
	r.length = (uint64_t)c[12];
	/* The nullable columns read as 0 when NULL. */
	r.rdev = (uint32_t)c[13];
	r.parent = (uint64_t)c[14];
	r.access_acl = (uint32_t)c[15];
	r.default_acl = (uint32_t)c[16];
	r.tier = (uint8_t)c[17];
	*a = r;
}

int msql_get_attr(struct meta_txn *t, uint64_t ino, struct meta_attr *a)
{
	int64_t key = (int64_t)ino, c[18];
	int ret;

	ret = msql_row_ints(t, MSQL_GET_ATTR, 1, &key, 18, c, 0);
	if (!ret)
		msql_attr_dec(c, a);
	return ret;
}

/* The inodes travel as one array literal ("{1,2,3}"); rows come in any order. */
int msql_get_attrs(struct meta_txn *t, const uint64_t *inos, size_t n, struct meta_attr *a,
		   uint8_t *found)
{
	const struct msql_driver *d = t->drv;
	struct buf list = BUF_INIT;
	struct msql_stmt *s;
	int64_t c[18];
	int ret;

	memset(found, 0, n);
	if (!n)
		return 0;
	if (d->dialect == MSQL_MY) {
		/* No array parameters: the numbers, which we format, go in the text. */
		buf_adds(&list, "SELECT inode, " MSQL_NODE_COLS " FROM jfs_node WHERE inode IN (");
		for (size_t i = 0; i < n; i++)
			buf_addf(&list, "%s%llu", i ? "," : "", (unsigned long long)inos[i]);
		buf_adds(&list, ")");
		ret = d->prep(t, -1, list.ptr, &s);
		if (ret)
			goto out;
	} else {
		buf_adds(&list, "{");
		for (size_t i = 0; i < n; i++)
			buf_addf(&list, "%s%llu", i ? "," : "", (unsigned long long)inos[i]);
		buf_adds(&list, "}");
		ret = msql_prep(t, MSQL_GET_ATTRS, &s);
		if (ret)
			goto out;
		d->bind_text(s, 1, list.ptr);
	}
	while ((ret = d->step(s)) == 1) {
		uint64_t ino = (uint64_t)d->col_i64(s, 0);

		for (int k = 0; k < 18; k++)
			c[k] = d->col_i64(s, k + 1);
		for (size_t i = 0; i < n; i++)
			if (inos[i] == ino) {
				msql_attr_dec(c, &a[i]);
				found[i] = 1;
			}
	}
	d->done(s);
out:
	buf_release(&list);
	return ret;
}

int msql_put_attr(struct meta_txn *t, uint64_t ino, const struct meta_attr *a)
{
	int64_t us[3], ns[3];

	msql_time_enc(a->atime, a->atimensec, &us[0], &ns[0]);
	msql_time_enc(a->mtime, a->mtimensec, &us[1], &ns[1]);
	msql_time_enc(a->ctime, a->ctimensec, &us[2], &ns[2]);
	int64_t v[19] = {
		(int64_t)ino, a->type,		a->flags,	  a->mode & 07777, a->uid,
		a->gid,	      us[0],		us[1],		  us[2],	   ns[0],
		ns[1],	      ns[2],		a->nlink,	  (int64_t)a->length, a->rdev,
		(int64_t)a->parent, a->access_acl, a->default_acl, a->tier,
	};
	return msql_exec_ints(t, MSQL_PUT_ATTR, 19, v, NULL);
}

/*
 * Deletes of records that may already be gone are idempotent (0); only the
 * primitives whose contract says so report -ENOENT.
 */
int msql_del_attr(struct meta_txn *t, uint64_t ino)
{
	return msql_exec_i64(t, MSQL_DEL_ATTR, (int64_t)ino, NULL);
}

/* ---------------- entries and parents ---------------- */

/* Run a statement keyed by (parent, name); *s is left to the caller unless it failed to prepare. */
static int msql_entry_step(struct meta_txn *t, enum msql_stmt_id id, uint64_t parent,
			   const char *name, size_t nlen, struct msql_stmt **s)
{
	int ret = msql_prep(t, id, s);

	if (ret)
		return ret;
	t->drv->bind_i64(*s, 1, (int64_t)parent);
	t->drv->bind_blob(*s, 2, name, nlen);
	return t->drv->step(*s);
}

int msql_get_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
		   uint64_t *ino, uint8_t *type)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s = NULL;
	int ret = msql_entry_step(t, MSQL_GET_ENTRY, parent, name, nlen, &s);

	if (ret == 1) {
		if (ino)
			*ino = (uint64_t)d->col_i64(s, 0);
		if (type)
			*type = (uint8_t)d->col_i64(s, 1);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	d->done(s);
	return ret;
}

int msql_get_dir_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
		       struct meta_dir_entry *de)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s = NULL;
	int64_t c[18];
	int ret = msql_entry_step(t, MSQL_GET_DIR_ENTRY, parent, name, nlen, &s);

	if (ret == 1) {
		for (int i = 0; i < 18; i++)
			c[i] = d->col_i64(s, i);
		msql_attr_dec(c, &de->dir);
		/* a missing row's inode reads as 0, never an inode number */
		de->ino = (uint64_t)d->col_i64(s, 18);
		de->found = de->ino != 0;
		de->type = (uint8_t)d->col_i64(s, 19);
		for (int i = 0; i < 18; i++)
			c[i] = d->col_i64(s, i + 20);
		de->have_attr = d->col_i64(s, 38) != 0;
		if (de->have_attr)
			msql_attr_dec(c, &de->attr);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	d->done(s);
	return ret;
}

int msql_put_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
		   uint64_t ino, uint8_t type)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, MSQL_PUT_ENTRY, &s);
	if (ret)
		return ret;
	d->bind_i64(s, 1, (int64_t)parent);
	d->bind_blob(s, 2, name, nlen);
	d->bind_i64(s, 3, (int64_t)ino);
	d->bind_i64(s, 4, type);
	ret = msql_exec_write(t, MSQL_PUT_ENTRY, s);
	d->done(s);
	return ret;
}

int msql_del_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, MSQL_DEL_ENTRY, &s);
	if (ret)
		return ret;
	d->bind_i64(s, 1, (int64_t)parent);
	d->bind_blob(s, 2, name, nlen);
	ret = msql_exec_write(t, MSQL_DEL_ENTRY, s);
	d->done(s);
	return ret;
}

/* Blob order (SQLite BLOB, PostgreSQL bytea) is memcmp, shorter prefix first: byte order. */
int msql_scan_entries(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
		      size_t limit, meta_entry_fn cb, void *arg)
{
	enum msql_stmt_id id = after ? MSQL_SCAN_ENTRIES_AFTER : MSQL_SCAN_ENTRIES;
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	d->bind_i64(s, 1, (int64_t)parent);
	d->bind_i64(s, 2, limit && limit <= INT64_MAX ? (int64_t)limit : INT64_MAX);
	if (after)
		d->bind_blob(s, 3, after, alen);
	while ((ret = d->step(s)) == 1) {
		size_t n;
		const char *name = d->col_blob(s, 0, &n);

		ret = cb(arg, name, n, (uint64_t)d->col_i64(s, 1), (uint8_t)d->col_i64(s, 2));
		if (ret)
			break;
	}
	d->done(s);
	return ret;
}

int msql_count_entries(struct meta_txn *t, uint64_t parent, uint64_t *n)
{
	int64_t key = (int64_t)parent, v;
	int ret = msql_row_ints(t, MSQL_COUNT_ENTRIES, 1, &key, 1, &v, 1);

	if (!ret)
		*n = (uint64_t)v;
	return ret;
}

/* SQL keeps no parent table: the edges' inode index answers it. */
int msql_incr_parent(struct meta_txn *t, uint64_t ino, uint64_t parent, int64_t delta)
{
	UNUSED(t);
	UNUSED(ino);
	UNUSED(parent);
	UNUSED(delta);
	return 0;
}

int msql_del_parents(struct meta_txn *t, uint64_t ino)
{
	UNUSED(t);
	UNUSED(ino);
	return 0;
}

/*
 * Callbacks travel through msql_scan as void *; the row functions below cast
 * them back (a function pointer cannot be converted to void * portably, so
 * they are wrapped in a one-member struct).
 */
struct msql_cb {
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

typedef int (*msql_row_fn)(const struct msql_driver *d, struct msql_stmt *s,
			   const struct msql_cb *cb, void *arg);

/* Generic scan: bind at most one integer, call fn for every row until it returns non-zero. */
static int msql_scan(struct meta_txn *t, enum msql_stmt_id id, int nargs, int64_t a1,
		     msql_row_fn fn, const struct msql_cb *cb, void *arg)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	if (nargs)
		d->bind_i64(s, 1, a1);
	while ((ret = d->step(s)) == 1) {
		ret = fn(d, s, cb, arg);
		if (ret)
			break;
	}
	d->done(s);
	return ret;
}

static int msql_row_parent(const struct msql_driver *d, struct msql_stmt *s,
			   const struct msql_cb *cb, void *arg)
{
	return cb->fn.u64(arg, (uint64_t)d->col_i64(s, 0));
}

int msql_list_parents(struct meta_txn *t, uint64_t ino, meta_u64_fn cb, void *arg)
{
	struct msql_cb f = { .fn.u64 = cb };

	return msql_scan(t, MSQL_LIST_PARENTS, 1, (int64_t)ino, msql_row_parent, &f, arg);
}

/* ---------------- symlinks ---------------- */

/* A blob column of the row keyed by ints; -ENOENT without a row. */
static int msql_get_blob(struct meta_txn *t, enum msql_stmt_id id, int nargs, const int64_t *args,
			 const char *text, struct buf *out)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	for (int i = 0; i < nargs; i++)
		d->bind_i64(s, i + 1, args[i]);
	if (text)
		d->bind_text(s, nargs + 1, text);
	ret = d->step(s);
	if (ret == 1)
		ret = msql_col_buf(t, s, 0, out);
	else if (ret == 0)
		ret = -ENOENT;
	d->done(s);
	return ret;
}

int msql_get_symlink(struct meta_txn *t, uint64_t ino, struct buf *target)
{
	int64_t key = (int64_t)ino;

	return msql_get_blob(t, MSQL_GET_SYMLINK, 1, &key, NULL, target);
}

/* A write of ints, then one blob (and no text) or one text and one blob. */
static int msql_write_blob(struct meta_txn *t, enum msql_stmt_id id, int nargs,
			   const int64_t *args, const char *text, const void *p, size_t n,
			   int64_t *changes)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret, i = 0;

	ret = msql_prep(t, id, &s);
	if (ret)
		return ret;
	for (; i < nargs; i++)
		d->bind_i64(s, i + 1, args[i]);
	if (text)
		d->bind_text(s, ++i, text);
	if (p || n)
		d->bind_blob(s, ++i, p, n);
	ret = msql_exec_done(t, s);
	if (!ret && changes)
		*changes = d->changes(s);
	d->done(s);
	return ret;
}

int msql_put_symlink(struct meta_txn *t, uint64_t ino, const char *target, size_t len)
{
	int64_t key = (int64_t)ino;

	return msql_write_blob(t, MSQL_PUT_SYMLINK, 1, &key, NULL, target ? target : "", len,
			       NULL);
}

int msql_del_symlink(struct meta_txn *t, uint64_t ino)
{
	return msql_exec_i64(t, MSQL_DEL_SYMLINK, (int64_t)ino, NULL);
}

/* ---------------- xattrs ---------------- */

int msql_get_xattr(struct meta_txn *t, uint64_t ino, const char *name, struct buf *val)
{
	int64_t key = (int64_t)ino;

	return msql_get_blob(t, MSQL_GET_XATTR, 1, &key, name, val);
}

int msql_put_xattr(struct meta_txn *t, uint64_t ino, const char *name, const void *val,
		   size_t len)
{
	int64_t key = (int64_t)ino;

	return msql_write_blob(t, MSQL_PUT_XATTR, 1, &key, name, val ? val : "", len, NULL);
}

int msql_del_xattr(struct meta_txn *t, uint64_t ino, const char *name)
{
	int64_t key = (int64_t)ino, changes = 0;
	int ret = msql_write_blob(t, MSQL_DEL_XATTR, 1, &key, name, NULL, 0, &changes);

	if (!ret && !changes)
		ret = -ENOENT;
	return ret;
}

static int msql_row_xattr(const struct msql_driver *d, struct msql_stmt *s,
			  const struct msql_cb *cb, void *arg)
{
	size_t n;
	const char *name = d->col_text(s, 0, &n);

	return cb->fn.name(arg, name, n);
}

int msql_scan_xattrs(struct meta_txn *t, uint64_t ino, meta_name_fn cb, void *arg)
{
	struct msql_cb f = { .fn.name = cb };

	return msql_scan(t, MSQL_SCAN_XATTRS, 1, (int64_t)ino, msql_row_xattr, &f, arg);
}

int msql_del_xattrs(struct meta_txn *t, uint64_t ino)
{
	return msql_exec_i64(t, MSQL_DEL_XATTRS, (int64_t)ino, NULL);
}

/* ---------------- ACL rules ---------------- */

/* The rule in columns 0..5 of the current row (owner, group, mask, other, users, groups). */
static int msql_row_acl(const struct msql_driver *d, struct msql_stmt *s, struct meta_acl *a)
{
	size_t nu, ng;
	const void *u = d->col_blob(s, 4, &nu);
	const void *g;
	struct buf ub = BUF_INIT;
	int ret;

	/* the second col_blob may reuse the first one's memory on some drivers */
	buf_add(&ub, u, nu);
	g = d->col_blob(s, 5, &ng);
	ret = meta_acl_decode_sql((uint16_t)d->col_i64(s, 0), (uint16_t)d->col_i64(s, 1),
				  (uint16_t)d->col_i64(s, 2), (uint16_t)d->col_i64(s, 3), ub.ptr,
				  ub.len, g, ng, a);
	buf_release(&ub);
	if (ret)
		log_error("jfs_acl holds a malformed rule");
	return ret ? -EIO : 0;
}

int msql_get_acl(struct meta_txn *t, uint32_t id, struct meta_acl *rule)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret = msql_prep(t, MSQL_GET_ACL, &s);

	if (ret)
		return ret;
	d->bind_i64(s, 1, id);
	ret = d->step(s);
	if (ret == 1)
		ret = msql_row_acl(d, s, rule);
	else if (ret == 0)
		ret = -ENOENT;
	d->done(s);
	return ret;
}

int msql_put_acl(struct meta_txn *t, const struct meta_acl *rule, uint32_t *id)
{
	const struct msql_driver *d = t->drv;
	struct buf u = BUF_INIT, g = BUF_INIT;
	struct msql_stmt *s;
	int ret = msql_prep(t, MSQL_PUT_ACL, &s);

	if (ret)
		return ret;
	meta_acl_encode_entries(rule->users, rule->nusers, &u);
	meta_acl_encode_entries(rule->groups, rule->ngroups, &g);
	d->bind_i64(s, 1, rule->owner);
	d->bind_i64(s, 2, rule->group);
	d->bind_i64(s, 3, rule->mask);
	d->bind_i64(s, 4, rule->other);
	d->bind_blob(s, 5, u.ptr, u.len);
	d->bind_blob(s, 6, g.ptr, g.len);
	ret = d->step(s);
	if (ret == 0 && d->last_id) {
		int64_t v = d->last_id(s);

		ret = v > 0 && v <= UINT32_MAX ? 0 : -EIO;
		*id = (uint32_t)v;
	} else if (ret == 1) {
		int64_t v = d->col_i64(s, 0);

		ret = v > 0 && v <= UINT32_MAX ? 0 : -EIO;
		*id = (uint32_t)v;
		while (!ret && (ret = d->step(s)) == 1)
			;
	} else if (ret == 0) {
		ret = -EIO; /* RETURNING gave no row */
	}
	d->done(s);
	buf_release(&u);
	buf_release(&g);
	return ret;
}

int msql_scan_acls(struct meta_txn *t, meta_acl_fn cb, void *arg)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret = msql_prep(t, MSQL_SCAN_ACLS, &s);

	if (ret)
		return ret;
	while ((ret = d->step(s)) == 1) {
		struct meta_acl a;
		uint32_t id = (uint32_t)d->col_i64(s, 6);

		ret = msql_row_acl(d, s, &a);
		if (!ret)
			ret = cb(arg, id, &a);
		meta_acl_release(&a);
		if (ret)
			break;
	}
	d->done(s);
	return ret;
}

/* ---------------- chunks ---------------- */

int msql_get_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, struct buf *recs)
{
	int64_t key[2] = { (int64_t)ino, indx };
	int ret = msql_get_blob(t, MSQL_GET_CHUNK, 2, key, NULL, recs);

	if (ret == -ENOENT) {
		buf_reset(recs);
		ret = 0;
	}
	return ret;
}

int msql_append_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
		      size_t len, size_t *count)
{
	int64_t key[2] = { (int64_t)ino, indx }, bytes;
	int ret;

	ret = msql_write_blob(t, MSQL_APPEND_CHUNK, 2, key, NULL, recs ? recs : (const void *)"",
			      len, NULL);
	if (ret || !count)
		return ret;
	ret = msql_row_ints(t, MSQL_CHUNK_BYTES, 2, key, 1, &bytes, 1);
	if (!ret)
		*count = (size_t)bytes / META_SLICE_BYTES;
	return ret;
}

int msql_set_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
		   size_t len)
{
	int64_t key[2] = { (int64_t)ino, indx };

	if (!len)
		return msql_exec_ints(t, MSQL_DEL_CHUNK, 2, key, NULL);
	return msql_write_blob(t, MSQL_SET_CHUNK, 2, key, NULL, recs, len, NULL);
}

static int msql_row_chunk(const struct msql_driver *d, struct msql_stmt *s,
			  const struct msql_cb *cb, void *arg)
{
	size_t n;
	const uint8_t *p = d->col_blob(s, 2, &n);

	return cb->fn.chunk(arg, (uint64_t)d->col_i64(s, 0), (uint32_t)d->col_i64(s, 1), p, n);
}

int msql_scan_chunks(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg)
{
	struct msql_cb f = { .fn.chunk = cb };

	return msql_scan(t, MSQL_SCAN_CHUNKS, 1, (int64_t)ino, msql_row_chunk, &f, arg);
}

int msql_scan_all_chunks(struct meta_txn *t, meta_chunk_fn cb, void *arg)
{
	struct msql_cb f = { .fn.chunk = cb };

	return msql_scan(t, MSQL_SCAN_ALL_CHUNKS, 0, 0, msql_row_chunk, &f, arg);
}

/* ---------------- slice refcounts (true counts: a new slice has a row with 1) ---------------- */

int msql_new_slice(struct meta_txn *t, uint64_t id, uint32_t size)
{
	int64_t v[2] = { (int64_t)id, size };
	int ret = msql_exec_ints(t, MSQL_NEW_SLICE, 2, v, NULL);

	if (!ret)
		t->new_slice = 1;
	return ret;
}

/*
 * A slice without a row counts as referenced once (as in Redis, where no key
 * means one reference), so the row is created with 1 + delta.
 */
int msql_incr_ref(struct meta_txn *t, uint64_t id, uint32_t size, int64_t delta, int64_t *refs)
{
	int64_t v[3] = { (int64_t)id, size, delta };
	int ret;

	ret = msql_exec_ints(t, MSQL_INCR_REF, 3, v, NULL);
	if (ret || !refs)
		return ret;
	ret = msql_row_ints(t, MSQL_GET_REF, 1, v, 1, refs, 0);
	if (ret == -ENOENT) {
		log_error("%s: slice %llu lost its refcount row", t->label,
			  (unsigned long long)id);
		ret = -EIO;
	}
	return ret;
}

int msql_del_ref(struct meta_txn *t, uint64_t id, uint32_t size)
{
	UNUSED(size);
	return msql_exec_i64(t, MSQL_DEL_REF, (int64_t)id, NULL);
}

static int msql_row_ref(const struct msql_driver *d, struct msql_stmt *s,
			const struct msql_cb *cb, void *arg)
{
	struct meta_slice_ref r = {
		.id = (uint64_t)d->col_i64(s, 0),
		.size = (uint32_t)d->col_i64(s, 1),
		.refs = d->col_i64(s, 2),
	};

	return cb->fn.ref(arg, &r);
}

int msql_scan_dead_refs(struct meta_txn *t, meta_slice_ref_fn cb, void *arg)
{
	struct msql_cb f = { .fn.ref = cb };

	return msql_scan(t, MSQL_SCAN_DEAD_REFS, 0, 0, msql_row_ref, &f, arg);
}

/* ---------------- delayed slices ---------------- */

int msql_put_delslices(struct meta_txn *t, uint64_t newid, int64_t when, const uint8_t *recs,
		       size_t len)
{
	int64_t v[2] = { (int64_t)newid, when };

	return msql_write_blob(t, MSQL_PUT_DELSLICES, 2, v, NULL, recs ? recs : (const void *)"",
			       len, NULL);
}

/* The table is keyed by the new slice id alone; `when` only matters to Redis. */
int msql_del_delslices(struct meta_txn *t, uint64_t newid, int64_t when)
{
	UNUSED(when);
	return msql_exec_i64(t, MSQL_DEL_DELSLICES, (int64_t)newid, NULL);
}

static int msql_row_delslices(const struct msql_driver *d, struct msql_stmt *s,
			      const struct msql_cb *cb, void *arg)
{
	size_t n;
	const uint8_t *p = d->col_blob(s, 2, &n);

	return cb->fn.delslices(arg, (uint64_t)d->col_i64(s, 0), d->col_i64(s, 1), p, n);
}

int msql_scan_delslices(struct meta_txn *t, meta_delslices_fn cb, void *arg)
{
	struct msql_cb f = { .fn.delslices = cb };

	return msql_scan(t, MSQL_SCAN_DELSLICES, 0, 0, msql_row_delslices, &f, arg);
}

/* ---------------- deleted files ---------------- */

int msql_add_delfile(struct meta_txn *t, uint64_t ino, uint64_t length, int64_t when)
{
	int64_t v[3] = { (int64_t)ino, (int64_t)length, when };

	return msql_exec_ints(t, MSQL_ADD_DELFILE, 3, v, NULL);
}

int msql_del_delfile(struct meta_txn *t, uint64_t ino)
{
	return msql_exec_i64(t, MSQL_DEL_DELFILE, (int64_t)ino, NULL);
}

static int msql_row_delfile(const struct msql_driver *d, struct msql_stmt *s,
			    const struct msql_cb *cb, void *arg)
{
	return cb->fn.delfile(arg, (uint64_t)d->col_i64(s, 0), (uint64_t)d->col_i64(s, 1),
			      d->col_i64(s, 2));
}

int msql_scan_delfiles(struct meta_txn *t, meta_delfile_fn cb, void *arg)
{
	struct msql_cb f = { .fn.delfile = cb };

	return msql_scan(t, MSQL_SCAN_DELFILES, 0, 0, msql_row_delfile, &f, arg);
}

/* ---------------- sustained inodes ---------------- */

int msql_add_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	int64_t v[2] = { (int64_t)sid, (int64_t)ino };

	return msql_exec_ints(t, MSQL_ADD_SUSTAINED, 2, v, NULL);
}

int msql_del_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	int64_t v[2] = { (int64_t)sid, (int64_t)ino };

	return msql_exec_ints(t, MSQL_DEL_SUSTAINED, 2, v, NULL);
}

static int msql_row_sustained(const struct msql_driver *d, struct msql_stmt *s,
			      const struct msql_cb *cb, void *arg)
{
	return cb->fn.sustained(arg, (uint64_t)d->col_i64(s, 0), (uint64_t)d->col_i64(s, 1));
}

int msql_scan_sustained(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg)
{
	struct msql_cb f = { .fn.sustained = cb };

	if (!sid)
		return msql_scan(t, MSQL_SCAN_SUSTAINED_ALL, 0, 0, msql_row_sustained, &f, arg);
	return msql_scan(t, MSQL_SCAN_SUSTAINED, 1, (int64_t)sid, msql_row_sustained, &f, arg);
}

/* ---------------- sessions ---------------- */

int msql_put_session(struct meta_txn *t, uint64_t sid, int64_t expire, const char *info)
{
	const struct msql_driver *d = t->drv;
	struct msql_stmt *s;
	int ret;

	ret = msql_prep(t, MSQL_PUT_SESSION, &s);
	if (ret)
		return ret;
	d->bind_i64(s, 1, (int64_t)sid);
	d->bind_i64(s, 2, expire);
	/* JuiceFS stores the SessionInfo JSON as a blob. */
	if (info)
		d->bind_blob(s, 3, info, strlen(info));
	else
		d->bind_null(s, 3);
	ret = msql_exec_done(t, s);
	d->done(s);
	return ret;
}

int msql_touch_session(struct meta_txn *t, uint64_t sid, int64_t expire)
{
	int64_t v[2] = { (int64_t)sid, expire }, changes = 0;
	int ret = msql_exec_ints(t, MSQL_TOUCH_SESSION, 2, v, &changes);

	if (!ret && !changes)
		ret = -ENOENT;
	return ret;
}

int msql_del_session(struct meta_txn *t, uint64_t sid)
{
	return msql_exec_i64(t, MSQL_DEL_SESSION, (int64_t)sid, NULL);
}

static int msql_row_session(const struct msql_driver *d, struct msql_stmt *s,
			    const struct msql_cb *cb, void *arg)
{
	size_t n;
	/* col_text adds the NUL the callback's string needs; NULL (legacy) reads as "". */
	const char *info = d->col_text(s, 2, &n);

	return cb->fn.session(arg, (uint64_t)d->col_i64(s, 0), d->col_i64(s, 1), info);
}

int msql_scan_sessions(struct meta_txn *t, meta_session_raw_fn cb, void *arg)
{
	struct msql_cb f = { .fn.session = cb };

	return msql_scan(t, MSQL_SCAN_SESSIONS, 0, 0, msql_row_session, &f, arg);
}

/* ---------------- dir stats ---------------- */

int msql_incr_dirstat(struct meta_txn *t, uint64_t ino, const struct meta_dirstat *ds)
{
	int64_t v[4] = { (int64_t)ino, ds->length, ds->space, ds->inodes };

	return msql_exec_ints(t, MSQL_INCR_DIRSTAT, 4, v, NULL);
}

int msql_get_dirstat(struct meta_txn *t, uint64_t ino, struct meta_dirstat *ds)
{
	int64_t key = (int64_t)ino, c[3];
	int ret = msql_row_ints(t, MSQL_GET_DIRSTAT, 1, &key, 3, c, 0);

	if (!ret) {
		ds->length = c[0];
		ds->space = c[1];
		ds->inodes = c[2];
	}
	return ret;
}

int msql_del_dirstat(struct meta_txn *t, uint64_t ino)
{
	return msql_exec_i64(t, MSQL_DEL_DIRSTAT, (int64_t)ino, NULL);
}

/* ---------------- dir quotas ---------------- */

int msql_get_quota(struct meta_txn *t, uint64_t ino, struct meta_quota *q)
{
	int64_t key = (int64_t)ino, c[4];
	int ret = msql_row_ints(t, MSQL_GET_QUOTA, 1, &key, 4, c, 0);

	if (!ret) {
		q->max_space = c[0];
		q->max_inodes = c[1];
		q->used_space = c[2];
		q->used_inodes = c[3];
	}
	return ret;
}

int msql_put_quota(struct meta_txn *t, uint64_t ino, const struct meta_quota *q)
{
	int64_t v[5] = { (int64_t)ino, q->max_space, q->max_inodes, q->used_space,
			 q->used_inodes };

	return msql_exec_ints(t, MSQL_PUT_QUOTA, 5, v, NULL);
}

int msql_incr_quota(struct meta_txn *t, uint64_t ino, int64_t space, int64_t inodes)
{
	int64_t v[3] = { (int64_t)ino, space, inodes };

	return msql_exec_ints(t, MSQL_INCR_QUOTA, 3, v, NULL);
}

int msql_del_quota(struct meta_txn *t, uint64_t ino)
{
	return msql_exec_i64(t, MSQL_DEL_QUOTA, (int64_t)ino, NULL);
}

static int msql_row_quota(const struct msql_driver *d, struct msql_stmt *s,
			  const struct msql_cb *cb, void *arg)
{
	struct meta_quota q = { d->col_i64(s, 1), d->col_i64(s, 2), d->col_i64(s, 3),
				d->col_i64(s, 4) };

	return cb->fn.quota(arg, (uint64_t)d->col_i64(s, 0), &q);
}

int msql_scan_quotas(struct meta_txn *t, meta_quota_fn cb, void *arg)
{
	struct msql_cb f = { .fn.quota = cb };

	return msql_scan(t, MSQL_SCAN_QUOTAS, 0, 0, msql_row_quota, &f, arg);
}

/* ---------------- locks ---------------- */

/* Owners are uint64 in memory and int64 columns: the bits round-trip unchanged. */
static int msql_row_flock(const struct msql_driver *d, struct msql_stmt *s,
			  const struct msql_cb *cb, void *arg)
{
	return cb->fn.flock(arg, (uint64_t)d->col_i64(s, 0), (uint64_t)d->col_i64(s, 1),
			    (char)d->col_i64(s, 2));
}

int msql_scan_flocks(struct meta_txn *t, uint64_t ino, meta_flock_fn cb, void *arg)
{
	struct msql_cb f = { .fn.flock = cb };

	return msql_scan(t, MSQL_SCAN_FLOCKS, 1, (int64_t)ino, msql_row_flock, &f, arg);
}

int msql_put_flock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner, char ltype)
{
	/* The column holds the byte's value: 'R' = 82, 'W' = 87. */
	int64_t v[4] = { (int64_t)ino, (int64_t)sid, (int64_t)owner, (unsigned char)ltype };

	if (!ltype)
		return msql_exec_ints(t, MSQL_DEL_FLOCK, 3, v, NULL);
	return msql_exec_ints(t, MSQL_PUT_FLOCK, 4, v, NULL);
}

static int msql_row_plock(const struct msql_driver *d, struct msql_stmt *s,
			  const struct msql_cb *cb, void *arg)
{
	size_t n;
	const uint8_t *p = d->col_blob(s, 2, &n);

	return cb->fn.plock(arg, (uint64_t)d->col_i64(s, 0), (uint64_t)d->col_i64(s, 1), p, n);
}

int msql_scan_plocks(struct meta_txn *t, uint64_t ino, meta_plock_fn cb, void *arg)
{
	struct msql_cb f = { .fn.plock = cb };

	return msql_scan(t, MSQL_SCAN_PLOCKS, 1, (int64_t)ino, msql_row_plock, &f, arg);
}

int msql_put_plock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
		   const uint8_t *recs, size_t len)
{
	int64_t v[3] = { (int64_t)ino, (int64_t)sid, (int64_t)owner };

	if (!len)
		return msql_exec_ints(t, MSQL_DEL_PLOCK, 3, v, NULL);
	return msql_write_blob(t, MSQL_PUT_PLOCK, 3, v, NULL, recs, len, NULL);
}

int msql_del_session_locks(struct meta_txn *t, uint64_t sid)
{
	int ret = msql_exec_i64(t, MSQL_DEL_SESSION_FLOCKS, (int64_t)sid, NULL);

	if (!ret)
		ret = msql_exec_i64(t, MSQL_DEL_SESSION_PLOCKS, (int64_t)sid, NULL);
	return ret;
}

static int msql_row_session_flock(const struct msql_driver *d, struct msql_stmt *s,
				  const struct msql_cb *cb, void *arg)
{
	return cb->fn.slock(arg, (uint64_t)d->col_i64(s, 0), (uint64_t)d->col_i64(s, 1), 1,
			    (char)d->col_i64(s, 2), NULL, 0);
}

static int msql_row_session_plock(const struct msql_driver *d, struct msql_stmt *s,
				  const struct msql_cb *cb, void *arg)
{
	size_t n;
	const uint8_t *p = d->col_blob(s, 2, &n);

	return cb->fn.slock(arg, (uint64_t)d->col_i64(s, 0), (uint64_t)d->col_i64(s, 1), 0, 0, p,
			    n);
}

int msql_scan_session_locks(struct meta_txn *t, uint64_t sid, meta_session_lock_fn cb,
			    void *arg)
{
	struct msql_cb f = { .fn.slock = cb };
	int ret = msql_scan(t, MSQL_SCAN_SESSION_FLOCKS, 1, (int64_t)sid, msql_row_session_flock,
			    &f, arg);

	if (!ret)
		ret = msql_scan(t, MSQL_SCAN_SESSION_PLOCKS, 1, (int64_t)sid,
				msql_row_session_plock, &f, arg);
	return ret;
}
