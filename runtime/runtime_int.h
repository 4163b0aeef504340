/*
 * runtime_int.h — internal structures shared by the runtime's files.
 */
#ifndef COR_RUNTIME_INT_H
#define COR_RUNTIME_INT_H

#include <cor/cor.h>

#include <pthread.h>
#include <stdatomic.h>

#include "arena.h"
#include "idmap.h"
#include "transport.h"

/* Method paths the runtime's client can call, by index. */
enum { COR_M_INVOKE = 0, COR_M_COUNT };
#define COR_PATH_INVOKE "/cor.Kernel/Invoke"

struct cor_ctx {
    cor_runtime_t *rt;
    cor_arena_t *arena;
    const cor_object_id_t *id;
    const cor_method_desc_t *method;
    cor_error_t *err;
};

/* A hosted object. The table holds one reference; each running call one. */
typedef struct cor_obj {
    cor_object_id_t id;
    const cor_class_t *cls;
    void *self;
    atomic_int refs;
    pthread_mutex_t call_lock; /* unless COR_CLASS_CONCURRENT */
} cor_obj_t;

#define COR_MAX_CLASSES 64
#define COR_ADDR_MAX 128

struct cor_runtime {
    cor_runtime_opts_t opts;
    char host_id[128];
    unsigned char client_id[16];
    atomic_uint_fast64_t seq;

    cor_client_t *client;
    cor_server_t *server;
    char tcp_addr[COR_ADDR_MAX];
    char unix_path[COR_ADDR_MAX];

    pthread_rwlock_t lock; /* classes and objects */
    const cor_class_t *classes[COR_MAX_CLASSES];
    int n_classes;
    cor_idmap_t objects;
};

struct cor_ref {
    cor_runtime_t *rt;
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    char *class_name;
    int deadline_ms;
    pthread_mutex_t lock; /* location and peer */
    char *tcp_addr;
    char *unix_path;
    char *host_id;
    uint64_t epoch;
    cor_peer_t *peer; /* chosen transport target, cached */
};

/* Finds a hosted object and takes a reference; NULL if not hosted. */
cor_obj_t *cor_runtime_obj_get(cor_runtime_t *rt, const cor_object_id_t *id);
void cor_runtime_obj_put(cor_obj_t *o);

/* Runs method m on a hosted object: locks unless concurrent, calls invoke.
 * Returns 0 or a COR_E* code with err set (unprefixed). */
int cor_runtime_obj_invoke(cor_runtime_t *rt, cor_obj_t *o, const cor_method_desc_t *m,
                           cor_arena_t *arena, const ProtobufCMessage *req,
                           ProtobufCMessage *reply, cor_error_t *err);

/* Packs env (a message whose `field` is an empty bytes field) followed by
 * payload packed as that field, into one new slice: the envelope and the
 * payload are written once, with no intermediate copy. */
grpc_slice cor_wire_pack(const ProtobufCMessage *env, unsigned field,
                         const ProtobufCMessage *payload);

#endif
