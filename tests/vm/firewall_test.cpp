// SPDX-License-Identifier: Apache-2.0
// The nftables table and conntrack cleanup against the real kernel, checked with the nft and
// conntrack tools (independent of our own listing code).
#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include "ipvs/netfilter/conntrack.h"
#include "ipvs/netfilter/firewall_table.h"
#include "ipvsadm_save.h"

using namespace kipvs;
using kipvs::test::runCommand;
using FirewallCheck = kipvs::ipvs::FirewallTable::Check;

namespace {

IpPort ipPort(const char* address, Protocol protocol, uint16_t port)
{
    return {*InetAddress::parse(address), protocol, port};
}

ipvs::FirewallSets sampleSets()
{
    ipvs::FirewallSets s;
    s.clusterIPs = {ipPort("10.96.0.10", Protocol::Udp, 53), ipPort("fd00:96::10", Protocol::Tcp, 443)};
    s.external = {ipPort("192.168.122.10", Protocol::Tcp, 30080), ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.loadBalancers = {ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.localPolicy = {ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.firewalled = {ipPort("203.0.113.10", Protocol::Tcp, 80)};
    s.allowedSources = {{ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("198.51.100.7/24")},
                        {ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("203.0.113.10/32")}};
    s.hairpin = {ipPort("10.244.1.10", Protocol::Tcp, 8080)};
    s.healthCheckPorts = {32000};
    s.serviceAddresses = {*InetAddress::parse("10.96.0.10"), *InetAddress::parse("fd00:96::10"),
                          *InetAddress::parse("203.0.113.10")};
    return s;
}

// `nft list table`'s lines, each element on its own prefixed with its set's name, sorted: a hash
// set lists in an order of its own.
std::multiset<std::string> listingLines(const std::string& listing)
{
    std::multiset<std::string> out;
    std::string set;
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        line.erase(0, line.find_first_not_of(" \t"));
        if (line.starts_with("set "))
            set = line;
        if (line.starts_with("elements = { "))
            line.erase(0, 13);
        while (!line.empty() && (line.back() == ',' || line.back() == '}' || line.back() == ' '))
            line.pop_back();
        out.insert(set + "|" + line);
    }
    return out;
}

ipvs::FirewallTable openTable()
{
    auto nft = ipvs::NftClient::open();
    REQUIRE(nft);
    ipvs::FirewallConfig config;
    config.local.cidrs = {*Cidr::parse("10.244.0.0/16")};
    return ipvs::FirewallTable(std::make_unique<ipvs::NftClient>(std::move(*nft)), config);
}

}  // namespace

TEST_CASE("The table is written whole, then changed by set elements only; nft lists what was wanted", "[vm]")
{
    auto table = openTable();
    auto sets = sampleSets();
    auto first = table.sync(sets, FirewallCheck::TrustLastWrite);
    REQUIRE(first);
    CHECK(*first);  // written whole
    const auto listed = runCommand("nft list table inet kube-ipvsd");
    CHECK(listed.find("10.96.0.10 . udp . 53") != std::string::npos);
    CHECK(listed.find("fd00:96::10 . tcp . 443") != std::string::npos);
    CHECK(listed.find("203.0.113.10 . tcp . 80 . 198.51.100.0/24") != std::string::npos);  // host bits cleared
    CHECK(listed.find("ip saddr != 10.244.0.0/16") != std::string::npos);
    CHECK(listed.find("meta mark set meta mark | 0x00004000") != std::string::npos);

    sets.clusterIPs.insert(ipPort("10.96.0.11", Protocol::Tcp, 80));
    sets.clusterIPs.erase(ipPort("10.96.0.10", Protocol::Udp, 53));
    auto second = table.sync(sets, FirewallCheck::Verify);  // verified first: unchanged, so only elements change
    REQUIRE(second);
    CHECK_FALSE(*second);
    const auto after = runCommand("nft list set inet kube-ipvsd cluster-ips-v4");
    CHECK(after.find("10.96.0.11 . tcp . 80") != std::string::npos);
    CHECK(after.find("10.96.0.10 . udp . 53") == std::string::npos);

    const size_t setCount = ipvs::firewallElements(sets).size();
    SECTION("an element removed behind our back is found within one rotation of verifications, and the table rebuilt")
    {
        runCommand("nft delete element inet kube-ipvsd cluster-ips-v4 '{ 10.96.0.11 . tcp . 80 }'");
        bool rebuilt = false;
        for (size_t i = 0; i < setCount && !rebuilt; ++i) {
            auto repaired = table.sync(sets, FirewallCheck::Verify);
            REQUIRE(repaired);
            rebuilt = *repaired;
        }
        CHECK(rebuilt);
        CHECK(runCommand("nft list set inet kube-ipvsd cluster-ips-v4").find("10.96.0.11 . tcp . 80") !=
              std::string::npos);
    }
    SECTION("a flushed chain is found by the next verification")
    {
        runCommand("nft flush chain inet kube-ipvsd nat-postrouting");
        auto repaired = table.sync(sets, FirewallCheck::Verify);
        REQUIRE(repaired);
        CHECK(*repaired);
        CHECK(runCommand("nft list chain inet kube-ipvsd nat-postrouting").find("masquerade fully-random") !=
              std::string::npos);
    }
    SECTION("an unchanged table is left alone by a whole rotation of verifications")
    {
        for (size_t i = 0; i < setCount; ++i) {
            auto again = table.sync(sets, FirewallCheck::Verify);
            REQUIRE(again);
            CHECK_FALSE(*again);
        }
    }
    SECTION("a deleted table is found and written again")
    {
        runCommand("nft delete table inet kube-ipvsd");
        auto repaired = table.sync(sets, FirewallCheck::Verify);
        REQUIRE(repaired);
        CHECK(*repaired);
        CHECK(runCommand("nft list tables").find("kube-ipvsd") != std::string::npos);
    }
    REQUIRE(table.remove());
    CHECK(runCommand("nft list tables").find("kube-ipvsd") == std::string::npos);
    CHECK(table.remove());  // twice is harmless
}

TEST_CASE("A new table built in parts lists as the same table written whole by nft's text", "[vm]")
{
    auto table = openTable();
    auto sets = sampleSets();
    for (uint32_t i = 0; i < 300; ++i) {
        sets.clusterIPs.insert({InetAddress::v4(0x0a600100 + i), Protocol::Tcp, 80});
        sets.allowedSources.insert(
            {ipPort("203.0.113.11", Protocol::Tcp, 443), Cidr{InetAddress::v4(0xc6336400 + i * 4), 30}});
    }
    runCommand("nft delete table inet kube-ipvsd 2>/dev/null || true");
    auto built = table.sync(sets, FirewallCheck::TrustLastWrite);
    REQUIRE(built);
    CHECK(*built);
    const auto parts = runCommand("nft list table inet kube-ipvsd");
    CHECK(parts.find("10.96.2.43 . tcp . 80") != std::string::npos);  // the 300th
    CHECK(parts.find("203.0.113.11 . tcp . 443 . 198.51.104.172/30") != std::string::npos);  // the 300th

    auto nft = ipvs::NftClient::open();
    REQUIRE(nft);
    ipvs::FirewallConfig config;
    config.local.cidrs = {*Cidr::parse("10.244.0.0/16")};
    REQUIRE(nft->run(ipvs::renderFirewall(config, sets)));  // replaces it in one transaction
    CHECK(listingLines(runCommand("nft list table inet kube-ipvsd")) == listingLines(parts));
    REQUIRE(table.remove());
}

TEST_CASE("Set elements read over nfnetlink are the keys the wanted sets encode to, in every set", "[vm]")
{
    auto table = openTable();
    auto sets = sampleSets();
    for (int i = 0; i < 5000; ++i)  // a dump of many messages
        sets.clusterIPs.insert(ipPort("10.97.0.0", Protocol::Tcp, static_cast<uint16_t>(1000 + i)));
    REQUIRE(table.sync(sets, FirewallCheck::TrustLastWrite));
    auto nft = ipvs::NftClient::open();
    REQUIRE(nft);
    size_t elements = 0;
    for (const auto& [name, texts] : ipvs::firewallElements(sets)) {
        auto listed = nft->listSetElements(ipvs::kFirewallTable, name);
        REQUIRE(listed);
        INFO(name);
        CHECK(listed->size() == texts.size());
        CHECK(*listed == ipvs::setElementsOf(name, sets));
        elements += listed->size();
    }
    CHECK(elements == 5014);
    auto missing = nft->listSetElements(ipvs::kFirewallTable, "no-such-set");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ENOENT);
    auto external = table.readExternal();
    REQUIRE(external);
    CHECK(*external == std::set<IpPort>(sets.external.begin(), sets.external.end()));
    REQUIRE(table.remove());
    auto gone = nft->listSetElements(ipvs::kFirewallTable, "cluster-ips-v4");
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == ENOENT);
}

TEST_CASE("Set elements changed over nfnetlink: one transaction, ranges with their last key, nothing on a refusal",
          "[vm]")
{
    auto table = openTable();
    auto sets = sampleSets();
    REQUIRE(table.sync(sets, FirewallCheck::TrustLastWrite));
    auto nft = ipvs::NftClient::open();
    REQUIRE(nft);
    ipvs::FirewallSets more;
    more.clusterIPs = {ipPort("10.96.0.20", Protocol::Tcp, 8443)};
    more.allowedSources = {{ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("192.0.2.0/25")},
                           {ipPort("203.0.113.10", Protocol::Tcp, 80), *Cidr::parse("192.0.2.200/32")}};
    more.hairpin = {ipPort("10.244.9.9", Protocol::Tcp, 8080)};  // never added
    using Layout = ipvs::SetElementChange::Layout;
    const std::vector<ipvs::SetElementChange> add{
        {"cluster-ips-v4", Layout::Values, ipvs::setElementsOf("cluster-ips-v4", sets),
         ipvs::setElementsOf("cluster-ips-v4", more)},
        {"allowed-sources-v4", Layout::Ranges, {}, ipvs::setElementsOf("allowed-sources-v4", more)}};
    REQUIRE(nft->changeSetElements(ipvs::kFirewallTable, add));
    const auto clusterIPs = runCommand("nft list set inet kube-ipvsd cluster-ips-v4");
    CHECK(clusterIPs.find("10.96.0.20 . tcp . 8443") != std::string::npos);
    CHECK(clusterIPs.find("10.96.0.10 . udp . 53") == std::string::npos);
    const auto sources = runCommand("nft list set inet kube-ipvsd allowed-sources-v4");
    CHECK(sources.find("203.0.113.10 . tcp . 80 . 192.0.2.0/25") != std::string::npos);
    CHECK(sources.find("203.0.113.10 . tcp . 80 . 192.0.2.200") != std::string::npos);
    CHECK(sources.find("203.0.113.10 . tcp . 80 . 198.51.100.0/24") != std::string::npos);

    // A removal of what is not there refuses the whole batch: the addition beside it is not made.
    const std::vector<ipvs::SetElementChange> refused{
        {"cluster-ips-v4", Layout::Values, {}, ipvs::setElementsOf("cluster-ips-v4", sets)},
        {"allowed-sources-v4", Layout::Ranges, ipvs::setElementsOf("allowed-sources-v4", more), {}},
        {"hairpin-v4", Layout::Values, ipvs::setElementsOf("hairpin-v4", more), {}}};
    auto failed = nft->changeSetElements(ipvs::kFirewallTable, refused);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == ENOENT);
    // Named by a refused message's set (the kernel reports each; the first read is kept), never
    // by allowed-sources-v4, whose removal was valid.
    const auto& named = failed.error().object;
    CHECK((named == "inet kube-ipvsd cluster-ips-v4" || named == "inet kube-ipvsd hairpin-v4"));
    CHECK(runCommand("nft list set inet kube-ipvsd cluster-ips-v4").find("10.96.0.10 . udp . 53") == std::string::npos);
    CHECK(runCommand("nft list set inet kube-ipvsd allowed-sources-v4").find("192.0.2.0/25") != std::string::npos);
    REQUIRE(table.remove());
}

TEST_CASE("A change of 30,000 elements is one batch the kernel takes whole or refuses whole", "[vm]")
{
    auto table = openTable();
    REQUIRE(table.sync(sampleSets(), FirewallCheck::TrustLastWrite));
    auto nft = ipvs::NftClient::open();
    REQUIRE(nft);
    ipvs::FirewallSets many;
    for (uint32_t i = 0; i < 30000; ++i)
        many.clusterIPs.insert({InetAddress::v4(0x0a700000 + i), Protocol::Tcp, 80});
    const auto elements = ipvs::setElementsOf("cluster-ips-v4", many);
    using Layout = ipvs::SetElementChange::Layout;
    // ~1 MB in one message: past the send buffer's default and past one acknowledgement per message.
    REQUIRE(nft->changeSetElements(ipvs::kFirewallTable, {{"cluster-ips-v4", Layout::Values, {}, elements}}));
    const auto get = [](const char* element) {
        return runCommand(std::string("nft get element inet kube-ipvsd cluster-ips-v4 '{ ") + element +
                          " }' 2>&1 || true");
    };
    CHECK(get("10.112.0.0 . tcp . 80").find("10.112.0.0 . tcp . 80") != std::string::npos);
    CHECK(get("10.112.117.47 . tcp . 80").find("10.112.117.47 . tcp . 80") != std::string::npos);  // the last
    auto listed = nft->listSetElements(ipvs::kFirewallTable, "cluster-ips-v4");
    REQUIRE(listed);
    CHECK(listed->size() == 30001);

    // One element that is not there, after 30,000 that are: the kernel reports it, and removes none.
    ipvs::FirewallSets missing;
    missing.clusterIPs = {ipPort("10.96.9.9", Protocol::Tcp, 80)};
    auto refused = nft->changeSetElements(
        ipvs::kFirewallTable, {{"cluster-ips-v4", Layout::Values, elements, {}},
                               {"cluster-ips-v4", Layout::Values, ipvs::setElementsOf("cluster-ips-v4", missing), {}}});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ENOENT);
    CHECK(refused.error().message().find("inet kube-ipvsd cluster-ips-v4") != std::string::npos);
    listed = nft->listSetElements(ipvs::kFirewallTable, "cluster-ips-v4");
    REQUIRE(listed);
    CHECK(listed->size() == 30001);

    REQUIRE(nft->changeSetElements(ipvs::kFirewallTable, {{"cluster-ips-v4", Layout::Values, elements, {}}}));
    CHECK(get("10.112.0.0 . tcp . 80").find("No such file or directory") != std::string::npos);
    CHECK(runCommand("nft list set inet kube-ipvsd cluster-ips-v4").find("10.96.0.10 . udp . 53") != std::string::npos);
    REQUIRE(table.remove());
}

TEST_CASE("A failing nft command is reported with nft's message and the table keeps working", "[vm]")
{
    auto nft = ipvs::NftClient::open();
    REQUIRE(nft);
    auto bad = nft->run("add element inet no-such-table some-set { 1.2.3.4 }\n");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().operation == "run nftables commands");
    CHECK(bad.error().object.find("no-such-table") != std::string::npos);
    CHECK(bad.error().code == ENOENT);
}

TEST_CASE("Conntrack reconciliation deletes the UDP flows no real server answers, and only those", "[vm]")
{
    runCommand("modprobe nf_conntrack");
    // Three flows to 10.96.0.53:53, answered by a real server, by a pod that is gone, and by no
    // one (sent while there was no endpoint); one to an address that is no virtual server.
    const char* flows[][2] = {{"1000", "10.244.1.10"}, {"1001", "10.244.1.11"}, {"1002", "10.96.0.53"}};
    for (const auto& [port, replier] : flows)
        runCommand(std::string("conntrack -I -p udp -s 10.9.9.9 -d 10.96.0.53 --sport ") + port +
                   " --dport 53 --reply-src " + replier +
                   " --reply-dst 10.9.9.9 --reply-port-src 5353 --reply-port-dst " + port + " -t 60 2>&1");
    runCommand("conntrack -I -p udp -s 10.9.9.9 -d 10.1.2.3 --sport 1003 --dport 53 --reply-src 10.244.1.11 "
               "--reply-dst 10.9.9.9 --reply-port-src 53 --reply-port-dst 1003 -t 60 2>&1");
    const ipvs::ServedUdpFlows served{{{*InetAddress::parse("10.96.0.53"), 53}, {*InetAddress::parse("10.244.1.10")}}};
    auto passes = ipvs::reconcileUdpFlows(served);
    REQUIRE(passes);
    REQUIRE(passes->size() == 1);
    CHECK((*passes)[0].family == AF_INET);
    CHECK((*passes)[0].deleted == 2);
    const auto left = runCommand("conntrack -L -p udp 2>/dev/null");
    CHECK(left.find("sport=1000") != std::string::npos);
    CHECK(left.find("sport=1001") == std::string::npos);
    CHECK(left.find("sport=1002") == std::string::npos);
    CHECK(left.find("sport=1003") != std::string::npos);
    auto none = ipvs::reconcileUdpFlows({});
    REQUIRE(none);
    CHECK(none->empty());
}

TEST_CASE("A FORWARD chain with a drop policy (iptables-nft, as Docker leaves it) gets our two accept rules, once",
          "[vm]")
{
    runCommand(
        "nft add table ip filter && nft 'add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }'");
    auto table = openTable();
    REQUIRE(table.sync(sampleSets(), FirewallCheck::TrustLastWrite));
    auto rules = runCommand("nft list chain ip filter FORWARD");
    CHECK(
        rules.find(
            "meta mark & 0x00004000 == 0x00004000 counter packets 0 bytes 0 accept comment \"kube-ipvsd: service traffic\"") !=
        std::string::npos);
    CHECK(
        rules.find(
            "ct state established,related counter packets 0 bytes 0 accept comment \"kube-ipvsd: service traffic\"") !=
        std::string::npos);
    auto again = table.ensureForwardAccept();
    REQUIRE(again);
    CHECK(*again == 0);  // already there: nothing added
    REQUIRE(table.remove());
    CHECK(runCommand("nft list chain ip filter FORWARD").find("kube-ipvsd") == std::string::npos);
    runCommand("nft delete table ip filter");
}
