// SPDX-License-Identifier: Apache-2.0
// The wanted state as --dry-run prints it: `ipvsadm -Sn`'s rule format, or the JSON document
// whose schema docs/design.md fixes (a contract: scripts parse it).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::proxy {

// What `ipvsadm -Sn` would print once the table is programmed ("-A -t 10.96.0.10:53 -s rr",
// then one "-a ... -r ... -m -w 1" line per real server), virtual servers in key order.
std::string formatIpvsadmRules(const ipvs::WantedTable& table);

// {"virtualServers": [...], "addresses": [...], "serviceRanges": [...]}, two-space indented, with
// a final newline: `addresses` are those bound on kube-ipvs0 (none inside a routed range).
std::string formatJson(const ipvs::WantedTable& table, const std::set<InetAddress>& serviceAddresses,
                       const std::vector<Cidr>& serviceRanges);

}  // namespace kipvs::proxy
