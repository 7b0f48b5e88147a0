/*
 * gateway/madmin.h: the sealed-body format of MinIO's admin API (madmin's
 * EncryptData / DecryptData), which `mc admin` uses for every body that
 * carries a secret (user add, user list, service accounts).
 *
 * Wire format (the facts come from madmin and secure-io/sio-go; nothing here
 * is their code):
 *   salt[32] | algorithm id[1] | nonce[8] | sio stream
 * The key is 32 bytes derived from the password (the secret key of the
 * credential that signed the request) and the salt:
 *   id 0: Argon2id (t=1, 64 MiB, 4 lanes, version 0x13) -> AES-256-GCM
 *   id 1: Argon2id (same)                                -> ChaCha20-Poly1305
 *   id 2: PBKDF2-HMAC-SHA256 (8192 rounds)                -> AES-256-GCM
 * The sio stream cuts the plaintext into fragments of MADMIN_FRAGMENT bytes
 * (the last one 1..MADMIN_FRAGMENT bytes, 0 only for an empty plaintext),
 * each sealed with nonce = nonce8 | le32(seq), seq from 1, and with
 * associated data flag | T0, flag 0x80 on the final fragment, 0 otherwise;
 * T0 is the tag of sealing the empty message with seq 0 (no other AD).
 *
 * madmin_encrypt writes id 0, as mc on x86 does; madmin_decrypt accepts all
 * three. Argon2id needs 64 MiB, so key derivations run one at a time (a
 * process-wide lock): a burst of admin requests queues, memory stays bounded.
 *
 * Thread safe.
 */
#ifndef JFS_GW_MADMIN_H
#define JFS_GW_MADMIN_H

#include "base/base.h"

#define MADMIN_FRAGMENT 16384
#define MADMIN_HEADER (32 + 1 + 8)

/* Seal n bytes of in under password; the result appended to out. */
void madmin_encrypt(const char *password, const void *in, size_t n, struct buf *out);
/*
 * Open what madmin_encrypt (or madmin's EncryptData) made, the plaintext
 * appended to out: 0, -EINVAL (too short, an unknown algorithm id),
 * -EBADMSG (not authentic: wrong password, truncated, tampered). Nothing is
 * appended on failure.
 */
int madmin_decrypt(const char *password, const void *in, size_t n, struct buf *out);

/*
 * The sio stream alone, with a fragment size and associated data of the
 * caller's choice (the unit tests check the framing against sio's own
 * vectors). cipher: 0 AES-GCM with a 16- or 32-byte key, 1 ChaCha20-Poly1305.
 */
void madmin_sio_seal(int cipher, const uint8_t *key, size_t keylen, const uint8_t nonce[8],
		     const void *ad, size_t adlen, size_t frag, const void *in, size_t n,
		     struct buf *out);
int madmin_sio_open(int cipher, const uint8_t *key, size_t keylen, const uint8_t nonce[8],
		    const void *ad, size_t adlen, size_t frag, const void *in, size_t n,
		    struct buf *out);

#endif
