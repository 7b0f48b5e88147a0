/*
 * Unit tests of the base layer: struct buf (growth, caps), the checked number
 * parsers every CLI flag and URL goes through, big-endian helpers, the small
 * file helpers, uuid4 and the JuiceFS log line format.
 */
#include <check.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/metrics.h"

#include <pthread.h>
#include "t/unit/testhelp.h"

/* ---------------- buf ---------------- */

START_TEST(test_buf_empty)
{
	struct buf b = BUF_INIT;
	ck_assert_ptr_nonnull(b.ptr);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_uint_eq(b.len, 0);
	buf_release(&b); /* releasing an empty buf frees nothing */
	ck_assert_str_eq(b.ptr, "");
	char *s = buf_detach(&b, NULL);
	ck_assert_str_eq(s, "");
	free(s);
	buf_release(NULL);
}
END_TEST

START_TEST(test_buf_growth)
{
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 10000; i++)
		ck_assert_int_eq(buf_addch(&b, (char)('a' + i % 26)), 0);
	ck_assert_uint_eq(b.len, 10000);
	ck_assert_uint_eq(strlen(b.ptr), 10000);
	ck_assert_uint_ge(b.alloc, 10001);
	ck_assert_int_eq(b.ptr[0], 'a');
	ck_assert_int_eq(b.ptr[9999], 'a' + 9999 % 26);
	ck_assert_int_eq(buf_add(&b, "xyz", 0), 0);
	ck_assert_uint_eq(b.len, 10000);

	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(buf_adds(&b, "hello"), 0);
	ck_assert_int_eq(buf_add(&b, " world!!", 6), 0);
	ck_assert_str_eq(b.ptr, "hello world");

	size_t len = 0;
	char *s = buf_detach(&b, &len);
	ck_assert_uint_eq(len, 11);
	ck_assert_str_eq(s, "hello world");
	ck_assert_str_eq(b.ptr, "");
	ck_assert_uint_eq(b.len, 0);
	free(s);
	buf_release(&b);
}
END_TEST

START_TEST(test_buf_cap)
{
	struct buf b;
	buf_init(&b, 10);
	ck_assert_int_eq(buf_adds(&b, "0123456789"), 0);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(buf_addch(&b, 'x'), -E2BIG);
	ck_assert_int_eq(buf_adds(&b, "yy"), -E2BIG);
	ck_assert_int_eq(buf_addf(&b, "%d", 1), -E2BIG);
	ck_assert_str_eq(b.ptr, "0123456789"); /* a failed add changes nothing */
	ck_assert_int_eq(buf_grow(&b, SIZE_MAX), -E2BIG);

	buf_release(&b);
	ck_assert_uint_eq(b.cap, 10); /* release keeps the cap */
	ck_assert_int_eq(buf_adds(&b, "0123456789abc"), -E2BIG);
	ck_assert_str_eq(b.ptr, "");
	ck_assert_int_eq(buf_adds(&b, "01234"), 0);
	ck_assert_int_eq(buf_adds(&b, "56789"), 0);
	ck_assert_int_eq(buf_adds(&b, ""), 0);
	ck_assert_str_eq(b.ptr, "0123456789");
	buf_release(&b);

	/* Uncapped bufs refuse sizes that would wrap. */
	struct buf u = BUF_INIT;
	ck_assert_int_eq(buf_adds(&u, "a"), 0);
	ck_assert_int_eq(buf_grow(&u, SIZE_MAX - 1), -E2BIG);
	buf_release(&u);
}
END_TEST

START_TEST(test_buf_addf)
{
	struct buf b = BUF_INIT;
	ck_assert_int_eq(buf_addf(&b, "%s-%d-%05.1f", "x", 42, 3.14159), 0);
	ck_assert_str_eq(b.ptr, "x-42-003.1");
	/* Longer than the 256-byte fast path. */
	char big[1000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(buf_addf(&b, "[%s]", big), 0);
	ck_assert_uint_eq(b.len, 10 + 1001);
	ck_assert_int_eq(b.ptr[10], '[');
	ck_assert_int_eq(b.ptr[b.len - 1], ']');
	ck_assert_uint_eq(strlen(b.ptr), b.len);
	buf_release(&b);

	/* A capped buf refuses a long formatted string and keeps its content. */
	buf_init(&b, 300);
	ck_assert_int_eq(buf_adds(&b, "keep"), 0);
	ck_assert_int_eq(buf_addf(&b, "%s", big), -E2BIG);
	ck_assert_str_eq(b.ptr, "keep");
	buf_release(&b);

	char *s = xasprintf("%d/%s", 7, "seven");
	ck_assert_str_eq(s, "7/seven");
	free(s);
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
	s = xstrndup("ab", 10);
	ck_assert_str_eq(s, "ab");
	free(s);
	s = xmemdup("a\0b", 3);
	ck_assert_int_eq(s[2], 'b');
	ck_assert_int_eq(s[3], 0);
	free(s);
}
END_TEST

START_TEST(test_buf_add_u64)
{
	struct buf b = BUF_INIT;

	buf_add_u64(&b, 0);
	buf_addch(&b, ' ');
	buf_add_u64(&b, 1234567890);
	buf_addch(&b, ' ');
	buf_add_u64(&b, UINT64_MAX);
	ck_assert_str_eq(b.ptr, "0 1234567890 18446744073709551615");
	buf_release(&b);
}
END_TEST

/* ---------------- number parsing ---------------- */

START_TEST(test_parse_u64)
{
	uint64_t v = 7;
	ck_assert_int_eq(parse_u64("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_u64("0018", &v), 0);
	ck_assert_uint_eq(v, 18);
	v = 5;
	ck_assert_int_eq(parse_u64("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(parse_u64("99999999999999999999999", &v), -ERANGE);
	ck_assert_uint_eq(v, 5); /* untouched on error */
	const char *bad[] = { "", "-1", "+1", " 1", "1 ", "12a", "0x10", "1.0", "1e3" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(parse_u64(bad[i], &v) == -EINVAL, "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(parse_u64(NULL, &v), -EINVAL);
}
END_TEST

START_TEST(test_parse_i64)
{
	int64_t v;
	ck_assert_int_eq(parse_i64("-9223372036854775808", &v), 0);
	ck_assert(v == INT64_MIN);
	ck_assert_int_eq(parse_i64("9223372036854775807", &v), 0);
	ck_assert(v == INT64_MAX);
	ck_assert_int_eq(parse_i64("+5", &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(parse_i64("-0", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(parse_i64("9223372036854775808", &v), -ERANGE);
	ck_assert_int_eq(parse_i64("-9223372036854775809", &v), -ERANGE);
	ck_assert_int_eq(parse_i64("-", &v), -EINVAL);
	ck_assert_int_eq(parse_i64("--1", &v), -EINVAL);
	ck_assert_int_eq(parse_i64("", &v), -EINVAL);
	ck_assert_int_eq(parse_i64("1-", &v), -EINVAL);
}
END_TEST

START_TEST(test_parse_u32_int)
{
	uint32_t u;
	int i;
	ck_assert_int_eq(parse_u32("4294967295", &u), 0);
	ck_assert_uint_eq(u, UINT32_MAX);
	ck_assert_int_eq(parse_u32("4294967296", &u), -ERANGE);
	ck_assert_int_eq(parse_u32("-1", &u), -EINVAL);
	ck_assert_int_eq(parse_u32("x", &u), -EINVAL);
	ck_assert_int_eq(parse_int("2147483647", &i), 0);
	ck_assert_int_eq(i, INT32_MAX);
	ck_assert_int_eq(parse_int("-2147483648", &i), 0);
	ck_assert_int_eq(i, INT32_MIN);
	ck_assert_int_eq(parse_int("2147483648", &i), -ERANGE);
	ck_assert_int_eq(parse_int("-2147483649", &i), -ERANGE);
	ck_assert_int_eq(parse_int("12abc", &i), -EINVAL);
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		uint64_t unit, want;
	} ok[] = {
		{ "0", 1, 0 },
		{ "4096", 1024, 4ULL << 20 }, /* --block-size: bare = KiB */
		{ "100", 1ULL << 30, 100ULL << 30 }, /* --capacity: bare = GiB */
		{ "10B", 1024, 10 },
		{ "10b", 1024, 10 },
		{ "64K", 1, 64ULL << 10 },
		{ "64k", 1, 64ULL << 10 },
		{ "4M", 1024, 4ULL << 20 },
		{ "1G", 1, 1ULL << 30 },
		{ "2T", 1, 2ULL << 40 },
		{ "3P", 1, 3ULL << 50 },
		{ "1KiB", 1, 1ULL << 10 },
		{ "1MiB", 1, 1ULL << 20 },
		{ "1GiB", 1, 1ULL << 30 },
		{ "1TiB", 1, 1ULL << 40 },
		{ "1Ki", 1, 1ULL << 10 },
		{ "5MB", 1, 5ULL << 20 },
		{ "5mib", 1, 5ULL << 20 },
		{ "16383P", 1, 16383ULL << 50 },
		{ "18446744073709551615", 1, UINT64_MAX },
	};
	uint64_t v;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_msg(parse_size(ok[i].s, ok[i].unit, &v) == 0, "rejected %s", ok[i].s);
		ck_assert_msg(v == ok[i].want, "%s: got %llu", ok[i].s, (unsigned long long)v);
	}
	const char *bad[] = { "", "M", "1X", "1MX", "1.5M", "-1M", "1 M", "1iB", "1E", "1BB",
			      "1Mi B", "K1" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(parse_size(bad[i], 1, &v) == -EINVAL, "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(parse_size("16384P", 1, &v), -ERANGE);
	ck_assert_int_eq(parse_size("16777216T", 1, &v), -ERANGE);
	ck_assert_int_eq(parse_size("18014398509481984", 1024, &v), -ERANGE); /* bare * unit */
	ck_assert_int_eq(parse_size("18446744073709551616", 1, &v), -ERANGE);
	ck_assert_int_eq(parse_size("123456789012345678901234567890", 1, &v), -ERANGE);
}
END_TEST

START_TEST(test_parse_duration)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
		{ "0", 0 },         { "2", 2000 },      { "1s", 1000 },
		{ "100ms", 100 },   { "1m", 60000 },    { "1h30m", 5400000 },
		{ "1d", 86400000 }, { "0s", 0 },        { "90s", 90000 },
		{ "1h1m1s1ms", 3661001 },
	};
	int64_t v;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_msg(parse_duration_ms(ok[i].s, &v) == 0, "rejected %s", ok[i].s);
		ck_assert_msg(v == ok[i].ms, "%s: got %lld", ok[i].s, (long long)v);
	}
	const char *bad[] = { "", "s", "ms", "1x", "1 s", "-1s", "1s2", "h1", "1.5.s" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(parse_duration_ms(bad[i], &v) < 0, "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(parse_duration_ms("9223372036854776", &v), -ERANGE); /* seconds */
	ck_assert_int_eq(parse_duration_ms("106751991168d", &v), -ERANGE);
	ck_assert_int_eq(parse_duration_ms("106751991167d106751991167d", &v), -ERANGE);
}
END_TEST

START_TEST(test_parse_bool)
{
	int b = 5;
	ck_assert_int_eq(parse_bool("true", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(parse_bool("0", &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(parse_bool("yes", &b), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(parse_bool("no", &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(parse_bool("maybe", &b), -EINVAL);
	ck_assert_int_eq(parse_bool("", &b), -EINVAL);
}
END_TEST

/* ---------------- encoding ---------------- */

START_TEST(test_be)
{
	uint8_t p[8];
	put_be16(p, 0x1234);
	ck_assert_int_eq(p[0], 0x12);
	ck_assert_int_eq(p[1], 0x34);
	ck_assert_uint_eq(get_be16(p), 0x1234);
	put_be32(p, 0xdeadbeef);
	ck_assert(p[0] == 0xde && p[1] == 0xad && p[2] == 0xbe && p[3] == 0xef);
	ck_assert_uint_eq(get_be32(p), 0xdeadbeef);
	put_be64(p, 0x0102030405060708ULL);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(p[i], i + 1);
	ck_assert(get_be64(p) == 0x0102030405060708ULL);
	put_be64(p, UINT64_MAX);
	ck_assert(get_be64(p) == UINT64_MAX);
	/* High bit set in every position must not sign-extend. */
	const uint8_t hi[8] = { 0x80, 0xff, 0x80, 0xff, 0x80, 0xff, 0x80, 0xff };
	ck_assert(get_be64(hi) == 0x80ff80ff80ff80ffULL);
	ck_assert_uint_eq(get_be32(hi), 0x80ff80ffU);
	ck_assert_uint_eq(get_be16(hi), 0x80ffU);
}
END_TEST

/* ---------------- files ---------------- */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char tmp[512];
	size_t n;
	if (!f)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	return buf_detach(&b, NULL);
}

START_TEST(test_mkdir_p)
{
	char *d = test_tmpdir("base");
	ck_assert_ptr_nonnull(d);
	char *deep = xasprintf("%s/a/b/c/d", d);
	struct stat st;
	ck_assert_int_eq(mkdir_p(deep, 0755), 0);
	ck_assert_int_eq(stat(deep, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(mkdir_p(deep, 0755), 0); /* existing is fine */
	char *slash = xasprintf("%s/a/b/", d);
	ck_assert_int_eq(mkdir_p(slash, 0755), 0);

	char *file = xasprintf("%s/file", d);
	ck_assert_int_eq(write_file_atomic(file, "x", 1, 0), 0);
	ck_assert_int_eq(mkdir_p(file, 0755), -ENOTDIR);
	char *under = xasprintf("%s/file/sub", d);
	ck_assert_int_eq(mkdir_p(under, 0755), -ENOTDIR);

	test_rm_rf(d);
	free(under);
	free(file);
	free(slash);
	free(deep);
	free(d);
}
END_TEST

START_TEST(test_write_file_atomic)
{
	char *d = test_tmpdir("base");
	char *p = xasprintf("%s/f.json", d);
	char *s;

	ck_assert_int_eq(write_file_atomic(p, "first", 5, 1), 0);
	s = read_all(p);
	ck_assert_str_eq(s, "first");
	free(s);
	ck_assert_int_eq(write_file_atomic(p, "2nd", 3, 0), 0);
	s = read_all(p);
	ck_assert_str_eq(s, "2nd");
	free(s);
	ck_assert_int_eq(write_file_atomic(p, "", 0, 0), 0);
	s = read_all(p);
	ck_assert_str_eq(s, "");
	free(s);

	/* No temp file left behind. */
	char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq 1", d);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);

	char *missing = xasprintf("%s/nodir/f", d);
	ck_assert_int_eq(write_file_atomic(missing, "x", 1, 0), -ENOENT);
	free(missing);

	test_rm_rf(d);
	free(p);
	free(d);
}
END_TEST

/* ---------------- misc ---------------- */

START_TEST(test_uuid4)
{
	char a[37], b[37];
	regex_t re;
	ck_assert_int_eq(regcomp(&re,
				 "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	for (int i = 0; i < 100; i++) {
		uuid4(a);
		ck_assert_uint_eq(strlen(a), 36);
		ck_assert_msg(regexec(&re, a, 0, NULL, 0) == 0, "bad uuid %s", a);
	}
	uuid4(b);
	ck_assert_str_ne(a, b);
	regfree(&re);
}
END_TEST

START_TEST(test_random_time)
{
	uint8_t x[64] = { 0 }, y[64] = { 0 };
	random_bytes(x, sizeof(x));
	random_bytes(y, sizeof(y));
	ck_assert(memcmp(x, y, sizeof(x)) != 0);
	random_bytes(x, 0);

	int64_t m0 = mono_ms(), t0 = now_us();
	sleep_ms(20);
	int64_t m1 = mono_ms(), t1 = now_us();
	ck_assert_int_ge(m1 - m0, 19);
	ck_assert_int_lt(m1 - m0, 5000);
	ck_assert_int_ge(t1 - t0, 15000);
	ck_assert_int_gt(t0, 1500000000LL * 1000000); /* after 2017 */
}
END_TEST

START_TEST(test_utf8_xml_char_len)
{
	ck_assert_uint_eq(utf8_xml_char_len("a"), 1);
	ck_assert_uint_eq(utf8_xml_char_len("\t"), 1);
	ck_assert_uint_eq(utf8_xml_char_len("\x01"), 0);
	ck_assert_uint_eq(utf8_xml_char_len(""), 0);
	ck_assert_uint_eq(utf8_xml_char_len("\xc3\xa9"), 2);        /* é */
	ck_assert_uint_eq(utf8_xml_char_len("\xe4\xb8\xad"), 3);    /* 中 */
	ck_assert_uint_eq(utf8_xml_char_len("\xf0\x9f\x98\x80"), 4); /* emoji */
	ck_assert_uint_eq(utf8_xml_char_len("\xd6\xd0\xce\xc4"), 0); /* GBK 中文 */
	ck_assert_uint_eq(utf8_xml_char_len("\xc0\xaf"), 0);        /* overlong '/' */
	ck_assert_uint_eq(utf8_xml_char_len("\xe0\x80\xaf"), 0);    /* overlong */
	ck_assert_uint_eq(utf8_xml_char_len("\xed\xa0\x80"), 0);    /* surrogate */
	ck_assert_uint_eq(utf8_xml_char_len("\xef\xbf\xbe"), 0);    /* U+FFFE */
	ck_assert_uint_eq(utf8_xml_char_len("\xf4\x90\x80\x80"), 0); /* > U+10FFFF */
	ck_assert_uint_eq(utf8_xml_char_len("\xe4\xb8"), 0);        /* cut short */
	ck_assert_uint_eq(utf8_xml_char_len("\x80"), 0);
}
END_TEST

START_TEST(test_errno_name)
{
	ck_assert_str_eq(errno_name(ENOENT), "ENOENT");
	ck_assert_str_eq(errno_name(EEXIST), "EEXIST");
	ck_assert_str_eq(errno_name(ENOTEMPTY), "ENOTEMPTY");
	ck_assert_str_eq(errno_name(123456), "EUNKNOWN");
}
END_TEST

START_TEST(test_log_level)
{
	static const struct {
		const char *s;
		int lvl;
	} ok[] = {
		{ "fatal", LOG_FATAL }, { "error", LOG_ERROR },     { "warning", LOG_WARNING },
		{ "warn", LOG_WARNING }, { "WARN", LOG_WARNING },   { "info", LOG_INFO },
		{ "INFO", LOG_INFO },   { "Debug", LOG_DEBUG },     { "trace", LOG_TRACE },
	};
	int lvl = -1;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_int_eq(log_parse_level(ok[i].s, &lvl), 0);
		ck_assert_int_eq(lvl, ok[i].lvl);
	}
	lvl = 77;
	ck_assert_int_eq(log_parse_level("verbose", &lvl), -EINVAL);
	ck_assert_int_eq(log_parse_level("", &lvl), -EINVAL);
	ck_assert_int_eq(log_parse_level("infos", &lvl), -EINVAL);
	ck_assert_int_eq(lvl, 77);
}
END_TEST

static int side_effects;
static const char *count_call(void)
{
	side_effects++;
	return "x";
}

START_TEST(test_log_format)
{
	FILE *f = tmpfile();
	char line[512];
	regex_t re;

	ck_assert_ptr_nonnull(f);
	log_set_file(f);
	log_set_level(LOG_INFO);
	log_warn("disk %s is %d%% full", "/var", 93);
	log_debug("hidden %s", count_call()); /* gated: arguments not evaluated */
	ck_assert_int_eq(side_effects, 0);
	log_set_level(LOG_DEBUG);
	log_debug("shown %s", count_call());
	ck_assert_int_eq(side_effects, 1);
	log_set_file(NULL);

	rewind(f);
	ck_assert_int_eq(regcomp(&re,
				 "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} "
				 "juicefs\\[[0-9]+\\] <WARNING>: disk /var is 93% full "
				 "\\[test_log_format(_fn)?@check_base\\.c:[0-9]+\\]\n$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "bad log line: %s", line);
	regfree(&re);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_ptr_nonnull(strstr(line, " <DEBUG>: shown x ["));
	ck_assert_ptr_null(fgets(line, sizeof(line), f));
	fclose(f);
}
END_TEST


/* Names, labels, .stats naming and Go's float formats, as client_golang writes them. */
START_TEST(test_metrics_render)
{
	static const char *const method[] = { "method", NULL };
	double b[3];
	struct buf prom = BUF_INIT, st = BUF_INIT;
	struct metric_family *c, *h;
	struct metric *g;

	metric_exp_buckets(b, 0.001, 2, 3); /* 0.001 0.002 0.004 */
	ck_assert(b[2] == 0.004);
	c = metric_family(METRIC_COUNTER, "t_bytes", "test bytes.", 1, method, NULL, 0);
	ck_assert_ptr_eq(c, metric_family(METRIC_COUNTER, "t_bytes", "again", 1, method, NULL, 0));
	metric_add(metric_child(c, "PUT"), 8388608);
	metric_add(metric_child(c, "GET"), 3);
	metric_add(metric_child(c, "GET"), 4);
	h = metric_family(METRIC_HISTOGRAM, "t_lat_seconds", "test latency.", 1e-6, NULL, b, 3);
	metric_observe(metric_get(h), 1000); /* 0.001 s: in the first bucket (le is inclusive) */
	metric_observe(metric_get(h), 3000);
	metric_observe(metric_get(h), 9000);
	g = metric_get(metric_family(METRIC_GAUGE, "t_gauge", "test gauge.", 1, NULL, NULL, 0));
	metric_set(g, 3.5493e-05);
	metrics_set_common("vol", "/mnt/x");

	metrics_render_prom(&prom);
	ck_assert_ptr_nonnull(strstr(prom.ptr, "# HELP t_bytes test bytes.\n# TYPE t_bytes counter\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "method=\"GET\",mp=\"/mnt/x\",vol_name=\"vol\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "method=\"PUT\",mp=\"/mnt/x\",vol_name=\"vol\"} 8.388608e+06\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "vol_name=\"vol\",le=\"0.001\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "vol_name=\"vol\",le=\"0.002\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "vol_name=\"vol\",le=\"0.004\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "vol_name=\"vol\",le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "t_lat_seconds_sum{"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "vol_name=\"vol\"} 0.013\n"));
	ck_assert_ptr_nonnull(strstr(prom.ptr, "vol_name=\"vol\"} 3.5493e-05\n"));
	/* sorted by name: t_bytes before t_gauge before t_lat_seconds */
	ck_assert(strstr(prom.ptr, "t_bytes") < strstr(prom.ptr, "t_gauge"));
	ck_assert(strstr(prom.ptr, "t_gauge") < strstr(prom.ptr, "t_lat_seconds"));

	metrics_render_stats(&st);
	ck_assert_ptr_nonnull(strstr(st.ptr, "\nt_bytes_GET 7\nt_bytes_PUT 8388608\n"));
	ck_assert_ptr_nonnull(strstr(st.ptr, "\nt_gauge 0.000035493\n"));
	ck_assert_ptr_nonnull(strstr(st.ptr, "\nt_lat_seconds_total 3\nt_lat_seconds_sum 0.013\n"));
	buf_release(&prom);
	buf_release(&st);
}
END_TEST

#define MT_THREADS 8
#define MT_ADDS 100000
static void *metrics_adder(void *arg)
{
	struct metric **m = arg;
	for (int i = 0; i < MT_ADDS; i++) {
		metric_add(m[0], 1);
		metric_observe(m[1], (uint64_t)(i % 3));
	}
	return NULL;
}

/* Sharded counters lose no add under concurrent writers. */
START_TEST(test_metrics_threads)
{
	double b[2] = { 0, 1 };
	struct metric *m[2];
	pthread_t t[MT_THREADS];
	struct buf st = BUF_INIT;
	char want[128];

	m[0] = metric_get(metric_family(METRIC_COUNTER, "mt_count", "h", 1, NULL, NULL, 0));
	m[1] = metric_get(metric_family(METRIC_HISTOGRAM, "mt_hist", "h", 1, NULL, b, 2));
	for (int i = 0; i < MT_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, metrics_adder, m), 0);
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert(metric_value(m[0]) == (double)MT_THREADS * MT_ADDS);
	metrics_render_stats(&st);
	snprintf(want, sizeof(want), "mt_hist_total %d\n", MT_THREADS * MT_ADDS);
	ck_assert_ptr_nonnull(strstr(st.ptr, want));
	buf_release(&st);
}
END_TEST

static Suite *base_suite(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_empty);
	tcase_add_test(tc, test_buf_growth);
	tcase_add_test(tc, test_buf_cap);
	tcase_add_test(tc, test_buf_addf);
	tcase_add_test(tc, test_buf_add_u64);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_u64);
	tcase_add_test(tc, test_parse_i64);
	tcase_add_test(tc, test_parse_u32_int);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_bool);
	tcase_add_test(tc, test_be);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_test(tc, test_mkdir_p);
	tcase_add_test(tc, test_write_file_atomic);
	tcase_add_test(tc, test_uuid4);
	tcase_add_test(tc, test_random_time);
	tcase_add_test(tc, test_errno_name);
	tcase_add_test(tc, test_utf8_xml_char_len);
	tcase_add_test(tc, test_log_level);
	tcase_add_test(tc, test_log_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_add_test(tc, test_metrics_render);
	tcase_add_test(tc, test_metrics_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(base_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
