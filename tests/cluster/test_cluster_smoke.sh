#!/usr/bin/env bash
# test_cluster_smoke.sh — the namespace harness end to end: cor-oms and three
# kernels on separate hosts (k1 direct, k2 "edge" 10 ms RTT and k3 "mobile"
# 80 ms RTT behind cor-delayproxy), corctl from a client host.
#   - every kernel registers; the OMS hands out the proxies' addresses;
#   - echo objects on each kernel answer; a call to k3 takes at least its
#     80 ms RTT (a lower bound: the delay is added by construction);
#   - kill -9 k1: the OMS marks it DEAD, its object's calls fail; restarted,
#     it is ALIVE again with a new incarnation;
#   - cut k2's link: DEAD, calls fail; healed: ALIVE, same incarnation, its
#     object intact;
#   - a seeded fault schedule while a loop of corctl calls runs; afterwards
#     every kernel is ALIVE and hosts new objects that answer;
#   - teardown leaves no namespace and no process behind.
# Needs root (network namespaces): otherwise prints SKIPPED and exits 77.
#
#   test_cluster_smoke.sh COR_OMS COR_KERNEL CORCTL COR_DELAYPROXY [SEED]
set -uo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 COR_OMS COR_KERNEL CORCTL COR_DELAYPROXY [SEED]" >&2
    exit 2
fi
OMS_BIN=$1 KERNEL_BIN=$2 CORCTL=$3 PROXY_BIN=$4
SEED=${5:-$((($$ + $(date +%s)) % 100000))}
. "$(dirname "$0")/lib.sh"
export GRPC_DNS_RESOLVER=native COR_LOG=warn

passes=0 fails=0
ok() { passes=$((passes + 1)); cl_log "ok: $*"; }
bad() { fails=$((fails + 1)); cl_log "FAIL: $*"; }

# ctl ARGS...: corctl on the client host; output in $OUT, status in $RC.
ctl() {
    OUT=$(cl_exec client "$CORCTL" --oms "$CL_OMS" --timeout 3000 "$@" 2>&1)
    RC=$?
}

# node_state NAME: its STATE column in `corctl nodes` ("" if absent).
node_state() {
    ctl nodes
    awk -v n="$1" '$1 == n { print $2 }' <<<"$OUT"
}
node_field() { # NAME COLUMN
    ctl nodes
    awk -v n="$1" -v c="$2" '$1 == n { print $c }' <<<"$OUT"
}

# wait_state NAME STATE: polls `corctl nodes` for up to 30 s.
wait_state() {
    for _ in $(seq 150); do
        [ "$(node_state "$1")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

cl_init
cl_start_oms "$OMS_BIN"
cl_start_kernel "$KERNEL_BIN" "$PROXY_BIN" k1 11 0
cl_start_kernel "$KERNEL_BIN" "$PROXY_BIN" k2 12 5
cl_start_kernel "$KERNEL_BIN" "$PROXY_BIN" k3 13 40
cl_host client 100

# ---- membership ----
for k in k1 k2 k3; do
    want=$(cl_addr $k):$CL_PORT
    [ "$(node_state $k)" = ALIVE ] && [ "$(node_field $k 4)" = "$want" ] &&
        ok "$k is ALIVE at $want" || bad "$k is not ALIVE at $want in corctl nodes: $OUT"
done
grep -q 'listen=127.0.0.1:7811' "$CL_DIR/k3.log" && ok "k3 listens on loopback behind its proxy" ||
    bad "k3's ready line lacks listen=127.0.0.1:7811: $(grep ^ready "$CL_DIR/k3.log")"

# ---- calls, through the proxies ----
for k in k1 k2 k3; do
    ctl create echo.Echo --name "e-$k" --selector "host=$k" --args '{"start": 100}'
    [ $RC -eq 0 ] && ok "created e-$k on $k" || bad "corctl create e-$k: $OUT"
done
ctl call e-k2 Add '{"delta": 1}'
[ $RC -eq 0 ] && grep -q '"total": "101"' <<<"$OUT" && ok "e-k2 answers through the edge proxy" ||
    bad "call e-k2 Add: exit $RC: $OUT"
t0=$(date +%s%N)
ctl call e-k3 Add '{"delta": 1}'
ms=$((($(date +%s%N) - t0) / 1000000))
[ $RC -eq 0 ] && grep -q '"total": "101"' <<<"$OUT" && ok "e-k3 answers through the mobile proxy" ||
    bad "call e-k3 Add: exit $RC: $OUT"
[ $ms -ge 80 ] && ok "a call to k3 took $ms ms >= its 80 ms RTT" ||
    bad "a call to k3 took $ms ms, less than the 80 ms RTT of its proxy: did it bypass the proxy?"

# ---- kill -9 and restart ----
cl_kill k1
wait_state k1 DEAD && ok "the OMS marked k1 DEAD after kill -9" ||
    bad "k1 is not DEAD 30 s after kill -9: $OUT"
ctl call e-k1 Add '{"delta": 1}'
[ $RC -eq 1 ] && ok "a call to e-k1 fails while k1 is dead ($(head -1 <<<"$OUT"))" ||
    bad "call e-k1 with k1 dead: exit $RC (want 1): $OUT"
cl_restart k1 || bad "k1 did not restart"
wait_state k1 ALIVE && [ "$(node_field k1 3)" = 2 ] && ok "k1 ALIVE again, incarnation 2" ||
    bad "k1 not ALIVE with incarnation 2 after restart: $OUT"

# ---- cut and heal ----
cl_cut k2
wait_state k2 DEAD && ok "k2 DEAD while its link is cut" || bad "k2 not DEAD 30 s after the cut: $OUT"
ctl --timeout 2000 call e-k2 Add '{"delta": 1}'
[ $RC -ne 0 ] && ok "a call to e-k2 fails while cut (exit $RC)" || bad "call e-k2 succeeded across a cut link: $OUT"
cl_heal k2
wait_state k2 ALIVE && [ "$(node_field k2 3)" = 1 ] && ok "k2 ALIVE again after the heal, same incarnation" ||
    bad "k2 not ALIVE (incarnation 1) after the heal: $OUT"
ctl call e-k2 Add '{"delta": 1}'
[ $RC -eq 0 ] && grep -q '"total": "10[12]"' <<<"$OUT" && ok "e-k2 kept its state across the partition" ||
    bad "call e-k2 after the heal: exit $RC: $OUT"

# ---- a seeded schedule under load ----
calls=$CL_DIR/calls
cl_log "schedule seed $SEED (replay: $0 ... $SEED)"
(
    for i in $(seq 2000); do
        [ -e "$CL_DIR/stop" ] && break
        cl_exec client "$CORCTL" --oms "$CL_OMS" --timeout 2000 call e-k3 Add '{"delta": 1}' >/dev/null 2>&1
        echo "$i $?" >>"$calls"
    done
) &
loop=$!
CL_PIDS+=("$loop")
for _ in $(seq 300); do [ -s "$calls" ] && break; sleep 0.1; done
cl_schedule "$SEED" 6 && ok "schedule $SEED ran and healed" || bad "schedule $SEED failed (see $CL_LOG)"
touch "$CL_DIR/stop"
wait "$loop"
n=$(wc -l <"$calls")
good=$(awk '$2 == 0' "$calls" | wc -l)
[ "$n" -ge 1 ] && [ "$good" -ge 1 ] && ok "the call loop ran through the schedule: $good of $n calls succeeded" ||
    bad "the call loop made $n calls, $good succeeded (want at least one)"
for k in k1 k2 k3; do
    wait_state $k ALIVE && ok "$k ALIVE after the schedule" || bad "$k not ALIVE after the schedule: $OUT"
    ctl create echo.Echo --selector "host=$k" --args '{"start": 1}'
    id=$OUT
    ctl call "$id" Add '{"delta": 1}'
    [ $RC -eq 0 ] && grep -q '"total": "2"' <<<"$OUT" && ok "a new object on $k answers after the schedule" ||
        bad "new object on $k after the schedule: exit $RC: $OUT"
done

# ---- teardown ----
ns=$CL_NS
pids=("${CL_PIDS[@]}")
dir=$CL_DIR
CL_KEEP=1 cl_teardown
left=$(ip netns list | awk '{print $1}' | grep "^$ns-")
[ -z "$left" ] && ok "teardown removed every $ns-* namespace" || bad "namespaces left after teardown: $left"
alive=""
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
[ -z "$alive" ] && ok "teardown ended every process" || bad "processes left after teardown:$alive"

echo "cluster.smoke (seed $SEED): $passes passed, $fails failed"
if [ "$fails" -eq 0 ]; then
    rm -rf "$dir"
else
    echo "logs kept in $dir"
fi
[ "$fails" -eq 0 ]
