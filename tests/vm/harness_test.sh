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
