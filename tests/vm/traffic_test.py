#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The complete data path with real packets, inside the test VM (issue: nftables data path).

A small cluster in namespaces: this namespace is the node (kube-ipvsd with --manifests), pods
on the bridge cbr0 (10.244.1.0/24) answer TCP and UDP with their own name and the address they
saw, and two clients outside the cluster reach the node through node0 (192.168.122.0/24, inside
the load balancer's source ranges) and node1 (192.168.123.0/24, outside them).

With --mode ranges, the cluster's ServiceCIDR arrives after the first sync: the daemon moves
from a /32 per ClusterIP to one local route per service range while traffic keeps flowing, and
every check runs on the routes.

Usage: traffic_test.py --daemon BIN --tool traffic_tool.py --mode addresses|ranges
"""
import json
import os
import subprocess
import tempfile
import time

from daemon_support import Daemon, Failure, entry, http_get, metric_samples, run, wait_for

NODE = "192.168.122.10"
PODS = {"pod-a": "10.244.1.10", "pod-b": "10.244.1.11", "pod-c": "10.244.1.12"}
PODS6 = {"pod-a": "fd00:244:1::10", "pod-b": "fd00:244:1::11", "pod-c": "fd00:244:1::12"}
NODE6 = "fd00:122::10"


def service(name, ports, cluster_ip, type_="ClusterIP", **spec):
    s = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
         "spec": {"type": type_, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ipFamilies": ["IPv4"],
                  "ports": ports, **spec}}
    return s


def endpoints(name, pods, port, protocol="TCP", family="IPv4"):
    addresses = PODS6 if family == "IPv6" else PODS
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-{family.lower()}", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": family, "ports": [{"name": "p", "port": port, "protocol": protocol}],
            "endpoints": [{"addresses": [addresses[p]], "conditions": {"ready": True}, "nodeName": "node-a"} for p in pods]}


def tcp_port(port, node_port=None):
    p = {"name": "p", "port": port, "protocol": "TCP"}
    if node_port:
        p["nodePort"] = node_port
    return p


class Cluster:
    def __init__(self, args):
        self.args = args
        self.folder = tempfile.mkdtemp(prefix="kipvs-traffic-")
        self.servers = []
        self.tag = str(os.getpid())  # named namespaces outlive the test in the VM's boot
        self.namespaces = []

    def nsname(self, name):
        return f"{name}.{self.tag}"

    def add_ns(self, name):
        run("ip", "netns", "add", self.nsname(name))
        self.namespaces.append(self.nsname(name))

    def ns(self, name, *argv):
        return run("ip", "netns", "exec", self.nsname(name), *argv)

    def in_ns(self, name):
        return ["ip", "netns", "exec", self.nsname(name)]

    def tool(self, where, *argv):
        prefix = [] if where == "node" else self.in_ns(where)
        return subprocess.run(prefix + ["python3", self.args.tool, *argv], stdout=subprocess.PIPE, text=True,
                              timeout=60).stdout.strip()

    def build(self):
        run("sysctl", "-qw", "net.ipv4.conf.all.forwarding=1")
        # Pods on one bridge answer each other directly; as on a node with a bridge CNI,
        # br_netfilter passes bridged packets through IPVS so replies are translated back.
        run("modprobe", "br_netfilter")
        run("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1",
            "net.ipv6.conf.all.forwarding=1")
        run("ip", "link", "add", "cbr0", "type", "bridge")
        run("ip", "addr", "add", "10.244.1.1/24", "dev", "cbr0")
        run("ip", "addr", "add", "fd00:244:1::1/64", "dev", "cbr0", "nodad")
        run("ip", "link", "set", "cbr0", "up")
        for name, ip in PODS.items():
            self.add_ns(name)
            run("ip", "link", "add", f"v-{name}", "type", "veth", "peer", "name", "eth0", "netns", self.nsname(name))
            run("ip", "link", "set", f"v-{name}", "master", "cbr0", "up")
            # kubelet's --hairpin-mode=hairpin-veth: a pod's own packets may come back to it.
            run("ip", "link", "set", f"v-{name}", "type", "bridge_slave", "hairpin", "on")
            self.ns(name, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            self.ns(name, "ip", "link", "set", "eth0", "up")
            self.ns(name, "ip", "link", "set", "lo", "up")
            self.ns(name, "ip", "route", "add", "default", "via", "10.244.1.1")
            self.ns(name, "ip", "addr", "add", f"{PODS6[name]}/64", "dev", "eth0", "nodad")
            self.ns(name, "ip", "-6", "route", "add", "default", "via", "fd00:244:1::1")
            self.servers.append(subprocess.Popen(self.in_ns(name) + ["python3", self.args.tool, "serve", name]))
        for client, link, net in (("client", "node0", "192.168.122"), ("other", "node1", "192.168.123")):
            self.add_ns(client)
            run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", self.nsname(client))
            run("ip", "addr", "add", f"{net}.10/24", "dev", link)
            run("ip", "link", "set", link, "up")
            self.ns(client, "ip", "addr", "add", f"{net}.100/24", "dev", "eth0")
            self.ns(client, "ip", "link", "set", "eth0", "up")
            self.ns(client, "ip", "link", "set", "lo", "up")
            self.ns(client, "ip", "route", "add", "default", "via", f"{net}.10")
            net6 = "fd00:" + net.split(".")[2]  # 192.168.122 -> fd00:122
            run("ip", "addr", "add", f"{net6}::10/64", "dev", link, "nodad")
            self.ns(client, "ip", "addr", "add", f"{net6}::100/64", "dev", "eth0", "nodad")
            self.ns(client, "ip", "-6", "route", "add", "default", "via", f"{net6}::10")
        wait_for("the pods' servers", lambda: all(self.tool("node", "get", ip, "8080").startswith(n) for n, ip in PODS.items()))

    def write(self, name, *objects):
        path = os.path.join(self.folder, name + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": list(objects)}, f)
        os.rename(path + ".tmp", path)

    def stop(self):
        for s in self.servers:
            s.kill()
        for name in self.namespaces:
            run("ip", "netns", "del", name, check=False)


def udp_flows(destination):
    """`conntrack -L` lines of the UDP flows sent to `destination`."""
    return [line for line in run("conntrack", "-L", "-p", "udp", "-d", destination, stderr=False).splitlines()
            if line.startswith("udp")]


def reply_source(line):
    """The reply direction's source address of a `conntrack -L` line (its second src=)."""
    sources = [word[4:] for word in line.split() if word.startswith("src=")]
    return sources[1] if len(sources) > 1 else None


def answerers(results):
    return {r.split()[0] for r in results}


def service_routes():
    return run("ip", "route", "show", "table", "local", "proto", "107") + \
        run("ip", "-6", "route", "show", "table", "local", "proto", "107")


def move_to_service_ranges(c):
    """The ServiceCIDR arrives: one route per family, the ClusterIPs' /32s and /128s go, the
    load-balancer IPs outside the ranges stay bound."""
    bound = run("ip", "addr", "show", "dev", "kube-ipvs0")
    if "10.96.0.20/32" not in bound or "fd00:96::20/128" not in bound:
        raise Failure(f"before any ServiceCIDR, the ClusterIPs should be bound: {bound}")
    c.write("servicecidr", {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                            "metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.96.0.0/16", "fd00:96::/112"]}})

    def moved():
        addresses = run("ip", "addr", "show", "dev", "kube-ipvs0")
        routes = service_routes()
        return ("local 10.96.0.0/16 dev lo" in routes and "local fd00:96::/112 dev lo" in routes
                and "10.96." not in addresses and "fd00:96::" not in addresses and "203.0.113.10/32" in addresses)
    wait_for("the ClusterIPs reached through the service ranges' routes, unbound", moved, 20)
    print("ok: the ServiceCIDR moved every ClusterIP from kube-ipvs0 to two local routes "
          "(load-balancer IPs outside the ranges stay bound)", flush=True)


def test(args, holder):
    c = Cluster(args)
    holder.append(c)
    c.build()
    c.write("node", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
                     "status": {"addresses": [{"type": "InternalIP", "address": NODE},
                                              {"type": "InternalIP", "address": NODE6}]}})
    # IPv6: a ClusterIP and a NodePort (Cluster policy) on both pods, and a pod reaching itself.
    web6 = service("web6", [tcp_port(80, 30090)], "fd00:96::20", "NodePort")
    web6["spec"]["ipFamilies"] = ["IPv6"]
    c.write("web6", web6, endpoints("web6", ["pod-a", "pod-b"], 8080, family="IPv6"))
    self6 = service("self6", [tcp_port(80)], "fd00:96::30")
    self6["spec"]["ipFamilies"] = ["IPv6"]
    c.write("self6", self6, endpoints("self6", ["pod-a"], 8080, family="IPv6"))
    c.write("web", service("web", [tcp_port(80)], "10.96.0.20"), endpoints("web", ["pod-a", "pod-b"], 8080))
    c.write("sticky", service("sticky", [tcp_port(80)], "10.96.0.21", sessionAffinity="ClientIP",
                              sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
            endpoints("sticky", ["pod-a", "pod-b"], 8080))
    c.write("self", service("self", [tcp_port(80)], "10.96.0.30"), endpoints("self", ["pod-a"], 8080))
    c.write("np-cluster", service("np-cluster", [tcp_port(80, 30080)], "10.96.0.40", "NodePort"),
            endpoints("np-cluster", ["pod-a"], 8080))
    c.write("np-local", service("np-local", [tcp_port(80, 30081)], "10.96.0.41", "NodePort", externalTrafficPolicy="Local"),
            endpoints("np-local", ["pod-a"], 8080))
    lb = service("lb", [tcp_port(80, 30082)], "10.96.0.50", "LoadBalancer", loadBalancerSourceRanges=["192.168.122.0/24"])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
    c.write("lb", lb, endpoints("lb", ["pod-b"], 8080))
    # Source ranges that leave out every node address (upstream #119656).
    lb_far = service("lb-far", [tcp_port(80, 30084)], "10.96.0.52", "LoadBalancer", loadBalancerSourceRanges=["198.51.100.0/24"])
    lb_far["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.12"}]}}
    c.write("lb-far", lb_far, endpoints("lb-far", ["pod-b"], 8080))
    lb_local = service("lb-local", [tcp_port(80, 30083)], "10.96.0.51", "LoadBalancer", externalTrafficPolicy="Local",
                       healthCheckNodePort=32000)
    lb_local["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.11"}]}}
    c.write("lb-local", lb_local, endpoints("lb-local", ["pod-a"], 8080))
    dns = service("dns", [{"name": "p", "port": 53, "protocol": "UDP"}], "10.96.0.53")
    c.write("dns", dns, endpoints("dns", ["pod-a"], 5353, "UDP"))
    # A Service in a namespace that sorts first claims the DNS ClusterIP as its external IP: the
    # ClusterIP keeps it, whatever the order the daemon reads them in.
    evil = service("evil", [{"name": "p", "port": 53, "protocol": "UDP"}], "10.96.0.54", externalIPs=["10.96.0.53"])
    evil["metadata"]["namespace"] = "aaa"
    evil_endpoints = endpoints("evil", ["pod-c"], 5353, "UDP")
    evil_endpoints["metadata"]["namespace"] = "aaa"
    c.write("aaa-evil", evil, evil_endpoints)

    # A host firewall as Docker leaves it: iptables-nft's FORWARD chain with policy drop.
    run("nft", "add table ip filter")
    run("nft", "add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }")

    # In a network namespace nf_conntrack_max is read-only: kind's setting for the same case.
    daemon = Daemon(args.daemon, ["--manifests", c.folder, "--hostname-override=node-a", "--v=2",
                                  "--cluster-cidr=10.244.0.0/16", "--ipvs-min-sync-period=0s",
                                  "--conntrack-max-per-core=0"],
                    c.folder + ".log")
    holder.append(daemon)
    daemon.start()
    wait_for("the first sync", lambda: http_get(daemon.healthz + "/healthz")[0] == 200, 30)
    wait_for("the nftables table", lambda: "kube-ipvsd" in run("nft", "list", "tables"), 15)
    if args.mode == "ranges":
        move_to_service_ranges(c)

    # ClusterIP from a pod and from the node, spread over both pods (rr).
    for where in ("pod-c", "node"):
        got = [c.tool(where, "get", "10.96.0.20", "80") for _ in range(4)]
        if answerers(got) != {"pod-a", "pod-b"}:
            raise Failure(f"ClusterIP from {where}: wanted answers from pod-a and pod-b, got {got}")
    print("ok: ClusterIP from a pod and from the node, spread over the backends", flush=True)

    got = [c.tool("pod-c", "get", "10.96.0.21", "80") for _ in range(5)]
    if len(answerers(got)) != 1 or "ERROR" in got[0]:
        raise Failure(f"ClientIP affinity: wanted one backend for every request, got {got}")
    print(f"ok: ClientIP affinity keeps {got[0].split()[0]}", flush=True)

    # Hairpin: pod-a reaches its own Service and lands on itself, masqueraded to the node.
    got = c.tool("pod-a", "get", "10.96.0.30", "80")
    if got != "pod-a 10.244.1.1":
        raise Failure(f"hairpin: wanted pod-a to answer itself seeing the node's address, got {got!r}")
    print("ok: hairpin (a pod reaching itself through its Service)", flush=True)

    # NodePort from outside: masqueraded with the Cluster policy, the client's address kept with Local.
    got = c.tool("client", "get", NODE, "30080")
    if got != "pod-a 10.244.1.1":
        raise Failure(f"NodePort (Cluster): wanted pod-a seeing the node's address, got {got!r}")
    got = c.tool("client", "get", NODE, "30081")
    if got != "pod-a 192.168.122.100":
        raise Failure(f"NodePort (Local): wanted pod-a seeing the client's address, got {got!r}")
    print("ok: NodePort from outside, masqueraded for Cluster, client address kept for Local "
          "(through a FORWARD chain whose policy is drop)", flush=True)

    # The same over IPv6.
    got = [c.tool("pod-c", "get", "fd00:96::20", "80") for _ in range(4)]
    if answerers(got) != {"pod-a", "pod-b"}:
        raise Failure(f"IPv6 ClusterIP from a pod: wanted answers from pod-a and pod-b, got {got}")
    got = c.tool("pod-a", "get", "fd00:96::30", "80")
    if got != "pod-a fd00:244:1::1":
        raise Failure(f"IPv6 hairpin: wanted pod-a to answer itself seeing the node's address, got {got!r}")
    got = c.tool("client", "get", NODE6, "30090")
    if got.split()[0] not in ("pod-a", "pod-b") or got.split()[1] != "fd00:244:1::1":
        raise Failure(f"IPv6 NodePort (Cluster): wanted a pod seeing the node's address, got {got!r}")
    print("ok: IPv6 ClusterIP spread over the backends, hairpin, NodePort masqueraded", flush=True)

    # loadBalancerSourceRanges: the client in range is answered, the other is dropped.
    for client in ("client", "other"):
        c.ns(client, "ip", "route", "add", "203.0.113.0/24", "via", "192.168.12" + ("2" if client == "client" else "3") + ".10")
    got = c.tool("client", "get", "203.0.113.10", "80")
    if not got.startswith("pod-b"):
        raise Failure(f"LoadBalancer from an allowed source: got {got!r}")
    got = c.tool("other", "get", "203.0.113.10", "80")
    if not got.startswith("ERROR"):
        raise Failure(f"LoadBalancer from a source outside the ranges was answered: {got!r}")
    got = c.tool("node", "get", "203.0.113.10", "80")
    if not got.startswith("pod-b"):
        raise Failure(f"LoadBalancer from the node, whose address is in the ranges, was not answered: {got!r}")
    for where in ("node", "client"):
        got = c.tool(where, "get", "203.0.113.12", "80")
        if not got.startswith("ERROR"):
            raise Failure(f"LoadBalancer whose ranges leave out {where} was answered: {got!r}")
    print("ok: loadBalancerSourceRanges (clients and the node answered only from inside the ranges)", flush=True)

    # Health-check node port of the LoadBalancer with the Local policy.
    status, body = http_get(f"http://{NODE}:32000/anything")
    doc = json.loads(body)
    if status != 200 or doc != {"service": {"namespace": "default", "name": "lb-local"}, "localEndpoints": 1,
                                "serviceProxyHealthy": True}:
        raise Failure(f"health-check node port: {status} {body}")
    print("ok: health-check node port answers 200 with one local endpoint", flush=True)

    # Host protection: a node-local server on a port that is no service port is not reachable on a ClusterIP.
    node_server = subprocess.Popen(["python3", "-m", "http.server", "--bind", "0.0.0.0", "9999"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Python starts slowly under TCG on a busy host: wait until it answers.
        wait_for("the node's own server", lambda: not c.tool("pod-c", "get", "10.244.1.1", "9999").startswith("ERROR"),
                 20, 0.5)
        reachable = c.tool("pod-c", "get", "10.244.1.1", "9999")
        blocked = c.tool("pod-c", "get", "10.96.0.20", "9999")
        if reachable.startswith("ERROR") or not blocked.startswith("ERROR"):
            raise Failure(f"host protection: node address gave {reachable!r}, ClusterIP gave {blocked!r}")
        if args.mode == "ranges":
            # An address of the range no Service has is local now: refused like a closed port.
            for where in ("pod-c", "node"):
                got = c.tool(where, "get", "10.96.0.99", "9999")
                if os.environ.get("KIPVS_DEBUG"):
                    print(run("nft", "list", "chain", "inet", "kube-ipvsd", "filter-input"), flush=True)
                if not got.startswith("ERROR"):
                    raise Failure(f"an unused address of the service range reached the node's server from {where}: {got!r}")
            print(f"ok: host protection covers the whole service range (the node's server is closed on an unused "
                  f"address: {got!r})", flush=True)
    finally:
        node_server.kill()
    print("ok: host protection (a node port that is no service port is closed on ClusterIPs)", flush=True)

    # UDP: the only backend is replaced; the client's next datagrams reach the new one.
    udp = subprocess.Popen(c.in_ns("pod-c") + ["python3", args.tool, "udp", "10.96.0.53", "53", "60", "0.25"],
                           stdout=subprocess.PIPE, text=True)
    first = udp.stdout.readline().strip()
    if not first.startswith("pod-a"):
        raise Failure(f"UDP: the first answer came from {first!r}, wanted pod-a (not aaa/evil's pod-c)")
    if "aaa/evil: virtual server UDP 10.96.0.53:53 is also wanted by default/dns" not in daemon.log():
        raise Failure("no warning for aaa/evil's external IP over the DNS ClusterIP")
    c.write("dns", dns, endpoints("dns", ["pod-b"], 5353, "UDP"))
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen.append(udp.stdout.readline().strip())
        if seen[-1].startswith("pod-b"):
            break
    udp.kill()
    if not seen or not seen[-1].startswith("pod-b"):
        raise Failure(f"UDP: after the backend was replaced the client still got {seen[-5:]}")
    deleted = metric_samples(daemon.metrics_text(), "kube_ipvsd_conntrack_entries_deleted_total")
    print(f"ok: DNS ClusterIP kept against another Service's external IP; UDP client moved to the new backend after {len(seen)} datagrams "
          f"(conntrack entries deleted: {int(sum(deleted.values()))})", flush=True)

    # An endpoint removed while the daemon is down: the restart's first sync deletes the flows it
    # answered (conntrack reconciliation reads the kernel's table, not the daemon's memory).
    # An idle client's flow answered by pod-b, lasting (IPVS alone drops such a flow only when the
    # client sends again): what a DNS client holding its socket leaves behind.
    run("conntrack", "-I", "-p", "udp", "-s", "10.244.1.12", "-d", "10.96.0.53", "--sport", "40000", "--dport", "53",
        "--reply-src", PODS["pod-b"], "--reply-dst", "10.244.1.12", "--reply-port-src", "5353",
        "--reply-port-dst", "40000", "-t", "300")
    if not any(reply_source(line) == PODS["pod-b"] for line in udp_flows("10.96.0.53")):
        raise Failure(f"no conntrack flow answered by pod-b to reconcile: {udp_flows('10.96.0.53')}")
    daemon.stop()
    c.write("dns", dns, endpoints("dns", ["pod-a"], 5353, "UDP"))
    daemon.start()
    daemon.wait_first_sync()
    left = [line for line in udp_flows("10.96.0.53") if reply_source(line) == PODS["pod-b"]]
    if left:
        raise Failure(f"after the restart, flows answered by the removed endpoint remain: {left}")
    reconciled = metric_samples(daemon.metrics_text(), "kubeproxy_conntrack_reconciler_deleted_entries_total")
    if reconciled.get('{ip_family="IPv4"}', 0) < 1:
        raise Failure(f"the conntrack reconciler did not count the deletion: {reconciled}")
    print(f"ok: a restart deletes the UDP flows of an endpoint removed while it was down "
          f"(kubeproxy_conntrack_reconciler_deleted_entries_total {reconciled})", flush=True)

    # Graceful termination: a long-lived connection to a removed endpoint keeps working.
    hold = subprocess.Popen(c.in_ns("client") + ["python3", args.tool, "hold", NODE, "30080"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    hold.stdin.write("one\n")
    hold.stdin.flush()
    before = hold.stdout.readline().strip()
    c.write("np-cluster", service("np-cluster", [tcp_port(80, 30080)], "10.96.0.40", "NodePort"),
            endpoints("np-cluster", ["pod-b"], 8080))
    wait_for("pod-b in the NodePort's virtual server",
             lambda: "10.244.1.11:8080" in run("ipvsadm", "-Ln", "-t", f"{NODE}:30080"), 10)
    new = c.tool("client", "get", NODE, "30080")
    hold.stdin.write("two\n")
    hold.stdin.flush()
    after = hold.stdout.readline().strip()
    hold.kill()
    if not before.startswith("pod-a") or not after.startswith("pod-a") or not new.startswith("pod-b"):
        raise Failure(f"graceful termination: held connection {before!r} then {after!r}, new connection {new!r}")
    print("ok: graceful termination (the held connection stays on pod-a, new ones go to pod-b)", flush=True)

    daemon.stop()
    run(args.daemon, "--cleanup")
    if "kube-ipvsd" in run("nft", "list", "tables") or "kube-ipvsd" in run("nft", "list", "chain", "ip", "filter", "FORWARD"):
        raise Failure("--cleanup left the nftables table or its FORWARD rules")
    if service_routes().strip():
        raise Failure(f"--cleanup left the service ranges' routes: {service_routes()}")
    print("ok: --cleanup removes the nftables table and the service ranges' routes", flush=True)
    c.stop()


if __name__ == "__main__":
    entry(test, "daemon", "tool", "mode")
