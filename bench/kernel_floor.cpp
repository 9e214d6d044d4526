// SPDX-License-Identifier: Apache-2.0
// The kernel's floor for the work a daemon's first sync did: the IPVS table as it is programmed
// now (read here, in this namespace) is replayed in a fresh network namespace with every
// request encoded before the clock starts and sent in 256 KiB buffers with one acknowledgement;
// the kube-ipvs0 addresses and routes are added with `ip -batch`, and the nftables table
// loaded with `nft -f`, each timed alone. Then the floor of one endpoint change on that table:
// 200 single changes (a real server added and another deleted, one acknowledgement), each
// encoded before its clock starts, 50 ms apart as the scale benchmark's changes come; then 200
// more with IPVS's rate estimator off in that namespace (net.ipv4.vs.run_estimation=0): before
// Linux 6.2 its timer walks every estimator every 2 s holding the lock that adding or deleting a
// real server takes, so the two loops tell its stalls apart. Prints one JSON object of seconds,
// milliseconds and counts.
//
// Usage: kernel-floor LINK_BATCH NFT_FILE [OTHER_LINK_BATCH]
//   LINK_BATCH: `ip -batch` lines for kube-ipvs0 (addresses, routes); OTHER_LINK_BATCH: another
//   way of binding the same Services (every ClusterIP as a /32), timed after it on a new link.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <linux/netlink.h>

#include "bench_support.h"
#include "ipvs/virtual_servers/client.h"
#include "ipvs/virtual_servers/codec.h"

using namespace kipvs;
using namespace kipvs::ipvs;
using namespace kipvs::bench;

namespace {

constexpr size_t kBatchBytes = 256 * 1024;

std::vector<Operation> readTable(Client& client)
{
    auto servers = client.virtualServers();
    if (!servers)
        die(servers.error().message());
    std::vector<Operation> ops;
    for (const auto& server : *servers) {
        ops.push_back(Operation::addVirtualServer(server));
        auto reals = client.realServers(server.key);
        if (!reals)
            die(reals.error().message());
        for (const auto& r : *reals)
            ops.push_back(Operation::addRealServer(server.key, r));
    }
    return ops;
}

double replay(const std::vector<Operation>& ops, Client& client)
{
    std::vector<MessageBuffer> buffers(1);
    uint32_t lastSeq = 0;
    size_t lastOffset = 0;
    for (const auto& op : ops) {
        if (buffers.back().size() >= kBatchBytes)
            buffers.emplace_back();
        lastOffset = buffers.back().size();
        lastSeq = client.nextSeq();
        encodeOperation(buffers.back(), client.familyId(), lastSeq, 0, op);
    }
    buffers.back().header(lastOffset)->nlmsg_flags |= NLM_F_ACK;
    const auto start = Clock::now();
    for (const auto& buffer : buffers)
        if (auto sent = client.sendEncoded(buffer); !sent)
            die(sent.error().message());
    auto refused = client.awaitAcknowledgement(lastSeq);
    const double elapsed = seconds(start);
    if (!refused)
        die(refused.error().message());
    if (*refused)
        die("the kernel refused " + std::to_string(*refused) + " of the replayed operations");
    return elapsed;
}

// One change as the daemon sends it for a replaced endpoint: add the new real server, delete an
// old one, in one message buffer with one acknowledgement.
double oneChange(Client& client, const VirtualServerKey& key, const RealServer& added, const RealServer& deleted)
{
    MessageBuffer buffer;
    encodeOperation(buffer, client.familyId(), client.nextSeq(), 0, Operation::addRealServer(key, added));
    const size_t last = buffer.size();
    const uint32_t seq = client.nextSeq();
    encodeOperation(buffer, client.familyId(), seq, 0, Operation::deleteRealServer(key, deleted));
    buffer.header(last)->nlmsg_flags |= NLM_F_ACK;
    const auto start = Clock::now();
    if (auto sent = client.sendEncoded(buffer); !sent)
        die(sent.error().message());
    auto refused = client.awaitAcknowledgement(seq);
    const double elapsed = seconds(start) * 1000;
    if (!refused || *refused)
        die("the kernel refused a single change");
    return elapsed;
}

// Milliseconds of each of `count` single changes spread over the replayed table's virtual
// servers (each real server deleted is one the replay added), numbered from `first`: loops with
// distinct numbers touch distinct real servers.
std::vector<double> singleChanges(const std::vector<Operation>& table, Client& client, size_t first, size_t count)
{
    std::vector<const Operation*> withReals;
    for (const auto& op : table)
        if (op.kind == Operation::Kind::AddRealServer)
            withReals.push_back(&op);
    if (withReals.empty())
        return {};
    std::vector<double> ms;
    for (size_t n = first; n < first + count; ++n) {
        const Operation& old = *withReals[(n * 7919) % withReals.size()];
        RealServer added = old.realServer;
        added.address = InetAddress::v4(0x0ae10000 + static_cast<uint32_t>(n));  // 10.225.0.0 + n
        ms.push_back(oneChange(client, old.virtualServer.key, added, old.realServer));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ms;
}

double percentile(std::vector<double> samples, double p)
{
    std::sort(samples.begin(), samples.end());
    const auto at = static_cast<size_t>(p / 100 * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(samples.size() - 1, at)];
}

struct ChangeFigures {
    double p50 = 0, p99 = 0, max = 0;
    size_t over10ms = 0;
};

ChangeFigures figuresOf(const std::vector<double>& ms)
{
    ChangeFigures f;
    if (ms.empty())
        return f;
    f.p50 = percentile(ms, 50);
    f.p99 = percentile(ms, 99);
    f.max = *std::max_element(ms.begin(), ms.end());
    f.over10ms = static_cast<size_t>(std::count_if(ms.begin(), ms.end(), [](double m) { return m > 10; }));
    return f;
}

void turnRateEstimationOff()
{
    std::FILE* f = std::fopen("/proc/sys/net/ipv4/vs/run_estimation", "w");
    if (!f || std::fputs("0\n", f) < 0 || std::fclose(f) != 0)
        die("cannot write net.ipv4.vs.run_estimation");
}

double timed(const std::string& command)
{
    const auto start = Clock::now();
    if (std::system(command.c_str()) != 0)
        die("failed: " + command);
    return seconds(start);
}

size_t lines(const std::string& path)
{
    size_t n = 0;
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
        for (int c; (c = std::fgetc(f)) != EOF;)
            n += c == '\n';
        std::fclose(f);
    }
    return n;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 3)
        die("usage: kernel-floor LINK_BATCH NFT_FILE [OTHER_LINK_BATCH]");
    const std::string linkBatch = argv[1], nftFile = argv[2], other = argc > 3 ? argv[3] : "";
    auto client = openClient();
    const auto ops = readTable(client);
    freshNamespace();
    auto fresh = openClient();
    if (std::system("ip link add kube-ipvs0 type dummy") != 0)
        die("cannot create a dummy link");
    const double ipvs = replay(ops, fresh);
    const double link = timed("ip -batch " + linkBatch + " >/dev/null");
    const double nft = timed("nft -f " + nftFile);
    double otherLink = 0;
    if (!other.empty()) {
        std::system("ip link del kube-ipvs0; ip link add kube-ipvs0 type dummy");
        otherLink = timed("ip -batch " + other + " >/dev/null");
    }
    const auto estimated = figuresOf(singleChanges(ops, fresh, 0, 200));
    turnRateEstimationOff();
    const auto unestimated = figuresOf(singleChanges(ops, fresh, 200, 200));
    std::printf("{\"operations\": %zu, \"ipvs_s\": %.4f, \"link_lines\": %zu, \"link_s\": %.4f, \"nft_s\": %.4f, "
                "\"other_link_lines\": %zu, \"other_link_s\": %.4f, \"change_ms_p50\": %.2f, "
                "\"change_ms_p99\": %.2f, \"change_ms_max\": %.2f, \"changes_over_10ms\": %zu, "
                "\"no_estimator_change_ms_p50\": %.2f, \"no_estimator_change_ms_p99\": %.2f, "
                "\"no_estimator_change_ms_max\": %.2f, \"no_estimator_changes_over_10ms\": %zu}\n",
                ops.size(), ipvs, lines(linkBatch), link, nft, other.empty() ? 0 : lines(other), otherLink,
                estimated.p50, estimated.p99, estimated.max, estimated.over10ms, unestimated.p50, unestimated.p99,
                unestimated.max, unestimated.over10ms);
    return 0;
}
