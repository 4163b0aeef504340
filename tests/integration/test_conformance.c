/*
 * test_conformance.c — the routes held against each other: the same calls,
 * on every example class under every DM of the catalogue, give the same
 * results and the same errors whichever way they travel.
 *
 * The cluster: a real cor-oms, a real cor-kernel ("k1"), and this process
 * as a second kernel server ("self", tests/lib/node.h), so the OMS places
 * objects here too. Routes:
 *   co-located   object on self, called from self's runtime: no transport,
 *                through cor_obj_invoke like every other route;
 *   unix         object on k1, called from a runtime with k1's host id;
 *   tcp          object on k1, called from a runtime on "another host";
 * each sync (cor_call) and async (cor_call_async), and each through a ref
 * the OMS gave (the chain's client parts run in the caller) and through a
 * plain ref with no chain, as corctl builds (only the object's server
 * parts run: they must run on every route). A ConsensusRSM object has a
 * replica on self and one on k1, whichever leads: the co-located route
 * reaches the local replica first, which serves the call through the log
 * when it leads and sends the caller on when it does not. (Plain refs are
 * not tried on it: a follower refuses calls, and finding the leader is
 * the client part's job.)
 *
 * For each (class, chain) a fresh object per route runs one script: every
 * step states the code it must answer (application errors, Immutable's
 * EPERM, a method the class lacks (EUNIMPL), another interface revision
 * (EREVISION), and, once the object is deleted, ENOTFOUND), and the reply
 * (with per-object fields such as ids and timestamps blanked) or the error
 * text (after the "<method> on object <id>[ at <peer>]" prefix) must be the
 * same on every route as on the first.
 */
#include <cor/cor.h>
#include <cor/dm.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "echo/echo.cor.h"
#include "echo_class.h"
#include "host.h"
#include "kv/kv.cor.h"
#include "kv_class.h"
#include "node.h"
#include "social/social.cor.h"
#include "social_class.h"
#include "testlib.h"

#define LABELS "region=r1,device-class=cloud"

static const cor_cluster_kernel_t kernels[] = {{"k1", "all", LABELS}};
static cor_cluster_t cl; /* its client runtime is "on another host": far_rt */
static char sock[200], self_data[200];
static cor_runtime_t *self_rt, *same_rt, *far_rt;
static cor_test_node_t *self_node;

static cor_runtime_t *new_rt(const char *host_id)
{
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = cl.oms_addr,
                            .host_id = host_id};
    cor_runtime_t *rt = NULL;
    cor_error_t err;
    if (cor_runtime_new(&o, &rt, &err) != 0) {
        fprintf(stderr, "runtime: %s\n", err.msg);
        return NULL;
    }
    return rt;
}

static int setup(void)
{
    static const cor_class_t *const classes[] = {&echo_class, &kv_class, &social_class, NULL};
    cor_error_t err;
    cor_cluster_spec_t spec = {.tag = "conf-oms", .kernels = kernels, .n_kernels = 1,
                               .host_id = "far-away"};
    cor_test_tmp_path(sock, sizeof(sock), "self.sock");
    cor_test_tmp_path(self_data, sizeof(self_data), "self-data");
    if (cor_cluster_start(&cl, &spec) != 0)
        return 1;
    far_rt = cl.rt;
    if ((self_rt = new_rt(NULL)) == NULL || (same_rt = new_rt(NULL)) == NULL)
        return 1;
    for (int i = 0; classes[i] != NULL; i++)
        if (cor_runtime_register_class(self_rt, classes[i], &err) != 0)
            return 1;
    if (cor_runtime_set_node_name(self_rt, "self", &err) != 0 ||
        cor_runtime_set_data_dir(self_rt, self_data, &err) != 0 ||
        cor_runtime_listen(self_rt, "127.0.0.1:0", sock, &err) != 0) {
        fprintf(stderr, "self: %s\n", err.msg);
        return 1;
    }
    return cor_test_node_start(self_rt, cl.oms_addr, "self", LABELS, classes, 200, &self_node);
}

static int teardown(void)
{
    cor_test_node_stop(self_node);
    cor_runtime_free(same_rt);
    cor_runtime_free(self_rt);
    cor_cluster_stop(&cl);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self_data);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", self_data);
    return 0;
}

/* ---------------- scripts ---------------- */

typedef struct step {
    const cor_method_desc_t *m;
    const ProtobufCMessage *req;
    int want;         /* the code every route must answer */
    const char *text; /* a fragment the reply's canonical form (or the error) must hold */
} step_t;

enum kind { FULL, FROZEN, READS };

/* Another interface revision of echo.Echo: Say, as a caller built against
 * a different .proto would send it. */
static cor_service_desc_t other_rev;
static cor_method_desc_t other_say;

/* The requests. */
static Echo__SayRequest say_hi = ECHO__SAY_REQUEST__INIT, say_rev = ECHO__SAY_REQUEST__INIT;
static Echo__AddRequest add2 = ECHO__ADD_REQUEST__INIT, add3 = ECHO__ADD_REQUEST__INIT;
static Echo__SleepRequest sleep_long = ECHO__SLEEP_REQUEST__INIT;
static Echo__FillRequest fill = ECHO__FILL_REQUEST__INIT;
static Echo__DigestRequest digest = ECHO__DIGEST_REQUEST__INIT;
static Echo__TouchRequest touch_out = ECHO__TOUCH_REQUEST__INIT;
static Kv__PutRequest put_a = KV__PUT_REQUEST__INIT;
static Kv__GetRequest get_a = KV__GET_REQUEST__INIT, get_empty = KV__GET_REQUEST__INIT;
static Kv__DeleteRequest del_a = KV__DELETE_REQUEST__INIT;
static Kv__ScanRequest scan = KV__SCAN_REQUEST__INIT;
static Kv__SizeRequest size = KV__SIZE_REQUEST__INIT;
static Social__SetProfileRequest profile = SOCIAL__SET_PROFILE_REQUEST__INIT;
static Social__GetProfileRequest get_profile = SOCIAL__GET_PROFILE_REQUEST__INIT;
static Social__PostRequest post = SOCIAL__POST_REQUEST__INIT,
                           post_empty = SOCIAL__POST_REQUEST__INIT;
static Social__PostsRequest posts = SOCIAL__POSTS_REQUEST__INIT;

static void init_requests(void)
{
    say_hi.text = (char *)"hi";
    say_rev.text = (char *)"from another build";
    add2.delta = 2;
    add3.delta = 3;
    sleep_long.ms = 999999;
    fill.bytes = 8192;
    touch_out.offset = 1u << 30;
    touch_out.data.data = (uint8_t *)"x";
    touch_out.data.len = 1;
    put_a.key = (char *)"a";
    put_a.value.data = (uint8_t *)"one";
    put_a.value.len = 3;
    get_a.key = (char *)"a";
    get_empty.key = (char *)"";
    del_a.key = (char *)"a";
    profile.display_name = (char *)"Ada";
    profile.bio = (char *)"counts";
    post.text = (char *)"hello";
    post_empty.text = (char *)"";
    other_rev = echo_echo_service;
    other_rev.fingerprint ^= 0x5a5a;
    other_say = echo_echo_service.methods[0];
    other_say.service = &other_rev;
}

#define M(svc, i) (&(svc).methods[i])
#define R(x) (&(x).base)

/* Indices follow each service's method order in its .proto. */
enum { E_SAY, E_ADD, E_SLEEP, E_FILL, E_TOUCH, E_DIGEST };
enum { K_PUT, K_GET, K_DELETE, K_SCAN, K_SIZE };
enum { S_SETPROFILE, S_GETPROFILE, S_POST, S_POSTS };

/* Steps every class's script ends with: a method of another class
 * (EUNIMPL), and Say as a caller built against another revision of
 * echo.Echo sends it (EREVISION for echo, EUNIMPL for the others). */
#define FOREIGN(foreign, req, say_rc)                                                               \
    {foreign, R(req), COR_EUNIMPL, "has no method named"}, {&other_say, R(say_rev), say_rc, NULL}
#define KV_SIZE M(kv_key_value_store_service, K_SIZE)
#define ECHO_SAY M(echo_echo_service, E_SAY)

/* Copies the script for kind k (full, frozen or reads) into out (at
 * least MAX_STEPS) and returns its length. */
#define MAX_STEPS 16
#define PICK(k, out, f, z, r)                                                                      \
    pick(k, out, f, sizeof(f) / sizeof(f[0]), z, sizeof(z) / sizeof(z[0]), r,                      \
         sizeof(r) / sizeof(r[0]))

static int pick(enum kind k, step_t *out, const step_t *f, size_t nf, const step_t *z, size_t nz,
                const step_t *r, size_t nr)
{
    const step_t *s = k == FULL ? f : k == FROZEN ? z : r;
    size_t n = k == FULL ? nf : k == FROZEN ? nz : nr;
    memcpy(out, s, n * sizeof(*s));
    return (int)n;
}

static int echo_script(enum kind k, step_t *out)
{
    const step_t f[] = {
        {M(echo_echo_service, E_SAY), R(say_hi), 0, "hi"},
        {M(echo_echo_service, E_ADD), R(add2), 0, "total=2"},
        {M(echo_echo_service, E_ADD), R(add3), 0, "total=5"},
        {M(echo_echo_service, E_SLEEP), R(sleep_long), COR_EINVAL, "sleep of 999999 ms"},
        {M(echo_echo_service, E_FILL), R(fill), 0, NULL},
        {M(echo_echo_service, E_TOUCH), R(touch_out), COR_EINVAL, "is outside the 8192-byte"},
        {M(echo_echo_service, E_DIGEST), R(digest), 0, "bytes=8192"},
        FOREIGN(KV_SIZE, size, COR_EREVISION),
    };
    const step_t z[] = {
        {M(echo_echo_service, E_SAY), R(say_hi), 0, "hi"},
        {M(echo_echo_service, E_ADD), R(add2), COR_EPERM, "Immutable: the object is immutable"},
        {M(echo_echo_service, E_FILL), R(fill), COR_EPERM, "Fill is not a read_only method"},
        {M(echo_echo_service, E_DIGEST), R(digest), 0, "bytes=0"},
        FOREIGN(KV_SIZE, size, COR_EREVISION),
    };
    const step_t r[] = {
        {M(echo_echo_service, E_SAY), R(say_hi), 0, "hi"},
        {M(echo_echo_service, E_SLEEP), R(sleep_long), COR_EINVAL, "sleep of 999999 ms"},
        {M(echo_echo_service, E_DIGEST), R(digest), 0, "bytes=0"},
        FOREIGN(KV_SIZE, size, COR_EREVISION),
    };
    return PICK(k, out, f, z, r);
}

static int kv_script(enum kind k, step_t *out)
{
    const step_t f[] = {
        {M(kv_key_value_store_service, K_PUT), R(put_a), 0, "version=1"},
        {M(kv_key_value_store_service, K_GET), R(get_a), 0, "found=1"},
        {M(kv_key_value_store_service, K_GET), R(get_empty), COR_EINVAL, "key is empty"},
        {M(kv_key_value_store_service, K_SIZE), R(size), 0, "count=1"},
        {M(kv_key_value_store_service, K_DELETE), R(del_a), 0, "deleted=1"},
        {M(kv_key_value_store_service, K_GET), R(get_a), 0, "found=0"},
        {M(kv_key_value_store_service, K_SCAN), R(scan), 0, NULL},
        FOREIGN(ECHO_SAY, say_hi, COR_EUNIMPL),
    };
    const step_t z[] = {
        {M(kv_key_value_store_service, K_PUT), R(put_a), COR_EPERM, "Put is not a read_only"},
        {M(kv_key_value_store_service, K_GET), R(get_a), 0, "found=0"},
        {M(kv_key_value_store_service, K_SIZE), R(size), 0, "count=0"},
        FOREIGN(ECHO_SAY, say_hi, COR_EUNIMPL),
    };
    const step_t r[] = {
        {M(kv_key_value_store_service, K_GET), R(get_a), 0, "found=0"},
        {M(kv_key_value_store_service, K_GET), R(get_empty), COR_EINVAL, "key is empty"},
        {M(kv_key_value_store_service, K_SCAN), R(scan), 0, NULL},
        FOREIGN(ECHO_SAY, say_hi, COR_EUNIMPL),
    };
    return PICK(k, out, f, z, r);
}

static int social_script(enum kind k, step_t *out)
{
    const step_t f[] = {
        {M(social_user_service, S_SETPROFILE), R(profile), 0, NULL},
        {M(social_user_service, S_GETPROFILE), R(get_profile), 0, "display_name=Ada"},
        {M(social_user_service, S_POST), R(post), 0, "post_id=1"},
        {M(social_user_service, S_POST), R(post_empty), COR_EINVAL, "text"},
        {M(social_user_service, S_POSTS), R(posts), 0, "text=hello"},
        FOREIGN(KV_SIZE, size, COR_EUNIMPL),
    };
    const step_t z[] = {
        {M(social_user_service, S_SETPROFILE), R(profile), COR_EPERM, "SetProfile is not"},
        {M(social_user_service, S_GETPROFILE), R(get_profile), 0, "posts=0"},
        FOREIGN(KV_SIZE, size, COR_EUNIMPL),
    };
    const step_t r[] = {
        {M(social_user_service, S_GETPROFILE), R(get_profile), 0, "posts=0"},
        {M(social_user_service, S_POSTS), R(posts), 0, NULL},
        FOREIGN(KV_SIZE, size, COR_EUNIMPL),
    };
    return PICK(k, out, f, z, r);
}

/* ---------------- canonical outcomes ---------------- */

/* Fields that differ between two objects answering alike. */
static int per_object(const char *name)
{
    return strcmp(name, "user_id") == 0 || strcmp(name, "author_id") == 0 ||
           strcmp(name, "timestamp_us") == 0;
}

/* Writes msg as "name=value ..." (nested messages in braces), with
 * per-object fields left out. */
static void canon_msg(const ProtobufCMessage *msg, char *out, size_t len)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    size_t n = strlen(out);
    for (unsigned i = 0; i < d->n_fields && n < len; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (per_object(f->name))
            continue;
        const char *base = (const char *)msg + f->offset;
        size_t count = 1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *)((const char *)msg + f->quantifier_offset);
            base = *(const char *const *)base;
        }
        for (size_t k = 0; k < count && n < len; k++) {
            n += (size_t)snprintf(out + n, len - n, "%s=", f->name);
            if (n >= len)
                break;
            switch (f->type) {
            case PROTOBUF_C_TYPE_STRING: {
                const char *const *v = (const char *const *)base + k;
                n += (size_t)snprintf(out + n, len - n, "%s ", *v ? *v : "");
                break;
            }
            case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *v = (const ProtobufCBinaryData *)base + k;
                n += (size_t)snprintf(out + n, len - n, "%.*s ", (int)v->len, (const char *)v->data);
                break;
            }
            case PROTOBUF_C_TYPE_BOOL:
                n += (size_t)snprintf(out + n, len - n, "%d ", ((const protobuf_c_boolean *)base)[k]);
                break;
            case PROTOBUF_C_TYPE_UINT32:
            case PROTOBUF_C_TYPE_INT32:
            case PROTOBUF_C_TYPE_ENUM:
                n += (size_t)snprintf(out + n, len - n, "%d ", ((const int32_t *)base)[k]);
                break;
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *const *v = (const ProtobufCMessage *const *)base + k;
                n += (size_t)snprintf(out + n, len - n, "{");
                if (*v != NULL && n < len)
                    canon_msg(*v, out, len);
                n = strlen(out);
                n += (size_t)snprintf(out + n, len - n, "} ");
                break;
            }
            default: /* 64-bit integers */
                n += (size_t)snprintf(out + n, len - n, "%lld ",
                                      (long long)((const int64_t *)base)[k]);
                break;
            }
        }
    }
}

/* The text of an error after "<Svc>.<Method> on object <id>[ at <peer>]: ",
 * with object ids blanked. */
static void canon_err(const char *msg, char *out, size_t len)
{
    const char *p = strstr(msg, "on object ");
    if (p != NULL) {
        p += strlen("on object ") + COR_OBJECT_ID_STRLEN;
        if (strncmp(p, " at ", 4) == 0)
            p = strstr(p, ": ");
        else if (strncmp(p, ": ", 2) != 0)
            p = NULL;
    }
    p = p != NULL ? p + 2 : msg;
    size_t n = 0;
    while (*p != '\0' && n + 1 < len) {
        size_t hex = 0;
        while (p[hex] != '\0' && strchr("0123456789abcdef", p[hex]) != NULL)
            hex++;
        if (hex == COR_OBJECT_ID_STRLEN && n + 5 < len) {
            memcpy(out + n, "<id>", 4);
            n += 4;
            p += hex;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

typedef struct outcome {
    int rc;
    char text[1024];
} outcome_t;

/* ---------------- calling ---------------- */

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    outcome_t *out;
} waiter_t;

static void async_done(int rc, ProtobufCMessage *reply, const cor_error_t *err, cor_fn_t user_cb,
                       void *arg)
{
    waiter_t *w = arg;
    w->out->rc = rc;
    w->out->text[0] = '\0';
    if (rc == 0)
        canon_msg(reply, w->out->text, sizeof(w->out->text));
    else
        canon_err(err->msg, w->out->text, sizeof(w->out->text));
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void call(cor_ref_t *ref, const step_t *s, int async, outcome_t *out)
{
    out->text[0] = '\0';
    if (!async) {
        ProtobufCMessage *reply = NULL;
        cor_error_t err;
        out->rc = cor_call(ref, s->m, s->req, &reply, &err);
        if (out->rc == 0) {
            canon_msg(reply, out->text, sizeof(out->text));
            protobuf_c_message_free_unpacked(reply, NULL);
        } else {
            canon_err(err.msg, out->text, sizeof(out->text));
        }
        return;
    }
    waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, out};
    int rc = cor_call_async(ref, s->m, s->req, async_done, NULL, &w);
    if (rc != 0) {
        out->rc = rc;
        snprintf(out->text, sizeof(out->text), "cor_call_async refused to start: %s",
                 cor_strerror(rc));
        return;
    }
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
}

/* ---------------- routes ---------------- */

typedef struct route {
    const char *name;
    cor_runtime_t **caller;
    const char *node; /* where a single-replica object is placed */
    int async;
    int plain; /* a ref with no chain, as corctl makes */
} route_t;

static const route_t routes[] = {
    {"co-located", &self_rt, "self", 0, 0},     {"co-located async", &self_rt, "self", 1, 0},
    {"unix", &same_rt, "k1", 0, 0},             {"unix async", &same_rt, "k1", 1, 0},
    {"tcp", &far_rt, "k1", 0, 0},               {"tcp async", &far_rt, "k1", 1, 0},
    {"co-located, plain ref", &self_rt, "self", 0, 1},
    {"co-located async, plain ref", &self_rt, "self", 1, 1},
    {"unix, plain ref", &same_rt, "k1", 0, 1},  {"unix async, plain ref", &same_rt, "k1", 1, 1},
    {"tcp, plain ref", &far_rt, "k1", 0, 1},    {"tcp async, plain ref", &far_rt, "k1", 1, 1},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

typedef struct chain {
    const char *text;
    enum kind kind;
    int replicas; /* placed by the chain, not by the route */
    int no_plain; /* only refs with the chain reach it (a replicated log's leader) */
} chain_t;

/* Every DM of the catalogue, alone or stacked. */
static const chain_t chains[] = {
    {"", FULL, 0, 0},
    {"KeepInRegion(region=r1)", FULL, 0, 0},
    {"KeepOnDevice(class=cloud)", FULL, 0, 0},
    {"CircuitBreaker(failures=3)", FULL, 0, 0},
    {"AtLeastOnceRPC", FULL, 0, 0},
    {"SerializableRPC", FULL, 0, 0},
    {"LeaseCaching(lease=10s)", FULL, 0, 0},
    {"LoadBalancedFrontend(replicas=2)", READS, 1, 0},
    {"PeriodicCheckpoint(interval=1s)", FULL, 0, 0},
    {"Immutable", FROZEN, 0, 0},
    {"ExplicitMigration", FULL, 0, 0},
    {"DynamicMigration(window=10s)", FULL, 0, 0},
    {"CircuitBreaker, AtLeastOnceRPC, LeaseCaching, KeepInRegion(region=r1)", FULL, 0, 0},
    {"ConsensusRSM(replicas=2)", FULL, 1, 1},
    {"AtLeastOnceRPC, CircuitBreaker, ConsensusRSM(replicas=2)", FULL, 1, 1},
};
#define N_CHAINS (sizeof(chains) / sizeof(chains[0]))

typedef struct klass {
    const char *name;
    int (*script)(enum kind k, step_t *out);
} klass_t;

static const klass_t klasses[] = {
    {"echo.Echo", echo_script},
    {"kv.KeyValueStore", kv_script},
    {"social.User", social_script},
};

/* The ref a route calls through: as the OMS gave it (with the chain), or
 * plain. NULL when the object could not be made. */
static cor_ref_t *make_object(const klass_t *k, const chain_t *c, const route_t *r)
{
    char selector[64];
    snprintf(selector, sizeof(selector), "node=%s", r->node);
    cor_create_opts_t o = {.dm_chain = c->text[0] ? c->text : NULL,
                           .selector = c->replicas ? NULL : selector};
    cor_ref_t *ref = NULL;
    cor_error_t err;
    if (cor_object_create(*r->caller, k->name, NULL, 0, &o, &ref, &err) != 0) {
        fprintf(stderr, "create %s [%s] for %s: %s\n", k->name, c->text, r->name, err.msg);
        return NULL;
    }
    if (!r->plain)
        return ref;
    cor_ref_t *plain = cor_ref_new(*r->caller, cor_ref_id(ref), k->name, NULL);
    cor_ref_free(ref);
    return plain;
}

static long mismatches;

static void check(const klass_t *k, const chain_t *c, const route_t *r, int i, const step_t *s,
                  const outcome_t *got, const outcome_t *first)
{
    int bad = got->rc != s->want || (s->text != NULL && strstr(got->text, s->text) == NULL) ||
              (first != NULL && (got->rc != first->rc || strcmp(got->text, first->text) != 0));
    if (!bad)
        return;
    mismatches++;
    fprintf(stderr,
            "%s [%s] %s, step %d (%s.%s): got %s \"%s\"; want %s%s%s%s%s\n", k->name, c->text,
            r->name, i, s->m->service->name, s->m->name, cor_error_name(got->rc) ? cor_error_name(got->rc) : "OK",
            got->text, cor_error_name(s->want) ? cor_error_name(s->want) : "OK",
            s->text ? " with \"" : "", s->text ? s->text : "", s->text ? "\"" : "",
            first ? "" : " (first route)");
    if (first != NULL)
        fprintf(stderr, "    the first route answered %s \"%s\"\n",
                cor_error_name(first->rc) ? cor_error_name(first->rc) : "OK", first->text);
}

/* Runs every chain's script on every route. Each route's outcomes are
 * held against the first route's with the same kind of ref: a ref with
 * the chain runs its client parts, which may answer differently from a
 * plain ref (LoadBalancedFrontend's replica says "not hosted" where the
 * OMS says "deleted"), but never differently from route to route. */
static void run_class(const klass_t *k)
{
    for (size_t ci = 0; ci < N_CHAINS; ci++) {
        const chain_t *c = &chains[ci];
        step_t steps[MAX_STEPS];
        int n = k->script(c->kind, steps);
        outcome_t first[2][MAX_STEPS + 1];
        int have[2] = {0, 0};
        for (size_t ri = 0; ri < N_ROUTES; ri++) {
            const route_t *r = &routes[ri];
            if (r->plain && c->no_plain)
                continue;
            cor_ref_t *ref = make_object(k, c, r);
            CU_ASSERT_PTR_NOT_NULL(ref);
            if (ref == NULL)
                continue;
            outcome_t *base = have[r->plain] ? first[r->plain] : NULL;
            for (int i = 0; i <= n; i++) {
                step_t gone;
                const step_t *s = &steps[i < n ? i : 0];
                if (i == n) {
                    /* Deleted: every route says ENOTFOUND, the same way. */
                    cor_error_t err;
                    CU_ASSERT_EQUAL(cor_object_delete(*r->caller, cor_ref_id(ref), &err), 0);
                    gone = *s;
                    gone.want = COR_ENOTFOUND;
                    gone.text = NULL;
                    s = &gone;
                }
                outcome_t got;
                call(ref, s, r->async, &got);
                check(k, c, r, i, s, &got, base != NULL ? &base[i] : NULL);
                if (base == NULL)
                    first[r->plain][i] = got;
            }
            have[r->plain] = 1;
            cor_ref_free(ref);
        }
    }
}

static void test_echo(void)
{
    mismatches = 0;
    run_class(&klasses[0]);
    CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_kv(void)
{
    mismatches = 0;
    run_class(&klasses[1]);
    CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_social(void)
{
    mismatches = 0;
    run_class(&klasses[2]);
    CU_ASSERT_EQUAL(mismatches, 0);
}

/* A ref that points at the wrong place (this process, which never hosted
 * the object) is corrected through the OMS on the first ENOTFOUND, by
 * asynchronous calls exactly as by synchronous ones. */
static void test_async_refreshes_like_sync(void)
{
    cor_create_opts_t o = {.selector = "node=k1"};
    cor_ref_t *placed = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(far_rt, "echo.Echo", NULL, 0, &o, &placed, &err), 0);
    for (int async = 0; async < 2; async++) {
        cor_ref_t *wrong = cor_ref_new(far_rt, cor_ref_id(placed), "echo.Echo", NULL);
        CU_ASSERT_EQUAL(cor_ref_set_location(wrong, cor_runtime_tcp_address(self_rt), NULL, NULL,
                                             0, &err), 0);
        step_t s = {M(echo_echo_service, E_ADD), R(add2), 0, NULL};
        outcome_t got;
        call(wrong, &s, async, &got);
        CU_ASSERT_EQUAL(got.rc, 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(got.text, async ? "total=4" : "total=2"));
        char at[128];
        cor_ref_location(wrong, at, sizeof(at), NULL);
        CU_ASSERT_STRING_NOT_EQUAL(at, cor_runtime_tcp_address(self_rt)); /* it moved on */
        cor_ref_free(wrong);
    }
    CU_ASSERT_EQUAL(cor_object_delete(far_rt, cor_ref_id(placed), &err), 0);
    cor_ref_free(placed);
}

/* TestSend: a server part that sends each call's method name to its
 * group part on the OMS (cor_dm_call_group_send) and notes the answer. */
static struct {
    int rc;
    char msg[COR_ERROR_MSG_MAX];
} sent;

static int send_call(void *state, cor_dm_call_t *c)
{
    unsigned char *reply = NULL;
    size_t len = 0;
    const char *m = cor_dm_call_method(c)->name;
    sent.rc = cor_dm_call_group_send(c, (const unsigned char *)m, strlen(m), &reply, &len);
    snprintf(sent.msg, sizeof(sent.msg), "%s", cor_dm_call_error(c)->msg);
    free(reply);
    return cor_dm_next(c);
}

static const cor_dm_ops_t test_send = {
    .version = COR_DM_OPS_VERSION,
    .name = "TestSend",
    .summary = "sends to its group part",
    .server_call = send_call,
};

/* Replaces this process's replica of the object behind ref with one whose
 * server parts are TestSend, and calls it once. */
static void send_from_here(cor_ref_t *ref)
{
    cor_error_t err;
    cor_runtime_unhost(self_rt, cor_ref_id(ref), &err);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_install(self_rt, &echo_class, cor_ref_id(ref), 1, "TestSend",
                                              (const uint8_t *)"", 0, &err), 0);
    cor_ref_t *here = cor_ref_new(self_rt, cor_ref_id(ref), "echo.Echo", NULL);
    step_t s = {M(echo_echo_service, E_SAY), R(say_hi), 0, NULL};
    outcome_t got;
    sent.rc = -1000;
    call(here, &s, 0, &got);
    CU_ASSERT_EQUAL(got.rc, 0);
    cor_ref_free(here);
    cor_runtime_unhost(self_rt, cor_ref_id(ref), &err);
}

/* A server part's message reaches the OMS, which checks the sender holds
 * the object's active replica before looking for a group part to take
 * it (the group parts' side is in tests/unit/test_oms_fixture.c: a real
 * cor-oms runs only the built-in DMs). */
static void test_group_send_plumbing(void)
{
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_dm_register(&test_send, &err), 0);
    cor_create_opts_t here = {.selector = "node=self"}, there = {.selector = "node=k1"};
    cor_ref_t *mine = NULL, *theirs = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(self_rt, "echo.Echo", NULL, 0, &here, &mine, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_object_create(self_rt, "echo.Echo", NULL, 0, &there, &theirs, &err),
                          0);
    send_from_here(mine); /* this node holds it: the OMS looks for a group part */
    CU_ASSERT_EQUAL(sent.rc, COR_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(sent.msg, "has no group part"));
    send_from_here(theirs); /* k1 holds it: this node may not speak for it */
    CU_ASSERT_EQUAL(sent.rc, COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(sent.msg, "does not hold one of its active replicas"));
    CU_ASSERT_EQUAL(cor_object_delete(self_rt, cor_ref_id(mine), &err), 0);
    CU_ASSERT_EQUAL(cor_object_delete(self_rt, cor_ref_id(theirs), &err), 0);
    cor_ref_free(mine);
    cor_ref_free(theirs);
}

int main(void)
{
    init_requests();
    static const cor_test_t tests[] = {
        {"echo.Echo: every route, every DM", test_echo},
        {"kv.KeyValueStore: every route, every DM", test_kv},
        {"social.User: every route, every DM", test_social},
        {"async calls find a misplaced object through the OMS", test_async_refreshes_like_sync},
        {"server parts reach the OMS's group parts", test_group_send_plumbing},
        {NULL, NULL},
    };
    return cor_test_main("conformance", tests, setup, teardown);
}
