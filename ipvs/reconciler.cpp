// SPDX-License-Identifier: Apache-2.0
// The kernel mirror and incremental syncs (see reconciler.h).
#include "reconciler.h"

#include <algorithm>

#include "ipvs/planner.h"

namespace kipvs::ipvs {

Reconciler::Reconciler(Client& client, Ownership owned) : client_(client), owned_(std::move(owned)) {}

Result<void> Reconciler::adopt()
{
    auto services = client_.services();
    if (!services)
        return tl::unexpected(services.error());
    std::map<ServiceKey, VirtualServerState> fresh;
    for (auto& service : *services) {
        if (!owned_(service.key))
            continue;
        auto reals = client_.realServers(service.key);
        if (!reals)
            return tl::unexpected(reals.error());
        ServiceKey key = service.key;
        fresh.emplace(key, VirtualServerState{std::move(service), std::move(*reals)});
    }
    mirror_ = std::move(fresh);
    return {};
}

namespace {

// The mirror's view of one virtual server after `op` succeeded.
void follow(std::map<ServiceKey, VirtualServerState>& mirror, const Operation& op)
{
    const ServiceKey& key = op.service.key;
    auto it = mirror.find(key);
    switch (op.kind) {
    case Operation::Kind::AddService:
    case Operation::Kind::EditService:
        if (it == mirror.end())
            mirror.emplace(key, VirtualServerState{op.service, {}});
        else
            it->second.server = op.service;
        break;
    case Operation::Kind::DeleteService:
        if (it != mirror.end())
            mirror.erase(it);
        break;
    case Operation::Kind::AddRealServer:
    case Operation::Kind::EditRealServer:
    case Operation::Kind::DeleteRealServer: {
        if (it == mirror.end())
            break;
        auto& reals = it->second.realServers;
        auto found = std::find_if(reals.begin(), reals.end(), [&](const RealServer& r) {
            return r.address == op.realServer.address && r.port == op.realServer.port;
        });
        if (op.kind == Operation::Kind::DeleteRealServer) {
            if (found != reals.end())
                reals.erase(found);
        } else if (found == reals.end()) {
            reals.push_back(op.realServer);
        } else {
            // Keep the kernel's counters: draining decisions read them.
            RealServer updated = op.realServer;
            updated.activeConnections = found->activeConnections;
            updated.inactiveConnections = found->inactiveConnections;
            updated.persistentConnections = found->persistentConnections;
            *found = updated;
        }
        break;
    }
    default:
        break;
    }
}

}  // namespace

Result<SyncReport> Reconciler::sync(const std::map<ServiceKey, VirtualServerState>& wanted, const std::set<ServiceKey>& changed)
{
    std::set<ServiceKey> dirty = changed;
    dirty.insert(retry_.begin(), retry_.end());
    retry_.clear();
    std::vector<Operation> ops;
    for (const auto& key : dirty) {
        if (!owned_(key))
            continue;
        auto w = wanted.find(key);
        auto a = mirror_.find(key);
        // Whether a removed real server drains or goes depends on its connections now, not when
        // the mirror last read them: re-read before removing (one dump, only then).
        if (a != mirror_.end() && w != wanted.end()) {
            const bool removes = std::any_of(a->second.realServers.begin(), a->second.realServers.end(), [&](const RealServer& r) {
                return std::none_of(w->second.realServers.begin(), w->second.realServers.end(),
                                    [&](const RealServer& x) { return x.address == r.address && x.port == r.port; });
            });
            if (removes) {
                if (auto fresh = rereadRealServers(key); !fresh)
                    return tl::unexpected(fresh.error());
                a = mirror_.find(key);
            }
        }
        auto planned = planVirtualServer(w == wanted.end() ? nullptr : &w->second, a == mirror_.end() ? nullptr : &a->second);
        ops.insert(ops.end(), std::make_move_iterator(planned.begin()), std::make_move_iterator(planned.end()));
    }
    SyncReport report;
    report.operations = ops.size();
    for (const auto& op : ops)
        ++report.operationsByVerb[op.verb()];
    if (ops.empty())
        return report;
    auto applied = client_.apply(ops);
    if (!applied)
        return tl::unexpected(applied.error());
    std::set<size_t> refused;
    for (auto& failure : applied->failures) {
        refused.insert(failure.index);
        report.failures.push_back(std::move(failure.error));
    }
    std::set<ServiceKey> reread;
    for (size_t i = 0; i < ops.size(); ++i) {
        if (refused.count(i))
            reread.insert(ops[i].service.key);
        else
            follow(mirror_, ops[i]);
    }
    // A real server left in place but no longer wanted is draining: watch its counters.
    for (const auto& key : dirty) {
        auto w = wanted.find(key);
        auto a = mirror_.find(key);
        bool drains = false;
        if (a != mirror_.end())
            for (const auto& r : a->second.realServers)
                drains |= w == wanted.end() ||
                          std::none_of(w->second.realServers.begin(), w->second.realServers.end(), [&](const RealServer& x) {
                              return x.address == r.address && x.port == r.port;
                          });
        if (drains)
            draining_.insert(key);
        else
            draining_.erase(key);
    }
    // After a refusal, believe the kernel rather than the plan.
    retry_ = reread;
    for (const auto& key : reread) {
        auto service = client_.service(key);
        if (!service)
            return tl::unexpected(service.error());
        if (!*service) {
            mirror_.erase(key);
            continue;
        }
        auto reals = client_.realServers(key);
        if (!reals)
            return tl::unexpected(reals.error());
        mirror_[key] = VirtualServerState{std::move(**service), std::move(*reals)};
    }
    return report;
}

Result<bool> Reconciler::rereadRealServers(const ServiceKey& key)
{
    auto reals = client_.realServers(key);
    if (!reals && (reals.error().code == ESRCH || reals.error().code == ENOENT)) {
        mirror_.erase(key);
        return true;
    }
    if (!reals)
        return tl::unexpected(reals.error());
    auto& mirrored = mirror_[key].realServers;
    bool differs = mirrored.size() != reals->size();
    for (const auto& r : *reals)
        differs |= std::none_of(mirrored.begin(), mirrored.end(), [&](const RealServer& m) { return m.sameSettings(r); });
    mirrored = std::move(*reals);  // counters refreshed either way
    return differs;
}

Result<std::set<ServiceKey>> Reconciler::checkDrift(size_t realServerBudget)
{
    std::set<ServiceKey> dirty;
    auto services = client_.services();
    if (!services)
        return tl::unexpected(services.error());
    std::set<ServiceKey> seen;
    for (auto& service : *services) {
        if (!owned_(service.key))
            continue;
        seen.insert(service.key);
        auto it = mirror_.find(service.key);
        if (it == mirror_.end()) {
            // Ours by address but unknown to the mirror: read it in, and let the sync decide.
            ServiceKey key = service.key;
            mirror_[key].server = std::move(service);
            if (auto read = rereadRealServers(key); !read)
                return tl::unexpected(read.error());
            dirty.insert(key);
        } else if (!it->second.server.sameSettings(service)) {
            it->second.server = std::move(service);
            dirty.insert(it->first);
        }
    }
    for (auto it = mirror_.begin(); it != mirror_.end();) {
        if (!seen.count(it->first)) {
            dirty.insert(it->first);  // deleted behind our back
            it = mirror_.erase(it);
        } else {
            ++it;
        }
    }

    std::set<ServiceKey> reread(draining_.begin(), draining_.end());
    std::set<ServiceKey> rotated;
    auto next = rotation_ ? mirror_.upper_bound(*rotation_) : mirror_.begin();
    for (size_t n = 0; n < realServerBudget && !mirror_.empty(); ++n) {
        if (next == mirror_.end())
            next = mirror_.begin();
        if (!rotated.insert(next->first).second)
            break;  // wrapped around the whole table
        reread.insert(next->first);
        rotation_ = next->first;
        ++next;
    }
    for (const auto& key : reread) {
        if (!mirror_.count(key))
            continue;
        auto differs = rereadRealServers(key);
        if (!differs)
            return tl::unexpected(differs.error());
        if (*differs || draining_.count(key))
            dirty.insert(key);
    }
    return dirty;
}

}  // namespace kipvs::ipvs
