/*
 * `juicefs quota set|get|delete|list|check META-URL --path P`: directory
 * quotas (spec §10.5), stored where JuiceFS keeps them, so a quota set here
 * is enforced by JuiceFS's clients and the other way round. The rules (what
 * counts, nesting, enforcement) live in meta; this file parses, resolves the
 * path and prints JuiceFS's table.
 */
#include "cmd/cmd.h"
#include "meta/meta.h"

static const struct conf_opt quota_opts[] = {
	{ "path", 0, OPT_STRING, NULL, 0, "full path of the directory within the volume", NULL },
	{ "create", 0, OPT_BOOL, "false", 0, "create the directory if not exists", NULL },
	{ "capacity", 0, OPT_SIZE, NULL, 1ULL << 30,
	  "hard quota of the directory limiting its usage of space in GiB", NULL },
	{ "inodes", 0, OPT_INT, NULL, 0,
	  "hard quota of the directory limiting its number of inodes", NULL },
	{ "repair", 0, OPT_BOOL, "false", 0, "repair inconsistent quota", NULL },
	{ "strict", 0, OPT_BOOL, "false", 0,
	  "calculate total usage of directory in strict mode (NOTE: may be slow for huge "
	  "directory)",
	  NULL },
	{ "uid", 0, OPT_INT, NULL, 0, "user ID for user quota management (not supported yet)",
	  NULL },
	{ "gid", 0, OPT_INT, NULL, 0, "group ID for group quota management (not supported yet)",
	  NULL },
};

const struct conf_cmd cmd_quota_conf = {
	.name = "quota",
	.usage = "juicefs quota command [command options] META-URL\n\n"
		 "COMMANDS:\n"
		 "   set          Set quota to a directory\n"
		 "   get          Get quota of a directory\n"
		 "   delete, del  Delete quota of a directory\n"
		 "   list, ls     List all directory quotas\n"
		 "   check        Check quota consistency of a directory",
	.summary = "Manage directory quotas",
	.description = "Examples:\n"
		       "$ juicefs quota set redis://localhost --path /dir1 --capacity 1 --inodes 100\n"
		       "$ juicefs quota get redis://localhost --path /dir1\n"
		       "$ juicefs quota list redis://localhost\n"
		       "$ juicefs quota delete redis://localhost --path /dir1\n"
		       "$ juicefs quota check redis://localhost --path /dir1 --repair",
	.opts = quota_opts,
	.nopts = ARRAY_SIZE(quota_opts),
	.min_args = 1,
	.max_args = 1,
};

enum quota_cmd { Q_SET, Q_GET, Q_DEL, Q_LIST, Q_CHECK };

/* go-humanize IBytes: "0 B", "4.0 KiB", "12 MiB". */
static void ibytes(uint64_t s, char *out, size_t n)
{
	static const char *sizes[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	if (s < 10) {
		snprintf(out, n, "%llu B", (unsigned long long)s);
		return;
	}
	int e = 0;
	double div = 1;
	while (e < 6 && (double)s >= div * 1024) {
		div *= 1024;
		e++;
	}
	/* Go rounds half away from zero to one decimal, then prints */
	double val = (double)(uint64_t)((double)s / div * 10 + 0.5) / 10;
	snprintf(out, n, val < 10 ? "%.1f %s" : "%.0f %s", val, sizes[e]);
}

/* go-humanize Comma: 1234567 -> "1,234,567". */
static void comma(int64_t v, char *out, size_t n)
{
	char d[32];
	size_t len, o = 0;
	snprintf(d, sizeof(d), "%lld", (long long)(v < 0 ? -v : v));
	len = strlen(d);
	if (v < 0 && o + 1 < n)
		out[o++] = '-';
	for (size_t i = 0; i < len && o + 1 < n; i++) {
		if (i && (len - i) % 3 == 0 && o + 1 < n)
			out[o++] = ',';
		out[o++] = d[i];
	}
	out[o] = 0;
}

struct quota_row {
	char *key;
	struct meta_quota q;
};

static int row_cmp(const void *x, const void *y)
{
	return strcmp(((const struct quota_row *)x)->key, ((const struct quota_row *)y)->key);
}

/*
 * JuiceFS's printResult: a bordered table, headers centred, the first
 * column left-aligned and the others right-aligned.
 * NEEDSWORK: info.c draws the same table; share one helper in main.c.
 */
static void print_rows(const char *first, struct quota_row *rows, size_t n)
{
	enum { NC = 7 };
	char ***t = xcalloc(n + 1, sizeof(*t));
	size_t w[NC] = { 0 };
	static const char *hdr[NC] = { NULL, "Size", "Used", "Use%", "Inodes", "IUsed", "IUse%" };

	qsort(rows, n, sizeof(*rows), row_cmp);
	for (size_t r = 0; r <= n; r++) {
		t[r] = xcalloc(NC, sizeof(**t));
		if (r == 0) {
			for (int c = 0; c < NC; c++)
				t[0][c] = xstrdup(c ? hdr[c] : first);
			continue;
		}
		struct meta_quota q = rows[r - 1].q;
		char b[64];
		if (q.used_space < 0) {
			log_warn("Used space of %s is negative (%lld), please run `juicefs quota "
				 "check` to fix it",
				 rows[r - 1].key, (long long)q.used_space);
			q.used_space = 0;
		}
		if (q.used_inodes < 0) {
			log_warn("Used inodes of %s is negative (%lld), please run `juicefs quota "
				 "check` to fix it",
				 rows[r - 1].key, (long long)q.used_inodes);
			q.used_inodes = 0;
		}
		t[r][0] = xstrdup(rows[r - 1].key);
		if (q.max_space > 0) {
			ibytes((uint64_t)q.max_space, b, sizeof(b));
			t[r][1] = xstrdup(b);
			snprintf(b, sizeof(b), "%lld%%", (long long)(q.used_space * 100 / q.max_space));
			t[r][3] = xstrdup(b);
		} else {
			t[r][1] = xstrdup("unchanged");
			t[r][3] = xstrdup("");
		}
		ibytes((uint64_t)q.used_space, b, sizeof(b));
		t[r][2] = xstrdup(b);
		if (q.max_inodes > 0) {
			comma(q.max_inodes, b, sizeof(b));
			t[r][4] = xstrdup(b);
			snprintf(b, sizeof(b), "%lld%%",
				 (long long)(q.used_inodes * 100 / q.max_inodes));
			t[r][6] = xstrdup(b);
		} else {
			t[r][4] = xstrdup("unchanged");
			t[r][6] = xstrdup("");
		}
		comma(q.used_inodes, b, sizeof(b));
		t[r][5] = xstrdup(b);
	}
	for (size_t r = 0; r <= n; r++)
		for (int c = 0; c < NC; c++)
			w[c] = MAX(w[c], strlen(t[r][c]));
	for (int c = 0; c < NC; c++) {
		printf("+");
		for (size_t k = 0; k < w[c] + 2; k++)
			putchar('-');
	}
	printf("+\n");
	for (int c = 0; c < NC; c++) {
		size_t len = strlen(t[0][c]), pad = w[c] - len, pre = (pad + 1) / 2;
		printf("%s%*s%s%*s", c ? " | " : "| ", (int)pre, "", t[0][c], (int)(pad - pre), "");
	}
	printf(" |\n");
	for (int c = 0; c < NC; c++) {
		printf("+");
		for (size_t k = 0; k < w[c] + 2; k++)
			putchar('-');
	}
	printf("+\n");
	for (size_t r = 1; r <= n; r++) {
		for (int c = 0; c < NC; c++) {
			if (c == 0)
				printf("| %-*s", (int)w[c], t[r][c]);
			else
				printf(" | %*s", (int)w[c], t[r][c]);
		}
		printf(" |\n");
	}
	for (int c = 0; c < NC; c++) {
		printf("+");
		for (size_t k = 0; k < w[c] + 2; k++)
			putchar('-');
	}
	printf("+\n");
	for (size_t r = 0; r <= n; r++) {
		for (int c = 0; c < NC; c++)
			free(t[r][c]);
		free(t[r]);
	}
	free(t);
}

/* Resolve --path (every component a directory), creating missing ones with --create. */
static int resolve_dir(struct meta *m, const char *path, int create, uint64_t *ino)
{
	struct meta_ctx root;
	char *p = xstrdup(path), *name = p, *end;
	uint64_t cur = META_ROOT_INODE;
	int r = 0;

	meta_ctx_root(&root);
	for (; *name; name = end) {
		struct meta_attr a;
		uint64_t next;
		end = strchr(name, '/');
		if (end)
			*end++ = 0;
		else
			end = name + strlen(name);
		if (!*name)
			continue;
		r = meta_lookup(m, &root, cur, name, &next, &a);
		if (r == -ENOENT && create)
			r = meta_mkdir(m, &root, cur, name, 0777, 022, &next, &a);
		if (!r && a.type != META_TYPE_DIRECTORY)
			r = -ENOTDIR;
		if (r)
			break;
		cur = next;
	}
	free(p);
	if (!r)
		*ino = cur;
	return r;
}

struct list_ctx {
	struct meta *m;
	struct quota_row *rows;
	size_t n, a;
};

static int list_one(void *arg, uint64_t ino, const struct meta_quota *q)
{
	struct list_ctx *l = arg;
	struct buf path = BUF_INIT;
	char key[48];

	/* JuiceFS hides records that only carry usage (limits -1/-1) */
	if (q->max_space == -1 && q->max_inodes == -1)
		return 0;
	if (l->n == l->a) {
		l->a = l->a ? 2 * l->a : 16;
		l->rows = xrealloc(l->rows, l->a * sizeof(*l->rows));
	}
	if (meta_path_of(l->m, ino, &path) == 0 && path.len) {
		l->rows[l->n].key = xstrdup(path.ptr);
	} else {
		snprintf(key, sizeof(key), "inode:%llu", (unsigned long long)ino);
		l->rows[l->n].key = xstrdup(key);
	}
	l->rows[l->n++].q = *q;
	buf_release(&path);
	return 0;
}

int cmd_quota(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta *m = NULL;
	const char *sub = argc > 1 ? argv[1] : NULL, *path;
	enum quota_cmd qc;
	int ret = 1, r, repair, strict;
	uint64_t ino = 0;
	struct quota_row row = { NULL, { 0, 0, 0, 0 } };

	if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		conf_print_help(&cmd_quota_conf, stdout);
		return 0; /* as JuiceFS: the command list, exit 0 */
	}
	if (!strcmp(sub, "set"))
		qc = Q_SET;
	else if (!strcmp(sub, "get"))
		qc = Q_GET;
	else if (!strcmp(sub, "delete") || !strcmp(sub, "del"))
		qc = Q_DEL;
	else if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
		qc = Q_LIST;
	else if (!strcmp(sub, "check"))
		qc = Q_CHECK;
	else {
		cmd_fatal("No help topic for '%s'", sub);
		return 1;
	}
	r = cmd_parse(&cmd_quota_conf, argc - 1, argv + 1, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	if (conf_get(&cmd_quota_conf, &p, "uid")->set ||
	    conf_get(&cmd_quota_conf, &p, "gid")->set) {
		cmd_fatal("user and group quotas (--uid/--gid) are not supported by this build");
		goto out;
	}
	path = conf_get(&cmd_quota_conf, &p, "path")->str;
	repair = (int)conf_get(&cmd_quota_conf, &p, "repair")->i;
	strict = (int)conf_get(&cmd_quota_conf, &p, "strict")->i;
	if (qc != Q_LIST && !path) {
		cmd_fatal("Please specify the directory with `--path <dir>` option or specify "
			  "user/group with `--uid <uid>`/`--gid <gid>` option");
		goto out;
	}
	if (cmd_open_meta(p.args[0], 0, &m) || cmd_load_format(m, p.args[0], &f))
		goto out;
	if (path) {
		r = resolve_dir(m, path, qc == Q_SET && conf_get(&cmd_quota_conf, &p, "create")->i,
				&ino);
		if (r) {
			cmd_fatal("resolve dir %s: %s", path, strerror(-r));
			goto out;
		}
		if (meta_is_trash(ino)) {
			cmd_fatal("no quota for any trash directory");
			goto out;
		}
		row.key = xstrdup(path);
	}
	switch (qc) {
	case Q_SET: {
		const struct conf_val *cap = conf_get(&cmd_quota_conf, &p, "capacity");
		const struct conf_val *ind = conf_get(&cmd_quota_conf, &p, "inodes");
		int64_t ms = cap->set ? (int64_t)cap->u : -1, mi = ind->set ? ind->i : -1;
		if (ind->set && ind->i < 0) {
			cmd_fatal("invalid value for --inodes: %lld", (long long)ind->i);
			goto out;
		}
		if ((r = meta_quota_set(m, ino, ms, mi, strict, NULL))) {
			cmd_fatal("set quota of %s: %s", path, strerror(-r));
			goto out;
		}
		/* as JuiceFS: the table shows what was asked, usage not yet read back */
		row.q.max_space = ms;
		row.q.max_inodes = mi;
		print_rows("Path", &row, 1);
		break;
	}
	case Q_GET:
		r = meta_quota_get(m, ino, &row.q);
		if (r == -ENOENT)
			break; /* JuiceFS prints nothing for a directory without quota */
		if (r) {
			cmd_fatal("get quota of %s: %s", path, strerror(-r));
			goto out;
		}
		print_rows("Path", &row, 1);
		break;
	case Q_DEL:
		if ((r = meta_quota_del(m, ino))) {
			cmd_fatal("delete quota of %s: %s", path, strerror(-r));
			goto out;
		}
		break;
	case Q_LIST: {
		struct list_ctx l = { m, NULL, 0, 0 };
		r = meta_quota_list(m, list_one, &l);
		if (!r && l.n)
			print_rows("Path/ID", l.rows, l.n);
		for (size_t i = 0; i < l.n; i++)
			free(l.rows[i].key);
		free(l.rows);
		if (r) {
			cmd_fatal("list quotas: %s", strerror(-r));
			goto out;
		}
		break;
	}
	case Q_CHECK: {
		int64_t space, inodes;
		char a[32], b[32], c[32], d[32];
		r = meta_quota_get(m, ino, &row.q);
		if (r == -ENOENT) {
			cmd_fatal("no quota for inode %llu path %s", (unsigned long long)ino, path);
			goto out;
		}
		if (!r)
			r = meta_dir_usage(m, ino, strict, &space, &inodes);
		if (r) {
			cmd_fatal("check quota of %s: %s", path, strerror(-r));
			goto out;
		}
		if (row.q.used_space == space && row.q.used_inodes == inodes) {
			log_info("quota of %s is consistent", path);
			print_rows("Path", &row, 1);
			break;
		}
		comma(row.q.used_inodes, a, sizeof(a));
		ibytes(row.q.used_space < 0 ? 0 : (uint64_t)row.q.used_space, b, sizeof(b));
		comma(inodes, c, sizeof(c));
		ibytes((uint64_t)space, d, sizeof(d));
		log_warn("%s: quota(%s, %s) != summary(%s, %s)", path, a, b, c, d);
		if (!repair) {
			cmd_fatal("quota of %s is inconsistent, please repair it with --repair flag",
				  path);
			goto out;
		}
		log_info("repairing...");
		if ((r = meta_quota_set_usage(m, ino, space, inodes))) {
			cmd_fatal("repair quota of %s: %s", path, strerror(-r));
			goto out;
		}
		row.q.used_space = space;
		row.q.used_inodes = inodes;
		print_rows("Path", &row, 1);
		break;
	}
	}
	ret = 0;
out:
	free(row.key);
	meta_close(m);
	conf_format_release(&f);
	conf_parsed_release(&p);
	return ret;
}
