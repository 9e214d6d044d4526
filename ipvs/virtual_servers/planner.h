// SPDX-License-Identifier: Apache-2.0
// The fewest IPVS operations that turn what the kernel holds into what is wanted, for one
// virtual server. Pure: values in, operations out.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "ipvs/virtual_servers/mirrored_state.h"
#include "ipvs/virtual_servers/operation.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

// `wanted` or `actual` may be null (nothing wanted: delete; nothing there: add). Settings that
// change (scheduler, flags, timeout, weight, forwarding) are edited in place, never deleted and
// re-added, which would drop connections. A real server no longer wanted drains as upstream's
// graceful termination: a TCP one with connections gets weight 0 and stays until they are gone;
// UDP and SCTP ones, and idle ones, go at once. One that is wanted again while draining gets its
// weight back in place. `actual` real servers must carry the kernel's connection counters.
std::vector<Operation> planVirtualServer(const VirtualServerState* wanted, const VirtualServerState* actual);
// The same, appended to `ops` (a sync plans thousands into one list).
void planVirtualServer(const VirtualServerState* wanted, const VirtualServerState* actual, std::vector<Operation>& ops);

// The operations of one sync: planVirtualServer for each of `keys` that is `managed`, `kernel`
// being the mirror (its real servers' counters read just before, where some are removed).
std::vector<Operation> planKeys(const WantedTable& wanted, const MirrorTable& kernel,
                                std::span<const VirtualServerKey> keys,
                                const std::function<bool(const VirtualServerKey&)>& managed);

// The keys whose state in `kernel` (as mirrored) is not the wanted one: wanted and absent or
// different, or held, `managed` and no longer wanted. What a full sync repairs even when no event
// named them (a change lost with a failed sync). O(wanted + kernel) in `range`, in memory.
std::set<VirtualServerKey> differingFromWanted(const WantedTable& wanted, const MirrorTable& kernel,
                                               const std::function<bool(const VirtualServerKey&)>& managed,
                                               const KeyRange& range = {});

// How many of `ops` from `first` add a virtual server with exactly its wanted state: the virtual
// server, then each wanted real server in endpoint order, none of them at `refusedIndexes`, and
// no other operation on it after them. 0 when they do anything else. The mirror then takes the
// wanted state itself instead of following each operation into a copy.
size_t addedAsWanted(const WantedTable& wanted, std::span<const Operation> ops, size_t first,
                     const std::set<size_t>& refusedIndexes);

}  // namespace kipvs::ipvs
