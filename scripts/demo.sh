#!/usr/bin/env bash
# scripts/demo.sh — set up, build, and run a small Corundum cluster on
# loopback (README's first command): an OMS and three kernel servers as
# separate processes, objects of both example apps created and called
# through generated stubs, placement shown with corctl, a live migration, a
# replicated counter outliving its leader (which then rejoins), one kernel
# server killed and the OMS restoring what it hosted, then a clean shutdown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GRPC_DNS_RESOLVER=native COR_LOG=warn
b="$root/build"

echo "== building (the first run installs packages and takes a few minutes)"
COR_BUILD_DIR="$b" bash scripts/build.sh

work=$(mktemp -d /tmp/corundum-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME CMD... : runs a daemon, waits for its "ready" line, prints it.
start() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 1 100); do
    grep -q '^ready' "$work/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^ready' "$work/$name.out" || { echo "$name did not start:"; cat "$work/$name.log"; exit 1; }
  printf '   %-4s %s\n' "$name" "$(head -n1 "$work/$name.out")"
}
show() { echo "   \$ $*"; "$@" 2>&1 | sed 's/^/     /'; }

echo
echo "== starting the OMS and three kernel servers (separate processes)"
start oms "$b/oms/cor-oms" --listen 127.0.0.1:0 --data-dir "$work/oms" \
  --heartbeat-interval-ms 300 --heartbeat-timeout-ms 1500
oms=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$work/oms.out")
export COR_OMS=$oms
# start_kernel NAME: each kernel server as the demo runs it (again after a kill).
start_kernel() {
  local extra
  case $1 in
    k1) extra=(--label region=eu --label device-class=cloud --builtin all) ;;
    k2) extra=(--label region=eu --label device-class=edge --builtin echo
               --module "$b/apps/kv/libcor-kv.so" --module "$b/apps/social/libcor-social.so") ;;
    k3) extra=(--label region=us --label device-class=cloud --builtin all) ;;
  esac
  start "$1" "$b/kernel-server/cor-kernel" --oms "$oms" --name "$1" --unix "$work/$1.sock" \
    --data-dir "$work/$1-data" "${extra[@]}"
}
start_kernel k1
start_kernel k2
start_kernel k3
echo "   (k2 loads the kv and social classes from shared-library modules;"
echo "    k1 and k3 have them linked in)"
echo
show "$b/cli/corctl" nodes

echo
echo "== a key-value store, placed in the US by a selector, called by name"
"$b/cli/corctl" create kv.KeyValueStore --name inventory --selector region=us >/dev/null
show "$b/apps/kv/cor-kv" put inventory apples 12
show "$b/apps/kv/cor-kv" put inventory pears 7
show "$b/apps/kv/cor-kv" scan inventory
echo "   ... and called without writing any C, JSON in and out:"
show "$b/cli/corctl" call inventory Get '{"key": "pears"}'
echo "   (JSON carries bytes fields in base64: \"Nw==\" is \"7\")"

echo
echo "== a small social network: User objects hold refs to each other"
show "$b/apps/social/cor-social" adduser alice "Alice"
show "$b/apps/social/cor-social" adduser bob "Bob"
show "$b/apps/social/cor-social" adduser carol "Carol"
"$b/apps/social/cor-social" follow alice bob | sed 's/^/   /'
"$b/apps/social/cor-social" follow alice carol | sed 's/^/   /'
"$b/apps/social/cor-social" post bob "the edge is closer than you think" >/dev/null
"$b/apps/social/cor-social" post carol "replicas all the way down" >/dev/null
"$b/apps/social/cor-social" post bob "hello from a kernel server" >/dev/null
echo "   alice follows bob and carol; her timeline calls their User objects,"
echo "   wherever the OMS placed them:"
show "$b/apps/social/cor-social" timeline alice

echo
echo "== where everything lives"
show "$b/cli/corctl" objects
show "$b/cli/corctl" describe user/alice

echo
echo "== live migration: a counter moves between kernel servers, state and all"
"$b/cli/corctl" create echo.Echo --name counter >/dev/null
at=$("$b/cli/corctl" --json describe counter | sed -n 's/.*"node": *"\([^"]*\)".*/\1/p' | head -n1)
dest=k1; [ "$at" = k1 ] && dest=k3
show "$b/cli/corctl" call counter Add '{"delta": 41}'
echo "   it lives on $at; move it to $dest while it is in use:"
show "$b/cli/corctl" migrate counter --to "$dest"
show "$b/cli/corctl" call counter Add '{"delta": 1}'
"$b/cli/corctl" describe counter | sed -n '/^moves/,$p' | sed 's/^/     /'
echo "   (the old place answers late callers with a redirect and they follow;"
echo "    tests/integration/test_migrate.c moves one 100 times under load)"
echo "   a 32 MiB object is copied while it keeps serving, then frozen only"
echo "   for what changed meanwhile (pre-copy):"
"$b/cli/corctl" call counter Fill '{"bytes": "33554432", "seed": 7}' >/dev/null
show "$b/cli/corctl" migrate counter --to "$at"

echo
echo "== a replicated counter: ConsensusRSM keeps it through kill -9 of its leader"
"$b/cli/corctl" create echo.Echo --name ledger --dm 'ConsensusRSM(replicas=3)' >/dev/null
for d in 5 10 25; do "$b/cli/corctl" call ledger Add "{\"delta\": $d}" >/dev/null; done
show "$b/cli/corctl" call ledger Add '{"delta": 1}'
echo "   three replicas, one per kernel server; each call is in a Raft log on a"
echo "   majority of them (fsync) before it is answered:"
"$b/cli/corctl" describe ledger | sed -n '/^raft/,$p' | sed 's/^/     /'
leader=$("$b/cli/corctl" describe ledger | awk '$2 == "leader" { print $1; exit }')
echo "   killing $leader (kill -9), the leader:"
eval "lpid=\$${leader}_pid"
{ kill -9 "$lpid"; wait "$lpid"; } 2>/dev/null || true
show "$b/cli/corctl" call ledger Add '{"delta": 1}'
echo "   the other two elected a new leader and the total carried on: no write lost"
"$b/cli/corctl" describe ledger | sed -n '/^raft/,$p' | sed 's/^/     /'
echo "   $leader starts again with its data directory: its replica rejoins with its"
echo "   log and catches up from the new leader (nothing is copied whole):"
start_kernel "$leader" >/dev/null
for _ in $(seq 50); do # until it is a follower at the others' commit index
  "$b/cli/corctl" describe ledger | awk -v k="$leader" '
    /^raft/ { on = 1; next } on && $1 == k && $2 == "follower" && $8 == 0 { found = 1 }
    END { exit !found }' && break
  sleep 0.1
done
"$b/cli/corctl" describe ledger | sed -n '/^raft/,$p' | sed 's/^/     /'

echo
echo "== the DM chains the apps declare in their .proto (one line each)"
grep -h 'option (cor.dm_chain)' apps/kv/kv.proto apps/social/social.proto | sed 's/^ */   /'
show "$b/cli/corctl" describe inventory

echo
victim=$("$b/cli/corctl" --json describe user/bob | sed -n 's/.*"node": *"\([^"]*\)".*/\1/p' | head -n1)
sleep 1.2   # let bob's latest posts reach a checkpoint (interval 1s)
echo "== killing kernel server $victim (kill -9), which hosts bob"
eval "vpid=\$${victim}_pid"
{ kill -9 "$vpid"; wait "$vpid"; } 2>/dev/null || true  # reap it quietly
for _ in $(seq 1 100); do
  now=$("$b/cli/corctl" --json describe user/bob | sed -n 's/.*"node": *"\([^"]*\)".*/\1/p' | tail -n1)
  "$b/cli/corctl" nodes | grep -q "^$victim  *DEAD" && [ -n "$now" ] && [ "$now" != "$victim" ] && break
  sleep 0.1
done
show "$b/cli/corctl" nodes
echo "   the OMS noticed, and restored bob on another kernel server from his"
echo "   last checkpoint (PeriodicCheckpoint, declared in social.proto):"
show "$b/cli/corctl" describe user/bob
echo "   alice's timeline reaches bob at his new place:"
show "$b/apps/social/cor-social" timeline alice
grep -h 'restored on' "$work/oms.log" | sed 's/^/   oms log: /' || true

echo
echo "== shutting down (SIGTERM: each daemon drains and exits 0)"
for name in k1 k2 k3 oms; do
  [ "$name" = "$victim" ] && continue
  eval "p=\$${name}_pid"
  kill -TERM "$p"
  if wait "$p"; then echo "   $name exited cleanly"; else echo "   $name exited with $?"; fi
done
pids=()
echo
echo "Demo finished. Next: docs/architecture.md, docs/operations.md, docs/corctl.md."
