// SPDX-License-Identifier: Apache-2.0
// Makes the kernel's IPVS table match the wanted state, touching only the virtual servers it is
// told changed, with a mirror of what it believes the kernel holds.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/virtual_servers/mirrored_state.h"
#include "ipvs/virtual_servers/operation.h"
#include "ipvs/virtual_servers/snapshot.h"
#include "ipvs/virtual_servers/table.h"
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
    // `kernel` is borrowed for the reconciler's lifetime.
    explicit Reconciler(VirtualServerTable& kernel) : kernel_(kernel) {}

    // Reads every managed virtual server and its real servers from the kernel into the mirror
    // (1 + N dumps), replacing what the mirror held. Used at start.
    Result<void> adopt(const IsManaged& managed);

    // Level-triggered: plans `dirty` keys, and every key an earlier sync did not settle, against
    // the mirror and applies the operations in one batch. A key absent from `wanted` is deleted
    // (when managed). Three steps: refresh (re-read what the mirror is unsure of, and the real
    // servers about to be removed, so draining is decided on current connection counts), a pure
    // plan, apply; then the mirror follows every operation the kernel accepted. A key is settled
    // only when the kernel accepted all its operations: after a refusal, or an exchange that failed
    // (ENOBUFS, EMSGSIZE, ENOMEM: which operations took effect is unknown), its virtual server is
    // re-read before it is planned again, by every later sync until the kernel accepts. Steps of
    // at most kKeysPerStep keys are planned and applied in turn; after an exchange whose replies
    // were lost the later steps go on, and any other exchange failure ends the sync.
    Result<SyncReport> sync(const WantedTable& wanted, const std::set<VirtualServerKey>& dirty,
                            const IsManaged& managed);

    // The cheap drift check of each sync period: the virtual servers read as `list` says (the
    // whole list, or each mirrored key looked up) compared with the mirror, plus the real servers
    // of the next `realServerBudget` virtual servers in rotation (so the whole table is verified
    // every mirror().size() / budget periods), plus those with draining real servers (their
    // counters decide when to delete). Differences are taken into the mirror; the keys returned
    // need a sync to repair them.
    Result<std::set<VirtualServerKey>> checkDrift(size_t realServerBudget, ListRead list, const IsManaged& managed);

    // The same check in two halves, so its reads can run on another thread, through a client of
    // their own, while syncs go on. beginDriftCheck() says what to read and starts noting every
    // key a sync plans or reads; checkDrift(snapshot) compares the snapshot with the mirror but
    // for those keys (the reads may have seen them before or after a sync). A virtual server
    // missing from a whole list is asked for once more before it counts as gone: a dump that runs
    // while syncs add and delete can skip one.
    VirtualServerReadPlan beginDriftCheck(size_t realServerBudget, ListRead list);
    Result<std::set<VirtualServerKey>> checkDrift(const VirtualServerSnapshot& snapshot, const IsManaged& managed);

    // checkDrift(snapshot) a range of keys at a time, with syncs in between (still noted): at
    // 50,000 virtual servers the whole comparison holds the sync thread ~100 ms in the test VM.
    // nextDriftRange() says the next range of at most `keys` mirrored keys from `from`; each
    // range's checkDrift() compares the virtual servers in it (the snapshot sorted by key, see
    // sortedByKey(snapshot), unless the range is whole); endDriftCheck() then compares the real
    // servers and stops noting, and abandonDriftCheck() stops without them.
    KeyRange nextDriftRange(const std::optional<VirtualServerKey>& from, size_t keys) const;
    Result<std::set<VirtualServerKey>> checkDrift(const VirtualServerSnapshot& snapshot, const IsManaged& managed,
                                                  const KeyRange& range);
    Result<std::set<VirtualServerKey>> endDriftCheck(const VirtualServerSnapshot& snapshot);
    void abandonDriftCheck();

    // Reads these virtual servers and their real servers into the mirror (2 dumps each); one the
    // kernel lacks leaves the mirror. For keys the daemon wants that adopt() did not take.
    Result<void> read(const std::set<VirtualServerKey>& keys);

    const MirrorTable& mirror() const { return mirror_; }
    // Whether the kernel (as mirrored) holds a virtual server on `address`.
    bool holdsAddress(const InetAddress& address) const;
    // Virtual servers holding a real server that is no longer wanted but still has connections.
    const std::set<VirtualServerKey>& draining() const { return draining_; }
    // Keys not settled yet (refused, or not confirmed by a failed exchange): planned again by
    // every sync.
    const std::set<VirtualServerKey>& unsettled() const { return unsettled_; }

private:
    // Planned and applied together by one step of a sync: at most this many virtual servers, and
    // as many as fit in this many operations (~1.6 MB of plan).
    static constexpr size_t kKeysPerStep = 1024;
    static constexpr size_t kOperationsPerStep = 8192;

    size_t mostOperations(const WantedTable& wanted, const VirtualServerKey& key) const;
    std::set<VirtualServerKey>::const_iterator fillStep(const WantedTable& wanted,
                                                        std::set<VirtualServerKey>::const_iterator first,
                                                        std::set<VirtualServerKey>::const_iterator end,
                                                        std::vector<VirtualServerKey>& step) const;
    Result<void> refresh(const WantedTable& wanted, const std::set<VirtualServerKey>& dirty, const IsManaged& managed);
    Result<void> applyStep(const WantedTable& wanted, const std::vector<Operation>& ops,
                           std::map<Operation::Kind, size_t>& byKind, SyncReport& report,
                           std::set<VirtualServerKey>& refused);
    std::set<VirtualServerKey> settle(const WantedTable& wanted, const std::vector<Operation>& ops,
                                      std::vector<BatchReport::Failure>& failures);
    void shareWanted(const WantedTable& wanted, std::span<const VirtualServerKey> keys,
                     const std::set<VirtualServerKey>& refused);
    void trackDraining(const WantedTable& wanted, const std::set<VirtualServerKey>& keys);
    bool untouched(const VirtualServerKey& key) const { return !touched_.count(key); }
    Result<void> compareVirtualServers(std::span<const VirtualServer> dumped, const IsManaged& managed,
                                       const KeyRange& range, std::set<VirtualServerKey>& dirty);
    void compareLookedUp(const VirtualServerSnapshot& snapshot, const KeyRange& range,
                         std::set<VirtualServerKey>& dirty);
    Result<void> confirmMissing(const VirtualServerKey& key, std::set<VirtualServerKey>& dirty);
    Result<void> compareRealServers(const VirtualServerSnapshot& snapshot, std::set<VirtualServerKey>& dirty);
    // Whether the re-read's connection counters must reach the mirror (the planner or draining
    // reads them) or only a difference matters (the drift check).
    enum class Counters { Needed, NotNeeded };
    Result<bool> rereadRealServers(const VirtualServerKey& key, Counters counters);
    // Takes real servers as read (nullopt: the virtual server is gone) into the mirror; whether
    // they differed from it.
    bool takeRealServers(const VirtualServerKey& key, std::optional<std::vector<RealServer>> reals, Counters counters);

    VirtualServerTable& kernel_;
    MirrorTable mirror_;
    std::set<VirtualServerKey> draining_;
    std::set<VirtualServerKey> unsettled_;  // planned again on every sync until the kernel accepts
    std::set<VirtualServerKey> unsure_;  // the mirror may be wrong about these: re-read before planning
    std::optional<VirtualServerKey> rotation_;  // where the next drift check resumes re-reading real servers
    std::set<VirtualServerKey> touched_;  // planned or read by a sync since beginDriftCheck()
    bool noting_ = false;  // a drift check's reads are under way: syncs note their keys
};

}  // namespace kipvs::ipvs
