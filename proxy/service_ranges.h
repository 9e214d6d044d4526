// SPDX-License-Identifier: Apache-2.0
// The service ranges the daemon routes as local on kube-ipvs0: --service-cluster-ip-range when
// given, else the cluster's ServiceCIDR objects. A range too wide to route, or one holding an
// address of the node itself, is left out (its ClusterIPs are then bound one by one).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "watch/objects.h"

namespace kipvs::proxy {

class ServiceRanges {
public:
    // `fromFlag`: --service-cluster-ip-range; when not empty, ServiceCIDR objects are ignored.
    explicit ServiceRanges(std::vector<Cidr> fromFlag) : fromFlag_(std::move(fromFlag)) {}

    bool followsCluster() const { return fromFlag_.empty(); }
    void upsert(const watch::ServiceCidr& object);
    void remove(const watch::ObjectKey& key);

    struct Routable {
        std::vector<Cidr> ranges;  // networks, sorted, without duplicates
        std::vector<std::string> leftOut;  // why each range left out is: for the log
    };
    // The ranges to route on a node with `nodeAddresses`.
    Routable routable(const std::vector<InetAddress>& nodeAddresses) const;

private:
    std::vector<Cidr> fromFlag_;
    std::map<watch::ObjectKey, std::vector<Cidr>> fromObjects_;
};

}  // namespace kipvs::proxy
