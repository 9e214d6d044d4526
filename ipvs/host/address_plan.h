// SPDX-License-Identifier: Apache-2.0
// The fewest address changes that turn the addresses on a link into the wanted set.
#pragma once

#include <vector>

#include "base/inet_address.h"

namespace kipvs::ipvs {

struct AddressPlan {
    std::vector<InetAddress> add;  // sorted
    std::vector<InetAddress> remove;  // sorted
    bool empty() const { return add.empty() && remove.empty(); }
};

// Duplicates in either input are ignored.
AddressPlan planAddresses(std::vector<InetAddress> actual, std::vector<InetAddress> wanted);

}  // namespace kipvs::ipvs
