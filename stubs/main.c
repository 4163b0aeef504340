/*
 * main.c — protoc-gen-cor: the protoc plugin that writes Corundum stubs.
 *
 * protoc runs the plugin with a serialized CodeGeneratorRequest on stdin
 * and reads a CodeGeneratorResponse from stdout:
 *
 *   protoc -I. -I<corundum>/proto --plugin=protoc-gen-cor=... \
 *          --c_out=gen --cor_out=gen echo/echo.proto
 *
 * For every file to generate we build and check a model (model.c) and, if
 * all files are fine, answer with <base>.cor.h and <base>.cor.c for each,
 * even for files without services (cor_generate() expects both outputs).
 * Problems in the .proto go into CodeGeneratorResponse.error, one
 * "file.proto:LINE:COL: reason" per line; protoc prints them and fails. Only
 * input that is not a CodeGeneratorRequest at all (or a broken pipe) makes
 * the plugin itself fail: a message on stderr and exit status 1.
 *
 * supported_features stays FEATURE_NONE: proto3 `optional` is not claimed,
 * as protoc-c 1.4.1, which generates the messages, rejects it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest request_t;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse response_t;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File response_file_t;

/* Reads all of stdin into *data (malloc'd, the caller frees). */
static int read_all(FILE *in, uint8_t **data, size_t *len)
{
    buf_t b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        buf_putn(&b, chunk, n);
    if (ferror(in)) {
        buf_free(&b);
        return -1;
    }
    *len = b.len;
    *data = (uint8_t *)buf_take(&b);
    return 0;
}

static const pb_file_t *find_file(const request_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_proto_file; i++)
        if (req->proto_file[i]->name != NULL && strcmp(req->proto_file[i]->name, name) == 0)
            return req->proto_file[i];
    return NULL;
}

static response_file_t *new_output(char *name, char *content)
{
    response_file_t *f = xmalloc(sizeof(*f));
    google__protobuf__compiler__code_generator_response__file__init(f);
    f->name = name;
    f->content = content;
    return f;
}

static void usage(FILE *out)
{
    fputs("usage: protoc --plugin=protoc-gen-cor=PATH --cor_out=DIR [-I...] FILE.proto\n"
          "protoc-gen-cor is a protoc plugin: it reads a CodeGeneratorRequest on stdin\n"
          "and writes <base>.cor.h and <base>.cor.c for each .proto (Corundum service\n"
          "descriptors, server skeletons and client proxies). See docs/writing-a-proto.md.\n",
          out);
}

int main(int argc, char **argv)
{
    int rv = 1;
    uint8_t *data = NULL, *packed = NULL;
    size_t len = 0;
    request_t *req = NULL;
    type_table_t types = {0};
    buf_t errors = {0};
    response_t resp = GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;

    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        usage(help ? stdout : stderr);
        return help ? 0 : 1;
    }
    if (isatty(STDIN_FILENO)) {
        usage(stderr);
        return 1;
    }
    if (read_all(stdin, &data, &len) != 0) {
        perror("protoc-gen-cor: reading the request from stdin");
        goto out;
    }
    req = google__protobuf__compiler__code_generator_request__unpack(NULL, len, data);
    if (req == NULL || len == 0) {
        fprintf(stderr,
                "protoc-gen-cor: stdin (%zu bytes) is not a CodeGeneratorRequest; "
                "this program is a protoc plugin, run it through protoc --cor_out=DIR\n",
                len);
        goto out;
    }
    for (size_t i = 0; i < req->n_file_to_generate; i++) {
        if (find_file(req, req->file_to_generate[i]) == NULL) {
            fprintf(stderr,
                    "protoc-gen-cor: malformed CodeGeneratorRequest: file %s is to be generated "
                    "but its descriptor is missing\n",
                    req->file_to_generate[i]);
            goto out;
        }
    }

    type_table_build(&types, req);
    resp.has_supported_features = 1;
    resp.supported_features =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_NONE;
    resp.file = xcalloc(2 * req->n_file_to_generate, sizeof(resp.file[0]));
    for (size_t i = 0; i < req->n_file_to_generate; i++) {
        model_t m;
        if (model_build(&m, find_file(req, req->file_to_generate[i]), &types, &errors) == 0) {
            resp.file[resp.n_file++] = new_output(xasprintf("%s.cor.h", m.base), gen_header(&m));
            resp.file[resp.n_file++] = new_output(xasprintf("%s.cor.c", m.base), gen_source(&m));
        }
        model_free(&m);
    }
    if (errors.len > 0) {
        /* protoc prints the text after "--cor_out: "; drop the last '\n'. */
        errors.data[--errors.len] = '\0';
        resp.error = errors.data;
        for (size_t i = 0; i < resp.n_file; i++) {
            free(resp.file[i]->name);
            free(resp.file[i]->content);
            free(resp.file[i]);
        }
        resp.n_file = 0;
    }

    size_t out_len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    packed = xmalloc(out_len);
    google__protobuf__compiler__code_generator_response__pack(&resp, packed);
    if (fwrite(packed, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        perror("protoc-gen-cor: writing the response to stdout");
        goto out;
    }
    rv = 0;

out:
    for (size_t i = 0; i < resp.n_file; i++) {
        free(resp.file[i]->name);
        free(resp.file[i]->content);
        free(resp.file[i]);
    }
    free(resp.file);
    free(packed);
    buf_free(&errors);
    type_table_free(&types);
    if (req != NULL)
        google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    free(data);
    return rv;
}
