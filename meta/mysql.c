/*
 * mysql: the MySQL/MariaDB metadata engine behind `mysql://` URLs, through
 * libmariadb. The schema, the statements and the record primitives are the
 * ones every SQL engine shares (sqlshared.c); this file keeps MySQL's
 * dialect, its connections and its transactions.
 *
 * URL: mysql://<DSN> where the DSN is what the real client hands to
 * go-sql-driver: [user[:password]@][net[(address)]]/dbname[?param=value&...].
 * net is tcp (the default; "(host:port)" alone means tcp, port 3306 by
 * default) or unix ("unix(/path/to/socket)"). User and password are taken
 * as written (go-sql-driver does not percent-decode them); an empty password
 * is taken from META_PASSWORD, as JuiceFS does. Parameters: charset (the
 * first of a comma list), timeout/readTimeout/writeTimeout (Go durations),
 * tls=false; go-sql-driver's client-side switches (parseTime, loc, ...) are
 * accepted and have nothing to do here; any other parameter is a session
 * variable set on every connection (SET SESSION name = value, as the Go
 * driver does), so a wrong one fails at open with the server's message.
 *
 * Dialect: statements of sqlshared.h are rewritten once: ON CONFLICT (k)
 * DO UPDATE SET becomes ON DUPLICATE KEY UPDATE with excluded.c as
 * VALUES(c), DO NOTHING an update of the key to itself. Values are put into
 * the text as literals (integers in decimal, strings and blobs in hex, which
 * needs no escaping and keeps every byte), and results come back as text:
 * one round trip per statement and no server-side statement state, which
 * keeps a connection that comes back from a failure simple to drop.
 *
 * Concurrency model (as postgres.c):
 *  1. A pool of connections (sqlshared.h's, at most MMY_POOL_MAX); a transaction holds one
 *     from begin to commit/abort. An exhausted pool waits, bounded, then
 *     META_ETRANSIENT.
 *  2. Write transactions run SERIALIZABLE (InnoDB then reads with shared
 *     locks, so meta.c's read-check-write operations cannot lose updates);
 *     read transactions run REPEATABLE READ READ ONLY (one snapshot). A
 *     deadlock (1213), a lock wait timeout (1205) or a snapshot conflict
 *     (1020) is -EAGAIN and meta.c reruns the operation; the transaction is
 *     rolled back whatever InnoDB already undid.
 *  3. A connection that failed (a client-side error: lost socket, server
 *     gone, timeout; or the server shutting down or killing it) is closed
 *     when it comes back to the pool. libmariadb's auto-reconnect stays off:
 *     reconnecting inside a transaction would silently drop its first half.
 *  4. Connections never cross fork(): a child abandons its parent's.
 *  5. CLIENT_FOUND_ROWS: an UPDATE counts the rows it matched, not the rows
 *     it changed, so touching a session with its own expiry still finds it.
 *     CLIENT_MULTI_STATEMENTS: a read transaction's begin (set its isolation
 *     level, start it) is one round trip. Nothing user-given reaches the
 *     text unquoted: values are hex literals or numbers we format.
 *  6. Every session runs STRICT_ALL_TABLES: a value too long for its column
 *     is an error (-E2BIG), never stored cut short.
 *  7. Round trips: a transaction's BEGIN travels with its first statement,
 *     and the writes sqlshared.c queues (no rows, no change count read)
 *     travel with the next statement or the COMMIT, all as one
 *     multi-statement query; a failure among them stops the rest, COMMIT
 *     included, and rolls the transaction back. A read transaction's COMMIT
 *     is sent without waiting for its answer, which the connection's next
 *     user reads first. A transaction that sent nothing sends no COMMIT. A
 *     META_TXN_SOLO read opens no transaction (autocommit statements).
 *
 * Commit outcome (meta-internal.h invariant 6):
 *  - a statement of the transaction failed: ROLLBACK is sent and the outcome
 *    is META_ENOTAPPLIED (-EAGAIN for a deadlock or lock timeout);
 *  - COMMIT answered with a server error: rolled back (-EAGAIN for 1213);
 *  - COMMIT got no answer (a client-side error: the connection was lost
 *    while it was out): unknown, -EIO, and the slice's blocks are kept.
 */
#include <limits.h>
#include <pthread.h>
#include <time.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "meta/sqlshared.h"

#define MMY_POOL_MAX 64
#define MMY_POOL_WAIT_MS 5000
#define MMY_MAX_PARAMS 20

struct mmy_meta;

struct mmy_conn {
	struct msql_pconn pc; /* first: the pool's */
	struct mmy_meta *mm;
	MYSQL *my;
	int broken;   /* the connection failed: close it when it comes back */
	int intx;     /* a transaction is open on it */
	int txfailed; /* a statement failed inside the open transaction */
	int txagain;  /* ... with a deadlock or lock timeout */
	/*
	 * Statements not sent yet (rule 7): the transaction's BEGIN and its
	 * queued writes, ';'-separated, npend of them, nqueued of them writes.
	 */
	struct buf pend;
	int npend, nqueued;
	int txsent;   /* some of the open transaction went to the server */
	int rdonly;   /* the open transaction is a read's */
	int unread;   /* a read transaction's COMMIT sent, its answer not read */
	struct meta_txn txn;
};

struct msql_stmt {
	struct mmy_conn *c;
	int id; /* -1: ad-hoc */
	const char *sql;
	char *lit[MMY_MAX_PARAMS]; /* the bound values as SQL literals */
	int bind_err;
	int ran;
	MYSQL_RES *res;
	MYSQL_ROW row;
	unsigned long *lens;
	int64_t changes;
	int64_t last_id; /* mysql_insert_id after a statement without rows */
};

struct mmy_meta {
	struct msql_meta base; /* first: meta.c and sqlshared.c downcast */
	char *label;           /* "mysql host:port/db", for logs */
	char *host, *user, *pass, *db, *sock, *charset;
	unsigned port;
	unsigned connect_timeout, read_timeout, write_timeout; /* seconds */
	char **init;  /* SET SESSION statements, NULL-terminated */
	struct msql_pool pool;
};

static const struct meta_engine_ops mmy_ops;
static const struct msql_driver mmy_driver;

static pthread_once_t mmy_once = PTHREAD_ONCE_INIT;
static char *mmy_sql[MSQL_NSTMT]; /* the statements in MySQL's dialect */

/* ON CONFLICT (k, ...) DO UPDATE SET / DO NOTHING, excluded.c -> MySQL's forms. */
static char *mmy_dialect_sql(const char *sql)
{
	static const char oc[] = " ON CONFLICT (", upd[] = " DO UPDATE SET ", nothing[] = " DO NOTHING";
	static const char ex[] = "excluded.";
	struct buf a = BUF_INIT, b = BUF_INIT;
	const char *p = sql, *q;

	while ((q = strstr(p, oc))) {
		const char *cols = q + strlen(oc), *close = strchr(cols, ')');
		size_t first = strcspn(cols, ",)");

		BUG_ON(!close);
		buf_add(&a, p, (size_t)(q - p));
		if (!strncmp(close + 1, upd, strlen(upd))) {
			buf_adds(&a, " ON DUPLICATE KEY UPDATE ");
			p = close + 1 + strlen(upd);
		} else {
			BUG_ON(strncmp(close + 1, nothing, strlen(nothing)));
			buf_addf(&a, " ON DUPLICATE KEY UPDATE %.*s = %.*s", (int)first, cols,
				 (int)first, cols);
			p = close + 1 + strlen(nothing);
		}
	}
	buf_adds(&a, p);
	for (p = a.ptr; (q = strstr(p, ex));) {
		size_t n = strspn(q + strlen(ex), "abcdefghijklmnopqrstuvwxyz_");

		buf_add(&b, p, (size_t)(q - p));
		buf_addf(&b, "VALUES(%.*s)", (int)n, q + strlen(ex));
		p = q + strlen(ex) + n;
	}
	buf_adds(&b, p);
	buf_release(&a);
	return buf_detach(&b, NULL);
}

static void mmy_init_once(void)
{
	mysql_library_init(0, NULL, NULL);
	for (int i = 0; i < MSQL_NSTMT; i++)
		mmy_sql[i] = mmy_dialect_sql(msql_stmt_sql(MSQL_MY, (enum msql_stmt_id)i));
}

static struct mmy_meta *mmy_of(struct meta *m)
{
	BUG_ON(!m || m->ops != &mmy_ops);
	return (struct mmy_meta *)m;
}

static struct mmy_conn *mmy_conn_of(struct meta_txn *t)
{
	return t->conn;
}

/* ---------------- errors ---------------- */

static int mmy_code_again(unsigned e)
{
	return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT || e == ER_CHECKREAD;
}

/* Server codes that mean "this connection is over" (the server goes away). */
static int mmy_code_gone(unsigned e)
{
	return e >= CR_MIN_ERROR || e == ER_SERVER_SHUTDOWN || e == ER_CON_COUNT_ERROR ||
	       e == ER_CONNECTION_KILLED || e == 4031 /* MySQL 8: idle timeout */;
}

/* Map the connection's last error to -errno (see the top of the file). */
static int mmy_err(struct mmy_conn *c, const char *what)
{
	unsigned e = mysql_errno(c->my);
	const char *msg = mysql_error(c->my);

	if (mmy_code_gone(e)) {
		c->broken = 1;
		log_warn("%s: %s: %s (error %u, connection lost)", c->mm->label, what, msg, e);
		return META_ETRANSIENT;
	}
	if (mmy_code_again(e)) {
		log_debug("%s: %s: %s (will retry)", c->mm->label, what, msg);
		return -EAGAIN;
	}
	log_error("%s: %s: %s (error %u)", c->mm->label, what, msg, e);
	switch (e) {
	case ER_DUP_ENTRY:
		return -EEXIST;
	case ER_DATA_TOO_LONG:
	case ER_NET_PACKET_TOO_LARGE:
		return -E2BIG;
	case ER_RECORD_FILE_FULL:
	case ER_DISK_FULL:
		return -ENOSPC;
	case ER_WARN_DATA_OUT_OF_RANGE:
		return -ERANGE;
	case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
	case ER_OPTION_PREVENTS_STATEMENT:
		return -EROFS;
	case ER_OUTOFMEMORY:
	case ER_OUT_OF_SORTMEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* ---------------- connections ---------------- */

/* The pool's close: ours false for a parent's socket, abandoned (mysql_close would end its session). */
static void mmy_conn_close(struct msql_pconn *pc, int ours)
{
	struct mmy_conn *c = (struct mmy_conn *)pc;

	if (ours)
		mysql_close(c->my);
	buf_release(&c->pend);
	free(c);
}

static void mmy_conn_free(struct mmy_conn *c)
{
	if (c)
		mmy_conn_close(&c->pc, msql_pconn_ours(&c->pc));
}

/* A fresh connection; META_ETRANSIENT when the server cannot be reached. */
static int mmy_conn_open(struct mmy_meta *mm, struct mmy_conn **out, struct buf *err)
{
	struct mmy_conn *c = xcalloc(1, sizeof(*c));
	my_bool off = 0;
	unsigned e;

	msql_pconn_init(&c->pc);
	c->mm = mm;
	c->txn.drv = &mmy_driver;
	c->txn.conn = c;
	c->txn.label = mm->label;
	c->my = mysql_init(NULL);
	if (!c->my) {
		free(c);
		return -ENOMEM;
	}
	mysql_options(c->my, MYSQL_OPT_RECONNECT, &off);
	mysql_options(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &mm->connect_timeout);
	mysql_options(c->my, MYSQL_OPT_READ_TIMEOUT, &mm->read_timeout);
	mysql_options(c->my, MYSQL_OPT_WRITE_TIMEOUT, &mm->write_timeout);
	mysql_options(c->my, MYSQL_SET_CHARSET_NAME, mm->charset);
	mysql_options(c->my, MYSQL_INIT_COMMAND,
		      "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE");
	/*
	 * A value too long for its column (a chunk's slices past 64 KiB in a
	 * BLOB) must fail, not be cut short, whatever the server's default
	 * mode; no backslash-escapes mode matters, our literals have none.
	 */
	mysql_options(c->my, MYSQL_INIT_COMMAND,
		      "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), "
		      "'STRICT_ALL_TABLES')");
	for (size_t i = 0; mm->init && mm->init[i]; i++)
		mysql_options(c->my, MYSQL_INIT_COMMAND, mm->init[i]);
	if (mysql_real_connect(c->my, mm->sock ? NULL : mm->host, mm->user, mm->pass, mm->db,
			       mm->port, mm->sock, CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
		*out = c;
		return 0;
	}
	e = mysql_errno(c->my);
	if (err)
		buf_addf(err, "%s: cannot connect: %s", mm->label, mysql_error(c->my));
	log_warn("%s: cannot connect: %s (error %u)", mm->label, mysql_error(c->my), e);
	mmy_conn_free(c);
	/* Refused credentials or database: no point waiting for them. */
	return e >= CR_MIN_ERROR || e == ER_SERVER_SHUTDOWN || e == ER_CON_COUNT_ERROR ?
		       META_ETRANSIENT : -EACCES;
}

/* Refused credentials or database (-EACCES at open) are an error here. */
static int mmy_pool_open(struct msql_pool *p, struct msql_pconn **out)
{
	struct mmy_conn *c;
	int ret = mmy_conn_open((struct mmy_meta *)((char *)p - offsetof(struct mmy_meta, pool)),
				&c, NULL);

	if (ret)
		return ret == -EACCES ? -EIO : ret;
	*out = &c->pc;
	return 0;
}

/* A broken connection, or one left in a transaction, is closed. */
static int mmy_conn_reusable(struct msql_pconn *pc)
{
	struct mmy_conn *c = (struct mmy_conn *)pc;

	return !c->broken && !c->intx;
}

static const struct msql_pool_ops mmy_pool_ops = {
	.open = mmy_pool_open,
	.close = mmy_conn_close,
	.reusable = mmy_conn_reusable,
};

static int mmy_conn_take(struct mmy_meta *mm, struct mmy_conn **out)
{
	struct msql_pconn *pc;
	int ret = msql_pool_take(&mm->pool, &pc);

	if (!ret)
		*out = (struct mmy_conn *)pc;
	return ret;
}

static void mmy_conn_put(struct mmy_conn *c)
{
	msql_pool_put(&c->mm->pool, &c->pc);
}

/* ---------------- statements (the driver of sqlshared.h) ---------------- */

static const char *mmy_what(const struct msql_stmt *s)
{
	return s->id >= 0 ? msql_stmt_name((enum msql_stmt_id)s->id) : s->sql;
}

static int mmy_prep(struct meta_txn *t, int id, const char *sql, struct msql_stmt **out)
{
	struct msql_stmt *s = xcalloc(1, sizeof(*s));

	s->c = mmy_conn_of(t);
	s->id = id;
	s->sql = id >= 0 ? mmy_sql[id] : sql;
	*out = s;
	return 0;
}

static void mmy_done(struct msql_stmt *s)
{
	if (!s)
		return;
	if (s->res)
		mysql_free_result(s->res);
	for (int i = 0; i < MMY_MAX_PARAMS; i++)
		free(s->lit[i]);
	free(s);
}

static void mmy_set(struct msql_stmt *s, int i, char *lit)
{
	if (i < 1 || i > MMY_MAX_PARAMS) {
		s->bind_err = 1;
		free(lit);
		return;
	}
	free(s->lit[i - 1]);
	s->lit[i - 1] = lit;
}

static void mmy_bind_i64(struct msql_stmt *s, int i, int64_t v)
{
	mmy_set(s, i, xasprintf("%lld", (long long)v));
}

static void mmy_bind_null(struct msql_stmt *s, int i)
{
	mmy_set(s, i, xstrdup("NULL"));
}

/* X'..': a binary string literal, every byte kept, nothing to escape. */
static void mmy_bind_blob(struct msql_stmt *s, int i, const void *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *b = p;
	char *lit, *q;

	if (n > (SIZE_MAX - 4) / 2) {
		s->bind_err = 1;
		return;
	}
	lit = q = xmalloc(2 * n + 4);
	*q++ = 'X';
	*q++ = '\'';
	for (size_t k = 0; k < n; k++) {
		*q++ = hex[b[k] >> 4];
		*q++ = hex[b[k] & 15];
	}
	*q++ = '\'';
	*q = 0;
	mmy_set(s, i, lit);
}

static void mmy_bind_text(struct msql_stmt *s, int i, const char *str)
{
	mmy_bind_blob(s, i, str, strlen(str));
}

/* Note a failure inside an open transaction: it must end in ROLLBACK. */
static int mmy_tx_fail(struct mmy_conn *c, int ret)
{
	if (c->intx) {
		c->txfailed = 1;
		if (ret == -EAGAIN)
			c->txagain = 1;
	}
	return ret;
}

/* Read the answer of a read transaction's COMMIT sent earlier (rule 7). */
static int mmy_sync(struct mmy_conn *c)
{
	if (!c->unread)
		return c->broken ? META_ETRANSIENT : 0;
	c->unread = 0;
	if (mysql_read_query_result(c->my)) {
		/* Its reads were done: only the connection is in doubt. */
		log_warn("%s: commit of a read: %s (error %u)", c->mm->label, mysql_error(c->my),
			 mysql_errno(c->my));
		c->broken = 1;
		return META_ETRANSIENT;
	}
	return 0;
}

static void mmy_pend_clear(struct mmy_conn *c)
{
	buf_reset(&c->pend);
	c->npend = 0;
	c->nqueued = 0;
}

/* Add n ';'-separated statements to what the next query sends first. */
static void mmy_pend_add(struct mmy_conn *c, const char *sql, size_t len, int n)
{
	if (c->pend.len)
		buf_addch(&c->pend, ';');
	buf_add(&c->pend, sql, len);
	c->npend += n;
}

/*
 * Send the pending statements and then sql as one query and read the
 * answers of the pending ones. *failed is the index of the statement that
 * failed (the pending ones first, sql last) or -1; on success the answer of
 * sql is the connection's next result.
 */
static int mmy_send(struct mmy_conn *c, const char *sql, size_t len, int *failed)
{
	int n = c->npend, rc;

	*failed = -1;
	if (mmy_sync(c))
		return META_ETRANSIENT;
	if (n) {
		mmy_pend_add(c, sql, len, 1);
		rc = mysql_real_query(c->my, c->pend.ptr, c->pend.len);
		mmy_pend_clear(c);
	} else {
		rc = mysql_real_query(c->my, sql, len);
	}
	if (c->intx)
		c->txsent = 1;
	if (rc) {
		*failed = 0;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		MYSQL_RES *res = mysql_store_result(c->my);
		int more;

		if (res)
			mysql_free_result(res);
		more = mysql_next_result(c->my);
		if (more) {
			*failed = more > 0 ? i + 1 : i;
			return -1;
		}
	}
	return 0;
}

/* The statement's text with ?N replaced by the bound literals. */
static int mmy_render(struct msql_stmt *s, struct buf *out)
{
	for (const char *p = s->sql; *p; p++) {
		if (*p == '?' && p[1] >= '1' && p[1] <= '9') {
			char *end;
			long n = strtol(p + 1, &end, 10);

			if (n < 1 || n > MMY_MAX_PARAMS || !s->lit[n - 1])
				return -EINVAL;
			buf_adds(out, s->lit[n - 1]);
			p = end - 1;
		} else {
			buf_addch(out, *p);
		}
	}
	return 0;
}

/* The text of s to send, once; sql is released on failure. */
static int mmy_text(struct msql_stmt *s, struct buf *sql)
{
	s->ran = 1;
	if (s->bind_err || mmy_render(s, sql)) {
		buf_release(sql);
		log_error("%s: %s: bad parameter", s->c->mm->label, mmy_what(s));
		return -E2BIG;
	}
	if (s->c->broken) {
		buf_release(sql);
		return META_ETRANSIENT;
	}
	return 0;
}

static int mmy_run(struct msql_stmt *s)
{
	struct mmy_conn *c = s->c;
	struct buf sql = BUF_INIT;
	int ret, failed;

	if ((ret = mmy_text(s, &sql)))
		return ret;
	ret = mmy_send(c, sql.ptr, sql.len, &failed);
	buf_release(&sql);
	if (ret)
		return mmy_tx_fail(c, mmy_err(c, mmy_what(s)));
	s->res = mysql_store_result(c->my);
	if (!s->res) {
		if (mysql_field_count(c->my))
			return mmy_tx_fail(c, mmy_err(c, mmy_what(s)));
		s->changes = (int64_t)mysql_affected_rows(c->my);
		s->last_id = (int64_t)mysql_insert_id(c->my);
	}
	return 0;
}

/* A write of an open transaction, sent with the next statement (rule 7). */
static int mmy_queue(struct msql_stmt *s)
{
	struct mmy_conn *c = s->c;
	struct buf sql = BUF_INIT;
	int ret;

	if ((ret = mmy_text(s, &sql)))
		return ret;
	mmy_pend_add(c, sql.ptr, sql.len, 1);
	c->nqueued++;
	buf_release(&sql);
	return 0;
}

/* 1 a row, 0 done, <0 error; the statement runs on the first step. */
static int mmy_step(struct msql_stmt *s)
{
	int ret;

	if (!s->ran) {
		ret = mmy_run(s);
		if (ret)
			return ret;
	}
	if (!s->res)
		return 0;
	s->row = mysql_fetch_row(s->res);
	s->lens = s->row ? mysql_fetch_lengths(s->res) : NULL;
	return s->row ? 1 : 0;
}

/* Integers come back as decimal text; NULL reads as 0. */
static int64_t mmy_col_i64(struct msql_stmt *s, int col)
{
	if (!s->row || !s->row[col])
		return 0;
	return strtoll(s->row[col], NULL, 10);
}

/* libmariadb ends every value of a stored result with a NUL. */
static const void *mmy_col_blob(struct msql_stmt *s, int col, size_t *n)
{
	if (!s->row || !s->row[col]) {
		*n = 0;
		return "";
	}
	*n = s->lens[col];
	return s->row[col];
}

static const char *mmy_col_text(struct msql_stmt *s, int col, size_t *n)
{
	return mmy_col_blob(s, col, n);
}

static int64_t mmy_changes(struct msql_stmt *s)
{
	return s->changes;
}

static int64_t mmy_last_id(struct msql_stmt *s)
{
	return s->last_id;
}

/* Statements without parameters whose rows do not matter, one round trip. */
static int mmy_exec_conn(struct mmy_conn *c, const char *sql)
{
	MYSQL_RES *res;
	int more, failed;

	if (c->broken)
		return META_ETRANSIENT;
	if (mmy_send(c, sql, strlen(sql), &failed))
		return mmy_tx_fail(c, mmy_err(c, sql));
	for (;;) {
		res = mysql_store_result(c->my);
		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(c->my))
			return mmy_tx_fail(c, mmy_err(c, sql));
		more = mysql_next_result(c->my);
		if (more < 0)
			return 0;
		if (more > 0)
			return mmy_tx_fail(c, mmy_err(c, sql));
	}
}

/* ---------------- transactions ---------------- */

static void mmy_rollback(struct mmy_conn *c)
{
	if (!c->broken && c->intx && c->txsent &&
	    (mmy_sync(c) || mysql_real_query(c->my, "ROLLBACK", 8)))
		c->broken = 1;
	mmy_pend_clear(c);
	c->intx = 0;
	c->txsent = 0;
	c->txfailed = 0;
	c->txagain = 0;
}

/* defer: BEGIN goes with the first statement (rule 7). */
static int mmy_begin_conn(struct mmy_conn *c, int write, int defer)
{
	const char *sql = msql_stmt_sql(MSQL_MY, write ? MSQL_BEGIN_W : MSQL_BEGIN_R);
	int ret, n = 1;

	c->txfailed = 0;
	c->txagain = 0;
	c->txsent = 0;
	c->rdonly = write != 1;
	mmy_pend_clear(c);
	if (write == META_TXN_SOLO) {
		/* No transaction: each statement on its own (autocommit). */
		c->intx = 0;
		return mmy_sync(c);
	}
	if (defer) {
		ret = mmy_sync(c);
		if (ret)
			return ret;
		for (const char *p = sql; (p = strchr(p, ';')); p++)
			n++;
		mmy_pend_add(c, sql, strlen(sql), n);
		c->intx = 1;
		return 0;
	}
	ret = mmy_exec_conn(c, sql);
	if (!ret) {
		c->intx = 1;
		c->txsent = 1;
	}
	return ret;
}

/*
 * BEGIN on a pooled connection. One that died while idle (a server restart)
 * fails here with nothing sent that matters: it is dropped and a fresh one
 * tried once.
 */
static int mmy_begin_on(struct mmy_meta *mm, int write, struct mmy_conn **out)
{
	struct mmy_conn *c;
	int ret;

	for (int tries = 0;; tries++) {
		ret = mmy_conn_take(mm, &c);
		if (ret)
			return ret;
		ret = mmy_begin_conn(c, write, 1);
		if (!ret) {
			*out = c;
			return 0;
		}
		c->broken = 1;
		mmy_conn_put(c);
		if (ret != META_ETRANSIENT || tries)
			return ret;
	}
}

static int mmy_begin(struct meta *m, int write, struct meta_txn **t)
{
	struct mmy_conn *c;
	int ret = mmy_begin_on(mmy_of(m), write, &c);

	if (ret)
		return ret;
	c->txn.active = 1;
	c->txn.write = write == 1;
	c->txn.new_slice = 0;
	*t = &c->txn;
	return 0;
}

/* The outcome of COMMIT (see the top of the file). */
static int mmy_commit_conn(struct mmy_conn *c)
{
	unsigned e;
	int ret, failed, npend;

	if (c->txfailed) {
		ret = c->txagain ? -EAGAIN : META_ENOTAPPLIED;
		mmy_rollback(c);
		return ret;
	}
	if (c->broken) {
		mmy_rollback(c);
		return META_ETRANSIENT; /* lost before COMMIT was sent: the server rolls back */
	}
	if (!c->txsent && !c->nqueued) {
		mmy_rollback(c); /* nothing was sent: nothing to end */
		return 0;
	}
	if (!c->txsent) {
		/*
		 * Only BEGIN and writes, never sent: send them before COMMIT, so
		 * that a connection found dead here means "not applied".
		 */
		ret = mmy_exec_conn(c, "DO 0");
		if (ret && c->broken) {
			mmy_rollback(c);
			return META_ETRANSIENT;
		}
		if (ret)
			return mmy_commit_conn(c); /* the failure path above */
	}
	if (c->rdonly && !c->npend) {
		/* A read's COMMIT: its answer changes nothing we return. */
		c->intx = 0;
		c->txsent = 0;
		if (mmy_sync(c) || mysql_send_query(c->my, "COMMIT", 6))
			c->broken = 1;
		else
			c->unread = 1;
		return 0;
	}
	npend = c->npend;
	if (!mmy_send(c, "COMMIT", 6, &failed)) {
		c->intx = 0;
		c->txsent = 0;
		return 0;
	}
	e = mysql_errno(c->my);
	if (failed >= 0 && failed < npend && e < CR_MIN_ERROR && !mmy_code_gone(e)) {
		/* A queued write failed: COMMIT did not run, the transaction is open. */
		ret = mmy_err(c, "queued write");
		if (ret != -EAGAIN)
			ret = META_ENOTAPPLIED;
		mmy_rollback(c);
		return ret;
	}
	if (e < CR_MIN_ERROR && !mmy_code_gone(e)) {
		/* The server answered: it rolled the transaction back. */
		ret = mmy_err(c, "COMMIT");
		if (ret != -EAGAIN)
			ret = META_ENOTAPPLIED;
		mmy_rollback(c);
		return ret;
	}
	log_error("%s: commit: %s (error %u, outcome unknown)", c->mm->label, mysql_error(c->my), e);
	c->broken = 1;
	c->intx = 0;
	c->txsent = 0;
	return -EIO;
}

static int mmy_commit(struct meta_txn *t)
{
	struct mmy_conn *c = mmy_conn_of(t);
	int ret;

	BUG_ON(!t->active);
	ret = mmy_commit_conn(c);
	t->active = 0;
	t->new_slice = 0;
	mmy_conn_put(c);
	return ret;
}

static void mmy_abort(struct meta_txn *t)
{
	struct mmy_conn *c;

	if (!t)
		return;
	c = mmy_conn_of(t);
	BUG_ON(!t->active);
	/* A read that failed no statement ends as a COMMIT would: not waited for. */
	if (!t->write && !c->txfailed && !c->broken)
		mmy_commit_conn(c);
	else
		mmy_rollback(c);
	t->active = 0;
	t->new_slice = 0;
	mmy_conn_put(c);
}

/* ---------------- engine-internal use (sqlshared.c) ---------------- */

static int mmy_acquire(struct meta *m, struct meta_txn **t)
{
	struct mmy_meta *mm = mmy_of(m);
	struct mmy_conn *c;
	int ret;

	/* A pooled connection that died while idle is noticed by a cheap check. */
	for (int tries = 0;; tries++) {
		ret = mmy_conn_take(mm, &c);
		if (ret)
			return ret;
		if (tries || (!mmy_sync(c) && !mysql_ping(c->my)))
			break;
		c->broken = 1;
		mmy_conn_put(c);
	}
	c->txfailed = 0;
	c->txagain = 0;
	*t = &c->txn;
	return 0;
}

static void mmy_release(struct meta_txn *t)
{
	mmy_conn_put(mmy_conn_of(t));
}

static int mmy_tx_begin(struct meta_txn *t, int write)
{
	return mmy_begin_conn(mmy_conn_of(t), write, 0);
}

static int mmy_tx_commit(struct meta_txn *t)
{
	return mmy_commit_conn(mmy_conn_of(t));
}

static void mmy_tx_rollback(struct meta_txn *t)
{
	mmy_rollback(mmy_conn_of(t));
}

static int mmy_exec(struct meta_txn *t, const char *sql)
{
	return mmy_exec_conn(mmy_conn_of(t), sql);
}

static const struct msql_driver mmy_driver = {
	.dialect = MSQL_MY,
	.acquire = mmy_acquire,
	.release = mmy_release,
	.tx_begin = mmy_tx_begin,
	.tx_commit = mmy_tx_commit,
	.tx_rollback = mmy_tx_rollback,
	.exec = mmy_exec,
	.prep = mmy_prep,
	.bind_i64 = mmy_bind_i64,
	.bind_null = mmy_bind_null,
	.bind_blob = mmy_bind_blob,
	.bind_text = mmy_bind_text,
	.step = mmy_step,
	.col_i64 = mmy_col_i64,
	.col_blob = mmy_col_blob,
	.col_text = mmy_col_text,
	.changes = mmy_changes,
	.last_id = mmy_last_id,
	.queue = mmy_queue,
	.done = mmy_done,
};

/* ---------------- lifecycle ---------------- */

static void mmy_close(struct meta *m)
{
	struct mmy_meta *mm;

	if (!m)
		return;
	mm = mmy_of(m);
	msql_pool_destroy(&mm->pool);
	for (size_t i = 0; mm->init && mm->init[i]; i++)
		free(mm->init[i]);
	free(mm->init);
	free(mm->label);
	free(mm->host);
	free(mm->user);
	free(mm->pass);
	free(mm->db);
	free(mm->sock);
	free(mm->charset);
	free(mm);
}

static const struct meta_engine_ops mmy_ops = {
	.name = "mysql",
	.solo_reads = 1,
	.close = mmy_close,
	.begin = mmy_begin,
	.commit = mmy_commit,
	.abort = mmy_abort,
	.get_attrs = msql_get_attrs,
	.get_dir_entry = msql_get_dir_entry,
	MSQL_PRIMITIVE_OPS,
};

/* A Go duration ("5s", "1m30s", "500ms") in whole seconds, rounded up; -1 if malformed. */
static long mmy_duration(const char *v)
{
	double total = 0;

	if (!*v)
		return -1;
	while (*v) {
		char *end;
		double n = strtod(v, &end);

		if (end == v)
			return -1;
		v = end;
		if (!strncmp(v, "ms", 2)) {
			total += n / 1000;
			v += 2;
		} else if (*v == 's') {
			total += n;
			v++;
		} else if (*v == 'm') {
			total += n * 60;
			v++;
		} else if (*v == 'h') {
			total += n * 3600;
			v++;
		} else {
			return -1;
		}
	}
	return total < 0 || total > 86400 ? -1 : (long)(total + 0.999);
}

/* go-sql-driver parameters that steer only that driver's Go side. */
static int mmy_client_only(const char *k)
{
	static const char *const keys[] = {
		"parseTime", "loc", "allowNativePasswords", "allowOldPasswords",
		"allowCleartextPasswords", "allowAllFiles", "interpolateParams",
		"maxAllowedPacket", "clientFoundRows", "columnsWithAlias", "checkConnLiveness",
		"multiStatements", "rejectReadOnly", "collation", "serverPubKey",
		"allowFallbackToPlaintext", "connectionAttributes", "timeTruncate",
		/* our write transactions need SERIALIZABLE whatever the URL asks */
		"transaction_isolation", "tx_isolation",
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

static int mmy_query_params(struct mmy_meta *mm, const char *q, struct buf *err)
{
	struct conf_meta_url tmp = { 0 };
	struct buf raw = BUF_INIT;
	size_t ninit = 0;
	int ret = 0;

	/* The shared parser does the key=value splitting and decoding. */
	buf_addf(&raw, "mem://x?%s", q);
	ret = conf_parse_meta_url(raw.ptr, &tmp, err);
	buf_release(&raw);
	if (ret)
		return ret;
	for (size_t i = 0; i < tmp.nquery && !ret; i++) {
		const char *k = tmp.query[i].key, *v = tmp.query[i].val ? tmp.query[i].val : "";
		long secs;

		if (!strcmp(k, "charset")) {
			free(mm->charset);
			mm->charset = xstrndup(v, strcspn(v, ","));
		} else if (!strcmp(k, "timeout") || !strcmp(k, "readTimeout") ||
			   !strcmp(k, "writeTimeout")) {
			secs = mmy_duration(v);
			if (secs < 0) {
				buf_addf(err, "mysql: bad duration '%s' for %s", v, k);
				ret = -EINVAL;
			} else if (secs > 0) {
				unsigned *dst = k[0] == 't' ? &mm->connect_timeout :
						k[0] == 'r' ? &mm->read_timeout : &mm->write_timeout;
				*dst = (unsigned)secs;
			}
		} else if (!strcmp(k, "tls")) {
			if (strcmp(v, "false")) {
				buf_addf(err, "mysql: tls=%s is not supported (only tls=false)", v);
				ret = -EINVAL;
			}
		} else if (mmy_client_only(k)) {
			continue;
		} else if (strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
				   strlen(k) || !*k || strchr(v, ';')) {
			buf_addf(err, "mysql: unsupported meta URL option '%s'", k);
			ret = -EINVAL;
		} else {
			mm->init = xrealloc(mm->init, (ninit + 2) * sizeof(*mm->init));
			mm->init[ninit++] = xasprintf("SET SESSION %s = %s", k, v);
			mm->init[ninit] = NULL;
		}
	}
	conf_meta_url_release(&tmp);
	return ret;
}

/* [user[:pass]@][net[(addr)]]/db[?params] (see the top of the file). */
static int mmy_params(struct mmy_meta *mm, const char *raw, struct buf *err)
{
	const char *dsn = raw + strlen("mysql://"), *qm, *slash, *at, *na, *lp;
	char *base, *net = NULL, *addr = NULL;
	int ret = 0;

	qm = strchr(dsn, '?');
	base = qm ? xstrndup(dsn, (size_t)(qm - dsn)) : xstrdup(dsn);
	slash = strrchr(base, '/');
	if (!slash || !slash[1]) {
		buf_addf(err, "mysql: the meta URL names no database "
			      "(mysql://user:pass@(host:port)/db)");
		ret = -EINVAL;
		goto out;
	}
	mm->db = xstrdup(slash + 1);
	at = NULL;
	for (const char *p = base; p < slash; p++)
		if (*p == '@')
			at = p;
	if (at) {
		const char *colon = memchr(base, ':', (size_t)(at - base));

		mm->user = xstrndup(base, (size_t)((colon ? colon : at) - base));
		if (colon)
			mm->pass = xstrndup(colon + 1, (size_t)(at - colon - 1));
	}
	na = at ? at + 1 : base;
	lp = memchr(na, '(', (size_t)(slash - na));
	if (lp) {
		const char *rp = slash;

		while (rp > lp && *rp != ')')
			rp--;
		if (rp == lp || rp + 1 != slash) {
			buf_addf(err, "mysql: bad address in the meta URL (net(address)/db)");
			ret = -EINVAL;
			goto out;
		}
		net = xstrndup(na, (size_t)(lp - na));
		addr = xstrndup(lp + 1, (size_t)(rp - lp - 1));
	} else if (slash - na == 3 && !strncmp(na, "tcp", 3)) {
		net = xstrdup("tcp");
	} else if (slash - na == 4 && !strncmp(na, "unix", 4)) {
		net = xstrdup("unix");
	} else {
		net = xstrdup("tcp");
		addr = xstrndup(na, (size_t)(slash - na));
	}
	if (!strcmp(net, "unix")) {
		mm->sock = xstrdup(addr && *addr ? addr : "/tmp/mysql.sock");
		mm->label = xasprintf("mysql unix(%s)/%s", mm->sock, mm->db);
	} else if (!*net || !strcmp(net, "tcp") || !strcmp(net, "tcp6") || !strcmp(net, "tcp4")) {
		const char *a = addr && *addr ? addr : "127.0.0.1:3306", *colon, *hs = a, *he;
		char *endp;

		if (*a == '[') {
			he = strchr(a, ']');
			if (!he) {
				buf_addf(err, "mysql: bad address '%s' in the meta URL", a);
				ret = -EINVAL;
				goto out;
			}
			hs = a + 1;
			colon = he[1] == ':' ? he + 1 : NULL;
		} else {
			colon = strrchr(a, ':');
			he = colon ? colon : a + strlen(a);
		}
		mm->host = xstrndup(hs, (size_t)(he - hs));
		mm->port = 3306;
		if (colon) {
			unsigned long port = strtoul(colon + 1, &endp, 10);

			if (*endp || !colon[1] || !port || port > 65535) {
				buf_addf(err, "mysql: bad port in '%s'", a);
				ret = -EINVAL;
				goto out;
			}
			mm->port = (unsigned)port;
		}
		if (!*mm->host) {
			free(mm->host);
			mm->host = xstrdup("127.0.0.1");
		}
		mm->label = xasprintf("mysql %s:%u/%s", mm->host, mm->port, mm->db);
	} else {
		buf_addf(err, "mysql: unknown network '%s' in the meta URL (tcp or unix)", net);
		ret = -EINVAL;
		goto out;
	}
	if ((!mm->pass || !*mm->pass) && getenv("META_PASSWORD")) {
		free(mm->pass);
		mm->pass = xstrdup(getenv("META_PASSWORD"));
	}
	if (qm && qm[1])
		ret = mmy_query_params(mm, qm + 1, err);
out:
	free(base);
	free(net);
	free(addr);
	return ret;
}

int meta_mysql_open(const struct conf_meta_url *u, struct meta **out, struct buf *err)
{
	struct mmy_meta *mm;
	struct mmy_conn *c;
	int ret;

	pthread_once(&mmy_once, mmy_init_once);
	mm = xcalloc(1, sizeof(*mm));
	mm->base.base.ops = &mmy_ops;
	mm->base.drv = &mmy_driver;
	msql_pool_init(&mm->pool, &mmy_pool_ops, MMY_POOL_MAX, MMY_POOL_WAIT_MS);
	/* A dead server should cost seconds, not the kernel's minutes. */
	mm->connect_timeout = 5;
	mm->read_timeout = 60; /* above innodb_lock_wait_timeout's default 50 s */
	mm->write_timeout = 30;
	mm->charset = xstrdup("utf8mb4");
	ret = mmy_params(mm, u->raw, err);
	mm->pool.label = mm->label;
	if (ret) {
		mmy_close(&mm->base.base);
		return ret;
	}
	/* The first connection proves the server and the credentials. */
	ret = mmy_conn_open(mm, &c, err);
	if (ret) {
		mmy_close(&mm->base.base);
		return -EIO;
	}
	msql_pool_adopt(&mm->pool, &c->pc);
	*out = &mm->base.base;
	return 0;
}
