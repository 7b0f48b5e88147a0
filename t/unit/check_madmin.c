/*
 * gateway/madmin: madmin's sealed bodies. Decrypts ciphertexts that the real
 * madmin made (the decrypt vectors of madmin-go's encrypt_test.go, all-zero
 * plaintexts), a ChaCha20-Poly1305 one that the 2021 Go madmin opened, and
 * sio's two-fragment AES-128-GCM vector (fragment size 16, AD 0x00) for the
 * framing; then round trips of every fragment boundary and the refusals.
 */
#include <check.h>

#include "gateway/madmin.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static const struct {
	const char *password, *hex;
	size_t zeros;
} vectors[] = {
	{ "",
	  "828aa81599df0651c0461adb82283e8b89956baee9f6e719947ef9cddc849028001dc9d3ac0938f66b07bacc97"
	  "51437e1985f8a9763c240e81",
	  0 },
	{ "xPl.8/rhR\"Q_1xLt",
	  "b5c016e93b84b473fc8a37af94936563630c36d6df1841d23a86ee51ca161f9e00ac19116b32f643ff6a56a212"
	  "b265d8c56195bb0d12ce199e13dfdc5272f80c1564da2c6fc2fa18da91d8062de02af5cdafea491c6f3cae1f",
	  32 },
};

START_TEST(decrypts_madmin_vectors)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint8_t ct[256], zero[256] = { 0 };
		size_t n = unhex(vectors[i].hex, ct);
		struct buf out = BUF_INIT;

		ck_assert_int_eq(madmin_decrypt(vectors[i].password, ct, n, &out), 0);
		ck_assert_uint_eq(out.len, vectors[i].zeros);
		ck_assert(!memcmp(out.ptr, zero, out.len));
		ct[n - 1] ^= 1;
		buf_reset(&out);
		ck_assert_int_eq(madmin_decrypt(vectors[i].password, ct, n, &out), -EBADMSG);
		ck_assert_uint_eq(out.len, 0);
		buf_release(&out);
	}
}
END_TEST

START_TEST(decrypts_chacha)
{
	static const char hex[] =
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f01000102030405060"
		"76ee1b7bc71c58cc68477b0e09de14d5b57e43897ba3dfc4fd8a7679fd06f230c6edee49df246a8da2"
		"b86cd7f796fdaf2623c12dddfc3cd791f9a11c3dfdb";
	uint8_t ct[128];
	size_t n = unhex(hex, ct);
	struct buf out = BUF_INIT;

	ck_assert_int_eq(madmin_decrypt("minio123", ct, n, &out), 0);
	ck_assert_str_eq(out.ptr, "{\"secretKey\":\"user1secret\",\"status\":\"enabled\"}");
	buf_reset(&out);
	ck_assert_int_eq(madmin_decrypt("minio124", ct, n, &out), -EBADMSG);
	buf_release(&out);
}
END_TEST

START_TEST(sio_framing_vector)
{
	static const char want[] =
		"f58d8fef7ac7782a4361a79c07f5e6c4672d8a45e6cb9ef67cb7177897358deb8d338d313d44f78e0b68a3"
		"723d7ca0fe5f62aa8af0a72e508f5d5f8491ecedb2";
	uint8_t key[16] = { 0x20 }, nonce[8] = { 0x20 }, ad[1] = { 0 }, zeros[32] = { 0 };
	uint8_t w[64];
	size_t wn = unhex(want, w);
	struct buf out = BUF_INIT, back = BUF_INIT;

	madmin_sio_seal(0, key, 16, nonce, ad, 1, 16, zeros, 32, &out);
	ck_assert_uint_eq(out.len, wn);
	ck_assert(!memcmp(out.ptr, w, wn));
	ck_assert_int_eq(madmin_sio_open(0, key, 16, nonce, ad, 1, 16, out.ptr, out.len, &back), 0);
	ck_assert_uint_eq(back.len, 32);
	/* The final flag binds: dropping the last fragment is not a shorter message. */
	buf_reset(&back);
	ck_assert_int_eq(madmin_sio_open(0, key, 16, nonce, ad, 1, 16, out.ptr, 32, &back),
			 -EBADMSG);
	/* Neither is swapping fragments. */
	{
		uint8_t sw[64];

		memcpy(sw, w + 32, 32);
		memcpy(sw + 32, w, 32);
		ck_assert_int_eq(madmin_sio_open(0, key, 16, nonce, ad, 1, 16, sw, 64, &back),
				 -EBADMSG);
	}
	ck_assert_uint_eq(back.len, 0);
	buf_release(&out);
	buf_release(&back);
}
END_TEST

START_TEST(round_trips_and_refusals)
{
	static const size_t sizes[] = { 0, 1, 46, MADMIN_FRAGMENT - 1, MADMIN_FRAGMENT,
					MADMIN_FRAGMENT + 1, 2 * MADMIN_FRAGMENT, 40000 };
	uint8_t *in = xmalloc(40000);

	for (size_t i = 0; i < 40000; i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], frags = n ? (n + MADMIN_FRAGMENT - 1) / MADMIN_FRAGMENT : 1;
		struct buf ct = BUF_INIT, pt = BUF_INIT;

		madmin_encrypt("user1secret", in, n, &ct);
		/* the size madmin's format gives (41 + n + 16 per fragment): 40000 -> 40089 */
		ck_assert_uint_eq(ct.len, MADMIN_HEADER + n + 16 * frags);
		ck_assert_uint_eq((uint8_t)ct.ptr[32], 0);
		ck_assert_int_eq(madmin_decrypt("user1secret", ct.ptr, ct.len, &pt), 0);
		ck_assert_uint_eq(pt.len, n);
		ck_assert(!memcmp(pt.ptr, in, n));
		buf_reset(&pt);
		if (i == sizeof(sizes) / sizeof(sizes[0]) - 1) {
			/* truncated at a fragment boundary, or anywhere */
			ck_assert_int_eq(madmin_decrypt("user1secret", ct.ptr,
							MADMIN_HEADER + MADMIN_FRAGMENT + 16, &pt),
					 -EBADMSG);
			ck_assert_int_eq(madmin_decrypt("user1secret", ct.ptr, ct.len - 1, &pt),
					 -EBADMSG);
			ck_assert_int_eq(madmin_decrypt("user1secreT", ct.ptr, ct.len, &pt),
					 -EBADMSG);
			ct.ptr[40] ^= 0x10; /* the nonce */
			ck_assert_int_eq(madmin_decrypt("user1secret", ct.ptr, ct.len, &pt),
					 -EBADMSG);
			ct.ptr[40] ^= 0x10;
			ct.ptr[32] = 3; /* no such algorithm */
			ck_assert_int_eq(madmin_decrypt("user1secret", ct.ptr, ct.len, &pt),
					 -EINVAL);
			ck_assert_int_eq(madmin_decrypt("user1secret", ct.ptr, 20, &pt), -EINVAL);
			ck_assert_uint_eq(pt.len, 0);
		}
		buf_release(&ct);
		buf_release(&pt);
	}
	free(in);
}
END_TEST

START_TEST(pbkdf2_and_chacha_ids_open)
{
	/* ids 1 and 2 through the public framing: same stream, other KDF/cipher */
	uint8_t nonce[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, key[32] = { 9 };
	struct buf ct = BUF_INIT, pt = BUF_INIT;

	madmin_sio_seal(1, key, 32, nonce, NULL, 0, MADMIN_FRAGMENT, "hello", 5, &ct);
	ck_assert_int_eq(madmin_sio_open(1, key, 32, nonce, NULL, 0, MADMIN_FRAGMENT, ct.ptr,
					 ct.len, &pt), 0);
	ck_assert_str_eq(pt.ptr, "hello");
	buf_reset(&pt);
	ck_assert_int_eq(madmin_sio_open(0, key, 32, nonce, NULL, 0, MADMIN_FRAGMENT, ct.ptr,
					 ct.len, &pt), -EBADMSG);
	buf_release(&ct);
	buf_release(&pt);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("madmin");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, decrypts_madmin_vectors);
	tcase_add_test(tc, decrypts_chacha);
	tcase_add_test(tc, sio_framing_vector);
	tcase_add_test(tc, round_trips_and_refusals);
	tcase_add_test(tc, pbkdf2_and_chacha_ids_open);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
