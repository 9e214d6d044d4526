// SPDX-License-Identifier: Apache-2.0
// The kernel's IPVS table as the reconciler uses it: reads and batched changes. The netlink
// Client implements it; tests put an in-memory table with chosen faults behind it.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "ipvs/virtual_servers/operation.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

// What became of a batch: every operation not listed in `failures` succeeded (or was already
// done: see Operation::alreadyDone).
struct BatchReport {
    struct Failure {
        size_t index;  // into the operations passed to apply()
        Error error;
    };
    size_t operations = 0;
    std::vector<Failure> failures;
    bool ok() const { return failures.empty(); }
};

class VirtualServerTable {
public:
    virtual ~VirtualServerTable() = default;

    virtual Result<std::vector<VirtualServer>> virtualServers() = 0;
    // nullopt when the kernel has no such virtual server.
    virtual Result<std::optional<VirtualServer>> virtualServer(const VirtualServerKey& key) = 0;
    virtual Result<std::vector<RealServer>> realServers(const VirtualServerKey& key) = 0;
    // Each key's virtual server, in order; nullopt where the kernel has none. Each lookup holds
    // the kernel's IPVS lock for one hash lookup, where the list's dump holds it, for each 32 KB
    // piece, for a walk from the table's start (what a change waits for). One at a time here; the
    // netlink client sends many per exchange.
    virtual Result<std::vector<std::optional<VirtualServer>>>
    lookUpVirtualServers(std::span<const VirtualServerKey> keys)
    {
        std::vector<std::optional<VirtualServer>> found;
        found.reserve(keys.size());
        for (const auto& key : keys) {
            KIPVS_ASSIGN_OR_RETURN(auto one, virtualServer(key));
            found.push_back(std::move(one));
        }
        return found;
    }
    // Carries out the operations in order and reports each refusal with the kernel's errno. The
    // Result fails only when the exchange itself fails (a send or receive error); then which
    // operations took effect is unknown.
    virtual Result<BatchReport> apply(std::span<const Operation> operations) = 0;
};

// One operation; its refusal, if any, as the error.
inline Result<void> applyOne(VirtualServerTable& kernel, const Operation& operation)
{
    KIPVS_ASSIGN_OR_RETURN(auto report, kernel.apply(std::span<const Operation>(&operation, 1)));
    if (!report.ok())
        return tl::unexpected(report.failures.front().error);
    return {};
}

}  // namespace kipvs::ipvs
