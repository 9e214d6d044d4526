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

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace kipvs::status {

// "IPv4" / "IPv6", kube-proxy's ip_family label values.
const char* ipFamilyLabel(int family);

class Metrics {
public:
    Metrics();

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
    void conntrackDeleted(size_t count);

private:
    prometheus::Counter& counter(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels);
    // A counter that mirrors a running total kept elsewhere (the reflectors' counters).
    void setTotal(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels, uint64_t total);

    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<prometheus::Collectable> process_;
    prometheus::Family<prometheus::Histogram>& syncDuration_;
    prometheus::Family<prometheus::Gauge>& lastSync_;
    prometheus::Family<prometheus::Gauge>& lastQueued_;
    prometheus::Gauge& endpointPending_;
    prometheus::Counter& endpointTotal_;
    prometheus::Gauge& servicePending_;
    prometheus::Counter& serviceTotal_;
    prometheus::Family<prometheus::Histogram>& networkProgramming_;
    prometheus::Family<prometheus::Counter>& healthz_;
    prometheus::Family<prometheus::Counter>& livez_;
    prometheus::Family<prometheus::Counter>& restoreFailures_;
    prometheus::Family<prometheus::Counter>& netlinkOperations_;
    prometheus::Family<prometheus::Counter>& netlinkErrors_;
    prometheus::Family<prometheus::Counter>& watchRestarts_;
    prometheus::Family<prometheus::Counter>& watchRelists_;
    prometheus::Family<prometheus::Counter>& rejected_;
    prometheus::Counter& driftRepairs_;
    prometheus::Counter& manifestErrors_;
    prometheus::Counter& conntrackDeleted_;
    mutable std::mutex totalsMutex_;  // setTotal reads then increments; guards noLocalEndpoints_
    std::map<std::pair<std::string, std::string>, size_t> noLocalEndpoints_;  // (traffic policy, family)
};

}  // namespace kipvs::status
