// SPDX-License-Identifier: Apache-2.0
// Makes the kernel's IPVS table match the wanted state, touching only the virtual servers it is
// told changed, with a mirror of what it believes the kernel holds.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/client.h"
#include "ipvs/types.h"

namespace kipvs::ipvs {

struct SyncReport {
    size_t operations = 0;             // sent to the kernel
    std::map<std::string, size_t> operationsByVerb;  // "add real server" -> how many
    std::vector<Error> failures;       // one per refused operation; retried on the next sync
};

class Reconciler {
public:
    // Decides which virtual servers are ours: those on kube-ipvs0 addresses or node addresses,
    // outside the excluded CIDRs. Anything else is never read into the mirror nor touched.
    using Ownership = std::function<bool(const ServiceKey&)>;

    // `client` is borrowed for the reconciler's lifetime.
    Reconciler(Client& client, Ownership owned);

    // Reads every owned virtual server and its real servers from the kernel into the mirror
    // (1 + N dumps), replacing what the mirror held. Used at start and for a full resync.
    Result<void> adopt();

    // Plans `dirty` keys against the mirror and applies the operations in one batch. A key in
    // `dirty` absent from `wanted` is deleted (when owned). Real servers about to be removed are
    // re-read first, so draining is decided on current connection counts. The mirror follows
    // every operation the kernel accepted; after a refusal it re-reads that virtual server, and
    // plans it again on every later sync until the kernel accepts.
    Result<SyncReport> sync(const std::map<ServiceKey, VirtualServerState>& wanted, const std::set<ServiceKey>& dirty);

    // The cheap drift check of each sync period: one dump of the virtual-server list compared
    // with the mirror, plus the real servers of the next `realServerBudget` virtual servers in
    // rotation (so the whole table is verified every mirror().size() / budget periods), plus
    // those with draining real servers (their counters decide when to delete). Differences are
    // taken into the mirror; the keys returned need a sync to repair them.
    Result<std::set<ServiceKey>> checkDrift(size_t realServerBudget);

    const std::map<ServiceKey, VirtualServerState>& mirror() const { return mirror_; }
    // Virtual servers holding a real server that is no longer wanted but still has connections.
    const std::set<ServiceKey>& draining() const { return draining_; }

private:
    Result<bool> rereadRealServers(const ServiceKey& key);

    Client& client_;
    Ownership owned_;
    std::map<ServiceKey, VirtualServerState> mirror_;
    std::set<ServiceKey> draining_;
    std::set<ServiceKey> retry_;  // refused last time: planned again on every sync until accepted
    std::optional<ServiceKey> rotation_;  // where the next drift check resumes re-reading real servers
};

}  // namespace kipvs::ipvs
