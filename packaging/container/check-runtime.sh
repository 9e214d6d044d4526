#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The runtime image's library set, checked without a container engine: the Debian packages
# that own every shared library `ldd` resolves for the binary must be exactly those of
# runtime-packages.txt (besides kmod). A library added to the build without its package in the
# image fails here; so does a package left in the list that nothing needs.
# Usage: check-runtime.sh KUBE_IPVSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$1
if ldd "$binary" | grep -q 'not found'; then
  echo "FAIL: unresolved libraries:"; ldd "$binary" | grep 'not found'; exit 1
fi
needed=$(ldd "$binary" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
  dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"
done | cut -d: -f1 | sort -u)
listed=$(grep -v '^#' "$here/runtime-packages.txt" | grep . | grep -vx kmod | sort -u)
missing=$(comm -23 <(echo "$needed") <(echo "$listed"))
extra=$(comm -13 <(echo "$needed") <(echo "$listed"))
[ -z "$missing" ] || { echo "FAIL: the image lacks packages the binary needs: $missing"; exit 1; }
[ -z "$extra" ] || { echo "FAIL: runtime-packages.txt lists packages the binary does not need: $extra"; exit 1; }
grep -qx kmod "$here/runtime-packages.txt" || { echo "FAIL: kmod (modprobe for --init-only) is not in the image"; exit 1; }
echo "ok: the runtime image's $(echo "$listed" | wc -l) library packages are exactly what $(basename "$binary") links"
