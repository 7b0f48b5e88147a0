/*
 * `juicefs profile MOUNTPOINT|LOGFILE`: JuiceFS's overview of recently
 * completed FUSE operations, read from the operation log (spec §12,
 * `.accesslog`) of a mount (ours or the real one) live, or replayed from a
 * copy of it saved earlier (`cat MP/.accesslog > FILE`).
 *
 * A log line is "YYYY.MM.DD HH:MM:SS.uuuuuu [uid:U,gid:G,pid:P] op ... <lat>";
 * we read it as JuiceFS's parseLine does: whitespace fields, the time from
 * the first two (as UTC, to print it back as it was written), the first
 * three digit runs of the third field as uid, gid and pid, the fourth field
 * as the operation and the last, less its first and last characters, as the
 * latency in seconds (truncated to whole microseconds as Go's int() does, so
 * both tools sum to the same totals). Lines shorter than 3 bytes ("#", the
 * keep-alive a reader gets after a second without operations) are skipped
 * silently, other unreadable lines with a warning.
 *
 * Modes, as JuiceFS's:
 *  - live (a mount point, whose root must be inode 1): a reader thread sums
 *    every line of MP/.jfs.accesslog (or MP/.accesslog) per operation; every
 *    --interval seconds the sums are printed and reset;
 *  - replay (a file) with --interval N > 0: every N seconds of wall time the
 *    next N seconds of log time are printed, windows starting at the first
 *    line's time; empty windows (gaps in the log) print empty tables; Enter
 *    pauses and resumes. The last window says "(replay done)" and ends the
 *    program. (JuiceFS decides "done" when its reader reaches the end of the
 *    file, which can be a window or more before the counter gets there, and
 *    then never prints those last windows; we print them.)
 *  - replay with --interval 0: one table of the whole file, the interval
 *    being the time from its first to its last line.
 * Each table is the header, the column titles and one row per operation by
 * total latency, highest first (ties by name; JuiceFS leaves them in map
 * order). On a terminal the screen is cleared and the lines coloured first.
 */
#include "cmd/cmd.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64 << 10) /* bufio.Scanner's limit, past which JuiceFS gives up */

static const struct conf_opt profile_opts[] = {
	{ "uid", 'u', OPT_STRING, NULL, 0, "track only specified UIDs(separated by comma ,)",
	  NULL },
	{ "gid", 'g', OPT_STRING, NULL, 0, "track only specified GIDs(separated by comma ,)",
	  NULL },
	{ "pid", 'p', OPT_STRING, NULL, 0, "track only specified PIDs(separated by comma ,)",
	  NULL },
	{ "interval", 0, OPT_INT, "2", 0,
	  "flush interval in seconds; set it to 0 when replaying a log file to get an immediate "
	  "result",
	  NULL },
};

const struct conf_cmd cmd_profile_conf = {
	.name = "profile",
	.usage = "juicefs profile [command options] MOUNTPOINT/LOGFILE",
	.summary = "Show profiling of operations completed in JuiceFS",
	.description =
		"This is a tool that analyzes access log of JuiceFS and shows an overview of "
		"recently completed operations.\n\n"
		"Examples:\n"
		"# Monitor real time operations\n$ juicefs profile /mnt/jfs\n\n"
		"# Replay an access log\n$ cat /mnt/jfs/.accesslog > /tmp/juicefs.accesslog\n"
		"# Press Ctrl-C to stop the \"cat\" command after some time\n"
		"$ juicefs profile /tmp/juicefs.accesslog\n\n"
		"# Analyze an access log and print the total statistics immediately\n"
		"$ juicefs profile /tmp/juicefs.accesslog --interval 0",
	.opts = profile_opts,
	.nopts = ARRAY_SIZE(profile_opts),
	.min_args = 1,
	.max_args = 1,
};

/* ---------------------------------------------------------------- sums per operation */

struct opstat {
	char *op;
	int64_t count, total_us;
};

/* Open addressing over the ops array: a log may name any number of "operations". */
struct tally {
	struct opstat *v;
	size_t n, cap;
	size_t *slot; /* index + 1, 0 = empty */
	size_t nslot;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void tally_rehash(struct tally *t, size_t nslot)
{
	free(t->slot);
	t->slot = xcalloc(nslot, sizeof(*t->slot));
	t->nslot = nslot;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = str_hash(t->v[i].op) & (nslot - 1);
		while (t->slot[j])
			j = (j + 1) & (nslot - 1);
		t->slot[j] = i + 1;
	}
}

static void tally_add(struct tally *t, const char *op, size_t oplen, int64_t lat_us)
{
	char *key = xstrndup(op, oplen);
	size_t j;

	if (!t->nslot || (t->n + 1) * 2 > t->nslot)
		tally_rehash(t, t->nslot ? t->nslot * 2 : 64);
	for (j = str_hash(key) & (t->nslot - 1); t->slot[j]; j = (j + 1) & (t->nslot - 1)) {
		struct opstat *s = &t->v[t->slot[j] - 1];
		if (!strcmp(s->op, key)) {
			s->count++;
			s->total_us += lat_us;
			free(key);
			return;
		}
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n] = (struct opstat){ key, 1, lat_us };
	t->slot[j] = ++t->n;
}

static void tally_release(struct tally *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].op);
	free(t->v);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static int by_total_desc(const void *a, const void *b)
{
	const struct opstat *x = a, *y = b;
	if (x->total_us != y->total_us)
		return x->total_us > y->total_us ? -1 : 1;
	return strcmp(x->op, y->op);
}

/* ---------------------------------------------------------------- parsing */

struct slice {
	const char *p;
	size_t n;
};

struct entry {
	int64_t ts_us; /* the written wall clock read as UTC */
	struct slice uid, gid, pid, op;
	int64_t lat_us;
};

static int days_in(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "2006.01.02" and "15:04:05.000000" exactly, as Go's time.Parse of that layout. */
static int parse_ts(struct slice d, struct slice t, int64_t *us)
{
	int y, mo, da, h, mi, se, fr;
	struct tm tm = { 0 };

	if (d.n != 10 || d.p[4] != '.' || d.p[7] != '.' || digits(d.p, 4, &y) ||
	    digits(d.p + 5, 2, &mo) || digits(d.p + 8, 2, &da))
		return -1;
	if (t.n != 15 || t.p[2] != ':' || t.p[5] != ':' || t.p[8] != '.' || digits(t.p, 2, &h) ||
	    digits(t.p + 3, 2, &mi) || digits(t.p + 6, 2, &se) || digits(t.p + 9, 6, &fr))
		return -1;
	if (mo < 1 || mo > 12 || da < 1 || da > days_in(y, mo) || h > 23 || mi > 59 || se > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = da;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*us = (int64_t)timegm(&tm) * 1000000 + fr;
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* 1 entry, 0 skipped silently, -1 unreadable (warned). line is NUL-terminated. */
static int parse_line(const char *line, size_t len, struct entry *e)
{
	struct slice f[5], last = { 0 }, ids[3];
	size_t nf = 0, i = 0, nid = 0;
	char num[64], *end;
	double lat;

	if (len < 3)
		return 0;
	while (i < len) {
		size_t s;
		while (i < len && is_space(line[i]))
			i++;
		if (i == len)
			break;
		s = i;
		while (i < len && !is_space(line[i]))
			i++;
		last = (struct slice){ line + s, i - s };
		if (nf < ARRAY_SIZE(f))
			f[nf] = last;
		nf++;
	}
	if (nf < 5) {
		log_warn("Log line is invalid: %s", line);
		return -1;
	}
	if (parse_ts(f[0], f[1], &e->ts_us)) {
		log_warn("Failed to parse log line: %s: bad time \"%.*s %.*s\"", line, (int)f[0].n,
			 f[0].p, (int)f[1].n, f[1].p);
		return -1;
	}
	for (i = 0; i < f[2].n && nid < 3;) {
		size_t s = i;
		if (f[2].p[i] < '0' || f[2].p[i] > '9') {
			i++;
			continue;
		}
		while (i < f[2].n && f[2].p[i] >= '0' && f[2].p[i] <= '9')
			i++;
		ids[nid++] = (struct slice){ f[2].p + s, i - s };
	}
	if (nid != 3) {
		log_warn("Log line is invalid: %s", line);
		return -1;
	}
	/* "<0.000123>": strconv.ParseFloat of what is between the first and last byte */
	if (last.n < 3 || last.n - 2 >= sizeof(num)) {
		log_warn("Failed to parse log line: %s: bad latency", line);
		return -1;
	}
	memcpy(num, last.p + 1, last.n - 2);
	num[last.n - 2] = 0;
	errno = 0;
	lat = strtod(num, &end);
	if (*end || end == num || errno || isnan(lat) || isinf(lat) || num[0] == ' ' ||
	    lat > 9e12 || lat < -9e12) {
		log_warn("Failed to parse log line: %s: bad latency", line);
		return -1;
	}
	e->uid = ids[0];
	e->gid = ids[1];
	e->pid = ids[2];
	e->op = f[3];
	e->lat_us = (int64_t)(lat * 1000000.0);
	return 1;
}

/* --uid/--gid/--pid: comma-separated, exact matches; empty tracks everything. */
static int id_ok(char **want, size_t n, struct slice v)
{
	if (!n)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (strlen(want[i]) == v.n && !memcmp(want[i], v.p, v.n))
			return 1;
	return 0;
}

struct filter {
	char **ids[3];
	size_t n[3];
};

static void filter_set(struct filter *fl, int k, const char *s)
{
	const char *p = s;
	if (!s || !*s)
		return;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		fl->ids[k] = xrealloc(fl->ids[k], (fl->n[k] + 1) * sizeof(char *));
		fl->ids[k][fl->n[k]++] = xstrndup(p, l);
		if (!c)
			break;
		p = c + 1;
	}
}

static int filter_ok(const struct filter *fl, const struct entry *e)
{
	return id_ok(fl->ids[0], fl->n[0], e->uid) && id_ok(fl->ids[1], fl->n[1], e->gid) &&
	       id_ok(fl->ids[2], fl->n[2], e->pid);
}

/* ---------------------------------------------------------------- output */

#define CLEAR_SCREEN "\033[2J\033[1;1H"
enum { GREEN = 32, YELLOW = 33, BLUE = 34, BLACK = 30 };

/* Go's %W.Pf, whose infinities are "+Inf"/"-Inf" and NaN "NaN". */
static void go_float(struct buf *b, int width, int prec, double v)
{
	if (isnan(v))
		buf_addf(b, "%*s", width, "NaN");
	else if (isinf(v))
		buf_addf(b, "%*s", width, v > 0 ? "+Inf" : "-Inf");
	else
		buf_addf(b, "%*.*f", width, prec, v);
}

/* Go's %-14s pads to 14 runes, not bytes. */
static void go_left(struct buf *b, const char *s, int width)
{
	int runes = 0;
	buf_adds(b, s);
	for (const char *p = s; *p; p++)
		runes += ((unsigned char)*p & 0xC0) != 0x80;
	for (; runes < width; runes++)
		buf_addch(b, ' ');
}

struct prof {
	int colorful, replay;
	int64_t interval_s;
	struct filter fl;
};

/*
 * One table. ts is "2006-01-02T15:04:05"; interval_us is what Percent is
 * of (JuiceFS divides by it even when it is 0, printing +Inf or NaN).
 */
static void print_table(const struct prof *p, const char *head, double refresh_s,
			int64_t interval_us, const char *ts, struct tally *t)
{
	struct buf line = BUF_INIT;
	char **lines = NULL;
	size_t n = 0;

	if (t->n) /* qsort of a NULL array is undefined even for 0 items */
		qsort(t->v, t->n, sizeof(*t->v), by_total_desc);
	lines = xcalloc(t->n + 3, sizeof(char *));
	buf_addf(&line, "> JuiceFS Profiling %13s  Refresh: %.0f seconds %20s", head, refresh_s,
		 ts);
	lines[n++] = buf_detach(&line, NULL);
	lines[n++] = xstrdup(p->replay ? "\n[enter]Pause/Continue\n" : "");
	buf_addf(&line, "%-14s %10s %15s %18s %14s", "Operation", "Count", "Average(us)",
		 "Total(us)", "Percent(%)");
	lines[n++] = buf_detach(&line, NULL);
	for (size_t i = 0; i < t->n; i++) {
		const struct opstat *s = &t->v[i];
		go_left(&line, s->op, 14);
		buf_addf(&line, " %10lld ", (long long)s->count);
		go_float(&line, 15, 0, (double)s->total_us / (double)s->count);
		buf_addf(&line, " %18lld ", (long long)s->total_us);
		go_float(&line, 14, 1, (double)s->total_us / (double)interval_us * 100.0);
		lines[n++] = buf_detach(&line, NULL);
	}
	if (p->colorful) {
		static const int colors[] = { GREEN, YELLOW, BLUE };
		fputs(CLEAR_SCREEN, stdout);
		for (size_t i = 0; i < n; i++)
			printf("\033[1;%dm%s\033[0m\n", i < 3 ? colors[i] : BLACK, lines[i]);
	} else {
		puts(lines[0]);
		for (size_t i = 2; i < n; i++)
			puts(lines[i]);
		putchar('\n');
	}
	fflush(stdout);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void fmt_utc(int64_t us, int set, char *out, size_t n)
{
	struct tm tm;
	time_t s;

	if (!set) { /* Go's zero time */
		snprintf(out, n, "0001-01-01T00:00:00");
		return;
	}
	s = (time_t)(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000));
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
}

static void fmt_now(char *out, size_t n)
{
	time_t s = time(NULL);
	struct tm tm;
	localtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* ---------------------------------------------------------------- input */

/* Lines of a descriptor, at most LINE_MAX_BYTES each. */
struct reader {
	int fd;
	char *buf;
	size_t len, cap, off;
	int eof;
};

/*
 * Next line without its "\n" (and a "\r" before it), NUL-terminated in *line.
 * 1 a line, 0 end of input, -errno on a read error or a line too long.
 */
static int next_line(struct reader *r, char **line, size_t *len)
{
	for (;;) {
		char *nl = r->len > r->off ? memchr(r->buf + r->off, '\n', r->len - r->off) : NULL;
		if (nl || (r->eof && r->off < r->len)) {
			char *s = r->buf + r->off;
			size_t l = nl ? (size_t)(nl - s) : r->len - r->off;
			r->off += l + (nl ? 1 : 0);
			s[l] = 0; /* the '\n' or the spare byte kept below */
			if (l && s[l - 1] == '\r')
				s[--l] = 0;
			*line = s;
			*len = l;
			return 1;
		}
		if (r->eof)
			return 0;
		if (r->len - r->off >= LINE_MAX_BYTES)
			return -ENOBUFS;
		if (r->off) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->cap - r->len < 4096 + 1) {
			r->cap = r->cap ? r->cap * 2 : 65536;
			r->buf = xrealloc(r->buf, r->cap);
		}
		ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			r->eof = 1;
		r->len += (size_t)k;
	}
}

static void read_failed(int r)
{
	char err[64];
	errno_text(-r, err, sizeof(err));
	cmd_fatal("Reading log file failed with error: %s",
		  r == -ENOBUFS ? "bufio.Scanner: token too long" : err);
	exit(1);
}

/* The next entry that passes the filters: 1, or 0 at the end. */
static int next_entry(struct reader *rd, const struct filter *fl, struct entry *e)
{
	char *line;
	size_t len;
	int r;

	while ((r = next_line(rd, &line, &len)) > 0)
		if (parse_line(line, len, e) > 0 && filter_ok(fl, e))
			return 1;
	if (r < 0)
		read_failed(r);
	return 0;
}

/* ---------------------------------------------------------------- terminal */

struct term {
	int stdin_open;
};

/*
 * Wait until the monotonic deadline, reading lines from stdin meanwhile.
 * Returns 1 when a whole line (Enter) came in before the deadline.
 */
static int wait_until(struct term *tm, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - mono_ms();
		struct pollfd pf = { .fd = 0, .events = POLLIN };
		if (left <= 0)
			return 0;
		if (!tm->stdin_open) {
			sleep_ms(left);
			continue;
		}
		if (poll(&pf, 1, (int)(left > INT_MAX ? INT_MAX : left)) <= 0)
			continue;
		char c[256];
		ssize_t k = read(0, c, sizeof(c));
		if (k <= 0) {
			/* JuiceFS spins on a closed stdin; we stop reading it. */
			if (k == 0 || errno != EINTR)
				tm->stdin_open = 0;
			continue;
		}
		if (memchr(c, '\n', (size_t)k))
			return 1;
	}
}

/* Block until Enter (or stdin closes). */
static void wait_enter(struct term *tm)
{
	char c[256];
	while (tm->stdin_open) {
		ssize_t k = read(0, c, sizeof(c));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			tm->stdin_open = 0;
			return;
		}
		if (memchr(c, '\n', (size_t)k))
			return;
	}
}

/* ---------------------------------------------------------------- modes */

static int replay_now(struct prof *p, struct reader *rd)
{
	struct tally t = { 0 };
	struct entry e;
	int64_t start = 0, last = 0;
	int any = 0;
	char ts[40];

	while (next_entry(rd, &p->fl, &e)) {
		if (!any)
			start = e.ts_us;
		any = 1;
		last = e.ts_us;
		tally_add(&t, e.op.p, e.op.n, e.lat_us);
	}
	fmt_utc(last, any, ts, sizeof(ts));
	p->replay = 0;
	print_table(p, "", (double)(last - start) / 1e6, last - start, ts, &t);
	tally_release(&t);
	return 0;
}

struct window {
	int64_t edge_us;
	int edge_set, has_pend;
	struct entry pend;
	char *pend_op;
};

/*
 * Sum the next window of log time into t. Returns 1 when the log has ended
 * (the last window); ts_us and ts_set get the window's end, as JuiceFS prints it.
 */
static int replay_window(struct prof *p, struct reader *rd, struct window *w, struct tally *t,
			 int64_t *ts_us, int *ts_set)
{
	int64_t iv = p->interval_s * 1000000;
	int done = 0;

	for (;;) {
		if (!w->has_pend) {
			if (!next_entry(rd, &p->fl, &w->pend)) {
				done = 1;
				break;
			}
			free(w->pend_op);
			w->pend_op = xstrndup(w->pend.op.p, w->pend.op.n);
			w->has_pend = 1;
		}
		if (!w->edge_set) {
			w->edge_us = w->pend.ts_us + iv;
			w->edge_set = 1;
		}
		if (w->pend.ts_us > w->edge_us)
			break;
		tally_add(t, w->pend_op, strlen(w->pend_op), w->pend.lat_us);
		w->has_pend = 0;
	}
	*ts_us = w->edge_us;
	*ts_set = w->edge_set;
	if (w->edge_set)
		w->edge_us += iv;
	return done;
}

static int replay_paced(struct prof *p, struct reader *rd)
{
	struct term tm = { .stdin_open = 1 };
	struct window w = { 0 };
	struct tally empty = { 0 };
	int64_t iv_ms = p->interval_s * 1000, next;
	char ts[40];

	fmt_now(ts, sizeof(ts));
	print_table(p, "(replaying)", (double)p->interval_s, p->interval_s * 1000000, ts, &empty);
	next = mono_ms() + iv_ms;
	for (;;) {
		struct tally t = { 0 };
		int64_t ts_us;
		int ts_set, done;

		if (wait_until(&tm, next)) {
			if (p->colorful)
				fputs("\033[1A\033[K", stdout);
			printf("\n\033[97mPaused. Press [enter] to continue.\n\033[0m");
			fflush(stdout);
			wait_enter(&tm);
			if (p->colorful)
				fputs("\033[1A\033[K", stdout);
			/* the tick missed while paused fires at once, then ticks restart */
			next = mono_ms();
			continue;
		}
		done = replay_window(p, rd, &w, &t, &ts_us, &ts_set);
		fmt_utc(ts_us, ts_set, ts, sizeof(ts));
		print_table(p, done ? "(replay done)" : "(replaying)", (double)p->interval_s,
			    p->interval_s * 1000000, ts, &t);
		tally_release(&t);
		if (done)
			break;
		next += iv_ms;
		if (next < mono_ms())
			next = mono_ms() + iv_ms;
	}
	free(w.pend_op);
	return 0;
}

struct live {
	struct prof *p;
	struct reader rd;
	pthread_mutex_t mu;
	struct tally t;
};

static void *live_reader(void *arg)
{
	struct live *l = arg;
	struct entry e;
	char *line;
	size_t len;
	int r;

	while ((r = next_line(&l->rd, &line, &len)) > 0) {
		if (parse_line(line, len, &e) <= 0 || !filter_ok(&l->p->fl, &e))
			continue;
		pthread_mutex_lock(&l->mu);
		tally_add(&l->t, e.op.p, e.op.n, e.lat_us);
		pthread_mutex_unlock(&l->mu);
	}
	if (r < 0)
		read_failed(r);
	/* At the end of the log JuiceFS keeps printing empty tables; so do we. */
	return NULL;
}

static int live(struct prof *p, int fd)
{
	struct term tm = { .stdin_open = 1 };
	struct live l = { .p = p, .rd = { .fd = fd } };
	struct tally t = { 0 };
	pthread_t th;
	int64_t iv_ms = p->interval_s * 1000, next;
	char ts[40];

	pthread_mutex_init(&l.mu, NULL);
	if (pthread_create(&th, NULL, live_reader, &l)) {
		cmd_fatal("start the log reader: %s", strerror(errno));
		return 1;
	}
	pthread_detach(th);
	fmt_now(ts, sizeof(ts));
	print_table(p, "", (double)p->interval_s, p->interval_s * 1000000, ts, &t);
	next = mono_ms() + iv_ms;
	for (;;) {
		if (wait_until(&tm, next)) {
			if (p->colorful) { /* the Enter echoed: take the line back */
				fputs("\033[1A\033[K", stdout);
				fflush(stdout);
			}
			continue;
		}
		pthread_mutex_lock(&l.mu);
		t = l.t;
		memset(&l.t, 0, sizeof(l.t));
		pthread_mutex_unlock(&l.mu);
		fmt_now(ts, sizeof(ts));
		print_table(p, "", (double)p->interval_s, p->interval_s * 1000000, ts, &t);
		tally_release(&t);
		next += iv_ms;
		if (next < mono_ms())
			next = mono_ms() + iv_ms;
	}
	return 0;
}

int cmd_profile(int argc, char **argv)
{
	struct conf_parsed cp = { 0 };
	struct prof p = { 0 };
	struct reader rd = { .fd = -1 };
	const char *path;
	char *logpath = NULL, err[64];
	struct stat st;
	int ret = 1, r;

	r = cmd_parse(&cmd_profile_conf, argc, argv, &cp);
	if (r) {
		ret = r < 0 ? 1 : 0;
		goto out;
	}
	path = cp.args[0];
	p.interval_s = conf_get(&cmd_profile_conf, &cp, "interval")->i;
	filter_set(&p.fl, 0, conf_get(&cmd_profile_conf, &cp, "uid")->str);
	filter_set(&p.fl, 1, conf_get(&cmd_profile_conf, &cp, "gid")->str);
	filter_set(&p.fl, 2, conf_get(&cmd_profile_conf, &cp, "pid")->str);
	if (stat(path, &st)) {
		errno_text(errno, err, sizeof(err));
		cmd_fatal("Failed to stat path \"%s\": stat %s: %s", path, path, err);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		struct stat x;
		if (st.st_ino != 1) {
			cmd_fatal("Path \"%s\" is not a mount point!", path);
			goto out;
		}
		logpath = xasprintf("%s/.jfs.accesslog", path);
		if (stat(logpath, &x)) {
			free(logpath);
			logpath = xasprintf("%s/.accesslog", path);
		}
	} else {
		p.replay = 1;
		logpath = xstrdup(path);
	}
	if (p.interval_s == 0 && !p.replay) {
		cmd_fatal("Interval must be > 0 for real time mode!");
		goto out;
	}
	if (p.interval_s < 0 || p.interval_s > INT64_MAX / 1000000) {
		cmd_fatal("invalid value %lld for --interval: must be 0 to replay at once or a "
			  "number of seconds",
			  (long long)p.interval_s);
		goto out;
	}
	rd.fd = open(logpath, O_RDONLY | O_CLOEXEC);
	if (rd.fd < 0) {
		errno_text(errno, err, sizeof(err));
		cmd_fatal("Failed to open log file \"%s\": open %s: %s", logpath, logpath, err);
		goto out;
	}
	p.colorful = isatty(1);
	if (p.replay && p.interval_s == 0)
		ret = replay_now(&p, &rd);
	else if (p.replay)
		ret = replay_paced(&p, &rd);
	else
		ret = live(&p, rd.fd);
out:
	if (rd.fd >= 0)
		close(rd.fd);
	free(rd.buf);
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < p.fl.n[k]; i++)
			free(p.fl.ids[k][i]);
		free(p.fl.ids[k]);
	}
	free(logpath);
	conf_parsed_release(&cp);
	return ret;
}
