/*
 * POSIX ACL rules (meta/acl.c): JuiceFS's stored encoding byte by byte, the
 * SQL form, the kernel's xattr form with every malformed shape refused, and
 * the POSIX.1e permission algorithm entry by entry. The engine side (ids,
 * inheritance, chmod) is in check_meta, which runs on every engine.
 */
#include <check.h>

#include "meta/meta.h"

static struct meta_acl_entry U[2] = { { 1000, 6 }, { 1001, 7 } };
static struct meta_acl_entry G[1] = { { 2000, 4 } };

static struct meta_acl sample(void)
{
	struct meta_acl a;
	meta_acl_init(&a);
	a.owner = 6;
	a.group = 4;
	a.mask = 6;
	a.other = 0;
	a.nusers = 2;
	a.users = U;
	a.ngroups = 1;
	a.groups = G;
	return a;
}

START_TEST(test_encode_layout)
{
	struct meta_acl a = sample(), d;
	struct buf b = BUF_INIT;
	static const uint8_t want[] = {
		0, 6, 0, 4, 0, 6, 0, 0,                   /* owner group mask other */
		0, 0, 0, 2,                               /* two named users */
		0, 0, 0x03, 0xE8, 0, 6, 0, 0, 0x03, 0xE9, 0, 7, /* 1000 rw-, 1001 rwx */
		0, 0, 0, 1,                               /* one named group */
		0, 0, 0x07, 0xD0, 0, 4,                   /* 2000 r-- */
	};
	meta_acl_encode(&a, &b);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_int_eq(memcmp(b.ptr, want, sizeof(want)), 0);
	ck_assert_int_eq(meta_acl_decode(b.ptr, b.len, &d), 0);
	ck_assert(meta_acl_equal(&a, &d));
	meta_acl_release(&d);

	/* the SQL blobs are the same entries without their count */
	meta_acl_encode_entries(a.users, a.nusers, &b);
	ck_assert_uint_eq(b.len, 12);
	ck_assert_int_eq(memcmp(b.ptr, want + 12, 12), 0);
	ck_assert_int_eq(meta_acl_decode_sql(6, 4, 6, 0, want + 12, 12, want + 28, 6, &d), 0);
	ck_assert(meta_acl_equal(&a, &d));
	meta_acl_release(&d);
	ck_assert_int_eq(meta_acl_decode_sql(6, 4, 6, 0, want + 12, 11, NULL, 0, &d), -EINVAL);

	/* truncated, trailing bytes, counts larger than the value */
	meta_acl_encode(&a, &b);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(meta_acl_decode(b.ptr, n, &d) == -EINVAL, "length %zu", n);
	buf_addch(&b, 0);
	ck_assert_int_eq(meta_acl_decode(b.ptr, b.len, &d), -EINVAL);
	uint8_t huge[16] = { 0, 6, 0, 4, 0xFF, 0xFF, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0 };
	ck_assert_int_eq(meta_acl_decode(huge, sizeof(huge), &d), -EINVAL);
	huge[8] = huge[9] = huge[10] = huge[11] = 0;
	ck_assert_int_eq(meta_acl_decode(huge, sizeof(huge), &d), 0);
	ck_assert_uint_eq(d.mask, META_ACL_UNSET);
	ck_assert(meta_acl_is_minimal(&d));
	meta_acl_release(&d);
	buf_release(&b);
}
END_TEST

/* One kernel xattr entry, little-endian. */
static void xe(struct buf *b, uint16_t tag, uint16_t perm, uint32_t id)
{
	uint8_t e[8] = {
		(uint8_t)tag, (uint8_t)(tag >> 8), (uint8_t)perm, (uint8_t)(perm >> 8),
		(uint8_t)id,  (uint8_t)(id >> 8),  (uint8_t)(id >> 16), (uint8_t)(id >> 24),
	};
	buf_add(b, e, 8);
}

static void xhdr(struct buf *b)
{
	static const uint8_t h[4] = { 2, 0, 0, 0 };
	buf_reset(b);
	buf_add(b, h, 4);
}

START_TEST(test_xattr_roundtrip)
{
	struct meta_acl a = sample(), d;
	struct buf b = BUF_INIT, x = BUF_INIT;
	meta_acl_to_xattr(&a, &b);
	/* what setfacl sends: base entries and named ones in tag order */
	xhdr(&x);
	xe(&x, 0x01, 6, 0xFFFFFFFF);
	xe(&x, 0x02, 6, 1000);
	xe(&x, 0x02, 7, 1001);
	xe(&x, 0x04, 4, 0xFFFFFFFF);
	xe(&x, 0x08, 4, 2000);
	xe(&x, 0x10, 6, 0xFFFFFFFF);
	xe(&x, 0x20, 0, 0xFFFFFFFF);
	ck_assert_uint_eq(b.len, x.len);
	ck_assert_int_eq(memcmp(b.ptr, x.ptr, x.len), 0);
	ck_assert_int_eq(meta_acl_from_xattr(x.ptr, x.len, &d), 0);
	ck_assert(meta_acl_equal(&a, &d));
	meta_acl_release(&d);

	/* named entries out of order are sorted, so equal rules encode equally */
	xhdr(&x);
	xe(&x, 0x20, 0, 0);
	xe(&x, 0x02, 7, 1001);
	xe(&x, 0x10, 6, 0);
	xe(&x, 0x08, 4, 2000);
	xe(&x, 0x02, 6, 1000);
	xe(&x, 0x04, 4, 0);
	xe(&x, 0x01, 6, 0);
	ck_assert_int_eq(meta_acl_from_xattr(x.ptr, x.len, &d), 0);
	ck_assert(meta_acl_equal(&a, &d));
	meta_acl_release(&d);

	/* a minimal ACL has no mask entry on the way out */
	meta_acl_init(&a);
	a.owner = 7;
	a.group = 5;
	a.other = 0;
	meta_acl_to_xattr(&a, &b);
	ck_assert_uint_eq(b.len, 4 + 3 * 8);
	/* the header alone: the empty rule (a removal) */
	xhdr(&x);
	ck_assert_int_eq(meta_acl_from_xattr(x.ptr, x.len, &d), 0);
	ck_assert(meta_acl_is_empty(&d));
	buf_release(&b);
	buf_release(&x);
}
END_TEST

static int parse(const struct buf *x)
{
	struct meta_acl d;
	int r = meta_acl_from_xattr(x->ptr, x->len, &d);
	meta_acl_release(&d);
	return r;
}

START_TEST(test_xattr_hostile)
{
	struct buf x = BUF_INIT;
	/* short values */
	ck_assert_int_eq(meta_acl_from_xattr("", 0, &(struct meta_acl){ 0 }), -EINVAL);
	ck_assert_int_eq(meta_acl_from_xattr("\2\0\0", 3, &(struct meta_acl){ 0 }), -EINVAL);
	xhdr(&x);
	xe(&x, 0x01, 6, 0);
	x.len -= 1; /* a cut entry */
	ck_assert_int_eq(parse(&x), -EINVAL);
	/* wrong version, non-zero flags */
	xhdr(&x);
	x.ptr[0] = 1;
	xe(&x, 0x01, 6, 0);
	xe(&x, 0x04, 4, 0);
	xe(&x, 0x20, 4, 0);
	ck_assert_int_eq(parse(&x), -EINVAL);
	x.ptr[0] = 2;
	ck_assert_int_eq(parse(&x), 0);
	x.ptr[1] = 1;
	ck_assert_int_eq(parse(&x), -EINVAL);
	/* bad tags: unknown, zero, two bits */
	static const uint16_t bad_tags[] = { 0, 0x03, 0x40, 0x8000 };
	for (size_t i = 0; i < ARRAY_SIZE(bad_tags); i++) {
		xhdr(&x);
		xe(&x, 0x01, 6, 0);
		xe(&x, 0x04, 4, 0);
		xe(&x, 0x20, 4, 0);
		xe(&x, bad_tags[i], 4, 5);
		ck_assert_msg(parse(&x) == -EINVAL, "tag 0x%x", bad_tags[i]);
	}
	/* perm beyond rwx */
	xhdr(&x);
	xe(&x, 0x01, 8, 0);
	xe(&x, 0x04, 4, 0);
	xe(&x, 0x20, 4, 0);
	ck_assert_int_eq(parse(&x), -EINVAL);
	/* duplicates: a base entry twice, a named user twice, a named group twice */
	static const uint16_t dup_tags[] = { 0x01, 0x04, 0x10, 0x20, 0x02, 0x08 };
	for (size_t i = 0; i < ARRAY_SIZE(dup_tags); i++) {
		xhdr(&x);
		xe(&x, 0x01, 6, 0);
		xe(&x, 0x04, 4, 0);
		xe(&x, 0x10, 6, 0);
		xe(&x, 0x20, 4, 0);
		xe(&x, dup_tags[i], 4, 1000);
		if (dup_tags[i] == 0x02 || dup_tags[i] == 0x08) {
			ck_assert_msg(parse(&x) == 0, "one named 0x%x", dup_tags[i]);
			xe(&x, dup_tags[i], 6, 1000);
		}
		ck_assert_msg(parse(&x) == -EINVAL, "duplicate 0x%x", dup_tags[i]);
	}
	/* a base entry missing; named entries without a mask */
	xhdr(&x);
	xe(&x, 0x01, 6, 0);
	xe(&x, 0x20, 4, 0);
	ck_assert_int_eq(parse(&x), -EINVAL);
	xhdr(&x);
	xe(&x, 0x01, 6, 0);
	xe(&x, 0x02, 6, 1000);
	xe(&x, 0x04, 4, 0);
	xe(&x, 0x20, 4, 0);
	ck_assert_int_eq(parse(&x), -EINVAL);
	buf_release(&x);
}
END_TEST

static struct meta_ctx who(uint32_t uid, uint32_t gid, int ngids, const uint32_t *gids)
{
	struct meta_ctx c;
	memset(&c, 0, sizeof(c));
	c.uid = uid;
	c.gid = gid;
	c.check_permission = 1;
	for (int i = 0; i < ngids; i++)
		c.gids[i] = gids[i];
	c.ngids = ngids;
	return c;
}

START_TEST(test_permits)
{
	/* file 500:500; owner rw-, u:1000 rw-, u:1001 rwx, g::r--, g:2000 r--, mask rw-, o::--- */
	struct meta_acl a = sample();
	struct meta_ctx c;
	c = who(500, 9, 0, NULL); /* owner: owner entry, no mask */
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 6));
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 1));
	c = who(1000, 9, 0, NULL); /* named user */
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 6));
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 1));
	c = who(1001, 9, 0, NULL); /* named user rwx limited by mask rw- */
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 6));
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 1));
	c = who(1002, 500, 0, NULL); /* owning group r-- */
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 4));
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 2));
	uint32_t sup[2] = { 7, 2000 };
	c = who(1002, 9, 2, sup); /* named group via a supplementary group */
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 4));
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 2));
	c = who(1002, 9, 0, NULL); /* other: --- */
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 4));
	/* a matched group entry that denies ends the search: no fall-through to other */
	a.other = 7;
	c = who(1002, 500, 0, NULL);
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 2));
	c = who(1002, 9, 0, NULL);
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 7));
	/* any of several matching group entries may grant */
	struct meta_acl_entry g2[2] = { { 2000, 4 }, { 2001, 6 } };
	a.groups = g2;
	a.ngroups = 2;
	uint32_t both[2] = { 2000, 2001 };
	c = who(1002, 9, 2, both);
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 6));
	/* the mask limits named groups and the owning group, never owner or other */
	a.mask = 4;
	ck_assert(!meta_acl_permits(&a, &c, 500, 500, 2));
	c = who(500, 9, 0, NULL);
	ck_assert(meta_acl_permits(&a, &c, 500, 500, 6));
}
END_TEST

START_TEST(test_modes)
{
	struct meta_acl a = sample(), c;
	ck_assert_uint_eq(meta_acl_get_mode(&a), 0660); /* group bits show the mask */
	meta_acl_copy(&c, &a);
	meta_acl_set_mode(&c, 0750);
	ck_assert_uint_eq(c.owner, 7);
	ck_assert_uint_eq(c.mask, 5);
	ck_assert_uint_eq(c.group, 4); /* the owning group entry is kept */
	ck_assert_uint_eq(c.other, 0);
	meta_acl_release(&c);
	/* minimal rule: chmod moves the group entry itself */
	meta_acl_init(&c);
	c.owner = 6;
	c.group = 4;
	c.other = 4;
	meta_acl_set_mode(&c, 0700);
	ck_assert_uint_eq(meta_acl_get_mode(&c), 0700);
	/* inheritance: child access ACL = default limited by the create mode */
	struct meta_acl def = sample(), ch;
	def.owner = 7;
	def.mask = 7;
	def.other = 5;
	meta_acl_child_access(&def, 0666, &ch);
	ck_assert_uint_eq(ch.owner, 6);
	ck_assert_uint_eq(ch.mask, 6);
	ck_assert_uint_eq(ch.other, 4);
	ck_assert_uint_eq(ch.group, 4);
	ck_assert_uint_eq(ch.nusers, 2);
	ck_assert_uint_eq(meta_acl_get_mode(&ch), 0664);
	meta_acl_release(&ch);
	/* unset base entries come from the mode */
	meta_acl_init(&c);
	c.mask = 7;
	meta_acl_inherit_perms(&c, 0751);
	ck_assert_uint_eq(c.owner, 7);
	ck_assert_uint_eq(c.group, 5);
	ck_assert_uint_eq(c.other, 1);
}
END_TEST

static Suite *acl_suite(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("rules");
	tcase_add_test(tc, test_encode_layout);
	tcase_add_test(tc, test_xattr_roundtrip);
	tcase_add_test(tc, test_xattr_hostile);
	tcase_add_test(tc, test_permits);
	tcase_add_test(tc, test_modes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(acl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
