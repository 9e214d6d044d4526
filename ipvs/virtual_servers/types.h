// SPDX-License-Identifier: Apache-2.0
// The IPVS objects as typed values: virtual servers, real servers, counters, timeouts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <netinet/in.h>

#include "base/inet_address.h"
#include "base/protocol.h"

namespace kipvs::ipvs {

using kipvs::Protocol;
using kipvs::protocolName;

// Virtual-server flags as the kernel defines them (<linux/ip_vs.h>). The scheduler flags mean
// different things per scheduler, hence the aliases.
namespace flag {
inline constexpr uint32_t kPersistent = 0x0001;
inline constexpr uint32_t kHashed = 0x0002;  // set by the kernel on every service; ignored on write
inline constexpr uint32_t kOnePacket = 0x0004;
inline constexpr uint32_t kSched1 = 0x0008;
inline constexpr uint32_t kSched2 = 0x0010;
inline constexpr uint32_t kSched3 = 0x0020;
inline constexpr uint32_t kShFallback = kSched1;
inline constexpr uint32_t kShPort = kSched2;
inline constexpr uint32_t kMhFallback = kSched1;
inline constexpr uint32_t kMhPort = kSched2;
// The flags a user chooses: what comparisons and writes look at.
inline constexpr uint32_t kUserMask = kPersistent | kOnePacket | kSched1 | kSched2 | kSched3;
}  // namespace flag

// Identifies one virtual server: protocol + address + port, or a firewall mark (fwmark != 0).
struct VirtualServerKey {
    int family = AF_INET;  // AF_INET or AF_INET6; for an fwmark service, the family it serves
    Protocol protocol = Protocol::Tcp;
    InetAddress address;
    uint16_t port = 0;
    uint32_t fwmark = 0;

    bool isFwmark() const { return fwmark != 0; }
    // "TCP 10.96.0.10:53", "TCP [fd00::1]:80", "FWM 5 IPv4".
    std::string toString() const;

    auto operator<=>(const VirtualServerKey&) const = default;
    bool operator==(const VirtualServerKey&) const = default;
};

// The keys from `from` (included) up to `to` (excluded); nullopt leaves that end open. A drift
// check compares a large table one range at a time (Reconciler::checkDrift).
struct KeyRange {
    std::optional<VirtualServerKey> from, to;

    bool contains(const VirtualServerKey& key) const { return (!from || !(key < *from)) && (!to || key < *to); }
    bool whole() const { return !from && !to; }
};

struct Stats {
    uint64_t connections = 0;
    uint64_t packetsIn = 0;
    uint64_t packetsOut = 0;
    uint64_t bytesIn = 0;
    uint64_t bytesOut = 0;
    bool operator==(const Stats&) const = default;
};

struct VirtualServer {
    VirtualServerKey key;
    std::string scheduler = "rr";
    uint32_t flags = 0;  // flag::*; kHashed is ignored on write
    uint32_t timeout = 0;  // persistence timeout in seconds (with flag::kPersistent)
    // Persistence granularity: an IPv4 netmask in network byte order (0xffffffff: per client
    // address), or an IPv6 prefix length (128). 0 picks the all-ones value of the family.
    uint32_t netmask = 0;
    // A dump's traffic counters are checked, not kept: nothing reads them, and each wanted and
    // mirrored state would carry 40 bytes more.

    // A virtual server that only names `key`: what deletes and queries send.
    static VirtualServer named(const VirtualServerKey& key)
    {
        VirtualServer s;
        s.key = key;
        return s;
    }

    // The fields a write sets, as they will read back from the kernel.
    bool sameSettings(const VirtualServer& other) const;
    uint32_t effectiveNetmask() const;
};

enum class ForwardMethod : uint8_t { Masquerade = 0, Local = 1, Tunnel = 2, DirectRoute = 3, Bypass = 4 };

// 36 bytes (in this order: the address's 17 and the forward method's byte share a word).
struct RealServer {
    InetAddress address;
    ForwardMethod forward = ForwardMethod::Masquerade;
    uint16_t port = 0;
    uint32_t weight = 1;
    uint32_t upperThreshold = 0;  // 0: no limit
    uint32_t lowerThreshold = 0;

    // Filled by dumps, ignored on write: the active and inactive connections the kernel counted,
    // summed (saturating), which is all graceful termination asks. Neither the kernel's separate
    // counts nor its traffic counters are kept: 36 bytes a real server, not 44, at 100,000s of them.
    uint32_t connections = 0;

    bool sameSettings(const RealServer& other) const;
    // "10.244.1.5:53", "[fd00::5]:53".
    std::string endpoint() const;
};

static_assert(sizeof(RealServer) == 36);

// Orders real servers by endpoint (address, then port).
bool endpointBefore(const RealServer& a, const RealServer& b);

// A list's real servers by endpoint, for lookups in O(log n): virtual servers with thousands of
// real servers are compared without O(n^2) scans. Borrows the list, which must outlive it.
class EndpointIndex {
public:
    explicit EndpointIndex(const std::vector<RealServer>& reals);
    // The real server with the same address and port, or null.
    const RealServer* find(const RealServer& r) const;

private:
    std::vector<const RealServer*> sorted_;
};

// A virtual server with its real servers: what the proxier wants, or what a dump found.
struct VirtualServerState {
    VirtualServer server;
    std::vector<RealServer> realServers;
    // Same settings (not counters) and the same real servers in any order.
    bool sameSettings(const VirtualServerState& other) const;
};

// Virtual servers by key. Each state is immutable and shared with whoever computed it (the
// event loop), so handing a table to the sync thread copies pointers, never the states.
using WantedTable = std::map<VirtualServerKey, std::shared_ptr<const VirtualServerState>>;

// IPVS connection timeouts in seconds; 0 in a write leaves that timeout unchanged.
struct Timeouts {
    uint32_t tcp = 0;
    uint32_t tcpFin = 0;
    uint32_t udp = 0;
    bool operator==(const Timeouts&) const = default;
};

struct Info {
    uint32_t version = 0;  // encoded as (major << 16) | (minor << 8) | patch
    uint32_t connectionTableSize = 0;
    std::string versionString() const;
};

}  // namespace kipvs::ipvs
