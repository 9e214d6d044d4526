// SPDX-License-Identifier: Apache-2.0
// Change tracking and incremental recompute (see service_state.h).
#include "proxy/service_state.h"

#include <tuple>

namespace kipvs::proxy {

void ServiceState::upsertService(const watch::Service& service)
{
    services_[service.key].service = service;
    dirty_.insert(service.key);
}

void ServiceState::deleteService(const watch::ObjectKey& key)
{
    if (auto entry = services_.find(key); entry != services_.end()) {
        entry->second.service.reset();
        eraseIfEmpty(entry);
    }
    dirty_.insert(key);
}

void ServiceState::upsertSlice(const watch::EndpointSlice& slice)
{
    auto existing = slices_.find(slice.key);
    if (existing != slices_.end()) {
        // The slice may have moved to another Service (its label changed): the old one changes too.
        ServiceRef old{existing->key.namespaceName, existing->serviceName};
        if (auto entry = services_.find(old); entry != services_.end()) {
            entry->second.slices.erase(slice.key);
            eraseIfEmpty(entry);
        }
        dirty_.insert(old);
    }
    ServiceRef ref{slice.key.namespaceName, slice.serviceName};
    if (existing != slices_.end())
        slices_.erase(existing);
    slices_.insert(slice);
    services_[ref].slices.insert(slice.key);
    dirty_.insert(ref);
}

void ServiceState::deleteSlice(const watch::ObjectKey& key)
{
    auto existing = slices_.find(key);
    if (existing == slices_.end())
        return;
    ServiceRef ref{key.namespaceName, existing->serviceName};
    if (auto entry = services_.find(ref); entry != services_.end()) {
        entry->second.slices.erase(key);
        eraseIfEmpty(entry);
    }
    slices_.erase(existing);
    dirty_.insert(ref);
}

void ServiceState::markAllDirty()
{
    for (const auto& [ref, entry] : services_)
        if (entry.service || entry.proxy)
            dirty_.insert(ref);
}

void ServiceState::eraseIfEmpty(std::map<ServiceRef, ServiceEntry>::iterator entry)
{
    if (entry->second.empty())
        services_.erase(entry);
}

ipvs::WantedTable ServiceState::release(const ServiceRef& ref)
{
    ipvs::WantedTable before;
    auto entry = services_.find(ref);
    if (entry == services_.end() || !entry->second.proxy)
        return before;
    const auto old = std::move(entry->second.proxy);
    count(ref, *old, ServiceSets::Change::Remove);
    for (const auto& v : old->virtualServers) {
        if (auto c = claimants_.find(v.server.key); c != claimants_.end() && c->second.erase(ref) && c->second.empty())
            claimants_.erase(c);
        auto w = wanted_.find(v.server.key);
        if (w == wanted_.end() || *w->second.owner != ref)
            continue;
        before.emplace(v.server.key, std::move(w->second.state));
        wanted_.erase(w);
    }
    eraseIfEmpty(entry);
    return before;
}

bool ServiceState::ClaimRank::before(const ClaimRank& other) const
{
    if (clusterIP != other.clusterIP)
        return clusterIP;
    return std::tie(created, ref) < std::tie(other.created, other.ref);
}

ServiceState::ClaimRank ServiceState::rankOf(const ServiceRef& ref, const ServiceProxy& proxy,
                                             const ipvs::VirtualServerKey& key) const
{
    ClaimRank rank;
    rank.clusterIP = proxy.members.contains(Member::ClusterIP, IpPort{key.address, key.protocol, key.port});
    if (auto entry = services_.find(ref); entry != services_.end() && entry->second.service)
        rank.created = entry->second.service->created;
    rank.ref = ref;
    return rank;
}

bool ServiceState::claim(const ServiceRef& ref, const ServiceProxy& proxy, const ipvs::VirtualServerKey& key)
{
    auto current = wanted_.find(key);
    if (current == wanted_.end())
        return true;
    const ServiceRef holder = *current->second.owner;
    const auto name = [](const ServiceRef& r) { return r.toString(); };
    const bool wins = rankOf(ref, proxy, key).before(rankOf(holder, *services_.at(holder).proxy, key));
    if (wins) {
        // The holder is recomputed in this pass (its share of the nftables sets changes with the
        // key): it loses the claim then, and is warned about.
        dirty_.insert(holder);
        return true;
    }
    claimants_[key].insert(ref);
    warnings_.push_back(name(ref) + ": virtual server " + key.toString() + " is also wanted by " + name(holder) +
                        ", which keeps it (a ClusterIP first, then the older Service)");
    return false;
}

bool ServiceState::holds(const ServiceRef& ref, const IpPort& entry) const
{
    const ipvs::VirtualServerKey key{entry.address.family(), entry.protocol, entry.address, entry.port, 0};
    auto claim = wanted_.find(key);
    return claim == wanted_.end() || *claim->second.owner == ref;
}

SetExceptions ServiceState::exceptionsOf(const ServiceRef& ref, const ServiceProxy& proxy, const NodeView& node) const
{
    SetExceptions out;
    for (const Member kind : {Member::ClusterIP, Member::NodePort, Member::ExternalIP, Member::LoadBalancerIP})
        for (const auto& e : proxy.members.of(kind))
            if (!holds(ref, e))
                out.notHeld.push_back(e);
    for (const auto& [lb, range] : proxy.sourceRanges) {
        if (!holds(ref, lb))
            continue;
        // Traffic from the node to its own load-balancer IP leaves with that IP as source.
        for (const auto& a : node.primaryIPs)
            if (range.contains(a))
                out.fromNode.emplace_back(
                    lb, Cidr{lb.address, static_cast<uint8_t>(lb.address.family() == AF_INET6 ? 128 : 32)});
    }
    return out;
}

void ServiceState::count(const ServiceRef& ref, const ServiceProxy& proxy, ServiceSets::Change change)
{
    const bool add = change == ServiceSets::Change::Add;
    auto exceptions = exceptions_.find(ref);
    sets_.apply(proxy, exceptions == exceptions_.end() ? SetExceptions{} : exceptions->second, change);
    if (!add && exceptions != exceptions_.end())
        exceptions_.erase(exceptions);
    if (proxy.healthCheckNodePort) {
        auto check = healthChecks_.find(proxy.healthCheckNodePort);
        if (add)
            healthChecks_[proxy.healthCheckNodePort] = {std::string(ref.namespaceName.view()), ref.name,
                                                        proxy.readyLocalEndpoints};
        else if (check != healthChecks_.end() && check->second.namespaceName == ref.namespaceName.view() &&
                 check->second.name == ref.name)
            healthChecks_.erase(check);
    }
    bool v4 = false, v6 = false;
    for (const auto& v : proxy.virtualServers)
        (v.server.key.family == AF_INET6 ? v6 : v4) = true;
    const auto adjust = [add](size_t& n, bool has) {
        if (has)
            n = add ? n + 1 : n - 1;
    };
    if (proxy.internalHasNoLocalEndpoints) {
        adjust(noLocal_.internalV4, v4);
        adjust(noLocal_.internalV6, v6);
    }
    if (proxy.externalHasNoLocalEndpoints) {
        adjust(noLocal_.externalV4, v4);
        adjust(noLocal_.externalV6, v6);
    }
}

std::shared_ptr<const ipvs::VirtualServerState> ServiceState::wantedState(const ipvs::VirtualServerKey& key) const
{
    auto claim = wanted_.find(key);
    return claim == wanted_.end() ? nullptr : claim->second.state;
}

ipvs::WantedTable ServiceState::wantedTable() const
{
    ipvs::WantedTable table;
    for (const auto& [key, claim] : wanted_)
        table.emplace_hint(table.end(), key, claim.state);
    return table;
}

size_t ServiceState::conflicts() const
{
    return claimants_.size();
}

void ServiceState::recomputeService(const ServiceRef& ref, const NodeView& node, const ProxierConfig& config,
                                    WantedChanges& changed)
{
    const ipvs::WantedTable before = release(ref);
    if (auto entry = services_.find(ref); entry != services_.end() && entry->second.service) {
        const watch::Service& service = *entry->second.service;
        std::vector<const watch::EndpointSlice*> slices;
        for (const auto& key : entry->second.slices)
            if (auto slice = slices_.find(key); slice != slices_.end())
                slices.push_back(&*slice);
        auto proxy = std::make_shared<const ServiceProxy>(proxyService(service, slices, node, config));
        for (const auto& w : proxy->warnings)
            warnings_.push_back(service.key.toString() + ": " + w);
        for (const auto& v : proxy->virtualServers) {
            const auto& key = v.server.key;
            if (!claim(ref, *proxy, key))
                continue;
            std::shared_ptr<const ipvs::VirtualServerState> state(proxy, &v);  // shares the proxy's ownership
            wanted_[key] = Claim{state, &entry->first};
            auto was = before.find(key);
            if (was == before.end() || !was->second->sameSettings(v))
                changed[key] = state;
        }
        if (auto exceptions = exceptionsOf(ref, *proxy, node); !exceptions.empty())
            exceptions_[ref] = std::move(exceptions);
        count(ref, *proxy, ServiceSets::Change::Add);
        entry->second.proxy = std::move(proxy);
    }
    for (const auto& [key, state] : before) {
        if (wanted_.count(key))
            continue;
        changed[key] = nullptr;
        // Let go: the Services that also want it are recomputed, the first of them takes it.
        if (auto c = claimants_.find(key); c != claimants_.end())
            dirty_.insert(c->second.begin(), c->second.end());
    }
}

WantedChanges ServiceState::recompute(const NodeView& node, const ProxierConfig& config)
{
    WantedChanges changed;
    // A Service recomputed may hand a virtual server to another, which is then recomputed too.
    while (!dirty_.empty()) {
        const ServiceRef ref = *dirty_.begin();
        dirty_.erase(dirty_.begin());
        recomputeService(ref, node, config, changed);
    }
    return changed;
}

const std::string* ServiceState::serviceVersion(const watch::ObjectKey& key) const
{
    auto found = services_.find(key);
    return found == services_.end() || !found->second.service ? nullptr : &found->second.service->resourceVersion;
}

const std::string* ServiceState::sliceVersion(const watch::ObjectKey& key) const
{
    auto found = slices_.find(key);
    return found == slices_.end() ? nullptr : &found->resourceVersion;
}

void ServiceState::forEachServiceKey(const std::function<void(const watch::ObjectKey&)>& visit) const
{
    for (const auto& [ref, entry] : services_)
        if (entry.service)
            visit(ref);
}

void ServiceState::forEachSliceKey(const std::function<void(const watch::ObjectKey&)>& visit) const
{
    for (const auto& slice : slices_)
        visit(slice.key);
}

const ServiceProxy* ServiceState::proxy(const watch::ObjectKey& key) const
{
    auto found = services_.find(key);
    return found == services_.end() ? nullptr : found->second.proxy.get();
}

}  // namespace kipvs::proxy
