/*
 * raw_echo.h — the baseline Corundum's transport is measured against: a
 * unary echo written directly on gRPC C core, as fast as C core allows, and
 * a client that drives it in latency and throughput modes.
 *
 * The method is `/bench.Echo/Echo`; request and reply are opaque bytes (the
 * server echoes the request verbatim), so no serialisation cost is counted.
 *
 * Process setup: the caller owns gRPC's lifetime — grpc_init() before any
 * function here, grpc_shutdown_blocking() after the last _stop/_free. (Fork
 * before grpc_init if server and client live in different processes.)
 */
#ifndef COR_BENCH_RAW_ECHO_H
#define COR_BENCH_RAW_ECHO_H

#include <stddef.h>

#include "bench_util.h"

#define RAW_ECHO_METHOD "/bench.Echo/Echo"

typedef struct raw_server raw_server_t;
typedef struct raw_client raw_client_t;

/* Start an echo server on addr ("127.0.0.1:0" for any free TCP port,
 * "unix:/path" for a unix socket), with n_threads completion-queue threads
 * (each with its own queue and its own pool of outstanding requested calls;
 * replies are sent from those threads). Insecure credentials. On 2 cores
 * one thread gave the best throughput; more threads only contend with
 * gRPC's own.
 * On success *out is the server (free with raw_server_stop) and 0 is
 * returned; on failure -1 and nothing to free. Any thread. */
int raw_server_start(const char *addr, int n_threads, raw_server_t **out);

/* The bound TCP port; 0 for a unix socket. */
int raw_server_port(const raw_server_t *srv);

/* Stop cleanly: refuse new calls, cancel the ones in progress, wait for
 * every outstanding operation, destroy server and queues, join the threads
 * and free srv. Not from a server thread. NULL is a no-op. */
void raw_server_stop(raw_server_t *srv);

/* A client of one insecure channel to target ("127.0.0.1:port" or
 * "unix:/path") with the echo method pre-registered and retries disabled
 * (GRPC_ARG_ENABLE_RETRIES 0: no retry policy exists), and one completion
 * queue driven by whichever thread runs a benchmark. Not thread-safe: one
 * benchmark at a time. Returns 0 and *out (free with raw_client_free), or
 * -1. */
int raw_client_new(const char *target, raw_client_t **out);
void raw_client_free(raw_client_t *cli);

/* Latency mode: one call in flight; `warmup` unrecorded calls, then n_calls
 * recorded ones. Each call has a 10 s deadline and its reply is compared
 * with the request; failures count in res->errors. Fills res. Returns 0 if
 * the run completed (even with errors), -1 on a local failure. */
int raw_bench_latency(raw_client_t *cli, size_t payload_bytes, int n_calls,
                      int warmup, bench_result_t *res);

/* Throughput mode: in_flight calls outstanding on one queue driven by the
 * calling thread, each completion issuing the next, for `seconds` (the
 * first tenth is warm-up and not counted). Records every counted call's
 * latency. Same deadlines, checks and return as raw_bench_latency. */
int raw_bench_throughput(raw_client_t *cli, size_t payload_bytes,
                         int in_flight, double seconds, bench_result_t *res);

#endif /* COR_BENCH_RAW_ECHO_H */
