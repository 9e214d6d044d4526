// SPDX-License-Identifier: Apache-2.0
// The elements of the firewall table's sets as the kernel keys them, for verification: each
// element's key in nftables' register layout (every field of a concatenation padded to 4 bytes,
// addresses and ports in network order) and, for a range, its last key. Comparing these bytes
// with a netlink dump needs no text rendered or parsed for each element. Pure.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <vector>

#include "base/ip_port.h"
#include "ipvs/netfilter/firewall.h"

namespace kipvs::ipvs {

struct SetElement {
    std::string key;
    std::string keyEnd;  // a range's last key; empty for a single value (see canonicalElement)
    auto operator<=>(const SetElement&) const = default;
};
using SetElements = std::vector<SetElement>;

// The kernel may key a single value of a concatenated range set with its last key equal to its
// key: such an element is the single value (keyEnd empty).
SetElement canonicalElement(SetElement element);

// The elements set `name` ("cluster-ips-v4", "health-check-ports") holds for `sets`, canonical
// and sorted; none for a name the table does not have.
SetElements setElementsOf(const std::string& name, const FirewallSets& sets);

// Whether set `name` holds ranges (concatenated, flags interval: "allowed-sources-v4").
bool hasRanges(const std::string& name);

// An element of a service set (address . protocol . port); nullopt for any other bytes.
std::optional<IpPort> decodeServiceElement(const SetElement& element);

}  // namespace kipvs::ipvs
