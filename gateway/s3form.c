/*
 * gateway/s3form.c: the streaming multipart/form-data parser of POST object
 * (contract in s3post.h). A byte-driven state machine: it never needs more
 * than the current part's head and the fields before the file in memory,
 * and it holds back at most the delimiter's length of file data (bytes that
 * might begin "\r\n--boundary", which are known constants, so nothing of the
 * input is kept across calls).
 *
 * States: PREAMBLE -delimiter-> TAIL -"--"-> DONE (epilogue ignored)
 *                                    -[LWS] CRLF-> HEAD -CRLF CRLF-> BODY
 *         BODY -delimiter-> TAIL
 *
 * Why matching restarts only at the current byte after a mismatch: the
 * delimiter is CR LF "--" boundary, and a boundary has no CR (RFC 2046
 * bchars), so no proper suffix of a matched prefix can begin a new match
 * except at a CR, which only the current byte can be.
 */
#include "gateway/s3post.h"

#include <strings.h>

enum { F_PREAMBLE, F_TAIL, F_DASH, F_LF, F_HEAD, F_BODY, F_DONE };
enum { P_NONE, P_FIELD, P_FILE, P_SKIP };

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space (not last). */
static int bchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       strchr("'()+_,-./:=? ", c);
}

/*
 * A parameter of a header value: "; name=value" or "; name="quoted"". Looks
 * for want (case-insensitive) among the parameters after the first ';' of
 * v, into out. 1 found, 0 not, -EBADMSG a malformed quoted string.
 */
static int header_param(const char *v, const char *want, struct buf *out)
{
	const char *p = strchr(v, ';');

	while (p && *p == ';') {
		const char *n, *ne;
		int match;

		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		n = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		ne = p;
		while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t'))
			ne--;
		match = (size_t)(ne - n) == strlen(want) && !strncasecmp(n, want, (size_t)(ne - n));
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (match)
			buf_reset(out);
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (match)
					buf_addch(out, *p);
			}
			if (*p != '"')
				return -EBADMSG;
			p++;
		} else {
			const char *s = p;

			while (*p && *p != ';')
				p++;
			if (match) {
				const char *e = p;

				while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
					e--;
				buf_add(out, s, (size_t)(e - s));
			}
		}
		if (match)
			return 1;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	return 0;
}

int s3_form_init(struct s3_form *f, const char *content_type)
{
	struct buf b = BUF_INIT;
	const char *ct = content_type;
	size_t l;
	int r;

	memset(f, 0, sizeof(*f));
	buf_init(&f->value, 0);
	if (!ct)
		return -EINVAL;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	l = strcspn(ct, "; \t");
	if (l != 19 || strncasecmp(ct, "multipart/form-data", 19))
		return -EINVAL;
	r = header_param(ct, "boundary", &b);
	l = b.len;
	if (r != 1 || !l || l > S3_FORM_BOUNDARY_MAX || b.ptr[l - 1] == ' ') {
		buf_release(&b);
		return -EINVAL;
	}
	for (size_t i = 0; i < l; i++) {
		if (!bchar(b.ptr[i])) {
			buf_release(&b);
			return -EINVAL;
		}
	}
	memcpy(f->delim, "\r\n--", 4);
	memcpy(f->delim + 4, b.ptr, l);
	f->dlen = l + 4;
	buf_release(&b);
	/* The first delimiter may open the body: as if a CR LF came before it. */
	f->state = F_PREAMBLE;
	f->match = 2;
	return 0;
}

void s3_form_release(struct s3_form *f)
{
	free(f->name);
	f->name = NULL;
	buf_release(&f->value);
}

/* Body bytes of the current part. */
static int emit(struct s3_form *f, const uint8_t *p, size_t n, const struct s3_form_cb *cb,
		void *arg)
{
	if (!n || f->state == F_PREAMBLE)
		return 0;
	if (f->part == P_FIELD) {
		if (f->fields_bytes + n > S3_FORM_FIELDS_MAX)
			return -E2BIG;
		f->fields_bytes += n;
		buf_add(&f->value, p, n);
		return 0;
	}
	if (f->part == P_FILE && cb->file_data)
		return cb->file_data(arg, p, n);
	return 0;
}

static int end_part(struct s3_form *f, const struct s3_form_cb *cb, void *arg)
{
	int r = 0, part = f->part;

	f->part = P_NONE;
	if (part == P_FIELD && cb->field)
		r = cb->field(arg, f->name, f->value.ptr, f->value.len);
	else if (part == P_FILE && cb->file_end)
		r = cb->file_end(arg);
	free(f->name);
	f->name = NULL;
	buf_reset(&f->value);
	return r;
}

/* The part's head is complete in f->head: what the part is. */
static int start_part(struct s3_form *f, const struct s3_form_cb *cb, void *arg)
{
	struct buf name = BUF_INIT, filename = BUF_INIT, ctype = BUF_INIT;
	int have_cd = 0, r = 0;
	char *line = f->head;

	f->head[f->hlen] = 0;
	while (*line && !(line[0] == '\r' && line[1] == '\n')) {
		char *eol = strstr(line, "\r\n"), *colon, *v;

		if (!eol)
			break;
		*eol = 0;
		colon = strchr(line, ':');
		if (!colon || colon == line) {
			r = -EBADMSG;
			goto out;
		}
		*colon = 0;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (!strcasecmp(line, "content-disposition")) {
			size_t l = strcspn(v, "; \t");

			if (have_cd || l != 9 || strncasecmp(v, "form-data", 9) ||
			    header_param(v, "name", &name) != 1 ||
			    header_param(v, "filename", &filename) < 0) {
				r = -EBADMSG;
				goto out;
			}
			have_cd = 1;
		} else if (!strcasecmp(line, "content-type")) {
			buf_reset(&ctype);
			buf_adds(&ctype, v);
		}
		line = eol + 2;
	}
	if (!have_cd || !name.len || strlen(name.ptr) != name.len) {
		r = -EBADMSG;
		goto out;
	}
	if (f->seen_file) {
		f->part = P_SKIP;
	} else if (!strcasecmp(name.ptr, "file")) {
		f->part = P_FILE;
		f->seen_file = 1;
		if (cb->file_begin)
			r = cb->file_begin(arg, filename.ptr, ctype.ptr);
	} else {
		if (f->fields_bytes + name.len > S3_FORM_FIELDS_MAX) {
			r = -E2BIG;
			goto out;
		}
		f->fields_bytes += name.len;
		f->part = P_FIELD;
		f->name = buf_detach(&name, NULL);
	}
out:
	buf_release(&name);
	buf_release(&filename);
	buf_release(&ctype);
	return r;
}

int s3_form_feed(struct s3_form *f, const uint8_t *p, size_t n, const struct s3_form_cb *cb,
		 void *arg)
{
	const uint8_t *end = p + n;
	int r;

	while (p < end) {
		switch (f->state) {
		case F_PREAMBLE:
		case F_BODY: {
			/* data run start in this input; NULL while a delimiter is being matched */
			const uint8_t *run = f->match ? NULL : p;

			while (p < end) {
				if (!f->match) {
					const uint8_t *cr = memchr(p, '\r', (size_t)(end - p));

					if (!cr) {
						p = end;
						break;
					}
					p = cr;
				}
				if (*p == (uint8_t)f->delim[f->match]) {
					if (!f->match && run) {
						r = emit(f, run, (size_t)(p - run), cb, arg);
						if (r)
							return r;
					}
					run = NULL;
					p++;
					if (++f->match == f->dlen)
						break;
					continue;
				}
				/* mismatch: the held-back prefix was data after all */
				r = emit(f, (const uint8_t *)f->delim, f->match, cb, arg);
				if (r)
					return r;
				f->match = 0;
				run = p;
				if (*p != '\r')
					p++;
			}
			if (f->match == f->dlen) {
				f->match = 0;
				if (f->state == F_BODY) {
					r = end_part(f, cb, arg);
					if (r)
						return r;
				}
				f->state = F_TAIL;
			} else if (run && p > run) {
				r = emit(f, run, (size_t)(p - run), cb, arg);
				if (r)
					return r;
			}
			break;
		}
		case F_TAIL:
			if (*p == '-') {
				f->state = F_DASH;
			} else if (*p == '\r') {
				f->state = F_LF;
			} else if (*p != ' ' && *p != '\t') {
				return -EBADMSG;
			}
			p++;
			break;
		case F_DASH:
			if (*p++ != '-')
				return -EBADMSG;
			f->state = F_DONE;
			break;
		case F_LF:
			if (*p++ != '\n')
				return -EBADMSG;
			f->state = F_HEAD;
			f->hlen = 0;
			break;
		case F_HEAD:
			if (f->hlen == S3_FORM_HEADER_MAX)
				return -EBADMSG;
			f->head[f->hlen++] = (char)*p++;
			if (f->hlen == 2 && !memcmp(f->head, "\r\n", 2))
				return -EBADMSG; /* a part without a head: no name */
			if (f->hlen >= 4 && !memcmp(f->head + f->hlen - 4, "\r\n\r\n", 4)) {
				r = start_part(f, cb, arg);
				if (r)
					return r;
				f->state = F_BODY;
			}
			break;
		case F_DONE:
			return 0; /* the epilogue: ignored */
		}
	}
	return 0;
}

int s3_form_finish(struct s3_form *f)
{
	return f->state == F_DONE ? 0 : -EBADMSG;
}
