/*
 * gateway/accesslog.c: the access log of both HTTP doors (gateway/http.c).
 *
 * The log holds every request target, and a presigned URL's target is a
 * credential until it expires: whoever reads the line can replay it. So the
 * file is created 0600 whatever the umask (and an existing one found wider
 * is narrowed), and the signature-bearing query values are written as
 * REDACTED: X-Amz-Signature (SigV4), Signature (SigV2) and
 * X-Amz-Security-Token. Names are compared percent-decoded and without case,
 * so an encoded or re-cased name does not slip through.
 */
#include "gateway/http.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *gw_access_log_open(const char *path, struct buf *err)
{
	struct stat st;
	FILE *f;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0) {
		buf_addf(err, "open access log %s: %s", path, strerror(errno));
		return NULL;
	}
	/*
	 * O_CREAT's mode is only a ceiling (the umask narrows it, never widens
	 * it); a file that already existed keeps its own mode: narrow it if it
	 * is ours and others may read it. A log someone else owns (a shared
	 * syslog-style file) is left as it is.
	 */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    (st.st_mode & 077) && fchmod(fd, st.st_mode & 0700)) {
		buf_addf(err, "access log %s: cannot make it private: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "a");
	if (!f) {
		buf_addf(err, "open access log %s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Is the raw (still encoded) query name [p, p+n) one whose value is secret? */
static int secret_name(const char *p, size_t n)
{
	static const char *const names[] = { "x-amz-signature", "signature",
					     "x-amz-security-token" };
	char d[32];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '%' && i + 2 < n && hexv(p[i + 1]) >= 0 && hexv(p[i + 2]) >= 0) {
			c = (char)(hexv(p[i + 1]) << 4 | hexv(p[i + 2]));
			i += 2;
		}
		if (k + 1 >= sizeof(d))
			return 0;
		d[k++] = c;
	}
	d[k] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcasecmp(d, names[i]))
			return 1;
	return 0;
}

void gw_access_log_target(const char *uri, struct buf *out)
{
	const char *q = strchr(uri, '?'), *p;

	buf_reset(out);
	if (!q) {
		buf_adds(out, uri);
		return;
	}
	buf_add(out, uri, (size_t)(q + 1 - uri));
	for (p = q + 1;;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);

		if (eq && secret_name(p, (size_t)(eq - p))) {
			buf_add(out, p, (size_t)(eq + 1 - p));
			buf_adds(out, "REDACTED");
		} else {
			buf_add(out, p, n);
		}
		if (!amp)
			break;
		buf_addch(out, '&');
		p = amp + 1;
	}
}
