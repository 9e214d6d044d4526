#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end over the API path, inside the test VM: kube-ipvsd with a kubeconfig watches the
fake API server on the host (10.0.2.2, TLS, token); the test changes objects through the fake's
control port and checks the kernel with ipvsadm -Sn and ip, and /healthz and /metrics, after
each step. Then an API outage (the kernel state stays, healthz stays 200), a restart (no IPVS
operation when nothing changed), promtool on /metrics, and --cleanup (only what is ours goes).

Usage: daemon_api_e2e.py --daemon BIN --kubeconfig FILE --control URL --work DIR
"""
import datetime
import json
import os
import subprocess
import time
import urllib.request

from daemon_support import (Daemon, Failure, entry, expect_rules, http_get, ipvs_rules, link_addresses,
                            metric_samples, rules_of, run, show, wait_for)

FOREIGN = "192.0.2.99"  # a virtual server someone else made: never touched
NODE_IP = "10.0.2.15"   # the guest's address on qemu's user network


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def service(name, ns, cluster_ip, ports, type_="ClusterIP"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": type_, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ipFamilies": ["IPv4"],
                     "ports": ports}}


def slice_(name, ns, service_name, addresses, ports):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service_name},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now_rfc3339()}},
            "addressType": "IPv4", "ports": ports,
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": "node-a"} for a in addresses]}


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]}}
WEB_PORTS = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
WEB_SLICE_PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]
DNS_PORTS = [{"name": "dns", "port": 53, "protocol": "UDP"}]


class Test:
    def __init__(self, args, holder):
        self.args = args
        self.control = args.control.rstrip("/")
        common = [f"--kubeconfig={args.kubeconfig}", "--proxy-mode=ipvs", "--v=2", "--hostname-override=node-a",
                  "--ipvs-sync-period=10s"]
        self.daemon = Daemon(args.daemon, common, os.path.join(args.work, "kube-ipvsd.log"))
        self.common = common
        holder.append(self.daemon)
        if os.path.exists(self.daemon.log_path):
            os.remove(self.daemon.log_path)  # from an earlier run in the same boot

    def post(self, path, body):
        request = urllib.request.Request(self.control + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    def apply(self, *objects):
        for o in objects:
            self.post("/apply", o)

    def delete(self, kind, ns, name):
        self.post("/delete", {"kind": kind, "namespace": ns, "name": name})

    def rules(self):
        return ipvs_rules(exclude=(FOREIGN,))

    def dry_run(self):
        """What `kube-ipvsd --dry-run` computes from the same API server, in ipvsadm format."""
        out = run(self.args.daemon, *self.common, "--dry-run", "--output=ipvsadm", stderr=False)
        return rules_of(out)

    def check_status(self, step):
        # After an outage the three watches come back one by one: the Node may be the last.
        def healthz():
            status, body = http_get(self.daemon.healthz + "/healthz")
            health = json.loads(body)
            return (status, health) if status == 200 and health.get("healthy") and health.get("nodeEligible") is True else None
        try:
            wait_for(f"{step}: /healthz 200 with nodeEligible", healthz, 30)
        except Failure:
            raise Failure(f"{step}: /healthz answered {http_get(self.daemon.healthz + '/healthz')}")
        status, body = http_get(self.daemon.healthz + "/livez")
        if status != 200 or "nodeEligible" in json.loads(body):
            raise Failure(f"{step}: /livez answered {status} {body}")
        # The kernel may match before the sync has finished (the nftables table comes last).
        def recent_sync():
            text = self.daemon.metrics_text()
            last = metric_samples(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds")
            return text if last.get('{ip_family="IPv4"}', 0) > time.time() - 60 else None
        return wait_for(f"{step}: a recent successful sync in /metrics", recent_sync, 30)

    def step(self, name, want_rules, want_addresses):
        expect_rules(want_rules, exclude=(FOREIGN,))
        wait_for(f"{name}: kube-ipvs0 addresses {sorted(want_addresses)}", lambda: link_addresses() == set(want_addresses), 15)
        if self.dry_run() != self.rules():
            raise Failure(f"{name}: --dry-run disagrees with the kernel.\ndry-run:\n{show(self.dry_run())}\nkernel:\n{show(self.rules())}")
        metrics = self.check_status(name)
        print(f"ok: {name}", flush=True)
        return metrics

    def run(self):
        # This runs in the guest's initial namespace: clear what an earlier failed run left.
        run(self.args.daemon, "--cleanup")
        run("ipvsadm", "-D", "-t", f"{FOREIGN}:80", check=False)
        run("ipvsadm", "-A", "-t", f"{FOREIGN}:80", "-s", "wlc")
        run("ipvsadm", "-a", "-t", f"{FOREIGN}:80", "-r", "10.1.1.1:80", "-m")
        self.apply(NODE, service("web", "default", "10.96.0.20", WEB_PORTS),
                   slice_("web-1", "default", "web", ["10.244.1.10", "10.244.1.11"], WEB_SLICE_PORTS),
                   service("dns", "kube-system", "10.96.0.10", DNS_PORTS),
                   slice_("dns-1", "kube-system", "dns", ["10.244.1.20"], DNS_PORTS))
        self.daemon.start()
        metrics = self.step("create", """
            -A -t 10.96.0.20:80 -s rr
            -a -t 10.96.0.20:80 -r 10.244.1.10:8080 -m -w 1
            -a -t 10.96.0.20:80 -r 10.244.1.11:8080 -m -w 1
            -A -u 10.96.0.10:53 -s rr
            -a -u 10.96.0.10:53 -r 10.244.1.20:53 -m -w 1
        """, {"10.96.0.20", "10.96.0.10"})
        added = metric_samples(metrics, "kube_ipvsd_netlink_operations_total")
        if added.get('{command="add virtual server"}') != 2 or added.get('{command="add real server"}') != 3:
            raise Failure(f"create: expected 2 virtual and 3 real servers added, metrics say {added}")
        programming = metric_samples(metrics, "kubeproxy_network_programming_duration_seconds_count")
        if programming.get('{ip_family="IPv4"}', 0) < 1:
            raise Failure(f"create: no network programming latency observed: {programming}")

        # Update: an endpoint replaced, and web becomes a NodePort Service.
        web = service("web", "default", "10.96.0.20", [dict(WEB_PORTS[0], nodePort=30080)], "NodePort")
        self.apply(web, slice_("web-1", "default", "web", ["10.244.1.10", "10.244.1.12"], WEB_SLICE_PORTS))
        self.step("update", f"""
            -A -t 10.96.0.20:80 -s rr
            -a -t 10.96.0.20:80 -r 10.244.1.10:8080 -m -w 1
            -a -t 10.96.0.20:80 -r 10.244.1.12:8080 -m -w 1
            -A -t {NODE_IP}:30080 -s rr
            -a -t {NODE_IP}:30080 -r 10.244.1.10:8080 -m -w 1
            -a -t {NODE_IP}:30080 -r 10.244.1.12:8080 -m -w 1
            -A -u 10.96.0.10:53 -s rr
            -a -u 10.96.0.10:53 -r 10.244.1.20:53 -m -w 1
        """, {"10.96.0.20", "10.96.0.10"})

        # Delete: the DNS Service and its slice go, and so does its address.
        self.delete("Service", "kube-system", "dns")
        self.delete("EndpointSlice", "kube-system", "dns-1")
        web_rules = f"""
            -A -t 10.96.0.20:80 -s rr
            -a -t 10.96.0.20:80 -r 10.244.1.10:8080 -m -w 1
            -a -t 10.96.0.20:80 -r 10.244.1.12:8080 -m -w 1
            -A -t {NODE_IP}:30080 -s rr
            -a -t {NODE_IP}:30080 -r 10.244.1.10:8080 -m -w 1
            -a -t {NODE_IP}:30080 -r 10.244.1.12:8080 -m -w 1
        """
        self.step("delete", web_rules, {"10.96.0.20"})

        # The cluster's ServiceCIDR appears: the same virtual servers, reached through one local
        # route instead of a bound address; when it goes, the address is bound again first.
        service_cidr = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": "kubernetes"},
                        "spec": {"cidrs": ["10.96.0.0/16"]}}
        self.apply(service_cidr)
        routed = lambda: "local 10.96.0.0/16 dev lo" in run("ip", "route", "show", "table", "local", "proto", "107")
        wait_for("service range: its local route", routed, 15)
        self.step("service range routed (no ClusterIP bound)", web_rules, set())
        self.delete("ServiceCIDR", "", "kubernetes")
        self.step("service range gone (the ClusterIP bound again)", web_rules, {"10.96.0.20"})
        if routed():
            raise Failure("service range gone: its route stayed")

        # Outage: the API server drops every connection for 25 s. The kernel keeps its state,
        # health stays 200 (nothing is pending), and the change made after it comes through.
        self.post("/fault", {"type": "outage", "seconds": 25})
        outage_end = time.monotonic() + 25
        while time.monotonic() < outage_end - 2:
            if self.rules() != rules_of(web_rules):
                raise Failure(f"outage: the kernel state changed while the API server was away:\n{show(self.rules())}")
            status, body = http_get(self.daemon.healthz + "/healthz")
            if status != 200:
                raise Failure(f"outage: /healthz answered {status} {body}")
            time.sleep(2)
        time.sleep(max(0.0, outage_end - time.monotonic()))
        self.apply(slice_("web-1", "default", "web", ["10.244.1.10", "10.244.1.12", "10.244.1.13"], WEB_SLICE_PORTS))
        after_outage = web_rules + f"""
            -a -t 10.96.0.20:80 -r 10.244.1.13:8080 -m -w 1
            -a -t {NODE_IP}:30080 -r 10.244.1.13:8080 -m -w 1
        """
        expect_rules(after_outage, exclude=(FOREIGN,), timeout=60)
        restarts = metric_samples(self.daemon.metrics_text(), "kube_ipvsd_watch_restarts_total")
        if sum(restarts.values()) < 1:
            raise Failure(f"outage: no watch restart counted: {restarts}")
        self.check_status("outage")
        print("ok: outage (state kept, healthz 200, caught up after)", flush=True)

        # A relist finds what went while the daemon could not watch: a Service and its slice
        # deleted and history compacted during an outage, so the watch cannot resume (410). The
        # daemon's store, lent to the reflectors as their record, must report both gone.
        self.apply(service("api", "default", "10.96.0.30", WEB_PORTS),
                   slice_("api-1", "default", "api", ["10.244.1.30"], WEB_SLICE_PORTS))
        self.step("relist: a Service added", after_outage + """
            -A -t 10.96.0.30:80 -s rr
            -a -t 10.96.0.30:80 -r 10.244.1.30:8080 -m -w 1
        """, {"10.96.0.20", "10.96.0.30"})
        relists = lambda: sum(metric_samples(self.daemon.metrics_text(), "kube_ipvsd_watch_relists_total").values())
        relisted_before = relists()
        self.post("/fault", {"type": "outage", "seconds": 8})
        self.delete("Service", "default", "api")
        self.delete("EndpointSlice", "default", "api-1")
        self.post("/compact", {})
        expect_rules(after_outage, exclude=(FOREIGN,), timeout=60)
        self.step("relist: the Service deleted while away is gone", after_outage, {"10.96.0.20"})
        wait_for(f"relist: the Service and EndpointSlice watches relisted (from {relisted_before})",
                 lambda: relists() >= relisted_before + 2, 30)

        # Restart: SIGTERM leaves the kernel as it is; the new process adopts it with no operation.
        rc = self.daemon.stop()
        if rc != 0:
            raise Failure(f"restart: kube-ipvsd exited {rc} on SIGTERM")
        if self.rules() != rules_of(after_outage) or link_addresses() != {"10.96.0.20"}:
            raise Failure(f"restart: the kernel changed when the daemon stopped:\n{show(self.rules())}")
        # It starts while the API server is away: it keeps retrying, /healthz says the node is
        # not known yet (503), /livez stays 200, and the kernel keeps serving.
        self.post("/fault", {"type": "outage", "seconds": 12})
        self.daemon.start()
        time.sleep(8)
        if self.daemon.proc.poll() is not None:
            raise Failure("restart: kube-ipvsd exited while the API server was away")
        healthz, livez = http_get(self.daemon.healthz + "/healthz")[0], http_get(self.daemon.healthz + "/livez")[0]
        if (healthz, livez) != (503, 200) or self.rules() != rules_of(after_outage):
            raise Failure(f"restart without the API server: /healthz {healthz}, /livez {livez}, kernel:\n{show(self.rules())}")
        print("ok: started without the API server: retrying, /healthz 503, /livez 200, kernel untouched", flush=True)
        wait_for("restart: a first sync", lambda: metric_samples(self.daemon.metrics_text(),
                 "kubeproxy_sync_proxy_rules_last_timestamp_seconds").get('{ip_family="IPv4"}', 0) > 0, 60)
        metrics = self.step("restart", after_outage, {"10.96.0.20"})
        operations = metric_samples(metrics, "kube_ipvsd_netlink_operations_total")
        if sum(operations.values()) != 0:
            raise Failure(f"restart: IPVS operations were issued although nothing changed: {operations}")
        print("ok: restart issued no IPVS operation", flush=True)

        # The metrics pass Prometheus' own linter, and /proxyMode says ipvs.
        check = subprocess.run(["promtool", "check", "metrics"], input=metrics, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check.returncode != 0:
            raise Failure(f"promtool check metrics failed:\n{check.stdout}")
        for name in ("kubeproxy_sync_proxy_rules_duration_seconds_bucket", "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                     "kubeproxy_sync_proxy_rules_service_changes_pending", "kubeproxy_proxy_healthz_total",
                     "process_resident_memory_bytes", "process_cpu_seconds_total"):
            if not metric_samples(metrics, name):
                raise Failure(f"/metrics has no {name}")
        if http_get(self.daemon.metrics + "/proxyMode") != (200, "ipvs"):
            raise Failure(f"/proxyMode answered {http_get(self.daemon.metrics + '/proxyMode')}")
        print("ok: promtool check metrics, /proxyMode", flush=True)

        # --cleanup removes ours and leaves the foreign virtual server; twice is harmless.
        self.daemon.stop()
        for attempt in (1, 2):
            out = run(self.args.daemon, "--cleanup")
            if self.rules() or link_addresses() is not None:
                raise Failure(f"cleanup {attempt}: left\n{show(self.rules())}\nkube-ipvs0: {link_addresses()}\n{out}")
        if not any(FOREIGN in v for r in ipvs_rules() for _, v in r):
            raise Failure("cleanup removed a virtual server that is not kube-ipvsd's")
        run("ipvsadm", "-D", "-t", f"{FOREIGN}:80")
        print("ok: --cleanup (twice) removed only kube-ipvsd's state", flush=True)


def test(args, holder):
    os.makedirs(args.work, exist_ok=True)
    Test(args, holder).run()


if __name__ == "__main__":
    entry(test, "daemon", "kubeconfig", "control", "work")
