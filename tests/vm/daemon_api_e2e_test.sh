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
"$here/../integration/make-certs.sh" "$work/pki"
echo "e2e-token-$RANDOM$RANDOM" > "$work/tokens"
python3 "$here/../integration/fake_apiserver.py" --ports-file "$work/ports" --cert "$work/pki/server.crt" \
  --key "$work/pki/server.key" --tokens-file "$work/tokens" --bookmark-interval 1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$work/ports" ] && break; sleep 0.05; done
read -r api_port control_port < "$work/ports"
# The certificate names localhost; the guest dials 10.0.2.2: tls-server-name bridges the two.
cat > "$work/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: https://10.0.2.2:$api_port
    certificate-authority: $work/pki/ca.crt
    tls-server-name: localhost
users:
- name: kube-proxy
  user:
    token: $(cat "$work/tokens")
contexts:
- name: fake
  context: {cluster: fake, user: kube-proxy}
current-context: fake
KUBECONFIG
cd "$here"
python3 "$here/vm.py" exec --session "$session" --no-netns --timeout 600 -- \
  python3 "$here/$guest" --daemon "$daemon" --kubeconfig "$work/kubeconfig" \
  --control "http://10.0.2.2:$control_port" --work "/run/kipvs-${guest%.py}"
