/*
 * Unit tests of the in-memory engine (meta/mem.c), driven through its
 * primitive table directly: every primitive, read-your-writes, exact abort,
 * scan order and paging over arbitrary name bytes, serialised concurrent
 * writers, and shared `mem://NAME` instances. The file-system operations on
 * top of the engine are covered by check_meta's conformance suite.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "meta/meta-internal.h"

static struct meta *open_mem(const char *name)
{
	struct conf_meta_url u;
	struct buf err = BUF_INIT;
	struct meta *m = NULL;

	memset(&u, 0, sizeof(u));
	u.raw = "mem://";
	u.scheme = "mem";
	u.path = (char *)(name ? name : "");
	ck_assert_int_eq(meta_mem_open(&u, &m, &err), 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(m->ops);
	ck_assert_str_eq(m->ops->name, "mem");
	buf_release(&err);
	return m;
}

static void close_mem(struct meta *m)
{
	m->ops->close(m);
}

static struct meta_txn *begin(struct meta *m, int write)
{
	struct meta_txn *t = NULL;
	ck_assert_int_eq(m->ops->begin(m, write, &t), 0);
	ck_assert_ptr_nonnull(t);
	return t;
}

static void commit(struct meta *m, struct meta_txn *t)
{
	ck_assert_int_eq(m->ops->commit(t), 0);
}

static void sample_attr(struct meta_attr *a, uint64_t seed)
{
	memset(a, 0, sizeof(*a));
	a->flags = (uint8_t)(seed & 0x21);
	a->type = META_TYPE_FILE;
	a->mode = (uint16_t)(0644 + (seed & 7));
	a->uid = (uint32_t)(1000 + seed);
	a->gid = (uint32_t)(2000 + seed);
	a->atime = 1700000000 + (int64_t)seed;
	a->mtime = 1700000001 + (int64_t)seed;
	a->ctime = 1700000002 + (int64_t)seed;
	a->atimensec = 1;
	a->mtimensec = 999999999;
	a->ctimensec = (uint32_t)seed;
	a->nlink = 1;
	a->length = seed * 4096 + 17;
	a->rdev = 0;
	a->parent = 1;
}

static void assert_attr_eq(const struct meta_attr *x, const struct meta_attr *y)
{
	ck_assert_uint_eq(x->flags, y->flags);
	ck_assert_uint_eq(x->type, y->type);
	ck_assert_uint_eq(x->mode, y->mode);
	ck_assert_uint_eq(x->uid, y->uid);
	ck_assert_uint_eq(x->gid, y->gid);
	ck_assert_int_eq(x->atime, y->atime);
	ck_assert_int_eq(x->mtime, y->mtime);
	ck_assert_int_eq(x->ctime, y->ctime);
	ck_assert_uint_eq(x->atimensec, y->atimensec);
	ck_assert_uint_eq(x->mtimensec, y->mtimensec);
	ck_assert_uint_eq(x->ctimensec, y->ctimensec);
	ck_assert_uint_eq(x->nlink, y->nlink);
	ck_assert_uint_eq(x->length, y->length);
	ck_assert_uint_eq(x->rdev, y->rdev);
	ck_assert_uint_eq(x->parent, y->parent);
	ck_assert_uint_eq(x->access_acl, y->access_acl);
	ck_assert_uint_eq(x->default_acl, y->default_acl);
	ck_assert_uint_eq(x->tier, y->tier);
}

/* ---------------------------------------------------------------- collectors */

struct names {
	char *v[512];
	size_t lens[512];
	uint64_t ino[512];
	uint8_t type[512];
	size_t n;
	size_t stop_at; /* return 7 from the callback at this count (0 = never) */
};

static int collect_entry(void *arg, const char *name, size_t len, uint64_t ino, uint8_t type)
{
	struct names *ns = arg;
	ck_assert_uint_lt(ns->n, ARRAY_SIZE(ns->v));
	ck_assert_int_eq(name[len], 0); /* handed out NUL-terminated */
	ns->v[ns->n] = xmemdup(name, len);
	ns->lens[ns->n] = len;
	ns->ino[ns->n] = ino;
	ns->type[ns->n] = type;
	ns->n++;
	return ns->stop_at && ns->n == ns->stop_at ? 7 : 0;
}

static int collect_name(void *arg, const char *name, size_t len)
{
	return collect_entry(arg, name, len, 0, 0);
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	memset(ns, 0, sizeof(*ns));
}

static int collect_u64(void *arg, uint64_t v)
{
	struct buf *b = arg;
	buf_addf(b, "%llu,", (unsigned long long)v);
	return 0;
}

/* ---------------------------------------------------------------- dump */

/*
 * A text image of everything reachable through the scans and gets for the
 * inodes and ids the tests use, so "abort restored exactly" is one compare.
 */
struct dump_ctx {
	struct buf *b;
};

static int dump_entry(void *arg, const char *name, size_t len, uint64_t ino, uint8_t type)
{
	struct buf *b = arg;
	buf_adds(b, "  e:");
	for (size_t i = 0; i < len; i++)
		buf_addf(b, "%02x", (unsigned char)name[i]);
	buf_addf(b, "=%llu/%u\n", (unsigned long long)ino, type);
	return 0;
}

static int dump_name(void *arg, const char *name, size_t len)
{
	struct buf *b = arg;
	buf_addf(b, "  x:%.*s\n", (int)len, name);
	return 0;
}

static int dump_chunk(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs, size_t len)
{
	struct buf *b = arg;
	buf_addf(b, "c:%llu/%u:", (unsigned long long)ino, indx);
	for (size_t i = 0; i < len; i++)
		buf_addf(b, "%02x", recs[i]);
	buf_addch(b, '\n');
	return 0;
}

static int dump_ref(void *arg, const struct meta_slice_ref *r)
{
	struct buf *b = arg;
	buf_addf(b, "dead:%llu/%u=%lld\n", (unsigned long long)r->id, r->size, (long long)r->refs);
	return 0;
}

static int dump_delslices(void *arg, uint64_t newid, int64_t when, const uint8_t *recs,
			  size_t len)
{
	struct buf *b = arg;
	buf_addf(b, "ds:%llu@%lld:%zu:%.*s\n", (unsigned long long)newid, (long long)when, len,
		 (int)len, (const char *)recs);
	return 0;
}

static int dump_delfile(void *arg, uint64_t ino, uint64_t length, int64_t when)
{
	struct buf *b = arg;
	buf_addf(b, "df:%llu/%llu@%lld\n", (unsigned long long)ino, (unsigned long long)length,
		 (long long)when);
	return 0;
}

static int dump_sustained(void *arg, uint64_t sid, uint64_t ino)
{
	struct buf *b = arg;
	buf_addf(b, "ss:%llu/%llu\n", (unsigned long long)sid, (unsigned long long)ino);
	return 0;
}

static int dump_session(void *arg, uint64_t sid, int64_t expire, const char *info)
{
	struct buf *b = arg;
	buf_addf(b, "se:%llu@%lld:%s\n", (unsigned long long)sid, (long long)expire, info);
	return 0;
}

static int dump_flock(void *arg, uint64_t sid, uint64_t owner, char ltype)
{
	struct buf *b = arg;
	buf_addf(b, "  f:%llu/%llu=%c\n", (unsigned long long)sid, (unsigned long long)owner,
		 ltype);
	return 0;
}

static int dump_plock(void *arg, uint64_t sid, uint64_t owner, const uint8_t *recs, size_t len)
{
	struct buf *b = arg;
	buf_addf(b, "  p:%llu/%llu=%zu:%.*s\n", (unsigned long long)sid,
		 (unsigned long long)owner, len, (int)len, (const char *)recs);
	return 0;
}

static const char *const dump_counters[] = { "usedSpace", "totalInodes", "nextInode",
					     "nextChunk", "nextSession", "nextTrash" };

static char *dump_store(struct meta *m)
{
	struct buf b = BUF_INIT;
	struct buf tmp = BUF_INIT;
	const struct meta_engine_ops *o = m->ops;

	int r = o->get_setting(m, &tmp);
	buf_addf(&b, "setting:%d:%s\n", r, r ? "" : tmp.ptr);

	struct meta_txn *t = begin(m, 0);
	for (size_t i = 0; i < ARRAY_SIZE(dump_counters); i++) {
		int64_t v = -1;
		ck_assert_int_eq(o->get_counter(t, dump_counters[i], &v), 0);
		buf_addf(&b, "C%s=%lld\n", dump_counters[i], (long long)v);
	}
	for (uint64_t ino = 1; ino <= 12; ino++) {
		struct meta_attr a;
		struct meta_dirstat d;
		uint64_t n = 0;
		buf_addf(&b, "inode %llu\n", (unsigned long long)ino);
		if (!o->get_attr(t, ino, &a))
			buf_addf(&b, "  attr mode=%o len=%llu nlink=%u\n", a.mode,
				 (unsigned long long)a.length, a.nlink);
		ck_assert_int_eq(o->scan_entries(t, ino, NULL, 0, 0, dump_entry, &b), 0);
		ck_assert_int_eq(o->count_entries(t, ino, &n), 0);
		buf_addf(&b, "  count=%llu\n  parents=", (unsigned long long)n);
		ck_assert_int_eq(o->list_parents(t, ino, collect_u64, &b), 0);
		buf_addch(&b, '\n');
		if (!o->get_symlink(t, ino, &tmp))
			buf_addf(&b, "  symlink=%s\n", tmp.ptr);
		ck_assert_int_eq(o->scan_xattrs(t, ino, dump_name, &b), 0);
		if (!o->get_dirstat(t, ino, &d))
			buf_addf(&b, "  dirstat=%lld/%lld/%lld\n", (long long)d.length,
				 (long long)d.space, (long long)d.inodes);
		ck_assert_int_eq(o->scan_flocks(t, ino, dump_flock, &b), 0);
		ck_assert_int_eq(o->scan_plocks(t, ino, dump_plock, &b), 0);
	}
	ck_assert_int_eq(o->scan_all_chunks(t, dump_chunk, &b), 0);
	ck_assert_int_eq(o->scan_dead_refs(t, dump_ref, &b), 0);
	ck_assert_int_eq(o->scan_delslices(t, dump_delslices, &b), 0);
	ck_assert_int_eq(o->scan_delfiles(t, dump_delfile, &b), 0);
	ck_assert_int_eq(o->scan_sustained(t, 0, dump_sustained, &b), 0);
	ck_assert_int_eq(o->scan_sessions(t, dump_session, &b), 0);
	commit(m, t);
	buf_release(&tmp);
	return buf_detach(&b, NULL);
}

static uint8_t recs_a[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
			      13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24 };

/* A little of everything, committed. */
static void populate(struct meta *m)
{
	const struct meta_engine_ops *o = m->ops;
	struct meta_txn *t = begin(m, 1);
	struct meta_attr a;
	struct meta_dirstat d = { 4096, 8192, 2 };

	ck_assert_int_eq(o->set_setting(t, "{\"Name\":\"v\"}"), 0);
	ck_assert_int_eq(o->set_counter(t, "usedSpace", 8192), 0);
	ck_assert_int_eq(o->set_counter(t, "totalInodes", 3), 0);
	for (uint64_t i = 1; i <= 4; i++) {
		sample_attr(&a, i);
		ck_assert_int_eq(o->put_attr(t, i, &a), 0);
	}
	ck_assert_int_eq(o->put_entry(t, 1, "a", 1, 2, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "b", 1, 3, META_TYPE_DIRECTORY), 0);
	ck_assert_int_eq(o->put_entry(t, 3, "c", 1, 4, META_TYPE_SYMLINK), 0);
	ck_assert_int_eq(o->put_symlink(t, 4, "target", 6), 0);
	ck_assert_int_eq(o->put_xattr(t, 2, "user.k", "v1", 2), 0);
	ck_assert_int_eq(o->incr_parent(t, 2, 1, 1), 0);
	ck_assert_int_eq(o->append_chunk(t, 2, 0, recs_a, 24, NULL), 0);
	ck_assert_int_eq(o->new_slice(t, 77, 4096), 0);
	ck_assert_int_eq(o->incr_ref(t, 78, 100, -1, NULL), 0); /* dead */
	ck_assert_int_eq(o->put_delslices(t, 90, 1000, (const uint8_t *)"DS", 2), 0);
	ck_assert_int_eq(o->add_delfile(t, 9, 123, 55), 0);
	ck_assert_int_eq(o->put_session(t, 1, 5000, "{\"a\":1}"), 0);
	ck_assert_int_eq(o->add_sustained(t, 1, 2), 0);
	ck_assert_int_eq(o->incr_dirstat(t, 1, &d), 0);
	ck_assert_int_eq(o->put_flock(t, 2, 1, 10, 'R'), 0);
	ck_assert_int_eq(o->put_plock(t, 2, 1, 10, (const uint8_t *)"PL", 2), 0);
	commit(m, t);
}

/* ---------------------------------------------------------------- tests */

START_TEST(test_setting_and_schema)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;

	ck_assert_int_eq(o->init_schema(m), 0);
	ck_assert_int_eq(o->init_schema(m), 0); /* idempotent */
	ck_assert_int_eq(o->get_setting(m, &b), -ENOENT);

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->set_setting(t, "{\"x\":1}"), 0);
	o->abort(t);
	ck_assert_int_eq(o->get_setting(m, &b), -ENOENT);

	t = begin(m, 1);
	ck_assert_int_eq(o->set_setting(t, "{\"x\":2}"), 0);
	commit(m, t);
	buf_adds(&b, "junk");
	ck_assert_int_eq(o->get_setting(m, &b), 0);
	ck_assert_str_eq(b.ptr, "{\"x\":2}"); /* replaced, not appended */

	/* a capped buffer too small for the value reports it */
	struct buf small;
	buf_init(&small, 3);
	ck_assert_int_eq(o->get_setting(m, &small), -E2BIG);
	buf_release(&small);

	ck_assert_int_eq(o->reset(m), 0);
	ck_assert_int_eq(o->get_setting(m, &b), -ENOENT);
	buf_release(&b);
	close_mem(m);
}
END_TEST

START_TEST(test_counters)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	int64_t v = -1;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->get_counter(t, "usedSpace", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(o->incr_counter(t, "usedSpace", 4096, &v), 0);
	ck_assert_int_eq(v, 4096);
	ck_assert_int_eq(o->incr_counter(t, "usedSpace", -96, NULL), 0);
	ck_assert_int_eq(o->get_counter(t, "usedSpace", &v), 0);
	ck_assert_int_eq(v, 4000);
	ck_assert_int_eq(o->set_counter(t, "lastCleanupFiles", 1700000000), 0);
	ck_assert_int_eq(o->incr_counter(t, "totalInodes", -3, &v), 0);
	ck_assert_int_eq(v, -3);
	commit(m, t);

	t = begin(m, 1);
	ck_assert_int_eq(o->incr_counter(t, "usedSpace", 1, NULL), 0);
	ck_assert_int_eq(o->set_counter(t, "lastCleanupFiles", 5), 0);
	ck_assert_int_eq(o->set_counter(t, "fresh", 5), 0);
	o->abort(t);

	t = begin(m, 0);
	ck_assert_int_eq(o->get_counter(t, "usedSpace", &v), 0);
	ck_assert_int_eq(v, 4000);
	ck_assert_int_eq(o->get_counter(t, "lastCleanupFiles", &v), 0);
	ck_assert_int_eq(v, 1700000000);
	ck_assert_int_eq(o->get_counter(t, "totalInodes", &v), 0);
	ck_assert_int_eq(v, -3);
	ck_assert_int_eq(o->get_counter(t, "fresh", &v), 0);
	ck_assert_int_eq(v, 0);
	/* writes are refused in a read transaction */
	ck_assert_int_eq(o->set_counter(t, "usedSpace", 1), -EBADF);
	ck_assert_int_eq(o->incr_counter(t, "usedSpace", 1, NULL), -EBADF);
	commit(m, t);
	close_mem(m);
}
END_TEST

START_TEST(test_alloc_ids)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	uint64_t f = 0;
	int64_t v;

	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 1024, &f), 0);
	ck_assert_uint_eq(f, 2);
	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 1024, &f), 0);
	ck_assert_uint_eq(f, 1026);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 4096, &f), 0);
	ck_assert_uint_eq(f, 1);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 4096, &f), 0);
	ck_assert_uint_eq(f, 4097);
	ck_assert_int_eq(o->alloc_ids(m, "nextSession", 1, &f), 0);
	ck_assert_uint_eq(f, 1);
	ck_assert_int_eq(o->alloc_ids(m, "nextSession", 1, &f), 0);
	ck_assert_uint_eq(f, 2);
	ck_assert_int_eq(o->alloc_ids(m, "nextTrash", 1, &f), 0);
	ck_assert_uint_eq(f, 1);

	/* stored values follow the SQL/TKV engines (what a dump shows) */
	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->get_counter(t, "nextInode", &v), 0);
	ck_assert_int_eq(v, 2050);
	ck_assert_int_eq(o->get_counter(t, "nextChunk", &v), 0);
	ck_assert_int_eq(v, 8193);
	ck_assert_int_eq(o->get_counter(t, "nextSession", &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(o->get_counter(t, "nextTrash", &v), 0);
	ck_assert_int_eq(v, 1);
	/* a loaded dump sets counters; allocation continues from them */
	ck_assert_int_eq(o->set_counter(t, "nextInode", 100000), 0);
	ck_assert_int_eq(o->set_counter(t, "nextSession", 41), 0);
	commit(m, t);
	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 10, &f), 0);
	ck_assert_uint_eq(f, 100000);
	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 10, &f), 0);
	ck_assert_uint_eq(f, 100010);
	ck_assert_int_eq(o->alloc_ids(m, "nextSession", 1, &f), 0);
	ck_assert_uint_eq(f, 42);

	/* a counter set at format time (SQL initial values) is honoured */
	ck_assert_int_eq(o->reset(m), 0);
	t = begin(m, 1);
	ck_assert_int_eq(o->set_counter(t, "nextInode", 2), 0);
	ck_assert_int_eq(o->set_counter(t, "nextChunk", 1), 0);
	commit(m, t);
	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 1024, &f), 0);
	ck_assert_uint_eq(f, 2);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 1, &f), 0);
	ck_assert_uint_eq(f, 1);

	/* n = 0 peeks without reserving */
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 0, &f), 0);
	ck_assert_uint_eq(f, 2);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 1, &f), 0);
	ck_assert_uint_eq(f, 2);

	/* overflow is refused and changes nothing */
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", UINT64_MAX - 1, &f), -EOVERFLOW);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 1, &f), 0);
	ck_assert_uint_eq(f, 3);
	close_mem(m);
}
END_TEST

START_TEST(test_alloc_ids_inside_own_txn)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	uint64_t f = 0;
	int64_t v;

	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 10, &f), 0);
	ck_assert_uint_eq(f, 1);

	/* from inside the thread's own write transaction: survives its abort */
	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->set_counter(t, "nextChunk", 500), 0);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 10, &f), 0);
	ck_assert_uint_eq(f, 500);
	ck_assert_int_eq(o->get_counter(t, "nextChunk", &v), 0);
	ck_assert_int_eq(v, 510);
	o->abort(t);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 1, &f), 0);
	ck_assert_uint_eq(f, 510);

	/* ... and a later write in the same transaction is still undone */
	t = begin(m, 1);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 5, &f), 0);
	ck_assert_uint_eq(f, 511);
	ck_assert_int_eq(o->set_counter(t, "nextChunk", 7), 0);
	o->abort(t);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 1, &f), 0);
	ck_assert_uint_eq(f, 516);

	/* from inside a read transaction it cannot upgrade: refused, no hang */
	t = begin(m, 0);
	ck_assert_int_eq(o->alloc_ids(m, "nextChunk", 1, &f), -EDEADLK);
	commit(m, t);
	close_mem(m);
}
END_TEST

START_TEST(test_attr)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct meta_attr a, b;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->get_attr(t, 2, &b), -ENOENT);
	sample_attr(&a, 3);
	a.access_acl = 5;
	a.default_acl = 6;
	a.tier = 2;
	a.flags = META_FLAG_IMMUTABLE | META_FLAG_SKIP_TRASH;
	a.type = META_TYPE_CHARDEV;
	a.mode = 07777;
	a.rdev = 0x0801;
	ck_assert_int_eq(o->put_attr(t, 2, &a), 0);
	ck_assert_int_eq(o->get_attr(t, 2, &b), 0); /* read-your-writes */
	assert_attr_eq(&a, &b);
	commit(m, t);

	t = begin(m, 0);
	memset(&b, 0xee, sizeof(b));
	ck_assert_int_eq(o->get_attr(t, 2, &b), 0);
	assert_attr_eq(&a, &b);
	ck_assert_int_eq(o->get_attr(t, 3, &b), -ENOENT);
	ck_assert_int_eq(o->put_attr(t, 3, &a), -EBADF);
	ck_assert_int_eq(o->del_attr(t, 2), -EBADF);
	commit(m, t);

	/* large inode numbers, including the trash range */
	t = begin(m, 1);
	sample_attr(&a, 9);
	ck_assert_int_eq(o->put_attr(t, META_TRASH_INODE + 1, &a), 0);
	ck_assert_int_eq(o->put_attr(t, UINT64_MAX, &a), 0);
	ck_assert_int_eq(o->del_attr(t, 2), 0);
	ck_assert_int_eq(o->del_attr(t, 2), 0); /* absent: still fine */
	ck_assert_int_eq(o->get_attr(t, 2, &b), -ENOENT);
	commit(m, t);

	t = begin(m, 0);
	ck_assert_int_eq(o->get_attr(t, META_TRASH_INODE + 1, &b), 0);
	assert_attr_eq(&a, &b);
	ck_assert_int_eq(o->get_attr(t, UINT64_MAX, &b), 0);
	ck_assert_int_eq(o->get_attr(t, 2, &b), -ENOENT);
	commit(m, t);
	close_mem(m);
}
END_TEST

START_TEST(test_entries_basic)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	uint64_t ino = 0, n = 99;
	uint8_t type = 0;
	struct meta_attr a;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->get_entry(t, 1, "x", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(o->put_entry(t, 1, "x", 1, 5, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->get_entry(t, 1, "x", 1, &ino, &type), 0);
	ck_assert_uint_eq(ino, 5);
	ck_assert_uint_eq(type, META_TYPE_FILE);
	/* the length is honoured, not a NUL */
	ck_assert_int_eq(o->get_entry(t, 1, "xyz", 1, &ino, &type), 0);
	ck_assert_int_eq(o->get_entry(t, 1, "xyz", 2, &ino, &type), -ENOENT);
	/* replace */
	ck_assert_int_eq(o->put_entry(t, 1, "x", 1, 6, META_TYPE_DIRECTORY), 0);
	ck_assert_int_eq(o->get_entry(t, 1, "x", 1, &ino, &type), 0);
	ck_assert_uint_eq(ino, 6);
	ck_assert_uint_eq(type, META_TYPE_DIRECTORY);
	/* other directories and other records of the same inode stay apart */
	ck_assert_int_eq(o->put_entry(t, 2, "x", 1, 7, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->put_entry(t, 256, "y", 1, 8, META_TYPE_FILE), 0);
	sample_attr(&a, 1);
	ck_assert_int_eq(o->put_attr(t, 1, &a), 0);
	ck_assert_int_eq(o->put_xattr(t, 1, "user.a", "v", 1), 0);
	ck_assert_int_eq(o->append_chunk(t, 1, 0, recs_a, 24, NULL), 0);
	ck_assert_int_eq(o->count_entries(t, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(o->count_entries(t, 2, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(o->count_entries(t, 3, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(o->get_entry(t, 1, "y", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(o->get_entry(t, 256, "y", 1, &ino, NULL), 0);
	ck_assert_uint_eq(ino, 8);
	ck_assert_int_eq(o->del_entry(t, 1, "x", 1), 0);
	ck_assert_int_eq(o->get_entry(t, 1, "x", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(o->get_entry(t, 2, "x", 1, &ino, &type), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "x", 1), 0); /* absent: fine */
	commit(m, t);
	close_mem(m);
}
END_TEST

static int cmp_bytes(const void *x, const void *y)
{
	const char *const *a = x, *const *b = y;
	size_t la = strlen(*a), lb = strlen(*b);
	int c = memcmp(*a, *b, MIN(la, lb));
	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

START_TEST(test_scan_entries_order)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	/* names are bytes 0x01..0xff except '/': signedness and prefixes matter */
	static const char *const raw[] = {
		"a", "a\x01", "a\x7f", "a\x80", "a\xff", "ab", "a.b", "a-b", "A", "Z", "\x01",
		"\x01\x01", "\x7f", "\x80", "\xc3\xa9t\xc3\xa9", "\xff", "\xff\xff", "b", "ba",
		"b\xff", "0", "00", "9", ".hidden", "~", "abc", "abd", "ab\x01",
	};
	const size_t nraw = ARRAY_SIZE(raw);
	const char *sorted[ARRAY_SIZE(raw)];
	char big[300];

	memset(big, 'q', 255);
	big[255] = 0;

	struct meta_txn *t = begin(m, 1);
	/* insert in a scrambled order */
	for (size_t i = 0; i < nraw; i++) {
		size_t j = (i * 11) % nraw; /* 11 is coprime to nraw: a permutation */
		ck_assert_int_eq(o->put_entry(t, 42, raw[j], strlen(raw[j]), 100 + j,
					      (uint8_t)(1 + j % 7)), 0);
	}
	ck_assert_int_eq(o->put_entry(t, 41, "zz", 2, 1, 1), 0);
	ck_assert_int_eq(o->put_entry(t, 43, "\x01", 1, 1, 1), 0);
	commit(m, t);

	memcpy(sorted, raw, sizeof(raw));
	qsort(sorted, nraw, sizeof(sorted[0]), cmp_bytes);

	t = begin(m, 0);
	struct names ns = { .n = 0 };
	ck_assert_int_eq(o->scan_entries(t, 42, NULL, 0, 0, collect_entry, &ns), 0);
	ck_assert_uint_eq(ns.n, nraw);
	for (size_t i = 0; i < nraw; i++) {
		ck_assert_uint_eq(ns.lens[i], strlen(sorted[i]));
		ck_assert_mem_eq(ns.v[i], sorted[i], ns.lens[i]);
		size_t j = 0;
		while (raw[j] != sorted[i])
			j++;
		ck_assert_uint_eq(ns.ino[i], 100 + j);
		ck_assert_uint_eq(ns.type[i], 1 + j % 7);
	}
	names_free(&ns);

	/* paging with every page size reproduces the full order */
	for (size_t lim = 1; lim <= nraw + 1; lim++) {
		size_t got = 0;
		const char *after = NULL;
		char *keep = NULL;
		for (;;) {
			size_t alen = after ? strlen(after) : 0;
			int r = o->scan_entries(t, 42, after, alen, lim, collect_entry, &ns);
			ck_assert_int_eq(r, 0);
			ck_assert_uint_le(ns.n, lim);
			for (size_t i = 0; i < ns.n; i++)
				ck_assert_str_eq(ns.v[i], sorted[got + i]);
			got += ns.n;
			if (ns.n < lim) {
				names_free(&ns);
				break;
			}
			free(keep);
			keep = xstrdup(ns.v[ns.n - 1]);
			after = keep;
			names_free(&ns);
		}
		free(keep);
		ck_assert_uint_eq(got, nraw);
	}

	/* `after` need not exist; it is strictly after; length is honoured */
	ck_assert_int_eq(o->scan_entries(t, 42, "a\x02", 2, 3, collect_entry, &ns), 0);
	ck_assert_uint_eq(ns.n, 3);
	ck_assert_str_eq(ns.v[0], "a-b");
	ck_assert_str_eq(ns.v[1], "a.b");
	ck_assert_str_eq(ns.v[2], "ab");
	names_free(&ns);
	ck_assert_int_eq(o->scan_entries(t, 42, "abXXX", 2, 1, collect_entry, &ns), 0);
	ck_assert_uint_eq(ns.n, 1);
	ck_assert_str_eq(ns.v[0], "ab\x01");
	names_free(&ns);
	ck_assert_int_eq(o->scan_entries(t, 42, "", 0, 1, collect_entry, &ns), 0);
	ck_assert_str_eq(ns.v[0], sorted[0]);
	names_free(&ns);
	ck_assert_int_eq(o->scan_entries(t, 42, "\xff\xff", 2, 0, collect_entry, &ns), 0);
	ck_assert_uint_eq(ns.n, 0);
	/* an `after` longer than any key still sorts correctly */
	{
		char huge[3000];
		memset(huge, 'a', sizeof(huge) - 1);
		huge[sizeof(huge) - 1] = 0;
		ck_assert_int_eq(o->scan_entries(t, 42, huge, strlen(huge), 0, collect_entry,
						 &ns),
				 0);
		ck_assert_str_eq(ns.v[0], "ab");
		ck_assert_str_eq(ns.v[ns.n - 1], "\xff\xff");
		names_free(&ns);
	}

	/* a callback's non-zero result stops the scan and is returned */
	ns.stop_at = 2;
	ck_assert_int_eq(o->scan_entries(t, 42, NULL, 0, 0, collect_entry, &ns), 7);
	ck_assert_uint_eq(ns.n, 2);
	names_free(&ns);
	commit(m, t);

	/* the longest legal name and an empty directory */
	t = begin(m, 1);
	ck_assert_int_eq(o->put_entry(t, 44, big, 255, 9, 1), 0);
	ck_assert_int_eq(o->scan_entries(t, 44, NULL, 0, 0, collect_entry, &ns), 0);
	ck_assert_uint_eq(ns.n, 1);
	ck_assert_uint_eq(ns.lens[0], 255);
	names_free(&ns);
	ck_assert_int_eq(o->scan_entries(t, 45, NULL, 0, 0, collect_entry, &ns), 0);
	ck_assert_uint_eq(ns.n, 0);
	commit(m, t);
	close_mem(m);
}
END_TEST

static int delete_while_scanning(void *arg, const char *name, size_t len, uint64_t ino,
				 uint8_t type)
{
	void **p = arg;
	struct meta *m = p[0];
	struct meta_txn *t = p[1];
	struct names *ns = p[2];
	collect_entry(ns, name, len, ino, type);
	/* drop the current name and the one two places ahead; add one behind us */
	ck_assert_int_eq(m->ops->del_entry(t, 50, name, len), 0);
	if (len == 1 && name[0] < 'y') {
		char ahead = (char)(name[0] + 2);
		ck_assert_int_eq(m->ops->del_entry(t, 50, &ahead, 1), 0);
	}
	ck_assert_int_eq(m->ops->put_entry(t, 50, "0", 1, 1, 1), 0);
	return 0;
}

START_TEST(test_scan_with_modification)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct names ns = { .n = 0 };
	uint64_t n;

	struct meta_txn *t = begin(m, 1);
	for (char c = 'a'; c <= 'j'; c++)
		ck_assert_int_eq(o->put_entry(t, 50, &c, 1, (uint64_t)c, 1), 0);
	void *p[3] = { m, t, &ns };
	ck_assert_int_eq(o->scan_entries(t, 50, "0", 1, 0, delete_while_scanning, p), 0);
	/* a, (c gone), b, (d gone), e, (g gone), f, (h gone), i, j */
	ck_assert_uint_eq(ns.n, 6);
	ck_assert_str_eq(ns.v[0], "a");
	ck_assert_str_eq(ns.v[1], "b");
	ck_assert_str_eq(ns.v[2], "e");
	ck_assert_str_eq(ns.v[3], "f");
	ck_assert_str_eq(ns.v[4], "i");
	ck_assert_str_eq(ns.v[5], "j");
	names_free(&ns);
	ck_assert_int_eq(o->count_entries(t, 50, &n), 0);
	ck_assert_uint_eq(n, 1); /* only "0" */
	o->abort(t);

	t = begin(m, 0);
	ck_assert_int_eq(o->count_entries(t, 50, &n), 0);
	ck_assert_uint_eq(n, 0);
	commit(m, t);
	close_mem(m);
}
END_TEST

START_TEST(test_abort_restores_exactly)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct meta_attr a;
	struct meta_dirstat d = { 1, 2, 3 };
	uint64_t ino, n;
	size_t cnt;

	populate(m);
	char *before = dump_store(m);

	struct meta_txn *t = begin(m, 1);
	/* change, delete, create, and create-then-delete every kind of record */
	ck_assert_int_eq(o->set_setting(t, "{}"), 0);
	ck_assert_int_eq(o->incr_counter(t, "usedSpace", 4096, NULL), 0);
	ck_assert_int_eq(o->set_counter(t, "nextTrash", 9), 0);
	sample_attr(&a, 8);
	ck_assert_int_eq(o->put_attr(t, 2, &a), 0);
	ck_assert_int_eq(o->put_attr(t, 5, &a), 0);
	ck_assert_int_eq(o->del_attr(t, 3), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "a", 1), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "b", 1, 9, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "new", 3, 5, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "tmp", 3, 6, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "tmp", 3), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "a", 1, 11, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "a", 1), 0);
	ck_assert_int_eq(o->incr_parent(t, 2, 1, -1), 0);
	ck_assert_int_eq(o->incr_parent(t, 2, 7, 2), 0);
	ck_assert_int_eq(o->del_symlink(t, 4), 0);
	ck_assert_int_eq(o->put_symlink(t, 5, "x", 1), 0);
	ck_assert_int_eq(o->del_xattrs(t, 2), 0);
	ck_assert_int_eq(o->put_xattr(t, 3, "user.z", "1", 1), 0);
	ck_assert_int_eq(o->append_chunk(t, 2, 0, recs_a, 24, &cnt), 0);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_int_eq(o->append_chunk(t, 2, 0, recs_a, 24, &cnt), 0);
	ck_assert_uint_eq(cnt, 3);
	ck_assert_int_eq(o->append_chunk(t, 5, 3, recs_a, 24, NULL), 0);
	ck_assert_int_eq(o->incr_ref(t, 77, 4096, -1, NULL), 0);
	ck_assert_int_eq(o->del_ref(t, 78, 100), 0);
	ck_assert_int_eq(o->del_delslices(t, 90, 1000), 0);
	ck_assert_int_eq(o->put_delslices(t, 91, 1001, (const uint8_t *)"X", 1), 0);
	ck_assert_int_eq(o->del_delfile(t, 9), 0);
	ck_assert_int_eq(o->add_delfile(t, 10, 1, 1), 0);
	ck_assert_int_eq(o->touch_session(t, 1, 9999), 0);
	ck_assert_int_eq(o->put_session(t, 2, 1, "two"), 0);
	ck_assert_int_eq(o->del_sustained(t, 1, 2), 0);
	ck_assert_int_eq(o->add_sustained(t, 2, 3), 0);
	ck_assert_int_eq(o->incr_dirstat(t, 1, &d), 0);
	ck_assert_int_eq(o->incr_dirstat(t, 3, &d), 0);
	ck_assert_int_eq(o->del_session_locks(t, 1), 0);
	ck_assert_int_eq(o->put_flock(t, 3, 2, 1, 'W'), 0);
	ck_assert_int_eq(o->put_plock(t, 3, 2, 1, (const uint8_t *)"Q", 1), 0);

	/* all of it visible inside the transaction */
	ck_assert_int_eq(o->get_entry(t, 1, "a", 1, &ino, NULL), -ENOENT);
	ck_assert_int_eq(o->get_entry(t, 1, "b", 1, &ino, NULL), 0);
	ck_assert_uint_eq(ino, 9);
	ck_assert_int_eq(o->count_entries(t, 1, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(o->get_attr(t, 3, &a), -ENOENT);
	commit(m, t); /* commit a copy of this state in a second volume? no: check then abort */

	char *after_commit = dump_store(m);
	ck_assert_str_ne(before, after_commit);
	free(after_commit);
	close_mem(m);

	/* same again on a fresh volume, this time aborted */
	m = open_mem(NULL);
	o = m->ops;
	populate(m);
	char *before2 = dump_store(m);
	ck_assert_str_eq(before, before2);
	t = begin(m, 1);
	ck_assert_int_eq(o->set_setting(t, "{}"), 0);
	ck_assert_int_eq(o->incr_counter(t, "usedSpace", 4096, NULL), 0);
	ck_assert_int_eq(o->set_counter(t, "nextTrash", 9), 0);
	ck_assert_int_eq(o->put_attr(t, 2, &a), 0);
	ck_assert_int_eq(o->put_attr(t, 5, &a), 0);
	ck_assert_int_eq(o->del_attr(t, 3), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "a", 1), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "b", 1, 9, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "new", 3, 5, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "tmp", 3, 6, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "tmp", 3), 0);
	ck_assert_int_eq(o->put_entry(t, 1, "a", 1, 11, META_TYPE_FILE), 0);
	ck_assert_int_eq(o->del_entry(t, 1, "a", 1), 0);
	ck_assert_int_eq(o->incr_parent(t, 2, 1, -1), 0);
	ck_assert_int_eq(o->incr_parent(t, 2, 7, 2), 0);
	ck_assert_int_eq(o->del_symlink(t, 4), 0);
	ck_assert_int_eq(o->put_symlink(t, 5, "x", 1), 0);
	ck_assert_int_eq(o->del_xattrs(t, 2), 0);
	ck_assert_int_eq(o->put_xattr(t, 3, "user.z", "1", 1), 0);
	ck_assert_int_eq(o->append_chunk(t, 2, 0, recs_a, 24, NULL), 0);
	ck_assert_int_eq(o->set_chunk(t, 2, 0, NULL, 0), 0);
	ck_assert_int_eq(o->append_chunk(t, 5, 3, recs_a, 24, NULL), 0);
	ck_assert_int_eq(o->incr_ref(t, 77, 4096, -1, NULL), 0);
	ck_assert_int_eq(o->del_ref(t, 78, 100), 0);
	ck_assert_int_eq(o->del_delslices(t, 90, 1000), 0);
	ck_assert_int_eq(o->put_delslices(t, 91, 1001, (const uint8_t *)"X", 1), 0);
	ck_assert_int_eq(o->del_delfile(t, 9), 0);
	ck_assert_int_eq(o->add_delfile(t, 10, 1, 1), 0);
	ck_assert_int_eq(o->touch_session(t, 1, 9999), 0);
	ck_assert_int_eq(o->put_session(t, 2, 1, "two"), 0);
	ck_assert_int_eq(o->del_session(t, 1), 0);
	ck_assert_int_eq(o->del_sustained(t, 1, 2), 0);
	ck_assert_int_eq(o->add_sustained(t, 2, 3), 0);
	ck_assert_int_eq(o->incr_dirstat(t, 1, &d), 0);
	ck_assert_int_eq(o->incr_dirstat(t, 3, &d), 0);
	ck_assert_int_eq(o->del_dirstat(t, 1), 0);
	ck_assert_int_eq(o->del_session_locks(t, 1), 0);
	ck_assert_int_eq(o->put_flock(t, 3, 2, 1, 'W'), 0);
	ck_assert_int_eq(o->put_plock(t, 3, 2, 1, (const uint8_t *)"Q", 1), 0);
	ck_assert_int_eq(o->del_parents(t, 2), 0);
	o->abort(t);

	char *after_abort = dump_store(m);
	ck_assert_str_eq(before, after_abort);
	free(after_abort);
	free(before2);
	free(before);
	close_mem(m);
}
END_TEST

START_TEST(test_parents)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->incr_parent(t, 9, 5, 1), 0);
	ck_assert_int_eq(o->incr_parent(t, 9, 5, 1), 0);
	ck_assert_int_eq(o->incr_parent(t, 9, 300, 1), 0);
	ck_assert_int_eq(o->incr_parent(t, 9, 7, 1), 0);
	ck_assert_int_eq(o->incr_parent(t, 10, 8, 1), 0);
	ck_assert_int_eq(o->list_parents(t, 9, collect_u64, &b), 0);
	ck_assert_str_eq(b.ptr, "5,7,300,"); /* each once, numeric order */
	buf_reset(&b);
	ck_assert_int_eq(o->incr_parent(t, 9, 5, -1), 0);
	ck_assert_int_eq(o->incr_parent(t, 9, 7, -1), 0); /* last link: parent gone */
	ck_assert_int_eq(o->list_parents(t, 9, collect_u64, &b), 0);
	ck_assert_str_eq(b.ptr, "5,300,");
	buf_reset(&b);
	ck_assert_int_eq(o->del_parents(t, 9), 0);
	ck_assert_int_eq(o->list_parents(t, 9, collect_u64, &b), 0);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(o->list_parents(t, 10, collect_u64, &b), 0);
	ck_assert_str_eq(b.ptr, "8,");
	commit(m, t);
	buf_release(&b);
	close_mem(m);
}
END_TEST

START_TEST(test_symlink_xattr)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;
	struct names ns = { .n = 0 };
	char big[4096];

	memset(big, 'L', sizeof(big));
	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->get_symlink(t, 3, &b), -ENOENT);
	ck_assert_int_eq(o->put_symlink(t, 3, big, sizeof(big)), 0);
	ck_assert_int_eq(o->get_symlink(t, 3, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(big));
	ck_assert_mem_eq(b.ptr, big, sizeof(big));
	ck_assert_int_eq(o->put_symlink(t, 3, "short", 5), 0);
	ck_assert_int_eq(o->get_symlink(t, 3, &b), 0);
	ck_assert_str_eq(b.ptr, "short");
	ck_assert_int_eq(o->del_symlink(t, 3), 0);
	ck_assert_int_eq(o->get_symlink(t, 3, &b), -ENOENT);

	ck_assert_int_eq(o->get_xattr(t, 3, "user.a", &b), -ENOENT);
	ck_assert_int_eq(o->del_xattr(t, 3, "user.a"), -ENOENT);
	ck_assert_int_eq(o->put_xattr(t, 3, "user.b", "\0bin\0", 5), 0);
	ck_assert_int_eq(o->put_xattr(t, 3, "user.a", "", 0), 0);
	ck_assert_int_eq(o->put_xattr(t, 3, "security.x", "s", 1), 0);
	ck_assert_int_eq(o->put_xattr(t, 4, "user.other", "o", 1), 0);
	ck_assert_int_eq(o->get_xattr(t, 3, "user.b", &b), 0);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_mem_eq(b.ptr, "\0bin\0", 5);
	ck_assert_int_eq(o->get_xattr(t, 3, "user.a", &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(o->scan_xattrs(t, 3, collect_name, &ns), 0);
	ck_assert_uint_eq(ns.n, 3);
	ck_assert_str_eq(ns.v[0], "security.x");
	ck_assert_str_eq(ns.v[1], "user.a");
	ck_assert_str_eq(ns.v[2], "user.b");
	names_free(&ns);
	ck_assert_int_eq(o->del_xattr(t, 3, "user.a"), 0);
	ck_assert_int_eq(o->del_xattr(t, 3, "user.a"), -ENOENT);
	ck_assert_int_eq(o->del_xattrs(t, 3), 0);
	ck_assert_int_eq(o->scan_xattrs(t, 3, collect_name, &ns), 0);
	ck_assert_uint_eq(ns.n, 0);
	ck_assert_int_eq(o->get_xattr(t, 4, "user.other", &b), 0);
	ck_assert_str_eq(b.ptr, "o");
	commit(m, t);
	buf_release(&b);
	close_mem(m);
}
END_TEST

struct chunk_list {
	struct buf b;
	int n;
};

static int collect_chunk(void *arg, uint64_t ino, uint32_t indx, const uint8_t *recs, size_t len)
{
	struct chunk_list *c = arg;
	buf_addf(&c->b, "%llu/%u:%zu,", (unsigned long long)ino, indx, len / 24);
	UNUSED(recs);
	c->n++;
	return 0;
}

START_TEST(test_chunks)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;
	struct chunk_list cl = { BUF_INIT, 0 };
	uint8_t recs[72];
	size_t cnt = 0;
	struct meta_attr a;

	for (size_t i = 0; i < sizeof(recs); i++)
		recs[i] = (uint8_t)i;
	struct meta_txn *t = begin(m, 1);
	buf_adds(&b, "stale");
	ck_assert_int_eq(o->get_chunk(t, 5, 0, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(o->append_chunk(t, 5, 0, recs, 24, &cnt), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(o->append_chunk(t, 5, 0, recs + 24, 48, &cnt), 0);
	ck_assert_uint_eq(cnt, 3);
	ck_assert_int_eq(o->get_chunk(t, 5, 0, &b), 0);
	ck_assert_uint_eq(b.len, 72);
	ck_assert_mem_eq(b.ptr, recs, 72);
	ck_assert_int_eq(o->set_chunk(t, 5, 0, recs + 48, 24), 0);
	ck_assert_int_eq(o->get_chunk(t, 5, 0, &b), 0);
	ck_assert_uint_eq(b.len, 24);
	ck_assert_mem_eq(b.ptr, recs + 48, 24);
	ck_assert_int_eq(o->append_chunk(t, 5, 0, recs, 24, &cnt), 0);
	ck_assert_uint_eq(cnt, 2);

	/* indexes in numeric order, inodes in numeric order, others skipped */
	ck_assert_int_eq(o->append_chunk(t, 5, 0x01000000, recs, 24, NULL), 0);
	ck_assert_int_eq(o->append_chunk(t, 5, 256, recs, 24, NULL), 0);
	ck_assert_int_eq(o->append_chunk(t, 5, 1, recs, 48, NULL), 0);
	ck_assert_int_eq(o->append_chunk(t, 1000, 7, recs, 24, NULL), 0);
	ck_assert_int_eq(o->append_chunk(t, 2, 3, recs, 24, NULL), 0);
	ck_assert_int_eq(o->append_chunk(t, UINT64_MAX, 0, recs, 24, NULL), 0);
	sample_attr(&a, 1);
	for (uint64_t i = 1; i <= 6; i++) {
		ck_assert_int_eq(o->put_attr(t, i, &a), 0);
		ck_assert_int_eq(o->put_entry(t, i, "e", 1, i, 1), 0);
		ck_assert_int_eq(o->put_xattr(t, i, "user.x", "1", 1), 0);
	}
	ck_assert_int_eq(o->put_attr(t, UINT64_MAX, &a), 0);
	ck_assert_int_eq(o->scan_chunks(t, 5, collect_chunk, &cl), 0);
	ck_assert_str_eq(cl.b.ptr, "5/0:2,5/1:2,5/256:1,5/16777216:1,");
	buf_reset(&cl.b);
	ck_assert_int_eq(o->scan_chunks(t, 4, collect_chunk, &cl), 0);
	ck_assert_str_eq(cl.b.ptr, "");
	ck_assert_int_eq(o->scan_all_chunks(t, collect_chunk, &cl), 0);
	ck_assert_str_eq(cl.b.ptr, "2/3:1,5/0:2,5/1:2,5/256:1,5/16777216:1,1000/7:1,"
				   "18446744073709551615/0:1,");
	commit(m, t);

	/* read transactions may scan too; len 0 deletes */
	t = begin(m, 0);
	buf_reset(&cl.b);
	cl.n = 0;
	ck_assert_int_eq(o->scan_all_chunks(t, collect_chunk, &cl), 0);
	ck_assert_uint_eq(cl.n, 7);
	ck_assert_int_eq(o->set_chunk(t, 5, 0, NULL, 0), -EBADF);
	commit(m, t);
	t = begin(m, 1);
	ck_assert_int_eq(o->set_chunk(t, 5, 0, NULL, 0), 0);
	ck_assert_int_eq(o->get_chunk(t, 5, 0, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	buf_reset(&cl.b);
	ck_assert_int_eq(o->scan_chunks(t, 5, collect_chunk, &cl), 0);
	ck_assert_str_eq(cl.b.ptr, "5/1:2,5/256:1,5/16777216:1,");
	commit(m, t);
	buf_release(&cl.b);
	buf_release(&b);
	close_mem(m);
}
END_TEST

static int collect_ref(void *arg, const struct meta_slice_ref *r)
{
	struct buf *b = arg;
	buf_addf(b, "%llu/%u=%lld,", (unsigned long long)r->id, r->size, (long long)r->refs);
	return 0;
}

START_TEST(test_slice_refs)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;
	int64_t refs = 0;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->new_slice(t, 10, 4096), 0);
	ck_assert_int_eq(o->new_slice(t, 11, 100), 0);
	ck_assert_int_eq(o->new_slice(t, 12, 1 << 26), 0);
	ck_assert_int_eq(o->scan_dead_refs(t, collect_ref, &b), 0);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(o->incr_ref(t, 10, 4096, 1, &refs), 0);
	ck_assert_int_eq(refs, 2);
	ck_assert_int_eq(o->incr_ref(t, 10, 4096, -1, &refs), 0);
	ck_assert_int_eq(refs, 1);
	ck_assert_int_eq(o->incr_ref(t, 10, 4096, -1, &refs), 0);
	ck_assert_int_eq(refs, 0);
	ck_assert_int_eq(o->incr_ref(t, 11, 100, -2, &refs), 0);
	ck_assert_int_eq(refs, -1);
	/* same id, other size: a different record */
	ck_assert_int_eq(o->incr_ref(t, 12, 4096, 0, &refs), 0);
	ck_assert_int_eq(refs, 1);
	ck_assert_int_eq(o->incr_ref(t, 12, 1 << 26, 3, &refs), 0);
	ck_assert_int_eq(refs, 4);
	ck_assert_int_eq(o->scan_dead_refs(t, collect_ref, &b), 0);
	ck_assert_str_eq(b.ptr, "10/4096=0,11/100=-1,");
	buf_reset(&b);
	ck_assert_int_eq(o->del_ref(t, 10, 4096), 0);
	ck_assert_int_eq(o->del_ref(t, 10, 4096), 0);
	commit(m, t);

	t = begin(m, 0);
	ck_assert_int_eq(o->scan_dead_refs(t, collect_ref, &b), 0);
	ck_assert_str_eq(b.ptr, "11/100=-1,");
	ck_assert_int_eq(o->incr_ref(t, 11, 100, 1, &refs), -EBADF);
	commit(m, t);
	buf_release(&b);
	close_mem(m);
}
END_TEST

START_TEST(test_delslices_delfiles_sustained)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->put_delslices(t, 500, 2000, (const uint8_t *)"BB", 2), 0);
	ck_assert_int_eq(o->put_delslices(t, 400, 1000, (const uint8_t *)"AAA", 3), 0);
	ck_assert_int_eq(o->put_delslices(t, 600, 1000, (const uint8_t *)"C", 1), 0);
	ck_assert_int_eq(o->scan_delslices(t, dump_delslices, &b), 0);
	ck_assert_str_eq(b.ptr, "ds:400@1000:3:AAA\nds:600@1000:1:C\nds:500@2000:2:BB\n");
	buf_reset(&b);
	ck_assert_int_eq(o->del_delslices(t, 400, 1000), 0);
	ck_assert_int_eq(o->del_delslices(t, 500, 1), 0); /* wrong time: untouched */
	ck_assert_int_eq(o->scan_delslices(t, dump_delslices, &b), 0);
	ck_assert_str_eq(b.ptr, "ds:600@1000:1:C\nds:500@2000:2:BB\n");
	buf_reset(&b);

	ck_assert_int_eq(o->add_delfile(t, 300, 1 << 20, 50), 0);
	ck_assert_int_eq(o->add_delfile(t, 7, 0, 60), 0);
	ck_assert_int_eq(o->add_delfile(t, 7, 10, 70), 0); /* one record per inode */
	ck_assert_int_eq(o->scan_delfiles(t, dump_delfile, &b), 0);
	ck_assert_str_eq(b.ptr, "df:7/10@70\ndf:300/1048576@50\n");
	buf_reset(&b);
	ck_assert_int_eq(o->del_delfile(t, 7), 0);
	ck_assert_int_eq(o->scan_delfiles(t, dump_delfile, &b), 0);
	ck_assert_str_eq(b.ptr, "df:300/1048576@50\n");
	buf_reset(&b);

	ck_assert_int_eq(o->add_sustained(t, 2, 9), 0);
	ck_assert_int_eq(o->add_sustained(t, 1, 300), 0);
	ck_assert_int_eq(o->add_sustained(t, 1, 5), 0);
	ck_assert_int_eq(o->add_sustained(t, 1, 5), 0);
	ck_assert_int_eq(o->add_sustained(t, 256, 1), 0);
	ck_assert_int_eq(o->scan_sustained(t, 0, dump_sustained, &b), 0);
	ck_assert_str_eq(b.ptr, "ss:1/5\nss:1/300\nss:2/9\nss:256/1\n");
	buf_reset(&b);
	ck_assert_int_eq(o->scan_sustained(t, 1, dump_sustained, &b), 0);
	ck_assert_str_eq(b.ptr, "ss:1/5\nss:1/300\n");
	buf_reset(&b);
	ck_assert_int_eq(o->del_sustained(t, 1, 5), 0);
	ck_assert_int_eq(o->del_sustained(t, 1, 5), 0);
	ck_assert_int_eq(o->scan_sustained(t, 1, dump_sustained, &b), 0);
	ck_assert_str_eq(b.ptr, "ss:1/300\n");
	buf_reset(&b);
	ck_assert_int_eq(o->scan_sustained(t, 3, dump_sustained, &b), 0);
	ck_assert_str_eq(b.ptr, "");
	commit(m, t);
	buf_release(&b);
	close_mem(m);
}
END_TEST

static int drop_sustained(void *arg, uint64_t sid, uint64_t ino)
{
	void **p = arg;
	struct meta *m = p[0];
	int *n = p[2];
	(*n)++;
	return m->ops->del_sustained(p[1], sid, ino);
}

START_TEST(test_sessions_dirstats)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;
	struct meta_dirstat d = { 10, 4096, 1 }, g;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->touch_session(t, 3, 100), -ENOENT);
	ck_assert_int_eq(o->put_session(t, 3, 100, "{\"h\":3}"), 0);
	ck_assert_int_eq(o->put_session(t, 1, 50, NULL), 0);
	ck_assert_int_eq(o->put_session(t, 1000, 70, ""), 0);
	ck_assert_int_eq(o->touch_session(t, 3, 200), 0);
	ck_assert_int_eq(o->scan_sessions(t, dump_session, &b), 0);
	ck_assert_str_eq(b.ptr, "se:1@50:\nse:3@200:{\"h\":3}\nse:1000@70:\n");
	buf_reset(&b);
	ck_assert_int_eq(o->del_session(t, 3), 0);
	ck_assert_int_eq(o->touch_session(t, 3, 300), -ENOENT);
	ck_assert_int_eq(o->scan_sessions(t, dump_session, &b), 0);
	ck_assert_str_eq(b.ptr, "se:1@50:\nse:1000@70:\n");
	buf_reset(&b);

	/* a callback may delete what it is handed */
	int n = 0;
	void *p[3] = { m, t, &n };
	for (uint64_t i = 1; i <= 20; i++)
		ck_assert_int_eq(o->add_sustained(t, 1 + i % 3, i), 0);
	ck_assert_int_eq(o->scan_sustained(t, 0, drop_sustained, p), 0);
	ck_assert_int_eq(n, 20);
	ck_assert_int_eq(o->scan_sustained(t, 0, dump_sustained, &b), 0);
	ck_assert_str_eq(b.ptr, "");

	ck_assert_int_eq(o->get_dirstat(t, 5, &g), -ENOENT);
	ck_assert_int_eq(o->incr_dirstat(t, 5, &d), 0);
	ck_assert_int_eq(o->get_dirstat(t, 5, &g), 0);
	ck_assert_int_eq(g.length, 10);
	ck_assert_int_eq(g.space, 4096);
	ck_assert_int_eq(g.inodes, 1);
	d.length = -30;
	d.space = -4096;
	d.inodes = -2;
	ck_assert_int_eq(o->incr_dirstat(t, 5, &d), 0);
	ck_assert_int_eq(o->get_dirstat(t, 5, &g), 0);
	ck_assert_int_eq(g.length, -20);
	ck_assert_int_eq(g.space, 0);
	ck_assert_int_eq(g.inodes, -1);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(o->incr_dirstat(t, 6, &d), 0); /* zero deltas still create */
	ck_assert_int_eq(o->get_dirstat(t, 6, &g), 0);
	ck_assert_int_eq(g.inodes, 0);
	ck_assert_int_eq(o->del_dirstat(t, 5), 0);
	ck_assert_int_eq(o->get_dirstat(t, 5, &g), -ENOENT);
	commit(m, t);
	buf_release(&b);
	close_mem(m);
}
END_TEST

START_TEST(test_locks)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct buf b = BUF_INIT;

	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->put_flock(t, 5, 1, 0xA, 'R'), 0);
	ck_assert_int_eq(o->put_flock(t, 5, 2, 0xB, 'R'), 0);
	ck_assert_int_eq(o->put_flock(t, 5, 1, 0xC, 'W'), 0);
	ck_assert_int_eq(o->put_flock(t, 6, 1, 0xA, 'W'), 0);
	ck_assert_int_eq(o->put_flock(t, 5, 1, 0xA, 'W'), 0); /* replace */
	ck_assert_int_eq(o->scan_flocks(t, 5, dump_flock, &b), 0);
	ck_assert_str_eq(b.ptr, "  f:1/10=W\n  f:1/12=W\n  f:2/11=R\n");
	buf_reset(&b);
	ck_assert_int_eq(o->put_flock(t, 5, 1, 0xC, 0), 0);
	ck_assert_int_eq(o->put_flock(t, 5, 9, 9, 0), 0); /* absent: fine */
	ck_assert_int_eq(o->scan_flocks(t, 5, dump_flock, &b), 0);
	ck_assert_str_eq(b.ptr, "  f:1/10=W\n  f:2/11=R\n");
	buf_reset(&b);

	ck_assert_int_eq(o->put_plock(t, 5, 1, 0xA, (const uint8_t *)"r1", 2), 0);
	ck_assert_int_eq(o->put_plock(t, 5, 2, 0xB, (const uint8_t *)"r2", 2), 0);
	ck_assert_int_eq(o->put_plock(t, 7, 1, 0xA, (const uint8_t *)"r3", 2), 0);
	ck_assert_int_eq(o->put_plock(t, 5, 1, 0xA, (const uint8_t *)"r1b", 3), 0);
	ck_assert_int_eq(o->scan_plocks(t, 5, dump_plock, &b), 0);
	ck_assert_str_eq(b.ptr, "  p:1/10=3:r1b\n  p:2/11=2:r2\n");
	buf_reset(&b);
	ck_assert_int_eq(o->put_plock(t, 5, 2, 0xB, NULL, 0), 0);
	ck_assert_int_eq(o->scan_plocks(t, 5, dump_plock, &b), 0);
	ck_assert_str_eq(b.ptr, "  p:1/10=3:r1b\n");
	buf_reset(&b);
	ck_assert_int_eq(o->put_plock(t, 5, 2, 0xB, (const uint8_t *)"r2", 2), 0);

	/* a session's locks go, everywhere, and nobody else's */
	ck_assert_int_eq(o->del_session_locks(t, 1), 0);
	ck_assert_int_eq(o->scan_flocks(t, 5, dump_flock, &b), 0);
	ck_assert_int_eq(o->scan_flocks(t, 6, dump_flock, &b), 0);
	ck_assert_int_eq(o->scan_plocks(t, 5, dump_plock, &b), 0);
	ck_assert_int_eq(o->scan_plocks(t, 7, dump_plock, &b), 0);
	ck_assert_str_eq(b.ptr, "  f:2/11=R\n  p:2/11=2:r2\n");
	commit(m, t);
	buf_release(&b);
	close_mem(m);
}
END_TEST

START_TEST(test_reset)
{
	struct meta *m = open_mem(NULL);
	const struct meta_engine_ops *o = m->ops;
	struct meta *empty = open_mem(NULL);
	uint64_t f;

	populate(m);
	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 10, &f), 0);
	ck_assert_int_eq(o->reset(m), 0);
	char *a = dump_store(m), *b = dump_store(empty);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	ck_assert_int_eq(o->alloc_ids(m, "nextInode", 10, &f), 0);
	ck_assert_uint_eq(f, 2);
	/* usable after reset */
	populate(m);
	struct meta_txn *t = begin(m, 1);
	ck_assert_int_eq(o->reset(m), -EDEADLK); /* never under our own transaction */
	commit(m, t);
	close_mem(empty);
	close_mem(m);
}
END_TEST

START_TEST(test_nested_begin_refused)
{
	struct meta *m = open_mem("nest");
	struct meta *m2 = open_mem("nest");
	const struct meta_engine_ops *o = m->ops;
	struct meta_txn *t, *t2;
	struct buf b = BUF_INIT;

	t = begin(m, 1);
	ck_assert_int_eq(o->begin(m, 1, &t2), -EDEADLK);
	ck_assert_int_eq(o->begin(m, 0, &t2), -EDEADLK);
	ck_assert_int_eq(o->begin(m2, 1, &t2), -EDEADLK); /* same store, other handle */
	ck_assert_int_eq(o->set_setting(t, "{\"s\":1}"), 0);
	/* outside-transaction reads under our own write see our writes */
	ck_assert_int_eq(o->get_setting(m, &b), 0);
	ck_assert_str_eq(b.ptr, "{\"s\":1}");
	o->abort(t);
	ck_assert_int_eq(o->get_setting(m, &b), -ENOENT);

	/* nested reads are fine; upgrading is not */
	t = begin(m, 0);
	t2 = begin(m2, 0);
	struct meta_txn *t3 = NULL;
	ck_assert_int_eq(o->begin(m, 1, &t3), -EDEADLK);
	ck_assert_ptr_null(t3);
	commit(m, t2);
	ck_assert_int_eq(o->get_setting(m, &b), -ENOENT);
	commit(m, t);

	/* and everything is released again */
	t = begin(m2, 1);
	commit(m2, t);
	buf_release(&b);
	close_mem(m2);
	close_mem(m);
}
END_TEST

START_TEST(test_shared_instance)
{
	struct meta *a = open_mem("vol1");
	struct meta *b = open_mem("/vol1"); /* mem:///vol1 names the same instance */
	struct meta *c = open_mem("vol2");
	struct meta *p1 = open_mem(NULL);
	struct meta *p2 = open_mem("");
	struct buf s = BUF_INIT;

	struct meta_txn *t = begin(a, 1);
	ck_assert_int_eq(a->ops->set_setting(t, "{\"v\":1}"), 0);
	commit(a, t);
	t = begin(p1, 1);
	ck_assert_int_eq(p1->ops->set_setting(t, "{\"p\":1}"), 0);
	commit(p1, t);

	ck_assert_int_eq(b->ops->get_setting(b, &s), 0);
	ck_assert_str_eq(s.ptr, "{\"v\":1}");
	ck_assert_int_eq(c->ops->get_setting(c, &s), -ENOENT);
	ck_assert_int_eq(p2->ops->get_setting(p2, &s), -ENOENT); /* mem:// is private */

	/* ids are shared like two clients of one database */
	uint64_t f1, f2;
	ck_assert_int_eq(a->ops->alloc_ids(a, "nextInode", 100, &f1), 0);
	ck_assert_int_eq(b->ops->alloc_ids(b, "nextInode", 100, &f2), 0);
	ck_assert_uint_eq(f1, 2);
	ck_assert_uint_eq(f2, 102);

	/* the store outlives one handle and dies with the last */
	close_mem(a);
	ck_assert_int_eq(b->ops->get_setting(b, &s), 0);
	a = open_mem("vol1");
	ck_assert_int_eq(a->ops->get_setting(a, &s), 0);
	close_mem(a);
	close_mem(b);
	a = open_mem("vol1");
	ck_assert_int_eq(a->ops->get_setting(a, &s), -ENOENT);
	close_mem(a);

	close_mem(c);
	close_mem(p1);
	close_mem(p2);
	buf_release(&s);
}
END_TEST

START_TEST(test_open_errors)
{
	struct conf_meta_url u;
	struct buf err = BUF_INIT;
	struct meta *m = NULL;
	char name[400];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	memset(&u, 0, sizeof(u));
	u.scheme = "mem";
	u.path = name;
	ck_assert_int_eq(meta_mem_open(&u, &m, &err), -EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_uint_gt(err.len, 0);
	buf_release(&err);
}
END_TEST

/* ---------------------------------------------------------------- threads */

#define WRITERS 4
#define ROUNDS 400

struct worker {
	struct meta *m;
	int failures;
};

static void *writer_main(void *arg)
{
	struct worker *w = arg;
	const struct meta_engine_ops *o = w->m->ops;
	for (int i = 0; i < ROUNDS; i++) {
		struct meta_txn *t;
		int64_t v;
		if (i % 10 == 9) {
			/* an aborted round must leave no trace */
			if (o->begin(w->m, 1, &t)) {
				w->failures++;
				continue;
			}
			o->set_counter(t, "hits", -1000);
			o->set_counter(t, "mirror", -2000);
			o->abort(t);
		}
		if (o->begin(w->m, 1, &t)) {
			w->failures++;
			continue;
		}
		/* read-modify-write: a lost update would show in the total */
		if (o->get_counter(t, "hits", &v) || o->set_counter(t, "hits", v + 1) ||
		    o->set_counter(t, "mirror", v + 1)) {
			w->failures++;
			o->abort(t);
			continue;
		}
		if (o->commit(t))
			w->failures++;
	}
	return NULL;
}

static atomic_int readers_stop;

static void *reader_main(void *arg)
{
	struct worker *w = arg;
	const struct meta_engine_ops *o = w->m->ops;
	while (!readers_stop) {
		struct meta_txn *t;
		int64_t a, b;
		if (o->begin(w->m, 0, &t)) {
			w->failures++;
			break;
		}
		o->get_counter(t, "hits", &a);
		o->get_counter(t, "mirror", &b);
		o->commit(t);
		/* never a half-written or aborted state */
		if (a != b || a < 0)
			w->failures++;
	}
	return NULL;
}

START_TEST(test_concurrent_writers)
{
	struct meta *ms[WRITERS + 1];
	struct worker w[WRITERS + 1];
	pthread_t th[WRITERS + 1];

	/* half the writers share a handle, half have their own on the same store */
	ms[0] = open_mem("concurrent");
	for (int i = 1; i <= WRITERS; i++)
		ms[i] = i % 2 ? ms[0] : open_mem("concurrent");
	readers_stop = 0;
	for (int i = 0; i <= WRITERS; i++) {
		w[i].m = ms[i];
		w[i].failures = 0;
	}
	ck_assert_int_eq(pthread_create(&th[0], NULL, reader_main, &w[0]), 0);
	for (int i = 1; i <= WRITERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	for (int i = 1; i <= WRITERS; i++)
		pthread_join(th[i], NULL);
	readers_stop = 1;
	pthread_join(th[0], NULL);
	for (int i = 0; i <= WRITERS; i++)
		ck_assert_int_eq(w[i].failures, 0);

	struct meta_txn *t = begin(ms[0], 0);
	int64_t v;
	ck_assert_int_eq(ms[0]->ops->get_counter(t, "hits", &v), 0);
	ck_assert_int_eq(v, WRITERS * ROUNDS);
	commit(ms[0], t);
	for (int i = WRITERS; i >= 1; i--)
		if (ms[i] != ms[0])
			close_mem(ms[i]);
	close_mem(ms[0]);
}
END_TEST

struct alloc_worker {
	struct meta *m;
	uint64_t firsts[200];
	int rc;
};

static void *alloc_main(void *arg)
{
	struct alloc_worker *w = arg;
	for (int i = 0; i < 200 && !w->rc; i++)
		w->rc = w->m->ops->alloc_ids(w->m, "nextChunk", 10, &w->firsts[i]);
	return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

START_TEST(test_concurrent_alloc)
{
	struct alloc_worker w[4];
	pthread_t th[4];
	uint64_t all[800];
	struct meta *m = open_mem(NULL);

	for (int i = 0; i < 4; i++) {
		w[i].m = m;
		w[i].rc = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, alloc_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].rc, 0);
		memcpy(all + 200 * i, w[i].firsts, sizeof(w[i].firsts));
	}
	qsort(all, 800, sizeof(all[0]), cmp_u64);
	for (int i = 0; i < 800; i++)
		ck_assert_uint_eq(all[i], 1 + 10 * (uint64_t)i); /* disjoint and dense */
	close_mem(m);
}
END_TEST

struct holder {
	struct meta *m;
	int write;
	atomic_int state; /* 1 = holding, 2 = released */
	atomic_int go;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	struct meta_txn *t;
	if (h->m->ops->begin(h->m, h->write, &t))
		return NULL;
	h->state = 1;
	while (!h->go)
		sleep_ms(1);
	h->state = 2;
	h->m->ops->commit(t);
	return NULL;
}

struct acquirer {
	struct meta *m;
	int write;
	atomic_int acquired;
	int holder_state_seen;
	struct holder *h;
};

static void *acquirer_main(void *arg)
{
	struct acquirer *a = arg;
	struct meta_txn *t;
	if (a->m->ops->begin(a->m, a->write, &t))
		return NULL;
	a->holder_state_seen = a->h->state;
	a->acquired = 1;
	a->m->ops->commit(t);
	return NULL;
}

/* holder takes `hw`, acquirer wants `aw`: check it waits exactly until release */
static void check_exclusion(struct meta *hm, int hw, struct meta *am, int aw, int must_wait)
{
	struct holder h = { hm, hw, 0, 0 };
	struct acquirer a = { am, aw, 0, 0, &h };
	pthread_t th, ta;

	ck_assert_int_eq(pthread_create(&th, NULL, holder_main, &h), 0);
	while (h.state != 1)
		sleep_ms(1);
	ck_assert_int_eq(pthread_create(&ta, NULL, acquirer_main, &a), 0);
	if (must_wait) {
		sleep_ms(100);
		ck_assert_int_eq(a.acquired, 0);
		h.go = 1;
		pthread_join(ta, NULL);
		ck_assert_int_eq(a.acquired, 1);
		ck_assert_int_eq(a.holder_state_seen, 2);
	} else {
		pthread_join(ta, NULL); /* would hang if readers excluded each other */
		ck_assert_int_eq(a.acquired, 1);
		ck_assert_int_eq(a.holder_state_seen, 1);
		h.go = 1;
	}
	pthread_join(th, NULL);
}

START_TEST(test_reader_writer_exclusion)
{
	struct meta *m = open_mem("rw");
	struct meta *m2 = open_mem("rw");

	check_exclusion(m, 0, m, 0, 0);  /* readers share */
	check_exclusion(m, 0, m, 1, 1);  /* a writer waits for a reader */
	check_exclusion(m, 1, m, 0, 1);  /* a reader waits for a writer */
	check_exclusion(m, 1, m, 1, 1);  /* writers are serialised */
	check_exclusion(m, 1, m2, 1, 1); /* also across handles of one store */
	check_exclusion(m2, 0, m, 1, 1);

	/* a private store does not block a shared one, nor the other way round */
	struct meta *p = open_mem(NULL);
	struct holder h = { m, 1, 0, 0 };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, holder_main, &h), 0);
	while (h.state != 1)
		sleep_ms(1);
	struct meta_txn *t = begin(p, 1);
	commit(p, t);
	h.go = 1;
	pthread_join(th, NULL);
	close_mem(p);
	close_mem(m2);
	close_mem(m);
}
END_TEST

static Suite *memkv_suite(void)
{
	Suite *s = suite_create("memkv");
	TCase *tc = tcase_create("primitives");
	tcase_add_test(tc, test_setting_and_schema);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_alloc_ids);
	tcase_add_test(tc, test_alloc_ids_inside_own_txn);
	tcase_add_test(tc, test_attr);
	tcase_add_test(tc, test_entries_basic);
	tcase_add_test(tc, test_scan_entries_order);
	tcase_add_test(tc, test_scan_with_modification);
	tcase_add_test(tc, test_abort_restores_exactly);
	tcase_add_test(tc, test_parents);
	tcase_add_test(tc, test_symlink_xattr);
	tcase_add_test(tc, test_chunks);
	tcase_add_test(tc, test_slice_refs);
	tcase_add_test(tc, test_delslices_delfiles_sustained);
	tcase_add_test(tc, test_sessions_dirstats);
	tcase_add_test(tc, test_locks);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_open_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_test(tc, test_nested_begin_refused);
	tcase_add_test(tc, test_shared_instance);
	tcase_add_test(tc, test_concurrent_writers);
	tcase_add_test(tc, test_concurrent_alloc);
	tcase_add_test(tc, test_reader_writer_exclusion);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* every engine error these tests provoke is checked by its return code */
	log_set_level(LOG_FATAL);
	SRunner *sr = srunner_create(memkv_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
