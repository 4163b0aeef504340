/*
 * dir_checkpoint.c — the newest checkpoint of each object, kept for a
 * restore (DESIGN.md "OMS"; a group part restores from it).
 *
 * Design: a kernel server sends the state of an object it holds (the
 * CheckpointRequest as received) now and then; the OMS keeps only the
 * newest, under "ckpt/<hex id>", and notes its time in the object record,
 * both in one store apply so they never disagree. Only the node holding
 * the object's active replica, under its current incarnation, may send
 * one: a stale replica must not overwrite the live one's state. Repair
 * (dir_group_act.c, a group part's revive action) reads it back to
 * restore a replica lost with its node.
 *
 * Happy path: put from the holder, newer than the last: stored. get: the
 * stored request, decoded. Failure modes: an unknown object is
 * COR_ENOTFOUND; a sender that does not hold the active replica is
 * COR_ESTATE; an older checkpoint arriving late is ignored (success); a
 * store error leaves the previous checkpoint in place; a stored one that
 * does not decode is COR_EPROTO.
 */
#include "dir_int.h"

#include <stdlib.h>
#include <string.h>

int oms_dir_put_checkpoint(oms_dir_t *d, const Cor__CheckpointRequest *req, cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(req->object_id.data, req->object_id.len, &id) != 0)
        return cor_error_set(err, COR_EINVAL, "checkpoint: object id must be 16 bytes");
    char s[COR_OBJECT_ID_STRLEN + 1], key[64];
    cor_object_id_format(&id, s);
    oms_ckpt_key(&id, key);
    pthread_rwlock_wrlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, &id);
    int rc = 0;
    if (o == NULL) {
        rc = cor_error_set(err, COR_ENOTFOUND, "checkpoint: no object %s", s);
        goto out;
    }
    int holder = 0;
    for (int i = 0; i < o->n_replicas; i++)
        holder |= o->replicas[i].state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
                  strcmp(o->replicas[i].node->info->name, req->node) == 0 &&
                  o->replicas[i].incarnation == req->incarnation;
    if (!holder) {
        rc = cor_error_set(err, COR_ESTATE,
                           "checkpoint of %s from %.63s (incarnation %llu), which does not hold "
                           "its active replica",
                           s, req->node, (unsigned long long)req->incarnation);
        goto out;
    }
    if (req->taken_ms <= o->checkpoint_ms)
        goto out; /* an older one that arrived late */
    size_t len = cor__checkpoint_request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    cor__checkpoint_request__pack(req, buf);
    int64_t before = o->checkpoint_ms;
    o->checkpoint_ms = req->taken_ms;
    uint8_t *obuf = NULL;
    size_t olen = 0;
    if (oms_obj_encode(o, &obuf, &olen) != 0) {
        o->checkpoint_ms = before;
        free(buf);
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    char okey[64];
    oms_obj_key(&o->id, okey);
    cor_store_op_t ops[2] = {{COR_STORE_PUT, key, buf, len}, {COR_STORE_PUT, okey, obuf, olen}};
    rc = d->store.ops->apply(d->store.impl, ops, 2, err);
    if (rc != 0)
        o->checkpoint_ms = before;
    free(buf);
    free(obuf);
out:
    pthread_rwlock_unlock(&d->lock);
    return rc;
}

int oms_checkpoint_get(oms_dir_t *d, const cor_object_id_t *id, Cor__CheckpointRequest **out,
                       cor_error_t *err)
{
    char key[64], s[COR_OBJECT_ID_STRLEN + 1];
    cor_object_id_format(id, s);
    oms_ckpt_key(id, key);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = d->store.ops->get(d->store.impl, key, &buf, &len, err);
    if (rc != 0)
        return rc;
    *out = cor__checkpoint_request__unpack(NULL, len, buf);
    free(buf);
    if (*out == NULL)
        return cor_error_set(err, COR_EPROTO, "stored checkpoint of %s is malformed", s);
    return 0;
}
