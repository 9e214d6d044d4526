// SPDX-License-Identifier: Apache-2.0
// The one place that tells the world about syncs: every queued change, start and outcome
// becomes kube-proxy's metrics, the health state, log lines and systemd's READY=1.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/kernel_worker.h"
#include "log/log.h"
#include "proxy/health.h"
#include "proxy/service_state.h"
#include "status/metrics.h"

namespace kipvs::daemon {

enum class ChangeKind { Service, Endpoints };

class SyncReporter {
public:
    // All borrowed for the reporter's lifetime.
    SyncReporter(status::Metrics& metrics, proxy::HealthMonitor& health, logging::Logger& log)
        : metrics_(metrics), health_(health), log_(log)
    {}

    // A change that needs a sync arrived; with Health::Queue it also counts as pending for
    // health (a dry run programs nothing, so it ignores health).
    enum class Health { Queue, Ignore };
    void changed(ChangeKind kind, Health health);
    // An EndpointSlice change stamped with its last-change-trigger-time, for
    // network_programming_duration once a sync programs it.
    void triggered(int family, std::chrono::system_clock::time_point when)
    {
        pendingTriggers_.emplace_back(family, when);
    }
    // A sync starts with these Services without local endpoints.
    void syncStarting(const proxy::ServiceState::NoLocalEndpoints& noLocal);
    // The sync finished; `wanted` is how many virtual servers are wanted in all.
    void syncFinished(const SyncOutcome& outcome, size_t wanted);

private:
    using Triggers = std::vector<std::pair<int, std::chrono::system_clock::time_point>>;
    void reportKernelWork(const SyncOutcome& outcome);
    void reportSuccess(std::chrono::system_clock::time_point now);
    // ", 4.2ms after the change", and forgets that change: for a sync that succeeded.
    std::string takeChangeLatency();

    status::Metrics& metrics_;
    proxy::HealthMonitor& health_;
    logging::Logger& log_;
    size_t pendingServiceChanges_ = 0;
    size_t pendingEndpointChanges_ = 0;
    Triggers pendingTriggers_;  // changes not yet in a sync
    Triggers inFlightTriggers_;  // changes the running sync programs
    // When the oldest change not yet in a sync, and the oldest the running sync carries, arrived
    // (a failed sync's carry over): the event-to-kernel latency each sync line reports.
    std::optional<std::chrono::steady_clock::time_point> oldestPending_, oldestInFlight_;
    bool firstSyncLogged_ = false;
    bool notifiedReady_ = false;  // systemd's READY=1, after the first successful sync
};

}  // namespace kipvs::daemon
