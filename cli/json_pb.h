/*
 * json_pb.h — JSON <-> protobuf-c messages, driven by the message
 * descriptors alone (no generated JSON code), following the proto3 JSON
 * mapping. corctl uses it to turn `call OBJ METHOD '{"delta": 5}'` into a
 * request message and the reply back into JSON; it is a small static
 * library (cor_cli_json) so tests and the fuzz target link it alone.
 *
 * JSON -> message: the JSON is parsed with json-c (strict mode, UTF-8
 * checked, nesting capped at COR_JSON_MAX_DEPTH) and encoded straight to
 * protobuf wire bytes from the descriptors, which protobuf_c_message_unpack
 * then turns into an ordinary heap message — so the caller frees it the
 * usual way and the converter never fills C structs by hand. What is
 * accepted (proto3 JSON mapping):
 *
 *   field names     as in the .proto ("start_after") or lowerCamelCase
 *                   ("startAfter"); unknown names are refused
 *   int32/uint32/   JSON numbers (integral: 5, 5.0, 5e0) or decimal
 *   *fixed32/sint*  strings ("5"); out-of-range values are refused
 *   int64/uint64/.. the same (strings keep full 64-bit precision)
 *   float/double    numbers, numeric strings, "NaN", "Infinity", "-Infinity"
 *   bool            true / false
 *   string          strings (no NUL characters)
 *   bytes           base64, standard or URL-safe, padding optional
 *   enum            the value's name or its number
 *   message         an object; map<K,V> fields an object keyed by K
 *   repeated        an array
 *   null            the field's default (not allowed inside arrays/maps)
 *
 * Message -> JSON: proto3 output: lowerCamelCase names, fields holding
 * their default omitted (a set oneof member or proto2/proto3-optional
 * field with presence is kept), 64-bit integers as strings, bytes as
 * standard base64, enums by name (by number when the value has no name),
 * non-finite floats as "NaN" / "Infinity" / "-Infinity".
 *
 * Both directions are pure functions of their input: no global state, safe
 * from any thread, bounded in depth and size, and meant to survive hostile
 * input (a fuzz target drives cor_json_to_pb).
 */
#ifndef COR_CLI_JSON_PB_H
#define COR_CLI_JSON_PB_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Nesting limit for JSON input and message output (objects and arrays). */
#define COR_JSON_MAX_DEPTH 64
/* Largest JSON text cor_json_to_pb accepts, and the largest message it
 * builds (bytes on the wire). */
#define COR_JSON_MAX_INPUT (16u * 1024u * 1024u)

/* Converts the NUL-terminated JSON text json (a JSON object) into a message
 * of type d. On success returns 0 and *out is a new heap message the caller
 * frees with protobuf_c_message_free_unpacked(*out, NULL). On failure
 * returns -1, *out is NULL, and errbuf (if errlen > 0) holds one line
 * naming what was wrong and where, e.g.
 *   field "delta": expected an integer, got "abc"
 *   field "entries[2].key": expected a string, got 5
 *   malformed JSON at offset 12: unexpected character
 */
int cor_json_to_pb(const char *json, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out,
                   char *errbuf, size_t errlen);

/* The same for a JSON text of len bytes that need not be NUL-terminated
 * (the fuzz target's entry point). */
int cor_json_to_pb_len(const char *json, size_t len, const ProtobufCMessageDescriptor *d,
                       ProtobufCMessage **out, char *errbuf, size_t errlen);

/* Renders m as JSON text (indented when pretty, one line otherwise). Returns
 * a malloc'd NUL-terminated string the caller frees with free(), or NULL
 * when out of memory or m nests deeper than COR_JSON_MAX_DEPTH. */
char *cor_pb_to_json(const ProtobufCMessage *m, int pretty);

/* As cor_pb_to_json, but returns the json-c object (the caller drops it
 * with json_object_put), for callers that add to or reshape the output. */
struct json_object;
struct json_object *cor_pb_to_json_object(const ProtobufCMessage *m);

/* The proto3 JSON name of a field ("start_after" -> "startAfter") into out
 * (truncated to outlen - 1 characters). */
void cor_json_field_name(const char *proto_name, char *out, size_t outlen);

#endif
