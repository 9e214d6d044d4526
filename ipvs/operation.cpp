// SPDX-License-Identifier: Apache-2.0
// Descriptions and the idempotency rule of IPVS operations.
#include "operation.h"

#include <cerrno>

namespace kipvs::ipvs {

const char* Operation::verb() const
{
    switch (kind) {
    case Kind::AddService:
        return "add virtual server";
    case Kind::EditService:
        return "edit virtual server";
    case Kind::DeleteService:
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
        return service.key.toString() + " -> " + realServer.endpoint();
    case Kind::ZeroCounters:
        return all ? "all" : service.key.toString();
    case Kind::Flush:
        return "";
    case Kind::SetTimeouts:
        return "tcp " + std::to_string(timeouts.tcp) + " tcpfin " + std::to_string(timeouts.tcpFin) +
               " udp " + std::to_string(timeouts.udp);
    default:
        return service.key.toString();
    }
}

bool Operation::alreadyDone(int error) const
{
    switch (kind) {
    case Kind::AddService:
    case Kind::AddRealServer:
        return error == EEXIST;
    // The kernel answers ESRCH for a missing service and ENOENT for a missing destination.
    case Kind::DeleteService:
    case Kind::DeleteRealServer:
        return error == ENOENT || error == ESRCH;
    default:
        return false;
    }
}

}  // namespace kipvs::ipvs
