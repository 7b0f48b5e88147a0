/*
 * gateway/iam.c: the user and policy store (contract in iam.h).
 */
#include "gateway/iam.h"
#include "gateway/s3.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>

struct cpol {
	char *name, *doc;
	struct policy *p;
};

struct iam {
	struct iam_user *users;
	size_t nusers;
	struct iam_group *groups;
	size_t ngroups;
	struct cpol *pols;
	size_t npols;
};

/* MinIO's canned policies (facts of its documentation, in AWS's grammar). */
static const struct {
	const char *name, *doc;
} canned[] = {
	/* as the real gateway lists it: an admin statement without Resource */
	{ "consoleAdmin",
	  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
	  "[\"admin:*\"]},{\"Effect\":\"Allow\",\"Action\":[\"s3:*\"],\"Resource\":"
	  "[\"arn:aws:s3:::*\"]}]}" },
	{ "readonly",
	  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
	  "[\"s3:GetBucketLocation\",\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::*\"]}]}" },
	{ "readwrite",
	  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
	  "[\"s3:*\"],\"Resource\":[\"arn:aws:s3:::*\"]}]}" },
	{ "writeonly",
	  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
	  "[\"s3:PutObject\"],\"Resource\":[\"arn:aws:s3:::*\"]}]}" },
};
#define NCANNED (sizeof(canned) / sizeof(canned[0]))
static struct policy *canned_p[NCANNED];
static pthread_once_t canned_once = PTHREAD_ONCE_INIT;

static void canned_init(void)
{
	for (size_t i = 0; i < NCANNED; i++) {
		int r = policy_parse(canned[i].doc, strlen(canned[i].doc), POLICY_IAM, NULL,
				     &canned_p[i], NULL);

		BUG_ON(r != 0);
	}
}

static int canned_index(const char *name)
{
	for (size_t i = 0; i < NCANNED; i++)
		if (!strcmp(canned[i].name, name))
			return (int)i;
	return -1;
}

/* ---------------------------------------------------------------- sealing */

void iam_key_derive(const char *root_access, const char *root_secret, struct iam_key *out)
{
	struct buf m = BUF_INIT;

	buf_addf(&m, "juicefs-c iam secret v1:%s", root_access);
	s3_hmac_sha256(root_secret, strlen(root_secret), m.ptr, m.len, out->k);
	buf_release(&m);
}

/* base64(nonce 12 | ciphertext | tag 16) of secret into out. */
static void seal(const struct iam_key *key, const char *secret, struct buf *out)
{
	size_t n = strlen(secret);
	uint8_t *raw = xmalloc(12 + n + 16);
	char *b64 = xmalloc(((12 + n + 16 + 2) / 3) * 4 + 1);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	random_bytes(raw, 12);
	BUG_ON(!(c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->k, raw) == 1 &&
		 EVP_EncryptUpdate(c, raw + 12, &l1, (const uint8_t *)secret, (int)n) == 1 &&
		 EVP_EncryptFinal_ex(c, raw + 12 + l1, &l2) == 1 &&
		 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, raw + 12 + n) == 1));
	EVP_CIPHER_CTX_free(c);
	EVP_EncodeBlock((uint8_t *)b64, raw, (int)(12 + n + 16));
	buf_adds(out, b64);
	free(raw);
	free(b64);
}

int iam_user_secret(const struct iam_user *u, const struct iam_key *key, struct buf *out)
{
	size_t bl = strlen(u->sealed), pad = 0;
	uint8_t *raw;
	EVP_CIPHER_CTX *c;
	int n, l1 = 0, l2 = 0, ok;

	buf_reset(out);
	if (bl % 4 || bl < 40 || bl > 4096)
		return -EACCES;
	pad = (u->sealed[bl - 1] == '=') + (u->sealed[bl - 2] == '=');
	raw = xmalloc(bl);
	n = EVP_DecodeBlock(raw, (const uint8_t *)u->sealed, (int)bl);
	if (n < 0 || (n -= (int)pad) < 12 + 16 + 1) {
		free(raw);
		return -EACCES;
	}
	buf_grow(out, (size_t)n);
	c = EVP_CIPHER_CTX_new();
	ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->k, raw) == 1 &&
	     EVP_DecryptUpdate(c, (uint8_t *)out->ptr, &l1, raw + 12, n - 28) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, raw + n - 16) == 1 &&
	     EVP_DecryptFinal_ex(c, (uint8_t *)out->ptr + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(c);
	free(raw);
	if (!ok || memchr(out->ptr, 0, (size_t)(l1 + l2))) {
		buf_reset(out);
		return -EACCES;
	}
	out->len = (size_t)(l1 + l2);
	out->ptr[out->len] = 0;
	return 0;
}

/* ---------------------------------------------------------------- the store */

struct iam *iam_new(void)
{
	pthread_once(&canned_once, canned_init);
	return xcalloc(1, sizeof(struct iam));
}

static void user_release(struct iam_user *u)
{
	free(u->name);
	free(u->sealed);
	free(u->parent);
	free(u->sa_doc);
	policy_free(u->sa_policy);
	for (size_t i = 0; i < u->npolicies; i++)
		free(u->policies[i]);
	free(u->policies);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void group_release(struct iam_group *g)
{
	free(g->name);
	strv_free(g->members, g->nmembers);
	strv_free(g->policies, g->npolicies);
}

void iam_free(struct iam *iam)
{
	if (!iam)
		return;
	for (size_t i = 0; i < iam->ngroups; i++)
		group_release(&iam->groups[i]);
	free(iam->groups);
	for (size_t i = 0; i < iam->nusers; i++)
		user_release(&iam->users[i]);
	free(iam->users);
	for (size_t i = 0; i < iam->npols; i++) {
		free(iam->pols[i].name);
		free(iam->pols[i].doc);
		policy_free(iam->pols[i].p);
	}
	free(iam->pols);
	free(iam);
}

static int name_ok(const char *s, const char *extra, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return 0;
	return 1;
}

#define USER_CHARS "._@+=-"
#define POLICY_CHARS "._-"

static struct cpol *find_pol(const struct iam *iam, const char *name)
{
	for (size_t i = 0; i < iam->npols; i++)
		if (!strcmp(iam->pols[i].name, name))
			return &iam->pols[i];
	return NULL;
}

const struct iam_user *iam_user_get(const struct iam *iam, const char *name)
{
	for (size_t i = 0; iam && i < iam->nusers; i++)
		if (!strcmp(iam->users[i].name, name))
			return &iam->users[i];
	return NULL;
}

static struct iam_user *user_mut(struct iam *iam, const char *name)
{
	return (struct iam_user *)iam_user_get(iam, name);
}

/* "a,b" into *out (replacing it); users: names of users, else of policies, each must exist. */
static int name_list(struct iam *iam, const char *list, int users, char ***out, size_t *nout,
		     struct buf *why)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = list;

	while (*p) {
		size_t l = strcspn(p, ",");
		char *name = xstrndup(p, l);
		const struct iam_user *u = users ? iam_user_get(iam, name) : NULL;
		int ok = users ? u && !u->parent
			       : canned_index(name) >= 0 || find_pol(iam, name);

		if (!ok) {
			if (why)
				buf_addf(why, "no such %s \"%s\"", users ? "user" : "policy", name);
			free(name);
			strv_free(v, n);
			return -EINVAL;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = name;
		p += l;
		if (*p == ',')
			p++;
	}
	strv_free(*out, *nout);
	*out = v;
	*nout = n;
	return 0;
}

static int set_policies(struct iam *iam, struct iam_user *u, const char *list, struct buf *why)
{
	return name_list(iam, list, 0, &u->policies, &u->npolicies, why);
}

static struct iam_group *find_group(const struct iam *iam, const char *name)
{
	for (size_t i = 0; i < iam->ngroups; i++)
		if (!strcmp(iam->groups[i].name, name))
			return &iam->groups[i];
	return NULL;
}

int iam_group_add(struct iam *iam, const char *name, const char *members, const char *policies,
		  struct buf *why)
{
	struct iam_group g = { 0 };
	int r;

	if (!name_ok(name, POLICY_CHARS, 1, 128)) {
		if (why)
			buf_adds(why, "a group name is 1-128 of [A-Za-z0-9._-]");
		return -EINVAL;
	}
	if (find_group(iam, name))
		return -EEXIST;
	if ((r = name_list(iam, members, 1, &g.members, &g.nmembers, why)) ||
	    (r = name_list(iam, policies, 0, &g.policies, &g.npolicies, why))) {
		group_release(&g);
		return r;
	}
	g.name = xstrdup(name);
	iam->groups = xrealloc(iam->groups, (iam->ngroups + 1) * sizeof(*iam->groups));
	iam->groups[iam->ngroups++] = g;
	return 0;
}

int iam_group_remove(struct iam *iam, const char *name)
{
	struct iam_group *g = find_group(iam, name);

	if (!g)
		return -ENOENT;
	group_release(g);
	*g = iam->groups[--iam->ngroups];
	return 0;
}

int iam_group_set_policies(struct iam *iam, const char *name, const char *policies,
			   struct buf *why)
{
	struct iam_group *g = find_group(iam, name);

	return g ? name_list(iam, policies, 0, &g->policies, &g->npolicies, why) : -ENOENT;
}

static void join(struct buf *out, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_addf(out, "%s%s", i ? "," : "", v[i]);
}

void iam_groups_list(const struct iam *iam, struct buf *out)
{
	for (size_t i = 0; i < iam->ngroups; i++) {
		buf_addf(out, "%s\t", iam->groups[i].name);
		join(out, iam->groups[i].members, iam->groups[i].nmembers);
		buf_addch(out, '\t');
		join(out, iam->groups[i].policies, iam->groups[i].npolicies);
		buf_addch(out, '\n');
	}
}

int iam_user_add(struct iam *iam, const struct iam_key *key, const char *name, const char *secret,
		 const char *policies, struct buf *why)
{
	struct iam_user u = { 0 };
	int r;

	if (!name_ok(name, USER_CHARS, 3, 128)) {
		if (why)
			buf_adds(why, "a user name (access key) is 3-128 of [A-Za-z0-9._@+=-]");
		return -EINVAL;
	}
	if (strlen(secret) < 8 || strlen(secret) > 40) {
		if (why)
			buf_adds(why, "a secret key is 8-40 characters");
		return -EINVAL;
	}
	if (iam_user_get(iam, name))
		return -EEXIST;
	if ((r = set_policies(iam, &u, policies, why)))
		return r;
	u.name = xstrdup(name);
	u.enabled = 1;
	{
		struct buf b = BUF_INIT;

		seal(key, secret, &b);
		u.sealed = buf_detach(&b, NULL);
	}
	iam->users = xrealloc(iam->users, (iam->nusers + 1) * sizeof(*iam->users));
	iam->users[iam->nusers++] = u;
	return 0;
}

int iam_user_remove(struct iam *iam, const char *name)
{
	struct iam_user *u = user_mut(iam, name);

	if (!u)
		return -ENOENT;
	if (!u->parent) {
		/* its service accounts go with it */
		for (size_t i = 0; i < iam->nusers; i++) {
			if (iam->users[i].parent && !strcmp(iam->users[i].parent, name)) {
				user_release(&iam->users[i]);
				iam->users[i--] = iam->users[--iam->nusers];
			}
		}
		u = user_mut(iam, name);
	}
	for (size_t i = 0; i < iam->ngroups; i++) {
		struct iam_group *g = &iam->groups[i];

		for (size_t j = 0; j < g->nmembers; j++) {
			if (!strcmp(g->members[j], name)) {
				free(g->members[j]);
				g->members[j--] = g->members[--g->nmembers];
			}
		}
	}
	user_release(u);
	*u = iam->users[--iam->nusers];
	return 0;
}

int iam_user_set_enabled(struct iam *iam, const char *name, int enabled)
{
	struct iam_user *u = user_mut(iam, name);

	if (!u)
		return -ENOENT;
	u->enabled = !!enabled;
	return 0;
}

int iam_user_set_policies(struct iam *iam, const char *name, const char *policies,
			  struct buf *why)
{
	struct iam_user *u = user_mut(iam, name);

	return u ? set_policies(iam, u, policies, why) : -ENOENT;
}

int iam_policy_add(struct iam *iam, const char *name, const char *doc, size_t len,
		   struct buf *why)
{
	struct policy *p;
	struct cpol *c;
	int r;

	if (!name_ok(name, POLICY_CHARS, 1, 128) || canned_index(name) >= 0) {
		if (why)
			buf_adds(why, "a policy name is 1-128 of [A-Za-z0-9._-], not a canned one");
		return -EINVAL;
	}
	if ((r = policy_parse(doc, len, POLICY_IAM, NULL, &p, why)))
		return r;
	if ((c = find_pol(iam, name))) {
		free(c->doc);
		policy_free(c->p);
	} else {
		iam->pols = xrealloc(iam->pols, (iam->npols + 1) * sizeof(*iam->pols));
		c = &iam->pols[iam->npols++];
		c->name = xstrdup(name);
	}
	c->doc = xstrndup(doc, len);
	c->p = p;
	return 0;
}

int iam_policy_remove(struct iam *iam, const char *name)
{
	struct cpol *c = find_pol(iam, name);

	if (!c)
		return -ENOENT;
	for (size_t i = 0; i < iam->nusers; i++)
		for (size_t j = 0; j < iam->users[i].npolicies; j++)
			if (!strcmp(iam->users[i].policies[j], name))
				return -EBUSY;
	for (size_t i = 0; i < iam->ngroups; i++)
		for (size_t j = 0; j < iam->groups[i].npolicies; j++)
			if (!strcmp(iam->groups[i].policies[j], name))
				return -EBUSY;
	free(c->name);
	free(c->doc);
	policy_free(c->p);
	*c = iam->pols[--iam->npols];
	return 0;
}

const char *iam_policy_doc(const struct iam *iam, const char *name)
{
	int i = canned_index(name);
	struct cpol *c;

	if (i >= 0)
		return canned[i].doc;
	c = find_pol(iam, name);
	return c ? c->doc : NULL;
}

const char **iam_policy_names(const struct iam *iam, size_t *n)
{
	const char **v = xcalloc(NCANNED + iam->npols + 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; i < NCANNED; i++)
		v[(*n)++] = canned[i].name;
	for (size_t i = 0; i < iam->npols; i++)
		v[(*n)++] = iam->pols[i].name;
	return v;
}

const struct iam_user **iam_users(const struct iam *iam, size_t *n)
{
	const struct iam_user **v = xcalloc(iam->nusers + 1, sizeof(*v));

	for (size_t i = 0; i < iam->nusers; i++)
		v[i] = &iam->users[i];
	*n = iam->nusers;
	return v;
}

int iam_user_put(struct iam *iam, const struct iam_key *key, const char *name, const char *secret,
		 int enabled, struct buf *why)
{
	struct iam_user *u = user_mut(iam, name);
	struct buf b = BUF_INIT;
	int r;

	if (!u) {
		if ((r = iam_user_add(iam, key, name, secret, "", why)))
			return r;
		return iam_user_set_enabled(iam, name, enabled);
	}
	if (u->parent)
		return -EPERM;
	if (strlen(secret) < 8 || strlen(secret) > 40) {
		if (why)
			buf_adds(why, "a secret key is 8-40 characters");
		return -EINVAL;
	}
	seal(key, secret, &b);
	free(u->sealed);
	u->sealed = buf_detach(&b, NULL);
	u->enabled = !!enabled;
	return 0;
}

void iam_user_groups(const struct iam *iam, const char *name, struct buf *out)
{
	int first = 1;

	for (size_t i = 0; i < iam->ngroups; i++)
		for (size_t j = 0; j < iam->groups[i].nmembers; j++)
			if (!strcmp(iam->groups[i].members[j], name)) {
				buf_addf(out, "%s%s", first ? "" : ",", iam->groups[i].name);
				first = 0;
				break;
			}
}

const struct iam_group *iam_group_get(const struct iam *iam, const char *name)
{
	return find_group(iam, name);
}

const struct iam_group *iam_groups(const struct iam *iam, size_t *n)
{
	*n = iam->ngroups;
	return iam->groups;
}

int iam_group_set_enabled(struct iam *iam, const char *name, int enabled)
{
	struct iam_group *g = find_group(iam, name);

	if (!g)
		return -ENOENT;
	g->disabled = !enabled;
	return 0;
}

int iam_group_update_members(struct iam *iam, const char *name, const char *members, int remove,
			     struct buf *why)
{
	struct iam_group *g = find_group(iam, name);
	char **v = NULL;
	size_t n = 0;
	int r;

	if (remove && !g)
		return -ENOENT;
	if (remove && !*members) {
		if (g->nmembers)
			return -ENOTEMPTY;
		return iam_group_remove(iam, name);
	}
	if ((r = name_list(iam, members, 1, &v, &n, why)))
		return r == -EINVAL ? -ENOENT : r;
	if (!g) {
		if ((r = iam_group_add(iam, name, "", "", why))) {
			strv_free(v, n);
			return r;
		}
		g = find_group(iam, name);
	}
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < g->nmembers && strcmp(g->members[j], v[i]); j++)
			;
		if (remove && j < g->nmembers) {
			free(g->members[j]);
			g->members[j] = g->members[--g->nmembers];
		} else if (!remove && j == g->nmembers) {
			g->members = xrealloc(g->members, (g->nmembers + 1) * sizeof(char *));
			g->members[g->nmembers++] = xstrdup(v[i]);
		}
	}
	strv_free(v, n);
	return 0;
}

static void strip(char **v, size_t *n, const char *name)
{
	for (size_t j = 0; j < *n; j++)
		if (!strcmp(v[j], name)) {
			free(v[j]);
			v[j--] = v[--*n];
		}
}

int iam_policy_remove_detach(struct iam *iam, const char *name)
{
	for (size_t i = 0; i < iam->nusers; i++)
		strip(iam->users[i].policies, &iam->users[i].npolicies, name);
	for (size_t i = 0; i < iam->ngroups; i++)
		strip(iam->groups[i].policies, &iam->groups[i].npolicies, name);
	return find_pol(iam, name) ? iam_policy_remove(iam, name) : 0;
}

static int svc_policy(const char *doc, size_t len, char **sdoc, struct policy **p, struct buf *why)
{
	int r;

	*sdoc = NULL;
	*p = NULL;
	if (!doc || !len)
		return 0;
	if ((r = policy_parse(doc, len, POLICY_IAM, NULL, p, why)))
		return r;
	*sdoc = xstrndup(doc, len);
	return 0;
}

int iam_svc_add(struct iam *iam, const struct iam_key *key, const char *parent,
		const char *access, const char *secret, const char *policy, size_t len,
		struct buf *why)
{
	const struct iam_user *p = iam_user_get(iam, parent);
	struct iam_user u = { 0 };
	struct buf b = BUF_INIT;
	int r;

	if (!p || p->parent)
		return -ENOENT;
	if (!name_ok(access, USER_CHARS, 3, 20)) {
		if (why)
			buf_adds(why, "a service account's access key is 3-20 of [A-Za-z0-9._@+=-]");
		return -EINVAL;
	}
	if (strlen(secret) < 8 || strlen(secret) > 40) {
		if (why)
			buf_adds(why, "a secret key is 8-40 characters");
		return -EINVAL;
	}
	if (iam_user_get(iam, access))
		return -EEXIST;
	if ((r = svc_policy(policy, len, &u.sa_doc, &u.sa_policy, why)))
		return r;
	u.name = xstrdup(access);
	u.parent = xstrdup(parent);
	u.enabled = 1;
	seal(key, secret, &b);
	u.sealed = buf_detach(&b, NULL);
	iam->users = xrealloc(iam->users, (iam->nusers + 1) * sizeof(*iam->users));
	iam->users[iam->nusers++] = u;
	return 0;
}

int iam_svc_update(struct iam *iam, const struct iam_key *key, const char *access,
		   const char *secret, int enabled, const char *policy, size_t len,
		   struct buf *why)
{
	struct iam_user *u = user_mut(iam, access);
	struct policy *p = NULL;
	char *doc = NULL;
	int r;

	if (!u || !u->parent)
		return -ENOENT;
	if (secret && (strlen(secret) < 8 || strlen(secret) > 40)) {
		if (why)
			buf_adds(why, "a secret key is 8-40 characters");
		return -EINVAL;
	}
	if (policy && (r = svc_policy(policy, len, &doc, &p, why)))
		return r;
	if (policy) {
		free(u->sa_doc);
		policy_free(u->sa_policy);
		u->sa_doc = doc;
		u->sa_policy = p;
	}
	if (secret) {
		struct buf b = BUF_INIT;

		seal(key, secret, &b);
		free(u->sealed);
		u->sealed = buf_detach(&b, NULL);
	}
	if (enabled >= 0)
		u->enabled = !!enabled;
	return 0;
}

/* ---------------------------------------------------------------- JSON */

static int bad(struct buf *why, const char *msg)
{
	if (why)
		buf_adds(why, msg);
	return -EINVAL;
}

int iam_parse(const char *doc, size_t len, struct iam **out, struct buf *why)
{
	json_error_t jerr;
	json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr), *users, *pols, *groups, *v;
	json_t *svcs;
	struct iam *iam = iam_new();
	const char *k;
	int r = 0;

	*out = NULL;
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "Version")) != 1) {
		r = bad(why, "not an IAM store of version 1");
		goto out;
	}
	pols = json_object_get(root, "Policies");
	if (pols && !json_is_object(pols)) {
		r = bad(why, "Policies must be an object");
		goto out;
	}
	json_object_foreach(pols, k, v) {
		char *d = json_dumps(v, JSON_COMPACT);

		r = d ? iam_policy_add(iam, k, d, strlen(d), why) : bad(why, "bad policy");
		free(d);
		if (r)
			goto out;
	}
	users = json_object_get(root, "Users");
	if (users && !json_is_object(users)) {
		r = bad(why, "Users must be an object");
		goto out;
	}
	json_object_foreach(users, k, v) {
		json_t *sk = json_object_get(v, "SecretKey"), *st = json_object_get(v, "Status");
		json_t *ps = json_object_get(v, "Policies"), *e;
		struct iam_user u = { 0 };
		struct buf list = BUF_INIT;
		size_t i;

		if (!name_ok(k, USER_CHARS, 3, 128) || !json_is_string(sk) || !json_is_string(st) ||
		    (ps && !json_is_array(ps))) {
			r = bad(why, "a user entry is malformed");
			goto out;
		}
		json_array_foreach(ps, i, e) {
			if (!json_is_string(e)) {
				buf_release(&list);
				r = bad(why, "a user's policies must be strings");
				goto out;
			}
			buf_addf(&list, "%s%s", i ? "," : "", json_string_value(e));
		}
		r = set_policies(iam, &u, list.ptr, why);
		buf_release(&list);
		if (r)
			goto out;
		u.name = xstrdup(k);
		u.sealed = xstrdup(json_string_value(sk));
		u.enabled = strcmp(json_string_value(st), "disabled") != 0;
		iam->users = xrealloc(iam->users, (iam->nusers + 1) * sizeof(*iam->users));
		iam->users[iam->nusers++] = u;
	}
	groups = json_object_get(root, "Groups");
	if (groups && !json_is_object(groups)) {
		r = bad(why, "Groups must be an object");
		goto out;
	}
	json_object_foreach(groups, k, v) {
		struct buf lists[2] = { BUF_INIT, BUF_INIT };
		static const char *const fields[2] = { "Members", "Policies" };
		json_t *e;
		size_t i;

		for (int f = 0; f < 2 && !r; f++) {
			json_t *a = json_object_get(v, fields[f]);

			if (a && !json_is_array(a))
				r = bad(why, "a group entry is malformed");
			json_array_foreach(a, i, e) {
				if (!json_is_string(e)) {
					r = bad(why, "a group's members and policies must be strings");
					break;
				}
				buf_addf(&lists[f], "%s%s", i ? "," : "", json_string_value(e));
			}
		}
		if (!r)
			r = iam_group_add(iam, k, lists[0].ptr, lists[1].ptr, why);
		buf_release(&lists[0]);
		buf_release(&lists[1]);
		if (r)
			goto out;
		e = json_object_get(v, "Status");
		if (e && !json_is_string(e)) {
			r = bad(why, "a group's status must be a string");
			goto out;
		}
		if (e && !strcmp(json_string_value(e), "disabled"))
			find_group(iam, k)->disabled = 1;
	}
	svcs = json_object_get(root, "ServiceAccounts");
	if (svcs && !json_is_object(svcs)) {
		r = bad(why, "ServiceAccounts must be an object");
		goto out;
	}
	json_object_foreach(svcs, k, v) {
		json_t *sk = json_object_get(v, "SecretKey"), *st = json_object_get(v, "Status");
		json_t *pa = json_object_get(v, "Parent"), *po = json_object_get(v, "Policy");
		struct iam_user *u;
		char *d = NULL;

		if (!name_ok(k, USER_CHARS, 3, 128) || !json_is_string(sk) || !json_is_string(st) ||
		    !json_is_string(pa) || (po && !json_is_object(po))) {
			r = bad(why, "a service account entry is malformed");
			goto out;
		}
		if (po && !(d = json_dumps(po, JSON_COMPACT))) {
			r = bad(why, "a service account's policy is malformed");
			goto out;
		}
		/* the secret is sealed already: add with a placeholder, then put it back */
		r = iam_user_get(iam, k) ? -EEXIST : 0;
		if (!r) {
			const struct iam_user *p = iam_user_get(iam, json_string_value(pa));
			struct iam_user n = { 0 };

			if (!p || p->parent)
				r = -ENOENT;
			else
				r = svc_policy(d, d ? strlen(d) : 0, &n.sa_doc, &n.sa_policy, why);
			if (!r) {
				n.name = xstrdup(k);
				n.parent = xstrdup(json_string_value(pa));
				n.sealed = xstrdup(json_string_value(sk));
				n.enabled = strcmp(json_string_value(st), "disabled") != 0;
				iam->users = xrealloc(iam->users,
						      (iam->nusers + 1) * sizeof(*iam->users));
				u = &iam->users[iam->nusers++];
				*u = n;
			}
		}
		free(d);
		if (r) {
			r = bad(why, "a service account entry is inconsistent");
			goto out;
		}
	}
out:
	json_decref(root);
	if (r) {
		iam_free(iam);
		return r;
	}
	*out = iam;
	return 0;
}

void iam_dump(const struct iam *iam, struct buf *out)
{
	json_t *root = json_object(), *users = json_object(), *pols = json_object();
	json_t *svcs = json_object();
	char *s;

	json_object_set_new(root, "Version", json_integer(1));
	for (size_t i = 0; i < iam->nusers; i++) {
		const struct iam_user *u = &iam->users[i];
		json_t *o, *ps;

		if (u->parent) {
			o = json_object();
			json_object_set_new(o, "SecretKey", json_string(u->sealed));
			json_object_set_new(o, "Status",
					    json_string(u->enabled ? "enabled" : "disabled"));
			json_object_set_new(o, "Parent", json_string(u->parent));
			if (u->sa_doc)
				json_object_set_new(o, "Policy", json_loads(u->sa_doc, 0, NULL));
			json_object_set_new(svcs, u->name, o);
			continue;
		}
		o = json_object();
		ps = json_array();

		json_object_set_new(o, "SecretKey", json_string(u->sealed));
		json_object_set_new(o, "Status", json_string(u->enabled ? "enabled" : "disabled"));
		for (size_t j = 0; j < u->npolicies; j++)
			json_array_append_new(ps, json_string(u->policies[j]));
		json_object_set_new(o, "Policies", ps);
		json_object_set_new(users, u->name, o);
	}
	for (size_t i = 0; i < iam->npols; i++)
		json_object_set_new(pols, iam->pols[i].name, json_loads(iam->pols[i].doc, 0, NULL));
	json_object_set_new(root, "Users", users);
	json_object_set_new(root, "Policies", pols);
	if (iam->ngroups) {
		json_t *groups = json_object();

		for (size_t i = 0; i < iam->ngroups; i++) {
			const struct iam_group *g = &iam->groups[i];
			json_t *o = json_object(), *ms = json_array(), *ps = json_array();

			for (size_t j = 0; j < g->nmembers; j++)
				json_array_append_new(ms, json_string(g->members[j]));
			for (size_t j = 0; j < g->npolicies; j++)
				json_array_append_new(ps, json_string(g->policies[j]));
			json_object_set_new(o, "Members", ms);
			json_object_set_new(o, "Policies", ps);
			if (g->disabled)
				json_object_set_new(o, "Status", json_string("disabled"));
			json_object_set_new(groups, g->name, o);
		}
		json_object_set_new(root, "Groups", groups);
	}
	if (json_object_size(svcs))
		json_object_set_new(root, "ServiceAccounts", svcs);
	else
		json_decref(svcs);
	s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	buf_adds(out, s);
	free(s);
	json_decref(root);
}

/* ---------------------------------------------------------------- evaluation */

/* The policies named in v against r, folded into *d; 1 on an explicit Deny. */
static int eval_names(const struct iam *iam, char **v, size_t n, const struct policy_req *r,
		      enum policy_decision *d)
{
	for (size_t i = 0; i < n; i++) {
		int c = canned_index(v[i]);
		const struct cpol *cp = c < 0 ? find_pol(iam, v[i]) : NULL;
		enum policy_decision e = policy_eval(c >= 0 ? canned_p[c] : cp ? cp->p : NULL, r);

		if (e == POLICY_DENY) {
			*d = POLICY_DENY;
			return 1;
		}
		if (e == POLICY_ALLOW)
			*d = POLICY_ALLOW;
	}
	return 0;
}

enum policy_decision iam_eval(const struct iam *iam, const struct iam_user *u,
			      const struct policy_req *r)
{
	enum policy_decision d = POLICY_NONE;

	pthread_once(&canned_once, canned_init);
	if (u && u->parent) {
		/* a service account: its parent's rights, narrowed by its own policy */
		const struct iam_user *p = iam_user_get(iam, u->parent);
		enum policy_decision s;

		if (!p || p->parent || !p->enabled)
			return POLICY_NONE;
		d = iam_eval(iam, p, r);
		if (d != POLICY_ALLOW || !u->sa_policy)
			return d;
		s = policy_eval(u->sa_policy, r);
		return s == POLICY_ALLOW ? POLICY_ALLOW : s;
	}
	if (!u || eval_names(iam, u->policies, u->npolicies, r, &d))
		return d;
	for (size_t i = 0; i < iam->ngroups; i++) {
		const struct iam_group *g = &iam->groups[i];

		if (g->disabled)
			continue;

		for (size_t j = 0; j < g->nmembers; j++) {
			if (strcmp(g->members[j], u->name))
				continue;
			if (eval_names(iam, g->policies, g->npolicies, r, &d))
				return d;
			break;
		}
	}
	return d;
}
