// SPDX-License-Identifier: Apache-2.0
// The firewall sets' elements as kernel keys: the encoding (checked against bytes written out
// by hand, and against the fake nftables' own encoding of nft's text), decoding a service
// element, and decoding the messages of a set-element dump.
#include <initializer_list>
#include <memory>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "fake_kernel.h"
#include "ipvs/netfilter/firewall_table.h"
#include "ipvs/netfilter/set_element_batch.h"
#include "ipvs/netfilter/set_element_dump.h"
#include "ipvs/netfilter/set_elements.h"

using namespace kipvs;
using ipvs::SetElement;
using ipvs::SetElements;

namespace {

IpPort ipPort(const char* address, Protocol protocol, uint16_t port)
{
    return {*InetAddress::parse(address), protocol, port};
}

std::string bytes(std::initializer_list<int> values)
{
    std::string out;
    for (int v : values)
        out.push_back(static_cast<char>(v));
    return out;
}

ipvs::FirewallSets sampleSets()
{
    ipvs::FirewallSets s;
    s.clusterIPs = {ipPort("10.96.0.10", Protocol::Udp, 53), ipPort("fd00:96::10", Protocol::Tcp, 443)};
    s.external = {ipPort("192.168.122.10", Protocol::Tcp, 30080), ipPort("203.0.113.10", Protocol::Sctp, 80)};
    s.loadBalancers = {ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.localPolicy = {ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.firewalled = {ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.allowedSources = {{ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("198.51.100.7/24")},
                        {ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("203.0.113.10/32")},
                        {ipPort("fd00::10", Protocol::Udp, 53), *Cidr::parse("fd00:1::/33")}};
    s.hairpin = {ipPort("10.244.1.10", Protocol::Tcp, 8080), ipPort("fd00:244::10", Protocol::Tcp, 8080)};
    s.healthCheckPorts = {32000, 80};
    s.serviceAddresses = {*InetAddress::parse("10.96.0.10"), *InetAddress::parse("fd00:96::10")};
    return s;
}

struct MessageDeleter {
    void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};

// One message of a set-element dump as the kernel sends it, for the elements `add` puts in.
template <typename Add>
std::unique_ptr<nl_msg, MessageDeleter> dumpMessage(Add add)
{
    std::unique_ptr<nl_msg, MessageDeleter> msg(
        nlmsg_alloc_simple((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM, NLM_F_MULTI));
    nfgenmsg header{NFPROTO_INET, NFNETLINK_V0, 0};
    REQUIRE(nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO) == 0);
    nla_put_string(msg.get(), NFTA_SET_ELEM_LIST_TABLE, "kube-ipvsd");
    nla_put_string(msg.get(), NFTA_SET_ELEM_LIST_SET, "allowed-sources-v4");
    auto* list = nla_nest_start(msg.get(), NFTA_SET_ELEM_LIST_ELEMENTS);
    add(msg.get());
    nla_nest_end(msg.get(), list);
    return msg;
}

void putData(nl_msg* msg, int type, const std::string& value)
{
    auto* data = nla_nest_start(msg, type);
    nla_put(msg, NFTA_DATA_VALUE, static_cast<int>(value.size()), value.data());
    nla_nest_end(msg, data);
}

void putElement(nl_msg* msg, const std::string& key, const std::string& keyEnd, uint32_t flags = 0)
{
    auto* element = nla_nest_start(msg, NFTA_LIST_ELEM);
    if (!key.empty())
        putData(msg, NFTA_SET_ELEM_KEY, key);
    if (!keyEnd.empty())
        putData(msg, NFTA_SET_ELEM_KEY_END, keyEnd);
    if (flags)
        nla_put_u32(msg, NFTA_SET_ELEM_FLAGS, htonl(flags));
    nla_nest_end(msg, element);
}

}  // namespace

TEST_CASE("A set's elements are keyed as the kernel keys them: each field of a concatenation in 4-byte registers, in "
          "network order, and a range with its last key",
          "[unit]")
{
    const auto sets = sampleSets();
    CHECK(ipvs::setElementsOf("cluster-ips-v4", sets) ==
          SetElements{{bytes({10, 96, 0, 10, 17, 0, 0, 0, 0, 53, 0, 0}), ""}});
    CHECK(ipvs::setElementsOf("external-v4", sets) ==
          SetElements{{bytes({192, 168, 122, 10, 6, 0, 0, 0, 0x75, 0x80, 0, 0}), ""},
                      {bytes({203, 0, 113, 10, 132, 0, 0, 0, 0, 80, 0, 0}), ""}});
    const auto v6 = ipvs::setElementsOf("cluster-ips-v6", sets);
    REQUIRE(v6.size() == 1);
    CHECK(v6[0].key == bytes({0xfd, 0, 0, 0x96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 6, 0, 0, 0, 0x01, 0xbb, 0, 0}));
    CHECK(ipvs::setElementsOf("hairpin-v4", sets) ==
          SetElements{{bytes({10, 244, 1, 10, 6, 0, 0, 0, 0x1f, 0x90, 0, 0, 10, 244, 1, 10}), ""}});
    const std::string service = bytes({203, 0, 113, 10, 6, 0, 0, 0, 0, 80, 0, 0});
    CHECK(ipvs::setElementsOf("allowed-sources-v4", sets) ==
          SetElements{{service + bytes({198, 51, 100, 0}), service + bytes({198, 51, 100, 255})},
                      {service + bytes({203, 0, 113, 10}), ""}});  // a /32: one value
    const auto ranges = ipvs::setElementsOf("allowed-sources-v6", sets);
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0].key.substr(24) == bytes({0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    CHECK(ranges[0].keyEnd.substr(24) ==
          bytes({0xfd, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    // Not concatenated: two bytes, no padding.
    CHECK(ipvs::setElementsOf("health-check-ports", sets) == SetElements{{bytes({0, 80}), ""}, {bytes({0x7d, 0}), ""}});
    CHECK(ipvs::setElementsOf("service-addresses-v4", sets) == SetElements{{bytes({10, 96, 0, 10}), ""}});
    CHECK(ipvs::setElementsOf("local-policy-v6", sets).empty());
    CHECK(ipvs::setElementsOf("no-such-set", sets).empty());
}

TEST_CASE("The fake nftables keys nft's text of every set as the encoding does", "[unit]")
{
    test::FaultTable faults;
    test::FakeNftables nft(faults);
    const auto sets = sampleSets();
    REQUIRE(nft.run(ipvs::renderFirewall({}, sets)));
    size_t elements = 0;
    for (const auto& [name, texts] : ipvs::firewallElements(sets)) {
        auto listed = nft.listSetElements(ipvs::kFirewallTable, name);
        REQUIRE(listed);
        CHECK(listed->size() == texts.size());
        CHECK(*listed == ipvs::setElementsOf(name, sets));
        elements += listed->size();
    }
    CHECK(elements == 16);
}

TEST_CASE("A service element decodes from its key; any other bytes do not", "[unit]")
{
    for (const auto& e : {ipPort("10.96.0.10", Protocol::Udp, 53), ipPort("fd00:96::10", Protocol::Sctp, 65535)}) {
        ipvs::FirewallSets sets;
        sets.external = {e};
        const auto keys = ipvs::setElementsOf(e.address.isV6() ? "external-v6" : "external-v4", sets);
        REQUIRE(keys.size() == 1);
        CHECK(ipvs::decodeServiceElement(keys[0]) == e);
    }
    const std::string key = bytes({10, 96, 0, 10, 17, 0, 0, 0, 0, 53, 0, 0});
    CHECK(ipvs::decodeServiceElement({key, ""}));
    CHECK_FALSE(ipvs::decodeServiceElement({key, key}));  // a range
    CHECK_FALSE(ipvs::decodeServiceElement({key.substr(0, 11), ""}));
    CHECK_FALSE(ipvs::decodeServiceElement({key + bytes({1, 2, 3, 4}), ""}));
    CHECK_FALSE(ipvs::decodeServiceElement({bytes({10, 96, 0, 10, 99, 0, 0, 0, 0, 53, 0, 0}), ""}));  // protocol 99
}

TEST_CASE("A set-element dump's message decodes into canonical elements; a malformed one is an error", "[unit]")
{
    const std::string first = bytes({10, 0, 0, 1}), last = bytes({10, 0, 0, 255});
    SetElements out;
    auto msg = dumpMessage([&](nl_msg* m) {
        putElement(m, first, "");
        putElement(m, first, last);
        putElement(m, last, last);  // a single value of a range set
    });
    REQUIRE(ipvs::decodeSetElementMessage(nlmsg_hdr(msg.get()), out));
    CHECK(out == SetElements{{first, ""}, {first, last}, {last, ""}});

    SECTION("an interval's end marker is refused")
    {
        auto marker = dumpMessage([&](nl_msg* m) { putElement(m, last, "", NFT_SET_ELEM_INTERVAL_END); });
        auto decoded = ipvs::decodeSetElementMessage(nlmsg_hdr(marker.get()), out);
        REQUIRE_FALSE(decoded);
        CHECK(decoded.error().code == EOPNOTSUPP);
    }
    SECTION("an element without a key is refused")
    {
        auto keyless = dumpMessage([&](nl_msg* m) { putElement(m, "", last); });
        auto decoded = ipvs::decodeSetElementMessage(nlmsg_hdr(keyless.get()), out);
        REQUIRE_FALSE(decoded);
        CHECK(decoded.error().code == EINVAL);
    }
    SECTION("a message without elements adds none")
    {
        auto empty = dumpMessage([](nl_msg*) {});
        SetElements none;
        REQUIRE(ipvs::decodeSetElementMessage(nlmsg_hdr(empty.get()), none));
        CHECK(none.empty());
    }
}

TEST_CASE("A set-element batch: begin, removals then additions in messages of at most 256 elements, the last "
          "acknowledged, end",
          "[unit]")
{
    ipvs::FirewallSets added, removed;
    for (uint32_t i = 0; i < 600; ++i)
        added.serviceAddresses.insert(InetAddress::v4(0x0a600000 + i));
    removed.allowedSources = {{ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("198.51.100.0/24")},
                              {ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("203.0.113.10/32")}};
    using Layout = ipvs::SetElementChange::Layout;
    const std::vector<ipvs::SetElementChange> changes{
        {"service-addresses-v4", Layout::Values, {}, ipvs::setElementsOf("service-addresses-v4", added)},
        {"allowed-sources-v4", Layout::Ranges, ipvs::setElementsOf("allowed-sources-v4", removed), {}}};
    const auto encoded = ipvs::encodeSetElementBatch("kube-ipvsd", changes, 7);
    const std::string& batch = encoded.bytes;
    // One removal, three additions (256 + 256 + 88): the set of each, in sequence.
    CHECK(encoded.sets == std::vector<std::string>{"allowed-sources-v4", "service-addresses-v4", "service-addresses-v4",
                                                   "service-addresses-v4"});

    std::vector<uint16_t> types;
    std::vector<size_t> counts;
    std::vector<bool> acks;
    SetElements removedRead, addedRead;
    uint32_t seq = 7;
    int left = static_cast<int>(batch.size());
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data()); NLMSG_OK(nlh, left);
         nlh = NLMSG_NEXT(nlh, left)) {
        CHECK(nlh->nlmsg_seq == seq++);
        types.push_back(nlh->nlmsg_type);
        if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || nlh->nlmsg_type == NFNL_MSG_BATCH_END)
            continue;
        acks.push_back((nlh->nlmsg_flags & NLM_F_ACK) != 0);
        auto& into = nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM) ? removedRead : addedRead;
        const size_t before = into.size();
        REQUIRE(ipvs::decodeSetElementMessage(nlh, into));
        counts.push_back(into.size() - before);
    }
    CHECK(left == 0);
    const uint16_t del = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM;
    const uint16_t add = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
    CHECK(types == std::vector<uint16_t>{NFNL_MSG_BATCH_BEGIN, del, add, add, add, NFNL_MSG_BATCH_END});
    CHECK(counts == std::vector<size_t>{2, 256, 256, 88});
    // One acknowledgement per message overflowed the socket's receive buffer on large batches.
    CHECK(acks == std::vector<bool>{false, false, false, true});
    CHECK(addedRead == ipvs::setElementsOf("service-addresses-v4", added));
    // A range set's single value goes with its last key (equal to its key); read back canonical.
    CHECK(removedRead == ipvs::setElementsOf("allowed-sources-v4", removed));
}

namespace {

// A FirewallTable over the fake nftables, which stays in reach.
struct FakeFirewall {
    FakeFirewall() : table(makeFake(), {}) {}
    test::FaultTable faults;
    test::FakeNftables* nft = nullptr;
    ipvs::FirewallTable table;

private:
    std::unique_ptr<test::FakeNftables> makeFake()
    {
        auto fake = std::make_unique<test::FakeNftables>(faults);
        nft = fake.get();
        return fake;
    }
};

// The sample sets and `count` more IPv4 service addresses.
ipvs::FirewallSets withServiceAddresses(uint32_t count)
{
    auto sets = sampleSets();
    for (uint32_t i = 0; i < count; ++i)
        sets.serviceAddresses.insert(InetAddress::v4(0x0a600000 + i));
    return sets;
}

void expectSets(test::FakeNftables& nft, const ipvs::FirewallSets& sets)
{
    for (const auto& [name, texts] : ipvs::firewallElements(sets)) {
        auto listed = nft.listSetElements(ipvs::kFirewallTable, name);
        REQUIRE(listed);
        CHECK(*listed == ipvs::setElementsOf(name, sets));
    }
}

}  // namespace

TEST_CASE("The firewall table sends exactly the elements that changed, set by set, in one transaction", "[unit]")
{
    FakeFirewall rig;
    auto& table = rig.table;
    auto* nft = rig.nft;
    auto sets = sampleSets();
    REQUIRE(table.sync(sets, ipvs::FirewallTable::Check::TrustLastWrite));
    const size_t built = nft->transactions;

    auto after = sets;
    after.clusterIPs.erase(ipPort("10.96.0.10", Protocol::Udp, 53));
    after.clusterIPs.insert(ipPort("10.96.0.11", Protocol::Udp, 53));
    after.allowedSources.erase({ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("198.51.100.7/24")});
    after.healthCheckPorts.insert(32001);
    auto synced = table.sync(after, ipvs::FirewallTable::Check::TrustLastWrite);
    REQUIRE(synced);
    CHECK_FALSE(*synced);  // not rebuilt
    CHECK(nft->transactions == built + 1);
    std::map<std::string, std::pair<size_t, size_t>> sent;  // set: removed, added
    for (const auto& change : nft->lastChanges) {
        sent[change.set] = {change.removed.size(), change.added.size()};
        CHECK(change.layout == (change.set == "allowed-sources-v4" ? ipvs::SetElementChange::Layout::Ranges
                                                                   : ipvs::SetElementChange::Layout::Values));
    }
    CHECK(sent == std::map<std::string, std::pair<size_t, size_t>>{
                      {"cluster-ips-v4", {1, 1}}, {"allowed-sources-v4", {1, 0}}, {"health-check-ports", {0, 1}}});
    expectSets(*nft, after);
    REQUIRE(table.sync(after, ipvs::FirewallTable::Check::TrustLastWrite));
    CHECK(nft->transactions == built + 1);  // nothing left to send
}

TEST_CASE("A new table is built in parts: rules and empty sets, then elements in batches of at most 8,192", "[unit]")
{
    FakeFirewall rig;
    auto& table = rig.table;
    auto* nft = rig.nft;
    const auto sets = withServiceAddresses(20000);
    std::vector<std::pair<std::string, size_t>> seen;  // transaction: elements in the kernel's sets before it
    nft->onTransaction = [&] {
        size_t held = 0;
        for (const auto& [name, elements] : nft->sets)
            held += elements.size();
        seen.emplace_back(nft->table ? "table" : "none", held);
    };
    auto built = table.sync(sets, ipvs::FirewallTable::Check::TrustLastWrite);
    REQUIRE(built);
    CHECK(*built);
    expectSets(*nft, sets);
    // One transaction with no table before it, then elements: 20,003 IPv4 service addresses in
    // three batches, and one per other non-empty set.
    size_t nonEmpty = 0;
    for (const auto& [name, texts] : ipvs::firewallElements(sets))
        nonEmpty += texts.empty() ? 0 : 1;
    REQUIRE(seen.size() == 1 + nonEmpty + 2);
    CHECK(seen[0] == std::pair<std::string, size_t>{"none", 0});
    CHECK(seen[1] == std::pair<std::string, size_t>{"table", 0});  // the rules went in with empty sets
    CHECK(nft->lastChanges.size() == 1);
    CHECK(nft->lastChanges[0].added.size() <= 8192);
}

TEST_CASE("A table already in the kernel is replaced in one transaction; a build that failed half-way is too", "[unit]")
{
    FakeFirewall rig;
    auto& table = rig.table;
    auto* nft = rig.nft;
    const auto sets = withServiceAddresses(10000);
    SECTION("a build refused half-way")
    {
        rig.faults.add(test::Fault{test::Call::NftTransaction, ENOMEM, 0, 1, 2});  // the rules and one batch pass
        auto half = table.sync(sets, ipvs::FirewallTable::Check::TrustLastWrite);
        REQUIRE_FALSE(half);
        CHECK(half.error().code == ENOMEM);
        CHECK(nft->table);
    }
    SECTION("an earlier process's table, with other elements")
    {
        REQUIRE(nft->run(ipvs::renderFirewall({}, sampleSets())));
    }
    const size_t before = nft->transactions;
    nft->lastChanges.clear();
    auto replaced = table.sync(sets, ipvs::FirewallTable::Check::TrustLastWrite);
    REQUIRE(replaced);
    CHECK(*replaced);
    CHECK(nft->transactions == before + 1);
    CHECK(nft->lastChanges.empty());  // no element batch: the table's text carried them
    expectSets(*nft, sets);
}
