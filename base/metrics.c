/*
 * base/metrics.c: the registry behind /metrics and .stats (contract in
 * metrics.h), the process figures JuiceFS reports (uptime, CPU, memory,
 * process_*), and a one-thread HTTP listener that serves the text format.
 *
 * The listener is deliberately tiny: Prometheus sends one GET per scrape,
 * so connections are served one at a time with a receive timeout, and a
 * client that stalls delays only the next scrape.
 */
#include "base/metrics.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define METRIC_SHARDS 8
#define WORDS_PER_LINE 8 /* 64-byte cache lines of uint64_t */

struct metric_family {
	enum metric_type type;
	char *name, *help;
	double scale;
	int nlabels;
	char *labels[METRIC_MAX_LABELS];
	int nbounds;
	double bounds[METRIC_MAX_BUCKETS]; /* exported units */
	double raw[METRIC_MAX_BUCKETS];    /* the same in the stored unit */
	size_t stride;                     /* uint64_t words per shard */
	struct metric *children;           /* append-only, see contract 2 */
	pthread_mutex_t mu;
	struct metric_family *next;
};

struct metric {
	struct metric_family *fam;
	char *values[METRIC_MAX_LABELS];
	uint64_t *shards; /* METRIC_SHARDS * stride words, 64-byte aligned */
	uint64_t gauge;   /* bits of a double */
	struct metric *next;
};

struct collector {
	metric_collect_fn fn;
	void *arg;
	struct collector *next;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
/* Held while collectors run, apart from reg_mu: a collector may declare families. */
static pthread_mutex_t coll_mu = PTHREAD_MUTEX_INITIALIZER;
static struct metric_family *families;
static struct collector *collectors;
static char *common_vol, *common_mp, *common_host;
static struct timespec started_mono;
static double started_wall;
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

static unsigned shard_next;
static __thread int shard_me = -1;

static inline uint64_t *shard_of(struct metric *m)
{
	if (__builtin_expect(shard_me < 0, 0))
		shard_me = (int)(__atomic_fetch_add(&shard_next, 1, __ATOMIC_RELAXED) %
				 METRIC_SHARDS);
	return m->shards + (size_t)shard_me * m->fam->stride;
}

void metric_exp_buckets(double *out, double start, double factor, int n)
{
	for (int i = 0; i < n; i++) {
		out[i] = start;
		start *= factor;
	}
}

void metric_lin_buckets(double *out, double start, double width, int n)
{
	for (int i = 0; i < n; i++) {
		out[i] = start;
		start += width;
	}
}

static struct metric *child_new(struct metric_family *f, const char *const *values)
{
	struct metric *m = xcalloc(1, sizeof(*m));
	size_t bytes = METRIC_SHARDS * f->stride * sizeof(uint64_t);
	m->fam = f;
	for (int i = 0; i < f->nlabels; i++)
		m->values[i] = xstrdup(values[i] ? values[i] : "");
	if (f->type == METRIC_COUNTER || f->type == METRIC_HISTOGRAM) {
		m->shards = aligned_alloc(64, bytes);
		BUG_ON(!m->shards);
		memset(m->shards, 0, bytes);
	}
	return m;
}

static void proc_init(void)
{
	char host[256];
	clock_gettime(CLOCK_MONOTONIC, &started_mono);
	started_wall = (double)now_us() / 1e6;
	if (gethostname(host, sizeof(host) - 1) == 0) {
		host[sizeof(host) - 1] = 0;
		common_host = xstrdup(host);
	}
}

struct metric_family *metric_family(enum metric_type type, const char *name, const char *help,
				    double scale, const char *const *labels, const double *bounds,
				    int nbounds)
{
	struct metric_family *f;

	pthread_once(&proc_once, proc_init);
	pthread_mutex_lock(&reg_mu);
	for (f = families; f; f = f->next)
		if (!strcmp(f->name, name))
			goto out;
	BUG_ON(nbounds > METRIC_MAX_BUCKETS);
	f = xcalloc(1, sizeof(*f));
	f->type = type;
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->scale = scale > 0 ? scale : 1;
	for (; labels && labels[f->nlabels]; f->nlabels++) {
		BUG_ON(f->nlabels >= METRIC_MAX_LABELS);
		f->labels[f->nlabels] = xstrdup(labels[f->nlabels]);
	}
	if (type == METRIC_HISTOGRAM) {
		f->nbounds = nbounds;
		for (int i = 0; i < nbounds; i++) {
			f->bounds[i] = bounds[i];
			f->raw[i] = bounds[i] / f->scale;
		}
	}
	/* counter: [value]; histogram: [bucket 0..nbounds (last is +Inf), sum] */
	f->stride = type == METRIC_HISTOGRAM ? (size_t)f->nbounds + 2 : 1;
	f->stride = (f->stride + WORDS_PER_LINE - 1) / WORDS_PER_LINE * WORDS_PER_LINE;
	pthread_mutex_init(&f->mu, NULL);
	if (!f->nlabels)
		f->children = child_new(f, NULL);
	f->next = families;
	families = f;
out:
	pthread_mutex_unlock(&reg_mu);
	return f;
}

static int same_values(const struct metric *m, const char *const *values)
{
	for (int i = 0; i < m->fam->nlabels; i++)
		if (strcmp(m->values[i], values[i] ? values[i] : ""))
			return 0;
	return 1;
}

struct metric *metric_childv(struct metric_family *f, const char *const *values)
{
	struct metric *m;

	for (m = __atomic_load_n(&f->children, __ATOMIC_ACQUIRE); m; m = m->next)
		if (same_values(m, values))
			return m;
	pthread_mutex_lock(&f->mu);
	for (m = f->children; m; m = m->next)
		if (same_values(m, values))
			break;
	if (!m) {
		m = child_new(f, values);
		m->next = f->children;
		__atomic_store_n(&f->children, m, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&f->mu);
	return m;
}

struct metric *metric_child(struct metric_family *f, ...)
{
	const char *values[METRIC_MAX_LABELS] = { NULL };
	va_list ap;
	va_start(ap, f);
	for (int i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metric_childv(f, values);
}

struct metric *metric_get(struct metric_family *f)
{
	BUG_ON(f->nlabels);
	return f->children;
}

void metric_add(struct metric *m, uint64_t v)
{
	__atomic_add_fetch(shard_of(m), v, __ATOMIC_RELAXED);
}

void metric_observe(struct metric *m, uint64_t v)
{
	const struct metric_family *f = m->fam;
	uint64_t *s = shard_of(m);
	int i = 0;
	while (i < f->nbounds && (double)v > f->raw[i])
		i++;
	__atomic_add_fetch(&s[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s[f->nbounds + 1], v, __ATOMIC_RELAXED);
}

void metric_set(struct metric *m, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	__atomic_store_n(&m->gauge, bits, __ATOMIC_RELAXED);
}

void metric_gauge_add(struct metric *m, double d)
{
	uint64_t old = __atomic_load_n(&m->gauge, __ATOMIC_RELAXED), nw;
	double v;
	do {
		memcpy(&v, &old, sizeof(v));
		v += d;
		memcpy(&nw, &v, sizeof(nw));
	} while (!__atomic_compare_exchange_n(&m->gauge, &old, nw, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
}

static uint64_t sum_word(const struct metric *m, size_t w)
{
	uint64_t t = 0;
	for (int s = 0; s < METRIC_SHARDS; s++)
		t += __atomic_load_n(&m->shards[(size_t)s * m->fam->stride + w], __ATOMIC_RELAXED);
	return t;
}

double metric_value(struct metric *m)
{
	double v;
	uint64_t bits;
	if (m->fam->type == METRIC_GAUGE || m->fam->type == METRIC_COUNTER_SET) {
		bits = __atomic_load_n(&m->gauge, __ATOMIC_RELAXED);
		memcpy(&v, &bits, sizeof(v));
		return v;
	}
	return (double)sum_word(m, 0) * m->fam->scale;
}

void metrics_add_collector(metric_collect_fn fn, void *arg)
{
	struct collector *c = xcalloc(1, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&coll_mu);
	c->next = collectors;
	collectors = c;
	pthread_mutex_unlock(&coll_mu);
}

void metrics_remove_collector(metric_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&coll_mu);
	for (struct collector **p = &collectors; *p; p = &(*p)->next) {
		if ((*p)->fn == fn && (*p)->arg == arg) {
			struct collector *c = *p;
			*p = c->next;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&coll_mu);
}

void metrics_set_common(const char *vol_name, const char *mp)
{
	pthread_once(&proc_once, proc_init);
	pthread_mutex_lock(&reg_mu);
	free(common_vol);
	free(common_mp);
	common_vol = xstrdup(vol_name ? vol_name : "");
	common_mp = xstrdup(mp ? mp : "");
	pthread_mutex_unlock(&reg_mu);
}

/* ------------------------------------------------------- process figures */

static double read_statm(int field)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long v[2] = { 0, 0 };
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &v[0], &v[1]) != 2)
		v[0] = v[1] = 0;
	fclose(f);
	return (double)v[field] * (double)sysconf(_SC_PAGESIZE);
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	double n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream's own descriptor */
}

static void gauge_set(const char *name, const char *help, double v)
{
	metric_set(metric_get(metric_family(METRIC_GAUGE, name, help, 1, NULL, NULL, 0)), v);
}

static void counter_set(const char *name, const char *help, double v)
{
	metric_set(metric_get(metric_family(METRIC_COUNTER_SET, name, help, 1, NULL, NULL, 0)), v);
}

/* Bytes in and out of the process's network namespace, summed over /proc/self/net/dev. */
static void net_bytes(double *rx, double *tx)
{
	FILE *f = fopen("/proc/self/net/dev", "r");
	char line[512];
	*rx = *tx = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		unsigned long long v[9];
		if (!c || sscanf(c + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
				 &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 9)
			continue;
		*rx += (double)v[0];
		*tx += (double)v[8];
	}
	fclose(f);
}

static void collect_process(void)
{
	struct rusage ru;
	struct rlimit rl;
	struct timespec now;
	double cpu = 0, rx, tx;

	clock_gettime(CLOCK_MONOTONIC, &now);
	gauge_set("juicefs_uptime", "Total running time in seconds.",
		  (double)(now.tv_sec - started_mono.tv_sec) +
			  (double)(now.tv_nsec - started_mono.tv_nsec) / 1e9);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	gauge_set("juicefs_cpu_usage", "Accumulated CPU usage in seconds.", cpu);
	gauge_set("juicefs_memory", "Used memory in bytes.", read_statm(1));
	counter_set("juicefs_process_cpu_seconds_total",
		    "Total user and system CPU time spent in seconds.", cpu);
	net_bytes(&rx, &tx);
	counter_set("juicefs_process_network_receive_bytes_total",
		    "Number of bytes received by the process over the network.", rx);
	counter_set("juicefs_process_network_transmit_bytes_total",
		    "Number of bytes sent by the process over the network.", tx);
	gauge_set("juicefs_process_resident_memory_bytes", "Resident memory size in bytes.",
		  read_statm(1));
	gauge_set("juicefs_process_virtual_memory_bytes", "Virtual memory size in bytes.",
		  read_statm(0));
	gauge_set("juicefs_process_open_fds", "Number of open file descriptors.", open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		gauge_set("juicefs_process_max_fds", "Maximum number of open file descriptors.",
			  (double)rl.rlim_cur);
	if (getrlimit(RLIMIT_AS, &rl) == 0)
		gauge_set("juicefs_process_virtual_memory_max_bytes",
			  "Maximum amount of virtual memory available in bytes.",
			  rl.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0 : (double)rl.rlim_cur);
	gauge_set("juicefs_process_start_time_seconds",
		  "Start time of the process since unix epoch in seconds.", started_wall);
}

/* ------------------------------------------------------------- rendering */

/*
 * Go's strconv.FormatFloat(v, fmt, -1, 64), which client_golang and .stats
 * use: the shortest digits that read back as v. 'g' (fixed == 0) takes the
 * exponent form when the decimal exponent is < -4 or >= 6 (Go's rule for
 * shortest %g); 'f' (fixed == 1) never does, and pads with zeros.
 */
static void fmt_float(char *out, size_t n, double v, int fixed)
{
	char e[40], dig[24];
	int p, exp, nd = 0;
	struct buf b = BUF_INIT;

	if (isnan(v)) {
		snprintf(out, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(out, n, "0");
		return;
	}
	if (v == (double)(int64_t)v && fabs(v) < 9007199254740992.0) {
		/* an integer (most samples: counts, bytes): its digits are exact */
		char d[32];
		int len = snprintf(d, sizeof(d), "%lld", (long long)(v < 0 ? -v : v)), sig = len;
		while (sig > 1 && d[sig - 1] == '0')
			sig--;
		exp = len - 1;
		if (fixed || exp < 6) {
			snprintf(out, n, "%s%s", v < 0 ? "-" : "", d);
			return;
		}
		snprintf(e, sizeof(e), "%s%c%s%.*se+%02d", v < 0 ? "-" : "", d[0],
			 sig > 1 ? "." : "", sig - 1, d + 1, exp);
		snprintf(out, n, "%s", e);
		return;
	}
	for (p = 1; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	exp = (int)strtol(strchr(e, 'e') + 1, NULL, 10);
	if (!fixed && (exp < -4 || exp >= 6)) {
		snprintf(out, n, "%s", e);
		return;
	}
	for (const char *c = e; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			dig[nd++] = *c;
	dig[nd] = 0;
	if (v < 0)
		buf_addch(&b, '-');
	if (exp < 0) {
		buf_adds(&b, "0.");
		for (int i = -1; i > exp; i--)
			buf_addch(&b, '0');
		buf_adds(&b, dig);
	} else {
		for (int i = 0; i <= exp || i < nd; i++) {
			if (i == exp + 1)
				buf_addch(&b, '.');
			buf_addch(&b, i < nd ? dig[i] : '0');
		}
	}
	snprintf(out, n, "%s", b.ptr);
	buf_release(&b);
}

static int cmp_family(const void *a, const void *b)
{
	return strcmp((*(struct metric_family *const *)a)->name,
		      (*(struct metric_family *const *)b)->name);
}

static int cmp_child(const void *a, const void *b)
{
	const struct metric *x = *(struct metric *const *)a, *y = *(struct metric *const *)b;
	for (int i = 0; i < x->fam->nlabels; i++) {
		int c = strcmp(x->values[i], y->values[i]);
		if (c)
			return c;
	}
	return 0;
}

struct label {
	const char *k, *v;
};

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->k, ((const struct label *)b)->k);
}

static void add_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_addch(b, '\\'), buf_addch(b, *s);
		else if (*s == '\n')
			buf_adds(b, "\\n");
		else
			buf_addch(b, *s);
	}
}

/* {k="v",...} with the common labels, sorted by name as client_golang does; le last. */
static void add_labels(struct buf *b, const struct metric *m, const char *le)
{
	struct label l[METRIC_MAX_LABELS + 4];
	int n = 0;
	if (common_host)
		l[n++] = (struct label){ "instance", common_host };
	l[n++] = (struct label){ "juicefs_version", JFS_VERSION };
	if (common_mp)
		l[n++] = (struct label){ "mp", common_mp };
	if (common_vol)
		l[n++] = (struct label){ "vol_name", common_vol };
	for (int i = 0; i < m->fam->nlabels; i++)
		l[n++] = (struct label){ m->fam->labels[i], m->values[i] };
	qsort(l, (size_t)n, sizeof(l[0]), cmp_label);
	buf_addch(b, '{');
	for (int i = 0; i < n; i++) {
		buf_addf(b, "%s%s=\"", i ? "," : "", l[i].k);
		add_escaped(b, l[i].v);
		buf_addch(b, '"');
	}
	if (le)
		buf_addf(b, "%sle=\"%s\"", n ? "," : "", le);
	buf_addch(b, '}');
}

static void add_sample(struct buf *b, const char *name, const char *suffix,
		       const struct metric *m, const char *le, double v)
{
	char num[64];
	fmt_float(num, sizeof(num), v, 0);
	buf_addf(b, "%s%s", name, suffix);
	add_labels(b, m, le);
	buf_addf(b, " %s\n", num);
}

static void run_collectors(void)
{
	pthread_once(&proc_once, proc_init);
	collect_process();
	pthread_mutex_lock(&coll_mu);
	for (struct collector *c = collectors; c; c = c->next)
		c->fn(c->arg);
	pthread_mutex_unlock(&coll_mu);
}

/* A snapshot of the families, sorted by name; the caller holds reg_mu. */
static struct metric_family **snapshot(size_t *n)
{
	struct metric_family **v = NULL;
	size_t k = 0, cap = 0;
	for (struct metric_family *f = families; f; f = f->next) {
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[k++] = f;
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_family);
	*n = k;
	return v;
}

static struct metric **children_of(struct metric_family *f, size_t *n)
{
	struct metric **v = NULL;
	size_t k = 0, cap = 0;
	for (struct metric *m = __atomic_load_n(&f->children, __ATOMIC_ACQUIRE); m; m = m->next) {
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[k++] = m;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_child);
	*n = k;
	return v;
}

void metrics_render_prom(struct buf *b)
{
	static const char *const types[] = { "counter", "gauge", "histogram", "counter" };
	struct metric_family **fams;
	size_t nf, nc;
	char le[64];

	run_collectors();
	pthread_mutex_lock(&reg_mu);
	fams = snapshot(&nf);
	for (size_t i = 0; i < nf; i++) {
		struct metric_family *f = fams[i];
		struct metric **ch = children_of(f, &nc);
		if (!nc) { /* a labelled family nobody used yet: client_golang omits it */
			free(ch);
			continue;
		}
		buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			 types[f->type]);
		for (size_t j = 0; j < nc; j++) {
			struct metric *m = ch[j];
			if (f->type != METRIC_HISTOGRAM) {
				add_sample(b, f->name, "", m, NULL, metric_value(m));
				continue;
			}
			uint64_t cum = 0;
			for (int k = 0; k <= f->nbounds; k++) {
				cum += sum_word(m, (size_t)k);
				if (k < f->nbounds)
					fmt_float(le, sizeof(le), f->bounds[k], 0);
				else
					snprintf(le, sizeof(le), "+Inf");
				add_sample(b, f->name, "_bucket", m, le, (double)cum);
			}
			add_sample(b, f->name, "_sum", m, NULL,
				   (double)sum_word(m, (size_t)f->nbounds + 1) * f->scale);
			add_sample(b, f->name, "_count", m, NULL, (double)cum);
		}
		free(ch);
	}
	pthread_mutex_unlock(&reg_mu);
	free(fams);
}

void metrics_render_stats(struct buf *b)
{
	struct metric_family **fams;
	size_t nf, nc;
	char num[64];
	struct buf name = BUF_INIT;

	run_collectors();
	pthread_mutex_lock(&reg_mu);
	fams = snapshot(&nf);
	for (size_t i = 0; i < nf; i++) {
		struct metric_family *f = fams[i];
		struct metric **ch = children_of(f, &nc);
		for (size_t j = 0; j < nc; j++) {
			struct metric *m = ch[j];
			buf_reset(&name);
			buf_adds(&name, f->name);
			/* JuiceFS names by the errno and method labels only, in label order */
			for (int pass = 0; pass < 2; pass++)
				for (int k = 0; k < f->nlabels; k++)
					if (!strcmp(f->labels[k], pass ? "method" : "errno"))
						buf_addf(&name, "_%s", m->values[k]);
			if (f->type != METRIC_HISTOGRAM) {
				fmt_float(num, sizeof(num), metric_value(m), 1);
				buf_addf(b, "%s %s\n", name.ptr, num);
				continue;
			}
			uint64_t cnt = 0;
			for (int k = 0; k <= f->nbounds; k++)
				cnt += sum_word(m, (size_t)k);
			buf_addf(b, "%s_total %llu\n", name.ptr, (unsigned long long)cnt);
			fmt_float(num, sizeof(num),
				  (double)sum_word(m, (size_t)f->nbounds + 1) * f->scale, 1);
			buf_addf(b, "%s_sum %s\n", name.ptr, num);
		}
		free(ch);
	}
	pthread_mutex_unlock(&reg_mu);
	free(fams);
	buf_release(&name);
}

/* ------------------------------------------------------------ the server */

static int srv_fd = -1, srv_stop[2] = { -1, -1 };
static pthread_t srv_thread;

/*
 * Each scrape runs on a thread of its own, under one deadline for the whole
 * exchange: a peer that connects and says nothing, or trickles its head a
 * byte at a time, or reads the answer slowly, holds one thread for at most
 * SRV_DEADLINE_MS and never the scrapers beside it. Past SRV_MAX_CONNS at
 * once a connection is closed unanswered. metrics_stop waits for them all.
 */
enum { SRV_DEADLINE_MS = 5000, SRV_MAX_CONNS = 64 };
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t srv_cond = PTHREAD_COND_INITIALIZER;
static int srv_active;

/* Wait until fd is ready for EVENTS or the deadline passes; 0 when ready. */
static int srv_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static void srv_reply(int fd, int64_t deadline, int status, const char *ctype, const char *body,
		      size_t len)
{
	struct buf h = BUF_INIT;
	ssize_t w;
	size_t off = 0;
	buf_addf(&h, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n",
		 status, status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request", ctype,
		 len);
	if (buf_add(&h, body, len) == 0) {
		while (off < h.len && !srv_wait(fd, POLLOUT, deadline)) {
			w = send(fd, h.ptr + off, h.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	buf_release(&h);
}

static void srv_conn(int fd)
{
	char req[8192];
	size_t n = 0;
	ssize_t r;
	int64_t deadline = mono_ms() + SRV_DEADLINE_MS;

	while (n < sizeof(req) - 1) {
		if (srv_wait(fd, POLLIN, deadline))
			return;
		r = recv(fd, req + n, sizeof(req) - 1 - n, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[n] = 0;
	if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
		struct buf b = BUF_INIT;
		metrics_render_prom(&b);
		srv_reply(fd, deadline, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr,
			  b.len);
		buf_release(&b);
	} else if (!strncmp(req, "GET ", 4)) {
		srv_reply(fd, deadline, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
	} else {
		srv_reply(fd, deadline, 400, "text/plain; charset=utf-8", "bad request\n", 12);
	}
}

/* One scrape is over (or never started). */
static void srv_release(void)
{
	pthread_mutex_lock(&srv_mu);
	if (!--srv_active)
		pthread_cond_broadcast(&srv_cond);
	pthread_mutex_unlock(&srv_mu);
}

static void *srv_conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;

	srv_conn(fd);
	close(fd);
	srv_release();
	return NULL;
}

static void srv_spawn(int c)
{
	pthread_attr_t at;
	pthread_t t;
	int ok = 0;

	pthread_mutex_lock(&srv_mu);
	if (srv_active < SRV_MAX_CONNS) {
		srv_active++;
		ok = 1;
	}
	pthread_mutex_unlock(&srv_mu);
	if (!ok) {
		close(c);
		return;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	if (pthread_create(&t, &at, srv_conn_main, (void *)(intptr_t)c)) {
		close(c);
		srv_release();
	}
	pthread_attr_destroy(&at);
}

static void *srv_main(void *arg)
{
	struct pollfd p[2];
	UNUSED(arg);
	for (;;) {
		p[0] = (struct pollfd){ .fd = srv_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = srv_stop[0], .events = POLLIN };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN) {
			int c = accept4(srv_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				srv_spawn(c);
			} else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
				sleep_ms(100); /* the connection stays queued: do not spin on it */
			}
		}
	}
	return NULL;
}

static int listen_on(const char *host, const char *port, struct buf *bound)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, r;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
	if (r)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		r = -errno;
		close(fd);
		goto out;
	}
	if (getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		buf_reset(bound);
		buf_addf(bound, strchr(hbuf, ':') ? "[%s]:%s" : "%s:%s", hbuf, pbuf);
	}
	r = fd;
out:
	freeaddrinfo(ai);
	return r;
}

int metrics_serve(const char *addr, int explicit_addr, struct buf *bound)
{
	const char *colon = strrchr(addr, ':');
	char *host;
	uint32_t port;
	int fd;

	/* getaddrinfo takes 70000 as port 4464: check the number ourselves */
	if (!colon || parse_u32(colon + 1, &port) || port > 65535)
		return -EINVAL;
	host = xstrndup(addr, (size_t)(colon - addr));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	fd = listen_on(host, colon + 1, bound);
	/* JuiceFS: only the default address falls back to a port the kernel picks */
	if (fd < 0 && fd != -EINVAL && !explicit_addr)
		fd = listen_on(host, "0", bound);
	free(host);
	if (fd < 0)
		return fd;
	if (pipe2(srv_stop, O_CLOEXEC)) {
		close(fd);
		return -errno;
	}
	srv_fd = fd;
	if (pthread_create(&srv_thread, NULL, srv_main, NULL)) {
		close(srv_fd);
		close(srv_stop[0]);
		close(srv_stop[1]);
		srv_fd = srv_stop[0] = srv_stop[1] = -1;
		return -EAGAIN;
	}
	return 0;
}

void metrics_stop(void)
{
	if (srv_fd < 0)
		return;
	if (write(srv_stop[1], "x", 1) == 1)
		pthread_join(srv_thread, NULL);
	/* Scrapes under way end by their deadline at the latest. */
	pthread_mutex_lock(&srv_mu);
	while (srv_active)
		pthread_cond_wait(&srv_cond, &srv_mu);
	pthread_mutex_unlock(&srv_mu);
	close(srv_fd);
	close(srv_stop[0]);
	close(srv_stop[1]);
	srv_fd = srv_stop[0] = srv_stop[1] = -1;
}
