#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""packaging/kubernetes, rendered with `kubectl kustomize` and checked offline: least-privilege
RBAC, the DaemonSet's shape (host network, priority, tolerations, the privileged init container
and the NET_ADMIN-only daemon, probes, ports, resources, rollout), the image, and every flag the
manifests pass exists in `kube-ipvsd --help`; the ConfigMap's KubeProxyConfiguration is read by
kube-ipvsd itself. A renamed flag or field breaks this test.

Usage: manifests_test.py KUBE_IPVSD SOURCE_ROOT
"""
import re
import subprocess
import sys
import tempfile

import yaml

binary, root = sys.argv[1:3]
failures = []


def check(what, ok, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f"\n  {detail}"), flush=True)
    if not ok:
        failures.append(what)


rendered = subprocess.run(["kubectl", "kustomize", f"{root}/packaging/kubernetes"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
if rendered.returncode != 0:
    print(f"FAIL: kubectl kustomize: {rendered.stderr}")
    sys.exit(1)
docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered.stdout) if d}
check("the kustomization renders a ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap and DaemonSet",
      set(k for k, _ in docs) == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"},
      sorted(docs))

role = docs[("ClusterRole", "kube-ipvsd")]
granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
wanted = {("", "services", "list"), ("", "services", "watch"),
          ("discovery.k8s.io", "endpointslices", "list"), ("discovery.k8s.io", "endpointslices", "watch"),
          ("networking.k8s.io", "servicecidrs", "list"), ("networking.k8s.io", "servicecidrs", "watch"),
          ("", "nodes", "get"), ("", "nodes", "list"), ("", "nodes", "watch"),
          ("", "events", "create"), ("", "events", "patch"),
          ("events.k8s.io", "events", "create"), ("events.k8s.io", "events", "patch")}
check("the ClusterRole grants exactly what the daemon uses", granted == wanted,
      f"extra {sorted(granted - wanted)}, missing {sorted(wanted - granted)}")
binding = docs[("ClusterRoleBinding", "kube-ipvsd")]
check("the binding ties the role to the kube-system/kube-ipvsd ServiceAccount",
      binding["roleRef"]["name"] == "kube-ipvsd" and
      binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-ipvsd", "namespace": "kube-system"}], binding)

ds = docs[("DaemonSet", "kube-ipvsd")]
spec = ds["spec"]["template"]["spec"]
check("the DaemonSet is in kube-system with a rolling update",
      ds["metadata"]["namespace"] == "kube-system" and ds["spec"]["updateStrategy"]["type"] == "RollingUpdate")
check("host network, system-node-critical, tolerates everything, Linux nodes",
      spec["hostNetwork"] is True and spec["priorityClassName"] == "system-node-critical" and
      {"operator": "Exists"} in spec["tolerations"] and spec["nodeSelector"] == {"kubernetes.io/os": "linux"})
check("the ServiceAccount is kube-ipvsd", spec["serviceAccountName"] == "kube-ipvsd")
init, = spec["initContainers"]
main, = spec["containers"]
check("the init container is privileged and runs --init-only",
      init["securityContext"].get("privileged") is True and "--init-only" in init["command"])
sc = main["securityContext"]
check("the daemon is not privileged and adds only NET_ADMIN",
      sc.get("privileged") is False and sc["capabilities"]["add"] == ["NET_ADMIN"] and sc["capabilities"]["drop"] == ["ALL"] and
      sc.get("allowPrivilegeEscalation") is False, sc)
env = {e["name"]: e for e in main["env"]}
check("NODE_NAME comes from the downward API and becomes --hostname-override",
      env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName" and
      "--hostname-override=$(NODE_NAME)" in main["command"])
check("liveness on /livez and readiness on /healthz, port 10256",
      main["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 10256} and
      main["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 10256})
check("the healthz and metrics ports are named", {(p["name"], p["containerPort"]) for p in main["ports"]} ==
      {("healthz", 10256), ("metrics", 10249)})
check("resource requests are set", {"cpu", "memory"} <= set(main["resources"]["requests"]))
mounts = {m["mountPath"]: m for c in (init, main) for m in c["volumeMounts"]}
volumes = {v["name"]: v for v in spec["volumes"]}
check("/lib/modules comes from the host, read-only",
      mounts["/lib/modules"].get("readOnly") is True and volumes["lib-modules"]["hostPath"]["path"] == "/lib/modules")
images = {c["image"] for c in (init, main)}
check("both containers run the kustomization's image", images == {"ghcr.io/kube-ipvsd/kube-ipvsd:v0.1.0"}, images)

# Every flag the manifests pass exists in --help.
help_text = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, text=True).stdout
known = set(re.findall(r"(--[a-z0-9-]+)", help_text))
used = {arg.split("=")[0] for c in (init, main) for arg in c["command"][1:]}
check("every flag in the manifests exists in kube-ipvsd --help", used <= known, sorted(used - known))
check("the command is the image's binary", {c["command"][0] for c in (init, main)} == {"/usr/sbin/kube-ipvsd"})

# The ConfigMap's KubeProxyConfiguration is one kube-ipvsd accepts strictly (no unknown field, no lenient warning).
config = docs[("ConfigMap", "kube-ipvsd")]["data"]
with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
    f.write(config["config.conf"])
    f.flush()
    r = subprocess.run([binary, f"--config={f.name}", "--manifests", f"{root}/examples/cluster", "--hostname-override=node-a",
                        "--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check("kube-ipvsd accepts the ConfigMap's config.conf", r.returncode == 0 and "-A -t 10.96.0.20:80" in r.stdout, r.stderr)
    check("the ConfigMap's config.conf decodes strictly", "lenient decoding" not in r.stderr, r.stderr)
kubeconfig = yaml.safe_load(config["kubeconfig.conf"])
user = kubeconfig["users"][0]["user"]
check("the kubeconfig uses the service account's rotating token file and CA",
      user.get("tokenFile") == "/var/run/secrets/kubernetes.io/serviceaccount/token" and
      kubeconfig["clusters"][0]["cluster"]["certificate-authority"].endswith("serviceaccount/ca.crt"))
mount_path = next(m["mountPath"] for m in main["volumeMounts"] if m["name"] == "config")
conf = yaml.safe_load(config["config.conf"])
check("config.conf points at the mounted kubeconfig",
      conf["clientConnection"]["kubeconfig"] == f"{mount_path}/kubeconfig.conf" and
      all(f"--config={mount_path}/config.conf" in c["command"] for c in (init, main)))
sys.exit(1 if failures else 0)
