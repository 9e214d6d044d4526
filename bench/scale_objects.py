#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a cluster of SERVICES ClusterIP Services x ENDPOINTS ready endpoints as one JSON List,
for the fake API server's /load: the objects shaped like a real cluster's (uids, labels,
annotations, owner and target references, node names, zones, trigger times), every tenth Service
also a NodePort while the default NodePort range lasts (2,768 of them at most), EndpointSlices of
at most 100 endpoints as the EndpointSlice controller cuts them.

ClusterIPs count up from 10.96.0.0 (inside 10.96.0.0/12, kubeadm's service range, published as the
ServiceCIDR "kubernetes"); pod IPs from 10.128.0.0. `--rotate N` writes instead the slices of
the first N Services with every endpoint replaced (a rolling update).

Usage: scale_objects.py SERVICES ENDPOINTS OUT.json [--rotate N]
"""
import argparse
import ipaddress
import json

SERVICE_BASE = int(ipaddress.IPv4Address("10.96.0.0"))
POD_BASE = int(ipaddress.IPv4Address("10.128.0.0"))
ROTATED_POD_BASE = int(ipaddress.IPv4Address("10.192.0.0"))
NODE_PORT_FIRST, NODE_PORT_LAST = 30000, 32767
SLICE_CAPACITY = 100
NODES = 50


def ip(n):
    return str(ipaddress.IPv4Address(n))


def uid(kind, i):
    return f"{kind:08x}-{i >> 16:04x}-4{i & 0xfff:03x}-8000-{i:012x}"


def service(i):
    name = f"svc-{i}"
    spec = {"type": "ClusterIP", "clusterIP": ip(SERVICE_BASE + 1 + i), "clusterIPs": [ip(SERVICE_BASE + 1 + i)],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster", "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
    node_port = NODE_PORT_FIRST + i // 10
    if i % 10 == 0 and node_port <= NODE_PORT_LAST:
        spec["type"] = "NodePort"
        spec["externalTrafficPolicy"] = "Cluster"
        spec["ports"][0]["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": f"ns-{i % 100}", "uid": uid(1, i), "resourceVersion": "1",
                         "creationTimestamp": "2026-11-01T10:00:00Z",
                         "labels": {"app": name, "app.kubernetes.io/part-of": "scale"},
                         "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": spec, "status": {"loadBalancer": {}}}


def endpoint(address, n):
    node = f"node-{n % NODES}"
    return {"addresses": [ip(address)], "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": node, "zone": f"zone-{n % 3}",
            "targetRef": {"kind": "Pod", "namespace": "ns", "name": f"pod-{address:x}", "uid": uid(3, address)}}


def slices(i, endpoints, base, revision):
    name = f"svc-{i}"
    out = []
    for s, first in enumerate(range(0, endpoints, SLICE_CAPACITY)):
        count = min(SLICE_CAPACITY, endpoints - first)
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{name}-{s:05x}", "namespace": f"ns-{i % 100}", "uid": uid(2, i * 64 + s),
                         "resourceVersion": "1", "generateName": f"{name}-",
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time":
                                         f"2026-11-01T10:{revision:02d}:00Z"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name, "uid": uid(1, i),
                                              "controller": True, "blockOwnerDeletion": True}]},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [endpoint(base + i * endpoints + first + k, first + k) for k in range(count)]})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", type=int)
    parser.add_argument("endpoints", type=int)
    parser.add_argument("out")
    parser.add_argument("--rotate", type=int, default=0)
    args = parser.parse_args()
    items = []
    if args.rotate:
        for i in range(args.rotate):
            items += slices(i, args.endpoints, ROTATED_POD_BASE, 1)
    else:
        for i in range(args.services):
            items.append(service(i))
            items += slices(i, args.endpoints, POD_BASE, 0)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "uid": uid(4, 0)},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.2.15"}]}}
    # The cluster's service range, as kube-apiserver publishes it (Kubernetes 1.33 and later).
    service_cidr = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
                    "metadata": {"name": "kubernetes", "uid": uid(5, 0)}, "spec": {"cidrs": ["10.96.0.0/12"]}}
    if not args.rotate:
        items += [node, service_cidr]
    with open(args.out, "w") as f:
        json.dump({"kind": "List", "apiVersion": "v1", "items": items}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
