// SPDX-License-Identifier: Apache-2.0
// Reading the IPVS table for a drift check (see snapshot.h).
#include "ipvs/virtual_servers/snapshot.h"

#include <algorithm>
#include <cerrno>

namespace kipvs::ipvs {

std::vector<VirtualServer> sortedByKey(std::vector<VirtualServer> virtualServers)
{
    std::sort(virtualServers.begin(), virtualServers.end(),
              [](const VirtualServer& a, const VirtualServer& b) { return a.key < b.key; });
    return virtualServers;
}

bool sortedByKey(const VirtualServerSnapshot& snapshot)
{
    const auto& listed = snapshot.virtualServers;
    return std::is_sorted(listed.begin(), listed.end(),
                          [](const VirtualServer& a, const VirtualServer& b) { return a.key < b.key; }) &&
           std::is_sorted(snapshot.absent.begin(), snapshot.absent.end());
}

namespace {

Result<void> readVirtualServers(VirtualServerTable& kernel, const VirtualServerReadPlan& plan,
                                VirtualServerSnapshot& snapshot)
{
    snapshot.list = plan.list;
    if (plan.list == ListRead::Whole) {
        KIPVS_ASSIGN_OR_RETURN(auto listed, kernel.virtualServers());
        snapshot.virtualServers = sortedByKey(std::move(listed));
        return {};
    }
    KIPVS_ASSIGN_OR_RETURN(auto found, kernel.lookUpVirtualServers(plan.keys));
    for (size_t i = 0; i < found.size(); ++i) {
        if (found[i])
            snapshot.virtualServers.push_back(std::move(*found[i]));
        else
            snapshot.absent.push_back(plan.keys[i]);
    }
    return {};
}

}  // namespace

Result<VirtualServerSnapshot> readSnapshot(VirtualServerTable& kernel, const VirtualServerReadPlan& plan)
{
    VirtualServerSnapshot snapshot;
    KIPVS_TRY(readVirtualServers(kernel, plan, snapshot));
    snapshot.sorted = sortedByKey(snapshot);
    for (const auto& key : plan.realServerKeys) {
        auto reals = kernel.realServers(key);
        if (!reals && (reals.error().code == ESRCH || reals.error().code == ENOENT)) {
            snapshot.realServers[key] = std::nullopt;
            continue;
        }
        if (!reals)
            return tl::unexpected(reals.error());
        snapshot.realServers[key] = std::move(*reals);
    }
    return snapshot;
}

}  // namespace kipvs::ipvs
