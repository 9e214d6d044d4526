// SPDX-License-Identifier: Apache-2.0
// The kernel's IPVS table as a full sync's drift check reads it: the virtual-server list and the
// real servers of the virtual servers asked for. Read through a client of its own, it can be read
// on another thread while syncs go on (see Reconciler::beginDriftCheck).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "ipvs/virtual_servers/table.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

struct VirtualServerSnapshot {
    std::vector<VirtualServer> virtualServers;  // one dump of the whole list, sorted by key
    // nullopt: the kernel had no such virtual server when its real servers were asked for.
    std::map<VirtualServerKey, std::optional<std::vector<RealServer>>> realServers;
};

// Sorted by key, as a drift check compares them with the mirror.
std::vector<VirtualServer> sortedByKey(std::vector<VirtualServer> virtualServers);

// One dump of the list, then one of each key's real servers.
Result<VirtualServerSnapshot> readSnapshot(VirtualServerTable& kernel,
                                           std::span<const VirtualServerKey> realServerKeys);

}  // namespace kipvs::ipvs
