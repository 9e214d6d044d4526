// SPDX-License-Identifier: Apache-2.0
// Flags and KubeProxyConfiguration (see options.h).
#include "config/options.h"

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include <set>
#include <sstream>

namespace kipvs::config {

namespace {

tl::unexpected<Error> invalid(const std::string& what, const std::string& detail)
{
    return fail(Error::Domain::Config, EINVAL, "invalid", what, detail);
}

// A comma-separated CIDR list. With `primary`, the word "primary" may stand in it and sets *primary.
Result<std::vector<Cidr>> cidrList(const std::string& flag, const std::string& text, bool* primary)
{
    std::vector<Cidr> out;
    std::stringstream list(text);
    for (std::string item; std::getline(list, item, ',');) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (item.empty())
            continue;
        if (primary && item == "primary") {
            *primary = true;
            continue;
        }
        auto cidr = Cidr::parse(item);
        if (!cidr)
            return invalid(flag, "'" + item + "' is not a CIDR");
        out.push_back(*cidr);
    }
    return out;
}

// A KubeProxyConfiguration key path, for error messages and the unknown-field check.
const std::set<std::string> kKnownConfigFields = {
    "apiVersion",
    "kind",
    "mode",
    "clusterCIDR",
    "hostnameOverride",
    "nodePortAddresses",
    "bindAddress",
    "healthzBindAddress",
    "metricsBindAddress",
    "bindAddressHardFail",
    "enableProfiling",
    "configSyncPeriod",
    "oomScoreAdj",
    "portRange",
    "showHiddenMetricsForVersion",
    "detectLocalMode",
    "detectLocal",
    "featureGates",
    "udpIdleTimeout",
    "winkernel",
    "nftables",
    "conntrack",
    "logging",
    "clientConnection",
    "iptables",
    "ipvs",
    "syncPeriod",
    "minSyncPeriod",
    "windowsRunAsService",
};
const std::set<std::string> kKnownIpvsFields = {"scheduler", "syncPeriod", "minSyncPeriod", "excludeCIDRs",
                                                "strictARP", "tcpTimeout", "tcpFinTimeout", "udpTimeout"};

// The fields a config file may hold as YAML lists of strings, joined for cidrList.
std::string joined(const YAML::Node& list)
{
    std::string out;
    for (const auto& item : list)
        out += item.as<std::string>() + ",";
    return out;
}

// Reads one section of a KubeProxyConfiguration into Options; YAML type errors are thrown
// (YAML::Exception) and reported once by loadConfigFile.
class ConfigReader {
public:
    ConfigReader(const std::string& path, Options& o) : what_("--config '" + path + "'"), o_(o) {}

    Result<void> checkHeader(const YAML::Node& root) const
    {
        if (!root.IsMap())
            return invalid(what_, "not a KubeProxyConfiguration");
        if (root["kind"].as<std::string>("") != "KubeProxyConfiguration" ||
            root["apiVersion"].as<std::string>("") != "kubeproxy.config.k8s.io/v1alpha1")
            return invalid(what_, "kind must be KubeProxyConfiguration, apiVersion kubeproxy.config.k8s.io/v1alpha1");
        return checkKnown(root, kKnownConfigFields, "");
    }

    Result<void> readTopLevel(const YAML::Node& root)
    {
        if (root["mode"])
            o_.proxyMode = root["mode"].as<std::string>();
        if (root["hostnameOverride"])
            o_.hostnameOverride = root["hostnameOverride"].as<std::string>();
        if (root["clusterCIDR"]) {
            KIPVS_ASSIGN_OR_RETURN(o_.clusterCidrs,
                                   cidrList("clusterCIDR", root["clusterCIDR"].as<std::string>(), nullptr));
        }
        if (root["nodePortAddresses"]) {
            KIPVS_ASSIGN_OR_RETURN(
                o_.nodePortAddresses,
                cidrList("nodePortAddresses", joined(root["nodePortAddresses"]), &o_.nodePortPrimary));
        }
        if (root["healthzBindAddress"])
            o_.healthzBindAddress = root["healthzBindAddress"].as<std::string>();
        if (root["metricsBindAddress"])
            o_.metricsBindAddress = root["metricsBindAddress"].as<std::string>();
        if (const auto cc = root["clientConnection"]; cc && cc["kubeconfig"])
            o_.kubeconfig = cc["kubeconfig"].as<std::string>();
        if (const auto ipt = root["iptables"]) {
            if (ipt["masqueradeAll"])
                o_.masqueradeAll = ipt["masqueradeAll"].as<bool>();
            if (ipt["masqueradeBit"])
                o_.masqueradeBit = ipt["masqueradeBit"].as<int>();
        }
        return {};
    }

    Result<void> readIpvs(const YAML::Node& ipvs)
    {
        // With a config file and mode ipvs, an unset minSyncPeriod is 0 (every change syncs at
        // once), as kube-proxy's v1alpha1 defaulting leaves it.
        o_.ipvsMinSyncPeriod = std::chrono::milliseconds(0);
        if (!ipvs)
            return {};
        KIPVS_TRY(checkKnown(ipvs, kKnownIpvsFields, "ipvs."));
        if (ipvs["scheduler"])
            o_.ipvsScheduler = ipvs["scheduler"].as<std::string>();
        if (ipvs["strictARP"])
            o_.ipvsStrictArp = ipvs["strictARP"].as<bool>();
        for (auto [name, into] :
             {std::pair{"syncPeriod", &o_.ipvsSyncPeriod}, std::pair{"minSyncPeriod", &o_.ipvsMinSyncPeriod}})
            KIPVS_TRY(duration(ipvs[name], std::string("ipvs.") + name, *into));
        for (auto [name, into] :
             {std::pair{"tcpTimeout", &o_.ipvsTcpTimeout}, std::pair{"tcpFinTimeout", &o_.ipvsTcpFinTimeout},
              std::pair{"udpTimeout", &o_.ipvsUdpTimeout}}) {
            std::chrono::milliseconds ms{0};
            KIPVS_TRY(duration(ipvs[name], std::string("ipvs.") + name, ms));
            *into = std::chrono::duration_cast<std::chrono::seconds>(ms);
        }
        if (ipvs["excludeCIDRs"]) {
            KIPVS_ASSIGN_OR_RETURN(o_.ipvsExcludeCidrs,
                                   cidrList("ipvs.excludeCIDRs", joined(ipvs["excludeCIDRs"]), nullptr));
        }
        return {};
    }

    const std::string& what() const { return what_; }

private:
    Result<void> checkKnown(const YAML::Node& map, const std::set<std::string>& known, const std::string& prefix) const
    {
        for (const auto& field : map)
            if (!known.count(field.first.as<std::string>()))
                return invalid(what_, "unknown field '" + prefix + field.first.as<std::string>() + "'");
        return {};
    }

    Result<void> duration(const YAML::Node& node, const std::string& name, std::chrono::milliseconds& into) const
    {
        if (!node)
            return {};
        auto parsed = parseDuration(node.as<std::string>());
        if (!parsed)
            return invalid(what_, name + ": " + parsed.error().detail);
        into = *parsed;
        return {};
    }

    std::string what_;
    Options& o_;
};

Result<void> loadConfigFile(const std::string& path, Options& o)
{
    ConfigReader reader(path, o);
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        return fail(Error::Domain::Config, ENOENT, "read --config", "'" + path + "'", "cannot open the file");
    } catch (const YAML::Exception& e) {
        return invalid(reader.what(), std::string("not valid YAML: ") + e.what());
    }
    try {
        KIPVS_TRY(reader.checkHeader(root));
        KIPVS_TRY(reader.readTopLevel(root));
        KIPVS_TRY(reader.readIpvs(root["ipvs"]));
    } catch (const YAML::Exception& e) {
        return invalid(reader.what(), std::string("a field has the wrong type: ") + e.what());
    }
    return {};
}

}  // namespace

Result<std::chrono::milliseconds> parseDuration(const std::string& text)
{
    if (text == "0")
        return std::chrono::milliseconds(0);
    double total = 0;
    size_t i = 0;
    if (text.empty())
        return invalid("duration", "empty");
    while (i < text.size()) {
        size_t start = i;
        while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
            ++i;
        if (start == i)
            return invalid("duration", "'" + text + "' is not a duration like 30s, 1m30s or 500ms");
        const double number = std::stod(text.substr(start, i - start));
        size_t unitStart = i;
        while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
            ++i;
        const std::string unit = text.substr(unitStart, i - unitStart);
        const double scale = unit == "h" ? 3600e3 : unit == "m" ? 60e3 : unit == "s" ? 1e3 : unit == "ms" ? 1 : -1;
        if (scale < 0)
            return invalid("duration", "'" + text + "' has no unit or an unknown one (h, m, s, ms)");
        total += number * scale;
    }
    return std::chrono::milliseconds(static_cast<long long>(total));
}

Result<BindAddress> parseBindAddress(const std::string& text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size())
        return invalid("bind address", "'" + text + "' is not ip:port (like 0.0.0.0:10256 or [::]:10256)");
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string::npos)
        return invalid("bind address", "'" + text + "': an IPv6 address needs brackets, like [::]:10256");
    auto address = InetAddress::parse(host);
    if (!address)
        return invalid("bind address", "'" + text + "': '" + host + "' is not an IP address");
    const std::string port = text.substr(colon + 1);
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(port) > 65535)
        return invalid("bind address", "'" + text + "': '" + port + "' is not a port");
    return BindAddress{*address, static_cast<uint16_t>(std::stoul(port))};
}

namespace {

// The flags whose values need parsing after CLI11 has read them as text.
struct FlagText {
    bool version = false;
    std::string nodePortAddresses, clusterCidr, excludeCidrs, loggingFormat = "text";
    std::string syncPeriod = "30s", minSyncPeriod = "1s", tcpTimeout = "0", tcpFinTimeout = "0", udpTimeout = "0";
};

void declareFlags(CLI::App& app, Options& o, FlagText& t)
{
    app.set_help_flag("-h,--help", "Show this help and exit");
    app.add_option("--kubeconfig", o.kubeconfig, "Path to a kubeconfig file with the API server and credentials");
    app.add_option("--master", o.master, "The API server's address, overriding the kubeconfig's");
    app.add_option("--config", o.configFile, "A KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) file");
    app.add_option("--proxy-mode", o.proxyMode, "Only ipvs (or empty) is supported");
    app.add_option("-v,--v", o.verbosity, "Log verbosity: 2 for summaries, 4 and above for per-object detail");
    app.add_option("--logging-format", t.loggingFormat, "text or json");
    app.add_option("--hostname-override", o.hostnameOverride, "This node's name, instead of the hostname");
    app.add_option("--cluster-cidr", t.clusterCidr, "The pods' CIDR range(s), comma-separated for dual-stack");
    app.add_option("--nodeport-addresses", t.nodePortAddresses,
                   "CIDRs (or 'primary') of the node addresses NodePorts serve on; empty: all");
    app.add_flag("--masquerade-all", o.masqueradeAll, "Masquerade all traffic to service cluster IPs");
    app.add_option("--iptables-masquerade-bit", o.masqueradeBit,
                   "The fwmark bit (0-31) that marks packets to masquerade");
    app.add_option("--ipvs-scheduler", o.ipvsScheduler,
                   "IPVS scheduler: rr (default), wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh...");
    app.add_option("--ipvs-sync-period", t.syncPeriod, "Longest interval between full syncs (e.g. 30s)");
    app.add_option("--ipvs-min-sync-period", t.minSyncPeriod, "Shortest interval between syncs (e.g. 1s)");
    app.add_option("--ipvs-exclude-cidrs", t.excludeCidrs, "CIDRs whose virtual servers are never touched");
    app.add_flag("--ipvs-strict-arp", o.ipvsStrictArp, "Set arp_ignore=1 and arp_announce=2");
    app.add_option("--ipvs-tcp-timeout", t.tcpTimeout, "IPVS idle TCP timeout (0 leaves it)");
    app.add_option("--ipvs-tcpfin-timeout", t.tcpFinTimeout, "IPVS TCP FIN_WAIT timeout (0 leaves it)");
    app.add_option("--ipvs-udp-timeout", t.udpTimeout, "IPVS UDP timeout (0 leaves it)");
    app.add_option("--healthz-bind-address", o.healthzBindAddress,
                   "Address:port for /healthz and /livez; empty disables");
    app.add_option("--metrics-bind-address", o.metricsBindAddress, "Address:port for /metrics; empty disables");
    app.add_flag("--cleanup", o.cleanup, "Remove everything this daemon owns and exit");
    app.add_flag("--init-only", o.initOnly, "Apply sysctls and load modules, then exit");
    app.add_option("--manifests", o.manifests,
                   "Read Services, EndpointSlices and Nodes from this folder instead of an API server");
    app.add_flag("--dry-run", o.dryRun, "Compute the wanted state once, print it, change nothing");
    app.add_option("--output", o.output, "With --dry-run: ipvsadm or json");
    app.add_flag("--version", t.version, "Print the version and exit");
}

// "--flag=" means an empty value (kube-proxy: an empty bind address disables the server);
// CLI11 would take the next argument instead, so it becomes "--flag" "". CLI11 wants the
// arguments in reverse order.
std::vector<std::string> argumentsOf(int argc, const char* const* argv)
{
    std::vector<std::string> args;
    for (int i = argc - 1; i >= 1; --i) {
        std::string arg = argv[i];
        if (arg.starts_with("--") && arg.ends_with("=")) {
            args.push_back("");
            arg.pop_back();
        }
        args.push_back(arg);
    }
    return args;
}

Result<void> applyFlagText(const FlagText& t, Options& o)
{
    if (t.loggingFormat != "text" && t.loggingFormat != "json")
        return invalid("--logging-format", "'" + t.loggingFormat + "' is not text or json");
    o.loggingFormat = t.loggingFormat == "json" ? logging::LogFormat::Json : logging::LogFormat::Text;
    for (auto [flag, text, into] : {std::tuple{"--ipvs-sync-period", &t.syncPeriod, &o.ipvsSyncPeriod},
                                    std::tuple{"--ipvs-min-sync-period", &t.minSyncPeriod, &o.ipvsMinSyncPeriod}}) {
        auto d = parseDuration(*text);
        if (!d)
            return invalid(flag, d.error().detail);
        *into = *d;
    }
    for (auto [flag, text, into] : {std::tuple{"--ipvs-tcp-timeout", &t.tcpTimeout, &o.ipvsTcpTimeout},
                                    std::tuple{"--ipvs-tcpfin-timeout", &t.tcpFinTimeout, &o.ipvsTcpFinTimeout},
                                    std::tuple{"--ipvs-udp-timeout", &t.udpTimeout, &o.ipvsUdpTimeout}}) {
        auto d = parseDuration(*text);
        if (!d)
            return invalid(flag, d.error().detail);
        *into = std::chrono::duration_cast<std::chrono::seconds>(*d);
    }
    for (auto [flag, text, into, primary] :
         {std::tuple{"--cluster-cidr", &t.clusterCidr, &o.clusterCidrs, static_cast<bool*>(nullptr)},
          std::tuple{"--nodeport-addresses", &t.nodePortAddresses, &o.nodePortAddresses, &o.nodePortPrimary},
          std::tuple{"--ipvs-exclude-cidrs", &t.excludeCidrs, &o.ipvsExcludeCidrs, static_cast<bool*>(nullptr)}}) {
        KIPVS_ASSIGN_OR_RETURN(*into, cidrList(flag, *text, primary));
    }
    return {};
}

Result<void> validate(Options& o)
{
    if (!o.proxyMode.empty() && o.proxyMode != "ipvs")
        return invalid("--proxy-mode", "'" + o.proxyMode + "': kube-ipvsd implements IPVS mode only; for '" +
                                           o.proxyMode + "' run kube-proxy itself");
    o.proxyMode = "ipvs";
    if (o.masqueradeBit < 0 || o.masqueradeBit > 31)
        return invalid("--iptables-masquerade-bit", std::to_string(o.masqueradeBit) + " is outside 0..31");
    if (o.ipvsSyncPeriod.count() <= 0)
        return invalid("--ipvs-sync-period", "must be greater than 0");
    if (o.ipvsMinSyncPeriod > o.ipvsSyncPeriod)
        return invalid("--ipvs-min-sync-period", "must not exceed --ipvs-sync-period");
    for (auto [flag, text] : {std::pair{"--healthz-bind-address", &o.healthzBindAddress},
                              std::pair{"--metrics-bind-address", &o.metricsBindAddress}})
        if (!text->empty())
            if (auto bind = parseBindAddress(*text); !bind)
                return invalid(flag, bind.error().detail);
    if (o.output != "ipvsadm" && o.output != "json")
        return invalid("--output", "'" + o.output + "' is not ipvsadm or json");
    return {};
}

}  // namespace

Result<CommandLine> parseCommandLine(int argc, const char* const* argv)
{
    CommandLine out;
    Options& o = out.options;
    CLI::App app{"kube-ipvsd: the Kubernetes service proxy in IPVS mode, a drop-in for kube-proxy --proxy-mode=ipvs",
                 "kube-ipvsd"};
    FlagText text;
    declareFlags(app, o, text);
    try {
        app.parse(argumentsOf(argc, argv));
    } catch (const CLI::CallForHelp&) {
        out.action = CommandLine::Action::Help;
        out.text = app.help();
        return out;
    } catch (const CLI::ParseError& e) {
        return invalid("command line", std::string(e.what()) + " (see --help)");
    }
    if (text.version) {
        out.action = CommandLine::Action::Version;
        out.text = "kube-ipvsd " KIPVS_VERSION "\n";
        return out;
    }
    const std::string hostname = o.hostnameOverride;
    const int verbosity = o.verbosity;
    KIPVS_TRY(applyFlagText(text, o));
    if (!o.configFile.empty()) {
        KIPVS_TRY(loadConfigFile(o.configFile, o));
        if (app.count("--hostname-override"))
            o.hostnameOverride = hostname;
        o.verbosity = verbosity;
    }
    KIPVS_TRY(validate(o));
    return out;
}

}  // namespace kipvs::config
