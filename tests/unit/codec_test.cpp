// SPDX-License-Identifier: Apache-2.0
// The IPVS wire format: round trips and every ABI trap, without a kernel.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <vector>

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include "ipvs/virtual_servers/codec.h"

using namespace kipvs;
using namespace kipvs::ipvs;

namespace {

constexpr uint16_t kFamily = 0x1d;

VirtualServerKey tcp(const char* address, uint16_t port)
{
    auto parsed = InetAddress::parse(address);
    REQUIRE(parsed);
    return VirtualServerKey{parsed->family(), Protocol::Tcp, *parsed, port, 0};
}

RealServer real(const char* address, uint16_t port, uint32_t weight = 1)
{
    RealServer r;
    r.address = *InetAddress::parse(address);
    r.port = port;
    r.weight = weight;
    return r;
}

// The nested attribute `outer` of the only message in `buffer`, parsed to its members.
struct Parsed {
    nlattr* top[IPVS_CMD_ATTR_MAX + 1] = {};
    nlattr* inner[IPVS_SVC_ATTR_MAX + IPVS_DEST_ATTR_MAX + 1] = {};
};

void parseNested(MessageBuffer& buffer, int outer, int max, Parsed& out)
{
    auto* nlh = buffer.header(0);
    REQUIRE(genlmsg_parse(nlh, 0, out.top, IPVS_CMD_ATTR_MAX, nullptr) == 0);
    REQUIRE(out.top[outer]);
    REQUIRE(nla_parse_nested(out.inner, max, out.top[outer], nullptr) == 0);
}

}  // namespace

TEST_CASE("A virtual server survives encode then decode, for every kind", "[unit]")
{
    VirtualServer v4;
    v4.key = tcp("10.96.0.10", 53);
    v4.scheduler = "mh";
    v4.flags = flag::kMhPort | flag::kMhFallback;

    VirtualServer v6;
    v6.key = tcp("fd00::10", 443);
    v6.key.protocol = Protocol::Udp;
    v6.flags = flag::kPersistent;
    v6.timeout = 10800;

    VirtualServer sctp;
    sctp.key = tcp("192.0.2.1", 9);
    sctp.key.protocol = Protocol::Sctp;
    sctp.scheduler = "sh";
    sctp.flags = flag::kShPort | flag::kShFallback;

    VirtualServer fwmark;
    fwmark.key.family = AF_INET6;
    fwmark.key.fwmark = 42;
    fwmark.scheduler = "wlc";
    fwmark.flags = flag::kPersistent;
    fwmark.timeout = 60;
    fwmark.netmask = 64;

    VirtualServer onePacket;
    onePacket.key = tcp("10.0.0.1", 53);
    onePacket.key.protocol = Protocol::Udp;
    onePacket.flags = flag::kOnePacket;

    for (const auto& service : {v4, v6, sctp, fwmark, onePacket}) {
        INFO(service.key.toString());
        MessageBuffer buffer;
        encodeOperation(buffer, kFamily, 7, 0, Operation::addVirtualServer(service));
        auto decoded = decodeVirtualServerMessage(buffer.header(0));
        REQUIRE(decoded);
        CHECK(decoded->sameSettings(service));
        CHECK(decoded->key == service.key);
        CHECK(decoded->scheduler == service.scheduler);
        CHECK(decoded->flags == service.flags);
    }
}

TEST_CASE("The message header names the family, command, sequence and flags", "[unit]")
{
    MessageBuffer buffer;
    VirtualServer s;
    s.key = tcp("10.0.0.1", 80);
    encodeOperation(buffer, kFamily, 99, NLM_F_ACK, Operation::editVirtualServer(s));
    const nlmsghdr* nlh = buffer.header(0);
    CHECK(nlh->nlmsg_type == kFamily);
    CHECK(nlh->nlmsg_seq == 99u);
    CHECK(nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
    CHECK(nlh->nlmsg_len == buffer.size());
    auto* genl = static_cast<const genlmsghdr*>(NLMSG_DATA(nlh));
    CHECK(genl->cmd == IPVS_CMD_SET_SERVICE);
    CHECK(genl->version == IPVS_GENL_VERSION);
}

TEST_CASE("Ports travel big-endian and IPv4 addresses as 16 bytes", "[unit]")
{
    MessageBuffer buffer;
    VirtualServer s;
    s.key = tcp("10.96.0.10", 0x1234);
    encodeOperation(buffer, kFamily, 1, 0, Operation::addVirtualServer(s));
    Parsed p;
    parseNested(buffer, IPVS_CMD_ATTR_SERVICE, IPVS_SVC_ATTR_MAX, p);
    auto* port = static_cast<const uint8_t*>(nla_data(p.inner[IPVS_SVC_ATTR_PORT]));
    CHECK(nla_len(p.inner[IPVS_SVC_ATTR_PORT]) == 2);
    CHECK(port[0] == 0x12);
    CHECK(port[1] == 0x34);
    REQUIRE(nla_len(p.inner[IPVS_SVC_ATTR_ADDR]) == 16);
    const uint8_t expected[16] = {10, 96, 0, 10};
    CHECK(std::memcmp(nla_data(p.inner[IPVS_SVC_ATTR_ADDR]), expected, 16) == 0);
    CHECK(nla_get_u16(p.inner[IPVS_SVC_ATTR_AF]) == AF_INET);
    CHECK(nla_get_u32(p.inner[IPVS_SVC_ATTR_NETMASK]) == 0xffffffffu);
}

TEST_CASE("Flags travel with a mask and never set the kernel's hashed bit", "[unit]")
{
    MessageBuffer buffer;
    VirtualServer s;
    s.key = tcp("10.0.0.1", 80);
    s.flags = flag::kPersistent | flag::kHashed;
    encodeOperation(buffer, kFamily, 1, 0, Operation::editVirtualServer(s));
    Parsed p;
    parseNested(buffer, IPVS_CMD_ATTR_SERVICE, IPVS_SVC_ATTR_MAX, p);
    REQUIRE(nla_len(p.inner[IPVS_SVC_ATTR_FLAGS]) == sizeof(ip_vs_flags));
    ip_vs_flags flags;
    std::memcpy(&flags, nla_data(p.inner[IPVS_SVC_ATTR_FLAGS]), sizeof flags);
    CHECK(flags.flags == flag::kPersistent);
    CHECK(flags.mask == flag::kUserMask);
    CHECK((flags.mask & flag::kHashed) == 0);
}

TEST_CASE("An IPv6 service's netmask defaults to the prefix length 128", "[unit]")
{
    MessageBuffer buffer;
    VirtualServer s;
    s.key = tcp("fd00::1", 80);
    encodeOperation(buffer, kFamily, 1, 0, Operation::addVirtualServer(s));
    Parsed p;
    parseNested(buffer, IPVS_CMD_ATTR_SERVICE, IPVS_SVC_ATTR_MAX, p);
    CHECK(nla_get_u32(p.inner[IPVS_SVC_ATTR_NETMASK]) == 128u);
    CHECK(nla_get_u16(p.inner[IPVS_SVC_ATTR_AF]) == AF_INET6);
}

TEST_CASE("A delete names the service and nothing more", "[unit]")
{
    MessageBuffer buffer;
    encodeOperation(buffer, kFamily, 1, 0, Operation::deleteVirtualServer(tcp("10.0.0.1", 80)));
    Parsed p;
    parseNested(buffer, IPVS_CMD_ATTR_SERVICE, IPVS_SVC_ATTR_MAX, p);
    CHECK(p.inner[IPVS_SVC_ATTR_ADDR]);
    CHECK_FALSE(p.inner[IPVS_SVC_ATTR_SCHED_NAME]);
    CHECK_FALSE(p.inner[IPVS_SVC_ATTR_FLAGS]);
    CHECK(static_cast<const genlmsghdr*>(NLMSG_DATA(buffer.header(0)))->cmd == IPVS_CMD_DEL_SERVICE);
}

TEST_CASE("A real server survives encode then decode and always names its family", "[unit]")
{
    RealServer tunnel = real("192.0.2.7", 8080, 3);
    tunnel.forward = ForwardMethod::Tunnel;
    tunnel.upperThreshold = 100;
    tunnel.lowerThreshold = 10;
    RealServer v6 = real("fd00::7", 80, 0);
    RealServer direct = real("10.0.0.9", 443, 65535);
    direct.forward = ForwardMethod::DirectRoute;

    const struct {
        VirtualServerKey service;
        RealServer server;
    } cases[] = {{tcp("10.0.0.1", 80), real("10.244.1.5", 53)},
                 {tcp("fd00::1", 80), tunnel},  // IPv4 tunnel destination behind an IPv6 service
                 {tcp("fd00::1", 80), v6},
                 {tcp("10.0.0.1", 443), direct}};
    for (const auto& c : cases) {
        INFO(c.server.endpoint());
        MessageBuffer buffer;
        encodeOperation(buffer, kFamily, 5, 0, Operation::addRealServer(c.service, c.server));
        Parsed p;
        parseNested(buffer, IPVS_CMD_ATTR_DEST, IPVS_DEST_ATTR_MAX, p);
        REQUIRE(p.inner[IPVS_DEST_ATTR_ADDR_FAMILY]);
        CHECK(nla_get_u16(p.inner[IPVS_DEST_ATTR_ADDR_FAMILY]) == c.server.address.family());
        CHECK(ntohs(nla_get_u16(p.inner[IPVS_DEST_ATTR_PORT])) == c.server.port);
        REQUIRE(p.top[IPVS_CMD_ATTR_SERVICE]);  // the destination's service travels with it

        auto decoded = decodeRealServerMessage(buffer.header(0), c.service.family);
        REQUIRE(decoded);
        CHECK(decoded->sameSettings(c.server));
    }
}

namespace {

// A destination as a dump reports it, with the kernel's connection counters.
MessageBuffer dumpedDestination(uint32_t active, uint32_t inactive, uint32_t persistent)
{
    MessageBuffer buffer;
    const size_t message = buffer.begin(kFamily, 0, 1, IPVS_CMD_NEW_DEST);
    const size_t dest = buffer.beginNested(IPVS_CMD_ATTR_DEST);
    const uint8_t address[16] = {10, 244, 0, 7};
    buffer.putBytes(IPVS_DEST_ATTR_ADDR, address, sizeof address);
    buffer.putU16(IPVS_DEST_ATTR_PORT, htons(8080));
    buffer.putU32(IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ);
    buffer.putU32(IPVS_DEST_ATTR_WEIGHT, 0);
    buffer.putU32(IPVS_DEST_ATTR_U_THRESH, 0);
    buffer.putU32(IPVS_DEST_ATTR_L_THRESH, 0);
    buffer.putU32(IPVS_DEST_ATTR_ACTIVE_CONNS, active);
    buffer.putU32(IPVS_DEST_ATTR_INACT_CONNS, inactive);
    buffer.putU32(IPVS_DEST_ATTR_PERSIST_CONNS, persistent);
    buffer.putU16(IPVS_DEST_ATTR_ADDR_FAMILY, AF_INET);
    buffer.endNested(dest);
    buffer.end(message);
    return buffer;
}

}  // namespace

TEST_CASE("A dumped real server keeps its active and inactive connections as one count", "[unit]")
{
    // Persistence templates are not connections a client holds: they do not keep a server draining.
    auto buffer = dumpedDestination(3, 4, 9);
    auto decoded = decodeRealServerMessage(buffer.header(0), AF_INET);
    REQUIRE(decoded);
    CHECK(decoded->endpoint() == "10.244.0.7:8080");
    CHECK(decoded->connections == 7u);
    CHECK(decoded->weight == 0u);

    // The sum saturates rather than wrapping to a count that would let a busy server go.
    buffer = dumpedDestination(UINT32_MAX, 2, 0);
    decoded = decodeRealServerMessage(buffer.header(0), AF_INET);
    REQUIRE(decoded);
    CHECK(decoded->connections == UINT32_MAX);

    buffer = dumpedDestination(0, 0, 5);
    decoded = decodeRealServerMessage(buffer.header(0), AF_INET);
    REQUIRE(decoded);
    CHECK(decoded->connections == 0u);
}

TEST_CASE("Requests append back to back with their own lengths and sequence numbers", "[unit]")
{
    MessageBuffer buffer;
    const auto key = tcp("10.0.0.1", 80);
    for (uint32_t seq = 10; seq < 20; ++seq)
        encodeOperation(buffer, kFamily, seq, 0,
                        Operation::addRealServer(key, real("10.1.0.1", static_cast<uint16_t>(seq))));
    int left = static_cast<int>(buffer.size());
    uint32_t expected = 10;
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(nlh, left);
         nlh = NLMSG_NEXT(nlh, left)) {
        CHECK(nlh->nlmsg_seq == expected);
        auto decoded = decodeRealServerMessage(nlh, AF_INET);
        REQUIRE(decoded);
        CHECK(decoded->port == expected);
        ++expected;
    }
    CHECK(expected == 20u);
    CHECK(left == 0);
}

TEST_CASE("Timeouts, info and zero requests have the kernel's layout", "[unit]")
{
    MessageBuffer buffer;
    encodeOperation(buffer, kFamily, 1, 0, Operation::setTimeouts({900, 120, 300}));
    auto timeouts = decodeTimeoutsMessage(buffer.header(0));
    REQUIRE(timeouts);
    CHECK(*timeouts == Timeouts{900, 120, 300});

    MessageBuffer info;
    size_t m = info.begin(kFamily, 0, 1, IPVS_CMD_SET_INFO);
    info.putU32(IPVS_INFO_ATTR_VERSION, (1u << 16) | (2u << 8) | 1u);
    info.putU32(IPVS_INFO_ATTR_CONN_TAB_SIZE, 4096);
    info.end(m);
    auto decoded = decodeInfoMessage(info.header(0));
    REQUIRE(decoded);
    CHECK(decoded->versionString() == "1.2.1");
    CHECK(decoded->connectionTableSize == 4096u);

    MessageBuffer zeroAll;
    encodeOperation(zeroAll, kFamily, 1, 0, Operation::zeroAllCounters());
    CHECK(zeroAll.size() == NLMSG_HDRLEN + GENL_HDRLEN);  // no service: zero everything
}

TEST_CASE("Malformed replies are refused, never read out of bounds", "[unit]")
{
    SECTION("a message shorter than its headers")
    {
        MessageBuffer buffer;
        size_t m = buffer.begin(kFamily, 0, 1, IPVS_CMD_NEW_SERVICE);
        buffer.end(m);
        buffer.header(0)->nlmsg_len = NLMSG_HDRLEN;
        auto decoded = decodeVirtualServerMessage(buffer.header(0));
        REQUIRE_FALSE(decoded);
        CHECK(decoded.error().domain == Error::Domain::Decode);
    }
    SECTION("a service without its scheduler")
    {
        MessageBuffer buffer;
        encodeOperation(buffer, kFamily, 1, 0, Operation::deleteVirtualServer(tcp("10.0.0.1", 80)));
        CHECK_FALSE(decodeVirtualServerMessage(buffer.header(0)));
    }
    SECTION("an attribute whose length runs past the message")
    {
        MessageBuffer buffer;
        VirtualServer s;
        s.key = tcp("10.0.0.1", 80);
        encodeOperation(buffer, kFamily, 1, 0, Operation::addVirtualServer(s));
        auto* nested = reinterpret_cast<nlattr*>(const_cast<uint8_t*>(buffer.data()) + NLMSG_HDRLEN + GENL_HDRLEN);
        nested->nla_len = 0xfff0;
        CHECK_FALSE(decodeVirtualServerMessage(buffer.header(0)));
    }
    SECTION("a destination with an unknown family")
    {
        MessageBuffer buffer;
        RealServer r = real("10.0.0.1", 80);
        encodeOperation(buffer, kFamily, 1, 0, Operation::addRealServer(tcp("10.0.0.1", 80), r));
        Parsed p;
        parseNested(buffer, IPVS_CMD_ATTR_DEST, IPVS_DEST_ATTR_MAX, p);
        *static_cast<uint16_t*>(nla_data(p.inner[IPVS_DEST_ATTR_ADDR_FAMILY])) = 99;
        CHECK_FALSE(decodeRealServerMessage(buffer.header(0), AF_INET));
    }
}

namespace {

// An NLMSG_ERROR as the kernel writes it: the error, the echoed request header, then (with
// NLM_F_ACK_TLVS) the kernel's message as an attribute.
std::vector<uint8_t> errorMessage(int error, const char* text, size_t truncateTo = 0)
{
    std::vector<uint8_t> bytes(NLMSG_HDRLEN + sizeof(nlmsgerr));
    if (text) {
        const size_t length = NLA_HDRLEN + std::strlen(text) + 1;
        const size_t at = bytes.size();
        bytes.resize(at + NLA_ALIGN(length));
        auto* attribute = reinterpret_cast<nlattr*>(bytes.data() + at);
        attribute->nla_len = static_cast<uint16_t>(length);
        attribute->nla_type = NLMSGERR_ATTR_MSG;
        std::memcpy(bytes.data() + at + NLA_HDRLEN, text, std::strlen(text) + 1);
    }
    auto* header = reinterpret_cast<nlmsghdr*>(bytes.data());
    header->nlmsg_len = static_cast<uint32_t>(truncateTo ? truncateTo : bytes.size());
    header->nlmsg_type = NLMSG_ERROR;
    header->nlmsg_flags = text ? NLM_F_ACK_TLVS : 0;
    reinterpret_cast<nlmsgerr*>(NLMSG_DATA(header))->error = error;
    return bytes;
}

}  // namespace

TEST_CASE("Acknowledgements: the errno, the kernel's words, and refusal of what the kernel never writes", "[unit]")
{
    auto ok = errorMessage(0, nullptr);
    auto decoded = decodeAcknowledgement(reinterpret_cast<nlmsghdr*>(ok.data()));
    REQUIRE(decoded);
    CHECK(decoded->error == 0);
    auto refused = errorMessage(-ESRCH, "No such service");
    decoded = decodeAcknowledgement(reinterpret_cast<nlmsghdr*>(refused.data()));
    REQUIRE(decoded);
    CHECK(decoded->error == ESRCH);
    CHECK(decoded->message == "No such service");
    // Found by the netlink fuzz target: negating INT_MIN overflowed.
    for (int bogus : {std::numeric_limits<int>::min(), 1, -4096}) {
        auto bytes = errorMessage(bogus, nullptr);
        CHECK_FALSE(decodeAcknowledgement(reinterpret_cast<nlmsghdr*>(bytes.data())));
    }
    auto cut = errorMessage(-EEXIST, nullptr, NLMSG_HDRLEN + 2);
    CHECK_FALSE(decodeAcknowledgement(reinterpret_cast<nlmsghdr*>(cut.data())));
}
