/*
 * gateway/filebody.h: a file's bytes as a streamed response body, shared by
 * the S3 GET and the WebDAV GET.
 *
 * A file can fail to read at any point: a block lost from the object store,
 * or a file deleted or compacted by another client while it is read. Such a
 * read is an error, never zeros (fs.h), and the client must see it:
 *  - the first piece of the body is read before anything is answered
 *    (gw_body_prime), so a file that cannot be read at all becomes an error
 *    status chosen by the caller, instead of a 200 with a full
 *    Content-Length and then a dead connection;
 *  - a later failure, once the headers are out, aborts the connection
 *    (gw_resp_stream), which curl and the SDKs report as a broken transfer.
 *
 * Ownership: gw_body_prime takes the handle in every case; the body it
 * makes is owned by the caller until gw_body_send (then by the request) or
 * gw_body_free.
 */
#ifndef JFS_GW_FILEBODY_H
#define JFS_GW_FILEBODY_H

#include "base/base.h"
#include "fscore/fs.h"
#include "gateway/http.h"

/* The first piece: what the HTTP layer asks for in its first pull. */
#define GW_BODY_PRIME (256U << 10)

struct gw_body;

/*
 * Read the first min(len, GW_BODY_PRIME) bytes of [start, start+len) of fh.
 * 0 and *out on success; -errno when they cannot be read (-EIO also when the
 * file ended early: it was shortened under the reader), fh then released.
 */
int gw_body_prime(struct fs_file *fh, uint64_t start, uint64_t len, struct gw_body **out);

/*
 * Stream b as the response body of `len` bytes (the status and headers are
 * the caller's). b may be NULL for a body that is never pulled (HEAD, or
 * len 0); pulling it anyway aborts the connection.
 */
void gw_body_send(struct gw_req *r, struct gw_body *b, uint64_t len);

void gw_body_free(struct gw_body *b);

/* Bytes of bodies pinned whole and not released yet, in this process (tests). */
uint64_t gw_body_pinned(void);

#endif
