/*
 * cluster.c — see cluster.h.
 */
#include "cluster.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons.h"
#include "host.h"
#include "testlib.h"

#ifndef COR_OMS_BIN
#error "COR_OMS_BIN and COR_KERNEL_BIN must name the daemons"
#endif

static int start_oms(cor_cluster_t *c, const char *listen)
{
    if (c->spec.oms_etcd != NULL)
        return cor_proc_start_oms_etcd(&c->oms, COR_OMS_BIN, listen, c->spec.oms_etcd,
                                       c->spec.oms_etcd_prefix != NULL ? c->spec.oms_etcd_prefix
                                                                       : "/corundum/",
                                       c->oms_addr, sizeof(c->oms_addr));
    return cor_proc_start_oms(&c->oms, COR_OMS_BIN, listen, c->data_dir, c->oms_addr,
                              sizeof(c->oms_addr));
}

int cor_cluster_start(cor_cluster_t *c, const cor_cluster_spec_t *spec)
{
    memset(c, 0, sizeof(*c));
    c->oms.pid = -1;
    c->oms.out_fd = -1;
    for (int i = 0; i < COR_CLUSTER_MAX_KERNELS; i++) {
        c->k[i].pid = -1;
        c->k[i].out_fd = -1;
    }
    if (spec->n_kernels < 0 || spec->n_kernels > COR_CLUSTER_MAX_KERNELS)
        return -1;
    c->spec = *spec;
    cor_test_tmp_path(c->data_dir, sizeof(c->data_dir), spec->tag);
    if (start_oms(c, "127.0.0.1:0") != 0)
        goto fail;
    for (int i = 0; i < spec->n_kernels; i++)
        if (cor_cluster_restart_kernel(c, i) != 0)
            goto fail;
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = c->oms_addr,
                            .host_id = spec->host_id};
    cor_error_t err;
    if (cor_runtime_new(&o, &c->rt, &err) != 0) {
        fprintf(stderr, "cluster %s: client runtime: %s\n", spec->tag, err.msg);
        c->rt = NULL;
        goto fail;
    }
    return 0;
fail:
    cor_cluster_stop(c);
    return -1;
}

void cor_cluster_stop(cor_cluster_t *c)
{
    if (c->rt != NULL)
        cor_runtime_free(c->rt);
    c->rt = NULL;
    for (int i = 0; i < c->spec.n_kernels; i++)
        cor_proc_stop(&c->k[i], SIGTERM, 10000);
    cor_proc_stop(&c->oms, SIGTERM, 10000);
    cor_test_remove_kernel_data();
    if (c->data_dir[0] != '\0') {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->data_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cluster: could not remove %s\n", c->data_dir);
    }
}

void cor_cluster_kill_kernel(cor_cluster_t *c, int i)
{
    if (i >= 0 && i < c->spec.n_kernels)
        cor_proc_kill(&c->k[i]);
}

int cor_cluster_restart_kernel(cor_cluster_t *c, int i)
{
    const cor_cluster_kernel_t *k = &c->spec.kernels[i];
    return cor_proc_start_kernel(&c->k[i], COR_KERNEL_BIN, c->oms_addr, k->name, k->builtin,
                                 k->labels);
}

void cor_cluster_kill_oms(cor_cluster_t *c)
{
    cor_proc_kill(&c->oms);
}

int cor_cluster_restart_oms(cor_cluster_t *c)
{
    char listen[sizeof(c->oms_addr)];
    snprintf(listen, sizeof(listen), "%s", c->oms_addr);
    return start_oms(c, listen);
}

int cor_cluster_kernel_index(const cor_cluster_t *c, const char *name)
{
    for (int i = 0; i < c->spec.n_kernels; i++)
        if (strcmp(c->spec.kernels[i].name, name) == 0)
            return i;
    return -1;
}

int cor_cluster_oms_call(cor_cluster_t *c, enum cor_method_index m, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *reply_desc, int deadline_ms,
                         ProtobufCMessage **reply, cor_error_t *err)
{
    return cor_rpc_call(cor_runtime_client(c->rt), c->oms_addr, m, req, reply_desc, deadline_ms, reply, err);
}

Cor__LookupReply *cor_cluster_lookup(cor_cluster_t *c, const cor_ref_t *r)
{
    Cor__LookupRequest lq = COR__LOOKUP_REQUEST__INIT;
    lq.id.data = (uint8_t *)cor_ref_id(r)->b;
    lq.id.len = 16;
    ProtobufCMessage *m = NULL;
    cor_error_t err;
    if (cor_cluster_oms_call(c, COR_M_OMS_LOOKUP, &lq.base, &cor__lookup_reply__descriptor, 5000,
                             &m, &err) != 0)
        return NULL;
    return (Cor__LookupReply *)m;
}

int cor_cluster_node_of(cor_cluster_t *c, const cor_ref_t *r, char *node, size_t len)
{
    Cor__LookupReply *l = cor_cluster_lookup(c, r);
    int rc = l != NULL && l->object != NULL && l->object->n_replicas > 0 ? 0 : -1;
    snprintf(node, len, "%s", rc == 0 ? l->object->replicas[0]->node : "");
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    return rc;
}

int cor_cluster_kernel_of(cor_cluster_t *c, const cor_ref_t *r)
{
    char node[64];
    if (cor_cluster_node_of(c, r, node, sizeof(node)) != 0)
        return -1;
    return cor_cluster_kernel_index(c, node);
}

Cor__ListNodesReply *cor_cluster_list_nodes(cor_cluster_t *c)
{
    Cor__ListNodesRequest req = COR__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    cor_error_t err;
    if (cor_cluster_oms_call(c, COR_M_OMS_LIST_NODES, &req.base,
                             &cor__list_nodes_reply__descriptor, 5000, &m, &err) != 0)
        return NULL;
    return (Cor__ListNodesReply *)m;
}

const Cor__NodeInfo *cor_cluster_find_node(const Cor__ListNodesReply *nodes, const char *name)
{
    for (size_t i = 0; i < nodes->n_nodes; i++)
        if (strcmp(nodes->nodes[i]->name, name) == 0)
            return nodes->nodes[i];
    return NULL;
}

int cor_cluster_node_state(cor_cluster_t *c, const char *name, uint64_t *incarnation)
{
    Cor__ListNodesReply *rep = cor_cluster_list_nodes(c);
    if (rep == NULL)
        return -1;
    const Cor__NodeInfo *n = cor_cluster_find_node(rep, name);
    int st = n != NULL ? (int)n->state : -1;
    if (n != NULL && incarnation != NULL)
        *incarnation = n->incarnation;
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return st;
}

int cor_cluster_wait_node_state(cor_cluster_t *c, const char *name, int want, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        if (cor_cluster_node_state(c, name, NULL) == want)
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

long cor_cluster_object_count(cor_cluster_t *c)
{
    Cor__ListObjectsRequest req = COR__LIST_OBJECTS_REQUEST__INIT;
    ProtobufCMessage *m = NULL;
    cor_error_t err;
    if (cor_cluster_oms_call(c, COR_M_OMS_LIST_OBJECTS, &req.base,
                             &cor__list_objects_reply__descriptor, 5000, &m, &err) != 0)
        return -1;
    long n = (long)((Cor__ListObjectsReply *)m)->n_objects;
    protobuf_c_message_free_unpacked(m, NULL);
    return n;
}

cor_ref_t *cor_cluster_create(cor_cluster_t *c, const char *cls, const char *selector,
                              const char *dm_chain, cor_error_t *err)
{
    cor_create_opts_t o = {.selector = selector, .dm_chain = dm_chain};
    cor_ref_t *r = NULL;
    if (cor_object_create(c->rt, cls, NULL, 0, &o, &r, err) != 0) {
        fprintf(stderr, "create %s (selector '%s', chain '%s'): %s\n", cls,
                selector ? selector : "", dm_chain ? dm_chain : "", err->msg);
        return NULL;
    }
    return r;
}
