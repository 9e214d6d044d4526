// SPDX-License-Identifier: Apache-2.0
// The kernel mirror and incremental syncs (see reconciler.h).
#include "ipvs/virtual_servers/reconciler.h"

#include <algorithm>
#include <cerrno>

#include "ipvs/virtual_servers/planner.h"

namespace kipvs::ipvs {

namespace {

bool sameEndpoint(const RealServer& a, const RealServer& b)
{
    return a.address == b.address && a.port == b.port;
}

// Whether `actual` holds a real server that `wanted` (null: nothing) does not.
bool removesRealServer(const VirtualServerState& actual, const VirtualServerState* wanted)
{
    if (!wanted)
        return !actual.realServers.empty();
    const EndpointIndex index(wanted->realServers);
    return std::any_of(actual.realServers.begin(), actual.realServers.end(),
                       [&](const RealServer& r) { return !index.find(r); });
}

// The mirror's lists are kept sorted by endpoint (see follow()).
std::vector<RealServer> sortedByEndpoint(std::vector<RealServer> reals)
{
    std::sort(reals.begin(), reals.end(), endpointBefore);
    return reals;
}

const VirtualServerState* find(const WantedTable& wanted, const VirtualServerKey& key)
{
    auto found = wanted.find(key);
    return found == wanted.end() ? nullptr : found->second.get();
}

// The mirror's view of one virtual server after `op` succeeded. `it` is the mirror's entry for
// the operation's key (or end()), kept valid for the next operation on the same key.
void follow(MirrorTable& mirror, MirrorTable::iterator& it, const Operation& op)
{
    const VirtualServerKey& key = op.virtualServer.key;
    switch (op.kind) {
    case Operation::Kind::AddVirtualServer:
    case Operation::Kind::EditVirtualServer:
        if (it == mirror.end())
            it = mirror.emplace(key, MirroredState(VirtualServerState{op.virtualServer, {}})).first;
        else
            it->second.edit().server = op.virtualServer;
        break;
    case Operation::Kind::DeleteVirtualServer:
        if (it != mirror.end()) {
            mirror.erase(it);
            it = mirror.end();
        }
        break;
    case Operation::Kind::AddRealServer:
    case Operation::Kind::EditRealServer:
    case Operation::Kind::DeleteRealServer: {
        if (it == mirror.end())
            break;
        // The mirror keeps each list sorted by endpoint: adds in that order append in O(1).
        auto& reals = it->second.edit().realServers;
        auto found = std::lower_bound(reals.begin(), reals.end(), op.realServer, endpointBefore);
        const bool there = found != reals.end() && sameEndpoint(*found, op.realServer);
        if (op.kind == Operation::Kind::DeleteRealServer) {
            if (there)
                reals.erase(found);
        } else if (!there) {
            reals.insert(found, op.realServer);
        } else {
            // Keep the kernel's counters: draining decisions read them.
            RealServer updated = op.realServer;
            updated.connections = found->connections;
            *found = updated;
        }
        break;
    }
    default:
        break;
    }
}

// The part of a list sorted by key that falls in `range` (the whole list for a whole range).
template <typename T, typename KeyOf>
std::span<const T> inRange(std::span<const T> sorted, const KeyRange& range, KeyOf keyOf)
{
    const auto before = [&](const T& item, const VirtualServerKey& key) { return keyOf(item) < key; };
    auto first = range.from ? std::lower_bound(sorted.begin(), sorted.end(), *range.from, before) : sorted.begin();
    auto last = range.to ? std::lower_bound(first, sorted.end(), *range.to, before) : sorted.end();
    return {first, last};
}

}  // namespace

Result<void> Reconciler::adopt(const IsManaged& managed)
{
    KIPVS_ASSIGN_OR_RETURN(auto dumped, kernel_.virtualServers());
    MirrorTable fresh;
    for (auto& virtualServer : dumped) {
        if (!managed(virtualServer.key))
            continue;
        KIPVS_ASSIGN_OR_RETURN(auto reals, kernel_.realServers(virtualServer.key));
        const VirtualServerKey key = virtualServer.key;
        fresh.emplace(key,
                      MirroredState(VirtualServerState{std::move(virtualServer), sortedByEndpoint(std::move(reals))}));
    }
    mirror_ = std::move(fresh);
    return {};
}

bool Reconciler::holdsAddress(const InetAddress& address) const
{
    for (Protocol protocol : {Protocol::Tcp, Protocol::Udp, Protocol::Sctp}) {
        VirtualServerKey first{address.family(), protocol, address, 0, 0};
        auto it = mirror_.lower_bound(first);
        if (it != mirror_.end() && it->first.family == first.family && it->first.protocol == protocol &&
            it->first.address == address)
            return true;
    }
    return false;
}

namespace {

// An exchange whose replies (some or all) were lost, on a socket that works again once drained.
bool lostReplies(const Error& error)
{
    return error.code == ENOBUFS || error.code == ENOMEM || error.code == EMSGSIZE;
}

}  // namespace

Result<SyncReport> Reconciler::sync(const WantedTable& wanted, const std::set<VirtualServerKey>& changed,
                                    const IsManaged& managed)
{
    std::set<VirtualServerKey> dirty = changed;
    dirty.insert(unsettled_.begin(), unsettled_.end());
    if (noting_) {
        touched_.insert(dirty.begin(), dirty.end());
        touched_.insert(unsure_.begin(), unsure_.end());  // read again on the way
    }
    unsettled_ = dirty;  // until the kernel accepts: any failure on the way leaves them for the next sync
    KIPVS_TRY(refresh(wanted, dirty, managed));
    SyncReport report;
    std::map<Operation::Kind, size_t> byKind;
    std::set<VirtualServerKey> refused;
    // A step of keys at a time, each planned and applied before the next: a first sync's plan
    // (121,000 operations at 10,000 Services, ~200 bytes each) is never held whole.
    std::vector<VirtualServerKey> step;
    step.reserve(std::min(dirty.size(), kKeysPerStep));
    for (auto next = dirty.begin(); next != dirty.end();) {
        next = fillStep(wanted, next, dirty.end(), step);
        auto applied = applyStep(wanted, planKeys(wanted, mirror_, step, managed), byKind, report, refused);
        if (applied) {
            shareWanted(wanted, step, refused);
            continue;
        }
        if (lostReplies(applied.error())) {
            // The socket is usable again: later steps go on, so one sync finds every key the mirror
            // is wrong about (ipvsadm -C, then a change everywhere: ESRCH floods every step).
            report.failures.push_back(applied.error());
            continue;
        }
        // The earlier steps' refusals are read again by the next sync, as after a whole sync:
        // a refusal often means the kernel's table is not what the mirror says (ESRCH, EEXIST).
        unsure_.insert(refused.begin(), refused.end());
        return tl::unexpected(applied.error());
    }
    for (const auto& [kind, count] : byKind)
        report.operationsByVerb[Operation{kind, {}, {}, {}, false}.verb()] = count;
    unsettled_ = refused;
    unsure_.insert(refused.begin(), refused.end());
    trackDraining(wanted, dirty);
    // Believe the kernel rather than the plan now; a read that fails is tried by the next sync.
    if (auto reread = read(unsure_); reread)
        unsure_.clear();
    else
        report.failures.push_back(reread.error());
    return report;
}

// A key the kernel accepted every operation of, and that now holds its wanted state, keeps that
// state rather than its own copy (see MirroredState). The mirror's lists stay sorted by endpoint.
void Reconciler::shareWanted(const WantedTable& wanted, std::span<const VirtualServerKey> keys,
                             const std::set<VirtualServerKey>& refused)
{
    for (const auto& key : keys) {
        auto a = mirror_.find(key);
        auto w = wanted.find(key);
        if (a == mirror_.end() || w == wanted.end() || a->second.shares(w->second) || refused.count(key))
            continue;
        const auto& reals = w->second->realServers;
        if (std::is_sorted(reals.begin(), reals.end(), endpointBefore) && a->second.state().sameSettings(*w->second))
            a->second.share(w->second);
    }
}

// At most how many operations planning `key` gives: its virtual server and every real server
// wanted or mirrored (a virtual server of 1,000 real servers plans up to 2,001).
size_t Reconciler::mostOperations(const WantedTable& wanted, const VirtualServerKey& key) const
{
    const VirtualServerState* w = find(wanted, key);
    auto a = mirror_.find(key);
    return 1 + (w ? w->realServers.size() : 0) + (a != mirror_.end() ? a->second.state().realServers.size() : 0);
}

// The keys of the step that starts at `first`; returns where the next one starts.
std::set<VirtualServerKey>::const_iterator Reconciler::fillStep(const WantedTable& wanted,
                                                                std::set<VirtualServerKey>::const_iterator first,
                                                                std::set<VirtualServerKey>::const_iterator end,
                                                                std::vector<VirtualServerKey>& step) const
{
    step.clear();
    for (size_t operations = 0; first != end && step.size() < kKeysPerStep; ++first) {
        operations += mostOperations(wanted, *first);
        if (!step.empty() && operations > kOperationsPerStep)
            break;  // a key is never split: one with more operations is a step of its own
        step.push_back(*first);
    }
    return first;
}

// Sends one step's operations; the mirror follows those accepted, `refused` gains the keys of
// those refused. An exchange that failed leaves every key of the step refused and unsure.
Result<void> Reconciler::applyStep(const WantedTable& wanted, const std::vector<Operation>& ops,
                                   std::map<Operation::Kind, size_t>& byKind, SyncReport& report,
                                   std::set<VirtualServerKey>& refused)
{
    report.operations += ops.size();
    for (const auto& op : ops)
        ++byKind[op.kind];
    if (ops.empty())
        return {};
    auto applied = kernel_.apply(ops);
    if (!applied) {
        for (const auto& op : ops) {
            unsure_.insert(op.virtualServer.key);
            refused.insert(op.virtualServer.key);
        }
        return tl::unexpected(applied.error());
    }
    refused.merge(settle(wanted, ops, applied->failures));
    for (auto& failure : applied->failures)
        report.failures.push_back(std::move(failure.error));
    return {};
}

// What the mirror may be wrong about is read again, and the real servers about to be removed,
// since whether one drains or goes depends on its connections now (one dump, only then).
Result<void> Reconciler::refresh(const WantedTable& wanted, const std::set<VirtualServerKey>& dirty,
                                 const IsManaged& managed)
{
    KIPVS_TRY(read(unsure_));
    unsure_.clear();
    for (const auto& key : dirty) {
        if (!managed(key))
            continue;
        const VirtualServerState* w = find(wanted, key);
        if (auto a = mirror_.find(key); a != mirror_.end() && w && removesRealServer(a->second.state(), w))
            KIPVS_TRY(rereadRealServers(key, Counters::Needed));
    }
    return {};
}

// The mirror follows each accepted operation; returns the keys with a refused one. A virtual
// server added with exactly its wanted state shares that state at once: following each operation
// made a copy of every one on a first sync (11,000 states and 110,000 real servers at 10,000
// Services), dropped when shared after, whose blocks left the sync thread's arena 0.7 MB larger.
std::set<VirtualServerKey> Reconciler::settle(const WantedTable& wanted, const std::vector<Operation>& ops,
                                              std::vector<BatchReport::Failure>& failures)
{
    std::set<size_t> refusedIndexes;
    for (const auto& failure : failures)
        refusedIndexes.insert(failure.index);
    std::set<VirtualServerKey> refused;
    // The plan lists each virtual server's operations together: one look-up per virtual server.
    auto entry = mirror_.end();
    const VirtualServerKey* entryKey = nullptr;
    for (size_t i = 0; i < ops.size(); ++i) {
        const VirtualServerKey& key = ops[i].virtualServer.key;
        if (refusedIndexes.count(i)) {
            refused.insert(key);
            continue;
        }
        if (!entryKey || !(*entryKey == key))
            entry = mirror_.find(key), entryKey = &key;
        if (entry == mirror_.end())
            if (const size_t added = addedAsWanted(wanted, ops, i, refusedIndexes); added > 0) {
                entry = mirror_.emplace(key, MirroredState::sharing(wanted.find(key)->second)).first;
                i += added - 1;
                continue;
            }
        follow(mirror_, entry, ops[i]);
    }
    return refused;
}

// A real server left in place but no longer wanted is draining: its counters are watched.
void Reconciler::trackDraining(const WantedTable& wanted, const std::set<VirtualServerKey>& keys)
{
    for (const auto& key : keys) {
        auto a = mirror_.find(key);
        if (a != mirror_.end() && removesRealServer(a->second.state(), find(wanted, key)))
            draining_.insert(key);
        else
            draining_.erase(key);
    }
}

Result<void> Reconciler::read(const std::set<VirtualServerKey>& keys)
{
    for (const auto& key : keys) {
        KIPVS_ASSIGN_OR_RETURN(auto virtualServer, kernel_.virtualServer(key));
        if (!virtualServer) {
            mirror_.erase(key);
            continue;
        }
        KIPVS_ASSIGN_OR_RETURN(auto reals, kernel_.realServers(key));
        mirror_.insert_or_assign(
            key, MirroredState(VirtualServerState{std::move(*virtualServer), sortedByEndpoint(std::move(reals))}));
    }
    return {};
}

Result<bool> Reconciler::rereadRealServers(const VirtualServerKey& key, Counters counters)
{
    auto reals = kernel_.realServers(key);
    if (!reals && (reals.error().code == ESRCH || reals.error().code == ENOENT))
        return takeRealServers(key, std::nullopt, counters);
    if (!reals)
        return tl::unexpected(reals.error());
    if (!mirror_.count(key))
        return fail(Error::Domain::System, ENOENT, "re-read real servers", key.toString(), "not mirrored");
    return takeRealServers(key, std::move(*reals), counters);
}

bool Reconciler::takeRealServers(const VirtualServerKey& key, std::optional<std::vector<RealServer>> reals,
                                 Counters counters)
{
    auto entry = mirror_.find(key);
    if (!reals) {
        if (entry != mirror_.end())
            mirror_.erase(entry);
        return true;
    }
    if (entry == mirror_.end())
        return false;
    const auto& mirrored = entry->second.state().realServers;
    bool differs = mirrored.size() != reals->size();
    const EndpointIndex known(mirrored);
    for (const auto& r : *reals) {
        const RealServer* m = known.find(r);
        differs |= !m || !m->sameSettings(r);
    }
    // A state shared with the wanted one stays shared when only counters moved and none are needed.
    if (differs || counters == Counters::Needed)
        entry->second.edit().realServers = sortedByEndpoint(std::move(*reals));
    return differs;
}

Result<std::set<VirtualServerKey>> Reconciler::checkDrift(size_t realServerBudget, ListRead list,
                                                          const IsManaged& managed)
{
    const auto plan = beginDriftCheck(realServerBudget, list);
    KIPVS_ASSIGN_OR_RETURN(auto snapshot, readSnapshot(kernel_, plan));
    return checkDrift(snapshot, managed);
}

// The real servers of the next `budget` virtual servers in rotation: the whole table is verified
// every mirror().size() / budget drift checks.
VirtualServerReadPlan Reconciler::beginDriftCheck(size_t budget, ListRead list)
{
    touched_.clear();
    noting_ = true;
    VirtualServerReadPlan plan;
    plan.list = list;
    if (list == ListRead::MirroredKeys) {
        plan.keys.reserve(mirror_.size());
        for (const auto& [key, state] : mirror_)
            plan.keys.push_back(key);
    }
    auto& keys = plan.realServerKeys;
    auto next = rotation_ ? mirror_.upper_bound(*rotation_) : mirror_.begin();
    for (size_t n = 0; n < budget && !mirror_.empty(); ++n) {
        if (next == mirror_.end())
            next = mirror_.begin();
        if (!keys.empty() && next->first == keys.front())
            break;  // wrapped around the whole table
        keys.push_back(next->first);
        rotation_ = next->first;
        ++next;
    }
    return plan;
}

Result<std::set<VirtualServerKey>> Reconciler::checkDrift(const VirtualServerSnapshot& snapshot,
                                                          const IsManaged& managed)
{
    auto dirty = checkDrift(snapshot, managed, KeyRange{});
    if (!dirty) {
        abandonDriftCheck();
        return dirty;
    }
    KIPVS_ASSIGN_OR_RETURN(auto reals, endDriftCheck(snapshot));
    dirty->merge(reals);
    return dirty;
}

KeyRange Reconciler::nextDriftRange(const std::optional<VirtualServerKey>& from, size_t keys) const
{
    auto it = from ? mirror_.lower_bound(*from) : mirror_.begin();
    for (size_t n = 0; n < keys && it != mirror_.end(); ++n)
        ++it;
    return {from, it == mirror_.end() ? std::nullopt : std::optional(it->first)};
}

Result<std::set<VirtualServerKey>> Reconciler::checkDrift(const VirtualServerSnapshot& snapshot,
                                                          const IsManaged& managed, const KeyRange& range)
{
    std::set<VirtualServerKey> dirty;
    if (snapshot.list == ListRead::MirroredKeys) {
        compareLookedUp(snapshot, range, dirty);
        return dirty;
    }
    const auto& listed = snapshot.virtualServers;
    const auto byKey = [](const VirtualServer& a, const VirtualServer& b) { return a.key < b.key; };
    // Only a whole range may come unsorted (a test's snapshot): it is compared as a sorted copy.
    const bool sorted = !range.whole() || std::is_sorted(listed.begin(), listed.end(), byKey);
    KIPVS_TRY(sorted ? compareVirtualServers(listed, managed, range, dirty)
                     : compareVirtualServers(sortedByKey(listed), managed, range, dirty));
    return dirty;
}

Result<std::set<VirtualServerKey>> Reconciler::endDriftCheck(const VirtualServerSnapshot& snapshot)
{
    std::set<VirtualServerKey> dirty;
    auto compared = compareRealServers(snapshot, dirty);
    abandonDriftCheck();
    if (!compared)
        return tl::unexpected(compared.error());
    return dirty;
}

void Reconciler::abandonDriftCheck()
{
    noting_ = false;
    touched_.clear();
}

// The virtual-server list against the mirror in `range`, but for the keys syncs touched
// meanwhile.
Result<void> Reconciler::compareVirtualServers(std::span<const VirtualServer> dumped, const IsManaged& managed,
                                               const KeyRange& range, std::set<VirtualServerKey>& dirty)
{
    // One walk through the dump and the mirror, both sorted by key (see readSnapshot()).
    dumped = inRange(dumped, range, [](const VirtualServer& v) -> const VirtualServerKey& { return v.key; });
    std::vector<VirtualServerKey> missing;
    auto m = range.from ? mirror_.lower_bound(*range.from) : mirror_.begin();
    const auto passMirrorUpTo = [&](const VirtualServerKey* key) {
        for (; m != mirror_.end() && (!key || m->first < *key); ++m)
            if (untouched(m->first))
                missing.push_back(m->first);
    };
    for (size_t i = 0; i < dumped.size(); ++i) {
        const VirtualServer& virtualServer = dumped[i];
        const VirtualServerKey& key = virtualServer.key;
        if (i > 0 && dumped[i - 1].key == key)
            continue;  // listed twice by a dump that raced with a sync
        passMirrorUpTo(&key);
        const bool mirrored = m != mirror_.end() && m->first == key;
        if (!untouched(key) || (!mirrored && !managed(key))) {
            m = mirrored ? std::next(m) : m;
            continue;
        }
        if (!mirrored) {
            // Managed but unknown to the mirror: read it in, and let the sync decide. The entry
            // goes before `m`, which stays valid.
            mirror_.emplace_hint(m, key, MirroredState(VirtualServerState{virtualServer, {}}));
            KIPVS_TRY(rereadRealServers(key, Counters::Needed));
            dirty.insert(key);
            continue;
        }
        if (!m->second.state().server.sameSettings(virtualServer)) {
            m->second.edit().server = virtualServer;
            dirty.insert(key);
        }
        ++m;
    }
    passMirrorUpTo(range.to ? &*range.to : nullptr);
    for (const auto& key : missing) {
        if (touched_.empty()) {
            dirty.insert(key);  // no sync ran during the dump: deleted behind our back
            mirror_.erase(key);
        } else {
            KIPVS_TRY(confirmMissing(key, dirty));
        }
    }
    return {};
}

// Each mirrored key in `range` as looked up, but for the keys syncs touched meanwhile. A lookup
// cannot skip one as a dump can: a key the kernel does not have is gone.
void Reconciler::compareLookedUp(const VirtualServerSnapshot& snapshot, const KeyRange& range,
                                 std::set<VirtualServerKey>& dirty)
{
    // The keys were looked up in the mirror's order: one walk through both instead of a search
    // per key, and a search only where that order breaks.
    const auto listed = inRange(std::span<const VirtualServer>(snapshot.virtualServers), range,
                                [](const VirtualServer& v) -> const VirtualServerKey& { return v.key; });
    auto it = range.from ? mirror_.lower_bound(*range.from) : mirror_.begin();
    const VirtualServerKey* previous = nullptr;
    for (const auto& virtualServer : listed) {
        const VirtualServerKey& key = virtualServer.key;
        if (previous && key < *previous)
            it = mirror_.lower_bound(key);
        previous = &key;
        while (it != mirror_.end() && it->first < key)
            ++it;
        if (it == mirror_.end() || it->first != key || !untouched(key))
            continue;
        if (!it->second.state().server.sameSettings(virtualServer)) {
            it->second.edit().server = virtualServer;
            dirty.insert(virtualServer.key);
        }
    }
    const auto absent = inRange(std::span<const VirtualServerKey>(snapshot.absent), range,
                                [](const VirtualServerKey& k) -> const VirtualServerKey& { return k; });
    for (const auto& key : absent) {
        auto gone = mirror_.find(key);
        if (gone == mirror_.end() || !untouched(key))
            continue;
        dirty.insert(key);  // deleted behind our back
        mirror_.erase(gone);
    }
}

// The dump ran while syncs added and deleted virtual servers, which can make it skip one.
Result<void> Reconciler::confirmMissing(const VirtualServerKey& key, std::set<VirtualServerKey>& dirty)
{
    KIPVS_ASSIGN_OR_RETURN(auto now, kernel_.virtualServer(key));
    auto it = mirror_.find(key);
    if (!now) {
        dirty.insert(key);
        mirror_.erase(it);
    } else if (!it->second.state().server.sameSettings(*now)) {
        it->second.edit().server = std::move(*now);
        dirty.insert(key);
    }
    return {};
}

// The real servers of the snapshot's virtual servers against the mirror; those of the draining
// ones are read now, with their counters, which decide when they go.
Result<void> Reconciler::compareRealServers(const VirtualServerSnapshot& snapshot, std::set<VirtualServerKey>& dirty)
{
    for (const auto& key : draining_) {
        if (!mirror_.count(key))
            continue;
        KIPVS_TRY(rereadRealServers(key, Counters::Needed));
        dirty.insert(key);
    }
    for (const auto& [key, reals] : snapshot.realServers) {
        if (draining_.count(key) || !mirror_.count(key) || !untouched(key))
            continue;
        if (takeRealServers(key, reals, Counters::NotNeeded))
            dirty.insert(key);
    }
    return {};
}

}  // namespace kipvs::ipvs
