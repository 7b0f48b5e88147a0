/*
 * gateway/s3multipart.c: multipart uploads: Create, UploadPart (and
 * UploadPartCopy), Complete, Abort, ListParts and ListMultipartUploads. An
 * upload is a directory under /.sys/uploads holding one file per part;
 * completion joins the parts by sharing their slices, not their bytes.
 */
#include "gateway/s3.h"
#include "gateway/s3-internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- multipart */

static int valid_upload_id(const char *id)
{
	size_t n = strlen(id);

	if (n != 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return 0;
	return 1;
}

static void upload_dir(const char *id, struct buf *out)
{
	buf_reset(out);
	buf_addf(out, "%s/%.3s/%s", S3_UPLOADS, id, id);
}

/* The upload's directory, checked to belong to this bucket and key. */
static enum s3_err get_upload(struct s3_req *s, const char *id, uint64_t *dir, struct buf *path)
{
	struct buf v = BUF_INIT;
	enum s3_err e = S3E_NoSuchUpload;
	struct meta_attr a;
	int r;

	if (!id || !valid_upload_id(id))
		return S3E_NoSuchUpload;
	upload_dir(id, path);
	/* Only a missing upload is NoSuchUpload: clients give up on one, not on a 5xx. */
	if ((r = fs_resolve(s->g->fs, NULL, path->ptr, dir, &a)) || a.type != META_TYPE_DIRECTORY)
		goto fail;
	if ((r = s3_get_xattr_str(s->g, *dir, XATTR_UP_BUCKET, &v)) || strcmp(v.ptr, s->bucket))
		goto fail;
	if ((r = s3_get_xattr_str(s->g, *dir, XATTR_UP_KEY, &v)) || strcmp(v.ptr, s->key))
		goto fail;
	e = S3E_OK;
	goto out;
fail:
	if (r && r != -ENOENT && r != -ENOTDIR && r != -ENODATA)
		e = s3_err_from_errno(r);
out:
	buf_release(&v);
	return e;
}

int s3_op_create_upload(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	uint8_t rnd[16];
	char id[33];
	struct buf path = BUF_INIT, meta = BUF_INIT, tags = BUF_INIT, out = BUF_INIT;
	uint64_t dir;
	enum s3_err e;
	int r;

	e = s3_header_tags(s, &tags);
	if (e)
		goto out;
	random_bytes(rnd, sizeof(rnd));
	s3_hex(rnd, 16, id);
	upload_dir(id, &path);
	r = fs_mkdir_p(g->fs, NULL, path.ptr, 0755, &dir);
	s3_request_meta(s, &meta);
	if (!r)
		r = s3_set_xattr_str(g, dir, XATTR_UP_BUCKET, s->bucket);
	if (!r)
		r = s3_set_xattr_str(g, dir, XATTR_UP_KEY, s->key);
	if (!r && meta.len)
		r = s3_set_xattr_str(g, dir, XATTR_META, meta.ptr);
	if (!r && tags.len)
		r = s3_set_xattr_str(g, dir, XATTR_TAGS, tags.ptr);
	if (r) {
		e = s3_err_from_errno(r);
		goto out;
	}
	s3_xml_head(&out, "InitiateMultipartUploadResult");
	s3_xml_el(&out, "Bucket", s->bucket);
	s3_xml_el(&out, "Key", s->key);
	s3_xml_el(&out, "UploadId", id);
	buf_adds(&out, "</InitiateMultipartUploadResult>");
	s3_send_xml(s, 200, &out);
out:
	buf_release(&path);
	buf_release(&meta);
	buf_release(&tags);
	buf_release(&out);
	return e ? s3_send_err(s, e) : 0;
}

static int part_number(struct s3_req *s, int *n)
{
	const char *v = s3_query_get(&s->q, "partNumber");

	if (!v || parse_int(v, n) || *n < 1 || *n > 10000)
		return -EINVAL;
	return 0;
}

/* md5 hex of a file's bytes (for UploadPartCopy of a range). */
static int file_md5(struct s3_gw *g, uint64_t ino, uint64_t len, char out[33])
{
	struct fs_file *fh;
	uint8_t *buf, md[16];
	EVP_MD_CTX *ctx;
	uint64_t off = 0;
	unsigned int l;
	int r = fs_open_file(g->fs, NULL, ino, O_RDONLY, &fh, NULL);

	if (r)
		return r;
	buf = xmalloc(IO_BUF);
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	while (off < len) {
		ssize_t n = fs_read(fh, off, buf, (size_t)MIN((uint64_t)IO_BUF, len - off));

		if (n <= 0) {
			r = n < 0 ? (int)n : -EIO;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, md, &l);
	s3_hex(md, 16, out);
	EVP_MD_CTX_free(ctx);
	free(buf);
	fs_release(fh);
	return r;
}


/*
 * x-amz-copy-source-range: only "bytes=FIRST-LAST" is allowed (no suffix, no
 * open end, one range). Bad syntax is InvalidArgument; a range the source
 * cannot satisfy is InvalidRange, as AWS answers.
 */
enum s3_err s3_copy_source_range(const char *v, uint64_t size, uint64_t *start,
				 uint64_t *len)
{
	uint64_t a, b;
	const char *dash;
	char num[24];
	size_t n;

	if (strncmp(v, "bytes=", 6))
		return S3E_InvalidArgument;
	v += 6;
	dash = strchr(v, '-');
	if (!dash || (n = (size_t)(dash - v)) == 0 || n >= sizeof(num))
		return S3E_InvalidArgument;
	memcpy(num, v, n);
	num[n] = 0;
	if (parse_u64(num, &a) || parse_u64(dash + 1, &b) || b < a)
		return S3E_InvalidArgument;
	if (b >= size)
		return S3E_InvalidRange;
	*start = a;
	*len = b - a + 1;
	return S3E_OK;
}

int s3_op_upload_part(struct s3_req *s, int copy)
{
	struct s3_gw *g = s->g;
	struct buf dpath = BUF_INIT, ppath = BUF_INIT, tmp = BUF_INIT, out = BUF_INIT;
	char etag[33], q[40];
	uint64_t dir, ino;
	int pn, r;
	enum s3_err e;
	struct put_src ps = { 0 };

	e = get_upload(s, s3_query_get(&s->q, "uploadId"), &dir, &dpath);
	if (e)
		goto out;
	if (part_number(s, &pn)) {
		e = S3E_InvalidArgument;
		goto out;
	}
	buf_addf(&ppath, "%s/%d", dpath.ptr, pn);
	if (!copy) {
		if (s->body_len < 0) {
			e = S3E_MissingContentLength;
			goto out;
		}
		{
			/* a part that alone cannot fit the key's quota is refused unstored */
			struct buf kp = BUF_INIT;
			r = s3_key_path(s, s->key, &kp) ? 0
						      : fs_quota_precheck(g->fs, kp.ptr,
									  (uint64_t)s->body_len);
			buf_release(&kp);
			if (r) {
				e = s3_err_from_errno(r);
				goto out;
			}
		}
		e = s3_body_to_temp(s, &tmp, &ino);
		if (e)
			goto out;
		s3_hex(s->md5_out, 16, etag);
	} else {
		char sroot[300], *skey = NULL;
		struct obj_stat st = { 0 };
		uint64_t start = 0, len;
		struct fs_file *fh;
		const char *rng = gw_req_header(s->r, "x-amz-copy-source-range");

		buf_init(&st.meta, 0);
		buf_init(&st.tags, 0);
		e = s3_parse_copy_source(s, sroot, sizeof(sroot), &skey);
		if (!e)
			e = s3_stat_in_root(s, sroot, skey, &st);
		free(skey);
		if (!e)
			e = s3_check_conditions(s, "x-amz-copy-source-", &st, 1);
		len = st.attr.length;
		if (!e && rng)
			e = s3_copy_source_range(rng, st.attr.length, &start, &len);
		if (!e) {
			r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, &ino, &tmp);
			if (!r)
				r = fs_release(fh);
			if (!r && len) {
				uint64_t done = 0;

				while (done < len) {
					ssize_t n = fs_copy_file_range(g->fs, NULL, st.ino,
								       start + done, ino, done,
								       len - done);
					if (n <= 0) {
						r = n < 0 ? (int)n : -EIO;
						break;
					}
					done += (uint64_t)n;
				}
			}
			if (!r)
				r = file_md5(g, ino, len, etag);
			if (r) {
				if (tmp.len)
					s3_unlink_temp(g, tmp.ptr);
				e = s3_err_from_errno(r);
			}
		}
		s3_stat_free(&st);
		if (e)
			goto out;
	}
	ps.etag = etag;
	e = s3_commit_temp(s, tmp.ptr, ino, &ps, ppath.ptr);
	if (e)
		goto out;
	s3_quote_etag(etag, q, sizeof(q));
	if (copy) {
		char date[40];

		s3_xml_head(&out, "CopyPartResult");
		s3_iso_date(now_us() / 1000000, 0, date, sizeof(date));
		s3_xml_el(&out, "LastModified", date);
		s3_xml_el(&out, "ETag", q);
		buf_adds(&out, "</CopyPartResult>");
		s3_send_xml(s, 200, &out);
	} else {
		gw_resp_header(s->r, "ETag", q);
		s3_send_empty(s, 200);
	}
out:
	buf_release(&dpath);
	buf_release(&ppath);
	buf_release(&tmp);
	buf_release(&out);
	return e ? s3_send_err(s, e) : 0;
}

static int remove_cb(void *arg, const struct meta_dirent *d)
{
	struct buf *names = arg;

	buf_add(names, d->name, d->namelen);
	buf_addch(names, 0);
	return 0;
}

/* Remove an upload's directory and its parts. */
/* 0, or the first failure other than "already gone" (the upload may remain). */
static int remove_upload(struct s3_gw *g, const char *id, uint64_t dir)
{
	struct buf names = BUF_INIT, path = BUF_INIT;
	uint64_t parent;
	const char *name;
	int r, err;

	err = fs_list(g->fs, NULL, dir, NULL, 0, remove_cb, &names);
	for (size_t off = 0; off < names.len; off += strlen(names.ptr + off) + 1)
		if ((r = fs_unlink(g->fs, NULL, dir, names.ptr + off, 1)) && r != -ENOENT && !err)
			err = r;
	upload_dir(id, &path);
	r = s3_resolve_parent(g, path.ptr, &parent, &name);
	if (!r)
		r = fs_rmdir(g->fs, NULL, parent, name, 1);
	if (r && r != -ENOENT && !err)
		err = r;
	buf_release(&names);
	buf_release(&path);
	return err == -ENOENT ? 0 : err;
}

int s3_op_abort_upload(struct s3_req *s)
{
	struct buf path = BUF_INIT;
	uint64_t dir;
	const char *id = s3_query_get(&s->q, "uploadId");
	enum s3_err e = get_upload(s, id, &dir, &path);

	if (!e)
		e = s3_err_from_errno(remove_upload(s->g, id, dir));
	buf_release(&path);
	return e ? s3_send_err(s, e) : s3_send_empty(s, 204);
}

static void remember_done(struct s3_req *s, const char *id, const char *etag, uint64_t ino)
{
	struct s3_gw *g = s->g;
	struct s3_done_upload *d;

	pthread_mutex_lock(&g->done_mu);
	d = &g->done[g->done_next++ % S3_DONE_UPLOADS];
	free(d->bucket);
	free(d->key);
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->etag, sizeof(d->etag), "%s", etag);
	d->bucket = xstrdup(s->bucket);
	d->key = xstrdup(s->key);
	d->ino = ino;
	d->at_ms = mono_ms();
	pthread_mutex_unlock(&g->done_mu);
}

/*
 * A Complete for an upload this gateway completed lately, for the same
 * bucket and key: its ETag (the caller checks the parts), or 0 when there
 * is none or the object it made was replaced since.
 */
static int recall_done(struct s3_req *s, const char *id, char etag[48])
{
	struct s3_gw *g = s->g;
	struct buf path = BUF_INIT;
	uint64_t ino = 0, want = 0;
	struct meta_attr a;
	int found = 0;

	pthread_mutex_lock(&g->done_mu);
	for (size_t i = 0; i < S3_DONE_UPLOADS && !found; i++) {
		struct s3_done_upload *d = &g->done[i];

		if (d->bucket && !strcmp(d->id, id) && !strcmp(d->bucket, s->bucket) &&
		    !strcmp(d->key, s->key) && mono_ms() - d->at_ms < S3_DONE_UPLOAD_MS) {
			memcpy(etag, d->etag, 48);
			want = d->ino;
			found = 1;
		}
	}
	pthread_mutex_unlock(&g->done_mu);
	if (found && (s3_key_path(s, s->key, &path) ||
		      fs_resolve(g->fs, NULL, path.ptr, &ino, &a) || ino != want))
		found = 0;
	buf_release(&path);
	return found;
}

/* The multipart ETag of the listed parts: MD5 of their binary MD5s, "-N". */
static int parts_etag(const struct s3_part_ref *parts, size_t n, char out[48])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[16], bin[16];
	unsigned int l;

	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (size_t i = 0; i < n; i++) {
		const char *h = parts[i].etag;

		if (strlen(h) != 32) {
			EVP_MD_CTX_free(ctx);
			return -1;
		}
		for (int k = 0; k < 16; k++) {
			char b[3] = { h[2 * k], h[2 * k + 1], 0 };

			if (!isxdigit((unsigned char)b[0]) || !isxdigit((unsigned char)b[1])) {
				EVP_MD_CTX_free(ctx);
				return -1;
			}
			bin[k] = (uint8_t)strtoul(b, NULL, 16);
		}
		EVP_DigestUpdate(ctx, bin, 16);
	}
	EVP_DigestFinal_ex(ctx, md, &l);
	EVP_MD_CTX_free(ctx);
	s3_hex(md, 16, out);
	snprintf(out + 32, 48 - 32, "-%zu", n);
	return 0;
}

static int send_complete_result(struct s3_req *s, const char *etag)
{
	struct buf out = BUF_INIT;
	char q[60];

	s3_xml_head(&out, "CompleteMultipartUploadResult");
	s3_xml_el(&out, "Location", gw_req_raw_path(s->r));
	s3_xml_el(&out, "Bucket", s->bucket);
	s3_xml_el(&out, "Key", s->key);
	s3_quote_etag(etag, q, sizeof(q));
	s3_xml_el(&out, "ETag", q);
	buf_adds(&out, "</CompleteMultipartUploadResult>");
	s3_send_xml(s, 200, &out);
	buf_release(&out);
	return 0;
}

/*
 * A Complete sent again after a lost answer: the same 200 when this gateway
 * completed that upload lately, the object it made is still in place and
 * the body lists the same parts (their ETags give the same multipart ETag).
 */
static int complete_again(struct s3_req *s, const char *id)
{
	struct buf body = BUF_INIT;
	struct s3_part_ref *parts = NULL;
	size_t nparts = 0;
	char had[48], now[48];
	int again = recall_done(s, id, had);

	if (again)
		again = !s3_read_body(s, 4 << 20, &body) &&
			!s3_xml_complete(body.ptr, body.len, &parts, &nparts) &&
			!parts_etag(parts, nparts, now) && !strcmp(had, now);
	free(parts);
	buf_release(&body);
	return again ? send_complete_result(s, had) : s3_send_err(s, S3E_NoSuchUpload);
}

int s3_op_complete_upload(struct s3_req *s)
{
	struct s3_gw *g = s->g;
	const char *id = s3_query_get(&s->q, "uploadId");
	struct buf dpath = BUF_INIT, body = BUF_INIT, path = BUF_INIT, tmp = BUF_INIT,
		   meta = BUF_INIT, tags = BUF_INIT, v = BUF_INIT;
	struct s3_part_ref *parts = NULL;
	size_t nparts = 0;
	uint64_t dir, ino = 0, off = 0;
	struct fs_file *fh = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint8_t md[16];
	unsigned int l;
	char etag[48];
	struct put_src cond = { 0 };
	enum s3_err e;
	int r = 0;

	e = get_upload(s, id, &dir, &dpath);
	if (e == S3E_NoSuchUpload && id && valid_upload_id(id)) {
		buf_release(&dpath);
		return complete_again(s, id);
	}
	if (!e)
		e = s3_put_conditions(s, s->key, &cond);
	if (e)
		goto out;
	e = s3_read_body(s, 4 << 20, &body);
	if (e)
		goto out;
	if (s3_xml_complete(body.ptr, body.len, &parts, &nparts)) {
		e = S3E_MalformedXML;
		goto out;
	}
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].number < 1 || parts[i].number > 10000) {
			e = S3E_InvalidPart;
			goto out;
		}
		if (i && parts[i].number <= parts[i - 1].number) {
			e = S3E_InvalidPartOrder;
			goto out;
		}
	}
	r = fs_create_temp(g->fs, NULL, S3_TMP, &fh, &ino, &tmp);
	if (!r)
		r = fs_release(fh);
	if (r) {
		e = s3_err_from_errno(r);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (size_t i = 0; i < nparts && !e; i++) {
		char name[16];
		uint64_t pino, done = 0;
		struct meta_attr a;
		uint8_t bin[16];

		snprintf(name, sizeof(name), "%d", parts[i].number);
		if (fs_lookup(g->fs, NULL, dir, name, &pino, &a) ||
		    s3_get_xattr_str(g, pino, XATTR_ETAG, &v) || strcmp(v.ptr, parts[i].etag) ||
		    v.len != 32) {
			e = S3E_InvalidPart;
			break;
		}
		if (i + 1 < nparts && a.length < MIN_PART) {
			e = S3E_EntityTooSmall;
			break;
		}
		for (int k = 0; k < 16; k++) {
			unsigned hi = (unsigned)(isdigit((unsigned char)v.ptr[2 * k])
							 ? v.ptr[2 * k] - '0'
							 : v.ptr[2 * k] - 'a' + 10);
			unsigned lo = (unsigned)(isdigit((unsigned char)v.ptr[2 * k + 1])
							 ? v.ptr[2 * k + 1] - '0'
							 : v.ptr[2 * k + 1] - 'a' + 10);
			bin[k] = (uint8_t)(hi << 4 | lo);
		}
		EVP_DigestUpdate(ctx, bin, 16);
		while (done < a.length) {
			ssize_t n = fs_copy_file_range(g->fs, NULL, pino, done, ino, off + done,
						       a.length - done);

			if (n <= 0) {
				e = s3_err_from_errno(n < 0 ? (int)n : -EIO);
				break;
			}
			done += (uint64_t)n;
		}
		off += a.length;
	}
	if (e) {
		s3_unlink_temp(g, tmp.ptr);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &l);
	s3_hex(md, 16, etag);
	snprintf(etag + 32, sizeof(etag) - 32, "-%zu", nparts);
	s3_get_xattr_str(g, dir, XATTR_META, &meta);
	s3_get_xattr_str(g, dir, XATTR_TAGS, &tags);
	{
		struct put_src ps = { .etag = etag, .meta = meta.ptr, .tags = tags.ptr,
				      .noreplace = cond.noreplace, .if_match = cond.if_match };

		e = s3_key_path(s, s->key, &path);
		if (!e)
			e = s3_commit_temp(s, tmp.ptr, ino, &ps, path.ptr);
		else
			s3_unlink_temp(g, tmp.ptr);
	}
	if (e)
		goto out;
	remove_upload(g, id, dir);
	remember_done(s, id, etag, ino);
	send_complete_result(s, etag);
out:
	EVP_MD_CTX_free(ctx);
	free(parts);
	buf_release(&dpath);
	buf_release(&body);
	buf_release(&path);
	buf_release(&tmp);
	buf_release(&meta);
	buf_release(&tags);
	buf_release(&v);
	return e ? s3_send_err(s, e) : 0;
}

struct part_info {
	int number;
	uint64_t ino, size;
	int64_t mtime;
};

struct part_list {
	struct part_info *p;
	size_t n;
};

static int parts_cb(void *arg, const struct meta_dirent *d)
{
	struct part_list *pl = arg;
	char name[16];
	int n;

	if (d->type != META_TYPE_FILE || d->namelen >= sizeof(name))
		return 0;
	memcpy(name, d->name, d->namelen);
	name[d->namelen] = 0;
	if (parse_int(name, &n))
		return 0;
	pl->p = xrealloc(pl->p, (pl->n + 1) * sizeof(*pl->p));
	pl->p[pl->n].number = n;
	pl->p[pl->n].ino = d->ino;
	pl->p[pl->n].size = d->attr.length;
	pl->p[pl->n].mtime = d->attr.mtime;
	pl->n++;
	return 0;
}

static int part_cmp(const void *a, const void *b)
{
	return ((const struct part_info *)a)->number - ((const struct part_info *)b)->number;
}

int s3_op_list_parts(struct s3_req *s)
{
	const char *id = s3_query_get(&s->q, "uploadId");
	const char *mk = s3_query_get(&s->q, "part-number-marker");
	const char *mp = s3_query_get(&s->q, "max-parts");
	struct buf dpath = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
	struct part_list pl = { 0 };
	int marker = 0, maxp = 1000, last = 0;
	size_t shown = 0, i;
	uint64_t dir;
	enum s3_err e = get_upload(s, id, &dir, &dpath);

	if (e)
		goto out;
	if ((mk && parse_int(mk, &marker)) || (mp && (parse_int(mp, &maxp) || maxp < 0))) {
		e = S3E_InvalidArgument;
		goto out;
	}
	maxp = MIN(maxp, 1000);
	int r = fs_list(s->g->fs, NULL, dir, NULL, 0, parts_cb, &pl);
	if (r) {
		e = r == -ENOENT ? S3E_NoSuchUpload : s3_err_from_errno(r);
		goto out;
	}
	if (pl.n)
		qsort(pl.p, pl.n, sizeof(*pl.p), part_cmp);
	s3_xml_head(&out, "ListPartsResult");
	s3_xml_el(&out, "Bucket", s->bucket);
	s3_xml_el(&out, "Key", s->key);
	s3_xml_el(&out, "UploadId", id);
	buf_addf(&out, "<PartNumberMarker>%d</PartNumberMarker>", marker);
	for (i = 0; i < pl.n; i++) {
		char date[40], q[48];

		if (pl.p[i].number <= marker)
			continue;
		if ((int)shown == maxp)
			break;
		s3_get_xattr_str(s->g, pl.p[i].ino, XATTR_ETAG, &v);
		buf_adds(&out, "<Part>");
		buf_addf(&out, "<PartNumber>%d</PartNumber>", pl.p[i].number);
		s3_iso_date(pl.p[i].mtime, 0, date, sizeof(date));
		s3_xml_el(&out, "LastModified", date);
		s3_quote_etag(v.ptr, q, sizeof(q));
		s3_xml_el(&out, "ETag", q);
		buf_addf(&out, "<Size>%llu</Size></Part>", (unsigned long long)pl.p[i].size);
		last = pl.p[i].number;
		shown++;
	}
	buf_addf(&out, "<NextPartNumberMarker>%d</NextPartNumberMarker>", last);
	buf_addf(&out, "<MaxParts>%d</MaxParts><IsTruncated>%s</IsTruncated>", maxp,
		 i < pl.n ? "true" : "false");
	buf_adds(&out, "<StorageClass>STANDARD</StorageClass></ListPartsResult>");
	s3_send_xml(s, 200, &out);
out:
	free(pl.p);
	buf_release(&dpath);
	buf_release(&out);
	buf_release(&v);
	return e ? s3_send_err(s, e) : 0;
}

struct upload_info {
	char *key, *id;
	int64_t mtime;
};

struct upload_walk {
	struct s3_gw *g;
	const char *bucket, *prefix;
	struct upload_info *u;
	size_t n;
	uint64_t *dirs;
	size_t ndirs;
};

static int uploads_top_cb(void *arg, const struct meta_dirent *d)
{
	struct upload_walk *w = arg;

	if (d->type == META_TYPE_DIRECTORY) {
		w->dirs = xrealloc(w->dirs, (w->ndirs + 1) * sizeof(*w->dirs));
		w->dirs[w->ndirs++] = d->ino;
	}
	return 0;
}

static int uploads_cb(void *arg, const struct meta_dirent *d)
{
	struct upload_walk *w = arg;
	struct buf b = BUF_INIT, k = BUF_INIT;
	int rb, rk = -ENODATA;

	if (d->type != META_TYPE_DIRECTORY)
		return 0;
	if (!(rb = s3_get_xattr_str(w->g, d->ino, XATTR_UP_BUCKET, &b)) && !strcmp(b.ptr, w->bucket) &&
	    !(rk = s3_get_xattr_str(w->g, d->ino, XATTR_UP_KEY, &k)) &&
	    !strncmp(k.ptr, w->prefix, strlen(w->prefix))) {
		w->u = xrealloc(w->u, (w->n + 1) * sizeof(*w->u));
		w->u[w->n].key = buf_detach(&k, NULL);
		w->u[w->n].id = xstrndup(d->name, d->namelen);
		w->u[w->n].mtime = d->attr.mtime;
		w->n++;
	}
	buf_release(&b);
	buf_release(&k);
	/* an upload that could not be read is an error, not an upload left out */
	if (rb == -ENODATA || rb == -ENOENT)
		rb = 0;
	return rb ? rb : rk == -ENODATA || rk == -ENOENT ? 0 : rk;
}

static int upload_cmp(const void *a, const void *b)
{
	const struct upload_info *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->id, y->id);
}

int s3_op_list_uploads(struct s3_req *s)
{
	const char *prefix = s3_query_get(&s->q, "prefix");
	const char *km = s3_query_get(&s->q, "key-marker");
	const char *um = s3_query_get(&s->q, "upload-id-marker");
	const char *mu = s3_query_get(&s->q, "max-uploads");
	const char *delim = s3_query_get(&s->q, "delimiter");
	struct upload_walk w = { .g = s->g, .bucket = s->bucket, .prefix = prefix ? prefix : "" };
	struct buf out = BUF_INIT;
	uint64_t top;
	int maxu = 1000;
	size_t shown = 0, i;
	const struct upload_info *last = NULL;

	if (mu && (parse_int(mu, &maxu) || maxu < 0))
		return s3_send_err(s, S3E_InvalidArgument);
	maxu = MIN(maxu, 1000);
	int r = fs_resolve(s->g->fs, NULL, S3_UPLOADS, &top, NULL);
	if (!r) {
		r = fs_list(s->g->fs, NULL, top, NULL, 0, uploads_top_cb, &w);
		for (i = 0; r >= 0 && i < w.ndirs; i++)
			r = fs_list(s->g->fs, NULL, w.dirs[i], NULL, 0, uploads_cb, &w);
	}
	if (r < 0 && r != -ENOENT) {
		r = s3_send_err(s, s3_err_from_errno(r)); /* not a list with uploads left out */
		goto out;
	}
	r = 0;
	if (w.n)
		qsort(w.u, w.n, sizeof(*w.u), upload_cmp);
	s3_xml_head(&out, "ListMultipartUploadsResult");
	s3_xml_el(&out, "Bucket", s->bucket);
	s3_xml_el(&out, "KeyMarker", km);
	s3_xml_el(&out, "UploadIdMarker", um);
	s3_xml_el(&out, "Prefix", prefix);
	if (delim)
		s3_xml_el(&out, "Delimiter", delim);
	for (i = 0; i < w.n; i++) {
		char date[40];
		int c = km ? strcmp(w.u[i].key, km) : 1;

		if (c < 0 || (c == 0 && (!um || strcmp(w.u[i].id, um) <= 0)))
			continue;
		if ((int)shown == maxu)
			break;
		buf_adds(&out, "<Upload>");
		s3_xml_el(&out, "Key", w.u[i].key);
		s3_xml_el(&out, "UploadId", w.u[i].id);
		s3_iso_date(w.u[i].mtime, 0, date, sizeof(date));
		buf_adds(&out, "<Initiator><ID>juicefs</ID><DisplayName>juicefs</DisplayName>"
			       "</Initiator><Owner><ID>juicefs</ID><DisplayName>juicefs"
			       "</DisplayName></Owner><StorageClass>STANDARD</StorageClass>");
		s3_xml_el(&out, "Initiated", date);
		buf_adds(&out, "</Upload>");
		last = &w.u[i];
		shown++;
	}
	s3_xml_el(&out, "NextKeyMarker", last ? last->key : "");
	s3_xml_el(&out, "NextUploadIdMarker", last ? last->id : "");
	buf_addf(&out, "<MaxUploads>%d</MaxUploads><IsTruncated>%s</IsTruncated>", maxu,
		 i < w.n ? "true" : "false");
	buf_adds(&out, "</ListMultipartUploadsResult>");
	s3_send_xml(s, 200, &out);
out:
	for (i = 0; i < w.n; i++) {
		free(w.u[i].key);
		free(w.u[i].id);
	}
	free(w.u);
	free(w.dirs);
	buf_release(&out);
	return r;
}
