// SPDX-License-Identifier: Apache-2.0
// Benchmark: programming N services x 10 real servers three ways, each in a fresh network
// namespace of the same VM boot: (a) our client from typed objects, (b) the kernel's floor
// (pre-encoded, batched, one acknowledgement), (c) `ipvsadm --restore`. Prints times and ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <linux/netlink.h>
#include <sched.h>

#include "bench_support.h"
#include "ipvs/virtual_servers/client.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using namespace kipvs::bench;

namespace {

constexpr size_t kRealServersPerService = 10;
constexpr size_t kFloorBatchBytes = 256 * 1024;
constexpr int kRounds = 3;  // each figure is the median of this many runs

double median(std::vector<double> samples)
{
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

struct Table {
    std::vector<VirtualServer> services;
    std::vector<std::vector<RealServer>> realServers;
    size_t operations() const { return services.size() * (1 + kRealServersPerService); }
};

Table makeTable(size_t count)
{
    Table t;
    for (size_t i = 0; i < count; ++i) {
        VirtualServer s;
        s.key =
            VirtualServerKey{AF_INET, Protocol::Tcp, InetAddress::v4(0x0a600000u + static_cast<uint32_t>(i)), 80, 0};
        t.services.push_back(s);
        std::vector<RealServer> reals;
        for (size_t j = 0; j < kRealServersPerService; ++j) {
            RealServer r;
            r.address = InetAddress::v4(0x0af40000u + static_cast<uint32_t>(i * kRealServersPerService + j));
            r.port = 8080;
            reals.push_back(r);
        }
        t.realServers.push_back(std::move(reals));
    }
    return t;
}

void expectServices(Client& client, size_t count, const char* way)
{
    auto services = client.virtualServers();
    if (!services || services->size() != count)
        die(std::string(way) + ": the kernel does not hold the expected table");
    auto reals = client.realServers(services->front().key);
    if (!reals || reals->size() != kRealServersPerService)
        die(std::string(way) + ": the kernel does not hold the expected real servers");
}

// (a) From typed objects to acknowledged kernel state through the client's public API.
double ours(const Table& table, Client& client)
{
    auto start = Clock::now();
    std::vector<Operation> ops;
    ops.reserve(table.operations());
    for (size_t i = 0; i < table.services.size(); ++i) {
        ops.push_back(Operation::addVirtualServer(table.services[i]));
        for (const auto& r : table.realServers[i])
            ops.push_back(Operation::addRealServer(table.services[i].key, r));
    }
    auto report = client.apply(ops);
    double elapsed = seconds(start);
    if (!report)
        die(report.error().message());
    if (!report->ok())
        die(report->failures.front().error.message());
    return elapsed;
}

// (b) The same requests encoded before the clock starts, sent in large buffers with a single
// acknowledgement requested, at the very end.
double kernelFloor(const Table& table, Client& client)
{
    std::vector<MessageBuffer> buffers(1);
    uint32_t lastSeq = 0;
    size_t lastOffset = 0;
    auto append = [&](const Operation& op) {
        if (buffers.back().size() >= kFloorBatchBytes)
            buffers.emplace_back();
        lastOffset = buffers.back().size();
        lastSeq = client.nextSeq();
        encodeOperation(buffers.back(), client.familyId(), lastSeq, 0, op);
    };
    for (size_t i = 0; i < table.services.size(); ++i) {
        append(Operation::addVirtualServer(table.services[i]));
        for (const auto& r : table.realServers[i])
            append(Operation::addRealServer(table.services[i].key, r));
    }
    buffers.back().header(lastOffset)->nlmsg_flags |= NLM_F_ACK;

    auto start = Clock::now();
    for (const auto& buffer : buffers) {
        if (auto sent = client.sendEncoded(buffer); !sent)
            die(sent.error().message());
    }
    auto refused = client.awaitAcknowledgement(lastSeq);
    double elapsed = seconds(start);
    if (!refused)
        die(refused.error().message());
    if (*refused)
        die("floor: the kernel refused operations");
    return elapsed;
}

// (c) ipvsadm --restore of the same table, from a file written before the clock starts.
double ipvsadmRestore(const Table& table)
{
    const std::string path = "/run/kipvs-bench-restore.txt";
    {
        std::ofstream out(path);
        for (size_t i = 0; i < table.services.size(); ++i) {
            const std::string vip = table.services[i].key.address.toString() + ":80";
            out << "-A -t " << vip << " -s rr\n";
            for (const auto& r : table.realServers[i])
                out << "-a -t " << vip << " -r " << r.endpoint() << " -m -w 1\n";
        }
    }
    auto start = Clock::now();
    int status = std::system(("ipvsadm --restore < " + path).c_str());
    double elapsed = seconds(start);
    if (status != 0)
        die("ipvsadm --restore failed");
    std::remove(path.c_str());
    return elapsed;
}

// Latency of adding one real server to a programmed table, as the median and worst of `rounds`.
std::pair<double, double> oneRealServer(const Table& table, Client& client, int rounds)
{
    std::vector<double> samples;
    for (int i = 0; i < rounds; ++i) {
        RealServer r;
        r.address = InetAddress::v4(0x0b000000u + static_cast<uint32_t>(i));
        r.port = 8080;
        const auto& key = table.services[static_cast<size_t>(i) * 7 % table.services.size()].key;
        auto start = Clock::now();
        auto added = client.addRealServer(key, r);
        samples.push_back(seconds(start));
        if (!added)
            die(added.error().message());
    }
    std::sort(samples.begin(), samples.end());
    return {samples[samples.size() / 2], samples.back()};
}

// Loads ip_vs and the rr scheduler module before any clock starts: the first service with a
// scheduler makes the kernel run modprobe, which would otherwise be charged to whichever way ran
// first.
void warmUp()
{
    freshNamespace();
    Client client = openClient();
    VirtualServer probe;
    probe.key = VirtualServerKey{AF_INET, Protocol::Tcp, *InetAddress::parse("198.51.100.0"), 20000, 0};
    if (!client.addVirtualServer(probe) || !client.deleteVirtualServer(probe.key))
        die("warm-up: cannot create a virtual server");
}

}  // namespace

int main(int argc, char** argv)
{
    const std::vector<size_t> sizes = serviceCounts(argc, argv);
    std::printf("%-9s %-8s %12s %12s %12s %9s %9s %14s %14s\n", "services", "ops", "(a) ours s", "(b) floor s",
                "(c) ipvsadm s", "a/b", "c/b", "+1 RS median", "+1 RS max");
    std::printf("(medians of %d runs, each in a fresh network namespace of one VM boot)\n", kRounds);
    warmUp();
    for (size_t count : sizes) {
        Table table = makeTable(count);
        std::vector<double> a, b, c;
        std::pair<double, double> latency;
        for (int round = 0; round < kRounds; ++round) {
            freshNamespace();
            Client client = openClient();
            a.push_back(ours(table, client));
            expectServices(client, count, "ours");
            if (round == 0)
                latency = oneRealServer(table, client, 101);

            freshNamespace();
            Client floorClient = openClient();
            b.push_back(kernelFloor(table, floorClient));
            expectServices(floorClient, count, "floor");

            freshNamespace();
            c.push_back(ipvsadmRestore(table));
            Client check = openClient();
            expectServices(check, count, "ipvsadm");
        }
        const double ma = median(a), mb = median(b), mc = median(c);
        std::printf("%-9zu %-8zu %12.3f %12.3f %12.3f %9.2f %9.1f %11.3f ms %11.3f ms\n", count, table.operations(), ma,
                    mb, mc, ma / mb, mc / mb, latency.first * 1e3, latency.second * 1e3);
        std::fflush(stdout);
    }
    return 0;
}
