#!/usr/bin/env bash
# scripts/tsan.sh — the unit and integration suites under ThreadSanitizer.
#
#   scripts/tsan.sh [CTEST-ARGS...]      e.g. -L unit, or -R migrate
#
# Builds build-tsan/ (Debug, -DCOR_TSAN=ON, warnings as errors) and runs the
# suites with halt_on_error, so the first race fails its test; daemons the
# integration suites start inherit TSAN_OPTIONS and exit 66 on a race,
# which their suites check. tests/tsan.supp drops reports with a frame in
# Debian's uninstrumented gRPC, abseil and libstdc++ (their internal
# synchronization is invisible to TSan); the transport tells TSan what gRPC
# guarantees about completion-queue tags (COR_TSAN_GIVE/TAKE in
# runtime/transport.h), so Corundum's own threads are fully checked.
# The valgrind tests are left out (valgrind and TSan do not mix).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GRPC_DNS_RESOLVER=native
echo "== TSan build"
COR_BUILD_DIR="$root/build-tsan" COR_BUILD_TYPE=Debug bash scripts/build.sh \
  -DCOR_WERROR=ON -DCOR_TSAN=ON -DCOR_BUILD_BENCH=OFF
echo "== tests under TSan"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(-L 'unit|integration')
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/tsan.supp" \
  ctest --test-dir "$root/build-tsan" --output-on-failure -j2 -LE valgrind --timeout 900 \
    "${args[@]}"
