/*
 * storage/prefix.c: a wrapper that puts every key under a fixed prefix.
 *
 * JuiceFS wraps the bucket with "<Name>/" (spec §5.1), so the volume's keys
 * ("juicefs_uuid", "chunks/...") land at "<Name>/juicefs_uuid" and so on. The
 * wrapper adds the prefix on the way in and strips it from list results; the
 * prefix is an opaque byte string, so byte order is preserved.
 */
#include "storage/obj.h"

struct prefix_store {
	struct obj_store base;
	char *prefix;
	size_t len;
	char *desc;
};

static const struct obj_ops prefix_ops;

static struct prefix_store *prefix_of(struct obj_store *s)
{
	BUG_ON(s->ops != &prefix_ops);
	return (struct prefix_store *)s;
}

static char *full_key(struct prefix_store *p, const char *key)
{
	return xasprintf("%s%s", p->prefix, key);
}

static int prefix_put(struct obj_store *s, const char *key, const void *data, size_t len)
{
	char *k = full_key(prefix_of(s), key);
	int r = obj_put(s->inner, k, data, len);

	free(k);
	return r;
}

static ssize_t prefix_get(struct obj_store *s, const char *key, uint64_t off, void *dst,
			  size_t len)
{
	char *k = full_key(prefix_of(s), key);
	ssize_t r = obj_get(s->inner, k, off, dst, len);

	free(k);
	return r;
}

static int prefix_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	char *k = full_key(prefix_of(s), key);
	int r = obj_head(s->inner, k, oi);

	free(k);
	/* oi->key pointed into k: give the caller its own key back. */
	if (!r)
		oi->key = key;
	return r;
}

static int prefix_del(struct obj_store *s, const char *key)
{
	char *k = full_key(prefix_of(s), key);
	int r = obj_delete(s->inner, k);

	free(k);
	return r;
}

struct prefix_list {
	size_t strip;
	obj_list_fn cb;
	void *arg;
};

static int prefix_list_cb(void *arg, const struct obj_info *oi)
{
	struct prefix_list *pl = arg;
	struct obj_info out = *oi;

	/* The inner list only returns keys under our prefix. */
	BUG_ON(strlen(oi->key) < pl->strip);
	out.key = oi->key + pl->strip;
	return pl->cb(pl->arg, &out);
}

static int prefix_list(struct obj_store *s, const char *prefix, const char *start_after,
		       size_t limit, obj_list_fn cb, void *arg)
{
	struct prefix_store *p = prefix_of(s);
	struct prefix_list pl = { p->len, cb, arg };
	char *pre = full_key(p, prefix ? prefix : "");
	char *after = start_after ? full_key(p, start_after) : NULL;
	int r = obj_list(s->inner, pre, after, limit, prefix_list_cb, &pl);

	free(pre);
	free(after);
	return r;
}

static int prefix_create_bucket(struct obj_store *s) { return obj_create_bucket(s->inner); }

static void prefix_free(struct obj_store *s)
{
	struct prefix_store *p = prefix_of(s);

	free(p->prefix);
	free(p->desc);
	free(p);
}

static const char *prefix_describe(struct obj_store *s) { return prefix_of(s)->desc; }

static int prefix_sync(struct obj_store *s) { return obj_sync(s->inner); }

static const struct obj_ops prefix_ops = {
	.name = "prefix",
	.create_bucket = prefix_create_bucket,
	.put = prefix_put,
	.get = prefix_get,
	.head = prefix_head,
	.del = prefix_del,
	.list = prefix_list,
	.free = prefix_free,
	.sync = prefix_sync,
	.describe = prefix_describe,
};

struct obj_store *obj_prefix_new(struct obj_store *inner, const char *prefix)
{
	struct prefix_store *p = xcalloc(1, sizeof(*p));

	p->base.ops = &prefix_ops;
	p->base.inner = inner;
	p->prefix = xstrdup(prefix);
	p->len = strlen(prefix);
	/* JuiceFS prints a prefixed store as the inner description + prefix. */
	p->desc = xasprintf("%s%s", obj_describe(inner), prefix);
	return &p->base;
}
