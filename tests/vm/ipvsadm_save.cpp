// SPDX-License-Identifier: Apache-2.0
// Parser of `ipvsadm -Sn` output, written from ipvsadm's documented save format.
#include "ipvsadm_save.h"

#include <cstdio>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

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

}  // namespace kipvs::test
