#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The test VM's agent: runs the programs the host drops into the session folder, one at a time.

Request req-ID.json -> output req-ID.out (stdout and stderr, streamed) -> exit status req-ID.rc.
Each program runs in a fresh network namespace unless the request says otherwise, so programs
sharing one boot cannot see each other's IPVS tables, links or addresses.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def sh(*argv):
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def set_up_guest():
    sh("ip", "link", "set", "lo", "up")
    # qemu's user network: the guest is 10.0.2.15, the host's loopback is reachable as 10.0.2.2.
    sh("modprobe", "virtio_net")
    for _ in range(50):
        if os.path.exists("/sys/class/net/eth0"):
            break
        time.sleep(0.05)
    sh("ip", "link", "set", "eth0", "up")
    sh("ip", "addr", "add", "10.0.2.15/24", "dev", "eth0")
    sh("ip", "route", "add", "default", "via", "10.0.2.2")


def run(session, rid, request):
    out_path = os.path.join(session, f"req-{rid}.out")
    argv = request["argv"]
    if request.get("netns", True):
        argv = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + argv
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C.UTF-8", "KIPVS_IN_VM": "1"}
    env.update(request.get("env", {}))
    cwd = request.get("cwd") if os.path.isdir(request.get("cwd", "")) else "/"
    with open(out_path, "wb", buffering=0) as out:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            out.write(f"vm-agent: cannot start {argv[0]}: {e}\n".encode())
            return 127
        try:
            return proc.wait(timeout=request.get("timeout", 600))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out.write(f"vm-agent: {argv[0]} killed after {request.get('timeout')} s\n".encode())
            return 124


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--session", required=True)
    parser.add_argument("--idle", type=float, default=45)
    parser.add_argument("--pid1", action="store_true", help="power the VM off when done")
    args = parser.parse_args()
    try:
        return serve(args)
    finally:
        if args.pid1:
            os.sync()
            with open("/proc/sysrq-trigger", "w") as f:
                f.write("o")
            time.sleep(10)


def reap_orphans():
    """As PID 1 the agent inherits every orphaned process; collect the dead ones between requests."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def serve(args):
    set_up_guest()
    with open(os.path.join(args.session, "ready"), "w") as f:
        f.write(os.uname().release + "\n")
    last = time.monotonic()
    while True:
        names = sorted(n for n in os.listdir(args.session) if n.startswith("req-") and n.endswith(".json"))
        if os.path.exists(os.path.join(args.session, "stop")):
            return 0
        if not names:
            if time.monotonic() - last > args.idle:
                print("vm-agent: idle, powering off", file=sys.stderr)
                return 0
            reap_orphans()
            time.sleep(0.05)
            continue
        name = names[0]
        rid = name[len("req-"):-len(".json")]
        path = os.path.join(args.session, name)
        with open(path) as f:
            request = json.load(f)
        os.rename(path, os.path.join(args.session, f"req-{rid}.taken"))
        rc = run(args.session, rid, request)
        tmp = os.path.join(args.session, f"rc-{rid}.tmp")
        with open(tmp, "w") as f:
            f.write(f"{rc}\n")
        os.rename(tmp, os.path.join(args.session, f"req-{rid}.rc"))
        last = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
