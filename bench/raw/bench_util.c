/*
 * bench_util.c — latency recorder, clock and closure timing loop.
 *
 * Percentiles are nearest-rank over the sorted samples: p99 of 20000
 * samples is the 19800th smallest. The closure timer reads the clock around
 * every call; on this hardware a vDSO clock_gettime costs ~20 ns, which is
 * large next to a ~160 ns call, so the loop measures the cost of an empty
 * timed interval first and subtracts its median from every sample.
 */
#include "bench_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_rec_init(bench_rec_t *rec, size_t cap)
{
    if (cap == 0)
        cap = 1024;
    rec->n = 0;
    rec->cap = cap;
    rec->ns = malloc(cap * sizeof(*rec->ns));
    if (rec->ns == NULL) {
        rec->cap = 0;
        return -1;
    }
    return 0;
}

void bench_rec_close(bench_rec_t *rec)
{
    free(rec->ns);
    rec->ns = NULL;
    rec->n = rec->cap = 0;
}

int bench_rec_add(bench_rec_t *rec, uint64_t ns)
{
    if (rec->n == rec->cap) {
        size_t cap = rec->cap ? rec->cap * 2 : 1024;
        uint64_t *p = realloc(rec->ns, cap * sizeof(*p));

        if (p == NULL)
            return -1;
        rec->ns = p;
        rec->cap = cap;
    }
    rec->ns[rec->n++] = ns;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least q of all samples at or
 * below it. */
static uint64_t rank(const bench_rec_t *rec, double q)
{
    size_t i = (size_t)(q * (double)rec->n + 0.999999);

    if (i == 0)
        i = 1;
    if (i > rec->n)
        i = rec->n;
    return rec->ns[i - 1];
}

void bench_rec_summarise(bench_rec_t *rec, bench_result_t *res)
{
    double sum = 0;

    res->p50_ns = res->p99_ns = res->mean_ns = 0;
    res->p50_us = res->p99_us = res->p999_us = res->mean_us = 0;
    if (rec->n == 0)
        return;
    qsort(rec->ns, rec->n, sizeof(*rec->ns), cmp_u64);
    for (size_t i = 0; i < rec->n; i++)
        sum += (double)rec->ns[i];
    res->p50_ns = (double)rank(rec, 0.50);
    res->p99_ns = (double)rank(rec, 0.99);
    res->mean_ns = sum / (double)rec->n;
    res->p50_us = res->p50_ns / 1e3;
    res->p99_us = res->p99_ns / 1e3;
    res->p999_us = (double)rank(rec, 0.999) / 1e3;
    res->mean_us = res->mean_ns / 1e3;
}

/* Median cost of two back-to-back clock reads. */
static uint64_t clock_overhead_ns(void)
{
    enum { N = 1001 };
    uint64_t s[N];

    for (int i = 0; i < N; i++) {
        uint64_t t0 = bench_now_ns();
        s[i] = bench_now_ns() - t0;
    }
    qsort(s, N, sizeof(s[0]), cmp_u64);
    return s[N / 2];
}

int bench_time_loop(int (*fn)(void *arg), void *arg, int iters,
                    bench_result_t *res)
{
    bench_rec_t rec;
    uint64_t overhead, start, elapsed;
    long errors = 0;
    int rv = -1;

    memset(res, 0, sizeof(*res));
    if (iters <= 0)
        return 0;
    if (bench_rec_init(&rec, (size_t)iters) != 0)
        goto out;
    for (int i = 0; i < iters / 10; i++)
        if (fn(arg) != 0)
            errors++;
    overhead = clock_overhead_ns();
    start = bench_now_ns();
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = bench_now_ns();
        int r = fn(arg);
        uint64_t d = bench_now_ns() - t0;

        if (r != 0)
            errors++;
        rec.ns[rec.n++] = d > overhead ? d - overhead : 0;
    }
    elapsed = bench_now_ns() - start;
    bench_rec_summarise(&rec, res);
    res->calls = iters;
    res->errors = errors;
    res->calls_per_sec = elapsed ? (double)iters * 1e9 / (double)elapsed : 0;
    rv = 0;
    bench_rec_close(&rec);
out:
    return rv;
}
