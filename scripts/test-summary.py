#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Adds up Meson test logs (testlog.json) and prints one line: 'N passed, N failed, N skipped'.

Exits 1 when a test failed or when no test ran at all."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print(f"test-summary: no test log at {path}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        result = json.loads(line)
        name = f"{result.get('suite', [''])[0]} {result['name']}"
        if result["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result["result"] == "SKIP":
            skipped += 1
            print(f"skipped: {name}")
        else:
            failed += 1
            print(f"failed: {name} ({result['result']})")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
