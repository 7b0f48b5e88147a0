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

#endif
