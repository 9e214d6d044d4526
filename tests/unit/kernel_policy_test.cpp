// SPDX-License-Identifier: Apache-2.0
// The start-up sysctls by kernel version, and which virtual servers are the daemon's.
#include <catch2/catch.hpp>

#include "proxy/kernel_policy.h"
#include "proxy/owned_addresses.h"
#include "temp_dir.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using namespace kipvs::proxy;

TEST_CASE("conn_reuse_mode=0 only on kernels from 4.1 to before 5.9; strict ARP on request", "[unit]")
{
    auto has = [](const std::vector<SysctlSetting>& list, const std::string& name) {
        return std::any_of(list.begin(), list.end(), [&](const SysctlSetting& s) { return s.name == name; });
    };
    const struct {
        const char* release;
        bool reuse;
    } cases[] = {{"3.10.0-1160.el7.x86_64", false},
                 {"4.1.0", true},
                 {"4.19.0-26-amd64", true},
                 {"5.8.18", true},
                 {"5.9.0", false},
                 {"6.1.0-26-amd64", false},
                 {"garbage", false}};
    for (const auto& c : cases) {
        INFO(c.release);
        auto settings = ipvsSysctls(c.release, false);
        CHECK(has(settings, "net/ipv4/vs/conn_reuse_mode") == c.reuse);
        CHECK(has(settings, "net/ipv4/vs/conntrack"));
        CHECK(has(settings, "net/ipv4/ip_forward"));
        CHECK_FALSE(has(settings, "net/ipv4/conf/all/arp_ignore"));
    }
    auto strict = ipvsSysctls("6.1.0", true);
    CHECK(std::find(strict.begin(), strict.end(), SysctlSetting{"net/ipv4/conf/all/arp_announce", "2"}) !=
          strict.end());
}

TEST_CASE("Applying sysctls reports each failure by name and carries on", "[unit]")
{
    kipvs::test::TempDir tree;
    tree.write("net/ipv4/vs/conntrack", "0\n");
    tree.write("net/ipv4/ip_forward", "0\n");
    auto failures =
        applySysctls(Sysctls(tree.path.string()),
                     {{"net/ipv4/vs/conntrack", "1"}, {"net/ipv4/vs/missing", "1"}, {"net/ipv4/ip_forward", "1"}});
    REQUIRE(failures.size() == 1);
    CHECK(failures[0].message().find("net/ipv4/vs/missing") != std::string::npos);
    CHECK(tree.read("net/ipv4/ip_forward") == "1\n");
}

TEST_CASE("Conntrack sysctls as kube-proxy: max(perCore x CPUs, min), zero leaves a value alone", "[unit]")
{
    ConntrackPolicy defaults{32768, 131072, std::chrono::hours(24), std::chrono::hours(1), false, {}, {}};
    CHECK(conntrackMax(defaults, 2) == 131072);  // the floor
    CHECK(conntrackMax(defaults, 8) == 262144);
    CHECK(conntrackSysctls(defaults, 8) ==
          std::vector<SysctlSetting>{{"net/netfilter/nf_conntrack_max", "262144"},
                                     {"net/netfilter/nf_conntrack_tcp_timeout_established", "86400"},
                                     {"net/netfilter/nf_conntrack_tcp_timeout_close_wait", "3600"}});
    ConntrackPolicy all{0, 131072, {}, {}, true, std::chrono::seconds(30), std::chrono::seconds(120)};
    CHECK(conntrackMax(all, 8) == 0);  // maxPerCore 0: --conntrack-min is ignored too
    CHECK(conntrackSysctls(all, 8) ==
          std::vector<SysctlSetting>{{"net/netfilter/nf_conntrack_tcp_be_liberal", "1"},
                                     {"net/netfilter/nf_conntrack_udp_timeout", "30"},
                                     {"net/netfilter/nf_conntrack_udp_timeout_stream", "120"}});
}

TEST_CASE(
    "Owned addresses: service addresses bound or wanted, ranges, NodePort ports of node addresses, recorded NodePorts",
    "[unit]")
{
    auto ip = [](const char* t) { return *InetAddress::parse(t); };
    OwnedAddresses owned{{ip("10.96.0.10"), ip("10.100.0.1")},
                         {*Cidr::parse("10.97.0.0/16"), *Cidr::parse("10.100.128.0/17")},
                         {ip("192.168.1.10")},
                         {*Cidr::parse("10.100.0.0/16")},
                         kDefaultNodePortRange,
                         {IpPort{ip("192.168.1.99"), Protocol::Udp, 30053}},
                         {ip("10.96.0.20"), ip("10.100.0.2")}};
    auto key = [&](const char* a, uint16_t port, Protocol p = Protocol::Tcp) {
        return VirtualServerKey{AF_INET, p, ip(a), port, 0};
    };
    CHECK(owned.owns(key("10.96.0.10", 80)));  // on kube-ipvs0: any port
    CHECK(owned.owns(key("10.96.0.10", 31000)));
    CHECK(owned.owns(key("10.96.0.20", 443)));  // wanted there (bound or routed): any port
    CHECK_FALSE(owned.owns(key("10.100.0.2", 80)));  // wanted, but excluded
    CHECK(owned.owns(key("192.168.1.10", 30000)));  // node address, NodePort range, both ends
    CHECK(owned.owns(key("192.168.1.10", 32767)));
    CHECK_FALSE(owned.owns(key("192.168.1.10", 80)));  // keepalived's on a node (VRRP) address
    CHECK_FALSE(owned.owns(key("192.168.1.10", 29999)));
    CHECK_FALSE(owned.owns(key("192.168.1.10", 32768)));
    CHECK(owned.owns(key("192.168.1.99", 30053, Protocol::Udp)));  // recorded: its address left the node
    CHECK_FALSE(owned.owns(key("192.168.1.99", 30053)));  // the same port, another protocol
    CHECK_FALSE(owned.owns(key("192.168.1.99", 30054, Protocol::Udp)));
    CHECK(owned.owns(key("10.97.3.4", 53)));  // in a routed service range: any address, any port
    CHECK_FALSE(owned.owns(key("10.98.0.1", 53)));
    CHECK_FALSE(owned.owns(key("10.100.128.1", 80)));  // excluded although routed
    CHECK_FALSE(owned.owns(key("10.100.0.1", 80)));  // excluded although bound
    CHECK_FALSE(owned.owns(key("10.200.0.1", 30000)));  // someone else's
    CHECK_FALSE(owned.owns(VirtualServerKey{AF_INET, Protocol::Tcp, {}, 0, 7}));  // firewall marks
    owned.nodePorts = PortRange{20000, 20999};
    CHECK(owned.owns(key("192.168.1.10", 20000)));
    CHECK_FALSE(owned.owns(key("192.168.1.10", 30000)));
}
