// SPDX-License-Identifier: Apache-2.0
// The sysctls kube-proxy's IPVS mode sets at start, and applying them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "ipvs/sysctl.h"

namespace kipvs::ipvs {

struct SysctlSetting {
    std::string name;   // below /proc/sys: "net/ipv4/vs/conntrack"
    std::string value;
    bool operator==(const SysctlSetting&) const = default;
};

// For kernel `release` ("6.1.0-26-amd64"): vs/conntrack=1 (IPVS traffic through conntrack, so
// SNAT works), vs/expire_nodest_conn=1 and vs/expire_quiescent_template=1 (drop connections and
// templates of removed or weight-0 destinations), ip_forward=1; vs/conn_reuse_mode=0 only on
// kernels from 4.1 to before 5.9, where mode 1 stalls reused ports for a second (upstream
// #70747; fixed in 5.9, #93297); arp_ignore=1 and arp_announce=2 with `strictArp`.
std::vector<SysctlSetting> ipvsSysctls(const std::string& release, bool strictArp);

// Writes each setting that differs. Returns the failures (each with the sysctl's name); the
// caller decides whether they are fatal.
std::vector<Error> applySysctls(const Sysctls& sysctls, const std::vector<SysctlSetting>& settings);

// The modules IPVS mode needs, as kube-proxy loads them: ip_vs, the schedulers it may use by
// default (rr, wrr, sh) and `scheduler`'s, and nf_conntrack.
std::vector<std::string> ipvsModules(const std::string& scheduler);

// Runs `modprobe -q name`. Fails with the reason; a built-in module loads trivially.
Result<void> loadModule(const std::string& name);

}  // namespace kipvs::ipvs
