/*
 * t/unit/testhelp: small helpers shared by the Check unit tests.
 * Add functions here; do not rewrite other people's.
 */
#ifndef JFS_TESTHELP_H
#define JFS_TESTHELP_H

#include <sys/types.h>

#include "base/base.h"

/* mkdtemp under $TMPDIR (or /tmp) named jfs-<tag>-XXXXXX; caller frees. NULL on error. */
char *test_tmpdir(const char *tag);
/*
 * A test_tmpdir(tag) with fstype (mount options opts, may be NULL) mounted
 * on it in a private mount namespace, so the mount vanishes with this forked
 * test process whatever happens; the caller umounts, rmdirs and frees it.
 * NULL, with a "tag: skipped (...)" line, when the test cannot mount here
 * (no CAP_SYS_ADMIN, or CK_FORK=no, where the namespace would outlive it).
 */
char *test_private_mount(const char *tag, const char *fstype, const char *opts);
/* rm -rf path (does not follow symlinks); NULL is a no-op. 0 or -errno. */
int test_rm_rf(const char *path);

/*
 * A private redis-server on 127.0.0.1 (no persistence), for the Redis engine
 * tests. start: port 0 picks a free one; -ENOENT when redis-server is not
 * installed. The server is also stopped at exit of the starting process.
 */
struct test_redis {
	int port;
	pid_t pid;
	char *dir;
	int persist; /* set before start: append-only file, fsync always (restart tests) */
};
int test_redis_start(struct test_redis *r, int port);
void test_redis_stop(struct test_redis *r); /* by PID; keeps dir (a restart reuses it) */
/* One command in inline form (e.g. "FLUSHALL"); 0 when the reply is +OK-like. */
int test_redis_cmd(int port, const char *cmd);

#endif
