// SPDX-License-Identifier: Apache-2.0
// The daemon: one Asio event loop that takes objects from a source (the API server or manifest
// files) into the ServiceState, and hands each sync to the kernel worker on its own thread, at
// most once per --ipvs-min-sync-period and at least once per --ipvs-sync-period. Nothing is
// programmed before Services and EndpointSlices have both synced. SIGTERM and SIGINT stop it
// and leave the kernel as it is, so traffic keeps flowing while it restarts.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/object_sink.h"
#include "daemon/options.h"
#include "daemon/service_state.h"
#include "watch/asio.h"
#include "watch/cluster_access.h"
#include "watch/string_pool.h"

namespace kipvs::daemon {

class ApiSource;
class ManifestSource;
class KernelWorker;
class StatusServer;
class HealthCheckServers;
struct SyncOutcome;

namespace asio = boost::asio;

// This node's name: --hostname-override, else the host name, lower-cased as kube-proxy does.
std::string nodeName(const Options& options);

// Where the API server is: --kubeconfig (with --master overriding its server), --master alone,
// or the in-cluster service account.
Result<watch::ClusterAccess> clusterAccess(const Options& options);

class Daemon : private ObjectSink {
public:
    // `log` is borrowed.
    Daemon(Options options, Logger& log);
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
    void remove(const watch::Service& service) override;
    void remove(const watch::EndpointSlice& slice) override;
    void remove(const watch::Node& node) override;
    void synced(watch::Kind kind) override;
    void rejected(const std::string& resource, const watch::Rejection& rejection) override;
    void sourceFailed(const Error& error) override;

    Result<void> startSource();
    void changed(bool service);
    void nodeChanged(const watch::Node* node);
    bool ready() const { return servicesSynced_ && slicesSynced_; }
    void requestSync();
    void startSync(bool full);
    void finishSync(const SyncOutcome& outcome, std::vector<std::pair<int, std::chrono::system_clock::time_point>> triggers);
    void scheduleResync();
    void publishWatchCounters();
    void printDryRun();
    void shutdown();

    Options options_;
    Logger& log_;
    ProxierConfig proxierConfig_;
    NodeView node_;
    asio::io_context io_;
    asio::signal_set signals_;
    asio::steady_timer syncTimer_;
    asio::steady_timer resyncTimer_;
    watch::StringPool pool_;
    ServiceState state_;
    Metrics metrics_;
    HealthMonitor health_;
    std::unique_ptr<ApiSource> api_;
    std::unique_ptr<ManifestSource> manifests_;
    std::unique_ptr<KernelWorker> kernel_;
    std::unique_ptr<asio::thread_pool> syncThread_;
    std::unique_ptr<StatusServer> status_;
    std::unique_ptr<HealthCheckServers> healthChecks_;
    std::FILE* out_ = stdout;
    int exitStatus_ = 0;

    bool servicesSynced_ = false;
    bool slicesSynced_ = false;
    bool nodeSynced_ = false;
    bool syncing_ = false;
    bool syncTimerArmed_ = false;
    bool pendingFull_ = false;
    bool stopping_ = false;
    bool notifiedReady_ = false;  // systemd's READY=1, after the first sync
    std::chrono::steady_clock::time_point lastSyncStart_{};
    size_t pendingServiceChanges_ = 0;
    size_t pendingEndpointChanges_ = 0;
    // When each pending EndpointSlice change was triggered (its last-change-trigger-time), by family.
    std::vector<std::pair<int, std::chrono::system_clock::time_point>> triggers_;
};

}  // namespace kipvs::daemon
