// SPDX-License-Identifier: Apache-2.0
// kube-proxy's metrics and kube-ipvsd's own, in the Prometheus text format (see metrics.h).
#include "status/metrics.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace kipvs::status {

namespace {

using prometheus::Histogram;

// kube-proxy: prometheus.ExponentialBuckets(0.001, 2, 15).
Histogram::BucketBoundaries syncBuckets()
{
    Histogram::BucketBoundaries b;
    for (int i = 0; i < 15; ++i)
        b.push_back(0.001 * std::pow(2.0, i));
    return b;
}

// kube-proxy: merged linear buckets 0.25, 0.5, 1..59 step 1, 60..115 step 5, 120..300 step 30.
Histogram::BucketBoundaries networkProgrammingBuckets()
{
    Histogram::BucketBoundaries b{0.25, 0.5};
    for (int s = 1; s < 60; ++s)
        b.push_back(s);
    for (int s = 60; s < 120; s += 5)
        b.push_back(s);
    for (int s = 120; s <= 300; s += 30)
        b.push_back(s);
    return b;
}

prometheus::MetricFamily gauge(const char* name, const char* help, double value)
{
    prometheus::MetricFamily f{name, help, prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric m;
    m.gauge.value = value;
    f.metric.push_back(m);
    return f;
}

// process_* as the Go client's process collector exposes them, read from /proc/self.
class ProcessCollector : public prometheus::Collectable {
public:
    std::vector<prometheus::MetricFamily> Collect() const override
    {
        std::vector<prometheus::MetricFamily> out;
        std::ifstream statFile("/proc/self/stat");
        std::string stat((std::istreambuf_iterator<char>(statFile)), std::istreambuf_iterator<char>());
        // Fields after the command name, which is in parentheses and may hold spaces.
        auto close = stat.rfind(')');
        if (close != std::string::npos) {
            std::istringstream fields(stat.substr(close + 2));
            std::vector<std::string> f((std::istream_iterator<std::string>(fields)),
                                       std::istream_iterator<std::string>());
            // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
            if (f.size() > 21) {
                const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
                const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
                out.push_back(gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                                    (std::stod(f[11]) + std::stod(f[12])) / ticks));
                out.back().type = prometheus::MetricType::Counter;
                out.back().metric[0].counter.value = out.back().metric[0].gauge.value;
                out.push_back(gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", std::stod(f[20])));
                out.push_back(
                    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", std::stod(f[21]) * page));
                out.push_back(gauge("process_start_time_seconds",
                                    "Start time of the process since unix epoch in seconds.",
                                    bootTime() + std::stod(f[19]) / ticks));
            }
        }
        out.push_back(gauge("process_open_fds", "Number of open file descriptors.", openFds()));
        rlimit limit{};
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
            out.push_back(gauge("process_max_fds", "Maximum number of open file descriptors.",
                                static_cast<double>(limit.rlim_cur)));
        return out;
    }

private:
    static double bootTime()
    {
        std::ifstream in("/proc/stat");
        std::string key;
        double value = 0;
        while (in >> key) {
            if (key == "btime") {
                in >> value;
                return value;
            }
            in.ignore(1 << 20, '\n');
        }
        return 0;
    }
    static double openFds()
    {
        DIR* dir = opendir("/proc/self/fd");
        if (!dir)
            return 0;
        double n = 0;
        while (dirent* e = readdir(dir))
            if (e->d_name[0] != '.')
                ++n;
        closedir(dir);
        return n - 1;  // the directory stream's own descriptor
    }
};

}  // namespace

const char* ipFamilyLabel(int family)
{
    return family == AF_INET6 ? "IPv6" : "IPv4";
}

struct Metrics::State {
    State();
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
    prometheus::Gauge& pendingKeys_;
    prometheus::Gauge& conflicts_;
    prometheus::Family<prometheus::Counter>& conntrackReconcilerDeleted_;
    prometheus::Family<prometheus::Histogram>& conntrackReconcilerDuration_;
    mutable std::mutex totalsMutex_;  // setTotal reads then increments; guards noLocalEndpoints_
    std::map<std::pair<std::string, std::string>, size_t> noLocalEndpoints_;  // (traffic policy, family)
};

Metrics::State::State()
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()),
      syncDuration_(prometheus::BuildHistogram()
                        .Name("kubeproxy_sync_proxy_rules_duration_seconds")
                        .Help("[ALPHA] SyncProxyRules latency in seconds")
                        .Register(*registry_)),
      lastSync_(prometheus::BuildGauge()
                    .Name("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
                    .Help("[ALPHA] The last time proxy rules were successfully synced")
                    .Register(*registry_)),
      lastQueued_(prometheus::BuildGauge()
                      .Name("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds")
                      .Help("[ALPHA] The last time a sync of proxy rules was queued")
                      .Register(*registry_)),
      endpointPending_(prometheus::BuildGauge()
                           .Name("kubeproxy_sync_proxy_rules_endpoint_changes_pending")
                           .Help("[ALPHA] Pending proxy rules Endpoint changes")
                           .Register(*registry_)
                           .Add({})),
      endpointTotal_(prometheus::BuildCounter()
                         .Name("kubeproxy_sync_proxy_rules_endpoint_changes_total")
                         .Help("[ALPHA] Cumulative proxy rules Endpoint changes")
                         .Register(*registry_)
                         .Add({})),
      servicePending_(prometheus::BuildGauge()
                          .Name("kubeproxy_sync_proxy_rules_service_changes_pending")
                          .Help("[ALPHA] Pending proxy rules Service changes")
                          .Register(*registry_)
                          .Add({})),
      serviceTotal_(prometheus::BuildCounter()
                        .Name("kubeproxy_sync_proxy_rules_service_changes_total")
                        .Help("[ALPHA] Cumulative proxy rules Service changes")
                        .Register(*registry_)
                        .Add({})),
      networkProgramming_(prometheus::BuildHistogram()
                              .Name("kubeproxy_network_programming_duration_seconds")
                              .Help("[ALPHA] In Cluster Network Programming Latency in seconds")
                              .Register(*registry_)),
      healthz_(prometheus::BuildCounter()
                   .Name("kubeproxy_proxy_healthz_total")
                   .Help("[ALPHA] Cumulative proxy healthz HTTP status")
                   .Register(*registry_)),
      livez_(prometheus::BuildCounter()
                 .Name("kubeproxy_proxy_livez_total")
                 .Help("[ALPHA] Cumulative proxy livez HTTP status")
                 .Register(*registry_)),
      restoreFailures_(
          prometheus::BuildCounter()
              .Name("kubeproxy_sync_proxy_rules_iptables_restore_failures_total")
              .Help(
                  "[ALPHA] Cumulative proxy iptables restore failures (kube-ipvsd runs no iptables-restore: always 0)")
              .Register(*registry_)),
      netlinkOperations_(prometheus::BuildCounter()
                             .Name("kube_ipvsd_netlink_operations_total")
                             .Help("IPVS operations sent to the kernel, by command")
                             .Register(*registry_)),
      netlinkErrors_(prometheus::BuildCounter()
                         .Name("kube_ipvsd_netlink_errors_total")
                         .Help("IPVS operations the kernel refused, by command and errno")
                         .Register(*registry_)),
      watchRestarts_(prometheus::BuildCounter()
                         .Name("kube_ipvsd_watch_restarts_total")
                         .Help("API watches that ended other than by their timeout, by resource")
                         .Register(*registry_)),
      watchRelists_(prometheus::BuildCounter()
                        .Name("kube_ipvsd_watch_relists_total")
                        .Help("LISTs forced by an expired resourceVersion (410), by resource")
                        .Register(*registry_)),
      rejected_(prometheus::BuildCounter()
                    .Name("kube_ipvsd_objects_rejected_total")
                    .Help("API objects skipped as invalid, by resource and reason")
                    .Register(*registry_)),
      driftRepairs_(prometheus::BuildCounter()
                        .Name("kube_ipvsd_drift_repairs_total")
                        .Help("Virtual servers found changed behind the daemon's back and repaired")
                        .Register(*registry_)
                        .Add({})),
      manifestErrors_(prometheus::BuildCounter()
                          .Name("kube_ipvsd_manifest_file_errors_total")
                          .Help("Manifest files that could not be read or parsed")
                          .Register(*registry_)
                          .Add({})),
      conntrackDeleted_(
          prometheus::BuildCounter()
              .Name("kube_ipvsd_conntrack_entries_deleted_total")
              .Help("UDP conntrack entries deleted because no real server of their virtual server answers them")
              .Register(*registry_)
              .Add({})),
      pendingKeys_(prometheus::BuildGauge()
                       .Name("kube_ipvsd_sync_pending_virtual_servers")
                       .Help("Virtual servers not yet as wanted after the last sync: retried until the kernel accepts")
                       .Register(*registry_)
                       .Add({})),
      conflicts_(prometheus::BuildGauge()
                     .Name("kube_ipvsd_virtual_server_conflicts")
                     .Help("Virtual servers wanted by more than one Service; each is programmed for one of them")
                     .Register(*registry_)
                     .Add({})),
      conntrackReconcilerDeleted_(prometheus::BuildCounter()
                                      .Name("kubeproxy_conntrack_reconciler_deleted_entries_total")
                                      .Help("[ALPHA] Cumulative conntrack flows deleted by conntrack reconciler")
                                      .Register(*registry_)),
      conntrackReconcilerDuration_(prometheus::BuildHistogram()
                                       .Name("kubeproxy_conntrack_reconciler_sync_duration_seconds")
                                       .Help("[ALPHA] ReconcileConntrackFlowsLatency latency in seconds")
                                       .Register(*registry_))
{
    for (int family : {AF_INET, AF_INET6}) {
        const prometheus::Labels f{{"ip_family", ipFamilyLabel(family)}};
        syncDuration_.Add(f, syncBuckets());
        networkProgramming_.Add(f, networkProgrammingBuckets());
        lastSync_.Add(f);
        lastQueued_.Add(f);
        restoreFailures_.Add(f);
        conntrackReconcilerDeleted_.Add(f);
        conntrackReconcilerDuration_.Add(f, syncBuckets());
        for (const char* policy : {"internal", "external"})
            noLocalEndpoints_[{policy, ipFamilyLabel(family)}] = 0;
    }
}

Metrics::Metrics() : state_(std::make_unique<State>()) {}
Metrics::~Metrics() = default;

std::string Metrics::render() const
{
    auto families = state_->registry_->Collect();
    auto process = state_->process_->Collect();
    families.insert(families.end(), process.begin(), process.end());
    // kube-proxy declares this one a gauge named *_total, which Prometheus' linter (promtool
    // check metrics) rejects. Same name and values, typed counter so the output lints clean.
    prometheus::MetricFamily noLocal{"kubeproxy_sync_proxy_rules_no_local_endpoints_total",
                                     "[ALPHA] Number of services with a Local traffic policy and no endpoints",
                                     prometheus::MetricType::Counter,
                                     {}};
    {
        std::lock_guard lock(state_->totalsMutex_);
        for (const auto& [labels, value] : state_->noLocalEndpoints_) {
            prometheus::ClientMetric m;
            m.label = {{"ip_family", labels.second}, {"traffic_policy", labels.first}};
            m.counter.value = static_cast<double>(value);
            noLocal.metric.push_back(m);
        }
    }
    families.push_back(std::move(noLocal));
    return prometheus::TextSerializer().Serialize(families);
}

void Metrics::syncDuration(int family, double seconds)
{
    state_->syncDuration_.Add({{"ip_family", ipFamilyLabel(family)}}, syncBuckets()).Observe(seconds);
}

static double unixSeconds(std::chrono::system_clock::time_point when)
{
    return std::chrono::duration<double>(when.time_since_epoch()).count();
}

void Metrics::syncSucceeded(int family, std::chrono::system_clock::time_point when)
{
    state_->lastSync_.Add({{"ip_family", ipFamilyLabel(family)}}).Set(unixSeconds(when));
}

void Metrics::syncQueued(int family, std::chrono::system_clock::time_point when)
{
    state_->lastQueued_.Add({{"ip_family", ipFamilyLabel(family)}}).Set(unixSeconds(when));
}

void Metrics::serviceChange()
{
    state_->serviceTotal_.Increment();
}
void Metrics::endpointChange()
{
    state_->endpointTotal_.Increment();
}

void Metrics::pendingChanges(size_t services, size_t endpoints)
{
    state_->servicePending_.Set(static_cast<double>(services));
    state_->endpointPending_.Set(static_cast<double>(endpoints));
}

void Metrics::networkProgramming(int family, double seconds)
{
    state_->networkProgramming_.Add({{"ip_family", ipFamilyLabel(family)}}, networkProgrammingBuckets())
        .Observe(seconds);
}

void Metrics::noLocalEndpoints(const char* trafficPolicy, int family, size_t services)
{
    std::lock_guard lock(state_->totalsMutex_);
    state_->noLocalEndpoints_[{trafficPolicy, ipFamilyLabel(family)}] = services;
}

void Metrics::healthzResponse(int code)
{
    state_->counter(state_->healthz_, {{"code", std::to_string(code)}}).Increment();
}
void Metrics::livezResponse(int code)
{
    state_->counter(state_->livez_, {{"code", std::to_string(code)}}).Increment();
}

void Metrics::netlinkOperations(const std::string& command, size_t count)
{
    state_->counter(state_->netlinkOperations_, {{"command", command}}).Increment(static_cast<double>(count));
}

void Metrics::netlinkError(const std::string& command, int error)
{
    const char* name = strerrorname_np(error);
    state_->counter(state_->netlinkErrors_, {{"command", command}, {"errno", name ? name : std::to_string(error)}})
        .Increment();
}

void Metrics::watchRestarts(const std::string& resource, uint64_t total)
{
    state_->setTotal(state_->watchRestarts_, {{"resource", resource}}, total);
}
void Metrics::watchRelists(const std::string& resource, uint64_t total)
{
    state_->setTotal(state_->watchRelists_, {{"resource", resource}}, total);
}

void Metrics::objectRejected(const std::string& resource, const std::string& reason)
{
    state_->counter(state_->rejected_, {{"resource", resource}, {"reason", reason}}).Increment();
}

void Metrics::pendingKeys(size_t count)
{
    state_->pendingKeys_.Set(static_cast<double>(count));
}

void Metrics::virtualServerConflicts(size_t count)
{
    state_->conflicts_.Set(static_cast<double>(count));
}

void Metrics::driftRepairs(size_t count)
{
    state_->driftRepairs_.Increment(static_cast<double>(count));
}
void Metrics::manifestFileErrors(size_t count)
{
    state_->manifestErrors_.Increment(static_cast<double>(count));
}
void Metrics::conntrackReconciled(int family, size_t deleted, double seconds)
{
    const prometheus::Labels f{{"ip_family", ipFamilyLabel(family)}};
    state_->conntrackReconcilerDeleted_.Add(f).Increment(static_cast<double>(deleted));
    state_->conntrackReconcilerDuration_.Add(f, syncBuckets()).Observe(seconds);
    state_->conntrackDeleted_.Increment(static_cast<double>(deleted));
}

prometheus::Counter& Metrics::State::counter(prometheus::Family<prometheus::Counter>& family,
                                             const prometheus::Labels& labels)
{
    return family.Add(labels);
}

void Metrics::State::setTotal(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels,
                              uint64_t total)
{
    std::lock_guard lock(totalsMutex_);
    auto& c = family.Add(labels);
    const double now = static_cast<double>(total);
    if (now > c.Value())
        c.Increment(now - c.Value());
}

}  // namespace kipvs::status
