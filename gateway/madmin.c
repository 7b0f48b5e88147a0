/*
 * gateway/madmin.c: madmin's sealed bodies (contract in madmin.h).
 */
#include "gateway/madmin.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

static pthread_mutex_t kdf_lock = PTHREAD_MUTEX_INITIALIZER;

static const EVP_CIPHER *aead(int cipher, size_t keylen)
{
	if (cipher == 1)
		return keylen == 32 ? EVP_chacha20_poly1305() : NULL;
	return keylen == 32 ? EVP_aes_256_gcm() : keylen == 16 ? EVP_aes_128_gcm() : NULL;
}

/*
 * One AEAD operation with a 12-byte nonce and a 16-byte tag: seal (enc 1,
 * tag written after the ciphertext) or open (enc 0, in ends with the tag).
 * Returns 0, or -EBADMSG when an open fails.
 */
static int one(const EVP_CIPHER *c, const uint8_t *key, const uint8_t nonce[12], const uint8_t *ad,
	       size_t adlen, const uint8_t *in, size_t n, uint8_t *out, int enc)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l = 0, ok;

	BUG_ON(!x);
	ok = EVP_CipherInit_ex(x, c, NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
	     EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1;
	BUG_ON(!ok);
	if (!enc)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + n)) == 1;
	if (ok && adlen)
		ok = EVP_CipherUpdate(x, NULL, &l, ad, (int)adlen) == 1;
	if (ok && n)
		ok = EVP_CipherUpdate(x, out, &l, in, (int)n) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(x, out + (n ? l : 0), &l) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + n) == 1;
	EVP_CIPHER_CTX_free(x);
	BUG_ON(!ok && enc);
	return ok ? 0 : -EBADMSG;
}

static void frag_nonce(const uint8_t nonce8[8], uint32_t seq, uint8_t out[12])
{
	memcpy(out, nonce8, 8);
	out[8] = (uint8_t)seq;
	out[9] = (uint8_t)(seq >> 8);
	out[10] = (uint8_t)(seq >> 16);
	out[11] = (uint8_t)(seq >> 24);
}

/* The fragments' associated data: flag | T0, T0 = the tag of sealing "" with seq 0. */
static void frag_ad(const EVP_CIPHER *c, const uint8_t *key, const uint8_t nonce8[8],
		    const void *ad, size_t adlen, uint8_t out[17])
{
	uint8_t n[12];

	frag_nonce(nonce8, 0, n);
	one(c, key, n, ad, adlen, NULL, 0, out + 1, 1);
	out[0] = 0;
}

void madmin_sio_seal(int cipher, const uint8_t *key, size_t keylen, const uint8_t nonce[8],
		     const void *ad, size_t adlen, size_t frag, const void *in, size_t n,
		     struct buf *out)
{
	const EVP_CIPHER *c = aead(cipher, keylen);
	const uint8_t *p = in;
	uint8_t fad[17], iv[12];
	uint32_t seq = 1;

	BUG_ON(!c || !frag);
	frag_ad(c, key, nonce, ad, adlen, fad);
	do {
		size_t take = n > frag ? frag : n;

		fad[0] = take == n ? 0x80 : 0;
		frag_nonce(nonce, seq++, iv);
		buf_grow(out, take + 16);
		one(c, key, iv, fad, 17, p, take, (uint8_t *)out->ptr + out->len, 1);
		out->len += take + 16;
		out->ptr[out->len] = 0;
		p += take;
		n -= take;
	} while (n);
}

int madmin_sio_open(int cipher, const uint8_t *key, size_t keylen, const uint8_t nonce[8],
		    const void *ad, size_t adlen, size_t frag, const void *in, size_t n,
		    struct buf *out)
{
	const EVP_CIPHER *c = aead(cipher, keylen);
	const uint8_t *p = in;
	size_t start = out->len;
	uint8_t fad[17], iv[12];
	uint64_t seq = 1;

	if (!c || !frag)
		return -EINVAL;
	if (n < 16)
		return -EBADMSG;
	frag_ad(c, key, nonce, ad, adlen, fad);
	for (;;) {
		/* More than one sealed fragment left: this one is a full, non-final one. */
		size_t take = n > frag + 16 ? frag + 16 : n;

		if (take < 16 || seq >= UINT32_MAX)
			goto bad;
		fad[0] = take == n ? 0x80 : 0;
		frag_nonce(nonce, (uint32_t)seq++, iv);
		buf_grow(out, take);
		if (one(c, key, iv, fad, 17, p, take - 16, (uint8_t *)out->ptr + out->len, 0))
			goto bad;
		out->len += take - 16;
		out->ptr[out->len] = 0;
		p += take;
		n -= take;
		if (!n)
			return 0;
	}
bad:
	OPENSSL_cleanse(out->ptr + start, out->len - start);
	out->len = start;
	if (out->alloc)
		out->ptr[start] = 0;
	return -EBADMSG;
}

static int derive(int id, const char *password, const uint8_t salt[32], uint8_t key[32])
{
	int r;

	if (id == 2)
		return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, 32, 8192,
					 EVP_sha256(), 32, key) == 1
			       ? 0
			       : -EINVAL;
	if (id != 0 && id != 1)
		return -EINVAL;
	pthread_mutex_lock(&kdf_lock);
	r = argon2id_hash_raw(1, 64 * 1024, 4, password, strlen(password), salt, 32, key, 32);
	pthread_mutex_unlock(&kdf_lock);
	return r == ARGON2_OK ? 0 : -ENOMEM;
}

void madmin_encrypt(const char *password, const void *in, size_t n, struct buf *out)
{
	uint8_t hdr[MADMIN_HEADER], key[32];

	random_bytes(hdr, 32);
	hdr[32] = 0;
	random_bytes(hdr + 33, 8);
	BUG_ON(derive(0, password, hdr, key));
	buf_add(out, hdr, sizeof(hdr));
	madmin_sio_seal(0, key, 32, hdr + 33, NULL, 0, MADMIN_FRAGMENT, in, n, out);
	OPENSSL_cleanse(key, sizeof(key));
}

int madmin_decrypt(const char *password, const void *in, size_t n, struct buf *out)
{
	const uint8_t *p = in;
	uint8_t key[32];
	int r;

	if (n < MADMIN_HEADER + 16 || p[32] > 2)
		return -EINVAL;
	if ((r = derive(p[32], password, p, key)))
		return r;
	r = madmin_sio_open(p[32] == 1, key, 32, p + 33, NULL, 0, MADMIN_FRAGMENT,
			    p + MADMIN_HEADER, n - MADMIN_HEADER, out);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}
