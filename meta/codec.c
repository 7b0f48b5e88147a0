/*
 * Byte encodings shared by every engine: the binary attribute (spec §3.2),
 * the 24-byte slice record (spec §3.4) and chunk resolution (Appendix E).
 */
#include "meta/meta.h"

size_t meta_attr_encode(const struct meta_attr *a, uint8_t out[META_ATTR_MAX_ENC])
{
	size_t n = 71;
	out[0] = a->flags;
	put_be16(out + 1, (uint16_t)((a->type << 12) | (a->mode & 0x0fff)));
	put_be32(out + 3, a->uid);
	put_be32(out + 7, a->gid);
	put_be64(out + 11, (uint64_t)a->atime);
	put_be32(out + 19, a->atimensec);
	put_be64(out + 23, (uint64_t)a->mtime);
	put_be32(out + 31, a->mtimensec);
	put_be64(out + 35, (uint64_t)a->ctime);
	put_be32(out + 43, a->ctimensec);
	put_be32(out + 47, a->nlink);
	put_be64(out + 51, a->length);
	put_be32(out + 59, a->rdev);
	put_be64(out + 63, a->parent);
	if (a->access_acl || a->default_acl) {
		put_be32(out + n, a->access_acl);
		put_be32(out + n + 4, a->default_acl);
		n += 8;
	}
	if (a->tier)
		out[n++] = a->tier;
	/* JuiceFS allocates one byte more than it writes: keep the zero pad. */
	out[n++] = 0;
	return n;
}

int meta_attr_decode(const uint8_t *p, size_t n, struct meta_attr *a)
{
	if (n < 63)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->flags = p[0];
	uint16_t tm = get_be16(p + 1);
	a->type = (uint8_t)(tm >> 12);
	a->mode = tm & 0x0fff;
	a->uid = get_be32(p + 3);
	a->gid = get_be32(p + 7);
	a->atime = (int64_t)get_be64(p + 11);
	a->atimensec = get_be32(p + 19);
	a->mtime = (int64_t)get_be64(p + 23);
	a->mtimensec = get_be32(p + 31);
	a->ctime = (int64_t)get_be64(p + 35);
	a->ctimensec = get_be32(p + 43);
	a->nlink = get_be32(p + 47);
	a->length = get_be64(p + 51);
	a->rdev = get_be32(p + 59);
	size_t off = 63;
	if (n - off >= 8) {
		a->parent = get_be64(p + off);
		off += 8;
	}
	if (n - off >= 8) {
		a->access_acl = get_be32(p + off);
		a->default_acl = get_be32(p + off + 4);
		off += 8;
	}
	if (n - off >= 1)
		a->tier = p[off];
	return 0;
}

uint32_t meta_attr_smode(const struct meta_attr *a)
{
	static const uint32_t fmt[8] = { 0, 0100000, 0040000, 0120000, 0010000, 0060000, 0020000, 0140000 };
	return (a->type < 8 ? fmt[a->type] : 0) | a->mode;
}

void meta_slice_encode(const struct meta_slice *s, uint8_t out[META_SLICE_BYTES])
{
	put_be32(out, s->pos);
	put_be64(out + 4, s->id);
	put_be32(out + 12, s->size);
	put_be32(out + 16, s->off);
	put_be32(out + 20, s->len);
}

void meta_slice_decode(const uint8_t in[META_SLICE_BYTES], struct meta_slice *s)
{
	s->pos = get_be32(in);
	s->id = get_be64(in + 4);
	s->size = get_be32(in + 12);
	s->off = get_be32(in + 16);
	s->len = get_be32(in + 20);
}

/*
 * Interval assignment over a sorted piece array: each record cuts what it
 * overlaps and takes its place. Quadratic in the worst case, which is fine:
 * compaction keeps lists short (spec §7.1 caps them at 2500 records).
 */
void meta_build_slices(const struct meta_slice *in, size_t n, struct meta_slice **out,
		       size_t *nout)
{
	struct meta_slice *v = NULL;
	size_t nv = 0, av = 0;

	for (size_t i = 0; i < n; i++) {
		struct meta_slice clip = in[i];
		const struct meta_slice *r = &clip;
		/*
		 * A record past the chunk's end (corrupt metadata) holds no byte
		 * of this chunk there; keep what lies inside, so that pos + len
		 * never wraps and the pieces stay in order.
		 */
		if (!r->len || r->pos >= META_CHUNK_SIZE)
			continue;
		if (r->len > META_CHUNK_SIZE - r->pos)
			clip.len = META_CHUNK_SIZE - r->pos;
		uint64_t rs = r->pos, re = (uint64_t)r->pos + r->len;
		/* worst case: one piece split in two plus the new one */
		if (nv + 2 > av) {
			av = av ? av * 2 : 16;
			while (av < nv + 2)
				av *= 2;
			v = xrealloc(v, av * sizeof(*v));
		}
		struct meta_slice *nvv = xmalloc((nv + 2) * sizeof(*v));
		size_t k = 0;
		int placed = 0;
		for (size_t j = 0; j < nv; j++) {
			struct meta_slice p = v[j];
			uint64_t ps = p.pos, pe = (uint64_t)p.pos + p.len;
			if (pe <= rs || ps >= re) {
				if (!placed && ps >= re) {
					nvv[k++] = *r;
					placed = 1;
				}
				nvv[k++] = p;
				continue;
			}
			if (ps < rs) { /* left remainder */
				struct meta_slice l = p;
				l.len = (uint32_t)(rs - ps);
				nvv[k++] = l;
			}
			if (!placed) {
				nvv[k++] = *r;
				placed = 1;
			}
			if (pe > re) { /* right remainder */
				struct meta_slice rr = p;
				uint64_t cut = re - ps;
				rr.pos = (uint32_t)re;
				rr.len = (uint32_t)(pe - re);
				if (rr.id)
					rr.off = (uint32_t)(p.off + cut);
				nvv[k++] = rr;
			}
		}
		if (!placed)
			nvv[k++] = *r;
		BUG_ON(k > nv + 2);
		memcpy(v, nvv, k * sizeof(*v));
		nv = k;
		free(nvv);
	}

	struct meta_slice *res = xmalloc((2 * nv + 1) * sizeof(*res));
	size_t nr = 0;
	uint64_t cursor = 0;
	for (size_t j = 0; j < nv; j++) {
		if (v[j].pos > cursor) {
			struct meta_slice h = { (uint32_t)cursor, 0, 0, 0, (uint32_t)(v[j].pos - cursor) };
			res[nr++] = h;
		}
		res[nr++] = v[j];
		if (!res[nr - 1].id) {
			res[nr - 1].size = 0;
			res[nr - 1].off = 0;
		}
		cursor = (uint64_t)v[j].pos + v[j].len;
	}
	free(v);
	*out = res;
	*nout = nr;
}
