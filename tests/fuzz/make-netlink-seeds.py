#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the netlink fuzz target's seed corpus (corpus-netlink/): replies as the kernel sends
them, built from the UAPI layouts (linux/netlink.h, genetlink.h, ip_vs.h, rtnetlink.h), plus a
few broken ones. Run once after changing it; the files are committed.

Usage: make-netlink-seeds.py OUTDIR
"""
import os
import socket
import struct
import sys

IPVS_FAMILY = 0x20  # any generic-netlink family id: the decoders do not check it
NLMSG_ERROR, RTM_NEWLINK, RTM_NEWADDR = 2, 16, 20
NLM_F_MULTI, NLM_F_ACK_TLVS = 0x2, 0x200
NLA_F_NESTED = 0x8000


def attr(kind, payload):
    data = struct.pack("=HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def nested(kind, *attrs):
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def message(kind, body, flags=0, seq=1):
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body + b"\0" * (-len(body) % 4)


def genl(command, *attrs, flags=NLM_F_MULTI):
    return message(IPVS_FAMILY, struct.pack("=BBH", command, 1, 0) + b"".join(attrs), flags)


def u16(kind, value):
    return attr(kind, struct.pack("=H", value))


def u32(kind, value):
    return attr(kind, struct.pack("=I", value))


def addr16(text):
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return socket.inet_pton(family, text).ljust(16, b"\0")


def stats(kind):
    return nested(kind, *(u32(i, 7 * i) for i in range(1, 10)))


def service(address, port, family=socket.AF_INET):
    return nested(1, u16(1, family), u16(2, socket.IPPROTO_TCP), attr(3, addr16(address)),
                  attr(4, struct.pack("!H", port)), attr(6, b"rr\0"), attr(7, struct.pack("=II", 0, 0xffffffff)),
                  u32(8, 0), u32(9, 0xffffffff), stats(10))


def dest(address, port, family=socket.AF_INET):
    return nested(2, attr(1, addr16(address)), attr(2, struct.pack("!H", port)), u32(3, 0), u32(4, 1), u32(5, 0),
                  u32(6, 0), u32(7, 3), u32(8, 1), u32(9, 0), stats(10), u16(11, family))


def ack(error, text=None):
    echoed = struct.pack("=IHHII", 16, IPVS_FAMILY, 5, 1, 0)
    body = struct.pack("=i", error) + echoed + (attr(1, text.encode() + b"\0") if text else b"")
    return message(NLMSG_ERROR, body, NLM_F_ACK_TLVS if text else 0)


def newaddr(index, address, prefix):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    raw = socket.inet_pton(family, address)
    return message(RTM_NEWADDR, struct.pack("=BBBBI", family, prefix, 0, 0, index) + attr(1, raw) + attr(2, raw) +
                   attr(3, b"eth0\0"), NLM_F_MULTI)


def newlink(index, name):
    return message(RTM_NEWLINK, struct.pack("=BBHiII", 0, 0, 1, index, 0x1043, 0) + attr(3, name.encode() + b"\0"),
                   NLM_F_MULTI)


SEEDS = {
    "virtual-server-dump": genl(1, service("10.96.0.1", 443)) + genl(1, service("fd00::1", 53, socket.AF_INET6)) +
    message(3, b"\0" * 4, NLM_F_MULTI),
    "real-server-dump": genl(5, dest("10.244.1.5", 8443)) + genl(5, dest("fd00:10::5", 53, socket.AF_INET6)),
    "info-and-timeouts": genl(15, u32(1, 0x010201), u32(2, 4096), flags=0) +
    genl(13, u32(4, 900), u32(5, 120), u32(6, 300), flags=0),
    "acknowledgements": ack(0) + ack(-17) + ack(-3, "No such service"),
    "address-dump": newaddr(1, "127.0.0.1", 8) + newaddr(2, "10.0.2.15", 24) + newaddr(3, "10.96.0.10", 32) +
    newaddr(2, "fe80::1", 64) + newaddr(2, "2001:db8::15", 64),
    "link-dump": newlink(1, "lo") + newlink(2, "eth0") + newlink(3, "kube-ipvs0"),
    # Broken: an error message cut before its code, an attribute longer than its message, and a
    # nested attribute whose length runs past its parent.
    "truncated-error": struct.pack("=IHHII", 18, NLMSG_ERROR, 0, 1, 0) + b"\xff\xff",
    "attribute-overrun": genl(1, struct.pack("=HH", 200, 1 | NLA_F_NESTED) + b"\0" * 8),
    "nested-overrun": genl(1, nested(1, struct.pack("=HH", 64, 3) + b"\x0a\x60\0\x01")),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
