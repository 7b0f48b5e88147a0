/*
 * Unit tests of the conf layer: meta URL forms, the volume setting JSON
 * (byte for byte against text written by real JuiceFS 1.4.2), secret
 * sealing (both directions against values the real client produced),
 * volume names, and option-table parsing and help.
 */
#include <check.h>
#include <math.h>
#include <jansson.h>
#include <signal.h>
#include <unistd.h>

#include "conf/conf.h"
#include "t/unit/testhelp.h"

static char *replace(const char *s, const char *from, const char *to)
{
	struct buf b = BUF_INIT;
	const char *p;
	size_t n = strlen(from);
	while ((p = strstr(s, from))) {
		buf_add(&b, s, (size_t)(p - s));
		buf_adds(&b, to);
		s = p + n;
	}
	buf_adds(&b, s);
	return buf_detach(&b, NULL);
}

/* ---------------- meta URLs ---------------- */

struct url_case {
	const char *url, *scheme, *path, *user, *password, *hosts, *db;
};

START_TEST(test_url_good)
{
	static const struct url_case cases[] = {
		{ "sqlite3://my.db", "sqlite3", "my.db", "", "", "", "" },
		{ "sqlite3:///tmp/a.db", "sqlite3", "/tmp/a.db", "", "", "", "" },
		{ "sqlite3://dir/sub/x.db?cache=shared", "sqlite3", "dir/sub/x.db", "", "", "", "" },
		{ "SQLite3://UP.db", "sqlite3", "UP.db", "", "", "", "" },
		{ "sqlite3:///tmp/a@b:c.db", "sqlite3", "/tmp/a@b:c.db", "", "", "", "" },
		{ "redis://127.0.0.1:6379/1", "redis", "", "", "", "127.0.0.1:6379", "1" },
		{ "redis://user:pass@host:6379/10", "redis", "", "user", "pass", "host:6379", "10" },
		{ "redis://:pass@host/2", "redis", "", "", "pass", "host", "2" },
		{ "redis://user@host", "redis", "", "user", "", "host", "" },
		{ "redis://u:p@ss@host:1/2", "redis", "", "u", "p@ss", "host:1", "2" },
		{ "redis://u%3Ax:p%40%2Fs+s@h/3", "redis", "", "u:x", "p@/s+s", "h", "3" },
		{ "redis://host/", "redis", "", "", "", "host", "" },
		{ "redis://", "redis", "", "", "", "", "" },
		{ "127.0.0.1:6379/1", "redis", "", "", "", "127.0.0.1:6379", "1" },
		{ "u:pw@localhost/4", "redis", "", "u", "pw", "localhost", "4" },
		{ "rediss://u:p@h:6380/1?tls-cert-file=/a.crt&insecure-skip-verify=true", "rediss",
		  "", "u", "p", "h:6380", "1" },
		{ "redis://:pw@mymaster,s1,s2:26379/2", "redis", "", "", "pw", "mymaster,s1,s2:26379",
		  "2" },
		{ "rediss://:pw@h1:7001,h2:7002,h3:7003/0", "rediss", "", "", "pw",
		  "h1:7001,h2:7002,h3:7003", "0" },
		{ "redis://[::1]:6379/1", "redis", "", "", "", "[::1]:6379", "1" },
		{ "redis://[fe80::1]/1", "redis", "", "", "", "[fe80::1]", "1" },
		{ "unix:///tmp/redis.sock?db=4", "unix", "/tmp/redis.sock", "", "", "", "4" },
		{ "unix://u:p@/var/run/r.sock", "unix", "/var/run/r.sock", "u", "p", "", "" },
		{ "mem://vol1", "mem", "vol1", "", "", "", "" },
		{ "mysql://u:p@(127.0.0.1:3306)/juicefs", "mysql", "/juicefs", "u", "p",
		  "(127.0.0.1:3306)", "" },
		{ "postgres://u:p@host:5432/db?sslmode=disable", "postgres", "/db", "u", "p",
		  "host:5432", "" },
		{ "tikv://pd1:2379,pd2:2379/jfs", "tikv", "/jfs", "", "", "pd1:2379,pd2:2379", "" },
		{ "etcd://h1:2379/jfs", "etcd", "/jfs", "", "", "h1:2379", "" },
		{ "fdb:///etc/foundationdb/fdb.cluster?prefix=jfs", "fdb",
		  "/etc/foundationdb/fdb.cluster", "", "", "", "" },
		{ "badger:///var/badger", "badger", "/var/badger", "", "", "", "" },
		{ "memkv://", "memkv", "", "", "", "", "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct url_case *c = &cases[i];
		struct conf_meta_url u;
		struct buf err = BUF_INIT;
		int r = conf_parse_meta_url(c->url, &u, &err);
		ck_assert_msg(r == 0, "%s: %d %s", c->url, r, err.ptr);
		ck_assert_str_eq(u.raw, c->url);
		ck_assert_msg(!strcmp(u.scheme, c->scheme), "%s: scheme %s", c->url, u.scheme);
		ck_assert_msg(!strcmp(u.path, c->path), "%s: path %s", c->url, u.path);
		ck_assert_msg(!strcmp(u.user, c->user), "%s: user %s", c->url, u.user);
		ck_assert_msg(!strcmp(u.password, c->password), "%s: password %s", c->url,
			      u.password);
		ck_assert_msg(!strcmp(u.hosts, c->hosts), "%s: hosts %s", c->url, u.hosts);
		ck_assert_msg(!strcmp(u.db, c->db), "%s: db %s", c->url, u.db);
		ck_assert_uint_eq(err.len, 0);
		conf_meta_url_release(&u);
		conf_meta_url_release(&u); /* twice is harmless */
		buf_release(&err);
	}
}
END_TEST

START_TEST(test_url_query)
{
	struct conf_meta_url u;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_parse_meta_url("sqlite3://my.db?cache=shared&_busy_timeout=5000"
					     "&x=a%20b+c%2B&flag&&empty=&k%3D=v%26",
					     &u, &err),
			 0);
	ck_assert_str_eq(u.path, "my.db");
	ck_assert_uint_eq(u.nquery, 6);
	ck_assert_str_eq(conf_url_query(&u, "cache"), "shared");
	ck_assert_str_eq(conf_url_query(&u, "_busy_timeout"), "5000");
	ck_assert_str_eq(conf_url_query(&u, "x"), "a b c+");
	ck_assert_str_eq(conf_url_query(&u, "flag"), "");
	ck_assert_str_eq(conf_url_query(&u, "empty"), "");
	ck_assert_str_eq(conf_url_query(&u, "k="), "v&");
	ck_assert_ptr_null(conf_url_query(&u, "missing"));
	ck_assert_ptr_null(conf_url_query(&u, "Cache")); /* keys are case-sensitive */
	conf_meta_url_release(&u);

	ck_assert_int_eq(conf_parse_meta_url("redis://h/1?read-timeout=30s&read-timeout=5s", &u,
					     &err),
			 0);
	ck_assert_str_eq(conf_url_query(&u, "read-timeout"), "30s"); /* first wins */
	conf_meta_url_release(&u);
	buf_release(&err);
}
END_TEST

START_TEST(test_url_bad)
{
	static const char *const bad[] = {
		"",
		"://x",
		"foo://x",
		"http://h/1",
		"redis://h:abc/1",
		"redis://h:70000/1",
		"redis://h:123456/1",
		"redis://h1:1,h2:x/1",
		"redis://h/x",
		"redis://h/1/2",
		"redis://[::1/1",
		"redis://[::1]x/1",
		"sqlite3://",
		"sqlite3://?cache=shared",
		"unix://",
		"unix://u:p@",
		"unix:///tmp/r.sock?db=a",
		"sqlite3://a.db?x=%zz",
		"sqlite3://a.db?x=%2",
		"redis://u:p%4@h/1",
		"redis://u:p%00x@h/1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct conf_meta_url u;
		struct buf err = BUF_INIT;
		int r = conf_parse_meta_url(bad[i], &u, &err);
		ck_assert_msg(r == -EINVAL, "\"%s\" gave %d", bad[i], r);
		ck_assert_msg(err.len > 0 && !strchr(err.ptr, '\n'), "\"%s\": message [%s]", bad[i],
			      err.ptr);
		ck_assert_ptr_null(u.scheme); /* nothing to free after an error */
		conf_meta_url_release(&u);
		buf_release(&err);
	}
	struct conf_meta_url u;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_parse_meta_url(NULL, &u, &err), -EINVAL);
	buf_reset(&err);
	ck_assert_int_eq(conf_parse_meta_url("foo://x", &u, &err), -EINVAL);
	ck_assert_str_eq(err.ptr, "invalid meta driver: foo");
	buf_release(&err);
}
END_TEST

START_TEST(test_redact)
{
	static const char *const cases[][2] = {
		{ "redis://user:pass@127.0.0.1:6379/1", "redis://user:****@127.0.0.1:6379/1" },
		{ "redis://:pass@127.0.0.1/1", "redis://:****@127.0.0.1/1" },
		{ "redis://u:p@ss@h/2", "redis://u:****@h/2" },
		{ "u:secret@h:6379/2", "u:****@h:6379/2" },
		{ "rediss://u:p@m,s1:26379/1?x=a@b", "rediss://u:****@m,s1:26379/1?x=a@b" },
		{ "unix://u:p@/tmp/x.sock?db=2", "unix://u:****@/tmp/x.sock?db=2" },
		{ "mysql://u:p@(127.0.0.1:3306)/db", "mysql://u:****@(127.0.0.1:3306)/db" },
		{ "redis://user@h/1", "redis://user@h/1" },
		{ "redis://user:@h/1", "redis://user:@h/1" },
		{ "redis://h:6379/1", "redis://h:6379/1" },
		{ "sqlite3:///tmp/a:b@c.db", "sqlite3:///tmp/a:b@c.db" },
		{ "sqlite3://my.db?x=u:p@h", "sqlite3://my.db?x=u:p@h" },
		/* An '@' after the authority (t/fuzz/corpus/meta-url/redact-*) hid none. */
		{ "unix://:pw@/tmp/a@b.sock", "unix://:****@/tmp/a@b.sock" },
		{ "mysql://u:pw@(h:3306)/db@x", "mysql://u:****@(h:3306)/db@x" },
		{ "", "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *r = conf_redact_url(cases[i][0]);
		ck_assert_msg(!strcmp(r, cases[i][1]), "%s -> %s", cases[i][0], r);
		free(r);
	}
}
END_TEST

/* ---------------- volume setting ---------------- */

/*
 * `juicefs format sqlite3:///tmp/cx/m.db vol --bucket /tmp/cx/b` (JuiceFS 1.4.2),
 * `select value from jfs_setting`, with UUID and Bucket made placeholders.
 */
static const char golden_default[] = "{\n"
				     "\"Name\": \"vol\",\n"
				     "\"UUID\": \"@UUID@\",\n"
				     "\"Storage\": \"file\",\n"
				     "\"Tiers\": {\n"
				     "\"0\": {\n"
				     "\"ID\": 0,\n"
				     "\"StorageClass\": \"\",\n"
				     "\"Tag\": \"\"\n"
				     "}\n"
				     "},\n"
				     "\"Bucket\": \"@BUCKET@\",\n"
				     "\"BlockSize\": 4096,\n"
				     "\"Compression\": \"none\",\n"
				     "\"EncryptAlgo\": \"aes256gcm-rsa\",\n"
				     "\"TrashDays\": 1,\n"
				     "\"MetaVersion\": 1,\n"
				     "\"MinClientVersion\": \"1.1.0-A\",\n"
				     "\"DirStats\": true,\n"
				     "\"EnableACL\": false\n"
				     "}";

/*
 * Every field set: `juicefs format ... golden-vol --storage s3 --access-key 'AK<&>'
 * --secret-key sk123 --session-token tok/en --storage-class STD --block-size 1M
 * --compress zstd --shards 2 --hash-prefix --capacity 10 --inodes 100
 * --trash-days 7 --enable-acl --ranger-* --kerberos-config-file`, then
 * `juicefs config` for limits, client versions, user-group quota, changelog and
 * tiers 1 and 2. Secrets are sealed with the UUID below.
 */
static const char golden_full[] =
	"{\n"
	"\"Name\": \"golden-vol\",\n"
	"\"UUID\": \"b528ed5d-78fc-4e0c-8839-b8b5485cfbc6\",\n"
	"\"Storage\": \"s3\",\n"
	"\"StorageClass\": \"STD\",\n"
	"\"Tiers\": {\n"
	"\"0\": {\n"
	"\"ID\": 0,\n"
	"\"StorageClass\": \"STD\",\n"
	"\"Tag\": \"\"\n"
	"},\n"
	"\"1\": {\n"
	"\"ID\": 1,\n"
	"\"StorageClass\": \"GLACIER\",\n"
	"\"Tag\": \"k=v\"\n"
	"},\n"
	"\"2\": {\n"
	"\"ID\": 2,\n"
	"\"StorageClass\": \"IA\",\n"
	"\"Tag\": \"\"\n"
	"}\n"
	"},\n"
	"\"Bucket\": \"http://127.0.0.1:1/b%d?a=1\\u0026b=\\u003c2\\u003e\",\n"
	"\"AccessKey\": \"AK\\u003c\\u0026\\u003e\",\n"
	"\"SecretKey\": \"gxWjRTsdT+sk6Cw9BfWhYu/HqbMq6W8xLy6WmurfaMJo\",\n"
	"\"SessionToken\": \"pctYO18UCazVIMkpJ8FHwRk+CJLn0MQO0/o5G8m+2YRuyg==\",\n"
	"\"BlockSize\": 1024,\n"
	"\"Compression\": \"zstd\",\n"
	"\"Shards\": 2,\n"
	"\"HashPrefix\": true,\n"
	"\"Capacity\": 10737418240,\n"
	"\"Inodes\": 100,\n"
	"\"EncryptAlgo\": \"aes256gcm-rsa\",\n"
	"\"KeyEncrypted\": true,\n"
	"\"UploadLimit\": 5,\n"
	"\"DownloadLimit\": 6,\n"
	"\"TrashDays\": 7,\n"
	"\"MetaVersion\": 1,\n"
	"\"MinClientVersion\": \"1.4.0-A\",\n"
	"\"MaxClientVersion\": \"9.9.9\",\n"
	"\"DirStats\": true,\n"
	"\"UserGroupQuota\": true,\n"
	"\"EnableACL\": true,\n"
	"\"RangerRestUrl\": \"http://r:6080\",\n"
	"\"RangerService\": \"svc\",\n"
	"\"ChangeLog\": true,\n"
	"\"ChangeLogMaxAge\": 7200,\n"
	"\"ChangeLogMaxLines\": 10,\n"
	"\"KerbConf\": \"[libdefaults]\\n\\tdefault_realm = \\\"X\\\"\\n\"\n"
	"}";
#define FULL_UUID "b528ed5d-78fc-4e0c-8839-b8b5485cfbc6"
#define FULL_SECRET_ENC "gxWjRTsdT+sk6Cw9BfWhYu/HqbMq6W8xLy6WmurfaMJo"
#define FULL_TOKEN_ENC "pctYO18UCazVIMkpJ8FHwRk+CJLn0MQO0/o5G8m+2YRuyg=="

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = xstrdup(v);
}

START_TEST(test_format_default_golden)
{
	struct conf_format f;
	char uuid[37];
	conf_format_defaults(&f);
	uuid4(uuid);
	set_str(&f.name, "vol");
	set_str(&f.uuid, uuid);
	set_str(&f.bucket, "/tmp/cx/b/");
	char *want1 = replace(golden_default, "@UUID@", uuid);
	char *want = replace(want1, "@BUCKET@", "/tmp/cx/b/");
	char *got = conf_format_to_json(&f, 0);
	ck_assert_str_eq(got, want);
	free(got);
	/* Masking changes nothing when there are no secrets. */
	got = conf_format_to_json(&f, 1);
	ck_assert_str_eq(got, want);
	free(got);

	/* And it reads back into the same struct. */
	struct conf_format g;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_format_from_json(want, &g, &err), 0);
	ck_assert_str_eq(g.name, "vol");
	ck_assert_str_eq(g.uuid, uuid);
	ck_assert_str_eq(g.storage, "file");
	ck_assert_str_eq(g.bucket, "/tmp/cx/b/");
	ck_assert_int_eq(g.block_size, 4096);
	ck_assert_str_eq(g.compression, "none");
	ck_assert_str_eq(g.encrypt_algo, "aes256gcm-rsa");
	ck_assert_int_eq(g.trash_days, 1);
	ck_assert_int_eq(g.meta_version, 1);
	ck_assert_str_eq(g.min_client_version, "1.1.0-A");
	ck_assert_int_eq(g.dir_stats, 1);
	ck_assert_int_eq(g.enable_acl, 0);
	ck_assert_int_eq(g.key_encrypted, 0);
	ck_assert_str_eq(g.secret_key, "");
	got = conf_format_to_json(&g, 0);
	ck_assert_str_eq(got, want);
	free(got);
	conf_format_release(&g);
	conf_format_release(&g);
	conf_format_release(NULL);
	buf_release(&err);
	free(want1);
	free(want);
	conf_format_release(&f);
}
END_TEST

START_TEST(test_format_defaults)
{
	struct conf_format f;
	conf_format_defaults(&f);
	ck_assert_str_eq(f.storage, "file");
	if (geteuid() == 0)
		ck_assert_str_eq(f.bucket, "/var/jfs/");
	else
		ck_assert_ptr_nonnull(strstr(f.bucket, "/.juicefs/local/"));
	ck_assert_int_eq(f.block_size, 4096);
	ck_assert_str_eq(f.compression, "none");
	ck_assert_str_eq(f.encrypt_algo, "aes256gcm-rsa");
	ck_assert_int_eq(f.trash_days, 1);
	ck_assert_int_eq(f.meta_version, 1);
	ck_assert_str_eq(f.min_client_version, "1.1.0-A");
	ck_assert_str_eq(f.max_client_version, "");
	ck_assert_int_eq(f.dir_stats, 1);
	ck_assert_int_eq(f.enable_acl, 0);
	ck_assert_int_eq(f.key_encrypted, 0);
	ck_assert_int_eq(f.shards, 0);
	ck_assert(f.capacity == 0 && f.inodes == 0);
	ck_assert_ptr_null(f.extra);
	conf_format_release(&f);
}
END_TEST

START_TEST(test_format_full_golden)
{
	struct conf_format f;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_format_from_json(golden_full, &f, &err), 0);
	ck_assert_str_eq(f.name, "golden-vol");
	ck_assert_str_eq(f.uuid, FULL_UUID);
	ck_assert_str_eq(f.storage, "s3");
	ck_assert_str_eq(f.storage_class, "STD");
	ck_assert_str_eq(f.bucket, "http://127.0.0.1:1/b%d?a=1&b=<2>");
	ck_assert_str_eq(f.access_key, "AK<&>");
	ck_assert_str_eq(f.secret_key, "sk123"); /* sealed by the real client */
	ck_assert_str_eq(f.session_token, "tok/en");
	ck_assert_int_eq(f.block_size, 1024);
	ck_assert_str_eq(f.compression, "zstd");
	ck_assert_int_eq(f.shards, 2);
	ck_assert_int_eq(f.hash_prefix, 1);
	ck_assert(f.capacity == 10ULL << 30);
	ck_assert(f.inodes == 100);
	ck_assert_str_eq(f.encrypt_key, "");
	ck_assert_int_eq(f.key_encrypted, 1);
	ck_assert(f.upload_limit == 5 && f.download_limit == 6);
	ck_assert_int_eq(f.trash_days, 7);
	ck_assert_str_eq(f.min_client_version, "1.4.0-A");
	ck_assert_str_eq(f.max_client_version, "9.9.9");
	ck_assert_int_eq(f.dir_stats, 1);
	ck_assert_int_eq(f.user_group_quota, 1);
	ck_assert_int_eq(f.enable_acl, 1);
	json_t *extra = f.extra;
	ck_assert_ptr_nonnull(extra);
	ck_assert_str_eq(json_string_value(json_object_get(extra, "RangerService")), "svc");
	ck_assert_int_eq(json_integer_value(json_object_get(extra, "ChangeLogMaxAge")), 7200);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(extra, "Tiers"), "2"));

	/* Masked output is the golden text with the secrets replaced. */
	char *m1 = replace(golden_full, FULL_SECRET_ENC, "removed");
	char *masked = replace(m1, FULL_TOKEN_ENC, "removed");
	char *got = conf_format_to_json(&f, 1);
	ck_assert_str_eq(got, masked);
	free(got);

	/* Unmasked: same bytes except freshly sealed secrets that open to the same text. */
	got = conf_format_to_json(&f, 0);
	ck_assert_ptr_null(strstr(got, "sk123"));
	ck_assert_ptr_null(strstr(got, "tok/en"));
	ck_assert_ptr_null(strstr(got, FULL_SECRET_ENC)); /* random nonce each time */
	struct conf_format g;
	ck_assert_int_eq(conf_format_from_json(got, &g, &err), 0);
	ck_assert_str_eq(g.secret_key, "sk123");
	ck_assert_str_eq(g.session_token, "tok/en");
	char *again = conf_format_to_json(&g, 1);
	ck_assert_str_eq(again, masked);
	free(again);
	conf_format_release(&g);
	free(got);
	free(m1);
	free(masked);
	conf_format_release(&f);
	buf_release(&err);
}
END_TEST

/* Values sealed by the real client: one AES (default algo), one SM4 (sm4gcm). */
START_TEST(test_secret_real_client)
{
	static const char aes[] = "{\"Name\":\"vol2\","
				  "\"UUID\":\"1f080845-4597-4754-99e5-e66ef24d8510\","
				  "\"Storage\":\"s3\",\"Bucket\":\"http://127.0.0.1:1/b\","
				  "\"AccessKey\":\"ak\","
				  "\"SecretKey\":\"6VLwwTH4PcPJWQubeXXx7SxBEc11+I2qAvU90JptLeYW\","
				  "\"SessionToken\":"
				  "\"Hk0S2zeCPuoGU8f99KrzR179m94PWaoI+Y18mTZ1gCJmQw==\","
				  "\"BlockSize\":4096,\"KeyEncrypted\":true,\"TrashDays\":1}";
	static const char sm4[] = "{\"Name\":\"vol4\","
				  "\"UUID\":\"01f3208d-4d04-463f-bf88-afacc7a323d8\","
				  "\"Storage\":\"s3\",\"Bucket\":\"http://127.0.0.1:1/b\","
				  "\"SecretKey\":\"YDt/N82wfziIJyZ7GrkN2TRhBb9kr++QbiVtetrpJFpU\","
				  "\"BlockSize\":4096,\"EncryptAlgo\":\"sm4gcm\","
				  "\"KeyEncrypted\":true,\"TrashDays\":1}";
	struct conf_format f;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(conf_format_from_json(aes, &f, &err), 0);
	ck_assert_str_eq(f.secret_key, "sk123");
	ck_assert_str_eq(f.session_token, "tok<&>");
	conf_format_release(&f);

	ck_assert_int_eq(conf_format_from_json(sm4, &f, &err), 0);
	ck_assert_str_eq(f.secret_key, "sk123");
	/* Our SM4 sealing opens with our own reader (the real client was checked by hand). */
	set_str(&f.secret_key, "a longer secret, more than one 16-byte block long");
	char *j = conf_format_to_json(&f, 0);
	conf_format_release(&f);
	ck_assert_int_eq(conf_format_from_json(j, &f, &err), 0);
	ck_assert_str_eq(f.secret_key, "a longer secret, more than one 16-byte block long");
	free(j);
	conf_format_release(&f);

	/* The same ciphertext under another UUID fails authentication. */
	char *wrong = replace(aes, "1f080845", "1f080846");
	ck_assert_int_eq(conf_format_from_json(wrong, &f, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.ptr, "SecretKey"));
	ck_assert_ptr_null(strchr(err.ptr, '\n'));
	ck_assert_ptr_null(f.name);
	free(wrong);
	/* A flipped ciphertext byte too, and so does bad base64. */
	buf_reset(&err);
	wrong = replace(aes, "6VLwwTH4", "6VLwwTH5");
	ck_assert_int_eq(conf_format_from_json(wrong, &f, &err), -EINVAL);
	free(wrong);
	wrong = replace(aes, "6VLwwTH4", "6VLw*TH4");
	ck_assert_int_eq(conf_format_from_json(wrong, &f, &err), -EINVAL);
	free(wrong);
	wrong = replace(aes, "6VLwwTH4PcPJWQubeXXx7SxBEc11+I2qAvU90JptLeYW", "AAAA");
	ck_assert_int_eq(conf_format_from_json(wrong, &f, &err), -EINVAL);
	free(wrong);
	/* Without KeyEncrypted the values are taken as they are. */
	wrong = replace(aes, "\"KeyEncrypted\":true", "\"KeyEncrypted\":false");
	ck_assert_int_eq(conf_format_from_json(wrong, &f, &err), 0);
	ck_assert_str_eq(f.secret_key, "6VLwwTH4PcPJWQubeXXx7SxBEc11+I2qAvU90JptLeYW");
	conf_format_release(&f);
	free(wrong);
	buf_release(&err);
}
END_TEST

START_TEST(test_secret_sealing)
{
	struct conf_format f, g;
	struct buf err = BUF_INIT;
	char uuid[37], *j;

	conf_format_defaults(&f);
	uuid4(uuid);
	set_str(&f.name, "sec");
	set_str(&f.uuid, uuid);
	j = conf_format_to_json(&f, 0);
	ck_assert_ptr_null(strstr(j, "KeyEncrypted"));
	ck_assert_ptr_null(strstr(j, "SecretKey"));
	free(j);

	/* Any secret makes the setting sealed, as Format.Encrypt does at format time. */
	set_str(&f.access_key, "AKID");
	set_str(&f.secret_key, "s3cr3t");
	set_str(&f.encrypt_key, "-----BEGIN RSA PRIVATE KEY-----\nMII...\n-----END...\n");
	j = conf_format_to_json(&f, 0);
	ck_assert_ptr_nonnull(strstr(j, "\n\"KeyEncrypted\": true,\n"));
	ck_assert_ptr_null(strstr(j, "s3cr3t"));
	ck_assert_ptr_null(strstr(j, "BEGIN"));
	ck_assert_ptr_nonnull(strstr(j, "\"AccessKey\": \"AKID\""));
	ck_assert_ptr_null(strstr(j, "SessionToken"));
	/* base64(12-byte nonce + 6 bytes + 16-byte tag) = 34 bytes = 48 chars. */
	const char *sk = strstr(j, "\"SecretKey\": \"");
	ck_assert_ptr_nonnull(sk);
	ck_assert_int_eq((int)strcspn(sk + 14, "\""), 48);
	ck_assert_int_eq(conf_format_from_json(j, &g, &err), 0);
	ck_assert_str_eq(g.secret_key, "s3cr3t");
	ck_assert_str_eq(g.encrypt_key, f.encrypt_key);
	ck_assert_str_eq(g.session_token, "");
	ck_assert_int_eq(g.key_encrypted, 1);
	conf_format_release(&g);
	free(j);

	/* Masked: "removed" for every non-empty secret, the access key stays. */
	j = conf_format_to_json(&f, 1);
	ck_assert_ptr_nonnull(strstr(j, "\"SecretKey\": \"removed\",\n"));
	ck_assert_ptr_nonnull(strstr(j, "\"EncryptKey\": \"removed\",\n"));
	ck_assert_ptr_null(strstr(j, "SessionToken"));
	ck_assert_ptr_nonnull(strstr(j, "\"AccessKey\": \"AKID\""));
	/* A stripped secret reads back as the marker and is written back as it is. */
	ck_assert_int_eq(conf_format_from_json(j, &g, &err), 0);
	ck_assert_str_eq(g.secret_key, "removed");
	char *j2 = conf_format_to_json(&g, 0);
	ck_assert_str_eq(j2, j);
	free(j2);
	conf_format_release(&g);
	free(j);
	conf_format_release(&f);
	buf_release(&err);
}
END_TEST

/* Go's string escaping as the real client wrote it (checked with StorageClass). */
START_TEST(test_format_escaping)
{
	struct conf_format f;
	conf_format_defaults(&f);
	set_str(&f.name, "esc");
	set_str(&f.uuid, "u");
	set_str(&f.storage_class, "a\bb\fc\x01" "d\x7f" "e\xe2\x80\xa8" "f\xff");
	set_str(&f.bucket, "http://h/b%d?x=<&>\"\\\n\r\t\xe2\x80\xa9\xc3\xa9\xf0\x9f\x98\x80");
	char *j = conf_format_to_json(&f, 0);
	ck_assert_ptr_nonnull(
		strstr(j, "\n\"StorageClass\": \"a\\bb\\fc\\u0001d\x7f" "e\\u2028f\xef\xbf\xbd\",\n"));
	ck_assert_ptr_nonnull(strstr(j, "\n\"Bucket\": \"http://h/b%d?x=\\u003c\\u0026\\u003e"
					"\\\"\\\\\\n\\r\\t\\u2029\xc3\xa9\xf0\x9f\x98\x80\",\n"));
	/* Tiers[0] follows StorageClass when the setting has no Tiers of its own. */
	ck_assert_ptr_nonnull(strstr(j, "\"Tiers\": {\n\"0\": {\n\"ID\": 0,\n\"StorageClass\": "
					"\"a\\bb\\fc"));
	struct conf_format g;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_format_from_json(j, &g, &err), 0);
	ck_assert_str_eq(g.bucket, f.bucket);
	conf_format_release(&g);
	free(j);
	conf_format_release(&f);
	buf_release(&err);
}
END_TEST

START_TEST(test_format_old_and_unknown)
{
	/* A 1.0-era setting: no Tiers, no DirStats, no EnableACL; plus fields from the future. */
	static const char old[] =
		"{\"Name\":\"old\",\"UUID\":\"u-1\",\"Storage\":\"file\",\"StorageClass\":\"IA\","
		"\"Bucket\":\"/b/\",\"BlockSize\":4096,\"Compression\":\"lz4\",\"TrashDays\":0,"
		"\"Future\":{\"b\":[1,2.5,\"x\",null,true,[],{}],\"a\":1e21},"
		"\"ChangeLog\":false,\"RangerService\":\"\",\"Zeta\":0.000001,\"Small\":1e-7,"
		"\"Neg\":-12.5}";
	static const char want[] = "{\n"
				   "\"Name\": \"old\",\n"
				   "\"UUID\": \"u-1\",\n"
				   "\"Storage\": \"file\",\n"
				   "\"StorageClass\": \"IA\",\n"
				   "\"Tiers\": {\n"
				   "\"0\": {\n"
				   "\"ID\": 0,\n"
				   "\"StorageClass\": \"IA\",\n"
				   "\"Tag\": \"\"\n"
				   "}\n"
				   "},\n"
				   "\"Bucket\": \"/b/\",\n"
				   "\"BlockSize\": 4096,\n"
				   "\"Compression\": \"lz4\",\n"
				   "\"TrashDays\": 0,\n"
				   "\"EnableACL\": false,\n"
				   "\"Future\": {\n"
				   "\"b\": [\n"
				   "1,\n"
				   "2.5,\n"
				   "\"x\",\n"
				   "null,\n"
				   "true,\n"
				   "[],\n"
				   "{}\n"
				   "],\n"
				   "\"a\": 1e+21\n"
				   "},\n"
				   "\"Zeta\": 0.000001,\n"
				   "\"Small\": 1e-7,\n"
				   "\"Neg\": -12.5\n"
				   "}";
	struct conf_format f, c;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_format_from_json(old, &f, &err), 0);
	ck_assert_int_eq(f.dir_stats, 0); /* absent means off, not the format default */
	ck_assert_int_eq(f.meta_version, 0);
	ck_assert_int_eq(f.trash_days, 0);
	char *j = conf_format_to_json(&f, 0);
	ck_assert_str_eq(j, want);
	free(j);

	/* The copy is deep: changing it leaves the original alone. */
	conf_format_copy(&c, &f);
	set_str(&c.name, "changed");
	json_object_set_new(c.extra, "Future", json_string("gone"));
	j = conf_format_to_json(&f, 0);
	ck_assert_str_eq(j, want);
	free(j);
	j = conf_format_to_json(&c, 0);
	ck_assert_ptr_nonnull(strstr(j, "\"Future\": \"gone\""));
	ck_assert_ptr_nonnull(strstr(j, "\"Name\": \"changed\""));
	free(j);
	conf_format_release(&c);
	conf_format_release(&f);

	/* Explicit null Tiers is rebuilt too; keys match case-insensitively, like Go. */
	ck_assert_int_eq(conf_format_from_json("{\"name\":\"abc\",\"TIERS\":null,\"blocksize\":"
					       "1024,\"Bucket\":null,\"tiers\":null}",
					       &f, &err),
			 0);
	ck_assert_str_eq(f.name, "abc");
	ck_assert_int_eq(f.block_size, 1024);
	ck_assert_str_eq(f.bucket, "");
	j = conf_format_to_json(&f, 0);
	ck_assert_ptr_nonnull(strstr(j, "\"Tiers\": {\n\"0\": {\n\"ID\": 0,\n\"StorageClass\": "
					"\"\",\n\"Tag\": \"\"\n}\n},\n\"Bucket\": \"\",\n"));
	ck_assert_ptr_null(strstr(j, "TIERS"));
	free(j);
	conf_format_release(&f);

	/* Tiers in odd order and spelling come out sorted and canonical. */
	ck_assert_int_eq(conf_format_from_json("{\"Tiers\":{\"3\":{\"tag\":\"t\",\"id\":3},"
					       "\"0\":{\"StorageClass\":\"S\"}}}",
					       &f, &err),
			 0);
	j = conf_format_to_json(&f, 0);
	ck_assert_ptr_nonnull(strstr(j, "\"Tiers\": {\n\"0\": {\n\"ID\": 0,\n\"StorageClass\": "
					"\"S\",\n\"Tag\": \"\"\n},\n\"3\": {\n\"ID\": 3,\n"
					"\"StorageClass\": \"\",\n\"Tag\": \"t\"\n}\n},\n"));
	free(j);
	conf_format_release(&f);

	/*
	 * An integral real past int64 kept from an unknown field was written
	 * as bare digits, as Go's 'f' style has it below 1e21, and jansson then
	 * refused our own setting as a too big integer
	 * (t/fuzz/corpus/format-json/big-real-*): it must read back.
	 */
	ck_assert_int_eq(conf_format_from_json("{\"Name\":\"b\",\"X\":48888888888888074000.2,"
					       "\"Y\":-1e19,\"Z\":9e18,\"N\":-0.0}",
					       &f, &err),
			 0);
	j = conf_format_to_json(&f, 0);
	ck_assert_msg(!conf_format_from_json(j, &c, &err), "%s: %s", j, err.ptr);
	ck_assert_ptr_nonnull(strstr(j, "\"Z\": 9000000000000000000,\n"));
	ck_assert(json_real_value(json_object_get(c.extra, "X")) == 48888888888888074000.0);
	ck_assert(json_real_value(json_object_get(c.extra, "Y")) == -1e19);
	/* "-0" would come back as the integer 0: negative zero stays a real. */
	ck_assert(json_is_real(json_object_get(c.extra, "N")));
	ck_assert(signbit(json_real_value(json_object_get(c.extra, "N"))));
	free(j);
	conf_format_release(&c);
	conf_format_release(&f);
	buf_release(&err);
}
END_TEST

START_TEST(test_format_bad_json)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1,2]",
		"\"str\"",
		"{\"Name\":1}",
		"{\"BlockSize\":\"4096\"}",
		"{\"BlockSize\":4096.5}",
		"{\"BlockSize\":9999999999}",
		"{\"Capacity\":-1}",
		"{\"HashPrefix\":1}",
		"{\"Tiers\":[]}",
		"{\"Tiers\":{\"x\":{}}}",
		"{\"Tiers\":{\"0\":5}}",
		"{\"Tiers\":{\"0\":{\"ID\":\"0\"}}}",
		"{\"ChangeLog\":\"yes\"}",
		"{\"ChangeLogMaxAge\":1.5}",
		"{\"Name\":\"a\"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct conf_format f;
		struct buf err = BUF_INIT;
		int r = conf_format_from_json(bad[i], &f, &err);
		ck_assert_msg(r == -EINVAL, "%s gave %d", bad[i], r);
		ck_assert_msg(err.len && !strchr(err.ptr, '\n'), "%s: [%s]", bad[i], err.ptr);
		ck_assert_ptr_null(f.name);
		ck_assert_ptr_null(f.extra);
		conf_format_release(&f);
		buf_release(&err);
	}
	struct conf_format f;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_format_from_json("{\"BlockSize\":\"4096\"}", &f, &err), -EINVAL);
	ck_assert_str_eq(err.ptr, "json: cannot unmarshal string into Go struct field "
				  "Format.BlockSize of type int");
	/* Duplicate keys are not an error for Go: the last one wins, exact case first. */
	ck_assert_int_eq(conf_format_from_json("{\"Name\":\"a\",\"name\":\"b\",\"Name\":\"c\"}",
					       &f, &err),
			 0);
	ck_assert_str_eq(f.name, "c");
	conf_format_release(&f);
	buf_release(&err);
}
END_TEST

START_TEST(test_volume_name)
{
	char n63[64], n64[65];
	memset(n63, 'a', 63);
	n63[63] = 0;
	memset(n64, 'a', 64);
	n64[64] = 0;
	static const char *const good[] = { "abc", "a-b", "a--b", "0ab", "123", "my-jfs-01" };
	static const char *const bad[] = { "",    "ab",  "a",   "-ab", "ab-",   "Abc",
					   "a_b", "a.b", "a b", "ab/", "\xc3\xa9" "ab" };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		ck_assert_msg(conf_valid_volume_name(good[i]), "rejected %s", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(!conf_valid_volume_name(bad[i]), "accepted %s", bad[i]);
	ck_assert(conf_valid_volume_name(n63));
	ck_assert(!conf_valid_volume_name(n64));
	ck_assert(!conf_valid_volume_name(NULL));
}
END_TEST

/* ---------------- options ---------------- */

static const struct conf_opt test_opts[] = {
	{ "storage", 0, OPT_STRING, "file", 0, "object storage type", NULL },
	{ "bucket", 0, OPT_STRING, NULL, 0, "the bucket URL", NULL },
	{ "access-key", 0, OPT_STRING, NULL, 0, "access key for object storage", "JFS_T_AK" },
	{ "block-size", 0, OPT_SIZE, "4M", 1024, "size of block in KiB", NULL },
	{ "capacity", 0, OPT_SIZE, NULL, 1ULL << 30, "quota in GiB", "JFS_T_CAP" },
	{ "trash-days", 0, OPT_INT, "1", 0, "days in trash", NULL },
	{ "limit", 'l', OPT_INT, NULL, 0, "limit", NULL },
	{ "hash-prefix", 0, OPT_BOOL, NULL, 0, "add a hash prefix", NULL },
	{ "force", 'f', OPT_BOOL, NULL, 0, "overwrite", NULL },
	{ "dir-stats", 0, OPT_BOOL, "true", 0, "dir stats", "JFS_T_DS" },
	{ "heartbeat", 0, OPT_DURATION, "12s", 0, "heartbeat interval", NULL },
	{ "umask", 0, OPT_OCTAL, "022", 0, "umask", NULL },
	{ "session", 's', OPT_INT, "0", 0, "session id", NULL },
};

static const struct conf_cmd test_cmd = {
	.name = "format",
	.usage = "juicefs format [command options] META-URL NAME",
	.summary = "Format a volume",
	.description = "Create a new volume.\n\nExamples:\n$ juicefs format sqlite3://a.db a",
	.opts = test_opts,
	.nopts = ARRAY_SIZE(test_opts),
	.min_args = 2,
	.max_args = 2,
};

static int parse(struct conf_parsed *p, struct buf *err, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, err);
	argv[argc++] = (char *)"format";
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	buf_reset(err);
	return conf_parse_args(&test_cmd, argc, argv, p, err);
}

#define GET(p, n) conf_get(&test_cmd, (p), (n))

START_TEST(test_opts_defaults)
{
	struct conf_parsed p;
	struct buf err = BUF_INIT;
	unsetenv("JFS_T_AK");
	unsetenv("JFS_T_CAP");
	unsetenv("JFS_T_DS");
	ck_assert_int_eq(parse(&p, &err, "meta", "name", NULL), 0);
	ck_assert_int_eq(p.nargs, 2);
	ck_assert_str_eq(p.args[0], "meta");
	ck_assert_str_eq(p.args[1], "name");
	ck_assert_ptr_null(p.args[2]);
	ck_assert_int_eq(p.help, 0);
	ck_assert_str_eq(GET(&p, "storage")->str, "file");
	ck_assert_int_eq(GET(&p, "storage")->set, 0);
	ck_assert_ptr_null(GET(&p, "bucket")->str);
	ck_assert_ptr_null(GET(&p, "access-key")->str);
	ck_assert(GET(&p, "block-size")->u == 4ULL << 20);
	ck_assert(GET(&p, "capacity")->u == 0);
	ck_assert_int_eq(GET(&p, "trash-days")->i, 1);
	ck_assert_int_eq(GET(&p, "limit")->i, 0);
	ck_assert_int_eq(GET(&p, "hash-prefix")->i, 0);
	ck_assert_int_eq(GET(&p, "dir-stats")->i, 1);
	ck_assert_int_eq(GET(&p, "heartbeat")->i, 12000);
	ck_assert_int_eq(GET(&p, "umask")->i, 022);
	conf_parsed_release(&p);
	conf_parsed_release(&p);
	conf_parsed_release(NULL);
	buf_release(&err);
}
END_TEST

START_TEST(test_opts_forms)
{
	struct conf_parsed p;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(parse(&p, &err, "--storage", "s3", "meta", "--bucket=http://h/b?x=1",
			       "-block-size", "64K", "--capacity=2", "name", "-f", "--hash-prefix",
			       "--dir-stats=false", "--heartbeat", "1h30m", "--umask=0755", "-l",
			       "-1", "--trash-days", "0", "--trash-days=3", "-s=7", NULL),
			 0);
	ck_assert_int_eq(p.nargs, 2);
	ck_assert_str_eq(p.args[0], "meta");
	ck_assert_str_eq(p.args[1], "name");
	ck_assert_str_eq(GET(&p, "storage")->str, "s3");
	ck_assert_int_eq(GET(&p, "storage")->set, 1);
	ck_assert_str_eq(GET(&p, "bucket")->str, "http://h/b?x=1");
	ck_assert(GET(&p, "block-size")->u == 64ULL << 10);
	ck_assert(GET(&p, "capacity")->u == 2ULL << 30);
	ck_assert_int_eq(GET(&p, "force")->i, 1);
	ck_assert_int_eq(GET(&p, "force")->set, 1);
	ck_assert_int_eq(GET(&p, "hash-prefix")->i, 1);
	ck_assert_int_eq(GET(&p, "dir-stats")->i, 0);
	ck_assert_int_eq(GET(&p, "dir-stats")->set, 1);
	ck_assert_int_eq(GET(&p, "heartbeat")->i, 5400000);
	ck_assert_int_eq(GET(&p, "umask")->i, 0755);
	ck_assert_int_eq(GET(&p, "limit")->i, -1); /* a value may look like a flag */
	ck_assert_int_eq(GET(&p, "trash-days")->i, 3); /* last one wins */
	ck_assert_int_eq(GET(&p, "session")->i, 7);
	conf_parsed_release(&p);

	/* "--" ends options; a lone "-" is an argument; bools take no separate value. */
	ck_assert_int_eq(parse(&p, &err, "--force", "--", "--storage", "-", NULL), 0);
	ck_assert_str_eq(p.args[0], "--storage");
	ck_assert_str_eq(p.args[1], "-");
	ck_assert_str_eq(GET(&p, "storage")->str, "file");
	conf_parsed_release(&p);
	ck_assert_int_eq(parse(&p, &err, "--force", "false", "x", NULL), 0);
	ck_assert_int_eq(GET(&p, "force")->i, 1);
	ck_assert_str_eq(p.args[0], "false");
	conf_parsed_release(&p);

	/* Bool spellings of strconv.ParseBool; sizes with binary suffixes; bare durations. */
	ck_assert_int_eq(parse(&p, &err, "--force=T", "--hash-prefix=0", "--block-size",
			       "1MiB", "--heartbeat=2", "--umask", "0o17", "a", "b", NULL),
			 0);
	ck_assert_int_eq(GET(&p, "force")->i, 1);
	ck_assert_int_eq(GET(&p, "hash-prefix")->i, 0);
	ck_assert(GET(&p, "block-size")->u == 1ULL << 20);
	ck_assert_int_eq(GET(&p, "heartbeat")->i, 2000);
	ck_assert_int_eq(GET(&p, "umask")->i, 017);
	ck_assert_int_eq(GET(&p, "heartbeat")->set, 1);
	ck_assert_int_eq(GET(&p, "storage")->set, 0);
	conf_parsed_release(&p);

	/* An empty string value is a value. */
	ck_assert_int_eq(parse(&p, &err, "--storage=", "--bucket", "", "a", "b", NULL), 0);
	ck_assert_str_eq(GET(&p, "storage")->str, "");
	ck_assert_str_eq(GET(&p, "bucket")->str, "");
	conf_parsed_release(&p);
	buf_release(&err);
}
END_TEST

START_TEST(test_opts_env)
{
	struct conf_parsed p;
	struct buf err = BUF_INIT;
	setenv("JFS_T_AK", "from-env", 1);
	setenv("JFS_T_CAP", "5", 1);
	setenv("JFS_T_DS", "false", 1);
	ck_assert_int_eq(parse(&p, &err, "a", "b", NULL), 0);
	ck_assert_str_eq(GET(&p, "access-key")->str, "from-env");
	ck_assert_int_eq(GET(&p, "access-key")->set, 0);
	ck_assert(GET(&p, "capacity")->u == 5ULL << 30);
	ck_assert_int_eq(GET(&p, "dir-stats")->i, 0); /* env beats the default */
	conf_parsed_release(&p);

	/* The command line beats the environment, even a bad environment. */
	setenv("JFS_T_CAP", "lots", 1);
	ck_assert_int_eq(parse(&p, &err, "a", "b", "--access-key", "cli", "--capacity", "1T",
			       NULL),
			 0);
	ck_assert_str_eq(GET(&p, "access-key")->str, "cli");
	ck_assert(GET(&p, "capacity")->u == 1ULL << 40);
	conf_parsed_release(&p);

	ck_assert_int_eq(parse(&p, &err, "a", "b", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.ptr, "JFS_T_CAP"));
	ck_assert_ptr_nonnull(strstr(err.ptr, "--capacity"));

	/* An empty variable counts as unset. */
	setenv("JFS_T_CAP", "", 1);
	setenv("JFS_T_AK", "", 1);
	ck_assert_int_eq(parse(&p, &err, "a", "b", NULL), 0);
	ck_assert(GET(&p, "capacity")->u == 0);
	ck_assert_ptr_null(GET(&p, "access-key")->str);
	conf_parsed_release(&p);
	buf_release(&err);
}
END_TEST

START_TEST(test_opts_errors)
{
	static const struct {
		const char *argv[6];
		const char *msg;
	} cases[] = {
		{ { "--foo", "a", "b" }, "flag provided but not defined: -foo" },
		{ { "a", "b", "-x" }, "flag provided but not defined: -x" },
		{ { "a", "b", "--foo=1" }, "flag provided but not defined: -foo" },
		{ { "a", "b", "--bucket" }, "flag needs an argument: -bucket" },
		{ { "a", "b", "-l" }, "flag needs an argument: -limit" },
		{ { "a", "b", "---x" }, "bad flag syntax: ---x" },
		{ { "a", "b", "--=x" }, "bad flag syntax: --=x" },
		{ { "a" }, "This command requires at least 2 arguments" },
		{ { "a", "b", "c" }, "This command accept at most 2 arguments but got [a b c]" },
		{ { "--block-size", "x", "a", "b" },
		  "invalid value \"x\" for flag --block-size: not a size (e.g. 4096, 64K, 4M, 1G)" },
		{ { "--block-size", "4X", "a", "b" }, "invalid value \"4X\" for flag --block-size: "
						    "not a size (e.g. 4096, 64K, 4M, 1G)" },
		{ { "--capacity=99999999999T", "a", "b" },
		  "invalid value \"99999999999T\" for flag --capacity: value out of range" },
		{ { "--trash-days", "1.5", "a", "b" },
		  "invalid value \"1.5\" for flag --trash-days: not an integer" },
		{ { "--trash-days=99999999999999999999", "a", "b" },
		  "invalid value \"99999999999999999999\" for flag --trash-days: value out of range" },
		{ { "--force=maybe", "a", "b" },
		  "invalid value \"maybe\" for flag --force: parse error (want true or false)" },
		{ { "--heartbeat", "soon", "a", "b" },
		  "invalid value \"soon\" for flag --heartbeat: not a duration (e.g. 30, 100ms, "
		  "1h30m)" },
		{ { "--umask", "0855", "a", "b" },
		  "invalid value \"0855\" for flag --umask: not an octal number" },
	};
	unsetenv("JFS_T_CAP");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *argv[8] = { (char *)"format" };
		int argc = 1;
		for (int k = 0; k < 6 && cases[i].argv[k]; k++)
			argv[argc++] = (char *)cases[i].argv[k];
		struct conf_parsed p;
		struct buf err = BUF_INIT;
		int r = conf_parse_args(&test_cmd, argc, argv, &p, &err);
		ck_assert_msg(r == -EINVAL, "case %zu gave %d", i, r);
		ck_assert_str_eq(err.ptr, cases[i].msg);
		ck_assert_ptr_null(p.vals); /* nothing to free after an error */
		ck_assert_int_eq(p.nargs, 0);
		conf_parsed_release(&p);
		buf_release(&err);
	}
}
END_TEST

START_TEST(test_opts_help)
{
	struct conf_parsed p;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(parse(&p, &err, "--help", NULL), 0);
	ck_assert_int_eq(p.help, 1);
	conf_parsed_release(&p);
	ck_assert_int_eq(parse(&p, &err, "a", "b", "c", "-h", "--unknown", NULL), 0);
	ck_assert_int_eq(p.help, 1);
	conf_parsed_release(&p);
	ck_assert_int_eq(parse(&p, &err, "-help", NULL), 0);
	ck_assert_int_eq(p.help, 1);
	conf_parsed_release(&p);
	buf_release(&err);

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	conf_print_help(&test_cmd, f);
	fclose(f);
	static const char *const want[] = {
		"NAME:\n   juicefs format - Format a volume\n\n",
		"USAGE:\n   juicefs format [command options] META-URL NAME\n\n",
		"DESCRIPTION:\n   Create a new volume.\n\n   Examples:\n   $ juicefs format "
		"sqlite3://a.db a\n\nOPTIONS:\n",
		"\n   --storage value            object storage type (default: \"file\")\n",
		"\n   --bucket value             the bucket URL\n",
		"\n   --access-key value         access key for object storage (env JFS_T_AK)\n",
		"\n   --block-size value         size of block in KiB (default: \"4M\")\n",
		"\n   --trash-days value         days in trash (default: 1)\n",
		"\n   --limit value, -l value    limit (default: 0)\n",
		"\n   --hash-prefix              add a hash prefix (default: false)\n",
		"\n   --force, -f                overwrite (default: false)\n",
		"\n   --dir-stats                dir stats (env JFS_T_DS) (default: true)\n",
		"\n   --heartbeat value          heartbeat interval (default: \"12s\")\n",
		"\n   --umask value              umask (default: \"022\")\n",
		"\n   --session value, -s value  session id (default: 0)\n",
		"\n   --help, -h                 show help (default: false)\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_msg(strstr(text, want[i]), "missing [%s] in:\n%s", want[i], text);
	ck_assert_msg(!strncmp(text, "NAME:", 5), "%s", text);
	free(text);
}
END_TEST

START_TEST(test_opts_get_unknown)
{
	struct conf_parsed p;
	struct buf err = BUF_INIT;
	char *argv[] = { (char *)"format", (char *)"a", (char *)"b", NULL };
	ck_assert_int_eq(conf_parse_args(&test_cmd, 3, argv, &p, &err), 0);
	conf_get(&test_cmd, &p, "no-such-option"); /* aborts */
}
END_TEST

START_TEST(test_opts_unlimited)
{
	static const struct conf_opt o[] = { { "threads", 'p', OPT_INT, "50", 0, "threads",
					       NULL } };
	static const struct conf_cmd c = { .name = "rmr", .usage = "juicefs rmr PATH ...",
					   .opts = o, .nopts = 1, .min_args = 1, .max_args = -1 };
	char *argv[] = { (char *)"rmr", (char *)"a", (char *)"-p", (char *)"8", (char *)"b",
			 (char *)"c", (char *)"d", NULL };
	struct conf_parsed p;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(conf_parse_args(&c, 7, argv, &p, &err), 0);
	ck_assert_int_eq(p.nargs, 4);
	ck_assert_str_eq(p.args[3], "d");
	ck_assert_int_eq(conf_get(&c, &p, "threads")->i, 8);
	conf_parsed_release(&p);
	/* An empty table still parses positionals. */
	static const struct conf_cmd none = { .name = "version", .max_args = 0 };
	char *argv2[] = { (char *)"version", NULL };
	ck_assert_int_eq(conf_parse_args(&none, 1, argv2, &p, &err), 0);
	conf_parsed_release(&p);
	char *argv3[] = { (char *)"version", (char *)"--x", NULL };
	ck_assert_int_eq(conf_parse_args(&none, 2, argv3, &p, &err), -EINVAL);
	buf_release(&err);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("url");
	tcase_add_test(tc, test_url_good);
	tcase_add_test(tc, test_url_query);
	tcase_add_test(tc, test_url_bad);
	tcase_add_test(tc, test_redact);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_default_golden);
	tcase_add_test(tc, test_format_defaults);
	tcase_add_test(tc, test_format_full_golden);
	tcase_add_test(tc, test_secret_real_client);
	tcase_add_test(tc, test_secret_sealing);
	tcase_add_test(tc, test_format_escaping);
	tcase_add_test(tc, test_format_old_and_unknown);
	tcase_add_test(tc, test_format_bad_json);
	tcase_add_test(tc, test_volume_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("opts");
	tcase_add_test(tc, test_opts_defaults);
	tcase_add_test(tc, test_opts_forms);
	tcase_add_test(tc, test_opts_env);
	tcase_add_test(tc, test_opts_errors);
	tcase_add_test(tc, test_opts_help);
	tcase_add_test(tc, test_opts_unlimited);
	suite_add_tcase(s, tc);

	tc = tcase_create("abort"); /* needs fork mode */
	tcase_add_test_raise_signal(tc, test_opts_get_unknown, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
