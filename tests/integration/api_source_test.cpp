// SPDX-License-Identifier: Apache-2.0
// The daemon's API source against the fake API server: the ServiceCIDR watch, on a server that
// has the API and on one that does not (before Kubernetes 1.33).
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "daemon/api_source.h"
#include "fake_apiserver.h"

using namespace kipvs;
using kipvs::test::FakeApiServer;
using kipvs::test::FakeApiServerOptions;
using kipvs::test::runUntil;
using kipvs::test::serviceJson;

namespace {

struct RecordingSink : daemon::ObjectSink {
    std::set<std::string> services;
    std::map<std::string, std::vector<Cidr>> ranges;
    std::set<watch::Kind> syncedKinds;
    std::vector<std::string> failures;

    void upsert(const watch::Service& s) override { services.insert(s.key.toString()); }
    void upsert(const watch::EndpointSlice&) override {}
    void upsert(const watch::Node&) override {}
    void upsert(const watch::ServiceCidr& r) override { ranges[r.key.name] = r.cidrs; }
    void remove(watch::Kind kind, const watch::ObjectKey& key) override
    {
        if (kind == watch::Kind::Service)
            services.erase(key.toString());
        if (kind == watch::Kind::ServiceCidr)
            ranges.erase(key.name);
    }
    void synced(watch::Kind kind) override { syncedKinds.insert(kind); }
    void rejected(const std::string&, const watch::Rejection&) override {}
    void sourceFailed(const Error& e) override { failures.push_back(e.message()); }
};

const std::string kServiceCidr = R"({"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR",
    "metadata":{"name":"kubernetes"},"spec":{"cidrs":["10.96.0.0/12","fd00:10:96::/112"]}})";

// One web Service on `server`, watched by an ApiSource into a RecordingSink.
struct Watching {
    explicit Watching(FakeApiServer& server)
        : source(io, server.access(), "node-a", pool, sink, {-1, 0}, daemon::ApiSource::ServiceCidrs::Watch)
    {
        server.apply(serviceJson("shop", "web", "10.96.0.10"));
        source.start();
    }
    ~Watching() { source.stop(); }

    boost::asio::io_context io;
    watch::StringPool pool;
    RecordingSink sink;
    daemon::ApiSource source;
};

}  // namespace

TEST_CASE("API source: the ServiceCIDRs are watched like the rest", "[integration]")
{
    FakeApiServer server;
    server.apply(kServiceCidr);
    Watching w(server);
    auto& io = w.io;
    auto& sink = w.sink;
    REQUIRE(runUntil(io, [&] { return sink.syncedKinds.count(watch::Kind::ServiceCidr) && sink.ranges.size() == 1; }));
    CHECK(sink.ranges["kubernetes"] ==
          std::vector<Cidr>{*Cidr::parse("10.96.0.0/12"), *Cidr::parse("fd00:10:96::/112")});
    server.remove("ServiceCIDR", "", "kubernetes");
    REQUIRE(runUntil(io, [&] { return sink.ranges.empty(); }));
    CHECK(sink.failures.empty());
}

TEST_CASE("API source: without the ServiceCIDR API, one warning and no range; nothing else waits", "[integration]")
{
    FakeApiServerOptions options;
    options.serviceCidrs = false;
    FakeApiServer server(options);
    Watching w(server);
    auto& io = w.io;
    auto& sink = w.sink;
    REQUIRE(runUntil(io, [&] {
        return sink.syncedKinds.count(watch::Kind::ServiceCidr) && sink.syncedKinds.count(watch::Kind::Service);
    }));
    CHECK(sink.services == std::set<std::string>{"shop/web"});
    CHECK(sink.ranges.empty());
    REQUIRE(sink.failures.size() == 1);
    CHECK(sink.failures[0].find("404") != std::string::npos);
    CHECK(sink.failures[0].find("binding every ClusterIP on kube-ipvs0") != std::string::npos);
    // The reflector keeps trying with backoff; the warning is not repeated.
    runUntil(
        io, [] { return false; }, std::chrono::milliseconds(2500));
    CHECK(sink.failures.size() == 1);
    auto requests = server.requests();
    CHECK(std::count_if(requests.begin(), requests.end(), [](const std::string& r) {
              return r.find("/apis/networking.k8s.io/v1/servicecidrs") != std::string::npos;
          }) >= 2);
}
