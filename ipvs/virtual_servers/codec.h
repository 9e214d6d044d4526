// SPDX-License-Identifier: Apache-2.0
// The IPVS generic-netlink wire format: requests encoded into a flat buffer, replies decoded.
// Pure functions of their arguments: no socket, so the bytes are unit-tested without a kernel.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <linux/netlink.h>

#include "base/result.h"
#include "ipvs/virtual_servers/operation.h"
#include "ipvs/virtual_servers/types.h"

struct nlattr;

namespace kipvs::ipvs {

// Netlink messages appended back to back in one buffer, so a batch goes out in one sendmsg.
class MessageBuffer {
public:
    // Starts a generic-netlink message; returns its offset in the buffer.
    size_t begin(uint16_t familyId, uint16_t flags, uint32_t seq, uint8_t command);
    void putU16(uint16_t type, uint16_t value);
    void putU32(uint16_t type, uint32_t value);
    void putBytes(uint16_t type, const void* data, size_t size);
    void putString(uint16_t type, const std::string& value);
    size_t beginNested(uint16_t type);
    void endNested(size_t offset);
    void end(size_t offset);  // fixes the length of the message that began at `offset`

    nlmsghdr* header(size_t offset) { return reinterpret_cast<nlmsghdr*>(bytes_.data() + offset); }
    const uint8_t* data() const { return bytes_.data(); }
    size_t size() const { return bytes_.size(); }
    void clear() { bytes_.clear(); }
    void reserve(size_t n) { bytes_.reserve(n); }
    // Gives the storage back (clear() keeps it).
    void release() { std::vector<uint8_t>().swap(bytes_); }

private:
    void putAttribute(uint16_t type, const void* data, size_t size);
    std::vector<uint8_t> bytes_;
};

// Appends the request that carries out `op`. `flags` are the netlink flags besides
// NLM_F_REQUEST (for example NLM_F_ACK).
void encodeOperation(MessageBuffer& out, uint16_t familyId, uint32_t seq, uint16_t flags, const Operation& op);

// Queries. A null key dumps every service.
void encodeGetVirtualServers(MessageBuffer& out, uint16_t familyId, uint32_t seq);
void encodeGetVirtualServer(MessageBuffer& out, uint16_t familyId, uint32_t seq, const VirtualServerKey& key);
void encodeGetRealServers(MessageBuffer& out, uint16_t familyId, uint32_t seq, const VirtualServerKey& key);
void encodeGetInfo(MessageBuffer& out, uint16_t familyId, uint32_t seq);
void encodeGetTimeouts(MessageBuffer& out, uint16_t familyId, uint32_t seq);

// Reply decoders. Each checks the generic-netlink header and every attribute it reads, and
// fails with Error::Domain::Decode on a malformed message.
Result<VirtualServer> decodeVirtualServerMessage(const nlmsghdr* message);
Result<RealServer> decodeRealServerMessage(const nlmsghdr* message, int serviceFamily);
Result<Info> decodeInfoMessage(const nlmsghdr* message);
Result<Timeouts> decodeTimeoutsMessage(const nlmsghdr* message);

// An NLMSG_ERROR message: the kernel's errno for the request it answers (0 is an
// acknowledgement) and, when it attached them, its own words (extended ack).
struct Acknowledgement {
    int error = 0;
    std::string message;
};
// Fails with Error::Domain::Decode when the message is not an NLMSG_ERROR or too short to hold
// the error code.
Result<Acknowledgement> decodeAcknowledgement(const nlmsghdr* message);

}  // namespace kipvs::ipvs
