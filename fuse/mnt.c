/*
 * fuse/mnt.c: libfuse3 low-level operations over fscore/fs.h.
 *
 * The kernel does the POSIX permission checks (default_permissions) and meta
 * repeats them with the caller's supplementary groups, so a mount without
 * default_permissions (-o options) is still safe. On a volume with POSIX
 * ACLs the option is not set and meta's checks, which read the ACLs, decide.
 * Inode numbers are metadata
 * inodes, so forget needs no bookkeeping and two mounts of one volume agree
 * on numbers; the only per-inode state is the set of inodes that ever had
 * POSIX locks here (their closes must drop the owner's locks).
 *
 * Handles: a file handle owns its struct fs_file; a directory handle holds a
 * snapshot taken when listing starts at offset 0 (so offsets are stable
 * indexes, and a concurrent create never makes readdir repeat or skip an
 * entry); internal files (.stats, .config) hold their content generated at
 * open; .accesslog handles are readers of the operation log; .control
 * handles run control messages (rmr, warmup) when a whole message has been
 * written and keep the answer for the next reads.
 *
 * Locks are metadata records (spec §10.2) owned by the kernel's lock_owner,
 * so they hold across mounts. Blocking requests poll with non-blocking tries
 * so an interrupted waiter (a signal in the caller) gets EINTR instead of
 * keeping a worker thread forever.
 */
#define FUSE_USE_VERSION 35
#include "fuse/mnt.h"
#include "base/metrics.h"

#include <fcntl.h>
#include <jansson.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Internal inodes (spec §12). */
#define INO_ACCESSLOG 0x7FFFFFFF00000001ULL
#define INO_CONTROL 0x7FFFFFFF00000002ULL
#define INO_STATS 0x7FFFFFFF00000003ULL
#define INO_CONFIG 0x7FFFFFFF00000004ULL

#define PLOCK_EOF 0x7FFFFFFFFFFFFFFFULL
#define ALOG_MAX_BUFFERED (4U << 20) /* per reader; older lines are dropped past it */
#define LOCK_POLL_MS 10

#define OPS(X)                                                                              \
	X(lookup) X(getattr) X(setattr) X(mknod) X(mkdir) X(unlink) X(rmdir) X(symlink)      \
	X(readlink) X(rename) X(link) X(open) X(create) X(read) X(write) X(flush) X(release) \
	X(fsync) X(opendir) X(readdir) X(releasedir) X(statfs) X(setxattr) X(getxattr)       \
	X(listxattr) X(removexattr) X(access) X(flock) X(getlk) X(setlk) X(fallocate)        \
	X(copy_file_range) X(ioctl)

enum op_id {
#define X(n) OP_##n,
	OPS(X)
#undef X
	OP_COUNT
};

static const char *const op_names[] = {
#define X(n) #n,
	OPS(X)
#undef X
};

struct internal_file {
	const char *name;
	uint64_t ino;
	uint16_t mode;
};

static const struct internal_file internal_files[] = {
	{ ".accesslog", INO_ACCESSLOG, 0400 },
	{ ".stats", INO_STATS, 0444 },
	{ ".config", INO_CONFIG, 0400 },
};

struct alog_reader {
	struct buf b;
	struct alog_reader *next;
};

struct mnt {
	struct fs *fs;
	struct mnt_conf conf;
	char *mountpoint, *fsname, *fuse_opts, *config_json, *subdir;
	struct fuse_session *se;
	int mounted, signals;
	/*
	 * mnt_stop: set once the mountpoint is detached (mnt_free then leaves
	 * it alone: the path may hold something else by then); the thread in
	 * mnt_serve's loop, woken by MNT_KICK_SIGNAL. Both under stop_mu.
	 */
	pthread_mutex_t stop_mu;
	int detached, serving;
	pthread_t server;
	int acl; /* the volume has EnableACL */
	uint64_t root; /* metadata inode shown as FUSE_ROOT_ID */
	struct timespec started;
	uint64_t nhandles; /* under fh_mu */
	/* .accesslog readers */
	pthread_mutex_t log_mu;
	pthread_cond_t log_cond;
	struct alog_reader *readers;
	int nreaders;
	uint64_t last_fh; /* handle numbers shown in the log, as JuiceFS's fh */
	pthread_mutex_t fh_mu;
	struct mnt_fh *handles;
	/*
	 * Inodes on which POSIX locks were taken through this mount: a close
	 * of any descriptor of such a file must drop its owner's locks, and
	 * other files skip that metadata transaction. Never shrinks.
	 */
	pthread_mutex_t pl_mu;
	uint64_t *plocked;
	size_t npl, capl;
};

enum fh_kind { FH_FILE, FH_DIR, FH_STATIC, FH_ALOG, FH_CONTROL };

struct dentry {
	char *name;
	uint64_t ino;
	struct meta_attr attr;
};

struct mnt_fh {
	enum fh_kind kind;
	uint64_t id;            /* [fh:N] in the access log */
	struct fs_file *f;
	char *data;             /* FH_STATIC content */
	size_t len;
	struct alog_reader *ar; /* FH_ALOG */
	struct buf cin, cout;   /* FH_CONTROL: request bytes, response bytes */
	uint64_t inval_parent;  /* FH_CONTROL: entry removed by rmr, for the kernel cache */
	char *inval_name;
	pthread_mutex_t mu;     /* FH_DIR */
	struct dentry *ents;
	size_t n, cap;
	uint64_t self, parent;
	struct mnt_fh *prev, *next; /* every open handle, so unmount can release them */
};

static struct mnt *req_mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct mnt_fh *fh_of(const struct fuse_file_info *fi)
{
	return (struct mnt_fh *)(uintptr_t)fi->fh;
}

static struct mnt_fh *fh_new(struct mnt *m, enum fh_kind kind)
{
	struct mnt_fh *h = xcalloc(1, sizeof(*h));
	h->kind = kind;
	h->id = __atomic_add_fetch(&m->last_fh, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&m->fh_mu);
	h->next = m->handles;
	if (m->handles)
		m->handles->prev = h;
	m->handles = h;
	m->nhandles++;
	pthread_mutex_unlock(&m->fh_mu);
	return h;
}

/* Unlink and free; the caller released what the handle owned. */
static void fh_free(struct mnt *m, struct mnt_fh *h)
{
	pthread_mutex_lock(&m->fh_mu);
	if (h->prev)
		h->prev->next = h->next;
	else
		m->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	m->nhandles--;
	pthread_mutex_unlock(&m->fh_mu);
	free(h);
}

static uint64_t to_meta(const struct mnt *m, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? m->root : (uint64_t)ino;
}

static fuse_ino_t to_fuse(const struct mnt *m, uint64_t ino)
{
	return ino == m->root ? FUSE_ROOT_ID : (fuse_ino_t)ino;
}

/* The control file: resolvable in every directory, never listed (spec §12). */
static const struct internal_file control_file = { ".control", INO_CONTROL, 0666 };

static const struct internal_file *internal_by_ino(uint64_t ino)
{
	for (size_t i = 0; i < ARRAY_SIZE(internal_files); i++)
		if (internal_files[i].ino == ino)
			return &internal_files[i];
	return ino == INO_CONTROL ? &control_file : NULL;
}

/* "NAME" or, as with --prefix-internal, ".jfs" + "NAME" (".jfs.stats"). */
static int internal_name_is(const char *name, const char *want)
{
	return !strcmp(name, want) || (!strncmp(name, ".jfs", 4) && !strcmp(name + 4, want));
}

/* Internal names exist only in the volume root of a full (not --subdir) mount. */
static const struct internal_file *internal_by_name(const struct mnt *m, uint64_t parent,
						    const char *name)
{
	if (internal_name_is(name, control_file.name))
		return &control_file;
	if (parent != META_ROOT_INODE || m->root != META_ROOT_INODE || m->conf.hide_internal)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(internal_files); i++)
		if (internal_name_is(name, internal_files[i].name))
			return &internal_files[i];
	return NULL;
}

static int is_reserved_name(const struct mnt *m, uint64_t parent, const char *name)
{
	return internal_by_name(m, parent, name) ||
	       (parent == META_ROOT_INODE && m->root == META_ROOT_INODE && !strcmp(name, ".trash"));
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ caller context */

static void req_ctx(fuse_req_t req, struct meta_ctx *c, uint16_t *umask)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	memset(c, 0, sizeof(*c));
	c->uid = fc->uid;
	c->gid = fc->gid;
	c->pid = (uint32_t)fc->pid;
	c->check_permission = 1;
	if (umask)
		*umask = (uint16_t)(fc->umask & 0777);
	/* Root passes every check; the group list (read from /proc) is for the others. */
	if (c->uid != 0) {
		gid_t g[ARRAY_SIZE(c->gids)];
		int n = fuse_req_getgroups(req, (int)ARRAY_SIZE(g), g);
		if (n > (int)ARRAY_SIZE(g))
			n = (int)ARRAY_SIZE(g);
		for (int i = 0; i < n; i++)
			c->gids[i] = g[i];
		c->ngids = n > 0 ? n : 0;
	}
}

/* ------------------------------------------------------------ access log */

/*
 * The access log speaks JuiceFS's line format (spec §12), which its
 * `profile` and people's scripts read:
 *   2026.12.05 11:32:36.337003 [uid:0,gid:0,pid:3370] create (1,f,-rw-r--r--:0100644):
 *     (1026,[-rw-r--r--:0100644,1,0,0,1796470356,1796470356,1796470356,0]) [fh:4] - OK <0.000808>
 * (one line): the operation, its arguments and results as JuiceFS's vfs
 * prints them, " - ", Go's text of the error ("OK", "no such file or
 * directory") and the seconds taken. The helpers below build the pieces
 * only while a reader has .accesslog open; otherwise they cost a load.
 */
#define ALOG_SCRATCH 3

/* A thread's scratch strings for one line, freed when the (FUSE worker) thread ends. */
static pthread_key_t alog_key;
static pthread_once_t alog_once = PTHREAD_ONCE_INIT;

static void alog_scratch_free(void *p)
{
	struct buf *b = p;
	for (int i = 0; i < ALOG_SCRATCH; i++)
		buf_release(&b[i]);
	free(b);
}

static void alog_key_init(void)
{
	if (pthread_key_create(&alog_key, alog_scratch_free))
		abort();
}

static struct buf *alog_buf(int slot)
{
	struct buf *b;

	pthread_once(&alog_once, alog_key_init);
	b = pthread_getspecific(alog_key);
	if (!b) {
		b = xcalloc(ALOG_SCRATCH, sizeof(*b));
		for (int i = 0; i < ALOG_SCRATCH; i++)
			buf_init(&b[i], 0);
		if (pthread_setspecific(alog_key, b))
			abort();
	}
	return &b[slot];
}

static int alog_on(const struct mnt *m)
{
	return __atomic_load_n(&m->nreaders, __ATOMIC_RELAXED) != 0;
}

/* Length of a valid UTF-8 sequence at s (Go's decoding: no overlongs, surrogates), 0 if none. */
static size_t utf8_len(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xE0) == 0xC0) {
		n = 2, c = s[0] & 0x1F, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3, c = s[0] & 0x0F, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/*
 * A name as JuiceFS logs it: as is when Go's strconv.CanBackquote holds,
 * else strconv.Quote's escapes with the '"' at both ends trimmed (all of
 * them, as strings.Trim does). So a name with a newline never splits a line.
 * Non-printable runes are C0/C1 controls, DEL and U+FEFF here; Go's
 * unicode.IsPrint also escapes a few rarer ones. NEEDSWORK: the rest.
 */
static const char *alog_str(const struct mnt *m, const char *s, int slot)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf *b;
	uint32_t cp;
	size_t n, i;
	int plain = 1;

	if (!alog_on(m))
		return s;
	for (i = 0; p[i] && plain; i += n) {
		n = utf8_len(p + i, &cp);
		plain = n && cp != 0xFEFF && (cp >= 0x20 || cp == '\t') && cp != '`' && cp != 0x7F;
		n = n ? n : 1;
	}
	if (plain)
		return s;
	b = alog_buf(slot);
	buf_reset(b);
	for (i = 0; p[i]; i += n) {
		n = utf8_len(p + i, &cp);
		if (!n) {
			buf_addf(b, "\\x%02x", p[i]);
			n = 1;
			continue;
		}
		switch (cp) {
		case '\a': buf_adds(b, "\\a"); continue;
		case '\b': buf_adds(b, "\\b"); continue;
		case '\f': buf_adds(b, "\\f"); continue;
		case '\n': buf_adds(b, "\\n"); continue;
		case '\r': buf_adds(b, "\\r"); continue;
		case '\t': buf_adds(b, "\\t"); continue;
		case '\v': buf_adds(b, "\\v"); continue;
		case '\\': buf_adds(b, "\\\\"); continue;
		case '"': buf_adds(b, "\\\""); continue;
		default: break;
		}
		if (cp < 0x20 || cp == 0x7F)
			buf_addf(b, "\\x%02x", (unsigned)cp);
		else if ((cp >= 0x80 && cp < 0xA0) || cp == 0xAD || cp == 0xFEFF)
			buf_addf(b, "\\u%04x", (unsigned)cp);
		else
			buf_add(b, p + i, n);
	}
	/* strings.Trim(strconv.Quote(s), "\""): a leading '"' and the trailing ones */
	i = b->len;
	while (i && b->ptr[i - 1] == '"')
		i--;
	b->ptr[i] = 0;
	b->len = i;
	return b->ptr;
}

/* Go's smode: "drwxr-xr-x", '?' for no type, s/S/t/T for the special bits. */
static void smode_str(uint32_t mode, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	char t = '?';
	switch (mode & S_IFMT) {
	case S_IFSOCK: t = 's'; break;
	case S_IFLNK: t = 'l'; break;
	case S_IFREG: t = '-'; break;
	case S_IFBLK: t = 'b'; break;
	case S_IFDIR: t = 'd'; break;
	case S_IFCHR: t = 'c'; break;
	case S_IFIFO: t = 'f'; break;
	default: break;
	}
	out[0] = t;
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (1U << (8 - i))) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = out[9] == 'x' ? 't' : 'T';
	out[10] = 0;
}

/* JuiceFS's Entry.String(): " (ino,[mode,nlink,uid,gid,atime,mtime,ctime,length])", "" on error. */
static const char *alog_entry(const struct mnt *m, uint64_t ino, const struct meta_attr *a,
			      int r, int slot)
{
	struct buf *b;
	uint32_t mode;
	char sm[11];

	if (!alog_on(m) || r)
		return "";
	b = alog_buf(slot);
	mode = meta_attr_smode(a);
	smode_str(mode, sm);
	buf_reset(b);
	buf_addf(b, " (%llu,[%s:0%06o,%u,%u,%u,%lld,%lld,%lld,%llu])", (unsigned long long)ino, sm,
		 (unsigned)mode, (unsigned)a->nlink, (unsigned)a->uid, (unsigned)a->gid,
		 (long long)a->atime, (long long)a->mtime, (long long)a->ctime,
		 (unsigned long long)a->length);
	return b->ptr;
}

/* A mode as JuiceFS logs an argument: "-rw-r--r--:0100644" (smode, then 0%04o). */
static const char *alog_mode(const struct mnt *m, uint32_t mode, int slot)
{
	struct buf *b;
	char sm[11];

	if (!alog_on(m))
		return "";
	b = alog_buf(slot);
	smode_str(mode, sm);
	buf_reset(b);
	buf_addf(b, "%s:0%04o", sm, mode);
	return b->ptr;
}

/* Count the operation and, while .accesslog is open, log it (spec §12). */
/*
 * JuiceFS's FUSE metrics (names, labels and buckets as its client has them).
 * A method's children are made on its first use, as client_golang does, and
 * kept in the arrays so that an op costs three relaxed adds.
 */
static struct {
	struct metric *hist, *read_size, *write_size;
	struct metric_family *total, *dur, *errs, *handles;
	struct metric *op_total[OP_COUNT], *op_dur[OP_COUNT];
} fm;
static pthread_once_t fm_once = PTHREAD_ONCE_INIT;

static void fm_init(void)
{
	static const char *const method[] = { "method", NULL }, *const errno_l[] = { "errno", NULL };
	double b[32];
	metric_exp_buckets(b, 0.00001, 1.8, 29);
	fm.hist = metric_get(metric_family(METRIC_HISTOGRAM,
					   "juicefs_fuse_ops_durations_histogram_seconds",
					   "Operations latency distributions.", 1e-6, NULL, b, 29));
	metric_lin_buckets(b, 4096, 4096, 32);
	fm.read_size = metric_get(metric_family(METRIC_HISTOGRAM, "juicefs_fuse_read_size_bytes",
						"size of read distributions.", 1, NULL, b, 32));
	fm.write_size = metric_get(metric_family(METRIC_HISTOGRAM,
						 "juicefs_fuse_written_size_bytes",
						 "size of write distributions.", 1, NULL, b, 32));
	fm.total = metric_family(METRIC_COUNTER, "juicefs_fuse_ops_total",
				 "Total number of operations.", 1, method, NULL, 0);
	fm.dur = metric_family(METRIC_COUNTER, "juicefs_fuse_ops_durations_seconds",
			       "Operations latency in seconds.", 1e-6, method, NULL, 0);
	fm.errs = metric_family(METRIC_COUNTER, "juicefs_fuse_ops_io_errors",
				"Number of IO errors.", 1, errno_l, NULL, 0);
	fm.handles = metric_family(METRIC_GAUGE, "juicefs_fuse_open_handlers",
				   "number of open files and directories.", 1, NULL, NULL, 0);
}

static void fm_op(enum op_id op, uint64_t us, int r)
{
	struct metric *t = __atomic_load_n(&fm.op_total[op], __ATOMIC_ACQUIRE);
	struct metric *d = __atomic_load_n(&fm.op_dur[op], __ATOMIC_ACQUIRE);
	if (!t || !d) {
		t = metric_child(fm.total, op_names[op]);
		d = metric_child(fm.dur, op_names[op]);
		__atomic_store_n(&fm.op_total[op], t, __ATOMIC_RELEASE);
		__atomic_store_n(&fm.op_dur[op], d, __ATOMIC_RELEASE);
	}
	metric_observe(fm.hist, us);
	metric_add(t, 1);
	metric_add(d, us);
	if (r < 0)
		metric_add(metric_child(fm.errs, errno_name(-r)), 1);
}

static void fm_collect(void *arg)
{
	struct mnt *m = arg;
	pthread_mutex_lock(&m->fh_mu);
	metric_set(metric_get(fm.handles), (double)m->nhandles);
	pthread_mutex_unlock(&m->fh_mu);
}

static void op_done(struct mnt *m, fuse_req_t req, enum op_id op, int64_t t0, int r,
		    const char *fmt, ...) JFS_PRINTF(6, 7);

static void op_done(struct mnt *m, fuse_req_t req, enum op_id op, int64_t t0, int r,
		    const char *fmt, ...)
{
	int64_t us = mono_us() - t0;
	fm_op(op, (uint64_t)us, r);
	if (!alog_on(m))
		return;

	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct timespec now;
	struct tm tm;
	char ts[40], err[64];
	struct buf line = BUF_INIT;
	va_list ap;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y.%m.%d %H:%M:%S", &tm);
	buf_addf(&line, "%s.%06ld [uid:%u,gid:%u,pid:%d] %s ", ts, (long)(now.tv_nsec / 1000),
		 (unsigned)fc->uid, (unsigned)fc->gid, (int)fc->pid, op_names[op]);
	va_start(ap, fmt);
	buf_vaddf(&line, fmt, ap);
	va_end(ap);
	if (r < 0)
		errno_text(-r, err, sizeof(err));
	buf_addf(&line, " - %s <%.6f>\n", r < 0 ? err : "OK", (double)us / 1e6);

	pthread_mutex_lock(&m->log_mu);
	for (struct alog_reader *a = m->readers; a; a = a->next)
		if (a->b.len + line.len <= ALOG_MAX_BUFFERED)
			buf_add(&a->b, line.ptr, line.len);
	pthread_cond_broadcast(&m->log_cond);
	pthread_mutex_unlock(&m->log_mu);
	buf_release(&line);
}

/* ------------------------------------------------------------ attributes */

static void to_stat(const struct mnt *m, uint64_t ino, const struct meta_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = to_fuse(m, ino);
	st->st_mode = meta_attr_smode(a);
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->length;
	st->st_blksize = 0x10000;
	st->st_blocks = (blkcnt_t)((a->length + 511) / 512);
	st->st_atim.tv_sec = a->atime;
	st->st_atim.tv_nsec = a->atimensec;
	st->st_mtim.tv_sec = a->mtime;
	st->st_mtim.tv_nsec = a->mtimensec;
	st->st_ctim.tv_sec = a->ctime;
	st->st_ctim.tv_nsec = a->ctimensec;
}

static void internal_attr(const struct mnt *m, const struct internal_file *f,
			  struct meta_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->type = META_TYPE_FILE;
	a->mode = f->mode;
	a->nlink = 1;
	a->atime = a->mtime = a->ctime = m->started.tv_sec;
	a->parent = META_ROOT_INODE;
	if (f->ino == INO_CONFIG && m->config_json)
		a->length = strlen(m->config_json); /* fixed for the mount's life */
}

static void fill_entry(const struct mnt *m, uint64_t ino, const struct meta_attr *a,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = to_fuse(m, ino);
	e->generation = 1;
	to_stat(m, ino, a, &e->attr);
	e->attr_timeout = m->conf.attr_timeout;
	e->entry_timeout = a->type == META_TYPE_DIRECTORY ? m->conf.dir_entry_timeout
							   : m->conf.entry_timeout;
}

static void reply_entry(struct mnt *m, fuse_req_t req, uint64_t ino, const struct meta_attr *a)
{
	struct fuse_entry_param e;
	fill_entry(m, ino, a, &e);
	fuse_reply_entry(req, &e);
}

static void reply_err(fuse_req_t req, int r)
{
	fuse_reply_err(req, r < 0 ? -r : r);
}

/* ------------------------------------------------------------ namespace */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent), ino = 0;
	const struct internal_file *inf = internal_by_name(m, p, name);
	struct meta_attr a;
	struct meta_ctx c;
	int r;

	if (inf) {
		ino = inf->ino;
		internal_attr(m, inf, &a);
		r = 0;
	} else if (m->root != META_ROOT_INODE && p == m->root && !strcmp(name, "..")) {
		/* never step above the --subdir root */
		ino = m->root;
		req_ctx(req, &c, NULL);
		r = fs_getattr(m->fs, &c, ino, &a);
	} else {
		req_ctx(req, &c, NULL);
		r = fs_lookup(m->fs, &c, p, name, &ino, &a);
	}
	op_done(m, req, OP_lookup, t0, r, "(%llu,%s):%s", (unsigned long long)p,
		alog_str(m, name, 0), alog_entry(m, ino, &a, r, 1));
	if (r == -ENOENT && m->conf.negative_timeout > 0) {
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		e.entry_timeout = m->conf.negative_timeout;
		fuse_reply_entry(req, &e);
	} else if (r) {
		reply_err(req, r);
	} else {
		reply_entry(m, req, ino, &a);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	const struct internal_file *inf = internal_by_ino(ino);
	struct meta_attr a;
	struct meta_ctx c;
	struct stat st;
	int r = 0;

	(void)fi;
	if (inf) {
		internal_attr(m, inf, &a);
	} else {
		req_ctx(req, &c, NULL);
		r = fs_getattr(m->fs, &c, ino, &a);
	}
	op_done(m, req, OP_getattr, t0, r, "(%llu):%s", (unsigned long long)ino,
		alog_entry(m, ino, &a, r, 0));
	if (r)
		return reply_err(req, r);
	to_stat(m, ino, &a, &st);
	fuse_reply_attr(req, &st, m->conf.attr_timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t fino, struct stat *st, int to_set,
		       struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_attr in, a;
	struct meta_ctx c;
	struct stat out;
	unsigned set = 0;
	int r = 0;

	if (internal_by_ino(ino)) {
		r = -EPERM;
		goto out;
	}
	req_ctx(req, &c, NULL);
	memset(&in, 0, sizeof(in));
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct meta_ctx tc = c;
		/* ftruncate: the handle was opened for writing, which is the check */
		if (fi)
			tc.check_permission = 0;
		if ((r = fs_truncate(m->fs, &tc, ino, (uint64_t)st->st_size, &a)))
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		set |= META_SET_MODE;
		in.mode = st->st_mode & 07777;
		/*
		 * A write by another user makes the kernel clear suid/sgid
		 * through a chmod on the writer's behalf: allow exactly that.
		 */
		if (c.uid != 0 &&
		    !(to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
				FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
				FUSE_SET_ATTR_MTIME_NOW)) &&
		    fs_getattr(m->fs, &c, ino, &a) == 0 && a.uid != c.uid &&
		    (in.mode & ~06000) == (a.mode & ~06000) && !(in.mode & 06000 & ~a.mode))
			c.check_permission = 0;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		set |= META_SET_UID;
		in.uid = st->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		set |= META_SET_GID;
		in.gid = st->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		set |= META_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		set |= META_SET_ATIME;
		in.atime = st->st_atim.tv_sec;
		in.atimensec = (uint32_t)st->st_atim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		set |= META_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		set |= META_SET_MTIME;
		in.mtime = st->st_mtim.tv_sec;
		in.mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		set |= META_SET_CTIME;
		in.ctime = st->st_ctim.tv_sec;
		in.ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	}
	if (set && (r = fs_setattr(m->fs, &c, ino, set, &in, &a)))
		goto out;
	r = fs_getattr(m->fs, &c, ino, &a);
out:
	if (alog_on(m)) {
		/* JuiceFS prints the kernel's valid bits (FATTR_FH 0x40 with a handle) */
		unsigned valid = (unsigned)to_set | (fi ? 0x40U : 0);
		struct buf *sb = alog_buf(2);
		buf_reset(sb);
		if (valid & FUSE_SET_ATTR_MODE)
			buf_addf(sb, "mode=%s,", alog_mode(m, (uint32_t)st->st_mode & 0xFFFF, 0));
		if (valid & FUSE_SET_ATTR_UID)
			buf_addf(sb, "uid=%u,", (unsigned)st->st_uid);
		if (valid & FUSE_SET_ATTR_GID)
			buf_addf(sb, "gid=%u,", (unsigned)st->st_gid);
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			buf_adds(sb, "atime=NOW,");
		else if (valid & FUSE_SET_ATTR_ATIME)
			buf_addf(sb, "atime=%lld,", (long long)st->st_atim.tv_sec);
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			buf_adds(sb, "mtime=NOW,");
		else if (valid & FUSE_SET_ATTR_MTIME)
			buf_addf(sb, "mtime=%lld,", (long long)st->st_mtim.tv_sec);
		if (valid & FUSE_SET_ATTR_SIZE)
			buf_addf(sb, "size=%llu,", (unsigned long long)st->st_size);
		if (sb->len)
			sb->ptr[--sb->len] = 0;
		op_done(m, req, OP_setattr, t0, r, "(%llu[%llu],0x%X,[%s]):%s",
			(unsigned long long)ino, (unsigned long long)(fi ? fh_of(fi)->id : 0),
			valid, sb->ptr, alog_entry(m, ino, &a, r, 1));
	} else {
		op_done(m, req, OP_setattr, t0, r, "%s", "");
	}
	if (r)
		return reply_err(req, r);
	to_stat(m, ino, &a, &out);
	fuse_reply_attr(req, &out, m->conf.attr_timeout);
}

static int type_of_mode(mode_t mode, uint8_t *type)
{
	switch (mode & S_IFMT) {
	case 0:
	case S_IFREG: *type = META_TYPE_FILE; return 0;
	case S_IFDIR: *type = META_TYPE_DIRECTORY; return 0;
	case S_IFIFO: *type = META_TYPE_FIFO; return 0;
	case S_IFCHR: *type = META_TYPE_CHARDEV; return 0;
	case S_IFBLK: *type = META_TYPE_BLOCKDEV; return 0;
	case S_IFSOCK: *type = META_TYPE_SOCKET; return 0;
	default: return -EINVAL;
	}
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent), ino = 0;
	struct meta_attr a;
	struct meta_ctx c;
	uint16_t umask;
	uint8_t type;
	int r;

	req_ctx(req, &c, &umask);
	if (is_reserved_name(m, p, name))
		r = -EEXIST;
	else if ((r = type_of_mode(mode, &type)) == 0) {
		if (type == META_TYPE_DIRECTORY)
			r = fs_mkdir(m->fs, &c, p, name, mode & 07777, umask, &ino, &a);
		else
			r = fs_mknod(m->fs, &c, p, name, type, mode & 07777, umask, (uint32_t)rdev,
				     &ino, &a);
	}
	op_done(m, req, OP_mknod, t0, r, "(%llu,%s,%s,0x%08X):%s", (unsigned long long)p,
		alog_str(m, name, 0), alog_mode(m, (uint32_t)mode, 1), (unsigned)rdev,
		alog_entry(m, ino, &a, r, 2));
	if (r)
		return reply_err(req, r);
	reply_entry(m, req, ino, &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent), ino = 0;
	struct meta_attr a;
	struct meta_ctx c;
	uint16_t umask;
	int r;

	req_ctx(req, &c, &umask);
	if (is_reserved_name(m, p, name))
		r = -EEXIST;
	else
		r = fs_mkdir(m->fs, &c, p, name, mode & 07777, umask, &ino, &a);
	op_done(m, req, OP_mkdir, t0, r, "(%llu,%s,%s):%s", (unsigned long long)p,
		alog_str(m, name, 0), alog_mode(m, (uint32_t)mode, 1),
		alog_entry(m, ino, &a, r, 2));
	if (r)
		return reply_err(req, r);
	reply_entry(m, req, ino, &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent);
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	r = internal_by_name(m, p, name) ? -EPERM : fs_unlink(m->fs, &c, p, name, 0);
	op_done(m, req, OP_unlink, t0, r, "(%llu,%s)", (unsigned long long)p, alog_str(m, name, 0));
	reply_err(req, r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent);
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	r = is_reserved_name(m, p, name) ? -EPERM : fs_rmdir(m->fs, &c, p, name, 0);
	op_done(m, req, OP_rmdir, t0, r, "(%llu,%s)", (unsigned long long)p, alog_str(m, name, 0));
	reply_err(req, r);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent), ino = 0;
	struct meta_attr a;
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	if (is_reserved_name(m, p, name))
		r = -EEXIST;
	else
		r = fs_symlink(m->fs, &c, p, name, target, &ino, &a);
	op_done(m, req, OP_symlink, t0, r, "(%llu,%s,%s):%s", (unsigned long long)p,
		alog_str(m, name, 0), alog_str(m, target, 1), alog_entry(m, ino, &a, r, 2));
	if (r)
		return reply_err(req, r);
	reply_entry(m, req, ino, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t fino)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct buf b = BUF_INIT;
	int r = fs_readlink(m->fs, ino, &b);

	op_done(m, req, OP_readlink, t0, r, "(%llu): (%s)", (unsigned long long)ino,
		r ? "" : alog_str(m, b.ptr, 0));
	if (r)
		reply_err(req, r);
	else
		fuse_reply_readlink(req, b.ptr ? b.ptr : "");
	buf_release(&b);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ps = to_meta(m, parent), pd = to_meta(m, newparent);
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	if (is_reserved_name(m, ps, name) || is_reserved_name(m, pd, newname))
		r = -EPERM;
	else if (flags & ~(unsigned)(META_RENAME_NOREPLACE | META_RENAME_EXCHANGE))
		r = -EINVAL; /* RENAME_WHITEOUT is for overlay file systems, as JuiceFS */
	else
		r = fs_rename(m->fs, &c, ps, name, pd, newname, flags, NULL, NULL);
	op_done(m, req, OP_rename, t0, r, "(%llu,%s,%llu,%s,%u)", (unsigned long long)ps,
		alog_str(m, name, 0), (unsigned long long)pd, alog_str(m, newname, 1), flags);
	reply_err(req, r);
}

static void op_link(fuse_req_t req, fuse_ino_t fino, fuse_ino_t newparent, const char *newname)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino), p = to_meta(m, newparent);
	struct meta_attr a;
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	if (internal_by_ino(ino))
		r = -EPERM;
	else if (is_reserved_name(m, p, newname))
		r = -EEXIST;
	else
		r = fs_link(m->fs, &c, ino, p, newname, &a);
	op_done(m, req, OP_link, t0, r, "(%llu,%llu,%s):%s", (unsigned long long)ino,
		(unsigned long long)p, alog_str(m, newname, 0), alog_entry(m, ino, &a, r, 1));
	if (r)
		return reply_err(req, r);
	reply_entry(m, req, ino, &a);
}

static void op_access(fuse_req_t req, fuse_ino_t fino, int mask)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_ctx c;
	int r = 0;

	req_ctx(req, &c, NULL);
	if (!internal_by_ino(ino))
		r = fs_access(m->fs, &c, ino, mask & 7);
	op_done(m, req, OP_access, t0, r, "(%llu,0x%X)", (unsigned long long)ino, (unsigned)mask);
	reply_err(req, r);
}

/* ------------------------------------------------------------ internal files */

/* .stats: the metrics registry in JuiceFS's .stats format (spec §12). */
static char *make_stats(struct mnt *m, size_t *len)
{
	struct buf b = BUF_INIT;
	UNUSED(m);
	metrics_render_stats(&b);
	return buf_detach(&b, len);
}

static int open_internal(struct mnt *m, uint64_t ino, int flags, struct fuse_file_info *fi)
{
	struct mnt_fh *h;

	if (ino == INO_CONTROL) {
		h = fh_new(m, FH_CONTROL);
		buf_init(&h->cin, 0);
		buf_init(&h->cout, 0);
		fi->fh = (uintptr_t)h;
		fi->direct_io = 1;
		fi->nonseekable = 1;
		return 0;
	}
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		return -EACCES;
	h = fh_new(m, ino == INO_ACCESSLOG ? FH_ALOG : FH_STATIC);
	if (ino == INO_ACCESSLOG) {
		h->ar = xcalloc(1, sizeof(*h->ar));
		buf_init(&h->ar->b, 0);
		pthread_mutex_lock(&m->log_mu);
		h->ar->next = m->readers;
		m->readers = h->ar;
		__atomic_add_fetch(&m->nreaders, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&m->log_mu);
	} else {
		if (ino == INO_STATS) {
			h->data = make_stats(m, &h->len);
		} else {
			h->data = xstrdup(m->config_json ? m->config_json : "{}\n");
			h->len = strlen(h->data);
		}
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1; /* size 0 in getattr; content comes from read */
	fi->nonseekable = ino == INO_ACCESSLOG;
	return 0;
}

/* A reader of .accesslog waits up to one second, then gets "#\n" (spec §12). */
static void read_alog(struct mnt *m, fuse_req_t req, struct alog_reader *ar, size_t size)
{
	struct timespec dl;
	char *out = NULL;
	size_t n = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 1;
	pthread_mutex_lock(&m->log_mu);
	while (ar->b.len == 0 && !fuse_req_interrupted(req)) {
		if (pthread_cond_timedwait(&m->log_cond, &m->log_mu, &dl) == ETIMEDOUT)
			break;
	}
	if (ar->b.len) {
		n = MIN(size, ar->b.len);
		out = xmemdup(ar->b.ptr, n);
		memmove(ar->b.ptr, ar->b.ptr + n, ar->b.len - n);
		ar->b.len -= n;
	}
	pthread_mutex_unlock(&m->log_mu);
	if (n)
		fuse_reply_buf(req, out, n);
	else
		fuse_reply_buf(req, "#\n", MIN(size, (size_t)2));
	free(out);
}

static void close_alog(struct mnt *m, struct alog_reader *ar)
{
	pthread_mutex_lock(&m->log_mu);
	for (struct alog_reader **p = &m->readers; *p; p = &(*p)->next) {
		if (*p == ar) {
			*p = ar->next;
			break;
		}
	}
	__atomic_sub_fetch(&m->nreaders, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->log_mu);
	buf_release(&ar->b);
	free(ar);
}

/* ------------------------------------------------------------ control protocol */

#define CTL_RMR 1002
#define CTL_FILL_CACHE 1004
#define CTL_INFO 1005
#define CTL_SUMMARY 1007
#define CTL_MAX_MESSAGE (64U << 20)

struct name_list {
	char **v;
	size_t n, cap;
};

static int collect_name(void *arg, const struct meta_dirent *e)
{
	struct name_list *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrndup(e->name, e->namelen);
	return 0;
}

static void free_names(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Remove parent/name and everything under it, children first. */
static int rmr_tree(struct mnt *m, const struct meta_ctx *c, uint64_t parent, const char *name,
		    int skip_trash, uint64_t *removed)
{
	struct name_list l = { 0 };
	struct meta_attr a;
	uint64_t ino;
	int r = fs_lookup(m->fs, c, parent, name, &ino, &a);

	if (r)
		return r;
	if (a.type == META_TYPE_DIRECTORY) {
		if ((r = fs_readdir(m->fs, c, ino, 0, NULL, 0, collect_name, &l)) == 0) {
			for (size_t i = 0; i < l.n && !r; i++) {
				r = rmr_tree(m, c, ino, l.v[i], skip_trash, removed);
				if (r == -ENOENT) /* raced with another remover */
					r = 0;
			}
		}
		free_names(&l);
		if (!r)
			r = fs_rmdir(m->fs, c, parent, name, skip_trash);
	} else {
		r = fs_unlink(m->fs, c, parent, name, skip_trash);
	}
	if (!r)
		(*removed)++;
	return r;
}

/* Read every file under ino once, so its blocks land in the local cache. */
static int warm_tree(struct mnt *m, const struct meta_ctx *c, uint64_t ino, uint64_t *files,
		     uint64_t *bytes, char *tmp, size_t tmplen)
{
	struct name_list l = { 0 };
	struct meta_attr a;
	struct fs_file *f;
	int r = fs_getattr(m->fs, c, ino, &a);

	if (r)
		return r;
	if (a.type == META_TYPE_DIRECTORY) {
		if ((r = fs_readdir(m->fs, c, ino, 0, NULL, 0, collect_name, &l)) == 0) {
			for (size_t i = 0; i < l.n && !r; i++) {
				uint64_t child;
				struct meta_attr ca;
				r = fs_lookup(m->fs, c, ino, l.v[i], &child, &ca);
				if (!r)
					r = warm_tree(m, c, child, files, bytes, tmp, tmplen);
			}
		}
		free_names(&l);
		return r;
	}
	if (a.type != META_TYPE_FILE)
		return 0;
	if ((r = fs_open_file(m->fs, c, ino, O_RDONLY, &f, NULL)))
		return r;
	for (uint64_t off = 0;;) {
		ssize_t n = fs_read(f, off, tmp, tmplen);
		if (n <= 0) {
			r = (int)n;
			break;
		}
		off += (uint64_t)n;
		*bytes += (uint64_t)n;
	}
	fs_release(f);
	(*files)++;
	return r;
}

/* "/a/b" relative to the mount root, component by component. */
static int resolve_in_mount(struct mnt *m, const struct meta_ctx *c, const char *path,
			    uint64_t *ino)
{
	uint64_t cur = m->root;
	const char *p = path;
	struct meta_attr a;
	int r = 0;

	while (*p) {
		char name[META_MAX_NAME + 1];
		const char *e;
		size_t n;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		n = e ? (size_t)(e - p) : strlen(p);
		if (n > META_MAX_NAME)
			return -ENAMETOOLONG;
		memcpy(name, p, n);
		name[n] = 0;
		if ((r = fs_lookup(m->fs, c, cur, name, &cur, &a)))
			return r;
		p += n;
	}
	*ino = cur;
	return 0;
}

static void ctl_progress(struct buf *out, uint64_t a, uint64_t b)
{
	uint8_t fr[17];
	fr[0] = 0xFE;
	put_be64(fr + 1, a);
	put_be64(fr + 9, b);
	buf_add(out, fr, sizeof(fr));
}

static int ctl_rmr(struct mnt *m, const struct meta_ctx *c, const uint8_t *p, size_t n,
		   struct mnt_fh *h)
{
	uint64_t parent, removed = 0;
	char name[META_MAX_NAME + 1];
	int skip = 0, r;
	size_t nl;

	if (n < 9 || (nl = p[8]) == 0 || n < 9 + nl)
		return -EINVAL;
	parent = to_meta(m, get_be64(p));
	memcpy(name, p + 9, nl);
	name[nl] = 0;
	if (n > 9 + nl)
		skip = p[9 + nl] & 1;
	if (skip && c->uid != 0)
		return -EACCES; /* only root may skip the trash */
	if (internal_by_name(m, parent, name))
		return -EPERM;
	r = rmr_tree(m, c, parent, name, skip, &removed);
	if (!r) {
		free(h->inval_name);
		h->inval_parent = parent;
		h->inval_name = xstrdup(name);
	}
	ctl_progress(&h->cout, removed, 0);
	return r;
}

static int ctl_fill_cache(struct mnt *m, const struct meta_ctx *c, const uint8_t *p, size_t n,
			  struct buf *out)
{
	uint64_t files = 0, bytes = 0;
	size_t len, tmplen = 4U << 20;
	char *paths, *tmp, *line, *save = NULL;
	int r = 0;

	if (n < 4 || (len = get_be32(p)) > n - 4)
		return -EINVAL;
	if (n >= 4 + len + 4 && p[4 + len + 3] != 0)
		return -ENOTSUP; /* evict and check need a cache index this build has not */
	paths = xstrndup((const char *)p + 4, len);
	tmp = xmalloc(tmplen);
	fs_cache_every_read(1);
	for (line = strtok_r(paths, "\n", &save); line && !r; line = strtok_r(NULL, "\n", &save)) {
		uint64_t ino;
		if (!*line)
			continue;
		r = resolve_in_mount(m, c, line, &ino);
		if (!r)
			r = warm_tree(m, c, ino, &files, &bytes, tmp, tmplen);
	}
	fs_cache_every_read(0);
	free(tmp);
	free(paths);
	ctl_progress(out, files, bytes);
	return r;
}

/* ---- Info v2 (1005): the answer is one JSON data frame, field names as JuiceFS's InfoResponse */

static int info_extent(void *arg, const struct fs_extent *e)
{
	json_t *arr = arg;

	if (e->key) /* a block object; "" for a hole */
		json_array_append_new(arr, json_pack("{sI,ss,sI,sI,sI}", "ChunkIndex",
						     (json_int_t)e->indx, "Key", e->key, "Size",
						     (json_int_t)e->size, "Off", (json_int_t)e->off,
						     "Len", (json_int_t)e->len));
	else /* a slice (--raw) */
		json_array_append_new(arr, json_pack("{sI,sI,sI,sI,sI}", "ChunkIndex",
						     (json_int_t)e->indx, "Id", (json_int_t)e->id,
						     "Size", (json_int_t)e->size, "Off",
						     (json_int_t)e->off, "Len", (json_int_t)e->len));
	return 0;
}

static int ctl_info(struct mnt *m, const struct meta_ctx *c, const uint8_t *p, size_t n,
		    struct buf *out)
{
	struct fs_summary sum;
	struct meta_attr a;
	struct buf path = BUF_INIT;
	uint64_t fino, ino;
	int recursive = 1, raw = 0, r;
	json_t *resp, *paths, *chunks = NULL, *objs = NULL;
	char *text;
	uint8_t hdr[5];

	if (n < 8)
		return -EINVAL;
	fino = get_be64(p);
	if (n > 8)
		recursive = p[8] != 0;
	if (n > 9)
		raw = p[9] != 0;
	/* strict (p[10]) is how we always count: no directory stats are trusted */
	ino = to_meta(m, fino);
	resp = json_pack("{sI}", "Ino", (json_int_t)fino);
	r = fs_getattr(m->fs, c, ino, &a);
	if (!r)
		r = fs_summary(m->fs, c, ino, recursive, &sum);
	else
		memset(&sum, 0, sizeof(sum));
	json_object_set_new(resp, "Failed", json_boolean(r != 0));
	json_object_set_new(resp, "Reason", json_string(r ? strerror(-r) : ""));
	json_object_set_new(resp, "Summary",
			    json_pack("{sI,sI,sI,sI}", "Length", (json_int_t)sum.length, "Size",
				      (json_int_t)sum.size, "Files", (json_int_t)sum.files, "Dirs",
				      (json_int_t)sum.dirs));
	paths = json_array();
	if (!r && !fs_path_of(m->fs, ino, &path))
		json_array_append_new(paths, json_string(path.ptr));
	json_object_set_new(resp, "Paths", paths);
	if (!r && a.type == META_TYPE_FILE) {
		json_t *arr = json_array();
		fs_layout(m->fs, ino, a.length, raw, info_extent, arr); /* a failed chunk read ends the list */
		if (raw)
			chunks = arr;
		else
			objs = arr;
	}
	json_object_set_new(resp, "Chunks", chunks ? chunks : json_null());
	json_object_set_new(resp, "Objects", objs ? objs : json_null());
	json_object_set_new(resp, "PLocks", json_null());
	json_object_set_new(resp, "FLocks", json_null());
	json_object_set_new(resp, "Tier", json_pack("{si,ss,ss}", "ID", 0, "StorageClass", "",
						    "Tag", ""));
	json_object_set_new(resp, "RestoreStatus", json_string(""));
	text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	buf_release(&path);
	if (!text)
		return -ENOMEM;
	hdr[0] = 0xFF;
	put_be32(hdr + 1, (uint32_t)strlen(text));
	buf_add(out, hdr, sizeof(hdr));
	buf_add(out, text, strlen(text));
	free(text);
	return 0;
}

/* ---- Summary (1007): JuiceFS's GetTreeSummary, answered as its SummaryReponse JSON */

struct tree_node {
	uint64_t ino;
	char *path;
	uint8_t type;
	uint64_t size, files, dirs;
	struct tree_node *kids;
	size_t nkids, cap;
	int omitted; /* the "..." entry that sums the children past topN */
};

static uint64_t tree_align4k(uint64_t n)
{
	return n ? ((n - 1) / 4096 + 1) * 4096 : 4096;
}

static int tree_collect(void *arg, const struct meta_dirent *e)
{
	struct tree_node *t = arg;
	struct tree_node *k;
	char *name = xstrndup(e->name, e->namelen);

	if (t->nkids == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->kids = xrealloc(t->kids, t->cap * sizeof(*t->kids));
	}
	k = &t->kids[t->nkids++];
	memset(k, 0, sizeof(*k));
	k->ino = e->ino;
	k->type = e->attr.type;
	k->path = *t->path ? xasprintf("%s/%s", t->path, name) : xstrdup(name);
	/* a directory's attr length is 4 KiB, as JuiceFS keeps it */
	k->size = tree_align4k(e->attr.type == META_TYPE_DIRECTORY ? 0 : e->attr.length);
	free(name);
	return 0;
}

static void tree_free(struct tree_node *t)
{
	for (size_t i = 0; i < t->nkids; i++)
		tree_free(&t->kids[i]);
	free(t->kids);
	free(t->path);
}

/*
 * The children are ordered by Go's sort.Slice (pdqsort, Go 1.19 and later)
 * with JuiceFS's less (larger size first), step for step, so that entries of
 * equal size come out in the real client's order too, not only up to 12
 * entries where it is an insertion sort.
 */
struct go_sort {
	struct tree_node *v;
};

static int gs_less(struct go_sort *d, size_t i, size_t j)
{
	return d->v[i].size > d->v[j].size;
}

static void gs_swap(struct go_sort *d, size_t i, size_t j)
{
	struct tree_node t = d->v[i];
	d->v[i] = d->v[j];
	d->v[j] = t;
}

static int go_bits_len(size_t n)
{
	int b = 0;
	for (; n; n >>= 1)
		b++;
	return b;
}

static void gs_insertion(struct go_sort *d, size_t a, size_t b)
{
	for (size_t i = a + 1; i < b; i++)
		for (size_t j = i; j > a && gs_less(d, j, j - 1); j--)
			gs_swap(d, j, j - 1);
}

static void gs_sift_down(struct go_sort *d, size_t lo, size_t hi, size_t first)
{
	size_t root = lo;
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= hi)
			return;
		if (child + 1 < hi && gs_less(d, first + child, first + child + 1))
			child++;
		if (!gs_less(d, first + root, first + child))
			return;
		gs_swap(d, first + root, first + child);
		root = child;
	}
}

static void gs_heap(struct go_sort *d, size_t a, size_t b)
{
	size_t hi = b - a;
	for (size_t i = (hi - 1) / 2 + 1; i-- > 0;)
		gs_sift_down(d, i, hi, a);
	for (size_t i = hi; i-- > 0;) {
		gs_swap(d, a, a + i);
		gs_sift_down(d, 0, i, a);
	}
}

static size_t gs_partition(struct go_sort *d, size_t a, size_t b, size_t pivot, int *already)
{
	ptrdiff_t i = (ptrdiff_t)a + 1, j = (ptrdiff_t)b - 1;
	gs_swap(d, a, pivot);
	while (i <= j && gs_less(d, (size_t)i, a))
		i++;
	while (i <= j && !gs_less(d, (size_t)j, a))
		j--;
	if (i > j) {
		gs_swap(d, (size_t)j, a);
		*already = 1;
		return (size_t)j;
	}
	gs_swap(d, (size_t)i, (size_t)j);
	i++;
	j--;
	for (;;) {
		while (i <= j && gs_less(d, (size_t)i, a))
			i++;
		while (i <= j && !gs_less(d, (size_t)j, a))
			j--;
		if (i > j)
			break;
		gs_swap(d, (size_t)i, (size_t)j);
		i++;
		j--;
	}
	gs_swap(d, (size_t)j, a);
	*already = 0;
	return (size_t)j;
}

static size_t gs_partition_equal(struct go_sort *d, size_t a, size_t b, size_t pivot)
{
	ptrdiff_t i = (ptrdiff_t)a + 1, j = (ptrdiff_t)b - 1;
	gs_swap(d, a, pivot);
	for (;;) {
		while (i <= j && !gs_less(d, a, (size_t)i))
			i++;
		while (i <= j && gs_less(d, a, (size_t)j))
			j--;
		if (i > j)
			break;
		gs_swap(d, (size_t)i, (size_t)j);
		i++;
		j--;
	}
	return (size_t)i;
}

static int gs_partial_insertion(struct go_sort *d, size_t a, size_t b)
{
	size_t i = a + 1;
	for (int step = 0; step < 5; step++) {
		while (i < b && !gs_less(d, i, i - 1))
			i++;
		if (i == b)
			return 1;
		if (b - a < 50)
			return 0;
		gs_swap(d, i, i - 1);
		if (i - a >= 2)
			for (size_t j = i - 1; j >= 1; j--) {
				if (!gs_less(d, j, j - 1))
					break;
				gs_swap(d, j, j - 1);
			}
		if (b - i >= 2)
			for (size_t j = i + 1; j < b; j++) {
				if (!gs_less(d, j, j - 1))
					break;
				gs_swap(d, j, j - 1);
			}
	}
	return 0;
}

static void gs_break_patterns(struct go_sort *d, size_t a, size_t b)
{
	size_t len = b - a;
	if (len < 8)
		return;
	uint64_t rnd = len;
	size_t modulus = (size_t)1 << go_bits_len(len);
	for (size_t idx = a + (len / 4) * 2 - 1; idx <= a + (len / 4) * 2 + 1; idx++) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		size_t other = (size_t)rnd & (modulus - 1);
		if (other >= len)
			other -= len;
		gs_swap(d, idx, a + other);
	}
}

static void gs_order2(struct go_sort *d, size_t *a, size_t *b, int *swaps)
{
	if (gs_less(d, *b, *a)) {
		size_t t = *a;
		(*swaps)++;
		*a = *b;
		*b = t;
	}
}

static size_t gs_median(struct go_sort *d, size_t a, size_t b, size_t c, int *swaps)
{
	gs_order2(d, &a, &b, swaps);
	gs_order2(d, &b, &c, swaps);
	gs_order2(d, &a, &b, swaps);
	return b;
}

enum { GS_UNKNOWN, GS_INCREASING, GS_DECREASING };

static size_t gs_choose_pivot(struct go_sort *d, size_t a, size_t b, int *hint)
{
	size_t l = b - a, i = a + l / 4, j = a + l / 4 * 2, k = a + l / 4 * 3;
	int swaps = 0;
	if (l >= 8) {
		if (l >= 50) {
			i = gs_median(d, i - 1, i, i + 1, &swaps);
			j = gs_median(d, j - 1, j, j + 1, &swaps);
			k = gs_median(d, k - 1, k, k + 1, &swaps);
		}
		j = gs_median(d, i, j, k, &swaps);
	}
	*hint = swaps == 0 ? GS_INCREASING : swaps == 12 ? GS_DECREASING : GS_UNKNOWN;
	return j;
}

static void gs_pdqsort(struct go_sort *d, size_t a, size_t b, int limit)
{
	int balanced = 1, partitioned = 1;
	for (;;) {
		size_t len = b - a, pivot, mid;
		int hint, already;
		if (len <= 12) {
			gs_insertion(d, a, b);
			return;
		}
		if (limit == 0) {
			gs_heap(d, a, b);
			return;
		}
		if (!balanced) {
			gs_break_patterns(d, a, b);
			limit--;
		}
		pivot = gs_choose_pivot(d, a, b, &hint);
		if (hint == GS_DECREASING) {
			for (size_t i = a, j = b - 1; i < j; i++, j--)
				gs_swap(d, i, j);
			pivot = (b - 1) - (pivot - a);
			hint = GS_INCREASING;
		}
		if (balanced && partitioned && hint == GS_INCREASING && gs_partial_insertion(d, a, b))
			return;
		if (a > 0 && !gs_less(d, a - 1, pivot)) {
			a = gs_partition_equal(d, a, b, pivot);
			continue;
		}
		mid = gs_partition(d, a, b, pivot, &already);
		partitioned = already;
		if (mid - a < b - mid) {
			balanced = mid - a >= len / 8;
			gs_pdqsort(d, a, mid, limit);
			a = mid + 1;
		} else {
			balanced = b - mid >= len / 8;
			gs_pdqsort(d, mid + 1, b, limit);
			b = mid;
		}
	}
}

static int tree_walk(struct mnt *m, const struct meta_ctx *c, struct tree_node *t, int depth,
		     int topn, uint64_t *count)
{
	int r;

	if (depth <= 0) {
		/* what lies below, everything counted; t already holds itself */
		struct fs_summary s;
		r = fs_summary(m->fs, c, t->ino, 1, &s);
		if (!r) {
			t->dirs += s.dirs - 1;
			t->files += s.files;
			t->size += s.size - tree_align4k(0);
			*count += s.dirs + s.files - 1;
		}
		return r;
	}
	r = fs_readdir_native(m->fs, c, t->ino, 1, tree_collect, t);
	if (r)
		return r;
	for (size_t i = 0; i < t->nkids; i++) {
		struct tree_node *k = &t->kids[i];
		(*count)++;
		if (k->type != META_TYPE_DIRECTORY) {
			k->files++;
			continue;
		}
		k->dirs++;
		r = tree_walk(m, c, k, depth - 1, topn, count);
		if (r == -ENOENT) /* removed meanwhile, as JuiceFS skips it */
			r = 0;
		if (r)
			return r;
	}
	for (size_t i = 0; i < t->nkids; i++) {
		t->dirs += t->kids[i].dirs;
		t->files += t->kids[i].files;
		t->size += t->kids[i].size;
	}
	if (t->nkids > 1) {
		struct go_sort d = { t->kids };
		gs_pdqsort(&d, 0, t->nkids, go_bits_len(t->nkids));
	}
	if (t->nkids > (size_t)topn) {
		struct tree_node o = { 0 };
		o.path = *t->path ? xasprintf("%s/...", t->path) : xstrdup("...");
		o.type = META_TYPE_FILE;
		o.omitted = 1;
		for (size_t i = (size_t)topn; i < t->nkids; i++) {
			o.size += t->kids[i].size;
			o.files += t->kids[i].files;
			o.dirs += t->kids[i].dirs;
			tree_free(&t->kids[i]);
		}
		t->nkids = (size_t)topn + 1;
		t->kids[topn] = o;
	}
	return 0;
}

static json_t *tree_json(const struct tree_node *t, uint64_t ino)
{
	json_t *o = json_pack("{sI,ss,si,sI,sI,sI}", "Inode", (json_int_t)ino, "Path", t->path,
			      "Type", (int)t->type, "Size", (json_int_t)t->size, "Files",
			      (json_int_t)t->files, "Dirs", (json_int_t)t->dirs);
	if (t->nkids) {
		json_t *a = json_array();
		for (size_t i = 0; i < t->nkids; i++)
			json_array_append_new(a, tree_json(&t->kids[i],
							   t->kids[i].omitted ? 0 : t->kids[i].ino));
		json_object_set_new(o, "Children", a);
	}
	return o;
}

static int ctl_summary(struct mnt *m, const struct meta_ctx *c, const uint8_t *p, size_t n,
		       struct buf *out)
{
	struct tree_node root = { 0 };
	struct meta_attr a;
	uint64_t fino, count = 1;
	int depth = 3, topn = 10, r;
	json_t *resp;
	char *text;
	uint8_t hdr[5];

	if (n < 8)
		return -EINVAL;
	fino = get_be64(p);
	if (n > 8)
		depth = p[8];
	if (n > 9)
		topn = p[9];
	/* strict (p[10]): we always count by walking, never from directory stats */
	root.ino = to_meta(m, fino);
	root.path = xstrdup("");
	root.type = META_TYPE_DIRECTORY; /* JuiceFS reports even a file's root as one */
	r = fs_getattr(m->fs, c, root.ino, &a);
	if (!r && a.type != META_TYPE_DIRECTORY) {
		root.files = 1;
		root.size = tree_align4k(a.length);
	} else if (!r) {
		root.dirs = 1;
		root.size = tree_align4k(0);
		r = tree_walk(m, c, &root, depth, topn, &count);
	}
	ctl_progress(out, count, root.size);
	/* on failure JuiceFS still sends the tree as far as it got, with Errno set */
	resp = json_pack("{si}", "Errno", r < 0 ? -r : r);
	json_object_set_new(resp, "Tree", tree_json(&root, fino));
	tree_free(&root);
	text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(resp);
	if (!text)
		return -ENOMEM;
	hdr[0] = 0xFF;
	put_be32(hdr + 1, (uint32_t)strlen(text));
	buf_add(out, hdr, sizeof(hdr));
	buf_add(out, text, strlen(text));
	free(text);
	return 0;
}

/* Run every complete message in h->cin; answers go to h->cout. */
static void control_run(struct mnt *m, fuse_req_t req, struct mnt_fh *h)
{
	while (h->cin.len >= 8) {
		const uint8_t *p = (const uint8_t *)h->cin.ptr;
		uint32_t cmd = get_be32(p), size = get_be32(p + 4);
		int64_t t0 = mono_us();
		struct meta_ctx c;
		int r;

		if (size > CTL_MAX_MESSAGE) {
			buf_reset(&h->cin);
			buf_addch(&h->cout, (char)EINVAL);
			return;
		}
		if (h->cin.len < 8 + (size_t)size)
			return;
		req_ctx(req, &c, NULL);
		switch (cmd) {
		case CTL_RMR: r = ctl_rmr(m, &c, p + 8, size, h); break;
		case CTL_FILL_CACHE: r = ctl_fill_cache(m, &c, p + 8, size, &h->cout); break;
		case CTL_INFO: r = ctl_info(m, &c, p + 8, size, &h->cout); break;
		case CTL_SUMMARY: r = ctl_summary(m, &c, p + 8, size, &h->cout); break;
		default: r = -ENOTSUP; break;
		}
		op_done(m, req, OP_write, t0, r, "(%llu,%u,0,%llu)",
			(unsigned long long)INO_CONTROL, 8 + size, (unsigned long long)h->id);
		buf_addch(&h->cout, (char)(r < 0 ? -r : r));
		memmove(h->cin.ptr, h->cin.ptr + 8 + size, h->cin.len - 8 - size);
		h->cin.len -= 8 + (size_t)size;
	}
}

/* ------------------------------------------------------------ files */

static void op_open(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct fs_file *f = NULL;
	struct meta_ctx c;
	int r;

	if (internal_by_ino(ino)) {
		r = open_internal(m, ino, fi->flags, fi);
		op_done(m, req, OP_open, t0, r, r ? "(%llu,0x%x)%.0llu" : "(%llu,0x%x) [fh:%llu]",
			(unsigned long long)ino, (unsigned)fi->flags,
			(unsigned long long)(r ? 0 : fh_of(fi)->id));
		if (r)
			return reply_err(req, r);
		fuse_reply_open(req, fi);
		return;
	}
	req_ctx(req, &c, NULL);
	r = fs_open_file(m->fs, &c, ino, fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND), &f, NULL);
	struct mnt_fh *h = r ? NULL : fh_new(m, FH_FILE);
	op_done(m, req, OP_open, t0, r, r ? "(%llu,0x%x)%.0llu" : "(%llu,0x%x) [fh:%llu]",
		(unsigned long long)ino, (unsigned)fi->flags, (unsigned long long)(h ? h->id : 0));
	if (r)
		return reply_err(req, r);
	h->f = f;
	fi->fh = (uintptr_t)h;
	fi->keep_cache = m->conf.open_cache > 0;
	if (fuse_reply_open(req, fi) == -ENOENT) { /* the caller was interrupted */
		fs_release(f);
		fh_free(m, h);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t p = to_meta(m, parent), ino = 0;
	struct fs_file *f = NULL;
	struct fuse_entry_param e;
	struct meta_attr a;
	struct meta_ctx c;
	uint16_t umask;
	int r;

	req_ctx(req, &c, &umask);
	if (is_reserved_name(m, p, name))
		r = -EEXIST;
	else
		r = fs_create(m->fs, &c, p, name, mode & 07777, umask,
			      fi->flags & (O_ACCMODE | O_APPEND | O_EXCL), &f, &ino, &a);
	struct mnt_fh *h = r ? NULL : fh_new(m, FH_FILE);
	op_done(m, req, OP_create, t0, r, "(%llu,%s,%s):%s [fh:%llu]", (unsigned long long)p,
		alog_str(m, name, 0), alog_mode(m, (uint32_t)mode, 1), alog_entry(m, ino, &a, r, 2),
		(unsigned long long)(h ? h->id : 0));
	if (r)
		return reply_err(req, r);
	h->f = f;
	fi->fh = (uintptr_t)h;
	fi->keep_cache = m->conf.open_cache > 0;
	fill_entry(m, ino, &a, &e);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fs_release(f);
		fh_free(m, h);
	}
}

/* Pieces of one read reply; libfuse adds one iovec for the header (UIO_MAXIOV 1024). */
#define READ_IOV_MAX 256

static void op_read(fuse_req_t req, fuse_ino_t fino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);
	ssize_t r;

	if (h->kind == FH_ALOG) {
		read_alog(m, req, h->ar, size);
		return;
	}
	if (h->kind == FH_CONTROL) {
		/* consume before replying: the handle may be released right after */
		size_t n = MIN(size, h->cout.len);
		char *out = n ? xmemdup(h->cout.ptr, n) : NULL;
		if (n) {
			memmove(h->cout.ptr, h->cout.ptr + n, h->cout.len - n);
			h->cout.len -= n;
		}
		fuse_reply_buf(req, out, n);
		free(out);
		return;
	}
	if (h->kind == FH_STATIC) {
		/*
		 * Reply from a copy: once the kernel has this reply the reader may
		 * close, and the RELEASE (on another worker) frees h->data while
		 * writev here has not returned yet (a sanitizer reads the iovec
		 * after the syscall and halts the mount on it).
		 */
		size_t o = (size_t)MIN((uint64_t)off, (uint64_t)h->len);
		size_t n = MIN(size, h->len - o);
		char *out = n ? xmemdup(h->data + o, n) : NULL;
		fuse_reply_buf(req, out, n);
		free(out);
		return;
	}
	if (h->kind != FH_FILE)
		return reply_err(req, -EBADF);
	/*
	 * Answered from the cached blocks themselves (writev of the pinned
	 * pieces): the copy into a reply buffer was the mount's one user-space
	 * copy of every byte read. The pins outlive a RELEASE racing the reply.
	 */
	struct chunk_vec v = CHUNK_VEC_INIT;
	r = fs_read_vec(h->f, (uint64_t)off, size, &v);
	op_done(m, req, OP_read, t0, r < 0 ? (int)r : 0, "(%llu,%zu,%lld,%llu): (%zd)",
		(unsigned long long)to_meta(m, fino), size, (long long)off,
		(unsigned long long)h->id, r < 0 ? 0 : r);
	if (r < 0) {
		reply_err(req, (int)r);
	} else if (v.n <= READ_IOV_MAX) {
		struct iovec iov[READ_IOV_MAX];
		metric_observe(fm.read_size, (uint64_t)r);
		for (size_t i = 0; i < v.n; i++)
			iov[i] = (struct iovec){ (void *)v.p[i].data, v.p[i].len };
		fuse_reply_iov(req, iov, (int)v.n);
	} else {
		/* a much fragmented range: more pieces than one writev takes */
		char *b = xmalloc((size_t)r);
		size_t o = 0;
		for (size_t i = 0; i < v.n; o += v.p[i].len, i++)
			memcpy(b + o, v.p[i].data, v.p[i].len);
		metric_observe(fm.read_size, (uint64_t)r);
		fuse_reply_buf(req, b, (size_t)r);
		free(b);
	}
	chunk_vec_release(&v);
}

/* The end of every WRITE to a file: access log, then the reply and its size metric. */
static void write_reply(struct mnt *m, fuse_req_t req, fuse_ino_t fino, const struct mnt_fh *h,
			size_t size, off_t off, int64_t t0, ssize_t r)
{
	op_done(m, req, OP_write, t0, r < 0 ? (int)r : 0, "(%llu,%zu,%lld,%llu)",
		(unsigned long long)to_meta(m, fino), size, (long long)off,
		(unsigned long long)h->id);
	if (r < 0)
		return reply_err(req, (int)r);
	metric_observe(fm.write_size, (uint64_t)r);
	fuse_reply_write(req, (size_t)r);
}

static void op_write(fuse_req_t req, fuse_ino_t fino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);
	ssize_t r;

	if (h->kind == FH_CONTROL) {
		uint64_t ip;
		char *iname;

		buf_add(&h->cin, data, size);
		control_run(m, req, h);
		/* h may be released as soon as the reply is out: take what we need */
		ip = h->inval_parent;
		iname = h->inval_name;
		h->inval_name = NULL;
		fuse_reply_write(req, size);
		if (iname) {
			/* after the reply: the kernel must drop its cached entry */
			fuse_lowlevel_notify_inval_entry(m->se, to_fuse(m, ip), iname,
							 strlen(iname));
			free(iname);
		}
		return;
	}
	r = h->kind == FH_FILE ? fs_write(h->f, (uint64_t)off, data, size) : -EBADF;
	write_reply(m, req, fino, h, size, off, t0, r);
}

/* chunk_src reader: the next n bytes of a request's data, from the pipe or memory. */
static int bufv_take(void *arg, void *dst, size_t n)
{
	struct fuse_bufvec *src = arg;
	struct fuse_bufvec d = FUSE_BUFVEC_INIT(n);
	ssize_t r;

	d.buf[0].mem = dst;
	r = fuse_buf_copy(&d, src, 0);
	if (r < 0)
		return (int)r;
	return (size_t)r == n ? 0 : -EIO;
}

/*
 * WRITE with splice (FUSE_CAP_SPLICE_READ): the kernel hands the request's
 * pages to a pipe by reference, and fs_write_src reads them from it straight
 * into the block buffer. Read into libfuse's buffer, a 1 MiB request cost a
 * copy out of the kernel, the pinning of that buffer page by page, and a
 * second copy into the block (together about 60 % of a sequential-write
 * profile once objects went out with O_DIRECT; doc/read-path.md). Requests
 * already in memory (small ones, or no splice) take op_write's path.
 */
static void op_write_buf(fuse_req_t req, fuse_ino_t fino, struct fuse_bufvec *bufv, off_t off,
			 struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	struct mnt_fh *h = fh_of(fi);
	size_t size = fuse_buf_size(bufv);
	int64_t t0;
	ssize_t r;

	if (bufv->count == 1 && !(bufv->buf[0].flags & FUSE_BUF_IS_FD)) {
		op_write(req, fino, bufv->buf[0].mem, size, off, fi);
		return;
	}
	if (h->kind != FH_FILE) {
		/* small, rare: gather it and go the usual way */
		char *b = xmalloc(size ? size : 1);
		r = bufv_take(bufv, b, size);
		if (r)
			reply_err(req, (int)r);
		else
			op_write(req, fino, b, size, off, fi);
		free(b);
		return;
	}
	t0 = mono_us();
	struct chunk_src src = { .read = bufv_take, .arg = bufv };
	r = fs_write_src(h->f, (uint64_t)off, &src, size);
	write_reply(m, req, fino, h, size, off, t0, r);
}

static int plocked_has(struct mnt *m, uint64_t ino)
{
	int found = 0;
	pthread_mutex_lock(&m->pl_mu);
	for (size_t i = 0; i < m->npl && !found; i++)
		found = m->plocked[i] == ino;
	pthread_mutex_unlock(&m->pl_mu);
	return found;
}

static void plocked_add(struct mnt *m, uint64_t ino)
{
	if (plocked_has(m, ino))
		return;
	pthread_mutex_lock(&m->pl_mu);
	if (m->npl == m->capl) {
		m->capl = m->capl ? m->capl * 2 : 16;
		m->plocked = xrealloc(m->plocked, m->capl * sizeof(*m->plocked));
	}
	m->plocked[m->npl++] = ino;
	pthread_mutex_unlock(&m->pl_mu);
}

/* Drop every POSIX lock of owner on ino (close of any fd of the owner). */
static void drop_plocks(struct mnt *m, uint64_t ino, uint64_t owner)
{
	struct meta_plock lk = { META_LOCK_UNLOCK, 0, 0, PLOCK_EOF };
	int r = fs_setlk(m->fs, ino, owner, 0, &lk);
	if (r)
		log_warn("release POSIX locks of inode %llu: %s", (unsigned long long)ino,
			 strerror(-r));
}

static void op_flush(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);
	uint64_t ino = to_meta(m, fino);
	int r = 0;

	if (h->kind == FH_FILE) {
		r = fs_flush(h->f);
		if (plocked_has(m, ino))
			drop_plocks(m, ino, fi->lock_owner);
	}
	op_done(m, req, OP_flush, t0, r, "(%llu,%llu,%016llX)", (unsigned long long)ino,
		(unsigned long long)h->id, (unsigned long long)fi->lock_owner);
	reply_err(req, r);
}

static void op_release(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);
	uint64_t ino = to_meta(m, fino);
	int r = 0;

	switch (h->kind) {
	case FH_FILE:
		if (fi->flock_release)
			fs_flock(m->fs, ino, fi->lock_owner, META_LOCK_UNLOCK, 0);
		r = fs_release(h->f);
		if (r)
			log_warn("release inode %llu: %s", (unsigned long long)ino, strerror(-r));
		break;
	case FH_ALOG:
		close_alog(m, h->ar);
		break;
	case FH_STATIC:
		free(h->data);
		break;
	case FH_CONTROL:
		buf_release(&h->cin);
		buf_release(&h->cout);
		break;
	case FH_DIR:
		break;
	}
	uint64_t id = h->id;
	fh_free(m, h);
	op_done(m, req, OP_release, t0, r, "(%llu,%llu)", (unsigned long long)ino,
		(unsigned long long)id);
	reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t fino, int datasync, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);
	int r = h->kind == FH_FILE ? fs_fsync(h->f) : 0;

	op_done(m, req, OP_fsync, t0, r, "(%llu,%d)", (unsigned long long)to_meta(m, fino),
		datasync);
	reply_err(req, r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t fino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_ctx c;
	int r;

	(void)fi;
	req_ctx(req, &c, NULL);
	c.check_permission = 0; /* the handle is open for writing */
	if (off < 0 || len <= 0)
		r = -EINVAL;
	else
		r = fs_fallocate(m->fs, &c, ino, mode, (uint64_t)off, (uint64_t)len);
	op_done(m, req, OP_fallocate, t0, r, "(%llu,%d,%lld,%lld)", (unsigned long long)ino, mode,
		(long long)off, (long long)len);
	reply_err(req, r);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t fin = to_meta(m, in), fout = to_meta(m, out);
	struct meta_ctx c;
	ssize_t r;

	(void)fi_in;
	(void)fi_out;
	req_ctx(req, &c, NULL);
	c.check_permission = 0; /* both handles were checked at open */
	if (flags)
		r = -EINVAL;
	else if (internal_by_ino(fin) || internal_by_ino(fout))
		r = -EPERM;
	else
		r = fs_copy_file_range(m->fs, &c, fin, (uint64_t)off_in, fout, (uint64_t)off_out,
				       len);
	op_done(m, req, OP_copy_file_range, t0, r < 0 ? (int)r : 0,
		"(%llu,%lld,%llu,%lld,%zu,%d)", (unsigned long long)fin, (long long)off_in,
		(unsigned long long)fout, (long long)off_out, len, flags);
	if (r < 0)
		return reply_err(req, (int)r);
	fuse_reply_write(req, (size_t)r);
}

/* ------------------------------------------------------------ directories */

static void op_opendir(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_attr a;
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	r = fs_getattr(m->fs, &c, ino, &a);
	if (!r && a.type != META_TYPE_DIRECTORY)
		r = -ENOTDIR;
	struct mnt_fh *h = r ? NULL : fh_new(m, FH_DIR);
	op_done(m, req, OP_opendir, t0, r, "(%llu) [fh:%llu]", (unsigned long long)ino,
		(unsigned long long)(h ? h->id : 0));
	if (r)
		return reply_err(req, r);
	pthread_mutex_init(&h->mu, NULL);
	h->self = ino;
	h->parent = ino == m->root ? ino : (a.parent ? a.parent : META_ROOT_INODE);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		pthread_mutex_destroy(&h->mu);
		fh_free(m, h);
	}
}

static void dir_add(struct mnt_fh *h, const char *name, size_t namelen, uint64_t ino,
		    const struct meta_attr *a)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->ents = xrealloc(h->ents, h->cap * sizeof(*h->ents));
	}
	struct dentry *d = &h->ents[h->n++];
	d->name = xstrndup(name, namelen);
	d->ino = ino;
	d->attr = *a;
}

static int dir_cb(void *arg, const struct meta_dirent *e)
{
	dir_add(arg, e->name, e->namelen, e->ino, &e->attr);
	return 0;
}

static void dir_clear(struct mnt_fh *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->ents[i].name);
	free(h->ents);
	h->ents = NULL;
	h->n = h->cap = 0;
}

static int dir_load(struct mnt *m, fuse_req_t req, struct mnt_fh *h)
{
	struct meta_attr a;
	struct meta_ctx c;
	int r;

	dir_clear(h);
	req_ctx(req, &c, NULL);
	if ((r = fs_getattr(m->fs, &c, h->self, &a)))
		return r;
	dir_add(h, ".", 1, h->self, &a);
	if ((r = fs_getattr(m->fs, &c, h->parent, &a)))
		return r;
	dir_add(h, "..", 2, h->parent, &a);
	if (h->self == META_ROOT_INODE && m->root == META_ROOT_INODE && !m->conf.hide_internal) {
		for (size_t i = 0; i < ARRAY_SIZE(internal_files); i++) {
			internal_attr(m, &internal_files[i], &a);
			dir_add(h, internal_files[i].name, strlen(internal_files[i].name),
				internal_files[i].ino, &a);
		}
		if (fs_getattr(m->fs, &c, META_TRASH_INODE, &a) == 0)
			dir_add(h, ".trash", 6, META_TRASH_INODE, &a);
	}
	return fs_readdir(m->fs, &c, h->self, 1, NULL, 0, dir_cb, h);
}

static void do_readdir(fuse_req_t req, fuse_ino_t fino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);
	char *b = xmalloc(size);
	size_t used = 0, nent = 0;
	int r = 0;

	pthread_mutex_lock(&h->mu);
	if (off == 0 || !h->ents)
		r = dir_load(m, req, h);
	for (size_t i = (size_t)off; !r && i < h->n; i++) {
		struct dentry *d = &h->ents[i];
		size_t n;
		if (plus) {
			struct fuse_entry_param e;
			fill_entry(m, d->ino, &d->attr, &e);
			if (i < 2) /* "." and "..": no lookup reference is taken */
				e.ino = 0;
			n = fuse_add_direntry_plus(req, b + used, size - used, d->name, &e,
						   (off_t)(i + 1));
		} else {
			struct stat st;
			to_stat(m, d->ino, &d->attr, &st);
			n = fuse_add_direntry(req, b + used, size - used, d->name, &st,
					      (off_t)(i + 1));
		}
		if (n > size - used)
			break;
		used += n;
		nent++;
	}
	pthread_mutex_unlock(&h->mu);
	op_done(m, req, OP_readdir, t0, r, "(%llu,%zu,%lld,%s): (%zu)",
		(unsigned long long)to_meta(m, fino), size, (long long)off, plus ? "true" : "false",
		nent);
	if (r)
		reply_err(req, r);
	else
		fuse_reply_buf(req, b, used);
	free(b);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	struct mnt_fh *h = fh_of(fi);

	dir_clear(h);
	pthread_mutex_destroy(&h->mu);
	fh_free(m, h);
	op_done(m, req, OP_releasedir, t0, 0, "(%llu)", (unsigned long long)to_meta(m, ino));
	reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	reply_err(req, 0); /* metadata is committed by every operation */
}

static void op_statfs(fuse_req_t req, fuse_ino_t fino)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_statfs sf;
	struct statvfs sv;
	struct meta_ctx c;
	int r;

	req_ctx(req, &c, NULL);
	r = fs_statfs(m->fs, &c, internal_by_ino(ino) ? m->root : ino, &sf);
	op_done(m, req, OP_statfs, t0, r, "(%llu): (%llu,%llu,%llu,%llu)", (unsigned long long)ino,
		r ? 0ULL : (unsigned long long)(sf.total_space - sf.avail_space),
		r ? 0ULL : (unsigned long long)sf.avail_space,
		r ? 0ULL : (unsigned long long)sf.used_inodes,
		r ? 0ULL : (unsigned long long)sf.avail_inodes);
	if (r)
		return reply_err(req, r);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = sf.total_space / 4096;
	sv.f_bfree = sf.avail_space / 4096;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = sf.used_inodes + sf.avail_inodes;
	sv.f_ffree = sf.avail_inodes;
	sv.f_favail = sf.avail_inodes;
	sv.f_namemax = META_MAX_NAME;
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------ xattrs */

/*
 * The S3 gateway's per-bucket documents (bucket policy, CORS) are xattrs
 * named "s3.*" on the bucket directory (gateway/s3cfg.h): a mount user must
 * neither read nor forge them, so they are absent and unwritable here.
 */
#define GW_CFG_PREFIX "s3."

/*
 * Without --enable-xattr every call is ENOTSUP, which the kernel remembers,
 * so it stops asking for security.capability on every write.
 */
static int xattr_allowed(struct mnt *m, uint64_t ino, const char *name, int set)
{
	if (!m->conf.enable_xattr)
		return -ENOTSUP;
	if (internal_by_ino(ino))
		return set ? -EPERM : -ENODATA;
	if (name && !strcmp(name, "security.capability"))
		return set ? -ENOTSUP : -ENODATA; /* needs --enable-cap */
	if (name && !strncmp(name, "system.posix_acl_", 17) && !m->acl)
		return set ? -ENOTSUP : -ENODATA; /* volume without ACLs */
	if (name && !strncmp(name, GW_CFG_PREFIX, strlen(GW_CFG_PREFIX)))
		return set ? -EPERM : -ENODATA;
	return 0;
}

/* Drop the gateway's bucket documents from a listxattr answer. */
static void hide_gw_cfg(struct buf *names)
{
	size_t w = 0;

	for (size_t o = 0; o < names->len;) {
		size_t n = strlen(names->ptr + o) + 1;

		if (strncmp(names->ptr + o, GW_CFG_PREFIX, strlen(GW_CFG_PREFIX))) {
			memmove(names->ptr + w, names->ptr + o, n);
			w += n;
		}
		o += n;
	}
	names->len = w;
	if (names->ptr != buf_empty)
		names->ptr[w] = 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t fino, const char *name, const char *value,
			size_t size, int flags)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_ctx c;
	int r = xattr_allowed(m, ino, name, 1);

	if (!r) {
		req_ctx(req, &c, NULL);
		r = fs_setxattr(m->fs, &c, ino, name, value, size, flags);
	}
	op_done(m, req, OP_setxattr, t0, r, "(%llu,%s,%zu,%d)", (unsigned long long)ino,
		alog_str(m, name, 0), size, flags);
	reply_err(req, r);
}

static void reply_xattr_buf(fuse_req_t req, const struct buf *b, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, b->len);
	else if (b->len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b->ptr, b->len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t fino, const char *name, size_t size)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct buf b = BUF_INIT;
	struct meta_ctx c;
	int r = xattr_allowed(m, ino, name, 0);

	if (!r) {
		req_ctx(req, &c, NULL);
		r = fs_getxattr(m->fs, &c, ino, name, &b);
	}
	op_done(m, req, OP_getxattr, t0, r, "(%llu,%s,%zu): (%zu)", (unsigned long long)ino,
		alog_str(m, name, 0), size, r ? 0 : b.len);
	if (r)
		reply_err(req, r);
	else
		reply_xattr_buf(req, &b, size);
	buf_release(&b);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t fino, size_t size)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct buf b = BUF_INIT;
	struct meta_ctx c;
	int r = xattr_allowed(m, ino, NULL, 0);

	if (r == -ENODATA) {
		r = 0; /* internal files: an empty list */
	} else if (!r) {
		req_ctx(req, &c, NULL);
		r = fs_listxattr(m->fs, &c, ino, &b);
		if (!r)
			hide_gw_cfg(&b);
	}
	op_done(m, req, OP_listxattr, t0, r, "(%llu,%zu): (%zu)", (unsigned long long)ino, size,
		r ? 0 : b.len);
	if (r)
		reply_err(req, r);
	else
		reply_xattr_buf(req, &b, size);
	buf_release(&b);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t fino, const char *name)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_ctx c;
	int r = xattr_allowed(m, ino, name, 1);

	if (!r) {
		req_ctx(req, &c, NULL);
		r = fs_removexattr(m->fs, &c, ino, name);
	}
	op_done(m, req, OP_removexattr, t0, r, "(%llu,%s)", (unsigned long long)ino,
		alog_str(m, name, 0));
	reply_err(req, r);
}

/* ------------------------------------------------------------ locks */

static void op_flock(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi, int op)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	int type = (op & LOCK_UN) ? META_LOCK_UNLOCK
		   : (op & LOCK_EX) ? META_LOCK_WRITE : META_LOCK_READ;
	int r;

	for (;;) {
		r = fs_flock(m->fs, ino, fi->lock_owner, type, 0);
		if (r != -EAGAIN || (op & LOCK_NB))
			break;
		if (fuse_req_interrupted(req)) {
			r = -EINTR;
			break;
		}
		sleep_ms(LOCK_POLL_MS);
	}
	op_done(m, req, OP_flock, t0, r, "(%llu,%llu,%016llX,%s,%s)", (unsigned long long)ino,
		(unsigned long long)fh_of(fi)->id, (unsigned long long)fi->lock_owner,
		type == META_LOCK_UNLOCK ? "UNLOCK" : type == META_LOCK_WRITE ? "LOCKEX" : "LOCKSH",
		(op & LOCK_NB) ? "false" : "true");
	reply_err(req, r);
}

/* JuiceFS's lockType letters; "X" for what is not a lock type. */
static const char *lock_type_name(int type)
{
	return type == META_LOCK_UNLOCK ? "U"
	       : type == META_LOCK_READ ? "R"
	       : type == META_LOCK_WRITE ? "W" : "X";
}

static int to_plock(const struct flock *fl, struct meta_plock *lk)
{
	memset(lk, 0, sizeof(*lk));
	switch (fl->l_type) {
	case F_RDLCK: lk->type = META_LOCK_READ; break;
	case F_WRLCK: lk->type = META_LOCK_WRITE; break;
	case F_UNLCK: lk->type = META_LOCK_UNLOCK; break;
	default: return -EINVAL;
	}
	if (fl->l_start < 0)
		return -EINVAL;
	lk->pid = (uint32_t)fl->l_pid;
	lk->start = (uint64_t)fl->l_start;
	if (fl->l_len == 0)
		lk->end = PLOCK_EOF;
	else if (fl->l_len > 0)
		lk->end = lk->start + (uint64_t)fl->l_len - 1;
	else
		return -EINVAL;
	if (lk->end > PLOCK_EOF)
		lk->end = PLOCK_EOF;
	return 0;
}

static void op_getlk(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi,
		     struct flock *fl)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_plock lk;
	struct flock out;
	int r = to_plock(fl, &lk);

	if (!r)
		r = fs_getlk(m->fs, ino, fi->lock_owner, &lk);
	op_done(m, req, OP_getlk, t0, r, "(%llu,%llu,%016llX): (%llu,%llu,%s,%u)",
		(unsigned long long)ino, (unsigned long long)fh_of(fi)->id,
		(unsigned long long)fi->lock_owner, (unsigned long long)lk.start,
		(unsigned long long)lk.end, lock_type_name(lk.type), (unsigned)lk.pid);
	if (r)
		return reply_err(req, r);
	memset(&out, 0, sizeof(out));
	out.l_whence = SEEK_SET;
	if (lk.type == META_LOCK_UNLOCK) {
		out.l_type = F_UNLCK;
	} else {
		out.l_type = lk.type == META_LOCK_WRITE ? F_WRLCK : F_RDLCK;
		out.l_start = (off_t)lk.start;
		out.l_len = lk.end >= PLOCK_EOF ? 0 : (off_t)(lk.end - lk.start + 1);
		out.l_pid = (pid_t)lk.pid;
	}
	fuse_reply_lock(req, &out);
}

static void op_setlk(fuse_req_t req, fuse_ino_t fino, struct fuse_file_info *fi,
		     struct flock *fl, int sleep)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_plock lk;
	int r = to_plock(fl, &lk);

	while (!r) {
		r = fs_setlk(m->fs, ino, fi->lock_owner, 0, &lk);
		if (r != -EAGAIN || !sleep)
			break;
		if (fuse_req_interrupted(req)) {
			r = -EINTR;
			break;
		}
		r = 0;
		sleep_ms(LOCK_POLL_MS);
	}
	if (!r && lk.type != META_LOCK_UNLOCK)
		plocked_add(m, ino);
	op_done(m, req, OP_setlk, t0, r, "(%llu,%llu,%016llX,%llu,%llu,%s,%s,%u)",
		(unsigned long long)ino, (unsigned long long)fh_of(fi)->id,
		(unsigned long long)fi->lock_owner, (unsigned long long)lk.start,
		(unsigned long long)lk.end, lock_type_name(lk.type), sleep ? "true" : "false",
		(unsigned)lk.pid);
	reply_err(req, r);
}

/* ------------------------------------------------------------ ioctl */

#define IOCTL_FLAGS (FS_IMMUTABLE_FL | FS_APPEND_FL | FS_SECRM_FL)

/*
 * The log shows JuiceFS's "(ino,cmd,arg,bufIn,bufOut)" with the buffers as
 * "[]" (NEEDSWORK: Go prints their bytes, "[1 0 0 0]").
 *
 * With --enable-ioctl: FS_IOC_GETFLAGS/SETFLAGS map the immutable, append
 * and secure-delete (skip-trash) bits to attribute flags (spec §6.5); only
 * root may set them, other bits are refused.
 */
static void op_ioctl(fuse_req_t req, fuse_ino_t fino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
		     size_t out_bufsz)
{
	struct mnt *m = req_mnt(req);
	int64_t t0 = mono_us();
	uint64_t ino = to_meta(m, fino);
	struct meta_attr a, in;
	struct meta_ctx c;
	uint32_t v = 0;
	int r;

	(void)arg;
	(void)fi;
	req_ctx(req, &c, NULL);
	if (!m->conf.enable_ioctl) {
		r = -ENOTTY;
	} else if (flags & FUSE_IOCTL_COMPAT) {
		r = -ENOSYS;
	} else if (internal_by_ino(ino)) {
		r = -ENOTTY;
	} else if (cmd == FS_IOC_GETFLAGS || cmd == FS_IOC32_GETFLAGS) {
		r = fs_getattr(m->fs, &c, ino, &a);
		if (!r) {
			v = ((a.flags & META_FLAG_IMMUTABLE) ? FS_IMMUTABLE_FL : 0) |
			    ((a.flags & META_FLAG_APPEND) ? FS_APPEND_FL : 0) |
			    ((a.flags & META_FLAG_SKIP_TRASH) ? FS_SECRM_FL : 0);
			op_done(m, req, OP_ioctl, t0, 0, "(%llu,0x%X,0x%llX,[],[])",
				(unsigned long long)ino, cmd, (unsigned long long)(uintptr_t)arg);
			fuse_reply_ioctl(req, 0, &v, MIN(out_bufsz, sizeof(v)));
			return;
		}
	} else if (cmd == FS_IOC_FSGETXATTR) {
		/* the kernel asks this before every SETFLAGS (fileattr_get) */
		struct fsxattr fx;
		r = fs_getattr(m->fs, &c, ino, &a);
		if (!r) {
			memset(&fx, 0, sizeof(fx));
			fx.fsx_xflags = ((a.flags & META_FLAG_IMMUTABLE) ? FS_XFLAG_IMMUTABLE : 0) |
					((a.flags & META_FLAG_APPEND) ? FS_XFLAG_APPEND : 0);
			op_done(m, req, OP_ioctl, t0, 0, "(%llu,0x%X,0x%llX,[],[])",
				(unsigned long long)ino, cmd, (unsigned long long)(uintptr_t)arg);
			fuse_reply_ioctl(req, 0, &fx, MIN(out_bufsz, sizeof(fx)));
			return;
		}
	} else if (cmd == FS_IOC_SETFLAGS || cmd == FS_IOC32_SETFLAGS) {
		if (in_bufsz < sizeof(v)) {
			r = -EINVAL;
		} else {
			memcpy(&v, in_buf, sizeof(v));
			if (v & ~(uint32_t)IOCTL_FLAGS)
				r = -EOPNOTSUPP;
			else if (c.uid != 0)
				r = -EPERM;
			else
				r = fs_getattr(m->fs, &c, ino, &a);
			if (!r) {
				memset(&in, 0, sizeof(in));
				unsigned keep = ~(unsigned)(META_FLAG_IMMUTABLE | META_FLAG_APPEND |
							    META_FLAG_SKIP_TRASH);
				in.flags = (uint8_t)(a.flags & keep);
				if (v & FS_IMMUTABLE_FL)
					in.flags |= META_FLAG_IMMUTABLE;
				if (v & FS_APPEND_FL)
					in.flags |= META_FLAG_APPEND;
				if (v & FS_SECRM_FL)
					in.flags |= META_FLAG_SKIP_TRASH;
				r = fs_setattr(m->fs, &c, ino, META_SET_FLAGS, &in, &a);
			}
		}
	} else {
		r = -ENOTTY;
	}
	op_done(m, req, OP_ioctl, t0, r, "(%llu,0x%X,0x%llX,[],[])", (unsigned long long)ino, cmd,
		(unsigned long long)(uintptr_t)arg);
	if (r)
		return reply_err(req, r);
	fuse_reply_ioctl(req, 0, NULL, 0);
}

/* ------------------------------------------------------------ session */

/*
 * The largest WRITE that still comes through a pipe. libfuse splices a
 * request only into a pipe of max_write + 4 KiB (else it reads it into its
 * buffer), and the kernel needs one pipe slot per data page plus one for
 * the header: a 1 MiB request needs a 2 MiB pipe, beyond the default
 * pipe-max-size (1 MiB) without CAP_SYS_RESOURCE. Then requests of 254
 * pages (255 slots at any offset, + the header = 256 slots = 1 MiB) keep
 * the splice; with no usable pipe at all, 1 MiB reads as before.
 */
static unsigned splice_max_write(void)
{
	unsigned mw = 1U << 20;
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return mw;
	if (fcntl(p[0], F_SETPIPE_SZ, (int)mw + 4096) < 0 &&
	    fcntl(p[0], F_SETPIPE_SZ, (int)mw) >= (int)mw)
		mw -= 2 * 4096;
	close(p[0]);
	close(p[1]);
	return mw;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mnt *m = userdata;
	unsigned want = FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC |
			FUSE_CAP_READDIRPLUS | FUSE_CAP_ASYNC_READ;

	conn->want |= want & conn->capable;
	/* always readdirplus: attributes come in the same metadata transaction */
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* Write data through a pipe (op_write_buf); see splice_max_write. */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	/*
	 * 1 MiB requests, as JuiceFS asks for: at 128 KiB a 4 MiB block costs
	 * 32 round trips through the kernel. libfuse caps this at its buffer
	 * size and negotiates max_pages with kernels >= 4.20.
	 */
	if (m->acl) {
		/*
		 * As JuiceFS does on ACL volumes: the kernel then leaves the umask
		 * to us (a parent's default ACL replaces it) and caches our ACLs.
		 * Every permission is still checked here as well (meta), so the
		 * answer does not depend on the kernel's checks.
		 */
		if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
			conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		else
			log_warn("the kernel cannot pass ACLs through FUSE; new files get the "
				 "umask even below a default ACL");
	}
	conn->max_write = splice_max_write();
	if (conn->max_readahead < (1U << 20))
		conn->max_readahead = 1U << 20;
	log_info("mounted %s on %s", m->fsname, m->mountpoint);
}

static const struct fuse_lowlevel_ops mnt_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.getlk = op_getlk,
	.setlk = op_setlk,
	.flock = op_flock,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
	.ioctl = op_ioctl,
};

void mnt_conf_defaults(struct mnt_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->attr_timeout = 1.0;
	c->entry_timeout = 1.0;
	c->dir_entry_timeout = 1.0;
}

/* libfuse's messages go to our log, one line each. */
static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	int lvl = level <= FUSE_LOG_ERR ? LOG_ERROR : level <= FUSE_LOG_NOTICE ? LOG_WARNING
									       : LOG_DEBUG;
	if (lvl > jfs_log_level)
		return;
	buf_vaddf(&b, fmt, ap);
	while (b.len && b.ptr[b.len - 1] == '\n')
		b.ptr[--b.len] = 0;
	log_write(lvl, "libfuse", __FILE__, __LINE__, "%s", b.ptr ? b.ptr : "");
	buf_release(&b);
}

int mnt_new(struct fs *fs, const struct mnt_conf *c, struct mnt **out, struct buf *err)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct mnt *m = xcalloc(1, sizeof(*m));
	struct buf opts = BUF_INIT;
	struct meta_attr a;
	struct stat st;
	int r = 0;

	m->fs = fs;
	m->conf = *c;
	m->mountpoint = xstrdup(c->mountpoint);
	m->fsname = xstrdup(c->fsname ? c->fsname : "JuiceFS");
	m->fuse_opts = c->fuse_opts ? xstrdup(c->fuse_opts) : NULL;
	m->config_json = c->config_json ? xstrdup(c->config_json) : NULL;
	m->root = META_ROOT_INODE;
	pthread_mutex_init(&m->log_mu, NULL);
	pthread_cond_init(&m->log_cond, NULL);
	pthread_mutex_init(&m->fh_mu, NULL);
	pthread_mutex_init(&m->pl_mu, NULL);
	pthread_mutex_init(&m->stop_mu, NULL);
	clock_gettime(CLOCK_REALTIME, &m->started);
	fuse_set_log_func(fuse_log_to_ours);

	if (c->subdir && *c->subdir && strcmp(c->subdir, "/")) {
		r = fs_resolve(fs, NULL, c->subdir, &m->root, &a);
		if (!r && a.type != META_TYPE_DIRECTORY)
			r = -ENOTDIR;
		if (r) {
			buf_addf(err, "subdir %s: %s", c->subdir, strerror(-r));
			goto fail;
		}
	}
	if (stat(c->mountpoint, &st)) {
		r = -errno;
		buf_addf(err, "mountpoint %s: %s", c->mountpoint, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
		buf_addf(err, "mountpoint %s is not a directory", c->mountpoint);
		goto fail;
	}

	/*
	 * Without ACLs the kernel checks mode bits (default_permissions) and
	 * meta checks them again. With ACLs the option is left off and meta
	 * answers every check (access, open, create, ...) against the ACLs;
	 * a kernel that takes FUSE_CAP_POSIX_ACL (op_init) also checks, with
	 * the ACLs it reads from us, so the two agree.
	 */
	m->acl = fs_format(fs) && fs_format(fs)->enable_acl;
	buf_addf(&opts, "fsname=%s,subtype=juicefs%s", m->fsname,
		 m->acl ? "" : ",default_permissions");
	if (m->acl && !m->conf.enable_xattr) {
		log_info("the volume has POSIX ACLs: extended attributes are enabled");
		m->conf.enable_xattr = 1;
	}
	if (getuid() == 0)
		buf_adds(&opts, ",allow_other");
	if (c->read_only)
		buf_adds(&opts, ",ro");
	if (c->fuse_opts && *c->fuse_opts)
		buf_addf(&opts, ",%s", c->fuse_opts);
	if (fuse_opt_add_arg(&args, "juicefs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts.ptr)) {
		r = -ENOMEM;
		buf_adds(err, "out of memory");
		goto fail;
	}
	m->se = fuse_session_new(&args, &mnt_ops, sizeof(mnt_ops), m);
	if (!m->se) {
		r = -EINVAL;
		buf_addf(err, "invalid FUSE options: %s", opts.ptr);
		goto fail;
	}
	if (fuse_set_signal_handlers(m->se) == 0)
		m->signals = 1;
	if (fuse_session_mount(m->se, c->mountpoint)) {
		r = -EIO;
		buf_addf(err, "mount %s failed (is /dev/fuse available and the mountpoint free?)",
			 c->mountpoint);
		goto fail;
	}
	m->mounted = 1;
	pthread_once(&fm_once, fm_init);
	metrics_add_collector(fm_collect, m);
	fuse_opt_free_args(&args);
	buf_release(&opts);
	*out = m;
	return 0;
fail:
	fuse_opt_free_args(&args);
	buf_release(&opts);
	mnt_free(m);
	return r;
}

/*
 * Stopping (mnt_stop) while requests are in flight.
 *
 * libfuse's loop ends when its session is marked exited and the thread in
 * the loop notices: the main thread waits in sem_wait (the multi-threaded
 * loop) or read (the single-threaded one) and looks at the mark only when
 * interrupted. libfuse's own SIGTERM handler set the mark in whichever thread
 * took the signal, and the loop then joined its busy workers before the
 * mountpoint was released: a mount stuck in one long metadata transaction
 * kept its mountpoint (and ignored SIGTERM) until the transaction ended.
 *
 * So mnt_stop, from any thread:
 *  1. marks the session exited: no worker takes a new request after its
 *     current one;
 *  2. detaches the mountpoint (MNT_DETACH, or fusermount3 -u -z): the path is
 *     free at once; the kernel aborts the connection when the last request
 *     or open file of the detached mount is gone, which ends idle workers
 *     (ENODEV);
 *  3. interrupts the loop's thread with MNT_KICK_SIGNAL (a no-op handler
 *     installed without SA_RESTART), so it stops waiting at once and joins
 *     the workers: those busy finish their operation, whose transaction
 *     commits or rolls back as a whole.
 * Open files of the detached mount are released by mnt_free, which commits
 * their pending writes. Bounding the whole (a transaction that never ends)
 * is the caller's: see cmd/mount.c.
 */
#define MNT_KICK_SIGNAL SIGRTMIN

static void mnt_kick_handler(int sig)
{
	(void)sig;
}

static void mnt_detach(const char *mp)
{
	pid_t pid;
	int status;

	if (!umount2(mp, MNT_DETACH) || errno == EINVAL || errno == ENOENT)
		return;
	pid = fork();
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", mp, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		log_warn("%s: lazy unmount failed; the mount goes when this process exits", mp);
}

void mnt_stop(struct mnt *m)
{
	pthread_mutex_lock(&m->stop_mu);
	if (m->mounted && !m->detached) {
		fuse_session_exit(m->se);
		log_info("%s: detaching the mountpoint", m->mountpoint);
		mnt_detach(m->mountpoint);
		m->detached = 1;
	}
	if (m->serving)
		pthread_kill(m->server, MNT_KICK_SIGNAL);
	pthread_mutex_unlock(&m->stop_mu);
}

int mnt_serve(struct mnt *m)
{
	struct sigaction sa;
	sigset_t kick;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mnt_kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(MNT_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: sem_wait, read return */
	sigemptyset(&kick);
	sigaddset(&kick, MNT_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pthread_mutex_lock(&m->stop_mu);
	m->server = pthread_self();
	m->serving = 1;
	if (m->detached) /* stopped before serving: fuse_session_loop* exit at once */
		fuse_session_exit(m->se);
	pthread_mutex_unlock(&m->stop_mu);
	if (m->conf.single_thread) {
		r = fuse_session_loop(m->se);
	} else {
		struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 16 };
		r = fuse_session_loop_mt(m->se, &cfg);
	}
	pthread_mutex_lock(&m->stop_mu);
	m->serving = 0;
	pthread_mutex_unlock(&m->stop_mu);
	log_info("%s: stopped serving (unmounted or signalled)", m->mountpoint);
	return r < 0 ? r : 0;
}

#ifdef __SANITIZE_ADDRESS__
/*
 * libfuse keeps its copy of the mountpoint's path until
 * fuse_session_unmount, which mnt_free must not call once mnt_stop has
 * detached the mount: it would unmount whatever is mounted at that path by
 * then. Those few bytes are left to the exit; LeakSanitizer is told so.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:fuse_session_mount\n";
}
#endif

void mnt_free(struct mnt *m)
{
	if (!m)
		return;
	metrics_remove_collector(fm_collect, m);
	if (m->se) {
		if (m->signals)
			fuse_remove_signal_handlers(m->se);
		if (m->mounted && !m->detached)
			fuse_session_unmount(m->se);
		fuse_session_destroy(m->se);
	}
	/*
	 * After a signal the kernel sends no release for files still open:
	 * release them here, which commits their pending writes.
	 */
	while (m->handles) {
		struct mnt_fh *h = m->handles;
		m->handles = h->next;
		if (h->kind == FH_FILE)
			fs_release(h->f);
		else if (h->kind == FH_STATIC)
			free(h->data);
		else if (h->kind == FH_CONTROL) {
			buf_release(&h->cin);
			buf_release(&h->cout);
		}
		else if (h->kind == FH_DIR) {
			dir_clear(h);
			pthread_mutex_destroy(&h->mu);
		}
		free(h); /* FH_ALOG readers are freed with the list below */
	}
	while (m->readers) {
		struct alog_reader *a = m->readers;
		m->readers = a->next;
		buf_release(&a->b);
		free(a);
	}
	pthread_mutex_destroy(&m->log_mu);
	pthread_cond_destroy(&m->log_cond);
	pthread_mutex_destroy(&m->fh_mu);
	pthread_mutex_destroy(&m->pl_mu);
	pthread_mutex_destroy(&m->stop_mu);
	free(m->plocked);
	free(m->mountpoint);
	free(m->fsname);
	free(m->fuse_opts);
	free(m->config_json);
	free(m->subdir);
	free(m);
}
