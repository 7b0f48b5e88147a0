/*
 * conf: what a volume and a command line are made of.
 *
 *  - Meta URLs (spec §13.1): parsed into struct conf_meta_url; no I/O.
 *  - The volume setting, JuiceFS's "Format" JSON (spec §2), with field order
 *    and omitempty rules as JuiceFS writes them, and unknown fields kept so a
 *    newer client's settings survive a round trip through us.
 *  - Secret encryption inside the setting (spec §2.1, AES-GCM keyed by MD5(UUID)).
 *  - Option tables: one table per command both parses argv and prints --help.
 * Everything here is pure computation and thread-safe on distinct objects.
 */
#ifndef JFS_CONF_H
#define JFS_CONF_H

#include "base/base.h"

/* ---------------- meta URLs ---------------- */
struct conf_kv {
	char *key, *val;
};

struct conf_meta_url {
	char *raw;       /* as given */
	char *scheme;    /* "sqlite3", "redis", "rediss", "unix", "mem" ... */
	char *path;      /* sqlite3: file path (may be relative); unix: socket path */
	char *user, *password; /* redis */
	char *hosts;     /* redis: "h1:p1,h2:p2" or "master,s1,s2:26379" */
	char *db;        /* redis db number text, "" if absent */
	struct conf_kv *query;
	size_t nquery;
};
/* -EINVAL with a one-line message in err for malformed or unknown schemes. */
int conf_parse_meta_url(const char *url, struct conf_meta_url *out, struct buf *err);
const char *conf_url_query(const struct conf_meta_url *u, const char *key);
void conf_meta_url_release(struct conf_meta_url *u);
/* URL with the password replaced by "****", for logs and status. Caller frees. */
char *conf_redact_url(const char *url);

/* ---------------- volume setting (spec §2) ---------------- */
#define CONF_MAX_META_VERSION 1

struct conf_format {
	char *name;
	char *uuid;
	char *storage;
	char *storage_class;
	char *bucket;
	char *access_key;
	char *secret_key;    /* plain text in memory; encrypted in JSON when key_encrypted */
	char *session_token;
	int block_size;      /* KiB */
	char *compression;   /* "none", "lz4", "zstd" */
	int shards;
	int hash_prefix;
	uint64_t capacity;   /* bytes */
	uint64_t inodes;
	char *encrypt_key;
	char *encrypt_algo;
	int key_encrypted;
	int64_t upload_limit, download_limit;
	int trash_days;
	int meta_version;
	char *min_client_version, *max_client_version;
	int dir_stats;
	int user_group_quota;
	int enable_acl;
	void *extra;         /* json_t object of fields we do not model (Tiers, ...); owned */
};

/* Defaults of `juicefs format` (storage file, 4 MiB blocks, trash 1 day, ...). */
void conf_format_defaults(struct conf_format *f);
void conf_format_release(struct conf_format *f);
void conf_format_copy(struct conf_format *dst, const struct conf_format *src);
/*
 * JSON as JuiceFS writes it (MarshalIndent with no indent: one field per line).
 * mask_secrets: replace secrets with "removed" (status, dump).
 * Secrets are encrypted when f->key_encrypted is set.
 */
char *conf_format_to_json(const struct conf_format *f, int mask_secrets);
/* -EINVAL + err on bad JSON; decrypts secrets when KeyEncrypted. */
int conf_format_from_json(const char *json, struct conf_format *f, struct buf *err);
/* ^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$ */
int conf_valid_volume_name(const char *name);

/* ---------------- option tables ---------------- */
enum conf_opt_type {
	OPT_BOOL,     /* --flag, --flag=true|false */
	OPT_STRING,
	OPT_INT,
	OPT_SIZE,     /* K/M/G/T suffixes; bare number times `unit` */
	OPT_DURATION, /* Go-style, stored as milliseconds */
	OPT_OCTAL,    /* e.g. --umask 022 */
};

struct conf_opt {
	const char *name;   /* long name without "--" */
	char short_name;    /* 0 if none */
	enum conf_opt_type type;
	const char *def;    /* default as text (shown in --help and applied first) */
	uint64_t unit;      /* OPT_SIZE: multiplier for a bare number */
	const char *help;
	const char *env;    /* optional environment variable that supplies the default */
};

/* Parsed values, indexed like the table. */
struct conf_val {
	int set;      /* given on the command line */
	char *str;    /* OPT_STRING (NULL when unset and no default) */
	int64_t i;    /* BOOL, INT, DURATION(ms), OCTAL */
	uint64_t u;   /* SIZE */
};

struct conf_cmd {
	const char *name;
	const char *usage;       /* e.g. "juicefs format [options] META-URL NAME" */
	const char *summary;     /* one line */
	const char *description; /* paragraph(s) for --help, may be NULL */
	const struct conf_opt *opts;
	size_t nopts;
	int min_args, max_args;  /* positional arguments; max -1 = unlimited */
};

struct conf_parsed {
	struct conf_val *vals;
	char **args;
	int nargs;
	int help; /* --help/-h was given */
};

/*
 * Parse argv (argv[0] is the command name). Options may appear anywhere; "--"
 * ends them. Unknown flags, missing values and bad values give -EINVAL with a
 * one-line message in err.
 */
int conf_parse_args(const struct conf_cmd *cmd, int argc, char **argv, struct conf_parsed *out,
		    struct buf *err);
void conf_parsed_release(struct conf_parsed *p);
void conf_print_help(const struct conf_cmd *cmd, FILE *f);
/* Lookup by long name; aborts if the name is not in the table (a programming error). */
const struct conf_val *conf_get(const struct conf_cmd *cmd, const struct conf_parsed *p,
				const char *name);

#endif
