// SPDX-License-Identifier: Apache-2.0
// Diffing one virtual server (see planner.h).
#include "ipvs/virtual_servers/planner.h"

#include <algorithm>

namespace kipvs::ipvs {

std::vector<Operation> planVirtualServer(const VirtualServerState* wanted, const VirtualServerState* actual)
{
    std::vector<Operation> ops;
    planVirtualServer(wanted, actual, ops);
    return ops;
}

void planVirtualServer(const VirtualServerState* wanted, const VirtualServerState* actual, std::vector<Operation>& ops)
{
    if (!wanted && !actual)
        return;
    if (!wanted) {
        // Its real servers go with it (upstream does the same when a Service is deleted).
        ops.push_back(Operation::deleteVirtualServer(actual->server.key));
        return;
    }
    const VirtualServerKey& key = wanted->server.key;
    if (!actual) {
        ops.push_back(Operation::addVirtualServer(wanted->server));
        for (const auto& r : wanted->realServers)
            ops.push_back(Operation::addRealServer(key, r));
        return;
    }
    if (!wanted->server.sameSettings(actual->server))
        ops.push_back(Operation::editVirtualServer(wanted->server));
    const EndpointIndex inKernel(actual->realServers), inWanted(wanted->realServers);
    for (const auto& r : wanted->realServers) {
        const RealServer* there = inKernel.find(r);
        if (!there)
            ops.push_back(Operation::addRealServer(key, r));
        else if (!there->sameSettings(r))
            ops.push_back(Operation::editRealServer(key, r));
    }
    for (const auto& a : actual->realServers) {
        if (inWanted.find(a))
            continue;
        // UDP and SCTP entries expire on their next packet anyway (expire_nodest_conn=1).
        const bool drains = key.protocol == Protocol::Tcp && a.connections > 0;
        if (!drains) {
            ops.push_back(Operation::deleteRealServer(key, a));
        } else if (a.weight != 0) {
            RealServer quiesced = a;
            quiesced.weight = 0;
            ops.push_back(Operation::editRealServer(key, quiesced));
        }
    }
}

std::vector<Operation> planKeys(const WantedTable& wanted, const MirrorTable& kernel,
                                std::span<const VirtualServerKey> keys,
                                const std::function<bool(const VirtualServerKey&)>& managed)
{
    // The pairs first, so the list is allocated once.
    std::vector<std::pair<const VirtualServerState*, const VirtualServerState*>> pairs;
    pairs.reserve(keys.size());
    size_t most = 0;
    for (const auto& key : keys) {
        if (!managed(key))
            continue;
        auto w = wanted.find(key);
        auto a = kernel.find(key);
        pairs.emplace_back(w == wanted.end() ? nullptr : w->second.get(),
                           a == kernel.end() ? nullptr : &a->second.state());
        most += 1 + (pairs.back().first ? pairs.back().first->realServers.size() : 0) +
                (pairs.back().second ? pairs.back().second->realServers.size() : 0);
    }
    std::vector<Operation> ops;
    ops.reserve(most);
    for (const auto& [w, a] : pairs)
        planVirtualServer(w, a, ops);
    return ops;
}

std::set<VirtualServerKey> differingFromWanted(const WantedTable& wanted, const MirrorTable& kernel,
                                               const std::function<bool(const VirtualServerKey&)>& managed,
                                               const KeyRange& range)
{
    // Both tables are sorted by key: one walk through the two in `range`, the keys found in order.
    std::set<VirtualServerKey> out;
    auto w = range.from ? wanted.lower_bound(*range.from) : wanted.begin();
    auto k = range.from ? kernel.lower_bound(*range.from) : kernel.begin();
    const auto wantedEnd = range.to ? wanted.lower_bound(*range.to) : wanted.end();
    const auto kernelEnd = range.to ? kernel.lower_bound(*range.to) : kernel.end();
    while (w != wantedEnd || k != kernelEnd) {
        if (k == kernelEnd || (w != wantedEnd && w->first < k->first)) {
            out.insert(out.end(), w->first);  // not in the kernel
            ++w;
        } else if (w == wantedEnd || k->first < w->first) {
            if (managed(k->first))
                out.insert(out.end(), k->first);  // no longer wanted
            ++k;
        } else {
            if (!k->second.matches(w->second))
                out.insert(out.end(), w->first);
            ++w;
            ++k;
        }
    }
    return out;
}

size_t addedAsWanted(const WantedTable& wanted, std::span<const Operation> ops, size_t first,
                     const std::set<size_t>& refusedIndexes)
{
    const Operation& add = ops[first];
    auto w = wanted.find(add.virtualServer.key);
    if (add.kind != Operation::Kind::AddVirtualServer || w == wanted.end() ||
        !w->second->server.sameSettings(add.virtualServer))
        return 0;
    const auto& reals = w->second->realServers;
    if (first + reals.size() >= ops.size() || !std::is_sorted(reals.begin(), reals.end(), endpointBefore))
        return 0;
    for (size_t i = 0; i <= reals.size(); ++i)
        if (refusedIndexes.count(first + i))
            return 0;
    for (size_t i = 0; i < reals.size(); ++i) {
        const Operation& op = ops[first + 1 + i];
        if (op.kind != Operation::Kind::AddRealServer || !(op.virtualServer.key == add.virtualServer.key) ||
            !op.realServer.sameSettings(reals[i]))
            return 0;
    }
    const size_t next = first + 1 + reals.size();
    if (next < ops.size() && ops[next].virtualServer.key == add.virtualServer.key)
        return 0;  // more operations on it follow
    return 1 + reals.size();
}

}  // namespace kipvs::ipvs
