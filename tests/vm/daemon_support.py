# SPDX-License-Identifier: Apache-2.0
"""Helpers for the daemon's VM tests, which run inside the guest: start and stop kube-ipvsd,
read the kernel with independent tools (ipvsadm -Sn, ip), poll, and read the status endpoints."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


class Failure(Exception):
    pass


def run(*argv, check=True, stderr=True):
    """Standard output (and error, unless `stderr` is false) of a command."""
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if stderr else subprocess.PIPE,
                          text=True)
    if check and done.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {done.returncode}: {done.stdout}{done.stderr or ''}")
    return done.stdout


def rule(line):
    """One `ipvsadm -Sn` line as a comparable value: its options in any order."""
    words = line.split()
    options, i = [], 0
    while i < len(words):
        if i + 1 < len(words) and not words[i + 1].startswith("-"):
            options.append((words[i], words[i + 1]))
            i += 2
        else:
            options.append((words[i], ""))
            i += 1
    return frozenset(options)


def rules_of(text):
    return {rule(line) for line in text.splitlines() if line.strip()}


def ipvs_rules(exclude=()):
    """The kernel's IPVS table as `ipvsadm -Sn` prints it, without rules mentioning `exclude`."""
    text = run("ipvsadm", "-Sn")
    return {r for r in rules_of(text) if not any(e in v for e in exclude for _, v in r)}


def show(rules):
    return "\n".join(sorted(" ".join(f"{k} {v}".strip() for k, v in sorted(r)) for r in rules))


def link_addresses(link="kube-ipvs0"):
    """Addresses on `link` as `ip` reports them; None when the link does not exist."""
    done = subprocess.run(["ip", "-j", "addr", "show", "dev", link], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    if done.returncode != 0:
        return None
    return {a["local"] for entry in json.loads(done.stdout) for a in entry.get("addr_info", [])}


def wait_for(what, predicate, timeout=30.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (Failure, OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def expect_rules(want, exclude=(), timeout=30.0):
    want = rules_of(want) if isinstance(want, str) else want
    try:
        wait_for("the IPVS table", lambda: ipvs_rules(exclude) == want, timeout)
    except Failure:
        got = ipvs_rules(exclude)
        raise Failure(f"IPVS table differs.\nwanted:\n{show(want)}\ngot:\n{show(got)}")


def http_get(url, timeout=5.0):
    """(status, body) of a GET, 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric_samples(text, name):
    """{labels-text: value} of the samples of metric `name` in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key[len(name):]] = float(value)
    return out


def vm_status(pid):
    """(VmRSS, VmHWM) of `pid` in MB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Daemon:
    """kube-ipvsd running in the background, its log in a file."""

    def __init__(self, binary, args, log_path, healthz=10256, metrics=10249):
        self.binary, self.args, self.log_path = binary, args, log_path
        self.healthz = f"http://127.0.0.1:{healthz}"
        self.metrics = f"http://127.0.0.1:{metrics}"
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        log.write(f"--- starting {' '.join(self.args)}\n")
        log.flush()
        self.proc = subprocess.Popen([self.binary] + self.args + [
            f"--healthz-bind-address={self.healthz[7:]}", f"--metrics-bind-address={self.metrics[7:]}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for("the status server", lambda: http_get(self.healthz + "/livez")[0] in (200, 503), 20)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"kube-ipvsd did not stop within {timeout}s of signal {sig}")
        self.proc = None
        return rc

    def wait_first_sync(self, timeout=30):
        """Until a sync succeeded: /healthz is 200 before the first one too, the metric is not."""
        wait_for("the first successful sync", lambda: any(
            v > 0 for v in metric_samples(self.metrics_text(),
                                          "kubeproxy_sync_proxy_rules_last_timestamp_seconds").values()), timeout)

    def metrics_text(self):
        status, body = http_get(self.metrics + "/metrics")
        if status != 200:
            raise Failure(f"/metrics answered {status}")
        return body

    def log(self):
        with open(self.log_path) as f:
            return f.read()


def main(test, daemon_holder):
    """Runs `test()`; on failure prints the reason and the daemon's log and exits 1."""
    try:
        test()
    except Exception as e:  # noqa: BLE001 - any failure ends the test with its log
        print(f"FAIL: {e}", flush=True)
        for d in daemon_holder:
            try:
                if isinstance(d, Daemon):
                    print(f"--- kube-ipvsd log ({d.log_path}) ---\n{d.log()[-20000:]}", flush=True)
                    d.stop(signal.SIGKILL, 5)
                else:
                    d.stop()
            except Exception:  # noqa: BLE001
                pass
        sys.exit(1)


def entry(test, *required):
    """Parses --NAME VALUE for each of `required`, then runs test(args, holder) under main()."""
    parser = argparse.ArgumentParser()
    for name in required:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    holder = []
    main(lambda: test(args, holder), holder)
