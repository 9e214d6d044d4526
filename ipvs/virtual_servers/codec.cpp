// SPDX-License-Identifier: Apache-2.0
// Encoding of IPVS requests and decoding of replies (see codec.h).
#include "ipvs/virtual_servers/codec.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>

namespace kipvs::ipvs {

namespace {

constexpr size_t align4(size_t n)
{
    return (n + 3) & ~size_t{3};
}

tl::unexpected<Error> malformed(const char* what)
{
    return fail(Error::Domain::Decode, EINVAL, "decode IPVS reply", "", what);
}

// The kernel's address attribute is a 16-byte union nf_inet_addr even for IPv4, which uses the
// first 4 bytes (net/netfilter/ipvs/ip_vs_ctl.c, ip_vs_genl_parse_service).
void putAddress(MessageBuffer& out, uint16_t type, const InetAddress& address)
{
    uint8_t raw[16] = {};
    std::memcpy(raw, address.data(), address.size());
    out.putBytes(type, raw, sizeof raw);
}

InetAddress readAddress(const nlattr* attr, int family)
{
    std::array<uint8_t, 16> raw{};
    std::memcpy(raw.data(), nla_data(attr), std::min<size_t>(nla_len(attr), raw.size()));
    if (family == AF_INET)
        return InetAddress::v4({raw[0], raw[1], raw[2], raw[3]});
    return InetAddress::v6(raw);
}

// The service part every service and destination command carries to name the service.
void putVirtualServerKey(MessageBuffer& out, const VirtualServerKey& key)
{
    out.putU16(IPVS_SVC_ATTR_AF, static_cast<uint16_t>(key.family));
    if (key.isFwmark()) {
        out.putU32(IPVS_SVC_ATTR_FWMARK, key.fwmark);
        return;
    }
    out.putU16(IPVS_SVC_ATTR_PROTOCOL, static_cast<uint16_t>(key.protocol));
    putAddress(out, IPVS_SVC_ATTR_ADDR, key.address);
    // Ports travel in network byte order inside a u16 attribute.
    out.putU16(IPVS_SVC_ATTR_PORT, htons(key.port));
}

// Which attributes an object carries: only what identifies it (deletes, and the parent of a
// real-server request), or every setting (adds and edits).
enum class Attributes { Identity, Settings };

void putVirtualServer(MessageBuffer& out, const VirtualServer& service, Attributes attributes)
{
    size_t nest = out.beginNested(IPVS_CMD_ATTR_SERVICE);
    putVirtualServerKey(out, service.key);
    if (attributes == Attributes::Settings) {
        out.putString(IPVS_SVC_ATTR_SCHED_NAME, service.scheduler);
        // Flags travel as {flags, mask}: the kernel keeps the bits outside the mask. Our mask
        // covers every user flag, so a write states the whole set (kHashed is the kernel's).
        ip_vs_flags flags{service.flags & flag::kUserMask, flag::kUserMask};
        out.putBytes(IPVS_SVC_ATTR_FLAGS, &flags, sizeof flags);
        out.putU32(IPVS_SVC_ATTR_TIMEOUT, service.timeout);
        out.putU32(IPVS_SVC_ATTR_NETMASK, service.effectiveNetmask());
    }
    out.endNested(nest);
}

void putRealServer(MessageBuffer& out, const RealServer& server, Attributes attributes)
{
    size_t nest = out.beginNested(IPVS_CMD_ATTR_DEST);
    putAddress(out, IPVS_DEST_ATTR_ADDR, server.address);
    out.putU16(IPVS_DEST_ATTR_PORT, htons(server.port));
    // Always name the destination's family: without it the kernel assumes the service's, which
    // is wrong for an IPv4 tunnel destination behind an IPv6 service.
    out.putU16(IPVS_DEST_ATTR_ADDR_FAMILY, static_cast<uint16_t>(server.address.family()));
    if (attributes == Attributes::Settings) {
        out.putU32(IPVS_DEST_ATTR_FWD_METHOD, static_cast<uint32_t>(server.forward) & IP_VS_CONN_F_FWD_MASK);
        out.putU32(IPVS_DEST_ATTR_WEIGHT, server.weight);
        out.putU32(IPVS_DEST_ATTR_U_THRESH, server.upperThreshold);
        out.putU32(IPVS_DEST_ATTR_L_THRESH, server.lowerThreshold);
    }
    out.endNested(nest);
}

uint8_t commandOf(Operation::Kind kind)
{
    switch (kind) {
    case Operation::Kind::AddVirtualServer:
        return IPVS_CMD_NEW_SERVICE;
    case Operation::Kind::EditVirtualServer:
        return IPVS_CMD_SET_SERVICE;
    case Operation::Kind::DeleteVirtualServer:
        return IPVS_CMD_DEL_SERVICE;
    case Operation::Kind::AddRealServer:
        return IPVS_CMD_NEW_DEST;
    case Operation::Kind::EditRealServer:
        return IPVS_CMD_SET_DEST;
    case Operation::Kind::DeleteRealServer:
        return IPVS_CMD_DEL_DEST;
    case Operation::Kind::ZeroCounters:
        return IPVS_CMD_ZERO;
    case Operation::Kind::Flush:
        return IPVS_CMD_FLUSH;
    case Operation::Kind::SetTimeouts:
        return IPVS_CMD_SET_CONFIG;
    }
    return IPVS_CMD_UNSPEC;
}

Result<Stats> decodeStats(const nlattr* nested, bool is64)
{
    nla_policy policy[IPVS_STATS_ATTR_MAX + 1] = {};
    for (int i = IPVS_STATS_ATTR_CONNS; i <= IPVS_STATS_ATTR_OUTBPS; ++i)
        policy[i].type = is64 ? NLA_U64 : NLA_U32;
    nlattr* tb[IPVS_STATS_ATTR_MAX + 1] = {};
    if (nla_parse_nested(tb, IPVS_STATS_ATTR_MAX, const_cast<nlattr*>(nested), policy) < 0)
        return malformed("malformed stats");
    auto get = [&](int type) -> uint64_t {
        if (!tb[type])
            return 0;
        return is64 ? nla_get_u64(tb[type]) : nla_get_u32(tb[type]);
    };
    return Stats{get(IPVS_STATS_ATTR_CONNS), get(IPVS_STATS_ATTR_INPKTS), get(IPVS_STATS_ATTR_OUTPKTS),
                 get(IPVS_STATS_ATTR_INBYTES), get(IPVS_STATS_ATTR_OUTBYTES)};
}

Result<Stats> decodeEitherStats(nlattr* stats64, nlattr* stats32)
{
    if (stats64)
        return decodeStats(stats64, true);
    if (stats32)
        return decodeStats(stats32, false);
    return Stats{};
}

// Parses the generic-netlink payload of a reply into its top-level attributes.
Result<void> parseTop(const nlmsghdr* message, nlattr** tb)
{
    static nla_policy policy[IPVS_CMD_ATTR_MAX + 1] = {};
    policy[IPVS_CMD_ATTR_SERVICE].type = NLA_NESTED;
    policy[IPVS_CMD_ATTR_DEST].type = NLA_NESTED;
    policy[IPVS_CMD_ATTR_TIMEOUT_TCP].type = NLA_U32;
    policy[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN].type = NLA_U32;
    policy[IPVS_CMD_ATTR_TIMEOUT_UDP].type = NLA_U32;
    if (message->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
        return malformed("message shorter than its headers");
    if (genlmsg_parse(const_cast<nlmsghdr*>(message), 0, tb, IPVS_CMD_ATTR_MAX, policy) < 0)
        return malformed("malformed attributes");
    return {};
}

// The kernel's own words for a refused request, when it attached them (extended ack).
std::string extendedAckMessage(const nlmsghdr* nlh)
{
    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
        return {};
    // With NETLINK_CAP_ACK the echoed request is only its header, so the TLVs follow nlmsgerr.
    size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (nlh->nlmsg_len <= offset)
        return {};
    auto* head = reinterpret_cast<nlattr*>(reinterpret_cast<uint8_t*>(const_cast<nlmsghdr*>(nlh)) + offset);
    nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
    nla_policy policy[NLMSGERR_ATTR_MAX + 1] = {};
    policy[NLMSGERR_ATTR_MSG].type = NLA_STRING;
    if (nla_parse(tb, NLMSGERR_ATTR_MAX, head, static_cast<int>(nlh->nlmsg_len - offset), policy) < 0 ||
        !tb[NLMSGERR_ATTR_MSG])
        return {};
    return nla_get_string(tb[NLMSGERR_ATTR_MSG]);
}

}  // namespace

size_t MessageBuffer::begin(uint16_t familyId, uint16_t flags, uint32_t seq, uint8_t command)
{
    size_t offset = bytes_.size();
    bytes_.resize(offset + NLMSG_HDRLEN + GENL_HDRLEN);
    auto* nlh = header(offset);
    nlh->nlmsg_len = 0;
    nlh->nlmsg_type = familyId;
    nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    nlh->nlmsg_seq = seq;
    nlh->nlmsg_pid = 0;
    auto* genl = reinterpret_cast<genlmsghdr*>(bytes_.data() + offset + NLMSG_HDRLEN);
    genl->cmd = command;
    genl->version = IPVS_GENL_VERSION;
    genl->reserved = 0;
    return offset;
}

void MessageBuffer::putAttribute(uint16_t type, const void* data, size_t size)
{
    size_t offset = bytes_.size();
    bytes_.resize(offset + align4(NLA_HDRLEN + size), 0);
    auto* attr = reinterpret_cast<::nlattr*>(bytes_.data() + offset);
    attr->nla_len = static_cast<uint16_t>(NLA_HDRLEN + size);
    attr->nla_type = type;
    if (size)
        std::memcpy(bytes_.data() + offset + NLA_HDRLEN, data, size);
}

void MessageBuffer::putU16(uint16_t type, uint16_t value)
{
    putAttribute(type, &value, sizeof value);
}
void MessageBuffer::putU32(uint16_t type, uint32_t value)
{
    putAttribute(type, &value, sizeof value);
}
void MessageBuffer::putBytes(uint16_t type, const void* data, size_t size)
{
    putAttribute(type, data, size);
}
void MessageBuffer::putString(uint16_t type, const std::string& value)
{
    putAttribute(type, value.c_str(), value.size() + 1);
}

size_t MessageBuffer::beginNested(uint16_t type)
{
    size_t offset = bytes_.size();
    putAttribute(static_cast<uint16_t>(type | NLA_F_NESTED), nullptr, 0);
    return offset;
}

void MessageBuffer::endNested(size_t offset)
{
    reinterpret_cast<::nlattr*>(bytes_.data() + offset)->nla_len = static_cast<uint16_t>(bytes_.size() - offset);
}

void MessageBuffer::end(size_t offset)
{
    header(offset)->nlmsg_len = static_cast<uint32_t>(bytes_.size() - offset);
}

void encodeOperation(MessageBuffer& out, uint16_t familyId, uint32_t seq, uint16_t flags, const Operation& op)
{
    size_t message = out.begin(familyId, flags, seq, commandOf(op.kind));
    switch (op.kind) {
    case Operation::Kind::AddVirtualServer:
    case Operation::Kind::EditVirtualServer:
        putVirtualServer(out, op.virtualServer, Attributes::Settings);
        break;
    case Operation::Kind::DeleteVirtualServer:
        putVirtualServer(out, op.virtualServer, Attributes::Identity);
        break;
    case Operation::Kind::AddRealServer:
    case Operation::Kind::EditRealServer:
        putVirtualServer(out, op.virtualServer, Attributes::Identity);
        putRealServer(out, op.realServer, Attributes::Settings);
        break;
    case Operation::Kind::DeleteRealServer:
        putVirtualServer(out, op.virtualServer, Attributes::Identity);
        putRealServer(out, op.realServer, Attributes::Identity);
        break;
    case Operation::Kind::ZeroCounters:
        if (!op.all)
            putVirtualServer(out, op.virtualServer, Attributes::Identity);
        break;
    case Operation::Kind::Flush:
        break;
    case Operation::Kind::SetTimeouts:
        out.putU32(IPVS_CMD_ATTR_TIMEOUT_TCP, op.timeouts.tcp);
        out.putU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, op.timeouts.tcpFin);
        out.putU32(IPVS_CMD_ATTR_TIMEOUT_UDP, op.timeouts.udp);
        break;
    }
    out.end(message);
}

void encodeGetVirtualServers(MessageBuffer& out, uint16_t familyId, uint32_t seq)
{
    out.end(out.begin(familyId, NLM_F_DUMP, seq, IPVS_CMD_GET_SERVICE));
}

void encodeGetVirtualServer(MessageBuffer& out, uint16_t familyId, uint32_t seq, const VirtualServerKey& key)
{
    size_t message = out.begin(familyId, 0, seq, IPVS_CMD_GET_SERVICE);
    putVirtualServer(out, VirtualServer::named(key), Attributes::Identity);
    out.end(message);
}

void encodeGetRealServers(MessageBuffer& out, uint16_t familyId, uint32_t seq, const VirtualServerKey& key)
{
    size_t message = out.begin(familyId, NLM_F_DUMP, seq, IPVS_CMD_GET_DEST);
    putVirtualServer(out, VirtualServer::named(key), Attributes::Identity);
    out.end(message);
}

void encodeGetInfo(MessageBuffer& out, uint16_t familyId, uint32_t seq)
{
    out.end(out.begin(familyId, 0, seq, IPVS_CMD_GET_INFO));
}

void encodeGetTimeouts(MessageBuffer& out, uint16_t familyId, uint32_t seq)
{
    out.end(out.begin(familyId, 0, seq, IPVS_CMD_GET_CONFIG));
}

Result<VirtualServer> decodeVirtualServerMessage(const nlmsghdr* message)
{
    nlattr* top[IPVS_CMD_ATTR_MAX + 1] = {};
    KIPVS_TRY(parseTop(message, top));
    if (!top[IPVS_CMD_ATTR_SERVICE])
        return malformed("no virtual server attribute");

    static nla_policy policy[IPVS_SVC_ATTR_MAX + 1] = {};
    policy[IPVS_SVC_ATTR_AF].type = NLA_U16;
    policy[IPVS_SVC_ATTR_PROTOCOL].type = NLA_U16;
    policy[IPVS_SVC_ATTR_ADDR].minlen = 4;
    policy[IPVS_SVC_ATTR_PORT].type = NLA_U16;
    policy[IPVS_SVC_ATTR_FWMARK].type = NLA_U32;
    policy[IPVS_SVC_ATTR_SCHED_NAME].type = NLA_STRING;
    policy[IPVS_SVC_ATTR_FLAGS].minlen = sizeof(ip_vs_flags);
    policy[IPVS_SVC_ATTR_TIMEOUT].type = NLA_U32;
    policy[IPVS_SVC_ATTR_NETMASK].type = NLA_U32;
    policy[IPVS_SVC_ATTR_STATS].type = NLA_NESTED;
    policy[IPVS_SVC_ATTR_STATS64].type = NLA_NESTED;
    nlattr* tb[IPVS_SVC_ATTR_MAX + 1] = {};
    if (nla_parse_nested(tb, IPVS_SVC_ATTR_MAX, top[IPVS_CMD_ATTR_SERVICE], policy) < 0)
        return malformed("malformed virtual server attributes");
    if (!tb[IPVS_SVC_ATTR_AF] || !tb[IPVS_SVC_ATTR_SCHED_NAME] || !tb[IPVS_SVC_ATTR_FLAGS] ||
        !tb[IPVS_SVC_ATTR_TIMEOUT] || !tb[IPVS_SVC_ATTR_NETMASK])
        return malformed("virtual server lacks a required attribute");

    VirtualServer out;
    out.key.family = nla_get_u16(tb[IPVS_SVC_ATTR_AF]);
    if (out.key.family != AF_INET && out.key.family != AF_INET6)
        return malformed("virtual server has an unknown address family");
    if (tb[IPVS_SVC_ATTR_FWMARK]) {
        out.key.fwmark = nla_get_u32(tb[IPVS_SVC_ATTR_FWMARK]);
    } else {
        if (!tb[IPVS_SVC_ATTR_PROTOCOL] || !tb[IPVS_SVC_ATTR_ADDR] || !tb[IPVS_SVC_ATTR_PORT])
            return malformed("virtual server lacks its address");
        const uint16_t protocol = nla_get_u16(tb[IPVS_SVC_ATTR_PROTOCOL]);
        if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP && protocol != IPPROTO_SCTP)
            return malformed("virtual server has an unknown protocol");
        out.key.protocol = static_cast<Protocol>(protocol);
        out.key.address = readAddress(tb[IPVS_SVC_ATTR_ADDR], out.key.family);
        out.key.port = ntohs(nla_get_u16(tb[IPVS_SVC_ATTR_PORT]));
    }
    out.scheduler = nla_get_string(tb[IPVS_SVC_ATTR_SCHED_NAME]);
    ip_vs_flags flags{};
    std::memcpy(&flags, nla_data(tb[IPVS_SVC_ATTR_FLAGS]), sizeof flags);
    out.flags = flags.flags;
    out.timeout = nla_get_u32(tb[IPVS_SVC_ATTR_TIMEOUT]);
    out.netmask = nla_get_u32(tb[IPVS_SVC_ATTR_NETMASK]);
    KIPVS_TRY(decodeEitherStats(tb[IPVS_SVC_ATTR_STATS64], tb[IPVS_SVC_ATTR_STATS]));
    return out;
}

Result<RealServer> decodeRealServerMessage(const nlmsghdr* message, int serviceFamily)
{
    nlattr* top[IPVS_CMD_ATTR_MAX + 1] = {};
    KIPVS_TRY(parseTop(message, top));
    if (!top[IPVS_CMD_ATTR_DEST])
        return malformed("no destination attribute");

    static nla_policy policy[IPVS_DEST_ATTR_MAX + 1] = {};
    policy[IPVS_DEST_ATTR_ADDR].minlen = 4;
    policy[IPVS_DEST_ATTR_PORT].type = NLA_U16;
    policy[IPVS_DEST_ATTR_FWD_METHOD].type = NLA_U32;
    policy[IPVS_DEST_ATTR_WEIGHT].type = NLA_U32;
    policy[IPVS_DEST_ATTR_U_THRESH].type = NLA_U32;
    policy[IPVS_DEST_ATTR_L_THRESH].type = NLA_U32;
    policy[IPVS_DEST_ATTR_ACTIVE_CONNS].type = NLA_U32;
    policy[IPVS_DEST_ATTR_INACT_CONNS].type = NLA_U32;
    policy[IPVS_DEST_ATTR_PERSIST_CONNS].type = NLA_U32;
    policy[IPVS_DEST_ATTR_STATS].type = NLA_NESTED;
    policy[IPVS_DEST_ATTR_STATS64].type = NLA_NESTED;
    policy[IPVS_DEST_ATTR_ADDR_FAMILY].type = NLA_U16;
    nlattr* tb[IPVS_DEST_ATTR_MAX + 1] = {};
    if (nla_parse_nested(tb, IPVS_DEST_ATTR_MAX, top[IPVS_CMD_ATTR_DEST], policy) < 0)
        return malformed("malformed destination attributes");
    for (int required : {IPVS_DEST_ATTR_ADDR, IPVS_DEST_ATTR_PORT, IPVS_DEST_ATTR_FWD_METHOD, IPVS_DEST_ATTR_WEIGHT,
                         IPVS_DEST_ATTR_U_THRESH, IPVS_DEST_ATTR_L_THRESH})
        if (!tb[required])
            return malformed("destination lacks a required attribute");

    // Kernels before 4.1 do not report the destination's family: it is then the service's.
    int family = tb[IPVS_DEST_ATTR_ADDR_FAMILY] ? nla_get_u16(tb[IPVS_DEST_ATTR_ADDR_FAMILY]) : serviceFamily;
    if (family != AF_INET && family != AF_INET6)
        return malformed("destination has an unknown address family");
    RealServer out;
    out.address = readAddress(tb[IPVS_DEST_ATTR_ADDR], family);
    out.port = ntohs(nla_get_u16(tb[IPVS_DEST_ATTR_PORT]));
    out.forward = static_cast<ForwardMethod>(nla_get_u32(tb[IPVS_DEST_ATTR_FWD_METHOD]) & IP_VS_CONN_F_FWD_MASK);
    out.weight = nla_get_u32(tb[IPVS_DEST_ATTR_WEIGHT]);
    out.upperThreshold = nla_get_u32(tb[IPVS_DEST_ATTR_U_THRESH]);
    out.lowerThreshold = nla_get_u32(tb[IPVS_DEST_ATTR_L_THRESH]);
    uint64_t connections = 0;
    for (const int attribute : {IPVS_DEST_ATTR_ACTIVE_CONNS, IPVS_DEST_ATTR_INACT_CONNS})
        if (tb[attribute])
            connections += nla_get_u32(tb[attribute]);
    out.connections = static_cast<uint32_t>(std::min<uint64_t>(connections, UINT32_MAX));
    // A real server's traffic counters are checked, not kept: the daemon decides on connection
    // counts, and 40 bytes on each of 100,000s of real servers add up.
    KIPVS_TRY(decodeEitherStats(tb[IPVS_DEST_ATTR_STATS64], tb[IPVS_DEST_ATTR_STATS]));
    return out;
}

Result<Info> decodeInfoMessage(const nlmsghdr* message)
{
    if (message->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
        return malformed("message shorter than its headers");
    static nla_policy policy[IPVS_INFO_ATTR_MAX + 1] = {};
    policy[IPVS_INFO_ATTR_VERSION].type = NLA_U32;
    policy[IPVS_INFO_ATTR_CONN_TAB_SIZE].type = NLA_U32;
    nlattr* tb[IPVS_INFO_ATTR_MAX + 1] = {};
    if (genlmsg_parse(const_cast<nlmsghdr*>(message), 0, tb, IPVS_INFO_ATTR_MAX, policy) < 0)
        return malformed("malformed info attributes");
    if (!tb[IPVS_INFO_ATTR_VERSION] || !tb[IPVS_INFO_ATTR_CONN_TAB_SIZE])
        return malformed("info lacks a required attribute");
    return Info{nla_get_u32(tb[IPVS_INFO_ATTR_VERSION]), nla_get_u32(tb[IPVS_INFO_ATTR_CONN_TAB_SIZE])};
}

Result<Timeouts> decodeTimeoutsMessage(const nlmsghdr* message)
{
    nlattr* top[IPVS_CMD_ATTR_MAX + 1] = {};
    KIPVS_TRY(parseTop(message, top));
    if (!top[IPVS_CMD_ATTR_TIMEOUT_TCP] || !top[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN] || !top[IPVS_CMD_ATTR_TIMEOUT_UDP])
        return malformed("config lacks a timeout");
    return Timeouts{nla_get_u32(top[IPVS_CMD_ATTR_TIMEOUT_TCP]), nla_get_u32(top[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]),
                    nla_get_u32(top[IPVS_CMD_ATTR_TIMEOUT_UDP])};
}

Result<Acknowledgement> decodeAcknowledgement(const nlmsghdr* message)
{
    if (message->nlmsg_type != NLMSG_ERROR || message->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr))
        return fail(Error::Domain::Decode, EBADMSG, "decode acknowledgement", "", "not an error message");
    // The kernel sends 0 or a negated errno; anything else is not a reply it wrote.
    const int error = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(message))->error;
    if (error > 0 || error < -4095)
        return fail(Error::Domain::Decode, EBADMSG, "decode acknowledgement", "",
                    "error code " + std::to_string(error) + " is not an errno");
    return Acknowledgement{-error, extendedAckMessage(message)};
}

}  // namespace kipvs::ipvs
