/*
 * fuzz-acl: POSIX ACL rules as they arrive from outside: the kernel's
 * system.posix_acl_* xattr value a caller sets (meta_acl_from_xattr) and
 * the stored rule every client of the volume writes (meta_acl_decode,
 * spec §10.6). The first byte picks which. Whatever is accepted must
 * re-encode to an equal rule, and a parsed xattr must be a valid ACL.
 */
#include "t/fuzz/fuzz.h"
#include "meta/meta.h"

static void from_xattr(const uint8_t *data, size_t size)
{
	struct meta_acl a, b;
	struct buf x = BUF_INIT;

	if (meta_acl_from_xattr(data, size, &a))
		return;
	if (!meta_acl_is_empty(&a)) {
		FUZZ_CHECK(a.owner <= 7 && a.group <= 7 && a.other <= 7);
		FUZZ_CHECK(a.mask <= 7 || (a.mask == META_ACL_UNSET && !a.nusers && !a.ngroups));
		for (uint32_t i = 1; i < a.nusers; i++)
			FUZZ_CHECK(a.users[i - 1].id < a.users[i].id);
		for (uint32_t i = 1; i < a.ngroups; i++)
			FUZZ_CHECK(a.groups[i - 1].id < a.groups[i].id);
		meta_acl_to_xattr(&a, &x);
		FUZZ_CHECK(!meta_acl_from_xattr(x.ptr, x.len, &b));
		FUZZ_CHECK(meta_acl_equal(&a, &b));
		meta_acl_release(&b);
	}
	meta_acl_release(&a);
	buf_release(&x);
}

static void stored(const uint8_t *data, size_t size)
{
	struct meta_acl a;
	struct buf e = BUF_INIT;

	if (meta_acl_decode(data, size, &a))
		return;
	/* the encoding is canonical: what decodes encodes to the same bytes */
	meta_acl_encode(&a, &e);
	FUZZ_CHECK(e.len == size && !memcmp(e.ptr, data, size));
	(void)meta_acl_get_mode(&a);
	meta_acl_release(&a);
	buf_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel = (uint8_t)fuzz_take(&data, &size, 1);
	if (sel & 1)
		stored(data, size);
	else
		from_xattr(data, size);
	return 0;
}
