/*
 * gateway/iam: the user store (sealed secrets, round trip through its
 * document, mutators and their refusals) and the identity side of a
 * decision with the canned policies.
 */
#include <check.h>

#include "gateway/iam.h"

static struct iam_key key, other;

static void setup(void)
{
	iam_key_derive("rootuser", "rootsecret1", &key);
	iam_key_derive("rootuser", "rootsecret2", &other);
}

static enum policy_decision ev(const struct iam *iam, const char *user, const char *action,
			       const char *bucket, const char *k)
{
	struct policy_req r = { user, action, bucket, k, NULL, NULL };

	return iam_eval(iam, iam_user_get(iam, user), &r);
}

START_TEST(users_round_trip_sealed)
{
	struct iam *iam = iam_new(), *back;
	struct buf doc = BUF_INIT, why = BUF_INIT, sec = BUF_INIT;
	const struct iam_user *u;

	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "alicesecret", "readonly", &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "bob", "bobsecret1", "readwrite,writeonly", &why),
			 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "whatever12", "", &why), -EEXIST);
	iam_dump(iam, &doc);
	/* no secret in the document, in any form we can think of */
	ck_assert_ptr_null(strstr(doc.ptr, "alicesecret"));
	ck_assert_ptr_null(strstr(doc.ptr, "bobsecret1"));
	ck_assert_int_eq(iam_parse(doc.ptr, doc.len, &back, &why), 0);
	u = iam_user_get(back, "alice");
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->enabled, 1);
	ck_assert_int_eq(iam_user_secret(u, &key, &sec), 0);
	ck_assert_str_eq(sec.ptr, "alicesecret");
	/* other root credentials cannot unseal it */
	ck_assert_int_eq(iam_user_secret(u, &other, &sec), -EACCES);
	ck_assert_uint_eq(sec.len, 0);
	u = iam_user_get(back, "bob");
	ck_assert_uint_eq(u->npolicies, 2);
	ck_assert_str_eq(u->policies[1], "writeonly");
	ck_assert_ptr_null(iam_user_get(back, "carol"));
	/* the same secret sealed twice differs (a fresh nonce) */
	ck_assert_int_eq(iam_user_add(iam, &key, "carol", "alicesecret", "", &why), 0);
	ck_assert_str_ne(iam_user_get(iam, "carol")->sealed, iam_user_get(iam, "alice")->sealed);
	iam_free(back);
	iam_free(iam);
	buf_release(&doc);
	buf_release(&why);
	buf_release(&sec);
}
END_TEST

START_TEST(mutators_refuse)
{
	struct iam *iam = iam_new();
	struct buf why = BUF_INIT;

	ck_assert_int_eq(iam_user_add(iam, &key, "al", "alicesecret", "", &why), -EINVAL);
	ck_assert_int_eq(iam_user_add(iam, &key, "a/b", "alicesecret", "", &why), -EINVAL);
	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "short", "", &why), -EINVAL);
	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "0123456789012345678901234567890123456789x",
				      "", &why), -EINVAL);
	buf_reset(&why);
	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "alicesecret", "readonly,nosuch", &why),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(why.ptr, "nosuch"));
	ck_assert_ptr_null(iam_user_get(iam, "alice"));
	ck_assert_int_eq(iam_user_remove(iam, "alice"), -ENOENT);
	ck_assert_int_eq(iam_user_set_enabled(iam, "alice", 0), -ENOENT);
	ck_assert_int_eq(iam_user_set_policies(iam, "alice", "readonly", &why), -ENOENT);
	/* policies: canned names are taken; bad documents refused; attached ones stay */
	ck_assert_int_eq(iam_policy_add(iam, "readonly", "{}", 2, &why), -EINVAL);
	ck_assert_int_eq(iam_policy_add(iam, "p", "{\"Statement\":{\"Effect\":\"Allow\","
					"\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":\"*\"}}",
					78, &why), -EINVAL);
	const char *doc = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:ListBucket\","
			  "\"Resource\":\"arn:aws:s3:::bkt\"}}";
	ck_assert_int_eq(iam_policy_add(iam, "lister", doc, strlen(doc), &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "alicesecret", "lister", &why), 0);
	ck_assert_int_eq(iam_policy_remove(iam, "lister"), -EBUSY);
	ck_assert_str_eq(iam_policy_doc(iam, "lister"), doc);
	ck_assert_ptr_nonnull(iam_policy_doc(iam, "consoleAdmin"));
	ck_assert_ptr_null(iam_policy_doc(iam, "nosuch"));
	ck_assert_int_eq(iam_user_set_policies(iam, "alice", "", &why), 0);
	ck_assert_int_eq(iam_policy_remove(iam, "lister"), 0);
	ck_assert_int_eq(iam_policy_remove(iam, "lister"), -ENOENT);
	ck_assert_int_eq(iam_user_remove(iam, "alice"), 0);
	ck_assert_ptr_null(iam_user_get(iam, "alice"));
	/* damaged documents */
	struct iam *x;
	const char *bad[] = { "", "[]", "{\"Version\":2}", "{\"Version\":1,\"Users\":[]}",
			      "{\"Version\":1,\"Users\":{\"a\":{}}}",
			      "{\"Version\":1,\"Users\":{\"alice\":{\"SecretKey\":\"x\",\"Status\":"
			      "\"enabled\",\"Policies\":[\"nosuch\"]}}}",
			      "{\"Version\":1,\"Policies\":{\"p\":{\"Statement\":[]}}}", NULL };
	for (int i = 0; bad[i]; i++) {
		buf_reset(&why);
		ck_assert_int_eq(iam_parse(bad[i], strlen(bad[i]), &x, &why), -EINVAL);
		ck_assert_ptr_null(x);
		ck_assert(why.len);
	}
	iam_free(iam);
	buf_release(&why);
}
END_TEST

START_TEST(canned_policies)
{
	struct iam *iam = iam_new();
	struct buf why = BUF_INIT;

	ck_assert_int_eq(iam_user_add(iam, &key, "rouser", "secret1234", "readonly", &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "rwuser", "secret1234", "readwrite", &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "wouser", "secret1234", "writeonly", &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "admin", "secret1234", "consoleAdmin", &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "none", "secret1234", "", &why), 0);
	ck_assert_int_eq(ev(iam, "nobody", "s3:GetObject", "b1", "k"), POLICY_NONE);
	/* readonly: a named object and the location, no listing, no writes (MinIO's) */
	ck_assert_int_eq(ev(iam, "rouser", "s3:GetObject", "b1", "k"), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "rouser", "s3:GetBucketLocation", "b1", NULL), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "rouser", "s3:ListBucket", "b1", NULL), POLICY_NONE);
	ck_assert_int_eq(ev(iam, "rouser", "s3:PutObject", "b1", "k"), POLICY_NONE);
	ck_assert_int_eq(ev(iam, "rouser", "s3:DeleteObject", "b1", "k"), POLICY_NONE);
	/* readwrite and consoleAdmin: everything S3 */
	for (const char *const *a = policy_actions; *a; a++) {
		ck_assert_int_eq(ev(iam, "rwuser", *a, "b1", "k"), POLICY_ALLOW);
		ck_assert_int_eq(ev(iam, "admin", *a, "b1", NULL), POLICY_ALLOW);
		ck_assert_int_eq(ev(iam, "none", *a, "b1", "k"), POLICY_NONE);
	}
	ck_assert_int_eq(ev(iam, "rwuser", "s3:ListAllMyBuckets", NULL, NULL), POLICY_ALLOW);
	/* writeonly */
	ck_assert_int_eq(ev(iam, "wouser", "s3:PutObject", "b1", "k"), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "wouser", "s3:GetObject", "b1", "k"), POLICY_NONE);
	/* a custom Deny beside readwrite wins */
	const char *deny = "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"s3:DeleteObject\","
			   "\"Resource\":\"arn:aws:s3:::b1/keep/*\"}}";
	ck_assert_int_eq(iam_policy_add(iam, "keep", deny, strlen(deny), &why), 0);
	ck_assert_int_eq(iam_user_set_policies(iam, "rwuser", "readwrite,keep", &why), 0);
	ck_assert_int_eq(ev(iam, "rwuser", "s3:DeleteObject", "b1", "keep/x"), POLICY_DENY);
	ck_assert_int_eq(ev(iam, "rwuser", "s3:DeleteObject", "b1", "other/x"), POLICY_ALLOW);
	iam_free(iam);
	buf_release(&why);
}
END_TEST

START_TEST(groups)
{
	struct iam *iam = iam_new(), *back;
	struct buf why = BUF_INIT, doc = BUF_INIT, list = BUF_INIT;
	const char *deny = "{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"s3:PutObject\","
			   "\"Resource\":\"arn:aws:s3:::b1/locked/*\"}}";

	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "alicesecret", "", &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "bobby", "bobbysecret", "readwrite", &why), 0);
	ck_assert_int_eq(iam_policy_add(iam, "locked", deny, strlen(deny), &why), 0);
	ck_assert_int_eq(ev(iam, "alice", "s3:GetObject", "b1", "k"), POLICY_NONE);
	/* refusals: unknown member or policy, bad or taken name */
	ck_assert_int_eq(iam_group_add(iam, "readers", "alice,nobody", "readonly", &why), -EINVAL);
	ck_assert_int_eq(iam_group_add(iam, "readers", "alice", "nosuch", &why), -EINVAL);
	ck_assert_int_eq(iam_group_add(iam, "a/b", "alice", "readonly", &why), -EINVAL);
	ck_assert_int_eq(iam_group_add(iam, "readers", "alice", "readonly", &why), 0);
	ck_assert_int_eq(iam_group_add(iam, "readers", "bobby", "", &why), -EEXIST);
	ck_assert_int_eq(iam_group_add(iam, "lockers", "alice,bobby", "locked", &why), 0);
	/* a member holds its groups' policies; a group's Deny wins over the user's Allow */
	ck_assert_int_eq(ev(iam, "alice", "s3:GetObject", "b1", "k"), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "bobby", "s3:PutObject", "b1", "open/x"), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "bobby", "s3:PutObject", "b1", "locked/x"), POLICY_DENY);
	ck_assert_int_eq(iam_policy_remove(iam, "locked"), -EBUSY);
	/* round trip */
	iam_dump(iam, &doc);
	ck_assert_int_eq(iam_parse(doc.ptr, doc.len, &back, &why), 0);
	iam_groups_list(back, &list);
	ck_assert_ptr_nonnull(strstr(list.ptr, "readers\talice\treadonly\n"));
	ck_assert_ptr_nonnull(strstr(list.ptr, "lockers\talice,bobby\tlocked\n"));
	ck_assert_int_eq(ev(back, "bobby", "s3:PutObject", "b1", "locked/x"), POLICY_DENY);
	iam_free(back);
	/* a removed user leaves its groups; policies of a group change */
	ck_assert_int_eq(iam_user_remove(iam, "alice"), 0);
	buf_reset(&list);
	iam_groups_list(iam, &list);
	ck_assert_ptr_nonnull(strstr(list.ptr, "lockers\tbobby\tlocked\n"));
	ck_assert_ptr_nonnull(strstr(list.ptr, "readers\t\treadonly\n"));
	ck_assert_int_eq(iam_group_set_policies(iam, "lockers", "", &why), 0);
	ck_assert_int_eq(ev(iam, "bobby", "s3:PutObject", "b1", "locked/x"), POLICY_ALLOW);
	ck_assert_int_eq(iam_policy_remove(iam, "locked"), 0);
	ck_assert_int_eq(iam_group_set_policies(iam, "nogroup", "", &why), -ENOENT);
	ck_assert_int_eq(iam_group_remove(iam, "lockers"), 0);
	ck_assert_int_eq(iam_group_remove(iam, "lockers"), -ENOENT);
	iam_free(iam);
	buf_release(&why);
	buf_release(&doc);
	buf_release(&list);
}
END_TEST

START_TEST(service_accounts_and_group_status)
{
	struct iam *iam = iam_new(), *back;
	struct buf doc = BUF_INIT, why = BUF_INIT, sec = BUF_INIT;
	static const char ro[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
				 "\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::*\"]}]}";
	static const char old_doc[] = "{\"Version\":1,\"Users\":{},\"Policies\":{}}";

	/* a document of the first version (no ServiceAccounts, no group Status) parses */
	ck_assert_int_eq(iam_parse(old_doc, strlen(old_doc), &back, &why), 0);
	iam_free(back);
	ck_assert_int_eq(iam_user_add(iam, &key, "alice", "alicesecret", "readwrite", &why), 0);
	ck_assert_int_eq(iam_svc_add(iam, &key, "nobody", "svc1", "svcsecret1", NULL, 0, &why),
			 -ENOENT);
	ck_assert_int_eq(iam_svc_add(iam, &key, "alice", "svc1", "svcsecret1", NULL, 0, &why), 0);
	ck_assert_int_eq(iam_svc_add(iam, &key, "alice", "svc2", "svcsecret2", ro, strlen(ro), &why),
			 0);
	ck_assert_int_eq(iam_svc_add(iam, &key, "alice", "alice", "svcsecret2", NULL, 0, &why),
			 -EEXIST);
	/* a service account is no parent and no group member */
	ck_assert_int_eq(iam_svc_add(iam, &key, "svc1", "svc3", "svcsecret3", NULL, 0, &why),
			 -ENOENT);
	ck_assert_int_eq(iam_group_update_members(iam, "g", "svc1", 0, &why), -ENOENT);
	/* inherited: the parent's readwrite; embedded: narrowed to GetObject */
	ck_assert_int_eq(ev(iam, "svc1", "s3:PutObject", "b", "k"), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "svc2", "s3:GetObject", "b", "k"), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "svc2", "s3:PutObject", "b", "k"), POLICY_NONE);
	iam_dump(iam, &doc);
	ck_assert_ptr_null(strstr(doc.ptr, "svcsecret"));
	ck_assert_int_eq(iam_parse(doc.ptr, doc.len, &back, &why), 0);
	ck_assert_int_eq(iam_user_secret(iam_user_get(back, "svc2"), &key, &sec), 0);
	ck_assert_str_eq(sec.ptr, "svcsecret2");
	ck_assert_int_eq(ev(back, "svc2", "s3:PutObject", "b", "k"), POLICY_NONE);
	iam_free(back);
	/* a disabled parent lends nothing */
	ck_assert_int_eq(iam_user_set_enabled(iam, "alice", 0), 0);
	ck_assert_int_eq(ev(iam, "svc1", "s3:GetObject", "b", "k"), POLICY_NONE);
	ck_assert_int_eq(iam_user_set_enabled(iam, "alice", 1), 0);
	ck_assert_int_eq(iam_svc_update(iam, &key, "svc2", NULL, -1, "", 0, &why), 0);
	ck_assert_int_eq(ev(iam, "svc2", "s3:PutObject", "b", "k"), POLICY_ALLOW);
	/* groups: created by a member add, disabled lends nothing, not removable while used */
	ck_assert_int_eq(iam_user_add(iam, &key, "bob", "bobsecret1", "", &why), 0);
	ck_assert_int_eq(iam_group_update_members(iam, "g", "bob", 0, &why), 0);
	ck_assert_int_eq(iam_group_set_policies(iam, "g", "writeonly", &why), 0);
	ck_assert_int_eq(ev(iam, "bob", "s3:PutObject", "b", "k"), POLICY_ALLOW);
	ck_assert_int_eq(iam_group_set_enabled(iam, "g", 0), 0);
	ck_assert_int_eq(ev(iam, "bob", "s3:PutObject", "b", "k"), POLICY_NONE);
	buf_reset(&doc);
	iam_dump(iam, &doc);
	ck_assert_int_eq(iam_parse(doc.ptr, doc.len, &back, &why), 0);
	ck_assert_int_eq(iam_group_get(back, "g")->disabled, 1);
	iam_free(back);
	ck_assert_int_eq(iam_group_update_members(iam, "g", "", 1, &why), -ENOTEMPTY);
	ck_assert_int_eq(iam_group_update_members(iam, "g", "bob", 1, &why), 0);
	ck_assert_int_eq(iam_group_update_members(iam, "g", "", 1, &why), 0);
	ck_assert_ptr_null(iam_group_get(iam, "g"));
	/* removing the parent removes its service accounts */
	ck_assert_int_eq(iam_user_remove(iam, "alice"), 0);
	ck_assert_ptr_null(iam_user_get(iam, "svc1"));
	ck_assert_ptr_null(iam_user_get(iam, "svc2"));
	iam_free(iam);
	buf_release(&doc);
	buf_release(&why);
	buf_release(&sec);
}
END_TEST

START_TEST(admin_actions_need_no_resource)
{
	/* MinIO's consoleAdmin shape: an admin statement without Resource */
	static const char doc[] = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
				  "\"Action\":[\"admin:*\"]}]}";
	struct iam *iam = iam_new();
	struct buf why = BUF_INIT;

	ck_assert_int_eq(iam_policy_add(iam, "adm", doc, strlen(doc), &why), 0);
	ck_assert_int_eq(iam_user_add(iam, &key, "eve", "evesecret1", "adm", &why), 0);
	ck_assert_int_eq(ev(iam, "eve", "admin:CreateUser", NULL, NULL), POLICY_ALLOW);
	ck_assert_int_eq(ev(iam, "eve", "s3:GetObject", "b", "k"), POLICY_NONE);
	ck_assert_int_eq(iam_user_set_policies(iam, "eve", "readwrite", &why), 0);
	ck_assert_int_eq(ev(iam, "eve", "admin:CreateUser", NULL, NULL), POLICY_NONE);
	iam_free(iam);
	buf_release(&why);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("iam");
	TCase *tc = tcase_create("iam");
	SRunner *sr;
	int failures;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, users_round_trip_sealed);
	tcase_add_test(tc, mutators_refuse);
	tcase_add_test(tc, canned_policies);
	tcase_add_test(tc, groups);
	tcase_add_test(tc, service_accounts_and_group_status);
	tcase_add_test(tc, admin_actions_need_no_resource);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
