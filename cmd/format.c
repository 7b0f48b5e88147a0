/*
 * `juicefs format META-URL NAME`: create a volume, or update the changeable
 * fields of an existing one (spec §2.2).
 *
 * Order of work, chosen so that a refused or failed format leaves the
 * metadata database without a setting (and removes a SQLite file it created):
 *  1. Validate everything that needs no I/O (name, block size, compression,
 *     trash days, shards, the cipher of an encryption key).
 *  2. Open the metadata engine (creating a missing SQLite file) and load the
 *     current setting, if any. An existing volume with another name is
 *     refused here, before any object is written. A new volume reads its
 *     --encrypt-rsa-key file here (an existing one ignores the flag).
 *  3. Open the object store with the "<Name>/" prefix; unless
 *     JFS_NO_CHECK_OBJECT_STORAGE is set, probe it (PUT/GET/DELETE under
 *     testing/), and for a new volume refuse a non-empty prefix and write
 *     <Name>/juicefs_uuid.
 *  4. meta_init writes the setting, counters and root (and trash) inodes in
 *     one transaction, or refuses changes to immutable fields.
 */
#include "cmd/cmd.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/meta.h"
#include "storage/obj.h"

#define MIN_BLOCK (64ULL << 10)
#define MAX_BLOCK (16ULL << 20)

static const struct conf_opt format_opts[] = {
	{ "force", 0, OPT_BOOL, "false", 0, "overwrite existing format", NULL },
	{ "no-update", 0, OPT_BOOL, "false", 0, "don't update existing volume", NULL },
	{ "storage", 0, OPT_STRING, "file", 0, "object storage type (file, mem, s3)", NULL },
	{ "bucket", 0, OPT_STRING, NULL, 0,
	  "the bucket URL of object storage to store data (default: \"/var/jfs\" for root, "
	  "\"$HOME/.juicefs/local\" otherwise)",
	  NULL },
	{ "access-key", 0, OPT_STRING, NULL, 0, "access key for object storage (env ACCESS_KEY)",
	  "ACCESS_KEY" },
	{ "secret-key", 0, OPT_STRING, NULL, 0, "secret key for object storage (env SECRET_KEY)",
	  "SECRET_KEY" },
	{ "session-token", 0, OPT_STRING, NULL, 0,
	  "session token for object storage (env SESSION_TOKEN)", "SESSION_TOKEN" },
	{ "block-size", 0, OPT_SIZE, "4M", 1024,
	  "size of block in KiB (rounded down to a power of two, 64K to 16M)", NULL },
	{ "compress", 0, OPT_STRING, "none", 0, "compression algorithm (lz4, zstd, none)", NULL },
	{ "compression", 0, OPT_STRING, NULL, 0, "alias of --compress", NULL },
	{ "encrypt-rsa-key", 0, OPT_STRING, NULL, 0,
	  "a path to RSA private key (PEM); its passphrase, if any, from env JFS_RSA_PASSPHRASE",
	  NULL },
	{ "encrypt-algo", 0, OPT_STRING, "aes256gcm-rsa", 0,
	  "encrypt algorithm (aes256gcm-rsa, chacha20-rsa)", NULL },
	{ "hash-prefix", 0, OPT_BOOL, "false", 0, "add a hash prefix to name of objects", NULL },
	{ "shards", 0, OPT_INT, "0", 0,
	  "store the blocks into N buckets by hash of key (the bucket holds a %d)", NULL },
	{ "capacity", 0, OPT_SIZE, "0", 1ULL << 30,
	  "hard quota of the volume limiting its usage of space in GiB", NULL },
	{ "inodes", 0, OPT_INT, "0", 0,
	  "hard quota of the volume limiting its number of inodes", NULL },
	{ "trash-days", 0, OPT_INT, "1", 0,
	  "number of days after which removed files will be permanently deleted", NULL },
	{ "enable-acl", 0, OPT_BOOL, "false", 0,
	  "enable POSIX ACL (this flag is irreversible once enabled)", NULL },
};

const struct conf_cmd cmd_format_conf = {
	.name = "format",
	.usage = "juicefs format [command options] META-URL NAME",
	.summary = "Format a volume",
	.description =
		"Create a new JuiceFS volume. Here META-URL is used to set up the metadata engine\n"
		"(SQLite in this build), and NAME is the prefix of all objects in data storage.\n"
		"\n"
		"DEPRECATED: It was also used to change configuration of an existing volume,\n"
		"but now this function is deprecated, instead please use the \"config\" command.\n"
		"\n"
		"Examples:\n"
		"# Create a simple test volume (data will be stored in a local directory)\n"
		"$ juicefs format sqlite3://myjfs.db myjfs\n"
		"\n"
		"# Create a volume with \"quota\" enabled\n"
		"$ juicefs format sqlite3://myjfs.db myjfs --inodes 1000000 --capacity 102400\n"
		"\n"
		"# Create a volume with \"trash\" disabled\n"
		"$ juicefs format sqlite3://myjfs.db myjfs --trash-days 0\n"
		"\n"
		"# Keep the metadata in PostgreSQL (Redis: redis://host:6379/1)\n"
		"$ juicefs format \"postgres://jfs:secret@127.0.0.1:5432/jfs?sslmode=disable\" myjfs\n"
		"\n"
		"# Keep the metadata in MySQL or MariaDB\n"
		"$ juicefs format \"mysql://jfs:secret@(127.0.0.1:3306)/jfs\" myjfs",
	.opts = format_opts,
	.nopts = ARRAY_SIZE(format_opts),
	.min_args = 2,
	.max_args = 2,
};

static const struct conf_val *opt(const struct conf_parsed *p, const char *name)
{
	return conf_get(&cmd_format_conf, p, name);
}

/* A string flag counts as given when on the command line or from its env variable. */
static int given(const struct conf_parsed *p, const char *name, const char *env)
{
	const struct conf_val *v = opt(p, name);
	const char *e = env ? getenv(env) : NULL;

	return v->set || (e && *e);
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v && *v ? xstrdup(v) : NULL;
}

/* JuiceFS rounds the block size down to a power of two within 64 KiB..16 MiB. */
static int block_size_kib(uint64_t bytes)
{
	char h[32];
	uint64_t s = 1;

	while (bytes && s <= bytes / 2)
		s <<= 1;
	if (!bytes || s < MIN_BLOCK) {
		cmd_fmt_ibytes(bytes, h, sizeof(h));
		log_warn("block size is too small: %s, use 64 KiB instead", h);
		s = MIN_BLOCK;
	} else if (s > MAX_BLOCK) {
		cmd_fmt_ibytes(bytes, h, sizeof(h));
		log_warn("block size is too large: %s, use 16 MiB instead", h);
		s = MAX_BLOCK;
	}
	return (int)(s >> 10);
}

static char *default_bucket(void)
{
	const char *home = getenv("HOME");

	if (geteuid() == 0 || !home || !*home)
		return xstrdup("/var/jfs");
	return xasprintf("%s/.juicefs/local", home);
}

/* A key file is small: refuse more than 1 MiB rather than store it in the setting. */
static int read_small_file(const char *path, struct buf *b)
{
	char tmp[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, tmp, sizeof(tmp))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (b->len + (size_t)n > (1U << 20)) {
			r = -EFBIG;
			break;
		}
		buf_add(b, tmp, (size_t)n);
	}
	close(fd);
	return r;
}

struct flags {
	const char *compress;
	char *encrypt_key; /* PEM text of --encrypt-rsa-key; owned */
	int block_kib;
	int shards;
	int trash_days;
	uint64_t inodes;
};

/* Checks needing no I/O; prints the error itself. */
static int check_flags(const struct conf_parsed *p, const char *name, struct flags *fl)
{
	const struct conf_val *c = opt(p, "compress"), *c2 = opt(p, "compression");
	int64_t v;

	if (!conf_valid_volume_name(name)) {
		cmd_fatal("invalid name: \"%s\", only alphabet, number and - are allowed, and the "
			  "length should be 3 to 63 characters.",
			  name);
		return -EINVAL;
	}
	fl->compress = c->str ? c->str : "none";
	if (c2->set) {
		if (c->set && strcasecmp(c->str, c2->str)) {
			cmd_fatal("--compress %s and --compression %s disagree", c->str, c2->str);
			return -EINVAL;
		}
		fl->compress = c2->str;
	}
	if (strcasecmp(fl->compress, "none") && strcasecmp(fl->compress, "lz4") &&
	    strcasecmp(fl->compress, "zstd")) {
		cmd_fatal("Unsupported compress algorithm: \"%s\"", fl->compress);
		return -EINVAL;
	}
	fl->block_kib = block_size_kib(opt(p, "block-size")->u);
	/* Like JuiceFS, the algo matters (and is checked) only with a key. */
	const char *algo = opt(p, "encrypt-algo")->str, *kp = opt(p, "encrypt-rsa-key")->str;
	if (kp && *kp &&
	    (!algo || (strcasecmp(algo, "aes256gcm-rsa") && strcasecmp(algo, "chacha20-rsa")))) {
		cmd_fatal("unsupport cipher: %s (aes256gcm-rsa or chacha20-rsa)",
			  algo ? algo : "");
		return -EINVAL;
	}
	v = opt(p, "trash-days")->i;
	if (v < 0 || v > INT32_MAX) {
		cmd_fatal("Invalid trash days: %lld", (long long)v);
		return -EINVAL;
	}
	fl->trash_days = (int)v;
	v = opt(p, "shards")->i;
	if (v < 0 || v > 256) {
		cmd_fatal("Invalid shards: %lld (0 to 256)", (long long)v);
		return -EINVAL;
	}
	if (v > 1 && !strstr(opt(p, "bucket")->str ? opt(p, "bucket")->str : "", "%d")) {
		/* JuiceFS's words; refused before the metadata engine is touched */
		cmd_fatal("object storage: can not generate different endpoint using %s",
			  opt(p, "bucket")->str ? opt(p, "bucket")->str : "");
		return -EINVAL;
	}
	fl->shards = (int)v;
	v = opt(p, "inodes")->i;
	if (v < 0) {
		cmd_fatal("Invalid inodes: %lld", (long long)v);
		return -EINVAL;
	}
	fl->inodes = (uint64_t)v;
	/* Settings are JSON numbers that every reader must take as int64 too. */
	if (opt(p, "capacity")->u > INT64_MAX) {
		cmd_fatal("Invalid capacity: %llu bytes is too large",
			  (unsigned long long)opt(p, "capacity")->u);
		return -EINVAL;
	}
	/* An unknown --storage is refused before the metadata engine is touched. */
	if (opt(p, "storage")->set) {
		struct obj_store *probe = NULL;
		struct buf err = BUF_INIT;
		const char *b = opt(p, "bucket")->str;
		/* A given bucket is checked too (an s3 URL is parsed here); "/" suits the rest. */
		int r = obj_create(opt(p, "storage")->str, b && *b ? b : "/", NULL, NULL, NULL,
				   &probe, &err);

		if (r)
			cmd_fatal("object storage: %s", err.len ? err.ptr : strerror(-r));
		obj_free(probe);
		buf_release(&err);
		if (r)
			return r;
	}
	return 0;
}

static void lower(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * Apply the flags to f: all of them for a new volume, only the given ones for
 * an existing volume (whose immutable fields meta_init then guards).
 */
static void apply_flags(const struct conf_parsed *p, const struct flags *fl, int fresh,
			struct conf_format *f)
{
	if (fresh || opt(p, "storage")->set)
		set_str(&f->storage, opt(p, "storage")->str);
	if (fresh || opt(p, "bucket")->set) {
		const char *b = opt(p, "bucket")->str;
		char *def = b && *b ? NULL : default_bucket();

		free(f->bucket);
		f->bucket = cmd_normalize_bucket(f->storage, def ? def : b);
		free(def);
	}
	if (fresh || given(p, "access-key", "ACCESS_KEY"))
		set_str(&f->access_key, opt(p, "access-key")->str);
	if (fresh || given(p, "secret-key", "SECRET_KEY"))
		set_str(&f->secret_key, opt(p, "secret-key")->str);
	if (fresh || given(p, "session-token", "SESSION_TOKEN"))
		set_str(&f->session_token, opt(p, "session-token")->str);
	if (fresh || opt(p, "block-size")->set)
		f->block_size = fl->block_kib;
	if (fresh || opt(p, "compress")->set || opt(p, "compression")->set) {
		set_str(&f->compression, fl->compress);
		lower(f->compression);
	}
	if (fresh) {
		set_str(&f->encrypt_key, fl->encrypt_key);
		set_str(&f->encrypt_algo, opt(p, "encrypt-algo")->str);
		lower(f->encrypt_algo);
	} else {
		/* The key seals every object already written: it cannot change. */
		if (opt(p, "encrypt-rsa-key")->set)
			log_warn("Flag \"encrypt-rsa-key\" is ignored since it cannot be updated");
		if (opt(p, "encrypt-algo")->set)
			log_warn("Flag \"encrypt-algo\" is ignored since it cannot be updated");
	}
	if (fresh || opt(p, "shards")->set)
		f->shards = fl->shards;
	if (fresh || opt(p, "hash-prefix")->set)
		f->hash_prefix = opt(p, "hash-prefix")->i != 0;
	if (fresh || opt(p, "capacity")->set)
		f->capacity = opt(p, "capacity")->u;
	if (fresh || opt(p, "inodes")->set)
		f->inodes = fl->inodes;
	if (fresh || opt(p, "trash-days")->set)
		f->trash_days = fl->trash_days;
	/* Like JuiceFS, only a new volume takes it here (`config --enable-acl` later). */
	if (fresh && opt(p, "enable-acl")->i) {
		f->enable_acl = 1;
		set_str(&f->min_client_version, "1.2.0-A");
	}
	/* Secrets are stored encrypted whenever there is one (spec §2.1). */
	if ((f->secret_key && *f->secret_key) || (f->session_token && *f->session_token) ||
	    (f->encrypt_key && *f->encrypt_key))
		f->key_encrypted = 1;
}

struct nonempty {
	char *key;
};

/* JuiceFS ignores empty objects (directory markers) and its own probe objects. */
static int nonempty_cb(void *arg, const struct obj_info *oi)
{
	struct nonempty *ne = arg;

	if (oi->size == 0 || !strcmp(oi->key, "testing") || !strncmp(oi->key, "testing/", 8))
		return 0;
	ne->key = xstrdup(oi->key);
	return 1;
}

/* Step 3 of the file comment; prints the error itself. *wrote_uuid tells what to undo. */
static int prepare_storage(struct obj_store *s, const struct conf_format *f, int fresh,
			   int *wrote_uuid)
{
	struct nonempty ne = { NULL };
	int r;

	*wrote_uuid = 0;
	if (getenv("JFS_NO_CHECK_OBJECT_STORAGE")) {
		r = obj_create_bucket(s);
		if (r && r != -EEXIST)
			log_warn("Create bucket %s: %s", obj_describe(s), strerror(-r));
		r = 0;
		goto out;
	}
	r = cmd_probe_storage(s);
	if (r)
		goto out;
	if (!fresh)
		goto out;
	r = obj_list(s, "", NULL, 0, nonempty_cb, &ne);
	if (r < 0) {
		cmd_fatal("List storage %s: %s", obj_describe(s), strerror(-r));
		goto out;
	}
	if (ne.key) {
		cmd_fatal("Storage %s is not empty; please clean it up or pick another volume name",
			  obj_describe(s));
		r = -EEXIST;
		goto out;
	}
	r = obj_put(s, "juicefs_uuid", f->uuid, strlen(f->uuid));
	if (r) {
		cmd_fatal("Put uuid object to %s: %s", obj_describe(s), strerror(-r));
		goto out;
	}
	*wrote_uuid = 1;
out:
	free(ne.key);
	return r;
}

/*
 * A failed format must not leave a database behind that it created itself.
 * Only SQLite creates a file on open; remember its path when it does not
 * exist yet, so the file (and its journal companions) can go again.
 */
static char *new_sqlite_file(const char *url)
{
	struct conf_meta_url u;
	struct buf err = BUF_INIT;
	struct stat st;
	char *path = NULL;

	if (!conf_parse_meta_url(url, &u, &err)) {
		if (!strcmp(u.scheme, "sqlite3") && u.path && *u.path && stat(u.path, &st) &&
		    errno == ENOENT)
			path = xstrdup(u.path);
		conf_meta_url_release(&u);
	}
	buf_release(&err);
	return path;
}

static void remove_db_files(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		char *f = xasprintf("%s%s", path, suffixes[i]);

		if (unlink(f) && errno != ENOENT)
			log_debug("remove %s: %s", f, strerror(errno));
		free(f);
	}
}

int cmd_format(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta *m = NULL;
	struct obj_store *s = NULL;
	struct buf err = BUF_INIT;
	struct flags fl = { 0 };
	const char *url, *name;
	struct cmd_logcap cap;
	char *pretty = NULL, *new_db = NULL;
	int ret = 1, r, fresh = 0, wrote_uuid = 0, force;

	r = cmd_parse(&cmd_format_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	name = p.args[1];
	force = opt(&p, "force")->i != 0;
	if (check_flags(&p, name, &fl))
		goto out;

	new_db = new_sqlite_file(url);
	if (cmd_open_meta(url, 1, &m))
		goto out;
	cmd_logcap_begin(&cap);
	r = meta_load_format(m, &f);
	cmd_logcap_end(&cap, r && r != -ENOENT);
	if (r && r != -ENOENT) {
		cmd_load_error(url, r);
		goto out;
	}
	fresh = r == -ENOENT;
	if (!fresh) {
		if (opt(&p, "no-update")->i) {
			log_info("Volume %s already exists in %s, not updating it (--no-update)",
				 f.name, url);
			ret = 0;
			goto out;
		}
		if (strcmp(f.name, name) && !force) {
			cmd_fatal("format: cannot update volume name from %s to %s (use \"juicefs "
				  "config\" to change a volume)",
				  f.name, name);
			goto out;
		}
		set_str(&f.name, name);
	} else {
		char uuid[37];

		conf_format_release(&f);
		memset(&f, 0, sizeof(f));
		conf_format_defaults(&f);
		set_str(&f.name, name);
		uuid4(uuid);
		set_str(&f.uuid, uuid);
	}
	if (fresh && opt(&p, "encrypt-rsa-key")->str && *opt(&p, "encrypt-rsa-key")->str) {
		const char *kp = opt(&p, "encrypt-rsa-key")->str;
		struct buf pem = BUF_INIT;
		/* JuiceFS keeps the PEM file's text as it is, sealed or not. */
		r = read_small_file(kp, &pem);
		if (r) {
			cmd_fatal("load RSA key from \"%s\": %s", kp, strerror(-r));
			buf_release(&pem);
			goto out;
		}
		fl.encrypt_key = buf_detach(&pem, NULL);
	}
	apply_flags(&p, &fl, fresh, &f);

	if (cmd_open_storage(&f, &s))
		goto out;
	if (prepare_storage(s, &f, fresh, &wrote_uuid))
		goto out;

	cmd_logcap_begin(&cap);
	r = meta_init(m, &f, force, &err);
	cmd_logcap_end(&cap, r != 0);
	if (r) {
		cmd_fatal("format: %s", err.len ? err.ptr : strerror(-r));
		/*
		 * A new volume that did not make it must not block the next attempt;
		 * but if the setting may be stored, its UUID object must stay with it
		 * (a new SQLite file is removed below whatever happened).
		 */
		if (wrote_uuid && (meta_not_applied(r) || new_db))
			obj_delete(s, "juicefs_uuid");
		goto out;
	}
	log_info("Data use %s", obj_describe(s));
	pretty = cmd_format_pretty(&f);
	log_info("Volume is formatted as %s", pretty);
	ret = 0;
out:
	free(pretty);
	buf_release(&err);
	obj_free(s);
	meta_close(m);
	if (ret && new_db) /* whatever failed, the file holds nothing of value */
		remove_db_files(new_db);
	free(new_db);
	free(fl.encrypt_key);
	conf_format_release(&f);
	conf_parsed_release(&p);
	return ret;
}
