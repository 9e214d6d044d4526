// SPDX-License-Identifier: Apache-2.0
// Decoding of Services, EndpointSlices, Nodes, lists and watch events, including hostile input.
#include <catch2/catch.hpp>

#include "base/rfc3339.h"
#include "watch/decoder.h"

using namespace kipvs;
using namespace kipvs::watch;

namespace {

InetAddress ip(const char* text)
{
    return *InetAddress::parse(text);
}

std::string serviceJson(const std::string& spec, const std::string& extra = "")
{
    return R"({"kind":"Service","metadata":{"name":"web","namespace":"shop","resourceVersion":"42")" + extra +
           R"(},"spec":)" + spec + "}";
}

Result<WatchEvent<Service>> serviceEvent(Decoder& decoder, const std::string& type, const std::string& object)
{
    std::string json = R"({"type":")" + type + R"(","object":)" + object + "}";
    return decoder.serviceEvent(json);
}

// Decodes one Service through a watch event and returns the rejection, or nullopt if accepted.
std::optional<Rejection> rejectionOf(const std::string& object)
{
    StringPool pool;
    Decoder decoder(pool);
    auto event = serviceEvent(decoder, "ADDED", object);
    REQUIRE(event);
    return event->rejected;
}

}  // namespace

TEST_CASE("A Service decodes every field proxying needs", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    auto event = serviceEvent(decoder, "MODIFIED",
                              serviceJson(R"({
        "type":"LoadBalancer","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10","fd00::10"],
        "ipFamilies":["IPv4","IPv6"],
        "ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080},
                 {"name":"dns","protocol":"UDP","port":53,"nodePort":30053},
                 {"name":"s","protocol":"SCTP","port":9999}],
        "sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}},
        "externalIPs":["192.0.2.10"],"loadBalancerSourceRanges":[" 203.0.113.0/24","2001:db8::/32"],
        "externalTrafficPolicy":"Local","internalTrafficPolicy":"Local","healthCheckNodePort":32000,
        "trafficDistribution":"PreferClose"},
        "status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.1"},{"ip":"198.51.100.2","ipMode":"Proxy"},{"hostname":"lb.example"}]}})",
                                          R"(,"annotations":{"kube-ipvsd.io/scheduler":"mh"})"));
    REQUIRE(event);
    CHECK(event->type == WatchEvent<Service>::Type::Modified);
    CHECK(event->resourceVersion == "42");
    REQUIRE(event->object);
    const Service& s = *event->object;
    CHECK(s.key.toString() == "shop/web");
    CHECK(s.type == Service::Type::LoadBalancer);
    CHECK_FALSE(s.headless);
    CHECK(s.clusterIPs == std::vector<InetAddress>{ip("10.96.0.10"), ip("fd00::10")});
    REQUIRE(s.ports.size() == 3);
    CHECK(s.ports[0] == ServicePort{"http", Protocol::Tcp, 80, 30080});
    CHECK(s.ports[1] == ServicePort{"dns", Protocol::Udp, 53, 30053});
    CHECK(s.ports[2] == ServicePort{"s", Protocol::Sctp, 9999, 0});
    CHECK(s.clientIPAffinity);
    CHECK(s.affinityTimeoutSeconds == 600u);
    CHECK(s.externalIPs == std::vector<InetAddress>{ip("192.0.2.10")});
    REQUIRE(s.loadBalancerIngress.size() == 2);  // the hostname-only entry is not an address
    CHECK_FALSE(s.loadBalancerIngress[0].proxyMode);
    CHECK(s.loadBalancerIngress[1].proxyMode);
    REQUIRE(s.loadBalancerSourceRanges.size() == 2);
    CHECK(s.loadBalancerSourceRanges[0] == Cidr{ip("203.0.113.0"), 24});
    CHECK(s.externalTrafficLocal);
    CHECK(s.internalTrafficLocal);
    CHECK(s.healthCheckNodePort == 32000);
    CHECK(s.trafficDistribution == Service::TrafficDistribution::PreferSameZone);
    CHECK(s.schedulerAnnotation.view() == "mh");
    CHECK_FALSE(s.otherProxy);
    auto other = serviceEvent(
        decoder, "ADDED",
        serviceJson(R"({"clusterIP":"10.0.0.1"})", R"(,"labels":{"service.kubernetes.io/service-proxy-name":"x"})"));
    REQUIRE(other);
    CHECK(other->object->otherProxy);
}

TEST_CASE("Service defaults follow the API: TCP, no affinity timeout unless ClientIP, 10800 s", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    auto plain = serviceEvent(decoder, "ADDED", serviceJson(R"({"clusterIP":"10.0.0.1","ports":[{"port":80}]})"));
    REQUIRE(plain);
    REQUIRE(plain->object);
    CHECK(plain->object->type == Service::Type::ClusterIP);
    CHECK(plain->object->ports[0].protocol == Protocol::Tcp);
    CHECK(plain->object->clusterIPs == std::vector<InetAddress>{ip("10.0.0.1")});
    CHECK_FALSE(plain->object->clientIPAffinity);

    auto sticky =
        serviceEvent(decoder, "ADDED", serviceJson(R"({"clusterIP":"10.0.0.1","sessionAffinity":"ClientIP"})"));
    REQUIRE(sticky);
    REQUIRE(sticky->object);
    CHECK(sticky->object->affinityTimeoutSeconds == 10800u);

    auto headless = serviceEvent(decoder, "ADDED", serviceJson(R"({"clusterIP":"None"})"));
    REQUIRE(headless);
    CHECK(headless->object->headless);
    auto externalName =
        serviceEvent(decoder, "ADDED", serviceJson(R"({"type":"ExternalName","externalName":"db.example"})"));
    REQUIRE(externalName);
    CHECK(externalName->object->type == Service::Type::ExternalName);
    CHECK(externalName->object->headless);
}

TEST_CASE("Leading zeros in an IPv4 address are decimal, never octal", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    auto event = serviceEvent(decoder, "ADDED", serviceJson(R"({"clusterIP":"010.096.000.010"})"));
    REQUIRE(event);
    REQUIRE(event->object);
    CHECK(event->object->clusterIPs.front().toString() == "10.96.0.10");
}

TEST_CASE("A Service with an invalid field is rejected with a reason, alone", "[unit]")
{
    struct Case {
        const char* spec;
        const char* reason;
    };
    const Case cases[] = {
        {R"({"clusterIP":"999.1.1.1"})", "invalid-ip"},
        {R"({"clusterIP":"10.0.0.1 "})", "invalid-ip"},
        {R"({"clusterIP":"10.0.0.1","clusterIPs":["10.0.0.2"]})", "invalid-ip"},
        {R"({"clusterIP":"10.0.0.1","clusterIPs":["10.0.0.1","10.0.0.2"]})", "invalid-ip"},
        {R"({"clusterIP":"10.0.0.1","clusterIPs":["10.0.0.1","fd00::1","fd00::2"]})", "invalid-ip"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"port":0}]})", "invalid-port"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"port":65536}]})", "invalid-port"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"port":-1}]})", "invalid-port"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"port":80,"nodePort":70000}]})", "invalid-port"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"port":"80"}]})", "invalid-field"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"port":80,"protocol":"ICMP"}]})", "invalid-protocol"},
        {R"({"clusterIP":"10.0.0.1","ports":[{"name":"a","port":80},{"name":"a","port":81}]})", "invalid-port"},
        {R"({"clusterIP":"10.0.0.1","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}}})",
         "invalid-affinity"},
        {R"({"clusterIP":"10.0.0.1","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":86401}}})",
         "invalid-affinity"},
        {R"({"clusterIP":"10.0.0.1","externalIPs":["1.2.3"]})", "invalid-ip"},
        {R"({"clusterIP":"10.0.0.1","loadBalancerSourceRanges":["10.0.0.0/33"]})", "invalid-cidr"},
        {R"({"clusterIP":"10.0.0.1","loadBalancerSourceRanges":["10.0.0.0"]})", "invalid-cidr"},
        {R"({"type":"Weird","clusterIP":"10.0.0.1"})", "invalid-type"},
    };
    for (const auto& c : cases) {
        INFO(c.spec);
        auto rejected = rejectionOf(serviceJson(c.spec));
        REQUIRE(rejected);
        CHECK(rejected->reason == c.reason);
        CHECK(rejected->object == "shop/web");
    }
    auto unnamed = rejectionOf(R"({"metadata":{"namespace":"x"},"spec":{"clusterIP":"10.0.0.1"}})");
    REQUIRE(unnamed);
    CHECK(unnamed->reason == "no-name");
}

TEST_CASE("An EndpointSlice's hints stay with their endpoint when one before it has no address", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string json = R"({"type":"ADDED","object":{"kind":"EndpointSlice","addressType":"IPv4",
        "metadata":{"name":"web-abc","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},
        "endpoints":[
          {"addresses":["10.244.1.5"]},
          {"addresses":[],"hints":{"forZones":[{"name":"z9"}]}},
          {"addresses":["10.244.2.5"],"hints":{"forZones":[{"name":"z2"}]}},
          {"addresses":["10.244.3.5"]}]}})";
    auto event = decoder.endpointSliceEvent(json);
    REQUIRE(event);
    REQUIRE(event->object);
    const EndpointSlice& s = *event->object;
    REQUIRE(s.endpoints.size() == 3);
    CHECK(s.hints.size() == 3);
    CHECK_FALSE(s.hintsOf(0));
    REQUIRE(s.hintsOf(1));
    CHECK(s.endpoints[1].address == ip("10.244.2.5"));
    CHECK(s.hintsOf(1)->zones.at(0).view() == "z2");
    CHECK_FALSE(s.hintsOf(2));
}

TEST_CASE("An EndpointSlice decodes with the API's nil defaults and upstream's skips", "[unit]")
{
    StringPool pool("node-a");  // the node this process proxies for
    Decoder decoder(pool);
    std::string json = R"({"type":"ADDED","object":{"kind":"EndpointSlice","addressType":"IPv4",
        "metadata":{"name":"web-abc","namespace":"shop","resourceVersion":"7",
          "labels":{"kubernetes.io/service-name":"web"},
          "annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2026-11-27T10:00:00Z"}},
        "endpoints":[
          {"addresses":["10.244.1.5","10.244.1.6"],"nodeName":"node-a","zone":"z1","hints":{"forZones":[{"name":"z1"}],"forNodes":[{"name":"node-a"}]}},
          {"addresses":["10.244.2.5"],"conditions":{"ready":false,"serving":true,"terminating":true},"nodeName":"node-b"},
          {"addresses":[]},
          {"addresses":["10.244.3.5"],"conditions":{"ready":null}}],
        "ports":[{"name":"http","port":8080},{"port":53,"protocol":"UDP","name":null},{"name":"x","port":null}]}})";
    auto event = decoder.endpointSliceEvent(json);
    REQUIRE(event);
    REQUIRE(event->object);
    const EndpointSlice& s = *event->object;
    CHECK(s.key.toString() == "shop/web-abc");
    CHECK(s.serviceName == "web");
    CHECK(s.addressFamily == AF_INET);
    CHECK(s.lastChangeTriggerTime == parseRfc3339("2026-11-27T10:00:00Z"));
    REQUIRE(s.endpoints.size() == 3);  // the one without addresses is skipped
    CHECK(s.endpoints[0].address == ip("10.244.1.5"));  // only addresses[0]
    CHECK(s.endpoints[0].ready);
    CHECK(s.endpoints[0].serving);
    CHECK_FALSE(s.endpoints[0].terminating);
    CHECK(s.endpoints[0].local);  // on node-a
    CHECK_FALSE(s.endpoints[1].local);  // on node-b
    REQUIRE(s.hints.size() == 3);  // one per endpoint kept, since one has hints
    REQUIRE(s.hintsOf(0));
    REQUIRE(s.hintsOf(0)->zones.size() == 1);
    CHECK(s.hintsOf(0)->zones[0].view() == "z1");
    CHECK(s.hintsOf(0)->nodes[0].view() == "node-a");
    CHECK_FALSE(s.hintsOf(1));
    CHECK_FALSE(s.hintsOf(2));
    CHECK_FALSE(s.endpoints[1].ready);
    CHECK(s.endpoints[1].terminating);
    CHECK(s.endpoints[2].ready);  // explicit null is nil
    REQUIRE(s.ports.size() == 3);
    CHECK(s.ports[0].named);
    CHECK(s.ports[0].name.view() == "http");
    CHECK_FALSE(s.ports[1].named);  // nil name, kept for the proxier to ignore
    CHECK(s.ports[1].protocol == Protocol::Udp);
    CHECK(s.ports[2].port == 0);  // nil port
    // shop, z1 and node-a (the hints), the port names http and x: each interned once. The
    // endpoints' node names are not kept, only whether they are node-a.
    CHECK(pool.size() == 5);
}

TEST_CASE("EndpointSlices without a service, of FQDN type, or with a foreign-family address are rejected", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    struct Case {
        const char* slice;
        const char* reason;
    };
    const Case cases[] = {
        {R"({"addressType":"IPv4","metadata":{"name":"s","namespace":"n"}})", "no-service-name"},
        {R"({"addressType":"FQDN","metadata":{"name":"s","namespace":"n","labels":{"kubernetes.io/service-name":"a"}}})",
         "unsupported-address-type"},
        {R"({"addressType":"IPv6","metadata":{"name":"s","namespace":"n","labels":{"kubernetes.io/service-name":"a"}},"endpoints":[{"addresses":["10.0.0.1"]}]})",
         "invalid-ip"},
        {R"({"addressType":"IPv4","metadata":{"name":"s","namespace":"n","labels":{"kubernetes.io/service-name":"a"}},"endpoints":[{"addresses":["10.0.0.01x"]}]})",
         "invalid-ip"},
        {R"({"addressType":"IPv4","metadata":{"name":"s","namespace":"n","labels":{"kubernetes.io/service-name":"a"}},"ports":[{"port":65536}]})",
         "invalid-port"},
    };
    for (const auto& c : cases) {
        INFO(c.slice);
        std::string json = std::string(R"({"type":"ADDED","object":)") + c.slice + "}";
        auto event = decoder.endpointSliceEvent(json);
        REQUIRE(event);
        CHECK_FALSE(event->object);
        REQUIRE(event->rejected);
        CHECK(event->rejected->reason == c.reason);
    }
}

TEST_CASE("A Node decodes its addresses, zone, deletion and autoscaler taint", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string json = R"({"kind":"NodeList","metadata":{"resourceVersion":"99"},"items":[{"kind":"Node",
        "metadata":{"name":"node-a","resourceVersion":"9","labels":{"topology.kubernetes.io/zone":"z1"},
                    "deletionTimestamp":"2026-11-27T10:00:00Z"},
        "spec":{"podCIDR":"10.244.3.0/24","podCIDRs":["10.244.3.0/24","fd00:10:244:3::/64"],
                "taints":[{"key":"ToBeDeletedByClusterAutoscaler","effect":"NoSchedule"}]},
        "status":{"addresses":[{"type":"Hostname","address":"node-a"},{"type":"InternalIP","address":"192.168.1.10"},
                               {"type":"ExternalIP","address":"2001:db8::10"}]}}]})";
    auto page = decoder.nodeList(json);
    REQUIRE(page);
    CHECK(page->resourceVersion == "99");
    REQUIRE(page->items.size() == 1);
    const Node& n = page->items[0];
    CHECK(n.key.name == "node-a");
    CHECK(n.zone == "z1");
    CHECK(n.deleting);
    CHECK(n.toBeDeletedByAutoscaler);
    REQUIRE(n.addresses.size() == 2);
    CHECK(n.addresses[0] == NodeAddress{NodeAddress::Type::InternalIP, ip("192.168.1.10")});
    CHECK(n.addresses[1] == NodeAddress{NodeAddress::Type::ExternalIP, ip("2001:db8::10")});
    REQUIRE(n.podCidrs.size() == 2);
    CHECK(n.podCidrs[1].toString() == "fd00:10:244:3::/64");
}

TEST_CASE("A Node from a server before dual-stack has its one spec.podCIDR; a bad one rejects the Node", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string json = R"({"kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[
        {"kind":"Node","metadata":{"name":"old"},"spec":{"podCIDR":"10.244.7.0/24"}},
        {"kind":"Node","metadata":{"name":"bad"},"spec":{"podCIDRs":["10.244.8.0/33"]}}]})";
    auto page = decoder.nodeList(json);
    REQUIRE(page);
    REQUIRE(page->items.size() == 1);
    REQUIRE(page->items[0].podCidrs.size() == 1);
    CHECK(page->items[0].podCidrs[0].toString() == "10.244.7.0/24");
    REQUIRE(page->rejected.size() == 1);
    CHECK(page->rejected[0].object == "bad");
}

TEST_CASE("ServiceCIDRs as the API server lists and watches them; a bad range rejects the object", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string json =
        R"({"kind":"ServiceCIDRList","apiVersion":"networking.k8s.io/v1","metadata":{"resourceVersion":"7"},
        "items":[{"metadata":{"name":"kubernetes","resourceVersion":"5","finalizers":["networking.k8s.io/service-cidr-finalizer"]},
                  "spec":{"cidrs":["10.96.0.0/12","fd00:10:96::/112"]},
                  "status":{"conditions":[{"type":"Ready","status":"True"}]}},
                 {"metadata":{"name":"bad"},"spec":{"cidrs":["10.97.0.0/33"]}}]})";
    auto page = decoder.serviceCidrList(json);
    REQUIRE(page);
    CHECK(page->resourceVersion == "7");
    REQUIRE(page->items.size() == 1);
    CHECK(page->items[0].key.name == "kubernetes");
    REQUIRE(page->items[0].cidrs.size() == 2);
    CHECK(page->items[0].cidrs[1].toString() == "fd00:10:96::/112");
    REQUIRE(page->rejected.size() == 1);
    CHECK(page->rejected[0].object == "bad");

    std::string event =
        R"({"type":"DELETED","object":{"kind":"ServiceCIDR","metadata":{"name":"extra","resourceVersion":"9"},
        "spec":{"cidrs":["10.100.0.0/16"]}}})";
    auto deleted = decoder.serviceCidrEvent(event);
    REQUIRE(deleted);
    CHECK(deleted->type == WatchEvent<ServiceCidr>::Type::Deleted);
    REQUIRE(deleted->object);
    CHECK(deleted->object->cidrs == std::vector<Cidr>{*Cidr::parse("10.100.0.0/16")});
    std::string wrong = R"({"type":"ADDED","object":{"kind":"Service","metadata":{"name":"x"}}})";
    CHECK_FALSE(decoder.serviceCidrEvent(wrong));
}

TEST_CASE("A list page keeps its good items, its continue token and the rejections", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string json =
        R"({"kind":"ServiceList","metadata":{"resourceVersion":"100","continue":"tok"},"items":[)" +
        serviceJson(R"({"clusterIP":"10.0.0.1"})") + "," + serviceJson(R"({"clusterIP":"bad"})") + "," +
        R"({"metadata":{"name":"b","namespace":"n"},"spec":{"clusterIP":"10.0.0.2","unknownField":{"deep":[1,2,3]}}}]})";
    auto page = decoder.serviceList(json);
    REQUIRE(page);
    CHECK(page->resourceVersion == "100");
    CHECK(page->continueToken == "tok");
    CHECK(page->items.size() == 2);  // unknown fields are ignored
    REQUIRE(page->rejected.size() == 1);
    CHECK(page->rejected[0].reason == "invalid-ip");

    std::string empty = R"({"kind":"ServiceList","metadata":{"resourceVersion":"5","continue":"more"},"items":[]})";
    auto emptyPage = decoder.serviceList(empty);
    REQUIRE(emptyPage);
    CHECK(emptyPage->items.empty());
    CHECK(emptyPage->continueToken == "more");
}

TEST_CASE("A list is read item by item: brackets in strings, metadata last, repeated keys, odd items", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    // Brackets and escaped quotes inside strings, nested arrays in an item, the metadata after
    // the items, and "items" given twice (the last wins, as in every decoder).
    std::string json = R"({"kind":"ServiceList","items":[)" + serviceJson(R"({"clusterIP":"10.0.0.9"})") +
                       R"(],"items":[)" +
                       serviceJson(R"({"clusterIP":"10.0.0.1","x":[[1],{"y":"}]{["}]})",
                                   R"(,"annotations":{"note":"a \"}\" and a ]"})") +
                       R"(, 7 ,["not","an","object"],)" +
                       R"({"metadata":{"name":"b","namespace":"n"},"spec":{"clusterIP":"10.0.0.2"}}],)"
                       R"("metadata":{"resourceVersion":"1"},"metadata":{"resourceVersion":"77","continue":"c"}})";
    auto page = decoder.serviceList(json);
    REQUIRE(page);
    CHECK(page->resourceVersion == "77");
    CHECK(page->continueToken == "c");
    REQUIRE(page->items.size() == 2);
    CHECK(page->items[0].clusterIPs == std::vector<InetAddress>{ip("10.0.0.1")});
    CHECK(page->items[0].key.toString() == "shop/web");
    CHECK(page->items[1].clusterIPs == std::vector<InetAddress>{ip("10.0.0.2")});
    CHECK(page->rejected.size() == 2);  // the number and the array

    std::string nullItems = R"({"kind":"ServiceList","metadata":{"resourceVersion":"3"},"items":null})";
    auto none = decoder.serviceList(nullItems);
    REQUIRE(none);
    CHECK(none->items.empty());
    CHECK(none->resourceVersion == "3");
    for (std::string notList : {R"({"items":{"a":1}})", R"({"items":"x"})", R"([{"items":[]}])", R"("items")"}) {
        INFO(notList);
        CHECK_FALSE(decoder.serviceList(notList));
    }
    Decoder shallow(pool, DecodeLimits{1u << 20, 4096, 4});
    std::string deep = R"({"items":[{"metadata":{"name":"a","namespace":"b"},"spec":{"x":[1]}}]})";
    auto deepResult = shallow.serviceList(deep);
    REQUIRE_FALSE(deepResult);
    CHECK(deepResult.error().detail.find("nested deeper") != std::string::npos);
}

TEST_CASE("Watch events: bookmarks, ERROR with a 410 Status, and a foreign kind", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string bookmark = R"({"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"555",
        "annotations":{"k8s.io/initial-events-end":"true"}}}})";
    auto b = decoder.serviceEvent(bookmark);
    REQUIRE(b);
    CHECK(b->type == WatchEvent<Service>::Type::Bookmark);
    CHECK(b->resourceVersion == "555");
    CHECK(b->initialEventsEnd);
    CHECK_FALSE(b->object);

    std::string expired =
        R"x({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"too old resource version: 123 (456)","reason":"Expired","code":410}})x";
    auto e = decoder.serviceEvent(expired);
    REQUIRE(e);
    CHECK(e->type == WatchEvent<Service>::Type::Error);
    CHECK(e->status.code == 410);
    CHECK(e->status.reason == "Expired");

    std::string tooLarge =
        R"({"type":"ERROR","object":{"kind":"Status","code":504,"message":"Too large resource version: 9, current: 5"}})";
    auto t = decoder.serviceEvent(tooLarge);
    REQUIRE(t);
    CHECK(t->status.resourceVersionTooLarge);

    std::string foreign = R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"n"}}})";
    CHECK_FALSE(decoder.serviceEvent(foreign));
    std::string unknownType = R"({"type":"RENAMED","object":{"kind":"Service"}})";
    CHECK_FALSE(decoder.serviceEvent(unknownType));
}

TEST_CASE("Hostile documents fail cleanly: bad JSON, deep nesting, oversize", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool, DecodeLimits{1u << 20, 4096, 100});
    std::vector<std::string> bad = {"",
                                    "{",
                                    R"({"type":"ADDED","object":{"metadata":)",
                                    "\xff\xfe",
                                    R"({"type":"ADDED","object":{}} trailing)",
                                    R"({"type":"ADDED","object":"str"})",
                                    "[]",
                                    "null"};
    for (auto& json : bad) {
        INFO(json);
        auto copy = json;
        CHECK_FALSE(decoder.serviceEvent(copy));
    }
    std::string deep = R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"b"},"spec":{"x":)" +
                       std::string(100000, '[') + std::string(100000, ']') + "}}}";
    Decoder roomy(pool, DecodeLimits{1u << 22, 1u << 22, 100});
    auto deepResult = roomy.serviceEvent(deep);
    REQUIRE_FALSE(deepResult);
    CHECK(deepResult.error().detail.find("nested deeper") != std::string::npos);

    std::string huge =
        serviceJson(R"({"clusterIP":"10.0.0.1"})", R"(,"annotations":{"a":")" + std::string(5000, 'x') + "\"}");
    std::string event = R"({"type":"ADDED","object":)" + huge + "}";
    auto hugeResult = decoder.serviceEvent(event);
    REQUIRE_FALSE(hugeResult);
    CHECK(hugeResult.error().code == EMSGSIZE);
}

TEST_CASE("Manifests: one object, a List, and unknown kinds reported", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::string list =
        R"({"apiVersion":"v1","kind":"List","items":[)" + serviceJson(R"({"clusterIP":"10.0.0.1"})") +
        R"(,{"kind":"Node","metadata":{"name":"n1"}},{"kind":"ConfigMap","metadata":{"name":"c","namespace":"n"}}]})";
    std::vector<Rejection> rejected;
    auto objects = decoder.manifest(list, rejected);
    REQUIRE(objects);
    REQUIRE(objects->size() == 2);
    CHECK(std::holds_alternative<Service>((*objects)[0]));
    CHECK(std::holds_alternative<Node>((*objects)[1]));
    REQUIRE(rejected.size() == 1);
    CHECK(rejected[0].reason == "unknown-kind");
    CHECK(rejected[0].object == "n/c");
}
