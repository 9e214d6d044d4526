#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Host side of the end-to-end test over the API path: the fake API server runs here, on the
# host's loopback (TLS, a bearer token); the daemon and the checks run in the guest
# (daemon_api_e2e.py, or the guest script named), which reaches the host as 10.0.2.2.
# Usage: daemon_api_e2e_test.sh SESSION KUBE_IPVSD WORKDIR [GUEST_SCRIPT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
session=$1 daemon=$2 work=$3 guest=${4:-daemon_api_e2e.py}
rm -rf "$work"
mkdir -p "$work"
source "$here/fake_apiserver_env.sh"
start_fake_apiserver "$work"
cd "$here"
python3 "$here/vm.py" exec --session "$session" --no-netns --timeout 600 -- \
  python3 "$here/$guest" --daemon "$daemon" --kubeconfig "$work/kubeconfig" \
  --control "http://10.0.2.2:$control_port" --work "/run/kipvs-${guest%.py}"
