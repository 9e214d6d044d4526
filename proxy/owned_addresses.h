// SPDX-License-Identifier: Apache-2.0
// Which virtual servers are the daemon's to manage: those on its service addresses (bound on
// kube-ipvs0) or on the node's own addresses (NodePorts), outside --ipvs-exclude-cidrs (inside
// them, only what the Services want is the daemon's: the kernel worker adds those). Everything else belongs to someone
// else (keepalived, a person with ipvsadm) and is never touched: a deliberate departure from upstream, which deletes
// whatever it did not create.
#pragma once

#include <set>
#include <vector>

#include "base/inet_address.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::proxy {

// The link kube-proxy's IPVS mode binds service addresses on; kube-ipvsd keeps its name so
// tools and runbooks written for kube-proxy keep working.
inline constexpr const char* kServiceLinkName = "kube-ipvs0";

struct OwnedAddresses {
    std::set<InetAddress> serviceAddresses;  // on kube-ipvs0, now or as wanted
    std::set<InetAddress> nodeAddresses;
    std::vector<Cidr> excluded;

    bool owns(const ipvs::VirtualServerKey& key) const
    {
        if (key.isFwmark())
            return false;  // the daemon never makes firewall-mark virtual servers
        for (const auto& cidr : excluded)
            if (cidr.contains(key.address))
                return false;
        return serviceAddresses.count(key.address) > 0 || nodeAddresses.count(key.address) > 0;
    }
};

}  // namespace kipvs::proxy
