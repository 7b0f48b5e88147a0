/* Checked parsing, time, randomness and small file helpers (see base.h). */
#include "base.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int parse_i64(const char *s, int64_t *out)
{
	uint64_t v;
	int neg = 0, r;
	if (s && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
	}
	if ((r = parse_u64(s, &v)))
		return r;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > INT64_MAX)
			return -ERANGE;
		*out = (int64_t)v;
	}
	return 0;
}

int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	int r = parse_u64(s, &v);
	if (r)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int parse_int(const char *s, int *out)
{
	int64_t v;
	int r = parse_i64(s, &v);
	if (r)
		return r;
	if (v > INT32_MAX || v < INT32_MIN)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

int parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	char num[32];
	size_t n = 0;
	uint64_t v, unit = default_unit;
	int r;
	if (!s || !*s)
		return -EINVAL;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(num))
		return n ? -ERANGE : -EINVAL;
	memcpy(num, s, n);
	num[n] = 0;
	if ((r = parse_u64(num, &v)))
		return r;
	const char *suf = s + n;
	if (*suf) {
		switch (toupper((unsigned char)*suf)) {
		case 'B': unit = 1; break;
		case 'K': unit = 1ULL << 10; break;
		case 'M': unit = 1ULL << 20; break;
		case 'G': unit = 1ULL << 30; break;
		case 'T': unit = 1ULL << 40; break;
		case 'P': unit = 1ULL << 50; break;
		default: return -EINVAL;
		}
		suf++;
		if (unit != 1 && (*suf == 'i' || *suf == 'I'))
			suf++;
		if (unit != 1 && (*suf == 'b' || *suf == 'B'))
			suf++;
		if (*suf)
			return -EINVAL;
	}
	if (unit && v > UINT64_MAX / unit)
		return -ERANGE;
	*out = v * unit;
	return 0;
}

int parse_duration_ms(const char *s, int64_t *out_ms)
{
	int64_t total = 0;
	int any = 0;
	uint64_t v;
	if (!s || !*s)
		return -EINVAL;
	if (!parse_u64(s, &v)) { /* bare number = seconds */
		if (v > INT64_MAX / 1000)
			return -ERANGE;
		*out_ms = (int64_t)v * 1000;
		return 0;
	}
	while (*s) {
		char num[24];
		size_t n = 0;
		while (s[n] >= '0' && s[n] <= '9')
			n++;
		if (!n || n >= sizeof(num))
			return -EINVAL;
		memcpy(num, s, n);
		num[n] = 0;
		if (parse_u64(num, &v))
			return -EINVAL;
		s += n;
		int64_t mul;
		if (!strncmp(s, "ms", 2)) {
			mul = 1;
			s += 2;
		} else if (*s == 's') {
			mul = 1000;
			s++;
		} else if (*s == 'm') {
			mul = 60000;
			s++;
		} else if (*s == 'h') {
			mul = 3600000;
			s++;
		} else if (*s == 'd') {
			mul = 86400000;
			s++;
		} else {
			return -EINVAL;
		}
		if (v > (uint64_t)(INT64_MAX / mul) || total > INT64_MAX - (int64_t)v * mul)
			return -ERANGE;
		total += (int64_t)v * mul;
		any = 1;
	}
	if (!any)
		return -EINVAL;
	*out_ms = total;
	return 0;
}

int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void random_bytes(void *p, size_t n)
{
	uint8_t *q = p;
	while (n) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			jfs_die(__FILE__, __LINE__, "getrandom: %s", strerror(errno));
		}
		q += r;
		n -= (size_t)r;
	}
}

void uuid4(char out[37])
{
	uint8_t b[16];
	random_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int r = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;
			*s = 0;
			if (mkdir(p, mode) && errno != EEXIST) {
				r = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	if (!r) {
		struct stat st;
		if (stat(path, &st))
			r = -errno;
		else if (!S_ISDIR(st.st_mode))
			r = -ENOTDIR;
	}
	free(p);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, int do_fsync)
{
	char *tmp = xasprintf("%s.tmp.%d.%lld", path, (int)getpid(), (long long)now_us());
	int r = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = fd_write_all(fd, data, len);
	if (!r && do_fsync && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
out:
	free(tmp);
	return r;
}

int fd_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int fd_write_direct(int fd, const void *p, size_t n, int *refused)
{
	const char *c = p;
	size_t head = n & ~(size_t)(DIRECT_ALIGN - 1), done = 0;
	int fl;

	*refused = 0;
	while (done < head) {
		ssize_t w = write(fd, c + done, head - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EINVAL)
				return -errno;
			/* no O_DIRECT here, or an unaligned offset after a short write */
			*refused = !done;
			break;
		}
		done += (size_t)w;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	return fd_write_all(fd, c + done, n - done);
}

#define ERRNO_NAMES(X)                                                            \
	X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(EBADF)     \
	X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY) X(EEXIST) X(EXDEV)        \
	X(ENODEV) X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ETXTBSY)    \
	X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(ERANGE)         \
	X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK) X(ENOSYS) X(ENOTEMPTY) X(ELOOP)       \
	X(ENODATA) X(ETIMEDOUT) X(ECONNREFUSED) X(EOPNOTSUPP) X(EDQUOT)            \
	X(ECANCELED) X(ESTALE) X(ENOTCONN) X(EPROTO) X(EBADMSG)

const char *errno_name(int err)
{
	switch (err) {
#define X(e)                                                                      \
	case e:                                                                   \
		return #e;
		ERRNO_NAMES(X)
#undef X
	default:
		return "EUNKNOWN";
	}
}

size_t utf8_xml_char_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return p[0] >= 0x20 || p[0] == '\t' || p[0] == '\n' || p[0] == '\r' ? 1 : 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;
	return n;
}

void errno_text(int err, char *out, size_t n)
{
	const char *d = err > 0 ? strerrordesc_np(err) : NULL;

	if (!n)
		return;
	if (!d) {
		snprintf(out, n, "errno %d", err);
		return;
	}
	snprintf(out, n, "%s", d);
	/* Go's syscall.Errno texts are glibc's, first letter in lower case */
	if (out[0] >= 'A' && out[0] <= 'Z')
		out[0] = (char)(out[0] - 'A' + 'a');
}
