/*
 * dm_int.h — running DM parts on calls (internal).
 *
 * A stack is the instantiated parts of one side of a chain: a reference
 * holds its client stack, a hosted object its server stack. Running a call
 * through a stack walks cor_dm_next down the parts to a terminal function
 * (the transport, or the method).
 */
#ifndef COR_DM_INT_H
#define COR_DM_INT_H

#include <cor/dm.h>
#include <cor/object.h>

#include "cor/oms.pb-c.h"

typedef struct cor_dm_inst {
    const cor_dm_ops_t *ops;
    cor_dm_entry_t entry;
    void *state;
} cor_dm_inst_t;

typedef struct cor_dm_stack {
    int server; /* which side */
    int n;
    cor_dm_inst_t parts[COR_DM_MAX_CHAIN];
} cor_dm_stack_t;

/* Parses, checks and instantiates one side of chain text. *out is NULL
 * (no error) when that side has no parts — the fast path. Caller frees
 * with cor_dm_stack_free. */
int cor_dm_stack_new(const char *chain, int server, cor_dm_stack_t **out, cor_error_t *err);
void cor_dm_stack_free(cor_dm_stack_t *s);

typedef int (*cor_dm_terminal_cb)(cor_dm_call_t *c, void *arg);

struct cor_dm_call {
    const cor_method_desc_t *m;
    const char *object; /* printed id */
    const unsigned char *req;
    size_t req_len;
    unsigned char *reply; /* malloc'd, owned by the call */
    size_t reply_len;
    const unsigned char *client_id;
    uint64_t seq;
    cor_error_t *err;
    const cor_dm_stack_t *stack;
    int pos;
    cor_dm_terminal_cb terminal;
    void *terminal_arg;
    struct cor_ref *ref;        /* client side: the reference called */
    struct cor_runtime *rt;     /* server side: the hosting runtime ... */
    struct cor_obj *obj;        /* ... and the object */
    const char *caller_node;    /* server side: from the envelope */
    int routed;                 /* a client part chose the replica */
    cor_dm_replica_t route;
};

/* Runs c through its stack from the outermost part. The caller sets every
 * field but pos and frees c->reply afterwards. */
int cor_dm_run(cor_dm_call_t *c);

/* One replica of an OMS answer (Lookup's ObjectInfo) as DM parts see it:
 * every field of *x set (incarnation: the member incarnation when the OMS
 * keeps one). */
void cor_dm_replica_from_pb(const Cor__Replica *r, cor_dm_replica_t *x);

/* Makes data (malloc'd, taken) the call's reply, freeing any before. */
void cor_dm_call_give_reply(cor_dm_call_t *c, unsigned char *data, size_t len);

#endif
