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

bool endpointBefore(const RealServer& a, const RealServer& b)
{
    return a.address != b.address ? a.address < b.address : a.port < b.port;
}

EndpointIndex::EndpointIndex(const std::vector<RealServer>& reals)
{
    sorted_.reserve(reals.size());
    for (const auto& r : reals)
        sorted_.push_back(&r);
    std::sort(sorted_.begin(), sorted_.end(),
              [](const RealServer* a, const RealServer* b) { return endpointBefore(*a, *b); });
}

const RealServer* EndpointIndex::find(const RealServer& r) const
{
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), &r,
                               [](const RealServer* a, const RealServer* b) { return endpointBefore(*a, *b); });
    return it != sorted_.end() && (*it)->address == r.address && (*it)->port == r.port ? *it : nullptr;
}

bool VirtualServerState::sameSettings(const VirtualServerState& other) const
{
    if (!server.sameSettings(other.server) || realServers.size() != other.realServers.size())
        return false;
    // Both sorted by endpoint (the mirror's and the proxier's lists are): one pass, no allocation;
    // a first sync, a restart and every full sync compare every virtual server.
    const auto sorted = [](const std::vector<RealServer>& v) {
        return std::is_sorted(v.begin(), v.end(), endpointBefore);
    };
    if (sorted(realServers) && sorted(other.realServers))
        return std::equal(realServers.begin(), realServers.end(), other.realServers.begin(),
                          [](const RealServer& a, const RealServer& b) { return a.sameSettings(b); });
    const EndpointIndex others(other.realServers);
    return std::all_of(realServers.begin(), realServers.end(), [&](const RealServer& r) {
        const RealServer* o = others.find(r);
        return o && r.sameSettings(*o);
    });
}

std::string Info::versionString() const
{
    return std::to_string(version >> 16) + "." + std::to_string((version >> 8) & 0xff) + "." +
           std::to_string(version & 0xff);
}

}  // namespace kipvs::ipvs
