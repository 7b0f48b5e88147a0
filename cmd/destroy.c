/*
 * `juicefs destroy META-URL UUID`: delete every object of a volume and then
 * all of its metadata.
 *
 * Safety rules, in order:
 *  1. The UUID argument must equal the volume's: a second, deliberate proof
 *     that this is the volume meant.
 *  2. Live sessions (expiry in the future) refuse the destroy unless --force:
 *     a mounted client would keep writing into a volume that no longer exists.
 *  3. A human confirms on the terminal unless --yes; without a terminal and
 *     without --yes the command refuses.
 *  4. Objects go first, metadata last: if deleting objects fails the metadata
 *     is kept, so the command can be run again instead of leaving orphans
 *     nobody can find.
 */
#include "cmd/cmd.h"

#include <jansson.h>
#include <time.h>

#include "meta/meta.h"
#include "storage/obj.h"

static const struct conf_opt destroy_opts[] = {
	{ "yes", 'y', OPT_BOOL, "false", 0,
	  "automatically answer 'yes' to all prompts and run non-interactively", NULL },
	{ "force", 0, OPT_BOOL, "false", 0, "skip sanity check and force destroy the volume",
	  NULL },
};

const struct conf_cmd cmd_destroy_conf = {
	.name = "destroy",
	.usage = "juicefs destroy [command options] META-URL UUID",
	.summary = "Destroy an existing volume",
	.description = "Destroy the target volume, removing all objects in the data storage\n"
		       "and all entries in its metadata engine.\n"
		       "\n"
		       "WARNING: BE CAREFUL! This operation cannot be undone.\n"
		       "\n"
		       "Examples:\n"
		       "$ juicefs destroy sqlite3://myjfs.db e94d66a8-2339-4abd-b8d8-6812df737892",
	.opts = destroy_opts,
	.nopts = ARRAY_SIZE(destroy_opts),
	.min_args = 2,
	.max_args = 2,
};

struct live {
	int64_t now;
	int count;
	struct buf list;
};

static int live_cb(void *arg, const struct meta_session *s)
{
	struct live *lv = arg;
	json_t *info;
	const char *host = "", *mp = "";

	if (s->expire < lv->now)
		return 0;
	info = s->info && *s->info ? json_loads(s->info, 0, NULL) : NULL;
	if (json_is_object(info)) {
		json_t *h = json_object_get(info, "HostName");
		json_t *m = json_object_get(info, "MountPoint");

		if (json_is_string(h))
			host = json_string_value(h);
		if (json_is_string(m))
			mp = json_string_value(m);
	}
	buf_addf(&lv->list, "%ssid %llu (%s:%s)", lv->count ? ", " : "", (unsigned long long)s->sid,
		 host, mp);
	lv->count++;
	json_decref(info);
	return 0;
}

#define DELETE_BATCH 1000

struct batch {
	char **keys;
	size_t n;
};

static int batch_cb(void *arg, const struct obj_info *oi)
{
	struct batch *b = arg;

	b->keys[b->n++] = xstrdup(oi->key);
	return 0;
}

/*
 * Delete every object under the volume prefix, a page at a time; listing
 * restarts after the last key seen so a delete that leaves the key behind
 * cannot loop forever.
 */
static int delete_all(struct obj_store *s, uint64_t *deleted, uint64_t *failed)
{
	struct batch b = { xcalloc(DELETE_BATCH, sizeof(char *)), 0 };
	char *after = NULL;
	int r = 0;

	for (;;) {
		b.n = 0;
		r = obj_list(s, "", after, DELETE_BATCH, batch_cb, &b);
		if (r < 0) {
			for (size_t i = 0; i < b.n; i++)
				free(b.keys[i]);
			break;
		}
		r = 0;
		if (!b.n)
			break;
		for (size_t i = 0; i < b.n; i++) {
			int d = obj_delete(s, b.keys[i]);

			if (d) {
				log_warn("delete object %s: %s", b.keys[i], strerror(-d));
				(*failed)++;
			} else {
				(*deleted)++;
			}
		}
		free(after);
		after = b.keys[b.n - 1];
		for (size_t i = 0; i + 1 < b.n; i++)
			free(b.keys[i]);
		if (b.n < DELETE_BATCH)
			break;
	}
	free(after);
	free(b.keys);
	return r;
}

int cmd_destroy(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct conf_format f = { 0 };
	struct meta *m = NULL;
	struct obj_store *s = NULL;
	struct live lv = { .now = (int64_t)time(NULL), .count = 0, .list = BUF_INIT };
	int64_t used_space = 0, used_inodes = 0;
	uint64_t deleted = 0, failed = 0;
	const char *url, *uuid;
	char *red = NULL;
	int ret = 1, r, yes, force;

	r = cmd_parse(&cmd_destroy_conf, argc, argv, &p);
	if (r) {
		conf_parsed_release(&p);
		return r > 0 ? 0 : 1;
	}
	url = p.args[0];
	uuid = p.args[1];
	yes = conf_get(&cmd_destroy_conf, &p, "yes")->i != 0;
	force = conf_get(&cmd_destroy_conf, &p, "force")->i != 0;
	red = conf_redact_url(url);
	if (cmd_open_meta(url, 0, &m) || cmd_load_format(m, url, &f))
		goto out;
	if (strcmp(uuid, f.uuid ? f.uuid : "")) {
		cmd_fatal("UUID \"%s\" != expected \"%s\"", uuid, f.uuid ? f.uuid : "");
		goto out;
	}
	if (cmd_open_storage(&f, &s))
		goto out;
	r = meta_list_sessions(m, live_cb, &lv);
	if (r < 0) {
		cmd_fatal("list sessions: %s", strerror(-r));
		goto out;
	}
	if (lv.count && !force) {
		cmd_fatal("%d sessions are active, please disconnect them first: %s", lv.count,
			  lv.list.ptr);
		goto out;
	}
	meta_get_counter(m, "usedSpace", &used_space);
	meta_get_counter(m, "totalInodes", &used_inodes);

	printf(" volume name: %s\n", f.name);
	printf(" volume UUID: %s\n", f.uuid);
	printf("data storage: %s\n", obj_describe(s));
	printf("  used bytes: %lld\n", (long long)used_space);
	printf(" used inodes: %lld\n", (long long)used_inodes);
	printf("WARNING: The target volume will be permanently destroyed, including:\n");
	printf("WARNING: 1. ALL objects in the data storage: %s\n", obj_describe(s));
	printf("WARNING: 2. ALL entries in the metadata engine: %s\n", red);
	fflush(stdout);
	r = cmd_confirm(yes);
	if (r == -ENOTTY) {
		cmd_fatal("Aborted: destroy needs confirmation but stdin is not a terminal "
			  "(use --yes)");
		goto out;
	}
	if (r == 0) {
		cmd_fatal("Aborted.");
		goto out;
	}

	r = delete_all(s, &deleted, &failed);
	if (r) {
		cmd_fatal("list objects in %s: %s; metadata kept, run destroy again",
			  obj_describe(s), strerror(-r));
		goto out;
	}
	if (failed) {
		cmd_fatal("%llu objects are failed to delete, please do it manually "
			  "(metadata kept, run destroy again)",
			  (unsigned long long)failed);
		goto out;
	}
	log_info("Deleted %llu objects", (unsigned long long)deleted);
	r = meta_reset(m);
	if (r) {
		cmd_fatal("reset metadata %s: %s", red, strerror(-r));
		goto out;
	}
	log_info("The volume has been destroyed! You may need to delete cache directory manually.");
	ret = 0;
out:
	free(red);
	buf_release(&lv.list);
	obj_free(s);
	meta_close(m);
	conf_format_release(&f);
	conf_parsed_release(&p);
	return ret;
}
