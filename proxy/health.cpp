// SPDX-License-Identifier: Apache-2.0
// Health state and responses (see health.h).
#include "proxy/health.h"

#include <cstdio>
#include <ctime>

#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "base/rfc3339.h"

namespace kipvs::proxy {

ProxyHealth::ProxyHealth(std::chrono::milliseconds syncPeriod, std::initializer_list<int> families, Instant start)
    : timeout_(2 * syncPeriod)
{
    for (int family : families)
        families_[family] = Family{start, std::nullopt};
}

void ProxyHealth::queued(int family, Instant now)
{
    auto& f = families_[family];
    if (!f.oldestPending)
        f.oldestPending = now.monotonic;
}

void ProxyHealth::updated(int family, Instant now)
{
    auto& f = families_[family];
    f.lastUpdated = now;
    f.oldestPending.reset();
}

bool ProxyHealth::familyHealthy(const Family& f, Instant now) const
{
    return !f.oldestPending || now.monotonic - *f.oldestPending < timeout_;
}

bool ProxyHealth::healthy(Instant now) const
{
    for (const auto& [family, f] : families_)
        if (!familyHealthy(f, now))
            return false;
    return true;
}

HealthResponse ProxyHealth::respond(Instant now, std::optional<bool> nodeEligible) const
{
    const bool isHealthy = healthy(now);
    const bool ok = isHealthy && nodeEligible.value_or(true);
    std::chrono::system_clock::time_point newest{};
    nlohmann::ordered_json status = nlohmann::ordered_json::object();
    for (const auto& [family, f] : families_) {
        newest = std::max(newest, f.lastUpdated.wall);
        status[family == AF_INET6 ? "IPv6" : "IPv4"] = {{"lastUpdated", formatRfc3339(f.lastUpdated.wall)},
                                                        {"healthy", familyHealthy(f, now)}};
    }
    nlohmann::ordered_json body;
    // kube-proxy reports "now" as the last update of a healthy proxy, for older clients' sake.
    body["lastUpdated"] = formatRfc3339(ok ? now.wall : newest);
    body["currentTime"] = formatRfc3339(now.wall);
    if (nodeEligible)
        body["nodeEligible"] = *nodeEligible;
    body["healthy"] = isHealthy;
    body["status"] = status;
    return {ok ? 200 : 503, body.dump()};
}

HealthResponse ProxyHealth::livez(Instant now) const
{
    return respond(now, std::nullopt);
}

HealthResponse ProxyHealth::healthz(Instant now, bool nodeEligible) const
{
    return respond(now, nodeEligible);
}

HealthMonitor::HealthMonitor(std::chrono::milliseconds syncPeriod, std::initializer_list<int> families)
    : health_(syncPeriod, families, Instant::now())
{}

void HealthMonitor::queued(int family)
{
    std::lock_guard lock(mutex_);
    health_.queued(family, Instant::now());
}

void HealthMonitor::updated(int family)
{
    std::lock_guard lock(mutex_);
    health_.updated(family, Instant::now());
}

void HealthMonitor::nodeEligible(bool eligible)
{
    std::lock_guard lock(mutex_);
    nodeEligible_ = eligible;
}

HealthResponse HealthMonitor::livez() const
{
    std::lock_guard lock(mutex_);
    return health_.livez(Instant::now());
}

HealthResponse HealthMonitor::healthz() const
{
    std::lock_guard lock(mutex_);
    return health_.healthz(Instant::now(), nodeEligible_);
}

}  // namespace kipvs::proxy
