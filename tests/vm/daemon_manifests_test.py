#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kube-ipvsd --manifests inside the test VM, in a network namespace of its own: the kernel ends
up exactly as --dry-run said it would for examples/cluster; edits to the folder are followed
(inotify); an invalid file is reported and skipped while the rest keeps working; a removed file
takes its services away; SIGTERM leaves the kernel as it is.

Usage: daemon_manifests_test.py --daemon BIN --examples DIR
"""
import os
import signal
import shutil
import tempfile

from daemon_support import (Daemon, Failure, expect_rules, http_get, ipvs_rules, link_addresses, entry,
                            metric_samples, rules_of, run, wait_for)

NODE_IP = "192.168.122.10"  # examples/cluster/node.yaml's InternalIP


def test(args, holder):
    folder = tempfile.mkdtemp(prefix="kipvs-manifests-")
    for name in os.listdir(args.examples):
        shutil.copy(os.path.join(args.examples, name), folder)
    # The node's own address, where NodePorts are served: the one the Node object names, so the
    # kernel must match --dry-run exactly.
    run("ip", "link", "add", "node0", "type", "dummy")
    run("ip", "addr", "add", f"{NODE_IP}/24", "dev", "node0")
    run("ip", "link", "set", "node0", "up")
    # --init-only: the sysctls (per network namespace) set, then exit 0. In a network namespace
    # nf_conntrack_max is read-only (kind's setting for the same case, as below): whether an
    # earlier test raised it in the VM's initial namespace must not matter.
    run("modprobe", "ip_vs")
    run("sysctl", "-qw", "net.ipv4.vs.conntrack=0", "net.ipv4.ip_forward=0")
    run(args.daemon, "--init-only", "--conntrack-max-per-core=0")
    values = run("sysctl", "-n", "net.ipv4.vs.conntrack", "net.ipv4.ip_forward").split()
    if values != ["1", "1"]:
        raise Failure(f"--init-only left vs/conntrack and ip_forward at {values}")
    if "ip_vs_rr" not in run("cat", "/proc/modules"):
        raise Failure("--init-only did not load ip_vs_rr")
    print("ok: --init-only loads the modules and applies the sysctls", flush=True)

    common = ["--manifests", folder, "--hostname-override=node-a", "--v=2", "--conntrack-max-per-core=0"]
    expected = rules_of(run(args.daemon, *common, "--dry-run", stderr=False))
    if len(expected) < 20:
        raise Failure(f"--dry-run printed too little for examples/cluster:\n{expected}")

    daemon = Daemon(args.daemon, common, os.path.join(folder, "..", "kipvs-manifests.log"))
    holder.append(daemon)
    daemon.start()
    expect_rules(expected)
    addresses = {"10.96.0.10", "10.96.0.20", "10.96.0.30", "10.96.0.40", "192.0.2.50", "203.0.113.10"}
    wait_for("kube-ipvs0 addresses", lambda: link_addresses() == addresses, 15)
    status, body = http_get(daemon.healthz + "/healthz")
    if status != 200:
        raise Failure(f"/healthz answered {status}: {body}")
    print("ok: the kernel matches --dry-run for examples/cluster", flush=True)

    # An edit: a fourth web pod.
    web = os.path.join(folder, "web.yaml")
    with open(web) as f:
        text = f.read()
    with open(web, "w") as f:
        f.write(text + "- addresses: [10.244.1.13]\n  conditions: {ready: true}\n  nodeName: node-a\n")
    want = expected | rules_of("-a -t 10.96.0.20:80 -r 10.244.1.13:8080 -m -w 1")
    expect_rules(want, timeout=15)
    print("ok: an edited file is followed", flush=True)

    # An invalid file: reported, counted, and nothing else changes.
    with open(os.path.join(folder, "broken.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Service\nmetadata: {name: [unclosed\n")
    wait_for("the invalid file in the log", lambda: "broken.yaml" in daemon.log(), 15)
    errors = metric_samples(daemon.metrics_text(), "kube_ipvsd_manifest_file_errors_total")
    if sum(errors.values()) < 1:
        raise Failure(f"the invalid file was not counted: {errors}")
    if ipvs_rules() != want:
        raise Failure("an invalid file changed the kernel state")
    print("ok: an invalid file is reported and skipped", flush=True)

    # A removed file: its Service goes, with its ClusterIP address.
    os.remove(os.path.join(folder, "shop.yaml"))
    want = {r for r in want if not any("10.96.0.30" in v or ":30080" in v for _, v in r)}
    expect_rules(want, timeout=15)
    wait_for("10.96.0.30 gone from kube-ipvs0", lambda: link_addresses() == addresses - {"10.96.0.30"}, 15)
    print("ok: a removed file takes its services away", flush=True)

    # SIGHUP is logged and ignored, as documented.
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for("the SIGHUP log line", lambda: "SIGHUP ignored" in daemon.log(), 10)
    if daemon.proc.poll() is not None:
        raise Failure("SIGHUP stopped the daemon")
    print("ok: SIGHUP is ignored", flush=True)

    rc = daemon.stop()
    if rc != 0 or ipvs_rules() != want:
        raise Failure(f"SIGTERM: exit {rc}, or the kernel changed")
    print("ok: SIGTERM leaves the kernel as it is", flush=True)


if __name__ == "__main__":
    entry(test, "daemon", "examples")
