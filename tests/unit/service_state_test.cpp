// SPDX-License-Identifier: Apache-2.0
// Change tracking: only the Services an event touches are recomputed, and only virtual servers
// whose wanted state changed are reported.
#include <catch2/catch.hpp>

#include "base/rfc3339.h"
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

std::chrono::sys_seconds createdAt(const std::string& text)
{
    return std::chrono::floor<std::chrono::seconds>(*parseRfc3339(text));
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
    watch::EndpointPort http;
    http.named = true;
    http.name = pool().intern("http");
    http.port = 8080;
    e.ports = {http};
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
    CHECK(state.wantedTable().at(vsKey("10.96.0.1"))->realServers.size() == 1);
    CHECK(state.serviceAddresses() == std::set<InetAddress>{ip("10.96.0.1"), ip("10.96.0.2")});

    SECTION("a slice change marks only its Service")
    {
        state.upsertSlice(slice("a-1", "a", {"10.244.0.1", "10.244.0.9"}));
        CHECK(state.dirtyCount() == 1);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1"}));
        CHECK(state.wantedTable().at(vsKey("10.96.0.1"))->realServers.size() == 2);
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
        CHECK(changes.at(vsKey("10.96.0.1", 8443)) == state.wantedState(vsKey("10.96.0.1", 8443)));
        CHECK_FALSE(state.wantedTable().count(vsKey("10.96.0.1", 80)));
    }
    SECTION("a deleted Service takes its virtual servers and addresses along")
    {
        state.deleteService(service("a", "10.96.0.1").key);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1"}));
        CHECK(state.wantedCount() == 1);
        CHECK(state.serviceAddresses() == std::set<InetAddress>{ip("10.96.0.2")});
    }
    SECTION("a slice moved to another Service changes both")
    {
        state.upsertSlice(slice("a-1", "b", {"10.244.0.1"}));
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1", "10.96.0.2"}));
        CHECK(state.wantedTable().at(vsKey("10.96.0.1"))->realServers.empty());
        CHECK(state.wantedTable().at(vsKey("10.96.0.2"))->realServers.size() == 2);
    }
    SECTION("a deleted slice empties its Service's real servers")
    {
        state.deleteSlice(slice("b-1", "b", {}).key);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.2"}));
        CHECK(state.wantedTable().at(vsKey("10.96.0.2"))->realServers.empty());
    }
    SECTION("slices kept while their Service is absent: before it arrives, and between a delete and a re-create")
    {
        state.upsertSlice(slice("c-1", "c", {"10.244.0.3", "10.244.0.4"}));
        CHECK(state.recompute(node, config).empty());
        state.upsertService(service("c", "10.96.0.3"));
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.3"}));
        CHECK(state.wantedTable().at(vsKey("10.96.0.3"))->realServers.size() == 2);
        state.deleteService(service("c", "10.96.0.3").key);
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.3"}));
        CHECK(state.wantedState(vsKey("10.96.0.3")) == nullptr);
        state.upsertService(service("c", "10.96.0.3"));
        state.recompute(node, config);
        CHECK(state.wantedTable().at(vsKey("10.96.0.3"))->realServers.size() == 2);
    }
    SECTION("a Service gone with all its slices leaves nothing to recompute")
    {
        state.deleteSlice(slice("a-1", "a", {}).key);
        state.deleteService(service("a", "10.96.0.1").key);
        state.recompute(node, config);
        state.markAllDirty();
        CHECK(state.dirtyCount() == 1);
        CHECK(keysOf(state.recompute(node, config)).empty());
        CHECK(state.proxy(service("a", "10.96.0.1").key) == nullptr);
        CHECK(state.proxy(service("b", "10.96.0.2").key) != nullptr);
    }
    SECTION("a configuration change recomputes everything, reporting what differs")
    {
        config.scheduler = "lc";
        state.markAllDirty();
        CHECK(keysOf(state.recompute(node, config)) == keys({"10.96.0.1", "10.96.0.2"}));
        CHECK(state.wantedTable().at(vsKey("10.96.0.2"))->server.scheduler == "lc");
    }
    SECTION("two Services claiming one external IP: the older keeps it, the other takes it when freed")
    {
        auto c = service("c", "10.96.0.3");
        c.externalIPs = {ip("192.0.2.1")};
        c.created = createdAt("2026-05-01T10:00:00Z");
        auto d = service("d", "10.96.0.4");
        d.externalIPs = {ip("192.0.2.1")};
        d.created = createdAt("2026-03-01T10:00:00Z");  // older, though it arrives second
        state.upsertService(c);
        state.upsertSlice(slice("c-1", "c", {"10.244.0.3"}));
        state.recompute(node, config);
        state.upsertService(d);
        state.upsertSlice(slice("d-1", "d", {"10.244.0.4"}));
        auto changed = state.recompute(node, config);
        REQUIRE(changed.count(vsKey("192.0.2.1")) == 1);
        REQUIRE(changed.at(vsKey("192.0.2.1"))->realServers.size() == 1);
        CHECK(changed.at(vsKey("192.0.2.1"))->realServers[0].address == ip("10.244.0.4"));
        CHECK(state.conflicts() == 1);
        const auto warnings = state.takeWarnings();
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0].starts_with("shop/c: virtual server TCP 192.0.2.1:80 is also wanted by shop/d"));
        // The holder goes: the other Service is recomputed in the same pass and takes it.
        state.deleteService(d.key);
        changed = state.recompute(node, config);
        REQUIRE(changed.count(vsKey("192.0.2.1")) == 1);
        REQUIRE(changed.at(vsKey("192.0.2.1")));
        REQUIRE(changed.at(vsKey("192.0.2.1"))->realServers.size() == 1);
        CHECK(changed.at(vsKey("192.0.2.1"))->realServers[0].address == ip("10.244.0.3"));
        CHECK(state.conflicts() == 0);
    }
}

TEST_CASE("A ClusterIP is never taken by another Service's external IP, whatever the order", "[unit]")
{
    // kubernetes/kubernetes: a Service in namespace "aaa" with externalIPs [the kube-dns ClusterIP].
    auto dns = service("kube-dns", "10.96.0.10", 53);
    dns.key.namespaceName = pool().intern("kube-system");
    dns.ports[0].protocol = Protocol::Udp;
    dns.created = createdAt("2026-01-01T00:00:00Z");
    auto evil = service("evil", "10.96.7.7", 53);
    evil.key.namespaceName = pool().intern("aaa");
    evil.ports[0].protocol = Protocol::Udp;
    evil.externalIPs = {ip("10.96.0.10")};
    evil.created = createdAt("2025-01-01T00:00:00Z");  // older: age does not beat a ClusterIP
    auto dnsSlice = slice("kube-dns-1", "kube-dns", {"10.244.0.53"});
    dnsSlice.key.namespaceName = dns.key.namespaceName;
    dnsSlice.ports[0].protocol = Protocol::Udp;
    auto evilSlice = slice("evil-1", "evil", {"10.244.6.6"});
    evilSlice.key.namespaceName = evil.key.namespaceName;
    evilSlice.ports[0].protocol = Protocol::Udp;
    const ipvs::VirtualServerKey dnsKey{AF_INET, Protocol::Udp, ip("10.96.0.10"), 53, 0};
    const IpPort dnsEntry{ip("10.96.0.10"), Protocol::Udp, 53};
    for (bool evilFirst : {true, false}) {
        INFO("evil first: " << evilFirst);
        ServiceState state;
        if (evilFirst) {
            state.upsertService(evil);
            state.upsertSlice(evilSlice);
            state.recompute(NodeView{}, ProxierConfig{});
        }
        state.upsertService(dns);
        state.upsertSlice(dnsSlice);
        if (!evilFirst) {
            state.upsertService(evil);
            state.upsertSlice(evilSlice);
        }
        state.recompute(NodeView{}, ProxierConfig{});
        REQUIRE(state.wantedTable().count(dnsKey) == 1);
        REQUIRE(state.wantedTable().at(dnsKey)->realServers.size() == 1);
        CHECK(state.wantedTable().at(dnsKey)->realServers[0].address == ip("10.244.0.53"));
        CHECK(state.conflicts() == 1);
        const auto sets = state.firewallSets();
        CHECK(sets.clusterIPs.count(dnsEntry) == 1);
        CHECK(sets.external.count(dnsEntry) == 0);  // the loser's entry would masquerade all DNS
        const auto warnings = state.takeWarnings();
        CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& w) {
            return w.starts_with("aaa/evil: virtual server UDP 10.96.0.10:53 is also wanted by kube-system/kube-dns");
        }));
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
    node.primaryIPs = {ip("192.168.122.10")};
    state.recompute(node, ProxierConfig{});
    const IpPort lbPort{ip("203.0.113.10"), Protocol::Tcp, 80};
    const std::pair<IpPort, Cidr> fromNode{lbPort, *Cidr::parse("203.0.113.10/32")};
    // As kube-proxy: the node IP (the Node's InternalIP, or --bind-address) decides, not any address.
    auto sets = state.firewallSets();
    CHECK(sets.firewalled == ipvs::ElementSet<IpPort>{lbPort});
    CHECK(sets.allowedSources.count({lbPort, *Cidr::parse("192.168.122.0/24")}) == 1);
    CHECK(sets.allowedSources.count(fromNode) == 1);
    // A new node IP recomputes every Service (the daemon marks them all dirty).
    node.primaryIPs = {ip("192.168.123.10")};
    state.markAllDirty();
    state.recompute(node, ProxierConfig{});
    CHECK(state.firewallSets().allowedSources.count(fromNode) == 0);
    CHECK(state.firewallSets().allowedSources.count({lbPort, *Cidr::parse("192.168.122.0/24")}) == 1);
}

TEST_CASE("A sync is handed only the set elements whose membership changed", "[unit]")
{
    ServiceState state;
    NodeView node;
    ProxierConfig config;
    for (int i = 1; i <= 50; ++i) {
        const std::string n = std::to_string(i);
        state.upsertService(service("s" + n, "10.96.0." + n));
        state.upsertSlice(slice("s" + n + "-1", "s" + n, {"10.244.0." + n}));
    }
    state.recompute(node, config);
    auto first = state.takeSetChanges();
    CHECK(first.present.clusterIPs.size() == 50);
    CHECK(first.present.serviceAddresses.size() == 50);
    CHECK(first.absent.clusterIPs.empty());
    CHECK(state.takeSetChanges().present.clusterIPs.empty());  // taken: nothing left

    // An endpoint change touches no set; a Service deleted takes away exactly its entries.
    state.upsertSlice(slice("s7-1", "s7", {"10.244.1.7"}));
    state.deleteService(watch::ObjectKey{pool().intern("shop"), "s9"});
    state.recompute(node, config);
    auto changes = state.takeSetChanges();
    CHECK(changes.present.clusterIPs.empty());
    CHECK(changes.absent.clusterIPs == ipvs::ElementSet<IpPort>{{ip("10.96.0.9"), Protocol::Tcp, 80}});
    CHECK(changes.absent.serviceAddresses == ipvs::ElementSet<InetAddress>{ip("10.96.0.9")});
    CHECK(state.firewallSets().clusterIPs.size() == 49);

    // Two Services sharing an external IP: the address stays while either wants it.
    auto x = service("x", "10.96.1.1");
    x.externalIPs = {ip("192.0.2.5")};
    auto y = service("y", "10.96.1.2", 81);
    y.externalIPs = {ip("192.0.2.5")};
    state.upsertService(x);
    state.upsertService(y);
    state.recompute(node, config);
    CHECK(state.takeSetChanges().present.serviceAddresses.count(ip("192.0.2.5")) == 1);
    state.deleteService(x.key);
    state.recompute(node, config);
    changes = state.takeSetChanges();
    CHECK(changes.absent.serviceAddresses == ipvs::ElementSet<InetAddress>{ip("10.96.1.1")});
    CHECK(state.serviceAddresses().count(ip("192.0.2.5")) == 1);
    state.deleteService(y.key);
    state.recompute(node, config);
    CHECK(state.takeSetChanges().absent.serviceAddresses.count(ip("192.0.2.5")) == 1);
    CHECK(state.serviceAddresses().count(ip("192.0.2.5")) == 0);
}

TEST_CASE("The store lends a reflector the versions of exactly the objects it holds", "[unit]")
{
    proxy::ServiceState state;
    const proxy::StoredVersions services(state, proxy::StoredVersions::Of::Services);
    const proxy::StoredVersions slices(state, proxy::StoredVersions::Of::EndpointSlices);
    auto web = service("web", "10.96.0.10");
    web.resourceVersion = "41";
    auto webSlice = slice("web-abc", "web", {"10.0.0.1"});
    webSlice.resourceVersion = "42";
    auto orphan = slice("db-xyz", "db", {"10.0.0.2"});  // its Service not seen yet
    orphan.resourceVersion = "43";
    state.upsertService(web);
    state.upsertSlice(webSlice);
    state.upsertSlice(orphan);
    auto keysOf = [](const proxy::StoredVersions& versions) {
        std::vector<std::string> out;
        versions.forEachKey([&](const watch::ObjectKey& key) { out.push_back(key.toString()); });
        return out;
    };
    REQUIRE(services.versionOf(web.key));
    CHECK(*services.versionOf(web.key) == "41");
    CHECK(*slices.versionOf(webSlice.key) == "42");
    // The entry the orphan slice made for "db" holds no Service: no version, and not a key.
    CHECK(services.versionOf(watch::ObjectKey{web.key.namespaceName, "db"}) == nullptr);
    CHECK(keysOf(services) == std::vector<std::string>{web.key.toString()});
    CHECK(keysOf(slices) == std::vector<std::string>{orphan.key.toString(), webSlice.key.toString()});
    web.resourceVersion = "50";
    state.upsertService(web);
    CHECK(*services.versionOf(web.key) == "50");
    // Deleted: forgotten, though the slice keeps the Service's entry.
    state.deleteService(web.key);
    state.deleteSlice(orphan.key);
    CHECK(services.versionOf(web.key) == nullptr);
    CHECK(slices.versionOf(orphan.key) == nullptr);
    CHECK(keysOf(services).empty());
    CHECK(keysOf(slices) == std::vector<std::string>{webSlice.key.toString()});
}
