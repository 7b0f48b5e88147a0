/*
 * gateway/dav.h: the WebDAV server (DESIGN §7), RFC 4918 class 1 and 2 over
 * fs.h, served through the shared HTTP layer (gateway/http.h).
 *
 * State kept in the volume, never in the process, so that several servers
 * and restarts agree:
 *  - dead properties: xattr "user.dav.{namespace}name" of the resource, the
 *    value being the property element as self-contained XML;
 *  - locks: one empty file per lock under /.sys/davlocks, named after the
 *    token's UUID, its record (dav_proto.h) in xattr "user.davlock", in a
 *    bucket named by a hash of its root path, hard-linked into a bucket per
 *    ancestor (the index: see dav.c). Expired locks are dropped when met.
 * /.sys and /.trash are not reachable through WebDAV, not even by symlink;
 * symlinks are followed for reading (fs_resolve_at), never out of the volume.
 */
#ifndef JFS_GW_DAV_H
#define JFS_GW_DAV_H

#include "fscore/fs.h"
#include "gateway/http.h"

struct dav_conf {
	const char *user, *password; /* Basic auth; NULL user = open */
	int gzip;                    /* gzip whole files for clients that accept it */
	int disallow_list;           /* GET on a collection gives 403 */
	int enable_proppatch;        /* kept for JuiceFS's flag; PROPPATCH is always on */
};

struct dav_server;

int dav_new(struct fs *fs, const struct dav_conf *c, struct dav_server **out);
void dav_free(struct dav_server *d);
/* gw_handler_fn: arg is the struct dav_server. */
int dav_handle(void *arg, struct gw_req *req);

#endif
