#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile clients against the real kube-ipvsd, inside the test VM, over the API path (the fake
API server on the host, 10.0.2.2): while 200 slow-header connections, a 1 GiB POST, a header
flood and a client trickling bytes to a health-check node port run, /healthz and /livez must
answer within 1 s every time, the peak RSS must stay under a stated bound, watch events must keep
reaching the kernel (a Service deleted closes its health-check port, a new one is programmed),
and SIGTERM must end the daemon within its deadline.

Usage: hostile_clients_test.py --daemon BIN --kubeconfig FILE --control URL --work DIR
"""
import json
import os
import select
import socket
import threading
import time
import urllib.request

from daemon_support import Daemon, Failure, entry, expect_rules, http_get, run, vm_status, wait_for

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.2.15"}]}}
HEALTHZ_PORT = 10256
HEALTH_CHECK_PORT = 32100
ATTACK_SECONDS = 40
# The bound on the daemon's peak RSS over the whole attack: the listeners hold at most 128
# connections of at most 16 KiB of buffers each per port, and never a request body.
RSS_BOUND_MB = 40
SIGTERM_DEADLINE = 10  # seconds; kubelet's grace period is 30


def service(name, cluster_ip, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ipFamilies": ["IPv4"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}], **spec}}


def slice_(name, service_name, addresses):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": "node-a"} for a in addresses]}


LB_LOCAL = service("lb", "10.96.0.30", type="LoadBalancer", externalTrafficPolicy="Local",
                   healthCheckNodePort=HEALTH_CHECK_PORT)
LB_LOCAL["spec"]["ports"][0]["nodePort"] = 30300


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.setblocking(False)
    return s


def connect_or_wait(port, counts):
    """A blocking connection, or None (counted) when the daemon refused it: it stops last."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        counts["refused_connections"] = counts.get("refused_connections", 0) + 1
        time.sleep(0.1)
        return None


class Attack(threading.Thread):
    """One kind of hostile client, run until `stop` is set; counts what it managed."""

    def __init__(self, name, body, stop):
        super().__init__(daemon=True, name=name)
        self.body, self.stop, self.counts, self.error = body, stop, {}, None

    def run(self):
        try:
            self.body(self.stop, self.counts)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


def slow_headers(stop, counts):
    """200 connections, each sending one header byte every 2 s; reopened when the daemon cuts them."""
    conns = []
    counts["opened"] = counts["cut"] = 0
    next_byte = time.monotonic()
    while not stop.is_set():
        while len(conns) < 200:
            try:
                conns.append(connect(HEALTHZ_PORT))
                conns[-1].send(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
                counts["opened"] += 1
            except OSError:
                break
        readable, _, _ = select.select(conns, [], [], 0.2)
        for s in readable:
            try:
                gone = s.recv(4096) == b""
            except OSError:
                gone = True
            if gone:
                conns.remove(s)
                s.close()
                counts["cut"] += 1
        if time.monotonic() >= next_byte:
            next_byte += 2
            for s in list(conns):
                try:
                    s.send(b"a")
                except OSError:
                    conns.remove(s)
                    s.close()
                    counts["cut"] += 1
    for s in conns:
        s.close()


def big_post(stop, counts):
    """POSTs announcing 1 GiB, sending as fast as the daemon takes it, over and over."""
    counts["sent_mb"] = counts["posts"] = 0
    chunk = b"x" * (1 << 20)
    while not stop.is_set():
        s = connect_or_wait(HEALTHZ_PORT, counts)
        if not s:
            continue
        counts["posts"] += 1
        try:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
            for _ in range(1024):
                s.sendall(chunk)
                counts["sent_mb"] += 1
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.1)


def header_flood(stop, counts):
    """Requests with 256 KiB of headers, over and over; each should be refused with 431."""
    counts["refused"] = counts["other"] = 0
    flood = b"GET /livez HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 250) for i in range(1000))
    while not stop.is_set():
        s = connect_or_wait(HEALTHZ_PORT, counts)
        if not s:
            continue
        try:
            s.sendall(flood + b"\r\n")
        except OSError:
            pass
        try:
            answer = s.recv(64)
        except OSError:
            answer = b""
        counts["refused" if answer.startswith(b"HTTP/1.1 431") else "other"] += 1
        s.close()
        time.sleep(0.2)


def trickle_health_check(stop, counts):
    """One client sending a byte every 200 ms to the health-check node port until it is closed."""
    counts["bytes"] = 0
    s = connect(HEALTH_CHECK_PORT)
    s.send(b"GET / HTTP/1.1\r\n")
    while not stop.is_set():
        try:
            s.send(b"X")
            counts["bytes"] += 1
        except OSError:
            s.close()
            try:
                s = connect(HEALTH_CHECK_PORT)
            except OSError:
                counts["port_closed"] = True
                time.sleep(0.2)
                continue
        time.sleep(0.2)
    s.close()


class Test:
    def __init__(self, args, holder):
        self.control = args.control.rstrip("/")
        self.daemon = Daemon(args.daemon, [f"--kubeconfig={args.kubeconfig}", "--proxy-mode=ipvs", "--v=2",
                                           "--hostname-override=node-a", "--ipvs-sync-period=30s"],
                             os.path.join(args.work, "kube-ipvsd.log"))
        holder.append(self.daemon)
        self.args = args
        os.makedirs(args.work, exist_ok=True)
        if os.path.exists(self.daemon.log_path):
            os.remove(self.daemon.log_path)

    def post(self, path, body):
        request = urllib.request.Request(self.control + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    def probe(self, worst):
        """/healthz and /livez, each within 1 s; records the slowest."""
        for path in ("/healthz", "/livez"):
            start = time.monotonic()
            status, _ = http_get(self.daemon.healthz + path, timeout=1.0)
            took = time.monotonic() - start
            worst[path] = max(worst.get(path, 0.0), took)
            if status != 200:
                raise Failure(f"{path} answered {status} during the attack")

    def run(self):
        run(self.args.daemon, "--cleanup")
        for o in (NODE, LB_LOCAL, slice_("lb-1", "lb", ["10.244.1.30"]), service("web", "10.96.0.20"),
                  slice_("web-1", "web", ["10.244.1.10"])):
            self.post("/apply", o)
        self.daemon.start()
        self.daemon.wait_first_sync(60)
        wait_for("the health-check node port", lambda: http_get(f"http://127.0.0.1:{HEALTH_CHECK_PORT}/")[0] == 200, 30)
        pid = self.daemon.proc.pid
        baseline, _ = vm_status(pid)
        threads_before = len(os.listdir(f"/proc/{pid}/task"))

        stop = threading.Event()
        attacks = [Attack(name, body, stop) for name, body in (
            ("slow-headers", slow_headers), ("1-GiB-POST", big_post), ("header-flood", header_flood),
            ("trickle-health-check", trickle_health_check))]
        for a in attacks:
            a.start()
        worst = {}
        end = time.monotonic() + ATTACK_SECONDS
        deleted = added = False
        probes = 0
        while time.monotonic() < end:
            self.probe(worst)
            probes += 1
            elapsed = ATTACK_SECONDS - (end - time.monotonic())
            if elapsed > 10 and not deleted:
                # The Service whose health-check port a client is trickling bytes to goes away.
                self.post("/delete", {"kind": "Service", "namespace": "default", "name": "lb"})
                deleted = True
            if elapsed > 20 and not added:
                self.post("/apply", service("late", "10.96.0.40"))
                self.post("/apply", slice_("late-1", "late", ["10.244.1.40"]))
                added = True
            time.sleep(0.2)
        # The watch events were applied while under attack.
        def port_closed():
            try:
                socket.create_connection(("127.0.0.1", HEALTH_CHECK_PORT), timeout=1).close()
                return False
            except OSError:
                return True
        wait_for("the deleted Service's health-check port to close", port_closed, 10)
        expect_rules("""
            -A -t 10.96.0.20:80 -s rr
            -a -t 10.96.0.20:80 -r 10.244.1.10:8080 -m -w 1
            -A -t 10.96.0.40:80 -s rr
            -a -t 10.96.0.40:80 -r 10.244.1.40:8080 -m -w 1
        """, timeout=20)
        rss, peak = vm_status(pid)
        threads_after = len(os.listdir(f"/proc/{pid}/task"))
        self.probe(worst)

        # SIGTERM while the attackers are still at it.
        start = time.monotonic()
        rc = self.daemon.stop(timeout=SIGTERM_DEADLINE)
        stopped_in = time.monotonic() - start
        stop.set()
        for a in attacks:
            a.join(10)
        counts = {a.name: a.counts for a in attacks}
        print(f"probes: {probes}, slowest /healthz {worst['/healthz'] * 1000:.0f} ms, /livez "
              f"{worst['/livez'] * 1000:.0f} ms", flush=True)
        print(f"RSS: {baseline:.1f} MB before, {rss:.1f} MB after, peak {peak:.1f} MB (bound {RSS_BOUND_MB} MB); "
              f"threads {threads_before} before, {threads_after} during", flush=True)
        print(f"attacks: {counts}; SIGTERM exit {rc} in {stopped_in:.2f} s", flush=True)
        for a in attacks:
            if a.error:
                raise Failure(f"attack {a.name} failed to run: {a.error!r}")
        if peak > RSS_BOUND_MB:
            raise Failure(f"peak RSS {peak:.1f} MB is over the {RSS_BOUND_MB} MB bound")
        if threads_after > threads_before:
            raise Failure(f"the attack added threads: {threads_before} -> {threads_after}")
        if counts["slow-headers"]["cut"] < 100:
            raise Failure(f"slow clients were not cut: {counts['slow-headers']}")
        if counts["1-GiB-POST"]["sent_mb"] >= 1024 * counts["1-GiB-POST"]["posts"]:
            raise Failure(f"a 1 GiB body was taken in full: {counts['1-GiB-POST']}")
        if counts["header-flood"]["refused"] < 1:
            raise Failure(f"header floods were not refused with 431: {counts['header-flood']}")
        if rc != 0:
            raise Failure(f"kube-ipvsd exited {rc} on SIGTERM")
        print("ok: hostile clients", flush=True)


entry(lambda args, holder: Test(args, holder).run(), "daemon", "kubeconfig", "control", "work")
