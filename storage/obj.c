/*
 * storage/obj.c: the dispatcher of the object-storage layer (spec §5).
 *
 * It picks a back end by the JuiceFS storage name kept in Format.Storage and
 * holds the rules shared by every back end: who frees a wrapper's inner store,
 * and how a whole object is read without trusting a size read earlier.
 */
#include "storage/obj.h"

#include <strings.h>

#include "conf/conf.h"

int obj_create(const char *storage, const char *bucket, const char *access_key,
	       const char *secret_key, const char *session_token, struct obj_store **out,
	       struct buf *err)
{
	struct obj_store *s = NULL;
	int r = 0;

	*out = NULL;
	if (!storage || !*storage)
		storage = "file";
	/* JuiceFS lower-cases the storage name before looking it up. */
	if (!strcasecmp(storage, "file")) {
		if (!bucket || !*bucket) {
			buf_addf(err, "storage file needs a bucket directory");
			r = -EINVAL;
			goto out;
		}
		s = obj_file_new(bucket);
		if (!s) {
			buf_addf(err, "invalid bucket directory %s", bucket);
			r = -EINVAL;
			goto out;
		}
	} else if (!strcasecmp(storage, "mem")) {
		s = obj_mem_new();
	} else if (!strcasecmp(storage, "s3")) {
		/* Credentials matter to network back ends only. */
		r = obj_s3_create(bucket, access_key, secret_key, session_token, &s, err);
	} else {
		buf_addf(err, "invalid storage: %s (supported: file, mem, s3)", storage);
		r = -EPROTONOSUPPORT;
	}
out:
	*out = s;
	return r;
}

int obj_open_volume(const struct conf_format *f, const char *storage, const char *bucket,
		    struct obj_store **out, struct buf *err)
{
	struct obj_store *raw = NULL, *s;
	char *prefix;
	int r;

	*out = NULL;
	storage = storage ? storage : f->storage;
	bucket = bucket ? bucket : f->bucket;
	if (f->shards > 1)
		r = obj_shard_create(storage, bucket, f->shards, f->access_key, f->secret_key,
				     f->session_token, &raw, err);
	else
		r = obj_create(storage, bucket, f->access_key, f->secret_key, f->session_token,
			       &raw, err);
	if (r)
		return r;
	prefix = xasprintf("%s/", f->name);
	s = obj_prefix_new(raw, prefix);
	free(prefix);
	/* Above the prefix, as JuiceFS wraps it: every key of the volume is sealed. */
	if (f->encrypt_key && *f->encrypt_key) {
		struct obj_store *e;
		r = obj_encrypt_new(s, f->encrypt_key, getenv("JFS_RSA_PASSPHRASE"),
				    f->encrypt_algo, &e, err);
		if (r) {
			obj_free(s);
			return r;
		}
		s = e;
	}
	*out = s;
	return 0;
}

void obj_free(struct obj_store *s)
{
	struct obj_store *inner;

	if (!s)
		return;
	/* Read inner first: the back end's free releases the struct holding it. */
	inner = s->inner;
	s->ops->free(s);
	obj_free(inner);
}

int obj_get_all(struct obj_store *s, const char *key, size_t max, struct buf *b)
{
	struct obj_info oi;
	ssize_t n;
	int r;

	buf_reset(b);
	/*
	 * The object may be replaced between head and get, so the size from head
	 * is only a hint: read one byte more than expected into the NUL slot that
	 * buf_grow always reserves, and start over if the object has grown. A
	 * single get reads a single version, so a short read is a whole object.
	 */
	for (int tries = 0; tries < 5; tries++) {
		r = obj_head(s, key, &oi);
		if (r)
			return r;
		if (oi.size > max)
			return -E2BIG;
		r = buf_grow(b, (size_t)oi.size);
		if (r)
			return r;
		n = obj_get(s, key, 0, b->ptr, (size_t)oi.size + 1);
		if (n < 0)
			return (int)n;
		if ((size_t)n <= oi.size) {
			b->len = (size_t)n;
			b->ptr[n] = 0;
			return 0;
		}
	}
	return -EAGAIN;
}
