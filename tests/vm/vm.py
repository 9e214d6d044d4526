#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs programs inside a qemu VM booted on Debian's stock kernel (tests/vm/README.md).

One VM serves many programs: `exec` boots it on first use and reuses it while it lives; the
guest powers itself off after an idle period. Host and guest talk through files in a session
folder shared over 9p: the host drops a request, the guest agent runs it and writes its output
and exit status next to it.

  vm.py exec --session DIR [--timeout S] [--no-netns] -- PROGRAM ARGS...
  vm.py stop --session DIR
  vm.py run  --session DIR -- PROGRAM ARGS...    (boot, run one program, power off)

Exit status of `exec` is the program's. 77 (Meson's SKIP) when qemu or the kernel is missing,
unless KIPVS_VM_REQUIRED=1, which turns that into a failure (CI sets it: nothing is skipped).
"""

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("KIPVS_VM_CACHE", "/var/cache/kube-ipvsd/vm")
BOOT_TIMEOUT = float(os.environ.get("KIPVS_VM_BOOT_TIMEOUT", "180"))
# A VM lives at most this long, whatever it runs: a hung guest can never outlive a CI run.
MAX_LIFETIME = int(os.environ.get("KIPVS_VM_MAX_LIFETIME", "2400"))
IDLE_POWEROFF = int(os.environ.get("KIPVS_VM_IDLE", "45"))
# Guest-side order that loads the root filesystem's drivers; the rest comes from modprobe.
INITRAMFS_MODULES = [
    "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
    "netfs", "fscache", "9pnet", "9pnet_virtio", "9p", "overlay",
]


class VmError(Exception):
    pass


class GuestStalled(VmError):
    """qemu runs but the guest never reported ready."""


def fail_or_skip(message):
    required = os.environ.get("KIPVS_VM_REQUIRED") == "1"
    print(f"vm: {message}", file=sys.stderr)
    if not required:
        print("vm: skipping (set KIPVS_VM_REQUIRED=1 to make this an error)", file=sys.stderr)
        sys.exit(77)
    sys.exit(1)


def kernel_dir():
    current = os.path.join(CACHE, "current")
    if not os.path.exists(os.path.join(current, "ready")):
        fail_or_skip(f"no kernel in {CACHE}: run scripts/install-deps.sh (or tests/vm/fetch-kernel.sh)")
    return os.path.realpath(current)


def kernel_version(kdir):
    return os.listdir(os.path.join(kdir, "root", "lib", "modules"))[0]


def build_initramfs(kdir):
    """Builds (once per kernel and init script) a busybox initramfs with the drivers to mount 9p.

    The image is named by a hash of what goes into it, so checkouts with different init scripts
    never share or overwrite one another's image."""
    version = kernel_version(kdir)
    init_src = os.path.join(HERE, "guest-init.sh")
    with open(init_src, "rb") as f:
        digest = hashlib.sha256(f.read() + "\n".join(INITRAMFS_MODULES).encode()).hexdigest()[:16]
    out = os.path.join(kdir, f"initramfs-{digest}.cpio.gz")
    if os.path.exists(out):
        return out
    if not os.path.exists("/bin/busybox"):
        fail_or_skip("busybox-static is missing: run scripts/install-deps.sh")
    moddir = os.path.join(kdir, "root", "lib", "modules", version)
    if not os.path.isdir(moddir):
        raise VmError(f"kernel tree {moddir} is missing")
    staging = tempfile.mkdtemp(prefix="initramfs-", dir=kdir)
    try:
        for d in ("bin", "modules", "proc", "sys", "dev", "newroot", "lower", "upper"):
            os.makedirs(os.path.join(staging, d))
        shutil.copy("/bin/busybox", os.path.join(staging, "bin", "busybox"))
        shutil.copy(init_src, os.path.join(staging, "init"))
        os.chmod(os.path.join(staging, "init"), 0o755)
        order = []
        for name in INITRAMFS_MODULES:
            found = subprocess.run(["modinfo", "-b", os.path.join(kdir, "root"), "-k", version, "-n", name],
                                   capture_output=True, text=True)
            path = found.stdout.strip()
            # modinfo names built-in drivers "(builtin)": nothing to load then.
            if found.returncode == 0 and path.startswith("/"):
                shutil.copy(path, os.path.join(staging, "modules", os.path.basename(path)))
                order.append(os.path.basename(path))
        with open(os.path.join(staging, "modules", "order"), "w") as f:
            f.write("\n".join(order) + "\n")
        tmp = f"{out}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            subprocess.run("find . | cpio -o -H newc --quiet | gzip -1", shell=True, cwd=staging, stdout=f, check=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


class Session:
    """The session folder of one build tree: requests, outputs, the console log and the VM's pid."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)

    def file(self, name):
        return os.path.join(self.path, name)

    def qemu_pid(self):
        try:
            with open(self.file("qemu.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"qemu" not in f.read():
                    return None
            return pid
        except (OSError, ValueError):
            return None

    def alive(self):
        return self.qemu_pid() is not None and os.path.exists(self.file("ready"))

    def console_tail(self, lines=40):
        try:
            with open(self.file("console.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no console output)"

    def boot(self):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            fail_or_skip("qemu-system-x86_64 is missing: run scripts/install-deps.sh")
        kdir = kernel_dir()
        initrd = build_initramfs(kdir)
        version = kernel_version(kdir)
        for name in os.listdir(self.path):
            if name.startswith(("req-", "ready", "stop", "console.log", "qemu.pid")):
                os.unlink(self.file(name))
        append = " ".join([
            "console=ttyS0", "panic=-1", "quiet", "loglevel=4",
            f"kipvs.session={self.path}", f"kipvs.kdir={kdir}", f"kipvs.version={version}",
            f"kipvs.agent={os.path.join(HERE, 'guest-agent.py')}", f"kipvs.idle={IDLE_POWEROFF}",
        ])
        cmd = [
            "timeout", "-s", "KILL", str(MAX_LIFETIME),
            qemu, "-accel", "tcg", "-m", "1536", "-smp", "2", "-nodefaults", "-no-reboot",
            "-display", "none", "-monitor", "none", "-serial", f"file:{self.file('console.log')}",
            "-kernel", os.path.join(kdir, "root", "boot", f"vmlinuz-{version}"),
            "-initrd", initrd, "-append", append,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={self.path},mount_tag=session,security_model=none,multidevs=remap",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
        ]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(self.file("qemu.stderr"), "w"), start_new_session=True)
        with open(self.file("qemu.pid"), "w") as f:
            f.write(str(proc.pid))
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if os.path.exists(self.file("ready")):
                return
            if proc.poll() is not None:
                with open(self.file("qemu.stderr")) as f:
                    err = f.read()
                raise VmError(f"qemu exited with status {proc.returncode} while booting:\n{err}\n"
                              f"console:\n{self.console_tail()}")
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise GuestStalled(f"the guest did not come up within {BOOT_TIMEOUT:.0f} s; console:\n{self.console_tail()}")

    def ensure_booted(self, program):
        with open(self.file("lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # The guest sees the host's files through an overlay that may keep pages of a file
            # it has already read: a program rebuilt since the boot needs a fresh VM.
            if self.alive() and os.path.exists(program) and \
                    os.path.getmtime(program) > os.path.getmtime(self.file("ready")):
                self.stop()
            if not self.alive():
                pid = self.qemu_pid()
                if pid:
                    os.kill(pid, signal.SIGKILL)
                try:
                    self.boot()
                except GuestStalled as e:
                    # TCG on a busy host can leave a vCPU stuck in a soft lockup while booting:
                    # one fresh boot, then the failure stands.
                    print(f"vm: {e}\nvm: booting once more", file=sys.stderr, flush=True)
                    self.boot()

    def exec(self, argv, timeout, netns, env):
        self.ensure_booted(argv[0])
        rid = uuid.uuid4().hex[:12]
        request = {"argv": argv, "cwd": os.getcwd(), "timeout": timeout, "netns": netns, "env": env}
        tmp = self.file(f"tmp-{rid}")
        with open(tmp, "w") as f:
            json.dump(request, f)
        os.rename(tmp, self.file(f"req-{rid}.json"))
        out_path, rc_path = self.file(f"req-{rid}.out"), self.file(f"req-{rid}.rc")
        deadline = time.monotonic() + timeout + 30
        offset = 0
        while True:
            done = os.path.exists(rc_path)
            offset = self._copy_output(out_path, offset)
            if done:
                with open(rc_path) as f:
                    return int(f.read().strip())
            if not self.qemu_pid():
                raise VmError(f"the VM died while running {argv[0]}; console:\n{self.console_tail()}")
            if time.monotonic() > deadline:
                raise VmError(f"no result for {argv[0]} after {timeout + 30:.0f} s")
            time.sleep(0.05)

    @staticmethod
    def _copy_output(path, offset):
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return offset
        if data:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return offset + len(data)

    def stop(self):
        pid = self.qemu_pid()
        if not pid:
            return
        open(self.file("stop"), "w").close()
        for _ in range(100):
            if not self.qemu_pid():
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["exec", "stop", "run"])
    parser.add_argument("--session", required=True, help="session folder (one per build tree)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the program may run")
    parser.add_argument("--no-netns", action="store_true",
                        help="run in the guest's initial network namespace (with the qemu user network)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the program")
    argv = sys.argv[1:]
    program = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.argv = program
    session = Session(args.session)
    try:
        if args.action == "stop":
            session.stop()
            return 0
        if not args.argv:
            parser.error("a program to run is needed")
        argv = [os.path.abspath(args.argv[0]) if os.path.exists(args.argv[0]) else args.argv[0]] + args.argv[1:]
        env = dict(item.split("=", 1) for item in args.env)
        rc = session.exec(argv, args.timeout, not args.no_netns, env)
        if args.action == "run":
            session.stop()
        return rc
    except VmError as e:
        print(f"vm: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
