#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo command: installs, builds, boots Debian's kernel under qemu and programs one
# ClusterIP Service into IPVS there (this machine's own kernel need not have IPVS).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"
[ -f build/demo/build.ninja ] || meson setup build/demo --wrap-mode=nodownload >/dev/null
meson compile -C build/demo >/dev/null
echo "Booting the test VM (Debian kernel, qemu TCG)..."
export KIPVS_VM_REQUIRED=1
exec python3 tests/vm/vm.py run --session "$root/build/demo/vm-session" -- build/demo/demo/kernel-demo
