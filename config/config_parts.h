// SPDX-License-Identifier: Apache-2.0
// The steps of parseCommandLine, shared inside config/ only: the flags, the config file, the
// defaults and validation, and the small value parsers they have in common.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/options.h"

namespace kipvs::config {

tl::unexpected<Error> invalid(const std::string& what, const std::string& detail);

// A comma-separated CIDR list; the word "primary" may stand in it and sets *primary when given.
Result<std::vector<Cidr>> cidrList(const std::string& what, const std::string& text, bool* primary);

// The API server's port-range syntax: "30000-32767", or "30000+2768" (first and size).
Result<PortRange> portRange(const std::string& what, const std::string& text);

// "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"; "" is ClusterCIDR.
Result<LocalDetector> localDetector(const std::string& what, const std::string& text);

// "Name=true,Other=false" into gates.
Result<void> featureGateList(const std::string& text, std::map<std::string, bool>& gates);

// What the command line held, before any config file.
struct FlagsRead {
    CommandLine commandLine;
    std::set<std::string> given;  // long names of the flags on the command line
};
Result<FlagsRead> readFlags(int argc, const char* const* argv);

// Reads a KubeProxyConfiguration into `o` (which holds the defaults). A null or absent field
// keeps the default, as does a zero where upstream's defaulting treats zero as unset.
Result<void> loadConfigFile(const std::string& path, Options& o);

// Upstream's remaining defaults (ports on bare addresses, IPv6 defaults for an IPv6
// --bind-address) and validation; warns about the feature gates it does not know.
Result<void> completeAndValidate(Options& o);

}  // namespace kipvs::config
