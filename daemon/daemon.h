// SPDX-License-Identifier: Apache-2.0
// The daemon: one Asio event loop that takes objects from a source (the API server or manifest
// files) into the ServiceState, and hands each sync to the kernel worker on its own thread when
// the SyncScheduler says so. SIGTERM and SIGINT stop it and leave the kernel as it is, so
// traffic keeps flowing while it restarts.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/asio.h"
#include "config/options.h"
#include "daemon/object_sink.h"
#include "daemon/sync_placement.h"
#include "daemon/sync_report.h"
#include "daemon/sync_scheduler.h"
#include "log/log.h"
#include "proxy/health.h"
#include "proxy/service_ranges.h"
#include "proxy/service_state.h"
#include "status/metrics.h"
#include "watch/cluster_access.h"
#include "watch/string_pool.h"

namespace kipvs::status {
class HttpLoop;
class StatusServer;
class HealthCheckServers;
}  // namespace kipvs::status

namespace kipvs::daemon {

class ApiSource;
class ManifestSource;
class KernelWorker;
struct SyncOutcome;

namespace asio = boost::asio;

// This node's name: --hostname-override, else the host name, lower-cased as kube-proxy does.
std::string nodeName(const config::Options& options);

// Where the API server is: --kubeconfig (with --master overriding its server), --master alone,
// or the in-cluster service account.
Result<watch::ClusterAccess> clusterAccess(const config::Options& options);

class Daemon : private ObjectSink {
public:
    // `log` is borrowed.
    Daemon(config::Options options, logging::Logger& log);
    ~Daemon() override;

    // Runs until SIGTERM or SIGINT; with --dry-run, until the wanted state is printed to `out`.
    // Returns the exit status: 0; 1 when the kernel cannot be used; 2 when the configuration
    // names no usable source (kubeconfig, in-cluster account or manifest folder).
    int run(std::FILE* out = stdout);

private:
    // ObjectSink: objects from the source.
    void upsert(const watch::Service& service) override;
    void upsert(const watch::EndpointSlice& slice) override;
    void upsert(const watch::Node& node) override;
    void upsert(const watch::ServiceCidr& range) override;
    void remove(watch::Kind kind, const watch::ObjectKey& key) override;
    watch::ObjectVersions* versionsOf(watch::Kind kind) override;
    void synced(watch::Kind kind) override;
    void rejected(const std::string& resource, const watch::Rejection& rejection) override;
    void sourceFailed(const Error& error) override;

    void waitForSignal();
    int startKernel();
    Result<void> startSource();
    void changed(ChangeKind kind);
    void nodeChanged(const watch::Node* node);
    void podCidrsChanged(const std::vector<Cidr>& cidrs);
    std::vector<Cidr> routedRanges();
    void schedule();
    void startSync(SyncKind kind);
    void startDriftRead();
    void finishSync(const SyncOutcome& outcome);
    void publishWatchCounters();
    void printDryRun();
    void shutdown();

    config::Options options_;
    logging::Logger& log_;
    proxy::ProxierConfig proxierConfig_;
    proxy::NodeView node_;
    std::optional<std::vector<Cidr>> podCidrs_;  // the Node's, for --detect-local-mode=NodeCIDR
    proxy::ServiceRanges serviceRanges_;
    std::optional<std::vector<Cidr>> routedRanges_;  // as the last sync was asked to route them
    // Before the loop: coroutine frames the loop destroys still hold interned strings.
    watch::StringPool pool_;
    asio::io_context io_;
    asio::signal_set signals_;
    asio::steady_timer syncTimer_;
    proxy::ServiceState state_;
    // What the Service and EndpointSlice reflectors would otherwise each keep a copy of.
    proxy::StoredVersions serviceVersions_{state_, proxy::StoredVersions::Of::Services};
    proxy::StoredVersions sliceVersions_{state_, proxy::StoredVersions::Of::EndpointSlices};
    status::Metrics metrics_;
    proxy::HealthMonitor health_;
    SyncScheduler scheduler_;
    SyncReporter reporter_;
    std::unique_ptr<ApiSource> api_;
    std::unique_ptr<ManifestSource> manifests_;
    std::unique_ptr<KernelWorker> kernel_;
    std::unique_ptr<asio::thread_pool> syncThread_;  // syncs that may be long (see sync_placement.h)
    // A full sync's reads, on their own thread while syncs go on; no reader: the full sync reads.
    std::unique_ptr<DriftReader> driftReader_;
    std::unique_ptr<asio::thread_pool> readThread_;
    std::shared_ptr<const DriftSnapshot> drift_;  // read, for the full sync to come
    PreviousSync previousSync_;
    // The listeners' thread: declared before them so that it stops after they are closed.
    std::unique_ptr<status::HttpLoop> httpLoop_;
    std::unique_ptr<status::StatusServer> status_;
    std::unique_ptr<status::HealthCheckServers> healthChecks_;
    std::FILE* out_ = stdout;
    int exitStatus_ = 0;

    bool servicesSynced_ = false;
    bool slicesSynced_ = false;
    bool nodeSynced_ = false;
    bool rangesSynced_ = false;
    bool stopping_ = false;
};

}  // namespace kipvs::daemon
