/*
 * filebody: a file streamed as a response body, its first piece read before
 * the answer is chosen (see filebody.h for the contract).
 */
#include "gateway/filebody.h"

struct gw_body {
	struct fs_file *fh;
	uint64_t start, len;
	char *head;      /* the first piece: [start, start + nhead) */
	size_t nhead;
};

void gw_body_free(struct gw_body *b)
{
	if (!b)
		return;
	if (b->fh)
		fs_release(b->fh);
	free(b->head);
	free(b);
}

int gw_body_prime(struct fs_file *fh, uint64_t start, uint64_t len, struct gw_body **out)
{
	struct gw_body *b = xcalloc(1, sizeof(*b));
	size_t want = (size_t)MIN(len, (uint64_t)GW_BODY_PRIME);
	int r = 0;

	b->fh = fh;
	b->start = start;
	b->len = len;
	b->head = xmalloc(want ? want : 1);
	while (b->nhead < want) {
		ssize_t n = fs_read(fh, start + b->nhead, b->head + b->nhead, want - b->nhead);

		if (n <= 0) {
			r = n < 0 ? (int)n : -EIO; /* shortened under us: not what was promised */
			goto out;
		}
		b->nhead += (size_t)n;
	}
	*out = b;
	b = NULL;
out:
	gw_body_free(b);
	return r;
}

static ssize_t body_read(void *arg, uint64_t off, void *buf, size_t max)
{
	struct gw_body *b = arg;

	if (!b || !b->fh)
		return -EIO;
	if (off < b->nhead) {
		size_t n = (size_t)MIN((uint64_t)max, b->nhead - off);

		memcpy(buf, b->head + off, n);
		return (ssize_t)n;
	}
	if (b->head) { /* the first piece has been sent: keep no copy */
		free(b->head);
		b->head = NULL;
		b->nhead = 0;
	}
	/* 0 (the file ended early) makes the layer abort a fixed-length body */
	return fs_read(b->fh, b->start + off, buf, max);
}

static void body_done(void *arg)
{
	gw_body_free(arg);
}

void gw_body_send(struct gw_req *r, struct gw_body *b, uint64_t len)
{
	gw_resp_stream(r, (int64_t)len, body_read, body_done, b);
}
