# SPDX-License-Identifier: Apache-2.0
# Sourced by the host sides of the VM tests and benchmarks over the API path:
# start_fake_apiserver WORKDIR starts the fake API server on the host's loopback (TLS, a bearer
# token), writes WORKDIR/kubeconfig for the guest (which reaches the host as 10.0.2.2) and sets
# fake_server (its pid, killed on exit) and control_port.
start_fake_apiserver() {
  local work=$1 integration
  integration=$(cd "$(dirname "${BASH_SOURCE[0]}")/../integration" && pwd)
  rm -rf "$work/pki" "$work/ports"
  "$integration/make-certs.sh" "$work/pki" >/dev/null
  echo "token-$RANDOM$RANDOM" > "$work/tokens"
  python3 "$integration/fake_apiserver.py" --ports-file "$work/ports" --cert "$work/pki/server.crt" \
    --key "$work/pki/server.key" --tokens-file "$work/tokens" --bookmark-interval 1 &
  fake_server=$!
  trap 'kill $fake_server 2>/dev/null || true' EXIT
  for _ in $(seq 200); do [ -f "$work/ports" ] && break; sleep 0.05; done
  local api_port
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
}
