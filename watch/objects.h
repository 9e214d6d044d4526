// SPDX-License-Identifier: Apache-2.0
// The API objects kube-ipvsd reads, holding only what proxying needs, in compact form.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/protocol.h"
#include "watch/string_pool.h"

namespace kipvs::watch {

using kipvs::Protocol;
using kipvs::protocolName;

struct ObjectKey {
    PooledString namespaceName;
    std::string name;
    std::string toString() const { return std::string(namespaceName.view()) + "/" + name; }
    auto operator<=>(const ObjectKey&) const = default;
    bool operator==(const ObjectKey&) const = default;
};

struct ServicePort {
    std::string name;
    Protocol protocol = Protocol::Tcp;
    uint16_t port = 0;
    uint16_t nodePort = 0;  // 0: none
    bool operator==(const ServicePort&) const = default;
};

struct LoadBalancerIngress {
    InetAddress ip;
    bool proxyMode = false;  // ipMode: Proxy (the LB delivers to node ports; do not program the IP)
    bool operator==(const LoadBalancerIngress&) const = default;
};

using kipvs::Cidr;

struct Service {
    enum class Type : uint8_t { ClusterIP, NodePort, LoadBalancer, ExternalName };
    enum class TrafficDistribution : uint8_t { None, PreferSameZone, PreferSameNode };

    // The vectors and strings first, the small fields packed after them: 224 bytes, where the
    // small fields scattered among the rest padded it to 240 (the store keeps every Service).
    ObjectKey key;
    std::string resourceVersion;
    // metadata.creationTimestamp (the epoch when absent or invalid): orders Services by age.
    std::chrono::sys_seconds created{};
    std::vector<InetAddress> clusterIPs;  // in spec order; one per family at most
    std::vector<ServicePort> ports;
    std::vector<InetAddress> externalIPs;
    std::vector<LoadBalancerIngress> loadBalancerIngress;
    std::vector<Cidr> loadBalancerSourceRanges;
    // kube-ipvsd.io/scheduler, empty when absent. Pooled: a few names for every Service, and the
    // store holds each Service for its life (8 bytes, not a 32-byte string).
    PooledString schedulerAnnotation;
    uint32_t affinityTimeoutSeconds = 0;  // with clientIPAffinity; the API default is 10800
    uint16_t healthCheckNodePort = 0;
    Type type = Type::ClusterIP;
    bool headless = false;  // clusterIP "None" or empty
    bool clientIPAffinity = false;
    bool externalTrafficLocal = false;
    bool internalTrafficLocal = false;
    TrafficDistribution trafficDistribution = TrafficDistribution::None;
    // Label service.kubernetes.io/service-proxy-name is set: another proxy owns the service. The
    // API path filters these out server-side; manifests need the proxier to skip them.
    bool otherProxy = false;

    bool operator==(const Service&) const = default;
};
static_assert(sizeof(Service) == 224);

// One endpoint's topology hints (hints.forZones, hints.forNodes): both empty where it has none.
struct EndpointHints {
    std::vector<PooledString> zones;
    std::vector<PooledString> nodes;
    bool empty() const { return zones.empty() && nodes.empty(); }
    bool operator==(const EndpointHints&) const = default;
};

// 21 bytes: the store holds one per endpoint of the cluster. Its zone is not kept (the proxier
// reads only hints), nor its hints, which the slice keeps apart, nor its node's name: only
// whether that is this node (StringPool::isLocalNode), all the proxier asks of it.
struct Endpoint {
    InetAddress address;  // addresses[0]; the rest are ignored, as upstream does
    bool ready = true;  // nil means true
    bool serving = true;  // nil means true
    bool terminating = false;  // nil means false
    bool local = false;  // nodeName is this node's
    bool operator==(const Endpoint&) const = default;
};
static_assert(sizeof(Endpoint) == 21);

// 16 bytes, its name pooled (the same few names in every slice), where an optional string was 48.
struct EndpointPort {
    PooledString name;  // with `named`; "" is a name
    bool named = false;  // false: nil, ignored by the proxier
    Protocol protocol = Protocol::Tcp;
    uint16_t port = 0;  // 0: nil or 0, ignored by the proxier
    bool operator==(const EndpointPort&) const = default;
};

struct EndpointSlice {
    ObjectKey key;
    std::string resourceVersion;
    std::string serviceName;  // label kubernetes.io/service-name
    int addressFamily = AF_INET;  // addressType IPv4 or IPv6 (FQDN slices are rejected)
    std::vector<Endpoint> endpoints;
    // The endpoints' hints by index; empty where none of them has any (topology-aware routing
    // off), as in most slices.
    std::vector<EndpointHints> hints;
    std::vector<EndpointPort> ports;
    // Annotation endpoints.kubernetes.io/last-change-trigger-time; none when absent or invalid.
    std::optional<std::chrono::system_clock::time_point> lastChangeTriggerTime;
    bool operator==(const EndpointSlice&) const = default;

    // The hints of endpoints[index], or null where it has none.
    const EndpointHints* hintsOf(size_t index) const
    {
        return index < hints.size() && !hints[index].empty() ? &hints[index] : nullptr;
    }
};

struct NodeAddress {
    enum class Type : uint8_t { InternalIP, ExternalIP, Other };
    Type type = Type::Other;
    InetAddress address;
    bool operator==(const NodeAddress&) const = default;
};

struct Node {
    ObjectKey key;  // cluster-scoped: empty namespace
    std::string resourceVersion;
    std::vector<NodeAddress> addresses;
    std::string zone;  // label topology.kubernetes.io/zone
    std::vector<Cidr> podCidrs;  // spec.podCIDRs (spec.podCIDR on servers before dual-stack)
    bool deleting = false;  // metadata.deletionTimestamp set
    bool toBeDeletedByAutoscaler = false;  // taint ToBeDeletedByClusterAutoscaler
    bool operator==(const Node&) const = default;
};

// A range the cluster allocates ClusterIPs from (networking.k8s.io/v1 ServiceCIDR, GA in 1.33):
// the kernel worker routes each as local on kube-ipvs0 instead of binding every ClusterIP in it.
struct ServiceCidr {
    ObjectKey key;  // cluster-scoped: empty namespace
    std::string resourceVersion;
    std::vector<Cidr> cidrs;  // spec.cidrs: one per family at most
    bool operator==(const ServiceCidr&) const = default;
};

}  // namespace kipvs::watch
