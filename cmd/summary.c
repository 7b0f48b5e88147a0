/*
 * `juicefs summary PATH`: the tree summary of a directory in a mount (ours or
 * JuiceFS's), asked of the mount process through the control file (spec §12,
 * message 1007 Summary: ino u64, depth u8, topN u8, strict u8; the answer is
 * JuiceFS's SummaryReponse JSON {Errno, Tree}). Printed as JuiceFS prints it:
 * PATH / SIZE / DIRS / FILES rows in tree order, as its printResult table
 * (sizes as go-humanize's IBytes) or, with --csv, as Go's encoding/csv.
 */
#include "cmd/cmd.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

static const struct conf_opt summary_opts[] = {
	{ "depth", 'd', OPT_INT, "2", 0, "depth of tree to show (zero means only show root)", NULL },
	{ "entries", 'e', OPT_INT, "10", 0, "show top N entries (sort by size)", NULL },
	{ "strict", 0, OPT_BOOL, "false", 0,
	  "show accurate summary, including directories and files (may be slow)", NULL },
	{ "csv", 0, OPT_BOOL, "false", 0, "print summary in csv format", NULL },
};

const struct conf_cmd cmd_summary_conf = {
	.name = "summary",
	.usage = "juicefs summary [command options] PATH",
	.summary = "Show tree summary of a directory",
	.description = "It is used to show tree summary of target directory.\n\n"
		       "Examples:\n"
		       "# Show with path\n$ juicefs summary /mnt/jfs/foo\n\n"
		       "# Show max depth of 5\n$ juicefs summary --depth 5 /mnt/jfs/foo\n\n"
		       "# Show top 20 entries\n$ juicefs summary --entries 20 /mnt/jfs/foo\n\n"
		       "# Show accurate result\n$ juicefs summary --strict /mnt/jfs/foo",
	.opts = summary_opts,
	.nopts = ARRAY_SIZE(summary_opts),
	.min_args = 1,
	.max_args = 1,
};

/*
 * go-humanize's IBytes: "%d B" below 10, then the value in the largest unit
 * it reaches, rounded to tenths, with one decimal below 10. (It takes the
 * unit from a floating-point logarithm; this integer one agrees save within
 * rounding of an exact power of 1024.)
 */
static char *ibytes(uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double unit = 1, val;
	int e = 0;

	if (n < 10)
		return xasprintf("%llu B", (unsigned long long)n);
	while (e < 6 && (double)n >= unit * 1024) {
		unit *= 1024;
		e++;
	}
	val = (double)(uint64_t)((double)n / unit * 10 + 0.5) / 10;
	return xasprintf(val < 10 ? "%.1f %s" : "%.0f %s", val, units[e]);
}

struct rows {
	char ***v;
	size_t n, cap;
};

static void add_row(struct rows *r, char *path, char *size, char *dirs, char *files)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n] = xcalloc(4, sizeof(char *));
	r->v[r->n][0] = path;
	r->v[r->n][1] = size;
	r->v[r->n][2] = dirs;
	r->v[r->n][3] = files;
	r->n++;
}

static uint64_t jnum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/* renderTree: depth first, a directory's path ending in "/". */
static void render(struct rows *r, json_t *t, int csv)
{
	const char *path = json_string_value(json_object_get(t, "Path"));
	size_t pl;
	json_t *kids = json_object_get(t, "Children"), *k;
	size_t i;

	if (!json_is_object(t))
		return;
	path = path ? path : "";
	pl = strlen(path);
	add_row(r,
		jnum(t, "Type") == 2 && (!pl || path[pl - 1] != '/') ? xasprintf("%s/", path)
								      : xstrdup(path),
		csv ? xasprintf("%llu", (unsigned long long)jnum(t, "Size")) : ibytes(jnum(t, "Size")),
		xasprintf("%llu", (unsigned long long)jnum(t, "Dirs")),
		xasprintf("%llu", (unsigned long long)jnum(t, "Files")));
	json_array_foreach(kids, i, k)
		render(r, k, csv);
}

/* encoding/csv's Writer: quote a field with a comma, quote, CR or LF, or a leading space. */
static void csv_field(const char *f)
{
	int quote = *f == ' ' || *f == '\t' || strpbrk(f, ",\"\r\n") || !strcmp(f, "\\.");

	if (!quote) {
		fputs(f, stdout);
		return;
	}
	putchar('"');
	for (; *f; f++) {
		if (*f == '"')
			putchar('"');
		putchar(*f);
	}
	putchar('"');
}

int cmd_summary(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct buf data = BUF_INIT;
	struct rows rows = { 0 };
	char dir[PATH_MAX];
	struct stat st;
	json_t *resp = NULL;
	json_error_t jerr;
	int64_t depth, entries;
	uint8_t msg[11];
	int ret = 1, csv, r;

	r = cmd_parse(&cmd_summary_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	depth = conf_get(&cmd_summary_conf, &p, "depth")->i;
	entries = conf_get(&cmd_summary_conf, &p, "entries")->i;
	if (depth < 0 || entries < 0) {
		cmd_fatal("invalid value for --%s: must not be negative", depth < 0 ? "depth" : "entries");
		goto out;
	}
	if (depth > 10) {
		log_warn("depth should be less than 11");
		depth = 10;
	}
	if (entries > 100) {
		log_warn("entries should be less than 101");
		entries = 100;
	}
	csv = (int)conf_get(&cmd_summary_conf, &p, "csv")->i;
	if (stat(p.args[0], &st)) {
		cmd_fatal("lookup inode for \"%s\": %s", p.args[0], strerror(errno));
		goto out;
	}
	if (st.st_ino < 1) {
		cmd_fatal("inode number shouldn't be less than 1");
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", p.args[0]);
	if (!S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else
			slash[slash == dir ? 1 : 0] = 0;
	}
	put_be64(msg, (uint64_t)st.st_ino);
	msg[8] = (uint8_t)depth;
	msg[9] = (uint8_t)entries;
	msg[10] = conf_get(&cmd_summary_conf, &p, "strict")->i ? 1 : 0;
	r = cmd_control_call(dir, 1007, msg, sizeof(msg), NULL, &data);
	if (r == -ENOTSUP) {
		cmd_fatal("open controller: %s is not inside a JuiceFS mount", p.args[0]);
		goto out;
	}
	if (r == -EINVAL) {
		cmd_fatal("summary is not supported, please upgrade and mount again");
		goto out;
	}
	if (r) {
		cmd_fatal("summary: %s", strerror(-r));
		goto out;
	}
	resp = json_loadb(data.ptr, data.len, 0, &jerr);
	if (!json_is_object(resp)) {
		cmd_fatal("summary: bad answer from the mount: %s", jerr.text);
		goto out;
	}
	if (jnum(resp, "Errno")) {
		cmd_fatal("summary: %s", strerror((int)jnum(resp, "Errno")));
		goto out;
	}
	add_row(&rows, xstrdup("PATH"), xstrdup("SIZE"), xstrdup("DIRS"), xstrdup("FILES"));
	render(&rows, json_object_get(resp, "Tree"), csv);
	if (csv) {
		for (size_t i = 0; i < rows.n; i++) {
			for (int c = 0; c < 4; c++) {
				if (c)
					putchar(',');
				csv_field(rows.v[i][c]);
			}
			putchar('\n');
		}
	} else {
		cmd_print_table(rows.v, rows.n, 4, 0);
	}
	ret = fflush(stdout) ? 1 : 0;
out:
	for (size_t i = 0; i < rows.n; i++) {
		for (int c = 0; c < 4; c++)
			free(rows.v[i][c]);
		free(rows.v[i]);
	}
	free(rows.v);
	json_decref(resp);
	buf_release(&data);
	conf_parsed_release(&p);
	return ret;
}
