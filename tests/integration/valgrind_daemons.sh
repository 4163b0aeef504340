#!/usr/bin/env bash
# valgrind_daemons.sh — cor-oms and two cor-kernels, whole lives under
# valgrind memcheck: registration, heartbeats, objects created and called
# through corctl (kv with its AtLeastOnceRPC table, echo), a live move of a
# 1 MiB echo object (pre-copy, staged copy, tombstone) and back (the old
# tombstone buried and freed on a tick), a deleted object, ConsensusRSM
# objects (one deleted, one alive at the end; k2 stopped and started again
# with its data directory, its replica made again from its Raft store and
# rejoining), then SIGTERM.
# Fails on any memcheck error or leak of ours in any of the three.
#
#   valgrind_daemons.sh OMS_BIN KERNEL_BIN CORCTL_BIN SUPPRESSIONS
set -euo pipefail
oms_bin=$1 kernel_bin=$2 corctl=$3 supp=$4
if ! command -v valgrind >/dev/null; then
  echo "skipped: valgrind is not installed"; exit 77
fi
work=$(mktemp -d /tmp/cor-vgd.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export GRPC_DNS_RESOLVER=native COR_LOG=warn
vg() { # vg NAME CMD...: runs CMD under memcheck, stdout to $work/NAME.out
  local name=$1
  shift
  valgrind --quiet --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
    --suppressions="$supp" --log-file="$work/$name.vg" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}
wait_ready() { # wait_ready NAME
  for _ in $(seq 1 900); do
    grep -q '^ready' "$work/$1.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 never became ready:"; cat "$work/$1.err" "$work/$1.vg"; exit 1
}
fail() { echo "FAIL: $*"; exit 1; }

vg oms "$oms_bin" --listen 127.0.0.1:0 --data-dir "$work/oms" --heartbeat-interval-ms 200 \
  --heartbeat-timeout-ms 5000
wait_ready oms
oms=$(sed -n 's/^ready listen=\([^ ]*\).*/\1/p' "$work/oms.out")
for k in k1 k2; do
  vg "$k" "$kernel_bin" --oms "$oms" --name "$k" --listen 127.0.0.1:0 --no-unix --builtin all \
    --data-dir "$work/$k-data"
done
wait_ready k1
wait_ready k2
ctl() { "$corctl" --oms "$oms" --timeout 60000 "$@"; }
ctl create kv.KeyValueStore --name store >/dev/null || fail "create kv"
ctl call store Put '{"key": "a", "value": "eA=="}' >/dev/null || fail "kv put"
ctl call store Get '{"key": "a"}' | grep -q '"found": true' || fail "kv get"
ctl create echo.Echo --name big >/dev/null || fail "create echo"
ctl call big Fill '{"bytes": "1048576", "seed": 1}' >/dev/null || fail "fill"
at=$(ctl --json describe big | sed -n 's/.*"node": *"\([^"]*\)".*/\1/p' | head -n1)
to=k1; [ "$at" = k1 ] && to=k2
ctl migrate big --to "$to" | grep -q ' pre-copy rounds' || fail "move there"
ctl call big Add '{"delta": 2}' | grep -q '"total": "2"' || fail "call after the move"
ctl migrate big --to "$at" >/dev/null || fail "move back"
ctl migrate store --to "$to" >/dev/null 2>&1 || true # may already be there: either way
ctl call store Get '{"key": "a"}' | grep -q '"found": true' || fail "kv after its move"
ctl create echo.Echo --name gone >/dev/null || fail "create"
ctl delete gone >/dev/null || fail "delete"
# ConsensusRSM: a replicated object kept to the end (its Raft thread, store
# and answer table torn down at SIGTERM) and one deleted (detached while
# its kernel runs).
ctl create echo.Echo --name rep --dm 'ConsensusRSM(replicas=2)' >/dev/null || fail "create replicated"
for _ in 1 2 3; do ctl call rep Add '{"delta": 1}' >/dev/null || fail "replicated add"; done
ctl call rep Add '{"delta": 1}' | grep -q '"total": "4"' || fail "replicated total"
ctl describe rep | grep -q ' leader ' || fail "describe shows the Raft leader"
ctl create echo.Echo --name rep2 --dm 'ConsensusRSM(replicas=2)' >/dev/null || fail "create rep2"
ctl call rep2 Add '{"delta": 1}' >/dev/null || fail "rep2 add"
ctl delete rep2 >/dev/null || fail "delete replicated"
sleep 1.5 # a few ticks: the buried tombstone is freed, reports sent
stop() { # stop INDEX NAME: SIGTERM, then its exit status must be 0
  kill -TERM "${pids[$1]}"
  set +e
  wait "${pids[$1]}"
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    echo "$2 exited $rc under valgrind:"; cat "$work/$2.vg"; tail -20 "$work/$2.err"
    exit 1
  fi
}
# k2 again, with its data directory: rep's replica there is made again from
# its Raft store and rejoins (both replicas are needed for a write).
stop 2 k2
vg k2b "$kernel_bin" --oms "$oms" --name k2 --listen 127.0.0.1:0 --no-unix --builtin all \
  --data-dir "$work/k2-data"
wait_ready k2b
ctl call rep Add '{"delta": 1}' | grep -q '"total": "5"' || fail "replicated total after k2's restart"
stop 3 k2b # kernels first, then the OMS
stop 1 k1
stop 0 oms
echo "valgrind: cor-oms, k1 and both lives of k2 clean (no errors, no leaks)"
