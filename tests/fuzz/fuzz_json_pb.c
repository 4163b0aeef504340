/*
 * fuzz_json_pb.c — corctl's JSON -> protobuf conversion (cli/json_pb.c),
 * and the way back.
 *
 * Where the input comes from: the JSON an operator types in
 * `corctl call OBJ METHOD '{...}'` (or pipes in from a script), converted
 * against the method's input descriptor.
 *
 * Input: the first byte picks the message type, the rest is the JSON text
 * (not NUL-terminated: cor_json_to_pb_len). Types: echo.SayRequest and
 * echo.AddRequest (what corctl sends most), cor.NodeInfo (a map, an enum,
 * a double, nested and repeated messages), cor.InvokeRequest (bytes,
 * fixed64, repeated messages), and when cli/testdata has them,
 * cortest.AllTypes (every field shape) and cortest2.P2 (proto2 presence).
 *
 * What holds for every input:
 *  - a refusal is -1 with *out NULL and a one-line message;
 *  - an accepted message renders to JSON (compact and pretty) which
 *    converts back without error to a message that renders to the same
 *    compact JSON: the round trip is stable after the first conversion.
 */
#include "fuzz.h"

#include <string.h>

#include "cor/kernel.pb-c.h"
#include "cor/oms.pb-c.h"
#include "echo/echo.pb-c.h"
#include "json_pb.h"
#ifdef COR_FUZZ_HAVE_ALLTYPES
#include "alltypes.pb-c.h"
#endif
#ifdef COR_FUZZ_HAVE_P2
#include "proto2types.pb-c.h"
#endif

static const ProtobufCMessageDescriptor *const types[] = {
    &echo__say_request__descriptor,
    &echo__add_request__descriptor,
    &cor__node_info__descriptor,
    &cor__invoke_request__descriptor,
#ifdef COR_FUZZ_HAVE_ALLTYPES
    &cortest__all_types__descriptor,
#endif
#ifdef COR_FUZZ_HAVE_P2
    &cortest2__p2__descriptor,
#endif
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

/* Converts json back to a message of d and renders it compactly; the
 * caller frees the text. */
static char *reconvert(const char *json, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = NULL;
    char errbuf[256] = "";
    int rc = cor_json_to_pb(json, d, &m, errbuf, sizeof(errbuf));
    if (rc != 0) {
        fprintf(stderr, "fuzz_json_pb: %s refuses its own output %s: %s\n", d->name, json,
                errbuf);
        FUZZ_CHECK(!"output of cor_pb_to_json converts back");
    }
    char *again = cor_pb_to_json(m, 0);
    FUZZ_CHECK(again != NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *d = types[data[0] % N_TYPES];
    const char *json = (const char *)data + 1;
    size_t len = size - 1;

    ProtobufCMessage *m = (ProtobufCMessage *)(uintptr_t)1; /* must be cleared on failure */
    char errbuf[256];
    memset(errbuf, 0, sizeof(errbuf));
    int rc = cor_json_to_pb_len(json, len, d, &m, errbuf, sizeof(errbuf));
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(errbuf[0] != '\0');
        FUZZ_CHECK(memchr(errbuf, '\0', sizeof(errbuf)) != NULL);
        return 0;
    }
    FUZZ_CHECK(m != NULL && m->descriptor == d);

    char *compact = cor_pb_to_json(m, 0);
    FUZZ_CHECK(compact != NULL);
    char *pretty = cor_pb_to_json(m, 1);
    FUZZ_CHECK(pretty != NULL);

    char *again = reconvert(compact, d);
    if (strcmp(again, compact) != 0) {
        fprintf(stderr, "fuzz_json_pb: %s round trip differs:\n first: %s\nsecond: %s\n", d->name,
                compact, again);
        FUZZ_CHECK(!"pb -> json -> pb -> json is stable");
    }
    char *from_pretty = reconvert(pretty, d);
    FUZZ_CHECK(strcmp(from_pretty, compact) == 0);

    free(from_pretty);
    free(again);
    free(pretty);
    free(compact);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
