#!/usr/bin/env bash
# run_samples.sh — runs cor-check on each sample history and checks its
# exit code, which the file name gives: KIND_MODEL_what.hist with KIND
# good (exit 0), bad (exit 1) or malformed (exit 2). A sample's lines
# "# expect: TEXT" name text its output (stdout and stderr) must contain,
# where TEXT may use @FILE@ for the sample's own path.
#
#   run_samples.sh PATH/cor-check SAMPLE.hist...
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 COR_CHECK SAMPLE.hist..." >&2
  exit 2
fi
check=$1; shift
passes=0 fails=0
for f in "$@"; do
  base=$(basename "$f" .hist)
  kind=${base%%_*}
  rest=${base#*_}
  model=${rest%%_*}
  case $kind in
    good) want=0 ;;
    bad) want=1 ;;
    malformed) want=2 ;;
    *) echo "FAIL: $f: name must start with good_, bad_ or malformed_"; fails=$((fails + 1)); continue ;;
  esac
  out=$("$check" --model "$model" "$f" 2>&1); rc=$?
  ok=1
  [ "$rc" -eq "$want" ] || ok=0
  while IFS= read -r line; do
    text=${line#\# expect: }
    text=${text//@FILE@/$f}
    grep -qF -- "$text" <<<"$out" || { ok=0; echo "  missing: $text"; }
  done < <(grep '^# expect: ' "$f")
  if [ $ok -eq 1 ]; then
    passes=$((passes + 1))
  else
    fails=$((fails + 1))
    echo "FAIL: $base: exit $rc (want $want), output:"
    sed 's/^/    /' <<<"$out"
  fi
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
