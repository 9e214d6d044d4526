// SPDX-License-Identifier: Apache-2.0
// Reading the IPVS table for a drift check (see snapshot.h).
#include "ipvs/virtual_servers/snapshot.h"

#include <cerrno>

namespace kipvs::ipvs {

Result<VirtualServerSnapshot> readSnapshot(VirtualServerTable& kernel, std::span<const VirtualServerKey> realServerKeys)
{
    VirtualServerSnapshot snapshot;
    KIPVS_ASSIGN_OR_RETURN(snapshot.virtualServers, kernel.virtualServers());
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
