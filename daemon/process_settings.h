// SPDX-License-Identifier: Apache-2.0
// Settings of the daemon's own process: --oom-score-adj.
#pragma once

#include "base/result.h"
#include "config/options.h"

namespace kipvs::daemon {

// Writes /proc/self/oom_score_adj, as kube-proxy does at start.
Result<void> applyOomScoreAdj(int value);

}  // namespace kipvs::daemon
