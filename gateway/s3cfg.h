/*
 * gateway/s3cfg.h: per-bucket configuration documents (bucket policy, CORS,
 * ...) kept in the volume, so every gateway of the volume serves the same.
 *
 * Storage: one extended attribute per document on the bucket's root
 * directory (the volume root, or /BUCKET with --multi-buckets), named
 * S3CFG_XATTR_PREFIX + name, e.g. "s3.policy". Why an xattr and not a file
 * under /.sys (where MinIO, and so the real gateway, keeps bucket metadata in
 * its own msgpack format):
 *  - a write is one metadata transaction: readers on every gateway see the
 *    old document or the new one, never a torn one, with no temp file dance;
 *  - the document lives and dies with the bucket: DeleteBucket removes it, a
 *    bucket created again under the same name starts without a policy (as on
 *    S3), and `juicefs dump`/`load` carry it with the directory;
 *  - the name is outside the Linux user./trusted./security./system.
 *    namespaces, and our FUSE mount hides and refuses "s3." names (fuse/mnt.c),
 *    so a mount user can neither read nor forge a bucket policy; the WebDAV
 *    door copies only its own dead-property xattrs.
 * Limit: a document is at most S3CFG_MAX_VALUE bytes (the metadata layer's
 * xattr value cap, 64 KiB, as JuiceFS's): more than AWS allows for a bucket
 * policy (20 KiB) or a CORS configuration (64 KB counts the XML, and our
 * stored form is never larger than what the client sent).
 *
 * The documents are opaque bytes here; their meaning belongs to the caller.
 *
 * Errors: 0, -ENOENT (no such document, or no such bucket directory: callers
 * check the bucket first and answer NoSuchBucket themselves), -EINVAL (a
 * name outside [a-z0-9-]{1,32}), -E2BIG (over S3CFG_MAX_VALUE), or the
 * engine's -errno (-EIO and friends), never mapped to -ENOENT.
 *
 * Thread safety: the plain calls are as thread safe as fs.h; a cache is
 * shared by all request threads (internally locked).
 */
#ifndef JFS_GW_S3CFG_H
#define JFS_GW_S3CFG_H

#include "base/base.h"
#include "fscore/fs.h"

#define S3CFG_XATTR_PREFIX "s3."
#define S3CFG_MAX_VALUE META_MAX_XATTR_VALUE

/*
 * root: the bucket root path as s3.c computes it ("" = volume root,
 * "/BUCKET"). get: *val is NUL-terminated (the NUL not counted in *len), the
 * caller frees it; on error *val is NULL and *len 0.
 */
int s3cfg_get(struct fs *fs, const char *root, const char *name, char **val, size_t *len);
int s3cfg_put(struct fs *fs, const char *root, const char *name, const void *val, size_t len);
/* Removing an absent document is -ENOENT (DeleteBucketPolicy answers 204 either way). */
int s3cfg_del(struct fs *fs, const char *root, const char *name);

/*
 * ---- a cache of documents and what the caller parsed from them ----
 * The request path (anonymous access, CORS preflight) reads a document per
 * request; the cache answers from memory for ttl_ms after it last read the
 * volume, then reads the xattr again (one metadata read). A change made by
 * another gateway is therefore seen within ttl_ms; one made through this
 * cache (s3cfg_cache_put/_del) is seen at once. When the bytes read again are
 * unchanged the parsed form is kept, so a document is parsed once per change.
 *
 * A lookup returns a snapshot reference: the bytes and the parsed form stay
 * valid until s3cfg_snap_unref, even if the entry is replaced meanwhile.
 * Absent documents are cached too (found = 0), so a bucket without a policy
 * costs no metadata read per request either.
 */
typedef void *(*s3cfg_parse_fn)(const char *val, size_t len);
typedef void (*s3cfg_free_fn)(void *parsed);

struct s3cfg_snap {
	int found;     /* 0: no such document (val "" and parsed NULL) */
	char *val;     /* NUL-terminated */
	size_t len;
	void *parsed;  /* parse(val, len) when found and parse was given; may be NULL */
	/* private */
	int refs;
	s3cfg_free_fn free_parsed;
};

struct s3cfg_cache;
/* ttl_ms 0 reads the volume on every lookup. At most `cap` entries (oldest evicted). */
struct s3cfg_cache *s3cfg_cache_new(struct fs *fs, int64_t ttl_ms, size_t cap);
void s3cfg_cache_free(struct s3cfg_cache *c);
/*
 * 0 with *out set (found or not), or -errno of the read (nothing cached: the
 * next lookup tries again). parse/free_parsed may be NULL; all lookups of one
 * name must pass the same pair.
 */
int s3cfg_cache_get(struct s3cfg_cache *c, const char *root, const char *name,
		    s3cfg_parse_fn parse, s3cfg_free_fn free_parsed, struct s3cfg_snap **out);
/*
 * The same, reading the volume whatever the TTL (the parsed form is kept
 * when the bytes are unchanged): for an answer that a stale copy would make
 * wrong, such as refusing an access key that another gateway just added.
 */
int s3cfg_cache_get_fresh(struct s3cfg_cache *c, const char *root, const char *name,
			  s3cfg_parse_fn parse, s3cfg_free_fn free_parsed,
			  struct s3cfg_snap **out);
void s3cfg_snap_unref(struct s3cfg_snap *s);
/* Forget one entry: the next lookup reads the volume (after a write made elsewhere). */
void s3cfg_cache_drop(struct s3cfg_cache *c, const char *root, const char *name);
/* s3cfg_put / s3cfg_del, and drop the cached entry so the next lookup reads it. */
int s3cfg_cache_put(struct s3cfg_cache *c, const char *root, const char *name, const void *val,
		    size_t len);
int s3cfg_cache_del(struct s3cfg_cache *c, const char *root, const char *name);
/* Forget every entry of a bucket root (after DeleteBucket). */
void s3cfg_cache_forget(struct s3cfg_cache *c, const char *root);
/* The volume the cache reads. */
struct fs *s3cfg_cache_fs(const struct s3cfg_cache *c);

#endif
