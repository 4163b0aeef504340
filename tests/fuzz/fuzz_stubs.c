/*
 * fuzz_stubs.c — protoc-gen-cor's decode-and-generate step (stubs/), in
 * process.
 *
 * Where the input comes from: protoc writes a CodeGeneratorRequest to the
 * plugin's stdin. protoc builds it from .proto files, so it is well formed
 * in practice, but the plugin is a program that parses bytes and then
 * trusts what it parsed to index, name and escape things: a good place for
 * an out-of-bounds read or an unescaped byte to hide.
 *
 * stubs/main.c does everything in main() (stdin, stdout, exit status), so
 * this target does not call it: it performs main's steps on the input
 * bytes with the same internal functions (stubs/plugin.h), in the same
 * order — unpack the request, refuse a file_to_generate without a
 * descriptor, build the type table, build and check a model per file,
 * generate <base>.cor.h and <base>.cor.c, pack the response — and frees
 * everything. stdin/stdout handling and exit codes are the only parts of
 * the plugin not covered.
 *
 * What holds for every input:
 *  - model_build fails exactly when it appended an error line, and every
 *    error text ends in '\n';
 *  - a checked model generates a header and a source (non-empty);
 *  - the response packs to the size it reports.
 */
#include "fuzz.h"

#include <string.h>

#include "plugin.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest request_t;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse response_t;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File response_file_t;

static const pb_file_t *find_file(const request_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_proto_file; i++)
        if (req->proto_file[i]->name != NULL && strcmp(req->proto_file[i]->name, name) == 0)
            return req->proto_file[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request_t *req = google__protobuf__compiler__code_generator_request__unpack(NULL, size, data);
    if (req == NULL || size == 0)
        goto out_req;
    for (size_t i = 0; i < req->n_file_to_generate; i++)
        if (find_file(req, req->file_to_generate[i]) == NULL)
            goto out_req; /* main: "malformed CodeGeneratorRequest", exit 1 */

    type_table_t types = {0};
    buf_t errors = {0};
    response_t resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    type_table_build(&types, req);
    resp.file = xcalloc(2 * req->n_file_to_generate + 1, sizeof(resp.file[0]));
    for (size_t i = 0; i < req->n_file_to_generate; i++) {
        model_t m;
        size_t before = errors.len;
        int rc = model_build(&m, find_file(req, req->file_to_generate[i]), &types, &errors);
        FUZZ_CHECK((rc != 0) == (errors.len > before));
        FUZZ_CHECK(errors.len == 0 || errors.data[errors.len - 1] == '\n');
        if (rc == 0) {
            char *h = gen_header(&m), *c = gen_source(&m);
            FUZZ_CHECK(h != NULL && h[0] != '\0' && c != NULL && c[0] != '\0');
            for (int k = 0; k < 2; k++) {
                response_file_t *f = xmalloc(sizeof(*f));
                google__protobuf__compiler__code_generator_response__file__init(f);
                f->name = xasprintf("%s.cor.%c", m.base, k == 0 ? 'h' : 'c');
                f->content = k == 0 ? h : c;
                resp.file[resp.n_file++] = f;
            }
        }
        model_free(&m);
    }
    if (errors.len > 0) {
        /* As main: an error answers with no files. */
        errors.data[--errors.len] = '\0';
        resp.error = errors.data;
        for (size_t i = 0; i < resp.n_file; i++) {
            free(resp.file[i]->name);
            free(resp.file[i]->content);
            free(resp.file[i]);
        }
        resp.n_file = 0;
    }
    size_t n = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    uint8_t *packed = xmalloc(n ? n : 1);
    FUZZ_CHECK(google__protobuf__compiler__code_generator_response__pack(&resp, packed) == n);
    free(packed);

    for (size_t i = 0; i < resp.n_file; i++) {
        free(resp.file[i]->name);
        free(resp.file[i]->content);
        free(resp.file[i]);
    }
    free(resp.file);
    buf_free(&errors);
    type_table_free(&types);
out_req:
    if (req != NULL)
        google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    return 0;
}
