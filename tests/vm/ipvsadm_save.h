// SPDX-License-Identifier: Apache-2.0
// Test support: runs `ipvsadm -Sn` (an independent IPVS client) and parses what it prints.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipvs/virtual_servers/types.h"

namespace kipvs::test {

struct SavedRealServer {
    std::string method;  // "m", "g" or "i"
    uint32_t weight = 0;
    bool operator==(const SavedRealServer&) const = default;
};

struct SavedService {
    std::string scheduler;
    uint32_t persistent = 0;  // -p, 0 when absent
    std::string netmask;  // -M, empty when absent
    std::set<std::string> flags;  // -b entries, and "ops" for -o
    bool ipv6Fwmark = false;  // -6 on an fwmark service
    std::map<std::string, SavedRealServer> realServers;  // "10.0.0.1:80" or "[fd00::1]:80"
    bool operator==(const SavedService&) const = default;
};

// Keyed "-t 10.0.0.1:80", "-u [fd00::1]:53", "--sctp-service 10.0.0.1:9", "-f 7".
using SavedTable = std::map<std::string, SavedService>;

// Runs a command through the shell and returns its standard output; throws if it fails.
std::string runCommand(const std::string& command);
SavedTable parseIpvsadmSave(const std::string& text);
SavedTable ipvsadmSave();

// What `ipvsadm -Sn` must print for these virtual servers, written from ipvsadm's man page.
SavedTable expectedSave(const std::vector<std::pair<ipvs::VirtualServer, std::vector<ipvs::RealServer>>>& table);
SavedTable expectedSaveOf(const std::vector<ipvs::VirtualServerState>& table);

}  // namespace kipvs::test
