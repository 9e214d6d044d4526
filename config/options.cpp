// SPDX-License-Identifier: Apache-2.0
// Flags and KubeProxyConfiguration combined as kube-proxy combines them (see options.h), and
// the value parsers the flags and the file share.
#include "config/options.h"

#include <charconv>
#include <cmath>
#include <sstream>

#include "config/config_parts.h"

namespace kipvs::config {

tl::unexpected<Error> invalid(const std::string& what, const std::string& detail)
{
    return fail(Error::Domain::Config, EINVAL, "invalid", what, detail);
}

Result<PortRange> portRange(const std::string& what, const std::string& text)
{
    const auto bad = [&] {
        return invalid(what, "'" + text + "' is not a port range such as 30000-32767 or 30000+2768");
    };
    const auto sep = text.find_first_of("-+");
    if (sep == std::string::npos)
        return bad();
    unsigned first = 0, second = 0;
    const char* end = text.data() + text.size();
    auto [firstEnd, e1] = std::from_chars(text.data(), text.data() + sep, first);
    auto [secondEnd, e2] = std::from_chars(text.data() + sep + 1, end, second);
    if (e1 != std::errc() || e2 != std::errc() || firstEnd != text.data() + sep || secondEnd != end)
        return bad();
    const unsigned long last = text[sep] == '+' ? static_cast<unsigned long>(first) + second - 1 : second;
    if (first == 0 || last > 65535 || last < first || (text[sep] == '+' && second == 0))
        return bad();
    return PortRange{static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
}

Result<std::vector<Cidr>> cidrList(const std::string& what, const std::string& text, bool* primary)
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
            return invalid(what, "'" + item + "' is not a CIDR");
        out.push_back(*cidr);
    }
    return out;
}

namespace {

constexpr std::pair<LocalDetector, const char*> kDetectors[] = {
    {LocalDetector::ClusterCidr, "ClusterCIDR"},
    {LocalDetector::NodeCidr, "NodeCIDR"},
    {LocalDetector::BridgeInterface, "BridgeInterface"},
    {LocalDetector::InterfaceNamePrefix, "InterfaceNamePrefix"},
};

}  // namespace

Result<LocalDetector> localDetector(const std::string& what, const std::string& text)
{
    if (text.empty())
        return LocalDetector::ClusterCidr;
    for (auto [detector, name] : kDetectors)
        if (text == name)
            return detector;
    return invalid(what, "'" + text + "' is not ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix");
}

const char* localDetectorName(LocalDetector detector)
{
    for (auto [d, name] : kDetectors)
        if (d == detector)
            return name;
    return "ClusterCIDR";
}

Result<void> featureGateList(const std::string& text, std::map<std::string, bool>& gates)
{
    std::stringstream list(text);
    for (std::string item; std::getline(list, item, ',');) {
        if (item.empty())
            continue;
        const auto eq = item.find('=');
        const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (eq == 0 || (value != "true" && value != "false"))
            return invalid("--feature-gates", "'" + item + "' is not Name=true or Name=false");
        gates[item.substr(0, eq)] = value == "true";
    }
    return {};
}

namespace {

// v1.35's gates that change what an IPVS proxy does, with their defaults.
const std::map<std::string, bool> kProxyGates = {
    {"PreferSameTrafficDistribution", true},
};

}  // namespace

bool featureEnabled(const Options& options, const std::string& gate)
{
    if (auto it = options.featureGates.find(gate); it != options.featureGates.end())
        return it->second;
    auto known = kProxyGates.find(gate);
    return known != kProxyGates.end() && known->second;
}

namespace {

// Go's duration units, in milliseconds.
double unitScale(const std::string& unit)
{
    static const std::pair<const char*, double> kUnits[] = {{"h", 3600e3}, {"m", 60e3},  {"s", 1e3},  {"ms", 1},
                                                            {"us", 1e-3},  {"µs", 1e-3}, {"ns", 1e-6}};
    for (auto [name, scale] : kUnits)
        if (unit == name)
            return scale;
    return -1;
}

}  // namespace

Result<std::chrono::milliseconds> parseDuration(const std::string& text)
{
    const bool negative = text.starts_with('-');
    const std::string body = negative || text.starts_with('+') ? text.substr(1) : text;
    if (body == "0")
        return std::chrono::milliseconds(0);
    if (body.empty())
        return invalid("duration", "empty");
    double total = 0;
    size_t i = 0;
    while (i < body.size()) {
        const size_t start = i;
        while (i < body.size() && (std::isdigit(static_cast<unsigned char>(body[i])) || body[i] == '.'))
            ++i;
        const std::string digits = body.substr(start, i - start);
        if (digits.empty() || digits == "." || std::count(digits.begin(), digits.end(), '.') > 1)
            return invalid("duration", "'" + text + "' is not a duration like 30s, 1m30s or 500ms");
        double number = 0;
        if (auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
            error != std::errc() || end != digits.data() + digits.size())
            return invalid("duration", "'" + text + "' is not a duration like 30s, 1m30s or 500ms");
        const size_t unitStart = i;
        while (i < body.size() && !std::isdigit(static_cast<unsigned char>(body[i])) && body[i] != '.')
            ++i;
        const double scale = unitScale(body.substr(unitStart, i - unitStart));
        if (scale < 0)
            return invalid("duration", "'" + text + "' has no unit or an unknown one (h, m, s, ms, us, ns)");
        total += number * scale;
    }
    if (total > 1e15)
        return invalid("duration", "'" + text + "' is too long");
    const auto ms = static_cast<long long>(std::floor(total));
    return std::chrono::milliseconds(negative ? -ms : ms);
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

// With --config the file replaces the flags, but these come from the command line: the logging
// flags (when given), --hostname-override (when given), and what is not part of the file.
void keepCommandLineSettings(const FlagsRead& flags, Options& o)
{
    const Options& cl = flags.commandLine.options;
    if (flags.given.count("--v"))
        o.verbosity = cl.verbosity;
    if (flags.given.count("--logging-format"))
        o.loggingFormat = cl.loggingFormat;
    if (!cl.hostnameOverride.empty())
        o.hostnameOverride = cl.hostnameOverride;
    o.master = cl.master;
    o.configFile = cl.configFile;
    o.cleanup = cl.cleanup;
    o.initOnly = cl.initOnly;
    o.writeConfigTo = cl.writeConfigTo;
    o.manifests = cl.manifests;
    o.nodePortRange = cl.nodePortRange;
    o.serviceRanges = cl.serviceRanges;
    o.dryRun = cl.dryRun;
    o.output = cl.output;
    o.warnings.insert(o.warnings.begin(), cl.warnings.begin(), cl.warnings.end());
}

}  // namespace

Result<CommandLine> parseCommandLine(int argc, const char* const* argv)
{
    KIPVS_ASSIGN_OR_RETURN(FlagsRead flags, readFlags(argc, argv));
    CommandLine out = flags.commandLine;
    if (out.action != CommandLine::Action::Run)
        return out;
    if (!out.options.configFile.empty()) {
        Options fromFile;
        KIPVS_TRY(loadConfigFile(out.options.configFile, fromFile));
        keepCommandLineSettings(flags, fromFile);
        out.options = std::move(fromFile);
    }
    KIPVS_TRY(completeAndValidate(out.options));
    return out;
}

}  // namespace kipvs::config
