// SPDX-License-Identifier: Apache-2.0
// The reads of a full sync's checks, made on a thread of their own through clients of their own
// while syncs go on: the IPVS virtual servers (the list, or each mirrored one looked up) and some
// virtual servers' real servers, the
// nftables table's structure and one set's elements. At 10,000 Services they take ~1.8 s in the
// test VM, which a change arriving meanwhile used to wait for; the full sync then only compares
// (KernelWorker::planDriftRead says what to read, SyncRequest::drift brings what was read).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/netfilter/firewall_table.h"
#include "ipvs/netfilter/nftables.h"
#include "ipvs/virtual_servers/snapshot.h"
#include "ipvs/virtual_servers/table.h"

namespace kipvs::daemon {

struct DriftReadPlan {
    ipvs::VirtualServerReadPlan ipvs;
    std::optional<ipvs::FirewallVerification> firewall;  // none: no table to verify yet
};

// What the reads found; a part that failed is read again by the full sync itself.
struct DriftSnapshot {
    Result<ipvs::VirtualServerSnapshot> ipvs;
    std::optional<Result<ipvs::FirewallSnapshot>> firewall;
    std::chrono::steady_clock::duration elapsed{};  // what the reads took, on their thread
};

class DriftReader {
public:
    // An nftables context of its own for each read: libnftables keeps what a listing read in
    // its context's cache (a whole set's elements) until the next command.
    using NftOpener = std::function<Result<std::unique_ptr<ipvs::Nftables>>()>;

    // A second IPVS socket and nftables contexts, besides the kernel worker's.
    static Result<DriftReader> open();
    DriftReader(std::unique_ptr<ipvs::VirtualServerTable> ipvs, NftOpener openNft)
        : ipvs_(std::move(ipvs)), openNft_(std::move(openNft))
    {}

    DriftSnapshot read(const DriftReadPlan& plan);

private:
    std::unique_ptr<ipvs::VirtualServerTable> ipvs_;
    NftOpener openNft_;
};

}  // namespace kipvs::daemon
