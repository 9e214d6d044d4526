// SPDX-License-Identifier: Apache-2.0
// The reconciler's mirror against the in-memory kernel: what it keeps of the wanted state.
#include <catch2/catch.hpp>

#include <algorithm>

#include "fake_kernel.h"
#include "ipvs/virtual_servers/planner.h"
#include "ipvs/virtual_servers/reconciler.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using kipvs::test::FakeIpvs;
using kipvs::test::FaultTable;

namespace {

const VirtualServerKey kKey{AF_INET, Protocol::Tcp, *InetAddress::parse("10.96.0.10"), 80, 0};

std::shared_ptr<const VirtualServerState> stateOf(const VirtualServerKey& key,
                                                  std::initializer_list<const char*> addresses)
{
    auto state = std::make_shared<VirtualServerState>();
    state->server.key = key;
    for (const char* a : addresses) {
        RealServer r;
        r.address = *InetAddress::parse(a);
        r.port = 8080;
        state->realServers.push_back(r);
    }
    return state;
}

// TCP port 80 on `address`.
VirtualServerKey keyAt(const char* address)
{
    return VirtualServerKey{AF_INET, Protocol::Tcp, *InetAddress::parse(address), 80, 0};
}

std::shared_ptr<const VirtualServerState> wantedWith(std::initializer_list<const char*> addresses)
{
    return stateOf(kKey, addresses);
}

RealServer& inKernel(FakeIpvs& ipvs, const char* address)
{
    auto& reals = ipvs.table.at(kKey).realServers;
    auto found = std::find_if(reals.begin(), reals.end(),
                              [&](const RealServer& r) { return r.address == *InetAddress::parse(address); });
    REQUIRE(found != reals.end());
    return *found;
}

}  // namespace

TEST_CASE("The mirror keeps the wanted state itself once the kernel holds it; a change copies it, and a "
          "removal still reads the connections",
          "[unit]")
{
    FaultTable faults;
    FakeIpvs ipvs(faults);
    Reconciler reconciler(ipvs);
    const IsManaged managed = [](const VirtualServerKey&) { return true; };
    const auto first = wantedWith({"10.244.0.1", "10.244.0.2"});
    WantedTable wanted{{kKey, first}};
    REQUIRE(reconciler.sync(wanted, {kKey}, managed));
    CHECK(reconciler.mirror().at(kKey).shares(first));
    CHECK(differingFromWanted(wanted, reconciler.mirror(), managed).empty());

    // Connections on 10.244.0.2: the drift check's re-read finds no difference and keeps sharing.
    inKernel(ipvs, "10.244.0.2").connections = 3;
    auto drift = reconciler.checkDrift(100, ListRead::MirroredKeys, managed);
    REQUIRE(drift);
    CHECK(drift->empty());
    CHECK(reconciler.mirror().at(kKey).shares(first));

    // 10.244.0.2 is no longer wanted: its connections are read now, so it drains (weight 0) rather
    // than going, and the mirror's copy changes, never the state it shared.
    const auto second = wantedWith({"10.244.0.1"});
    wanted[kKey] = second;
    REQUIRE(reconciler.sync(wanted, {kKey}, managed));
    CHECK(ipvs.table.at(kKey).realServers.size() == 2);
    CHECK(inKernel(ipvs, "10.244.0.2").weight == 0);
    CHECK(reconciler.draining().count(kKey) == 1);
    CHECK_FALSE(reconciler.mirror().at(kKey).shares(second));
    CHECK(reconciler.mirror().at(kKey).state().realServers.size() == 2);
    REQUIRE(first->realServers.size() == 2);
    CHECK(first->realServers[1].weight == 1);
    CHECK(differingFromWanted(wanted, reconciler.mirror(), managed) == std::set<VirtualServerKey>{kKey});

    // Drained and gone: the kernel holds the wanted state again, and the mirror shares it.
    ipvs.table.at(kKey).realServers.pop_back();
    REQUIRE(ipvs.table.at(kKey).realServers.size() == 1);
    drift = reconciler.checkDrift(100, ListRead::Whole, managed);
    REQUIRE(drift);
    REQUIRE(reconciler.sync(wanted, *drift, managed));
    CHECK(reconciler.mirror().at(kKey).shares(second));
    CHECK(reconciler.draining().empty());
}

TEST_CASE("A key with a refused operation is not shared: the mirror says what the kernel took", "[unit]")
{
    FaultTable faults;
    FakeIpvs ipvs(faults);
    Reconciler reconciler(ipvs);
    const IsManaged managed = [](const VirtualServerKey&) { return true; };
    const auto wanted = wantedWith({"10.244.0.1", "10.244.0.2"});
    faults.add({kipvs::test::Call::IpvsOperation, ENOMEM, 2});  // the second real server's add
    const auto report = reconciler.sync({{kKey, wanted}}, {kKey}, managed);
    REQUIRE(report);
    CHECK(report->failures.size() == 1);
    CHECK_FALSE(reconciler.mirror().at(kKey).shares(wanted));
    CHECK(reconciler.mirror().at(kKey).state().realServers.size() == 1);
    REQUIRE(reconciler.sync({{kKey, wanted}}, {}, managed));
    CHECK(reconciler.mirror().at(kKey).shares(wanted));
}

TEST_CASE("A drift check whose reads ran while syncs went on leaves out what they touched, and asks again for a "
          "virtual server the dump missed",
          "[unit]")
{
    FaultTable faults;
    FakeIpvs ipvs(faults);
    Reconciler reconciler(ipvs);
    const IsManaged managed = [](const VirtualServerKey&) { return true; };
    const auto changed = keyAt("10.96.0.1"), skipped = keyAt("10.96.0.2"), edited = keyAt("10.96.0.3"),
               deleted = keyAt("10.96.0.4");
    WantedTable wanted;
    for (const auto& key : {changed, skipped, edited, deleted})
        wanted[key] = stateOf(key, {"10.244.0.1"});
    REQUIRE(reconciler.sync(wanted, {changed, skipped, edited, deleted}, managed));

    // Someone edits one real server and deletes one virtual server; then the reads run.
    ipvs.table.at(edited).realServers[0].weight = 5;
    ipvs.table.erase(deleted);
    const auto plan = reconciler.beginDriftCheck(100, ListRead::Whole);
    CHECK(plan.realServerKeys.size() == 4);
    auto snapshot = readSnapshot(ipvs, plan);
    REQUIRE(snapshot);
    // The dump raced with the syncs' deletions and missed one that is still there.
    std::erase_if(snapshot->virtualServers, [&](const VirtualServer& v) { return v.key == skipped; });
    // In the kernel's hash order rather than sorted, with one listed twice.
    snapshot->virtualServers.push_back(snapshot->virtualServers.front());
    std::reverse(snapshot->virtualServers.begin(), snapshot->virtualServers.end());

    // While they ran, a sync gave `changed` a second real server: the snapshot holds its old state.
    wanted[changed] = stateOf(changed, {"10.244.0.1", "10.244.0.2"});
    REQUIRE(reconciler.sync(wanted, {changed}, managed));

    auto drift = reconciler.checkDrift(*snapshot, managed);
    REQUIRE(drift);
    CHECK(*drift == std::set<VirtualServerKey>{edited, deleted});
    CHECK(reconciler.mirror().at(changed).shares(wanted[changed]));
    CHECK(reconciler.mirror().count(skipped) == 1);
    CHECK(reconciler.mirror().count(deleted) == 0);
    REQUIRE(reconciler.sync(wanted, *drift, managed));
    CHECK(ipvs.table.at(edited).realServers[0].weight == 1);
    CHECK(ipvs.table.count(deleted) == 1);

    // The window closed with the check: a later inline check compares everything again.
    ipvs.table.at(changed).realServers.pop_back();
    auto inline_ = reconciler.checkDrift(100, ListRead::Whole, managed);
    REQUIRE(inline_);
    CHECK(*inline_ == std::set<VirtualServerKey>{changed});
}

TEST_CASE("A drift check that looks up each mirrored key finds a virtual server deleted or edited behind our back, "
          "leaves out what syncs touched meanwhile, and leaves one nobody wants to the whole list",
          "[unit]")
{
    FaultTable faults;
    FakeIpvs ipvs(faults);
    Reconciler reconciler(ipvs);
    const IsManaged managed = [](const VirtualServerKey&) { return true; };
    const auto kept = keyAt("10.96.0.1"), edited = keyAt("10.96.0.2"), deleted = keyAt("10.96.0.3"),
               changed = keyAt("10.96.0.4"), unwanted = keyAt("10.96.0.5");
    WantedTable wanted;
    for (const auto& key : {kept, edited, deleted, changed})
        wanted[key] = stateOf(key, {"10.244.0.1"});
    REQUIRE(reconciler.sync(wanted, {kept, edited, deleted, changed}, managed));

    ipvs.table.at(edited).server.scheduler = "wlc";
    ipvs.table.erase(deleted);
    ipvs.table[unwanted] = *stateOf(unwanted, {"10.244.0.9"});  // someone else's, on our address
    const auto plan = reconciler.beginDriftCheck(0, ListRead::MirroredKeys);
    CHECK(plan.keys == std::vector<VirtualServerKey>{kept, edited, deleted, changed});
    auto snapshot = readSnapshot(ipvs, plan);
    REQUIRE(snapshot);
    CHECK(snapshot->absent == std::vector<VirtualServerKey>{deleted});
    CHECK(snapshot->virtualServers.size() == 3);
    // While the lookups ran, a sync deleted `changed`; the snapshot still has it.
    wanted.erase(changed);
    REQUIRE(reconciler.sync(wanted, {changed}, managed));

    auto drift = reconciler.checkDrift(*snapshot, managed);
    REQUIRE(drift);
    CHECK(*drift == std::set<VirtualServerKey>{edited, deleted});
    CHECK(reconciler.mirror().count(changed) == 0);
    REQUIRE(reconciler.sync(wanted, *drift, managed));
    CHECK(ipvs.table.at(edited).server.scheduler == "rr");
    CHECK(ipvs.table.count(deleted) == 1);
    CHECK(ipvs.table.count(unwanted) == 1);

    auto whole = reconciler.checkDrift(0, ListRead::Whole, managed);
    REQUIRE(whole);
    CHECK(*whole == std::set<VirtualServerKey>{unwanted});
    REQUIRE(reconciler.sync(wanted, *whole, managed));
    CHECK(ipvs.table.count(unwanted) == 0);
}

TEST_CASE("A drift check compares each looked-up virtual server with its own mirrored state, in the mirror's "
          "order or out of it",
          "[unit]")
{
    const IsManaged managed = [](const VirtualServerKey&) { return true; };
    for (const bool reversed : {false, true}) {
        FaultTable faults;
        FakeIpvs ipvs(faults);
        Reconciler reconciler(ipvs);
        std::vector<VirtualServerKey> keys;
        WantedTable wanted;
        for (const char* address : {"10.96.0.1", "10.96.0.2", "10.96.0.3", "10.96.0.4", "10.96.0.5"}) {
            keys.push_back(keyAt(address));
            wanted[keys.back()] = stateOf(keys.back(), {"10.244.0.1"});
        }
        REQUIRE(reconciler.sync(wanted, std::set<VirtualServerKey>(keys.begin(), keys.end()), managed));
        ipvs.table.at(keys[1]).server.scheduler = "wlc";
        ipvs.table.at(keys[4]).server.timeout = 60;
        auto snapshot = readSnapshot(ipvs, reconciler.beginDriftCheck(0, ListRead::MirroredKeys));
        REQUIRE(snapshot);
        REQUIRE(snapshot->virtualServers.size() == 5);
        if (reversed)
            std::reverse(snapshot->virtualServers.begin(), snapshot->virtualServers.end());
        auto drift = reconciler.checkDrift(*snapshot, managed);
        REQUIRE(drift);
        CHECK(*drift == std::set<VirtualServerKey>{keys[1], keys[4]});
        CHECK(reconciler.mirror().at(keys[1]).state().server.scheduler == "wlc");  // as the kernel has it now
    }
}

TEST_CASE("A drift check compared a range of keys at a time finds what the whole comparison finds, each range only "
          "its own keys, and leaves out a key a sync touched between two ranges",
          "[unit]")
{
    const IsManaged managed = [](const VirtualServerKey&) { return true; };
    for (const auto list : {ListRead::Whole, ListRead::MirroredKeys}) {
        FaultTable faults;
        FakeIpvs ipvs(faults);
        Reconciler reconciler(ipvs);
        std::vector<VirtualServerKey> keys;
        WantedTable wanted;
        for (int n = 1; n <= 10; ++n) {
            keys.push_back(keyAt(("10.96.0." + std::to_string(n)).c_str()));
            wanted[keys.back()] = stateOf(keys.back(), {"10.244.0.1"});
        }
        REQUIRE(reconciler.sync(wanted, std::set<VirtualServerKey>(keys.begin(), keys.end()), managed));
        std::sort(keys.begin(), keys.end());
        ipvs.table.at(keys[1]).server.scheduler = "wlc";
        ipvs.table.erase(keys[4]);
        ipvs.table.at(keys[7]).realServers[0].weight = 5;
        const auto unwanted = keyAt("10.96.0.200");  // after every mirrored key: in the last range
        ipvs.table[unwanted] = *stateOf(unwanted, {"10.244.0.9"});
        auto snapshot = readSnapshot(ipvs, reconciler.beginDriftCheck(100, list));
        REQUIRE(snapshot);
        CHECK(sortedByKey(*snapshot));

        std::set<VirtualServerKey> drifted;
        std::optional<VirtualServerKey> from;
        size_t ranges = 0;
        for (;;) {
            const auto range = reconciler.nextDriftRange(from, 3);
            CHECK(range.from == from);
            auto found = reconciler.checkDrift(*snapshot, managed, range);
            REQUIRE(found);
            for (const auto& key : *found)
                CHECK(range.contains(key));
            drifted.merge(*found);
            ++ranges;
            if (!range.to)
                break;
            from = range.to;
            if (ranges == 1 && list == ListRead::MirroredKeys) {
                // Between two ranges a sync changes a key of a later one: the snapshot is old there.
                auto changed = std::make_shared<VirtualServerState>(*stateOf(keys[8], {"10.244.0.1", "10.244.0.2"}));
                changed->server.scheduler = "sh";
                wanted[keys[8]] = changed;
                REQUIRE(reconciler.sync(wanted, {keys[8]}, managed));
            }
        }
        auto reals = reconciler.endDriftCheck(*snapshot);
        REQUIRE(reals);
        drifted.merge(*reals);
        CHECK(ranges == 4);  // 10 mirrored keys, 3 a range
        if (list == ListRead::Whole)
            CHECK(drifted == std::set<VirtualServerKey>{keys[1], keys[4], keys[7], unwanted});
        else
            CHECK(drifted == std::set<VirtualServerKey>{keys[1], keys[4], keys[7]});  // lookups find no stranger
        CHECK(reconciler.mirror().count(keys[4]) == 0);
    }
}
