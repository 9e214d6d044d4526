#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Host side of the end-to-end scale benchmark (daemon_scale.py): writes the clusters' objects,
# runs the fake API server here (the guest reaches it as 10.0.2.2) and the measurements in the
# test VM session given, one JSON line per cluster on standard output.
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
# Copies, so a rebuild while the benchmark runs cannot change (or truncate) what it runs.
mkdir -p "$work/bin"
cp "$build/daemon/kube-ipvsd" "$build/bench/kernel-floor" "$work/bin/"
source "$root/tests/vm/fake_apiserver_env.sh"
start_fake_apiserver "$work"
python3 "$root/tests/vm/vm.py" exec --session "$session" --no-netns --timeout 7200 -- \
  python3 "$here/daemon_scale.py" --daemon "$work/bin/kube-ipvsd" --floor "$work/bin/kernel-floor" \
  --kubeconfig "$work/kubeconfig" --control "http://10.0.2.2:$control_port" --work /run/kipvs-scale --changes "${KIPVS_SCALE_CHANGES:-200}" "${clusters[@]}"
