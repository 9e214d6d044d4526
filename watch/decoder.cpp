// SPDX-License-Identifier: Apache-2.0
// Decoding of Kubernetes JSON into the compact object model (see decoder.h).
#include "watch/decoder.h"


#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace kipvs::watch {

namespace {

using rapidjson::Document;
using rapidjson::SizeType;
using rapidjson::Value;

// Forwards SAX events to a Document and refuses documents nested deeper than `max`; with
// iterative parsing, a hostile depth costs neither stack nor more memory than its bytes.
struct DepthLimitedHandler {
    Document& doc;
    unsigned max;
    unsigned depth = 0;
    bool tooDeep = false;

    bool Null() { return doc.Null(); }
    bool Bool(bool b) { return doc.Bool(b); }
    bool Int(int i) { return doc.Int(i); }
    bool Uint(unsigned u) { return doc.Uint(u); }
    bool Int64(int64_t i) { return doc.Int64(i); }
    bool Uint64(uint64_t u) { return doc.Uint64(u); }
    bool Double(double d) { return doc.Double(d); }
    bool RawNumber(const char* s, SizeType n, bool copy) { return doc.RawNumber(s, n, copy); }
    bool String(const char* s, SizeType n, bool copy) { return doc.String(s, n, copy); }
    bool Key(const char* s, SizeType n, bool copy) { return doc.Key(s, n, copy); }
    bool StartObject() { return enter() && doc.StartObject(); }
    bool EndObject(SizeType members) { --depth; return doc.EndObject(members); }
    bool StartArray() { return enter() && doc.StartArray(); }
    bool EndArray(SizeType elements) { --depth; return doc.EndArray(elements); }

    bool enter()
    {
        if (++depth > max) {
            tooDeep = true;
            return false;
        }
        return true;
    }
};

struct InsituGenerator {
    char* text;
    unsigned maxDepth;
    rapidjson::ParseResult result;
    bool tooDeep = false;

    bool operator()(Document& doc)
    {
        rapidjson::InsituStringStream stream(text);
        rapidjson::Reader reader;
        DepthLimitedHandler handler{doc, maxDepth};
        result = reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag>(stream, handler);
        tooDeep = handler.tooDeep;
        return !result.IsError();
    }
};

Result<void> parse(Document& doc, std::string& json, size_t maxBytes, unsigned maxDepth)
{
    if (json.size() > maxBytes)
        return fail(Error::Domain::Decode, EMSGSIZE, "decode JSON", "",
                    std::to_string(json.size()) + " bytes, over the limit of " + std::to_string(maxBytes));
    InsituGenerator generator{json.data(), maxDepth, {}};
    doc.Populate(generator);
    if (generator.tooDeep)
        return fail(Error::Domain::Decode, EINVAL, "decode JSON", "",
                    "nested deeper than " + std::to_string(maxDepth) + " levels");
    if (generator.result.IsError())
        return fail(Error::Domain::Decode, EINVAL, "decode JSON", "",
                    std::string(rapidjson::GetParseError_En(generator.result.Code())) + " at offset " +
                        std::to_string(generator.result.Offset()));
    return {};
}

const Value* member(const Value& object, const char* name)
{
    if (!object.IsObject())
        return nullptr;
    auto found = object.FindMember(name);
    return found == object.MemberEnd() ? nullptr : &found->value;
}

const Value* path(const Value& object, std::initializer_list<const char*> names)
{
    const Value* at = &object;
    for (const char* name : names) {
        at = member(*at, name);
        if (!at)
            return nullptr;
    }
    return at;
}

std::string_view text(const Value* value)
{
    if (!value || !value->IsString())
        return {};
    return {value->GetString(), value->GetStringLength()};
}

std::string_view text(const Value& object, std::initializer_list<const char*> names)
{
    return text(path(object, names));
}

// Builds the rejection of one object and carries it through the decoders.
class Rejector {
public:
    explicit Rejector(const Value& object)
    {
        auto ns = text(object, {"metadata", "namespace"});
        auto name = text(object, {"metadata", "name"});
        name_ = name.empty() ? "(unnamed)" : (ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name));
    }
    tl::unexpected<Rejection> operator()(const char* reason, std::string detail) const
    {
        return tl::unexpected<Rejection>(Rejection{name_, reason, std::move(detail)});
    }

private:
    std::string name_;
};

template <typename T>
using Decoded = tl::expected<T, Rejection>;

Decoded<std::optional<int64_t>> integer(const Value* value, const Rejector& reject, const char* field)
{
    if (!value || value->IsNull())
        return std::optional<int64_t>();
    if (!value->IsInt64())
        return reject("invalid-field", std::string(field) + " is not an integer");
    return std::optional<int64_t>(value->GetInt64());
}

Decoded<InetAddress> address(std::string_view value, const Rejector& reject, const char* field)
{
    auto parsed = InetAddress::parse(value);
    if (!parsed)
        return reject("invalid-ip", std::string(field) + " '" + std::string(value) + "' is not an IP address");
    return *parsed;
}

Decoded<Protocol> protocol(const Value* value, const Rejector& reject, const char* field)
{
    auto name = text(value);
    if (name.empty() || name == "TCP")
        return Protocol::Tcp;
    if (name == "UDP")
        return Protocol::Udp;
    if (name == "SCTP")
        return Protocol::Sctp;
    return reject("invalid-protocol", std::string(field) + " '" + std::string(name) + "' is not TCP, UDP or SCTP");
}

Decoded<uint16_t> port(const Value* value, const Rejector& reject, const char* field, bool zeroAllowed)
{
    KIPVS_ASSIGN_OR_RETURN(auto number, integer(value, reject, field));
    int64_t n = number.value_or(0);
    if (n < (zeroAllowed ? 0 : 1) || n > 65535)
        return reject("invalid-port", std::string(field) + " " + std::to_string(n) + " is out of range");
    return static_cast<uint16_t>(n);
}

Decoded<Cidr> cidr(std::string_view value, const Rejector& reject, const char* field)
{
    // The API server trims spaces around source ranges (service validation, "TrimSpace").
    while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ')
        value.remove_suffix(1);
    auto parsed = Cidr::parse(value);
    if (!parsed)
        return reject("invalid-cidr", std::string(field) + " '" + std::string(value) + "' is not a CIDR");
    return *parsed;
}

Decoded<ObjectKey> key(const Value& object, StringPool& pool, const Rejector& reject, bool namespaced)
{
    auto name = text(object, {"metadata", "name"});
    auto ns = text(object, {"metadata", "namespace"});
    if (name.empty() || (namespaced && ns.empty()))
        return reject("no-name", "metadata.name or metadata.namespace is missing");
    return ObjectKey{pool.intern(ns), std::string(name)};
}

Decoded<std::vector<InetAddress>> addressList(const Value* list, const Rejector& reject, const char* field)
{
    std::vector<InetAddress> out;
    if (!list || list->IsNull())
        return out;
    if (!list->IsArray())
        return reject("invalid-field", std::string(field) + " is not a list");
    for (const auto& item : list->GetArray()) {
        KIPVS_ASSIGN_OR_RETURN(auto a, address(text(&item), reject, field));
        out.push_back(a);
    }
    return out;
}

Decoded<Service> decodeService(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    Service s;
    KIPVS_ASSIGN_OR_RETURN(auto k, key(object, pool, reject, true));
    s.key = std::move(k);
    s.resourceVersion = text(object, {"metadata", "resourceVersion"});
    s.schedulerAnnotation = text(object, {"metadata", "annotations", "kube-ipvsd.io/scheduler"});
    s.otherProxy = path(object, {"metadata", "labels", "service.kubernetes.io/service-proxy-name"}) != nullptr;
    const Value* spec = member(object, "spec");
    if (!spec || !spec->IsObject())
        return reject("invalid-field", "spec is missing");

    auto type = text(member(*spec, "type"));
    if (type.empty() || type == "ClusterIP")
        s.type = Service::Type::ClusterIP;
    else if (type == "NodePort")
        s.type = Service::Type::NodePort;
    else if (type == "LoadBalancer")
        s.type = Service::Type::LoadBalancer;
    else if (type == "ExternalName")
        s.type = Service::Type::ExternalName;
    else
        return reject("invalid-type", "spec.type '" + std::string(type) + "' is unknown");

    auto clusterIP = text(member(*spec, "clusterIP"));
    s.headless = clusterIP.empty() || clusterIP == "None";
    if (!s.headless) {
        KIPVS_ASSIGN_OR_RETURN(auto ips, addressList(member(*spec, "clusterIPs"), reject, "spec.clusterIPs"));
        s.clusterIPs = std::move(ips);
        KIPVS_ASSIGN_OR_RETURN(auto primary, address(clusterIP, reject, "spec.clusterIP"));
        if (s.clusterIPs.empty())
            s.clusterIPs.push_back(primary);
        if (s.clusterIPs.front() != primary)
            return reject("invalid-ip", "spec.clusterIPs[0] differs from spec.clusterIP");
        if (s.clusterIPs.size() > 2 || (s.clusterIPs.size() == 2 && s.clusterIPs[0].family() == s.clusterIPs[1].family()))
            return reject("invalid-ip", "spec.clusterIPs holds more than one address per family");
    }

    if (const Value* ports = member(*spec, "ports"); ports && ports->IsArray()) {
        for (const auto& p : ports->GetArray()) {
            ServicePort sp;
            sp.name = text(member(p, "name"));
            auto proto = protocol(member(p, "protocol"), reject, "spec.ports[].protocol");
            auto number = port(member(p, "port"), reject, "spec.ports[].port", false);
            auto nodePort = port(member(p, "nodePort"), reject, "spec.ports[].nodePort", true);
            if (!proto)
                return tl::unexpected(proto.error());
            if (!number)
                return tl::unexpected(number.error());
            if (!nodePort)
                return tl::unexpected(nodePort.error());
            sp.protocol = *proto;
            sp.port = *number;
            sp.nodePort = *nodePort;
            for (const auto& earlier : s.ports)
                if (earlier.name == sp.name)
                    return reject("invalid-port", "spec.ports has the name '" + sp.name + "' twice");
            s.ports.push_back(std::move(sp));
        }
    }

    if (text(member(*spec, "sessionAffinity")) == "ClientIP") {
        s.clientIPAffinity = true;
        auto timeout = integer(path(*spec, {"sessionAffinityConfig", "clientIP", "timeoutSeconds"}), reject,
                               "spec.sessionAffinityConfig.clientIP.timeoutSeconds");
        if (!timeout)
            return tl::unexpected(timeout.error());
        int64_t seconds = timeout->value_or(10800);  // the API's default
        if (seconds <= 0 || seconds > 86400)
            return reject("invalid-affinity", "session affinity timeout " + std::to_string(seconds) +
                                                   " is outside 1..86400 seconds");
        s.affinityTimeoutSeconds = static_cast<uint32_t>(seconds);
    }

    KIPVS_ASSIGN_OR_RETURN(auto external, addressList(member(*spec, "externalIPs"), reject, "spec.externalIPs"));
    s.externalIPs = std::move(external);

    if (const Value* ingress = path(object, {"status", "loadBalancer", "ingress"}); ingress && ingress->IsArray()) {
        for (const auto& entry : ingress->GetArray()) {
            auto ip = text(member(entry, "ip"));
            if (ip.empty())
                continue;  // hostname-only entries are for DNS, not for the node
            KIPVS_ASSIGN_OR_RETURN(auto a, address(ip, reject, "status.loadBalancer.ingress[].ip"));
            s.loadBalancerIngress.push_back({a, text(member(entry, "ipMode")) == "Proxy"});
        }
    }
    if (const Value* ranges = member(*spec, "loadBalancerSourceRanges"); ranges && ranges->IsArray()) {
        for (const auto& range : ranges->GetArray()) {
            KIPVS_ASSIGN_OR_RETURN(auto c, cidr(text(&range), reject, "spec.loadBalancerSourceRanges"));
            s.loadBalancerSourceRanges.push_back(c);
        }
    }
    auto etp = text(member(*spec, "externalTrafficPolicy"));
    s.externalTrafficLocal = etp == "Local" || etp == "OnlyLocal";  // OnlyLocal: the pre-1.14 spelling
    s.internalTrafficLocal = text(member(*spec, "internalTrafficPolicy")) == "Local";
    KIPVS_ASSIGN_OR_RETURN(auto healthPort, port(member(*spec, "healthCheckNodePort"), reject, "spec.healthCheckNodePort", true));
    s.healthCheckNodePort = healthPort;
    auto distribution = text(member(*spec, "trafficDistribution"));
    if (distribution == "PreferClose" || distribution == "PreferSameZone")
        s.trafficDistribution = Service::TrafficDistribution::PreferSameZone;
    else if (distribution == "PreferSameNode")
        s.trafficDistribution = Service::TrafficDistribution::PreferSameNode;
    return s;
}

// Condition booleans: nil means the API's default.
bool condition(const Value& endpoint, const char* name, bool nilMeans)
{
    const Value* value = path(endpoint, {"conditions", name});
    return value && value->IsBool() ? value->GetBool() : nilMeans;
}

Decoded<EndpointSlice> decodeEndpointSlice(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    EndpointSlice slice;
    KIPVS_ASSIGN_OR_RETURN(auto k, key(object, pool, reject, true));
    slice.key = std::move(k);
    slice.resourceVersion = text(object, {"metadata", "resourceVersion"});
    slice.serviceName = text(object, {"metadata", "labels", "kubernetes.io/service-name"});
    if (slice.serviceName.empty())
        return reject("no-service-name", "label kubernetes.io/service-name is missing");
    slice.lastChangeTriggerTime = text(object, {"metadata", "annotations", "endpoints.kubernetes.io/last-change-trigger-time"});
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
            const Value* addresses = member(e, "addresses");
            if (!addresses || !addresses->IsArray() || addresses->Empty())
                continue;  // no address: nothing to proxy to, as upstream
            KIPVS_ASSIGN_OR_RETURN(auto a, address(text(&(*addresses)[0]), reject, "endpoints[].addresses[0]"));
            if (a.family() != slice.addressFamily)
                return reject("invalid-ip", "endpoint " + a.toString() + " is not of the slice's addressType");
            Endpoint endpoint;
            endpoint.address = a;
            endpoint.ready = condition(e, "ready", true);
            endpoint.serving = condition(e, "serving", true);
            endpoint.terminating = condition(e, "terminating", false);
            endpoint.nodeName = pool.intern(text(member(e, "nodeName")));
            endpoint.zone = pool.intern(text(member(e, "zone")));
            const Value* zones = path(e, {"hints", "forZones"});
            const Value* nodes = path(e, {"hints", "forNodes"});
            if ((zones && zones->IsArray()) || (nodes && nodes->IsArray())) {
                auto hints = std::make_shared<EndpointHints>();
                if (zones && zones->IsArray())
                    for (const auto& z : zones->GetArray())
                        hints->zones.push_back(pool.intern(text(member(z, "name"))));
                if (nodes && nodes->IsArray())
                    for (const auto& n : nodes->GetArray())
                        hints->nodes.push_back(pool.intern(text(member(n, "name"))));
                endpoint.hints = std::move(hints);
            }
            slice.endpoints.push_back(std::move(endpoint));
        }
    }
    if (const Value* ports = member(object, "ports"); ports && ports->IsArray()) {
        for (const auto& p : ports->GetArray()) {
            EndpointPort ep;
            if (const Value* name = member(p, "name"); name && name->IsString())
                ep.name = std::string(text(name));
            auto proto = protocol(member(p, "protocol"), reject, "ports[].protocol");
            auto number = port(member(p, "port"), reject, "ports[].port", true);
            if (!proto)
                return tl::unexpected(proto.error());
            if (!number)
                return tl::unexpected(number.error());
            ep.protocol = *proto;
            ep.port = *number;
            slice.ports.push_back(std::move(ep));
        }
    }
    return slice;
}

Decoded<Node> decodeNode(const Value& object, StringPool& pool)
{
    Rejector reject(object);
    Node node;
    KIPVS_ASSIGN_OR_RETURN(auto k, key(object, pool, reject, false));
    node.key = std::move(k);
    node.resourceVersion = text(object, {"metadata", "resourceVersion"});
    node.zone = text(object, {"metadata", "labels", "topology.kubernetes.io/zone"});
    const Value* deletion = path(object, {"metadata", "deletionTimestamp"});
    node.deleting = deletion && !deletion->IsNull();
    if (const Value* taints = path(object, {"spec", "taints"}); taints && taints->IsArray())
        for (const auto& t : taints->GetArray())
            if (text(member(t, "key")) == "ToBeDeletedByClusterAutoscaler")
                node.toBeDeletedByAutoscaler = true;
    if (const Value* addresses = path(object, {"status", "addresses"}); addresses && addresses->IsArray()) {
        for (const auto& entry : addresses->GetArray()) {
            auto type = text(member(entry, "type"));
            NodeAddress::Type t = type == "InternalIP" ? NodeAddress::Type::InternalIP
                                  : type == "ExternalIP" ? NodeAddress::Type::ExternalIP
                                                         : NodeAddress::Type::Other;
            if (t == NodeAddress::Type::Other)
                continue;  // Hostname, InternalDNS, ExternalDNS: not addresses
            KIPVS_ASSIGN_OR_RETURN(auto a, address(text(member(entry, "address")), reject, "status.addresses[].address"));
            node.addresses.push_back({t, a});
        }
    }
    return node;
}

Decoded<Service> decodeObject(const Value& v, StringPool& p, Service*) { return decodeService(v, p); }
Decoded<EndpointSlice> decodeObject(const Value& v, StringPool& p, EndpointSlice*) { return decodeEndpointSlice(v, p); }
Decoded<Node> decodeObject(const Value& v, StringPool& p, Node*) { return decodeNode(v, p); }

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

}  // namespace

const char* kindName(Kind kind)
{
    switch (kind) {
    case Kind::Service:
        return "Service";
    case Kind::EndpointSlice:
        return "EndpointSlice";
    case Kind::Node:
        return "Node";
    }
    return "?";
}

template <typename T>
Result<ListPage<T>> Decoder::list(std::string& json)
{
    Document doc;
    KIPVS_TRY(parse(doc, json, limits_.maxDocumentBytes, limits_.maxDepth));
    const Value* items = member(doc, "items");
    if (!doc.IsObject() || (items && !items->IsNull() && !items->IsArray()))
        return fail(Error::Domain::Decode, EINVAL, "decode list", "", "not a Kubernetes list");
    ListPage<T> page;
    page.resourceVersion = text(doc, {"metadata", "resourceVersion"});
    page.continueToken = text(doc, {"metadata", "continue"});
    if (items && items->IsArray()) {
        page.items.reserve(items->Size());
        for (const auto& item : items->GetArray()) {
            auto decoded = decodeObject(item, pool_, static_cast<T*>(nullptr));
            if (decoded)
                page.items.push_back(std::move(*decoded));
            else
                page.rejected.push_back(std::move(decoded.error()));
        }
    }
    return page;
}

template <typename T>
Result<WatchEvent<T>> Decoder::event(std::string& json)
{
    Document doc;
    KIPVS_TRY(parse(doc, json, limits_.maxObjectBytes, limits_.maxDepth));
    auto type = text(member(doc, "type"));
    const Value* object = member(doc, "object");
    if (!object || !object->IsObject())
        return fail(Error::Domain::Decode, EINVAL, "decode watch event", "", "the event has no object");
    WatchEvent<T> event;
    using Type = typename WatchEvent<T>::Type;
    if (type == "ADDED")
        event.type = Type::Added;
    else if (type == "MODIFIED")
        event.type = Type::Modified;
    else if (type == "DELETED")
        event.type = Type::Deleted;
    else if (type == "BOOKMARK")
        event.type = Type::Bookmark;
    else if (type == "ERROR")
        event.type = Type::Error;
    else
        return fail(Error::Domain::Decode, EINVAL, "decode watch event", "", "unknown event type '" + std::string(type) + "'");

    event.resourceVersion = text(*object, {"metadata", "resourceVersion"});
    if (event.type == Type::Error) {
        event.status = decodeStatus(*object);
        return event;
    }
    if (event.type == Type::Bookmark) {
        event.initialEventsEnd = text(*object, {"metadata", "annotations", "k8s.io/initial-events-end"}) == "true";
        return event;
    }
    constexpr const char* expectedKind = std::is_same_v<T, Service> ? "Service"
                                         : std::is_same_v<T, EndpointSlice> ? "EndpointSlice"
                                                                            : "Node";
    auto kind = text(member(*object, "kind"));
    if (!kind.empty() && kind != expectedKind)
        return fail(Error::Domain::Decode, EINVAL, "decode watch event", "",
                    "object of kind '" + std::string(kind) + "' in a watch of " + expectedKind);
    auto decoded = decodeObject(*object, pool_, static_cast<T*>(nullptr));
    if (decoded)
        event.object = std::move(*decoded);
    else
        event.rejected = std::move(decoded.error());
    return event;
}

Result<ListPage<Service>> Decoder::serviceList(std::string& json) { return list<Service>(json); }
Result<ListPage<EndpointSlice>> Decoder::endpointSliceList(std::string& json) { return list<EndpointSlice>(json); }
Result<ListPage<Node>> Decoder::nodeList(std::string& json) { return list<Node>(json); }
Result<WatchEvent<Service>> Decoder::serviceEvent(std::string& json) { return event<Service>(json); }
Result<WatchEvent<EndpointSlice>> Decoder::endpointSliceEvent(std::string& json) { return event<EndpointSlice>(json); }
Result<WatchEvent<Node>> Decoder::nodeEvent(std::string& json) { return event<Node>(json); }

std::optional<Status> Decoder::status(std::string& json)
{
    Document doc;
    if (!parse(doc, json, limits_.maxObjectBytes, limits_.maxDepth) || text(member(doc, "kind")) != "Status")
        return std::nullopt;
    return decodeStatus(doc);
}

Result<std::vector<AnyObject>> Decoder::manifest(std::string& json, std::vector<Rejection>& rejected)
{
    Document doc;
    KIPVS_TRY(parse(doc, json, limits_.maxDocumentBytes, limits_.maxDepth));
    std::vector<AnyObject> out;
    auto one = [&](const Value& object) -> Result<void> {
        auto kind = text(member(object, "kind"));
        auto keep = [&](auto decoded) {
            if (decoded)
                out.emplace_back(std::move(*decoded));
            else
                rejected.push_back(std::move(decoded.error()));
        };
        if (kind == "Service")
            keep(decodeService(object, pool_));
        else if (kind == "EndpointSlice")
            keep(decodeEndpointSlice(object, pool_));
        else if (kind == "Node")
            keep(decodeNode(object, pool_));
        else
            rejected.push_back(Rejector(object)("unknown-kind", "kind '" + std::string(kind) +
                                                                    "' is not Service, EndpointSlice or Node")
                                   .value());
        return {};
    };
    const Value* items = member(doc, "items");
    auto kind = text(member(doc, "kind"));
    if (items && items->IsArray() && (kind == "List" || kind.ends_with("List"))) {
        for (const auto& item : items->GetArray())
            one(item);
    } else if (doc.IsObject()) {
        one(doc);
    } else {
        return fail(Error::Domain::Decode, EINVAL, "decode manifest", "", "not a Kubernetes object or list");
    }
    return out;
}

}  // namespace kipvs::watch
