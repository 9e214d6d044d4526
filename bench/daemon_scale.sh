#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Host side of the end-to-end scale benchmark (daemon_scale.py): writes the clusters' objects,
# runs the fake API server here (the guest reaches it as 10.0.2.2) and the measurements in the
# test VM session given (a fresh boot for each cluster), one JSON line per cluster on standard
# output.
# Usage: daemon_scale.sh SESSION BUILD_DIR WORKDIR [SERVICESxENDPOINTS ...]
#   default clusters: 1000x10 10000x10 20000x10 50000x10 100x1000
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
session=$1 build=$(cd "$2" && pwd) work=$3
shift 3
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000x10 10000x10 20000x10 50000x10 100x1000)
mkdir -p "$work"
work=$(cd "$work" && pwd)
clusters=()
for size in "${sizes[@]}"; do
  services=${size%x*} endpoints=${size#*x}
  objects="$work/cluster-$size.json"
  [ -f "$objects" ] || python3 "$here/scale_objects.py" "$services" "$endpoints" "$objects"
  spec="$size:$services:$endpoints:$objects"
  if [ "$services" -ge 1000 ] && [ "$endpoints" -le 100 ]; then
    rotation="$work/rotation-$size.json"
    [ -f "$rotation" ] || python3 "$here/scale_objects.py" "$services" "$endpoints" "$rotation" --rotate 1000
    spec="$spec:$rotation"
  fi
  clusters+=(--cluster "$spec")
done
# Copies under a new name each run, so a rebuild while the benchmark runs cannot change what it
# runs, and the guest (whose view of the shared folder may be cached) reads a file never seen.
bin="$work/bin-$(date +%s%N)"
mkdir -p "$bin"
cp "$build/daemon/kube-ipvsd" "$build/bench/kernel-floor" "$bin/"
warm_up="$work/cluster-warm-up.json"
[ -f "$warm_up" ] || python3 "$here/scale_objects.py" 100 10 "$warm_up"
source "$root/tests/vm/fake_apiserver_env.sh"
start_fake_apiserver "$work"
# One boot per cluster: IPVS keeps deleted real servers in a per-namespace trash for minutes and
# walks it on every add, so a table cleaned just before would slow the next cluster's first sync.
for ((i = 0; i < ${#clusters[@]}; i += 2)); do
  python3 "$root/tests/vm/vm.py" exec --session "$session" --no-netns --timeout 7200 -- \
    python3 "$here/daemon_scale.py" --daemon "$bin/kube-ipvsd" --floor "$bin/kernel-floor" \
    --kubeconfig "$work/kubeconfig" --control "http://10.0.2.2:$control_port" --work /run/kipvs-scale \
    --warm-up "$warm_up" --changes "${KIPVS_SCALE_CHANGES:-200}" \
    --restart-timeout "${KIPVS_SCALE_RESTART_TIMEOUT:-600}" \
    ${KIPVS_SCALE_RUN_ESTIMATION:+--run-estimation "$KIPVS_SCALE_RUN_ESTIMATION"} "${clusters[i]}" "${clusters[i + 1]}"
  python3 "$root/tests/vm/vm.py" stop --session "$session"
done
