// SPDX-License-Identifier: Apache-2.0
// What kube-proxy's IPVS mode asks of the kernel at start: its sysctls and its modules.
#pragma once

#include <chrono>
#include <cstdint>
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

// kube-proxy's --conntrack-* settings. Zero leaves the kernel's value alone.
struct ConntrackPolicy {
    int64_t maxPerCore = 0;
    int64_t min = 0;
    std::chrono::seconds tcpEstablishedTimeout{0};
    std::chrono::seconds tcpCloseWaitTimeout{0};
    bool tcpBeLiberal = false;
    std::chrono::seconds udpTimeout{0};
    std::chrono::seconds udpStreamTimeout{0};
};

// nf_conntrack_max as kube-proxy computes it: max(maxPerCore x cpus, min) when maxPerCore > 0;
// 0 (leave alone) otherwise.
int64_t conntrackMax(const ConntrackPolicy& policy, int cpus);

// The net/netfilter sysctls for `policy`, in kube-proxy's order: nf_conntrack_max, the TCP
// established and close-wait timeouts, tcp_be_liberal=1 when asked, the UDP timeouts.
std::vector<ipvs::SysctlSetting> conntrackSysctls(const ConntrackPolicy& policy, int cpus);

// The conntrack hash size kube-proxy wants for `max` entries (a quarter of it); it only ever
// raises the kernel's.
inline int64_t conntrackHashSize(int64_t max)
{
    return max / 4;
}

// The modules IPVS mode needs, as kube-proxy loads them: ip_vs, the schedulers it may use by
// default (rr, wrr, sh) and `scheduler`'s, and nf_conntrack.
std::vector<std::string> ipvsModules(const std::string& scheduler);

}  // namespace kipvs::proxy
