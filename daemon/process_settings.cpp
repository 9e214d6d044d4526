// SPDX-License-Identifier: Apache-2.0
// --oom-score-adj and the not-yet-applied settings (see process_settings.h).
#include "daemon/process_settings.h"

#include <cerrno>
#include <fstream>

namespace kipvs::daemon {

Result<void> applyOomScoreAdj(int value)
{
    std::ofstream file("/proc/self/oom_score_adj");
    file << value << "\n";
    file.close();
    if (!file)
        return fail(Error::Domain::Kernel, errno ? errno : EACCES, "write", "/proc/self/oom_score_adj",
                    std::to_string(value));
    return {};
}

std::vector<std::string> settingsNotYetApplied(const config::Options& o)
{
    std::vector<std::string> out;
    if (o.detectLocalMode != config::LocalDetector::ClusterCidr)
        out.push_back(std::string("--detect-local-mode=") + config::localDetectorName(o.detectLocalMode));
    if (o.bindAddress)
        out.push_back("--bind-address=" + o.bindAddress->toString());
    if (o.bindAddressHardFail)
        out.push_back("--bind-address-hard-fail");
    if (o.apiQps != 5 || o.apiBurst != 10)
        out.push_back("--kube-api-qps/--kube-api-burst");
    const auto& c = o.conntrack;
    if (c.maxPerCore || c.tcpEstablishedTimeout.count() || c.tcpCloseWaitTimeout.count() || c.tcpBeLiberal ||
        c.udpTimeout.count() || c.udpStreamTimeout.count())
        out.push_back("--conntrack-* (nf_conntrack sysctls)");
    return out;
}

}  // namespace kipvs::daemon
