/*
 * fsbench: the load generator of bench/fscore-bench.sh. One process runs one
 * phase, so that its peak RSS (VmHWM) belongs to that phase alone.
 *
 *   fsbench META seqwrite PATH MIB        write MIB MiB sequentially in 1 MiB calls
 *   fsbench META seqread PATH             read the whole file in 1 MiB calls
 *   fsbench META smallwrite DIR N SIZE    create N files of SIZE bytes in DIR
 *   fsbench META smallread DIR N          open, read and close those N files
 *   fsbench --local DIR <phase> ...       the same phases with POSIX calls on a
 *                                         local directory (the disk peer); files
 *                                         are fsync'ed as ours fsyncs objects
 *
 * Output, one line: "<phase> bytes=B ops=N secs=S mibps=X opsps=Y vmhwm_kib=K".
 * fs.h is configured as a benchmark wants it: no disk cache (reads go to the
 * object store), the default buffer size, upload pool and readahead.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "fscore/fs.h"
#include "meta/meta.h"

#define IO (1U << 20)

static uint64_t vmhwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmHWM:", 6)) {
			char *p = line + 6, *e;

			while (*p == ' ' || *p == '\t')
				p++;
			e = p;
			while (*e >= '0' && *e <= '9')
				e++;
			*e = 0;
			if (parse_u64(p, &v))
				v = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *phase, uint64_t bytes, uint64_t ops, double secs)
{
	printf("%s bytes=%llu ops=%llu secs=%.3f mibps=%.1f opsps=%.1f vmhwm_kib=%llu\n", phase,
	       (unsigned long long)bytes, (unsigned long long)ops, secs,
	       (double)bytes / (1 << 20) / secs, (double)ops / secs,
	       (unsigned long long)vmhwm_kib());
}

static void fill(char *p, size_t n)
{
	uint64_t s = 0x9E3779B97F4A7C15ULL;

	for (size_t i = 0; i < n; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(p + i, &s, MIN((size_t)8, n - i));
	}
}

static int die(const char *what, const char *name, int r)
{
	fprintf(stderr, "fsbench: %s %s: %s\n", what, name, strerror(r < 0 ? -r : r));
	return 1;
}

/* ------------------------------------------------------------ through fs.h */

static int fs_create_path(struct fs *fs, const char *path, struct fs_file **fh)
{
	struct meta_ctx c;
	const char *slash = strrchr(path, '/');
	uint64_t parent = META_ROOT_INODE, ino;
	int r;

	meta_ctx_root(&c);
	if (!fs_resolve(fs, &c, path, &ino, NULL))
		return fs_open_file(fs, &c, ino, O_WRONLY | O_TRUNC, fh, NULL);
	if (slash != path) {
		char *dir = xmemdup(path, (size_t)(slash - path));

		r = fs_mkdir_p(fs, &c, dir, 0755, &parent);
		free(dir);
		if (r)
			return r;
	}
	return fs_create(fs, &c, parent, slash + 1, 0644, 022, O_WRONLY, fh, NULL, NULL);
}

static int ours(const char *url, int argc, char **argv)
{
	struct fs_conf fc;
	struct fs *fs = NULL;
	struct buf err = BUF_INIT;
	struct meta_ctx c;
	const char *phase = argv[0];
	char *buf = xmalloc(IO);
	uint64_t bytes = 0, ops = 0, n = 0, size = 0;
	double t0;
	int r;

	fill(buf, IO);
	meta_ctx_root(&c);
	fs_conf_defaults(&fc);
	fc.cache_dir = "none";
	fc.meta.mount_point = "fsbench";
	/* knobs for experiments; the bench script keeps the defaults */
	if (getenv("FSBENCH_PREFETCH") && !parse_u64(getenv("FSBENCH_PREFETCH"), &n))
		fc.prefetch = (int)n;
	n = 0;
	r = fs_open(url, &fc, &fs, &err);
	if (r) {
		fprintf(stderr, "fsbench: open %s: %s\n", url, err.ptr);
		return 1;
	}
	t0 = mono_s();
	if (!strcmp(phase, "seqwrite") && argc == 3 && !parse_u64(argv[2], &n)) {
		struct fs_file *fh;

		if ((r = fs_create_path(fs, argv[1], &fh)))
			return die("create", argv[1], r);
		for (uint64_t i = 0; i < n; i++) {
			ssize_t w = fs_write(fh, i * IO, buf, IO);

			if (w != IO)
				return die("write", argv[1], w < 0 ? (int)w : EIO);
			bytes += IO;
		}
		if ((r = fs_release(fh)))
			return die("close", argv[1], r);
		ops = n;
	} else if (!strcmp(phase, "seqread") && argc == 2) {
		struct fs_file *fh;
		struct meta_attr a;
		uint64_t ino;

		if ((r = fs_resolve(fs, &c, argv[1], &ino, NULL)) ||
		    (r = fs_open_file(fs, &c, ino, O_RDONLY, &fh, &a)))
			return die("open", argv[1], r);
		while (bytes < a.length) {
			ssize_t got = fs_read(fh, bytes, buf, IO);

			if (got <= 0)
				return die("read", argv[1], got < 0 ? (int)got : EIO);
			bytes += (uint64_t)got;
			ops++;
		}
		fs_release(fh);
	} else if (!strcmp(phase, "smallwrite") && argc == 4 && !parse_u64(argv[2], &n) &&
		   !parse_u64(argv[3], &size) && size <= IO) {
		for (uint64_t i = 0; i < n; i++) {
			char path[512];
			struct fs_file *fh;

			snprintf(path, sizeof(path), "%s/f%06llu", argv[1], (unsigned long long)i);
			if ((r = fs_create_path(fs, path, &fh)))
				return die("create", path, r);
			if (fs_write(fh, 0, buf, size) != (ssize_t)size)
				return die("write", path, EIO);
			if ((r = fs_release(fh)))
				return die("close", path, r);
			bytes += size;
		}
		ops = n;
	} else if (!strcmp(phase, "smallread") && argc == 3 && !parse_u64(argv[2], &n)) {
		for (uint64_t i = 0; i < n; i++) {
			char path[512];
			struct fs_file *fh;
			struct meta_attr a;
			uint64_t ino;
			ssize_t got;

			snprintf(path, sizeof(path), "%s/f%06llu", argv[1], (unsigned long long)i);
			if ((r = fs_resolve(fs, &c, path, &ino, NULL)) ||
			    (r = fs_open_file(fs, &c, ino, O_RDONLY, &fh, &a)))
				return die("open", path, r);
			got = fs_read(fh, 0, buf, IO);
			if (got < 0 || (uint64_t)got != a.length)
				return die("read", path, EIO);
			fs_release(fh);
			bytes += (uint64_t)got;
		}
		ops = n;
	} else {
		fprintf(stderr, "fsbench: bad arguments for phase %s\n", phase);
		return 2;
	}
	report(phase, bytes, ops, mono_s() - t0);
	fs_close(fs);
	buf_release(&err);
	free(buf);
	return 0;
}

/* ------------------------------------------------------------ local peer */

static int local(const char *dir, int argc, char **argv)
{
	const char *phase = argv[0];
	char *buf = xmalloc(IO), path[1024];
	uint64_t bytes = 0, ops = 0, n = 0, size = 0;
	double t0;
	int fd;

	fill(buf, IO);
	mkdir(dir, 0755);
	t0 = mono_s();
	if (!strcmp(phase, "smallwrite") && argc == 4 && !parse_u64(argv[2], &n) &&
	    !parse_u64(argv[3], &size) && size <= IO) {
		snprintf(path, sizeof(path), "%s/%s", dir, argv[1]);
		mkdir(path, 0755);
		for (uint64_t i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s/f%06llu", dir, argv[1],
				 (unsigned long long)i);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || write(fd, buf, size) != (ssize_t)size || fsync(fd))
				return die("write", path, errno);
			close(fd);
			bytes += size;
		}
		ops = n;
	} else if (!strcmp(phase, "smallread") && argc == 3 && !parse_u64(argv[2], &n)) {
		for (uint64_t i = 0; i < n; i++) {
			ssize_t got;

			snprintf(path, sizeof(path), "%s/%s/f%06llu", dir, argv[1],
				 (unsigned long long)i);
			fd = open(path, O_RDONLY);
			if (fd < 0 || (got = read(fd, buf, IO)) < 0)
				return die("read", path, errno);
			close(fd);
			bytes += (uint64_t)got;
		}
		ops = n;
	} else {
		fprintf(stderr, "fsbench: bad arguments for local phase %s\n", phase);
		return 2;
	}
	report(phase, bytes, ops, mono_s() - t0);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	log_set_level(LOG_WARNING);
	if (argc >= 4 && !strcmp(argv[1], "--local"))
		return local(argv[2], argc - 3, argv + 3);
	if (argc >= 4)
		return ours(argv[1], argc - 2, argv + 2);
	fprintf(stderr, "usage: fsbench META seqwrite PATH MIB | seqread PATH | "
			"smallwrite DIR N SIZE | smallread DIR N\n"
			"       fsbench --local DIR smallwrite SUB N SIZE | smallread SUB N\n");
	return 2;
}
