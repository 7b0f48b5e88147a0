/*
 * The volume setting: struct conf_format <-> JuiceFS's "Format" JSON (spec §2).
 *
 * JuiceFS writes the setting with Go's json.MarshalIndent(v, "", ""), and
 * tools (and people) diff it, so we write the same bytes: struct field order,
 * omitempty exactly where Go has it, ": " after keys, one member per line, no
 * trailing newline, and Go's string escaping (<, >, & as \u003c..., U+2028/9
 * escaped, invalid UTF-8 as U+FFFD). Reading is Go-like too: keys match
 * case-insensitively, null leaves a field zero, a wrong JSON type is an error.
 *
 * Fields we do not model live in f->extra (a jansson object): Tiers, the
 * Ranger/ChangeLog/Kerberos fields, and anything a newer client added. On
 * output Tiers goes back to its slot after StorageClass, the known tail fields
 * after EnableACL in Go's order, then the rest as they came.
 *
 * Secrets (spec §2.1) are plain text in memory and sealed on output with
 * AES-128-GCM keyed by MD5(UUID), or SM4-GCM keyed by SM3-KDF(UUID) when
 * EncryptAlgo is "sm4gcm"; stored as base64(nonce || ciphertext || tag).
 * OpenSSL 3.0 has no SM4-GCM, so GCM over the SM4 block function is done here.
 */
#include "conf/conf.h"

#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stddef.h>
#include <strings.h>
#include <unistd.h>

#define REMOVED "removed" /* JuiceFS's marker for a stripped secret */

enum fkind { K_STR, K_SECRET, K_INT, K_I64, K_U64, K_BOOL, K_TIERS };

struct field {
	const char *name;
	enum fkind kind;
	ptrdiff_t off; /* into struct conf_format; -1: kept in extra */
	int omitempty;
};

#define F(n, k, m, o) { n, k, offsetof(struct conf_format, m), o }
#define X(n, k, o) { n, k, -1, o }

/* Go's struct order (spec §2 table). The X() entries come after EnableACL. */
static const struct field fields[] = {
	F("Name", K_STR, name, 0),
	F("UUID", K_STR, uuid, 0),
	F("Storage", K_STR, storage, 0),
	F("StorageClass", K_STR, storage_class, 1),
	X("Tiers", K_TIERS, 0),
	F("Bucket", K_STR, bucket, 0),
	F("AccessKey", K_STR, access_key, 1),
	F("SecretKey", K_SECRET, secret_key, 1),
	F("SessionToken", K_SECRET, session_token, 1),
	F("BlockSize", K_INT, block_size, 0),
	F("Compression", K_STR, compression, 1),
	F("Shards", K_INT, shards, 1),
	F("HashPrefix", K_BOOL, hash_prefix, 1),
	F("Capacity", K_U64, capacity, 1),
	F("Inodes", K_U64, inodes, 1),
	F("EncryptKey", K_SECRET, encrypt_key, 1),
	F("EncryptAlgo", K_STR, encrypt_algo, 1),
	F("KeyEncrypted", K_BOOL, key_encrypted, 1),
	F("UploadLimit", K_I64, upload_limit, 1),
	F("DownloadLimit", K_I64, download_limit, 1),
	F("TrashDays", K_INT, trash_days, 0),
	F("MetaVersion", K_INT, meta_version, 1),
	F("MinClientVersion", K_STR, min_client_version, 1),
	F("MaxClientVersion", K_STR, max_client_version, 1),
	F("DirStats", K_BOOL, dir_stats, 1),
	F("UserGroupQuota", K_BOOL, user_group_quota, 1),
	F("EnableACL", K_BOOL, enable_acl, 0),
	X("RangerRestUrl", K_STR, 1),
	X("RangerService", K_STR, 1),
	X("ChangeLog", K_BOOL, 1),
	X("ChangeLogMaxAge", K_I64, 1),
	X("ChangeLogMaxLines", K_I64, 1),
	X("KerbConf", K_STR, 1),
};

#define FSTR(f, fd) ((char **)((char *)(f) + (fd)->off))
#define FINT(f, fd) ((int *)((char *)(f) + (fd)->off))
#define FI64(f, fd) ((int64_t *)((char *)(f) + (fd)->off))
#define FU64(f, fd) ((uint64_t *)((char *)(f) + (fd)->off))

/* ---------------- defaults, copy, release ---------------- */

static char *default_bucket(void)
{
	const char *home;
	if (geteuid() == 0)
		return xstrdup("/var/jfs/");
	home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : "/tmp";
	}
	return xasprintf("%s/.juicefs/local/", home);
}

static void fill_empty_strings(struct conf_format *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct field *fd = &fields[i];
		if (fd->off >= 0 && (fd->kind == K_STR || fd->kind == K_SECRET) && !*FSTR(f, fd))
			*FSTR(f, fd) = xstrdup("");
	}
}

void conf_format_defaults(struct conf_format *f)
{
	memset(f, 0, sizeof(*f));
	f->storage = xstrdup("file");
	f->bucket = default_bucket();
	f->block_size = 4096;
	f->compression = xstrdup("none");
	f->encrypt_algo = xstrdup("aes256gcm-rsa");
	f->trash_days = 1;
	f->meta_version = 1;
	f->min_client_version = xstrdup("1.1.0-A");
	f->dir_stats = 1;
	fill_empty_strings(f);
}

void conf_format_release(struct conf_format *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct field *fd = &fields[i];
		if (fd->off >= 0 && (fd->kind == K_STR || fd->kind == K_SECRET))
			free(*FSTR(f, fd));
	}
	json_decref(f->extra);
	memset(f, 0, sizeof(*f));
}

void conf_format_copy(struct conf_format *dst, const struct conf_format *src)
{
	*dst = *src;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct field *fd = &fields[i];
		if (fd->off >= 0 && (fd->kind == K_STR || fd->kind == K_SECRET) && *FSTR(src, fd))
			*FSTR(dst, fd) = xstrdup(*FSTR(src, fd));
	}
	dst->extra = src->extra ? json_deep_copy(src->extra) : NULL;
	if (src->extra && !dst->extra)
		jfs_die(__FILE__, __LINE__, "out of memory copying the volume setting");
}

int conf_valid_volume_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (c != '-' || i == 0 || i == n - 1))
			return 0;
	}
	return 1;
}

/* ---------------- base64 (StdEncoding, padded) ---------------- */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char o[4] = { b64chars[v >> 18 & 63], b64chars[v >> 12 & 63],
			      i + 1 < n ? b64chars[v >> 6 & 63] : '=',
			      i + 2 < n ? b64chars[v & 63] : '=' };
		buf_add(b, o, 4);
	}
}

/* Go's StdEncoding.DecodeString: padded, CR and LF ignored, nothing after the padding. */
static int b64_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s), len = 0, q = 0, pad = 0;
	uint8_t *d = xmalloc(n / 4 * 3 + 3);
	uint32_t v = 0;
	int ended = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		const char *pos;
		if (c == '\r' || c == '\n')
			continue;
		if (ended || (pad && c != '='))
			goto bad;
		if (c == '=') {
			if (q < 2)
				goto bad;
			pad++;
			v <<= 6;
		} else {
			if (!(pos = strchr(b64chars, c)))
				goto bad;
			v = v << 6 | (uint32_t)(pos - b64chars);
		}
		if (++q == 4) {
			d[len++] = (uint8_t)(v >> 16);
			if (pad < 2)
				d[len++] = (uint8_t)(v >> 8);
			if (pad < 1)
				d[len++] = (uint8_t)v;
			ended = pad > 0;
			q = 0;
			v = 0;
		}
	}
	if (q)
		goto bad;
	*out = d;
	*outlen = len;
	return 0;
bad:
	free(d);
	return -EINVAL;
}

/* ---------------- secret sealing ---------------- */

#define NONCE_LEN 12
#define TAG_LEN 16

typedef void (*block_fn)(const void *ctx, const uint8_t in[16], uint8_t out[16]);

static void sm4_block(const void *ctx, const uint8_t in[16], uint8_t out[16])
{
	int n = 0;
	if (EVP_EncryptUpdate((EVP_CIPHER_CTX *)ctx, out, &n, in, 16) != 1 || n != 16)
		jfs_die(__FILE__, __LINE__, "SM4 block encryption failed");
}

/* Multiply x by y in GF(2^128) with GCM's bit order (SP 800-38D, algorithm 1). */
static void gf_mul(uint8_t x[16], const uint8_t y[16])
{
	uint8_t z[16] = { 0 }, v[16];
	memcpy(v, y, 16);
	for (int i = 0; i < 128; i++) {
		if (x[i / 8] >> (7 - i % 8) & 1)
			for (int j = 0; j < 16; j++)
				z[j] ^= v[j];
		int lsb = v[15] & 1;
		for (int j = 15; j > 0; j--)
			v[j] = (uint8_t)(v[j] >> 1 | v[j - 1] << 7);
		v[0] >>= 1;
		if (lsb)
			v[0] ^= 0xe1;
	}
	memcpy(x, z, 16);
}

static void ghash_update(uint8_t s[16], const uint8_t h[16], const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		for (size_t j = 0; j < 16 && i + j < n; j++)
			s[j] ^= p[i + j];
		gf_mul(s, h);
	}
}

/*
 * GCM with a 96-bit nonce and no additional data over any 128-bit block
 * cipher; dir 1 seals (tag written), 0 opens (tag computed for comparison).
 */
static void gcm_crypt(block_fn blk, const void *ctx, const uint8_t nonce[NONCE_LEN],
		      const uint8_t *in, size_t n, uint8_t *out, int seal, uint8_t tag[TAG_LEN])
{
	uint8_t h[16] = { 0 }, j0[16], ctr[16], ks[16], s[16] = { 0 }, lens[16] = { 0 };
	blk(ctx, h, h);
	memcpy(j0, nonce, NONCE_LEN);
	put_be32(j0 + 12, 1);
	memcpy(ctr, j0, 16);
	for (size_t i = 0; i < n; i += 16) {
		put_be32(ctr + 12, get_be32(ctr + 12) + 1);
		blk(ctx, ctr, ks);
		for (size_t j = 0; j < 16 && i + j < n; j++)
			out[i + j] = in[i + j] ^ ks[j];
	}
	ghash_update(s, h, seal ? out : in, n);
	put_be64(lens + 8, (uint64_t)n * 8);
	ghash_update(s, h, lens, 16);
	blk(ctx, j0, ks);
	for (int j = 0; j < 16; j++)
		tag[j] = s[j] ^ ks[j];
}

/* SM3-KDF (GB/T 32918.4): SM3(z || be32(1)) truncated to 16 bytes. */
static int sm3_kdf16(const char *z, uint8_t key[16])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const EVP_MD *sm3 = EVP_sm3();
	uint8_t ct[4], h[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	int ok;
	put_be32(ct, 1);
	ok = md && sm3 && EVP_DigestInit_ex(md, sm3, NULL) == 1 &&
	     EVP_DigestUpdate(md, z, strlen(z)) == 1 && EVP_DigestUpdate(md, ct, 4) == 1 &&
	     EVP_DigestFinal_ex(md, h, &hl) == 1 && hl >= 16;
	EVP_MD_CTX_free(md);
	if (ok)
		memcpy(key, h, 16);
	return ok ? 0 : -EIO;
}

/*
 * seal: in = plaintext, *out = nonce||ct||tag. open: in = nonce||ct||tag,
 * *out = plaintext (NUL-terminated). Returns -EINVAL with a message on a bad
 * value or key, -EIO if the crypto library fails.
 */
static int secret_crypt(const char *uuid, const char *algo, int seal, const uint8_t *in,
			size_t n, uint8_t **out, size_t *outlen, struct buf *err)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t key[16], tag[TAG_LEN], *res = NULL;
	unsigned dl = 0;
	int r = -EIO, sm4 = algo && !strcmp(algo, "sm4gcm");
	const uint8_t *nonce;
	uint8_t nbuf[NONCE_LEN];

	if (!c)
		goto out;
	if (!seal && n < NONCE_LEN + TAG_LEN) {
		buf_adds(err, "ciphertext too short");
		r = -EINVAL;
		goto out;
	}
	if (seal) {
		random_bytes(nbuf, sizeof(nbuf));
		nonce = nbuf;
	} else {
		nonce = in;
		in += NONCE_LEN;
		n -= NONCE_LEN + TAG_LEN;
	}
	res = xmalloc(n + NONCE_LEN + TAG_LEN + 1);
	if (sm4) {
		uint8_t want[TAG_LEN];
		if (sm3_kdf16(uuid, key) ||
		    EVP_EncryptInit_ex(c, EVP_sm4_ecb(), NULL, key, NULL) != 1 ||
		    EVP_CIPHER_CTX_set_padding(c, 0) != 1)
			goto out;
		if (seal) {
			memcpy(res, nonce, NONCE_LEN);
			gcm_crypt(sm4_block, c, nonce, in, n, res + NONCE_LEN, 1, tag);
			memcpy(res + NONCE_LEN + n, tag, TAG_LEN);
		} else {
			gcm_crypt(sm4_block, c, nonce, in, n, res, 0, want);
			if (CRYPTO_memcmp(want, in + n, TAG_LEN)) {
				buf_adds(err, "cipher: message authentication failed");
				r = -EINVAL;
				goto out;
			}
		}
	} else {
		int l = 0, l2 = 0;
		if (!EVP_Digest(uuid, strlen(uuid), key, &dl, EVP_md5(), NULL) || dl != 16)
			goto out;
		if (seal) {
			memcpy(res, nonce, NONCE_LEN);
			if (EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce) != 1 ||
			    EVP_EncryptUpdate(c, res + NONCE_LEN, &l, in, (int)n) != 1 ||
			    EVP_EncryptFinal_ex(c, res + NONCE_LEN + l, &l2) != 1 ||
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
						res + NONCE_LEN + n) != 1)
				goto out;
		} else {
			memcpy(tag, in + n, TAG_LEN);
			if (EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce) != 1 ||
			    EVP_DecryptUpdate(c, res, &l, in, (int)n) != 1 ||
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
				goto out;
			if (EVP_DecryptFinal_ex(c, res + l, &l2) != 1) {
				buf_adds(err, "cipher: message authentication failed");
				r = -EINVAL;
				goto out;
			}
		}
	}
	*outlen = seal ? n + NONCE_LEN + TAG_LEN : n;
	res[*outlen] = 0;
	*out = res;
	res = NULL;
	r = 0;
out:
	if (r == -EIO)
		buf_adds(err, "crypto library failure");
	free(res);
	EVP_CIPHER_CTX_free(c);
	return r;
}

/* ---------------- writing, Go's way ---------------- */

/* Length of the valid UTF-8 sequence at p (max n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	buf_addch(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c < 0x80) {
			switch (c) {
			case '"': buf_adds(b, "\\\""); break;
			case '\\': buf_adds(b, "\\\\"); break;
			case '\b': buf_adds(b, "\\b"); break;
			case '\f': buf_adds(b, "\\f"); break;
			case '\n': buf_adds(b, "\\n"); break;
			case '\r': buf_adds(b, "\\r"); break;
			case '\t': buf_adds(b, "\\t"); break;
			case '<':
			case '>':
			case '&':
				buf_addf(b, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
				break;
			default:
				if (c < 0x20)
					buf_addf(b, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
				else
					buf_addch(b, (char)c);
			}
			i++;
			continue;
		}
		size_t l = utf8_len(p + i, n - i);
		if (!l) {
			buf_adds(b, "\xef\xbf\xbd"); /* Go writes U+FFFD for a bad byte */
			i++;
		} else if (l == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
			   (p[i + 2] & 0xfe) == 0xa8) { /* U+2028, U+2029 */
			buf_addf(b, "\\u202%c", p[i + 2] == 0xa8 ? '8' : '9');
			i += 3;
		} else {
			buf_add(b, p + i, l);
			i += l;
		}
	}
	buf_addch(b, '"');
}

/* Shortest text that reads back as the same double, laid out like Go's encoder. */
static void put_real(struct buf *b, double v)
{
	char t[40], digits[24];
	int prec, exp, nd = 0;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(t, sizeof(t), "%.*e", prec - 1, v);
		if (strtod(t, NULL) == v)
			break;
	}
	const char *p = t, *e = strchr(t, 'e');
	if (*p == '-') {
		buf_addch(b, '-');
		p++;
	}
	for (; p < e; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = 0;
	if (parse_int(e + 1, &exp))
		exp = 0;
	/*
	 * Go writes digits up to 1e21, but an integral value past int64 in that
	 * form is a "too big integer" to jansson, which would then refuse the
	 * setting we wrote: such values (never in a field JuiceFS defines) get
	 * the exponent form, which both read as the same double.
	 */
	int too_big = v >= 9223372036854775808.0 || v < -9223372036854775808.0;
	if (v == 0) {
		/* Go's "-0" reads back as jansson's integer 0: keep the sign as a real. */
		buf_adds(b, signbit(v) ? "0.0" : "0"); /* the '-' is out already */
	} else if (exp < -6 || exp >= 21 || (too_big && nd <= exp + 1)) {
		buf_addch(b, digits[0]);
		if (nd > 1)
			buf_addf(b, ".%s", digits + 1);
		buf_addf(b, "e%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (exp < 0) {
		buf_adds(b, "0.");
		for (int i = -1; i > exp; i--)
			buf_addch(b, '0');
		buf_adds(b, digits);
	} else {
		for (int i = 0; i <= exp || i < nd; i++) {
			if (i == exp + 1)
				buf_addch(b, '.');
			buf_addch(b, i < nd ? digits[i] : '0');
		}
	}
}

/* Any JSON value in MarshalIndent(v, "", "") layout. */
static void put_value(struct buf *b, json_t *v)
{
	const char *k;
	json_t *e;
	size_t i;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!json_object_size(v)) {
			buf_adds(b, "{}");
			break;
		}
		buf_addch(b, '{');
		json_object_foreach(v, k, e) {
			buf_adds(b, first ? "\n" : ",\n");
			first = 0;
			put_str(b, k);
			buf_adds(b, ": ");
			put_value(b, e);
		}
		buf_adds(b, "\n}");
		break;
	case JSON_ARRAY:
		if (!json_array_size(v)) {
			buf_adds(b, "[]");
			break;
		}
		buf_addch(b, '[');
		json_array_foreach(v, i, e) {
			buf_adds(b, i ? ",\n" : "\n");
			put_value(b, e);
		}
		buf_adds(b, "\n]");
		break;
	case JSON_STRING:
		put_str(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		buf_adds(b, "true");
		break;
	case JSON_FALSE:
		buf_adds(b, "false");
		break;
	case JSON_NULL:
		buf_adds(b, "null");
		break;
	}
}

static void put_key(struct buf *b, const char *name, int *first)
{
	buf_adds(b, *first ? "\n" : ",\n");
	*first = 0;
	put_str(b, name);
	buf_adds(b, ": ");
}

/* Tiers as Go writes its map[int]*Tier: keys in string order, fixed members. */
static void put_tiers(struct buf *b, json_t *tiers, const char *storage_class)
{
	const char **keys;
	const char *k;
	json_t *t;
	size_t n = 0;

	if (!tiers || !json_object_size(tiers)) {
		if (tiers) { /* an empty map stays empty, as Go keeps it */
			buf_adds(b, "{}");
			return;
		}
		buf_adds(b, "{\n\"0\": {\n\"ID\": 0,\n\"StorageClass\": ");
		put_str(b, storage_class);
		buf_adds(b, ",\n\"Tag\": \"\"\n}\n}");
		return;
	}
	keys = xcalloc(json_object_size(tiers), sizeof(*keys));
	json_object_foreach(tiers, k, t)
		keys[n++] = k;
	for (size_t i = 1; i < n; i++) /* a handful of keys: insertion sort */
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *tmp = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = tmp;
		}
	buf_addch(b, '{');
	for (size_t i = 0; i < n; i++) {
		t = json_object_get(tiers, keys[i]);
		buf_adds(b, i ? ",\n" : "\n");
		put_str(b, keys[i]);
		if (json_is_null(t)) {
			buf_adds(b, ": null");
			continue;
		}
		json_t *id = json_object_get(t, "ID");
		buf_addf(b, ": {\n\"ID\": %" JSON_INTEGER_FORMAT ",\n\"StorageClass\": ",
			 json_is_integer(id) ? json_integer_value(id) : 0);
		put_str(b, json_string_value(json_object_get(t, "StorageClass")));
		buf_adds(b, ",\n\"Tag\": ");
		put_str(b, json_string_value(json_object_get(t, "Tag")));
		buf_adds(b, "\n}");
	}
	buf_adds(b, "\n}");
	free(keys);
}

static int is_tail_field(const char *k)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (fields[i].off < 0 && !strcmp(fields[i].name, k))
			return 1;
	return 0;
}

static int json_empty(json_t *v)
{
	return !v || json_is_null(v) || json_is_false(v) ||
	       (json_is_string(v) && !*json_string_value(v)) ||
	       (json_is_integer(v) && !json_integer_value(v));
}

static void put_secret(struct buf *b, const struct conf_format *f, const char *s, int mask,
		       int enc)
{
	if (mask) {
		put_str(b, REMOVED);
		return;
	}
	/* A stripped secret stays stripped: sealing the marker would hide that. */
	if (!enc || !strcmp(s, REMOVED)) {
		put_str(b, s);
		return;
	}
	uint8_t *ct = NULL;
	size_t n = 0;
	struct buf e = BUF_INIT;
	if (secret_crypt(f->uuid ? f->uuid : "", f->encrypt_algo, 1, (const uint8_t *)s,
			 strlen(s), &ct, &n, &e))
		jfs_die(__FILE__, __LINE__, "cannot encrypt a secret of the setting: %s", e.ptr);
	buf_addch(b, '"');
	b64_encode(b, ct, n);
	buf_addch(b, '"');
	free(ct);
	buf_release(&e);
}

static int has_secrets(const struct conf_format *f)
{
	return (f->secret_key && *f->secret_key) || (f->session_token && *f->session_token) ||
	       (f->encrypt_key && *f->encrypt_key);
}

char *conf_format_to_json(const struct conf_format *f, int mask_secrets)
{
	struct buf b = BUF_INIT;
	json_t *extra = f->extra;
	/* Like Format.Encrypt: any secret present means the setting holds them sealed. */
	int enc = f->key_encrypted || has_secrets(f);
	int first = 1;
	const char *k;
	json_t *v;

	buf_addch(&b, '{');
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct field *fd = &fields[i];
		if (fd->kind == K_TIERS) {
			put_key(&b, fd->name, &first);
			v = json_object_get(extra, "Tiers");
			put_tiers(&b, json_is_object(v) ? v : NULL, f->storage_class);
			continue;
		}
		if (fd->off < 0) {
			v = json_object_get(extra, fd->name);
			if (!json_empty(v)) {
				put_key(&b, fd->name, &first);
				put_value(&b, v);
			}
			continue;
		}
		switch (fd->kind) {
		case K_STR:
		case K_SECRET: {
			const char *s = *FSTR(f, fd) ? *FSTR(f, fd) : "";
			if (fd->omitempty && !*s)
				break;
			put_key(&b, fd->name, &first);
			if (fd->kind == K_SECRET)
				put_secret(&b, f, s, mask_secrets, enc);
			else
				put_str(&b, s);
			break;
		}
		case K_INT:
			if (fd->omitempty && !*FINT(f, fd))
				break;
			put_key(&b, fd->name, &first);
			buf_addf(&b, "%d", *FINT(f, fd));
			break;
		case K_I64:
			if (fd->omitempty && !*FI64(f, fd))
				break;
			put_key(&b, fd->name, &first);
			buf_addf(&b, "%lld", (long long)*FI64(f, fd));
			break;
		case K_U64:
			if (fd->omitempty && !*FU64(f, fd))
				break;
			put_key(&b, fd->name, &first);
			buf_addf(&b, "%llu", (unsigned long long)*FU64(f, fd));
			break;
		case K_BOOL: {
			int on = fd->off == offsetof(struct conf_format, key_encrypted) ?
					 enc :
					 *FINT(f, fd);
			if (fd->omitempty && !on)
				break;
			put_key(&b, fd->name, &first);
			buf_adds(&b, on ? "true" : "false");
			break;
		}
		case K_TIERS:
			break;
		}
	}
	if (json_is_object(extra)) {
		json_object_foreach(extra, k, v) {
			if (!strcmp(k, "Tiers") || is_tail_field(k))
				continue;
			put_key(&b, k, &first);
			put_value(&b, v);
		}
	}
	buf_adds(&b, "\n}");
	return buf_detach(&b, NULL);
}

/* ---------------- reading ---------------- */

static const char *go_type(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	default: return "bool";
	}
}

static int type_error(struct buf *err, const char *field, json_t *v, const char *want)
{
	buf_addf(err, "json: cannot unmarshal %s into Go struct field Format.%s of type %s",
		 go_type(v), field, want);
	return -EINVAL;
}

/* Check a value against a field kind; null is always fine (Go leaves the zero). */
static int check_kind(const struct field *fd, json_t *v, struct buf *err)
{
	if (json_is_null(v))
		return 0;
	switch (fd->kind) {
	case K_STR:
	case K_SECRET:
		return json_is_string(v) ? 0 : type_error(err, fd->name, v, "string");
	case K_BOOL:
		return json_is_boolean(v) ? 0 : type_error(err, fd->name, v, "bool");
	case K_INT:
		if (!json_is_integer(v))
			return type_error(err, fd->name, v, "int");
		if (json_integer_value(v) > INT32_MAX || json_integer_value(v) < INT32_MIN) {
			buf_addf(err, "json: value of field Format.%s out of range", fd->name);
			return -EINVAL;
		}
		return 0;
	case K_I64:
		return json_is_integer(v) ? 0 : type_error(err, fd->name, v, "int64");
	case K_U64:
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return type_error(err, fd->name, v, "uint64");
		return 0;
	case K_TIERS:
		return json_is_object(v) ? 0 : type_error(err, fd->name, v, "map[int]*meta.Tier");
	}
	return 0;
}

/* Tiers must be {"<int>": {"ID": int, "StorageClass": str, "Tag": str} | null}. */
static int check_tiers(json_t *tiers, struct buf *err)
{
	const char *k, *tk;
	json_t *t, *tv;
	json_object_foreach(tiers, k, t) {
		int id;
		if (parse_int(k, &id)) {
			buf_addf(err, "json: cannot unmarshal Tiers key \"%s\" into int", k);
			return -EINVAL;
		}
		if (json_is_null(t))
			continue;
		if (!json_is_object(t))
			return type_error(err, "Tiers", t, "meta.Tier");
		json_object_foreach(t, tk, tv) {
			int want_int = !strcasecmp(tk, "ID");
			if (json_is_null(tv) || (!want_int && strcasecmp(tk, "StorageClass") &&
						 strcasecmp(tk, "Tag")))
				continue;
			if (want_int ? !json_is_integer(tv) : !json_is_string(tv))
				return type_error(err, "Tiers", tv, want_int ? "int" : "string");
		}
	}
	return 0;
}

/* A copy of Tiers with member names in their canonical spelling. */
static json_t *canon_tiers(json_t *tiers)
{
	static const char *const names[] = { "ID", "StorageClass", "Tag" };
	json_t *out = json_object(), *t, *tv;
	const char *k, *tk;
	json_object_foreach(tiers, k, t) {
		if (json_is_null(t)) {
			json_object_set_new(out, k, json_null());
			continue;
		}
		json_t *c = json_pack("{s:I,s:s,s:s}", "ID", (json_int_t)0, "StorageClass", "",
				      "Tag", "");
		json_object_foreach(t, tk, tv)
			for (size_t i = 0; i < ARRAY_SIZE(names); i++)
				if (!strcasecmp(tk, names[i]) && !json_is_null(tv))
					json_object_set(c, names[i], tv);
		json_object_set_new(out, k, c);
	}
	return out;
}

static int decrypt_field(const struct conf_format *f, const char *name, char **s, struct buf *err)
{
	uint8_t *raw = NULL, *pt = NULL;
	size_t rn = 0, pn = 0;
	struct buf e = BUF_INIT;
	int r = 0;

	if (!*s || !**s || !strcmp(*s, REMOVED))
		return 0;
	if (b64_decode(*s, &raw, &rn)) {
		buf_addf(err, "format decrypt %s: decode key: illegal base64 data", name);
		return -EINVAL;
	}
	r = secret_crypt(f->uuid, f->encrypt_algo, 0, raw, rn, &pt, &pn, &e);
	if (r) {
		buf_addf(err, "format decrypt %s: open cipher: %s", name, e.ptr);
	} else {
		free(*s);
		*s = xstrndup((char *)pt, pn);
	}
	free(raw);
	free(pt);
	buf_release(&e);
	return r;
}

/* Store one top-level member into f (known field) or extra (the rest). */
static int take_member(struct conf_format *f, json_t *extra, const struct field *fd,
		       const char *k, json_t *v, struct buf *err)
{
	int r;
	if (!fd)
		return json_object_set(extra, k, v) ? -ENOMEM : 0;
	if ((r = check_kind(fd, v, err)) || json_is_null(v))
		return r;
	if (fd->kind == K_TIERS) {
		if ((r = check_tiers(v, err)))
			return r;
		return json_object_set_new(extra, fd->name, canon_tiers(v)) ? -ENOMEM : 0;
	}
	if (fd->off < 0)
		return json_object_set(extra, fd->name, v) ? -ENOMEM : 0;
	switch (fd->kind) {
	case K_STR:
	case K_SECRET:
		free(*FSTR(f, fd));
		*FSTR(f, fd) = xstrdup(json_string_value(v));
		break;
	case K_INT:
		*FINT(f, fd) = (int)json_integer_value(v);
		break;
	case K_I64:
		*FI64(f, fd) = json_integer_value(v);
		break;
	case K_U64:
		*FU64(f, fd) = (uint64_t)json_integer_value(v);
		break;
	case K_BOOL:
		*FINT(f, fd) = json_is_true(v);
		break;
	case K_TIERS:
		break;
	}
	return 0;
}

int conf_format_from_json(const char *json, struct conf_format *f, struct buf *err)
{
	json_error_t je;
	json_t *root = NULL, *v, *extra = json_object();
	const char *k;
	int r = -EINVAL;

	memset(f, 0, sizeof(*f));
	if (!extra)
		jfs_die(__FILE__, __LINE__, "out of memory");
	root = json_loads(json ? json : "", 0, &je); /* duplicates: last wins, as in Go */
	if (!root) {
		buf_addf(err, "invalid volume setting: %s (line %d, column %d)", je.text, je.line,
			 je.column);
		goto out;
	}
	if (!json_is_object(root)) {
		buf_adds(err, "invalid volume setting: not a JSON object");
		goto out;
	}
	/*
	 * Pass 0 takes keys that match a field only without regard to case,
	 * pass 1 exact names and unknown keys, so "Name" beats "name" as in Go.
	 */
	for (int pass = 0; pass < 2; pass++) {
		json_object_foreach(root, k, v) {
			const struct field *fd = NULL;
			for (size_t i = 0; i < ARRAY_SIZE(fields) && !fd; i++)
				if (!strcasecmp(k, fields[i].name))
					fd = &fields[i];
			if (pass != (!fd || !strcmp(k, fd->name)))
				continue;
			if ((r = take_member(f, extra, fd, k, v, err)))
				goto out;
		}
	}
	fill_empty_strings(f);
	if (f->key_encrypted &&
	    ((r = decrypt_field(f, "SecretKey", &f->secret_key, err)) ||
	     (r = decrypt_field(f, "SessionToken", &f->session_token, err)) ||
	     (r = decrypt_field(f, "EncryptKey", &f->encrypt_key, err))))
		goto out;
	if (json_object_size(extra)) {
		f->extra = extra;
		extra = NULL;
	}
	r = 0;
out:
	if (r == -ENOMEM)
		buf_adds(err, "out of memory reading the volume setting");
	json_decref(root);
	json_decref(extra);
	if (r)
		conf_format_release(f);
	return r;
}
