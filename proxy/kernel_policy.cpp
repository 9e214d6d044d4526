// SPDX-License-Identifier: Apache-2.0
// kube-proxy's start-up sysctls and modules (see kernel_policy.h).
#include "proxy/kernel_policy.h"

#include <algorithm>
#include <cstdio>

#include <sys/utsname.h>

namespace kipvs::proxy {

std::vector<ipvs::SysctlSetting> ipvsSysctls(const std::string& release, bool strictArp)
{
    std::vector<ipvs::SysctlSetting> out = {
        {"net/ipv4/vs/conntrack", "1"},
        {"net/ipv4/vs/expire_nodest_conn", "1"},
        {"net/ipv4/vs/expire_quiescent_template", "1"},
        {"net/ipv4/ip_forward", "1"},
    };
    int major = 0, minor = 0;
    if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) == 2) {
        const int version = major * 1000 + minor;
        if (version >= 4001 && version < 5009)
            out.push_back({"net/ipv4/vs/conn_reuse_mode", "0"});
    }
    if (strictArp) {
        out.push_back({"net/ipv4/conf/all/arp_ignore", "1"});
        out.push_back({"net/ipv4/conf/all/arp_announce", "2"});
    }
    return out;
}

std::vector<ipvs::SysctlSetting> ipvsSysctlsForThisKernel(bool strictArp)
{
    utsname host{};
    uname(&host);
    return ipvsSysctls(host.release, strictArp);
}

int64_t conntrackMax(const ConntrackPolicy& policy, int cpus)
{
    if (policy.maxPerCore <= 0)
        return 0;
    return std::max(policy.maxPerCore * cpus, policy.min);
}

std::vector<ipvs::SysctlSetting> conntrackSysctls(const ConntrackPolicy& policy, int cpus)
{
    std::vector<ipvs::SysctlSetting> out;
    auto add = [&](const char* name, int64_t value) {
        if (value > 0)
            out.push_back({std::string("net/netfilter/") + name, std::to_string(value)});
    };
    add("nf_conntrack_max", conntrackMax(policy, cpus));
    add("nf_conntrack_tcp_timeout_established", policy.tcpEstablishedTimeout.count());
    add("nf_conntrack_tcp_timeout_close_wait", policy.tcpCloseWaitTimeout.count());
    add("nf_conntrack_tcp_be_liberal", policy.tcpBeLiberal ? 1 : 0);
    add("nf_conntrack_udp_timeout", policy.udpTimeout.count());
    add("nf_conntrack_udp_timeout_stream", policy.udpStreamTimeout.count());
    return out;
}

std::vector<std::string> ipvsModules(const std::string& scheduler)
{
    std::vector<std::string> modules{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh"};
    if (!scheduler.empty() && scheduler != "rr" && scheduler != "wrr" && scheduler != "sh")
        modules.push_back("ip_vs_" + scheduler);
    modules.push_back("nf_conntrack");
    return modules;
}

}  // namespace kipvs::proxy
