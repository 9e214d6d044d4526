// SPDX-License-Identifier: Apache-2.0
// The nftables table at scale, in the VM: the whole table built for N Services, over the nft
// tool's copy of it (replaced in one transaction) and with no table (built in parts), and one
// Service change applied as set-element changes, against the reference of the nft tool loading
// the same table from a file in the same boot; and the verification, with the listing of its
// largest set against the nft tool listing the same set.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "bench_support.h"
#include "ipvs/netfilter/firewall_table.h"

using namespace kipvs;
using namespace kipvs::bench;
using FirewallCheck = kipvs::ipvs::FirewallTable::Check;

namespace {

InetAddress v4(uint32_t hostOrder)
{
    return InetAddress::v4(hostOrder);
}

// N Services as a cluster would have them: a ClusterIP, a NodePort, one local endpoint; every
// tenth a LoadBalancer with a source range.
ipvs::FirewallSets clusterSets(size_t n)
{
    ipvs::FirewallSets s;
    const InetAddress node = *InetAddress::parse("192.168.122.10");
    for (size_t i = 0; i < n; ++i) {
        const auto clusterIP = v4(0x0a600000 + static_cast<uint32_t>(i));  // 10.96.x.x
        s.clusterIPs.insert({clusterIP, Protocol::Tcp, 80});
        s.serviceAddresses.insert(clusterIP);
        s.external.insert({node, Protocol::Tcp, static_cast<uint16_t>(30000 + i % 2768)});
        s.hairpin.insert({v4(0x0af40000 + static_cast<uint32_t>(i)), Protocol::Tcp, 8080});  // 10.244.x.x
        if (i % 10 == 0) {
            const IpPort lb{v4(0xcb007100 + static_cast<uint32_t>(i / 10)), Protocol::Tcp, 443};
            s.external.insert(lb);
            s.loadBalancers.insert(lb);
            s.firewalled.insert(lb);
            s.allowedSources.insert({lb, *Cidr::parse("198.51.100.0/24")});
        }
    }
    return s;
}

double percentile(std::vector<double> v, double p)
{
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv)
{
    std::printf("%-9s %12s %12s %7s %12s %7s %16s %16s %16s %16s %18s %18s\n", "services", "nft -f (ms)",
                "replace (ms)", "ratio", "new (ms)", "ratio", "change p50 (ms)", "change p99 (ms)", "verify avg (ms)",
                "verify max (ms)", "list set (ms)", "nft list set (ms)");
    for (size_t n : serviceCounts(argc, argv)) {
        freshNamespace();
        auto nft = ipvs::NftClient::open();
        if (!nft)
            die(nft.error().message());
        ipvs::FirewallTable table(std::make_unique<ipvs::NftClient>(std::move(*nft)), {});
        auto sets = clusterSets(n);

        // Reference: the nft tool loading the same table from a file, after a warm-up load of an
        // empty table (the first use of nftables in a boot loads kernel modules).
        const std::string path = "/tmp/kipvs-firewall-bench.nft";
        std::ofstream(path) << ipvs::renderFirewall({}, {});
        if (std::system(("nft -f " + path + " && nft delete table inet kube-ipvsd").c_str()) != 0)
            die("nft -f failed");
        std::ofstream(path) << ipvs::renderFirewall({}, sets);
        auto start = Clock::now();
        if (std::system(("nft -f " + path).c_str()) != 0)
            die("nft -f failed");
        const double reference = seconds(start);

        start = Clock::now();
        auto built = table.sync(sets, FirewallCheck::TrustLastWrite);
        if (!built)
            die(built.error().message());
        const double build = seconds(start);

        // With no table in the kernel (a new node): built in parts.
        if (std::system("nft delete table inet kube-ipvsd") != 0)
            die("nft delete table failed");
        auto other = ipvs::NftClient::open();
        if (!other)
            die(other.error().message());
        ipvs::FirewallTable newTable(std::make_unique<ipvs::NftClient>(std::move(*other)), {});
        start = Clock::now();
        if (auto fresh = newTable.sync(sets, FirewallCheck::TrustLastWrite); !fresh)
            die(fresh.error().message());
        const double buildNew = seconds(start);

        // One Service change: its endpoint replaced (one hairpin element out, one in).
        std::vector<double> changes;
        for (int i = 0; i < 200; ++i) {
            const IpPort old{v4(0x0af40000 + static_cast<uint32_t>(i)), Protocol::Tcp, 8080};
            const IpPort replacement{v4(0x0af50000 + static_cast<uint32_t>(i)), Protocol::Tcp, 8080};
            sets.hairpin.erase(old);
            sets.hairpin.insert(replacement);
            // The change as the daemon makes it: the elements that differ, not the whole sets
            // compared (changesBetween is O(size)).
            ipvs::FirewallSetChanges change;
            change.absent.hairpin = {old};
            change.present.hairpin = {replacement};
            start = Clock::now();
            table.want(change);
            auto changed = table.sync(FirewallCheck::TrustLastWrite);
            if (!changed || *changed)
                die("the change was not applied as elements");
            changes.push_back(seconds(start) * 1000);
        }
        // The full resync's verification, over one rotation through every set.
        const size_t sets_count = ipvs::firewallElements(sets).size();
        std::vector<double> verifications;
        for (size_t i = 0; i < sets_count; ++i) {
            start = Clock::now();
            if (auto verified = table.sync(sets, FirewallCheck::Verify); !verified || *verified)
                die("verification failed or rebuilt an unchanged table");
            verifications.push_back(seconds(start) * 1000);
        }
        double verify = 0;
        for (double v : verifications)
            verify += v / static_cast<double>(sets_count);
        // The largest set (N elements) listed as a verification lists it, and by the nft tool.
        auto lister = ipvs::NftClient::open();
        if (!lister)
            die(lister.error().message());
        start = Clock::now();
        auto listed = lister->listSetElements(ipvs::kFirewallTable, "cluster-ips-v4");
        const double list = seconds(start) * 1000;
        if (!listed || listed->size() != n)
            die("cluster-ips-v4 was not listed whole");
        start = Clock::now();
        if (std::system("nft list set inet kube-ipvsd cluster-ips-v4 > /dev/null") != 0)
            die("nft list set failed");
        const double nftList = seconds(start) * 1000;
        std::printf("%-9zu %12.1f %12.1f %7.2f %12.1f %7.2f %16.2f %16.2f %16.1f %16.1f %18.1f %18.1f\n", n,
                    reference * 1000, build * 1000, build / reference, buildNew * 1000, buildNew / reference,
                    percentile(changes, 0.5), percentile(changes, 0.99), verify,
                    *std::max_element(verifications.begin(), verifications.end()), list, nftList);
    }
    return 0;
}
