// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the kernel benchmarks: failing loudly, timing, fresh network namespaces.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <sched.h>

#include "ipvs/virtual_servers/client.h"

namespace kipvs::bench {

using Clock = std::chrono::steady_clock;

[[noreturn]] inline void die(const std::string& what)
{
    std::fprintf(stderr, "bench: %s\n", what.c_str());
    std::exit(1);
}

inline double seconds(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// A network namespace of its own, so each measurement starts from an empty IPVS table. lo is
// brought up: with no interface up there is no local routing table, and the kernel types every
// IPv4 address as broadcast and refuses it as a real server with EINVAL (ip_vs_ctl.c,
// ip_vs_new_dest -> inet_addr_type). Every real node has lo up.
inline void freshNamespace()
{
    if (unshare(CLONE_NEWNET) != 0)
        die("unshare(CLONE_NEWNET) failed: run as root");
    if (std::system("ip link set lo up") != 0)
        die("cannot bring lo up in the new namespace");
}

inline ipvs::Client openClient()
{
    auto client = ipvs::Client::open();
    if (!client)
        die(client.error().message());
    return std::move(*client);
}

// The service counts to measure: the program's arguments, or 1,000 and 10,000.
inline std::vector<size_t> serviceCounts(int argc, char** argv)
{
    std::vector<size_t> sizes;
    for (int i = 1; i < argc; ++i)
        sizes.push_back(std::strtoul(argv[i], nullptr, 10));
    if (sizes.empty())
        sizes = {1000, 10000};
    return sizes;
}

}  // namespace kipvs::bench
