// SPDX-License-Identifier: Apache-2.0
// The conntrack sysctls and hash size (see conntrack_settings.h).
#include "daemon/conntrack_settings.h"

#include <algorithm>
#include <cerrno>
#include <charconv>

#include <unistd.h>

namespace kipvs::daemon {

namespace {

Result<int64_t> readNumber(const ipvs::Sysctls& sysctls, const std::string& name)
{
    KIPVS_ASSIGN_OR_RETURN(auto text, sysctls.read(name));
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        return fail(Error::Domain::System, EINVAL, "read", name, "not a number: '" + text + "'");
    return value;
}

// Only raises it: writing is refused outside the initial network namespace, and not needed when
// the kernel's is large enough already.
Result<std::vector<Error>> raiseHashSize(int64_t max, const ipvs::Sysctls& moduleParameters)
{
    const int64_t wanted = proxy::conntrackHashSize(max);
    KIPVS_ASSIGN_OR_RETURN(const int64_t current, readNumber(moduleParameters, "hashsize"));
    if (current >= wanted)
        return std::vector<Error>{};
    if (auto written = moduleParameters.ensure("hashsize", std::to_string(wanted)); !written) {
        if (written.error().code != EROFS)
            return tl::unexpected(written.error());
        return std::vector<Error>{Error{Error::Domain::System, EROFS, "write", "nf_conntrack hashsize",
                                        "/sys is read-only: cannot modify conntrack limits, problems may arise later"}};
    }
    return std::vector<Error>{};
}

}  // namespace

proxy::ConntrackPolicy conntrackPolicyOf(const config::ConntrackOptions& c)
{
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    return {c.maxPerCore,
            c.min,
            duration_cast<seconds>(c.tcpEstablishedTimeout),
            duration_cast<seconds>(c.tcpCloseWaitTimeout),
            c.tcpBeLiberal,
            duration_cast<seconds>(c.udpTimeout),
            duration_cast<seconds>(c.udpStreamTimeout)};
}

Result<std::vector<Error>> applyConntrackPolicy(const proxy::ConntrackPolicy& policy, int cpus,
                                                const ipvs::Sysctls& procSys, const ipvs::Sysctls& moduleParameters)
{
    const auto failures = ipvs::applySysctls(procSys, proxy::conntrackSysctls(policy, cpus));
    if (!failures.empty())
        return tl::unexpected(failures.front());
    const int64_t max = proxy::conntrackMax(policy, cpus);
    if (max <= 0)
        return std::vector<Error>{};
    return raiseHashSize(max, moduleParameters);
}

Result<std::vector<Error>> applyConntrackPolicy(const proxy::ConntrackPolicy& policy)
{
    const int cpus = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    return applyConntrackPolicy(policy, cpus, ipvs::Sysctls(), ipvs::Sysctls("/sys/module/nf_conntrack/parameters"));
}

}  // namespace kipvs::daemon
