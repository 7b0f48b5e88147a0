/*
 * `juicefs info PATH|INODE...`: what a file or directory holds, asked of the
 * mount process through the control file (spec §12, message 1005 Info v2),
 * printed the way JuiceFS prints it: summary lines, then the slices (--raw)
 * or the block objects of a file in the table layout of JuiceFS's
 * printResult. Works against a mount of ours or of JuiceFS.
 */
#include "cmd/cmd.h"

#include "meta/meta.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct conf_opt info_opts[] = {
	{ "inode", 'i', OPT_BOOL, "false", 0,
	  "use inode instead of path (current dir should be inside JuiceFS)", NULL },
	{ "recursive", 'r', OPT_BOOL, "false", 0,
	  "get summary of directories recursively (NOTE: it may take a long time for huge trees)",
	  NULL },
	{ "strict", 0, OPT_BOOL, "false", 0,
	  "get accurate summary of directories (this build always counts exactly)", NULL },
	{ "raw", 0, OPT_BOOL, "false", 0, "show internal raw information", NULL },
};

const struct conf_cmd cmd_info_conf = {
	.name = "info",
	.usage = "juicefs info [command options] PATH or INODE",
	.summary = "Show internal information of a path or inode",
	.description = "It is used to inspect internal metadata values of the target file.\n\n"
		       "Examples:\n$ Check a path\n$ juicefs info /mnt/jfs/foo\n\n"
		       "# Check an inode\n$ cd /mnt/jfs\n$ juicefs info -i 100",
	.opts = info_opts,
	.nopts = ARRAY_SIZE(info_opts),
	.min_args = 1,
	.max_args = -1,
};

/* utils.FormatBytes */
static void format_bytes(char *out, size_t sz, uint64_t n)
{
	static const char units[] = "KMGTPE";
	uint64_t m = n;
	int i = 0;

	if (n < 1024) {
		snprintf(out, sz, "%llu Bytes", (unsigned long long)n);
		return;
	}
	for (; i < 5 && m >= (1ULL << 20); i++)
		m >>= 10;
	snprintf(out, sz, "%.2f %ciB (%llu Bytes)", (double)m / 1024.0, units[i],
		 (unsigned long long)n);
}

static uint64_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/*
 * A table as JuiceFS's printResult draws it: centred headers, cells right
 * aligned except column `left`.
 */
void cmd_print_table(char ***rows, size_t nrows, size_t ncols, size_t left)
{
	size_t w[8] = { 0 };

	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++)
			w[c] = MAX(w[c], strlen(rows[r][c]));
	for (int pass = 0; pass < 3; pass++) {
		size_t r0 = pass == 0 ? 0 : pass == 1 ? 1 : nrows;
		/* divider, header, divider, body, divider */
		for (size_t c = 0; c < ncols; c++) {
			printf("+");
			for (size_t k = 0; k < w[c] + 2; k++)
				putchar('-');
		}
		printf("+\n");
		if (pass == 0) {
			for (size_t c = 0; c < ncols; c++) {
				size_t len = strlen(rows[0][c]), pad = w[c] - len,
				       pre = (pad + 1) / 2;
				printf("%s%*s%s%*s", c ? " | " : "| ", (int)pre, "", rows[0][c],
				       (int)(pad - pre), "");
			}
			printf(" |\n");
		} else if (pass == 1) {
			for (size_t r = r0; r < nrows; r++) {
				for (size_t c = 0; c < ncols; c++) {
					int wd = (int)w[c];
					if (c == left)
						printf("%s%-*s", c ? " | " : "| ", wd, rows[r][c]);
					else
						printf("%s%*s", c ? " | " : "| ", wd, rows[r][c]);
				}
				printf(" |\n");
			}
		}
	}
}

static char ***table_new(size_t nrows, size_t ncols)
{
	char ***t = xcalloc(nrows, sizeof(*t));
	for (size_t r = 0; r < nrows; r++)
		t[r] = xcalloc(ncols, sizeof(**t));
	return t;
}

static void table_free(char ***t, size_t nrows, size_t ncols)
{
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++)
			free(t[r][c]);
		free(t[r]);
	}
	free(t);
}

static void print_info(const char *arg, json_t *resp)
{
	json_t *sum = json_object_get(resp, "Summary"), *paths = json_object_get(resp, "Paths");
	json_t *chunks = json_object_get(resp, "Chunks"), *objs = json_object_get(resp, "Objects");
	json_t *tier = json_object_get(resp, "Tier");
	uint64_t length = jint(sum, "Length");
	char b1[64];

	printf("%s :\n", arg);
	printf("  inode: %llu\n", (unsigned long long)jint(resp, "Ino"));
	printf("  files: %llu\n", (unsigned long long)jint(sum, "Files"));
	printf("   dirs: %llu\n", (unsigned long long)jint(sum, "Dirs"));
	format_bytes(b1, sizeof(b1), length);
	printf(" length: %s\n", b1);
	format_bytes(b1, sizeof(b1), jint(sum, "Size"));
	printf("   size: %s\n", b1);
	if (json_array_size(paths) == 0) {
		printf("   path: unknown\n");
	} else if (json_array_size(paths) == 1) {
		printf("   path: %s\n", json_string_value(json_array_get(paths, 0)));
	} else {
		printf("  paths:\n");
		for (size_t i = 0; i < json_array_size(paths); i++)
			printf("\t%s\n", json_string_value(json_array_get(paths, i)));
	}
	if (*jstr(tier, "Tag"))
		printf("   tier: %llu->%s tag: %s\n", (unsigned long long)jint(tier, "ID"),
		       jstr(tier, "StorageClass"), jstr(tier, "Tag"));
	else
		printf("   tier: %llu->%s \n", (unsigned long long)jint(tier, "ID"),
		       jstr(tier, "StorageClass"));
	if (*jstr(resp, "RestoreStatus"))
		printf("   restore status: %s\n", jstr(resp, "RestoreStatus"));
	if (json_array_size(chunks)) {
		size_t n = json_array_size(chunks) + 1;
		char ***t = table_new(n, 5);
		const char *hd[] = { "chunkIndex", "sliceId", "size", "offset", "length" };
		for (size_t c = 0; c < 5; c++)
			t[0][c] = xstrdup(hd[c]);
		for (size_t i = 1; i < n; i++) {
			json_t *o = json_array_get(chunks, i - 1);
			t[i][0] = xasprintf("%llu", (unsigned long long)jint(o, "ChunkIndex"));
			t[i][1] = xasprintf("%llu", (unsigned long long)jint(o, "Id"));
			t[i][2] = xasprintf("%llu", (unsigned long long)jint(o, "Size"));
			t[i][3] = xasprintf("%llu", (unsigned long long)jint(o, "Off"));
			t[i][4] = xasprintf("%llu", (unsigned long long)jint(o, "Len"));
		}
		printf(" chunks:\n");
		cmd_print_table(t, n, 5, (size_t)-1);
		table_free(t, n, 5);
	}
	if (json_array_size(objs)) {
		size_t n = json_array_size(objs) + 1, used = 1;
		char ***t = table_new(n, 6);
		const char *hd[] = { "chunkIndex", "objectName", "size", "offset", "length", "pos" };
		uint64_t chunk_off = 0, last_chunk = 0;
		for (size_t c = 0; c < 6; c++)
			t[0][c] = xstrdup(hd[c]);
		for (size_t i = 0; i + 1 < n; i++) {
			json_t *o = json_array_get(objs, i);
			uint64_t ci = jint(o, "ChunkIndex"), len = jint(o, "Len");
			uint64_t pos;
			if (ci != last_chunk)
				chunk_off = 0;
			pos = chunk_off + ci * META_CHUNK_SIZE;
			if (pos + len > length)
				break; /* past the end: JuiceFS stops listing here too */
			last_chunk = ci;
			t[used][0] = xasprintf("%llu", (unsigned long long)ci);
			t[used][1] = xstrdup(jstr(o, "Key"));
			t[used][2] = xasprintf("%llu", (unsigned long long)jint(o, "Size"));
			t[used][3] = xasprintf("%llu", (unsigned long long)jint(o, "Off"));
			t[used][4] = xasprintf("%llu", (unsigned long long)len);
			t[used][5] = xasprintf("%llu", (unsigned long long)pos);
			used++;
			chunk_off += len;
		}
		if (used > 1) {
			printf(" objects:\n");
			cmd_print_table(t, used, 6, 1);
		}
		table_free(t, n, 6);
	}
}

int cmd_info(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct buf data = BUF_INIT;
	int ret = 1, by_inode, r;
	uint8_t msg[11];

	r = cmd_parse(&cmd_info_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	by_inode = (int)conf_get(&cmd_info_conf, &p, "inode")->i;
	msg[8] = conf_get(&cmd_info_conf, &p, "recursive")->i ? 1 : 0;
	msg[9] = conf_get(&cmd_info_conf, &p, "raw")->i ? 1 : 0;
	msg[10] = conf_get(&cmd_info_conf, &p, "strict")->i ? 1 : 0;
	for (int i = 0; i < p.nargs; i++) {
		const char *arg = p.args[i];
		char dir[PATH_MAX];
		uint64_t ino;
		struct stat st;
		json_t *resp;
		json_error_t jerr;

		if (by_inode) {
			if (parse_u64(arg, &ino)) {
				cmd_fatal("info %s: not an inode number", arg);
				goto out;
			}
			if (!getcwd(dir, sizeof(dir))) {
				cmd_fatal("info: current directory: %s", strerror(errno));
				goto out;
			}
		} else {
			if (stat(arg, &st)) {
				cmd_fatal("info %s: %s", arg, strerror(errno));
				goto out;
			}
			ino = (uint64_t)st.st_ino;
			if (S_ISDIR(st.st_mode)) {
				snprintf(dir, sizeof(dir), "%s", arg);
			} else {
				char *d = xstrdup(arg), *slash = strrchr(d, '/');
				snprintf(dir, sizeof(dir), "%s", !slash ? "." : slash == d ? "/" : d);
				if (slash && slash != d)
					dir[slash - d] = 0;
				free(d);
			}
		}
		if (ino < 1) {
			cmd_fatal("inode number shouldn't be less than 1");
			goto out;
		}
		put_be64(msg, ino);
		r = cmd_control_call(dir, 1005, msg, sizeof(msg), NULL, &data);
		if (r == -ENOTSUP) {
			cmd_fatal("info %s: not inside a JuiceFS mount", arg);
			goto out;
		}
		if (r) {
			cmd_fatal("info %s: %s", arg, strerror(-r));
			goto out;
		}
		resp = json_loadb(data.ptr, data.len, 0, &jerr);
		if (!json_is_object(resp)) {
			json_decref(resp);
			cmd_fatal("info %s: bad answer from the mount: %s", arg, jerr.text);
			goto out;
		}
		if (json_is_true(json_object_get(resp, "Failed"))) {
			cmd_fatal("info: %s", jstr(resp, "Reason"));
			json_decref(resp);
			goto out;
		}
		print_info(arg, resp);
		json_decref(resp);
	}
	ret = 0;
out:
	buf_release(&data);
	conf_parsed_release(&p);
	return ret;
}
