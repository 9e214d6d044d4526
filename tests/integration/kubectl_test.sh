#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fake API server speaks the real protocol: the real kubectl lists and watches through it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v kubectl >/dev/null || { echo "kubectl is missing: run scripts/install-deps.sh"; exit 1; }
work=$(mktemp -d /tmp/kipvs-kubectl-XXXXXX)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
"$here/make-certs.sh" "$work/pki"
echo secret-token > "$work/tokens"
python3 "$here/fake_apiserver.py" --ports-file "$work/ports" --cert "$work/pki/server.crt" --key "$work/pki/server.key" \
  --client-ca "$work/pki/ca.crt" --tokens-file "$work/tokens" --bookmark-interval 0.5 --max-watch-seconds 4 &
server=$!
for _ in $(seq 100); do [ -f "$work/ports" ] && break; sleep 0.05; done
read -r api control < "$work/ports"

apply() { curl -sf -X POST "http://127.0.0.1:$control/apply" -d "$1" >/dev/null; }
apply '{"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"shop"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":80}]}}'
apply '{"kind":"Service","apiVersion":"v1","metadata":{"name":"dns","namespace":"kube-system"},"spec":{"clusterIP":"10.96.0.53","ports":[{"port":53,"protocol":"UDP"}]}}'

cat > "$work/kubeconfig" <<CONFIG
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:$api", certificate-authority: pki/ca.crt}
users:
- name: token
  user: {token: secret-token}
- name: cert
  user: {client-certificate: pki/client.crt, client-key: pki/client.key}
contexts:
- name: token
  context: {cluster: fake, user: token}
- name: cert
  context: {cluster: fake, user: cert}
current-context: token
CONFIG

check() { if ! grep -q "$2" <<<"$1"; then echo "FAIL: $3"; echo "$1" | head -40; exit 1; fi; echo "ok: $3"; }

out=$(kubectl --kubeconfig "$work/kubeconfig" get svc -A -o json)
check "$out" '"name": "web"' "kubectl get svc -A -o json lists shop/web (token auth)"
check "$out" '"name": "dns"' "kubectl get svc -A -o json lists kube-system/dns"

out=$(kubectl --kubeconfig "$work/kubeconfig" --context cert get svc -n shop -o name)
check "$out" 'service/web' "kubectl get svc with a client certificate"

(sleep 1.5; apply '{"kind":"Service","apiVersion":"v1","metadata":{"name":"late","namespace":"shop"},"spec":{"clusterIP":"10.96.0.99","ports":[{"port":8080}]}}') &
out=$(timeout 4 kubectl --kubeconfig "$work/kubeconfig" get svc -A --watch -o json || true)
check "$out" '"name": "late"' "kubectl get svc -A --watch -o json sees a service added during the watch"

sed -i 's/secret-token/wrong-token/' "$work/kubeconfig"
if kubectl --kubeconfig "$work/kubeconfig" get svc -A -o json >/dev/null 2>&1; then
  echo "FAIL: a wrong token was accepted"; exit 1
fi
echo "ok: a wrong token is refused"
