/*
 * main: global flags, command dispatch and the helpers every command shares.
 *
 * Global flags may appear before the command or anywhere after it, as JuiceFS
 * accepts them (it reorders argv): we lift them out of the command's argv
 * unless the command's own table claims the name. A string option's value is
 * skipped while lifting, so `--bucket -v` keeps "-v" as the bucket.
 *
 * Exit status: 0 success, 1 any failure (usage errors included); the failure
 * is reported as one FATAL log line on stderr.
 */
#include "cmd/cmd.h"

#include <jansson.h>
#include <limits.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "meta/meta.h"
#include "storage/obj.h"

/* ---------------- global flags ---------------- */

enum gflag { G_VERBOSE, G_QUIET, G_TRACE, G_LOG_LEVEL, G_NO_AGENT, G_NO_COLOR, G_HELP, G_VERSION };

struct global_opt {
	enum gflag id;
	const char *name, *alias;
	char short_name;
	int has_value;
	const char *usage; /* left column of --help */
	const char *help;
};

static const struct global_opt global_opts[] = {
	{ G_VERBOSE, "verbose", "debug", 'v', 0, "--verbose, --debug, -v",
	  "enable debug log (default: false)" },
	{ G_QUIET, "quiet", NULL, 'q', 0, "--quiet, -q",
	  "show warning and errors only (default: false)" },
	{ G_TRACE, "trace", NULL, 0, 0, "--trace", "enable trace log (default: false)" },
	{ G_LOG_LEVEL, "log-level", NULL, 0, 1, "--log-level value",
	  "log level: fatal, error, warning, info, debug or trace (overrides -v/-q/--trace)" },
	{ G_NO_AGENT, "no-agent", NULL, 0, 0, "--no-agent",
	  "accepted for compatibility; this build never starts a pprof agent (default: false)" },
	{ G_NO_COLOR, "no-color", NULL, 0, 0, "--no-color",
	  "accepted for compatibility; only profile's screen on a terminal is colored, as in "
	  "JuiceFS (default: false)" },
	{ G_HELP, "help", NULL, 'h', 0, "--help, -h", "show help (default: false)" },
	{ G_VERSION, "version", NULL, 'V', 0, "--version, -V",
	  "print version only (default: false)" },
};

struct globals {
	int verbose, quiet, trace, help, version;
	const char *log_level;
};

static int cmd_version(int argc, char **argv);

static const struct conf_cmd version_conf = {
	.name = "version",
	.usage = "juicefs version [command options] [arguments...]",
	.summary = "Show version",
	.opts = NULL,
	.nopts = 0,
	.min_args = 0,
	.max_args = -1, /* JuiceFS ignores extra arguments here */
};

static const struct cmd_def commands[] = {
	{ "format", "ADMIN", &cmd_format_conf, cmd_format },
	{ "config", "ADMIN", &cmd_config_conf, cmd_config },
	{ "destroy", "ADMIN", &cmd_destroy_conf, cmd_destroy },
	{ "gc", "ADMIN", &cmd_gc_conf, cmd_gc },
	{ "fsck", "ADMIN", &cmd_fsck_conf, cmd_fsck },
	{ "dump", "ADMIN", &cmd_dump_conf, cmd_dump },
	{ "load", "ADMIN", &cmd_load_conf, cmd_load },
	{ "quota", "ADMIN", &cmd_quota_conf, cmd_quota },
	{ "version", "ADMIN", &version_conf, cmd_version },
	{ "info", "INSPECTOR", &cmd_info_conf, cmd_info },
	{ "summary", "INSPECTOR", &cmd_summary_conf, cmd_summary },
	{ "stats", "INSPECTOR", &cmd_stats_conf, cmd_stats },
	{ "status", "INSPECTOR", &cmd_status_conf, cmd_status },
	{ "profile", "INSPECTOR", &cmd_profile_conf, cmd_profile },
	{ "warmup", "TOOL", &cmd_warmup_conf, cmd_warmup },
	{ "rmr", "TOOL", &cmd_rmr_conf, cmd_rmr },
	{ "restore", "ADMIN", &cmd_restore_conf, cmd_restore },
	{ "mount", "SERVICE", &cmd_mount_conf, cmd_mount },
	{ "umount", "SERVICE", &cmd_umount_conf, cmd_umount },
	{ "gateway", "SERVICE", &cmd_gateway_conf, cmd_gateway },
	{ "gateway-admin", "ADMIN", &cmd_gwadmin_conf, cmd_gwadmin },
	{ "webdav", "SERVICE", &cmd_webdav_conf, cmd_webdav },
};

static const struct cmd_def *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/*
 * Split "--name=value" / "-n" into its name; *value gets what follows '='.
 * Returns the long or short name length, 0 if arg is not an option.
 */
static size_t opt_name(const char *arg, const char **name, const char **value, int *is_short)
{
	const char *eq;

	*value = NULL;
	*is_short = 0;
	if (arg[0] != '-' || arg[1] == 0)
		return 0;
	if (arg[1] == '-') {
		if (arg[2] == 0)
			return 0;
		*name = arg + 2;
	} else {
		*name = arg + 1;
		*is_short = 1;
	}
	eq = strchr(*name, '=');
	if (eq)
		*value = eq + 1;
	return eq ? (size_t)(eq - *name) : strlen(*name);
}

static const struct global_opt *find_global(const char *name, size_t len, int is_short)
{
	for (size_t i = 0; i < ARRAY_SIZE(global_opts); i++) {
		const struct global_opt *g = &global_opts[i];

		/* "-x" is a short name; "-name" is the long one, as Go's flag package allows. */
		if (is_short && len == 1) {
			if (g->short_name == name[0])
				return g;
			continue;
		}
		if ((strlen(g->name) == len && !strncmp(g->name, name, len)) ||
		    (g->alias && strlen(g->alias) == len && !strncmp(g->alias, name, len)))
			return g;
	}
	return NULL;
}

static const struct conf_opt *find_cmd_opt(const struct conf_cmd *c, const char *name, size_t len,
					   int is_short)
{
	for (size_t i = 0; i < c->nopts; i++) {
		const struct conf_opt *o = &c->opts[i];

		if (is_short && len == 1 ? o->short_name == name[0]
					 : (strlen(o->name) == len && !strncmp(o->name, name, len)))
			return o;
	}
	return NULL;
}

/*
 * Apply global flag g found at argv[*i]; consumes its value. Returns 0 or
 * -EINVAL after printing the error.
 */
static int apply_global(const struct global_opt *g, const char *value, int argc, char **argv,
			int *i, struct globals *gl)
{
	int on = 1;

	if (g->has_value) {
		if (!value) {
			if (*i + 1 >= argc) {
				cmd_fatal("flag needs an argument: --%s", g->name);
				return -EINVAL;
			}
			value = argv[++*i];
		}
	} else if (value && parse_bool(value, &on)) {
		cmd_fatal("invalid value \"%s\" for flag --%s", value, g->name);
		return -EINVAL;
	}
	switch (g->id) {
	case G_VERBOSE: gl->verbose = on; break;
	case G_QUIET: gl->quiet = on; break;
	case G_TRACE: gl->trace = on; break;
	case G_LOG_LEVEL: gl->log_level = value; break;
	case G_HELP: gl->help = on; break;
	case G_VERSION: gl->version = on; break;
	case G_NO_AGENT:
	case G_NO_COLOR:
		break;
	}
	return 0;
}

static int set_log_level(const struct globals *gl)
{
	int lvl = LOG_INFO;

	if (gl->trace)
		lvl = LOG_TRACE;
	else if (gl->verbose)
		lvl = LOG_DEBUG;
	else if (gl->quiet)
		lvl = LOG_WARNING;
	if (gl->log_level && log_parse_level(gl->log_level, &lvl)) {
		cmd_fatal("invalid log level \"%s\": use fatal, error, warning, info, debug or "
			  "trace",
			  gl->log_level);
		return -EINVAL;
	}
	log_set_level(lvl);
	return 0;
}

static void print_main_help(FILE *f)
{
	static const char *const categories[] = { "ADMIN", "INSPECTOR", "SERVICE", "TOOL" };

	fputs("NAME:\n   juicefs - A POSIX file system built on Redis and object storage.\n\n", f);
	fputs("USAGE:\n   juicefs [global options] command [command options] [arguments...]\n\n",
	      f);
	fprintf(f, "VERSION:\n   %s\n\n", JFS_VERSION);
	fprintf(f, "COMMANDS:\n");
	fprintf(f, "   %-11s %s\n", "help", "Shows a list of commands or help for one command");
	for (size_t c = 0; c < ARRAY_SIZE(categories); c++) {
		fprintf(f, "   %s:\n", categories[c]);
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			if (!strcmp(commands[i].category, categories[c]))
				fprintf(f, "     %-9s %s\n", commands[i].name,
					commands[i].conf->summary);
	}
	fprintf(f, "\nGLOBAL OPTIONS:\n");
	for (size_t i = 0; i < ARRAY_SIZE(global_opts); i++)
		fprintf(f, "   %-24s %s\n", global_opts[i].usage, global_opts[i].help);
	fprintf(f, "\nRun \"juicefs COMMAND --help\" for the options of a command.\n");
}

static int cmd_version(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	int r = cmd_parse(&version_conf, argc, argv, &p);

	if (r == 0)
		printf("juicefs version %s\n", JFS_VERSION);
	conf_parsed_release(&p);
	return r < 0 ? 1 : 0;
}

/* `juicefs help [COMMAND]` */
static int run_help(int argc, char **argv)
{
	const struct cmd_def *d;

	if (argc < 2) {
		print_main_help(stdout);
		return 0;
	}
	d = find_command(argv[1]);
	if (!d) {
		cmd_fatal("No help topic for '%s'", argv[1]);
		return 1;
	}
	conf_print_help(d->conf, stdout);
	return 0;
}

/*
 * Servers hold a descriptor per client connection (and the caches and meta
 * engines their own): take the whole hard limit on open files, as the real
 * client does, rather than a soft 1024 that a busy gateway exhausts.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct globals gl = { 0 };
	const struct cmd_def *d;
	char **cargv = NULL;
	int i = 1, cargc = 0, ret = 1;

	raise_nofile();
	/* Global flags before the command. */
	for (; i < argc; i++) {
		const char *name, *value;
		int is_short;
		size_t len = opt_name(argv[i], &name, &value, &is_short);
		const struct global_opt *g;

		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!len)
			break;
		g = find_global(name, len, is_short);
		if (!g) {
			cmd_fatal("unknown option: \"%s\"", argv[i]);
			return 1;
		}
		if (apply_global(g, value, argc, argv, &i, &gl))
			return 1;
	}
	if (gl.version) {
		printf("juicefs version %s\n", JFS_VERSION);
		return 0;
	}
	if (i >= argc || gl.help) {
		print_main_help(stdout);
		return 0;
	}
	if (!strcmp(argv[i], "help")) {
		if (set_log_level(&gl))
			return 1;
		return run_help(argc - i, argv + i);
	}
	d = find_command(argv[i]);
	if (!d) {
		cmd_fatal("unknown command \"%s\"; run \"juicefs --help\" for the list of commands",
			  argv[i]);
		return 1;
	}

	/* Lift global flags out of the command's arguments. */
	cargv = xcalloc((size_t)(argc - i + 1), sizeof(*cargv));
	cargv[cargc++] = argv[i];
	for (int j = i + 1; j < argc; j++) {
		const char *name, *value;
		int is_short;
		size_t len = opt_name(argv[j], &name, &value, &is_short);
		const struct conf_opt *o;
		const struct global_opt *g;

		if (!strcmp(argv[j], "--")) {
			while (j < argc)
				cargv[cargc++] = argv[j++];
			break;
		}
		if (!len) {
			cargv[cargc++] = argv[j];
			continue;
		}
		o = find_cmd_opt(d->conf, name, len, is_short);
		if (o) {
			cargv[cargc++] = argv[j];
			if (o->type != OPT_BOOL && !value && j + 1 < argc)
				cargv[cargc++] = argv[++j];
			continue;
		}
		g = find_global(name, len, is_short);
		/* --help/-h belong to the command: they print its help. */
		if (!g || g->id == G_HELP) {
			cargv[cargc++] = argv[j];
			continue;
		}
		if (apply_global(g, value, argc, argv, &j, &gl))
			goto out;
	}
	cargv[cargc] = NULL;
	if (set_log_level(&gl))
		goto out;
	if (gl.version) {
		printf("juicefs version %s\n", JFS_VERSION);
		ret = 0;
		goto out;
	}
	ret = d->run(cargc, cargv);
out:
	free(cargv);
	fflush(stdout);
	return ret;
}

/* ---------------- helpers shared by the commands ---------------- */

void cmd_fatal_at(const char *fn, const char *file, int line, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	/* A failure is one line: flatten anything multi-line a lower layer said. */
	for (size_t i = 0; i < b.len; i++)
		if (b.ptr[i] == '\n' || b.ptr[i] == '\r')
			b.ptr[i] = ' ';
	fflush(stdout);
	log_write(LOG_FATAL, fn, file, line, "%s", b.ptr);
	buf_release(&b);
}

int cmd_parse(const struct conf_cmd *cmd, int argc, char **argv, struct conf_parsed *p)
{
	struct buf err = BUF_INIT;
	int r;

	/* --help wins over everything else, even missing arguments. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
		    !strcmp(argv[i], "--help=true")) {
			conf_print_help(cmd, stdout);
			return 1;
		}
	}
	r = conf_parse_args(cmd, argc, argv, p, &err);
	if (r) {
		cmd_fatal("%s", err.len ? err.ptr : "invalid arguments");
		goto out;
	}
	if (p->help) {
		conf_print_help(cmd, stdout);
		r = 1;
		goto out;
	}
	if (p->nargs < cmd->min_args) {
		cmd_fatal("juicefs %s: this command requires at least %d argument%s (usage: %s)",
			  cmd->name, cmd->min_args, cmd->min_args == 1 ? "" : "s", cmd->usage);
		r = -EINVAL;
	} else if (cmd->max_args >= 0 && p->nargs > cmd->max_args) {
		cmd_fatal("juicefs %s: this command accepts at most %d argument%s but got %d "
			  "(usage: %s)",
			  cmd->name, cmd->max_args, cmd->max_args == 1 ? "" : "s", p->nargs,
			  cmd->usage);
		r = -EINVAL;
	}
out:
	buf_release(&err);
	return r;
}

void cmd_logcap_begin(struct cmd_logcap *c)
{
	memset(c, 0, sizeof(*c));
	/* With -v the user wants every line as it happens. */
	if (jfs_log_level >= LOG_DEBUG)
		return;
	c->f = open_memstream(&c->ptr, &c->len);
	if (c->f)
		log_set_file(c->f);
}

void cmd_logcap_end(struct cmd_logcap *c, int failed)
{
	if (!c->f)
		return;
	log_set_file(NULL);
	fclose(c->f);
	if (!failed && c->len)
		fwrite(c->ptr, 1, c->len, stderr);
	free(c->ptr);
	memset(c, 0, sizeof(*c));
}

int cmd_open_meta(const char *url, int create, struct meta **out)
{
	struct meta_conf mc;
	struct cmd_logcap cap;
	struct buf err = BUF_INIT;
	char *red = conf_redact_url(url);
	int r;

	log_debug("Meta address: %s", red);
	meta_conf_defaults(&mc);
	mc.no_bgjob = 1;
	mc.max_deletes = 0;
	/* Only format may create a database: a mistyped path elsewhere must fail. */
	mc.create = create;
	cmd_logcap_begin(&cap);
	r = meta_open(url, &mc, out, &err);
	cmd_logcap_end(&cap, r != 0);
	if (r)
		cmd_fatal("Meta %s is not available: %s", red, err.len ? err.ptr : strerror(-r));
	buf_release(&err);
	free(red);
	return r;
}

void cmd_load_error(const char *url, int r)
{
	char *red;

	if (r == -ENOENT) {
		cmd_fatal("load setting: database is not formatted, please run `juicefs format "
			  "...` first");
		return;
	}
	red = conf_redact_url(url);
	cmd_fatal("load setting from %s: %s", red,
		  r == -EINVAL ? "not a JuiceFS metadata database or the setting is invalid"
			       : strerror(-r));
	free(red);
}

int cmd_load_format(struct meta *m, const char *url, struct conf_format *f)
{
	struct cmd_logcap cap;
	int r;

	cmd_logcap_begin(&cap);
	r = meta_load_format(m, f);
	cmd_logcap_end(&cap, r != 0);
	if (r)
		cmd_load_error(url, r);
	return r;
}

int cmd_open_storage(const struct conf_format *f, struct obj_store **out)
{
	struct buf err = BUF_INIT;
	int r;

	r = obj_open_volume(f, f->storage ? f->storage : "file", f->bucket ? f->bucket : "", out,
			    &err);
	if (r)
		cmd_fatal("object storage: %s", err.len ? err.ptr : strerror(-r));
	buf_release(&err);
	return r;
}

int cmd_test_storage(struct obj_store *s, struct buf *err)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t data[100], back[128], rnd[10];
	char key[32];
	ssize_t n = -EIO;
	int r = -EIO;

	random_bytes(rnd, sizeof(rnd));
	memcpy(key, "testing/", 8);
	for (size_t i = 0; i < sizeof(rnd); i++)
		key[8 + i] = alnum[rnd[i] % (sizeof(alnum) - 1)];
	key[8 + sizeof(rnd)] = 0;
	random_bytes(data, sizeof(data));

	/* Three tries for transient failures; a full disk or a bad path will not heal. */
	for (int tries = 0; tries < 3; tries++) {
		r = obj_put(s, key, data, sizeof(data));
		if (r != -EIO && r != -EAGAIN && r != -ETIMEDOUT && r != -ECONNRESET)
			break;
		sleep_ms(100 << tries);
	}
	if (r) {
		buf_addf(err, "put %s: %s", key, strerror(-r));
		return r;
	}
	n = obj_get(s, key, 0, back, sizeof(back));
	if (n < 0) {
		buf_addf(err, "get %s: %s", key, strerror((int)-n));
		r = (int)n;
		goto out;
	}
	if ((size_t)n != sizeof(data) || memcmp(back, data, sizeof(data))) {
		buf_addf(err, "get %s: read back %zd bytes that differ from the 100 written", key,
			 n);
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	{
		int d = obj_delete(s, key);

		if (d && !r) {
			buf_addf(err, "delete %s: %s", key, strerror(-d));
			r = d;
		}
	}
	return r;
}

int cmd_probe_storage(struct obj_store *s)
{
	struct buf err = BUF_INIT;
	int r, cr;

	/*
	 * A failed create is only worth reporting when the store then fails the
	 * probe too: object stores often refuse CreateBucket on a bucket that
	 * exists and works.
	 */
	cr = obj_create_bucket(s);
	if (cr == -EEXIST)
		cr = 0;
	r = cmd_test_storage(s, &err);
	if (r)
		cmd_fatal("Storage %s is not configured correctly: %s%s%s%s", obj_describe(s),
			  cr ? "create bucket: " : "", cr ? strerror(-cr) : "", cr ? "; " : "",
			  err.ptr);
	else if (cr)
		log_debug("Create bucket %s: %s (the bucket works anyway)", obj_describe(s),
			  strerror(-cr));
	buf_release(&err);
	return r;
}

/* Lexically clean an absolute path ("." and ".." and repeated slashes). */
static char *clean_abs_path(const char *path)
{
	struct buf out = BUF_INIT;
	const char *p = path;

	while (*p) {
		const char *q;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		q = strchr(p, '/');
		len = q ? (size_t)(q - p) : strlen(p);
		if (len == 1 && p[0] == '.') {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(out.ptr, '/');

			if (slash) {
				out.len = (size_t)(slash - out.ptr);
				out.ptr[out.len] = 0;
			}
		} else {
			buf_addch(&out, '/');
			buf_add(&out, p, len);
		}
		p += len;
	}
	if (!out.len)
		buf_addch(&out, '/');
	return buf_detach(&out, NULL);
}

char *cmd_normalize_bucket(const char *storage, const char *bucket)
{
	char cwd[PATH_MAX];
	char *joined, *clean, *res;

	if (strcmp(storage ? storage : "file", "file") || !bucket || !*bucket)
		return xstrdup(bucket ? bucket : "");
	if (bucket[0] == '/') {
		joined = xstrdup(bucket);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return xstrdup(bucket);
		joined = xasprintf("%s/%s", cwd, bucket);
	}
	clean = clean_abs_path(joined);
	free(joined);
	if (clean[strlen(clean) - 1] == '/')
		return clean;
	res = xasprintf("%s/", clean);
	free(clean);
	return res;
}

int cmd_confirm(int yes)
{
	char line[64];

	if (yes)
		return 1;
	if (!isatty(STDIN_FILENO))
		return -ENOTTY;
	printf("Proceed anyway? [y/N]: ");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 0;
	line[strcspn(line, "\r\n")] = 0;
	return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

char *cmd_format_pretty(const struct conf_format *f)
{
	char *raw = conf_format_to_json(f, 1);
	json_t *j = raw ? json_loads(raw, 0, NULL) : NULL;
	char *out;

	if (!j)
		return raw ? raw : xstrdup("{}");
	out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!out)
		return raw;
	free(raw);
	/* json_dumps allocates with jansson's allocator, which is malloc. */
	return out;
}

void cmd_fmt_ibytes(uint64_t v, char *out, size_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned e = 0;
	long double base = 1, val;

	if (v < 10) {
		snprintf(out, n, "%u B", (unsigned)v);
		return;
	}
	while (e + 1 < ARRAY_SIZE(units) && (long double)v >= base * 1024) {
		base *= 1024;
		e++;
	}
	/* Round to one decimal, then show the decimal only below 10. */
	val = (long double)(uint64_t)((long double)v / base * 10 + 0.5L) / 10;
	snprintf(out, n, val < 10 ? "%.1Lf %s" : "%.0Lf %s", val, units[e]);
}

void cmd_fmt_comma(uint64_t v, char *out, size_t n)
{
	char digits[32];
	struct buf b = BUF_INIT;
	int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);

	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf_addch(&b, ',');
		buf_addch(&b, digits[i]);
	}
	snprintf(out, n, "%s", b.ptr);
	buf_release(&b);
}

void cmd_fmt_rfc3339(int64_t unix_s, char *out, size_t n)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	char date[40];
	long off;

	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	off = tm.tm_gmtoff;
	if (!off) {
		snprintf(out, n, "%sZ", date);
		return;
	}
	snprintf(out, n, "%s%c%02ld:%02ld", date, off < 0 ? '-' : '+', labs(off) / 3600,
		 labs(off) % 3600 / 60);
}
