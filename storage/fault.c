/*
 * storage/fault.c: a wrapper that makes chosen calls fail, for tests.
 *
 * Spec grammar (obj.h): comma-separated "op=rule", op one of put, get, head,
 * del, list or all, rule "nth:N", "every:N" or "prob:P"; plus "seed=S" for the
 * prob rules and "errno=NAME" (EIO by default) for every injected failure.
 * Later items override earlier ones; the empty spec injects nothing.
 *
 * Determinism: every call of an op advances that op's counter, and only calls
 * of an op with a prob rule draw from the seeded generator, all under one
 * mutex, so a given sequence of calls always fails at the same places.
 * obj_fault_set starts counters and generator afresh, so "put=nth:1" set at
 * run time fails the very next put. A failed call never reaches the inner
 * store. create_bucket and describe are never failed.
 */
#include "storage/obj.h"

#include <pthread.h>
#include <strings.h>

enum fault_op { FAULT_PUT, FAULT_GET, FAULT_HEAD, FAULT_DEL, FAULT_LIST, FAULT_NOPS };
static const char *const fault_op_names[FAULT_NOPS] = { "put", "get", "head", "del", "list" };

enum fault_kind { FAULT_NONE, FAULT_NTH, FAULT_EVERY, FAULT_PROB };

struct fault_rule {
	enum fault_kind kind;
	uint64_t n;
	double p;
};

struct fault_cfg {
	struct fault_rule rule[FAULT_NOPS];
	uint64_t seed;
	int err; /* positive errno */
};

struct fault_store {
	struct obj_store base;
	pthread_mutex_t mu;
	struct fault_cfg cfg;
	uint64_t calls[FAULT_NOPS];
	uint64_t rng;
	char *desc;
};

static const struct obj_ops fault_ops;

static struct fault_store *fault_of(struct obj_store *s)
{
	BUG_ON(s->ops != &fault_ops);
	return (struct fault_store *)s;
}

static const struct {
	const char *name;
	int err;
} fault_errnos[] = {
	{ "EIO", EIO },	      { "ENOSPC", ENOSPC },	{ "EACCES", EACCES },
	{ "ENOENT", ENOENT }, { "ETIMEDOUT", ETIMEDOUT }, { "EAGAIN", EAGAIN },
	{ "EDQUOT", EDQUOT }, { "EROFS", EROFS },
};

static int parse_rule(const char *v, struct fault_rule *rule)
{
	uint64_t n;

	if (!strncmp(v, "nth:", 4) || !strncmp(v, "every:", 6)) {
		int nth = v[0] == 'n';
		if (parse_u64(v + (nth ? 4 : 6), &n) || !n)
			return -EINVAL;
		rule->kind = nth ? FAULT_NTH : FAULT_EVERY;
		rule->n = n;
		return 0;
	}
	if (!strncmp(v, "prob:", 5)) {
		char *end;
		double p;
		if (!v[5])
			return -EINVAL;
		errno = 0;
		p = strtod(v + 5, &end);
		/* The negated test also refuses NaN. */
		if (errno || *end || !(p >= 0.0 && p <= 1.0))
			return -EINVAL;
		rule->kind = FAULT_PROB;
		rule->p = p;
		return 0;
	}
	return -EINVAL;
}

static int parse_item(const char *item, struct fault_cfg *cfg)
{
	const char *eq = strchr(item, '=');
	const char *v;
	size_t klen;

	if (!eq)
		return -EINVAL;
	klen = (size_t)(eq - item);
	v = eq + 1;
	if (klen == 4 && !memcmp(item, "seed", 4))
		return parse_u64(v, &cfg->seed) ? -EINVAL : 0;
	if (klen == 5 && !memcmp(item, "errno", 5)) {
		for (size_t i = 0; i < ARRAY_SIZE(fault_errnos); i++)
			if (!strcasecmp(v, fault_errnos[i].name)) {
				cfg->err = fault_errnos[i].err;
				return 0;
			}
		return -EINVAL;
	}
	if (klen == 3 && !memcmp(item, "all", 3)) {
		struct fault_rule rule = { 0 };
		if (parse_rule(v, &rule))
			return -EINVAL;
		for (int op = 0; op < FAULT_NOPS; op++)
			cfg->rule[op] = rule;
		return 0;
	}
	for (int op = 0; op < FAULT_NOPS; op++)
		if (strlen(fault_op_names[op]) == klen && !memcmp(item, fault_op_names[op], klen))
			return parse_rule(v, &cfg->rule[op]);
	return -EINVAL;
}

static int parse_spec(const char *spec, struct fault_cfg *cfg)
{
	char *copy = xstrdup(spec ? spec : "");
	char *item = copy, *comma;
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->err = EIO;
	for (; *item; item = comma + 1) {
		comma = strchrnul(item, ',');
		int last = !*comma;
		*comma = 0;
		/* Tolerate empty items ("a,,b", a trailing comma). */
		if (*item && (r = parse_item(item, cfg)))
			goto out;
		if (last)
			break;
	}
out:
	free(copy);
	return r;
}

/* splitmix64: small, good enough, and identical on every platform. */
static uint64_t fault_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* 0, or the negative errno the current call must fail with. */
static int fault_hit(struct fault_store *f, enum fault_op op)
{
	int r = 0;
	uint64_t c;

	pthread_mutex_lock(&f->mu);
	c = ++f->calls[op];
	const struct fault_rule *rule = &f->cfg.rule[op];
	switch (rule->kind) {
	case FAULT_NONE:
		break;
	case FAULT_NTH:
		r = c == rule->n;
		break;
	case FAULT_EVERY:
		r = c % rule->n == 0;
		break;
	case FAULT_PROB:
		/* 53 random bits give a uniform double in [0, 1). */
		r = (double)(fault_next(&f->rng) >> 11) * 0x1.0p-53 < rule->p;
		break;
	}
	if (r)
		r = -f->cfg.err;
	pthread_mutex_unlock(&f->mu);
	if (r)
		log_debug("fault: failing %s call %llu with %s", fault_op_names[op],
			  (unsigned long long)c, errno_name(-r));
	return r;
}

static int fault_put(struct obj_store *s, const char *key, const void *data, size_t len)
{
	int r = fault_hit(fault_of(s), FAULT_PUT);

	return r ? r : obj_put(s->inner, key, data, len);
}

static ssize_t fault_get(struct obj_store *s, const char *key, uint64_t off, void *dst,
			 size_t len)
{
	int r = fault_hit(fault_of(s), FAULT_GET);

	return r ? r : obj_get(s->inner, key, off, dst, len);
}

static int fault_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	int r = fault_hit(fault_of(s), FAULT_HEAD);

	return r ? r : obj_head(s->inner, key, oi);
}

static int fault_del(struct obj_store *s, const char *key)
{
	int r = fault_hit(fault_of(s), FAULT_DEL);

	return r ? r : obj_delete(s->inner, key);
}

static int fault_list(struct obj_store *s, const char *prefix, const char *start_after,
		      size_t limit, obj_list_fn cb, void *arg)
{
	int r = fault_hit(fault_of(s), FAULT_LIST);

	return r ? r : obj_list(s->inner, prefix, start_after, limit, cb, arg);
}

static int fault_create_bucket(struct obj_store *s) { return obj_create_bucket(s->inner); }

static void fault_free(struct obj_store *s)
{
	struct fault_store *f = fault_of(s);

	pthread_mutex_destroy(&f->mu);
	free(f->desc);
	free(f);
}

static const char *fault_describe(struct obj_store *s) { return fault_of(s)->desc; }

static int fault_sync(struct obj_store *s) { return obj_sync(s->inner); }

static const struct obj_ops fault_ops = {
	.name = "fault",
	.create_bucket = fault_create_bucket,
	.put = fault_put,
	.get = fault_get,
	.head = fault_head,
	.del = fault_del,
	.list = fault_list,
	.free = fault_free,
	.sync = fault_sync,
	.describe = fault_describe,
};

/* On a bad spec this returns NULL and inner stays the caller's. */
struct obj_store *obj_fault_new(struct obj_store *inner, const char *spec)
{
	struct fault_store *f;
	struct fault_cfg cfg;

	if (parse_spec(spec, &cfg)) {
		log_error("invalid fault spec: %s", spec);
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->base.ops = &fault_ops;
	f->base.inner = inner;
	pthread_mutex_init(&f->mu, NULL);
	f->cfg = cfg;
	f->rng = cfg.seed;
	f->desc = xasprintf("fault(%s)", obj_describe(inner));
	return &f->base;
}

int obj_fault_set(struct obj_store *s, const char *spec)
{
	struct fault_cfg cfg;
	struct fault_store *f;

	if (!s || s->ops != &fault_ops)
		return -EINVAL;
	if (parse_spec(spec, &cfg))
		return -EINVAL;
	f = fault_of(s);
	pthread_mutex_lock(&f->mu);
	f->cfg = cfg;
	f->rng = cfg.seed;
	memset(f->calls, 0, sizeof(f->calls));
	pthread_mutex_unlock(&f->mu);
	return 0;
}
