// SPDX-License-Identifier: Apache-2.0
#include "daemon/daemon.h"

#include <algorithm>
#include <cctype>

#include <sys/socket.h>
#include <unistd.h>

#include "base/rfc3339.h"
#include "daemon/api_source.h"
#include "daemon/health_check_servers.h"
#include "daemon/kernel_worker.h"
#include "daemon/manifest_source.h"
#include "daemon/status_server.h"
#include "daemon/systemd_notify.h"
#include "daemon/wanted_output.h"

namespace kipvs::daemon {

namespace {

using SystemClock = std::chrono::system_clock;

ProxierConfig proxierConfigOf(const Options& o, const std::string& node)
{
    ProxierConfig c;
    c.nodeName = node;
    if (!o.ipvsScheduler.empty())
        c.scheduler = o.ipvsScheduler;
    c.nodePortAddresses = o.nodePortAddresses;
    c.nodePortPrimary = o.nodePortPrimary;
    return c;
}

// The Node object's view of itself: its first InternalIP per family, all its addresses (what
// dry-run serves NodePorts on) and its zone.
NodeView nodeViewOf(const watch::Node& node)
{
    NodeView view;
    view.zone = node.zone;
    bool v4 = false, v6 = false;
    for (const auto& a : node.addresses) {
        if (a.type == watch::NodeAddress::Type::Other)
            continue;
        view.localAddresses.push_back(a.address);
        if (a.type != watch::NodeAddress::Type::InternalIP)
            continue;
        bool& seen = a.address.family() == AF_INET6 ? v6 : v4;
        if (!seen)
            view.primaryIPs.push_back(a.address);
        seen = true;
    }
    return view;
}

}  // namespace

std::string nodeName(const Options& options)
{
    std::string name = options.hostnameOverride;
    if (name.empty()) {
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        name = host;
    }
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name;
}

Result<watch::ClusterAccess> clusterAccess(const Options& options)
{
    if (!options.kubeconfig.empty())
        return watch::loadKubeconfig(options.kubeconfig, options.master);
    if (!options.master.empty()) {
        auto server = watch::parseServerUrl(options.master);
        if (!server)
            return tl::unexpected(server.error());
        watch::ClusterAccess access;
        access.server = *server;
        access.source = "--master " + options.master;
        return access;
    }
    return watch::inClusterAccess();
}

Daemon::Daemon(Options options, Logger& log)
    : options_(std::move(options)),
      log_(log),
      proxierConfig_(proxierConfigOf(options_, nodeName(options_))),
      signals_(io_, SIGTERM, SIGINT, SIGHUP),
      syncTimer_(io_),
      resyncTimer_(io_),
      health_(options_.ipvsSyncPeriod, {AF_INET, AF_INET6})
{
}

Daemon::~Daemon()
{
    // The sync thread may still hold a reference to the kernel worker: let it finish first.
    if (syncThread_)
        syncThread_->join();
}

int Daemon::run(std::FILE* out)
{
    out_ = out;
    std::function<void()> waitForSignal = [&] {
        signals_.async_wait([&](const boost::system::error_code& ec, int signal) {
            if (ec)
                return;
            if (signal == SIGHUP) {
                log_.info(0, "SIGHUP ignored: restart kube-ipvsd to apply a changed configuration");
                waitForSignal();
                return;
            }
            log_.info(0, std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
                             ": stopping, kernel state left in place");
            shutdown();
        });
    };
    waitForSignal();

    if (!options_.dryRun) {
        KernelSettings settings;
        settings.timeouts = {static_cast<uint32_t>(options_.ipvsTcpTimeout.count()),
                             static_cast<uint32_t>(options_.ipvsTcpFinTimeout.count()),
                             static_cast<uint32_t>(options_.ipvsUdpTimeout.count())};
        settings.strictArp = options_.ipvsStrictArp;
        settings.excludedCidrs = options_.ipvsExcludeCidrs;
        settings.firewall = {1u << options_.masqueradeBit, options_.masqueradeAll, options_.clusterCidrs};
        auto kernel = KernelWorker::open(settings);
        if (!kernel) {
            log_.error("cannot use IPVS: " + kernel.error().message() +
                       (kernel.error().code == EPERM ? " (kube-ipvsd needs CAP_NET_ADMIN)" : ""));
            return 1;
        }
        kernel_ = std::make_unique<KernelWorker>(std::move(*kernel));
        auto prepared = kernel_->prepare();
        if (!prepared) {
            log_.error("cannot prepare the kernel: " + prepared.error().message());
            return 1;
        }
        for (const auto& warning : *prepared)
            log_.warning("kernel setting not applied: " + warning.message());
        node_.localAddresses = kernel_->nodeAddresses();
        syncThread_ = std::make_unique<asio::thread_pool>(1);
        healthChecks_ = std::make_unique<HealthCheckServers>(health_, log_);
        status_ = std::make_unique<StatusServer>(options_.healthzBindAddress, options_.metricsBindAddress, health_, metrics_, log_);
        log_.info(2, "kube-ipvsd " KIPVS_VERSION " starting on node " + quoted(proxierConfig_.nodeName) + ", " +
                         std::to_string(kernel_->nodeAddresses().size()) + " node addresses");
    }
    if (auto started = startSource(); !started) {
        // No way to reach the objects (no kubeconfig, not in a cluster, no manifest folder)
        // is a configuration error, like a bad flag.
        log_.error(started.error().message());
        return 2;
    }
    if (!options_.dryRun)
        scheduleResync();
    io_.run();
    if (syncThread_)
        syncThread_->join();
    return exitStatus_;
}

Result<void> Daemon::startSource()
{
    if (!options_.manifests.empty()) {
        manifests_ = std::make_unique<ManifestSource>(io_, options_.manifests, pool_, static_cast<ObjectSink&>(*this));
        log_.info(2, "reading objects from manifests in " + quoted(options_.manifests));
        return manifests_->start(!options_.dryRun);
    }
    auto access = clusterAccess(options_);
    if (!access)
        return tl::unexpected(access.error());
    log_.info(2, "watching the API server at " + access->server.hostHeader() + " (" + access->source + ")");
    api_ = std::make_unique<ApiSource>(io_, *access, proxierConfig_.nodeName, pool_, static_cast<ObjectSink&>(*this));
    api_->start();
    return {};
}

void Daemon::upsert(const watch::Service& service)
{
    log_.info(4, "service " + quoted(service.key.toString()) + " updated");
    state_.upsertService(service);
    changed(true);
}

void Daemon::upsert(const watch::EndpointSlice& slice)
{
    log_.info(4, "endpointslice " + quoted(slice.key.toString()) + " updated, " + std::to_string(slice.endpoints.size()) +
                     " endpoints");
    if (!slice.lastChangeTriggerTime.empty())
        if (auto when = parseRfc3339(slice.lastChangeTriggerTime))
            triggers_.emplace_back(slice.addressFamily, *when);
    state_.upsertSlice(slice);
    changed(false);
}

void Daemon::upsert(const watch::Node& node)
{
    if (node.key.name != proxierConfig_.nodeName)
        return;  // manifests may hold other nodes
    nodeChanged(&node);
}

void Daemon::remove(const watch::Service& service)
{
    log_.info(4, "service " + quoted(service.key.toString()) + " deleted");
    state_.deleteService(service.key);
    changed(true);
}

void Daemon::remove(const watch::EndpointSlice& slice)
{
    log_.info(4, "endpointslice " + quoted(slice.key.toString()) + " deleted");
    state_.deleteSlice(slice.key);
    changed(false);
}

void Daemon::remove(const watch::Node& node)
{
    if (node.key.name == proxierConfig_.nodeName)
        nodeChanged(nullptr);
}

void Daemon::nodeChanged(const watch::Node* node)
{
    health_.nodeEligible(node && !node->deleting && !node->toBeDeletedByAutoscaler);
    NodeView view = node ? nodeViewOf(*node) : NodeView{};
    if (!options_.dryRun)
        view.localAddresses = node_.localAddresses;  // the host's own, not what the Node says
    if (view.zone == node_.zone && view.primaryIPs == node_.primaryIPs && view.localAddresses == node_.localAddresses)
        return;
    log_.info(2, "node " + quoted(proxierConfig_.nodeName) + (node ? " changed" : " deleted") + ": recomputing every service");
    node_ = std::move(view);
    state_.markAllDirty();
    changed(true);
}

void Daemon::synced(watch::Kind kind)
{
    switch (kind) {
    case watch::Kind::Service:
        servicesSynced_ = true;
        break;
    case watch::Kind::EndpointSlice:
        slicesSynced_ = true;
        break;
    case watch::Kind::Node:
        nodeSynced_ = true;
        break;
    }
    log_.info(2, std::string(watch::kindName(kind)) + " objects synced");
    if (options_.dryRun) {
        if (ready() && nodeSynced_)
            printDryRun();
        return;
    }
    requestSync();
}

void Daemon::rejected(const std::string& resource, const watch::Rejection& rejection)
{
    log_.warning("skipping invalid object " + quoted(rejection.object) + " from " + resource + ": " + rejection.detail);
    metrics_.objectRejected(resource, rejection.reason);
}

void Daemon::sourceFailed(const Error& error)
{
    log_.warning(error.message());
    if (error.domain == Error::Domain::Decode || error.domain == Error::Domain::System)
        if (manifests_)
            metrics_.manifestFileErrors(1);
    publishWatchCounters();
}

void Daemon::publishWatchCounters()
{
    if (!api_)
        return;
    for (const auto& t : api_->totals()) {
        metrics_.watchRestarts(t.resource, t.counters.restarts);
        metrics_.watchRelists(t.resource, t.counters.relists);
    }
}

void Daemon::changed(bool service)
{
    if (service) {
        ++pendingServiceChanges_;
        metrics_.serviceChange();
    } else {
        ++pendingEndpointChanges_;
        metrics_.endpointChange();
    }
    metrics_.pendingChanges(pendingServiceChanges_, pendingEndpointChanges_);
    if (options_.dryRun)
        return;
    const auto now = SystemClock::now();
    for (int family : {AF_INET, AF_INET6}) {
        health_.queued(family);
        metrics_.syncQueued(family, now);
    }
    requestSync();
}

void Daemon::requestSync()
{
    if (!ready() || stopping_ || syncing_ || syncTimerArmed_ || options_.dryRun)
        return;  // a running sync asks again when it finishes
    syncTimerArmed_ = true;
    syncTimer_.expires_at(std::max(std::chrono::steady_clock::now(), lastSyncStart_ + options_.ipvsMinSyncPeriod));
    syncTimer_.async_wait([this](const boost::system::error_code& ec) {
        syncTimerArmed_ = false;
        if (!ec)
            startSync(false);
    });
}

void Daemon::scheduleResync()
{
    resyncTimer_.expires_after(options_.ipvsSyncPeriod);
    resyncTimer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec)
            return;
        if (ready())
            startSync(true);
        scheduleResync();
    });
}

void Daemon::startSync(bool full)
{
    if (stopping_)
        return;
    if (syncing_) {
        pendingFull_ |= full;
        return;
    }
    syncing_ = true;
    lastSyncStart_ = std::chrono::steady_clock::now();
    SyncRequest request;
    request.full = full;
    for (const auto& key : state_.recompute(node_, proxierConfig_)) {
        auto wanted = state_.wanted().find(key);
        request.changes.emplace(key, wanted == state_.wanted().end() ? std::nullopt : std::optional(wanted->second));
    }
    for (const auto& warning : state_.takeWarnings())
        log_.warning(warning);
    request.boundAddresses = state_.boundAddresses();
    request.firewall = state_.firewallSets(node_.localAddresses);
    std::map<uint16_t, HealthCheckService> healthChecks;
    for (const auto& [port, check] : state_.healthChecks())
        healthChecks[port] = {check.namespaceName, check.name, check.localEndpoints};
    healthChecks_->update(healthChecks);
    log_.info(4, std::string(full ? "full sync" : "sync") + ": " + std::to_string(request.changes.size()) +
                     " virtual servers changed");
    pendingServiceChanges_ = pendingEndpointChanges_ = 0;
    metrics_.pendingChanges(0, 0);
    const auto noLocal = state_.noLocalEndpoints();
    metrics_.noLocalEndpoints("internal", AF_INET, noLocal.internalV4);
    metrics_.noLocalEndpoints("internal", AF_INET6, noLocal.internalV6);
    metrics_.noLocalEndpoints("external", AF_INET, noLocal.externalV4);
    metrics_.noLocalEndpoints("external", AF_INET6, noLocal.externalV6);
    asio::post(*syncThread_, [this, request = std::move(request), triggers = std::exchange(triggers_, {})]() mutable {
        auto outcome = kernel_->sync(request);
        asio::post(io_, [this, outcome = std::move(outcome), triggers = std::move(triggers)]() mutable {
            finishSync(outcome, std::move(triggers));
        });
    });
}

void Daemon::finishSync(const SyncOutcome& outcome, std::vector<std::pair<int, SystemClock::time_point>> triggers)
{
    syncing_ = false;
    const double seconds = std::chrono::duration<double>(outcome.elapsed).count();
    size_t operations = 0;
    for (const auto& [verb, count] : outcome.operationsByVerb) {
        metrics_.netlinkOperations(verb, count);
        operations += count;
    }
    for (const auto& error : outcome.errors) {
        log_.error(error.message());
        metrics_.netlinkError(error.operation, error.code);
    }
    if (outcome.firewallRebuilt)
        log_.info(2, "nftables table inet kube-ipvsd written");
    if (outcome.conntrackDeleted)
        log_.info(2, "deleted " + std::to_string(outcome.conntrackDeleted) + " stale UDP conntrack entries");
    metrics_.conntrackDeleted(outcome.conntrackDeleted);
    if (outcome.driftRepairs) {
        log_.warning("repairing " + std::to_string(outcome.driftRepairs) + " virtual servers changed outside kube-ipvsd");
        metrics_.driftRepairs(outcome.driftRepairs);
    }
    const auto now = SystemClock::now();
    for (int family : {AF_INET, AF_INET6}) {
        metrics_.syncDuration(family, seconds);
        if (outcome.ok) {
            health_.updated(family);
            metrics_.syncSucceeded(family, now);
        }
    }
    if (outcome.ok && !notifiedReady_) {
        notifiedReady_ = true;
        notifySystemd("READY=1\nSTATUS=kernel programmed, watching for changes");
    }
    if (outcome.ok) {
        for (const auto& [family, when] : triggers)
            if (when <= now)
                metrics_.networkProgramming(family, std::chrono::duration<double>(now - when).count());
    } else {
        // Measured when a later sync succeeds.
        triggers_.insert(triggers_.end(), triggers.begin(), triggers.end());
    }
    log_.info(operations ? 2 : 4, "synced in " + std::to_string(static_cast<long>(seconds * 1000)) + "ms: " +
                                      std::to_string(operations) + " IPVS operations, " +
                                      std::to_string(state_.wanted().size()) + " virtual servers wanted" +
                                      (outcome.errors.empty() ? "" : ", " + std::to_string(outcome.errors.size()) + " errors"));
    if (!outcome.nodeAddresses.empty() && outcome.nodeAddresses != node_.localAddresses) {
        log_.info(2, "the node's addresses changed: recomputing every service");
        node_.localAddresses = outcome.nodeAddresses;
        state_.markAllDirty();
    }
    if (stopping_)
        return;
    if (pendingFull_) {
        pendingFull_ = false;
        startSync(true);
    } else if (state_.dirtyCount() > 0 || !outcome.errors.empty()) {
        requestSync();  // refused operations are retried after the minimum sync period
    }
}

void Daemon::printDryRun()
{
    if (stopping_)
        return;
    state_.recompute(node_, proxierConfig_);
    for (const auto& warning : state_.takeWarnings())
        log_.warning(warning);
    const std::string text = options_.output == "json" ? formatJson(state_.wanted(), state_.boundAddresses())
                                                       : formatIpvsadmRules(state_.wanted());
    std::fwrite(text.data(), 1, text.size(), out_);
    std::fflush(out_);
    shutdown();
}

void Daemon::shutdown()
{
    stopping_ = true;
    if (!options_.dryRun)
        notifySystemd("STOPPING=1");
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    syncTimer_.cancel();
    resyncTimer_.cancel();
    if (api_)
        api_->stop();
    if (manifests_)
        manifests_->stop();
    // A sync in flight finishes on its thread; its completion is dropped with the loop.
    io_.stop();
}

}  // namespace kipvs::daemon
