// SPDX-License-Identifier: Apache-2.0
// Reading an rtnetlink address dump once libnl has parsed the kernel's reply into caches: the
// part of LinkClient that needs no socket, so tests and the fuzz target reach it with bytes.
#pragma once

#include <string>
#include <vector>

#include "base/inet_address.h"
#include "ipvs/host/host_network.h"

struct nl_cache;

namespace kipvs::ipvs {

// The local addresses the dump holds for link `ifindex`.
std::vector<InetAddress> addressesOn(nl_cache* addresses, int ifindex);
// The ranges the route dump holds as local routes through link `ifindex`, except the kernel's own
// route of each bound address (protocol "kernel").
std::vector<Cidr> localRoutesVia(nl_cache* routes, int ifindex);
// Every address that can take traffic (not loopback, not IPv6 link-local) with its link's name
// from `links`, except those on `excludedLink`.
std::vector<InterfaceAddress> usableAddresses(nl_cache* addresses, nl_cache* links, const std::string& excludedLink);

}  // namespace kipvs::ipvs
