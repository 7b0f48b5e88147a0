/*
 * gateway/s3admin.c: MinIO's admin API for mc admin (contract in s3admin.h).
 * Error codes, messages and body shapes are MinIO's (from its documentation
 * and observed answers), so mc prints what it prints against the real gateway.
 */
#include "gateway/s3admin.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>

#include "gateway/madmin.h"
#include "gateway/s3-internal.h"
#include "gateway/s3cfg.h"
#include "meta/meta.h"

#define ADMIN_PREFIX "/minio/admin/"
#define BODY_CAP 262272 /* MinIO's cap on a sealed config body */

/* ---------------------------------------------------------------- the document */

int iam_update(struct fs *fs, iam_update_fn fn, void *arg, struct buf *why)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int64_t deadline = mono_ms() + 30000;
	struct iam *iam = NULL;
	struct buf doc = BUF_INIT;
	uint64_t owner;
	char *val = NULL;
	size_t len = 0;
	int r;

	/* a lock owner of its own: the threads of one process exclude each other too */
	random_bytes(&owner, sizeof(owner));
	owner |= 1;
	pthread_mutex_lock(&mu);
	while ((r = fs_flock(fs, META_ROOT_INODE, owner, META_LOCK_WRITE, 0)) == -EAGAIN &&
	       mono_ms() < deadline)
		sleep_ms(2);
	if (r) {
		pthread_mutex_unlock(&mu);
		return r == -EAGAIN ? -EBUSY : r;
	}
	r = s3cfg_get(fs, "", IAM_DOC, &val, &len);
	if (r == -ENOENT) {
		iam = iam_new();
		r = 0;
	} else if (!r && iam_parse(val, len, &iam, why)) {
		r = -EUCLEAN;
	}
	if (!r)
		r = fn(iam, arg);
	if (!r) {
		iam_dump(iam, &doc);
		r = s3cfg_put(fs, "", IAM_DOC, doc.ptr, doc.len);
	}
	fs_flock(fs, META_ROOT_INODE, owner, META_LOCK_UNLOCK, 0);
	pthread_mutex_unlock(&mu);
	iam_free(iam);
	free(val);
	buf_release(&doc);
	return r;
}

/* A consistent copy for a read-only route (the cache may be a second old). */
static int iam_load(struct fs *fs, struct iam **out)
{
	char *val = NULL;
	size_t len = 0;
	int r = s3cfg_get(fs, "", IAM_DOC, &val, &len);

	if (r == -ENOENT) {
		*out = iam_new();
		return 0;
	}
	if (!r && iam_parse(val, len, out, NULL))
		r = -EUCLEAN;
	free(val);
	return r;
}

/* ---------------------------------------------------------------- answers */

enum aerr {
	A_OK,
	A_AccessDenied,
	A_NoSuchUser,
	A_NoSuchGroup,
	A_GroupNotEmpty,
	A_NoSuchPolicy,
	A_NoSuchSvc,
	A_InvalidArgument,
	A_InvalidRequest,
	A_BadJSON,
	A_TooLarge,
	A_NotAllowed,
	A_RootAsUser,
	A_RootSvc,
	A_InvalidAccessKey,
	A_InvalidSecretKey,
	A_MalformedPolicy,
	A_EntityTooLarge,
	A_MissingContentLength,
	A_NotImplemented,
	A_VersionMismatch,
	A_Busy,
	A_Internal,
};

static const struct {
	int status;
	const char *code, *msg, *inner; /* inner: MinIO's " (cause)" suffix */
} aerrs[] = {
	[A_OK] = { 200, "", "", NULL },
	[A_AccessDenied] = { 403, "AccessDenied", "Access Denied.", NULL },
	[A_NoSuchUser] = { 404, "XMinioAdminNoSuchUser", "The specified user does not exist.",
			   "Specified user does not exist" },
	[A_NoSuchGroup] = { 404, "XMinioAdminNoSuchGroup", "The specified group does not exist.",
			    "Specified group does not exist" },
	[A_GroupNotEmpty] = { 400, "XMinioAdminGroupNotEmpty",
			      "The specified group is not empty - cannot remove it.",
			      "Specified group is not empty - cannot remove it" },
	[A_NoSuchPolicy] = { 404, "XMinioAdminNoSuchPolicy", "The canned policy does not exist.",
			     "Specified canned policy does not exist" },
	[A_NoSuchSvc] = { 404, "XMinioInvalidIAMCredentials",
			  "The specified service account is not found",
			  "Specified service account does not exist" },
	[A_InvalidArgument] = { 400, "XMinioAdminInvalidArgument", "Invalid arguments specified.",
				"Invalid arguments specified" },
	[A_InvalidRequest] = { 400, "InvalidRequest", "Invalid Request", NULL },
	[A_BadJSON] = { 400, "XMinioAdminConfigBadJSON",
			"JSON configuration provided is of incorrect format", NULL },
	[A_TooLarge] = { 400, "XMinioAdminConfigTooLarge",
			 "Configuration data provided exceeds the allowed maximum of 262272 bytes",
			 NULL },
	[A_NotAllowed] = { 403, "XMinioIAMActionNotAllowed",
			   "Specified IAM action is not allowed with LDAP configuration", NULL },
	[A_RootAsUser] = { 403, "XMinioInvalidIAMCredentials",
			   "User is not allowed to be same as admin access key", NULL },
	[A_RootSvc] = { 403, "XMinioInvalidIAMCredentials",
			"The administrator key is not eligible for this operation", NULL },
	[A_InvalidAccessKey] = { 400, "XMinioAdminInvalidAccessKey",
				 "The access key is invalid.", NULL },
	[A_InvalidSecretKey] = { 400, "XMinioAdminInvalidSecretKey",
				 "The secret key is invalid.", NULL },
	[A_MalformedPolicy] = { 400, "XMinioMalformedIAMPolicy", "", NULL },
	[A_EntityTooLarge] = { 400, "EntityTooLarge",
			       "Your proposed upload exceeds the maximum allowed object size.",
			       NULL },
	[A_MissingContentLength] = { 411, "MissingContentLength",
				     "You must provide the Content-Length HTTP header.", NULL },
	[A_NotImplemented] = { 501, "NotImplemented",
			       "A header you provided implies functionality that is not implemented",
			       NULL },
	[A_VersionMismatch] = { 426, "XMinioAdminVersionMismatch", "", NULL },
	[A_Busy] = { 503, "XMinioServerNotInitialized",
		     "The users document is locked by another writer; try again", NULL },
	[A_Internal] = { 500, "InternalError",
			 "We encountered an internal error, please try again.", NULL },
};

static int send_json_error(struct s3_req *s, int status, const char *code, const char *msg)
{
	json_t *o = json_object();
	char *t;

	json_object_set_new(o, "Code", json_string(code));
	json_object_set_new(o, "Message", json_string(msg));
	json_object_set_new(o, "Resource", json_string(gw_req_raw_path(s->r)));
	json_object_set_new(o, "RequestId", json_string(s->reqid));
	json_object_set_new(o, "HostId", json_string(""));
	t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	s3_send_body(s, status, "application/json", t, strlen(t));
	free(t);
	json_decref(o);
	return 0;
}

/* detail: a cause to append as MinIO does ("msg (detail)"), or NULL. */
static int send_aerr(struct s3_req *s, enum aerr e, const char *detail)
{
	struct buf m = BUF_INIT;
	int r;

	buf_adds(&m, aerrs[e].msg);
	if (detail && *detail)
		buf_addf(&m, "%s%s", m.len ? " " : "", m.len ? "(" : "");
	if (detail && *detail)
		buf_addf(&m, "%s%s", detail, aerrs[e].msg[0] ? ")" : "");
	else if (aerrs[e].inner)
		buf_addf(&m, " (%s)", aerrs[e].inner);
	r = send_json_error(s, aerrs[e].status, aerrs[e].code, m.ptr);
	buf_release(&m);
	return r;
}

static void send_json(struct s3_req *s, json_t *j)
{
	char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	s3_send_body(s, 200, "application/json", t, strlen(t));
	free(t);
}

/* The caller's secret: the key of the sealed bodies both ways. */
static const char *password(struct s3_req *s)
{
	return s->user ? s->user_secret.ptr : s->g->c.secret_key;
}

static void send_sealed(struct s3_req *s, json_t *j)
{
	char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	struct buf ct = BUF_INIT;

	madmin_encrypt(password(s), t, strlen(t), &ct);
	OPENSSL_cleanse(t, strlen(t));
	free(t);
	s3_send_body(s, 200, "application/json", ct.ptr, ct.len);
	buf_release(&ct);
}

/* ---------------------------------------------------------------- who may */

static const char *caller(struct s3_req *s)
{
	return s->user ? s->user->name : s->g->c.access_key;
}

/* The user a caller acts as: itself, or a service account's parent. */
static const char *caller_owner(struct s3_req *s)
{
	return s->user && s->user->parent ? s->user->parent : caller(s);
}

static enum policy_decision decide(struct s3_req *s, const char *action)
{
	struct policy_req pr = { caller(s), action, NULL, NULL, NULL, NULL };

	if (!s->user)
		return POLICY_ALLOW; /* the root key owns everything */
	return iam_eval(s->iam ? s->iam->parsed : NULL, s->user, &pr);
}

static int allowed(struct s3_req *s, const char *action)
{
	return decide(s, action) == POLICY_ALLOW;
}

/* ---------------------------------------------------------------- bodies */

static enum aerr read_body(struct s3_req *s, size_t cap, struct buf *out)
{
	enum s3_err e;

	if (s->body_len < 0)
		return A_TooLarge; /* MinIO refuses chunked config bodies too */
	if (s->body_len > (int64_t)cap)
		return cap == POLICY_MAX_BYTES ? A_EntityTooLarge : A_TooLarge;
	e = s3_read_body(s, cap, out);
	if (e == S3E_MalformedXML)
		return A_TooLarge;
	return e ? A_BadJSON : A_OK;
}

/* A sealed JSON object body, opened and parsed into *j. */
static enum aerr sealed_json(struct s3_req *s, json_t **j, struct buf *why)
{
	struct buf raw = BUF_INIT, pt = BUF_INIT;
	enum aerr e = read_body(s, BODY_CAP, &raw);
	int r;

	*j = NULL;
	if (e) {
		buf_release(&raw);
		return e;
	}
	r = madmin_decrypt(password(s), raw.ptr, raw.len, &pt);
	if (r) {
		buf_adds(why, r == -EBADMSG ? "sio: data is not authentic"
					    : "madmin: invalid encryption algorithm ID");
		e = A_BadJSON;
	} else if (!(*j = json_loadb(pt.ptr, pt.len, JSON_REJECT_DUPLICATES, NULL)) ||
		   !json_is_object(*j)) {
		json_decref(*j);
		*j = NULL;
		buf_adds(why, "not a JSON object");
		e = A_BadJSON;
	}
	OPENSSL_cleanse(pt.ptr, pt.len);
	buf_release(&pt);
	buf_release(&raw);
	return e;
}

/* A string member of j: its value, "" when absent; NULL when present but not a string. */
static const char *jstr(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	if (!v || json_is_null(v))
		return "";
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *qget(struct s3_req *s, const char *name)
{
	const char *v = s3_query_get(&s->q, name);

	return v ? v : "";
}

/* ---------------------------------------------------------------- mutations */

struct mut {
	struct s3_req *s;
	const char *a, *b; /* names from the query or body */
	const char *secret;
	int flag;          /* enabled, isRemove, isGroup, ... */
	const char *doc;   /* a policy document */
	size_t doclen;
	struct buf why;
	enum aerr err;     /* set by the callbacks for a refusal */
};

static enum aerr from_errno(int r)
{
	return r == -EBUSY ? A_Busy : r == -EINVAL ? A_InvalidArgument : A_Internal;
}

/* Run a change; the answer is sent when it fails. 0 when it was made. */
static int change(struct mut *m, iam_update_fn fn)
{
	int r;

	m->err = A_OK;
	r = iam_update(m->s->g->fs, fn, m, &m->why);
	s3cfg_cache_drop(m->s->g->cfg, "", IAM_DOC);
	if (!r)
		return 0;
	if (m->err == A_OK) {
		m->err = r == -E2BIG ? A_TooLarge : from_errno(r);
		if (r == -EUCLEAN)
			log_warn("s3 admin: the stored IAM document does not parse (%s)", m->why.ptr);
		if (r != -EINVAL)
			buf_reset(&m->why);
	}
	send_aerr(m->s, m->err, m->why.len ? m->why.ptr : NULL);
	return -1;
}

static int fail(struct mut *m, enum aerr e)
{
	m->err = e;
	return -EPERM;
}

static int do_add_user(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	const struct iam_user *u = iam_user_get(iam, m->a);
	int r;

	if (u && u->parent)
		return fail(m, A_NotAllowed);
	r = iam_user_put(iam, &m->s->g->iam_key, m->a, m->secret, m->flag, &m->why);
	if (!r && m->doc)
		r = iam_user_set_policies(iam, m->a, m->doc, &m->why);
	if (r == -EINVAL && m->doc && strstr(m->why.ptr, "no such policy"))
		return fail(m, A_NoSuchPolicy);
	return r;
}

static int do_remove_user(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	const struct iam_user *u = iam_user_get(iam, m->a);

	if (!u || u->parent)
		return fail(m, A_NoSuchUser);
	return iam_user_remove(iam, m->a);
}

static int do_user_status(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	const struct iam_user *u = iam_user_get(iam, m->a);

	if (!u)
		return fail(m, A_NoSuchUser);
	if (u->parent)
		return fail(m, A_NotAllowed);
	return iam_user_set_enabled(iam, m->a, m->flag);
}

static int do_add_policy(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	int r = iam_policy_add(iam, m->a, m->doc, m->doclen, &m->why);

	if (r == -EINVAL || r == -E2BIG)
		return fail(m, A_MalformedPolicy);
	return r;
}

static int do_remove_policy(struct iam *iam, void *arg)
{
	return iam_policy_remove_detach(iam, ((struct mut *)arg)->a);
}

static int do_set_policy(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	const struct iam_user *u;
	int r;

	if (m->flag) {
		if (!iam_group_get(iam, m->b))
			return fail(m, A_NoSuchGroup);
		r = iam_group_set_policies(iam, m->b, m->a, &m->why);
	} else {
		if (!(u = iam_user_get(iam, m->b)))
			return fail(m, A_NoSuchUser);
		if (u->parent)
			return fail(m, A_NotAllowed);
		r = iam_user_set_policies(iam, m->b, m->a, &m->why);
	}
	if (r == -EINVAL) {
		buf_reset(&m->why);
		return fail(m, A_NoSuchPolicy);
	}
	return r;
}

static int do_group_members(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	int r = iam_group_update_members(iam, m->a, m->b, m->flag, &m->why);

	if (r == -ENOENT) {
		r = fail(m, m->why.len ? A_NoSuchUser : A_NoSuchGroup);
		buf_reset(&m->why);
	} else if (r == -ENOTEMPTY) {
		r = fail(m, A_GroupNotEmpty);
	}
	return r;
}

static int do_group_status(struct iam *iam, void *arg)
{
	struct mut *m = arg;

	if (!iam_group_get(iam, m->a))
		return fail(m, A_NoSuchGroup);
	return iam_group_set_enabled(iam, m->a, m->flag);
}

static int do_svc_add(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	int r = iam_svc_add(iam, &m->s->g->iam_key, m->b, m->a, m->secret, m->doc, m->doclen,
			    &m->why);

	if (r == -ENOENT)
		return fail(m, A_NoSuchUser);
	if (r == -EEXIST)
		return fail(m, A_InvalidAccessKey); /* taken, by a user or another account */
	if (r == -EINVAL)
		return fail(m, A_MalformedPolicy);
	return r;
}

/* The service account m->a, which the caller may manage (or 404, as MinIO hides it). */
static int svc_mine(struct mut *m, struct iam *iam, const char *action)
{
	const struct iam_user *u = iam_user_get(iam, m->a);

	if (!u || !u->parent)
		return fail(m, A_NoSuchSvc);
	if (!allowed(m->s, action) && strcmp(u->parent, caller_owner(m->s)))
		return fail(m, A_NoSuchSvc);
	return 0;
}

static int do_svc_remove(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	int r = svc_mine(m, iam, "admin:RemoveServiceAccount");

	return r ? r : iam_user_remove(iam, m->a);
}

static int do_svc_update(struct iam *iam, void *arg)
{
	struct mut *m = arg;
	int r = svc_mine(m, iam, "admin:UpdateServiceAccount");

	if (r)
		return r;
	r = iam_svc_update(iam, &m->s->g->iam_key, m->a, m->secret, m->flag, m->doc, m->doclen,
			   &m->why);
	if (r == -EINVAL)
		return fail(m, m->doc && m->why.len && !strstr(m->why.ptr, "secret")
				       ? A_MalformedPolicy
				       : A_InvalidSecretKey);
	return r;
}

/* ---------------------------------------------------------------- routes */

static int ok_empty(struct s3_req *s)
{
	return s3_send_empty(s, 200);
}

static void user_json(const struct iam *iam, const struct iam_user *u, json_t *o, int member_of)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < u->npolicies; i++)
		buf_addf(&b, "%s%s", i ? "," : "", u->policies[i]);
	if (b.len)
		json_object_set_new(o, "policyName", json_string(b.ptr));
	json_object_set_new(o, "status", json_string(u->enabled ? "enabled" : "disabled"));
	if (member_of) {
		json_t *a = json_array();
		const char *p;

		buf_reset(&b);
		iam_user_groups(iam, u->name, &b);
		for (p = b.ptr; *p;) {
			size_t l = strcspn(p, ",");

			json_array_append_new(a, json_stringn(p, l));
			p += l + (p[l] == ',');
		}
		if (json_array_size(a))
			json_object_set_new(o, "memberOf", a);
		else
			json_decref(a);
	}
	buf_release(&b);
}

/* A policy document as JSON (stored ones are valid JSON). */
static json_t *doc_json(const char *doc)
{
	json_t *j = json_loads(doc, 0, NULL);

	return j ? j : json_object();
}

/* The union of the statements of a user's policies and its enabled groups'. */
static json_t *combined_policy(const struct iam *iam, const struct iam_user *u)
{
	json_t *o = json_object(), *st = json_array();
	size_t ng;
	const struct iam_group *g = iam_groups(iam, &ng);

	json_object_set_new(o, "Version", json_string("2012-10-17"));
	for (size_t k = 0; k <= ng; k++) {
		char **v = k == 0 ? u->policies : g[k - 1].policies;
		size_t n = k == 0 ? u->npolicies : g[k - 1].npolicies;
		int member = k == 0;

		for (size_t j = 0; k && !g[k - 1].disabled && j < g[k - 1].nmembers; j++)
			member |= !strcmp(g[k - 1].members[j], u->name);
		for (size_t i = 0; member && i < n; i++) {
			const char *d = iam_policy_doc(iam, v[i]);
			json_t *pj = d ? json_loads(d, 0, NULL) : NULL;

			json_array_extend(st, json_object_get(pj, "Statement"));
			json_decref(pj);
		}
	}
	json_object_set_new(o, "Statement", st);
	return o;
}

static void gen_key(char *out, size_t n, const char *alphabet)
{
	uint8_t r[64];
	size_t al = strlen(alphabet);

	random_bytes(r, n);
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[r[i] % al];
	out[n] = 0;
}

static int route_admin(struct s3_req *s, const char *op)
{
	struct mut m = { .s = s, .why = BUF_INIT };
	struct iam *iam = NULL;
	json_t *j = NULL, *o = NULL;
	struct buf body = BUF_INIT;
	const char *method = s->method;
	enum aerr e = A_OK;
	int rc = 0, r;

#define NEED(action)                                 \
	do {                                         \
		if (!allowed(s, action)) {           \
			e = A_AccessDenied;          \
			goto out;                    \
		}                                    \
	} while (0)
#define LOAD()                                       \
	do {                                         \
		if ((r = iam_load(s->g->fs, &iam))) { \
			e = from_errno(r);           \
			goto out;                    \
		}                                    \
	} while (0)

	(void)method;
	if (!strcmp(op, "add-user")) {
		m.a = qget(s, "accessKey");
		if (!strcmp(m.a, s->g->c.access_key)) {
			e = A_RootAsUser;
			goto out;
		}
		/* your own password: allowed unless explicitly denied */
		if (!(s->user && !strcmp(m.a, caller(s)) && !s->user->parent &&
		      decide(s, "admin:CreateUser") != POLICY_DENY))
			NEED("admin:CreateUser");
		if (s->user && s->user->parent && !strcmp(m.a, s->user->parent)) {
			e = A_NotAllowed;
			goto out;
		}
		if ((e = sealed_json(s, &j, &m.why)))
			goto out;
		m.secret = jstr(j, "secretKey");
		if (!m.secret || !jstr(j, "status") || !jstr(j, "policyName") || !*m.a) {
			e = A_InvalidArgument;
			goto out;
		}
		m.flag = strcmp(jstr(j, "status"), "disabled") != 0;
		m.doc = *jstr(j, "policyName") ? jstr(j, "policyName") : NULL;
		if (!change(&m, do_add_user))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "remove-user")) {
		NEED("admin:DeleteUser");
		m.a = qget(s, "accessKey");
		if (!change(&m, do_remove_user))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "list-users")) {
		size_t n;
		const struct iam_user **v;

		NEED("admin:ListUsers");
		LOAD();
		o = json_object();
		v = iam_users(iam, &n);
		for (size_t i = 0; i < n; i++) {
			json_t *u = json_object();

			if (v[i]->parent) {
				json_decref(u);
				continue;
			}
			user_json(iam, v[i], u, 0);
			json_object_set_new(o, v[i]->name, u);
		}
		free(v);
		send_sealed(s, o);
		goto done;
	} else if (!strcmp(op, "user-info")) {
		const struct iam_user *u;

		m.a = qget(s, "accessKey");
		if (strcmp(m.a, caller(s)) && strcmp(m.a, caller_owner(s)))
			NEED("admin:GetUser");
		LOAD();
		if (!(u = iam_user_get(iam, m.a)) || u->parent) {
			e = A_NoSuchUser;
			goto out;
		}
		o = json_object();
		user_json(iam, u, o, 1);
		send_json(s, o);
		goto done;
	} else if (!strcmp(op, "set-user-status")) {
		const char *st = qget(s, "status");

		NEED("admin:EnableUser");
		m.a = qget(s, "accessKey");
		if (!strcmp(m.a, s->g->c.access_key)) {
			e = A_InvalidRequest;
			goto out;
		}
		if (strcmp(st, "enabled") && strcmp(st, "disabled")) {
			e = A_InvalidArgument;
			goto out;
		}
		m.flag = !strcmp(st, "enabled");
		if (!change(&m, do_user_status))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "add-canned-policy")) {
		NEED("admin:CreatePolicy");
		m.a = qget(s, "name");
		if (!*m.a) {
			e = A_InvalidArgument;
			goto out;
		}
		if (s->body_len == 0) {
			e = A_MissingContentLength;
			goto out;
		}
		if ((e = read_body(s, POLICY_MAX_BYTES, &body)))
			goto out;
		m.doc = body.ptr;
		m.doclen = body.len;
		if (!change(&m, do_add_policy))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "remove-canned-policy")) {
		NEED("admin:DeletePolicy");
		m.a = qget(s, "name");
		if (!*m.a) {
			e = A_InvalidArgument;
			goto out;
		}
		if (!change(&m, do_remove_policy))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "list-canned-policies")) {
		size_t n;
		const char **v;

		NEED("admin:ListUserPolicies");
		LOAD();
		o = json_object();
		v = iam_policy_names(iam, &n);
		for (size_t i = 0; i < n; i++)
			json_object_set_new(o, v[i], doc_json(iam_policy_doc(iam, v[i])));
		free(v);
		send_json(s, o);
		goto done;
	} else if (!strcmp(op, "info-canned-policy")) {
		const char *d;

		NEED("admin:GetPolicy");
		m.a = qget(s, "name");
		LOAD();
		if (!(d = iam_policy_doc(iam, m.a))) {
			e = A_NoSuchPolicy;
			goto out;
		}
		s3_send_body(s, 200, "application/json", d, strlen(d));
		goto done;
	} else if (!strcmp(op, "set-user-or-group-policy")) {
		NEED("admin:AttachUserOrGroupPolicy");
		m.a = qget(s, "policyName");
		m.b = qget(s, "userOrGroup");
		m.flag = !strcmp(qget(s, "isGroup"), "true");
		if (!*m.b) {
			e = A_InvalidArgument;
			goto out;
		}
		if (!change(&m, do_set_policy))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "update-group-members")) {
		json_t *ms, *v;
		struct buf list = BUF_INIT;
		size_t i;

		NEED("admin:AddUserToGroup");
		if ((e = read_body(s, BODY_CAP, &body)))
			goto out;
		j = json_loadb(body.ptr, body.len, JSON_REJECT_DUPLICATES, NULL);
		ms = json_object_get(j, "members");
		if (!json_is_object(j) || !jstr(j, "group") || (ms && !json_is_array(ms) && !json_is_null(ms)) ||
		    (json_object_get(j, "isRemove") && !json_is_boolean(json_object_get(j, "isRemove")))) {
			e = A_InvalidRequest; /* as the real gateway answers a body it cannot decode */
			goto out;
		}
		json_array_foreach(ms, i, v) {
			if (!json_is_string(v) || strchr(json_string_value(v), ',') ||
			    !*json_string_value(v)) {
				buf_release(&list);
				e = A_InvalidArgument;
				goto out;
			}
			buf_addf(&list, "%s%s", i ? "," : "", json_string_value(v));
		}
		m.a = jstr(j, "group");
		m.b = list.ptr;
		m.flag = json_is_true(json_object_get(j, "isRemove"));
		if (!*m.a) {
			buf_release(&list);
			e = A_InvalidArgument;
			goto out;
		}
		if (!change(&m, do_group_members))
			rc = ok_empty(s);
		buf_release(&list);
		goto done;
	} else if (!strcmp(op, "group")) {
		const struct iam_group *g;
		json_t *ms;
		struct buf pol = BUF_INIT;

		NEED("admin:GetGroup");
		LOAD();
		if (!(g = iam_group_get(iam, qget(s, "group")))) {
			e = A_NoSuchGroup;
			goto out;
		}
		o = json_object();
		json_object_set_new(o, "name", json_string(g->name));
		json_object_set_new(o, "status", json_string(g->disabled ? "disabled" : "enabled"));
		ms = g->nmembers ? json_array() : json_null();
		for (size_t i = 0; i < g->nmembers; i++)
			json_array_append_new(ms, json_string(g->members[i]));
		json_object_set_new(o, "members", ms);
		for (size_t i = 0; !g->disabled && i < g->npolicies; i++)
			buf_addf(&pol, "%s%s", i ? "," : "", g->policies[i]);
		json_object_set_new(o, "policy", json_string(pol.ptr));
		buf_release(&pol);
		send_json(s, o);
		goto done;
	} else if (!strcmp(op, "groups")) {
		size_t n;
		const struct iam_group *g;

		NEED("admin:ListGroups");
		LOAD();
		g = iam_groups(iam, &n);
		o = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(o, json_string(g[i].name));
		send_json(s, o);
		goto done;
	} else if (!strcmp(op, "set-group-status")) {
		const char *st = qget(s, "status");

		NEED("admin:EnableGroup");
		m.a = qget(s, "group");
		if (strcmp(st, "enabled") && strcmp(st, "disabled")) {
			e = A_InvalidArgument;
			goto out;
		}
		m.flag = !strcmp(st, "enabled");
		if (!change(&m, do_group_status))
			rc = ok_empty(s);
		goto done;
	} else if (!strcmp(op, "add-service-account")) {
		char ak[21], sk[41];
		json_t *pol, *cr;
		char *pdoc = NULL;
		const char *target;

		if ((e = sealed_json(s, &j, &m.why)))
			goto out;
		target = jstr(j, "targetUser");
		m.a = jstr(j, "accessKey");
		m.secret = jstr(j, "secretKey");
		pol = json_object_get(j, "policy");
		if (!target || !m.a || !m.secret || (pol && !json_is_object(pol) && !json_is_null(pol))) {
			e = A_BadJSON;
			goto out;
		}
		if (!s->user) {
			if (!*target || !strcmp(target, s->g->c.access_key)) {
				e = A_RootSvc;
				goto out;
			}
			m.b = target;
		} else if (!*target || !strcmp(target, caller(s)) ||
			   !strcmp(target, caller_owner(s))) {
			m.b = caller_owner(s);
		} else {
			NEED("admin:CreateServiceAccount");
			m.b = target;
		}
		if (!*m.a) {
			gen_key(ak, 20, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			m.a = ak;
		} else if (strlen(m.a) < 3 || strlen(m.a) > 20) {
			e = A_InvalidAccessKey;
			goto out;
		}
		if (!*m.secret) {
			gen_key(sk, 40,
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
			m.secret = sk;
		} else if (strlen(m.secret) < 8 || strlen(m.secret) > 40) {
			e = A_InvalidSecretKey;
			goto out;
		}
		if (json_is_object(pol)) {
			pdoc = json_dumps(pol, JSON_COMPACT | JSON_PRESERVE_ORDER);
			m.doc = pdoc;
			m.doclen = strlen(pdoc);
		}
		r = change(&m, do_svc_add);
		free(pdoc);
		if (!r) {
			o = json_object();
			cr = json_object();
			json_object_set_new(cr, "accessKey", json_string(m.a));
			json_object_set_new(cr, "secretKey", json_string(m.secret));
			json_object_set_new(cr, "expiration", json_string("0001-01-01T00:00:00Z"));
			json_object_set_new(o, "credentials", cr);
			send_sealed(s, o);
		}
		OPENSSL_cleanse(sk, sizeof(sk));
		goto done;
	} else if (!strcmp(op, "list-service-accounts")) {
		const char *who = qget(s, "user");
		size_t n;
		const struct iam_user **v;
		json_t *a;

		/* as MinIO: naming a user, even yourself, needs the admin action */
		if (!*who)
			who = caller_owner(s);
		else
			NEED("admin:ListServiceAccounts");
		LOAD();
		a = json_array();
		v = iam_users(iam, &n);
		for (size_t i = 0; i < n; i++)
			if (v[i]->parent && !strcmp(v[i]->parent, who))
				json_array_append_new(a, json_string(v[i]->name));
		free(v);
		o = json_object();
		json_object_set_new(o, "accounts", json_array_size(a) ? a : json_null());
		if (!json_array_size(a))
			json_decref(a);
		send_sealed(s, o);
		goto done;
	} else if (!strcmp(op, "delete-service-account")) {
		m.a = qget(s, "accessKey");
		if (!change(&m, do_svc_remove))
			rc = s3_send_empty(s, 204);
		goto done;
	} else if (!strcmp(op, "info-service-account")) {
		const struct iam_user *u, *p;
		json_t *pj;
		char *t;

		m.a = qget(s, "accessKey");
		LOAD();
		u = iam_user_get(iam, m.a);
		if (!u || !u->parent ||
		    (!allowed(s, "admin:ListServiceAccounts") &&
		     strcmp(u->parent, caller_owner(s)))) {
			e = A_NoSuchSvc;
			goto out;
		}
		p = iam_user_get(iam, u->parent);
		pj = u->sa_doc ? doc_json(u->sa_doc) : p ? combined_policy(iam, p) : json_object();
		t = json_dumps(pj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(pj);
		o = json_object();
		json_object_set_new(o, "parentUser", json_string(u->parent));
		json_object_set_new(o, "accountStatus", json_string(u->enabled ? "on" : "off"));
		json_object_set_new(o, "impliedPolicy", json_boolean(!u->sa_doc));
		json_object_set_new(o, "policy", json_string(t));
		free(t);
		send_sealed(s, o);
		goto done;
	} else if (!strcmp(op, "update-service-account")) {
		json_t *pol;
		const char *st, *nsk;
		char *pdoc = NULL;

		m.a = qget(s, "accessKey");
		if ((e = sealed_json(s, &j, &m.why)))
			goto out;
		st = jstr(j, "newStatus");
		nsk = jstr(j, "newSecretKey");
		pol = json_object_get(j, "newPolicy");
		if (!st || !nsk || (pol && !json_is_object(pol) && !json_is_null(pol)) ||
		    (*st && strcmp(st, "on") && strcmp(st, "off"))) {
			e = !st || !nsk ? A_BadJSON : A_InvalidArgument;
			goto out;
		}
		m.flag = *st ? !strcmp(st, "on") : -1;
		m.secret = *nsk ? nsk : NULL;
		if (json_is_object(pol)) {
			/* an empty object drops the account's own policy */
			pdoc = json_object_size(pol) ? json_dumps(pol, JSON_COMPACT | JSON_PRESERVE_ORDER)
						     : xstrdup("");
			m.doc = pdoc;
			m.doclen = strlen(pdoc);
		}
		r = change(&m, do_svc_update);
		free(pdoc);
		if (!r)
			rc = s3_send_empty(s, 204);
		goto done;
	} else if (!strcmp(op, "info") || !strcmp(op, "storageinfo") ||
		   !strcmp(op, "datausageinfo") || !strcmp(op, "service") || !strcmp(op, "update")) {
		e = A_NotImplemented;
		goto out;
	}
	rc = send_json_error(s, 426, "XMinioAdminVersionMismatch",
			     "This 'admin' API is not supported by server in 'mode-server-juicefs'");
	goto done;
#undef NEED
#undef LOAD
out:
	rc = send_aerr(s, e, m.why.len ? m.why.ptr : NULL);
done:
	json_decref(j);
	json_decref(o);
	iam_free(iam);
	OPENSSL_cleanse(body.ptr, body.len);
	buf_release(&body);
	buf_release(&m.why);
	return rc;
}

int s3admin_is_admin(const char *raw_path)
{
	return raw_path && !strncmp(raw_path, ADMIN_PREFIX, strlen(ADMIN_PREFIX));
}

int s3admin_handle(struct s3_req *s, enum s3_err auth)
{
	const char *p = gw_req_raw_path(s->r) + strlen(ADMIN_PREFIX);
	const char *op = strchr(p, '/');

	if (auth)
		return send_json_error(s, s3_err_status(auth), s3_err_code(auth),
				       s3_err_message(auth));
	/* madmin always sends the payload hash; MinIO refuses admin calls without it */
	if (!gw_req_header(s->r, "x-amz-content-sha256") || s->sv.presigned)
		return send_aerr(s, A_AccessDenied, NULL);
	if (!op || (strncmp(p, "v3/", 3) && strncmp(p, "v2/", 3))) {
		struct buf m = BUF_INIT;
		int r;

		buf_addf(&m, "Unexpected client 'admin' API version found '%.*s', expected 'v3', "
			     "please downgrade the client to older releases",
			 op ? (int)(op - p) : (int)strlen(p), p);
		r = send_json_error(s, 426, "XMinioAdminVersionMismatch", m.ptr);
		buf_release(&m);
		return r;
	}
	return route_admin(s, op + 1);
}
