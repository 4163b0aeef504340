#!/bin/sh
# run_fingerprint.sh — the interface fingerprint tracks the wire, nothing else.
#
#   run_fingerprint.sh PLUGIN
#
# Generates proto/a/b/kv.proto and variants of it in a scratch dir and
# compares the `.fingerprint = UINT64_C(...)` of a.b.KeyValueStore:
#   same:      comments, (cor.*) options and an unrelated new message added
#   different: a field number changed in a message reachable only through
#              another (GetReply.Meta.revision), an enum value renumbered in
#              an imported file, a method's output type changed
# Environment: PROTOC, COR_PROTO_DIR, COR_SYSTEM_PROTO_DIR as run_golden.sh.
set -eu

plugin=$1
case $plugin in /*) ;; *) plugin=$PWD/$plugin ;; esac
here=$(cd "$(dirname "$0")" && pwd)
protoc=${PROTOC:-protoc}
cor_proto=${COR_PROTO_DIR:-$here/../../proto}
sys_proto=${COR_SYSTEM_PROTO_DIR:-/usr/include}
work=$(mktemp -d "${TMPDIR:-/tmp}/cor-fp.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# fingerprint NAME SED-ON-KV [SED-ON-TYPES]: prints KeyValueStore's fingerprint
fingerprint() {
    d=$work/$1
    mkdir -p "$d/src/a/b" "$d/src/common" "$d/out"
    sed -e "$2" "$here/proto/a/b/kv.proto" >"$d/src/a/b/kv.proto"
    sed -e "${3:-}" "$here/proto/common/types.proto" >"$d/src/common/types.proto"
    "$protoc" -I"$d/src" -I"$cor_proto" -I"$sys_proto" \
        --plugin=protoc-gen-cor="$plugin" --cor_out="$d/out" a/b/kv.proto
    sed -n '/a_b_key_value_store_service = {/,/};/s/.*\.fingerprint = \(.*\),/\1/p' \
        "$d/out/a/b/kv.cor.c"
}

base=$(fingerprint base '')
[ -n "$base" ] || { echo "FAIL: no fingerprint in the generated source" >&2; exit 1; }
status=0
check() { # check same|different NAME FP
    if { [ "$1" = same ] && [ "$3" != "$base" ]; } ||
       { [ "$1" = different ] && [ "$3" = "$base" ]; }; then
        echo "FAIL: $2: fingerprint $3 should be $1 from $base" >&2
        status=1
    else
        echo "ok: $2 ($1)"
    fi
}
check same "comments, options, unrelated message" "$(fingerprint cosmetic \
    's|^// a/b/kv.proto.*|// reworded|; s|read_only: true, idempotent: true|idempotent: true|; s|^service Admin {|message Unrelated { optional int32 x = 1; }\nservice Admin {|')"
check different "nested field renumbered" "$(fingerprint renumber \
    's|optional uint64 revision = 1;|optional uint64 revision = 3;|')"
check different "imported enum value renumbered" "$(fingerprint enum '' \
    's|CONSISTENCY_STRONG = 1;|CONSISTENCY_STRONG = 2;|')"
check different "method output type changed" "$(fingerprint output \
    's|rpc GetHTTPStatus(Key) returns (HTTPStatus);|rpc GetHTTPStatus(Key) returns (Key);|')"
exit $status
