// SPDX-License-Identifier: Apache-2.0
// One change to the kernel's IPVS table, as a value: what the client batches and reports on.
#pragma once

#include <string>

#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

struct Operation {
    enum class Kind {
        AddVirtualServer,
        EditVirtualServer,
        DeleteVirtualServer,
        AddRealServer,
        EditRealServer,
        DeleteRealServer,
        ZeroCounters,  // of `virtualServer.key`, or of everything when `all` is set
        Flush,
        SetTimeouts,
    };

    Kind kind = Kind::AddVirtualServer;
    VirtualServer virtualServer;  // the virtual server, or for real-server kinds the one it belongs to
    RealServer realServer;
    Timeouts timeouts;
    bool all = false;

    static Operation addVirtualServer(VirtualServer s) { return {Kind::AddVirtualServer, std::move(s), {}, {}, false}; }
    static Operation editVirtualServer(VirtualServer s)
    {
        return {Kind::EditVirtualServer, std::move(s), {}, {}, false};
    }
    static Operation deleteVirtualServer(const VirtualServerKey& k)
    {
        return {Kind::DeleteVirtualServer, VirtualServer::named(k), {}, {}, false};
    }
    static Operation addRealServer(const VirtualServerKey& k, RealServer r)
    {
        return {Kind::AddRealServer, VirtualServer::named(k), std::move(r), {}, false};
    }
    static Operation editRealServer(const VirtualServerKey& k, RealServer r)
    {
        return {Kind::EditRealServer, VirtualServer::named(k), std::move(r), {}, false};
    }
    static Operation deleteRealServer(const VirtualServerKey& k, RealServer r)
    {
        return {Kind::DeleteRealServer, VirtualServer::named(k), std::move(r), {}, false};
    }
    static Operation zeroCounters(const VirtualServerKey& k)
    {
        return {Kind::ZeroCounters, VirtualServer::named(k), {}, {}, false};
    }
    static Operation zeroAllCounters() { return {Kind::ZeroCounters, {}, {}, {}, true}; }
    static Operation flush() { return {Kind::Flush, {}, {}, {}, false}; }
    static Operation setTimeouts(Timeouts t) { return {Kind::SetTimeouts, {}, {}, t, false}; }

    // "add virtual server", "delete real server".
    const char* verb() const;
    // "TCP 10.96.0.10:53", "TCP 10.96.0.10:53 -> 10.244.1.5:53".
    std::string object() const;
    // Whether errno means "already done": EEXIST on an add, ENOENT/ESRCH on a delete. This is
    // the one place idempotency is decided.
    bool alreadyDone(int error) const;
};

}  // namespace kipvs::ipvs
