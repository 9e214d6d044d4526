#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every build and test dependency on Debian 12, then fetches the test VM's kernel.
# Idempotent and quiet: a second run installs nothing and prints one line.
# --build-only: only what building kube-ipvsd needs (the container image's build stage).
set -euo pipefail

build_packages=(
  # build
  meson ninja-build pkg-config g++
  # libraries (DESIGN notes in docs/design.md say why each one)
  libboost-dev libssl-dev rapidjson-dev nlohmann-json3-dev libyaml-cpp-dev
  libcli11-dev prometheus-cpp-dev libexpected-dev libspdlog-dev
  libnl-3-dev libnl-genl-3-dev libnl-route-3-dev linux-libc-dev
  libnftables-dev libnetfilter-conntrack-dev
)
packages=(
  "${build_packages[@]}"
  # tests (cpp-httplib drives the fake API server's control port)
  catch2 libcpp-httplib-dev python3 python3-yaml iproute2 curl openssl
  # promtool, which lints /metrics
  prometheus
  # the decoder's fuzz target (libFuzzer)
  clang libclang-rt-14-dev
  # the formatter and the linter (tests/lint): clang-tidy 16 understands libstdc++ 12's C++20
  clang-format clang-tidy-16
  # the test VM
  qemu-system-x86 busybox-static cpio kmod ipvsadm
  # independent checkers of the nftables table and conntrack in the VM
  nftables conntrack
  # packaging checks: the .deb (dpkg-buildpackage also wants build-essential), lintian,
  # systemd-analyze, man (renders the man page)
  build-essential dpkg-dev debhelper fakeroot lintian systemd man-db
)
build_only=false
[ "${1:-}" = "--build-only" ] && build_only=true
$build_only && packages=("${build_packages[@]}")

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get install needs it)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all ${#packages[@]} packages present"
fi

$build_only && exit 0

# kubectl checks the fake API server against the real client. Some machine images ship one of
# their own; otherwise Debian's kubernetes-client provides it.
if ! command -v kubectl >/dev/null; then
  echo "install-deps: installing kubernetes-client (kubectl)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi

"$(dirname "$0")/../tests/vm/fetch-kernel.sh"
