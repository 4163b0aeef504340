#!/bin/sh
# run_golden.sh — golden test of protoc-gen-cor's output.
#
#   run_golden.sh PLUGIN            generate and diff against golden/
#   run_golden.sh --update PLUGIN   regenerate golden/ (review the diff, then
#                                   commit it with the plugin change)
#
# Runs protoc with the plugin on every .proto under proto/ (paths relative to
# proto/, so "a/b/kv.proto" yields golden/a/b/kv.cor.{h,c}) and compares the
# .cor.h/.cor.c it writes with the checked-in files, byte for byte; a file
# missing on either side is a failure too. The golden sources are also
# compiled by tests/stubs/CMakeLists.txt (cor_stubs_golden), which proves
# they build warning-free with the project's flags.
#
# Environment: PROTOC (default: protoc), COR_PROTO_DIR (default: the
# checkout's proto/), COR_SYSTEM_PROTO_DIR (default: /usr/include).
set -eu

update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: $0 [--update] PATH/TO/protoc-gen-cor" >&2
    exit 2
fi
plugin=$1
case $plugin in /*) ;; *) plugin=$PWD/$plugin ;; esac

here=$(cd "$(dirname "$0")" && pwd)
protoc=${PROTOC:-protoc}
cor_proto=${COR_PROTO_DIR:-$here/../../proto}
sys_proto=${COR_SYSTEM_PROTO_DIR:-/usr/include}

out=$(mktemp -d "${TMPDIR:-/tmp}/cor-golden.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

cd "$here/proto"
protos=$(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
# shellcheck disable=SC2086 # one word per proto path
"$protoc" -I. -I"$cor_proto" -I"$sys_proto" \
    --plugin=protoc-gen-cor="$plugin" --cor_out="$out" $protos

if [ $update -eq 1 ]; then
    rm -rf "$here/golden"
    mkdir -p "$here/golden"
    (cd "$out" && find . -name '*.cor.[ch]' | while read -r f; do
        mkdir -p "$here/golden/$(dirname "$f")"
        cp "$f" "$here/golden/$f"
    done)
    echo "golden files updated under $here/golden"
    exit 0
fi

status=0
(cd "$out" && find . -name '*.cor.[ch]' | LC_ALL=C sort) >"$out/.got"
(cd "$here/golden" && find . -name '*.cor.[ch]' | LC_ALL=C sort) >"$out/.want"
if ! diff -u "$out/.want" "$out/.got"; then
    echo "FAIL: the set of generated files differs from golden/ (left: golden, right: generated)" >&2
    status=1
fi
while read -r f; do
    if [ -f "$here/golden/$f" ] && ! diff -u "$here/golden/$f" "$out/$f"; then
        echo "FAIL: $f differs from golden (run $0 --update PLUGIN if intended)" >&2
        status=1
    fi
done <"$out/.got"
[ $status -eq 0 ] && echo "golden: $(wc -l <"$out/.got") files match"
exit $status
