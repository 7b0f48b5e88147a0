/*
 * t/fuzz/replay.c: a corpus as a regression test, without libFuzzer.
 *
 *   replay-<target> [DIR|FILE]...
 *
 * Linked with one fuzz-<target>.c, it feeds every file under the given
 * paths (default: $JFS_SRCDIR/t/fuzz/corpus/<target>, the target's name
 * being this program's name after "replay-") to LLVMFuzzerTestOneInput.
 * Each input runs in a child process under an alarm, so one crash, abort
 * (a broken contract, ASan, UBSan) or hang is reported by file name and the
 * rest still run. The summary line has Check's shape so scripts/test.sh
 * counts it like a unit test: one check per input; a broken contract is a
 * failure, any other death or a timeout an error. Exit status 0 only when
 * every input passed and the corpus was not empty.
 */
#include "t/fuzz/fuzz.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Seconds one input may take; a parser that needs more hangs. */
#define REPLAY_TIMEOUT_S 20

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

struct tally {
	unsigned checks, failures, errors;
};

static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;
	int r = 0;

	if (!f)
		return -errno;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	if (ferror(f))
		r = -EIO;
	fclose(f);
	/* An exact-size copy, so ASan sees a read past the input's end. */
	*len = b.len;
	*out = xmalloc(b.len ? b.len : 1);
	memcpy(*out, b.ptr, b.len);
	buf_release(&b);
	if (r) {
		free(*out);
		*out = NULL;
	}
	return r;
}

static void run_one(const char *path, struct tally *t)
{
	uint8_t *data;
	size_t len;
	pid_t pid;
	int st, r;

	t->checks++;
	if ((r = read_file(path, &data, &len))) {
		printf("%s:0:E:read: %s\n", path, strerror(-r));
		t->errors++;
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("%s:0:E:fork: %s\n", path, strerror(errno));
		t->errors++;
		free(data);
		return;
	}
	if (pid == 0) {
		alarm(REPLAY_TIMEOUT_S);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		/* exit, not _exit: LeakSanitizer reports what the parser leaked. */
		exit(0);
	}
	free(data);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) {
		printf("%s:0:F:contract: aborted (see the message above)\n", path);
		t->failures++;
	} else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
		printf("%s:0:E:timeout: no answer in %d s\n", path, REPLAY_TIMEOUT_S);
		t->errors++;
	} else if (WIFSIGNALED(st)) {
		printf("%s:0:E:signal: %s\n", path, strsignal(WTERMSIG(st)));
		t->errors++;
	} else {
		/* ASan and UBSan (halt_on_error) exit with a status of their own. */
		printf("%s:0:E:exit: status %d\n", path, WEXITSTATUS(st));
		t->errors++;
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path, struct tally *t)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	if (stat(path, &sb)) {
		printf("%s:0:E:stat: %s\n", path, strerror(errno));
		t->checks++;
		t->errors++;
		return;
	}
	if (!S_ISDIR(sb.st_mode)) {
		run_one(path, t);
		return;
	}
	if (!(d = opendir(path))) {
		printf("%s:0:E:opendir: %s\n", path, strerror(errno));
		t->checks++;
		t->errors++;
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xasprintf("%s/%s", path, e->d_name);
	}
	closedir(d);
	/* Directory order is the file system's: sort so runs read alike. */
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		run_path(names[i], t);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	struct tally t = { 0, 0, 0 };
	const char *me = strrchr(argv[0], '/');
	const char *target;
	unsigned pass;

	me = me ? me + 1 : argv[0];
	/* libtool-style wrappers prefix "lt-"; automake runs the binary itself. */
	target = !strncmp(me, "replay-", 7) ? me + 7 : me;
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			run_path(argv[i], &t);
	} else {
		const char *src = getenv("JFS_SRCDIR");
		char *dir = xasprintf("%s/t/fuzz/corpus/%s", src && *src ? src : ".", target);

		printf("Running corpus %s\n", dir);
		run_path(dir, &t);
		free(dir);
	}
	pass = t.checks - t.failures - t.errors;
	printf("%u%%: Checks: %u, Failures: %u, Errors: %u\n",
	       t.checks ? 100 * pass / t.checks : 0, t.checks, t.failures, t.errors);
	return t.checks && pass == t.checks ? 0 : 1;
}
