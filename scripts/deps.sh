#!/usr/bin/env bash
# scripts/deps.sh — install, with apt, every Debian 12 package that Corundum's
# build, tests, demo and benchmarks need. Does nothing when they are present.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libgrpc-dev                      # gRPC C core (<grpc/grpc.h>)
  libprotobuf-c-dev protobuf-c-compiler
  protobuf-compiler libprotobuf-dev libprotoc-dev  # descriptor.proto, plugin.proto
  libevent-dev libcurl4-openssl-dev libjson-c-dev
  libcunit1-dev
  etcd-server                      # /usr/bin/etcd (3.4) for the etcd client's tests (tests/lib/etcd_proc.h)
  zlib1g-dev                       # crc32 for the OMS store log
  valgrind
  python3
  clang libclang-rt-14-dev         # libFuzzer (scripts/fuzz.sh, CI's short runs)
  iproute2                         # ip netns, veth, bridges (tests/cluster)
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
