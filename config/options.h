// SPDX-License-Identifier: Apache-2.0
// The command line and the KubeProxyConfiguration file: kube-proxy's flag names, meanings and
// defaults, plus this daemon's own (--manifests, --dry-run, --output, --logging-format).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "base/result.h"
#include "log/log.h"

namespace kipvs::config {

struct Options {
    std::string kubeconfig;
    std::string master;
    std::string configFile;
    std::string proxyMode = "ipvs";
    int verbosity = 0;
    logging::LogFormat loggingFormat = logging::LogFormat::Text;
    std::string hostnameOverride;
    std::vector<Cidr> clusterCidrs;
    std::vector<Cidr> nodePortAddresses;  // empty: every node address
    bool nodePortPrimary = false;  // "primary" among --nodeport-addresses
    bool masqueradeAll = false;
    int masqueradeBit = 14;
    std::string ipvsScheduler;  // empty: rr
    std::chrono::milliseconds ipvsSyncPeriod{30000};
    std::chrono::milliseconds ipvsMinSyncPeriod{1000};
    std::vector<Cidr> ipvsExcludeCidrs;
    bool ipvsStrictArp = false;
    std::chrono::seconds ipvsTcpTimeout{0};
    std::chrono::seconds ipvsTcpFinTimeout{0};
    std::chrono::seconds ipvsUdpTimeout{0};
    std::string healthzBindAddress = "0.0.0.0:10256";
    std::string metricsBindAddress = "127.0.0.1:10249";
    bool cleanup = false;
    bool initOnly = false;
    std::string manifests;
    bool dryRun = false;
    std::string output = "ipvsadm";
};

struct CommandLine {
    enum class Action { Run, Help, Version };
    Action action = Action::Run;
    std::string text;  // --help or --version output
    Options options;
};

// Parses the command line, then the --config file if given. With a config file its values
// replace the flags', as kube-proxy does, except --v, --logging-format, --hostname-override and
// this daemon's own flags, which always apply. Any invalid value, unknown flag, unreadable file
// or unknown field fails with one actionable line (main prints it and exits 2).
Result<CommandLine> parseCommandLine(int argc, const char* const* argv);

// A listening address "ip:port" or "[ipv6]:port", as --healthz-bind-address takes it.
struct BindAddress {
    InetAddress host;
    uint16_t port = 0;  // 0: any free port (tests)
};
Result<BindAddress> parseBindAddress(const std::string& text);

// Go's duration syntax, as kube-proxy's flags and config take it: "30s", "1m30s", "500ms", "0".
Result<std::chrono::milliseconds> parseDuration(const std::string& text);

}  // namespace kipvs::config
