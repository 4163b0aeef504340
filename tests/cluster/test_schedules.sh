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
#    report a violation, for the counter and for the registers;
# 4. the counter on a ConsensusRSM(replicas=3) object (--rsm: overlapping
#    faults, the leader's kernel, the OMS killed): seeds 1..3, 6 s each;
# 5. the registers on a ConsensusRSM kv store the same way: seeds 4..6;
# 6. kernels run with COR_TEST_BREAK=ack-before-commit (a Raft leader
#    answers before a majority has the call) under seed 22, whose first
#    step cuts the leader off from its followers while the clients still
#    reach it: cor-check must report an acknowledged add lost. (Without
#    faults nothing is lost, and the break goes unseen.)
# COR_SCHEDULE_SEEDS=A..B and COR_SCHEDULE_SECONDS=S widen 1, 2, 4 and 5
# (the full runs: 1..20 or 1..50, and 20). Exit 0 when all of that holds,
# 1 when not, 77 when the cluster tests cannot run here (not root).
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

step rsm-counter --seeds "${seeds:-1..3}" --duration "$secs" --model counter --rsm || fail=1
step rsm-register --seeds "${seeds:-4..6}" --duration "$secs" --model register --rsm || fail=1

step broken-rsm-counter --seeds 22..22 --duration 4 --model counter --rsm \
    --break ack-before-commit >"$out/broken-rsm-counter.txt" 2>&1
rc=$?
sed 's/^/  /' "$out/broken-rsm-counter.txt"
if [ $rc -ne 1 ] || ! grep -q 'reason: cor-check found a violation' "$out/broken-rsm-counter.txt" ||
    ! grep -q 'an acknowledged add was lost' "$out/broken-rsm-counter/seed-22.check"; then
    echo "FAIL: with COR_TEST_BREAK=ack-before-commit the checker did not report a lost add"
    fail=1
else
    echo "ok: the broken Raft leader's counter history fails the checker, as it must"
fi
if [ $fail -eq 0 ]; then
    rm -rf "$out"
    echo "test_schedules: all passed"
else
    echo "test_schedules: FAILED (logs in $out)"
fi
exit $fail
