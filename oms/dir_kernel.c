/*
 * dir_kernel.c — the directory's calls to kernel servers, and the real
 * world behind oms_env_t.
 *
 * Design: every call to a kernel server goes through d->env.kernel_call, so
 * a test can put fakes in its place (tests/unit/test_oms_fixture.c); the
 * real one is a gRPC call through the caller's cor_client_t with the
 * directory's kernel deadline. No call is ever made with d->lock held: a
 * caller copies what it needs (addresses, names) out under the lock, calls,
 * then takes the lock again and checks that nothing changed meanwhile.
 *
 * Happy path: a create asks each chosen kernel for a replica; a delete or
 * an undo asks it to drop one; an object with several replicas has each
 * told its peers. Failure modes: a create's error is the caller's (it
 * undoes); deletes and peer lists are best effort, logged at most — a
 * replica may linger on a kernel that cannot be reached.
 */
#include "dir_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <time.h>

#include "cor/kernel.pb-c.h"
#include "rpc.h"

static int64_t sys_mono_ms(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_wall_ms(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* gRPC to kernel servers. arg is the directory. */
static int grpc_kernel_call(void *arg, const char *target, int method, const ProtobufCMessage *req,
                            ProtobufCMessage **reply, cor_error_t *err)
{
    const oms_dir_t *d = arg;
    static const ProtobufCMessageDescriptor *const replies[COR_M_COUNT] = {
        [COR_M_CREATE_REPLICA] = &cor__create_replica_reply__descriptor,
        [COR_M_DELETE_REPLICA] = &cor__delete_replica_reply__descriptor,
        [COR_M_INSTALL_STATE] = &cor__install_state_reply__descriptor,
        [COR_M_SET_MEMBERS] = &cor__set_members_reply__descriptor,
        [COR_M_MIGRATE_OUT] = &cor__migrate_out_reply__descriptor,
        [COR_M_GET_STATE] = &cor__get_state_reply__descriptor,
    };
    if (method < 0 || method >= COR_M_COUNT || replies[method] == NULL)
        return cor_error_set(err, COR_EINVAL, "not a kernel replica operation: %d", method);
    ProtobufCMessage *out = NULL;
    int rc = cor_rpc_call(d->opts.client, target, (enum cor_method_index)method, req,
                          replies[method], d->opts.kernel_deadline_ms, &out, err);
    if (reply != NULL)
        *reply = out;
    else if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

oms_env_t oms_env_real(oms_dir_t *d)
{
    return (oms_env_t){.kernel_call = grpc_kernel_call, .mono_ms = sys_mono_ms,
                       .wall_ms = sys_wall_ms, .arg = d};
}

/* Asks the kernel server at target to create a replica (no lock held). */
int oms_kernel_create(oms_dir_t *d, const char *target, const cor_object_id_t *id,
                      const char *cls, const uint8_t *args, size_t args_len, const char *chain,
                      cor_error_t *err)
{
    Cor__CreateReplicaRequest cr = COR__CREATE_REPLICA_REQUEST__INIT;
    cr.object_id.data = (uint8_t *)id->b;
    cr.object_id.len = 16;
    cr.class_name = (char *)cls;
    cr.args.data = (uint8_t *)args;
    cr.args.len = args_len;
    cr.epoch = 1;
    cr.dm_chain = (char *)(chain ? chain : ""); /* the replica's server DM parts */
    return d->env.kernel_call(d->env.arg, target, COR_M_CREATE_REPLICA, &cr.base, NULL, err);
}

/* Best effort: the replica may linger if the kernel cannot be reached. */
void oms_kernel_delete(oms_dir_t *d, const char *target, const cor_object_id_t *id)
{
    Cor__DeleteReplicaRequest dr = COR__DELETE_REPLICA_REQUEST__INIT;
    dr.object_id.data = (uint8_t *)id->b;
    dr.object_id.len = 16;
    cor_error_t err;
    d->env.kernel_call(d->env.arg, target, COR_M_DELETE_REPLICA, &dr.base, NULL, &err);
}

/* Tells every active replica of a multi-replica (or replicated-log) object
 * who its peers are
 * (Kernel.SetMembers), so server DM parts can message each other. The set
 * is marked founding while it is exactly the replicas made with the object
 * (a replicated object's group forms from it; sent again, it lets a
 * founder that missed it form later). Best effort, no lock held during the
 * calls. */
void oms_kernel_set_members(oms_dir_t *d, const cor_object_id_t *id)
{
    Cor__Member m[8], *mp[8];
    char node[8][NODE_NAME_MAX + 1], tcp[8][160], unx[8][128], host[8][128];
    int n = 0, founders = 0, want = 0, logged = 0;
    pthread_rwlock_rdlock(&d->lock);
    oms_obj_t *o = cor_idmap_get(&d->objects, id);
    if (o != NULL) {
        want = o->founders;
        /* A replicated log forms from its set even with one replica. */
        cor_dm_chain_t chain;
        logged = o->dm_chain != NULL && cor_dm_chain_parse(o->dm_chain, &chain, NULL) == 0 &&
                 (cor_dm_chain_caps(&chain) & COR_DM_CAP_LOG);
    }
    for (int i = 0; o != NULL && i < o->n_replicas && n < 8; i++) {
        const oms_replica_t *r = &o->replicas[i];
        if (r->state != COR__REPLICA_STATE__REPLICA_ACTIVE)
            continue;
        cor__member__init(&m[n]);
        snprintf(node[n], sizeof(node[n]), "%s", r->node->info->name);
        snprintf(tcp[n], sizeof(tcp[n]), "%s", r->node->info->tcp_address);
        snprintf(unx[n], sizeof(unx[n]), "%s", r->node->info->unix_path);
        snprintf(host[n], sizeof(host[n]), "%s", r->node->info->host_id);
        m[n].node = node[n];
        m[n].tcp_address = tcp[n];
        m[n].unix_path = unx[n];
        m[n].host_id = host[n];
        m[n].epoch = r->epoch;
        m[n].incarnation = r->member_inc ? r->member_inc : r->incarnation;
        founders += r->founder != 0;
        mp[n] = &m[n];
        n++;
    }
    pthread_rwlock_unlock(&d->lock);
    if (n < (logged ? 1 : 2))
        return;
    Cor__SetMembersRequest req = COR__SET_MEMBERS_REQUEST__INIT;
    req.object_id.data = (uint8_t *)id->b;
    req.object_id.len = 16;
    req.members = mp;
    req.n_members = (size_t)n;
    req.founding = want > 0 && founders == want && n == want;
    for (int i = 0; i < n; i++) {
        cor_error_t err;
        if (d->env.kernel_call(d->env.arg, tcp[i], COR_M_SET_MEMBERS, &req.base, NULL, &err) != 0)
            cor_log_warn("telling %s its peers failed: %s", node[i], err.msg);
    }
}
