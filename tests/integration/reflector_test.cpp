// SPDX-License-Identifier: Apache-2.0
// Reflectors against the fake API server: every fault ends with an exact mirror of the server.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "fake_apiserver.h"
#include "watch/reflector.h"

using namespace kipvs;
using namespace kipvs::watch;
using kipvs::test::FakeApiServer;
using kipvs::test::FakeApiServerOptions;
using kipvs::test::runUntil;
using kipvs::test::serviceJson;
using kipvs::test::sliceJson;

namespace {

constexpr const char* kProxySelector = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

// A reflector of T with its events recorded.
template <typename T>
struct Mirror {
    Mirror(boost::asio::io_context& io, const ClusterAccess& access, ReflectorOptions options = fastOptions())
        : credentials(access),
          reflector(io, access, credentials, pool, std::move(options),
                    ReflectorEvents<T>{[this](const T& o) { added.push_back(o.key.toString()); },
                                       [this](const T&, const T& o) { updated.push_back(o.key.toString()); },
                                       [this](const T& o) { deleted.push_back(o.key.toString()); },
                                       [this] { ++syncedCount; },
                                       [this](const Rejection& r) { rejected.push_back(r.object + " " + r.reason); },
                                       [this](const Error& e) {
                                           if (getenv("KIPVS_TEST_DEBUG"))
                                               fprintf(stderr, "reflector: %s\n", e.message().c_str());
                                           errors.push_back(e.message());
                                       }})
    {
        reflector.start();
    }

    static ReflectorOptions fastOptions()
    {
        ReflectorOptions o;
        o.labelSelector = kProxySelector;
        o.backoffInitial = std::chrono::milliseconds(50);
        o.backoffMax = std::chrono::milliseconds(400);
        o.connection.idleTimeout = std::chrono::seconds(30);
        return o;
    }

    std::set<std::string> names() const
    {
        std::set<std::string> out;
        for (const auto& [key, object] : reflector.store())
            out.insert(key.toString());
        return out;
    }

    StringPool pool;
    CredentialSource credentials;
    Reflector<T> reflector;
    std::vector<std::string> added, updated, deleted, rejected, errors;
    int syncedCount = 0;
};

using Names = std::set<std::string>;

void seed(FakeApiServer& server, int count, const std::string& ns = "shop")
{
    for (int i = 0; i < count; ++i)
        server.apply(serviceJson(ns, "svc-" + std::to_string(i), "10.96.0." + std::to_string(i + 1)));
}

Names seeded(int count, const std::string& ns = "shop")
{
    Names out;
    for (int i = 0; i < count; ++i)
        out.insert(ns + "/svc-" + std::to_string(i));
    return out;
}

std::string clusterIPOf(const Mirror<Service>& m, const std::string& ns, const std::string& name)
{
    for (const auto& [key, s] : m.reflector.store())
        if (key.toString() == ns + "/" + name)
            return s.clusterIPs.empty() ? "" : s.clusterIPs.front().toString();
    return "";
}

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
    CHECK(nodes.reflector.store().begin()->second.zone == "z1");
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
    FakeApiServer server;
    seed(server, 2);
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
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
    Mirror<Service> m(io, server.access());
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

TEST_CASE("Credentials: a refused token, a client certificate, a rotated token file", "[integration]")
{
    FakeApiServer server;
    seed(server, 1);
    boost::asio::io_context io;
    SECTION("a wrong token is reported as 401 and retried, never logged")
    {
        Mirror<Service> m(io, server.access("wrong-token"));
        REQUIRE(runUntil(io, [&] { return m.errors.size() >= 2; }));
        CHECK(m.errors[0].find("401") != std::string::npos);
        CHECK(m.errors[0].find("unauthorized") != std::string::npos);
        CHECK(m.errors[0].find("wrong-token") == std::string::npos);
        CHECK_FALSE(m.reflector.synced());
    }
    SECTION("a client certificate")
    {
        auto access = server.access("");
        access.clientCertPem = *readFile(kipvs::test::pkiDir() + "/client.crt");
        access.clientKeyPem = *readFile(kipvs::test::pkiDir() + "/client.key");
        Mirror<Service> m(io, access);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        CHECK(m.names() == seeded(1));
    }
    SECTION("a token file rotated by the kubelet is re-read after a 401")
    {
        char pattern[] = "/tmp/kipvs-token-XXXXXX";
        std::string dir = mkdtemp(pattern);
        auto writeToken = [&](const std::string& token) {
            std::ofstream(dir + "/token.tmp") << token << "\n";
            std::rename((dir + "/token.tmp").c_str(), (dir + "/token").c_str());
        };
        writeToken("good-token");
        auto access = server.access("");
        access.tokenFile = dir + "/token";
        Mirror<Service> m(io, access);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        // The server stops accepting the old token; the kubelet writes the new one.
        server.setTokens({"rotated-token"});
        writeToken("rotated-token");
        server.fault(R"({"type":"cut","on":"watch"})");
        server.apply(serviceJson("shop", "svc-1", "10.96.0.2"));
        REQUIRE(runUntil(io, [&] { return m.names() == seeded(2); }));
        bool saw401 = false;
        for (const auto& e : m.errors)
            saw401 |= e.find("401") != std::string::npos;
        CHECK(saw401);
        std::system(("rm -rf " + dir).c_str());
    }
    SECTION("an exec credential plugin's token, cached until it expires")
    {
        char pattern[] = "/tmp/kipvs-exec-XXXXXX";
        std::string dir = mkdtemp(pattern);
        std::ofstream(dir + "/plugin")
            << "#!/bin/sh\necho run >> " << dir << "/runs\n"
            << R"(echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"good-token","expirationTimestamp":"2999-01-01T00:00:00Z"}}')"
            << "\n";
        std::system(("chmod +x " + dir + "/plugin").c_str());
        auto access = server.access("");
        access.exec = ExecConfig{dir + "/plugin", {}, {}, "client.authentication.k8s.io/v1"};
        Mirror<Service> m(io, access);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        server.apply(serviceJson("shop", "svc-1", "10.96.0.2"));
        REQUIRE(runUntil(io, [&] { return m.names() == seeded(2); }));
        std::ifstream runs(dir + "/runs");
        int count = 0;
        for (std::string line; std::getline(runs, line);)
            ++count;
        CHECK(count == 1);
        std::system(("rm -rf " + dir).c_str());
    }
}

TEST_CASE("TLS: the server's certificate is verified, by CA and by name", "[integration]")
{
    boost::asio::io_context io;
    SECTION("a certificate from another CA is refused")
    {
        FakeApiServer server(FakeApiServerOptions{"other-server"});
        Mirror<Service> m(io, server.access());
        REQUIRE(runUntil(io, [&] { return !m.errors.empty(); }));
        CHECK(m.errors[0].find("TLS handshake with API server 127.0.0.1") != std::string::npos);
        CHECK(m.errors[0].find("certificate") != std::string::npos);
        CHECK_FALSE(m.reflector.synced());
    }
    SECTION("a certificate for another name is refused, unless tls-server-name names it")
    {
        FakeApiServer server(FakeApiServerOptions{"wrong-name"});
        seed(server, 1);
        {
            Mirror<Service> m(io, server.access());
            REQUIRE(runUntil(io, [&] { return !m.errors.empty(); }));
            CHECK(m.errors[0].find("TLS handshake") != std::string::npos);
            CHECK_FALSE(m.reflector.synced());
        }
        auto access = server.access();
        access.tlsServerName = "wrong.example";
        Mirror<Service> named(io, access);
        REQUIRE(runUntil(io, [&] { return named.reflector.synced(); }));
    }
    SECTION("insecure-skip-tls-verify accepts any certificate")
    {
        FakeApiServer server(FakeApiServerOptions{"other-server"});
        auto access = server.access();
        access.insecureSkipVerify = true;
        Mirror<Service> m(io, access);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    }
    SECTION("a refused connection is an error and a retry, not a crash")
    {
        ClusterAccess access;
        access.server.host = "127.0.0.1";
        access.server.port = "1";
        Mirror<Service> m(io, access);
        REQUIRE(runUntil(io, [&] { return m.errors.size() >= 2; }));
        CHECK(m.errors[0].find("connect to API server 127.0.0.1:1") != std::string::npos);
    }
}

TEST_CASE("End to end from a kubeconfig file and from in-cluster configuration", "[integration]")
{
    FakeApiServer server;
    seed(server, 2);
    boost::asio::io_context io;
    char pattern[] = "/tmp/kipvs-access-XXXXXX";
    const std::string dir = mkdtemp(pattern);
    const std::string pki = kipvs::test::pkiDir();
    SECTION("a kubeconfig with a relative CA path and inline client certificate data")
    {
        std::system(("mkdir -p " + dir + "/conf && cp " + pki + "/ca.crt " + dir + "/conf/ca.crt").c_str());
        std::string certData = kipvs::test::runBase64(pki + "/client.crt");
        std::string keyData = kipvs::test::runBase64(pki + "/client.key");
        std::ofstream(dir + "/conf/kubeconfig")
            << "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:"
            << server.port()
            << "\n    certificate-authority: ca.crt\nusers:\n- name: u\n  user:\n    client-certificate-data: "
            << certData << "\n    client-key-data: " << keyData
            << "\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n";
        auto access = loadKubeconfig(dir + "/conf/kubeconfig");
        REQUIRE(access);
        Mirror<Service> m(io, *access);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        CHECK(m.names() == seeded(2));
    }
    SECTION("in-cluster: service host and port from the environment, token and CA from the service account")
    {
        std::system(("mkdir -p " + dir + "/sa && cp " + pki + "/ca.crt " + dir + "/sa/ca.crt && echo good-token > " +
                     dir + "/sa/token")
                        .c_str());
        const std::string port = std::to_string(server.port());
        auto env = [&](const std::string& name) -> std::optional<std::string> {
            if (name == "KUBERNETES_SERVICE_HOST")
                return std::string("127.0.0.1");
            if (name == "KUBERNETES_SERVICE_PORT")
                return port;
            return std::nullopt;
        };
        auto access = inClusterAccess(env, dir + "/sa");
        REQUIRE(access);
        Mirror<Service> m(io, *access);
        REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
        CHECK(m.names() == seeded(2));
    }
    SECTION("a host name that does not resolve is one clear error, retried")
    {
        ClusterAccess access = server.access();
        access.server.host = "no-such-host.invalid";
        Mirror<Service> m(io, access);
        REQUIRE(runUntil(io, [&] { return !m.errors.empty(); }));
        CHECK(m.errors[0].find("resolve API server no-such-host.invalid") == 0);
    }
    std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("A 500 on the list and an ERROR 500 event are retried until the mirror is exact", "[integration]")
{
    FakeApiServer server;
    seed(server, 2);
    server.fault(R"({"type":"status","on":"list","code":500,"count":2})");
    boost::asio::io_context io;
    Mirror<Service> m(io, server.access());
    REQUIRE(runUntil(io, [&] { return m.reflector.synced(); }));
    CHECK(m.names() == seeded(2));
    REQUIRE(m.errors.size() == 2);
    CHECK(m.errors[0].find("HTTP status 500") != std::string::npos);

    server.fault(R"({"type":"error-event","code":500,"reason":"InternalError"})");
    server.remove("Service", "shop", "svc-0");
    REQUIRE(runUntil(io, [&] { return m.names() == Names{"shop/svc-1"}; }));
    CHECK(m.deleted == std::vector<std::string>{"shop/svc-0"});
}
