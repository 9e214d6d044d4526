// SPDX-License-Identifier: Apache-2.0
// Which virtual servers are the daemon's to manage: any on its service addresses (bound on
// kube-ipvs0, or in a service range routed through it); on the node's own addresses only those on a NodePort port; and
// those its last table recorded as its NodePorts (an address that left the node keeps them until they are removed). All
// outside --ipvs-exclude-cidrs (inside them, only what the Services want is the daemon's: the kernel worker adds
// those). Everything else belongs to someone else (keepalived on a VRRP address at :80, a person with ipvsadm) and is
// never touched: a deliberate departure from upstream, which deletes whatever it did not create.
#pragma once

#include <set>
#include <vector>

#include "base/inet_address.h"
#include "base/ip_port.h"
#include "base/port_range.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::proxy {

// The link kube-proxy's IPVS mode binds service addresses on; kube-ipvsd keeps its name so
// tools and runbooks written for kube-proxy keep working.
inline constexpr const char* kServiceLinkName = "kube-ipvs0";

struct OwnedAddresses {
    std::set<InetAddress> serviceAddresses;  // on kube-ipvs0, as read or as the daemon changed it
    std::vector<Cidr> serviceRanges;  // routed as local through kube-ipvs0, now or as wanted
    std::set<InetAddress> nodeAddresses;
    std::vector<Cidr> excluded;
    PortRange nodePorts = kDefaultNodePortRange;  // the API server's --service-node-port-range
    std::set<IpPort> recordedNodePorts;  // what the daemon's table held as NodePorts at start
    // What the Services want kube-ipvs0 to carry, bound or routed (the kernel worker's record; a
    // read of the link leaves it empty). Kept apart from serviceAddresses, not merged into it: a
    // merged copy was a second set of every ClusterIP.
    std::set<InetAddress> wantedServiceAddresses;

    bool owns(const ipvs::VirtualServerKey& key) const
    {
        if (key.isFwmark())
            return false;  // the daemon never makes firewall-mark virtual servers
        for (const auto& cidr : excluded)
            if (cidr.contains(key.address))
                return false;
        if (serviceAddresses.count(key.address) > 0 || wantedServiceAddresses.count(key.address) > 0)
            return true;
        for (const auto& range : serviceRanges)
            if (range.contains(key.address))
                return true;
        if (nodeAddresses.count(key.address) > 0 && nodePorts.contains(key.port))
            return true;
        return recordedNodePorts.count(IpPort{key.address, key.protocol, key.port}) > 0;
    }
};

}  // namespace kipvs::proxy
