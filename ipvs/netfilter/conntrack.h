// SPDX-License-Identifier: Apache-2.0
// Conntrack reconciliation for UDP virtual servers over netlink (libnetfilter-conntrack), as
// kube-proxy's since v1.33: the kernel's table is dumped and every UDP flow sent to a virtual
// server's address:port whose reply comes from an address that is not one of its real servers
// is deleted. Flows left towards a dead pod (an endpoint removed, by this process or while it was
// down) would otherwise keep UDP clients (DNS) sending into nothing until they time out.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"

namespace kipvs::ipvs {

// For each UDP virtual server (address, port): the addresses allowed to answer (its real
// servers, sorted). An empty list: every flow to it goes (a virtual server being removed).
using ServedUdpFlows = std::map<std::pair<InetAddress, uint16_t>, std::vector<InetAddress>>;

// One family's pass.
struct ConntrackPass {
    int family = AF_INET;
    size_t deleted = 0;
    std::chrono::steady_clock::duration elapsed{};
};

// One dump per family that `served` names; an entry that vanished meanwhile is not an error.
Result<std::vector<ConntrackPass>> reconcileUdpFlows(const ServedUdpFlows& served);

// The conntrack table as the kernel worker uses it. NetlinkConntrack is the kernel's; tests put
// an in-memory table with chosen faults behind it.
class ConntrackTable {
public:
    virtual ~ConntrackTable() = default;
    virtual Result<std::vector<ConntrackPass>> reconcileUdpFlows(const ServedUdpFlows& served) = 0;
};

class NetlinkConntrack : public ConntrackTable {
public:
    Result<std::vector<ConntrackPass>> reconcileUdpFlows(const ServedUdpFlows& served) override
    {
        return ipvs::reconcileUdpFlows(served);
    }
};

}  // namespace kipvs::ipvs
