// SPDX-License-Identifier: Apache-2.0
// Everything the daemon does to the kernel, on the sync thread: start-up settings (sysctls,
// IPVS timeouts, kube-ipvs0), adopting what is already programmed, and each sync: the addresses
// on kube-ipvs0 and the IPVS table through the reconciler. It owns the netlink sockets; only
// the sync thread calls it.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"
#include "ipvs/client.h"
#include "ipvs/conntrack.h"
#include "ipvs/firewall_table.h"
#include "ipvs/links.h"
#include "ipvs/ownership.h"
#include "ipvs/reconciler.h"

namespace kipvs::daemon {

struct KernelSettings {
    ipvs::Timeouts timeouts;  // 0s leave the kernel's
    bool strictArp = false;
    std::vector<Cidr> excludedCidrs;  // --ipvs-exclude-cidrs: never touched
    ipvs::FirewallConfig firewall;
};

// One sync, as the event loop hands it over.
struct SyncRequest {
    // The virtual servers whose wanted state changed; nullopt: no longer wanted.
    std::map<ipvs::ServiceKey, std::optional<ipvs::VirtualServerState>> changes;
    std::set<InetAddress> boundAddresses;  // every address kube-ipvs0 must carry
    ipvs::FirewallSets firewall;           // the nftables sets, whole
    bool full = false;  // the periodic resync: re-read node addresses and check for drift first
};

struct SyncOutcome {
    bool ok = false;              // false: the sync as a whole failed (`errors` says why)
    std::vector<Error> errors;    // every refused operation or failed step, each retried next sync
    std::map<std::string, size_t> operationsByVerb;
    size_t driftRepairs = 0;
    bool firewallRebuilt = false;       // the whole nftables table was (re)written
    size_t conntrackDeleted = 0;        // stale UDP flows removed
    std::vector<InetAddress> nodeAddresses;  // as read now (set on a full sync and the first one)
    std::chrono::steady_clock::duration elapsed{};
};

class KernelWorker {
public:
    // Opens the IPVS and rtnetlink sockets. Fails without IPVS or CAP_NET_ADMIN.
    static Result<KernelWorker> open(KernelSettings settings);

    // Start-up: sysctls (failures are returned as warnings), timeouts, kube-ipvs0, and the
    // adoption of the owned virtual servers already in the kernel.
    Result<std::vector<Error>> prepare();
    SyncOutcome sync(const SyncRequest& request);
    // The node's own addresses, as prepare() or the last full sync read them.
    const std::vector<InetAddress>& nodeAddresses() const { return nodeAddresses_; }

private:
    KernelWorker(ipvs::Client client, ipvs::LinkClient links, ipvs::NftClient nft, KernelSettings settings);
    std::vector<ipvs::StaleFlow> staleUdpFlows(const SyncRequest& request) const;
    Result<void> refreshNodeAddresses();
    void syncAddresses(const std::set<InetAddress>& wanted, bool removals, std::vector<Error>& errors);

    std::unique_ptr<ipvs::Client> client_;  // stable addresses: the reconciler borrows them
    std::unique_ptr<ipvs::LinkClient> links_;
    KernelSettings settings_;
    std::unique_ptr<ipvs::Ownership> ownership_;
    std::unique_ptr<ipvs::Reconciler> reconciler_;
    std::unique_ptr<ipvs::FirewallTable> firewall_;
    std::map<ipvs::ServiceKey, ipvs::VirtualServerState> wanted_;
    std::set<InetAddress> linkAddresses_;  // on kube-ipvs0, as last read or changed
    int linkIndex_ = 0;
    bool firstSync_ = true;
    std::vector<InetAddress> nodeAddresses_;
};

}  // namespace kipvs::daemon
