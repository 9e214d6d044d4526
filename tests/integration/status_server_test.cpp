// SPDX-License-Identifier: Apache-2.0
// The status endpoints over real HTTP on loopback: kube-proxy's health rules and headers,
// /metrics accepted by Prometheus' own linter, /proxyMode, and a port that is busy at start.
#include <catch2/catch.hpp>

#include <cstdio>
#include <thread>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "status/health_check_servers.h"
#include "status/status_server.h"

using namespace kipvs::status;
using namespace kipvs::proxy;
using kipvs::logging::LogFormat;
using kipvs::logging::Logger;

namespace {

// Runs `promtool check metrics` on `text`; returns its exit status and output.
std::pair<int, std::string> promtool(const std::string& text)
{
    char path[] = "/tmp/kipvs-metrics-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
    std::string output;
    FILE* p = popen(("promtool check metrics < " + std::string(path) + " 2>&1").c_str(), "r");
    REQUIRE(p);
    char buffer[4096];
    while (size_t n = fread(buffer, 1, sizeof buffer, p))
        output.append(buffer, n);
    const int status = pclose(p);
    unlink(path);
    return {WEXITSTATUS(status), output};
}

}  // namespace

TEST_CASE("Status server: /healthz, /livez, /metrics (promtool-clean), /proxyMode", "[integration]")
{
    std::ostringstream logs;
    Logger log(2, LogFormat::Text, logs);
    Metrics metrics;
    HealthMonitor health(std::chrono::seconds(30), {AF_INET, AF_INET6});
    HttpLoop loop;
    StatusServer server(loop, "127.0.0.1:0", "127.0.0.1:0", health, metrics, log);
    REQUIRE(server.healthzPort() != 0);
    REQUIRE(server.metricsPort() != 0);
    httplib::Client healthz("127.0.0.1", server.healthzPort());
    httplib::Client metricsClient("127.0.0.1", server.metricsPort());

    // The Node is not known yet: /healthz says so, /livez does not care.
    auto h = healthz.Get("/healthz");
    REQUIRE(h);
    CHECK(h->status == 503);
    CHECK(h->get_header_value("Content-Type") == "application/json");
    CHECK(h->get_header_value("X-Content-Type-Options") == "nosniff");
    CHECK(nlohmann::json::parse(h->body)["nodeEligible"] == false);
    auto l = healthz.Get("/livez");
    REQUIRE(l);
    CHECK(l->status == 200);
    CHECK(!nlohmann::json::parse(l->body).contains("nodeEligible"));

    health.nodeEligible(true);
    h = healthz.Get("/healthz");
    REQUIRE(h);
    CHECK(h->status == 200);
    const auto body = nlohmann::json::parse(h->body);
    CHECK(body["healthy"] == true);
    CHECK(body["status"].contains("IPv4"));
    CHECK(body["status"].contains("IPv6"));

    auto m = metricsClient.Get("/metrics");
    REQUIRE(m);
    CHECK(m->status == 200);
    CHECK(m->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));
    CHECK(m->body.find("kubeproxy_proxy_healthz_total{code=\"503\"} 1") != std::string::npos);
    CHECK(m->body.find("kubeproxy_proxy_healthz_total{code=\"200\"} 1") != std::string::npos);
    CHECK(m->body.find("kubeproxy_proxy_livez_total{code=\"200\"} 1") != std::string::npos);
    auto [status, output] = promtool(m->body);
    INFO(output);
    CHECK(status == 0);

    auto mode = metricsClient.Get("/proxyMode");
    REQUIRE(mode);
    CHECK(mode->body == "ipvs");
    auto generic = metricsClient.Get("/healthz");
    REQUIRE(generic);
    CHECK(generic->body == "ok");
    // Health lives on the healthz port only, as kube-proxy serves it.
    auto wrong = healthz.Get("/metrics");
    REQUIRE(wrong);
    CHECK(wrong->status == 404);
}

TEST_CASE("A status port that is busy at start is retried until it frees up", "[integration]")
{
    // Hold a port, as a kube-proxy still shutting down would.
    const int holder = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(holder, 1) == 0);
    socklen_t length = sizeof address;
    getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length);
    const std::string busy = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));

    std::ostringstream logs;
    Logger log(2, LogFormat::Text, logs);
    Metrics metrics;
    HealthMonitor health(std::chrono::seconds(30), {AF_INET});
    HttpLoop loop;
    StatusServer server(loop, busy, "", health, metrics, log);
    CHECK(server.healthzPort() == 0);
    CHECK(server.metricsPort() == 0);
    CHECK(logs.str().find("cannot listen on " + busy) != std::string::npos);
    CHECK_FALSE(server.allBound());
    {
        // --bind-address-hard-fail: the listener gives up at once, for the daemon to exit.
        std::ostringstream hardLogs;
        Logger hardLog(2, LogFormat::Text, hardLogs);
        StatusServer hard(loop, "", busy, health, metrics, hardLog, kipvs::status::OnBindFailure::GiveUp);
        CHECK_FALSE(hard.allBound());
        CHECK(hardLogs.str().find("metrics server: cannot listen on " + busy) != std::string::npos);
        CHECK(hardLogs.str().find("retrying") == std::string::npos);
    }
    close(holder);
    for (int i = 0; i < 80 && server.healthzPort() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(server.healthzPort() == ntohs(address.sin_port));
    CHECK(server.allBound());
    httplib::Client client("127.0.0.1", server.healthzPort());
    auto l = client.Get("/livez");
    REQUIRE(l);
    CHECK(l->status == 200);
}

TEST_CASE("Health-check node ports: kube-proxy's answer, 503 without local endpoints, closed when gone",
          "[integration]")
{
    std::ostringstream logs;
    Logger log(2, LogFormat::Text, logs);
    HealthMonitor health(std::chrono::seconds(30), {AF_INET});
    HttpLoop loop;
    HealthCheckServers servers(loop, health, log);
    const std::vector<kipvs::InetAddress> loopback{*kipvs::InetAddress::parse("127.0.0.1")};
    // Port 0 binds any free port, so the test does not depend on 32000 being free.
    servers.update({{0, {"default", "lb-local", 2}}}, loopback);
    const uint16_t port = servers.boundPort(0);
    REQUIRE(port != 0);
    httplib::Client client("127.0.0.1", port);
    auto r = client.Get("/any/path");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("X-Load-Balancing-Endpoint-Weight") == "2");
    CHECK(r->get_header_value("Content-Type") == "application/json");
    CHECK(r->body == "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"lb-local\"\n\t},\n"
                     "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");

    servers.update({{0, {"default", "lb-local", 0}}}, loopback);
    r = client.Get("/");
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->get_header_value("X-Load-Balancing-Endpoint-Weight") == "0");

    // --nodeport-addresses narrowed to another address: the port listens there only.
    servers.update({{0, {"default", "lb-local", 1}}}, {*kipvs::InetAddress::parse("127.0.0.2")});
    const uint16_t narrowed = servers.boundPort(0);
    REQUIRE(narrowed != 0);
    httplib::Client there("127.0.0.2", narrowed);
    auto t = there.Get("/");
    REQUIRE(t);
    CHECK(t->status == 200);
    httplib::Client elsewhere("127.0.0.1", narrowed);
    elsewhere.set_connection_timeout(1);
    CHECK_FALSE(elsewhere.Get("/"));

    servers.update({}, loopback);
    CHECK(servers.boundPort(0) == 0);
    httplib::Client closed("127.0.0.1", port);
    closed.set_connection_timeout(1);
    CHECK_FALSE(closed.Get("/"));
}
