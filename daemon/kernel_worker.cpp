// SPDX-License-Identifier: Apache-2.0
// The sync thread's work (see kernel_worker.h).
#include "daemon/kernel_worker.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "daemon/conntrack_settings.h"
#include "daemon/process_settings.h"
#include "ipvs/host/address_plan.h"
#include "ipvs/host/links.h"
#include "ipvs/host/sysctl.h"
#include "ipvs/virtual_servers/client.h"
#include "ipvs/virtual_servers/planner.h"
#include "ipvs/virtual_servers/scheduler_probe.h"
#include "proxy/kernel_policy.h"

namespace kipvs::daemon {

Result<proxy::OwnedAddresses> readOwnedAddresses(ipvs::HostNetwork& links, const OwnershipRules& rules)
{
    proxy::OwnedAddresses owned;
    owned.excluded = rules.excluded;
    owned.nodePorts = rules.nodePorts;
    owned.recordedNodePorts = rules.recorded;
    KIPVS_ASSIGN_OR_RETURN(const int index, links.linkIndex(proxy::kServiceLinkName));
    if (index != 0) {
        KIPVS_ASSIGN_OR_RETURN(auto addresses, links.addresses(index));
        owned.serviceAddresses = {addresses.begin(), addresses.end()};
    }
    KIPVS_ASSIGN_OR_RETURN(owned.serviceRanges, links.localRoutes());
    KIPVS_ASSIGN_OR_RETURN(auto node, links.nodeAddresses(proxy::kServiceLinkName));
    for (const auto& a : node)
        owned.nodeAddresses.insert(a.address);
    return owned;
}

Result<KernelWorker> KernelWorker::open(KernelSettings settings)
{
    KIPVS_ASSIGN_OR_RETURN(auto client, ipvs::Client::open());
    KIPVS_ASSIGN_OR_RETURN(auto links, ipvs::LinkClient::open());
    KIPVS_ASSIGN_OR_RETURN(auto nft, ipvs::NftClient::open());
    Kernel kernel{
        std::make_unique<ipvs::Client>(std::move(client)), std::make_unique<ipvs::LinkClient>(std::move(links)),
        std::make_unique<ipvs::NftClient>(std::move(nft)), std::make_unique<ipvs::NetlinkConntrack>(), ipvs::Sysctls()};
    return KernelWorker(std::move(kernel), std::move(settings));
}

KernelWorker::KernelWorker(Kernel kernel, KernelSettings settings)
    : kernel_(std::move(kernel)),
      settings_(std::move(settings)),
      reconciler_(std::make_unique<ipvs::Reconciler>(*kernel_.ipvs)),
      firewall_(std::make_unique<ipvs::FirewallTable>(std::move(kernel_.nft), ipvs::FirewallConfig{}))
{
    owned_.excluded = settings_.excludedCidrs;
    owned_.nodePorts = settings_.nodePorts;
}

// What the daemon owns, and what it wants or programmed: a Service inside --ipvs-exclude-cidrs
// is still programmed, as upstream, which only keeps its cleanup out of those ranges.
ipvs::IsManaged KernelWorker::managed() const
{
    return [this](const ipvs::VirtualServerKey& key) {
        return owned_.owns(key) || wanted_.count(key) || reconciler_->mirror().count(key);
    };
}

// Wanted virtual servers that adopt() did not read (inside --ipvs-exclude-cidrs): read now, so
// one already in the kernel is updated rather than added again.
Result<void> KernelWorker::readWantedUnowned()
{
    std::set<ipvs::VirtualServerKey> keys;
    for (const auto& [key, state] : wanted_)
        if (!owned_.owns(key) && !reconciler_->mirror().count(key))
            keys.insert(key);
    return reconciler_->read(keys);
}

Result<std::vector<Error>> KernelWorker::prepare()
{
    KIPVS_ASSIGN_OR_RETURN(auto warnings, configureHost());
    KIPVS_ASSIGN_OR_RETURN(auto adopted, adopt());
    warnings.insert(warnings.end(), adopted.begin(), adopted.end());
    return warnings;
}

Result<std::vector<Error>> KernelWorker::configureHost()
{
    KIPVS_TRY(ipvs::probeScheduler(*kernel_.ipvs, settings_.scheduler));
    std::vector<Error> warnings =
        ipvs::applySysctls(kernel_.sysctls, proxy::ipvsSysctlsForThisKernel(settings_.strictArp));
    for (const auto& failure : warnings)
        unwritableSysctls_.insert(failure.object);
    KIPVS_ASSIGN_OR_RETURN(auto conntrack, applyConntrackPolicy(settings_.conntrack));
    warnings.insert(warnings.end(), conntrack.begin(), conntrack.end());
    const auto& t = settings_.timeouts;
    if (t.tcp || t.tcpFin || t.udp)
        if (auto set = ipvs::applyOne(*kernel_.ipvs, ipvs::Operation::setTimeouts(t)); !set)
            warnings.push_back(set.error());
    return warnings;
}

Result<std::vector<Error>> KernelWorker::adopt()
{
    std::vector<Error> warnings;
    if (auto recorded = readRecordedNodePorts(); !recorded)
        warnings.push_back(recorded.error());  // NodePorts on addresses gone from the node may stay
    KIPVS_TRY(rereadHost());
    KIPVS_TRY(reconciler_->adopt(managed()));
    return warnings;
}

// The NodePorts an earlier process programmed, from its table (replaced by the first sync): its
// virtual servers on an address that has left the node since are still the daemon's to remove.
// Once adopted, the mirror keeps them managed.
Result<void> KernelWorker::readRecordedNodePorts()
{
    KIPVS_ASSIGN_OR_RETURN(auto external, firewall_->readExternal());
    recordedNodePorts_ = std::move(external);
    return {};
}

// kube-ipvs0 (created again if someone removed it), its addresses and the node's addresses: what
// the daemon owns, read as --cleanup reads it.
Result<void> KernelWorker::rereadHost()
{
    KIPVS_ASSIGN_OR_RETURN(const int index, kernel_.host->ensureDummyLink(proxy::kServiceLinkName));
    KIPVS_ASSIGN_OR_RETURN(auto read, readOwnedAddresses(*kernel_.host, {settings_.excludedCidrs, settings_.nodePorts,
                                                                         recordedNodePorts_}));
    const std::set<Cidr> routes(read.serviceRanges.begin(), read.serviceRanges.end());
    // Every address is settled but those to check: only what differs from the last read can
    // unsettle more, unless the link or a route changed.
    const bool all = index != linkIndex_ || routes != linkRoutes_;
    if (!all)
        std::set_symmetric_difference(linkAddresses().begin(), linkAddresses().end(), read.serviceAddresses.begin(),
                                      read.serviceAddresses.end(),
                                      std::inserter(addressesToCheck_, addressesToCheck_.end()));
    linkIndex_ = index;
    linkRoutes_ = routes;
    read.wantedServiceAddresses = std::move(owned_.wantedServiceAddresses);
    owned_ = std::move(read);
    ownRoutedRanges();
    if (all)
        checkAllAddresses();
    nodeAddresses_.assign(owned_.nodeAddresses.begin(), owned_.nodeAddresses.end());
    hostUnsure_ = false;
    return {};
}

void KernelWorker::takeAddressChanges(const ipvs::FirewallSetChanges& changes)
{
    for (const auto& a : changes.present.serviceAddresses) {
        wantedAddresses().insert(a);
        addressesToCheck_.insert(a);
    }
    for (const auto& a : changes.absent.serviceAddresses) {
        wantedAddresses().erase(a);
        addressesToCheck_.insert(a);
    }
}

// A change of ranges decides anew which service addresses are bound: O(addresses), and rare.
void KernelWorker::takeServiceRanges(const std::vector<Cidr>& ranges)
{
    std::set<Cidr> networks;
    for (const auto& range : ranges)
        networks.insert(range.network());
    if (networks == wantedRanges_)
        return;
    wantedRanges_ = std::move(networks);
    ownRoutedRanges();
    checkAllAddresses();
}

// The virtual servers in a range are the daemon's while the range is routed or wanted.
void KernelWorker::ownRoutedRanges()
{
    std::set<Cidr> ranges = wantedRanges_;
    ranges.insert(linkRoutes_.begin(), linkRoutes_.end());
    owned_.serviceRanges.assign(ranges.begin(), ranges.end());
}

// Local without being bound: inside a wanted range whose route is in place.
bool KernelWorker::routedLocally(const InetAddress& address) const
{
    return std::any_of(wantedRanges_.begin(), wantedRanges_.end(),
                       [&](const Cidr& range) { return range.contains(address) && linkRoutes_.count(range); });
}

// Routes come before the addresses they make unnecessary are removed.
void KernelWorker::addRoutes(std::vector<Error>& errors)
{
    bool added = false;
    for (const auto& range : wantedRanges_) {
        if (linkRoutes_.count(range))
            continue;
        auto route = kernel_.host->addLocalRoute(range);
        if (!route) {
            errors.push_back(route.error());
            hostUnsure_ = true;
            continue;
        }
        linkRoutes_.insert(range);
        added = true;
    }
    if (added)
        checkAllAddresses();  // those inside need no binding now
}

// A route goes once every wanted address inside it is bound again.
void KernelWorker::removeRoutes(std::vector<Error>& errors)
{
    for (auto it = linkRoutes_.begin(); it != linkRoutes_.end();) {
        const Cidr range = *it;
        if (wantedRanges_.count(range) ||
            std::any_of(wantedAddresses().begin(), wantedAddresses().end(),
                        [&](const InetAddress& a) { return range.contains(a) && !linkAddresses().count(a); })) {
            ++it;
            continue;
        }
        auto removed = kernel_.host->removeLocalRoute(range);
        if (!removed) {
            errors.push_back(removed.error());
            hostUnsure_ = true;
            ++it;
            continue;
        }
        it = linkRoutes_.erase(it);
    }
    ownRoutedRanges();
}

// Every address kube-ipvs0 carries or should.
void KernelWorker::checkAllAddresses()
{
    addressesToCheck_ = wantedAddresses();
    addressesToCheck_.insert(linkAddresses().begin(), linkAddresses().end());
}

// Looks only at the addresses to check: O(change) after one event.
void KernelWorker::syncAddresses(AddressPass pass, std::vector<Error>& errors)
{
    for (auto it = addressesToCheck_.begin(); it != addressesToCheck_.end();) {
        const InetAddress& a = *it;
        const bool wanted = wantedAddresses().count(a) > 0;
        const bool routed = routedLocally(a);
        const bool bind = wanted && !routed;
        if (bind && !linkAddresses().count(a)) {
            auto added = kernel_.host->addAddress(linkIndex_, a);
            if (added)
                linkAddresses().insert(a);
            else
                errors.push_back(added.error());
            hostUnsure_ |= !added;
        }
        // An address still used by a virtual server in the kernel (one whose removal the kernel
        // refused) stays, unless a route keeps it: without either the virtual server would no
        // longer count as ours.
        const bool held = !routed && reconciler_->holdsAddress(a);
        if (pass == AddressPass::AddAndRemove && !bind && linkAddresses().count(a) && !held) {
            auto removed = kernel_.host->removeAddress(linkIndex_, a);
            if (removed)
                linkAddresses().erase(a);
            else
                errors.push_back(removed.error());
            hostUnsure_ |= !removed;
        }
        const bool linked = linkAddresses().count(a) > 0;
        const bool settled = pass == AddressPass::AddAndRemove && bind == linked;
        it = settled ? addressesToCheck_.erase(it) : std::next(it);
    }
}

// The repliers each UDP virtual server allows, when a UDP one changed and on the first and full
// syncs (so flows left by a restart or a failed sync go too): the conntrack table is reconciled
// against them. Virtual servers going away allow none.
std::optional<ipvs::ServedUdpFlows> KernelWorker::udpFlowsToReconcile(const SyncRequest& request) const
{
    const auto udp = [](const auto& change) { return change.first.protocol == ipvs::Protocol::Udp; };
    const bool all = firstSync_ || conntrackPending_ || request.kind == SyncKind::Full;
    if (!all && std::none_of(request.changes.begin(), request.changes.end(), udp))
        return std::nullopt;
    // Flows to a destination not named are left alone: after one change, only its own.
    ipvs::ServedUdpFlows served;
    const auto serve = [&served](const ipvs::VirtualServerKey& key, const ipvs::VirtualServerState* state) {
        if (key.protocol != ipvs::Protocol::Udp || key.isFwmark())
            return;
        auto& repliers = served[{key.address, key.port}];
        if (!state)
            return;  // going away: allows none
        for (const auto& r : state->realServers)
            repliers.push_back(r.address);
        std::sort(repliers.begin(), repliers.end());
    };
    if (all)
        for (const auto& [key, state] : wanted_)
            serve(key, state.get());
    for (const auto& [key, state] : request.changes)
        if (!all || !state)
            serve(key, state.get());
    return served;
}

// Takes the changes into the wanted table; returns their keys.
std::set<ipvs::VirtualServerKey> KernelWorker::takeChanges(const proxy::WantedChanges& changes)
{
    std::set<ipvs::VirtualServerKey> dirty;
    for (const auto& [key, state] : changes) {
        dirty.insert(key);
        if (state)
            wanted_[key] = state;
        else
            wanted_.erase(key);
    }
    return dirty;
}

// The keys a sync left for the next: those it did not program, and those the kernel refused.
size_t KernelWorker::pendingKeys() const
{
    const auto& unsettled = reconciler_->unsettled();
    return pending_.size() +
           static_cast<size_t>(std::count_if(unsettled.begin(), unsettled.end(),
                                             [this](const auto& key) { return !pending_.count(key); }));
}

DriftReadPlan KernelWorker::planDriftRead()
{
    driftPass_.reset();  // a full sync's comparison left unfinished is moot
    return {reconciler_->beginDriftCheck(kDriftRealServerBudget, nextListRead()), firewall_->beginVerification()};
}

// The whole list's dump costs O(n^2) in the kernel while holding the lock changes take, so the
// larger the table, the more full syncs between two: every max(10, n / 1000)th (10 at 10,000
// virtual servers, 60 at 60,000: every 5 and 30 minutes at the default sync period, about 0.4 %
// of the time at 50,000 Services in the test VM). The others look up each mirrored key, which
// finds every drift but a virtual server nobody wants on our addresses. The first sync adopted
// the whole list.
ipvs::ListRead KernelWorker::nextListRead()
{
    const size_t every = std::max<size_t>(kWholeListEvery, reconciler_->mirror().size() / 1000);
    if (++fullSyncsSinceWholeList_ < every)
        return ipvs::ListRead::MirroredKeys;
    fullSyncsSinceWholeList_ = 0;
    return ipvs::ListRead::Whole;
}

// With the reads made apart when they succeeded, a range of keys now and the next ones by the
// FullContinued syncs after this one (settings_.driftKeysPerSync); read and compared whole now
// otherwise.
Result<void> KernelWorker::repairDrift(const SyncRequest& request, std::set<ipvs::VirtualServerKey>& dirty,
                                       SyncOutcome& out)
{
    if (request.kind == SyncKind::Full) {
        driftPass_.reset();
        if (!request.drift || !request.drift->ipvs) {
            KIPVS_ASSIGN_OR_RETURN(auto drifted,
                                   reconciler_->checkDrift(kDriftRealServerBudget, nextListRead(), managed()));
            takeDrift(drifted, ipvs::KeyRange{}, dirty, out);
            return {};
        }
        // Only a snapshot sorted by key can be compared a range at a time (readSnapshot sorts); a
        // range holds at least one key, or the comparison would never end.
        const size_t keys = std::max<size_t>(1, settings_.driftKeysPerSync);
        driftPass_ = DriftPass{request.drift, std::nullopt,
                               request.drift->ipvs->sorted ? keys : std::numeric_limits<size_t>::max()};
    }
    return driftPass_ ? compareNextRange(dirty, out) : Result<void>{};
}

Result<void> KernelWorker::compareNextRange(std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out)
{
    const auto& snapshot = *driftPass_->snapshot->ipvs;
    const auto range = reconciler_->nextDriftRange(driftPass_->next, driftPass_->keysPerSync);
    auto drifted = reconciler_->checkDrift(snapshot, managed(), range);
    if (drifted && !range.to) {
        if (auto reals = reconciler_->endDriftCheck(snapshot); reals)
            drifted->merge(*reals);
        else
            drifted = tl::unexpected(reals.error());
    }
    if (!drifted)
        return tl::unexpected(drifted.error());  // the sync fails, and the pass ends with it
    takeDrift(*drifted, range, dirty, out);
    if (range.to)
        driftPass_->next = range.to;
    else
        driftPass_.reset();
    return {};
}

void KernelWorker::takeDrift(const std::set<ipvs::VirtualServerKey>& drifted, const ipvs::KeyRange& range,
                             std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out)
{
    // Draining virtual servers come back every time (their counters decide); the rest drifted.
    const auto& draining = reconciler_->draining();
    for (const auto& key : drifted)
        out.driftRepairs += !draining.count(key);
    dirty.insert(drifted.begin(), drifted.end());
    // The kernel as read now against what is wanted, not against the last plan.
    const auto differing = ipvs::differingFromWanted(wanted_, reconciler_->mirror(), managed(), range);
    dirty.insert(differing.begin(), differing.end());
}

// A full sync's sysctls, and its comparison or a continuation's next range; the sync that ends
// the comparison verifies the nftables table, with what the reads found.
Result<KernelWorker::FirewallCheck>
KernelWorker::fullSyncSteps(const SyncRequest& request, std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out)
{
    if (request.kind == SyncKind::Full) {
        const StepTimer timer(out, "sysctls");
        reapplySysctls(out);
    }
    if (request.kind == SyncKind::Incremental)
        return FirewallCheck{};
    if (request.drift)
        out.steps["snapshot"] = request.drift->elapsed;  // read apart, before this sync
    const StepTimer timer(out, "drift");
    auto drift = request.kind == SyncKind::Full ? request.drift : driftPass_ ? driftPass_->snapshot : nullptr;
    KIPVS_TRY(repairDrift(request, dirty, out));
    return driftPass_ ? FirewallCheck{} : FirewallCheck{ipvs::FirewallTable::Check::Verify, std::move(drift)};
}

Result<void> KernelWorker::programVirtualServers(const std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out)
{
    KIPVS_ASSIGN_OR_RETURN(auto report, reconciler_->sync(wanted_, dirty, managed()));
    out.operationsByVerb = report.operationsByVerb;
    for (auto& failure : report.failures)
        out.errors.push_back(std::move(failure));
    return {};
}

// Someone may have reset a sysctl IPVS needs (net.ipv4.vs.conntrack=0 breaks NodePorts): each
// full sync writes back those that differ, except the ones that could not be written at start.
void KernelWorker::reapplySysctls(SyncOutcome& out)
{
    std::vector<ipvs::SysctlSetting> settings;
    for (auto& s : proxy::ipvsSysctlsForThisKernel(settings_.strictArp))
        if (!unwritableSysctls_.count(s.name))
            settings.push_back(std::move(s));
    for (auto& failure : ipvs::applySysctls(kernel_.sysctls, settings))
        out.errors.push_back(std::move(failure));
}

void KernelWorker::syncFirewall(const ipvs::FirewallConfig& config, const FirewallCheck& check, SyncOutcome& out)
{
    firewall_->configure(config);
    const StepTimer timer(out, "nftables");
    const auto& drift = check.drift;
    const bool read = check.kind == ipvs::FirewallTable::Check::Verify && drift && drift->firewall && *drift->firewall;
    if (auto rebuilt = read ? firewall_->sync(**drift->firewall) : firewall_->sync(check.kind); rebuilt)
        out.firewallRebuilt = *rebuilt;
    else
        out.errors.push_back(rebuilt.error());
}

// The first sync writes both tables whole (at 10,000 Services: 121,000 IPVS operations, a
// 60,000-element nftables table), two kernel subsystems that share nothing: the nftables step
// runs on a thread of its own meanwhile, with an outcome of its own, merged by join().
KernelWorker::FirewallStep::FirewallStep(KernelWorker& worker, const SyncRequest& request)
    : done_(std::async(std::launch::async, [&worker, &request] {
          nameThisThread("kipvs-nft-first");
          SyncOutcome out;
          worker.syncFirewall(request.firewallConfig, {}, out);
          return out;
      }))
{}

void KernelWorker::FirewallStep::join(SyncOutcome& out)
{
    if (!done_.valid())
        return;
    SyncOutcome firewall = done_.get();
    out.firewallRebuilt = firewall.firewallRebuilt;
    out.steps["nftables"] += firewall.steps["nftables"];
    std::move(firewall.errors.begin(), firewall.errors.end(), std::back_inserter(out.errors));
}

void KernelWorker::reconcileConntrack(const std::optional<ipvs::ServedUdpFlows>& udp, SyncOutcome& out)
{
    if (!udp)
        return;
    const StepTimer timer(out, "conntrack");
    auto passes = kernel_.conntrack->reconcileUdpFlows(*udp);
    conntrackPending_ = !passes;
    if (passes)
        out.conntrack = std::move(*passes);
    else
        out.errors.push_back(passes.error());
}

SyncOutcome KernelWorker::sync(const SyncRequest& request)
{
    const auto started = std::chrono::steady_clock::now();
    SyncOutcome out;
    out.kind = request.kind;
    auto finish = [&](Result<void> step) {
        if (!step)
            out.errors.push_back(step.error());
        out.ok = step.has_value();
        // A failed sync ends a full sync's comparison: the rest waits for the next full sync, and
        // the retry for its backoff.
        if (!step && driftPass_) {
            reconciler_->abandonDriftCheck();
            driftPass_.reset();
        }
        out.fullSyncContinues = driftPass_.has_value();
        out.pendingKeys = pendingKeys();
        out.elapsed = std::chrono::steady_clock::now() - started;
        return std::move(out);
    };
    // Keys of a sync that failed before programming them come back until one succeeds: the sync
    // works on the pending keys themselves, emptied once they are programmed.
    pending_.merge(takeChanges(request.changes));
    std::set<ipvs::VirtualServerKey>& dirty = pending_;
    takeAddressChanges(request.firewall);
    takeServiceRanges(request.serviceRanges);
    firewall_->want(request.firewall);
    const auto udp = udpFlowsToReconcile(request);
    conntrackPending_ |= udp.has_value();  // until a reconciliation succeeds
    if (request.kind == SyncKind::Full || firstSync_ || hostUnsure_) {
        // Someone may have removed kube-ipvs0 or its addresses, or the node's addresses changed.
        const StepTimer timer(out, "read");
        if (auto reread = rereadHost(); !reread)
            return finish(reread);
        out.nodeAddresses = nodeAddresses_;
    }
    std::optional<FirewallStep> firewallBeside;
    if (firstSync_) {
        {
            const StepTimer timer(out, "read");
            // What the kernel held at start and is no longer wanted goes now.
            for (const auto& [key, state] : reconciler_->mirror())
                dirty.insert(key);
            if (auto read = readWantedUnowned(); !read)
                return finish(read);
        }
        firstSync_ = false;
        firewallBeside.emplace(*this, request);
    }
    // New addresses first (their virtual servers must count as ours), removals after the
    // virtual servers on them are gone.
    {
        const StepTimer timer(out, "addresses");
        addRoutes(out.errors);
        syncAddresses(AddressPass::AddOnly, out.errors);
    }
    auto firewallCheck = fullSyncSteps(request, dirty, out);
    if (!firewallCheck)
        return finish(tl::unexpected(firewallCheck.error()));
    {
        const StepTimer timer(out, "IPVS");
        if (auto programmed = programVirtualServers(dirty, out); !programmed) {
            if (firewallBeside)
                firewallBeside->join(out);
            return finish(programmed);
        }
    }
    pending_.clear();
    {
        const StepTimer timer(out, "addresses");
        syncAddresses(AddressPass::AddAndRemove, out.errors);
        removeRoutes(out.errors);
    }
    if (firewallBeside)
        firewallBeside->join(out);
    else
        syncFirewall(request.firewallConfig, *firewallCheck, out);
    reconcileConntrack(udp, out);
    return finish({});
}

}  // namespace kipvs::daemon
