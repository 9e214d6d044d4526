// SPDX-License-Identifier: Apache-2.0
// Set difference of address lists (see address_plan.h).
#include "ipvs/host/address_plan.h"

#include <algorithm>
#include <iterator>

namespace kipvs::ipvs {

AddressPlan planAddresses(std::vector<InetAddress> actual, std::vector<InetAddress> wanted)
{
    for (auto* list : {&actual, &wanted}) {
        std::sort(list->begin(), list->end());
        list->erase(std::unique(list->begin(), list->end()), list->end());
    }
    AddressPlan plan;
    std::set_difference(wanted.begin(), wanted.end(), actual.begin(), actual.end(), std::back_inserter(plan.add));
    std::set_difference(actual.begin(), actual.end(), wanted.begin(), wanted.end(), std::back_inserter(plan.remove));
    return plan;
}

}  // namespace kipvs::ipvs
