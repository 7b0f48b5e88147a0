/*
 * `juicefs warmup PATH...`: read files of a mount once so their blocks land
 * in the mount's local cache, done by the mount process through the control
 * file (spec §12, message 1004 FillCache). Paths travel relative to the
 * mount root, found by walking up to the directory whose inode is 1.
 */
#include "cmd/cmd.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct conf_opt warmup_opts[] = {
	{ "file", 'f', OPT_STRING, NULL, 0, "file containing a list of paths (one per line)",
	  NULL },
	{ "threads", 'p', OPT_INT, "50", 0,
	  "number of concurrent workers (this build warms with one)", NULL },
	{ "background", 'b', OPT_BOOL, "false", 0,
	  "accepted for compatibility; this build always waits", NULL },
	{ "evict", 0, OPT_BOOL, "false", 0, "evict cached blocks (not supported by this build)",
	  NULL },
	{ "check", 0, OPT_BOOL, "false", 0,
	  "check whether the data blocks are cached (not supported by this build)", NULL },
};

const struct conf_cmd cmd_warmup_conf = {
	.name = "warmup",
	.usage = "juicefs warmup [command options] [PATH ...]",
	.summary = "Build cache for target directories/files",
	.description = "This command provides a faster way to actively build cache for the target "
		       "files. It reads all\nobjects of the files and then write them into local "
		       "cache directory.\n\nExamples:\n$ juicefs warmup /mnt/jfs/datadir",
	.opts = warmup_opts,
	.nopts = ARRAY_SIZE(warmup_opts),
	.min_args = 0,
	.max_args = -1,
};

/* The mount root above abs: the highest ancestor on the same device with inode 1. */
static int find_mount_root(const char *abs, char *mp, size_t n)
{
	struct stat st, top;
	char cur[PATH_MAX];

	if (stat(abs, &top))
		return -errno;
	snprintf(cur, sizeof(cur), "%s", abs);
	for (;;) {
		char *slash;
		if (stat(cur, &st) || st.st_dev != top.st_dev)
			return -ENOTSUP;
		if (st.st_ino == 1) {
			snprintf(mp, n, "%s", cur);
			return 0;
		}
		slash = strrchr(cur, '/');
		if (!slash || slash == cur) {
			if (!strcmp(cur, "/"))
				return -ENOTSUP;
			snprintf(cur, sizeof(cur), "/");
		} else {
			*slash = 0;
		}
	}
}

static int warm_one(const char *arg, int *failed, uint64_t tot[2])
{
	char abs[PATH_MAX], mp[PATH_MAX];
	uint64_t prog[2] = { 0, 0 };
	struct buf msg = BUF_INIT;
	const char *rel;
	uint8_t tail[4];
	int r;

	if (!realpath(arg, abs)) {
		log_warn("warmup %s: %s", arg, strerror(errno));
		(*failed)++;
		return 0;
	}
	if ((r = find_mount_root(abs, mp, sizeof(mp)))) {
		cmd_fatal("warmup %s: not inside a JuiceFS mount", arg);
		return -1;
	}
	rel = abs + strlen(mp);
	if (!*rel)
		rel = "/";
	put_be32(tail, (uint32_t)strlen(rel));
	buf_add(&msg, tail, 4);
	buf_adds(&msg, rel);
	tail[0] = 0; /* threads u16 */
	tail[1] = 1;
	tail[2] = 0; /* background */
	tail[3] = 0; /* action: warm up */
	buf_add(&msg, tail, 4);
	r = cmd_control_call(mp, 1004, msg.ptr, msg.len, prog, NULL);
	buf_release(&msg);
	if (r) {
		log_warn("warmup %s: %s", arg, strerror(-r));
		(*failed)++;
	}
	tot[0] += prog[0];
	tot[1] += prog[1];
	return 0;
}

int cmd_warmup(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	uint64_t tot[2] = { 0, 0 };
	const char *list;
	char bytes[32];
	int ret = 1, r, failed = 0;

	r = cmd_parse(&cmd_warmup_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	if (conf_get(&cmd_warmup_conf, &p, "evict")->i ||
	    conf_get(&cmd_warmup_conf, &p, "check")->i) {
		cmd_fatal("--evict and --check are not supported by this build");
		goto out;
	}
	list = conf_get(&cmd_warmup_conf, &p, "file")->str;
	if (!list && p.nargs == 0) {
		cmd_fatal("no path given: use PATH arguments or --file");
		goto out;
	}
	for (int i = 0; i < p.nargs; i++)
		if (warm_one(p.args[i], &failed, tot))
			goto out;
	if (list) {
		FILE *f = fopen(list, "r");
		char line[PATH_MAX];
		if (!f) {
			cmd_fatal("open %s: %s", list, strerror(errno));
			goto out;
		}
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = 0;
			if (*line && warm_one(line, &failed, tot)) {
				fclose(f);
				goto out;
			}
		}
		fclose(f);
	}
	cmd_fmt_ibytes(tot[1], bytes, sizeof(bytes));
	if (failed) {
		cmd_fatal("warmed up %llu files (%s), %d path(s) failed",
			  (unsigned long long)tot[0], bytes, failed);
		goto out;
	}
	log_info("Successfully warmed up %llu files (%s)", (unsigned long long)tot[0], bytes);
	ret = 0;
out:
	conf_parsed_release(&p);
	return ret;
}
