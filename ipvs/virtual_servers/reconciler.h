// SPDX-License-Identifier: Apache-2.0
// Makes the kernel's IPVS table match the wanted state, touching only the virtual servers it is
// told changed, with a mirror of what it believes the kernel holds.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/virtual_servers/client.h"
#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

// Which virtual servers the reconciler may read and change; anything else is never read into
// the mirror nor touched. The caller decides (the daemon: those on its addresses).
using IsManaged = std::function<bool(const VirtualServerKey&)>;

struct SyncReport {
    size_t operations = 0;  // sent to the kernel
    std::map<std::string, size_t> operationsByVerb;  // "add real server" -> how many
    std::vector<Error> failures;  // one per refused operation; retried on the next sync
};

class Reconciler {
public:
    // `client` is borrowed for the reconciler's lifetime.
    explicit Reconciler(Client& client) : client_(client) {}

    // Reads every managed virtual server and its real servers from the kernel into the mirror
    // (1 + N dumps), replacing what the mirror held. Used at start.
    Result<void> adopt(const IsManaged& managed);

    // Plans `dirty` keys against the mirror and applies the operations in one batch. A key in
    // `dirty` absent from `wanted` is deleted (when managed). Real servers about to be removed
    // are re-read first, so draining is decided on current connection counts. The mirror
    // follows every operation the kernel accepted; after a refusal it re-reads that virtual
    // server, and plans it again on every later sync until the kernel accepts.
    Result<SyncReport> sync(const WantedTable& wanted, const std::set<VirtualServerKey>& dirty,
                            const IsManaged& managed);

    // The cheap drift check of each sync period: one dump of the virtual-server list compared
    // with the mirror, plus the real servers of the next `realServerBudget` virtual servers in
    // rotation (so the whole table is verified every mirror().size() / budget periods), plus
    // those with draining real servers (their counters decide when to delete). Differences are
    // taken into the mirror; the keys returned need a sync to repair them.
    Result<std::set<VirtualServerKey>> checkDrift(size_t realServerBudget, const IsManaged& managed);

    // Reads these virtual servers and their real servers into the mirror (2 dumps each); one the
    // kernel lacks leaves the mirror. For keys the daemon wants that adopt() did not take.
    Result<void> read(const std::set<VirtualServerKey>& keys);

    const std::map<VirtualServerKey, VirtualServerState>& mirror() const { return mirror_; }
    // Whether the kernel (as mirrored) holds a virtual server on `address`.
    bool holdsAddress(const InetAddress& address) const;
    // Virtual servers holding a real server that is no longer wanted but still has connections.
    const std::set<VirtualServerKey>& draining() const { return draining_; }
    // Virtual servers whose last operation the kernel refused: planned again by every sync.
    size_t retrying() const { return retry_.size(); }

private:
    Result<std::vector<Operation>> plan(const WantedTable& wanted, const std::set<VirtualServerKey>& dirty,
                                        const IsManaged& managed);
    void trackDraining(const WantedTable& wanted, const std::set<VirtualServerKey>& keys);
    Result<void> rereadRefused(const std::set<VirtualServerKey>& keys);
    Result<void> compareVirtualServers(const IsManaged& managed, std::set<VirtualServerKey>& dirty);
    Result<void> compareRealServers(size_t realServerBudget, std::set<VirtualServerKey>& dirty);
    Result<bool> rereadRealServers(const VirtualServerKey& key);

    Client& client_;
    std::map<VirtualServerKey, VirtualServerState> mirror_;
    std::set<VirtualServerKey> draining_;
    std::set<VirtualServerKey> retry_;  // refused last time: planned again on every sync until accepted
    std::optional<VirtualServerKey> rotation_;  // where the next drift check resumes re-reading real servers
};

}  // namespace kipvs::ipvs
