# lib.sh — the namespace harness for cluster tests: each "host" is a network
# namespace on one bridge, its daemons run inside it, and faults are
# injected from outside. Sourced by tests/cluster/test_*.sh and
# run_schedules.sh; see docs/cluster-tests.md.
#
# Layout for run id N (4 digits, fresh per run):
#   corN-br          the bridge namespace: bridge br0, one veth port per host
#                    named after the host (so `ip -n corN-br link set k2 down`
#                    cuts k2 off)
#   corN-NAME        a host: eth0 = 10.X.Y.IDX/24 (X.Y derived from N), lo up
#   $CL_DIR          logs (NAME.log), data, control files; kept on failure
# Every process run in a host gets COR_HOST_ID=corN-NAME, so no two hosts
# take each other for "same host" (and try each other's unix sockets).
#
# A kernel with a one-way delay D (cl_start_kernel NAME IDX D) listens on
# 127.0.0.1:7811 inside its namespace; cor-delayproxy listens on its eth0
# address, port 7801, forwards there after D ms each way, and the kernel
# --advertise-s the proxy. Without a delay the kernel listens on eth0:7801
# itself. Either way other hosts dial ADDR:7801, and the kernel's own calls
# out (heartbeats, DM peers) are not delayed.
#
# Faults: cl_cut/cl_heal (link down/up on the bridge side), cl_kill (-9),
# cl_restart, cl_pause/cl_resume (SIGSTOP/SIGCONT), cl_slow/cl_unslow (the
# host's proxy). cl_schedule SEED SECONDS runs a seeded random sequence of
# them and heals everything at the end.
#
# Failure modes: no root or no netns support -> "SKIPPED: reason", exit 77.
# cl_teardown runs on EXIT, INT and TERM and removes every namespace and
# process of the run whatever state it is in; it is idempotent.

CL_OMS_PORT=7700
CL_PORT=7801          # what other hosts dial on a kernel host
CL_INNER_PORT=7811    # where a proxied kernel really listens (loopback)
CL_HB_MS=200          # OMS heartbeat interval and timeout, as tests/lib/daemons.c
CL_HB_TIMEOUT_MS=1000

declare -A CL_PID=()      # host -> pid of its daemon
declare -A CL_CMD=()      # host -> its daemon's command line (printf %q)
declare -A CL_PROXY=()    # host -> pid of its delay proxy
declare -A CL_DELAY=()    # host -> the proxy's normal one-way delay (ms)
declare -A CL_STATE=()    # host -> up | dead | paused (for the schedule)
declare -A CL_CUT=()      # host -> 1 while cut
declare -A CL_ISOLATED=() # host -> 1 while cut off from the other kernels
CL_PIDS=()                # every background pid of the run
CL_HOSTS=()
CL_KERNELS=()
CL_ID=""

cl_log() {
    local line
    line="$(date +%H:%M:%S.%3N) $*"
    echo "$line"
    [ -n "${CL_LOG:-}" ] && echo "$line" >>"$CL_LOG"
    return 0
}

cl_fatal() {
    cl_log "FATAL: $*"
    exit 1
}

cl_skip() {
    echo "SKIPPED: $*"
    exit 77
}

# cl_init: checks we may make namespaces (else skips), picks the run id,
# makes the bridge namespace and $CL_DIR, and arms the teardown.
cl_init() {
    [ "$(id -u)" -eq 0 ] || cl_skip "cluster tests need root for network namespaces (ip netns)"
    command -v ip >/dev/null || cl_skip "iproute2 (ip) is not installed"
    local n
    for _ in $(seq 50); do
        n=$((RANDOM % 9000 + 1000))
        ip netns list 2>/dev/null | grep -q "^cor$n-" || break
        n=""
    done
    [ -n "$n" ] || cl_fatal "no free run id (too many cor*- namespaces left behind?)"
    CL_ID=$n
    CL_NS=cor$n
    CL_NET=10.$((n / 100 % 200 + 50)).$((n % 100 + 100))
    CL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cor-cluster-$n-XXXXXX")
    CL_LOG=$CL_DIR/run.log
    trap 'cl_teardown' EXIT
    trap 'CL_KEEP=1 cl_teardown; exit 130' INT
    trap 'CL_KEEP=1 cl_teardown; exit 143' TERM
    if ! err=$(ip netns add "$CL_NS-br" 2>&1); then
        CL_ID=""
        rm -rf "$CL_DIR"
        cl_skip "cannot make a network namespace: $err"
    fi
    if ! err=$(ip -n "$CL_NS-br" link add br0 type bridge 2>&1); then
        cl_skip "cannot make a bridge in a namespace: $err"
    fi
    ip -n "$CL_NS-br" link set br0 up
    ip -n "$CL_NS-br" link set lo up
    cl_log "run $CL_ID: namespaces $CL_NS-*, subnet $CL_NET.0/24, logs in $CL_DIR"
}

# cl_host NAME IDX: namespace corN-NAME, eth0 = $CL_NET.IDX/24 on the bridge.
cl_host() {
    local name=$1 idx=$2 ns=$CL_NS-$1
    ip netns add "$ns" || cl_fatal "ip netns add $ns failed"
    CL_HOSTS+=("$name")
    ip link add eth0 netns "$ns" type veth peer name "$name" netns "$CL_NS-br" ||
        cl_fatal "cannot make the veth pair for $name"
    ip -n "$CL_NS-br" link set dev "$name" master br0 up
    ip -n "$ns" addr add "$CL_NET.$idx/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    eval "CL_IDX_$name=$idx"
}

# cl_addr NAME: the host's address.
cl_addr() {
    local v="CL_IDX_$1"
    [ -n "${!v:-}" ] || cl_fatal "cl_addr: no host $1"
    echo "$CL_NET.${!v}"
}

# cl_exec NAME CMD...: runs CMD in the host (foreground), its exit status.
cl_exec() {
    local name=$1
    shift
    ip netns exec "$CL_NS-$name" env COR_HOST_ID="$CL_NS-$name" "$@"
}

# cl_bg NAME LOG CMD...: runs CMD in the host in the background, stdout and
# stderr appended to LOG; the pid (CMD's own: ip netns exec and env exec)
# is in CL_LAST_PID and is killed by cl_teardown.
cl_bg() {
    local name=$1 log=$2
    shift 2
    ip netns exec "$CL_NS-$name" env COR_HOST_ID="$CL_NS-$name" "$@" >>"$log" 2>&1 &
    CL_LAST_PID=$!
    CL_PIDS+=("$CL_LAST_PID")
}

# cl_wait_ready LOG COUNT PID: waits (30 s at most) for LOG to hold COUNT
# lines starting "ready"; fails if PID dies first.
cl_wait_ready() {
    local log=$1 want=$2 pid=$3
    for _ in $(seq 300); do
        [ "$(grep -c '^ready' "$log" 2>/dev/null)" -ge "$want" ] && return 0
        kill -0 "$pid" 2>/dev/null || { tail -5 "$log"; cl_log "process $pid ($log) exited before it was ready"; return 1; }
        sleep 0.1
    done
    tail -5 "$log"
    cl_log "no ready line in $log after 30 s"
    return 1
}

# cl_daemon NAME CMD...: runs CMD as the host's daemon (the one that
# cl_kill, cl_restart, cl_pause act on), log $CL_DIR/NAME.log; waits ready.
cl_daemon() {
    local name=$1
    shift
    CL_CMD[$name]=$(printf '%q ' "$@")
    CL_STATE[$name]=up
    cl_bg "$name" "$CL_DIR/$name.log" "$@"
    CL_PID[$name]=$CL_LAST_PID
    cl_wait_ready "$CL_DIR/$name.log" 1 "$CL_LAST_PID" || cl_fatal "$name did not start"
}

# cl_start_oms BIN: host "oms" (.1) running cor-oms with quick heartbeats.
# Sets CL_OMS (ADDR:PORT).
cl_start_oms() {
    cl_host oms 1
    CL_OMS=$(cl_addr oms):$CL_OMS_PORT
    cl_daemon oms "$1" --listen "$CL_OMS" --data-dir "$CL_DIR/oms-data" --sync never \
        --heartbeat-interval-ms $CL_HB_MS --heartbeat-timeout-ms $CL_HB_TIMEOUT_MS
}

# cl_start_kernel KERNEL_BIN PROXY_BIN NAME IDX DELAY_MS: host NAME running
# cor-kernel --name NAME --label host=NAME --builtin $CL_BUILTIN (default
# echo) plus the words of $CL_KERNEL_EXTRA, registered with CL_OMS. With
# CL_KERNEL_DATA=1 it also gets --data-dir $CL_DIR/NAME-data (what a
# ConsensusRSM replica needs), the same directory after every cl_restart.
# DELAY_MS "" or 0: no proxy; else one-way delay of the host's proxy.
cl_start_kernel() {
    local kbin=$1 pbin=$2 name=$3 idx=$4 delay=${5:-0}
    cl_host "$name" "$idx"
    CL_KERNELS+=("$name")
    local addr data=()
    addr=$(cl_addr "$name")
    if [ "${CL_KERNEL_DATA:-0}" = 1 ]; then
        mkdir -p "$CL_DIR/$name-data"
        data=(--data-dir "$CL_DIR/$name-data")
    fi
    if [ "$delay" -gt 0 ]; then
        CL_DELAY[$name]=$delay
        cl_bg "$name" "$CL_DIR/$name-proxy.log" "$pbin" --listen "$addr:$CL_PORT" \
            --to "127.0.0.1:$CL_INNER_PORT" --delay-ms "$delay" --control "$CL_DIR/$name.ctl"
        CL_PROXY[$name]=$CL_LAST_PID
        cl_wait_ready "$CL_DIR/$name-proxy.log" 1 "$CL_LAST_PID" || cl_fatal "$name's proxy did not start"
        cl_daemon "$name" "$kbin" --oms "$CL_OMS" --name "$name" --no-unix \
            --listen "127.0.0.1:$CL_INNER_PORT" --advertise "$addr:$CL_PORT" \
            --label "host=$name" --builtin "${CL_BUILTIN:-echo}" "${data[@]}" ${CL_KERNEL_EXTRA:-}
    else
        cl_daemon "$name" "$kbin" --oms "$CL_OMS" --name "$name" --no-unix \
            --listen "$addr:$CL_PORT" --label "host=$name" --builtin "${CL_BUILTIN:-echo}" \
            "${data[@]}" ${CL_KERNEL_EXTRA:-}
    fi
}

# ---------------- faults ----------------

cl_kill() {
    local name=$1 pid=${CL_PID[$1]:-}
    [ -n "$pid" ] || cl_fatal "cl_kill: $name has no daemon"
    cl_log "fault: kill -9 $name (pid $pid)"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    CL_STATE[$name]=dead
    return 0
}

# cl_restart NAME: starts the host's daemon again (after cl_kill, or kills
# it first) and waits for its ready line.
cl_restart() {
    local name=$1 pid=${CL_PID[$1]:-}
    [ -n "${CL_CMD[$name]:-}" ] || cl_fatal "cl_restart: $name has no daemon"
    if [ "${CL_STATE[$name]}" != dead ]; then
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    local before
    before=$(grep -c '^ready' "$CL_DIR/$name.log")
    cl_log "fault: restart $name"
    eval "cl_bg \"\$name\" \"\$CL_DIR/\$name.log\" ${CL_CMD[$name]}"
    CL_PID[$name]=$CL_LAST_PID
    CL_STATE[$name]=up
    cl_wait_ready "$CL_DIR/$name.log" $((before + 1)) "$CL_LAST_PID"
}

cl_pause() {
    cl_log "fault: SIGSTOP $1"
    kill -STOP "${CL_PID[$1]}"
    CL_STATE[$1]=paused
}

cl_resume() {
    cl_log "heal: SIGCONT $1"
    kill -CONT "${CL_PID[$1]}"
    CL_STATE[$1]=up
}

cl_cut() {
    cl_log "fault: cut $1's link"
    ip -n "$CL_NS-br" link set dev "$1" down || cl_fatal "cannot cut $1"
    CL_CUT[$1]=1
}

cl_heal() {
    cl_log "heal: $1's link up"
    ip -n "$CL_NS-br" link set dev "$1" up || cl_fatal "cannot heal $1"
    CL_CUT[$1]=0
}

# cl_isolate NAME: NAME loses its links to the other kernels but keeps
# those to the client and the OMS: a blackhole route in its namespace for
# each other kernel's address drops every packet it sends them, so TCP
# stalls both ways (new connections fail at once). A partition of one
# replica from its peers while callers still reach it. cl_rejoin NAME
# takes the routes out.
cl_isolate() {
    local k
    cl_log "fault: isolate $1 from the other kernels"
    for k in "${CL_KERNELS[@]}"; do
        [ "$k" = "$1" ] && continue
        ip -n "$CL_NS-$1" route add blackhole "$(cl_addr "$k")/32" ||
            cl_fatal "cannot isolate $1 from $k"
    done
    CL_ISOLATED[$1]=1
}

cl_rejoin() {
    local k
    cl_log "heal: $1 rejoins the other kernels"
    for k in "${CL_KERNELS[@]}"; do
        [ "$k" = "$1" ] && continue
        ip -n "$CL_NS-$1" route del blackhole "$(cl_addr "$k")/32" ||
            cl_fatal "cannot rejoin $1 to $k"
    done
    CL_ISOLATED[$1]=0
}

# cl_slow NAME MS: sets the one-way delay of NAME's proxy, waiting until it
# says it applied it. cl_unslow NAME: back to the delay it started with.
cl_slow() {
    local name=$1 ms=$2 pid=${CL_PROXY[$1]:-}
    [ -n "$pid" ] || cl_fatal "cl_slow: $name has no delay proxy"
    local log=$CL_DIR/$name-proxy.log want="control: delay_ms=$ms cut=0"
    local before
    before=$(grep -c "$want" "$log")
    printf 'delay_ms=%s\ncut=0\n' "$ms" >"$CL_DIR/$name.ctl"
    cl_log "${CL_WHAT:-fault}: $name's link delay ${ms} ms each way"
    kill -HUP "$pid"
    for _ in $(seq 100); do
        [ "$(grep -c "$want" "$log")" -gt "$before" ] && return 0
        sleep 0.1
    done
    cl_fatal "$name's proxy did not apply delay_ms=$ms"
}

cl_unslow() {
    CL_WHAT=heal cl_slow "$1" "${CL_DELAY[$1]}"
}

# cl_heal_all: every kernel up, running, linked and at its normal delay.
cl_heal_all() {
    local k
    for k in "${CL_HOSTS[@]}"; do
        [ "${CL_CUT[$k]:-0}" = 1 ] && cl_heal "$k"
        [ "${CL_ISOLATED[$k]:-0}" = 1 ] && cl_rejoin "$k"
        [ "${CL_STATE[$k]:-}" = paused ] && cl_resume "$k"
        [ "${CL_STATE[$k]:-}" = dead ] && { cl_restart "$k" || return 1; }
        [ -n "${CL_PROXY[$k]:-}" ] && cl_unslow "$k"
    done
    return 0
}

# cl_schedule SEED SECONDS: a random sequence of faults over CL_KERNELS,
# drawn from bash's RANDOM seeded with SEED, one at a time, until SECONDS
# have passed; then heals everything. Each step is logged with its time, so
# the same seed replays the same sequence of faults (their interleaving with
# the workload depends on timing and is not replayed). Nothing else in this
# shell may draw from RANDOM meanwhile. Returns non-zero if a kernel cannot
# be restarted.
cl_schedule() {
    local seed=$1 secs=$2 start=$SECONDS step=0
    RANDOM=$seed
    cl_log "schedule: seed $seed, $secs s over ${CL_KERNELS[*]}"
    while [ $((SECONDS - start)) -lt "$secs" ]; do
        local k=${CL_KERNELS[$((RANDOM % ${#CL_KERNELS[@]}))]}
        local kind=$((RANDOM % 4))
        local hold=$(((RANDOM % 18 + 3) * 100)) # 0.3 .. 2.0 s
        local gap=$(((RANDOM % 9 + 2) * 100))   # 0.2 .. 1.0 s
        local slow=$(((RANDOM % 5 + 1) * 100))  # 100 .. 500 ms
        step=$((step + 1))
        [ "$kind" -eq 3 ] && [ -z "${CL_PROXY[$k]:-}" ] && kind=2 # no proxy: cut instead
        cl_log "schedule step $step: kind=$kind host=$k hold_ms=$hold gap_ms=$gap"
        case $kind in
        0) cl_kill "$k"; sleep "$(cl_ms "$hold")"; cl_restart "$k" || return 1 ;;
        1) cl_pause "$k"; sleep "$(cl_ms "$hold")"; cl_resume "$k" ;;
        2) cl_cut "$k"; sleep "$(cl_ms "$hold")"; cl_heal "$k" ;;
        3) cl_slow "$k" "$slow"; sleep "$(cl_ms "$hold")"; cl_unslow "$k" ;;
        esac
        sleep "$(cl_ms "$gap")"
    done
    cl_log "schedule: $step steps; healing everything"
    cl_heal_all
}

# ---------------- overlapping faults, for replicated objects ----------------

# cl_leader: the kernel whose replica of $CL_RSM_OBJ says it leads, with
# the highest term if several do (corctl describe $CL_RSM_OBJ from the
# client host, through $CL_CORCTL), or nothing when none does, the OMS
# cannot be asked or CL_RSM_OBJ is not set.
cl_leader() {
    [ -n "${CL_RSM_OBJ:-}" ] && [ -n "${CL_CORCTL:-}" ] || return 0
    cl_exec client "$CL_CORCTL" --oms "$CL_OMS" --timeout 2000 describe "$CL_RSM_OBJ" 2>/dev/null |
        awk '/^raft /{t=1; next} t && $2 == "leader" && $3 + 0 > best {best = $3 + 0; n = $1}
             END {if (n != "") print n}'
}

# cl_fault_on KIND HOST SLOW_MS / cl_fault_off KIND HOST: one fault of the
# overlapping schedule, begun or ended. KIND: kill (-9, then restart), pause
# (SIGSTOP/SIGCONT), cut (link down/up), slow (the proxy's delay to
# SLOW_MS; a host without a proxy is cut instead), isolate (from the other
# kernels only: cl_isolate/cl_rejoin), oms (cor-oms killed -9, then
# restarted with the same store). A kernel registers before it says
# ready, so one restarted while the OMS is down would wait for it: the OMS
# comes back first. cl_fault_off returns non-zero if a restart fails.
cl_fault_on() {
    case $1 in
    kill) cl_kill "$2" ;;
    pause) cl_pause "$2" ;;
    cut) cl_cut "$2" ;;
    slow) if [ -n "${CL_PROXY[$2]:-}" ]; then cl_slow "$2" "$3"; else cl_cut "$2"; fi ;;
    isolate) cl_isolate "$2" ;;
    oms) cl_kill oms ;;
    esac
}

cl_fault_off() {
    case $1 in
    kill)
        if [ "${CL_STATE[oms]:-}" = dead ]; then cl_restart oms || return 1; fi
        cl_restart "$2" ;;
    pause) cl_resume "$2" ;;
    cut) cl_heal "$2" ;;
    slow) if [ -n "${CL_PROXY[$2]:-}" ]; then cl_unslow "$2"; else cl_heal "$2"; fi ;;
    isolate) cl_rejoin "$2" ;;
    oms) [ "${CL_STATE[oms]}" = dead ] && { cl_restart oms || return 1; }; return 0 ;;
    esac
}

# cl_schedule_rsm SEED SECONDS: cl_schedule's faults for an object whose
# replicas are on CL_KERNELS (a ConsensusRSM group of three), with the OMS
# among the things that fail and often two faults at once. Each step draws
# (from RANDOM seeded with SEED, a fixed number of draws per step, so a
# seed replays the same steps):
#   - a first fault: kill, pause, cut, slow or isolate a kernel, or kill
#     the OMS, each 1 in 6; its kernel is a random one, or (1 in 3) whichever
#     replica leads at that moment (cl_leader; a random one when none is
#     known), which is resolved at run time and logged;
#   - how long it lasts (0.3-2 s) and the gap after the step (0.2-1 s);
#   - a second fault, 3 in 5 steps, on another kernel, starting 1/4, 1/2
#     or 3/4 into the first and lasting 0.3-2 s: its link slowed (k1, with
#     no proxy, is cut instead) or the OMS killed, which leave a majority
#     of replicas up; or it is paused or cut, which with a first fault on a
#     replica leaves one of three: calls then fail or time out until one
#     is back, which the checker allows (availability, not safety).
# The OMS is back before a kernel restarts (cl_fault_off). Everything is
# healed at the end. Returns non-zero if a restart fails.
cl_schedule_rsm() {
    local seed=$1 secs=$2 start=$SECONDS step=0
    local kinds=(kill pause cut slow oms isolate)
    RANDOM=$seed
    cl_log "schedule (overlapping): seed $seed, $secs s over ${CL_KERNELS[*]} and the OMS"
    while [ $((SECONDS - start)) -lt "$secs" ]; do
        local kind=${kinds[$((RANDOM % 6))]}
        local pick=$((RANDOM % ${#CL_KERNELS[@]})) lead=$((RANDOM % 3))
        local hold=$(((RANDOM % 18 + 3) * 100))  # 0.3 .. 2.0 s
        local gap=$(((RANDOM % 9 + 2) * 100))    # 0.2 .. 1.0 s
        local slow=$(((RANDOM % 5 + 1) * 100))   # 100 .. 500 ms
        local two=$((RANDOM % 5)) other=$((RANDOM % 2 + 1)) hard2=$((RANDOM % 2))
        local at2=$((hold * (RANDOM % 3 + 1) / 4))
        local hold2=$(((RANDOM % 18 + 3) * 100))
        step=$((step + 1))
        local k=${CL_KERNELS[$pick]} who=""
        if [ "$kind" != oms ] && [ "$lead" -eq 0 ]; then
            local l
            l=$(cl_leader)
            if [ -n "$l" ]; then k=$l who=" (the leader)"; else who=" (no leader known)"; fi
        fi
        # The second fault is on another kernel than the first.
        local kind2="" k2=""
        if [ "$two" -ge 2 ]; then
            local i
            for i in "${!CL_KERNELS[@]}"; do [ "${CL_KERNELS[$i]}" = "$k" ] && pick=$i; done
            k2=${CL_KERNELS[$(((pick + other) % ${#CL_KERNELS[@]}))]}
            case $two in
            2) kind2=slow ;;
            3) kind2=oms ;;
            4) if [ "$hard2" -eq 0 ]; then kind2="pause"; else kind2="cut"; fi ;;
            esac
            [ "$kind2" = oms ] && [ "$kind" = oms ] && kind2=slow
            [ "$kind2" = oms ] && k2=""
        fi
        local what="$kind $k$who"
        [ "$kind" = oms ] && what=oms
        local also=""
        [ -n "$kind2" ] && also="; with $kind2 ${k2:+$k2 }from_ms=$at2 hold_ms=$hold2"
        cl_log "schedule step $step: $what hold_ms=$hold gap_ms=$gap$also"
        cl_fault_on "$kind" "$k" "$slow"
        if [ -z "$kind2" ]; then
            sleep "$(cl_ms "$hold")"
            cl_fault_off "$kind" "$k" || return 1
        else
            sleep "$(cl_ms "$at2")"
            cl_fault_on "$kind2" "$k2" "$slow"
            if [ $((at2 + hold2)) -le "$hold" ]; then
                sleep "$(cl_ms "$hold2")"
                cl_fault_off "$kind2" "$k2" || return 1
                sleep "$(cl_ms $((hold - at2 - hold2)))"
                cl_fault_off "$kind" "$k" || return 1
            else
                sleep "$(cl_ms $((hold - at2)))"
                cl_fault_off "$kind" "$k" || return 1
                sleep "$(cl_ms $((at2 + hold2 - hold)))"
                cl_fault_off "$kind2" "$k2" || return 1
            fi
        fi
        sleep "$(cl_ms "$gap")"
    done
    cl_log "schedule: $step steps; healing everything"
    cl_heal_all
}

# cl_ms MS: MS as seconds for sleep ("0.3").
cl_ms() {
    printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# ---------------- teardown ----------------

# cl_teardown: ends every process of the run (SIGCONT+SIGTERM, then -9 for
# the slow), deletes every corN-* namespace. Logs stay in $CL_DIR when the
# script is failing (or CL_KEEP=1), else are removed. Idempotent.
cl_teardown() {
    local rc=$?
    [ -n "$CL_ID" ] || return 0
    local p ns
    for p in "${CL_PIDS[@]}"; do
        kill -CONT "$p" 2>/dev/null
        kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 30); do
        local alive=0
        for p in "${CL_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for p in "${CL_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    CL_PIDS=()
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$CL_NS-"); do
        ip netns del "$ns" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] || [ "${CL_KEEP:-0}" = 1 ]; then
        echo "cluster run $CL_ID: logs kept in $CL_DIR"
    else
        rm -rf "$CL_DIR"
    fi
    CL_ID=""
    return 0
}
