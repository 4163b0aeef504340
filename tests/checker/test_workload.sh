#!/usr/bin/env bash
# test_workload.sh — cor-workload against real daemons (a cor-oms and one
# cor-kernel on loopback, no faults), then cor-check on what it recorded:
# each model's history must check out (exit 0). Then the checker must be
# able to fail on a real history: the same files, tampered with so that a
# read returns a value nobody wrote, a final counter read misses or
# exceeds the acknowledged adds, or a final set readall drops a value,
# must exit 1.
#
#   test_workload.sh PATH/cor-oms PATH/cor-kernel PATH/cor-workload PATH/cor-check
set -uo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 COR_OMS COR_KERNEL COR_WORKLOAD COR_CHECK" >&2
  exit 2
fi
oms_bin=$1 kernel_bin=$2 workload=$3 check=$4
export GRPC_DNS_RESOLVER=native COR_LOG=warn
work=$(mktemp -d "${TMPDIR:-/tmp}/cor-workload.XXXXXX")
pids=()
passes=0 fails=0
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start() { # name cmd...
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q '^ready' "$work/$name.out" && return 0; sleep 0.1; done
  echo "FATAL: $name did not start"; cat "$work/$name.log"; exit 1
}
# expect DESC WANT_EXIT CMD... : runs CMD and checks its exit code.
expect() {
  local desc=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ]; then
    passes=$((passes + 1))
  else
    fails=$((fails + 1))
    echo "FAIL: $desc: exit $rc (want $want), output:"; head -40 <<<"$out" | sed 's/^/    /'
  fi
}
# tamper_last IN OUT PATTERN SED_SUBST: applies s/SED_SUBST/ to the last
# line of IN matching PATTERN (the final reads are the file's last lines).
tamper_last() {
  local in=$1 out=$2 pat=$3 sub=$4
  local n
  n=$(grep -n -- "$pat" "$in" | tail -1 | cut -d: -f1)
  if [ -z "$n" ]; then echo "FAIL: no line matching $pat in $in"; fails=$((fails + 1)); return 1; fi
  sed -E "${n}s/$sub/" "$in" >"$out"
}

start oms "$oms_bin" --listen 127.0.0.1:0 --data-dir "$work/oms" --sync never \
  --heartbeat-interval-ms 200 --heartbeat-timeout-ms 1000
oms=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$work/oms.out")
start k1 "$kernel_bin" --oms "$oms" --name k1 --unix "$work/k1.sock" --builtin all

for model in register counter set; do
  h=$work/$model.hist
  expect "workload $model" 0 "$workload" --oms "$oms" --model "$model" --clients 4 \
    --duration-ms 3000 --keys 3 --seed 42 --out "$h"
  if ! grep -q "op=" "$h" 2>/dev/null; then
    echo "FAIL: $model history is empty"; fails=$((fails + 1)); continue
  fi
  expect "check $model" 0 "$check" --model "$model" "$h"
done

expect "usage error exits 2" 2 "$workload" --oms "$oms" --model queue --clients 1 \
  --duration-ms 1 --out "$work/x.hist"

# Tampered real histories must fail.
if tamper_last "$work/register.hist" "$work/t1.hist" 'op=read ret=' 'ret=-?[0-9]+/ret=-7/'; then
  expect "register: read of a value never written" 1 "$check" --model register "$work/t1.hist"
fi
if tamper_last "$work/counter.hist" "$work/t2.hist" 'op=read ret=' 'ret=[0-9]+/ret=0/'; then
  expect "counter: final read loses acknowledged adds" 1 "$check" --model counter "$work/t2.hist"
fi
if tamper_last "$work/counter.hist" "$work/t3.hist" 'op=read ret=' 'ret=([0-9]+)/ret=\19999999/'; then
  expect "counter: final read above every attempted add" 1 "$check" --model counter "$work/t3.hist"
fi
if tamper_last "$work/set.hist" "$work/t4.hist" 'op=readall ret=[0-9]' 'ret=[0-9]+,?/ret=/'; then
  expect "set: final readall drops an acknowledged insert" 1 "$check" --model set "$work/t4.hist"
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
