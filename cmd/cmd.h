/*
 * cmd: the `juicefs` command line.
 *
 * main.c parses the global flags, picks a subcommand and hands it argv with
 * argv[0] = the command name and the global flags already removed. Each
 * subcommand lives in its own file, owns one conf_cmd table (which both parses
 * its argv and prints its --help) and returns the process exit status.
 *
 * Conventions shared by every command:
 *  - Every failure is one FATAL log line on stderr (cmd_fatal) and exit
 *    status 1; nothing else is written to stderr on the failure path except
 *    WARNING lines about adjusted values.
 *  - Results meant for people or scripts (JSON, change lists) go to stdout.
 *  - Secrets never reach the terminal: settings are printed masked.
 */
#ifndef JFS_CMD_H
#define JFS_CMD_H

#include "base/base.h"
#include "conf/conf.h"

struct meta;
struct obj_store;

typedef int (*cmd_fn)(int argc, char **argv);

struct cmd_def {
	const char *name;
	const char *category; /* "ADMIN", "INSPECTOR", ... as in `juicefs --help` */
	const struct conf_cmd *conf;
	cmd_fn run;
};

extern const struct conf_cmd cmd_format_conf;
extern const struct conf_cmd cmd_status_conf;
extern const struct conf_cmd cmd_config_conf;
extern const struct conf_cmd cmd_destroy_conf;
int cmd_format(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
extern const struct conf_cmd cmd_mount_conf;
extern const struct conf_cmd cmd_umount_conf;
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
extern const struct conf_cmd cmd_rmr_conf;
extern const struct conf_cmd cmd_warmup_conf;
int cmd_rmr(int argc, char **argv);
int cmd_warmup(int argc, char **argv);
/*
 * Control protocol of a mount (spec §12): send message cmd with payload
 * through DIR/.jfs.control and wait for the final status. progress (may be
 * NULL) gets the last progress frame, data (may be NULL) the data frame's
 * bytes when the answer is one. Returns 0 or -errno; -ENOTSUP when DIR is
 * not inside a mount that has the control file.
 */
int cmd_control_call(const char *dir, uint32_t cmd, const void *payload, size_t len,
		     uint64_t progress[2], struct buf *data);
extern const struct conf_cmd cmd_info_conf;
int cmd_info(int argc, char **argv);
/*
 * A table as JuiceFS's printResult draws it (rows[0] is the header, centred;
 * cells right aligned except column left, (size_t)-1 for none). In info.c.
 */
void cmd_print_table(char ***rows, size_t nrows, size_t ncols, size_t left);
extern const struct conf_cmd cmd_summary_conf;
int cmd_summary(int argc, char **argv);
extern const struct conf_cmd cmd_profile_conf;
int cmd_profile(int argc, char **argv);
extern const struct conf_cmd cmd_stats_conf;
int cmd_stats(int argc, char **argv);
extern const struct conf_cmd cmd_gc_conf;
extern const struct conf_cmd cmd_fsck_conf;
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
extern const struct conf_cmd cmd_gateway_conf;
int cmd_gateway(int argc, char **argv);
extern const struct conf_cmd cmd_webdav_conf;
int cmd_webdav(int argc, char **argv);
extern const struct conf_cmd cmd_dump_conf;
extern const struct conf_cmd cmd_load_conf;
int cmd_dump(int argc, char **argv);
int cmd_load(int argc, char **argv);
extern const struct conf_cmd cmd_quota_conf;
int cmd_quota(int argc, char **argv);
extern const struct conf_cmd cmd_gwadmin_conf;
int cmd_gwadmin(int argc, char **argv);
extern const struct conf_cmd cmd_restore_conf;
int cmd_restore(int argc, char **argv);

/* ---- helpers in gc.c, shared with fsck.c ---- */

/* One data object under "chunks/" (key relative to the volume prefix). */
struct cmd_block {
	char *key;
	uint64_t size;
	int64_t mtime_us;
	uint64_t id;
	uint32_t indx, bsize;
	/*
	 * JuiceFS's gc and fsck look only at keys chunks/<a>/<b>/<name>
	 * (shaped); gc judges those whose name has three '_'-parts (named),
	 * parts that are not numbers reading as 0 (id, indx, bsize).
	 */
	int shaped, named;
};
/* Every object under chunks/, in key order; *out malloc'ed (cmd_free_blocks). */
int cmd_list_blocks(struct obj_store *s, struct cmd_block **out, size_t *n);
void cmd_free_blocks(struct cmd_block *v, size_t n);

/* ---- helpers in main.c ---- */

/*
 * Lower layers log why a call failed and also return it; the command then
 * reports it once. Between begin and end their log lines are held back, and
 * shown only when the call succeeded (warnings worth keeping). With -v
 * nothing is held back. Not reentrant; only for single-threaded stretches.
 */
struct cmd_logcap {
	FILE *f;
	char *ptr;
	size_t len;
};
void cmd_logcap_begin(struct cmd_logcap *c);
void cmd_logcap_end(struct cmd_logcap *c, int failed);

/* One FATAL line (newlines in the message are flattened to spaces). */
void cmd_fatal_at(const char *fn, const char *file, int line, const char *fmt, ...)
	JFS_PRINTF(4, 5);
#define cmd_fatal(...) cmd_fatal_at(__func__, __FILE__, __LINE__, __VA_ARGS__)

/*
 * Parse argv with the command's table. Returns 1 when --help was printed (the
 * caller exits 0), 0 on success, -EINVAL after printing the one-line error.
 */
int cmd_parse(const struct conf_cmd *cmd, int argc, char **argv, struct conf_parsed *p);

/*
 * Options every volume-serving command takes (gateway, webdav, mount), read by
 * cmd_client_conf. The table entries are spliced into each command's table.
 */
#define CMD_CLIENT_OPTS                                                                      \
	{ "read-only", 0, OPT_BOOL, "false", 0, "allow lookup/read operations only", NULL },  \
	{ "no-bgjob", 0, OPT_BOOL, "false", 0,                                             \
	  "disable background jobs (clean-up, backup, etc.)", NULL },                      \
	{ "heartbeat", 0, OPT_DURATION, "12s", 0,                                          \
	  "interval to send heartbeat; it's recommended that all clients use the same "     \
	  "heartbeat value",                                                               \
	  NULL },                                                                          \
	{ "storage", 0, OPT_STRING, NULL, 0,                                               \
	  "customized storage type (e.g. file) to access object store", NULL },            \
	{ "bucket", 0, OPT_STRING, NULL, 0, "customized endpoint to access object store",  \
	  NULL },                                                                          \
	{ "io-retries", 0, OPT_INT, "10", 0, "number of retries after network failure",    \
	  NULL },                                                                          \
	{ "max-uploads", 0, OPT_INT, "20", 0, "number of connections to upload", NULL },   \
	{ "max-downloads", 0, OPT_INT, "200", 0, "number of connections to download",      \
	  NULL },                                                                          \
	{ "buffer-size", 0, OPT_SIZE, "300M", 1ULL << 20,                                  \
	  "total read/write buffering in MiB", NULL },                                     \
	{ "prefetch", 0, OPT_INT, "1", 0, "prefetch N blocks in parallel", NULL },         \
	{ "writeback", 0, OPT_BOOL, "false", 0,                                            \
	  "upload blocks in background: they are written durably to the cache dir's "      \
	  "rawstaging/ first, and uploaded by the next start after a crash",                \
	  NULL },                                                                          \
	{ "upload-delay", 0, OPT_DURATION, "0s", 0,                                        \
	  "delayed duration for uploading blocks (with --writeback)", NULL },              \
	{ "cache-dir", 0, OPT_STRING, NULL, 0,                                             \
	  "directory paths of local cache, use colon to separate multiple paths "          \
	  "(default: \"/var/jfsCache\" for root, \"$HOME/.juicefs/cache\" otherwise; "     \
	  "\"none\" = off)",                                                               \
	  NULL },                                                                          \
	{ "cache-size", 0, OPT_SIZE, "100G", 1ULL << 20,                                   \
	  "size of cached object for read in MiB", NULL },                                 \
	{ "free-space-ratio", 0, OPT_STRING, "0.1", 0, "min free space (ratio)", NULL },   \
	{ "no-usage-report", 0, OPT_BOOL, "false", 0,                                      \
	  "accepted for compatibility; this build never reports usage", NULL },            \
	{ "metrics", 0, OPT_STRING, "127.0.0.1:9567", 0,                                   \
	  "address to export metrics", NULL },                                             \
	{ "backup-meta", 0, OPT_DURATION, "1h", 0,                                         \
	  "interval to automatically backup metadata in the object storage (0 means "      \
	  "disable backup)",                                                               \
	  NULL },                                                                          \
	{ "backup-skip-trash", 0, OPT_BOOL, "false", 0,                                    \
	  "skip files in trash when backup metadata", NULL }

struct fs_conf;
struct fs;
/*
 * --metrics (JuiceFS's exposeMetrics): labels every metric with the volume
 * name and mp, keeps the volume's usage gauges, and serves /metrics on the
 * address; the default address falls back to a free port when taken, a
 * given one does not. A failure is logged and the command goes on, as in
 * JuiceFS. Returns the address bound (caller frees), NULL when none.
 * cmd_metrics_stop before fs_close.
 */
char *cmd_metrics_start(const struct conf_val *addr, struct fs *fs, const char *mp);
void cmd_metrics_stop(struct fs *fs);
/* Fill fc from CMD_CLIENT_OPTS; -1 after a one-line cmd_fatal on a bad value. */
int cmd_client_conf(const struct conf_cmd *cmd, const struct conf_parsed *p,
		    const char *mount_point, struct fs_conf *fc);

/*
 * The automatic metadata backup (cmd/backup.c): --backup-meta and
 * --backup-skip-trash of CMD_CLIENT_OPTS. cmd_backup_conf refuses an
 * interval under 5 minutes (one-line error, -1) unless the environment has
 * SKIP_BACKUP_META_CHECK=true, as the real client. cmd_backup_start starts the
 * elected job on an open volume (nothing for 0, --no-bgjob or read-only);
 * b must live until fs_close.
 */
struct cmd_backup {
	int64_t interval_ms;
	int skip_trash;
};
struct fs;
int cmd_backup_conf(const struct conf_cmd *cmd, const struct conf_parsed *p,
		    struct cmd_backup *b);
int cmd_backup_start(struct fs *fs, const struct cmd_backup *b);
/*
 * JuiceFS's retention of meta/ names at now (Unix s): sorts names and sets
 * del[i] for each to remove.
 */
void cmd_backup_rotate(char **names, size_t n, int64_t now, int *del);

/*
 * Open the metadata engine (no session, no background jobs); prints the
 * one-line error itself. `create` lets the engine create a missing database
 * (format only), through meta_conf.create.
 */
int cmd_open_meta(const char *url, int create, struct meta **out);
/*
 * Load the setting; prints the one-line error itself (including "database is
 * not formatted" for a database without a volume).
 */
int cmd_load_format(struct meta *m, const char *url, struct conf_format *f);
/* The one-line error cmd_load_format prints for meta_load_format's r. */
void cmd_load_error(const char *url, int r);

/*
 * Object store of a volume: back end + "<Name>/" prefix. Prints the one-line
 * error itself.
 */
int cmd_open_storage(const struct conf_format *f, struct obj_store **out);
/* PUT/GET/DELETE a probe object under testing/ (spec §2.2); err gets why. */
int cmd_test_storage(struct obj_store *s, struct buf *err);
/* Create the bucket and run cmd_test_storage; prints the one-line error itself. */
int cmd_probe_storage(struct obj_store *s);

/*
 * Normalise a bucket for the "file" storage as JuiceFS stores it: absolute,
 * cleaned, with a trailing '/'. Other storages are returned unchanged.
 * Caller frees.
 */
char *cmd_normalize_bucket(const char *storage, const char *bucket);

/*
 * Ask "Proceed anyway? [y/N]" on the terminal. Returns 1 to proceed (always
 * when yes), 0 when the user declined, -ENOTTY when stdin is not a terminal.
 */
int cmd_confirm(int yes);

/* Pretty JSON (2-space indent, keys in order) of the masked setting. Caller frees. */
char *cmd_format_pretty(const struct conf_format *f);

/* "0 B", "512 B", "1.5 GiB", "10 GiB" (binary units, one decimal below 10). */
void cmd_fmt_ibytes(uint64_t v, char *out, size_t n);
/* "1,234,567" */
void cmd_fmt_comma(uint64_t v, char *out, size_t n);
/* Go time.RFC3339 of a Unix time in the local zone: 2026-11-25T16:23:19Z / +09:00. */
void cmd_fmt_rfc3339(int64_t unix_s, char *out, size_t n);

#endif
