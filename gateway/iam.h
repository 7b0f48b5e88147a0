/*
 * gateway/iam.h: users beside the root key, and the IAM policies attached to
 * them and to groups of them, and service accounts (MinIO's admin API over
 * them is gateway/s3admin.h).
 *
 * The store is one JSON document kept in the volume as the volume root's
 * xattr "s3.iam" (s3cfg.h, name IAM_DOC), so every gateway of the volume
 * sees a change within the s3cfg cache's TTL, without a restart:
 *   {"Version":1,
 *    "Users":{"ACCESSKEY":{"SecretKey":"<sealed>","Status":"enabled"|"disabled",
 *                          "Policies":["readonly", ...]}, ...},
 *    "Groups":{"NAME":{"Members":["ACCESSKEY", ...],"Policies":[...],
 *                      "Status":"disabled" (only when disabled)}, ...},
 *    "Policies":{"NAME":{IAM policy document}, ...},
 *    "ServiceAccounts":{"ACCESSKEY":{"SecretKey":"<sealed>","Status":...,
 *                          "Parent":"USER","Policy":{IAM policy document}?}, ...}}
 * The keys added since the first version (group Status, ServiceAccounts)
 * are optional, so documents written before them still parse; a writer of
 * that first version would drop them.
 * A user's name is its access key, as in MinIO. Secret keys are sealed with
 * AES-256-GCM under a key derived (HMAC-SHA256) from the root credentials,
 * with a fresh random nonce each: the document, a dump or a FUSE reader of
 * the metadata never shows a secret, and a gateway started with other root
 * credentials cannot use them (its users fail to authenticate). Changing the
 * root credentials therefore means adding the users again.
 *
 * The canned policies are MinIO's: readonly (s3:GetBucketLocation and
 * s3:GetObject on everything: reads a named object, lists nothing),
 * readwrite (s3:*), writeonly (s3:PutObject), consoleAdmin (admin:* and
 * s3:*, the documents the real gateway lists). A custom policy of the same
 * name is refused (the real gateway lets a stored one shadow it).
 *
 * Limits: the document is at most S3CFG_MAX_VALUE (64 KiB), so a few
 * hundred users. A change is read-modify-write of the whole document under
 * a lock kept in the metadata (iam_update in s3admin.h), so concurrent
 * writers (gateways, gateway-admin) lose no change.
 *
 * A parsed store is immutable and thread safe to read; the mutators work
 * on a private copy that the caller then writes back (iam_dump).
 */
#ifndef JFS_GW_IAM_H
#define JFS_GW_IAM_H

#include "base/base.h"
#include "gateway/policy.h"

#define IAM_DOC "iam"

struct iam_key {
	uint8_t k[32]; /* from the root credentials: iam_key_derive */
};
void iam_key_derive(const char *root_access, const char *root_secret, struct iam_key *out);

struct iam_user {
	char *name;       /* the access key */
	char *sealed;     /* the secret key, sealed (base64) */
	int enabled;
	char **policies;  /* names, canned or custom (none for a service account) */
	size_t npolicies;
	/*
	 * A service account: an access key of user `parent`, with the parent's
	 * rights, narrowed by its own policy when it has one (sa_doc, parsed
	 * into sa_policy): a request is allowed only when both allow it. NULL
	 * for a plain user.
	 */
	char *parent;
	char *sa_doc;
	struct policy *sa_policy;
};

struct iam_group {
	char *name;
	char **members, **policies;
	size_t nmembers, npolicies;
	int disabled; /* a disabled group lends its members no policy */
};

struct iam;
/* An empty store (no users, no custom policies). */
struct iam *iam_new(void);
/* 0, or -EINVAL with why (a document another version wrote, or damaged). */
int iam_parse(const char *doc, size_t len, struct iam **out, struct buf *why);
void iam_free(struct iam *iam);
/* The document to store (sealed secrets as they are). */
void iam_dump(const struct iam *iam, struct buf *out);

const struct iam_user *iam_user_get(const struct iam *iam, const char *name);
/* The user's secret key into out (NUL-terminated); -EACCES when it does not unseal. */
int iam_user_secret(const struct iam_user *u, const struct iam_key *key, struct buf *out);
/* NULL-terminated names of users (for listing); pointers into iam. Caller frees the array. */
const struct iam_user **iam_users(const struct iam *iam, size_t *n);

/*
 * Mutators, 0 or: -EINVAL (bad name: 3-128 of [A-Za-z0-9._@+=-]; a secret
 * of 8-40 bytes; an unknown policy), -EEXIST, -ENOENT. policies: a
 * comma-separated list of policy names ("" = none).
 */
int iam_user_add(struct iam *iam, const struct iam_key *key, const char *name, const char *secret,
		 const char *policies, struct buf *why);
/* Removing a user removes its service accounts too; a service account's name removes it alone. */
int iam_user_remove(struct iam *iam, const char *name);
/*
 * MinIO's add-user: create the user or, when it exists, replace its secret
 * and status (its policies and groups stay). -EPERM when name is a service
 * account.
 */
int iam_user_put(struct iam *iam, const struct iam_key *key, const char *name, const char *secret,
		 int enabled, struct buf *why);
/* The groups user is a member of, comma-separated into out. */
void iam_user_groups(const struct iam *iam, const char *name, struct buf *out);

/*
 * Service accounts (struct iam_user with parent set; they share the
 * namespace of access keys with users). access: 3-20 of the user name
 * characters, secret 8-40; policy: an IAM policy document or NULL (len 0).
 * -ENOENT: the parent is no user (or is a service account); -EEXIST.
 */
int iam_svc_add(struct iam *iam, const struct iam_key *key, const char *parent,
		const char *access, const char *secret, const char *policy, size_t len,
		struct buf *why);
/*
 * Change a service account: a new secret (NULL keeps it), status (-1
 * keeps it), policy (NULL keeps it; "" with len 0 drops it: the parent's
 * rights alone). -ENOENT when access is no service account.
 */
int iam_svc_update(struct iam *iam, const struct iam_key *key, const char *access,
		   const char *secret, int enabled, const char *policy, size_t len,
		   struct buf *why);
int iam_user_set_enabled(struct iam *iam, const char *name, int enabled);
int iam_user_set_policies(struct iam *iam, const char *name, const char *policies,
			  struct buf *why);
/*
 * Groups: a user holds its own policies and those of every group it is a
 * member of. members: comma-separated user names, each must exist; a user
 * removed leaves its groups. Same errors as for users.
 */
int iam_group_add(struct iam *iam, const char *name, const char *members, const char *policies,
		  struct buf *why);
int iam_group_remove(struct iam *iam, const char *name);
int iam_group_set_policies(struct iam *iam, const char *name, const char *policies,
			   struct buf *why);
const struct iam_group *iam_group_get(const struct iam *iam, const char *name);
/* All groups (an array inside iam), *n of them. */
const struct iam_group *iam_groups(const struct iam *iam, size_t *n);
int iam_group_set_enabled(struct iam *iam, const char *name, int enabled);
/*
 * MinIO's update-group-members: add (remove 0) members, creating the group
 * when missing; each must be a user, not a service account (-ENOENT, why
 * names it). Remove members (-ENOENT: no such group); remove with none
 * named deletes the group, -ENOTEMPTY while it has members.
 */
int iam_group_update_members(struct iam *iam, const char *name, const char *members, int remove,
			     struct buf *why);
/* One line per group: "NAME<TAB>member,member<TAB>policy,policy". */
void iam_groups_list(const struct iam *iam, struct buf *out);

/* A custom policy (an IAM document, POLICY_IAM grammar); replaces one of that name. */
int iam_policy_add(struct iam *iam, const char *name, const char *doc, size_t len,
		   struct buf *why);
/* -EBUSY when a user still has it attached. */
int iam_policy_remove(struct iam *iam, const char *name);
/* MinIO's remove-canned-policy: also detached from every user and group; absent is 0. */
int iam_policy_remove_detach(struct iam *iam, const char *name);
/* The document of a canned or custom policy, or NULL. */
const char *iam_policy_doc(const struct iam *iam, const char *name);
/* Names of the canned and then the custom policies; caller frees the array (not the names). */
const char **iam_policy_names(const struct iam *iam, size_t *n);

/*
 * The identity side of a decision for user u: its policies and its groups'
 * evaluated with the request r (r->principal is the user's name). POLICY_DENY when one
 * denies, POLICY_ALLOW when one allows, else POLICY_NONE.
 */
enum policy_decision iam_eval(const struct iam *iam, const struct iam_user *u,
			      const struct policy_req *r);

#endif
