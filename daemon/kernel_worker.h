// SPDX-License-Identifier: Apache-2.0
// Everything the daemon does to the kernel, on the sync thread: start-up settings (sysctls,
// IPVS timeouts, kube-ipvs0), adopting what is already programmed, and each sync: the service
// ranges' local routes and the addresses on kube-ipvs0, the IPVS table through the reconciler,
// the nftables table and conntrack. It
// owns the netlink sockets; only the sync thread calls it.
#pragma once

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"
#include "daemon/drift_reader.h"
#include "daemon/sync_scheduler.h"
#include "ipvs/host/host_network.h"
#include "ipvs/host/sysctl.h"
#include "ipvs/netfilter/conntrack.h"
#include "ipvs/netfilter/firewall_table.h"
#include "ipvs/netfilter/nftables.h"
#include "ipvs/virtual_servers/reconciler.h"
#include "ipvs/virtual_servers/table.h"
#include "proxy/kernel_policy.h"
#include "proxy/owned_addresses.h"
#include "proxy/service_state.h"

namespace kipvs::daemon {

struct KernelSettings {
    std::string scheduler = "rr";  // --ipvs-scheduler: probed at start
    ipvs::Timeouts timeouts;  // 0s leave the kernel's
    bool strictArp = false;
    std::vector<Cidr> excludedCidrs;  // --ipvs-exclude-cidrs: never cleaned up unless wanted
    PortRange nodePorts = kDefaultNodePortRange;  // --service-node-port-range
    proxy::ConntrackPolicy conntrack;
    // A full sync compares at most this many (at least one) mirrored virtual servers with what its
    // reads found, and each FullContinued sync after it as many more: 2-5 ms a range in the test
    // VM, where the whole comparison held changes back 93-147 ms at 50,000 Services.
    size_t driftKeysPerSync = 1024;
};

// One sync, as the event loop hands it over. The virtual-server states are the event loop's own
// immutable ones, shared, not copied.
struct SyncRequest {
    SyncKind kind = SyncKind::Incremental;
    proxy::WantedChanges changes;  // changed virtual servers; null: no longer wanted
    // The nftables set elements that changed; its service addresses are kube-ipvs0's.
    ipvs::FirewallSetChanges firewall;
    ipvs::FirewallConfig firewallConfig;  // its rules: a change rebuilds the table
    // The service ranges to route as local: their addresses are not bound on kube-ipvs0.
    // Empty: every service address is bound as a /32 or /128.
    std::vector<Cidr> serviceRanges;
    // A full sync's reads, made apart by a DriftReader as planDriftRead() said; null: the full
    // sync reads for itself.
    std::shared_ptr<const DriftSnapshot> drift;
};

struct SyncOutcome {
    SyncKind kind = SyncKind::Incremental;  // as the request asked
    bool ok = false;  // false: the sync as a whole failed (`errors` says why)
    size_t pendingKeys = 0;  // virtual servers not yet as wanted: retried by the next sync
    std::vector<Error> errors;  // every refused operation or failed step, each retried next sync
    std::map<std::string, size_t> operationsByVerb;
    size_t driftRepairs = 0;
    // The full sync's comparison is not done: a FullContinued sync is to follow (SyncKind).
    bool fullSyncContinues = false;
    bool firewallRebuilt = false;  // the whole nftables table was (re)written
    std::vector<ipvs::ConntrackPass> conntrack;  // the conntrack reconciliation, when it ran
    std::vector<InetAddress> nodeAddresses;  // as read now (set on a full sync and the first one)
    std::chrono::steady_clock::duration elapsed{};
    // Where the time went, by step ("read", "addresses", "IPVS", "nftables", "conntrack"), and
    // for a full sync "sysctls", "drift" (its continuations too) and "snapshot": its reads, made
    // apart before it (not in `elapsed`).
    std::map<std::string, std::chrono::steady_clock::duration> steps;
};

// Adds the time from its construction to its end to one step of a sync.
class StepTimer {
public:
    StepTimer(SyncOutcome& out, const char* step) : total_(out.steps[step]), started_(std::chrono::steady_clock::now())
    {}
    ~StepTimer() { total_ += std::chrono::steady_clock::now() - started_; }
    StepTimer(const StepTimer&) = delete;
    StepTimer& operator=(const StepTimer&) = delete;

private:
    std::chrono::steady_clock::duration& total_;
    std::chrono::steady_clock::time_point started_;
};

// What the daemon owns in the kernel now: the virtual servers on kube-ipvs0's addresses, those on
// the node's at NodePort ports, and `recorded` (what its table held as NodePorts), outside
// `excluded` (the wanted ones inside are managed too; see managed()). Read by start-up and by
// --cleanup alike.
struct OwnershipRules {
    std::vector<Cidr> excluded;
    PortRange nodePorts = kDefaultNodePortRange;
    std::set<IpPort> recorded;
};
Result<proxy::OwnedAddresses> readOwnedAddresses(ipvs::HostNetwork& host, const OwnershipRules& rules);

// The kernel behind the worker, one interface per part: the netlink and nftables clients, or
// tests' in-memory fake with its fault table.
struct Kernel {
    std::unique_ptr<ipvs::VirtualServerTable> ipvs;
    std::unique_ptr<ipvs::HostNetwork> host;
    std::unique_ptr<ipvs::Nftables> nft;
    std::unique_ptr<ipvs::ConntrackTable> conntrack;
    ipvs::Sysctls sysctls;  // /proc/sys: the IPVS sysctls, applied at start and by every full sync
};

class KernelWorker {
public:
    // Opens the IPVS, rtnetlink, nftables and conntrack clients. Fails without IPVS or
    // CAP_NET_ADMIN.
    static Result<KernelWorker> open(KernelSettings settings);
    KernelWorker(Kernel kernel, KernelSettings settings);

    // Start-up: configureHost(), then adopt().
    Result<std::vector<Error>> prepare();
    // The scheduler probe and sysctls (the IPVS ones' failures are returned as warnings; the
    // probe's and the conntrack ones' fail the start, as in kube-proxy), IPVS timeouts.
    Result<std::vector<Error>> configureHost();
    // kube-ipvs0, and the adoption of the owned virtual servers already in the kernel.
    Result<std::vector<Error>> adopt();
    SyncOutcome sync(const SyncRequest& request);
    // What the next full sync's reads are to read, when a DriftReader makes them while syncs go on;
    // from now until that full sync, what syncs change is left out of its comparisons. Called
    // while no sync runs.
    DriftReadPlan planDriftRead();
    // The node's own addresses, as prepare() or the last full sync read them.
    const std::vector<InetAddress>& nodeAddresses() const { return nodeAddresses_; }

private:
    // Removal of addresses no longer wanted comes after the virtual servers on them are gone.
    enum class AddressPass { AddOnly, AddAndRemove };

    // syncFirewall() on a thread of its own while the sync thread programs IPVS; the firewall
    // table is used by nothing else meanwhile. Its destructor waits for the thread.
    class FirewallStep {
    public:
        FirewallStep(KernelWorker& worker, const SyncRequest& request);
        // Waits, and adds the step's errors, time and rebuild to `out`; once.
        void join(SyncOutcome& out);

    private:
        std::future<SyncOutcome> done_;
    };

    // kube-ipvs0's addresses as last read or changed, and what it must carry as the changes made
    // it: kept in owned_, since the daemon owns the virtual servers on either.
    std::set<InetAddress>& linkAddresses() { return owned_.serviceAddresses; }
    const std::set<InetAddress>& linkAddresses() const { return owned_.serviceAddresses; }
    std::set<InetAddress>& wantedAddresses() { return owned_.wantedServiceAddresses; }
    const std::set<InetAddress>& wantedAddresses() const { return owned_.wantedServiceAddresses; }
    std::optional<ipvs::ServedUdpFlows> udpFlowsToReconcile(const SyncRequest& request) const;
    std::set<ipvs::VirtualServerKey> takeChanges(const proxy::WantedChanges& changes);
    size_t pendingKeys() const;
    Result<void> rereadHost();
    Result<void> readRecordedNodePorts();
    Result<void> readWantedUnowned();
    void takeAddressChanges(const ipvs::FirewallSetChanges& changes);
    void takeServiceRanges(const std::vector<Cidr>& ranges);
    void checkAllAddresses();
    void ownRoutedRanges();
    bool routedLocally(const InetAddress& address) const;
    void syncAddresses(AddressPass pass, std::vector<Error>& errors);
    void addRoutes(std::vector<Error>& errors);
    void removeRoutes(std::vector<Error>& errors);
    // How a sync treats the nftables table: the one that ends a full sync's comparison verifies
    // it, with the listing its reads made when they did; the others trust the last write.
    struct FirewallCheck {
        ipvs::FirewallTable::Check kind = ipvs::FirewallTable::Check::TrustLastWrite;
        std::shared_ptr<const DriftSnapshot> drift;
    };
    Result<FirewallCheck> fullSyncSteps(const SyncRequest& request, std::set<ipvs::VirtualServerKey>& dirty,
                                        SyncOutcome& out);
    Result<void> repairDrift(const SyncRequest& request, std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out);
    Result<void> compareNextRange(std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out);
    void takeDrift(const std::set<ipvs::VirtualServerKey>& drifted, const ipvs::KeyRange& range,
                   std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out);
    Result<void> programVirtualServers(const std::set<ipvs::VirtualServerKey>& dirty, SyncOutcome& out);
    void reapplySysctls(SyncOutcome& out);
    void syncFirewall(const ipvs::FirewallConfig& config, const FirewallCheck& check, SyncOutcome& out);
    void reconcileConntrack(const std::optional<ipvs::ServedUdpFlows>& udp, SyncOutcome& out);
    ipvs::IsManaged managed() const;
    ipvs::ListRead nextListRead();

    // The real servers of this many virtual servers are re-read by each drift check, in rotation.
    static constexpr size_t kDriftRealServerBudget = 64;
    // At least this many full syncs from one read of the whole virtual-server list to the next.
    static constexpr size_t kWholeListEvery = 10;

    Kernel kernel_;  // stable addresses: the reconciler and the firewall table borrow or own parts
    KernelSettings settings_;
    // Also the record of kube-ipvs0's addresses (linkAddresses(), wantedAddresses()).
    proxy::OwnedAddresses owned_;
    std::set<IpPort> recordedNodePorts_;  // the previous table's, read at start
    std::unique_ptr<ipvs::Reconciler> reconciler_;
    std::unique_ptr<ipvs::FirewallTable> firewall_;
    ipvs::WantedTable wanted_;  // the event loop's states, shared
    std::set<ipvs::VirtualServerKey> pending_;  // taken by a sync that failed before programming them
    // A full sync's comparison of what its reads found, while it goes on (see SyncKind).
    struct DriftPass {
        std::shared_ptr<const DriftSnapshot> snapshot;  // its `ipvs` read
        std::optional<ipvs::VirtualServerKey> next;  // where the next range starts
        size_t keysPerSync = 0;
    };
    std::optional<DriftPass> driftPass_;
    // Addresses that may differ between the two: the changed ones, those a pass could not settle,
    // and all of them after kube-ipvs0 was read again. A sync looks only at these.
    std::set<InetAddress> addressesToCheck_;
    std::set<Cidr> wantedRanges_;  // service ranges (networks) to route as local
    std::set<Cidr> linkRoutes_;  // routed as local, as last read or changed
    int linkIndex_ = 0;
    bool firstSync_ = true;
    size_t fullSyncsSinceWholeList_ = 0;
    std::set<std::string> unwritableSysctls_;  // failed at start (warned then): not retried
    bool hostUnsure_ = false;  // an address change failed: kube-ipvs0 is read again by the next sync
    bool conntrackPending_ = false;  // the last reconciliation failed: the next sync runs it again
    std::vector<InetAddress> nodeAddresses_;
};

}  // namespace kipvs::daemon
