// SPDX-License-Identifier: Apache-2.0
// Set-element batches over nfnetlink (see set_element_batch.h).
#include "ipvs/netfilter/set_element_batch.h"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <memory>
#include <optional>
#include <span>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

namespace kipvs::ipvs {

namespace {

// Elements per message: 256 of the largest (two 40-byte IPv6 keys) fit well within one.
constexpr size_t kElementsPerMessage = 256;
constexpr size_t kMessageBytes = size_t{64} * 1024;
// What the kernel keeps of a socket's send buffer for its own accounting (netlink_sendmsg
// refuses a message longer than the buffer less 32 bytes).
constexpr size_t kSendBufferOverhead = 32;

struct MessageDeleter {
    void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};
using Message = std::unique_ptr<nl_msg, MessageDeleter>;

// A message of `type` with its nfnetlink header; nullptr when it cannot be allocated.
Message newMessage(uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t resourceId)
{
    Message msg(nlmsg_alloc_size(kMessageBytes));
    if (!msg || !nlmsg_put(msg.get(), 0, seq, type, 0, flags))
        return nullptr;
    nfgenmsg header{family, NFNETLINK_V0, htons(resourceId)};
    if (nlmsg_append(msg.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0)
        return nullptr;
    return msg;
}

void append(std::string& out, nl_msg* msg)
{
    const nlmsghdr* header = nlmsg_hdr(msg);
    out.append(reinterpret_cast<const char*>(header), NLMSG_ALIGN(header->nlmsg_len));
}

bool putData(nl_msg* msg, int type, const std::string& bytes)
{
    nlattr* data = nla_nest_start(msg, type);
    if (!data || nla_put(msg, NFTA_DATA_VALUE, static_cast<int>(bytes.size()), bytes.data()) < 0)
        return false;
    nla_nest_end(msg, data);
    return true;
}

bool putElement(nl_msg* msg, const SetElement& element, SetElementChange::Layout layout)
{
    nlattr* item = nla_nest_start(msg, NFTA_LIST_ELEM);
    if (!item || !putData(msg, NFTA_SET_ELEM_KEY, element.key))
        return false;
    const std::string& last = element.keyEnd.empty() ? element.key : element.keyEnd;
    if (layout == SetElementChange::Layout::Ranges && !putData(msg, NFTA_SET_ELEM_KEY_END, last))
        return false;
    nla_nest_end(msg, item);
    return true;
}

// One NEWSETELEM or DELSETELEM message for `elements`; false when they do not fit.
bool appendElements(std::string& out, uint16_t command, uint16_t flags, uint32_t seq, const std::string& table,
                    const SetElementChange& change, std::span<const SetElement> elements)
{
    Message msg = newMessage(static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | command),
                             static_cast<uint16_t>(NLM_F_REQUEST | flags), seq, NFPROTO_INET, 0);
    if (!msg || nla_put_string(msg.get(), NFTA_SET_ELEM_LIST_TABLE, table.c_str()) < 0 ||
        nla_put_string(msg.get(), NFTA_SET_ELEM_LIST_SET, change.set.c_str()) < 0)
        return false;
    nlattr* list = nla_nest_start(msg.get(), NFTA_SET_ELEM_LIST_ELEMENTS);
    if (!list)
        return false;
    for (const auto& element : elements)
        if (!putElement(msg.get(), element, change.layout))
            return false;
    nla_nest_end(msg.get(), list);
    append(out, msg.get());
    return true;
}

bool appendMarker(std::string& out, uint16_t type, uint32_t seq)
{
    Message msg = newMessage(type, NLM_F_REQUEST, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    if (!msg)
        return false;
    append(out, msg.get());
    return true;
}

size_t messagesFor(const std::vector<SetElementChange>& changes)
{
    size_t messages = 0;
    for (const auto& change : changes)
        for (const auto* elements : {&change.removed, &change.added})
            messages += (elements->size() + kElementsPerMessage - 1) / kElementsPerMessage;
    return messages;
}

}  // namespace

EncodedSetElementBatch encodeSetElementBatch(const std::string& table, const std::vector<SetElementChange>& changes,
                                             uint32_t firstSeq)
{
    EncodedSetElementBatch out;
    uint32_t seq = firstSeq;
    const size_t total = messagesFor(changes);
    bool encoded = appendMarker(out.bytes, NFNL_MSG_BATCH_BEGIN, seq++);
    const auto appendAll = [&](uint16_t command, uint16_t flags, bool removed) {
        for (const auto& change : changes) {
            const SetElements& elements = removed ? change.removed : change.added;
            for (size_t at = 0; encoded && at < elements.size(); at += kElementsPerMessage) {
                const size_t count = std::min(kElementsPerMessage, elements.size() - at);
                out.sets.push_back(change.set);
                const uint16_t ack = out.sets.size() == total ? NLM_F_ACK : 0;
                encoded = appendElements(out.bytes, command, flags | ack, seq++, table, change,
                                         std::span<const SetElement>(elements).subspan(at, count));
            }
        }
    };
    appendAll(NFT_MSG_DELSETELEM, 0, true);
    appendAll(NFT_MSG_NEWSETELEM, NLM_F_CREATE, false);
    encoded = encoded && appendMarker(out.bytes, NFNL_MSG_BATCH_END, seq);
    if (!encoded)
        out.bytes.clear();
    return out;
}

Result<SetElementBatch> SetElementBatch::open()
{
    KIPVS_ASSIGN_OR_RETURN(auto socket, allocateNetlinkSocket());
    if (int err = nl_connect(socket.get(), NETLINK_NETFILTER); err < 0)
        return fail(Error::Domain::System, EPROTONOSUPPORT, "connect nfnetlink socket");
    // A refusal's report then carries the refused message's header, not its 256 elements.
    const int on = 1;
    setsockopt(nl_socket_get_fd(socket.get()), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    SetElementBatch batch(std::move(socket));
    KIPVS_TRY(batch.readSendBuffer());
    return batch;
}

Result<void> SetElementBatch::readSendBuffer()
{
    int size = 0;
    socklen_t length = sizeof size;
    if (getsockopt(nl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_SNDBUF, &size, &length) < 0)
        return fail(Error::Domain::System, errno, "read nfnetlink send buffer");
    sendBuffer_ = static_cast<size_t>(size) > kSendBufferOverhead ? size - kSendBufferOverhead : 0;
    return {};
}

// The kernel takes a batch from one message, which must fit the socket's send buffer (libnl's
// default of 64 KB refused a 30,000-element change). Forced past net.core.wmem_max with
// CAP_NET_ADMIN.
Result<void> SetElementBatch::fitSendBuffer(size_t bytes)
{
    if (bytes <= sendBuffer_)
        return {};
    const int fd = nl_socket_get_fd(socket_.get());
    int size = static_cast<int>(std::min<size_t>(bytes, std::numeric_limits<int>::max() / 2));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) < 0)
        return fail(Error::Domain::System, errno, "size nfnetlink send buffer", std::to_string(bytes) + " bytes");
    return readSendBuffer();
}

Result<void> SetElementBatch::apply(const std::string& table, const std::vector<SetElementChange>& changes)
{
    const uint32_t first = seq_;
    const EncodedSetElementBatch batch = encodeSetElementBatch(table, changes, first);
    const std::string object = "inet " + table;
    if (batch.bytes.empty())
        return fail(Error::Domain::System, ENOMEM, "change set elements", object, "the batch did not fit");
    seq_ += static_cast<uint32_t>(batch.sets.size() + 2);
    if (batch.sets.empty())
        return {};
    KIPVS_TRY(fitSendBuffer(batch.bytes.size()));
    const int fd = nl_socket_get_fd(socket_.get());
    if (send(fd, batch.bytes.data(), batch.bytes.size(), 0) < 0)
        return fail(Error::Domain::Kernel, errno, "change set elements", object);
    // The kernel runs the batch within send(): its reports are queued by now. Only the last
    // message asks for an acknowledgement (one per message overflowed the receive buffer with
    // 118 messages); a refused message is reported whatever its flags. A report of an earlier
    // batch (left by one whose reading failed) is not this batch's.
    std::vector<char> buffer(kMessageBytes);
    bool acknowledged = false;
    std::optional<Error> refused;
    for (;;) {
        const ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == ENOBUFS))
            continue;  // ENOBUFS: reports were lost; what is left is still read
        if (n < 0)
            break;
        int left = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(nlh, left); nlh = NLMSG_NEXT(nlh, left)) {
            if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr)))
                continue;
            const auto* report = static_cast<const nlmsgerr*>(NLMSG_DATA(nlh));
            const uint32_t index = report->msg.nlmsg_seq - first;  // 0 is the begin marker
            if (index > batch.sets.size() + 1)
                continue;
            if (report->error == 0)
                acknowledged = true;
            else if (!refused)
                refused =
                    Error{Error::Domain::Kernel,
                          -report->error,
                          "change set elements",
                          index >= 1 && index <= batch.sets.size() ? object + " " + batch.sets[index - 1] : object,
                          {}};
        }
    }
    if (refused)
        return tl::unexpected(*refused);
    if (!acknowledged)
        return fail(Error::Domain::Kernel, EIO, "change set elements", object, "the batch was not acknowledged");
    return {};
}

}  // namespace kipvs::ipvs
