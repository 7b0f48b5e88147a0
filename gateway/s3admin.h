/*
 * gateway/s3admin.h: the part of MinIO's admin API (/minio/admin/v3/...,
 * and /v2/) that `mc admin user|group|policy` and `mc admin user svcacct`
 * of the mc version JuiceFS's gateway guide names (RELEASE.2021-04-22)
 * send, served over the users document of iam.h.
 *
 * Routes: add-user, remove-user, list-users, user-info, set-user-status,
 * add-canned-policy, remove-canned-policy, list-canned-policies,
 * info-canned-policy, set-user-or-group-policy, update-group-members,
 * group, groups, set-group-status, add-service-account,
 * list-service-accounts, delete-service-account, info-service-account,
 * update-service-account. As the real gateway: info, storageinfo,
 * datausageinfo, service, update answer 501 NotImplemented; any other
 * route 426 XMinioAdminVersionMismatch.
 *
 * Who may call: the root key; a user (or service account) whose policies
 * allow the route's admin action (admin:CreateUser, ...; consoleAdmin has
 * admin:*), with MinIO's exceptions (your own user-info, your own service
 * accounts). Others get 403 AccessDenied. Errors are MinIO's JSON
 * {"Code","Message","Resource","RequestId","HostId"} with its HTTP status;
 * the signature must be SigV4 with x-amz-content-sha256 (madmin signs with
 * an empty region, which the SigV4 check accepts).
 *
 * Bodies that carry secrets (add-user, list-users, the service-account
 * routes) are sealed both ways with madmin's format (madmin.h) under the
 * secret key of the credential that signed the request. Request bodies are
 * capped (262272 bytes, a policy 20 KiB) before they are read whole.
 *
 * Changes are iam_update: read-modify-write of the document under a lock
 * kept in the metadata, so two gateways, or a gateway and gateway-admin,
 * lose no change; the gateway's cached copy is dropped after its own write
 * and other gateways see the change at once for a new access key (a lookup
 * miss reads the volume again) and within the cache TTL otherwise.
 */
#ifndef JFS_GW_S3ADMIN_H
#define JFS_GW_S3ADMIN_H

#include "fscore/fs.h"
#include "gateway/iam.h"

struct s3_req;
enum s3_err;

/* Is this request for the admin API (its path starts /minio/admin/)? */
int s3admin_is_admin(const char *raw_path);
/*
 * Answer it (exactly once). auth: the result of the signature check (an
 * error is answered in the admin API's JSON), S3E_OK when signed by the root
 * key (s->user NULL) or by a user (s->user, s->iam).
 */
int s3admin_handle(struct s3_req *s, enum s3_err auth);

/*
 * The users document's read-modify-write: under an exclusive flock on the
 * volume root held in the metadata (so across processes and hosts), read
 * the document (none: an empty store), run fn on it and, when it returns 0,
 * write it back. Returns fn's result, -EBUSY after 30 s waiting for the
 * lock, -EUCLEAN when the stored document does not parse (why says why),
 * -E2BIG over 64 KiB, or the metadata error.
 */
typedef int (*iam_update_fn)(struct iam *iam, void *arg);
int iam_update(struct fs *fs, iam_update_fn fn, void *arg, struct buf *why);

#endif
