/*
 * fuzz-sealed-object: what the encryption wrapper (storage/encrypt.c) parses,
 * an object read back from the bucket, whose bytes anyone with write access
 * to the bucket controls. The first input byte picks the mode:
 *  - even: the rest is stored as is and read through the wrapper, at an
 *    offset and length from the input. The key is made afresh per process,
 *    so no input can carry a data key wrapped for it: every get must fail
 *    with -EBADMSG, and nothing may be read past the object.
 *  - odd: the rest is sealed by a put, then one byte of the stored object
 *    (picked by the next two input bytes) is flipped or the object is cut
 *    short; the get must fail with -EBADMSG. Sealed unchanged, it must come
 *    back byte for byte.
 */
#include "t/fuzz/fuzz.h"
#include "storage/obj.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

static char *pem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	UNUSED(argc);
	UNUSED(argv);
	FUZZ_CHECK(k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
	n = BIO_get_mem_data(b, &p);
	pem = xstrndup(p, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(k);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mode = (uint8_t)fuzz_take(&data, &size, 1);
	struct obj_store *mem = obj_mem_new(), *s = NULL;
	struct buf err = BUF_INIT;
	uint8_t *back, *raw;
	ssize_t n;

	FUZZ_CHECK(obj_encrypt_new(mem, pem, NULL, mode & 2 ? "chacha20-rsa" : NULL, &s, &err) ==
		   0);
	if (!(mode & 1)) {
		uint32_t off = (uint32_t)fuzz_take(&data, &size, 2);
		uint32_t len = (uint32_t)fuzz_take(&data, &size, 2);
		FUZZ_CHECK(obj_put(mem, "k", data, size) == 0);
		back = xmalloc(len + 1);
		n = obj_get(s, "k", off, back, len);
		FUZZ_CHECK(n == -EBADMSG);
		free(back);
	} else {
		uint32_t at = (uint32_t)fuzz_take(&data, &size, 2);
		struct obj_info oi;
		FUZZ_CHECK(obj_put(s, "k", data, size) == 0);
		FUZZ_CHECK(obj_head(mem, "k", &oi) == 0);
		raw = xmalloc(oi.size);
		FUZZ_CHECK(obj_get(mem, "k", 0, raw, oi.size) == (ssize_t)oi.size);
		back = xmalloc(size + 1);
		FUZZ_CHECK(obj_get(s, "k", 0, back, size + 1) == (ssize_t)size);
		FUZZ_CHECK(!size || !memcmp(back, data, size));
		if (mode & 4) {
			FUZZ_CHECK(obj_put(mem, "k", raw, at % oi.size) == 0);
		} else {
			raw[at % oi.size] ^= (uint8_t)(1u << (mode >> 5));
			FUZZ_CHECK(obj_put(mem, "k", raw, oi.size) == 0);
		}
		FUZZ_CHECK(obj_get(s, "k", 0, back, size + 1) == -EBADMSG);
		free(raw);
		free(back);
	}
	obj_free(s);
	buf_release(&err);
	return 0;
}
