#!/usr/bin/env bash
# run_schedules.sh — correctness under faults, one seed at a time: for each
# seed, bring up the namespace cluster (lib.sh: cor-oms, k1 direct, k2 edge
# 10 ms RTT, k3 mobile 80 ms RTT), run cor-workload from a client host while
# cl_schedule injects that seed's faults, then give the recorded history to
# cor-check. Prints per seed
#
#   seed=N ok (history kept at PATH)
#   seed=N FAIL (history kept at PATH)        followed by the reason
#
# and exits 0 if every seed passed, 1 if any failed. A failing seed is
# replayed with --seeds N..N (same faults in the same order; see
# docs/cluster-tests.md). Needs root; needs cor-workload and cor-check
# (tests/checker or tests/workload in the build): without them, SKIPPED, 77.
#
# While the faults run, a mover moves the workload's object to a random
# kernel every 0.3-1 s (corctl migrate, seeded too); --no-moves turns it
# off. --break keep-source runs kernels built to fail (COR_TEST_BREAK: a
# moved object's source serves on), to show the checker catches it.
#
# --rsm: the object is replicated, ConsensusRSM(replicas=3) (cor-workload
# --dm), every kernel has a data directory of its own, there is no mover
# (a replicated object is not migrated), and the schedule is
# cl_schedule_rsm: faults on the leader too, two at once, and the OMS
# killed. --break ack-before-commit (with --rsm) runs kernels whose Raft
# leader answers a call before a majority has its entry.
#
#   run_schedules.sh BUILD_DIR [--seeds A..B] [--duration S] [--model register|counter|set]
#                    [--clients N] [--out DIR] [--no-moves] [--no-faults] [--rsm]
#                    [--break keep-source|ack-before-commit]
set -uo pipefail
usage() {
    echo "usage: $0 BUILD_DIR [--seeds A..B] [--duration S] [--model register|counter|set]" >&2
    echo "                    [--clients N] [--out DIR] [--no-moves] [--no-faults] [--rsm]" >&2
    echo "                    [--break keep-source|ack-before-commit]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
B=$(cd "$1" && pwd) || usage
shift
FIRST=1 LAST=5 DURATION=20 MODEL=register CLIENTS=4 OUT="" ONE="" MOVES=1 FAULTS=1 BREAK="" RSM=0
RSM_CHAIN="ConsensusRSM(replicas=3)"
while [ $# -gt 0 ]; do
    case $1 in
    --seeds)
        [[ ${2:-} =~ ^([0-9]+)\.\.([0-9]+)$ ]] || { echo "--seeds wants A..B, e.g. 1..10" >&2; usage; }
        FIRST=${BASH_REMATCH[1]} LAST=${BASH_REMATCH[2]}
        shift 2 ;;
    --duration)
        [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "--duration wants whole seconds" >&2; usage; }
        DURATION=$2; shift 2 ;;
    --model)
        [[ ${2:-} =~ ^(register|counter|set)$ ]] || { echo "--model: register, counter or set" >&2; usage; }
        MODEL=$2; shift 2 ;;
    --clients)
        [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "--clients wants a number" >&2; usage; }
        CLIENTS=$2; shift 2 ;;
    --out) [ -n "${2:-}" ] || usage; OUT=$2; shift 2 ;;
    --no-moves) MOVES=0; shift ;;
    --no-faults) FAULTS=0; shift ;;
    --rsm) RSM=1; shift ;;
    --break)
        [[ ${2:-} =~ ^(keep-source|ack-before-commit)$ ]] ||
            { echo "--break: keep-source or ack-before-commit" >&2; usage; }
        BREAK=$2; shift 2 ;;
    --one-seed) ONE=${2:-}; shift 2 ;; # internal: run one seed in this process
    *) usage ;;
    esac
done

find_tool() {
    local d
    for d in tests/checker tests/workload; do
        [ -x "$B/$d/$1" ] && { echo "$B/$d/$1"; return 0; }
    done
    return 1
}
WORKLOAD=$(find_tool cor-workload) || { echo "SKIPPED: no cor-workload in $B/tests/checker or $B/tests/workload"; exit 77; }
CHECK=$(find_tool cor-check) || { echo "SKIPPED: no cor-check in $B/tests/checker or $B/tests/workload"; exit 77; }
for t in oms/cor-oms kernel-server/cor-kernel tests/cluster/cor-delayproxy cli/corctl; do
    [ -x "$B/$t" ] || { echo "$0: $B/$t is missing: build first" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: cluster schedules need root for network namespaces"; exit 77; }
[ "$BREAK" != ack-before-commit ] || [ "$RSM" -eq 1 ] ||
    { echo "--break ack-before-commit breaks ConsensusRSM: it needs --rsm" >&2; usage; }
[ "$RSM" -eq 0 ] || MOVES=0 # a ConsensusRSM object is not migrated

# mover OBJ SECS SEED: moves OBJ to a random kernel every 0.3-1 s for SECS
# seconds from the client host; prints each attempt and a last line
# "moves: OK of N succeeded". Failures (the target or source is down,
# paused or cut) are expected and harmless.
mover() {
    local obj=$1 secs=$2 start=$SECONDS n=0 ok=0 to
    RANDOM=$3
    while [ $((SECONDS - start)) -lt "$secs" ]; do
        sleep "0.$((RANDOM % 8 + 3))"
        to=k$((RANDOM % 3 + 1))
        n=$((n + 1))
        if cl_exec client "$B/cli/corctl" --oms "$CL_OMS" --timeout 5000 migrate "$obj" --to "$to"; then
            ok=$((ok + 1))
        fi
    done
    echo "moves: $ok of $n succeeded"
}

# ---- one seed, in a process of its own (lib.sh's state and traps are per run) ----
if [ -n "$ONE" ]; then
    . "$(dirname "$0")/lib.sh"
    export GRPC_DNS_RESOLVER=native COR_LOG=warn
    [ -n "$BREAK" ] && export COR_TEST_BREAK=$BREAK
    CL_BUILTIN=all
    hist=$OUT/seed-$ONE.history
    dm=()
    if [ "$RSM" -eq 1 ]; then
        CL_KERNEL_DATA=1 # each kernel its own, kept across restarts
        # Clients pause 20 ms after a call that failed (calls refused at
        # once while no quorum is up would flood the history), and the
        # final read waits up to 10 s for the group to answer.
        dm=(--dm "$RSM_CHAIN" --backoff-ms 20 --final-wait-ms 10000)
    fi
    case $MODEL in register) obj=s$ONE-kv ;; counter) obj=s$ONE-echo ;; set) obj=s$ONE-set ;; esac
    cl_init
    cl_start_oms "$B/oms/cor-oms"
    cl_start_kernel "$B/kernel-server/cor-kernel" "$B/tests/cluster/cor-delayproxy" k1 11 0
    cl_start_kernel "$B/kernel-server/cor-kernel" "$B/tests/cluster/cor-delayproxy" k2 12 5
    cl_start_kernel "$B/kernel-server/cor-kernel" "$B/tests/cluster/cor-delayproxy" k3 13 40
    cl_host client 100
    # The workload outlasts the schedule by a few seconds so that it also
    # runs on the healed cluster.
    cl_bg client "$OUT/seed-$ONE.workload.log" "$WORKLOAD" --oms "$CL_OMS" --model "$MODEL" \
        --clients "$CLIENTS" --duration-ms $(((DURATION + 3) * 1000)) --out "$hist" \
        --seed "$ONE" --name "s$ONE" "${dm[@]}"
    wl=$CL_LAST_PID
    if [ "$RSM" -eq 1 ]; then
        # The faults start once the group has a leader (the workload made
        # it), so they meet the replicas and not their creation.
        CL_RSM_OBJ=$obj CL_CORCTL=$B/cli/corctl
        leader=""
        for _ in $(seq 100); do
            leader=$(cl_leader)
            [ -n "$leader" ] && break
            kill -0 "$wl" 2>/dev/null || break
            sleep 0.1
        done
        cl_log "group of $obj: leader ${leader:-none yet}"
    fi
    if [ "$MOVES" -eq 1 ]; then
        mover "$obj" $((DURATION + 2)) $((ONE * 7919 + 1)) >"$OUT/seed-$ONE.moves" 2>&1 &
        mv_pid=$!
    fi
    if [ "$FAULTS" -eq 1 ] && [ "$RSM" -eq 1 ]; then
        cl_schedule_rsm "$ONE" "$DURATION"
        srv=$?
    elif [ "$FAULTS" -eq 1 ]; then
        cl_schedule "$ONE" "$DURATION"
        srv=$?
    else
        sleep "$DURATION"
        srv=0
    fi
    wait "$wl"
    wrc=$?
    if [ "$MOVES" -eq 1 ]; then
        wait "$mv_pid"
        tail -1 "$OUT/seed-$ONE.moves"
    fi
    cp "$CL_LOG" "$OUT/seed-$ONE.log"
    if [ $srv -ne 0 ]; then
        echo "reason: the schedule could not restart a kernel (see $OUT/seed-$ONE.log)"
        exit 1
    fi
    if [ $wrc -ne 0 ]; then
        echo "reason: cor-workload exited $wrc (see $OUT/seed-$ONE.workload.log)"
        exit 1
    fi
    "$CHECK" --model "$MODEL" "$hist" >"$OUT/seed-$ONE.check" 2>&1
    crc=$?
    case $crc in
    0) exit 0 ;;
    1) echo "reason: cor-check found a violation (see $OUT/seed-$ONE.check)" ;;
    2) echo "reason: cor-check could not read the history (see $OUT/seed-$ONE.check)" ;;
    3) echo "reason: cor-check could not decide (see $OUT/seed-$ONE.check)" ;;
    *) echo "reason: cor-check exited $crc (see $OUT/seed-$ONE.check)" ;;
    esac
    exit 1
fi

# ---- every seed ----
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/cor-schedules-XXXXXX")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
fails=0 passes=0 ops=0 ok_ops=0 fail_ops=0 unknown_ops=0
for seed in $(seq "$FIRST" "$LAST"); do
    extra=()
    [ "$RSM" -eq 1 ] && extra+=(--rsm)
    [ "$MOVES" -eq 0 ] && [ "$RSM" -eq 0 ] && extra+=(--no-moves)
    [ "$FAULTS" -eq 0 ] && extra+=(--no-faults)
    [ -n "$BREAK" ] && extra+=(--break "$BREAK")
    "$0" "$B" --one-seed "$seed" --duration "$DURATION" --model "$MODEL" --clients "$CLIENTS" \
        --out "$OUT" "${extra[@]}" >"$OUT/seed-$seed.run" 2>&1
    rc=$?
    moves=$(sed -n 's/^moves: \([0-9]*\) of.*/\1/p' "$OUT/seed-$seed.run")
    # What the workload saw ("workload: ops=N ok=N fail=N unknown=N").
    read -r n_ops n_ok n_fail n_unknown < <(sed -n \
        's/^workload: ops=\([0-9]*\) ok=\([0-9]*\) fail=\([0-9]*\) unknown=\([0-9]*\).*/\1 \2 \3 \4/p' \
        "$OUT/seed-$seed.workload.log" 2>/dev/null | tail -n 1)
    seen=""
    if [ -n "${n_ops:-}" ]; then
        seen=", $n_ops ops ($n_ok ok, $n_fail fail, $n_unknown unknown)"
        ops=$((ops + n_ops)) ok_ops=$((ok_ops + n_ok))
        fail_ops=$((fail_ops + n_fail)) unknown_ops=$((unknown_ops + n_unknown))
    fi
    if [ $rc -eq 0 ]; then
        passes=$((passes + 1))
        echo "seed=$seed ok${moves:+, $moves moves}$seen (history kept at $OUT/seed-$seed.history)"
    else
        fails=$((fails + 1))
        echo "seed=$seed FAIL${moves:+, $moves moves}$seen (history kept at $OUT/seed-$seed.history)"
        grep -E '^reason: |FATAL: ' "$OUT/seed-$seed.run" | sed 's/^/  /' || true
        [ $rc -eq 77 ] && sed 's/^/  /' "$OUT/seed-$seed.run"
        echo "  replay: $0 $B --seeds $seed..$seed --duration $DURATION --model $MODEL --clients $CLIENTS ${extra[*]}"
    fi
done
what="model $MODEL"
[ "$RSM" -eq 1 ] && what="$what on $RSM_CHAIN"
echo "run_schedules: $passes passed, $fails failed ($what, ${DURATION}s each," \
    "$ops ops: $ok_ops ok, $fail_ops fail, $unknown_ops unknown; logs in $OUT)"
[ $fails -eq 0 ]
