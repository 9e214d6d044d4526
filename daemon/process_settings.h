// SPDX-License-Identifier: Apache-2.0
// Settings of the daemon's own process: --oom-score-adj, and the start-up line naming accepted
// settings that this version does not act on yet.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "config/options.h"

namespace kipvs::daemon {

// Writes /proc/self/oom_score_adj, as kube-proxy does at start.
Result<void> applyOomScoreAdj(int value);

// Settings kube-proxy honours that kube-ipvsd accepts but does not apply yet, as flag names
// with their values; empty when none is set.
std::vector<std::string> settingsNotYetApplied(const config::Options& options);

}  // namespace kipvs::daemon
