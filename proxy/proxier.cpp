// SPDX-License-Identifier: Apache-2.0
// Services and EndpointSlices to IPVS virtual and real servers, as upstream's IPVS mode does
// (see docs/design.md, "The proxier", for the rules and the deliberate departures).
#include "proxy/proxier.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>

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
                                  std::span<const watch::EndpointSlice* const> slices)
{
    std::map<std::pair<InetAddress, uint16_t>, Candidate> merged;
    for (const auto* slice : slices) {
        if (slice->addressFamily != family)
            continue;
        for (const auto& sp : slice->ports) {
            if (!sp.named || sp.name.view() != port.name || sp.port == 0 || sp.protocol != port.protocol)
                continue;
            for (size_t i = 0; i < slice->endpoints.size(); ++i) {
                const auto& e = slice->endpoints[i];
                Candidate c{e.address, sp.port, e.ready, e.serving, e.terminating, e.local, slice->hintsOf(i)};
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
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return std::tie(a.address, a.port) < std::tie(b.address, b.port); });
    return out;
}

// What is decided once per Service: the scheduler, flags and traffic policies.
struct ServiceSettings {
    std::string scheduler;
    uint32_t flags = 0;
    uint32_t timeout = 0;
    bool externalLocal = false;  // externalTrafficPolicy: Local, on an externally reachable Service
    bool internalLocal = false;  // internalTrafficPolicy: Local
};

// The addresses one family of a Service is served on.
struct FamilyAddresses {
    int family = AF_INET;
    InetAddress clusterIP;
    std::vector<InetAddress> externalIPs;
    std::vector<InetAddress> loadBalancerIPs;  // ipMode: Proxy ones are skipped
    std::vector<InetAddress> nodeIPs;  // for NodePorts
};

std::optional<FamilyAddresses> addressesOf(const Service& service, int family, const NodeView& node,
                                           const ProxierConfig& config)
{
    auto clusterIP = std::find_if(service.clusterIPs.begin(), service.clusterIPs.end(),
                                  [&](const InetAddress& a) { return a.family() == family; });
    if (clusterIP == service.clusterIPs.end())
        return std::nullopt;
    FamilyAddresses out{family, *clusterIP, {}, {}, {}};
    for (const auto& ip : service.externalIPs)
        if (ip.family() == family)
            out.externalIPs.push_back(ip);
    for (const auto& ingress : service.loadBalancerIngress)
        if (ingress.ip.family() == family && !ingress.proxyMode)
            out.loadBalancerIPs.push_back(ingress.ip);
    if (std::any_of(service.ports.begin(), service.ports.end(), [](const auto& p) { return p.nodePort != 0; }))
        out.nodeIPs = nodePortAddresses(family, node, config);
    return out;
}

// kube-ipvs0 carries the ClusterIP, and the external and load-balancer IPs not already local.
void bindAddresses(const FamilyAddresses& addresses, const NodeView& node, ServiceMembers::Builder& members)
{
    members.add(Member::BoundAddress, {addresses.clusterIP, Protocol::Tcp, 0});
    for (const auto* list : {&addresses.externalIPs, &addresses.loadBalancerIPs})
        for (const auto& ip : *list)
            if (!contains(node.localAddresses, ip))
                members.add(Member::BoundAddress, {ip, Protocol::Tcp, 0});
}

// Cluster endpoints: ready (topology-filtered), else serving and terminating.
std::vector<Candidate> clusterEndpoints(const std::vector<Candidate>& all, const NodeView& node,
                                        const std::string& nodeName)
{
    std::vector<Candidate> ready;
    for (const auto& c : all)
        if (c.ready)
            ready.push_back(c);
    auto cluster = topologyFiltered(std::move(ready), node, nodeName);
    if (cluster.empty())
        for (const auto& c : all)
            if (c.serving && c.terminating)
                cluster.push_back(c);
    return cluster;
}

// Local endpoints: local ready, else local serving and terminating.
std::vector<Candidate> localEndpoints(const std::vector<Candidate>& all)
{
    std::vector<Candidate> local;
    for (const auto& c : all)
        if (c.local && c.ready)
            local.push_back(c);
    if (local.empty())
        for (const auto& c : all)
            if (c.local && c.serving && c.terminating)
                local.push_back(c);
    return local;
}

// The real servers of one service port, for internal (ClusterIP) and external traffic.
struct PortRealServers {
    std::vector<ipvs::RealServer> internal;
    std::vector<ipvs::RealServer> external;
};

PortRealServers choose(const std::vector<Candidate>& all, bool reachable, const ServiceSettings& settings,
                       const NodeView& node, const ProxierConfig& config, ServiceProxy& out)
{
    std::vector<Candidate> cluster;
    if (!settings.internalLocal || reachable)
        cluster = clusterEndpoints(all, node, config.nodeHints ? config.nodeName : std::string());
    std::vector<Candidate> local;
    if (settings.internalLocal || (settings.externalLocal && reachable))
        local = localEndpoints(all);
    const bool anyEndpoint = std::any_of(all.begin(), all.end(), [](const auto& c) { return c.ready || c.serving; });
    if (settings.internalLocal && local.empty() && anyEndpoint)
        out.internalHasNoLocalEndpoints = true;
    if (settings.externalLocal && reachable && local.empty() && anyEndpoint)
        out.externalHasNoLocalEndpoints = true;
    // With a Local policy and no local endpoint, IPVS mode falls back to the cluster endpoints
    // (upstream #97081), which are empty for a pure ClusterIP ITP=Local service.
    return {realServers(settings.internalLocal && !local.empty() ? local : cluster),
            realServers(settings.externalLocal && !local.empty() ? local : cluster)};
}

// Adds one port's virtual servers (ClusterIP, external IPs, load-balancer IPs, NodePorts) and
// the nftables entries that go with them.
class PortProxy {
public:
    PortProxy(const watch::ServicePort& port, const FamilyAddresses& addresses, const ServiceSettings& settings,
              ServiceProxy& out, ServiceMembers::Builder& members)
        : port_(port), addresses_(addresses), settings_(settings), out_(out), members_(members)
    {}

    void add(const Service& service, const PortRealServers& reals)
    {
        const Protocol protocol = port_.protocol;
        addVirtualServer(addresses_.clusterIP, port_.port, reals.internal);
        members_.add(Member::ClusterIP, {addresses_.clusterIP, protocol, port_.port});
        for (const auto& ip : addresses_.externalIPs) {
            addExternal(ip, port_.port, reals.external);
            members_.add(Member::ExternalIP, {ip, protocol, port_.port});
        }
        for (const auto& ip : addresses_.loadBalancerIPs) {
            addExternal(ip, port_.port, reals.external);
            members_.add(Member::LoadBalancerIP, {ip, protocol, port_.port});
            for (const auto& range : service.loadBalancerSourceRanges)
                if (range.address.family() == addresses_.family)
                    out_.sourceRanges.push_back({{ip, protocol, port_.port}, range});
        }
        if (port_.nodePort != 0)
            for (const auto& ip : addresses_.nodeIPs) {
                addExternal(ip, port_.nodePort, reals.external);
                members_.add(Member::NodePort, {ip, protocol, port_.nodePort});
            }
    }

private:
    void addExternal(const InetAddress& address, uint16_t port, const std::vector<ipvs::RealServer>& reals)
    {
        addVirtualServer(address, port, reals);
        if (settings_.externalLocal)
            members_.add(Member::LocalPolicy, {address, port_.protocol, port});
    }

    void addVirtualServer(const InetAddress& address, uint16_t port, const std::vector<ipvs::RealServer>& reals)
    {
        WantedVirtualServer v;
        v.server.key = ipvs::VirtualServerKey{addresses_.family, port_.protocol, address, port, 0};
        v.server.scheduler = settings_.scheduler;
        v.server.flags = settings_.flags;
        v.server.timeout = settings_.timeout;
        v.realServers = reals;
        out_.virtualServers.push_back(std::move(v));
    }

    const watch::ServicePort& port_;
    const FamilyAddresses& addresses_;
    const ServiceSettings& settings_;
    ServiceProxy& out_;
    ServiceMembers::Builder& members_;
};

}  // namespace

ServiceMembers ServiceMembers::Builder::build()
{
    ServiceMembers out;
    size_t total = 0;
    for (const auto& kind : entries_)
        total += kind.size();
    out.entries_.reserve(total);
    for (size_t kind = 0; kind < kMemberKinds; ++kind) {
        auto& entries = entries_[kind];
        std::sort(entries.begin(), entries.end());
        std::unique_copy(entries.begin(), entries.end(), std::back_inserter(out.entries_));
        out.ends_[kind] = static_cast<uint32_t>(out.entries_.size());
    }
    out.entries_.shrink_to_fit();  // kept, unchanged, as long as its Service
    return out;
}

std::span<const IpPort> ServiceMembers::of(Member kind) const
{
    const auto index = static_cast<size_t>(kind);
    const size_t begin = index == 0 ? 0 : ends_[index - 1];
    return std::span<const IpPort>(entries_).subspan(begin, ends_[index] - begin);
}

bool ServiceMembers::contains(Member kind, const IpPort& entry) const
{
    const auto entries = of(kind);
    return std::binary_search(entries.begin(), entries.end(), entry);
}

std::vector<InetAddress> nodePortAddresses(int family, const NodeView& node, const ProxierConfig& config)
{
    std::vector<InetAddress> out;
    const auto& cidrs = config.nodePortAddresses;
    const bool filtered =
        std::any_of(cidrs.begin(), cidrs.end(), [&](const auto& c) { return c.address.family() == family; });
    const auto& pool = config.nodePortPrimary ? node.primaryIPs : node.localAddresses;
    for (const auto& a : pool) {
        if (a.family() != family || a.isLoopback() || (a.isV6() && a.isLinkLocal()))
            continue;
        if (!config.nodePortPrimary && filtered &&
            std::none_of(cidrs.begin(), cidrs.end(), [&](const auto& c) { return c.contains(a); }))
            continue;
        out.push_back(a);
    }
    return out;
}

std::optional<std::vector<InetAddress>> healthCheckAddresses(const NodeView& node, const ProxierConfig& config)
{
    if (!config.nodePortPrimary && config.nodePortAddresses.empty())
        return std::nullopt;
    auto out = nodePortAddresses(AF_INET, node, config);
    auto v6 = nodePortAddresses(AF_INET6, node, config);
    out.insert(out.end(), v6.begin(), v6.end());
    return out;
}

bool knownScheduler(const std::string& name)
{
    static const char* const kSchedulers[] = {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
                                              "sh", "sed", "nq", "mh",  "fo",   "ovf",   "twos"};
    return std::find_if(std::begin(kSchedulers), std::end(kSchedulers), [&](const char* s) { return name == s; }) !=
           std::end(kSchedulers);
}

namespace {

ServiceSettings settingsOf(const Service& service, const ProxierConfig& config, std::vector<std::string>& warnings)
{
    ServiceSettings out;
    out.scheduler = config.scheduler.empty() ? "rr" : config.scheduler;
    if (const std::string wanted(service.schedulerAnnotation.view()); !wanted.empty()) {
        if (!knownScheduler(wanted))
            warnings.push_back("annotation kube-ipvsd.io/scheduler '" + wanted + "' is not an IPVS scheduler; using '" +
                               out.scheduler + "'");
        else if (config.schedulerAvailable && !config.schedulerAvailable(wanted))
            warnings.push_back("annotation kube-ipvsd.io/scheduler '" + wanted +
                               "': this kernel has no such scheduler; using '" + out.scheduler + "'");
        else
            out.scheduler = wanted;
    }
    if (service.clientIPAffinity) {
        out.flags |= ipvs::flag::kPersistent;
        out.timeout = service.affinityTimeoutSeconds;
    }
    // Maglev hashes the port too (as upstream), and falls back past weight-0 destinations so a
    // draining real server never leaves "no destination available" (upstream issue #138688).
    if (out.scheduler == "mh")
        out.flags |= ipvs::flag::kMhPort | ipvs::flag::kMhFallback;
    const bool externallyAccessible = service.type == Service::Type::NodePort ||
                                      service.type == Service::Type::LoadBalancer || !service.externalIPs.empty();
    out.externalLocal = externallyAccessible && service.externalTrafficLocal;
    out.internalLocal = service.internalTrafficLocal;
    return out;
}

// A proxy is kept, unchanged, as long as its Service: what growing left unused goes back.
void shrinkToFit(ServiceProxy& proxy)
{
    proxy.virtualServers.shrink_to_fit();
    proxy.sourceRanges.shrink_to_fit();
}

}  // namespace

ServiceProxy proxyService(const Service& service, std::span<const watch::EndpointSlice* const> slices,
                          const NodeView& node, const ProxierConfig& config)
{
    ServiceProxy out;
    if (service.headless || service.type == Service::Type::ExternalName || service.otherProxy)
        return out;
    const ServiceSettings settings = settingsOf(service, config, out.warnings);
    std::set<InetAddress> readyLocal;
    ServiceMembers::Builder members;
    for (int family : {AF_INET, AF_INET6}) {
        if ((family == AF_INET && !config.ipv4) || (family == AF_INET6 && !config.ipv6))
            continue;
        const auto addresses = addressesOf(service, family, node, config);
        if (!addresses)
            continue;
        bindAddresses(*addresses, node, members);
        for (const auto& port : service.ports) {
            const auto all = candidates(port, family, slices);
            const bool reachable =
                port.nodePort != 0 || !addresses->externalIPs.empty() || !addresses->loadBalancerIPs.empty();
            PortProxy(port, *addresses, settings, out, members)
                .add(service, choose(all, reachable, settings, node, config, out));
            for (const auto& c : all) {
                if (c.local)
                    members.add(Member::LocalEndpoint, {c.address, port.protocol, c.port});
                if (c.local && c.ready)
                    readyLocal.insert(c.address);
            }
        }
    }
    if (service.type == Service::Type::LoadBalancer && settings.externalLocal)
        out.healthCheckNodePort = service.healthCheckNodePort;
    out.readyLocalEndpoints = readyLocal.size();
    out.members = members.build();
    shrinkToFit(out);
    return out;
}

}  // namespace kipvs::proxy
