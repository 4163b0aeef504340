/*
 * grpc_common.c — process-wide gRPC lifetime and small helpers shared by
 * the transport's client and server.
 *
 * gRPC must be initialised before the first object is made and shut down
 * (blocking) after the last is destroyed; several runtimes, servers and
 * clients may live in one process (tests, the in-process mode), so they
 * share one counted reference.
 */
#include "transport.h"

#include <grpc/byte_buffer_reader.h>
#include <pthread.h>

static pthread_mutex_t grpc_ref_lock = PTHREAD_MUTEX_INITIALIZER;
static long grpc_refs;

void cor_grpc_acquire(void)
{
    pthread_mutex_lock(&grpc_ref_lock);
    if (grpc_refs++ == 0)
        grpc_init();
    pthread_mutex_unlock(&grpc_ref_lock);
}

void cor_grpc_release(void)
{
    pthread_mutex_lock(&grpc_ref_lock);
    if (--grpc_refs == 0)
        grpc_shutdown_blocking();
    pthread_mutex_unlock(&grpc_ref_lock);
}

gpr_timespec cor_deadline_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

grpc_slice cor_byte_buffer_slice(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return grpc_empty_slice();
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return s;
}
