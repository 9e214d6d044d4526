// SPDX-License-Identifier: Apache-2.0
// The IPVS client against the real kernel, checked with our own dumps and with `ipvsadm -Sn`.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <linux/capability.h>
#include <map>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "ipvs/host/links.h"
#include "ipvs/virtual_servers/client.h"
#include "ipvsadm_save.h"
#include "proxy/owned_addresses.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using kipvs::proxy::kServiceLinkName;
using kipvs::test::expectedSave;
using kipvs::test::ipvsadmSave;
using kipvs::test::SavedService;
using kipvs::test::SavedTable;

namespace {

InetAddress ip(const char* text)
{
    auto parsed = InetAddress::parse(text);
    REQUIRE(parsed);
    return *parsed;
}

VirtualServerKey key(Protocol protocol, const char* address, uint16_t port)
{
    auto a = ip(address);
    return VirtualServerKey{a.family(), protocol, a, port, 0};
}

VirtualServer service(VirtualServerKey k, const char* scheduler = "rr", uint32_t flags = 0, uint32_t timeout = 0)
{
    VirtualServer s;
    s.key = k;
    s.scheduler = scheduler;
    s.flags = flags;
    s.timeout = timeout;
    return s;
}

RealServer real(const char* address, uint16_t port, uint32_t weight = 1,
                ForwardMethod forward = ForwardMethod::Masquerade)
{
    RealServer r;
    r.address = ip(address);
    r.port = port;
    r.weight = weight;
    r.forward = forward;
    return r;
}

Client openClient()
{
    auto client = Client::open();
    if (!client)
        FAIL(client.error().message());
    REQUIRE(client->flush());
    return std::move(*client);
}

// Sends `count` UDP datagrams from this host to `address:port` so IPVS schedules connections.
void sendUdp(const char* address, uint16_t port, int count)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, address, &to.sin_addr);
    for (int i = 0; i < count; ++i)
        sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    close(fd);
}

// The connections the kernel counted for one virtual server ("-u 10.96.5.5:5353"), as
// `ipvsadm -Ln --stats --exact` prints them: the Conns column of its line.
uint64_t ipvsadmConnections(const std::string& service)
{
    std::istringstream lines(test::runCommand("ipvsadm -Ln --stats --exact " + service));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string protocol, address;
        uint64_t connections = 0;
        if (words >> protocol >> address >> connections && (protocol == "TCP" || protocol == "UDP"))
            return connections;
    }
    FAIL("ipvsadm listed no line for " << service);
    return 0;
}

}  // namespace

TEST_CASE("The client reports the kernel's IPVS version and table size", "[vm]")
{
    auto client = openClient();
    auto info = client.info();
    REQUIRE(info);
    CHECK(info->versionString() == "1.2.1");
    CHECK(info->connectionTableSize == 4096u);
}

TEST_CASE("Every kind of virtual server and real server reads back the same from us and from ipvsadm", "[vm]")
{
    auto client = openClient();
    VirtualServer fwmark4 = service(VirtualServerKey{AF_INET, Protocol::Tcp, {}, 0, 7}, "wlc");
    VirtualServer fwmark6 = service(VirtualServerKey{AF_INET6, Protocol::Tcp, {}, 0, 8}, "lc", flag::kPersistent, 300);
    VirtualServer masked = service(key(Protocol::Tcp, "10.96.0.20", 80), "rr", flag::kPersistent, 60);
    masked.netmask = htonl(0xffffff00);
    VirtualServer masked6 = service(key(Protocol::Tcp, "fd00::20", 80), "rr", flag::kPersistent, 60);
    masked6.netmask = 64;
    RealServer thresholds = real("10.244.3.3", 8080, 5);
    thresholds.upperThreshold = 100;
    thresholds.lowerThreshold = 10;

    std::vector<std::pair<VirtualServer, std::vector<RealServer>>> table = {
        {service(key(Protocol::Tcp, "10.96.0.10", 53)), {real("10.244.1.5", 53), real("10.244.2.5", 53, 0)}},
        {service(key(Protocol::Udp, "10.96.0.10", 53), "rr", flag::kOnePacket), {real("10.244.1.5", 53)}},
        {service(key(Protocol::Sctp, "10.96.0.11", 9999), "wrr"), {real("10.244.1.6", 9999, 2)}},
        {service(key(Protocol::Tcp, "fd00::10", 443), "sh", flag::kShPort | flag::kShFallback),
         {real("fd00:244::5", 8443)}},
        {service(key(Protocol::Udp, "fd00::10", 53), "mh", flag::kMhPort | flag::kMhFallback),
         {real("fd00:244::6", 53)}},
        {service(key(Protocol::Tcp, "10.96.0.12", 80), "rr", flag::kPersistent, 10800), {thresholds}},
        {service(key(Protocol::Tcp, "10.96.0.13", 80)),
         {real("10.244.4.4", 80, 1, ForwardMethod::Tunnel), real("10.244.4.5", 80, 2, ForwardMethod::DirectRoute)}},
        {fwmark4, {real("10.244.5.5", 0, 1, ForwardMethod::DirectRoute)}},
        {fwmark6, {}},
        {masked, {}},
        {masked6, {}},
    };
    // One virtual server per scheduler module the kernel ships.
    uint16_t port = 1000;
    for (const char* scheduler :
         {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf"})
        table.push_back({service(key(Protocol::Tcp, "10.96.1.1", port++), scheduler), {real("10.244.9.9", 80)}});

    std::vector<Operation> ops;
    for (const auto& [s, reals] : table) {
        ops.push_back(Operation::addVirtualServer(s));
        for (const auto& r : reals)
            ops.push_back(Operation::addRealServer(s.key, r));
    }
    const auto sendsBefore = client.counters().sends;
    auto report = client.apply(ops);
    REQUIRE(report);
    for (const auto& failure : report->failures)
        FAIL_CHECK(failure.error.message());
    CHECK(client.counters().sends - sendsBefore == 1);  // all of it in one sendmsg

    SECTION("our dump")
    {
        auto services = client.virtualServers();
        REQUIRE(services);
        REQUIRE(services->size() == table.size());
        for (const auto& [s, reals] : table) {
            INFO(s.key.toString());
            auto found = std::find_if(services->begin(), services->end(),
                                      [&](const VirtualServer& v) { return v.key == s.key; });
            REQUIRE(found != services->end());
            CHECK(found->sameSettings(s));
            CHECK((found->flags & flag::kHashed) != 0);  // the kernel's own bit, reported back
            auto dumped = client.realServers(s.key);
            REQUIRE(dumped);
            REQUIRE(dumped->size() == reals.size());
            for (const auto& r : reals) {
                INFO(r.endpoint());
                auto match = std::find_if(dumped->begin(), dumped->end(),
                                          [&](const RealServer& d) { return d.sameSettings(r); });
                CHECK(match != dumped->end());
            }
        }
        auto one = client.virtualServer(masked.key);
        REQUIRE(one);
        REQUIRE(one->has_value());
        CHECK((*one)->sameSettings(masked));
    }
    SECTION("ipvsadm -Sn")
    {
        CHECK(ipvsadmSave() == expectedSave(table));
    }
}

TEST_CASE("Scheduler, flags, timeout and weight change in place, keeping counters", "[vm]")
{
    auto client = openClient();
    auto links = LinkClient::open();
    REQUIRE(links);
    auto index = links->ensureDummyLink(kServiceLinkName);
    REQUIRE(index);
    REQUIRE(links->addAddress(*index, ip("10.96.5.5")));

    VirtualServer s = service(key(Protocol::Udp, "10.96.5.5", 5353));
    RealServer r = real("10.244.7.7", 5353);
    REQUIRE(client.addVirtualServer(s));
    REQUIRE(client.addRealServer(s.key, r));
    sendUdp("10.96.5.5", 5353, 3);  // scheduled to the real server, then dropped: no route

    // The kernel sums its per-CPU counters every 2 s (the rate estimator): wait for them. The
    // client checks a dump's counters but does not keep them; ipvsadm reads them.
    uint64_t before = 0;
    for (int attempt = 0; attempt < 50 && before == 0; ++attempt) {
        before = ipvsadmConnections("-u 10.96.5.5:5353");
        if (before == 0)
            usleep(100 * 1000);
    }
    REQUIRE(before >= 1);
    auto reals = client.realServers(s.key);
    REQUIRE(reals);
    REQUIRE(reals->size() == 1);
    CHECK(reals->front().connections >= 1);  // the UDP connection entry (inactive)

    s.scheduler = "mh";
    s.flags = flag::kPersistent | flag::kMhPort;
    s.timeout = 600;
    REQUIRE(client.editVirtualServer(s));
    r.weight = 7;
    REQUIRE(client.editRealServer(s.key, r));

    auto after = client.virtualServer(s.key);
    REQUIRE(after);
    REQUIRE(after->has_value());
    CHECK((*after)->sameSettings(s));
    // A delete and re-add would have reset the counters.
    CHECK(ipvsadmConnections("-u 10.96.5.5:5353") >= before);
    auto realsAfter = client.realServers(s.key);
    REQUIRE(realsAfter);
    REQUIRE(realsAfter->size() == 1);
    CHECK(realsAfter->front().weight == 7u);
    CHECK(realsAfter->front().connections >= 1u);  // still the same real server
    CHECK(ipvsadmSave() == expectedSave({{s, {r}}}));

    SECTION("and zeroing counters clears them")
    {
        REQUIRE(client.zeroCounters(s.key));
        CHECK(ipvsadmConnections("-u 10.96.5.5:5353") == 0u);
    }
}

TEST_CASE("Adding twice and deleting twice both succeed and leave the table as wanted", "[vm]")
{
    auto client = openClient();
    VirtualServer s = service(key(Protocol::Tcp, "10.96.0.30", 80));
    RealServer r = real("10.244.0.30", 8080);
    for (int round = 0; round < 2; ++round) {
        REQUIRE(client.addVirtualServer(s));
        REQUIRE(client.addRealServer(s.key, r));
    }
    CHECK(ipvsadmSave() == expectedSave({{s, {r}}}));
    for (int round = 0; round < 2; ++round) {
        REQUIRE(client.deleteRealServer(s.key, r));
        CHECK(ipvsadmSave() == expectedSave({{s, {}}}));
    }
    for (int round = 0; round < 2; ++round)
        REQUIRE(client.deleteVirtualServer(s.key));
    CHECK(ipvsadmSave().empty());
    CHECK(client.counters().errors == 0u);
}

TEST_CASE("Kernel refusals come back with the operation, the object and the errno", "[vm]")
{
    auto client = openClient();
    SECTION("an unknown scheduler")
    {
        auto added = client.addVirtualServer(service(key(Protocol::Tcp, "10.96.0.40", 80), "nosuch"));
        REQUIRE_FALSE(added);
        CHECK(added.error().code == ENOENT);
        CHECK(added.error().message().find("add virtual server TCP 10.96.0.40:80") == 0);
    }
    SECTION("editing a missing service")
    {
        auto edited = client.editVirtualServer(service(key(Protocol::Tcp, "10.96.0.41", 80)));
        REQUIRE_FALSE(edited);
        CHECK(edited.error().code == ESRCH);
    }
    SECTION("a real server for a missing service")
    {
        auto added = client.addRealServer(key(Protocol::Tcp, "10.96.0.42", 80), real("10.244.0.1", 80));
        REQUIRE_FALSE(added);
        CHECK(added.error().code == ESRCH);
        CHECK(added.error().message().find("10.96.0.42:80 -> 10.244.0.1:80") != std::string::npos);
    }
    SECTION("a failure inside a batch names its index and the rest still applies")
    {
        VirtualServer good = service(key(Protocol::Tcp, "10.96.0.43", 80));
        VirtualServer bad = service(key(Protocol::Tcp, "10.96.0.44", 80), "nosuch");
        VirtualServer last = service(key(Protocol::Udp, "10.96.0.43", 80));
        std::vector<Operation> ops = {Operation::addVirtualServer(good), Operation::addVirtualServer(bad),
                                      Operation::addRealServer(good.key, real("10.244.0.2", 80)),
                                      Operation::addRealServer(bad.key, real("10.244.0.2", 80)),
                                      Operation::addVirtualServer(last)};
        auto report = client.apply(ops);
        REQUIRE(report);
        REQUIRE(report->failures.size() == 2);
        CHECK(report->failures[0].index == 1u);
        CHECK(report->failures[0].error.code == ENOENT);
        CHECK(report->failures[1].index == 3u);
        CHECK(report->failures[1].error.code == ESRCH);
        CHECK(ipvsadmSave() == expectedSave({{good, {real("10.244.0.2", 80)}}, {last, {}}}));
    }
    SECTION("an invalid real-server weight")
    {
        VirtualServer s = service(key(Protocol::Tcp, "10.96.0.45", 80));
        REQUIRE(client.addVirtualServer(s));
        auto added = client.addRealServer(s.key, real("10.244.0.3", 80, 0x80000000u));
        REQUIRE_FALSE(added);
        CHECK(added.error().code == ERANGE);
    }
}

TEST_CASE("A batch of thousands of operations goes out in few sends", "[vm]")
{
    auto client = openClient();
    std::vector<Operation> ops;
    for (uint32_t i = 0; i < 2000; ++i) {
        VirtualServerKey k{AF_INET, Protocol::Tcp, InetAddress::v4(0x0a600000u + i), 80, 0};
        ops.push_back(Operation::addVirtualServer(service(k)));
        for (uint32_t j = 0; j < 4; ++j) {
            RealServer r;
            r.address = InetAddress::v4(0x0af40000u + j);
            r.port = 8080;
            ops.push_back(Operation::addRealServer(k, r));
        }
    }
    const auto before = client.counters();
    auto report = client.apply(ops);
    REQUIRE(report);
    CHECK(report->ok());
    CHECK(client.counters().messages - before.messages == ops.size());
    CHECK(client.counters().sends - before.sends < 20u);
    auto services = client.virtualServers();
    REQUIRE(services);
    CHECK(services->size() == 2000u);
    auto save = ipvsadmSave();
    CHECK(save.size() == 2000u);
    size_t reals = 0;
    for (const auto& [k, s] : save)
        reals += s.realServers.size();
    CHECK(reals == 8000u);
}

TEST_CASE("Lookups of 1,500 keys, every third absent, answer each in order, in few sends, as the dump does", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    std::vector<Operation> ops;
    std::vector<VirtualServerKey> keys;
    for (uint32_t i = 0; i < 1500; ++i) {
        VirtualServerKey k{AF_INET, i % 2 ? Protocol::Udp : Protocol::Tcp, InetAddress::v4(0x0a610000u + i), 53, 0};
        keys.push_back(k);
        if (i % 3 != 2)
            ops.push_back(Operation::addVirtualServer(service(k, i % 5 ? "rr" : "wlc")));
    }
    REQUIRE(client.apply(ops));
    const auto before = client.counters();
    auto found = client.lookUpVirtualServers(keys);
    REQUIRE(found);
    CHECK(client.counters().sends - before.sends == 3u);  // 512 a send
    REQUIRE(found->size() == keys.size());
    auto dumped = client.virtualServers();
    REQUIRE(dumped);
    std::map<VirtualServerKey, VirtualServer> listed;
    for (auto& v : *dumped)
        listed.emplace(v.key, v);
    for (size_t i = 0; i < keys.size(); ++i) {
        INFO(keys[i].toString());
        REQUIRE((*found)[i].has_value() == (i % 3 != 2));
        if ((*found)[i]) {
            CHECK((*found)[i]->key == keys[i]);
            CHECK((*found)[i]->sameSettings(listed.at(keys[i])));
            CHECK((*found)[i]->scheduler == (i % 5 ? "rr" : "wlc"));
        }
    }
    REQUIRE(client.flush());
}

TEST_CASE("Timeouts are read and set, and ipvsadm sees the same values", "[vm]")
{
    auto client = openClient();
    auto original = client.timeouts();
    REQUIRE(original);
    CHECK(original->tcp == 900u);
    REQUIRE(client.setTimeouts({901, 121, 301}));
    auto changed = client.timeouts();
    REQUIRE(changed);
    CHECK(*changed == Timeouts{901, 121, 301});
    CHECK(kipvs::test::runCommand("ipvsadm -Ln --timeout") == "Timeout (tcp tcpfin udp): 901 121 301\n");
    REQUIRE(client.setTimeouts({0, 0, 302}));  // 0 leaves a timeout alone
    CHECK(*client.timeouts() == Timeouts{901, 121, 302});
    REQUIRE(client.setTimeouts(*original));
}

TEST_CASE("Flush empties the table", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.addVirtualServer(service(key(Protocol::Tcp, "10.96.0.50", 80))));
    REQUIRE(client.addVirtualServer(service(key(Protocol::Tcp, "fd00::50", 80))));
    CHECK(ipvsadmSave().size() == 2u);
    REQUIRE(client.flush());
    CHECK(ipvsadmSave().empty());
    auto services = client.virtualServers();
    REQUIRE(services);
    CHECK(services->empty());
}

TEST_CASE("Without CAP_NET_ADMIN the client fails at open with EPERM", "[vm]")
{
    // Drop CAP_NET_ADMIN from the effective set in a child process, then try to open.
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2] = {};
        if (syscall(SYS_capget, &header, data) != 0)
            _exit(10);
        data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
        if (syscall(SYS_capset, &header, data) != 0)
            _exit(11);
        auto client = Client::open();
        if (client)
            _exit(12);
        if (client.error().code != EPERM || client.error().message().find("CAP_NET_ADMIN") == std::string::npos)
            _exit(13);
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
