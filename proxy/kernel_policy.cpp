// SPDX-License-Identifier: Apache-2.0
// kube-proxy's start-up sysctls and modules (see kernel_policy.h).
#include "proxy/kernel_policy.h"

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

std::vector<std::string> ipvsModules(const std::string& scheduler)
{
    std::vector<std::string> modules{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh"};
    if (!scheduler.empty() && scheduler != "rr" && scheduler != "wrr" && scheduler != "sh")
        modules.push_back("ip_vs_" + scheduler);
    modules.push_back("nf_conntrack");
    return modules;
}

}  // namespace kipvs::proxy
