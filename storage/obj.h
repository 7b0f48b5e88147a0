/*
 * storage: the object-storage contract (spec §5).
 *
 * An obj_store is a flat key space of immutable objects. Back ends (file, mem,
 * later s3) implement struct obj_ops; wrappers (key prefix, fault injection)
 * are back ends holding an `inner` store, in the style of curl's connection
 * filters. Compression and the block framing live above, in fscore.
 *
 * Contract, for every back end:
 *  - Every operation is thread-safe.
 *  - put is atomic: a reader sees the old object, the new one, or none, never
 *    a prefix. The file back end writes a temp file and renames it.
 *  - A successful put survives a crash of the process; it survives a crash of
 *    the machine only once a later sync has returned 0 (back ends whose puts
 *    are durable at once, like S3, have no sync). Callers sync before they
 *    record, in metadata, a promise of durability (fsync, compaction).
 *  - get reads at most `len` bytes from `off`; it returns the count read (short
 *    at the end of the object, 0 past it) or -ENOENT for a missing object.
 *  - delete of a missing object succeeds.
 *  - list walks keys in byte order, strictly after `start_after` (may be NULL),
 *    that start with `prefix`, calling cb for at most `limit` keys (0 = all).
 *    The callback returns non-zero to stop early; that value is returned.
 *  - Errors are -errno: -ENOENT, -ENOSPC (full disk), -EACCES, -EIO, -EINVAL;
 *    -EBADMSG for an object whose integrity check fails (permanent: retrying
 *    reads the same bytes).
 */
#ifndef JFS_OBJ_H
#define JFS_OBJ_H

#include "base/base.h"

struct obj_store;

struct obj_info {
	const char *key;
	uint64_t size;
	int64_t mtime_us;
};

typedef int (*obj_list_fn)(void *arg, const struct obj_info *oi);

struct obj_ops {
	const char *name;
	int (*create_bucket)(struct obj_store *s);
	int (*put)(struct obj_store *s, const char *key, const void *data, size_t len);
	ssize_t (*get)(struct obj_store *s, const char *key, uint64_t off, void *dst, size_t len);
	int (*head)(struct obj_store *s, const char *key, struct obj_info *oi);
	int (*del)(struct obj_store *s, const char *key);
	int (*list)(struct obj_store *s, const char *prefix, const char *start_after, size_t limit,
		    obj_list_fn cb, void *arg);
	void (*free)(struct obj_store *s);
	/* optional: make every put that has returned durable */
	int (*sync)(struct obj_store *s);
	/* human description, e.g. "file:///var/jfs/" */
	const char *(*describe)(struct obj_store *s);
};

/* Base struct, embedded first in every back end. */
struct obj_store {
	const struct obj_ops *ops;
	struct obj_store *inner; /* wrappers only; freed with the wrapper */
};

/*
 * Create a back end by JuiceFS storage name: "file" (bucket = directory path;
 * made absolute, trailing '/'), "mem" (bucket ignored), "s3" (bucket = URL). Unknown names give
 * -EPROTONOSUPPORT and a message in err.
 */
int obj_create(const char *storage, const char *bucket, const char *access_key,
	       const char *secret_key, const char *session_token, struct obj_store **out,
	       struct buf *err);

struct obj_store *obj_file_new(const char *dir);
/*
 * The "s3" back end (storage/s3.c) for bucket URL http[s]://host[:port]/bucket
 * or http[s]://bucket.host[:port]/, signed with SigV4 when ak is non-empty.
 * A bad URL gives -EINVAL and a message in err.
 */
int obj_s3_create(const char *bucket, const char *ak, const char *sk, const char *token,
		  struct obj_store **out, struct buf *err);
struct obj_store *obj_mem_new(void);
/* Wrapper adding `prefix` ("<Name>/") to every key; list strips it again. */
struct obj_store *obj_prefix_new(struct obj_store *inner, const char *prefix);

/*
 * Encryption at rest as JuiceFS does it (storage/encrypt.c): pem is the RSA
 * private key (PKCS#1 or PKCS#8, maybe sealed with passphrase), algo
 * "aes256gcm-rsa" (also for NULL/"") or "chacha20-rsa". On success the
 * wrapper owns inner; on failure inner is left to the caller and err holds
 * one line (-EACCES: passphrase missing or wrong; -EINVAL: no usable key;
 * -ENOTSUP: unknown algo or a key that is not RSA). A get of an object that
 * does not verify (tampered, truncated, another key) is -EBADMSG.
 */
int obj_encrypt_new(struct obj_store *inner, const char *pem, const char *passphrase,
		    const char *algo, struct obj_store **out, struct buf *err);

/*
 * JuiceFS's sharded store (storage/shard.c): `shards` (2..256) buckets made
 * by putting 0..shards-1 in place of the "%d" in bucket (none: -EINVAL, as
 * JuiceFS refuses it); a key lives in shard obj_shard_hash(key) % shards.
 */
int obj_shard_create(const char *storage, const char *bucket, int shards, const char *ak,
		     const char *sk, const char *token, struct obj_store **out, struct buf *err);
/* FNV-1a, 32 bits: the hash JuiceFS picks a shard with. */
uint32_t obj_shard_hash(const char *key);

struct conf_format;
/*
 * The object store of a volume, as JuiceFS's createStorage builds it: the
 * back end (storage/bucket override f's when non-NULL; over f->shards buckets
 * when it is above 1), the "<Name>/" prefix,
 * and, when f->encrypt_key is set, the encryption wrapper keyed with the
 * passphrase from JFS_RSA_PASSPHRASE. Errors are one line in err.
 */
int obj_open_volume(const struct conf_format *f, const char *storage, const char *bucket,
		    struct obj_store **out, struct buf *err);

/*
 * Fault injection for tests. spec: comma-separated "op=rule" where op is
 * put|get|head|del|list|all and rule is "nth:N" (fail the N-th call, 1-based,
 * counted per op), "every:N" (every N-th call), or "prob:P" (0..1, seeded by
 * "seed=S"). Failures return -EIO (or "errno=ENOSPC" for the whole spec).
 * The wrapper owns inner.
 */
struct obj_store *obj_fault_new(struct obj_store *inner, const char *spec);
/* Change the fault spec at run time (thread-safe). */
int obj_fault_set(struct obj_store *s, const char *spec);

static inline int obj_put(struct obj_store *s, const char *k, const void *d, size_t n)
{
	return s->ops->put(s, k, d, n);
}
static inline ssize_t obj_get(struct obj_store *s, const char *k, uint64_t off, void *dst,
			      size_t n)
{
	return s->ops->get(s, k, off, dst, n);
}
static inline int obj_head(struct obj_store *s, const char *k, struct obj_info *oi)
{
	return s->ops->head(s, k, oi);
}
static inline int obj_delete(struct obj_store *s, const char *k) { return s->ops->del(s, k); }
static inline int obj_list(struct obj_store *s, const char *prefix, const char *start_after,
			   size_t limit, obj_list_fn cb, void *arg)
{
	return s->ops->list(s, prefix, start_after, limit, cb, arg);
}
static inline int obj_sync(struct obj_store *s)
{
	return s->ops->sync ? s->ops->sync(s) : 0;
}
static inline int obj_create_bucket(struct obj_store *s) { return s->ops->create_bucket(s); }
static inline const char *obj_describe(struct obj_store *s) { return s->ops->describe(s); }
void obj_free(struct obj_store *s); /* NULL-safe */

/* Read a whole (small) object into b, refusing more than max bytes. */
int obj_get_all(struct obj_store *s, const char *key, size_t max, struct buf *b);

#endif
