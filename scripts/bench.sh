#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds optimised and runs the benchmarks; prints their figures. The decoder benchmark runs on
# this machine; the IPVS one in one boot of the test VM. Arguments go to ipvs-bench (service
# counts; default 1000 10000). Last, the daemon end to end at 1k-50k Services (one boot per
# cluster, about half an hour; KIPVS_BENCH_SCALE=0 skips it, KIPVS_SCALE_CLUSTERS="1000x10 ..."
# picks the clusters).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh" >/dev/null
[ -f build/bench/build.ninja ] || meson setup build/bench --wrap-mode=nodownload --buildtype=release >/dev/null
meson compile -C build/bench >/dev/null
echo "== decoding (watch/), on this machine"
build/bench/bench/decode-bench
echo
echo "== programming IPVS (ipvs/), in the test VM"
export KIPVS_VM_REQUIRED=1
session="$root/build/bench/vm-session"
python3 tests/vm/vm.py exec --session "$session" --timeout 3000 -- build/bench/bench/ipvs-bench "$@"
echo
echo "== the incremental path (ipvs/ reconciler, daemon/ proxier), in the same VM boot"
python3 tests/vm/vm.py exec --session "$session" --timeout 3000 -- build/bench/bench/reconcile-bench
echo
echo "== the nftables table (ipvs/firewall*), in the same VM boot"
python3 tests/vm/vm.py exec --session "$session" --timeout 3000 -- build/bench/bench/firewall-bench
python3 tests/vm/vm.py stop --session "$session"
if [ "${KIPVS_BENCH_SCALE:-1}" != 0 ]; then
  echo
  echo "== the daemon end to end at scale (bench/daemon_scale.*), one VM boot per cluster"
  # shellcheck disable=SC2086
  bench/daemon_scale.sh "$root/build/bench/scale-session" build/bench "$root/build/bench/scale" ${KIPVS_SCALE_CLUSTERS:-}
fi
