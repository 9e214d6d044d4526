// SPDX-License-Identifier: Apache-2.0
// The IPVS generic-netlink client: socket, family resolution, batched sends, dumps.
#include "ipvs/virtual_servers/client.h"

#include "ipvs/kernel_module.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/socket.h>
#include <sys/socket.h>

namespace kipvs::ipvs {

namespace {

// Large enough for thousands of requests per sendmsg, small enough that the kernel's copy of
// the buffer stays cheap to allocate.
constexpr size_t kBatchBytes = size_t{256} * 1024;
constexpr int kSocketBufferBytes = 8 * 1024 * 1024;
constexpr size_t kReceiveBufferBytes = size_t{256} * 1024;
// A batch that filled more of the send buffer than this gives its pages back afterwards: one
// first sync would otherwise keep 256 KiB resident for the single changes that follow.
constexpr size_t kKeptSendBytes = size_t{64} * 1024;
// A reply the kernel dropped (its socket buffer full) never comes: without a bound the sync
// thread would wait for it forever.
constexpr timeval kReplyTimeout{10, 0};
// Lookups per exchange: each reply is a datagram of its own (~4.5 KB of the socket's buffer), so
// 512 of them stay well inside kSocketBufferBytes.
constexpr size_t kLookupsPerExchange = 512;

void setBufferSize(int fd, int forced, int plain, int bytes)
{
    // The *FORCE variants ignore net.core.[rw]mem_max and need CAP_NET_ADMIN, which we have.
    if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) < 0)
        setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
}

}  // namespace

Client::Client(NetlinkSocket socket, uint16_t familyId)
    : socket_(std::move(socket)),
      fd_(nl_socket_get_fd(socket_.get())),
      familyId_(familyId),
      receiveBuffer_(std::make_unique_for_overwrite<uint8_t[]>(kReceiveBufferBytes))
{
    sendBuffer_.reserve(kBatchBytes + 4096);
}

void Client::renewSendBuffer()
{
    sendBuffer_.release();
    sendBuffer_.reserve(kBatchBytes + 4096);
}

Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::open(Options options)
{
    KIPVS_ASSIGN_OR_RETURN(auto socket, allocateNetlinkSocket());
    errno = 0;
    if (genl_connect(socket.get()) < 0)
        return fail(Error::Domain::System, errno ? errno : EPROTONOSUPPORT, "connect generic netlink socket");
    int id = genl_ctrl_resolve(socket.get(), IPVS_GENL_NAME);
    if (id < 0 && options.loadModule && loadModule("ip_vs").has_value())
        id = genl_ctrl_resolve(socket.get(), IPVS_GENL_NAME);
    if (id < 0)
        return fail(Error::Domain::Kernel, EPROTONOSUPPORT, "resolve generic netlink family", "'IPVS'",
                    "the kernel has no IPVS (is the ip_vs module available?)");

    int fd = nl_socket_get_fd(socket.get());
    setBufferSize(fd, SO_SNDBUFFORCE, SO_SNDBUF, kSocketBufferBytes);
    setBufferSize(fd, SO_RCVBUFFORCE, SO_RCVBUF, kSocketBufferBytes);
    int on = 1;
    // Refusals carry only the request's header back, not the whole request; and the kernel's
    // explanation when it has one.
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &kReplyTimeout, sizeof kReplyTimeout);
    Client client(std::move(socket), static_cast<uint16_t>(id));
    // Every IPVS command needs CAP_NET_ADMIN; ask once now so a missing capability is one clear
    // error at start rather than a refusal of every later operation.
    if (auto info = client.info(); !info) {
        if (info.error().code == EPERM)
            return fail(Error::Domain::Kernel, EPERM, "open IPVS", "", "CAP_NET_ADMIN is required");
        return tl::unexpected(info.error());
    }
    return client;
}

Result<void> Client::send(const MessageBuffer& buffer, const char* operation)
{
    ssize_t sent;
    do {
        sent = ::send(fd_, buffer.data(), buffer.size(), 0);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return fail(Error::Domain::System, errno, operation, "", "sending the netlink request");
    ++counters_.sends;
    return {};
}

Result<BatchReport> Client::apply(std::span<const Operation> operations)
{
    BatchReport report;
    report.operations = operations.size();
    size_t next = 0;
    size_t largest = 0;
    while (next < operations.size()) {
        const size_t first = next;
        const uint32_t firstSeq = seq_;
        next = encodeBatch(operations, first);
        largest = std::max(largest, sendBuffer_.size());
        KIPVS_TRY(send(sendBuffer_, operations[first].verb()));
        counters_.messages += next - first;
        const uint32_t lastSeq = seq_ - 1;
        KIPVS_TRY(receive(operations[first].verb(), "", [&](const nlmsghdr* nlh) -> Result<Receipt> {
            if (nlh->nlmsg_type != NLMSG_ERROR)
                return Receipt::More;
            const uint32_t offset = nlh->nlmsg_seq - firstSeq;
            if (offset >= next - first)
                return Receipt::More;  // a stale reply to an earlier exchange
            recordRefusal(nlh, operations[first + offset], first + offset, report);
            return nlh->nlmsg_seq == lastSeq ? Receipt::Complete : Receipt::More;
        }));
    }
    if (largest > kKeptSendBytes)
        renewSendBuffer();
    return report;
}

// Encodes operations from `first` into the send buffer, up to kBatchBytes; returns the index
// after the last one encoded.
size_t Client::encodeBatch(std::span<const Operation> operations, size_t first)
{
    sendBuffer_.clear();
    size_t next = first;
    size_t lastOffset = 0;
    while (next < operations.size() && sendBuffer_.size() < kBatchBytes) {
        lastOffset = sendBuffer_.size();
        encodeOperation(sendBuffer_, familyId_, seq_++, 0, operations[next++]);
    }
    // Only the last request asks for an acknowledgement: the kernel handles the requests of
    // one buffer in order and always reports a refusal, so when the last one is acknowledged
    // every earlier one without a refusal has succeeded.
    sendBuffer_.header(lastOffset)->nlmsg_flags |= NLM_F_ACK;
    return next;
}

void Client::recordRefusal(const nlmsghdr* nlh, const Operation& op, size_t index, BatchReport& report)
{
    auto ack = decodeAcknowledgement(nlh);
    if (!ack) {
        ++counters_.errors;
        report.failures.push_back({index, ack.error()});
        return;
    }
    if (ack->error == 0 || op.alreadyDone(ack->error))
        return;
    ++counters_.errors;
    report.failures.push_back(
        {index, Error{Error::Domain::Kernel, ack->error, op.verb(), op.object(), std::move(ack->message)}});
}

Result<void> Client::sendEncoded(const MessageBuffer& requests)
{
    return send(requests, "send pre-encoded requests");
}

Result<size_t> Client::awaitAcknowledgement(uint32_t lastSeq)
{
    size_t refused = 0;
    KIPVS_TRY(receive("read acknowledgements", "", [&](const nlmsghdr* nlh) -> Result<Receipt> {
        if (nlh->nlmsg_type != NLMSG_ERROR)
            return Receipt::More;
        if (auto ack = decodeAcknowledgement(nlh); !ack || ack->error != 0)
            ++refused;
        return nlh->nlmsg_seq == lastSeq ? Receipt::Complete : Receipt::More;
    }));
    return refused;
}

// After a failed exchange the socket may still hold replies to it, and once the kernel has
// dropped one (ENOBUFS) it drops later ones silently until the queue empties: reading what is
// left (which also runs an unfinished dump to its end) gives the next request a clean socket.
void Client::drain()
{
    for (int i = 0; i < 1'000'000; ++i)
        if (recv(fd_, receiveBuffer_.get(), kReceiveBufferBytes, MSG_DONTWAIT) < 0 && errno != EINTR &&
            errno != ENOBUFS)
            return;
}

template <typename OnMessage>
Result<void> Client::receive(const char* operation, const std::string& object, OnMessage onMessage)
{
    auto received = receiveUntilComplete(operation, object, onMessage);
    if (!received)
        drain();
    return received;
}

// The one receive loop: reads datagrams and hands each message to `onMessage` until it says
// the exchange is complete.
template <typename OnMessage>
Result<void> Client::receiveUntilComplete(const char* operation, const std::string& object, OnMessage& onMessage)
{
    for (;;) {
        ssize_t n;
        do {
            n = recv(fd_, receiveBuffer_.get(), kReceiveBufferBytes, MSG_TRUNC);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return fail(Error::Domain::System, ETIMEDOUT, operation, object, "no reply from the kernel");
        if (n < 0)
            return fail(Error::Domain::System, errno, operation, object, "reading the reply");
        if (static_cast<size_t>(n) > kReceiveBufferBytes)
            return fail(Error::Domain::System, EMSGSIZE, operation, object, "reply larger than the buffer");
        int left = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<nlmsghdr*>(receiveBuffer_.get()); NLMSG_OK(nlh, left);
             nlh = NLMSG_NEXT(nlh, left)) {
            KIPVS_ASSIGN_OR_RETURN(const Receipt receipt, onMessage(nlh));
            if (receipt == Receipt::Complete)
                return {};
        }
    }
}

template <typename Encode, typename OnData>
Result<void> Client::query(const char* operation, const std::string& object, Encode encode, OnData onData)
{
    sendBuffer_.clear();
    const uint32_t seq = seq_++;
    encode(sendBuffer_, seq);
    KIPVS_TRY(send(sendBuffer_, operation));
    bool interrupted = false;
    return receive(operation, object, [&](const nlmsghdr* nlh) -> Result<Receipt> {
        if (nlh->nlmsg_seq != seq)
            return Receipt::More;
        // The table changed while the kernel was dumping it: the result may be inconsistent.
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
            interrupted = true;
        if (nlh->nlmsg_type == NLMSG_DONE) {
            if (interrupted)
                return fail(Error::Domain::Kernel, EINTR, operation, object, "dump interrupted by a change");
            return Receipt::Complete;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            KIPVS_ASSIGN_OR_RETURN(auto ack, decodeAcknowledgement(nlh));
            if (ack.error == 0)
                return Receipt::Complete;
            return fail(Error::Domain::Kernel, ack.error, operation, object, ack.message);
        }
        if (nlh->nlmsg_type != familyId_)
            return Receipt::More;
        KIPVS_TRY(onData(nlh));
        // A reply to a request without NLM_F_DUMP is that one message.
        return (nlh->nlmsg_flags & NLM_F_MULTI) ? Receipt::More : Receipt::Complete;
    });
}

namespace {

// A dump the kernel marked inconsistent (EINTR) or whose replies overflowed the socket (ENOBUFS)
// is simply asked again.
template <typename Dump>
auto retryDump(Dump dump) -> decltype(dump())
{
    auto result = dump();
    for (int attempt = 1; attempt < 5 && !result && (result.error().code == EINTR || result.error().code == ENOBUFS);
         ++attempt)
        result = dump();
    return result;
}

}  // namespace

Result<std::vector<VirtualServer>> Client::virtualServers()
{
    return retryDump([this] { return dumpVirtualServers(); });
}

Result<std::vector<RealServer>> Client::realServers(const VirtualServerKey& key)
{
    return retryDump([&] { return dumpRealServers(key); });
}

Result<std::vector<VirtualServer>> Client::dumpVirtualServers()
{
    std::vector<VirtualServer> out;
    KIPVS_TRY(query(
        "list virtual servers", "", [&](MessageBuffer& b, uint32_t seq) { encodeGetVirtualServers(b, familyId_, seq); },
        [&](const nlmsghdr* nlh) -> Result<void> {
            KIPVS_ASSIGN_OR_RETURN(auto virtualServer, decodeVirtualServerMessage(nlh));
            out.push_back(std::move(virtualServer));
            return {};
        }));
    return out;
}

Result<std::optional<VirtualServer>> Client::virtualServer(const VirtualServerKey& key)
{
    std::optional<VirtualServer> out;
    auto done = query(
        "get virtual server", key.toString(),
        [&](MessageBuffer& b, uint32_t seq) { encodeGetVirtualServer(b, familyId_, seq, key); },
        [&](const nlmsghdr* nlh) -> Result<void> {
            KIPVS_ASSIGN_OR_RETURN(out, decodeVirtualServerMessage(nlh));
            return {};
        });
    if (!done && done.error().code == ESRCH)
        return std::optional<VirtualServer>();
    if (!done)
        return tl::unexpected(done.error());
    return out;
}

Result<std::vector<std::optional<VirtualServer>>> Client::lookUpVirtualServers(std::span<const VirtualServerKey> keys)
{
    std::vector<std::optional<VirtualServer>> found(keys.size());
    for (size_t first = 0; first < keys.size(); first += kLookupsPerExchange) {
        const size_t count = std::min(kLookupsPerExchange, keys.size() - first);
        KIPVS_TRY(lookUpBatch(keys.subspan(first, count), std::span(found).subspan(first, count)));
    }
    return found;
}

// One exchange: a get for each key, only the last asking for an acknowledgement. The kernel
// answers each in order, with the virtual server or an error (ESRCH: none), and acknowledges the
// last, so each earlier request has exactly one reply.
Result<void> Client::lookUpBatch(std::span<const VirtualServerKey> keys, std::span<std::optional<VirtualServer>> found)
{
    sendBuffer_.clear();
    const uint32_t firstSeq = seq_;
    size_t lastOffset = 0;
    for (const auto& key : keys) {
        lastOffset = sendBuffer_.size();
        encodeGetVirtualServer(sendBuffer_, familyId_, seq_++, key);
    }
    sendBuffer_.header(lastOffset)->nlmsg_flags |= NLM_F_ACK;
    const uint32_t lastSeq = seq_ - 1;
    KIPVS_TRY(send(sendBuffer_, "get virtual servers"));
    counters_.messages += keys.size();
    return receive("get virtual servers", "", [&](const nlmsghdr* nlh) -> Result<Receipt> {
        const uint32_t index = nlh->nlmsg_seq - firstSeq;
        if (index >= keys.size())
            return Receipt::More;  // a stale reply to an earlier exchange
        if (nlh->nlmsg_type == familyId_) {
            KIPVS_ASSIGN_OR_RETURN(found[index], decodeVirtualServerMessage(nlh));
            return Receipt::More;
        }
        if (nlh->nlmsg_type != NLMSG_ERROR)
            return Receipt::More;
        KIPVS_ASSIGN_OR_RETURN(auto ack, decodeAcknowledgement(nlh));
        if (ack.error != 0 && ack.error != ESRCH)
            return fail(Error::Domain::Kernel, ack.error, "get virtual server", keys[index].toString(), ack.message);
        return nlh->nlmsg_seq == lastSeq ? Receipt::Complete : Receipt::More;
    });
}

Result<std::vector<RealServer>> Client::dumpRealServers(const VirtualServerKey& key)
{
    std::vector<RealServer> out;
    KIPVS_TRY(query(
        "list real servers of", key.toString(),
        [&](MessageBuffer& b, uint32_t seq) { encodeGetRealServers(b, familyId_, seq, key); },
        [&](const nlmsghdr* nlh) -> Result<void> {
            KIPVS_ASSIGN_OR_RETURN(auto server, decodeRealServerMessage(nlh, key.family));
            out.push_back(server);
            return {};
        }));
    return out;
}

Result<Info> Client::info()
{
    Result<Info> out = fail(Error::Domain::Decode, ENODATA, "get IPVS info", "", "no reply");
    KIPVS_TRY(query(
        "get IPVS info", "", [&](MessageBuffer& b, uint32_t seq) { encodeGetInfo(b, familyId_, seq); },
        [&](const nlmsghdr* nlh) -> Result<void> {
            out = decodeInfoMessage(nlh);
            return {};
        }));
    return out;
}

Result<Timeouts> Client::timeouts()
{
    Result<Timeouts> out = fail(Error::Domain::Decode, ENODATA, "get IPVS timeouts", "", "no reply");
    KIPVS_TRY(query(
        "get IPVS timeouts", "", [&](MessageBuffer& b, uint32_t seq) { encodeGetTimeouts(b, familyId_, seq); },
        [&](const nlmsghdr* nlh) -> Result<void> {
            out = decodeTimeoutsMessage(nlh);
            return {};
        }));
    return out;
}

}  // namespace kipvs::ipvs
