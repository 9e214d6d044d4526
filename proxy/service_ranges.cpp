// SPDX-License-Identifier: Apache-2.0
// Which service ranges are routed (see service_ranges.h).
#include "proxy/service_ranges.h"

#include <algorithm>
#include <set>

#include "base/service_range.h"

namespace kipvs::proxy {

void ServiceRanges::upsert(const watch::ServiceCidr& object)
{
    fromObjects_[object.key] = object.cidrs;
}

void ServiceRanges::remove(const watch::ObjectKey& key)
{
    fromObjects_.erase(key);
}

ServiceRanges::Routable ServiceRanges::routable(const std::vector<InetAddress>& nodeAddresses) const
{
    std::set<Cidr> wanted;
    if (!fromFlag_.empty())
        for (const auto& range : fromFlag_)
            wanted.insert(range.network());
    else
        for (const auto& [key, cidrs] : fromObjects_)
            for (const auto& range : cidrs)
                wanted.insert(range.network());
    Routable out;
    for (const auto& range : wanted) {
        const auto own = std::find_if(nodeAddresses.begin(), nodeAddresses.end(),
                                      [&](const InetAddress& a) { return range.contains(a); });
        if (!routableServiceRange(range))
            out.leftOut.push_back(range.toString() + " is too wide to route as local");
        else if (own != nodeAddresses.end())
            out.leftOut.push_back(range.toString() + " holds the node's own address " + own->toString());
        else
            out.ranges.push_back(range);
    }
    return out;
}

}  // namespace kipvs::proxy
