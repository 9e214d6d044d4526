#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Real faults against kube-ipvsd in the test VM, in a network namespace of its own, with a
cluster of 1,100 Services and 9,900 endpoints (an 11,000-operation first sync) from --manifests:

- ownership: a keepalived-style virtual server on a node (VRRP) address at :80 and one at :443
  survive the start and every full sync; the NodePort virtual servers of an address removed from
  the node go, whether it leaves while the daemon runs or while it is stopped (the table
  recorded them); --cleanup removes them too and leaves the foreign ones;
- `ipvsadm -C` and `nft delete table inet kube-ipvsd` behind its back, between syncs and over
  and over during one: repaired by the next full sync, which compares its 1,104 virtual servers
  in two parts (1,024 a part) and verifies the nftables table with the second;
- the daemon's generic-netlink receive buffers shrunk from outside (pidfd_getfd) and the IPVS
  table flushed before a change of 6,000 real servers: the kernel reports ENOBUFS, and the daemon
  converges by itself long before the next full sync, with no new input.

Usage: convergence_test.py --daemon BIN
"""
import ctypes
import json
import os
import re
import socket
import tempfile
import time

from daemon_support import Daemon, Failure, entry, metric_samples, run, wait_for

NODE_IP = "192.168.122.10"
VRRP_IP = "192.168.122.50"  # a keepalived VIP this node holds for now
EXTRA_IP = "192.168.122.51"
SERVICES = 1100
NODE_PORT = 30080

# keepalived's and a person's virtual servers: never kube-ipvsd's.
FOREIGN = [
    ["-A", "-t", f"{VRRP_IP}:80", "-s", "wrr"],
    ["-a", "-t", f"{VRRP_IP}:80", "-r", "10.9.0.1:80", "-m", "-w", "3"],
    ["-A", "-t", f"{NODE_IP}:443", "-s", "rr"],
    ["-A", "-u", "192.168.122.99:30053", "-s", "rr"],  # NodePort range, but not an address of ours
]
FOREIGN_KEYS = [f"{VRRP_IP}:80", f"{NODE_IP}:443", "192.168.122.99:30053"]


def cluster_ip(i):
    return f"10.100.{i // 250}.{i % 250 + 1}"


def manifests(folder, endpoints_per_service):
    items = []
    for i in range(SERVICES):
        name = f"svc-{i}"
        items.append({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": name, "namespace": "load", "creationTimestamp": "2026-01-01T00:00:00Z"},
                      "spec": {"type": "ClusterIP", "clusterIP": cluster_ip(i), "clusterIPs": [cluster_ip(i)],
                               "ipFamilies": ["IPv4"],
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": f"{name}-a", "namespace": "load",
                                   "labels": {"kubernetes.io/service-name": name}},
                      "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                      "endpoints": [{"addresses": [f"10.244.{e}.{i % 250 + 1}"], "conditions": {"ready": True}}
                                    for e in range(endpoints_per_service)]})
    shop = [{"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "shop", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
             "spec": {"type": "NodePort", "clusterIP": "10.96.0.30", "clusterIPs": ["10.96.0.30"],
                      "ipFamilies": ["IPv4"],
                      "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": NODE_PORT}]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "shop-a", "namespace": "default", "labels": {"kubernetes.io/service-name": "shop"}},
             "addressType": "IPv4", "ports": [{"port": 80, "protocol": "TCP"}],
             "endpoints": [{"addresses": ["10.244.9.9"], "conditions": {"ready": True}}]}]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]}}
    for name, items_ in (("load.json", items), ("shop.json", shop), ("node.json", [node])):
        path = os.path.join(folder, name)
        with open(path + ".tmp", "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items_}, f)
        os.rename(path + ".tmp", path)  # one inotify event for the whole file


def table():
    """{virtual server "addr:port": [real server lines]} from ipvsadm -Sn."""
    out = {}
    for line in run("ipvsadm", "-Sn").splitlines():
        words = line.split()
        if words[0] == "-A":
            out.setdefault(words[2], [])
        elif words[0] == "-a":
            out.setdefault(words[2], []).append(words[4])
    return out


def ours(t):
    return {k: v for k, v in t.items() if k.startswith("10.100.") or k.startswith("10.96.")}


def complete(t, endpoints_per_service, shop=True):
    """Whether the kernel holds the whole cluster (without the shop Service, unchanged, unless `shop`)."""
    mine = ours(t)
    load = {k: v for k, v in mine.items() if k.startswith("10.100.")}
    return len(load) == SERVICES and (not shop or "10.96.0.30:80" in mine) and all(
        len(reals) == endpoints_per_service for reals in load.values())


def add_foreign():
    for argv in FOREIGN:
        run("ipvsadm", *argv)


def check_foreign(when):
    t = table()
    missing = [k for k in FOREIGN_KEYS if k not in t]
    if missing or t[f"{VRRP_IP}:80"] != ["10.9.0.1:80"]:
        raise Failure(f"{when}: foreign virtual servers touched (missing {missing}): {t.get(VRRP_IP + ':80')}")


def shrink_generic_netlink_buffers(pid):
    """Sets SO_RCVBUF of the daemon's generic-netlink (IPVS) sockets to the kernel's minimum, from
    outside: the socket is duplicated with pidfd_getfd(2) and changed through the duplicate."""
    generic = set()
    with open("/proc/net/netlink") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == "16":  # NETLINK_GENERIC
                generic.add(fields[-1])
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    shrunk = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            inode = re.fullmatch(r"socket:\[(\d+)\]", target)
            if not inode or inode.group(1) not in generic:
                continue
            dup = libc.syscall(438, pidfd, int(fd), 0)  # pidfd_getfd
            if dup < 0:
                raise Failure(f"pidfd_getfd: errno {ctypes.get_errno()}")
            s = socket.socket(fileno=dup)
            s.setsockopt(socket.SOL_SOCKET, 33, 1)  # SO_RCVBUFFORCE: the minimum
            s.close()
            shrunk += 1
    finally:
        os.close(pidfd)
    if shrunk == 0:
        raise Failure("no generic-netlink socket found in the daemon")
    return shrunk


def start(args, folder, log, period):
    common = ["--manifests", folder, "--hostname-override=node-a", "--v=2", "--conntrack-max-per-core=0",
              f"--ipvs-sync-period={period}"]
    daemon = Daemon(args.daemon, common, log)
    daemon.start()
    daemon.wait_first_sync(timeout=180)
    return daemon


def test(args, holder):
    folder = tempfile.mkdtemp(prefix="kipvs-convergence-")
    log = os.path.join(os.path.dirname(folder), "kipvs-convergence.log")
    run("modprobe", "ip_vs")
    run("ip", "link", "add", "node0", "type", "dummy")
    for address in (f"{NODE_IP}/24", f"{VRRP_IP}/32", f"{EXTRA_IP}/32"):
        run("ip", "addr", "add", address, "dev", "node0")
    run("ip", "link", "set", "node0", "up")
    add_foreign()
    manifests(folder, 9)

    # Run 1: a full sync every 4 s.
    daemon = start(args, folder, log, "4s")
    holder.append(daemon)
    t = table()
    if not complete(t, 9):
        raise Failure(f"the first sync did not program the cluster: {len(ours(t))} virtual servers")
    for address in (NODE_IP, VRRP_IP, EXTRA_IP):
        if f"{address}:{NODE_PORT}" not in t:
            raise Failure(f"no NodePort virtual server on {address}")
    check_foreign("after the first sync")
    repairs = lambda: sum(metric_samples(daemon.metrics_text(), "kube_ipvsd_drift_repairs_total").values())
    time.sleep(9)  # two full syncs
    check_foreign("after two full syncs")
    print("ok: keepalived-style virtual servers on node addresses at :80 and :443 survive start and full syncs",
          flush=True)

    run("ip", "addr", "del", f"{EXTRA_IP}/32", "dev", "node0")
    wait_for("the NodePort on the removed address to go", lambda: f"{EXTRA_IP}:{NODE_PORT}" not in table(), 30)
    check_foreign("after an address left")
    print("ok: an address removed from the node takes its NodePort virtual servers with it", flush=True)

    before = repairs()
    run("ipvsadm", "-C")
    add_foreign()
    wait_for("the full sync to repair ipvsadm -C", lambda: complete(table(), 9), 60)
    if repairs() <= before:
        raise Failure("the repair of ipvsadm -C was not counted as drift")
    if "full sync, continued: synced in" not in daemon.log():
        raise Failure("no full sync compared its virtual servers in two parts")
    check_foreign("after the repair of ipvsadm -C")
    run("nft", "delete", "table", "inet", "kube-ipvsd")
    wait_for("the full sync to rebuild the nftables table",
             lambda: f"{NODE_IP} . tcp . {NODE_PORT}" in run("nft", "list", "set", "inet", "kube-ipvsd",
                                                             "external-v4", check=False), 60)
    print("ok: ipvsadm -C and nft delete table are repaired by the next full sync", flush=True)

    # The same while a 3,300-operation change is being synced: flushed again and again for 3 s.
    manifests(folder, 12)
    deadline = time.monotonic() + 3
    flushes = 0
    while time.monotonic() < deadline:
        run("ipvsadm", "-C")
        run("nft", "delete", "table", "inet", "kube-ipvsd", check=False)
        flushes += 1
    add_foreign()
    wait_for("convergence after flushes during a sync", lambda: complete(table(), 12), 90)
    wait_for("the nftables table after flushes during a sync",
             lambda: f"{NODE_IP} . tcp . {NODE_PORT}" in run("nft", "list", "set", "inet", "kube-ipvsd",
                                                             "external-v4", check=False), 60)
    check_foreign("after flushes during a sync")
    print(f"ok: {flushes} rounds of ipvsadm -C and nft delete table during a sync: converged", flush=True)
    if daemon.stop() != 0:
        raise Failure("SIGTERM: non-zero exit")

    # While it is stopped, the VRRP address moves to another node. Run 2: no full sync in sight.
    run("ip", "addr", "del", f"{VRRP_IP}/32", "dev", "node0")
    daemon = start(args, folder, log, "300s")
    holder[:] = [daemon]
    t = table()
    if f"{VRRP_IP}:{NODE_PORT}" in t:
        raise Failure("the NodePort on an address that left while the daemon was stopped is still there")
    check_foreign("after the restart")
    print("ok: a restart removes the NodePorts of an address that left while it was stopped", flush=True)

    shrunk = shrink_generic_netlink_buffers(daemon.proc.pid)
    run("ipvsadm", "-C")
    add_foreign()
    manifests(folder, 18)  # 6,600 real servers more, for virtual servers the daemon believes are there
    started = time.monotonic()
    wait_for("ENOBUFS in the daemon's log", lambda: "No buffer space available" in daemon.log(), 60)
    # The 1,100 changed virtual servers converge by retries alone; the unchanged shop Service,
    # flushed too, waits for the full sync's drift check (300 s away), as any drift does.
    wait_for("convergence after ENOBUFS", lambda: complete(table(), 18, shop=False), 120)
    took = time.monotonic() - started
    check_foreign("after ENOBUFS")
    pending = metric_samples(daemon.metrics_text(), "kube_ipvsd_sync_pending_virtual_servers")
    wait_for("no pending virtual servers", lambda: sum(metric_samples(
        daemon.metrics_text(), "kube_ipvsd_sync_pending_virtual_servers").values()) == 0, 30)
    failures = daemon.log().count("No buffer space available")
    print(f"ok: receive buffers of {shrunk} sockets shrunk, ENOBUFS in {failures} syncs, converged in {took:.0f}s "
          f"with no full sync and no new input (pending then: {pending})", flush=True)
    if daemon.stop() != 0:
        raise Failure("SIGTERM: non-zero exit")

    # --cleanup after the node lost its NodePort address too: the recorded NodePorts go.
    run("ip", "addr", "del", f"{NODE_IP}/24", "dev", "node0")
    run(args.daemon, "--cleanup")
    t = table()
    if ours(t) or f"{NODE_IP}:{NODE_PORT}" in t:
        raise Failure(f"--cleanup left {len(ours(t))} of its virtual servers, NodePort: {NODE_IP}:{NODE_PORT} in t")
    check_foreign("after --cleanup")
    print("ok: --cleanup removes recorded NodePorts and leaves foreign virtual servers", flush=True)


if __name__ == "__main__":
    entry(test, "daemon")
