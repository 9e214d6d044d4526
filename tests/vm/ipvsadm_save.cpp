// SPDX-License-Identifier: Apache-2.0
// Parser of `ipvsadm -Sn` output, written from ipvsadm's documented save format.
#include "ipvsadm_save.h"

#include <cstdio>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <arpa/inet.h>

namespace kipvs::test {

std::string runCommand(const std::string& command)
{
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    if (!pipe)
        throw std::runtime_error("cannot run " + command);
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0)
        out.append(buffer, n);
    int status = pclose(pipe.release());
    if (status != 0)
        throw std::runtime_error(command + " failed with status " + std::to_string(status));
    return out;
}

SavedTable parseIpvsadmSave(const std::string& text)
{
    SavedTable table;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::vector<std::string> w;
        for (std::string word; words >> word;)
            w.push_back(word);
        if (w.size() < 3)
            continue;
        const bool isService = w[0] == "-A";
        if (!isService && w[0] != "-a")
            throw std::runtime_error("unexpected ipvsadm line: " + line);
        const std::string key = w[1] + " " + w[2];
        if (isService && table.count(key))
            throw std::runtime_error("service listed twice: " + line);
        if (!isService && !table.count(key))
            throw std::runtime_error("real server before its service: " + line);
        SavedService& service = table[key];
        std::string real;
        SavedRealServer server;
        for (size_t i = 3; i < w.size(); ++i) {
            const std::string& option = w[i];
            auto value = [&]() -> const std::string& {
                if (i + 1 >= w.size())
                    throw std::runtime_error("option " + option + " lacks a value: " + line);
                return w[++i];
            };
            if (option == "-s")
                service.scheduler = value();
            else if (option == "-p")
                service.persistent = static_cast<uint32_t>(std::stoul(value()));
            else if (option == "-M")
                service.netmask = value();
            else if (option == "-o")
                service.flags.insert("ops");
            else if (option == "-6")
                service.ipv6Fwmark = true;
            else if (option == "-b") {
                std::istringstream list(value());
                for (std::string flag; std::getline(list, flag, ',');)
                    service.flags.insert(flag);
            } else if (option == "-r")
                real = value();
            else if (option == "-m" || option == "-g" || option == "-i")
                server.method = option.substr(1);
            else if (option == "-w")
                server.weight = static_cast<uint32_t>(std::stoul(value()));
            else if (option == "--tun-type" || option == "-x" || option == "-y")
                value();
            else
                throw std::runtime_error("unknown ipvsadm option " + option + ": " + line);
        }
        if (!isService)
            service.realServers[real] = server;
    }
    return table;
}

SavedTable ipvsadmSave()
{
    return parseIpvsadmSave(runCommand("ipvsadm -Sn"));
}

namespace {

std::string hostPort(const InetAddress& a, uint16_t port)
{
    return a.isV6() ? "[" + a.toString() + "]:" + std::to_string(port) : a.toString() + ":" + std::to_string(port);
}

}  // namespace

SavedTable expectedSave(const std::vector<std::pair<ipvs::VirtualServer, std::vector<ipvs::RealServer>>>& table)
{
    using namespace ipvs;
    SavedTable out;
    for (const auto& [s, reals] : table) {
        std::string k;
        SavedService saved;
        if (s.key.isFwmark()) {
            k = "-f " + std::to_string(s.key.fwmark);
            saved.ipv6Fwmark = s.key.family == AF_INET6;
        } else {
            const char* option = s.key.protocol == Protocol::Tcp   ? "-t"
                                 : s.key.protocol == Protocol::Udp ? "-u"
                                                                   : "--sctp-service";
            k = std::string(option) + " " + hostPort(s.key.address, s.key.port);
        }
        saved.scheduler = s.scheduler;
        if (s.flags & flag::kPersistent)
            saved.persistent = s.timeout;
        if (s.flags & flag::kOnePacket)
            saved.flags.insert("ops");
        const std::string prefix = s.scheduler == "mh" ? "mh-" : "sh-";
        if (s.flags & flag::kSched1)
            saved.flags.insert(prefix + "fallback");
        if (s.flags & flag::kSched2)
            saved.flags.insert(prefix + "port");
        const uint32_t allOnes = s.key.family == AF_INET6 ? 128u : 0xffffffffu;
        if ((s.flags & flag::kPersistent) && s.netmask != 0 && s.netmask != allOnes) {
            if (s.key.family == AF_INET6) {
                saved.netmask = std::to_string(s.netmask);
            } else {
                in_addr mask{s.netmask};
                saved.netmask = inet_ntoa(mask);
            }
        }
        for (const auto& r : reals) {
            const char* method = r.forward == ForwardMethod::Masquerade ? "m"
                                 : r.forward == ForwardMethod::Tunnel   ? "i"
                                                                        : "g";
            saved.realServers[hostPort(r.address, r.port)] = {method, r.weight};
        }
        out[k] = saved;
    }
    return out;
}

SavedTable expectedSaveOf(const std::vector<ipvs::VirtualServerState>& table)
{
    std::vector<std::pair<ipvs::VirtualServer, std::vector<ipvs::RealServer>>> pairs;
    for (const auto& v : table)
        pairs.emplace_back(v.server, v.realServers);
    return expectedSave(pairs);
}

}  // namespace kipvs::test
