// SPDX-License-Identifier: Apache-2.0
// The command line and the KubeProxyConfiguration file: every kube-proxy v1.35 flag and
// v1alpha1 field with upstream's names, defaults, combination and validation, plus this
// daemon's own flags (--manifests, --dry-run, --output).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/port_range.h"
#include "base/result.h"
#include "log/log_format.h"

namespace kipvs::config {

// --detect-local-mode: how traffic from this cluster's pods is told apart from the rest (only
// the rest is masqueraded on its way to a ClusterIP).
enum class LocalDetector { ClusterCidr, NodeCidr, BridgeInterface, InterfaceNamePrefix };
const char* localDetectorName(LocalDetector detector);  // upstream's spelling: "NodeCIDR"

// The conntrack sysctls kube-proxy sets at start; 0 leaves a setting as it is.
struct ConntrackOptions {
    int32_t maxPerCore = 32768;  // nf_conntrack_max = max(maxPerCore x CPUs, min)
    int32_t min = 131072;
    std::chrono::milliseconds tcpEstablishedTimeout = std::chrono::hours(24);
    std::chrono::milliseconds tcpCloseWaitTimeout = std::chrono::hours(1);
    bool tcpBeLiberal = false;
    std::chrono::milliseconds udpTimeout{0};
    std::chrono::milliseconds udpStreamTimeout{0};
};

struct Options {
    std::string kubeconfig;
    std::string master;
    std::string configFile;
    std::string proxyMode = "ipvs";
    int verbosity = 0;
    logging::LogFormat loggingFormat = logging::LogFormat::Text;
    std::string hostnameOverride;
    std::vector<Cidr> clusterCidrs;  // at most one per family
    LocalDetector detectLocalMode = LocalDetector::ClusterCidr;
    std::string podBridgeInterface;  // --pod-bridge-interface
    std::string podInterfaceNamePrefix;  // --pod-interface-name-prefix
    std::vector<Cidr> nodePortAddresses;  // empty: every node address
    bool nodePortPrimary = false;  // --nodeport-addresses=primary (alone, as upstream requires)
    std::optional<InetAddress> bindAddress;  // --bind-address; unset for 0.0.0.0 and ::
    bool bindAddressHardFail = false;
    std::optional<int> oomScoreAdj = -999;
    float apiQps = 5;  // below 0: no client-side limit
    int apiBurst = 10;
    ConntrackOptions conntrack;
    std::map<std::string, bool> featureGates;
    bool masqueradeAll = false;
    int masqueradeBit = 14;
    std::string ipvsScheduler;  // empty: rr
    std::chrono::milliseconds ipvsSyncPeriod{30000};
    std::chrono::milliseconds ipvsMinSyncPeriod{1000};
    std::vector<Cidr> ipvsExcludeCidrs;
    // --service-node-port-range (this daemon's own, as the API server's): on node addresses only
    // virtual servers on these ports are the daemon's.
    PortRange nodePortRange = kDefaultNodePortRange;
    // --service-cluster-ip-range (named as the API server's): the ranges routed as local on
    // kube-ipvs0. Empty: the cluster's ServiceCIDR objects say.
    std::vector<Cidr> serviceRanges;
    bool ipvsStrictArp = false;
    std::chrono::seconds ipvsTcpTimeout{0};
    std::chrono::seconds ipvsTcpFinTimeout{0};
    std::chrono::seconds ipvsUdpTimeout{0};
    std::string healthzBindAddress = "0.0.0.0:10256";
    std::string metricsBindAddress = "127.0.0.1:10249";
    bool cleanup = false;
    bool initOnly = false;
    std::string writeConfigTo;  // --write-config-to
    std::string manifests;
    bool dryRun = false;
    std::string output = "ipvsadm";
    // Accepted input that changes nothing here (iptables settings, removed klog flags, unknown
    // fields decoded leniently...): the daemon logs each once at start.
    std::vector<std::string> warnings;
};

struct CommandLine {
    enum class Action { Run, Help, Version };
    Action action = Action::Run;
    std::string text;  // --help or --version output
    Options options;
};

// Parses the command line, then the --config file if given. As kube-proxy does, a config file
// replaces the flags' values except the logging flags (--v, --logging-format...) and
// --hostname-override; --master, --cleanup, --init-only and this daemon's own flags always
// apply. An invalid value, a malformed flag or a config field of the wrong type fails with one
// actionable line (main prints it and exits 2); unknown fields are warnings.
Result<CommandLine> parseCommandLine(int argc, const char* const* argv);

// A listening address "ip:port" or "[ipv6]:port", as --healthz-bind-address takes it.
struct BindAddress {
    InetAddress host;
    uint16_t port = 0;  // 0: any free port (tests)
};
Result<BindAddress> parseBindAddress(const std::string& text);

// Go's duration syntax, as kube-proxy's flags and config take it: "30s", "1m30s", "500ms",
// "-1s", "0". Sub-millisecond parts are truncated.
Result<std::chrono::milliseconds> parseDuration(const std::string& text);

// The feature gates whose state changes what the daemon does (the rest are accepted and named
// in a warning), with their v1.35 defaults.
bool featureEnabled(const Options& options, const std::string& gate);

// The effective settings as a KubeProxyConfiguration (what --write-config-to writes).
std::string renderConfig(const Options& options);

}  // namespace kipvs::config
