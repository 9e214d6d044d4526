#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo, run inside the test VM (scripts/demo.sh starts it): a one-node "cluster" made of
# network namespaces, kube-ipvsd programming it from examples/cluster, and real HTTP requests.
#
#   pods     web-1, web-2, web-3: namespaces on the bridge cbr0 (10.244.1.0/24), each running a
#            small HTTP server that answers with its own name
#   node     this namespace: kube-ipvsd, the bridge, and node0 (192.168.122.10, the Node's
#            InternalIP in examples/cluster/node.yaml)
#   client   a namespace outside the cluster (192.168.122.100), routed to the node through node0
# Usage: cluster-demo.sh KUBE_IPVSD EXAMPLES_DIR
set -euo pipefail
kube_ipvsd=$1 examples=$2
work=$(mktemp -d /tmp/kipvs-demo-XXXXXX)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
indent() { sed 's/^/   /'; }

say "Building the pods: three namespaces on a bridge, each serving HTTP on :8080"
ip link add cbr0 type bridge
ip addr add 10.244.1.1/24 dev cbr0
ip link set cbr0 up
for i in 1 2 3; do
  pod=web-$i ip=10.244.1.1$((i - 1))
  ip netns add $pod
  ip link add veth-$pod type veth peer name eth0 netns $pod
  ip link set veth-$pod master cbr0 up
  ip -n $pod addr add $ip/24 dev eth0
  ip -n $pod link set eth0 up
  ip -n $pod link set lo up
  ip -n $pod route add default via 10.244.1.1
  ip netns exec $pod python3 -c "
import http.server
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'hello from $pod ($ip)\n'
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
http.server.HTTPServer(('0.0.0.0', 8080), Hello).serve_forever()" &
  echo "$pod  $ip:8080" | indent
done

say "Connecting a client outside the cluster (192.168.122.100) to the node (192.168.122.10)"
ip netns add client
ip link add node0 type veth peer name eth0 netns client
ip addr add 192.168.122.10/24 dev node0
ip link set node0 up
ip -n client addr add 192.168.122.100/24 dev eth0
ip -n client link set eth0 up
ip -n client link set lo up
ip -n client route add default via 192.168.122.10

say "Starting kube-ipvsd on examples/cluster (Services, EndpointSlices and the Node in YAML and JSON files)"
cp -r "$examples" "$work/manifests"
# The demo runs in a network namespace of the VM, where nf_conntrack_max is read-only: leave it,
# as kind does (on a real node kube-ipvsd sets it, as kube-proxy does).
echo "kube-ipvsd --manifests $work/manifests --hostname-override=node-a --v=2 --conntrack-max-per-core=0" | indent
"$kube_ipvsd" --manifests "$work/manifests" --hostname-override=node-a --v=2 --conntrack-max-per-core=0 \
  > "$work/kube-ipvsd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:10256/healthz && break
  sleep 0.1
done
echo "GET :10256/healthz -> $(curl -s http://127.0.0.1:10256/healthz)" | indent

say "The IPVS table it programmed (ipvsadm -Ln)"
ipvsadm -Ln | indent
say "The service addresses it bound on kube-ipvs0"
ip -br addr show kube-ipvs0 | indent

say "Six requests to Service web's ClusterIP (10.96.0.20:80): round robin over the three pods"
for _ in 1 2 3 4 5 6; do curl -s --max-time 5 http://10.96.0.20/; done | indent

say "Three requests from the outside client to Service shop's NodePort (192.168.122.10:30080): ClientIP affinity keeps one pod"
for _ in 1 2 3; do ip netns exec client curl -s --max-time 5 http://192.168.122.10:30080/; done | indent

say "Scaling web down: web-3 leaves its EndpointSlice in web.yaml (kube-ipvsd follows the folder)"
sed -i '/10.244.1.12/,/targetRef/d' "$work/manifests/web.yaml"
# web-3 still holds connections from the requests above (TIME_WAIT), so it drains at weight 0
# instead of vanishing: new connections avoid it, and it goes once they are gone.
for _ in $(seq 50); do ipvsadm -Ln -t 10.96.0.20:80 | grep -Eq '10.244.1.12:8080 +Masq +1 ' || break; sleep 0.1; done
ipvsadm -Ln -t 10.96.0.20:80 | tail -n +4 | indent
for _ in 1 2 3 4; do curl -s --max-time 5 http://10.96.0.20/; done | indent

say "Some of its metrics (127.0.0.1:10249/metrics, kube-proxy's names plus its own)"
curl -s http://127.0.0.1:10249/metrics |
  grep -E '^(kube_ipvsd_netlink_operations_total|kubeproxy_sync_proxy_rules_endpoint_changes_total|kubeproxy_network_programming_duration_seconds_count)' | indent

say "Stopping kube-ipvsd (SIGTERM): the kernel keeps serving, so a restart never drops traffic"
kill -TERM $daemon
wait $daemon || true
curl -s --max-time 5 http://10.96.0.20/ | indent

say "Its log"
indent < "$work/kube-ipvsd.log"
