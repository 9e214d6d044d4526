// SPDX-License-Identifier: Apache-2.0
// Service, EndpointSlice, Node and Status JSON into the compact objects (see object_decoders.h).
#include "watch/object_decoders.h"

#include <memory>

#include "base/rfc3339.h"

namespace kipvs::watch::fields {

namespace {

Decoded<Service::Type> serviceType(const Value& spec, const Rejector& reject)
{
    auto type = text(member(spec, "type"));
    if (type.empty() || type == "ClusterIP")
        return Service::Type::ClusterIP;
    if (type == "NodePort")
        return Service::Type::NodePort;
    if (type == "LoadBalancer")
        return Service::Type::LoadBalancer;
    if (type == "ExternalName")
        return Service::Type::ExternalName;
    return reject("invalid-type", "spec.type '" + std::string(type) + "' is unknown");
}

// spec.clusterIP and spec.clusterIPs, which must agree: at most one address per family.
Decoded<void> clusterIPs(const Value& spec, const Rejector& reject, Service& s)
{
    auto clusterIP = text(member(spec, "clusterIP"));
    s.headless = clusterIP.empty() || clusterIP == "None";
    if (s.headless)
        return {};
    KIPVS_ASSIGN_OR_RETURN(s.clusterIPs, addressList(member(spec, "clusterIPs"), reject, "spec.clusterIPs"));
    KIPVS_ASSIGN_OR_RETURN(auto primary, address(clusterIP, reject, "spec.clusterIP"));
    if (s.clusterIPs.empty())
        s.clusterIPs.push_back(primary);
    if (s.clusterIPs.front() != primary)
        return reject("invalid-ip", "spec.clusterIPs[0] differs from spec.clusterIP");
    if (s.clusterIPs.size() > 2 || (s.clusterIPs.size() == 2 && s.clusterIPs[0].family() == s.clusterIPs[1].family()))
        return reject("invalid-ip", "spec.clusterIPs holds more than one address per family");
    return {};
}

Decoded<std::vector<ServicePort>> servicePorts(const Value& spec, const Rejector& reject)
{
    std::vector<ServicePort> out;
    const Value* ports = member(spec, "ports");
    if (!ports || !ports->IsArray())
        return out;
    for (const auto& p : ports->GetArray()) {
        ServicePort sp;
        sp.name = text(member(p, "name"));
        KIPVS_ASSIGN_OR_RETURN(sp.protocol, protocol(member(p, "protocol"), reject, "spec.ports[].protocol"));
        KIPVS_ASSIGN_OR_RETURN(sp.port, port(member(p, "port"), reject, "spec.ports[].port", ZeroPort::Refused));
        KIPVS_ASSIGN_OR_RETURN(sp.nodePort,
                               port(member(p, "nodePort"), reject, "spec.ports[].nodePort", ZeroPort::Allowed));
        for (const auto& earlier : out)
            if (earlier.name == sp.name)
                return reject("invalid-port", "spec.ports has the name '" + sp.name + "' twice");
        out.push_back(std::move(sp));
    }
    return out;
}

Decoded<void> sessionAffinity(const Value& spec, const Rejector& reject, Service& s)
{
    if (text(member(spec, "sessionAffinity")) != "ClientIP")
        return {};
    s.clientIPAffinity = true;
    KIPVS_ASSIGN_OR_RETURN(auto timeout, integer(path(spec, {"sessionAffinityConfig", "clientIP", "timeoutSeconds"}),
                                                 reject, "spec.sessionAffinityConfig.clientIP.timeoutSeconds"));
    const int64_t seconds = timeout.value_or(10800);  // the API's default
    if (seconds <= 0 || seconds > 86400)
        return reject("invalid-affinity",
                      "session affinity timeout " + std::to_string(seconds) + " is outside 1..86400 seconds");
    s.affinityTimeoutSeconds = static_cast<uint32_t>(seconds);
    return {};
}

// status.loadBalancer.ingress IPs and spec.loadBalancerSourceRanges.
Decoded<void> loadBalancer(const Value& object, const Value& spec, const Rejector& reject, Service& s)
{
    if (const Value* ingress = path(object, {"status", "loadBalancer", "ingress"}); ingress && ingress->IsArray()) {
        for (const auto& entry : ingress->GetArray()) {
            auto ip = text(member(entry, "ip"));
            if (ip.empty())
                continue;  // hostname-only entries are for DNS, not for the node
            KIPVS_ASSIGN_OR_RETURN(auto a, address(ip, reject, "status.loadBalancer.ingress[].ip"));
            s.loadBalancerIngress.push_back({a, text(member(entry, "ipMode")) == "Proxy"});
        }
    }
    if (const Value* ranges = member(spec, "loadBalancerSourceRanges"); ranges && ranges->IsArray()) {
        for (const auto& range : ranges->GetArray()) {
            KIPVS_ASSIGN_OR_RETURN(auto c, cidr(text(&range), reject, "spec.loadBalancerSourceRanges"));
            s.loadBalancerSourceRanges.push_back(c);
        }
    }
    return {};
}

// The traffic policies and trafficDistribution.
void trafficPolicies(const Value& spec, Service& s)
{
    auto etp = text(member(spec, "externalTrafficPolicy"));
    s.externalTrafficLocal = etp == "Local" || etp == "OnlyLocal";  // OnlyLocal: the pre-1.14 spelling
    s.internalTrafficLocal = text(member(spec, "internalTrafficPolicy")) == "Local";
    auto distribution = text(member(spec, "trafficDistribution"));
    if (distribution == "PreferClose" || distribution == "PreferSameZone")
        s.trafficDistribution = Service::TrafficDistribution::PreferSameZone;
    else if (distribution == "PreferSameNode")
        s.trafficDistribution = Service::TrafficDistribution::PreferSameNode;
}

}  // namespace

Decoded<Service> decodeService(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    Service s;
    KIPVS_ASSIGN_OR_RETURN(s.key, key(object, pool, reject, Scope::Namespaced));
    s.resourceVersion = text(object, {"metadata", "resourceVersion"});
    if (auto created = parseRfc3339(std::string(text(object, {"metadata", "creationTimestamp"}))))
        s.created = std::chrono::floor<std::chrono::seconds>(*created);
    s.schedulerAnnotation = pool.intern(text(object, {"metadata", "annotations", "kube-ipvsd.io/scheduler"}));
    s.otherProxy = path(object, {"metadata", "labels", "service.kubernetes.io/service-proxy-name"}) != nullptr;
    const Value* spec = member(object, "spec");
    if (!spec || !spec->IsObject())
        return reject("invalid-field", "spec is missing");
    KIPVS_ASSIGN_OR_RETURN(s.type, serviceType(*spec, reject));
    KIPVS_TRY(clusterIPs(*spec, reject, s));
    KIPVS_ASSIGN_OR_RETURN(s.ports, servicePorts(*spec, reject));
    KIPVS_TRY(sessionAffinity(*spec, reject, s));
    KIPVS_ASSIGN_OR_RETURN(s.externalIPs, addressList(member(*spec, "externalIPs"), reject, "spec.externalIPs"));
    KIPVS_TRY(loadBalancer(object, *spec, reject, s));
    trafficPolicies(*spec, s);
    KIPVS_ASSIGN_OR_RETURN(s.healthCheckNodePort, port(member(*spec, "healthCheckNodePort"), reject,
                                                       "spec.healthCheckNodePort", ZeroPort::Allowed));
    return s;
}

namespace {

// Condition booleans: nil means the API's default.
bool condition(const Value& endpoint, const char* name, bool nilMeans)
{
    const Value* value = path(endpoint, {"conditions", name});
    return value && value->IsBool() ? value->GetBool() : nilMeans;
}

Decoded<EndpointPort> endpointPort(const Value& p, StringPool& pool, const Rejector& reject)
{
    EndpointPort ep;
    if (const Value* name = member(p, "name"); name && name->IsString()) {
        ep.named = true;
        ep.name = pool.intern(text(name));
    }
    KIPVS_ASSIGN_OR_RETURN(ep.protocol, protocol(member(p, "protocol"), reject, "ports[].protocol"));
    KIPVS_ASSIGN_OR_RETURN(ep.port, port(member(p, "port"), reject, "ports[].port", ZeroPort::Allowed));
    return ep;
}

EndpointHints hintsOf(const Value& e, StringPool& pool)
{
    EndpointHints hints;
    if (const Value* zones = path(e, {"hints", "forZones"}); zones && zones->IsArray())
        for (const auto& z : zones->GetArray())
            hints.zones.push_back(pool.intern(text(member(z, "name"))));
    if (const Value* nodes = path(e, {"hints", "forNodes"}); nodes && nodes->IsArray())
        for (const auto& n : nodes->GetArray())
            hints.nodes.push_back(pool.intern(text(member(n, "name"))));
    return hints;
}

// One endpoint of a slice of `family`; nullopt for one without an address (nothing to proxy
// to, as upstream).
Decoded<std::optional<Endpoint>> endpointOf(const Value& e, int family, StringPool& pool, const Rejector& reject)
{
    const Value* addresses = member(e, "addresses");
    if (!addresses || !addresses->IsArray() || addresses->Empty())
        return std::optional<Endpoint>();
    KIPVS_ASSIGN_OR_RETURN(auto a, address(text(&(*addresses)[0]), reject, "endpoints[].addresses[0]"));
    if (a.family() != family)
        return reject("invalid-ip", "endpoint " + a.toString() + " is not of the slice's addressType");
    Endpoint endpoint;
    endpoint.address = a;
    endpoint.ready = condition(e, "ready", true);
    endpoint.serving = condition(e, "serving", true);
    endpoint.terminating = condition(e, "terminating", false);
    endpoint.local = pool.isLocalNode(text(member(e, "nodeName")));
    return std::optional<Endpoint>(endpoint);
}

}  // namespace

Decoded<EndpointSlice> decodeEndpointSlice(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    EndpointSlice slice;
    KIPVS_ASSIGN_OR_RETURN(slice.key, key(object, pool, reject, Scope::Namespaced));
    slice.resourceVersion = text(object, {"metadata", "resourceVersion"});
    slice.serviceName = text(object, {"metadata", "labels", "kubernetes.io/service-name"});
    if (slice.serviceName.empty())
        return reject("no-service-name", "label kubernetes.io/service-name is missing");
    slice.lastChangeTriggerTime = parseRfc3339(
        std::string(text(object, {"metadata", "annotations", "endpoints.kubernetes.io/last-change-trigger-time"})));
    auto addressType = text(member(object, "addressType"));
    if (addressType == "IPv4")
        slice.addressFamily = AF_INET;
    else if (addressType == "IPv6")
        slice.addressFamily = AF_INET6;
    else
        return reject("unsupported-address-type", "addressType '" + std::string(addressType) + "' is not IPv4 or IPv6");
    if (const Value* endpoints = member(object, "endpoints"); endpoints && endpoints->IsArray()) {
        slice.endpoints.reserve(endpoints->Size());
        for (const auto& e : endpoints->GetArray()) {
            KIPVS_ASSIGN_OR_RETURN(auto endpoint, endpointOf(e, slice.addressFamily, pool, reject));
            if (!endpoint)
                continue;
            slice.endpoints.push_back(*endpoint);
            if (auto hints = hintsOf(e, pool); !hints.empty()) {
                slice.hints.resize(slice.endpoints.size());
                slice.hints.back() = std::move(hints);
            }
        }
        if (!slice.hints.empty())
            slice.hints.resize(slice.endpoints.size());
    }
    if (const Value* ports = member(object, "ports"); ports && ports->IsArray())
        for (const auto& p : ports->GetArray()) {
            KIPVS_ASSIGN_OR_RETURN(auto ep, endpointPort(p, pool, reject));
            slice.ports.push_back(std::move(ep));
        }
    return slice;
}

namespace {

Decoded<void> podCidrs(const Value& object, const Rejector& reject, Node& node)
{
    if (const Value* cidrs = path(object, {"spec", "podCIDRs"}); cidrs && cidrs->IsArray()) {
        for (const auto& entry : cidrs->GetArray()) {
            KIPVS_ASSIGN_OR_RETURN(auto c, cidr(text(&entry), reject, "spec.podCIDRs"));
            node.podCidrs.push_back(c);
        }
    }
    if (node.podCidrs.empty())
        if (auto single = text(object, {"spec", "podCIDR"}); !single.empty()) {
            KIPVS_ASSIGN_OR_RETURN(auto c, cidr(single, reject, "spec.podCIDR"));
            node.podCidrs.push_back(c);
        }
    return {};
}

}  // namespace

Decoded<Node> decodeNode(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    Node node;
    KIPVS_ASSIGN_OR_RETURN(node.key, key(object, pool, reject, Scope::Cluster));
    node.resourceVersion = text(object, {"metadata", "resourceVersion"});
    node.zone = text(object, {"metadata", "labels", "topology.kubernetes.io/zone"});
    const Value* deletion = path(object, {"metadata", "deletionTimestamp"});
    node.deleting = deletion && !deletion->IsNull();
    if (const Value* taints = path(object, {"spec", "taints"}); taints && taints->IsArray())
        for (const auto& t : taints->GetArray())
            if (text(member(t, "key")) == "ToBeDeletedByClusterAutoscaler")
                node.toBeDeletedByAutoscaler = true;
    KIPVS_TRY(podCidrs(object, reject, node));
    if (const Value* addresses = path(object, {"status", "addresses"}); addresses && addresses->IsArray()) {
        for (const auto& entry : addresses->GetArray()) {
            auto type = text(member(entry, "type"));
            NodeAddress::Type t = type == "InternalIP"   ? NodeAddress::Type::InternalIP
                                  : type == "ExternalIP" ? NodeAddress::Type::ExternalIP
                                                         : NodeAddress::Type::Other;
            if (t == NodeAddress::Type::Other)
                continue;  // Hostname, InternalDNS, ExternalDNS: not addresses
            KIPVS_ASSIGN_OR_RETURN(auto a,
                                   address(text(member(entry, "address")), reject, "status.addresses[].address"));
            node.addresses.push_back({t, a});
        }
    }
    return node;
}

Decoded<ServiceCidr> decodeServiceCidr(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    ServiceCidr range;
    KIPVS_ASSIGN_OR_RETURN(range.key, key(object, pool, reject, Scope::Cluster));
    range.resourceVersion = text(object, {"metadata", "resourceVersion"});
    if (const Value* cidrs = path(object, {"spec", "cidrs"}); cidrs && cidrs->IsArray()) {
        for (const auto& entry : cidrs->GetArray()) {
            KIPVS_ASSIGN_OR_RETURN(auto c, cidr(text(&entry), reject, "spec.cidrs"));
            range.cidrs.push_back(c);
        }
    }
    return range;
}

Status decodeStatus(const Value& object)
{
    Status s;
    if (const Value* code = member(object, "code"); code && code->IsInt())
        s.code = code->GetInt();
    s.reason = text(member(object, "reason"));
    s.message = text(member(object, "message"));
    if (const Value* causes = path(object, {"details", "causes"}); causes && causes->IsArray())
        for (const auto& cause : causes->GetArray())
            if (text(member(cause, "reason")) == "ResourceVersionTooLarge")
                s.resourceVersionTooLarge = true;
    // Servers before the cause existed said so only in the message.
    if (s.message.find("Too large resource version") != std::string::npos)
        s.resourceVersionTooLarge = true;
    return s;
}

}  // namespace kipvs::watch::fields
