/*
 * commands.c — corctl's commands, one row of corctl_commands[] each (see
 * ctl.h for the shape and docs/corctl.md for what each prints). A row's
 * steps only build the OMS request from the parsed arguments and show
 * the reply; parsing, the call, errors and the --json choice are the
 * driver's (corctl.c). Three commands fetch their own way: `objects`
 * pages through ListObjects, `call` looks the object up and then calls
 * it, `migrate` moves it on a second thread while this one polls and
 * prints the progress.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cor/dm.h>

#include "cor/kernel.pb-c.h"
#include "ctl.h"
#include "host.h"
#include "json_pb.h"
#include "labels.h"
#include "output.h"
#include "table.h"

/* A table's rows printed, or EXIT_FAIL when one did not fit in memory. */
static int print_table(corctl_table_t *t, int rc)
{
    if (rc == 0)
        corctl_table_print(t, stdout);
    corctl_table_free(t);
    return rc;
}

/* ---------------- ping ---------------- */

static int build_ping(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    (void)c;
    cor__ping_request__init(&a->req.ping);
    *req = &a->req.ping.base;
    return 0;
}

static json_object *json_ping(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)a;
    json_object *j = json_object_new_object();
    json_object_object_add(j, "oms", json_object_new_string(c->oms));
    json_object_object_add(j, "version",
                           json_object_new_string(((const Cor__PingReply *)m)->version));
    return j;
}

static int text_ping(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)a;
    printf("OMS %s: version %s\n", c->oms, ((const Cor__PingReply *)m)->version);
    return 0;
}

/* ---------------- nodes ---------------- */

static int build_nodes(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    (void)c;
    cor__list_nodes_request__init(&a->req.list_nodes);
    *req = &a->req.list_nodes.base;
    return 0;
}

static json_object *json_nodes(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    json_object *j = cor_pb_to_json_object(m);
    if (j != NULL && json_object_object_get(j, "nodes") == NULL)
        json_object_object_add(j, "nodes", json_object_new_array());
    return j;
}

static int text_nodes(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    const Cor__ListNodesReply *rep = (const Cor__ListNodesReply *)m;
    static const char *const hdr[] = {"NAME",     "STATE",    "INCARNATION",    "ADDRESS", "LABELS",
                                      "OBJECTS",  "CAPACITY", "LAST-HEARTBEAT", "CLASSES"};
    corctl_table_t *t = corctl_table_new(9, hdr);
    int rc = t == NULL ? corctl_oom() : 0;
    for (size_t i = 0; rc == 0 && i < rep->n_nodes; i++) {
        const Cor__NodeInfo *n = rep->nodes[i];
        char inc[24], labels[1024] = "", objs[16], cap[16], hb[32], classes[16];
        snprintf(inc, sizeof(inc), "%" PRIu64, n->incarnation);
        size_t o = 0;
        for (size_t k = 0; k < n->n_labels && o < sizeof(labels); k++)
            o += (size_t)snprintf(labels + o, sizeof(labels) - o, "%s%s=%s", k ? "," : "",
                                  n->labels[k]->key, n->labels[k]->value);
        snprintf(objs, sizeof(objs), "%u", n->load ? n->load->objects : 0u);
        if (n->capacity)
            snprintf(cap, sizeof(cap), "%u", n->capacity);
        else
            snprintf(cap, sizeof(cap), "-");
        corctl_fmt_age(n->last_heartbeat_ms, hb, sizeof(hb));
        snprintf(classes, sizeof(classes), "%zu", n->n_classes);
        const char *row[] = {n->name, corctl_node_state(n->state), inc, n->tcp_address, labels,
                             objs, cap, hb, classes};
        if (corctl_table_add(t, row) != 0)
            rc = corctl_oom();
    }
    return t == NULL ? rc : print_table(t, rc);
}

/* ---------------- objects ---------------- */

static int build_objects(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    (void)c;
    Cor__ListObjectsRequest *r = &a->req.list_objects;
    cor__list_objects_request__init(r);
    r->class_name = (char *)(a->opt[0] ? a->opt[0] : "");
    r->node = (char *)(a->opt[1] ? a->opt[1] : "");
    *req = &r->base;
    return 0;
}

/* Every page of ListObjects, as one reply holding all their objects. */
static int fetch_objects(ctl_t *c, corctl_args_t *a, const ProtobufCMessage *req,
                         ProtobufCMessage **reply)
{
    (void)a;
    Cor__ListObjectsRequest page = *(const Cor__ListObjectsRequest *)req;
    Cor__ListObjectsReply *all = malloc(sizeof(*all));
    if (all == NULL)
        return corctl_oom();
    cor__list_objects_reply__init(all);
    uint8_t last[COR_OBJECT_ID_BYTES];
    size_t last_len = 0;
    int rc = 0;
    for (;;) {
        page.start_after.data = last;
        page.start_after.len = last_len;
        ProtobufCMessage *m;
        cor_error_t err;
        if (corctl_oms_call(c, COR_M_OMS_LIST_OBJECTS, &page.base,
                            &cor__list_objects_reply__descriptor, 0, &m, &err) != 0) {
            rc = corctl_call_error(&err);
            break;
        }
        Cor__ListObjectsReply *rep = (Cor__ListObjectsReply *)m;
        int more = rep->more;
        if (rep->n_objects > 0) {
            const ProtobufCBinaryData *b = &rep->objects[rep->n_objects - 1]->id;
            last_len = b->len <= sizeof(last) ? b->len : sizeof(last);
            memcpy(last, b->data, last_len);
            Cor__ObjectInfo **grown =
                realloc(all->objects, (all->n_objects + rep->n_objects) * sizeof(*grown));
            if (grown == NULL) {
                rc = corctl_oom();
            } else {
                /* The objects move to all; the page keeps only its array. */
                all->objects = grown;
                memcpy(all->objects + all->n_objects, rep->objects,
                       rep->n_objects * sizeof(*grown));
                all->n_objects += rep->n_objects;
                rep->n_objects = 0;
            }
        } else if (more) {
            rc = corctl_fail("the OMS sent an empty page with more=true");
        }
        protobuf_c_message_free_unpacked(m, NULL);
        if (rc != 0 || !more)
            break;
    }
    if (rc != 0) {
        protobuf_c_message_free_unpacked(&all->base, NULL);
        return rc;
    }
    *reply = &all->base;
    return 0;
}

static json_object *json_objects(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    const Cor__ListObjectsReply *rep = (const Cor__ListObjectsReply *)m;
    json_object *arr = json_object_new_array();
    for (size_t i = 0; arr != NULL && i < rep->n_objects; i++) {
        json_object *j = corctl_object_json(rep->objects[i]);
        if (j == NULL || json_object_array_add(arr, j) != 0) {
            json_object_put(j);
            json_object_put(arr);
            arr = NULL;
        }
    }
    if (arr == NULL)
        return NULL;
    json_object *j = json_object_new_object();
    json_object_object_add(j, "objects", arr);
    return j;
}

static int text_objects(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    const Cor__ListObjectsReply *rep = (const Cor__ListObjectsReply *)m;
    static const char *const hdr[] = {"ID", "NAME", "CLASS", "NODE", "STATE", "EPOCH"};
    corctl_table_t *t = corctl_table_new(6, hdr);
    if (t == NULL)
        return corctl_oom();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rep->n_objects; i++) {
        const Cor__ObjectInfo *o = rep->objects[i];
        char id[COR_OBJECT_ID_STRLEN + 1], epoch[24];
        corctl_id_hex(&o->id, id);
        snprintf(epoch, sizeof(epoch), "%" PRIu64, o->epoch);
        const char *row[] = {id, o->name, o->class_name,
                             o->n_replicas ? o->replicas[0]->node : "-", corctl_object_state(o),
                             epoch};
        if (corctl_table_add(t, row) != 0)
            rc = corctl_oom();
    }
    return print_table(t, rc);
}

/* ---------------- create ---------------- */

static int parse_hex(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 != 0)
        return -1;
    uint8_t *b = malloc(n / 2 + 1);
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        char two[3] = {s[i], s[i + 1], 0};
        char *end;
        if (!strchr("0123456789abcdefABCDEF", s[i]) || !strchr("0123456789abcdefABCDEF", s[i + 1])) {
            free(b);
            return -1;
        }
        v = (unsigned)strtoul(two, &end, 16);
        b[i / 2] = (uint8_t)v;
    }
    *out = b;
    *len = n / 2;
    return 0;
}

/* Refuses a --selector that does not parse (nothing is sent). */
static int check_selector(const ctl_t *c, const char *selector)
{
    cor_selector_t sel;
    cor_error_t err;
    if (selector != NULL && cor_selector_parse(selector, &sel, &err) != 0)
        return corctl_usage_error(c, "bad --selector '%s': %s", selector, err.msg);
    return 0;
}

/* The constructor arguments, from --args JSON (through the class's args
 * message) or --args-hex; *args is malloc'd (NULL when neither). */
static int create_args(ctl_t *c, const char *cls, const char *json, const char *hex,
                       uint8_t **args, size_t *args_len)
{
    if (json != NULL) {
        const corctl_class_t *k = corctl_classes_find(&c->classes, cls);
        char names[512];
        corctl_classes_names(&c->classes, names, sizeof(names));
        if (k == NULL)
            return corctl_input_error(
                "--args: corctl does not know class %s, so it cannot convert "
                "JSON to its constructor arguments; pass them packed with "
                "--args-hex HEX, or load its module with --module (known: %s)",
                cls, names);
        if (k->args == NULL)
            return corctl_input_error(
                "--args: corctl does not know the constructor-args message of "
                "%s (from %s); pass them packed with --args-hex HEX",
                cls, k->origin);
        ProtobufCMessage *a;
        char emsg[512];
        if (cor_json_to_pb(json, k->args, &a, emsg, sizeof(emsg)) != 0)
            return corctl_input_error("--args (%s): %s", k->args->name, emsg);
        *args_len = protobuf_c_message_get_packed_size(a);
        *args = malloc(*args_len + 1);
        if (*args == NULL) {
            protobuf_c_message_free_unpacked(a, NULL);
            return corctl_oom();
        }
        protobuf_c_message_pack(a, *args);
        protobuf_c_message_free_unpacked(a, NULL);
    } else if (hex != NULL) {
        if (parse_hex(hex, args, args_len) != 0)
            return corctl_usage_error(c, "--args-hex: '%.40s' is not an even number of hex digits",
                                      hex);
    }
    return 0;
}

enum { CREATE_NAME, CREATE_DM, CREATE_SELECTOR, CREATE_ARGS, CREATE_ARGS_HEX };

static int build_create(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    const char *cls = a->pos[0];
    if (a->opt[CREATE_ARGS] != NULL && a->opt[CREATE_ARGS_HEX] != NULL)
        return corctl_usage_error(c, "create: give --args or --args-hex, not both");
    int rc = check_selector(c, a->opt[CREATE_SELECTOR]);
    uint8_t *args = NULL;
    size_t args_len = 0;
    if (rc == 0)
        rc = create_args(c, cls, a->opt[CREATE_ARGS], a->opt[CREATE_ARGS_HEX], &args, &args_len);
    if (rc != 0)
        return rc;
    a->owned = args;
    Cor__CreateObjectRequest *r = &a->req.create;
    cor__create_object_request__init(r);
    r->class_name = (char *)cls;
    r->args.data = args;
    r->args.len = args_len;
    r->name = (char *)(a->opt[CREATE_NAME] ? a->opt[CREATE_NAME] : "");
    r->dm_chain = (char *)(a->opt[CREATE_DM] ? a->opt[CREATE_DM] : "");
    r->selector = (char *)(a->opt[CREATE_SELECTOR] ? a->opt[CREATE_SELECTOR] : "");
    *req = &r->base;
    return 0;
}

static json_object *json_create(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    return corctl_object_json(((const Cor__CreateObjectReply *)m)->object);
}

static int text_create(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    char id[COR_OBJECT_ID_STRLEN + 1];
    corctl_id_hex(&((const Cor__CreateObjectReply *)m)->object->id, id);
    printf("%s\n", id);
    return 0;
}

/* ---------------- describe (and the Lookup that call makes too) ---------------- */

static int build_lookup(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    Cor__LookupRequest *r = &a->req.lookup;
    cor__lookup_request__init(r);
    *req = &r->base;
    return corctl_set_obj(c, a, a->pos[0], &r->id, &r->name);
}

/* What replica r of a ConsensusRSM object says of its Raft group: its
 * kernel server asked directly (Kernel.GetState, probe). NULL when it did
 * not answer; else the caller frees it (protobuf_c_message_free_unpacked). */
static Cor__GetStateReply *probe_replica(ctl_t *c, const Cor__ObjectInfo *o, const Cor__Replica *r)
{
    if (r->tcp_address[0] == '\0' || r->node_state != COR__NODE_STATE__NODE_ALIVE)
        return NULL;
    Cor__GetStateRequest req = COR__GET_STATE_REQUEST__INIT;
    req.object_id = o->id;
    req.probe = 1;
    ProtobufCMessage *rep = NULL;
    cor_error_t err;
    if (cor_rpc_call(cor_runtime_client(c->rt), r->tcp_address, COR_M_GET_STATE, &req.base,
                     &cor__get_state_reply__descriptor, 2000, &rep, &err) != 0)
        return NULL;
    Cor__GetStateReply *g = (Cor__GetStateReply *)rep;
    if (g->raft == NULL) {
        protobuf_c_message_free_unpacked(rep, NULL);
        return NULL;
    }
    return g;
}

/* Whether o's chain replicates it through a log (COR_DM_CAP_LOG), so its
 * replicas have a Raft view to show. */
static int replicated(const Cor__ObjectInfo *o)
{
    cor_dm_chain_t chain;
    cor_error_t err;
    return o->dm_chain[0] != '\0' && cor_dm_chain_parse(o->dm_chain, &chain, &err) == 0 &&
           (cor_dm_chain_caps(&chain) & COR_DM_CAP_LOG) != 0;
}

static json_object *json_describe(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)a;
    const Cor__ObjectInfo *o = ((const Cor__LookupReply *)m)->object;
    json_object *j = corctl_object_json(o);
    if (j == NULL || !replicated(o))
        return j;
    json_object *arr = json_object_new_array();
    if (arr == NULL)
        return j;
    for (size_t i = 0; i < o->n_replicas; i++) {
        Cor__GetStateReply *g = probe_replica(c, o, o->replicas[i]);
        json_object *x = json_object_new_object();
        if (x == NULL) {
            if (g != NULL)
                protobuf_c_message_free_unpacked(&g->base, NULL);
            continue;
        }
        json_object_object_add(x, "node", json_object_new_string(o->replicas[i]->node));
        if (g == NULL) {
            json_object_object_add(x, "role", json_object_new_string("unreachable"));
        } else {
            const Cor__RaftStatus *st = g->raft;
            json_object_object_add(x, "role", json_object_new_string(st->role));
            json_object_object_add(x, "term", json_object_new_int64((int64_t)st->term));
            json_object_object_add(x, "commit", json_object_new_int64((int64_t)st->commit));
            json_object_object_add(x, "applied", json_object_new_int64((int64_t)st->applied));
            json_object_object_add(x, "last_index", json_object_new_int64((int64_t)st->last_index));
            json_object_object_add(x, "snap_index", json_object_new_int64((int64_t)st->snap_index));
            json_object_object_add(x, "leader", json_object_new_string(st->leader));
            protobuf_c_message_free_unpacked(&g->base, NULL);
        }
        json_object_array_add(arr, x);
    }
    json_object_object_add(j, "raft", arr);
    return j;
}

/* The Raft view of a replicated object, one row per replica. */
static int text_raft(ctl_t *c, const Cor__ObjectInfo *o)
{
    Cor__GetStateReply *g[64] = {0};
    size_t n = o->n_replicas < 64 ? o->n_replicas : 64;
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++) {
        g[i] = probe_replica(c, o, o->replicas[i]);
        if (g[i] != NULL && g[i]->raft->commit > top)
            top = g[i]->raft->commit;
    }
    static const char *const hdr[] = {"NODE",    "ROLE",    "TERM",     "COMMIT",
                                      "APPLIED", "LOG-END", "SNAPSHOT", "LAG"};
    corctl_table_t *t = corctl_table_new(8, hdr);
    int rc = t == NULL ? corctl_oom() : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char f[6][24];
        const Cor__RaftStatus *st = g[i] != NULL ? g[i]->raft : NULL;
        if (st != NULL) {
            snprintf(f[0], 24, "%" PRIu64, st->term);
            snprintf(f[1], 24, "%" PRIu64, st->commit);
            snprintf(f[2], 24, "%" PRIu64, st->applied);
            snprintf(f[3], 24, "%" PRIu64, st->last_index);
            snprintf(f[4], 24, "%" PRIu64, st->snap_index);
            snprintf(f[5], 24, "%" PRIu64, top > st->applied ? top - st->applied : 0);
        }
        const char *row[] = {o->replicas[i]->node, st != NULL ? st->role : "unreachable",
                             st != NULL ? f[0] : "-", st != NULL ? f[1] : "-",
                             st != NULL ? f[2] : "-", st != NULL ? f[3] : "-",
                             st != NULL ? f[4] : "-", st != NULL ? f[5] : "-"};
        if (corctl_table_add(t, row) != 0)
            rc = corctl_oom();
    }
    for (size_t i = 0; i < n; i++)
        if (g[i] != NULL)
            protobuf_c_message_free_unpacked(&g[i]->base, NULL);
    if (t != NULL) {
        printf("\nraft (each replica's own view; LAG: calls behind the highest commit):\n");
        rc = print_table(t, rc);
    }
    return rc;
}

static int text_describe(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)a;
    const Cor__ObjectInfo *o = ((const Cor__LookupReply *)m)->object;
    char id[COR_OBJECT_ID_STRLEN + 1], created[160];
    corctl_id_hex(&o->id, id);
    corctl_fmt_time(o->created_ms, created, sizeof(created));
    printf("id:        %s\n", id);
    printf("name:      %s\n", o->name[0] ? o->name : "-");
    printf("class:     %s\n", o->class_name);
    printf("dm chain:  %s\n", o->dm_chain[0] ? o->dm_chain : "-");
    printf("selector:  %s\n", o->selector[0] ? o->selector : "-");
    printf("created:   %s\n", created);
    printf("epoch:     %" PRIu64 "\n", o->epoch);
    if (o->checkpoint_ms != 0) {
        char ck[160];
        corctl_fmt_time(o->checkpoint_ms, ck, sizeof(ck));
        printf("checkpoint: %s\n", ck);
    }
    printf("replicas:  %zu\n\n", o->n_replicas);
    static const char *const hdr[] = {"NODE",  "ADDRESS", "NODE-STATE",
                                      "STATE", "EPOCH",   "INCARNATION"};
    corctl_table_t *t = corctl_table_new(6, hdr);
    int rc = t == NULL ? corctl_oom() : 0;
    for (size_t i = 0; rc == 0 && i < o->n_replicas; i++) {
        const Cor__Replica *r = o->replicas[i];
        char epoch[24], inc[24];
        snprintf(epoch, sizeof(epoch), "%" PRIu64, r->epoch);
        snprintf(inc, sizeof(inc), "%" PRIu64, r->incarnation);
        const char *row[] = {r->node,  r->tcp_address, corctl_node_state(r->node_state),
                             corctl_replica_state(r->state), epoch, inc};
        if (corctl_table_add(t, row) != 0)
            rc = corctl_oom();
    }
    if (t != NULL)
        rc = print_table(t, rc);
    if (rc == 0 && replicated(o))
        rc = text_raft(c, o);
    if (rc == 0 && o->moving != NULL)
        printf("\nmoving to %s: %s, round %u, %.1f MiB copied\n", o->moving->to_node,
               o->moving->phase, o->moving->round, o->moving->bytes_copied / 1048576.0);
    if (rc == 0 && o->n_moves > 0) {
        printf("\nmoves (most recent last):\n");
        for (size_t i = 0; i < o->n_moves; i++) {
            char when[160];
            corctl_fmt_time(o->moves[i]->at_ms, when, sizeof(when));
            printf("  %s  %s -> %s  frozen %.2f ms  epoch %llu\n", when, o->moves[i]->from_node,
                   o->moves[i]->to_node, o->moves[i]->frozen_us / 1000.0,
                   (unsigned long long)o->moves[i]->epoch);
        }
    }
    return rc;
}

/* ---------------- call ---------------- */

static void method_names(const cor_service_desc_t *s, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < s->n_methods && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", s->methods[i].name);
}

/* Calls the object that OBJ names (looked up through the OMS) with the
 * JSON request converted to the method's message. */
static int fetch_call(ctl_t *c, corctl_args_t *a, const ProtobufCMessage *lookup_req,
                      ProtobufCMessage **reply)
{
    const char *json = a->npos == 3 ? a->pos[2] : "{}";
    ProtobufCMessage *lm;
    int rc = corctl_fetch(c, a, lookup_req, &lm);
    if (rc != 0)
        return rc;
    const Cor__ObjectInfo *o = ((const Cor__LookupReply *)lm)->object;
    char id[COR_OBJECT_ID_STRLEN + 1];
    corctl_id_hex(&o->id, id);
    ProtobufCMessage *req = NULL;
    cor_ref_t *ref = NULL;
    cor_error_t err;

    const corctl_class_t *k = corctl_classes_find(&c->classes, o->class_name);
    if (k == NULL) {
        char names[512];
        corctl_classes_names(&c->classes, names, sizeof(names));
        rc = corctl_input_error("object %s is of class %s, which corctl does not know (known: "
                                "%s); load its module with --module PATH.so",
                                id, o->class_name, names);
        goto out;
    }
    const cor_method_desc_t *md = cor_service_method(k->cls->service, a->pos[1], strlen(a->pos[1]));
    if (md == NULL) {
        char names[512];
        method_names(k->cls->service, names, sizeof(names));
        rc = corctl_input_error("%s has no method \"%s\"; its methods: %s", o->class_name,
                                a->pos[1], names);
        goto out;
    }
    char emsg[512];
    if (cor_json_to_pb(json, md->input, &req, emsg, sizeof(emsg)) != 0) {
        rc = corctl_input_error("%s.%s request (%s): %s; nothing was sent", o->class_name,
                                md->name, md->input->name, emsg);
        goto out;
    }

    /* Point a ref at the first active replica the Lookup named. */
    const Cor__Replica *r = NULL;
    for (size_t i = 0; i < o->n_replicas && r == NULL; i++)
        if (o->replicas[i]->state == COR__REPLICA_STATE__REPLICA_ACTIVE)
            r = o->replicas[i];
    if (r == NULL) {
        rc = corctl_fail("object %s has no active replica%s%s%s", id,
                         o->n_replicas ? " (lost with kernel server " : "",
                         o->n_replicas ? o->replicas[0]->node : "", o->n_replicas ? ")" : "");
        goto out;
    }
    cor_object_id_t oid;
    if (cor_object_id_from_bytes(o->id.data, o->id.len, &oid) != 0) {
        rc = corctl_fail("the OMS sent an object id of %zu bytes", o->id.len);
        goto out;
    }
    ref = cor_ref_new(c->rt, &oid, o->class_name, o->dm_chain);
    if (ref == NULL) {
        rc = corctl_oom();
        goto out;
    }
    if (cor_ref_set_location(ref, r->tcp_address, r->unix_path, r->host_id, r->epoch, &err) != 0) {
        rc = corctl_call_error(&err);
        goto out;
    }
    cor_ref_set_deadline(ref, c->timeout_ms);
    if (cor_call(ref, md, req, reply, &err) != 0)
        rc = corctl_call_error(&err);
out:
    if (req != NULL)
        protobuf_c_message_free_unpacked(req, NULL);
    cor_ref_free(ref);
    protobuf_c_message_free_unpacked(lm, NULL);
    return rc;
}

static json_object *json_call(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    return cor_pb_to_json_object(m);
}

static int text_call(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    char *text = cor_pb_to_json(m, 1);
    if (text == NULL)
        return corctl_oom();
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ---------------- delete ---------------- */

static int build_delete(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    Cor__DeleteObjectRequest *r = &a->req.delete_object;
    cor__delete_object_request__init(r);
    *req = &r->base;
    return corctl_set_obj(c, a, a->pos[0], &r->id, &r->name);
}

static json_object *json_delete(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)m;
    json_object *j = json_object_new_object();
    json_object_object_add(j, "deleted", json_object_new_string(a->pos[0]));
    return j;
}

static int text_delete(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)m;
    printf("deleted %s\n", a->pos[0]);
    return 0;
}

/* ---------------- migrate ---------------- */

enum { MIGRATE_TO, MIGRATE_SELECTOR, MIGRATE_REPLICA };

static int build_migrate(ctl_t *c, corctl_args_t *a, ProtobufCMessage **req)
{
    const char *to = a->opt[MIGRATE_TO], *selector = a->opt[MIGRATE_SELECTOR];
    const char *replica = a->opt[MIGRATE_REPLICA];
    if (replica != NULL && (to == NULL || selector != NULL))
        return corctl_usage_error(c, "migrate --replica NODE: give the target with --to NODE");
    if (replica != NULL && replica[0] == '\0')
        return corctl_usage_error(c, "migrate: --replica wants the node that holds the replica");
    if ((to == NULL) == (selector == NULL))
        return corctl_usage_error(c, "migrate: give --to NODE or --selector LABELS (one of them)");
    int rc = check_selector(c, selector);
    Cor__MigrateRequest *r = &a->req.migrate;
    cor__migrate_request__init(r);
    if (rc == 0)
        rc = corctl_set_obj(c, a, a->pos[0], &r->id, &r->name);
    r->to_node = (char *)(to ? to : "");
    r->selector = (char *)(selector ? selector : "");
    r->replica = (char *)(replica ? replica : "");
    *req = &r->base;
    return rc;
}

typedef struct mig_call {
    ctl_t *c;
    const Cor__MigrateRequest *req;
    int rc;
    cor_error_t err;
    ProtobufCMessage *reply;
    atomic_int done;
} mig_call_t;

/* A large state takes a while to copy: a minute at least, or --timeout. */
static void *mig_call(void *arg)
{
    mig_call_t *mc = arg;
    int deadline = mc->c->timeout_ms > 60000 ? mc->c->timeout_ms : 60000;
    mc->rc = corctl_oms_call(mc->c, COR_M_OMS_MIGRATE, &mc->req->base, &cor__migrate_reply__descriptor,
                             deadline, &mc->reply, &mc->err);
    atomic_store(&mc->done, 1);
    return NULL;
}

/* Prints the move's progress as the OMS reports it, every 50 ms, until
 * done; one line per new step. */
static void mig_watch(ctl_t *c, const Cor__MigrateRequest *req, atomic_int *done)
{
    Cor__LookupRequest lq = COR__LOOKUP_REQUEST__INIT;
    lq.id = req->id;
    lq.name = req->name;
    char last[160] = "";
    while (!atomic_load(done)) {
        usleep(50 * 1000);
        ProtobufCMessage *m = NULL;
        cor_error_t err;
        if (corctl_rpc(c, COR_M_OMS_LOOKUP, &lq.base, &cor__lookup_reply__descriptor, 1000, &m,
                       &err) != 0)
            continue;
        const Cor__MoveProgress *p = ((Cor__LookupReply *)m)->object->moving;
        char line[160] = "";
        if (p != NULL && strcmp(p->phase, "precopy") == 0 && p->round == 0)
            snprintf(line, sizeof(line), "  pre-copy to %s: copying the whole state, calls flowing",
                     p->to_node);
        else if (p != NULL && strcmp(p->phase, "precopy") == 0)
            snprintf(line, sizeof(line),
                     "  pre-copy round %u to %s: %.1f of %.1f MiB copied, calls flowing (%.0f ms)",
                     p->round, p->to_node, p->bytes_copied / 1048576.0,
                     p->state_bytes / 1048576.0, p->elapsed_us / 1000.0);
        else if (p != NULL && strcmp(p->phase, "final") == 0)
            snprintf(line, sizeof(line),
                     "  final step to %s: calls frozen, sending what changed (%.0f ms)",
                     p->to_node, p->elapsed_us / 1000.0);
        protobuf_c_message_free_unpacked(m, NULL);
        if (line[0] != '\0' && strcmp(line, last) != 0) {
            printf("%s\n", line);
            fflush(stdout);
            snprintf(last, sizeof(last), "%s", line);
        }
    }
}

/* The move runs on a thread; this one polls the OMS for its progress and
 * prints each new step (people only: --json prints the result). */
static int fetch_migrate(ctl_t *c, corctl_args_t *a, const ProtobufCMessage *req,
                         ProtobufCMessage **reply)
{
    const Cor__MigrateRequest *r = (const Cor__MigrateRequest *)req;
    if (!c->json) {
        printf("moving %s ...\n", a->pos[0]);
        fflush(stdout);
    }
    mig_call_t mc = {.c = c, .req = r};
    atomic_init(&mc.done, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, mig_call, &mc) != 0)
        return corctl_call_error(&(cor_error_t){COR_ENOMEM, "cannot start a thread"});
    if (!c->json)
        mig_watch(c, r, &mc.done);
    pthread_join(t, NULL);
    if (mc.rc != 0)
        return corctl_call_error(&mc.err);
    *reply = mc.reply;
    return 0;
}

static json_object *json_migrate(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    (void)a;
    const Cor__MigrateReply *r = (const Cor__MigrateReply *)m;
    json_object *j = json_object_new_object();
    json_object_object_add(j, "from", json_object_new_string(r->from_node));
    json_object_object_add(j, "to", json_object_new_string(r->to_node));
    json_object_object_add(j, "stateBytes", json_object_new_int64((int64_t)r->state_bytes));
    json_object_object_add(j, "frozenUs", json_object_new_int64(r->frozen_us));
    json_object_object_add(j, "totalUs", json_object_new_int64(r->total_us));
    json_object_object_add(j, "precopyRounds", json_object_new_int64(r->precopy_rounds));
    json_object_object_add(j, "bytesCopied", json_object_new_int64((int64_t)r->bytes_copied));
    if (r->object != NULL)
        json_object_object_add(j, "object", corctl_object_json(r->object));
    return j;
}

static int text_migrate(ctl_t *c, const corctl_args_t *a, const ProtobufCMessage *m)
{
    (void)c;
    const Cor__MigrateReply *r = (const Cor__MigrateReply *)m;
    if (a->opt[MIGRATE_REPLICA] != NULL) {
        printf("moved %s's replica from %s to %s in %.2f ms: the new one joined, caught up and "
               "votes; the old one is gone\n",
               a->pos[0], r->from_node, r->to_node, r->total_us / 1000.0);
        return 0;
    }
    printf("moved %s from %s to %s: %llu bytes of state, %u pre-copy rounds, %llu bytes "
           "sent, calls frozen %.2f ms, %.2f ms in all, epoch %llu\n",
           a->pos[0], r->from_node, r->to_node, (unsigned long long)r->state_bytes,
           r->precopy_rounds, (unsigned long long)r->bytes_copied, r->frozen_us / 1000.0,
           r->total_us / 1000.0, (unsigned long long)(r->object ? r->object->epoch : 0));
    return 0;
}

/* ---------------- the table ---------------- */

static const char *const objects_opts[] = {"--class", "--node", NULL};
static const char *const create_opts[] = {"--name", "--dm", "--selector", "--args", "--args-hex",
                                          NULL};
static const char *const migrate_opts[] = {"--to", "--selector", "--replica", NULL};


const corctl_cmd_t corctl_commands[] = {
    {.name = "nodes", .usage = "nodes",
     .method = COR_M_OMS_LIST_NODES, .reply_desc = &cor__list_nodes_reply__descriptor,
     .build = build_nodes, .json = json_nodes, .text = text_nodes},
    {.name = "objects", .usage = "objects [--class CLASS] [--node NODE]", .opts = objects_opts,
     .build = build_objects, .fetch = fetch_objects, .json = json_objects, .text = text_objects},
    {.name = "create",
     .usage = "create CLASS [--name NAME] [--dm CHAIN] [--selector k=v,...] "
              "[--args JSON | --args-hex HEX]",
     .opts = create_opts, .min_pos = 1, .max_pos = 1,
     .missing = "create: which class? (e.g. echo.Echo)",
     .method = COR_M_OMS_CREATE_OBJECT, .reply_desc = &cor__create_object_reply__descriptor,
     .needs_object = 1, .build = build_create, .json = json_create, .text = text_create},
    {.name = "describe", .usage = "describe OBJ", .min_pos = 1, .max_pos = 1,
     .missing = "describe: which object? (an id or a name)",
     .method = COR_M_OMS_LOOKUP, .reply_desc = &cor__lookup_reply__descriptor,
     .needs_object = 1, .build = build_lookup, .json = json_describe, .text = text_describe},
    {.name = "call", .usage = "call OBJ METHOD [JSON]", .min_pos = 2, .max_pos = 3,
     .missing = "call: needs an object and a method",
     .method = COR_M_OMS_LOOKUP, .reply_desc = &cor__lookup_reply__descriptor,
     .needs_object = 1, .json_one_line = 1,
     .build = build_lookup, .fetch = fetch_call, .json = json_call, .text = text_call},
    {.name = "delete", .usage = "delete OBJ", .min_pos = 1, .max_pos = 1,
     .missing = "delete: which object? (an id or a name)",
     .method = COR_M_OMS_DELETE_OBJECT, .reply_desc = &cor__delete_object_reply__descriptor,
     .build = build_delete, .json = json_delete, .text = text_delete},
    {.name = "migrate", .usage = "migrate OBJ (--to NODE | --selector k=v,...) | migrate OBJ --replica NODE --to NODE",
     .opts = migrate_opts, .min_pos = 1, .max_pos = 1,
     .missing = "migrate: which object? (an id or a name)",
     .method = COR_M_OMS_MIGRATE, .reply_desc = &cor__migrate_reply__descriptor,
     .build = build_migrate, .fetch = fetch_migrate, .json = json_migrate, .text = text_migrate},
    {.name = "ping", .usage = "ping",
     .method = COR_M_OMS_PING, .reply_desc = &cor__ping_reply__descriptor,
     .build = build_ping, .json = json_ping, .text = text_ping},
};
const size_t corctl_n_commands = sizeof(corctl_commands) / sizeof(corctl_commands[0]);
