// SPDX-License-Identifier: Apache-2.0
// Which thread runs a sync (see sync_placement.h).
#include "daemon/sync_placement.h"

namespace kipvs::daemon {

namespace {

// Beyond these a sync may take long enough that the event loop should not wait for it.
constexpr size_t kMostVirtualServers = 8;
constexpr size_t kMostRealServers = 256;  // over the changed virtual servers' new states
constexpr size_t kMostSetElements = 64;

size_t elementCount(const ipvs::FirewallSets& sets)
{
    return sets.clusterIPs.size() + sets.external.size() + sets.localPolicy.size() + sets.loadBalancers.size() +
           sets.hairpin.size() + sets.firewalled.size() + sets.allowedSources.size() + sets.healthCheckPorts.size() +
           sets.serviceAddresses.size();
}

bool smallTcpChange(const proxy::WantedChanges& changes)
{
    if (changes.size() > kMostVirtualServers)
        return false;
    size_t realServers = 0;
    for (const auto& [key, state] : changes) {
        if (key.protocol != Protocol::Tcp)
            return false;
        realServers += state ? state->realServers.size() : 0;
    }
    return realServers <= kMostRealServers;
}

}  // namespace

SyncThread threadFor(const SyncRequest& request, const PreviousSync& previous)
{
    const bool small =
        request.kind == SyncKind::Incremental && previous.ran && !previous.leftWorkUndone &&
        request.firewallConfig == previous.firewallConfig && request.serviceRanges == previous.serviceRanges &&
        smallTcpChange(request.changes) &&
        elementCount(request.firewall.present) + elementCount(request.firewall.absent) <= kMostSetElements;
    return small ? SyncThread::EventLoop : SyncThread::SyncThread;
}

}  // namespace kipvs::daemon
