/*
 * Automatic metadata backup of the volume-serving commands (mount, gateway,
 * webdav), as JuiceFS's pkg/vfs/backup.go does it, so that an operator finds
 * the same objects whichever client served the volume:
 *  - one client per interval wins the turn on the root's "lastBackup" xattr
 *    (fs_add_bgjob; the real client's own clients read the same stamp);
 *  - the dump (no secret keys, the trash unless --backup-skip-trash) is
 *    gzipped at the fastest level into an unlinked temp file, so memory stays
 *    flat however big the volume, then put as meta/dump-YYYYMMDD... in the
 *    volume's object store (keys under "<Name>/", like the chunks);
 *  - after a success, old backups are removed by JuiceFS's rotation.
 */
#include "cmd/cmd.h"
#include "base/metrics.h"

#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fscore/fs.h"
#include "meta/meta.h"
#include "storage/obj.h"

/* JuiceFS skips an hourly (or more frequent) backup of a bigger volume. */
#define BACKUP_MAX_INODES 1000000

/* Go's time.Duration.String() of whole milliseconds: 1m0s, 4m59.5s, 300ms. */
/* JuiceFS's backup gauges: the duration of each attempt, the time of the last success. */
static struct metric_family *bk_duration(void)
{
	return metric_family(METRIC_GAUGE, "juicefs_last_backup_duration", "Last backup duration.",
			     1, NULL, NULL, 0);
}

static struct metric_family *bk_last(void)
{
	return metric_family(METRIC_GAUGE, "juicefs_last_successful_backup",
			     "Last successful backup.", 1, NULL, NULL, 0);
}

static void fmt_go_duration(int64_t ms, char *out, size_t n)
{
	int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
	char sec[32];

	if (ms < 1000) {
		snprintf(out, n, "%lldms", (long long)ms);
		return;
	}
	if (frac) {
		snprintf(sec, sizeof(sec), "%lld.%03lld", (long long)s, (long long)frac);
		while (sec[strlen(sec) - 1] == '0')
			sec[strlen(sec) - 1] = 0;
	} else {
		snprintf(sec, sizeof(sec), "%lld", (long long)s);
	}
	if (h)
		snprintf(out, n, "%lldh%lldm%ss", (long long)h, (long long)m, sec);
	else if (m)
		snprintf(out, n, "%lldm%ss", (long long)m, sec);
	else
		snprintf(out, n, "%ss", sec);
}

int cmd_backup_conf(const struct conf_cmd *cmd, const struct conf_parsed *p,
		    struct cmd_backup *b)
{
	const char *skip = getenv("SKIP_BACKUP_META_CHECK");

	b->interval_ms = conf_get(cmd, p, "backup-meta")->i;
	b->skip_trash = (int)conf_get(cmd, p, "backup-skip-trash")->i;
	/* the real client's floor and its escape hatch (used by the tests) */
	if (b->interval_ms > 0 && b->interval_ms < 5 * 60 * 1000 &&
	    !(skip && !strcmp(skip, "true"))) {
		char d[48];

		fmt_go_duration(b->interval_ms, d, sizeof(d));
		cmd_fatal("backup-meta should not be less than 5 minutes: %s", d);
		return -1;
	}
	return 0;
}

struct gz_sink {
	gzFile gz;
};

static ssize_t gz_write_cb(void *arg, const void *p, size_t n)
{
	struct gz_sink *s = arg;
	int w;

	if (!n)
		return 0;
	w = gzwrite(s->gz, p, (unsigned)n);
	return w > 0 ? (ssize_t)w : -EIO;
}

/* Dump into a gzipped temp file (already unlinked); its fd, or -errno. */
static int dump_to_temp(struct fs *fs, int skip_trash, struct buf *err)
{
	const char *dir = getenv("TMPDIR");
	struct meta_dump_opts o = { 0 };
	struct gz_sink s;
	char *path;
	int fd, r, z;

	if (!dir || !*dir)
		dir = "/tmp";
	path = xasprintf("%s/jfs-backup-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		buf_addf(err, "create %s: %s", path, strerror(errno));
		free(path);
		return r;
	}
	unlink(path); /* a crash in the middle leaves nothing behind */
	free(path);
	s.gz = gzdopen(dup(fd), "wb1");
	if (!s.gz) {
		close(fd);
		buf_addf(err, "gzip: cannot start the compressor");
		return -ENOMEM;
	}
	o.skip_trash = skip_trash;
	o.threads = 2; /* as the real client: the volume keeps serving meanwhile */
	r = meta_dump(fs_meta(fs), &o, gz_write_cb, &s, err);
	z = gzclose(s.gz);
	if (!r && z != Z_OK) {
		r = -EIO;
		buf_addf(err, "gzip: close failed (disk full?)");
	}
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

static int backup_once(struct fs *fs, int skip_trash, const char *key, struct buf *err)
{
	struct stat st;
	void *p = NULL;
	int fd = dump_to_temp(fs, skip_trash, err), r;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		r = -errno;
		buf_addf(err, "stat the temp file: %s", strerror(errno));
		goto out;
	}
	/*
	 * The store puts whole objects; a file mapping lends it the bytes
	 * without copying the dump into the heap (pages come and go with the
	 * page cache).
	 */
	if (st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			p = NULL;
			r = -errno;
			buf_addf(err, "map the temp file: %s", strerror(errno));
			goto out;
		}
	}
	r = obj_put(fs_obj(fs), key, p ? p : "", (size_t)st.st_size);
	if (r)
		buf_addf(err, "put %s: %s", key, strerror(-r));
out:
	if (p)
		munmap(p, (size_t)st.st_size);
	close(fd);
	return r;
}

/* ---- rotation (JuiceFS's rotate(), pkg/vfs/backup.go) ---- */

static int two(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

/*
 * "YYYY-MM-DD-HHMMSS" (UTC) to Unix seconds, as strictly as Go's
 * time.Parse("2006-01-02-150405"): fixed digits, real calendar dates.
 */
static int parse_stamp(const char *s, int64_t *out)
{
	static const char pat[] = "dddd-dd-dd-dddddd";
	struct tm tm = { 0 }, back;
	time_t t;

	for (int i = 0; pat[i]; i++)
		if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
			return -EINVAL;
	tm.tm_year = two(s) * 100 + two(s + 2) - 1900;
	tm.tm_mon = two(s + 5) - 1;
	tm.tm_mday = two(s + 8);
	tm.tm_hour = two(s + 11);
	tm.tm_min = two(s + 13);
	tm.tm_sec = two(s + 15);
	back = tm;
	t = timegm(&back);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 59 || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != tm.tm_mon)
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

static int64_t add_years(int64_t t, int years)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	tm.tm_year += years; /* Feb 29 normalises to Mar 1, as Go's AddDate */
	return (int64_t)timegm(&tm);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Mark in del[] the backups to remove at `now`: keep all within 2 days, the
 * earliest of each day within 2 weeks, of each week within 2 months, of each
 * month within 2 years, none older. names are sorted here (byte order).
 * Names that are not dump-YYYY-MM-DD-HHMMSS.json.gz long are left alone,
 * unless older backups sort after them (JuiceFS removes everything before
 * the first one past 2 years).
 */
void cmd_backup_rotate(char **names, size_t n, int64_t now, int *del)
{
	const int64_t day = 86400;
	int64_t cutoff = add_years(now, -2), edge = now - 2 * day;
	int days = 2;
	size_t *within = xcalloc(n ? n : 1, sizeof(*within)), nw = 0;

	qsort(names, n, sizeof(*names), cmp_str);
	memset(del, 0, n * sizeof(*del));
	for (size_t i = n; i-- > 0;) {
		int64_t ts;

		if (strlen(names[i]) != 30 || parse_stamp(names[i] + 5, &ts)) {
			log_warn("bad object for metadata backup %s", names[i]);
			continue;
		}
		if (ts < cutoff) {
			for (size_t k = 0; k <= i; k++)
				del[k] = 1;
			break;
		}
		if (ts < edge) {
			for (size_t k = 0; nw && k + 1 < nw; k++) /* keep the earliest one */
				del[within[k]] = 1;
			nw = 0;
			do {
				if (days < 14) {
					days++;
					edge -= day;
				} else if (days < 60) {
					days += 7;
					edge -= 7 * day;
				} else {
					days += 30;
					edge -= 30 * day;
				}
			} while (ts < edge);
			within[nw++] = i;
		} else if (days > 2) {
			within[nw++] = i;
		}
	}
	for (size_t k = 0; nw && k + 1 < nw; k++)
		del[within[k]] = 1;
	free(within);
}

struct name_list {
	char **v;
	size_t n, cap;
};

static int collect_cb(void *arg, const struct obj_info *oi)
{
	struct name_list *l = arg;
	const char *k = oi->key + strlen("meta/");

	/* JuiceFS lists recursively and rotates by the key below meta/ */
	if (!*k || k[strlen(k) - 1] == '/')
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(k);
	return 0;
}

static void cleanup_backups(struct fs *fs, int64_t now)
{
	struct obj_store *o = fs_obj(fs);
	struct name_list l = { 0 };
	int *del;
	int r = obj_list(o, "meta/", NULL, 0, collect_cb, &l);

	if (r) {
		log_warn("list meta/ for the backup cleanup: %s; skip cleanup", strerror(-r));
		goto out;
	}
	del = xcalloc(l.n ? l.n : 1, sizeof(*del));
	cmd_backup_rotate(l.v, l.n, now, del);
	for (size_t i = 0; i < l.n; i++) {
		char *key;

		if (!del[i])
			continue;
		key = xasprintf("meta/%s", l.v[i]);
		r = obj_delete(o, key);
		if (r)
			log_warn("delete object %s: %s", key, strerror(-r));
		else
			log_info("removed old metadata backup %s", key);
		free(key);
	}
	free(del);
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
}

static void backup_job(struct fs *fs, void *arg)
{
	const struct cmd_backup *b = arg;
	struct meta_statfs st = { 0 };
	struct buf err = BUF_INIT;
	int64_t now = (int64_t)time(NULL);
	time_t tt = (time_t)now;
	struct timespec t0, t1;
	struct tm tm;
	char key[64];
	int r;

	if (!meta_statfs(fs_meta(fs), NULL, META_ROOT_INODE, &st) &&
	    b->interval_ms <= 3600 * 1000 && st.used_inodes > BACKUP_MAX_INODES) {
		log_warn("backup metadata skipped because of too many inodes: %llu %llds; you may "
			 "increase `--backup-meta` to enable it again",
			 (unsigned long long)st.used_inodes, (long long)(b->interval_ms / 1000));
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(key, sizeof(key), "meta/dump-%Y-%m-%d-%H%M%S.json.gz", &tm);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = backup_once(fs, b->skip_trash, key, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metric_set(metric_get(bk_duration()),
		   (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (!r)
		metric_set(metric_get(bk_last()), (double)now_us() / 1e6);
	if (r) {
		log_warn("backup metadata failed: %s", err.len ? err.ptr : strerror(-r));
	} else {
		log_info("backup metadata succeed, path: %s%s, used %.3fs", obj_describe(fs_obj(fs)),
			 key,
			 (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		cleanup_backups(fs, now); /* only after a success, as JuiceFS */
	}
	buf_release(&err);
}

int cmd_backup_start(struct fs *fs, const struct cmd_backup *b)
{
	bk_duration(); /* served from the start (0), as JuiceFS registers them */
	bk_last();
	const char *env = getenv("JFS_BGJOB_CHECK_MS");
	int64_t interval_s, check_ms;
	int r;

	if (b->interval_ms <= 0) {
		log_info("Metadata backup is disabled");
		return 0;
	}
	/* the turn is kept in whole seconds (an RFC 3339 stamp) */
	interval_s = b->interval_ms < 1000 ? 1 : b->interval_ms / 1000;
	/* JuiceFS asks every tenth of the interval */
	check_ms = b->interval_ms / 10 > 0 ? b->interval_ms / 10 : 1;
	if (env && *env) {
		int64_t v;
		if (!parse_i64(env, &v) && v > 0)
			check_ms = v;
	}
	r = fs_add_bgjob(fs, "lastBackup", interval_s, check_ms, backup_job, (void *)b);
	if (r)
		log_warn("start the metadata backup: %s", strerror(-r));
	return r;
}
