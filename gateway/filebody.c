/*
 * filebody: a file streamed as a response body, its first piece read before
 * the answer is chosen (see filebody.h for the contract).
 */
#include "gateway/filebody.h"

#include <stdatomic.h>

struct gw_body {
	struct fs_file *fh;
	uint64_t start, len;
	char *head;      /* the first piece: [start, start + nhead) */
	size_t nhead;
	struct chunk_vec whole; /* or the whole body, pinned (body_whole) */
	uint64_t charged;       /* of whole_pinned */
	uint64_t bsize;  /* the volume's block size */
};

/*
 * A body whose every block is held here (memory cache, disk cache,
 * staging) is pinned whole before the answer and sent from the blocks as
 * they are (gw_resp_pieces): no copy into MHD's buffer, no hand-off per
 * block, and every cache file's CRCs checked before the headers go out (a
 * bad one is fetched again from the object store, or the read fails and
 * the body is read as below, which answers the error as before). Anything
 * else is streamed (body_view). The bounds, against --buffer-size B (300
 * MiB by default), which JuiceFS spends on read and write buffers alike:
 *  - one body at most B/4 (75 MiB: a 64 MiB chunk fits), so that at least
 *    four go whole at once and one client cannot take the budget;
 *  - all such bodies at most B together; past that they stream, as before,
 *    under the 8-view cap.
 * A mapped block's pages are the cache file's page cache, which the kernel
 * may drop and read again, but they count here as the memory they could be.
 * Bodies up to GW_BODY_PRIME are read before the answer anyway, and a whole
 * pin of a few KiB would cost more than the copy it saves. MHD's
 * connection pool takes a copy of the piece array, so the pieces are capped
 * (16 bytes each) well under its size.
 */
enum { WHOLE_PIECES_MAX = 1024 };

static _Atomic uint64_t whole_pinned;

uint64_t gw_body_pinned(void) { return atomic_load(&whole_pinned); }

static int body_whole(struct gw_body *b)
{
	uint64_t cap = fs_file_buffer_size(b->fh);
	ssize_t n;

	if (b->len <= GW_BODY_PRIME || b->len > cap / 4)
		return 0;
	if (atomic_fetch_add(&whole_pinned, b->len) + b->len > cap) {
		atomic_fetch_sub(&whole_pinned, b->len);
		return 0;
	}
	b->charged = b->len;
	n = fs_read_vec_cached(b->fh, b->start, (size_t)b->len, &b->whole);
	if (n == (ssize_t)b->len && b->whole.n <= WHOLE_PIECES_MAX)
		return 1;
	/* not all local, shortened, unreadable or too scattered: read it as before */
	chunk_vec_release(&b->whole);
	atomic_fetch_sub(&whole_pinned, b->charged);
	b->charged = 0;
	return 0;
}

void gw_body_free(struct gw_body *b)
{
	if (!b)
		return;
	if (b->fh)
		fs_release(b->fh);
	chunk_vec_release(&b->whole);
	if (b->charged)
		atomic_fetch_sub(&whole_pinned, b->charged);
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
	if (body_whole(b)) {
		*out = b;
		return 0;
	}
	b->head = xmalloc(want ? want : 1);
	b->bsize = (uint64_t)fs_format(fs_file_fs(fh))->block_size << 10;
	/*
	 * The whole range is known: its first blocks load in parallel from
	 * here on. Found one by one as the reads went, the blocks of a cold
	 * 16 MiB GET were read from the disk one after another (strace), at
	 * half the disk's speed.
	 */
	fs_read_ahead(fh, start, len);
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

/*
 * Past the first piece the body is lent, not copied: pieces that point into
 * cached blocks pinned until MHD has taken them (fs_read_vec). A block is
 * immutable and a pinned one is never evicted or freed, so a file changed,
 * deleted or pushed out of the cache meanwhile cannot change what is sent;
 * a block that cannot be read is an error (the connection aborts), never
 * other bytes. Pinned blocks may hold the memory cache over its size, so at
 * most VIEW_PINS views are pinned at once in the process; past that a piece
 * is copied into a buffer of its own, as before.
 */
enum { VIEW_PIN = 1, VIEW_COPY = 2, VIEW_PINS = 8, VIEW_COPY_MAX = 256 << 10 };

struct view {
	int kind;
	struct chunk_vec v;
	char data[];
};

static atomic_int views_pinned;

static ssize_t body_view(void *arg, uint64_t off, size_t max, const char **p, void **cookie)
{
	struct gw_body *b = arg;
	struct view *w;
	ssize_t n;

	if (!b || !b->fh)
		return -EIO;
	if (off < b->nhead) {
		/* the first piece, read ahead of the answer; kept until the end */
		*p = b->head + off;
		*cookie = NULL;
		return (ssize_t)MIN((uint64_t)max, b->nhead - off);
	}
	if (atomic_fetch_add(&views_pinned, 1) < VIEW_PINS) {
		/*
		 * Up to the block's end (as files written whole lay them out):
		 * only one piece is lent, and pinning the next block too made
		 * the rest of this one wait for that block's load.
		 */
		if (b->bsize) {
			uint64_t to_end = b->bsize - (b->start + off) % b->bsize;
			max = (size_t)MIN((uint64_t)max, to_end);
		}
		w = xcalloc(1, sizeof(*w));
		w->kind = VIEW_PIN;
		n = fs_read_vec(b->fh, b->start + off, max, &w->v);
		if (n > 0) {
			/* one piece a view: the layer asks again for the rest */
			chunk_vec_truncate(&w->v, 1);
			*p = w->v.p[0].data;
			*cookie = w;
			return (ssize_t)w->v.p[0].len;
		}
		chunk_vec_release(&w->v);
		free(w);
		atomic_fetch_sub(&views_pinned, 1);
		/* 0 (the file ended early) makes the layer abort a fixed-length body */
		return n;
	}
	atomic_fetch_sub(&views_pinned, 1);
	/* the layer asks for up to a block; a copy stays the old buffer's size */
	max = MIN(max, (size_t)VIEW_COPY_MAX);
	w = xmalloc(sizeof(*w) + max);
	w->kind = VIEW_COPY;
	n = fs_read(b->fh, b->start + off, w->data, max);
	if (n <= 0) {
		free(w);
		return n;
	}
	*p = w->data;
	*cookie = w;
	return n;
}

static void body_unview(void *arg, void *cookie)
{
	struct view *w = cookie;

	UNUSED(arg);
	if (!w)
		return;
	if (w->kind == VIEW_PIN) {
		chunk_vec_release(&w->v);
		atomic_fetch_sub(&views_pinned, 1);
	}
	free(w);
}

static void body_done(void *arg)
{
	gw_body_free(arg);
}

void gw_body_send(struct gw_req *r, struct gw_body *b, uint64_t len)
{
	if (b && b->whole.n && len == b->len) {
		struct gw_piece *v = xmalloc(b->whole.n * sizeof(*v));

		for (size_t i = 0; i < b->whole.n; i++)
			v[i] = (struct gw_piece){ b->whole.p[i].data, b->whole.p[i].len };
		/* the pins outlive the handle; MHD's thread need not close it */
		fs_release(b->fh);
		b->fh = NULL;
		gw_resp_pieces(r, v, b->whole.n, body_done, b);
		free(v);
		return;
	}
	gw_resp_stream_view(r, (int64_t)len, body_view, body_unview, body_done, b);
}
