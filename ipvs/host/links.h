// SPDX-License-Identifier: Apache-2.0
// Links and addresses over rtnetlink: the dummy link kube-ipvs0, its addresses, node addresses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"
#include "ipvs/host/host_network.h"
#include "ipvs/netlink_socket.h"

struct nl_sock;

namespace kipvs::ipvs {

class LinkClient : public HostNetwork {
public:
    static Result<LinkClient> open();

    LinkClient(LinkClient&&) noexcept;
    LinkClient& operator=(LinkClient&&) noexcept;
    ~LinkClient() override;

    Result<int> linkIndex(const std::string& name) override;
    Result<int> ensureDummyLink(const std::string& name) override;
    // Deletes link `name`; a missing link is success.
    Result<void> deleteLink(const std::string& name);
    Result<std::vector<InetAddress>> addresses(int ifindex) override;
    Result<void> addAddress(int ifindex, const InetAddress& address) override;
    Result<void> removeAddress(int ifindex, const InetAddress& address) override;
    // Through lo, which is always up: IPv6 refuses a route through a down link (kube-ipvs0 stays
    // down, as kube-proxy leaves it), and Linux drops a link's IPv4 routes with its last IPv4
    // address.
    Result<std::vector<Cidr>> localRoutes() override;
    Result<void> addLocalRoute(const Cidr& range) override;
    Result<void> removeLocalRoute(const Cidr& range) override;
    Result<std::vector<InterfaceAddress>> nodeAddresses(const std::string& excludedLink) override;

private:
    explicit LinkClient(NetlinkSocket socket);
    enum class AddressChange { Add, Remove };
    Result<void> changeAddress(int ifindex, const InetAddress& address, AddressChange change);
    Result<void> changeLocalRoute(const Cidr& range, AddressChange change);

    NetlinkSocket socket_;
};

}  // namespace kipvs::ipvs
