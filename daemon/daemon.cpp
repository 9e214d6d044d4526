// SPDX-License-Identifier: Apache-2.0
// The event loop: objects in, syncs scheduled and handed to the sync thread (see daemon.h).
#include "daemon/daemon.h"

#include <algorithm>
#include <cctype>

#include <sys/socket.h>
#include <unistd.h>

#include "daemon/api_source.h"
#include "daemon/conntrack_settings.h"
#include "daemon/kernel_worker.h"
#include "daemon/manifest_source.h"
#include "daemon/process_settings.h"
#include "daemon/systemd_notify.h"
#include "ipvs/virtual_servers/scheduler_probe.h"
#include "proxy/dry_run_printer.h"
#include "status/health_check_servers.h"
#include "status/http_listener.h"
#include "status/status_server.h"

namespace kipvs::daemon {

namespace {

using config::Options;
using logging::quoted;
using proxy::NodeView;

// A sync with this many operations leaves enough freed memory to give back to the system.
constexpr size_t kLargeSync = 1000;

// Whether a sync freed enough to give back to the system: a full one (its listings of the kernel's
// tables), a large one (its batches) or a rebuilt nftables table (its text).
bool leavesFreeMemory(const SyncRequest& request, const SyncOutcome& outcome)
{
    size_t operations = 0;
    for (const auto& [verb, count] : outcome.operationsByVerb)
        operations += count;
    // A full sync's reads go with the last of its comparisons.
    const bool fullSyncDone = request.kind != SyncKind::Incremental && !outcome.fullSyncContinues;
    return fullSyncDone || operations >= kLargeSync || outcome.firewallRebuilt;
}

proxy::ProxierConfig proxierConfigOf(const Options& o, const std::string& node)
{
    proxy::ProxierConfig c;
    c.nodeName = node;
    if (!o.ipvsScheduler.empty())
        c.scheduler = o.ipvsScheduler;
    c.nodePortAddresses = o.nodePortAddresses;
    c.nodePortPrimary = o.nodePortPrimary;
    c.nodeHints = config::featureEnabled(o, "PreferSameTrafficDistribution");
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

// --bind-address, unless 0.0.0.0 or ::, is the node IP of its family and makes that family the
// primary one, as kube-proxy's detectNodeIPs.
void overridePrimaryIP(NodeView& view, const std::optional<InetAddress>& bindAddress)
{
    if (!bindAddress || bindAddress->isUnspecified())
        return;
    std::erase_if(view.primaryIPs, [&](const InetAddress& a) { return a.family() == bindAddress->family(); });
    view.primaryIPs.insert(view.primaryIPs.begin(), *bindAddress);
}

KernelSettings kernelSettingsOf(const Options& o)
{
    KernelSettings settings;
    settings.scheduler = o.ipvsScheduler.empty() ? "rr" : o.ipvsScheduler;
    settings.timeouts = {static_cast<uint32_t>(o.ipvsTcpTimeout.count()),
                         static_cast<uint32_t>(o.ipvsTcpFinTimeout.count()),
                         static_cast<uint32_t>(o.ipvsUdpTimeout.count())};
    settings.strictArp = o.ipvsStrictArp;
    settings.excludedCidrs = o.ipvsExcludeCidrs;
    settings.nodePorts = o.nodePortRange;
    settings.conntrack = conntrackPolicyOf(o.conntrack);
    return settings;
}

// The first CIDR of each family: kube-proxy's NodeCIDR detector uses the Node's pod CIDRs so.
std::vector<Cidr> firstPerFamily(const std::vector<Cidr>& cidrs)
{
    std::vector<Cidr> out;
    for (const auto& c : cidrs)
        if (std::none_of(out.begin(), out.end(),
                         [&](const Cidr& x) { return x.address.family() == c.address.family(); }))
            out.push_back(c);
    return out;
}

// The nftables rules for these options; `podCidrs` are the Node's, for the NodeCIDR detector.
ipvs::FirewallConfig firewallConfigOf(const Options& o, const std::vector<Cidr>& podCidrs,
                                      const std::vector<Cidr>& serviceRanges)
{
    ipvs::FirewallConfig c;
    c.serviceRanges = serviceRanges;
    c.masqueradeMark = 1u << o.masqueradeBit;
    c.masqueradeAll = o.masqueradeAll;
    using Match = ipvs::LocalTraffic::Match;
    switch (o.detectLocalMode) {
    case config::LocalDetector::ClusterCidr:
        c.local = {Match::SourceCidr, o.clusterCidrs, {}};
        break;
    case config::LocalDetector::NodeCidr:
        c.local = {Match::SourceCidr, firstPerFamily(podCidrs), {}};
        break;
    case config::LocalDetector::BridgeInterface:
        c.local = {Match::InputInterface, {}, o.podBridgeInterface};
        break;
    case config::LocalDetector::InterfaceNamePrefix:
        c.local = {Match::InputInterface, {}, o.podInterfaceNamePrefix + "*"};
        break;
    }
    return c;
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
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name;
}

Result<watch::ClusterAccess> clusterAccess(const Options& options)
{
    if (!options.kubeconfig.empty())
        return watch::loadKubeconfig(options.kubeconfig, options.master);
    if (!options.master.empty()) {
        KIPVS_ASSIGN_OR_RETURN(auto server, watch::parseServerUrl(options.master));
        watch::ClusterAccess access;
        access.server = server;
        access.source = "--master " + options.master;
        return access;
    }
    return watch::inClusterAccess();
}

Daemon::Daemon(Options options, logging::Logger& log)
    : options_(std::move(options)),
      log_(log),
      proxierConfig_(proxierConfigOf(options_, nodeName(options_))),
      serviceRanges_(options_.serviceRanges),
      pool_(proxierConfig_.nodeName),
      signals_(io_, SIGTERM, SIGINT, SIGHUP),
      syncTimer_(io_),
      health_(options_.ipvsSyncPeriod, {AF_INET, AF_INET6}),
      scheduler_(options_.ipvsMinSyncPeriod, options_.ipvsSyncPeriod, SyncScheduler::Clock::now()),
      reporter_(metrics_, health_, log_)
{
    overridePrimaryIP(node_, options_.bindAddress);
    rangesSynced_ = !serviceRanges_.followsCluster();  // the flag's: no ServiceCIDR to wait for
}

Daemon::~Daemon()
{
    // The sync and read threads may still hold references to the kernel worker and the reader:
    // let them finish first.
    if (syncThread_)
        syncThread_->join();
    if (readThread_)
        readThread_->join();
}

int Daemon::run(std::FILE* out)
{
    out_ = out;
    waitForSignal();
    if (!options_.dryRun)
        if (int status = startKernel(); status != 0)
            return status;
    if (auto started = startSource(); !started) {
        // No way to reach the objects (no kubeconfig, not in a cluster, no manifest folder)
        // is a configuration error, like a bad flag.
        log_.error(started.error().message());
        return 2;
    }
    io_.run();
    if (syncThread_)
        syncThread_->join();
    if (readThread_)
        readThread_->join();
    return exitStatus_;
}

void Daemon::waitForSignal()
{
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
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
}

// Opens and prepares the kernel, then the sync thread and the status listeners. Returns 0, or
// the exit status when the kernel cannot be used.
int Daemon::startKernel()
{
    auto kernel = KernelWorker::open(kernelSettingsOf(options_));
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
    if (auto probe = ipvs::Client::open(); probe) {
        auto availability = std::make_shared<ipvs::SchedulerAvailability>(std::move(*probe));
        proxierConfig_.schedulerAvailable = [availability](const std::string& name) {
            return availability->available(name);
        };
    }
    for (const auto& warning : *prepared)
        log_.warning("kernel setting not applied: " + warning.message());
    node_.localAddresses = kernel_->nodeAddresses();
    syncThread_ = std::make_unique<asio::thread_pool>(1);
    asio::post(*syncThread_, [] { nameThisThread("kipvs-sync"); });
    if (auto reader = DriftReader::open(); reader) {
        driftReader_ = std::make_unique<DriftReader>(std::move(*reader));
        readThread_ = std::make_unique<asio::thread_pool>(1);
        asio::post(*readThread_, [] { nameThisThread("kipvs-read"); });
    } else {
        log_.warning("full syncs will read the kernel themselves, holding changes back meanwhile: " +
                     reader.error().message());
    }
    httpLoop_ = std::make_unique<status::HttpLoop>();
    healthChecks_ = std::make_unique<status::HealthCheckServers>(*httpLoop_, health_, log_);
    const auto onBindFailure =
        options_.bindAddressHardFail ? status::OnBindFailure::GiveUp : status::OnBindFailure::Retry;
    status_ = std::make_unique<status::StatusServer>(
        *httpLoop_, options_.healthzBindAddress, options_.metricsBindAddress, health_, metrics_, log_, onBindFailure);
    if (!status_->allBound()) {
        log_.error("--bind-address-hard-fail: a status port cannot be bound; exiting");
        return 1;
    }
    log_.info(2, "kube-ipvsd " KIPVS_VERSION " starting on node " + quoted(proxierConfig_.nodeName) + ", " +
                     std::to_string(kernel_->nodeAddresses().size()) + " node addresses");
    return 0;
}

Result<void> Daemon::startSource()
{
    if (!options_.manifests.empty()) {
        manifests_ = std::make_unique<ManifestSource>(io_, options_.manifests, pool_, static_cast<ObjectSink&>(*this));
        log_.info(2, "reading objects from manifests in " + quoted(options_.manifests));
        return manifests_->start(options_.dryRun ? ManifestSource::Mode::ReadOnce : ManifestSource::Mode::Follow);
    }
    KIPVS_ASSIGN_OR_RETURN(auto access, clusterAccess(options_));
    log_.info(2, "watching the API server at " + access.server.hostHeader() + " (" + access.source + ")");
    // client-go's rest config: QPS 0 means its default of 5.
    const ApiSource::RateLimit limit{options_.apiQps == 0 ? 5.0 : options_.apiQps, options_.apiBurst};
    const auto serviceCidrs =
        serviceRanges_.followsCluster() ? ApiSource::ServiceCidrs::Watch : ApiSource::ServiceCidrs::Ignore;
    api_ = std::make_unique<ApiSource>(io_, access, proxierConfig_.nodeName, pool_, static_cast<ObjectSink&>(*this),
                                       limit, serviceCidrs);
    api_->start();
    return {};
}

void Daemon::upsert(const watch::Service& service)
{
    log_.info(4, "service " + quoted(service.key.toString()) + " updated");
    state_.upsertService(service);
    changed(ChangeKind::Service);
}

void Daemon::upsert(const watch::EndpointSlice& slice)
{
    log_.info(4, "endpointslice " + quoted(slice.key.toString()) + " updated, " +
                     std::to_string(slice.endpoints.size()) + " endpoints");
    if (slice.lastChangeTriggerTime)
        reporter_.triggered(slice.addressFamily, *slice.lastChangeTriggerTime);
    state_.upsertSlice(slice);
    changed(ChangeKind::Endpoints);
}

void Daemon::upsert(const watch::Node& node)
{
    if (node.key.name != proxierConfig_.nodeName)
        return;  // manifests may hold other nodes
    nodeChanged(&node);
}

void Daemon::upsert(const watch::ServiceCidr& range)
{
    log_.info(4, "servicecidr " + quoted(range.key.name) + " updated");
    serviceRanges_.upsert(range);
    changed(ChangeKind::Service);
}

watch::ObjectVersions* Daemon::versionsOf(watch::Kind kind)
{
    switch (kind) {
    case watch::Kind::Service:
        return &serviceVersions_;
    case watch::Kind::EndpointSlice:
        return &sliceVersions_;
    case watch::Kind::Node:
    case watch::Kind::ServiceCidr:
        return nullptr;  // one or a few objects, not all kept as the source gives them
    }
    return nullptr;
}

void Daemon::remove(watch::Kind kind, const watch::ObjectKey& key)
{
    switch (kind) {
    case watch::Kind::Service:
        log_.info(4, "service " + quoted(key.toString()) + " deleted");
        state_.deleteService(key);
        changed(ChangeKind::Service);
        return;
    case watch::Kind::EndpointSlice:
        log_.info(4, "endpointslice " + quoted(key.toString()) + " deleted");
        state_.deleteSlice(key);
        changed(ChangeKind::Endpoints);
        return;
    case watch::Kind::Node:
        if (key.name == proxierConfig_.nodeName)
            nodeChanged(nullptr);
        return;
    case watch::Kind::ServiceCidr:
        log_.info(4, "servicecidr " + quoted(key.name) + " deleted");
        serviceRanges_.remove(key);
        changed(ChangeKind::Service);
        return;
    }
}

// The ranges the next sync routes, logged when they change.
std::vector<Cidr> Daemon::routedRanges()
{
    auto routable = serviceRanges_.routable(node_.localAddresses);
    if (routedRanges_ == routable.ranges)
        return routable.ranges;
    for (const auto& reason : routable.leftOut)
        log_.warning("service range not routed: " + reason + "; its ClusterIPs are bound one by one");
    std::string text;
    for (const auto& range : routable.ranges)
        text += (text.empty() ? "" : ", ") + range.toString();
    log_.info(2, text.empty() ? "no service range known: every service address is bound on kube-ipvs0"
                              : "service ranges routed as local on kube-ipvs0: " + text);
    routedRanges_ = routable.ranges;
    return routable.ranges;
}

void Daemon::nodeChanged(const watch::Node* node)
{
    health_.nodeEligible(node && !node->deleting && !node->toBeDeletedByAutoscaler);
    NodeView view = node ? nodeViewOf(*node) : NodeView{};
    overridePrimaryIP(view, options_.bindAddress);
    if (!options_.dryRun)
        view.localAddresses = node_.localAddresses;  // the host's own, not what the Node says
    podCidrsChanged(node ? node->podCidrs : std::vector<Cidr>{});
    if (view.zone == node_.zone && view.primaryIPs == node_.primaryIPs && view.localAddresses == node_.localAddresses)
        return;
    log_.info(2, "node " + quoted(proxierConfig_.nodeName) + (node ? " changed" : " deleted") +
                     ": recomputing every service");
    node_ = std::move(view);
    state_.markAllDirty();
    changed(ChangeKind::Service);  // every Service changes with its node
}

// The NodeCIDR detector follows the Node's pod CIDRs (kube-proxy exits to restart instead): the
// next sync rebuilds the nftables table with them.
void Daemon::podCidrsChanged(const std::vector<Cidr>& cidrs)
{
    if (options_.detectLocalMode != config::LocalDetector::NodeCidr || podCidrs_ == cidrs)
        return;
    std::string text;
    for (const auto& c : cidrs)
        text += (text.empty() ? "" : ",") + c.toString();
    if (cidrs.empty())
        log_.warning("--detect-local-mode=NodeCIDR: node " + quoted(proxierConfig_.nodeName) +
                     " has no spec.podCIDRs; ClusterIP traffic is masqueraded only from service addresses");
    else
        log_.info(2, "--detect-local-mode=NodeCIDR: traffic from " + text + " is local to this node");
    podCidrs_ = cidrs;
    changed(ChangeKind::Service);
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
    case watch::Kind::ServiceCidr:
        rangesSynced_ = true;
        break;
    }
    log_.info(2, std::string(watch::kindName(kind)) + " objects synced");
    returnFreeMemory();  // the LIST's body and document are gone
    if (!servicesSynced_ || !slicesSynced_ || !rangesSynced_)
        return;
    if (options_.dryRun) {
        if (nodeSynced_)
            printDryRun();
        return;
    }
    scheduler_.sourcesSynced();
    schedule();
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

void Daemon::changed(ChangeKind kind)
{
    reporter_.changed(kind, options_.dryRun ? SyncReporter::Health::Ignore : SyncReporter::Health::Queue);
    if (options_.dryRun)
        return;
    scheduler_.changed();
    schedule();
}

// Asks the scheduler what to do now: start a sync, or wait (the timer asks again).
void Daemon::schedule()
{
    if (stopping_ || options_.dryRun)
        return;
    const auto decision = scheduler_.next(SyncScheduler::Clock::now());
    switch (decision.action) {
    case SyncScheduler::Decision::Action::Nothing:
        return;
    case SyncScheduler::Decision::Action::Start:
        startSync(decision.kind);
        return;
    case SyncScheduler::Decision::Action::Read:
        startDriftRead();
        return;
    case SyncScheduler::Decision::Action::WaitUntil:
        syncTimer_.expires_at(decision.at);
        syncTimer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec)
                schedule();
        });
        return;
    }
}

// The full sync's reads, on the read thread: changes are synced meanwhile, and what they touch
// is left out of the full sync's comparisons.
void Daemon::startDriftRead()
{
    scheduler_.readStarted(SyncScheduler::Clock::now());
    if (!driftReader_) {
        scheduler_.readFinished();
        schedule();
        return;
    }
    asio::post(*readThread_, [this, plan = kernel_->planDriftRead()] {
        auto snapshot = std::make_shared<const DriftSnapshot>(driftReader_->read(plan));
        asio::post(io_, [this, snapshot = std::move(snapshot)]() mutable {
            drift_ = std::move(snapshot);
            scheduler_.readFinished();
            schedule();
        });
    });
    schedule();
}

void Daemon::startSync(SyncKind kind)
{
    scheduler_.started(kind, SyncScheduler::Clock::now());
    SyncRequest request;
    request.kind = kind;
    if (kind == SyncKind::Full)
        request.drift = std::move(drift_);
    request.changes = state_.recompute(node_, proxierConfig_);
    for (const auto& warning : state_.takeWarnings())
        log_.warning(warning);
    metrics_.virtualServerConflicts(state_.conflicts());
    request.firewall = state_.takeSetChanges();
    request.serviceRanges = routedRanges();
    request.firewallConfig = firewallConfigOf(options_, podCidrs_.value_or(std::vector<Cidr>{}), request.serviceRanges);
    std::map<uint16_t, status::HealthCheckService> healthChecks;
    for (const auto& [port, check] : state_.healthChecks())
        healthChecks[port] = {check.namespaceName, check.name, check.localEndpoints};
    const auto restricted = proxy::healthCheckAddresses(node_, proxierConfig_);
    healthChecks_->update(healthChecks, restricted ? *restricted : std::vector<InetAddress>{InetAddress::v6({})});
    log_.info(4, std::string(kind == SyncKind::Incremental ? "sync" : "full sync") + ": " +
                     std::to_string(request.changes.size()) + " virtual servers changed");
    reporter_.syncStarting(state_.noLocalEndpoints());
    const SyncThread thread = threadFor(request, previousSync_);
    previousSync_.ran = true;
    previousSync_.firewallConfig = request.firewallConfig;
    previousSync_.serviceRanges = request.serviceRanges;
    // Never two syncs at a time (the scheduler), so the worker is only ever on one thread; each
    // hand-over is a post, which orders its memory.
    if (thread == SyncThread::EventLoop) {
        auto outcome = kernel_->sync(request);
        asio::post(io_, [this, outcome = std::move(outcome)] { finishSync(outcome); });
        return;
    }
    asio::post(*syncThread_, [this, request = std::move(request)] {
        auto outcome = kernel_->sync(request);
        // Here, not on the event loop, which goes on meanwhile: a full sync's listings and a large
        // sync's batches left ~12 MB free but not returned at 10,000 Services.
        if (leavesFreeMemory(request, outcome)) {
            const StepTimer timer(outcome, "memory");  // after `elapsed`, but the next sync waits for it
            returnFreeMemory();
            returnUnusedStack();
        }
        asio::post(io_, [this, outcome = std::move(outcome)] { finishSync(outcome); });
    });
}

void Daemon::finishSync(const SyncOutcome& outcome)
{
    // What the kernel did not acknowledge is retried with backoff, with no new input needed.
    scheduler_.finished(outcome.errors.empty() ? SyncScheduler::Outcome::Done : SyncScheduler::Outcome::Retry);
    if (outcome.fullSyncContinues)
        scheduler_.fullSyncContinues();
    previousSync_.leftWorkUndone = !outcome.errors.empty() || outcome.pendingKeys > 0;
    if (!outcome.errors.empty())
        log_.info(2, "sync left work undone (" + std::to_string(scheduler_.consecutiveFailures()) +
                         " in a row): retrying with backoff");
    reporter_.syncFinished(outcome, state_.wantedCount());
    // A reflector counts a relist after reporting the failure that caused it: without this the
    // metric would wait for the next failure.
    publishWatchCounters();
    if (!outcome.nodeAddresses.empty() && outcome.nodeAddresses != node_.localAddresses) {
        log_.info(2, "the node's addresses changed: recomputing every service");
        node_.localAddresses = outcome.nodeAddresses;
        state_.markAllDirty();
        scheduler_.changed();
    }
    schedule();
}

void Daemon::printDryRun()
{
    if (stopping_)
        return;
    state_.recompute(node_, proxierConfig_);
    for (const auto& warning : state_.takeWarnings())
        log_.warning(warning);
    const std::string text = options_.output == "json"
                                 ? proxy::formatJson(state_.wantedTable(), state_.serviceAddresses(), routedRanges())
                                 : proxy::formatIpvsadmRules(state_.wantedTable());
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
    if (api_)
        api_->stop();
    if (manifests_)
        manifests_->stop();
    // A sync in flight finishes on its thread; its completion is dropped with the loop.
    io_.stop();
}

}  // namespace kipvs::daemon
