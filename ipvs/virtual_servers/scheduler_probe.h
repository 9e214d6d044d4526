// SPDX-License-Identifier: Apache-2.0
// Whether the kernel can use an IPVS scheduler. kube-proxy probes its scheduler at start by
// adding and deleting a virtual server with it; the kernel loads the scheduler's module on
// demand and refuses with ENOENT when there is none (Debian 12's kernel has no "twos").
#pragma once

#include <map>
#include <string>

#include "base/result.h"
#include "ipvs/virtual_servers/client.h"

namespace kipvs::ipvs {

// The probe's virtual server: TCP on a documentation address (RFC 5737), never a Service's.
VirtualServerKey schedulerProbeKey();

// Adds then deletes the probe virtual server with `scheduler`. ENOENT: no such scheduler.
Result<void> probeScheduler(VirtualServerTable& kernel, const std::string& scheduler);

// The probe's answers by scheduler name, each name probed once, on a client of its own.
class SchedulerAvailability {
public:
    explicit SchedulerAvailability(Client client) : client_(std::move(client)) {}

    // False only when the kernel said it has no such scheduler; any other failure leaves the
    // decision to the kernel at sync time (and is asked again next time).
    bool available(const std::string& scheduler);

private:
    Client client_;
    std::map<std::string, bool> answers_;
};

}  // namespace kipvs::ipvs
