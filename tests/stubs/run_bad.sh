#!/bin/sh
# run_bad.sh — protoc-gen-cor must refuse bad input with a clear error.
#
#   run_bad.sh PLUGIN bad/FOO.proto   protoc must fail, and its stderr must
#                                     match the extended regex on the proto's
#                                     "// EXPECT: " line (file:LINE:COL: why)
#   run_bad.sh --garbage PLUGIN       bytes that are not a CodeGeneratorRequest
#                                     on the plugin's stdin: exit status 1 and
#                                     a message saying so; same for empty stdin
#
# Environment: PROTOC, COR_PROTO_DIR, COR_SYSTEM_PROTO_DIR as run_golden.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--garbage" ]; then
    plugin=$2
    status=0
    for input in "this is not a protobuf message" ""; do
        err=$(printf '%s' "$input" | "$plugin" 2>&1 >/dev/null)
        rc=$?
        if [ $rc -ne 1 ]; then
            echo "FAIL: plugin exited $rc on '$input', expected 1" >&2
            status=1
        fi
        if ! printf '%s\n' "$err" | grep -q "is not a CodeGeneratorRequest"; then
            echo "FAIL: unexpected message on '$input': $err" >&2
            status=1
        fi
    done
    [ $status -eq 0 ] && echo "garbage: rejected with exit status 1"
    exit $status
fi

if [ $# -ne 2 ]; then
    echo "usage: $0 PLUGIN bad/FOO.proto | $0 --garbage PLUGIN" >&2
    exit 2
fi
plugin=$1
proto=$2
protoc=${PROTOC:-protoc}
cor_proto=${COR_PROTO_DIR:-$here/../../proto}
sys_proto=${COR_SYSTEM_PROTO_DIR:-/usr/include}

expect=$(sed -n 's|^// EXPECT: ||p' "$proto")
if [ -z "$expect" ]; then
    echo "FAIL: $proto has no '// EXPECT: ' line" >&2
    exit 1
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/cor-bad.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

cd "$(dirname "$proto")"
err=$("$protoc" -I. -I"$cor_proto" -I"$sys_proto" \
    --plugin=protoc-gen-cor="$plugin" --cor_out="$out" "$(basename "$proto")" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
    echo "FAIL: protoc accepted $proto" >&2
    exit 1
fi
if ! printf '%s\n' "$err" | grep -Eq -- "$expect"; then
    echo "FAIL: stderr of protoc does not match: $expect" >&2
    echo "stderr was: $err" >&2
    exit 1
fi
if [ -n "$(find "$out" -type f)" ]; then
    echo "FAIL: files were written despite the error" >&2
    exit 1
fi
echo "ok: $err"
