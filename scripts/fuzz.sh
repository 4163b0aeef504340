#!/usr/bin/env bash
# scripts/fuzz.sh — build the fuzz targets with clang + libFuzzer and run
# them (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs are names like invoke, oms,
# labels, json_pb, stubs, module, etcd (default: all). Configures build-fuzz/ with
# -DCOR_FUZZ=ON, ASan, UBSan and the libraries coverage-instrumented, builds
# the targets, then runs each one in turn on a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>/ is never written to). Prints per target
# the executions, coverage and any crash, leak, timeout or OOM file (kept
# under the scratch directory, which is left in place when something was
# found). Exit status: 0 when every target ran clean, 1 when one found
# something, 2 on a build or usage error.
#
# Environment: COR_FUZZ_BUILD (build dir, default $root/build-fuzz),
# COR_FUZZ_SRC (source tree, default this checkout), COR_FUZZ_SCRATCH
# (scratch dir, default a new mktemp -d), COR_FUZZ_ARGS (extra libFuzzer
# flags, e.g. "-fork=2 -ignore_crashes=1" to keep going past a known crash
# and collect every distinct one), CC (default clang).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${COR_FUZZ_SRC:-$root}
build=${COR_FUZZ_BUILD:-$root/build-fuzz}
all_targets=(invoke oms labels dmchain json_pb stubs module raft etcd)

seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $t "*) ;;
    *) echo "fuzz.sh: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done

export CC=${CC:-clang}
echo "== configure $build ($CC)"
mkdir -p "$build"
if ! cmake -S "$src" -B "$build" -DCOR_FUZZ=ON -DCOR_ASAN=ON -DCOR_UBSAN=ON \
     -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCOR_BUILD_BENCH=OFF \
     -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/fuzz-configure.log" 2>&1; then
  cat "$build/fuzz-configure.log" >&2
  echo "fuzz.sh: configure failed" >&2
  exit 2
fi
if ! [ -f "$build/tests/fuzz/CTestTestfile.cmake" ]; then
  echo "fuzz.sh: tests/fuzz is not part of the build (is add_subdirectory(fuzz) in tests/CMakeLists.txt?)" >&2
  exit 2
fi
echo "== build"
if ! cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}"); then
  echo "fuzz.sh: build failed" >&2
  exit 2
fi

scratch=${COR_FUZZ_SCRATCH:-$(mktemp -d "${TMPDIR:-/tmp}/cor-fuzz.XXXXXX")}
mkdir -p "$scratch"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export GRPC_DNS_RESOLVER=native
found=0
summary=()
for t in "${targets[@]}"; do
  work="$scratch/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$src/tests/fuzz/corpus/$t/"* "$work/corpus/" 2>/dev/null
  echo "== fuzz_$t for ${seconds}s (corpus $work/corpus)"
  # shellcheck disable=SC2086
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
      -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" \
      ${COR_FUZZ_ARGS:-} "$work/corpus" >"$work/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  if [ -z "$execs" ]; then # -fork=N prints "#RUNS: cov: ... exec/s N ..." lines instead
    execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$work/log" | tail -1)
    rate=$(sed -n 's/^#[0-9]*: cov:.* exec\/s \([0-9]*\) .*/\1/p' "$work/log" | tail -1)
  fi
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$work/log" | tail -1)
  units=$(ls "$work/corpus" | wc -l)
  line="fuzz_$t: ${execs:-?} execs (${rate:-?}/s), ${cov:-cov ?}, corpus $units files"
  artifacts=$(ls "$work/artifacts" 2>/dev/null)
  if [ $rc -ne 0 ] || [ -n "$artifacts" ]; then
    found=1
    line="$line — FOUND (exit $rc):"
    for a in $artifacts; do
      line="$line $work/artifacts/$a"
    done
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*fuzz invariant broken)' "$work/log" | head -5
    echo "   full log: $work/log"
  fi
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
if [ $found -ne 0 ]; then
  echo "fuzz.sh: findings kept in $scratch (reproduce: $build/tests/fuzz/fuzz_TARGET FILE)"
  exit 1
fi
[ -z "${COR_FUZZ_SCRATCH:-}" ] && rm -rf "$scratch"
exit 0
