// SPDX-License-Identifier: Apache-2.0
// The KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1), read as kube-proxy reads
// it: strict first, then leniently with a warning naming the unknown fields; null is the
// default; upstream's zero-is-default fields too (see config_parts.h).
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config_parts.h"
#include "watch/yaml_tree.h"

namespace kipvs::config {

namespace {

using Fields = std::set<std::string>;

// The v1alpha1 schema, section by section; anything else is an unknown field.
const Fields kTopLevel = {
    "apiVersion",
    "kind",
    "bindAddress",
    "bindAddressHardFail",
    "clientConnection",
    "clusterCIDR",
    "configSyncPeriod",
    "conntrack",
    "detectLocal",
    "detectLocalMode",
    "enableProfiling",
    "featureGates",
    "healthzBindAddress",
    "hostnameOverride",
    "iptables",
    "ipvs",
    "logging",
    "metricsBindAddress",
    "mode",
    "nftables",
    "nodePortAddresses",
    "oomScoreAdj",
    "portRange",
    "showHiddenMetricsForVersion",
    "winkernel",
    "windowsRunAsService",
};
const std::map<std::string, Fields> kSections = {
    {"clientConnection", {"acceptContentTypes", "burst", "contentType", "kubeconfig", "qps"}},
    {"conntrack",
     {"maxPerCore", "min", "tcpBeLiberal", "tcpCloseWaitTimeout", "tcpEstablishedTimeout", "udpStreamTimeout",
      "udpTimeout"}},
    {"detectLocal", {"bridgeInterface", "interfaceNamePrefix"}},
    {"iptables", {"localhostNodePorts", "masqueradeAll", "masqueradeBit", "minSyncPeriod", "syncPeriod"}},
    {"ipvs",
     {"excludeCIDRs", "minSyncPeriod", "scheduler", "strictARP", "syncPeriod", "tcpFinTimeout", "tcpTimeout",
      "udpTimeout"}},
    {"nftables", {"masqueradeAll", "masqueradeBit", "minSyncPeriod", "syncPeriod"}},
    {"logging", {"format", "flushFrequency", "verbosity", "vmodule", "options"}},
    {"winkernel", {"networkName", "sourceVip", "enableDSR", "rootHnsEndpointName", "forwardHealthCheckVip"}},
};
// Fields without effect in IPVS mode on Linux, named in a warning when set to anything but
// their zero value.
const char* const kWithoutEffect[] = {
    "configSyncPeriod",
    "enableProfiling",
    "portRange",
    "showHiddenMetricsForVersion",
    "windowsRunAsService",
    "winkernel",
    "nftables",
    "iptables.syncPeriod",
    "iptables.minSyncPeriod",
    "iptables.localhostNodePorts",
    "clientConnection.contentType",
    "clientConnection.acceptContentTypes",
    "logging.flushFrequency",
    "logging.vmodule",
    "logging.options",
};

bool present(const YAML::Node& node)
{
    return node && !node.IsNull();
}

// Zero values that upstream's v1alpha1 defaulting replaces, as for configSyncPeriod: 0s.
enum class Zero { IsDefault, IsZero };

class ConfigReader {
public:
    ConfigReader(const std::string& path, Options& o) : what_("--config '" + path + "'"), o_(o) {}

    Result<void> read(const YAML::Node& root)
    {
        KIPVS_TRY(checkHeader(root));
        collectUnknown(root);
        KIPVS_TRY(readTopLevel(root));
        KIPVS_TRY(readClientConnection(root["clientConnection"]));
        KIPVS_TRY(readDetectLocal(root));
        KIPVS_TRY(readConntrack(root["conntrack"]));
        KIPVS_TRY(readIptables(root["iptables"]));
        KIPVS_TRY(readIpvs(root["ipvs"]));
        KIPVS_TRY(readLogging(root["logging"]));
        warn(root);
        return {};
    }

    const std::string& what() const { return what_; }

private:
    Result<void> checkHeader(const YAML::Node& root) const
    {
        if (!root.IsMap())
            return invalid(what_, "not a KubeProxyConfiguration");
        if (root["kind"].as<std::string>("") != "KubeProxyConfiguration" ||
            root["apiVersion"].as<std::string>("") != "kubeproxy.config.k8s.io/v1alpha1")
            return invalid(what_, "kind must be KubeProxyConfiguration, apiVersion kubeproxy.config.k8s.io/v1alpha1");
        for (const auto& [name, fields] : kSections)
            if (present(root[name]) && !root[name].IsMap())
                return invalid(what_, name + " must be a mapping");
        return {};
    }

    void collectUnknown(const YAML::Node& root)
    {
        for (const auto& field : root) {
            const auto name = field.first.as<std::string>();
            if (!kTopLevel.count(name))
                unknown_.push_back(name);
            auto section = kSections.find(name);
            if (section == kSections.end() || !field.second.IsMap())
                continue;
            for (const auto& inner : field.second)
                if (!section->second.count(inner.first.as<std::string>()))
                    unknown_.push_back(name + "." + inner.first.as<std::string>());
        }
    }

    // One scalar field; absent or null keeps the default. A wrong type names the field.
    template <typename T>
    Result<void> value(const YAML::Node& map, const std::string& path, T& into, Zero zero = Zero::IsZero) const
    {
        const std::string name = path.substr(path.rfind('.') + 1);
        if (!map || !map.IsMap() || !present(map[name]))
            return {};
        try {
            T read = map[name].as<T>();
            if (zero == Zero::IsDefault && read == T{})
                return {};
            into = std::move(read);
        } catch (const YAML::Exception&) {
            return invalid(what_, path + ": '" + YAML::Dump(map[name]) + "' has the wrong type");
        }
        return {};
    }

    Result<void> duration(const YAML::Node& map, const std::string& path, std::chrono::milliseconds& into,
                          Zero zero = Zero::IsZero) const
    {
        std::string text;
        KIPVS_TRY(value(map, path, text));
        if (text.empty())
            return {};
        auto parsed = parseDuration(text);
        if (!parsed)
            return invalid(what_, path + ": " + parsed.error().detail);
        if (zero == Zero::IsZero || parsed->count() != 0)
            into = *parsed;
        return {};
    }

    Result<void> cidrs(const YAML::Node& map, const std::string& path, std::vector<Cidr>& into, bool* primary) const
    {
        const std::string name = path.substr(path.rfind('.') + 1);
        if (!map || !map.IsMap() || !present(map[name]))
            return {};
        if (!map[name].IsSequence())
            return invalid(what_, path + " must be a list of strings");
        std::string list;
        try {
            for (const auto& item : map[name])
                list += item.as<std::string>() + ",";
        } catch (const YAML::Exception&) {
            return invalid(what_, path + " must be a list of strings");
        }
        KIPVS_ASSIGN_OR_RETURN(into, cidrList(path, list, primary));
        return {};
    }

    Result<void> readTopLevel(const YAML::Node& root)
    {
        KIPVS_TRY(value(root, "mode", o_.proxyMode));
        KIPVS_TRY(value(root, "hostnameOverride", o_.hostnameOverride));
        std::string clusterCidr, bind;
        KIPVS_TRY(value(root, "clusterCIDR", clusterCidr));
        KIPVS_ASSIGN_OR_RETURN(o_.clusterCidrs, cidrList("clusterCIDR", clusterCidr, nullptr));
        KIPVS_TRY(cidrs(root, "nodePortAddresses", o_.nodePortAddresses, &o_.nodePortPrimary));
        KIPVS_TRY(value(root, "healthzBindAddress", o_.healthzBindAddress, Zero::IsDefault));
        KIPVS_TRY(value(root, "metricsBindAddress", o_.metricsBindAddress, Zero::IsDefault));
        KIPVS_TRY(value(root, "bindAddress", bind));
        if (!bind.empty()) {
            auto address = InetAddress::parse(bind);
            if (!address)
                return invalid(what_, "bindAddress: '" + bind + "' is not an IP address");
            o_.bindAddress = address->isUnspecified() ? std::nullopt : std::optional(*address);
        }
        KIPVS_TRY(value(root, "bindAddressHardFail", o_.bindAddressHardFail));
        int oom = o_.oomScoreAdj.value_or(0);
        KIPVS_TRY(value(root, "oomScoreAdj", oom));
        o_.oomScoreAdj = oom;
        return featureGates(root["featureGates"]);
    }

    Result<void> featureGates(const YAML::Node& gates)
    {
        if (!present(gates))
            return {};
        if (!gates.IsMap())
            return invalid(what_, "featureGates must be a mapping of names to true or false");
        for (const auto& gate : gates) {
            KIPVS_TRY(value(gates, "featureGates." + gate.first.as<std::string>(),
                            o_.featureGates[gate.first.as<std::string>()]));
        }
        return {};
    }

    Result<void> readClientConnection(const YAML::Node& cc)
    {
        KIPVS_TRY(value(cc, "clientConnection.kubeconfig", o_.kubeconfig));
        KIPVS_TRY(value(cc, "clientConnection.qps", o_.apiQps, Zero::IsDefault));
        return value(cc, "clientConnection.burst", o_.apiBurst, Zero::IsDefault);
    }

    Result<void> readDetectLocal(const YAML::Node& root)
    {
        std::string mode;
        KIPVS_TRY(value(root, "detectLocalMode", mode));
        KIPVS_ASSIGN_OR_RETURN(o_.detectLocalMode, localDetector("detectLocalMode", mode));
        KIPVS_TRY(value(root["detectLocal"], "detectLocal.bridgeInterface", o_.podBridgeInterface));
        return value(root["detectLocal"], "detectLocal.interfaceNamePrefix", o_.podInterfaceNamePrefix);
    }

    Result<void> readConntrack(const YAML::Node& ct)
    {
        auto& c = o_.conntrack;
        KIPVS_TRY(value(ct, "conntrack.maxPerCore", c.maxPerCore));
        KIPVS_TRY(value(ct, "conntrack.min", c.min));
        KIPVS_TRY(value(ct, "conntrack.tcpBeLiberal", c.tcpBeLiberal));
        KIPVS_TRY(duration(ct, "conntrack.tcpEstablishedTimeout", c.tcpEstablishedTimeout));
        KIPVS_TRY(duration(ct, "conntrack.tcpCloseWaitTimeout", c.tcpCloseWaitTimeout));
        KIPVS_TRY(duration(ct, "conntrack.udpTimeout", c.udpTimeout));
        return duration(ct, "conntrack.udpStreamTimeout", c.udpStreamTimeout);
    }

    Result<void> readIptables(const YAML::Node& ipt)
    {
        KIPVS_TRY(value(ipt, "iptables.masqueradeAll", o_.masqueradeAll));
        return value(ipt, "iptables.masqueradeBit", o_.masqueradeBit);
    }

    Result<void> readIpvs(const YAML::Node& ipvs)
    {
        // With a config file and mode ipvs, an unset minSyncPeriod is 0 (every change syncs at
        // once), as kube-proxy's v1alpha1 defaulting leaves it.
        o_.ipvsMinSyncPeriod = std::chrono::milliseconds(0);
        KIPVS_TRY(value(ipvs, "ipvs.scheduler", o_.ipvsScheduler));
        KIPVS_TRY(value(ipvs, "ipvs.strictARP", o_.ipvsStrictArp));
        KIPVS_TRY(duration(ipvs, "ipvs.syncPeriod", o_.ipvsSyncPeriod, Zero::IsDefault));
        KIPVS_TRY(duration(ipvs, "ipvs.minSyncPeriod", o_.ipvsMinSyncPeriod));
        for (auto [path, into] :
             {std::pair{"ipvs.tcpTimeout", &o_.ipvsTcpTimeout}, std::pair{"ipvs.tcpFinTimeout", &o_.ipvsTcpFinTimeout},
              std::pair{"ipvs.udpTimeout", &o_.ipvsUdpTimeout}}) {
            std::chrono::milliseconds ms{0};
            KIPVS_TRY(duration(ipvs, path, ms));
            *into = std::chrono::duration_cast<std::chrono::seconds>(ms);
        }
        return cidrs(ipvs, "ipvs.excludeCIDRs", o_.ipvsExcludeCidrs, nullptr);
    }

    Result<void> readLogging(const YAML::Node& logging)
    {
        KIPVS_TRY(value(logging, "logging.verbosity", o_.verbosity));
        std::string format;
        KIPVS_TRY(value(logging, "logging.format", format));
        if (!format.empty() && format != "text" && format != "json")
            return invalid(what_, "logging.format: '" + format + "' is not text or json");
        if (!format.empty())
            o_.loggingFormat = format == "json" ? logging::LogFormat::Json : logging::LogFormat::Text;
        return {};
    }

    // A field counts as set when it holds anything but its zero value (kubeadm writes them all).
    static bool isSet(const YAML::Node& node)
    {
        if (!present(node))
            return false;
        if (node.IsMap() || node.IsSequence()) {
            for (const auto& item : node)
                if (isSet(node.IsMap() ? item.second : item))
                    return true;
            return false;
        }
        const auto& text = node.Scalar();
        return !text.empty() && text != "0" && text != "0s" && text != "false";
    }

    void warn(const YAML::Node& root)
    {
        if (!unknown_.empty()) {
            std::string list;
            for (const auto& name : unknown_)
                list += (list.empty() ? "unknown field \"" : ", unknown field \"") + name + "\"";
            o_.warnings.push_back("Using lenient decoding as strict decoding failed: " + list);
        }
        std::string withoutEffect;
        for (const std::string path : kWithoutEffect) {
            const auto dot = path.find('.');
            const YAML::Node section = root[path.substr(0, dot)];
            if (dot != std::string::npos && (!section || !section.IsMap()))
                continue;
            if (isSet(dot == std::string::npos ? section : section[path.substr(dot + 1)]))
                withoutEffect += (withoutEffect.empty() ? "" : ", ") + path;
        }
        if (!withoutEffect.empty())
            o_.warnings.push_back(what_ + ": fields without effect in IPVS mode: " + withoutEffect);
    }

    std::string what_;
    Options& o_;
    std::vector<std::string> unknown_;
};

}  // namespace

Result<void> loadConfigFile(const std::string& path, Options& o)
{
    ConfigReader reader(path, o);
    std::ifstream file(path);
    std::stringstream text;
    if (!file.is_open() || std::filesystem::is_directory(path))
        return fail(Error::Domain::Config, ENOENT, "read --config", "'" + path + "'", "cannot open the file");
    text << file.rdbuf();
    auto root = watch::loadYamlTree(text.str());
    if (!root)
        return invalid(reader.what(), "not valid YAML: " + root.error().detail);
    try {
        return reader.read(*root);
    } catch (const YAML::Exception& e) {
        return invalid(reader.what(), std::string("a field has the wrong type: ") + e.what());
    }
}

}  // namespace kipvs::config
