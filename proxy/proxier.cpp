// SPDX-License-Identifier: Apache-2.0
// Services and EndpointSlices to IPVS virtual and real servers, as upstream's IPVS mode does
// (see docs/design.md, "The proxier", for the rules and the deliberate departures).
#include "proxy/proxier.h"

#include <algorithm>
#include <map>

namespace kipvs::proxy {

namespace {

using watch::Service;

bool contains(const std::vector<InetAddress>& list, const InetAddress& a)
{
    return std::find(list.begin(), list.end(), a) != list.end();
}

// One endpoint of one service port, after the slices are merged.
struct Candidate {
    InetAddress address;
    uint16_t port = 0;
    bool ready = false;
    bool serving = false;
    bool terminating = false;
    bool local = false;
    const watch::EndpointHints* hints = nullptr;
};

// Merges the slices' endpoints for one service port: matched by port name and protocol, slice
// ports with a nil name or a 0 port ignored, and a duplicate address:port resolved in favour
// of the copy that is not terminating (endpointslicecache.go).
std::vector<Candidate> candidates(const watch::ServicePort& port, int family,
                                  std::span<const watch::EndpointSlice* const> slices, const std::string& nodeName)
{
    std::map<std::pair<InetAddress, uint16_t>, Candidate> merged;
    for (const auto* slice : slices) {
        if (slice->addressFamily != family)
            continue;
        for (const auto& sp : slice->ports) {
            if (!sp.name || *sp.name != port.name || sp.port == 0 || sp.protocol != port.protocol)
                continue;
            for (const auto& e : slice->endpoints) {
                Candidate c{e.address, sp.port, e.ready, e.serving, e.terminating,
                            !nodeName.empty() && e.nodeName.view() == nodeName, e.hints.get()};
                auto [it, inserted] = merged.try_emplace({e.address, sp.port}, c);
                if (!inserted && it->second.terminating && !c.terminating)
                    it->second = c;
            }
        }
    }
    std::vector<Candidate> out;
    out.reserve(merged.size());
    for (auto& [key, c] : merged)
        out.push_back(c);
    return out;
}

// Topology: when every ready endpoint carries hints and one names this node (or its zone),
// keep only those (topology.go, topologyModeFromHints).
std::vector<Candidate> topologyFiltered(std::vector<Candidate> ready, const NodeView& node, const std::string& nodeName)
{
    if (ready.empty())
        return ready;
    auto all = [&](auto pred) { return std::all_of(ready.begin(), ready.end(), pred); };
    auto names = [](const std::vector<watch::PooledString>& list, std::string_view name) {
        return std::any_of(list.begin(), list.end(), [&](const auto& s) { return s.view() == name; });
    };
    const bool nodeHints = all([](const Candidate& c) { return c.hints && !c.hints->nodes.empty(); });
    if (nodeHints && !nodeName.empty()) {
        std::vector<Candidate> mine;
        for (const auto& c : ready)
            if (names(c.hints->nodes, nodeName))
                mine.push_back(c);
        if (!mine.empty())
            return mine;
    }
    const bool zoneHints = all([](const Candidate& c) { return c.hints && !c.hints->zones.empty(); });
    if (zoneHints && !node.zone.empty()) {
        std::vector<Candidate> mine;
        for (const auto& c : ready)
            if (names(c.hints->zones, node.zone))
                mine.push_back(c);
        if (!mine.empty())
            return mine;
    }
    return ready;
}

std::vector<ipvs::RealServer> realServers(const std::vector<Candidate>& chosen)
{
    std::vector<ipvs::RealServer> out;
    for (const auto& c : chosen) {
        ipvs::RealServer r;
        r.address = c.address;
        r.port = c.port;
        out.push_back(r);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return std::tie(a.address, a.port) < std::tie(b.address, b.port);
    });
    return out;
}

}  // namespace

bool knownScheduler(const std::string& name)
{
    static const char* const kSchedulers[] = {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
                                              "sh", "sed", "nq", "mh", "fo", "ovf", "twos"};
    return std::find_if(std::begin(kSchedulers), std::end(kSchedulers), [&](const char* s) { return name == s; }) !=
           std::end(kSchedulers);
}

ServiceProxy proxyService(const Service& service, std::span<const watch::EndpointSlice* const> slices,
                          const NodeView& node, const ProxierConfig& config)
{
    ServiceProxy out;
    std::set<InetAddress> readyLocal;
    if (service.headless || service.type == Service::Type::ExternalName || service.otherProxy)
        return out;

    std::string scheduler = config.scheduler.empty() ? "rr" : config.scheduler;
    if (!service.schedulerAnnotation.empty()) {
        if (knownScheduler(service.schedulerAnnotation))
            scheduler = service.schedulerAnnotation;
        else
            out.warnings.push_back("annotation kube-ipvsd.io/scheduler '" + service.schedulerAnnotation +
                                   "' is not an IPVS scheduler; using '" + scheduler + "'");
    }
    uint32_t flags = 0;
    if (service.clientIPAffinity)
        flags |= ipvs::flag::kPersistent;
    // Maglev hashes the port too (as upstream), and falls back past weight-0 destinations so a
    // draining real server never leaves "no destination available" (upstream issue #138688).
    if (scheduler == "mh")
        flags |= ipvs::flag::kMhPort | ipvs::flag::kMhFallback;

    const bool externallyAccessible = service.type == Service::Type::NodePort ||
                                      service.type == Service::Type::LoadBalancer || !service.externalIPs.empty();
    const bool externalLocal = externallyAccessible && service.externalTrafficLocal;
    const bool internalLocal = service.internalTrafficLocal;

    for (int family : {AF_INET, AF_INET6}) {
        if ((family == AF_INET && !config.ipv4) || (family == AF_INET6 && !config.ipv6))
            continue;
        auto clusterIP = std::find_if(service.clusterIPs.begin(), service.clusterIPs.end(),
                                      [&](const InetAddress& a) { return a.family() == family; });
        if (clusterIP == service.clusterIPs.end())
            continue;

        std::vector<InetAddress> externalIPs;
        for (const auto& ip : service.externalIPs)
            if (ip.family() == family)
                externalIPs.push_back(ip);
        std::vector<InetAddress> lbIPs;
        for (const auto& ingress : service.loadBalancerIngress)
            if (ingress.ip.family() == family && !ingress.proxyMode)
                lbIPs.push_back(ingress.ip);
        std::vector<InetAddress> nodeIPs;
        const bool anyNodePort = std::any_of(service.ports.begin(), service.ports.end(),
                                             [](const auto& p) { return p.nodePort != 0; });
        if (anyNodePort) {
            const auto& pool = config.nodePortPrimary ? node.primaryIPs : node.localAddresses;
            for (const auto& a : pool) {
                if (a.family() != family || a.isLoopback() || (a.isV6() && a.isLinkLocal()))
                    continue;
                if (!config.nodePortPrimary && !config.nodePortAddresses.empty() &&
                    std::none_of(config.nodePortAddresses.begin(), config.nodePortAddresses.end(),
                                 [&](const auto& c) { return c.contains(a); }))
                    continue;
                nodeIPs.push_back(a);
            }
        }

        out.boundAddresses.insert(*clusterIP);
        for (const auto& ip : externalIPs)
            if (!contains(node.localAddresses, ip))
                out.boundAddresses.insert(ip);
        for (const auto& ip : lbIPs)
            if (!contains(node.localAddresses, ip))
                out.boundAddresses.insert(ip);

        for (const auto& port : service.ports) {
            const Protocol protocol = port.protocol;
            auto all = candidates(port, family, slices, config.nodeName);
            const bool reachable = port.nodePort != 0 || !externalIPs.empty() || !lbIPs.empty();

            // Cluster endpoints: ready (topology-filtered), else serving and terminating.
            std::vector<Candidate> cluster;
            if (!internalLocal || reachable) {
                std::vector<Candidate> ready;
                for (const auto& c : all)
                    if (c.ready)
                        ready.push_back(c);
                cluster = topologyFiltered(std::move(ready), node, config.nodeName);
                if (cluster.empty())
                    for (const auto& c : all)
                        if (c.serving && c.terminating)
                            cluster.push_back(c);
            }
            // Local endpoints: local ready, else local serving and terminating.
            std::vector<Candidate> local;
            if (internalLocal || (externalLocal && reachable)) {
                for (const auto& c : all)
                    if (c.local && c.ready)
                        local.push_back(c);
                if (local.empty())
                    for (const auto& c : all)
                        if (c.local && c.serving && c.terminating)
                            local.push_back(c);
            }
            const bool anyEndpoint = std::any_of(all.begin(), all.end(), [](const auto& c) { return c.ready || c.serving; });
            if (internalLocal && local.empty() && anyEndpoint)
                out.internalHasNoLocalEndpoints = true;
            if (externalLocal && reachable && local.empty() && anyEndpoint)
                out.externalHasNoLocalEndpoints = true;

            // With a Local policy and no local endpoint, IPVS mode falls back to the cluster
            // endpoints (upstream #97081), which are empty for a pure ClusterIP ITP=Local service.
            const auto internalReals = realServers(internalLocal && !local.empty() ? local : cluster);
            const auto externalReals = realServers(externalLocal && !local.empty() ? local : cluster);

            auto virtualServer = [&](const InetAddress& address, uint16_t servicePort, const std::vector<ipvs::RealServer>& reals) {
                WantedVirtualServer v;
                v.server.key = ipvs::VirtualServerKey{family, protocol, address, servicePort, 0};
                v.server.scheduler = scheduler;
                v.server.flags = flags;
                v.server.timeout = service.clientIPAffinity ? service.affinityTimeoutSeconds : 0;
                v.realServers = reals;
                out.virtualServers.push_back(std::move(v));
            };
            virtualServer(*clusterIP, port.port, internalReals);
            out.clusterIPs.insert({*clusterIP, protocol, port.port});
            for (const auto& ip : externalIPs) {
                virtualServer(ip, port.port, externalReals);
                out.externalIPs.insert({ip, protocol, port.port});
                if (externalLocal)
                    out.localPolicy.insert({ip, protocol, port.port});
            }
            for (const auto& ip : lbIPs) {
                virtualServer(ip, port.port, externalReals);
                out.loadBalancerIPs.insert({ip, protocol, port.port});
                if (externalLocal)
                    out.localPolicy.insert({ip, protocol, port.port});
                for (const auto& range : service.loadBalancerSourceRanges)
                    if (range.address.family() == family)
                        out.sourceRanges.push_back({{ip, protocol, port.port}, range});
            }
            if (port.nodePort != 0) {
                for (const auto& ip : nodeIPs) {
                    virtualServer(ip, port.nodePort, externalReals);
                    out.nodePorts.insert({ip, protocol, port.nodePort});
                    if (externalLocal)
                        out.localPolicy.insert({ip, protocol, port.nodePort});
                }
            }
            for (const auto& c : all) {
                if (c.local)
                    out.localEndpoints.insert({c.address, protocol, c.port});
                if (c.local && c.ready)
                    readyLocal.insert(c.address);
            }
        }
    }
    if (service.type == Service::Type::LoadBalancer && externalLocal)
        out.healthCheckNodePort = service.healthCheckNodePort;
    out.readyLocalEndpoints = readyLocal.size();
    return out;
}

}  // namespace kipvs::proxy
