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

Result<VirtualServerSnapshot> readSnapshot(VirtualServerTable& kernel, std::span<const VirtualServerKey> realServerKeys)
{
    VirtualServerSnapshot snapshot;
    KIPVS_ASSIGN_OR_RETURN(auto listed, kernel.virtualServers());
    snapshot.virtualServers = sortedByKey(std::move(listed));
    for (const auto& key : realServerKeys) {
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
