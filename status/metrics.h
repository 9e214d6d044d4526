// SPDX-License-Identifier: Apache-2.0
// Every metric the daemon exposes on /metrics: kube-proxy's kubeproxy_* set for IPVS mode (same
// names, types, buckets and labels), process_* as every Kubernetes component has, and this
// daemon's own under kube_ipvsd_*. prometheus-cpp makes each update thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace kipvs::status {

// "IPv4" / "IPv6", kube-proxy's ip_family label values.
const char* ipFamilyLabel(int family);

class Metrics {
public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    // The Prometheus text format of everything registered.
    std::string render() const;

    // kube-proxy's.
    void syncDuration(int family, double seconds);
    void syncSucceeded(int family, std::chrono::system_clock::time_point when);
    void syncQueued(int family, std::chrono::system_clock::time_point when);
    void serviceChange();
    void endpointChange();
    void pendingChanges(size_t services, size_t endpoints);
    void networkProgramming(int family, double seconds);
    void noLocalEndpoints(const char* trafficPolicy, int family, size_t services);
    void healthzResponse(int code);
    void livezResponse(int code);

    // This daemon's own.
    void netlinkOperations(const std::string& command, size_t count);
    void netlinkError(const std::string& command, int error);
    void watchRestarts(const std::string& resource, uint64_t total);
    void watchRelists(const std::string& resource, uint64_t total);
    void objectRejected(const std::string& resource, const std::string& reason);
    void driftRepairs(size_t count);
    void manifestFileErrors(size_t count);
    // One conntrack reconciliation pass: kube-proxy's kubeproxy_conntrack_reconciler_* and
    // kube_ipvsd_conntrack_entries_deleted_total.
    void conntrackReconciled(int family, size_t deleted, double seconds);
    void pendingKeys(size_t count);
    void virtualServerConflicts(size_t count);  // virtual servers more than one Service wants  // virtual servers a
                                                // sync has yet to make as wanted

private:
    struct State;  // the registry and the metric families: prometheus-cpp stays inside metrics.cpp
    std::unique_ptr<State> state_;
};

}  // namespace kipvs::status
