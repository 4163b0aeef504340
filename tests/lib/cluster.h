/*
 * cluster.h — the cluster fixture of the daemon suites
 * (tests/integration/test_cluster.c, test_lbf.c, ...): a cor-oms with a
 * throwaway data directory, N cor-kernels started from a small table, and
 * a client runtime pointed at the OMS; then the OMS look-ups those suites
 * make (an object's record, which kernel hosts it, the node list, the
 * object count), and kill -9 / restart of one kernel or of the OMS.
 *
 * Design: the fixture is one caller-owned struct, filled by
 * cor_cluster_start and emptied by cor_cluster_stop; the daemons are
 * started through daemons.h (quick heartbeats, no fsync) and are killed
 * with the test process if it dies (proc.h). A kernel is known by its
 * index in the table it was started from, which is also how it is
 * restarted: same name, labels and builtin classes, a new incarnation.
 * The OMS restarts on the address and data directory it had, so the
 * client runtime and the kernels find it again.
 *
 * Failure: start returns non-zero and has stopped whatever it started (so
 * it can be a CUnit suite's init); the look-ups return NULL or -1 when the
 * OMS does not answer, and never assert, so a suite keeps its own
 * assertions. Every function is for the test's main thread unless it says
 * otherwise.
 */
#ifndef COR_TEST_CLUSTER_H
#define COR_TEST_CLUSTER_H

#include <cor/cor.h>
#include <stddef.h>

#include "cor/oms.pb-c.h"
#include "proc.h"
#include "rpc.h"

#define COR_CLUSTER_MAX_KERNELS 8

/* One kernel: how cor_proc_start_kernel starts it. */
typedef struct cor_cluster_kernel {
    const char *name;    /* --name, e.g. "k1" */
    const char *builtin; /* --builtin: "echo", "all", ... */
    const char *labels;  /* comma-separated --label values; NULL: none */
} cor_cluster_kernel_t;

/* What cor_cluster_start starts. The strings and the kernels table are
 * the caller's and must stay valid until cor_cluster_stop (restarts read
 * them again): static tables and literals are the intended use. */
typedef struct cor_cluster_spec {
    const char *tag;                     /* names the OMS's temporary data directory */
    const cor_cluster_kernel_t *kernels; /* started in this order */
    int n_kernels;                       /* at most COR_CLUSTER_MAX_KERNELS */
    const char *host_id;                 /* the client runtime's host id; NULL: the default */
    /* The OMS keeps its directory in etcd (--etcd oms_etcd, --etcd-prefix
     * oms_etcd_prefix) instead of a data directory; NULL: embedded. */
    const char *oms_etcd;
    const char *oms_etcd_prefix;
} cor_cluster_spec_t;

typedef struct cor_cluster {
    cor_cluster_spec_t spec;
    char data_dir[256];
    char oms_addr[64]; /* "127.0.0.1:port": where the OMS listens */
    cor_proc_t oms;
    cor_proc_t k[COR_CLUSTER_MAX_KERNELS]; /* by index into spec.kernels */
    cor_runtime_t *rt; /* the test's client runtime, owned by the fixture */
} cor_cluster_t;

/* Makes a temporary data directory named after spec->tag, starts the OMS
 * on 127.0.0.1 (any port) and every kernel of spec->kernels in order, and
 * creates c->rt with the OMS's address and spec->host_id. Returns 0, or
 * non-zero with everything it started stopped again. */
int cor_cluster_start(cor_cluster_t *c, const cor_cluster_spec_t *spec);

/* Frees c->rt, stops every kernel and then the OMS with SIGTERM (10 s each;
 * killed ones are skipped) and removes the data directory. */
void cor_cluster_stop(cor_cluster_t *c);

/* kill -9 of kernel i (reaped); safe on one already killed, and a no-op
 * for an i that names no kernel (-1 from cor_cluster_kernel_index). */
void cor_cluster_kill_kernel(cor_cluster_t *c, int i);

/* Starts kernel i again as its spec says (after a kill). 0 or -1. */
int cor_cluster_restart_kernel(cor_cluster_t *c, int i);

/* kill -9 of the OMS. */
void cor_cluster_kill_oms(cor_cluster_t *c);

/* Starts the OMS again on the address and data directory (or etcd prefix)
 * it had. 0 or -1. */
int cor_cluster_restart_oms(cor_cluster_t *c);

/* The index of the kernel called name, or -1. */
int cor_cluster_kernel_index(const cor_cluster_t *c, const char *name);

/* Calls OMS method m with req through c->rt's client (see cor_rpc_call:
 * on success the caller frees *reply with
 * protobuf_c_message_free_unpacked). Any thread. */
int cor_cluster_oms_call(cor_cluster_t *c, enum cor_method_index m, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *reply_desc, int deadline_ms,
                         ProtobufCMessage **reply, cor_error_t *err);

/* The OMS's record of r's object (Lookup, 5 s): a reply the caller frees
 * with protobuf_c_message_free_unpacked(&reply->base, NULL), or NULL when
 * the OMS did not answer. Any thread. */
Cor__LookupReply *cor_cluster_lookup(cor_cluster_t *c, const cor_ref_t *r);

/* Copies the node of r's first replica, as the OMS records it, into node
 * ("" when the OMS did not answer or lists no replica). Returns 0 or -1. */
int cor_cluster_node_of(cor_cluster_t *c, const cor_ref_t *r, char *node, size_t len);

/* The index of the kernel hosting r's first replica, or -1. */
int cor_cluster_kernel_of(cor_cluster_t *c, const cor_ref_t *r);

/* The OMS's node list (ListNodes, 5 s): a reply the caller frees with
 * protobuf_c_message_free_unpacked(&reply->base, NULL), or NULL. */
Cor__ListNodesReply *cor_cluster_list_nodes(cor_cluster_t *c);

/* The node called name in a ListNodes reply (owned by the reply), or NULL. */
const Cor__NodeInfo *cor_cluster_find_node(const Cor__ListNodesReply *nodes, const char *name);

/* The OMS's view of node name: its COR__NODE_STATE__* (and *incarnation,
 * if not NULL), or -1 when the OMS did not answer or lists no such node. */
int cor_cluster_node_state(cor_cluster_t *c, const char *name, uint64_t *incarnation);

/* Waits up to ms (polling every 50 ms) for node name to be in state want;
 * 1 when it was. Also what gets a client past its first failed call to a
 * restarted OMS. */
int cor_cluster_wait_node_state(cor_cluster_t *c, const char *name, int want, int ms);

/* How many objects the OMS lists, or -1 when it did not answer. */
long cor_cluster_object_count(cor_cluster_t *c);

/* Creates an object of class cls through c->rt with a selector and a DM
 * chain (either may be NULL). Returns the ref (the caller frees it with
 * cor_ref_free), or NULL with err set and the failure printed on stderr. */
cor_ref_t *cor_cluster_create(cor_cluster_t *c, const char *cls, const char *selector,
                              const char *dm_chain, cor_error_t *err);

#endif
