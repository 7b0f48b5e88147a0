/*
 * meta.c: the rules that are the same for every metadata engine.
 *
 * Engines give transactional record primitives (meta-internal.h); every
 * file-system operation is composed here once: name and permission checks,
 * usage counters and capacity, dir stats, trash placement (spec §8),
 * sustained inodes (§9.2), refcounts (§9.1) and locks (§10.2).
 *
 * Invariants (write order):
 *  1. Ids (inodes, slices, sessions, trash hours) are reserved in their own
 *     engine transaction before the operation's transaction starts; a retried
 *     or failed operation may waste ids, never reuse them.
 *  2. An operation's transaction holds every change of that operation: entry,
 *     attributes, usage counters, dir stats. Nothing is written outside it.
 *  3. Object deletion happens only after the transaction that dropped the
 *     last reference has committed; a crash in between leaves a slice whose
 *     refcount is < 1, which the cleanup job and gc finish later. Objects are
 *     never deleted while a committed record points at them.
 *  4. A file whose last link is removed while this process has it open stays
 *     (nlink 0, sustained in the session) until its last close.
 */
#include "meta/meta-internal.h"
#include "base/metrics.h"

#include <time.h>
#include <unistd.h>

#define MAX_TXN_RETRIES 50
#define INODE_BATCH 1024
#define SLICE_BATCH 4096
#define TRASH_NAME ".trash"
#define ELOCKED 10001 /* see the locks section */

static int64_t align4k(uint64_t len)
{
	return len == 0 ? 4096 : (int64_t)(((len - 1) / 4096 + 1) * 4096);
}

void meta_ctx_root(struct meta_ctx *c)
{
	memset(c, 0, sizeof(*c));
}

void meta_conf_defaults(struct meta_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->heartbeat_ms = 12000;
	c->skip_dir_mtime_ms = 100;
	c->atime_mode = META_NOATIME;
	c->max_deletes = 10;
}

const char *meta_engine_name(const struct meta *m)
{
	return m->ops->name;
}

const struct conf_format *meta_format(const struct meta *m)
{
	return m->fmt_loaded ? &m->fmt : NULL;
}

uint64_t meta_sid(const struct meta *m)
{
	return m->sid;
}

void meta_set_slice_deleter(struct meta *m, meta_delete_slice_fn fn, void *arg)
{
	pthread_mutex_lock(&m->mu);
	m->deleter = fn;
	m->deleter_arg = arg;
	pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------ open */

int meta_open(const char *url, const struct meta_conf *c, struct meta **out, struct buf *err)
{
	struct conf_meta_url u;
	struct meta *m = NULL;
	int r;

	r = conf_parse_meta_url(url, &u, err);
	if (r)
		return r;
	if (c && c->create) {
		/* Engines read creation permission from the query; see meta_conf.create. */
		u.query = xrealloc(u.query, (u.nquery + 1) * sizeof(*u.query));
		u.query[u.nquery].key = xstrdup("_jfs_create");
		u.query[u.nquery].val = xstrdup("1");
		u.nquery++;
	}
	if (!strcmp(u.scheme, "sqlite3")) {
		r = meta_sqlite_open(&u, &m, err);
	} else if (!strcmp(u.scheme, "mem")) {
		r = meta_mem_open(&u, &m, err);
	} else if (!strcmp(u.scheme, "redis") || !strcmp(u.scheme, "rediss") ||
		   !strcmp(u.scheme, "unix")) {
		r = meta_redis_open(&u, &m, err);
	} else if (!strcmp(u.scheme, "postgres")) {
		r = meta_postgres_open(&u, &m, err);
	} else if (!strcmp(u.scheme, "mysql")) {
		r = meta_mysql_open(&u, &m, err);
	} else {
		buf_addf(err, "unsupported meta engine \"%s\" (supported: sqlite3://, redis://, unix://, postgres://, mysql://, mem://)",
			 u.scheme);
		r = -EPROTONOSUPPORT;
	}
	conf_meta_url_release(&u);
	if (r == META_ETRANSIENT || r == META_ENOTAPPLIED)
		r = -EIO; /* an engine that is not there at open is an error at once */
	if (r)
		return r;
	m->url = xstrdup(url);
	if (c)
		m->conf = *c;
	else
		meta_conf_defaults(&m->conf);
	m->conf.mount_point = NULL; /* not owned; callers pass it to meta_new_session */
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->id_mu, NULL);
	pthread_mutex_init(&m->quota_mu, NULL);
	pthread_mutex_init(&m->acl_mu, NULL);
	pthread_mutex_init(&m->dq_mu, NULL);
	pthread_cond_init(&m->dq_cond, NULL);
	*out = m;
	return 0;
}

static void dead_queue_drain(struct meta *m);

void meta_close(struct meta *m)
{
	if (!m)
		return;
	/* before `closing` shortens the retries: owed deletions get the full budget */
	dead_queue_drain(m);
	__atomic_store_n(&m->closing, 1, __ATOMIC_RELAXED);
	if (m->sid)
		meta_close_session(m);
	for (size_t i = 0; i < ARRAY_SIZE(m->open_files); i++) {
		struct meta_open_ent *e = m->open_files[i], *n;
		for (; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	conf_format_release(&m->fmt);
	free(m->url);
	free(m->session_info);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->id_mu);
	pthread_mutex_destroy(&m->quota_mu);
	pthread_mutex_destroy(&m->acl_mu);
	pthread_mutex_destroy(&m->dq_mu);
	pthread_cond_destroy(&m->dq_cond);
	for (uint32_t i = 0; i < m->nacls; i++)
		if (m->acl_have[i])
			meta_acl_release(&m->acls[i]);
	free(m->acls);
	free(m->acl_have);
	free(m->quota_inos);
	m->ops->close(m); /* frees the engine struct, which embeds m */
}

/* ---------------------------------------------------------- transactions */

typedef int (*txn_fn)(struct meta *m, struct meta_txn *t, void *arg);
static void quota_load(struct meta *m, int force);

static int64_t transient_budget(struct meta *m)
{
	return __atomic_load_n(&m->closing, __ATOMIC_RELAXED) ? META_CLOSING_TRANSIENT_MS
							      : META_TRANSIENT_MS;
}

/*
 * Run fn in a transaction until it commits, reruns on conflict, and waits out
 * an engine that is briefly unavailable (META_ETRANSIENT) for up to
 * META_TRANSIENT_MS. *unknown (may be NULL) is set when the last failure was
 * a commit whose outcome is unknown (engine invariant 6); such a failure is
 * never rerun, since it may have been applied.
 */
/*
 * JuiceFS's transaction metrics. A transaction is one attempt (begin to
 * commit or abort); a meta op is the whole call, restarts and back-off
 * included. NEEDSWORK: JuiceFS labels restarts and ops by API method; ours
 * are not labelled, since run_txn does not know which call it serves.
 */
static struct metric *mm_txn, *mm_ops, *mm_restart;
static pthread_once_t mm_once = PTHREAD_ONCE_INIT;

static void mm_init(void)
{
	double b[30];
	metric_exp_buckets(b, 0.0001, 1.5, 30);
	mm_txn = metric_get(metric_family(METRIC_HISTOGRAM,
					  "juicefs_transaction_durations_histogram_seconds",
					  "Transactions latency distributions.", 1e-6, NULL, b, 30));
	mm_ops = metric_get(metric_family(METRIC_HISTOGRAM,
					  "juicefs_meta_ops_durations_histogram_seconds",
					  "Operation latency distributions.", 1e-6, NULL, b, 30));
	mm_restart = metric_get(metric_family(METRIC_COUNTER, "juicefs_transaction_restart",
					      "The number of times a transaction is restarted.",
					      1, NULL, NULL, 0));
}

static int run_txn_attempts(struct meta *m, int write, txn_fn fn, void *arg, int *unknown,
			    uint64_t *t_end);

static int run_txn_outcome(struct meta *m, int write, txn_fn fn, void *arg, int *unknown)
{
	uint64_t t_end = 0, t0;
	int r;
	pthread_once(&mm_once, mm_init);
	/* the first attempt starts and the last ends with the op: two clock reads, not four */
	t0 = metric_now_us();
	t_end = t0;
	r = run_txn_attempts(m, write, fn, arg, unknown, &t_end);
	metric_observe(mm_ops, t_end - t0);
	return r;
}

/* *t_end: in, when the first attempt starts; out, when the last ended. */
static int run_txn_attempts(struct meta *m, int write, txn_fn fn, void *arg, int *unknown,
			    uint64_t *t_end)
{
	int r = 0, conflicts = 0;
	int64_t since_ms = 0, pause_ms = 20;
	uint64_t t0 = *t_end;
	if (unknown)
		*unknown = 0;
	if (write == META_TXN_SOLO && !m->ops->solo_reads)
		write = 0;
	if (write == 1 && m->conf.read_only)
		return -EROFS;
	if (write == 1)
		quota_load(m, 0);
	for (;;) {
		struct meta_txn *t;
		int committing = 0;
		if (!t0)
			t0 = metric_now_us();
		r = m->ops->begin(m, write, &t);
		if (r == 0) {
			r = fn(m, t, arg);
			if (r == 0) {
				committing = 1;
				r = m->ops->commit(t);
			} else {
				m->ops->abort(t);
			}
		}
		*t_end = metric_now_us();
		metric_observe(mm_txn, *t_end - t0);
		t0 = 0; /* a rerun starts after its back-off */
		if (r == -EAGAIN || r == META_ETRANSIENT)
			metric_add(mm_restart, 1);
		if (r == META_ENOTAPPLIED)
			return -EIO;
		if (r == META_ETRANSIENT) {
			if (!since_ms)
				since_ms = mono_ms();
			if (mono_ms() - since_ms >= transient_budget(m)) {
				log_warn("metadata engine still unavailable after %lld ms",
					 (long long)(mono_ms() - since_ms));
				return -EIO;
			}
			sleep_ms(pause_ms);
			pause_ms = MIN(pause_ms * 2, 1000);
			continue;
		}
		if (r != -EAGAIN) {
			if (r && committing && unknown && r != -ENOSPC)
				*unknown = 1;
			return r;
		}
		if (++conflicts >= MAX_TXN_RETRIES)
			break;
		/* Conflict: back off with jitter, growing to ~100 ms. */
		uint32_t j;
		random_bytes(&j, sizeof(j));
		sleep_ms(1 + (int64_t)(j % (uint32_t)(2 + MIN(conflicts - 1, 10) * 10)));
	}
	log_warn("transaction still conflicting after %d attempts", MAX_TXN_RETRIES);
	return -EIO;
}

static int run_txn(struct meta *m, int write, txn_fn fn, void *arg)
{
	return run_txn_outcome(m, write, fn, arg, NULL);
}

/* An engine call outside transactions, waiting out META_ETRANSIENT like run_txn. */
#define ENGINE_RETRY(r, call)                                                            \
	do {                                                                             \
		int64_t since_ = mono_ms(), pause_ = 20;                                  \
		while (((r) = (call)) == META_ETRANSIENT &&                               \
		       mono_ms() - since_ < transient_budget(m)) {                         \
			sleep_ms(pause_);                                                \
			pause_ = MIN(pause_ * 2, 1000);                                  \
		}                                                                        \
		if ((r) == META_ETRANSIENT || (r) == META_ENOTAPPLIED)                   \
			(r) = -EIO;                                                      \
	} while (0)

/* ------------------------------------------------------------------ ids */

static int next_id(struct meta *m, const char *counter, uint64_t batch, uint64_t *next,
		   uint64_t *max, uint64_t *id)
{
	int r = 0;
	pthread_mutex_lock(&m->id_mu);
	while (*next >= *max || *next <= 1) {
		uint64_t first;
		if (*next >= *max) {
			ENGINE_RETRY(r, m->ops->alloc_ids(m, counter, batch, &first));
			if (r)
				goto out;
			*next = first;
			*max = first + batch;
		}
		if (*next <= 1 && !strcmp(counter, "nextInode"))
			*next = 2; /* inode 1 is the root */
		else
			break;
	}
	*id = (*next)++;
out:
	pthread_mutex_unlock(&m->id_mu);
	return r;
}

static int new_inode(struct meta *m, uint64_t *ino)
{
	return next_id(m, "nextInode", INODE_BATCH, &m->next_ino, &m->max_ino, ino);
}

int meta_new_slice_id(struct meta *m, uint64_t *id)
{
	if (m->conf.read_only)
		return -EROFS;
	return next_id(m, "nextChunk", SLICE_BATCH, &m->next_slice, &m->max_slice, id);
}

/* -------------------------------------------------------------- setting */

int meta_load_format(struct meta *m, struct conf_format *f)
{
	struct buf json = BUF_INIT, err = BUF_INIT;
	struct conf_format tmp;
	int r;
	ENGINE_RETRY(r, m->ops->get_setting(m, &json));
	if (r)
		goto out;
	memset(&tmp, 0, sizeof(tmp));
	r = conf_format_from_json(json.ptr, &tmp, &err);
	if (r) {
		log_error("bad volume setting: %s", err.ptr);
		r = -EINVAL;
		goto out;
	}
	if (tmp.meta_version > CONF_MAX_META_VERSION) {
		log_error("volume meta version %d is newer than supported (%d)", tmp.meta_version,
			  CONF_MAX_META_VERSION);
		conf_format_release(&tmp);
		r = -EINVAL;
		goto out;
	}
	pthread_mutex_lock(&m->mu);
	conf_format_release(&m->fmt);
	conf_format_copy(&m->fmt, &tmp);
	m->fmt_loaded = 1;
	pthread_mutex_unlock(&m->mu);
	if (f)
		conf_format_copy(f, &tmp);
	conf_format_release(&tmp);
out:
	buf_release(&json);
	buf_release(&err);
	return r;
}

static void now_attr(struct meta_attr *a, int64_t us)
{
	a->atime = a->mtime = a->ctime = us / 1000000;
	a->atimensec = a->mtimensec = a->ctimensec = (uint32_t)(us % 1000000) * 1000;
}

static void new_dir_attr(struct meta_attr *a, uint16_t mode, uint64_t parent, int64_t us)
{
	memset(a, 0, sizeof(*a));
	a->type = META_TYPE_DIRECTORY;
	a->mode = mode;
	a->nlink = 2;
	a->length = 4096;
	a->parent = parent;
	now_attr(a, us);
}

struct init_args {
	const char *json;
	int fresh;
	int trash;
	int64_t now;
};

static int do_init(struct meta *m, struct meta_txn *t, void *arg)
{
	struct init_args *a = arg;
	struct meta_attr at;
	int r = m->ops->set_setting(t, a->json);
	if (r)
		return r;
	if (a->fresh) {
		new_dir_attr(&at, 0777, META_ROOT_INODE, a->now);
		if ((r = m->ops->put_attr(t, META_ROOT_INODE, &at)))
			return r;
	}
	if (a->trash) {
		r = m->ops->get_attr(t, META_TRASH_INODE, &at);
		if (r == -ENOENT) {
			new_dir_attr(&at, 0555, META_ROOT_INODE, a->now);
			r = m->ops->put_attr(t, META_TRASH_INODE, &at);
		}
		if (r)
			return r;
	}
	return 0;
}

int meta_init(struct meta *m, struct conf_format *f, int force, struct buf *err)
{
	struct buf json = BUF_INIT;
	struct conf_format old;
	int r, fresh = 0;

	memset(&old, 0, sizeof(old));
	ENGINE_RETRY(r, m->ops->init_schema(m));
	if (r) {
		buf_addf(err, "cannot create the metadata schema: %s", strerror(-r));
		return r;
	}
	ENGINE_RETRY(r, m->ops->get_setting(m, &json));
	if (r == -ENOENT) {
		fresh = 1;
	} else if (r) {
		buf_addf(err, "cannot read the volume setting: %s", strerror(-r));
		goto out;
	} else {
		struct buf e = BUF_INIT;
		r = conf_format_from_json(json.ptr, &old, &e);
		if (r) {
			buf_addf(err, "existing volume setting is unreadable: %s", e.ptr);
			buf_release(&e);
			goto out;
		}
		if (strcmp(old.name, f->name) && !force) {
			buf_addf(err, "cannot update volume name from %s to %s (use --force)",
				 old.name, f->name);
			r = -EEXIST;
			goto out;
		}
#define IMMUTABLE(cond, what)                                                        \
	if ((cond) && !force) {                                                   \
		buf_addf(err, "cannot update %s of volume %s (use --force)", what, old.name); \
		r = -EEXIST;                                                      \
		goto out;                                                         \
	}
		IMMUTABLE(old.block_size != f->block_size, "block size");
		IMMUTABLE(strcmp(old.compression ? old.compression : "none",
				 f->compression ? f->compression : "none"),
			  "compression");
		IMMUTABLE(old.shards != f->shards, "shards");
		IMMUTABLE(old.hash_prefix != f->hash_prefix, "hash prefix");
		IMMUTABLE(old.meta_version != f->meta_version, "meta version");
#undef IMMUTABLE
		/* The identity of a volume never changes by re-format. */
		free(f->uuid);
		f->uuid = xstrdup(old.uuid);
	}
	buf_release(&json);
	char *text = conf_format_to_json(f, 0);
	struct init_args ia = { text, fresh, f->trash_days > 0, now_us() };
	int unknown;
	r = run_txn_outcome(m, 1, do_init, &ia, &unknown);
	free(text);
	if (r) {
		buf_addf(err, "cannot write the volume setting: %s%s", strerror(-r),
			 unknown ? " (it may have been written: the answer was lost)" : "");
		if (unknown)
			r = META_EUNKNOWN;
		goto out;
	}
	pthread_mutex_lock(&m->mu);
	conf_format_release(&m->fmt);
	conf_format_copy(&m->fmt, f);
	m->fmt_loaded = 1;
	pthread_mutex_unlock(&m->mu);
out:
	buf_release(&json);
	conf_format_release(&old);
	return r;
}

static int do_save(struct meta *m, struct meta_txn *t, void *arg)
{
	return m->ops->set_setting(t, arg);
}

int meta_save_format(struct meta *m, const struct conf_format *f)
{
	char *text = conf_format_to_json(f, 0);
	int r = run_txn(m, 1, do_save, text);
	free(text);
	if (!r) {
		pthread_mutex_lock(&m->mu);
		conf_format_release(&m->fmt);
		conf_format_copy(&m->fmt, f);
		m->fmt_loaded = 1;
		pthread_mutex_unlock(&m->mu);
	}
	return r;
}

int meta_reset(struct meta *m)
{
	int r;
	ENGINE_RETRY(r, m->ops->reset(m));
	/* the rules went with the volume: a new one may give their ids to others */
	pthread_mutex_lock(&m->acl_mu);
	for (uint32_t i = 0; i < m->nacls; i++)
		if (m->acl_have[i]) {
			meta_acl_release(&m->acls[i]);
			m->acl_have[i] = 0;
		}
	pthread_mutex_unlock(&m->acl_mu);
	return r;
}

struct counter_args {
	const char *name;
	int64_t v;
};

static int do_get_counter(struct meta *m, struct meta_txn *t, void *arg)
{
	struct counter_args *a = arg;
	return m->ops->get_counter(t, a->name, &a->v);
}

int meta_get_counter(struct meta *m, const char *name, int64_t *v)
{
	struct counter_args a = { name, 0 };
	int r = run_txn(m, 0, do_get_counter, &a);
	if (!r)
		*v = a.v;
	return r;
}

/* ------------------------------------------------------------ election */

/*
 * Leader election for background jobs, JuiceFS's setIfSmall: one write
 * transaction reads the job's timestamp counter and, when it is not newer
 * than now - diff, stores now. The engine's conflict detection (SQLite's
 * write lock, Redis WATCH) lets exactly one of several racing clients see
 * the old value and win; the others read the winner's stamp and lose.
 */
struct elect_args {
	const char *name;
	int64_t now, diff;
	int won;
};

static int do_elect(struct meta *m, struct meta_txn *t, void *arg)
{
	struct elect_args *a = arg;
	int64_t old = 0;
	int r = m->ops->get_counter(t, a->name, &old);

	a->won = 0;
	if (r && r != -ENOENT)
		return r;
	if (old > a->now - a->diff)
		return 0;
	a->won = 1;
	return m->ops->set_counter(t, a->name, a->now);
}

int meta_elect(struct meta *m, const char *counter, int64_t now_s, int64_t diff_s, int *won)
{
	struct elect_args a = { counter, now_s ? now_s : (int64_t)time(NULL), diff_s, 0 };
	int r = run_txn(m, 1, do_elect, &a);

	*won = r ? 0 : a.won;
	return r;
}

/*
 * RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" to Unix seconds,
 * as Go's time.Parse(time.RFC3339) reads the real client's lastBackup.
 */
static int parse_rfc3339(const char *s, size_t n, int64_t *out)
{
	struct tm tm;
	char tmp[64];
	const char *p;
	int64_t off = 0;

	if (n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	memset(&tm, 0, sizeof(tm));
	p = strptime(tmp, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		   p[2] <= '9' && p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' &&
		   p[5] <= '9') {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	*out = (int64_t)timegm(&tm) - off;
	return 0;
}

struct elect_backup_args {
	int64_t now, interval;
	int won;
};

static int do_elect_backup(struct meta *m, struct meta_txn *t, void *arg)
{
	struct elect_backup_args *a = arg;
	struct buf v = BUF_INIT;
	int64_t last = 0;
	char stamp[32];
	struct tm tm;
	time_t now = (time_t)a->now;
	int r = m->ops->get_xattr(t, META_ROOT_INODE, "lastBackup", &v);

	a->won = 0;
	if (r && r != -ENODATA && r != -ENOENT)
		goto out;
	/* An unreadable stamp would stop every backup forever: take it as old. */
	if (!r && v.len && parse_rfc3339(v.ptr, v.len, &last))
		last = 0;
	r = 0;
	if (a->now - last < a->interval)
		goto out;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	a->won = 1;
	r = m->ops->put_xattr(t, META_ROOT_INODE, "lastBackup", stamp, strlen(stamp));
out:
	buf_release(&v);
	return r;
}

int meta_elect_backup(struct meta *m, int64_t now_s, int64_t interval_s, int *won)
{
	struct elect_backup_args a = { now_s ? now_s : (int64_t)time(NULL), interval_s, 0 };
	int r = run_txn(m, 1, do_elect_backup, &a);

	*won = r ? 0 : a.won;
	return r;
}

/* ------------------------------------------------------------ helpers */

static int valid_name(const char *name, int allow_dots)
{
	size_t n = strlen(name);
	if (n == 0)
		return -ENOENT;
	if (n > META_MAX_NAME)
		return -ENAMETOOLONG;
	if (memchr(name, '/', n))
		return -EINVAL;
	if (!allow_dots && (!strcmp(name, ".") || !strcmp(name, "..")))
		return -EEXIST;
	return 0;
}

static int in_group(const struct meta_ctx *c, uint32_t gid)
{
	if (c->gid == gid)
		return 1;
	for (int i = 0; i < c->ngids && i < (int)ARRAY_SIZE(c->gids); i++)
		if (c->gids[i] == gid)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ ACL rules */

static void acl_cache_put(struct meta *m, uint32_t id, const struct meta_acl *rule)
{
	if (!id || id > (1U << 24))
		return; /* ids come from a counter; a wild one is not worth an array */
	pthread_mutex_lock(&m->acl_mu);
	if (id >= m->nacls) {
		uint32_t n = MAX(id + 1, m->nacls * 2);
		m->acls = xrealloc(m->acls, sizeof(*m->acls) * n);
		m->acl_have = xrealloc(m->acl_have, n);
		memset(m->acl_have + m->nacls, 0, n - m->nacls);
		m->nacls = n;
	}
	if (!m->acl_have[id]) {
		meta_acl_copy(&m->acls[id], rule);
		m->acl_have[id] = 1;
	}
	pthread_mutex_unlock(&m->acl_mu);
}

static int acl_cache_get(struct meta *m, uint32_t id, struct meta_acl *out)
{
	int hit = 0;
	pthread_mutex_lock(&m->acl_mu);
	if (id < m->nacls && m->acl_have[id]) {
		meta_acl_copy(out, &m->acls[id]);
		hit = 1;
	}
	pthread_mutex_unlock(&m->acl_mu);
	return hit;
}

struct acl_get_args {
	uint32_t id;
	struct meta_acl *out;
};

static int do_acl_get(struct meta *m, struct meta_txn *t, void *arg)
{
	struct acl_get_args *a = arg;
	return m->ops->get_acl(t, a->id, a->out);
}

/*
 * Rule `id` into *out (released by the caller). t may be NULL outside a
 * transaction. A missing rule is -EIO: an attribute names it, so the
 * volume is damaged, and guessing permissions from it would be wrong.
 */
static int acl_get(struct meta *m, struct meta_txn *t, uint32_t id, struct meta_acl *out)
{
	if (acl_cache_get(m, id, out))
		return 0;
	if (!m->ops->get_acl)
		return -ENOTSUP;
	struct acl_get_args a = { id, out };
	int r = t ? do_acl_get(m, t, &a) : run_txn(m, 0, do_acl_get, &a);
	if (r == -ENOENT) {
		log_error("ACL rule %u is missing from the volume", id);
		r = -EIO;
	}
	if (r)
		return r;
	acl_cache_put(m, id, out);
	return 0;
}

static int acl_cache_fill(void *arg, uint32_t id, const struct meta_acl *rule)
{
	acl_cache_put(arg, id, rule);
	return 0;
}

static uint32_t acl_cache_find(struct meta *m, const struct meta_acl *rule)
{
	uint32_t id = 0;
	pthread_mutex_lock(&m->acl_mu);
	for (uint32_t i = 1; i < m->nacls && !id; i++)
		if (m->acl_have[i] && meta_acl_equal(&m->acls[i], rule))
			id = i;
	pthread_mutex_unlock(&m->acl_mu);
	return id;
}

/*
 * The id of `rule`, stored under a new id when no stored rule is identical
 * (identical rules share an id, as with JuiceFS). The empty rule is id 0.
 * Rules are scanned before the put, inside t, so a concurrent client's new
 * rule is seen; two clients adding the same rule at once may both store it,
 * which JuiceFS accepts too (a duplicate, never a wrong answer).
 * NEEDSWORK: a rule not yet seen costs a scan of every rule (JuiceFS reads
 * only the ids it lacks); fine for the few distinct rules volumes have.
 */
static int acl_save(struct meta *m, struct meta_txn *t, const struct meta_acl *rule, uint32_t *id)
{
	int r;
	if (meta_acl_is_empty(rule)) {
		*id = 0;
		return 0;
	}
	if (!m->ops->put_acl)
		return -ENOTSUP;
	if ((*id = acl_cache_find(m, rule)))
		return 0;
	if ((r = m->ops->scan_acls(t, acl_cache_fill, m)))
		return r;
	if ((*id = acl_cache_find(m, rule)))
		return 0;
	return m->ops->put_acl(t, rule, id);
}

/* POSIX permission check; mask is a combination of 4 (r), 2 (w), 1 (x). */
static int check_access(struct meta *m, struct meta_txn *t, const struct meta_ctx *c,
			const struct meta_attr *a, int mask)
{
	if (!c || !c->check_permission)
		return 0;
	if (c->uid == 0) {
		/* root may execute only what someone may execute */
		if ((mask & 1) && a->type != META_TYPE_DIRECTORY && !(a->mode & 0111))
			return -EACCES;
		return 0;
	}
	/*
	 * An ACL decides only while the mask grants something: with group bits
	 * 0 the kernel falls back to the mode bits, and so does JuiceFS.
	 */
	if (a->access_acl && (a->mode & 070)) {
		struct meta_acl rule;
		int r = acl_get(m, t, a->access_acl, &rule);
		if (r)
			return r;
		r = meta_acl_permits(&rule, c, a->uid, a->gid, mask) ? 0 : -EACCES;
		meta_acl_release(&rule);
		return r;
	}
	unsigned perm;
	if (c->uid == a->uid)
		perm = (a->mode >> 6) & 7;
	else if (in_group(c, a->gid))
		perm = (a->mode >> 3) & 7;
	else
		perm = a->mode & 7;
	return ((unsigned)mask & perm) == (unsigned)mask ? 0 : -EACCES;
}

/* Sticky directories: only the owner of the entry or of the directory may remove it. */
static int check_sticky(const struct meta_ctx *c, const struct meta_attr *dir,
			const struct meta_attr *node)
{
	if (!c || !c->check_permission || c->uid == 0 || !(dir->mode & 01000))
		return 0;
	if (c->uid == dir->uid || c->uid == node->uid)
		return 0;
	return -EACCES;
}

static void touch_times(struct meta_attr *a, int64_t us, int mtime)
{
	a->ctime = us / 1000000;
	a->ctimensec = (uint32_t)(us % 1000000) * 1000;
	if (mtime) {
		a->mtime = a->ctime;
		a->mtimensec = a->ctimensec;
	}
}

/*
 * Parent directory times: skipped when the last update is younger than
 * --skip-dir-mtime, as JuiceFS does, unless nlink changes (force).
 */
static int update_parent(struct meta *m, struct meta_txn *t, uint64_t parent,
			 struct meta_attr *pa, int nlink_delta, int64_t us)
{
	int64_t last = pa->mtime * 1000000 + pa->mtimensec / 1000;
	if (!nlink_delta && us - last < m->conf.skip_dir_mtime_ms * 1000)
		return 0;
	pa->nlink = (uint32_t)((int64_t)pa->nlink + nlink_delta);
	touch_times(pa, us, 1);
	return m->ops->put_attr(t, parent, pa);
}

struct name_list {
	char **v;
	uint64_t *ino;
	uint8_t *type;
	size_t n, alloc;
};

static int collect_names(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t type)
{
	struct name_list *l = arg;
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 32;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
		l->ino = xrealloc(l->ino, l->alloc * sizeof(*l->ino));
		l->type = xrealloc(l->type, l->alloc * sizeof(*l->type));
	}
	l->v[l->n] = xmemdup(name, namelen);
	l->ino[l->n] = ino;
	l->type[l->n] = type;
	l->n++;
	return 0;
}

static void free_names(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->ino);
	free(l->type);
	memset(l, 0, sizeof(*l));
}

static int dir_stats_on(struct meta *m)
{
	return m->fmt_loaded ? m->fmt.dir_stats : 1;
}

/* ------------------------------------------------------------ dir quotas */
/*
 * Directory quotas (spec §10.5), one rule for every engine and door.
 *
 * Invariants:
 *  1. A quota's usage is the space/inodes of everything below its directory,
 *     the directory itself excluded, as a walk counts it (quota check).
 *  2. Every change of usage below a directory is applied, in the same
 *     transaction, to each quota on its parent chain up to the root (nested
 *     quotas all count); trash directories end the chain.
 *  3. A growth that would take any of them past its limit fails the whole
 *     transaction with -EDQUOT; shrinking is never refused.
 * Which directories have a quota comes from a cache reloaded every second;
 * the limits and usage themselves are always read inside the transaction,
 * so concurrent writers through any door serialize on them.
 */
#define QUOTA_CHECK 1
#define QUOTA_APPLY 2

struct ino_vec {
	uint64_t *v;
	size_t n, a;
};

static void ino_vec_add(struct ino_vec *l, uint64_t ino)
{
	if (l->n == l->a) {
		l->a = l->a ? 2 * l->a : 16;
		l->v = xrealloc(l->v, l->a * sizeof(*l->v));
	}
	l->v[l->n++] = ino;
}

static int collect_quota_ino(void *arg, uint64_t ino, const struct meta_quota *q)
{
	UNUSED(q);
	ino_vec_add(arg, ino);
	return 0;
}

static int do_scan_quota_inos(struct meta *m, struct meta_txn *t, void *arg)
{
	((struct ino_vec *)arg)->n = 0;
	return m->ops->scan_quotas(t, collect_quota_ino, arg);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static void quota_load(struct meta *m, int force)
{
	struct ino_vec l = { 0 };
	int64_t now = mono_ms();
	int r;

	pthread_mutex_lock(&m->quota_mu);
	int fresh = m->quota_loaded_ms && now - m->quota_loaded_ms < 1000;
	pthread_mutex_unlock(&m->quota_mu);
	if (fresh && !force)
		return;
	r = run_txn(m, 0, do_scan_quota_inos, &l);
	if (r) {
		free(l.v);
		/*
		 * Keep the old set and try again in a minute: a volume made
		 * before quotas existed (no quota table) must not log every
		 * second of every write.
		 */
		pthread_mutex_lock(&m->quota_mu);
		if (!m->quota_load_failed)
			log_warn("load directory quotas: %s", strerror(-r));
		m->quota_load_failed = 1;
		m->quota_loaded_ms = now + 59000;
		pthread_mutex_unlock(&m->quota_mu);
		return;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_u64);
	pthread_mutex_lock(&m->quota_mu);
	free(m->quota_inos);
	m->quota_inos = l.v;
	m->nquota = l.n;
	m->quota_loaded_ms = now;
	m->quota_load_failed = 0;
	pthread_mutex_unlock(&m->quota_mu);
}

void meta_quota_reload(struct meta *m)
{
	quota_load(m, 1);
}


static int quota_any(struct meta *m)
{
	pthread_mutex_lock(&m->quota_mu);
	int any = m->nquota > 0;
	pthread_mutex_unlock(&m->quota_mu);
	return any;
}

int meta_quota_any(struct meta *m)
{
	quota_load(m, 0);
	return quota_any(m);
}

static int quota_has(struct meta *m, uint64_t ino)
{
	pthread_mutex_lock(&m->quota_mu);
	int has = m->nquota && bsearch(&ino, m->quota_inos, m->nquota, sizeof(ino), cmp_u64);
	pthread_mutex_unlock(&m->quota_mu);
	return has;
}

static int quota_exceeds(const struct meta_quota *q, int64_t space, int64_t inodes)
{
	return (space > 0 && q->max_space > 0 && q->used_space + space > q->max_space) ||
	       (inodes > 0 && q->max_inodes > 0 && q->used_inodes + inodes > q->max_inodes);
}

/* Walk dir and its ancestors (invariant 2), checking and/or applying a change. */
static int quota_walk(struct meta *m, struct meta_txn *t, uint64_t dir, int64_t space,
		      int64_t inodes, int how)
{
	if ((!space && !inodes) || !dir || !quota_any(m))
		return 0;
	for (int depth = 0; depth < 100000 && dir && !meta_is_trash(dir); depth++) {
		struct meta_attr a;
		int r;
		if (quota_has(m, dir)) {
			struct meta_quota q;
			r = m->ops->get_quota(t, dir, &q);
			if (r && r != -ENOENT)
				return r;
			if (!r && (how & QUOTA_CHECK) && quota_exceeds(&q, space, inodes))
				return -EDQUOT;
			if (!r && (how & QUOTA_APPLY) &&
			    (r = m->ops->incr_quota(t, dir, space, inodes)))
				return r;
		}
		if (dir == META_ROOT_INODE)
			break;
		r = m->ops->get_attr(t, dir, &a);
		if (r == -ENOENT)
			break;
		if (r)
			return r;
		dir = a.parent;
	}
	return 0;
}

static int add_u64(void *arg, uint64_t v)
{
	ino_vec_add(arg, v);
	return 0;
}

/* A file's growth by space bytes, for each directory holding one of its links. */
static int quota_file(struct meta *m, struct meta_txn *t, uint64_t ino, const struct meta_attr *a,
		      int64_t space, int how)
{
	struct ino_vec l = { 0 };
	int r = 0;
	if (!space || !quota_any(m))
		return 0;
	if (a->parent)
		return quota_walk(m, t, a->parent, space, 0, how);
	if ((r = m->ops->list_parents(t, ino, add_u64, &l)))
		goto out;
	for (size_t i = 0; i < l.n && !r; i++)
		r = quota_walk(m, t, l.v[i], space, 0, how);
out:
	free(l.v);
	return r;
}

static int update_dirstat(struct meta *m, struct meta_txn *t, uint64_t dir, int64_t length,
			  int64_t space, int64_t inodes);

/*
 * A hard-linked file (parent 0) changed length: as JuiceFS does, the dir
 * stats and quotas of each distinct directory holding a link follow.
 */
static int linked_file_stat(struct meta *m, struct meta_txn *t, uint64_t ino, int64_t length,
			    int64_t space)
{
	struct ino_vec l = { 0 };
	int r;
	if (!length && !space)
		return 0;
	if ((r = m->ops->list_parents(t, ino, add_u64, &l)))
		goto out;
	for (size_t i = 0; i < l.n && !r; i++)
		if (!meta_is_trash(l.v[i]))
			r = update_dirstat(m, t, l.v[i], length, space, 0);
out:
	free(l.v);
	return r;
}

static int64_t node_space(const struct meta_attr *a);

/*
 * Usage below dir as invariant 1 counts it: dir stats for the direct
 * children where present and !strict, else every child's attribute.
 */
static int txn_dir_usage(struct meta *m, struct meta_txn *t, uint64_t dir, int strict,
			 int64_t *space, int64_t *inodes, int depth)
{
	struct name_list l = { 0 };
	struct meta_dirstat d;
	int r, fast = 0;
	if (depth > 10000)
		return -ELOOP;
	if ((r = m->ops->scan_entries(t, dir, NULL, 0, 0, collect_names, &l)))
		goto out;
	if (!strict && m->ops->get_dirstat(t, dir, &d) == 0 && d.space >= 0 && d.inodes >= 0 &&
	    (uint64_t)d.inodes == l.n) {
		*space += d.space;
		*inodes += d.inodes;
		fast = 1;
	}
	for (size_t i = 0; i < l.n && !r; i++) {
		if (!fast) {
			struct meta_attr a;
			r = m->ops->get_attr(t, l.ino[i], &a);
			if (r == -ENOENT) {
				r = 0;
				continue;
			}
			if (r)
				break;
			*space += node_space(&a);
			*inodes += 1;
		}
		if (l.type[i] == META_TYPE_DIRECTORY)
			r = txn_dir_usage(m, t, l.ino[i], strict, space, inodes, depth + 1);
	}
out:
	free_names(&l);
	return r;
}

/*
 * Directory sino moved from psrc to pdst: its whole tree leaves the quotas
 * of the one chain and joins those of the other (its own 4 KiB and inode
 * went with the dir stats). Nothing to do when both chains hold the same
 * quotas.
 */
static int quota_move_tree(struct meta *m, struct meta_txn *t, uint64_t sino, uint64_t psrc,
			   uint64_t pdst)
{
	struct ino_vec a = { 0 }, b = { 0 };
	struct meta_quota q;
	int64_t space = 0, inodes = 0;
	int r = 0;
	if (!quota_any(m))
		return 0;
	for (int k = 0; k < 2; k++) {
		uint64_t dir = k ? pdst : psrc;
		struct ino_vec *v = k ? &b : &a;
		for (int depth = 0; depth < 100000 && dir && !meta_is_trash(dir); depth++) {
			struct meta_attr at;
			if (quota_has(m, dir))
				ino_vec_add(v, dir);
			if (dir == META_ROOT_INODE || m->ops->get_attr(t, dir, &at))
				break;
			dir = at.parent;
		}
	}
	int differ = a.n != b.n || (a.n && memcmp(a.v, b.v, a.n * sizeof(*a.v)));
	free(a.v);
	free(b.v);
	if (!differ)
		return 0;
	r = m->ops->get_quota(t, sino, &q);
	if (r == 0) {
		space = q.used_space;
		inodes = q.used_inodes;
	} else if (r == -ENOENT) {
		r = txn_dir_usage(m, t, sino, 0, &space, &inodes, 0);
	}
	if (r)
		return r;
	if ((r = quota_walk(m, t, psrc, -space, -inodes, QUOTA_APPLY)))
		return r;
	return quota_walk(m, t, pdst, space, inodes, QUOTA_CHECK | QUOTA_APPLY);
}


static int update_dirstat(struct meta *m, struct meta_txn *t, uint64_t dir, int64_t length,
			  int64_t space, int64_t inodes)
{
	if (!dir_stats_on(m) || !dir || (!length && !space && !inodes))
		return 0;
	struct meta_dirstat d = { length, space, inodes };
	int r = m->ops->incr_dirstat(t, dir, &d);
	return r ? r : quota_walk(m, t, dir, space, inodes, QUOTA_CHECK | QUOTA_APPLY);
}

static int64_t node_space(const struct meta_attr *a)
{
	return a->type == META_TYPE_FILE ? align4k(a->length) : 4096;
}

static int64_t node_dlength(const struct meta_attr *a)
{
	return a->type == META_TYPE_FILE ? (int64_t)a->length : 0;
}

/* Usage counters and the volume quota (spec §10.3). */
static int update_usage(struct meta *m, struct meta_txn *t, int64_t space, int64_t inodes)
{
	int r;
	int64_t v;
	if (space > 0 && m->fmt_loaded && m->fmt.capacity) {
		if ((r = m->ops->get_counter(t, "usedSpace", &v)))
			return r;
		if (v + space > (int64_t)m->fmt.capacity)
			return -ENOSPC;
	}
	if (inodes > 0 && m->fmt_loaded && m->fmt.inodes) {
		if ((r = m->ops->get_counter(t, "totalInodes", &v)))
			return r;
		if (v + inodes > (int64_t)m->fmt.inodes)
			return -ENOSPC;
	}
	if (space && (r = m->ops->incr_counter(t, "usedSpace", space, NULL)))
		return r;
	if (inodes && (r = m->ops->incr_counter(t, "totalInodes", inodes, NULL)))
		return r;
	return 0;
}

/*
 * A node inside a trash hour directory (spec §8): JuiceFS keeps it as it
 * was deleted, refusing attribute changes and writes (EPERM) and new
 * entries in a deleted directory (ENOENT); root may still read, remove it
 * or move it out. A hard-linked node (parent 0) is not covered, as in JuiceFS.
 */
static int in_trash(const struct meta_attr *a)
{
	return a->parent > META_TRASH_INODE;
}

static int get_dir(struct meta *m, struct meta_txn *t, uint64_t ino, struct meta_attr *a)
{
	int r = m->ops->get_attr(t, ino, a);
	if (r)
		return r;
	return a->type == META_TYPE_DIRECTORY ? 0 : -ENOTDIR;
}

/*
 * The directory parent and, where the engine reads them together
 * (get_dir_entry), its entry of name and that entry's node; de->found is -1
 * when only the directory was read. dir_entry and dir_entry_attr then answer
 * as get_entry and get_attr would in the same transaction.
 */
static int get_dir_entry(struct meta *m, struct meta_txn *t, uint64_t parent, const char *name,
			 struct meta_attr *pa, struct meta_dir_entry *de)
{
	int r;
	if (!m->ops->get_dir_entry) {
		de->found = -1;
		return get_dir(m, t, parent, pa);
	}
	if ((r = m->ops->get_dir_entry(t, parent, name, strlen(name), de)))
		return r;
	*pa = de->dir;
	return pa->type == META_TYPE_DIRECTORY ? 0 : -ENOTDIR;
}

static int dir_entry(struct meta *m, struct meta_txn *t, uint64_t parent, const char *name,
		     const struct meta_dir_entry *de, uint64_t *ino, uint8_t *type)
{
	if (de->found < 0)
		return m->ops->get_entry(t, parent, name, strlen(name), ino, type);
	if (!de->found)
		return -ENOENT;
	*ino = de->ino;
	*type = de->type;
	return 0;
}

static int dir_entry_attr(struct meta *m, struct meta_txn *t, const struct meta_dir_entry *de,
			  uint64_t ino, struct meta_attr *a)
{
	if (de->found < 0)
		return m->ops->get_attr(t, ino, a);
	if (!de->have_attr)
		return -ENOENT;
	*a = de->attr;
	return 0;
}

static uint64_t fix_ino(uint64_t ino)
{
	return ino ? ino : META_ROOT_INODE;
}

/* ----------------------------------------------------- open-file table */

static struct meta_open_ent **open_slot(struct meta *m, uint64_t ino)
{
	struct meta_open_ent **p = &m->open_files[ino % ARRAY_SIZE(m->open_files)];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

static int is_open(struct meta *m, uint64_t ino)
{
	pthread_mutex_lock(&m->mu);
	int r = *open_slot(m, ino) != NULL;
	pthread_mutex_unlock(&m->mu);
	return r;
}

static void open_ref(struct meta *m, uint64_t ino)
{
	pthread_mutex_lock(&m->mu);
	struct meta_open_ent **p = open_slot(m, ino);
	if (!*p) {
		*p = xcalloc(1, sizeof(**p));
		(*p)->ino = ino;
	}
	(*p)->refs++;
	pthread_mutex_unlock(&m->mu);
}

/* Returns 1 when this was the last open. */
static int open_unref(struct meta *m, uint64_t ino)
{
	int last = 0;
	pthread_mutex_lock(&m->mu);
	struct meta_open_ent **p = open_slot(m, ino);
	if (*p && --(*p)->refs <= 0) {
		struct meta_open_ent *e = *p;
		*p = e->next;
		free(e);
		last = 1;
	}
	pthread_mutex_unlock(&m->mu);
	return last;
}

/* ------------------------------------------------------ data deletion */

struct dead_slice {
	uint64_t id;
	uint32_t size;
};

struct dead_list {
	struct dead_slice *v;
	size_t n, alloc;
};

static void dead_add(struct dead_list *d, uint64_t id, uint32_t size)
{
	if (d->n == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 16;
		d->v = xrealloc(d->v, d->alloc * sizeof(*d->v));
	}
	d->v[d->n].id = id;
	d->v[d->n].size = size;
	d->n++;
}

/* Drop one reference per record; slices that reach zero go to dead. */
static int release_records(struct meta *m, struct meta_txn *t, const uint8_t *recs, size_t len,
			   struct dead_list *dead)
{
	for (size_t i = 0; i + META_SLICE_BYTES <= len; i += META_SLICE_BYTES) {
		struct meta_slice s;
		int64_t refs;
		meta_slice_decode(recs + i, &s);
		if (!s.id)
			continue;
		int r = m->ops->incr_ref(t, s.id, s.size, -1, &refs);
		if (r)
			return r;
		if (refs < 1)
			dead_add(dead, s.id, s.size);
	}
	return 0;
}

struct del_ref_args {
	uint64_t id;
	uint32_t size;
};

static int do_del_ref(struct meta *m, struct meta_txn *t, void *arg)
{
	struct del_ref_args *a = arg;
	int64_t refs;
	/* Re-check: a clone may have revived the slice since. */
	int r = m->ops->incr_ref(t, a->id, a->size, 0, &refs);
	if (r)
		return r;
	if (refs >= 1)
		return -EBUSY;
	return m->ops->del_ref(t, a->id, a->size);
}

/* After commit: delete objects of dead slices, then their refcount records. */
static void delete_dead(struct meta *m, struct dead_list *d)
{
	meta_delete_slice_fn fn;
	void *arg;
	pthread_mutex_lock(&m->mu);
	fn = m->deleter;
	arg = m->deleter_arg;
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < d->n; i++) {
		if (!fn || m->conf.max_deletes == 0)
			break; /* left for the cleanup job / gc */
		if (fn(arg, d->v[i].id, d->v[i].size))
			continue;
		struct del_ref_args a = { d->v[i].id, d->v[i].size };
		int r = run_txn(m, 1, do_del_ref, &a);
		if (r && r != -EBUSY)
			log_warn("remove refcount of slice %llu: %s", (unsigned long long)a.id,
				 strerror(-r));
	}
	free(d->v);
	d->v = NULL;
	d->n = d->alloc = 0;
}

struct chunk_list {
	uint32_t *v;
	size_t n, alloc;
};

static int collect_chunk(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs, size_t len)
{
	struct chunk_list *l = arg;
	UNUSED(ino);
	UNUSED(recs);
	UNUSED(len);
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 16;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = indx;
	return 0;
}

struct del_chunk_args {
	uint64_t ino;
	uint32_t indx;
	struct dead_list *dead;
	struct chunk_list *chunks;
	int done;        /* delfile removed */
	uint64_t length; /* bounds the chunk indices, UINT64_MAX: unknown */
};

/* Past this many chunks (4 TiB) a pattern scan costs less than asking for each index. */
#define CHUNKS_BELOW_MAX 65536

static int do_list_chunks(struct meta *m, struct meta_txn *t, void *arg)
{
	struct del_chunk_args *a = arg;
	a->chunks->n = 0;
	if (m->ops->chunks_below && a->length != UINT64_MAX &&
	    a->length <= (uint64_t)CHUNKS_BELOW_MAX * META_CHUNK_SIZE) {
		uint32_t n = (uint32_t)((a->length + META_CHUNK_SIZE - 1) / META_CHUNK_SIZE);
		return n ? m->ops->chunks_below(t, a->ino, n, collect_chunk, a->chunks) : 0;
	}
	return m->ops->scan_chunks(t, a->ino, collect_chunk, a->chunks);
}

static int do_del_chunk(struct meta *m, struct meta_txn *t, void *arg)
{
	struct del_chunk_args *a = arg;
	struct buf recs = BUF_INIT;
	a->dead->n = 0;
	int r = m->ops->get_chunk(t, a->ino, a->indx, &recs);
	if (!r)
		r = release_records(m, t, (const uint8_t *)recs.ptr, recs.len, a->dead);
	if (!r)
		r = m->ops->set_chunk(t, a->ino, a->indx, NULL, 0);
	buf_release(&recs);
	return r;
}

static int do_del_delfile(struct meta *m, struct meta_txn *t, void *arg)
{
	struct del_chunk_args *a = arg;
	return m->ops->del_delfile(t, a->ino);
}

/*
 * spec §9.2: remove every chunk of a deleted inode, then its delfiles entry.
 * length is the file's last length (UINT64_MAX: unknown); no chunk lies past
 * it, since truncate drops the chunks it cuts off.
 */
static int delete_file_data(struct meta *m, uint64_t ino, uint64_t length)
{
	struct dead_list dead = { 0 };
	struct chunk_list chunks = { 0 };
	struct del_chunk_args a = { ino, 0, &dead, &chunks, 0, length };
	int r = run_txn(m, 0, do_list_chunks, &a);
	for (size_t i = 0; !r && i < chunks.n; i++) {
		a.indx = chunks.v[i];
		r = run_txn(m, 1, do_del_chunk, &a);
		if (!r)
			delete_dead(m, &dead);
	}
	if (!r)
		r = run_txn(m, 1, do_del_delfile, &a);
	if (r)
		log_warn("delete data of inode %llu: %s (left for the cleanup job)",
			 (unsigned long long)ino, strerror(-r));
	free(dead.v);
	free(chunks.v);
	return r;
}

/*
 * Background deletion (conf.async_deletes). A PUT or a rename over a big
 * file used to wait for every block of the replaced file to be unlinked
 * (each unlink a synchronous discard on a file system mounted with it) and
 * for three more transactions; the real client deletes in a goroutine too.
 * The queue is bounded: past it the caller deletes, which also paces a
 * writer that replaces files faster than they can be deleted.
 */
#define DEAD_QUEUE_MAX 1024

static void *dead_queue_main(void *arg)
{
	struct meta *m = arg;

	pthread_mutex_lock(&m->dq_mu);
	for (;;) {
		while (!m->dq_len && !m->dq_stop) {
			m->dq_idle++;
			pthread_cond_wait(&m->dq_cond, &m->dq_mu);
			m->dq_idle--;
		}
		if (!m->dq_len)
			break; /* stopping, and nothing is owed */
		struct meta_dead_file f = m->dq[m->dq_head];
		m->dq_head = (m->dq_head + 1) % DEAD_QUEUE_MAX;
		m->dq_len--;
		pthread_mutex_unlock(&m->dq_mu);
		delete_file_data(m, f.ino, f.length);
		pthread_mutex_lock(&m->dq_mu);
	}
	pthread_mutex_unlock(&m->dq_mu);
	return NULL;
}

/* The data of a file no name or handle holds any more: delete it now or queue it. */
static void file_data_dead(struct meta *m, uint64_t ino, uint64_t length)
{
	unsigned max = m->conf.async_deletes > 0 ? (unsigned)m->conf.async_deletes : 0;

	pthread_mutex_lock(&m->dq_mu);
	if (max && !m->dq_stop && m->dq_len < DEAD_QUEUE_MAX) {
		if (!m->dq) {
			m->dq = xmalloc(DEAD_QUEUE_MAX * sizeof(*m->dq));
			m->dq_th = xcalloc(max, sizeof(*m->dq_th));
		}
		if (m->dq_idle <= m->dq_len && m->dq_threads < max &&
		    !pthread_create(&m->dq_th[m->dq_threads], NULL, dead_queue_main, m))
			m->dq_threads++;
		if (m->dq_threads) {
			m->dq[(m->dq_head + m->dq_len) % DEAD_QUEUE_MAX] =
				(struct meta_dead_file){ ino, length };
			m->dq_len++;
			pthread_cond_signal(&m->dq_cond);
			pthread_mutex_unlock(&m->dq_mu);
			return;
		}
	}
	pthread_mutex_unlock(&m->dq_mu);
	delete_file_data(m, ino, length);
}

/* No entry is taken any more; the threads finish what is queued and exit. */
static void dead_queue_drain(struct meta *m)
{
	pthread_mutex_lock(&m->dq_mu);
	m->dq_stop = 1;
	pthread_cond_broadcast(&m->dq_cond);
	pthread_mutex_unlock(&m->dq_mu);
	for (unsigned i = 0; i < m->dq_threads; i++)
		pthread_join(m->dq_th[i], NULL);
	m->dq_threads = 0;
	free(m->dq);
	free(m->dq_th);
	m->dq = NULL;
	m->dq_th = NULL;
}

/* ------------------------------------------------------------ trash */

static void hour_name(char out[16], time_t now)
{
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 16, "%Y-%m-%d-%H", &tm);
}

struct hour_args {
	const char *name;
	uint64_t ino; /* in: candidate from nextTrash (0 = lookup only); out: hour inode */
	int64_t now;
};

static int do_find_hour(struct meta *m, struct meta_txn *t, void *arg)
{
	struct hour_args *a = arg;
	uint8_t type;
	int r = m->ops->get_entry(t, META_TRASH_INODE, a->name, strlen(a->name), &a->ino, &type);
	if (r == -ENOENT)
		a->ino = 0;
	return r == -ENOENT ? 0 : r;
}

static int do_make_hour(struct meta *m, struct meta_txn *t, void *arg)
{
	struct hour_args *a = arg;
	struct meta_attr ta, ha;
	uint64_t existing;
	uint8_t type;
	int r = m->ops->get_entry(t, META_TRASH_INODE, a->name, strlen(a->name), &existing, &type);
	if (r == 0) { /* another client made it meanwhile */
		a->ino = existing;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = m->ops->get_attr(t, META_TRASH_INODE, &ta);
	if (r == -ENOENT) { /* trash enabled after format: make its root now */
		new_dir_attr(&ta, 0555, META_ROOT_INODE, a->now);
		r = 0;
	}
	if (r)
		return r;
	new_dir_attr(&ha, 0555, META_TRASH_INODE, a->now);
	if ((r = m->ops->put_attr(t, a->ino, &ha)) ||
	    (r = m->ops->put_entry(t, META_TRASH_INODE, a->name, strlen(a->name), a->ino,
				   META_TYPE_DIRECTORY)))
		return r;
	/* JuiceFS leaves the nlink of trash directories alone */
	touch_times(&ta, a->now, 1);
	if ((r = m->ops->put_attr(t, META_TRASH_INODE, &ta)))
		return r;
	return update_usage(m, t, 4096, 1);
}

/* The current hour directory of the trash, created on demand; 0 when trash is off. */
/* This hour's trash directory if this client knows it already, else 0. */
static uint64_t trash_hour_cached(struct meta *m)
{
	char name[16];
	uint64_t hour = 0;

	if (!m->fmt_loaded || m->fmt.trash_days <= 0)
		return 0;
	hour_name(name, (time_t)(now_us() / 1000000));
	pthread_mutex_lock(&m->mu);
	if (m->trash_hour_ino && !strcmp(m->trash_hour_name, name))
		hour = m->trash_hour_ino;
	pthread_mutex_unlock(&m->mu);
	return hour;
}

static int trash_hour(struct meta *m, uint64_t *hour)
{
	char name[16];
	int64_t now = now_us();
	*hour = 0;
	if (!m->fmt_loaded || m->fmt.trash_days <= 0)
		return 0;
	hour_name(name, (time_t)(now / 1000000));
	pthread_mutex_lock(&m->mu);
	if (m->trash_hour_ino && !strcmp(m->trash_hour_name, name))
		*hour = m->trash_hour_ino;
	pthread_mutex_unlock(&m->mu);
	if (*hour)
		return 0;
	struct hour_args a = { name, 0, now };
	int r = run_txn(m, 0, do_find_hour, &a);
	if (!r && !a.ino) {
		uint64_t n;
		ENGINE_RETRY(r, m->ops->alloc_ids(m, "nextTrash", 1, &n));
		if (r)
			return r;
		a.ino = META_TRASH_INODE + n;
		r = run_txn(m, 1, do_make_hour, &a);
	}
	if (r)
		return r;
	pthread_mutex_lock(&m->mu);
	m->trash_hour_ino = a.ino;
	memcpy(m->trash_hour_name, name, sizeof(name));
	pthread_mutex_unlock(&m->mu);
	*hour = a.ino;
	return 0;
}

static void trash_entry_name(char out[META_MAX_NAME + 1], uint64_t parent, uint64_t ino,
			     const char *name)
{
	/* snprintf truncates to 255 bytes, as JuiceFS does */
	snprintf(out, META_MAX_NAME + 1, "%llu-%llu-%s", (unsigned long long)parent,
		 (unsigned long long)ino, name);
}

/* ----------------------------------------------------- node removal */

struct rm_out {
	int delete_data; /* the caller deletes chunks of ino after commit */
	uint64_t ino;
	uint64_t length; /* its length, bounding the chunks to delete */
	int pdelta;      /* nlink change of the parent */
};

/*
 * Drop an inode whose last link is gone: its records, and its usage; a
 * regular file goes to delfiles so its chunks are deleted after commit.
 * The one place that does this, whether the last link went at unlink time,
 * at the last close, or with a dead session.
 */
static int free_inode(struct meta *m, struct meta_txn *t, uint64_t ino,
		      const struct meta_attr *a, int64_t now_us_)
{
	int r;
	if ((r = m->ops->del_attr(t, ino)) || (r = m->ops->del_xattrs(t, ino)) ||
	    (r = m->ops->del_parents(t, ino)))
		return r;
	if (a->type == META_TYPE_SYMLINK && (r = m->ops->del_symlink(t, ino)))
		return r;
	if (a->type == META_TYPE_DIRECTORY && (r = m->ops->del_dirstat(t, ino)))
		return r;
	if (a->type == META_TYPE_FILE &&
	    (r = m->ops->add_delfile(t, ino, a->length, now_us_ / 1000000)))
		return r;
	return update_usage(m, t, -node_space(a), -1);
}

/*
 * Remove entry `name` (inode ino, attr a) from parent (attr pa, written by
 * the caller), moving it to trash hour `hour` when that applies.
 */
static int remove_node(struct meta *m, struct meta_txn *t, uint64_t parent, const char *name,
		       uint64_t ino, struct meta_attr *a, uint64_t hour, int keep_entry,
		       int64_t now, struct rm_out *o)
{
	char tname[META_MAX_NAME + 1];
	int r, isdir = a->type == META_TYPE_DIRECTORY;
	uint64_t exist;
	uint8_t etype;

	if (meta_is_trash(parent) || (a->flags & META_FLAG_SKIP_TRASH))
		hour = 0;
	if (hour) {
		trash_entry_name(tname, parent, ino, name);
		if (!isdir && a->nlink > 1 &&
		    m->ops->get_entry(t, hour, tname, strlen(tname), &exist, &etype) == 0)
			hour = 0; /* already in trash under this name: just lose a link */
	}
	if (!keep_entry && (r = m->ops->del_entry(t, parent, name, strlen(name))))
		return r;
	if ((r = update_dirstat(m, t, parent, -node_dlength(a), -node_space(a), -1)))
		return r;
	/*
	 * As JuiceFS's rmdir: a removed directory takes its quota with it.
	 * Only asked when the volume has quotas at all: a volume made before
	 * them may lack the quota table.
	 */
	if (isdir && quota_any(m) && (r = m->ops->del_quota(t, ino)))
		return r;
	o->pdelta = isdir && !meta_is_trash(parent) ? -1 : 0;
	touch_times(a, now, 0);
	if (hour) {
		/* the hour directory's stats count its entries, as JuiceFS's do */
		if ((r = m->ops->put_entry(t, hour, tname, strlen(tname), ino, a->type)) ||
		    (r = update_dirstat(m, t, hour, node_dlength(a), node_space(a), 1)))
			return r;
		if (a->parent) {
			a->parent = hour;
		} else if ((r = m->ops->incr_parent(t, ino, parent, -1)) ||
			   (r = m->ops->incr_parent(t, ino, hour, 1))) {
			return r;
		}
		return m->ops->put_attr(t, ino, a);
	}
	if (!isdir && a->nlink > 1) {
		a->nlink--;
		if (!a->parent && (r = m->ops->incr_parent(t, ino, parent, -1)))
			return r;
		return m->ops->put_attr(t, ino, a);
	}
	if (a->type == META_TYPE_FILE && m->sid && is_open(m, ino)) {
		a->nlink = 0;
		if ((r = m->ops->put_attr(t, ino, a)) ||
		    (r = m->ops->add_sustained(t, m->sid, ino)))
			return r;
		return 0;
	}
	if ((r = free_inode(m, t, ino, a, now)))
		return r;
	if (a->type == META_TYPE_FILE) {
		o->delete_data = 1;
		o->ino = ino;
		o->length = a->length;
	}
	return 0;
}

/* ------------------------------------------------------------ lookups */

struct lookup_args {
	const struct meta_ctx *c;
	uint64_t parent;
	const char *name;
	uint64_t ino;
	struct meta_attr attr;
};

static int do_lookup(struct meta *m, struct meta_txn *t, void *arg)
{
	struct lookup_args *a = arg;
	struct meta_attr pa;
	struct meta_dir_entry de;
	uint8_t type;
	int r = get_dir_entry(m, t, a->parent, a->name, &pa, &de);
	if (r)
		return r;
	if ((r = check_access(m, t, a->c, &pa, 1)))
		return r;
	if (!strcmp(a->name, ".")) {
		a->ino = a->parent;
		a->attr = pa;
		return 0;
	}
	if (!strcmp(a->name, "..")) {
		a->ino = a->parent == META_ROOT_INODE ? META_ROOT_INODE : pa.parent;
		if (!a->ino)
			a->ino = META_ROOT_INODE;
		return m->ops->get_attr(t, a->ino, &a->attr);
	}
	if (a->parent == META_ROOT_INODE && !strcmp(a->name, TRASH_NAME)) {
		r = m->ops->get_attr(t, META_TRASH_INODE, &a->attr);
		if (r == 0) {
			a->ino = META_TRASH_INODE;
			return 0;
		}
	}
	r = dir_entry(m, t, a->parent, a->name, &de, &a->ino, &type);
	if (r)
		return r;
	return dir_entry_attr(m, t, &de, a->ino, &a->attr);
}

int meta_lookup(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		uint64_t *ino, struct meta_attr *attr)
{
	struct lookup_args a = { c, fix_ino(parent), name, 0, { 0 } };
	if (strlen(name) > META_MAX_NAME)
		return -ENAMETOOLONG;
	/* one statement where the engine reads directory and entry together */
	int r = run_txn(m, META_TXN_SOLO, do_lookup, &a);
	if (r)
		return r;
	if (ino)
		*ino = a.ino;
	if (attr)
		*attr = a.attr;
	return 0;
}

struct getattr_args {
	uint64_t ino;
	struct meta_attr attr;
};

static int do_getattr(struct meta *m, struct meta_txn *t, void *arg)
{
	struct getattr_args *a = arg;
	return m->ops->get_attr(t, a->ino, &a->attr);
}

int meta_getattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, struct meta_attr *attr)
{
	struct getattr_args a = { fix_ino(ino), { 0 } };
	UNUSED(c);
	int r = run_txn(m, META_TXN_SOLO, do_getattr, &a);
	if (!r)
		*attr = a.attr;
	return r;
}

struct getattrs_args {
	const uint64_t *inos;
	size_t n;
	struct meta_attr *attrs;
	uint8_t *found;
};

static int do_getattrs(struct meta *m, struct meta_txn *t, void *arg)
{
	struct getattrs_args *a = arg;
	int r = 0;

	if (m->ops->get_attrs)
		return m->ops->get_attrs(t, a->inos, a->n, a->attrs, a->found);
	for (size_t i = 0; i < a->n && !r; i++) {
		r = m->ops->get_attr(t, fix_ino(a->inos[i]), &a->attrs[i]);
		a->found[i] = r == 0;
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

int meta_getattrs(struct meta *m, const uint64_t *inos, size_t n, struct meta_attr *attrs,
		  uint8_t *found)
{
	struct getattrs_args a = { inos, n, attrs, found };

	if (!n)
		return 0;
	return run_txn(m, 0, do_getattrs, &a);
}

int meta_access(struct meta *m, const struct meta_ctx *c, uint64_t ino, int mask,
		const struct meta_attr *attr)
{
	struct meta_attr a;
	if (!attr) {
		int r = meta_getattr(m, c, ino, &a);
		if (r)
			return r;
		attr = &a;
	}
	return check_access(m, NULL, c, attr, mask);
}

int meta_resolve(struct meta *m, const struct meta_ctx *c, const char *path, uint64_t *ino,
		 struct meta_attr *attr)
{
	uint64_t cur = META_ROOT_INODE;
	struct meta_attr a;
	int r = meta_getattr(m, c, cur, &a);
	const char *p = path;
	while (!r && *p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > META_MAX_NAME)
			return -ENAMETOOLONG;
		char name[META_MAX_NAME + 1];
		memcpy(name, p, n);
		name[n] = 0;
		if (a.type != META_TYPE_DIRECTORY)
			return -ENOTDIR;
		r = meta_lookup(m, c, cur, name, &cur, &a);
		p += n;
	}
	if (r)
		return r;
	if (ino)
		*ino = cur;
	if (attr)
		*attr = a;
	return 0;
}

struct find_name_args {
	uint64_t ino;
	struct buf *name;
	int found;
};

static int find_name_cb(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t type)
{
	struct find_name_args *a = arg;
	UNUSED(type);
	if (ino != a->ino)
		return 0;
	buf_reset(a->name);
	buf_add(a->name, name, namelen);
	a->found = 1;
	return 1;
}

struct path_args {
	uint64_t ino;
	struct buf *path;
};

static int first_parent(void *arg, uint64_t v)
{
	*(uint64_t *)arg = v;
	return 1;
}

static int do_path_of(struct meta *m, struct meta_txn *t, void *arg)
{
	struct path_args *pa = arg;
	struct buf name = BUF_INIT, out = BUF_INIT;
	uint64_t cur = pa->ino;
	int r = 0, depth = 0;
	while (cur != META_ROOT_INODE && !r) {
		struct meta_attr a;
		uint64_t parent = 0;
		if (cur == META_TRASH_INODE) {
			buf_reset(&name);
			buf_adds(&name, TRASH_NAME);
			parent = META_ROOT_INODE;
		} else {
			if ((r = m->ops->get_attr(t, cur, &a)))
				break;
			parent = a.parent;
			if (!parent)
				m->ops->list_parents(t, cur, first_parent, &parent);
			if (!parent) {
				r = -ENOENT;
				break;
			}
			struct find_name_args fa = { cur, &name, 0 };
			r = m->ops->scan_entries(t, parent, NULL, 0, 0, find_name_cb, &fa);
			if (r == 1)
				r = 0;
			if (!r && !fa.found)
				r = -ENOENT;
			if (r)
				break;
		}
		struct buf tmp = BUF_INIT;
		buf_addch(&tmp, '/');
		buf_add(&tmp, name.ptr, name.len);
		buf_add(&tmp, out.ptr, out.len);
		buf_release(&out);
		out = tmp;
		cur = parent;
		if (++depth > 10000)
			r = -ELOOP;
	}
	if (!r) {
		buf_reset(pa->path);
		buf_adds(pa->path, out.len ? out.ptr : "/");
	}
	buf_release(&name);
	buf_release(&out);
	return r;
}

int meta_path_of(struct meta *m, uint64_t ino, struct buf *path)
{
	struct path_args a = { fix_ino(ino), path };
	return run_txn(m, 0, do_path_of, &a);
}

/* ------------------------------------------------------------ create */

struct mknod_args {
	const struct meta_ctx *c;
	uint64_t parent;
	const char *name;
	uint8_t type;
	uint16_t mode, cumask;
	uint32_t rdev;
	const char *target;
	uint64_t ino;
	struct meta_attr attr;
};

static int do_mknod(struct meta *m, struct meta_txn *t, void *arg)
{
	struct mknod_args *a = arg;
	struct meta_attr pa, *n = &a->attr;
	struct meta_dir_entry de;
	uint64_t exist;
	uint8_t etype;
	int64_t now = now_us();
	int r = get_dir_entry(m, t, a->parent, a->name, &pa, &de);
	if (r)
		return r;
	if (meta_is_trash(a->parent))
		return -EPERM;
	if (in_trash(&pa))
		return -ENOENT;
	if (pa.flags & META_FLAG_IMMUTABLE)
		return -EPERM;
	if ((r = check_access(m, t, a->c, &pa, 3)))
		return r;
	r = dir_entry(m, t, a->parent, a->name, &de, &exist, &etype);
	if (r == 0) {
		a->ino = exist;
		return -EEXIST;
	}
	if (r != -ENOENT)
		return r;
	if (a->parent == META_ROOT_INODE && !strcmp(a->name, TRASH_NAME) && m->fmt_loaded &&
	    m->fmt.trash_days > 0)
		return -EPERM;

	memset(n, 0, sizeof(*n));
	n->type = a->type;
	n->mode = a->type == META_TYPE_SYMLINK ? 0777 : (a->mode & ~a->cumask & 07777);
	if (pa.default_acl && a->type != META_TYPE_SYMLINK) {
		/*
		 * The parent's default ACL replaces the umask (POSIX.1e): the
		 * child's access ACL is the default one limited by the create
		 * mode, and a directory keeps the default for its own children.
		 */
		struct meta_acl def, child;
		uint16_t mode = a->mode & 07777;
		if ((r = acl_get(m, t, pa.default_acl, &def)))
			return r;
		if (a->type == META_TYPE_DIRECTORY)
			n->default_acl = pa.default_acl;
		if (meta_acl_is_minimal(&def)) {
			n->mode = (uint16_t)(mode & (07000 | meta_acl_get_mode(&def)));
		} else {
			meta_acl_child_access(&def, mode, &child);
			r = acl_save(m, t, &child, &n->access_acl);
			n->mode = (uint16_t)((mode & 07000) | meta_acl_get_mode(&child));
			meta_acl_release(&child);
		}
		meta_acl_release(&def);
		if (r)
			return r;
	}
	n->uid = a->c ? a->c->uid : 0;
	n->gid = a->c ? a->c->gid : 0;
	if (pa.mode & 02000) {
		n->gid = pa.gid;
		if (a->type == META_TYPE_DIRECTORY)
			n->mode |= 02000;
	}
	n->flags = pa.flags & META_FLAG_SKIP_TRASH;
	n->tier = pa.tier;
	now_attr(n, now);
	n->parent = a->parent;
	n->rdev = a->rdev;
	switch (a->type) {
	case META_TYPE_DIRECTORY:
		n->nlink = 2;
		n->length = 4096;
		break;
	case META_TYPE_SYMLINK:
		n->nlink = 1;
		n->length = strlen(a->target);
		break;
	default:
		n->nlink = 1;
		break;
	}
	if ((r = update_usage(m, t, 4096, 1)))
		return r;
	if ((r = m->ops->put_attr(t, a->ino, n)) ||
	    (r = m->ops->put_entry(t, a->parent, a->name, strlen(a->name), a->ino, a->type)))
		return r;
	if (a->type == META_TYPE_SYMLINK &&
	    (r = m->ops->put_symlink(t, a->ino, a->target, strlen(a->target))))
		return r;
	if (a->type == META_TYPE_DIRECTORY && dir_stats_on(m)) {
		struct meta_dirstat z = { 0, 0, 0 };
		if ((r = m->ops->incr_dirstat(t, a->ino, &z)))
			return r;
	}
	if ((r = update_parent(m, t, a->parent, &pa, a->type == META_TYPE_DIRECTORY, now)))
		return r;
	return update_dirstat(m, t, a->parent, 0, 4096, 1);
}

static int mknod_common(struct meta *m, struct mknod_args *a, uint64_t *ino,
			struct meta_attr *attr)
{
	int r = valid_name(a->name, 0);
	if (r)
		return r;
	a->parent = fix_ino(a->parent);
	if ((r = new_inode(m, &a->ino)))
		return r;
	r = run_txn(m, 1, do_mknod, a);
	if (r == -EEXIST && ino)
		*ino = a->ino; /* the existing entry, for O_CREAT without O_EXCL */
	if (r)
		return r;
	if (ino)
		*ino = a->ino;
	if (attr)
		*attr = a->attr;
	return 0;
}

int meta_mknod(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
	       uint8_t type, uint16_t mode, uint16_t cumask, uint32_t rdev, uint64_t *ino,
	       struct meta_attr *attr)
{
	if (type < META_TYPE_FILE || type > META_TYPE_SOCKET || type == META_TYPE_DIRECTORY ||
	    type == META_TYPE_SYMLINK)
		return -EINVAL;
	struct mknod_args a = { c, parent, name, type, mode, cumask, rdev, NULL, 0, { 0 } };
	return mknod_common(m, &a, ino, attr);
}

int meta_mkdir(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
	       uint16_t mode, uint16_t cumask, uint64_t *ino, struct meta_attr *attr)
{
	struct mknod_args a = { c, parent, name, META_TYPE_DIRECTORY, mode, cumask, 0, NULL, 0,
				{ 0 } };
	return mknod_common(m, &a, ino, attr);
}

int meta_create(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		uint16_t mode, uint16_t cumask, int flags, uint64_t *ino, struct meta_attr *attr)
{
	uint64_t i = 0;
	struct mknod_args a = { c, parent, name, META_TYPE_FILE, mode, cumask, 0, NULL, 0, { 0 } };
	UNUSED(flags);
	int r = mknod_common(m, &a, &i, attr);
	if (r == -EEXIST && ino)
		*ino = i;
	if (r)
		return r;
	open_ref(m, i);
	if (ino)
		*ino = i;
	return 0;
}

int meta_symlink(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		 const char *target, uint64_t *ino, struct meta_attr *attr)
{
	size_t n = strlen(target);
	if (n == 0)
		return -ENOENT;
	if (n > META_MAX_SYMLINK)
		return -ENAMETOOLONG;
	struct mknod_args a = { c, parent, name, META_TYPE_SYMLINK, 0777, 0, 0, target, 0, { 0 } };
	return mknod_common(m, &a, ino, attr);
}

struct readlink_args {
	uint64_t ino;
	struct buf *target;
};

static int do_readlink(struct meta *m, struct meta_txn *t, void *arg)
{
	struct readlink_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (at.type != META_TYPE_SYMLINK)
		return -EINVAL;
	buf_reset(a->target);
	return m->ops->get_symlink(t, a->ino, a->target);
}

int meta_readlink(struct meta *m, uint64_t ino, struct buf *target)
{
	struct readlink_args a = { ino, target };
	return run_txn(m, 0, do_readlink, &a);
}

/* ------------------------------------------------------------ remove */

struct unlink_args {
	const struct meta_ctx *c;
	uint64_t parent;
	const char *name;
	uint64_t hour;
	int dir;
	uint64_t want; /* meta_unlink_if: the entry must name this inode */
	struct rm_out o;
};

static int do_unlink(struct meta *m, struct meta_txn *t, void *arg)
{
	struct unlink_args *a = arg;
	struct meta_attr pa, at;
	uint64_t ino;
	uint8_t type;
	int64_t now = now_us();
	struct meta_dir_entry de;
	int r;

	memset(&a->o, 0, sizeof(a->o));
	if ((r = get_dir_entry(m, t, a->parent, a->name, &pa, &de)))
		return r;
	if ((r = check_access(m, t, a->c, &pa, 3)))
		return r;
	if (pa.flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	if ((r = dir_entry(m, t, a->parent, a->name, &de, &ino, &type)))
		return r;
	if (a->want && ino != a->want)
		return -ESTALE;
	if (a->dir && type != META_TYPE_DIRECTORY)
		return -ENOTDIR;
	if (!a->dir && type == META_TYPE_DIRECTORY)
		return -EPERM; /* JuiceFS's answer to unlink(2) of a directory */
	r = dir_entry_attr(m, t, &de, ino, &at);
	if (r == -ENOENT) { /* dangling entry: drop it */
		return m->ops->del_entry(t, a->parent, a->name, strlen(a->name));
	}
	if (r)
		return r;
	if ((r = check_sticky(a->c, &pa, &at)))
		return r;
	if (at.flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	if (a->dir) {
		uint64_t n;
		if ((r = m->ops->count_entries(t, ino, &n)))
			return r;
		if (n)
			return -ENOTEMPTY;
		if (ino == META_TRASH_INODE)
			return -EPERM;
	}
	if ((r = remove_node(m, t, a->parent, a->name, ino, &at, a->hour, 0, now, &a->o)))
		return r;
	return update_parent(m, t, a->parent, &pa, a->o.pdelta, now);
}

static int unlink_common(struct meta *m, const struct meta_ctx *c, uint64_t parent,
			 const char *name, int skip_trash, int dir, uint64_t want)
{
	struct unlink_args a = { c, fix_ino(parent), name, 0, dir, want ? fix_ino(want) : 0, { 0 } };
	int r = valid_name(name, 1);
	if (r)
		return r;
	if (!strcmp(name, "."))
		return dir ? -EINVAL : -EPERM;
	if (!strcmp(name, ".."))
		return dir ? -ENOTEMPTY : -EPERM;
	if (!skip_trash && !meta_is_trash(a.parent) && (r = trash_hour(m, &a.hour)))
		return r;
	if ((r = run_txn(m, 1, do_unlink, &a)))
		return r;
	if (a.o.delete_data)
		file_data_dead(m, a.o.ino, a.o.length);
	return 0;
}

int meta_unlink(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		int skip_trash)
{
	return unlink_common(m, c, parent, name, skip_trash, 0, 0);
}

int meta_unlink_if(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		   int skip_trash, uint64_t ino)
{
	return unlink_common(m, c, parent, name, skip_trash, 0, ino);
}

int meta_rmdir(struct meta *m, const struct meta_ctx *c, uint64_t parent, const char *name,
	       int skip_trash)
{
	return unlink_common(m, c, parent, name, skip_trash, 1, 0);
}

/* ------------------------------------------------------------ rename */

struct rename_args {
	const struct meta_ctx *c;
	uint64_t psrc, pdst;
	const char *nsrc, *ndst;
	unsigned flags;
	uint64_t want_src, want_dst; /* meta_rename_if: the entries must name these inodes */
	uint64_t hour;
	uint64_t ino;
	struct meta_attr attr;
	struct rm_out o;
};

/* do_rename's private answer: a replaced target needs the trash hour directory. */
#define RENAME_NEED_HOUR (-EXFULL)

/* Is `dir` (a directory) inside the tree of `anc`? Walks parent pointers. */
static int is_ancestor(struct meta *m, struct meta_txn *t, uint64_t anc, uint64_t dir)
{
	for (int depth = 0; depth < 100000 && dir != META_ROOT_INODE; depth++) {
		struct meta_attr a;
		if (dir == anc)
			return 1;
		if (m->ops->get_attr(t, dir, &a) || !a.parent)
			return 0;
		dir = a.parent;
	}
	return dir == anc;
}

static int move_parent(struct meta *m, struct meta_txn *t, uint64_t ino, struct meta_attr *a,
		       uint64_t from, uint64_t to)
{
	if (from == to)
		return 0;
	if (a->parent) {
		a->parent = to;
		return 0;
	}
	int r = m->ops->incr_parent(t, ino, from, -1);
	return r ? r : m->ops->incr_parent(t, ino, to, 1);
}

static int do_rename(struct meta *m, struct meta_txn *t, void *arg)
{
	struct rename_args *a = arg;
	struct meta_attr spa, dpa_own, *dpa, sa, da;
	uint64_t sino, dino;
	uint8_t stype, dtype;
	int64_t now = now_us();
	int sdelta = 0, ddelta = 0, r, same = a->psrc == a->pdst;

	memset(&a->o, 0, sizeof(a->o));
	if ((r = get_dir(m, t, a->psrc, &spa)))
		return r;
	dpa = &spa;
	if (!same) {
		if ((r = get_dir(m, t, a->pdst, &dpa_own)))
			return r;
		dpa = &dpa_own;
	}
	if ((r = check_access(m, t, a->c, &spa, 3)) || (r = check_access(m, t, a->c, dpa, 3)))
		return r;
	if ((spa.flags | dpa->flags) & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	if (!(a->flags & META_RENAME_RESTORE) && in_trash(dpa))
		return -ENOENT;
	if ((r = m->ops->get_entry(t, a->psrc, a->nsrc, strlen(a->nsrc), &sino, &stype)))
		return r;
	if (a->want_src && sino != a->want_src)
		return -ESTALE;
	if ((r = m->ops->get_attr(t, sino, &sa)))
		return r;
	if ((r = check_sticky(a->c, &spa, &sa)))
		return r;
	if (sa.flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	if (stype == META_TYPE_DIRECTORY && !same && is_ancestor(m, t, sino, a->pdst))
		return -EINVAL;

	r = m->ops->get_entry(t, a->pdst, a->ndst, strlen(a->ndst), &dino, &dtype);
	if (r && r != -ENOENT)
		return r;
	int dexists = r == 0;
	/*
	 * Checked here, in the transaction that replaces, so no writer can slip
	 * between the check and the replace (a caller's earlier look cannot).
	 */
	if (a->want_dst && (!dexists || dino != a->want_dst))
		return -ESTALE;
	if (dexists) {
		if (dino == sino) {
			if (a->flags & META_RENAME_EXCHANGE)
				return 0;
			/* two links of one inode: POSIX says do nothing */
			a->ino = sino;
			a->attr = sa;
			return 0;
		}
		if (a->flags & META_RENAME_NOREPLACE)
			return -EEXIST;
		if ((r = m->ops->get_attr(t, dino, &da)))
			return r;
		if ((r = check_sticky(a->c, dpa, &da)))
			return r;
		if (da.flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
			return -EPERM;
		if (a->flags & META_RENAME_EXCHANGE) {
			if (dtype == META_TYPE_DIRECTORY && !same && is_ancestor(m, t, dino, a->psrc))
				return -EINVAL;
			if ((r = m->ops->put_entry(t, a->psrc, a->nsrc, strlen(a->nsrc), dino, dtype)) ||
			    (r = m->ops->put_entry(t, a->pdst, a->ndst, strlen(a->ndst), sino, stype)))
				return r;
			if (!same) {
				int sd = stype == META_TYPE_DIRECTORY, dd = dtype == META_TYPE_DIRECTORY;
				sdelta = dd - sd;
				ddelta = sd - dd;
				if ((r = move_parent(m, t, sino, &sa, a->psrc, a->pdst)) ||
				    (r = move_parent(m, t, dino, &da, a->pdst, a->psrc)) ||
				    (r = update_dirstat(m, t, a->psrc,
							node_dlength(&da) - node_dlength(&sa),
							node_space(&da) - node_space(&sa), 0)) ||
				    (r = update_dirstat(m, t, a->pdst,
							node_dlength(&sa) - node_dlength(&da),
							node_space(&sa) - node_space(&da), 0)))
					return r;
				if (sd && (r = quota_move_tree(m, t, sino, a->psrc, a->pdst)))
					return r;
				if (dd && (r = quota_move_tree(m, t, dino, a->pdst, a->psrc)))
					return r;
			}
			touch_times(&da, now, 0);
			if ((r = m->ops->put_attr(t, dino, &da)))
				return r;
			goto finish;
		}
		if (dtype == META_TYPE_DIRECTORY) {
			uint64_t n;
			if (stype != META_TYPE_DIRECTORY)
				return -EISDIR;
			if ((r = m->ops->count_entries(t, dino, &n)))
				return r;
			if (n)
				return -ENOTEMPTY;
		} else if (stype == META_TYPE_DIRECTORY) {
			return -ENOTDIR;
		}
		if (!a->hour && m->fmt_loaded && m->fmt.trash_days > 0 &&
		    !(da.flags & META_FLAG_SKIP_TRASH))
			return RENAME_NEED_HOUR;
		if ((r = remove_node(m, t, a->pdst, a->ndst, dino, &da, a->hour, 1, now, &a->o)))
			return r;
		ddelta += a->o.pdelta;
	} else if (a->flags & META_RENAME_EXCHANGE) {
		return -ENOENT;
	}

	if ((r = m->ops->del_entry(t, a->psrc, a->nsrc, strlen(a->nsrc))) ||
	    (r = m->ops->put_entry(t, a->pdst, a->ndst, strlen(a->ndst), sino, stype)))
		return r;
	if (!same) {
		if (stype == META_TYPE_DIRECTORY) {
			/* a trash hour directory's nlink never counts its subdirectories */
			if (!meta_is_trash(a->psrc))
				sdelta--;
			ddelta++;
		}
		if ((r = move_parent(m, t, sino, &sa, a->psrc, a->pdst)) ||
		    (r = update_dirstat(m, t, a->psrc, -node_dlength(&sa), -node_space(&sa), -1)) ||
		    (r = update_dirstat(m, t, a->pdst, node_dlength(&sa), node_space(&sa), 1)))
			return r;
		if (stype == META_TYPE_DIRECTORY &&
		    (r = quota_move_tree(m, t, sino, a->psrc, a->pdst)))
			return r;
	}
finish:
	touch_times(&sa, now, 0);
	if ((r = m->ops->put_attr(t, sino, &sa)))
		return r;
	if (same) {
		spa.nlink = (uint32_t)((int64_t)spa.nlink + sdelta + ddelta);
		touch_times(&spa, now, 1);
		r = m->ops->put_attr(t, a->psrc, &spa);
	} else {
		spa.nlink = (uint32_t)((int64_t)spa.nlink + sdelta);
		dpa->nlink = (uint32_t)((int64_t)dpa->nlink + ddelta);
		touch_times(&spa, now, 1);
		touch_times(dpa, now, 1);
		if (!(r = m->ops->put_attr(t, a->psrc, &spa)))
			r = m->ops->put_attr(t, a->pdst, dpa);
	}
	a->ino = sino;
	a->attr = sa;
	return r;
}

int meta_rename(struct meta *m, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
		uint64_t pdst, const char *ndst, unsigned flags, uint64_t *ino,
		struct meta_attr *attr)
{
	return meta_rename_if(m, c, psrc, nsrc, pdst, ndst, flags, 0, 0, ino, attr);
}

int meta_rename_if(struct meta *m, const struct meta_ctx *c, uint64_t psrc, const char *nsrc,
		   uint64_t pdst, const char *ndst, unsigned flags, uint64_t src_ino,
		   uint64_t dst_ino, uint64_t *ino, struct meta_attr *attr)
{
	struct rename_args a;
	int r;
	memset(&a, 0, sizeof(a));
	a.c = c;
	a.psrc = fix_ino(psrc);
	a.pdst = fix_ino(pdst);
	a.nsrc = nsrc;
	a.ndst = ndst;
	a.flags = flags;
	if (flags & ~(unsigned)(META_RENAME_NOREPLACE | META_RENAME_EXCHANGE |
				META_RENAME_WHITEOUT | META_RENAME_RESTORE))
		return -EINVAL;
	if ((flags & META_RENAME_NOREPLACE) && (flags & META_RENAME_EXCHANGE))
		return -EINVAL;
	/* "replace exactly X" and "replace nothing" / "swap" contradict each other */
	if (dst_ino && (flags & (META_RENAME_NOREPLACE | META_RENAME_EXCHANGE)))
		return -EINVAL;
	a.want_src = src_ino ? fix_ino(src_ino) : 0;
	a.want_dst = dst_ino ? fix_ino(dst_ino) : 0;
	if (flags & META_RENAME_WHITEOUT)
		return -EOPNOTSUPP;
	if ((r = valid_name(nsrc, 1)) || (r = valid_name(ndst, 1)))
		return r;
	if (!strcmp(nsrc, ".") || !strcmp(nsrc, "..") || !strcmp(ndst, ".") ||
	    !strcmp(ndst, ".."))
		return -EINVAL;
	/* as JuiceFS: root may move entries out of the trash (a mount's mv) */
	if (meta_is_trash(a.pdst) ||
	    (meta_is_trash(a.psrc) && !(flags & META_RENAME_RESTORE) && c && c->uid != 0))
		return -EPERM;
	/*
	 * The hour directory is made only when a replaced target goes to the
	 * trash, as JuiceFS does: a plain rename (or a restore) leaves none.
	 */
	a.hour = trash_hour_cached(m);
	r = run_txn(m, 1, do_rename, &a);
	if (r == RENAME_NEED_HOUR) {
		if ((r = trash_hour(m, &a.hour)))
			return r;
		r = run_txn(m, 1, do_rename, &a);
	}
	if (r)
		return r;
	if (a.o.delete_data)
		file_data_dead(m, a.o.ino, a.o.length);
	if (ino)
		*ino = a.ino;
	if (attr)
		*attr = a.attr;
	return 0;
}

/* ------------------------------------------------------------ link */

struct link_args {
	const struct meta_ctx *c;
	uint64_t ino, parent;
	const char *name;
	struct meta_attr attr;
};

static int do_link(struct meta *m, struct meta_txn *t, void *arg)
{
	struct link_args *a = arg;
	struct meta_attr pa, *at = &a->attr;
	uint64_t exist;
	uint8_t etype;
	int64_t now = now_us();
	int r;
	if ((r = get_dir(m, t, a->parent, &pa)))
		return r;
	if (in_trash(&pa))
		return -ENOENT;
	if ((r = check_access(m, t, a->c, &pa, 3)))
		return r;
	if (pa.flags & META_FLAG_IMMUTABLE)
		return -EPERM;
	if ((r = m->ops->get_attr(t, a->ino, at)))
		return r;
	if (at->type == META_TYPE_DIRECTORY)
		return -EPERM;
	if (at->flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	r = m->ops->get_entry(t, a->parent, a->name, strlen(a->name), &exist, &etype);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	if (at->parent) {
		if ((r = m->ops->incr_parent(t, a->ino, at->parent, 1)))
			return r;
		at->parent = 0;
	}
	if ((r = m->ops->incr_parent(t, a->ino, a->parent, 1)))
		return r;
	at->nlink++;
	touch_times(at, now, 0);
	if ((r = m->ops->put_attr(t, a->ino, at)) ||
	    (r = m->ops->put_entry(t, a->parent, a->name, strlen(a->name), a->ino, at->type)) ||
	    (r = update_parent(m, t, a->parent, &pa, 0, now)))
		return r;
	return update_dirstat(m, t, a->parent, node_dlength(at), node_space(at), 1);
}

int meta_link(struct meta *m, const struct meta_ctx *c, uint64_t ino, uint64_t parent,
	      const char *name, struct meta_attr *attr)
{
	struct link_args a = { c, ino, fix_ino(parent), name, { 0 } };
	int r = valid_name(name, 0);
	if (r)
		return r;
	if (meta_is_trash(a.parent) || meta_is_trash(ino))
		return -EPERM;
	if ((r = run_txn(m, 1, do_link, &a)))
		return r;
	if (attr)
		*attr = a.attr;
	return 0;
}

/* ------------------------------------------------------------ setattr */

struct setattr_args {
	const struct meta_ctx *c;
	uint64_t ino;
	unsigned set;
	const struct meta_attr *in;
	struct meta_attr out;
};

static int do_setattr(struct meta *m, struct meta_txn *t, void *arg)
{
	struct setattr_args *a = arg;
	struct meta_attr *at = &a->out;
	const struct meta_attr *in = a->in;
	const struct meta_ctx *c = a->c;
	int checks = c && c->check_permission && c->uid != 0;
	int64_t now = now_us();
	int r = m->ops->get_attr(t, a->ino, at);
	if (r)
		return r;
	if (in_trash(at))
		return -EPERM;
	if ((at->flags & META_FLAG_IMMUTABLE) && (a->set & ~META_SET_FLAGS))
		return -EPERM;
	if (a->set & META_SET_FLAGS) {
		if (checks)
			return -EPERM;
		at->flags = in->flags;
	}
	if (a->set & (META_SET_UID | META_SET_GID)) {
		int chown_uid = (a->set & META_SET_UID) && in->uid != at->uid;
		int chown_gid = (a->set & META_SET_GID) && in->gid != at->gid;
		if (checks) {
			if (chown_uid)
				return -EPERM;
			if (chown_gid && (c->uid != at->uid || !in_group(c, in->gid)))
				return -EPERM;
		}
		if (a->set & META_SET_UID)
			at->uid = in->uid;
		if (a->set & META_SET_GID)
			at->gid = in->gid;
		/* a chown drops set-id bits of non-directories */
		if ((chown_uid || chown_gid) && at->type != META_TYPE_DIRECTORY) {
			at->mode &= ~04000;
			if (at->mode & 010)
				at->mode &= ~02000;
		}
	}
	if (a->set & META_SET_MODE) {
		if (checks && c->uid != at->uid)
			return -EPERM;
		uint16_t mode = in->mode & 07777;
		if (checks && at->type != META_TYPE_DIRECTORY && !in_group(c, at->gid))
			mode &= ~02000;
		if (at->access_acl) {
			/* chmod of an ACL'd node moves the mask, not the owning group */
			struct meta_acl rule;
			uint32_t id;
			if ((r = acl_get(m, t, at->access_acl, &rule)))
				return r;
			meta_acl_set_mode(&rule, mode);
			r = acl_save(m, t, &rule, &id);
			mode = (uint16_t)((mode & 07000) | meta_acl_get_mode(&rule));
			meta_acl_release(&rule);
			if (r)
				return r;
			at->access_acl = id;
		}
		at->mode = mode;
	}
	if (a->set & (META_SET_ATIME | META_SET_MTIME)) {
		if (checks && c->uid != at->uid)
			return -EPERM;
	}
	if (a->set & (META_SET_ATIME_NOW | META_SET_MTIME_NOW)) {
		if (checks && c->uid != at->uid && check_access(m, t, c, at, 2))
			return -EACCES;
	}
	if (a->set & META_SET_ATIME) {
		at->atime = in->atime;
		at->atimensec = in->atimensec;
	}
	if (a->set & META_SET_MTIME) {
		at->mtime = in->mtime;
		at->mtimensec = in->mtimensec;
	}
	if (a->set & META_SET_ATIME_NOW) {
		at->atime = now / 1000000;
		at->atimensec = (uint32_t)(now % 1000000) * 1000;
	}
	if (a->set & META_SET_MTIME_NOW) {
		at->mtime = now / 1000000;
		at->mtimensec = (uint32_t)(now % 1000000) * 1000;
	}
	if (a->set & META_SET_CTIME) {
		at->ctime = in->ctime;
		at->ctimensec = in->ctimensec;
	} else {
		touch_times(at, now, 0);
	}
	return m->ops->put_attr(t, a->ino, at);
}

int meta_setattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, unsigned set,
		 const struct meta_attr *in, struct meta_attr *out)
{
	struct setattr_args a = { c, fix_ino(ino), set, in, { 0 } };
	if (meta_is_trash(a.ino))
		return -EPERM;
	int r = run_txn(m, 1, do_setattr, &a);
	if (!r && out)
		*out = a.out;
	return r;
}

/* ------------------------------------------------------------ readdir */

struct dir_item {
	char *name;
	size_t namelen;
	uint64_t ino;
	uint8_t type;
	struct meta_attr attr;
};

struct readdir_args {
	const struct meta_ctx *c;
	uint64_t ino;
	int plus;
	const char *after;
	size_t limit;
	struct dir_item *v;
	size_t n, alloc;
	int native; /* the engine's own order (scan_entries_native) */
};

static int collect_entry(void *arg, const char *name, size_t namelen, uint64_t ino, uint8_t type)
{
	struct readdir_args *a = arg;
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 64;
		a->v = xrealloc(a->v, a->alloc * sizeof(*a->v));
	}
	struct dir_item *d = &a->v[a->n++];
	memset(d, 0, sizeof(*d));
	d->name = xmemdup(name, namelen);
	d->namelen = namelen;
	d->ino = ino;
	d->type = type;
	return 0;
}

static void free_items(struct readdir_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].name);
	a->n = 0;
}

static int do_readdir(struct meta *m, struct meta_txn *t, void *arg)
{
	struct readdir_args *a = arg;
	struct meta_attr da;
	int r;
	free_items(a);
	if ((r = get_dir(m, t, a->ino, &da)))
		return r;
	if ((r = check_access(m, t, a->c, &da, a->plus ? 5 : 4)))
		return r;
	if (a->native && m->ops->scan_entries_native)
		r = m->ops->scan_entries_native(t, a->ino, collect_entry, a);
	else
		r = m->ops->scan_entries(t, a->ino, a->after, a->after ? strlen(a->after) : 0,
					 a->limit, collect_entry, a);
	if (r)
		return r;
	if (a->plus && a->n && m->ops->get_attrs) {
		uint64_t *inos = xmalloc(a->n * sizeof(*inos));
		struct meta_attr *at = xmalloc(a->n * sizeof(*at));
		uint8_t *found = xmalloc(a->n);
		for (size_t i = 0; i < a->n; i++)
			inos[i] = a->v[i].ino;
		r = m->ops->get_attrs(t, inos, a->n, at, found);
		for (size_t i = 0; !r && i < a->n; i++) {
			if (found[i]) {
				a->v[i].attr = at[i];
			} else { /* dangling: report the type we know */
				memset(&a->v[i].attr, 0, sizeof(a->v[i].attr));
				a->v[i].attr.type = a->v[i].type;
			}
		}
		free(inos);
		free(at);
		free(found);
		return r;
	}
	for (size_t i = 0; a->plus && i < a->n; i++) {
		r = m->ops->get_attr(t, a->v[i].ino, &a->v[i].attr);
		if (r == -ENOENT) { /* dangling: report the type we know */
			memset(&a->v[i].attr, 0, sizeof(a->v[i].attr));
			a->v[i].attr.type = a->v[i].type;
			r = 0;
		}
		if (r)
			return r;
	}
	return 0;
}

static int readdir_common(struct meta *m, const struct meta_ctx *c, uint64_t ino, int plus,
			  const char *after, size_t limit, int native, meta_dirent_fn cb, void *arg)
{
	struct readdir_args a = { c, fix_ino(ino), plus, after, limit, NULL, 0, 0, native };
	int r = run_txn(m, 0, do_readdir, &a);
	for (size_t i = 0; !r && i < a.n; i++) {
		struct meta_dirent e = { a.v[i].name, a.v[i].namelen, a.v[i].ino, a.v[i].type,
					 a.v[i].attr };
		r = cb(arg, &e);
	}
	free_items(&a);
	free(a.v);
	return r;
}

int meta_readdir(struct meta *m, const struct meta_ctx *c, uint64_t ino, int plus,
		 const char *after, size_t limit, meta_dirent_fn cb, void *arg)
{
	return readdir_common(m, c, ino, plus, after, limit, 0, cb, arg);
}

int meta_readdir_native(struct meta *m, const struct meta_ctx *c, uint64_t ino, int plus,
			meta_dirent_fn cb, void *arg)
{
	return readdir_common(m, c, ino, plus, NULL, 0, 1, cb, arg);
}

/* ------------------------------------------------------- open / close */

int meta_open_file(struct meta *m, const struct meta_ctx *c, uint64_t ino, int flags,
		   struct meta_attr *attr)
{
	struct meta_attr a;
	int r = meta_getattr(m, c, ino, &a);
	if (r)
		return r;
	int acc = flags & 3, mask = 0;
	if (acc == 0 /* O_RDONLY */)
		mask = 4;
	else if (acc == 1)
		mask = 2;
	else
		mask = 6;
	if (flags & 01000 /* O_TRUNC */)
		mask |= 2;
	if ((r = check_access(m, NULL, c, &a, mask)))
		return r;
	if ((mask & 2) && ((a.flags & META_FLAG_IMMUTABLE) || in_trash(&a)))
		return -EPERM;
	if ((mask & 2) && (a.flags & META_FLAG_APPEND) && !(flags & 02000 /* O_APPEND */))
		return -EPERM;
	open_ref(m, fix_ino(ino));
	if (attr)
		*attr = a;
	return 0;
}

struct close_args {
	uint64_t ino;
	int deleted;
};

static int do_close(struct meta *m, struct meta_txn *t, void *arg)
{
	struct close_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	a->deleted = 0;
	if (r == -ENOENT)
		return 0;
	if (r || at.nlink > 0 || at.type != META_TYPE_FILE)
		return r;
	if ((r = m->ops->del_sustained(t, m->sid, a->ino)) ||
	    (r = free_inode(m, t, a->ino, &at, now_us())))
		return r;
	a->deleted = 1;
	return 0;
}

int meta_close_file(struct meta *m, uint64_t ino)
{
	struct close_args a = { fix_ino(ino), 0 };
	if (!open_unref(m, a.ino) || m->conf.read_only)
		return 0;
	int r = run_txn(m, 1, do_close, &a);
	if (!r && a.deleted)
		delete_file_data(m, a.ino, UINT64_MAX);
	return r;
}

/* ------------------------------------------------------------ POSIX ACLs */

static int acl_enabled(const struct meta *m)
{
	return m->fmt_loaded && m->fmt.enable_acl;
}

/* META_ACL_ACCESS / META_ACL_DEFAULT for the two xattr names, else 0. */
static int acl_xattr_type(const char *name)
{
	if (!strcmp(name, META_XATTR_ACL_ACCESS))
		return META_ACL_ACCESS;
	if (!strcmp(name, META_XATTR_ACL_DEFAULT))
		return META_ACL_DEFAULT;
	return 0;
}

struct facl_args {
	const struct meta_ctx *c;
	uint64_t ino;
	int type;
	const struct meta_acl *in;
	struct meta_acl *out;
};

static int do_getfacl(struct meta *m, struct meta_txn *t, void *arg)
{
	struct facl_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	uint32_t id = a->type == META_ACL_ACCESS ? at.access_acl : at.default_acl;
	if (!id)
		return -ENODATA;
	return acl_get(m, t, id, a->out);
}

int meta_getfacl(struct meta *m, const struct meta_ctx *c, uint64_t ino, int type,
		 struct meta_acl *rule)
{
	struct facl_args a = { c, fix_ino(ino), type, NULL, rule };
	meta_acl_init(rule);
	if (type != META_ACL_ACCESS && type != META_ACL_DEFAULT)
		return -EINVAL;
	if (!acl_enabled(m))
		return -ENODATA;
	return run_txn(m, 0, do_getfacl, &a);
}

static int do_setfacl(struct meta *m, struct meta_txn *t, void *arg)
{
	struct facl_args *a = arg;
	const struct meta_ctx *c = a->c;
	int checks = c && c->check_permission && c->uid != 0;
	struct meta_attr at;
	struct meta_acl rule;
	uint32_t id = 0;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (checks && c->uid != at.uid)
		return -EPERM;
	if (at.flags & META_FLAG_IMMUTABLE)
		return -EPERM;
	if (in_trash(&at))
		return -EPERM;
	uint32_t old_id = a->type == META_ACL_ACCESS ? at.access_acl : at.default_acl;
	uint16_t old_mode = at.mode;
	if (a->type == META_ACL_DEFAULT && at.type != META_TYPE_DIRECTORY)
		return meta_acl_is_empty(a->in) ? 0 : -EACCES; /* as the kernel answers */
	/* setting an ACL, like chmod, drops set-group-ID for a non-member */
	if (checks && !in_group(c, at.gid))
		at.mode &= 05777;
	meta_acl_copy(&rule, a->in);
	if (meta_acl_is_empty(&rule)) {
		id = 0;
	} else if (a->type == META_ACL_ACCESS && meta_acl_is_minimal(&rule)) {
		/* a minimal access ACL is only mode bits */
		id = 0;
		at.mode = (uint16_t)((at.mode & 07000) | meta_acl_get_mode(&rule));
	} else {
		meta_acl_inherit_perms(&rule, at.mode);
		r = acl_save(m, t, &rule, &id);
		if (!r && a->type == META_ACL_ACCESS)
			at.mode = (uint16_t)((at.mode & 07000) | meta_acl_get_mode(&rule));
	}
	meta_acl_release(&rule);
	if (r)
		return r;
	if (a->type == META_ACL_ACCESS)
		at.access_acl = id;
	else
		at.default_acl = id;
	if (id == old_id && at.mode == old_mode)
		return 0;
	touch_times(&at, now_us(), 0);
	return m->ops->put_attr(t, a->ino, &at);
}

int meta_setfacl(struct meta *m, const struct meta_ctx *c, uint64_t ino, int type,
		 const struct meta_acl *rule)
{
	struct facl_args a = { c, fix_ino(ino), type, rule, NULL };
	if (type != META_ACL_ACCESS && type != META_ACL_DEFAULT)
		return -EINVAL;
	if (!acl_enabled(m))
		return -ENOTSUP;
	if (a.ino >= META_MIN_INTERNAL_INODE)
		return -EPERM;
	return run_txn(m, 1, do_setfacl, &a);
}

/* ------------------------------------------------------------ xattrs */

struct xattr_args {
	const struct meta_ctx *c;
	uint64_t ino;
	const char *name;
	const void *value;
	size_t len;
	int flags;
	struct buf *out;
};

static int do_getxattr(struct meta *m, struct meta_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	buf_reset(a->out);
	r = m->ops->get_xattr(t, a->ino, a->name, a->out);
	return r == -ENOENT ? -ENODATA : r;
}

static int xattr_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return -EINVAL;
	if (n > META_MAX_XATTR_NAME)
		return -ERANGE;
	return 0;
}

int meta_getxattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, const char *name,
		  struct buf *value)
{
	struct xattr_args a = { c, fix_ino(ino), name, NULL, 0, 0, value };
	int r = xattr_name_ok(name);
	int type = r ? 0 : acl_xattr_type(name);
	if (type) {
		/* ACLs live in attributes and rules, never as stored xattrs */
		struct meta_acl rule;
		if (!(r = meta_getfacl(m, c, ino, type, &rule)))
			meta_acl_to_xattr(&rule, value);
		meta_acl_release(&rule);
		return r;
	}
	return r ? r : run_txn(m, 0, do_getxattr, &a);
}

struct getxattrs_args {
	const uint64_t *inos;
	size_t n;
	const char *name;
	struct buf *vals;
	uint8_t *found;
};

static int do_getxattrs(struct meta *m, struct meta_txn *t, void *arg)
{
	struct getxattrs_args *a = arg;
	int r = 0;

	if (m->ops->get_xattrs)
		return m->ops->get_xattrs(t, a->inos, a->n, a->name, a->vals, a->found);
	for (size_t i = 0; i < a->n && !r; i++) {
		buf_reset(&a->vals[i]);
		r = m->ops->get_xattr(t, fix_ino(a->inos[i]), a->name, &a->vals[i]);
		a->found[i] = r == 0;
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

int meta_getxattrs(struct meta *m, const uint64_t *inos, size_t n, const char *name,
		   struct buf *vals, uint8_t *found)
{
	struct getxattrs_args a = { inos, n, name, vals, found };
	int r = xattr_name_ok(name);

	if (r || !n)
		return r;
	return run_txn(m, 0, do_getxattrs, &a);
}

static int do_setxattr(struct meta *m, struct meta_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_attr at;
	struct buf old = BUF_INIT;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (at.flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	if (a->c && a->c->check_permission && a->c->uid && a->c->uid != at.uid &&
	    (r = check_access(m, t, a->c, &at, 2)))
		return r;
	if (a->flags & 3) {
		r = m->ops->get_xattr(t, a->ino, a->name, &old);
		buf_release(&old);
		if (r && r != -ENOENT)
			return r;
		if ((a->flags & 1) && r == 0)
			return -EEXIST;
		if ((a->flags & 2) && r == -ENOENT)
			return -ENODATA;
	}
	return m->ops->put_xattr(t, a->ino, a->name, a->value, a->len);
}

int meta_setxattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, const char *name,
		  const void *value, size_t len, int flags)
{
	struct xattr_args a = { c, fix_ino(ino), name, value, len, flags, NULL };
	int r = xattr_name_ok(name);
	if (r)
		return r;
	if (len > META_MAX_XATTR_VALUE)
		return -E2BIG;
	if ((flags & ~3) || (flags & 3) == 3)
		return -EINVAL;
	int type = acl_xattr_type(name);
	if (type) {
		struct meta_acl rule;
		if (!acl_enabled(m))
			return -ENOTSUP;
		if ((r = meta_acl_from_xattr(value, len, &rule)))
			return r;
		r = meta_setfacl(m, c, ino, type, &rule);
		meta_acl_release(&rule);
		return r;
	}
	return run_txn(m, 1, do_setxattr, &a);
}

static int add_name(void *arg, const char *name, size_t len)
{
	struct buf *b = arg;
	int r = buf_add(b, name, len);
	return r ? r : buf_addch(b, 0);
}

static int do_listxattr(struct meta *m, struct meta_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	buf_reset(a->out);
	if ((r = m->ops->scan_xattrs(t, a->ino, add_name, a->out)))
		return r;
	/* the ACL names are listed while the node has them (JuiceFS does the same) */
	if (acl_enabled(m) && at.access_acl)
		buf_add(a->out, META_XATTR_ACL_ACCESS, sizeof(META_XATTR_ACL_ACCESS));
	if (acl_enabled(m) && at.default_acl)
		buf_add(a->out, META_XATTR_ACL_DEFAULT, sizeof(META_XATTR_ACL_DEFAULT));
	return 0;
}

int meta_listxattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, struct buf *names)
{
	struct xattr_args a = { c, fix_ino(ino), NULL, NULL, 0, 0, names };
	return run_txn(m, 0, do_listxattr, &a);
}

static int do_removexattr(struct meta *m, struct meta_txn *t, void *arg)
{
	struct xattr_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (at.flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	if (a->c && a->c->check_permission && a->c->uid && a->c->uid != at.uid &&
	    (r = check_access(m, t, a->c, &at, 2)))
		return r;
	r = m->ops->del_xattr(t, a->ino, a->name);
	return r == -ENOENT ? -ENODATA : r;
}

int meta_removexattr(struct meta *m, const struct meta_ctx *c, uint64_t ino, const char *name)
{
	struct xattr_args a = { c, fix_ino(ino), name, NULL, 0, 0, NULL };
	int r = xattr_name_ok(name);
	int type = r ? 0 : acl_xattr_type(name);
	if (type) {
		struct meta_acl empty;
		meta_acl_init(&empty);
		return meta_setfacl(m, c, ino, type, &empty);
	}
	return r ? r : run_txn(m, 1, do_removexattr, &a);
}

/* ------------------------------------------------------------ statfs */

struct statfs_args {
	uint64_t ino;
	int64_t space, inodes;
	int has_quota;                 /* the nearest quota's usage replaces the volume's */
	struct meta_quota usage;
	int64_t avail_space, avail_inodes; /* -1 = no quota limit on the way */
};

/* JuiceFS's StatFS: every quota above ino clamps what is available. */
static int statfs_quotas(struct meta *m, struct meta_txn *t, struct statfs_args *a)
{
	uint64_t dir = a->ino;
	struct meta_attr at;
	if (!quota_any(m))
		return 0;
	if (m->ops->get_attr(t, dir, &at))
		return 0;
	if (at.type != META_TYPE_DIRECTORY)
		dir = at.parent;
	for (int depth = 0; depth < 100000 && dir && !meta_is_trash(dir); depth++) {
		struct meta_quota q;
		if (quota_has(m, dir) && m->ops->get_quota(t, dir, &q) == 0) {
			if (q.used_space < 0)
				q.used_space = 0;
			if (q.used_inodes < 0)
				q.used_inodes = 0;
			if (q.max_space > 0 && q.max_space < q.used_space)
				q.max_space = q.used_space;
			if (q.max_inodes > 0 && q.max_inodes < q.used_inodes)
				q.max_inodes = q.used_inodes;
			if (!a->has_quota) {
				a->has_quota = 1;
				a->usage = q;
			}
			if (q.max_space > 0 &&
			    (a->avail_space < 0 || q.max_space - q.used_space < a->avail_space))
				a->avail_space = q.max_space - q.used_space;
			if (q.max_inodes > 0 &&
			    (a->avail_inodes < 0 || q.max_inodes - q.used_inodes < a->avail_inodes))
				a->avail_inodes = q.max_inodes - q.used_inodes;
		}
		if (dir == META_ROOT_INODE || m->ops->get_attr(t, dir, &at))
			break;
		dir = at.parent;
	}
	return 0;
}

static int do_statfs(struct meta *m, struct meta_txn *t, void *arg)
{
	struct statfs_args *a = arg;
	int r = m->ops->get_counter(t, "usedSpace", &a->space);
	if (!r)
		r = m->ops->get_counter(t, "totalInodes", &a->inodes);
	a->has_quota = 0;
	a->avail_space = a->avail_inodes = -1;
	return r ? r : statfs_quotas(m, t, a);
}

int meta_statfs(struct meta *m, const struct meta_ctx *c, uint64_t ino, struct meta_statfs *st)
{
	struct statfs_args a = { fix_ino(ino), 0, 0, 0, { 0, 0, 0, 0 }, -1, -1 };
	UNUSED(c);
	quota_load(m, 0);
	int r = run_txn(m, 0, do_statfs, &a);
	if (r)
		return r;
	uint64_t used = a.space < 0 ? 0 : (uint64_t)a.space;
	uint64_t iused = a.inodes < 0 ? 0 : (uint64_t)a.inodes;
	uint64_t total = m->fmt_loaded ? m->fmt.capacity : 0;
	if (total) {
		if (total < used)
			total = used;
	} else {
		total = 1ULL << 50;
		while (total < (UINT64_MAX >> 1) && used * 10 > total * 8)
			total *= 2;
	}
	uint64_t itotal = m->fmt_loaded ? m->fmt.inodes : 0, iavail;
	if (itotal) {
		iavail = itotal > iused ? itotal - iused : 0;
	} else {
		iavail = 10ULL << 20;
		while (iavail < (UINT64_MAX >> 3) && iused > iavail * 4)
			iavail *= 2;
	}
	uint64_t avail = total - used;
	if (a.avail_space >= 0 && (uint64_t)a.avail_space < avail)
		avail = (uint64_t)a.avail_space;
	if (a.avail_inodes >= 0 && (uint64_t)a.avail_inodes < iavail)
		iavail = (uint64_t)a.avail_inodes;
	if (a.has_quota) {
		total = (uint64_t)a.usage.used_space + avail;
		iused = (uint64_t)a.usage.used_inodes;
	}
	st->total_space = total;
	st->avail_space = avail;
	st->used_inodes = iused;
	st->avail_inodes = iavail;
	return 0;
}

/* ------------------------------------------------------------ sessions */

struct session_args {
	uint64_t sid;
	int64_t expire;
	const char *info;
	struct dead_ino {
		uint64_t *v;
		size_t n, alloc;
	} inos;
};

static int64_t session_expiry(struct meta *m)
{
	int64_t hb = m->conf.heartbeat_ms;
	int64_t now = now_us() / 1000000;
	return hb > 0 ? now + 5 * hb / 1000 : now + 365 * 86400;
}

static int do_put_session(struct meta *m, struct meta_txn *t, void *arg)
{
	struct session_args *a = arg;
	return m->ops->put_session(t, a->sid, a->expire, a->info);
}

int meta_new_session(struct meta *m, const char *info_json)
{
	uint64_t sid;
	if (m->conf.read_only)
		return 0; /* read-only clients do not register (spec §10.1) */
	int r;
	ENGINE_RETRY(r, m->ops->alloc_ids(m, "nextSession", 1, &sid));
	if (r)
		return r;
	struct session_args a = { sid, session_expiry(m), info_json ? info_json : "", { 0 } };
	if ((r = run_txn(m, 1, do_put_session, &a)))
		return r;
	pthread_mutex_lock(&m->mu);
	m->sid = sid;
	free(m->session_info);
	m->session_info = xstrdup(a.info);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int do_touch_session(struct meta *m, struct meta_txn *t, void *arg)
{
	struct session_args *a = arg;
	int r = m->ops->touch_session(t, a->sid, a->expire);
	if (r == -ENOENT) {
		log_warn("session %llu was cleaned as stale; registering it again",
			 (unsigned long long)a->sid);
		r = m->ops->put_session(t, a->sid, a->expire, a->info);
	}
	return r;
}

int meta_refresh_session(struct meta *m)
{
	if (!m->sid)
		return 0;
	struct session_args a = { m->sid, session_expiry(m), m->session_info, { 0 } };
	int r = run_txn(m, 1, do_touch_session, &a);
	if (!r)
		meta_load_format(m, NULL); /* pick up config changes, as JuiceFS does */
	return r;
}

static int collect_sustained(void *arg, uint64_t sid, uint64_t ino)
{
	struct dead_ino *d = arg;
	UNUSED(sid);
	if (d->n == d->alloc) {
		d->alloc = d->alloc ? d->alloc * 2 : 16;
		d->v = xrealloc(d->v, d->alloc * sizeof(*d->v));
	}
	d->v[d->n++] = ino;
	return 0;
}

/* Drop a session: its locks, its sustained inodes (deleted now), its record. */
static int do_clean_session(struct meta *m, struct meta_txn *t, void *arg)
{
	struct session_args *a = arg;
	struct dead_ino all = { 0 };
	int r;
	a->inos.n = 0;
	if ((r = m->ops->del_session_locks(t, a->sid)) ||
	    (r = m->ops->scan_sustained(t, a->sid, collect_sustained, &all)))
		goto out;
	for (size_t i = 0; i < all.n; i++) {
		struct meta_attr at;
		uint64_t ino = all.v[i];
		if ((r = m->ops->del_sustained(t, a->sid, ino)))
			goto out;
		r = m->ops->get_attr(t, ino, &at);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r)
			goto out;
		if (at.nlink > 0)
			continue;
		if ((r = free_inode(m, t, ino, &at, now_us())))
			goto out;
		collect_sustained(&a->inos, 0, ino);
	}
	r = m->ops->del_session(t, a->sid);
out:
	free(all.v);
	return r;
}

static int clean_session(struct meta *m, uint64_t sid)
{
	struct session_args a = { sid, 0, NULL, { 0 } };
	int r = run_txn(m, 1, do_clean_session, &a);
	for (size_t i = 0; !r && i < a.inos.n; i++)
		delete_file_data(m, a.inos.v[i], UINT64_MAX);
	free(a.inos.v);
	return r;
}

int meta_close_session(struct meta *m)
{
	if (!m->sid || m->conf.read_only)
		return 0;
	int r = clean_session(m, m->sid);
	if (!r)
		m->sid = 0;
	return r;
}

struct sess_item {
	uint64_t sid;
	int64_t expire;
	char *info;
	struct dead_ino sustained;
	struct meta_session_lock *locks;
	size_t nlocks, alock;
};

struct sess_list {
	struct sess_item *v;
	size_t n, alloc;
	int with_sustained;
	uint64_t only; /* 0 = every session; else that one, with its locks */
};

static int collect_session(void *arg, uint64_t sid, int64_t expire, const char *info)
{
	struct sess_list *l = arg;
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	struct sess_item *s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	s->sid = sid;
	s->expire = expire;
	s->info = xstrdup(info ? info : "");
	return 0;
}

static void free_sessions(struct sess_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].info);
		free(l->v[i].sustained.v);
		for (size_t j = 0; j < l->v[i].nlocks; j++)
			free((void *)l->v[i].locks[j].recs);
		free(l->v[i].locks);
	}
	l->n = 0;
}

static int collect_session_lock(void *arg, uint64_t ino, uint64_t owner, int is_flock,
				char ltype, const uint8_t *recs, size_t len)
{
	struct sess_item *s = arg;
	if (s->nlocks == s->alock) {
		s->alock = s->alock ? s->alock * 2 : 8;
		s->locks = xrealloc(s->locks, s->alock * sizeof(*s->locks));
	}
	struct meta_session_lock *k = &s->locks[s->nlocks++];
	uint8_t *copy = NULL;
	if (len) {
		copy = xmalloc(len);
		memcpy(copy, recs, len);
	}
	*k = (struct meta_session_lock){ ino, owner, is_flock, ltype, copy, len };
	return 0;
}

/* flocks before plocks, each by inode then owner, whatever order the engine keeps. */
static int session_lock_cmp(const void *a, const void *b)
{
	const struct meta_session_lock *x = a, *y = b;
	if (x->is_flock != y->is_flock)
		return x->is_flock ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

static int do_list_sessions(struct meta *m, struct meta_txn *t, void *arg)
{
	struct sess_list *l = arg;
	free_sessions(l);
	int r = m->ops->scan_sessions(t, collect_session, l);
	if (!r && l->only) {
		size_t k = 0;
		for (size_t i = 0; i < l->n; i++) {
			if (l->v[i].sid == l->only && !k++) {
				struct sess_item keep = l->v[i];
				l->v[i] = l->v[0];
				l->v[0] = keep;
			}
		}
		for (size_t i = k ? 1 : 0; i < l->n; i++)
			free(l->v[i].info);
		l->n = k ? 1 : 0;
		if (k)
			r = m->ops->scan_session_locks(t, l->only, collect_session_lock, &l->v[0]);
	}
	for (size_t i = 0; !r && l->with_sustained && i < l->n; i++)
		r = m->ops->scan_sustained(t, l->v[i].sid, collect_sustained, &l->v[i].sustained);
	return r;
}

int meta_cleanup_stale_sessions(struct meta *m, int *cleaned)
{
	struct sess_list l = { NULL, 0, 0, 0, 0 };
	int64_t now = now_us() / 1000000;
	int r = run_txn(m, 0, do_list_sessions, &l), n = 0;
	for (size_t i = 0; !r && i < l.n; i++) {
		if (l.v[i].expire >= now || l.v[i].sid == m->sid)
			continue;
		/* JuiceFS logs the session's info with the outcome, to tell whose it was. */
		r = clean_session(m, l.v[i].sid);
		log_info("clean up stale session %llu %s: %s", (unsigned long long)l.v[i].sid,
			 *l.v[i].info ? l.v[i].info : "{}", r ? strerror(-r) : "<nil>");
		if (!r)
			n++;
	}
	free_sessions(&l);
	free(l.v);
	if (cleaned)
		*cleaned = n;
	return r;
}

static int list_sessions(struct meta *m, uint64_t only, meta_session_fn cb, void *arg)
{
	struct sess_list l = { NULL, 0, 0, 1, only };
	int r = run_txn(m, 0, do_list_sessions, &l);
	if (!r && only && !l.n)
		r = -ENOENT;
	for (size_t i = 0; !r && i < l.n; i++) {
		if (l.v[i].nlocks)
			qsort(l.v[i].locks, l.v[i].nlocks, sizeof(*l.v[i].locks), session_lock_cmp);
		struct meta_session s = { l.v[i].sid,	      l.v[i].expire,	  l.v[i].info,
					  l.v[i].sustained.v, l.v[i].sustained.n, l.v[i].locks,
					  l.v[i].nlocks };
		r = cb(arg, &s);
	}
	free_sessions(&l);
	free(l.v);
	return r;
}

int meta_list_sessions(struct meta *m, meta_session_fn cb, void *arg)
{
	return list_sessions(m, 0, cb, arg);
}

int meta_get_session(struct meta *m, uint64_t sid, meta_session_fn cb, void *arg)
{
	return sid ? list_sessions(m, sid, cb, arg) : -ENOENT;
}

/* ------------------------------------------------------------ chunks */

static void decode_chunk(const struct buf *raw, struct meta_slice **out, size_t *n)
{
	size_t cnt = raw->len / META_SLICE_BYTES;
	struct meta_slice *v = cnt ? xmalloc(cnt * sizeof(*v)) : NULL;
	for (size_t i = 0; i < cnt; i++)
		meta_slice_decode((const uint8_t *)raw->ptr + i * META_SLICE_BYTES, &v[i]);
	*out = v;
	*n = cnt;
}

struct chunk_args {
	uint64_t ino;
	uint32_t indx;
	struct buf raw;
};

static int do_read_chunk(struct meta *m, struct meta_txn *t, void *arg)
{
	struct chunk_args *a = arg;
	buf_reset(&a->raw);
	return m->ops->get_chunk(t, a->ino, a->indx, &a->raw);
}

int meta_read_chunk(struct meta *m, uint64_t ino, uint32_t indx, struct meta_slice **out,
		    size_t *n)
{
	struct chunk_args a = { ino, indx, BUF_INIT };
	int r = run_txn(m, 0, do_read_chunk, &a);
	if (!r)
		decode_chunk(&a.raw, out, n);
	buf_release(&a.raw);
	return r;
}

static int append_rec(struct meta *m, struct meta_txn *t, uint64_t ino, uint32_t indx,
		      const struct meta_slice *s, size_t *count)
{
	uint8_t rec[META_SLICE_BYTES];
	meta_slice_encode(s, rec);
	return m->ops->append_chunk(t, ino, indx, rec, sizeof(rec), count);
}

/*
 * From this many whole chunks between the ends of a growing truncate, the
 * chunk lists that exist among them are listed (JuiceFS's Redis engine
 * SCANs past 10000) instead of asking for each index: a truncate to ~1 PB
 * spans 2^24 indices, one lookup (one Redis round trip) each.
 */
#define HOLES_LIST_MIN 10000

/* Full hole records on the existing chunk lists among indices [first, first + n). */
static int holes_on_existing(struct meta *m, struct meta_txn *t, uint64_t ino, uint32_t first,
			     uint64_t n)
{
	struct meta_slice h = { 0, 0, 0, 0, META_CHUNK_SIZE };
	struct chunk_list l = { 0 };
	int r = m->ops->scan_chunks(t, ino, collect_chunk, &l);

	for (size_t i = 0; i < l.n && !r; i++)
		if (l.v[i] >= first && l.v[i] - first < n)
			r = append_rec(m, t, ino, l.v[i], &h, NULL);
	free(l.v);
	return r;
}

/* Hole records over file range [lo, hi) (spec §3.7 truncate / fallocate). */
static int append_holes(struct meta *m, struct meta_txn *t, uint64_t ino, uint64_t lo, uint64_t hi,
			int only_existing_middle)
{
	int r = 0;
	while (lo < hi && !r) {
		uint32_t indx = (uint32_t)(lo / META_CHUNK_SIZE);
		uint64_t cstart = (uint64_t)indx * META_CHUNK_SIZE;
		uint64_t end = MIN(hi, cstart + META_CHUNK_SIZE);
		struct meta_slice h = { (uint32_t)(lo - cstart), 0, 0, 0, (uint32_t)(end - lo) };
		int full = h.pos == 0 && h.len == META_CHUNK_SIZE;
		uint64_t nfull = (hi - lo) / META_CHUNK_SIZE;
		if (full && only_existing_middle && nfull >= HOLES_LIST_MIN) {
			r = holes_on_existing(m, t, ino, indx, nfull);
			lo += nfull * META_CHUNK_SIZE;
			continue;
		}
		if (full && only_existing_middle) {
			/* a whole chunk between the ends: only lists that exist (RPUSHX) */
			struct buf raw = BUF_INIT;
			r = m->ops->get_chunk(t, ino, indx, &raw);
			int exists = raw.len > 0;
			buf_release(&raw);
			if (!r && exists)
				r = append_rec(m, t, ino, indx, &h, NULL);
		} else {
			r = append_rec(m, t, ino, indx, &h, NULL);
		}
		lo = end;
	}
	return r;
}

struct write_args {
	uint64_t ino;
	uint32_t indx, pos;
	const struct meta_slice *s;
	int64_t mtime_us;
	size_t count;
};

static int do_write(struct meta *m, struct meta_txn *t, void *arg)
{
	struct write_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (at.type != META_TYPE_FILE)
		return -EPERM;
	uint64_t newlen = (uint64_t)a->indx * META_CHUNK_SIZE + a->pos + a->s->len;
	if (newlen > at.length) {
		int64_t delta = align4k(newlen) - align4k(at.length);
		if ((r = update_usage(m, t, delta, 0)))
			return r;
		if (at.parent && !meta_is_trash(at.parent) &&
		    (r = update_dirstat(m, t, at.parent, (int64_t)(newlen - at.length), delta, 0)))
			return r;
		if (!at.parent &&
		    (r = linked_file_stat(m, t, a->ino, (int64_t)(newlen - at.length), delta)))
			return r;
		at.length = newlen;
	}
	at.mtime = a->mtime_us / 1000000;
	at.mtimensec = (uint32_t)(a->mtime_us % 1000000) * 1000;
	touch_times(&at, now_us(), 0);
	struct meta_slice rec = *a->s;
	rec.pos = a->pos;
	if ((r = append_rec(m, t, a->ino, a->indx, &rec, &a->count)))
		return r;
	if (rec.id && (r = m->ops->new_slice(t, rec.id, rec.size)))
		return r;
	return m->ops->put_attr(t, a->ino, &at);
}

int meta_write_slice(struct meta *m, uint64_t ino, uint32_t indx, uint32_t pos,
		     const struct meta_slice *s, int64_t mtime_us, size_t *nrecords)
{
	if ((uint64_t)pos + s->len > META_CHUNK_SIZE || s->off + (uint64_t)s->len > s->size)
		return -EINVAL;
	if ((uint64_t)indx * META_CHUNK_SIZE + pos + s->len > META_MAX_FILE_SIZE)
		return -EFBIG;
	struct write_args a = { ino, indx, pos, s, mtime_us, 0 };
	int unknown;
	int r = run_txn_outcome(m, 1, do_write, &a, &unknown);
	if (!r && nrecords)
		*nrecords = a.count;
	return unknown ? META_EUNKNOWN : r;
}

struct trunc_args {
	const struct meta_ctx *c;
	uint64_t ino;
	uint64_t length;
	int mode; /* fallocate mode, or -1 for truncate */
	uint64_t off, len;
	struct meta_attr attr;
	struct dead_list dead; /* slices of dropped chunks, deleted after commit */
};

static int check_writable_file(struct meta *m, struct meta_txn *t, const struct meta_ctx *c,
			       const struct meta_attr *at)
{
	if (at->type == META_TYPE_DIRECTORY)
		return -EISDIR;
	if (at->type != META_TYPE_FILE)
		return -EPERM;
	if (at->flags & (META_FLAG_IMMUTABLE | META_FLAG_APPEND))
		return -EPERM;
	return check_access(m, t, c, at, 2);
}

static int grow_or_shrink(struct meta *m, struct meta_txn *t, uint64_t ino, struct meta_attr *at,
			  uint64_t length)
{
	int64_t delta = align4k(length) - align4k(at->length);
	int r = update_usage(m, t, delta, 0);
	if (r)
		return r;
	if (at->parent && !meta_is_trash(at->parent) &&
	    (r = update_dirstat(m, t, at->parent, (int64_t)length - (int64_t)at->length, delta, 0)))
		return r;
	if (!at->parent &&
	    (r = linked_file_stat(m, t, ino, (int64_t)length - (int64_t)at->length, delta)))
		return r;
	at->length = length;
	return 0;
}

/*
 * Fault injection for tests: JFS_FAULT_META_TRUNCATE_SLEEP_MS=N holds every
 * truncate's transaction open N ms after its first read, so a test can
 * signal a mount with a transaction in flight (t/integ/t3009).
 */
static int64_t fault_trunc_ms;
static pthread_once_t fault_trunc_once = PTHREAD_ONCE_INIT;

static void fault_trunc_init(void)
{
	const char *v = getenv("JFS_FAULT_META_TRUNCATE_SLEEP_MS");
	if (!v || parse_i64(v, &fault_trunc_ms) || fault_trunc_ms < 0 || fault_trunc_ms > 600000)
		fault_trunc_ms = 0;
}

static int do_truncate(struct meta *m, struct meta_txn *t, void *arg)
{
	struct trunc_args *a = arg;
	struct meta_attr *at = &a->attr;
	int64_t now = now_us();
	int r = m->ops->get_attr(t, a->ino, at);
	if (r)
		return r;
	pthread_once(&fault_trunc_once, fault_trunc_init);
	if (fault_trunc_ms)
		sleep_ms(fault_trunc_ms);
	if (in_trash(at))
		return -EPERM;
	if ((r = check_writable_file(m, t, a->c, at)))
		return r;
	a->dead.n = 0;
	if (a->length != at->length) {
		uint64_t lo = MIN(a->length, at->length), hi = MAX(a->length, at->length);
		if (a->length < at->length) {
			/*
			 * Chunks wholly past the new end are dropped, not covered
			 * with holes: no chunk then lies past a file's length, which
			 * lets deletion ask for chunks by index (delete_file_data).
			 */
			uint32_t first = (uint32_t)((a->length + META_CHUNK_SIZE - 1) / META_CHUNK_SIZE);
			struct chunk_list l = { 0 };
			if ((r = m->ops->scan_chunks(t, a->ino, collect_chunk, &l)))
				return r;
			for (size_t i = 0; i < l.n && !r; i++) {
				struct buf recs = BUF_INIT;
				if (l.v[i] < first)
					continue;
				r = m->ops->get_chunk(t, a->ino, l.v[i], &recs);
				if (!r)
					r = release_records(m, t, (const uint8_t *)recs.ptr, recs.len,
							    &a->dead);
				if (!r)
					r = m->ops->set_chunk(t, a->ino, l.v[i], NULL, 0);
				buf_release(&recs);
			}
			free(l.v);
			if (r)
				return r;
			hi = MIN(hi, (uint64_t)first * META_CHUNK_SIZE);
		}
		if (lo < hi && (r = append_holes(m, t, a->ino, lo, hi, 1)))
			return r;
		if ((r = grow_or_shrink(m, t, a->ino, at, a->length)))
			return r;
	}
	touch_times(at, now, 1);
	return m->ops->put_attr(t, a->ino, at);
}

int meta_truncate(struct meta *m, const struct meta_ctx *c, uint64_t ino, uint64_t length,
		  struct meta_attr *attr)
{
	if (length > META_MAX_FILE_SIZE)
		return -EFBIG;
	struct trunc_args a = { c, ino, length, -1, 0, 0, { 0 }, { 0 } };
	int r = run_txn(m, 1, do_truncate, &a);
	if (!r && attr)
		*attr = a.attr;
	if (!r)
		delete_dead(m, &a.dead);
	free(a.dead.v);
	return r;
}

static int do_fallocate(struct meta *m, struct meta_txn *t, void *arg)
{
	struct trunc_args *a = arg;
	struct meta_attr *at = &a->attr;
	int r = m->ops->get_attr(t, a->ino, at);
	if (r)
		return r;
	if ((r = check_writable_file(m, t, a->c, at)))
		return r;
	uint64_t end = a->off + a->len, old = at->length;
	if (!(a->mode & META_FALLOC_KEEP_SIZE) && end > old &&
	    (r = grow_or_shrink(m, t, a->ino, at, end)))
		return r;
	if ((a->mode & (META_FALLOC_PUNCH_HOLE | META_FALLOC_ZERO_RANGE)) && a->off < old &&
	    (r = append_holes(m, t, a->ino, a->off, MIN(end, old), 0)))
		return r;
	touch_times(at, now_us(), 1);
	return m->ops->put_attr(t, a->ino, at);
}

int meta_fallocate(struct meta *m, const struct meta_ctx *c, uint64_t ino, int mode,
		   uint64_t off, uint64_t len, struct meta_attr *attr)
{
	if (mode & (META_FALLOC_COLLAPSE_RANGE | META_FALLOC_INSERT_RANGE))
		return -EOPNOTSUPP;
	if (mode & ~(META_FALLOC_KEEP_SIZE | META_FALLOC_PUNCH_HOLE | META_FALLOC_ZERO_RANGE))
		return -EINVAL;
	if ((mode & META_FALLOC_PUNCH_HOLE) && !(mode & META_FALLOC_KEEP_SIZE))
		return -EINVAL;
	if (len == 0)
		return -EINVAL;
	if (off > META_MAX_FILE_SIZE || len > META_MAX_FILE_SIZE - off)
		return -EFBIG;
	struct trunc_args a = { c, ino, 0, mode, off, len, { 0 }, { 0 } };
	int r = run_txn(m, 1, do_fallocate, &a);
	if (!r && attr)
		*attr = a.attr;
	return r;
}

struct cfr_args {
	const struct meta_ctx *c;
	uint64_t fin, offin, fout, offout, size;
	uint64_t copied;
	struct meta_attr attr;
};

/* Append to fout the record for src piece bytes, split at destination chunk borders. */
static int copy_piece(struct meta *m, struct meta_txn *t, uint64_t fout, uint64_t dst,
		      const struct meta_slice *p, uint32_t poff, uint64_t n)
{
	int r = 0;
	while (n && !r) {
		uint32_t indx = (uint32_t)(dst / META_CHUNK_SIZE);
		uint32_t pos = (uint32_t)(dst % META_CHUNK_SIZE);
		uint32_t take = (uint32_t)MIN(n, (uint64_t)META_CHUNK_SIZE - pos);
		struct meta_slice rec = { pos, p->id, p->id ? p->size : 0, p->id ? poff : 0, take };
		if ((r = append_rec(m, t, fout, indx, &rec, NULL)))
			break;
		if (p->id) {
			int64_t refs;
			r = m->ops->incr_ref(t, p->id, p->size, 1, &refs);
		}
		dst += take;
		poff += take;
		n -= take;
	}
	return r;
}

static int do_copy_file_range(struct meta *m, struct meta_txn *t, void *arg)
{
	struct cfr_args *a = arg;
	struct meta_attr sa, *da = &a->attr;
	struct buf raw = BUF_INIT;
	int r;
	a->copied = 0;
	if ((r = m->ops->get_attr(t, a->fin, &sa)))
		return r;
	if ((r = m->ops->get_attr(t, a->fout, da)))
		return r;
	if (sa.type == META_TYPE_DIRECTORY || da->type == META_TYPE_DIRECTORY)
		return -EISDIR;
	if (sa.type != META_TYPE_FILE || da->type != META_TYPE_FILE)
		return -EINVAL;
	if ((r = check_access(m, t, a->c, &sa, 4)) || (r = check_writable_file(m, t, a->c, da)))
		return r;
	if (a->offin >= sa.length)
		return 0;
	uint64_t size = MIN(a->size, sa.length - a->offin);
	if (a->offout + size > META_MAX_FILE_SIZE)
		return -EFBIG;
	if (a->offout + size > da->length && (r = grow_or_shrink(m, t, a->fout, da, a->offout + size)))
		return r;
	uint64_t x = a->offin, end = a->offin + size;
	while (x < end && !r) {
		uint32_t indx = (uint32_t)(x / META_CHUNK_SIZE);
		uint64_t cstart = (uint64_t)indx * META_CHUNK_SIZE;
		uint64_t cend = MIN(end, cstart + META_CHUNK_SIZE);
		struct meta_slice *raws, *view;
		size_t nraw, nview;
		buf_reset(&raw);
		if ((r = m->ops->get_chunk(t, a->fin, indx, &raw)))
			break;
		decode_chunk(&raw, &raws, &nraw);
		meta_build_slices(raws, nraw, &view, &nview);
		free(raws);
		/* walk [x, cend) in chunk coordinates, filling gaps with holes */
		uint64_t cur = x - cstart, stop = cend - cstart;
		size_t i = 0;
		while (cur < stop && !r) {
			while (i < nview && (uint64_t)view[i].pos + view[i].len <= cur)
				i++;
			struct meta_slice hole = { 0, 0, 0, 0, 0 };
			const struct meta_slice *p;
			uint64_t pend;
			uint32_t poff;
			if (i < nview && view[i].pos <= cur) {
				p = &view[i];
				pend = (uint64_t)p->pos + p->len;
				poff = (uint32_t)(p->off + (cur - p->pos));
			} else {
				p = &hole;
				pend = i < nview ? view[i].pos : stop;
				poff = 0;
			}
			uint64_t n = MIN(pend, stop) - cur;
			r = copy_piece(m, t, a->fout, a->offout + (cstart + cur - a->offin), p, poff, n);
			cur += n;
		}
		free(view);
		x = cend;
	}
	buf_release(&raw);
	if (r)
		return r;
	touch_times(da, now_us(), 1);
	a->copied = size;
	return m->ops->put_attr(t, a->fout, da);
}

int meta_copy_file_range(struct meta *m, const struct meta_ctx *c, uint64_t fin, uint64_t offin,
			 uint64_t fout, uint64_t offout, uint64_t size, uint64_t *copied,
			 struct meta_attr *out_attr)
{
	struct cfr_args a = { c, fin, offin, fout, offout, size, 0, { 0 } };
	if (fin == fout && offin < offout + size && offout < offin + size)
		return -EINVAL;
	if (offin > META_MAX_FILE_SIZE || offout > META_MAX_FILE_SIZE)
		return -EFBIG;
	if (size == 0) {
		*copied = 0;
		return 0;
	}
	int r = run_txn(m, 1, do_copy_file_range, &a);
	if (!r) {
		*copied = a.copied;
		if (out_attr)
			*out_attr = a.attr;
	}
	return r;
}

struct compact_args {
	uint64_t ino;
	uint32_t indx;
	const struct meta_slice *origin;
	size_t norigin, nskipped;
	const struct meta_slice *newslice;
	struct dead_list dead;
};

static int do_compact(struct meta *m, struct meta_txn *t, void *arg)
{
	struct compact_args *a = arg;
	struct buf raw = BUF_INIT, out = BUF_INIT, del = BUF_INIT;
	uint8_t rec[META_SLICE_BYTES];
	int r;
	a->dead.n = 0;
	if ((r = m->ops->get_chunk(t, a->ino, a->indx, &raw)))
		goto out;
	r = -EINVAL;
	if (raw.len < a->norigin * META_SLICE_BYTES)
		goto out;
	for (size_t i = 0; i < a->norigin; i++) {
		meta_slice_encode(&a->origin[i], rec);
		if (memcmp(rec, raw.ptr + i * META_SLICE_BYTES, META_SLICE_BYTES))
			goto out; /* the chunk changed under us: give up this round */
	}
	buf_add(&out, raw.ptr, a->nskipped * META_SLICE_BYTES);
	meta_slice_encode(a->newslice, rec);
	buf_add(&out, rec, sizeof(rec));
	buf_add(&out, raw.ptr + a->norigin * META_SLICE_BYTES,
		raw.len - a->norigin * META_SLICE_BYTES);
	if ((r = m->ops->set_chunk(t, a->ino, a->indx, (const uint8_t *)out.ptr, out.len)))
		goto out;
	if (a->newslice->id && (r = m->ops->new_slice(t, a->newslice->id, a->newslice->size)))
		goto out;
	if (m->fmt_loaded && m->fmt.trash_days > 0) {
		/* keep the old slices for trash-days (spec §7.2 step 6) */
		for (size_t i = a->nskipped; i < a->norigin; i++) {
			uint8_t d[12];
			if (!a->origin[i].id)
				continue;
			put_be64(d, a->origin[i].id);
			put_be32(d + 8, a->origin[i].size);
			buf_add(&del, d, sizeof(d));
		}
		if (del.len)
			r = m->ops->put_delslices(t, a->newslice->id, now_us() / 1000000,
						  (const uint8_t *)del.ptr, del.len);
	} else {
		r = release_records(m, t, (const uint8_t *)raw.ptr + a->nskipped * META_SLICE_BYTES,
				    (a->norigin - a->nskipped) * META_SLICE_BYTES, &a->dead);
	}
out:
	buf_release(&raw);
	buf_release(&out);
	buf_release(&del);
	return r;
}

int meta_compact_swap(struct meta *m, uint64_t ino, uint32_t indx,
		      const struct meta_slice *origin, size_t norigin, size_t nskipped,
		      const struct meta_slice *newslice)
{
	if (nskipped > norigin)
		return -EINVAL;
	struct compact_args a = { ino, indx, origin, norigin, nskipped, newslice, { 0 } };
	int unknown;
	int r = run_txn_outcome(m, 1, do_compact, &a, &unknown);
	if (!r)
		delete_dead(m, &a.dead);
	free(a.dead.v);
	return unknown ? META_EUNKNOWN : r;
}

/* ------------------------------------------------------------ cleanup */

struct delfile_list {
	int64_t edge;
	struct dead_ino inos;
};

static int collect_delfile(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct delfile_list *l = arg;
	UNUSED(length);
	if (when <= l->edge)
		collect_sustained(&l->inos, 0, ino);
	return 0;
}

static int do_scan_delfiles(struct meta *m, struct meta_txn *t, void *arg)
{
	struct delfile_list *l = arg;
	l->inos.n = 0;
	return m->ops->scan_delfiles(t, collect_delfile, l);
}

int meta_cleanup_deleted_files(struct meta *m, int64_t older_than_s, int *count)
{
	struct delfile_list l = { now_us() / 1000000 - older_than_s, { 0 } };
	int r = run_txn(m, 0, do_scan_delfiles, &l), n = 0;
	for (size_t i = 0; !r && i < l.inos.n; i++)
		if (!delete_file_data(m, l.inos.v[i], UINT64_MAX))
			n++;
	free(l.inos.v);
	if (count)
		*count = n;
	return r;
}

struct list_dir_args {
	uint64_t ino;
	struct name_list *l;
};

static int do_list_dir(struct meta *m, struct meta_txn *t, void *arg)
{
	struct list_dir_args *a = arg;
	for (size_t i = 0; i < a->l->n; i++)
		free(a->l->v[i]);
	a->l->n = 0;
	return m->ops->scan_entries(t, a->ino, NULL, 0, 0, collect_names, a->l);
}

/* Permanently remove everything below dir (used for expired trash). */
static int remove_tree(struct meta *m, uint64_t dir, int depth)
{
	struct name_list l = { 0 };
	struct list_dir_args a = { dir, &l };
	struct meta_ctx root;
	int r;
	if (depth > 10000)
		return -ELOOP;
	meta_ctx_root(&root);
	r = run_txn(m, 0, do_list_dir, &a);
	for (size_t i = 0; !r && i < l.n; i++) {
		if (l.type[i] == META_TYPE_DIRECTORY) {
			if (!(r = remove_tree(m, l.ino[i], depth + 1)))
				r = meta_rmdir(m, &root, dir, l.v[i], 1);
		} else {
			r = meta_unlink(m, &root, dir, l.v[i], 1);
		}
		if (r == -ENOENT)
			r = 0;
	}
	free_names(&l);
	return r;
}

struct delslices_args {
	int64_t edge;
	uint64_t *ids;
	int64_t *whens;
	size_t n, alloc;
};

static int collect_delslices(void *arg, uint64_t newid, int64_t when, const uint8_t *recs,
			     size_t len)
{
	struct delslices_args *a = arg;
	UNUSED(recs);
	UNUSED(len);
	if (when > a->edge)
		return 0;
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 16;
		a->ids = xrealloc(a->ids, a->alloc * sizeof(*a->ids));
		a->whens = xrealloc(a->whens, a->alloc * sizeof(*a->whens));
	}
	a->ids[a->n] = newid;
	a->whens[a->n] = when;
	a->n++;
	return 0;
}

static int do_scan_delslices(struct meta *m, struct meta_txn *t, void *arg)
{
	struct delslices_args *a = arg;
	a->n = 0;
	return m->ops->scan_delslices(t, collect_delslices, a);
}

struct release_delslices_args {
	uint64_t newid;
	int64_t when;
	struct dead_list dead;
};

struct find_delslices {
	uint64_t newid;
	int64_t when;
	struct buf *recs;
};

static int find_delslices_cb(void *arg, uint64_t newid, int64_t when, const uint8_t *recs,
			     size_t len)
{
	struct find_delslices *f = arg;
	if (newid != f->newid || when != f->when)
		return 0;
	buf_add(f->recs, recs, len);
	return 1;
}

static int do_release_delslices(struct meta *m, struct meta_txn *t, void *arg)
{
	struct release_delslices_args *a = arg;
	struct buf recs = BUF_INIT;
	struct find_delslices f = { a->newid, a->when, &recs };
	a->dead.n = 0;
	int r = m->ops->scan_delslices(t, find_delslices_cb, &f);
	if (r == 1)
		r = 0;
	for (size_t i = 0; !r && i + 12 <= recs.len; i += 12) {
		uint64_t id = get_be64((const uint8_t *)recs.ptr + i);
		uint32_t size = get_be32((const uint8_t *)recs.ptr + i + 8);
		int64_t refs;
		if (!(r = m->ops->incr_ref(t, id, size, -1, &refs)) && refs < 1)
			dead_add(&a->dead, id, size);
	}
	if (!r)
		r = m->ops->del_delslices(t, a->newid, a->when);
	buf_release(&recs);
	return r;
}

static int parse_hour(const char *name, int64_t *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *e = strptime(name, "%Y-%m-%d-%H", &tm);
	if (!e || *e)
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}

int meta_cleanup_trash(struct meta *m, int64_t now_s, int *count)
{
	struct name_list l = { 0 };
	struct list_dir_args la = { META_TRASH_INODE, &l };
	struct meta_ctx root;
	int days = m->fmt_loaded ? m->fmt.trash_days : 0, n = 0, r;
	if (!now_s)
		now_s = now_us() / 1000000;
	meta_ctx_root(&root);
	r = run_txn(m, 0, do_list_dir, &la);
	if (r == -ENOENT || r == -ENOTDIR)
		r = 0;
	int64_t edge = now_s - ((int64_t)days * 24 + 2) * 3600;
	for (size_t i = 0; !r && i < l.n; i++) {
		int64_t ht;
		if (parse_hour(l.v[i], &ht) || (days > 0 && ht >= edge))
			continue;
		if (!(r = remove_tree(m, l.ino[i], 0)))
			r = meta_rmdir(m, &root, META_TRASH_INODE, l.v[i], 1);
		if (!r) {
			n++;
			pthread_mutex_lock(&m->mu);
			if (m->trash_hour_ino == l.ino[i])
				m->trash_hour_ino = 0;
			pthread_mutex_unlock(&m->mu);
		}
	}
	free_names(&l);
	/* delayed slices of compaction: released after trash-days */
	struct delslices_args da = { now_s - (int64_t)days * 86400, NULL, NULL, 0, 0 };
	if (!r)
		r = run_txn(m, 0, do_scan_delslices, &da);
	for (size_t i = 0; !r && i < da.n; i++) {
		struct release_delslices_args ra = { da.ids[i], da.whens[i], { 0 } };
		r = run_txn(m, 1, do_release_delslices, &ra);
		if (!r)
			delete_dead(m, &ra.dead);
		free(ra.dead.v);
	}
	free(da.ids);
	free(da.whens);
	if (count)
		*count = n;
	return r;
}

/* Open-addressing set of slice ids, for deduplicated listings. */
struct id_set {
	uint64_t *keys;
	size_t cap, n;
};

static int id_set_add(struct id_set *s, uint64_t id)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct id_set bigger = { NULL, s->cap ? s->cap * 2 : 1024, 0 };
		bigger.keys = xcalloc(bigger.cap, sizeof(uint64_t));
		for (size_t i = 0; i < s->cap; i++)
			if (s->keys[i])
				id_set_add(&bigger, s->keys[i]);
		free(s->keys);
		*s = bigger;
	}
	size_t i = (size_t)(id * 0x9E3779B97F4A7C15ULL) & (s->cap - 1);
	while (s->keys[i]) {
		if (s->keys[i] == id)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->keys[i] = id;
	s->n++;
	return 1;
}

struct list_slices_args {
	struct id_set seen;
	struct meta_slice_ref *v;
	size_t n, alloc;
};

static int collect_slices(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs, size_t len)
{
	struct list_slices_args *a = arg;
	UNUSED(ino);
	UNUSED(indx);
	for (size_t i = 0; i + META_SLICE_BYTES <= len; i += META_SLICE_BYTES) {
		struct meta_slice s;
		meta_slice_decode(recs + i, &s);
		if (!s.id || !id_set_add(&a->seen, s.id))
			continue;
		if (a->n == a->alloc) {
			a->alloc = a->alloc ? a->alloc * 2 : 256;
			a->v = xrealloc(a->v, a->alloc * sizeof(*a->v));
		}
		a->v[a->n].id = s.id;
		a->v[a->n].size = s.size;
		a->v[a->n].refs = 0;
		a->n++;
	}
	return 0;
}

static int do_list_slices(struct meta *m, struct meta_txn *t, void *arg)
{
	struct list_slices_args *a = arg;
	free(a->seen.keys);
	memset(&a->seen, 0, sizeof(a->seen));
	a->n = 0;
	return m->ops->scan_all_chunks(t, collect_slices, a);
}

int meta_list_slices(struct meta *m, meta_slice_ref_fn cb, void *arg)
{
	struct list_slices_args a;
	memset(&a, 0, sizeof(a));
	int r = run_txn(m, 0, do_list_slices, &a);
	for (size_t i = 0; !r && i < a.n; i++)
		r = cb(arg, &a.v[i]);
	free(a.seen.keys);
	free(a.v);
	return r;
}

/* A growable array of slice references, filled inside a transaction and
 * handed to the caller's callback after it, so callbacks never run inside one. */
struct ref_vec {
	struct meta_slice_ref *v;
	size_t n, alloc;
};

static void ref_vec_add(struct ref_vec *a, uint64_t id, uint32_t size, int64_t refs)
{
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 64;
		a->v = xrealloc(a->v, a->alloc * sizeof(*a->v));
	}
	a->v[a->n].id = id;
	a->v[a->n].size = size;
	a->v[a->n].refs = refs;
	a->n++;
}

static int collect_dead_ref(void *arg, const struct meta_slice_ref *r)
{
	ref_vec_add(arg, r->id, r->size, r->refs);
	return 0;
}

static int do_list_dead(struct meta *m, struct meta_txn *t, void *arg)
{
	struct ref_vec *a = arg;
	a->n = 0;
	return m->ops->scan_dead_refs(t, collect_dead_ref, a);
}

static int run_ref_vec(struct meta *m, txn_fn fn, meta_slice_ref_fn cb, void *arg)
{
	struct ref_vec a = { NULL, 0, 0 };
	int r = run_txn(m, 0, fn, &a);
	for (size_t i = 0; !r && i < a.n; i++)
		r = cb(arg, &a.v[i]);
	free(a.v);
	return r;
}

int meta_list_dead_slices(struct meta *m, meta_slice_ref_fn cb, void *arg)
{
	return run_ref_vec(m, do_list_dead, cb, arg);
}

static int collect_delayed(void *arg, uint64_t newid, int64_t when, const uint8_t *recs,
			   size_t len)
{
	UNUSED(newid);
	UNUSED(when);
	/* delayed records are 12 bytes: id (8) + size (4), big-endian */
	for (size_t i = 0; i + 12 <= len; i += 12)
		ref_vec_add(arg, get_be64(recs + i), get_be32(recs + i + 8), 0);
	return 0;
}

static int do_list_delayed(struct meta *m, struct meta_txn *t, void *arg)
{
	struct ref_vec *a = arg;
	a->n = 0;
	return m->ops->scan_delslices(t, collect_delayed, a);
}

int meta_list_delayed_slices(struct meta *m, meta_slice_ref_fn cb, void *arg)
{
	return run_ref_vec(m, do_list_delayed, cb, arg);
}

int meta_cleanup_slices(struct meta *m, int *count)
{
	struct ref_vec a = { NULL, 0, 0 };
	struct dead_list d = { 0 };
	int r = run_txn(m, 0, do_list_dead, &a);
	size_t before;
	for (size_t i = 0; !r && i < a.n; i++)
		dead_add(&d, a.v[i].id, a.v[i].size);
	before = d.n;
	delete_dead(m, &d);
	if (count) {
		/* what is still dead now was not deleted (deleter failed or disabled) */
		struct ref_vec left = { NULL, 0, 0 };
		int n = (int)before;
		if (!r && !run_txn(m, 0, do_list_dead, &left))
			n -= (int)MIN(left.n, before);
		free(left.v);
		*count = r ? 0 : n;
	}
	free(d.v);
	free(a.v);
	return r;
}

struct delfile_vec {
	uint64_t *ino, *len;
	int64_t *when;
	size_t n, alloc;
};

static int collect_delfile_info(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct delfile_vec *a = arg;
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 32;
		a->ino = xrealloc(a->ino, a->alloc * sizeof(*a->ino));
		a->len = xrealloc(a->len, a->alloc * sizeof(*a->len));
		a->when = xrealloc(a->when, a->alloc * sizeof(*a->when));
	}
	a->ino[a->n] = ino;
	a->len[a->n] = length;
	a->when[a->n] = when;
	a->n++;
	return 0;
}

static int do_list_delfiles(struct meta *m, struct meta_txn *t, void *arg)
{
	struct delfile_vec *a = arg;
	a->n = 0;
	return m->ops->scan_delfiles(t, collect_delfile_info, a);
}

int meta_list_deleted_files(struct meta *m, meta_delfile_info_fn cb, void *arg)
{
	struct delfile_vec a;
	memset(&a, 0, sizeof(a));
	int r = run_txn(m, 0, do_list_delfiles, &a);
	for (size_t i = 0; !r && i < a.n; i++)
		r = cb(arg, a.ino[i], a.len[i], a.when[i]);
	free(a.ino);
	free(a.len);
	free(a.when);
	return r;
}

struct chunk_vec {
	uint64_t *ino;
	uint32_t *indx;
	size_t *first, *count; /* into recs */
	struct meta_slice *recs;
	size_t n, alloc, nrecs, recs_alloc;
};

static int collect_chunk_recs(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs,
			      size_t len)
{
	struct chunk_vec *a = arg;
	size_t k = len / META_SLICE_BYTES;
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 64;
		a->ino = xrealloc(a->ino, a->alloc * sizeof(*a->ino));
		a->indx = xrealloc(a->indx, a->alloc * sizeof(*a->indx));
		a->first = xrealloc(a->first, a->alloc * sizeof(*a->first));
		a->count = xrealloc(a->count, a->alloc * sizeof(*a->count));
	}
	while (a->nrecs + k > a->recs_alloc) {
		a->recs_alloc = a->recs_alloc ? a->recs_alloc * 2 : 256;
		a->recs = xrealloc(a->recs, a->recs_alloc * sizeof(*a->recs));
	}
	a->ino[a->n] = ino;
	a->indx[a->n] = indx;
	a->first[a->n] = a->nrecs;
	a->count[a->n] = k;
	for (size_t i = 0; i < k; i++)
		meta_slice_decode(recs + i * META_SLICE_BYTES, &a->recs[a->nrecs++]);
	a->n++;
	return 0;
}

static int do_scan_all_chunks(struct meta *m, struct meta_txn *t, void *arg)
{
	struct chunk_vec *a = arg;
	a->n = 0;
	a->nrecs = 0;
	return m->ops->scan_all_chunks(t, collect_chunk_recs, a);
}

int meta_scan_all_chunks(struct meta *m, meta_chunk_records_fn cb, void *arg)
{
	struct chunk_vec a;
	memset(&a, 0, sizeof(a));
	int r = run_txn(m, 0, do_scan_all_chunks, &a);
	for (size_t i = 0; !r && i < a.n; i++)
		r = cb(arg, a.ino[i], a.indx[i], a.recs + a.first[i], a.count[i]);
	free(a.ino);
	free(a.indx);
	free(a.first);
	free(a.count);
	free(a.recs);
	return r;
}

/* ------------------------------------------------------------ locks */

struct flock_args {
	uint64_t ino, sid, owner;
	int type;
};

struct flock_scan {
	struct flock_args *a;
	int conflict;
};

static int flock_cb(void *arg, uint64_t sid, uint64_t owner, char ltype)
{
	struct flock_scan *s = arg;
	if (sid == s->a->sid && owner == s->a->owner)
		return 0;
	if (s->a->type == META_LOCK_WRITE || ltype == 'W')
		s->conflict = 1;
	return 0;
}

static int do_flock(struct meta *m, struct meta_txn *t, void *arg)
{
	struct flock_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (a->type == META_LOCK_UNLOCK)
		return m->ops->put_flock(t, a->ino, a->sid, a->owner, 0);
	struct flock_scan s = { a, 0 };
	if ((r = m->ops->scan_flocks(t, a->ino, flock_cb, &s)))
		return r;
	if (s.conflict)
		return -ELOCKED;
	return m->ops->put_flock(t, a->ino, a->sid, a->owner,
				 a->type == META_LOCK_WRITE ? 'W' : 'R');
}

int meta_flock(struct meta *m, uint64_t ino, uint64_t owner, int type, int block)
{
	struct flock_args a = { fix_ino(ino), m->sid, owner, type };
	if (type != META_LOCK_UNLOCK && type != META_LOCK_READ && type != META_LOCK_WRITE)
		return -EINVAL;
	for (;;) {
		int r = run_txn(m, 1, do_flock, &a);
		if (r != -ELOCKED)
			return r;
		if (!block)
			return -EAGAIN;
		sleep_ms(type == META_LOCK_WRITE ? 1 : 10);
	}
}

/*
 * A lock held by someone else. run_txn treats -EAGAIN as a transaction
 * conflict and retries, so lock conflicts travel under a private code and
 * become -EAGAIN at the API edge.
 */

/* plock records use Linux F_RDLCK (0) / F_WRLCK (1) for cross-client compatibility. */
#define PLOCK_BYTES 24
#define PLOCK_EOF 0x7FFFFFFFFFFFFFFFULL

static void plock_encode(const struct meta_plock *l, uint8_t out[PLOCK_BYTES])
{
	put_be32(out, l->type == META_LOCK_WRITE ? 1 : 0);
	put_be32(out + 4, l->pid);
	put_be64(out + 8, l->start);
	put_be64(out + 16, l->end);
}

static void plock_decode(const uint8_t in[PLOCK_BYTES], struct meta_plock *l)
{
	uint32_t ty = get_be32(in);
	l->type = ty == 1 ? META_LOCK_WRITE : ty == 0 ? META_LOCK_READ : META_LOCK_UNLOCK;
	l->pid = get_be32(in + 4);
	l->start = get_be64(in + 8);
	l->end = get_be64(in + 16);
}

struct plock_args {
	uint64_t ino, sid, owner;
	struct meta_plock lk;
	int get;
	struct meta_plock *own;
	size_t nown;
	int conflict;
	struct meta_plock found;
};

static int plock_cb(void *arg, uint64_t sid, uint64_t owner, const uint8_t *recs, size_t len)
{
	struct plock_args *a = arg;
	int mine = sid == a->sid && owner == a->owner;
	for (size_t i = 0; i + PLOCK_BYTES <= len; i += PLOCK_BYTES) {
		struct meta_plock l;
		plock_decode(recs + i, &l);
		if (mine) {
			a->own = xrealloc(a->own, (a->nown + 1) * sizeof(*a->own));
			a->own[a->nown++] = l;
			continue;
		}
		if (a->lk.type == META_LOCK_UNLOCK || a->conflict)
			continue;
		if (l.end < a->lk.start || l.start > a->lk.end)
			continue;
		if (a->lk.type == META_LOCK_WRITE || l.type == META_LOCK_WRITE) {
			a->conflict = 1;
			a->found = l;
		}
	}
	return 0;
}

static int plock_cmp(const void *x, const void *y)
{
	const struct meta_plock *a = x, *b = y;
	return a->start < b->start ? -1 : a->start > b->start;
}

/* Replace the owner's records on [lk.start, lk.end] with lk, then merge neighbours. */
static size_t plock_update(struct meta_plock **own, size_t n, const struct meta_plock *lk)
{
	struct meta_plock *out = xmalloc((2 * n + 2) * sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct meta_plock l = (*own)[i];
		if (l.end < lk->start || l.start > lk->end) {
			out[k++] = l;
			continue;
		}
		if (l.start < lk->start) {
			struct meta_plock left = l;
			left.end = lk->start - 1;
			out[k++] = left;
		}
		if (l.end > lk->end) {
			struct meta_plock right = l;
			right.start = lk->end + 1;
			out[k++] = right;
		}
	}
	if (lk->type != META_LOCK_UNLOCK)
		out[k++] = *lk;
	qsort(out, k, sizeof(*out), plock_cmp);
	size_t w = 0;
	for (size_t i = 0; i < k; i++) {
		if (w && out[w - 1].type == out[i].type && out[w - 1].pid == out[i].pid &&
		    out[w - 1].end != PLOCK_EOF && out[w - 1].end + 1 >= out[i].start) {
			if (out[i].end > out[w - 1].end)
				out[w - 1].end = out[i].end;
			continue;
		}
		out[w++] = out[i];
	}
	free(*own);
	*own = out;
	return w;
}

static int do_plock(struct meta *m, struct meta_txn *t, void *arg)
{
	struct plock_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	free(a->own);
	a->own = NULL;
	a->nown = 0;
	a->conflict = 0;
	if ((r = m->ops->scan_plocks(t, a->ino, plock_cb, a)))
		return r;
	if (a->get)
		return 0;
	if (a->conflict)
		return -ELOCKED;
	a->nown = plock_update(&a->own, a->nown, &a->lk);
	uint8_t *recs = xmalloc(a->nown * PLOCK_BYTES + 1);
	for (size_t i = 0; i < a->nown; i++)
		plock_encode(&a->own[i], recs + i * PLOCK_BYTES);
	r = m->ops->put_plock(t, a->ino, a->sid, a->owner, recs, a->nown * PLOCK_BYTES);
	free(recs);
	return r;
}

int meta_getlk(struct meta *m, uint64_t ino, uint64_t owner, struct meta_plock *lk)
{
	struct plock_args a;
	memset(&a, 0, sizeof(a));
	a.ino = fix_ino(ino);
	a.sid = m->sid;
	a.owner = owner;
	a.lk = *lk;
	a.get = 1;
	if (lk->type == META_LOCK_UNLOCK)
		return 0;
	int r = run_txn(m, 0, do_plock, &a);
	free(a.own);
	if (r)
		return r;
	if (a.conflict)
		*lk = a.found;
	else
		lk->type = META_LOCK_UNLOCK;
	return 0;
}

int meta_setlk(struct meta *m, uint64_t ino, uint64_t owner, int block,
	       const struct meta_plock *lk)
{
	struct plock_args a;
	if (lk->start > lk->end)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.ino = fix_ino(ino);
	a.sid = m->sid;
	a.owner = owner;
	a.lk = *lk;
	for (;;) {
		int r = run_txn(m, 1, do_plock, &a);
		free(a.own);
		a.own = NULL;
		if (r != -ELOCKED)
			return r;
		if (!block)
			return -EAGAIN;
		sleep_ms(10);
	}
}

/* ------------------------------------------------------ quota commands */

struct quota_args {
	uint64_t ino;
	int64_t max_space, max_inodes;
	int strict, created;
	struct meta_quota q;
	int64_t space, inodes;
};

static int do_quota_set(struct meta *m, struct meta_txn *t, void *arg)
{
	struct quota_args *a = arg;
	struct meta_attr at;
	struct meta_quota q;
	int r;
	if ((r = m->ops->get_attr(t, a->ino, &at)))
		return r;
	if (at.type != META_TYPE_DIRECTORY)
		return -ENOTDIR;
	r = m->ops->get_quota(t, a->ino, &q);
	a->created = r == -ENOENT;
	if (r && !a->created)
		return r;
	if (a->created) {
		/*
		 * Counted in the same transaction that creates the record, so
		 * no change between the walk and the record is lost.
		 * NEEDSWORK: on a huge tree this holds the write transaction
		 * for the whole walk (SQLite writers wait, Redis retries on any
		 * change below); JuiceFS walks outside and accepts the race.
		 */
		int64_t space = 0, inodes = 0;
		if ((r = txn_dir_usage(m, t, a->ino, a->strict, &space, &inodes, 0)))
			return r;
		q.max_space = q.max_inodes = -1;
		q.used_space = space;
		q.used_inodes = inodes;
	}
	if (a->max_space >= 0)
		q.max_space = a->max_space;
	if (a->max_inodes >= 0)
		q.max_inodes = a->max_inodes;
	a->q = q;
	return m->ops->put_quota(t, a->ino, &q);
}

int meta_quota_set(struct meta *m, uint64_t ino, int64_t max_space, int64_t max_inodes,
		   int strict, int *created)
{
	struct quota_args a = { fix_ino(ino), max_space, max_inodes, strict, 0, { 0 }, 0, 0 };
	int r;
	if (meta_is_trash(a.ino))
		return -EPERM;
	if (m->fmt_loaded && !m->fmt.dir_stats) {
		/* quotas are counted with the dir stats, as JuiceFS turns them on */
		m->fmt.dir_stats = 1;
		if ((r = meta_save_format(m, &m->fmt)))
			return r;
	}
	r = run_txn(m, 1, do_quota_set, &a);
	if (!r && created)
		*created = a.created;
	quota_load(m, 1);
	return r;
}

static int do_quota_get(struct meta *m, struct meta_txn *t, void *arg)
{
	struct quota_args *a = arg;
	return m->ops->get_quota(t, a->ino, &a->q);
}

int meta_quota_get(struct meta *m, uint64_t ino, struct meta_quota *q)
{
	struct quota_args a = { fix_ino(ino), 0, 0, 0, 0, { 0 }, 0, 0 };
	int r = run_txn(m, 0, do_quota_get, &a);
	if (!r)
		*q = a.q;
	return r;
}

static int do_quota_del(struct meta *m, struct meta_txn *t, void *arg)
{
	struct quota_args *a = arg;
	return m->ops->del_quota(t, a->ino);
}

int meta_quota_del(struct meta *m, uint64_t ino)
{
	struct quota_args a = { fix_ino(ino), 0, 0, 0, 0, { 0 }, 0, 0 };
	int r = run_txn(m, 1, do_quota_del, &a);
	quota_load(m, 1);
	return r;
}

struct quota_vec {
	uint64_t *ino;
	struct meta_quota *q;
	size_t n, a;
};

static int collect_quota(void *arg, uint64_t ino, const struct meta_quota *q)
{
	struct quota_vec *v = arg;
	if (v->n == v->a) {
		v->a = v->a ? 2 * v->a : 16;
		v->ino = xrealloc(v->ino, v->a * sizeof(*v->ino));
		v->q = xrealloc(v->q, v->a * sizeof(*v->q));
	}
	v->ino[v->n] = ino;
	v->q[v->n++] = *q;
	return 0;
}

static int do_quota_list(struct meta *m, struct meta_txn *t, void *arg)
{
	((struct quota_vec *)arg)->n = 0;
	return m->ops->scan_quotas(t, collect_quota, arg);
}

int meta_quota_list(struct meta *m, meta_quota_fn cb, void *arg)
{
	struct quota_vec v = { 0 };
	int r = run_txn(m, 0, do_quota_list, &v);
	for (size_t i = 0; i < v.n && !r; i++)
		r = cb(arg, v.ino[i], &v.q[i]);
	free(v.ino);
	free(v.q);
	return r;
}

static int do_dir_usage(struct meta *m, struct meta_txn *t, void *arg)
{
	struct quota_args *a = arg;
	a->space = a->inodes = 0;
	return txn_dir_usage(m, t, a->ino, a->strict, &a->space, &a->inodes, 0);
}

int meta_dir_usage(struct meta *m, uint64_t ino, int strict, int64_t *space, int64_t *inodes)
{
	struct quota_args a = { fix_ino(ino), 0, 0, strict, 0, { 0 }, 0, 0 };
	int r = run_txn(m, 0, do_dir_usage, &a);
	if (!r) {
		*space = a.space;
		*inodes = a.inodes;
	}
	return r;
}

static int do_quota_set_usage(struct meta *m, struct meta_txn *t, void *arg)
{
	struct quota_args *a = arg;
	struct meta_quota q;
	int r = m->ops->get_quota(t, a->ino, &q);
	if (r)
		return r;
	q.used_space = a->space;
	q.used_inodes = a->inodes;
	return m->ops->put_quota(t, a->ino, &q);
}

int meta_quota_set_usage(struct meta *m, uint64_t ino, int64_t space, int64_t inodes)
{
	struct quota_args a = { fix_ino(ino), 0, 0, 0, 0, { 0 }, space, inodes };
	return run_txn(m, 1, do_quota_set_usage, &a);
}

static int do_quota_precheck(struct meta *m, struct meta_txn *t, void *arg)
{
	struct quota_args *a = arg;
	struct meta_attr at;
	int r = m->ops->get_attr(t, a->ino, &at);
	if (r)
		return r;
	if (at.type == META_TYPE_DIRECTORY)
		return quota_walk(m, t, a->ino, a->space, a->inodes, QUOTA_CHECK);
	if (!a->inodes)
		return quota_file(m, t, a->ino, &at, a->space, QUOTA_CHECK);
	return quota_walk(m, t, at.parent, a->space, a->inodes, QUOTA_CHECK);
}

int meta_quota_precheck(struct meta *m, uint64_t ino, int64_t space, int64_t inodes)
{
	struct quota_args a = { fix_ino(ino), 0, 0, 0, 0, { 0 }, space, inodes };
	quota_load(m, 0);
	if ((space <= 0 && inodes <= 0) || !quota_any(m))
		return 0;
	return run_txn(m, 0, do_quota_precheck, &a);
}

struct room_args {
	uint64_t ino;
	int64_t room;
	uint64_t length;
};

/* The smallest space left in the quotas above one directory (room -1: none). */
static int chain_room(struct meta *m, struct meta_txn *t, uint64_t dir, int64_t *room)
{
	for (int depth = 0; depth < 100000 && dir && !meta_is_trash(dir); depth++) {
		struct meta_attr a;
		struct meta_quota q;
		int r;
		if (quota_has(m, dir)) {
			r = m->ops->get_quota(t, dir, &q);
			if (r && r != -ENOENT)
				return r;
			if (!r && q.max_space > 0) {
				int64_t left = q.max_space - q.used_space;
				if (left < 0)
					left = 0;
				if (*room < 0 || left < *room)
					*room = left;
			}
		}
		if (dir == META_ROOT_INODE)
			break;
		r = m->ops->get_attr(t, dir, &a);
		if (r == -ENOENT)
			break;
		if (r)
			return r;
		dir = a.parent;
	}
	return 0;
}

static int do_quota_room(struct meta *m, struct meta_txn *t, void *arg)
{
	struct room_args *a = arg;
	struct meta_attr at;
	struct ino_vec l = { 0 };
	int r = m->ops->get_attr(t, a->ino, &at);
	a->room = -1;
	if (r)
		return r;
	a->length = at.length;
	if (at.parent)
		return chain_room(m, t, at.parent, &a->room);
	if ((r = m->ops->list_parents(t, a->ino, add_u64, &l)))
		goto out;
	for (size_t i = 0; i < l.n && !r; i++)
		r = chain_room(m, t, l.v[i], &a->room);
out:
	free(l.v);
	return r;
}

int meta_quota_room(struct meta *m, uint64_t ino, int64_t *room, uint64_t *length)
{
	struct room_args a = { fix_ino(ino), -1, 0 };
	int r;
	quota_load(m, 0);
	*room = -1;
	*length = 0;
	if (!quota_any(m))
		return 0;
	r = run_txn(m, 0, do_quota_room, &a);
	if (!r) {
		*room = a.room;
		*length = a.length;
	}
	return r;
}
