#!/bin/sh
# capture_stubs_corpus.sh — writes the seed corpus of fuzz_stubs: the
# CodeGeneratorRequest protoc hands a plugin, captured for the apps' and
# the generator tests' .proto files (good and deliberately bad), plus a
# stripped request per proto without descriptor.proto (smaller, so the
# fuzzer mutates what matters), plus a few malformed inputs.
#
#   sh tests/fuzz/capture_stubs_corpus.sh MAKE_CORPUS [OUT_DIR]
#
# MAKE_CORPUS is the built fuzz_make_corpus (build/tests/fuzz/), which
# strips descriptor.proto and source info from each capture; only the echo
# app's request is also kept whole (app-echo-full). OUT_DIR defaults to
# tests/fuzz/corpus/stubs. Needs protoc; deterministic for a given protoc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mk=${1:?usage: capture_stubs_corpus.sh MAKE_CORPUS [OUT_DIR]}
out=${2:-$here/corpus/stubs}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A "plugin" that stores its stdin and answers with an empty response.
cat > "$tmp/protoc-gen-dump" <<'SH'
#!/bin/sh
cat > "$DUMP_TO"
SH
chmod +x "$tmp/protoc-gen-dump"

capture() { # capture NAME PROTO_PATH FILE...
    name=$1 ppath=$2
    shift 2
    DUMP_TO="$tmp/$name.full" protoc -I"$ppath" -I"$root/proto" -I/usr/include \
        --plugin=protoc-gen-dump="$tmp/protoc-gen-dump" --dump_out="$tmp" "$@"
    "$mk" --strip-request "$tmp/$name.full" "$out/$name"
}

capture app-echo "$root/apps" "$root/apps/echo/echo.proto"
cp "$tmp/app-echo.full" "$out/app-echo-full"
capture app-kv "$root/apps" "$root/apps/kv/kv.proto"
capture app-social "$root/apps" "$root/apps/social/social.proto"
capture nopkg "$root/tests/stubs/proto" "$root/tests/stubs/proto/nopkg.proto"
for f in $(find "$root/tests/stubs/proto" -mindepth 2 -name '*.proto' | sort); do
    rel=${f#"$root/tests/stubs/proto/"}
    capture "golden-$(echo "$rel" | tr / - | sed 's/\.proto$//')" "$root/tests/stubs/proto" "$f"
done
for f in "$root"/tests/stubs/bad/*.proto; do
    capture "bad-$(basename "$f" .proto)" "$root/tests/stubs/bad" "$f"
done
printf '' > "$out/malformed-empty"
printf '\n\377\377\377\377\017' > "$out/malformed-huge-length"
printf '\n\007nothere' > "$out/malformed-missing-file"
