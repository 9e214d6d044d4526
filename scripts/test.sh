#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command: installs what is missing, builds with -Werror, runs every suite (the VM suite
# included, on a real kernel under qemu), then the unit and integration suites again under
# AddressSanitizer and UBSan, then each parser's fuzz target for 30 s. Ends with one line
# "N passed, N failed[, N skipped]".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh" || exit 1

# Nothing is skipped here: a missing VM is a failure, not a skip.
export KIPVS_VM_REQUIRED=1

configure() {  # build-dir, meson options...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" --wrap-mode=nodownload "$@" >/dev/null
  fi
}

status=0
configure build/test -Dwerror=true || exit 1
meson compile -C build/test >/dev/null || { meson compile -C build/test; exit 1; }
meson test -C build/test --print-errorlogs --num-processes 2 || status=1
python3 tests/vm/vm.py stop --session "$root/build/test/vm-session"

# GCC 12 reports a false maybe-uninitialized inside libstdc++'s <regex> when sanitizing.
# Unoptimised: instrumented code at -O2 took five times as long to compile (18 of CI's minutes), and
# the sanitizers see at least as much at -O0.
configure build/sanitize -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dvm_tests=false \
  -Doptimization=0 -Dcpp_args=-Wno-maybe-uninitialized || exit 1
# The daemon too: the command-line test runs it, so it is exercised under the sanitizers as well.
sanitized=(tests/unit/unit-tests tests/integration/integration-tests daemon/kube-ipvsd)
meson compile -C build/sanitize "${sanitized[@]}" >/dev/null || { meson compile -C build/sanitize "${sanitized[@]}"; exit 1; }
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1
meson test -C build/sanitize --no-rebuild --print-errorlogs --suite unit --suite integration || status=1

# Every parser of outside input under libFuzzer (the decoder and stream framer, YAML, kubeconfig,
# flag values, netlink replies), each for a bounded time.
if [ ! -f build/fuzz/build.ninja ]; then
  CXX=clang++ meson setup build/fuzz --wrap-mode=nodownload -Dfuzz=true -Dfuzz_seconds=30 >/dev/null || exit 1
fi
meson compile -C build/fuzz >/dev/null || { meson compile -C build/fuzz; exit 1; }
meson test -C build/fuzz --print-errorlogs --suite fuzz || status=1

python3 scripts/test-summary.py build/test/meson-logs/testlog.json build/sanitize/meson-logs/testlog.json \
  build/fuzz/meson-logs/testlog.json || status=1
exit $status
