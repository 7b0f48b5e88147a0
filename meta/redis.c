/*
 * redis: the metadata engine behind `redis://`, `unix://` (and, refused with a
 * one-line reason, `rediss://`) URLs, speaking JuiceFS's own Redis schema
 * (spec §3) through hiredis, so a volume can be shared with the real client.
 *
 * Transactions are optimistic, as JuiceFS does them: every key a write
 * transaction reads is WATCHed just before it is read, writes are only
 * buffered (as formatted commands) and go out in one MULTI/EXEC at commit. A
 * nil EXEC reply means a watched key changed: commit returns -EAGAIN and
 * meta.c reruns the operation. Hot counters (usedSpace, totalInodes, dir
 * stats) are changed with INCRBY/HINCRBY and never watched, so independent
 * operations do not conflict on them.
 *
 * Invariants:
 *  1. A transaction's reads see its own buffered writes: each write is also
 *     recorded in a small overlay (per key, or per hash field / set or zset
 *     member) that every read consults after fetching the server's value.
 *     Reads of a key the transaction has cleared never go to the server.
 *  2. Nothing reaches the server before commit except WATCH, reads, and
 *     alloc_ids (INCRBY of an id counter, which must survive aborts anyway).
 *  3. One connection per thread (a pthread key), created lazily and dropped on
 *     any I/O or protocol error; the next use reconnects. While Redis restarts
 *     (connection refused or reset, LOADING, BUSY, MASTERDOWN, TRYAGAIN)
 *     primitives fail with META_ETRANSIENT and meta.c waits it out, bounded;
 *     other failures are -EIO, and the process recovers by itself.
 *     A thread holds at most one write transaction (its WATCHes live on the
 *     connection); a second one gets -EDEADLK.
 *  4. Engine semantics translated here (meta-internal.h invariant 4): id
 *     counters store the last id handed out under lower-case names
 *     (nextinode, nextchunk, nextsession; nextTrash keeps its case), and
 *     sliceRef stores refcount-1 with an absent field meaning 1.
 *  5. Commit outcome (meta-internal.h invariant 6): MULTI, the commands and
 *     EXEC are written out completely before any reply is read. A failure
 *     before the last byte of EXEC left us, a nil EXEC (WATCH conflict) and
 *     an error EXEC (EXECABORT: a queued command was refused; LOADING) mean
 *     nothing was applied (-ENOSPC when a command was refused for
 *     maxmemory). Once EXEC was sent, a lost reply is unknown.
 *
 * Topologies: standalone (one host or a unix socket), Sentinel (the master is
 * asked of the sentinels at every connect, so a failover is followed on the
 * next reconnect) and Cluster (keys prefixed "{db}" so they share one hash
 * slot; the owner of that slot is found with CLUSTER SLOTS and a MOVED/ASK
 * reply re-targets the connection and retries the operation).
 */
#include <ctype.h>
#include <pthread.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "meta/meta-internal.h"

#define RD_KEY_MAX 128
#define RD_SCAN_COUNT "1000"

enum rd_mode { RD_STANDALONE, RD_UNIX, RD_SENTINEL, RD_CLUSTER };

struct rd_addr {
	char *host;
	int port;
};

struct rd_conn;
struct rd_dirsnap;

struct rd_meta {
	struct meta base;
	enum rd_mode mode;
	char prefix[16]; /* "" or "{db}" (Cluster) */
	struct rd_addr *addrs; /* host, sentinels or cluster seeds */
	size_t naddrs;
	char *sock;
	char *master; /* Sentinel master name */
	char *user, *password;
	int db;
	struct timeval conn_tv, rw_tv;
	pthread_key_t key;
	pthread_mutex_t mu; /* guards conns and target */
	struct rd_conn *conns;
	struct rd_addr target; /* Cluster: node owning our slot (host NULL = unknown) */
	pthread_mutex_t dc_mu; /* guards dc and the snapshots' refs */
	struct rd_dirsnap *dc[4]; /* sorted directory snapshots (rd_scan_entries) */
};

struct rd_conn {
	struct rd_meta *rm;
	redisContext *ctx;
	pid_t pid;
	int in_write;
	struct rd_conn *next;
};

/* Overlay entry kinds. */
enum { RD_VAL, RD_DEL, RD_INCR, RD_LIST };

struct rd_ent {
	char *key;
	char *field; /* NULL: the whole key */
	size_t flen;
	int kind;
	char *val; /* RD_VAL value, RD_LIST appended bytes */
	size_t vlen;
	int64_t delta;
	int cleared; /* RD_LIST: the list was deleted first */
};

struct rd_cmd {
	char *s;
	int len;
};

struct meta_txn {
	struct rd_meta *rm;
	struct rd_conn *c;
	int write;
	struct rd_ent *ents;
	size_t nents, aents;
	char **watched;
	size_t nwatched, awatched;
	struct rd_cmd *cmds;
	size_t ncmds, acmds;
};

/* A field/value pair of a merged hash, set (val NULL) or zset (val = score). */
struct rd_pair {
	char *f;
	size_t flen;
	char *v;
	size_t vlen;
};

struct rd_pairs {
	struct rd_pair *p;
	size_t n, a;
};

static struct rd_meta *rd_of(struct meta *m)
{
	return (struct rd_meta *)m;
}

/* ---------------- connections ---------------- */

static void rd_conn_drop(struct rd_conn *c)
{
	if (c->ctx)
		redisFree(c->ctx);
	c->ctx = NULL;
	c->in_write = 0;
}

static void rd_conn_dtor(void *p)
{
	struct rd_conn *c = p, **pp;
	struct rd_meta *rm = c->rm;

	pthread_mutex_lock(&rm->mu);
	for (pp = &rm->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&rm->mu);
	if (c->pid == getpid())
		rd_conn_drop(c);
	free(c);
}

/* Error replies a restarting or failing-over server gives for a while. */
static int rd_transient_reply(const char *err)
{
	static const char *const codes[] = { "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN" };

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		size_t n = strlen(codes[i]);
		if (!strncmp(err, codes[i], n) && (err[n] == ' ' || !err[n]))
			return 1;
	}
	return 0;
}

/* Redis over maxmemory with noeviction refuses writes: the volume is full. */
static int rd_oom_reply(const char *err)
{
	return !strncmp(err, "OOM ", 4);
}

/* A connection that failed the way one does while the server restarts. */
static int rd_transient_io(int err, int sys_errno)
{
	if (err == REDIS_ERR_EOF)
		return 1;
	return err == REDIS_ERR_IO && (sys_errno == ECONNREFUSED || sys_errno == ECONNRESET ||
				       sys_errno == EPIPE || sys_errno == ENOENT);
}

/* Set by rd_connect_addr when the last connect failed transiently (per thread). */
static __thread int rd_connect_transient;

static redisContext *rd_connect_addr(struct rd_meta *rm, const char *host, int port)
{
	redisContext *ctx;

	rd_connect_transient = 0;
	if (host)
		ctx = redisConnectWithTimeout(host, port, rm->conn_tv);
	else
		ctx = redisConnectUnixWithTimeout(rm->sock, rm->conn_tv);
	if (!ctx)
		return NULL;
	if (ctx->err) {
		rd_connect_transient = rd_transient_io(ctx->err, errno);
		log_warn("redis: connect to %s:%d: %s", host ? host : rm->sock, port, ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, rm->rw_tv);
	return ctx;
}

/* Sends a command on a fresh context; 0 if the reply is not an error. */
static int rd_simple(redisContext *ctx, const char *what, redisReply **out, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(ctx, fmt, ap);
	va_end(ap);
	if (!r) {
		int transient = rd_transient_io(ctx->err, errno);
		log_warn("redis: %s: %s", what, ctx->errstr);
		return transient ? META_ETRANSIENT : -EIO;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		int transient = rd_transient_reply(r->str);
		log_warn("redis: %s: %s", what, r->str);
		freeReplyObject(r);
		return transient ? META_ETRANSIENT : -EIO;
	}
	if (out)
		*out = r;
	else
		freeReplyObject(r);
	return 0;
}

static int rd_auth(struct rd_meta *rm, redisContext *ctx)
{
	if (!*rm->password)
		return 0;
	if (*rm->user)
		return rd_simple(ctx, "AUTH", NULL, "AUTH %s %s", rm->user, rm->password);
	return rd_simple(ctx, "AUTH", NULL, "AUTH %s", rm->password);
}

/* Sentinel: ask each sentinel in turn for the current master's address. */
static int rd_sentinel_master(struct rd_meta *rm, char **host, int *port)
{
	for (size_t i = 0; i < rm->naddrs; i++) {
		redisContext *ctx = rd_connect_addr(rm, rm->addrs[i].host, rm->addrs[i].port);
		redisReply *r = NULL;
		const char *sp = getenv("SENTINEL_PASSWORD");

		if (!ctx)
			continue;
		if ((!sp || !*sp || !rd_simple(ctx, "AUTH", NULL, "AUTH %s", sp)) &&
		    !rd_simple(ctx, "SENTINEL get-master-addr-by-name", &r,
			       "SENTINEL get-master-addr-by-name %s", rm->master) &&
		    r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    !parse_int(r->element[1]->str, port)) {
			*host = xstrdup(r->element[0]->str);
			freeReplyObject(r);
			redisFree(ctx);
			return 0;
		}
		if (r)
			freeReplyObject(r);
		redisFree(ctx);
	}
	log_warn("redis: no sentinel knows master \"%s\"", rm->master);
	return -EIO;
}

/* CRC16-XMODEM, the Redis Cluster key-slot hash. */
static unsigned rd_crc16(const char *p, size_t n)
{
	unsigned crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (unsigned)(uint8_t)p[i] << 8;
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc;
}

/* Every key carries "{db}", so the slot is that of the db text. */
static unsigned rd_slot(const struct rd_meta *rm)
{
	size_t n = strlen(rm->prefix);

	return rd_crc16(rm->prefix + 1, n - 2) % 16384;
}

/* Cluster: find the node serving our slot through any reachable node. */
static int rd_cluster_locate(struct rd_meta *rm, char **host, int *port)
{
	unsigned slot = rd_slot(rm);

	for (size_t i = 0; i < rm->naddrs; i++) {
		redisContext *ctx = rd_connect_addr(rm, rm->addrs[i].host, rm->addrs[i].port);
		redisReply *r = NULL;

		if (!ctx)
			continue;
		if (!rd_auth(rm, ctx) &&
		    !rd_simple(ctx, "CLUSTER SLOTS", &r, "CLUSTER SLOTS") &&
		    r->type == REDIS_REPLY_ARRAY) {
			for (size_t j = 0; j < r->elements; j++) {
				redisReply *e = r->element[j], *node;
				if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
				    e->element[0]->integer > slot || e->element[1]->integer < slot)
					continue;
				node = e->element[2];
				if (node->type != REDIS_REPLY_ARRAY || node->elements < 2)
					continue;
				*host = xstrdup(node->element[0]->str && *node->element[0]->str ?
							node->element[0]->str :
							rm->addrs[i].host);
				*port = (int)node->element[1]->integer;
				freeReplyObject(r);
				redisFree(ctx);
				return 0;
			}
		}
		if (r)
			freeReplyObject(r);
		redisFree(ctx);
	}
	log_warn("redis: no cluster node serves slot %u", slot);
	return -EIO;
}

static int rd_connect(struct rd_conn *c)
{
	struct rd_meta *rm = c->rm;
	char *host = NULL;
	int port = 0, ret = 0;

	switch (rm->mode) {
	case RD_UNIX:
		break;
	case RD_STANDALONE:
		host = xstrdup(rm->addrs[0].host);
		port = rm->addrs[0].port;
		break;
	case RD_SENTINEL:
		ret = rd_sentinel_master(rm, &host, &port);
		break;
	case RD_CLUSTER:
		pthread_mutex_lock(&rm->mu);
		if (rm->target.host) {
			host = xstrdup(rm->target.host);
			port = rm->target.port;
		}
		pthread_mutex_unlock(&rm->mu);
		if (!host)
			ret = rd_cluster_locate(rm, &host, &port);
		break;
	}
	if (ret)
		return ret;
	c->ctx = rd_connect_addr(rm, host, port);
	if (!c->ctx) {
		if (rm->mode == RD_CLUSTER) {
			/* The node may be gone: relearn the slot owner next time. */
			pthread_mutex_lock(&rm->mu);
			free(rm->target.host);
			rm->target.host = NULL;
			pthread_mutex_unlock(&rm->mu);
		}
		ret = rd_connect_transient ? META_ETRANSIENT : -EIO;
		goto out;
	}
	ret = rd_auth(rm, c->ctx);
	if (!ret && rm->db && rm->mode != RD_CLUSTER)
		ret = rd_simple(c->ctx, "SELECT", NULL, "SELECT %d", rm->db);
	if (ret)
		rd_conn_drop(c);
out:
	free(host);
	return ret;
}

static int rd_conn_get(struct rd_meta *rm, struct rd_conn **out)
{
	struct rd_conn *c = pthread_getspecific(rm->key);

	if (c && c->pid != getpid()) {
		/* Inherited over fork: the socket is shared with the parent; abandon it. */
		c->ctx = NULL;
		c = NULL;
	}
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->rm = rm;
		c->pid = getpid();
		pthread_setspecific(rm->key, c);
		pthread_mutex_lock(&rm->mu);
		c->next = rm->conns;
		rm->conns = c;
		pthread_mutex_unlock(&rm->mu);
	}
	if (c->ctx && c->ctx->err)
		rd_conn_drop(c);
	if (!c->ctx) {
		int ret = rd_connect(c);
		if (ret)
			return ret;
	}
	*out = c;
	return 0;
}

/* Cluster: "MOVED 1234 host:port" / "ASK ..." re-targets us at that node. */
static int rd_redirect(struct rd_conn *c, const char *err)
{
	struct rd_meta *rm = c->rm;
	const char *sp, *colon;
	int port;

	if (rm->mode != RD_CLUSTER || (strncmp(err, "MOVED ", 6) && strncmp(err, "ASK ", 4)))
		return 0;
	sp = strrchr(err, ' ');
	colon = sp ? strrchr(sp, ':') : NULL;
	if (!colon || parse_int(colon + 1, &port))
		return 0;
	pthread_mutex_lock(&rm->mu);
	free(rm->target.host);
	rm->target.host = xstrndup(sp + 1, (size_t)(colon - sp - 1));
	rm->target.port = port;
	pthread_mutex_unlock(&rm->mu);
	rd_conn_drop(c);
	return 1;
}

/*
 * Checks a reply: NULL (connection failure) drops the connection; an error
 * reply is logged. Returns 0, -EAGAIN (cluster redirect: rerun) or -EIO.
 */
static int rd_check(struct rd_conn *c, redisReply *r, const char *what)
{
	if (!r) {
		int transient = c->ctx && rd_transient_io(c->ctx->err, errno);
		log_warn("redis: %s: %s", what, c->ctx ? c->ctx->errstr : "no connection");
		rd_conn_drop(c);
		return transient ? META_ETRANSIENT : -EIO;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (rd_redirect(c, r->str))
			return -EAGAIN;
		if (rd_transient_reply(r->str)) {
			log_warn("redis: %s: %s (will retry)", what, r->str);
			return META_ETRANSIENT;
		}
		log_error("redis: %s: %s", what, r->str);
		return rd_oom_reply(r->str) ? -ENOSPC : -EIO;
	}
	return 0;
}

/* One command outside any transaction. */
static int rd_cmd(struct rd_conn *c, redisReply **out, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	int ret;

	va_start(ap, fmt);
	r = redisvCommand(c->ctx, fmt, ap);
	va_end(ap);
	ret = rd_check(c, r, fmt);
	if (ret || !out) {
		if (r)
			freeReplyObject(r);
		return ret;
	}
	*out = r;
	return 0;
}

/* ---------------- keys ---------------- */

static void rd_key(const struct rd_meta *rm, char *k, const char *fmt, ...) JFS_PRINTF(3, 4);
static void rd_key(const struct rd_meta *rm, char *k, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(rm->prefix);

	memcpy(k, rm->prefix, n);
	va_start(ap, fmt);
	vsnprintf(k + n, RD_KEY_MAX - n, fmt, ap);
	va_end(ap);
}

/*
 * rd_key(rm, k, "<c>%llu", ino) without printf, its length returned: a
 * listing page names a few thousand inode keys (perf: vsnprintf).
 */
static size_t rd_ino_key(const struct rd_meta *rm, char *k, char c, uint64_t ino)
{
	size_t n = strlen(rm->prefix), i = 20;
	char d[20];

	memcpy(k, rm->prefix, n);
	k[n++] = c;
	do {
		d[--i] = (char)('0' + ino % 10);
		ino /= 10;
	} while (ino);
	memcpy(k + n, d + i, 20 - i);
	n += 20 - i;
	k[n] = 0;
	return n;
}

/*
 * A command in RESP, appended to b by hand: pipelines of a thousand
 * commands spent most of their time in hiredis's format parsing (perf:
 * redisvFormatCommand, sprintf). Sent with redisAppendFormattedCommand.
 */
static void rd_resp_hdr(struct buf *b, size_t argc)
{
	buf_addch(b, '*');
	buf_add_u64(b, argc);
	buf_add(b, "\r\n", 2);
}

static void rd_resp_arg(struct buf *b, const void *p, size_t n)
{
	buf_addch(b, '$');
	buf_add_u64(b, n);
	buf_add(b, "\r\n", 2);
	buf_add(b, p, n);
	buf_add(b, "\r\n", 2);
}

/*
 * Replies that are bulk strings, nils, or one array of those (GET, HGET,
 * MGET), delivered value by value to a callback instead of as reply
 * objects: a listing page's thousand HGET replies and thousand MGET
 * elements were a calloc, a malloc and two frees each (perf). With hiredis
 * 0.x the reader's object callbacks deliver them as they are parsed (the
 * sink is per thread, as the connection is, and installed only around one
 * redisGetReply); other versions walk the reply objects.
 */
struct rd_vsink {
	void (*val)(struct rd_vsink *v, size_t i, const char *s, size_t len); /* s NULL: nil */
	void *arg;
	size_t i;   /* the index of a top-level value; an array's elements add theirs */
	size_t n;   /* values delivered */
	int bad;    /* a reply of another shape */
	char errstr[128]; /* an error reply's text */
};

static void rd_vsink_put(struct rd_vsink *v, const redisReadTask *task, int type, const char *s,
			 size_t len)
{
	if (!task->parent && type == REDIS_REPLY_ERROR) {
		size_t n = MIN(len, sizeof(v->errstr) - 1);

		memcpy(v->errstr, s, n);
		v->errstr[n] = 0;
	} else if ((type != REDIS_REPLY_STRING && type != REDIS_REPLY_NIL) ||
		   (task->parent && task->parent->parent)) {
		v->bad = 1;
	} else {
		v->val(v, v->i + (task->parent ? (size_t)task->idx : 0), s, len);
		v->n++;
	}
}

#if HIREDIS_MAJOR == 0
static __thread struct rd_vsink *rd_vs;
static char rd_vs_obj; /* what every callback returns: nothing is built */

static void *rd_vs_string(const redisReadTask *task, char *str, size_t len)
{
	rd_vsink_put(rd_vs, task, task->type, str, len);
	return &rd_vs_obj;
}

static void *rd_vs_array(const redisReadTask *task, int elements)
{
	(void)elements;
	if (task->parent)
		rd_vs->bad = 1;
	return &rd_vs_obj;
}

static void *rd_vs_integer(const redisReadTask *task, long long v)
{
	(void)task;
	(void)v;
	rd_vs->bad = 1;
	return &rd_vs_obj;
}

static void *rd_vs_nil(const redisReadTask *task)
{
	rd_vsink_put(rd_vs, task, REDIS_REPLY_NIL, NULL, 0);
	return &rd_vs_obj;
}

static void rd_vs_free(void *obj)
{
	(void)obj;
}

static redisReplyObjectFunctions rd_vs_fns = {
	rd_vs_string, rd_vs_array, rd_vs_integer, rd_vs_nil, rd_vs_free,
};
#endif

static int rd_check(struct rd_conn *c, redisReply *r, const char *what);

/*
 * The next reply into v: 0, an error reply's code (rd_check), or -EIO for
 * another shape. A lost connection is dropped (c->ctx NULL after): read no
 * further replies then.
 */
static int rd_get_values(struct rd_conn *c, struct rd_vsink *v, const char *what)
{
	int ok;

	v->bad = 0;
	v->errstr[0] = 0;
	if (!c->ctx)
		return META_ETRANSIENT;
#if HIREDIS_MAJOR == 0
	redisReplyObjectFunctions *fns = c->ctx->reader->fn;
	void *r = NULL;

	c->ctx->reader->fn = &rd_vs_fns;
	rd_vs = v;
	ok = redisGetReply(c->ctx, &r) == REDIS_OK;
	rd_vs = NULL;
	c->ctx->reader->fn = fns;
#else
	redisReply *r = NULL;

	ok = redisGetReply(c->ctx, (void **)&r) == REDIS_OK;
	if (ok) {
		redisReadTask top = { 0 };

		if (r->type == REDIS_REPLY_ARRAY) {
			for (size_t j = 0; j < r->elements; j++) {
				redisReply *e = r->element[j];
				redisReadTask el = { .idx = (int)j, .parent = &top };

				rd_vsink_put(v, &el, e->type, e->type == REDIS_REPLY_NIL ? NULL : e->str,
					     e->len);
			}
		} else if (r->type == REDIS_REPLY_INTEGER) {
			v->bad = 1;
		} else {
			rd_vsink_put(v, &top, r->type, r->type == REDIS_REPLY_NIL ? NULL : r->str,
				     r->len);
		}
		freeReplyObject(r);
	}
#endif
	if (!ok)
		return rd_check(c, NULL, what);
	if (v->errstr[0]) {
		redisReply er = { .type = REDIS_REPLY_ERROR, .str = v->errstr,
				  .len = strlen(v->errstr) };

		return rd_check(c, &er, what);
	}
	if (v->bad) {
		log_error("redis: %s: unexpected reply", what);
		return -EIO;
	}
	return 0;
}

#define KEY(t, k, ...)            \
	char k[RD_KEY_MAX];       \
	rd_key((t)->rm, k, __VA_ARGS__)

/* Counter names of the primitive table → Redis keys; `last` = stores last id handed out. */
static const char *rd_counter_key(const char *name, int *last)
{
	*last = 0;
	if (!strcmp(name, "nextInode")) {
		*last = 1;
		return "nextinode";
	}
	if (!strcmp(name, "nextChunk")) {
		*last = 1;
		return "nextchunk";
	}
	if (!strcmp(name, "nextSession"))
		return "nextsession";
	return name;
}

/* ---------------- transaction overlay ---------------- */

static int rd_watched(struct meta_txn *t, const char *key)
{
	for (size_t i = 0; i < t->nwatched; i++)
		if (!strcmp(t->watched[i], key))
			return 1;
	return 0;
}

/*
 * A read of `key` inside t: WATCH it first (write transactions, once per key)
 * in the same round trip as the read itself.
 */
static int rd_read(struct meta_txn *t, const char *key, redisReply **out, const char *fmt, ...)
{
	struct rd_conn *c = t->c;
	redisReply *r = NULL;
	va_list ap;
	int watch = t->write && key && !rd_watched(t, key), ret;

	if (!c->ctx)
		return META_ETRANSIENT; /* dropped earlier in this transaction */
	if (watch)
		redisAppendCommand(c->ctx, "WATCH %s", key);
	va_start(ap, fmt);
	redisvAppendCommand(c->ctx, fmt, ap);
	va_end(ap);
	if (watch) {
		if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
			r = NULL;
		ret = rd_check(c, r, "WATCH");
		if (r)
			freeReplyObject(r);
		if (ret)
			return ret;
		if (t->nwatched == t->awatched) {
			t->awatched = t->awatched ? 2 * t->awatched : 16;
			t->watched = xrealloc(t->watched, t->awatched * sizeof(*t->watched));
		}
		t->watched[t->nwatched++] = xstrdup(key);
	}
	r = NULL;
	if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
		r = NULL;
	ret = rd_check(c, r, key ? key : fmt);
	if (ret) {
		if (r)
			freeReplyObject(r);
		return ret;
	}
	*out = r;
	return 0;
}

static void rd_queue(struct meta_txn *t, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = redisvFormatCommand(&s, fmt, ap);
	va_end(ap);
	BUG_ON(n < 0 || !s);
	if (t->ncmds == t->acmds) {
		t->acmds = t->acmds ? 2 * t->acmds : 16;
		t->cmds = xrealloc(t->cmds, t->acmds * sizeof(*t->cmds));
	}
	t->cmds[t->ncmds].s = s;
	t->cmds[t->ncmds].len = n;
	t->ncmds++;
}

static void rd_ent_free(struct rd_ent *e)
{
	free(e->key);
	free(e->field);
	free(e->val);
}

static struct rd_ent *rd_find(struct meta_txn *t, const char *key, const char *field, size_t flen)
{
	for (size_t i = t->nents; i-- > 0;) {
		struct rd_ent *e = &t->ents[i];
		if (strcmp(e->key, key))
			continue;
		if (!field && !e->field)
			return e;
		if (field && e->field && e->flen == flen && !memcmp(e->field, field, flen))
			return e;
	}
	return NULL;
}

/* The entry for (key, field), created empty (kind RD_VAL, no value) when missing. */
static struct rd_ent *rd_slot_ent(struct meta_txn *t, const char *key, const char *field,
				  size_t flen)
{
	struct rd_ent *e = rd_find(t, key, field, flen);

	if (e)
		return e;
	if (t->nents == t->aents) {
		t->aents = t->aents ? 2 * t->aents : 16;
		t->ents = xrealloc(t->ents, t->aents * sizeof(*t->ents));
	}
	e = &t->ents[t->nents++];
	memset(e, 0, sizeof(*e));
	e->key = xstrdup(key);
	if (field) {
		e->field = xmemdup(field, flen ? flen : 1);
		e->flen = flen;
	}
	e->kind = -1;
	return e;
}

static void rd_ov_set(struct meta_txn *t, const char *key, const char *field, size_t flen,
		      const void *val, size_t vlen)
{
	struct rd_ent *e = rd_slot_ent(t, key, field, flen);

	free(e->val);
	e->kind = RD_VAL;
	e->val = xmemdup(val, vlen ? vlen : 1);
	e->vlen = vlen;
}

static void rd_ov_del_field(struct meta_txn *t, const char *key, const char *field, size_t flen)
{
	struct rd_ent *e = rd_slot_ent(t, key, field, flen);

	free(e->val);
	e->val = NULL;
	e->vlen = 0;
	e->kind = RD_DEL;
}

/* Whole key deleted: forget everything recorded for it, then mark it gone. */
static void rd_ov_del_key(struct meta_txn *t, const char *key)
{
	size_t j = 0;

	for (size_t i = 0; i < t->nents; i++) {
		if (!strcmp(t->ents[i].key, key))
			rd_ent_free(&t->ents[i]);
		else
			t->ents[j++] = t->ents[i];
	}
	t->nents = j;
	rd_slot_ent(t, key, NULL, 0)->kind = RD_DEL;
}

static void rd_ov_incr(struct meta_txn *t, const char *key, const char *field, size_t flen,
		       int64_t delta)
{
	struct rd_ent *e = rd_find(t, key, field, flen), *k;
	int64_t base = 0;
	char num[32];

	if (!e) {
		k = field ? rd_find(t, key, NULL, 0) : NULL;
		if (!k || k->kind != RD_DEL) {
			e = rd_slot_ent(t, key, field, flen);
			e->kind = RD_INCR;
			e->delta = delta;
			return;
		}
		/* The hash was deleted in this transaction: the field restarts at 0. */
	} else if (e->kind == RD_INCR) {
		e->delta += delta;
		return;
	} else if (e->kind == RD_VAL) {
		char tmp[32];
		size_t n = MIN(e->vlen, sizeof(tmp) - 1);
		memcpy(tmp, e->val, n);
		tmp[n] = 0;
		if (parse_i64(tmp, &base))
			base = 0;
	}
	snprintf(num, sizeof(num), "%lld", (long long)(base + delta));
	rd_ov_set(t, key, field, flen, num, strlen(num));
}

/* ---------------- overlay-aware reads ---------------- */

static int rd_parse_int(const char *s, size_t n, int64_t *v)
{
	char tmp[32];

	if (n >= sizeof(tmp))
		return -EIO;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return parse_i64(tmp, v) ? -EIO : 0;
}

/*
 * String value of key (field NULL) or hash field: 1 found (copied to out),
 * 0 absent, <0 error.
 */
static int rd_get_value(struct meta_txn *t, const char *key, const char *field, size_t flen,
			struct buf *out)
{
	struct rd_ent *e = rd_find(t, key, field, flen), *k = NULL;
	redisReply *r;
	int64_t delta = 0, v;
	int ret, found;

	if (field && !e)
		k = rd_find(t, key, NULL, 0);
	if (e && e->kind == RD_VAL) {
		buf_reset(out);
		buf_add(out, e->val, e->vlen);
		return 1;
	}
	if ((e && e->kind == RD_DEL) || (k && k->kind == RD_DEL && !e))
		return 0;
	if (e && e->kind == RD_INCR)
		delta = e->delta;
	if (field)
		ret = rd_read(t, key, &r, "HGET %s %b", key, field, flen);
	else
		ret = rd_read(t, key, &r, "GET %s", key);
	if (ret)
		return ret;
	found = r->type == REDIS_REPLY_STRING;
	buf_reset(out);
	if (found)
		buf_add(out, r->str, r->len);
	freeReplyObject(r);
	if (e && e->kind == RD_INCR) {
		char num[32];
		v = 0;
		if (found && rd_parse_int(out->ptr, out->len, &v)) {
			log_error("redis: %s is not an integer", key);
			return -EIO;
		}
		snprintf(num, sizeof(num), "%lld", (long long)(v + delta));
		buf_reset(out);
		buf_adds(out, num);
		found = 1;
	}
	return found;
}

static int rd_get_int(struct meta_txn *t, const char *key, const char *field, size_t flen,
		      int64_t *v, int *found)
{
	struct buf b = BUF_INIT;
	int ret = rd_get_value(t, key, field, flen, &b);

	if (ret < 0)
		goto out;
	*v = 0;
	if (found)
		*found = ret;
	if (ret && rd_parse_int(b.ptr, b.len, v)) {
		log_error("redis: %s %.*s holds \"%.*s\", not an integer", key,
			  field ? (int)flen : 0, field ? field : "", (int)MIN(b.len, 40), b.ptr);
		ret = -EIO;
		goto out;
	}
	ret = 0;
out:
	buf_release(&b);
	return ret;
}

static void rd_pairs_add(struct rd_pairs *ps, const char *f, size_t flen, const char *v,
			 size_t vlen)
{
	struct rd_pair *p;

	if (ps->n == ps->a) {
		ps->a = ps->a ? 2 * ps->a : 16;
		ps->p = xrealloc(ps->p, ps->a * sizeof(*ps->p));
	}
	p = &ps->p[ps->n++];
	p->f = xmemdup(f, flen + 1);
	p->f[flen] = 0;
	p->flen = flen;
	p->v = xmemdup(v ? v : "", vlen + 1);
	p->v[vlen] = 0;
	p->vlen = vlen;
}

static void rd_pairs_free(struct rd_pairs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->p[i].f);
		free(ps->p[i].v);
	}
	free(ps->p);
	memset(ps, 0, sizeof(*ps));
}

enum rd_coll { RD_HASH, RD_SET, RD_ZSET };

/* Apply the overlay entry of one server field; 1 keep (value maybe replaced), 0 drop. */
static int rd_merge_one(struct meta_txn *t, const char *key, struct rd_pairs *ps, const char *f,
			size_t flen, const char *v, size_t vlen)
{
	struct rd_ent *e = rd_find(t, key, f, flen);

	if (!e) {
		rd_pairs_add(ps, f, flen, v, vlen);
		return 0;
	}
	if (e->kind == RD_DEL)
		return 0;
	if (e->kind == RD_VAL) {
		rd_pairs_add(ps, f, flen, e->val, e->vlen);
		return 0;
	}
	if (e->kind == RD_INCR) {
		int64_t x = 0;
		char num[32];
		if (rd_parse_int(v, vlen, &x))
			return -EIO;
		snprintf(num, sizeof(num), "%lld", (long long)(x + e->delta));
		rd_pairs_add(ps, f, flen, num, strlen(num));
	}
	return 0;
}

/* All fields (members) of a hash, set or zset as this transaction sees them. */
static int rd_collect(struct meta_txn *t, const char *key, enum rd_coll type, struct rd_pairs *ps)
{
	struct rd_ent *k = rd_find(t, key, NULL, 0);
	redisReply *r = NULL;
	int ret = 0;

	memset(ps, 0, sizeof(*ps));
	if (!k || k->kind != RD_DEL) {
		size_t step = type == RD_SET ? 1 : 2;
		if (type == RD_HASH)
			ret = rd_read(t, key, &r, "HGETALL %s", key);
		else if (type == RD_SET)
			ret = rd_read(t, key, &r, "SMEMBERS %s", key);
		else
			ret = rd_read(t, key, &r, "ZRANGE %s 0 -1 WITHSCORES", key);
		if (ret)
			return ret;
		if (r->type != REDIS_REPLY_ARRAY) {
			log_error("redis: %s has the wrong type", key);
			ret = -EIO;
			goto out;
		}
		for (size_t i = 0; i + step <= r->elements; i += step) {
			redisReply *f = r->element[i], *v = step == 2 ? r->element[i + 1] : NULL;
			ret = rd_merge_one(t, key, ps, f->str, f->len, v ? v->str : NULL,
					   v ? v->len : 0);
			if (ret)
				goto out;
		}
	}
	/* Fields only the overlay knows. */
	for (size_t i = 0; i < t->nents; i++) {
		struct rd_ent *e = &t->ents[i];
		int seen = 0;
		if (!e->field || strcmp(e->key, key) || e->kind == RD_DEL)
			continue;
		if (r && (!k || k->kind != RD_DEL)) {
			size_t step = type == RD_SET ? 1 : 2;
			for (size_t j = 0; j + step <= r->elements && !seen; j += step)
				seen = r->element[j]->len == e->flen &&
				       !memcmp(r->element[j]->str, e->field, e->flen);
		}
		if (seen)
			continue;
		if (e->kind == RD_VAL) {
			rd_pairs_add(ps, e->field, e->flen, e->val, e->vlen);
		} else if (e->kind == RD_INCR) {
			char num[32];
			snprintf(num, sizeof(num), "%lld", (long long)e->delta);
			rd_pairs_add(ps, e->field, e->flen, num, strlen(num));
		}
	}
out:
	if (r)
		freeReplyObject(r);
	if (ret)
		rd_pairs_free(ps);
	return ret;
}

/* Keys matching a glob (SCAN), merged with keys the overlay knows and minus deleted ones. */
static int rd_scan_keys(struct meta_txn *t, const char *pattern, struct rd_pairs *keys)
{
	char cursor[32] = "0";
	int ret = 0;

	memset(keys, 0, sizeof(*keys));
	do {
		redisReply *r;
		ret = rd_read(t, NULL, &r, "SCAN %s MATCH %s COUNT " RD_SCAN_COUNT, cursor,
			      pattern);
		if (ret)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			ret = -EIO;
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *k = r->element[1]->element[i];
			struct rd_ent *e = rd_find(t, k->str, NULL, 0);
			int dup = 0;
			if (e && e->kind == RD_DEL)
				continue;
			/* SCAN may return a key twice. */
			for (size_t j = 0; j < keys->n && !dup; j++)
				dup = !strcmp(keys->p[j].f, k->str);
			if (!dup)
				rd_pairs_add(keys, k->str, k->len, NULL, 0);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	if (ret) {
		rd_pairs_free(keys);
		return ret;
	}
	return 0;
}

/* ---------------- transactions ---------------- */

static void rd_txn_free(struct meta_txn *t)
{
	for (size_t i = 0; i < t->nents; i++)
		rd_ent_free(&t->ents[i]);
	free(t->ents);
	for (size_t i = 0; i < t->nwatched; i++)
		free(t->watched[i]);
	free(t->watched);
	for (size_t i = 0; i < t->ncmds; i++)
		redisFreeCommand(t->cmds[i].s);
	free(t->cmds);
	free(t);
}

static int rd_begin(struct meta *m, int write, struct meta_txn **out)
{
	struct rd_conn *c;
	struct meta_txn *t;
	int ret = rd_conn_get(rd_of(m), &c);

	if (ret)
		return ret;
	if (write && c->in_write) {
		log_error("redis: nested write transaction on one thread");
		return -EDEADLK;
	}
	t = xcalloc(1, sizeof(*t));
	t->rm = rd_of(m);
	t->c = c;
	t->write = write;
	if (write)
		c->in_write = 1;
	*out = t;
	return 0;
}

static void rd_abort(struct meta_txn *t)
{
	struct rd_conn *c;

	if (!t)
		return;
	c = t->c;
	if (t->write) {
		if (c->ctx && t->nwatched) {
			redisReply *r = redisCommand(c->ctx, "UNWATCH");
			if (rd_check(c, r, "UNWATCH") && c->ctx)
				rd_conn_drop(c);
			if (r)
				freeReplyObject(r);
		}
		c->in_write = 0;
	}
	rd_txn_free(t);
}

static int rd_commit(struct meta_txn *t)
{
	struct rd_conn *c = t->c;
	redisReply *r = NULL;
	int ret = 0, bad = 0, multi_failed = 0, ran_outside = 0, done = 0;

	if (!t->write || !t->ncmds) {
		rd_abort(t);
		return 0;
	}
	if (!c->ctx) {
		ret = META_ETRANSIENT; /* dropped during the transaction: nothing sent */
		goto out;
	}
	/* One round trip: MULTI, the buffered commands, EXEC. */
	redisAppendCommand(c->ctx, "MULTI");
	for (size_t i = 0; i < t->ncmds; i++)
		redisAppendFormattedCommand(c->ctx, t->cmds[i].s, (size_t)t->cmds[i].len);
	redisAppendCommand(c->ctx, "EXEC");
	/* Until EXEC's last byte is out the server cannot have run anything (rule 5). */
	while (!done) {
		if (redisBufferWrite(c->ctx, &done) == REDIS_ERR) {
			int transient = rd_transient_io(c->ctx->err, errno);
			log_warn("redis: commit: %s", c->ctx->errstr);
			rd_conn_drop(c);
			ret = transient ? META_ETRANSIENT : META_ENOTAPPLIED;
			goto out;
		}
	}
	for (size_t i = 0; i < t->ncmds + 2; i++) {
		r = NULL;
		if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK) {
			/* EXEC went out: it may have run, only its answer is lost */
			log_warn("redis: commit: %s (outcome unknown)", c->ctx->errstr);
			rd_conn_drop(c);
			ret = -EIO;
			goto out;
		}
		if (i == t->ncmds + 1)
			break;
		if (r->type == REDIS_REPLY_ERROR) {
			int transient = rd_transient_reply(r->str);
			if (i == 0)
				multi_failed = 1;
			/* A queued command was refused: EXEC will be aborted. */
			if (!rd_redirect(c, r->str))
				log_warn("redis: commit: command %zu refused: %s", i, r->str);
			if (!bad && !c->ctx)
				bad = -EAGAIN;
			else if (!bad)
				bad = transient ? META_ETRANSIENT :
				      rd_oom_reply(r->str) ? -ENOSPC : META_ENOTAPPLIED;
		} else if (multi_failed) {
			ran_outside = 1; /* without MULTI the commands run one by one */
		}
		freeReplyObject(r);
		if (!c->ctx) {
			/* MOVED/ASK dropped the connection before EXEC's reply was read */
			ret = multi_failed ? -EIO : -EAGAIN;
			goto out;
		}
	}
	if (ran_outside) {
		log_error("redis: commit: MULTI refused but commands ran (outcome unknown)");
		ret = -EIO;
	} else if (r->type == REDIS_REPLY_NIL) {
		ret = bad ? bad : -EAGAIN; /* a watched key changed */
	} else if (r->type == REDIS_REPLY_ERROR) {
		/* EXECABORT, LOADING, ...: EXEC ran nothing */
		if (!bad)
			log_warn("redis: EXEC: %s", r->str);
		ret = bad ? bad : rd_transient_reply(r->str) ? META_ETRANSIENT : META_ENOTAPPLIED;
	} else if (r->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_ERROR) {
				/* Applied except this one: a schema violation (wrong type). */
				log_error("redis: commit: command %zu failed: %s", i,
					  r->element[i]->str);
				ret = -EIO;
			}
	} else {
		ret = -EIO;
	}
	freeReplyObject(r);
out:
	c->in_write = 0; /* EXEC (or the dropped connection) released the WATCHes */
	rd_txn_free(t);
	return ret;
}

/* ---------------- outside transactions ---------------- */

static int rd_get_setting(struct meta *m, struct buf *json)
{
	struct rd_meta *rm = rd_of(m);
	struct rd_conn *c;
	redisReply *r;
	char k[RD_KEY_MAX];
	int ret = rd_conn_get(rm, &c);

	if (ret)
		return ret;
	rd_key(rm, k, "setting");
	ret = rd_cmd(c, &r, "GET %s", k);
	if (ret)
		return ret;
	if (r->type == REDIS_REPLY_STRING) {
		buf_reset(json);
		buf_add(json, r->str, r->len);
	} else if (r->type == REDIS_REPLY_NIL) {
		ret = -ENOENT;
	} else {
		log_error("redis: key %s is not a string: not a JuiceFS database", k);
		ret = -EINVAL;
	}
	freeReplyObject(r);
	return ret;
}

/* Redis needs no schema; the connection is still checked. */
static int rd_init_schema(struct meta *m)
{
	struct rd_conn *c;

	return rd_conn_get(rd_of(m), &c);
}

static int rd_reset(struct meta *m)
{
	struct rd_meta *rm = rd_of(m);
	struct rd_conn *c;
	char cursor[32] = "0", pat[RD_KEY_MAX];
	int ret = rd_conn_get(rm, &c);

	if (ret)
		return ret;
	if (!*rm->prefix)
		return rd_cmd(c, NULL, "FLUSHDB");
	/* Cluster: only our "{db}" keys; other databases share the cluster. */
	rd_key(rm, pat, "*");
	do {
		redisReply *r;
		ret = rd_cmd(c, &r, "SCAN %s MATCH %s COUNT " RD_SCAN_COUNT, cursor, pat);
		if (ret)
			return ret;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			return -EIO;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements && !ret; i++)
			ret = rd_cmd(c, NULL, "DEL %b", r->element[1]->element[i]->str,
				     r->element[1]->element[i]->len);
		freeReplyObject(r);
	} while (!ret && strcmp(cursor, "0"));
	return ret;
}

/* Cluster: any key with our "{db}" prefix; otherwise DBSIZE, as the real load checks. */
static int rd_is_empty(struct meta *m, int *empty)
{
	struct rd_meta *rm = rd_of(m);
	struct rd_conn *c;
	redisReply *r;
	char pat[RD_KEY_MAX];
	int ret = rd_conn_get(rm, &c);

	if (ret)
		return ret;
	if (!*rm->prefix) {
		ret = rd_cmd(c, &r, "DBSIZE");
		if (ret)
			return ret;
		if (r->type != REDIS_REPLY_INTEGER) {
			freeReplyObject(r);
			return -EIO;
		}
		*empty = r->integer == 0;
		freeReplyObject(r);
		return 0;
	}
	rd_key(rm, pat, "*");
	char cursor[32] = "0";
	*empty = 1;
	do {
		ret = rd_cmd(c, &r, "SCAN %s MATCH %s COUNT " RD_SCAN_COUNT, cursor, pat);
		if (ret)
			return ret;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			return -EIO;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		if (r->element[1]->elements)
			*empty = 0;
		freeReplyObject(r);
	} while (*empty && strcmp(cursor, "0"));
	return 0;
}

/* INCRBY hands out [v+1-n, v+1): Redis counters hold the last id given (spec §1.2). */
static int rd_alloc_ids(struct meta *m, const char *counter, uint64_t n, uint64_t *first)
{
	struct rd_meta *rm = rd_of(m);
	struct rd_conn *c;
	redisReply *r;
	char k[RD_KEY_MAX];
	int last, ret;

	if (!n || n > INT64_MAX)
		return -EINVAL;
	ret = rd_conn_get(rm, &c);
	if (ret)
		return ret;
	rd_key(rm, k, "%s", rd_counter_key(counter, &last));
	ret = rd_cmd(c, &r, "INCRBY %s %llu", k, (unsigned long long)n);
	if (ret)
		return ret;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < (long long)n) {
		log_error("redis: INCRBY %s gave an unexpected reply", k);
		ret = -EIO;
	} else {
		*first = (uint64_t)r->integer - n + 1;
	}
	freeReplyObject(r);
	return ret;
}

/* ---------------- settings and counters ---------------- */

static int rd_set_setting(struct meta_txn *t, const char *json)
{
	KEY(t, k, "setting");
	rd_queue(t, "SET %s %s", k, json);
	rd_ov_set(t, k, NULL, 0, json, strlen(json));
	return 0;
}

/*
 * nextinode/nextchunk hold the last id handed out while the primitive table
 * speaks of the next free one (the SQL meaning), hence the ±1.
 */
static int rd_get_counter(struct meta_txn *t, const char *name, int64_t *v)
{
	int last;
	KEY(t, k, "%s", rd_counter_key(name, &last));
	int ret = rd_get_int(t, k, NULL, 0, v, NULL);

	if (!ret && last)
		*v += 1;
	return ret;
}

static int rd_incr_counter(struct meta_txn *t, const char *name, int64_t delta, int64_t *newv)
{
	int last, ret;
	KEY(t, k, "%s", rd_counter_key(name, &last));

	if (newv) {
		ret = rd_get_int(t, k, NULL, 0, newv, NULL);
		if (ret)
			return ret;
		*newv += delta + (last ? 1 : 0);
	}
	rd_queue(t, "INCRBY %s %lld", k, (long long)delta);
	rd_ov_incr(t, k, NULL, 0, delta);
	return 0;
}

static int rd_set_counter(struct meta_txn *t, const char *name, int64_t v)
{
	char num[32];
	int last;
	KEY(t, k, "%s", rd_counter_key(name, &last));

	snprintf(num, sizeof(num), "%lld", (long long)(last ? v - 1 : v));
	rd_queue(t, "SET %s %s", k, num);
	rd_ov_set(t, k, NULL, 0, num, strlen(num));
	return 0;
}

/* ---------------- nodes ---------------- */

static int rd_get_attr(struct meta_txn *t, uint64_t ino, struct meta_attr *a)
{
	struct buf b = BUF_INIT;
	KEY(t, k, "i%llu", (unsigned long long)ino);
	int ret = rd_get_value(t, k, NULL, 0, &b);

	if (ret == 0)
		ret = -ENOENT;
	else if (ret > 0 && meta_attr_decode((const uint8_t *)b.ptr, b.len, a)) {
		log_error("redis: %s holds a malformed attribute (%zu bytes)", k, b.len);
		ret = -EIO;
	} else if (ret > 0) {
		ret = 0;
	}
	buf_release(&b);
	return ret;
}

/*
 * Readdir-plus: one MGET per 512 entries instead of a GET each. Only in read
 * transactions; a write transaction keeps the per-key path, which WATCHes
 * each key and sees the transaction's own pending writes.
 */
#define RD_MGET_BATCH 512

struct rd_attr_sink {
	const uint64_t *inos;
	struct meta_attr *a;
	uint8_t *found;
	int err;
};

static void rd_attr_val(struct rd_vsink *v, size_t i, const char *s, size_t len)
{
	struct rd_attr_sink *as = v->arg;

	as->found[i] = s != NULL;
	if (s && meta_attr_decode((const uint8_t *)s, len, &as->a[i])) {
		log_error("redis: i%llu holds a malformed attribute (%zu bytes)",
			  (unsigned long long)as->inos[i], len);
		as->err = -EIO;
	}
}

static int rd_get_attrs(struct meta_txn *t, const uint64_t *inos, size_t n, struct meta_attr *a,
			uint8_t *found)
{
	struct rd_conn *c = t->c;
	int ret = 0;

	if (t->write) {
		for (size_t i = 0; i < n && !ret; i++) {
			ret = rd_get_attr(t, inos[i], &a[i]);
			found[i] = ret == 0;
			if (ret == -ENOENT)
				ret = 0;
		}
		return ret;
	}
	if (!c->ctx)
		return META_ETRANSIENT;
	struct buf cmd = BUF_INIT;
	char k[RD_KEY_MAX];

	/* Every batch goes out before the first reply is read: one round trip. */
	for (size_t off = 0; off < n; off += RD_MGET_BATCH) {
		size_t m = MIN(n - off, (size_t)RD_MGET_BATCH);

		rd_resp_hdr(&cmd, m + 1);
		rd_resp_arg(&cmd, "MGET", 4);
		for (size_t i = 0; i < m; i++)
			rd_resp_arg(&cmd, k, rd_ino_key(t->rm, k, 'i', inos[off + i]));
	}
	if (redisAppendFormattedCommand(c->ctx, cmd.ptr, cmd.len) != REDIS_OK) {
		buf_release(&cmd);
		return rd_check(c, NULL, "MGET");
	}
	/* Every reply is read even after a bad one, so the connection stays in step. */
	for (size_t off = 0; off < n && c->ctx; off += RD_MGET_BATCH) {
		size_t m = MIN(n - off, (size_t)RD_MGET_BATCH);
		struct rd_attr_sink as = { .inos = inos, .a = a, .found = found };
		struct rd_vsink v = { .val = rd_attr_val, .arg = &as, .i = off };
		int e = rd_get_values(c, &v, "MGET");

		if (!e && v.n != m) {
			log_error("redis: MGET of %zu attributes: %zu values", m, v.n);
			e = -EIO;
		}
		ret = ret ? ret : e ? e : as.err;
	}
	buf_release(&cmd);
	return ret;
}

/*
 * One pipeline for a dump page: HGETALL x<ino> for every inode, GET s<ino>
 * for symlinks, LRANGE c<ino>_<indx> for every chunk below a file's length.
 * Every reply is read even after a bad one, so the connection stays in step.
 */
static int rd_get_extras(struct meta_txn *t, const uint64_t *inos, const struct meta_attr *a,
			 size_t n, struct meta_extras *out)
{
	struct rd_conn *c = t->c;
	char k[RD_KEY_MAX];
	size_t ncmds = 0;
	int ret = 0;

	if (t->write)
		return -ENOSYS;
	if (!c->ctx)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		rd_key(t->rm, k, "x%llu", (unsigned long long)inos[i]);
		redisAppendCommand(c->ctx, "HGETALL %s", k);
		ncmds++;
		if (a[i].type == META_TYPE_SYMLINK) {
			rd_key(t->rm, k, "s%llu", (unsigned long long)inos[i]);
			redisAppendCommand(c->ctx, "GET %s", k);
			ncmds++;
		} else if (a[i].type == META_TYPE_FILE) {
			uint64_t nc = (a[i].length + META_CHUNK_SIZE - 1) / META_CHUNK_SIZE;
			out[i].nchunks = (uint32_t)nc;
			out[i].chunks = nc ? xcalloc(nc, sizeof(struct buf)) : NULL;
			for (uint64_t j = 0; j < nc; j++) {
				buf_init(&out[i].chunks[j], 0);
				rd_key(t->rm, k, "c%llu_%u", (unsigned long long)inos[i], (uint32_t)j);
				redisAppendCommand(c->ctx, "LRANGE %s 0 -1", k);
				ncmds++;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t parts = 1 + (a[i].type == META_TYPE_SYMLINK ? 1 : 0) +
				 (a[i].type == META_TYPE_FILE ? out[i].nchunks : 0);
		for (uint32_t q = 0; q < parts; q++) {
			redisReply *r = NULL;
			if (!c->ctx || redisGetReply(c->ctx, (void **)&r) != REDIS_OK) {
				log_warn("redis: dump reads: %s", c->ctx ? c->ctx->errstr : "no connection");
				rd_conn_drop(c);
				return -EIO;
			}
			if (r->type == REDIS_REPLY_ERROR) {
				log_error("redis: dump reads: %s", r->str);
				ret = -EIO;
			} else if (q == 0 && r->type == REDIS_REPLY_ARRAY) {
				for (size_t e = 0; e + 1 < r->elements; e += 2) {
					uint8_t len[4];
					put_be32(len, (uint32_t)r->element[e]->len);
					buf_add(&out[i].xattrs, len, 4);
					buf_add(&out[i].xattrs, r->element[e]->str, r->element[e]->len);
					put_be32(len, (uint32_t)r->element[e + 1]->len);
					buf_add(&out[i].xattrs, len, 4);
					buf_add(&out[i].xattrs, r->element[e + 1]->str,
						r->element[e + 1]->len);
				}
			} else if (q > 0 && a[i].type == META_TYPE_SYMLINK &&
				   r->type == REDIS_REPLY_STRING) {
				buf_add(&out[i].target, r->str, r->len);
			} else if (q > 0 && r->type == REDIS_REPLY_ARRAY) {
				struct buf *b = &out[i].chunks[q - 1];
				for (size_t e = 0; e < r->elements; e++)
					if (r->element[e]->len == META_SLICE_BYTES)
						buf_add(b, r->element[e]->str, r->element[e]->len);
			}
			freeReplyObject(r);
		}
	}
	return ret;
}

static int rd_put_attr(struct meta_txn *t, uint64_t ino, const struct meta_attr *a)
{
	uint8_t enc[META_ATTR_MAX_ENC];
	size_t n = meta_attr_encode(a, enc);
	KEY(t, k, "i%llu", (unsigned long long)ino);

	rd_queue(t, "SET %s %b", k, enc, n);
	rd_ov_set(t, k, NULL, 0, enc, n);
	return 0;
}

static int rd_del_key(struct meta_txn *t, const char *k)
{
	rd_queue(t, "DEL %s", k);
	rd_ov_del_key(t, k);
	return 0;
}

static int rd_del_attr(struct meta_txn *t, uint64_t ino)
{
	KEY(t, k, "i%llu", (unsigned long long)ino);
	return rd_del_key(t, k);
}

static int rd_hset(struct meta_txn *t, const char *k, const char *f, size_t flen, const void *v,
		   size_t vlen)
{
	rd_queue(t, "HSET %s %b %b", k, f, flen, v, vlen);
	rd_ov_set(t, k, f, flen, v, vlen);
	return 0;
}

static int rd_hdel(struct meta_txn *t, const char *k, const char *f, size_t flen)
{
	rd_queue(t, "HDEL %s %b", k, f, flen);
	rd_ov_del_field(t, k, f, flen);
	return 0;
}

static int rd_hincr(struct meta_txn *t, const char *k, const char *f, int64_t delta)
{
	rd_queue(t, "HINCRBY %s %s %lld", k, f, (long long)delta);
	rd_ov_incr(t, k, f, strlen(f), delta);
	return 0;
}

static int rd_entry_decode(const char *k, const char *v, size_t n, uint64_t *ino, uint8_t *type)
{
	if (n != 9) {
		log_error("redis: entry in %s has %zu bytes, not 9", k, n);
		return -EIO;
	}
	*type = (uint8_t)v[0];
	*ino = get_be64((const uint8_t *)v + 1);
	return 0;
}

static int rd_get_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			uint64_t *ino, uint8_t *type)
{
	struct buf b = BUF_INIT;
	KEY(t, k, "d%llu", (unsigned long long)parent);
	int ret = rd_get_value(t, k, name, nlen, &b);

	if (ret == 0)
		ret = -ENOENT;
	else if (ret > 0)
		ret = rd_entry_decode(k, b.ptr, b.len, ino, type);
	buf_release(&b);
	return ret;
}

static int rd_put_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			uint64_t ino, uint8_t type)
{
	uint8_t v[9];
	KEY(t, k, "d%llu", (unsigned long long)parent);

	v[0] = type;
	put_be64(v + 1, ino);
	return rd_hset(t, k, name, nlen, v, sizeof(v));
}

static int rd_del_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen)
{
	KEY(t, k, "d%llu", (unsigned long long)parent);
	return rd_hdel(t, k, name, nlen);
}

/* qsort, but an empty array may be NULL (glibc declares the base nonnull). */
static void rd_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int rd_pair_cmp(const void *a, const void *b)
{
	const struct rd_pair *x = a, *y = b;
	int c = memcmp(x->f, y->f, MIN(x->flen, y->flen));

	if (c)
		return c;
	return x->flen < y->flen ? -1 : x->flen > y->flen;
}

/*
 * Sorted directory snapshots, for paged listings (S3 ListObjects pages
 * through a directory 1,000 names at a time). A hash d<ino> has no order, so
 * each page would otherwise read and sort the whole directory: O(n) per
 * page, O(n^2) for a listing. A snapshot is the directory's names, sorted
 * once, kept while the directory is unchanged, in a few slots.
 *
 * Invariants:
 *  1. A snapshot is used only if the directory's mtime, ctime (i<ino>) and
 *     HLEN read at the start of this call equal those read just before the
 *     snapshot was taken (HSCAN, which returns every field present for its
 *     whole run).
 *  2. Every entry change of a directory updates its mtime and ctime, except
 *     one made within --skip-dir-mtime of the last update (JuiceFS skips
 *     those, and so does meta.c). So a snapshot is kept only when the times
 *     it was checked against were at least RD_DC_QUIET_MS old when it was
 *     taken: a later change falls outside the skip window and moves them.
 *     A client with a larger --skip-dir-mtime or a clock behind ours by more
 *     than the margin could slip a change past that check; RD_DC_TTL_MS
 *     bounds how long (NEEDSWORK: no cheap, exact version of a hash exists).
 *  3. Only read transactions use them: a write transaction must see its own
 *     pending entries and WATCH what it reads.
 *  4. A snapshot is freed when its last reference (a slot or a reader) goes.
 */
#define RD_DC_SLOTS 4
#define RD_DC_MAX_ENTRIES (4u << 20)
#define RD_DC_TTL_MS 30000
#define RD_DC_QUIET_MS 2000

struct rd_dirent_rec { /* 32 bytes: a 1M-entry snapshot is about 45 MB with the names */
	const char *name;
	uint64_t key; /* the first 8 bytes, big-endian, zero-padded: most comparisons end here */
	uint64_t ino;
	uint32_t len;
	uint8_t type;
};

struct rd_dirsnap {
	uint64_t ino;
	int64_t mtime_us, ctime_us;
	long long hlen;
	int64_t built_ms; /* mono_ms */
	int refs;
	size_t n;
	struct rd_dirent_rec *e;
	char *names;
};

static void rd_snap_unref(struct rd_meta *rm, struct rd_dirsnap *s)
{
	int last;

	if (!s)
		return;
	pthread_mutex_lock(&rm->dc_mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&rm->dc_mu);
	if (last) {
		free(s->e);
		free(s->names);
		free(s);
	}
}

static uint64_t rd_name_key(const char *n, size_t len)
{
	uint64_t k = 0;

	for (size_t i = 0; i < 8; i++)
		k = k << 8 | (i < len ? (uint8_t)n[i] : 0);
	return k;
}

/*
 * Byte order of names. Sorting a 1M-entry directory spent half its time in
 * memcmp calls (perf); the 8-byte key settles most comparisons first. A name
 * holds no NUL, so zero padding sorts a name before its extensions.
 */
static int rd_rec_cmp(const void *a, const void *b)
{
	const struct rd_dirent_rec *x = a, *y = b;
	int c;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->len > 8 && y->len > 8) {
		c = memcmp(x->name + 8, y->name + 8, MIN(x->len, y->len) - 8);
		if (c)
			return c;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * Sort records by name bytes: a stable LSD radix sort on the 8-byte key
 * (four 16-bit digits), then comparison sorts of runs with equal keys only.
 * glibc's qsort of a 1M-entry directory took about 0.7 s, mostly in its
 * merge loop and the comparison calls (perf).
 */
static void rd_sort_recs(struct rd_dirent_rec *e, size_t n)
{
	struct rd_dirent_rec *src = e, *dst, *tmp;
	size_t *cnt;

	if (n < 4096) {
		rd_sort(e, n, sizeof(*e), rd_rec_cmp);
		return;
	}
	tmp = xmalloc(n * sizeof(*e));
	cnt = xmalloc(65536 * sizeof(*cnt));
	dst = tmp;
	for (int shift = 0; shift < 64; shift += 16) {
		size_t sum = 0;

		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(src[i].key >> shift) & 0xffff]++;
		if (cnt[(src[0].key >> shift) & 0xffff] == n)
			continue; /* one digit value: this pass would not move anything */
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[(src[i].key >> shift) & 0xffff]++] = src[i];
		tmp = src;
		src = dst;
		dst = tmp;
	}
	if (src != e)
		memcpy(e, src, n * sizeof(*e));
	free(src == e ? dst : src);
	free(cnt);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && e[j].key == e[i].key; j++)
			;
		if (j - i > 1)
			rd_sort(e + i, j - i, sizeof(*e), rd_rec_cmp);
	}
}

/*
 * Directory times (microseconds) and entry count, the version a snapshot is
 * checked by: GET i<ino> and HLEN d<ino> in one round trip (read
 * transactions only, which have no pending writes to merge).
 */
static int rd_dir_version(struct meta_txn *t, uint64_t parent, const char *k, int64_t *mt,
			  int64_t *ct, long long *hlen)
{
	struct rd_conn *c = t->c;
	redisReply *r[2] = { NULL, NULL };
	struct meta_attr a;
	int ret = 0;
	KEY(t, ik, "i%llu", (unsigned long long)parent);

	if (!c->ctx)
		return META_ETRANSIENT;
	redisAppendCommand(c->ctx, "GET %s", ik);
	redisAppendCommand(c->ctx, "HLEN %s", k);
	for (int i = 0; i < 2; i++) {
		if (!c->ctx || redisGetReply(c->ctx, (void **)&r[i]) != REDIS_OK)
			r[i] = NULL;
		if (!r[i] || r[i]->type == REDIS_REPLY_ERROR) {
			int e = rd_check(c, r[i], i ? "HLEN" : "GET");

			ret = ret ? ret : e;
			if (!r[i])
				break; /* the connection is gone: nothing more to read */
		}
	}
	if (ret)
		goto out;
	if (r[0]->type != REDIS_REPLY_STRING) {
		ret = -ENOENT;
		goto out;
	}
	if (meta_attr_decode((const uint8_t *)r[0]->str, r[0]->len, &a)) {
		log_error("redis: %s holds a malformed attribute (%zu bytes)", ik,
			  (size_t)r[0]->len);
		ret = -EIO;
		goto out;
	}
	*mt = a.mtime * 1000000 + a.mtimensec / 1000;
	*ct = a.ctime * 1000000 + a.ctimensec / 1000;
	*hlen = r[1]->type == REDIS_REPLY_INTEGER ? r[1]->integer : -1;
out:
	for (int i = 0; i < 2; i++)
		if (r[i])
			freeReplyObject(r[i]);
	return ret;
}

/* Room for one more record in s (cap: its allocated length). */
static struct rd_dirent_rec *rd_snap_slot(struct rd_dirsnap *s, size_t *cap)
{
	if (s->n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		s->e = xrealloc(s->e, *cap * sizeof(*s->e));
	}
	return &s->e[s->n];
}

#if HIREDIS_MAJOR == 0
/*
 * HSCAN replies decoded straight into the snapshot by the reader's object
 * callbacks (hiredis 0.x's redisReplyObjectFunctions layout): the default
 * ones build a reply object per field and per value, which were half of
 * the gateway's CPU on the first page of a 1M-entry directory (perf:
 * calloc, malloc, free). Nothing is built: every callback returns the
 * address of rd_sink_obj. The sink is per thread, as the connection is,
 * and installed only around the redisGetReply of an HSCAN.
 */
struct rd_hscan_sink {
	struct rd_dirsnap *s;
	struct buf *names;
	size_t *cap;
	const char *k;
	char cursor[32];
	int have_cursor, bad, err;
	char errstr[128]; /* an error reply's text */
	size_t fname, flen; /* the field waiting for its value; flen 0: none */
};

static __thread struct rd_hscan_sink *rd_sink;
static char rd_sink_obj;

static void *rd_sink_string(const redisReadTask *task, char *str, size_t len)
{
	struct rd_hscan_sink *k = rd_sink;
	const redisReadTask *p = task->parent;

	if (!p) { /* a whole reply that is not an array: an error, or not HSCAN's */
		if (task->type == REDIS_REPLY_ERROR) {
			size_t n = MIN(len, sizeof(k->errstr) - 1);

			memcpy(k->errstr, str, n);
			k->errstr[n] = 0;
		}
		k->bad = 1;
	} else if (!p->parent) { /* [cursor, items] */
		if (task->idx != 0 || len >= sizeof(k->cursor) || task->type != REDIS_REPLY_STRING) {
			k->bad = 1;
		} else {
			memcpy(k->cursor, str, len);
			k->cursor[len] = 0;
			k->have_cursor = 1;
		}
	} else if (p->parent->parent || task->type != REDIS_REPLY_STRING) {
		k->bad = 1;
	} else if (!(task->idx & 1)) { /* a field: its name, kept until the value comes */
		k->fname = k->names->len;
		k->flen = len;
		buf_add(k->names, str, len);
	} else if (k->flen) { /* its value (fields without a name are skipped) */
		struct rd_dirent_rec *e = rd_snap_slot(k->s, k->cap);
		int r = rd_entry_decode(k->k, str, len, &e->ino, &e->type);

		if (r) {
			k->err = r;
		} else {
			e->name = (const char *)(uintptr_t)k->fname; /* an offset until names settles */
			e->len = (uint32_t)k->flen; /* a name is at most 255 bytes */
			k->s->n++;
		}
		k->flen = 0;
	}
	return &rd_sink_obj;
}

static void *rd_sink_array(const redisReadTask *task, int elements)
{
	struct rd_hscan_sink *k = rd_sink;

	if (!task->parent ? elements != 2
			  : task->parent->parent || task->idx != 1 || elements % 2)
		k->bad = 1;
	return &rd_sink_obj;
}

static void *rd_sink_integer(const redisReadTask *task, long long v)
{
	(void)task;
	(void)v;
	rd_sink->bad = 1;
	return &rd_sink_obj;
}

static void *rd_sink_nil(const redisReadTask *task)
{
	(void)task;
	rd_sink->bad = 1;
	return &rd_sink_obj;
}

static void rd_sink_free(void *obj)
{
	(void)obj;
}

static redisReplyObjectFunctions rd_sink_fns = {
	rd_sink_string, rd_sink_array, rd_sink_integer, rd_sink_nil, rd_sink_free,
};

/* One HSCAN from cursor, its entries appended to s and names; cursor updated. */
static int rd_hscan_into(struct meta_txn *t, const char *k, char *cursor, size_t csize,
			 struct rd_dirsnap *s, struct buf *names, size_t *cap)
{
	struct rd_conn *c = t->c;
	struct rd_hscan_sink sink = { .s = s, .names = names, .cap = cap, .k = k };
	redisReplyObjectFunctions *fns;
	void *r = NULL;
	int ok;

	if (!c->ctx)
		return META_ETRANSIENT;
	if (redisAppendCommand(c->ctx, "HSCAN %s %s COUNT 10000", k, cursor) != REDIS_OK)
		return rd_check(c, NULL, k);
	fns = c->ctx->reader->fn;
	c->ctx->reader->fn = &rd_sink_fns;
	rd_sink = &sink;
	ok = redisGetReply(c->ctx, &r) == REDIS_OK;
	rd_sink = NULL;
	if (c->ctx)
		c->ctx->reader->fn = fns;
	if (!ok)
		return rd_check(c, NULL, k);
	if (sink.errstr[0]) {
		redisReply er = { .type = REDIS_REPLY_ERROR, .str = sink.errstr,
				  .len = strlen(sink.errstr) };

		return rd_check(c, &er, k);
	}
	if (sink.bad || !sink.have_cursor || sink.flen) {
		log_error("redis: unexpected HSCAN reply for %s", k);
		return -EIO;
	}
	if (sink.err)
		return sink.err;
	snprintf(cursor, csize, "%s", sink.cursor);
	return 0;
}
#else
/* One HSCAN from cursor, its entries appended to s and names; cursor updated. */
static int rd_hscan_into(struct meta_txn *t, const char *k, char *cursor, size_t csize,
			 struct rd_dirsnap *s, struct buf *names, size_t *cap)
{
	redisReply *r, *items;
	int ret = rd_read(t, k, &r, "HSCAN %s %s COUNT 10000", k, cursor);

	if (ret)
		return ret;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY || r->element[1]->elements % 2 ||
	    r->element[0]->len >= csize) {
		log_error("redis: unexpected HSCAN reply for %s", k);
		freeReplyObject(r);
		return -EIO;
	}
	memcpy(cursor, r->element[0]->str, r->element[0]->len);
	cursor[r->element[0]->len] = 0;
	items = r->element[1];
	for (size_t i = 0; i + 1 < items->elements && !ret; i += 2) {
		redisReply *f = items->element[i], *v = items->element[i + 1];
		struct rd_dirent_rec *e;

		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || !f->len)
			continue;
		e = rd_snap_slot(s, cap);
		ret = rd_entry_decode(k, v->str, v->len, &e->ino, &e->type);
		e->name = (const char *)(uintptr_t)names->len; /* an offset until names settles */
		e->len = (uint32_t)f->len; /* a name is at most 255 bytes */
		buf_add(names, f->str, f->len);
		s->n++;
	}
	freeReplyObject(r);
	return ret;
}
#endif

/* Every entry of hash k by HSCAN (bounded replies), sorted by name bytes. */
static int rd_snap_build(struct meta_txn *t, const char *k, struct rd_dirsnap *s)
{
	char cursor[32] = "0";
	struct buf names = BUF_INIT;
	size_t cap = 0, keep = 0;
	int ret = 0;

	do
		ret = rd_hscan_into(t, k, cursor, sizeof(cursor), s, &names, &cap);
	while (!ret && strcmp(cursor, "0"));
	if (ret) {
		buf_release(&names);
		return ret;
	}
	s->names = buf_detach(&names, NULL);
	for (size_t i = 0; i < s->n; i++) {
		s->e[i].name = s->names + (uintptr_t)s->e[i].name;
		s->e[i].key = rd_name_key(s->e[i].name, s->e[i].len);
	}
	rd_sort_recs(s->e, s->n);
	/* HSCAN may return a field twice (the hash was rehashed meanwhile). */
	for (size_t i = 0; i < s->n; i++)
		if (!keep || rd_rec_cmp(&s->e[keep - 1], &s->e[i]))
			s->e[keep++] = s->e[i];
	s->n = keep;
	return 0;
}

/*
 * The sorted snapshot of directory parent (hash k): a kept one still valid,
 * or a new one (kept when the directory has been quiet). The caller unrefs.
 */
static int rd_dir_snap(struct meta_txn *t, uint64_t parent, const char *k, struct rd_dirsnap **out)
{
	struct rd_meta *rm = t->rm;
	struct rd_dirsnap *s = NULL;
	int64_t mt = 0, ct = 0, now = mono_ms(), wall = now_us();
	long long hlen = -1;
	int ret = rd_dir_version(t, parent, k, &mt, &ct, &hlen);
	size_t slot = 0;

	if (ret)
		return ret;
	struct rd_dirsnap *expired[RD_DC_SLOTS] = { NULL };

	pthread_mutex_lock(&rm->dc_mu);
	for (size_t i = 0; i < RD_DC_SLOTS; i++) {
		struct rd_dirsnap *c = rm->dc[i];

		if (c && now - c->built_ms >= RD_DC_TTL_MS) {
			expired[i] = c; /* its memory goes back with the next listing */
			rm->dc[i] = NULL;
		} else if (c && !s && c->ino == parent && c->mtime_us == mt &&
			   c->ctime_us == ct && c->hlen == hlen) {
			c->refs++;
			s = c;
		}
	}
	pthread_mutex_unlock(&rm->dc_mu);
	for (size_t i = 0; i < RD_DC_SLOTS; i++)
		rd_snap_unref(rm, expired[i]);
	if (s) {
		*out = s;
		return 0;
	}
	s = xcalloc(1, sizeof(*s));
	s->ino = parent;
	s->mtime_us = mt;
	s->ctime_us = ct;
	s->hlen = hlen;
	s->built_ms = now;
	s->refs = 1;
	ret = rd_snap_build(t, k, s);
	if (ret) {
		rd_snap_unref(rm, s);
		return ret;
	}
	if (wall - mt >= RD_DC_QUIET_MS * 1000 && wall - ct >= RD_DC_QUIET_MS * 1000 &&
	    s->n <= RD_DC_MAX_ENTRIES && (long long)s->n == hlen) {
		struct rd_dirsnap *old;

		pthread_mutex_lock(&rm->dc_mu);
		/* The slot of this directory, else an empty one, else the oldest. */
		for (size_t i = 0; i < RD_DC_SLOTS; i++) {
			if (rm->dc[i] && rm->dc[i]->ino == parent) {
				slot = i;
				break;
			}
			if (!rm->dc[i] ||
			    (rm->dc[slot] && rm->dc[i]->built_ms < rm->dc[slot]->built_ms))
				slot = i;
		}
		old = rm->dc[slot];
		rm->dc[slot] = s;
		s->refs++;
		pthread_mutex_unlock(&rm->dc_mu);
		rd_snap_unref(rm, old);
	}
	*out = s;
	return 0;
}

/* Serve a page from a snapshot: names strictly after `after`, at most limit. */
static int rd_snap_scan(const struct rd_dirsnap *s, const char *after, size_t alen, size_t limit,
			meta_entry_fn cb, void *arg)
{
	size_t lo = 0, hi = s->n;
	int ret = 0;

	if (after) {
		struct rd_dirent_rec a = { after, rd_name_key(after, alen), 0,
					   (uint32_t)MIN(alen, UINT32_MAX), 0 };

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (rd_rec_cmp(&s->e[mid], &a) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	for (size_t i = lo, done = 0; i < s->n && !ret && (!limit || done < limit); i++, done++)
		ret = cb(arg, s->e[i].name, s->e[i].len, s->e[i].ino, s->e[i].type);
	return ret;
}

static int rd_scan_entries_all(struct meta_txn *t, uint64_t parent, const char *after,
			       size_t alen, size_t limit, meta_entry_fn cb, void *arg);
static int rd_has_field_ents(struct meta_txn *t, const char *k);

/*
 * A page (after or limit set) in a read transaction comes from a sorted
 * snapshot; anything else reads and sorts the whole directory.
 */
static int rd_scan_entries(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
			   size_t limit, meta_entry_fn cb, void *arg)
{
	KEY(t, k, "d%llu", (unsigned long long)parent);
	struct rd_dirsnap *s = NULL;
	int ret;

	if (t->write || (!after && !limit) || rd_has_field_ents(t, k))
		return rd_scan_entries_all(t, parent, after, alen, limit, cb, arg);
	ret = rd_dir_snap(t, parent, k, &s);
	if (ret == -ENOENT) /* an entry hash without its attribute: read it as it is */
		return rd_scan_entries_all(t, parent, after, alen, limit, cb, arg);
	if (ret)
		return ret;
	ret = rd_snap_scan(s, after, alen, limit, cb, arg);
	rd_snap_unref(t->rm, s);
	return ret;
}

/* Redis hashes are unordered: fetch the directory, sort by name bytes, page. */
static int rd_scan_entries_all(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
			   size_t limit, meta_entry_fn cb, void *arg)
{
	struct rd_pairs ps;
	size_t done = 0;
	KEY(t, k, "d%llu", (unsigned long long)parent);
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
	for (size_t i = 0; i < ps.n && !ret; i++) {
		struct rd_pair *p = &ps.p[i];
		uint64_t ino;
		uint8_t type;
		if (after) {
			struct rd_pair a = { .f = (char *)after, .flen = alen };
			if (rd_pair_cmp(p, &a) <= 0)
				continue;
		}
		if (limit && done == limit)
			break;
		ret = rd_entry_decode(k, p->v, p->vlen, &ino, &type);
		if (!ret)
			ret = cb(arg, p->f, p->flen, ino, type);
		done++;
	}
	rd_pairs_free(&ps);
	return ret;
}


/*
 * HSCAN with COUNT 10000 from cursor 0, as JuiceFS's hscan reads a
 * directory, so that the entries come in the order the real client sees
 * them. Pending writes of this transaction to the directory are not in the
 * server yet: then the sorted listing, which merges them, is used instead.
 */
static int rd_scan_entries_native(struct meta_txn *t, uint64_t parent, meta_entry_fn cb,
				  void *arg)
{
	char cursor[32] = "0";
	KEY(t, k, "d%llu", (unsigned long long)parent);
	int ret = 0;

	if (rd_has_field_ents(t, k))
		return rd_scan_entries_all(t, parent, NULL, 0, 0, cb, arg);
	do {
		redisReply *r, *items;
		ret = rd_read(t, k, &r, "HSCAN %s %s COUNT 10000", k, cursor);
		if (ret)
			return ret;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY || r->element[1]->elements % 2 ||
		    r->element[0]->len >= sizeof(cursor)) {
			log_error("redis: unexpected HSCAN reply for %s", k);
			freeReplyObject(r);
			return -EIO;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = 0;
		items = r->element[1];
		for (size_t i = 0; i + 1 < items->elements && !ret; i += 2) {
			redisReply *f = items->element[i], *v = items->element[i + 1];
			uint64_t ino;
			uint8_t type;
			if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || !f->len)
				continue;
			ret = rd_entry_decode(k, v->str, v->len, &ino, &type);
			if (!ret)
				ret = cb(arg, f->str, f->len, ino, type);
		}
		freeReplyObject(r);
	} while (!ret && strcmp(cursor, "0"));
	return ret;
}

static int rd_has_field_ents(struct meta_txn *t, const char *k)
{
	for (size_t i = 0; i < t->nents; i++)
		if (!strcmp(t->ents[i].key, k))
			return 1;
	return 0;
}

static int rd_count_entries(struct meta_txn *t, uint64_t parent, uint64_t *n)
{
	struct rd_pairs ps;
	redisReply *r;
	KEY(t, k, "d%llu", (unsigned long long)parent);
	int ret;

	if (!rd_has_field_ents(t, k)) {
		ret = rd_read(t, k, &r, "HLEN %s", k);
		if (ret)
			return ret;
		*n = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? (uint64_t)r->integer : 0;
		freeReplyObject(r);
		return 0;
	}
	ret = rd_collect(t, k, RD_HASH, &ps);
	if (!ret)
		*n = ps.n;
	rd_pairs_free(&ps);
	return ret;
}

/* ---------------- hard-link parents ---------------- */

static int rd_incr_parent(struct meta_txn *t, uint64_t ino, uint64_t parent, int64_t delta)
{
	char f[24];
	KEY(t, k, "p%llu", (unsigned long long)ino);

	snprintf(f, sizeof(f), "%llu", (unsigned long long)parent);
	return rd_hincr(t, k, f, delta);
}

/* Fields that dropped to zero (or below) are not parents any more. */
static int rd_list_parents(struct meta_txn *t, uint64_t ino, meta_u64_fn cb, void *arg)
{
	struct rd_pairs ps;
	KEY(t, k, "p%llu", (unsigned long long)ino);
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
	for (size_t i = 0; i < ps.n && !ret; i++) {
		uint64_t p;
		int64_t cnt;
		if (parse_u64(ps.p[i].f, &p) || rd_parse_int(ps.p[i].v, ps.p[i].vlen, &cnt)) {
			log_error("redis: malformed parent field in %s", k);
			ret = -EIO;
			break;
		}
		if (cnt > 0)
			ret = cb(arg, p);
	}
	rd_pairs_free(&ps);
	return ret;
}

static int rd_del_parents(struct meta_txn *t, uint64_t ino)
{
	KEY(t, k, "p%llu", (unsigned long long)ino);
	return rd_del_key(t, k);
}

/* ---------------- symlinks and xattrs ---------------- */

static int rd_get_symlink(struct meta_txn *t, uint64_t ino, struct buf *target)
{
	KEY(t, k, "s%llu", (unsigned long long)ino);
	int ret = rd_get_value(t, k, NULL, 0, target);

	return ret == 0 ? -ENOENT : ret < 0 ? ret : 0;
}

static int rd_put_symlink(struct meta_txn *t, uint64_t ino, const char *target, size_t len)
{
	KEY(t, k, "s%llu", (unsigned long long)ino);

	rd_queue(t, "SET %s %b", k, target, len);
	rd_ov_set(t, k, NULL, 0, target, len);
	return 0;
}

static int rd_del_symlink(struct meta_txn *t, uint64_t ino)
{
	KEY(t, k, "s%llu", (unsigned long long)ino);
	return rd_del_key(t, k);
}

static int rd_get_xattr(struct meta_txn *t, uint64_t ino, const char *name, struct buf *val)
{
	KEY(t, k, "x%llu", (unsigned long long)ino);
	int ret = rd_get_value(t, k, name, strlen(name), val);

	return ret == 0 ? -ENOENT : ret < 0 ? ret : 0;
}

struct rd_xattr_sink {
	struct buf *vals;
	uint8_t *found;
};

static void rd_xattr_val(struct rd_vsink *v, size_t i, const char *s, size_t len)
{
	struct rd_xattr_sink *xs = v->arg;

	if (s) {
		buf_add(&xs->vals[i], s, len);
		xs->found[i] = 1;
	}
}

/*
 * A listing page's ETags: one pipeline of HGET x<ino> name. Every reply is
 * read even after a bad one, so the connection stays in step.
 */
static int rd_get_xattrs(struct meta_txn *t, const uint64_t *inos, size_t n, const char *name,
			 struct buf *vals, uint8_t *found)
{
	struct rd_conn *c = t->c;
	struct buf cmd = BUF_INIT;
	size_t nlen = strlen(name);
	char k[RD_KEY_MAX];
	int ret = 0;

	if (t->write) {
		for (size_t i = 0; i < n && !ret; i++) {
			buf_reset(&vals[i]);
			ret = rd_get_xattr(t, inos[i], name, &vals[i]);
			found[i] = ret == 0;
			if (ret == -ENOENT)
				ret = 0;
		}
		return ret;
	}
	if (!c->ctx)
		return META_ETRANSIENT;
	for (size_t i = 0; i < n; i++) {
		rd_resp_hdr(&cmd, 3);
		rd_resp_arg(&cmd, "HGET", 4);
		rd_resp_arg(&cmd, k, rd_ino_key(t->rm, k, 'x', inos[i]));
		rd_resp_arg(&cmd, name, nlen);
	}
	if (redisAppendFormattedCommand(c->ctx, cmd.ptr, cmd.len) != REDIS_OK) {
		buf_release(&cmd);
		return rd_check(c, NULL, "HGET (xattrs)");
	}
	buf_release(&cmd);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&vals[i]);
		found[i] = 0;
	}
	/* Every reply is read even after a bad one, so the connection stays in step. */
	for (size_t i = 0; i < n && c->ctx; i++) {
		struct rd_xattr_sink xs = { vals, found };
		struct rd_vsink v = { .val = rd_xattr_val, .arg = &xs, .i = i };
		int e = rd_get_values(c, &v, "HGET (xattrs)");

		ret = ret ? ret : e;
	}
	return ret;
}

static int rd_put_xattr(struct meta_txn *t, uint64_t ino, const char *name, const void *val,
			size_t len)
{
	KEY(t, k, "x%llu", (unsigned long long)ino);
	return rd_hset(t, k, name, strlen(name), val, len);
}

static int rd_del_xattr(struct meta_txn *t, uint64_t ino, const char *name)
{
	struct buf b = BUF_INIT;
	KEY(t, k, "x%llu", (unsigned long long)ino);
	int ret = rd_get_value(t, k, name, strlen(name), &b);

	buf_release(&b);
	if (ret <= 0)
		return ret ? ret : -ENOENT;
	return rd_hdel(t, k, name, strlen(name));
}

static int rd_scan_xattrs(struct meta_txn *t, uint64_t ino, meta_name_fn cb, void *arg)
{
	struct rd_pairs ps;
	KEY(t, k, "x%llu", (unsigned long long)ino);
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
	for (size_t i = 0; i < ps.n && !ret; i++)
		ret = cb(arg, ps.p[i].f, ps.p[i].flen);
	rd_pairs_free(&ps);
	return ret;
}

static int rd_del_xattrs(struct meta_txn *t, uint64_t ino)
{
	KEY(t, k, "x%llu", (unsigned long long)ino);
	return rd_del_key(t, k);
}

/* ---------------- ACL rules (hash acl: id -> encoded rule; counter aclMaxId) ---------------- */

static int rd_get_acl(struct meta_txn *t, uint32_t id, struct meta_acl *rule)
{
	struct buf b = BUF_INIT;
	char f[16];
	int n = snprintf(f, sizeof(f), "%u", id);
	KEY(t, k, "acl");
	int ret = rd_get_value(t, k, f, (size_t)n, &b);

	if (ret == 0)
		ret = -ENOENT;
	else if (ret > 0 && (ret = meta_acl_decode(b.ptr, b.len, rule))) {
		log_error("redis: acl %u is malformed", id);
		ret = -EIO;
	}
	buf_release(&b);
	return ret;
}

static int rd_put_acl(struct meta_txn *t, const struct meta_acl *rule, uint32_t *id)
{
	struct buf b = BUF_INIT;
	int64_t v;
	char f[16];
	KEY(t, k, "acl");
	int ret = rd_incr_counter(t, "aclMaxId", 1, &v);

	if (ret)
		return ret;
	if (v <= 0 || v > UINT32_MAX)
		return -EIO;
	*id = (uint32_t)v;
	int n = snprintf(f, sizeof(f), "%u", *id);
	meta_acl_encode(rule, &b);
	ret = rd_hset(t, k, f, (size_t)n, b.ptr, b.len);
	buf_release(&b);
	return ret;
}

static int rd_scan_acls(struct meta_txn *t, meta_acl_fn cb, void *arg)
{
	struct rd_pairs ps;
	KEY(t, k, "acl");
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	for (size_t i = 0; i < ps.n && !ret; i++) {
		struct meta_acl a;
		char num[16];
		char *end;
		unsigned long id;

		if (ps.p[i].flen == 0 || ps.p[i].flen >= sizeof(num))
			continue; /* not a rule id: not ours to judge */
		memcpy(num, ps.p[i].f, ps.p[i].flen);
		num[ps.p[i].flen] = 0;
		id = strtoul(num, &end, 10);
		if (*end || !id || id > UINT32_MAX)
			continue;
		if (meta_acl_decode(ps.p[i].v, ps.p[i].vlen, &a)) {
			log_warn("redis: acl %lu is malformed; skipped", id);
			continue;
		}
		ret = cb(arg, (uint32_t)id, &a);
		meta_acl_release(&a);
	}
	rd_pairs_free(&ps);
	return ret;
}

/* ---------------- chunks ---------------- */

static int rd_list_read(struct meta_txn *t, const char *k, struct buf *recs)
{
	struct rd_ent *e = rd_find(t, k, NULL, 0);
	redisReply *r;
	int ret;

	buf_reset(recs);
	if (!e || (e->kind == RD_LIST && !e->cleared)) {
		ret = rd_read(t, k, &r, "LRANGE %s 0 -1", k);
		if (ret)
			return ret;
		if (r->type != REDIS_REPLY_ARRAY) {
			log_error("redis: %s is not a list", k);
			freeReplyObject(r);
			return -EIO;
		}
		for (size_t i = 0; i < r->elements; i++) {
			if (r->element[i]->len != META_SLICE_BYTES) {
				log_error("redis: %s holds a %zu-byte slice record", k,
					  r->element[i]->len);
				freeReplyObject(r);
				return -EIO;
			}
			buf_add(recs, r->element[i]->str, r->element[i]->len);
		}
		freeReplyObject(r);
	}
	if (e && e->kind == RD_LIST)
		buf_add(recs, e->val, e->vlen);
	return 0;
}

static int rd_get_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, struct buf *recs)
{
	KEY(t, k, "c%llu_%u", (unsigned long long)ino, indx);
	return rd_list_read(t, k, recs);
}

/* RPUSH key rec1 rec2 ... with each 24-byte record one element. */
static void rd_queue_rpush(struct meta_txn *t, const char *k, const uint8_t *recs, size_t len)
{
	size_t n = len / META_SLICE_BYTES, argc = n + 2;
	const char **argv = xmalloc(argc * sizeof(*argv));
	size_t *lens = xmalloc(argc * sizeof(*lens));
	char *s = NULL;
	int sl;

	argv[0] = "RPUSH";
	lens[0] = 5;
	argv[1] = k;
	lens[1] = strlen(k);
	for (size_t i = 0; i < n; i++) {
		argv[i + 2] = (const char *)recs + i * META_SLICE_BYTES;
		lens[i + 2] = META_SLICE_BYTES;
	}
	sl = redisFormatCommandArgv(&s, (int)argc, argv, lens);
	BUG_ON(sl < 0 || !s);
	if (t->ncmds == t->acmds) {
		t->acmds = t->acmds ? 2 * t->acmds : 16;
		t->cmds = xrealloc(t->cmds, t->acmds * sizeof(*t->cmds));
	}
	t->cmds[t->ncmds].s = s;
	t->cmds[t->ncmds].len = sl;
	t->ncmds++;
	free(argv);
	free(lens);
}

/* Appended records; after a DEL of the key the list restarts from them alone. */
static void rd_ov_append(struct meta_txn *t, const char *k, const uint8_t *recs, size_t len)
{
	struct rd_ent *e = rd_find(t, k, NULL, 0);

	if (!e) {
		e = rd_slot_ent(t, k, NULL, 0);
		e->kind = RD_LIST;
	} else if (e->kind == RD_DEL) {
		e->kind = RD_LIST;
		e->cleared = 1;
	}
	e->val = xrealloc(e->val, e->vlen + len + 1);
	memcpy(e->val + e->vlen, recs, len);
	e->vlen += len;
}

static int rd_append_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			   size_t len, size_t *count)
{
	KEY(t, k, "c%llu_%u", (unsigned long long)ino, indx);

	if (len % META_SLICE_BYTES)
		return -EINVAL;
	if (count) {
		/* The length before, watched, plus ours: what RPUSH will answer. */
		struct rd_ent *e = rd_find(t, k, NULL, 0);
		size_t have = 0;
		if (!e || (e->kind == RD_LIST && !e->cleared)) {
			redisReply *r;
			int ret = rd_read(t, k, &r, "LLEN %s", k);
			if (ret)
				return ret;
			have = r->type == REDIS_REPLY_INTEGER && r->integer > 0 ?
				       (size_t)r->integer : 0;
			freeReplyObject(r);
		}
		if (e && e->kind == RD_LIST)
			have += e->vlen / META_SLICE_BYTES;
		*count = have + len / META_SLICE_BYTES;
	}
	if (!len)
		return 0;
	rd_queue_rpush(t, k, recs, len);
	rd_ov_append(t, k, recs, len);
	return 0;
}

static int rd_set_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			size_t len)
{
	KEY(t, k, "c%llu_%u", (unsigned long long)ino, indx);

	if (len % META_SLICE_BYTES)
		return -EINVAL;
	rd_del_key(t, k);
	if (!len)
		return 0;
	rd_queue_rpush(t, k, recs, len);
	rd_ov_append(t, k, recs, len);
	return 0;
}

struct rd_chunk_key {
	uint64_t ino;
	uint32_t indx;
	char *key;
};

static int rd_chunk_key_cmp(const void *a, const void *b)
{
	const struct rd_chunk_key *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->indx < y->indx ? -1 : x->indx > y->indx;
}

/* "c<ino>_<indx>" after the prefix; 0 if k is one. */
static int rd_parse_chunk_key(const struct rd_meta *rm, const char *k, uint64_t *ino,
			      uint32_t *indx)
{
	size_t pl = strlen(rm->prefix);
	char tmp[64];
	const char *us;

	if (strncmp(k, rm->prefix, pl) || k[pl] != 'c')
		return -EINVAL;
	k += pl + 1;
	us = strchr(k, '_');
	if (!us || (size_t)(us - k) >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, k, (size_t)(us - k));
	tmp[us - k] = 0;
	if (parse_u64(tmp, ino) || parse_u32(us + 1, indx))
		return -EINVAL;
	return 0;
}

/* Chunks of one inode (ino != 0) or of all, found by SCAN plus the overlay, in order. */
static int rd_chunks(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg)
{
	struct rd_pairs keys;
	struct rd_chunk_key *ck = NULL;
	struct buf recs = BUF_INIT;
	size_t nck = 0;
	char pat[RD_KEY_MAX];
	int ret;

	if (ino)
		rd_key(t->rm, pat, "c%llu_*", (unsigned long long)ino);
	else
		rd_key(t->rm, pat, "c*");
	ret = rd_scan_keys(t, pat, &keys);
	if (ret)
		return ret;
	/* Lists created in this transaction. */
	for (size_t i = 0; i < t->nents; i++) {
		struct rd_ent *e = &t->ents[i];
		uint64_t ei;
		uint32_t ex;
		int dup = 0;
		if (e->field || e->kind != RD_LIST ||
		    rd_parse_chunk_key(t->rm, e->key, &ei, &ex) || (ino && ei != ino))
			continue;
		for (size_t j = 0; j < keys.n && !dup; j++)
			dup = !strcmp(keys.p[j].f, e->key);
		if (!dup)
			rd_pairs_add(&keys, e->key, strlen(e->key), NULL, 0);
	}
	ck = xcalloc(keys.n + 1, sizeof(*ck));
	for (size_t i = 0; i < keys.n; i++) {
		if (rd_parse_chunk_key(t->rm, keys.p[i].f, &ck[nck].ino, &ck[nck].indx) ||
		    (ino && ck[nck].ino != ino))
			continue; /* e.g. a stray key starting with 'c' */
		ck[nck++].key = keys.p[i].f;
	}
	rd_sort(ck, nck, sizeof(*ck), rd_chunk_key_cmp);
	for (size_t i = 0; i < nck && !ret; i++) {
		ret = rd_list_read(t, ck[i].key, &recs);
		if (!ret && recs.len)
			ret = cb(arg, ck[i].ino, ck[i].indx, (const uint8_t *)recs.ptr, recs.len);
	}
	buf_release(&recs);
	free(ck);
	rd_pairs_free(&keys);
	return ret;
}

static int rd_scan_chunks(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg)
{
	return rd_chunks(t, ino, cb, arg);
}

/*
 * The chunk lists among indices [0, n): pipelined EXISTS, a batch per round
 * trip, where a SCAN MATCH c<ino>_* would walk the whole keyspace. Watched in
 * a write transaction like any read (the set of chunks is what is decided on).
 */
#define RD_EXISTS_BATCH 1000

static int rd_chunks_below(struct meta_txn *t, uint64_t ino, uint32_t n, meta_chunk_fn cb,
			   void *arg)
{
	struct rd_conn *c = t->c;
	int ret = 0;

	if (t->write) {
		for (uint32_t i = 0; i < n && !ret; i++) {
			struct buf recs = BUF_INIT;
			ret = rd_get_chunk(t, ino, i, &recs);
			if (!ret && recs.len)
				ret = cb(arg, ino, i, NULL, 0);
			buf_release(&recs);
		}
		return ret;
	}
	if (!c->ctx)
		return META_ETRANSIENT;
	for (uint32_t off = 0; off < n && !ret; off += RD_EXISTS_BATCH) {
		uint32_t m = MIN(n - off, (uint32_t)RD_EXISTS_BATCH), got = 0;
		uint8_t *exists = xcalloc(m, 1);

		for (uint32_t i = 0; i < m; i++) {
			KEY(t, k, "c%llu_%u", (unsigned long long)ino, off + i);
			redisAppendCommand(c->ctx, "EXISTS %s", k);
		}
		/* read every reply even after an error, so the connection stays in step */
		for (uint32_t i = 0; i < m; i++) {
			redisReply *r = NULL;
			int rr;
			if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
				r = NULL;
			rr = rd_check(c, r, "EXISTS");
			if (!rr && r->type == REDIS_REPLY_INTEGER)
				exists[i] = r->integer > 0;
			if (rr && !ret)
				ret = rr;
			if (r)
				freeReplyObject(r);
			got++;
			if (!r)
				break; /* the connection is gone: nothing more will come */
		}
		for (uint32_t i = 0; i < got && !ret; i++)
			if (exists[i])
				ret = cb(arg, ino, off + i, NULL, 0);
		free(exists);
	}
	return ret;
}

static int rd_scan_all_chunks(struct meta_txn *t, meta_chunk_fn cb, void *arg)
{
	return rd_chunks(t, 0, cb, arg);
}

/* ---------------- slice references ---------------- */

/* No sliceRef field is created for a new slice: absent means one reference. */
static int rd_new_slice(struct meta_txn *t, uint64_t id, uint32_t size)
{
	UNUSED(t);
	UNUSED(id);
	UNUSED(size);
	return 0;
}

static int rd_incr_ref(struct meta_txn *t, uint64_t id, uint32_t size, int64_t delta,
		       int64_t *refs)
{
	char f[48];
	KEY(t, k, "sliceRef");

	snprintf(f, sizeof(f), "k%llu_%u", (unsigned long long)id, size);
	if (refs) {
		int64_t v;
		int ret = rd_get_int(t, k, f, strlen(f), &v, NULL);
		if (ret)
			return ret;
		*refs = v + delta + 1;
	}
	return rd_hincr(t, k, f, delta);
}

static int rd_del_ref(struct meta_txn *t, uint64_t id, uint32_t size)
{
	char f[48];
	KEY(t, k, "sliceRef");

	snprintf(f, sizeof(f), "k%llu_%u", (unsigned long long)id, size);
	return rd_hdel(t, k, f, strlen(f));
}

static int rd_scan_dead_refs(struct meta_txn *t, meta_slice_ref_fn cb, void *arg)
{
	struct rd_pairs ps;
	KEY(t, k, "sliceRef");
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
	for (size_t i = 0; i < ps.n && !ret; i++) {
		struct meta_slice_ref r;
		const char *us = strchr(ps.p[i].f, '_');
		char idt[24];
		int64_t v;
		if (ps.p[i].f[0] != 'k' || !us || (size_t)(us - ps.p[i].f - 1) >= sizeof(idt) ||
		    rd_parse_int(ps.p[i].v, ps.p[i].vlen, &v))
			continue; /* not ours to judge; gc reports it */
		memcpy(idt, ps.p[i].f + 1, (size_t)(us - ps.p[i].f - 1));
		idt[us - ps.p[i].f - 1] = 0;
		if (parse_u64(idt, &r.id) || parse_u32(us + 1, &r.size))
			continue;
		r.refs = v + 1;
		if (r.refs < 1)
			ret = cb(arg, &r);
	}
	rd_pairs_free(&ps);
	return ret;
}

/* ---------------- delayed slices ---------------- */

static int rd_put_delslices(struct meta_txn *t, uint64_t newid, int64_t when, const uint8_t *recs,
			    size_t len)
{
	char f[48];
	KEY(t, k, "delSlices");

	snprintf(f, sizeof(f), "%llu_%lld", (unsigned long long)newid, (long long)when);
	return rd_hset(t, k, f, strlen(f), recs, len);
}

static int rd_del_delslices(struct meta_txn *t, uint64_t newid, int64_t when)
{
	char f[48];
	KEY(t, k, "delSlices");

	snprintf(f, sizeof(f), "%llu_%lld", (unsigned long long)newid, (long long)when);
	return rd_hdel(t, k, f, strlen(f));
}

static int rd_scan_delslices(struct meta_txn *t, meta_delslices_fn cb, void *arg)
{
	struct rd_pairs ps;
	KEY(t, k, "delSlices");
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
	for (size_t i = 0; i < ps.n && !ret; i++) {
		const char *us = strchr(ps.p[i].f, '_');
		char idt[24];
		uint64_t id;
		int64_t when;
		if (!us || (size_t)(us - ps.p[i].f) >= sizeof(idt))
			continue;
		memcpy(idt, ps.p[i].f, (size_t)(us - ps.p[i].f));
		idt[us - ps.p[i].f] = 0;
		if (parse_u64(idt, &id) || parse_i64(us + 1, &when))
			continue;
		ret = cb(arg, id, when, (const uint8_t *)ps.p[i].v, ps.p[i].vlen);
	}
	rd_pairs_free(&ps);
	return ret;
}

/* ---------------- deleted files ---------------- */

static int rd_add_delfile(struct meta_txn *t, uint64_t ino, uint64_t length, int64_t when)
{
	char mem[48], sc[24];
	KEY(t, k, "delfiles");

	snprintf(mem, sizeof(mem), "%llu:%llu", (unsigned long long)ino,
		 (unsigned long long)length);
	snprintf(sc, sizeof(sc), "%lld", (long long)when);
	rd_queue(t, "ZADD %s %s %s", k, sc, mem);
	rd_ov_set(t, k, mem, strlen(mem), sc, strlen(sc));
	return 0;
}

/* Member "<ino>:<length>" (legacy: "<ino>"); 0 if parsed. */
static int rd_parse_delfile(const char *s, uint64_t *ino, uint64_t *len)
{
	const char *colon = strchr(s, ':');
	char tmp[24];

	*len = 0;
	if (!colon)
		return parse_u64(s, ino);
	if ((size_t)(colon - s) >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, (size_t)(colon - s));
	tmp[colon - s] = 0;
	return parse_u64(tmp, ino) || parse_u64(colon + 1, len) ? -EINVAL : 0;
}

static int rd_del_delfile(struct meta_txn *t, uint64_t ino)
{
	struct rd_pairs ps;
	KEY(t, k, "delfiles");
	int ret = rd_collect(t, k, RD_ZSET, &ps);

	if (ret)
		return ret;
	for (size_t i = 0; i < ps.n; i++) {
		uint64_t i2, len;
		if (!rd_parse_delfile(ps.p[i].f, &i2, &len) && i2 == ino) {
			rd_queue(t, "ZREM %s %b", k, ps.p[i].f, ps.p[i].flen);
			rd_ov_del_field(t, k, ps.p[i].f, ps.p[i].flen);
		}
	}
	rd_pairs_free(&ps);
	return 0;
}

struct rd_delfile {
	uint64_t ino, len;
	int64_t when;
};

static int rd_delfile_cmp(const void *a, const void *b)
{
	const struct rd_delfile *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int rd_scan_delfiles(struct meta_txn *t, meta_delfile_fn cb, void *arg)
{
	struct rd_pairs ps;
	struct rd_delfile *d;
	size_t n = 0;
	KEY(t, k, "delfiles");
	int ret = rd_collect(t, k, RD_ZSET, &ps);

	if (ret)
		return ret;
	d = xcalloc(ps.n + 1, sizeof(*d));
	for (size_t i = 0; i < ps.n; i++) {
		if (rd_parse_delfile(ps.p[i].f, &d[n].ino, &d[n].len))
			continue;
		/* Scores are written as integers but Redis may print them as doubles. */
		d[n].when = (int64_t)strtod(ps.p[i].v, NULL);
		n++;
	}
	rd_sort(d, n, sizeof(*d), rd_delfile_cmp);
	for (size_t i = 0; i < n && !ret; i++)
		ret = cb(arg, d[i].ino, d[i].len, d[i].when);
	free(d);
	rd_pairs_free(&ps);
	return ret;
}

/* ---------------- sustained inodes ---------------- */

static int rd_add_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	char mem[24];
	KEY(t, k, "session%llu", (unsigned long long)sid);

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)ino);
	rd_queue(t, "SADD %s %s", k, mem);
	rd_ov_set(t, k, mem, strlen(mem), "", 0);
	return 0;
}

static int rd_del_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	char mem[24];
	KEY(t, k, "session%llu", (unsigned long long)sid);

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)ino);
	rd_queue(t, "SREM %s %s", k, mem);
	rd_ov_del_field(t, k, mem, strlen(mem));
	return 0;
}

static int rd_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int rd_sustained_of(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg)
{
	struct rd_pairs ps;
	uint64_t *inos;
	size_t n = 0;
	KEY(t, k, "session%llu", (unsigned long long)sid);
	int ret = rd_collect(t, k, RD_SET, &ps);

	if (ret)
		return ret;
	inos = xcalloc(ps.n + 1, sizeof(*inos));
	for (size_t i = 0; i < ps.n; i++)
		if (!parse_u64(ps.p[i].f, &inos[n]))
			n++;
	rd_sort(inos, n, sizeof(*inos), rd_u64_cmp);
	for (size_t i = 0; i < n && !ret; i++)
		ret = cb(arg, sid, inos[i]);
	free(inos);
	rd_pairs_free(&ps);
	return ret;
}

static int rd_scan_sustained(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg)
{
	struct rd_pairs keys;
	uint64_t *sids;
	size_t n = 0, pl = strlen(t->rm->prefix) + strlen("session");
	char pat[RD_KEY_MAX];
	int ret;

	if (sid)
		return rd_sustained_of(t, sid, cb, arg);
	rd_key(t->rm, pat, "session[0-9]*");
	ret = rd_scan_keys(t, pat, &keys);
	if (ret)
		return ret;
	for (size_t i = 0; i < t->nents; i++) {
		struct rd_ent *e = &t->ents[i];
		if (e->field && e->kind == RD_VAL && !strncmp(e->key + strlen(t->rm->prefix),
							       "session", 7) &&
		    isdigit((unsigned char)e->key[pl]))
			rd_pairs_add(&keys, e->key, strlen(e->key), NULL, 0);
	}
	sids = xcalloc(keys.n + 1, sizeof(*sids));
	for (size_t i = 0; i < keys.n; i++) {
		uint64_t s;
		int dup = 0;
		if (parse_u64(keys.p[i].f + pl, &s))
			continue;
		for (size_t j = 0; j < n && !dup; j++)
			dup = sids[j] == s;
		if (!dup)
			sids[n++] = s;
	}
	rd_sort(sids, n, sizeof(*sids), rd_u64_cmp);
	for (size_t i = 0; i < n && !ret; i++)
		ret = rd_sustained_of(t, sids[i], cb, arg);
	free(sids);
	rd_pairs_free(&keys);
	return ret;
}

/* ---------------- sessions ---------------- */

static int rd_put_session(struct meta_txn *t, uint64_t sid, int64_t expire, const char *info)
{
	char mem[24], sc[24];
	KEY(t, k, "allSessions");

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)sid);
	snprintf(sc, sizeof(sc), "%lld", (long long)expire);
	rd_queue(t, "ZADD %s %s %s", k, sc, mem);
	rd_ov_set(t, k, mem, strlen(mem), sc, strlen(sc));
	if (info) {
		KEY(t, ki, "sessionInfos");
		return rd_hset(t, ki, mem, strlen(mem), info, strlen(info));
	}
	return 0;
}

static int rd_touch_session(struct meta_txn *t, uint64_t sid, int64_t expire)
{
	struct rd_pairs ps;
	char mem[24], sc[24];
	KEY(t, k, "allSessions");
	int ret, found = 0;

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)sid);
	ret = rd_collect(t, k, RD_ZSET, &ps);
	if (ret)
		return ret;
	for (size_t i = 0; i < ps.n && !found; i++)
		found = !strcmp(ps.p[i].f, mem);
	rd_pairs_free(&ps);
	if (!found)
		return -ENOENT;
	snprintf(sc, sizeof(sc), "%lld", (long long)expire);
	rd_queue(t, "ZADD %s %s %s", k, sc, mem);
	rd_ov_set(t, k, mem, strlen(mem), sc, strlen(sc));
	return 0;
}

static int rd_del_session(struct meta_txn *t, uint64_t sid)
{
	char mem[24];
	KEY(t, k, "allSessions");
	KEY(t, ki, "sessionInfos");
	KEY(t, kl, "sessions");

	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)sid);
	rd_queue(t, "ZREM %s %s", k, mem);
	rd_ov_del_field(t, k, mem, strlen(mem));
	rd_queue(t, "ZREM %s %s", kl, mem);
	rd_ov_del_field(t, kl, mem, strlen(mem));
	return rd_hdel(t, ki, mem, strlen(mem));
}

static int rd_scan_sessions(struct meta_txn *t, meta_session_raw_fn cb, void *arg)
{
	struct rd_pairs ps, infos;
	struct rd_delfile *s; /* ino = sid, when = expiry */
	size_t n = 0;
	KEY(t, k, "allSessions");
	KEY(t, ki, "sessionInfos");
	int ret = rd_collect(t, k, RD_ZSET, &ps);

	if (ret)
		return ret;
	ret = rd_collect(t, ki, RD_HASH, &infos);
	if (ret) {
		rd_pairs_free(&ps);
		return ret;
	}
	s = xcalloc(ps.n + 1, sizeof(*s));
	for (size_t i = 0; i < ps.n; i++) {
		if (parse_u64(ps.p[i].f, &s[n].ino))
			continue;
		s[n].when = (int64_t)strtod(ps.p[i].v, NULL);
		s[n].len = i; /* index of the member, to find its info */
		n++;
	}
	rd_sort(s, n, sizeof(*s), rd_delfile_cmp);
	for (size_t i = 0; i < n && !ret; i++) {
		const char *info = "";
		for (size_t j = 0; j < infos.n; j++)
			if (!strcmp(infos.p[j].f, ps.p[s[i].len].f))
				info = infos.p[j].v;
		ret = cb(arg, s[i].ino, s[i].when, info);
	}
	free(s);
	rd_pairs_free(&ps);
	rd_pairs_free(&infos);
	return ret;
}

/* ---------------- dir stats ---------------- */

static int rd_incr_dirstat(struct meta_txn *t, uint64_t ino, const struct meta_dirstat *d)
{
	char f[24];
	KEY(t, kl, "dirDataLength");
	KEY(t, ks, "dirUsedSpace");
	KEY(t, ki, "dirUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	rd_hincr(t, kl, f, d->length);
	rd_hincr(t, ks, f, d->space);
	return rd_hincr(t, ki, f, d->inodes);
}

static int rd_get_dirstat(struct meta_txn *t, uint64_t ino, struct meta_dirstat *d)
{
	char f[24];
	int fl = 0, fs = 0, fi = 0, ret;
	KEY(t, kl, "dirDataLength");
	KEY(t, ks, "dirUsedSpace");
	KEY(t, ki, "dirUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	if ((ret = rd_get_int(t, kl, f, strlen(f), &d->length, &fl)) ||
	    (ret = rd_get_int(t, ks, f, strlen(f), &d->space, &fs)) ||
	    (ret = rd_get_int(t, ki, f, strlen(f), &d->inodes, &fi)))
		return ret;
	return fl || fs || fi ? 0 : -ENOENT;
}

static int rd_del_dirstat(struct meta_txn *t, uint64_t ino)
{
	char f[24];
	KEY(t, kl, "dirDataLength");
	KEY(t, ks, "dirUsedSpace");
	KEY(t, ki, "dirUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	rd_hdel(t, kl, f, strlen(f));
	rd_hdel(t, ks, f, strlen(f));
	return rd_hdel(t, ki, f, strlen(f));
}

/* ---------------- dir quotas ---------------- */

/*
 * dirQuota: field <ino> = maxSpace, maxInodes as two big-endian i64;
 * dirQuotaUsedSpace / dirQuotaUsedInodes: field <ino> = decimal usage, which
 * JuiceFS's clients move with HINCRBY.
 */
static int rd_get_quota(struct meta_txn *t, uint64_t ino, struct meta_quota *q)
{
	struct buf b = BUF_INIT;
	char f[24];
	int ret;
	KEY(t, kq, "dirQuota");
	KEY(t, ks, "dirQuotaUsedSpace");
	KEY(t, ki, "dirQuotaUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	ret = rd_get_value(t, kq, f, strlen(f), &b);
	if (ret <= 0) {
		buf_release(&b);
		return ret ? ret : -ENOENT;
	}
	if (b.len != 16) {
		log_error("redis: %s %s holds %zu bytes, not 16", kq, f, b.len);
		buf_release(&b);
		return -EIO;
	}
	q->max_space = (int64_t)get_be64((const uint8_t *)b.ptr);
	q->max_inodes = (int64_t)get_be64((const uint8_t *)b.ptr + 8);
	buf_release(&b);
	if ((ret = rd_get_int(t, ks, f, strlen(f), &q->used_space, NULL)))
		return ret;
	return rd_get_int(t, ki, f, strlen(f), &q->used_inodes, NULL);
}

static int rd_put_quota(struct meta_txn *t, uint64_t ino, const struct meta_quota *q)
{
	uint8_t v[16];
	char f[24], num[32];
	KEY(t, kq, "dirQuota");
	KEY(t, ks, "dirQuotaUsedSpace");
	KEY(t, ki, "dirQuotaUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	put_be64(v, (uint64_t)q->max_space);
	put_be64(v + 8, (uint64_t)q->max_inodes);
	rd_hset(t, kq, f, strlen(f), v, sizeof(v));
	snprintf(num, sizeof(num), "%lld", (long long)q->used_space);
	rd_hset(t, ks, f, strlen(f), num, strlen(num));
	snprintf(num, sizeof(num), "%lld", (long long)q->used_inodes);
	return rd_hset(t, ki, f, strlen(f), num, strlen(num));
}

static int rd_incr_quota(struct meta_txn *t, uint64_t ino, int64_t space, int64_t inodes)
{
	char f[24];
	KEY(t, ks, "dirQuotaUsedSpace");
	KEY(t, ki, "dirQuotaUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	if (space)
		rd_hincr(t, ks, f, space);
	if (inodes)
		rd_hincr(t, ki, f, inodes);
	return 0;
}

static int rd_del_quota(struct meta_txn *t, uint64_t ino)
{
	char f[24];
	KEY(t, kq, "dirQuota");
	KEY(t, ks, "dirQuotaUsedSpace");
	KEY(t, ki, "dirQuotaUsedInodes");

	snprintf(f, sizeof(f), "%llu", (unsigned long long)ino);
	rd_hdel(t, kq, f, strlen(f));
	rd_hdel(t, ks, f, strlen(f));
	return rd_hdel(t, ki, f, strlen(f));
}

static int64_t rd_pairs_int(const struct rd_pairs *ps, const char *f)
{
	int64_t v = 0;

	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->p[i].f, f)) {
			if (parse_i64(ps->p[i].v, &v))
				v = 0;
			break;
		}
	return v;
}

static int rd_scan_quotas(struct meta_txn *t, meta_quota_fn cb, void *arg)
{
	struct rd_pairs pq, ps, pi;
	int ret;
	KEY(t, kq, "dirQuota");
	KEY(t, ks, "dirQuotaUsedSpace");
	KEY(t, ki, "dirQuotaUsedInodes");

	if ((ret = rd_collect(t, kq, RD_HASH, &pq)))
		return ret;
	if ((ret = rd_collect(t, ks, RD_HASH, &ps))) {
		rd_pairs_free(&pq);
		return ret;
	}
	if ((ret = rd_collect(t, ki, RD_HASH, &pi))) {
		rd_pairs_free(&pq);
		rd_pairs_free(&ps);
		return ret;
	}
	for (size_t i = 0; i < pq.n && !ret; i++) {
		struct meta_quota q;
		uint64_t ino;
		if (parse_u64(pq.p[i].f, &ino) || pq.p[i].vlen != 16) {
			log_warn("redis: skipping bad quota record %s %s", kq, pq.p[i].f);
			continue;
		}
		q.max_space = (int64_t)get_be64((const uint8_t *)pq.p[i].v);
		q.max_inodes = (int64_t)get_be64((const uint8_t *)pq.p[i].v + 8);
		q.used_space = rd_pairs_int(&ps, pq.p[i].f);
		q.used_inodes = rd_pairs_int(&pi, pq.p[i].f);
		ret = cb(arg, ino, &q);
	}
	rd_pairs_free(&pq);
	rd_pairs_free(&ps);
	rd_pairs_free(&pi);
	return ret;
}

/* ---------------- locks ---------------- */

/* Field "<sid>_<owner as %016X>". */
static int rd_parse_owner(const char *f, uint64_t *sid, uint64_t *owner)
{
	const char *us = strchr(f, '_');
	char tmp[24];
	char *end;

	if (!us || (size_t)(us - f) >= sizeof(tmp) || strlen(us + 1) != 16)
		return -EINVAL;
	memcpy(tmp, f, (size_t)(us - f));
	tmp[us - f] = 0;
	if (parse_u64(tmp, sid))
		return -EINVAL;
	errno = 0;
	*owner = strtoull(us + 1, &end, 16);
	return errno || *end ? -EINVAL : 0;
}

static int rd_scan_locks(struct meta_txn *t, const char *k, int flock, void *cb, void *arg)
{
	struct rd_pairs ps;
	int ret = rd_collect(t, k, RD_HASH, &ps);

	if (ret)
		return ret;
	rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
	for (size_t i = 0; i < ps.n && !ret; i++) {
		uint64_t sid, owner;
		if (rd_parse_owner(ps.p[i].f, &sid, &owner)) {
			log_warn("redis: ignoring malformed lock field in %s", k);
			continue;
		}
		if (flock)
			ret = ((meta_flock_fn)cb)(arg, sid, owner, ps.p[i].vlen ? ps.p[i].v[0] : 0);
		else
			ret = ((meta_plock_fn)cb)(arg, sid, owner, (const uint8_t *)ps.p[i].v,
						  ps.p[i].vlen);
	}
	rd_pairs_free(&ps);
	return ret;
}

/*
 * Write or delete one lock field, keeping locked<sid> (full key names) in step:
 * added with the lock, removed when the session holds nothing more there.
 */
static int rd_lock_write(struct meta_txn *t, const char *k, uint64_t sid, uint64_t owner,
			 const void *val, size_t vlen)
{
	char f[48];
	KEY(t, kl, "locked%llu", (unsigned long long)sid);

	snprintf(f, sizeof(f), "%llu_%016llX", (unsigned long long)sid,
		 (unsigned long long)owner);
	if (vlen) {
		rd_hset(t, k, f, strlen(f), val, vlen);
		rd_queue(t, "SADD %s %s", kl, k);
		rd_ov_set(t, kl, k, strlen(k), "", 0);
		return 0;
	} else {
		struct rd_pairs ps;
		char pre[32];
		int ret, more = 0;
		rd_hdel(t, k, f, strlen(f));
		ret = rd_collect(t, k, RD_HASH, &ps);
		if (ret)
			return ret;
		snprintf(pre, sizeof(pre), "%llu_", (unsigned long long)sid);
		for (size_t i = 0; i < ps.n && !more; i++)
			more = !strncmp(ps.p[i].f, pre, strlen(pre));
		rd_pairs_free(&ps);
		if (!more) {
			rd_queue(t, "SREM %s %s", kl, k);
			rd_ov_del_field(t, kl, k, strlen(k));
		}
	}
	return 0;
}

static int rd_scan_flocks(struct meta_txn *t, uint64_t ino, meta_flock_fn cb, void *arg)
{
	KEY(t, k, "lockf%llu", (unsigned long long)ino);
	return rd_scan_locks(t, k, 1, (void *)cb, arg);
}

static int rd_put_flock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner, char ltype)
{
	KEY(t, k, "lockf%llu", (unsigned long long)ino);
	return rd_lock_write(t, k, sid, owner, &ltype, ltype ? 1 : 0);
}

static int rd_scan_plocks(struct meta_txn *t, uint64_t ino, meta_plock_fn cb, void *arg)
{
	KEY(t, k, "lockp%llu", (unsigned long long)ino);
	return rd_scan_locks(t, k, 0, (void *)cb, arg);
}

static int rd_put_plock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
			const uint8_t *recs, size_t len)
{
	KEY(t, k, "lockp%llu", (unsigned long long)ino);
	return rd_lock_write(t, k, sid, owner, recs, len);
}

static int rd_del_session_locks(struct meta_txn *t, uint64_t sid)
{
	struct rd_pairs keys;
	char pre[32];
	KEY(t, kl, "locked%llu", (unsigned long long)sid);
	int ret = rd_collect(t, kl, RD_SET, &keys);

	if (ret)
		return ret;
	snprintf(pre, sizeof(pre), "%llu_", (unsigned long long)sid);
	for (size_t i = 0; i < keys.n && !ret; i++) {
		struct rd_pairs ps;
		ret = rd_collect(t, keys.p[i].f, RD_HASH, &ps);
		for (size_t j = 0; !ret && j < ps.n; j++)
			if (!strncmp(ps.p[j].f, pre, strlen(pre)))
				rd_hdel(t, keys.p[i].f, ps.p[j].f, ps.p[j].flen);
		rd_pairs_free(&ps);
	}
	rd_pairs_free(&keys);
	return ret ? ret : rd_del_key(t, kl);
}

/* locked<sid> names the lock hashes; of each, the fields "<sid>_<owner>". */
static int rd_scan_session_locks(struct meta_txn *t, uint64_t sid, meta_session_lock_fn cb,
				 void *arg)
{
	struct rd_pairs keys;
	size_t pl = strlen(t->rm->prefix);
	KEY(t, kl, "locked%llu", (unsigned long long)sid);
	int ret = rd_collect(t, kl, RD_SET, &keys);

	if (ret)
		return ret;
	rd_sort(keys.p, keys.n, sizeof(*keys.p), rd_pair_cmp);
	for (int flock = 1; flock >= 0 && !ret; flock--) {
		for (size_t i = 0; i < keys.n && !ret; i++) {
			const char *k = keys.p[i].f;
			struct rd_pairs ps;
			uint64_t ino;
			char *end;

			if (strncmp(k, t->rm->prefix, pl) || strncmp(k + pl, flock ? "lockf" : "lockp", 5))
				continue;
			ino = strtoull(k + pl + 5, &end, 10);
			if (*end) {
				log_warn("redis: ignoring malformed lock key %s in %s", k, kl);
				continue;
			}
			ret = rd_collect(t, k, RD_HASH, &ps);
			if (ret)
				break;
			rd_sort(ps.p, ps.n, sizeof(*ps.p), rd_pair_cmp);
			for (size_t j = 0; j < ps.n && !ret; j++) {
				uint64_t s, owner;
				if (rd_parse_owner(ps.p[j].f, &s, &owner) || s != sid)
					continue;
				if (flock)
					ret = cb(arg, ino, owner, 1, ps.p[j].vlen ? ps.p[j].v[0] : 0,
						 NULL, 0);
				else
					ret = cb(arg, ino, owner, 0, 0, (const uint8_t *)ps.p[j].v,
						 ps.p[j].vlen);
			}
			rd_pairs_free(&ps);
		}
	}
	rd_pairs_free(&keys);
	return ret;
}

/* ---------------- lifecycle ---------------- */

static void rd_close(struct meta *m)
{
	struct rd_meta *rm;
	struct rd_conn *c, *next;

	if (!m)
		return;
	rm = rd_of(m);
	pthread_key_delete(rm->key);
	pthread_mutex_lock(&rm->mu);
	c = rm->conns;
	rm->conns = NULL;
	pthread_mutex_unlock(&rm->mu);
	for (; c; c = next) {
		next = c->next;
		if (c->pid == getpid())
			rd_conn_drop(c);
		free(c);
	}
	pthread_mutex_destroy(&rm->mu);
	for (size_t i = 0; i < RD_DC_SLOTS; i++)
		rd_snap_unref(rm, rm->dc[i]);
	pthread_mutex_destroy(&rm->dc_mu);
	for (size_t i = 0; i < rm->naddrs; i++)
		free(rm->addrs[i].host);
	free(rm->addrs);
	free(rm->target.host);
	free(rm->sock);
	free(rm->master);
	free(rm->user);
	free(rm->password);
	free(rm);
}

static const struct meta_engine_ops rd_ops = {
	.name = "redis",
	.close = rd_close,
	.get_setting = rd_get_setting,
	.init_schema = rd_init_schema,
	.reset = rd_reset,
	.is_empty = rd_is_empty,
	.alloc_ids = rd_alloc_ids,
	.begin = rd_begin,
	.commit = rd_commit,
	.abort = rd_abort,
	.set_setting = rd_set_setting,
	.get_counter = rd_get_counter,
	.incr_counter = rd_incr_counter,
	.set_counter = rd_set_counter,
	.get_attr = rd_get_attr,
	.get_attrs = rd_get_attrs,
	.get_xattrs = rd_get_xattrs,
	.get_extras = rd_get_extras,
	.put_attr = rd_put_attr,
	.del_attr = rd_del_attr,
	.get_entry = rd_get_entry,
	.put_entry = rd_put_entry,
	.del_entry = rd_del_entry,
	.scan_entries = rd_scan_entries,
	.scan_entries_native = rd_scan_entries_native,
	.count_entries = rd_count_entries,
	.incr_parent = rd_incr_parent,
	.list_parents = rd_list_parents,
	.del_parents = rd_del_parents,
	.get_symlink = rd_get_symlink,
	.put_symlink = rd_put_symlink,
	.del_symlink = rd_del_symlink,
	.get_xattr = rd_get_xattr,
	.put_xattr = rd_put_xattr,
	.del_xattr = rd_del_xattr,
	.scan_xattrs = rd_scan_xattrs,
	.del_xattrs = rd_del_xattrs,
	.get_chunk = rd_get_chunk,
	.append_chunk = rd_append_chunk,
	.set_chunk = rd_set_chunk,
	.scan_chunks = rd_scan_chunks,
	.chunks_below = rd_chunks_below,
	.scan_all_chunks = rd_scan_all_chunks,
	.new_slice = rd_new_slice,
	.incr_ref = rd_incr_ref,
	.del_ref = rd_del_ref,
	.scan_dead_refs = rd_scan_dead_refs,
	.put_delslices = rd_put_delslices,
	.del_delslices = rd_del_delslices,
	.scan_delslices = rd_scan_delslices,
	.add_delfile = rd_add_delfile,
	.del_delfile = rd_del_delfile,
	.scan_delfiles = rd_scan_delfiles,
	.add_sustained = rd_add_sustained,
	.del_sustained = rd_del_sustained,
	.scan_sustained = rd_scan_sustained,
	.put_session = rd_put_session,
	.touch_session = rd_touch_session,
	.del_session = rd_del_session,
	.scan_sessions = rd_scan_sessions,
	.incr_dirstat = rd_incr_dirstat,
	.get_dirstat = rd_get_dirstat,
	.del_dirstat = rd_del_dirstat,
	.get_quota = rd_get_quota,
	.put_quota = rd_put_quota,
	.incr_quota = rd_incr_quota,
	.del_quota = rd_del_quota,
	.scan_quotas = rd_scan_quotas,
	.get_acl = rd_get_acl,
	.put_acl = rd_put_acl,
	.scan_acls = rd_scan_acls,
	.scan_flocks = rd_scan_flocks,
	.put_flock = rd_put_flock,
	.scan_plocks = rd_scan_plocks,
	.put_plock = rd_put_plock,
	.del_session_locks = rd_del_session_locks,
	.scan_session_locks = rd_scan_session_locks,
};

static const char *rd_query(const struct conf_meta_url *u, const char *key)
{
	for (size_t i = 0; i < u->nquery; i++)
		if (u->query[i].key && !strcmp(u->query[i].key, key))
			return u->query[i].val ? u->query[i].val : "";
	return NULL;
}

static int rd_timeout(const struct conf_meta_url *u, const char *key, int64_t def_ms,
		      struct timeval *tv, struct buf *err)
{
	const char *v = rd_query(u, key);
	int64_t ms = def_ms;

	if (v && (parse_duration_ms(v, &ms) || ms <= 0)) {
		buf_addf(err, "redis: invalid %s \"%s\" (a duration such as 30s)", key, v);
		return -EINVAL;
	}
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
	return 0;
}

/* "h1:p1,h2:p2" → addresses; hosts without a port get def_port. */
static int rd_parse_hosts(const char *hosts, int def_port, struct rd_meta *rm, struct buf *err)
{
	const char *h = hosts;

	while (*h) {
		size_t n = strcspn(h, ",");
		const char *colon = NULL, *hs = h, *he;
		char *ht;
		int port = def_port;
		if (*h == '[') {
			const char *rb = memchr(h, ']', n);
			hs = h + 1;
			he = rb ? rb : h + n;
			if (rb && rb + 1 < h + n && rb[1] == ':')
				colon = rb + 1;
		} else {
			colon = memchr(h, ':', n);
			he = colon ? colon : h + n;
		}
		if (colon) {
			char *p = xstrndup(colon + 1, (size_t)(h + n - colon - 1));
			int bad = parse_int(p, &port) || port <= 0 || port > 65535;
			free(p);
			if (bad) {
				buf_addf(err, "redis: invalid port in \"%.*s\"", (int)n, h);
				return -EINVAL;
			}
		}
		ht = xstrndup(hs, (size_t)(he - hs));
		if (!*ht) {
			free(ht);
			ht = xstrdup("127.0.0.1");
		}
		rm->addrs = xrealloc(rm->addrs, (rm->naddrs + 1) * sizeof(*rm->addrs));
		rm->addrs[rm->naddrs].host = ht;
		rm->addrs[rm->naddrs].port = port;
		rm->naddrs++;
		h += n;
		if (*h == ',')
			h++;
	}
	return 0;
}

/* Sentinel form: a comma before the first colon ("master,s1,s2:26379"). */
static int rd_is_sentinel(const char *hosts)
{
	const char *comma = strchr(hosts, ','), *colon = strchr(hosts, ':');

	return comma && (!colon || comma < colon);
}

int meta_redis_open(const struct conf_meta_url *u, struct meta **out, struct buf *err)
{
	struct rd_meta *rm;
	struct rd_conn *c;
	struct timeval wtv, btv;
	const char *pw;
	int ret;

	if (!strcmp(u->scheme, "rediss")) {
		buf_addf(err, "rediss:// (Redis over TLS) is not supported: this build's hiredis "
			      "(Debian libhiredis 0.14) has no TLS; use redis:// or a TLS tunnel");
		return -EPROTONOSUPPORT;
	}
	rm = xcalloc(1, sizeof(*rm));
	rm->base.ops = &rd_ops;
	pthread_mutex_init(&rm->mu, NULL);
	pthread_mutex_init(&rm->dc_mu, NULL);
	if (pthread_key_create(&rm->key, rd_conn_dtor)) {
		buf_addf(err, "redis: out of thread-specific keys");
		pthread_mutex_destroy(&rm->mu);
		pthread_mutex_destroy(&rm->dc_mu);
		free(rm);
		return -EAGAIN;
	}
	rm->user = xstrdup(u->user ? u->user : "");
	pw = u->password && *u->password ? u->password : getenv("REDIS_PASSWORD");
	if (!pw || !*pw)
		pw = getenv("META_PASSWORD");
	rm->password = xstrdup(pw ? pw : "");
	if (u->db && *u->db && parse_int(u->db, &rm->db)) {
		buf_addf(err, "redis: invalid database number \"%s\"", u->db);
		ret = -EINVAL;
		goto fail;
	}
	/*
	 * hiredis has one socket timeout: the longer of read-timeout and
	 * write-timeout. The retry back-off options are accepted and validated;
	 * meta.c's own back-off governs retries.
	 */
	if ((ret = rd_timeout(u, "read-timeout", 30000, &rm->rw_tv, err)) ||
	    (ret = rd_timeout(u, "write-timeout", 5000, &wtv, err)) ||
	    (ret = rd_timeout(u, "min-retry-backoff", 20, &btv, err)) ||
	    (ret = rd_timeout(u, "max-retry-backoff", 10000, &btv, err)))
		goto fail;
	if (timercmp(&wtv, &rm->rw_tv, >))
		rm->rw_tv = wtv;
	rm->conn_tv.tv_sec = 5;
	if (!strcmp(u->scheme, "unix")) {
		rm->mode = RD_UNIX;
		rm->sock = xstrdup(u->path);
	} else if (rd_is_sentinel(u->hosts)) {
		const char *comma = strchr(u->hosts, ',');
		rm->mode = RD_SENTINEL;
		rm->master = xstrndup(u->hosts, (size_t)(comma - u->hosts));
		ret = rd_parse_hosts(comma + 1, 26379, rm, err);
		/* The port written once, after the last sentinel, applies to all of them. */
		for (size_t i = 0; !ret && i + 1 < rm->naddrs; i++)
			rm->addrs[i].port = rm->addrs[rm->naddrs - 1].port;
	} else {
		ret = rd_parse_hosts(*u->hosts ? u->hosts : "127.0.0.1", 6379, rm, err);
		if (!ret && rm->naddrs > 1) {
			rm->mode = RD_CLUSTER;
			snprintf(rm->prefix, sizeof(rm->prefix), "{%d}", rm->db);
		}
	}
	if (ret)
		goto fail;
	/* Prove the server is reachable (and the password right) now, with a clear message. */
	ret = rd_conn_get(rm, &c);
	if (ret) {
		char *red = conf_redact_url(u->raw);
		buf_addf(err, "redis: cannot connect to %s (see the log above)", red);
		free(red);
		goto fail;
	}
	*out = &rm->base;
	return 0;
fail:
	rd_close(&rm->base);
	return ret;
}
