// SPDX-License-Identifier: Apache-2.0
#include "daemon/kernel_worker.h"

#include <algorithm>

#include <sys/utsname.h>

#include "ipvs/address_plan.h"
#include "ipvs/kernel_settings.h"
#include "ipvs/sysctl.h"

namespace kipvs::daemon {

Result<KernelWorker> KernelWorker::open(KernelSettings settings)
{
    auto client = ipvs::Client::open();
    if (!client)
        return tl::unexpected(client.error());
    auto links = ipvs::LinkClient::open();
    if (!links)
        return tl::unexpected(links.error());
    auto nft = ipvs::NftClient::open();
    if (!nft)
        return tl::unexpected(nft.error());
    return KernelWorker(std::move(*client), std::move(*links), std::move(*nft), std::move(settings));
}

KernelWorker::KernelWorker(ipvs::Client client, ipvs::LinkClient links, ipvs::NftClient nft, KernelSettings settings)
    : client_(std::make_unique<ipvs::Client>(std::move(client))),
      links_(std::make_unique<ipvs::LinkClient>(std::move(links))),
      settings_(std::move(settings)),
      ownership_(std::make_unique<ipvs::Ownership>()),
      firewall_(std::make_unique<ipvs::FirewallTable>(std::move(nft), settings_.firewall))
{
    ownership_->excluded = settings_.excludedCidrs;
    reconciler_ = std::make_unique<ipvs::Reconciler>(*client_, [owned = ownership_.get()](const ipvs::ServiceKey& key) {
        return (*owned)(key);
    });
}

Result<std::vector<Error>> KernelWorker::prepare()
{
    utsname host{};
    uname(&host);
    std::vector<Error> warnings = ipvs::applySysctls(ipvs::Sysctls(), ipvs::ipvsSysctls(host.release, settings_.strictArp));
    const auto& t = settings_.timeouts;
    if (t.tcp || t.tcpFin || t.udp)
        if (auto set = client_->setTimeouts(t); !set)
            warnings.push_back(set.error());
    auto index = links_->ensureDummyLink(ipvs::kDummyLinkName);
    if (!index)
        return tl::unexpected(index.error());
    linkIndex_ = *index;
    auto present = links_->addresses(linkIndex_);
    if (!present)
        return tl::unexpected(present.error());
    linkAddresses_ = {present->begin(), present->end()};
    if (auto node = refreshNodeAddresses(); !node)
        return tl::unexpected(node.error());
    ownership_->serviceAddresses = linkAddresses_;
    if (auto adopted = reconciler_->adopt(); !adopted)
        return tl::unexpected(adopted.error());
    return warnings;
}

Result<void> KernelWorker::refreshNodeAddresses()
{
    auto found = links_->nodeAddresses();
    if (!found)
        return tl::unexpected(found.error());
    nodeAddresses_.clear();
    for (const auto& a : *found)
        nodeAddresses_.push_back(a.address);
    ownership_->nodeAddresses = {nodeAddresses_.begin(), nodeAddresses_.end()};
    return {};
}

void KernelWorker::syncAddresses(const std::set<InetAddress>& wanted, bool removals, std::vector<Error>& errors)
{
    std::vector<InetAddress> target(wanted.begin(), wanted.end());
    if (!removals)
        target.insert(target.end(), linkAddresses_.begin(), linkAddresses_.end());
    // An address still used by a virtual server in the kernel (one whose removal the kernel
    // refused) stays: without it the virtual server would no longer count as ours.
    for (const auto& [key, state] : reconciler_->mirror())
        if (linkAddresses_.count(key.address) && !wanted.count(key.address))
            target.push_back(key.address);
    const auto plan = ipvs::planAddresses({linkAddresses_.begin(), linkAddresses_.end()}, target);
    for (const auto& a : plan.add) {
        if (auto added = links_->addAddress(linkIndex_, a); added)
            linkAddresses_.insert(a);
        else
            errors.push_back(added.error());
    }
    for (const auto& a : plan.remove) {
        if (auto removed = links_->removeAddress(linkIndex_, a); removed)
            linkAddresses_.erase(a);
        else
            errors.push_back(removed.error());
    }
}

// Flows of UDP virtual servers to real servers that are going away: kube-proxy deletes their
// conntrack entries so clients stop sending to a dead pod.
std::vector<ipvs::StaleFlow> KernelWorker::staleUdpFlows(const SyncRequest& request) const
{
    std::vector<ipvs::StaleFlow> out;
    for (const auto& [key, state] : request.changes) {
        if (key.protocol != ipvs::Protocol::Udp)
            continue;
        auto before = wanted_.find(key);
        if (before == wanted_.end())
            continue;
        for (const auto& r : before->second.realServers) {
            const bool kept = state && std::any_of(state->realServers.begin(), state->realServers.end(),
                                                   [&](const ipvs::RealServer& x) { return x.address == r.address; });
            if (!kept)
                out.push_back({key.address, key.port, r.address});
        }
    }
    return out;
}

SyncOutcome KernelWorker::sync(const SyncRequest& request)
{
    const auto started = std::chrono::steady_clock::now();
    SyncOutcome out;
    const auto stale = staleUdpFlows(request);
    std::set<ipvs::ServiceKey> dirty;
    for (const auto& [key, state] : request.changes) {
        dirty.insert(key);
        if (state)
            wanted_[key] = *state;
        else
            wanted_.erase(key);
    }
    auto finish = [&](bool ok) {
        out.ok = ok;
        out.elapsed = std::chrono::steady_clock::now() - started;
        return std::move(out);
    };
    if (request.full || firstSync_) {
        // Someone may have removed kube-ipvs0 or its addresses, or the node's addresses changed.
        auto index = links_->ensureDummyLink(ipvs::kDummyLinkName);
        if (!index) {
            out.errors.push_back(index.error());
            return finish(false);
        }
        linkIndex_ = *index;
        if (auto present = links_->addresses(linkIndex_); present)
            linkAddresses_ = {present->begin(), present->end()};
        else
            out.errors.push_back(present.error());
        if (auto node = refreshNodeAddresses(); !node)
            out.errors.push_back(node.error());
        out.nodeAddresses = nodeAddresses_;
    }
    if (firstSync_) {
        // What the kernel held at start and is no longer wanted goes now.
        for (const auto& [key, state] : reconciler_->mirror())
            dirty.insert(key);
        firstSync_ = false;
    }
    // New addresses first (their virtual servers must count as ours), removals after the
    // virtual servers on them are gone.
    syncAddresses(request.boundAddresses, false, out.errors);
    ownership_->serviceAddresses = linkAddresses_;
    ownership_->serviceAddresses.insert(request.boundAddresses.begin(), request.boundAddresses.end());
    if (request.full) {
        const auto draining = reconciler_->draining();
        auto drifted = reconciler_->checkDrift(64);
        if (!drifted) {
            out.errors.push_back(drifted.error());
            return finish(false);
        }
        // Draining virtual servers come back every time (their counters decide); the rest drifted.
        for (const auto& key : *drifted)
            out.driftRepairs += !draining.count(key);
        dirty.insert(drifted->begin(), drifted->end());
    }
    auto report = reconciler_->sync(wanted_, dirty);
    if (!report) {
        out.errors.push_back(report.error());
        return finish(false);
    }
    out.operationsByVerb = report->operationsByVerb;
    for (auto& failure : report->failures)
        out.errors.push_back(std::move(failure));
    syncAddresses(request.boundAddresses, true, out.errors);
    if (auto rebuilt = firewall_->sync(request.firewall, request.full); rebuilt)
        out.firewallRebuilt = *rebuilt;
    else
        out.errors.push_back(rebuilt.error());
    if (auto deleted = ipvs::deleteStaleUdpFlows(stale); deleted)
        out.conntrackDeleted = *deleted;
    else
        out.errors.push_back(deleted.error());
    return finish(true);
}

}  // namespace kipvs::daemon
