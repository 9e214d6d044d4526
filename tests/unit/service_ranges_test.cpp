// SPDX-License-Identifier: Apache-2.0
// Which service ranges the daemon routes: the flag's or the ServiceCIDRs', never one too wide or
// holding the node's own address.
#include <catch2/catch.hpp>

#include "proxy/service_ranges.h"

using namespace kipvs;
using kipvs::proxy::ServiceRanges;

namespace {

Cidr cidr(const char* text)
{
    return *Cidr::parse(text);
}

watch::ServiceCidr object(const char* name, std::vector<Cidr> cidrs)
{
    watch::ServiceCidr o;
    o.key.name = name;
    o.cidrs = std::move(cidrs);
    return o;
}

}  // namespace

TEST_CASE("Service ranges: the ServiceCIDRs' networks, each once, as they come and go", "[unit]")
{
    ServiceRanges ranges({});
    CHECK(ranges.followsCluster());
    CHECK(ranges.routable({}).ranges.empty());
    ranges.upsert(object("kubernetes", {cidr("10.96.0.1/12"), cidr("fd00:10:96::/112")}));
    ranges.upsert(object("extra", {cidr("10.96.0.0/12"), cidr("10.100.0.0/16")}));
    CHECK(ranges.routable({}).ranges ==
          std::vector<Cidr>{cidr("10.96.0.0/12"), cidr("10.100.0.0/16"), cidr("fd00:10:96::/112")});
    ranges.remove(object("extra", {}).key);
    CHECK(ranges.routable({}).ranges == std::vector<Cidr>{cidr("10.96.0.0/12"), cidr("fd00:10:96::/112")});
}

TEST_CASE("Service ranges: the flag's win over the ServiceCIDRs", "[unit]")
{
    ServiceRanges ranges({cidr("10.96.0.0/16")});
    CHECK_FALSE(ranges.followsCluster());
    ranges.upsert(object("kubernetes", {cidr("10.100.0.0/16")}));
    CHECK(ranges.routable({}).ranges == std::vector<Cidr>{cidr("10.96.0.0/16")});
}

TEST_CASE("Service ranges: one too wide, or holding a node address, is left out with the reason", "[unit]")
{
    ServiceRanges ranges({});
    ranges.upsert(object("wide", {cidr("10.0.0.0/7"), cidr("fd00::/48")}));
    ranges.upsert(object("node", {cidr("192.168.0.0/16")}));
    ranges.upsert(object("good", {cidr("10.96.0.0/12")}));
    auto routable = ranges.routable({*InetAddress::parse("192.168.1.10")});
    CHECK(routable.ranges == std::vector<Cidr>{cidr("10.96.0.0/12")});
    REQUIRE(routable.leftOut.size() == 3);
    CHECK(routable.leftOut[0] == "10.0.0.0/7 is too wide to route as local");
    CHECK(routable.leftOut[1] == "192.168.0.0/16 holds the node's own address 192.168.1.10");
    CHECK(routable.leftOut[2] == "fd00::/48 is too wide to route as local");
}
