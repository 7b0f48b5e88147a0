/*
 * Command-line options: one table per command parses argv and prints --help.
 *
 * The rules are those JuiceFS users already type, which come from Go's flag
 * package under urfave/cli plus JuiceFS's own argument reordering:
 *  - "-name" and "--name" are the same flag; "-x" is the short alias;
 *  - a value follows as "--name=value" or as the next argument, whatever it
 *    looks like ("--limit -1" works); a bool takes only the "=value" form;
 *  - options may sit anywhere among the positional arguments; "--" ends them;
 *  - the last occurrence wins; an unset option takes its environment
 *    variable, then its default.
 * Error messages reuse Go's wording so scripts that grep for them keep working.
 */
#include "conf/conf.h"

#include <strings.h>

#define VALS_END (-1)

static int is_help(const char *name, size_t n)
{
	return (n == 4 && !strncmp(name, "help", 4)) || (n == 1 && name[0] == 'h');
}

static const struct conf_opt *find_opt(const struct conf_cmd *cmd, const char *name, size_t n,
				       size_t *idx)
{
	/* Long names first, so a one-letter long name beats another's alias. */
	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct conf_opt *o = &cmd->opts[i];
		if (strlen(o->name) == n && !strncmp(o->name, name, n)) {
			*idx = i;
			return o;
		}
	}
	for (size_t i = 0; n == 1 && i < cmd->nopts; i++) {
		if (cmd->opts[i].short_name && cmd->opts[i].short_name == name[0]) {
			*idx = i;
			return &cmd->opts[i];
		}
	}
	return NULL;
}

/* strconv.ParseBool's spellings, plus yes/no. */
static int opt_bool(const char *s, int *out)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True", "yes" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False", "no" };
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (!strcmp(s, t[i])) {
			*out = 1;
			return 0;
		}
		if (!strcmp(s, f[i])) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_octal(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (!*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O') && s[2])
		s += 2;
	for (; *s; s++) {
		if (*s < '0' || *s > '7')
			return -EINVAL;
		if (v > (INT64_MAX >> 3))
			return -ERANGE;
		v = v << 3 | (*s - '0');
	}
	*out = v;
	return 0;
}

/* Store text s into v according to o's type; -EINVAL/-ERANGE on bad text. */
static int set_value(const struct conf_opt *o, struct conf_val *v, const char *s)
{
	int r = 0, b;
	switch (o->type) {
	case OPT_BOOL:
		if (!(r = opt_bool(s, &b)))
			v->i = b;
		break;
	case OPT_STRING:
		free(v->str);
		v->str = xstrdup(s);
		break;
	case OPT_INT:
		r = parse_i64(s, &v->i);
		break;
	case OPT_SIZE:
		r = parse_size(s, o->unit ? o->unit : 1, &v->u);
		break;
	case OPT_DURATION:
		r = parse_duration_ms(s, &v->i);
		break;
	case OPT_OCTAL:
		r = parse_octal(s, &v->i);
		break;
	}
	return r;
}

static const char *type_hint(enum conf_opt_type t)
{
	switch (t) {
	case OPT_BOOL: return "parse error (want true or false)";
	case OPT_INT: return "not an integer";
	case OPT_SIZE: return "not a size (e.g. 4096, 64K, 4M, 1G)";
	case OPT_DURATION: return "not a duration (e.g. 30, 100ms, 1h30m)";
	case OPT_OCTAL: return "not an octal number";
	default: return "invalid";
	}
}

static int bad_value(struct buf *err, const struct conf_opt *o, const char *s, int r)
{
	buf_addf(err, "invalid value \"%s\" for flag --%s: %s", s, o->name,
		 r == -ERANGE ? "value out of range" : type_hint(o->type));
	return -EINVAL;
}

int conf_parse_args(const struct conf_cmd *cmd, int argc, char **argv, struct conf_parsed *out,
		    struct buf *err)
{
	struct conf_parsed p = { 0 };
	int r = -EINVAL, only_args = 0;

	/* One more than the table: the sentinel lets release find the end. */
	p.vals = xcalloc(cmd->nopts + 1, sizeof(*p.vals));
	p.vals[cmd->nopts].set = VALS_END;
	p.args = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(*p.args));

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val;
		const struct conf_opt *o;
		size_t idx, n;

		if (only_args || a[0] != '-' || !a[1]) {
			p.args[p.nargs++] = xstrdup(a);
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = 1;
			continue;
		}
		name = a + 1 + (a[1] == '-');
		eq = strchr(name, '=');
		n = eq ? (size_t)(eq - name) : strlen(name);
		if (!n || name[0] == '-' || name[0] == '=') {
			buf_addf(err, "bad flag syntax: %s", a);
			goto out;
		}
		o = find_opt(cmd, name, n, &idx);
		if (!o && is_help(name, n)) {
			/* -h/--help wins over everything, even a missing META-URL. */
			p.help = 1;
			r = 0;
			goto out;
		}
		if (!o) {
			buf_addf(err, "flag provided but not defined: -%.*s", (int)n, name);
			goto out;
		}
		if (o->type == OPT_BOOL && !eq) {
			val = "true";
		} else if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			buf_addf(err, "flag needs an argument: -%s", o->name);
			goto out;
		}
		if ((r = set_value(o, &p.vals[idx], val))) {
			r = bad_value(err, o, val, r);
			goto out;
		}
		r = -EINVAL;
		p.vals[idx].set = 1;
	}

	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct conf_opt *o = &cmd->opts[i];
		const char *env = o->env ? getenv(o->env) : NULL;
		int e;
		if (p.vals[i].set)
			continue;
		if (env && *env) {
			if ((e = set_value(o, &p.vals[i], env))) {
				buf_addf(err, "invalid value \"%s\" in $%s for flag --%s: %s", env,
					 o->env, o->name,
					 e == -ERANGE ? "value out of range" : type_hint(o->type));
				goto out;
			}
		} else if (o->def) {
			/* A default that does not parse is a bug in the table. */
			if (set_value(o, &p.vals[i], o->def))
				jfs_die(__FILE__, __LINE__, "bad default \"%s\" for --%s", o->def,
					o->name);
		}
	}

	if (p.nargs < cmd->min_args) {
		buf_addf(err, "This command requires at least %d argument%s", cmd->min_args,
			 cmd->min_args == 1 ? "" : "s");
		goto out;
	}
	if (cmd->max_args >= 0 && p.nargs > cmd->max_args) {
		buf_addf(err, "This command accept at most %d argument%s but got [", cmd->max_args,
			 cmd->max_args == 1 ? "" : "s");
		for (int i = 0; i < p.nargs; i++)
			buf_addf(err, "%s%s", i ? " " : "", p.args[i]);
		buf_addch(err, ']');
		goto out;
	}
	r = 0;
out:
	*out = p;
	if (r)
		conf_parsed_release(out);
	return r;
}

void conf_parsed_release(struct conf_parsed *p)
{
	if (!p)
		return;
	for (struct conf_val *v = p->vals; v && v->set != VALS_END; v++)
		free(v->str);
	free(p->vals);
	for (int i = 0; i < p->nargs; i++)
		free(p->args[i]);
	free(p->args);
	memset(p, 0, sizeof(*p));
}

const struct conf_val *conf_get(const struct conf_cmd *cmd, const struct conf_parsed *p,
				const char *name)
{
	for (size_t i = 0; i < cmd->nopts; i++)
		if (!strcmp(cmd->opts[i].name, name))
			return &p->vals[i];
	jfs_die(__FILE__, __LINE__, "command %s has no option --%s", cmd->name, name);
}

/* "--name value, -x value" as urfave/cli shows it. */
static void flag_spec(struct buf *b, const char *name, char short_name, int takes_value)
{
	buf_addf(b, "--%s%s", name, takes_value ? " value" : "");
	if (short_name)
		buf_addf(b, ", -%c%s", short_name, takes_value ? " value" : "");
}

static void print_indented(FILE *f, const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");
		if (n)
			fprintf(f, "   %.*s\n", (int)n, text);
		else
			fputc('\n', f);
		text += n;
		if (*text)
			text++;
	}
}

void conf_print_help(const struct conf_cmd *cmd, FILE *f)
{
	struct buf *specs = xcalloc(cmd->nopts + 1, sizeof(*specs));
	size_t width = 0;

	for (size_t i = 0; i <= cmd->nopts; i++) {
		buf_init(&specs[i], 0);
		if (i < cmd->nopts)
			flag_spec(&specs[i], cmd->opts[i].name, cmd->opts[i].short_name,
				  cmd->opts[i].type != OPT_BOOL);
		else
			flag_spec(&specs[i], "help", 'h', 0);
		width = MAX(width, specs[i].len);
	}

	fprintf(f, "NAME:\n   %s%s%s%s\n\n", strncmp(cmd->name, "juicefs", 7) ? "juicefs " : "",
		cmd->name, cmd->summary ? " - " : "", cmd->summary ? cmd->summary : "");
	fprintf(f, "USAGE:\n   %s\n\n", cmd->usage ? cmd->usage : cmd->name);
	if (cmd->description && *cmd->description) {
		fputs("DESCRIPTION:\n", f);
		print_indented(f, cmd->description);
		fputc('\n', f);
	}
	fputs("OPTIONS:\n", f);
	for (size_t i = 0; i <= cmd->nopts; i++) {
		const struct conf_opt *o = i < cmd->nopts ? &cmd->opts[i] : NULL;
		fprintf(f, "   %-*s  %s", (int)width, specs[i].ptr, o ? (o->help ? o->help : "") :
									    "show help");
		if (o && o->env)
			fprintf(f, " (env %s)", o->env);
		if (!o || o->type == OPT_BOOL)
			fprintf(f, " (default: %s)", o && o->def ? o->def : "false");
		else if (o->type == OPT_INT)
			fprintf(f, " (default: %s)", o->def ? o->def : "0");
		else if (o->def && *o->def)
			fprintf(f, " (default: \"%s\")", o->def);
		fputc('\n', f);
		buf_release(&specs[i]);
	}
	free(specs);
}
