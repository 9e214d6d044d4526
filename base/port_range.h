// SPDX-License-Identifier: Apache-2.0
// An inclusive range of ports, "30000-32767".
#pragma once

#include <cstdint>

namespace kipvs {

struct PortRange {
    uint16_t first = 0;
    uint16_t last = 0;
    bool contains(uint16_t port) const { return port >= first && port <= last; }
    bool operator==(const PortRange&) const = default;
};

// The API server's default --service-node-port-range.
inline constexpr PortRange kDefaultNodePortRange{30000, 32767};

}  // namespace kipvs
