// SPDX-License-Identifier: Apache-2.0
// Links and addresses over rtnetlink: the dummy link kube-ipvs0, its addresses, node addresses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"
#include "ipvs/netlink_socket.h"

struct nl_sock;

namespace kipvs::ipvs {

struct InterfaceAddress {
    std::string interface;
    InetAddress address;
    bool operator==(const InterfaceAddress&) const = default;
};

class LinkClient {
public:
    static Result<LinkClient> open();

    LinkClient(LinkClient&&) noexcept;
    LinkClient& operator=(LinkClient&&) noexcept;
    ~LinkClient();

    // The interface index of `name`, or 0 when there is no such link.
    Result<int> linkIndex(const std::string& name);
    // Creates the dummy link `name` if it is missing and returns its index. Like kube-proxy, the
    // link is left down: addresses on it are local either way, and a down link answers no ARP.
    Result<int> ensureDummyLink(const std::string& name);
    // Deletes link `name`; a missing link is success.
    Result<void> deleteLink(const std::string& name);

    // Addresses on the link with index `ifindex` (both families).
    Result<std::vector<InetAddress>> addresses(int ifindex);
    // Adds `address` as a host address (/32 or /128); an address already present is success.
    Result<void> addAddress(int ifindex, const InetAddress& address);
    // Removes `address`; an address already gone is success.
    Result<void> removeAddress(int ifindex, const InetAddress& address);

    // Every address of this node that can receive NodePort traffic: all interfaces except
    // loopback addresses, IPv6 link-local addresses and anything on `excludedLink`.
    Result<std::vector<InterfaceAddress>> nodeAddresses(const std::string& excludedLink);

private:
    explicit LinkClient(NetlinkSocket socket);
    enum class AddressChange { Add, Remove };
    Result<void> changeAddress(int ifindex, const InetAddress& address, AddressChange change);

    NetlinkSocket socket_;
};

}  // namespace kipvs::ipvs
