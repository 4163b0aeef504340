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
 * Happy path: oms_dir_migrate refuses nothing, a few pre-copy rounds,
 * the final step succeeds, the replica's slot now names the target at the
 * new epoch and the move is in the object's history. Failure modes: a
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

/* Records a move's progress for GetObject / corctl (takes the lock). */
static void move_progress(oms_dir_t *d, const cor_object_id_t *id, const char *to,
                          const char *phase, uint32_t round, uint64_t copied, uint64_t state,
                          int64_t t0)
{
    int64_t now = d->env.mono_ms(d->env.arg);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, id);
    if (o != NULL && o->migrating) {
        snprintf(o->move.to, sizeof(o->move.to), "%s", to);
        o->move.phase = phase;
        o->move.round = round;
        o->move.copied = copied;
        if (state > 0)
            o->move.state = state;
        o->move.elapsed_us = (now - t0) * 1000;
    }
    pthread_rwlock_unlock(&d->lock);
}

int oms_dir_migrate(oms_dir_t *d, const Cor__MigrateRequest *req, cor_arena_t *arena,
                    Cor__MigrateReply *rep, cor_error_t *err)
{
    if ((req->to_node[0] == '\0') == (req->selector[0] == '\0'))
        return cor_error_set(err, COR_EINVAL, "migrate: give a target node or a selector, not %s",
                             req->to_node[0] ? "both" : "neither");
    cor_selector_t want;
    int rc = cor_selector_parse(req->selector, &want, err);
    if (rc != 0)
        return rc;
    int64_t t0 = d->env.mono_ms(d->env.arg);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = oms_obj_find(d, &req->id, req->name, err);
    if (o == NULL) {
        pthread_rwlock_unlock(&d->lock);
        return err->code;
    }
    char s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(&o->id, s);
    int slot = -1, active = 0;
    for (int i = 0; i < o->n_replicas; i++)
        if (o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE) {
            slot = i;
            active++;
        }
    oms_node_t *src = slot >= 0 ? o->replicas[slot].node : NULL, *dst = NULL;
    cor_dm_chain_t chain;
    if (req->by_app && (cor_dm_chain_parse(o->dm_chain, &chain, NULL) != 0 ||
                        !(cor_dm_chain_caps(&chain) & COR_DM_CAP_APP_MIGRATE)))
        rc = cor_error_set(err, COR_EPERM,
                           "object %s may not be moved by the application: its chain has no "
                           "ExplicitMigration", s);
    else if (o->migrating)
        rc = cor_error_set(err, COR_EABORTED, "object %s is already being moved", s);
    else if (active != 1)
        rc = cor_error_set(err, COR_EUNIMPL,
                           "object %s has %d active replicas; only single replicas move for now", s,
                           active);
    else if (src->info->state != COR__NODE_STATE__NODE_ALIVE)
        rc = cor_error_set(err, COR_EUNAVAIL, "object %s: its kernel server %s is not alive", s,
                           src->info->name);
    cor_selector_t place;
    if (rc == 0 && cor_selector_parse(o->selector, &place, err) != 0)
        rc = err->code;
    if (rc == 0 && req->to_node[0] != '\0') {
        dst = cor_strmap_get(&d->nodes, req->to_node);
        if (dst == NULL)
            rc = cor_error_set(err, COR_ENOTFOUND, "no kernel server named '%.63s'", req->to_node);
        else if (dst == src)
            rc = cor_error_set(err, COR_EINVAL, "object %s is already on %s", s, src->info->name);
        else if (dst->info->state != COR__NODE_STATE__NODE_ALIVE)
            rc = cor_error_set(err, COR_EUNAVAIL, "kernel server %s is not alive", dst->info->name);
        else if (!oms_hosts_class(dst->info, o->class_name))
            rc = cor_error_set(err, COR_EINVAL, "kernel server %s does not host class %s",
                               dst->info->name, o->class_name);
        else if (!cor_selector_match(&place, oms_node_label, dst->info))
            rc = cor_error_set(err, COR_EINVAL,
                               "moving object %s to %s would break its placement '%s'", s,
                               dst->info->name, o->selector);
    } else if (rc == 0) {
        oms_node_t *avoid[1] = {src};
        oms_pick_t pc = {.cls = o->class_name, .sel = &place, .avoid = avoid, .n_avoid = 1};
        /* Both the object's placement and the requested labels must hold:
         * pick among nodes matching the first, then check the second. */
        oms_pick(d, &pc);
        if (pc.best != NULL && !cor_selector_match(&want, oms_node_label, pc.best->info)) {
            oms_pick_t pc2 = {.cls = o->class_name, .sel = &want, .avoid = avoid, .n_avoid = 1};
            oms_pick(d, &pc2);
            pc.best = pc2.best && cor_selector_match(&place, oms_node_label, pc2.best->info) ? pc2.best
                                                                                          : NULL;
        }
        dst = pc.best;
        if (dst == NULL)
            rc = cor_error_set(err, COR_ENOTFOUND,
                               "no other live kernel server hosting %s matches '%s'%s%s",
                               o->class_name, req->selector, o->selector ? " and placement " : "",
                               o->selector ? o->selector : "");
    }
    if (rc != 0) {
        pthread_rwlock_unlock(&d->lock);
        return rc;
    }
    o->migrating = 1;
    memset(&o->move, 0, sizeof(o->move));
    dst->placed++;
    char src_tcp[160], dst_tcp[160], from[NODE_NAME_MAX + 1], to[NODE_NAME_MAX + 1],
        chain_text[DM_CHAIN_MAX + 1];
    snprintf(src_tcp, sizeof(src_tcp), "%s", src->info->tcp_address);
    snprintf(dst_tcp, sizeof(dst_tcp), "%s", dst->info->tcp_address);
    snprintf(from, sizeof(from), "%s", src->info->name);
    snprintf(to, sizeof(to), "%s", dst->info->name);
    snprintf(chain_text, sizeof(chain_text), "%s", o->dm_chain ? o->dm_chain : "");
    uint64_t new_epoch = o->epoch + 1, dst_inc = dst->info->incarnation;
    cor_object_id_t id = o->id;
    pthread_rwlock_unlock(&d->lock);

    Cor__MigrateOutRequest mo = COR__MIGRATE_OUT_REQUEST__INIT;
    mo.object_id.data = id.b;
    mo.object_id.len = 16;
    mo.target_tcp = dst_tcp;
    mo.new_epoch = new_epoch;
    mo.dm_chain = chain_text;
    move_progress(d, &id, to, "precopy", 0, 0, 0, t0);
    /* Pre-copy: copy while the object serves, again and again while what
     * changed meanwhile shrinks; then the frozen final step. */
    uint32_t rounds = 0;
    uint64_t copied = 0, last_sent = UINT64_MAX;
    ProtobufCMessage *out = NULL;
    for (;;) {
        mo.phase = COR__MOVE_PHASE__MOVE_PRECOPY;
        rc = d->env.kernel_call(d->env.arg, src_tcp, COR_M_MIGRATE_OUT, &mo.base, &out, err);
        if (rc != 0)
            break;
        const Cor__MigrateOutReply *mr = (const Cor__MigrateOutReply *)out;
        int skipped = mr == NULL || mr->skipped;
        uint64_t sent = mr ? mr->sent_bytes : 0, state = mr ? mr->state_bytes : 0;
        if (out != NULL)
            protobuf_c_message_free_unpacked(out, NULL);
        out = NULL;
        if (skipped)
            break;
        rounds++;
        copied += sent;
        move_progress(d, &id, to, "precopy", rounds, copied, state, t0);
        if (sent <= PRECOPY_DONE_BYTES || rounds >= PRECOPY_MAX_ROUNDS || sent >= last_sent)
            break;
        last_sent = sent;
    }
    if (rc == 0) {
        move_progress(d, &id, to, "final", rounds, copied, 0, t0);
        mo.phase = COR__MOVE_PHASE__MOVE_FINAL;
        rc = d->env.kernel_call(d->env.arg, src_tcp, COR_M_MIGRATE_OUT, &mo.base, &out, err);
    }
    if (rc != 0 && rounds > 0) {
        cor_error_t aerr; /* best effort: the source forgets the session */
        Cor__MigrateOutRequest ab = mo;
        ab.phase = COR__MOVE_PHASE__MOVE_ABORT;
        d->env.kernel_call(d->env.arg, src_tcp, COR_M_MIGRATE_OUT, &ab.base, NULL, &aerr);
    }
    if (rc != 0)
        cor_error_prefix(err, "moving object %s from %s to %s", s, from, to);

    pthread_rwlock_wrlock(&d->lock);
    o = cor_idmap_get(&d->objects, &id);
    if (o != NULL)
        o->migrating = 0;
    if (rc == 0 && o != NULL && slot < o->n_replicas && o->replicas[slot].node == dst &&
        o->epoch == new_epoch) {
        /* The target's report got here first: already committed. */
        dst->placed--;
        rep->object = oms_obj_info(arena, o);
    } else if (rc == 0 && o != NULL && slot < o->n_replicas && o->replicas[slot].node == src) {
        o->replicas[slot] = (oms_replica_t){.node = dst, .incarnation = dst_inc,
                                            .epoch = new_epoch,
                                            .state = COR__REPLICA_STATE__REPLICA_ACTIVE};
        o->epoch = new_epoch;
        src->placed--;
        const Cor__MigrateOutReply *mr = (const Cor__MigrateOutReply *)out;
        oms_obj_add_move(o, from, to, d->env.wall_ms(d->env.arg), mr ? mr->frozen_us : 0, new_epoch);
        cor_error_t perr;
        if (oms_obj_persist(d, o, &perr) != 0)
            cor_log_error("object %s moved to %s but recording it failed: %s", s, to, perr.msg);
        rep->object = oms_obj_info(arena, o);
    } else {
        dst->placed--;
        if (rc == 0)
            rc = cor_error_set(err, COR_EABORTED, "object %s changed during the move", s);
    }
    pthread_rwlock_unlock(&d->lock);
    if (rc == 0) {
        const Cor__MigrateOutReply *m = (const Cor__MigrateOutReply *)out;
        rep->from_node = oms_arena_str(arena, from);
        rep->to_node = oms_arena_str(arena, to);
        rep->state_bytes = m ? m->state_bytes : 0;
        rep->frozen_us = m ? m->frozen_us : 0;
        rep->total_us = (d->env.mono_ms(d->env.arg) - t0) * 1000;
        rep->precopy_rounds = rounds;
        rep->bytes_copied = copied + (m ? m->sent_bytes : 0);
        cor_log_info("object %s moved %s -> %s (epoch %llu, %llu bytes, frozen %lld us)", s, from,
                     to, (unsigned long long)new_epoch, (unsigned long long)rep->state_bytes,
                     (long long)rep->frozen_us);
    }
    if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
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
