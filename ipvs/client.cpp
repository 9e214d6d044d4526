// SPDX-License-Identifier: Apache-2.0
// The IPVS generic-netlink client: socket, family resolution, batched sends, dumps.
#include "client.h"

#include "kernel_settings.h"

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
constexpr size_t kBatchBytes = 256 * 1024;
constexpr int kSocketBufferBytes = 8 * 1024 * 1024;
constexpr size_t kReceiveBufferBytes = 256 * 1024;

void setBufferSize(int fd, int forced, int plain, int bytes)
{
    // The *FORCE variants ignore net.core.[rw]mem_max and need CAP_NET_ADMIN, which we have.
    if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) < 0)
        setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
}

// The kernel's own words for a refused request, when it attached them (extended ack).
std::string extendedAckMessage(const nlmsghdr* nlh)
{
    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
        return {};
    // With NETLINK_CAP_ACK the echoed request is only its header, so the TLVs follow nlmsgerr.
    size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (nlh->nlmsg_len <= offset)
        return {};
    auto* head = reinterpret_cast<nlattr*>(reinterpret_cast<uint8_t*>(const_cast<nlmsghdr*>(nlh)) + offset);
    nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
    nla_policy policy[NLMSGERR_ATTR_MAX + 1] = {};
    policy[NLMSGERR_ATTR_MSG].type = NLA_STRING;
    if (nla_parse(tb, NLMSGERR_ATTR_MAX, head, static_cast<int>(nlh->nlmsg_len - offset), policy) < 0 ||
        !tb[NLMSGERR_ATTR_MSG])
        return {};
    return nla_get_string(tb[NLMSGERR_ATTR_MSG]);
}

}  // namespace

void Client::SocketDeleter::operator()(nl_sock* sock) const
{
    nl_socket_free(sock);
}

Client::Client(Socket socket, uint16_t familyId)
    : socket_(std::move(socket)), fd_(nl_socket_get_fd(socket_.get())), familyId_(familyId),
      receiveBuffer_(kReceiveBufferBytes)
{
    sendBuffer_.reserve(kBatchBytes + 4096);
}

Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::open(Options options)
{
    Socket socket(nl_socket_alloc());
    if (!socket)
        return fail(Error::Domain::System, ENOMEM, "allocate netlink socket");
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
    while (next < operations.size()) {
        sendBuffer_.clear();
        const size_t first = next;
        const uint32_t firstSeq = seq_;
        size_t lastOffset = 0;
        while (next < operations.size() && sendBuffer_.size() < kBatchBytes) {
            lastOffset = sendBuffer_.size();
            encodeOperation(sendBuffer_, familyId_, seq_++, 0, operations[next++]);
        }
        // Only the last request asks for an acknowledgement: the kernel handles the requests of
        // one buffer in order and always reports a refusal, so when the last one is
        // acknowledged every earlier one without a refusal has succeeded.
        sendBuffer_.header(lastOffset)->nlmsg_flags |= NLM_F_ACK;
        const uint32_t lastSeq = seq_ - 1;
        if (auto sent = send(sendBuffer_, operations[first].verb()); !sent)
            return tl::unexpected(sent.error());
        counters_.messages += next - first;

        bool acknowledged = false;
        while (!acknowledged) {
            ssize_t n;
            do {
                n = recv(fd_, receiveBuffer_.data(), receiveBuffer_.size(), 0);
            } while (n < 0 && errno == EINTR);
            if (n < 0)
                return fail(Error::Domain::System, errno, operations[first].verb(), "",
                            "reading netlink acknowledgements");
            int left = static_cast<int>(n);
            for (auto* nlh = reinterpret_cast<nlmsghdr*>(receiveBuffer_.data()); NLMSG_OK(nlh, left);
                 nlh = NLMSG_NEXT(nlh, left)) {
                if (nlh->nlmsg_type != NLMSG_ERROR)
                    continue;
                const uint32_t offset = nlh->nlmsg_seq - firstSeq;
                if (offset >= next - first)
                    continue;  // a stale reply to an earlier exchange
                const int error = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nlh))->error;
                const Operation& op = operations[first + offset];
                if (error != 0 && !op.alreadyDone(error)) {
                    ++counters_.errors;
                    report.failures.push_back({first + offset, Error{Error::Domain::Kernel, error, op.verb(),
                                                                     op.object(), extendedAckMessage(nlh)}});
                }
                if (nlh->nlmsg_seq == lastSeq)
                    acknowledged = true;
            }
        }
    }
    return report;
}

Result<void> Client::apply(const Operation& operation)
{
    auto report = apply(std::span<const Operation>(&operation, 1));
    if (!report)
        return tl::unexpected(report.error());
    if (!report->ok())
        return tl::unexpected(report->failures.front().error);
    return {};
}

Result<void> Client::sendEncoded(const MessageBuffer& requests)
{
    return send(requests, "send pre-encoded requests");
}

Result<size_t> Client::awaitAcknowledgement(uint32_t lastSeq)
{
    size_t refused = 0;
    for (;;) {
        ssize_t n = recv(fd_, receiveBuffer_.data(), receiveBuffer_.size(), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(Error::Domain::System, errno, "read acknowledgements");
        int left = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<nlmsghdr*>(receiveBuffer_.data()); NLMSG_OK(nlh, left);
             nlh = NLMSG_NEXT(nlh, left)) {
            if (nlh->nlmsg_type != NLMSG_ERROR)
                continue;
            if (reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nlh))->error != 0)
                ++refused;
            if (nlh->nlmsg_seq == lastSeq)
                return refused;
        }
    }
}

template <typename OnMessage>
Result<void> Client::receiveDump(uint32_t seq, const char* operation, const std::string& object, OnMessage onMessage)
{
    bool interrupted = false;
    for (;;) {
        ssize_t n;
        do {
            n = recv(fd_, receiveBuffer_.data(), receiveBuffer_.size(), MSG_TRUNC);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return fail(Error::Domain::System, errno, operation, object, "reading the reply");
        if (static_cast<size_t>(n) > receiveBuffer_.size())
            return fail(Error::Domain::System, EMSGSIZE, operation, object, "reply larger than the buffer");
        int left = static_cast<int>(n);
        for (auto* nlh = reinterpret_cast<nlmsghdr*>(receiveBuffer_.data()); NLMSG_OK(nlh, left);
             nlh = NLMSG_NEXT(nlh, left)) {
            if (nlh->nlmsg_seq != seq)
                continue;
            // The table changed while the kernel was dumping it: the result may be inconsistent.
            if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                interrupted = true;
            if (nlh->nlmsg_type == NLMSG_DONE) {
                if (interrupted)
                    return fail(Error::Domain::Kernel, EINTR, operation, object, "dump interrupted by a change");
                return {};
            }
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                int error = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nlh))->error;
                if (error == 0)
                    return {};
                return fail(Error::Domain::Kernel, error, operation, object, extendedAckMessage(nlh));
            }
            if (nlh->nlmsg_type != familyId_)
                continue;
            if (auto handled = onMessage(nlh); !handled)
                return handled;
            // A reply to a request without NLM_F_DUMP is that one message.
            if (!(nlh->nlmsg_flags & NLM_F_MULTI))
                return {};
        }
    }
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

Result<std::vector<VirtualServer>> Client::services()
{
    return retryDump([this] { return dumpServices(); });
}

Result<std::vector<RealServer>> Client::realServers(const ServiceKey& key)
{
    return retryDump([&] { return dumpRealServers(key); });
}

Result<std::vector<VirtualServer>> Client::dumpServices()
{
    sendBuffer_.clear();
    const uint32_t seq = seq_++;
    encodeGetServices(sendBuffer_, familyId_, seq);
    if (auto sent = send(sendBuffer_, "list virtual servers"); !sent)
        return tl::unexpected(sent.error());
    std::vector<VirtualServer> out;
    auto done = receiveDump(seq, "list virtual servers", "", [&](const nlmsghdr* nlh) -> Result<void> {
        auto service = decodeServiceMessage(nlh);
        if (!service)
            return tl::unexpected(service.error());
        out.push_back(std::move(*service));
        return {};
    });
    if (!done)
        return tl::unexpected(done.error());
    return out;
}

Result<std::optional<VirtualServer>> Client::service(const ServiceKey& key)
{
    sendBuffer_.clear();
    const uint32_t seq = seq_++;
    encodeGetService(sendBuffer_, familyId_, seq, key);
    if (auto sent = send(sendBuffer_, "get virtual server"); !sent)
        return tl::unexpected(sent.error());
    std::optional<VirtualServer> out;
    auto done = receiveDump(seq, "get virtual server", key.toString(), [&](const nlmsghdr* nlh) -> Result<void> {
        auto service = decodeServiceMessage(nlh);
        if (!service)
            return tl::unexpected(service.error());
        out = std::move(*service);
        return {};
    });
    if (!done && done.error().code == ESRCH)
        return std::optional<VirtualServer>();
    if (!done)
        return tl::unexpected(done.error());
    return out;
}

Result<std::vector<RealServer>> Client::dumpRealServers(const ServiceKey& key)
{
    sendBuffer_.clear();
    const uint32_t seq = seq_++;
    encodeGetRealServers(sendBuffer_, familyId_, seq, key);
    if (auto sent = send(sendBuffer_, "list real servers"); !sent)
        return tl::unexpected(sent.error());
    std::vector<RealServer> out;
    auto done = receiveDump(seq, "list real servers of", key.toString(), [&](const nlmsghdr* nlh) -> Result<void> {
        auto server = decodeRealServerMessage(nlh, key.family);
        if (!server)
            return tl::unexpected(server.error());
        out.push_back(std::move(*server));
        return {};
    });
    if (!done)
        return tl::unexpected(done.error());
    return out;
}

Result<Info> Client::info()
{
    sendBuffer_.clear();
    const uint32_t seq = seq_++;
    encodeGetInfo(sendBuffer_, familyId_, seq);
    if (auto sent = send(sendBuffer_, "get IPVS info"); !sent)
        return tl::unexpected(sent.error());
    Result<Info> out = fail(Error::Domain::Decode, ENODATA, "get IPVS info", "", "no reply");
    auto done = receiveDump(seq, "get IPVS info", "", [&](const nlmsghdr* nlh) -> Result<void> {
        out = decodeInfoMessage(nlh);
        return {};
    });
    if (!done)
        return tl::unexpected(done.error());
    return out;
}

Result<Timeouts> Client::timeouts()
{
    sendBuffer_.clear();
    const uint32_t seq = seq_++;
    encodeGetTimeouts(sendBuffer_, familyId_, seq);
    if (auto sent = send(sendBuffer_, "get IPVS timeouts"); !sent)
        return tl::unexpected(sent.error());
    Result<Timeouts> out = fail(Error::Domain::Decode, ENODATA, "get IPVS timeouts", "", "no reply");
    auto done = receiveDump(seq, "get IPVS timeouts", "", [&](const nlmsghdr* nlh) -> Result<void> {
        out = decodeTimeoutsMessage(nlh);
        return {};
    });
    if (!done)
        return tl::unexpected(done.error());
    return out;
}

}  // namespace kipvs::ipvs
