// SPDX-License-Identifier: Apache-2.0
// The commands that do one thing and exit: --cleanup and --init-only. Each returns the exit status.
#pragma once

#include "config/options.h"
#include "log/log.h"

namespace kipvs::daemon {

// Removes what this daemon owns (the virtual servers on kube-ipvs0's or the node's addresses,
// outside --ipvs-exclude-cidrs, kube-ipvs0 itself and the nftables table inet kube-ipvsd) and
// nothing else. Running it again, or
// on a node that never ran kube-ipvsd, is harmless. 0 on success, 1 when something stayed.
int runCleanup(const config::Options& options, logging::Logger& log);

// What the DaemonSet's privileged init container runs: loads the IPVS modules and applies the
// sysctls, so the main container needs only CAP_NET_ADMIN. 0 on success, 1 otherwise.
int runInitOnly(const config::Options& options, logging::Logger& log);

// --write-config-to: writes the effective settings as a KubeProxyConfiguration. 0, or 1 when
// the file cannot be written.
int writeConfig(const config::Options& options, logging::Logger& log);

}  // namespace kipvs::daemon
