/*
 * direct.h — the "direct C call + protobuf-c pack/unpack" baseline: the
 * floor under any RPC transport, a plain function call that still
 * serialises request and reply.
 *
 * Use: direct_new(56, &d) (56 B of blob pack to a 64 B message), then
 * bench_time_loop(direct_call, d, n, &res), then direct_free(d). A context
 * belongs to one thread.
 */
#ifndef COR_BENCH_DIRECT_H
#define COR_BENCH_DIRECT_H

#include <stddef.h>

typedef struct direct direct_t;

/* A context whose requests carry blob_bytes of payload. Returns 0 and *out
 * (free with direct_free), or -1 when out of memory. */
int direct_new(size_t blob_bytes, direct_t **out);
void direct_free(direct_t *d);

/* The packed size of d's request (and reply) message in bytes. */
size_t direct_packed_size(const direct_t *d);

/* One round: pack the request, call the handler through a function pointer
 * (it unpacks, builds the reply echoing the request, packs it), unpack the
 * reply and check it. Matches bench_time_loop's closure. Returns 0, or 1 if
 * anything failed or the reply differs. */
int direct_call(void *arg);

#endif /* COR_BENCH_DIRECT_H */
