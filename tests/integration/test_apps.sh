#!/usr/bin/env bash
# test_apps.sh — both example apps on a real cluster: cor-oms and two
# cor-kernel processes, one with the classes linked in (--builtin all), one
# loading them from the shared-library modules. Users on different kernels
# follow each other (refs travel between objects and processes); kv stores
# are created, called and deleted by name; bad input is refused with a
# clear message and changes nothing.
#
#   test_apps.sh BUILD_DIR
set -uo pipefail
b=$1
export GRPC_DNS_RESOLVER=native COR_LOG=warn
work=$(mktemp -d /tmp/cor-apps.XXXXXX)
pids=()
fails=0 passes=0
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() { # name cmd...
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q '^ready' "$work/$name.out" && return 0; sleep 0.1; done
  echo "FATAL: $name did not start"; cat "$work/$name.log"; exit 1
}
# check DESC EXPECTED_EXIT PATTERN CMD... : runs CMD, checks exit code and
# that its combined output matches PATTERN (grep -E).
check() {
  local desc=$1 want=$2 pat=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"; then
    passes=$((passes + 1))
  else
    fails=$((fails + 1))
    echo "FAIL: $desc: exit $rc (want $want), output:"; sed 's/^/    /' <<<"$out"
    echo "    (expected to match: $pat)"
  fi
}

start oms "$b/oms/cor-oms" --listen 127.0.0.1:0 --data-dir "$work/oms" --sync never
oms=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$work/oms.out")
export COR_OMS=$oms
start k1 "$b/kernel-server/cor-kernel" --oms "$oms" --name k1 --unix "$work/k1.sock" \
  --label side=a --builtin all
start k2 "$b/kernel-server/cor-kernel" --oms "$oms" --name k2 --unix "$work/k2.sock" \
  --label side=b --module "$b/apps/kv/libcor-kv.so" --module "$b/apps/social/libcor-social.so"

kv=$b/apps/kv/cor-kv
so=$b/apps/social/cor-social

# kv, created where the module is loaded and where it is built in.
check "kv create" 0 '^[0-9a-f]{32}$' "$kv" create store1
check "kv put" 0 'new' "$kv" put store1 colour blue
check "kv overwrite" 0 'replaced' "$kv" put store1 colour green
check "kv get" 0 '^green$' "$kv" get store1 colour
check "kv put 2" 0 'new' "$kv" put store1 count 3
check "kv scan" 0 $'colour\tgreen' "$kv" scan store1
check "kv size" 0 '^2$' "$kv" size store1
check "kv delete" 0 'deleted' "$kv" delete store1 colour
check "kv get absent" 1 '' "$kv" get store1 colour
check "kv second store" 0 '^[0-9a-f]{32}$' "$kv" create store2
check "kv stores are separate" 0 '^0$' "$kv" size store2
check "kv drop" 0 '' "$kv" drop store2
check "kv dropped store is gone" 1 'no object named' "$kv" size store2

# social across both kernels: with two live nodes and even placement the
# three users cannot all land on one kernel.
for u in alice bob carol; do check "adduser $u" 0 '' "$so" adduser "$u" "${u^}"; done
check "follow 1" 0 '' "$so" follow alice bob
check "follow 2" 0 '' "$so" follow alice carol
check "follow again is idempotent" 0 '' "$so" follow alice bob
check "post bob" 0 '' "$so" post bob "bob was here"
check "post carol" 0 '' "$so" post carol "carol too"
check "timeline merges followees" 0 'carol too' "$so" timeline alice
check "timeline has bob" 0 'bob was here' "$so" timeline alice
check "self-follow refused" 1 'EINVAL|itself|self' "$so" follow alice alice
check "post too long refused" 2 "1..280 bytes" "$so" post bob "$(printf 'x%.0s' $(seq 1 300))"
check "unknown user" 1 'no object named' "$so" timeline nobody
check "deluser carol" 0 '' "$so" deluser carol
check "timeline reports the unreachable" 0 'bob was here' "$so" timeline alice
check "usage error exits 2" 2 'usage|unknown' "$kv" frobnicate store1

# Every daemon drains on SIGTERM and exits 0.
for i in "${!pids[@]}"; do
  kill -TERM "${pids[$i]}"
  if wait "${pids[$i]}"; then passes=$((passes + 1)); else
    fails=$((fails + 1)); echo "FAIL: daemon ${pids[$i]} did not exit 0 on SIGTERM"; fi
done
pids=()
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
