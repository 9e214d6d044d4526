// SPDX-License-Identifier: Apache-2.0
// Addresses out of libnl's parsed address dump (see address_dump.h).
#include "ipvs/host/address_dump.h"

#include <algorithm>
#include <array>
#include <optional>

#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

namespace kipvs::ipvs {

namespace {

std::optional<InetAddress> fromNl(nl_addr* addr)
{
    if (!addr)
        return std::nullopt;
    auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(addr));
    if (nl_addr_get_family(addr) == AF_INET && nl_addr_get_len(addr) == 4)
        return InetAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
    if (nl_addr_get_family(addr) == AF_INET6 && nl_addr_get_len(addr) == 16) {
        std::array<uint8_t, 16> raw{};
        std::copy(bytes, bytes + 16, raw.begin());
        return InetAddress::v6(raw);
    }
    return std::nullopt;
}

}  // namespace

std::vector<InetAddress> addressesOn(nl_cache* addresses, int ifindex)
{
    std::vector<InetAddress> out;
    for (nl_object* obj = nl_cache_get_first(addresses); obj; obj = nl_cache_get_next(obj)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(obj);
        if (rtnl_addr_get_ifindex(addr) != ifindex)
            continue;
        if (auto local = fromNl(rtnl_addr_get_local(addr)))
            out.push_back(*local);
    }
    return out;
}

std::vector<Cidr> localRoutesOf(nl_cache* routes, unsigned char protocol)
{
    std::vector<Cidr> out;
    for (nl_object* obj = nl_cache_get_first(routes); obj; obj = nl_cache_get_next(obj)) {
        auto* route = reinterpret_cast<rtnl_route*>(obj);
        if (rtnl_route_get_table(route) != RT_TABLE_LOCAL || rtnl_route_get_type(route) != RTN_LOCAL ||
            rtnl_route_get_protocol(route) != protocol)
            continue;
        nl_addr* dst = rtnl_route_get_dst(route);
        if (auto network = fromNl(dst))
            out.push_back(Cidr{*network, static_cast<uint8_t>(nl_addr_get_prefixlen(dst))});
    }
    return out;
}

std::vector<InterfaceAddress> usableAddresses(nl_cache* addresses, nl_cache* links, const std::string& excludedLink)
{
    std::vector<InterfaceAddress> out;
    for (nl_object* obj = nl_cache_get_first(addresses); obj; obj = nl_cache_get_next(obj)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(obj);
        auto local = fromNl(rtnl_addr_get_local(addr));
        if (!local || local->isLoopback() || (local->isV6() && local->isLinkLocal()))
            continue;
        char name[64] = {};
        rtnl_link_i2name(links, rtnl_addr_get_ifindex(addr), name, sizeof name);
        if (excludedLink == name)
            continue;
        out.push_back({name, *local});
    }
    return out;
}

}  // namespace kipvs::ipvs
