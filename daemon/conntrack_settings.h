// SPDX-License-Identifier: Apache-2.0
// kube-proxy's conntrack start-up: the net/netfilter sysctls, then the conntrack hash size raised
// to a quarter of nf_conntrack_max. Any failure stops the start, as it stops kube-proxy, except
// a read-only /sys for the hash size: kube-proxy then warns ("/sys is read-only: cannot modify
// conntrack limits") and carries on.
#pragma once

#include <vector>

#include "base/result.h"
#include "config/options.h"
#include "ipvs/host/sysctl.h"
#include "proxy/kernel_policy.h"

namespace kipvs::daemon {

// The --conntrack-* options in seconds, as kube-proxy truncates them.
proxy::ConntrackPolicy conntrackPolicyOf(const config::ConntrackOptions& options);

// `procSys` is /proc/sys and `moduleParameters` /sys/module/nf_conntrack/parameters on a node.
// Returns the warnings.
Result<std::vector<Error>> applyConntrackPolicy(const proxy::ConntrackPolicy& policy, int cpus,
                                                const ipvs::Sysctls& procSys, const ipvs::Sysctls& moduleParameters);

// The same on this node: its CPUs, /proc/sys and the nf_conntrack module's parameters.
Result<std::vector<Error>> applyConntrackPolicy(const proxy::ConntrackPolicy& policy);

}  // namespace kipvs::daemon
