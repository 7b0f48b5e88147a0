/*
 * `juicefs dump META-URL [FILE]` and `juicefs load META-URL [FILE]`: the
 * command-line edge of meta_dump/meta_load (meta/dump.c).
 *
 * FILE omitted or "-" is stdout/stdin; a name ending in ".gz" is gzip in
 * both directions (level 1 when writing, as the real client). A dump is
 * written to FILE.tmp and renamed over FILE only when complete, so a failed
 * dump never leaves a truncated file under the real name. Progress goes to
 * stderr only when stderr is a terminal.
 */
#include "cmd/cmd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "meta/meta.h"

static const struct conf_opt dump_opts[] = {
	{ "subdir", 0, OPT_STRING, NULL, 0, "only dump a sub-directory", NULL },
	{ "keep-secret-key", 0, OPT_BOOL, "false", 0,
	  "keep secret keys intact (WARNING: Be careful as they may be leaked)", NULL },
	{ "threads", 0, OPT_INT, "10", 0,
	  "number of threads to dump metadata",
	  NULL },
	{ "fast", 0, OPT_BOOL, "false", 0,
	  "speedup dump by load all metadata into memory (accepted; this build always "
	  "streams, in bounded memory)",
	  NULL },
	{ "skip-trash", 0, OPT_BOOL, "false", 0, "skip files in trash", NULL },
	{ "binary", 0, OPT_BOOL, "false", 0,
	  "dump metadata into a binary file (not supported by this build)", NULL },
};

const struct conf_cmd cmd_dump_conf = {
	.name = "dump",
	.usage = "juicefs dump [command options] META-URL [FILE]",
	.summary = "Dump metadata into a file",
	.description = "Dump metadata of a volume into a JSON file (JuiceFS 1.x format), or to\n"
		       "STDOUT when FILE is omitted or \"-\". A FILE ending in \".gz\" is gzipped.\n"
		       "The secret key and session token are replaced by \"removed\" unless\n"
		       "--keep-secret-key.\n"
		       "\n"
		       "Examples:\n"
		       "$ juicefs dump redis://localhost meta-dump.json\n"
		       "$ juicefs dump redis://localhost meta-dump.json.gz\n"
		       "$ juicefs dump redis://localhost sub-meta-dump.json --subdir /dir/in/jfs",
	.opts = dump_opts,
	.nopts = ARRAY_SIZE(dump_opts),
	.min_args = 1,
	.max_args = 2,
};

static const struct conf_opt load_opts[] = {
	{ "encrypt-rsa-key", 0, OPT_STRING, NULL, 0,
	  "a path to RSA private key (PEM) (not supported by this build)", NULL },
	{ "encrypt-algo", 0, OPT_STRING, "aes256gcm-rsa", 0,
	  "encrypt algorithm (aes256gcm-rsa, chacha20-rsa)", NULL },
	{ "binary", 0, OPT_BOOL, "false", 0,
	  "load metadata from a binary file (not supported by this build)", NULL },
	{ "stat", 0, OPT_BOOL, "false", 0,
	  "show statistics of the metadata binary file (not supported by this build)", NULL },
	{ "offset", 0, OPT_INT, "0", 0,
	  "offset of binary backup's segment (works with --stat and --binary)", NULL },
	{ "threads", 0, OPT_INT, "10", 0,
	  "number of threads to load binary metadata, only works with --binary", NULL },
};

const struct conf_cmd cmd_load_conf = {
	.name = "load",
	.usage = "juicefs load [command options] META-URL [FILE]",
	.summary = "Load metadata from a previously dumped file",
	.description =
		"Load metadata into an empty metadata engine, from FILE or from STDIN when\n"
		"FILE is omitted or \"-\". A FILE ending in \".gz\" is gunzipped. A database\n"
		"that holds anything is refused; a dump that is malformed or truncated is\n"
		"refused with its position, and the database is left empty.\n"
		"\n"
		"WARNING: Do NOT use new engine and the old one at the same time, otherwise it\n"
		"will probably break consistency of the volume.\n"
		"\n"
		"Examples:\n"
		"$ juicefs load redis://localhost/1 meta-dump.json.gz",
	.opts = load_opts,
	.nopts = ARRAY_SIZE(load_opts),
	.min_args = 1,
	.max_args = 2,
};

struct stream {
	int fd;
	gzFile gz;
	const char *name;
	char gzerr[128]; /* why the decompressor failed, for the one-line error */
};

static ssize_t write_cb(void *arg, const void *p, size_t n)
{
	struct stream *s = arg;

	if (s->gz) {
		int w = gzwrite(s->gz, p, (unsigned)n);
		return w > 0 ? (ssize_t)w : -EIO;
	}
	for (;;) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		return w < 0 ? -errno : w;
	}
}

static ssize_t read_cb(void *arg, void *p, size_t n)
{
	struct stream *s = arg;

	if (s->gz) {
		int r = gzread(s->gz, p, (unsigned)n), e;
		const char *msg = gzerror(s->gz, &e);

		/* a truncated stream ends with Z_BUF_ERROR rather than a negative count */
		if (r < 0 || (r == 0 && e != Z_OK)) {
			if (!strncmp(msg, "<fd:", 4) && strstr(msg, ": "))
				msg = strstr(msg, ": ") + 2; /* zlib names the descriptor */
			snprintf(s->gzerr, sizeof(s->gzerr), "%s", msg);
			return e == Z_ERRNO ? -errno : -EBADMSG;
		}
		return r;
	}
	for (;;) {
		ssize_t r = read(s->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : r;
	}
}

/*
 * A failed load leaves the database empty; a SQLite file that did not exist
 * before the load should not exist after it either (format does the same).
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
		unlink(f);
		free(f);
	}
}

static int has_gz(const char *name)
{
	size_t n = strlen(name);
	return n > 3 && !strcmp(name + n - 3, ".gz");
}

int cmd_dump(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta_dump_opts o = { 0 };
	struct meta *m = NULL;
	struct stream s = { -1, NULL, "STDOUT", "" };
	struct buf err = BUF_INIT;
	char *tmp = NULL;
	const char *url, *dst = NULL;
	int ret = 1, r;

	r = cmd_parse(&cmd_dump_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	if (p.nargs > 1 && strcmp(p.args[1], "-"))
		dst = p.args[1];
	if (conf_get(&cmd_dump_conf, &p, "binary")->i) {
		cmd_fatal("dump --binary is not supported by this build; use the JSON format");
		goto out;
	}
	if (conf_get(&cmd_dump_conf, &p, "threads")->i <= 0)
		log_warn("Invalid threads number %lld, reset to 1",
			 (long long)conf_get(&cmd_dump_conf, &p, "threads")->i);
	o.subdir = conf_get(&cmd_dump_conf, &p, "subdir")->str;
	o.keep_secret = conf_get(&cmd_dump_conf, &p, "keep-secret-key")->i != 0;
	o.skip_trash = conf_get(&cmd_dump_conf, &p, "skip-trash")->i != 0;
	o.threads = (int)conf_get(&cmd_dump_conf, &p, "threads")->i;
	o.progress = isatty(2);
	if (cmd_open_meta(url, 0, &m) || cmd_load_format(m, url, &f))
		goto out;
	if (dst) {
		tmp = xasprintf("%s.tmp", dst);
		s.name = dst;
		s.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (s.fd < 0) {
			cmd_fatal("create %s: %s", tmp, strerror(errno));
			goto out;
		}
	} else {
		s.fd = 1;
	}
	if (dst && has_gz(dst)) {
		s.gz = gzdopen(dup(s.fd), "wb1");
		if (!s.gz) {
			cmd_fatal("gzip %s: cannot start the compressor", dst);
			goto out;
		}
	}
	r = meta_dump(m, &o, write_cb, &s, &err);
	if (s.gz) {
		int z = gzclose(s.gz);
		s.gz = NULL;
		if (!r && z != Z_OK) {
			r = -EIO;
			buf_addf(&err, "gzip %s: close failed", dst);
		}
	}
	if (!r && dst && fsync(s.fd)) {
		r = -errno;
		buf_addf(&err, "sync %s: %s", tmp, strerror(errno));
	}
	if (dst) {
		if (close(s.fd) && !r) {
			r = -errno;
			buf_addf(&err, "close %s: %s", tmp, strerror(errno));
		}
		s.fd = -1;
		if (!r && rename(tmp, dst)) {
			r = -errno;
			buf_addf(&err, "rename %s to %s: %s", tmp, dst, strerror(errno));
		}
		if (r)
			unlink(tmp);
	}
	if (r) {
		cmd_fatal("dump: %s", err.len ? err.ptr : strerror(-r));
		goto out;
	}
	log_info("Dump metadata into %s succeed", dst ? dst : "STDOUT");
	ret = 0;
out:
	if (s.gz)
		gzclose(s.gz);
	if (dst && s.fd >= 0) {
		close(s.fd);
		unlink(tmp);
	}
	free(tmp);
	buf_release(&err);
	conf_format_release(&f);
	meta_close(m);
	conf_parsed_release(&p);
	return ret;
}

int cmd_load(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct meta_load_opts o = { 0 };
	struct meta *m = NULL;
	struct stream s = { 0, NULL, "STDIN", "" };
	struct buf err = BUF_INIT;
	const char *url, *src = NULL;
	char *red = NULL, *new_db = NULL;
	int ret = 1, r;

	r = cmd_parse(&cmd_load_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	red = conf_redact_url(url);
	if (p.nargs > 1 && strcmp(p.args[1], "-"))
		src = p.args[1];
	if (conf_get(&cmd_load_conf, &p, "binary")->i || conf_get(&cmd_load_conf, &p, "stat")->i) {
		cmd_fatal("load --binary/--stat is not supported by this build; use a JSON dump");
		goto out;
	}
	if (conf_get(&cmd_load_conf, &p, "encrypt-rsa-key")->str) {
		cmd_fatal("load --encrypt-rsa-key is not supported by this build");
		goto out;
	}
	o.progress = isatty(2);
	if (src) {
		s.name = src;
		s.fd = open(src, O_RDONLY | O_CLOEXEC);
		if (s.fd < 0) {
			cmd_fatal("open %s: %s", src, strerror(errno));
			goto out;
		}
	}
	if (src && has_gz(src)) {
		s.gz = gzdopen(dup(s.fd), "rb");
		if (!s.gz) {
			cmd_fatal("gzip %s: cannot start the decompressor", src);
			goto out;
		}
	}
	new_db = new_sqlite_file(url);
	if (cmd_open_meta(url, 1, &m))
		goto out;
	r = meta_load(m, &o, read_cb, &s, &err);
	if (r) {
		if (s.gzerr[0])
			buf_addf(&err, " (gzip: %s)", s.gzerr);
		cmd_fatal("load %s into %s: %s", src ? src : "STDIN", red,
			  err.len ? err.ptr : strerror(-r));
		goto out;
	}
	log_info("load metadata from %s succeed", src ? src : "STDIN");
	{
		struct conf_format f = { 0 };
		if (!meta_load_format(m, &f) && f.secret_key && !strcmp(f.secret_key, "removed"))
			log_warn("secret key was removed; please correct it with `config` command");
		conf_format_release(&f);
	}
	ret = 0;
out:
	if (s.gz)
		gzclose(s.gz);
	if (src && s.fd >= 0)
		close(s.fd);
	buf_release(&err);
	meta_close(m);
	if (ret && new_db)
		remove_db_files(new_db);
	free(new_db);
	free(red);
	conf_parsed_release(&p);
	return ret;
}
