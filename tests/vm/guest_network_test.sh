#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test VM's networking: the guest reaches a server on the host's loopback through qemu's
# user network (10.0.2.2), and network namespaces joined by a veth pair work inside the guest.
# Runs on the host; $1 is the VM session folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
session=$1
work=$(mktemp -d /tmp/kipvs-guestnet-XXXXXX)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
marker="hello-from-host-$$-$RANDOM"
echo "$marker" > "$work/marker"
python3 -m http.server --bind 127.0.0.1 0 --directory "$work" > "$work/log" 2>&1 &
server=$!
port=""
for _ in $(seq 100); do
  port=$(ss -ltnpH 2>/dev/null | awk -v pid="pid=$server," '$0 ~ pid {split($4, a, ":"); print a[length(a)]}')
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "FAIL: the host server did not start"; exit 1; }

got=$(python3 "$here/vm.py" exec --session "$session" --no-netns --timeout 60 -- curl -s --max-time 20 "http://10.0.2.2:$port/marker")
[ "$got" = "$marker" ] || { echo "FAIL: the guest read '$got' from the host, wanted '$marker'"; exit 1; }
echo "ok: the guest reached the host's loopback at 10.0.2.2:$port"

# Named namespaces live in the guest's /run/netns for the whole boot: unique names, removed after.
python3 "$here/vm.py" exec --session "$session" --timeout 60 --env "N=$$" -- sh -ec '
  a=ga$N b=gb$N
  trap "ip netns del $a; ip netns del $b" EXIT
  ip netns add $a; ip netns add $b
  ip link add va type veth peer name vb
  ip link set va netns $a; ip link set vb netns $b
  ip -n $a addr add 192.168.77.1/24 dev va; ip -n $a link set va up; ip -n $a link set lo up
  ip -n $b addr add 192.168.77.2/24 dev vb; ip -n $b link set vb up; ip -n $b link set lo up
  ip netns exec $b python3 -m http.server --bind 192.168.77.2 8080 --directory /etc >/dev/null 2>&1 &
  server=$!
  for i in $(seq 50); do ip netns exec $a curl -sf -o /dev/null http://192.168.77.2:8080/hostname && break; sleep 0.1; done
  ip netns exec $a curl -sf -o /dev/null http://192.168.77.2:8080/hostname
  kill $server'
echo "ok: two namespaces joined by veth talk inside the guest"
