/*
 * ref_int.h — references as the runtime sees them (internal to runtime/).
 *
 * A ref names an object (id, class), its last known location (TCP
 * address, unix socket path, host id, epoch) and the DM chain whose client
 * parts calls through it run. The transport peer chosen for the location
 * is cached: the unix socket when the host id is this runtime's, else TCP.
 * The location changes under the ref's lock (a refresh through the OMS, a
 * redirect followed); everything else is fixed once made.
 */
#ifndef COR_REF_INT_H
#define COR_REF_INT_H

#include "dm_int.h"
#include "transport.h"

struct cor_ref {
    cor_runtime_t *rt;
    atomic_int holds; /* the user's, plus one per asynchronous call in flight */
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    char *class_name;
    int deadline_ms;
    pthread_mutex_t lock; /* location, peer and client stack */
    char *tcp_addr;
    char *unix_path;
    char *host_id;
    atomic_uint_fast64_t epoch; /* written under lock, read without it */
    cor_peer_t *peer;   /* chosen transport target, cached */
    char *dm_chain;     /* NULL: none */
    atomic_int dm_ready; /* client stack made (or found empty); set once, after dm */
    cor_dm_stack_t *dm; /* client DM parts; NULL: none */
};

/* The peer to call the object at (cached in the ref); NULL if the ref has
 * no location. */
cor_peer_t *cor_ref_peer(cor_ref_t *ref);

/* The ref's epoch now. */
uint64_t cor_ref_epoch(cor_ref_t *ref);

/* The client stack of ref, made on first use (*out NULL: no client
 * parts). An error names the chain's fault. */
int cor_ref_client_stack(cor_ref_t *ref, cor_dm_stack_t **out, cor_error_t *err);

/* Follows a tombstone's redirect, answered by the peer `answered_by` (""
 * for this process): points ref at moved->to when that is newer than what
 * ref knows. Returns 1 when the call should be resent to ref's place (it
 * was moved there, or another call already moved it on), else 0. */
int cor_ref_follow(cor_ref_t *ref, const cor_redirect_t *moved, const char *answered_by);

/* The deadline for calls through ref, in ms. */
int cor_ref_deadline(const cor_ref_t *ref);

/* The peer for a place given as a TCP address, a unix socket path and a
 * host id: the socket when the host is this runtime's. NULL when the place
 * has no address (or out of memory). */
cor_peer_t *cor_runtime_peer(cor_runtime_t *rt, const char *tcp_addr, const char *unix_path,
                             const char *host_id);

#endif
