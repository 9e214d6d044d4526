// SPDX-License-Identifier: Apache-2.0
// Which thread runs a sync. A small incremental one runs on the event loop itself: handing it to
// the sync thread and back cost more than the sync (two thread wake-ups, ~12 ms at the tail on
// the test VM's emulated CPU, against 1-2 ms of work). Whatever may take long stays on the sync
// thread: a full sync, a retry, a new nftables configuration or set of service ranges (a table
// rebuild, a pass over every address), UDP or SCTP changes (conntrack is cleaned up), many
// virtual servers, real servers or set elements. The health servers have their own thread, so
// no probe waits for either. Pure: tables test it.
#pragma once

#include "daemon/kernel_worker.h"

namespace kipvs::daemon {

enum class SyncThread { EventLoop, SyncThread };

// What the previous sync was asked, and whether it left work undone.
struct PreviousSync {
    bool ran = false;  // false before the first sync
    bool leftWorkUndone = false;
    ipvs::FirewallConfig firewallConfig;
    std::vector<Cidr> serviceRanges;
};

SyncThread threadFor(const SyncRequest& request, const PreviousSync& previous);

}  // namespace kipvs::daemon
