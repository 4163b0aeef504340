/*
 * raft/conf.c — a Raft group's membership: lookups and its byte form.
 *
 * A configuration travels inside COR_RAFT_CONF log entries and snapshot
 * messages, so its encoding is canonical (members sorted by id, fixed
 * widths, little-endian): every founding member bootstrapping with the same
 * members writes byte-identical entry 1, which log matching requires.
 *
 * Layout: u32 n, then n times (u64 id, u8 voter). Decoding refuses
 * anything else — a wrong length, id 0, ids unsorted or repeated, more than
 * COR_RAFT_MAX_MEMBERS — because a configuration read from a peer or from
 * disk decides who votes.
 */
#include "cor/raft.h"

#include <string.h>

#include "raft_int.h"

size_t cor_raft_conf_size(const cor_raft_conf_t *conf)
{
    return 4 + conf->n * 9;
}

void cor_raft_conf_encode(const cor_raft_conf_t *conf, uint8_t *out)
{
    raft_put32(out, (uint32_t)conf->n);
    out += 4;
    for (size_t i = 0; i < conf->n; i++) {
        raft_put64(out, conf->m[i].id);
        out[8] = conf->m[i].voter ? 1 : 0;
        out += 9;
    }
}

int cor_raft_conf_decode(const uint8_t *data, size_t len, cor_raft_conf_t *conf)
{
    memset(conf, 0, sizeof *conf);
    if (len < 4)
        return COR_EPROTO;
    uint32_t n = raft_get32(data);
    if (n > COR_RAFT_MAX_MEMBERS || len != 4 + (size_t)n * 9)
        return COR_EPROTO;
    const uint8_t *p = data + 4;
    for (uint32_t i = 0; i < n; i++, p += 9) {
        uint64_t id = raft_get64(p);
        if (id == 0 || (i > 0 && id <= conf->m[i - 1].id) || p[8] > 1)
            return COR_EPROTO;
        conf->m[i].id = id;
        conf->m[i].voter = p[8] == 1;
    }
    conf->n = n;
    return 0;
}

int raft_conf_check(const cor_raft_conf_t *conf)
{
    if (conf->n > COR_RAFT_MAX_MEMBERS)
        return COR_EPROTO;
    for (size_t i = 0; i < conf->n; i++)
        if (conf->m[i].id == 0 || (i > 0 && conf->m[i].id <= conf->m[i - 1].id))
            return COR_EPROTO;
    return 0;
}

const cor_raft_member_t *cor_raft_conf_find(const cor_raft_conf_t *conf, cor_raft_id_t id)
{
    for (size_t i = 0; i < conf->n; i++)
        if (conf->m[i].id == id)
            return &conf->m[i];
    return NULL;
}

size_t cor_raft_conf_voters(const cor_raft_conf_t *conf)
{
    size_t v = 0;
    for (size_t i = 0; i < conf->n; i++)
        v += conf->m[i].voter;
    return v;
}

int raft_conf_apply(cor_raft_conf_t *conf, int change, cor_raft_id_t id)
{
    cor_raft_member_t *m = (cor_raft_member_t *)cor_raft_conf_find(conf, id);
    if (id == 0)
        return COR_EINVAL;
    switch (change) {
    case COR_RAFT_ADD_LEARNER: {
        if (m != NULL || conf->n == COR_RAFT_MAX_MEMBERS)
            return COR_EINVAL;
        size_t at = 0;
        while (at < conf->n && conf->m[at].id < id)
            at++;
        memmove(&conf->m[at + 1], &conf->m[at], (conf->n - at) * sizeof conf->m[0]);
        conf->m[at] = (cor_raft_member_t){.id = id, .voter = false};
        conf->n++;
        return 0;
    }
    case COR_RAFT_PROMOTE:
        if (m == NULL || m->voter)
            return COR_EINVAL;
        m->voter = true;
        return 0;
    case COR_RAFT_REMOVE: {
        if (m == NULL || (m->voter && cor_raft_conf_voters(conf) == 1))
            return COR_EINVAL;
        size_t at = (size_t)(m - conf->m);
        memmove(&conf->m[at], &conf->m[at + 1], (conf->n - at - 1) * sizeof conf->m[0]);
        conf->n--;
        return 0;
    }
    default:
        return COR_EINVAL;
    }
}
