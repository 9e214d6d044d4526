// SPDX-License-Identifier: Apache-2.0
// Set elements added and removed over nfnetlink (NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM in one
// batch, one transaction), from the keys set_elements.h encodes. libnftables parses nft's text
// and fetches the table's chains and sets before every element command: a one-element change
// took 1.8-2.6 ms in the test VM that way, and 0.25-0.53 ms this way.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/netfilter/set_elements.h"
#include "ipvs/netlink_socket.h"

namespace kipvs::ipvs {

// One set's elements to take out and to put in. A set of ranges (concatenated, with flags
// interval) sends every element with its last key, a single value's being its key.
struct SetElementChange {
    enum class Layout { Values, Ranges };
    std::string set;
    Layout layout = Layout::Values;
    SetElements removed, added;
};

// The batch that makes `changes` in table inet `table`: removals first, then additions, numbered
// from `firstSeq` (the batch's begin marker), the last asking for an acknowledgement.
struct EncodedSetElementBatch {
    std::string bytes;  // empty when the batch could not be encoded
    std::vector<std::string> sets;  // the set of each message with elements: sequence firstSeq + 1 + i
};
EncodedSetElementBatch encodeSetElementBatch(const std::string& table, const std::vector<SetElementChange>& changes,
                                             uint32_t firstSeq);

class SetElementBatch {
public:
    static Result<SetElementBatch> open();
    // All of `changes` in one transaction, or none: an element removed that is not there, or any
    // other refusal, fails the whole batch with the kernel's errno.
    Result<void> apply(const std::string& table, const std::vector<SetElementChange>& changes);

private:
    explicit SetElementBatch(NetlinkSocket socket) : socket_(std::move(socket)) {}
    Result<void> readSendBuffer();
    Result<void> fitSendBuffer(size_t bytes);
    NetlinkSocket socket_;
    uint32_t seq_ = 1;
    size_t sendBuffer_ = 0;  // the longest message the socket takes
};

}  // namespace kipvs::ipvs
