#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Small network programs for the traffic tests, run inside namespaces of the test VM.

  serve NAME               TCP :8080 and UDP :5353; every line or datagram is answered with
                           "NAME PEER-ADDRESS" (so a test sees who answered and whom it saw)
  get HOST PORT            one TCP request; prints the answer, or "ERROR <reason>"
  hold HOST PORT           one long-lived TCP connection: each stdin line is sent, the answer printed
  udp HOST PORT N GAP      N datagrams from one socket, GAP seconds apart; prints each answer or "-"
"""
import select
import socket
import sys
import threading
import time


def peer_text(peer):
    """The peer's address as it was sent: IPv4 peers of a dual-stack socket arrive mapped."""
    return peer[0][7:] if peer[0].startswith("::ffff:") else peer[0]


def serve(name):
    # Dual-stack sockets: IPv4 and IPv6 clients on the same ports.
    tcp = socket.create_server(("::", 8080), family=socket.AF_INET6, dualstack_ipv6=True, backlog=64)
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    udp.bind(("::", 5353))

    def answer_tcp(conn, peer):
        with conn:
            for line in conn.makefile("rb"):
                conn.sendall(f"{name} {peer_text(peer)}\n".encode())
                if not line.strip():
                    break

    def answer_udp():
        while True:
            _, peer = udp.recvfrom(2048)
            udp.sendto(f"{name} {peer_text(peer)}\n".encode(), peer)

    threading.Thread(target=answer_udp, daemon=True).start()
    while True:
        conn, peer = tcp.accept()
        threading.Thread(target=answer_tcp, args=(conn, peer), daemon=True).start()


def get(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=3) as s:
            s.sendall(b"hello\n")
            print(s.makefile().readline().strip() or "ERROR empty")
    except OSError as e:
        print(f"ERROR {type(e).__name__}")


def hold(host, port):
    s = socket.create_connection((host, int(port)), timeout=5)
    reader = s.makefile()
    for line in sys.stdin:
        try:
            s.sendall(line.encode())
            print(reader.readline().strip() or "ERROR closed", flush=True)
        except OSError as e:
            print(f"ERROR {type(e).__name__}", flush=True)


def udp(host, port, count, gap):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(int(count)):
        s.sendto(b"hello\n", (host, int(port)))
        ready, _, _ = select.select([s], [], [], float(gap))
        if ready:
            print(s.recv(2048).decode().strip(), flush=True)
            time.sleep(max(0.0, float(gap) - 0.01))
        else:
            print("-", flush=True)


if __name__ == "__main__":
    {"serve": serve, "get": get, "hold": hold, "udp": udp}[sys.argv[1]](*sys.argv[2:])
