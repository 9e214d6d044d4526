// SPDX-License-Identifier: Apache-2.0
// Benchmark: decoding a LIST of 10,000 Services and 10,000 EndpointSlices (100,000 endpoints)
// into the store. Prints MB/s and objects/s against RapidJSON's bare in-situ parse of the same
// bytes (the floor), and the resident memory the decoded store takes per endpoint.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include <malloc.h>
#include <rapidjson/document.h>

#include "watch/decoder.h"

using namespace kipvs::watch;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kServices = 10000;
constexpr int kEndpointsPerSlice = 10;

std::string ip4(int a, int b, int c, int d)
{
    return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." + std::to_string(d);
}

// Objects shaped like a real cluster's, metadata and all.
std::string serviceList()
{
    std::string out = R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"123456"},"items":[)";
    for (int i = 0; i < kServices; ++i) {
        const std::string name = "service-" + std::to_string(i);
        const std::string ip = ip4(10, 96, i / 250, i % 250 + 1);
        if (i)
            out += ",";
        out += R"({"metadata":{"name":")" + name + R"(","namespace":"team-)" + std::to_string(i % 50) +
               R"(","uid":"6f1c2d3e-0000-4000-8000-)" + std::to_string(100000000000 + i) + R"(","resourceVersion":")" +
               std::to_string(100000 + i) + R"(","creationTimestamp":"2026-11-01T10:00:00Z","labels":{"app":")" + name +
               R"(","app.kubernetes.io/part-of":"shop"},"annotations":{"meta.helm.sh/release-name":"shop"}},)" +
               R"("spec":{"clusterIP":")" + ip + R"(","clusterIPs":[")" + ip + R"("],"type":")" +
               (i % 10 == 0 ? "NodePort" : "ClusterIP") +
               R"(","ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080)" +
               (i % 10 == 0 ? R"(,"nodePort":)" + std::to_string(30000 + i % 2000) : std::string()) +
               R"(},{"name":"metrics","protocol":"TCP","port":9090,"targetPort":9090}],)" +
               R"("sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack",)" +
               R"("internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}})";
    }
    return out + "]}";
}

std::string sliceList()
{
    std::string out =
        R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"123456"},"items":[)";
    for (int i = 0; i < kServices; ++i) {
        const std::string service = "service-" + std::to_string(i);
        if (i)
            out += ",";
        out +=
            R"({"metadata":{"name":")" + service + R"(-x7k2p","namespace":"team-)" + std::to_string(i % 50) +
            R"(","uid":"7a1c2d3e-0000-4000-8000-)" + std::to_string(100000000000 + i) + R"(","resourceVersion":")" +
            std::to_string(200000 + i) +
            R"(","generation":3,"creationTimestamp":"2026-11-01T10:00:00Z","labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":")" +
            service +
            R"("},"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2026-11-27T09:00:00Z"},)" +
            R"("ownerReferences":[{"apiVersion":"v1","kind":"Service","name":")" + service +
            R"(","uid":"6f1c2d3e","controller":true,"blockOwnerDeletion":true}]},"addressType":"IPv4","endpoints":[)";
        for (int j = 0; j < kEndpointsPerSlice; ++j) {
            const int n = i * kEndpointsPerSlice + j;
            if (j)
                out += ",";
            out += R"({"addresses":[")" + ip4(10, 244, n / 250 % 250, n % 250 + 1) +
                   R"("],"conditions":{"ready":true,"serving":true,"terminating":false},)" +
                   R"("targetRef":{"kind":"Pod","namespace":"team-)" + std::to_string(i % 50) + R"(","name":")" +
                   service + "-pod-" + std::to_string(j) + R"(","uid":"8b1c2d3e-0000"},"nodeName":"node-)" +
                   std::to_string(n % 500) + R"(","zone":"zone-)" + std::to_string(n % 3) + R"("})";
        }
        out +=
            R"(],"ports":[{"name":"http","protocol":"TCP","port":8080},{"name":"metrics","protocol":"TCP","port":9090}]})";
    }
    return out + "]}";
}

double seconds(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Best of `rounds`: the floor and our decoder measured the same way on the same bytes.
template <typename F>
double best(int rounds, F run)
{
    double fastest = 1e9;
    for (int i = 0; i < rounds; ++i)
        fastest = std::min(fastest, run());
    return fastest;
}

}  // namespace

int main()
{
    const std::string services = serviceList();
    const std::string slices = sliceList();
    const double megabytes = static_cast<double>(services.size() + slices.size()) / 1e6;
    const int objects = 2 * kServices;

    const double floor = best(5, [&] {
        std::string a = services, b = slices;
        auto start = Clock::now();
        rapidjson::Document da, db;
        da.ParseInsitu(a.data());
        db.ParseInsitu(b.data());
        double t = seconds(start);
        if (da.HasParseError() || db.HasParseError())
            std::exit(1);
        return t;
    });
    const double ours = best(5, [&] {
        StringPool pool;
        Decoder decoder(pool);
        std::string a = services, b = slices;
        auto start = Clock::now();
        auto s = decoder.serviceList(a);
        auto e = decoder.endpointSliceList(b);
        double t = seconds(start);
        if (!s || !e || s->items.size() != kServices || e->items.size() != kServices || !s->rejected.empty())
            std::exit(1);
        return t;
    });

    // Memory: the heap the store of EndpointSlices holds once the JSON is released, as live
    // malloc bytes (RSS would also count freed memory malloc keeps for reuse).
    auto heapInUse = [] {
        struct mallinfo2 m = mallinfo2();
        return static_cast<long>(m.uordblks + m.hblkhd);
    };
    StringPool pool;
    std::map<ObjectKey, EndpointSlice> store;
    const long before = heapInUse();
    {
        Decoder decoder(pool);
        std::string copy = slices;
        auto page = decoder.endpointSliceList(copy);
        for (auto& slice : page->items) {
            ObjectKey key = slice.key;
            store.emplace(std::move(key), std::move(slice));
        }
    }
    const long storeBytes = heapInUse() - before;
    const long endpoints = static_cast<long>(kServices) * kEndpointsPerSlice;

    std::printf("input: %d Services + %d EndpointSlices with %ld endpoints, %.1f MB of JSON\n", kServices, kServices,
                endpoints, megabytes);
    std::printf("%-34s %10s %10s %14s\n", "", "seconds", "MB/s", "objects/s");
    std::printf("%-34s %10.3f %10.0f %14.0f\n", "(floor) RapidJSON in-situ parse", floor, megabytes / floor,
                objects / floor);
    std::printf("%-34s %10.3f %10.0f %14.0f\n", "(ours) decode to compact objects", ours, megabytes / ours,
                objects / ours);
    std::printf("ours / floor time: %.2f\n", ours / floor);
    std::printf("store: %.1f MB of heap for %ld endpoints = %ld bytes per endpoint (sizeof(Endpoint) = %zu)\n",
                static_cast<double>(storeBytes) / 1e6, endpoints, storeBytes / endpoints, sizeof(Endpoint));
    return 0;
}
