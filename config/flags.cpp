// SPDX-License-Identifier: Apache-2.0
// kube-proxy's command line: every v1.35 flag on Linux, with pflag's habits (see config_parts.h).
#include <CLI/CLI.hpp>

#include "config/config_parts.h"

namespace kipvs::config {

namespace {

// Flags that are read as text and parsed after CLI11 (durations, lists, enums).
struct FlagText {
    bool version = false;
    std::string loggingFormat = "text", clusterCidr, serviceRanges, detectLocalMode, bindAddress = "0.0.0.0",
                featureGates;
    std::vector<std::string> nodePortAddresses, excludeCidrs;
    std::string syncPeriod = "30s", minSyncPeriod = "1s", tcpTimeout = "0", tcpFinTimeout = "0", udpTimeout = "0";
    std::string ctEstablished = "24h", ctCloseWait = "1h", ctUdp = "0", ctUdpStream = "0";
    int oomScoreAdj = -999, healthzPort = 10256, metricsPort = 10249;
    std::string nodePortRange = "30000-32767";
    std::string ignored;  // the value of a flag without effect here
    bool ignoredSwitch = false;
};

// Flags kube-proxy has whose meaning is iptables-, nftables- or Go-specific: accepted, named in
// a warning when given.
const char* const kWithoutEffect[] = {
    "--iptables-sync-period",
    "--iptables-min-sync-period",
    "--iptables-localhost-nodeports",
    "--profiling",
    "--config-sync-period",
    "--kube-api-content-type",
    "--show-hidden-metrics-for-version",
    "--log-flush-frequency",
    "--log-json-info-buffer-size",
    "--log-json-split-stream",
    "--log-text-info-buffer-size",
    "--log-text-split-stream",
    "--vmodule",
};
// klog's flags, removed from Kubernetes components in v1.26 but still in old manifests.
const char* const kRemovedKlogValued[] = {"--log-dir", "--log-file", "--log-file-max-size", "--stderrthreshold",
                                          "--log-backtrace-at"};
const char* const kRemovedKlogSwitches[] = {"--logtostderr", "--alsologtostderr", "--add-dir-header",
                                            "--one-output",  "--skip-headers",    "--skip-log-headers"};

void declareClientFlags(CLI::App& app, Options& o, FlagText& t)
{
    app.add_option("--kubeconfig", o.kubeconfig, "Path to a kubeconfig file with the API server and credentials");
    app.add_option("--master", o.master, "The API server's address, overriding the kubeconfig's");
    app.add_option("--kube-api-qps", o.apiQps, "Requests per second to the API server (below 0: no limit)");
    app.add_option("--kube-api-burst", o.apiBurst, "Requests allowed at once above --kube-api-qps");
    app.add_option("--hostname-override", o.hostnameOverride, "This node's name, instead of the hostname");
    app.add_option("--bind-address", t.bindAddress,
                   "This node's primary IP (unless 0.0.0.0 or ::); an IPv6 one makes the servers' defaults IPv6");
    app.add_option("--healthz-bind-address", o.healthzBindAddress,
                   "Address:port for /healthz and /livez; empty disables");
    app.add_option("--metrics-bind-address", o.metricsBindAddress, "Address:port for /metrics; empty disables");
    app.add_option("--healthz-port", t.healthzPort, "Deprecated: the port of --healthz-bind-address; 0 disables");
    app.add_option("--metrics-port", t.metricsPort, "Deprecated: the port of --metrics-bind-address; 0 disables");
    app.add_flag("--bind-address-hard-fail", o.bindAddressHardFail,
                 "Exit when the health or metrics port cannot be bound, instead of retrying");
    app.add_option("--feature-gates", t.featureGates, "Feature gates, as Name=true,Other=false");
    app.add_option("--oom-score-adj", t.oomScoreAdj, "The process's oom_score_adj, -1000..1000 (default -999)");
}

void declareProxyFlags(CLI::App& app, Options& o, FlagText& t)
{
    app.add_option("--proxy-mode", o.proxyMode, "Only ipvs (or empty) is supported");
    app.add_option("--cluster-cidr", t.clusterCidr, "The pods' CIDR range(s), comma-separated for dual-stack");
    app.add_option("--detect-local-mode", t.detectLocalMode,
                   "ClusterCIDR (default), NodeCIDR, BridgeInterface or InterfaceNamePrefix");
    app.add_option("--pod-bridge-interface", o.podBridgeInterface, "With BridgeInterface: the pods' bridge");
    app.add_option("--pod-interface-name-prefix", o.podInterfaceNamePrefix,
                   "With InterfaceNamePrefix: the pods' interface name prefix");
    app.add_option("--nodeport-addresses", t.nodePortAddresses,
                   "CIDRs of the node addresses NodePorts serve on, or 'primary'; empty: all")
        ->delimiter(',');
    app.add_flag("--masquerade-all", o.masqueradeAll, "Masquerade all traffic to service cluster IPs");
    app.add_option("--iptables-masquerade-bit", o.masqueradeBit,
                   "The fwmark bit (0-31) that marks packets to masquerade");
    app.add_option("--ipvs-scheduler", o.ipvsScheduler,
                   "IPVS scheduler: rr (default), wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh...");
    app.add_option("--ipvs-sync-period", t.syncPeriod, "Longest interval between full syncs (e.g. 30s)");
    app.add_option("--ipvs-min-sync-period", t.minSyncPeriod, "Shortest interval between syncs (e.g. 1s)");
    app.add_option("--ipvs-exclude-cidrs", t.excludeCidrs, "CIDRs whose virtual servers cleanup never deletes")
        ->delimiter(',');
    app.add_flag("--ipvs-strict-arp", o.ipvsStrictArp, "Set arp_ignore=1 and arp_announce=2");
    app.add_option("--ipvs-tcp-timeout", t.tcpTimeout, "IPVS idle TCP timeout (0 leaves it)");
    app.add_option("--ipvs-tcpfin-timeout", t.tcpFinTimeout, "IPVS TCP FIN_WAIT timeout (0 leaves it)");
    app.add_option("--ipvs-udp-timeout", t.udpTimeout, "IPVS UDP timeout (0 leaves it)");
}

void declareConntrackFlags(CLI::App& app, Options& o, FlagText& t)
{
    app.add_option("--conntrack-max-per-core", o.conntrack.maxPerCore,
                   "nf_conntrack_max per CPU (0 leaves the limit and ignores --conntrack-min)");
    app.add_option("--conntrack-min", o.conntrack.min, "The least nf_conntrack_max, whatever the CPUs");
    app.add_option("--conntrack-tcp-timeout-established", t.ctEstablished,
                   "Idle timeout of established TCP flows (0 leaves it)");
    app.add_option("--conntrack-tcp-timeout-close-wait", t.ctCloseWait, "Timeout of TCP flows in CLOSE_WAIT");
    app.add_flag("--conntrack-tcp-be-liberal", o.conntrack.tcpBeLiberal, "Set nf_conntrack_tcp_be_liberal to 1");
    app.add_option("--conntrack-udp-timeout", t.ctUdp, "Idle timeout of unreplied UDP flows (0 leaves it)");
    app.add_option("--conntrack-udp-timeout-stream", t.ctUdpStream, "Idle timeout of assured UDP flows (0 leaves it)");
}

void declareRunFlags(CLI::App& app, Options& o, FlagText& t)
{
    app.set_help_flag("-h,--help", "Show this help and exit");
    app.add_option("--config", o.configFile, "A KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) file");
    app.add_option("--write-config-to", o.writeConfigTo, "Write the effective configuration to this file and exit");
    app.add_option("-v,--v", o.verbosity, "Log verbosity: 2 for summaries, 4 and above for per-object detail");
    app.add_option("--logging-format", t.loggingFormat, "text or json");
    app.add_flag("--cleanup", o.cleanup, "Remove everything this daemon owns and exit");
    app.add_flag("--init-only", o.initOnly, "Apply sysctls and load modules, then exit");
    app.add_option("--manifests", o.manifests,
                   "Read Services, EndpointSlices and Nodes from this folder instead of an API server");
    app.add_option("--service-node-port-range", t.nodePortRange,
                   "The API server's NodePort range: only virtual servers on these ports of node addresses are "
                   "kube-ipvsd's");
    app.add_option("--service-cluster-ip-range", t.serviceRanges,
                   "The API server's service range(s), comma-separated for dual-stack: each is routed as local on "
                   "kube-ipvs0 instead of binding every ClusterIP; default: the cluster's ServiceCIDR objects");
    app.add_flag("--dry-run", o.dryRun, "Compute the wanted state once, print it, change nothing");
    app.add_option("--output", o.output, "With --dry-run: ipvsadm or json");
    app.add_flag("--version", t.version, "Print the version and exit");
}

void declareAcceptedFlags(CLI::App& app, FlagText& t)
{
    for (const char* flag : kWithoutEffect)
        app.add_option(flag, t.ignored, "Accepted for kube-proxy compatibility; no effect")->group("Without effect");
    for (const char* flag : kRemovedKlogValued)
        app.add_option(flag, t.ignored, "Removed klog flag, accepted and ignored")->group("Without effect");
    for (const char* flag : kRemovedKlogSwitches)
        app.add_flag(std::string(flag), t.ignoredSwitch, "Removed klog flag, accepted and ignored")
            ->group("Without effect");
}

// pflag's spellings CLI11 does not share: "--flag=" is an empty value (kube-proxy: an empty bind
// address disables the server), and "--log_dir" is "--log-dir". CLI11 wants the arguments in
// reverse order.
std::vector<std::string> argumentsOf(int argc, const char* const* argv)
{
    std::vector<std::string> args;
    for (int i = argc - 1; i >= 1; --i) {
        std::string arg = argv[i];
        if (arg.starts_with("--")) {
            const size_t nameEnd = std::min(arg.find('='), arg.size());
            std::replace(arg.begin() + 2, arg.begin() + static_cast<std::ptrdiff_t>(nameEnd), '_', '-');
        }
        if (arg.starts_with("--") && arg.ends_with("=")) {
            args.push_back("");
            arg.pop_back();
        }
        args.push_back(arg);
    }
    return args;
}

Result<void> durationInto(const char* flag, const std::string& text, std::chrono::milliseconds& into)
{
    auto d = parseDuration(text);
    if (!d)
        return invalid(flag, d.error().detail);
    into = *d;
    return {};
}

Result<void> secondsInto(const char* flag, const std::string& text, std::chrono::seconds& into)
{
    std::chrono::milliseconds ms{0};
    KIPVS_TRY(durationInto(flag, text, ms));
    into = std::chrono::duration_cast<std::chrono::seconds>(ms);
    return {};
}

Result<void> applyDurations(const FlagText& t, Options& o)
{
    KIPVS_TRY(durationInto("--ipvs-sync-period", t.syncPeriod, o.ipvsSyncPeriod));
    KIPVS_TRY(durationInto("--ipvs-min-sync-period", t.minSyncPeriod, o.ipvsMinSyncPeriod));
    KIPVS_TRY(secondsInto("--ipvs-tcp-timeout", t.tcpTimeout, o.ipvsTcpTimeout));
    KIPVS_TRY(secondsInto("--ipvs-tcpfin-timeout", t.tcpFinTimeout, o.ipvsTcpFinTimeout));
    KIPVS_TRY(secondsInto("--ipvs-udp-timeout", t.udpTimeout, o.ipvsUdpTimeout));
    KIPVS_TRY(durationInto("--conntrack-tcp-timeout-established", t.ctEstablished, o.conntrack.tcpEstablishedTimeout));
    KIPVS_TRY(durationInto("--conntrack-tcp-timeout-close-wait", t.ctCloseWait, o.conntrack.tcpCloseWaitTimeout));
    KIPVS_TRY(durationInto("--conntrack-udp-timeout", t.ctUdp, o.conntrack.udpTimeout));
    KIPVS_TRY(durationInto("--conntrack-udp-timeout-stream", t.ctUdpStream, o.conntrack.udpStreamTimeout));
    return {};
}

std::string joined(const std::vector<std::string>& items)
{
    std::string out;
    for (const auto& item : items)
        out += item + ",";
    return out;
}

Result<void> applyListsAndEnums(const FlagText& t, Options& o)
{
    if (t.loggingFormat != "text" && t.loggingFormat != "json")
        return invalid("--logging-format", "'" + t.loggingFormat + "' is not text or json");
    o.loggingFormat = t.loggingFormat == "json" ? logging::LogFormat::Json : logging::LogFormat::Text;
    KIPVS_ASSIGN_OR_RETURN(o.clusterCidrs, cidrList("--cluster-cidr", t.clusterCidr, nullptr));
    KIPVS_ASSIGN_OR_RETURN(o.nodePortAddresses,
                           cidrList("--nodeport-addresses", joined(t.nodePortAddresses), &o.nodePortPrimary));
    KIPVS_ASSIGN_OR_RETURN(o.ipvsExcludeCidrs, cidrList("--ipvs-exclude-cidrs", joined(t.excludeCidrs), nullptr));
    KIPVS_ASSIGN_OR_RETURN(o.serviceRanges, cidrList("--service-cluster-ip-range", t.serviceRanges, nullptr));
    KIPVS_ASSIGN_OR_RETURN(o.nodePortRange, portRange("--service-node-port-range", t.nodePortRange));
    KIPVS_ASSIGN_OR_RETURN(o.detectLocalMode, localDetector("--detect-local-mode", t.detectLocalMode));
    KIPVS_TRY(featureGateList(t.featureGates, o.featureGates));
    auto bind = InetAddress::parse(t.bindAddress);
    if (!bind)
        return invalid("--bind-address", "'" + t.bindAddress + "' is not an IP address");
    o.bindAddress = bind->isUnspecified() ? std::nullopt : std::optional(*bind);
    o.oomScoreAdj = t.oomScoreAdj;
    return {};
}

// --healthz-port and --metrics-port (deprecated) replace the port of the bind addresses.
void applyDeprecatedPorts(const std::set<std::string>& given, const FlagText& t, Options& o)
{
    for (auto [flag, port, address] : {std::tuple{"--healthz-port", t.healthzPort, &o.healthzBindAddress},
                                       std::tuple{"--metrics-port", t.metricsPort, &o.metricsBindAddress}}) {
        if (!given.count(flag))
            continue;
        o.warnings.push_back(std::string(flag) + " is deprecated; use the -bind-address flag");
        if (port == 0)
            address->clear();
        else if (const auto colon = address->rfind(':'); colon != std::string::npos)
            *address = address->substr(0, colon + 1) + std::to_string(port);
    }
}

void warnAboutAccepted(const std::set<std::string>& given, Options& o)
{
    std::string withoutEffect, klog;
    for (const char* flag : kWithoutEffect)
        if (given.count(flag))
            withoutEffect += std::string(withoutEffect.empty() ? "" : ", ") + flag;
    auto named = [&](const char* flag) {
        if (given.count(flag))
            klog += std::string(klog.empty() ? "" : ", ") + flag;
    };
    std::for_each(std::begin(kRemovedKlogValued), std::end(kRemovedKlogValued), named);
    std::for_each(std::begin(kRemovedKlogSwitches), std::end(kRemovedKlogSwitches), named);
    if (!withoutEffect.empty())
        o.warnings.push_back("flags accepted for kube-proxy compatibility have no effect here: " + withoutEffect);
    if (!klog.empty())
        o.warnings.push_back("klog flags removed from Kubernetes in v1.26 are ignored: " + klog);
}

std::set<std::string> givenFlags(const CLI::App& app)
{
    std::set<std::string> given;
    for (const CLI::Option* option : app.get_options())
        if (option->count() > 0)
            for (const auto& name : option->get_lnames())
                given.insert("--" + name);
    return given;
}

}  // namespace

Result<FlagsRead> readFlags(int argc, const char* const* argv)
{
    FlagsRead out;
    CommandLine& cl = out.commandLine;
    Options& o = cl.options;
    CLI::App app{"kube-ipvsd: the Kubernetes service proxy in IPVS mode, a drop-in for kube-proxy --proxy-mode=ipvs",
                 "kube-ipvsd"};
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // as pflag
    FlagText text;
    declareRunFlags(app, o, text);
    declareClientFlags(app, o, text);
    declareProxyFlags(app, o, text);
    declareConntrackFlags(app, o, text);
    declareAcceptedFlags(app, text);
    try {
        app.parse(argumentsOf(argc, argv));
    } catch (const CLI::CallForHelp&) {
        cl.action = CommandLine::Action::Help;
        cl.text = app.help();
        return out;
    } catch (const CLI::ParseError& e) {
        return invalid("command line", std::string(e.what()) + " (see --help)");
    }
    if (text.version) {
        cl.action = CommandLine::Action::Version;
        cl.text = "kube-ipvsd " KIPVS_VERSION "\n";
        return out;
    }
    out.given = givenFlags(app);
    KIPVS_TRY(applyDurations(text, o));
    KIPVS_TRY(applyListsAndEnums(text, o));
    applyDeprecatedPorts(out.given, text, o);
    warnAboutAccepted(out.given, o);
    return out;
}

}  // namespace kipvs::config
