/*
 * gateway/s3cors.h: bucket CORS (layer-private): the configuration
 * (Put/Get/DeleteBucketCors), kept in the volume through s3cfg as the
 * document "cors" (its canonical XML), the preflight OPTIONS answered from
 * its rules, and the CORS headers of actual responses.
 *
 * Matching, as S3 does it: the first rule whose AllowedOrigin matches the
 * Origin (case-sensitive, one '*' wildcard), whose AllowedMethod lists the
 * method (case-sensitive), and, for a preflight, whose AllowedHeader
 * patterns (case-insensitive, one '*') cover every requested header.
 * For an actual response the method is Access-Control-Request-Method when
 * the request has one (as ceph s3-tests expect), else the request's own.
 *
 * The parsers are pure, for t/unit/check_s3post.c.
 */
#ifndef JFS_GW_S3CORS_H
#define JFS_GW_S3CORS_H

#include "gateway/s3.h"

#define S3_CORS_MAX_RULES 100
#define S3_CORS_MAX_BODY (64u << 10)

struct s3_cors_rule {
	char *id;
	char **origins, **methods, **headers, **expose;
	size_t norigins, nmethods, nheaders, nexpose;
	int64_t max_age; /* -1: none */
};
struct s3_cors_conf {
	struct s3_cors_rule *r;
	size_t n;
};

/*
 * A CORSConfiguration body. S3E_OK; S3E_MalformedXML (not XML, a DTD, an
 * unknown element, no or over 100 rules, a rule without origin or method,
 * a bad MaxAgeSeconds); S3E_InvalidRequest with the reason in msg (a method
 * S3 does not allow, a pattern with two '*').
 */
enum s3_err s3_cors_parse(const char *xml, size_t n, struct s3_cors_conf *c, struct buf *msg);
void s3_cors_free(struct s3_cors_conf *c);
/* The canonical XML of a configuration (stored, and answered by GetBucketCors). */
void s3_cors_xml(const struct s3_cors_conf *c, struct buf *out);
/* Does s match pattern, '*' standing for any run of bytes? icase: ASCII case folded. */
int s3_cors_glob(const char *pattern, const char *s, int icase);
/*
 * The rule for origin and method; req_headers is Access-Control-Request-
 * Headers (comma-separated) or NULL. NULL when none matches.
 */
const struct s3_cors_rule *s3_cors_find(const struct s3_cors_conf *c, const char *origin,
					const char *method, const char *req_headers);

/* ---- in the request path (s3cors.c, over s3-internal.h) ---- */
struct s3_req;
int s3_cors_op(struct s3_req *s);        /* ?cors on a bucket: PUT, GET, DELETE */
int s3_cors_preflight(struct s3_req *s); /* OPTIONS, before any authentication */
void s3_cors_headers(struct s3_req *s);  /* into any other response (add_common) */

#endif
