/*
 * `juicefs status META-URL`: the volume setting (secrets masked), the
 * registered sessions and usage statistics, as one JSON document shaped like
 * JuiceFS's:
 *   {"Setting": {...}, "Sessions": [{Sid, Expire, Version, HostName, IPAddrs,
 *    MountPoint, MountTime, ProcessID}, ...], "Stat": {UsedSpace, ...}}
 * With --session/-s SID only that session is printed, with its sustained
 * inodes, flocks and plocks (Sustained, Flocks, Plocks; each left out when
 * empty, as Go's omitempty does). With --more/-m the files waiting in the trash are counted too.
 *
 * A session's SessionInfo is copied field by field in JuiceFS's order; a
 * legacy session without one shows zero values, as JuiceFS does.
 */
#include "cmd/cmd.h"

#include <jansson.h>

#include "meta/meta.h"

static const struct conf_opt status_opts[] = {
	{ "session", 's', OPT_INT, "0", 0,
	  "show detailed information (sustained inodes, locks) of the specified session (sid)", NULL },
	{ "more", 'm', OPT_BOOL, "false", 0,
	  "show more statistic information, may take a long time", NULL },
};

const struct conf_cmd cmd_status_conf = {
	.name = "status",
	.usage = "juicefs status [command options] META-URL",
	.summary = "Show status of a volume",
	.description =
		"It shows basic setting of the target volume, and a list of active sessions\n"
		"(including mount, S3-gateway and WebDAV) that are connected with the metadata\n"
		"engine.\n"
		"\n"
		"NOTE: Read-only session is not listed since it cannot register itself in the\n"
		"metadata.\n"
		"\n"
		"Examples:\n"
		"$ juicefs status sqlite3://myjfs.db",
	.opts = status_opts,
	.nopts = ARRAY_SIZE(status_opts),
	.min_args = 1,
	.max_args = 1,
};

static void copy_str(json_t *dst, json_t *info, const char *key, const char *def)
{
	json_t *v = json_object_get(info, key);

	json_object_set_new(dst, key, json_is_string(v) ? json_copy(v) : json_string(def));
}

/*
 * The real client parses MountTime into a time.Time and prints it back as
 * RFC3339Nano, which has no trailing zeros in the fraction (and no fraction
 * at all when it is zero). Older sessions of ours wrote nine digits.
 */
static void trim_fraction(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	const char *dot = s ? strchr(s, '.') : NULL;

	if (!dot)
		return;
	size_t end = strspn(dot + 1, "0123456789") + 1;
	size_t keep = end;
	while (keep > 1 && dot[keep - 1] == '0')
		keep--;
	if (keep == 1)
		keep = 0;
	if (keep == end)
		return;
	char *t = NULL;
	if (asprintf(&t, "%.*s%s", (int)(dot - s) + (int)keep, s, dot + end) < 0)
		return;
	json_object_set_new(o, key, json_string(t));
	free(t);
}

/* Session object in JuiceFS's field order; details adds the sustained inodes. */
static json_t *session_json(const struct meta_session *s, int details)
{
	json_t *o = json_object(), *info = NULL, *v;
	char expire[48];

	if (s->info && *s->info)
		info = json_loads(s->info, 0, NULL);
	if (!json_is_object(info)) {
		json_decref(info);
		info = json_object();
	}
	cmd_fmt_rfc3339(s->expire, expire, sizeof(expire));
	json_object_set_new(o, "Sid", json_integer((json_int_t)s->sid));
	json_object_set_new(o, "Expire", json_string(expire));
	copy_str(o, info, "Version", "");
	copy_str(o, info, "HostName", "");
	v = json_object_get(info, "IPAddrs");
	if (json_is_array(v) && json_array_size(v))
		json_object_set_new(o, "IPAddrs", json_copy(v));
	copy_str(o, info, "MountPoint", "");
	copy_str(o, info, "MountTime", "0001-01-01T00:00:00Z");
	trim_fraction(o, "MountTime");
	v = json_object_get(info, "ProcessID");
	json_object_set_new(o, "ProcessID", json_is_integer(v) ? json_copy(v) : json_integer(0));
	if (details && s->nsustained) {
		json_t *a = json_array();

		for (size_t i = 0; i < s->nsustained; i++)
			json_array_append_new(a, json_integer((json_int_t)s->sustained[i]));
		json_object_set_new(o, "Sustained", a);
	}
	json_decref(info);
	return o;
}

/*
 * The Flocks and Plocks members of a detailed session, in Go's MarshalIndent
 * layout, appended by hand: a lock owner is a uint64 that jansson's signed
 * integers cannot hold. Plock records are 24 bytes each, big-endian
 * (Type u32, Pid u32, Start u64, End u64), as JuiceFS's loadLocks reads them.
 */
static void append_locks(struct buf *b, const struct meta_session *s)
{
	for (int flock = 1; flock >= 0; flock--) {
		int first = 1;

		for (size_t i = 0; i < s->nlocks; i++) {
			const struct meta_session_lock *k = &s->locks[i];

			if (k->is_flock != flock)
				continue;
			buf_addf(b, "%s\n    {\n      \"Inode\": %llu,\n      \"Owner\": %llu,\n",
				 first ? (flock ? ",\n  \"Flocks\": [" : ",\n  \"Plocks\": [") : ",",
				 (unsigned long long)k->ino, (unsigned long long)k->owner);
			first = 0;
			if (flock) {
				char lt[2] = { k->ltype, 0 };
				json_t *j = json_string(lt);
				char *e = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

				buf_addf(b, "      \"Ltype\": %s\n    }", e ? e : "\"\"");
				free(e);
				json_decref(j);
				continue;
			}
			if (k->len < 24) {
				buf_addf(b, "      \"Records\": null\n    }");
				continue;
			}
			buf_addf(b, "      \"Records\": [");
			for (size_t o = 0; o + 24 <= k->len; o += 24)
				buf_addf(b,
					 "%s\n        {\n          \"Type\": %u,\n          \"Pid\": %u,\n"
					 "          \"Start\": %llu,\n          \"End\": %llu\n        }",
					 o ? "," : "", get_be32(k->recs + o), get_be32(k->recs + o + 4),
					 (unsigned long long)get_be64(k->recs + o + 8),
					 (unsigned long long)get_be64(k->recs + o + 16));
			buf_addf(b, "\n      ]\n    }");
		}
		if (!first)
			buf_addf(b, "\n  ]");
	}
}

/* `status -s SID`: the session with its sustained inodes and locks. */
static int print_detail(void *arg, const struct meta_session *s)
{
	json_t *o = session_json(s, 1);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	struct buf b = BUF_INIT;
	size_t n;

	json_decref(o);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	/* jansson ends the object with "\n}"; the locks go before it. */
	if (n < 2 || text[n - 1] != '}' || text[n - 2] != '\n') {
		free(text);
		return -EINVAL;
	}
	text[n - 2] = 0;
	buf_addf(&b, "%s", text);
	free(text);
	append_locks(&b, s);
	buf_addf(&b, "\n}");
	printf("%s\n", b.ptr);
	*(int *)arg = 1;
	buf_release(&b);
	return 0;
}

struct sessions {
	json_t *list;
};

static int session_cb(void *arg, const struct meta_session *s)
{
	struct sessions *ss = arg;

	json_array_append_new(ss->list, session_json(s, 0));
	return 0;
}

struct trash_walk {
	uint64_t *dirs;
	size_t ndirs, cap;
	int64_t files, bytes;
};

static int trash_hour_cb(void *arg, const struct meta_dirent *e)
{
	struct trash_walk *tw = arg;

	if (e->type != META_TYPE_DIRECTORY)
		return 0;
	if (tw->ndirs == tw->cap) {
		tw->cap = tw->cap ? tw->cap * 2 : 16;
		tw->dirs = xrealloc(tw->dirs, tw->cap * sizeof(*tw->dirs));
	}
	tw->dirs[tw->ndirs++] = e->ino;
	return 0;
}

static int trash_file_cb(void *arg, const struct meta_dirent *e)
{
	struct trash_walk *tw = arg;

	/* Like JuiceFS, every entry counts (rmdir'ed directories too); only files have bytes. */
	tw->files++;
	if (e->type == META_TYPE_FILE)
		tw->bytes += (int64_t)e->attr.length;
	return 0;
}

/*
 * Entries in the trash: those of its hour directories (spec §8).
 * NEEDSWORK: JuiceFS also reports pending deleted files and slices (delfiles,
 * delayed slices); meta.h has no read-only view of those yet.
 */
static int count_trash(struct meta *m, struct trash_walk *tw)
{
	struct meta_ctx ctx;
	int r;

	meta_ctx_root(&ctx);
	r = meta_readdir(m, &ctx, META_TRASH_INODE, 0, NULL, 0, trash_hour_cb, tw);
	if (r == -ENOENT) /* trash never enabled */
		return 0;
	for (size_t i = 0; !r && i < tw->ndirs; i++) {
		r = meta_readdir(m, &ctx, tw->dirs[i], 1, NULL, 0, trash_file_cb, tw);
		if (r == -ENOENT) /* emptied meanwhile */
			r = 0;
	}
	return r;
}

static int print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta *m = NULL;
	struct sessions ss = { 0 };
	struct trash_walk tw = { 0 };
	struct meta_statfs st;
	struct meta_ctx ctx;
	json_t *doc = NULL, *setting = NULL, *stat;
	char *raw = NULL;
	const char *url;
	int64_t sid;
	int ret = 1, r;

	r = cmd_parse(&cmd_status_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	sid = conf_get(&cmd_status_conf, &p, "session")->i;
	if (sid < 0) {
		cmd_fatal("invalid session id: %lld", (long long)sid);
		goto out;
	}
	if (cmd_open_meta(url, 0, &m) || cmd_load_format(m, url, &f))
		goto out;

	if (sid) {
		int printed = 0;

		r = meta_get_session(m, (uint64_t)sid, print_detail, &printed);
		if (r == -ENOENT)
			cmd_fatal("get session: session not found: %lld", (long long)sid);
		else if (r < 0)
			cmd_fatal("get session: %s", strerror(-r));
		else
			ret = printed ? 0 : 1;
		goto out;
	}
	ss.list = json_array();
	r = meta_list_sessions(m, session_cb, &ss);
	if (r < 0) {
		cmd_fatal("list sessions: %s", strerror(-r));
		goto out;
	}

	raw = conf_format_to_json(&f, 1);
	setting = raw ? json_loads(raw, 0, NULL) : NULL;
	if (!setting) {
		cmd_fatal("cannot render the volume setting as JSON");
		goto out;
	}
	meta_ctx_root(&ctx);
	r = meta_statfs(m, &ctx, META_ROOT_INODE, &st);
	if (r) {
		cmd_fatal("statfs: %s", strerror(-r));
		goto out;
	}
	stat = json_object();
	json_object_set_new(stat, "UsedSpace",
			    json_integer((json_int_t)(st.total_space - st.avail_space)));
	json_object_set_new(stat, "AvailableSpace", json_integer((json_int_t)st.avail_space));
	json_object_set_new(stat, "UsedInodes", json_integer((json_int_t)st.used_inodes));
	json_object_set_new(stat, "AvailableInodes", json_integer((json_int_t)st.avail_inodes));
	if (conf_get(&cmd_status_conf, &p, "more")->i) {
		r = count_trash(m, &tw);
		if (r) {
			json_decref(stat);
			cmd_fatal("scan trash: %s", strerror(-r));
			goto out;
		}
		if (tw.files)
			json_object_set_new(stat, "TrashFileCount", json_integer(tw.files));
		if (tw.bytes)
			json_object_set_new(stat, "TrashFileSize", json_integer(tw.bytes));
	}
	doc = json_object();
	json_object_set(doc, "Setting", setting);
	json_object_set(doc, "Sessions", ss.list);
	json_object_set_new(doc, "Stat", stat);
	ret = print_json(doc) ? 1 : 0;
out:
	free(tw.dirs);
	free(raw);
	json_decref(doc);
	json_decref(setting);
	json_decref(ss.list);
	meta_close(m);
	conf_format_release(&f);
	conf_parsed_release(&p);
	return ret;
}
