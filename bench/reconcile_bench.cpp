// SPDX-License-Identifier: Apache-2.0
// Benchmark (in the VM): the incremental path on a programmed table of N services x 10
// endpoints. One endpoint change (latency, operations), a rolling update of 1,000 changes,
// a restart (adoption) against `ipvsadm -Sn` on the same table, the CPU of the periodic drift
// check, and the proxier's full recompute. Prints figures; asserts only correctness.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <sched.h>

#include "bench_support.h"
#include "ipvs/virtual_servers/reconciler.h"
#include "proxy/proxier.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using namespace kipvs::bench;

namespace {

constexpr size_t kEndpoints = 10;

double cpuSeconds()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

bool ours(const VirtualServerKey& key)
{
    return key.address.isV4() && key.address.data()[0] == 10 && key.address.data()[1] == 96;
}

const IsManaged managed = ours;

RealServer endpoint(uint32_t n)
{
    RealServer r;
    r.address = InetAddress::v4(0x0af40000u + n);
    r.port = 8080;
    return r;
}

WantedTable makeTable(size_t count)
{
    WantedTable t;
    for (size_t i = 0; i < count; ++i) {
        VirtualServerState v;
        v.server.key =
            VirtualServerKey{AF_INET, Protocol::Tcp, InetAddress::v4(0x0a600000u + static_cast<uint32_t>(i)), 80, 0};
        for (size_t j = 0; j < kEndpoints; ++j)
            v.realServers.push_back(endpoint(static_cast<uint32_t>(i * kEndpoints + j)));
        t[v.server.key] = std::make_shared<const VirtualServerState>(std::move(v));
    }
    return t;
}

// The event loop's way to change a wanted virtual server: a new immutable state.
std::shared_ptr<const VirtualServerState> withEndpoint(const VirtualServerState& old, size_t index, RealServer r)
{
    auto changed = std::make_shared<VirtualServerState>(old);
    changed->realServers[index] = std::move(r);
    return changed;
}

double percentile(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void run(size_t count)
{
    freshNamespace();
    Client client = openClient();
    Reconciler reconciler(client);
    if (!reconciler.adopt(managed))
        die("adopt");
    auto table = makeTable(count);
    std::set<VirtualServerKey> all;
    for (const auto& [k, v] : table)
        all.insert(k);
    auto first = reconciler.sync(table, all, managed);
    if (!first || !first->failures.empty())
        die("initial sync");

    // One endpoint replaced in one service, 200 times.
    std::vector<double> latency;
    std::vector<size_t> operations;
    uint32_t next = static_cast<uint32_t>(count * kEndpoints);
    for (int i = 0; i < 200; ++i) {
        auto it = std::next(table.begin(), static_cast<long>((static_cast<size_t>(i) * 7919) % count));
        it->second = withEndpoint(*it->second, static_cast<size_t>(i) % kEndpoints, endpoint(next++));
        auto start = Clock::now();
        auto report = reconciler.sync(table, {it->first}, managed);
        latency.push_back(seconds(start));
        if (!report || !report->failures.empty())
            die("one change");
        operations.push_back(report->operations);
    }
    const bool exact = std::all_of(operations.begin(), operations.end(), [](size_t n) { return n == 2; });

    // A rolling update: 1,000 services each get one endpoint replaced, synced at once.
    std::set<VirtualServerKey> rolled;
    size_t k = 0;
    for (auto& [key, v] : table) {
        if (k++ % std::max<size_t>(1, count / 1000) != 0 || rolled.size() == 1000)
            continue;
        v = withEndpoint(*v, 0, endpoint(next++));
        rolled.insert(key);
    }
    auto start = Clock::now();
    auto rolling = reconciler.sync(table, rolled, managed);
    const double rollingSeconds = seconds(start);
    if (!rolling || !rolling->failures.empty())
        die("rolling update");

    // A restart: a new process adopts the table and finds nothing to do.
    start = Clock::now();
    Client fresh = openClient();
    Reconciler restarted(fresh);
    if (!restarted.adopt(managed))
        die("adopt after restart");
    auto again = restarted.sync(table, all, managed);
    const double restartSeconds = seconds(start);
    if (!again || again->operations != 0)
        die("a restart wrote to the kernel");
    start = Clock::now();
    if (std::system("ipvsadm -Sn > /dev/null") != 0)
        die("ipvsadm -Sn");
    const double ipvsadmSeconds = seconds(start);

    // The drift check of one 30 s period: one dump plus 1/20 of the real servers, so the whole
    // table is verified every 10 minutes.
    const size_t budget = (count + 19) / 20;
    double cpu = cpuSeconds();
    start = Clock::now();
    for (int i = 0; i < 5; ++i)
        if (auto drift = restarted.checkDrift(budget, ListRead::Whole, managed); !drift || !drift->empty())
            die("drift found where there is none");
    const double driftCpu = (cpuSeconds() - cpu) / 5;

    std::printf(
        "%-8zu one change: p50 %.3f ms, p99 %.3f ms, %s operations | rolling 1000: %.3f s, %zu ops | "
        "restart: %.3f s vs ipvsadm -Sn %.3f s (%.2fx) | drift check: %.1f ms CPU = %.2f%% of a core per 30 s\n",
        count, percentile(latency, 0.5) * 1e3, percentile(latency, 0.99) * 1e3, exact ? "always 2" : "NOT always 2",
        rollingSeconds, rolling->operations, restartSeconds, ipvsadmSeconds, restartSeconds / ipvsadmSeconds,
        driftCpu * 1e3, driftCpu / 30 * 100);
    std::fflush(stdout);
}

void proxierRecompute(size_t count)
{
    watch::StringPool pool("node-1");  // config.nodeName below
    std::vector<watch::Service> services;
    std::vector<watch::EndpointSlice> slices;
    for (size_t i = 0; i < count; ++i) {
        watch::Service s;
        s.key = {pool.intern("team"), "svc-" + std::to_string(i)};
        s.clusterIPs = {InetAddress::v4(0x0a600000u + static_cast<uint32_t>(i))};
        s.ports = {{"http", Protocol::Tcp, 80, 0}};
        services.push_back(s);
        watch::EndpointSlice e;
        e.key = {pool.intern("team"), s.key.name + "-x"};
        e.serviceName = s.key.name;
        watch::EndpointPort http;
        http.named = true;
        http.name = pool.intern("http");
        http.port = 8080;
        e.ports = {http};
        for (size_t j = 0; j < kEndpoints; ++j) {
            watch::Endpoint ep;
            ep.address = InetAddress::v4(0x0af40000u + static_cast<uint32_t>(i * kEndpoints + j));
            ep.local = pool.isLocalNode("node-" + std::to_string(j));
            e.endpoints.push_back(ep);
        }
        slices.push_back(e);
    }
    proxy::ProxierConfig config;
    config.nodeName = "node-1";
    proxy::NodeView node;
    const double cpu = cpuSeconds();
    size_t virtualServers = 0;
    for (size_t i = 0; i < count; ++i) {
        const watch::EndpointSlice* one = &slices[i];
        virtualServers += proxy::proxyService(services[i], std::span(&one, 1), node, config).virtualServers.size();
    }
    const double used = cpuSeconds() - cpu;
    std::printf("proxier: full recompute of %zu services (%zu virtual servers): %.1f ms CPU\n", count, virtualServers,
                used * 1e3);
}

}  // namespace

int main(int argc, char** argv)
{
    const std::vector<size_t> sizes = serviceCounts(argc, argv);
    std::printf("(in one VM boot; each size in a fresh network namespace)\n");
    for (size_t n : sizes)
        run(n);
    proxierRecompute(sizes.back());
    return 0;
}
