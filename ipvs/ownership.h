// SPDX-License-Identifier: Apache-2.0
// Which virtual servers are the daemon's to manage: those on its service addresses (bound on
// kube-ipvs0) or on the node's own addresses (NodePorts), outside --ipvs-exclude-cidrs.
// Everything else belongs to someone else (keepalived, a person with ipvsadm) and is never
// touched: a deliberate departure from upstream, which deletes whatever it did not create.
#pragma once

#include <set>
#include <vector>

#include "base/inet_address.h"
#include "ipvs/types.h"

namespace kipvs::ipvs {

struct Ownership {
    std::set<InetAddress> serviceAddresses;  // on kube-ipvs0, now or as wanted
    std::set<InetAddress> nodeAddresses;
    std::vector<Cidr> excluded;

    bool operator()(const ServiceKey& key) const
    {
        if (key.isFwmark())
            return false;  // the daemon never makes firewall-mark services
        for (const auto& cidr : excluded)
            if (cidr.contains(key.address))
                return false;
        return serviceAddresses.count(key.address) > 0 || nodeAddresses.count(key.address) > 0;
    }
};

}  // namespace kipvs::ipvs
