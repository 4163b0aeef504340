#!/usr/bin/env bash
# scripts/build.sh — install dependencies (if missing) and build into
# ./build (or $COR_BUILD_DIR). Extra arguments go to cmake's configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
build=${COR_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${COR_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j"$(nproc)" 2>&1 | grep -E "error:|warning:|Error [0-9]" || true
# The grep above only shows problems; fail if the build did.
cmake --build "$build" -j"$(nproc)" >/dev/null
