/*
 * base/metrics: the process-wide registry of Prometheus metrics, rendered as
 * the text exposition format on --metrics (/metrics) and as the JuiceFS
 * `.stats` file, from the same numbers.
 *
 * Names, help texts, label names and bucket layouts are JuiceFS's (its
 * Grafana dashboard and `juicefs stats` read them), so a family is declared
 * by the module that owns the event: fuse/ for FUSE ops, fscore/ for object
 * requests and the block cache, meta/ for transactions, gateway/ for doors.
 *
 * Contract:
 *  1. Families live for the whole process and are never freed; declaring a
 *     name twice returns the first family (modules may init more than once).
 *  2. A child (one set of label values) is found without a lock: children
 *     are pushed at the head of an append-only list with a release store,
 *     readers walk it after an acquire load. Creating one takes the
 *     family's mutex. Hot paths keep the child pointer.
 *  3. Counters and histograms are split over METRIC_SHARDS cache-line
 *     aligned shards; a thread always adds into the same shard with relaxed
 *     atomics. No lock is shared by the requests being counted. A scrape
 *     sums the shards, so it sees every add that happened before it, and a
 *     histogram's count, buckets and sum may differ by the adds in flight.
 *  4. Values are kept as unsigned integers in the family's unit (e.g.
 *     microseconds) and exported times `scale` (1e-6 -> seconds).
 *  5. Collectors run at every render, before the families are read: they
 *     set gauges from state kept elsewhere (used space, buffer bytes).
 */
#ifndef JFS_METRICS_H
#define JFS_METRICS_H

#include "base/base.h"

#include <time.h>

/*
 * METRIC_COUNTER_SET: exposed as a counter, but its value is set (metric_set)
 * from a figure kept elsewhere (CPU seconds, network bytes) at scrape time.
 */
enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM, METRIC_COUNTER_SET };

#define METRIC_MAX_LABELS 3
#define METRIC_MAX_BUCKETS 40

struct metric_family;
struct metric;

/*
 * Declare a family. labels: NULL-terminated label names (or NULL for none;
 * then the single child exists at once). bounds: histogram upper bounds in
 * exported units, ascending, without +Inf.
 */
struct metric_family *metric_family(enum metric_type type, const char *name, const char *help,
				    double scale, const char *const *labels, const double *bounds,
				    int nbounds);
/* The child for these label values (as many as the family has labels). */
struct metric *metric_child(struct metric_family *f, ...);
struct metric *metric_childv(struct metric_family *f, const char *const *values);
/* The only child of a family without labels. */
struct metric *metric_get(struct metric_family *f);

void metric_add(struct metric *m, uint64_t v);     /* counter */
void metric_observe(struct metric *m, uint64_t v); /* histogram, in the family's unit */
void metric_set(struct metric *m, double v);       /* gauge, exported units */
void metric_gauge_add(struct metric *m, double d);  /* gauge, exported units */
double metric_value(struct metric *m);             /* counter/gauge, exported units */

/* Monotonic microseconds, for latencies. */
static inline uint64_t metric_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Go's prometheus.ExponentialBuckets / LinearBuckets, computed the same way. */
void metric_exp_buckets(double *out, double start, double factor, int n);
void metric_lin_buckets(double *out, double start, double width, int n);

typedef void (*metric_collect_fn)(void *arg);
void metrics_add_collector(metric_collect_fn fn, void *arg);
void metrics_remove_collector(metric_collect_fn fn, void *arg);

/*
 * The labels JuiceFS puts on every sample: vol_name, mp, instance (host
 * name), juicefs_version. Call once before serving.
 */
void metrics_set_common(const char *vol_name, const char *mp);

/* Prometheus text format 0.0.4, families and children sorted by name. */
void metrics_render_prom(struct buf *b);
/* JuiceFS's .stats: "name[_errno][_method][_total|_sum] value" lines, method and errno
 * being the only label values it puts into names. */
void metrics_render_stats(struct buf *b);

/*
 * Serve GET /metrics on addr ("host:port") from a thread of its own.
 * explicit: the user gave --metrics. As JuiceFS does, a default address that
 * is taken falls back to a free port the kernel picks (port 0), while an
 * explicit one that is taken is an error (the caller logs it and goes on).
 * The address bound goes into bound (host:port).
 */
int metrics_serve(const char *addr, int explicit_addr, struct buf *bound);
void metrics_stop(void);

#endif
