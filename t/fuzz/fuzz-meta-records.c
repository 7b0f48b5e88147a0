/*
 * fuzz-meta-records: binary and text records read back from the metadata
 * engine, which every client of the volume writes: inode attributes
 * (meta_attr_decode, spec §3.2), a chunk's slice list resolved into the
 * pieces a read uses (meta_slice_decode + meta_build_slices, spec §3.4) and
 * the WebDAV lock record (dav_lock_decode). The first byte picks the record.
 */
#include "t/fuzz/fuzz.h"
#include "gateway/dav_proto.h"
#include "meta/meta.h"

static void attr(const uint8_t *data, size_t size)
{
	struct meta_attr a, b;
	uint8_t enc[META_ATTR_MAX_ENC];
	size_t n;

	if (meta_attr_decode(data, size, &a))
		return;
	/* Encoding what was decoded gives the same attributes back. */
	n = meta_attr_encode(&a, enc);
	FUZZ_CHECK(n <= sizeof(enc));
	FUZZ_CHECK(!meta_attr_decode(enc, n, &b));
	FUZZ_CHECK(a.type == b.type && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
		   a.length == b.length && a.nlink == b.nlink && a.mtime == b.mtime &&
		   a.mtimensec == b.mtimensec);
}

static void slices(const uint8_t *data, size_t size)
{
	size_t n = size / META_SLICE_BYTES, nout = 0;
	struct meta_slice *in = xcalloc(n ? n : 1, sizeof(*in)), *out = NULL;
	uint64_t cursor = 0;

	for (size_t i = 0; i < n; i++)
		meta_slice_decode(data + i * META_SLICE_BYTES, &in[i]);
	meta_build_slices(in, n, &out, &nout);
	/* Pieces tile the chunk from 0: sorted, no gap, no overlap, none empty. */
	for (size_t j = 0; j < nout; j++) {
		FUZZ_CHECK(out[j].pos == cursor && out[j].len > 0);
		FUZZ_CHECK(out[j].id || (!out[j].off && !out[j].size));
		cursor += out[j].len;
	}
	/* ... and end where the record reaching furthest ends, within the chunk. */
	uint64_t end = 0;

	for (size_t i = 0; i < n; i++)
		if (in[i].len && in[i].pos < META_CHUNK_SIZE)
			end = MAX(end, MIN((uint64_t)in[i].pos + in[i].len,
					   (uint64_t)META_CHUNK_SIZE));
	FUZZ_CHECK(cursor == end);
	free(in);
	free(out);
}

static void lock(const uint8_t *data, size_t size)
{
	struct dav_lock l, m;
	struct buf b = BUF_INIT;

	if (dav_lock_decode("opaquelocktoken:x", (const char *)data, size, &l))
		return;
	FUZZ_CHECK(l.root && l.root[0] == '/');
	dav_lock_encode(&l, &b);
	FUZZ_CHECK(!dav_lock_decode("opaquelocktoken:x", b.ptr, b.len, &m));
	FUZZ_CHECK(!strcmp(l.root, m.root) && l.exclusive == m.exclusive &&
		   l.depth_inf == m.depth_inf && l.timeout == m.timeout &&
		   l.expires == m.expires);
	FUZZ_CHECK(l.owner ? m.owner && !strcmp(l.owner, m.owner) : !m.owner);
	dav_lock_release(&l);
	dav_lock_release(&m);
	buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	switch (fuzz_take(&data, &size, 1) % 3) {
	case 0:
		attr(data, size);
		break;
	case 1:
		slices(data, size);
		break;
	default:
		lock(data, size);
	}
	return 0;
}
