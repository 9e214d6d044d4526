// SPDX-License-Identifier: Apache-2.0
// The state store: Services and EndpointSlices as the watches deliver them, the proxier's last
// result per Service, and which Services changed since the last sync. Recomputing touches only
// those, and reports only the virtual servers whose wanted state actually changed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipvs/netfilter/firewall.h"
#include "proxy/proxier.h"
#include "proxy/service_sets.h"
#include "watch/object_versions.h"

namespace kipvs::proxy {

// The virtual servers a recompute changed: the new state, or null when no longer wanted.
using WantedChanges = ipvs::WantedTable;

class ServiceState {
public:
    void upsertService(const watch::Service& service);
    void deleteService(const watch::ObjectKey& key);
    void upsertSlice(const watch::EndpointSlice& slice);
    void deleteSlice(const watch::ObjectKey& key);
    // The node or the configuration changed: every Service must be recomputed.
    void markAllDirty();

    size_t dirtyCount() const { return dirty_.size(); }

    // Recomputes the dirty Services and returns the virtual servers whose wanted state changed:
    // the new state (shared with wanted()), or null for one no longer wanted. Exactly what the
    // reconciler must look at.
    WantedChanges recompute(const NodeView& node, const ProxierConfig& config);

    // The one copy of the wanted virtual servers; the states are immutable and shared.
    size_t wantedCount() const { return wanted_.size(); }
    // The state wanted for `key`, or null.
    std::shared_ptr<const ipvs::VirtualServerState> wantedState(const ipvs::VirtualServerKey& key) const;
    // Every wanted virtual server (O(all): the dry run and tests).
    ipvs::WantedTable wantedTable() const;
    // Addresses for kube-ipvs0, over all Services (O(all): the dry run).
    std::set<InetAddress> serviceAddresses() const
    {
        const auto addresses = sets_.snapshot().serviceAddresses;
        return {addresses.begin(), addresses.end()};
    }
    // Services with a Local traffic policy that have endpoints, none of them on this node, by
    // family (kube-proxy's kubeproxy_sync_proxy_rules_no_local_endpoints_total).
    struct NoLocalEndpoints {
        size_t internalV4 = 0, internalV6 = 0, externalV4 = 0, externalV6 = 0;
    };
    NoLocalEndpoints noLocalEndpoints() const { return noLocal_; }
    // The nftables sets over all Services (O(all): tests). The node's primary IPs given to
    // recompute() (--bind-address, or the Node's InternalIP of each family) decide whether the
    // node itself may reach a load-balancer IP with source ranges: kube-proxy lets it when its
    // node IP is in them.
    ipvs::FirewallSets firewallSets() const { return sets_.snapshot(); }
    // The elements of the nftables sets (the service addresses among them: kube-ipvs0's) whose
    // membership changed since the last call: what the next sync must change.
    ipvs::FirewallSetChanges takeSetChanges() { return sets_.takeChanges(); }
    // Health-check node port -> (namespace, name, ready local endpoints), over all Services.
    struct HealthCheck {
        std::string namespaceName, name;
        size_t localEndpoints = 0;
    };
    const std::map<uint16_t, HealthCheck>& healthChecks() const { return healthChecks_; }
    // The proxier's warnings (an invalid scheduler annotation...) from the recomputes since the
    // last call, each prefixed with its Service.
    std::vector<std::string> takeWarnings() { return std::exchange(warnings_, {}); }
    // The proxier's result for one Service (warnings, the nftables sets...), if it has one.
    const ServiceProxy* proxy(const watch::ObjectKey& key) const;
    // Virtual servers that more than one Service wants (each is programmed for one of them).
    size_t conflicts() const;

    // The resourceVersion of the Service or EndpointSlice held under `key`; null when none is.
    const std::string* serviceVersion(const watch::ObjectKey& key) const;
    const std::string* sliceVersion(const watch::ObjectKey& key) const;
    // The keys of the Services (not those known only from their slices), or of the slices, held.
    void forEachServiceKey(const std::function<void(const watch::ObjectKey&)>& visit) const;
    void forEachSliceKey(const std::function<void(const watch::ObjectKey&)>& visit) const;

private:
    // A Service's namespace (pooled: 8 bytes, not a string of its own per table entry) and name.
    using ServiceRef = watch::ObjectKey;
    // Takes `ref`'s virtual servers out of the wanted table, returning what it wanted.
    ipvs::WantedTable release(const ServiceRef& ref);
    void recomputeService(const ServiceRef& ref, const NodeView& node, const ProxierConfig& config,
                          WantedChanges& changed);
    // Who keeps a virtual server two Services want: a ClusterIP before any other use of the
    // address:port, then the older Service (creationTimestamp), then namespace/name.
    struct ClaimRank {
        bool clusterIP = false;
        std::chrono::sys_seconds created{};
        ServiceRef ref;
        bool before(const ClaimRank& other) const;
    };
    ClaimRank rankOf(const ServiceRef& ref, const ServiceProxy& proxy, const ipvs::VirtualServerKey& key) const;
    // Whether `ref` may claim `key` now; a Service it takes the key from becomes a claimant.
    bool claim(const ServiceRef& ref, const ServiceProxy& proxy, const ipvs::VirtualServerKey& key);
    // Whether `ref` holds the virtual server of this IP:port, or nobody does.
    bool holds(const ServiceRef& ref, const IpPort& entry) const;
    SetExceptions exceptionsOf(const ServiceRef& ref, const ServiceProxy& proxy, const NodeView& node) const;
    // Adds or takes away one Service's result in the sets, counts and health checks over all.
    void count(const ServiceRef& ref, const ServiceProxy& proxy, ServiceSets::Change change);

    // Everything kept of one Service, under one key (three maps keyed by namespace and name cost
    // ~300 bytes more per Service). An entry goes when all three parts are empty.
    struct ServiceEntry {
        std::optional<watch::Service> service;  // none: deleted, or not seen yet (only its slices)
        std::shared_ptr<const ServiceProxy> proxy;  // the last recompute's result, if it gave one
        flat_set<watch::ObjectKey> slices;  // the EndpointSlices that name it
        bool empty() const { return !service && !proxy && slices.empty(); }
    };
    void eraseIfEmpty(std::map<ServiceRef, ServiceEntry>::iterator entry);

    std::map<ServiceRef, ServiceEntry> services_;
    // EndpointSlices by their own key (a map would hold each key twice).
    struct ByKey {
        using is_transparent = void;
        static const watch::ObjectKey& keyOf(const watch::ObjectKey& key) { return key; }
        static const watch::ObjectKey& keyOf(const watch::EndpointSlice& slice) { return slice.key; }
        bool operator()(const auto& a, const auto& b) const { return keyOf(a) < keyOf(b); }
    };
    std::set<watch::EndpointSlice, ByKey> slices_;
    std::set<ServiceRef> dirty_;
    // A wanted virtual server and the Service it is programmed for: one table, not one for the
    // states and one for the owners (at 10,000 Services ~1.2 MB less). `owner` points at the
    // key of its entry in services_, which stays while that entry holds the proxy.
    struct Claim {
        std::shared_ptr<const ipvs::VirtualServerState> state;  // aliases into the proxy's virtual servers
        const ServiceRef* owner;
    };
    std::map<ipvs::VirtualServerKey, Claim> wanted_;
    // The other Services that want an owned virtual server: recomputed when its owner lets it go.
    std::map<ipvs::VirtualServerKey, std::set<ServiceRef>> claimants_;
    std::vector<std::string> warnings_;
    ServiceSets sets_;
    std::map<ServiceRef, SetExceptions> exceptions_;  // only the Services that have any
    std::map<uint16_t, HealthCheck> healthChecks_;
    NoLocalEndpoints noLocal_;
};

// The store's Services or EndpointSlices and their versions, lent to the reflector that feeds
// it (every object the reflector reports is stored, and every deletion erases).
class StoredVersions final : public watch::LentVersions {
public:
    enum class Of : uint8_t { Services, EndpointSlices };
    StoredVersions(const ServiceState& state, Of of) : state_(state), of_(of) {}

    const std::string* versionOf(const watch::ObjectKey& key) const override
    {
        return of_ == Of::Services ? state_.serviceVersion(key) : state_.sliceVersion(key);
    }
    void forEachKey(const std::function<void(const watch::ObjectKey&)>& visit) const override
    {
        if (of_ == Of::Services)
            state_.forEachServiceKey(visit);
        else
            state_.forEachSliceKey(visit);
    }

private:
    const ServiceState& state_;
    Of of_;
};

}  // namespace kipvs::proxy
