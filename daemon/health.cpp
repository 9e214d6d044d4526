// SPDX-License-Identifier: Apache-2.0
// Health state and responses (see health.h).
#include "health.h"

#include <cstdio>
#include <ctime>

#include <sys/socket.h>

#include <nlohmann/json.hpp>

namespace kipvs::daemon {

std::string rfc3339(ProxyHealth::Clock::time_point when)
{
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(nanos / 1000000000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[48];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(nanos % 1000000000));
    return text;
}

ProxyHealth::ProxyHealth(std::chrono::milliseconds syncPeriod, std::initializer_list<int> families, Clock::time_point start)
    : timeout_(2 * syncPeriod)
{
    for (int family : families)
        families_[family] = Family{start, std::nullopt};
}

void ProxyHealth::queued(int family, Clock::time_point now)
{
    auto& f = families_[family];
    if (!f.oldestPending)
        f.oldestPending = now;
}

void ProxyHealth::updated(int family, Clock::time_point now)
{
    auto& f = families_[family];
    f.lastUpdated = now;
    f.oldestPending.reset();
}

bool ProxyHealth::familyHealthy(const Family& f, Clock::time_point now) const
{
    return !f.oldestPending || now - *f.oldestPending < timeout_;
}

bool ProxyHealth::healthy(Clock::time_point now) const
{
    for (const auto& [family, f] : families_)
        if (!familyHealthy(f, now))
            return false;
    return true;
}

HealthResponse ProxyHealth::respond(Clock::time_point now, std::optional<bool> nodeEligible) const
{
    const bool isHealthy = healthy(now);
    const bool ok = isHealthy && nodeEligible.value_or(true);
    Clock::time_point newest{};
    nlohmann::ordered_json status = nlohmann::ordered_json::object();
    for (const auto& [family, f] : families_) {
        newest = std::max(newest, f.lastUpdated);
        status[family == AF_INET6 ? "IPv6" : "IPv4"] = {{"lastUpdated", rfc3339(f.lastUpdated)},
                                                       {"healthy", familyHealthy(f, now)}};
    }
    nlohmann::ordered_json body;
    // kube-proxy reports "now" as the last update of a healthy proxy, for older clients' sake.
    body["lastUpdated"] = rfc3339(ok ? now : newest);
    body["currentTime"] = rfc3339(now);
    if (nodeEligible)
        body["nodeEligible"] = *nodeEligible;
    body["healthy"] = isHealthy;
    body["status"] = status;
    return {ok ? 200 : 503, body.dump()};
}

HealthResponse ProxyHealth::livez(Clock::time_point now) const
{
    return respond(now, std::nullopt);
}

HealthResponse ProxyHealth::healthz(Clock::time_point now, bool nodeEligible) const
{
    return respond(now, nodeEligible);
}

}  // namespace kipvs::daemon
