/*
 * meta/acl.c: POSIX.1e ACL rules (spec §10.6) as JuiceFS stores them, the
 * kernel's xattr form of them, and the permission algorithm.
 *
 * A rule is four class permissions (owner, owning group, mask, other; 0xFFFF
 * when unset) plus named users and groups kept in ascending id order. The
 * stored encoding is JuiceFS's: identical rules must encode to identical
 * bytes, because the engines share one id per distinct rule and match rules
 * by their bytes; the xattr parser therefore sorts named entries and refuses
 * duplicates instead of keeping the caller's order.
 */
#include "meta/meta.h"

#include <stdlib.h>

/* Tags of the kernel's ACL xattr (include/uapi/linux/posix_acl.h). */
#define XA_USER_OBJ 0x01
#define XA_USER 0x02
#define XA_GROUP_OBJ 0x04
#define XA_GROUP 0x08
#define XA_MASK 0x10
#define XA_OTHER 0x20
#define XA_VERSION 2
#define XA_UNDEFINED_ID 0xFFFFFFFFU

void meta_acl_init(struct meta_acl *a)
{
	memset(a, 0, sizeof(*a));
	a->owner = a->group = a->mask = a->other = META_ACL_UNSET;
}

void meta_acl_release(struct meta_acl *a)
{
	if (!a)
		return;
	free(a->users);
	free(a->groups);
	meta_acl_init(a);
}

static struct meta_acl_entry *dup_entries(const struct meta_acl_entry *e, uint32_t n)
{
	if (!n)
		return NULL;
	struct meta_acl_entry *d = xmalloc(sizeof(*d) * n);
	memcpy(d, e, sizeof(*d) * n);
	return d;
}

void meta_acl_copy(struct meta_acl *dst, const struct meta_acl *src)
{
	*dst = *src;
	dst->users = dup_entries(src->users, src->nusers);
	dst->groups = dup_entries(src->groups, src->ngroups);
}

int meta_acl_is_empty(const struct meta_acl *a)
{
	return a->nusers + a->ngroups == 0 &&
	       (a->owner & a->group & a->mask & a->other) == META_ACL_UNSET;
}

int meta_acl_is_minimal(const struct meta_acl *a)
{
	return a->nusers + a->ngroups == 0 && a->mask == META_ACL_UNSET;
}

/* Field by field: an entry has padding, which memcmp would compare too. */
static int entries_equal(const struct meta_acl_entry *x, const struct meta_acl_entry *y,
			 uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (x[i].id != y[i].id || x[i].perm != y[i].perm)
			return 0;
	return 1;
}

int meta_acl_equal(const struct meta_acl *x, const struct meta_acl *y)
{
	return x->owner == y->owner && x->group == y->group && x->mask == y->mask &&
	       x->other == y->other && x->nusers == y->nusers && x->ngroups == y->ngroups &&
	       entries_equal(x->users, y->users, x->nusers) &&
	       entries_equal(x->groups, y->groups, x->ngroups);
}

static void put_entries(struct buf *out, const struct meta_acl_entry *e, uint32_t n)
{
	uint8_t b[6];
	for (uint32_t i = 0; i < n; i++) {
		put_be32(b, e[i].id);
		put_be16(b + 4, e[i].perm);
		buf_add(out, b, 6);
	}
}

void meta_acl_encode(const struct meta_acl *a, struct buf *out)
{
	uint8_t b[8];
	buf_reset(out);
	put_be16(b, a->owner);
	put_be16(b + 2, a->group);
	put_be16(b + 4, a->mask);
	put_be16(b + 6, a->other);
	buf_add(out, b, 8);
	put_be32(b, a->nusers);
	buf_add(out, b, 4);
	put_entries(out, a->users, a->nusers);
	put_be32(b, a->ngroups);
	buf_add(out, b, 4);
	put_entries(out, a->groups, a->ngroups);
}

void meta_acl_encode_entries(const struct meta_acl_entry *e, uint32_t n, struct buf *out)
{
	buf_reset(out);
	put_entries(out, e, n);
}

/* n entries of 6 bytes at p; the count is the caller's (it was checked against the length). */
static struct meta_acl_entry *get_entries(const uint8_t *p, uint32_t n)
{
	if (!n)
		return NULL;
	struct meta_acl_entry *e = xmalloc(sizeof(*e) * n);
	for (uint32_t i = 0; i < n; i++, p += 6) {
		e[i].id = get_be32(p);
		e[i].perm = get_be16(p + 4);
	}
	return e;
}

int meta_acl_decode(const void *buf, size_t n, struct meta_acl *a)
{
	const uint8_t *p = buf;
	meta_acl_init(a);
	if (n < 16)
		return -EINVAL;
	uint32_t nu = get_be32(p + 8);
	if (nu > (n - 16) / 6)
		return -EINVAL;
	size_t off = 12 + (size_t)nu * 6;
	uint32_t ng = get_be32(p + off);
	off += 4;
	if (ng > (n - off) / 6 || off + (size_t)ng * 6 != n)
		return -EINVAL;
	a->owner = get_be16(p);
	a->group = get_be16(p + 2);
	a->mask = get_be16(p + 4);
	a->other = get_be16(p + 6);
	a->nusers = nu;
	a->users = get_entries(p + 12, nu);
	a->ngroups = ng;
	a->groups = get_entries(p + off, ng);
	return 0;
}

int meta_acl_decode_sql(uint16_t owner, uint16_t group, uint16_t mask, uint16_t other,
			const void *users, size_t ulen, const void *groups, size_t glen,
			struct meta_acl *a)
{
	meta_acl_init(a);
	if (ulen % 6 || glen % 6)
		return -EINVAL;
	a->owner = owner;
	a->group = group;
	a->mask = mask;
	a->other = other;
	a->nusers = (uint32_t)(ulen / 6);
	a->users = get_entries(users, a->nusers);
	a->ngroups = (uint32_t)(glen / 6);
	a->groups = get_entries(groups, a->ngroups);
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct meta_acl_entry *a = x, *b = y;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Sorted by id; -EINVAL when an id repeats (the kernel refuses such an ACL too). */
static int sort_entries(struct meta_acl_entry *e, uint32_t n)
{
	if (n > 1)
		qsort(e, n, sizeof(*e), entry_cmp);
	for (uint32_t i = 1; i < n; i++)
		if (e[i].id == e[i - 1].id)
			return -EINVAL;
	return 0;
}

int meta_acl_from_xattr(const void *buf, size_t n, struct meta_acl *a)
{
	const uint8_t *p = buf;
	int r = -EINVAL;
	meta_acl_init(a);
	/* little-endian, the order the kernel writes on every Linux we serve */
	if (n < 4 || (n - 4) % 8 || p[0] != XA_VERSION || p[1] || p[2] || p[3])
		return -EINVAL;
	size_t cnt = (n - 4) / 8;
	if (cnt > META_ACL_MAX_ENTRIES)
		return -EINVAL;
	if (cnt) {
		a->users = xmalloc(sizeof(*a->users) * cnt);
		a->groups = xmalloc(sizeof(*a->groups) * cnt);
	}
	for (size_t i = 0; i < cnt; i++) {
		const uint8_t *e = p + 4 + i * 8;
		uint16_t tag = (uint16_t)(e[0] | e[1] << 8);
		uint16_t perm = (uint16_t)(e[2] | e[3] << 8);
		uint32_t id = (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 |
			      (uint32_t)e[7] << 24;
		uint16_t *slot = NULL;
		if (perm & ~7U)
			goto out;
		switch (tag) {
		case XA_USER_OBJ:
			slot = &a->owner;
			break;
		case XA_GROUP_OBJ:
			slot = &a->group;
			break;
		case XA_MASK:
			slot = &a->mask;
			break;
		case XA_OTHER:
			slot = &a->other;
			break;
		case XA_USER:
			a->users[a->nusers].id = id;
			a->users[a->nusers++].perm = perm;
			continue;
		case XA_GROUP:
			a->groups[a->ngroups].id = id;
			a->groups[a->ngroups++].perm = perm;
			continue;
		default:
			goto out;
		}
		if (*slot != META_ACL_UNSET)
			goto out;
		*slot = perm;
	}
	if (sort_entries(a->users, a->nusers) || sort_entries(a->groups, a->ngroups))
		goto out;
	/*
	 * A header alone removes the ACL. Otherwise the three base entries are
	 * required, and a mask whenever named entries exist (posix_acl_valid).
	 */
	if (cnt && (a->owner == META_ACL_UNSET || a->group == META_ACL_UNSET ||
		    a->other == META_ACL_UNSET))
		goto out;
	if (a->nusers + a->ngroups && a->mask == META_ACL_UNSET)
		goto out;
	r = 0;
out:
	if (!a->nusers) {
		free(a->users);
		a->users = NULL;
	}
	if (!a->ngroups) {
		free(a->groups);
		a->groups = NULL;
	}
	if (r)
		meta_acl_release(a);
	return r;
}

static void xa_put(struct buf *out, uint16_t tag, uint16_t perm, uint32_t id)
{
	uint8_t e[8] = {
		(uint8_t)tag, (uint8_t)(tag >> 8), (uint8_t)perm, (uint8_t)(perm >> 8),
		(uint8_t)id,  (uint8_t)(id >> 8),  (uint8_t)(id >> 16), (uint8_t)(id >> 24),
	};
	buf_add(out, e, 8);
}

void meta_acl_to_xattr(const struct meta_acl *a, struct buf *out)
{
	static const uint8_t hdr[4] = { XA_VERSION, 0, 0, 0 };
	buf_reset(out);
	buf_add(out, hdr, 4);
	xa_put(out, XA_USER_OBJ, a->owner, XA_UNDEFINED_ID);
	for (uint32_t i = 0; i < a->nusers; i++)
		xa_put(out, XA_USER, a->users[i].perm, a->users[i].id);
	xa_put(out, XA_GROUP_OBJ, a->group, XA_UNDEFINED_ID);
	for (uint32_t i = 0; i < a->ngroups; i++)
		xa_put(out, XA_GROUP, a->groups[i].perm, a->groups[i].id);
	if (a->mask != META_ACL_UNSET)
		xa_put(out, XA_MASK, a->mask, XA_UNDEFINED_ID);
	xa_put(out, XA_OTHER, a->other, XA_UNDEFINED_ID);
}

uint16_t meta_acl_get_mode(const struct meta_acl *a)
{
	uint16_t g = meta_acl_is_minimal(a) ? a->group : a->mask;
	return (uint16_t)((a->owner & 7) << 6 | (g & 7) << 3 | (a->other & 7));
}

void meta_acl_set_mode(struct meta_acl *a, uint16_t mode)
{
	a->owner = (uint16_t)((a->owner & 0xFFF8) | ((mode >> 6) & 7));
	if (meta_acl_is_minimal(a))
		a->group = (uint16_t)((a->group & 0xFFF8) | ((mode >> 3) & 7));
	else
		a->mask = (uint16_t)((a->mask & 0xFFF8) | ((mode >> 3) & 7));
	a->other = (uint16_t)((a->other & 0xFFF8) | (mode & 7));
}

void meta_acl_inherit_perms(struct meta_acl *a, uint16_t mode)
{
	if (a->owner == META_ACL_UNSET)
		a->owner = (mode >> 6) & 7;
	if (a->group == META_ACL_UNSET)
		a->group = (mode >> 3) & 7;
	if (a->other == META_ACL_UNSET)
		a->other = mode & 7;
}

void meta_acl_child_access(const struct meta_acl *def, uint16_t mode, struct meta_acl *out)
{
	meta_acl_copy(out, def);
	out->owner = (uint16_t)((mode >> 6) & 7 & def->owner);
	out->mask = (uint16_t)((mode >> 3) & 7 & def->mask);
	out->other = (uint16_t)(mode & 7 & def->other);
}

static int grants(unsigned perm, int mask)
{
	return ((unsigned)mask & perm & 7) == (unsigned)mask;
}

static int ctx_in_group(const struct meta_ctx *c, uint32_t gid)
{
	if (c->gid == gid)
		return 1;
	for (int i = 0; i < c->ngids && i < (int)ARRAY_SIZE(c->gids); i++)
		if (c->gids[i] == gid)
			return 1;
	return 0;
}

int meta_acl_permits(const struct meta_acl *a, const struct meta_ctx *c, uint32_t fuid,
		     uint32_t fgid, int mask)
{
	if (c->uid == fuid)
		return grants(a->owner, mask);
	for (uint32_t i = 0; i < a->nusers; i++)
		if (a->users[i].id == c->uid)
			return grants(a->users[i].perm & a->mask, mask);
	/* the group class: any matching entry may grant; a match that does not ends it */
	int matched = 0;
	if (ctx_in_group(c, fgid)) {
		if (grants(a->group & a->mask, mask))
			return 1;
		matched = 1;
	}
	for (uint32_t i = 0; i < a->ngroups; i++)
		if (ctx_in_group(c, a->groups[i].id)) {
			if (grants(a->groups[i].perm & a->mask, mask))
				return 1;
			matched = 1;
		}
	if (matched)
		return 0;
	return grants(a->other, mask);
}
