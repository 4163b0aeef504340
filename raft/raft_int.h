/*
 * raft/raft_int.h — helpers shared by the Raft core's files (not public).
 *
 * Little-endian fixed-width reads and writes for the byte forms (conf.c,
 * wire.c), and the configuration edits the core makes.
 */
#ifndef COR_RAFT_INT_H
#define COR_RAFT_INT_H

#include <stdint.h>

#include "cor/raft.h"

static inline void raft_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void raft_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t raft_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t raft_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* COR_EPROTO unless conf is well formed (ids non-zero, sorted, unique). */
int raft_conf_check(const cor_raft_conf_t *conf);

/* Applies one single-server change to conf in place; COR_EINVAL (conf
 * unchanged) when it makes no sense. */
int raft_conf_apply(cor_raft_conf_t *conf, int change, cor_raft_id_t id);

#endif
