// SPDX-License-Identifier: Apache-2.0
// Printing and comparison of the IPVS value types.
#include "ipvs/virtual_servers/types.h"

#include <algorithm>

namespace kipvs::ipvs {

namespace {

std::string hostPort(const InetAddress& address, uint16_t port)
{
    if (address.isV6())
        return "[" + address.toString() + "]:" + std::to_string(port);
    return address.toString() + ":" + std::to_string(port);
}

}  // namespace

std::string VirtualServerKey::toString() const
{
    if (isFwmark())
        return "FWM " + std::to_string(fwmark) + (family == AF_INET6 ? " IPv6" : " IPv4");
    return std::string(protocolName(protocol)) + " " + hostPort(address, port);
}

uint32_t VirtualServer::effectiveNetmask() const
{
    if (netmask != 0)
        return netmask;
    return key.family == AF_INET6 ? 128 : 0xffffffff;
}

bool VirtualServer::sameSettings(const VirtualServer& other) const
{
    return key == other.key && scheduler == other.scheduler &&
           (flags & flag::kUserMask) == (other.flags & flag::kUserMask) && timeout == other.timeout &&
           effectiveNetmask() == other.effectiveNetmask();
}

bool RealServer::sameSettings(const RealServer& other) const
{
    return address == other.address && port == other.port && forward == other.forward && weight == other.weight &&
           upperThreshold == other.upperThreshold && lowerThreshold == other.lowerThreshold;
}

std::string RealServer::endpoint() const
{
    return hostPort(address, port);
}

bool VirtualServerState::sameSettings(const VirtualServerState& other) const
{
    if (!server.sameSettings(other.server) || realServers.size() != other.realServers.size())
        return false;
    return std::all_of(realServers.begin(), realServers.end(), [&](const RealServer& r) {
        return std::any_of(other.realServers.begin(), other.realServers.end(),
                           [&](const RealServer& o) { return r.sameSettings(o); });
    });
}

std::string Info::versionString() const
{
    return std::to_string(version >> 16) + "." + std::to_string((version >> 8) & 0xff) + "." +
           std::to_string(version & 0xff);
}

}  // namespace kipvs::ipvs
