// SPDX-License-Identifier: Apache-2.0
// A client of the kernel's IPVS generic-netlink family: typed queries and batched changes.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "ipvs/netlink_socket.h"
#include "ipvs/virtual_servers/codec.h"
#include "ipvs/virtual_servers/operation.h"
#include "ipvs/virtual_servers/table.h"
#include "ipvs/virtual_servers/types.h"

struct nl_sock;
struct nlmsghdr;

namespace kipvs::ipvs {

// Traffic counters of one client, for metrics and benchmarks.
struct ClientCounters {
    uint64_t messages = 0;  // netlink requests sent
    uint64_t sends = 0;  // sendmsg calls
    uint64_t errors = 0;  // requests the kernel refused (not counting "already done")
};

class Client : public VirtualServerTable {
public:
    struct Options {
        bool loadModule = true;  // run `modprobe ip_vs` once if the IPVS family is missing
    };

    // Connects, resolves the IPVS family and checks it may use it. Fails with the errno of the
    // step that failed: EPROTONOSUPPORT when IPVS is not available even after loading the
    // module, EPERM without CAP_NET_ADMIN.
    static Result<Client> open(Options options);
    static Result<Client> open() { return open(Options{}); }

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client() override;

    Result<Info> info();
    Result<Timeouts> timeouts();
    Result<std::vector<VirtualServer>> virtualServers() override;
    // nullopt when the kernel has no such service.
    Result<std::optional<VirtualServer>> virtualServer(const VirtualServerKey& key) override;
    Result<std::vector<RealServer>> realServers(const VirtualServerKey& key) override;
    Result<std::vector<std::optional<VirtualServer>>>
    lookUpVirtualServers(std::span<const VirtualServerKey> keys) override;

    // Carries out the operations in order, many per sendmsg, and reports each failure with the
    // kernel's errno. The Result fails only when the socket itself fails; then the operations
    // after the failure point were not confirmed.
    Result<BatchReport> apply(std::span<const Operation> operations) override;
    // One operation; its failure (if any) as the error.
    Result<void> apply(const Operation& operation) { return applyOne(*this, operation); }

    Result<void> addVirtualServer(const VirtualServer& s) { return apply(Operation::addVirtualServer(s)); }
    Result<void> editVirtualServer(const VirtualServer& s) { return apply(Operation::editVirtualServer(s)); }
    Result<void> deleteVirtualServer(const VirtualServerKey& k) { return apply(Operation::deleteVirtualServer(k)); }
    Result<void> addRealServer(const VirtualServerKey& k, const RealServer& r)
    {
        return apply(Operation::addRealServer(k, r));
    }
    Result<void> editRealServer(const VirtualServerKey& k, const RealServer& r)
    {
        return apply(Operation::editRealServer(k, r));
    }
    Result<void> deleteRealServer(const VirtualServerKey& k, const RealServer& r)
    {
        return apply(Operation::deleteRealServer(k, r));
    }
    Result<void> zeroCounters() { return apply(Operation::zeroAllCounters()); }
    Result<void> zeroCounters(const VirtualServerKey& k) { return apply(Operation::zeroCounters(k)); }
    Result<void> flush() { return apply(Operation::flush()); }
    Result<void> setTimeouts(const Timeouts& t) { return apply(Operation::setTimeouts(t)); }

    const ClientCounters& counters() const { return counters_; }
    uint16_t familyId() const { return familyId_; }

    // For benchmarks of the kernel's floor: sends pre-encoded requests as they are, then waits
    // for the acknowledgement of `seq`, counting the requests the kernel refused meanwhile.
    Result<void> sendEncoded(const MessageBuffer& requests);
    Result<size_t> awaitAcknowledgement(uint32_t seq);
    uint32_t nextSeq() { return seq_++; }

private:
    // What a reply handler says after one message.
    enum class Receipt { More, Complete };

    Client(NetlinkSocket socket, uint16_t familyId);

    Result<void> send(const MessageBuffer& buffer, const char* operation);
    Result<std::vector<VirtualServer>> dumpVirtualServers();
    Result<std::vector<RealServer>> dumpRealServers(const VirtualServerKey& key);
    Result<void> lookUpBatch(std::span<const VirtualServerKey> keys, std::span<std::optional<VirtualServer>> found);
    size_t encodeBatch(std::span<const Operation> operations, size_t first);
    void recordRefusal(const nlmsghdr* nlh, const Operation& op, size_t index, BatchReport& report);
    // Reads messages until `onMessage` (Result<Receipt>(const nlmsghdr*)) says Complete; after a
    // failure, drains what is left of the exchange.
    template <typename OnMessage>
    Result<void> receive(const char* operation, const std::string& object, OnMessage onMessage);
    template <typename OnMessage>
    Result<void> receiveUntilComplete(const char* operation, const std::string& object, OnMessage& onMessage);
    void drain();
    // A fresh send buffer: its pages become resident only as the next batches fill them.
    void renewSendBuffer();
    // Sends the request `encode` (void(MessageBuffer&, uint32_t seq)) writes, then hands every data
    // reply to `onData` (Result<void>(const nlmsghdr*)) until the dump ends, or, for a request
    // without NLM_F_DUMP, after the one reply.
    template <typename Encode, typename OnData>
    Result<void> query(const char* operation, const std::string& object, Encode encode, OnData onData);

    NetlinkSocket socket_;
    int fd_ = -1;
    uint16_t familyId_ = 0;
    uint32_t seq_ = 1;
    // Left uninitialised: the allocator maps it apart, and only the pages replies reach are ever
    // touched (a zero fill would make all 256 KiB resident in each client).
    std::unique_ptr<uint8_t[]> receiveBuffer_;
    MessageBuffer sendBuffer_;
    ClientCounters counters_;
};

}  // namespace kipvs::ipvs
