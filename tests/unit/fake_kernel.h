// SPDX-License-Identifier: Apache-2.0
// An in-memory kernel behind the kernel worker's four interfaces (IPVS, the node's links and
// addresses, nftables, conntrack), with a fault table: any call can fail with a chosen errno, an
// IPVS batch part-way through. The IPVS table answers as the kernel does (EEXIST, ESRCH, ENOENT),
// nftables transactions are atomic, so what the worker believes can be checked against it.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/kernel_worker.h"
#include "ipvs/host/host_network.h"
#include "ipvs/netfilter/conntrack.h"
#include "ipvs/netfilter/nftables.h"
#include "ipvs/virtual_servers/table.h"
#include "temp_dir.h"

namespace kipvs::test {

// Every call the fake kernel can fail.
enum class Call {
    IpvsBatch,  // apply(): the exchange fails after `effective` operations took effect
    IpvsOperation,  // apply(): the kernel refuses the operation at index `effective`
    DumpVirtualServers,
    DumpRealServers,
    ReadVirtualServer,
    EnsureLink,
    AddAddress,
    RemoveAddress,
    ListAddresses,
    NodeAddresses,
    ListRoutes,
    AddRoute,
    RemoveRoute,
    NftTransaction,
    NftListing,
    ConntrackDump,
};

struct Fault {
    Call call;
    int error;
    size_t effective = 0;  // IpvsBatch: operations that took effect before the failure (kAll: every one)
    int times = 1;  // consecutive calls that fail
    int after = 0;  // calls that succeed before the first failure
    static constexpr size_t kAll = static_cast<size_t>(-1);
};

// Taken from the sync thread and, on a first sync, the nftables step's thread at once.
class FaultTable {
public:
    void add(Fault fault)
    {
        const std::lock_guard lock(mutex_);
        faults_.push_back(fault);
    }
    // The fault armed for `call`, consumed once; nullopt when the call succeeds.
    std::optional<Fault> take(Call call);
    size_t pending() const
    {
        const std::lock_guard lock(mutex_);
        return faults_.size();
    }

private:
    mutable std::mutex mutex_;
    std::vector<Fault> faults_;
};

class FakeIpvs : public ipvs::VirtualServerTable {
public:
    explicit FakeIpvs(FaultTable& faults) : faults_(faults) {}
    Result<std::vector<ipvs::VirtualServer>> virtualServers() override;
    Result<std::optional<ipvs::VirtualServer>> virtualServer(const ipvs::VirtualServerKey& key) override;
    Result<std::vector<ipvs::RealServer>> realServers(const ipvs::VirtualServerKey& key) override;
    Result<ipvs::BatchReport> apply(std::span<const ipvs::Operation> operations) override;

    std::map<ipvs::VirtualServerKey, ipvs::VirtualServerState> table;
    std::vector<std::string> log;  // "add virtual server TCP 10.96.0.1:443", every operation that took effect
    size_t attempts = 0;  // operations the kernel handled (took effect or refused)
    std::function<void()> beforeApply;  // called as each batch arrives, before any fault

private:
    int carryOut(const ipvs::Operation& op);
    FaultTable& faults_;
};

class FakeHost : public ipvs::HostNetwork {
public:
    explicit FakeHost(FaultTable& faults) : faults_(faults) {}
    Result<int> linkIndex(const std::string& name) override;
    Result<int> ensureDummyLink(const std::string& name) override;
    Result<std::vector<InetAddress>> addresses(int ifindex) override;
    Result<void> addAddress(int ifindex, const InetAddress& address) override;
    Result<void> removeAddress(int ifindex, const InetAddress& address) override;
    Result<std::vector<Cidr>> localRoutes() override;
    Result<void> addLocalRoute(const Cidr& range) override;
    Result<void> removeLocalRoute(const Cidr& range) override;
    Result<std::vector<ipvs::InterfaceAddress>> nodeAddresses(const std::string& excludedLink) override;

    void deleteLink(const std::string& name);  // as `ip link del` would
    std::set<InetAddress> addressesOf(const std::string& link) const;

    std::map<std::string, int> links;
    std::map<int, std::set<InetAddress>> linkAddresses;
    std::set<Cidr> routes;  // the service-range routes, by network
    std::vector<ipvs::InterfaceAddress> node;  // the node's own addresses

private:
    FaultTable& faults_;
    int nextIndex_ = 10;
};

// nft's text of an element ("10.0.0.1 . tcp . 80 . 10.1.0.0/16") as the kernel keys it, by the
// fake's own reading of the text: each field of a concatenation in whole 4-byte registers, a
// CIDR as its first and last address. Canonical (a single value without a last key).
ipvs::SetElement elementKeys(const std::string& text, ipvs::SetElementChange::Layout layout);

// The table `inet kube-ipvsd` as sets of element keys, changed by atomic transactions.
class FakeNftables : public ipvs::Nftables {
public:
    explicit FakeNftables(FaultTable& faults) : faults_(faults) {}
    Result<void> run(const std::string& commands) override;
    Result<std::string> listTableStructureJson(const std::string& name) override;
    Result<ipvs::SetElements> listSetElements(const std::string& table, const std::string& set) override;
    Result<void> changeSetElements(const std::string& table,
                                   const std::vector<ipvs::SetElementChange>& changes) override;
    Result<std::string> listChainJson(const std::string& family, const std::string& table,
                                      const std::string& chain) override;

    void deleteTable() { table = false, sets.clear(), rulesPerChain.clear(); }  // `nft delete table inet kube-ipvsd`

    bool table = false;
    std::map<std::string, std::set<ipvs::SetElement>> sets;
    std::map<std::string, size_t> rulesPerChain;  // as the last whole table wrote them
    size_t transactions = 0;  // accepted ones
    std::vector<ipvs::SetElementChange> lastChanges;  // of the last changeSetElements accepted
    std::function<void()> onTransaction;  // called as each transaction arrives, before any fault

private:
    FaultTable& faults_;
};

struct UdpFlow {
    InetAddress destination;  // the virtual server's address
    uint16_t port = 0;
    InetAddress replySource;  // the real server that answers
    auto operator<=>(const UdpFlow&) const = default;
};

class FakeConntrack : public ipvs::ConntrackTable {
public:
    explicit FakeConntrack(FaultTable& faults) : faults_(faults) {}
    Result<std::vector<ipvs::ConntrackPass>> reconcileUdpFlows(const ipvs::ServedUdpFlows& served) override;

    std::set<UdpFlow> flows;

private:
    FaultTable& faults_;
};

// The four parts and their shared fault table; kernel() hands them to a KernelWorker and keeps
// pointers for the test to look at.
struct FakeKernel {
    FaultTable faults;
    TempDir procSys;  // the IPVS sysctls, as /proc/sys holds them once set
    FakeIpvs* ipvs = nullptr;
    FakeHost* host = nullptr;
    FakeNftables* nft = nullptr;
    FakeConntrack* conntrack = nullptr;
    daemon::Kernel kernel();
};

}  // namespace kipvs::test
