// SPDX-License-Identifier: Apache-2.0
// The planner: wanted and actual virtual servers in, the fewest operations out.
#include <catch2/catch.hpp>

#include "ipvs/virtual_servers/planner.h"

using namespace kipvs;
using namespace kipvs::ipvs;

namespace {

// `connections`: active and inactive, summed, as a dump reports them.
RealServer rs(const char* address, uint32_t weight = 1, uint32_t connections = 0)
{
    RealServer r;
    r.address = *InetAddress::parse(address);
    r.port = 8080;
    r.weight = weight;
    r.connections = connections;
    return r;
}

VirtualServerState vs(std::vector<RealServer> reals, Protocol protocol = Protocol::Tcp, const char* scheduler = "rr")
{
    VirtualServerState v;
    v.server.key = VirtualServerKey{AF_INET, protocol, *InetAddress::parse("10.96.0.10"), 80, 0};
    v.server.scheduler = scheduler;
    v.realServers = std::move(reals);
    return v;
}

// "add virtual server TCP 10.96.0.10:80", "edit real server ... -> 10.244.0.1:8080 weight 0".
std::vector<std::string> describe(const std::vector<Operation>& ops)
{
    std::vector<std::string> out;
    for (const auto& op : ops) {
        std::string line = std::string(op.verb()) + " " + op.object();
        if (op.kind == Operation::Kind::EditRealServer || op.kind == Operation::Kind::AddRealServer)
            line += " weight " + std::to_string(op.realServer.weight);
        if (op.kind == Operation::Kind::EditVirtualServer || op.kind == Operation::Kind::AddVirtualServer)
            line += " " + op.virtualServer.scheduler;
        out.push_back(line);
    }
    return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("Planning one virtual server, case by case", "[unit]")
{
    const std::string svc = "TCP 10.96.0.10:80";
    struct Case {
        const char* name;
        std::optional<VirtualServerState> wanted;
        std::optional<VirtualServerState> actual;
        Lines expected;
    };
    const Case cases[] = {
        {.name = "nothing either side", .wanted = {}, .actual = {}, .expected = {}},
        {.name = "new: the service, then its real servers",
         .wanted = vs({rs("10.244.0.1"), rs("10.244.0.2")}),
         .actual = {},
         .expected = {"add virtual server " + svc + " rr", "add real server " + svc + " -> 10.244.0.1:8080 weight 1",
                      "add real server " + svc + " -> 10.244.0.2:8080 weight 1"}},
        {.name = "gone: one delete takes its real servers along",
         .wanted = {},
         .actual = vs({rs("10.244.0.1", 1, 10)}),
         .expected = {"delete virtual server " + svc}},
        {.name = "unchanged: nothing, whatever the counters",
         .wanted = vs({rs("10.244.0.1")}),
         .actual = vs({rs("10.244.0.1", 1, 12)}),
         .expected = {}},
        {.name = "a scheduler change is an edit in place",
         .wanted = vs({rs("10.244.0.1")}, Protocol::Tcp, "mh"),
         .actual = vs({rs("10.244.0.1")}),
         .expected = {"edit virtual server " + svc + " mh"}},
        {.name = "a weight change is an edit in place",
         .wanted = vs({rs("10.244.0.1", 3)}),
         .actual = vs({rs("10.244.0.1", 1)}),
         .expected = {"edit real server " + svc + " -> 10.244.0.1:8080 weight 3"}},
        {.name = "an endpoint added",
         .wanted = vs({rs("10.244.0.1"), rs("10.244.0.2")}),
         .actual = vs({rs("10.244.0.1")}),
         .expected = {"add real server " + svc + " -> 10.244.0.2:8080 weight 1"}},
        {.name = "an idle TCP endpoint removed is deleted at once",
         .wanted = vs({rs("10.244.0.1")}),
         .actual = vs({rs("10.244.0.1"), rs("10.244.0.2")}),
         .expected = {"delete real server " + svc + " -> 10.244.0.2:8080"}},
        {.name = "a TCP endpoint with connections drains at weight 0",
         .wanted = vs({rs("10.244.0.1")}),
         .actual = vs({rs("10.244.0.1"), rs("10.244.0.2", 1, 1)}),
         .expected = {"edit real server " + svc + " -> 10.244.0.2:8080 weight 0"}},
        {.name = "a draining endpoint with connections left is left alone",
         .wanted = vs({rs("10.244.0.1")}),
         .actual = vs({rs("10.244.0.1"), rs("10.244.0.2", 0, 2)}),
         .expected = {}},
        {.name = "a drained endpoint is deleted",
         .wanted = vs({rs("10.244.0.1")}),
         .actual = vs({rs("10.244.0.1"), rs("10.244.0.2", 0, 0)}),
         .expected = {"delete real server " + svc + " -> 10.244.0.2:8080"}},
        {.name = "a draining endpoint wanted again gets its weight back in place",
         .wanted = vs({rs("10.244.0.1"), rs("10.244.0.2")}),
         .actual = vs({rs("10.244.0.1"), rs("10.244.0.2", 0, 4)}),
         .expected = {"edit real server " + svc + " -> 10.244.0.2:8080 weight 1"}},
        {.name = "UDP endpoints are deleted at once, connections or not",
         .wanted = vs({}, Protocol::Udp),
         .actual = vs({rs("10.244.0.2", 1, 7)}, Protocol::Udp),
         .expected = {"delete real server UDP 10.96.0.10:80 -> 10.244.0.2:8080"}},
        {.name = "SCTP endpoints too",
         .wanted = vs({}, Protocol::Sctp),
         .actual = vs({rs("10.244.0.2", 1, 3)}, Protocol::Sctp),
         .expected = {"delete real server SCTP 10.96.0.10:80 -> 10.244.0.2:8080"}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto ops = planVirtualServer(c.wanted ? &*c.wanted : nullptr, c.actual ? &*c.actual : nullptr);
        CHECK(describe(ops) == c.expected);
    }
}

TEST_CASE("The kernel's hashed flag and the default netmask are not changes", "[unit]")
{
    auto wanted = vs({rs("10.244.0.1")});
    auto actual = wanted;
    actual.server.flags |= flag::kHashed;
    actual.server.netmask = 0xffffffff;
    CHECK(planVirtualServer(&wanted, &actual).empty());
    actual.server.flags |= flag::kPersistent;
    CHECK(planVirtualServer(&wanted, &actual).size() == 1);
}

TEST_CASE("The kernel against the wanted state: what differs, whatever the last plan was", "[unit]")
{
    auto at = [](const char* address, std::vector<RealServer> reals) {
        auto v = vs(std::move(reals));
        v.server.key.address = *InetAddress::parse(address);
        return v;
    };
    WantedTable wanted;
    MirrorTable kernel;
    for (const char* a : {"10.96.0.1", "10.96.0.2", "10.96.0.3"})
        wanted[at(a, {}).server.key] = std::make_shared<VirtualServerState>(at(a, {rs("10.244.0.1")}));
    // Same (counters aside), a real server lost with a failed sync, absent; one not wanted.
    kernel.emplace(at("10.96.0.1", {}).server.key, MirroredState(at("10.96.0.1", {rs("10.244.0.1", 1, 7)})));
    kernel.emplace(at("10.96.0.2", {}).server.key,
                   MirroredState(at("10.96.0.2", {rs("10.244.0.1"), rs("10.244.0.9")})));
    kernel.emplace(at("10.96.0.4", {}).server.key, MirroredState(at("10.96.0.4", {})));
    kernel.emplace(at("10.96.0.5", {}).server.key, MirroredState(at("10.96.0.5", {})));
    const auto managed = [](const VirtualServerKey& key) { return key.address != *InetAddress::parse("10.96.0.5"); };
    std::set<std::string> got;
    for (const auto& key : differingFromWanted(wanted, kernel, managed))
        got.insert(key.address.toString());
    CHECK(got == std::set<std::string>{"10.96.0.2", "10.96.0.3", "10.96.0.4"});
}

TEST_CASE("Thousands of real servers in any order: one replaced is two operations, found by index", "[unit]")
{
    std::vector<RealServer> wanted, kernel;
    for (uint32_t i = 0; i < 3000; ++i) {
        RealServer r = rs("10.128.0.0");
        r.address = InetAddress::v4(0x0a800000u + i);
        wanted.push_back(r);
    }
    kernel = wanted;
    std::reverse(kernel.begin(), kernel.end());  // a dump lists them in the kernel's order
    const RealServer gone = kernel.front();
    kernel.front().address = InetAddress::v4(0x0b000000u);  // a pod not wanted any more
    const auto w = vs(wanted), a = vs(kernel);
    CHECK(describe(planVirtualServer(&w, &a)) ==
          Lines{"add real server TCP 10.96.0.10:80 -> " + gone.endpoint() + " weight 1",
                "delete real server TCP 10.96.0.10:80 -> 11.0.0.0:8080"});
    CHECK_FALSE(w.sameSettings(a));
    auto same = vs(wanted);
    std::reverse(same.realServers.begin(), same.realServers.end());
    CHECK(w.sameSettings(same));

    const EndpointIndex index(kernel);
    REQUIRE(index.find(wanted[1]) != nullptr);
    CHECK(index.find(wanted[1])->address == wanted[1].address);
    CHECK(index.find(gone) == nullptr);
    RealServer otherPort = wanted[1];
    otherPort.port = 9090;
    CHECK(index.find(otherPort) == nullptr);
}

TEST_CASE("Two states compare by settings and real servers, sorted or not, counters aside", "[unit]")
{
    const auto sorted = vs({rs("10.244.0.1"), rs("10.244.0.2"), rs("10.244.0.3")});
    CHECK(sorted.sameSettings(vs({rs("10.244.0.1", 1, 7), rs("10.244.0.2"), rs("10.244.0.3", 1, 4)})));
    CHECK(sorted.sameSettings(vs({rs("10.244.0.3"), rs("10.244.0.1"), rs("10.244.0.2")})));
    CHECK_FALSE(sorted.sameSettings(vs({rs("10.244.0.1"), rs("10.244.0.2", 0), rs("10.244.0.3")})));
    CHECK_FALSE(sorted.sameSettings(vs({rs("10.244.0.1"), rs("10.244.0.2"), rs("10.244.0.4")})));
    CHECK_FALSE(sorted.sameSettings(vs({rs("10.244.0.3"), rs("10.244.0.2", 0), rs("10.244.0.1")})));
    CHECK_FALSE(sorted.sameSettings(vs({rs("10.244.0.1"), rs("10.244.0.2"), rs("10.244.0.3")}, Protocol::Tcp, "lc")));
}

TEST_CASE("A new virtual server's operations add exactly its wanted state, or not", "[unit]")
{
    auto wantedState = std::make_shared<VirtualServerState>(vs({rs("10.244.0.1"), rs("10.244.0.2")}));
    const VirtualServerKey key = wantedState->server.key;
    const WantedTable wanted{{key, wantedState}};
    const auto other = std::make_shared<VirtualServerState>(vs({rs("10.244.0.9")}, Protocol::Udp));
    // The plan for a new virtual server, then another's.
    std::vector<Operation> ops = planVirtualServer(wantedState.get(), nullptr);
    planVirtualServer(other.get(), nullptr, ops);
    REQUIRE(ops.size() == 5);
    CHECK(addedAsWanted(wanted, ops, 0, {}) == 3);
    CHECK(addedAsWanted(wanted, ops, 3, {}) == 0);  // not in `wanted`
    CHECK(addedAsWanted(wanted, ops, 1, {}) == 0);  // not an add of the virtual server
    CHECK(addedAsWanted(wanted, ops, 0, {2}) == 0);  // a real server's add refused
    // A real server with another weight, or one missing at the end of the plan.
    auto heavier = ops;
    heavier[2].realServer.weight = 5;
    CHECK(addedAsWanted(wanted, heavier, 0, {}) == 0);
    const std::vector<Operation> cut(ops.begin(), ops.begin() + 2);
    CHECK(addedAsWanted(wanted, cut, 0, {}) == 0);
    // Another operation on the same virtual server after them.
    auto more = std::vector<Operation>(ops.begin(), ops.begin() + 3);
    more.push_back(ops[2]);
    more.back().kind = Operation::Kind::DeleteRealServer;
    CHECK(addedAsWanted(wanted, more, 0, {}) == 0);
    // Wanted real servers out of endpoint order: the mirror keeps its lists sorted, so it follows.
    auto unsorted = std::make_shared<VirtualServerState>(vs({rs("10.244.0.2"), rs("10.244.0.1")}));
    CHECK(addedAsWanted(WantedTable{{key, unsorted}}, planVirtualServer(unsorted.get(), nullptr), 0, {}) == 0);
}
