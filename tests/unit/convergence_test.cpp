// SPDX-License-Identifier: Apache-2.0
// The kernel converges after any fault: the kernel worker on the in-memory kernel, a fault at
// every stage, then syncs with no new input. Each row checks that the fake kernel ends up
// exactly as wanted, with the operations expected, and that /healthz said 503 while it was not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "daemon/sync_report.h"
#include "fake_kernel.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using kipvs::test::Call;
using kipvs::test::FakeKernel;
using kipvs::test::Fault;
using kipvs::test::UdpFlow;

namespace {

InetAddress ip(const char* text)
{
    return *InetAddress::parse(text);
}

VirtualServerKey key(Protocol protocol, const char* address, uint16_t port)
{
    return {AF_INET, protocol, ip(address), port, 0};
}

RealServer real(const char* address, uint16_t port)
{
    RealServer r;
    r.address = ip(address);
    r.port = port;
    return r;
}

// What the event loop hands the sync thread for one state of the cluster.
struct Cluster {
    WantedTable wanted;
    std::set<InetAddress> bound;  // every service address; those inside `ranges` are not bound
    FirewallSets firewall;
    std::vector<Cidr> ranges;  // service ranges routed as local

    void add(const VirtualServerKey& k, std::vector<RealServer> reals, bool onNode = false)
    {
        auto state = std::make_shared<VirtualServerState>();
        state->server = VirtualServer::named(k);
        state->realServers = std::move(reals);
        wanted[k] = state;
        if (!onNode)
            bound.insert(k.address);
        (onNode ? firewall.external : firewall.clusterIPs).insert(IpPort{k.address, k.protocol, k.port});
        if (!onNode)
            firewall.serviceAddresses.insert(k.address);
    }
};

// DNS, the API server and a NodePort on the node's address.
Cluster before()
{
    Cluster c;
    c.add(key(Protocol::Udp, "10.96.0.10", 53), {real("10.244.0.5", 53)});
    c.add(key(Protocol::Tcp, "10.96.0.1", 443), {real("192.168.0.2", 6443)});
    c.add(key(Protocol::Tcp, "192.168.0.10", 30080), {real("10.244.0.7", 80)}, true);
    return c;
}

// DNS moved to another pod, a new Service, the API server's and the NodePort Service deleted:
// seven operations.
Cluster after()
{
    Cluster c;
    c.add(key(Protocol::Udp, "10.96.0.10", 53), {real("10.244.0.6", 53)});
    c.add(key(Protocol::Tcp, "10.96.0.20", 80), {real("10.244.0.7", 8080), real("10.244.0.8", 8080)});
    return c;
}
constexpr size_t kChangeOperations = 7;

daemon::SyncRequest request(daemon::SyncKind kind, const Cluster& from, const Cluster& to)
{
    daemon::SyncRequest r;
    r.kind = kind;
    for (const auto& [k, state] : to.wanted)
        if (!from.wanted.count(k) || !from.wanted.at(k)->sameSettings(*state))
            r.changes[k] = state;
    for (const auto& [k, state] : from.wanted)
        if (!to.wanted.count(k))
            r.changes[k] = nullptr;
    // Only what changed, as the event loop sends it: a retry with no new input sends nothing.
    r.firewall = changesBetween(from.firewall, to.firewall);
    r.serviceRanges = to.ranges;
    return r;
}

// Whether every part of the fake kernel is exactly as `c` wants.
bool converged(const FakeKernel& kernel, const Cluster& c)
{
    if (kernel.ipvs->table.size() != c.wanted.size())
        return false;
    for (const auto& [k, state] : c.wanted) {
        auto held = kernel.ipvs->table.find(k);
        if (held == kernel.ipvs->table.end() || !held->second.sameSettings(*state))
            return false;
    }
    std::set<InetAddress> bound;
    for (const auto& a : c.bound)
        if (std::none_of(c.ranges.begin(), c.ranges.end(), [&](const Cidr& range) { return range.contains(a); }))
            bound.insert(a);
    if (kernel.host->addressesOf("kube-ipvs0") != bound)
        return false;
    if (kernel.host->routes != std::set<Cidr>(c.ranges.begin(), c.ranges.end()))
        return false;
    for (const auto& [set, texts] : firewallElements(c.firewall)) {
        const auto keys = ipvs::setElementsOf(set, c.firewall);
        if (!kernel.nft->sets.count(set) ||
            kernel.nft->sets.at(set) != std::set<ipvs::SetElement>(keys.begin(), keys.end()))
            return false;
    }
    // No UDP flow to a virtual server answered by a pod that is not one of its real servers.
    for (const auto& flow : kernel.conntrack->flows) {
        auto served = c.wanted.find(VirtualServerKey{AF_INET, Protocol::Udp, flow.destination, flow.port, 0});
        if (served != c.wanted.end() &&
            std::none_of(served->second->realServers.begin(), served->second->realServers.end(),
                         [&](const RealServer& r) { return r.address == flow.replySource; }))
            return false;
    }
    return true;
}

// The daemon's sync thread and reporter over a fake kernel, health with a 1 ms sync period so
// "not synced for two periods" is true after any failed sync a few milliseconds old.
struct Rig {
    FakeKernel kernel;
    daemon::KernelWorker worker;
    status::Metrics metrics;
    proxy::HealthMonitor health{std::chrono::milliseconds(1), {AF_INET}};
    std::ostringstream logs;
    logging::Logger log{2, logging::LogFormat::Text, logs};
    daemon::SyncReporter reporter{metrics, health, log};

    explicit Rig(daemon::KernelSettings settings = {}) : worker(kernel.kernel(), std::move(settings))
    {
        health.nodeEligible(true);  // the Node is known and not being deleted: only syncs decide
        kernel.host->node.push_back({"eth0", ip("192.168.0.10")});
        // A UDP flow to DNS answered by the pod that goes in after(), as conntrack -L shows it.
        kernel.conntrack->flows.insert(UdpFlow{ip("10.96.0.10"), 53, ip("10.244.0.5")});
        REQUIRE(worker.adopt());
    }

    daemon::SyncOutcome sync(const daemon::SyncRequest& r)
    {
        reporter.changed(daemon::ChangeKind::Service, daemon::SyncReporter::Health::Queue);
        auto outcome = worker.sync(r);
        reporter.syncFinished(outcome, r.changes.size());
        return outcome;
    }

    int healthz()
    {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past two 1 ms sync periods
        return health.healthz().status;
    }
};

bool succeeded(const daemon::SyncOutcome& o)
{
    return o.ok && o.errors.empty() && o.pendingKeys == 0;
}

// No new input: the incremental retries the scheduler runs after a failed sync (two at most)
// succeed, the kernel ends up as `c` wants and /healthz says 200 again.
bool convergesWithoutInput(Rig& rig, const Cluster& c)
{
    daemon::SyncOutcome retry;
    for (int attempt = 0; attempt < 2 && !succeeded(retry); ++attempt)
        retry = rig.sync(request(daemon::SyncKind::Incremental, c, c));
    return succeeded(retry) && converged(rig.kernel, c) && rig.healthz() == 200;
}

struct FaultRow {
    const char* name;
    std::optional<Fault> fault;
    daemon::SyncKind failingSync = daemon::SyncKind::Incremental;
    std::function<void(FakeKernel&)> meanwhile = nullptr;  // done to the kernel just before that sync
    size_t extraAttempts = 0;  // operations the kernel handles more than once (a refused one, retried)
    // Whether the failed sync left the kernel as wanted, unknown to the daemon (every operation
    // took effect and only the acknowledgement was lost).
    enum class KernelAfter { Behind, AsWantedUnconfirmed } kernelAfter = KernelAfter::Behind;
};

}  // namespace

TEST_CASE("Every fault at every stage: the kernel converges with no new input, /healthz 503 until then", "[unit]")
{
    const auto deleteServiceLink = [](FakeKernel& k) { k.host->deleteLink("kube-ipvs0"); };
    const FaultRow rows[] = {
        {"ENOBUFS mid-batch (2 operations took effect)", Fault{Call::IpvsBatch, ENOBUFS, 2}},
        {"EMSGSIZE on send (nothing took effect)", Fault{Call::IpvsBatch, EMSGSIZE, 0}},
        {"ENOMEM on receive (all took effect, the acknowledgement lost)",
         Fault{Call::IpvsBatch, ENOMEM, Fault::kAll},
         {},
         nullptr,
         0,
         FaultRow::KernelAfter::AsWantedUnconfirmed},
        {"an operation refused with ENOMEM", Fault{Call::IpvsOperation, ENOMEM, 0}, {}, nullptr, 1},
        {"a failed real-server dump before a removal", Fault{Call::DumpRealServers, ENOBUFS}},
        {"a failed virtual-server lookup in a full sync", Fault{Call::ReadVirtualServer, ENOBUFS},
         daemon::SyncKind::Full},
        {"a failed node-address dump in a full sync", Fault{Call::NodeAddresses, ENOBUFS}, daemon::SyncKind::Full},
        {"kube-ipvs0 deleted, then an address added to it", std::nullopt, {}, deleteServiceLink},
        {"kube-ipvs0 failing to come back in a full sync", Fault{Call::EnsureLink, EPERM}, daemon::SyncKind::Full,
         deleteServiceLink},
        {"a failed kube-ipvs0 address add (both passes)", Fault{Call::AddAddress, ENOMEM, 0, 2}},
        {"a failed kube-ipvs0 address removal", Fault{Call::RemoveAddress, EBUSY}},
        {"an nftables transaction refused", Fault{Call::NftTransaction, EINVAL}},
        {"a conntrack dump failure", Fault{Call::ConntrackDump, ENOBUFS}},
    };
    for (const auto& row : rows) {
        DYNAMIC_SECTION(row.name)
        {
            Rig rig;
            const Cluster a = before(), b = after();
            auto first = rig.sync(request(daemon::SyncKind::Incremental, {}, a));
            REQUIRE(succeeded(first));
            REQUIRE(converged(rig.kernel, a));
            REQUIRE(rig.healthz() == 200);
            const size_t attemptsBefore = rig.kernel.ipvs->attempts;
            const size_t doneBefore = rig.kernel.ipvs->log.size();

            if (row.fault)
                rig.kernel.faults.add(*row.fault);
            if (row.meanwhile)
                row.meanwhile(rig.kernel);
            auto failed = rig.sync(request(row.failingSync, a, b));
            CHECK_FALSE(succeeded(failed));
            CHECK(rig.healthz() == 503);
            CHECK(converged(rig.kernel, b) == (row.kernelAfter == FaultRow::KernelAfter::AsWantedUnconfirmed));

            CHECK(convergesWithoutInput(rig, b));
            CHECK(rig.kernel.faults.pending() == 0);
            // The change's seven operations took effect once each, and nothing was sent twice
            // (what took effect before a fault is read back, not sent again).
            CHECK(rig.kernel.ipvs->log.size() - doneBefore == kChangeOperations);
            CHECK(rig.kernel.ipvs->attempts - attemptsBefore == kChangeOperations + row.extraAttempts);
        }
    }
}

// The first sync writes both tables whole; IPVS waits (10 s at most) for the nftables transaction
// to begin, which it does only if the two steps run at once.
TEST_CASE("The first sync writes the nftables table while it programs IPVS, and reports a failure of either", "[unit]")
{
    Rig rig;
    std::promise<void> transactionBegan;
    auto began = transactionBegan.get_future();
    std::atomic<bool> firstTransaction{true};
    bool overlapped = false, waited = false;
    rig.kernel.nft->onTransaction = [&] {
        if (firstTransaction.exchange(false))
            transactionBegan.set_value();
    };
    rig.kernel.ipvs->beforeApply = [&] {
        if (!std::exchange(waited, true))
            overlapped = began.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    };
    const Cluster a = before();
    SECTION("both succeed")
    {
        CHECK(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
        CHECK(overlapped);
        CHECK(converged(rig.kernel, a));
    }
    SECTION("the nftables transaction is refused: the sync says so, and the next one writes it")
    {
        rig.kernel.faults.add(Fault{Call::NftTransaction, EINVAL});
        auto first = rig.sync(request(daemon::SyncKind::Incremental, {}, a));
        CHECK(overlapped);
        CHECK_FALSE(succeeded(first));
        REQUIRE(first.errors.size() == 1);
        CHECK(first.errors.front().code == EINVAL);
        CHECK(first.steps.count("nftables"));
        CHECK(rig.kernel.ipvs->table.size() == a.wanted.size());
        CHECK(convergesWithoutInput(rig, a));
    }
    SECTION("the IPVS exchange fails: the sync waits for the nftables step, which took effect")
    {
        rig.kernel.faults.add(Fault{Call::IpvsBatch, EMSGSIZE, 0});
        auto first = rig.sync(request(daemon::SyncKind::Incremental, {}, a));
        CHECK(overlapped);
        CHECK_FALSE(succeeded(first));
        CHECK(first.firewallRebuilt);
        CHECK(rig.kernel.nft->table);
        CHECK(convergesWithoutInput(rig, a));
    }
}

TEST_CASE("What others do between syncs (ipvsadm -C, nft delete table, ip link del) the next full sync repairs",
          "[unit]")
{
    Rig rig;
    const Cluster a = before();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
    rig.kernel.ipvs->table.clear();
    rig.kernel.nft->deleteTable();
    rig.kernel.host->deleteLink("kube-ipvs0");
    REQUIRE_FALSE(converged(rig.kernel, a));
    auto full = rig.sync(request(daemon::SyncKind::Full, a, a));
    CHECK(succeeded(full));
    CHECK(full.driftRepairs == 3);
    CHECK(full.firewallRebuilt);
    CHECK(converged(rig.kernel, a));
}

TEST_CASE("Each full sync looks up every virtual server and repairs one deleted behind our back; one nobody wants "
          "on our addresses goes at the tenth, which reads the whole list",
          "[unit]")
{
    Rig rig;
    const Cluster a = before();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
    const auto unwanted = key(Protocol::Tcp, "10.96.0.10", 8080);  // someone else's, on a ClusterIP of ours
    rig.kernel.ipvs->table[unwanted] = VirtualServerState{VirtualServer::named(unwanted), {}};
    for (int fullSync = 1; fullSync < 10; ++fullSync) {
        rig.kernel.ipvs->table.erase(key(Protocol::Tcp, "10.96.0.1", 443));
        auto full = rig.sync(request(daemon::SyncKind::Full, a, a));
        CHECK(succeeded(full));
        CHECK(full.driftRepairs == 1);
        CHECK(rig.kernel.ipvs->table.count(unwanted) == 1);
    }
    auto tenth = rig.sync(request(daemon::SyncKind::Full, a, a));
    CHECK(succeeded(tenth));
    CHECK(tenth.driftRepairs == 1);
    CHECK(converged(rig.kernel, a));
}

TEST_CASE("A full sync whose reads ran while a change was synced repairs what others did before them, and takes "
          "nothing the change did for drift",
          "[unit]")
{
    Rig rig;
    const Cluster a = before();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
    // The verification lists the set the change adds to (one set per full sync, in rotation).
    daemon::DriftReadPlan plan;
    for (int n = 0; n < 40 && (!plan.firewall || plan.firewall->set != "cluster-ips-v4"); ++n)
        plan = rig.worker.planDriftRead();
    REQUIRE(plan.firewall);
    REQUIRE(plan.firewall->set == "cluster-ips-v4");
    CHECK(plan.ipvs.realServerKeys.size() == 3);
    const bool someoneEdits = GENERATE(false, true);
    if (someoneEdits) {
        rig.kernel.ipvs->table.erase(key(Protocol::Tcp, "192.168.0.10", 30080));
        rig.kernel.nft->sets.at("cluster-ips-v4")
            .erase(kipvs::test::elementKeys("10.96.0.1 . tcp . 443", ipvs::SetElementChange::Layout::Values));
    }
    auto drift = std::make_shared<daemon::DriftSnapshot>(daemon::DriftSnapshot{
        readSnapshot(*rig.kernel.ipvs, plan.ipvs), readFirewallSnapshot(*rig.kernel.nft, *plan.firewall), {}});
    REQUIRE(drift->ipvs);
    REQUIRE(*drift->firewall);
    // A new Service while the reads were under way: neither its virtual server nor its element
    // is in what they read.
    Cluster b = a;
    b.add(key(Protocol::Tcp, "10.96.0.30", 80), {real("10.244.0.9", 8080)});
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, a, b))));
    auto full = request(daemon::SyncKind::Full, b, b);
    full.drift = drift;
    const auto outcome = rig.sync(full);
    CHECK(succeeded(outcome));
    CHECK(outcome.driftRepairs == (someoneEdits ? 1 : 0));
    CHECK(outcome.firewallRebuilt == someoneEdits);
    CHECK(converged(rig.kernel, b));
}

TEST_CASE("A full sync compares one range of virtual servers; the syncs after it compare the rest, each taking the "
          "changes made meanwhile, the last verifying nftables, and a failed one ends the comparison",
          "[unit]")
{
    daemon::KernelSettings settings;
    settings.driftKeysPerSync = GENERATE(1, 0);  // 0 counts as 1: a range that held none would never end
    Rig rig(settings);
    const Cluster a = before();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
    // Someone deletes the virtual servers in the first and the last range (the table's order),
    // and the nftables table.
    const auto first = rig.kernel.ipvs->table.begin()->first, last = rig.kernel.ipvs->table.rbegin()->first;
    const auto readDrift = [&rig] {
        const auto plan = rig.worker.planDriftRead();
        return std::make_shared<daemon::DriftSnapshot>(
            daemon::DriftSnapshot{readSnapshot(*rig.kernel.ipvs, plan.ipvs), std::nullopt, {}});
    };
    rig.kernel.ipvs->table.erase(first);
    rig.kernel.ipvs->table.erase(last);
    rig.kernel.nft->deleteTable();
    auto full = request(daemon::SyncKind::Full, a, a);
    full.drift = readDrift();
    auto outcome = rig.sync(full);
    CHECK(succeeded(outcome));
    CHECK(outcome.fullSyncContinues);
    CHECK(outcome.driftRepairs == 1);  // the first range's
    CHECK_FALSE(outcome.firewallRebuilt);
    CHECK(rig.kernel.ipvs->table.count(first) == 1);
    CHECK(rig.kernel.ipvs->table.count(last) == 0);
    // The NodePort's pod moved meanwhile: the next sync carries it, and compares the next range.
    Cluster b = a;
    const auto nodePort = key(Protocol::Tcp, "192.168.0.10", 30080);
    b.add(nodePort, {real("10.244.0.8", 80)}, true);
    outcome = rig.sync(request(daemon::SyncKind::FullContinued, a, b));
    CHECK(succeeded(outcome));
    CHECK(outcome.steps.count("drift") == 1);
    CHECK_FALSE(outcome.firewallRebuilt);
    CHECK(rig.kernel.ipvs->table.at(nodePort).sameSettings(*b.wanted.at(nodePort)));
    size_t syncs = 2, repairs = 1 + outcome.driftRepairs;
    while (outcome.fullSyncContinues && syncs < 10) {
        outcome = rig.sync(request(daemon::SyncKind::FullContinued, b, b));
        CHECK(succeeded(outcome));
        repairs += outcome.driftRepairs;
        ++syncs;
    }
    CHECK(syncs == 3);  // three virtual servers, one a range
    CHECK(repairs == 2);
    CHECK(outcome.firewallRebuilt);  // the last one verified the table
    CHECK(converged(rig.kernel, b));
    CHECK(rig.logs.str().find("full sync, continued: synced in") != std::string::npos);

    // A continuation that fails ends the comparison; the retries are plain syncs again.
    rig.kernel.ipvs->table.erase(last);
    full = request(daemon::SyncKind::Full, b, b);
    full.drift = readDrift();
    REQUIRE(rig.sync(full).fullSyncContinues);
    Cluster c = b;
    c.add(key(Protocol::Tcp, "10.96.0.40", 80), {real("10.244.0.9", 8080)});
    rig.kernel.faults.add(Fault{Call::IpvsBatch, EPERM});
    outcome = rig.sync(request(daemon::SyncKind::FullContinued, b, c));
    CHECK_FALSE(succeeded(outcome));
    CHECK_FALSE(outcome.fullSyncContinues);
    CHECK_FALSE(convergesWithoutInput(rig, c));  // the deleted one waits for the next full sync
    CHECK(rig.kernel.ipvs->table.count(last) == 0);
    full = request(daemon::SyncKind::Full, c, c);
    full.drift = readDrift();
    for (outcome = rig.sync(full); outcome.fullSyncContinues;)
        outcome = rig.sync(request(daemon::SyncKind::FullContinued, c, c));
    CHECK(succeeded(outcome));
    CHECK(converged(rig.kernel, c));
}

TEST_CASE("A full sync writes back the IPVS sysctls someone reset", "[unit]")
{
    Rig rig;
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, before()))));
    rig.kernel.procSys.write("net/ipv4/vs/conntrack", "0\n");
    CHECK(succeeded(rig.sync(request(daemon::SyncKind::Full, before(), before()))));
    CHECK(rig.kernel.procSys.read("net/ipv4/vs/conntrack") == "1\n");
}

TEST_CASE("A sync after one change looks only at what changed; the full sync looks at everything", "[unit]")
{
    Rig rig;
    const Cluster a = before();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
    REQUIRE(converged(rig.kernel, a));
    // Someone removes the API server's address; then one new Service arrives.
    rig.kernel.host->linkAddresses[rig.kernel.host->links.at("kube-ipvs0")].erase(ip("10.96.0.1"));
    Cluster b = a;
    b.add(key(Protocol::Tcp, "10.96.0.30", 80), {real("10.244.0.9", 8080)});
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, a, b))));
    const auto bound = rig.kernel.host->addressesOf("kube-ipvs0");
    CHECK(bound.count(ip("10.96.0.30")) == 1);
    CHECK(bound.count(ip("10.96.0.1")) == 0);  // not looked at: the change did not name it
    // The periodic full sync reads kube-ipvs0 again and puts it back.
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Full, b, b))));
    CHECK(converged(rig.kernel, b));
}

TEST_CASE("The full sync puts back an address someone removed, and one someone added goes, though no change names "
          "them",
          "[unit]")
{
    Rig rig;
    const Cluster a = before();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, a))));
    auto& link = rig.kernel.host->linkAddresses[rig.kernel.host->links.at("kube-ipvs0")];
    link.erase(ip("10.96.0.1"));
    link.insert(ip("10.96.0.99"));
    auto full = request(daemon::SyncKind::Full, a, a);
    full.firewall = {};  // as the event loop sends it with nothing changed
    REQUIRE(succeeded(rig.sync(full)));
    CHECK(converged(rig.kernel, a));
}

TEST_CASE("A sync larger than one step: a failure in a later step leaves the earlier ones done, and converges",
          "[unit]")
{
    Rig rig;
    Cluster large;
    // 3,000 virtual servers of 2 real servers: 9,000 operations, in steps of 1,024 virtual servers.
    for (uint32_t i = 0; i < 3000; ++i) {
        const auto address = InetAddress::v4(0x0a600000 + 1 + i);  // 10.96.0.1 and on
        auto k = VirtualServerKey{AF_INET, Protocol::Tcp, address, 80, 0};
        large.add(k, {real("10.244.0.1", 8080), real("10.244.0.2", 8080)});
    }
    // The second step's exchange fails after 100 of its operations took effect; the third goes on.
    rig.kernel.faults.add(Fault{Call::IpvsBatch, ENOBUFS, 100, 1, 1});
    auto failed = rig.sync(request(daemon::SyncKind::Incremental, {}, large));
    CHECK_FALSE(succeeded(failed));
    // The first and third steps' virtual servers and the 100 operations are in; the rest is not.
    CHECK(rig.kernel.ipvs->log.size() == 1024 * 3 + 100 + (3000 - 2048) * 3);
    CHECK(failed.pendingKeys == 1024);  // the failed step's: the others were acknowledged
    CHECK(convergesWithoutInput(rig, large));
    CHECK(rig.kernel.ipvs->log.size() == 9000);  // nothing sent twice
}

TEST_CASE("A step's exchange fails after an earlier step's operations were refused: the next sync reads those "
          "again and converges",
          "[unit]")
{
    Rig rig;
    // 2,000 virtual servers of 2 real servers: two steps (1,024 and 976 virtual servers).
    Cluster programmed;
    Cluster grown;
    for (uint32_t i = 0; i < 2000; ++i) {
        const auto address = InetAddress::v4(0x0a600000 + 1 + i);  // 10.96.0.1 and on
        auto k = VirtualServerKey{AF_INET, Protocol::Tcp, address, 80, 0};
        programmed.add(k, {real("10.244.0.1", 8080), real("10.244.0.2", 8080)});
        grown.add(k, {real("10.244.0.1", 8080), real("10.244.0.2", 8080), real("10.244.0.3", 8080)});
    }
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, programmed))));
    // ipvsadm -C behind the daemon's back, then a real server more everywhere: the first step's
    // 1,024 "add real server" are refused (ESRCH), and the second step's exchange gets no reply,
    // which ends the sync.
    rig.kernel.ipvs->table.clear();
    rig.kernel.faults.add(Fault{Call::IpvsBatch, ETIMEDOUT, 0, 1, 1});
    REQUIRE_FALSE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, programmed, grown))));
    // The refused keys of the first step were left to be read again: one more sync converges.
    auto retry = rig.sync(request(daemon::SyncKind::Incremental, grown, grown));
    CHECK(succeeded(retry));
    CHECK(converged(rig.kernel, grown));
}

TEST_CASE("A key both refused and changed again is counted once among those left for the next sync", "[unit]")
{
    Rig rig;
    const auto apiServer = key(Protocol::Tcp, "10.96.0.1", 443);
    Cluster first;
    first.add(apiServer, {real("192.168.0.2", 6443)});
    // The kernel refuses adding the virtual server: its key is left unsettled.
    rig.kernel.faults.add(Fault{Call::IpvsOperation, ENOMEM, 0});
    REQUIRE(rig.sync(request(daemon::SyncKind::Incremental, {}, first)).pendingKeys == 1);
    // It changes again, and the next sync fails before programming anything: the same key is
    // now also among the sync's own.
    Cluster moved;
    moved.add(apiServer, {real("192.168.0.3", 6443)});
    rig.kernel.faults.add(Fault{Call::NodeAddresses, ENOBUFS});
    const auto failed = rig.sync(request(daemon::SyncKind::Full, first, moved));
    CHECK_FALSE(failed.ok);
    CHECK(failed.pendingKeys == 1);
    CHECK(convergesWithoutInput(rig, moved));
}

TEST_CASE("A step holds as many virtual servers as fit in 8,192 operations; a larger one is a step alone", "[unit]")
{
    Rig rig;
    Cluster large;
    // 20 virtual servers of 1,000 real servers: 1,001 operations each, 8 per step.
    std::vector<RealServer> reals;
    for (uint32_t r = 0; r < 1000; ++r) {
        RealServer rs;
        rs.address = InetAddress::v4(0x0af40000 + r);  // 10.244.0.0 and on
        rs.port = 8080;
        reals.push_back(rs);
    }
    for (uint32_t i = 0; i < 20; ++i)
        large.add(VirtualServerKey{AF_INET, Protocol::Tcp, InetAddress::v4(0x0a600001 + i), 80, 0}, reals);
    // The second step's exchange fails before anything in it took effect; the third goes on.
    rig.kernel.faults.add(Fault{Call::IpvsBatch, ENOBUFS, 0, 1, 1});
    auto failed = rig.sync(request(daemon::SyncKind::Incremental, {}, large));
    CHECK_FALSE(succeeded(failed));
    CHECK(rig.kernel.ipvs->log.size() == (8 + 4) * 1001);
    CHECK(convergesWithoutInput(rig, large));
    CHECK(rig.kernel.ipvs->log.size() == 20 * 1001);
}

namespace {

Cidr cidr(const char* text)
{
    return *Cidr::parse(text);
}

// before(), with the service range 10.96.0.0/16 routed and a Service's external IP outside it.
Cluster withRanges(Cluster c)
{
    c.ranges = {cidr("10.96.0.0/16")};
    c.add(key(Protocol::Tcp, "203.0.113.10", 80), {real("10.244.0.7", 80)});
    return c;
}

}  // namespace

TEST_CASE("Service ranges: one route each, no address inside bound, the ones outside bound", "[unit]")
{
    Rig rig;
    const Cluster a = withRanges(before());
    auto first = rig.sync(request(daemon::SyncKind::Incremental, {}, a));
    REQUIRE(succeeded(first));
    CHECK(converged(rig.kernel, a));
    CHECK(rig.kernel.host->routes == std::set<Cidr>{cidr("10.96.0.0/16")});
    CHECK(rig.kernel.host->addressesOf("kube-ipvs0") == std::set<InetAddress>{ip("203.0.113.10")});
    // Someone deletes the route: the full sync routes the range again.
    rig.kernel.host->routes.clear();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Full, a, a))));
    CHECK(converged(rig.kernel, a));
}

TEST_CASE("Service ranges: the /32s of an earlier start go once the route is in; a range that goes is bound first",
          "[unit]")
{
    Rig rig;
    Cluster bound = withRanges(before());
    bound.ranges.clear();
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, bound))));
    REQUIRE(converged(rig.kernel, bound));
    REQUIRE(rig.kernel.host->addressesOf("kube-ipvs0").count(ip("10.96.0.10")) == 1);
    const size_t operations = rig.kernel.ipvs->log.size();
    // The cluster's ServiceCIDR arrives: the same virtual servers, reached through the route.
    const Cluster routed = withRanges(before());
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, bound, routed))));
    CHECK(converged(rig.kernel, routed));
    CHECK(rig.kernel.ipvs->log.size() == operations);  // IPVS untouched
    // And leaves: every ClusterIP is bound again before the route goes.
    REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, routed, bound))));
    CHECK(converged(rig.kernel, bound));
    CHECK(rig.kernel.host->routes.empty());
}

TEST_CASE("Service ranges: a route the kernel refuses leaves the addresses bound until it is in", "[unit]")
{
    for (const auto& fault :
         {Fault{Call::AddRoute, ENOMEM}, Fault{Call::RemoveRoute, EBUSY}, Fault{Call::ListRoutes, ENOBUFS}}) {
        DYNAMIC_SECTION("errno " << fault.error)
        {
            Rig rig;
            Cluster bound = withRanges(before());
            bound.ranges.clear();
            const Cluster routed = withRanges(before());
            // Removal is tried when the range goes; the listing by a full sync.
            const Cluster& from = fault.call == Call::RemoveRoute ? routed : bound;
            const Cluster& to = fault.call == Call::RemoveRoute ? bound : routed;
            REQUIRE(succeeded(rig.sync(request(daemon::SyncKind::Incremental, {}, from))));
            rig.kernel.faults.add(fault);
            const auto kind = fault.call == Call::ListRoutes ? daemon::SyncKind::Full : daemon::SyncKind::Incremental;
            auto failed = rig.sync(request(kind, from, to));
            CHECK_FALSE(succeeded(failed));
            CHECK(rig.healthz() == 503);
            // Nothing is left unreachable meanwhile: each ClusterIP is bound or routed.
            for (const auto& a : before().bound) {
                INFO(a.toString());
                const bool routedThere = rig.kernel.host->routes.count(cidr("10.96.0.0/16")) > 0;
                CHECK((routedThere || rig.kernel.host->addressesOf("kube-ipvs0").count(a) == 1));
            }
            CHECK(convergesWithoutInput(rig, to));
        }
    }
}

TEST_CASE("Service ranges: a restart owns the virtual servers inside a routed range, bound or not", "[unit]")
{
    FakeKernel kernel;
    daemon::KernelWorker worker{kernel.kernel(), daemon::KernelSettings{}};
    kernel.host->node.push_back({"eth0", ip("192.168.0.10")});
    kernel.host->routes.insert(cidr("10.96.0.0/16"));
    // Left by the previous process: a Service deleted while it was down, inside the range.
    auto gone = VirtualServer::named(key(Protocol::Tcp, "10.96.5.5", 80));
    kernel.ipvs->table[gone.key].server = gone;
    // Someone else's, outside: never touched.
    auto theirs = VirtualServer::named(key(Protocol::Tcp, "10.97.0.1", 80));
    kernel.ipvs->table[theirs.key].server = theirs;
    REQUIRE(worker.adopt());
    const Cluster routed = withRanges(before());
    auto first = worker.sync(request(daemon::SyncKind::Incremental, {}, routed));
    CHECK(succeeded(first));
    CHECK(kernel.ipvs->table.count(gone.key) == 0);
    CHECK(kernel.ipvs->table.count(theirs.key) == 1);
    CHECK(kernel.host->routes == std::set<Cidr>{cidr("10.96.0.0/16")});
}
