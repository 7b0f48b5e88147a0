/*
 * storage/encrypt.c: encryption at rest, the wrapper JuiceFS calls
 * "encrypted" (pkg/object/encrypt.go), byte for byte.
 *
 * Every object put through the wrapper gets a fresh random data key (32
 * bytes) and nonce (12 bytes); the data key is wrapped with the volume's RSA
 * key by RSA-OAEP (SHA-256 for the digest and MGF1, label "keys") and the
 * payload sealed with AES-256-GCM or ChaCha20-Poly1305 (no associated data).
 * The stored object is
 *
 *	u16 BE  length of the wrapped key
 *	u8      length of the nonce
 *	        wrapped key, nonce, ciphertext, 16-byte tag
 *
 * The wrapper sits above the "<Name>/" prefix, so everything the volume keeps
 * in the bucket is sealed, juicefs_uuid included, as JuiceFS does; blocks
 * reach it already compressed (the chunk layer compresses first).
 *
 * A get reads and opens the whole object, then copies the range asked for:
 * the tag covers the whole payload, and a range cannot be checked alone. A
 * tag that does not verify, a wrapped key that does not unwrap, or a header
 * that does not fit is an error: a reader gets EIO, never bytes that the
 * key did not seal (-EBADMSG: the same bytes will fail the same way, so the
 * chunk layer does not retry it). head and list pass through and report stored sizes, as
 * JuiceFS's do.
 *
 * Thread safety: the EVP_PKEY is only read after it is loaded; each call
 * makes its own EVP_PKEY_CTX and EVP_CIPHER_CTX.
 */
#include "storage/obj.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <strings.h>

#define DATA_KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define HDR_LEN 3
/* OpenSSL's update calls take an int length: feed big objects in pieces. */
#define PIECE (1U << 30)

struct enc_store {
	struct obj_store base;
	EVP_PKEY *key;
	const EVP_CIPHER *cipher;
	size_t wrapped_len; /* RSA modulus size: what OAEP puts out */
	char *desc;
};

static const struct obj_ops enc_ops;

static struct enc_store *enc_of(struct obj_store *s)
{
	BUG_ON(s->ops != &enc_ops);
	return (struct enc_store *)s;
}

/* The first queued OpenSSL error, for a log line; clears the queue. */
static const char *ossl_why(char *b, size_t n)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(b, n, "unknown error");
	else
		ERR_error_string_n(e, b, n);
	ERR_clear_error();
	return b;
}

static EVP_PKEY_CTX *oaep_ctx(struct enc_store *e, int encrypt)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(e->key, NULL);
	unsigned char *label = OPENSSL_malloc(4);

	if (!c || !label)
		goto fail;
	memcpy(label, "keys", 4);
	if ((encrypt ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, 4) <= 0)
		goto fail;
	return c; /* the label belongs to c now */
fail:
	OPENSSL_free(label);
	EVP_PKEY_CTX_free(c);
	return NULL;
}

/* AEAD over n bytes from src to dst (same length); the tag is read or written at tag. */
static int aead_run(struct enc_store *e, int encrypt, const uint8_t *key, const uint8_t *nonce,
		    size_t nonce_len, const uint8_t *src, size_t n, uint8_t *dst, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int r = -EIO, k;

	if (!c)
		return -ENOMEM;
	if (EVP_CipherInit_ex(c, e->cipher, NULL, NULL, NULL, encrypt) <= 0 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, (int)nonce_len, NULL) <= 0 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, encrypt) <= 0)
		goto out;
	for (size_t done = 0; done < n;) {
		int piece = (int)MIN((size_t)PIECE, n - done);
		if (EVP_CipherUpdate(c, dst + done, &k, src + done, piece) <= 0 || k != piece)
			goto out;
		done += (size_t)piece;
	}
	if (!encrypt && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) <= 0)
		goto out;
	/* For a decryption this is where the tag is checked. */
	if (EVP_CipherFinal_ex(c, dst + n, &k) <= 0 || k != 0)
		goto out;
	if (encrypt && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag) <= 0)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

static int enc_put(struct obj_store *s, const char *key, const void *data, size_t len)
{
	struct enc_store *e = enc_of(s);
	uint8_t dk[DATA_KEY_LEN];
	size_t hdr = HDR_LEN + e->wrapped_len + NONCE_LEN, wl = e->wrapped_len;
	uint8_t *out = NULL;
	EVP_PKEY_CTX *pc = NULL;
	char why[256];
	int r = -EIO;

	if (len > SIZE_MAX - hdr - TAG_LEN)
		return -EINVAL;
	out = malloc(hdr + len + TAG_LEN);
	if (!out)
		return -ENOMEM;
	if (RAND_bytes(dk, sizeof(dk)) != 1 ||
	    RAND_bytes(out + HDR_LEN + wl, NONCE_LEN) != 1) {
		log_error("encrypt %s: no random bytes: %s", key, ossl_why(why, sizeof(why)));
		goto out;
	}
	if (!(pc = oaep_ctx(e, 1)) ||
	    EVP_PKEY_encrypt(pc, out + HDR_LEN, &wl, dk, sizeof(dk)) <= 0 ||
	    wl != e->wrapped_len) {
		log_error("encrypt %s: wrap the data key: %s", key, ossl_why(why, sizeof(why)));
		goto out;
	}
	out[0] = (uint8_t)(wl >> 8);
	out[1] = (uint8_t)wl;
	out[2] = NONCE_LEN;
	r = aead_run(e, 1, dk, out + HDR_LEN + wl, NONCE_LEN, data, len, out + hdr,
		     out + hdr + len);
	if (r) {
		log_error("encrypt %s: %s", key, ossl_why(why, sizeof(why)));
		goto out;
	}
	r = obj_put(s->inner, key, out, hdr + len + TAG_LEN);
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	EVP_PKEY_CTX_free(pc);
	free(out);
	return r;
}

/*
 * The whole stored object into *ct. The first read asks for as much as a
 * sealed object of off+len plain bytes can take (plus one byte to see the
 * end); a longer object, read for a range, is read on until a short read.
 */
static ssize_t read_whole(struct enc_store *e, const char *key, size_t want, uint8_t **ct)
{
	size_t cap = want + HDR_LEN + e->wrapped_len + 255 + TAG_LEN + 1, got = 0;
	uint8_t *b = NULL, *nb;

	for (;;) {
		nb = realloc(b, cap);
		if (!nb) {
			free(b);
			return -ENOMEM;
		}
		b = nb;
		ssize_t n = obj_get(e->base.inner, key, got, b + got, cap - got);
		if (n < 0) {
			free(b);
			return n;
		}
		got += (size_t)n;
		if (got < cap)
			break;
		if (cap > SSIZE_MAX / 2) {
			free(b);
			return -EFBIG;
		}
		cap *= 2;
	}
	*ct = b;
	return (ssize_t)got;
}

static ssize_t enc_get(struct obj_store *s, const char *key, uint64_t off, void *dst, size_t len)
{
	struct enc_store *e = enc_of(s);
	uint8_t *ct = NULL, *plain = NULL, *kbuf = NULL, dk[DATA_KEY_LEN];
	size_t klen, nlen, dkl, body, want;
	EVP_PKEY_CTX *pc = NULL;
	char why[256];
	ssize_t n, r = -EBADMSG;

	want = off > SIZE_MAX - len ? SIZE_MAX / 4 : MIN((size_t)(off + len), SIZE_MAX / 4);
	n = read_whole(e, key, want, &ct);
	if (n < 0)
		return n;
	if (n < HDR_LEN) {
		log_error("decrypt %s: %zd bytes, less than a header: the object is corrupt", key,
			  n);
		goto out;
	}
	klen = (size_t)ct[0] << 8 | ct[1];
	nlen = ct[2];
	/* JuiceFS's bound: a sealed empty payload still has its 16-byte tag. */
	if (HDR_LEN + klen + nlen + TAG_LEN > (size_t)n || nlen != NONCE_LEN) {
		log_error("decrypt %s: malformed object (%zd bytes, key %zu, nonce %zu)", key, n,
			  klen, nlen);
		goto out;
	}
	body = (size_t)n - HDR_LEN - klen - nlen - TAG_LEN;
	/* OpenSSL wants room for a whole modulus, whatever the payload's size. */
	if (!(kbuf = malloc(e->wrapped_len))) {
		r = -ENOMEM;
		goto out;
	}
	dkl = e->wrapped_len;
	if (!(pc = oaep_ctx(e, 0)) || EVP_PKEY_decrypt(pc, kbuf, &dkl, ct + HDR_LEN, klen) <= 0 ||
	    dkl != sizeof(dk)) {
		log_error("decrypt %s: cannot unwrap the data key: %s", key,
			  ossl_why(why, sizeof(why)));
		goto out;
	}
	memcpy(dk, kbuf, sizeof(dk));
	/* Open straight into dst when the caller takes the whole payload. */
	int direct = off == 0 && len >= body;
	if (!direct && !(plain = malloc(MAX(body, 1)))) {
		r = -ENOMEM;
		goto out;
	}
	const uint8_t *nonce = ct + HDR_LEN + klen, *src = nonce + nlen;
	if (aead_run(e, 0, dk, nonce, nlen, src, body, direct ? dst : plain, (uint8_t *)src + body)) {
		log_error("decrypt %s: the object does not verify (tampered or truncated)", key);
		ERR_clear_error();
		if (direct)
			memset(dst, 0, body); /* no unverified bytes left behind */
		goto out;
	}
	if (direct) {
		r = (ssize_t)body;
	} else if (off >= body) {
		r = 0;
	} else {
		size_t c = MIN(len, body - (size_t)off);
		memcpy(dst, plain + off, c);
		r = (ssize_t)c;
	}
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	if (kbuf)
		OPENSSL_cleanse(kbuf, e->wrapped_len);
	free(kbuf);
	EVP_PKEY_CTX_free(pc);
	free(plain);
	free(ct);
	return r;
}

static int enc_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	return obj_head(s->inner, key, oi);
}

static int enc_del(struct obj_store *s, const char *key) { return obj_delete(s->inner, key); }

static int enc_list(struct obj_store *s, const char *prefix, const char *start_after,
		    size_t limit, obj_list_fn cb, void *arg)
{
	return obj_list(s->inner, prefix, start_after, limit, cb, arg);
}

static int enc_create_bucket(struct obj_store *s) { return obj_create_bucket(s->inner); }

static int enc_sync(struct obj_store *s) { return obj_sync(s->inner); }

static const char *enc_describe(struct obj_store *s) { return enc_of(s)->desc; }

static void enc_free(struct obj_store *s)
{
	struct enc_store *e = enc_of(s);

	EVP_PKEY_free(e->key);
	free(e->desc);
	free(e);
}

static const struct obj_ops enc_ops = {
	.name = "encrypted",
	.create_bucket = enc_create_bucket,
	.put = enc_put,
	.get = enc_get,
	.head = enc_head,
	.del = enc_del,
	.list = enc_list,
	.free = enc_free,
	.sync = enc_sync,
	.describe = enc_describe,
};

struct pass {
	const char *pw;
	int asked;
};

static int pass_cb(char *b, int size, int rwflag, void *arg)
{
	struct pass *p = arg;
	size_t n;

	UNUSED(rwflag);
	p->asked = 1;
	if (!p->pw || !*p->pw)
		return -1;
	n = strlen(p->pw);
	if (n > (size_t)size)
		return -1;
	memcpy(b, p->pw, n);
	return (int)n;
}

int obj_encrypt_new(struct obj_store *inner, const char *pem, const char *passphrase,
		    const char *algo, struct obj_store **out, struct buf *err)
{
	struct pass pw = { passphrase, 0 };
	const EVP_CIPHER *cipher;
	struct enc_store *e;
	EVP_PKEY *key = NULL;
	BIO *bio;
	char why[256];

	*out = NULL;
	if (!algo || !*algo || !strcasecmp(algo, "aes256gcm-rsa")) {
		cipher = EVP_aes_256_gcm();
	} else if (!strcasecmp(algo, "chacha20-rsa")) {
		cipher = EVP_chacha20_poly1305();
	} else {
		buf_addf(err, "unsupport cipher: %s (aes256gcm-rsa or chacha20-rsa)", algo);
		return -ENOTSUP;
	}
	if (!pem || !*pem) {
		buf_addf(err, "parse private key: no key");
		return -EINVAL;
	}
	bio = BIO_new_mem_buf(pem, -1);
	if (bio) {
		key = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &pw);
		BIO_free(bio);
	}
	if (!key) {
		if (pw.asked && (!passphrase || !*passphrase))
			buf_addf(err, "passphrase is required to private key: please set the "
				      "'JFS_RSA_PASSPHRASE' environment variable");
		else if (pw.asked)
			buf_addf(err, "parse private key: decryption password incorrect");
		else
			buf_addf(err, "parse private key: %s", ossl_why(why, sizeof(why)));
		ERR_clear_error();
		return pw.asked ? -EACCES : -EINVAL;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		buf_addf(err, "parse private key: not an RSA key (the RSA algorithms need one)");
		EVP_PKEY_free(key);
		return -ENOTSUP;
	}
	e = xcalloc(1, sizeof(*e));
	e->base.ops = &enc_ops;
	e->base.inner = inner;
	e->key = key;
	e->cipher = cipher;
	e->wrapped_len = (size_t)EVP_PKEY_get_size(key);
	/* OAEP-SHA256 of a 32-byte key needs 32 + 2*32 + 2 bytes of modulus. */
	if (e->wrapped_len < DATA_KEY_LEN + 2 * 32 + 2 || e->wrapped_len > 0xffff) {
		buf_addf(err, "parse private key: an RSA key of %zu bits cannot wrap a data key",
			 e->wrapped_len * 8);
		e->base.inner = NULL;
		enc_free(&e->base);
		return -EINVAL;
	}
	e->desc = xasprintf("%s(encrypted)", obj_describe(inner));
	*out = &e->base;
	return 0;
}
