#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the .deb from this checkout (`dpkg-buildpackage -us -uc -b`) in a scratch copy where
# packaging/debian becomes debian/ and the systemd unit joins it, then runs lintian, which must
# report no error. Usage: build-deb.sh OUTDIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
scratch=$(mktemp -d /tmp/kipvs-deb-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
tree="$scratch/kube-ipvsd-0.1.0"
mkdir -p "$tree"
tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree" -xf -
cp -r "$root/packaging/debian" "$tree/debian"
rm -f "$tree/debian/build-deb.sh"
cp "$root/packaging/systemd/kube-ipvsd.service" "$tree/debian/kube-ipvsd.service"
cd "$tree"
dpkg-buildpackage -us -uc -b > "$scratch/build.log" 2>&1 || { tail -50 "$scratch/build.log"; exit 1; }
deb=$(ls "$scratch"/kube-ipvsd_*.deb)
echo "built $(basename "$deb")"
lintian --fail-on error --tag-display-limit 0 "$deb" | tee "$scratch/lintian.log"
echo "lintian: $(grep -c '^E:' "$scratch/lintian.log" || true) errors, $(grep -c '^W:' "$scratch/lintian.log" || true) warnings"
dpkg-deb --contents "$deb" | awk '{print $6}'
cp "$deb" "$out/"
