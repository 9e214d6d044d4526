// SPDX-License-Identifier: Apache-2.0
// kube-proxy's conntrack start-up: the net/netfilter sysctls, then the conntrack hash size raised
// to a quarter of nf_conntrack_max. Any failure stops the start, as it stops kube-proxy, except
// a read-only /sys for the hash size: kube-proxy then warns ("/sys is read-only: cannot modify
// conntrack limits") and carries on.
#pragma once

#include <vector>

#include "base/result.h"
#include "ipvs/host/sysctl.h"
#include "proxy/kernel_policy.h"

namespace kipvs::daemon {

// `procSys` is /proc/sys and `moduleParameters` /sys/module/nf_conntrack/parameters on a node.
// Returns the warnings.
Result<std::vector<Error>> applyConntrackPolicy(const proxy::ConntrackPolicy& policy, int cpus,
                                                const ipvs::Sysctls& procSys, const ipvs::Sysctls& moduleParameters);

}  // namespace kipvs::daemon
