// SPDX-License-Identifier: Apache-2.0
// The scheduler probe (see scheduler_probe.h).
#include "ipvs/virtual_servers/scheduler_probe.h"

#include <cerrno>

namespace kipvs::ipvs {

VirtualServerKey schedulerProbeKey()
{
    return {AF_INET, Protocol::Tcp, *InetAddress::parse("198.51.100.0"), 20000, 0};
}

Result<void> probeScheduler(VirtualServerTable& kernel, const std::string& scheduler)
{
    VirtualServer probe = VirtualServer::named(schedulerProbeKey());
    probe.scheduler = scheduler;
    // A probe left by a process killed mid-way would make the add look done.
    KIPVS_TRY(applyOne(kernel, Operation::deleteVirtualServer(probe.key)));
    if (auto added = applyOne(kernel, Operation::addVirtualServer(probe)); !added) {
        Error error = added.error();
        if (error.code == ENOENT)
            error.detail = "the kernel has no IPVS scheduler '" + scheduler + "' (module ip_vs_" + scheduler + ")";
        return tl::unexpected(error);
    }
    return applyOne(kernel, Operation::deleteVirtualServer(probe.key));
}

bool SchedulerAvailability::available(const std::string& scheduler)
{
    if (auto known = answers_.find(scheduler); known != answers_.end())
        return known->second;
    auto probed = probeScheduler(client_, scheduler);
    if (!probed && probed.error().code != ENOENT)
        return true;
    answers_[scheduler] = probed.has_value();
    return probed.has_value();
}

}  // namespace kipvs::ipvs
