// SPDX-License-Identifier: Apache-2.0
// Reaching the API server as a cluster would: credentials, TLS verification, kubeconfig and
// in-cluster configuration, and a server that fails; each against the fake API server.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <set>
#include <thread>

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

namespace {

// Whether `pid` is alive: not gone and not a zombie waiting for whoever adopted it.
bool running(int pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("Exec credential plugins that misbehave are killed at one hard deadline", "[integration]")
{
    char pattern[] = "/tmp/kipvs-exec-XXXXXX";
    const std::string dir = mkdtemp(pattern);
    // Each plugin records its process id (and a child's), then misbehaves.
    struct Case {
        const char* what;
        const char* body;
        const char* error;
    };
    const Case cases[] = {
        {"closes stdout and keeps running", "exec >&-\nsleep 100", "no answer within 400 ms; killed"},
        {"hangs without a word", "sleep 100", "no answer within 400 ms; killed"},
        {"floods its output", "yes", "more than 1 MiB; killed"},
        {"writes its answer but never exits",
         R"(echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}')"
         "\nsleep 100",
         "no answer within 400 ms; killed"},
    };
    for (const auto& c : cases) {
        SECTION(c.what)
        {
            std::ofstream(dir + "/plugin")
                << "#!/bin/sh\necho $$ > " << dir << "/pid\nsleep 100 &\necho $! > " << dir << "/child\n"
                << c.body << "\n";
            std::system(("chmod +x " + dir + "/plugin").c_str());
            ClusterAccess access;
            access.exec = ExecConfig{dir + "/plugin", {}, {}, "client.authentication.k8s.io/v1"};
            CredentialSource credentials(access, std::chrono::system_clock::now, std::chrono::milliseconds(400));
            const auto start = std::chrono::steady_clock::now();
            auto credential = credentials.current();
            const auto took = std::chrono::steady_clock::now() - start;
            REQUIRE_FALSE(credential);
            INFO(credential.error().message());
            CHECK(credential.error().message().find(c.error) != std::string::npos);
            // The deadline is the whole run's, not one read's.
            CHECK(took < std::chrono::seconds(3));
            // Neither the plugin nor what it started is left running.
            for (const char* file : {"/pid", "/child"}) {
                int pid = 0;
                std::ifstream(dir + file) >> pid;
                REQUIRE(pid > 0);
                bool gone = false;
                for (int i = 0; i < 100 && !gone; ++i) {
                    gone = !running(pid);
                    if (!gone)
                        std::this_thread::sleep_for(std::chrono::milliseconds(10));
                }
                CHECK(gone);
            }
        }
    }
    std::system(("rm -rf " + dir).c_str());
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
