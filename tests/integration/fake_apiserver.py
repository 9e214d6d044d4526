#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake Kubernetes API server for tests that speaks the real protocol.

Serves Services, EndpointSlices and Nodes over HTTPS with bearer-token or client-certificate
auth; LIST with limit/continue and resourceVersion; WATCH as a chunked stream of JSON events
with bookmarks; compaction (410 Expired); label and field selectors; the discovery documents
kubectl needs. A plain-HTTP control port on 127.0.0.1 lets a test change objects and script
faults:

  POST /apply   {object}                    create or replace; assigns resourceVersion
  POST /delete  {"kind","namespace","name"}
  POST /compact                             forget history: older watches get 410 Expired
  POST /load    {"file": PATH, "replace": true|false}
                                            every object of the JSON List in PATH (a file on
                                            this machine), in one go; "replace" first drops all
                                            objects and history (open watches get 410), and
                                            the objects then enter no history (benchmarks load
                                            100,000s of objects before the daemon starts)
  POST /fault   {"type": ..., ...}          see FAULTS below
  GET  /requests                            the requests served so far ("GET /api/v1/...")
  GET  /state                               the current resourceVersion

FAULTS (each applies to the next `count` matching requests, default 1):
  {"type":"status","on":"list|watch","code":503,"retryAfter":1}  answer with that status
  {"type":"cut","on":"watch"}         send half of the next event, then drop the connection
  {"type":"malformed","on":"watch"}   send an event that is not valid JSON
  {"type":"stall","on":"watch","seconds":5}   send the headers, then nothing
  {"type":"error-event","code":410,"reason":"Expired"}   an ERROR event, then end the watch
  {"type":"close","on":"watch"}       end the watch at once with no event
  {"type":"expire-continue"}          410 for the next request with a continue token
  {"type":"chunking","mode":"bytewise|batched|normal"}  how events map to HTTP chunks (sticky)
  {"type":"page-limit","limit":2}     cap page sizes (sticky); {"type":"empty-first-page"}
  {"type":"slow-list","seconds":3,"pieces":30}   the next LIST body in pieces spread over that time
  {"type":"stall","on":"list","seconds":5}       half the next LIST body, then nothing for that long
  {"type":"outage","seconds":20}      the server is gone: open watches drop and every API
                                      connection is closed unanswered until the time is up
"""

import argparse
import base64
import bisect
import copy
import http.server
import json
import os
import re
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

RESOURCES = {
    "/api/v1/services": ("services", "Service", "ServiceList", "v1", True),
    "/apis/discovery.k8s.io/v1/endpointslices": ("endpointslices", "EndpointSlice", "EndpointSliceList",
                                                  "discovery.k8s.io/v1", True),
    "/api/v1/nodes": ("nodes", "Node", "NodeList", "v1", False),
    "/apis/networking.k8s.io/v1/servicecidrs": ("servicecidrs", "ServiceCIDR", "ServiceCIDRList",
                                                "networking.k8s.io/v1", False),
}
KIND_TO_RESOURCE = {"Service": "services", "EndpointSlice": "endpointslices", "Node": "nodes",
                    "ServiceCIDR": "servicecidrs"}
SERVICE_CIDRS = "/apis/networking.k8s.io/v1/servicecidrs"


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 1000
        self.objects = {name: {} for name, *_ in RESOURCES.values()}
        self.history = []  # (rv, resource, type, object)
        self.compacted = 0
        self.faults = []
        self.sticky = {"chunking": "normal", "page-limit": None}
        self.outage_until = 0.0
        self.requests = []
        self.snapshots = {}

    def take_fault(self, types, on):
        with self.lock:
            for fault in self.faults:
                if fault["type"] in types and fault.get("on", on) == on:
                    fault["count"] = fault.get("count", 1) - 1
                    if fault["count"] <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def apply(self, obj):
        resource = KIND_TO_RESOURCE[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", ""), meta["name"])
        with self.lock:
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            kind = "MODIFIED" if key in self.objects[resource] else "ADDED"
            self.objects[resource][key] = obj
            self.history.append((self.rv, resource, kind, copy.deepcopy(obj)))
            self.lock.notify_all()
        return obj

    def delete(self, kind, namespace, name):
        resource = KIND_TO_RESOURCE[kind]
        with self.lock:
            obj = self.objects[resource].pop((namespace or "", name), None)
            if obj is None:
                return False
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.history.append((self.rv, resource, "DELETED", obj))
            self.lock.notify_all()
        return True

    def load(self, items, replace):
        with self.lock:
            if replace:
                self.objects = {name: {} for name in self.objects}
                self.snapshots = {}
            for obj in items:
                resource = KIND_TO_RESOURCE[obj["kind"]]
                meta = obj.setdefault("metadata", {})
                key = (meta.get("namespace", ""), meta["name"])
                self.rv += 1
                meta["resourceVersion"] = str(self.rv)
                kind = "MODIFIED" if key in self.objects[resource] else "ADDED"
                self.objects[resource][key] = obj
                if not replace:
                    self.history.append((self.rv, resource, kind, obj))
            if replace:
                self.compacted = self.rv
                self.history = []
            self.lock.notify_all()
        return len(items)

    def since(self, cursor, resource):
        """History events of `resource` after `cursor`: found by bisection, history is in order."""
        start = bisect.bisect_right(self.history, cursor, key=lambda e: e[0])
        return [e for e in self.history[start:] if e[1] == resource]

    def compact(self):
        with self.lock:
            self.compacted = self.rv
            self.history = []
            self.lock.notify_all()


def label_match(obj, selector):
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (selector or "").split(",")):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v.lstrip("="):
                return False
        elif term not in labels:
            return False
    return True


def field_match(obj, selector):
    meta = obj.get("metadata", {})
    for term in filter(None, (selector or "").split(",")):
        k, v = term.split("=", 1)
        field = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}.get(k)
        if field != v.lstrip("="):
            return False
    return True


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake-apiserver: " + fmt % args + "\n")

    # --- helpers -----------------------------------------------------------------------------
    def send_json(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        state = self.server.state
        token = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[7:]
        tokens = set()
        if self.server.tokens_file and os.path.exists(self.server.tokens_file):
            with open(self.server.tokens_file) as f:
                tokens = {line.strip() for line in f if line.strip()}
        if token and token in tokens:
            return True
        if not token and hasattr(self.connection, "getpeercert") and self.connection.getpeercert():
            return True
        del state
        return False

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # --- routes ------------------------------------------------------------------------------
    def in_outage(self):
        if time.monotonic() < self.server.state.outage_until:
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        return False

    def do_GET(self):
        if self.in_outage():
            return
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        state = self.server.state
        with state.lock:
            state.requests.append(f"GET {self.path}")
        if url.path == "/version":
            return self.send_json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake"})
        if not self.authorized():
            return self.send_json(401, status_body(401, "Unauthorized", "Unauthorized"))
        if url.path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if url.path == "/apis":
            groups = [{"name": "discovery.k8s.io", "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
                       "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}}]
            if self.server.service_cidrs:
                groups.append({"name": "networking.k8s.io",
                               "versions": [{"groupVersion": "networking.k8s.io/v1", "version": "v1"}],
                               "preferredVersion": {"groupVersion": "networking.k8s.io/v1", "version": "v1"}})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if url.path == "/apis/networking.k8s.io/v1" and self.server.service_cidrs:
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "networking.k8s.io/v1", "resources": [
                {"name": "servicecidrs", "singularName": "servicecidr", "namespaced": False, "kind": "ServiceCIDR",
                 "verbs": ["get", "list", "watch"]}]})
        if url.path == "/api/v1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "services", "singularName": "service", "namespaced": True, "kind": "Service",
                 "verbs": ["get", "list", "watch"], "shortNames": ["svc"]},
                {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
                 "verbs": ["get", "list", "watch"], "shortNames": ["no"]}]})
        if url.path == "/apis/discovery.k8s.io/v1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "discovery.k8s.io/v1", "resources": [
                {"name": "endpointslices", "singularName": "endpointslice", "namespaced": True, "kind": "EndpointSlice",
                 "verbs": ["get", "list", "watch"]}]})
        path, namespace = url.path, None
        match = re.fullmatch(r"(/api/v1|/apis/discovery\.k8s\.io/v1)/namespaces/([^/]+)/(services|endpointslices)", path)
        if match:
            path, namespace = f"{match.group(1)}/{match.group(3)}", match.group(2)
            query["fieldSelector"] = ",".join(filter(None, [query.get("fieldSelector"), f"metadata.namespace={namespace}"]))
        if path not in RESOURCES or (path == SERVICE_CIDRS and not self.server.service_cidrs):
            return self.send_json(404, status_body(404, "NotFound", f"the server could not find {url.path}"))
        resource = RESOURCES[path]
        on = "watch" if query.get("watch") in ("1", "true") else "list"
        fault = state.take_fault(("status",), on)
        if fault:
            headers = {"Retry-After": str(fault["retryAfter"])} if "retryAfter" in fault else {}
            return self.send_json(fault["code"], status_body(fault["code"], fault.get("reason", "Fault"), "scripted fault"),
                                  headers)
        if on == "watch":
            return self.watch(resource, query)
        return self.list(resource, query)

    def list(self, resource, query):
        name, kind, list_kind, api_version, _ = resource
        state = self.server.state
        token = query.get("continue")
        with state.lock:
            if token:
                if state.take_fault(("expire-continue",), "list"):
                    return self.send_json(410, status_body(410, "Expired", "The provided continue parameter is too old"))
                snap_id, offset = json.loads(base64.b64decode(token))
                snapshot = state.snapshots.get(snap_id)
                if snapshot is None:
                    return self.send_json(410, status_body(410, "Expired", "continue token expired"))
                items, rv = snapshot
            else:
                # Shallow copies: only their top-level kind and apiVersion are set below.
                items = [dict(o) for _, o in sorted(state.objects[name].items())
                         if label_match(o, query.get("labelSelector")) and field_match(o, query.get("fieldSelector"))]
                rv = state.rv
                offset = 0
            limit = int(query.get("limit") or 0)
            if query.get("resourceVersion") == "0" and not token:
                limit = 0  # served from the watch cache: limit is ignored
            if state.sticky["page-limit"]:
                limit = min(limit or state.sticky["page-limit"], state.sticky["page-limit"])
            page_items, next_offset = items, None
            if state.take_fault(("empty-first-page",), "list") and not token:
                page_items, next_offset = [], 0
            elif limit and offset + limit < len(items):
                page_items, next_offset = items[offset:offset + limit], offset + limit
            elif limit:
                page_items = items[offset:]
            meta = {"resourceVersion": str(rv)}
            if next_offset is not None:
                snap_id = token and json.loads(base64.b64decode(token))[0] or f"s{len(state.snapshots)}"
                state.snapshots[snap_id] = (items, rv)
                meta["continue"] = base64.b64encode(json.dumps([snap_id, next_offset]).encode()).decode()
        for item in page_items:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        body = {"kind": list_kind, "apiVersion": api_version, "metadata": meta, "items": page_items}
        slow = state.take_fault(("slow-list", "stall"), "list")
        if slow:
            return self.send_slowly(body, slow)
        self.send_json(200, body)

    def send_slowly(self, body, fault):
        """A 200 whose body flows in pieces over fault["seconds"] (slow-list), or stops half-way
        for that long (stall): a large LIST on a slow link, and a stalled one."""
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault["type"] == "stall":
            pieces, pause = [data[:len(data) // 2], data[len(data) // 2:]], [fault["seconds"]]
        else:
            n = max(1, min(fault.get("pieces", 30), len(data)))
            step = -(-len(data) // n)
            pieces = [data[i:i + step] for i in range(0, len(data), step)]
            pause = [fault["seconds"] / len(pieces)] * len(pieces)
        for i, piece in enumerate(pieces):
            self.wfile.write(piece)
            self.wfile.flush()
            if i < len(pause):
                time.sleep(pause[i])

    def watch(self, resource, query):
        name, kind, _, api_version, _ = resource
        state = self.server.state
        rv_param = query.get("resourceVersion", "")
        timeout = min(float(query.get("timeoutSeconds") or 1800), self.server.max_watch_seconds)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        deadline = time.monotonic() + timeout

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

        pending = []
        mode = state.sticky["chunking"]

        def emit(event):
            data = (json.dumps(event) + "\n").encode()
            if mode == "bytewise":
                for i in range(len(data)):
                    self.chunk(data[i:i + 1])
            elif mode == "batched":
                pending.append(data)
            else:
                self.chunk(data)

        def flush():
            if pending:
                self.chunk(b"".join(pending))
                pending.clear()

        def matches(obj):
            return label_match(obj, query.get("labelSelector")) and field_match(obj, query.get("fieldSelector"))

        try:
            if state.take_fault(("close",), "watch"):
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            stall = state.take_fault(("stall",), "watch")
            if stall:
                time.sleep(stall.get("seconds", 5))
                self.close_connection = True
                return
            with state.lock:
                if rv_param in ("", "0"):
                    cursor = state.rv
                    initial = [copy.deepcopy(o) for _, o in sorted(state.objects[name].items()) if matches(o)]
                else:
                    cursor = int(rv_param)
                    initial = []
                    if cursor < state.compacted:
                        expired = status_body(410, "Expired", f"too old resource version: {cursor} ({state.compacted})")
                        emit({"type": "ERROR", "object": expired})
                        flush()
                        self.wfile.write(b"0\r\n\r\n")
                        return
            for obj in initial:
                emit({"type": "ADDED", "object": obj})
            flush()
            last_bookmark = time.monotonic()
            while time.monotonic() < deadline:
                if self.in_outage():
                    return
                with state.lock:
                    if cursor < state.compacted:
                        # History was compacted under an open watch: the server ends it with 410.
                        emit({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")})
                        flush()
                        break
                    events = state.since(cursor, name)
                    if not events:
                        state.lock.wait(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
                        events = state.since(cursor, name)
                    newest = state.rv
                fault = state.take_fault(("cut", "malformed", "error-event"), "watch") if events or \
                    any(f["type"] == "error-event" for f in state.faults) else None
                if fault and fault["type"] == "error-event":
                    emit({"type": "ERROR", "object": status_body(fault.get("code", 410), fault.get("reason", "Expired"),
                                                                 "scripted error event")})
                    flush()
                    break
                for i, (rv, _, etype, obj) in enumerate(events):
                    cursor = rv
                    if not matches(obj):
                        continue
                    obj.setdefault("kind", kind)
                    obj.setdefault("apiVersion", api_version)
                    if fault and fault["type"] == "cut" and i == 0:
                        data = json.dumps({"type": etype, "object": obj}).encode()
                        self.chunk(data[:len(data) // 2])
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if fault and fault["type"] == "malformed" and i == 0:
                        self.chunk(b'{"type":"ADDED","object":{"kind":"' + kind.encode() + b'","metadata":{"name":}}}\n')
                    emit({"type": etype, "object": obj})
                flush()
                if events:
                    cursor = max(cursor, events[-1][0])
                if bookmarks and time.monotonic() - last_bookmark >= self.server.bookmark_interval:
                    cursor = max(cursor, newest)
                    emit({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                                                          "metadata": {"resourceVersion": str(cursor)}}})
                    flush()
                    last_bookmark = time.monotonic()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        state = self.server.state
        with state.lock:
            if self.path == "/requests":
                return self.reply(state.requests)
            return self.reply({"resourceVersion": state.rv})

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/apply":
            return self.reply(state.apply(body))
        if self.path == "/delete":
            return self.reply({"deleted": state.delete(body["kind"], body.get("namespace", ""), body["name"])})
        if self.path == "/load":
            with open(body["file"]) as f:
                items = json.load(f)["items"]
            return self.reply({"loaded": state.load(items, bool(body.get("replace")))})
        if self.path == "/compact":
            state.compact()
            return self.reply({})
        if self.path == "/fault":
            with state.lock:
                if body["type"] in ("chunking",):
                    state.sticky["chunking"] = body["mode"]
                elif body["type"] == "page-limit":
                    state.sticky["page-limit"] = body["limit"]
                elif body["type"] == "outage":
                    state.outage_until = time.monotonic() + float(body["seconds"])
                else:
                    state.faults.append(body)
                state.lock.notify_all()
            return self.reply({})
        self.send_error(404)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = False

    def handle_error(self, request, client_address):
        # Refused handshakes and dropped connections are what the tests provoke.
        if self.verbose:
            sys.stderr.write(f"fake-apiserver: connection from {client_address} failed: {sys.exc_info()[1]}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ports-file", required=True, help="where to write 'API_PORT CONTROL_PORT'")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", help="accept client certificates signed by this CA")
    parser.add_argument("--tokens-file", help="accepted bearer tokens, one a line (re-read on every request)")
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    parser.add_argument("--max-watch-seconds", type=float, default=600)
    parser.add_argument("--without-servicecidrs", action="store_true",
                        help="answer 404 for ServiceCIDRs, as a server before Kubernetes 1.33")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    state = State()
    api = Server((args.address, args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        context.load_verify_locations(args.client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    # The handshake happens in the handler's thread, so a client that stalls or fails it does not
    # block the accept loop.
    api.socket = context.wrap_socket(api.socket, server_side=True, do_handshake_on_connect=False)
    api.state, api.tokens_file, api.verbose = state, args.tokens_file, args.verbose
    api.bookmark_interval, api.max_watch_seconds = args.bookmark_interval, args.max_watch_seconds
    api.service_cidrs = not args.without_servicecidrs
    control = Server(("127.0.0.1", 0), ControlHandler)
    control.state = state
    for server in (api, control):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{api.server_address[1]} {control.server_address[1]}\n")
    os.rename(tmp, args.ports_file)
    # Exit with the parent: tests start this process and may die without stopping it.
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
