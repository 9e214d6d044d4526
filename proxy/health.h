// SPDX-License-Identifier: Apache-2.0
// kube-proxy's health state and the bodies of /healthz and /livez: healthy unless an update
// has been queued for longer than twice the sync period; /healthz also needs an eligible node.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace kipvs::proxy {

struct HealthResponse {
    int status = 200;  // 200 or 503
    std::string body;  // JSON, as kube-proxy's (Content-Type application/json)
};

class ProxyHealth {
public:
    using Clock = std::chrono::system_clock;

    // `families` are the IP families the node proxies (AF_INET, AF_INET6); `start` counts as a
    // first update, so a starting daemon is healthy.
    ProxyHealth(std::chrono::milliseconds syncPeriod, std::initializer_list<int> families, Clock::time_point start);

    // A change needing a sync arrived: the first one since the last update starts the clock.
    void queued(int family, Clock::time_point now);
    // A sync of `family` finished: nothing is pending any more.
    void updated(int family, Clock::time_point now);

    bool healthy(Clock::time_point now) const;
    // /livez: health only. /healthz: health and the node's eligibility (known, not being deleted,
    // not tainted ToBeDeletedByClusterAutoscaler). An API-server outage queues nothing, so it
    // never makes either fail on its own.
    HealthResponse livez(Clock::time_point now) const;
    HealthResponse healthz(Clock::time_point now, bool nodeEligible) const;

private:
    struct Family {
        Clock::time_point lastUpdated;
        std::optional<Clock::time_point> oldestPending;
    };
    HealthResponse respond(Clock::time_point now, std::optional<bool> nodeEligible) const;
    bool familyHealthy(const Family& f, Clock::time_point now) const;

    std::chrono::milliseconds timeout_;
    std::map<int, Family> families_;
};

// ProxyHealth and the node's eligibility, shared between the event loop (which records queued
// changes, syncs and Node updates) and the status server's threads (which answer probes).
class HealthMonitor {
public:
    HealthMonitor(std::chrono::milliseconds syncPeriod, std::initializer_list<int> families);

    void queued(int family);
    void updated(int family);
    // The Node is known, not being deleted and not tainted ToBeDeletedByClusterAutoscaler.
    void nodeEligible(bool eligible);

    HealthResponse livez() const;
    HealthResponse healthz() const;

private:
    mutable std::mutex mutex_;
    ProxyHealth health_;
    bool nodeEligible_ = false;
};

}  // namespace kipvs::proxy
