/*
 * node.c — see node.h. What cor-kernel's timer does, on a thread: one
 * RegisterNode, then a Heartbeat and the runtime's tick per interval.
 */
#include "node.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cor/oms.pb-c.h"
#include "host.h"

#define MAX_LABELS 8
#define MAX_CLASSES 16

struct cor_test_node {
    cor_runtime_t *rt;
    char oms[128];
    char name[64];
    uint64_t incarnation;
    int interval_ms;
    atomic_int stop;
    pthread_t thread;
};

static void *beat(void *arg)
{
    cor_test_node_t *n = arg;
    while (!atomic_load(&n->stop)) {
        struct timespec ts = {n->interval_ms / 1000, (n->interval_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        cor_runtime_tick(n->rt);
        Cor__HeartbeatRequest req = COR__HEARTBEAT_REQUEST__INIT;
        req.name = n->name;
        req.incarnation = n->incarnation;
        ProtobufCMessage *out = NULL;
        cor_error_t err;
        if (cor_rpc_call(cor_runtime_client(n->rt), n->oms, COR_M_OMS_HEARTBEAT, &req.base,
                         &cor__heartbeat_reply__descriptor, 1000, &out, &err) == 0)
            protobuf_c_message_free_unpacked(out, NULL);
    }
    return NULL;
}

int cor_test_node_start(cor_runtime_t *rt, const char *oms, const char *name, const char *labels,
                        const cor_class_t *const *classes, int interval_ms,
                        cor_test_node_t **out)
{
    cor_test_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -1;
    n->rt = rt;
    n->interval_ms = interval_ms;
    snprintf(n->oms, sizeof(n->oms), "%s", oms);
    snprintf(n->name, sizeof(n->name), "%s", name);
    Cor__NodeInfo info = COR__NODE_INFO__INIT;
    info.name = n->name;
    info.tcp_address = (char *)cor_runtime_tcp_address(rt);
    info.unix_path = (char *)cor_runtime_unix_path(rt);
    info.host_id = (char *)cor_runtime_host_id(rt);
    Cor__NodeInfo__LabelsEntry le[MAX_LABELS], *lp[MAX_LABELS];
    char lab[256];
    snprintf(lab, sizeof(lab), "%s", labels != NULL ? labels : "");
    char *save = NULL;
    for (char *t = strtok_r(lab, ",", &save); t != NULL && info.n_labels < MAX_LABELS;
         t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        cor__node_info__labels_entry__init(&le[info.n_labels]);
        le[info.n_labels].key = t;
        le[info.n_labels].value = eq + 1;
        lp[info.n_labels] = &le[info.n_labels];
        info.n_labels++;
    }
    info.labels = lp;
    Cor__ClassInfo ci[MAX_CLASSES], *cp[MAX_CLASSES];
    for (; classes[info.n_classes] != NULL && info.n_classes < MAX_CLASSES; info.n_classes++) {
        const cor_class_t *c = classes[info.n_classes];
        cor__class_info__init(&ci[info.n_classes]);
        ci[info.n_classes].name = (char *)c->name;
        ci[info.n_classes].fingerprint = c->service->fingerprint;
        ci[info.n_classes].dm_chain = (char *)c->service->dm_chain;
        cp[info.n_classes] = &ci[info.n_classes];
    }
    info.classes = cp;
    Cor__RegisterRequest req = COR__REGISTER_REQUEST__INIT;
    req.node = &info;
    ProtobufCMessage *rep = NULL;
    cor_error_t err;
    if (cor_rpc_call(cor_runtime_client(rt), oms, COR_M_OMS_REGISTER, &req.base,
                     &cor__register_reply__descriptor, 5000, &rep, &err) != 0) {
        fprintf(stderr, "node %s: register: %s\n", name, err.msg);
        free(n);
        return -1;
    }
    n->incarnation = ((Cor__RegisterReply *)rep)->incarnation;
    protobuf_c_message_free_unpacked(rep, NULL);
    cor_runtime_set_incarnation(rt, n->incarnation);
    if (pthread_create(&n->thread, NULL, beat, n) != 0) {
        free(n);
        return -1;
    }
    *out = n;
    return 0;
}

void cor_test_node_stop(cor_test_node_t *n)
{
    if (n == NULL)
        return;
    atomic_store(&n->stop, 1);
    pthread_join(n->thread, NULL);
    free(n);
}
