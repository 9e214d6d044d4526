// SPDX-License-Identifier: Apache-2.0
// The reconciler against the real kernel: minimal updates, restart adoption without writes,
// drift repair, foreign virtual servers left alone. Checked with `ipvsadm -Sn`.
#include <catch2/catch.hpp>

#include <algorithm>

#include <arpa/inet.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipvs/virtual_servers/client.h"
#include "ipvs/virtual_servers/reconciler.h"
#include "ipvsadm_save.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using kipvs::test::expectedSaveOf;
using kipvs::test::ipvsadmSave;
using kipvs::test::runCommand;

namespace {

InetAddress ip(const char* text)
{
    return *InetAddress::parse(text);
}

// Ours: 10.96.0.0/16. Anything else is someone else's (keepalived, a human with ipvsadm...).
bool ours(const VirtualServerKey& key)
{
    return key.address.isV4() && key.address.data()[0] == 10 && key.address.data()[1] == 96;
}

const IsManaged managed = ours;

VirtualServerState vs(const char* address, uint16_t port, std::vector<const char*> reals, const char* scheduler = "rr")
{
    VirtualServerState v;
    v.server.key = VirtualServerKey{AF_INET, Protocol::Tcp, ip(address), port, 0};
    v.server.scheduler = scheduler;
    for (const char* r : reals) {
        RealServer rs;
        rs.address = ip(r);
        rs.port = 8080;
        v.realServers.push_back(rs);
    }
    return v;
}

struct Table {
    WantedTable wanted;
    std::set<VirtualServerKey> keys;
    void put(const VirtualServerState& v)
    {
        wanted[v.server.key] = std::make_shared<const VirtualServerState>(v);
        keys.insert(v.server.key);
    }
    void remove(const VirtualServerKey& k) { wanted.erase(k); }
    std::vector<VirtualServerState> list() const
    {
        std::vector<VirtualServerState> out;
        for (const auto& [k, v] : wanted)
            out.push_back(*v);
        return out;
    }
};

Client openClient()
{
    auto client = Client::open();
    if (!client)
        FAIL(client.error().message());
    return std::move(*client);
}

}  // namespace

TEST_CASE("Updates touch only what changed, with the fewest operations", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    t.put(vs("10.96.0.10", 80, {"10.244.1.5", "10.244.2.5"}));
    t.put(vs("10.96.0.11", 443, {"10.244.1.6"}));
    auto first = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(first);
    CHECK(first->operations == 5);
    CHECK(first->failures.empty());
    CHECK(ipvsadmSave() == expectedSaveOf(t.list()));

    struct Step {
        const char* name;
        std::function<void(Table&)> change;
        size_t operations;
    };
    const Step steps[] = {
        {"an endpoint added",
         [](Table& x) {
             x.put(vs("10.96.0.10", 80, {"10.244.1.5", "10.244.2.5", "10.244.3.5"}));
         },
         1},
        {"an endpoint removed",
         [](Table& x) {
             x.put(vs("10.96.0.10", 80, {"10.244.1.5", "10.244.3.5"}));
         },
         1},
        {"the scheduler changed",
         [](Table& x) {
             x.put(vs("10.96.0.10", 80, {"10.244.1.5", "10.244.3.5"}, "mh"));
         },
         1},
        {"affinity turned on",
         [](Table& x) {
             auto v = vs("10.96.0.11", 443, {"10.244.1.6"});
             v.server.flags = flag::kPersistent;
             v.server.timeout = 10800;
             x.put(v);
         },
         1},
        {"a service deleted", [](Table& x) { x.remove(vs("10.96.0.11", 443, {}).server.key); }, 1},
        {"nothing changed", [](Table&) {}, 0},
    };
    for (const auto& step : steps) {
        INFO(step.name);
        step.change(t);
        auto report = reconciler.sync(t.wanted, t.keys, managed);
        REQUIRE(report);
        CHECK(report->operations == step.operations);
        CHECK(report->failures.empty());
        CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
    }
}

TEST_CASE("A restarted process adopts the table without a single write", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    Table t;
    for (int i = 0; i < 50; ++i) {
        std::string address = "10.96.1." + std::to_string(i + 1);
        t.put(vs(address.c_str(), 80, {"10.244.1.5", "10.244.2.5", "10.244.3.5"}));
    }
    {
        Reconciler before(client);
        REQUIRE(before.adopt(managed));
        REQUIRE(before.sync(t.wanted, t.keys, managed)->operations == 200);
    }
    auto fresh = openClient();
    const auto messagesBefore = fresh.counters().messages;
    Reconciler after(fresh);
    REQUIRE(after.adopt(managed));
    CHECK(after.mirror().size() == 50);
    auto report = after.sync(t.wanted, t.keys, managed);
    REQUIRE(report);
    CHECK(report->operations == 0);
    CHECK(fresh.counters().messages == messagesBefore);  // reads use dumps, not writes
    CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
}

TEST_CASE("Drift behind the daemon's back is repaired; foreign virtual servers are left alone", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    t.put(vs("10.96.0.20", 80, {"10.244.1.5", "10.244.2.5"}));
    t.put(vs("10.96.0.21", 80, {"10.244.1.6"}));
    REQUIRE(reconciler.sync(t.wanted, t.keys, managed));

    // Someone else's service, and a human editing ours.
    runCommand("ipvsadm -A -t 10.200.0.1:80 -s wlc && ipvsadm -a -t 10.200.0.1:80 -r 10.9.9.9:80 -m");
    runCommand("ipvsadm -D -t 10.96.0.21:80");
    runCommand("ipvsadm -e -t 10.96.0.20:80 -r 10.244.2.5:8080 -m -w 5");

    REQUIRE(reconciler.adopt(managed));
    CHECK(reconciler.mirror().size() == 1);  // the foreign one is not even read in
    std::set<VirtualServerKey> everything = t.keys;
    everything.insert(VirtualServerKey{AF_INET, Protocol::Tcp, ip("10.200.0.1"), 80, 0});
    auto report = reconciler.sync(t.wanted, everything, managed);
    REQUIRE(report);
    CHECK(report->operations == 3);  // re-add the service and its real server, restore the weight
    auto save = ipvsadmSave();
    auto expected = expectedSaveOf(t.list());
    auto foreign =
        kipvs::test::parseIpvsadmSave("-A -t 10.200.0.1:80 -s wlc\n-a -t 10.200.0.1:80 -r 10.9.9.9:80 -m -w 1\n");
    expected.insert(foreign.begin(), foreign.end());
    CHECK(save == expected);
    REQUIRE(client.flush());
}

TEST_CASE("A refused operation is reported and the mirror re-reads the kernel", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    t.put(vs("10.96.0.30", 80, {"10.244.1.5"}, "nosuch"));
    auto report = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(report);
    REQUIRE(report->failures.size() == 2);  // the service, then its real server
    CHECK(report->failures[0].code == ENOENT);
    CHECK(report->failures[0].message().find("add virtual server TCP 10.96.0.30:80") == 0);
    CHECK(reconciler.mirror().empty());
    // Fixed on the next sync.
    t.put(vs("10.96.0.30", 80, {"10.244.1.5"}));
    auto retried = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(retried);
    CHECK(retried->failures.empty());
    CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
}

TEST_CASE("The periodic drift check finds edits and flushes, by the whole list or each key looked up, plus a "
          "rotation",
          "[vm]")
{
    const auto list = GENERATE(ListRead::Whole, ListRead::MirroredKeys);
    auto client = openClient();
    REQUIRE(client.flush());
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    for (int i = 0; i < 10; ++i) {
        std::string address = "10.96.2." + std::to_string(i + 1);
        t.put(vs(address.c_str(), 80, {"10.244.1.5", "10.244.2.5"}));
    }
    REQUIRE(reconciler.sync(t.wanted, t.keys, managed));
    auto clean = reconciler.checkDrift(3, list, managed);
    REQUIRE(clean);
    CHECK(clean->empty());

    SECTION("a weight changed by hand is found within a full rotation and restored")
    {
        runCommand("ipvsadm -e -t 10.96.2.10:80 -r 10.244.2.5:8080 -m -w 9");
        std::set<VirtualServerKey> found;
        int checks = 0;
        while (found.empty() && checks < 4) {  // 10 servers, 3 a check: all within 4 checks
            auto drift = reconciler.checkDrift(3, list, managed);
            REQUIRE(drift);
            found = *drift;
            ++checks;
        }
        REQUIRE(found.size() == 1);
        CHECK(found.begin()->address == ip("10.96.2.10"));
        auto repaired = reconciler.sync(t.wanted, found, managed);
        REQUIRE(repaired);
        CHECK(repaired->operations == 1);
        CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
    }
    SECTION("ipvsadm -C is found by the first check and everything comes back")
    {
        runCommand("ipvsadm -C");
        auto drift = reconciler.checkDrift(3, list, managed);
        REQUIRE(drift);
        CHECK(drift->size() == 10);
        auto repaired = reconciler.sync(t.wanted, *drift, managed);
        REQUIRE(repaired);
        CHECK(repaired->operations == 30);
        CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
    }
    SECTION("a scheduler changed by hand is found by the virtual servers' read alone")
    {
        runCommand("ipvsadm -E -t 10.96.2.1:80 -s wlc");
        auto drift = reconciler.checkDrift(0, list, managed);
        REQUIRE(drift);
        CHECK(drift->size() == 1);
        REQUIRE(reconciler.sync(t.wanted, *drift, managed));
        CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
    }
}

TEST_CASE("A TCP real server with connections drains at weight 0 and comes back in place", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    runCommand("ip link add kube-ipvs0 type dummy 2>/dev/null; ip addr add 10.96.3.1/32 dev kube-ipvs0");
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    t.put(vs("10.96.3.1", 80, {"10.244.7.1", "10.244.7.2"}));
    REQUIRE(reconciler.sync(t.wanted, t.keys, managed));
    // SYNs to the VIP: IPVS schedules each to a real server (creating its connection entry), then
    // drops it for want of a route. Round robin gives both real servers connections; on a busy
    // host a connection attempt can be cut by its timeout before it sends, so up to 10 are made.
    auto connected = [](const std::vector<RealServer>& reals) {
        return std::all_of(reals.begin(), reals.end(), [](const RealServer& r) { return r.connections > 0; });
    };
    auto reals = client.realServers(t.wanted.begin()->first);
    for (int attempt = 0; attempt < 10 && reals && !connected(*reals); ++attempt) {
        runCommand("timeout 3 bash -c 'echo > /dev/tcp/10.96.3.1/80' 2>/dev/null; true");
        reals = client.realServers(t.wanted.begin()->first);
    }
    REQUIRE(reals);
    for (const auto& r : *reals)
        REQUIRE(r.connections > 0);
    REQUIRE(reconciler.adopt(managed));  // the mirror learns the counters, as the drift check would

    t.put(vs("10.96.3.1", 80, {"10.244.7.1"}));
    auto drained = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(drained);
    CHECK(drained->operations == 1);  // weight 0, not a delete
    auto save = ipvsadmSave();
    REQUIRE(save.count("-t 10.96.3.1:80"));
    CHECK(save["-t 10.96.3.1:80"].realServers["10.244.7.2:8080"].weight == 0u);
    CHECK(reconciler.draining().size() == 1);

    t.put(vs("10.96.3.1", 80, {"10.244.7.1", "10.244.7.2"}));
    auto restored = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(restored);
    CHECK(restored->operations == 1);  // weight back, in place
    CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
    CHECK(reconciler.draining().empty());
}

namespace {

// Two "pods" in their own namespaces behind veth pairs, each echoing "podN:" + what it reads.
struct Backends {
    std::string tag = std::to_string(getpid());
    Backends()
    {
        runCommand("sysctl -qw net.ipv4.vs.conntrack=1 net.ipv4.ip_forward=1 net.ipv4.vs.expire_nodest_conn=1");
        runCommand("ip link add kube-ipvs0 type dummy 2>/dev/null; ip addr add 10.96.9.1/32 dev kube-ipvs0; true");
        for (int n : {1, 2}) {
            const std::string ns = "pod" + std::to_string(n) + "-" + tag, i = std::to_string(n);
            runCommand("ip netns add " + ns + " && ip link add h" + i + " type veth peer name p" + i +
                       " && ip link set p" + i + " netns " + ns + " && ip addr add 10.244." + i + ".1/24 dev h" + i +
                       " && ip link set h" + i + " up && ip -n " + ns + " addr add 10.244." + i + ".5/24 dev p" + i +
                       " && ip -n " + ns + " link set p" + i + " up && ip -n " + ns + " link set lo up && ip -n " + ns +
                       " route add default via 10.244." + i + ".1");
            runCommand(
                "ip netns exec " + ns +
                " python3 -c \"\nimport socket,threading\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0',8080)); s.listen()\ndef serve(c):\n    while True:\n        d=c.recv(100)\n        if not d: break\n        c.sendall(b'pod" +
                i +
                ":'+d)\nwhile True:\n    c,_=s.accept(); threading.Thread(target=serve,args=(c,),daemon=True).start()\n\" >/dev/null 2>&1 &");
        }
        for (int attempt = 0; attempt < 50; ++attempt) {
            if (runCommand("ip netns exec pod1-" + tag + " ss -ltnH | grep -c 8080 || true") != "0\n" &&
                runCommand("ip netns exec pod2-" + tag + " ss -ltnH | grep -c 8080 || true") != "0\n")
                return;
            usleep(100000);
        }
        FAIL("the backends did not start");
    }
};

// A TCP connection to the service address; say() sends and returns the answer.
struct Connection {
    int fd = -1;
    Connection()
    {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(80);
        inet_pton(AF_INET, "10.96.9.1", &to.sin_addr);
        timeval timeout{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
            fd = -1;
    }
    std::string say(const std::string& what)
    {
        if (fd < 0 || send(fd, what.data(), what.size(), 0) < 0)
            return "";
        char buffer[100];
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
    }
    // Closes with a reset, so IPVS forgets the connection in seconds instead of minutes.
    void reset()
    {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close(fd);
        fd = -1;
    }
    ~Connection()
    {
        if (fd >= 0)
            close(fd);
    }
};

}  // namespace

TEST_CASE("Graceful termination: a live TCP connection keeps its removed pod; new ones go elsewhere; then it goes",
          "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    Backends backends;
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    t.put(vs("10.96.9.1", 80, {"10.244.1.5", "10.244.2.5"}));  // the pods listen on 8080
    REQUIRE(reconciler.sync(t.wanted, t.keys, managed));

    Connection live;
    const std::string first = live.say("hello");
    REQUIRE((first == "pod1:hello" || first == "pod2:hello"));
    const std::string pod = first.substr(0, 4);
    const char* removed = pod == "pod1" ? "10.244.1.5" : "10.244.2.5";
    const char* kept = pod == "pod1" ? "10.244.2.5" : "10.244.1.5";

    // The pod behind the live connection leaves the Service.
    t.put(vs("10.96.9.1", 80, {kept}));
    auto drained = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(drained);
    CHECK(drained->operations == 1);  // weight 0, not a delete
    auto save = ipvsadmSave();
    CHECK(save["-t 10.96.9.1:80"].realServers[std::string(removed) + ":8080"].weight == 0u);

    CHECK(live.say("still there?") == pod + ":still there?");  // the live connection carries on
    const std::string other = pod == "pod1" ? "pod2" : "pod1";
    for (int i = 0; i < 4; ++i) {
        Connection fresh;
        CHECK(fresh.say("new") == other + ":new");  // new connections avoid the drained pod
        fresh.reset();
    }

    // Once its connection is gone, the drift check's counters let the next sync delete it.
    live.reset();
    bool gone = false;
    for (int second = 0; second < 40 && !gone; ++second) {
        auto drift = reconciler.checkDrift(0, ListRead::MirroredKeys, managed);
        REQUIRE(drift);
        REQUIRE(reconciler.sync(t.wanted, *drift, managed));
        gone = !ipvsadmSave()["-t 10.96.9.1:80"].realServers.count(std::string(removed) + ":8080");
        if (!gone)
            sleep(1);
    }
    CHECK(gone);
    CHECK(reconciler.draining().empty());
}

TEST_CASE("A UDP real server is removed at once, conversations or not", "[vm]")
{
    auto client = openClient();
    REQUIRE(client.flush());
    runCommand("ip link add kube-ipvs0 type dummy 2>/dev/null; ip addr add 10.96.9.2/32 dev kube-ipvs0; true");
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    auto udp = vs("10.96.9.2", 53, {"10.244.5.5", "10.244.6.6"});
    udp.server.key.protocol = Protocol::Udp;
    t.put(udp);
    REQUIRE(reconciler.sync(t.wanted, t.keys, managed));
    runCommand("bash -c 'for i in 1 2 3 4; do echo x > /dev/udp/10.96.9.2/53; done'");
    auto reals = client.realServers(udp.server.key);
    REQUIRE(reals);
    REQUIRE(std::any_of(reals->begin(), reals->end(), [](const RealServer& r) { return r.connections > 0; }));
    udp.realServers.pop_back();
    t.put(udp);
    auto report = reconciler.sync(t.wanted, t.keys, managed);
    REQUIRE(report);
    CHECK(report->operations == 1);
    CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
}

TEST_CASE("A refused operation is retried on the next sync without being asked", "[vm]")
{
    // A namespace of its own, with no interface up (the cases before left addresses behind).
    REQUIRE(unshare(CLONE_NEWNET) == 0);
    auto client = openClient();
    REQUIRE(client.flush());
    Reconciler reconciler(client);
    REQUIRE(reconciler.adopt(managed));
    Table t;
    t.put(vs("10.96.9.3", 80, {"10.244.1.5"}));
    // With no interface up the kernel refuses IPv4 real servers (EINVAL): a transient refusal.
    auto refused = reconciler.sync(t.wanted, t.keys, managed);
    runCommand("ip link set lo up");
    REQUIRE(refused);
    REQUIRE(refused->failures.size() == 1);
    CHECK(refused->failures[0].code == EINVAL);
    auto retried = reconciler.sync(t.wanted, {}, managed);  // nothing marked dirty
    REQUIRE(retried);
    CHECK(retried->operations == 1);
    CHECK(retried->failures.empty());
    CHECK(ipvsadmSave() == expectedSaveOf(t.list()));
}
