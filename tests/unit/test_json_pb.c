/*
 * test_json_pb.c — the JSON <-> protobuf converter corctl uses (cli/json_pb.h):
 * every scalar type with its extremes, names in both spellings, nested and
 * repeated fields, maps, oneofs, proto3 optional, bytes, enums, round trips,
 * and each refusal with the message a user sees (naming the field path).
 * Also hostile input: deep nesting, huge input, and mutated JSON must fail
 * cleanly, never crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alltypes.pb-c.h"
#include "proto2types.pb-c.h"
#include "echo/echo.pb-c.h"
#include "json_pb.h"
#include "testlib.h"

static char errbuf[512];

static Cortest__AllTypes *parse_ok(const char *json)
{
    ProtobufCMessage *m = NULL;
    int rc = cor_json_to_pb(json, &cortest__all_types__descriptor, &m, errbuf, sizeof(errbuf));
    if (rc != 0)
        fprintf(stderr, "\nunexpected refusal of %s: %s\n", json, errbuf);
    CU_ASSERT_EQUAL(rc, 0);
    return (Cortest__AllTypes *)m;
}

/* Expects a refusal whose message contains want. */
static void parse_bad(const char *json, const char *want)
{
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    int rc = cor_json_to_pb(json, &cortest__all_types__descriptor, &m, errbuf, sizeof(errbuf));
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NULL(m);
    if (strstr(errbuf, want) == NULL) {
        fprintf(stderr, "\nfor %s\n  got:  %s\n  want: %s\n", json, errbuf, want);
        CU_FAIL("error message");
    }
}

static void free_msg(Cortest__AllTypes *m)
{
    if (m != NULL)
        cortest__all_types__free_unpacked(m, NULL);
}

static void test_scalars(void)
{
    Cortest__AllTypes *m = parse_ok(
        "{\"f_int32\": -2147483648, \"f_int64\": \"-9223372036854775808\","
        " \"f_uint32\": 4294967295, \"f_uint64\": \"18446744073709551615\","
        " \"f_sint32\": -5, \"f_sint64\": \"-7\", \"f_fixed32\": 7, \"f_fixed64\": \"8\","
        " \"f_sfixed32\": -9, \"f_sfixed64\": \"-10\", \"f_float\": 1.5, \"f_double\": -2.25,"
        " \"f_bool\": true, \"f_string\": \"h\\u00e9llo\", \"f_bytes\": \"AAEC/w==\","
        " \"f_enum\": \"GREEN\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_int32, INT32_MIN);
    CU_ASSERT_EQUAL(m->f_int64, INT64_MIN);
    CU_ASSERT_EQUAL(m->f_uint32, UINT32_MAX);
    CU_ASSERT_EQUAL(m->f_uint64, UINT64_MAX);
    CU_ASSERT_EQUAL(m->f_sint32, -5);
    CU_ASSERT_EQUAL(m->f_sint64, -7);
    CU_ASSERT_EQUAL(m->f_fixed32, 7);
    CU_ASSERT_EQUAL(m->f_fixed64, 8);
    CU_ASSERT_EQUAL(m->f_sfixed32, -9);
    CU_ASSERT_EQUAL(m->f_sfixed64, -10);
    CU_ASSERT_EQUAL(m->f_float, 1.5f);
    CU_ASSERT_EQUAL(m->f_double, -2.25);
    CU_ASSERT_EQUAL(m->f_bool, 1);
    CU_ASSERT_STRING_EQUAL(m->f_string, "h\xc3\xa9llo");
    CU_ASSERT_EQUAL(m->f_bytes.len, 4);
    CU_ASSERT(m->f_bytes.len == 4 && memcmp(m->f_bytes.data, "\x00\x01\x02\xff", 4) == 0);
    CU_ASSERT_EQUAL(m->f_enum, CORTEST__COLOR__GREEN);
    free_msg(m);

    /* The other extremes, as JSON numbers. */
    m = parse_ok("{\"f_int32\": 2147483647, \"f_int64\": 9223372036854775807,"
                 " \"f_uint64\": 18446744073709551615, \"f_sint32\": -2147483648,"
                 " \"f_sint64\": -9223372036854775808, \"f_sfixed64\": 9223372036854775807,"
                 " \"f_fixed64\": 18446744073709551615, \"f_sfixed32\": 2147483647}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_int32, INT32_MAX);
    CU_ASSERT_EQUAL(m->f_int64, INT64_MAX);
    CU_ASSERT_EQUAL(m->f_uint64, UINT64_MAX);
    CU_ASSERT_EQUAL(m->f_sint32, INT32_MIN);
    CU_ASSERT_EQUAL(m->f_sint64, INT64_MIN);
    CU_ASSERT_EQUAL(m->f_sfixed64, INT64_MAX);
    CU_ASSERT_EQUAL(m->f_fixed64, UINT64_MAX);
    CU_ASSERT_EQUAL(m->f_sfixed32, INT32_MAX);
    free_msg(m);

    /* Integers from strings, exponents and integral floats; -0 is 0. */
    m = parse_ok("{\"f_int32\": \"12\", \"f_int64\": 1e2, \"f_uint32\": 5.0,"
                 " \"f_uint64\": \"3e1\", \"f_sint32\": \"-0\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_int32, 12);
    CU_ASSERT_EQUAL(m->f_int64, 100);
    CU_ASSERT_EQUAL(m->f_uint32, 5);
    CU_ASSERT_EQUAL(m->f_uint64, 30);
    CU_ASSERT_EQUAL(m->f_sint32, 0);
    free_msg(m);

    /* Floats from strings and the non-finite spellings. */
    m = parse_ok("{\"f_float\": \"0.25\", \"f_double\": \"NaN\", \"r_double\": [\"Infinity\","
                 " \"-Infinity\", 3, \"1e300\"]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_float, 0.25f);
    CU_ASSERT(isnan(m->f_double));
    CU_ASSERT_EQUAL_FATAL(m->n_r_double, 4);
    CU_ASSERT(isinf(m->r_double[0]) && m->r_double[0] > 0);
    CU_ASSERT(isinf(m->r_double[1]) && m->r_double[1] < 0);
    CU_ASSERT_EQUAL(m->r_double[2], 3.0);
    CU_ASSERT_EQUAL(m->r_double[3], 1e300);
    free_msg(m);

    /* An integer literal beyond 64 bits is still a fine double. */
    m = parse_ok("{\"f_double\": 100000000000000000000000, \"f_string\": \"18446744073709551616\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_double, 1e23);
    CU_ASSERT_STRING_EQUAL(m->f_string, "18446744073709551616");
    free_msg(m);

    /* Enums by number, including a negative value and one with no name
     * (proto3 enums are open). */
    m = parse_ok("{\"f_enum\": -1, \"r_enum\": [1, \"NEGATIVE\", 77]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_enum, CORTEST__COLOR__NEGATIVE);
    CU_ASSERT_EQUAL_FATAL(m->n_r_enum, 3);
    CU_ASSERT_EQUAL(m->r_enum[0], CORTEST__COLOR__RED);
    CU_ASSERT_EQUAL(m->r_enum[1], CORTEST__COLOR__NEGATIVE);
    CU_ASSERT_EQUAL((int)m->r_enum[2], 77);
    free_msg(m);
}

static void test_names_and_nulls(void)
{
    /* lowerCamelCase and proto names both work; null is the default. */
    Cortest__AllTypes *m = parse_ok("{\"fInt32\": 3, \"fUint64\": \"4\", \"f_string\": null,"
                                    " \"fNested\": null, \"rInt32\": null, \"mStrInt\": null}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->f_int32, 3);
    CU_ASSERT_EQUAL(m->f_uint64, 4);
    CU_ASSERT_STRING_EQUAL(m->f_string, "");
    CU_ASSERT_PTR_NULL(m->f_nested);
    CU_ASSERT_EQUAL(m->n_r_int32, 0);
    CU_ASSERT_EQUAL(m->n_m_str_int, 0);
    free_msg(m);

    m = parse_ok("{}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char *j = cor_pb_to_json(&m->base, 0);
    CU_ASSERT_STRING_EQUAL(j, "{}");
    free(j);
    free_msg(m);

    m = parse_ok("  \n{ }\n ");
    free_msg(m);

    char jn[64];
    cor_json_field_name("start_after", jn, sizeof(jn));
    CU_ASSERT_STRING_EQUAL(jn, "startAfter");
    cor_json_field_name("f_int32", jn, sizeof(jn));
    CU_ASSERT_STRING_EQUAL(jn, "fInt32");
    cor_json_field_name("plain", jn, sizeof(jn));
    CU_ASSERT_STRING_EQUAL(jn, "plain");
}

static void test_nested_and_repeated(void)
{
    Cortest__AllTypes *m = parse_ok(
        "{\"f_nested\": {\"key\": \"a\", \"n\": 1, \"child\": {\"key\": \"b\", \"child\": {}}},"
        " \"entries\": [{\"key\": \"x\"}, {\"key\": \"y\", \"n\": -3}],"
        " \"r_int32\": [1, -2, 3], \"r_int64\": [\"-1\", 2], \"r_uint64\": [\"18446744073709551615\"],"
        " \"r_sint32\": [-1, 1], \"r_fixed32\": [4294967295], \"r_bool\": [true, false, true],"
        " \"r_string\": [\"\", \"s\"], \"r_bytes\": [\"\", \"_-8\"], \"r_float\": [0.5, -1]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->f_nested);
    CU_ASSERT_STRING_EQUAL(m->f_nested->key, "a");
    CU_ASSERT_EQUAL(m->f_nested->n, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->f_nested->child);
    CU_ASSERT_STRING_EQUAL(m->f_nested->child->key, "b");
    CU_ASSERT_PTR_NOT_NULL(m->f_nested->child->child);
    CU_ASSERT_EQUAL_FATAL(m->n_entries, 2);
    CU_ASSERT_STRING_EQUAL(m->entries[1]->key, "y");
    CU_ASSERT_EQUAL(m->entries[1]->n, -3);
    CU_ASSERT_EQUAL_FATAL(m->n_r_int32, 3);
    CU_ASSERT_EQUAL(m->r_int32[1], -2);
    CU_ASSERT_EQUAL_FATAL(m->n_r_int64, 2);
    CU_ASSERT_EQUAL(m->r_int64[0], -1);
    CU_ASSERT_EQUAL_FATAL(m->n_r_uint64, 1);
    CU_ASSERT_EQUAL(m->r_uint64[0], UINT64_MAX);
    CU_ASSERT_EQUAL_FATAL(m->n_r_sint32, 2);
    CU_ASSERT_EQUAL(m->r_sint32[0], -1);
    CU_ASSERT_EQUAL_FATAL(m->n_r_fixed32, 1);
    CU_ASSERT_EQUAL(m->r_fixed32[0], UINT32_MAX);
    CU_ASSERT_EQUAL_FATAL(m->n_r_bool, 3);
    CU_ASSERT_EQUAL(m->r_bool[1], 0);
    CU_ASSERT_EQUAL_FATAL(m->n_r_string, 2);
    CU_ASSERT_STRING_EQUAL(m->r_string[1], "s");
    CU_ASSERT_EQUAL_FATAL(m->n_r_bytes, 2);
    CU_ASSERT_EQUAL(m->r_bytes[0].len, 0);
    /* "_-8" is URL-safe base64 without padding: 0xff 0xef */
    CU_ASSERT(m->r_bytes[1].len == 2 && memcmp(m->r_bytes[1].data, "\xff\xef", 2) == 0);
    CU_ASSERT_EQUAL_FATAL(m->n_r_float, 2);
    CU_ASSERT_EQUAL(m->r_float[1], -1.0f);
    free_msg(m);
}

static void test_maps(void)
{
    Cortest__AllTypes *m =
        parse_ok("{\"m_str_int\": {\"a\": 1, \"b\": -2}, \"m_int_str\": {\"-5\": \"x\"},"
                 " \"m_bool_msg\": {\"true\": {\"key\": \"k\"}}, \"m_u32_enum\": {\"7\": \"RED\"}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL_FATAL(m->n_m_str_int, 2);
    CU_ASSERT_EQUAL_FATAL(m->n_m_int_str, 1);
    CU_ASSERT_EQUAL(m->m_int_str[0]->key, -5);
    CU_ASSERT_STRING_EQUAL(m->m_int_str[0]->value, "x");
    CU_ASSERT_EQUAL_FATAL(m->n_m_bool_msg, 1);
    CU_ASSERT_EQUAL(m->m_bool_msg[0]->key, 1);
    CU_ASSERT_STRING_EQUAL(m->m_bool_msg[0]->value->key, "k");
    CU_ASSERT_EQUAL_FATAL(m->n_m_u32_enum, 1);
    CU_ASSERT_EQUAL(m->m_u32_enum[0]->key, 7);
    CU_ASSERT_EQUAL(m->m_u32_enum[0]->value, CORTEST__COLOR__RED);

    char *j = cor_pb_to_json(&m->base, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"mStrInt\":{\"a\":1,\"b\":-2}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"mIntStr\":{\"-5\":\"x\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"mBoolMsg\":{\"true\":{\"key\":\"k\"}}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"mU32Enum\":{\"7\":\"RED\"}"));
    free(j);
    free_msg(m);

    parse_bad("{\"m_int_str\": {\"abc\": \"x\"}}", "field \"m_int_str[\"abc\"]\": expected an integer");
    parse_bad("{\"m_bool_msg\": {\"yes\": {}}}", "expected \"true\" or \"false\"");
    parse_bad("{\"m_str_int\": {\"a\": \"b\"}}", "field \"m_str_int[\"a\"]\": expected an integer");
    parse_bad("{\"m_str_int\": {\"a\": null}}", "null is not allowed as a map value");
    parse_bad("{\"m_str_int\": [1]}", "expected an object (a map), got an array");
    parse_bad("{\"m_u32_enum\": {\"-1\": 1}}", "out of range for uint32");
}

static void test_oneof_and_presence(void)
{
    Cortest__AllTypes *m = parse_ok("{\"o_number\": 0}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->choice_case, CORTEST__ALL_TYPES__CHOICE_O_NUMBER);
    /* A set oneof member prints even at its default. */
    char *j = cor_pb_to_json(&m->base, 0);
    CU_ASSERT_STRING_EQUAL(j, "{\"oNumber\":\"0\"}");
    free(j);
    free_msg(m);

    m = parse_ok("{\"oNested\": {\"key\": \"n\"}, \"o_text\": null}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->choice_case, CORTEST__ALL_TYPES__CHOICE_O_NESTED);
    CU_ASSERT_STRING_EQUAL(m->o_nested->key, "n");
    free_msg(m);

    parse_bad("{\"o_text\": \"a\", \"o_number\": 1}", "oneof already set by \"o_text\"");

    /* proto2: optional fields print when present, even at zero; required
     * fields must be given. */
    ProtobufCMessage *p = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_json_to_pb("{\"req\": 0, \"opt\": 0, \"ostr\": \"\"}",
                                         &cortest2__p2__descriptor, &p, errbuf, sizeof(errbuf)),
                          0);
    Cortest2__P2 *p2 = (Cortest2__P2 *)p;
    CU_ASSERT_EQUAL(p2->has_opt, 1);
    CU_ASSERT_EQUAL(p2->has_obytes, 0);
    j = cor_pb_to_json(p, 0);
    CU_ASSERT_STRING_EQUAL(j, "{\"req\":0,\"opt\":0,\"ostr\":\"\"}");
    free(j);
    protobuf_c_message_free_unpacked(p, NULL);
    CU_ASSERT_EQUAL(cor_json_to_pb("{\"opt\": 1}", &cortest2__p2__descriptor, &p, errbuf,
                                   sizeof(errbuf)),
                    -1);
    CU_ASSERT_STRING_EQUAL(errbuf, "field \"req\": required field missing");
    CU_ASSERT_EQUAL(cor_json_to_pb("{\"req\": null}", &cortest2__p2__descriptor, &p, errbuf,
                                   sizeof(errbuf)),
                    -1);
}

static void test_round_trip(void)
{
    const char *in =
        "{\"fInt32\": -1, \"fInt64\": \"-9223372036854775808\", \"fUint32\": 4294967295,"
        " \"fUint64\": \"18446744073709551615\", \"fSint32\": -2147483648, \"fSint64\": \"-3\","
        " \"fFixed32\": 1, \"fFixed64\": \"2\", \"fSfixed32\": -3, \"fSfixed64\": \"-4\","
        " \"fFloat\": 0.1, \"fDouble\": 0.1, \"fBool\": true, \"fString\": \"a\\\"b\\\\c/\\n\","
        " \"fBytes\": \"AP8=\", \"fEnum\": \"NEGATIVE\", \"fNested\": {\"child\": {\"n\": 1}},"
        " \"rInt32\": [1, 2], \"rDouble\": [\"NaN\", \"-Infinity\", 1e-300], \"rBytes\": [\"\"],"
        " \"rEnum\": [\"RED\", 9], \"entries\": [{}, {\"key\": \"z\"}], \"rFloat\": [1e30],"
        " \"mStrInt\": {\"k\": 0}, \"oText\": \"\"}";
    Cortest__AllTypes *a = parse_ok(in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    char *j = cor_pb_to_json(&a->base, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    /* The proto3 forms. */
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fInt64\": \"-9223372036854775808\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fUint64\": \"18446744073709551615\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fUint32\": 4294967295"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fFloat\": 0.1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fDouble\": 0.1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fBytes\": \"AP8=\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"fEnum\": \"NEGATIVE\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"NaN\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"-Infinity\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"oText\": \"\""));
    CU_ASSERT_PTR_NULL(strstr(j, "\"fNested\": {\"child\": {}}")); /* child has n */

    /* JSON -> message -> JSON -> message gives the same bytes. */
    Cortest__AllTypes *b = parse_ok(j);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t la = cortest__all_types__get_packed_size(a);
    size_t lb = cortest__all_types__get_packed_size(b);
    CU_ASSERT_EQUAL_FATAL(la, lb);
    uint8_t *pa = malloc(la), *pb = malloc(lb);
    cortest__all_types__pack(a, pa);
    cortest__all_types__pack(b, pb);
    CU_ASSERT(memcmp(pa, pb, la) == 0);
    char *j2 = cor_pb_to_json(&b->base, 1);
    CU_ASSERT_STRING_EQUAL(j, j2);
    free(j2);
    free(pa);
    free(pb);
    free(j);
    free_msg(a);
    free_msg(b);

    /* Defaults are omitted. */
    a = parse_ok("{\"fInt32\": 0, \"fString\": \"\", \"fBool\": false, \"fBytes\": \"\","
                 " \"fEnum\": \"COLOR_UNSPECIFIED\", \"rInt32\": [], \"fDouble\": 0}");
    j = cor_pb_to_json(&a->base, 0);
    CU_ASSERT_STRING_EQUAL(j, "{}");
    free(j);
    free_msg(a);
}

static void test_rejections(void)
{
    /* Wrong types, each naming the field. */
    parse_bad("{\"f_int32\": \"abc\"}", "field \"f_int32\": expected an integer, got \"abc\"");
    parse_bad("{\"f_int32\": 1.5}", "field \"f_int32\": expected an integer, got 1.5");
    parse_bad("{\"f_int32\": \"1.5\"}", "expected an integer");
    parse_bad("{\"f_int32\": true}", "expected an integer, got true");
    parse_bad("{\"f_int32\": \"0x10\"}", "expected an integer");
    parse_bad("{\"f_int32\": \"\"}", "expected an integer");
    parse_bad("{\"f_int32\": \" 5\"}", "expected an integer");
    parse_bad("{\"f_int32\": [1]}", "expected an integer, got an array");
    parse_bad("{\"f_string\": 5}", "field \"f_string\": expected a string, got 5");
    parse_bad("{\"f_bool\": \"true\"}", "expected true or false, got \"true\"");
    parse_bad("{\"f_bool\": 1}", "expected true or false, got 1");
    parse_bad("{\"f_double\": \"fast\"}", "expected a double");
    parse_bad("{\"f_float\": {}}", "expected a float, got an object");
    parse_bad("{\"f_nested\": 3}", "field \"f_nested\": expected an object, got 3");
    parse_bad("{\"r_int32\": 3}", "field \"r_int32\": expected an array, got 3");
    parse_bad("{\"r_int32\": [1, null]}", "field \"r_int32[1]\": null is not allowed");
    parse_bad("{\"f_enum\": \"BLUE\"}",
              "\"BLUE\" is not a value of enum cortest.Color (one of: NEGATIVE, COLOR_UNSPECIFIED, RED, GREEN)");
    parse_bad("{\"f_enum\": true}", "expected an enum name or number");
    parse_bad("{\"f_enum\": 2147483648}", "out of range");

    /* Ranges. */
    parse_bad("{\"f_int32\": 2147483648}", "field \"f_int32\": 2147483648 is out of range for int32");
    parse_bad("{\"f_int32\": -2147483649}", "out of range for int32");
    parse_bad("{\"f_sint32\": \"3000000000\"}", "out of range for sint32");
    parse_bad("{\"f_sfixed32\": 1e10}", "out of range for sfixed32");
    parse_bad("{\"f_uint32\": -1}", "out of range for uint32");
    parse_bad("{\"f_uint32\": 4294967296}", "out of range for uint32");
    parse_bad("{\"f_fixed32\": \"4294967296\"}", "out of range for fixed32");
    parse_bad("{\"f_uint64\": -1}", "out of range for uint64");
    parse_bad("{\"f_uint64\": \"-1\"}", "out of range for uint64");
    parse_bad("{\"f_uint64\": \"18446744073709551616\"}", "out of range for uint64");
    parse_bad("{\"f_int64\": \"9223372036854775808\"}", "out of range for int64");
    parse_bad("{\"f_int64\": \"-9223372036854775809\"}", "out of range for int64");
    parse_bad("{\"f_int64\": \"123456789012345678901234\"}", "out of range for int64");
    parse_bad("{\"f_int64\": 1e19}", "out of range for int64");
    parse_bad("{\"f_float\": 1e39}", "out of range for float");
    parse_bad("{\"f_double\": \"1e999\"}", "out of range for double");
    /* Integers json-c itself cannot hold are refused, not clamped. */
    parse_bad("{\"f_uint64\": 18446744073709551616}",
              "field \"f_uint64\": 18446744073709551616 is out of range for uint64");
    parse_bad("{\"f_int64\": -9223372036854775809}",
              "field \"f_int64\": -9223372036854775809 is out of range for int64");
    parse_bad("{\"r_int32\": [1, 123456789012345678901234567890]}",
              "field \"r_int32[1]\": 123456789012345678901234567890 is out of range for int32");

    /* Bytes. */
    parse_bad("{\"f_bytes\": \"a*b=\"}", "invalid base64: character 2 is not a base64 digit");
    parse_bad("{\"f_bytes\": \"abcde\"}", "invalid base64: truncated");
    parse_bad("{\"f_bytes\": \"ab=c\"}", "invalid base64");
    parse_bad("{\"f_bytes\": \"a===\"}", "invalid base64: bad padding");
    parse_bad("{\"f_bytes\": 12}", "expected a base64 string, got 12");

    /* Names. */
    parse_bad("{\"nope\": 1}", "field \"nope\": no such field in cortest.AllTypes");
    parse_bad("{\"f_nested\": {\"kee\": \"x\"}}", "field \"f_nested.kee\": no such field in cortest.Nested");
    parse_bad("{\"f_int32\": 1, \"fInt32\": 2}", "given twice");
    parse_bad("{\"FInt32\": 1}", "no such field");

    /* Paths through arrays and nesting. */
    parse_bad("{\"entries\": [{\"key\": \"a\"}, {\"key\": \"b\"}, {\"key\": 5}]}",
              "field \"entries[2].key\": expected a string, got 5");
    parse_bad("{\"fNested\": {\"child\": {\"n\": \"x\"}}}",
              "field \"fNested.child.n\": expected an integer, got \"x\"");

    /* Not an object, or not JSON. */
    parse_bad("[1, 2]", "expected a JSON object for cortest.AllTypes, got an array");
    parse_bad("5", "expected a JSON object for cortest.AllTypes, got 5");
    parse_bad("\"x\"", "expected a JSON object");
    parse_bad("null", "expected a JSON object");
    parse_bad("", "empty JSON input");
    parse_bad("   ", "empty JSON input");
    parse_bad("{", "malformed JSON");
    parse_bad("{\"a\" 1}", "malformed JSON at offset");
    parse_bad("{'f_int32': 1}", "malformed JSON");
    parse_bad("{\"f_int32\": 1,}", "malformed JSON");
    parse_bad("{\"f_int32\": 01}", "malformed JSON");
    parse_bad("{} {}", "malformed JSON at offset 3");
    parse_bad("{\"f_string\": \"it's\"} 'x'", "malformed JSON at offset 21: strings take double quotes");
    parse_bad("{\"f_string\": \"a\\u0000b\"}", "NUL");
    parse_bad("{\"f_string\": \"\xff\xfe\"}", "malformed JSON");

    /* The brief's own example, on a real app message. */
    ProtobufCMessage *m = NULL;
    CU_ASSERT_EQUAL(cor_json_to_pb("{\"delta\": \"abc\"}", &echo__add_request__descriptor, &m,
                                   errbuf, sizeof(errbuf)),
                    -1);
    CU_ASSERT_STRING_EQUAL(errbuf, "field \"delta\": expected an integer, got \"abc\"");
    CU_ASSERT_EQUAL(cor_json_to_pb("{\"delta\": \"-12\"}", &echo__add_request__descriptor, &m,
                                   errbuf, sizeof(errbuf)),
                    0);
    CU_ASSERT_EQUAL(((Echo__AddRequest *)m)->delta, -12);
    protobuf_c_message_free_unpacked(m, NULL);

    /* A tiny or absent error buffer is fine. */
    char tiny[8];
    CU_ASSERT_EQUAL(cor_json_to_pb("{\"nope\": 1}", &cortest__all_types__descriptor, &m, tiny,
                                   sizeof(tiny)),
                    -1);
    CU_ASSERT_EQUAL(strlen(tiny), 7);
    CU_ASSERT_EQUAL(cor_json_to_pb("{\"nope\": 1}", &cortest__all_types__descriptor, &m, NULL, 0),
                    -1);
}

static void test_depth_and_size(void)
{
    /* 63 nested children are fine; past the cap is refused, not a crash. */
    size_t cap = 100000;
    char *buf = malloc(cap);
    for (int depth = 60; depth <= 70; depth += 10) {
        size_t o = 0;
        o += (size_t)snprintf(buf + o, cap - o, "{\"f_nested\": ");
        for (int i = 0; i < depth; i++)
            o += (size_t)snprintf(buf + o, cap - o, "{\"child\": ");
        o += (size_t)snprintf(buf + o, cap - o, "{}");
        for (int i = 0; i < depth + 1; i++)
            buf[o++] = '}';
        buf[o] = '\0';
        ProtobufCMessage *m = NULL;
        int rc = cor_json_to_pb(buf, &cortest__all_types__descriptor, &m, errbuf, sizeof(errbuf));
        if (depth == 60) {
            CU_ASSERT_EQUAL(rc, 0);
            char *j = cor_pb_to_json(m, 0);
            CU_ASSERT_PTR_NOT_NULL(j);
            free(j);
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
        } else {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "levels deep"));
        }
    }
    /* Deep arrays are cut off by the parser. */
    size_t o = 0;
    o += (size_t)snprintf(buf, cap, "{\"r_int32\": ");
    for (int i = 0; i < 10000; i++)
        buf[o++] = '[';
    buf[o] = '\0';
    ProtobufCMessage *m = NULL;
    CU_ASSERT_EQUAL(cor_json_to_pb(buf, &cortest__all_types__descriptor, &m, errbuf, sizeof(errbuf)),
                    -1);
    free(buf);

    /* A message nested deeper than the cap cannot be printed. */
    Cortest__Nested chain[80];
    for (int i = 0; i < 80; i++) {
        cortest__nested__init(&chain[i]);
        chain[i].child = i + 1 < 80 ? &chain[i + 1] : NULL;
    }
    CU_ASSERT_PTR_NULL(cor_pb_to_json(&chain[0].base, 0));
    chain[40].child = NULL;
    char *j = cor_pb_to_json(&chain[0].base, 0);
    CU_ASSERT_PTR_NOT_NULL(j);
    free(j);

    /* Over the input limit: refused before parsing. */
    size_t big = COR_JSON_MAX_INPUT + 10;
    char *huge = malloc(big + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    CU_ASSERT_EQUAL(cor_json_to_pb(huge, &cortest__all_types__descriptor, &m, errbuf, sizeof(errbuf)),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "too large"));
    free(huge);

    /* Large but allowed: a 1 MiB string. */
    size_t n = 1u << 20;
    char *s = malloc(n + 32);
    memcpy(s, "{\"f_string\": \"", 14);
    memset(s + 14, 'x', n);
    memcpy(s + 14 + n, "\"}", 3);
    Cortest__AllTypes *a = parse_ok(s);
    CU_ASSERT(a != NULL && strlen(a->f_string) == n);
    free_msg(a);
    free(s);
}

/* Mutations of a valid document: every result is either a message or a
 * refusal with a message, and nothing crashes (run under ASan in CI). */
static void test_mutations(void)
{
    const char *seed = "{\"fInt32\": -1, \"fUint64\": \"18\", \"fBytes\": \"AP8=\","
                       " \"entries\": [{\"key\": \"a\", \"child\": {\"n\": 2}}],"
                       " \"mIntStr\": {\"5\": \"x\"}, \"rDouble\": [1.5, \"NaN\"],"
                       " \"fEnum\": \"RED\", \"oText\": \"t\"}";
    size_t n = strlen(seed);
    char *buf = malloc(n + 8);
    const char alphabet[] = "{}[]\":,-0123456789.eE\\ntfu \x01\xff";
    unsigned seedv = 12345;
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, seed, n + 1);
        size_t len = n;
        int edits = 1 + (int)((seedv = seedv * 1103515245u + 12345u) >> 16) % 3;
        for (int e = 0; e < edits; e++) {
            seedv = seedv * 1103515245u + 12345u;
            size_t pos = (seedv >> 8) % len;
            seedv = seedv * 1103515245u + 12345u;
            char ch = alphabet[(seedv >> 8) % (sizeof(alphabet) - 1)];
            if ((seedv >> 4) % 3 == 0 && len > 1) {
                memmove(buf + pos, buf + pos + 1, len - pos);
                len--;
            } else {
                buf[pos] = ch;
            }
        }
        ProtobufCMessage *m = NULL;
        errbuf[0] = '\0';
        if (cor_json_to_pb_len(buf, len, &cortest__all_types__descriptor, &m, errbuf,
                               sizeof(errbuf)) == 0) {
            ok++;
            char *j = cor_pb_to_json(m, it & 1);
            CU_ASSERT_PTR_NOT_NULL(j);
            free(j);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            bad++;
            CU_ASSERT_PTR_NULL(m);
            CU_ASSERT(errbuf[0] != '\0');
        }
    }
    CU_ASSERT(ok > 0 && bad > 0);
    free(buf);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"scalars", test_scalars},
        {"names and nulls", test_names_and_nulls},
        {"nested and repeated", test_nested_and_repeated},
        {"maps", test_maps},
        {"oneof and presence", test_oneof_and_presence},
        {"round trip", test_round_trip},
        {"rejections", test_rejections},
        {"depth and size", test_depth_and_size},
        {"mutations", test_mutations},
        {NULL, NULL},
    };
    return cor_test_main("json_pb", tests, NULL, NULL);
}
