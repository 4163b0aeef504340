#!/usr/bin/env bash
# scripts/demo.sh — set up, build, and show Corundum's foundation at work
# (README's first command): a host process serving an Echo object, and a
# client calling it through generated stubs over TCP, over the same-host
# unix socket, and co-located in one process; a deadline expiring; a clean
# drain on SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GRPC_DNS_RESOLVER=native COR_LOG=warn
bin="$root/build/apps/echo"

echo "== building (first run installs packages and takes a few minutes)"
COR_BUILD_DIR="$root/build" bash scripts/build.sh

work=$(mktemp -d /tmp/corundum-demo.XXXXXX)
host_pid=""
cleanup() {
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo
echo "== starting cor-echo-host (hosts one Echo object; TCP + unix socket)"
coproc HOST { exec "$bin/cor-echo-host" --listen 127.0.0.1:0 --unix "$work/host.sock"; }
host_pid=$HOST_PID
read -r -t 20 ready <&"${HOST[0]}"
echo "   $ready"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$ready"; }
tcp=$(field tcp); sock=$(field unix); hostid=$(field host); obj=$(field objects)

client() { echo "   \$ cor-echo-client $*"; "$bin/cor-echo-client" "$@" | sed 's/^/     -> /'; }

echo
echo "== calling the object over TCP (as a client on another host would)"
client --object "$obj" --tcp "$tcp" --host elsewhere say "hello over TCP"
client --object "$obj" --tcp "$tcp" --host elsewhere add 5
echo
echo "== same host: the runtime picks the unix socket from the host id"
client --object "$obj" --tcp "$tcp" --unix "$sock" --host "$hostid" say "hello over the unix socket"
client --object "$obj" --tcp "$tcp" --unix "$sock" --host "$hostid" add 10
echo
echo "== co-located: the object lives in the caller's process, no transport"
client --local say "hello in-process"
echo
echo "== a deadline expires (Sleep 2000 ms with a 300 ms deadline)"
"$bin/cor-echo-client" --object "$obj" --tcp "$tcp" --host elsewhere --deadline 300 sleep 2000 \
  2>&1 | sed 's/^/     -> /' || true
echo
echo "== SIGTERM: the host drains and exits"
kill -TERM "$host_pid"
wait "$host_pid" && echo "   cor-echo-host exited cleanly (status 0)"
host_pid=""
echo
echo "Demo finished. Next: docs/architecture.md, docs/writing-a-proto.md."
