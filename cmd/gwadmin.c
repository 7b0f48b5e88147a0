/*
 * `juicefs gateway-admin COMMAND META-URL ...`: users and IAM policies of the
 * S3 gateway (gateway/iam.h), written into the volume, so every gateway of
 * the volume, running or not, applies them within a second, with no Go tool
 * (the gateway also serves MinIO's admin API for `mc admin`: s3admin.h).
 * Changes go through iam_update (a lock in the metadata), so they never
 * undo a change made at the same moment by a gateway or another
 * gateway-admin. Secret keys are
 * sealed with a key derived from the root credentials, which therefore come
 * from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD as for `juicefs gateway`; they
 * are never printed.
 */
#include "cmd/cmd.h"

#include "fscore/fs.h"
#include "gateway/iam.h"
#include "gateway/s3admin.h"
#include "gateway/s3cfg.h"

static const struct conf_opt gwadmin_opts[] = {
	{ "policy", 0, OPT_STRING, "", 0,
	  "user-add, group-add: comma-separated policies to attach (readonly, readwrite, "
	  "writeonly, consoleAdmin, or added ones)",
	  NULL },
	{ "svcacct-policy", 0, OPT_STRING, "", 0,
	  "svcacct-add: an IAM policy JSON file that narrows the parent's rights", NULL },
};

const struct conf_cmd cmd_gwadmin_conf = {
	.name = "gateway-admin",
	.usage = "juicefs gateway-admin command [command options] META-URL [ARGS...]\n\n"
		 "COMMANDS:\n"
		 "   user-add NAME SECRET       Add a user (NAME is its access key)\n"
		 "   user-rm NAME               Remove a user\n"
		 "   user-ls                    List users, their status and policies\n"
		 "   user-enable NAME           Enable a user\n"
		 "   user-disable NAME          Disable a user\n"
		 "   user-policy NAME POLICIES  Set a user's policies (comma-separated)\n"
		 "   policy-add NAME FILE       Add or replace an IAM policy from a JSON file\n"
		 "   policy-rm NAME             Remove an IAM policy (not while attached)\n"
		 "   policy-ls                  List policies\n"
		 "   policy-info NAME           Print a policy\n"
		 "   group-add NAME MEMBERS     Add a group of users (comma-separated)\n"
		 "   group-rm NAME              Remove a group\n"
		 "   group-ls                   List groups, their members and policies\n"
		 "   group-policy NAME POLICIES Set a group's policies (comma-separated)\n"
		 "   svcacct-add PARENT ACCESS SECRET\n"
		 "                              Add a service account (an access key of user PARENT)\n"
		 "   svcacct-ls PARENT          List a user's service accounts and their status\n"
		 "   svcacct-rm ACCESS          Remove a service account",
	.summary = "Manage the S3 gateway's users and IAM policies",
	.description = "Examples:\n"
		       "$ export MINIO_ROOT_USER=admin MINIO_ROOT_PASSWORD=12345678\n"
		       "$ juicefs gateway-admin user-add redis://localhost alice alicesecret "
		       "--policy readonly\n"
		       "$ juicefs gateway-admin user-ls redis://localhost",
	.opts = gwadmin_opts,
	.nopts = ARRAY_SIZE(gwadmin_opts),
	.min_args = 1,
	.max_args = 4,
};

static const struct {
	const char *name;
	int nargs; /* after META-URL */
	int writes;
} subs[] = {
	{ "user-add", 2, 1 },   { "user-rm", 1, 1 },	 { "user-ls", 0, 0 },
	{ "user-enable", 1, 1 }, { "user-disable", 1, 1 }, { "user-policy", 2, 1 },
	{ "policy-add", 2, 1 }, { "policy-rm", 1, 1 },	 { "policy-ls", 0, 0 },
	{ "policy-info", 1, 0 }, { "group-add", 2, 1 },	 { "group-rm", 1, 1 },
	{ "group-ls", 0, 0 },	 { "group-policy", 2, 1 },
	{ "svcacct-add", 3, 1 }, { "svcacct-ls", 1, 0 },	 { "svcacct-rm", 1, 1 },
};

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);

	if (!v || !*v)
		v = getenv(b);
	return v && *v ? v : NULL;
}

static int errmsg(int r, const char *what, const char *name, const struct buf *why)
{
	if (r == -EEXIST)
		cmd_fatal("%s %s: already exists", what, name);
	else if (r == -ENOENT)
		cmd_fatal("%s %s: no such %s", what, name, what);
	else if (r == -EBUSY)
		cmd_fatal("%s %s: still attached to a user", what, name);
	else
		cmd_fatal("%s %s: %s", what, name, why->len ? why->ptr : strerror(-r));
	return 1;
}

static int read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "r");
	char tmp[4096];
	size_t n;

	if (!f) {
		cmd_fatal("open %s: %s", path, strerror(errno));
		return 1;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0 && out->len <= POLICY_MAX_BYTES)
		buf_add(out, tmp, n);
	fclose(f);
	return 0;
}

static int run_sub(int sub, struct iam *iam, const struct iam_key *key, char **a,
		   const char *policy_opt, const char *svc_policy)
{
	struct buf why = BUF_INIT, file = BUF_INIT;
	const char *name = a[1];
	int r = 0;

	switch (sub) {
	case 0:
		r = iam_user_add(iam, key, name, a[2], policy_opt, &why);
		break;
	case 1:
		r = iam_user_remove(iam, name);
		break;
	case 2: {
		size_t n;
		const struct iam_user **u = iam_users(iam, &n);

		for (size_t i = 0; i < n; i++) {
			if (u[i]->parent)
				continue;
			printf("%s\t%s\t", u[i]->name, u[i]->enabled ? "enabled" : "disabled");
			for (size_t j = 0; j < u[i]->npolicies; j++)
				printf("%s%s", j ? "," : "", u[i]->policies[j]);
			printf("\n");
		}
		free(u);
		break;
	}
	case 3:
	case 4:
		r = iam_user_set_enabled(iam, name, sub == 3);
		break;
	case 5:
		r = iam_user_set_policies(iam, name, a[2], &why);
		break;
	case 6:
		if (read_file(a[2], &file))
			return 1;
		r = iam_policy_add(iam, name, file.ptr, file.len, &why);
		break;
	case 7:
		r = iam_policy_remove(iam, name);
		break;
	case 8: {
		size_t n;
		const char **v = iam_policy_names(iam, &n);

		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i]);
		free(v);
		break;
	}
	case 9: {
		const char *d = iam_policy_doc(iam, name);

		if (!d)
			r = -ENOENT;
		else
			printf("%s\n", d);
		break;
	}
	case 10:
		r = iam_group_add(iam, name, a[2], policy_opt, &why);
		break;
	case 11:
		r = iam_group_remove(iam, name);
		break;
	case 12: {
		struct buf out = BUF_INIT;

		iam_groups_list(iam, &out);
		fputs(out.ptr, stdout);
		buf_release(&out);
		break;
	}
	case 13:
		r = iam_group_set_policies(iam, name, a[2], &why);
		break;
	case 14:
		if (*svc_policy && read_file(svc_policy, &file))
			return 1;
		r = iam_svc_add(iam, key, name, a[2], a[3], file.ptr, file.len, &why);
		if (r == -ENOENT) {
			errmsg(r, "user", name, &why);
			return 1;
		}
		name = a[2];
		break;
	case 15: {
		size_t n;
		const struct iam_user **u = iam_users(iam, &n);

		if (!iam_user_get(iam, name) || iam_user_get(iam, name)->parent)
			r = -ENOENT;
		for (size_t i = 0; !r && i < n; i++)
			if (u[i]->parent && !strcmp(u[i]->parent, name))
				printf("%s\t%s\t%s\n", u[i]->name, u[i]->enabled ? "on" : "off",
				       u[i]->sa_doc ? "embedded-policy" : "inherited-policy");
		free(u);
		if (r) {
			errmsg(r, "user", name, &why);
			return 1;
		}
		break;
	}
	case 16:
		if (!iam_user_get(iam, name) || !iam_user_get(iam, name)->parent)
			r = -ENOENT;
		else
			r = iam_user_remove(iam, name);
		break;
	}
	if (r)
		errmsg(r, sub < 6 ? "user" : sub < 10 ? "policy" : sub < 14 ? "group" : "service account",
		       name, &why);
	buf_release(&why);
	buf_release(&file);
	return r ? 1 : 0;
}

struct upd {
	int sub;
	const struct iam_key *key;
	char **args;
	const char *policy, *svc_policy;
};

/* A change, inside iam_update; its error was printed (-ECANCELED: nothing written). */
static int upd_fn(struct iam *iam, void *arg)
{
	struct upd *u = arg;

	return run_sub(u->sub, iam, u->key, u->args, u->policy, u->svc_policy) ? -ECANCELED : 0;
}

int cmd_gwadmin(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	const char *sub = argc > 1 ? argv[1] : NULL, *ak, *sk;
	struct buf err = BUF_INIT;
	struct fs_conf fc;
	struct fs *fs = NULL;
	struct iam *iam = NULL;
	struct iam_key key;
	char *val = NULL;
	size_t len = 0;
	int s = -1, ret = 1, r;

	if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		conf_print_help(&cmd_gwadmin_conf, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (!strcmp(sub, subs[i].name))
			s = (int)i;
	if (s < 0) {
		cmd_fatal("No help topic for '%s'", sub);
		return 1;
	}
	r = cmd_parse(&cmd_gwadmin_conf, argc - 1, argv + 1, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	if (p.nargs != 1 + subs[s].nargs) {
		cmd_fatal("%s needs %d argument(s) after META-URL", sub, subs[s].nargs);
		goto out;
	}
	ak = env2("MINIO_ROOT_USER", "MINIO_ACCESS_KEY");
	sk = env2("MINIO_ROOT_PASSWORD", "MINIO_SECRET_KEY");
	if (!ak || strlen(ak) < 3 || !sk || strlen(sk) < 8) {
		cmd_fatal("MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must be the gateway's root "
			  "credentials (they seal the users' secret keys)");
		goto out;
	}
	if (s == 0 && !strcmp(p.args[1], ak)) {
		cmd_fatal("user %s: that is the root user", p.args[1]);
		goto out;
	}
	iam_key_derive(ak, sk, &key);
	fs_conf_defaults(&fc);
	fc.no_bgjob = 1;
	fc.cache_dir = "none";
	if ((r = fs_open(p.args[0], &fc, &fs, &err))) {
		cmd_fatal("open %s: %s", p.args[0], err.len ? err.ptr : strerror(-r));
		goto out;
	}
	if (subs[s].writes) {
		struct upd u = { s, &key, p.args, conf_get(&cmd_gwadmin_conf, &p, "policy")->str,
				 conf_get(&cmd_gwadmin_conf, &p, "svcacct-policy")->str };

		r = iam_update(fs, upd_fn, &u, &err);
		if (r == -EUCLEAN)
			cmd_fatal("the stored IAM document does not parse: %s", err.ptr);
		else if (r == -E2BIG)
			cmd_fatal("write the IAM document: over 64 KiB: too many users or policies");
		else if (r == -EBUSY)
			cmd_fatal("the IAM document stayed locked by another writer for 30 s");
		else if (r && r != -ECANCELED)
			cmd_fatal("update the IAM document: %s", strerror(-r));
		ret = r ? 1 : 0;
		goto out;
	}
	r = s3cfg_get(fs, "", IAM_DOC, &val, &len);
	if (r == -ENOENT) {
		iam = iam_new();
	} else if (r) {
		cmd_fatal("read the IAM document: %s", strerror(-r));
		goto out;
	} else if (iam_parse(val, len, &iam, &err)) {
		cmd_fatal("the stored IAM document does not parse: %s", err.ptr);
		goto out;
	}
	if (run_sub(s, iam, &key, p.args, conf_get(&cmd_gwadmin_conf, &p, "policy")->str,
		    conf_get(&cmd_gwadmin_conf, &p, "svcacct-policy")->str))
		goto out;
	ret = 0;
out:
	iam_free(iam);
	free(val);
	fs_close(fs);
	buf_release(&err);
	conf_parsed_release(&p);
	return ret;
}
