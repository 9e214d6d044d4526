// SPDX-License-Identifier: Apache-2.0
// --dry-run's output: ipvsadm -Sn rules or the JSON contract (see dry_run_printer.h).
#include "proxy/dry_run_printer.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

namespace kipvs::proxy {

namespace {

using ipvs::ForwardMethod;
namespace flag = ipvs::flag;

std::string hostPort(const InetAddress& address, uint16_t port)
{
    const std::string host = address.toString();
    return (address.family() == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string serviceOption(const ipvs::VirtualServerKey& key)
{
    if (key.isFwmark())
        return "-f " + std::to_string(key.fwmark);
    const char* option = key.protocol == ipvs::Protocol::Tcp   ? "-t"
                         : key.protocol == ipvs::Protocol::Udp ? "-u"
                                                               : "--sctp-service";
    return std::string(option) + " " + hostPort(key.address, key.port);
}

// The scheduler flags by ipvsadm's names: sh-* and mh-* share the same bits.
std::vector<std::string> schedulerFlags(const ipvs::VirtualServer& s)
{
    std::vector<std::string> out;
    const std::string prefix = s.scheduler == "mh" ? "mh-" : "sh-";
    if (s.flags & flag::kSched1)
        out.push_back(prefix + "fallback");
    if (s.flags & flag::kSched2)
        out.push_back(prefix + "port");
    return out;
}

const char* forwardOption(ForwardMethod method)
{
    switch (method) {
    case ForwardMethod::Masquerade:
        return "-m";
    case ForwardMethod::Tunnel:
        return "-i";
    default:
        return "-g";
    }
}

const char* forwardName(ForwardMethod method)
{
    switch (method) {
    case ForwardMethod::Masquerade:
        return "masq";
    case ForwardMethod::Tunnel:
        return "tunnel";
    case ForwardMethod::DirectRoute:
        return "droute";
    case ForwardMethod::Local:
        return "local";
    default:
        return "bypass";
    }
}

std::string netmaskText(const ipvs::VirtualServer& s)
{
    if (s.key.family == AF_INET6)
        return std::to_string(s.effectiveNetmask());
    in_addr mask{s.effectiveNetmask()};
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &mask, text, sizeof text);
    return text;
}

}  // namespace

std::string formatIpvsadmRules(const ipvs::WantedTable& table)
{
    std::string out;
    for (const auto& [key, state] : table) {
        const auto& s = state->server;
        const std::string service = serviceOption(key);
        out += "-A " + service + " -s " + s.scheduler;
        if (s.flags & flag::kPersistent) {
            out += " -p " + std::to_string(s.timeout);
            const uint32_t allOnes = key.family == AF_INET6 ? 128u : 0xffffffffu;
            if (s.effectiveNetmask() != allOnes)
                out += " -M " + netmaskText(s);
        }
        if (s.flags & flag::kOnePacket)
            out += " -o";
        if (auto flags = schedulerFlags(s); !flags.empty()) {
            out += " -b ";
            for (size_t i = 0; i < flags.size(); ++i)
                out += (i ? "," : "") + flags[i];
        }
        out += "\n";
        for (const auto& r : state->realServers)
            out += "-a " + service + " -r " + hostPort(r.address, r.port) + " " + forwardOption(r.forward) + " -w " +
                   std::to_string(r.weight) + "\n";
    }
    return out;
}

std::string formatJson(const ipvs::WantedTable& table, const std::set<InetAddress>& serviceAddresses,
                       const std::vector<Cidr>& serviceRanges)
{
    auto servers = nlohmann::json::array();
    for (const auto& [key, state] : table) {
        const auto& s = state->server;
        auto flags = nlohmann::json::array();
        for (const auto& f : schedulerFlags(s))
            flags.push_back(f);
        if (s.flags & flag::kOnePacket)
            flags.push_back("ops");
        auto reals = nlohmann::json::array();
        for (const auto& r : state->realServers)
            reals.push_back({{"address", r.address.toString()},
                             {"port", r.port},
                             {"weight", r.weight},
                             {"forward", forwardName(r.forward)}});
        servers.push_back({{"protocol", ipvs::protocolName(key.protocol)},
                           {"address", key.address.toString()},
                           {"port", key.port},
                           {"scheduler", s.scheduler},
                           {"persistentTimeoutSeconds", (s.flags & flag::kPersistent) ? s.timeout : 0},
                           {"flags", flags},
                           {"realServers", reals}});
    }
    auto addresses = nlohmann::json::array();
    for (const auto& a : serviceAddresses)
        if (std::none_of(serviceRanges.begin(), serviceRanges.end(), [&](const Cidr& r) { return r.contains(a); }))
            addresses.push_back(a.toString());
    auto ranges = nlohmann::json::array();
    for (const auto& r : serviceRanges)
        ranges.push_back(r.toString());
    return nlohmann::json{{"virtualServers", servers}, {"addresses", addresses}, {"serviceRanges", ranges}}.dump(2) +
           "\n";
}

}  // namespace kipvs::proxy
