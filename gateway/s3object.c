/*
 * gateway/s3object.c: the object verbs: PutObject, GetObject and HeadObject
 * (ranges, conditions, response overrides), GetObjectAttributes,
 * DeleteObject and DeleteObjects, CopyObject, and object tagging; and the
 * write path they share with multipart (s3-internal.h).
 *
 * Writes are atomic: a body streams into a temp file under /.sys/tmp (MD5
 * and, when the client signed it, SHA-256 computed on the way), is checked,
 * gets its xattrs, and only then is renamed over the target. Any failure
 * before the rename unlinks the temp file, so readers never see a partial
 * object and a failed upload leaves the old one intact. Copies and multipart
 * completion share slices (fs_clone, fs_copy_file_range) instead of bytes.
 */
#include "gateway/s3.h"
#include "gateway/s3-internal.h"
#include "gateway/filebody.h"

#include <ctype.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- xattrs, metadata, temp files */

int s3_get_xattr_str(struct s3_gw *g, uint64_t ino, const char *name, struct buf *out)
{
	buf_reset(out);
	return fs_getxattr(g->fs, NULL, ino, name, out);
}

int s3_set_xattr_str(struct s3_gw *g, uint64_t ino, const char *name, const char *v)
{
	return fs_setxattr(g->fs, NULL, ino, name, v, strlen(v), 0);
}

static const char *const meta_hdrs[] = { "content-type", "content-encoding", "content-disposition",
					 "cache-control", "expires", "content-language" };

static int meta_cb(void *arg, const char *name, const char *value)
{
	struct buf *b = arg;
	int keep = !strncasecmp(name, "x-amz-meta-", 11);

	for (size_t i = 0; i < ARRAY_SIZE(meta_hdrs) && !keep; i++)
		keep = !strcasecmp(name, meta_hdrs[i]);
	if (!keep || strchr(value, '\n'))
		return 0;
	for (const char *c = name; *c; c++)
		buf_addch(b, (char)tolower((unsigned char)*c));
	buf_addf(b, ": %s\n", value);
	return 0;
}

/* The persisted headers of this request, as "name: value" lines. */
void s3_request_meta(struct s3_req *s, struct buf *out)
{
	buf_reset(out);
	gw_req_headers(s->r, meta_cb, out);
}

/* Emit the persisted headers of an object, minus those overridden by response-*. */
static int emit_meta(struct s3_req *s, const char *meta)
{
	const char *p = meta;
	int have_ct = 0;

	while (p && *p) {
		const char *nl = strchr(p, '\n'), *colon = strstr(p, ": ");
		char name[256];
		char *val;
		size_t vl;

		if (!nl)
			break;
		if (colon && colon < nl && (size_t)(colon - p) < sizeof(name)) {
			char ov[300];

			memcpy(name, p, (size_t)(colon - p));
			name[colon - p] = 0;
			vl = (size_t)(nl - colon - 2);
			val = xstrndup(colon + 2, vl);
			snprintf(ov, sizeof(ov), "response-%s", name);
			if (!s3_query_has(&s->q, ov)) {
				/*
				 * libmicrohttpd refuses an empty header value; one
				 * space is the same on the wire (clients strip the
				 * blanks around a value), so x-amz-meta-x: "" stays.
				 */
				gw_resp_header(s->r, name, *val ? val : " ");
				if (!strcmp(name, "content-type"))
					have_ct = 1;
			}
			free(val);
		}
		p = nl + 1;
	}
	return have_ct;
}

static void emit_overrides(struct s3_req *s)
{
	static const char *const ov[][2] = {
		{ "response-content-type", "Content-Type" },
		{ "response-content-language", "Content-Language" },
		{ "response-expires", "Expires" },
		{ "response-cache-control", "Cache-Control" },
		{ "response-content-disposition", "Content-Disposition" },
		{ "response-content-encoding", "Content-Encoding" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ov); i++) {
		const char *v = s3_query_get(&s->q, ov[i][0]);

		if (v)
			gw_resp_header(s->r, ov[i][1], v);
	}
}

static int tag_count(const char *tags)
{
	int n = 0;

	if (!*tags)
		return 0;
	for (n = 1; *tags; tags++)
		n += *tags == '&';
	return n;
}

/* Split "/a/b/c" into the parent's inode and the last name. */
int s3_resolve_parent(struct s3_gw *g, const char *path, uint64_t *parent, const char **name)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int r;

	if (!slash)
		return -EINVAL;
	*name = slash + 1;
	dir = xstrndup(path, (size_t)(slash - path));
	r = fs_resolve(g->fs, NULL, dir, parent, NULL);
	free(dir);
	return r;
}

void s3_unlink_temp(struct s3_gw *g, const char *name)
{
	uint64_t dir;

	if (!fs_resolve(g->fs, NULL, S3_TMP, &dir, NULL))
		fs_unlink(g->fs, NULL, dir, name, 1);
}

/* Remove now-empty directories from path's parent up to (not including) the bucket root. */
static void prune_dirs(struct s3_req *s, const char *path)
{
	char *p = xstrdup(path);
	size_t rootlen = strlen(s->root);

	for (;;) {
		char *slash = strrchr(p, '/');
		uint64_t parent;
		const char *name;

		if (!slash || (size_t)(slash - p) <= rootlen)
			break;
		*slash = 0;
		if (s3_resolve_parent(s->g, p, &parent, &name))
			break;
		if (fs_rmdir(s->g->fs, NULL, parent, name, 1))
			break;
	}
	free(p);
}

/* ---------------------------------------------------------------- writing an object */

static enum s3_err stat_object(struct s3_req *s, const char *key, struct obj_stat *st);
static const char *cond_header(struct s3_req *s, const char *prefix, const char *name);

/*
 * Conditional writes (PutObject, CompleteMultipartUpload, CopyObject onto its
 * destination), as AWS does them:
 * If-None-Match: * writes only where the key has no object (412 otherwise;
 * another value is NotImplemented), If-Match only over an object with one of
 * the listed ETags (412; no object at all: 404 NoSuchKey). Checked before the
 * body is read, so a refused upload costs nothing, and again at the commit
 * (s3_commit_temp), atomically in the metadata engine: If-None-Match by a
 * rename that cannot replace (META_RENAME_NOREPLACE), If-Match by a second
 * look that finds the inode holding the matching ETag and a rename that may
 * replace only that inode (fs_replace_if, checked in the rename's own
 * transaction). Of writers racing with one ETag, or for one free key, the
 * first rename wins and the others get 412 PreconditionFailed, as AWS
 * answers the later of two conditional writes; their temp files are dropped.
 */
enum s3_err s3_put_conditions(struct s3_req *s, const char *key, struct put_src *ps)
{
	const char *inm = cond_header(s, "", "if-none-match");
	const char *im = cond_header(s, "", "if-match");
	struct obj_stat st;
	enum s3_err e;

	ps->noreplace = 0;
	ps->if_match = NULL;
	if (!inm && !im)
		return S3E_OK;
	if (inm && strcmp(inm, "*"))
		return S3E_NotImplemented;
	e = stat_object(s, key, &st);
	if (e == S3E_OK && inm)
		e = S3E_PreconditionFailed;
	else if (e == S3E_NoSuchKey && !im)
		e = S3E_OK;
	else if (e == S3E_OK && im && !s3_etag_matches(im, st.etag))
		e = S3E_PreconditionFailed;
	s3_stat_free(&st);
	ps->noreplace = inm != NULL;
	ps->if_match = im;
	return e;
}

/* Move tmpdir/name to path only where path is free (If-None-Match: *). */
static int rename_noreplace(struct s3_gw *g, const char *name, const char *path)
{
	const char *slash = strrchr(path, '/');
	uint64_t tdir, pdir = 1;
	char *dir;
	int r = fs_resolve(g->fs, NULL, S3_TMP, &tdir, NULL);

	if (r || !slash)
		return r ? r : -EINVAL;
	dir = xstrndup(path, (size_t)(slash - path));
	if (*dir)
		r = fs_mkdir_p(g->fs, NULL, dir, 0755, &pdir);
	free(dir);
	if (!r)
		r = fs_rename(g->fs, NULL, tdir, name, pdir, slash + 1, META_RENAME_NOREPLACE, NULL,
			      NULL);
	return r;
}

/*
 * The body as a chunk_src: the writer asks for the bytes of the block it is
 * filling and they are copied from the request straight into it, a piece at
 * a time small enough that MD5 (s3_body_read) reads it back from the cache.
 * One copy of the body on the handler's thread, beside the hashing, instead
 * of two through a staging buffer.
 */
enum { BODY_PIECE = 64 * 1024 };

struct body_src {
	struct s3_req *s;
	int failed; /* the body, not the file, failed: s->body_err says how */
};

static int body_src_read(void *arg, void *dst, size_t n)
{
	struct body_src *b = arg;
	uint8_t *p = dst;

	while (n) {
		ssize_t got = s3_body_read(b->s, p, MIN(n, (size_t)BODY_PIECE));

		if (got <= 0) {
			if (!got) /* shorter than it said */
				b->s->body_err = S3E_IncompleteBody;
			b->failed = 1;
			return -EIO;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Stream the request body into a new temp file; name/ino out. */
enum s3_err s3_body_to_temp(struct s3_req *s, struct buf *tmpname, uint64_t *ino)
{
	struct s3_gw *g = s->g;
	struct fs_file *fh = NULL;
	struct body_src b = { s, 0 };
	struct chunk_src src = { .read = body_src_read, .arg = &b };
	uint64_t off = 0, len = s->body_len < 0 ? 0 : (uint64_t)s->body_len;
	enum s3_err e = S3E_OK;
	char end;
	int r;

	r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, ino, tmpname);
	if (r)
		return s3_err_from_errno(r);
	/*
	 * The declared length (callers refuse a body without one), in calls of
	 * IO_BUF: each holds the inode's lock while it waits for the client.
	 */
	while (off < len) {
		size_t n = (size_t)MIN((uint64_t)IO_BUF, len - off);
		ssize_t w = fs_write_src(fh, off, &src, n);

		if (w != (ssize_t)n) {
			e = b.failed ? s->body_err : s3_err_from_errno(w < 0 ? (int)w : -EIO);
			break;
		}
		off += n;
	}
	/* the end of the body, and of an aws-chunked body's framing */
	if (!e && s3_body_read(s, &end, 1) != 0)
		e = s->body_err ? s->body_err : S3E_IncompleteBody;
	if (!e)
		e = s3_body_finish(s);
	r = fs_release(fh);
	if (!e && r)
		e = s3_err_from_errno(r);
	if (!e && g->c.umask) {
		struct meta_attr a = { .mode = (uint16_t)(0666 & ~g->c.umask) };

		fs_setattr(g->fs, NULL, *ino, META_SET_MODE, &a, NULL);
	}
	if (e)
		s3_unlink_temp(g, tmpname->ptr);
	return e;
}

/*
 * If-Match at the commit: the inode the key names now, with a matching ETag,
 * or an error. That inode is what the rename may replace (fs_replace_if):
 * the look alone proves nothing once a writer can come between it and the
 * rename. A key that is a symlink (made through a mount) is replaced as a
 * name, so the link's own inode is the one guarded.
 */
static enum s3_err if_match_inode(struct s3_req *s, const char *path, const char *if_match,
				  uint64_t *dst)
{
	struct obj_stat st;
	struct meta_attr a;
	uint64_t parent;
	const char *name;
	enum s3_err e = stat_object(s, s->key, &st);
	int r;

	if (!e && !s3_etag_matches(if_match, st.etag))
		e = S3E_PreconditionFailed;
	if (!e) {
		r = s3_resolve_parent(s->g, path, &parent, &name);
		if (!r)
			r = fs_lookup(s->g->fs, NULL, parent, name, dst, &a);
		if (r == -ENOENT || (!r && *dst != st.ino && a.type != META_TYPE_SYMLINK))
			e = S3E_PreconditionFailed; /* replaced since stat_object looked */
		else if (r)
			e = s3_err_from_errno(r);
	}
	s3_stat_free(&st);
	return e;
}

/*
 * Fault injection for tests: JFS_FAULT_S3_COMMIT_SLEEP_MS=N sleeps N ms
 * before a conditional write's rename (after If-Match's look), to hold open
 * the window that the engine-side checks must close (t/integ/t4306).
 */
static void fault_commit_sleep(void)
{
	const char *v = getenv("JFS_FAULT_S3_COMMIT_SLEEP_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	if (ms > 0 && ms <= 60000) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* Give the temp file its xattrs and rename it over path. */
enum s3_err s3_commit_temp(struct s3_req *s, const char *tmpname, uint64_t ino,
			   const struct put_src *ps, const char *path)
{
	struct s3_gw *g = s->g;
	uint64_t dst = 0;
	int r = s3_set_xattr_str(g, ino, XATTR_ETAG, ps->etag);

	if (!r && ps->meta && *ps->meta)
		r = s3_set_xattr_str(g, ino, XATTR_META, ps->meta);
	if (!r && ps->tags && *ps->tags)
		r = s3_set_xattr_str(g, ino, XATTR_TAGS, ps->tags);
	if (!r && ps->if_match) {
		enum s3_err e = if_match_inode(s, path, ps->if_match, &dst);

		if (e) {
			s3_unlink_temp(g, tmpname);
			return e;
		}
	}
	if (!r && (ps->if_match || ps->noreplace))
		fault_commit_sleep();
	if (!r && ps->noreplace)
		r = rename_noreplace(g, tmpname, path);
	else if (!r)
		r = fs_replace_if(g->fs, NULL, S3_TMP, tmpname, path, 0, dst);
	if (r) {
		s3_unlink_temp(g, tmpname);
		/*
		 * Another writer got there first: its object no longer matches
		 * ours (412), or a delete did and there is none (404, as at the
		 * first check).
		 */
		if (r == -ESTALE && dst) {
			struct obj_stat st;
			enum s3_err e = stat_object(s, s->key, &st);

			s3_stat_free(&st);
			return e == S3E_NoSuchKey ? e : S3E_PreconditionFailed;
		}
		return r == -EEXIST && ps->noreplace ? S3E_PreconditionFailed
						     : s3_err_from_errno(r);
	}
	return S3E_OK;
}

enum s3_err s3_header_tags(struct s3_req *s, struct buf *out)
{
	const char *t = gw_req_header(s->r, "x-amz-tagging");
	struct s3_query q;
	enum s3_err e = S3E_OK;

	buf_reset(out);
	if (!t || !*t)
		return S3E_OK;
	if (s3_query_parse(t, &q))
		return S3E_InvalidTag;
	if (q.n > 10)
		e = S3E_InvalidTag;
	for (size_t i = 0; i < q.n && !e; i++) {
		if (!*q.p[i].name || strlen(q.p[i].name) > 128 || strlen(q.p[i].value) > 256) {
			e = S3E_InvalidTag;
			break;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(q.p[j].name, q.p[i].name))
				e = S3E_InvalidTagDuplicate;
		if (e)
			break;
		if (out->len)
			buf_addch(out, '&');
		s3_uri_encode(out, q.p[i].name, strlen(q.p[i].name), 0);
		buf_addch(out, '=');
		s3_uri_encode(out, q.p[i].value, strlen(q.p[i].value), 0);
	}
	s3_query_free(&q);
	return e;
}

int s3_op_put_object(struct s3_req *s)
{
	struct buf path = BUF_INIT, tmp = BUF_INIT, meta = BUF_INIT, tags = BUF_INIT;
	char etag[33], q[40];
	uint64_t ino;
	struct put_src ps = { 0 };
	enum s3_err e;

	if (s->body_len < 0) {
		e = S3E_MissingContentLength;
		goto out;
	}
	if ((uint64_t)s->body_len > MAX_OBJECT) {
		e = S3E_EntityTooLarge;
		goto out;
	}
	e = s3_header_tags(s, &tags);
	if (!e)
		e = s3_key_path(s, s->key, &path);
	if (!e)
		e = s3_put_conditions(s, s->key, &ps);
	if (e)
		goto out;
	/* a directory quota refuses the object before its body is stored */
	if (s->key[strlen(s->key) - 1] != '/') {
		int qr = fs_quota_precheck(s->g->fs, path.ptr, (uint64_t)s->body_len);
		if (qr) {
			e = s3_err_from_errno(qr);
			goto out;
		}
	}
	if (s->key[strlen(s->key) - 1] == '/') { /* directory object */
		char b[4096];
		ssize_t n;
		int r;

		while ((n = s3_body_read(s, b, sizeof(b))) > 0)
			;
		e = n < 0 ? s->body_err : s3_body_finish(s);
		if (e)
			goto out;
		if (s->produced) {
			e = S3E_InvalidArgument;
			goto out;
		}
		r = fs_mkdir_p(s->g->fs, NULL, path.ptr, 0777 & ~s->g->c.umask, NULL);
		if (r) {
			e = s3_err_from_errno(r);
			goto out;
		}
		snprintf(etag, sizeof(etag), "%s", EMPTY_MD5);
	} else {
		e = s3_body_to_temp(s, &tmp, &ino);
		if (e)
			goto out;
		s3_hex(s->md5_out, 16, etag);
		s3_request_meta(s, &meta);
		ps.etag = etag;
		ps.meta = meta.ptr;
		ps.tags = tags.ptr;
		e = s3_commit_temp(s, tmp.ptr, ino, &ps, path.ptr);
		if (e)
			goto out;
	}
	s3_quote_etag(etag, q, sizeof(q));
	gw_resp_header(s->r, "ETag", q);
	s3_send_empty(s, 200);
out:
	buf_release(&path);
	buf_release(&tmp);
	buf_release(&meta);
	buf_release(&tags);
	return e ? s3_send_err(s, e) : 0;
}

/* ---------------------------------------------------------------- reading */

/*
 * The object a key names, reading: symlinks made through a mount are
 * followed as the real gateway does, but only within the bucket (the bucket
 * directory is the jail root of fs_resolve_at: a link out of it is refused
 * with -EXDEV, a loop gives -ELOOP).
 */
static int resolve_object(struct s3_req *s, const char *key, uint64_t *ino,
			  struct meta_attr *attr)
{
	uint64_t root;
	struct meta_attr ra;
	int r;

	if (s3_check_key(s, key))
		return -EACCES; /* callers checked it already: never reached */
	r = fs_resolve(s->g->fs, NULL, s->root, &root, &ra);
	if (r)
		return r;
	return fs_resolve_at(s->g->fs, NULL, root, key, FS_RESOLVE_FOLLOW, ino, attr);
}

static enum s3_err stat_object(struct s3_req *s, const char *key, struct obj_stat *st)
{
	int r;
	int dirkey = key[strlen(key) - 1] == '/';

	buf_init(&st->meta, 0);
	buf_init(&st->tags, 0);
	st->etag[0] = 0;
	r = resolve_object(s, key, &st->ino, &st->attr);
	if (r)
		return r == -ENOENT || r == -ENOTDIR || r == -ENAMETOOLONG ? S3E_NoSuchKey
									    : s3_err_from_errno(r);
	st->is_dir = st->attr.type == META_TYPE_DIRECTORY;
	if (dirkey != st->is_dir || (!st->is_dir && st->attr.type != META_TYPE_FILE))
		return S3E_NoSuchKey;
	if (st->is_dir) {
		snprintf(st->etag, sizeof(st->etag), "%s", EMPTY_MD5);
		st->attr.length = 0;
	} else {
		struct buf b = BUF_INIT;

		r = s3_get_xattr_str(s->g, st->ino, XATTR_ETAG, &b);
		if (!r)
			snprintf(st->etag, sizeof(st->etag), "%s", b.ptr);
		buf_release(&b);
		if (r == -ENODATA)
			r = 0;
	}
	/* an object answered without its ETag or metadata would be a wrong answer */
	if (!r && (r = s3_get_xattr_str(s->g, st->ino, XATTR_META, &st->meta)) == -ENODATA)
		r = 0;
	if (!r && (r = s3_get_xattr_str(s->g, st->ino, XATTR_TAGS, &st->tags)) == -ENODATA)
		r = 0;
	return r ? s3_err_from_errno(r) : S3E_OK;
}

void s3_stat_free(struct obj_stat *st)
{
	buf_release(&st->meta);
	buf_release(&st->tags);
}

/* Does an If-Match / If-None-Match list name this ETag? */
int s3_etag_matches(const char *list, const char *etag)
{
	const char *p = list;

	while (*p) {
		const char *e;
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n && p[n - 1] == ' ')
			n--;
		if (n == 1 && *p == '*')
			return 1;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p++;
			n -= 2;
		}
		if (n == strlen(etag) && !memcmp(p, etag, n))
			return 1;
		p += n;
		if (*p == '"')
			p++;
	}
	return 0;
}

/*
 * A conditional header, or NULL when it is absent or has an empty value. The
 * aws CLI copies a listed ETag into If-Match on each ranged GET of a large
 * download, and an object written through the mount or WebDAV lists with an
 * empty ETag: the header then arrives with no value. The real gateway (Go's
 * Header.Get == "") reads that as no condition, so must we, or the download
 * fails with 412.
 */
static const char *cond_header(struct s3_req *s, const char *prefix, const char *name)
{
	char h[80];
	const char *v;

	snprintf(h, sizeof(h), "%s%s", prefix, name);
	v = gw_req_header(s->r, h);
	if (v)
		v += strspn(v, " \t");
	return v && *v ? v : NULL;
}

/* The four conditionals; prefix "" for GET/HEAD, "x-amz-copy-source-" for copies. */
enum s3_err s3_check_conditions(struct s3_req *s, const char *prefix,
				const struct obj_stat *st, int copy)
{
	const char *v;
	int64_t t;

	v = cond_header(s, prefix, "if-match");
	if (v && !s3_etag_matches(v, st->etag))
		return S3E_PreconditionFailed;
	if (!v) {
		v = cond_header(s, prefix, "if-unmodified-since");
		if (v && !s3_parse_http_date(v, &t) && st->attr.mtime > t)
			return S3E_PreconditionFailed;
	}
	v = cond_header(s, prefix, "if-none-match");
	if (v && s3_etag_matches(v, st->etag))
		return copy ? S3E_PreconditionFailed : S3E_NotModified;
	if (!v) {
		v = cond_header(s, prefix, "if-modified-since");
		if (v && !s3_parse_http_date(v, &t) && st->attr.mtime <= t)
			return copy ? S3E_PreconditionFailed : S3E_NotModified;
	}
	return S3E_OK;
}

static void object_headers(struct s3_req *s, const struct obj_stat *st)
{
	char v[100];

	if (st->etag[0]) {
		s3_quote_etag(st->etag, v, sizeof(v));
		gw_resp_header(s->r, "ETag", v);
	}
	s3_http_date(st->attr.mtime, v, sizeof(v));
	gw_resp_header(s->r, "Last-Modified", v);
	gw_resp_header(s->r, "Accept-Ranges", "bytes");
	if (!emit_meta(s, st->meta.ptr) && !s3_query_has(&s->q, "response-content-type"))
		gw_resp_header(s->r, "Content-Type", "application/octet-stream");
	emit_overrides(s);
	if (st->tags.len) {
		snprintf(v, sizeof(v), "%d", tag_count(st->tags.ptr));
		gw_resp_header(s->r, "x-amz-tagging-count", v);
	}
}

/*
 * GetObject/HeadObject. The first piece of the body is read before anything
 * is answered (filebody.h): an object that cannot be read is a 500
 * InternalError, or a 404 NoSuchKey when another client deleted it
 * meanwhile; one that another client replaced meanwhile is served again
 * from the top, its new version whole. Once the headers are out a failure
 * aborts the connection.
 */
#define GET_TRIES 3

int s3_op_get_object(struct s3_req *s)
{
	struct obj_stat st;
	enum s3_err e;
	uint64_t start = 0, len;
	int partial = 0, rr;
	struct gw_body *body = NULL;
	const char *pn = s3_query_get(&s->q, "partNumber");
	int part = 0;

	/*
	 * ?partNumber=: an object is one part here whatever made it (the parts'
	 * sizes are not kept after CompleteMultipartUpload), so part 1 is the
	 * whole object and any other is 416, as the real gateway answers.
	 * Serving the whole object for part 2 would corrupt a part-wise
	 * parallel download. No x-amz-mp-parts-count: there is one part.
	 */
	if (pn) {
		char *end;
		long n;

		errno = 0;
		n = strtol(pn, &end, 10);
		if (!*pn || *end || errno || n < 1 || n > 10000)
			return s3_send_err(s, S3E_InvalidArgument);
		/* which bytes would be meant is ambiguous: AWS and MinIO refuse both */
		if (gw_req_header(s->r, "Range"))
			return s3_send_err(s, S3E_InvalidRequest);
		part = (int)n;
	}
	for (int tries = 1;; tries++) {
		struct fs_file *fh;
		uint64_t ino;
		int r;

		e = stat_object(s, s->key, &st);
		if (e)
			goto out;
		e = s3_check_conditions(s, "", &st, 0);
		if (e) {
			if (e == S3E_NotModified) {
				char v[100];

				s3_quote_etag(st.etag, v, sizeof(v));
				gw_resp_header(s->r, "ETag", v);
			}
			goto out;
		}
		len = st.attr.length;
		if (part) {
			/* One part: all of it, sent as the part's range (as AWS does). */
			if (part > 1) {
				e = S3E_InvalidPartNumber;
				goto out;
			}
			rr = st.attr.length ? 0 : -ENOENT;
		} else {
			rr = s3_parse_range(gw_req_header(s->r, "Range"), st.attr.length, &start,
					    &len);
		}
		if (rr == -ERANGE) {
			char v[64];

			snprintf(v, sizeof(v), "bytes */%llu", (unsigned long long)st.attr.length);
			gw_resp_header(s->r, "Content-Range", v);
			e = S3E_InvalidRange;
			goto out;
		}
		partial = rr == 0;
		if (!partial) {
			start = 0;
			len = st.attr.length;
		}
		if (s->head || !len)
			break;
		r = fs_open_file(s->g->fs, NULL, st.ino, O_RDONLY, &fh, NULL);
		if (!r)
			r = gw_body_prime(fh, start, len, &body);
		if (!r)
			break;
		/* What is there now tells a failed read from a changed object. */
		ino = st.ino;
		s3_stat_free(&st);
		e = stat_object(s, s->key, &st);
		if (!e && (st.ino == ino || tries == GET_TRIES))
			e = r == -ENOENT ? S3E_NoSuchKey : s3_err_from_errno(r);
		if (e) {
			if (e != S3E_NoSuchKey)
				log_error("GET of key %s: %s", s->key, strerror(-r));
			goto out;
		}
		s3_stat_free(&st);
	}
	if (partial) {
		char v[96];

		snprintf(v, sizeof(v), "bytes %llu-%llu/%llu", (unsigned long long)start,
			 (unsigned long long)(start + len - 1), (unsigned long long)st.attr.length);
		gw_resp_header(s->r, "Content-Range", v);
	}
	object_headers(s, &st);
	gw_resp_status(s->r, partial ? 206 : 200);
	s3_add_common(s);
	gw_body_send(s->r, body, len);
out:
	s3_stat_free(&st);
	return e ? s3_send_err(s, e) : 0;
}

/*
 * GetObjectAttributes (GET ?attributes): an XML document of what
 * x-amz-object-attributes asks for, never the body. ETag (unquoted, as AWS
 * sends it here), ObjectSize, StorageClass, and ObjectParts for a multipart
 * object (its part count, from the "-N" of the ETag: the parts' own sizes
 * are not kept after completion). Checksum is never kept, so never sent.
 */
int s3_op_get_attributes(struct s3_req *s)
{
	static const char *const known[] = { "ETag", "Checksum", "ObjectParts", "StorageClass",
					     "ObjectSize" };
	const char *want = gw_req_header(s->r, "x-amz-object-attributes");
	struct buf out = BUF_INIT;
	unsigned mask = 0;
	struct obj_stat st;
	char v[100];
	enum s3_err e;

	for (const char *p = want; p && *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p), i;

		while (n && *p == ' ')
			p++, n--;
		while (n && p[n - 1] == ' ')
			n--;
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (strlen(known[i]) == n && !memcmp(known[i], p, n))
				break;
		if (i == ARRAY_SIZE(known))
			return s3_send_error(s, S3E_InvalidArgument,
					      "Invalid attribute name specified.");
		mask |= 1u << i;
		p = c ? c + 1 : p + n;
	}
	if (!mask)
		return s3_send_error(s, S3E_InvalidArgument,
				      "The x-amz-object-attributes header specifying the "
				      "attributes to be retrieved is either missing or empty");
	e = stat_object(s, s->key, &st);
	if (!e)
		e = s3_check_conditions(s, "", &st, 0);
	if (e) {
		s3_stat_free(&st);
		return s3_send_err(s, e);
	}
	s3_xml_head(&out, "GetObjectAttributesResponse");
	if (mask & 1)
		s3_xml_el(&out, "ETag", st.etag);
	if (mask & 4) {
		const char *dash = strchr(st.etag, '-');

		if (dash)
			buf_addf(&out, "<ObjectParts><PartsCount>%s</PartsCount></ObjectParts>",
				 dash + 1);
	}
	if (mask & 8)
		s3_xml_el(&out, "StorageClass", "STANDARD");
	if (mask & 16)
		buf_addf(&out, "<ObjectSize>%llu</ObjectSize>", (unsigned long long)st.attr.length);
	buf_adds(&out, "</GetObjectAttributesResponse>");
	s3_http_date(st.attr.mtime, v, sizeof(v));
	gw_resp_header(s->r, "Last-Modified", v);
	s3_send_xml(s, 200, &out);
	buf_release(&out);
	s3_stat_free(&st);
	return 0;
}

/* ---------------------------------------------------------------- delete */

static enum s3_err delete_key(struct s3_req *s, const char *key)
{
	struct buf path = BUF_INIT;
	uint64_t parent, ino;
	const char *name;
	struct meta_attr a;
	enum s3_err e;
	int r;

	e = s3_key_path(s, key, &path);
	if (e) {
		buf_release(&path);
		return e;
	}
	r = s3_resolve_parent(s->g, path.ptr, &parent, &name);
	if (!r)
		r = fs_lookup(s->g->fs, NULL, parent, name, &ino, &a);
	if (r == -ENOENT || r == -ENOTDIR) {
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	if (key[strlen(key) - 1] == '/') {
		if (a.type == META_TYPE_DIRECTORY) {
			r = fs_rmdir(s->g->fs, NULL, parent, name, 0);
			if (r == -ENOTEMPTY)
				r = 0;
		}
	} else if (a.type != META_TYPE_DIRECTORY) {
		r = fs_unlink(s->g->fs, NULL, parent, name, 0);
		if (r == -ENOENT)
			r = 0;
	}
	if (!r)
		prune_dirs(s, path.ptr);
out:
	buf_release(&path);
	return r ? s3_err_from_errno(r) : S3E_OK;
}

int s3_op_delete_object(struct s3_req *s)
{
	enum s3_err e = delete_key(s, s->key);

	return e ? s3_send_err(s, e) : s3_send_empty(s, 204);
}
int s3_op_delete_objects(struct s3_req *s)
{
	struct buf body = BUF_INIT, out = BUF_INIT;
	char **keys = NULL;
	size_t nkeys = 0;
	int quiet = 0;
	enum s3_err e;

	if (!gw_req_header(s->r, "Content-MD5") && !s->want_sha && !s->stream_signed) {
		/* S3 wants an integrity check here; MinIO waives it, and so do we. */
	}
	e = s3_read_body(s, 2 << 20, &body);
	if (e)
		goto out;
	if (s3_xml_delete(body.ptr, body.len, &keys, &nkeys, &quiet)) {
		e = S3E_MalformedXML;
		goto out;
	}
	s3_xml_head(&out, "DeleteResult");
	for (size_t i = 0; i < nkeys; i++) {
		enum s3_err de = s3_check_key(s, keys[i]);

		if (!de)
			de = s3_authorize(s, s->root, s->bucket, keys[i], "s3:DeleteObject");
		if (!de)
			de = delete_key(s, keys[i]);
		if (de) {
			buf_adds(&out, "<Error>");
			s3_xml_el(&out, "Key", keys[i]);
			s3_xml_el(&out, "Code", s3_err_code(de));
			s3_xml_el(&out, "Message", s3_err_message(de));
			buf_adds(&out, "</Error>");
		} else if (!quiet) {
			buf_adds(&out, "<Deleted>");
			s3_xml_el(&out, "Key", keys[i]);
			buf_adds(&out, "</Deleted>");
		}
	}
	buf_adds(&out, "</DeleteResult>");
	s3_send_xml(s, 200, &out);
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	buf_release(&body);
	buf_release(&out);
	return e ? s3_send_err(s, e) : 0;
}

/* ---------------------------------------------------------------- copy */

/* Stat an object in another bucket root. */
enum s3_err s3_stat_in_root(struct s3_req *s, const char *root, const char *key,
			    struct obj_stat *st)
{
	char saved[sizeof(s->root)];
	enum s3_err e;

	memcpy(saved, s->root, sizeof(saved));
	snprintf(s->root, sizeof(s->root), "%s", root);
	e = stat_object(s, key, st);
	memcpy(s->root, saved, sizeof(saved));
	return e;
}

int s3_op_copy_object(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	char sroot[300], date[40], q[100];
	char *skey = NULL;
	struct obj_stat st = { 0 };
	struct buf path = BUF_INIT, spath = BUF_INIT, tmp = BUF_INIT, meta = BUF_INIT,
		   tags = BUF_INIT, out = BUF_INIT;
	const char *md = gw_req_header(s->r, "x-amz-metadata-directive");
	const char *td = gw_req_header(s->r, "x-amz-tagging-directive");
	int replace = md && !strcasecmp(md, "REPLACE");
	struct fs_file *fh = NULL;
	struct put_src ps = { 0 };
	uint64_t ino;
	enum s3_err e;
	int r;

	buf_init(&st.meta, 0);
	buf_init(&st.tags, 0);
	e = s3_parse_copy_source(s, sroot, sizeof(sroot), &skey);
	if (e)
		goto out;
	e = s3_stat_in_root(s, sroot, skey, &st);
	if (e)
		goto out;
	e = s3_check_conditions(s, "x-amz-copy-source-", &st, 1);
	if (e)
		goto out;
	e = s3_key_path(s, s->key, &path);
	if (!e)
		e = s3_name_path(sroot, skey, 0, &spath);
	/* If-Match / If-None-Match name the destination, as on PutObject */
	if (!e)
		e = s3_put_conditions(s, s->key, &ps);
	if (e)
		goto out;
	if (!strcmp(spath.ptr, path.ptr) && !replace && !(td && !strcasecmp(td, "REPLACE"))) {
		e = S3E_InvalidRequest;
		goto out;
	}
	if (replace)
		s3_request_meta(s, &meta);
	else
		buf_adds(&meta, st.meta.ptr);
	if (td && !strcasecmp(td, "REPLACE")) {
		e = s3_header_tags(s, &tags);
		if (e)
			goto out;
	} else {
		buf_adds(&tags, st.tags.ptr);
	}
	if (st.is_dir) {
		r = fs_mkdir_p(g->fs, NULL, path.ptr, 0777 & ~g->c.umask, &ino);
		if (r) {
			e = s3_err_from_errno(r);
			goto out;
		}
	} else {
		r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, &ino, &tmp);
		if (r) {
			e = s3_err_from_errno(r);
			goto out;
		}
		r = fs_release(fh);
		if (!r)
			r = fs_clone(g->fs, NULL, st.ino, ino);
		if (r) {
			s3_unlink_temp(g, tmp.ptr);
			e = s3_err_from_errno(r);
			goto out;
		}
		ps.etag = st.etag[0] ? st.etag : EMPTY_MD5;
		ps.meta = meta.ptr;
		ps.tags = tags.ptr;
		e = s3_commit_temp(s, tmp.ptr, ino, &ps, path.ptr);
		if (e)
			goto out;
	}
	s3_xml_head(&out, "CopyObjectResult");
	s3_iso_date(now_us() / 1000000, 0, date, sizeof(date));
	s3_xml_el(&out, "LastModified", date);
	s3_quote_etag(st.etag[0] ? st.etag : EMPTY_MD5, q, sizeof(q));
	s3_xml_el(&out, "ETag", q);
	buf_adds(&out, "</CopyObjectResult>");
	s3_send_xml(s, 200, &out);
out:
	free(skey);
	s3_stat_free(&st);
	buf_release(&path);
	buf_release(&spath);
	buf_release(&tmp);
	buf_release(&meta);
	buf_release(&tags);
	buf_release(&out);
	return e ? s3_send_err(s, e) : 0;
}

/* ---------------------------------------------------------------- tagging */

int s3_op_get_tagging(struct s3_req *s)
{
	struct obj_stat st;
	struct buf out = BUF_INIT;
	struct s3_query q = { 0 };
	enum s3_err e = stat_object(s, s->key, &st);

	if (e)
		goto out;
	if (s3_query_parse(st.tags.ptr, &q)) {
		e = S3E_InternalError;
		goto out;
	}
	s3_xml_head(&out, "Tagging");
	buf_adds(&out, "<TagSet>");
	for (size_t i = 0; i < q.n; i++) {
		buf_adds(&out, "<Tag>");
		s3_xml_el(&out, "Key", q.p[i].name);
		s3_xml_el(&out, "Value", q.p[i].value);
		buf_adds(&out, "</Tag>");
	}
	buf_adds(&out, "</TagSet></Tagging>");
	s3_send_xml(s, 200, &out);
out:
	s3_query_free(&q);
	s3_stat_free(&st);
	buf_release(&out);
	return e ? s3_send_err(s, e) : 0;
}

int s3_op_put_tagging(struct s3_req *s)
{
	struct obj_stat st;
	struct buf body = BUF_INIT, tags = BUF_INIT;
	enum s3_err e = stat_object(s, s->key, &st);
	int r;

	if (e)
		goto out;
	e = s3_read_body(s, 1 << 20, &body);
	if (e)
		goto out;
	r = s3_xml_tagging(body.ptr, body.len, &tags);
	if (r) {
		e = r == -E2BIG ? S3E_InvalidTag
				: r == -EEXIST ? S3E_InvalidTagDuplicate : S3E_MalformedXML;
		goto out;
	}
	if (tags.len)
		r = s3_set_xattr_str(s->g, st.ino, XATTR_TAGS, tags.ptr);
	else
		r = fs_removexattr(s->g->fs, NULL, st.ino, XATTR_TAGS);
	if (r && r != -ENODATA)
		e = s3_err_from_errno(r);
	else
		s3_send_empty(s, 200);
out:
	s3_stat_free(&st);
	buf_release(&body);
	buf_release(&tags);
	return e ? s3_send_err(s, e) : 0;
}

int s3_op_delete_tagging(struct s3_req *s)
{
	struct obj_stat st;
	enum s3_err e = stat_object(s, s->key, &st);

	if (!e)
		fs_removexattr(s->g->fs, NULL, st.ino, XATTR_TAGS);
	s3_stat_free(&st);
	return e ? s3_send_err(s, e) : s3_send_empty(s, 204);
}

/* ---------------------------------------------------------------- for s3post.c */

int s3_temp_create(struct s3_req *s, struct fs_file **fh, uint64_t *ino, struct buf *name)
{
	return fs_create_temp(s->g->fs, NULL, S3_TMP, fh, ino, name);
}

void s3_temp_unlink(struct s3_req *s, const char *name)
{
	s3_unlink_temp(s->g, name);
}

enum s3_err s3_temp_commit(struct s3_req *s, const char *tmpname, uint64_t ino,
			   const char *etag, const char *meta, const char *tags, const char *path)
{
	struct put_src ps = { .etag = etag, .meta = meta, .tags = tags };

	if (s->g->c.umask) {
		struct meta_attr a = { .mode = (uint16_t)(0666 & ~s->g->c.umask) };

		fs_setattr(s->g->fs, NULL, ino, META_SET_MODE, &a, NULL);
	}
	return s3_commit_temp(s, tmpname, ino, &ps, path);
}
