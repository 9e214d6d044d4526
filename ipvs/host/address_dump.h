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
// The local routes of table local the route dump holds with routing protocol `protocol`.
std::vector<Cidr> localRoutesOf(nl_cache* routes, unsigned char protocol);
// Every address that can take traffic (not loopback, not IPv6 link-local) with its link's name
// from `links`, except those on `excludedLink`.
std::vector<InterfaceAddress> usableAddresses(nl_cache* addresses, nl_cache* links, const std::string& excludedLink);

}  // namespace kipvs::ipvs
