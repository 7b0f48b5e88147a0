/*
 * gateway/s3-internal.h: what the S3 gateway's files share and nothing
 * outside gateway/ may use: the parsers of request text that live next to
 * the one operation using them (declared here so that the fuzz targets in
 * t/fuzz/ and the unit tests reach the very code the gateway runs rather
 * than a copy of it), the gateway and request structures, and the helpers
 * and verbs s3.c's router calls in s3object.c, s3multipart.c, s3bucket.c.
 */
#ifndef JFS_GW_S3_INTERNAL_H
#define JFS_GW_S3_INTERNAL_H

#include "gateway/s3.h"

#include <pthread.h>

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
 * ---- the gateway and a request ----
 * One gateway (s3_new) and one request (s3_handle, on its stack). A request
 * is answered exactly once, by one of the s3_send_* calls (which add the
 * common headers, CORS ones included).
 */
#include <openssl/evp.h>

#include "gateway/iam.h"

struct s3cfg_cache;

/*
 * A multipart upload this gateway completed lately: a Complete sent again
 * for it (a client retrying after a lost answer) gets the same 200 while
 * the object it made is still in place, as AWS answers, not NoSuchUpload.
 */
#define S3_DONE_UPLOADS 256
#define S3_DONE_UPLOAD_MS (15 * 60 * 1000)
struct s3_done_upload {
	char id[33];
	char etag[48];
	char *bucket, *key;
	uint64_t ino; /* the object's inode: replaced or deleted, the memory is void */
	int64_t at_ms;
};

struct s3_gw {
	struct fs *fs;
	struct s3_conf c;
	char *volume;
	struct s3cfg_cache *cfg; /* bucket documents (policy, CORS), shared by all threads */
	struct iam_key iam_key;  /* seals users' secrets (iam.h) */
	pthread_mutex_t done_mu;
	struct s3_done_upload done[S3_DONE_UPLOADS]; /* a ring */
	unsigned done_next;
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

#define S3_TMP "/.sys/tmp"
#define S3_UPLOADS "/.sys/uploads"
#define XATTR_ETAG "s3-etag"
#define XATTR_META "s3-meta"
#define XATTR_TAGS "s3-tags"
#define XATTR_UP_BUCKET "s3-bucket"
#define XATTR_UP_KEY "s3-key"
#define EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define MIN_PART (5ULL << 20)
#define MAX_OBJECT (5ULL << 40)
#define IO_BUF (1 << 20)
#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* ---- responses, body, paths, access (s3.c) ---- */
int s3_send_error(struct s3_req *s, enum s3_err e, const char *msg); /* msg NULL: the table's */
int s3_send_err(struct s3_req *s, enum s3_err e);
int s3_send_empty(struct s3_req *s, int status);
void s3_send_xml(struct s3_req *s, int status, struct buf *b);
/* Any other body (the admin API's JSON), with the common headers. */
void s3_send_body(struct s3_req *s, int status, const char *ctype, const void *p, size_t n);
void s3_add_common(struct s3_req *s); /* the headers every answer carries, CORS ones included */
void s3_xml_head(struct buf *b, const char *root);
void s3_xml_el(struct buf *b, const char *name, const char *val);
void s3_xml_key(struct buf *b, const char *name, const char *val, int url);
void s3_quote_etag(const char *etag, char *out, size_t n);
/* The payload, decoded and checked as it goes; -1 with s->body_err set on failure. */
ssize_t s3_body_read(struct s3_req *s, void *out, size_t len);
/* After the last s3_body_read: length and digests against what was declared. */
enum s3_err s3_body_finish(struct s3_req *s);
/* A small body (XML) read whole and checked (lengths, digests); MalformedXML past cap. */
enum s3_err s3_read_body(struct s3_req *s, size_t cap, struct buf *out);
/* A key S3 accepts and that maps onto a path inside the bucket; its path into out. */
enum s3_err s3_key_path(struct s3_req *s, const char *key, struct buf *out);
enum s3_err s3_check_key(struct s3_req *s, const char *key);
/* May the requester (anonymous, a user; the root key always may) do action? */
enum s3_err s3_authorize(struct s3_req *s, const char *root, const char *bucket,
			 const char *key, const char *action);
/* "x-amz-copy-source: /bucket/key?versionId=x" into a bucket root and key. */
enum s3_err s3_parse_copy_source(struct s3_req *s, char *root, size_t rootcap, char **key);

/* ---- objects (s3object.c) ---- */
struct obj_stat {
	uint64_t ino;
	struct meta_attr attr;
	char etag[80];
	struct buf meta;
	struct buf tags;
	int is_dir;
};

struct put_src {
	const char *etag;      /* preset ETag (copy), else MD5 of the body */
	const char *meta;      /* s3-meta value */
	const char *tags;      /* s3-tags value, NULL = none */
	int noreplace;         /* If-None-Match: *: the rename must not replace */
	const char *if_match;  /* If-Match: the object replaced must have this ETag */
};

int s3_get_xattr_str(struct s3_gw *g, uint64_t ino, const char *name, struct buf *out);
int s3_set_xattr_str(struct s3_gw *g, uint64_t ino, const char *name, const char *v);
/* The request's metadata headers as s3-meta keeps them. */
void s3_request_meta(struct s3_req *s, struct buf *out);
/* Split "/a/b/c" into the parent's inode and the last name. */
int s3_resolve_parent(struct s3_gw *g, const char *path, uint64_t *parent, const char **name);
void s3_unlink_temp(struct s3_gw *g, const char *name);
/* If-None-Match / If-Match of a write, checked before its body is read. */
enum s3_err s3_put_conditions(struct s3_req *s, const char *key, struct put_src *ps);
/* Stream the request body into a new temp file; name/ino out. */
enum s3_err s3_body_to_temp(struct s3_req *s, struct buf *tmpname, uint64_t *ino);
/* Xattrs on the temp file, then the rename over path (honouring ps's conditions). */
enum s3_err s3_commit_temp(struct s3_req *s, const char *tmpname, uint64_t ino,
			   const struct put_src *ps, const char *path);
/* x-amz-tagging as the s3-tags value. */
enum s3_err s3_header_tags(struct s3_req *s, struct buf *out);
void s3_stat_free(struct obj_stat *st);
/* If-Match and friends (prefix "x-amz-copy-source-" for a copy's source). */
enum s3_err s3_check_conditions(struct s3_req *s, const char *prefix,
				const struct obj_stat *st, int copy);
/* Stat an object in another bucket root. */
enum s3_err s3_stat_in_root(struct s3_req *s, const char *root, const char *key,
			    struct obj_stat *st);
int s3_op_put_object(struct s3_req *s);
int s3_op_get_object(struct s3_req *s); /* GET and HEAD */
int s3_op_get_attributes(struct s3_req *s);
int s3_op_delete_object(struct s3_req *s);
int s3_op_delete_objects(struct s3_req *s);
int s3_op_copy_object(struct s3_req *s);
int s3_op_get_tagging(struct s3_req *s);
int s3_op_put_tagging(struct s3_req *s);
int s3_op_delete_tagging(struct s3_req *s);

/* ---- multipart uploads (s3multipart.c) ---- */
int s3_op_create_upload(struct s3_req *s);
int s3_op_upload_part(struct s3_req *s, int copy); /* copy: UploadPartCopy */
int s3_op_abort_upload(struct s3_req *s);
int s3_op_complete_upload(struct s3_req *s);
int s3_op_list_parts(struct s3_req *s);
int s3_op_list_uploads(struct s3_req *s);

/* ---- buckets (s3bucket.c) ---- */
enum list_kind { LIST_V1, LIST_V2, LIST_VERSIONS };

/* S3E_OK, NoSuchBucket, or the engine's failure. */
enum s3_err s3_bucket_check(struct s3_req *s);
int s3_op_list(struct s3_req *s, enum list_kind kind);
int s3_op_list_buckets(struct s3_req *s);
int s3_op_create_bucket(struct s3_req *s);
int s3_op_delete_bucket(struct s3_req *s);
int s3_op_bucket_policy(struct s3_req *s); /* ?policy and ?policyStatus */
int s3_op_bucket_location(struct s3_req *s);
int s3_op_bucket_versioning(struct s3_req *s);
int s3_op_get_acl(struct s3_req *s); /* a bucket's or an object's */

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
