#!/usr/bin/env bash
# valgrind_host.sh — a daemon's whole life under valgrind memcheck:
# cor-echo-host starts, serves calls over TCP and its unix socket (one of
# them a call still running when SIGTERM arrives), drains and exits. Fails
# on any memcheck error or leak of ours.
#
#   valgrind_host.sh HOST_BIN CLIENT_BIN SUPPRESSIONS
set -euo pipefail
host_bin=$1 client_bin=$2 supp=$3
if ! command -v valgrind >/dev/null; then
  echo "skipped: valgrind is not installed"; exit 77
fi
work=$(mktemp -d /tmp/cor-vg.XXXXXX)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
export GRPC_DNS_RESOLVER=native COR_LOG=warn
valgrind --quiet --error-exitcode=99 --leak-check=full \
  --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
  --suppressions="$supp" --log-file="$work/vg.log" \
  "$host_bin" --listen 127.0.0.1:0 --unix "$work/h.sock" >"$work/out" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '^ready' "$work/out" 2>/dev/null && break
  sleep 0.1
done
ready=$(head -n1 "$work/out")
[[ $ready == ready* ]] || { echo "host never became ready"; cat "$work/vg.log"; exit 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$ready"; }
obj=$(field objects) tcp=$(field tcp) host=$(field host)
"$client_bin" --object "$obj" --tcp "$tcp" --host other say hi | grep -qx hi
"$client_bin" --object "$obj" --tcp "$tcp" --unix "$work/h.sock" --host "$host" add 3 | grep -qx 3
"$client_bin" --object "$obj" --tcp "$tcp" --host other --deadline 100 sleep 500 >/dev/null 2>&1 || true
"$client_bin" --object "$obj" --tcp "$tcp" --host other sleep 800 >/dev/null 2>&1 &
sleep 0.3
kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
wait || true
if [ $rc -ne 0 ]; then
  echo "host exited $rc under valgrind:"; cat "$work/vg.log"; exit 1
fi
echo "valgrind: clean (no errors, no leaks)"
