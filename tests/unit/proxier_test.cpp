// SPDX-License-Identifier: Apache-2.0
// The proxier's rules, case by case: objects in, wanted IPVS state out.
#include <catch2/catch.hpp>

#include "proxy/proxier.h"

using namespace kipvs;
using namespace kipvs::proxy;
using watch::EndpointSlice;
using watch::Service;

namespace {

// Decodes as the daemon on node-a would (config()'s node).
watch::StringPool& pool()
{
    static watch::StringPool p("node-a");
    return p;
}

InetAddress ip(const char* text)
{
    return *InetAddress::parse(text);
}

std::vector<IpPort> entries(const ServiceProxy& p, Member kind)
{
    const auto of = p.members.of(kind);
    return {of.begin(), of.end()};
}

// The addresses for kube-ipvs0, in order.
std::vector<InetAddress> bound(const ServiceProxy& p)
{
    std::vector<InetAddress> out;
    for (const auto& entry : p.members.of(Member::BoundAddress))
        out.push_back(entry.address);
    return out;
}

// A slice's port; a nil name as std::nullopt.
watch::EndpointPort slicePort(std::optional<const char*> name, watch::Protocol protocol, uint16_t port)
{
    watch::EndpointPort out;
    out.named = name.has_value();
    if (name)
        out.name = pool().intern(*name);
    out.protocol = protocol;
    out.port = port;
    return out;
}

struct Ep {
    const char* address;
    const char* node = "node-a";
    bool ready = true;
    bool serving = true;
    bool terminating = false;
    std::vector<const char*> zoneHints = {};
    std::vector<const char*> nodeHints = {};
};

EndpointSlice slice(std::vector<Ep> endpoints,
                    std::vector<watch::EndpointPort> ports = {slicePort("http", watch::Protocol::Tcp, 8080)},
                    const char* name = "web-1")
{
    EndpointSlice s;
    s.key = {pool().intern("shop"), name};
    s.serviceName = "web";
    s.addressFamily = ip(endpoints.empty() ? "10.0.0.1" : endpoints[0].address).family();
    s.ports = std::move(ports);
    for (const auto& e : endpoints) {
        watch::Endpoint out;
        out.address = ip(e.address);
        out.ready = e.ready;
        out.serving = e.serving;
        out.terminating = e.terminating;
        out.local = pool().isLocalNode(e.node);
        watch::EndpointHints hints;
        for (const char* z : e.zoneHints)
            hints.zones.push_back(pool().intern(z));
        for (const char* n : e.nodeHints)
            hints.nodes.push_back(pool().intern(n));
        s.endpoints.push_back(out);
        s.hints.push_back(std::move(hints));
    }
    return s;
}

Service service(std::vector<watch::ServicePort> ports = {{"http", watch::Protocol::Tcp, 80, 0}})
{
    Service s;
    s.key = {pool().intern("shop"), "web"};
    s.clusterIPs = {ip("10.96.0.10")};
    s.ports = std::move(ports);
    return s;
}

const NodeView kNode{
    {ip("192.168.1.10"), ip("10.0.2.15"), ip("2001:db8::10"), ip("127.0.0.1")}, {ip("192.168.1.10")}, "z1"};

ProxierConfig config()
{
    ProxierConfig c;
    c.nodeName = "node-a";
    return c;
}

ServiceProxy run(const Service& s, const std::vector<EndpointSlice>& slices, const ProxierConfig& c = config(),
                 const NodeView& node = kNode)
{
    std::vector<const EndpointSlice*> pointers;
    for (const auto& sl : slices)
        pointers.push_back(&sl);
    return proxyService(s, pointers, node, c);
}

// "10.96.0.10:80 -> 10.244.1.5:8080 10.244.1.6:8080" for each virtual server, sorted.
std::vector<std::string> table(const ServiceProxy& p)
{
    std::vector<std::string> out;
    for (const auto& v : p.virtualServers) {
        std::string line = std::string(ipvs::protocolName(v.server.key.protocol)) + " " +
                           (v.server.key.address.isV6() ? "[" + v.server.key.address.toString() + "]"
                                                        : v.server.key.address.toString()) +
                           ":" + std::to_string(v.server.key.port) + " ->";
        for (const auto& r : v.realServers)
            line += " " + r.endpoint();
        out.push_back(line);
    }
    std::sort(out.begin(), out.end());
    return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("A Service's members keep each kind apart, sorted and without duplicates", "[unit]")
{
    const IpPort a{ip("10.96.0.10"), ipvs::Protocol::Tcp, 80}, b{ip("10.96.0.9"), ipvs::Protocol::Udp, 53},
        c{ip("192.0.2.1"), ipvs::Protocol::Tcp, 30080};
    ServiceMembers::Builder builder;
    builder.add(Member::ClusterIP, a);
    builder.add(Member::NodePort, c);
    builder.add(Member::ClusterIP, b);
    builder.add(Member::ClusterIP, a);  // a second port's address, say: once is enough
    builder.add(Member::LocalEndpoint, c);
    const ServiceMembers members = builder.build();

    CHECK(std::vector<IpPort>(members.of(Member::ClusterIP).begin(), members.of(Member::ClusterIP).end()) ==
          std::vector<IpPort>{b, a});
    CHECK(members.of(Member::NodePort).size() == 1);
    CHECK(members.of(Member::LocalEndpoint).size() == 1);
    for (const Member empty : {Member::BoundAddress, Member::ExternalIP, Member::LoadBalancerIP, Member::LocalPolicy})
        CHECK(members.of(empty).empty());
    CHECK(members.contains(Member::ClusterIP, a));
    CHECK(members.contains(Member::NodePort, c));
    CHECK_FALSE(members.contains(Member::ClusterIP, c));  // another kind's entry
    CHECK_FALSE(members.contains(Member::ExternalIP, a));
    CHECK(ServiceMembers::Builder().build().of(Member::LocalEndpoint).empty());
}

TEST_CASE("ClusterIP: one virtual server per port, real servers at the slice's port, the IP bound", "[unit]")
{
    auto p = run(service(), {slice({{"10.244.1.5"}, {"10.244.2.5", "node-b"}})});
    CHECK(table(p) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080 10.244.2.5:8080"});
    REQUIRE(p.virtualServers.size() == 1);
    const auto& v = p.virtualServers[0];
    CHECK(v.server.scheduler == "rr");
    CHECK(v.server.flags == 0u);
    CHECK(v.realServers[0].weight == 1u);
    CHECK(v.realServers[0].forward == ipvs::ForwardMethod::Masquerade);
    CHECK(bound(p) == std::vector<InetAddress>{ip("10.96.0.10")});
    CHECK(entries(p, Member::ClusterIP) == std::vector<IpPort>{{ip("10.96.0.10"), ipvs::Protocol::Tcp, 80}});
    CHECK(entries(p, Member::LocalEndpoint) == std::vector<IpPort>{{ip("10.244.1.5"), ipvs::Protocol::Tcp, 8080}});
}

TEST_CASE("Ports match by name and protocol; nil names, zero ports and other protocols are ignored", "[unit]")
{
    auto s = service({{"http", watch::Protocol::Tcp, 80, 0},
                      {"dns", watch::Protocol::Udp, 53, 0},
                      {"none", watch::Protocol::Tcp, 81, 0}});
    auto p = run(
        s, {slice({{"10.244.1.5"}},
                  {slicePort("http", watch::Protocol::Tcp, 8080), slicePort("dns", watch::Protocol::Udp, 5353),
                   slicePort("dns", watch::Protocol::Tcp, 5354), slicePort(std::nullopt, watch::Protocol::Tcp, 9999),
                   slicePort("none", watch::Protocol::Tcp, 0)})});
    CHECK(table(p) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080", "TCP 10.96.0.10:81 ->",
                            "UDP 10.96.0.10:53 -> 10.244.1.5:5353"});
}

TEST_CASE("Readiness: ready endpoints; none ready anywhere falls back to serving and terminating", "[unit]")
{
    struct Case {
        const char* name;
        std::vector<Ep> endpoints;
        Lines expected;
    };
    const Case cases[] = {
        {.name = "not ready is left out",
         .endpoints = {{"10.244.1.5"}, {.address = "10.244.1.6", .ready = false, .serving = false}},
         .expected = {"TCP 10.96.0.10:80 -> 10.244.1.5:8080"}},
        {.name = "terminating but serving is used only when nothing is ready",
         .endpoints = {{"10.244.1.5"}, {.address = "10.244.1.6", .ready = false, .serving = true, .terminating = true}},
         .expected = {"TCP 10.96.0.10:80 -> 10.244.1.5:8080"}},
        {.name = "fallback to serving and terminating",
         .endpoints = {{.address = "10.244.1.6", .ready = false, .serving = true, .terminating = true},
                       {.address = "10.244.1.7", .ready = false, .serving = false, .terminating = true}},
         .expected = {"TCP 10.96.0.10:80 -> 10.244.1.6:8080"}},
        {.name = "no endpoints still gets its virtual server", .endpoints = {}, .expected = {"TCP 10.96.0.10:80 ->"}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(table(run(service(), {slice(c.endpoints)})) == c.expected);
    }
}

TEST_CASE("The same address in two slices: the copy that is not terminating wins", "[unit]")
{
    auto p =
        run(service(), {slice({{.address = "10.244.1.5", .ready = false, .serving = true, .terminating = true}},
                              {slicePort("http", watch::Protocol::Tcp, 8080)}, "a"),
                        slice({{"10.244.1.5"}, {"10.244.1.9"}}, {slicePort("http", watch::Protocol::Tcp, 8080)}, "b")});
    CHECK(table(p) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080 10.244.1.9:8080"});
}

TEST_CASE("Session affinity makes every virtual server of the service persistent with its timeout", "[unit]")
{
    auto s = service({{"http", watch::Protocol::Tcp, 80, 30080}});
    s.type = Service::Type::NodePort;
    s.clientIPAffinity = true;
    s.affinityTimeoutSeconds = 600;
    s.externalIPs = {ip("192.0.2.10")};
    auto p = run(s, {slice({{"10.244.1.5"}})});
    REQUIRE(p.virtualServers.size() == 4);  // cluster IP, external IP, two IPv4 node addresses
    for (const auto& v : p.virtualServers) {
        CHECK(v.server.flags == ipvs::flag::kPersistent);
        CHECK(v.server.timeout == 600u);
    }
}

TEST_CASE("Schedulers: the configured one, a valid annotation, mh with its flags, an invalid annotation warned",
          "[unit]")
{
    auto c = config();
    c.scheduler = "lc";
    CHECK(run(service(), {}, c).virtualServers[0].server.scheduler == "lc");
    c.scheduler = "";
    CHECK(run(service(), {}, c).virtualServers[0].server.scheduler == "rr");

    auto s = service();
    s.schedulerAnnotation = pool().intern("mh");
    auto p = run(s, {});
    CHECK(p.virtualServers[0].server.scheduler == "mh");
    CHECK(p.virtualServers[0].server.flags == (ipvs::flag::kMhPort | ipvs::flag::kMhFallback));
    CHECK(p.warnings.empty());

    s.schedulerAnnotation = pool().intern("fastest");
    p = run(s, {});
    CHECK(p.virtualServers[0].server.scheduler == "rr");
    REQUIRE(p.warnings.size() == 1);
    CHECK(p.warnings[0].find("'fastest' is not an IPVS scheduler") != std::string::npos);
}

TEST_CASE("Health-check node ports listen everywhere unless --nodeport-addresses narrows NodePorts", "[unit]")
{
    NodeView node;
    node.localAddresses = {ip("192.168.1.10"), ip("10.0.0.5"), ip("2001:db8::10")};
    node.primaryIPs = {ip("192.168.1.10")};
    auto c = config();
    CHECK_FALSE(healthCheckAddresses(node, c));
    c.nodePortAddresses = {*Cidr::parse("192.168.1.0/24")};
    // Per family: IPv6 is not named, so all its addresses.
    CHECK(healthCheckAddresses(node, c) == std::vector<InetAddress>{ip("192.168.1.10"), ip("2001:db8::10")});
    c.nodePortAddresses.clear();
    c.nodePortPrimary = true;
    CHECK(healthCheckAddresses(node, c) == std::vector<InetAddress>{ip("192.168.1.10")});
}

TEST_CASE("A scheduler annotation the kernel lacks falls back to the configured scheduler, warned", "[unit]")
{
    auto c = config();
    c.scheduler = "wlc";
    std::vector<std::string> asked;
    c.schedulerAvailable = [&asked](const std::string& name) {
        asked.push_back(name);
        return name != "twos";  // Debian 12's 6.1 kernel has no ip_vs_twos
    };
    auto s = service();
    s.schedulerAnnotation = pool().intern("twos");
    auto p = run(s, {}, c);
    CHECK(p.virtualServers[0].server.scheduler == "wlc");
    REQUIRE(p.warnings.size() == 1);
    CHECK(p.warnings[0].find("'twos': this kernel has no such scheduler; using 'wlc'") != std::string::npos);
    s.schedulerAnnotation = pool().intern("sed");
    CHECK(run(s, {}, c).virtualServers[0].server.scheduler == "sed");
    s.schedulerAnnotation = pool().intern("../../evil");  // never reaches the kernel
    CHECK(run(s, {}, c).virtualServers[0].server.scheduler == "wlc");
    CHECK(asked == std::vector<std::string>{"twos", "sed"});
}

TEST_CASE("NodePort: one virtual server per node address, never bound; CIDR and primary filters", "[unit]")
{
    auto s = service({{"http", watch::Protocol::Tcp, 80, 30080}});
    s.type = Service::Type::NodePort;
    auto p = run(s, {slice({{"10.244.1.5"}})});
    CHECK(table(p) == Lines{"TCP 10.0.2.15:30080 -> 10.244.1.5:8080", "TCP 10.96.0.10:80 -> 10.244.1.5:8080",
                            "TCP 192.168.1.10:30080 -> 10.244.1.5:8080"});  // 127.0.0.1 never
    CHECK(bound(p) == std::vector<InetAddress>{ip("10.96.0.10")});
    CHECK(p.members.of(Member::NodePort).size() == 2);

    auto c = config();
    c.nodePortAddresses = {{ip("192.168.0.0"), 16}};
    CHECK(table(run(s, {slice({{"10.244.1.5"}})}, c)) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080", "TCP 192.168.1.10:30080 -> 10.244.1.5:8080"});
    c.nodePortAddresses.clear();
    c.nodePortPrimary = true;
    CHECK(table(run(s, {slice({{"10.244.1.5"}})}, c)) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080", "TCP 192.168.1.10:30080 -> 10.244.1.5:8080"});
}

TEST_CASE("External and load-balancer IPs: bound unless already local; Proxy-mode ingress skipped; source ranges",
          "[unit]")
{
    auto s = service();
    s.type = Service::Type::LoadBalancer;
    s.externalIPs = {ip("192.0.2.10"), ip("192.168.1.10")};  // the second is the node's own
    s.loadBalancerIngress = {{ip("198.51.100.1"), false}, {ip("198.51.100.2"), true}};
    s.loadBalancerSourceRanges = {{ip("203.0.113.0"), 24}, {ip("2001:db8::"), 32}};
    auto p = run(s, {slice({{"10.244.1.5"}})});
    CHECK(table(p) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080", "TCP 192.0.2.10:80 -> 10.244.1.5:8080",
                            "TCP 192.168.1.10:80 -> 10.244.1.5:8080", "TCP 198.51.100.1:80 -> 10.244.1.5:8080"});
    CHECK(bound(p) == std::vector<InetAddress>{ip("10.96.0.10"), ip("192.0.2.10"), ip("198.51.100.1")});
    REQUIRE(p.sourceRanges.size() == 1);  // the IPv6 range is for the other family
    CHECK(p.sourceRanges[0].first.address == ip("198.51.100.1"));
    CHECK(p.healthCheckNodePort == 0);  // not ETP Local
}

TEST_CASE("externalTrafficPolicy Local: external servers get local endpoints, else the cluster's", "[unit]")
{
    auto s = service({{"http", watch::Protocol::Tcp, 80, 30080}});
    s.type = Service::Type::LoadBalancer;
    s.externalTrafficLocal = true;
    s.healthCheckNodePort = 32000;
    s.loadBalancerIngress = {{ip("198.51.100.1"), false}};
    auto c = config();
    c.nodePortAddresses = {{ip("192.168.0.0"), 16}};

    auto p = run(s, {slice({{"10.244.1.5", "node-a"}, {"10.244.2.5", "node-b"}})}, c);
    CHECK(table(p) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080 10.244.2.5:8080",
                            "TCP 192.168.1.10:30080 -> 10.244.1.5:8080", "TCP 198.51.100.1:80 -> 10.244.1.5:8080"});
    CHECK(p.healthCheckNodePort == 32000);
    CHECK(p.members.of(Member::LocalPolicy).size() == 2);
    CHECK_FALSE(p.externalHasNoLocalEndpoints);

    auto none = run(s, {slice({{"10.244.2.5", "node-b"}})}, c);  // #97081: cluster endpoints instead of none
    CHECK(table(none) == Lines{"TCP 10.96.0.10:80 -> 10.244.2.5:8080", "TCP 192.168.1.10:30080 -> 10.244.2.5:8080",
                               "TCP 198.51.100.1:80 -> 10.244.2.5:8080"});
    CHECK(none.externalHasNoLocalEndpoints);
}

TEST_CASE("internalTrafficPolicy Local: local endpoints on the ClusterIP; upstream's fallbacks", "[unit]")
{
    auto s = service();
    s.internalTrafficLocal = true;
    CHECK(table(run(s, {slice({{"10.244.1.5", "node-a"}, {"10.244.2.5", "node-b"}})})) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080"});
    auto none = run(s, {slice({{"10.244.2.5", "node-b"}})});
    CHECK(table(none) == Lines{"TCP 10.96.0.10:80 ->"});  // a pure ClusterIP service: no fallback
    CHECK(none.internalHasNoLocalEndpoints);

    s.type = Service::Type::NodePort;
    s.ports[0].nodePort = 30080;
    auto c = config();
    c.nodePortAddresses = {{ip("192.168.0.0"), 16}};
    // Externally reachable: the cluster endpoints are computed and serve as the fallback.
    CHECK(table(run(s, {slice({{"10.244.2.5", "node-b"}})}, c)) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.2.5:8080", "TCP 192.168.1.10:30080 -> 10.244.2.5:8080"});
}

TEST_CASE("Headless, ExternalName and other proxies' services yield nothing", "[unit]")
{
    auto headless = service();
    headless.headless = true;
    headless.clusterIPs.clear();
    CHECK(run(headless, {slice({{"10.244.1.5"}})}).virtualServers.empty());
    auto external = service();
    external.type = Service::Type::ExternalName;
    CHECK(run(external, {}).virtualServers.empty());
    auto other = service();
    other.otherProxy = true;
    auto p = run(other, {});
    CHECK(p.virtualServers.empty());
    CHECK(bound(p).empty());
}

TEST_CASE("--nodeport-addresses applies per family: a family it names no CIDR of uses all its addresses", "[unit]")
{
    auto s = service({{"http", watch::Protocol::Tcp, 80, 30080}});
    s.type = Service::Type::NodePort;
    s.clusterIPs = {ip("10.96.0.10"), ip("fd00::10")};
    std::vector<EndpointSlice> slices = {
        slice({{"10.244.1.5"}}, {slicePort("http", watch::Protocol::Tcp, 8080)}, "v4"),
        slice({{"fd00:244::5"}}, {slicePort("http", watch::Protocol::Tcp, 8080)}, "v6")};
    auto c = config();
    c.nodePortAddresses = {{ip("192.168.0.0"), 16}};  // IPv4 only, as upstream's per-family rule reads it
    CHECK(table(run(s, slices, c)) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080", "TCP 192.168.1.10:30080 -> 10.244.1.5:8080",
                "TCP [2001:db8::10]:30080 -> [fd00:244::5]:8080", "TCP [fd00::10]:80 -> [fd00:244::5]:8080"});
    c.nodePortAddresses = {{ip("2001:db8:ffff::"), 48}};  // IPv6 only, matching none: no IPv6 NodePort
    CHECK(table(run(s, slices, c)) ==
          Lines{"TCP 10.0.2.15:30080 -> 10.244.1.5:8080", "TCP 10.96.0.10:80 -> 10.244.1.5:8080",
                "TCP 192.168.1.10:30080 -> 10.244.1.5:8080", "TCP [fd00::10]:80 -> [fd00:244::5]:8080"});
}

TEST_CASE("Dual-stack: each family's cluster IP with that family's slices; a family turned off is left alone", "[unit]")
{
    auto s = service();
    s.clusterIPs = {ip("10.96.0.10"), ip("fd00::10")};
    std::vector<EndpointSlice> slices = {
        slice({{"10.244.1.5"}}, {slicePort("http", watch::Protocol::Tcp, 8080)}, "v4"),
        slice({{"fd00:244::5"}}, {slicePort("http", watch::Protocol::Tcp, 8080)}, "v6")};
    CHECK(table(run(s, slices)) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080", "TCP [fd00::10]:80 -> [fd00:244::5]:8080"});
    auto c = config();
    c.ipv6 = false;
    CHECK(table(run(s, slices, c)) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080"});
}

TEST_CASE("Topology hints narrow the endpoints only when every ready endpoint has them", "[unit]")
{
    CHECK(table(run(service(), {slice({{.address = "10.244.1.5", .zoneHints = {"z1"}},
                                       {.address = "10.244.2.5", .zoneHints = {"z2"}}})})) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080"});
    CHECK(table(run(service(), {slice({{.address = "10.244.1.5", .zoneHints = {"z1"}}, {.address = "10.244.2.5"}})})) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080 10.244.2.5:8080"});
    // No hint for this zone: no narrowing.
    CHECK(table(run(service(), {slice({{.address = "10.244.1.5", .zoneHints = {"z3"}},
                                       {.address = "10.244.2.5", .zoneHints = {"z2"}}})})) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080 10.244.2.5:8080"});
}

TEST_CASE("Node hints (PreferSameNode) win over zone hints when every ready endpoint has them", "[unit]")
{
    CHECK(table(run(
              service(),
              {slice({{.address = "10.244.1.5", .zoneHints = {"z1"}, .nodeHints = {"node-a"}},
                      {.address = "10.244.1.6", .node = "node-b", .zoneHints = {"z1"}, .nodeHints = {"node-b"}}})})) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080"});
    // No node hint for this node: fall back to the zone.
    CHECK(table(run(
              service(),
              {slice({{.address = "10.244.1.5", .node = "node-c", .zoneHints = {"z1"}, .nodeHints = {"node-c"}},
                      {.address = "10.244.1.6", .node = "node-b", .zoneHints = {"z2"}, .nodeHints = {"node-b"}}})})) ==
          Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080"});
    // --feature-gates=PreferSameTrafficDistribution=false: node hints are not read, zone hints are.
    ProxierConfig gateOff = config();
    gateOff.nodeHints = false;
    CHECK(
        table(run(service(),
                  {slice({{.address = "10.244.1.5", .zoneHints = {"z1"}, .nodeHints = {"node-a"}},
                          {.address = "10.244.1.6", .node = "node-b", .zoneHints = {"z1"}, .nodeHints = {"node-b"}}})},
                  gateOff)) == Lines{"TCP 10.96.0.10:80 -> 10.244.1.5:8080 10.244.1.6:8080"});
}
