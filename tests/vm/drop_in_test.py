#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kube-proxy's settings with real packets, inside the test VM (issue: drop-in).

The cluster of traffic_test.py (pods on the bridge cbr0, clients behind node0 and node1), plus a
pod on a point-to-point veth as Calico wires them (vethp, 10.244.2.10). Checked with independent
tools (ipvsadm -Sn, ss, sysctl, nft) and with what the pods see:

- each --detect-local-mode: which sources reaching a ClusterIP are masqueraded;
- a hostPort DNAT rule of the CNI portmap plugin's shape cannot take ClusterIP or external-IP
  traffic;
- --ipvs-exclude-cidrs: a Service inside is programmed, a foreign virtual server inside survives;
- --nodeport-addresses per family, --bind-address as the primary node IP, health-check node
  ports only on the NodePort addresses;
- the conntrack sysctls (and, in the VM's initial namespace through --init-only, nf_conntrack_max
  and the hash size), --oom-score-adj, --bind-address-hard-fail, and the scheduler checks.

Usage: drop_in_test.py --daemon BIN --tool traffic_tool.py
"""
import os
import socket
import subprocess
import time

from daemon_support import Daemon, Failure, entry, ipvs_rules, rules_of, run, show, wait_for
from traffic_test import Cluster, endpoints, service, tcp_port

POD_P = "10.244.2.10"
NODE_LINK_ADDRESSES = ("192.168.122.10", "192.168.123.10", "10.244.1.1")


def add_ptp_pod(c):
    """A pod on its own veth, routed by a /32 (Calico's shape), answering as pod-p."""
    c.add_ns("pod-p")
    run("ip", "link", "add", "vethp", "type", "veth", "peer", "name", "eth0", "netns", c.nsname("pod-p"))
    run("ip", "addr", "add", "169.254.1.1/32", "dev", "vethp")  # the pod's gateway, as Calico's
    run("ip", "link", "set", "vethp", "up")
    run("ip", "route", "add", f"{POD_P}/32", "dev", "vethp")
    c.ns("pod-p", "ip", "addr", "add", f"{POD_P}/32", "dev", "eth0")
    c.ns("pod-p", "ip", "link", "set", "eth0", "up")
    c.ns("pod-p", "ip", "link", "set", "lo", "up")
    c.ns("pod-p", "ip", "route", "add", "169.254.1.1", "dev", "eth0")
    c.ns("pod-p", "ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
    c.servers.append(subprocess.Popen(c.in_ns("pod-p") + ["python3", c.args.tool, "serve", "pod-p"]))


def node_object(pod_cidrs=None):
    spec = {"podCIDRs": pod_cidrs} if pod_cidrs else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}, "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.122.10"},
                                     {"type": "InternalIP", "address": "fd00:122::10"}]}}


def write_services(c):
    web = service("web", [tcp_port(80)], "10.96.0.20", externalIPs=["203.0.113.20"])
    web["metadata"]["annotations"] = {"kube-ipvsd.io/scheduler": "twos"}  # not in Debian 12's kernel
    c.write("web", web, endpoints("web", ["pod-b"], 8080))
    c.write("inside", service("inside", [tcp_port(80)], "10.97.0.5"), endpoints("inside", ["pod-b"], 8080))
    np = service("np", [tcp_port(80, 30080)], "10.96.0.40", "NodePort")
    np["spec"].update({"clusterIPs": ["10.96.0.40", "fd00:96::40"], "ipFamilies": ["IPv4", "IPv6"],
                       "ipFamilyPolicy": "RequireDualStack"})
    c.write("np", np, endpoints("np", ["pod-a"], 8080), endpoints("np", ["pod-a"], 8080, family="IPv6"))
    lb = service("lb-local", [tcp_port(80, 30083)], "10.96.0.51", "LoadBalancer", externalTrafficPolicy="Local",
                 healthCheckNodePort=32100)
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.11"}]}}
    c.write("lb-local", lb, endpoints("lb-local", ["pod-a"], 8080))


def start(c, holder, *flags):
    d = Daemon(c.args.daemon, ["--manifests", c.folder, "--hostname-override=node-a", "--v=2",
                               "--ipvs-min-sync-period=0s", "--conntrack-max-per-core=0", *flags], c.folder + ".log")
    holder.append(d)
    d.start()
    d.wait_first_sync()
    return d


def stop(d, holder):
    if d.stop() != 0:
        raise Failure("kube-ipvsd did not exit 0 on SIGTERM")
    holder.remove(d)


def seen_by_backend(c, source):
    """The address pod-b saw for a request from `source` to the ClusterIP 10.96.0.20:80."""
    got = c.tool(source, "get", "10.96.0.20", "80")
    if not got.startswith("pod-b "):
        raise Failure(f"ClusterIP from {source}: wanted pod-b to answer, got {got!r}")
    return got.split()[1]


def check_detector(c, holder, mode_flags, masqueraded):
    d = start(c, holder, *mode_flags)
    sources = {"pod-a": "10.244.1.10", "pod-p": POD_P, "client": "192.168.122.100"}
    for source, address in sources.items():
        seen = seen_by_backend(c, source)
        want = "10.244.1.1" if source in masqueraded else address
        if seen != want:
            raise Failure(f"{' '.join(mode_flags)}: pod-b saw {seen} for {source}, wanted {want}")
    print(f"ok: {' '.join(mode_flags)} masquerades {sorted(masqueraded)} and no other source", flush=True)
    return d


def check_detectors(c, holder):
    stop(check_detector(c, holder, ["--cluster-cidr=10.244.0.0/16"], {"client"}), holder)
    c.write("node", node_object(["10.244.1.0/24", "fd00:244:1::/64"]))
    stop(check_detector(c, holder, ["--detect-local-mode=NodeCIDR"], {"client", "pod-p"}), holder)
    c.write("node", node_object())
    stop(check_detector(c, holder, ["--detect-local-mode=BridgeInterface", "--pod-bridge-interface=cbr0"],
                        {"client", "pod-p"}), holder)
    stop(check_detector(c, holder, ["--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=veth"],
                        {"client", "pod-a"}), holder)


def add_portmap_rules():
    """The CNI portmap plugin's DNAT for a pod (pod-c) with hostPort 80, as iptables-nft writes it."""
    script = """
table ip nat {
  chain PREROUTING { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump CNI-HOSTPORT-DNAT; }
  chain OUTPUT { type nat hook output priority -100; policy accept; fib daddr type local jump CNI-HOSTPORT-DNAT; }
  chain CNI-HOSTPORT-DNAT { tcp dport 80 jump CNI-DN-pod-c; }
  chain CNI-DN-pod-c { tcp dport 80 dnat to 10.244.1.12:8080; }
}
"""
    done = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if done.returncode != 0:
        raise Failure(f"nft refused the portmap rules: {done.stderr}")


def check_main_run(c, holder):
    """ClusterCIDR with the conntrack timeouts, oom-score-adj, exclude-CIDRs, hostPort, schedulers."""
    run("ipvsadm", "-A", "-t", "10.97.0.99:80", "-s", "wrr")  # someone else's, inside the excluded range
    add_portmap_rules()
    d = start(c, holder, "--cluster-cidr=10.244.0.0/16", "--ipvs-exclude-cidrs=10.97.0.0/16",
              "--conntrack-tcp-timeout-established=2h", "--conntrack-tcp-timeout-close-wait=30m",
              "--conntrack-tcp-be-liberal", "--conntrack-udp-timeout=45s", "--conntrack-udp-timeout-stream=150s",
              "--oom-score-adj=-998")

    sysctls = {"nf_conntrack_tcp_timeout_established": "7200", "nf_conntrack_tcp_timeout_close_wait": "1800",
               "nf_conntrack_tcp_be_liberal": "1", "nf_conntrack_udp_timeout": "45",
               "nf_conntrack_udp_timeout_stream": "150"}
    got = {k: run("sysctl", "-n", f"net.netfilter.{k}").strip() for k in sysctls}
    if got != sysctls:
        raise Failure(f"conntrack sysctls: wanted {sysctls}, got {got}")
    with open(f"/proc/{d.proc.pid}/oom_score_adj") as f:
        if f.read().strip() != "-998":
            raise Failure("--oom-score-adj=-998 was not applied")
    print("ok: conntrack timeouts and tcp_be_liberal set (sysctl -n), oom_score_adj -998", flush=True)

    rules = ipvs_rules()
    inside = rules_of("-A -t 10.97.0.5:80 -s rr\n-a -t 10.97.0.5:80 -r 10.244.1.11:8080 -m -w 1")
    foreign = rules_of("-A -t 10.97.0.99:80 -s wrr")
    if not inside <= rules or not foreign <= rules:
        raise Failure(f"exclude-CIDRs: wanted the Service inside programmed and the foreign one kept:\n{show(rules)}")
    got = c.tool("pod-a", "get", "10.97.0.5", "80")
    if not got.startswith("pod-b"):
        raise Failure(f"the Service inside --ipvs-exclude-cidrs does not answer: {got!r}")
    os.remove(os.path.join(c.folder, "inside.json"))
    wait_for("the excluded-range Service's removal", lambda: not inside <= ipvs_rules(), 20)
    if not foreign <= ipvs_rules():
        raise Failure("the foreign virtual server inside --ipvs-exclude-cidrs was removed")
    print("ok: --ipvs-exclude-cidrs: a Service inside is programmed and removed; a foreign one survives", flush=True)

    for source in ("client", "pod-a", "node"):
        got = c.tool(source, "get", "10.96.0.20", "80")
        if not got.startswith("pod-b"):
            raise Failure(f"ClusterIP from {source} under a hostPort DNAT rule: wanted pod-b, got {got!r}")
    c.ns("client", "ip", "route", "add", "203.0.113.0/24", "via", "192.168.122.10")
    got = c.tool("client", "get", "203.0.113.20", "80")
    if not got.startswith("pod-b"):
        raise Failure(f"external IP under a hostPort DNAT rule: wanted pod-b, got {got!r}")
    got = c.tool("client", "get", "192.168.122.10", "80")
    if not got.startswith("pod-c"):
        raise Failure(f"the hostPort itself (node address:80) should still reach pod-c, got {got!r}")
    print("ok: a portmap-shaped hostPort DNAT takes neither ClusterIP nor external-IP traffic, "
          "and still serves the node's own address", flush=True)

    web = rules_of("-A -t 10.96.0.20:80 -s rr")
    if not web <= ipvs_rules():
        raise Failure(f"annotation 'twos' should fall back to rr:\n{show(ipvs_rules())}")
    if "this kernel has no such scheduler" not in d.log():
        raise Failure("no warning for the annotation naming a scheduler the kernel lacks")
    if any("198.51.100.0" in v for r in ipvs_rules() for _, v in r):
        raise Failure("the scheduler probe's virtual server was left behind")
    print("ok: an annotation naming 'twos' (absent from this kernel) falls back to rr, warned", flush=True)
    stop(d, holder)
    run("nft", "delete", "table", "ip", "nat")
    run("ipvsadm", "-D", "-t", "10.97.0.99:80")


def listeners(port):
    return {line.split()[3] for line in run("ss", "-ltnH").splitlines() if line.split()[3].endswith(f":{port}")}


def node_port_virtual_servers():
    return {r for r in ipvs_rules() if ("-A", "") in r and any(k == "-t" and v.endswith(":30080") for k, v in r)}


def check_node_addresses(c, holder):
    d = start(c, holder, "--nodeport-addresses=192.168.122.0/24")
    np = node_port_virtual_servers()
    wanted = rules_of("\n".join(["-A -t 192.168.122.10:30080 -s rr", "-A -t [fd00:122::10]:30080 -s rr",
                                 "-A -t [fd00:123::10]:30080 -s rr", "-A -t [fd00:244:1::1]:30080 -s rr"]))
    if np != wanted:
        raise Failure(f"--nodeport-addresses=192.168.122.0/24: IPv4 NodePorts there only, IPv6 on every "
                      f"address:\nwanted\n{show(wanted)}\ngot\n{show(np)}")
    got = listeners(32100)
    if "192.168.122.10:32100" not in got or any(a.startswith(("*", "0.0.0.0", "[::]")) for a in got) or \
            any(a.startswith(("192.168.123.10", "10.244.1.1")) for a in got):
        raise Failure(f"health-check node port listens on {sorted(got)}; wanted the NodePort addresses only")
    print(f"ok: --nodeport-addresses per family; health-check node port on {sorted(got)}", flush=True)
    stop(d, holder)

    d = start(c, holder, "--nodeport-addresses=primary", "--bind-address=192.168.123.10")
    np = node_port_virtual_servers()
    wanted = rules_of("-A -t 192.168.123.10:30080 -s rr\n-A -t [fd00:122::10]:30080 -s rr")
    if np != wanted:
        raise Failure(f"--bind-address=192.168.123.10 --nodeport-addresses=primary:\nwanted\n{show(wanted)}\n"
                      f"got\n{show(np)}")
    print("ok: --bind-address is the primary IPv4 node IP (NodePorts on it, not on the Node's InternalIP)", flush=True)
    stop(d, holder)


def check_refusals(c):
    # --bind-address-hard-fail: a busy status port ends the start, with status 1.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy = taken.getsockname()[1]
    common = [c.args.daemon, "--manifests", c.folder, "--hostname-override=node-a", "--conntrack-max-per-core=0",
              "--metrics-bind-address=127.0.0.1:0"]
    done = subprocess.run(common + [f"--healthz-bind-address=127.0.0.1:{busy}", "--bind-address-hard-fail"],
                          capture_output=True, text=True, timeout=60)
    taken.close()
    if done.returncode != 1 or "--bind-address-hard-fail" not in done.stderr + done.stdout:
        raise Failure(f"--bind-address-hard-fail with a busy port: exit {done.returncode}, {done.stdout}{done.stderr}")
    print("ok: --bind-address-hard-fail exits 1 when the healthz port is taken", flush=True)

    done = subprocess.run(common + ["--healthz-bind-address=127.0.0.1:0", "--ipvs-scheduler=bogus"],
                          capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    if done.returncode != 1 or "no IPVS scheduler 'bogus'" not in out:
        raise Failure(f"--ipvs-scheduler=bogus: wanted exit 1 naming the scheduler, got {done.returncode}: {out}")
    if any("198.51.100.0" in v for r in ipvs_rules() for _, v in r):
        raise Failure("the failed scheduler probe left its virtual server behind")
    print("ok: --ipvs-scheduler=bogus exits 1 at start: " + out.strip().splitlines()[-1][:160], flush=True)


def check_conntrack_limits(c):
    """nf_conntrack_max and the hash size can only be set in the initial network namespace."""
    init = ["nsenter", "--net=/proc/1/ns/net"]
    before = run(*init, "sysctl", "-n", "net.netfilter.nf_conntrack_max").strip()
    hashsize_path = "/sys/module/nf_conntrack/parameters/hashsize"
    with open(hashsize_path) as f:
        hashsize_before = f.read().strip()
    try:
        run(*init, c.args.daemon, "--init-only", "--conntrack-max-per-core=200000", "--conntrack-min=1000")
        cpus = os.cpu_count()
        got = run(*init, "sysctl", "-n", "net.netfilter.nf_conntrack_max").strip()
        with open(hashsize_path) as f:
            hashsize = int(f.read())
        if got != str(200000 * cpus) or hashsize < 200000 * cpus // 4:
            raise Failure(f"--init-only: nf_conntrack_max {got} (wanted {200000 * cpus}), hashsize {hashsize}")
        print(f"ok: nf_conntrack_max = 200000 x {cpus} CPUs and hashsize {hashsize} (>= a quarter)", flush=True)
        # In a pod's network namespace nf_conntrack_max is read-only: the start fails, as kube-proxy's.
        done = subprocess.run([c.args.daemon, "--manifests", c.folder, "--conntrack-max-per-core=300000",
                               "--healthz-bind-address=127.0.0.1:0", "--metrics-bind-address=127.0.0.1:0"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 1 or "nf_conntrack_max" not in done.stdout + done.stderr:
            raise Failure(f"a read-only nf_conntrack_max should stop the start: {done.returncode} {done.stderr}")
        print("ok: a read-only nf_conntrack_max (network namespace) stops the start, naming it", flush=True)
    finally:
        run(*init, "sysctl", "-qw", f"net.netfilter.nf_conntrack_max={before}", check=False)
        run(*init, "sh", "-c", f"echo {hashsize_before} > {hashsize_path}", check=False)


def test(args, holder):
    c = Cluster(args)
    holder.append(c)
    c.build()
    add_ptp_pod(c)
    c.ns("client", "ip", "route", "add", "10.96.0.0/12", "via", "192.168.122.10")
    wait_for("pod-p's server", lambda: c.tool("node", "get", POD_P, "8080").startswith("pod-p"))
    c.write("node", node_object())
    write_services(c)
    started = time.monotonic()
    check_detectors(c, holder)
    check_main_run(c, holder)
    check_node_addresses(c, holder)
    check_refusals(c)
    check_conntrack_limits(c)
    run(args.daemon, "--cleanup", check=False)
    print(f"ok: drop-in checks done in {time.monotonic() - started:.0f}s", flush=True)
    c.stop()
    holder.remove(c)


if __name__ == "__main__":
    entry(test, "daemon", "tool")
