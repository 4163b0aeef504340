/*
 * raft/wire.c — a Raft message's byte form, for the transport and the
 * fuzzer.
 *
 * Design: fixed-width little-endian fields, no optional parts, so the
 * decoder is a straight walk with a bounds check before every read. A
 * message from a peer is untrusted: the decoder refuses a short or long
 * buffer, an unknown version or type, an entry count or length that does
 * not fit what is left, and a malformed configuration, naming which. What
 * it accepts still goes through cor_raft_recv's own checks (order of
 * entries, terms), which do not depend on where the message came from.
 *
 * Layout (version 1):
 *   u8 version, u8 type, u8 flags (1 transfer, 2 reject, 4 done)
 *   u64 from, to, term, last_index, last_term, prev_index, prev_term,
 *       commit, index, hint, read_seq, snap_index, snap_term, offset
 *   u32 conf length, conf bytes (cor_raft_conf_encode; 0 length: none)
 *   u32 entry count, each: u64 term, u64 index, u8 type, u32 len, bytes
 *   u32 chunk length, chunk bytes
 */
#include "cor/raft.h"

#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

#define WIRE_VERSION 1
#define WIRE_HEAD (3 + 14 * 8)
#define WIRE_ENTRY_HEAD (8 + 8 + 1 + 4)

enum { F_TRANSFER = 1, F_REJECT = 2, F_DONE = 4 };

const char *cor_raft_msg_name(int type)
{
    switch (type) {
    case COR_RAFT_MSG_PREVOTE: return "prevote";
    case COR_RAFT_MSG_PREVOTE_RESP: return "prevote-resp";
    case COR_RAFT_MSG_VOTE: return "vote";
    case COR_RAFT_MSG_VOTE_RESP: return "vote-resp";
    case COR_RAFT_MSG_APPEND: return "append";
    case COR_RAFT_MSG_APPEND_RESP: return "append-resp";
    case COR_RAFT_MSG_SNAPSHOT: return "snapshot";
    case COR_RAFT_MSG_SNAPSHOT_RESP: return "snapshot-resp";
    case COR_RAFT_MSG_TIMEOUT_NOW: return "timeout-now";
    default: return "unknown";
    }
}

size_t cor_raft_msg_size(const cor_raft_msg_t *m)
{
    size_t n = WIRE_HEAD + 4 + (m->conf.n ? cor_raft_conf_size(&m->conf) : 0) + 4 + 4 + m->len;
    for (size_t i = 0; i < m->n_entries; i++)
        n += WIRE_ENTRY_HEAD + m->entries[i].len;
    return n;
}

void cor_raft_msg_encode(const cor_raft_msg_t *m, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = WIRE_VERSION;
    *p++ = (uint8_t)m->type;
    *p++ = (uint8_t)((m->transfer ? F_TRANSFER : 0) | (m->reject ? F_REJECT : 0) |
                     (m->done ? F_DONE : 0));
    const uint64_t f[14] = {m->from,       m->to,     m->term,   m->last_index, m->last_term,
                            m->prev_index, m->prev_term, m->commit, m->index,    m->hint,
                            m->read_seq,   m->snap_index, m->snap_term, m->offset};
    for (int i = 0; i < 14; i++, p += 8)
        raft_put64(p, f[i]);
    size_t cl = m->conf.n ? cor_raft_conf_size(&m->conf) : 0;
    raft_put32(p, (uint32_t)cl);
    p += 4;
    if (cl) {
        cor_raft_conf_encode(&m->conf, p);
        p += cl;
    }
    raft_put32(p, (uint32_t)m->n_entries);
    p += 4;
    for (size_t i = 0; i < m->n_entries; i++) {
        const cor_raft_entry_t *e = &m->entries[i];
        raft_put64(p, e->term);
        raft_put64(p + 8, e->index);
        p[16] = (uint8_t)e->type;
        raft_put32(p + 17, (uint32_t)e->len);
        p += WIRE_ENTRY_HEAD;
        if (e->len) {
            memcpy(p, e->data, e->len);
            p += e->len;
        }
    }
    raft_put32(p, (uint32_t)m->len);
    p += 4;
    if (m->len)
        memcpy(p, m->data, m->len);
}

static int refuse(const char **why, const char *what)
{
    if (why != NULL)
        *why = what;
    return COR_EPROTO;
}

int cor_raft_msg_decode(const uint8_t *data, size_t len, cor_raft_msg_t *m,
                        cor_raft_entry_t **entries, const char **why)
{
    memset(m, 0, sizeof *m);
    *entries = NULL;
    if (data == NULL || len < WIRE_HEAD + 12)
        return refuse(why, "shorter than a message header");
    const uint8_t *p = data, *end = data + len;
    if (p[0] != WIRE_VERSION)
        return refuse(why, "unknown message version");
    m->type = p[1];
    if (m->type < COR_RAFT_MSG_PREVOTE || m->type > COR_RAFT_MSG_TYPE_MAX)
        return refuse(why, "unknown message type");
    if (p[2] & ~(F_TRANSFER | F_REJECT | F_DONE))
        return refuse(why, "unknown flags");
    m->transfer = (p[2] & F_TRANSFER) != 0;
    m->reject = (p[2] & F_REJECT) != 0;
    m->done = (p[2] & F_DONE) != 0;
    p += 3;
    uint64_t *f[14] = {&m->from,       &m->to,        &m->term,   &m->last_index, &m->last_term,
                       &m->prev_index, &m->prev_term, &m->commit, &m->index,      &m->hint,
                       &m->read_seq,   &m->snap_index, &m->snap_term, &m->offset};
    for (int i = 0; i < 14; i++, p += 8)
        *f[i] = raft_get64(p);

    uint32_t cl = raft_get32(p);
    p += 4;
    if (cl > (size_t)(end - p))
        return refuse(why, "configuration longer than the message");
    if (cl > 0 && cor_raft_conf_decode(p, cl, &m->conf) != 0)
        return refuse(why, "malformed configuration");
    p += cl;

    if ((size_t)(end - p) < 4)
        return refuse(why, "truncated before the entries");
    uint32_t n = raft_get32(p);
    p += 4;
    if (n > (size_t)(end - p) / WIRE_ENTRY_HEAD)
        return refuse(why, "more entries than the message can hold");
    cor_raft_entry_t *es = NULL;
    if (n > 0 && (es = calloc(n, sizeof *es)) == NULL)
        return refuse(why, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < WIRE_ENTRY_HEAD) {
            free(es);
            return refuse(why, "truncated entry");
        }
        es[i].term = raft_get64(p);
        es[i].index = raft_get64(p + 8);
        es[i].type = p[16];
        size_t el = raft_get32(p + 17);
        p += WIRE_ENTRY_HEAD;
        if (el > (size_t)(end - p)) {
            free(es);
            return refuse(why, "entry longer than the message");
        }
        es[i].data = el ? p : NULL;
        es[i].len = el;
        p += el;
    }
    if ((size_t)(end - p) < 4) {
        free(es);
        return refuse(why, "truncated before the chunk");
    }
    size_t dl = raft_get32(p);
    p += 4;
    if (dl != (size_t)(end - p)) {
        free(es);
        return refuse(why, dl > (size_t)(end - p) ? "chunk longer than the message"
                                                  : "bytes after the message");
    }
    m->data = dl ? p : NULL;
    m->len = dl;
    m->entries = es;
    m->n_entries = n;
    *entries = es;
    return 0;
}
