/*
 * juicefs stats MOUNTPOINT: JuiceFS's live view of a mount, built from the
 * mount's .stats file (ours or the real client's), read every second.
 *
 * The sections, items, column widths and number formats are JuiceFS's
 * (cmd/stats.go), so a user reads the same table from either client. Output
 * is never colored in this build (see --no-color): JuiceFS without colors
 * prints one line per interval and nothing in between, which is what this
 * does.
 */
#include "cmd/cmd.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct conf_opt stats_opts[] = {
	{ "schema", 0, OPT_STRING, "ufmco", 0,
	  "schema string of output sections (t:time, u: usage, f: fuse, m: meta, c: blockcache, "
	  "o: object, g: go)",
	  NULL },
	{ "interval", 0, OPT_INT, "1", 0, "interval in seconds between each update", NULL },
	{ "verbosity", 'l', OPT_INT, "0", 0, "verbosity level, 0 or 1 is enough for most cases",
	  NULL },
	{ "count", 'c', OPT_INT, "0", 0, "number of updates to display before exiting", NULL },
};

const struct conf_cmd cmd_stats_conf = {
	.name = "stats",
	.usage = "juicefs stats [command options] MOUNTPOINT",
	.summary = "Show real time performance statistics of JuiceFS",
	.description = "This is a tool that reads Prometheus metrics and shows real time "
		       "statistics of the target mount point.\n\n"
		       "Examples:\n$ juicefs stats /mnt/jfs\n\n"
		       "# More metrics\n$ juicefs stats /mnt/jfs -l 1",
	.opts = stats_opts,
	.nopts = ARRAY_SIZE(stats_opts),
	.min_args = 1,
	.max_args = 1,
};

enum {
	M_BYTE = 1 << 0,
	M_COUNT = 1 << 1,
	M_TIME = 1 << 2,
	M_CPU = 1 << 3,
	M_GAUGE = 1 << 4,
	M_COUNTER = 1 << 5,
	M_HIST = 1 << 6,
	M_UNIXTIME = 1 << 7,
};

#define TIME_WIDTH 14 /* "01-02 15:04:05" */

struct item {
	const char *nick, *name;
	int typ;
};

struct section {
	const char *name;
	struct item items[6];
	int n;
};

/* The parsed .stats: names with values, duplicates summed as JuiceFS does. */
struct kv {
	char *name;
	double v;
};
struct snap {
	struct kv *v;
	size_t n;
};

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static double snap_get(const struct snap *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return s->v[i].v;
	return 0;
}

static void snap_read(const char *mp, struct snap *s)
{
	struct buf path = BUF_INIT;
	FILE *f;
	char *l = NULL;
	size_t cap = 0;

	s->v = NULL;
	s->n = 0;
	buf_addf(&path, "%s/.jfs.stats", mp);
	f = fopen(path.ptr, "r");
	if (!f && errno == ENOENT) {
		buf_reset(&path);
		buf_addf(&path, "%s/.stats", mp);
		f = fopen(path.ptr, "r");
	}
	if (!f) {
		log_warn("open stats file under mount point \"%s\": %s", mp, strerror(errno));
		goto out;
	}
	while (getline(&l, &cap, f) > 0) {
		char name[256], val[64], extra[2];
		double v;
		char *end;
		/* exactly two fields, as JuiceFS's strings.Fields check */
		if (sscanf(l, "%255s %63s %1s", name, val, extra) != 2)
			continue;
		v = strtod(val, &end);
		if (*end) {
			log_warn("parse %s: invalid syntax", val);
			v = 0;
		}
		size_t i;
		for (i = 0; i < s->n; i++)
			if (!strcmp(s->v[i].name, name))
				break;
		if (i == s->n) {
			s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
			s->v[s->n].name = xstrdup(name);
			s->v[s->n++].v = 0;
		}
		s->v[i].v += v;
	}
	fclose(f);
out:
	free(l);
	buf_release(&path);
}

static void add(struct section *s, const char *nick, const char *name, int typ)
{
	s->items[s->n++] = (struct item){ nick, name, typ };
}

/* The sections of a schema string; -1 when it names none. */
static int build_schema(const char *schema, int verbosity, struct section *out, int max)
{
	int n = 0;
	for (const char *c = schema; *c && n < max; c++) {
		struct section *s = &out[n];
		memset(s, 0, sizeof(*s));
		switch (*c) {
		case 't':
			s->name = "system";
			add(s, "time", "juicefs_timestamp", M_UNIXTIME);
			break;
		case 'u':
			s->name = "usage";
			add(s, "cpu", "juicefs_cpu_usage", M_CPU | M_COUNTER);
			add(s, "mem", "juicefs_memory", M_GAUGE);
			add(s, "buf", "juicefs_used_buffer_size_bytes", M_GAUGE);
			if (verbosity > 0)
				add(s, "cache", "juicefs_store_cache_size_bytes", M_GAUGE);
			break;
		case 'f':
			s->name = "fuse";
			add(s, "ops", "juicefs_fuse_ops_durations_histogram_seconds", M_TIME | M_HIST);
			add(s, "read", "juicefs_fuse_read_size_bytes_sum", M_BYTE | M_COUNTER);
			add(s, "write", "juicefs_fuse_written_size_bytes_sum", M_BYTE | M_COUNTER);
			break;
		case 'm':
			s->name = "meta";
			add(s, "ops", "juicefs_meta_ops_durations_histogram_seconds", M_TIME | M_HIST);
			if (verbosity > 0) {
				add(s, "txn", "juicefs_transaction_durations_histogram_seconds",
				    M_TIME | M_HIST);
				add(s, "retry", "juicefs_transaction_restart", M_COUNT | M_COUNTER);
			}
			break;
		case 'c':
			s->name = "blockcache";
			add(s, "read", "juicefs_blockcache_hit_bytes", M_BYTE | M_COUNTER);
			add(s, "write", "juicefs_blockcache_write_bytes", M_BYTE | M_COUNTER);
			break;
		case 'o':
			s->name = "object";
			add(s, "get", "juicefs_object_request_data_bytes_GET", M_BYTE | M_COUNTER);
			if (verbosity > 0)
				add(s, "get_c", "juicefs_object_request_durations_histogram_seconds_GET",
				    M_TIME | M_HIST);
			add(s, "put", "juicefs_object_request_data_bytes_PUT", M_BYTE | M_COUNTER);
			if (verbosity > 0) {
				add(s, "put_c", "juicefs_object_request_durations_histogram_seconds_PUT",
				    M_TIME | M_HIST);
				add(s, "del_c",
				    "juicefs_object_request_durations_histogram_seconds_DELETE",
				    M_TIME | M_HIST);
			}
			break;
		case 'g':
			s->name = "go";
			add(s, "alloc", "juicefs_go_memstats_alloc_bytes", M_GAUGE);
			add(s, "sys", "juicefs_go_memstats_sys_bytes", M_GAUGE);
			break;
		default:
			printf("Warning: no item defined for %c\n", *c);
			continue;
		}
		n++;
	}
	return n ? n : -1;
}

/* name centred in width with fill, the extra pad going left (JuiceFS's padding) */
static void pad(struct buf *b, const char *name, int width, char fill)
{
	int len = (int)strlen(name), p = width - len, pre;
	if (p < 0) {
		p = 0;
		len = width;
	}
	pre = (p + 1) / 2;
	for (int i = 0; i < pre; i++)
		buf_addch(b, fill);
	buf_add(b, name, (size_t)len);
	for (int i = pre + len; i < width; i++)
		buf_addch(b, fill);
}

static void header(struct buf *b, const struct section *secs, int n)
{
	struct buf sub = BUF_INIT;
	for (int i = 0; i < n; i++) {
		int nsubs = 0;
		if (i)
			buf_addch(&sub, '|');
		for (int j = 0; j < secs[i].n; j++) {
			const struct item *it = &secs[i].items[j];
			if (nsubs++)
				buf_addch(&sub, ' ');
			pad(&sub, it->nick, it->typ & M_UNIXTIME ? TIME_WIDTH : 5, ' ');
			if (it->typ & M_HIST) {
				buf_adds(&sub, it->typ & M_TIME ? "  lat " : "  avg ");
				nsubs++;
			}
		}
		int width = 6 * nsubs - 1;
		if (!strcmp(secs[i].name, "system"))
			width = TIME_WIDTH;
		if (i)
			buf_addch(b, ' ');
		pad(b, secs[i].name, width, '-');
	}
	buf_addf(b, "\n%s\n", sub.ptr);
	buf_release(&sub);
}

static void fmt_u64(struct buf *b, double v, int is_byte)
{
	uint64_t vi;
	const char *unit;
	if (v <= 0) {
		buf_adds(b, "   0 ");
		return;
	}
	vi = (uint64_t)v;
	if (vi < 10000)
		unit = is_byte ? "B" : " ";
	else if (vi >> 10 < 10000)
		vi >>= 10, unit = "K";
	else if (vi >> 20 < 10000)
		vi >>= 20, unit = "M";
	else if (vi >> 30 < 10000)
		vi >>= 30, unit = "G";
	else if (vi >> 40 < 10000)
		vi >>= 40, unit = "T";
	else
		vi >>= 50, unit = "P";
	buf_addf(b, "%4llu%s", (unsigned long long)vi, unit);
}

static void fmt_time(struct buf *b, double v)
{
	if (v <= 0)
		buf_adds(b, "   0 ");
	else if (v < 10)
		buf_addf(b, "%4.2f ", v);
	else if (v < 100)
		buf_addf(b, "%4.1f ", v);
	else if (v < 10000)
		buf_addf(b, "%4.f ", v);
	else
		buf_addf(b, "%1.e", v);
}

static void fmt_cpu(struct buf *b, double v)
{
	v *= 100;
	if (v <= 0)
		buf_adds(b, " 0.0");
	else if (v < 100)
		buf_addf(b, "%4.1f", v);
	else
		buf_addf(b, "%4.f", v);
	buf_addch(b, '%');
}

static double diff(const struct snap *l, const struct snap *r, const char *name)
{
	return snap_get(r, name) - snap_get(l, name);
}

static void line(struct buf *b, const struct section *secs, int n, const struct snap *l,
		 const struct snap *r, int interval)
{
	char name[320], ts[32];
	for (int i = 0; i < n; i++) {
		if (i)
			buf_addch(b, '|');
		for (int j = 0; j < secs[i].n; j++) {
			const struct item *it = &secs[i].items[j];
			if (j)
				buf_addch(b, ' ');
			if (it->typ & M_UNIXTIME) {
				time_t now = time(NULL);
				struct tm tm;
				localtime_r(&now, &tm);
				strftime(ts, sizeof(ts), "%m-%d %H:%M:%S", &tm);
				buf_adds(b, ts);
			} else if (it->typ & M_GAUGE) {
				fmt_u64(b, snap_get(r, it->name), 1);
			} else if (it->typ & M_COUNTER) {
				double v = diff(l, r, it->name) / interval;
				if (it->typ & M_BYTE)
					fmt_u64(b, v, 1);
				else if (it->typ & M_CPU)
					fmt_cpu(b, v);
				else
					fmt_u64(b, v, 0);
			} else if (it->typ & M_HIST) {
				double count, cost, avg = 0;
				snprintf(name, sizeof(name), "%s_total", it->name);
				count = diff(l, r, name);
				if (count > 0) {
					snprintf(name, sizeof(name), "%s_sum", it->name);
					cost = diff(l, r, name);
					if (it->typ & M_TIME)
						cost *= 1000; /* ms */
					avg = cost / count;
				}
				fmt_u64(b, count / interval, 0);
				buf_addch(b, ' ');
				fmt_time(b, avg);
			}
		}
	}
	buf_addch(b, '\n');
}

int cmd_stats(int argc, char **argv)
{
	struct conf_parsed p = { 0 };
	struct section secs[16];
	struct snap start = { 0 }, cur = { 0 };
	struct buf hdr = BUF_INIT, out = BUF_INIT;
	struct stat st;
	int64_t interval, count, verbosity;
	const char *mp;
	int n, r, ret = 1;

	r = cmd_parse(&cmd_stats_conf, argc, argv, &p);
	if (r) {
		ret = r < 0 ? 1 : 0;
		conf_parsed_release(&p);
		return ret;
	}
	mp = p.args[0];
	interval = conf_get(&cmd_stats_conf, &p, "interval")->i;
	count = conf_get(&cmd_stats_conf, &p, "count")->i;
	verbosity = conf_get(&cmd_stats_conf, &p, "verbosity")->i;
	if (interval < 1 || count < 0 || verbosity < 0) {
		cmd_fatal("--interval must be at least 1, --count and --verbosity not negative");
		goto out;
	}
	if (stat(mp, &st)) {
		cmd_fatal("lookup inode for %s: %s", mp, strerror(errno));
		goto out;
	}
	if (st.st_ino != 1) {
		cmd_fatal("path %s is not a mount point", mp);
		goto out;
	}
	n = build_schema(conf_get(&cmd_stats_conf, &p, "schema")->str, (int)verbosity, secs,
			 (int)ARRAY_SIZE(secs));
	if (n < 0) {
		cmd_fatal("no section to watch, please check the schema string");
		goto out;
	}
	header(&hdr, secs, n);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snap_read(mp, &cur);
	for (int64_t tick = 0;; tick++) {
		if (tick % (interval * 30) == 0)
			fputs(hdr.ptr, stdout);
		if (tick % interval == 0) {
			buf_reset(&out);
			/* the first line compares the first read with itself: rates 0 */
			line(&out, secs, n, tick ? &start : &cur, &cur, (int)interval);
			fputs(out.ptr, stdout);
			snap_free(&start);
			start = cur;
			cur = (struct snap){ 0 };
		} else {
			snap_free(&cur);
		}
		if (count > 0 && tick >= interval * (count - 1))
			break;
		/* JuiceFS ticks every second whatever the interval */
		sleep_ms(1000);
		snap_read(mp, &cur);
	}
	ret = 0;
out:
	snap_free(&start);
	snap_free(&cur);
	buf_release(&hdr);
	buf_release(&out);
	conf_parsed_release(&p);
	return ret;
}
