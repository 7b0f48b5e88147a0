/*
 * Unit tests of the block store (fscore/chunk.h).
 *
 * Key names against the spec's vectors (§5.2, Appendix E), block framing for
 * none/lz4/zstd (§5.3) including corrupt and truncated objects, the slice
 * writer and reader on mem and file storage with random writes and reads,
 * failures injected under uploads and downloads, the writer buffer budget,
 * concurrent writers and readers, the disk cache (§6.3 layout, checksums,
 * rescan, eviction) and slice deletion. Random tests print their seed; set
 * CHUNK_SEED to replay one.
 */
#include "fscore/chunk.h"
#include "t/unit/testhelp.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zstd.h>

#define KiB (1U << 10)
#define MiB (1U << 20)

static const char *const algo_names[3] = { "none", "lz4", "zstd" };

/* ---- reproducible randomness ---- */

static uint64_t test_seed(void)
{
	const char *s = getenv("CHUNK_SEED");
	uint64_t v;
	if (s && !parse_u64(s, &v))
		return v;
	random_bytes(&v, sizeof(v));
	return v | 1;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t rnd_below(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rnd(s) % n) : 0; }

/* Random bytes (incompressible), runs of a few values (compressible) or zeros. */
static void fill(uint64_t *s, char *p, size_t n, int kind)
{
	for (size_t i = 0; i < n; i++) {
		if (kind == 0)
			p[i] = (char)rnd(s);
		else if (kind == 1)
			p[i] = (char)("abcabcd"[(i / 37) % 7] + (i % 1024 == 0));
		else
			p[i] = 0;
	}
}

/* ---- stores under test ---- */

enum { BK_MEM, BK_FILE, BK_N };

struct env {
	struct obj_store *inner; /* the bucket root */
	struct obj_store *obj;   /* inner wrapped with "jfstest/" (what chunk sees) */
	struct chunk_store *cs;
	char *dir;               /* file bucket */
	char *cache;             /* cache root */
};

static void env_conf(struct chunk_conf *c, uint32_t bs, int algo)
{
	chunk_conf_defaults(c);
	c->block_size = bs;
	c->compress = algo;
	c->io_retries = 0;
	c->retry_unit_ms = 1;
	c->max_uploads = 4;
}

/* Bucket of kind bk, optionally wrapped by extra (fault spec, NULL = none). */
static void env_open_store(struct env *e, int bk, const char *fault)
{
	memset(e, 0, sizeof(*e));
	if (bk == BK_FILE) {
		e->dir = test_tmpdir("chunk");
		ck_assert_ptr_nonnull(e->dir);
		e->inner = obj_file_new(e->dir);
	} else {
		e->inner = obj_mem_new();
	}
	ck_assert_ptr_nonnull(e->inner);
	/* the prefix wrapper would free inner; keep inner owned by us */
	struct obj_store *base = e->inner;
	if (fault) {
		base = obj_fault_new(e->inner, fault);
		ck_assert_ptr_nonnull(base);
	}
	e->obj = obj_prefix_new(base, "jfstest/");
	ck_assert_ptr_nonnull(e->obj);
}

static void env_start(struct env *e, const struct chunk_conf *c)
{
	ck_assert_int_eq(chunk_store_new(e->obj, c, &e->cs), 0);
}

static void env_close(struct env *e)
{
	chunk_store_free(e->cs);
	/* obj owns the fault wrapper (if any) and, through it, inner */
	obj_free(e->obj);
	if (e->dir)
		test_rm_rf(e->dir);
	if (e->cache)
		test_rm_rf(e->cache);
	free(e->dir);
	free(e->cache);
}

static struct obj_store *fault_layer(struct env *e)
{
	return e->obj->inner; /* prefix -> fault -> bucket */
}

static int count_cb(void *arg, const struct obj_info *oi)
{
	UNUSED(oi);
	(*(size_t *)arg)++;
	return 0;
}

static size_t count_objects(struct obj_store *s, const char *prefix)
{
	size_t n = 0;
	ck_assert_int_eq(obj_list(s, prefix, NULL, 0, count_cb, &n), 0);
	return n;
}

struct keylist {
	char keys[64][CHUNK_KEY_MAX + 16];
	uint64_t sizes[64];
	size_t n;
};

static int keylist_cb(void *arg, const struct obj_info *oi)
{
	struct keylist *k = arg;
	ck_assert_uint_lt(k->n, 64);
	snprintf(k->keys[k->n], sizeof(k->keys[0]), "%s", oi->key);
	k->sizes[k->n] = oi->size;
	k->n++;
	return 0;
}

/* ---- writing helpers ---- */

/*
 * Write `size` bytes of data into a fresh slice in random pieces, rewriting
 * parts of the not yet frozen tail now and then (the model is `data`).
 */
static int write_random(struct chunk_store *cs, uint64_t id, char *data, uint32_t size,
			uint64_t *seed, struct chunk_writer **out)
{
	struct chunk_writer *w = chunk_writer_new(cs, id);
	uint32_t bs = chunk_store_conf(cs)->block_size;
	int r = 0;

	while (chunk_writer_len(w) < size) {
		uint32_t len = chunk_writer_len(w);
		uint32_t fl = chunk_writer_flushed(w);
		uint32_t off = len, n;
		if (len > fl && rnd_below(seed, 4) == 0)
			off = fl + rnd_below(seed, len - fl + 1); /* overwrite the open tail */
		n = 1 + rnd_below(seed, rnd_below(seed, 3) ? bs / 3 : 2 * bs);
		n = MIN(n, size - off);
		if (off < len) {
			/* new bytes for the overwritten part, so the model must follow */
			fill(seed, data + off, MIN(n, len - off), 0);
		}
		if ((r = chunk_writer_write(w, off, data + off, n)))
			break;
	}
	*out = w;
	return r;
}

static void check_read(struct chunk_store *cs, uint64_t id, const char *data, uint32_t size,
		       uint32_t off, uint32_t len)
{
	char *got = xmalloc((size_t)len + 1);
	ssize_t n = chunk_read(cs, id, size, off, got, len);
	uint32_t want = off >= size ? 0 : MIN(len, size - off);
	ck_assert_int_eq(n, (ssize_t)want);
	if (want && memcmp(got, data + off, want)) {
		size_t i = 0;
		while (got[i] == data[off + i])
			i++;
		ck_abort_msg("slice %" PRIu64 " differs at %zu (read %u+%u)", id, off + i, off,
			     len);
	}
	free(got);
	/* what the read put in the disk cache is there before the test looks */
	chunk_store_wait_fills(cs);
}

/* ================================================================ keys */

START_TEST(t_keys)
{
	char k[CHUNK_KEY_MAX];
	const uint32_t bs = 4 * MiB, size = 10 * MiB;

	/* spec §5.2: volume jfstest, slice 1, 10 MiB */
	ck_assert_uint_eq(chunk_nblocks(size, bs), 3);
	chunk_block_key(k, 1, 0, chunk_block_len(size, 0, bs), 0);
	ck_assert_str_eq(k, "chunks/0/0/1_0_4194304");
	chunk_block_key(k, 1, 1, chunk_block_len(size, 1, bs), 0);
	ck_assert_str_eq(k, "chunks/0/0/1_1_4194304");
	chunk_block_key(k, 1, 2, chunk_block_len(size, 2, bs), 0);
	ck_assert_str_eq(k, "chunks/0/0/1_2_2097152");

	/* integer division for both directory levels */
	chunk_block_key(k, 1234567890, 15, 4194304, 0);
	ck_assert_str_eq(k, "chunks/1234/1234567/1234567890_15_4194304");
	chunk_block_key(k, 999999, 0, 1, 0);
	ck_assert_str_eq(k, "chunks/0/999/999999_0_1");
	chunk_block_key(k, 1000000, 3, 65536, 0);
	ck_assert_str_eq(k, "chunks/1/1000/1000000_3_65536");
	chunk_block_key(k, UINT64_MAX, UINT32_MAX, UINT32_MAX, 0);
	ck_assert_str_eq(k, "chunks/18446744073709/18446744073709551/"
			    "18446744073709551615_4294967295_4294967295");

	/* HashPrefix: %02X of id % 256, then id / 1e6 */
	chunk_block_key(k, 1, 2, 2097152, 1);
	ck_assert_str_eq(k, "chunks/01/0/1_2_2097152");
	chunk_block_key(k, 266, 0, 4194304, 1);
	ck_assert_str_eq(k, "chunks/0A/0/266_0_4194304");
	chunk_block_key(k, 1234567890, 1, 4194304, 1); /* 0x499602D2 */
	ck_assert_str_eq(k, "chunks/D2/1234/1234567890_1_4194304");
	chunk_block_key(k, 255, 0, 7, 1);
	ck_assert_str_eq(k, "chunks/FF/0/255_0_7");
	chunk_block_key(k, UINT64_MAX, UINT32_MAX, UINT32_MAX, 1);
	ck_assert_uint_lt(strlen(k), CHUNK_KEY_MAX);
}
END_TEST

START_TEST(t_block_len)
{
	ck_assert_uint_eq(chunk_nblocks(0, 4 * MiB), 0);
	ck_assert_uint_eq(chunk_nblocks(1, 4 * MiB), 1);
	ck_assert_uint_eq(chunk_nblocks(4 * MiB, 4 * MiB), 1);
	ck_assert_uint_eq(chunk_nblocks(4 * MiB + 1, 4 * MiB), 2);
	ck_assert_uint_eq(chunk_nblocks(64 * MiB, 4 * MiB), 16);
	ck_assert_uint_eq(chunk_nblocks(64 * MiB, 64 * KiB), 1024);
	ck_assert_uint_eq(chunk_block_len(4 * MiB, 0, 4 * MiB), 4 * MiB);
	ck_assert_uint_eq(chunk_block_len(4 * MiB + 1, 1, 4 * MiB), 1);
	ck_assert_uint_eq(chunk_block_len(4 * MiB + 1, 2, 4 * MiB), 0);
	ck_assert_uint_eq(chunk_block_len(64 * MiB, 15, 4 * MiB), 4 * MiB);
	ck_assert_uint_eq(chunk_block_len(100, 0, 64 * KiB), 100);
}
END_TEST

START_TEST(t_conf)
{
	struct conf_format f;
	struct chunk_conf c;
	int a;

	ck_assert_int_eq(chunk_parse_compress("none", &a), 0);
	ck_assert_int_eq(a, CHUNK_COMPRESS_NONE);
	ck_assert_int_eq(chunk_parse_compress("", &a), 0);
	ck_assert_int_eq(a, CHUNK_COMPRESS_NONE);
	ck_assert_int_eq(chunk_parse_compress("LZ4", &a), 0);
	ck_assert_int_eq(a, CHUNK_COMPRESS_LZ4);
	ck_assert_int_eq(chunk_parse_compress("zstd", &a), 0);
	ck_assert_int_eq(a, CHUNK_COMPRESS_ZSTD);
	ck_assert_int_eq(chunk_parse_compress("gzip", &a), -ENOTSUP);

	chunk_conf_defaults(&c);
	ck_assert_uint_eq(c.block_size, 4 * MiB);
	ck_assert_int_eq(c.max_uploads, 20);
	ck_assert_uint_eq(c.buffer_size, 300ULL * MiB);
	ck_assert_int_eq(c.io_retries, 10);
	ck_assert_uint_eq(c.cache_size, 100ULL << 30);

	conf_format_defaults(&f);
	free(f.compression);
	f.compression = xstrdup("zstd");
	f.block_size = 1024;
	f.hash_prefix = 1;
	free(f.uuid);
	f.uuid = xstrdup("0b6e0cfe-0000-4000-8000-000000000001");
	ck_assert_int_eq(chunk_conf_from_format(&c, &f), 0);
	ck_assert_uint_eq(c.block_size, 1 * MiB);
	ck_assert_int_eq(c.compress, CHUNK_COMPRESS_ZSTD);
	ck_assert_int_eq(c.hash_prefix, 1);
	ck_assert_str_eq(c.uuid, f.uuid);
	free(f.compression);
	f.compression = xstrdup("brotli");
	ck_assert_int_eq(chunk_conf_from_format(&c, &f), -ENOTSUP);
	free(f.compression);
	f.compression = xstrdup("lz4");
	free(f.encrypt_key);
	f.encrypt_key = xstrdup("-----BEGIN RSA PRIVATE KEY-----");
	/* the key is the store's business (storage/encrypt.c); the chunk layer only
	 * stops ranged GETs, which a sealed object cannot answer cheaply */
	ck_assert_int_eq(chunk_conf_from_format(&c, &f), 0);
	ck_assert_int_eq(c.encrypted, 1);
	ck_assert_int_eq(c.compress, CHUNK_COMPRESS_LZ4);
	conf_format_release(&f);
}
END_TEST

/* ========================================================= compression */

static const uint32_t frame_sizes[] = { 1, 2, 100, 4095, 4096, 32 * KiB + 1, 64 * KiB - 1,
					64 * KiB, 1 * MiB + 7, 4 * MiB, 16 * MiB };

START_TEST(t_compress_roundtrip)
{
	int algo = _i;
	uint64_t seed = test_seed();
	char *src = xmalloc(16 * MiB), *dst = xmalloc(16 * MiB + 1);
	char *packed = xmalloc(chunk_compress_bound(algo, 16 * MiB));

	for (size_t i = 0; i < ARRAY_SIZE(frame_sizes); i++) {
		for (int kind = 0; kind < 3; kind++) {
			uint32_t n = frame_sizes[i];
			size_t cap = chunk_compress_bound(algo, n);
			fill(&seed, src, n, kind);
			ssize_t c = chunk_compress(algo, src, n, packed, cap);
			ck_assert_int_gt(c, 0);
			ck_assert_uint_le((size_t)c, cap);
			if (algo == CHUNK_COMPRESS_NONE)
				ck_assert_int_eq(c, (ssize_t)n);
			if (algo != CHUNK_COMPRESS_NONE && kind == 2 && n >= 4096)
				ck_assert_int_lt(c, (ssize_t)n / 8); /* it really compresses */
			memset(dst, 0x5a, (size_t)n + 1);
			ck_assert_int_eq(chunk_decompress(algo, packed, (size_t)c, dst, n), 0);
			ck_assert_int_eq(memcmp(src, dst, n), 0);
			ck_assert_int_eq((unsigned char)dst[n], 0x5a); /* nothing past bsize */
			/* the length of the key must match exactly */
			size_t pl = (size_t)c;
			ck_assert_int_eq(chunk_decompress(algo, packed, pl, dst, n - 1), -EIO);
			ck_assert_int_eq(chunk_decompress(algo, packed, pl, dst, n + 1), -EIO);
		}
	}
	free(src);
	free(dst);
	free(packed);
}
END_TEST

/* Our frames are the library's frames, byte for byte (spec §5.3). */
START_TEST(t_compress_library_frames)
{
	uint64_t seed = 42;
	uint32_t n = 4 * MiB;
	char *src = xmalloc(n);
	size_t cap = chunk_compress_bound(CHUNK_COMPRESS_ZSTD, n);
	char *a = xmalloc(cap), *b = xmalloc(cap);

	fill(&seed, src, n / 2, 0);
	fill(&seed, src + n / 2, n / 2, 1);
	ssize_t c = chunk_compress(CHUNK_COMPRESS_LZ4, src, n, a, cap);
	int l = LZ4_compress_default(src, b, (int)n, (int)cap);
	ck_assert_int_eq(c, l);
	ck_assert_int_eq(memcmp(a, b, (size_t)l), 0);
	ck_assert_uint_eq(chunk_compress_bound(CHUNK_COMPRESS_LZ4, n),
			  (size_t)LZ4_compressBound((int)n));

	c = chunk_compress(CHUNK_COMPRESS_ZSTD, src, n, a, cap);
	size_t z = ZSTD_compress(b, cap, src, n, 1);
	ck_assert(!ZSTD_isError(z));
	ck_assert_int_eq(c, (ssize_t)z);
	ck_assert_int_eq(memcmp(a, b, z), 0);
	/* a standard frame: magic number, and the content size is decodable */
	ck_assert_uint_eq(ZSTD_getFrameContentSize(a, (size_t)c), n);
	free(src);
	free(a);
	free(b);
}
END_TEST

START_TEST(t_decompress_corrupt)
{
	int algo = _i;
	uint64_t seed = test_seed();
	uint32_t n = 256 * KiB;
	char *src = xmalloc(n), *dst = xmalloc(n);
	size_t cap = chunk_compress_bound(algo, n);
	char *packed = xmalloc(cap + 64), *bad = xmalloc(cap + 64);

	fill(&seed, src, n / 2, 1);
	fill(&seed, src + n / 2, n / 2, 0);
	ssize_t c = chunk_compress(algo, src, n, packed, cap);
	ck_assert_int_gt(c, 0);

	/* truncated objects */
	ck_assert_int_eq(chunk_decompress(algo, packed, 0, dst, n), -EIO);
	ck_assert_int_eq(chunk_decompress(algo, packed, 1, dst, n), -EIO);
	ck_assert_int_eq(chunk_decompress(algo, packed, (size_t)c / 2, dst, n), -EIO);
	ck_assert_int_eq(chunk_decompress(algo, packed, (size_t)c - 1, dst, n), -EIO);
	/* trailing garbage */
	memcpy(bad, packed, (size_t)c);
	memset(bad + c, 0x77, 64);
	ck_assert_int_eq(chunk_decompress(algo, bad, (size_t)c + 64, dst, n), -EIO);
	/* pure garbage */
	fill(&seed, bad, cap, 0);
	if (algo != CHUNK_COMPRESS_NONE) /* raw bytes of the right length are valid */
		ck_assert_int_eq(chunk_decompress(algo, bad, cap, dst, n), -EIO);
	ck_assert_int_eq(chunk_decompress(algo, bad, 17, dst, n), -EIO);

	/*
	 * Random byte flips: the formats carry no checksum, so a flip may still
	 * decode to n bytes; what matters is 0 or -EIO, never a crash or an
	 * overrun (ASan watches) and never a length other than n.
	 */
	for (int i = 0; i < 2000; i++) {
		memcpy(bad, packed, (size_t)c);
		int flips = 1 + (int)rnd_below(&seed, 4);
		for (int k = 0; k < flips; k++)
			bad[rnd_below(&seed, (uint32_t)c)] ^= (char)(1 + rnd_below(&seed, 255));
		size_t blen = (size_t)c;
		if (rnd_below(&seed, 4) == 0)
			blen = rnd_below(&seed, (uint32_t)c) + 1;
		int r = chunk_decompress(algo, bad, blen, dst, n);
		ck_assert(r == 0 || r == -EIO);
	}
	free(src);
	free(dst);
	free(packed);
	free(bad);
}
END_TEST

/* ====================================================== write and read */

START_TEST(t_roundtrip_random)
{
	int bk = _i / 3, algo = _i % 3;
	uint64_t seed = test_seed();
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB;

	fprintf(stderr, "# t_roundtrip_random %s/%s seed %" PRIu64 "\n", bk ? "file" : "mem",
		algo_names[algo], seed);
	env_open_store(&e, bk, NULL);
	env_conf(&c, bs, algo);
	c.mem_cache_size = 3 * bs; /* small: reads go to storage often */
	env_start(&e, &c);

	uint32_t sizes[] = { 1, 100, bs - 1, bs, bs + 1, 3 * bs, 10 * bs + 12345,
			     1 + rnd_below(&seed, 40 * bs) };
	char *data[ARRAY_SIZE(sizes)];
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct chunk_writer *w;
		data[i] = xmalloc(sizes[i]);
		fill(&seed, data[i], sizes[i], (int)(i % 2));
		ck_assert_int_eq(write_random(e.cs, 100 + i, data[i], sizes[i], &seed, &w), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		ck_assert_uint_eq(chunk_writer_len(w), sizes[i]);
		chunk_writer_free(w);
	}
	/* exactly the block objects of every slice, named from the final size */
	size_t total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint32_t nb = chunk_nblocks(sizes[i], bs);
		total += nb;
		for (uint32_t b = 0; b < nb; b++) {
			char k[CHUNK_KEY_MAX], full[CHUNK_KEY_MAX + 16];
			struct obj_info oi;
			chunk_block_key(k, 100 + i, b, chunk_block_len(sizes[i], b, bs), 0);
			snprintf(full, sizeof(full), "jfstest/%s", k);
			ck_assert_int_eq(obj_head(e.inner, full, &oi), 0);
			if (algo == CHUNK_COMPRESS_NONE)
				ck_assert_uint_eq(oi.size, chunk_block_len(sizes[i], b, bs));
		}
	}
	ck_assert_uint_eq(count_objects(e.inner, ""), total);

	for (int round = 0; round < 600; round++) {
		size_t i = rnd_below(&seed, ARRAY_SIZE(sizes));
		uint32_t off = rnd_below(&seed, sizes[i] + 2);
		uint32_t len = rnd_below(&seed, 4) ? rnd_below(&seed, bs + 2) :
						     rnd_below(&seed, 5 * bs);
		check_read(e.cs, 100 + i, data[i], sizes[i], off, len);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		check_read(e.cs, 100 + i, data[i], sizes[i], 0, sizes[i]);
		free(data[i]);
	}
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.buffer_used, 0);
	ck_assert_uint_le(st.mem_cache_bytes, 3 * bs);
	env_close(&e);
}
END_TEST

/* The spec's example end to end: the objects the bucket holds (spec §5.2). */
START_TEST(t_spec_layout)
{
	int hash = _i;
	struct env e;
	struct chunk_conf c;
	struct keylist kl = { .n = 0 };
	uint32_t size = 10 * MiB;
	char *data = xmalloc(size);
	uint64_t seed = 7;
	struct chunk_writer *w;

	env_open_store(&e, BK_MEM, NULL);
	env_conf(&c, 4 * MiB, CHUNK_COMPRESS_NONE);
	c.hash_prefix = hash;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 1);
	for (uint32_t off = 0; off < size; off += 128 * KiB)
		ck_assert_int_eq(chunk_writer_write(w, off, data + off, 128 * KiB), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	ck_assert_int_eq(obj_list(e.inner, "", NULL, 0, keylist_cb, &kl), 0);
	ck_assert_uint_eq(kl.n, 3);
	const char *pre = hash ? "jfstest/chunks/01/0/" : "jfstest/chunks/0/0/";
	char want[64];
	const char *tails[3] = { "1_0_4194304", "1_1_4194304", "1_2_2097152" };
	const uint64_t lens[3] = { 4194304, 4194304, 2097152 };
	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "%s%s", pre, tails[i]);
		ck_assert_str_eq(kl.keys[i], want);
		ck_assert_uint_eq(kl.sizes[i], lens[i]);
	}
	/* uncompressed objects are the raw bytes */
	char *blk = xmalloc(2 * MiB);
	snprintf(want, sizeof(want), "%s%s", pre, tails[2]);
	ck_assert_int_eq(obj_get(e.inner, want, 0, blk, 2 * MiB), 2 * MiB);
	ck_assert_int_eq(memcmp(blk, data + 8 * MiB, 2 * MiB), 0);
	check_read(e.cs, 1, data, size, 5 * MiB, 3 * MiB);
	free(blk);
	free(data);
	env_close(&e);
}
END_TEST

START_TEST(t_writer_rules)
{
	struct env e;
	struct chunk_conf c;
	char buf[300];
	struct chunk_writer *w;

	memset(buf, 'x', sizeof(buf));
	env_open_store(&e, BK_MEM, NULL);
	env_conf(&c, 1 * KiB, CHUNK_COMPRESS_LZ4);
	env_start(&e, &c);

	w = chunk_writer_new(e.cs, 9);
	ck_assert_uint_eq(chunk_writer_id(w), 9);
	ck_assert_int_eq(chunk_writer_write(w, 1, buf, 10), -EINVAL); /* gap */
	ck_assert_int_eq(chunk_writer_write(w, 0, buf, 300), 0);
	ck_assert_int_eq(chunk_writer_write(w, 100, buf, 300), 0);   /* overwrite + append */
	ck_assert_uint_eq(chunk_writer_len(w), 400);
	ck_assert_int_eq(chunk_writer_write(w, 400, buf, 300), 0);
	ck_assert_int_eq(chunk_writer_write(w, 700, buf, 300), 0);
	ck_assert_int_eq(chunk_writer_write(w, 1000, buf, 100), 0); /* crosses the block */
	ck_assert_uint_eq(chunk_writer_flushed(w), 1 * KiB);
	ck_assert_int_eq(chunk_writer_write(w, 1000, buf, 10), -EINVAL); /* frozen */
	ck_assert_int_eq(chunk_writer_write(w, 1100, buf, CHUNK_MAX_SLICE), -EINVAL);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0); /* idempotent */
	ck_assert_int_eq(chunk_writer_write(w, 1100, buf, 1), -EINVAL);
	ck_assert_uint_eq(chunk_writer_len(w), 1100);
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 2);

	/* a slice may fill a whole chunk, not one byte more */
	w = chunk_writer_new(e.cs, 10);
	ck_assert_int_eq(chunk_writer_write(w, 0, buf, 0), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0); /* empty: nothing stored */
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 2);

	/* freeing an unfinished writer aborts it and leaves nothing behind */
	w = chunk_writer_new(e.cs, 11);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(chunk_writer_write(w, (uint32_t)i * 300, buf, 300), 0);
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 2);

	/* read arguments */
	ck_assert_int_eq(chunk_read(e.cs, 0, 10, 0, buf, 10), -EINVAL);
	ck_assert_int_eq(chunk_read(e.cs, 9, 1100, 1100, buf, 10), 0);
	ck_assert_int_eq(chunk_read(e.cs, 9, 1100, 5000, buf, 10), 0);
	ck_assert_int_eq(chunk_read(e.cs, 9, 1100, 1090, buf, 100), 10);
	env_close(&e);
}
END_TEST

START_TEST(t_full_chunk_slice)
{
	struct env e;
	struct chunk_conf c;
	uint64_t seed = test_seed();
	char *data = xmalloc(CHUNK_MAX_SLICE);
	struct chunk_writer *w;

	env_open_store(&e, BK_MEM, NULL);
	env_conf(&c, 4 * MiB, CHUNK_COMPRESS_ZSTD);
	env_start(&e, &c);
	fill(&seed, data, CHUNK_MAX_SLICE, 1);
	ck_assert_int_eq(write_random(e.cs, 77, data, CHUNK_MAX_SLICE, &seed, &w), 0);
	ck_assert_int_eq(chunk_writer_write(w, CHUNK_MAX_SLICE, data, 1), -EINVAL);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 16);
	check_read(e.cs, 77, data, CHUNK_MAX_SLICE, 0, CHUNK_MAX_SLICE);
	check_read(e.cs, 77, data, CHUNK_MAX_SLICE, CHUNK_MAX_SLICE - 5, 100);
	free(data);
	env_close(&e);
}
END_TEST

/* ====================================================== bad objects */

/* Store `obj` as block indx of slice (id, size) in e's bucket. */
static void put_raw_block(struct env *e, uint64_t id, uint32_t indx, uint32_t bsize,
			  const void *obj, size_t n)
{
	char k[CHUNK_KEY_MAX];
	chunk_block_key(k, id, indx, bsize, 0);
	ck_assert_int_eq(obj_put(e->obj, k, obj, n), 0);
}

START_TEST(t_bad_objects)
{
	int algo = _i;
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = bs + 1000;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *packed = xmalloc(chunk_compress_bound(algo, bs) + 100);
	char *got = xmalloc(size);
	struct chunk_writer *w;

	env_open_store(&e, BK_MEM, NULL);
	env_conf(&c, bs, algo);
	c.mem_cache_size = 0; /* every read goes to the object */
	env_start(&e, &c);
	fill(&seed, data, size, 1);

	/* missing objects: -ENOENT, for the caller to tell a released slice from a lost block */
	ck_assert_int_eq(chunk_read(e.cs, 5, size, 0, got, size), -ENOENT);
	ck_assert_int_eq(chunk_read(e.cs, 5, size, 10, got, 10), -ENOENT);

	w = chunk_writer_new(e.cs, 5);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 5, data, size, 0, size);

	/* truncated: the second block short by one byte */
	ssize_t n = chunk_compress(algo, data + bs, 1000, packed, chunk_compress_bound(algo, 1000));
	ck_assert_int_gt(n, 0);
	put_raw_block(&e, 5, 1, 1000, packed, (size_t)n - 1);
	ck_assert_int_eq(chunk_read(e.cs, 5, size, bs, got, 1000), -EIO);
	if (algo == CHUNK_COMPRESS_NONE) {
		/* a ranged GET cannot see the end is gone, but gets only true bytes */
		check_read(e.cs, 5, data, size, bs + 10, 20);
	} else {
		ck_assert_int_eq(chunk_read(e.cs, 5, size, bs + 10, got, 20), -EIO);
	}
	ck_assert_int_eq(chunk_read(e.cs, 5, size, bs + 990, got, 10), -EIO);
	/* the first block still reads */
	check_read(e.cs, 5, data, size, 0, bs);
	/* oversized: one byte too many */
	memcpy(packed + n, "Z", 1);
	put_raw_block(&e, 5, 1, 1000, packed, (size_t)n + 1);
	ck_assert_int_eq(chunk_read(e.cs, 5, size, bs, got, 1000), -EIO);
	/* garbage of the right length */
	fill(&seed, packed, (size_t)n, 0);
	put_raw_block(&e, 5, 1, 1000, packed, (size_t)n);
	if (algo != CHUNK_COMPRESS_NONE)
		ck_assert_int_eq(chunk_read(e.cs, 5, size, bs, got, 1000), -EIO);
	/* an empty object */
	put_raw_block(&e, 5, 1, 1000, packed, 0);
	ck_assert_int_eq(chunk_read(e.cs, 5, size, bs, got, 1000), -EIO);
	ck_assert_int_eq(chunk_read(e.cs, 5, size, bs + 500, got, 1), -EIO);
	/* a block stored whole but another slice's content: decodes, so read as is */
	n = chunk_compress(algo, data + bs, 1000, packed, chunk_compress_bound(algo, 1000));
	put_raw_block(&e, 5, 1, 1000, packed, (size_t)n);
	check_read(e.cs, 5, data, size, 0, size);

	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.get_failures, algo == CHUNK_COMPRESS_NONE ? 7 : 9);
	free(data);
	free(packed);
	free(got);
	env_close(&e);
}
END_TEST

/* ====================================================== injected faults */

START_TEST(t_upload_fails)
{
	int algo = _i;
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 16 * KiB, size = 10 * bs + 5;
	uint64_t seed = test_seed();
	char *data = xmalloc(size);
	struct chunk_writer *w;

	env_open_store(&e, BK_MEM, "");
	env_conf(&c, bs, algo);
	c.io_retries = 2;
	env_start(&e, &c);
	fill(&seed, data, size, 1);

	/* every put fails: finish reports EIO after the retries, abort cleans up */
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "put=every:1"), 0);
	w = chunk_writer_new(e.cs, 3);
	int r = 0;
	for (uint32_t off = 0; off < size && !r; off += 1000)
		r = chunk_writer_write(w, off, data + off, MIN(1000, size - off));
	ck_assert(r == 0 || r == -EIO); /* an early error is allowed */
	ck_assert_int_eq(chunk_writer_finish(w), -EIO);
	chunk_writer_abort(w);
	chunk_writer_free(w);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), ""), 0);
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);

	/* one put fails for good (3 tries in a row): the others land, abort removes them */
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "put=prob:0.3,seed=11"), 0);
	c.io_retries = 0;
	chunk_store_free(e.cs);
	env_start(&e, &c);
	w = chunk_writer_new(e.cs, 4);
	r = 0;
	for (uint32_t off = 0; off < size && !r; off += 1000)
		r = chunk_writer_write(w, off, data + off, MIN(1000, size - off));
	ck_assert_int_eq(chunk_writer_finish(w), -EIO);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), ""), 0);
	chunk_writer_abort(w);
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);

	/* failures the retries absorb: every 2nd put fails, 1 retry is enough */
	c.io_retries = 1;
	c.max_uploads = 1; /* so a retry is always the odd call after the failed one */
	chunk_store_free(e.cs);
	env_start(&e, &c);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "put=every:2"), 0);
	w = chunk_writer_new(e.cs, 6);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), ""), 0);
	check_read(e.cs, 6, data, size, 0, size);
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.puts, chunk_nblocks(size, bs));
	ck_assert_uint_eq(st.put_failures, 0);
	ck_assert_uint_eq(st.buffer_used, 0);
	free(data);
	env_close(&e);
}
END_TEST

START_TEST(t_upload_enospc)
{
	struct env e;
	struct chunk_conf c;
	char buf[4096];
	struct chunk_writer *w;

	memset(buf, 1, sizeof(buf));
	env_open_store(&e, BK_MEM, "put=every:1,errno=ENOSPC");
	env_conf(&c, 4 * KiB, CHUNK_COMPRESS_NONE);
	c.io_retries = 5;
	c.retry_unit_ms = 2000; /* a retry would make this test time out */
	env_start(&e, &c);
	w = chunk_writer_new(e.cs, 1);
	ck_assert_int_eq(chunk_writer_write(w, 0, buf, 100), 0);
	int64_t t0 = mono_ms();
	ck_assert_int_eq(chunk_writer_finish(w), -ENOSPC);
	ck_assert_int_lt(mono_ms() - t0, 1500);
	chunk_writer_abort(w);
	chunk_writer_free(w);
	env_close(&e);
}
END_TEST

START_TEST(t_download_fails)
{
	int algo = _i;
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 16 * KiB, size = 5 * bs;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *got = xmalloc(size);
	struct chunk_writer *w;

	env_open_store(&e, BK_FILE, "");
	env_conf(&c, bs, algo);
	c.mem_cache_size = 0;
	c.io_retries = 0;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 12);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);

	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "get=every:1"), 0);
	ck_assert_int_eq(chunk_read(e.cs, 12, size, 0, got, size), -EIO);
	ck_assert_int_eq(chunk_read(e.cs, 12, size, 100, got, 50), -EIO);
	ck_assert_int_eq(chunk_read(e.cs, 12, size, 3 * bs, got, bs), -EIO);
	/* the third GET fails: a whole read fails, never returning partial data */
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "get=nth:3"), 0);
	ck_assert_int_eq(chunk_read(e.cs, 12, size, 0, got, size), -EIO);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), ""), 0);
	check_read(e.cs, 12, data, size, 0, size);

	/* with retries, occasional failures are absorbed */
	c.io_retries = 3;
	chunk_store_free(e.cs);
	env_start(&e, &c);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "get=every:2"), 0);
	check_read(e.cs, 12, data, size, 0, size);
	check_read(e.cs, 12, data, size, 1000, 10);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), ""), 0);
	free(data);
	free(got);
	env_close(&e);
}
END_TEST

/* ==================================================== a slow test store */

struct slow_store {
	struct obj_store base;
	int put_ms, get_ms;
	pthread_mutex_t mu;
	int active, peak; /* puts in flight */
	int gactive, gpeak; /* gets in flight */
	int puts, gets;
	int syncs, sync_fail; /* obj_sync calls; fail them with -EIO while sync_fail */
};

static const struct obj_ops slow_ops;

static struct slow_store *slow_of(struct obj_store *s) { return (struct slow_store *)s; }

static void slow_enter(struct slow_store *s, int get)
{
	pthread_mutex_lock(&s->mu);
	if (get) {
		s->gets++;
		s->gactive++;
		if (s->gactive > s->gpeak)
			s->gpeak = s->gactive;
	} else {
		s->puts++;
		s->active++;
		if (s->active > s->peak)
			s->peak = s->active;
	}
	pthread_mutex_unlock(&s->mu);
	sleep_ms(get ? s->get_ms : s->put_ms);
}

static void slow_leave(struct slow_store *s, int get)
{
	pthread_mutex_lock(&s->mu);
	if (get)
		s->gactive--;
	else
		s->active--;
	pthread_mutex_unlock(&s->mu);
}

static int slow_put(struct obj_store *st, const char *k, const void *d, size_t n)
{
	slow_enter(slow_of(st), 0);
	int r = obj_put(st->inner, k, d, n);
	slow_leave(slow_of(st), 0);
	return r;
}

static ssize_t slow_get(struct obj_store *st, const char *k, uint64_t off, void *dst, size_t n)
{
	slow_enter(slow_of(st), 1);
	ssize_t r = obj_get(st->inner, k, off, dst, n);
	slow_leave(slow_of(st), 1);
	return r;
}

static int slow_head(struct obj_store *st, const char *k, struct obj_info *oi)
{
	return obj_head(st->inner, k, oi);
}

static int slow_del(struct obj_store *st, const char *k) { return obj_delete(st->inner, k); }

static int slow_list(struct obj_store *st, const char *p, const char *a, size_t l,
		     obj_list_fn cb, void *arg)
{
	return obj_list(st->inner, p, a, l, cb, arg);
}

static int slow_create_bucket(struct obj_store *st) { return obj_create_bucket(st->inner); }

static int slow_sync(struct obj_store *st)
{
	struct slow_store *s = slow_of(st);
	pthread_mutex_lock(&s->mu);
	s->syncs++;
	int fail = s->sync_fail;
	pthread_mutex_unlock(&s->mu);
	return fail ? -EIO : obj_sync(st->inner);
}

static void slow_free(struct obj_store *st)
{
	pthread_mutex_destroy(&slow_of(st)->mu);
	free(st);
}

static const char *slow_describe(struct obj_store *st)
{
	UNUSED(st);
	return "slow://";
}

static const struct obj_ops slow_ops = {
	.name = "slow",
	.sync = slow_sync,
	.create_bucket = slow_create_bucket,
	.put = slow_put,
	.get = slow_get,
	.head = slow_head,
	.del = slow_del,
	.list = slow_list,
	.free = slow_free,
	.describe = slow_describe,
};

static struct slow_store *slow_new(struct obj_store *inner, int put_ms, int get_ms)
{
	struct slow_store *s = xcalloc(1, sizeof(*s));
	s->base.ops = &slow_ops;
	s->base.inner = inner;
	s->put_ms = put_ms;
	s->get_ms = get_ms;
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

/* ====================================================== buffer budget */

struct bw {
	struct chunk_store *cs;
	uint64_t id;
	uint32_t size;
	uint64_t seed;
	int err;
};

static void *budget_writer(void *arg)
{
	struct bw *b = arg;
	char *data = xmalloc(b->size);
	struct chunk_writer *w;
	fill(&b->seed, data, b->size, 0);
	b->err = write_random(b->cs, b->id, data, b->size, &b->seed, &w);
	if (!b->err)
		b->err = chunk_writer_finish(w);
	chunk_writer_free(w);
	if (!b->err) {
		char *got = xmalloc(b->size);
		if (chunk_read(b->cs, b->id, b->size, 0, got, b->size) != (ssize_t)b->size ||
		    memcmp(got, data, b->size))
			b->err = -EBADMSG;
		free(got);
	}
	free(data);
	return NULL;
}

/*
 * A finishing writer uploads its short last block on its own thread when an
 * upload slot is free; --max-uploads still bounds the pool's uploads and
 * those together. Uncompressed (a compressed block always goes to the
 * pool), writers of a few blocks and a short tail, a cap of 2.
 */
START_TEST(t_inline_tail_cap)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 3, 0);
	struct chunk_store *cs;
	struct chunk_conf c;
	const uint32_t bs = 32 * KiB;
	pthread_t th[6];
	struct bw b[6];
	uint64_t seed = test_seed();

	env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.max_uploads = 2;
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	for (int i = 0; i < 6; i++) {
		b[i] = (struct bw){ cs, 2000 + (uint64_t)i, 2 * bs + 1000 + (uint32_t)i * 777,
				    seed + (uint64_t)i * 3, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, budget_writer, &b[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(b[i].err, 0);
	}
	struct chunk_stats st;
	chunk_store_stats(cs, &st);
	ck_assert_uint_le(st.uploads_active_peak, 2);
	ck_assert_int_le(slow->peak, 2);
	ck_assert_int_eq(slow->puts, (int)st.puts);
	ck_assert_uint_eq(st.buffer_used, 0);
	chunk_store_free(cs);
	obj_free(&slow->base);
}
END_TEST

START_TEST(t_buffer_budget)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 5, 0);
	struct chunk_store *cs;
	struct chunk_conf c;
	const uint32_t bs = 32 * KiB;
	pthread_t th[6];
	struct bw b[6];
	uint64_t seed = test_seed();

	env_conf(&c, bs, CHUNK_COMPRESS_LZ4);
	c.buffer_size = 4 * bs;
	c.max_uploads = 3;
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	for (int i = 0; i < 6; i++) {
		b[i] = (struct bw){ cs, 1000 + (uint64_t)i, 20 * bs + (uint32_t)i * 777,
				    seed + (uint64_t)i * 2, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, budget_writer, &b[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(b[i].err, 0);
	}
	struct chunk_stats st;
	chunk_store_stats(cs, &st);
	ck_assert_uint_eq(st.buffer_cap, 4 * bs);
	ck_assert_uint_le(st.buffer_peak, 4 * bs);
	ck_assert_uint_eq(st.buffer_peak, 4 * bs); /* six writers did press on it */
	ck_assert_uint_eq(st.buffer_used, 0);
	ck_assert_uint_le(st.uploads_active_peak, 3);
	ck_assert_int_le(slow->peak, 3);
	ck_assert_int_eq(slow->puts, (int)st.puts);
	chunk_store_free(cs);

	/* a cap below one block is raised to one block, so writers still progress */
	c.buffer_size = 1;
	c.max_uploads = 1;
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	b[0] = (struct bw){ cs, 2000, 5 * bs + 3, seed, 0 };
	budget_writer(&b[0]);
	ck_assert_int_eq(b[0].err, 0);
	chunk_store_stats(cs, &st);
	ck_assert_uint_eq(st.buffer_peak, bs);
	chunk_store_free(cs);
	obj_free(&slow->base);
}
END_TEST

/* A writer waits for budget held by another writer's uploads, then goes on. */
START_TEST(t_buffer_wait)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 300, 0);
	struct chunk_store *cs;
	struct chunk_conf c;
	const uint32_t bs = 8 * KiB;
	char buf[8 * KiB];
	struct chunk_writer *a, *b;

	memset(buf, 3, sizeof(buf));
	env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.buffer_size = 2 * bs;
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	a = chunk_writer_new(cs, 1);
	b = chunk_writer_new(cs, 2);
	ck_assert_int_eq(chunk_writer_write(a, 0, buf, bs), 0); /* uploading: 300 ms */
	ck_assert_int_eq(chunk_writer_write(a, bs, buf, 10), 0); /* partial: holds a block */
	ck_assert_int_eq(chunk_store_buffer_full(cs), 1);
	/* nowait: refuses before the first byte, leaving the writer as it was */
	ck_assert_int_eq(chunk_writer_write_nowait(b, 0, buf, 10), -EAGAIN);
	ck_assert_uint_eq(chunk_writer_len(b), 0);
	int64_t t0 = mono_ms();
	ck_assert_int_eq(chunk_writer_write(b, 0, buf, 10), 0); /* waits for a's upload */
	ck_assert_int_ge(mono_ms() - t0, 150);
	/* once bytes went in, nowait waits like write for the next block */
	ck_assert_int_eq(chunk_writer_write_nowait(a, bs + 10, buf, bs), 0);
	ck_assert_uint_eq(chunk_writer_len(a), 2 * bs + 10);
	ck_assert_int_eq(chunk_writer_finish(a), 0);
	ck_assert_int_eq(chunk_writer_finish(b), 0);
	chunk_writer_free(a);
	chunk_writer_free(b);
	ck_assert_int_eq(chunk_store_buffer_full(cs), 0);
	chunk_store_free(cs);
	obj_free(&slow->base);
}
END_TEST

/*
 * Full blocks queued behind the running uploads are capped (4): a writer far
 * below its budget waits for the queue, and its memory peak follows the
 * uploads, not --buffer-size. The wait is never a refusal: nowait writes
 * that get -EAGAIN make fs.c commit its open slices, which cut sequential
 * writes into 4 MiB slices.
 */
START_TEST(t_upload_queue)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 40, 0);
	struct chunk_store *cs;
	struct chunk_conf c;
	struct chunk_stats st;
	const uint32_t bs = 8 * KiB;
	char buf[8 * KiB];
	struct chunk_writer *a;

	memset(buf, 5, sizeof(buf));
	env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.buffer_size = 100 * bs;
	c.max_uploads = 1;
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	a = chunk_writer_new(cs, 1);
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_int_eq(chunk_writer_write_nowait(a, i * bs, buf, bs), 0);
	ck_assert_uint_eq(chunk_writer_len(a), 20 * bs);
	chunk_store_stats(cs, &st);
	/* 1 uploading + 4 queued + the one being filled, never the whole budget */
	ck_assert_uint_le(st.buffer_peak, 6 * bs);
	ck_assert_int_eq(chunk_writer_finish(a), 0);
	chunk_writer_free(a);
	chunk_store_free(cs);
	obj_free(&slow->base);
}
END_TEST

/* ====================================================== concurrency */

struct cw {
	struct chunk_store *cs;
	int idx;
	uint64_t seed;
	char **data;
	uint32_t *sizes;
	volatile int *written;
	int nslices;
	int err;
};

#define CONC_THREADS 6
#define CONC_SLICES 6

static void *conc_main(void *arg)
{
	struct cw *c = arg;
	uint32_t bs = chunk_store_conf(c->cs)->block_size;

	for (int s = 0; s < CONC_SLICES && !c->err; s++) {
		int slot = c->idx * CONC_SLICES + s;
		struct chunk_writer *w;
		uint32_t size = 1 + rnd_below(&c->seed, 12 * bs);
		char *d = xmalloc(size);
		fill(&c->seed, d, size, s % 2);
		c->err = write_random(c->cs, 500 + (uint64_t)slot, d, size, &c->seed, &w);
		if (!c->err)
			c->err = chunk_writer_finish(w);
		chunk_writer_free(w);
		c->data[slot] = d;
		c->sizes[slot] = size;
		__atomic_store_n(&c->written[slot], 1, __ATOMIC_RELEASE);
		/* read random published slices of every thread while others write */
		for (int k = 0; k < 40 && !c->err; k++) {
			int o = (int)rnd_below(&c->seed, CONC_THREADS * CONC_SLICES);
			if (!__atomic_load_n(&c->written[o], __ATOMIC_ACQUIRE))
				continue;
			uint32_t sz = c->sizes[o];
			uint32_t off = rnd_below(&c->seed, sz);
			uint32_t len = 1 + rnd_below(&c->seed, 3 * bs);
			uint32_t want = MIN(len, sz - off);
			char *got = xmalloc(len);
			ssize_t n = chunk_read(c->cs, 500 + (uint64_t)o, sz, off, got, len);
			if (n != (ssize_t)want || memcmp(got, c->data[o] + off, want))
				c->err = -EBADMSG;
			free(got);
		}
	}
	return NULL;
}

START_TEST(t_concurrent)
{
	int bk = _i / 2, with_disk = _i % 2;
	struct env e;
	struct chunk_conf c;
	pthread_t th[CONC_THREADS];
	struct cw w[CONC_THREADS];
	char *data[CONC_THREADS * CONC_SLICES] = { 0 };
	uint32_t sizes[CONC_THREADS * CONC_SLICES] = { 0 };
	volatile int written[CONC_THREADS * CONC_SLICES] = { 0 };
	uint64_t seed = test_seed();

	fprintf(stderr, "# t_concurrent %d seed %" PRIu64 "\n", _i, seed);
	env_open_store(&e, bk, NULL);
	env_conf(&c, 16 * KiB, CHUNK_COMPRESS_ZSTD);
	c.buffer_size = 6 * 16 * KiB;
	c.mem_cache_size = 5 * 16 * KiB;
	c.prefetch = 2;
	if (with_disk) {
		e.cache = test_tmpdir("chunkcache");
		c.cache_dir = e.cache;
		c.uuid = "6c2b4f9e-1111-4222-8333-444455556666";
		c.cache_size = 40 * 20 * KiB;
	}
	env_start(&e, &c);
	for (int i = 0; i < CONC_THREADS; i++) {
		w[i] = (struct cw){ e.cs, i, seed + (uint64_t)i * 7919, data, sizes, written,
				    CONC_SLICES, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main, &w[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].err, 0);
	}
	for (int i = 0; i < CONC_THREADS * CONC_SLICES; i++) {
		check_read(e.cs, 500 + (uint64_t)i, data[i], sizes[i], 0, sizes[i]);
		free(data[i]);
	}
	struct chunk_stats st;
	/* blocks queued for the disk cache are pinned in memory until written */
	chunk_store_wait_fills(e.cs);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_le(st.buffer_peak, 6 * 16 * KiB);
	ck_assert_uint_le(st.mem_cache_bytes, 5 * 16 * KiB);
	if (with_disk)
		ck_assert_uint_le(st.disk_cache_bytes, 40 * 20 * KiB);
	env_close(&e);
}
END_TEST

struct rd {
	struct chunk_store *cs;
	uint64_t id;
	uint32_t size, off, len;
	const char *want;
	int err;
};

static void *reader_main(void *arg)
{
	struct rd *r = arg;
	char *got = xmalloc(r->len);
	ssize_t n = chunk_read(r->cs, r->id, r->size, r->off, got, r->len);
	if (n != (ssize_t)r->len)
		r->err = n < 0 ? (int)n : -EBADMSG;
	else if (memcmp(got, r->want + r->off, r->len))
		r->err = -EBADMSG;
	free(got);
	return NULL;
}

/* Concurrent readers of one block share a single GET (spec §6.2: deduplicated). */
START_TEST(t_single_flight)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 0, 300);
	struct chunk_store *cs;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB;
	uint64_t seed = 3;
	char *data = xmalloc(bs);
	struct chunk_writer *w;
	pthread_t th[8];
	struct rd r[8];

	env_conf(&c, bs, CHUNK_COMPRESS_LZ4);
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	fill(&seed, data, bs, 1);
	w = chunk_writer_new(cs, 88);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, bs), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);

	for (int i = 0; i < 8; i++) {
		r[i] = (struct rd){ cs, 88, bs, (uint32_t)i * 1000, 5000, data, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(r[i].err, 0);
	}
	ck_assert_int_eq(slow->gets, 1);
	/* now cached in memory: no further GET */
	r[0].err = 0;
	reader_main(&r[0]);
	ck_assert_int_eq(r[0].err, 0);
	ck_assert_int_eq(slow->gets, 1);
	struct chunk_stats st;
	chunk_store_stats(cs, &st);
	ck_assert_uint_ge(st.mem_hits, 1);
	ck_assert_uint_eq(st.mem_cache_blocks, 1);
	ck_assert_uint_eq(st.mem_cache_bytes, bs);
	free(data);
	chunk_store_free(cs);
	obj_free(&slow->base);
}
END_TEST

/*
 * A sequential reader's readahead of a plain volume is fetched by several
 * loaders at once, not one GET after another (--prefetch 1, the default).
 */
START_TEST(t_readahead_parallel)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 0, 200);
	struct chunk_store *cs;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = 8 * bs;
	uint64_t seed = 5;
	char *data = xmalloc(size), *got = xmalloc(bs);
	struct chunk_writer *w;

	env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.mem_cache_size = 8 * bs;
	ck_assert_int_eq(c.prefetch, 1);
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(cs, 9);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	chunk_prefetch(cs, 9, size, 0, 4 * bs);
	struct chunk_stats st = { 0 };
	for (int i = 0; i < 1000 && st.mem_cache_blocks < 4; i++) {
		usleep(10000);
		chunk_store_stats(cs, &st);
	}
	ck_assert_uint_eq(st.mem_cache_blocks, 4);
	/* no reader ran: every GET so far was a loader's */
	pthread_mutex_lock(&slow->mu);
	ck_assert_int_eq(slow->gets, 4);
	ck_assert_int_ge(slow->gpeak, 2);
	pthread_mutex_unlock(&slow->mu);
	for (uint32_t i = 0; i < 4; i++) {
		ck_assert_int_eq(chunk_read(cs, 9, size, i * bs, got, bs), bs);
		ck_assert_mem_eq(got, data + i * bs, bs);
	}
	ck_assert_int_eq(slow->gets, 4);
	free(got);
	free(data);
	chunk_store_free(cs);
	obj_free(&slow->base);
}
END_TEST

/* =========================================================== disk cache */

#define TEST_UUID "5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

static void cache_conf(struct env *e, struct chunk_conf *c, uint32_t bs, int algo)
{
	env_conf(c, bs, algo);
	e->cache = test_tmpdir("chunkcache");
	ck_assert_ptr_nonnull(e->cache);
	c->cache_dir = e->cache;
	c->uuid = TEST_UUID;
	c->mem_cache_size = 0; /* so that reads exercise the disk cache */
	/* the host's own free space must not decide (a disk 92% full refused every block) */
	c->free_space_ratio = 0;
	/* every block read is cached: the checks look for each of them */
	c->cache_fill_queue = 1 << 20;
}

static uint32_t crc_count_of(uint32_t bsize) { return (bsize + 32 * KiB - 1) / (32 * KiB); }

static char *cache_path(struct env *e, uint64_t id, uint32_t indx, uint32_t bsize)
{
	char k[CHUNK_KEY_MAX];
	chunk_block_key(k, id, indx, bsize, 0);
	return xasprintf("%s/%s/raw/%s", e->cache, TEST_UUID, k);
}

static char *slurp(const char *path, size_t *n)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ck_assert_int_eq(fstat(fd, &st), 0);
	char *p = xmalloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* spec §6.3: <dir>/<UUID>/raw/chunks/..., data then CRC32C per 32 KiB (u32 BE) */
START_TEST(t_cache_layout)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	char *p, *f;
	size_t n;
	struct stat st;

	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_LZ4);
	env_start(&e, &c);

	p = xasprintf("%s/%s/.lock", e.cache, TEST_UUID);
	ck_assert_int_eq(stat(p, &st), 0);
	free(p);

	/* a short block is cached when uploaded (spec §6.1 step 8) */
	w = chunk_writer_new(e.cs, 1);
	ck_assert_int_eq(chunk_writer_write(w, 0, "123456789", 9), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	p = cache_path(&e, 1, 0, 9);
	f = slurp(p, &n);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(n, 13);
	ck_assert_int_eq(memcmp(f, "123456789", 9), 0);
	ck_assert_uint_eq(get_be32((uint8_t *)f + 9), 0xE3069283U); /* CRC-32C check value */
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	free(f);
	free(p);

	/* a full block is cached when first read; 80 KiB: 3 checksums */
	uint64_t seed = 5;
	char *data = xmalloc(200 * KiB);
	fill(&seed, data, 200 * KiB, 0);
	w = chunk_writer_new(e.cs, 2);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, 144 * KiB), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	p = cache_path(&e, 2, 0, 64 * KiB);
	ck_assert_int_ne(stat(p, &st), 0);
	check_read(e.cs, 2, data, 144 * KiB, 10, 64 * KiB);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 64 * KiB + 2 * 4);
	free(p);
	p = cache_path(&e, 2, 2, 16 * KiB);
	f = slurp(p, &n);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(n, 16 * KiB + 4);
	ck_assert_int_eq(memcmp(f, data + 128 * KiB, 16 * KiB), 0);
	free(f);
	free(p);

	/* no temp files are left */
	p = xasprintf("%s/%s/raw/chunks/0/0", e.cache, TEST_UUID);
	DIR *d = opendir(p);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			ck_assert_ptr_null(strstr(de->d_name, ".tmp"));
			files++;
		}
	closedir(d);
	free(p);
	ck_assert_int_eq(files, 4); /* 1_0_9, 2_0_65536, 2_1_65536, 2_2_16384 */

	struct chunk_stats st2;
	chunk_store_stats(e.cs, &st2);
	ck_assert_uint_eq(st2.disk_cache_blocks, 4);
	ck_assert_uint_eq(st2.disk_cache_bytes,
			  (13 + 4096) + 2 * (64 * KiB + 8 + 4096) + (16 * KiB + 4 + 4096));
	free(data);
	env_close(&e);
}
END_TEST

/*
 * Whole blocks of at least 256 KiB are cached with O_DIRECT (their buffers
 * are page-aligned), CRCs and short blocks through the page cache; a cache
 * dir on a ramfs (_i 1) refuses O_DIRECT and gets the same files. Either
 * way the cache alone serves the bytes back, CRCs checked.
 */
START_TEST(t_cache_direct)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	const uint32_t bs = 256 * KiB, size = 3 * bs + 4097;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *p, *file;
	char k[CHUNK_KEY_MAX];
	size_t n;

	env_open_store(&e, BK_FILE, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	if (_i == 1) {
		test_rm_rf(e.cache);
		free(e.cache);
		e.cache = test_private_mount("chunk-ramfs", "ramfs", NULL);
		if (!e.cache) {
			env_close(&e);
			free(data);
			return;
		}
		c.cache_dir = e.cache;
	}
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 7);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 7, data, size, 0, size); /* fills the cache */
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t bl = chunk_block_len(size, i, bs);
		p = cache_path(&e, 7, i, bl);
		file = slurp(p, &n);
		ck_assert_ptr_nonnull(file);
		ck_assert_uint_eq(n, bl + 4 * crc_count_of(bl));
		ck_assert_mem_eq(file, data + i * bs, bl);
		free(file);
		free(p);
		chunk_block_key(k, 7, i, bl, 0);
		ck_assert_int_eq(obj_delete(e.obj, k), 0);
	}
	check_read(e.cs, 7, data, size, 0, size);
	check_read(e.cs, 7, data, size, bs - 5, 10);
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_ge(st.disk_hits, 5);
	if (_i == 1) {
		chunk_store_free(e.cs);
		e.cs = NULL;
		test_rm_rf(e.cache);
		umount(e.cache);
	}
	free(data);
	env_close(&e);
}
END_TEST

START_TEST(t_cache_serves_and_verifies)
{
	int algo = _i;
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	const uint32_t bs = 128 * KiB, size = 2 * bs + 100;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *p;
	char k[CHUNK_KEY_MAX];

	env_open_store(&e, BK_FILE, NULL);
	cache_conf(&e, &c, bs, algo);
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 42);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 42, data, size, 0, size); /* fills the cache */

	/* take the objects away: the cache alone serves whole and partial reads */
	for (uint32_t i = 0; i < 3; i++) {
		chunk_block_key(k, 42, i, chunk_block_len(size, i, bs), 0);
		ck_assert_int_eq(obj_delete(e.obj, k), 0);
	}
	check_read(e.cs, 42, data, size, 0, size);
	check_read(e.cs, 42, data, size, 33333, 40000);
	check_read(e.cs, 42, data, size, bs + 77, 5);
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_ge(st.disk_hits, 6);

	/* a damaged cache file is detected and not served */
	p = cache_path(&e, 42, 1, bs);
	int fd = open(p, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\xff\xfe", 2, 40000), 2);
	close(fd);
	char *got = xmalloc(size);
	ck_assert_int_eq(chunk_read(e.cs, 42, size, bs + 39000, got, 3000), -ENOENT);
	struct stat sb;
	ck_assert_int_ne(stat(p, &sb), 0); /* dropped */
	/* a truncated cache file likewise */
	char *p0 = cache_path(&e, 42, 0, bs);
	ck_assert_int_eq(truncate(p0, bs - 1), 0);
	ck_assert_int_eq(chunk_read(e.cs, 42, size, 0, got, 10), -ENOENT);
	ck_assert_int_ne(stat(p0, &sb), 0);
	/* the blocks come back from the object store and are cached again */
	w = chunk_writer_new(e.cs, 43);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 43, data, size, 0, size);

	/* a restart rebuilds the index from the files; leftover temps go away */
	char *p43 = cache_path(&e, 43, 0, bs);
	char *tmp = xasprintf("%s.tmp", p43);
	free(p43);
	ck_assert_int_eq(write_file_atomic(tmp, "junk", 4, 0), 0);
	chunk_store_free(e.cs);
	env_start(&e, &c);
	ck_assert_int_ne(stat(tmp, &sb), 0);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.disk_cache_blocks, 4); /* 42/2 and 43/0..2 */
	for (uint32_t i = 0; i < 3; i++) {
		chunk_block_key(k, 43, i, chunk_block_len(size, i, bs), 0);
		ck_assert_int_eq(obj_delete(e.obj, k), 0);
	}
	check_read(e.cs, 43, data, size, 0, size);
	check_read(e.cs, 42, data, size, 2 * bs, 100);
	ck_assert_int_eq(chunk_read(e.cs, 42, size, 0, got, 10), -ENOENT);
	free(tmp);
	free(p);
	free(p0);
	free(got);
	free(data);
	env_close(&e);
}
END_TEST

START_TEST(t_cache_eviction)
{
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB;
	uint64_t seed = test_seed();
	const uint32_t size = 20 * bs;
	char *data = xmalloc(size);
	struct chunk_writer *w;

	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	c.cache_size = 5 * (bs + 8 + 4096); /* room for five blocks */
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 7);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	for (int round = 0; round < 3; round++)
		check_read(e.cs, 7, data, size, 0, size);
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_le(st.disk_cache_bytes, c.cache_size);
	ck_assert_uint_eq(st.disk_cache_blocks, 5);
	/* files on disk agree with the index */
	size_t files = 0;
	for (uint32_t i = 0; i < 20; i++) {
		char *p = cache_path(&e, 7, i, bs);
		struct stat sb;
		files += stat(p, &sb) == 0;
		free(p);
	}
	ck_assert_uint_eq(files, 5);

	/* a free-space ratio above what the disk has: nothing new is cached */
	chunk_store_free(e.cs);
	c.cache_size = 100ULL << 30;
	c.free_space_ratio = 0.999999;
	env_start(&e, &c);
	w = chunk_writer_new(e.cs, 8);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 8, data, size, 0, size);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.disk_cache_blocks, 0); /* and the old ones were evicted */
	free(data);
	env_close(&e);
}
END_TEST

/* Without checksums the cache file is the bare block; several dirs share the load. */
START_TEST(t_cache_plain_multi)
{
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 32 * KiB, size = 40 * bs;
	uint64_t seed = test_seed();
	char *data = xmalloc(size);
	struct chunk_writer *w;

	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_ZSTD);
	char *dirs = xasprintf("%s/a:%s/b", e.cache, e.cache);
	c.cache_dir = dirs;
	c.cache_checksum = 0;
	env_start(&e, &c);
	fill(&seed, data, size, 1);
	w = chunk_writer_new(e.cs, 3);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 3, data, size, 0, size);
	size_t in[2] = { 0, 0 };
	for (uint32_t i = 0; i < 40; i++) {
		char k[CHUNK_KEY_MAX];
		struct stat sb;
		chunk_block_key(k, 3, i, bs, 0);
		for (int d = 0; d < 2; d++) {
			char *p = xasprintf("%s/%c/%s/raw/%s", e.cache, 'a' + d, TEST_UUID, k);
			if (!stat(p, &sb)) {
				in[d]++;
				ck_assert_int_eq(sb.st_size, bs);
			}
			free(p);
		}
		ck_assert_int_eq(obj_delete(e.obj, k), 0);
	}
	ck_assert_uint_eq(in[0] + in[1], 40);
	ck_assert_uint_gt(in[0], 0);
	ck_assert_uint_gt(in[1], 0);
	/* served from both directories, also after a restart */
	check_read(e.cs, 3, data, size, 0, size);
	chunk_store_free(e.cs);
	env_start(&e, &c);
	check_read(e.cs, 3, data, size, 12345, size - 20000);
	free(dirs);
	free(data);
	env_close(&e);
}
END_TEST

/* ============================================================= delete */

START_TEST(t_delete_slice)
{
	int bk = _i;
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 32 * KiB, size = 7 * bs + 3;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *got = xmalloc(size);
	struct chunk_writer *w;

	env_open_store(&e, bk, "");
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_LZ4);
	c.mem_cache_size = 4 * MiB;
	env_start(&e, &c);
	fill(&seed, data, size, 1);
	for (uint64_t id = 1; id <= 2; id++) {
		w = chunk_writer_new(e.cs, id);
		ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
		check_read(e.cs, id, data, size, 0, size); /* cached in memory and on disk */
	}
	ck_assert_uint_eq(count_objects(e.inner, ""), 16);
	ck_assert_int_eq(chunk_delete_slice(e.cs, 1, size), 0);
	ck_assert_uint_eq(count_objects(e.inner, ""), 8);
	/* cached copies went too: the read reaches storage and finds nothing */
	ck_assert_int_eq(chunk_read(e.cs, 1, size, 0, got, size), -ENOENT);
	ck_assert_int_eq(chunk_read(e.cs, 1, size, bs + 5, got, 10), -ENOENT);
	char *p = cache_path(&e, 1, 7, 3);
	struct stat sb;
	ck_assert_int_ne(stat(p, &sb), 0);
	free(p);
	/* missing objects count as deleted */
	ck_assert_int_eq(chunk_delete_slice(e.cs, 1, size), 0);
	ck_assert_int_eq(chunk_slice_deleter(e.cs, 99, 5 * MiB), 0);
	/* a storage failure is reported, so meta keeps the slice for later */
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), "del=every:1"), 0);
	ck_assert_int_ne(chunk_delete_slice(e.cs, 2, size), 0);
	ck_assert_int_eq(obj_fault_set(fault_layer(&e), ""), 0);
	ck_assert_int_eq(chunk_slice_deleter(e.cs, 2, size), 0);
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.mem_cache_blocks, 0);
	ck_assert_uint_eq(st.disk_cache_blocks, 0);
	free(data);
	free(got);
	env_close(&e);
}
END_TEST

/* ============================================================ pinned reads */

static char *join_vec(const struct chunk_vec *v, size_t from, size_t *n)
{
	size_t total = 0, o = 0;
	for (size_t i = from; i < v->n; i++)
		total += v->p[i].len;
	char *out = xmalloc(total + 1);
	for (size_t i = from; i < v->n; o += v->p[i].len, i++)
		memcpy(out + o, v->p[i].data, v->p[i].len);
	*n = total;
	return out;
}

/* chunk_read_pin gives the bytes chunk_read gives, and the pins outlive a delete. */
START_TEST(t_read_pin)
{
	int bk = _i / 2, with_disk = _i % 2;
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = 5 * bs + 11;
	uint64_t seed = test_seed();
	char *data = xmalloc(size);
	struct chunk_writer *w;
	static const char mark[] = "before";
	static const uint32_t cases[][2] = {
		{ 0, 5 * bs + 11 }, { 1, 10 }, { bs - 3, 7 }, { bs + 100, 300 }, { 3 * bs, bs },
		{ 2 * bs + 5, 2 * bs }, { size - 1, 100 }, { size, 5 }, { 4 * bs, 2 * bs },
	};

	env_open_store(&e, bk, NULL);
	if (with_disk)
		cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	else
		env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.mem_cache_size = 2 * bs;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	for (uint64_t id = 7; id <= 8; id++) {
		w = chunk_writer_new(e.cs, id);
		ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
	}
	if (!with_disk) {
		/* a lost block is an error, and the vector is left as it was */
		char key[CHUNK_KEY_MAX];
		struct chunk_vec v = CHUNK_VEC_INIT;
		chunk_block_key(key, 8, 2, bs, 0);
		ck_assert_int_eq(obj_delete(e.obj, key), 0);
		chunk_vec_add_static(&v, mark, sizeof(mark));
		for (int seq = 0; seq <= 1; seq++) {
			ck_assert_int_eq(chunk_read_pin(e.cs, 8, size, 0, size, seq, &v), -ENOENT);
			ck_assert_int_eq(chunk_read_pin(e.cs, 8, size, 2 * bs + 9, 20, seq, &v), -ENOENT);
			ck_assert_str_eq(chunk_missing_key(), key); /* named for the caller's log */
			ck_assert_uint_eq(v.n, 1);
		}
		chunk_vec_release(&v);
		ck_assert_uint_eq(v.n, 0);
	}
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		for (int seq = 0; seq <= 1; seq++) {
			struct chunk_vec v = CHUNK_VEC_INIT;
			uint32_t off = cases[k][0], len = cases[k][1];
			uint32_t want = off >= size ? 0 : MIN(len, size - off);
			size_t n;
			chunk_vec_add_static(&v, mark, sizeof(mark));
			ck_assert_int_eq(chunk_read_pin(e.cs, 7, size, off, len, seq, &v), want);
			ck_assert_ptr_eq(v.p[0].data, mark);
			char *got = join_vec(&v, 1, &n);
			ck_assert_uint_eq(n, want);
			ck_assert_msg(!memcmp(got, data + off, want), "case %zu seq %d differs", k, seq);
			free(got);
			chunk_vec_release(&v);
		}
	}
	/* pinned pieces stay valid after the slice is deleted, until released */
	struct chunk_vec v = CHUNK_VEC_INIT;
	ck_assert_int_eq(chunk_read_pin(e.cs, 7, size, 0, size, 1, &v), size);
	ck_assert_int_eq(chunk_delete_slice(e.cs, 7, size), 0);
	size_t n;
	char *got = join_vec(&v, 0, &n);
	ck_assert_uint_eq(n, size);
	ck_assert(!memcmp(got, data, size));
	free(got);
	chunk_vec_release(&v);
	ck_assert_int_eq(chunk_read_pin(e.cs, 7, size, 0, size, 0, &v), -ENOENT);
	ck_assert_uint_eq(v.n, 0);
	chunk_store_wait_fills(e.cs);
	struct chunk_stats st;
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_le(st.mem_cache_bytes, 2 * bs);
	free(data);
	env_close(&e);
}
END_TEST

/*
 * CHUNK_READ_CACHED pins only what is held here (S3/WebDAV bodies sent
 * whole): -EAGAIN with nothing fetched nor appended when a block would come
 * from the object store; the bytes when all are local. st.pins counts the
 * pins until they are released.
 */
START_TEST(t_read_cached)
{
	int with_disk = _i;
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = 5 * bs + 11;
	uint64_t seed = test_seed();
	char *data = xmalloc(size);
	struct chunk_writer *w;
	struct chunk_stats st;
	struct chunk_vec v = CHUNK_VEC_INIT;
	static const char mark[] = "before";
	size_t n;
	char *got;

	env_open_store(&e, BK_MEM, NULL);
	if (with_disk)
		cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	else
		env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.mem_cache_size = 2 * bs;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 9);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	chunk_store_wait_fills(e.cs);
	chunk_store_stats(e.cs, &st);
	if (!st.disk_cache_blocks) {
		/* nothing local yet: refused, nothing fetched, the vector as it was */
		uint64_t gets0 = st.gets;
		chunk_vec_add_static(&v, mark, sizeof(mark));
		ck_assert_int_eq(chunk_read_pin(e.cs, 9, size, 0, size,
						CHUNK_READ_SEQ | CHUNK_READ_CACHED, &v),
				 -EAGAIN);
		ck_assert_int_eq(chunk_read_pin(e.cs, 9, size, bs + 7, 10, CHUNK_READ_CACHED, &v),
				 -EAGAIN);
		ck_assert_uint_eq(v.n, 1);
		chunk_vec_release(&v);
		chunk_store_stats(e.cs, &st);
		ck_assert_uint_eq(st.gets, gets0);
		ck_assert_uint_eq(st.pins, 0);
	}
	/* read once: the disk cache has every block, the memory cache the last two */
	ck_assert_int_eq(chunk_read_pin(e.cs, 9, size, 0, size, CHUNK_READ_SEQ, &v), size);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.pins, 6);
	chunk_vec_release(&v);
	chunk_store_wait_fills(e.cs);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.pins, 0);
	/* the last block and a half, read again: in memory either way */
	ck_assert_int_eq(chunk_read_pin(e.cs, 9, size, 4 * bs, bs + 11, CHUNK_READ_SEQ, &v),
			 bs + 11);
	chunk_vec_release(&v);
	chunk_store_wait_fills(e.cs);
	chunk_store_stats(e.cs, &st);
	uint64_t gets1 = st.gets;
	ck_assert_int_eq(chunk_read_pin(e.cs, 9, size, 4 * bs + 5, bs + 6, CHUNK_READ_CACHED, &v),
			 bs + 6);
	got = join_vec(&v, 0, &n);
	ck_assert(!memcmp(got, data + 4 * bs + 5, bs + 6));
	free(got);
	chunk_vec_release(&v);
	/* the whole slice: only with the disk cache, never fetched */
	ssize_t r = chunk_read_pin(e.cs, 9, size, 0, size, CHUNK_READ_SEQ | CHUNK_READ_CACHED, &v);
	if (with_disk) {
		ck_assert_int_eq(r, size);
		got = join_vec(&v, 0, &n);
		ck_assert_uint_eq(n, size);
		ck_assert(!memcmp(got, data, size));
		free(got);
		chunk_store_stats(e.cs, &st);
		ck_assert_uint_eq(st.pins, 6);
	} else {
		ck_assert_int_eq(r, -EAGAIN);
		ck_assert_uint_eq(v.n, 0);
	}
	chunk_vec_release(&v);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.pins, 0);
	ck_assert_uint_eq(st.gets, gets1);
	free(data);
	env_close(&e);
}
END_TEST

/* Readahead takes at most half the memory cache while nobody reads it. */
START_TEST(t_readahead_budget)
{
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = 20 * bs;
	uint64_t seed = test_seed();
	char *data = xmalloc(size);
	struct chunk_writer *w;
	struct chunk_stats st;

	env_open_store(&e, BK_MEM, NULL);
	env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.mem_cache_size = 8 * bs;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 3);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	chunk_store_stats(e.cs, &st);
	uint64_t gets0 = st.gets;
	chunk_prefetch(e.cs, 3, size, 0, size);
	for (int i = 0; i < 500; i++) {
		chunk_store_stats(e.cs, &st);
		if (st.mem_cache_blocks >= 4)
			break;
		usleep(10000);
	}
	usleep(100000); /* anything past the budget would be loading by now */
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.mem_cache_blocks, 4);
	ck_assert_uint_eq(st.gets - gets0, 4);
	/* a sequential reader spends the readahead: the next hint is taken */
	struct chunk_vec v = CHUNK_VEC_INIT;
	ck_assert_int_eq(chunk_read_pin(e.cs, 3, size, 0, 2 * bs, 1, &v), 2 * bs);
	chunk_vec_release(&v);
	chunk_prefetch(e.cs, 3, size, 4 * bs, 2 * bs);
	for (int i = 0; i < 500; i++) {
		chunk_store_stats(e.cs, &st);
		if (st.gets - gets0 >= 6)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(st.gets - gets0, 6);
	free(data);
	env_close(&e);
}
END_TEST

/*
 * Readahead of blocks held in the disk cache loads them into memory ahead
 * of the reader, from the cache files, fetching nothing. It skipped them:
 * each was then loaded by the reader itself, a cold cache file (written
 * with O_DIRECT, so not in the page cache) mapped and faulted in on the
 * read's path, and a 1 GiB read of cached data ran at 450-520 MiB/s
 * against 830-910 with the readahead (doc/read-path.md).
 */
START_TEST(t_readahead_disk_cached)
{
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = 20 * bs;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *p;
	struct chunk_writer *w;
	struct chunk_stats st;

	env_open_store(&e, BK_FILE, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	c.mem_cache_size = 8 * bs;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 3);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	check_read(e.cs, 3, data, size, 0, size);
	/* every block in the disk cache (filled in the background) */
	for (uint32_t i = 0; i < 20; i++) {
		p = cache_path(&e, 3, i, bs);
		for (int t = 0; t < 500 && access(p, F_OK); t++)
			usleep(10000);
		ck_assert_int_eq(access(p, F_OK), 0);
		free(p);
	}
	/* the memory cache (8 blocks) holds the last ones read: 0-3 only on disk */
	chunk_store_stats(e.cs, &st);
	uint64_t gets0 = st.gets, hits0 = st.disk_hits;
	chunk_prefetch(e.cs, 3, size, 0, 4 * bs);
	for (int i = 0; i < 500 && st.disk_hits - hits0 < 4; i++) {
		usleep(10000);
		chunk_store_stats(e.cs, &st);
	}
	ck_assert_uint_eq(st.disk_hits - hits0, 4);
	ck_assert_uint_eq(st.gets, gets0);
	/* the reader finds them in memory: no disk hit, no fetch */
	check_read(e.cs, 3, data, size, 0, 4 * bs);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.disk_hits - hits0, 4);
	ck_assert_uint_eq(st.gets, gets0);
	free(data);
	env_close(&e);
}
END_TEST

/*
 * Readahead not read yet is evicted after blocks readers have had: with the
 * cache full of blocks read since, an unread readahead block at the LRU tail
 * was evicted and fetched a second time when its reader came.
 */
START_TEST(t_readahead_evicted_last)
{
	struct env e;
	struct chunk_conf c;
	const uint32_t bs = 64 * KiB, size = 20 * bs;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *got = xmalloc(bs);
	struct chunk_writer *w;
	struct chunk_stats st;

	env_open_store(&e, BK_MEM, NULL);
	env_conf(&c, bs, CHUNK_COMPRESS_NONE);
	c.mem_cache_size = 8 * bs;
	env_start(&e, &c);
	fill(&seed, data, size, 0);
	w = chunk_writer_new(e.cs, 3);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	chunk_store_stats(e.cs, &st);
	uint64_t gets0 = st.gets;
	chunk_prefetch(e.cs, 3, size, 10 * bs, 4 * bs); /* the ahead budget: 4 blocks */
	for (int i = 0; i < 500 && st.gets - gets0 < 4; i++) {
		usleep(10000);
		chunk_store_stats(e.cs, &st);
	}
	ck_assert_uint_eq(st.gets - gets0, 4);
	/* eight other blocks read: the cache (8 blocks) must give up four */
	for (uint32_t i = 0; i < 8; i++) {
		ck_assert_int_eq(chunk_read(e.cs, 3, size, i * bs, got, bs), bs);
		ck_assert_mem_eq(got, data + i * bs, bs);
	}
	for (uint32_t i = 10; i < 14; i++) {
		ck_assert_int_eq(chunk_read(e.cs, 3, size, i * bs, got, bs), bs);
		ck_assert_mem_eq(got, data + i * bs, bs);
	}
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.gets - gets0, 12);
	ck_assert_uint_le(st.mem_cache_blocks, 8);
	free(got);
	free(data);
	env_close(&e);
}
END_TEST

/* ============================================================ writeback */

static char *stage_file(struct env *e, uint64_t id, uint32_t indx, uint32_t bsize)
{
	char k[CHUNK_KEY_MAX];
	chunk_block_key(k, id, indx, bsize, 0);
	return xasprintf("%s/%s/rawstaging/%s", e->cache, TEST_UUID, k);
}

static int wb_dump_cb(void *arg, const struct obj_info *oi)
{
	UNUSED(arg);
	fprintf(stderr, "object %s\n", oi->key);
	return 0;
}

/*
 * chunk.h S1-S3: with writeback a finished slice is in rawstaging (cache
 * format, durable) and not in the store while the delay runs; reads are
 * served from there; a restart (here without writeback) uploads it, moves
 * it into the read cache and gives the directory lock back.
 */
START_TEST(t_writeback_stage_and_recover)
{
	int algo = _i;
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	struct chunk_stats st;
	const uint32_t bs = 64 * KiB, size = 2 * bs + 5000;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *p;
	struct stat sb;

	env_open_store(&e, BK_FILE, NULL);
	cache_conf(&e, &c, bs, algo);
	c.writeback = 1;
	c.upload_delay_ms = 3600 * 1000;
	env_start(&e, &c);
	fill(&seed, data, size, 1);
	w = chunk_writer_new(e.cs, 7);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t bl = chunk_block_len(size, i, bs);
		p = stage_file(&e, 7, i, bl);
		ck_assert_msg(stat(p, &sb) == 0, "%s is not staged", p);
		ck_assert_int_eq(sb.st_size, bl + crc_count_of(bl) * 4);
		free(p);
	}
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.staged_blocks, 3);
	ck_assert_uint_eq(st.staged_bytes, size);
	check_read(e.cs, 7, data, size, 0, size);
	check_read(e.cs, 7, data, size, bs + 100, 300); /* a part: ranged from the file */
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);
	chunk_store_free(e.cs); /* delayed blocks stay staged */
	e.cs = NULL;

	/* a restart, even without writeback, uploads what it finds */
	c.writeback = 0;
	c.upload_delay_ms = 0;
	env_start(&e, &c);
	ck_assert_int_eq(chunk_store_wait_staged(e.cs, 20000), 0);
	if (count_objects(e.inner, "") != 3)
		obj_list(e.inner, "", NULL, 0, wb_dump_cb, NULL);
	ck_assert_uint_eq(count_objects(e.inner, ""), 3);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.staged_blocks, 0);
	p = stage_file(&e, 7, 2, size - 2 * bs);
	ck_assert_int_ne(stat(p, &sb), 0);
	free(p);
	p = cache_path(&e, 7, 2, size - 2 * bs); /* now a read-cache file */
	ck_assert_int_eq(stat(p, &sb), 0);
	free(p);
	check_read(e.cs, 7, data, size, 0, size);

	/* drained: the recovering client let the directory go, a writeback one may take it */
	struct chunk_store *cs2;
	c.writeback = 1;
	ck_assert_int_eq(chunk_store_new(e.obj, &c, &cs2), 0);
	chunk_store_free(cs2);
	chunk_store_free(e.cs);
	e.cs = NULL;

	/* the objects alone (no cache) decode to the data */
	c.cache_dir = "";
	c.writeback = 0;
	env_start(&e, &c);
	check_read(e.cs, 7, data, size, 0, size);
	free(data);
	env_close(&e);
}
END_TEST

/* S2: with no delay the upload follows at once, and the staged file becomes the cache file. */
START_TEST(t_writeback_upload_now)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	const uint32_t bs = 64 * KiB;
	char data[3000];
	struct stat sb;

	memset(data, 'x', sizeof(data));
	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	c.writeback = 1;
	env_start(&e, &c);
	for (uint64_t id = 1; id <= 50; id++) {
		w = chunk_writer_new(e.cs, id);
		data[0] = (char)id;
		ck_assert_int_eq(chunk_writer_write(w, 0, data, sizeof(data)), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
	}
	ck_assert_int_eq(chunk_store_wait_staged(e.cs, 20000), 0);
	ck_assert_uint_eq(count_objects(e.inner, ""), 50);
	for (uint64_t id = 1; id <= 50; id++) {
		char *p = stage_file(&e, id, 0, sizeof(data));
		ck_assert_int_ne(stat(p, &sb), 0);
		free(p);
		p = cache_path(&e, id, 0, sizeof(data));
		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_int_eq(sb.st_nlink, 1);
		free(p);
		data[0] = (char)id;
		check_read(e.cs, id, data, sizeof(data), 0, sizeof(data));
	}
	env_close(&e);
}
END_TEST

/* S1: a block that cannot be staged (cache disk failing) is uploaded before finish() returns. */
START_TEST(t_writeback_stage_fails)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	struct chunk_stats st;
	char data[5000];

	memset(data, 'q', sizeof(data));
	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_NONE);
	c.writeback = 1;
	c.upload_delay_ms = 3600 * 1000;
	env_start(&e, &c);
	char *p = xasprintf("%s/%s/rawstaging", e.cache, TEST_UUID);
	ck_assert_int_eq(rmdir(p), 0);
	int fd = open(p, O_CREAT | O_WRONLY, 0600); /* a file where the directory should be */
	ck_assert_int_ge(fd, 0);
	close(fd);
	w = chunk_writer_new(e.cs, 3);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, sizeof(data)), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	ck_assert_uint_eq(count_objects(e.inner, ""), 1);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.staged_blocks, 0);
	check_read(e.cs, 3, data, sizeof(data), 0, sizeof(data));
	unlink(p);
	free(p);
	env_close(&e);
}
END_TEST

struct wbconc {
	struct chunk_store *cs;
	uint64_t first_id, seed;
	int n;
	uint32_t sizes[40];
	int deleted[40];
	char *data[40];
};

static void *wbconc_main(void *arg)
{
	struct wbconc *t = arg;
	uint32_t bs = chunk_store_conf(t->cs)->block_size;

	for (int i = 0; i < t->n; i++) {
		uint64_t id = t->first_id + (uint64_t)i;
		uint32_t size = 1 + rnd_below(&t->seed, 3 * bs);
		struct chunk_writer *w = chunk_writer_new(t->cs, id);
		t->sizes[i] = size;
		t->data[i] = xmalloc(size);
		fill(&t->seed, t->data[i], size, 0);
		ck_assert_int_eq(chunk_writer_write(w, 0, t->data[i], size), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
		/* read an earlier slice: staged, uploading or uploaded by now */
		int j = (int)rnd_below(&t->seed, (uint32_t)i + 1);
		if (!t->deleted[j])
			check_read(t->cs, t->first_id + (uint64_t)j, t->data[j], t->sizes[j], 0,
				   t->sizes[j]);
		if (rnd_below(&t->seed, 3) == 0) {
			j = (int)rnd_below(&t->seed, (uint32_t)i + 1);
			if (!t->deleted[j]) {
				ck_assert_int_eq(chunk_delete_slice(t->cs, t->first_id + (uint64_t)j,
								    t->sizes[j]),
						 0);
				t->deleted[j] = 1;
			}
		}
	}
	return NULL;
}

/*
 * S2, S3, S5 under concurrency: writers stage, read back and delete slices
 * while the uploads (40 ms delay) run; in the end exactly the blocks of the
 * live slices are stored, with their bytes, and nothing is left staged.
 */
START_TEST(t_writeback_concurrent)
{
	struct env e;
	struct chunk_conf c;
	struct wbconc t[4];
	pthread_t tid[4];
	uint64_t seed = test_seed();
	const uint32_t bs = 64 * KiB;
	size_t want = 0;

	env_open_store(&e, BK_FILE, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_LZ4);
	c.writeback = 1;
	c.upload_delay_ms = 40;
	c.mem_cache_size = 256 * KiB;
	env_start(&e, &c);
	for (int k = 0; k < 4; k++) {
		memset(&t[k], 0, sizeof(t[k]));
		t[k].cs = e.cs;
		t[k].first_id = 1000 * (uint64_t)(k + 1);
		t[k].seed = seed + (uint64_t)k * 7919;
		t[k].n = 40;
		ck_assert_int_eq(pthread_create(&tid[k], NULL, wbconc_main, &t[k]), 0);
	}
	for (int k = 0; k < 4; k++)
		pthread_join(tid[k], NULL);
	/* wait_staged leaves blocks whose delay has not run out: wait for none at all */
	struct chunk_stats st;
	for (int i = 0; i < 3000; i++) {
		chunk_store_stats(e.cs, &st);
		if (!st.staged_blocks)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(st.staged_blocks, 0);
	ck_assert_int_eq(chunk_store_wait_staged(e.cs, 30000), 0);
	chunk_store_free(e.cs);
	e.cs = NULL;
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < t[k].n; i++)
			if (!t[k].deleted[i])
				want += chunk_nblocks(t[k].sizes[i], bs);
	ck_assert_uint_eq(count_objects(e.inner, ""), want);
	c.cache_dir = "";
	c.writeback = 0;
	env_start(&e, &c);
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < t[k].n; i++) {
			if (!t[k].deleted[i])
				check_read(e.cs, t[k].first_id + (uint64_t)i, t[k].data[i],
					   t[k].sizes[i], 0, t[k].sizes[i]);
			free(t[k].data[i]);
		}
	env_close(&e);
}
END_TEST

/* S4: staged blocks are recovered from every cache directory, whatever the order of the list. */
START_TEST(t_writeback_multi_dir)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	char data[2000];

	memset(data, 'm', sizeof(data));
	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_NONE);
	char *ab = xasprintf("%s/a:%s/b", e.cache, e.cache);
	char *ba = xasprintf("%s/b:%s/a", e.cache, e.cache);
	c.cache_dir = ab;
	c.writeback = 1;
	c.upload_delay_ms = 3600 * 1000;
	env_start(&e, &c);
	for (uint64_t id = 1; id <= 30; id++) {
		w = chunk_writer_new(e.cs, id);
		ck_assert_int_eq(chunk_writer_write(w, 0, data, sizeof(data)), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
	}
	chunk_store_free(e.cs);
	c.cache_dir = ba; /* blocks now map to the other directory */
	c.upload_delay_ms = 0;
	env_start(&e, &c);
	struct chunk_stats st;
	for (int i = 0; i < 2000; i++) {
		chunk_store_stats(e.cs, &st);
		if (!st.staged_blocks)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(chunk_store_wait_staged(e.cs, 10000), 0);
	ck_assert_uint_eq(count_objects(e.inner, ""), 30);
	for (uint64_t id = 1; id <= 30; id++)
		check_read(e.cs, id, data, sizeof(data), 0, sizeof(data));
	env_close(&e);
	free(ab);
	free(ba);
}
END_TEST

/*
 * S2: a staged file is removed only once a store sync covers its upload (a
 * file store's put is not durable before), so a failing sync keeps it.
 */
START_TEST(t_writeback_sync_before_unlink)
{
	struct slow_store *slow = slow_new(obj_mem_new(), 0, 0);
	struct chunk_store *cs;
	struct chunk_conf c;
	struct chunk_writer *w;
	struct env e;
	struct stat sb;
	char data[1000];

	memset(data, 's', sizeof(data));
	memset(&e, 0, sizeof(e));
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_NONE);
	c.writeback = 1;
	slow->sync_fail = 1;
	ck_assert_int_eq(chunk_store_new(&slow->base, &c, &cs), 0);
	w = chunk_writer_new(cs, 5);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, sizeof(data)), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	char *p = stage_file(&e, 5, 0, sizeof(data));
	struct obj_info oi;
	for (int i = 0; i < 500 && obj_head(&slow->base, "chunks/0/0/5_0_1000", &oi); i++)
		usleep(10000);
	ck_assert_int_eq(obj_head(&slow->base, "chunks/0/0/5_0_1000", &oi), 0);
	sleep_ms(2500); /* two sync rounds, both failing */
	pthread_mutex_lock(&slow->mu);
	ck_assert_int_ge(slow->syncs, 1);
	slow->sync_fail = 0;
	pthread_mutex_unlock(&slow->mu);
	ck_assert_int_eq(stat(p, &sb), 0); /* uploaded but not synced: the staged copy stays */
	ck_assert_int_eq(chunk_store_wait_staged(cs, 10000), 0);
	ck_assert_int_ne(stat(p, &sb), 0);
	free(p);
	chunk_store_free(cs);
	obj_free(&slow->base);
	test_rm_rf(e.cache);
	free(e.cache);
}
END_TEST

/* S2: blocks that are due when the store closes are uploaded before it is gone. */
START_TEST(t_writeback_due_at_close)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	char data[3000];

	memset(data, 'c', sizeof(data));
	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_NONE);
	c.writeback = 1;
	c.upload_delay_ms = 3600 * 1000;
	env_start(&e, &c);
	for (uint64_t id = 1; id <= 20; id++) {
		w = chunk_writer_new(e.cs, id);
		ck_assert_int_eq(chunk_writer_write(w, 0, data, sizeof(data)), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
	}
	chunk_store_free(e.cs);
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);
	/* found at start, due at once, and the store closed right away */
	c.upload_delay_ms = 0;
	env_start(&e, &c);
	chunk_store_free(e.cs);
	e.cs = NULL;
	ck_assert_uint_eq(count_objects(e.inner, ""), 20);
	env_close(&e);
}
END_TEST

/* S2: a cache disk short of space (--free-space-ratio) sends delayed blocks out early. */
START_TEST(t_writeback_disk_low)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	struct chunk_stats st;
	struct statvfs sv;
	char data[5000];

	memset(data, 'z', sizeof(data));
	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_NONE);
	ck_assert_int_eq(statvfs(e.cache, &sv), 0);
	double free_ratio = (double)sv.f_bavail / (double)sv.f_blocks;
	/* staging needs free > ratio / 2; "low" is free < ratio */
	c.free_space_ratio = MIN(0.999, free_ratio * 1.5);
	if (free_ratio <= c.free_space_ratio / 2 + 0.01) {
		env_close(&e);
		return; /* the host's disk is too full to place the ratio between both marks */
	}
	c.writeback = 1;
	c.upload_delay_ms = 3600 * 1000;
	env_start(&e, &c);
	w = chunk_writer_new(e.cs, 4);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, sizeof(data)), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.stage_writes, 1);
	for (int i = 0; i < 1000 && count_objects(e.inner, "") < 1; i++)
		usleep(10000);
	ck_assert_uint_eq(count_objects(e.inner, ""), 1);
	ck_assert_int_eq(chunk_store_wait_staged(e.cs, 10000), 0);
	check_read(e.cs, 4, data, sizeof(data), 0, sizeof(data));
	env_close(&e);
}
END_TEST

/* S4: a second writeback client on one cache directory is refused; a plain one is not. */
START_TEST(t_writeback_lock)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_store *cs2 = NULL;
	struct buf why = BUF_INIT;

	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, 64 * KiB, CHUNK_COMPRESS_NONE);
	c.writeback = 1;
	env_start(&e, &c);
	c.err = &why;
	ck_assert_int_eq(chunk_store_new(e.obj, &c, &cs2), -EBUSY);
	ck_assert_ptr_nonnull(strstr(why.ptr, "in use by another client"));
	char pid[32];
	snprintf(pid, sizeof(pid), "(pid %d)", (int)getpid());
	ck_assert_msg(strstr(why.ptr, pid), "no holder pid in: %s", why.ptr);
	ck_assert_ptr_null(strchr(why.ptr, '\n'));
	c.writeback = 0;
	ck_assert_int_eq(chunk_store_new(e.obj, &c, &cs2), 0);
	chunk_store_free(cs2);
	/* the lock goes with its holder */
	chunk_store_free(e.cs);
	c.writeback = 1;
	env_start(&e, &c);
	buf_release(&why);
	env_close(&e);
}
END_TEST

/* S5: deleting a slice before its upload drops its staged blocks; nothing is uploaded later. */
START_TEST(t_writeback_delete_staged)
{
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	struct chunk_stats st;
	const uint32_t bs = 64 * KiB, size = bs + 10;
	char *data = xcalloc(1, size), *got = xmalloc(size);
	struct stat sb;

	env_open_store(&e, BK_MEM, NULL);
	cache_conf(&e, &c, bs, CHUNK_COMPRESS_NONE);
	c.writeback = 1;
	c.upload_delay_ms = 3600 * 1000;
	env_start(&e, &c);
	w = chunk_writer_new(e.cs, 9);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	/* an aborted writer leaves nothing staged either */
	w = chunk_writer_new(e.cs, 10);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, size), 0);
	chunk_writer_abort(w);
	chunk_writer_free(w);
	ck_assert_int_eq(chunk_delete_slice(e.cs, 9, size), 0);
	chunk_store_stats(e.cs, &st);
	ck_assert_uint_eq(st.staged_blocks, 0);
	char *p = stage_file(&e, 9, 0, bs);
	ck_assert_int_ne(stat(p, &sb), 0);
	free(p);
	ck_assert_int_eq(chunk_read(e.cs, 9, size, 0, got, size), -ENOENT);
	chunk_store_free(e.cs);
	c.upload_delay_ms = 0;
	env_start(&e, &c);
	ck_assert_int_eq(chunk_store_wait_staged(e.cs, 20000), 0);
	ck_assert_uint_eq(count_objects(e.inner, ""), 0);
	free(data);
	free(got);
	env_close(&e);
}
END_TEST

/*
 * The cache files' checksums are computed four spans at a time (SSE4.2);
 * each must be the plain CRC32C of its span, for every length and
 * alignment, the last span short or whole.
 */
START_TEST(t_crc32c_spans)
{
	static const size_t spans[] = { 8, 13, 64, 32 * KiB };
	const size_t max = 128 * 32 * KiB + 3 * KiB;
	uint64_t seed = test_seed();
	char *buf = xmalloc(max + 8);
	uint32_t *out = xmalloc((max / 8 + 2) * sizeof(*out));

	ck_assert_uint_eq(chunk_crc32c("123456789", 9), 0xE3069283U);
	ck_assert_uint_eq(chunk_crc32c_table("123456789", 9), 0xE3069283U);
	fill(&seed, buf, max + 8, 0);
	for (size_t k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
		size_t span = spans[k];
		size_t lens[] = { 0, 1, span - 1, span, span + 1, 3 * span, 4 * span - 1,
				  4 * span, 4 * span + 7, 5 * span, 8 * span + span / 2,
				  9 * span + 1, 128 * span, max };
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			size_t n = MIN(lens[l], max);
			for (size_t a = 0; a < 8; a++) {
				size_t ns = (n + span - 1) / span;
				memset(out, 0xAA, (ns + 1) * sizeof(*out));
				chunk_crc32c_spans(buf + a, n, span, out);
				for (size_t i = 0; i < ns; i++) {
					size_t o = i * span, len = MIN(span, n - o);
					ck_assert_msg(out[i] == chunk_crc32c_table(buf + a + o, len),
						      "span %zu len %zu align %zu: #%zu", span, n,
						      a, i);
					ck_assert_uint_eq(out[i], chunk_crc32c(buf + a + o, len));
				}
				ck_assert_uint_eq(out[ns], 0xAAAAAAAAU); /* nothing past */
			}
		}
	}
	free(out);
	free(buf);
}
END_TEST

/* Lines of /proc/self/maps naming a file whose path ends with tail. */
static int maps_count(const char *tail)
{
	size_t tl = strlen(tail);
	char *m = NULL, *line, *save = NULL;
	FILE *f = fopen("/proc/self/maps", "r");
	int c = 0;

	/* a /proc file has no size: read it to its end */
	ck_assert_ptr_nonnull(f);
	ck_assert_int_gt(getdelim(&m, &(size_t){ 0 }, 0, f), 0);
	fclose(f);
	for (line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end = strstr(line, " (deleted)");
		size_t ll = end ? (size_t)(end - line) : strlen(line);
		c += ll >= tl && !memcmp(line + ll - tl, tail, tl);
	}
	free(m);
	return c;
}

/*
 * Whole cached blocks are lent as mappings of their cache files (MAP_MIN):
 * the bytes stay right while pinned though the files go, a mapping goes
 * with the last pin, and a damaged file (the short last span too) is
 * caught when mapped, compressed volumes alike (the cache holds blocks
 * decoded).
 */
START_TEST(t_cache_mapped)
{
	int algo = _i;
	struct env e;
	struct chunk_conf c;
	struct chunk_writer *w;
	const uint32_t bs = 128 * KiB, size = 2 * bs + 70 * KiB, small = 9 * KiB;
	uint64_t seed = test_seed();
	char *data = xmalloc(size), *got = xmalloc(size);
	char k[CHUNK_KEY_MAX], tail[CHUNK_KEY_MAX + 8];
	struct chunk_vec v = CHUNK_VEC_INIT;
	struct stat sb;
	size_t n;

	env_open_store(&e, BK_FILE, NULL);
	cache_conf(&e, &c, bs, algo);
	env_start(&e, &c);
	fill(&seed, data, size, algo ? 1 : 0);
	for (uint64_t id = 42; id <= 44; id++) {
		uint32_t len = id == 44 ? small : size;
		w = chunk_writer_new(e.cs, id);
		ck_assert_int_eq(chunk_writer_write(w, 0, data, len), 0);
		ck_assert_int_eq(chunk_writer_finish(w), 0);
		chunk_writer_free(w);
		check_read(e.cs, id, data, len, 0, len);
		chunk_store_wait_fills(e.cs);
		for (uint32_t i = 0; i * bs < len; i++) {
			chunk_block_key(k, id, i, chunk_block_len(len, i, bs), 0);
			ck_assert_int_eq(obj_delete(e.obj, k), 0);
		}
	}

	/* pinned: every block but the 9 KiB one is a mapping of its file */
	ck_assert_int_eq(chunk_read_pin(e.cs, 42, size, 0, size, 1, &v), size);
	for (uint32_t i = 0; i < 3; i++) {
		chunk_block_key(k, 42, i, chunk_block_len(size, i, bs), 0);
		snprintf(tail, sizeof(tail), "/raw/%s", k);
		ck_assert_int_eq(maps_count(tail), 1);
	}
	ck_assert_int_eq(chunk_read_pin(e.cs, 44, small, 0, small, 1, &v), small);
	chunk_block_key(k, 44, 0, small, 0);
	snprintf(tail, sizeof(tail), "/raw/%s", k);
	ck_assert_int_eq(maps_count(tail), 0);
	/* the files go (the cache drops the slice); the pinned bytes stay */
	ck_assert_int_eq(chunk_delete_slice(e.cs, 42, size), 0);
	char *p = cache_path(&e, 42, 0, bs);
	ck_assert_int_ne(stat(p, &sb), 0);
	free(p);
	char *all = join_vec(&v, 0, &n);
	ck_assert_uint_eq(n, size + small);
	ck_assert_int_eq(memcmp(all, data, size), 0);
	ck_assert_int_eq(memcmp(all + size, data, small), 0);
	free(all);
	chunk_vec_release(&v);
	chunk_block_key(k, 42, 2, size - 2 * bs, 0);
	snprintf(tail, sizeof(tail), "/raw/%s", k);
	ck_assert_int_eq(maps_count(tail), 0); /* unmapped with the last pin */
	ck_assert_int_eq(chunk_read(e.cs, 42, size, 0, got, size), -ENOENT);

	/* a damaged span, the short last one, is caught at the mapping */
	p = cache_path(&e, 43, 2, size - 2 * bs);
	int fd = open(p, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\xff", 1, 64 * KiB + 100), 1);
	close(fd);
	check_read(e.cs, 43, data, size, 0, 2 * bs);
	ck_assert_int_eq(chunk_read(e.cs, 43, size, 2 * bs, got, size - 2 * bs), -ENOENT);
	ck_assert_int_ne(stat(p, &sb), 0); /* dropped */
	free(p);
	free(got);
	free(data);
	env_close(&e);
}
END_TEST

static Suite *chunk_suite(void)
{
	Suite *su = suite_create("chunk");
	TCase *tc = tcase_create("format");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_keys);
	tcase_add_test(tc, t_block_len);
	tcase_add_test(tc, t_conf);
	tcase_add_loop_test(tc, t_compress_roundtrip, 0, 3);
	tcase_add_test(tc, t_compress_library_frames);
	tcase_add_loop_test(tc, t_decompress_corrupt, 0, 3);
	tcase_add_test(tc, t_crc32c_spans);
	suite_add_tcase(su, tc);

	tc = tcase_create("data");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t_roundtrip_random, 0, 2 * 3);
	tcase_add_loop_test(tc, t_spec_layout, 0, 2);
	tcase_add_test(tc, t_writer_rules);
	tcase_add_test(tc, t_full_chunk_slice);
	tcase_add_loop_test(tc, t_bad_objects, 0, 3);
	suite_add_tcase(su, tc);

	tc = tcase_create("faults");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, t_upload_fails, 0, 3);
	tcase_add_test(tc, t_upload_enospc);
	tcase_add_loop_test(tc, t_download_fails, 0, 3);
	suite_add_tcase(su, tc);

	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, t_buffer_budget);
	tcase_add_test(tc, t_inline_tail_cap);
	tcase_add_test(tc, t_buffer_wait);
	tcase_add_test(tc, t_upload_queue);
	tcase_add_loop_test(tc, t_concurrent, 0, 2 * 2);
	tcase_add_test(tc, t_single_flight);
	suite_add_tcase(su, tc);

	tc = tcase_create("cache");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_cache_layout);
	tcase_add_loop_test(tc, t_cache_serves_and_verifies, 0, 3);
	tcase_add_loop_test(tc, t_cache_mapped, 0, 3);
	tcase_add_loop_test(tc, t_read_cached, 0, 2);
	tcase_add_test(tc, t_cache_eviction);
	tcase_add_test(tc, t_cache_plain_multi);
	tcase_add_loop_test(tc, t_writeback_stage_and_recover, 0, 3);
	tcase_add_test(tc, t_writeback_upload_now);
	tcase_add_test(tc, t_writeback_lock);
	tcase_add_test(tc, t_writeback_stage_fails);
	tcase_add_test(tc, t_writeback_disk_low);
	tcase_add_test(tc, t_writeback_due_at_close);
	tcase_add_test(tc, t_writeback_concurrent);
	tcase_add_test(tc, t_writeback_multi_dir);
	tcase_add_test(tc, t_writeback_sync_before_unlink);
	tcase_add_test(tc, t_writeback_delete_staged);
	tcase_add_loop_test(tc, t_delete_slice, 0, 2);
	tcase_add_loop_test(tc, t_read_pin, 0, 2 * 2);
	tcase_add_test(tc, t_readahead_budget);
	tcase_add_test(tc, t_readahead_disk_cached);
	tcase_add_test(tc, t_readahead_evicted_last);
	tcase_add_test(tc, t_readahead_parallel);
	tcase_add_loop_test(tc, t_cache_direct, 0, 2);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(chunk_suite());
	int failures;

	fprintf(stderr, "# loop index: algo 0 none, 1 lz4, 2 zstd; back end = index / 3 "
			"(0 mem, 1 file)\n");
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
