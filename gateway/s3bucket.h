/*
 * gateway/s3bucket.h: bucket sub-resources, one function per resource, that
 * s3.c's router calls with the request already authenticated, the bucket
 * known to exist and any body read. Each fills an s3b_answer that s3.c
 * sends (an error with its message, or a status with an optional body).
 *
 *   ?policy        PUT/GET/DELETE  PutBucketPolicy (204; MalformedPolicy,
 *                                  PolicyTooLarge), GetBucketPolicy (the
 *                                  document as put, application/json;
 *                                  NoSuchBucketPolicy), DeleteBucketPolicy
 *                                  (204, also when there is none)
 *   ?policyStatus  GET             GetBucketPolicyStatus (IsPublic)
 */
#ifndef JFS_GW_S3BUCKET_H
#define JFS_GW_S3BUCKET_H

#include "gateway/s3.h"
#include "gateway/s3cfg.h"

struct s3b_answer {
	enum s3_err err;   /* S3E_OK: send status (and body when ctype) */
	struct buf msg;    /* the error's message when not the table's */
	int status;
	const char *ctype; /* NULL: no body */
	struct buf body;
};
#define S3B_ANSWER_INIT { S3E_OK, BUF_INIT, 200, NULL, BUF_INIT }
void s3b_answer_release(struct s3b_answer *a);

/* method "PUT"/"GET"/"DELETE"; status_query: the request is ?policyStatus. */
void s3b_policy(struct s3cfg_cache *c, const char *method, const char *root, const char *bucket,
		int status_query, const char *body, size_t len, struct s3b_answer *a);

#endif
