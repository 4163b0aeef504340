#!/usr/bin/env bash
# test_corctl.sh — corctl against real daemons on loopback: a cor-oms and
# one cor-kernel (k1, built-in Echo class; k2 joins for migrate, k3 for
# --advertise). Exercises every command (ping, nodes, objects, create,
# describe, call, migrate, delete), --json, COR_OMS, and every kind of bad
# input (corctl's, and cor-kernel's --advertise), checking exit codes
# (0 ok, 1 call failed, 2 bad usage or input) and the messages a user reads.
#
#   test_corctl.sh PATH/cor-oms PATH/cor-kernel PATH/corctl
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 COR_OMS COR_KERNEL CORCTL" >&2
    exit 2
fi
OMS_BIN=$1
KERNEL_BIN=$2
CORCTL=$3

T=$(mktemp -d "${TMPDIR:-/tmp}/cor-corctl-XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
CHECKS=0
fail() {
    echo "FAIL: $*" >&2
    echo "  command: corctl ${LAST[*]}" >&2
    echo "  exit:    $RC" >&2
    sed 's/^/  stdout:  /' "$T/out" >&2
    sed 's/^/  stderr:  /' "$T/err" >&2
    FAILS=$((FAILS + 1))
}

# Runs corctl against the test OMS; leaves RC, $T/out, $T/err.
run() {
    LAST=("$@")
    set +e
    "$CORCTL" --oms "$OMS_ADDR" "$@" >"$T/out" 2>"$T/err"
    RC=$?
    set -e
}
expect_rc() {
    CHECKS=$((CHECKS + 1))
    [ "$RC" -eq "$1" ] || fail "expected exit $1"
}
expect_out() {
    CHECKS=$((CHECKS + 1))
    grep -qE -- "$1" "$T/out" || fail "stdout lacks /$1/"
}
expect_no_out() {
    CHECKS=$((CHECKS + 1))
    ! grep -qE -- "$1" "$T/out" || fail "stdout has /$1/"
}
expect_err() {
    CHECKS=$((CHECKS + 1))
    grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1'"
}
expect_json() {
    CHECKS=$((CHECKS + 1))
    if command -v python3 >/dev/null; then
        python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" 2>/dev/null ||
            fail "stdout is not JSON"
    fi
}

# Waits for a "ready ..." line in file $1 (process $2) for up to 15 s.
wait_ready() {
    for _ in $(seq 150); do
        if grep -q '^ready ' "$1"; then
            return 0
        fi
        if ! kill -0 "$2" 2>/dev/null; then
            echo "FAIL: $1's process exited before it was ready" >&2
            cat "${1%.out}.err" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    echo "FAIL: no ready line in $1" >&2
    exit 1
}

# ---- the cluster ----
"$OMS_BIN" --listen 127.0.0.1:0 --data-dir "$T/data" >"$T/oms.out" 2>"$T/oms.err" &
PIDS+=($!)
wait_ready "$T/oms.out" "${PIDS[0]}"
OMS_ADDR=$(sed -n 's/^ready listen=\([^ ]*\).*/\1/p' "$T/oms.out")
[ -n "$OMS_ADDR" ] || { echo "FAIL: no listen= in the OMS's ready line" >&2; exit 1; }

"$KERNEL_BIN" --oms "$OMS_ADDR" --name k1 --listen 127.0.0.1:0 --unix "$T/k1.sock" \
    --label zone=a --builtin echo --data-dir "$T/k1-data" >"$T/k1.out" 2>"$T/k1.err" &
PIDS+=($!)
wait_ready "$T/k1.out" "${PIDS[1]}"

# ---- ping, nodes ----
run ping
expect_rc 0
expect_out "^OMS $OMS_ADDR: version "

run --json ping
expect_rc 0
expect_json
expect_out '"version": '

# COR_OMS is the default address; --oms wins over it.
set +e
COR_OMS=$OMS_ADDR "$CORCTL" ping >"$T/out" 2>"$T/err"
RC=$?
set -e
LAST=(ping "(COR_OMS=$OMS_ADDR)")
expect_rc 0
expect_out "^OMS $OMS_ADDR: version "

run nodes
expect_rc 0
expect_out '^NAME +STATE +INCARNATION +ADDRESS +LABELS +OBJECTS +CAPACITY +LAST-HEARTBEAT +CLASSES$'
expect_out '^k1 +ALIVE +1 +127\.0\.0\.1:[0-9]+ +zone=a +0 +- +[0-9.]+s ago +1$'

run nodes --json
expect_rc 0
expect_json
expect_out '"name": "k1"'
expect_out '"state": "NODE_ALIVE"'
expect_out '"zone": "a"'

# ---- create ----
run create echo.Echo --name e1 --args '{"start": 10}'
expect_rc 0
expect_out '^[0-9a-f]{32}$'
ID=$(cat "$T/out")

run --json create echo.Echo --name e2 --selector zone=a
expect_rc 0
expect_json
expect_out '"id": "[0-9a-f]{32}"'
expect_out '"name": "e2"'
expect_out '"selector": "zone=a"'
expect_out '"node": "k1"'

# constructor arguments as hex: a packed echo.EchoArgs{start: 5}
run create echo.Echo --name e3 --args-hex 0805
expect_rc 0

# ---- objects ----
run objects
expect_rc 0
expect_out '^ID +NAME +CLASS +NODE +STATE +EPOCH$'
expect_out "^$ID +e1 +echo\\.Echo +k1 +ACTIVE +[0-9]+$"
expect_out ' e2 +echo\.Echo '
expect_out ' e3 +echo\.Echo '

run objects --class echo.Echo --node k1
expect_rc 0
expect_out "^$ID +e1 "

run objects --node nosuch
expect_rc 0
expect_no_out 'echo\.Echo'

run --json objects
expect_rc 0
expect_json
expect_out "\"id\": \"$ID\""
expect_out '"className": "echo.Echo"'

# ---- describe ----
for obj in e1 "$ID"; do
    run describe "$obj"
    expect_rc 0
    expect_out "^id: +$ID$"
    expect_out '^name: +e1$'
    expect_out '^class: +echo\.Echo$'
    expect_out '^created: +[0-9]{4}-[0-9]{2}-[0-9]{2} '
    expect_out '^NODE +ADDRESS +NODE-STATE +STATE +EPOCH +INCARNATION$'
    expect_out '^k1 +127\.0\.0\.1:[0-9]+ +ALIVE +ACTIVE +[0-9]+ +1$'
done

run --json describe e1
expect_rc 0
expect_json
expect_out "\"id\": \"$ID\""
expect_out '"nodeState": "NODE_ALIVE"'

# ---- call ----
run call e1 Add '{"delta": 5}'
expect_rc 0
expect_out '"total": "15"'

run call "$ID" Add '{"delta": "-3"}'
expect_rc 0
expect_out '"total": "12"'

run call e1 Say '{"text": "hi", "blob": "AAEC"}'
expect_rc 0
expect_out '"text": "hi"'
expect_out '"blob": "AAEC"'

run --json call e1 Sleep '{"ms": 1}'
expect_rc 0
expect_json
expect_out '^\{"sleptMs":1\}$'

# No JSON means an empty request.
run call e3 Add
expect_rc 0
expect_out '"total": "5"'

# ---- bad input: exit 2, and nothing is sent ----
run call e1 Add '{"delta": '
expect_rc 2
expect_err 'malformed JSON'
expect_err 'nothing was sent'

run call e1 Add '{"delta": "abc"}'
expect_rc 2
expect_err 'corctl: echo.Echo.Add request (echo.AddRequest): field "delta": expected an integer, got "abc"'

run call e1 Add '{"delta": 1.5}'
expect_rc 2
expect_err 'field "delta": expected an integer, got 1.5'

run call e1 Add '{"nope": 1}'
expect_rc 2
expect_err 'field "nope": no such field in echo.AddRequest'

run call e1 Add '[1]'
expect_rc 2
expect_err 'expected a JSON object for echo.AddRequest'

run call e1 Say '{"blob": "***"}'
expect_rc 2
expect_err 'field "blob": invalid base64'

run call e1 Sleep '{"ms": -1}'
expect_rc 2
expect_err 'field "ms": -1 is out of range for uint32'

# ... none of which reached the object: its total is still 12.
run call e1 Add '{}'
expect_rc 0
expect_out '"total": "12"'

run call e1 Nope '{}'
expect_rc 2
expect_err 'corctl: echo.Echo has no method "Nope"; its methods: Say, Add, Sleep'

run call e1
expect_rc 2
expect_err 'call: needs an object and a method'
expect_err 'usage: corctl [OPTIONS] call OBJ METHOD [JSON]'

run create echo.Echo --selector 'zone=='
expect_rc 2
expect_err "bad --selector 'zone=='"
expect_err 'usage: corctl [OPTIONS] create CLASS'

run create echo.Echo --args '{"start": "many"}'
expect_rc 2
expect_err '--args (echo.EchoArgs): field "start": expected an integer, got "many"'

run create echo.Echo --args-hex 0z
expect_rc 2
expect_err '--args-hex'

run create no.Such --args '{}'
expect_rc 2
expect_err 'corctl does not know class no.Such'

run create echo.Echo --args '{}' --args-hex 00
expect_rc 2
expect_err 'not both'

run objects --color red
expect_rc 2
expect_err "objects: unknown option '--color'"

run describe
expect_rc 2
expect_err 'describe: which object?'

run frobnicate
expect_rc 2
expect_err "unknown command 'frobnicate' (nodes, objects, create, describe, call, delete, migrate, ping)"
expect_err 'usage: corctl'

run --timeout soon ping
expect_rc 2
expect_err "--timeout needs a number of milliseconds"

set +e
"$CORCTL" >"$T/out" 2>"$T/err"
RC=$?
set -e
LAST=("(no arguments)")
expect_rc 2
expect_err 'no command given'

run --help
expect_rc 0
expect_out 'call OBJ METHOD \[JSON\]'

# ---- the server refuses: exit 1 ----
run describe 00000000000000000000000000000001
expect_rc 1
expect_err 'corctl: no object 00000000000000000000000000000001'

run call 00000000000000000000000000000001 Say '{}'
expect_rc 1
expect_err 'corctl: no object 00000000000000000000000000000001'

run call nosuch Say '{}'
expect_rc 1
expect_err "corctl: no object named 'nosuch'"

run create echo.Echo --selector zone=b
expect_rc 1
expect_err "none matches selector 'zone=b'"

run create no.Such
expect_rc 1
expect_err 'no kernel server hosts class no.Such'

run create echo.Echo --name e1
expect_rc 1
expect_err "an object named 'e1' already exists"

set +e
"$CORCTL" --oms 127.0.0.1:1 --timeout 2000 ping >"$T/out" 2>"$T/err"
RC=$?
set -e
LAST=(--oms 127.0.0.1:1 ping)
expect_rc 1
expect_err 'corctl: OMS at 127.0.0.1:1: '

# ---- migrate (a second kernel server, zone=b, joins) ----
"$KERNEL_BIN" --oms "$OMS_ADDR" --name k2 --listen 127.0.0.1:0 --unix "$T/k2.sock" \
    --label zone=b --builtin echo --data-dir "$T/k2-data" >"$T/k2.out" 2>"$T/k2.err" &
PIDS+=($!)
wait_ready "$T/k2.out" "${PIDS[2]}"

run call e1 Add '{"delta": 0}'
expect_rc 0
BEFORE=$(sed -n 's/^ *"total": "\([0-9-]*\)".*/\1/p' "$T/out")

run migrate e1 --to k2
expect_rc 0
expect_out '^moving e1 \.\.\.$'
expect_out '^moved e1 from k1 to k2: [0-9]+ bytes of state, 0 pre-copy rounds, [0-9]+ bytes sent, calls frozen [0-9.]+ ms, [0-9.]+ ms in all, epoch [0-9]+$'

run call e1 Add '{"delta": 0}'
expect_rc 0
expect_out "\"total\": \"$BEFORE\""

run describe e1
expect_rc 0
expect_out '^k2 +127\.0\.0\.1:[0-9]+ +ALIVE +ACTIVE '

run --json migrate e1 --selector zone=a
expect_rc 0
expect_json
expect_out '"from": "k2"'
expect_out '"to": "k1"'

run migrate e1 --to k1
expect_rc 1
expect_err 'is already on k1'

# A large state is copied while the object serves, then what changed.
run call e1 Fill '{"bytes": "16777216", "seed": 3}'
expect_rc 0
run call e1 Digest
expect_rc 0
DIGEST=$(sed -n 's/^ *"fnv1a": "\([0-9]*\)".*/\1/p' "$T/out")
run migrate e1 --to k2
expect_rc 0
expect_out '^moved e1 from k1 to k2: 167772[0-9]+ bytes of state, [1-9][0-9]* pre-copy rounds, '
run call e1 Digest
expect_rc 0
expect_out "\"fnv1a\": \"$DIGEST\""
run migrate e1 --to k1
expect_rc 0

run migrate e1 --to nosuch
expect_rc 1
expect_err "no kernel server named 'nosuch'"

run migrate e1
expect_rc 2
expect_err 'give --to NODE or --selector LABELS'

run migrate e1 --to k2 --selector zone=b
expect_rc 2
expect_err 'give --to NODE or --selector LABELS'

run migrate e1 --selector 'zone=='
expect_rc 2
expect_err "bad --selector 'zone=='"

run migrate
expect_rc 2
expect_err 'migrate: which object?'

# Every refusal left it where it was, with its state.
run call e1 Add '{"delta": 0}'
expect_rc 0
expect_out "\"total\": \"$BEFORE\""
run describe e1
expect_out '^k1 +127\.0\.0\.1:[0-9]+ +ALIVE +ACTIVE '

# ---- delete ----
run delete e1
expect_rc 0
expect_out '^deleted e1$'

run --json delete "$(
    "$CORCTL" --oms "$OMS_ADDR" --json describe e2 | sed -n 's/^  "id": "\([0-9a-f]*\)",$/\1/p'
)"
expect_rc 0
expect_json
expect_out '"deleted": "[0-9a-f]{32}"'

run describe e1
expect_rc 1
expect_err "no object named 'e1'"

run call "$ID" Say '{}'
expect_rc 1
expect_err "no object $ID"

run delete e1
expect_rc 1
expect_err "no object named 'e1'"

run objects
expect_rc 0
expect_no_out ' e1 '
expect_no_out ' e2 '
expect_out ' e3 '

# ---- a ConsensusRSM object: describe shows each replica's Raft view ----
run create echo.Echo --name rep --dm 'ConsensusRSM(replicas=2)'
expect_rc 0
run call rep Add '{"delta": 5}'
expect_rc 0
expect_out '"total": "5"'
run describe rep
expect_rc 0
expect_out '^raft '
expect_out '^NODE +ROLE +TERM +COMMIT +APPLIED +LOG-END +SNAPSHOT +LAG$'
expect_out '^k[12] +leader +[1-9][0-9]* '
expect_out '^k[12] +follower +[1-9][0-9]* '
run --json describe rep
expect_rc 0
expect_json
expect_out '"raft": '
expect_out '"role": "leader"'
# Moving one replica: the target is named with --to; one that already
# holds a replica, or a node holding none, is refused and nothing moves.
run migrate rep --replica k1
expect_rc 2
expect_err 'give the target with --to NODE'
run migrate rep --replica k1 --to k2
expect_rc 1
expect_err 'already holds a replica'
run migrate rep --replica nosuch --to k2
expect_rc 1
expect_err "no live replica on 'nosuch'"
run describe rep
expect_rc 0
expect_out '^k1 +leader|^k1 +follower'
expect_out '^k2 +leader|^k2 +follower'
# One replica is a group of one: it forms (its set is sent even alone).
run create echo.Echo --name solo --dm 'ConsensusRSM(replicas=1)'
expect_rc 0
run call solo Add '{"delta": 2}'
expect_rc 0
expect_out '"total": "2"'
run delete solo
expect_rc 0
# Three replicas cannot be placed on two kernel servers: refused, nothing made.
run create echo.Echo --name rep3 --dm 'ConsensusRSM(replicas=3)'
expect_rc 1
expect_err 'could be made'
run describe rep3
expect_rc 1
run delete rep
expect_rc 0

# ---- cor-kernel: --advertise ----
# Bad values are refused at start, naming the setting, exit 2.
run_kernel() {
    LAST=("(cor-kernel)" "$@")
    set +e
    "$KERNEL_BIN" --oms "$OMS_ADDR" --builtin echo --no-unix "$@" >"$T/out" 2>"$T/err"
    RC=$?
    set -e
}
for bad in nohost 127.0.0.1:0 127.0.0.1:65536 :7801 127.0.0.1: '127.0.0.1:80x'; do
    run_kernel --advertise "$bad"
    expect_rc 2
    expect_err "cor-kernel: advertise must be HOST:PORT with a port in 1..65535"
    expect_err "not '$bad'"
done
printf 'advertise = 127.0.0.1:0\n' >"$T/bad.conf"
run_kernel --config "$T/bad.conf"
expect_rc 2
expect_err "config $T/bad.conf:1: advertise must be HOST:PORT"

# A good one is what the OMS records and hands out; the kernel still
# listens where --listen says and says so. (Last: objects placed on k3
# would be unreachable, nothing listens at its advertised address.)
"$KERNEL_BIN" --oms "$OMS_ADDR" --name k3 --listen 127.0.0.1:0 --no-unix \
    --advertise 127.0.0.1:9 --label zone=c --builtin echo >"$T/k3.out" 2>"$T/k3.err" &
PIDS+=($!)
wait_ready "$T/k3.out" "${PIDS[3]}"
CHECKS=$((CHECKS + 1))
grep -qE '^ready name=k3 tcp=127\.0\.0\.1:9 .* listen=127\.0\.0\.1:[0-9]+$' "$T/k3.out" ||
    { RC=0; cp "$T/k3.out" "$T/out"; : >"$T/err"; LAST=("(k3's ready line)"); fail "k3's ready line"; }
run nodes
expect_rc 0
expect_out '^k3 +ALIVE +1 +127\.0\.0\.1:9 +zone=c '

if [ "$FAILS" -ne 0 ]; then
    echo "test_corctl: $FAILS of $CHECKS checks failed" >&2
    exit 1
fi
echo "test_corctl: all $CHECKS checks passed"
