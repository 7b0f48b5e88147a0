/*
 * gateway/s3post.h: browser uploads (POST object, an HTML form posted to a
 * bucket URL), layer-private. Three pieces, the first two pure so that
 * t/unit/check_s3post.c and t/fuzz/fuzz-s3-form.c reach them:
 *
 *  - s3_form: a streaming multipart/form-data parser (RFC 7578). Fields
 *    before the file are kept, capped (S3_FORM_FIELDS_MAX bytes of names and
 *    values in all, S3_FORM_HEADER_MAX per part head); the part named "file"
 *    is handed on in pieces as it arrives, never held; parts after it are
 *    skipped unread, as S3 ignores them. Memory is bounded whatever the
 *    body's size.
 *  - s3_post_policy: the policy document (base64 JSON: expiration and
 *    conditions) parsed, and the conditions checked against the form.
 *  - s3_post_object: the operation (s3post.c), over s3-internal.h.
 */
#ifndef JFS_GW_S3POST_H
#define JFS_GW_S3POST_H

#include "gateway/s3.h"

#define S3_FORM_FIELDS_MAX (64u << 10)
#define S3_FORM_HEADER_MAX (8u << 10)
#define S3_FORM_BOUNDARY_MAX 70 /* RFC 2046 */

/*
 * Callbacks return 0 to go on; anything else stops s3_form_feed, which
 * returns it (use positive values, e.g. an enum s3_err, to tell them from
 * the parser's own negative errors).
 */
struct s3_form_cb {
	/* A field before the file; value is NUL-terminated after len bytes. */
	int (*field)(void *arg, const char *name, const char *value, size_t len);
	/* The file part starts; filename and ctype "" when the part has none. */
	int (*file_begin)(void *arg, const char *filename, const char *ctype);
	int (*file_data)(void *arg, const uint8_t *p, size_t n);
	int (*file_end)(void *arg);
};

struct s3_form {
	char delim[S3_FORM_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
	size_t dlen, match;                    /* delimiter bytes matched so far */
	int state;
	int part;            /* what the current part's body is: field, file, skipped */
	int seen_file;
	char head[S3_FORM_HEADER_MAX + 1];
	size_t hlen;
	char *name;          /* of the current field part */
	struct buf value;    /* of the current field part, capped */
	size_t fields_bytes; /* names and values so far */
};

/*
 * From a Content-Type header: 0, or -EINVAL when it is not
 * multipart/form-data with a valid boundary.
 */
int s3_form_init(struct s3_form *f, const char *content_type);
/*
 * Consume n body bytes. 0; -EBADMSG when the body is not well-formed;
 * -E2BIG when the fields before the file pass their cap; or what a callback
 * returned. After an error the parser must not be fed again.
 */
int s3_form_feed(struct s3_form *f, const uint8_t *p, size_t n, const struct s3_form_cb *cb,
		 void *arg);
/* At the end of the body: 0 when the closing delimiter was seen, else -EBADMSG. */
int s3_form_finish(struct s3_form *f);
void s3_form_release(struct s3_form *f);

/* ---- policy document ---- */
enum s3_cond_op { S3C_EQ, S3C_STARTS_WITH, S3C_LENGTH_RANGE };
struct s3_cond {
	enum s3_cond_op op;
	char *field;  /* lower case, without '$' */
	char *value;
	uint64_t min, max; /* content-length-range */
};
struct s3_post_policy {
	int64_t expiration; /* unix seconds */
	struct s3_cond *c;
	size_t n;
	int has_range;
	uint64_t min, max; /* the tightest content-length-range, [0, UINT64_MAX] without one */
};
/*
 * Parse the decoded JSON. 0, or -EINVAL (InvalidPolicyDocument) with the
 * reason in err: not an object, expiration missing or not an ISO 8601 UTC
 * time, conditions missing, empty or not a list, a condition of the wrong
 * shape, operator, arity or type, a negative or reversed length range.
 * Keys are case-sensitive ("expiration", "conditions"), operators and
 * field names are not.
 */
int s3_post_policy_parse(const char *json, size_t n, struct s3_post_policy *p, struct buf *err);
void s3_post_policy_free(struct s3_post_policy *p);

/* The form as the checker sees it: lower-case names, values as posted. */
struct s3_post_field {
	const char *name, *value;
};
/*
 * Check the eq and starts-with conditions against the form, and that every
 * field of the form but the exempt ones (file, policy, the signature fields,
 * x-ignore-*) is named by a condition. 0, or -EACCES with the reason in err
 * (S3 answers AccessDenied). A condition on a field the form lacks compares
 * against "". content-length-range is checked on the body by the caller.
 */
int s3_post_policy_check(const struct s3_post_policy *p, const struct s3_post_field *f,
			 size_t n, struct buf *err);

/* ---- the operation (s3post.c) ---- */
struct s3_req;
/* Is this request a POST object (multipart/form-data POST to a bucket)? */
int s3_is_post_object(struct s3_req *s);
int s3_post_object(struct s3_req *s);

#endif
