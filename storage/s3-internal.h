/*
 * storage/s3-internal.h: the ListObjectsV2 page parser of the s3 back end,
 * declared outside storage/s3.c only so that t/fuzz/ can feed it hostile
 * replies: the S3 service is a peer, and what it answers is untrusted input.
 */
#ifndef JFS_STORAGE_S3_INTERNAL_H
#define JFS_STORAGE_S3_INTERNAL_H

#include "storage/obj.h"

struct s3_page {
	char *last;  /* last key handed out (strictly-after filter) */
	char *token; /* continuation token, NULL when the listing is complete */
};

/*
 * Parse one ListObjectsV2 page and feed its keys under prefix, in strictly
 * increasing order after pg->last, to cb; at most *left of them when *left
 * is non-zero. -EIO when the document is not a valid page.
 */
int obj_s3_list_page(const struct buf *xml, const char *prefix, size_t *left, obj_list_fn cb,
		     void *arg, struct s3_page *pg);

#endif
