/*
 * gateway/s3-internal.h: parsers of request text that live in s3.c next to
 * the one operation using them, declared here (and nowhere public) so that
 * the fuzz targets in t/fuzz/ and the unit tests reach the very code the
 * gateway runs rather than a copy of it.
 */
#ifndef JFS_GW_S3_INTERNAL_H
#define JFS_GW_S3_INTERNAL_H

#include "gateway/s3.h"

/* Does an If-Match / If-None-Match list name this ETag (or "*")? */
int s3_etag_matches(const char *list, const char *etag);
/*
 * x-amz-copy-source-range "bytes=FIRST-LAST" against a source of `size`:
 * InvalidArgument for bad syntax, InvalidRange when unsatisfiable.
 */
enum s3_err s3_copy_source_range(const char *v, uint64_t size, uint64_t *start, uint64_t *len);
/* Base64 text (continuation token, SSE-C key) appended to out; -EINVAL when not. */
int s3_unb64(const char *in, struct buf *out);
/* A Content-MD5 value: exactly 16 bytes in base64; -EINVAL otherwise. */
int s3_b64_decode16(const char *in, uint8_t out[16]);

/*
 * ---- what s3.c shares with s3post.c and s3cors.c ----
 * One gateway (s3_new) and one request (s3_handle, on its stack). A request
 * is answered exactly once, by one of the s3_send_* calls (which add the
 * common headers, CORS ones included).
 */
#include <openssl/evp.h>

#include "gateway/iam.h"

struct s3cfg_cache;

struct s3_gw {
	struct fs *fs;
	struct s3_conf c;
	char *volume;
	struct s3cfg_cache *cfg; /* bucket documents (policy, CORS), shared by all threads */
	struct iam_key iam_key;  /* seals users' secrets (iam.h) */
};

struct s3_req {
	struct s3_gw *g;
	struct gw_req *r;
	const char *method;
	int head;
	struct s3_query q;
	char *bucket;   /* decoded, NULL for service requests */
	char *key;      /* decoded, NULL for bucket requests */
	char root[300]; /* bucket root path: "" or "/bucket" */
	char reqid[17];
	int anon;       /* no signature: allowed only by the bucket policy */
	int vhost;      /* the bucket came from Host (virtual-host style) */
	/* signed by a user, not the root key: its store, entry and secret */
	struct s3cfg_snap *iam;
	const struct iam_user *user;
	struct buf user_secret;
	int list_filter; /* ListBuckets by a user without s3:ListAllMyBuckets */

	/* auth and body */
	struct s3_sigv4 sv;
	uint8_t skey[32];
	char prev_sig[65];
	int streaming, stream_signed;
	const char *want_sha; /* hex payload hash to verify, or NULL */
	int64_t body_len;     /* payload length (decoded for aws-chunked), -1 unknown */
	int64_t consumed;     /* raw bytes read (plain) */
	uint64_t produced;    /* payload bytes returned */
	EVP_MD_CTX *md5, *sha, *chunk_sha;
	struct s3_chunked ch;
	uint8_t *raw;
	size_t raw_pos, raw_len;
	enum s3_err body_err;
	uint8_t md5_out[16];
};

int s3_send_error(struct s3_req *s, enum s3_err e, const char *msg); /* msg NULL: the table's */
int s3_send_empty(struct s3_req *s, int status);
void s3_send_xml(struct s3_req *s, int status, struct buf *b);
/* Any other body (the admin API's JSON), with the common headers. */
void s3_send_body(struct s3_req *s, int status, const char *ctype, const void *p, size_t n);
/* A small body (XML) read whole and checked (lengths, digests); MalformedXML past cap. */
enum s3_err s3_read_body(struct s3_req *s, size_t cap, struct buf *out);
/* S3E_OK, NoSuchBucket, or the engine's failure. */
enum s3_err s3_bucket_check(struct s3_req *s);
/* A key S3 accepts and that maps onto a path inside the bucket; its path into out. */
enum s3_err s3_key_path(struct s3_req *s, const char *key, struct buf *out);
/* A new temp file for an object's body (/.sys/tmp), opened for writing. */
int s3_temp_create(struct s3_req *s, struct fs_file **fh, uint64_t *ino, struct buf *name);
void s3_temp_unlink(struct s3_req *s, const char *name);
/*
 * Give the temp file (closed) its ETag, metadata ("name: value" lines, as
 * s3-meta keeps them) and tags (query encoded, NULL or "" for none) and
 * rename it over path; the temp file is gone after.
 */
enum s3_err s3_temp_commit(struct s3_req *s, const char *tmpname, uint64_t ino,
			   const char *etag, const char *meta, const char *tags, const char *path);

#endif
