// SPDX-License-Identifier: Apache-2.0
// Strict parsing and canonical printing of IP addresses.
#include <catch2/catch.hpp>

#include "base/inet_address.h"

using kipvs::InetAddress;

TEST_CASE("IPv4 addresses parse strictly, leading zeros as decimal", "[unit]")
{
    struct Case {
        const char* text;
        const char* canonical;  // nullptr: rejected
    };
    const Case cases[] = {
        {"10.96.0.10", "10.96.0.10"},
        {"0.0.0.0", "0.0.0.0"},
        {"255.255.255.255", "255.255.255.255"},
        {"010.001.000.010", "10.1.0.10"},  // decimal, never octal
        {"256.1.1.1", nullptr},
        {"1.2.3", nullptr},
        {"1.2.3.4.5", nullptr},
        {"1..2.3", nullptr},
        {"1.2.3.4 ", nullptr},
        {"0x1.2.3.4", nullptr},
        {"1234.1.1.1", nullptr},
        {"", nullptr},
        {"-1.2.3.4", nullptr},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        auto parsed = InetAddress::parse(c.text);
        if (!c.canonical) {
            CHECK_FALSE(parsed);
            continue;
        }
        REQUIRE(parsed);
        CHECK(parsed->isV4());
        CHECK(parsed->toString() == c.canonical);
    }
}

TEST_CASE("IPv6 addresses parse and print in RFC 5952 form", "[unit]")
{
    CHECK(InetAddress::parse("FD00:0:0::0001")->toString() == "fd00::1");
    CHECK(InetAddress::parse("2001:db8:0:0:1:0:0:1")->toString() == "2001:db8::1:0:0:1");
    CHECK(InetAddress::parse("::ffff:10.0.0.1")->isV6());
    CHECK_FALSE(InetAddress::parse("fe80::1%eth0"));
    CHECK_FALSE(InetAddress::parse("1:2:3:4:5:6:7:8:9"));
    CHECK_FALSE(InetAddress::parse(":::"));
}

TEST_CASE("Loopback and link-local are recognised per family", "[unit]")
{
    CHECK(InetAddress::parse("127.0.0.53")->isLoopback());
    CHECK(InetAddress::parse("::1")->isLoopback());
    CHECK_FALSE(InetAddress::parse("::2")->isLoopback());
    CHECK(InetAddress::parse("fe80::1")->isLinkLocal());
    CHECK(InetAddress::parse("febf::1")->isLinkLocal());
    CHECK_FALSE(InetAddress::parse("fec0::1")->isLinkLocal());
    CHECK(InetAddress::parse("169.254.1.1")->isLinkLocal());
}

TEST_CASE("Addresses order by family, then bytes", "[unit]")
{
    auto a = *InetAddress::parse("10.0.0.2");
    auto b = *InetAddress::parse("10.0.0.10");
    auto c = *InetAddress::parse("::1");
    CHECK(a < b);
    CHECK(b < c);
    CHECK(a == *InetAddress::parse("10.0.0.2"));
}

TEST_CASE("CIDRs parse strictly and contain addresses of their family only", "[unit]")
{
    auto v4 = kipvs::Cidr::parse("10.96.0.0/12");
    REQUIRE(v4);
    CHECK(v4->contains(*InetAddress::parse("10.111.255.255")));
    CHECK_FALSE(v4->contains(*InetAddress::parse("10.112.0.0")));
    CHECK_FALSE(v4->contains(*InetAddress::parse("::ffff:10.96.0.1")));
    auto v6 = kipvs::Cidr::parse("fd00::/108");
    REQUIRE(v6);
    CHECK(v6->contains(*InetAddress::parse("fd00::f:ffff")));
    CHECK_FALSE(v6->contains(*InetAddress::parse("fd00::10:0")));
    CHECK(kipvs::Cidr::parse("0.0.0.0/0")->contains(*InetAddress::parse("203.0.113.9")));
    for (const char* bad :
         {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "fd00::/129", "x/8", "10.0.0.0/08a"}) {
        INFO(bad);
        CHECK_FALSE(kipvs::Cidr::parse(bad));
    }
}
