// SPDX-License-Identifier: Apache-2.0
// A client of the kernel's IPVS generic-netlink family: typed queries and batched changes.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "ipvs/codec.h"
#include "ipvs/operation.h"
#include "ipvs/types.h"

struct nl_sock;

namespace kipvs::ipvs {

// What became of a batch: every operation not listed in `failures` succeeded (or was already
// done: see Operation::alreadyDone).
struct BatchReport {
    struct Failure {
        size_t index;  // into the operations passed to apply()
        Error error;
    };
    size_t operations = 0;
    std::vector<Failure> failures;
    bool ok() const { return failures.empty(); }
};

// Traffic counters of one client, for metrics and benchmarks.
struct ClientCounters {
    uint64_t messages = 0;  // netlink requests sent
    uint64_t sends = 0;     // sendmsg calls
    uint64_t errors = 0;    // requests the kernel refused (not counting "already done")
};

class Client {
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
    ~Client();

    Result<Info> info();
    Result<Timeouts> timeouts();
    Result<std::vector<VirtualServer>> services();
    // nullopt when the kernel has no such service.
    Result<std::optional<VirtualServer>> service(const ServiceKey& key);
    Result<std::vector<RealServer>> realServers(const ServiceKey& key);

    // Carries out the operations in order, many per sendmsg, and reports each failure with the
    // kernel's errno. The Result fails only when the socket itself fails; then the operations
    // after the failure point were not confirmed.
    Result<BatchReport> apply(std::span<const Operation> operations);
    // One operation; its failure (if any) as the error.
    Result<void> apply(const Operation& operation);

    Result<void> addService(const VirtualServer& s) { return apply(Operation::addService(s)); }
    Result<void> editService(const VirtualServer& s) { return apply(Operation::editService(s)); }
    Result<void> deleteService(const ServiceKey& k) { return apply(Operation::deleteService(k)); }
    Result<void> addRealServer(const ServiceKey& k, const RealServer& r) { return apply(Operation::addRealServer(k, r)); }
    Result<void> editRealServer(const ServiceKey& k, const RealServer& r) { return apply(Operation::editRealServer(k, r)); }
    Result<void> deleteRealServer(const ServiceKey& k, const RealServer& r) { return apply(Operation::deleteRealServer(k, r)); }
    Result<void> zeroCounters() { return apply(Operation::zeroAllCounters()); }
    Result<void> zeroCounters(const ServiceKey& k) { return apply(Operation::zeroCounters(k)); }
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
    struct SocketDeleter {
        void operator()(nl_sock* sock) const;
    };
    using Socket = std::unique_ptr<nl_sock, SocketDeleter>;

    Client(Socket socket, uint16_t familyId);

    Result<void> send(const MessageBuffer& buffer, const char* operation);
    Result<std::vector<VirtualServer>> dumpServices();
    Result<std::vector<RealServer>> dumpRealServers(const ServiceKey& key);
    // Reads the replies to request `seq` until the dump ends (or, for a request without
    // NLM_F_DUMP, the one reply); `onMessage` sees every data message.
    template <typename OnMessage>
    Result<void> receiveDump(uint32_t seq, const char* operation, const std::string& object, OnMessage onMessage);

    Socket socket_;
    int fd_ = -1;
    uint16_t familyId_ = 0;
    uint32_t seq_ = 1;
    std::vector<uint8_t> receiveBuffer_;
    MessageBuffer sendBuffer_;
    ClientCounters counters_;
};

}  // namespace kipvs::ipvs
