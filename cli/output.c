/*
 * output.c — see output.h.
 */
#include "output.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json_pb.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void corctl_fmt_age(int64_t then_ms, char *out, size_t n)
{
    if (then_ms <= 0) {
        snprintf(out, n, "never");
        return;
    }
    int64_t a = now_ms() - then_ms;
    if (a < 0)
        a = 0;
    if (a < 60000)
        snprintf(out, n, "%.1fs ago", (double)a / 1000.0);
    else if (a < 3600000)
        snprintf(out, n, "%dm%02ds ago", (int)(a / 60000), (int)(a / 1000 % 60));
    else if (a < 86400000)
        snprintf(out, n, "%dh%02dm ago", (int)(a / 3600000), (int)(a / 60000 % 60));
    else
        snprintf(out, n, "%dd%02dh ago", (int)(a / 86400000), (int)(a / 3600000 % 24));
}

void corctl_fmt_time(int64_t ms, char *out, size_t n)
{
    if (ms <= 0) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[64], age[48];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    corctl_fmt_age(ms, age, sizeof(age));
    snprintf(out, n, "%s (%s)", when, age);
}

void corctl_id_hex(const ProtobufCBinaryData *b, char out[COR_OBJECT_ID_STRLEN + 1])
{
    cor_object_id_t id;
    if (cor_object_id_from_bytes(b->data, b->len, &id) == 0)
        cor_object_id_format(&id, out);
    else
        snprintf(out, COR_OBJECT_ID_STRLEN + 1, "?");
}

/* An enum value's name without its prefix: NODE_ALIVE -> ALIVE. */
static const char *enum_short(const ProtobufCEnumDescriptor *d, int v, const char *prefix)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    if (ev == NULL)
        return "?";
    size_t n = strlen(prefix);
    return strncmp(ev->name, prefix, n) == 0 ? ev->name + n : ev->name;
}

const char *corctl_node_state(int v)
{
    return enum_short(&cor__node_state__descriptor, v, "NODE_");
}

const char *corctl_replica_state(int v)
{
    return enum_short(&cor__replica_state__descriptor, v, "REPLICA_");
}

const char *corctl_object_state(const Cor__ObjectInfo *o)
{
    if (o->n_replicas == 0)
        return "NO-REPLICA";
    const Cor__Replica *r = o->replicas[0];
    if (r->state == COR__REPLICA_STATE__REPLICA_ACTIVE &&
        r->node_state != COR__NODE_STATE__NODE_ALIVE)
        return r->node_state == COR__NODE_STATE__NODE_DEAD ? "NODE-DEAD" : "NODE-REPLACED";
    return corctl_replica_state(r->state);
}

void corctl_print_json(json_object *j, int one_line)
{
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                (one_line ? JSON_C_TO_STRING_PLAIN
                          : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
    const char *s = json_object_to_json_string_ext(j, flags);
    printf("%s\n", s ? s : "null");
}

json_object *corctl_object_json(const Cor__ObjectInfo *o)
{
    json_object *j = cor_pb_to_json_object(&o->base);
    if (j != NULL) {
        char hex[COR_OBJECT_ID_STRLEN + 1];
        corctl_id_hex(&o->id, hex);
        json_object_object_add(j, "id", json_object_new_string(hex));
    }
    return j;
}
