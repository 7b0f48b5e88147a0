/*
 * gateway/s3.h: the S3 gateway (DESIGN §6), shared between gateway/s3*.c and
 * the command (cmd/gateway.c). The parsers are exported for t/unit/check_s3.c.
 *
 * Layout inside the volume: objects are files under the bucket root (the
 * volume root, or /BUCKET with --multi-buckets); temp files live in
 * /.sys/tmp and multipart parts in /.sys/uploads/<id[0..3]>/<id>/<part>.
 * Per-object xattrs: s3-etag (MD5 hex, "-N" for multipart), s3-meta
 * ("name: value" lines of the persisted headers), s3-tags (query encoded).
 * Per-bucket documents (bucket policy) are s3.* xattrs of the bucket root
 * directory (s3cfg.h).
 */
#ifndef JFS_GW_S3_H
#define JFS_GW_S3_H

#include "base/base.h"
#include "fscore/fs.h"
#include "gateway/http.h"

struct s3_conf {
	const char *access_key, *secret_key;
	const char *domain;      /* virtual-host style suffix, NULL = off */
	const char *region;      /* for GetBucketLocation; "" = us-east-1 */
	int multi_buckets;
	int keep_etag;           /* accepted; the ETag is always kept */
	int object_tag;
	uint16_t umask;
	int64_t max_skew_s;      /* 900 */
};

struct s3_gw;
struct s3_gw *s3_new(struct fs *fs, const struct s3_conf *c);
void s3_free(struct s3_gw *g);
/* Remove temp files left by a crashed gateway (older than age_s). */
void s3_cleanup_tmp(struct s3_gw *g, int64_t age_s);
/* The gw_handler_fn of the server. */
int s3_handle(void *arg, struct gw_req *req);

/* ---- errors: X(name, status, message) ---- */
#define S3_ERRORS(X)                                                                     \
	X(AccessDenied, 403, "Access Denied.")                                            \
	X(BadDigest, 400, "The Content-Md5 you specified did not match what we received.") \
	X(BucketAlreadyExists, 409, "The requested bucket name is not available.")        \
	X(BucketAlreadyOwnedByYou, 409, "Your previous request to create the named bucket succeeded and you already own it.") \
	X(BucketNotEmpty, 409, "The bucket you tried to delete is not empty")             \
	X(EntityTooLarge, 400, "Your proposed upload exceeds the maximum allowed object size.") \
	X(EntityTooSmall, 400, "Your proposed upload is smaller than the minimum allowed object size.") \
	X(IncompleteBody, 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.") \
	X(IncorrectNumberOfFilesInPostRequest, 400, "POST requires exactly one file upload per request.") \
	X(MalformedPOSTRequest, 400, "The body of your POST request is not well-formed multipart/form-data.") \
	X(MaxPostPreDataLengthExceededError, 400, "Your POST request fields preceding the upload file were too large.") \
	X(InvalidPolicyDocument, 400, "The content of the form does not meet the conditions specified in the policy document.") \
	X(NoSuchCORSConfiguration, 404, "The CORS configuration does not exist") \
	X(AccessForbidden, 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.") \
	X(InternalError, 500, "We encountered an internal error, please try again.")      \
	X(InvalidAccessKeyId, 403, "The Access Key Id you provided does not exist in our records.") \
	X(InvalidArgument, 400, "Invalid argument.")                                      \
	X(InvalidBucketName, 400, "The specified bucket is not valid.")                  \
	X(InvalidDigest, 400, "The Content-Md5 you specified is not valid.")              \
	X(InvalidPart, 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.") \
	X(InvalidPartNumber, 416, "The requested partnumber is not satisfiable")           \
	X(InvalidPartOrder, 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.") \
	X(InvalidRange, 416, "The requested range is not satisfiable")                    \
	X(InvalidRequest, 400, "Invalid Request")                                          \
	X(InvalidTag, 400, "The TagValue you have provided is invalid")                   \
	X(KeyTooLongError, 400, "Your key is too long")                                   \
	X(MalformedXML, 400, "The XML you provided was not well-formed or did not validate against our published schema.") \
	X(MethodNotAllowed, 405, "The specified method is not allowed against this resource.") \
	X(MalformedPolicy, 400, "Policy has invalid resource.")                        \
	X(PolicyTooLarge, 400, "Policy exceeds the maximum allowed document size.")     \
	X(NoSuchBucketPolicy, 404, "The bucket policy does not exist")                  \
	X(MissingContentLength, 411, "You must provide the Content-Length HTTP header.")  \
	X(NoSuchBucket, 404, "The specified bucket does not exist")                       \
	X(NoSuchKey, 404, "The specified key does not exist.")                            \
	X(NoSuchUpload, 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.") \
	X(NotImplemented, 501, "A header you provided implies functionality that is not implemented") \
	X(NotModified, 304, "Not Modified")                                               \
	X(PreconditionFailed, 412, "At least one of the pre-conditions you specified did not hold") \
	X(RequestTimeTooSkewed, 403, "The difference between the request time and the server's time is too large.") \
	X(SignatureDoesNotMatch, 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.") \
	X(AuthorizationHeaderMalformed, 400, "The authorization header is malformed.")    \
	X(XAmzContentSHA256Mismatch, 400, "The provided 'x-amz-content-sha256' header does not match what was computed.") \
	X(ObjectExistsAsDirectory, 409, "Object name already exists as a directory.")     \
	X(ParentIsObject, 400, "Object-prefix is already an object, please choose a different object-prefix name.") \
	X(StorageFull, 507, "Storage backend has reached its minimum free drive threshold.") \
	X(SlowDown, 503, "Please reduce your request rate.")                             \
	X(QuotaExceeded, 500, "We encountered an internal error, please try again.: cause(disk quota exceeded)") \
	X(InvalidResourceName, 400, "Resource name contains bad components such as \"..\" or \".\".") \
	X(InvalidObjectName, 400, "Object name contains unsupported characters.")          \
	X(UnsignedHeaders, 400, "There were headers present in the request which were not signed") \
	X(MissingFields, 400, "Missing fields in request.")                                \
	X(MetadataTooLarge, 400, "Your metadata headers exceed the maximum allowed metadata size.") \
	X(InvalidTagDuplicate, 400, "Cannot provide multiple Tags with the same key")

enum s3_err {
	S3E_OK = 0,
#define S3_ERR_ENUM(n, s, m) S3E_##n,
	S3_ERRORS(S3_ERR_ENUM)
#undef S3_ERR_ENUM
};
const char *s3_err_code(enum s3_err e);
int s3_err_status(enum s3_err e);
const char *s3_err_message(enum s3_err e);
/* POSIX error of fs.h to the S3 error of an object operation. */
enum s3_err s3_err_from_errno(int err);

/* ---- names (s3util.c): the one gate from S3 names to volume paths ---- */
/*
 * Does s have a "." or ".." segment ('/'-separated, blanks around it
 * trimmed)? The real gateway (MinIO's request filter) refuses a request whose
 * decoded path or any query value has one with XMinioInvalidResourceName,
 * before anything else; so do we (s3.c).
 */
int s3_bad_component(const char *s);
/*
 * The path inside the volume that an S3 key (or listing prefix, with
 * S3_NAME_PREFIX) names under bucket_root ("" = the volume root in
 * single-bucket mode, "/BUCKET" with --multi-buckets), into out:
 * bucket_root + "/" + name, a key's trailing '/' (directory object) dropped.
 * Every S3 operation builds its paths here, so nothing else decides what a
 * name may reach. A name that cannot be a path inside the bucket is refused,
 * never resolved: S3 keys are literal bytes, but ours are stored as paths,
 * where ".", ".." and "" segments would alias or escape.
 *  S3E_InvalidResourceName  a "." or ".." segment (the real gateway's code);
 *  S3E_InvalidObjectName    a leading '/' or an empty segment ("a//b");
 *  S3E_KeyTooLongError      over 1024 bytes, or a segment over 255;
 *  S3E_AccessDenied         the first segment is an internal folder of the
 *                           volume root (.sys, .trash, .minio.sys): uploads
 *                           in flight, deleted files (single-bucket mode);
 *  S3E_InvalidArgument      an empty key (a prefix may be empty).
 * out is left empty on refusal.
 */
#define S3_NAME_PREFIX 1u
enum s3_err s3_name_path(const char *bucket_root, const char *name, unsigned flags,
			 struct buf *out);
/* AWS's bucket naming rules (3-63 of [a-z0-9.-], no "..", ".-", "-.", not an IPv4 address). */
int s3_valid_bucket_name(const char *b);

/* ---- text helpers (s3util.c) ---- */
/* RFC 3986 encoding as SigV4 wants (unreserved kept; '/' kept when keep_slash). */
void s3_uri_encode(struct buf *out, const char *s, size_t n, int keep_slash);
/* Percent-decoding ('+' is a space when plus); -EINVAL on a bad escape or NUL. */
int s3_uri_decode(struct buf *out, const char *s, size_t n, int plus);
void s3_xml_escape(struct buf *out, const char *s);
/* "Wed, 21 Oct 2015 07:28:00 GMT" and "2015-10-21T07:28:00.000Z". */
void s3_http_date(int64_t t, char *out, size_t n);
void s3_iso_date(int64_t t, uint32_t nsec, char *out, size_t n);
/* HTTP-date (RFC 1123/850/asctime) or ISO 8601 basic "20130524T000000Z"; -EINVAL. */
int s3_parse_http_date(const char *s, int64_t *t);
int s3_parse_amz_date(const char *s, int64_t *t);

/*
 * Range header against an object of `size`. Returns 0 with start and len set for a
 * satisfiable single range, 1 when the header must be ignored (absent,
 * malformed or several ranges: the whole object is sent), -ERANGE when it is
 * unsatisfiable (416).
 */
int s3_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len);

/* Query string as decoded pairs. */
struct s3_qpair {
	char *name, *value;
	int has_value;
};
struct s3_query {
	struct s3_qpair *p;
	size_t n;
};
int s3_query_parse(const char *raw, struct s3_query *q);
void s3_query_free(struct s3_query *q);
const char *s3_query_get(const struct s3_query *q, const char *name);
int s3_query_has(const struct s3_query *q, const char *name);

/* ---- hashing (s3auth.c, OpenSSL) ---- */
void s3_hex(const uint8_t *p, size_t n, char *out);
void s3_sha256_hex(const void *p, size_t n, char out[65]);
void s3_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
		    uint8_t out[32]);

/* ---- SigV4 (s3auth.c) ---- */
struct s3_sigv4 {
	char access_key[128];
	char date[9];        /* YYYYMMDD of the scope */
	char region[64];
	char service[16];
	char amz_date[17];   /* YYYYMMDDTHHMMSSZ */
	char signed_headers[1024];
	char signature[65];
	int presigned;
	int64_t expires;     /* presigned X-Amz-Expires, seconds */
};
/* Parse "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". */
int s3_parse_auth_header(const char *h, struct s3_sigv4 *sv);
/* Parse the X-Amz-* parameters of a presigned URL. */
int s3_parse_presigned(const struct s3_query *q, struct s3_sigv4 *sv);

/*
 * SigV2 (AWS's "Signing and Authenticating REST Requests"), which the real
 * gateway accepts and boto3 (signature_version "s3"), s3cmd --signature-v2
 * and old SDKs send: "Authorization: AWS KEY:SIG" or a presigned URL with
 * AWSAccessKeyId, Expires and Signature. SIG is base64 HMAC-SHA1 of:
 *   METHOD \n Content-MD5 \n Content-Type \n Date (presigned: Expires) \n
 *   x-amz-* headers (lower-cased, sorted, one line each, repeated values
 *   joined with ',') + resource ("/bucket/key" as sent) + its signed
 *   sub-resources (?acl, ?uploadId=..., response-* overrides, ...).
 */
struct s3_v2_hdr {
	const char *name; /* lower-case */
	const char *value;
};
int s3_v2_string_to_sign(struct buf *out, const char *method, const char *content_md5,
			 const char *content_type, const char *date, struct s3_v2_hdr *amz,
			 size_t namz, const char *resource, const struct s3_query *q);
/* Base64 HMAC-SHA1 of the string to sign (28 characters and a NUL). */
void s3_v2_sign(const char *secret, const char *sts, size_t len, char out[29]);

/* Header lookup for the canonical request: value or NULL. */
typedef const char *(*s3_hdr_fn)(void *arg, const char *lname);
/*
 * SignedHeaders (";"-separated) must name host, and every other name must be
 * a header the request carries: S3E_UnsignedHeaders (400 AccessDenied, as the
 * real gateway answers), S3E_MissingFields for an empty list.
 */
enum s3_err s3_check_signed_headers(const char *list, s3_hdr_fn hdr, void *hdr_arg);
/*
 * The canonical request of SigV4. raw_path/raw_query as sent; presigned
 * requests drop X-Amz-Signature from the query.
 */
int s3_canonical_request(struct buf *out, const char *method, const char *raw_path,
			 const char *raw_query, const char *signed_headers, s3_hdr_fn hdr,
			 void *hdr_arg, const char *payload_hash, int presigned);
/* Signature hex of a canonical request; also gives the signing key for chunks. */
void s3_sign(const char *secret, const struct s3_sigv4 *sv, const char *canonical,
	     uint8_t key_out[32], char sig_out[65]);
/* Signature of one aws-chunked chunk. */
void s3_chunk_sign(const uint8_t key[32], const struct s3_sigv4 *sv, const char *prev_sig,
		   const char *chunk_sha_hex, char sig_out[65]);

/*
 * aws-chunked decoder: a pull-style state machine fed raw body bytes.
 * s3_chunked_feed consumes input and emits payload bytes into out; it stops
 * at chunk boundaries to let the caller verify the signature of the chunk
 * just finished (chunk_done set; the chunk's signature is in `sig`).
 */
struct s3_chunked {
	int state;
	uint64_t remain;      /* payload bytes left in the current chunk */
	char line[256];
	size_t linelen;
	char sig[65];         /* of the chunk being read ("" when unsigned) */
	int chunk_done;       /* a chunk (payload) just ended */
	int final;            /* the zero-length chunk was seen */
	int finished;         /* trailers consumed: body is over */
};
void s3_chunked_init(struct s3_chunked *c);
/*
 * Consume from in (advancing in and inlen), write payload to out (at most
 * outmax, *outlen set). Returns 0, or -EINVAL on a framing error.
 */
int s3_chunked_feed(struct s3_chunked *c, const uint8_t **in, size_t *inlen, uint8_t *out,
		    size_t outmax, size_t *outlen);

/*
 * ---- XML bodies (s3util.c, libxml2) ----
 * A body with a DTD (<!DOCTYPE ...>) is malformed: entities are never
 * defined, expanded or loaded (no entity tricks, no network, no file reads).
 */
struct s3_part_ref {
	int number;
	char etag[80];
};
/* CompleteMultipartUpload body. -EINVAL when malformed. Caller frees *parts. */
int s3_xml_complete(const char *xml, size_t n, struct s3_part_ref **parts, size_t *nparts);
/* Delete body: keys (caller frees each and the array) and Quiet. */
int s3_xml_delete(const char *xml, size_t n, char ***keys, size_t *nkeys, int *quiet);
/*
 * Tagging body: "k=v&k2=v2" query-encoded into out; -EINVAL malformed, -E2BIG bad
 * tags, -EEXIST a key given twice.
 */
int s3_xml_tagging(const char *xml, size_t n, struct buf *out);
/* CreateBucket body: empty, or a CreateBucketConfiguration; -EINVAL otherwise. */
int s3_xml_create_bucket(const char *xml, size_t n);

/* ---- listing (s3list.c) ---- */
struct s3_list_item {
	char *key;       /* full key; for a common prefix, the prefix */
	int is_prefix;
	uint64_t size;
	int64_t mtime;
	uint32_t mtimensec;
	uint64_t ino;
};
struct s3_list_res {
	struct s3_list_item *items;
	size_t n, cap;
	int truncated;
	/*
	 * When truncated: the key to continue after, if it is not the last
	 * item's (that key was removed while the page was read, and left out).
	 */
	char *next;
};
/*
 * Keys under root_path (bucket root directory path, "" = volume root) in byte
 * order, strictly after `after` (NULL = from the start), matching prefix,
 * rolled up by delimiter, at most max items. Hides /.sys at the volume root.
 * The prefix goes through s3_name_path: one into the internal folders lists
 * nothing, any other it refuses is -EINVAL (check it first for the S3 error).
 */
int s3_list(struct fs *fs, const char *root_path, int hide_sys, const char *prefix,
	    const char *delimiter, const char *after, size_t max, struct s3_list_res *res);
void s3_list_free(struct s3_list_res *res);

#endif
