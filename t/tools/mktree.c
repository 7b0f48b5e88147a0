/*
 * jfs-mktree: a test tool that builds a fixed tree through the meta API, or
 * prints a volume's tree as the meta API sees it.
 *
 *   jfs-mktree META-URL             build the full tree on a formatted, empty volume
 *   jfs-mktree --tree dav META-URL  build the smaller tree of t1002 (WebDAV-doable ops)
 *   jfs-mktree --print META-URL     print every node, one line each
 *
 * The integration tests use it to prove that what our meta layer writes is what
 * the real JuiceFS client reads (t/integ/t1001-meta-ref.sh compares --print
 * with the real client's `dump`, normalised to the same text), and that what
 * the real client writes (`load`) is what we read.
 *
 * The tree covers what a volume can hold without data objects: nested
 * directories, regular files with owners and modes (suid, sticky), a sparse
 * file (holes only, so no object is needed), a symlink, a hard-link pair,
 * xattrs on a file and a directory (one binary value), a fifo, a character
 * device, names that need escaping in a dump (space, '%', UTF-8), a file and a
 * directory deleted into trash, a rename that overwrites (the victim goes to
 * trash), one link of a hard-linked file deleted into trash, and a directory
 * moved between parents.
 *
 * Print format: one line per node, fields separated by one space:
 *   PATH TYPE ino=N mode=OOOO uid=N gid=N nlink=N [len=N] [rdev=N] [flags=N]
 *        [mtime=S.NNNNNNNNN] [target=T] [xattr:NAME=HEX]...
 * PATH is "/" for the root and "/.trash/..." for trash. Names, targets and
 * xattr names are escaped: bytes outside 0x21..0x7e and % " \ = become %XX.
 * len is printed for regular files only (a dump says 0 for other types).
 * Counter lines "#counter usedSpace=N" and "#counter totalInodes=N" come first.
 * The order of node lines is the walk order; consumers sort.
 *
 * It prints nothing else but errors, and exits non-zero on any failure.
 */
#include <fcntl.h>

#include "base/base.h"
#include "conf/conf.h"
#include "meta/meta.h"

static const char *prog = "jfs-mktree";

/* Report a failed step; returns r so callers can `return fail(...)`. */
static int fail(int r, const char *what, const char *name)
{
	fprintf(stderr, "%s: %s%s%s: %s\n", prog, what, name ? " " : "", name ? name : "",
		strerror(-r));
	return r;
}

/* ------------------------------------------------------------------ build */

struct tree {
	struct meta *m;
	struct meta_ctx c;
};

static int set_owner(struct tree *t, uint64_t ino, uint32_t uid, uint32_t gid, const char *name)
{
	struct meta_attr in, out;
	int r;

	memset(&in, 0, sizeof(in));
	in.uid = uid;
	in.gid = gid;
	r = meta_setattr(t->m, &t->c, ino, META_SET_UID | META_SET_GID, &in, &out);
	if (r < 0)
		return fail(r, "setattr owner", name);
	if (out.uid != uid || out.gid != gid) {
		fprintf(stderr, "%s: setattr owner %s: got %u:%u\n", prog, name, out.uid, out.gid);
		return -EIO;
	}
	return 0;
}

static int mkdir_as(struct tree *t, uint64_t parent, const char *name, uint16_t mode,
		    uint32_t uid, uint32_t gid, uint64_t *ino)
{
	struct meta_attr a;
	int r;

	r = meta_mkdir(t->m, &t->c, parent, name, mode, 0, ino, &a);
	if (r < 0)
		return fail(r, "mkdir", name);
	if (a.mode != mode) {
		fprintf(stderr, "%s: mkdir %s: mode %04o, want %04o\n", prog, name, a.mode, mode);
		return -EIO;
	}
	if (uid || gid)
		return set_owner(t, *ino, uid, gid, name);
	return 0;
}

/* Create and close a regular file (create counts as an open). */
static int create_as(struct tree *t, uint64_t parent, const char *name, uint16_t mode,
		     uint32_t uid, uint32_t gid, uint64_t *ino)
{
	struct meta_attr a;
	uint64_t i;
	int r;

	r = meta_create(t->m, &t->c, parent, name, mode, 0, O_RDWR, &i, &a);
	if (r < 0)
		return fail(r, "create", name);
	r = meta_close_file(t->m, i);
	if (r < 0)
		return fail(r, "close", name);
	if (a.mode != mode || a.type != META_TYPE_FILE) {
		fprintf(stderr, "%s: create %s: type %u mode %04o, want file %04o\n", prog, name,
			a.type, a.mode, mode);
		return -EIO;
	}
	if (ino)
		*ino = i;
	if (uid || gid)
		return set_owner(t, i, uid, gid, name);
	return 0;
}

static int xattr(struct tree *t, uint64_t ino, const char *name, const void *v, size_t len)
{
	int r = meta_setxattr(t->m, &t->c, ino, name, v, len, 0);

	return r < 0 ? fail(r, "setxattr", name) : 0;
}

static int expect_nlink(struct tree *t, uint64_t ino, uint32_t want, const char *name)
{
	struct meta_attr a;
	int r = meta_getattr(t->m, &t->c, ino, &a);

	if (r < 0)
		return fail(r, "getattr", name);
	if (a.nlink != want) {
		fprintf(stderr, "%s: %s: nlink %u, want %u\n", prog, name, a.nlink, want);
		return -EIO;
	}
	return 0;
}

static int build(struct meta *m)
{
	static const uint8_t binval[] = { 0x00, 0x01, '%', 0xfe, 0xff, '\n', 'A' };
	struct tree t = { .m = m };
	struct meta_attr a;
	uint64_t dir1, dir2, sub, deep, tmp, gone, moved, fa, tri, oldv, newv, ino;
	int r;

	meta_ctx_root(&t.c);

	if (!meta_format(m) || meta_format(m)->trash_days <= 0) {
		fprintf(stderr, "%s: the volume must have trash enabled (--trash-days > 0)\n", prog);
		return -EINVAL;
	}

	/* Directories, nested, with owners and modes. */
	r = mkdir_as(&t, META_ROOT_INODE, "dir1", 0755, 0, 0, &dir1);
	if (!r)
		r = mkdir_as(&t, META_ROOT_INODE, "dir2", 0755, 0, 0, &dir2);
	if (!r)
		r = mkdir_as(&t, dir1, "sub", 0750, 1000, 1000, &sub);
	if (!r)
		r = mkdir_as(&t, sub, "deep", 0700, 1000, 1000, &deep);
	if (!r)
		r = mkdir_as(&t, META_ROOT_INODE, "tmp", 01777, 0, 0, &tmp);
	if (!r)
		r = mkdir_as(&t, META_ROOT_INODE, "empty-dir", 0700, 1000, 1000, &ino);
	if (r < 0)
		return r;

	/* Regular files. */
	r = create_as(&t, dir1, "file-a", 0640, 1000, 1000, &fa);
	if (!r)
		r = create_as(&t, deep, "file-deep", 0640, 1000, 1000, NULL);
	if (!r)
		r = create_as(&t, dir1, "name with space", 0640, 1000, 1000, NULL);
	if (!r)
		r = create_as(&t, dir1, "pct%name", 0640, 1000, 1000, NULL);
	if (!r)
		r = create_as(&t, dir1, "unicod\xc3\xa9-\xc3\xbc", 0640, 1000, 1000, NULL);
	if (!r)
		r = create_as(&t, META_ROOT_INODE, "suid", 04755, 0, 0, NULL);
	if (!r)
		r = create_as(&t, tmp, "sticky-child", 0600, 1000, 1000, NULL);
	if (r < 0)
		return r;

	/* A sparse file: truncate past a chunk-internal offset records holes only. */
	r = create_as(&t, dir1, "sparse", 0640, 1000, 1000, &ino);
	if (r < 0)
		return r;
	r = meta_truncate(m, &t.c, ino, 1048581, &a);
	if (r < 0)
		return fail(r, "truncate", "sparse");
	if (a.length != 1048581) {
		fprintf(stderr, "%s: truncate sparse: length %llu\n", prog,
			(unsigned long long)a.length);
		return -EIO;
	}

	/* xattrs on a file (text and binary) and on a directory. */
	r = xattr(&t, fa, "user.k1", "v1", 2);
	if (!r)
		r = xattr(&t, fa, "user.bin", binval, sizeof(binval));
	if (!r)
		r = xattr(&t, fa, "user.empty", "", 0);
	if (!r)
		r = xattr(&t, dir2, "user.dirattr", "dir value", 9);
	if (r < 0)
		return r;

	/* Symlink, hard link, fifo, character device. */
	r = meta_symlink(m, &t.c, dir1, "sym", "../dir2/target with space", &ino, &a);
	if (r < 0)
		return fail(r, "symlink", "sym");
	r = meta_link(m, &t.c, fa, dir2, "link-a", &a);
	if (r < 0)
		return fail(r, "link", "link-a");
	r = expect_nlink(&t, fa, 2, "file-a");
	if (r < 0)
		return r;
	r = meta_mknod(m, &t.c, dir2, "fifo", META_TYPE_FIFO, 0644, 0, 0, &ino, &a);
	if (r < 0)
		return fail(r, "mknod", "fifo");
	r = meta_mknod(m, &t.c, dir2, "chr", META_TYPE_CHARDEV, 0600, 0, 0x103, &ino, &a);
	if (r < 0)
		return fail(r, "mknod", "chr");

	/* A directory moved to another parent (both parents' nlink change). */
	r = mkdir_as(&t, sub, "moved-dir", 0755, 0, 0, &moved);
	if (r < 0)
		return r;
	r = meta_rename(m, &t.c, sub, "moved-dir", dir2, "moved-dir", 0, &ino, &a);
	if (r < 0)
		return fail(r, "rename", "moved-dir");

	/* Into trash: a file, an empty directory, an overwritten file. */
	r = create_as(&t, dir1, "doomed", 0644, 1000, 1000, NULL);
	if (r < 0)
		return r;
	r = meta_unlink(m, &t.c, dir1, "doomed", 0);
	if (r < 0)
		return fail(r, "unlink", "doomed");
	r = mkdir_as(&t, dir1, "gone-dir", 0755, 1000, 1000, &gone);
	if (r < 0)
		return r;
	r = meta_rmdir(m, &t.c, dir1, "gone-dir", 0);
	if (r < 0)
		return fail(r, "rmdir", "gone-dir");
	r = create_as(&t, dir2, "old-ver", 0600, 0, 0, &oldv);
	if (!r)
		r = create_as(&t, dir2, "new-ver", 0640, 1000, 1000, &newv);
	if (r < 0)
		return r;
	r = meta_rename(m, &t.c, dir2, "new-ver", dir2, "old-ver", 0, &ino, &a);
	if (r < 0)
		return fail(r, "rename over", "old-ver");
	if (ino != newv) {
		fprintf(stderr, "%s: rename over old-ver: inode %llu, want %llu\n", prog,
			(unsigned long long)ino, (unsigned long long)newv);
		return -EIO;
	}

	/* One link of a hard-linked file deleted into trash. */
	r = create_as(&t, dir1, "tri", 0640, 1000, 1000, &tri);
	if (r < 0)
		return r;
	r = meta_link(m, &t.c, tri, dir1, "tri2", &a);
	if (r < 0)
		return fail(r, "link", "tri2");
	r = meta_unlink(m, &t.c, dir1, "tri2", 0);
	if (r < 0)
		return fail(r, "unlink", "tri2");
	return 0;
}

/*
 * The "dav" tree: only what the real client's WebDAV server can also do
 * (t/integ/t1002 does the same through it and compares the two volumes):
 * mkdir, empty files, deletes into trash, MOVE (which removes the target
 * first, then renames), a directory moved across parents.
 */
static int build_dav(struct meta *m)
{
	struct tree t = { .m = m };
	struct meta_attr a;
	uint64_t d, e, ino;
	int r;

	meta_ctx_root(&t.c);
	r = mkdir_as(&t, META_ROOT_INODE, "d", 0755, 0, 0, &d);
	if (!r)
		r = mkdir_as(&t, META_ROOT_INODE, "e", 0755, 0, 0, &e);
	if (!r)
		r = mkdir_as(&t, d, "sub", 0755, 0, 0, &ino);
	if (!r)
		r = create_as(&t, d, "f", 0644, 0, 0, NULL);
	if (!r)
		r = create_as(&t, d, "keep", 0644, 0, 0, NULL);
	if (r < 0)
		return r;
	r = meta_unlink(m, &t.c, d, "f", 0);
	if (r < 0)
		return fail(r, "unlink", "f");
	r = meta_rmdir(m, &t.c, d, "sub", 0);
	if (r < 0)
		return fail(r, "rmdir", "sub");
	r = create_as(&t, d, "old", 0644, 0, 0, NULL);
	if (!r)
		r = create_as(&t, d, "new", 0644, 0, 0, NULL);
	if (r < 0)
		return r;
	r = meta_unlink(m, &t.c, d, "old", 0);
	if (r < 0)
		return fail(r, "unlink", "old");
	r = meta_rename(m, &t.c, d, "new", d, "old", 0, &ino, &a);
	if (r < 0)
		return fail(r, "rename", "new");
	r = mkdir_as(&t, d, "mv", 0755, 0, 0, &ino);
	if (r < 0)
		return r;
	r = meta_rename(m, &t.c, d, "mv", e, "mv", 0, &ino, &a);
	if (r < 0)
		return fail(r, "rename", "mv");
	return 0;
}

/* ------------------------------------------------------------------ print */

static void add_escaped(struct buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '"' || ch == '\\' || ch == '=')
			buf_addf(b, "%%%02X", ch);
		else
			buf_addch(b, (char)ch);
	}
}

static const char *type_name(uint8_t type)
{
	static const char *const names[] = {
		[META_TYPE_FILE] = "regular",	 [META_TYPE_DIRECTORY] = "directory",
		[META_TYPE_SYMLINK] = "symlink", [META_TYPE_FIFO] = "fifo",
		[META_TYPE_BLOCKDEV] = "blockdev", [META_TYPE_CHARDEV] = "chardev",
		[META_TYPE_SOCKET] = "socket",
	};

	if (type < ARRAY_SIZE(names) && names[type])
		return names[type];
	return "unknown";
}

struct ent {
	char *name;
	size_t len;
	uint64_t ino;
	uint8_t type;
	struct meta_attr attr; /* from the plus listing */
};

struct ents {
	struct ent *v;
	size_t n, alloc;
};

static int collect(void *arg, const struct meta_dirent *e)
{
	struct ents *es = arg;

	if (es->n == es->alloc) {
		es->alloc = es->alloc ? es->alloc * 2 : 16;
		es->v = xrealloc(es->v, es->alloc * sizeof(*es->v));
	}
	es->v[es->n].name = xmemdup(e->name, e->namelen);
	es->v[es->n].len = e->namelen;
	es->v[es->n].ino = e->ino;
	es->v[es->n].type = e->type;
	es->v[es->n].attr = e->attr;
	es->n++;
	return 0;
}

static void ents_release(struct ents *es)
{
	size_t i;

	for (i = 0; i < es->n; i++)
		free(es->v[i].name);
	free(es->v);
	es->v = NULL;
	es->n = es->alloc = 0;
}

/* Print one node's line; path is already escaped. */
static int print_node(struct meta *m, const struct meta_ctx *c, const char *path, uint64_t ino,
		      const struct meta_attr *a)
{
	struct buf line = BUF_INIT, tmp = BUF_INIT, val = BUF_INIT;
	const char *p, *end;
	size_t i;
	int r = 0;

	buf_addf(&line, "%s %s ino=%llu mode=%04o uid=%u gid=%u nlink=%u", path,
		 type_name(a->type), (unsigned long long)ino, a->mode, a->uid, a->gid, a->nlink);
	if (a->type == META_TYPE_FILE)
		buf_addf(&line, " len=%llu", (unsigned long long)a->length);
	if (a->rdev)
		buf_addf(&line, " rdev=%u", a->rdev);
	if (a->flags)
		buf_addf(&line, " flags=%u", a->flags);
	buf_addf(&line, " mtime=%lld.%09u", (long long)a->mtime, a->mtimensec);

	if (a->type == META_TYPE_SYMLINK) {
		r = meta_readlink(m, ino, &tmp);
		if (r < 0) {
			fail(r, "readlink", path);
			goto out;
		}
		buf_adds(&line, " target=");
		add_escaped(&line, tmp.ptr, tmp.len);
		buf_reset(&tmp);
	}

	r = meta_listxattr(m, c, ino, &tmp);
	if (r < 0) {
		fail(r, "listxattr", path);
		goto out;
	}
	/* Names come NUL-separated in storage order; print them sorted. */
	{
		const char **names = NULL;
		size_t nn = 0;

		for (p = tmp.ptr, end = tmp.ptr + tmp.len; p < end; p += strlen(p) + 1) {
			names = xrealloc(names, (nn + 1) * sizeof(*names));
			names[nn++] = p;
		}
		for (i = 1; i < nn; i++) {
			const char *k = names[i];
			size_t j = i;

			while (j > 0 && strcmp(names[j - 1], k) > 0) {
				names[j] = names[j - 1];
				j--;
			}
			names[j] = k;
		}
		for (i = 0; i < nn && r == 0; i++) {
			size_t b;

			buf_reset(&val);
			r = meta_getxattr(m, c, ino, names[i], &val);
			if (r < 0) {
				fail(r, "getxattr", names[i]);
				break;
			}
			buf_adds(&line, " xattr:");
			add_escaped(&line, names[i], strlen(names[i]));
			buf_addch(&line, '=');
			for (b = 0; b < val.len; b++)
				buf_addf(&line, "%02x", (unsigned char)val.ptr[b]);
		}
		free(names);
		if (r < 0)
			goto out;
	}
	printf("%s\n", line.ptr);
out:
	buf_release(&line);
	buf_release(&tmp);
	buf_release(&val);
	return r;
}

static int ent_cmp(const void *x, const void *y)
{
	const struct ent *a = x, *b = y;
	int d = memcmp(a->name, b->name, MIN(a->len, b->len));

	if (d)
		return d;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* Print the children of directory ino (path is its escaped path, "" for root). */
static int walk(struct meta *m, const struct meta_ctx *c, uint64_t dir, const char *path)
{
	struct ents es = { 0 };
	struct buf child = BUF_INIT;
	struct meta_attr a;
	size_t i;
	int r;

	r = meta_readdir(m, c, dir, 1, NULL, 0, collect, &es);
	if (r < 0) {
		fail(r, "readdir", *path ? path : "/");
		goto out;
	}
	if (es.n > 1) /* qsort's base must not be NULL, even for 0 items */
		qsort(es.v, es.n, sizeof(*es.v), ent_cmp);
	for (i = 0; i < es.n; i++) {
		struct ent *e = &es.v[i];

		/* The trash is walked on its own, as "/.trash". */
		if (dir == META_ROOT_INODE && e->ino >= META_MIN_INTERNAL_INODE)
			continue;
		buf_reset(&child);
		buf_adds(&child, path);
		buf_addch(&child, '/');
		add_escaped(&child, e->name, e->len);
		r = meta_getattr(m, c, e->ino, &a);
		if (r < 0) {
			fail(r, "getattr", child.ptr);
			goto out;
		}
		/* The listing, the plus listing and getattr must agree. */
		if (a.type != e->type || e->attr.type != a.type || e->attr.mode != a.mode ||
		    e->attr.nlink != a.nlink || e->attr.uid != a.uid || e->attr.gid != a.gid ||
		    e->attr.length != a.length) {
			fprintf(stderr,
				"%s: %s: readdir says type %u (plus: type %u mode %04o nlink %u), "
				"getattr says type %u mode %04o nlink %u\n",
				prog, child.ptr, e->type, e->attr.type, e->attr.mode, e->attr.nlink,
				a.type, a.mode, a.nlink);
			r = -EIO;
			goto out;
		}
		r = print_node(m, c, child.ptr, e->ino, &a);
		if (r < 0)
			goto out;
		if (a.type == META_TYPE_DIRECTORY) {
			r = walk(m, c, e->ino, child.ptr);
			if (r < 0)
				goto out;
		}
	}
out:
	buf_release(&child);
	ents_release(&es);
	return r;
}

static int print_tree(struct meta *m)
{
	static const char *const counters[] = { "usedSpace", "totalInodes" };
	struct meta_ctx c;
	struct meta_attr a;
	size_t i;
	int64_t v;
	int r;

	meta_ctx_root(&c);
	for (i = 0; i < ARRAY_SIZE(counters); i++) {
		r = meta_get_counter(m, counters[i], &v);
		if (r < 0)
			return fail(r, "counter", counters[i]);
		printf("#counter %s=%lld\n", counters[i], (long long)v);
	}

	r = meta_getattr(m, &c, META_ROOT_INODE, &a);
	if (r < 0)
		return fail(r, "getattr", "/");
	r = print_node(m, &c, "/", META_ROOT_INODE, &a);
	if (!r)
		r = walk(m, &c, META_ROOT_INODE, "");
	if (r < 0)
		return r;

	r = meta_getattr(m, &c, META_TRASH_INODE, &a);
	if (r == -ENOENT)
		return 0; /* trash disabled at format */
	if (r < 0)
		return fail(r, "getattr", "/.trash");
	r = print_node(m, &c, "/.trash", META_TRASH_INODE, &a);
	if (!r)
		r = walk(m, &c, META_TRASH_INODE, "/.trash");
	if (r < 0)
		return r;
	return fflush(stdout) == 0 ? 0 : -errno;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--tree full|dav] META-URL   build a fixed test tree\n"
		"       %s --print META-URL             print the tree as the meta API sees it\n",
		prog, prog);
}

int main(int argc, char **argv)
{
	struct buf err = BUF_INIT;
	struct meta_conf mc;
	struct conf_format f;
	struct meta *m = NULL;
	const char *url, *tree = "full";
	int print = 0, r;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--print")) {
		print = 1;
		url = argv[2];
	} else if (argc == 4 && !strcmp(argv[1], "--tree") &&
		   (!strcmp(argv[2], "full") || !strcmp(argv[2], "dav"))) {
		tree = argv[2];
		url = argv[3];
	} else if (argc == 2 && argv[1][0] != '-') {
		url = argv[1];
	} else {
		usage(stderr);
		return 2;
	}

	log_set_level(LOG_WARNING);
	memset(&f, 0, sizeof(f));
	/* An admin-tool client: no background jobs, never deletes objects. */
	meta_conf_defaults(&mc);
	mc.no_bgjob = 1;
	mc.max_deletes = 0;
	mc.read_only = print;
	mc.mount_point = prog;
	r = meta_open(url, &mc, &m, &err);
	if (r < 0) {
		fprintf(stderr, "%s: open %s: %s\n", prog, url, err.len ? err.ptr : strerror(-r));
		goto out;
	}
	r = meta_load_format(m, &f);
	if (r < 0) {
		fail(r, "load format of", url);
		goto out;
	}
	if (print)
		r = print_tree(m);
	else if (!strcmp(tree, "dav"))
		r = build_dav(m);
	else
		r = build(m);
out:
	conf_format_release(&f);
	meta_close(m);
	buf_release(&err);
	return r < 0 ? 1 : 0;
}
