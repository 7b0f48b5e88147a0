/*
 * fuse/mnt.h: the FUSE door (DESIGN §9). Serves one struct fs through
 * libfuse3's low-level API; FUSE inode numbers are JuiceFS inodes (the
 * --subdir directory is shown as the FUSE root).
 *
 * Lifecycle: mnt_new mounts (after it returns 0 the kernel mount exists and
 * requests queue until mnt_serve runs), mnt_serve handles requests until the
 * file system is unmounted or mnt_stop is called (cmd/mount.c does on
 * SIGTERM/SIGINT/SIGHUP, taken by its own thread), mnt_free
 * unmounts (if still mounted) and frees. The caller closes the fs afterwards,
 * which flushes what is left.
 */
#ifndef JFS_MNT_H
#define JFS_MNT_H

#include "base/base.h"
#include "fscore/fs.h"

struct mnt;

struct mnt_conf {
	const char *mountpoint;
	const char *fsname;      /* shown by mount(8), e.g. "JuiceFS:myjfs" */
	const char *fuse_opts;   /* -o, comma separated; NULL = none */
	double attr_timeout;     /* --attr-cache, seconds (1) */
	double entry_timeout;    /* --entry-cache (1) */
	double dir_entry_timeout; /* --dir-entry-cache (1) */
	double negative_timeout; /* --negative-entry-cache (0) */
	int open_cache;          /* --open-cache > 0: keep the kernel page cache across opens */
	int enable_xattr;        /* --enable-xattr */
	int enable_ioctl;        /* --enable-ioctl */
	int read_only;           /* --read-only: mounted "ro" */
	int hide_internal;       /* --hide-internal: no .stats/.config/... in the root */
	const char *subdir;      /* --subdir; NULL or "" = the volume root */
	const char *config_json; /* content of .config (built by the command) */
	int single_thread;       /* debugging: one request at a time */
};
void mnt_conf_defaults(struct mnt_conf *c);

/* Mount; err gets a one-line reason on failure. */
int mnt_new(struct fs *fs, const struct mnt_conf *c, struct mnt **out, struct buf *err);
/* Serve until unmounted or signalled; 0 or -errno. */
int mnt_serve(struct mnt *m);
/*
 * Stop serving, from any thread (a signal thread), while mnt_serve runs or
 * before: detaches the mountpoint at once and makes mnt_serve return once
 * the requests in flight are answered (each one's transaction commits or
 * rolls back whole). Idempotent; each call interrupts mnt_serve's wait again.
 * Does not free: the caller calls mnt_free after mnt_serve returned.
 */
void mnt_stop(struct mnt *m);
/* Unmount if still mounted, free. NULL-safe. */
void mnt_free(struct mnt *m);

#endif
