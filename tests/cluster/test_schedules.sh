#!/usr/bin/env bash
# test_schedules.sh — CI's seeded subset of the fault schedules
# (run_schedules.sh, docs/cluster-tests.md), then the proof that the
# checker can fail.
#
#   test_schedules.sh BUILD_DIR
#
# 1. counter on an echo object, faults and moves: seeds 1..3, 6 s each;
# 2. registers on a kv store, faults and moves: seeds 1..2, 6 s each;
# 3. kernels run with COR_TEST_BREAK=keep-source (a moved object's source
#    serves on: two live copies) and moves but no faults: cor-check must
#    report a violation, for the counter and for the registers.
# COR_SCHEDULE_SEEDS=A..B and COR_SCHEDULE_SECONDS=S widen 1 and 2 (the
# full run: 1..20 and 20). Exit 0 when all of that holds, 1 when not, 77
# when the cluster tests cannot run here (not root).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=$1
seeds=${COR_SCHEDULE_SEEDS:-}
secs=${COR_SCHEDULE_SECONDS:-6}
out=$(mktemp -d "${TMPDIR:-/tmp}/cor-sched-test-XXXXXX")
fail=0

step() { # step NAME ARGS...: one run_schedules.sh run; its exit code
    local name=$1
    shift
    echo "== $name"
    bash "$here/run_schedules.sh" "$B" --out "$out/$name" "$@"
}

step counter --seeds "${seeds:-1..3}" --duration "$secs" --model counter
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail=1
step register --seeds "${seeds:-1..2}" --duration "$secs" --model register || fail=1

for model in counter register; do
    step "broken-$model" --seeds 1..1 --duration 4 --model "$model" --no-faults \
        --break keep-source >"$out/broken-$model.txt" 2>&1
    rc=$?
    sed 's/^/  /' "$out/broken-$model.txt"
    if [ $rc -ne 1 ] || ! grep -q 'reason: cor-check found a violation' "$out/broken-$model.txt"; then
        echo "FAIL: with COR_TEST_BREAK=keep-source the $model checker did not report a violation"
        fail=1
    else
        echo "ok: the broken build's $model history fails the checker, as it must"
    fi
done
if [ $fail -eq 0 ]; then
    rm -rf "$out"
    echo "test_schedules: all passed"
else
    echo "test_schedules: FAILED (logs in $out)"
fi
exit $fail
