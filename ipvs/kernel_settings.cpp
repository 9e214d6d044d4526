// SPDX-License-Identifier: Apache-2.0
// Start-up sysctls (see kernel_settings.h).
#include "kernel_settings.h"

#include <cstdio>

namespace kipvs::ipvs {

std::vector<SysctlSetting> ipvsSysctls(const std::string& release, bool strictArp)
{
    std::vector<SysctlSetting> out = {
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

std::vector<Error> applySysctls(const Sysctls& sysctls, const std::vector<SysctlSetting>& settings)
{
    std::vector<Error> failures;
    for (const auto& s : settings)
        if (auto written = sysctls.ensure(s.name, s.value); !written)
            failures.push_back(written.error());
    return failures;
}

}  // namespace kipvs::ipvs
