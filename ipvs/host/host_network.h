// SPDX-License-Identifier: Apache-2.0
// The node's links and addresses as the kernel worker uses them. The rtnetlink LinkClient
// implements it; tests put an in-memory node with chosen faults behind it.
#pragma once

#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"

namespace kipvs::ipvs {

// The routing protocol number that marks kube-ipvsd's service-range routes ("proto 107" in `ip
// route`), setting them apart from local routes others make (an AnyIP range on lo).
inline constexpr unsigned char kServiceRouteProtocol = 107;

struct InterfaceAddress {
    std::string interface;
    InetAddress address;
    bool operator==(const InterfaceAddress&) const = default;
};

class HostNetwork {
public:
    virtual ~HostNetwork() = default;

    // The interface index of `name`, or 0 when there is no such link.
    virtual Result<int> linkIndex(const std::string& name) = 0;
    // Creates the dummy link `name` if it is missing and returns its index. Like kube-proxy, the
    // link is left down: addresses on it are local either way, and a down link answers no ARP.
    virtual Result<int> ensureDummyLink(const std::string& name) = 0;
    // Addresses on the link with index `ifindex` (both families).
    virtual Result<std::vector<InetAddress>> addresses(int ifindex) = 0;
    // Adds `address` as a host address (/32 or /128); an address already present is success.
    virtual Result<void> addAddress(int ifindex, const InetAddress& address) = 0;
    // Removes `address`; an address already gone is success.
    virtual Result<void> removeAddress(int ifindex, const InetAddress& address) = 0;
    // The service ranges routed as local (table local, type local, protocol kServiceRouteProtocol):
    // every address in one is this node's without being bound.
    virtual Result<std::vector<Cidr>> localRoutes() = 0;
    // Routes `range` (its network) as local; a route already there is success.
    virtual Result<void> addLocalRoute(const Cidr& range) = 0;
    // Removes that route; a route already gone is success.
    virtual Result<void> removeLocalRoute(const Cidr& range) = 0;
    // Every address of this node that can receive NodePort traffic: all interfaces except
    // loopback addresses, IPv6 link-local addresses and anything on `excludedLink`.
    virtual Result<std::vector<InterfaceAddress>> nodeAddresses(const std::string& excludedLink) = 0;
};

}  // namespace kipvs::ipvs
