/*
 * sqlite: the SQLite metadata engine (spec §4, §1.2, §3.4, §3.5, §10).
 *
 * The database is the one real JuiceFS 1.4 creates: the same tables, created
 * with byte-identical DDL in the same order (so `.schema` of a volume we
 * formatted equals the real client's), the same value conventions (node times
 * as microseconds plus leftover nanoseconds, true slice refcounts, chunk
 * records as one concatenated blob) and SQL counter semantics. The schema,
 * the statements and the record primitives are shared with the other SQL
 * engines (sqlshared.c); this file is SQLite's statement driver, its
 * connections and its transactions. The file system rules live in meta.c.
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
 * rolled back is META_ENOTAPPLIED, a busy COMMIT -EAGAIN and a COMMIT that
 * found the disk full -ENOSPC (both rolled back here: SQLite writes the
 * commit frame last, so a write that failed for room never committed); any
 * other error from COMMIT itself is an unknown outcome.
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

#include "meta/sqlshared.h"

#define MSQ_DEFAULT_BUSY_MS 5000

struct msq_meta;

struct msql_stmt {
	struct msq_conn *c;
	int id;              /* -1: ad-hoc, finalized by done */
	sqlite3_stmt *st;
	int bind_rc;         /* first bind failure since prep */
	int cached;          /* one of c->stmt[], reset by done */
};

struct msq_conn {
	struct msq_meta *sm;
	sqlite3 *db;
	unsigned fork_gen; /* msq_fork_gen when opened */
	struct msql_stmt stmt[MSQL_NSTMT]; /* st NULL until first prepared */
	unsigned char busy[MSQL_NSTMT];    /* cached statement is being stepped */
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
	struct msql_meta base; /* first: meta.c and sqlshared.c downcast */
	char *path;            /* absolute, so a later chdir does not matter */
	char *label;           /* "sqlite3 <path>", for logs */
	char *journal;         /* journal mode for every connection */
	int busy_ms;
	pthread_key_t key;
	pthread_mutex_t conns_mu; /* guards the lists below */
	struct msq_conn *conns;   /* every open connection */
	struct msq_conn *idle;    /* the subset owned by no thread */
	int nidle;
	pthread_mutex_t wmu; /* held from BEGIN IMMEDIATE to COMMIT/ROLLBACK (rule 3) */
	atomic_int ckpt_due; /* the WAL is long: the next writer done checkpoints */
	atomic_int ckpt_at;  /* WAL length (frames) when the last one was asked for */
	int64_t fault_every;       /* JFS_FAULT_SQLITE_SLICE_COMMIT, 0 = off */
	atomic_llong slice_commits; /* counted only while fault_every is set */
};

static const struct meta_engine_ops msq_ops;
static const struct msql_driver msq_driver;

static struct msq_meta *msq_of(struct meta *m)
{
	BUG_ON(!m || m->ops != &msq_ops);
	return (struct msq_meta *)m;
}

static struct msq_conn *msq_conn_of(struct meta_txn *t)
{
	return t->conn;
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

/* ---------------- statements (the driver of sqlshared.h) ---------------- */

static const char *msq_stmt_what(const struct msql_stmt *s)
{
	return s->id < 0 ? sqlite3_sql(s->st) : msql_stmt_name((enum msql_stmt_id)s->id);
}

/*
 * Hand out statement `id` ready for binding. A callback of a scan may run
 * another primitive while the scan's statement is still stepping; if that
 * primitive needs the same statement, it gets a private copy instead.
 */
static int msq_prep_conn(struct msq_conn *c, int id, const char *sql, struct msql_stmt **out)
{
	struct msql_stmt *w;
	sqlite3_stmt *st = NULL;
	int rc, keep;

	if (id >= 0 && c->stmt[id].st && !c->busy[id]) {
		w = &c->stmt[id];
		c->busy[id] = 1;
		w->bind_rc = SQLITE_OK;
		*out = w;
		return 0;
	}
	keep = id >= 0 && !c->stmt[id].st;
	if (id >= 0)
		sql = msql_stmt_sql(MSQL_SQLITE, (enum msql_stmt_id)id);
	rc = sqlite3_prepare_v3(c->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return msq_err(c, rc, id >= 0 ? msql_stmt_name((enum msql_stmt_id)id) : sql);
	}
	if (keep) {
		w = &c->stmt[id];
		c->busy[id] = 1;
		w->cached = 1;
	} else {
		w = xcalloc(1, sizeof(*w));
	}
	w->c = c;
	w->id = id;
	w->st = st;
	w->bind_rc = SQLITE_OK;
	*out = w;
	return 0;
}

static int msq_prep(struct meta_txn *t, int id, const char *sql, struct msql_stmt **out)
{
	return msq_prep_conn(msq_conn_of(t), id, sql, out);
}

/* Return a statement from msq_prep: reset it and drop bound pointers; NULL-safe. */
static void msq_done(struct msql_stmt *s)
{
	if (!s)
		return;
	if (!s->cached) {
		sqlite3_finalize(s->st);
		free(s);
		return;
	}
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
	s->c->busy[s->id] = 0;
}

static void msq_note_bind(struct msql_stmt *s, int rc)
{
	if (rc != SQLITE_OK && s->bind_rc == SQLITE_OK)
		s->bind_rc = rc;
}

static void msq_bind_i64(struct msql_stmt *s, int i, int64_t v)
{
	msq_note_bind(s, sqlite3_bind_int64(s->st, i, v));
}

static void msq_bind_null(struct msql_stmt *s, int i)
{
	msq_note_bind(s, sqlite3_bind_null(s->st, i));
}

/* Bound without copying: the statement is reset before the caller's data goes away. */
static void msq_bind_blob(struct msql_stmt *s, int i, const void *p, size_t n)
{
	/* A NULL pointer would bind SQL NULL, not an empty blob. */
	if (n > INT_MAX) {
		msq_note_bind(s, SQLITE_TOOBIG);
		return;
	}
	msq_note_bind(s, sqlite3_bind_blob(s->st, i, p ? p : "", (int)n, SQLITE_STATIC));
}

static void msq_bind_text(struct msql_stmt *s, int i, const char *str)
{
	size_t n = strlen(str);

	if (n > INT_MAX) {
		msq_note_bind(s, SQLITE_TOOBIG);
		return;
	}
	msq_note_bind(s, sqlite3_bind_text(s->st, i, str, (int)n, SQLITE_STATIC));
}

/* Step once: 1 = a row, 0 = done, <0 = error. */
static int msq_step(struct msql_stmt *s)
{
	int rc;

	if (s->bind_rc != SQLITE_OK) {
		rc = s->bind_rc;
		s->bind_rc = SQLITE_OK;
		return msq_err(s->c, rc, msq_stmt_what(s));
	}
	rc = sqlite3_step(s->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return msq_err(s->c, rc, msq_stmt_what(s));
}

static int64_t msq_col_i64(struct msql_stmt *s, int col)
{
	return sqlite3_column_int64(s->st, col);
}

static const void *msq_col_blob(struct msql_stmt *s, int col, size_t *n)
{
	const void *p = sqlite3_column_blob(s->st, col);
	int len = sqlite3_column_bytes(s->st, col);

	*n = p && len > 0 ? (size_t)len : 0;
	return p ? p : "";
}

static const char *msq_col_text(struct msql_stmt *s, int col, size_t *n)
{
	/* column_text adds the NUL; a NULL column reads as "". */
	const char *p = (const char *)sqlite3_column_text(s->st, col);
	int len = sqlite3_column_bytes(s->st, col);

	*n = p && len > 0 ? (size_t)len : 0;
	return p ? p : "";
}

static int64_t msq_changes(struct msql_stmt *s)
{
	return sqlite3_changes(s->c->db);
}

/*
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold, fdatasync included, so every writer queued on wmu waited for
 * it. Instead the hook only notes that one is due, and the committing
 * thread runs a passive checkpoint after giving its write turn back.
 *
 * Due once per MSQ_CKPT_FRAMES frames appended since the last one, not
 * whenever the WAL is that long (SQLite's rule): a passive checkpoint cannot
 * copy frames a reader's snapshot still needs, so under steady concurrent
 * load the WAL is rarely reset, stays past the threshold, and SQLite's rule
 * checkpointed after nearly every commit, two fdatasyncs each (1.2 per 4 KiB
 * WebDAV PUT, doc/s3-bodies.md). A commit is no less durable for it: with
 * synchronous=NORMAL no commit waits for a sync either way.
 */
#define MSQ_CKPT_FRAMES 1000

static int msq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct msq_meta *sm = arg;
	int at = atomic_load(&sm->ckpt_at);

	UNUSED(db);
	UNUSED(name);
	if (frames < at)
		at = 0; /* the WAL was reset: count from its start */
	if (frames - at >= MSQ_CKPT_FRAMES) {
		atomic_store(&sm->ckpt_at, frames);
		atomic_store(&sm->ckpt_due, 1);
	} else if (at != atomic_load(&sm->ckpt_at)) {
		atomic_store(&sm->ckpt_at, at);
	}
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
static int msq_exec0(struct msq_conn *c, enum msql_stmt_id id)
{
	struct msql_stmt *s;
	int ret;

	if (id == MSQL_BEGIN_W && !c->wlocked) {
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
	ret = msq_prep_conn(c, (int)id, NULL, &s);
	if (!ret) {
		do
			ret = msq_step(s);
		while (ret == 1);
		msq_done(s);
	}
	msq_write_turn_end(c);
	return ret;
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
		for (i = 0; i < MSQL_NSTMT; i++)
			sqlite3_finalize(c->stmt[i].st);
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
	c->txn.drv = &msq_driver;
	c->txn.conn = c;
	c->txn.label = sm->label;
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

/* Connection for a primitive that runs outside transactions (driver acquire). */
static int msq_acquire(struct meta *m, struct meta_txn **t)
{
	struct msq_conn *c;
	int ret = msq_conn_get(msq_of(m), &c);

	if (ret)
		return ret;
	/* meta.c never calls these with a transaction open on the same thread. */
	BUG_ON(c->txn.active);
	*t = &c->txn;
	return 0;
}

/* The connection stays the thread's. */
static void msq_release(struct meta_txn *t)
{
	UNUSED(t);
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
	ret = msq_exec0(c, write ? MSQL_BEGIN_W : MSQL_BEGIN_R);
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
		msq_exec0(c, MSQL_ROLLBACK);
	msq_write_turn_end(c);
}

static int msq_commit(struct meta_txn *t)
{
	struct msq_conn *c = msq_conn_of(t);
	int ret;

	BUG_ON(!t->active);
	if (sqlite3_get_autocommit(c->db)) {
		/* SQLite already rolled back after a failed statement. */
		log_error("sqlite3 %s: commit: transaction was rolled back", c->sm->path);
		ret = META_ENOTAPPLIED;
		msq_write_turn_end(c);
	} else {
		ret = msq_exec0(c, MSQL_COMMIT);
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
	msq_rollback(msq_conn_of(t));
	t->active = 0;
	t->new_slice = 0;
}


/* ---------------- engine-internal transactions (sqlshared.c) ---------------- */

static int msq_tx_begin(struct meta_txn *t, int write)
{
	return msq_exec0(msq_conn_of(t), write ? MSQL_BEGIN_W : MSQL_BEGIN_R);
}

static int msq_tx_commit(struct meta_txn *t)
{
	struct msq_conn *c = msq_conn_of(t);
	int ret = msq_exec0(c, MSQL_COMMIT);

	if (ret)
		msq_rollback(c);
	return ret;
}

static void msq_tx_rollback(struct meta_txn *t)
{
	msq_rollback(msq_conn_of(t));
}

static int msq_exec(struct meta_txn *t, const char *sql)
{
	return msq_pragma(msq_conn_of(t), sql);
}

static const struct msql_driver msq_driver = {
	.dialect = MSQL_SQLITE,
	.acquire = msq_acquire,
	.release = msq_release,
	.tx_begin = msq_tx_begin,
	.tx_commit = msq_tx_commit,
	.tx_rollback = msq_tx_rollback,
	.exec = msq_exec,
	.prep = msq_prep,
	.bind_i64 = msq_bind_i64,
	.bind_null = msq_bind_null,
	.bind_blob = msq_bind_blob,
	.bind_text = msq_bind_text,
	.step = msq_step,
	.col_i64 = msq_col_i64,
	.col_blob = msq_col_blob,
	.col_text = msq_col_text,
	.changes = msq_changes,
	.done = msq_done,
};

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
	free(sm->label);
	free(sm->journal);
	free(sm);
}

static const struct meta_engine_ops msq_ops = {
	.name = "sqlite3",
	.close = msq_close,
	.begin = msq_begin,
	.commit = msq_commit,
	.abort = msq_abort,
	MSQL_PRIMITIVE_OPS,
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
	sm->base.base.ops = &msq_ops;
	sm->base.drv = &msq_driver;
	sm->path = path;
	sm->label = xasprintf("sqlite3 %s", path);
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
		free(sm->label);
		free(sm->journal);
		free(sm);
		return -EAGAIN;
	}
	/* The opening thread's connection also proves the file is usable. */
	ret = msq_conn_open(sm, create, &c, err);
	if (ret) {
		msq_close(&sm->base.base);
		return ret;
	}
	msq_conn_register(sm, c);
	*out = &sm->base.base;
	return 0;
}
