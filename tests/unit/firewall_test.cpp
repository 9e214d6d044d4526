// SPDX-License-Identifier: Apache-2.0
// The nftables table as text: the whole table, the element changes between two states, and
// reading nft's JSON listing back.
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "ipvs/netfilter/firewall.h"
#include "ipvs/netfilter/firewall_table.h"

using namespace kipvs;

namespace {

IpPort ipPort(const char* address, Protocol protocol, uint16_t port)
{
    return {*InetAddress::parse(address), protocol, port};
}

size_t count(const std::string& text, const std::string& what)
{
    size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

}  // namespace

TEST_CASE("The whole table: replaced in one transaction, the mark bit and cluster CIDR in its rules", "[unit]")
{
    ipvs::FirewallConfig config;
    config.masqueradeMark = 1u << 15;
    config.local.cidrs = {*Cidr::parse("10.244.3.7/16"), *Cidr::parse("fd00:244::/56")};
    ipvs::FirewallSets sets;
    sets.clusterIPs = {ipPort("10.96.0.10", Protocol::Udp, 53)};
    const auto text = ipvs::renderFirewall(config, sets);
    CHECK(text.starts_with("add table inet kube-ipvsd\ndelete table inet kube-ipvsd\ntable inet kube-ipvsd {\n"));
    CHECK(text.find("meta mark set meta mark | 0x8000") != std::string::npos);
    CHECK(text.find("ip saddr != 10.244.0.0/16 ip daddr . meta l4proto . th dport @cluster-ips-v4") !=
          std::string::npos);
    CHECK(text.find("ip6 saddr != fd00:244::/56 ip6 daddr . meta l4proto . th dport @cluster-ips-v6") !=
          std::string::npos);
    CHECK(text.find("add element inet kube-ipvsd cluster-ips-v4 { 10.96.0.10 . udp . 53 }") != std::string::npos);

    config.masqueradeAll = true;
    CHECK(ipvs::renderFirewall(config, sets)
              .find("\n    ip daddr . meta l4proto . th dport @cluster-ips-v4 jump mark-for-masquerade") !=
          std::string::npos);
    config = {};
    CHECK(ipvs::renderFirewall(config, sets)
              .find("ip saddr . meta l4proto . th dport @cluster-ips-v4 jump mark-for-masquerade") !=
          std::string::npos);
}

TEST_CASE("Host protection covers each whole service range, its networks as elements", "[unit]")
{
    ipvs::FirewallConfig config;
    auto text = ipvs::renderFirewall(config, {});
    CHECK(text.find("set service-ranges-v4 { type ipv4_addr; flags interval; }") != std::string::npos);
    CHECK(text.find("add element inet kube-ipvsd service-ranges") == std::string::npos);
    config.serviceRanges = {*Cidr::parse("10.96.0.1/12"), *Cidr::parse("fd00:10:96::/112")};
    text = ipvs::renderFirewall(config, {});
    CHECK(text.find("add element inet kube-ipvsd service-ranges-v4 { 10.96.0.0/12 }") != std::string::npos);
    CHECK(text.find("add element inet kube-ipvsd service-ranges-v6 { fd00:10:96::/112 }") != std::string::npos);
    CHECK(text.find("ct state new ip daddr @service-ranges-v4 jump host-protection") != std::string::npos);
    CHECK(text.find("ct state new ip6 daddr @service-ranges-v6 jump host-protection") != std::string::npos);
}

TEST_CASE("The rules each chain holds are counted from the table's own text", "[unit]")
{
    const auto rules = ipvs::rulesPerChainOf(ipvs::renderFirewall({}, {}));
    CHECK(rules.at("mark-for-masquerade") == 1);
    CHECK(rules.at("filter-forward") == 4);  // two firewalled jumps, the mark, established
    CHECK(rules.at("nat-postrouting") == 5);
    CHECK(rules.size() == 10);
    CHECK(ipvs::rulesPerChainOf("table inet t {\n  chain empty {\n    type filter hook input priority 0;\n  }\n}\n") ==
          std::map<std::string, size_t>{{"empty", 0}});
}

TEST_CASE("The local-traffic detectors: a CIDR per family, or the input interface for both", "[unit]")
{
    const std::string v4 = "ip daddr . meta l4proto . th dport @cluster-ips-v4 jump mark-for-masquerade";
    const std::string v6 = "ip6 daddr . meta l4proto . th dport @cluster-ips-v6 jump mark-for-masquerade";
    ipvs::FirewallConfig config;
    config.local = {ipvs::LocalTraffic::Match::SourceCidr, {*Cidr::parse("fd00:10:244:3::/64")}, {}};
    auto text = ipvs::renderFirewall(config, {});
    CHECK(text.find("ip6 saddr != fd00:10:244:3::/64 " + v6) != std::string::npos);
    // No IPv4 CIDR: what a service address sends is masqueraded, as kube-proxy without a detector.
    CHECK(text.find("ip saddr . meta l4proto . th dport @cluster-ips-v4 jump") != std::string::npos);

    config.local = {ipvs::LocalTraffic::Match::InputInterface, {}, "veth*"};
    text = ipvs::renderFirewall(config, {});
    CHECK(text.find("iifname != \"veth*\" " + v4) != std::string::npos);
    CHECK(text.find("iifname != \"veth*\" " + v6) != std::string::npos);
    CHECK(count(text, "saddr != ") == 0);
    CHECK(count(text, "saddr . meta l4proto . th dport @cluster-ips") == 0);
}

TEST_CASE("Service traffic gets an identity DNAT before any other nat chain can DNAT it", "[unit]")
{
    const auto text = ipvs::renderFirewall({}, {});
    for (const char* hook : {"prerouting", "output"})
        CHECK(text.find(std::string("type nat hook ") + hook + " priority -110;") != std::string::npos);
    CHECK(count(text, "ip daddr . meta l4proto . th dport @cluster-ips-v4 dnat ip to ip daddr\n") == 2);
    CHECK(count(text, "ip6 daddr . meta l4proto . th dport @load-balancers-v6 dnat ip6 to ip6 daddr\n") == 2);
    CHECK(count(text, "ip daddr @service-addresses-v4 ip daddr . meta l4proto . th dport @external-v4 dnat") == 2);
}

TEST_CASE("Set changes apply idempotently, and changes not yet sent merge and cancel out", "[unit]")
{
    const auto a = ipPort("10.96.0.1", Protocol::Tcp, 80), b = ipPort("10.96.0.2", Protocol::Tcp, 80);
    ipvs::FirewallSets wanted;
    wanted.clusterIPs = {a};
    ipvs::FirewallSetChanges changes;
    changes.present.clusterIPs = {a, b};  // a is already there
    changes.absent.serviceAddresses = {*InetAddress::parse("10.96.0.9")};  // never was
    auto effective = ipvs::applyChanges(wanted, changes);
    CHECK(effective.present.clusterIPs == ipvs::ElementSet<IpPort>{b});
    CHECK(effective.absent.serviceAddresses.empty());
    CHECK(wanted.clusterIPs == ipvs::ElementSet<IpPort>{a, b});

    // b added, then removed before anything was sent: nothing to send for b.
    ipvs::FirewallSetChanges removeB;
    removeB.absent.clusterIPs = {b};
    ipvs::mergeChanges(effective, ipvs::applyChanges(wanted, removeB));
    CHECK(effective.present.clusterIPs.empty());
    CHECK(effective.absent.clusterIPs.empty());
    // a removed, then added again: nothing either.
    ipvs::FirewallSetChanges removeA, addA;
    removeA.absent.clusterIPs = {a};
    addA.present.clusterIPs = {a};
    ipvs::mergeChanges(effective, ipvs::applyChanges(wanted, removeA));
    CHECK(effective.absent.clusterIPs == ipvs::ElementSet<IpPort>{a});
    ipvs::mergeChanges(effective, ipvs::applyChanges(wanted, addA));
    CHECK(effective.absent.clusterIPs.empty());
    CHECK(effective.present.clusterIPs.empty());

    const auto between = ipvs::changesBetween(wanted, ipvs::FirewallSets{});
    CHECK(between.absent.clusterIPs == ipvs::ElementSet<IpPort>{a});
    CHECK(between.present.clusterIPs.empty());
}

TEST_CASE("Large set changes, merged in one pass, give what element-by-element changes give", "[unit]")
{
    // Every element a port of 10.96.0.1; each step adds and removes random ports, more of them than
    // a change applied element by element (16) from the third step on. The model: std::set, one
    // element at a time.
    std::mt19937 random(7);
    const auto port = [](int p) { return ipPort("10.96.0.1", Protocol::Tcp, static_cast<uint16_t>(p)); };
    // Half the ports are in the set and sent already: removing one and adding it back cancels out.
    ipvs::FirewallSets wanted;
    std::set<IpPort> model;
    for (int p = 0; p < 250; ++p) {
        wanted.clusterIPs.insert(port(p));
        model.insert(port(p));
    }
    ipvs::FirewallSetChanges unsent;
    std::set<IpPort> modelAdded, modelRemoved;
    for (int step = 0; step < 40; ++step) {
        ipvs::FirewallSetChanges changes;
        const int size = step < 2 ? 4 : 10 * step;
        for (int i = 0; i < size; ++i) {
            const auto e = port(static_cast<int>(random() % 500));
            if (random() % 2 && !changes.absent.clusterIPs.count(e))
                changes.present.clusterIPs.insert(e);
            else if (!changes.present.clusterIPs.count(e))
                changes.absent.clusterIPs.insert(e);
        }
        std::set<IpPort> added, removed;
        for (const auto& e : changes.present.clusterIPs)
            if (model.insert(e).second)
                added.insert(e);
        for (const auto& e : changes.absent.clusterIPs)
            if (model.erase(e))
                removed.insert(e);
        for (const auto& e : added)
            if (!modelRemoved.erase(e))
                modelAdded.insert(e);
        for (const auto& e : removed)
            if (!modelAdded.erase(e))
                modelRemoved.insert(e);

        const auto effective = ipvs::applyChanges(wanted, changes);
        ipvs::mergeChanges(unsent, effective);
        CHECK(std::set<IpPort>(wanted.clusterIPs.begin(), wanted.clusterIPs.end()) == model);
        CHECK(std::set<IpPort>(effective.present.clusterIPs.begin(), effective.present.clusterIPs.end()) == added);
        CHECK(std::set<IpPort>(effective.absent.clusterIPs.begin(), effective.absent.clusterIPs.end()) == removed);
        CHECK(std::set<IpPort>(unsent.present.clusterIPs.begin(), unsent.present.clusterIPs.end()) == modelAdded);
        CHECK(std::set<IpPort>(unsent.absent.clusterIPs.begin(), unsent.absent.clusterIPs.end()) == modelRemoved);
    }
}

TEST_CASE("nft's JSON listing: set elements in nft's syntax and rules per chain", "[unit]")
{
    const std::string json = R"({"nftables": [{"metainfo": {"version": "1.0.6"}},
      {"table": {"family": "inet", "name": "kube-ipvsd", "handle": 1}},
      {"set": {"family": "inet", "name": "cluster-ips-v4", "table": "kube-ipvsd", "handle": 2,
               "elem": [{"concat": ["10.96.0.10", "udp", 53]}]}},
      {"set": {"family": "inet", "name": "allowed-sources-v4", "table": "kube-ipvsd", "handle": 3,
               "elem": [{"concat": ["203.0.113.10", "tcp", 443, {"prefix": {"addr": "198.51.100.0", "len": 24}}]},
                        {"concat": ["203.0.113.10", "tcp", 443, "203.0.113.10"]}]}},
      {"set": {"family": "inet", "name": "health-check-ports", "table": "kube-ipvsd", "handle": 4, "elem": [32000]}},
      {"set": {"family": "inet", "name": "external-v4", "table": "kube-ipvsd", "handle": 5}},
      {"chain": {"family": "inet", "table": "kube-ipvsd", "name": "services", "handle": 6}},
      {"chain": {"family": "inet", "table": "kube-ipvsd", "name": "empty", "handle": 7}},
      {"rule": {"family": "inet", "table": "kube-ipvsd", "chain": "services", "handle": 8, "expr": []}},
      {"rule": {"family": "inet", "table": "kube-ipvsd", "chain": "services", "handle": 9, "expr": []}}]})";
    auto listing = ipvs::parseFirewallListing(json);
    REQUIRE(listing);
    CHECK(listing->sets["cluster-ips-v4"] == std::set<std::string>{"10.96.0.10 . udp . 53"});
    CHECK(listing->sets["allowed-sources-v4"] == std::set<std::string>{"203.0.113.10 . tcp . 443 . 198.51.100.0/24",
                                                                       "203.0.113.10 . tcp . 443 . 203.0.113.10"});
    CHECK(listing->sets["health-check-ports"] == std::set<std::string>{"32000"});
    CHECK(listing->sets["external-v4"].empty());
    CHECK(listing->rulesPerChain == std::map<std::string, size_t>{{"services", 2}, {"empty", 0}});
    CHECK_FALSE(ipvs::parseFirewallListing("{not json"));
}

TEST_CASE("The table's structure is taken out of a terse ruleset listing with other tables in it", "[unit]")
{
    // As `nft -t -j list ruleset inet` printed it (nftables 1.0.6), with a neighbour's table of
    // the same family and a table of another family under the same name.
    const std::string ruleset = R"({"nftables": [
      {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
      {"table": {"family": "inet", "name": "firewalld", "handle": 1}},
      {"set": {"family": "inet", "name": "cluster-ips", "table": "firewalld", "type": "ipv4_addr", "handle": 2}},
      {"chain": {"family": "inet", "table": "firewalld", "name": "services", "handle": 3}},
      {"rule": {"family": "inet", "table": "firewalld", "chain": "services", "handle": 4, "expr": [{"accept": null}]}},
      {"table": {"family": "inet", "name": "kube-ipvsd", "handle": 5}},
      {"set": {"family": "inet", "name": "cluster-ips", "table": "kube-ipvsd", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 6}},
      {"chain": {"family": "inet", "table": "kube-ipvsd", "name": "services", "handle": 7}},
      {"rule": {"family": "inet", "table": "kube-ipvsd", "chain": "services", "handle": 8, "expr": [{"accept": null}]}},
      {"rule": {"family": "inet", "table": "kube-ipvsd", "chain": "services", "handle": 9, "expr": [{"drop": null}]}},
      {"table": {"family": "ip", "name": "kube-ipvsd", "handle": 10}},
      {"chain": {"family": "ip", "table": "kube-ipvsd", "name": "services", "handle": 11}},
      {"rule": {"family": "ip", "table": "kube-ipvsd", "chain": "services", "handle": 12, "expr": [{"drop": null}]}}]})";
    auto table = ipvs::tableOfRuleset(ruleset, "inet", "kube-ipvsd");
    REQUIRE(table);
    auto listing = ipvs::parseFirewallListing(*table);
    REQUIRE(listing);
    CHECK(listing->sets.size() == 1);
    CHECK(listing->sets.count("cluster-ips") == 1);
    CHECK(listing->rulesPerChain == std::map<std::string, size_t>{{"services", 2}});

    auto missing = ipvs::tableOfRuleset(ruleset, "inet", "kube-proxy");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ENOENT);
    auto broken = ipvs::tableOfRuleset(R"({"nftables": [)", "inet", "kube-ipvsd");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().code == EINVAL);
}
