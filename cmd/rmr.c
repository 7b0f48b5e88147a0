/*
 * `juicefs rmr PATH...`: remove directories recursively inside a mount, in
 * the mount process, through the control file (spec §12, message 1002).
 *
 * Also holds cmd_control_call, the client side of the control protocol that
 * rmr and warmup share: the request goes to DIR/.jfs.control (resolvable in
 * every directory of a mount); the answer is progress frames (0xFE, two
 * u64), then a final errno byte or one data frame (0xFF, u32 length, bytes),
 * which also ends the answer, as JuiceFS sends none after it.
 */
#include "cmd/cmd.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct conf_opt rmr_opts[] = {
	{ "skip-trash", 0, OPT_BOOL, "false", 0,
	  "skip trash and delete files directly (requires root)", NULL },
	{ "threads", 'p', OPT_INT, "50", 0,
	  "number of threads for delete jobs (max 255; this build removes with one)", NULL },
};

const struct conf_cmd cmd_rmr_conf = {
	.name = "rmr",
	.usage = "juicefs rmr [command options] PATH ...",
	.summary = "Remove directories recursively",
	.description = "Remove all the files and subdirectories, similar to rm -rf, except this "
		       "command deals with\nmetadata directly (bypassing kernel), thus is much "
		       "faster.\n\nExamples:\n$ juicefs rmr /mnt/jfs/foo",
	.opts = rmr_opts,
	.nopts = ARRAY_SIZE(rmr_opts),
	.min_args = 1,
	.max_args = -1,
};

int cmd_control_call(const char *dir, uint32_t cmd, const void *payload, size_t len,
		     uint64_t progress[2], struct buf *data)
{
	char path[PATH_MAX];
	struct buf in = BUF_INIT;
	uint8_t *msg;
	ssize_t w;
	int fd, r = -EIO, idle_ms = 10;

	snprintf(path, sizeof(path), "%s/.jfs.control", dir);
	fd = open(path, O_RDWR);
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/.control", dir);
		fd = open(path, O_RDWR);
	}
	if (fd < 0)
		return errno == ENOENT ? -ENOTSUP : -errno;
	msg = xmalloc(8 + len);
	put_be32(msg, cmd);
	put_be32(msg + 4, (uint32_t)len);
	memcpy(msg + 8, payload, len);
	w = write(fd, msg, 8 + len);
	free(msg);
	if (w != (ssize_t)(8 + len)) {
		r = w < 0 ? -errno : -EIO;
		goto out;
	}
	for (;;) {
		const uint8_t *b = (const uint8_t *)in.ptr;
		size_t used = 0, have = in.len;
		char rd[65536];
		ssize_t n;

		/* frames first; the answer ends at an errno byte or a data frame */
		while (used < have) {
			if (b[used] == 0xFE) {
				if (have - used < 17)
					break;
				if (progress) {
					progress[0] = get_be64(b + used + 1);
					progress[1] = get_be64(b + used + 9);
				}
				used += 17;
			} else if (b[used] == 0xFF) {
				uint32_t dl;
				if (have - used < 5 || have - used - 5 < (dl = get_be32(b + used + 1)))
					break;
				if (data) {
					buf_reset(data);
					buf_add(data, b + used + 5, dl);
				}
				r = 0; /* JuiceFS sends no errno byte after a data frame */
				goto out;
			} else {
				r = -(int)b[used];
				goto out;
			}
		}
		memmove(in.ptr, in.ptr + used, have - used);
		in.len = have - used;
		n = read(fd, rd, sizeof(rd));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			/*
			 * Nothing yet: JuiceFS's mount answers from a goroutine
			 * while the work runs, so poll, backing off to 1 s.
			 */
			usleep((useconds_t)idle_ms * 1000);
			idle_ms = MIN(idle_ms * 2, 1000);
			continue;
		}
		if (n < 0) {
			r = -errno;
			goto out;
		}
		idle_ms = 10;
		buf_add(&in, rd, (size_t)n);
	}
out:
	buf_release(&in);
	close(fd);
	return r;
}

int cmd_rmr(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	int ret = 1, r, skip, threads;

	r = cmd_parse(&cmd_rmr_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	skip = (int)conf_get(&cmd_rmr_conf, &p, "skip-trash")->i;
	threads = (int)conf_get(&cmd_rmr_conf, &p, "threads")->i;
	if (threads < 1 || threads > 255) {
		cmd_fatal("threads should be between 1 and 255");
		goto out;
	}
	for (int i = 0; i < p.nargs; i++) {
		char *d1 = xstrdup(p.args[i]), *d2 = xstrdup(p.args[i]);
		const char *dir = dirname(d1), *name = basename(d2);
		uint8_t msg[8 + 1 + 255 + 2];
		size_t nl = strlen(name);
		struct stat st;

		if (nl == 0 || nl > 255 || !strcmp(name, "/") || !strcmp(name, ".") ||
		    !strcmp(name, "..")) {
			cmd_fatal("rmr %s: invalid path", p.args[i]);
			free(d1);
			free(d2);
			goto out;
		}
		if (stat(dir, &st)) {
			cmd_fatal("rmr %s: %s", p.args[i], strerror(errno));
			free(d1);
			free(d2);
			goto out;
		}
		put_be64(msg, (uint64_t)st.st_ino);
		msg[8] = (uint8_t)nl;
		memcpy(msg + 9, name, nl);
		msg[9 + nl] = skip ? 1 : 0;
		msg[10 + nl] = (uint8_t)threads;
		r = cmd_control_call(dir, 1002, msg, 11 + nl, NULL, NULL);
		free(d1);
		free(d2);
		if (r == -ENOTSUP) {
			cmd_fatal("rmr %s: not inside a JuiceFS mount", p.args[i]);
			goto out;
		}
		if (r) {
			cmd_fatal("rmr %s: %s", p.args[i], strerror(-r));
			goto out;
		}
	}
	ret = 0;
out:
	conf_parsed_release(&p);
	return ret;
}
