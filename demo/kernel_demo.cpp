// SPDX-License-Identifier: Apache-2.0
// The kernel-layer demo: what kube-ipvsd does for one ClusterIP Service, step by step.
#include <cstdio>
#include <cstdlib>

#include "ipvs/client.h"
#include "ipvs/links.h"

using namespace kipvs;
using namespace kipvs::ipvs;

namespace {

int failed(const Error& error)
{
    std::fprintf(stderr, "kernel-demo: %s\n", error.message().c_str());
    return 1;
}

}  // namespace

int main()
{
    const auto clusterIp = *InetAddress::parse("10.96.0.10");

    auto links = LinkClient::open();
    if (!links)
        return failed(links.error());
    auto link = links->ensureDummyLink(kDummyLinkName);
    if (!link)
        return failed(link.error());
    std::printf("1. dummy link %s ready (index %d, left down like kube-proxy's)\n", kDummyLinkName, *link);

    if (auto bound = links->addAddress(*link, clusterIp); !bound)
        return failed(bound.error());
    std::printf("2. ClusterIP %s/32 bound on %s, so the node accepts its packets\n", clusterIp.toString().c_str(), kDummyLinkName);

    auto ipvs = Client::open();
    if (!ipvs)
        return failed(ipvs.error());
    auto info = ipvs->info();
    if (!info)
        return failed(info.error());

    VirtualServer service;
    service.key = ServiceKey{AF_INET, Protocol::Tcp, clusterIp, 80, 0};
    service.scheduler = "rr";
    std::vector<Operation> operations = {Operation::addService(service)};
    for (const char* backend : {"10.244.1.10", "10.244.2.10"}) {
        RealServer real;
        real.address = *InetAddress::parse(backend);
        real.port = 8080;
        operations.push_back(Operation::addRealServer(service.key, real));
    }
    const auto sendsBefore = ipvs->counters().sends;
    auto report = ipvs->apply(operations);
    if (!report)
        return failed(report.error());
    for (const auto& failure : report->failures)
        return failed(failure.error);
    std::printf("3. IPVS %s: virtual server %s (rr) with 2 real servers, %zu operations in %llu sendmsg\n",
                info->versionString().c_str(), service.key.toString().c_str(), operations.size(),
                static_cast<unsigned long long>(ipvs->counters().sends - sendsBefore));

    auto services = ipvs->services();
    if (!services)
        return failed(services.error());
    std::printf("4. read back through our own netlink dump:\n");
    for (const auto& s : *services) {
        std::printf("   %s %s\n", s.key.toString().c_str(), s.scheduler.c_str());
        auto reals = ipvs->realServers(s.key);
        if (!reals)
            return failed(reals.error());
        for (const auto& r : *reals)
            std::printf("     -> %s weight %u\n", r.endpoint().c_str(), r.weight);
    }
    std::printf("5. and by ipvsadm, an independent client:\n\n");
    std::fflush(stdout);
    return std::system("ipvsadm -Ln") == 0 ? 0 : 1;
}
