// SPDX-License-Identifier: Apache-2.0
// /healthz and /livez as kube-proxy answers them.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "daemon/systemd_notify.h"
#include "proxy/health.h"

#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace kipvs::proxy;
using namespace std::chrono_literals;

namespace {

// The same moment on both clocks, as a daemon whose wall clock is right sees it.
Instant at(std::chrono::system_clock::duration sinceEpoch)
{
    return {std::chrono::steady_clock::time_point(sinceEpoch), std::chrono::system_clock::time_point(sinceEpoch)};
}

}  // namespace

TEST_CASE("Healthy while starting and after syncs; unhealthy once an update waits two sync periods", "[unit]")
{
    const Instant t0 = at(std::chrono::hours(500000));
    ProxyHealth health(30s, {AF_INET, AF_INET6}, t0);
    CHECK(health.healthy(t0 + 10min));  // nothing queued: healthy however long
    health.queued(AF_INET, t0 + 10s);
    health.queued(AF_INET, t0 + 50s);  // the oldest pending one counts
    CHECK(health.healthy(t0 + 69s));
    CHECK_FALSE(health.healthy(t0 + 70s));
    CHECK(health.livez(t0 + 70s).status == 503);
    health.updated(AF_INET, t0 + 71s);
    CHECK(health.healthy(t0 + 72s));
    health.queued(AF_INET6, t0 + 80s);  // one stale family makes the whole proxy unhealthy
    CHECK_FALSE(health.healthy(t0 + 141s));
}

TEST_CASE("Health follows the monotonic clock: a step of the wall clock neither hides a stuck sync nor fakes one",
          "[unit]")
{
    const Instant t0 = at(std::chrono::hours(500000));
    ProxyHealth health(30s, {AF_INET}, t0);
    health.queued(AF_INET, t0 + 1s);
    // NTP steps the wall clock back a day: 70 s have passed, so the update is overdue.
    Instant stepBack = t0 + 70s;
    stepBack.wall -= 24h;
    CHECK_FALSE(health.healthy(stepBack));
    health.updated(AF_INET, t0 + 71s);
    health.queued(AF_INET, t0 + 72s);
    // ...or forward a day: only 3 s have passed, nothing is overdue.
    Instant stepForward = t0 + 75s;
    stepForward.wall += 24h;
    CHECK(health.healthy(stepForward));
    CHECK(health.livez(stepForward).status == 200);
}

TEST_CASE("Response bodies: kube-proxy's fields, nodeEligible on /healthz only", "[unit]")
{
    const Instant t0 = at(std::chrono::seconds(1800000000) + 123456789ns);
    ProxyHealth health(30s, {AF_INET}, t0);
    auto ok = health.healthz(t0 + 1s, true);
    CHECK(ok.status == 200);
    auto body = nlohmann::json::parse(ok.body);
    CHECK(body["currentTime"] == "2027-01-15T08:00:01.123456789Z");
    CHECK(body["lastUpdated"] == body["currentTime"]);  // "now" when healthy
    CHECK(body["nodeEligible"] == true);
    CHECK(body["healthy"] == true);
    CHECK(body["status"]["IPv4"]["lastUpdated"] == "2027-01-15T08:00:00.123456789Z");
    CHECK_FALSE(nlohmann::json::parse(health.livez(t0).body).contains("nodeEligible"));

    auto draining = health.healthz(t0 + 1s, false);  // the node is being deleted
    CHECK(draining.status == 503);
    auto drainingBody = nlohmann::json::parse(draining.body);
    CHECK(drainingBody["healthy"] == true);
    CHECK(drainingBody["lastUpdated"] == "2027-01-15T08:00:00.123456789Z");
    CHECK(health.livez(t0 + 1s).status == 200);  // /livez ignores the node

    health.queued(AF_INET, t0 + 2s);
    auto stale = nlohmann::json::parse(health.livez(t0 + 63s).body);
    CHECK(stale["healthy"] == false);
    CHECK(stale["status"]["IPv4"]["healthy"] == false);
}

TEST_CASE("sd_notify: one datagram to $NOTIFY_SOCKET, nothing without it", "[unit]")
{
    unsetenv("NOTIFY_SOCKET");
    CHECK_FALSE(kipvs::daemon::notifySystemd("READY=1"));
    const std::string path = "/tmp/kipvs-notify-" + std::to_string(getpid());
    const int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    unlink(path.c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    CHECK(kipvs::daemon::notifySystemd("READY=1"));
    char buffer[64] = {};
    CHECK(recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) == 7);
    CHECK(std::string(buffer) == "READY=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path.c_str());
}
