// SPDX-License-Identifier: Apache-2.0
// The proxier: a pure function from Services, EndpointSlices, this node and the configuration
// to the wanted IPVS state. This is where a Service becomes IPVS virtual servers.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <boost/container/flat_set.hpp>

#include "base/ip_port.h"
#include "ipvs/virtual_servers/types.h"
#include "watch/objects.h"

namespace kipvs::proxy {

struct ProxierConfig {
    std::string nodeName;
    std::string scheduler = "rr";  // --ipvs-scheduler; empty means rr
    // --nodeport-addresses: empty means every node address; `nodePortPrimary` is "primary".
    std::vector<watch::Cidr> nodePortAddresses;
    bool nodePortPrimary = false;
    // Feature gate PreferSameTrafficDistribution: EndpointSlice node hints (forNodes) narrow
    // the endpoints, as zone hints do.
    bool nodeHints = true;
    bool ipv4 = true;  // the families this node proxies
    bool ipv6 = true;
    // Whether the kernel has a scheduler an annotation names (asked only for known names); null:
    // every known name is taken.
    std::function<bool(const std::string&)> schedulerAvailable;
};

// What the proxier needs to know of this node.
struct NodeView {
    // The node's own addresses (every interface but kube-ipvs0), for NodePorts and to tell
    // whether an external or load-balancer IP is already local.
    std::vector<InetAddress> localAddresses;
    std::vector<InetAddress> primaryIPs;  // the Node object's first InternalIP of each family
    std::string zone;  // label topology.kubernetes.io/zone
};

using kipvs::IpPort;

// Real servers sorted by address, then port.
using WantedVirtualServer = ipvs::VirtualServerState;

// Small sets as sorted vectors (Boost's flat_set), where a std::set's header and per-element nodes
// cost more than the elements: the state store's list of each Service's EndpointSlices.
using boost::container::flat_set;

// The kinds of entry a Service adds to kube-ipvs0 and the nftables sets.
enum class Member : uint8_t {
    BoundAddress,  // on kube-ipvs0 (the address only; its port is 0)
    ClusterIP,  // ClusterIP:port
    NodePort,  // node address:NodePort
    ExternalIP,  // external IP:port
    LoadBalancerIP,  // load-balancer IP:port
    LocalPolicy,  // external entries whose traffic keeps the client's address (ETP Local)
    LocalEndpoint,  // endpoints on this node, for hairpin masquerade
};
inline constexpr size_t kMemberKinds = 7;

// A Service's entries of every kind in one vector, each kind's sorted and apart: one block and 56
// bytes, where a flat_set per kind took 168 bytes and a block for each kind the Service has.
class ServiceMembers {
public:
    // Collects entries in any order, then builds the members once (sorted, without duplicates).
    class Builder {
    public:
        void add(Member kind, const IpPort& entry) { entries_[static_cast<size_t>(kind)].push_back(entry); }
        ServiceMembers build();

    private:
        std::array<std::vector<IpPort>, kMemberKinds> entries_;
    };

    std::span<const IpPort> of(Member kind) const;
    bool contains(Member kind, const IpPort& entry) const;
    bool operator==(const ServiceMembers&) const = default;

private:
    std::vector<IpPort> entries_;
    std::array<uint32_t, kMemberKinds> ends_{};  // where each kind's entries end in entries_
};

// Everything one Service asks of the node. The set members are for the nftables table. Built once
// and then immutable (shared by the wanted table and the mirror), so sized exactly.
struct ServiceProxy {
    std::vector<WantedVirtualServer> virtualServers;
    ServiceMembers members;
    std::vector<std::pair<IpPort, watch::Cidr>> sourceRanges;  // LB IP:port allowed from these CIDRs
    uint16_t healthCheckNodePort = 0;  // served when LoadBalancer + ETP Local
    size_t readyLocalEndpoints = 0;  // ready endpoints on this node (the health check's count)
    bool internalHasNoLocalEndpoints = false;  // Local policy, endpoints exist but none here
    bool externalHasNoLocalEndpoints = false;
    std::vector<std::string> warnings;  // for events and the log: an invalid annotation...
};

// The proxy of one Service given the EndpointSlices that name it. A headless, ExternalName or
// other-proxy Service yields nothing.
ServiceProxy proxyService(const watch::Service& service, std::span<const watch::EndpointSlice* const> slices,
                          const NodeView& node, const ProxierConfig& config);

// The node addresses NodePorts of `family` are served on: --nodeport-addresses ("primary": the
// Node's InternalIPs), else every node address but loopback and IPv6 link-local. The CIDRs apply
// per family: a family none of them names uses all its addresses (upstream's NodePortAddresses).
std::vector<InetAddress> nodePortAddresses(int family, const NodeView& node, const ProxierConfig& config);

// Where health-check node ports listen, as kube-proxy: every address (nullopt) unless
// --nodeport-addresses restricts NodePorts, then the NodePort addresses of both families.
std::optional<std::vector<InetAddress>> healthCheckAddresses(const NodeView& node, const ProxierConfig& config);

// Whether `name` is an IPVS scheduler the kernel ships.
bool knownScheduler(const std::string& name);

}  // namespace kipvs::proxy
