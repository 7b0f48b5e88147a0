/*
 * mem: the in-process metadata engine behind `mem://` URLs and the tests.
 *
 * The volume lives in one ordered byte-string map (a skip list), with keys laid
 * out in the spirit of the TKV schema (spec §4A), so this engine exercises the
 * primitive table the way a key-value engine would, independently of SQLite:
 *
 *   setting                        Format JSON
 *   C<name>                        counter, int64 BE
 *   A<ino>I                        attribute (spec §3.2 encoding)
 *   A<ino>D<name>                  entry: type u8 + inode u64 BE (spec §3.3)
 *   A<ino>P<parent>                hard-link count from that parent, int64 BE
 *   A<ino>C<indx u32>              concatenated 24-byte slice records
 *   A<ino>S                        symlink target
 *   A<ino>X<name>                  xattr value
 *   D<ino>                         delfile: length u64 + when i64
 *   F<ino><sid><owner>             flock type byte 'R'/'W'
 *   P<ino><sid><owner>             plock records
 *   K<id><size u32>                slice refcount (true count), int64 BE
 *   L<when><newid>                 delayed-slice records
 *   SE<sid> / SI<sid>              session expiry (int64 BE) / SessionInfo
 *   SS<sid><ino>                   sustained inode, 0x01
 *   U<ino>                         dir stat: length, space, inodes (3 x int64 BE)
 *   R<id u32>                      ACL rule (spec §10.6 encoding)
 *
 * Unlike TKV, inode numbers in keys are big-endian so that byte order is
 * numeric order (scans come out sorted); nothing ever leaves the process, so
 * no other client depends on the byte layout. Delfiles are keyed by inode
 * alone because the SQL schema makes the inode their primary key.
 *
 * Concurrency invariants:
 *  1. A store has one writer or any number of readers (a writer-preferring
 *     rwlock built on a mutex and a condition variable). A write transaction
 *     holds the write side from begin to commit/abort, so transactions are
 *     serialisable, never conflict, and commit never returns -EAGAIN.
 *  2. Writes go straight into the map; every change first records the key's
 *     previous state in the transaction's undo log, and abort replays the log
 *     backwards, so abort restores every key exactly (values, deletions and
 *     therefore scans).
 *  3. A replaced or deleted value/key buffer moves into the undo log rather
 *     than being freed, so pointers handed to scan callbacks stay valid for the
 *     whole transaction even if the callback modifies the map. Scans re-seek
 *     after the last key they returned whenever the map changed shape.
 *  4. Each thread records which stores it holds (thread-local). A second
 *     begin on a store the thread already holds for writing, or a write begin
 *     over its own read, fails with -EDEADLK instead of hanging; nested reads
 *     are allowed. alloc_ids from inside the thread's own write transaction
 *     applies directly and survives that transaction's abort (ids are never
 *     handed out twice).
 *
 * Shared instances: `mem://NAME` opens (or creates) the store registered under
 * NAME in this process, reference counted and freed on the last close, so one
 * volume can be opened twice like two clients. `mem://` is always private.
 */
#include <pthread.h>

#include "meta/meta-internal.h"

#define MEM_MAX_LEVEL 24
#define MEM_KEY_MAX 1024  /* longest key; names beyond it get -ENAMETOOLONG */
#define MEM_MAX_HOLDS 16  /* stores one thread may hold at once */
#define MEM_NAME_MAX 255

struct mem_node {
	uint8_t *key; /* klen bytes + NUL */
	size_t klen;
	uint8_t *val; /* vlen bytes + NUL */
	size_t vlen;
	int level;
	struct mem_node *next[];
};

struct mem_undo {
	uint8_t *key;
	size_t klen;
	uint8_t *val; /* previous value (owned) when had */
	size_t vlen;
	int had;
};

struct mem_store {
	char *name; /* NULL for a private store */
	int refs;   /* guarded by mem_reg_mu */
	struct mem_store *next_store;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int readers, writer, wwait;
	struct meta_txn *wtxn; /* the write transaction holding the store */

	/* The map: guarded by the rwlock above. */
	struct mem_node *head;
	int level;
	uint64_t rng;
	uint64_t gen; /* bumped on every insertion or removal of a node */
	size_t nkeys;
};

struct mem_meta {
	struct meta base;
	struct mem_store *st;
};

struct meta_txn {
	struct mem_store *st;
	int write;
	struct mem_undo *undo;
	size_t nundo, aundo;
};

struct mem_hold {
	struct mem_store *st;
	int reads;
	int write;
};

static __thread struct mem_hold mem_holds[MEM_MAX_HOLDS];

static pthread_mutex_t mem_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mem_store *mem_reg;

static const struct meta_engine_ops mem_ops;

static struct mem_meta *mem_of(struct meta *m)
{
	BUG_ON(!m || m->ops != &mem_ops);
	return (struct mem_meta *)m;
}

/* ---------------- keys ---------------- */

struct mem_key {
	size_t n;
	int ovf;
	uint8_t b[MEM_KEY_MAX + 1]; /* +1: room for the seek-after NUL */
};

static void k_bytes(struct mem_key *k, const void *p, size_t n)
{
	if (k->ovf || n > MEM_KEY_MAX - k->n) {
		k->ovf = 1;
		return;
	}
	if (n)
		memcpy(k->b + k->n, p, n);
	k->n += n;
}

static void k_tag(struct mem_key *k, const char *tag)
{
	k->n = 0;
	k->ovf = 0;
	k_bytes(k, tag, strlen(tag));
}

static void k_u64(struct mem_key *k, uint64_t v)
{
	uint8_t b[8];
	put_be64(b, v);
	k_bytes(k, b, 8);
}

static void k_u32(struct mem_key *k, uint32_t v)
{
	uint8_t b[4];
	put_be32(b, v);
	k_bytes(k, b, 4);
}

static void k_ch(struct mem_key *k, char c) { k_bytes(k, &c, 1); }

/* "A" ino tag: the prefix of every per-inode record of one kind. */
static void k_inode(struct mem_key *k, uint64_t ino, char tag)
{
	k_tag(k, "A");
	k_u64(k, ino);
	k_ch(k, tag);
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = MIN(an, bn);
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* ---------------- the skip list ---------------- */

static struct mem_node *node_new(int level)
{
	struct mem_node *n = xcalloc(1, sizeof(*n) + (size_t)level * sizeof(n->next[0]));
	n->level = level;
	return n;
}

static int random_level(struct mem_store *st)
{
	/* xorshift64: the map is only reshaped under the write lock */
	uint64_t x = st->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rng = x;
	int lvl = 1;
	while (lvl < MEM_MAX_LEVEL && (x & 3) == 0) {
		lvl++;
		x >>= 2;
	}
	return lvl;
}

static struct mem_node *find_ge(struct mem_store *st, const uint8_t *k, size_t kn,
				struct mem_node **update)
{
	struct mem_node *x = st->head;
	for (int i = st->level - 1; i >= 0; i--) {
		while (x->next[i] && key_cmp(x->next[i]->key, x->next[i]->klen, k, kn) < 0)
			x = x->next[i];
		if (update)
			update[i] = x;
	}
	return x->next[0];
}

static struct mem_node *map_get(struct mem_store *st, const struct mem_key *k)
{
	struct mem_node *n = find_ge(st, k->b, k->n, NULL);
	if (n && !key_cmp(n->key, n->klen, k->b, k->n))
		return n;
	return NULL;
}

/*
 * Store val (ownership passes to the map). Returns 1 and the previous value
 * in *old when the key existed, else 0.
 */
static int map_put(struct mem_store *st, const uint8_t *k, size_t kn, uint8_t *val, size_t vlen,
		   uint8_t **old, size_t *oldlen)
{
	struct mem_node *update[MEM_MAX_LEVEL];
	struct mem_node *n = find_ge(st, k, kn, update);

	if (n && !key_cmp(n->key, n->klen, k, kn)) {
		*old = n->val;
		*oldlen = n->vlen;
		n->val = val;
		n->vlen = vlen;
		return 1;
	}
	int lvl = random_level(st);
	if (lvl > st->level) {
		for (int i = st->level; i < lvl; i++)
			update[i] = st->head;
		st->level = lvl;
	}
	n = node_new(lvl);
	n->key = xmemdup(k, kn);
	n->klen = kn;
	n->val = val;
	n->vlen = vlen;
	for (int i = 0; i < lvl; i++) {
		n->next[i] = update[i]->next[i];
		update[i]->next[i] = n;
	}
	st->gen++;
	st->nkeys++;
	return 0;
}

/* Unlink key; its key and value buffers pass to the caller. 0 if absent. */
static int map_del(struct mem_store *st, const uint8_t *k, size_t kn, uint8_t **key,
		   uint8_t **val, size_t *vlen)
{
	struct mem_node *update[MEM_MAX_LEVEL];
	struct mem_node *n = find_ge(st, k, kn, update);

	if (!n || key_cmp(n->key, n->klen, k, kn))
		return 0;
	for (int i = 0; i < n->level; i++)
		update[i]->next[i] = n->next[i];
	while (st->level > 1 && !st->head->next[st->level - 1])
		st->level--;
	*key = n->key;
	*val = n->val;
	*vlen = n->vlen;
	free(n);
	st->gen++;
	st->nkeys--;
	return 1;
}

static void map_clear(struct mem_store *st)
{
	struct mem_node *n = st->head->next[0];
	while (n) {
		struct mem_node *nx = n->next[0];
		free(n->key);
		free(n->val);
		free(n);
		n = nx;
	}
	for (int i = 0; i < MEM_MAX_LEVEL; i++)
		st->head->next[i] = NULL;
	st->level = 1;
	st->gen++;
	st->nkeys = 0;
}

/* ---------------- iteration ---------------- */

/*
 * Walks the keys that start with a prefix. The current key is copied before
 * the caller runs a callback, so if the callback changed the map's shape the
 * walk resumes at the first key after it (invariant 3).
 */
struct mem_iter {
	struct mem_store *st;
	struct mem_node *node;
	uint64_t gen;
	const uint8_t *prefix;
	size_t plen;
	struct mem_key cur;
};

static struct mem_node *it_check(struct mem_iter *it)
{
	struct mem_node *n = it->node;
	if (!n || n->klen < it->plen || memcmp(n->key, it->prefix, it->plen)) {
		it->node = NULL;
		return NULL;
	}
	BUG_ON(n->klen > MEM_KEY_MAX);
	memcpy(it->cur.b, n->key, n->klen);
	it->cur.n = n->klen;
	it->gen = it->st->gen;
	return n;
}

/* First key >= start (start must begin with prefix; NULL = the prefix). */
static struct mem_node *it_first(struct mem_iter *it, struct mem_store *st,
				 const struct mem_key *prefix, const struct mem_key *start)
{
	it->st = st;
	it->prefix = prefix->b;
	it->plen = prefix->n;
	if (!start)
		start = prefix;
	it->node = find_ge(st, start->b, start->n, NULL);
	return it_check(it);
}

static struct mem_node *it_next(struct mem_iter *it)
{
	if (!it->node)
		return NULL;
	if (it->st->gen == it->gen) {
		it->node = it->node->next[0];
	} else {
		/* the smallest key strictly after cur is cur + NUL */
		it->cur.b[it->cur.n] = 0;
		it->node = find_ge(it->st, it->cur.b, it->cur.n + 1, NULL);
	}
	return it_check(it);
}

/* ---------------- locking ---------------- */

static struct mem_hold *hold_find(const struct mem_store *st)
{
	for (int i = 0; i < MEM_MAX_HOLDS; i++)
		if (mem_holds[i].st == st)
			return &mem_holds[i];
	return NULL;
}

/*
 * Take the store for reading or writing (invariant 4). Nested reads by the
 * same thread skip the writer queue: waiting behind a writer that waits for
 * our own first read would never end.
 */
static int lock_take(struct mem_store *st, int write)
{
	struct mem_hold *h = hold_find(st);

	if (h && (h->write || write)) {
		log_error("mem engine: nested %s transaction on a store this thread already holds",
			  write ? "write" : "read");
		return -EDEADLK;
	}
	if (h) {
		pthread_mutex_lock(&st->mu);
		st->readers++;
		pthread_mutex_unlock(&st->mu);
		h->reads++;
		return 0;
	}
	h = hold_find(NULL);
	if (!h) {
		log_error("mem engine: a thread holds more than %d stores", MEM_MAX_HOLDS);
		return -EBUSY;
	}
	pthread_mutex_lock(&st->mu);
	if (write) {
		st->wwait++;
		while (st->writer || st->readers)
			pthread_cond_wait(&st->cv, &st->mu);
		st->wwait--;
		st->writer = 1;
	} else {
		while (st->writer || st->wwait)
			pthread_cond_wait(&st->cv, &st->mu);
		st->readers++;
	}
	pthread_mutex_unlock(&st->mu);
	h->st = st;
	h->write = write;
	h->reads = !write;
	return 0;
}

static void lock_drop(struct mem_store *st, int write)
{
	struct mem_hold *h = hold_find(st);

	BUG_ON(!h || (write && !h->write) || (!write && h->reads < 1));
	pthread_mutex_lock(&st->mu);
	if (write)
		st->writer = 0;
	else
		st->readers--;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	if (write)
		h->write = 0;
	else
		h->reads--;
	if (!h->write && !h->reads)
		h->st = NULL;
}

/* ---------------- values and undo ---------------- */

static int mem_need_write(const struct meta_txn *t, const char *fn)
{
	if (t->write)
		return 0;
	log_error("mem engine: %s called in a read-only transaction", fn);
	return -EBADF;
}

#define NEED_WRITE(t)                                          \
	do {                                                   \
		int need_rc_ = mem_need_write((t), __func__);  \
		if (need_rc_)                                  \
			return need_rc_;                       \
	} while (0)

static void undo_push(struct meta_txn *t, uint8_t *key, size_t klen, uint8_t *val, size_t vlen,
		      int had)
{
	if (t->nundo == t->aundo) {
		t->aundo = t->aundo ? t->aundo * 2 : 32;
		t->undo = xrealloc(t->undo, t->aundo * sizeof(*t->undo));
	}
	struct mem_undo *u = &t->undo[t->nundo++];
	u->key = key;
	u->klen = klen;
	u->val = val;
	u->vlen = vlen;
	u->had = had;
}

static void kv_set(struct meta_txn *t, const struct mem_key *k, const void *v, size_t vlen)
{
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int had = map_put(t->st, k->b, k->n, xmemdup(v, vlen), vlen, &old, &oldlen);
	undo_push(t, xmemdup(k->b, k->n), k->n, old, oldlen, had);
}

/* 1 if the key existed, 0 if not. */
static int kv_del(struct meta_txn *t, const uint8_t *k, size_t kn)
{
	uint8_t *key, *val;
	size_t vlen;
	if (!map_del(t->st, k, kn, &key, &val, &vlen))
		return 0;
	undo_push(t, key, kn, val, vlen, 1);
	return 1;
}

static void undo_free(struct meta_txn *t)
{
	for (size_t i = 0; i < t->nundo; i++) {
		free(t->undo[i].key);
		free(t->undo[i].val);
	}
	free(t->undo);
	t->undo = NULL;
	t->nundo = t->aundo = 0;
}

static void undo_replay(struct meta_txn *t)
{
	for (size_t i = t->nundo; i-- > 0;) {
		struct mem_undo *u = &t->undo[i];
		uint8_t *key, *val;
		size_t vlen;
		if (u->had) {
			if (map_put(t->st, u->key, u->klen, u->val, u->vlen, &val, &vlen))
				free(val);
			u->val = NULL;
		} else if (map_del(t->st, u->key, u->klen, &key, &val, &vlen)) {
			free(key);
			free(val);
		}
	}
	undo_free(t);
}

/* Delete every key under a prefix. */
static void kv_del_prefix(struct meta_txn *t, const struct mem_key *prefix)
{
	struct mem_iter it;
	for (struct mem_node *n = it_first(&it, t->st, prefix, NULL); n; n = it_next(&it))
		kv_del(t, n->key, n->klen);
}

static int64_t get_i64(const struct mem_node *n)
{
	return n && n->vlen >= 8 ? (int64_t)get_be64(n->val) : 0;
}

static void kv_set_i64(struct meta_txn *t, const struct mem_key *k, int64_t v)
{
	uint8_t b[8];
	put_be64(b, (uint64_t)v);
	kv_set(t, k, b, 8);
}

static int buf_set(struct buf *b, const void *p, size_t n)
{
	buf_reset(b);
	return buf_add(b, p, n);
}

/* ---------------- stores ---------------- */

static struct mem_store *store_new(const char *name)
{
	struct mem_store *st = xcalloc(1, sizeof(*st));
	st->name = name ? xstrdup(name) : NULL;
	st->refs = 1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->head = node_new(MEM_MAX_LEVEL);
	st->level = 1;
	random_bytes(&st->rng, sizeof(st->rng));
	st->rng |= 1; /* xorshift must not start at 0 */
	return st;
}

static void store_free(struct mem_store *st)
{
	if (!st)
		return;
	map_clear(st);
	free(st->head);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st->name);
	free(st);
}

static void store_unref(struct mem_store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&mem_reg_mu);
	int last = --st->refs == 0;
	if (last && st->name) {
		for (struct mem_store **pp = &mem_reg; *pp; pp = &(*pp)->next_store) {
			if (*pp == st) {
				*pp = st->next_store;
				break;
			}
		}
	}
	pthread_mutex_unlock(&mem_reg_mu);
	if (last)
		store_free(st);
}

/* The instance name: what follows "mem://", whichever field the parser put it in. */
static const char *url_name(const struct conf_meta_url *u)
{
	const char *s = NULL;
	if (!u)
		return "";
	if (u->path && *u->path)
		s = u->path;
	else if (u->hosts && *u->hosts)
		s = u->hosts;
	if (!s)
		return "";
	while (*s == '/')
		s++;
	return s;
}

int meta_mem_open(const struct conf_meta_url *u, struct meta **out, struct buf *err)
{
	const char *name = url_name(u);
	size_t nlen = strlen(name);
	struct mem_store *st = NULL;

	if (nlen > MEM_NAME_MAX) {
		if (err)
			buf_addf(err, "mem:// instance name longer than %d bytes", MEM_NAME_MAX);
		return -EINVAL;
	}
	if (nlen && name[nlen - 1] == '/')
		nlen--; /* "mem://vol/" names the same instance as "mem://vol" */
	if (!nlen) {
		st = store_new(NULL);
	} else {
		char *key = xstrndup(name, nlen);
		pthread_mutex_lock(&mem_reg_mu);
		for (st = mem_reg; st; st = st->next_store)
			if (!strcmp(st->name, key))
				break;
		if (st) {
			st->refs++;
		} else {
			st = store_new(key);
			st->next_store = mem_reg;
			mem_reg = st;
		}
		pthread_mutex_unlock(&mem_reg_mu);
		free(key);
	}

	struct mem_meta *mm = xcalloc(1, sizeof(*mm));
	mm->base.ops = &mem_ops;
	mm->st = st;
	*out = &mm->base;
	return 0;
}

/* Frees what the engine allocated, including the struct; base fields belong to meta.c. */
static void mem_close(struct meta *m)
{
	if (!m)
		return;
	struct mem_meta *mm = mem_of(m);
	store_unref(mm->st);
	free(mm);
}

/* ---------------- outside transactions ---------------- */

/*
 * Run fn under the store's lock the way begin would, or directly when this
 * thread already holds the store for writing.
 */
static int with_store(struct meta *m, int write, int (*fn)(struct mem_store *, void *), void *arg)
{
	struct mem_store *st = mem_of(m)->st;
	struct mem_hold *h = hold_find(st);

	if (h && h->write)
		return fn(st, arg);
	int rc = lock_take(st, write);
	if (rc)
		return rc;
	rc = fn(st, arg);
	lock_drop(st, write);
	return rc;
}

static int do_get_setting(struct mem_store *st, void *arg)
{
	struct mem_key k;
	k_tag(&k, "setting");
	struct mem_node *n = map_get(st, &k);
	if (!n)
		return -ENOENT;
	return buf_set(arg, n->val, n->vlen);
}

static int mem_get_setting(struct meta *m, struct buf *json)
{
	return with_store(m, 0, do_get_setting, json);
}

static int mem_init_schema(struct meta *m)
{
	/* A key-value map has no schema: nothing to create. */
	mem_of(m);
	return 0;
}

static int do_reset(struct mem_store *st, void *arg)
{
	UNUSED(arg);
	map_clear(st);
	return 0;
}

static int mem_reset(struct meta *m)
{
	struct mem_store *st = mem_of(m)->st;
	if (hold_find(st)) {
		log_error("mem engine: reset inside a transaction of the same thread");
		return -EDEADLK;
	}
	return with_store(m, 1, do_reset, NULL);
}

static int do_is_empty(struct mem_store *st, void *arg)
{
	*(int *)arg = st->nkeys == 0;
	return 0;
}

static int mem_is_empty(struct meta *m, int *empty)
{
	return with_store(m, 0, do_is_empty, empty);
}

/*
 * Counter value semantics follow the SQL/TKV engines so that a dump reads the
 * same numbers: nextInode/nextChunk store the next free id (initial 2 and 1),
 * nextSession/nextTrash store the last id handed out (initial 0, first id 1).
 */
struct mem_alloc {
	const char *counter;
	uint64_t n;
	uint64_t first;
	struct meta_txn *direct; /* the thread's own write transaction, if any */
};

static int do_alloc_ids(struct mem_store *st, void *arg)
{
	struct mem_alloc *a = arg;
	static const struct {
		const char *name;
		int64_t lowest;
		int last; /* stores the last id handed out */
	} rules[] = {
		{ "nextInode", 2, 0 },
		{ "nextChunk", 1, 0 },
		{ "nextSession", 1, 1 },
		{ "nextTrash", 1, 1 },
	};
	int64_t lowest = 1;
	int last = 0;
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		if (!strcmp(rules[i].name, a->counter)) {
			lowest = rules[i].lowest;
			last = rules[i].last;
		}
	}

	struct mem_key k;
	k_tag(&k, "C");
	k_bytes(&k, a->counter, strlen(a->counter));
	if (k.ovf)
		return -ENAMETOOLONG;
	int64_t v = get_i64(map_get(st, &k));
	int64_t first = last ? v + 1 : v;
	if (first < lowest)
		first = lowest;
	if (a->n > (uint64_t)(INT64_MAX - first)) {
		log_error("mem engine: counter %s overflows", a->counter);
		return -EOVERFLOW;
	}
	int64_t stored = first + (int64_t)a->n - (last ? 1 : 0);
	a->first = (uint64_t)first;
	if (!a->n)
		return 0;

	uint8_t b[8];
	put_be64(b, (uint64_t)stored);
	if (!a->direct) {
		struct meta_txn t = { .st = st, .write = 1 };
		kv_set(&t, &k, b, 8);
		undo_free(&t);
		return 0;
	}
	/*
	 * Inside the thread's own write transaction: write around the undo log
	 * and make every earlier undo record of this key restore the new value,
	 * so an abort of that transaction cannot hand the range out again.
	 */
	uint8_t *old = NULL;
	size_t oldlen;
	if (map_put(st, k.b, k.n, xmemdup(b, 8), 8, &old, &oldlen))
		free(old);
	for (size_t i = 0; i < a->direct->nundo; i++) {
		struct mem_undo *u = &a->direct->undo[i];
		if (key_cmp(u->key, u->klen, k.b, k.n))
			continue;
		free(u->val);
		u->val = xmemdup(b, 8);
		u->vlen = 8;
		u->had = 1;
	}
	return 0;
}

static int mem_alloc_ids(struct meta *m, const char *counter, uint64_t n, uint64_t *first)
{
	struct mem_store *st = mem_of(m)->st;
	struct mem_hold *h = hold_find(st);
	struct mem_alloc a = { .counter = counter, .n = n };
	int rc;

	if (h && h->write) {
		a.direct = st->wtxn;
		rc = do_alloc_ids(st, &a);
	} else {
		rc = with_store(m, 1, do_alloc_ids, &a);
	}
	if (!rc)
		*first = a.first;
	return rc;
}

/* ---------------- transactions ---------------- */

static int mem_begin(struct meta *m, int write, struct meta_txn **out)
{
	struct mem_store *st = mem_of(m)->st;
	int rc = lock_take(st, write);
	if (rc)
		return rc;
	struct meta_txn *t = xcalloc(1, sizeof(*t));
	t->st = st;
	t->write = !!write;
	if (write)
		st->wtxn = t;
	*out = t;
	return 0;
}

static void txn_end(struct meta_txn *t, int ok)
{
	if (ok)
		undo_free(t);
	else
		undo_replay(t);
	if (t->write)
		t->st->wtxn = NULL;
	lock_drop(t->st, t->write);
	free(t);
}

static int mem_commit(struct meta_txn *t)
{
	txn_end(t, 1);
	return 0;
}

static void mem_abort(struct meta_txn *t)
{
	if (t)
		txn_end(t, 0);
}

static int mem_set_setting(struct meta_txn *t, const char *json)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_tag(&k, "setting");
	kv_set(t, &k, json, strlen(json));
	return 0;
}

static int counter_key(struct mem_key *k, const char *name)
{
	k_tag(k, "C");
	k_bytes(k, name, strlen(name));
	return k->ovf ? -ENAMETOOLONG : 0;
}

static int mem_get_counter(struct meta_txn *t, const char *name, int64_t *v)
{
	struct mem_key k;
	int rc = counter_key(&k, name);
	if (rc)
		return rc;
	*v = get_i64(map_get(t->st, &k));
	return 0;
}

static int mem_incr_counter(struct meta_txn *t, const char *name, int64_t delta, int64_t *newv)
{
	NEED_WRITE(t);
	struct mem_key k;
	int rc = counter_key(&k, name);
	if (rc)
		return rc;
	/* wrap like a two's-complement INCRBY instead of invoking UB */
	int64_t v = (int64_t)((uint64_t)get_i64(map_get(t->st, &k)) + (uint64_t)delta);
	kv_set_i64(t, &k, v);
	if (newv)
		*newv = v;
	return 0;
}

static int mem_set_counter(struct meta_txn *t, const char *name, int64_t v)
{
	NEED_WRITE(t);
	struct mem_key k;
	int rc = counter_key(&k, name);
	if (rc)
		return rc;
	kv_set_i64(t, &k, v);
	return 0;
}

/* ---------------- attributes ---------------- */

static int mem_get_attr(struct meta_txn *t, uint64_t ino, struct meta_attr *a)
{
	struct mem_key k;
	k_inode(&k, ino, 'I');
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	struct meta_attr tmp;
	if (meta_attr_decode(n->val, n->vlen, &tmp)) {
		log_error("mem engine: corrupt attribute of inode %llu (%zu bytes)",
			  (unsigned long long)ino, n->vlen);
		return -EIO;
	}
	*a = tmp;
	return 0;
}

static int mem_put_attr(struct meta_txn *t, uint64_t ino, const struct meta_attr *a)
{
	NEED_WRITE(t);
	struct mem_key k;
	uint8_t enc[META_ATTR_MAX_ENC];
	k_inode(&k, ino, 'I');
	kv_set(t, &k, enc, meta_attr_encode(a, enc));
	return 0;
}

static int mem_del_attr(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_inode(&k, ino, 'I');
	kv_del(t, k.b, k.n);
	return 0;
}

/* ---------------- entries ---------------- */

static int entry_key(struct mem_key *k, uint64_t parent, const char *name, size_t nlen)
{
	k_inode(k, parent, 'D');
	k_bytes(k, name, nlen);
	return k->ovf ? -ENAMETOOLONG : 0;
}

static int mem_get_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			 uint64_t *ino, uint8_t *type)
{
	struct mem_key k;
	int rc = entry_key(&k, parent, name, nlen);
	if (rc)
		return rc == -ENAMETOOLONG ? -ENOENT : rc;
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	BUG_ON(n->vlen != 9);
	if (type)
		*type = n->val[0];
	if (ino)
		*ino = get_be64(n->val + 1);
	return 0;
}

static int mem_put_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen,
			 uint64_t ino, uint8_t type)
{
	NEED_WRITE(t);
	struct mem_key k;
	int rc = entry_key(&k, parent, name, nlen);
	if (rc)
		return rc;
	uint8_t v[9];
	v[0] = type;
	put_be64(v + 1, ino);
	kv_set(t, &k, v, sizeof(v));
	return 0;
}

static int mem_del_entry(struct meta_txn *t, uint64_t parent, const char *name, size_t nlen)
{
	NEED_WRITE(t);
	struct mem_key k;
	if (entry_key(&k, parent, name, nlen))
		return 0; /* cannot exist */
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_entries(struct meta_txn *t, uint64_t parent, const char *after, size_t alen,
			    size_t limit, meta_entry_fn cb, void *arg)
{
	struct mem_key prefix, start;
	struct mem_iter it;
	size_t count = 0;
	int rc = 0;

	k_inode(&prefix, parent, 'D');
	if (after) {
		/*
		 * Seek to prefix+after (cut to the key limit) and skip names up
		 * to and including `after`: that is exact for any length.
		 */
		start = prefix;
		k_bytes(&start, after, MIN(alen, MEM_KEY_MAX - prefix.n));
	}
	for (struct mem_node *n = it_first(&it, t->st, &prefix, after ? &start : NULL); n;
	     n = it_next(&it)) {
		const uint8_t *name = n->key + prefix.n;
		size_t nlen = n->klen - prefix.n;
		if (after && key_cmp(name, nlen, (const uint8_t *)after, alen) <= 0)
			continue;
		if (limit && count >= limit)
			break;
		BUG_ON(n->vlen != 9);
		count++;
		rc = cb(arg, (const char *)name, nlen, get_be64(n->val + 1), n->val[0]);
		if (rc)
			break;
	}
	return rc;
}

static int mem_count_entries(struct meta_txn *t, uint64_t parent, uint64_t *count)
{
	struct mem_key prefix;
	struct mem_iter it;
	uint64_t c = 0;
	k_inode(&prefix, parent, 'D');
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it))
		c++;
	*count = c;
	return 0;
}

/* ---------------- hard-link parents ---------------- */

static int mem_incr_parent(struct meta_txn *t, uint64_t ino, uint64_t parent, int64_t delta)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_inode(&k, ino, 'P');
	k_u64(&k, parent);
	int64_t v = get_i64(map_get(t->st, &k)) + delta;
	/* a parent with no links left is no parent: drop it like TKV does */
	if (v > 0)
		kv_set_i64(t, &k, v);
	else
		kv_del(t, k.b, k.n);
	return 0;
}

static int mem_list_parents(struct meta_txn *t, uint64_t ino, meta_u64_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_inode(&prefix, ino, 'P');
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		rc = cb(arg, get_be64(n->key + prefix.n));
		if (rc)
			break;
	}
	return rc;
}

static int mem_del_parents(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key prefix;
	k_inode(&prefix, ino, 'P');
	kv_del_prefix(t, &prefix);
	return 0;
}

/* ---------------- symlinks ---------------- */

static int mem_get_symlink(struct meta_txn *t, uint64_t ino, struct buf *target)
{
	struct mem_key k;
	k_inode(&k, ino, 'S');
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	return buf_set(target, n->val, n->vlen);
}

static int mem_put_symlink(struct meta_txn *t, uint64_t ino, const char *target, size_t len)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_inode(&k, ino, 'S');
	kv_set(t, &k, target, len);
	return 0;
}

static int mem_del_symlink(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_inode(&k, ino, 'S');
	kv_del(t, k.b, k.n);
	return 0;
}

/* ---------------- xattrs ---------------- */

static int xattr_key(struct mem_key *k, uint64_t ino, const char *name)
{
	k_inode(k, ino, 'X');
	k_bytes(k, name, strlen(name));
	return k->ovf ? -ENAMETOOLONG : 0;
}

static int mem_get_xattr(struct meta_txn *t, uint64_t ino, const char *name, struct buf *val)
{
	struct mem_key k;
	if (xattr_key(&k, ino, name))
		return -ENOENT;
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	return buf_set(val, n->val, n->vlen);
}

static int mem_put_xattr(struct meta_txn *t, uint64_t ino, const char *name, const void *val,
			 size_t len)
{
	NEED_WRITE(t);
	struct mem_key k;
	int rc = xattr_key(&k, ino, name);
	if (rc)
		return rc;
	kv_set(t, &k, val, len);
	return 0;
}

static int mem_del_xattr(struct meta_txn *t, uint64_t ino, const char *name)
{
	NEED_WRITE(t);
	struct mem_key k;
	if (xattr_key(&k, ino, name))
		return -ENOENT;
	return kv_del(t, k.b, k.n) ? 0 : -ENOENT;
}

static int mem_scan_xattrs(struct meta_txn *t, uint64_t ino, meta_name_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_inode(&prefix, ino, 'X');
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		rc = cb(arg, (const char *)n->key + prefix.n, n->klen - prefix.n);
		if (rc)
			break;
	}
	return rc;
}

static int mem_del_xattrs(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key prefix;
	k_inode(&prefix, ino, 'X');
	kv_del_prefix(t, &prefix);
	return 0;
}

/* ---------------- ACL rules: R<id u32> -> encoded rule; counter aclMaxId ---------------- */

static void acl_key(struct mem_key *k, uint32_t id)
{
	k_tag(k, "R");
	k_u32(k, id);
}

static int mem_get_acl(struct meta_txn *t, uint32_t id, struct meta_acl *rule)
{
	struct mem_key k;
	acl_key(&k, id);
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	return meta_acl_decode(n->val, n->vlen, rule) ? -EIO : 0;
}

static int mem_put_acl(struct meta_txn *t, const struct meta_acl *rule, uint32_t *id)
{
	NEED_WRITE(t);
	struct buf b = BUF_INIT;
	struct mem_key k;
	int64_t v;
	int rc = mem_incr_counter(t, "aclMaxId", 1, &v);
	if (rc)
		return rc;
	if (v <= 0 || v > UINT32_MAX)
		return -EIO;
	*id = (uint32_t)v;
	acl_key(&k, *id);
	meta_acl_encode(rule, &b);
	kv_set(t, &k, b.ptr, b.len);
	buf_release(&b);
	return 0;
}

static int mem_scan_acls(struct meta_txn *t, meta_acl_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "R");
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n && !rc; n = it_next(&it)) {
		struct meta_acl a;
		if (n->klen != 5 || meta_acl_decode(n->val, n->vlen, &a))
			return -EIO;
		rc = cb(arg, get_be32(n->key + 1), &a);
		meta_acl_release(&a);
	}
	return rc;
}

/* ---------------- chunks ---------------- */

static void chunk_key(struct mem_key *k, uint64_t ino, uint32_t indx)
{
	k_inode(k, ino, 'C');
	k_u32(k, indx);
}

static int mem_get_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, struct buf *recs)
{
	struct mem_key k;
	chunk_key(&k, ino, indx);
	struct mem_node *n = map_get(t->st, &k);
	if (!n) {
		buf_reset(recs);
		return 0;
	}
	return buf_set(recs, n->val, n->vlen);
}

static int mem_append_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			    size_t len, size_t *count)
{
	NEED_WRITE(t);
	struct mem_key k;
	chunk_key(&k, ino, indx);
	struct mem_node *n = map_get(t->st, &k);
	size_t old = n ? n->vlen : 0;
	uint8_t *v = xmalloc(old + len + 1);
	if (old)
		memcpy(v, n->val, old);
	if (len)
		memcpy(v + old, recs, len);
	v[old + len] = 0;

	uint8_t *prev = NULL;
	size_t prevlen = 0;
	int had = map_put(t->st, k.b, k.n, v, old + len, &prev, &prevlen);
	undo_push(t, xmemdup(k.b, k.n), k.n, prev, prevlen, had);
	if (count)
		*count = (old + len) / META_SLICE_BYTES;
	return 0;
}

static int mem_set_chunk(struct meta_txn *t, uint64_t ino, uint32_t indx, const uint8_t *recs,
			 size_t len)
{
	NEED_WRITE(t);
	struct mem_key k;
	chunk_key(&k, ino, indx);
	if (len)
		kv_set(t, &k, recs, len);
	else
		kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_chunks(struct meta_txn *t, uint64_t ino, meta_chunk_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_inode(&prefix, ino, 'C');
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != prefix.n + 4)
			continue;
		rc = cb(arg, ino, get_be32(n->key + prefix.n), n->val, n->vlen);
		if (rc)
			break;
	}
	return rc;
}

/*
 * Skip-scan over the "A" space: jump straight to each inode's C records and
 * then to the next inode, so gc does not walk every entry and attribute.
 */
static int mem_scan_all_chunks(struct meta_txn *t, meta_chunk_fn cb, void *arg)
{
	struct mem_key seek;
	struct mem_node *n;
	int rc = 0;

	k_tag(&seek, "A");
	n = find_ge(t->st, seek.b, seek.n, NULL);
	while (n && n->klen >= 9 && n->key[0] == 'A') {
		uint64_t ino = get_be64(n->key + 1);
		rc = mem_scan_chunks(t, ino, cb, arg);
		if (rc || ino == UINT64_MAX)
			break;
		k_tag(&seek, "A");
		k_u64(&seek, ino + 1);
		n = find_ge(t->st, seek.b, seek.n, NULL);
	}
	return rc;
}

/* ---------------- slice references ---------------- */

static void ref_key(struct mem_key *k, uint64_t id, uint32_t size)
{
	k_tag(k, "K");
	k_u64(k, id);
	k_u32(k, size);
}

static int mem_new_slice(struct meta_txn *t, uint64_t id, uint32_t size)
{
	NEED_WRITE(t);
	struct mem_key k;
	ref_key(&k, id, size);
	kv_set_i64(t, &k, 1);
	return 0;
}

/* An absent record counts as one reference, as in TKV (absent = refcount 1). */
static int mem_incr_ref(struct meta_txn *t, uint64_t id, uint32_t size, int64_t delta,
			int64_t *refs)
{
	NEED_WRITE(t);
	struct mem_key k;
	ref_key(&k, id, size);
	struct mem_node *n = map_get(t->st, &k);
	int64_t v = (n ? get_i64(n) : 1) + delta;
	kv_set_i64(t, &k, v);
	if (refs)
		*refs = v;
	return 0;
}

static int mem_del_ref(struct meta_txn *t, uint64_t id, uint32_t size)
{
	NEED_WRITE(t);
	struct mem_key k;
	ref_key(&k, id, size);
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_dead_refs(struct meta_txn *t, meta_slice_ref_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "K");
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		struct meta_slice_ref r;
		if (n->klen != 13)
			continue;
		r.refs = get_i64(n);
		if (r.refs >= 1)
			continue;
		r.id = get_be64(n->key + 1);
		r.size = get_be32(n->key + 9);
		rc = cb(arg, &r);
		if (rc)
			break;
	}
	return rc;
}

/* ---------------- delayed slices ---------------- */

static void delslices_key(struct mem_key *k, uint64_t newid, int64_t when)
{
	k_tag(k, "L");
	k_u64(k, (uint64_t)when);
	k_u64(k, newid);
}

static int mem_put_delslices(struct meta_txn *t, uint64_t newid, int64_t when, const uint8_t *recs,
			     size_t len)
{
	NEED_WRITE(t);
	struct mem_key k;
	delslices_key(&k, newid, when);
	kv_set(t, &k, recs, len);
	return 0;
}

static int mem_del_delslices(struct meta_txn *t, uint64_t newid, int64_t when)
{
	NEED_WRITE(t);
	struct mem_key k;
	delslices_key(&k, newid, when);
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_delslices(struct meta_txn *t, meta_delslices_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "L");
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != 17)
			continue;
		rc = cb(arg, get_be64(n->key + 9), (int64_t)get_be64(n->key + 1), n->val, n->vlen);
		if (rc)
			break;
	}
	return rc;
}

/* ---------------- deleted files ---------------- */

static int mem_add_delfile(struct meta_txn *t, uint64_t ino, uint64_t length, int64_t when)
{
	NEED_WRITE(t);
	struct mem_key k;
	uint8_t v[16];
	k_tag(&k, "D");
	k_u64(&k, ino);
	put_be64(v, length);
	put_be64(v + 8, (uint64_t)when);
	kv_set(t, &k, v, sizeof(v));
	return 0;
}

static int mem_del_delfile(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_tag(&k, "D");
	k_u64(&k, ino);
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_delfiles(struct meta_txn *t, meta_delfile_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "D");
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != 9 || n->vlen != 16)
			continue;
		rc = cb(arg, get_be64(n->key + 1), get_be64(n->val), (int64_t)get_be64(n->val + 8));
		if (rc)
			break;
	}
	return rc;
}

/* ---------------- sustained inodes ---------------- */

static void sustained_key(struct mem_key *k, uint64_t sid, uint64_t ino)
{
	k_tag(k, "SS");
	k_u64(k, sid);
	k_u64(k, ino);
}

static int mem_add_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	sustained_key(&k, sid, ino);
	kv_set(t, &k, "\x01", 1);
	return 0;
}

static int mem_del_sustained(struct meta_txn *t, uint64_t sid, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	sustained_key(&k, sid, ino);
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_sustained(struct meta_txn *t, uint64_t sid, meta_sustained_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "SS");
	if (sid)
		k_u64(&prefix, sid);
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != 18)
			continue;
		rc = cb(arg, get_be64(n->key + 2), get_be64(n->key + 10));
		if (rc)
			break;
	}
	return rc;
}

/* ---------------- sessions ---------------- */

static void session_key(struct mem_key *k, const char *tag, uint64_t sid)
{
	k_tag(k, tag);
	k_u64(k, sid);
}

static int mem_put_session(struct meta_txn *t, uint64_t sid, int64_t expire, const char *info)
{
	NEED_WRITE(t);
	struct mem_key k;
	session_key(&k, "SE", sid);
	kv_set_i64(t, &k, expire);
	session_key(&k, "SI", sid);
	if (!info)
		info = "";
	kv_set(t, &k, info, strlen(info));
	return 0;
}

static int mem_touch_session(struct meta_txn *t, uint64_t sid, int64_t expire)
{
	NEED_WRITE(t);
	struct mem_key k;
	session_key(&k, "SE", sid);
	if (!map_get(t->st, &k))
		return -ENOENT;
	kv_set_i64(t, &k, expire);
	return 0;
}

static int mem_del_session(struct meta_txn *t, uint64_t sid)
{
	NEED_WRITE(t);
	struct mem_key k;
	session_key(&k, "SE", sid);
	kv_del(t, k.b, k.n);
	session_key(&k, "SI", sid);
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_sessions(struct meta_txn *t, meta_session_raw_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "SE");
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != 10)
			continue;
		uint64_t sid = get_be64(n->key + 2);
		struct mem_key ik;
		session_key(&ik, "SI", sid);
		struct mem_node *in = map_get(t->st, &ik);
		rc = cb(arg, sid, get_i64(n), in ? (const char *)in->val : "");
		if (rc)
			break;
	}
	return rc;
}

/* ---------------- dir stats ---------------- */

static int mem_incr_dirstat(struct meta_txn *t, uint64_t ino, const struct meta_dirstat *d)
{
	NEED_WRITE(t);
	struct mem_key k;
	uint8_t v[24];
	k_tag(&k, "U");
	k_u64(&k, ino);
	struct mem_node *n = map_get(t->st, &k);
	int64_t cur[3] = { 0, 0, 0 };
	if (n && n->vlen == 24)
		for (int i = 0; i < 3; i++)
			cur[i] = (int64_t)get_be64(n->val + 8 * i);
	put_be64(v, (uint64_t)cur[0] + (uint64_t)d->length);
	put_be64(v + 8, (uint64_t)cur[1] + (uint64_t)d->space);
	put_be64(v + 16, (uint64_t)cur[2] + (uint64_t)d->inodes);
	kv_set(t, &k, v, sizeof(v));
	return 0;
}

static int mem_get_dirstat(struct meta_txn *t, uint64_t ino, struct meta_dirstat *d)
{
	struct mem_key k;
	k_tag(&k, "U");
	k_u64(&k, ino);
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	BUG_ON(n->vlen != 24);
	d->length = (int64_t)get_be64(n->val);
	d->space = (int64_t)get_be64(n->val + 8);
	d->inodes = (int64_t)get_be64(n->val + 16);
	return 0;
}

static int mem_del_dirstat(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_tag(&k, "U");
	k_u64(&k, ino);
	kv_del(t, k.b, k.n);
	return 0;
}

/* ---------------- dir quotas ---------------- */

/* TKV layout: "QD" ino -> maxSpace, maxInodes, usedSpace, usedInodes (4 x i64 BE). */
static void quota_val(uint8_t v[32], const struct meta_quota *q)
{
	put_be64(v, (uint64_t)q->max_space);
	put_be64(v + 8, (uint64_t)q->max_inodes);
	put_be64(v + 16, (uint64_t)q->used_space);
	put_be64(v + 24, (uint64_t)q->used_inodes);
}

static void quota_parse(const uint8_t *v, struct meta_quota *q)
{
	q->max_space = (int64_t)get_be64(v);
	q->max_inodes = (int64_t)get_be64(v + 8);
	q->used_space = (int64_t)get_be64(v + 16);
	q->used_inodes = (int64_t)get_be64(v + 24);
}

static int mem_get_quota(struct meta_txn *t, uint64_t ino, struct meta_quota *q)
{
	struct mem_key k;
	k_tag(&k, "QD");
	k_u64(&k, ino);
	struct mem_node *n = map_get(t->st, &k);
	if (!n)
		return -ENOENT;
	BUG_ON(n->vlen != 32);
	quota_parse(n->val, q);
	return 0;
}

static int mem_put_quota(struct meta_txn *t, uint64_t ino, const struct meta_quota *q)
{
	NEED_WRITE(t);
	struct mem_key k;
	uint8_t v[32];
	k_tag(&k, "QD");
	k_u64(&k, ino);
	quota_val(v, q);
	kv_set(t, &k, v, sizeof(v));
	return 0;
}

static int mem_incr_quota(struct meta_txn *t, uint64_t ino, int64_t space, int64_t inodes)
{
	struct meta_quota q;
	int r = mem_get_quota(t, ino, &q);
	if (r)
		return r == -ENOENT ? 0 : r;
	q.used_space += space;
	q.used_inodes += inodes;
	return mem_put_quota(t, ino, &q);
}

static int mem_del_quota(struct meta_txn *t, uint64_t ino)
{
	NEED_WRITE(t);
	struct mem_key k;
	k_tag(&k, "QD");
	k_u64(&k, ino);
	kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_quotas(struct meta_txn *t, meta_quota_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "QD");
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		struct meta_quota q;
		if (n->klen != 10 || n->vlen != 32)
			continue;
		quota_parse(n->val, &q);
		if ((rc = cb(arg, get_be64(n->key + 2), &q)))
			break;
	}
	return rc;
}

/* ---------------- locks ---------------- */

static void lock_key(struct mem_key *k, const char *tag, uint64_t ino, uint64_t sid,
		     uint64_t owner)
{
	k_tag(k, tag);
	k_u64(k, ino);
	k_u64(k, sid);
	k_u64(k, owner);
}

static int mem_scan_flocks(struct meta_txn *t, uint64_t ino, meta_flock_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "F");
	k_u64(&prefix, ino);
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != 25 || n->vlen != 1)
			continue;
		rc = cb(arg, get_be64(n->key + 9), get_be64(n->key + 17), (char)n->val[0]);
		if (rc)
			break;
	}
	return rc;
}

static int mem_put_flock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
			 char ltype)
{
	NEED_WRITE(t);
	struct mem_key k;
	lock_key(&k, "F", ino, sid, owner);
	if (ltype)
		kv_set(t, &k, &ltype, 1);
	else
		kv_del(t, k.b, k.n);
	return 0;
}

static int mem_scan_plocks(struct meta_txn *t, uint64_t ino, meta_plock_fn cb, void *arg)
{
	struct mem_key prefix;
	struct mem_iter it;
	int rc = 0;
	k_tag(&prefix, "P");
	k_u64(&prefix, ino);
	for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n; n = it_next(&it)) {
		if (n->klen != 25)
			continue;
		rc = cb(arg, get_be64(n->key + 9), get_be64(n->key + 17), n->val, n->vlen);
		if (rc)
			break;
	}
	return rc;
}

static int mem_put_plock(struct meta_txn *t, uint64_t ino, uint64_t sid, uint64_t owner,
			 const uint8_t *recs, size_t len)
{
	NEED_WRITE(t);
	struct mem_key k;
	lock_key(&k, "P", ino, sid, owner);
	if (len)
		kv_set(t, &k, recs, len);
	else
		kv_del(t, k.b, k.n);
	return 0;
}

/* Locks are keyed by inode first, so a session's locks are found by a walk. */
static int mem_del_session_locks(struct meta_txn *t, uint64_t sid)
{
	NEED_WRITE(t);
	static const char *const tags[] = { "F", "P" };
	for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
		struct mem_key prefix;
		struct mem_iter it;
		k_tag(&prefix, tags[i]);
		for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n;
		     n = it_next(&it)) {
			if (n->klen == 25 && get_be64(n->key + 9) == sid)
				kv_del(t, n->key, n->klen);
		}
	}
	return 0;
}

static int mem_scan_session_locks(struct meta_txn *t, uint64_t sid, meta_session_lock_fn cb,
				  void *arg)
{
	static const char *const tags[] = { "F", "P" };
	int rc = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tags) && !rc; i++) {
		struct mem_key prefix;
		struct mem_iter it;
		k_tag(&prefix, tags[i]);
		for (struct mem_node *n = it_first(&it, t->st, &prefix, NULL); n && !rc;
		     n = it_next(&it)) {
			if (n->klen != 25 || get_be64(n->key + 9) != sid)
				continue;
			if (i == 0)
				rc = cb(arg, get_be64(n->key + 1), get_be64(n->key + 17), 1,
					n->vlen ? (char)n->val[0] : 0, NULL, 0);
			else
				rc = cb(arg, get_be64(n->key + 1), get_be64(n->key + 17), 0, 0,
					n->val, n->vlen);
		}
	}
	return rc;
}

static const struct meta_engine_ops mem_ops = {
	.name = "mem",
	.close = mem_close,
	.get_setting = mem_get_setting,
	.init_schema = mem_init_schema,
	.reset = mem_reset,
	.is_empty = mem_is_empty,
	.alloc_ids = mem_alloc_ids,
	.begin = mem_begin,
	.commit = mem_commit,
	.abort = mem_abort,
	.set_setting = mem_set_setting,
	.get_counter = mem_get_counter,
	.incr_counter = mem_incr_counter,
	.set_counter = mem_set_counter,
	.get_attr = mem_get_attr,
	.put_attr = mem_put_attr,
	.del_attr = mem_del_attr,
	.get_entry = mem_get_entry,
	.put_entry = mem_put_entry,
	.del_entry = mem_del_entry,
	.scan_entries = mem_scan_entries,
	.count_entries = mem_count_entries,
	.incr_parent = mem_incr_parent,
	.list_parents = mem_list_parents,
	.del_parents = mem_del_parents,
	.get_symlink = mem_get_symlink,
	.put_symlink = mem_put_symlink,
	.del_symlink = mem_del_symlink,
	.get_xattr = mem_get_xattr,
	.put_xattr = mem_put_xattr,
	.del_xattr = mem_del_xattr,
	.scan_xattrs = mem_scan_xattrs,
	.del_xattrs = mem_del_xattrs,
	.get_acl = mem_get_acl,
	.put_acl = mem_put_acl,
	.scan_acls = mem_scan_acls,
	.get_chunk = mem_get_chunk,
	.append_chunk = mem_append_chunk,
	.set_chunk = mem_set_chunk,
	.scan_chunks = mem_scan_chunks,
	.scan_all_chunks = mem_scan_all_chunks,
	.new_slice = mem_new_slice,
	.incr_ref = mem_incr_ref,
	.del_ref = mem_del_ref,
	.scan_dead_refs = mem_scan_dead_refs,
	.put_delslices = mem_put_delslices,
	.del_delslices = mem_del_delslices,
	.scan_delslices = mem_scan_delslices,
	.add_delfile = mem_add_delfile,
	.del_delfile = mem_del_delfile,
	.scan_delfiles = mem_scan_delfiles,
	.add_sustained = mem_add_sustained,
	.del_sustained = mem_del_sustained,
	.scan_sustained = mem_scan_sustained,
	.put_session = mem_put_session,
	.touch_session = mem_touch_session,
	.del_session = mem_del_session,
	.scan_sessions = mem_scan_sessions,
	.incr_dirstat = mem_incr_dirstat,
	.get_dirstat = mem_get_dirstat,
	.del_dirstat = mem_del_dirstat,
	.get_quota = mem_get_quota,
	.put_quota = mem_put_quota,
	.incr_quota = mem_incr_quota,
	.del_quota = mem_del_quota,
	.scan_quotas = mem_scan_quotas,
	.scan_flocks = mem_scan_flocks,
	.put_flock = mem_put_flock,
	.scan_plocks = mem_scan_plocks,
	.put_plock = mem_put_plock,
	.del_session_locks = mem_del_session_locks,
	.scan_session_locks = mem_scan_session_locks,
};
