#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fetches Debian's stock kernel package for the test VM, unpacks it (nothing is installed on the
# host) and prepares modules.dep, into a cache outside the source tree. Idempotent.
set -euo pipefail

cache=${KIPVS_VM_CACHE:-/var/cache/kube-ipvsd/vm}
mkdir -p "$cache"
cd "$cache"

if [ -z "${KIPVS_VM_KERNEL_PACKAGE:-}" ]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq >/dev/null
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
else
  pkg=$KIPVS_VM_KERNEL_PACKAGE
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot tell which linux-image package is current" >&2; exit 1; }
version=${pkg#linux-image-}

if [ -f "$version/ready" ]; then
  ln -sfn "$version" current
  echo "fetch-kernel: kernel $version cached in $cache"
  exit 0
fi

echo "fetch-kernel: downloading $pkg"
rm -rf "$version.tmp" && mkdir "$version.tmp"
# apt-get download writes into the current folder; _apt cannot write here, so it warns: silence it.
(cd "$version.tmp" && apt-get download -qq "$pkg" 2>/dev/null)
dpkg -x "$version.tmp"/*.deb "$version.tmp/root"
rm -f "$version.tmp"/*.deb
depmod -b "$version.tmp/root" "$version"
rm -rf "$version" && mv "$version.tmp" "$version"
touch "$version/ready"
ln -sfn "$version" current
echo "fetch-kernel: kernel $version unpacked in $cache/$version"
