// SPDX-License-Identifier: Apache-2.0
// Descriptions and the idempotency rule of IPVS operations.
#include "ipvs/virtual_servers/operation.h"

#include <cerrno>

namespace kipvs::ipvs {

const char* Operation::verb() const
{
    switch (kind) {
    case Kind::AddVirtualServer:
        return "add virtual server";
    case Kind::EditVirtualServer:
        return "edit virtual server";
    case Kind::DeleteVirtualServer:
        return "delete virtual server";
    case Kind::AddRealServer:
        return "add real server";
    case Kind::EditRealServer:
        return "edit real server";
    case Kind::DeleteRealServer:
        return "delete real server";
    case Kind::ZeroCounters:
        return "zero counters";
    case Kind::Flush:
        return "flush IPVS table";
    case Kind::SetTimeouts:
        return "set IPVS timeouts";
    }
    return "?";
}

std::string Operation::object() const
{
    switch (kind) {
    case Kind::AddRealServer:
    case Kind::EditRealServer:
    case Kind::DeleteRealServer:
        return virtualServer.key.toString() + " -> " + realServer.endpoint();
    case Kind::ZeroCounters:
        return all ? "all" : virtualServer.key.toString();
    case Kind::Flush:
        return "";
    case Kind::SetTimeouts:
        return "tcp " + std::to_string(timeouts.tcp) + " tcpfin " + std::to_string(timeouts.tcpFin) + " udp " +
               std::to_string(timeouts.udp);
    default:
        return virtualServer.key.toString();
    }
}

bool Operation::alreadyDone(int error) const
{
    switch (kind) {
    case Kind::AddVirtualServer:
    case Kind::AddRealServer:
        return error == EEXIST;
    // The kernel answers ESRCH for a missing service and ENOENT for a missing destination.
    case Kind::DeleteVirtualServer:
    case Kind::DeleteRealServer:
        return error == ENOENT || error == ESRCH;
    default:
        return false;
    }
}

}  // namespace kipvs::ipvs
