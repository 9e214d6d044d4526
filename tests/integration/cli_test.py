#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The kube-ipvsd command line on the host (no kernel needed): exit statuses and messages for
bad input, --help and --version, and --dry-run both from examples/cluster and from the fake API
server over TLS with a kubeconfig (the JSON output contract).

Usage: cli_test.py KUBE_IPVSD SOURCE_ROOT WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

binary, root, work = sys.argv[1:4]
failures = []


def run(*args, env=None):
    return subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=60)


def check(what, ok, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f"\n{detail}"), flush=True)
    if not ok:
        failures.append(what)


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
no_cluster = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}

# Bad input: status 2 and one line that says what is wrong.
with open(os.path.join(work, "unknown-field.yaml"), "w") as f:
    f.write("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nbogusField: 1\n")
with open(os.path.join(work, "wrong-type.yaml"), "w") as f:
    f.write("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
            "iptables:\n  masqueradeBit: high\n")
for args, mention in [
    (["--bogus"], "--bogus"),
    (["--proxy-mode=iptables"], "IPVS mode only"),
    (["--proxy-mode=nftables"], "run kube-proxy itself"),
    (["--ipvs-sync-period=soon"], "--ipvs-sync-period"),
    (["--cluster-cidr=10.0.0.0/33"], "10.0.0.0/33"),
    (["--config=/nonexistent/kube-proxy.yaml"], "/nonexistent/kube-proxy.yaml"),
    ([f"--config={work}/wrong-type.yaml"], "iptables.masqueradeBit"),
    (["--nodeport-addresses=primary,10.0.0.0/8"], "can't use both"),
    (["--oom-score-adj=-1001"], "--oom-score-adj"),
    (["--healthz-bind-address=localhost"], "--healthz-bind-address"),
    (["--ipvs-sync-period=.s"], "--ipvs-sync-period"),
    (["--ipvs-sync-period=" + "9" * 400 + "s"], "--ipvs-sync-period"),
    (["--service-node-port-range=30000"], "--service-node-port-range"),
]:
    r = run(*args)
    lines = r.stderr.strip().splitlines()
    check(f"{' '.join(args)} exits 2 with one line naming the problem",
          r.returncode == 2 and len(lines) == 1 and mention in lines[0] and r.stdout == "",
          f"status {r.returncode}, stderr {r.stderr!r}")
r = run("--dry-run", "--kubeconfig=/nonexistent/kubeconfig")
check("an unreadable kubeconfig exits 2 naming it", r.returncode == 2 and "/nonexistent/kubeconfig" in r.stderr, r.stderr)
r = run("--dry-run", env=no_cluster)
check("no kubeconfig outside a cluster exits 2", r.returncode == 2 and "KUBERNETES_SERVICE_HOST" in r.stderr, r.stderr)
r = run("--dry-run", f"--config={work}/unknown-field.yaml", "--manifests=/nonexistent/manifests")
check("an unknown config field is a warning (lenient decoding, as upstream), not a refusal",
      'Using lenient decoding as strict decoding failed: unknown field "bogusField"' in r.stderr
      and "/nonexistent/manifests" in r.stderr, r.stderr)
r = run("--dry-run", "--manifests=/nonexistent/manifests")
check("a missing manifest folder exits 2 naming it", r.returncode == 2 and "/nonexistent/manifests" in r.stderr, r.stderr)

# Hostile manifests: each reported and skipped, the rest still read; no abort.
hostile = os.path.join(work, "hostile")
shutil.copytree(os.path.join(root, "examples", "cluster"), hostile)
with open(os.path.join(hostile, "latin1.yaml"), "wb") as f:
    f.write(b"apiVersion: v1\nkind: Service\nmetadata: {name: caf\xe9, namespace: default}\n")
with open(os.path.join(hostile, "bomb.yaml"), "w") as f:
    f.write("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
        f"{c}: &{c} [" + ",".join(["*" + chr(ord(c) - 1)] * 9) + "]\n" for c in "bcdefghi"))
r = run("--manifests", hostile, "--hostname-override=node-a", "--dry-run")
check("manifests with a Latin-1 byte and a YAML alias bomb are skipped with a reason, the rest programmed",
      r.returncode == 0 and "latin1.yaml" in r.stderr and "bomb.yaml" in r.stderr and "10.96.0.20:80" in r.stdout,
      f"status {r.returncode}, stderr {r.stderr[-2000:]!r}")

r = run("--help")
check("--help lists kube-proxy's flags and exits 0",
      r.returncode == 0 and all(f in r.stdout for f in ("--kubeconfig", "--ipvs-scheduler", "--manifests", "--dry-run")),
      r.stdout)
r = run("--version")
check("--version prints the version", r.returncode == 0 and r.stdout.startswith("kube-ipvsd "), r.stdout)

# --dry-run from the examples: JSON contract.
r = run("--manifests", os.path.join(root, "examples", "cluster"), "--hostname-override=node-a", "--dry-run", "--output=json")
check("--dry-run --output=json from examples/cluster exits 0", r.returncode == 0, r.stderr)
doc = json.loads(r.stdout)
servers = {(v["protocol"], v["address"], v["port"]): v for v in doc["virtualServers"]}
api_lb = servers.get(("TCP", "203.0.113.10", 443), {})
check("the LoadBalancer IP with externalTrafficPolicy Local has only this node's endpoint, Maglev with its flags",
      api_lb.get("scheduler") == "mh" and sorted(api_lb.get("flags", [])) == ["mh-fallback", "mh-port"] and
      [r["address"] for r in api_lb.get("realServers", [])] == ["10.244.1.30"], json.dumps(api_lb))
shop = servers.get(("TCP", "192.168.122.10", 30080), {})
check("the NodePort is on the Node object's address, with ClientIP affinity",
      shop.get("persistentTimeoutSeconds") == 10800 and len(shop.get("realServers", [])) == 2, json.dumps(shop))
check("UDP and TCP DNS both present", ("UDP", "10.96.0.10", 53) in servers and ("TCP", "10.96.0.10", 53) in servers)
check("headless, ExternalName and other-proxy Services are skipped",
      not any(a == "10.96.0.99" for _, a, _ in servers) and "10.96.0.99" not in doc["addresses"])
check("addresses are the ClusterIPs, external and LB IPs",
      sorted(doc["addresses"]) == ["10.96.0.10", "10.96.0.20", "10.96.0.30", "10.96.0.40", "192.0.2.50", "203.0.113.10"],
      doc["addresses"])

# --dry-run from the fake API server over TLS with a client certificate.
subprocess.run([os.path.join(root, "tests", "integration", "make-certs.sh"), os.path.join(work, "pki")], check=True)
server = subprocess.Popen([sys.executable, os.path.join(root, "tests", "integration", "fake_apiserver.py"),
                           "--ports-file", os.path.join(work, "ports"), "--cert", os.path.join(work, "pki", "server.crt"),
                           "--key", os.path.join(work, "pki", "server.key"), "--client-ca", os.path.join(work, "pki", "ca.crt"),
                           "--tokens-file", os.path.join(work, "tokens")])
token = "secret-token-" + os.urandom(8).hex()
with open(os.path.join(work, "tokens"), "w") as f:
    f.write(token + "\n")
try:
    for _ in range(100):
        if os.path.exists(os.path.join(work, "ports")):
            break
        time.sleep(0.05)
    api_port, control_port = open(os.path.join(work, "ports")).read().split()
    with open(os.path.join(work, "kubeconfig"), "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "https://127.0.0.1:{api_port}", certificate-authority: pki/ca.crt}}
users:
- name: proxy
  user: {{client-certificate: pki/client.crt, client-key: pki/client.key}}
contexts:
- name: fake
  context: {{cluster: fake, user: proxy}}
current-context: fake
""")

    def apply(obj):
        req = urllib.request.Request(f"http://127.0.0.1:{control_port}/apply", data=json.dumps(obj).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    apply({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-b"},
           "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.20"},
                                    {"type": "InternalIP", "address": "fd00::20"}]}})
    apply({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "prod"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5", "fd00:96::5"],
                    "ipFamilies": ["IPv4", "IPv6"],
                    "ports": [{"name": "http", "port": 80, "nodePort": 31000, "protocol": "TCP"}]}})
    for family, address in (("IPv4", "10.244.7.7"), ("IPv6", "fd00:244::7")):
        apply({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
               "metadata": {"name": f"web-{family.lower()}", "namespace": "prod",
                            "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": family, "ports": [{"name": "http", "port": 8080}],
               "endpoints": [{"addresses": [address], "conditions": {"ready": True}, "nodeName": "node-b"}]})
    r = run(f"--kubeconfig={work}/kubeconfig", "--hostname-override=node-b", "--dry-run", "--output=json")
    check("--dry-run against the API server exits 0", r.returncode == 0, r.stderr)
    doc = json.loads(r.stdout or "{}")
    got = sorted((v["address"], v["port"], tuple(f"{x['address']}:{x['port']}" for x in v["realServers"]))
                 for v in doc.get("virtualServers", []))
    want = sorted([("10.96.5.5", 80, ("10.244.7.7:8080",)), ("192.168.1.20", 31000, ("10.244.7.7:8080",)),
                   ("fd00:96::5", 80, ("fd00:244::7:8080",)), ("fd00::20", 31000, ("fd00:244::7:8080",))])
    check("a dual-stack NodePort Service from the API server: both families, node ports on the Node's addresses",
          got == want, f"got {got}\nwant {want}")
    check("no key in the log", "BEGIN" not in r.stderr and "PRIVATE" not in r.stderr, r.stderr)
    with open(os.path.join(work, "kubeconfig-token"), "w") as f:
        f.write(open(os.path.join(work, "kubeconfig")).read().replace(
            "{client-certificate: pki/client.crt, client-key: pki/client.key}", "{token: " + token + "}"))
    r = run(f"--kubeconfig={work}/kubeconfig-token", "--hostname-override=node-b", "--dry-run", "--v=10")
    check("a token kubeconfig works, and the token never reaches the log even at --v=10",
          r.returncode == 0 and "10.96.5.5" in r.stdout and token not in r.stderr and token not in r.stdout,
          r.stderr[-3000:])
finally:
    server.kill()

sys.exit(1 if failures else 0)
