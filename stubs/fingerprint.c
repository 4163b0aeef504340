/*
 * fingerprint.c — the 64-bit interface fingerprint of a service.
 *
 * Two builds talk to each other only if they agree on the wire: the methods
 * and every message those methods carry. The fingerprint is the FNV-1a
 * 64-bit hash (offset basis 0xcbf29ce484222325, prime 0x100000001b3) of a
 * canonical text that lists exactly that, so the same interface gives the
 * same fingerprint in any file layout, and any wire-relevant change gives a
 * different one. The runtime compares fingerprints to refuse calls between
 * mismatched builds (COR_EREVISION).
 *
 * The canonical text, one item per line, each line ending in '\n', fields
 * separated by one space:
 *
 *   cor-fingerprint 1
 *   service <service full name>
 *   method <name> <input full name> <output full name> <cs> <ss>
 *       one per method, in declaration order (the order fixes the method
 *       indexes); cs, ss are the client/server streaming flags, 0 or 1
 *   then every type reachable from the inputs and outputs, transitively
 *   through message- and enum-typed fields, sorted by full name (strcmp):
 *   message <full name>
 *   field <number> <name> <type> <label> <type name or ->
 *       one per field, sorted by number; type and label are the numeric
 *       FieldDescriptorProto.Type and .Label values; the type name is the
 *       full name of the field's message or enum type
 *   enum <full name>
 *   value <number> <name>
 *       one per value, sorted by number, then name
 *
 * Full names carry no leading dot. Not included, because they do not change
 * the wire: (cor.*) options, comments, file names, json names, default
 * values, declaration order of fields and types.
 */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static int cmp_field(const void *a, const void *b)
{
    const pb_field_t *x = *(const pb_field_t *const *)a, *y = *(const pb_field_t *const *)b;
    return (x->number > y->number) - (x->number < y->number);
}

static int cmp_value(const void *a, const void *b)
{
    const Google__Protobuf__EnumValueDescriptorProto *x = *(const void *const *)a;
    const Google__Protobuf__EnumValueDescriptorProto *y = *(const void *const *)b;
    if (x->number != y->number)
        return (x->number > y->number) - (x->number < y->number);
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* Marks t and everything reachable from it in reached[] (indexed like
 * types->v). */
static void reach(const type_table_t *types, const type_entry_t *t, bool *reached)
{
    size_t i = (size_t)(t - types->v);
    if (reached[i])
        return;
    reached[i] = true;
    if (t->msg == NULL)
        return;
    for (size_t f = 0; f < t->msg->n_field; f++) {
        const type_entry_t *u = type_table_find(types, t->msg->field[f]->type_name);
        if (u != NULL)
            reach(types, u, reached);
    }
}

static void put_message(buf_t *out, const type_entry_t *t)
{
    const pb_message_t *msg = t->msg;
    buf_printf(out, "message %s\n", t->full);
    const pb_field_t **fields = xcalloc(msg->n_field, sizeof(*fields));
    for (size_t f = 0; f < msg->n_field; f++)
        fields[f] = msg->field[f];
    if (msg->n_field > 0)
        qsort(fields, msg->n_field, sizeof(*fields), cmp_field);
    for (size_t f = 0; f < msg->n_field; f++) {
        const pb_field_t *fd = fields[f];
        const char *tn = fd->type_name ? fd->type_name : "-";
        if (tn[0] == '.')
            tn++;
        buf_printf(out, "field %d %s %d %d %s\n", fd->number, fd->name ? fd->name : "",
                   (int)fd->type, (int)fd->label, tn);
    }
    free(fields);
}

static void put_enum(buf_t *out, const type_entry_t *t)
{
    const pb_enum_t *en = t->en;
    buf_printf(out, "enum %s\n", t->full);
    const Google__Protobuf__EnumValueDescriptorProto **values =
        xcalloc(en->n_value, sizeof(*values));
    for (size_t v = 0; v < en->n_value; v++)
        values[v] = en->value[v];
    if (en->n_value > 0)
        qsort(values, en->n_value, sizeof(*values), cmp_value);
    for (size_t v = 0; v < en->n_value; v++)
        buf_printf(out, "value %d %s\n", values[v]->number, values[v]->name ? values[v]->name : "");
    free(values);
}

void fingerprint_text(buf_t *out, const service_model_t *s, const type_table_t *types)
{
    bool *reached = xcalloc(types->n, sizeof(*reached));
    buf_put(out, "cor-fingerprint 1\n");
    buf_printf(out, "service %s\n", s->full);
    for (size_t j = 0; j < s->n_methods; j++) {
        const method_model_t *m = &s->methods[j];
        buf_printf(out, "method %s %s %s %d %d\n", m->pb->name, m->in->full, m->out->full,
                   m->pb->client_streaming ? 1 : 0, m->pb->server_streaming ? 1 : 0);
        reach(types, m->in, reached);
        reach(types, m->out, reached);
    }
    /* types->v is sorted by full name, so this walks the reached set in
     * canonical order. */
    for (size_t i = 0; i < types->n; i++) {
        if (!reached[i])
            continue;
        if (types->v[i].msg != NULL)
            put_message(out, &types->v[i]);
        else
            put_enum(out, &types->v[i]);
    }
    free(reached);
}

uint64_t fingerprint_service(const service_model_t *s, const type_table_t *types)
{
    buf_t text = {0};
    fingerprint_text(&text, s, types);
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < text.len; i++) {
        h ^= (unsigned char)text.data[i];
        h *= UINT64_C(0x100000001b3);
    }
    buf_free(&text);
    return h;
}
