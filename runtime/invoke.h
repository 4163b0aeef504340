/*
 * invoke.h — the one way a call runs on a hosted object (internal to
 * runtime/).
 *
 * Every route ends here: a Kernel.Invoke that arrived over TCP or the unix
 * socket, a co-located call (with or without client DM parts in front),
 * and a co-located asynchronous call. cor_obj_invoke takes the object's
 * turn and, inside it:
 *   1. answers a tombstone's EMOVED with where the object went, and a
 *      caller that knows a newer placement with a plain EMOVED;
 *   2. finds the method (by the caller's descriptor or by name) and checks
 *      the caller's interface fingerprint;
 *   3. runs the object's server DM parts, whatever the caller's ref knows
 *      of the chain: they belong to the object;
 *   4. runs the method (a COR_EMOVED it returns becomes COR_EAPP: only the
 *      runtime redirects callers);
 *   5. hands the reply out in the form the route wants, before the turn is
 *      released, so nothing in it can point into state that another call
 *      is about to change;
 * then releases the turn. A caller that can wait gets the outcome on
 * return; one that cannot (a server thread, an asynchronous caller) gives
 * a `done` callback, and when the object is busy its call is queued (with
 * copies of what it needs) and `done` runs on the thread that later holds
 * the turn.
 */
#ifndef COR_INVOKE_H
#define COR_INVOKE_H

#include "object_int.h"
#include "transport.h"

/* What the route wants back. */
typedef enum cor_reply_form {
    COR_REPLY_MESSAGE,  /* reply_msg: a heap message (co-located, no client DM parts) */
    COR_REPLY_BYTES,    /* reply, reply_len: the packed payload (the client chain's end) */
    COR_REPLY_ENVELOPE, /* out: a packed cor.InvokeReply (Kernel.Invoke) */
} cor_reply_form_t;

typedef struct cor_invoke cor_invoke_t;

struct cor_invoke {
    /* The call. Pointers stay the caller's until cor_obj_invoke returns: a
     * call that must queue copies what it needs. */
    const cor_method_desc_t *m;    /* the caller's descriptor, or NULL: by name */
    const char *method;            /* the method's name when m is NULL */
    uint64_t fingerprint;          /* with m NULL: the caller's interface; 0: unchecked */
    uint64_t epoch;                /* the placement the caller knows; 0: any */
    const ProtobufCMessage *msg;   /* the request as a message, or NULL: */
    const uint8_t *req;            /* ... as packed bytes */
    size_t req_len;
    const unsigned char *client_id; /* the call id: 16 bytes (NULL: none) ... */
    uint64_t seq;                   /* ... and the caller's sequence number */
    const char *caller_node;        /* the calling kernel server, or NULL */
    cor_reply_form_t form;
    /* NULL: wait for the turn. Else never wait: run now if the turn is
     * free, else queue; either way done runs once, in the turn, with the
     * outcome below, and takes the reply (reply_msg, reply or out). It
     * gets a queued copy of this struct, not this one, when it was queued:
     * it must not keep the pointer. */
    void (*done)(cor_invoke_t *inv);
    void *user; /* for done */

    /* Where the outcome's message and redirect go (the caller's storage;
     * a queued copy points them at its own). */
    cor_error_t *err;            /* the message, unprefixed */
    cor_redirect_t *moved;       /* rc == EMOVED from a tombstone: where it went (epoch 0: none) */

    /* The outcome. */
    int rc;
    ProtobufCMessage *reply_msg; /* COR_REPLY_MESSAGE: free with protobuf_c_message_free_unpacked */
    uint8_t *reply;              /* COR_REPLY_BYTES: malloc'd (free) */
    size_t reply_len;
    grpc_slice out;              /* COR_REPLY_ENVELOPE: the receiver unrefs */
};

/* Runs inv on o (see the head of this file). The caller keeps its
 * reference on o. Without done: returns inv->rc once the call ran. With
 * done: returns 0 when done has run or will run, or an error (ENOMEM, and
 * done will not run) when the call could not even be queued. */
int cor_obj_invoke(cor_runtime_t *rt, cor_obj_t *o, cor_invoke_t *inv);

/* Registers the Kernel.Invoke handler on s. */
int cor_invoke_serve(cor_runtime_t *rt, cor_server_t *s, cor_error_t *err);

#endif
