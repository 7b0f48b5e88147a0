/*
 * Unit tests of the encryption wrapper (storage/encrypt.c).
 *
 * Keys are made here with OpenSSL and written out in every PEM form a user
 * may hand to `format --encrypt-rsa-key`: PKCS#8 (what `openssl genrsa`
 * writes today), sealed PKCS#8 (`-aes256`), traditional PKCS#1 and the
 * legacy sealed PKCS#1 with Proc-Type/DEK-Info headers (what JuiceFS's own
 * ExportRsaPrivateKeyToPem writes). The object layout is checked against
 * the bytes JuiceFS writes (u16 wrapped-key length, u8 nonce length, key,
 * nonce, ciphertext, tag), and every byte region of a sealed object is
 * tampered with to see that a get fails rather than answer other bytes.
 * Interoperability with the real client is t/integ/t2301.
 */
#include "fscore/chunk.h"
#include "storage/obj.h"
#include "t/unit/testhelp.h"

#include <check.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static EVP_PKEY *rsa2048;

static EVP_PKEY *the_key(void)
{
	if (!rsa2048)
		rsa2048 = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(rsa2048);
	return rsa2048;
}

enum pem_form { PEM_PKCS8, PEM_PKCS8_SEALED, PEM_PKCS1, PEM_PKCS1_SEALED };

static char *pem_of(EVP_PKEY *k, enum pem_form form, const char *pass)
{
	BIO *b = BIO_new(BIO_s_mem());
	const EVP_CIPHER *c = EVP_aes_256_cbc();
	char *p, *out;
	int ok = 0;

	ck_assert_ptr_nonnull(b);
	switch (form) {
	case PEM_PKCS8:
		ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_PKCS8_SEALED:
		ok = PEM_write_bio_PKCS8PrivateKey(b, k, c, pass, (int)strlen(pass), NULL, NULL);
		break;
	case PEM_PKCS1:
		ok = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_PKCS1_SEALED:
		ok = PEM_write_bio_PrivateKey_traditional(b, k, c, (unsigned char *)pass,
							  (int)strlen(pass), NULL, NULL);
		break;
	}
	ck_assert_int_eq(ok, 1);
	long n = BIO_get_mem_data(b, &p);
	out = xmalloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = 0;
	BIO_free(b);
	return out;
}

static struct obj_store *sealed(struct obj_store *inner, const char *algo)
{
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	char *pem = pem_of(the_key(), PEM_PKCS8, NULL);

	ck_assert_int_eq(obj_encrypt_new(inner, pem, NULL, algo, &s, &err), 0);
	ck_assert_ptr_nonnull(s);
	free(pem);
	buf_release(&err);
	return s;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static const char *const algos[] = { "aes256gcm-rsa", "chacha20-rsa" };

/* Round trip, ranges, the layout JuiceFS writes, fresh key and nonce per put. */
START_TEST(t_roundtrip_layout)
{
	struct obj_store *mem = obj_mem_new();
	struct obj_store *s = sealed(mem, algos[_i]);
	static const size_t sizes[] = { 0, 1, 4095, 4 << 20 };
	uint8_t *data = xmalloc(4 << 20), *back = xmalloc((4 << 20) + 1);
	uint8_t raw[300], raw2[300];
	struct obj_info oi;

	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k];
		fill(data, n, (uint32_t)k + 1);
		ck_assert_int_eq(obj_put(s, "chunks/0/0/1_0_x", data, n), 0);
		ck_assert_int_eq(obj_get(s, "chunks/0/0/1_0_x", 0, back, n + 1), (ssize_t)n);
		ck_assert(!memcmp(back, data, n));
		/* stored: 3-byte header, 256-byte OAEP block, 12-byte nonce, body, 16-byte tag */
		ck_assert_int_eq(obj_head(mem, "chunks/0/0/1_0_x", &oi), 0);
		ck_assert_uint_eq(oi.size, 3 + 256 + 12 + n + 16);
		ck_assert_int_eq(obj_get(mem, "chunks/0/0/1_0_x", 0, raw, 3), 3);
		ck_assert_uint_eq(raw[0], 1);
		ck_assert_uint_eq(raw[1], 0);
		ck_assert_uint_eq(raw[2], 12);
		if (n > 10) {
			ck_assert_int_eq(obj_get(s, "chunks/0/0/1_0_x", 7, back, 3), 3);
			ck_assert(!memcmp(back, data + 7, 3));
			ck_assert_int_eq(obj_get(s, "chunks/0/0/1_0_x", n - 2, back, 100), 2);
			ck_assert(!memcmp(back, data + n - 2, 2));
		}
		ck_assert_int_eq(obj_get(s, "chunks/0/0/1_0_x", n + 5, back, 10), 0);
	}
	/* the same bytes sealed twice differ: a fresh data key and nonce each time */
	ck_assert_int_eq(obj_put(s, "a", data, 100), 0);
	ck_assert_int_eq(obj_get(mem, "a", 0, raw, sizeof(raw)), (ssize_t)sizeof(raw));
	ck_assert_int_eq(obj_put(s, "a", data, 100), 0);
	ck_assert_int_eq(obj_get(mem, "a", 0, raw2, sizeof(raw2)), (ssize_t)sizeof(raw2));
	ck_assert(memcmp(raw + 3, raw2 + 3, 256 + 12));
	ck_assert_int_eq(obj_get(s, "missing", 0, back, 10), -ENOENT);
	ck_assert(strstr(obj_describe(s), "(encrypted)"));
	obj_free(s);
	free(data);
	free(back);
}
END_TEST

/* Any changed or missing byte is -EBADMSG, never other bytes. */
START_TEST(t_tamper)
{
	struct obj_store *mem = obj_mem_new();
	struct obj_store *s = sealed(mem, algos[_i]);
	size_t n = 1000, stored = 3 + 256 + 12 + n + 16;
	uint8_t data[1000], *raw = xmalloc(stored), *bad = xmalloc(stored + 1), back[1001];
	/* header, wrapped key, nonce, body start, body end, tag */
	static const size_t spots[] = { 0, 1, 2, 3, 200, 258, 259, 270, 271, 1270, 1271, 1286 };

	fill(data, n, 9);
	ck_assert_int_eq(obj_put(s, "k", data, n), 0);
	ck_assert_int_eq(obj_get(mem, "k", 0, raw, stored), (ssize_t)stored);
	for (size_t i = 0; i < ARRAY_SIZE(spots); i++) {
		memcpy(bad, raw, stored);
		bad[spots[i]] ^= 0x01;
		ck_assert_int_eq(obj_put(mem, "k", bad, stored), 0);
		memset(back, 0xAA, sizeof(back));
		ck_assert_msg(obj_get(s, "k", 0, back, sizeof(back)) == -EBADMSG, "byte %zu",
			      spots[i]);
		/* nothing unverified is left in the caller's buffer */
		for (size_t j = 0; j < n; j++)
			ck_assert_msg(back[j] == 0 || back[j] == 0xAA, "byte %zu leaked", spots[i]);
	}
	static const size_t lens[] = { 0, 2, 3, 258, 271, 286, 1286 };
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		ck_assert_int_eq(obj_put(mem, "k", raw, lens[i]), 0);
		ck_assert_msg(obj_get(s, "k", 0, back, sizeof(back)) == -EBADMSG, "length %zu",
			      lens[i]);
	}
	/* a byte appended is a wrong tag too */
	memcpy(bad, raw, stored);
	bad[stored] = 0;
	ck_assert_int_eq(obj_put(mem, "k", bad, stored + 1), 0);
	ck_assert_int_eq(obj_get(s, "k", 0, back, sizeof(back)), -EBADMSG);
	/* another key cannot open it */
	ck_assert_int_eq(obj_put(mem, "k", raw, stored), 0);
	EVP_PKEY *other = EVP_RSA_gen(2048);
	char *pem = pem_of(other, PEM_PKCS1, NULL);
	struct obj_store *s2 = NULL;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(obj_encrypt_new(obj_mem_new(), pem, NULL, algos[_i], &s2, &err), 0);
	ck_assert_int_eq(obj_put(s2->inner, "k", raw, stored), 0);
	ck_assert_int_eq(obj_get(s2, "k", 0, back, sizeof(back)), -EBADMSG);
	/* and the other algo does not open it either */
	struct obj_store *s3 = NULL;
	char *pem1 = pem_of(the_key(), PEM_PKCS1, NULL);
	ck_assert_int_eq(obj_encrypt_new(obj_mem_new(), pem1, NULL, algos[1 - _i], &s3, &err), 0);
	ck_assert_int_eq(obj_put(s3->inner, "k", raw, stored), 0);
	ck_assert_int_eq(obj_get(s3, "k", 0, back, sizeof(back)), -EBADMSG);
	obj_free(s3);
	obj_free(s2);
	EVP_PKEY_free(other);
	free(pem);
	free(pem1);
	buf_release(&err);
	obj_free(s);
	free(raw);
	free(bad);
}
END_TEST

/*
 * A sequential reader of an encrypted store has its blocks opened ahead by
 * several loaders at once (fscore/chunk.c prefetch_threads): every good
 * block reads back whole, and a tampered one is EIO, whether a loader or the
 * reader opened it first, never other bytes.
 */
struct keys {
	char k[32][CHUNK_KEY_MAX];
	size_t n;
};

static int keys_cb(void *arg, const struct obj_info *oi)
{
	struct keys *k = arg;
	ck_assert_uint_lt(k->n, 32);
	snprintf(k->k[k->n++], sizeof(k->k[0]), "%s", oi->key);
	return 0;
}

START_TEST(t_readahead_sealed)
{
	enum { BS = 64 << 10, NB = 24, BAD = 9, STEP = 16 << 10 };
	struct obj_store *mem = obj_mem_new();
	struct obj_store *s = sealed(mem, algos[_i]);
	struct chunk_store *cs;
	struct chunk_conf c;
	uint8_t *data = xmalloc((size_t)NB * BS), *raw = xmalloc(BS + 1024);
	struct keys ks = { .n = 0 };
	char bad_key[CHUNK_KEY_MAX];

	chunk_conf_defaults(&c);
	c.block_size = BS;
	c.encrypted = 1;
	c.io_retries = 0;
	c.retry_unit_ms = 1;
	fill(data, (size_t)NB * BS, 77);
	ck_assert_int_eq(chunk_store_new(s, &c, &cs), 0);
	struct chunk_writer *w = chunk_writer_new(cs, 42);
	ck_assert_int_eq(chunk_writer_write(w, 0, data, (size_t)NB * BS), 0);
	ck_assert_int_eq(chunk_writer_finish(w), 0);
	chunk_writer_free(w);
	chunk_store_free(cs);

	/* flip one ciphertext byte of block BAD, in the bucket under the wrapper */
	ck_assert_int_eq(obj_list(mem, "chunks/", NULL, 0, keys_cb, &ks), 0);
	ck_assert_uint_eq(ks.n, NB);
	snprintf(bad_key, sizeof(bad_key), "_%d_%d", BAD, BS);
	size_t hit = ks.n;
	for (size_t i = 0; i < ks.n; i++) {
		size_t kl = strlen(ks.k[i]), bl = strlen(bad_key);
		if (kl > bl && !strcmp(ks.k[i] + kl - bl, bad_key))
			hit = i;
	}
	ck_assert_uint_lt(hit, ks.n);
	ssize_t n = obj_get(mem, ks.k[hit], 0, raw, BS + 1024);
	ck_assert_int_gt(n, 1000);
	raw[n / 2] ^= 0x40;
	ck_assert_int_eq(obj_put(mem, ks.k[hit], raw, (size_t)n), 0);

	/* twice: cold, then with whatever the first pass left in memory */
	ck_assert_int_eq(chunk_store_new(s, &c, &cs), 0);
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t off = 0; off < (uint32_t)NB * BS; off += STEP) {
			struct chunk_vec v = CHUNK_VEC_INIT;
			ssize_t got = chunk_read_pin(cs, 42, NB * BS, off, STEP, 1, &v);
			if (off / BS == BAD) {
				ck_assert_int_eq(got, -EIO);
				ck_assert_uint_eq(v.n, 0);
			} else {
				ck_assert_int_eq(got, STEP);
				size_t at = off;
				for (size_t i = 0; i < v.n; i++) {
					ck_assert_msg(!memcmp(v.p[i].data, data + at, v.p[i].len),
						      "pass %d off %u", pass, off);
					at += v.p[i].len;
				}
				ck_assert_uint_eq(at, off + STEP);
			}
			chunk_vec_release(&v);
			chunk_prefetch(cs, 42, NB * BS, off + STEP, 8 * BS);
		}
	}
	chunk_store_free(cs);
	obj_free(s);
	free(data);
	free(raw);
}
END_TEST

/* Every PEM form opens with the right passphrase and seals for the others. */
START_TEST(t_key_forms)
{
	static const enum pem_form forms[] = { PEM_PKCS8, PEM_PKCS8_SEALED, PEM_PKCS1,
					       PEM_PKCS1_SEALED };
	struct obj_store *mem = obj_mem_new(), *first = NULL;
	uint8_t back[16];

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		int sealed_form = forms[i] == PEM_PKCS8_SEALED || forms[i] == PEM_PKCS1_SEALED;
		char *pem = pem_of(the_key(), forms[i], "s3cret");
		struct obj_store *s = NULL;
		struct buf err = BUF_INIT;
		int r;

		if (sealed_form) {
			ck_assert(strstr(pem, "ENCRYPTED"));
			r = obj_encrypt_new(mem, pem, NULL, NULL, &s, &err);
			ck_assert_int_eq(r, -EACCES);
			ck_assert_ptr_null(s);
			ck_assert_msg(strstr(err.ptr, "JFS_RSA_PASSPHRASE"), "%s", err.ptr);
			ck_assert(!strchr(err.ptr, '\n'));
			buf_reset(&err);
			r = obj_encrypt_new(mem, pem, "wrong", NULL, &s, &err);
			ck_assert_int_eq(r, -EACCES);
			ck_assert_msg(strstr(err.ptr, "incorrect"), "%s", err.ptr);
			buf_reset(&err);
		}
		/* a passphrase given for a key that has none is ignored, as JuiceFS does */
		r = obj_encrypt_new(mem, pem, "s3cret", NULL, &s, &err);
		ck_assert_msg(r == 0, "form %zu: %s", i, err.ptr);
		if (!first) {
			ck_assert_int_eq(obj_put(s, "x", "hello", 5), 0);
			first = s;
		} else {
			ck_assert_int_eq(obj_get(s, "x", 0, back, sizeof(back)), 5);
			ck_assert(!memcmp(back, "hello", 5));
			s->inner = NULL; /* mem is first's */
			obj_free(s);
		}
		free(pem);
		buf_release(&err);
	}
	obj_free(first);
}
END_TEST

START_TEST(t_bad_keys)
{
	struct obj_store *mem = obj_mem_new(), *s = NULL;
	struct buf err = BUF_INIT;
	char *pem = pem_of(the_key(), PEM_PKCS8, NULL);

	ck_assert_int_eq(obj_encrypt_new(mem, "not a key", NULL, NULL, &s, &err), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert(err.len && !strchr(err.ptr, '\n'));
	buf_reset(&err);
	ck_assert_int_eq(obj_encrypt_new(mem, "", NULL, NULL, &s, &err), -EINVAL);
	buf_reset(&err);
	ck_assert_int_eq(obj_encrypt_new(mem, pem, NULL, "sm4gcm", &s, &err), -ENOTSUP);
	ck_assert(strstr(err.ptr, "sm4gcm"));
	buf_reset(&err);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	char *ecpem = pem_of(ec, PEM_PKCS8, NULL);
	ck_assert_int_eq(obj_encrypt_new(mem, ecpem, NULL, NULL, &s, &err), -ENOTSUP);
	ck_assert_ptr_null(s);
	EVP_PKEY_free(ec);
	free(ecpem);
	free(pem);
	buf_release(&err);
	obj_free(mem); /* never taken by a failed open */
}
END_TEST

static Suite *encrypt_suite(void)
{
	Suite *su = suite_create("encrypt");
	TCase *tc = tcase_create("encrypt");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_roundtrip_layout, 0, 2);
	tcase_add_loop_test(tc, t_tamper, 0, 2);
	tcase_add_loop_test(tc, t_readahead_sealed, 0, 2);
	tcase_add_test(tc, t_key_forms);
	tcase_add_test(tc, t_bad_keys);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(encrypt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
