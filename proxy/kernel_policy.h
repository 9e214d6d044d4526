// SPDX-License-Identifier: Apache-2.0
// What kube-proxy's IPVS mode asks of the kernel at start: its sysctls and its modules.
#pragma once

#include <string>
#include <vector>

#include "ipvs/host/sysctl.h"

namespace kipvs::proxy {

// For kernel `release` ("6.1.0-26-amd64"): vs/conntrack=1 (IPVS traffic through conntrack, so
// SNAT works), vs/expire_nodest_conn=1 and vs/expire_quiescent_template=1 (drop connections and
// templates of removed or weight-0 destinations), ip_forward=1; vs/conn_reuse_mode=0 only on
// kernels from 4.1 to before 5.9, where mode 1 stalls reused ports for a second (upstream
// #70747; fixed in 5.9, #93297); arp_ignore=1 and arp_announce=2 with `strictArp`.
std::vector<ipvs::SysctlSetting> ipvsSysctls(const std::string& release, bool strictArp);

// The same for the running kernel (uname's release).
std::vector<ipvs::SysctlSetting> ipvsSysctlsForThisKernel(bool strictArp);

// The modules IPVS mode needs, as kube-proxy loads them: ip_vs, the schedulers it may use by
// default (rr, wrr, sh) and `scheduler`'s, and nf_conntrack.
std::vector<std::string> ipvsModules(const std::string& scheduler);

}  // namespace kipvs::proxy
