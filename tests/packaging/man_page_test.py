#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The man page documents exactly the options `kube-ipvsd --help` lists, and renders cleanly.
Usage: man_page_test.py KUBE_IPVSD MAN_PAGE"""
import re
import subprocess
import sys

binary, page = sys.argv[1:3]
help_flags = set(re.findall(r"(--[a-z0-9-]+)", subprocess.run([binary, "--help"], stdout=subprocess.PIPE, text=True).stdout))
text = open(page).read()
documented = set(m.replace("\\-", "-") for m in re.findall(r"^\.BR? (\\-\\-[a-z0-9\\-]+)", text, re.M))
documented |= set(m.replace("\\-", "-") for m in re.findall(r'^\.BR \\-[a-z] ", " (\\-\\-[a-z0-9\\-]+)', text, re.M))
ok = True
if help_flags - documented:
    print(f"FAIL: in --help but not in the man page: {sorted(help_flags - documented)}")
    ok = False
if documented - help_flags:
    print(f"FAIL: in the man page but not in --help: {sorted(documented - help_flags)}")
    ok = False
render = subprocess.run(["man", "--warnings", "-l", page], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"})
if render.returncode != 0 or render.stderr.strip():
    print(f"FAIL: man reports: {render.stderr}")
    ok = False
if ok:
    print(f"ok: the man page documents the {len(help_flags)} options of --help, and renders without warnings")
sys.exit(0 if ok else 1)
