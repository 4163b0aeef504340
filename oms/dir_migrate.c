/*
 * dir_migrate.c — live migration, the OMS's side (docs/migration.md), and
 * the placement reports that settle a move the OMS did not see commit.
 *
 * Design: the OMS drives a move; the source kernel does the copying. The
 * OMS checks the move and reserves the target under the write lock, then
 * without it asks the source for pre-copy rounds (copy while the object
 * serves, again while what changed meanwhile shrinks), then for the final
 * step (freeze, send the rest, install at the target under a new epoch,
 * leave a tombstone); then it commits the new place. The source is the
 * authority on whether a move happened: a target that reports a placement
 * newer than the record is believed only if the source agrees the object
 * left (probe_source).
 *
 * Happy path: the checks pass, a few pre-copy rounds shrink what is left
 * to copy, the final step succeeds, the replica's slot now names the
 * target at the new epoch and the move is in the object's history. Steps
 * are functions of their own (move_reserve, move_precopy, move_final,
 * move_abort, move_commit) sharing a move_t. Failure modes: a
 * refusal (bad request, target dead, not hosting the class, breaking the
 * placement, already moving) changes nothing; a failed step leaves the
 * object on its source and, after pre-copy rounds, tells the source to
 * ABORT its session; an object deleted or changed meanwhile is
 * COR_EABORTED. A target's report during a move is told to report again;
 * after it, the source's probe decides: adopt, or refuse and delete the
 * target's stray copy, or (source unreachable) report again later.
 */
#include "dir_int.h"

#include <cor/dm.h>
#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cor/kernel.pb-c.h"
#include "rpc.h"

void oms_obj_add_move(oms_obj_t *o, const char *from, const char *to, int64_t at,
                      int64_t frozen, uint64_t epoch)
{
    Cor__Move m = COR__MOVE__INIT;
    m.from_node = (char *)from;
    m.to_node = (char *)to;
    m.at_ms = at;
    m.frozen_us = frozen;
    m.epoch = epoch;
    /* A heap copy protobuf-c can free: pack and unpack. */
    uint8_t buf[512];
    size_t n = cor__move__get_packed_size(&m);
    if (n > sizeof(buf))
        return;
    cor__move__pack(&m, buf);
    Cor__Move *copy = cor__move__unpack(NULL, n, buf);
    if (copy == NULL)
        return;
    if (o->n_moves == MAX_MOVES) {
        cor__move__free_unpacked(o->moves[0], NULL);
        memmove(o->moves, o->moves + 1, sizeof(o->moves[0]) * (MAX_MOVES - 1));
        o->n_moves--;
    }
    o->moves[o->n_moves++] = copy;
}

#define PRECOPY_DONE_BYTES (64u * 1024) /* a step this small: freeze next */
#define PRECOPY_MAX_ROUNDS 8

/* One move under way: what its steps share. The strings are copies made
 * under the lock, so the steps can call the source without it; the node
 * pointers stay valid (nodes live as long as the directory) but are only
 * dereferenced under the lock. */
typedef struct move {
    cor_object_id_t id;
    char s[COR_OBJECT_ID_STRLEN + 1]; /* the id, for messages */
    int slot;                         /* the replica that moves */
    oms_node_t *src, *dst;
    uint64_t new_epoch, dst_inc;
    char src_tcp[160], dst_tcp[160], from[NODE_NAME_MAX + 1], to[NODE_NAME_MAX + 1];
    char chain[DM_CHAIN_MAX + 1];
    int64_t t0;                  /* mono ms when the move was asked for */
    uint32_t rounds;             /* pre-copy rounds done */
    uint64_t copied;             /* bytes those rounds sent */
    Cor__MigrateOutReply *final; /* the final step's reply (heap), or NULL */
} move_t;

/* Records a move's progress for GetObject / corctl: phase, the rounds and
 * bytes so far, and the state's size when a step reports it (0: keep the
 * last). Takes the write lock; nothing if the object is gone. */
static void move_progress(oms_dir_t *d, const move_t *mv, const char *phase, uint64_t state)
{
    int64_t now = d->env.mono_ms(d->env.arg);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &mv->id);
    if (o != NULL && o->migrating) {
        snprintf(o->move.to, sizeof(o->move.to), "%s", mv->to);
        o->move.phase = phase;
        o->move.round = mv->rounds;
        o->move.copied = mv->copied;
        if (state > 0)
            o->move.state = state;
        o->move.elapsed_us = (now - mv->t0) * 1000;
    }
    pthread_rwlock_unlock(&d->lock);
}

/* Check, the source's side (write lock): the caller may move it (an
 * application only when a DM of its chain grants it), it is not already moving, it
 * has exactly one active replica, and that replica's node is alive. Sets
 * mv->slot and mv->src. */
static int move_check_source(const Cor__MigrateRequest *req, const oms_obj_t *o, move_t *mv,
                             cor_error_t *err)
{
    int active = 0;
    mv->slot = -1;
    for (int i = 0; i < o->n_replicas; i++)
        if (o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE) {
            mv->slot = i;
            active++;
        }
    mv->src = mv->slot >= 0 ? o->replicas[mv->slot].node : NULL;
    cor_dm_chain_t chain;
    if (req->by_app && (cor_dm_chain_parse(o->dm_chain, &chain, NULL) != 0 ||
                        !(cor_dm_chain_caps(&chain) & COR_DM_CAP_APP_MIGRATE))) {
        char which[256];
        cor_dm_names_with(COR_DM_CAP_APP_MIGRATE, which, sizeof(which));
        return cor_error_set(err, COR_EPERM,
                             "object %s may not be moved by the application: its chain has no %s",
                             mv->s, which);
    }
    if (o->migrating)
        return cor_error_set(err, COR_EABORTED, "object %s is already being moved", mv->s);
    if (active != 1)
        return cor_error_set(err, COR_EUNIMPL,
                             "object %s has %d active replicas; only single replicas move for now",
                             mv->s, active);
    if (mv->src->info->state != COR__NODE_STATE__NODE_ALIVE)
        return cor_error_set(err, COR_EUNAVAIL, "object %s: its kernel server %s is not alive",
                             mv->s, mv->src->info->name);
    return 0;
}

/* Check, the target's side (write lock): the named node, if it is another
 * live one that hosts the class and keeps the object's placement; else the
 * best live node matching both the placement and the requested labels
 * (want). Sets mv->dst. */
static int move_check_target(oms_dir_t *d, const Cor__MigrateRequest *req,
                             const cor_selector_t *want, const oms_obj_t *o, move_t *mv,
                             cor_error_t *err)
{
    cor_selector_t place;
    if (cor_selector_parse(o->selector, &place, err) != 0)
        return err->code;
    oms_node_t *src = mv->src, *dst;
    if (req->to_node[0] != '\0') {
        dst = cor_strmap_get(&d->nodes, req->to_node);
        if (dst == NULL)
            return cor_error_set(err, COR_ENOTFOUND, "no kernel server named '%.63s'",
                                 req->to_node);
        if (dst == src)
            return cor_error_set(err, COR_EINVAL, "object %s is already on %s", mv->s,
                                 src->info->name);
        if (dst->info->state != COR__NODE_STATE__NODE_ALIVE)
            return cor_error_set(err, COR_EUNAVAIL, "kernel server %s is not alive",
                                 dst->info->name);
        if (!oms_hosts_class(dst->info, o->class_name))
            return cor_error_set(err, COR_EINVAL, "kernel server %s does not host class %s",
                                 dst->info->name, o->class_name);
        if (!cor_selector_match(&place, oms_node_label, dst->info))
            return cor_error_set(err, COR_EINVAL,
                                 "moving object %s to %s would break its placement '%s'", mv->s,
                                 dst->info->name, o->selector);
    } else {
        oms_node_t *avoid[1] = {src};
        oms_pick_t pc = {.cls = o->class_name, .sel = &place, .avoid = avoid, .n_avoid = 1};
        /* Both the object's placement and the requested labels must hold:
         * pick among nodes matching the first, then check the second. */
        dst = oms_pick(d, &pc);
        if (dst != NULL && !cor_selector_match(want, oms_node_label, dst->info)) {
            oms_pick_t pc2 = {.cls = o->class_name, .sel = want, .avoid = avoid, .n_avoid = 1};
            dst = oms_pick(d, &pc2);
            if (dst != NULL && !cor_selector_match(&place, oms_node_label, dst->info))
                dst = NULL;
        }
        if (dst == NULL)
            return cor_error_set(err, COR_ENOTFOUND,
                                 "no other live kernel server hosting %s matches '%s'%s%s",
                                 o->class_name, req->selector, o->selector ? " and placement " : "",
                                 o->selector ? o->selector : "");
    }
    mv->dst = dst;
    return 0;
}

/* Step 1, check and reserve (takes the write lock): both checks above, then
 * the object is marked moving (so no second move starts and a target's
 * early placement report waits) and the target's count holds its place.
 * What the kernel calls need is copied into mv. A refusal changes
 * nothing. */
static int move_reserve(oms_dir_t *d, const Cor__MigrateRequest *req, const cor_selector_t *want,
                        move_t *mv, cor_error_t *err)
{
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = oms_obj_find(d, &req->id, req->name, err);
    if (o == NULL) {
        pthread_rwlock_unlock(&d->lock);
        return err->code;
    }
    cor_object_id_format(&o->id, mv->s);
    int rc = move_check_source(req, o, mv, err);
    if (rc == 0)
        rc = move_check_target(d, req, want, o, mv, err);
    if (rc != 0) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    o->migrating = 1;
    memset(&o->move, 0, sizeof(o->move));
    mv->dst->placed++;
    snprintf(mv->src_tcp, sizeof(mv->src_tcp), "%s", mv->src->info->tcp_address);
    snprintf(mv->dst_tcp, sizeof(mv->dst_tcp), "%s", mv->dst->info->tcp_address);
    snprintf(mv->from, sizeof(mv->from), "%s", mv->src->info->name);
    snprintf(mv->to, sizeof(mv->to), "%s", mv->dst->info->name);
    snprintf(mv->chain, sizeof(mv->chain), "%s", o->dm_chain ? o->dm_chain : "");
    mv->new_epoch = o->epoch + 1;
    mv->dst_inc = mv->dst->info->incarnation;
    mv->id = o->id;
    pthread_rwlock_unlock(&d->lock);
    return 0;
}

/* The pre-copy stop rule: freeze next when a round sent little enough
 * (PRECOPY_DONE_BYTES), after PRECOPY_MAX_ROUNDS, or when a round sent no
 * less than the one before (the object changes as fast as it is copied:
 * more rounds would not shorten the freeze). */
static int precopy_done(uint32_t rounds, uint64_t sent, uint64_t last_sent)
{
    return sent <= PRECOPY_DONE_BYTES || rounds >= PRECOPY_MAX_ROUNDS || sent >= last_sent;
}

/* Step 2, pre-copy (no lock): the source copies the state to the target
 * while the object serves, then again what changed meanwhile, until
 * precopy_done. A source that skips (state too small to be worth it) ends
 * the rounds; mv->rounds may be 0. Each round is recorded as progress. */
static int move_precopy(oms_dir_t *d, move_t *mv, Cor__MigrateOutRequest *mo, cor_error_t *err)
{
    uint64_t last_sent = UINT64_MAX;
    for (;;) {
        ProtobufCMessage *out = NULL;
        mo->phase = COR__MOVE_PHASE__MOVE_PRECOPY;
        int rc = d->env.kernel_call(d->env.arg, mv->src_tcp, COR_M_MIGRATE_OUT, &mo->base, &out,
                                    err);
        const Cor__MigrateOutReply *mr = (const Cor__MigrateOutReply *)out;
        int skipped = mr == NULL || mr->skipped;
        uint64_t sent = mr ? mr->sent_bytes : 0, state = mr ? mr->state_bytes : 0;
        if (out != NULL)
            protobuf_c_message_free_unpacked(out, NULL);
        if (rc != 0)
            return rc;
        if (skipped)
            return 0;
        mv->rounds++;
        mv->copied += sent;
        move_progress(d, mv, "precopy", state);
        if (precopy_done(mv->rounds, sent, last_sent))
            return 0;
        last_sent = sent;
    }
}

/* Step 3, the final step (no lock): the source freezes the object, sends
 * what is left (all of it after no rounds), installs it at the target
 * under new_epoch and leaves a tombstone. Its reply, kept in mv->final,
 * says how long calls were held. */
static int move_final(oms_dir_t *d, move_t *mv, Cor__MigrateOutRequest *mo, cor_error_t *err)
{
    move_progress(d, mv, "final", 0);
    mo->phase = COR__MOVE_PHASE__MOVE_FINAL;
    ProtobufCMessage *out = NULL;
    int rc = d->env.kernel_call(d->env.arg, mv->src_tcp, COR_M_MIGRATE_OUT, &mo->base, &out, err);
    mv->final = (Cor__MigrateOutReply *)out;
    return rc;
}

/* After a failed step that followed pre-copy rounds: the source drops its
 * pre-copy session. Best effort, no lock. */
static void move_abort(oms_dir_t *d, const move_t *mv, const Cor__MigrateOutRequest *mo)
{
    cor_error_t aerr;
    Cor__MigrateOutRequest ab = *mo;
    ab.phase = COR__MOVE_PHASE__MOVE_ABORT;
    d->env.kernel_call(d->env.arg, mv->src_tcp, COR_M_MIGRATE_OUT, &ab.base, NULL, &aerr);
}

/* Step 4, commit or undo (takes the write lock); rc is the steps' result.
 * The object is no longer moving. The slot still on the source: it now
 * names the target at new_epoch, the move joins the history and is
 * stored. The slot already on the target at new_epoch: the target's
 * placement report got here first, nothing to do. Otherwise (a failed
 * step, the object deleted or changed meanwhile) the target's reserved
 * place is released, and a move that had succeeded is COR_EABORTED. */
static int move_commit(oms_dir_t *d, const move_t *mv, int rc, cor_arena_t *arena,
                       Cor__MigrateReply *rep, cor_error_t *err)
{
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &mv->id);
    if (o != NULL)
        o->migrating = 0;
    int slot = mv->slot;
    if (rc == 0 && o != NULL && slot < o->n_replicas && o->replicas[slot].node == mv->dst &&
        o->epoch == mv->new_epoch) {
        mv->dst->placed--;
        rep->object = oms_obj_info(arena, o);
    } else if (rc == 0 && o != NULL && slot < o->n_replicas && o->replicas[slot].node == mv->src) {
        o->replicas[slot] = (oms_replica_t){.node = mv->dst, .incarnation = mv->dst_inc,
                                            .epoch = mv->new_epoch,
                                            .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
        o->epoch = mv->new_epoch;
        mv->src->placed--;
        oms_obj_add_move(o, mv->from, mv->to, d->env.wall_ms(d->env.arg),
                         mv->final ? mv->final->frozen_us : 0, mv->new_epoch);
        cor_error_t perr;
        if (oms_obj_persist(d, o, &perr) != 0)
            cor_log_error("object %s moved to %s but recording it failed: %s", mv->s, mv->to,
                          perr.msg);
        rep->object = oms_obj_info(arena, o);
    } else {
        mv->dst->placed--;
        if (rc == 0)
            rc = cor_error_set(err, COR_EABORTED, "object %s changed during the move", mv->s);
    }
    pthread_rwlock_unlock(&d->lock);
    return rc;
}

/* The rest of a committed move's reply, and its log line. */
static void move_reply(oms_dir_t *d, const move_t *mv, cor_arena_t *arena, Cor__MigrateReply *rep)
{
    const Cor__MigrateOutReply *m = mv->final;
    rep->from_node = oms_arena_str(arena, mv->from);
    rep->to_node = oms_arena_str(arena, mv->to);
    rep->state_bytes = m ? m->state_bytes : 0;
    rep->frozen_us = m ? m->frozen_us : 0;
    rep->total_us = (d->env.mono_ms(d->env.arg) - mv->t0) * 1000;
    rep->precopy_rounds = mv->rounds;
    rep->bytes_copied = mv->copied + (m ? m->sent_bytes : 0);
    cor_log_info("object %s moved %s -> %s (epoch %llu, %llu bytes, frozen %lld us)", mv->s,
                 mv->from, mv->to, (unsigned long long)mv->new_epoch,
                 (unsigned long long)rep->state_bytes, (long long)rep->frozen_us);
}

/* The steps in order: check and reserve, pre-copy rounds, the final step,
 * ABORT to the source if a step failed after rounds, then commit or undo. */
/* corctl migrate --replica: one replica of a replicated object, moved by
 * its group part (a membership change), not by copying state. */
static int move_one_replica(oms_dir_t *d, const Cor__MigrateRequest *req, cor_arena_t *arena,
                            Cor__MigrateReply *rep, cor_error_t *err)
{
    if (req->to_node[0] == '\0' || req->selector[0] != '\0')
        return cor_error_set(err, COR_EINVAL, "migrate --replica: give the target node (--to), "
                             "not a selector");
    if (req->by_app)
        return cor_error_set(err, COR_EPERM, "an application may not move one replica");
    int64_t t0 = d->env.mono_ms(d->env.arg);
    cor_object_id_t id;
    char s[COR_OBJECT_ID_STRLEN + 1];
    pthread_rwlock_rdlock(&d->lock);
    oms_obj_t *o = oms_obj_find(d, &req->id, req->name, err);
    int rc = o != NULL ? 0 : err->code;
    if (o != NULL) {
        id = o->id;
        cor_object_id_format(&id, s);
        if (oms_replica_on(o, req->replica, COR__REPLICA_STATE__REPLICA_ACTIVE) == NULL)
            rc = cor_error_set(err, COR_ENOTFOUND, "object %s has no live replica on '%.63s'", s,
                               req->replica);
    }
    pthread_rwlock_unlock(&d->lock);
    if (rc == 0)
        rc = oms_group_move_replica(d, &id, req->replica, req->to_node, err);
    if (rc != 0)
        return rc;
    /* The request outlives the reply's packing. */
    rep->from_node = req->replica;
    rep->to_node = req->to_node;
    rep->total_us = (d->env.mono_ms(d->env.arg) - t0) * 1000;
    pthread_rwlock_rdlock(&d->lock);
    o = cor_idmap_get(&d->objects, &id);
    if (o != NULL)
        rep->object = oms_obj_info(arena, o);
    pthread_rwlock_unlock(&d->lock);
    return 0;
}

int oms_dir_migrate(oms_dir_t *d, const Cor__MigrateRequest *req, cor_arena_t *arena,
                    Cor__MigrateReply *rep, cor_error_t *err)
{
    if (req->replica[0] != '\0')
        return move_one_replica(d, req, arena, rep, err);
    if ((req->to_node[0] == '\0') == (req->selector[0] == '\0'))
        return cor_error_set(err, COR_EINVAL, "migrate: give a target node or a selector, not %s",
                             req->to_node[0] ? "both" : "neither");
    cor_selector_t want;
    int rc = cor_selector_parse(req->selector, &want, err);
    if (rc != 0)
        return rc;
    move_t mv = {.t0 = d->env.mono_ms(d->env.arg)};
    if ((rc = move_reserve(d, req, &want, &mv, err)) != 0)
        return rc;

    Cor__MigrateOutRequest mo = COR__MIGRATE_OUT_REQUEST__INIT;
    mo.object_id.data = mv.id.b;
    mo.object_id.len = 16;
    mo.target_tcp = mv.dst_tcp;
    mo.new_epoch = mv.new_epoch;
    mo.dm_chain = mv.chain;
    move_progress(d, &mv, "precopy", 0);
    rc = move_precopy(d, &mv, &mo, err);
    if (rc == 0)
        rc = move_final(d, &mv, &mo, err);
    if (rc != 0 && mv.rounds > 0)
        move_abort(d, &mv, &mo);
    if (rc != 0)
        cor_error_prefix(err, "moving object %s from %s to %s", mv.s, mv.from, mv.to);

    rc = move_commit(d, &mv, rc, arena, rep, err);
    if (rc == 0)
        move_reply(d, &mv, arena, rep);
    if (mv.final != NULL)
        protobuf_c_message_free_unpacked(&mv.final->base, NULL);
    return rc;
}

enum report_verdict { ADOPT, REFUSE, LATER };

/* Asks the recorded replica's kernel (a move's source) whether it still
 * serves the object: the source is the authority on whether a move it
 * made happened. ADOPT when it moved the object away at the reported epoch
 * or later, or no longer has it; REFUSE when it serves it; LATER when it
 * cannot be asked now. */
static enum report_verdict probe_source(oms_dir_t *d, const char *src_tcp,
                                        const cor_object_id_t *id, uint64_t epoch, char *why,
                                        size_t why_len)
{
    Cor__GetStateRequest q = COR__GET_STATE_REQUEST__INIT;
    q.object_id.data = (uint8_t *)id->b;
    q.object_id.len = 16;
    q.probe = 1;
    ProtobufCMessage *out = NULL;
    cor_error_t err;
    int rc = d->env.kernel_call(d->env.arg, src_tcp, COR_M_GET_STATE, &q.base, &out, &err);
    enum report_verdict v;
    const Cor__GetStateReply *r = (const Cor__GetStateReply *)out;
    if (rc == COR_ENOTFOUND) {
        v = ADOPT;
    } else if (rc != 0 || r == NULL) {
        snprintf(why, why_len, "its source could not be asked: %.120s", err.msg);
        v = LATER;
    } else if (r->moved && r->moved_epoch >= epoch) {
        v = ADOPT;
    } else {
        snprintf(why, why_len, "its source still serves it at epoch %llu",
                 (unsigned long long)r->epoch);
        v = REFUSE;
    }
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return v;
}

int oms_dir_report_placement(oms_dir_t *d, const Cor__PlacementReport *req, cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(req->object_id.data, req->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "placement report: object id must be 16 bytes");
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&id, s);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &id);
    oms_node_t *n = cor_strmap_get(&d->nodes, req->node);
    int rc = 0;
    if (o == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "placement report: no such object");
    } else if (n == NULL || n->info->incarnation != req->incarnation) {
        rc = cor_error_set(err, COR_ESTATE, "placement report from an unknown node or incarnation");
    } else if (req->epoch > o->epoch && o->n_replicas == 1 && o->migrating) {
        /* Its commit may be on the way; if the move fails instead, the
         * source decides (below), so the kernel asks again. */
        rc = cor_error_set(err, COR_EUNAVAIL, "object %s is being moved: report again", s);
    }
    if (rc != 0 || !(req->epoch > o->epoch && o->n_replicas == 1)) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    /* A placement newer than the record: a move the OMS did not see commit
     * (it died, or its call to the source failed after the source had
     * committed, or before). Believe it only if the source agrees the
     * object left: else the target's copy is a stray and two copies would
     * serve. */
    oms_replica_t *r = &o->replicas[0];
    int src_alive = r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                    r->node->info->state == COR__NODE_STATE__NODE_ALIVE && r->node != n;
    char src_tcp[160], tgt_tcp[160], why[200] = "";
    snprintf(src_tcp, sizeof(src_tcp), "%s", r->node->info->tcp_address);
    snprintf(tgt_tcp, sizeof(tgt_tcp), "%s", n->info->tcp_address);
    uint64_t recorded = o->epoch;
    pthread_rwlock_unlock(&d->lock);

    enum report_verdict v = src_alive ? probe_source(d, src_tcp, &id, req->epoch, why, sizeof(why))
                                      : ADOPT;
    pthread_rwlock_wrlock(&d->lock);
    o = cor_idmap_get(&d->objects, &id);
    n = cor_strmap_get(&d->nodes, req->node);
    if (o == NULL || n == NULL || o->epoch != recorded || o->migrating || o->n_replicas != 1) {
        pthread_rwlock_unlock(&d->lock);
        return cor_error_set(err, COR_EUNAVAIL, "object %s changed meanwhile: report again", s);
    }
    if (v == ADOPT) {
        r = &o->replicas[0];
        cor_log_warn("object %s: %s holds it at epoch %llu, newer than recorded %llu: adopted", s,
                     n->info->name, (unsigned long long)req->epoch, (unsigned long long)o->epoch);
        if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r->node->placed--;
        *r = (oms_replica_t){.node = n, .incarnation = req->incarnation, .epoch = req->epoch,
                             .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
        n->placed++;
        o->epoch = req->epoch;
        rc = oms_obj_persist(d, o, err);
    }
    pthread_rwlock_unlock(&d->lock);
    if (v == LATER)
        return cor_error_set(err, COR_EUNAVAIL, "object %s: %s; report again", s, why);
    if (v == REFUSE) {
        cor_log_warn("object %s: %s reports it at epoch %llu, but %s: its copy is dropped", s,
                     req->node, (unsigned long long)req->epoch, why);
        oms_kernel_delete(d, tgt_tcp, &id);
        return cor_error_set(err, COR_ESTATE, "object %s: %s; your copy was dropped", s, why);
    }
    return rc;
}
