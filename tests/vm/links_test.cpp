// SPDX-License-Identifier: Apache-2.0
// kube-ipvs0, its addresses, node addresses and sysctls against the real kernel, checked with `ip`.
#include <catch2/catch.hpp>

#include <algorithm>

#include "ipvs/host/address_plan.h"
#include "ipvs/host/links.h"
#include "ipvs/host/sysctl.h"
#include "ipvsadm_save.h"
#include "proxy/kernel_policy.h"
#include "proxy/owned_addresses.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using kipvs::proxy::kServiceLinkName;
using kipvs::test::runCommand;

namespace {

InetAddress ip(const char* text)
{
    return *InetAddress::parse(text);
}

LinkClient openLinks()
{
    auto links = LinkClient::open();
    if (!links)
        FAIL(links.error().message());
    REQUIRE(links->deleteLink(kServiceLinkName));
    return std::move(*links);
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("kube-ipvs0 is created once, as a dummy link left down", "[vm]")
{
    auto links = openLinks();
    auto missing = links.linkIndex(kServiceLinkName);
    REQUIRE(missing);
    CHECK(*missing == 0);
    auto created = links.ensureDummyLink(kServiceLinkName);
    REQUIRE(created);
    CHECK(*created > 0);
    auto again = links.ensureDummyLink(kServiceLinkName);
    REQUIRE(again);
    CHECK(*again == *created);
    auto details = runCommand("ip -d link show kube-ipvs0");
    CHECK(contains(details, "dummy"));
    CHECK_FALSE(contains(details, ",UP"));
    REQUIRE(links.deleteLink(kServiceLinkName));
    CHECK(runCommand("ip -br link").find("kube-ipvs0") == std::string::npos);
    REQUIRE(links.deleteLink(kServiceLinkName));  // already gone: still success
}

TEST_CASE("Host addresses of both families are bound, listed and removed on kube-ipvs0", "[vm]")
{
    auto links = openLinks();
    auto index = links.ensureDummyLink(kServiceLinkName);
    REQUIRE(index);
    const std::vector<InetAddress> wanted = {ip("10.96.0.1"), ip("10.96.0.10"), ip("fd00::1"), ip("2001:db8::a")};
    for (const auto& a : wanted) {
        REQUIRE(links.addAddress(*index, a));
        REQUIRE(links.addAddress(*index, a));  // twice: still success
    }
    auto listed = links.addresses(*index);
    REQUIRE(listed);
    std::sort(listed->begin(), listed->end());
    auto sortedWanted = wanted;
    std::sort(sortedWanted.begin(), sortedWanted.end());
    CHECK(*listed == sortedWanted);

    auto shown = runCommand("ip addr show dev kube-ipvs0");
    CHECK(contains(shown, "inet 10.96.0.1/32"));
    CHECK(contains(shown, "inet 10.96.0.10/32"));
    CHECK(contains(shown, "inet6 fd00::1/128"));
    CHECK(contains(shown, "inet6 2001:db8::a/128"));
    // The addresses are local, so the kernel answers for them even with the link down.
    CHECK(contains(runCommand("ip route show table local"), "local 10.96.0.10 dev kube-ipvs0"));

    auto plan = planAddresses(*listed, {ip("10.96.0.10"), ip("fd00::1"), ip("10.96.0.99")});
    CHECK(plan.add == std::vector<InetAddress>{ip("10.96.0.99")});
    for (const auto& a : plan.add)
        REQUIRE(links.addAddress(*index, a));
    for (const auto& a : plan.remove) {
        REQUIRE(links.removeAddress(*index, a));
        REQUIRE(links.removeAddress(*index, a));  // twice: still success
    }
    shown = runCommand("ip addr show dev kube-ipvs0");
    CHECK(contains(shown, "inet 10.96.0.99/32"));
    CHECK(contains(shown, "inet 10.96.0.10/32"));
    CHECK(contains(shown, "inet6 fd00::1/128"));
    CHECK_FALSE(contains(shown, "10.96.0.1/32"));
    CHECK_FALSE(contains(shown, "2001:db8::a"));
}

TEST_CASE("Service ranges are routed as local, marked as kube-ipvsd's, whatever kube-ipvs0 holds", "[vm]")
{
    auto links = openLinks();
    auto index = links.ensureDummyLink(kServiceLinkName);
    REQUIRE(index);
    const Cidr v4 = *Cidr::parse("10.96.0.0/16"), v6 = *Cidr::parse("fd00:96::/112");
    // Someone else's AnyIP range on lo: never listed as ours.
    runCommand("ip route add local 192.0.2.0/24 dev lo table local");
    // Host bits set, as the API allows: the route is the network's.
    for (const auto& range : {*Cidr::parse("10.96.7.7/16"), v6}) {
        for (int twice = 0; twice < 2; ++twice) {  // the second: still success
            auto added = links.addLocalRoute(range);
            if (!added)
                FAIL(added.error().message());
        }
    }
    REQUIRE(links.addAddress(*index, ip("203.0.113.10")));  // an external IP: bound, with its kernel route
    auto routes = links.localRoutes();
    REQUIRE(routes);
    std::sort(routes->begin(), routes->end());
    CHECK(*routes == std::vector<Cidr>{v4, v6});
    CHECK(contains(runCommand("ip -4 route show table local proto 107"), "local 10.96.0.0/16 dev lo"));
    CHECK(contains(runCommand("ip -6 route show table local proto 107"), "local fd00:96::/112 dev lo"));
    // Every address in the range is local, none bound, with kube-ipvs0 down.
    CHECK(contains(runCommand("ip route get 10.96.200.1"), "local 10.96.200.1 dev lo"));
    CHECK(contains(runCommand("ip -6 route get fd00:96::1234"), "local fd00:96::1234"));
    CHECK_FALSE(contains(runCommand("ip addr show dev kube-ipvs0"), "10.96."));
    // kube-ipvs0 losing its last IPv4 address takes its IPv4 routes (fib_disable_ip), not these.
    REQUIRE(links.removeAddress(*index, ip("203.0.113.10")));
    routes = links.localRoutes();
    REQUIRE(routes);
    CHECK(routes->size() == 2);

    for (const auto& range : {v4, v6}) {
        REQUIRE(links.removeLocalRoute(range));
        REQUIRE(links.removeLocalRoute(range));  // already gone: still success
    }
    routes = links.localRoutes();
    REQUIRE(routes);
    CHECK(routes->empty());
    CHECK_FALSE(contains(runCommand("ip route get 10.96.200.1 2>&1; true"), "local"));  // unreachable here
    CHECK(contains(runCommand("ip route show table local"), "local 192.0.2.0/24 dev lo"));
    runCommand("ip route del local 192.0.2.0/24 dev lo table local");
}

TEST_CASE("Node addresses leave out loopback, IPv6 link-local and kube-ipvs0", "[vm]")
{
    auto links = openLinks();
    runCommand("ip link add node0 type veth peer name node1 && ip link set node0 up && ip link set node1 up");
    runCommand("ip addr add 192.168.50.2/24 dev node0 && ip addr add 2001:db8:50::2/64 dev node0 nodad");
    runCommand("ip addr add 169.254.20.1/16 dev node1");
    auto index = links.ensureDummyLink(kServiceLinkName);
    REQUIRE(index);
    REQUIRE(links.addAddress(*index, ip("10.96.0.1")));

    auto node = links.nodeAddresses(kServiceLinkName);
    REQUIRE(node);
    CHECK(std::find(node->begin(), node->end(), InterfaceAddress{"node0", ip("192.168.50.2")}) != node->end());
    CHECK(std::find(node->begin(), node->end(), InterfaceAddress{"node0", ip("2001:db8:50::2")}) != node->end());
    // IPv4 link-local stays, as upstream keeps it.
    CHECK(std::find(node->begin(), node->end(), InterfaceAddress{"node1", ip("169.254.20.1")}) != node->end());
    for (const auto& a : *node) {
        INFO(a.interface << " " << a.address.toString());
        CHECK_FALSE(a.address.isLoopback());
        CHECK_FALSE((a.address.isV6() && a.address.isLinkLocal()));
        CHECK(a.interface != kServiceLinkName);
    }
    runCommand("ip link del node0");
}

TEST_CASE("IPVS and forwarding sysctls are written only when they differ", "[vm]")
{
    REQUIRE(runCommand("modprobe ip_vs && echo ok") == "ok\n");
    Sysctls sysctls;
    REQUIRE(sysctls.ensure("net/ipv4/vs/conntrack", "0"));
    auto wrote = sysctls.ensure("net/ipv4/vs/conntrack", "1");
    REQUIRE(wrote);
    CHECK(*wrote);
    CHECK(runCommand("cat /proc/sys/net/ipv4/vs/conntrack") == "1\n");
    auto again = sysctls.ensure("net/ipv4/vs/conntrack", "1");
    REQUIRE(again);
    CHECK_FALSE(*again);
    for (const char* name : {"net/ipv4/vs/expire_nodest_conn", "net/ipv4/vs/expire_quiescent_template",
                             "net/ipv4/ip_forward", "net/ipv4/conf/all/arp_ignore"}) {
        INFO(name);
        REQUIRE(sysctls.ensure(name, "1"));
        CHECK(*sysctls.read(name) == "1");
    }
    REQUIRE(sysctls.ensure("net/ipv4/conf/all/arp_announce", "2"));
    CHECK(runCommand("sysctl -n net.ipv4.conf.all.arp_announce") == "2\n");
    auto bad = sysctls.ensure("net/ipv4/vs/conntrack", "banana");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == EINVAL);
}

TEST_CASE("The start-up sysctls are applied on the real kernel, conn_reuse_mode left alone on 6.x", "[vm]")
{
    REQUIRE(runCommand("modprobe ip_vs && echo ok") == "ok\n");
    const std::string release = runCommand("uname -r");
    const std::string reuseBefore = runCommand("cat /proc/sys/net/ipv4/vs/conn_reuse_mode");
    auto failures = applySysctls(Sysctls(), kipvs::proxy::ipvsSysctls(release, true));
    for (const auto& f : failures)
        FAIL_CHECK(f.message());
    CHECK(runCommand(
              "sysctl -n net.ipv4.vs.conntrack net.ipv4.vs.expire_nodest_conn net.ipv4.vs.expire_quiescent_template "
              "net.ipv4.ip_forward net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce") ==
          "1\n1\n1\n1\n1\n2\n");
    CHECK(runCommand("cat /proc/sys/net/ipv4/vs/conn_reuse_mode") == reuseBefore);
}
