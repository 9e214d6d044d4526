// SPDX-License-Identifier: Apache-2.0
// Deleting stale UDP conntrack entries over netlink (libnetfilter-conntrack): when a UDP
// Service loses an endpoint, flows still pointing at it would keep clients sending to a dead
// pod until they time out.
#pragma once

#include <cstdint>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"

namespace kipvs::ipvs {

// Flows sent to `service`:`port` (UDP) and answered by `endpoint`.
struct StaleFlow {
    InetAddress service;
    uint16_t port = 0;
    InetAddress endpoint;
    auto operator<=>(const StaleFlow&) const = default;
};

// Deletes every conntrack entry matching one of `flows` with one dump per address family.
// Returns how many it deleted; an entry that vanished meanwhile is not an error.
Result<size_t> deleteStaleUdpFlows(const std::vector<StaleFlow>& flows);

}  // namespace kipvs::ipvs
