/*
 * Logging in JuiceFS's line format:
 *   2026/08/22 10:00:00.123456 juicefs[1234] <WARNING>: msg [fn@file.c:123]
 * The level gate lives in the jlog() macro so disabled levels cost nothing.
 */
#include "base.h"

#include <pthread.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int jfs_log_level = LOG_INFO;
static FILE *log_out;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "FATAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE" };

void log_set_level(int lvl) { jfs_log_level = lvl; }
void log_set_file(FILE *f) { log_out = f; }

int log_parse_level(const char *s, int *lvl)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (!strcasecmp(s, level_names[i])) {
			*lvl = (int)i;
			return 0;
		}
	if (!strcasecmp(s, "warn")) {
		*lvl = LOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

void log_write(int lvl, const char *fn, const char *file, int line, const char *fmt, ...)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];
	struct buf b = BUF_INIT;
	va_list ap;
	const char *base = strrchr(file, '/');

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y/%m/%d %H:%M:%S", &tm);
	buf_addf(&b, "%s.%06ld juicefs[%d] <%s>: ", ts, (long)tv.tv_usec, (int)getpid(),
		 level_names[lvl < 0 ? 0 : lvl > LOG_TRACE ? LOG_TRACE : lvl]);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_addf(&b, " [%s@%s:%d]\n", fn, base ? base + 1 : file, line);
	pthread_mutex_lock(&log_mu);
	FILE *f = log_out ? log_out : stderr;
	fwrite(b.ptr, 1, b.len, f);
	fflush(f);
	pthread_mutex_unlock(&log_mu);
	buf_release(&b);
}
