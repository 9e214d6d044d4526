// SPDX-License-Identifier: Apache-2.0
// Start-up sysctls (see kernel_settings.h).
#include "kernel_settings.h"

#include <cerrno>
#include <cstdio>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

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

std::vector<std::string> ipvsModules(const std::string& scheduler)
{
    std::vector<std::string> modules{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh"};
    if (!scheduler.empty() && scheduler != "rr" && scheduler != "wrr" && scheduler != "sh")
        modules.push_back("ip_vs_" + scheduler);
    modules.push_back("nf_conntrack");
    return modules;
}

Result<void> loadModule(const std::string& name)
{
    pid_t pid;
    const char* argv[] = {"modprobe", "-q", name.c_str(), nullptr};
    if (const int error = posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char**>(argv), environ); error != 0)
        return fail(Error::Domain::System, error, "run modprobe", name);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(Error::Domain::System, ENOENT, "load kernel module", name, "modprobe failed");
    return {};
}

}  // namespace kipvs::ipvs
