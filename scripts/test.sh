#!/usr/bin/env bash
# scripts/test.sh — set up, build and run every test (README's second
# command; CI runs it through .ci/run).
#
#   1. the normal build with warnings as errors: unit, generator (stubs) and
#      integration suites, plus a valgrind run of a daemon's whole life;
#   2. an ASan+UBSan build of the same unit and integration suites;
#   3. a TSan build of them (scripts/tsan.sh);
#   4. short fuzz runs: every libFuzzer target for COR_FUZZ_SECONDS (15)
#      seconds (scripts/fuzz.sh); the 10-minute runs are in docs/fuzzing.md.
#
# COR_SKIP_SANITIZERS=1 skips steps 2-4 (quicker local runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GRPC_DNS_RESOLVER=native

echo "== build (warnings are errors)"
COR_BUILD_DIR="$root/build" bash scripts/build.sh -DCOR_WERROR=ON
echo "== tests"
ctest --test-dir "$root/build" --output-on-failure -j2 --timeout 600

if [ "${COR_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== ASan+UBSan build"
  COR_BUILD_DIR="$root/build-asan" COR_BUILD_TYPE=Debug bash scripts/build.sh \
    -DCOR_WERROR=ON -DCOR_ASAN=ON -DCOR_UBSAN=ON -DCOR_BUILD_BENCH=OFF
  echo "== tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$root/build-asan" --output-on-failure -j2 -L 'unit|integration|fuzz|sim' \
      -LE 'valgrind|sim-bug' --timeout 600
  echo "== TSan"
  bash scripts/tsan.sh
  echo "== short fuzz runs"
  bash scripts/fuzz.sh "${COR_FUZZ_SECONDS:-15}"
fi
