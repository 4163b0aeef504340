#!/usr/bin/env bash
# test_delayproxy.sh — cor-delayproxy on loopback, in front of a plain echo
# server (tcp_peer.py) and in front of a real cor-kernel that advertises the
# proxy's address:
#   - many connections at once, many chunks each, come back intact and in
#     order, and a half-close is passed on after the data;
#   - a round trip gains at least 2 x delay (a lower bound, true by
#     construction; no upper bound is asserted), also after SIGHUP changes it;
#   - cut=1 holds bytes (old and new connections) until cut=0 releases them;
#   - a sender that outruns its receiver is pushed back (bounded memory);
#   - gRPC through it: corctl creates an echo object on the kernel and calls
#     it at the advertised (proxy) address;
#   - SIGTERM: exit 0; with VALGRIND_SUPP given and valgrind installed, the
#     whole stream/hold run is under memcheck and must be clean.
#
#   test_delayproxy.sh PROXY OMS KERNEL CORCTL [VALGRIND_SUPP]
set -uo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PROXY OMS KERNEL CORCTL [VALGRIND_SUPP]" >&2
    exit 2
fi
PROXY=$1 OMS_BIN=$2 KERNEL_BIN=$3 CORCTL=$4 SUPP=${5:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PEER=$HERE/tcp_peer.py
if ! command -v python3 >/dev/null; then
    echo "SKIPPED: python3 is not installed (scripts/deps.sh installs it)"
    exit 77
fi
VG=()
if [ -n "$SUPP" ]; then
    if ! command -v valgrind >/dev/null; then
        echo "SKIPPED: valgrind is not installed"
        exit 77
    fi
    VG=(valgrind --quiet --error-exitcode=99 --leak-check=full
        --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible --suppressions="$SUPP")
fi
export GRPC_DNS_RESOLVER=native COR_LOG=warn

T=$(mktemp -d "${TMPDIR:-/tmp}/cor-dproxy-XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

passes=0 fails=0
ok() { passes=$((passes + 1)); echo "ok: $*"; }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }
die() { echo "FAIL: $*"; exit 1; }

# start NAME CMD...: runs CMD in the background, stdout to $T/NAME.out and
# stderr to $T/NAME.err, waits for its ready line; sets LAST_PID.
start() {
    local name=$1
    shift
    "$@" >"$T/$name.out" 2>"$T/$name.err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    for _ in $(seq 600); do
        grep -q '^ready ' "$T/$name.out" && return 0
        kill -0 "$LAST_PID" 2>/dev/null || { cat "$T/$name.err"; die "$name exited before it was ready"; }
        sleep 0.1
    done
    cat "$T/$name.err"
    die "$name printed no ready line"
}
listen_of() { sed -n 's/^ready listen=\([^ ]*\).*/\1/p' "$T/$1.out"; }

# rtt_at_least ADDR MS: the smallest of 5 round trips is >= MS.
rtt_at_least() {
    local out ms
    out=$(python3 "$PEER" rtt "$1" 5) || { bad "round trip through $1: $out"; return; }
    ms=${out#rtt_ms=}
    if python3 -c "import sys; sys.exit(0 if float('$ms') >= $2 else 1)"; then
        ok "round trip $ms ms >= $2 ms"
    else
        bad "round trip through the proxy took $ms ms, less than the $2 ms the delay adds"
    fi
}

# ---- bad usage ----
"$PROXY" --listen 127.0.0.1:0 >"$T/u.out" 2>&1
[ $? -eq 2 ] && grep -q 'required' "$T/u.out" && ok "missing --to: exit 2" || bad "missing --to: $(cat "$T/u.out")"
"$PROXY" --listen nowhere --to 127.0.0.1:1 >"$T/u.out" 2>&1
[ $? -eq 2 ] && grep -q "\-\-listen must be IP:PORT" "$T/u.out" && ok "bad --listen: exit 2" ||
    bad "bad --listen: $(cat "$T/u.out")"
"$PROXY" --listen 127.0.0.1:0 --to 127.0.0.1:1 --delay-ms -5 >"$T/u.out" 2>&1
[ $? -eq 2 ] && grep -q "\-\-delay-ms must be an integer" "$T/u.out" && ok "bad --delay-ms: exit 2" ||
    bad "bad --delay-ms: $(cat "$T/u.out")"

# ---- in front of an echo server ----
start echo python3 "$PEER" serve
ECHO=$(listen_of echo)
DELAY=40
start proxy "${VG[@]}" "$PROXY" --listen 127.0.0.1:0 --to "$ECHO" --delay-ms $DELAY --control "$T/ctl"
PROXY_PID=$LAST_PID
PX=$(listen_of proxy)

if out=$(python3 "$PEER" stream "$PX" 8 3000000 2>&1); then ok "$out"; else bad "$out"; fi
rtt_at_least "$PX" $((2 * DELAY))

printf 'delay_ms=150\n' >"$T/ctl"
kill -HUP "$PROXY_PID"
for _ in $(seq 300); do grep -q 'control: delay_ms=150 cut=0' "$T/proxy.err" && break; sleep 0.1; done
grep -q 'control: delay_ms=150 cut=0' "$T/proxy.err" && ok "SIGHUP applied delay_ms=150" ||
    bad "the proxy did not log the new delay after SIGHUP"
rtt_at_least "$PX" 300

printf 'delay_ms=lots\n' >"$T/ctl"
kill -HUP "$PROXY_PID"
for _ in $(seq 300); do grep -q 'settings unchanged' "$T/proxy.err" && break; sleep 0.1; done
grep -q "control $T/ctl:1: expected delay_ms=0..600000 or cut=0|1, got 'delay_ms=lots'" "$T/proxy.err" &&
    ok "a bad control file is refused and named" || bad "bad control file: $(tail -2 "$T/proxy.err")"

if out=$(python3 "$PEER" hold "$PX" "$PROXY_PID" "$T/ctl" "$T/proxy.err" 2>&1); then ok "$out"; else bad "$out"; fi
# After the heal the proxy forwards as before.
if out=$(python3 "$PEER" stream "$PX" 4 200000 2>&1); then ok "after heal: $out"; else bad "after heal: $out"; fi

# SIGTERM with a connection open and bytes still queued in it.
exec 3<>"/dev/tcp/${PX%:*}/${PX##*:}"
printf 'still in flight' >&3
kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
rc=$?
exec 3>&-
[ $rc -eq 0 ] && ok "SIGTERM: exit 0${VG:+, valgrind clean}" ||
    bad "the proxy exited $rc on SIGTERM (99: valgrind found errors or leaks); stderr:$(sed 's/^/\n    /' "$T/proxy.err")"

# ---- backpressure: a receiver that never reads ----
if [ ${#VG[@]} -eq 0 ]; then
    start sink python3 "$PEER" sink
    start proxy2 "$PROXY" --listen 127.0.0.1:0 --to "$(listen_of sink)" --delay-ms 5
    out=$(python3 "$PEER" flood "$(listen_of proxy2)" "$LAST_PID")
    sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
    rss=$(sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p' <<<"$out")
    # 4 MiB queued in the proxy plus the kernel's socket buffers on both
    # legs; without backpressure all 256 MiB would be taken.
    if [ -n "$sent" ] && [ "$sent" -lt $((64 << 20)) ] && [ "$rss" -lt $((64 << 10)) ]; then
        ok "backpressure: a reader that never reads stops the sender ($out)"
    else
        bad "backpressure: $out (want sent < 64 MiB and proxy RSS < 64 MiB)"
    fi
fi

# ---- gRPC: a kernel advertised at the proxy's address ----
if [ ${#VG[@]} -eq 0 ]; then
    start oms "$OMS_BIN" --listen 127.0.0.1:0 --data-dir "$T/oms" --sync never
    OMS=$(listen_of oms)
    KPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    start kproxy "$PROXY" --listen 127.0.0.1:0 --to "127.0.0.1:$KPORT" --delay-ms 20
    KPROXY_PID=$LAST_PID
    KPX=$(listen_of kproxy)
    start k1 "$KERNEL_BIN" --oms "$OMS" --name k1 --listen "127.0.0.1:$KPORT" --no-unix \
        --advertise "$KPX" --builtin echo
    grep -q "tcp=$KPX .*listen=127.0.0.1:$KPORT" "$T/k1.out" && ok "kernel ready line: $(cat "$T/k1.out")" ||
        bad "kernel ready line lacks tcp=$KPX listen=127.0.0.1:$KPORT: $(cat "$T/k1.out")"
    out=$("$CORCTL" --oms "$OMS" create echo.Echo --name e1 --args '{"start": 7}' 2>&1) &&
        ok "corctl create (the OMS calls the kernel through the proxy)" || bad "corctl create: $out"
    out=$("$CORCTL" --oms "$OMS" call e1 Add '{"delta": 5}' 2>&1)
    grep -q '"total": "12"' <<<"$out" && ok "corctl call through the proxy: total 12" ||
        bad "corctl call e1 Add: $out"
    out=$("$CORCTL" --oms "$OMS" describe e1 2>&1)
    grep -qE "^k1 +$KPX " <<<"$out" && ok "the OMS hands out the proxy's address" ||
        bad "describe e1 does not name $KPX: $out"
    kill -TERM "$KPROXY_PID"
    wait "$KPROXY_PID"
    line=$(grep 'connections served' "$T/kproxy.err")
    if [[ $line =~ exiting:\ ([0-9]+)\ connections\ served,\ ([0-9]+)\ bytes ]] &&
        [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[2]}" -gt 0 ]; then
        ok "the calls went through the proxy ($line)"
    else
        bad "the kernel's proxy carried nothing: '$line'"
    fi
fi

echo "test_delayproxy: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
