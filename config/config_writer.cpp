// SPDX-License-Identifier: Apache-2.0
// The effective settings as a v1alpha1 KubeProxyConfiguration, for --write-config-to (see
// options.h). The file reads back into the same settings.
#include <yaml-cpp/yaml.h>

#include "config/config_parts.h"

namespace kipvs::config {

namespace {

std::string goDuration(std::chrono::milliseconds d)
{
    if (d.count() % 1000 != 0)
        return std::to_string(d.count()) + "ms";
    return std::to_string(d.count() / 1000) + "s";
}

std::vector<std::string> texts(const std::vector<Cidr>& cidrs)
{
    std::vector<std::string> out;
    out.reserve(cidrs.size());
    for (const auto& c : cidrs)
        out.push_back(c.toString());
    return out;
}

void writeSections(YAML::Emitter& y, const Options& o)
{
    y << YAML::Key << "clientConnection" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "kubeconfig" << YAML::Value << o.kubeconfig << YAML::Key << "qps" << YAML::Value << o.apiQps
      << YAML::Key << "burst" << YAML::Value << o.apiBurst << YAML::EndMap;
    const auto& c = o.conntrack;
    y << YAML::Key << "conntrack" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "maxPerCore" << YAML::Value << c.maxPerCore << YAML::Key << "min" << YAML::Value << c.min;
    y << YAML::Key << "tcpBeLiberal" << YAML::Value << c.tcpBeLiberal;
    y << YAML::Key << "tcpEstablishedTimeout" << YAML::Value << goDuration(c.tcpEstablishedTimeout);
    y << YAML::Key << "tcpCloseWaitTimeout" << YAML::Value << goDuration(c.tcpCloseWaitTimeout);
    y << YAML::Key << "udpTimeout" << YAML::Value << goDuration(c.udpTimeout);
    y << YAML::Key << "udpStreamTimeout" << YAML::Value << goDuration(c.udpStreamTimeout) << YAML::EndMap;
    y << YAML::Key << "detectLocal" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "bridgeInterface" << YAML::Value << o.podBridgeInterface;
    y << YAML::Key << "interfaceNamePrefix" << YAML::Value << o.podInterfaceNamePrefix << YAML::EndMap;
    y << YAML::Key << "iptables" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "masqueradeAll" << YAML::Value << o.masqueradeAll;
    y << YAML::Key << "masqueradeBit" << YAML::Value << o.masqueradeBit << YAML::EndMap;
    y << YAML::Key << "ipvs" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "scheduler" << YAML::Value << o.ipvsScheduler;
    y << YAML::Key << "syncPeriod" << YAML::Value << goDuration(o.ipvsSyncPeriod);
    y << YAML::Key << "minSyncPeriod" << YAML::Value << goDuration(o.ipvsMinSyncPeriod);
    y << YAML::Key << "excludeCIDRs" << YAML::Value << YAML::Flow << texts(o.ipvsExcludeCidrs);
    y << YAML::Key << "strictARP" << YAML::Value << o.ipvsStrictArp;
    y << YAML::Key << "tcpTimeout" << YAML::Value << goDuration(o.ipvsTcpTimeout);
    y << YAML::Key << "tcpFinTimeout" << YAML::Value << goDuration(o.ipvsTcpFinTimeout);
    y << YAML::Key << "udpTimeout" << YAML::Value << goDuration(o.ipvsUdpTimeout) << YAML::EndMap;
    y << YAML::Key << "logging" << YAML::Value << YAML::BeginMap;
    y << YAML::Key << "format" << YAML::Value << (o.loggingFormat == logging::LogFormat::Json ? "json" : "text");
    y << YAML::Key << "verbosity" << YAML::Value << o.verbosity << YAML::EndMap;
}

}  // namespace

std::string renderConfig(const Options& o)
{
    YAML::Emitter y;
    y << YAML::BeginMap;
    y << YAML::Key << "apiVersion" << YAML::Value << "kubeproxy.config.k8s.io/v1alpha1";
    y << YAML::Key << "kind" << YAML::Value << "KubeProxyConfiguration";
    y << YAML::Key << "mode" << YAML::Value << "ipvs";
    y << YAML::Key << "bindAddress" << YAML::Value << (o.bindAddress ? o.bindAddress->toString() : "0.0.0.0");
    y << YAML::Key << "bindAddressHardFail" << YAML::Value << o.bindAddressHardFail;
    y << YAML::Key << "clusterCIDR" << YAML::Value;
    std::string clusterCidr;
    for (const auto& text : texts(o.clusterCidrs))
        clusterCidr += (clusterCidr.empty() ? "" : ",") + text;
    y << clusterCidr;
    y << YAML::Key << "detectLocalMode" << YAML::Value << localDetectorName(o.detectLocalMode);
    y << YAML::Key << "featureGates" << YAML::Value << o.featureGates;
    y << YAML::Key << "healthzBindAddress" << YAML::Value << o.healthzBindAddress;
    y << YAML::Key << "metricsBindAddress" << YAML::Value << o.metricsBindAddress;
    y << YAML::Key << "hostnameOverride" << YAML::Value << o.hostnameOverride;
    auto nodePorts = texts(o.nodePortAddresses);
    if (o.nodePortPrimary)
        nodePorts.emplace_back("primary");
    y << YAML::Key << "nodePortAddresses" << YAML::Value << YAML::Flow << nodePorts;
    y << YAML::Key << "oomScoreAdj" << YAML::Value << o.oomScoreAdj.value_or(0);
    writeSections(y, o);
    y << YAML::EndMap;
    return std::string(y.c_str()) + "\n";
}

}  // namespace kipvs::config
