/*
 * migrate_out.c — live migration, the source's side (Kernel.MigrateOut).
 *
 * The OMS drives a move in steps (oms/dir_migrate.c):
 *   PRECOPY, repeated: copy the state to the target while the object keeps
 *     serving. The first step sends it all; each later one sends only what
 *     changed since the step before: the class's own save_dirty bytes when
 *     it has them, else the runtime diffs successive save_state outputs in
 *     4 KiB blocks. The source remembers, per object, the session (target,
 *     epoch, the bytes the target now holds).
 *   FINAL: in the object's turn (calls queue meanwhile) send what changed
 *     since the last step plus the server DM parts' state, have the target
 *     go live, and leave a tombstone that answers EMOVED with where the
 *     object went. Without a session (small states, or no pre-copy asked)
 *     the whole state goes in this one step. If the target refuses or
 *     cannot be reached, the turn is released and the object serves on:
 *     nothing was lost.
 *   ABORT: forget the session.
 * The target's side is migrate_in.c; docs/migration.md tells the protocol
 * and what each fault leaves behind.
 */
#include "runtime_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRECOPY_MIN_BYTES (64u * 1024)       /* smaller states move in one step */
#define DELTA_BLOCK 4096u                    /* the runtime's diff granularity */
#define CHUNK_BYTES (4u << 20)               /* state bytes per InstallState */
#define CLASS_DELTA_MAX (12u << 20)          /* a class delta travels whole */
#define STEP_DEADLINE_MS 10000
#define STEP_RUNS 4096 /* runs per InstallState step (scattered 4 KiB blocks) */


/* The source's side of a move under way; touched only in the object's
 * turn. */
struct cor_precopy {
    uint64_t epoch;
    char target[COR_ADDR_MAX];
    uint8_t *base;   /* runtime diff: the bytes the target holds (owned) */
    size_t base_len;
    size_t state_len; /* the state's size at the last step */
    int class_delta; /* the class's save_dirty tracks what changed */
    int sending;     /* a step is sending outside the turn */
    int dm_pre;      /* DM parts with server_save_dirty were staged whole */
};

void cor_precopy_free(struct cor_precopy *pc)
{
    if (pc == NULL)
        return;
    free(pc->base);
    free(pc);
}

/* ------------------------------------------------------------------ */
/* deltas: runs of bytes that differ                                   */

typedef struct delta {
    Cor__DeltaRun *runs; /* data points into the new bytes (not owned) */
    size_t n, cap;
    uint64_t bytes;      /* sum of the runs' lengths */
} delta_t;

static int delta_add(delta_t *d, uint64_t off, const uint8_t *p, size_t len)
{
    if (d->n > 0) {
        Cor__DeltaRun *last = &d->runs[d->n - 1];
        if (last->offset + last->data.len == off && last->data.data + last->data.len == p) {
            last->data.len += len;
            d->bytes += len;
            return 0;
        }
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        Cor__DeltaRun *r = realloc(d->runs, cap * sizeof(*r));
        if (r == NULL)
            return COR_ENOMEM;
        d->runs = r;
        d->cap = cap;
    }
    Cor__DeltaRun *r = &d->runs[d->n++];
    cor__delta_run__init(r);
    r->offset = off;
    r->data.data = (uint8_t *)p;
    r->data.len = len;
    d->bytes += len;
    return 0;
}

/* The blocks of cur that differ from old (all of cur when old is NULL). */
static int delta_diff(delta_t *d, const uint8_t *old, size_t old_len, const uint8_t *cur,
                      size_t cur_len)
{
    for (size_t off = 0; off < cur_len; off += DELTA_BLOCK) {
        size_t n = cur_len - off < DELTA_BLOCK ? cur_len - off : DELTA_BLOCK;
        if (old != NULL && off + n <= old_len && memcmp(old + off, cur + off, n) == 0)
            continue;
        if (delta_add(d, off, cur + off, n) != 0)
            return COR_ENOMEM;
    }
    return 0;
}


/* ------------------------------------------------------------------ */
/* source: sending steps                                               */

/* Server DM parts' state for a step. */
typedef struct dm_set {
    Cor__DmHeader h[COR_DM_MAX_CHAIN], *p[COR_DM_MAX_CHAIN];
    unsigned char *buf[COR_DM_MAX_CHAIN];
    size_t n;
} dm_set_t;

enum dm_pick {
    DM_ALL_WHOLE,  /* every part with server_save: its whole state */
    DM_PRE_WHOLE,  /* parts with server_save_dirty: whole, and restart their changes */
    DM_PRE_DIRTY,  /* parts with server_save_dirty: what changed */
    DM_REST_WHOLE, /* parts without it: whole */
};

static void dm_set_free(dm_set_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->buf[i]);
    d->n = 0;
}

/* What a step carries besides the object's state (either may be NULL). */
typedef struct step_dm {
    const dm_set_t *whole, *dirty;
} step_dm_t;

static void step_attach(Cor__InstallStateRequest *is, const step_dm_t *x)
{
    if (x == NULL)
        return;
    if (x->whole != NULL && x->whole->n > 0) {
        is->dm_state = (Cor__DmHeader **)x->whole->p;
        is->n_dm_state = x->whole->n;
    }
    if (x->dirty != NULL && x->dirty->n > 0) {
        is->dm_delta = (Cor__DmHeader **)x->dirty->p;
        is->n_dm_delta = x->dirty->n;
    }
}

typedef struct move {
    cor_runtime_t *rt;
    cor_obj_t *obj;
    const Cor__MigrateOutRequest *req;
    cor_error_t *err;
    uint64_t sent; /* state bytes sent so far by this MigrateOut */
} move_t;

/* Collects the object's server DM parts' state as pick says, in its turn.
 * 0, or an error with mv->err set (out is then empty). */
static int dm_collect(move_t *mv, enum dm_pick pick, dm_set_t *out)
{
    const cor_dm_stack_t *dm = mv->obj->dm;
    out->n = 0;
    for (int i = 0; dm != NULL && i < dm->n; i++) {
        const cor_dm_inst_t *part = &dm->parts[i];
        int pre = part->ops->server_save_dirty != NULL;
        if (part->ops->server_save == NULL || (pick == DM_PRE_WHOLE && !pre) ||
            (pick == DM_PRE_DIRTY && !pre) || (pick == DM_REST_WHOLE && pre))
            continue;
        size_t len = 0;
        unsigned char *b = NULL;
        int rc = pick == DM_PRE_DIRTY ? part->ops->server_save_dirty(part->state, 0, &b, &len)
                                      : part->ops->server_save(part->state, &b, &len);
        if (rc == 0 && pick == DM_PRE_WHOLE) {
            unsigned char *none = NULL;
            size_t nl = 0;
            rc = part->ops->server_save_dirty(part->state, 1, &none, &nl);
            free(none);
        }
        if (rc != 0) {
            free(b);
            dm_set_free(out);
            return cor_error_set(mv->err, COR_EINTERNAL, "%s could not save its state",
                                 part->ops->name);
        }
        size_t k = out->n++;
        out->buf[k] = b;
        cor__dm_header__init(&out->h[k]);
        out->h[k].key = (char *)part->ops->name;
        out->h[k].value.data = b;
        out->h[k].value.len = len;
        out->p[k] = &out->h[k];
    }
    return 0;
}

static int send_step(move_t *mv, Cor__InstallStateRequest *is)
{
    is->object_id.data = mv->obj->id.b;
    is->object_id.len = 16;
    is->class_name = (char *)mv->obj->cls->name;
    is->epoch = mv->req->new_epoch;
    is->dm_chain = mv->req->dm_chain;
    ProtobufCMessage *out = NULL;
    int rc = cor_rpc_call(mv->rt->client, mv->req->target_tcp, COR_M_INSTALL_STATE, &is->base,
                          &cor__install_state_reply__descriptor, STEP_DEADLINE_MS, &out, mv->err);
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

static int send_pieces(move_t *mv, const delta_t *d, uint64_t length, Cor__InstallMode first,
                       int commit, int load, const step_dm_t *at_first,
                       const step_dm_t *at_commit, Cor__DeltaRun *pieces, Cor__DeltaRun **pp);

/* Sends d's runs (the state now `length` bytes) in steps of at most
 * CHUNK_BYTES and STEP_RUNS runs: the first with mode `first` carrying
 * at_first's DM state, the rest PATCH. With commit the last step is (or,
 * after a STAGE, is followed by) a COMMIT carrying at_commit's. `load` goes
 * on the last non-COMMIT step. */
static int send_runs(move_t *mv, const delta_t *d, uint64_t length, Cor__InstallMode first,
                     int commit, int load, const step_dm_t *at_first, const step_dm_t *at_commit)
{
    Cor__DeltaRun *pieces = malloc(STEP_RUNS * sizeof(*pieces));
    Cor__DeltaRun **pp = malloc(STEP_RUNS * sizeof(*pp));
    int rc = pieces != NULL && pp != NULL
                 ? send_pieces(mv, d, length, first, commit, load, at_first, at_commit, pieces, pp)
                 : cor_error_set(mv->err, COR_ENOMEM, "out of memory");
    free(pieces);
    free(pp);
    return rc;
}

static int send_pieces(move_t *mv, const delta_t *d, uint64_t length, Cor__InstallMode first,
                       int commit, int load, const step_dm_t *at_first,
                       const step_dm_t *at_commit, Cor__DeltaRun *pieces, Cor__DeltaRun **pp)
{
    size_t ri = 0, roff = 0; /* the next byte to send: run ri, offset roff */
    int step = 0, rc = 0;
    do {
        size_t n = 0, room = CHUNK_BYTES;
        while (ri < d->n && room > 0 && n < STEP_RUNS) {
            const Cor__DeltaRun *r = &d->runs[ri];
            size_t take = r->data.len - roff < room ? r->data.len - roff : room;
            cor__delta_run__init(&pieces[n]);
            pieces[n].offset = r->offset + roff;
            pieces[n].data.data = r->data.data + roff;
            pieces[n].data.len = take;
            pp[n] = &pieces[n];
            n++;
            room -= take;
            roff += take;
            if (roff == r->data.len) {
                ri++;
                roff = 0;
            }
        }
        int last = ri == d->n;
        Cor__StateDelta sd = COR__STATE_DELTA__INIT;
        sd.length = length;
        sd.runs = pp;
        sd.n_runs = n;
        size_t plen = cor__state_delta__get_packed_size(&sd);
        uint8_t *packed = malloc(plen ? plen : 1);
        if (packed == NULL)
            return cor_error_set(mv->err, COR_ENOMEM, "out of memory packing %zu bytes", plen);
        cor__state_delta__pack(&sd, packed);
        Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
        is.mode = step == 0 ? first : COR__INSTALL_MODE__INSTALL_PATCH;
        is.delta.data = packed;
        is.delta.len = plen;
        if (last && commit && is.mode == COR__INSTALL_MODE__INSTALL_PATCH) {
            is.mode = COR__INSTALL_MODE__INSTALL_COMMIT;
            step_attach(&is, at_commit);
        } else {
            if (step == 0)
                step_attach(&is, at_first);
            if (last)
                is.load = load;
        }
        rc = send_step(mv, &is);
        free(packed);
        if (rc != 0)
            return rc;
        mv->sent += CHUNK_BYTES - room;
        step++;
        if (last && commit && is.mode != COR__INSTALL_MODE__INSTALL_COMMIT) {
            Cor__StateDelta empty = COR__STATE_DELTA__INIT;
            empty.length = length;
            uint8_t eb[16];
            Cor__InstallStateRequest c = COR__INSTALL_STATE_REQUEST__INIT;
            c.mode = COR__INSTALL_MODE__INSTALL_COMMIT;
            c.delta.data = eb;
            c.delta.len = cor__state_delta__pack(&empty, eb);
            step_attach(&c, at_commit);
            return send_step(mv, &c);
        }
        if (last)
            return 0;
    } while (1);
}

/* Sends the class's own delta bytes as one step, with x's DM state. */
static int send_class_delta(move_t *mv, const uint8_t *buf, size_t len, int commit,
                            const step_dm_t *x)
{
    Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
    is.mode = commit ? COR__INSTALL_MODE__INSTALL_COMMIT : COR__INSTALL_MODE__INSTALL_PATCH;
    is.class_delta = 1;
    is.delta.data = (uint8_t *)buf;
    is.delta.len = len;
    step_attach(&is, x);
    int rc = send_step(mv, &is);
    if (rc == 0)
        mv->sent += len;
    return rc;
}

static int save_state(move_t *mv, uint8_t **buf, size_t *len)
{
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = mv->rt, .arena = &arena, .id = &mv->obj->id, .err = mv->err};
    *buf = NULL;
    *len = 0;
    int rc = mv->obj->cls->save_state(mv->obj->self, &ctx, buf, len);
    cor_arena_close(&arena);
    return rc;
}

static int save_dirty(move_t *mv, int restart, uint8_t **buf, size_t *len)
{
    cor_arena_t arena;
    cor_arena_init(&arena, 0);
    cor_ctx_t ctx = {.rt = mv->rt, .arena = &arena, .id = &mv->obj->id, .err = mv->err};
    *buf = NULL;
    *len = 0;
    int rc = mv->obj->cls->save_dirty(mv->obj->self, &ctx, restart, buf, len);
    cor_arena_close(&arena);
    if (rc == 0 && restart) {
        free(*buf);
        *buf = NULL;
        *len = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* source: the steps                                                   */

/* What a PRECOPY step sends, decided in the turn and sent after it. */
typedef struct precopy_step {
    move_t mv;
    int rc;
    int skipped;
    size_t state_len;
    delta_t d;        /* runtime runs (into `bytes`) */
    uint8_t *bytes;   /* what the runs point into */
    int free_bytes;   /* bytes is ours to free (else it is the session's base) */
    uint8_t *old;     /* the session's previous base, freed after sending */
    uint8_t *cbuf;    /* class delta, owned */
    size_t clen;
    Cor__InstallMode mode;
    int load;
    dm_set_t dm_whole, dm_dirty; /* DM parts with server_save_dirty */
} precopy_step_t;

static void session_drop(cor_obj_t *o)
{
    cor_precopy_free(o->precopy);
    o->precopy = NULL;
}

/* The session for this request, or NULL; drops one for another move. */
static struct cor_precopy *session_for(cor_obj_t *o, const Cor__MigrateOutRequest *r)
{
    struct cor_precopy *pc = o->precopy;
    if (pc != NULL && !pc->sending &&
        (pc->epoch != r->new_epoch || strcmp(pc->target, r->target_tcp) != 0)) {
        session_drop(o);
        pc = NULL;
    }
    return pc;
}

/* Starts (or restarts) a session: the whole state, as a STAGE. */
static int precopy_start(precopy_step_t *p)
{
    cor_obj_t *o = p->mv.obj;
    size_t len;
    int rc = save_state(&p->mv, &p->bytes, &len);
    if (rc != 0)
        return rc;
    p->state_len = len;
    /* DM parts that track changes are staged whole too, then only what
     * changed; the others go whole in the final step. */
    dm_set_free(&p->dm_whole);
    dm_set_free(&p->dm_dirty);
    rc = dm_collect(&p->mv, DM_PRE_WHOLE, &p->dm_whole);
    if (rc != 0)
        return rc;
    size_t staged = len;
    for (size_t i = 0; i < p->dm_whole.n; i++)
        staged += p->dm_whole.h[i].value.len;
    struct cor_precopy *pc = o->precopy;
    if (pc != NULL)
        pc->state_len = len;
    if (pc == NULL) {
        if (staged < PRECOPY_MIN_BYTES) { /* a dedup table counts: it can be large */
            p->skipped = 1;
            free(p->bytes);
            p->bytes = NULL;
            dm_set_free(&p->dm_whole);
            return 0;
        }
        pc = calloc(1, sizeof(*pc));
        if (pc == NULL)
            return cor_error_set(p->mv.err, COR_ENOMEM, "out of memory");
        pc->epoch = p->mv.req->new_epoch;
        pc->state_len = len;
        snprintf(pc->target, sizeof(pc->target), "%s", p->mv.req->target_tcp);
        o->precopy = pc;
    }
    pc->class_delta = o->cls->save_dirty != NULL;
    if (pc->class_delta) {
        uint8_t *none;
        size_t nl;
        rc = save_dirty(&p->mv, 1, &none, &nl);
        p->free_bytes = 1;
        p->load = 1;
    } else {
        p->old = pc->base;
        pc->base = p->bytes;
        pc->base_len = len;
    }
    p->mode = COR__INSTALL_MODE__INSTALL_STAGE;
    pc->dm_pre = 1;
    if (rc == 0)
        rc = delta_add(&p->d, 0, p->bytes, len);
    return rc;
}

static void precopy_take_fn(void *arg)
{
    precopy_step_t *p = arg;
    cor_obj_t *o = p->mv.obj;
    if (atomic_load(&o->moved)) {
        p->rc = cor_error_set(p->mv.err, COR_EMOVED, "already moved to %s", o->moved_to);
        return;
    }
    struct cor_precopy *pc = session_for(o, p->mv.req);
    if (pc != NULL && pc->sending) {
        p->rc = cor_error_set(p->mv.err, COR_EABORTED, "a step of another move is still sending");
        return;
    }
    if (pc == NULL) {
        p->rc = precopy_start(p);
    } else if (pc->class_delta) {
        p->rc = save_dirty(&p->mv, 0, &p->cbuf, &p->clen);
        p->mode = COR__INSTALL_MODE__INSTALL_PATCH;
        if (p->rc == 0 && p->clen > CLASS_DELTA_MAX) {
            free(p->cbuf); /* more changed than one step carries: start over */
            p->cbuf = NULL;
            p->rc = precopy_start(p);
        }
    } else {
        size_t len;
        p->rc = save_state(&p->mv, &p->bytes, &len);
        if (p->rc == 0)
            p->rc = delta_diff(&p->d, pc->base, pc->base_len, p->bytes, len);
        if (p->rc == 0) {
            p->state_len = len;
            pc->state_len = len;
            p->old = pc->base;
            pc->base = p->bytes;
            pc->base_len = len;
            p->mode = COR__INSTALL_MODE__INSTALL_PATCH;
        } else {
            free(p->bytes);
            p->bytes = NULL;
        }
    }
    if (p->rc == 0 && !p->skipped && p->mode == COR__INSTALL_MODE__INSTALL_PATCH)
        p->rc = dm_collect(&p->mv, DM_PRE_DIRTY, &p->dm_dirty);
    if (p->rc != 0) {
        session_drop(o);
        return;
    }
    if (!p->skipped)
        o->precopy->sending = 1;
}

static void precopy_done_fn(void *arg)
{
    precopy_step_t *p = arg;
    if (p->mv.obj->precopy == NULL)
        return;
    p->mv.obj->precopy->sending = 0;
    if (p->rc != 0)
        session_drop(p->mv.obj); /* the target's copy is now unknown */
}

static int precopy_step(cor_runtime_t *rt, cor_obj_t *o, const Cor__MigrateOutRequest *r,
                        Cor__MigrateOutReply *rep, cor_error_t *err)
{
    precopy_step_t p = {.mv = {.rt = rt, .obj = o, .req = r, .err = err}};
    /* Exclusive for a concurrent class too: the session is in-turn state,
     * and such a class's save_state holds its own lock against calls
     * anyway. The copy itself runs after, with calls flowing. */
    cor_obj_run_exclusive(o, precopy_take_fn, &p);
    if (p.rc == 0 && !p.skipped) {
        step_dm_t x = {.whole = &p.dm_whole, .dirty = &p.dm_dirty};
        if (p.cbuf != NULL)
            p.rc = send_class_delta(&p.mv, p.cbuf, p.clen, 0, &x);
        else
            p.rc = send_runs(&p.mv, &p.d, p.state_len, p.mode, 0, p.load, &x, NULL);
        if (p.rc != 0)
            cor_error_prefix(err, "pre-copy to %s", r->target_tcp);
        cor_obj_run_exclusive(o, precopy_done_fn, &p);
    }
    free(p.d.runs);
    free(p.cbuf);
    free(p.old);
    dm_set_free(&p.dm_whole);
    dm_set_free(&p.dm_dirty);
    if (p.free_bytes)
        free(p.bytes);
    rep->sent_bytes = p.mv.sent;
    rep->state_bytes = p.state_len;
    rep->skipped = p.skipped;
    return p.rc;
}

/* A deliberately broken build for the fault harness (docs/cluster-tests.md):
 * with COR_TEST_BREAK=keep-source a moved object's source keeps serving
 * instead of leaving a tombstone, so two copies take writes. The history
 * checker must catch it; that is how we know it can fail. */
static int broken_keep_source(void)
{
    const char *b = getenv("COR_TEST_BREAK");
    return b != NULL && strcmp(b, "keep-source") == 0;
}

typedef struct final_step {
    move_t mv;
    int rc;
    uint64_t bytes;
    int64_t frozen_us;
} final_step_t;

/* Sends the last step: what changed since the session's last step, or the
 * whole state when there is no session; with it the server DM parts' own
 * state (a dedup table, ...): what changed, for parts staged whole during
 * pre-copy, else whole. */
static int final_send(final_step_t *f)
{
    move_t *mv = &f->mv;
    cor_obj_t *o = mv->obj;
    struct cor_precopy *pc = session_for(o, mv->req);
    if (pc != NULL && pc->sending)
        return cor_error_set(mv->err, COR_EABORTED, "a step of another move is still sending");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = 0;
    dm_set_t whole = {.n = 0}, dirty = {.n = 0};
    step_dm_t x = {.whole = &whole, .dirty = &dirty};
    if (pc != NULL && pc->class_delta) {
        rc = save_dirty(mv, 0, &buf, &len);
        if (rc == 0 && len > CLASS_DELTA_MAX)
            pc = NULL; /* too much changed: send it all */
        if (rc == 0 && pc != NULL && pc->dm_pre)
            rc = dm_collect(mv, DM_REST_WHOLE, &whole);
        if (rc == 0 && pc != NULL && pc->dm_pre)
            rc = dm_collect(mv, DM_PRE_DIRTY, &dirty);
        if (rc == 0 && pc != NULL && !pc->dm_pre)
            rc = dm_collect(mv, DM_ALL_WHOLE, &whole);
        if (rc == 0 && pc != NULL)
            rc = send_class_delta(mv, buf, len, 1, &x);
        free(buf);
        buf = NULL;
        if (rc != 0 || pc != NULL)
            goto out;
    }
    if (rc == 0 && pc != NULL && pc->dm_pre) {
        rc = dm_collect(mv, DM_REST_WHOLE, &whole);
        if (rc == 0)
            rc = dm_collect(mv, DM_PRE_DIRTY, &dirty);
    } else if (rc == 0) {
        rc = dm_collect(mv, DM_ALL_WHOLE, &whole);
    }
    if (rc == 0)
        rc = save_state(mv, &buf, &len);
    if (rc != 0)
        goto out;
    f->bytes = len;
    delta_t d = {0};
    if (pc != NULL) {
        rc = delta_diff(&d, pc->base, pc->base_len, buf, len);
        if (rc == 0)
            rc = send_runs(mv, &d, len, COR__INSTALL_MODE__INSTALL_PATCH, 1, 0, NULL, &x);
    } else if (len <= CHUNK_BYTES) {
        Cor__InstallStateRequest is = COR__INSTALL_STATE_REQUEST__INIT;
        is.state.data = buf;
        is.state.len = len;
        step_attach(&is, &x);
        rc = send_step(mv, &is);
        if (rc == 0)
            mv->sent += len;
    } else {
        rc = delta_add(&d, 0, buf, len);
        if (rc == 0)
            rc = send_runs(mv, &d, len, COR__INSTALL_MODE__INSTALL_STAGE, 1, 0, NULL, &x);
    }
    free(d.runs);
out:
    free(buf);
    dm_set_free(&whole);
    dm_set_free(&dirty);
    return rc;
}

/* Runs holding the object's turn: calls that arrive meanwhile queue behind
 * it, and run (and are answered EMOVED) once the turn is released. */
static void final_fn(void *arg)
{
    final_step_t *f = arg;
    cor_obj_t *o = f->mv.obj;
    long long t0 = cor_mono_us();
    if (atomic_load(&o->moved)) {
        f->rc = cor_error_set(f->mv.err, COR_EMOVED, "already moved to %s", o->moved_to);
        return;
    }
    if (o->precopy != NULL)
        f->bytes = o->precopy->state_len; /* save_state below updates it */
    f->rc = final_send(f);
    if (o->precopy == NULL || !o->precopy->sending)
        session_drop(o);
    if (f->rc != 0) {
        cor_error_prefix(f->mv.err, "installing at %s", f->mv.req->target_tcp);
        return; /* the object stays here, unfrozen: nothing was lost */
    }
    f->frozen_us = cor_mono_us() - t0;
    if (broken_keep_source()) {
        cor_log_warn("object %s moved, but COR_TEST_BREAK=keep-source: this copy serves on",
                     o->idstr);
        return;
    }
    /* The tombstone's fields first, then the flag that publishes them to
     * readers outside the turn (the sweep, callers choosing a route). */
    snprintf(o->moved_to, sizeof(o->moved_to), "%s", f->mv.req->target_tcp);
    o->moved_epoch = f->mv.req->new_epoch;
    o->moved_at_ms = cor_mono_ms();
    atomic_store(&o->moved, 1);
}

static void abort_fn(void *arg)
{
    cor_obj_t *o = arg;
    if (o->precopy != NULL && !o->precopy->sending)
        session_drop(o);
}

int cor_op_migrate_out(void *arg, const ProtobufCMessage *in, ProtobufCMessage *out,
                       cor_arena_t *arena, cor_error_t *err)
{
    cor_runtime_t *rt = arg;
    const Cor__MigrateOutRequest *r = (const Cor__MigrateOutRequest *)in;
    Cor__MigrateOutReply *rep = (Cor__MigrateOutReply *)out;
    (void)arena;
    cor_object_id_t id;
    if (cor_id_arg(&r->object_id, &id, err) != 0)
        return err->code;
    if (r->phase != COR__MOVE_PHASE__MOVE_ABORT &&
        (r->target_tcp[0] == '\0' || r->new_epoch == 0))
        return cor_error_set(err, COR_EINVAL, "migrate: a target address and a new epoch are needed");
    cor_obj_t *o = cor_obj_get(rt, &id);
    if (o == NULL)
        return cor_error_set(err, COR_ENOTFOUND, "object not hosted here");
    int rc = 0;
    if (o->cls->save_state == NULL)
        rc = cor_error_set(err, COR_EUNIMPL, "class %s cannot save state", o->cls->name);
    else if (r->phase == COR__MOVE_PHASE__MOVE_ABORT)
        cor_obj_run_exclusive(o, abort_fn, o);
    else if (r->phase == COR__MOVE_PHASE__MOVE_PRECOPY)
        rc = precopy_step(rt, o, r, rep, err);
    else if (r->phase == COR__MOVE_PHASE__MOVE_FINAL) {
        final_step_t f = {.mv = {.rt = rt, .obj = o, .req = r, .err = err}};
        cor_obj_run_exclusive(o, final_fn, &f); /* a concurrent class's calls drain first */
        rc = f.rc;
        rep->state_bytes = f.bytes;
        rep->sent_bytes = f.mv.sent;
        rep->frozen_us = f.frozen_us;
    } else
        rc = cor_error_set(err, COR_EINVAL, "migrate: unknown phase %d", (int)r->phase);
    cor_obj_put(o);
    return rc;
}

