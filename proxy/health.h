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

// A moment on both clocks: the monotonic one decides health (a step of the wall clock neither
// hides a stuck sync nor fakes a stale one), the wall one is what the bodies report.
struct Instant {
    std::chrono::steady_clock::time_point monotonic;
    std::chrono::system_clock::time_point wall;
    static Instant now() { return {std::chrono::steady_clock::now(), std::chrono::system_clock::now()}; }
    template <typename Rep, typename Period>
    Instant operator+(std::chrono::duration<Rep, Period> d) const
    {
        return {monotonic + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d),
                wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(d)};
    }
};

class ProxyHealth {
public:
    // `families` are the IP families the node proxies (AF_INET, AF_INET6); `start` counts as a
    // first update, so a starting daemon is healthy.
    ProxyHealth(std::chrono::milliseconds syncPeriod, std::initializer_list<int> families, Instant start);

    // A change needing a sync arrived: the first one since the last update starts the clock.
    void queued(int family, Instant now);
    // A sync of `family` finished: nothing is pending any more.
    void updated(int family, Instant now);

    bool healthy(Instant now) const;
    // /livez: health only. /healthz: health and the node's eligibility (known, not being deleted,
    // not tainted ToBeDeletedByClusterAutoscaler). An API-server outage queues nothing, so it
    // never makes either fail on its own.
    HealthResponse livez(Instant now) const;
    HealthResponse healthz(Instant now, bool nodeEligible) const;

private:
    struct Family {
        Instant lastUpdated;
        std::optional<std::chrono::steady_clock::time_point> oldestPending;
    };
    HealthResponse respond(Instant now, std::optional<bool> nodeEligible) const;
    bool familyHealthy(const Family& f, Instant now) const;

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
