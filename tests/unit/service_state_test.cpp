// SPDX-License-Identifier: Apache-2.0
// Change tracking: only the Services an event touches are recomputed, and only virtual servers
// whose wanted state changed are reported.
#include <catch2/catch.hpp>

#include "proxy/service_state.h"

using namespace kipvs;
using namespace kipvs::proxy;

namespace {

watch::StringPool& pool()
{
    static watch::StringPool p;
    return p;
}

InetAddress ip(const std::string& text)
{
    return *InetAddress::parse(text);
}

watch::Service service(const std::string& name, const std::string& clusterIP, uint16_t port = 80)
{
    watch::Service s;
    s.key = {pool().intern("shop"), name};
    s.clusterIPs = {ip(clusterIP)};
    s.ports = {{"http", Protocol::Tcp, port, 0}};
    return s;
}

watch::EndpointSlice slice(const std::string& name, const std::string& serviceName, std::vector<std::string> addresses)
{
    watch::EndpointSlice e;
    e.key = {pool().intern("shop"), name};
    e.serviceName = serviceName;
    e.ports = {{"http", Protocol::Tcp, 8080}};
    for (const auto& a : addresses) {
        watch::Endpoint ep;
        ep.address = ip(a);
        e.endpoints.push_back(ep);
    }
    return e;
}

ipvs::VirtualServerKey vsKey(const std::string& address, uint16_t port = 80)
{
    return ipvs::VirtualServerKey{AF_INET, Protocol::Tcp, ip(address), port, 0};
}

std::set<ipvs::VirtualServerKey> keys(std::initializer_list<const char*> addresses)
{
    std::set<ipvs::VirtualServerKey> out;
    for (const char* a : addresses)
        out.insert(vsKey(a));
    return out;
}

std::set<ipvs::VirtualServerKey> keysOf(const WantedChanges& changes)
{
    std::set<ipvs::VirtualServerKey> out;
    for (const auto& [key, state] : changes)
        out.insert(key);
    return out;
}

}  // namespace

TEST_CASE("Only the Services an event touches are recomputed and reported", "[unit]")
{
    ServiceState state;
    NodeView node;
    ProxierConfig config;
    state.upsertService(service("a", "10.96.0.1"));
    state.upsertService(service("b", "10.96.0.2"));
    state.upsertSlice(slice("a-1", "a", {"10.244.0.1"}));
    state.upsertSlice(slice("b-1", "b", {"10.244.0.2"}));
    CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1", "10.96.0.2"}));
    CHECK(state.wanted().at(vsKey("10.96.0.1"))->realServers.size() == 1);
    CHECK(state.boundAddresses() == std::set<InetAddress>{ip("10.96.0.1"), ip("10.96.0.2")});

    SECTION("a slice change marks only its Service")
    {
        state.upsertSlice(slice("a-1", "a", {"10.244.0.1", "10.244.0.9"}));
        CHECK(state.dirtyCount() == 1);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1"}));
        CHECK(state.wanted().at(vsKey("10.96.0.1"))->realServers.size() == 2);
    }
    SECTION("an update that changes nothing proxied reports nothing")
    {
        auto same = service("b", "10.96.0.2");
        same.resourceVersion = "99";
        state.upsertService(same);
        CHECK(state.recompute(node, config).empty());
        CHECK(state.recompute(node, config).empty());  // and nothing is left dirty
    }
    SECTION("a port change replaces the virtual server")
    {
        state.upsertService(service("a", "10.96.0.1", 8443));
        auto changes = state.recompute(node, config);
        CHECK(keysOf(changes) == std::set<ipvs::VirtualServerKey>{vsKey("10.96.0.1", 80), vsKey("10.96.0.1", 8443)});
        CHECK(changes.at(vsKey("10.96.0.1", 80)) == nullptr);  // gone
        // The change hands over the wanted state itself, not a copy of it.
        CHECK(changes.at(vsKey("10.96.0.1", 8443)) == state.wanted().at(vsKey("10.96.0.1", 8443)));
        CHECK_FALSE(state.wanted().count(vsKey("10.96.0.1", 80)));
    }
    SECTION("a deleted Service takes its virtual servers and addresses along")
    {
        state.deleteService(service("a", "10.96.0.1").key);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1"}));
        CHECK(state.wanted().size() == 1);
        CHECK(state.boundAddresses() == std::set<InetAddress>{ip("10.96.0.2")});
    }
    SECTION("a slice moved to another Service changes both")
    {
        state.upsertSlice(slice("a-1", "b", {"10.244.0.1"}));
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1", "10.96.0.2"}));
        CHECK(state.wanted().at(vsKey("10.96.0.1"))->realServers.empty());
        CHECK(state.wanted().at(vsKey("10.96.0.2"))->realServers.size() == 2);
    }
    SECTION("a deleted slice empties its Service's real servers")
    {
        state.deleteSlice(slice("b-1", "b", {}).key);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.2"}));
        CHECK(state.wanted().at(vsKey("10.96.0.2"))->realServers.empty());
    }
    SECTION("a configuration change recomputes everything, reporting what differs")
    {
        config.scheduler = "lc";
        state.markAllDirty();
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1", "10.96.0.2"}));
        CHECK(state.wanted().at(vsKey("10.96.0.2"))->server.scheduler == "lc");
    }
    SECTION("two Services claiming one external IP: the first keeps it, the second gets it when freed")
    {
        auto c = service("c", "10.96.0.3");
        c.externalIPs = {ip("192.0.2.1")};
        auto d = service("d", "10.96.0.4");
        d.externalIPs = {ip("192.0.2.1")};
        state.upsertService(c);
        state.recompute(node, config);
        state.upsertService(d);
        state.recompute(node, config);
        state.deleteService(c.key);
        CHECK(state.recompute(node, config).count(vsKey("192.0.2.1")) == 1);
        CHECK_FALSE(state.wanted().count(vsKey("192.0.2.1")));  // d is not dirty yet: next time
        state.upsertService(d);
        CHECK(state.recompute(node, config).count(vsKey("192.0.2.1")) == 1);
        CHECK(state.wanted().count(vsKey("192.0.2.1")) == 1);
    }
}

TEST_CASE("The node reaches a firewalled load-balancer IP only when its node IP is in the ranges", "[unit]")
{
    ServiceState state;
    auto lb = service("lb", "10.96.0.50");
    lb.type = watch::Service::Type::LoadBalancer;
    lb.ports[0].nodePort = 30082;
    lb.loadBalancerIngress = {{ip("203.0.113.10"), false}};
    lb.loadBalancerSourceRanges = {*Cidr::parse("192.168.122.0/24")};
    state.upsertService(lb);
    state.upsertSlice(slice("lb-1", "lb", {"10.244.0.1"}));
    NodeView node;
    node.localAddresses = {ip("192.168.122.10"), ip("192.168.123.10")};
    state.recompute(node, ProxierConfig{});
    const IpPort lbPort{ip("203.0.113.10"), Protocol::Tcp, 80};
    const std::pair<IpPort, Cidr> fromNode{lbPort, *Cidr::parse("203.0.113.10/32")};
    // As kube-proxy: the node IP (the Node's InternalIP, or --bind-address) decides, not any address.
    auto sets = state.firewallSets({ip("192.168.122.10")});
    CHECK(sets.firewalled == std::set<IpPort>{lbPort});
    CHECK(sets.allowedSources.count({lbPort, *Cidr::parse("192.168.122.0/24")}) == 1);
    CHECK(sets.allowedSources.count(fromNode) == 1);
    CHECK(state.firewallSets({ip("192.168.123.10")}).allowedSources.count(fromNode) == 0);
}
