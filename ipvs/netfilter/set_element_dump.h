// SPDX-License-Identifier: Apache-2.0
// A set's elements read straight from the kernel over nfnetlink (NFT_MSG_GETSETELEM), keeping
// only each element's key bytes. libnftables builds an expression for every element and prints
// them all: at 10,000 elements that took 12 MB and seconds to tens of seconds in the test VM,
// in the middle of a verification.
#pragma once

#include <string>

#include "base/result.h"
#include "ipvs/netfilter/set_elements.h"
#include "ipvs/netlink_socket.h"

struct nlmsghdr;

namespace kipvs::ipvs {

// Appends the elements that one message of a set-element dump carries, each canonical. EINVAL
// for a malformed message, EOPNOTSUPP for an interval's end marker: a set with intervals but no
// concatenation lists each range as two elements, which this reader does not pair (the table
// verifies no such set).
Result<void> decodeSetElementMessage(const nlmsghdr* message, SetElements& out);

class SetElementDump {
public:
    static Result<SetElementDump> open();
    // The elements of set `set` in table inet `table`, sorted; ENOENT when there is no such set.
    Result<SetElements> list(const std::string& table, const std::string& set);

private:
    explicit SetElementDump(NetlinkSocket socket) : socket_(std::move(socket)) {}
    Result<SetElements> dumpOnce(const std::string& table, const std::string& set);
    NetlinkSocket socket_;
};

}  // namespace kipvs::ipvs
