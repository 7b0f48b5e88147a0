/*
 * Helpers shared by the unit tests (see testhelp.h). Keep them generic: a
 * helper that only one module needs belongs in that module's check file.
 */
#include "t/unit/testhelp.h"

#include <check.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

char *test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = xasprintf("%s/jfs-%s-XXXXXX", base && *base ? base : "/tmp", tag);

	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

char *test_private_mount(const char *tag, const char *fstype, const char *opts)
{
	char *dir = test_tmpdir(tag);
	const char *fork_mode = getenv("CK_FORK");

	ck_assert_ptr_nonnull(dir);
	if (fork_mode && !strcmp(fork_mode, "no")) {
		/* The mount namespace would outlive the test in the runner itself. */
		printf("%s: skipped (needs Check's fork mode)\n", tag);
	} else if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		   mount(fstype, dir, fstype, 0, opts)) {
		printf("%s: skipped (cannot mount a %s: %s)\n", tag, fstype, strerror(errno));
	} else {
		return dir;
	}
	rmdir(dir);
	free(dir);
	return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	UNUSED(st);
	UNUSED(ftw);
	if (flag == FTW_DP ? rmdir(path) : unlink(path))
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

int test_rm_rf(const char *path)
{
	if (!path)
		return 0;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------- private redis-server ---------------- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static pid_t redis_pids[8];
static pid_t redis_owner;

static void redis_atexit(void)
{
	if (getpid() != redis_owner)
		return; /* a forked test child: the server is not ours to stop */
	for (size_t i = 0; i < ARRAY_SIZE(redis_pids); i++)
		if (redis_pids[i] > 0) {
			kill(redis_pids[i], SIGTERM);
			waitpid(redis_pids[i], NULL, 0);
		}
}

static char *find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy = xstrdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL, *d;
	char *found = NULL;

	for (d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, prog);
		if (!access(p, X_OK))
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &al))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int test_redis_cmd(int port, const char *cmd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char line[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0), ret = -EIO;
	ssize_t n;
	char *req = xasprintf("%s\r\n", cmd);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		goto out;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	n = read(fd, line, sizeof(line) - 1);
	if (n > 0 && (line[0] == '+' || line[0] == ':'))
		ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(req);
	return ret;
}

int test_redis_start(struct test_redis *r, int port)
{
	char *bin = find_in_path("redis-server"), *portstr, *log;
	pid_t pid;

	if (!bin)
		return -ENOENT;
	if (!r->dir && !(r->dir = test_tmpdir("redis"))) {
		free(bin);
		return -EIO;
	}
	if (port <= 0)
		port = free_port();
	portstr = xasprintf("%d", port);
	log = xasprintf("%s/redis.log", r->dir);
	pid = fork();
	if (pid == 0) {
		execl(bin, bin, "--port", portstr, "--bind", "127.0.0.1", "--dir", r->dir,
		      "--save", "", "--appendonly", r->persist ? "yes" : "no", "--appendfsync",
		      "always", "--daemonize", "no", "--logfile", log, (char *)NULL);
		_exit(127);
	}
	free(bin);
	free(portstr);
	free(log);
	if (pid < 0)
		return -errno;
	r->pid = pid;
	r->port = port;
	if (!redis_owner) {
		redis_owner = getpid();
		atexit(redis_atexit);
	}
	for (size_t i = 0; i < ARRAY_SIZE(redis_pids); i++)
		if (redis_pids[i] <= 0) {
			redis_pids[i] = pid;
			break;
		}
	for (int i = 0; i < 500; i++) {
		if (!test_redis_cmd(port, "PING"))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		sleep_ms(10);
	}
	test_redis_stop(r);
	return -EIO;
}

void test_redis_stop(struct test_redis *r)
{
	if (!r || r->pid <= 0)
		return;
	kill(r->pid, SIGTERM);
	waitpid(r->pid, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(redis_pids); i++)
		if (redis_pids[i] == r->pid)
			redis_pids[i] = 0;
	r->pid = 0;
}
