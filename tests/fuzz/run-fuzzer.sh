#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a libFuzzer binary for a bounded time on a scratch copy of its corpus.
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=$3
work=$(mktemp -d /tmp/kipvs-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus" "$work/corpus"
# Any sanitizer report ends the run as a failure, except the one known third-party report.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$(dirname "$0")/ubsan.supp"
export ASAN_OPTIONS="detect_leaks=1"
"$fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -15
