/*
 * bench/metricsbench: what the metrics registry costs per call, measured in
 * one process, so bench/metrics-bench.sh can put a figure on the hot-path
 * cost that a shared machine's throughput noise would hide.
 *
 * Prints "name ns" lines: a counter add and a 30-bucket histogram observe,
 * from 1 thread and from NTHREADS threads at once on the same metric (the
 * contention case sharding is for), a labelled child lookup among 24
 * children (the HTTP doors' path), a monotonic clock read, and a full
 * render of a registry shaped like a mount's, in microseconds.
 */
#include "base/metrics.h"

#include <pthread.h>

#define NTHREADS 2
#define LOOPS 5000000

static struct metric *ctr, *hist;
static struct metric_family *fam;

static double now_s(void)
{
	return (double)metric_now_us() / 1e6;
}

static void *add_loop(void *arg)
{
	UNUSED(arg);
	for (int i = 0; i < LOOPS; i++)
		metric_add(ctr, 1);
	return NULL;
}

static void *observe_loop(void *arg)
{
	UNUSED(arg);
	for (int i = 0; i < LOOPS; i++)
		metric_observe(hist, (uint64_t)(i & 1023) * 37);
	return NULL;
}

/* ns per call of fn run by n threads at once (each LOOPS calls) */
static double run(void *(*fn)(void *), int n)
{
	pthread_t t[NTHREADS];
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return (now_s() - t0) * 1e9 / LOOPS;
}

int main(void)
{
	static const char *const ms[] = { "method", "status", NULL };
	static const char *const methods[] = { "GET", "PUT", "HEAD", "DELETE", "POST", "PROPFIND" };
	static const char *const statuses[] = { "200", "204", "404", "500" };
	double b[30], t0;
	volatile uint64_t sink = 0;
	struct buf out = BUF_INIT;
	char name[64];

	metric_exp_buckets(b, 0.00001, 1.8, 30);
	ctr = metric_get(metric_family(METRIC_COUNTER, "bench_total", "h", 1, NULL, NULL, 0));
	hist = metric_get(metric_family(METRIC_HISTOGRAM, "bench_seconds", "h", 1e-6, NULL, b, 30));
	fam = metric_family(METRIC_COUNTER, "bench_requests_total", "h", 1, ms, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		for (size_t j = 0; j < ARRAY_SIZE(statuses); j++)
			metric_add(metric_child(fam, methods[i], statuses[j]), 1);
	/* the rest of a mount-sized registry, for the render figure */
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "bench_filler_%02d", i);
		metric_add(metric_get(metric_family(METRIC_COUNTER, name, "h", 1, NULL, NULL, 0)), 1);
	}
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "bench_hist_%02d", i);
		metric_observe(metric_get(metric_family(METRIC_HISTOGRAM, name, "h", 1e-6, NULL, b, 30)), 5);
	}
	metrics_set_common("benchvol", "/mnt/bench");

	printf("counter_add_1thread %.1f\n", run(add_loop, 1));
	printf("counter_add_%dthreads %.1f\n", NTHREADS, run(add_loop, NTHREADS));
	printf("histogram_observe_1thread %.1f\n", run(observe_loop, 1));
	printf("histogram_observe_%dthreads %.1f\n", NTHREADS, run(observe_loop, NTHREADS));

	t0 = now_s();
	for (int i = 0; i < LOOPS; i++)
		sink += (uintptr_t)metric_child(fam, methods[i % 6], statuses[i & 3]);
	printf("child_lookup_of_24 %.1f\n", (now_s() - t0) * 1e9 / LOOPS);
	t0 = now_s();
	for (int i = 0; i < LOOPS; i++)
		sink += metric_now_us();
	printf("clock_read %.1f\n", (now_s() - t0) * 1e9 / LOOPS);

	t0 = now_s();
	for (int i = 0; i < 200; i++) {
		buf_reset(&out);
		metrics_render_prom(&out);
	}
	printf("render_us %.1f (%zu bytes)\n", (now_s() - t0) * 1e6 / 200, out.len);
	buf_release(&out);
	return sink == 42;
}
