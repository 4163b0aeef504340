/*
 * cluster.c — objects placed by the OMS: create, look up and delete through
 * the OMS API, and re-resolving a ref when its kernel server answers that
 * the object is not there or cannot be reached (DESIGN.md "Calls").
 *
 * A ref's location comes from the object's first ACTIVE replica. When a
 * call fails with ENOTFOUND or EUNAVAIL, cor_call asks the OMS again
 * (cor_cluster_refresh): if the object now lives elsewhere the call is
 * retried there once; if not, the error says why (object deleted, its
 * kernel server dead, its replica lost in a restart).
 */
#include "runtime_int.h"
#include "ref_int.h"

#include <stdio.h>
#include <string.h>

#include "cor/oms.pb-c.h"

#include <cor/log.h>
#include <stdlib.h>

#define OMS_DEADLINE_MS 5000

static int need_oms(cor_runtime_t *rt, cor_error_t *err)
{
    if (rt->oms_address[0] == '\0')
        return cor_error_set(err, COR_ESTATE,
                             "this runtime has no OMS address (cor_runtime_opts_t.oms_address)");
    return 0;
}

static const Cor__Replica *active_replica(const Cor__ObjectInfo *o)
{
    for (size_t i = 0; i < o->n_replicas; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            return o->replicas[i];
    return NULL;
}

/* Points ref at o's active replica. Returns 1 if the location changed, 0 if
 * not, or a negative error when there is no live place to call. */
static int apply_info(cor_ref_t *ref, const Cor__ObjectInfo *o, cor_error_t *err)
{
    const Cor__Replica *r = active_replica(o);
    if (r == NULL) {
        const char *node = o->n_replicas ? o->replicas[0]->node : "?";
        return cor_error_set(err, COR_EUNAVAIL,
                             "its only replica was lost when kernel server %s restarted", node);
    }
    pthread_mutex_lock(&ref->lock);
    int same = ref->tcp_addr != NULL && strcmp(ref->tcp_addr, r->tcp_address) == 0 &&
               ref->epoch == r->epoch;
    pthread_mutex_unlock(&ref->lock);
    if (same)
        return 0;
    int rc = cor_ref_set_location(ref, r->tcp_address, r->unix_path, r->host_id, r->epoch, err);
    return rc != 0 ? rc : 1;
}

int cor_oms_lookup(cor_runtime_t *rt, const cor_object_id_t *id, const char *name,
                       Cor__LookupReply **out, cor_error_t *err)
{
    int rc = need_oms(rt, err);
    if (rc != 0)
        return rc;
    Cor__LookupRequest req = COR__LOOKUP_REQUEST__INIT;
    if (id != NULL) {
        req.id.data = (uint8_t *)id->b;
        req.id.len = 16;
    } else {
        req.name = (char *)name;
    }
    ProtobufCMessage *m = NULL;
    rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_LOOKUP, &req.base,
                      &cor__lookup_reply__descriptor, OMS_DEADLINE_MS, &m, err);
    if (rc != 0)
        return rc;
    *out = (Cor__LookupReply *)m;
    if ((*out)->object == NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        return cor_error_set(err, COR_EPROTO, "OMS lookup answered without an object");
    }
    return 0;
}

static int ref_from_info(cor_runtime_t *rt, const Cor__ObjectInfo *o, cor_ref_t **out,
                         cor_error_t *err)
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(o->id.data, o->id.len, &id) != 0)
        return cor_error_set(err, COR_EPROTO, "OMS sent an object id of %zu bytes", o->id.len);
    cor_ref_t *r = cor_ref_new(rt, &id, o->class_name, o->dm_chain);
    if (r == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    const Cor__Replica *rep = active_replica(o);
    if ((rep != NULL && cor_ref_set_location(r, rep->tcp_address, rep->unix_path, rep->host_id,
                                             rep->epoch, err) != 0)) {
        cor_ref_free(r);
        return err->code;
    }
    *out = r;
    return 0;
}

int cor_object_create(cor_runtime_t *rt, const char *class_name, const uint8_t *args,
                      size_t args_len, const cor_create_opts_t *opts, cor_ref_t **ref,
                      cor_error_t *err)
{
    if (class_name == NULL || class_name[0] == '\0')
        return cor_error_set(err, COR_EINVAL, "create: no class name");
    if (rt->oms_address[0] == '\0' || (opts != NULL && opts->here))
        return cor_obj_create_here(rt, class_name, args, args_len, opts, ref, err);
    int rc;
    Cor__CreateObjectRequest req = COR__CREATE_OBJECT_REQUEST__INIT;
    req.class_name = (char *)class_name;
    req.args.data = (uint8_t *)args;
    req.args.len = args_len;
    if (opts != NULL) {
        req.name = (char *)(opts->name ? opts->name : "");
        req.dm_chain = (char *)(opts->dm_chain ? opts->dm_chain : "");
        req.selector = (char *)(opts->selector ? opts->selector : "");
    }
    ProtobufCMessage *m = NULL;
    rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_CREATE_OBJECT, &req.base,
                      &cor__create_object_reply__descriptor, 2 * OMS_DEADLINE_MS, &m, err);
    if (rc != 0) {
        cor_error_prefix(err, "create %s", class_name);
        return rc;
    }
    Cor__CreateObjectReply *rep = (Cor__CreateObjectReply *)m;
    if (rep->object == NULL)
        rc = cor_error_set(err, COR_EPROTO, "OMS create answered without an object");
    else if (ref != NULL)
        rc = ref_from_info(rt, rep->object, ref, err);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static int lookup_ref(cor_runtime_t *rt, const cor_object_id_t *id, const char *name,
                      cor_ref_t **ref, cor_error_t *err)
{
    Cor__LookupReply *rep = NULL;
    int rc = cor_oms_lookup(rt, id, name, &rep, err);
    if (rc != 0)
        return rc;
    rc = ref_from_info(rt, rep->object, ref, err);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

int cor_object_lookup(cor_runtime_t *rt, const cor_object_id_t *id, cor_ref_t **ref,
                      cor_error_t *err)
{
    return lookup_ref(rt, id, NULL, ref, err);
}

int cor_object_lookup_name(cor_runtime_t *rt, const char *name, cor_ref_t **ref, cor_error_t *err)
{
    if (name == NULL || name[0] == '\0')
        return cor_error_set(err, COR_EINVAL, "lookup: empty object name");
    return lookup_ref(rt, NULL, name, ref, err);
}

int cor_object_delete(cor_runtime_t *rt, const cor_object_id_t *id, cor_error_t *err)
{
    if (rt->oms_address[0] == '\0')
        return cor_runtime_unhost(rt, id, err);
    int rc;
    Cor__DeleteObjectRequest req = COR__DELETE_OBJECT_REQUEST__INIT;
    req.id.data = (uint8_t *)id->b;
    req.id.len = 16;
    ProtobufCMessage *m = NULL;
    rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_DELETE_OBJECT, &req.base,
                      &cor__delete_object_reply__descriptor, 2 * OMS_DEADLINE_MS, &m, err);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    if (rc == COR_ENOTFOUND && cor_runtime_unhost(rt, id, NULL) == 0)
        rc = 0; /* created here, unknown to the OMS */
    return rc;
}

int cor_cluster_refresh(cor_ref_t *ref, cor_error_t *err)
{
    cor_runtime_t *rt = ref->rt;
    if (rt->oms_address[0] == '\0')
        return 0;
    cor_error_t lerr;
    Cor__LookupReply *rep = NULL;
    int rc = cor_oms_lookup(rt, &ref->id, NULL, &rep, &lerr);
    if (rc == COR_ENOTFOUND)
        return cor_error_set(err, COR_ENOTFOUND, "the OMS knows no such object (deleted?)");
    if (rc != 0)
        return 0; /* OMS unreachable: keep the original error */
    rc = apply_info(ref, rep->object, err);
    if (rc == 0) {
        /* Same place: explain what the OMS knows about it. */
        const Cor__Replica *r = active_replica(rep->object);
        if (r != NULL && r->node_state == COR__NODE_STATE__NODE_DEAD)
            rc = cor_error_set(err, COR_EUNAVAIL, "kernel server %s, which hosts it, is dead",
                               r->node);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

/* ---------------- cor_migrate ---------------- */

typedef struct migrate_job {
    cor_job_t job;
    cor_runtime_t *rt;
    Cor__MigrateRequest req;
    cor_object_id_t id;
    char to[64];
    char sel[256];
} migrate_job_t;

static int send_migrate(cor_runtime_t *rt, const Cor__MigrateRequest *req, cor_error_t *err)
{
    ProtobufCMessage *m = NULL;
    int rc = cor_rpc_call(rt->client, rt->oms_address, COR_M_OMS_MIGRATE, &req->base,
                          &cor__migrate_reply__descriptor, 60000, &m, err);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static void migrate_later(cor_job_t *job)
{
    migrate_job_t *j = (migrate_job_t *)job;
    cor_error_t err;
    if (send_migrate(j->rt, &j->req, &err) != 0) {
        char s[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(&j->id, s);
        cor_log_warn("object %s: the move it asked for failed: %s", s, err.msg);
    }
    free(j);
}

static void migrate_cancel(cor_job_t *job)
{
    free(job);
}

/* Sends the move from a worker: the caller holds the object's turn, which
 * the move needs. */
static int start_job(migrate_job_t *j, cor_error_t *err)
{
    j->job.run = migrate_later;
    j->job.cancel = migrate_cancel;
    int rc = cor_workers_post(&j->rt->workers, &j->job);
    if (rc != 0) {
        free(j);
        return cor_error_set(err, rc, "cannot start the move: %s", cor_strerror(rc));
    }
    return 0;
}

int cor_runtime_request_move(cor_runtime_t *rt, const cor_object_id_t *id, const char *to_node,
                             cor_error_t *err)
{
    int rc = need_oms(rt, err);
    if (rc != 0)
        return rc;
    migrate_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    j->rt = rt;
    j->id = *id;
    snprintf(j->to, sizeof(j->to), "%s", to_node);
    cor__migrate_request__init(&j->req);
    j->req.id.data = j->id.b;
    j->req.id.len = 16;
    j->req.to_node = j->to;
    j->req.selector = j->sel;
    j->req.by_app = 1;
    return start_job(j, err);
}

int cor_migrate(cor_ref_t *ref, const char *to_node, const char *selector, cor_error_t *err)
{
    cor_runtime_t *rt = ref->rt;
    int rc = need_oms(rt, err);
    if (rc != 0)
        return rc;
    int has_to = to_node && to_node[0], has_sel = selector && selector[0];
    if (has_to == has_sel)
        return cor_error_set(err, COR_EINVAL, "migrate: give a node or a selector, not %s",
                             has_to ? "both" : "neither");
    migrate_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    j->rt = rt;
    j->id = ref->id;
    snprintf(j->to, sizeof(j->to), "%s", has_to ? to_node : "");
    snprintf(j->sel, sizeof(j->sel), "%s", has_sel ? selector : "");
    cor__migrate_request__init(&j->req);
    j->req.id.data = j->id.b;
    j->req.id.len = 16;
    j->req.to_node = j->to;
    j->req.selector = j->sel;
    j->req.by_app = 1;
    if (!cor_runtime_in_object(rt, &ref->id)) {
        rc = send_migrate(rt, &j->req, err);
        free(j);
        return rc;
    }
    /* Inside one of the object's own methods: its turn is held by us, and
     * the move needs it. Ask from a worker; it happens after return. */
    return start_job(j, err);
}
