#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The daemon end to end at scale, inside the test VM: the real kube-ipvsd, started as users run
it (--kubeconfig, --proxy-mode=ipvs, --v=2), fed through the API path by the fake API server on
the host. For each cluster (SERVICES x ENDPOINTS, written by scale_objects.py beforehand):

- start to programmed: from exec to the first successful sync's log line; the first sync's own
  time; against the kernel's floor for the same table, measured in this boot right after
  (kernel-floor: the IPVS requests pre-encoded and batched, kube-ipvs0's addresses and routes
  with `ip -batch`, the table with `nft -f`) and the old floor that binds every ClusterIP; and
  the kernel's own latency for one endpoint change on that table (200 pre-encoded changes);
- RSS once settled (steady) and the peak (VmHWM);
- single endpoint changes: one endpoint of one Service replaced, CHANGES times in a row (more
  until a periodic full sync has run among them), each timed by the daemon from the event's
  arrival on its loop to the kernel's acknowledgement (the sync line's "after the change"), p50
  and p99, and whether the slowest waited while a full sync's reads ran; the periodic full syncs'
  own time, each part of one apart, with the memory given back after it;
- a rolling update of 1,000 Services (every endpoint replaced): from the load to the kernel
  holding the new real servers;
- restart on the programmed kernel: start to programmed, and the operations it sent.

Prints one JSON object per cluster. Usage:
  daemon_scale.py --daemon BIN --floor BIN --kubeconfig FILE --control URL --work DIR
                  --warm-up FILE --cluster NAME:SERVICES:ENDPOINTS:FILE[:ROTATION_FILE] ... [--changes 200]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vm"))
from daemon_support import Failure, run, vm_status  # noqa: E402

# glog's prefix: "I1205 23:07:23.212218 191 daemon.cpp:272] ...".
LOG_TIME = re.compile(r"^[IWEF]\d{4} (\d\d):(\d\d):(\d\d\.\d+) ")
SYNC_LINE = re.compile(r"(full sync(?:, continued)?: )?synced in ([0-9.]+)ms(?: \(([^)]*)\))?: (\d+) IPVS operations, (\d+) virtual servers wanted"
                       r"(?:, ([0-9.]+)ms after the change)?(, \d+ errors)?")


def control(url, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as r:
        return json.loads(r.read())


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Running:
    """kube-ipvsd started now; its sync lines read as they come."""

    def __init__(self, args, log_path, source=None, netns=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.started = time.monotonic()
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            prefix + [args.daemon, *(source or [f"--kubeconfig={args.kubeconfig}"]), "--proxy-mode=ipvs", "--v=2",
                      "--hostname-override=node-a", "--ipvs-min-sync-period=0s",
                      "--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.offset = 0
        self.buffer = ""
        self.unread = []  # sync lines read from the log after the one until() returned
        self.full_syncs = []  # the periodic full syncs seen: (ms, {step: ms}, logged at)
        self.rss_during_changes = []  # MB, read after each change's sync line

    def syncs(self):
        """The sync lines written since the last call, as (ms, operations, wanted, latency ms, failed,
        {step: ms}, logged at: seconds of the day)."""
        with open(self.log_path) as f:
            f.seek(self.offset)
            text = f.read()
            self.offset = f.tell()
        self.buffer += text
        lines = self.buffer.split("\n")
        self.buffer = lines.pop()
        out = []
        for line in lines:
            m = SYNC_LINE.search(line)
            if m:
                steps = {k: float(v[:-2]) for k, _, v in (p.partition(" ") for p in (m[3] or "").split(", ") if p)}
                t = LOG_TIME.match(line)
                at = int(t[1]) * 3600 + int(t[2]) * 60 + float(t[3]) if t else None
                out.append((float(m[2]), int(m[4]), int(m[5]), float(m[6]) if m[6] else None, bool(m[7]), steps, at))
                if m[1]:
                    self.full_syncs.append((float(m[2]), steps, at))
        if self.proc.poll() is not None:
            raise Failure(f"kube-ipvsd exited {self.proc.returncode}")
        return out

    def quiet(self, seconds):
        """Sync lines until `seconds` pass without one that sent operations: (their operations, when
        the last was seen or None)."""
        operations, last, since = 0, None, time.monotonic()
        while time.monotonic() - since < seconds:
            lines, self.unread = self.unread + self.syncs(), []
            for s in lines:
                if s[1] > 0:
                    operations += s[1]
                    last = since = time.monotonic()
            time.sleep(0.05)
        return operations, last

    def until(self, what, predicate, timeout):
        """Sync lines until `predicate(line)` holds for one; returns (that line, when, all lines)."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines, self.unread = self.unread + self.syncs(), []
            for i, s in enumerate(lines):
                seen.append(s)
                if predicate(s):
                    self.unread = lines[i + 1:]
                    return s, time.monotonic(), seen
            # Each poll costs the emulated guest CPU the daemon is measured on: 50 ms apart,
            # which only rounds "start to programmed" (the latencies are the daemon's own).
            time.sleep(0.05)
        raise Failure(f"timed out after {timeout:.0f}s waiting for {what}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def clean_kernel():
    run("ipvsadm", "-C")
    subprocess.run(["ip", "link", "del", "kube-ipvs0"], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "route", "flush", "table", "local", "proto", "107"], stderr=subprocess.DEVNULL)
    subprocess.run(["nft", "delete", "table", "inet", "kube-ipvsd"], stderr=subprocess.DEVNULL)


def capture_for_floor(work, services):
    """kube-ipvs0's addresses and the service ranges' routes as `ip -batch` lines, the nftables table as a file,
    and every ClusterIP as a /32 (the old way), for kernel-floor."""
    link = os.path.join(work, "link.batch")
    with open(link, "w") as f:
        for entry in json.loads(run("ip", "-j", "addr", "show", "dev", "kube-ipvs0")):
            for a in entry.get("addr_info", []):
                f.write(f"addr add {a['local']}/{a['prefixlen']} dev kube-ipvs0\n")
        # The service ranges' routes (kube-ipvsd's: protocol 107, through lo).
        for r in json.loads(run("ip", "-j", "route", "show", "table", "local", "proto", "107")):
            f.write(f"route add local {r['dst']} dev lo table local proto 107\n")
    old = os.path.join(work, "old-link.batch")
    with open(old, "w") as f:
        base = 0x0a600000
        for i in range(services):
            n = base + 1 + i
            f.write(f"addr add {n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/32 dev kube-ipvs0\n")
    nft = os.path.join(work, "table.nft")
    with open(nft, "w") as f:
        f.write(run("nft", "list", "table", "inet", "kube-ipvsd"))
    return link, nft, old


def single_changes(args, daemon, services, endpoints, count, first=0):
    """`count` single endpoint replacements, each on another Service, numbered from `first` (each
    number brings a new endpoint address); the daemon's latencies, and the slowest three with their
    syncs' steps and the syncs logged while each waited (at --v=2 a sync that changed nothing is
    not logged, except the periodic full sync)."""
    latencies, operations, syncs, detail = [], [], [], []
    # Until a periodic full sync has run among them too (every 30 s), so that the figures say what
    # a change arriving meanwhile waits.
    full_before = len(daemon.full_syncs)
    n = first
    while n < first + count or (len(daemon.full_syncs) == full_before and n < first + 20 * count):
        i = (n * 7919) % services
        endpoint = 0x0ae00000 + n  # 10.224.0.0 + n: never used before
        ip = f"{endpoint >> 24}.{endpoint >> 16 & 255}.{endpoint >> 8 & 255}.{endpoint & 255}"
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": f"svc-{i}-00000", "namespace": f"ns-{i % 100}",
                             "labels": {"kubernetes.io/service-name": f"svc-{i}"}},
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-1"}] + [
                    {"addresses": [f"10.{128 + (k >> 16)}.{k >> 8 & 255}.{k & 255}"], "conditions": {"ready": True},
                     "nodeName": "node-1"} for k in range(i * endpoints + 1, i * endpoints + min(endpoints, 100))]}
        control(args.control, "/apply", body)
        line, _, seen = daemon.until(f"change {n}", lambda s: s[1] > 0 and s[3] is not None, 60)
        latencies.append(line[3])
        daemon.rss_during_changes.append(vm_status(daemon.proc.pid)[0])
        syncs.append(line[0])
        operations.append(line[1])
        detail.append({"ms": line[3], "sync_ms": line[0], "steps_ms": line[5], "at": line[6],
                       "syncs_before": [{"ms": s[0], "steps_ms": s[5]} for s in seen[:-1]]})
        n += 1
    for d in detail:
        d["during_reads"] = during_full_sync_reads(d, daemon.full_syncs)
    slowest = sorted(detail, key=lambda d: d["ms"], reverse=True)[:5]
    apart = [d["ms"] for d in detail if not d["during_reads"]]
    reads = {"changes_during_reads": len(detail) - len(apart),
             "change_ms_p99_apart_from_reads": percentile(apart, 99) if apart else None}
    return latencies, operations, syncs, slowest, reads


def changes_without_estimator(args, daemon, services, endpoints):
    """As many changes again with IPVS's rate estimator off (net.ipv4.vs.run_estimation=0), then
    back as it was: before Linux 6.2 the estimator's timer walks every virtual and real server
    every 2 s holding the lock a real server's add and delete take. The kernel's own loop does the
    same (kernel-floor), so both say what of the tail is the estimator's. None when the run set
    the estimator itself (--run-estimation)."""
    if args.run_estimation:
        return None
    setting = "net.ipv4.vs.run_estimation"
    was = run("sysctl", "-n", setting).strip()
    run("sysctl", "-qw", f"{setting}=0")
    try:
        latencies, _, _, slowest, reads = single_changes(args, daemon, services, endpoints, args.changes,
                                                         first=20 * args.changes)
    finally:
        run("sysctl", "-qw", f"{setting}={was}")
    return {"changes": len(latencies), "change_ms_p50": percentile(latencies, 50),
            "change_ms_p99": percentile(latencies, 99), "change_ms_max": max(latencies),
            "changes_over_10ms": sum(1 for ms in latencies if ms > 10), "slowest_changes": slowest, **reads}


def during_full_sync_reads(change, full_syncs):
    """Whether a change's wait (from its event to its sync line) overlapped a full sync's reads,
    which run apart and end when the full sync itself starts (its line is logged at its end)."""
    if change["at"] is None:
        return None
    began = change["at"] - change["ms"] / 1000
    for ms, steps, at in full_syncs:
        if at is None or "snapshot" not in steps:
            continue
        reads_end = at - ms / 1000
        if began < reads_end and change["at"] > reads_end - steps["snapshot"] / 1000:
            return True
    return False


def thread_stack_pointers(pid):
    """Each waiting thread's stack pointer and name (/proc/PID/task/TID/syscall and comm)."""
    pointers = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if len(fields) >= 3 and fields[0] != "running":
            pointers[int(fields[-2], 16)] = name
    return pointers


def rss_breakdown(pid):
    """Where the steady RSS is: anonymous and file-backed MB (/proc/PID/status), the threads, and
    the twelve largest mappings by resident size (/proc/PID/smaps): a file's by its name, an
    anonymous one (an arena, a block mapped apart) by its size and address, a thread's stack by
    the thread's name too (the daemon names its threads)."""
    stacks = thread_stack_pointers(pid)
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "Threads"):
                number = int(value.split()[0])
                parts[key] = number if key == "Threads" else round(number / 1024, 1)
    mappings, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                begin, end = (int(x, 16) for x in fields[0].split("-"))
                owner = next((f"stack of {n} " for sp, n in stacks.items() if begin <= sp < end), "")
                name = (os.path.basename(fields[5]) if len(fields) > 5
                        else f"[{owner}anonymous {(end - begin) / 1048576:.1f} MB at {fields[0].split('-')[0]}]")
            elif fields[0] == "Rss:":
                mappings[name] = mappings.get(name, 0) + int(fields[1])
    largest = sorted(mappings.items(), key=lambda item: -item[1])[:12]
    parts["largest_mappings_mb"] = {n: round(kb / 1024, 1) for n, kb in largest}
    return parts


def warm_up(args, objects):
    """One start on a small cluster: the kernel's modules (IPVS schedulers, nf_tables and its
    expressions, conntrack) load now, not in the first measured sync nor in the floor after it.
    It runs from manifests in a network namespace thrown away after: IPVS keeps deleted real
    servers in a per-namespace trash for two minutes and walks it on every add, so its 1,000
    would slow the measured first sync (the floor replays into a fresh namespace)."""
    folder = os.path.join(args.work, "warm-up")
    os.makedirs(folder, exist_ok=True)
    shutil.copy(objects, os.path.join(folder, "cluster.json"))
    subprocess.run(["ip", "netns", "del", "kipvs-warm-up"], stderr=subprocess.DEVNULL)
    run("ip", "netns", "add", "kipvs-warm-up")
    run("ip", "netns", "exec", "kipvs-warm-up", "ip", "link", "set", "lo", "up")
    # In a network namespace nf_conntrack_max is read-only: kind's setting for the same case.
    daemon = Running(args, os.path.join(args.work, "warm-up.log"), ["--manifests", folder, "--conntrack-max-per-core=0"],
                     "kipvs-warm-up")
    daemon.until("the warm-up's first sync", lambda s: s[1] > 0 and not s[4], 600)
    daemon.stop()
    run("ip", "netns", "del", "kipvs-warm-up")


def measure(args, name, services, endpoints, objects, rotation):
    clean_kernel()
    control(args.control, "/load", {"file": objects, "replace": True})
    log = os.path.join(args.work, f"{name}.log")
    daemon = Running(args, log)
    first, programmed, _ = daemon.until("the first sync", lambda s: s[1] > 0 and not s[4], 1800)
    start_to_programmed = programmed - daemon.started
    time.sleep(3)
    daemon.syncs()
    rss_steady, peak = vm_status(daemon.proc.pid)
    rss_parts = rss_breakdown(daemon.proc.pid)
    latencies, operations, syncs, slowest, reads = single_changes(args, daemon, services, endpoints, args.changes)
    without_estimator = changes_without_estimator(args, daemon, services, endpoints)
    rss_after_changes, peak_after_changes = vm_status(daemon.proc.pid)
    rolling = None
    if rotation:
        started = time.monotonic()
        control(args.control, "/load", {"file": rotation, "replace": False})
        wanted_ops = 1000 * min(endpoints, 100) * 2
        total = [0]

        def done(s):
            total[0] += s[1]
            return total[0] >= wanted_ops

        _, finished, _ = daemon.until("the rolling update", done, 600)
        # The ClusterIPs' real servers are in; the NodePorts' may still be coming: until a second
        # passes with no sync that changed anything (the daemon must not be stopped mid-update,
        # or the restart below finds the rest to do).
        more, last = daemon.quiet(1.0)
        rolling = {"seconds": (last or finished) - started, "operations": total[0] + more}
    _, peak_final = vm_status(daemon.proc.pid)
    daemon.stop()
    link, nft, old = capture_for_floor(args.work, services)
    table_rules = len(run("ipvsadm", "-Sn").splitlines())
    restarted = Running(args, os.path.join(args.work, f"{name}-restart.log"))
    try:
        again, reprogrammed, _ = restarted.until("the restart's first sync", lambda s: not s[4], args.restart_timeout)
        restart = {"start_to_programmed_s": reprogrammed - restarted.started, "sync_ms": again[0],
                   "operations": again[1]}
    except Failure as e:
        restart = {"failed": str(e)}
    restarted.stop()
    floor = json.loads(run(args.floor, link, nft, old))
    floor_s = floor["ipvs_s"] + floor["link_s"] + floor["nft_s"]
    old_floor_s = floor["ipvs_s"] + floor["other_link_s"] + floor["nft_s"]
    result = {
        "cluster": name, "services": services, "endpoints": endpoints, "ipvs_rules": table_rules,
        "first_sync_s": first[0] / 1000, "first_sync_operations": first[1], "first_sync_steps_ms": first[5],
        "start_to_programmed_s": start_to_programmed,
        "floor": floor, "floor_s": floor_s, "old_floor_s": old_floor_s,
        "first_sync_over_floor": first[0] / 1000 / floor_s,
        "first_sync_over_old_floor": first[0] / 1000 / old_floor_s,
        "rss_steady_mb": rss_steady, "rss_steady_parts": rss_parts, "rss_peak_mb": peak, "rss_after_changes_mb": rss_after_changes,
        "rss_peak_final_mb": max(peak_after_changes, peak_final),
        # Read after every change of both loops: while a full sync's reads list a large nftables
        # set for the verification the RSS is ~12 MB higher (docs/benchmarks.md), so one reading
        # after the loops catches that or not by chance.
        "rss_during_changes_mb": {"p50": percentile(daemon.rss_during_changes, 50),
                                  "max": max(daemon.rss_during_changes)} if daemon.rss_during_changes else None,
        "changes": len(latencies), "change_operations": sorted(set(operations)),
        "rolling_update": rolling, "restart": restart,
    }
    if daemon.full_syncs:
        # A change that arrives while one runs waits for it unless the two can overlap: for the sync
        # and for the memory given back after it ("memory", not in the sync's own time). Each part
        # of a full sync ("full sync, continued") counts as one.
        holds = [f[0] + f[1].get("memory", 0) for f in daemon.full_syncs]
        result.update({"full_syncs": len(holds), "full_sync_ms_p50": percentile(holds, 50),
                       "full_sync_ms_max": max(holds),
                       "slowest_full_sync": max(daemon.full_syncs, key=lambda f: f[0] + f[1].get("memory", 0))[:2]})
    if latencies:
        result.update({
            # The kernel's own for one change on the same table (kernel-floor, in this boot).
            "floor_change_ms_p50": floor.get("change_ms_p50"), "floor_change_ms_p99": floor.get("change_ms_p99"),
            "floor_change_ms_max": floor.get("change_ms_max"),
            "floor_changes_over_10ms": floor.get("changes_over_10ms"),
            "floor_no_estimator_change_ms_p50": floor.get("no_estimator_change_ms_p50"),
            "floor_no_estimator_change_ms_p99": floor.get("no_estimator_change_ms_p99"),
            "floor_no_estimator_change_ms_max": floor.get("no_estimator_change_ms_max"),
            "floor_no_estimator_changes_over_10ms": floor.get("no_estimator_changes_over_10ms"),
            "changes_over_10ms": sum(1 for ms in latencies if ms > 10),
            "change_ms_p50": percentile(latencies, 50), "change_ms_p99": percentile(latencies, 99),
            "change_ms_max": max(latencies),
            "change_sync_ms_p50": percentile(syncs, 50), "change_sync_ms_p99": percentile(syncs, 99),
            "slowest_changes": slowest, **reads})
    if without_estimator:
        result["without_estimator"] = without_estimator
    result["log_notes"] = log_notes(log)
    clean_kernel()
    return result


def log_notes(path, keep=20):
    """The daemon's last lines other than its sync lines: warnings, errors, table rebuilds."""
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip() and not SYNC_LINE.search(line)]
    return lines[-keep:]


def main():
    parser = argparse.ArgumentParser()
    for name in ("daemon", "floor", "kubeconfig", "control", "work"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--cluster", action="append", required=True)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--restart-timeout", type=float, default=600)
    parser.add_argument("--warm-up", required=True, help="a small cluster's objects, run once first")
    parser.add_argument("--run-estimation", choices=["0", "1"],
                        help="set net.ipv4.vs.run_estimation (IPVS's rate estimator) before measuring")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    warm_up(args, args.warm_up)
    if args.run_estimation:
        run("sysctl", "-qw", f"net.ipv4.vs.run_estimation={args.run_estimation}")
    for spec in args.cluster:
        name, services, endpoints, objects, *rotation = spec.split(":")
        try:
            result = measure(args, name, int(services), int(endpoints), objects, rotation[0] if rotation else None)
        except Failure as e:
            print(json.dumps({"cluster": name, "failed": str(e)}), flush=True)
            for log in (f"{name}.log", f"{name}-restart.log"):
                path = os.path.join(args.work, log)
                if os.path.exists(path):
                    with open(path) as f:
                        print(f"--- {log} ---\n{f.read()[-4000:]}", flush=True)
            subprocess.run(["pkill", "-f", args.daemon])
            clean_kernel()
            continue
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
