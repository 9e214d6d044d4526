// SPDX-License-Identifier: Apache-2.0
// Metrics, health and log lines for syncs (see sync_report.h).
#include "daemon/sync_report.h"

#include <cstdio>

#include <sys/socket.h>

#include "daemon/systemd_notify.h"

namespace kipvs::daemon {

namespace {

using SystemClock = std::chrono::system_clock;
constexpr int kFamilies[] = {AF_INET, AF_INET6};

std::string milliseconds(std::chrono::steady_clock::duration d)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1fms", std::chrono::duration<double, std::milli>(d).count());
    return text;
}

}  // namespace

void SyncReporter::changed(ChangeKind kind, Health health)
{
    if (kind == ChangeKind::Service) {
        ++pendingServiceChanges_;
        metrics_.serviceChange();
    } else {
        ++pendingEndpointChanges_;
        metrics_.endpointChange();
    }
    metrics_.pendingChanges(pendingServiceChanges_, pendingEndpointChanges_);
    if (!oldestPending_)
        oldestPending_ = std::chrono::steady_clock::now();
    if (health == Health::Ignore)
        return;
    const auto now = SystemClock::now();
    for (int family : kFamilies) {
        health_.queued(family);
        metrics_.syncQueued(family, now);
    }
}

void SyncReporter::syncStarting(const proxy::ServiceState::NoLocalEndpoints& noLocal)
{
    pendingServiceChanges_ = pendingEndpointChanges_ = 0;
    metrics_.pendingChanges(0, 0);
    metrics_.noLocalEndpoints("internal", AF_INET, noLocal.internalV4);
    metrics_.noLocalEndpoints("internal", AF_INET6, noLocal.internalV6);
    metrics_.noLocalEndpoints("external", AF_INET, noLocal.externalV4);
    metrics_.noLocalEndpoints("external", AF_INET6, noLocal.externalV6);
    // Moved, not copied, so neither list keeps the first sync's capacity (10,000s of changes).
    if (inFlightTriggers_.empty())
        inFlightTriggers_ = std::exchange(pendingTriggers_, {});
    else
        inFlightTriggers_.insert(inFlightTriggers_.end(), pendingTriggers_.begin(), pendingTriggers_.end());
    pendingTriggers_ = {};
    if (!oldestInFlight_)
        oldestInFlight_ = std::exchange(oldestPending_, std::nullopt);
}

// From the oldest change the sync carried arriving on the event loop to the kernel's
// acknowledgement. A failed sync keeps it: the sync that succeeds reports it.
std::string SyncReporter::takeChangeLatency()
{
    if (!oldestInFlight_)
        return {};
    const auto waited = std::chrono::steady_clock::now() - *std::exchange(oldestInFlight_, std::nullopt);
    return ", " + milliseconds(waited) + " after the change";
}

void SyncReporter::syncFinished(const SyncOutcome& outcome, size_t wanted)
{
    reportKernelWork(outcome);
    const double seconds = std::chrono::duration<double>(outcome.elapsed).count();
    for (int family : kFamilies)
        metrics_.syncDuration(family, seconds);
    metrics_.pendingKeys(outcome.pendingKeys);
    // A sync that left anything as it was not asked is not a success: health keeps its last
    // success, and kube-proxy's 2 x sync-period rule turns /healthz 503 if it lasts.
    const bool succeeded = outcome.ok && outcome.errors.empty();
    if (succeeded)
        reportSuccess(SystemClock::now());
    std::string elapsed = milliseconds(outcome.elapsed) + " (";
    for (const auto& [step, took] : outcome.steps)
        elapsed += (elapsed.back() == '(' ? "" : ", ") + step + " " + milliseconds(took);
    elapsed += ")";
    // A failed sync's triggers are measured when a later sync succeeds.
    size_t operations = 0;
    for (const auto& [verb, count] : outcome.operationsByVerb)
        operations += count;
    // The first sync is always told: after a restart on a programmed kernel it sends nothing.
    // So is each periodic full sync and each of its continuations: how long one takes is how long
    // a change may wait behind it.
    const bool full = outcome.kind != SyncKind::Incremental;
    const char* prefix = outcome.kind == SyncKind::Full            ? "full sync: "
                         : outcome.kind == SyncKind::FullContinued ? "full sync, continued: "
                                                                   : "";
    log_.info(operations || !firstSyncLogged_ || full ? 2 : 4,
              std::string(prefix) + "synced in " + elapsed + ": " + std::to_string(operations) + " IPVS operations, " +
                  std::to_string(wanted) + " virtual servers wanted" + (succeeded ? takeChangeLatency() : "") +
                  (outcome.errors.empty() ? "" : ", " + std::to_string(outcome.errors.size()) + " errors"));
    firstSyncLogged_ = true;
}

void SyncReporter::reportKernelWork(const SyncOutcome& outcome)
{
    for (const auto& [verb, count] : outcome.operationsByVerb)
        metrics_.netlinkOperations(verb, count);
    // Every error is counted; a flushed table can refuse thousands at once, so only the first
    // few are logged one by one.
    constexpr size_t kLoggedErrors = 10;
    for (size_t i = 0; i < outcome.errors.size(); ++i) {
        const auto& error = outcome.errors[i];
        if (i < kLoggedErrors)
            log_.error(error.message());
        metrics_.netlinkError(error.operation, error.code);
    }
    if (outcome.errors.size() > kLoggedErrors)
        log_.error("and " + std::to_string(outcome.errors.size() - kLoggedErrors) +
                   " more errors in this sync (counted in kube_ipvsd_netlink_errors_total)");
    if (outcome.firewallRebuilt)
        log_.info(2, "nftables table inet kube-ipvsd written");
    size_t deleted = 0;
    for (const auto& pass : outcome.conntrack) {
        deleted += pass.deleted;
        metrics_.conntrackReconciled(pass.family, pass.deleted, std::chrono::duration<double>(pass.elapsed).count());
    }
    if (deleted)
        log_.info(2, "deleted " + std::to_string(deleted) + " UDP conntrack entries not answered by a real server");
    if (outcome.driftRepairs) {
        log_.warning("repairing " + std::to_string(outcome.driftRepairs) +
                     " virtual servers changed outside kube-ipvsd");
        metrics_.driftRepairs(outcome.driftRepairs);
    }
}

void SyncReporter::reportSuccess(SystemClock::time_point now)
{
    for (int family : kFamilies) {
        health_.updated(family);
        metrics_.syncSucceeded(family, now);
    }
    for (const auto& [family, when] : inFlightTriggers_)
        if (when <= now)
            metrics_.networkProgramming(family, std::chrono::duration<double>(now - when).count());
    inFlightTriggers_ = {};
    if (!notifiedReady_) {
        notifiedReady_ = true;
        notifySystemd("READY=1\nSTATUS=kernel programmed, watching for changes");
    }
}

}  // namespace kipvs::daemon
