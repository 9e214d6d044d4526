// SPDX-License-Identifier: Apache-2.0
// rtnetlink through libnl-route-3: links, addresses, node addresses.
#include "ipvs/host/links.h"

#include "ipvs/host/address_dump.h"

#include <cerrno>

#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

namespace kipvs::ipvs {

namespace {

struct CacheDeleter {
    void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
struct LinkDeleter {
    void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddrDeleter {
    void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct NlAddrDeleter {
    void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;
using Link = std::unique_ptr<rtnl_link, LinkDeleter>;
using Addr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;
struct RouteDeleter {
    void operator()(rtnl_route* route) const { rtnl_route_put(route); }
};
using Route = std::unique_ptr<rtnl_route, RouteDeleter>;

// libnl returns its own NLE_* codes; callers want the kernel's errno.
int toErrno(int nle)
{
    switch (-nle < 0 ? nle : -nle) {
    case NLE_EXIST:
        return EEXIST;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
        return ENODEV;
    case NLE_NOADDR:
        return EADDRNOTAVAIL;
    case NLE_PERM:
        return EPERM;
    case NLE_NOMEM:
        return ENOMEM;
    case NLE_INVAL:
        return EINVAL;
    case NLE_OPNOTSUPP:
        return EOPNOTSUPP;
    case NLE_BUSY:
        return EBUSY;
    case NLE_AF_NOSUPPORT:
        return EAFNOSUPPORT;
    case NLE_RANGE:
        return ERANGE;
    default:
        return EIO;
    }
}

Result<Cache> addressCache(nl_sock* sock)
{
    nl_cache* raw = nullptr;
    if (int err = rtnl_addr_alloc_cache(sock, &raw); err < 0)
        return fail(Error::Domain::Kernel, toErrno(err), "list addresses");
    return Cache(raw);
}

}  // namespace

LinkClient::LinkClient(NetlinkSocket socket) : socket_(std::move(socket)) {}
LinkClient::LinkClient(LinkClient&&) noexcept = default;
LinkClient& LinkClient::operator=(LinkClient&&) noexcept = default;
LinkClient::~LinkClient() = default;

Result<LinkClient> LinkClient::open()
{
    KIPVS_ASSIGN_OR_RETURN(auto socket, allocateNetlinkSocket());
    if (int err = nl_connect(socket.get(), NETLINK_ROUTE); err < 0)
        return fail(Error::Domain::System, toErrno(err), "connect rtnetlink socket");
    return LinkClient(std::move(socket));
}

Result<int> LinkClient::linkIndex(const std::string& name)
{
    rtnl_link* raw = nullptr;
    int err = rtnl_link_get_kernel(socket_.get(), 0, name.c_str(), &raw);
    Link link(raw);
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
        return 0;
    if (err < 0)
        return fail(Error::Domain::Kernel, toErrno(err), "look up link", "'" + name + "'");
    return rtnl_link_get_ifindex(link.get());
}

Result<int> LinkClient::ensureDummyLink(const std::string& name)
{
    auto index = linkIndex(name);
    if (!index || *index != 0)
        return index;
    Link link(rtnl_link_alloc());
    if (!link)
        return fail(Error::Domain::System, ENOMEM, "create link", "'" + name + "'");
    rtnl_link_set_name(link.get(), name.c_str());
    if (int err = rtnl_link_set_type(link.get(), "dummy"); err < 0)
        return fail(Error::Domain::Kernel, toErrno(err), "create link", "'" + name + "'");
    int err = rtnl_link_add(socket_.get(), link.get(), NLM_F_CREATE);
    if (err < 0 && err != -NLE_EXIST)
        return fail(Error::Domain::Kernel, err == -NLE_OPNOTSUPP ? EOPNOTSUPP : toErrno(err), "create dummy link",
                    "'" + name + "'", err == -NLE_OPNOTSUPP ? "the kernel has no dummy link type" : "");
    index = linkIndex(name);
    if (index && *index == 0)
        return fail(Error::Domain::Kernel, ENODEV, "create dummy link", "'" + name + "'",
                    "link missing after creation");
    return index;
}

Result<void> LinkClient::deleteLink(const std::string& name)
{
    Link link(rtnl_link_alloc());
    if (!link)
        return fail(Error::Domain::System, ENOMEM, "delete link", "'" + name + "'");
    rtnl_link_set_name(link.get(), name.c_str());
    int err = rtnl_link_delete(socket_.get(), link.get());
    if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV)
        return fail(Error::Domain::Kernel, toErrno(err), "delete link", "'" + name + "'");
    return {};
}

Result<std::vector<InetAddress>> LinkClient::addresses(int ifindex)
{
    KIPVS_ASSIGN_OR_RETURN(auto cache, addressCache(socket_.get()));
    return addressesOn(cache.get(), ifindex);
}

Result<void> LinkClient::changeAddress(int ifindex, const InetAddress& address, AddressChange change)
{
    const bool add = change == AddressChange::Add;
    const char* operation = add ? "add address" : "remove address";
    const std::string object = address.toString() + " on link " + std::to_string(ifindex);
    NlAddr local(nl_addr_build(address.family(), address.data(), address.size()));
    Addr addr(rtnl_addr_alloc());
    if (!local || !addr)
        return fail(Error::Domain::System, ENOMEM, operation, object);
    nl_addr_set_prefixlen(local.get(), address.hostPrefixLength());
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), address.family());
    if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0)
        return fail(Error::Domain::System, toErrno(err), operation, object);
    rtnl_addr_set_prefixlen(addr.get(), address.hostPrefixLength());
    if (add) {
        // No duplicate address detection: a service address is ours by definition, and DAD
        // would keep an IPv6 address "tentative" (unusable) for a second.
        if (address.isV6())
            rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
        int err = rtnl_addr_add(socket_.get(), addr.get(), NLM_F_CREATE);
        if (err < 0 && err != -NLE_EXIST)
            return fail(Error::Domain::Kernel, toErrno(err), operation, object);
    } else {
        int err = rtnl_addr_delete(socket_.get(), addr.get(), 0);
        if (err < 0 && err != -NLE_NOADDR && err != -NLE_OBJ_NOTFOUND)
            return fail(Error::Domain::Kernel, toErrno(err), operation, object);
    }
    return {};
}

Result<void> LinkClient::addAddress(int ifindex, const InetAddress& address)
{
    return changeAddress(ifindex, address, AddressChange::Add);
}

Result<void> LinkClient::removeAddress(int ifindex, const InetAddress& address)
{
    return changeAddress(ifindex, address, AddressChange::Remove);
}

Result<std::vector<Cidr>> LinkClient::localRoutes()
{
    nl_cache* raw = nullptr;
    if (int err = rtnl_route_alloc_cache(socket_.get(), AF_UNSPEC, 0, &raw); err < 0)
        return fail(Error::Domain::Kernel, toErrno(err), "list routes");
    Cache routes(raw);
    return localRoutesOf(routes.get(), kServiceRouteProtocol);
}

// The route `ip route add local RANGE dev lo table local proto 107` makes.
Result<void> LinkClient::changeLocalRoute(const Cidr& range, AddressChange change)
{
    const bool add = change == AddressChange::Add;
    const char* operation = add ? "add local route" : "remove local route";
    const Cidr network = range.network();
    const std::string object = network.toString();
    KIPVS_ASSIGN_OR_RETURN(const int loopback, linkIndex("lo"));
    NlAddr dst(nl_addr_build(network.address.family(), network.address.data(), network.address.size()));
    Route route(rtnl_route_alloc());
    rtnl_nexthop* via = rtnl_route_nh_alloc();
    if (!dst || !route || !via) {
        if (via)
            rtnl_route_nh_free(via);
        return fail(Error::Domain::System, ENOMEM, operation, object);
    }
    nl_addr_set_prefixlen(dst.get(), network.prefixLength);
    rtnl_route_set_family(route.get(), static_cast<uint8_t>(network.address.family()));
    rtnl_route_set_table(route.get(), RT_TABLE_LOCAL);
    rtnl_route_set_type(route.get(), RTN_LOCAL);
    rtnl_route_set_scope(route.get(), RT_SCOPE_HOST);
    rtnl_route_set_protocol(route.get(), kServiceRouteProtocol);
    if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) {
        rtnl_route_nh_free(via);
        return fail(Error::Domain::System, toErrno(err), operation, object);
    }
    rtnl_route_nh_set_ifindex(via, loopback);
    rtnl_route_add_nexthop(route.get(), via);  // the route owns it from here
    if (add) {
        int err = rtnl_route_add(socket_.get(), route.get(), NLM_F_CREATE);
        if (err < 0 && err != -NLE_EXIST)
            return fail(Error::Domain::Kernel, toErrno(err), operation, object);
    } else {
        int err = rtnl_route_delete(socket_.get(), route.get(), 0);
        if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR)
            return fail(Error::Domain::Kernel, toErrno(err), operation, object);
    }
    return {};
}

Result<void> LinkClient::addLocalRoute(const Cidr& range)
{
    return changeLocalRoute(range, AddressChange::Add);
}

Result<void> LinkClient::removeLocalRoute(const Cidr& range)
{
    return changeLocalRoute(range, AddressChange::Remove);
}

Result<std::vector<InterfaceAddress>> LinkClient::nodeAddresses(const std::string& excludedLink)
{
    nl_cache* rawLinks = nullptr;
    if (int err = rtnl_link_alloc_cache(socket_.get(), AF_UNSPEC, &rawLinks); err < 0)
        return fail(Error::Domain::Kernel, toErrno(err), "list links");
    Cache links(rawLinks);
    KIPVS_ASSIGN_OR_RETURN(auto cache, addressCache(socket_.get()));
    return usableAddresses(cache.get(), links.get(), excludedLink);
}

}  // namespace kipvs::ipvs
