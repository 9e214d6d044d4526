// SPDX-License-Identifier: Apache-2.0
// Idempotency of IPVS operations and their descriptions.
#include <catch2/catch.hpp>

#include <cerrno>

#include "ipvs/host/address_plan.h"
#include "ipvs/virtual_servers/operation.h"

using namespace kipvs;
using namespace kipvs::ipvs;

TEST_CASE("Only EEXIST on add and ENOENT or ESRCH on delete count as already done", "[unit]")
{
    VirtualServerKey key{AF_INET, Protocol::Tcp, *InetAddress::parse("10.0.0.1"), 80, 0};
    RealServer r;
    r.address = *InetAddress::parse("10.1.0.1");
    struct Case {
        Operation op;
        int error;
        bool done;
    };
    const Case cases[] = {
        {Operation::addVirtualServer(VirtualServer::named(key)), EEXIST, true},
        {Operation::addVirtualServer(VirtualServer::named(key)), EINVAL, false},
        {Operation::addRealServer(key, r), EEXIST, true},
        {Operation::addRealServer(key, r), ESRCH, false},
        {Operation::deleteVirtualServer(key), ESRCH, true},
        {Operation::deleteVirtualServer(key), ENOENT, true},
        {Operation::deleteVirtualServer(key), EPERM, false},
        {Operation::deleteRealServer(key, r), ENOENT, true},
        {Operation::editVirtualServer(VirtualServer::named(key)), ESRCH, false},
        {Operation::editRealServer(key, r), ENOENT, false},
        {Operation::editVirtualServer(VirtualServer::named(key)), EEXIST, false},
    };
    for (const auto& c : cases) {
        INFO(c.op.verb() << " errno " << c.error);
        CHECK(c.op.alreadyDone(c.error) == c.done);
    }
}

TEST_CASE("Operations describe themselves for log lines", "[unit]")
{
    VirtualServerKey key{AF_INET6, Protocol::Udp, *InetAddress::parse("fd00::a"), 53, 0};
    RealServer r;
    r.address = *InetAddress::parse("fd00::1:5");
    r.port = 5353;
    auto op = Operation::deleteRealServer(key, r);
    CHECK(std::string(op.verb()) == "delete real server");
    CHECK(op.object() == "UDP [fd00::a]:53 -> [fd00::1:5]:5353");
    VirtualServerKey mark{AF_INET, Protocol::Tcp, {}, 0, 7};
    CHECK(Operation::addVirtualServer(VirtualServer::named(mark)).object() == "FWM 7 IPv4");
}

TEST_CASE("The address plan adds what is missing and removes what is not wanted", "[unit]")
{
    auto a = [](const char* s) { return *InetAddress::parse(s); };
    auto plan = planAddresses({a("10.0.0.1"), a("10.0.0.2"), a("fd00::1"), a("10.0.0.2")},
                              {a("10.0.0.2"), a("10.0.0.3"), a("fd00::2"), a("10.0.0.3")});
    CHECK(plan.add == std::vector<InetAddress>{a("10.0.0.3"), a("fd00::2")});
    CHECK(plan.remove == std::vector<InetAddress>{a("10.0.0.1"), a("fd00::1")});
    CHECK(planAddresses({a("10.0.0.1")}, {a("10.0.0.1")}).empty());
}
