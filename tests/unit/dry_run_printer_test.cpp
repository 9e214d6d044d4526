// SPDX-License-Identifier: Apache-2.0
// --dry-run's two output formats: ipvsadm's rule lines and the JSON contract.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "proxy/dry_run_printer.h"

using namespace kipvs;
using namespace kipvs::proxy;

namespace {

ipvs::VirtualServerState virtualServer(const char* address, uint16_t port, ipvs::Protocol protocol,
                                       const char* scheduler, std::vector<std::pair<const char*, uint16_t>> reals)
{
    ipvs::VirtualServerState s;
    s.server.key.address = *InetAddress::parse(address);
    s.server.key.family = s.server.key.address.family();
    s.server.key.port = port;
    s.server.key.protocol = protocol;
    s.server.scheduler = scheduler;
    for (auto [a, p] : reals) {
        ipvs::RealServer r;
        r.address = *InetAddress::parse(a);
        r.port = p;
        s.realServers.push_back(r);
    }
    return s;
}

ipvs::WantedTable tableOf(std::vector<ipvs::VirtualServerState> servers)
{
    ipvs::WantedTable t;
    for (auto& s : servers)
        t[s.server.key] = std::make_shared<const ipvs::VirtualServerState>(s);
    return t;
}

}  // namespace

TEST_CASE("ipvsadm rules: services, real servers, persistence, scheduler flags, IPv6, UDP and SCTP", "[unit]")
{
    auto plain = virtualServer("10.96.0.10", 53, ipvs::Protocol::Udp, "rr", {{"10.244.1.5", 53}});
    auto sticky = virtualServer("10.96.0.30", 80, ipvs::Protocol::Tcp, "rr", {{"10.244.1.10", 8080}});
    sticky.server.flags = ipvs::flag::kPersistent;
    sticky.server.timeout = 10800;
    auto masked = virtualServer("10.96.0.31", 80, ipvs::Protocol::Tcp, "wlc", {});
    masked.server.flags = ipvs::flag::kPersistent;
    masked.server.timeout = 60;
    masked.server.netmask = htonl(0xffffff00);
    auto maglev = virtualServer("fd00::40", 443, ipvs::Protocol::Tcp, "mh", {{"fd00:10::30", 8443}});
    maglev.server.flags = ipvs::flag::kMhFallback | ipvs::flag::kMhPort;
    maglev.realServers[0].weight = 0;
    auto sctp = virtualServer("10.96.0.50", 9, ipvs::Protocol::Sctp, "sh", {});
    sctp.server.flags = ipvs::flag::kShPort;

    CHECK(formatIpvsadmRules(tableOf({plain, sticky, masked, maglev, sctp})) ==
          "-A -t 10.96.0.30:80 -s rr -p 10800\n"
          "-a -t 10.96.0.30:80 -r 10.244.1.10:8080 -m -w 1\n"
          "-A -t 10.96.0.31:80 -s wlc -p 60 -M 255.255.255.0\n"
          "-A -u 10.96.0.10:53 -s rr\n"
          "-a -u 10.96.0.10:53 -r 10.244.1.5:53 -m -w 1\n"
          "-A --sctp-service 10.96.0.50:9 -s sh -b sh-port\n"
          "-A -t [fd00::40]:443 -s mh -b mh-fallback,mh-port\n"
          "-a -t [fd00::40]:443 -r [fd00:10::30]:8443 -m -w 0\n");
    CHECK(formatIpvsadmRules({}).empty());
}

TEST_CASE("JSON output follows the documented schema", "[unit]")
{
    auto sticky = virtualServer("10.96.0.30", 80, ipvs::Protocol::Tcp, "rr", {{"10.244.1.10", 8080}});
    sticky.server.flags = ipvs::flag::kPersistent;
    sticky.server.timeout = 10800;
    auto maglev = virtualServer("fd00::40", 443, ipvs::Protocol::Sctp, "mh", {});
    maglev.server.flags = ipvs::flag::kMhPort;
    const auto doc = nlohmann::json::parse(formatJson(
        tableOf({sticky, maglev}), {*InetAddress::parse("10.96.0.30"), *InetAddress::parse("fd00::40")}, {}));

    REQUIRE(doc["virtualServers"].size() == 2);
    const auto& v4 = doc["virtualServers"][0];
    CHECK(v4["protocol"] == "TCP");
    CHECK(v4["address"] == "10.96.0.30");
    CHECK(v4["port"] == 80);
    CHECK(v4["scheduler"] == "rr");
    CHECK(v4["persistentTimeoutSeconds"] == 10800);
    CHECK(v4["flags"] == nlohmann::json::array());
    CHECK(v4["realServers"] ==
          nlohmann::json::parse(R"([{"address":"10.244.1.10","port":8080,"weight":1,"forward":"masq"}])"));
    const auto& v6 = doc["virtualServers"][1];
    CHECK(v6["protocol"] == "SCTP");
    CHECK(v6["address"] == "fd00::40");
    CHECK(v6["persistentTimeoutSeconds"] == 0);
    CHECK(v6["flags"] == nlohmann::json::parse(R"(["mh-port"])"));
    CHECK(v6["realServers"] == nlohmann::json::array());
    CHECK(doc["addresses"] == nlohmann::json::parse(R"(["10.96.0.30","fd00::40"])"));
    CHECK(doc["serviceRanges"] == nlohmann::json::array());
    // With a routed range, the addresses inside it are not bound.
    const auto routed = nlohmann::json::parse(
        formatJson(tableOf({sticky, maglev}), {*InetAddress::parse("10.96.0.30"), *InetAddress::parse("fd00::40")},
                   {*Cidr::parse("10.96.0.0/12")}));
    CHECK(routed["addresses"] == nlohmann::json::parse(R"(["fd00::40"])"));
    CHECK(routed["serviceRanges"] == nlohmann::json::parse(R"(["10.96.0.0/12"])"));
}
