// SPDX-License-Identifier: Apache-2.0
// Settings of the daemon's own process: --oom-score-adj, and giving freed memory back.
#pragma once

#include "base/result.h"
#include "config/options.h"

namespace kipvs::daemon {

// Writes /proc/self/oom_score_adj, as kube-proxy does at start.
Result<void> applyOomScoreAdj(int value);

// Returns the heap's free pages to the system (glibc's malloc_trim, every arena): after a LIST or
// a large sync, whose transient buffers (the response body, the JSON document, the batches of
// operations) would otherwise stay in the process's RSS for good.
void returnFreeMemory();

// Gives back the pages of the calling thread's stack below its current frame: a thread's stack
// keeps, for the thread's life, every page its deepest call ever touched (the sync thread's held
// 1.6-2 MB after the first sync at 10,000 Services, in some boots).
void returnUnusedStack();

// Fixes glibc's thresholds for giving memory back, at start. By default glibc raises them each
// time a large block is freed (up to 32 MB for the trim threshold): after one nftables listing
// of 8 MB, the thread arenas of the sync and read threads kept 6-8 MB of free pages each, which
// malloc_trim does not reach (it trims only the main arena's top).
// And keeps one arena for every thread: by default each thread that allocates gets its own, and
// the sync thread's kept the first sync's freed transients scattered among the long-lived nodes
// allocated beside them (7 MB resident for 4 MB live at 10,000 Services). One heap for all
// holds no more, and the first sync's peak fell 3-18 MB with it (docs/benchmarks.md). The
// threads take turns at the data rather than allocating at once, so one lock costs little.
void keepFreedMemoryReturnable();

// Names the calling thread (at most 15 characters) as `ps -L` and `top -H` show it, and the
// scale benchmark's breakdown of the RSS by mapping.
void nameThisThread(const char* name);

}  // namespace kipvs::daemon
