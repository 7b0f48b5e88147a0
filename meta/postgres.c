/*
 * postgres: the PostgreSQL metadata engine behind `postgres://` URLs, through
 * libpq. The schema, the statements and the record primitives are the ones
 * every SQL engine shares (sqlshared.c); this file keeps PostgreSQL's
 * dialect, its connections and its transactions.
 *
 * URL: postgres://user:password@host[:port]/dbname[?option=value...], as the
 * real client spells it. The options are libpq connection keywords (sslmode,
 * connect_timeout, sslrootcert, application_name, ...); an unknown one is
 * refused at open with a one-line message. An empty password is taken from
 * META_PASSWORD, as JuiceFS does.
 *
 * Concurrency model:
 *  1. A pool of connections (sqlshared.h's, at most MPG_POOL_MAX); a
 *     transaction holds one from begin to commit/abort, the calls outside
 *     transactions hold one for the call. A caller that finds the pool
 *     exhausted waits, bounded, then gets META_ETRANSIENT.
 *  2. Write transactions run SERIALIZABLE, so meta.c's read-check-write
 *     operations behave as under SQLite's single writer; read transactions
 *     run REPEATABLE READ READ ONLY (one snapshot). A serialization failure
 *     or deadlock (SQLSTATE 40001, 40P01), wherever it shows, is -EAGAIN and
 *     meta.c reruns the whole operation.
 *  3. Statements are prepared once per connection (named by their id) and
 *     run with binary results; integers are sent as text, blobs as binary.
 *  4. A connection that failed (lost socket, server restart, admin shutdown)
 *     is closed when it comes back to the pool; the next user opens a fresh
 *     one. While the server cannot be reached, begin and the calls outside
 *     transactions fail with META_ETRANSIENT and meta.c waits it out.
 *  5. Connections never cross fork(): a child abandons its parent's (closing
 *     one would end the parent's session on the shared socket).
 *  6. Round trips: meta.c's transactions run in libpq's pipeline mode. BEGIN
 *     and the writes sqlshared.c queues (no rows, no change count read) are
 *     sent without waiting and answered with the next statement that needs
 *     its rows, or with the COMMIT; one Sync per round trip. A failure among
 *     them aborts the rest (PostgreSQL does) and the transaction rolls back.
 *     A read transaction's COMMIT is sent without waiting for its answer,
 *     which the connection's next user reads before anything else. A
 *     META_TXN_SOLO read sends no BEGIN and no COMMIT: each statement runs
 *     on its own (the Sync after it ends its implicit transaction).
 *
 * Commit outcome (meta-internal.h invariant 6):
 *  - a statement of the transaction failed: PostgreSQL has aborted it, so a
 *    ROLLBACK is sent and the outcome is META_ENOTAPPLIED;
 *  - COMMIT answered "ROLLBACK" or an error with an SQLSTATE: the server
 *    rolled back (-EAGAIN for 40001/40P01, META_ENOTAPPLIED otherwise);
 *  - COMMIT got no answer (connection lost while it was out): unknown, -EIO.
 */
#include <limits.h>
#include <pthread.h>
#include <time.h>

#include <libpq-fe.h>

#include "meta/sqlshared.h"

#define MPG_POOL_MAX 64
#define MPG_POOL_WAIT_MS 5000
#define MPG_MAX_PARAMS 20

struct mpg_meta;

struct mpg_conn {
	struct msql_pconn pc; /* first: the pool's */
	struct mpg_meta *pm;
	PGconn *pg;
	int broken;  /* the connection failed: close it when it comes back */
	int txfailed; /* a statement failed inside the open transaction */
	int txagain;  /* ... with a serialization failure */
	unsigned char prepared[MSQL_NSTMT];
	/* Pipeline mode (rule 6). */
	int pipe;      /* in pipeline mode */
	int unread;    /* the pipeline holds a read's COMMIT and its Sync, unread */
	int synced;    /* the open transaction had a round trip */
	int solo;      /* no BEGIN: each statement on its own (META_TXN_SOLO) */
	int nsent;     /* statements sent since the last Sync */
	int nalloc;
	int *sent_prep; /* per statement sent: the id it prepares, or -1 */
	struct meta_txn txn;
};

struct msql_stmt {
	struct mpg_conn *c;
	int id; /* -1: ad-hoc */
	const char *sql;
	int nparams;
	const char *vals[MPG_MAX_PARAMS];
	int lens[MPG_MAX_PARAMS];
	int fmts[MPG_MAX_PARAMS];
	char num[MPG_MAX_PARAMS][24];
	int bind_err;
	PGresult *res;
	int row, nrows;
	int64_t changes;
};

struct mpg_meta {
	struct msql_meta base; /* first: meta.c and sqlshared.c downcast */
	char *label;           /* "postgres host:port/db", for logs */
	/* libpq keywords and values, NULL-terminated */
	char **keys, **vals;
	struct msql_pool pool;
};

static const struct meta_engine_ops mpg_ops;
static const struct msql_driver mpg_driver;

static struct mpg_meta *mpg_of(struct meta *m)
{
	BUG_ON(!m || m->ops != &mpg_ops);
	return (struct mpg_meta *)m;
}

static struct mpg_conn *mpg_conn_of(struct meta_txn *t)
{
	return t->conn;
}

/* ---------------- errors ---------------- */

/* SQLSTATE classes that mean "the server is not there right now". */
static int mpg_state_transient(const char *st)
{
	return !strncmp(st, "08", 2) ||	  /* connection exception */
	       !strcmp(st, "57P01") ||	  /* admin shutdown */
	       !strcmp(st, "57P02") ||	  /* crash shutdown */
	       !strcmp(st, "57P03") ||	  /* cannot connect now (starting up) */
	       !strcmp(st, "53300");	  /* too many connections */
}

static int mpg_state_again(const char *st)
{
	return !strcmp(st, "40001") || !strcmp(st, "40P01");
}

/*
 * Map a failed result (res may be NULL) to -errno. A lost connection is
 * META_ETRANSIENT and marks the connection broken; callers that need to
 * tell "the server refused" from "no answer" look at the SQLSTATE.
 */
static int mpg_err(struct mpg_conn *c, PGresult *res, const char *what)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : "";
	size_t n;

	if (!msg || !*msg)
		msg = PQerrorMessage(c->pg);
	n = strcspn(msg, "\n");
	if (!st || PQstatus(c->pg) == CONNECTION_BAD) {
		c->broken = 1;
		log_warn("%s: %s: %.*s (connection lost)", c->pm->label, what, (int)n, msg);
		return META_ETRANSIENT;
	}
	if (mpg_state_again(st)) {
		log_debug("%s: %s: %.*s (will retry)", c->pm->label, what, (int)n, msg);
		return -EAGAIN;
	}
	if (mpg_state_transient(st)) {
		c->broken = 1;
		log_warn("%s: %s: %.*s", c->pm->label, what, (int)n, msg);
		return META_ETRANSIENT;
	}
	log_error("%s: %s: %.*s (SQLSTATE %s)", c->pm->label, what, (int)n, msg, st);
	if (!strcmp(st, "23505"))
		return -EEXIST;
	if (!strcmp(st, "53100"))
		return -ENOSPC;
	if (!strcmp(st, "22003"))
		return -ERANGE;
	if (!strcmp(st, "54000"))
		return -E2BIG;
	if (!strcmp(st, "25006"))
		return -EROFS;
	if (!strcmp(st, "53200"))
		return -ENOMEM;
	return -EIO;
}

/* ---------------- connections ---------------- */

/* The pool's close: ours false for a parent's socket, abandoned. */
static void mpg_conn_close(struct msql_pconn *pc, int ours)
{
	struct mpg_conn *c = (struct mpg_conn *)pc;

	if (ours)
		PQfinish(c->pg);
	free(c->sent_prep);
	free(c);
}

static void mpg_conn_free(struct mpg_conn *c)
{
	if (c)
		mpg_conn_close(&c->pc, msql_pconn_ours(&c->pc));
}

static void mpg_notice(void *arg, const char *msg)
{
	UNUSED(arg);
	log_debug("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* A fresh connection; META_ETRANSIENT when the server cannot be reached. */
static int mpg_conn_open(struct mpg_meta *pm, struct mpg_conn **out, struct buf *err)
{
	struct mpg_conn *c = xcalloc(1, sizeof(*c));
	const char *msg;

	msql_pconn_init(&c->pc);
	c->pm = pm;
	c->txn.drv = &mpg_driver;
	c->txn.conn = c;
	c->txn.label = pm->label;
	c->pg = PQconnectdbParams((const char *const *)pm->keys, (const char *const *)pm->vals, 0);
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK) {
		PQsetNoticeProcessor(c->pg, mpg_notice, NULL);
		*out = c;
		return 0;
	}
	msg = c->pg ? PQerrorMessage(c->pg) : "out of memory";
	if (err)
		buf_addf(err, "%s: cannot connect: %.*s", pm->label, (int)strcspn(msg, "\n"), msg);
	log_warn("%s: cannot connect: %.*s", pm->label, (int)strcspn(msg, "\n"), msg);
	mpg_conn_free(c);
	return META_ETRANSIENT;
}

static int mpg_pool_open(struct msql_pool *p, struct msql_pconn **out)
{
	struct mpg_conn *c;
	int ret = mpg_conn_open((struct mpg_meta *)((char *)p - offsetof(struct mpg_meta, pool)),
				&c, NULL);

	if (!ret)
		*out = &c->pc;
	return ret;
}

/* A broken connection, or one left in a transaction, is closed. */
static int mpg_conn_reusable(struct msql_pconn *pc)
{
	struct mpg_conn *c = (struct mpg_conn *)pc;

	return !c->broken && (c->unread || PQtransactionStatus(c->pg) == PQTRANS_IDLE);
}

static const struct msql_pool_ops mpg_pool_ops = {
	.open = mpg_pool_open,
	.close = mpg_conn_close,
	.reusable = mpg_conn_reusable,
};

static int mpg_conn_take(struct mpg_meta *pm, struct mpg_conn **out)
{
	struct msql_pconn *pc;
	int ret = msql_pool_take(&pm->pool, &pc);

	if (!ret)
		*out = (struct mpg_conn *)pc;
	return ret;
}

static void mpg_conn_put(struct mpg_conn *c)
{
	msql_pool_put(&c->pm->pool, &c->pc);
}

/* ---------------- statements (the driver of sqlshared.h) ---------------- */

/* ?N placeholders become $N (sqlshared.h rule 1); our SQL has no '?' elsewhere. */
static char *mpg_dialect_sql(const char *sql)
{
	char *s = xstrdup(sql);

	for (char *p = s; *p; p++)
		if (*p == '?' && p[1] >= '0' && p[1] <= '9')
			*p = '$';
	return s;
}

static const char *mpg_what(const struct msql_stmt *s)
{
	return s->id >= 0 ? msql_stmt_name((enum msql_stmt_id)s->id) : s->sql;
}

static int mpg_prep(struct meta_txn *t, int id, const char *sql, struct msql_stmt **out)
{
	struct msql_stmt *s = xcalloc(1, sizeof(*s));

	s->c = mpg_conn_of(t);
	s->id = id;
	s->sql = id >= 0 ? NULL : sql;
	s->row = -1;
	*out = s;
	return 0;
}

static void mpg_done(struct msql_stmt *s)
{
	if (!s)
		return;
	PQclear(s->res);
	free(s);
}

static int mpg_slot(struct msql_stmt *s, int i)
{
	if (i < 1 || i > MPG_MAX_PARAMS) {
		s->bind_err = 1;
		return -1;
	}
	if (i > s->nparams)
		s->nparams = i;
	return i - 1;
}

static void mpg_bind_i64(struct msql_stmt *s, int i, int64_t v)
{
	int k = mpg_slot(s, i);

	if (k < 0)
		return;
	snprintf(s->num[k], sizeof(s->num[k]), "%lld", (long long)v);
	s->vals[k] = s->num[k];
	s->lens[k] = 0;
	s->fmts[k] = 0;
}

static void mpg_bind_null(struct msql_stmt *s, int i)
{
	int k = mpg_slot(s, i);

	if (k >= 0)
		s->vals[k] = NULL;
}

/* Bound without copying: the statement runs before the caller's data goes away. */
static void mpg_bind_blob(struct msql_stmt *s, int i, const void *p, size_t n)
{
	int k = mpg_slot(s, i);

	if (k < 0)
		return;
	if (n > INT_MAX) {
		s->bind_err = 1;
		return;
	}
	s->vals[k] = p ? p : "";
	s->lens[k] = (int)n;
	s->fmts[k] = 1;
}

static void mpg_bind_text(struct msql_stmt *s, int i, const char *str)
{
	int k = mpg_slot(s, i);

	if (k < 0)
		return;
	s->vals[k] = str;
	s->lens[k] = 0;
	s->fmts[k] = 0;
}

/* Note a failure inside an open transaction: PostgreSQL has aborted it. */
static int mpg_tx_fail(struct mpg_conn *c, int ret)
{
	if (c->txn.active || PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
		c->txfailed = 1;
		if (ret == -EAGAIN)
			c->txagain = 1;
	}
	return ret;
}

/* ---------------- pipeline (rule 6) ---------------- */

static int mpg_step(struct msql_stmt *s);

static void mpg_pipe_sent(struct mpg_conn *c, int prep_id)
{
	if (c->nsent == c->nalloc) {
		c->nalloc = c->nalloc ? 2 * c->nalloc : 16;
		c->sent_prep = xrealloc(c->sent_prep, (size_t)c->nalloc * sizeof(*c->sent_prep));
	}
	c->sent_prep[c->nsent++] = prep_id;
}

/* Send the statement of s (preparing it first if this connection has not). */
static int mpg_pipe_send(struct msql_stmt *s)
{
	struct mpg_conn *c = s->c;
	char name[16];

	snprintf(name, sizeof(name), "s%d", s->id);
	if (!c->prepared[s->id]) {
		char *sql = mpg_dialect_sql(msql_stmt_sql(MSQL_PG, (enum msql_stmt_id)s->id));
		int ok = PQsendPrepare(c->pg, name, sql, 0, NULL);

		free(sql);
		if (!ok)
			goto lost;
		c->prepared[s->id] = 1;
		mpg_pipe_sent(c, s->id);
	}
	if (!PQsendQueryPrepared(c->pg, name, s->nparams, s->vals, s->lens, s->fmts, 1))
		goto lost;
	mpg_pipe_sent(c, -1);
	return 0;
lost:
	return mpg_tx_fail(c, mpg_err(c, NULL, mpg_what(s)));
}

/*
 * End a round trip: Sync (unless one is out already, unread) and read the
 * answers of everything sent. *failed is the index of the first statement
 * that failed, or -1; with last, the answer of the last statement is kept
 * there (its status unchecked). A statement's failure is recorded as the
 * transaction's (mpg_tx_fail); the result is its error or 0.
 */
static int mpg_pipe_read(struct mpg_conn *c, PGresult **last, int *failed, const char *what)
{
	int n = c->nsent, ret = 0;
	PGresult *res, *extra;

	*failed = -1;
	if (last)
		*last = NULL;
	if (!c->unread && PQpipelineSync(c->pg) != 1) {
		c->broken = 1;
		*failed = 0;
		return mpg_tx_fail(c, META_ETRANSIENT);
	}
	c->unread = 0;
	c->nsent = 0;
	c->synced = 1;
	for (int i = 0; i < n; i++) {
		ExecStatusType st;

		res = PQgetResult(c->pg);
		if (!res) {
			c->broken = 1;
			if (*failed < 0)
				*failed = i;
			ret = ret ? ret : META_ETRANSIENT;
			break;
		}
		while ((extra = PQgetResult(c->pg))) /* the NULL that ends an answer */
			PQclear(extra);
		st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			if (c->sent_prep[i] >= 0)
				c->prepared[c->sent_prep[i]] = 0;
			if (*failed < 0) {
				*failed = i;
				if (st == PGRES_PIPELINE_ABORTED) {
					log_error("%s: %s: pipeline aborted", c->pm->label, what);
					ret = -EIO;
				} else {
					ret = mpg_err(c, res, i == n - 1 ? what : "queued statement");
				}
			}
		}
		if (last && i == n - 1)
			*last = res;
		else
			PQclear(res);
	}
	if (!c->broken) {
		res = PQgetResult(c->pg);
		if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
			c->broken = 1;
		PQclear(res);
	}
	if (c->broken && !ret)
		ret = META_ETRANSIENT;
	return ret ? mpg_tx_fail(c, ret) : 0;
}

/* Read whatever the pipeline holds and leave pipeline mode; errors are the caller's to know. */
static int mpg_pipe_end(struct mpg_conn *c)
{
	int failed, ret = 0;

	if (!c->pipe)
		return 0;
	if (!c->broken && (c->nsent || c->unread))
		ret = mpg_pipe_read(c, NULL, &failed, "pipeline");
	c->unread = 0;
	c->nsent = 0;
	if (!c->broken && PQexitPipelineMode(c->pg) != 1)
		c->broken = 1;
	c->pipe = 0;
	return c->broken ? META_ETRANSIENT : ret;
}

static int mpg_run(struct msql_stmt *s)
{
	struct mpg_conn *c = s->c;
	PGresult *res;
	char name[16];
	int ret;

	if (s->bind_err) {
		log_error("%s: %s: bad parameter", c->pm->label, mpg_what(s));
		return -E2BIG;
	}
	if (c->broken)
		return META_ETRANSIENT;
	if (c->pipe && s->id >= 0) {
		int failed;

		ret = mpg_pipe_send(s);
		if (ret)
			return ret;
		ret = mpg_pipe_read(c, &res, &failed, mpg_what(s));
		if (ret) {
			PQclear(res);
			return ret;
		}
	} else if (c->pipe) {
		ret = mpg_pipe_end(c);
		if (ret)
			return mpg_tx_fail(c, ret);
	}
	if (c->pipe) {
		/* res is the answer, read above */
	} else if (s->id < 0) {
		res = PQexecParams(c->pg, s->sql, s->nparams, NULL, s->vals, s->lens, s->fmts, 1);
	} else {
		snprintf(name, sizeof(name), "s%d", s->id);
		if (!c->prepared[s->id]) {
			char *sql = mpg_dialect_sql(msql_stmt_sql(MSQL_PG, (enum msql_stmt_id)s->id));

			res = PQprepare(c->pg, name, sql, 0, NULL);
			free(sql);
			if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
				ret = mpg_err(c, res, mpg_what(s));
				PQclear(res);
				return mpg_tx_fail(c, ret);
			}
			PQclear(res);
			c->prepared[s->id] = 1;
		}
		res = PQexecPrepared(c->pg, name, s->nparams, s->vals, s->lens, s->fmts, 1);
	}
	switch (res ? PQresultStatus(res) : PGRES_FATAL_ERROR) {
	case PGRES_TUPLES_OK:
		s->nrows = PQntuples(res);
		s->changes = 0;
		break;
	case PGRES_COMMAND_OK: {
		const char *n = PQcmdTuples(res);

		s->nrows = 0;
		s->changes = n && *n ? strtoll(n, NULL, 10) : 0;
		break;
	}
	default:
		ret = mpg_err(c, res, mpg_what(s));
		PQclear(res);
		return mpg_tx_fail(c, ret);
	}
	s->res = res;
	return 0;
}

/* A write of an open transaction: sent now, answered with the next round trip. */
static int mpg_queue(struct msql_stmt *s)
{
	struct mpg_conn *c = s->c;

	if (!c->pipe || s->id < 0) {
		int ret;

		while ((ret = mpg_step(s)) == 1)
			;
		return ret;
	}
	s->res = NULL;
	s->row = s->nrows = 0;
	if (s->bind_err) {
		log_error("%s: %s: bad parameter", c->pm->label, mpg_what(s));
		return -E2BIG;
	}
	if (c->broken)
		return META_ETRANSIENT;
	return mpg_pipe_send(s);
}

/* 1 a row, 0 done, <0 error; the statement runs on the first step. */
static int mpg_step(struct msql_stmt *s)
{
	int ret;

	if (!s->res) {
		ret = mpg_run(s);
		if (ret)
			return ret;
	}
	if (s->row + 1 < s->nrows) {
		s->row++;
		return 1;
	}
	s->row = s->nrows;
	return 0;
}

/* Binary integers are big-endian, 2, 4 or 8 bytes; NULL reads as 0. */
static int64_t mpg_col_i64(struct msql_stmt *s, int col)
{
	const unsigned char *p;
	int len;
	uint64_t v = 0;

	if (s->row < 0 || s->row >= s->nrows || PQgetisnull(s->res, s->row, col))
		return 0;
	p = (const unsigned char *)PQgetvalue(s->res, s->row, col);
	len = PQgetlength(s->res, s->row, col);
	for (int i = 0; i < len && i < 8; i++)
		v = v << 8 | p[i];
	if (len == 2)
		return (int16_t)v;
	if (len == 4)
		return (int32_t)v;
	return (int64_t)v;
}

/* libpq ends every value, binary ones too, with a NUL. */
static const void *mpg_col_blob(struct msql_stmt *s, int col, size_t *n)
{
	if (s->row < 0 || s->row >= s->nrows || PQgetisnull(s->res, s->row, col)) {
		*n = 0;
		return "";
	}
	*n = (size_t)PQgetlength(s->res, s->row, col);
	return PQgetvalue(s->res, s->row, col);
}

static const char *mpg_col_text(struct msql_stmt *s, int col, size_t *n)
{
	return mpg_col_blob(s, col, n);
}

static int64_t mpg_changes(struct msql_stmt *s)
{
	return s->changes;
}

/* A statement without parameters or rows (transaction control, DDL). */
static int mpg_exec_conn(struct mpg_conn *c, const char *sql)
{
	PGresult *res;
	int ret = 0;

	if (c->pipe && (ret = mpg_pipe_end(c)))
		return mpg_tx_fail(c, ret);
	if (c->broken)
		return META_ETRANSIENT;
	res = PQexec(c->pg, sql);
	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
		     PQresultStatus(res) != PGRES_TUPLES_OK))
		ret = mpg_tx_fail(c, mpg_err(c, res, sql));
	PQclear(res);
	return ret;
}

/* ---------------- transactions ---------------- */

static void mpg_rollback(struct mpg_conn *c)
{
	mpg_pipe_end(c);
	c->solo = 0;
	if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		PGresult *res = PQexec(c->pg, "ROLLBACK");

		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
			c->broken = 1;
		PQclear(res);
	}
	c->txfailed = 0;
	c->txagain = 0;
}

/*
 * BEGIN on a pooled connection, queued in a pipeline (rule 6). One that died
 * while idle (a server restart) and fails here, reading the previous user's
 * COMMIT, is dropped and a fresh one tried once; one that fails later fails
 * its first statement with META_ETRANSIENT, nothing applied.
 */
static int mpg_begin_on(struct mpg_meta *pm, int write, struct mpg_conn **out)
{
	struct mpg_conn *c;
	int ret;

	for (int tries = 0;; tries++) {
		ret = mpg_conn_take(pm, &c);
		if (ret)
			return ret;
		c->txfailed = 0;
		c->txagain = 0;
		c->synced = 0;
		c->solo = write == META_TXN_SOLO;
		/* The previous user's read COMMIT: a dead connection shows here. */
		ret = mpg_pipe_end(c) ? META_ETRANSIENT : 0;
		if (!ret && PQenterPipelineMode(c->pg) == 1) {
			c->pipe = 1;
			if (c->solo) {
				*out = c;
				return 0;
			}
			if (PQsendQueryParams(c->pg,
					      msql_stmt_sql(MSQL_PG, write ? MSQL_BEGIN_W : MSQL_BEGIN_R),
					      0, NULL, NULL, NULL, NULL, 1)) {
				mpg_pipe_sent(c, -1);
				*out = c;
				return 0;
			}
		}
		if (!ret)
			ret = mpg_err(c, NULL, "BEGIN");
		c->broken = 1;
		mpg_conn_put(c);
		if (ret != META_ETRANSIENT || tries)
			return ret;
	}
}

static int mpg_begin(struct meta *m, int write, struct meta_txn **t)
{
	struct mpg_conn *c = NULL;
	int ret = mpg_begin_on(mpg_of(m), write, &c);

	if (ret)
		return ret;
	c->txn.active = 1;
	c->txn.write = write == 1;
	c->txn.new_slice = 0;
	*t = &c->txn;
	return 0;
}

/* The outcome of COMMIT (see the top of the file). */
static int mpg_commit_conn(struct mpg_conn *c)
{
	PGresult *res;
	const char *st;
	int ret;

	if (c->txfailed) {
		ret = c->txagain ? -EAGAIN : META_ENOTAPPLIED;
		mpg_rollback(c);
		return c->broken && ret != -EAGAIN ? META_ENOTAPPLIED : ret;
	}
	if (c->broken)
		return META_ETRANSIENT; /* lost before COMMIT was sent: the server rolls back */
	if (c->solo) {
		/* No transaction was opened: nothing to end. */
		c->solo = 0;
		mpg_pipe_end(c); /* the reads are done; a dead connection is dropped at put */
		return 0;
	}
	if (c->pipe) {
		int failed, n;

		if (!c->txn.write) {
			/* A read's COMMIT: its answer changes nothing we return. */
			if (PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 1) &&
			    PQpipelineSync(c->pg) == 1) {
				mpg_pipe_sent(c, -1);
				c->unread = 1;
			} else {
				c->broken = 1;
			}
			return 0;
		}
		/*
		 * Writes never answered yet are answered first, so that a
		 * connection found dead here means "not applied".
		 */
		if (!c->synced && mpg_pipe_read(c, NULL, &failed, "BEGIN")) {
			if (!c->broken)
				return mpg_commit_conn(c); /* the failure path above */
			mpg_rollback(c);
			return META_ETRANSIENT;
		}
		if (!PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 1)) {
			c->broken = 1;
			return META_ETRANSIENT;
		}
		mpg_pipe_sent(c, -1);
		n = c->nsent;
		ret = mpg_pipe_read(c, &res, &failed, "COMMIT");
		if (failed >= 0 && failed < n - 1 && !c->broken) {
			/* A queued write failed: COMMIT did not run. */
			PQclear(res);
			ret = c->txagain ? -EAGAIN : META_ENOTAPPLIED;
			mpg_rollback(c);
			return ret;
		}
		c->txfailed = 0;
		c->txagain = 0;
		if (!c->broken && PQexitPipelineMode(c->pg) != 1)
			c->broken = 1;
		c->pipe = 0;
		if (c->broken) {
			PQclear(res);
			log_error("%s: commit: %.*s (outcome unknown)", c->pm->label,
				  (int)strcspn(PQerrorMessage(c->pg), "\n"), PQerrorMessage(c->pg));
			return -EIO;
		}
	} else {
		res = PQexec(c->pg, "COMMIT");
	}
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		ret = strcmp(PQcmdStatus(res), "COMMIT") ? META_ENOTAPPLIED : 0;
		if (ret)
			log_error("%s: commit: the transaction was rolled back", c->pm->label);
		PQclear(res);
		return ret;
	}
	st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (st && PQstatus(c->pg) == CONNECTION_OK) {
		/* The server answered: it rolled the transaction back. */
		ret = mpg_err(c, res, "COMMIT");
		if (ret != -EAGAIN && ret != -ENOSPC)
			ret = META_ENOTAPPLIED;
		mpg_rollback(c);
	} else {
		log_error("%s: commit: %.*s (outcome unknown)", c->pm->label,
			  (int)strcspn(PQerrorMessage(c->pg), "\n"), PQerrorMessage(c->pg));
		c->broken = 1;
		ret = -EIO;
	}
	PQclear(res);
	return ret;
}

static int mpg_commit(struct meta_txn *t)
{
	struct mpg_conn *c = mpg_conn_of(t);
	int ret;

	BUG_ON(!t->active);
	ret = mpg_commit_conn(c);
	t->active = 0;
	t->new_slice = 0;
	mpg_conn_put(c);
	return ret;
}

static void mpg_abort(struct meta_txn *t)
{
	struct mpg_conn *c;

	if (!t)
		return;
	c = mpg_conn_of(t);
	BUG_ON(!t->active);
	/* A read that failed no statement ends as a COMMIT would: not waited for. */
	if (!t->write && !c->txfailed && !c->broken)
		mpg_commit_conn(c);
	else
		mpg_rollback(c);
	t->active = 0;
	t->new_slice = 0;
	mpg_conn_put(c);
}

/* ---------------- engine-internal use (sqlshared.c) ---------------- */

static int mpg_acquire(struct meta *m, struct meta_txn **t)
{
	struct mpg_meta *pm = mpg_of(m);
	struct mpg_conn *c;
	int ret;

	/* A pooled connection that died while idle is noticed by a cheap check. */
	for (int tries = 0;; tries++) {
		ret = mpg_conn_take(pm, &c);
		if (ret)
			return ret;
		c->txfailed = 0;
		if (tries || (mpg_pipe_end(c) != META_ETRANSIENT &&
			      mpg_exec_conn(c, "SELECT 1") != META_ETRANSIENT))
			break;
		mpg_conn_put(c);
	}
	c->txfailed = 0;
	c->txagain = 0;
	*t = &c->txn;
	return 0;
}

static void mpg_release(struct meta_txn *t)
{
	mpg_conn_put(mpg_conn_of(t));
}

static int mpg_tx_begin(struct meta_txn *t, int write)
{
	struct mpg_conn *c = mpg_conn_of(t);

	c->txfailed = 0;
	c->txagain = 0;
	return mpg_exec_conn(c, msql_stmt_sql(MSQL_PG, write ? MSQL_BEGIN_W : MSQL_BEGIN_R));
}

static int mpg_tx_commit(struct meta_txn *t)
{
	return mpg_commit_conn(mpg_conn_of(t));
}

static void mpg_tx_rollback(struct meta_txn *t)
{
	mpg_rollback(mpg_conn_of(t));
}

static int mpg_exec(struct meta_txn *t, const char *sql)
{
	return mpg_exec_conn(mpg_conn_of(t), sql);
}

static const struct msql_driver mpg_driver = {
	.dialect = MSQL_PG,
	.acquire = mpg_acquire,
	.release = mpg_release,
	.tx_begin = mpg_tx_begin,
	.tx_commit = mpg_tx_commit,
	.tx_rollback = mpg_tx_rollback,
	.exec = mpg_exec,
	.prep = mpg_prep,
	.bind_i64 = mpg_bind_i64,
	.bind_null = mpg_bind_null,
	.bind_blob = mpg_bind_blob,
	.bind_text = mpg_bind_text,
	.step = mpg_step,
	.col_i64 = mpg_col_i64,
	.col_blob = mpg_col_blob,
	.col_text = mpg_col_text,
	.changes = mpg_changes,
	.queue = mpg_queue,
	.done = mpg_done,
};

/* ---------------- lifecycle ---------------- */

static void mpg_free_params(struct mpg_meta *pm)
{
	for (size_t i = 0; pm->keys && pm->keys[i]; i++) {
		free(pm->keys[i]);
		free(pm->vals[i]);
	}
	free(pm->keys);
	free(pm->vals);
}

static void mpg_close(struct meta *m)
{
	struct mpg_meta *pm;

	if (!m)
		return;
	pm = mpg_of(m);
	msql_pool_destroy(&pm->pool);
	mpg_free_params(pm);
	free(pm->label);
	free(pm);
}

static const struct meta_engine_ops mpg_ops = {
	.name = "postgres",
	.solo_reads = 1,
	.close = mpg_close,
	.begin = mpg_begin,
	.commit = mpg_commit,
	.abort = mpg_abort,
	.get_attrs = msql_get_attrs,
	.get_dir_entry = msql_get_dir_entry,
	MSQL_PRIMITIVE_OPS,
};

static void mpg_param(struct mpg_meta *pm, size_t *n, const char *k, const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(pm->keys[i], k)) {
			free(pm->vals[i]);
			pm->vals[i] = xstrdup(v);
			return;
		}
	pm->keys = xrealloc(pm->keys, (*n + 2) * sizeof(*pm->keys));
	pm->vals = xrealloc(pm->vals, (*n + 2) * sizeof(*pm->vals));
	pm->keys[*n] = xstrdup(k);
	pm->vals[*n] = xstrdup(v);
	(*n)++;
	pm->keys[*n] = NULL;
	pm->vals[*n] = NULL;
}

/* Is k a libpq connection keyword? */
static int mpg_known_keyword(const char *k)
{
	PQconninfoOption *opts = PQconndefaults(), *o;
	int found = 0;

	for (o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, k))
			found = 1;
	PQconninfoFree(opts);
	return found;
}

/*
 * libpq parameters from the URL: "h1:p1,h2" becomes host "h1,h2" and port
 * "p1,5432"; "[v6]:p" loses its brackets.
 */
static int mpg_params(struct mpg_meta *pm, const struct conf_meta_url *u, struct buf *err)
{
	struct buf hosts = BUF_INIT, ports = BUF_INIT;
	const char *h = u->hosts, *pass = u->password;
	size_t n = 0;
	int ret = 0;

	while (*h) {
		size_t len = strcspn(h, ",");
		const char *end = h + len, *colon = NULL, *hs = h, *he;

		if (*h == '[') {
			const char *rb = memchr(h, ']', len);

			hs = h + 1;
			he = rb ? rb : end;
			if (rb && rb + 1 < end && rb[1] == ':')
				colon = rb + 1;
		} else {
			colon = memrchr(h, ':', len);
			he = colon ? colon : end;
		}
		if (hosts.len) {
			buf_adds(&hosts, ",");
			buf_adds(&ports, ",");
		}
		buf_add(&hosts, hs, (size_t)(he - hs));
		if (colon && colon + 1 < end)
			buf_add(&ports, colon + 1, (size_t)(end - colon - 1));
		else
			buf_adds(&ports, "5432");
		h = *end ? end + 1 : end;
	}
	if (!u->path || strlen(u->path) < 2) {
		buf_addf(err, "postgres: the meta URL names no database (postgres://user:pass@host:port/db)");
		ret = -EINVAL;
		goto out;
	}
	mpg_param(pm, &n, "host", hosts.len ? hosts.ptr : "localhost");
	mpg_param(pm, &n, "port", ports.len ? ports.ptr : "5432");
	mpg_param(pm, &n, "dbname", u->path + 1);
	if (u->user && *u->user)
		mpg_param(pm, &n, "user", u->user);
	if ((!pass || !*pass) && getenv("META_PASSWORD"))
		pass = getenv("META_PASSWORD");
	if (pass && *pass)
		mpg_param(pm, &n, "password", pass);
	/* A dead server should cost seconds, not the kernel's minutes. */
	mpg_param(pm, &n, "connect_timeout", "5");
	mpg_param(pm, &n, "keepalives_idle", "5");
	mpg_param(pm, &n, "keepalives_interval", "2");
	mpg_param(pm, &n, "keepalives_count", "3");
	mpg_param(pm, &n, "tcp_user_timeout", "15000");
	mpg_param(pm, &n, "application_name", "juicefs");
	for (size_t i = 0; i < u->nquery; i++) {
		const char *k = u->query[i].key;

		if (!strcmp(k, "_jfs_create"))
			continue;
		if (!mpg_known_keyword(k) || !strcmp(k, "dbname") || !strcmp(k, "host") ||
		    !strcmp(k, "hostaddr") || !strcmp(k, "port")) {
			buf_addf(err, "postgres: unsupported meta URL option '%s'", k);
			ret = -EINVAL;
			goto out;
		}
		mpg_param(pm, &n, k, u->query[i].val ? u->query[i].val : "");
	}
	pm->label = xasprintf("postgres %s/%s", u->hosts && *u->hosts ? u->hosts : "localhost",
			      u->path + 1);
	pm->pool.label = pm->label;
out:
	buf_release(&hosts);
	buf_release(&ports);
	return ret;
}

int meta_postgres_open(const struct conf_meta_url *u, struct meta **out, struct buf *err)
{
	struct mpg_meta *pm;
	struct mpg_conn *c;
	int ret;

	pm = xcalloc(1, sizeof(*pm));
	pm->base.base.ops = &mpg_ops;
	pm->base.drv = &mpg_driver;
	msql_pool_init(&pm->pool, &mpg_pool_ops, MPG_POOL_MAX, MPG_POOL_WAIT_MS);
	ret = mpg_params(pm, u, err);
	if (ret) {
		mpg_close(&pm->base.base);
		return ret;
	}
	/* The first connection proves the server and the credentials. */
	ret = mpg_conn_open(pm, &c, err);
	if (ret) {
		mpg_close(&pm->base.base);
		return -EIO;
	}
	msql_pool_adopt(&pm->pool, &c->pc);
	*out = &pm->base.base;
	return 0;
}
