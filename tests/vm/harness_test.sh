#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vm.py without a kernel: one clear line and SKIP (77), or a failure when the VM is required.
# Never a hang. Runs on the host without booting anything.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
empty=$(mktemp -d /tmp/kipvs-nokernel-XXXXXX)
trap 'rm -rf "$empty"' EXIT

out=$(KIPVS_VM_CACHE="$empty" KIPVS_VM_REQUIRED=0 timeout 20 python3 "$here/vm.py" exec --session "$empty/s" -- true 2>&1)
rc=$?
[ $rc -eq 77 ] || { echo "FAIL: without a kernel vm.py exited $rc, wanted 77 (skip)"; echo "$out"; exit 1; }
grep -q "no kernel in $empty" <<<"$out" || { echo "FAIL: unclear message: $out"; exit 1; }
echo "ok: missing kernel -> skip with: $(head -1 <<<"$out")"

out=$(KIPVS_VM_CACHE="$empty" KIPVS_VM_REQUIRED=1 timeout 20 python3 "$here/vm.py" exec --session "$empty/s" -- true 2>&1)
rc=$?
[ $rc -eq 1 ] || { echo "FAIL: with KIPVS_VM_REQUIRED=1 vm.py exited $rc, wanted 1"; exit 1; }
echo "ok: missing kernel with KIPVS_VM_REQUIRED=1 -> failure"

out=$(PATH=/nonexistent KIPVS_VM_REQUIRED=0 /usr/bin/timeout 20 /usr/bin/python3 "$here/vm.py" exec --session "$empty/s" -- true 2>&1)
rc=$?
[ $rc -eq 77 ] && grep -q "qemu-system-x86_64 is missing" <<<"$out" || { echo "FAIL: missing qemu: rc $rc: $out"; exit 1; }
echo "ok: missing qemu -> skip with a clear line"

# A guest that never comes up (a 1 s boot timeout stands in for a TCG soft lockup) is booted
# once more, then the failure stands. Needs the cached kernel and qemu; otherwise not checked.
cache=${KIPVS_VM_CACHE:-/var/cache/kube-ipvsd/vm}
if command -v qemu-system-x86_64 >/dev/null && ls "$cache"/*/root/boot/vmlinuz-* >/dev/null 2>&1; then
  out=$(KIPVS_VM_BOOT_TIMEOUT=1 KIPVS_VM_REQUIRED=1 timeout 60 python3 "$here/vm.py" exec --session "$empty/stall" -- true 2>&1)
  rc=$?
  stalls=$(grep -c "did not come up" <<<"$out")
  [ $rc -eq 1 ] && [ "$stalls" -eq 2 ] && grep -q "booting once more" <<<"$out" ||
    { echo "FAIL: a stalled boot: rc $rc, $stalls stalls: $out"; exit 1; }
  echo "ok: a guest that never comes up is booted once more, then fails"
fi
