// SPDX-License-Identifier: Apache-2.0
// The sets all Services add to (kube-ipvs0's addresses and the nftables sets), counted per
// element, so a Service's result comes and goes in O(its size) and a sync is handed only the
// elements whose membership changed since the last one.
#pragma once

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "ipvs/netfilter/firewall.h"
#include "proxy/proxier.h"

namespace kipvs::proxy {

// Elements several Services may add, with how many did; the elements whose membership may have
// changed since the last takeChanges().
template <typename T>
class CountedSet {
public:
    void add(const T& e)
    {
        if (counts_[e]++ == 0)
            touched_.try_emplace(e, false);
    }
    void remove(const T& e)
    {
        auto it = counts_.find(e);
        if (it == counts_.end() || --it->second > 0)
            return;
        counts_.erase(it);
        touched_.try_emplace(e, true);
    }
    bool contains(const T& e) const { return counts_.count(e) > 0; }
    // The elements whose membership changed since the last call: present now, or absent now.
    void takeChanges(ipvs::ElementSet<T>& present, ipvs::ElementSet<T>& absent)
    {
        for (const auto& [e, was] : touched_)
            if (contains(e) != was)
                (was ? absent : present).insert(e);
        touched_.clear();
    }
    ipvs::ElementSet<T> elements() const
    {
        ipvs::ElementSet<T> out;
        for (const auto& [e, count] : counts_)
            out.insert(out.end(), e);
        return out;
    }

private:
    std::map<T, uint32_t> counts_;
    std::map<T, bool> touched_;  // element -> whether it was present at the last takeChanges()
};

// What one Service adds beyond its proxy's own sets, decided when it was added (so that removing
// it takes away exactly that): its entries another Service keeps are left out, and its node may
// reach a firewalled load-balancer IP when the node IP is in the source ranges.
struct SetExceptions {
    std::vector<IpPort> notHeld;  // virtual servers another Service keeps
    std::vector<std::pair<IpPort, Cidr>> fromNode;  // (LB IP:port, LB IP/32 or /128)
    bool empty() const { return notHeld.empty() && fromNode.empty(); }
};

class ServiceSets {
public:
    enum class Change { Add, Remove };
    void apply(const ServiceProxy& proxy, const SetExceptions& exceptions, Change change);
    // Every set now: O(size), for the dry run and tests.
    ipvs::FirewallSets snapshot() const;
    // The elements whose membership changed since the last call.
    ipvs::FirewallSetChanges takeChanges();

private:
    CountedSet<IpPort> clusterIPs_, external_, localPolicy_, loadBalancers_, hairpin_, firewalled_;
    CountedSet<std::pair<IpPort, Cidr>> allowedSources_;
    CountedSet<uint16_t> healthCheckPorts_;
    CountedSet<InetAddress> serviceAddresses_;
};

}  // namespace kipvs::proxy
