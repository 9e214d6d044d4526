#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hardened unit passes `systemd-analyze verify` (pointed at the built binary), and keeps its
# least-privilege settings. Usage: systemd_unit_test.sh KUBE_IPVSD UNIT
set -euo pipefail
binary=$1 unit=$2
work=$(mktemp -d /tmp/kipvs-unit-XXXXXX)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/sbin/kube-ipvsd|$binary|g" "$unit" > "$work/kube-ipvsd.service"
# --man=no: the man page is installed by the package, not on this build machine (the man-page test checks it).
if ! out=$(systemd-analyze verify --man=no "$work/kube-ipvsd.service" 2>&1); then
  echo "FAIL: systemd-analyze verify:"; echo "$out"; exit 1
fi
if [ -n "$out" ]; then
  echo "FAIL: systemd-analyze verify warns:"; echo "$out"; exit 1
fi
for line in 'CapabilityBoundingSet=CAP_NET_ADMIN' 'AmbientCapabilities=CAP_NET_ADMIN' 'NoNewPrivileges=yes' \
            'ProtectSystem=strict' 'RestrictAddressFamilies=AF_NETLINK AF_INET AF_INET6 AF_UNIX' 'Restart=always' 'Type=notify'; do
  grep -qx "$line" "$unit" || { echo "FAIL: the unit lacks '$line'"; exit 1; }
done
echo "ok: systemd-analyze verify passes and the unit keeps CAP_NET_ADMIN only, NoNewPrivileges, ProtectSystem=strict"
