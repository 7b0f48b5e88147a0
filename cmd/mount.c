/*
 * `juicefs mount META-URL MOUNTPOINT` and `juicefs umount MOUNTPOINT`.
 *
 * mount opens the volume (fs_open registers the session), mounts it through
 * FUSE (fuse/mnt.h) and serves until unmounted or signalled; then fs_close
 * flushes what is pending and closes the session.
 *
 * With -d the command forks first, so the session records the serving
 * process's pid; the parent waits on a pipe until the child has mounted (one
 * status byte, then the error text on failure) and exits 0 only then, so a
 * script can use the mount as soon as the command returns. The child moves
 * to its own session and logs to --log.
 *
 * umount unmounts with umount2 as root (MNT_FORCE then MNT_DETACH with
 * --force: a crashed mount answers nothing and is only detachable), else
 * through fusermount3 -u [-z].
 */
#include "cmd/cmd.h"
#include "base/metrics.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fscore/fs.h"
#include "fuse/mnt.h"

#define FUSE_SUPER_MAGIC 0x65735546

static const struct conf_opt mount_opts[] = {
	{ "background", 'd', OPT_BOOL, "false", 0, "run in background", NULL },
	{ "log", 0, OPT_STRING, NULL, 0,
	  "path of log file when running in background (default: \"/var/log/juicefs.log\" for "
	  "root, \"$HOME/.juicefs/juicefs.log\" otherwise)",
	  NULL },
	{ "o", 'o', OPT_STRING, NULL, 0, "other FUSE options", NULL },
	{ "no-syslog", 0, OPT_BOOL, "false", 0,
	  "accepted for compatibility; this build never logs to syslog", NULL },
	{ "force", 0, OPT_BOOL, "false", 0,
	  "accepted for compatibility (a busy mountpoint is still refused)", NULL },
	{ "hide-internal", 0, OPT_BOOL, "false", 0,
	  "hide internal files (.stats, .config, .accesslog, .trash) from the root listing",
	  NULL },
	{ "enable-xattr", 0, OPT_BOOL, "false", 0, "enable extended attributes (xattr)", NULL },
	{ "enable-ioctl", 0, OPT_BOOL, "false", 0,
	  "enable ioctl (support GETFLAGS/SETFLAGS only)", NULL },
	{ "subdir", 0, OPT_STRING, NULL, 0, "mount a sub-directory as root", NULL },
	{ "backup-meta", 0, OPT_DURATION, "1h", 0,
	  "interval to automatically backup metadata in the object storage (0 means disable "
	  "backup)",
	  NULL },
	{ "backup-skip-trash", 0, OPT_BOOL, "false", 0, "skip files in trash when backup metadata",
	  NULL },
	{ "read-only", 0, OPT_BOOL, "false", 0, "allow lookup/read operations only", NULL },
	{ "no-bgjob", 0, OPT_BOOL, "false", 0,
	  "disable background jobs (clean-up, backup, etc.)", NULL },
	{ "heartbeat", 0, OPT_DURATION, "12s", 0,
	  "interval (in seconds) to send heartbeat; it's recommended that all clients use the "
	  "same heartbeat value",
	  NULL },
	{ "atime-mode", 0, OPT_STRING, "noatime", 0,
	  "when to update atime, supported mode includes: noatime, relatime, strictatime", NULL },
	{ "skip-dir-mtime", 0, OPT_DURATION, "100ms", 0,
	  "skip updating attribute of a directory if the mtime difference is smaller than this "
	  "value",
	  NULL },
	{ "attr-cache", 0, OPT_DURATION, "1s", 0, "attributes cache timeout", NULL },
	{ "entry-cache", 0, OPT_DURATION, "1s", 0, "file entry cache timeout", NULL },
	{ "dir-entry-cache", 0, OPT_DURATION, "1s", 0, "dir entry cache timeout", NULL },
	{ "negative-entry-cache", 0, OPT_DURATION, "0s", 0,
	  "cache timeout for negative entry lookup", NULL },
	{ "open-cache", 0, OPT_DURATION, "0s", 0,
	  "open files cache timeout (0 means disable this feature)", NULL },
	{ "storage", 0, OPT_STRING, NULL, 0, "customized storage type (e.g. file) to access object "
	  "store",
	  NULL },
	{ "bucket", 0, OPT_STRING, NULL, 0, "customized endpoint to access object store", NULL },
	{ "io-retries", 0, OPT_INT, "10", 0, "number of retries after network failure", NULL },
	{ "max-uploads", 0, OPT_INT, "20", 0, "number of connections to upload", NULL },
	{ "max-downloads", 0, OPT_INT, "200", 0, "number of connections to download", NULL },
	{ "buffer-size", 0, OPT_SIZE, "300M", 1ULL << 20,
	  "total read/write buffering in MiB", NULL },
	{ "prefetch", 0, OPT_INT, "1", 0,
	  "prefetch N blocks in parallel (readahead: at least 4 threads, "
	  "encrypted volumes one per CPU)", NULL },
	{ "writeback", 0, OPT_BOOL, "false", 0,
	  "upload blocks in background: they are written durably to the cache dir's "
	  "rawstaging/ first, and uploaded by the next start after a crash",
	  NULL },
	{ "upload-delay", 0, OPT_DURATION, "0s", 0,
	  "delayed duration for uploading blocks (with --writeback)", NULL },
	{ "cache-dir", 0, OPT_STRING, NULL, 0,
	  "directory paths of local cache, use colon to separate multiple paths (default: "
	  "\"/var/jfsCache\" for root, \"$HOME/.juicefs/cache\" otherwise; \"none\" = off)",
	  NULL },
	{ "cache-size", 0, OPT_SIZE, "100G", 1ULL << 20, "size of cached object for read in MiB",
	  NULL },
	{ "free-space-ratio", 0, OPT_STRING, "0.1", 0, "min free space (ratio)", NULL },
	{ "metrics", 0, OPT_STRING, "127.0.0.1:9567", 0,
	  "address to export metrics", NULL },
	{ "no-usage-report", 0, OPT_BOOL, "false", 0,
	  "accepted for compatibility; this build never reports usage", NULL },
};

const struct conf_cmd cmd_mount_conf = {
	.name = "mount",
	.usage = "juicefs mount [command options] META-URL MOUNTPOINT",
	.summary = "Mount a volume",
	.description =
		"Mount the target volume at the mount point.\n"
		"\n"
		"Examples:\n"
		"# Mount in foreground\n"
		"$ juicefs mount sqlite3://myjfs.db /mnt/jfs\n"
		"\n"
		"# Mount in background\n"
		"$ juicefs mount sqlite3://myjfs.db /mnt/jfs -d\n"
		"\n"
		"# Mount with extended attributes and a sub-directory\n"
		"$ juicefs mount sqlite3://myjfs.db /mnt/jfs --enable-xattr --subdir /projects\n"
		"\n"
		"# Mount a volume whose metadata is in PostgreSQL\n"
		"$ juicefs mount \"postgres://jfs:secret@127.0.0.1:5432/jfs?sslmode=disable\" /mnt/jfs",
	.opts = mount_opts,
	.nopts = ARRAY_SIZE(mount_opts),
	.min_args = 2,
	.max_args = 2,
};

static const struct conf_opt umount_opts[] = {
	{ "force", 'f', OPT_BOOL, "false", 0, "force unmount a busy mount point", NULL },
	{ "flush", 0, OPT_BOOL, "false", 0,
	  "accepted for compatibility: the mount process uploads the staged blocks that are "
	  "due before it exits; delayed ones are uploaded by the next start",
	  NULL },
};

const struct conf_cmd cmd_umount_conf = {
	.name = "umount",
	.usage = "juicefs umount [command options] MOUNTPOINT",
	.summary = "Unmount a volume",
	.description = "Examples:\n$ juicefs umount /mnt/jfs",
	.opts = umount_opts,
	.nopts = ARRAY_SIZE(umount_opts),
	.min_args = 1,
	.max_args = 1,
};

#define OPT(name) conf_get(&cmd_mount_conf, &p, name)

/* The mountpoint must exist and not be a FUSE mount already (alive or crashed). */
static int check_mountpoint(const char *mp)
{
	struct statfs sf;
	struct stat st;

	if (stat(mp, &st)) {
		if (errno == ENOTCONN)
			cmd_fatal("mountpoint %s is not connected (a crashed mount): run `juicefs "
				  "umount --force %s` first",
				  mp, mp);
		else
			cmd_fatal("mountpoint %s: %s", mp, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		cmd_fatal("mountpoint %s is not a directory", mp);
		return -1;
	}
	if (statfs(mp, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC && st.st_ino == 1) {
		cmd_fatal("mountpoint %s is busy: a FUSE file system is already mounted there", mp);
		return -1;
	}
	return 0;
}

static char *metrics_addr; /* bound by cmd_metrics_start, for .config */

static char *config_json(const struct fs *fs, const char *mp, const struct conf_parsed *pp,
			 const struct mnt_conf *mc, const struct fs_conf *fc)
{
	const struct conf_parsed p = *pp;
	char *pretty = cmd_format_pretty(fs_format(fs));
	json_t *o = json_object(), *meta = json_object(), *chunk = json_object();
	json_t *fmt = pretty ? json_loads(pretty, 0, NULL) : NULL;
	char *out;

	json_object_set_new(meta, "ReadOnly", json_boolean(fc->meta.read_only));
	json_object_set_new(meta, "NoBGJob", json_boolean(fc->no_bgjob));
	json_object_set_new(meta, "Heartbeat", json_real((double)fc->meta.heartbeat_ms / 1000));
	json_object_set_new(meta, "MountPoint", json_string(mp));
	json_object_set_new(meta, "Subdir", json_string(mc->subdir ? mc->subdir : ""));
	json_object_set_new(meta, "AtimeMode", json_string(OPT("atime-mode")->str));
	json_object_set_new(o, "BackupMeta", json_real((double)OPT("backup-meta")->i / 1000));
	json_object_set_new(o, "BackupSkipTrash", json_boolean(OPT("backup-skip-trash")->i));
	json_object_set_new(o, "Meta", meta);
	json_object_set_new(o, "Format", fmt ? fmt : json_object());
	json_object_set_new(chunk, "CacheDir",
			    json_string(fc->cache_dir ? fc->cache_dir : "(default)"));
	json_object_set_new(chunk, "CacheSize", json_integer((json_int_t)fc->cache_size));
	json_object_set_new(chunk, "BufferSize", json_integer((json_int_t)fc->buffer_size));
	json_object_set_new(chunk, "MaxUpload", json_integer(fc->max_uploads));
	json_object_set_new(chunk, "MaxDownload", json_integer(fc->max_downloads));
	json_object_set_new(chunk, "Prefetch", json_integer(fc->prefetch));
	json_object_set_new(chunk, "MaxRetries", json_integer(fc->io_retries));
	json_object_set_new(chunk, "Writeback", json_boolean(fc->writeback));
	json_object_set_new(chunk, "UploadDelay",
			    json_integer((json_int_t)fc->upload_delay_ms * 1000000));
	json_object_set_new(o, "Chunk", chunk);
	json_object_set_new(o, "Version", json_string(JFS_VERSION));
	json_object_set_new(o, "AttrTimeout", json_real(mc->attr_timeout));
	json_object_set_new(o, "EntryTimeout", json_real(mc->entry_timeout));
	json_object_set_new(o, "DirEntryTimeout", json_real(mc->dir_entry_timeout));
	json_object_set_new(o, "NegEntryTimeout", json_real(mc->negative_timeout));
	json_object_set_new(o, "EnableXattr", json_boolean(mc->enable_xattr));
	json_object_set_new(o, "FuseOpts", json_string(mc->fuse_opts ? mc->fuse_opts : ""));
	if (metrics_addr) { /* JuiceFS's Port.PrometheusAgent: where this mount serves /metrics */
		json_t *port = json_object();
		json_object_set_new(port, "PrometheusAgent", json_string(metrics_addr));
		json_object_set_new(o, "Port", port);
	}
	json_object_set_new(o, "Pid", json_integer(getpid()));
	json_object_set_new(o, "PPid", json_integer(getppid()));
	json_object_set_new(o, "Mountpoint", json_string(mp));
	out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	free(pretty);
	return out;
}

/* Report to the waiting parent: status byte, then the message. */
static void notify(int fd, int ok, const char *msg)
{
	char st = ok ? 0 : 1;

	if (fd < 0)
		return;
	if (write(fd, &st, 1) == 1 && msg && *msg) {
		size_t n = strlen(msg);
		if (write(fd, msg, n) != (ssize_t)n)
			log_warn("could not report the mount error to the parent");
	}
	close(fd);
}

/* Parent of -d: wait for the child's verdict. */
static int wait_child(int fd, pid_t pid)
{
	struct buf msg = BUF_INIT;
	char st = 1, tmp[512];
	ssize_t n;
	int got = 0;

	while ((n = read(fd, &st, 1)) < 0 && errno == EINTR)
		;
	got = n == 1;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			buf_add(&msg, tmp, (size_t)n);
	close(fd);
	if (got && st == 0) {
		buf_release(&msg);
		return 0;
	}
	if (!got) {
		int status = 0;
		waitpid(pid, &status, 0);
		cmd_fatal("the mount process exited before the mount was ready (status %d)",
			  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	} else {
		cmd_fatal("%s", msg.len ? msg.ptr : "mount failed");
	}
	buf_release(&msg);
	return 1;
}

static int redirect_log(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd, r = 0;

	if (slash && slash != dir) {
		*slash = 0;
		mkdir_p(dir, 0755);
	}
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Signals. SIGTERM, SIGINT and SIGHUP are blocked in every thread (before
 * fs_open starts any) and taken by one thread in sigwait. It stops the mount
 * (mnt_stop: the mountpoint is released at once, the requests in flight are
 * answered, then the loop returns) and gives the orderly shutdown that
 * follows (open files committed, fs_close flushing and closing the session)
 * STOP_GRACE_MS. Past that it ends the process: an operation still inside a
 * transaction never reaches its commit, which the engines roll back whole
 * (Redis discards a MULTI without EXEC when the connection goes; SQLite an
 * uncommitted WAL transaction), and the rest is a crash's: the session
 * expires and its leftovers are cleaned as JuiceFS does.
 */
#define STOP_GRACE_MS 5000

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	sigset_t set;
	struct mnt *m; /* while mnt_serve may run; under mu */
	int signalled, done;
} stopper = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *stopper_main(void *arg)
{
	int64_t deadline;
	int sig = 0;

	(void)arg;
	if (sigwait(&stopper.set, &sig))
		return NULL;
	log_info("received signal %d, unmounting and exiting", sig);
	pthread_mutex_lock(&stopper.mu);
	stopper.signalled = 1;
	deadline = mono_ms() + STOP_GRACE_MS;
	while (!stopper.done && mono_ms() < deadline) {
		struct timespec ts;

		/* again every 100 ms: the loop may not have been waiting yet */
		if (stopper.m)
			mnt_stop(stopper.m);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&stopper.cond, &stopper.mu, &ts);
	}
	if (!stopper.done) {
		log_warn("still busy %d ms after signal %d: exiting; transactions in flight "
			 "roll back",
			 STOP_GRACE_MS, sig);
		fflush(NULL);
		_exit(1);
	}
	pthread_mutex_unlock(&stopper.mu);
	return NULL;
}

static void stopper_start(void)
{
	pthread_t t;

	sigemptyset(&stopper.set);
	sigaddset(&stopper.set, SIGTERM);
	sigaddset(&stopper.set, SIGINT);
	sigaddset(&stopper.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stopper.set, NULL);
	if (pthread_create(&t, NULL, stopper_main, NULL) == 0)
		pthread_detach(t);
	else
		pthread_sigmask(SIG_UNBLOCK, &stopper.set, NULL);
}

/* m serves (or NULL: no longer); returns 1 when a signal came first. */
static int stopper_set(struct mnt *m)
{
	int sig;

	pthread_mutex_lock(&stopper.mu);
	stopper.m = m;
	sig = stopper.signalled;
	pthread_mutex_unlock(&stopper.mu);
	return sig;
}

static void stopper_done(void)
{
	pthread_mutex_lock(&stopper.mu);
	stopper.m = NULL;
	stopper.done = 1;
	pthread_cond_broadcast(&stopper.cond);
	pthread_mutex_unlock(&stopper.mu);
}

int cmd_mount(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct fs_conf fc;
	struct mnt_conf mc;
	struct cmd_backup bk = { 0 };
	struct buf err = BUF_INIT, tmp = BUF_INIT;
	struct fs *fs = NULL;
	struct mnt *m = NULL;
	char mp[PATH_MAX], *cfg = NULL, *fsname = NULL;
	const char *url, *atime;
	int ret = 1, r, pfd[2] = { -1, -1 }, wfd = -1;

	r = cmd_parse(&cmd_mount_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	url = p.args[0];
	if (!realpath(p.args[1], mp)) {
		cmd_fatal("mountpoint %s: %s", p.args[1], strerror(errno));
		goto out;
	}
	if (check_mountpoint(mp))
		goto out;

	if (cmd_client_conf(&cmd_mount_conf, &p, mp, &fc) ||
	    cmd_backup_conf(&cmd_mount_conf, &p, &bk))
		goto out;
	fc.meta.skip_dir_mtime_ms = OPT("skip-dir-mtime")->i;
	atime = OPT("atime-mode")->str;
	if (!strcmp(atime, "noatime")) {
		fc.meta.atime_mode = META_NOATIME;
	} else if (!strcmp(atime, "relatime")) {
		fc.meta.atime_mode = META_RELATIME;
	} else if (!strcmp(atime, "strictatime")) {
		fc.meta.atime_mode = META_STRICTATIME;
	} else {
		cmd_fatal("invalid atime-mode \"%s\": use noatime, relatime or strictatime", atime);
		goto out;
	}

	mnt_conf_defaults(&mc);
	mc.mountpoint = mp;
	mc.fuse_opts = OPT("o")->str;
	mc.attr_timeout = (double)OPT("attr-cache")->i / 1000;
	mc.entry_timeout = (double)OPT("entry-cache")->i / 1000;
	mc.dir_entry_timeout = (double)OPT("dir-entry-cache")->i / 1000;
	mc.negative_timeout = (double)OPT("negative-entry-cache")->i / 1000;
	mc.open_cache = OPT("open-cache")->i > 0;
	mc.enable_xattr = (int)OPT("enable-xattr")->i;
	mc.enable_ioctl = (int)OPT("enable-ioctl")->i;
	mc.read_only = fc.meta.read_only;
	mc.hide_internal = (int)OPT("hide-internal")->i;
	mc.subdir = OPT("subdir")->str;

	if (OPT("background")->i) {
		const char *log = OPT("log")->str;
		pid_t pid;

		if (!log) {
			const char *home = getenv("HOME");
			if (getuid() == 0) {
				log = "/var/log/juicefs.log";
			} else {
				buf_addf(&tmp, "%s/.juicefs/juicefs.log", home ? home : "/tmp");
				log = tmp.ptr;
			}
		}
		if (pipe2(pfd, O_CLOEXEC)) {
			cmd_fatal("pipe: %s", strerror(errno));
			goto out;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			cmd_fatal("fork: %s", strerror(errno));
			goto out;
		}
		if (pid > 0) {
			close(pfd[1]);
			pfd[1] = -1;
			ret = wait_child(pfd[0], pid);
			pfd[0] = -1;
			goto out;
		}
		close(pfd[0]);
		pfd[0] = -1;
		wfd = pfd[1];
		pfd[1] = -1;
		setsid();
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			close(nul);
		}
		if ((r = redirect_log(log))) {
			buf_addf(&err, "open log file %s: %s", log, strerror(-r));
			notify(wfd, 0, err.ptr);
			wfd = -1;
			ret = 1;
			goto out;
		}
	}

	stopper_start();
	if ((r = fs_open(url, &fc, &fs, &err))) {
		if (!err.len)
			buf_addf(&err, "open %s: %s", url, strerror(-r));
		goto fail;
	}
	cmd_backup_start(fs, &bk);
	metrics_addr = cmd_metrics_start(OPT("metrics"), fs, mp);
	{
		static const char *const subdir[] = { "subdir", NULL };
		metric_set(metric_child(metric_family(METRIC_GAUGE, "juicefs_subdir_info",
						      "Subdir configuration for JuiceFS mount "
						      "(empty string means root mount)",
						      1, subdir, NULL, 0),
					mc.subdir ? mc.subdir : ""),
			   1);
	}
	fsname = xasprintf("JuiceFS:%s", fs_format(fs)->name);
	mc.fsname = fsname;
	cfg = config_json(fs, mp, &p, &mc, &fc);
	mc.config_json = cfg;
	if ((r = mnt_new(fs, &mc, &m, &err)))
		goto fail;
	log_info("OK, %s is ready at %s", fs_format(fs)->name, mp);
	notify(wfd, 1, NULL);
	wfd = -1;
	if (stopper_set(m))
		mnt_stop(m);
	r = mnt_serve(m);
	stopper_set(NULL);
	mnt_free(m);
	m = NULL;
	cmd_metrics_stop(fs);
	fs_close(fs);
	fs = NULL;
	ret = r ? 1 : 0;
	goto out;
fail:
	if (wfd >= 0) {
		log_error("%s", err.ptr);
		notify(wfd, 0, err.ptr);
		wfd = -1;
	} else {
		cmd_fatal("%s", err.ptr);
	}
	ret = 1;
out:
	mnt_free(m);
	if (fs)
		cmd_metrics_stop(fs);
	fs_close(fs);
	free(metrics_addr);
	metrics_addr = NULL;
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(cfg);
	free(fsname);
	buf_release(&err);
	buf_release(&tmp);
	conf_parsed_release(&p);
	stopper_done();
	return ret;
}

/* fusermount3 -u [-z] MP, for users who may not call umount2. */
static int run_fusermount(const char *mp, int lazy)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (lazy)
			execlp("fusermount3", "fusermount3", "-u", "-z", mp, (char *)NULL);
		else
			execlp("fusermount3", "fusermount3", "-u", mp, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EBUSY;
}

int cmd_umount(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	const char *mp;
	int ret = 1, r, force;

	r = cmd_parse(&cmd_umount_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	mp = p.args[0];
	force = (int)conf_get(&cmd_umount_conf, &p, "force")->i;
	r = umount2(mp, force ? MNT_FORCE : 0) ? -errno : 0;
	if (r == -EBUSY && force)
		r = umount2(mp, MNT_DETACH) ? -errno : 0;
	if (r == -EPERM)
		r = run_fusermount(mp, force);
	if (r) {
		cmd_fatal("umount %s: %s", mp, strerror(-r));
		goto out;
	}
	ret = 0;
out:
	conf_parsed_release(&p);
	return ret;
}
