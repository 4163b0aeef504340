/*
 * bench_util.h — timing and latency statistics shared by Corundum's
 * benchmarks.
 *
 * A latency recorder is a growable array of nanosecond samples; summarising
 * it sorts the array once and reads percentiles by nearest rank, which is
 * exact and cheap at the sample counts the benchmarks use (10^4–10^6).
 * bench_time_loop times a caller's closure call by call for sub-microsecond
 * baselines, subtracting the cost of reading the clock.
 *
 * Threads: a recorder belongs to one thread; nothing here locks.
 */
#ifndef COR_BENCH_UTIL_H
#define COR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* What one benchmark run measured. Latencies come from the recorded
 * samples; calls_per_sec is completed calls over the measured wall time. */
typedef struct bench_result {
    double p50_us, p99_us, p999_us, mean_us;
    double p50_ns, p99_ns, mean_ns;
    double calls_per_sec;
    long calls;  /* completed and recorded */
    long errors; /* failed, timed out or wrong reply */
} bench_result_t;

typedef struct bench_rec {
    uint64_t *ns; /* samples, owned */
    size_t n, cap;
} bench_rec_t;

/* Monotonic clock (CLOCK_MONOTONIC) in nanoseconds. Any thread. */
uint64_t bench_now_ns(void);

/* Prepare an empty recorder with room for `cap` samples (grows as needed).
 * Returns 0, or -1 when out of memory. Release with bench_rec_close. */
int bench_rec_init(bench_rec_t *rec, size_t cap);
void bench_rec_close(bench_rec_t *rec);
/* Append one sample. Returns 0, or -1 when out of memory (sample lost). */
int bench_rec_add(bench_rec_t *rec, uint64_t ns);
/* Sort the samples and fill the latency fields of res (both µs and ns).
 * calls, errors and calls_per_sec are left alone. No samples: zeros. */
void bench_rec_summarise(bench_rec_t *rec, bench_result_t *res);

/* Call fn(arg) `iters` times, timing each call, after iters/10 untimed
 * warm-up calls. A non-zero return from fn counts as an error. Fills all of
 * res; calls_per_sec comes from the whole loop's wall time. Returns 0, or -1
 * when out of memory. */
int bench_time_loop(int (*fn)(void *arg), void *arg, int iters,
                    bench_result_t *res);

#endif /* COR_BENCH_UTIL_H */
