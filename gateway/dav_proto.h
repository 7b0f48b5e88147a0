/*
 * gateway/dav_proto.h: the protocol pieces of the WebDAV server that need
 * neither HTTP nor the file system, so that the unit tests can drive them
 * with hostile input directly: path and header parsing (Depth, Destination,
 * Overwrite, Timeout, If), XML request bodies (PROPFIND, PROPPATCH, LOCK)
 * through libxml2, lock records, and the text helpers of 207 responses.
 *
 * Paths are "normalised": decoded, absolute, no empty/"."/".." segments, no
 * trailing slash; the root is "/". Every parser returns 0 or -errno and
 * leaves nothing allocated on failure.
 */
#ifndef JFS_GW_DAV_PROTO_H
#define JFS_GW_DAV_PROTO_H

#include "base/base.h"

#define DAV_MAX_PATH 4096
#define DAV_MAX_SEGMENT 255
#define DAV_MAX_XML (1 << 20)
#define DAV_DEPTH_INF 3

/*
 * Decode a request path (percent-encoded when `encoded`) into out.
 * -EINVAL: bad %-escape, NUL, a ".." segment, or not absolute;
 * -ENAMETOOLONG: a segment over 255 bytes or a path over 4096.
 * *trailing (may be NULL) says whether the path ended with '/'.
 */
int dav_norm_path(const char *raw, int encoded, struct buf *out, int *trailing);
/* Depth: "0", "1", "infinity"; NULL gives def; anything else -EINVAL. */
int dav_parse_depth(const char *h, int def, int *out);
/* Overwrite: "T" / "F"; NULL gives 1. */
int dav_parse_overwrite(const char *h, int *out);
/*
 * Destination: absolute URI or absolute path. -EXDEV when it names another
 * host than `host` (502), -EINVAL when malformed, or dav_norm_path errors.
 */
int dav_parse_dest(const char *h, const char *host, struct buf *path);
/*
 * Range "bytes=a-b", "bytes=a-" or "bytes=-n" (one range) against `size`:
 * 1 ranged (start..end inclusive), 0 whole body (absent or ignored), -1
 * unsatisfiable (416).
 */
int dav_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end);
/* Timeout: "Second-N" or "Infinite" (list, first usable wins); -1 = infinite. */
int dav_parse_timeout(const char *h, int64_t *secs);

/* ---- If header (RFC 4918 §10.4) ---- */
struct dav_if_cond {
	int neg;      /* "Not" */
	int is_etag;  /* [etag] rather than <state-token> */
	char *value;  /* token URI or entity tag (quotes kept, W/ kept) */
};
struct dav_if_list {
	char *tag; /* normalised path of the Resource-Tag, NULL for a No-tag-list */
	struct dav_if_cond *conds;
	size_t nconds;
};
struct dav_if {
	struct dav_if_list *lists;
	size_t nlists;
};
int dav_if_parse(const char *h, const char *host, struct dav_if **out);
void dav_if_free(struct dav_if *h);
/* Whether a state token appears anywhere in the header ("submitted", §10.4.1 of RFC 4918). */
int dav_if_has_token(const struct dav_if *h, const char *token);
/*
 * Truth of one condition (without its Not) for resource `path`: 1 true,
 * 0 false.
 */
typedef int (*dav_if_cond_fn)(void *arg, const char *path, const struct dav_if_cond *c);
/*
 * The header is true when one of its lists is true: every condition of the
 * list holds for the list's resource (its tag, or req_path when untagged).
 * A NULL header is true.
 */
int dav_if_eval(const struct dav_if *h, const char *req_path, dav_if_cond_fn fn, void *arg);

/* ---- XML bodies ---- */
struct dav_pname {
	char *ns;   /* "" for no namespace */
	char *name;
};
enum { DAV_PF_ALLPROP, DAV_PF_PROPNAME, DAV_PF_PROP };
struct dav_propfind {
	int mode;
	struct dav_pname *props; /* PROP: the named ones; ALLPROP: the <include>d ones */
	size_t nprops;
};
/* An empty body is allprop. -EINVAL on malformed or unexpected XML. */
int dav_parse_propfind(const char *body, size_t len, struct dav_propfind *out);
void dav_propfind_release(struct dav_propfind *p);

struct dav_patch_op {
	int remove;
	struct dav_pname p;
	char *xml; /* set: the whole property element, self-contained XML */
};
struct dav_proppatch {
	struct dav_patch_op *ops; /* in document order */
	size_t nops;
};
int dav_parse_proppatch(const char *body, size_t len, struct dav_proppatch *out);
void dav_proppatch_release(struct dav_proppatch *p);

struct dav_lockinfo {
	int exclusive;
	char *owner; /* the <D:owner> element as self-contained XML, or NULL */
};
int dav_parse_lockinfo(const char *body, size_t len, struct dav_lockinfo *out);
void dav_lockinfo_release(struct dav_lockinfo *l);

/* ---- lock records (kept in the metadata, see dav.c) ---- */
struct dav_lock {
	char token[64];  /* "opaquelocktoken:<uuid>" */
	char *root;      /* normalised path */
	int exclusive;
	int depth_inf;
	int64_t timeout; /* seconds, -1 = infinite */
	int64_t expires; /* unix seconds, 0 = never */
	char *owner;     /* XML or NULL */
};
void dav_lock_encode(const struct dav_lock *l, struct buf *out);
int dav_lock_decode(const char *token, const char *p, size_t n, struct dav_lock *l);
void dav_lock_release(struct dav_lock *l);
/* Whether a lock rooted at root (depth_inf) covers path. */
int dav_lock_covers(const char *root, int depth_inf, const char *path);
/* Whether path is root or below it. */
int dav_path_within(const char *root, const char *path);

/* ---- response text ---- */
void dav_xml_escape(struct buf *b, const char *s);
/* Percent-encode a normalised path for an href (keeps '/'). */
void dav_href(struct buf *b, const char *path, int collection);
/* Status line text: "HTTP/1.1 404 Not Found". */
const char *dav_status_line(int code);
/* Content type from the file name's extension. */
const char *dav_mime_type(const char *name);
/* RFC 1123 date of unix seconds. */
void dav_http_date(int64_t t, char *out, size_t n);
/* Parse an RFC 1123 / 850 / asctime date; -EINVAL when unparseable. */
int dav_parse_http_date(const char *s, int64_t *out);

#endif
