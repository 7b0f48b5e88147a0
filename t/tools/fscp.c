/*
 * jfs-fscp: a test tool that moves file data in and out of a volume through
 * fscore/fs.h, with the volume's own object storage, so integration tests can
 * write data with our code and compare it with what the real client sees.
 *
 *   jfs-fscp put META LOCAL|- PATH        copy a local file (or stdin) to PATH
 *   jfs-fscp get META PATH LOCAL|-        copy PATH out to a local file (or stdout)
 *   jfs-fscp randwrite META PATH SIZE NOPS SEED MODEL
 *                                         write PATH of SIZE bytes, then NOPS random
 *                                         overwrites (each its own slice); MODEL gets
 *                                         the expected bytes
 *   jfs-fscp rm [--skip-trash] META PATH  unlink PATH (to trash unless --skip-trash)
 *   jfs-fscp expire-trash META            expire every trash hour directory and
 *                                         delayed slice (as if trash-days had passed),
 *                                         then delete pending deleted files
 *
 * PATH is absolute inside the volume; parents are created by put/randwrite,
 * an existing file is truncated. Errors are one line on stderr and exit 1.
 * No disk cache is used, so what get reads comes from the object store.
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "fscore/fs.h"
#include "meta/meta.h"

#define IO_SIZE (1U << 20)

static const char *prog = "jfs-fscp";

static int fail(int r, const char *what, const char *name)
{
	fprintf(stderr, "%s: %s%s%s: %s\n", prog, what, name ? " " : "", name ? name : "",
		strerror(-r));
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s put META LOCAL|- PATH\n"
		   "       %s get META PATH LOCAL|-\n"
		   "       %s randwrite META PATH SIZE NOPS SEED MODEL\n"
		   "       %s rm [--skip-trash] META PATH\n"
		   "       %s expire-trash META\n",
		prog, prog, prog, prog, prog);
}

static int open_volume(const char *url, struct fs **fs)
{
	struct fs_conf c;
	struct buf err = BUF_INIT;
	int r;

	fs_conf_defaults(&c);
	c.cache_dir = "none";
	c.buffer_size = 64ULL << 20;
	c.io_retries = 2;
	c.meta.mount_point = prog;
	r = fs_open(url, &c, fs, &err);
	if (r)
		fprintf(stderr, "%s: open %s: %s\n", prog, url, err.len ? err.ptr : strerror(-r));
	buf_release(&err);
	return r;
}

/* Open PATH for writing, truncated; parents are created. */
static int open_dst(struct fs *fs, const char *path, struct fs_file **fh)
{
	struct meta_ctx c;
	const char *slash = strrchr(path, '/');
	uint64_t ino, parent = META_ROOT_INODE;
	int r;

	meta_ctx_root(&c);
	if (!slash || !slash[1])
		return -EINVAL;
	r = fs_resolve(fs, &c, path, &ino, NULL);
	if (r == 0)
		return fs_open_file(fs, &c, ino, O_WRONLY | O_TRUNC, fh, NULL);
	if (r != -ENOENT)
		return r;
	if (slash != path) {
		char *dir = xmemdup(path, (size_t)(slash - path));

		r = fs_mkdir_p(fs, &c, dir, 0755, &parent);
		free(dir);
		if (r)
			return r;
	}
	return fs_create(fs, &c, parent, slash + 1, 0644, 022, O_WRONLY, fh, NULL, NULL);
}

static int do_put(struct fs *fs, const char *local, const char *path)
{
	struct fs_file *fh = NULL;
	char *buf = xmalloc(IO_SIZE);
	uint64_t off = 0;
	int fd = strcmp(local, "-") ? open(local, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	int r;

	if (fd < 0) {
		r = fail(-errno, "open", local);
		goto out;
	}
	r = open_dst(fs, path, &fh);
	if (r) {
		fail(r, "create", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, IO_SIZE), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = fail(-errno, "read", local);
			goto out;
		}
		if (n == 0)
			break;
		w = fs_write(fh, off, buf, (size_t)n);
		if (w != n) {
			r = fail(w < 0 ? (int)w : -EIO, "write", path);
			goto out;
		}
		off += (uint64_t)n;
	}
out:
	if (fh) {
		int rr = fs_release(fh);

		if (rr && !r)
			r = fail(rr, "close", path);
	}
	if (fd > STDIN_FILENO)
		close(fd);
	free(buf);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int do_get(struct fs *fs, const char *path, const char *local)
{
	struct meta_ctx c;
	struct fs_file *fh = NULL;
	struct meta_attr a;
	char *buf = xmalloc(IO_SIZE);
	uint64_t ino, off = 0;
	int fd = -1, r;

	meta_ctx_root(&c);
	r = fs_resolve(fs, &c, path, &ino, NULL);
	if (!r)
		r = fs_open_file(fs, &c, ino, O_RDONLY, &fh, &a);
	if (r) {
		fail(r, "open", path);
		goto out;
	}
	fd = strcmp(local, "-") ? open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
				: STDOUT_FILENO;
	if (fd < 0) {
		r = fail(-errno, "create", local);
		goto out;
	}
	while (off < a.length) {
		ssize_t n = fs_read(fh, off, buf, (size_t)MIN((uint64_t)IO_SIZE, a.length - off));

		if (n < 0) {
			r = fail((int)n, "read", path);
			goto out;
		}
		if (n == 0) {
			r = fail(-EIO, "short read of", path);
			goto out;
		}
		if ((r = write_all(fd, buf, (size_t)n))) {
			fail(r, "write", local);
			goto out;
		}
		off += (uint64_t)n;
	}
out:
	if (fh) {
		int rr = fs_release(fh);

		if (rr && !r)
			r = fail(rr, "close", path);
	}
	if (fd > STDOUT_FILENO && close(fd) && !r)
		r = fail(-errno, "close", local);
	free(buf);
	return r;
}

/* xorshift64*: reproducible from the seed, independent of libc. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd(s) >> 56);
}

/*
 * Random overwrites, each flushed on its own so that it becomes a separate
 * slice; a few are flushed together to exercise slices committed as a batch.
 * MODEL receives the bytes the file must hold.
 */
static int do_randwrite(struct fs *fs, const char *path, uint64_t size, uint64_t nops,
			uint64_t seed, const char *model)
{
	struct fs_file *fh = NULL;
	uint8_t *m = NULL, *buf = xmalloc(IO_SIZE);
	uint64_t s = seed * 2654435761ULL + 88172645463325252ULL;
	int fd = -1, r;

	if (size > (1ULL << 30)) {
		r = fail(-EINVAL, "size too big", path);
		goto out;
	}
	m = xmalloc(size ? size : 1);
	r = open_dst(fs, path, &fh);
	if (r) {
		fail(r, "create", path);
		goto out;
	}
	fill(&s, m, size);
	for (uint64_t off = 0; off < size; off += IO_SIZE) {
		size_t n = (size_t)MIN((uint64_t)IO_SIZE, size - off);
		ssize_t w = fs_write(fh, off, m + off, n);

		if (w != (ssize_t)n) {
			r = fail(w < 0 ? (int)w : -EIO, "write", path);
			goto out;
		}
	}
	for (uint64_t i = 0; i < nops && size; i++) {
		uint64_t off = rnd(&s) % size, want = 1 + rnd(&s) % (256U << 10);
		/* MIN evaluates its arguments twice: keep rnd() out of it */
		size_t n = (size_t)MIN(size - off, want);
		ssize_t w;

		fill(&s, buf, n);
		memcpy(m + off, buf, n);
		w = fs_write(fh, off, buf, n);
		if (w != (ssize_t)n) {
			r = fail(w < 0 ? (int)w : -EIO, "write", path);
			goto out;
		}
		if (i % 4 != 3 && (r = fs_flush(fh))) {
			fail(r, "flush", path);
			goto out;
		}
	}
	fd = open(model, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (r = write_all(fd, (const char *)m, size))) {
		r = fail(fd < 0 ? -errno : r, "write", model);
		goto out;
	}
out:
	if (fh) {
		int rr = fs_release(fh);

		if (rr && !r)
			r = fail(rr, "close", path);
	}
	if (fd >= 0)
		close(fd);
	free(m);
	free(buf);
	return r;
}

static int do_rm(struct fs *fs, const char *path, int skip_trash)
{
	struct meta_ctx c;
	const char *slash = strrchr(path, '/');
	uint64_t parent = META_ROOT_INODE;
	int r;

	meta_ctx_root(&c);
	if (!slash || !slash[1])
		return fail(-EINVAL, "bad path", path);
	if (slash != path) {
		char *dir = xmemdup(path, (size_t)(slash - path));

		r = fs_resolve(fs, &c, dir, &parent, NULL);
		free(dir);
		if (r)
			return fail(r, "resolve parent of", path);
	}
	r = fs_unlink(fs, &c, parent, slash + 1, skip_trash);
	return r ? fail(r, "unlink", path) : 0;
}

static int do_expire(struct fs *fs)
{
	struct meta *m = fs_meta(fs);
	const struct conf_format *f = fs_format(fs);
	int64_t days = f ? f->trash_days : 0;
	/* A clock far enough ahead that every hour directory and delayed slice is due. */
	int64_t now = (int64_t)time(NULL) + (days * 24 + 3) * 3600;
	int n = 0, nf = 0, r;

	r = meta_cleanup_trash(m, now, &n);
	if (r)
		return fail(r, "expire trash", NULL);
	r = meta_cleanup_deleted_files(m, 0, &nf);
	if (r)
		return fail(r, "delete pending files", NULL);
	printf("expired %d trash directories, deleted %d pending files\n", n, nf);
	return 0;
}

int main(int argc, char **argv)
{
	struct fs *fs = NULL;
	const char *cmd = argc > 1 ? argv[1] : "";
	int skip = 0, r = -EINVAL;
	uint64_t size, nops, seed;

	log_set_level(LOG_WARNING);
	if (argc == 2 && (!strcmp(cmd, "--help") || !strcmp(cmd, "-h"))) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "rm") && argc > 2 && !strcmp(argv[2], "--skip-trash")) {
		skip = 1;
		argv++;
		argc--;
	}
	if (!((!strcmp(cmd, "put") && argc == 5) || (!strcmp(cmd, "get") && argc == 5) ||
	      (!strcmp(cmd, "randwrite") && argc == 8) || (!strcmp(cmd, "rm") && argc == 4) ||
	      (!strcmp(cmd, "expire-trash") && argc == 3))) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "randwrite") &&
	    (parse_u64(argv[4], &size) || parse_u64(argv[5], &nops) || parse_u64(argv[6], &seed))) {
		usage(stderr);
		return 2;
	}
	if (open_volume(argv[2], &fs))
		return 1;
	if (!strcmp(cmd, "put"))
		r = do_put(fs, argv[3], argv[4]);
	else if (!strcmp(cmd, "get"))
		r = do_get(fs, argv[3], argv[4]);
	else if (!strcmp(cmd, "randwrite"))
		r = do_randwrite(fs, argv[3], size, nops, seed, argv[7]);
	else if (!strcmp(cmd, "rm"))
		r = do_rm(fs, argv[3], skip);
	else
		r = do_expire(fs);
	fs_close(fs);
	return r ? 1 : 0;
}
