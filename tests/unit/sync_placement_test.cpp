// SPDX-License-Identifier: Apache-2.0
// Which thread runs a sync: small incremental TCP changes on the event loop, anything that may be
// long on the sync thread.
#include <catch2/catch.hpp>

#include "daemon/sync_placement.h"

using namespace kipvs;
using namespace kipvs::daemon;

namespace {

ipvs::VirtualServerKey key(Protocol protocol, uint32_t address)
{
    return {AF_INET, protocol, InetAddress::v4(address), 80, 0};
}

std::shared_ptr<const ipvs::VirtualServerState> withRealServers(size_t count)
{
    auto state = std::make_shared<ipvs::VirtualServerState>();
    state->realServers.resize(count);
    return state;
}

// One endpoint of one TCP Service replaced, after a sync that went well.
SyncRequest oneChange()
{
    SyncRequest r;
    r.changes[key(Protocol::Tcp, 0x0a600001)] = withRealServers(10);
    return r;
}

PreviousSync wentWell()
{
    PreviousSync p;
    p.ran = true;
    return p;
}

}  // namespace

TEST_CASE("A small incremental TCP change runs on the event loop; anything that may be long does not", "[unit]")
{
    CHECK(threadFor(oneChange(), wentWell()) == SyncThread::EventLoop);

    SyncRequest deletion;
    deletion.changes[key(Protocol::Tcp, 0x0a600001)] = nullptr;
    CHECK(threadFor(deletion, wentWell()) == SyncThread::EventLoop);

    SyncRequest full = oneChange();
    full.kind = SyncKind::Full;
    CHECK(threadFor(full, wentWell()) == SyncThread::SyncThread);

    CHECK(threadFor(oneChange(), PreviousSync{}) == SyncThread::SyncThread);  // the first sync
    auto failed = wentWell();
    failed.leftWorkUndone = true;
    CHECK(threadFor(oneChange(), failed) == SyncThread::SyncThread);  // a retry

    auto otherConfig = wentWell();
    otherConfig.firewallConfig.masqueradeAll = true;
    CHECK(threadFor(oneChange(), otherConfig) == SyncThread::SyncThread);  // the table is rebuilt
    auto otherRanges = wentWell();
    otherRanges.serviceRanges = {*Cidr::parse("10.96.0.0/12")};
    CHECK(threadFor(oneChange(), otherRanges) == SyncThread::SyncThread);

    SyncRequest udp;
    udp.changes[key(Protocol::Udp, 0x0a60000a)] = withRealServers(2);  // conntrack is cleaned up
    CHECK(threadFor(udp, wentWell()) == SyncThread::SyncThread);

    SyncRequest many;
    for (uint32_t i = 0; i < 9; ++i)
        many.changes[key(Protocol::Tcp, 0x0a600001 + i)] = withRealServers(1);
    CHECK(threadFor(many, wentWell()) == SyncThread::SyncThread);
    many.changes.erase(many.changes.begin());
    CHECK(threadFor(many, wentWell()) == SyncThread::EventLoop);  // eight

    SyncRequest large;
    large.changes[key(Protocol::Tcp, 0x0a600001)] = withRealServers(1000);
    CHECK(threadFor(large, wentWell()) == SyncThread::SyncThread);

    SyncRequest elements = oneChange();
    for (uint32_t i = 0; i < 65; ++i)
        elements.firewall.present.hairpin.insert(IpPort{InetAddress::v4(0x0af40000 + i), Protocol::Tcp, 8080});
    CHECK(threadFor(elements, wentWell()) == SyncThread::SyncThread);
}
