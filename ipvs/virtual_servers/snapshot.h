// SPDX-License-Identifier: Apache-2.0
// The kernel's IPVS table as a full sync's drift check reads it: the virtual servers (the whole
// list, or each mirrored key looked up) and the real servers of the virtual servers asked for.
// Read through a client of its own, it can be read on another thread while syncs go on (see
// Reconciler::beginDriftCheck).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "ipvs/virtual_servers/table.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

// How a drift check reads the virtual servers. Only the whole list finds one the mirror does not
// know (someone else's on our addresses), but its dump holds the kernel's IPVS lock, for each
// 32 KB piece, for a walk from the table's start: O(n^2) in all, 8 s at 50,000 Services in the
// test VM, and a change waits up to one walk (200 ms there). A lookup of each mirrored key holds
// it for one hash lookup at a time, and finds every other drift.
enum class ListRead { Whole, MirroredKeys };

struct VirtualServerReadPlan {
    ListRead list = ListRead::Whole;
    std::vector<VirtualServerKey> keys;  // MirroredKeys: the keys to look up, sorted
    std::vector<VirtualServerKey> realServerKeys;  // whose real servers to read
};

struct VirtualServerSnapshot {
    ListRead list = ListRead::Whole;
    // Sorted by key: the whole list, or those of the keys looked up that the kernel has.
    std::vector<VirtualServer> virtualServers;
    std::vector<VirtualServerKey> absent;  // MirroredKeys: the keys the kernel does not have
    // nullopt: the kernel had no such virtual server when its real servers were asked for.
    std::map<VirtualServerKey, std::optional<std::vector<RealServer>>> realServers;
    // Both lists found sorted by key, by readSnapshot() (on the thread that read them): only then
    // can the comparison be split into ranges (Reconciler::nextDriftRange).
    bool sorted = false;
};

// Sorted by key, as a drift check compares them with the mirror.
std::vector<VirtualServer> sortedByKey(std::vector<VirtualServer> virtualServers);
// Whether the snapshot's lists are sorted by key, as readSnapshot() leaves them. O(n).
bool sortedByKey(const VirtualServerSnapshot& snapshot);

// The virtual servers as the plan says, then one dump of each key's real servers.
Result<VirtualServerSnapshot> readSnapshot(VirtualServerTable& kernel, const VirtualServerReadPlan& plan);

}  // namespace kipvs::ipvs
