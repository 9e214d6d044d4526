// SPDX-License-Identifier: Apache-2.0
// Reflectors against the fake API server: every fault ends with an exact mirror of the server.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "fake_apiserver.h"
#include "mirror.h"
#include "watch/reflector.h"

using namespace kipvs;
using namespace kipvs::watch;
using kipvs::test::clusterIPOf;
using kipvs::test::FakeApiServer;
using kipvs::test::FakeApiServerOptions;
using kipvs::test::Mirror;
using kipvs::test::Names;
using kipvs::test::runUntil;
using kipvs::test::seed;
using kipvs::test::seeded;
using kipvs::test::serviceJson;
using kipvs::test::sliceJson;
using kipvs::test::VersionRecord;

namespace {

// A fake API server seeded with `count` Services, and a Mirror that has listed them.
struct SyncedMirror {
    explicit SyncedMirror(int count)
    {
        seed(server, count);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    }
    FakeApiServer server;
    boost::asio::io_context io;
    Mirror<Service> m{io, server.access()};
};

}  // namespace

TEST_CASE("A reflector lists, then follows adds, updates and deletes exactly", "[integration]")
{
    FakeApiServer server;
    seed(server, 3);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    CHECK(m.syncedCount == 1);
    CHECK(m.names() == seeded(3));

    server.apply(serviceJson("shop", "svc-3", "10.96.0.99"));
    server.apply(serviceJson("shop", "svc-0", "10.96.1.1"));
    server.remove("Service", "shop", "svc-1");
    REQUIRE(runUntil(io, [&] {
        return m.names() == Names{"shop/svc-0", "shop/svc-2", "shop/svc-3"} &&
               clusterIPOf(m, "shop", "svc-0") == "10.96.1.1";
    }));
    CHECK(m.deleted == std::vector<std::string>{"shop/svc-1"});
    CHECK(m.updated == std::vector<std::string>{"shop/svc-0"});
    CHECK(m.reflector.counters().lists == 1);
    CHECK(m.errors.empty());

    auto requests = server.requests();
    REQUIRE(requests.size() >= 2);
    CHECK(
        requests[0].find(
            "/api/v1/services?limit=500&resourceVersion=0&labelSelector=%21service.kubernetes.io%2Fservice-proxy-name") !=
        std::string::npos);
    CHECK(requests[1].find("watch=1&allowWatchBookmarks=true&resourceVersion=") != std::string::npos);
    CHECK(requests[1].find("timeoutSeconds=") != std::string::npos);
}

TEST_CASE("The label selector keeps other proxies' services out; the Node watch selects one node", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    server.apply(serviceJson("shop", "other", "10.96.0.50", R"({"service.kubernetes.io/service-proxy-name":"x"})"));
    server.apply(
        R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a","labels":{"topology.kubernetes.io/zone":"z1"}},
                    "status":{"addresses":[{"type":"InternalIP","address":"192.168.1.10"}]}})");
    server.apply(R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"node-b"}})");
    boost::asio::io_context io;
    Mirror<Service> services(io, server.access());
    auto nodeOptions = Mirror<Node>::fastOptions();
    nodeOptions.labelSelector.clear();
    nodeOptions.fieldSelector = "metadata.name=node-a";
    Mirror<Node> nodes(io, server.access(), nodeOptions);
    REQUIRE(runUntil(io, [&] { return services.reflector.synced() && nodes.reflector.synced(); }));
    CHECK(services.names() == seeded(1));
    CHECK(nodes.names() == Names{"/node-a"});
    CHECK(nodes.objects.begin()->second.zone == "z1");
}

TEST_CASE("Reflectors sharing a client-side rate limit wait for it and still sync", "[integration]")
{
    FakeApiServer server;
    seed(server, 2);
    boost::asio::io_context io;
    auto options = Mirror<Service>::fastOptions();
    // A burst of one: of the two LISTs and two WATCHes, those that come within 20 ms of another wait.
    options.rateLimiter = std::make_shared<RateLimiter>(50, 1, RateLimiter::Clock::now());
    Mirror<Service> a(io, server.access(), options);
    Mirror<Service> b(io, server.access(), options);
    REQUIRE(runUntil(io, [&] {
        return a.reflector.synced() && b.reflector.synced() &&
               a.reflector.counters().watches + b.reflector.counters().watches == 2;
    }));
    CHECK(a.names() == seeded(2));
    CHECK(b.names() == seeded(2));
    CHECK(a.reflector.counters().throttled + b.reflector.counters().throttled >= 1);
}

TEST_CASE("Paging: small pages, an empty first page, and an expired continue token", "[integration]")
{
    FakeApiServer server;
    seed(server, 7);
    server.fault(R"({"type":"page-limit","limit":2})");
    server.fault(R"({"type":"empty-first-page"})");
    server.fault(R"({"type":"expire-continue"})");
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    CHECK(m.names() == seeded(7));
    CHECK(m.added.size() == 7);  // no duplicate delivery although the list restarted
    size_t continued = 0;
    for (const auto& r : server.requests())
        continued += r.find("continue=") != std::string::npos;
    CHECK(continued >= 4);
}

TEST_CASE("A 410 Expired watch relists and reports what vanished meanwhile as deleted", "[integration]")
{
    FakeApiServer server;
    seed(server, 3);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    // Drop the watch, change things, and compact history before it can resume: the resumed
    // watch is answered with ERROR 410.
    server.fault(R"({"type":"cut","on":"watch"})");
    server.remove("Service", "shop", "svc-2");
    server.compact();
    server.apply(serviceJson("shop", "svc-9", "10.96.0.9"));
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-0", "shop/svc-1", "shop/svc-9"}; }));
    CHECK(m.deleted == std::vector<std::string>{"shop/svc-2"});
    CHECK(m.reflector.counters().relists >= 1);
    auto requests = server.requests();
    // The relist reads the most recent state, paged, not the watch cache.
    bool consistentRelist = false;
    for (size_t i = 1; i < requests.size(); ++i)
        consistentRelist |= requests[i].find("watch=1") == std::string::npos &&
                            requests[i].find("resourceVersion=0") == std::string::npos &&
                            requests[i].find("limit=500") != std::string::npos;
    CHECK(consistentRelist);
}

TEST_CASE("A relist reports only what changed, and keeps the last good version of an object now invalid",
          "[integration]")
{
    SyncedMirror synced(3);
    auto& [server, io, m] = synced;
    server.fault(R"({"type":"cut","on":"watch"})");
    server.apply(serviceJson("shop", "svc-0", "10.96.0.50"));
    server.apply(serviceJson("shop", "svc-1", "999.1.1.1"));
    server.compact();
    REQUIRE(runUntil(io, [&] { return m.reflector.counters().relists >= 1 && m.reflector.counters().lists >= 2; }));
    // svc-2 came back unchanged (same resourceVersion): nothing is reported for it.
    CHECK(m.updated == std::vector<std::string>{"shop/svc-0"});
    CHECK(clusterIPOf(m, "shop", "svc-0") == "10.96.0.50");
    CHECK(m.deleted.empty());
    CHECK(clusterIPOf(m, "shop", "svc-1") == "10.96.0.2");
    CHECK(m.rejected == std::vector<std::string>{"shop/svc-1 invalid-ip"});
    // The reflector keeps each key's version, nothing more.
    size_t known = 0;
    m.reflector.versions().forEachKey([&](const ObjectKey& key) {
        ++known;
        const std::string* version = m.reflector.versions().versionOf(key);
        REQUIRE(version);
        CHECK(*version == m.objects.at(key.toString()).resourceVersion);
    });
    CHECK(known == 3);
}

TEST_CASE("A reflector that borrows its handler's record of versions reports exactly as with its own", "[integration]")
{
    FakeApiServer server;
    seed(server, 4);
    server.apply(serviceJson("shop", "svc-bad", "999.1.1.1"));
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access(), Mirror<Service>::fastOptions(), VersionRecord::Lent);
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    CHECK(&m.reflector.versions() == &m.lent);
    CHECK(m.added.size() == 4);
    // A relist that brings back svc-1 and svc-3 unchanged, svc-0 changed, and svc-2 gone.
    server.fault(R"({"type":"cut","on":"watch"})");
    server.apply(serviceJson("shop", "svc-0", "10.96.0.50"));
    server.remove("Service", "shop", "svc-2");
    server.compact();
    REQUIRE(runUntil(io, [&] { return m.reflector.counters().relists >= 1 && m.reflector.counters().lists >= 2; }));
    CHECK(m.added.size() == 4);
    CHECK(m.updated == std::vector<std::string>{"shop/svc-0"});
    CHECK(m.deleted == std::vector<std::string>{"shop/svc-2"});
    CHECK(m.names() == Names{"shop/svc-0", "shop/svc-1", "shop/svc-3"});
    // Then by watch: an update, a delete, and the invalid object's delete (nothing to forget).
    server.apply(serviceJson("shop", "svc-1", "10.96.0.51"));
    server.remove("Service", "shop", "svc-3");
    server.remove("Service", "shop", "svc-bad");
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-0", "shop/svc-1"}; }));
    CHECK(m.updated == std::vector<std::string>{"shop/svc-0", "shop/svc-1"});
    CHECK(m.deleted == std::vector<std::string>{"shop/svc-2", "shop/svc-3"});
    CHECK(clusterIPOf(m, "shop", "svc-1") == "10.96.0.51");
}

TEST_CASE("An ERROR event with reason Gone also relists", "[integration]")
{
    FakeApiServer server;
    seed(server, 2);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    server.fault(R"({"type":"error-event","code":410,"reason":"Gone"})");
    REQUIRE(runUntil(io, [&] { return m.reflector.counters().relists >= 1; }));
    server.apply(serviceJson("shop", "svc-5", "10.96.0.5"));
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-0", "shop/svc-1", "shop/svc-5"}; }));
    CHECK(m.reflector.counters().lists == 2);
}

TEST_CASE("A watch cut mid-event resumes from the last version and loses nothing", "[integration]")
{
    SyncedMirror synced(2);
    auto& [server, io, m] = synced;
    server.fault(R"({"type":"cut","on":"watch"})");
    server.apply(serviceJson("shop", "svc-0", "10.96.2.2"));
    server.apply(serviceJson("shop", "svc-7", "10.96.0.7"));
    REQUIRE(runUntil(io, [&] {
        return m.names() == Names{"shop/svc-0", "shop/svc-1", "shop/svc-7"} &&
               clusterIPOf(m, "shop", "svc-0") == "10.96.2.2";
    }));
    CHECK(m.reflector.counters().lists == 1);  // resumed, not relisted
    CHECK(m.reflector.counters().restarts >= 1);
    CHECK(m.added.size() == 3);
}

TEST_CASE("Malformed JSON in the stream is counted and the event is not lost", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    server.fault(R"({"type":"malformed","on":"watch"})");
    server.apply(serviceJson("shop", "svc-4", "10.96.0.4"));
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-0", "shop/svc-4"}; }));
    CHECK(m.reflector.counters().decodeErrors >= 1);
    CHECK(m.reflector.counters().lists == 1);
}

TEST_CASE("Events split byte by byte or batched many per chunk give the same mirror", "[integration]")
{
    for (const char* mode : {"bytewise", "batched"}) {
        INFO(mode);
        FakeApiServer server;
        seed(server, 2);
        server.fault(std::string(R"({"type":"chunking","mode":")") + mode + "\"}");
        boost::asio::io_context io;
        Mirror<Service> m(io, server.access());
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        for (int i = 10; i < 15; ++i)
            server.apply(serviceJson("shop", "svc-" + std::to_string(i), "10.96.1." + std::to_string(i)));
        server.remove("Service", "shop", "svc-0");
        REQUIRE(runUntil(io, [&] { return m.names().size() == 6 && !m.names().count("shop/svc-0"); }));
        CHECK(m.reflector.counters().decodeErrors == 0);
    }
}

TEST_CASE("429 with Retry-After is honoured, and 503 on a watch backs off without relisting", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    server.fault(R"({"type":"status","on":"list","code":429,"retryAfter":1})");
    boost::asio::io_context io;
    const auto start = std::chrono::steady_clock::now();
    auto options = Mirror<Service>::fastOptions();
    options.backoffMax = std::chrono::seconds(5);  // 1 s is inside the backoff's range: honoured as is
    Mirror<Service> m(io, server.access(), options);
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(950));
    REQUIRE(m.errors.size() == 1);
    CHECK(m.errors[0].find("HTTP status 429") != std::string::npos);

    server.fault(R"({"type":"cut","on":"watch"})");
    server.fault(R"({"type":"status","on":"watch","code":503,"retryAfter":1,"count":2})");
    server.apply(serviceJson("shop", "svc-8", "10.96.0.8"));
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-0", "shop/svc-8"}; }));
    CHECK(m.reflector.counters().lists == 1);
    CHECK(m.reflector.counters().backoffs >= 2);
}

TEST_CASE("Retry-After is held to the backoff's range: 0 makes no tight loop, 999999 does not park the reflector",
          "[integration]")
{
    auto options = Mirror<Service>::fastOptions();
    options.backoffInitial = std::chrono::milliseconds(250);
    options.backoffMax = std::chrono::seconds(1);
    {
        FakeApiServer server;
        seed(server, 1);
        server.fault(R"({"type":"status","on":"list","code":429,"retryAfter":0,"count":4})");
        boost::asio::io_context io;
        const auto start = std::chrono::steady_clock::now();
        Mirror<Service> m(io, server.access(), options);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        // Four refusals, each followed by at least the initial backoff, not by an immediate retry.
        CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(950));
        CHECK(m.errors.size() == 4);
    }
    {
        FakeApiServer server;
        seed(server, 1);
        server.fault(R"({"type":"status","on":"list","code":503,"retryAfter":999999})");
        boost::asio::io_context io;
        const auto start = std::chrono::steady_clock::now();
        Mirror<Service> m(io, server.access(), options);
        REQUIRE(runUntil(
            io, [&] { return m.reflector.synced(); }, std::chrono::seconds(10)));
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    }
}

TEST_CASE("A LIST that flows slowly but steadily completes past the request deadline; a stalled one is cut",
          "[integration]")
{
    auto options = Mirror<Service>::fastOptions();
    options.connection.requestTimeout = std::chrono::seconds(1);
    options.connection.progressTimeout = std::chrono::seconds(1);
    {
        FakeApiServer server;
        seed(server, 20);
        // 30 pieces over 3 s: three times the request deadline, never a second without bytes.
        server.fault(R"({"type":"slow-list","seconds":3,"pieces":30})");
        boost::asio::io_context io;
        const auto start = std::chrono::steady_clock::now();
        Mirror<Service> m(io, server.access(), options);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(2500));
        CHECK(m.errors.empty());
        CHECK(m.reflector.counters().lists == 1);
        CHECK(m.names() == seeded(20));
    }
    {
        FakeApiServer server;
        seed(server, 20);
        server.fault(R"({"type":"stall","on":"list","seconds":6})");
        boost::asio::io_context io;
        const auto start = std::chrono::steady_clock::now();
        Mirror<Service> m(io, server.access(), options);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        // Cut after 1 s without bytes and listed again, long before the 6 s stall ends.
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
        REQUIRE_FALSE(m.errors.empty());
        CHECK(m.errors[0].find("no progress for 1 s") != std::string::npos);
        CHECK(m.names() == seeded(20));
    }
    {
        // A body over the cap is refused as it arrives, not after it was held in full.
        FakeApiServer server;
        seed(server, 20);
        options.connection.maxBodyBytes = 2000;
        boost::asio::io_context io;
        Mirror<Service> m(io, server.access(), options);
        REQUIRE(runUntil(io, [&] { return !m.errors.empty(); }));
        CHECK(m.errors[0].find("body larger than 2000 bytes") != std::string::npos);
        CHECK_FALSE(m.reflector.synced());
    }
}

TEST_CASE("A stalled watch is torn down after the idle time and resumed", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    boost::asio::io_context io;
    auto options = Mirror<Service>::fastOptions();
    options.connection.idleTimeout = std::chrono::seconds(1);
    server.fault(R"({"type":"stall","on":"watch","seconds":4})");
    Mirror<Service> m(io, server.access(), options);
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    server.apply(serviceJson("shop", "svc-6", "10.96.0.6"));
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-0", "shop/svc-6"}; }));
    // Resumed after the 1 s idle limit, long before the server's 4 s stall would have ended.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(3500));
    CHECK(m.reflector.counters().lists == 1);
}

TEST_CASE("Watches that end at once with nothing back off instead of looping hot", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    server.fault(R"({"type":"cut","on":"watch"})");
    server.fault(R"({"type":"close","on":"watch","count":4})");
    server.apply(serviceJson("shop", "svc-3", "10.96.0.3"));
    REQUIRE(runUntil(io, [&] { return m.names().size() == 2; }));
    CHECK(m.reflector.counters().backoffs >= 4);
    size_t watches = 0;
    for (const auto& r : server.requests())
        watches += r.find("watch=1") != std::string::npos;
    CHECK(watches <= 8);
}

TEST_CASE("Bookmarks keep the resourceVersion fresh without any change to the resource", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    const std::string listed = m.reflector.resourceVersion();
    // Changes to another resource move the server's version; a bookmark carries it.
    auto slice = nlohmann::json::parse(server.apply(sliceJson("shop", "svc-0-abc", "svc-0", "10.244.0.1")));
    const std::string latest = slice["metadata"]["resourceVersion"];
    REQUIRE(latest != listed);
    REQUIRE(runUntil(io, [&] { return m.reflector.resourceVersion() == latest; }));
    CHECK(m.added.size() == 1);
}

TEST_CASE("An invalid object is skipped with a reason while the rest is mirrored", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    server.apply(serviceJson("shop", "bad", "999.1.1.1"));
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    CHECK(m.names() == seeded(1));
    CHECK(m.rejected == std::vector<std::string>{"shop/bad invalid-ip"});
    // Deleting the invalid object later is still handled.
    server.remove("Service", "shop", "bad");
    server.apply(serviceJson("shop", "svc-1", "10.96.0.2"));
    REQUIRE(runUntil(io, [&] { return m.names() == seeded(2); }));
    CHECK(m.reflector.counters().rejected >= 1);
}
