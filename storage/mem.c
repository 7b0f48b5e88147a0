/*
 * storage/mem.c: the "mem" back end, objects in a sorted array in memory.
 *
 * Meant for tests and throw-away volumes. The array is kept in key byte order
 * (strcmp compares as unsigned char), so lookups are binary searches and list
 * is a scan from a binary-searched start; inserts move pointers, which is
 * fine for the object counts a memory volume can hold.
 *
 * list copies a batch of entries under the read lock and calls the callback
 * with no lock held, so a callback may itself put or delete (destroy lists
 * and deletes in one pass); each batch resumes strictly after the last key
 * seen, which is exactly the start_after rule.
 */
#include "storage/obj.h"

#include <limits.h>
#include <pthread.h>

#define LIST_BATCH 256

struct mem_obj {
	char *key;
	uint8_t *data;
	size_t size;
	int64_t mtime_us;
};

struct mem_store {
	struct obj_store base;
	pthread_rwlock_t lock;
	struct mem_obj *objs; /* sorted by key */
	size_t n, alloc;
};

static const struct obj_ops mem_ops;

static struct mem_store *mem_of(struct obj_store *s)
{
	BUG_ON(s->ops != &mem_ops);
	return (struct mem_store *)s;
}

/* Index of the first key >= key (or > key when `after`). Lock held. */
static size_t mem_bound(struct mem_store *m, const char *key, int after)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->objs[mid].key, key);
		if (c < 0 || (after && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of key, or -1. Lock held. */
static ssize_t mem_find(struct mem_store *m, const char *key)
{
	size_t i = mem_bound(m, key, 0);

	return i < m->n && !strcmp(m->objs[i].key, key) ? (ssize_t)i : -1;
}

static int mem_put(struct obj_store *s, const char *key, const void *data, size_t len)
{
	struct mem_store *m = mem_of(s);
	uint8_t *copy, *old = NULL;
	size_t i;

	if (!*key)
		return -EINVAL;
	/* Copy before locking: readers never wait for a large memcpy. */
	copy = xmalloc(len ? len : 1);
	if (len)
		memcpy(copy, data, len);
	pthread_rwlock_wrlock(&m->lock);
	i = mem_bound(m, key, 0);
	if (i < m->n && !strcmp(m->objs[i].key, key)) {
		old = m->objs[i].data;
	} else {
		if (m->n == m->alloc) {
			m->alloc = m->alloc ? m->alloc * 2 : 64;
			m->objs = xrealloc(m->objs, m->alloc * sizeof(*m->objs));
		}
		memmove(&m->objs[i + 1], &m->objs[i], (m->n - i) * sizeof(*m->objs));
		m->objs[i].key = xstrdup(key);
		m->n++;
	}
	m->objs[i].data = copy;
	m->objs[i].size = len;
	m->objs[i].mtime_us = now_us();
	pthread_rwlock_unlock(&m->lock);
	free(old);
	return 0;
}

static ssize_t mem_get(struct obj_store *s, const char *key, uint64_t off, void *dst, size_t len)
{
	struct mem_store *m = mem_of(s);
	ssize_t i, r = 0;

	pthread_rwlock_rdlock(&m->lock);
	i = mem_find(m, key);
	if (i < 0) {
		r = -ENOENT;
	} else if (off < m->objs[i].size) {
		size_t n = (size_t)MIN((uint64_t)len, m->objs[i].size - off);
		n = MIN(n, (size_t)SSIZE_MAX);
		memcpy(dst, m->objs[i].data + off, n);
		r = (ssize_t)n;
	}
	pthread_rwlock_unlock(&m->lock);
	return r;
}

static int mem_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	struct mem_store *m = mem_of(s);
	ssize_t i;
	int r = 0;

	pthread_rwlock_rdlock(&m->lock);
	i = mem_find(m, key);
	if (i < 0) {
		r = -ENOENT;
	} else {
		oi->key = key;
		oi->size = m->objs[i].size;
		oi->mtime_us = m->objs[i].mtime_us;
	}
	pthread_rwlock_unlock(&m->lock);
	return r;
}

static int mem_del(struct obj_store *s, const char *key)
{
	struct mem_store *m = mem_of(s);
	struct mem_obj gone = { 0 };
	ssize_t i;

	pthread_rwlock_wrlock(&m->lock);
	i = mem_find(m, key);
	if (i >= 0) {
		gone = m->objs[i];
		memmove(&m->objs[i], &m->objs[i + 1], (m->n - (size_t)i - 1) * sizeof(*m->objs));
		m->n--;
	}
	pthread_rwlock_unlock(&m->lock);
	free(gone.key);
	free(gone.data);
	return 0;
}

static int mem_list(struct obj_store *s, const char *prefix, const char *start_after,
		    size_t limit, obj_list_fn cb, void *arg)
{
	struct mem_store *m = mem_of(s);
	struct obj_info batch[LIST_BATCH];
	size_t plen, count = 0, nb = 0;
	char *cursor = start_after ? xstrdup(start_after) : NULL;
	int r = 0, end = 0;

	prefix = prefix ? prefix : "";
	plen = strlen(prefix);
	while (!end && !r) {
		size_t i, want = LIST_BATCH;

		if (limit)
			want = MIN(want, limit - count);
		pthread_rwlock_rdlock(&m->lock);
		i = mem_bound(m, prefix, 0);
		if (cursor)
			i = MAX(i, mem_bound(m, cursor, 1));
		for (nb = 0; nb < want && i < m->n; i++) {
			struct mem_obj *o = &m->objs[i];
			/* Keys with the prefix are contiguous: the first miss ends it. */
			if (strncmp(o->key, prefix, plen))
				break;
			batch[nb].key = xstrdup(o->key);
			batch[nb].size = o->size;
			batch[nb].mtime_us = o->mtime_us;
			nb++;
		}
		end = nb < want || i >= m->n;
		pthread_rwlock_unlock(&m->lock);

		for (size_t j = 0; j < nb && !r; j++) {
			r = cb(arg, &batch[j]);
			count++;
		}
		if (limit && count >= limit)
			end = 1;
		if (nb) {
			free(cursor);
			cursor = (char *)batch[nb - 1].key;
			batch[nb - 1].key = NULL;
		}
		for (size_t j = 0; j < nb; j++)
			free((char *)batch[j].key);
	}
	free(cursor);
	return r;
}

static int mem_create_bucket(struct obj_store *s)
{
	UNUSED(s);
	return 0;
}

static void mem_free(struct obj_store *s)
{
	struct mem_store *m = mem_of(s);

	for (size_t i = 0; i < m->n; i++) {
		free(m->objs[i].key);
		free(m->objs[i].data);
	}
	free(m->objs);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

static const char *mem_describe(struct obj_store *s)
{
	UNUSED(s);
	return "mem://";
}

static const struct obj_ops mem_ops = {
	.name = "mem",
	.create_bucket = mem_create_bucket,
	.put = mem_put,
	.get = mem_get,
	.head = mem_head,
	.del = mem_del,
	.list = mem_list,
	.free = mem_free,
	.describe = mem_describe,
};

struct obj_store *obj_mem_new(void)
{
	struct mem_store *m = xcalloc(1, sizeof(*m));

	m->base.ops = &mem_ops;
	pthread_rwlock_init(&m->lock, NULL);
	return &m->base;
}
