// SPDX-License-Identifier: Apache-2.0
// Counted sets over all Services (see service_sets.h).
#include "proxy/service_sets.h"

#include <algorithm>

namespace kipvs::proxy {

void ServiceSets::apply(const ServiceProxy& proxy, const SetExceptions& exceptions, Change change)
{
    const auto held = [&](const IpPort& e) {
        return std::find(exceptions.notHeld.begin(), exceptions.notHeld.end(), e) == exceptions.notHeld.end();
    };
    const auto count = [&](auto& set, const auto& element) {
        if (change == Change::Add)
            set.add(element);
        else
            set.remove(element);
    };
    const auto countHeld = [&](auto& set, Member kind) {
        for (const auto& e : proxy.members.of(kind))
            if (held(e))
                count(set, e);
    };
    countHeld(clusterIPs_, Member::ClusterIP);
    countHeld(external_, Member::NodePort);
    countHeld(external_, Member::ExternalIP);
    countHeld(external_, Member::LoadBalancerIP);
    countHeld(loadBalancers_, Member::LoadBalancerIP);
    countHeld(localPolicy_, Member::LocalPolicy);
    for (const auto& e : proxy.members.of(Member::LocalEndpoint))
        count(hairpin_, e);
    for (const auto& bound : proxy.members.of(Member::BoundAddress))
        count(serviceAddresses_, bound.address);
    if (proxy.healthCheckNodePort)
        count(healthCheckPorts_, proxy.healthCheckNodePort);
    for (const auto& [lb, range] : proxy.sourceRanges) {
        if (!held(lb))
            continue;
        count(firewalled_, lb);
        count(allowedSources_, std::pair{lb, range});
    }
    for (const auto& allowed : exceptions.fromNode)
        count(allowedSources_, allowed);
}

ipvs::FirewallSets ServiceSets::snapshot() const
{
    ipvs::FirewallSets out;
    out.clusterIPs = clusterIPs_.elements();
    out.external = external_.elements();
    out.localPolicy = localPolicy_.elements();
    out.loadBalancers = loadBalancers_.elements();
    out.hairpin = hairpin_.elements();
    out.firewalled = firewalled_.elements();
    out.allowedSources = allowedSources_.elements();
    out.healthCheckPorts = healthCheckPorts_.elements();
    out.serviceAddresses = serviceAddresses_.elements();
    return out;
}

ipvs::FirewallSetChanges ServiceSets::takeChanges()
{
    ipvs::FirewallSetChanges c;
    clusterIPs_.takeChanges(c.present.clusterIPs, c.absent.clusterIPs);
    external_.takeChanges(c.present.external, c.absent.external);
    localPolicy_.takeChanges(c.present.localPolicy, c.absent.localPolicy);
    loadBalancers_.takeChanges(c.present.loadBalancers, c.absent.loadBalancers);
    hairpin_.takeChanges(c.present.hairpin, c.absent.hairpin);
    firewalled_.takeChanges(c.present.firewalled, c.absent.firewalled);
    allowedSources_.takeChanges(c.present.allowedSources, c.absent.allowedSources);
    healthCheckPorts_.takeChanges(c.present.healthCheckPorts, c.absent.healthCheckPorts);
    serviceAddresses_.takeChanges(c.present.serviceAddresses, c.absent.serviceAddresses);
    return c;
}

}  // namespace kipvs::proxy
