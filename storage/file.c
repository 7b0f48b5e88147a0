/*
 * storage/file.c: the "file" back end, one plain file per object.
 *
 * Key "vol/chunks/0/0/1_0_4096" is the file <root>vol/chunks/0/0/1_0_4096, the
 * layout JuiceFS uses for a file bucket, so a volume's objects are usable by
 * either implementation. The root is absolute, lexically cleaned and ends in
 * '/', exactly as JuiceFS stores it in Format.Bucket.
 *
 * Invariants the code depends on:
 *  1. put writes <dir>/.jfs.<name>.tmp.<random> and renames it over the key
 *     (the temp naming JuiceFS uses, so either implementation's leftovers
 *     look the same to both). Like JuiceFS, put does not fsync: one fsync per
 *     4 MiB block cost small-file writes half their speed. sync is one
 *     syncfs() of the root's file system instead, paid only by callers that
 *     promise durability (obj.h).
 *     An object of at least DIRECT_MIN bytes from a page-aligned buffer (a
 *     whole block from the chunk layer's mapped pool) is written with
 *     O_DIRECT: the copy into the page cache was 75-81 % of a sequential
 *     write's profile (doc/read-path.md). Crash safety is the temp file's and
 *     the rename's as for any put. A file system that refuses O_DIRECT (EINVAL
 *     at open, or at the first write) gets the same bytes written through the
 *     page cache, and the store stops asking; the caller never sees the
 *     difference.
 *     get of at least DIRECT_MIN bytes at an aligned offset into a page-aligned
 *     buffer (a whole block into the mapped pool) reads the aligned head with
 *     O_DIRECT and the tail through the page cache, for the same reason: the
 *     object is not in the page cache, and the copy out of it was the object
 *     pread's cost in a cold read's profile. Refused O_DIRECT (EINVAL) reads
 *     through the page cache and the store stops asking.
 *     get opens the file once and preads it, so a reader sees the old content,
 *     the new one or ENOENT, never a mixture or a prefix; a failed put (ENOSPC)
 *     unlinks its temp file and leaves the previous object untouched.
 *  2. Temp names are never written as keys: put rejects a key segment that
 *     looks like a temp name, so no put can land on another's temp file. But
 *     list shows temp files, and get/head/del accept their names, as JuiceFS
 *     does: one left by a killed writer is an object like any other to gc,
 *     which reclaims it once it is older than a put can take (cmd/gc.c), and
 *     to destroy. A lister may so see a put in flight; it never sees a key
 *     half-written, because a temp file is not the key it becomes.
 *  3. Directories are not objects. put creates them on demand, delete removes
 *     the ones it leaves empty (never the root), and get/head/list ignore them.
 *     A put whose directory vanished between mkdir and open (a concurrent
 *     delete emptied it) simply makes it again; once its temp file exists the
 *     directory is not empty, so rmdir cannot remove it under the put.
 *  4. Keys never leave the root: "", a leading '/', empty, "." and ".."
 *     segments are rejected with -EINVAL before any path is built.
 */
#include "storage/obj.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".jfs."
#define TMP_PREFIX_LEN (sizeof(TMP_PREFIX) - 1)
#define TMP_MARK ".tmp."
/* Enough of the object's name to recognise it, short enough for NAME_MAX. */
#define TMP_NAME_KEEP 200
/* Bounds the mkdir/open race of invariant 3; each lap needs a fresh rmdir. */
#define PUT_TRIES 32
#define SYNC_AHEAD_MIN (256 * 1024)

struct file_store {
	struct obj_store base;
	char *root; /* absolute, cleaned, ends in '/' */
	size_t root_len;
	char *desc;
	/* puts done / puts known durable: a sync with nothing new is free */
	atomic_ulong puts, synced;
	atomic_int no_direct; /* the root's file system refused O_DIRECT */
};

static const struct obj_ops file_ops;

static struct file_store *file_of(struct obj_store *s)
{
	BUG_ON(s->ops != &file_ops);
	return (struct file_store *)s;
}

static int seg_is_dot(const char *seg, size_t n)
{
	return (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.');
}

/* ".jfs.<name>.tmp.<random>": a put in progress, or one that crashed. */
static int is_tmp_name(const char *seg, size_t n)
{
	return n > TMP_PREFIX_LEN && !memcmp(seg, TMP_PREFIX, TMP_PREFIX_LEN) &&
	       memmem(seg + TMP_PREFIX_LEN, n - TMP_PREFIX_LEN, TMP_MARK, sizeof(TMP_MARK) - 1);
}

/*
 * Check the '/'-separated segments of s[0..n): each non-empty, not "." or
 * "..", short enough to be a file name, and with no_tmp not a temp name. A
 * final '/' is allowed here (a directory part); check_key refuses it for keys.
 */
static int check_segments(const char *s, size_t n, int no_tmp)
{
	const char *end = s + n;

	while (s < end) {
		const char *slash = memchr(s, '/', (size_t)(end - s));
		size_t len = slash ? (size_t)(slash - s) : (size_t)(end - s);

		if (!len || seg_is_dot(s, len))
			return -EINVAL;
		if (no_tmp && is_tmp_name(s, len))
			return -EINVAL;
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		if (!slash)
			break;
		s = slash + 1;
	}
	return 0;
}

/* no_tmp: refuse temp names (for put, invariant 2). */
static int check_key(const char *key, int no_tmp)
{
	size_t n = strlen(key);

	/* A trailing '/' would name a directory, which is not an object. */
	if (!n || key[0] == '/' || key[n - 1] == '/')
		return -EINVAL;
	return check_segments(key, n, no_tmp);
}

/* A missing object looks like ENOENT, or ENOTDIR when a parent is a file. */
static int missing(int err) { return err == ENOENT || err == ENOTDIR; }

static char *obj_path(struct file_store *fs, const char *key)
{
	return xasprintf("%s%s", fs->root, key);
}

/* tmp = the directory part of path (dir_len bytes) + '/' + a fresh temp name. */
static void tmp_name(struct buf *tmp, const char *path, size_t dir_len)
{
	const char *name = path + dir_len + 1;
	uint64_t rnd;

	random_bytes(&rnd, sizeof(rnd));
	buf_reset(tmp);
	buf_add(tmp, path, dir_len + 1);
	buf_adds(tmp, TMP_PREFIX);
	buf_add(tmp, name, MIN(strlen(name), (size_t)TMP_NAME_KEEP));
	buf_addf(tmp, TMP_MARK "%llu", (unsigned long long)(rnd >> 1));
}

/* fd_write_direct, and the store stops asking once the file system refused. */
static int write_direct(struct file_store *fs, int fd, const char *data, size_t len)
{
	int refused, r = fd_write_direct(fd, data, len, &refused);

	if (refused && !atomic_exchange(&fs->no_direct, 1))
		log_info("%s: O_DIRECT refused, writing through the page cache", fs->root);
	return r;
}

static int file_put(struct obj_store *s, const char *key, const void *data, size_t len)
{
	struct file_store *fs = file_of(s);
	struct buf tmp = BUF_INIT;
	char *path = NULL;
	size_t dir_len;
	int r, fd = -1;
	int direct = len >= DIRECT_MIN && !((uintptr_t)data % DIRECT_ALIGN) &&
		     !atomic_load(&fs->no_direct);

	r = check_key(key, 1);
	if (r)
		return r;
	path = obj_path(fs, key);
	/* The root ends in '/', so there is always a last slash. */
	dir_len = (size_t)(strrchr(path, '/') - path);
	for (int tries = 0;; tries++) {
		tmp_name(&tmp, path, dir_len);
		fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0),
			  0644);
		if (fd >= 0)
			break;
		r = -errno;
		if (r == -EINVAL && direct) {
			/* refused after the create (ramfs): the empty temp file is ours */
			unlink(tmp.ptr);
			if (!atomic_exchange(&fs->no_direct, 1))
				log_info("%s: O_DIRECT refused, writing through the page cache",
					 fs->root);
			direct = 0;
			tries--;
			continue;
		}
		if (tries >= PUT_TRIES || (r != -ENOENT && r != -EEXIST))
			goto out;
		if (r == -ENOENT) {
			path[dir_len] = 0;
			r = mkdir_p(path, 0755);
			path[dir_len] = '/';
			if (r)
				goto out;
		}
	}
	r = direct ? write_direct(fs, fd, data, len) : fd_write_all(fd, data, len);
	/*
	 * Start the writeback of a big object now, without waiting for it: a
	 * later sync then finds little left to do, and a stream of blocks
	 * reaches the disk at its own pace instead of in one burst at fsync.
	 * Small objects skip it: the syscall cost more than it saves; a direct
	 * write left at most a short tail in the page cache.
	 */
	if (!r && !direct && len >= SYNC_AHEAD_MIN)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) && !r)
		r = -errno;
	fd = -1;
	if (!r && rename(tmp.ptr, path))
		r = -errno;
	if (!r)
		atomic_fetch_add(&fs->puts, 1);
	if (r)
		unlink(tmp.ptr);
out:
	if (r) {
		/* A failed put leaves no trace: drop directories it left empty. */
		char *slash;
		while ((slash = strrchr(path, '/')) && (size_t)(slash - path) >= fs->root_len) {
			*slash = 0;
			if (rmdir(path))
				break;
		}
		log_debug("put %s: %s", key, strerror(-r));
	}
	buf_release(&tmp);
	free(path);
	return r;
}

/*
 * The aligned head of [off, off+len) into dst with O_DIRECT on the same fd
 * (F_SETFL, so the reader still holds the one inode it opened): objects are
 * written with O_DIRECT and so are not in the page cache, and a buffered read
 * was the disk read plus a copy out of the page cache. *done counts the bytes
 * read; the caller reads the rest (the short tail, or everything when the
 * file system refused) through the page cache. O_DIRECT is cleared on
 * return. 0 or -errno.
 */
static int read_direct(struct file_store *fs, int fd, uint64_t off, char *dst, size_t len,
		       size_t *done)
{
	size_t head = len & ~(size_t)(DIRECT_ALIGN - 1);
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
		if (errno != EINVAL)
			return -errno;
		if (!atomic_exchange(&fs->no_direct, 1))
			log_info("%s: O_DIRECT refused, reading through the page cache", fs->root);
		return 0;
	}
	while (*done < head) {
		ssize_t n = pread(fd, dst + *done, head - *done, (off_t)(off + *done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EINVAL)
				return -errno;
			/* refused at the read, or a short read left us unaligned */
			if (!*done && !atomic_exchange(&fs->no_direct, 1))
				log_info("%s: O_DIRECT refused, reading through the page cache",
					 fs->root);
			break;
		}
		if (!n)
			break;
		*done += (size_t)n;
	}
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

static ssize_t file_get(struct obj_store *s, const char *key, uint64_t off, void *dst, size_t len)
{
	struct file_store *fs = file_of(s);
	struct stat st;
	char *path = NULL;
	size_t done = 0;
	ssize_t r;
	int fd = -1;

	r = check_key(key, 0);
	if (r)
		return r;
	path = obj_path(fs, key);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = missing(errno) ? -ENOENT : -errno;
		goto out;
	}
	if (fstat(fd, &st)) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -ENOENT;
		goto out;
	}
	/* The inode never changes once renamed into place: clamp to its size. */
	if (off >= (uint64_t)st.st_size) {
		r = 0;
		goto out;
	}
	len = (size_t)MIN((uint64_t)len, (uint64_t)st.st_size - off);
	len = MIN(len, (size_t)SSIZE_MAX);
	if (len >= DIRECT_MIN && !(off % DIRECT_ALIGN) && !((uintptr_t)dst % DIRECT_ALIGN) &&
	    !atomic_load(&fs->no_direct)) {
		r = read_direct(fs, fd, off, dst, len, &done);
		if (r)
			goto out;
	}
	while (done < len) {
		ssize_t n = pread(fd, (char *)dst + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (!n)
			break;
		done += (size_t)n;
	}
	r = (ssize_t)done;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

static int file_head(struct obj_store *s, const char *key, struct obj_info *oi)
{
	struct file_store *fs = file_of(s);
	struct stat st;
	char *path;
	int r;

	r = check_key(key, 0);
	if (r)
		return r;
	path = obj_path(fs, key);
	if (stat(path, &st))
		r = missing(errno) ? -ENOENT : -errno;
	else if (!S_ISREG(st.st_mode))
		r = -ENOENT;
	free(path);
	if (r)
		return r;
	oi->key = key;
	oi->size = (uint64_t)st.st_size;
	oi->mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	return 0;
}

static int file_del(struct obj_store *s, const char *key)
{
	struct file_store *fs = file_of(s);
	char *path, *slash;
	int r;

	r = check_key(key, 0);
	if (r)
		return r;
	path = obj_path(fs, key);
	if (unlink(path)) {
		/* A directory is not an object: deleting it is deleting nothing. */
		r = missing(errno) || errno == EISDIR ? 0 : -errno;
		goto out;
	}
	/* Invariant 3: drop the directories this delete left empty. */
	while ((slash = strrchr(path, '/')) && (size_t)(slash - path) >= fs->root_len) {
		*slash = 0;
		if (rmdir(path))
			break;
	}
out:
	free(path);
	return r;
}

/* ---- list ---- */

/*
 * Walk state. Within a directory, entries are sorted by name with a '/'
 * appended to directories: every key below directory "d" starts with "d/", and
 * no sibling name is a prefix of "d/", so this order is full-key byte order
 * ("a-b" < "a/b" < "a0", since '-' < '/' < '0').
 */
struct list_ctx {
	struct file_store *fs;
	const char *prefix;
	size_t prefix_len;
	const char *start_after; /* NULL = from the start */
	size_t limit, count;
	obj_list_fn cb;
	void *arg;
	struct buf path; /* root + current key; the key starts at root_len */
	int done;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Could a key starting with dir key `k` (ending in '/') still match? */
static int dir_wanted(struct list_ctx *c, const char *k, size_t klen)
{
	if (strncmp(k, c->prefix, MIN(klen, c->prefix_len)))
		return 0;
	/* If start_after is past every "k..." key, the whole subtree is done. */
	if (c->start_after && strncmp(c->start_after, k, klen) && strcmp(k, c->start_after) < 0)
		return 0;
	return 1;
}

/* Read the names of the directory at c->path, directories with a '/' added. */
static int read_dir(struct list_ctx *c, char ***out, size_t *out_n)
{
	char **names = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(c->path.ptr);
	if (!d) {
		/* Gone (emptied by a concurrent delete) or never made: no keys. */
		r = missing(errno) ? 0 : -errno;
		goto out;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		const char *nm = de->d_name;
		int is_dir;
		if (seg_is_dot(nm, strlen(nm)))
			continue;
		if (de->d_type == DT_DIR || de->d_type == DT_REG) {
			is_dir = de->d_type == DT_DIR;
		} else {
			/* Unknown type or a symlink: ask stat (which follows links). */
			struct stat st;
			if (fstatat(dirfd(d), nm, &st, 0))
				continue;
			if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
				continue;
			is_dir = S_ISDIR(st.st_mode);
		}
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			names = xrealloc(names, alloc * sizeof(*names));
		}
		names[n++] = is_dir ? xasprintf("%s/", nm) : xstrdup(nm);
	}
	closedir(d);
out:
	if (r) {
		free_names(names, n);
		names = NULL;
		n = 0;
	}
	*out = names;
	*out_n = n;
	return r;
}

static int emit(struct list_ctx *c, const char *key)
{
	struct obj_info oi;
	struct stat st;
	int r;

	if (strncmp(key, c->prefix, c->prefix_len))
		return 0;
	if (c->start_after && strcmp(key, c->start_after) <= 0)
		return 0;
	if (stat(c->path.ptr, &st)) {
		/* Deleted since readdir: it is simply not listed. */
		return missing(errno) ? 0 : -errno;
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	oi.key = key;
	oi.size = (uint64_t)st.st_size;
	oi.mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	r = c->cb(c->arg, &oi);
	if (r)
		return r;
	if (c->limit && ++c->count >= c->limit)
		c->done = 1;
	return 0;
}

/* List the directory whose key (empty or ending in '/') is at c->path. */
static int walk(struct list_ctx *c)
{
	size_t base_len = c->path.len;
	char **names = NULL;
	size_t n = 0;
	int r;

	r = read_dir(c, &names, &n);
	if (r)
		goto out;
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && !r && !c->done; i++) {
		size_t nlen = strlen(names[i]);
		c->path.len = base_len;
		c->path.ptr[base_len] = 0;
		r = buf_add(&c->path, names[i], nlen);
		if (r)
			break;
		const char *key = c->path.ptr + c->fs->root_len;
		size_t klen = c->path.len - c->fs->root_len;
		if (names[i][nlen - 1] == '/') {
			if (dir_wanted(c, key, klen))
				r = walk(c);
		} else {
			r = emit(c, key);
		}
	}
out:
	c->path.len = base_len;
	c->path.ptr[base_len] = 0;
	free_names(names, n);
	return r;
}

static int file_list(struct obj_store *s, const char *prefix, const char *start_after,
		     size_t limit, obj_list_fn cb, void *arg)
{
	struct file_store *fs = file_of(s);
	struct list_ctx c = {
		.fs = fs,
		.prefix = prefix ? prefix : "",
		.start_after = start_after,
		.limit = limit,
		.cb = cb,
		.arg = arg,
	};
	const char *slash;
	size_t dir_len;
	int r;

	c.prefix_len = strlen(c.prefix);
	/* Start in the deepest directory the prefix names, not at the root. */
	slash = strrchr(c.prefix, '/');
	dir_len = slash ? (size_t)(slash - c.prefix) + 1 : 0;
	if (c.prefix[0] == '/')
		return -EINVAL;
	r = check_segments(c.prefix, dir_len, 0);
	if (r)
		return r;
	buf_init(&c.path, 0);
	buf_adds(&c.path, fs->root);
	buf_add(&c.path, c.prefix, dir_len);
	r = walk(&c);
	buf_release(&c.path);
	return r;
}

static int file_create_bucket(struct obj_store *s)
{
	struct file_store *fs = file_of(s);
	struct buf tmp = BUF_INIT;
	char *probe;
	int r, fd;

	r = mkdir_p(fs->root, 0755);
	if (r)
		goto out;
	/* mkdir_p succeeds on an existing directory: prove that we can write. */
	probe = xasprintf("%sprobe", fs->root);
	tmp_name(&tmp, probe, fs->root_len - 1);
	free(probe);
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	close(fd);
	unlink(tmp.ptr);
out:
	if (r)
		log_debug("create bucket %s: %s", fs->root, strerror(-r));
	buf_release(&tmp);
	return r;
}

static void file_free(struct obj_store *s)
{
	struct file_store *fs = file_of(s);

	free(fs->root);
	free(fs->desc);
	free(fs);
}

static const char *file_describe(struct obj_store *s) { return file_of(s)->desc; }

static int file_sync(struct obj_store *s)
{
	struct file_store *fs = file_of(s);
	/* read before syncing: a put finishing meanwhile is not covered */
	unsigned long puts = atomic_load(&fs->puts);
	int fd, r = 0;

	if (puts == atomic_load(&fs->synced))
		return 0;
	fd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syncfs(fd))
		r = -errno;
	close(fd);
	if (!r) {
		unsigned long old = atomic_load(&fs->synced);
		/* never move backwards past a newer sync's mark */
		while (old < puts && !atomic_compare_exchange_weak(&fs->synced, &old, puts))
			;
	}
	return r;
}

static const struct obj_ops file_ops = {
	.name = "file",
	.create_bucket = file_create_bucket,
	.put = file_put,
	.get = file_get,
	.head = file_head,
	.del = file_del,
	.list = file_list,
	.free = file_free,
	.sync = file_sync,
	.describe = file_describe,
};

/*
 * Make dir absolute and clean it lexically the way JuiceFS does (Go's
 * filepath.Abs: join with the working directory, drop "." and empty segments,
 * resolve ".." textually), then add the trailing '/'. Symlinks are kept.
 */
static char *file_root(const char *dir)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	const char *p, *end;

	if (dir[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return NULL;
		buf_adds(&in, cwd);
		buf_addch(&in, '/');
		free(cwd);
	}
	buf_adds(&in, dir);
	p = in.ptr;
	end = in.ptr + in.len;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			/* Drop the last segment; ".." at the root stays at the root. */
			char *last = out.len ? strrchr(out.ptr, '/') : NULL;
			if (last) {
				out.len = (size_t)(last - out.ptr);
				out.ptr[out.len] = 0;
			}
		} else if (len && !(len == 1 && p[0] == '.')) {
			buf_addch(&out, '/');
			buf_add(&out, p, len);
		}
		p += len + 1;
	}
	buf_addch(&out, '/');
	buf_release(&in);
	return buf_detach(&out, NULL);
}

struct obj_store *obj_file_new(const char *dir)
{
	struct file_store *fs;
	char *root;

	if (!dir || !*dir)
		return NULL;
	root = file_root(dir);
	if (!root)
		return NULL;
	fs = xcalloc(1, sizeof(*fs));
	fs->base.ops = &file_ops;
	fs->root = root;
	fs->root_len = strlen(root);
	fs->desc = xasprintf("file://%s", root);
	return &fs->base;
}
