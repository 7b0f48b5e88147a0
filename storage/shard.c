/*
 * storage/shard.c: one volume over N buckets, as JuiceFS's "sharded" store
 * (pkg/object/sharding.go) spreads it.
 *
 * The bucket URL of a volume formatted with --shards N holds a "%d"; shard i
 * is that URL with i in its place. An object lives in shard
 * FNV-1a-32(key) % N, where key is the whole key below the bucket, "<Name>/"
 * included (the prefix wrapper sits above this one, as in JuiceFS), so both
 * clients put every object in the same bucket.
 *
 * list merges the shards' listings in key order. Each shard is read a page
 * at a time from just after the last key taken from it, so memory stays at
 * N pages whatever the bucket holds; a key is handed to the caller only when
 * it is the smallest head of all shards, which gives the byte order the
 * contract asks for.
 */
#include "storage/obj.h"

#define PAGE 1000

struct shard_store {
	struct obj_store base;
	int n;
	struct obj_store **s;
	char *desc;
};

static const struct obj_ops shard_ops;

static struct shard_store *shard_of(struct obj_store *s)
{
	BUG_ON(s->ops != &shard_ops);
	return (struct shard_store *)s;
}

uint32_t obj_shard_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static struct obj_store *pick(struct shard_store *sh, const char *key)
{
	return sh->s[obj_shard_hash(key) % (uint32_t)sh->n];
}

static int shard_put(struct obj_store *s, const char *key, const void *data, size_t len)
{
	return obj_put(pick(shard_of(s), key), key, data, len);
}

static ssize_t shard_get(struct obj_store *s, const char *key, uint64_t off, void *dst, size_t len)
{
	return obj_get(pick(shard_of(s), key), key, off, dst, len);
}

static int shard_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	return obj_head(pick(shard_of(s), key), key, oi);
}

static int shard_del(struct obj_store *s, const char *key)
{
	return obj_delete(pick(shard_of(s), key), key);
}

struct ent {
	char *key;
	uint64_t size;
	int64_t mtime_us;
};

struct page {
	struct ent *v;
	size_t n, pos, alloc;
	int more; /* the shard may hold keys after this page */
	char *last; /* the last key of the page: where the next page starts */
};

static int page_cb(void *arg, const struct obj_info *oi)
{
	struct page *p = arg;

	if (p->n == p->alloc) {
		p->alloc = p->alloc ? p->alloc * 2 : 64;
		p->v = xrealloc(p->v, p->alloc * sizeof(*p->v));
	}
	p->v[p->n++] = (struct ent){ xstrdup(oi->key), oi->size, oi->mtime_us };
	return 0;
}

static void page_clear(struct page *p)
{
	for (size_t i = p->pos; i < p->n; i++)
		free(p->v[i].key);
	p->n = p->pos = 0;
}

/* Refill an exhausted page from its shard, after the last key it gave. */
static int page_fill(struct obj_store *s, struct page *p, const char *prefix,
		     const char *start_after)
{
	int r;

	page_clear(p);
	r = obj_list(s, prefix, p->last ? p->last : start_after, PAGE, page_cb, p);
	if (r < 0)
		return r;
	p->more = p->n == PAGE;
	if (p->n) {
		free(p->last);
		p->last = xstrdup(p->v[p->n - 1].key);
	}
	return 0;
}

static int shard_list(struct obj_store *s, const char *prefix, const char *start_after,
		      size_t limit, obj_list_fn cb, void *arg)
{
	struct shard_store *sh = shard_of(s);
	struct page *pg = xcalloc((size_t)sh->n, sizeof(*pg));
	size_t given = 0;
	int r = 0;

	for (int i = 0; i < sh->n && !r; i++)
		r = page_fill(sh->s[i], &pg[i], prefix, start_after);
	while (!r && (!limit || given < limit)) {
		int best = -1;
		for (int i = 0; i < sh->n; i++) {
			if (pg[i].pos == pg[i].n && pg[i].more &&
			    (r = page_fill(sh->s[i], &pg[i], prefix, start_after)))
				break;
			if (pg[i].pos < pg[i].n &&
			    (best < 0 || strcmp(pg[i].v[pg[i].pos].key,
						pg[best].v[pg[best].pos].key) < 0))
				best = i;
		}
		if (r || best < 0)
			break;
		struct ent *e = &pg[best].v[pg[best].pos++];
		struct obj_info oi = { e->key, e->size, e->mtime_us };
		r = cb(arg, &oi);
		free(e->key);
		given++;
	}
	for (int i = 0; i < sh->n; i++) {
		page_clear(&pg[i]);
		free(pg[i].v);
		free(pg[i].last);
	}
	free(pg);
	return r;
}

static int shard_create_bucket(struct obj_store *s)
{
	struct shard_store *sh = shard_of(s);

	for (int i = 0; i < sh->n; i++) {
		int r = obj_create_bucket(sh->s[i]);
		if (r && r != -EEXIST)
			return r;
	}
	return 0;
}

static int shard_sync(struct obj_store *s)
{
	struct shard_store *sh = shard_of(s);
	int r = 0;

	for (int i = 0; i < sh->n; i++) {
		int e = obj_sync(sh->s[i]);
		if (e && !r)
			r = e;
	}
	return r;
}

static const char *shard_describe(struct obj_store *s) { return shard_of(s)->desc; }

static void shard_free(struct obj_store *s)
{
	struct shard_store *sh = shard_of(s);

	for (int i = 0; i < sh->n; i++)
		obj_free(sh->s[i]);
	free(sh->s);
	free(sh->desc);
	free(sh);
}

static const struct obj_ops shard_ops = {
	.name = "sharded",
	.create_bucket = shard_create_bucket,
	.put = shard_put,
	.get = shard_get,
	.head = shard_head,
	.del = shard_del,
	.list = shard_list,
	.free = shard_free,
	.sync = shard_sync,
	.describe = shard_describe,
};

int obj_shard_create(const char *storage, const char *bucket, int shards, const char *ak,
		     const char *sk, const char *token, struct obj_store **out, struct buf *err)
{
	struct shard_store *sh;
	const char *pct = bucket ? strstr(bucket, "%d") : NULL;
	int r = 0;

	*out = NULL;
	if (shards < 2 || shards > 256) {
		buf_addf(err, "invalid shards: %d", shards);
		return -EINVAL;
	}
	if (!pct) {
		buf_addf(err, "can not generate different endpoint using %s", bucket ? bucket : "");
		return -EINVAL;
	}
	sh = xcalloc(1, sizeof(*sh));
	sh->base.ops = &shard_ops;
	sh->n = shards;
	sh->s = xcalloc((size_t)shards, sizeof(*sh->s));
	for (int i = 0; i < shards && !r; i++) {
		char *ep = xasprintf("%.*s%d%s", (int)(pct - bucket), bucket, i, pct + 2);
		r = obj_create(storage, ep, ak, sk, token, &sh->s[i], err);
		free(ep);
	}
	if (r) {
		shard_free(&sh->base);
		return r;
	}
	sh->desc = xasprintf("shard%d://%s", shards, obj_describe(sh->s[0]));
	*out = &sh->base;
	return 0;
}
