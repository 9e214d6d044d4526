#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo command: installs what is missing, builds kube-ipvsd, boots Debian's stock kernel
# under qemu (this machine's own kernel need not have IPVS) and runs demo/cluster-demo.sh there:
# pods in network namespaces, kube-ipvsd on examples/cluster, real HTTP to a ClusterIP and a
# NodePort answered by different pods.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"
[ -f build/demo/build.ninja ] || meson setup build/demo --wrap-mode=nodownload -Dtests=false >/dev/null
meson compile -C build/demo >/dev/null
echo "Booting the test VM (Debian kernel, qemu TCG)..."
export KIPVS_VM_REQUIRED=1
exec python3 tests/vm/vm.py run --session "$root/build/demo/vm-session" -- \
  bash "$root/demo/cluster-demo.sh" "$root/build/demo/daemon/kube-ipvsd" "$root/examples/cluster"
