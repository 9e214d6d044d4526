// SPDX-License-Identifier: Apache-2.0
// Upstream's last defaults and its validation (pkg/proxy/apis/config/validation), applied to
// flags and config file alike (see config_parts.h).
#include <net/if.h>

#include "base/service_range.h"
#include "config/config_parts.h"

namespace kipvs::config {

namespace {

// "0.0.0.0" becomes "0.0.0.0:10256", as upstream's AppendPortIfNeeded.
void appendPortIfNeeded(std::string& address, uint16_t port)
{
    if (address.empty())
        return;
    if (InetAddress::parse(address))
        address = (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

void completeDefaults(Options& o)
{
    o.proxyMode = "ipvs";
    // With an IPv6 --bind-address the servers' defaults are IPv6 too.
    if (o.bindAddress && o.bindAddress->isV6()) {
        if (o.healthzBindAddress == "0.0.0.0:10256")
            o.healthzBindAddress = "[::]:10256";
        if (o.metricsBindAddress == "127.0.0.1:10249")
            o.metricsBindAddress = "[::1]:10249";
    }
    appendPortIfNeeded(o.healthzBindAddress, 10256);
    appendPortIfNeeded(o.metricsBindAddress, 10249);
    // Trimmed here, lower-cased where the node name is decided.
    o.hostnameOverride.erase(0, o.hostnameOverride.find_first_not_of(" \t"));
    o.hostnameOverride.erase(o.hostnameOverride.find_last_not_of(" \t") + 1);
}

Result<void> validateMode(const Options& o)
{
    if (!o.proxyMode.empty() && o.proxyMode != "ipvs")
        return invalid("--proxy-mode", "'" + o.proxyMode + "': kube-ipvsd implements IPVS mode only; for '" +
                                           o.proxyMode + "' run kube-proxy itself");
    if (!o.hostnameOverride.empty() && o.hostnameOverride.find_first_not_of(" \t") == std::string::npos)
        return invalid("--hostname-override", "empty hostname-override is invalid");
    return {};
}

Result<void> validatePeriods(const Options& o)
{
    if (o.ipvsSyncPeriod.count() <= 0)
        return invalid("--ipvs-sync-period", "must be greater than 0");
    if (o.ipvsMinSyncPeriod.count() < 0)
        return invalid("--ipvs-min-sync-period", "must be greater than or equal to 0");
    if (o.ipvsMinSyncPeriod > o.ipvsSyncPeriod)
        return invalid("--ipvs-min-sync-period", "must not exceed --ipvs-sync-period");
    for (auto [flag, value] :
         {std::pair{"--ipvs-tcp-timeout", o.ipvsTcpTimeout}, std::pair{"--ipvs-tcpfin-timeout", o.ipvsTcpFinTimeout},
          std::pair{"--ipvs-udp-timeout", o.ipvsUdpTimeout}})
        if (value.count() < 0)
            return invalid(flag, "must be greater than or equal to 0");
    return {};
}

Result<void> validateConntrack(const ConntrackOptions& c)
{
    if (c.maxPerCore < 0)
        return invalid("--conntrack-max-per-core", "must be greater than or equal to 0");
    if (c.min < 0)
        return invalid("--conntrack-min", "must be greater than or equal to 0");
    for (auto [flag, value] : {std::pair{"--conntrack-tcp-timeout-established", c.tcpEstablishedTimeout},
                               std::pair{"--conntrack-tcp-timeout-close-wait", c.tcpCloseWaitTimeout},
                               std::pair{"--conntrack-udp-timeout", c.udpTimeout},
                               std::pair{"--conntrack-udp-timeout-stream", c.udpStreamTimeout}})
        if (value.count() < 0)
            return invalid(flag, "must be greater than or equal to 0");
    return {};
}

// At most one CIDR per family: "10.244.0.0/16" or "10.244.0.0/16,fd00:10:244::/56".
Result<void> validateOnePerFamily(const char* flag, const std::vector<Cidr>& cidrs, const char* example)
{
    const auto v4 = std::count_if(cidrs.begin(), cidrs.end(), [](const Cidr& c) { return c.address.isV4(); });
    if (cidrs.size() > 2 || v4 > 1 || static_cast<size_t>(v4) + 1 < cidrs.size())
        return invalid(flag,
                       std::string("only one CIDR, or one IPv4 and one IPv6 CIDR (e.g. ") + example + "), is allowed");
    return {};
}

Result<void> validateServiceRanges(const std::vector<Cidr>& ranges)
{
    KIPVS_TRY(validateOnePerFamily("--service-cluster-ip-range", ranges, "10.96.0.0/12,fd00:10:96::/112"));
    for (const auto& range : ranges)
        if (!routableServiceRange(range))
            return invalid(
                "--service-cluster-ip-range",
                range.toString() + " is too wide: the mask must be at least /" +
                    std::to_string(range.address.isV4() ? kWidestIPv4ServiceRange : kWidestIPv6ServiceRange));
    return {};
}

bool validInterfaceName(const std::string& name)
{
    return !name.empty() && name.size() < IFNAMSIZ && name != "." && name != ".." &&
           name.find_first_of("/ \t\n:\"\\*") == std::string::npos;
}

Result<void> validateDetectLocal(const Options& o)
{
    switch (o.detectLocalMode) {
    case LocalDetector::ClusterCidr:
    case LocalDetector::NodeCidr:
        return {};
    case LocalDetector::BridgeInterface:
        if (!validInterfaceName(o.podBridgeInterface))
            return invalid("--pod-bridge-interface",
                           "'" + o.podBridgeInterface + "' is not an interface name; BridgeInterface needs one");
        return {};
    case LocalDetector::InterfaceNamePrefix:
        if (o.podInterfaceNamePrefix.empty() || !validInterfaceName(o.podInterfaceNamePrefix))
            return invalid("--pod-interface-name-prefix", "'" + o.podInterfaceNamePrefix +
                                                              "' is not an interface name prefix; "
                                                              "InterfaceNamePrefix needs one");
        return {};
    }
    return {};
}

Result<void> validateAddresses(const Options& o)
{
    if (o.nodePortPrimary && !o.nodePortAddresses.empty())
        return invalid("--nodeport-addresses", "can't use both 'primary' and CIDRs");
    for (auto [flag, text] : {std::pair{"--healthz-bind-address", &o.healthzBindAddress},
                              std::pair{"--metrics-bind-address", &o.metricsBindAddress}})
        if (!text->empty())
            if (auto bind = parseBindAddress(*text); !bind)
                return invalid(flag, bind.error().detail);
    return {};
}

Result<void> validateProcess(const Options& o)
{
    if (o.masqueradeBit < 0 || o.masqueradeBit > 31)
        return invalid("--iptables-masquerade-bit", std::to_string(o.masqueradeBit) + " is outside 0..31");
    if (o.oomScoreAdj && (*o.oomScoreAdj < -1000 || *o.oomScoreAdj > 1000))
        return invalid("--oom-score-adj", std::to_string(*o.oomScoreAdj) + " is outside -1000..1000");
    if (o.apiBurst < 0)
        return invalid("--kube-api-burst", "must be greater than or equal to 0");
    if (o.output != "ipvsadm" && o.output != "json")
        return invalid("--output", "'" + o.output + "' is not ipvsadm or json");
    return {};
}

void warnAboutGates(Options& o)
{
    std::string others;
    for (const auto& [gate, enabled] : o.featureGates)
        if (gate != "PreferSameTrafficDistribution")
            others += (others.empty() ? "" : ", ") + gate + "=" + (enabled ? "true" : "false");
    if (!others.empty())
        o.warnings.push_back("feature gates without effect on kube-ipvsd: " + others);
}

}  // namespace

Result<void> completeAndValidate(Options& o)
{
    KIPVS_TRY(validateMode(o));
    completeDefaults(o);
    KIPVS_TRY(validatePeriods(o));
    KIPVS_TRY(validateConntrack(o.conntrack));
    KIPVS_TRY(validateOnePerFamily("--cluster-cidr", o.clusterCidrs, "10.244.0.0/16,fd00:10:244::/56"));
    KIPVS_TRY(validateServiceRanges(o.serviceRanges));
    KIPVS_TRY(validateDetectLocal(o));
    KIPVS_TRY(validateAddresses(o));
    KIPVS_TRY(validateProcess(o));
    warnAboutGates(o);
    return {};
}

}  // namespace kipvs::config
