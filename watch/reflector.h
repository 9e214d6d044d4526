// SPDX-License-Identifier: Apache-2.0
// Follows one API resource (Services, EndpointSlices, Nodes or ServiceCIDRs) by LIST then WATCH,
// as client-go's reflector does, and reports every change as a typed event. It keeps only each
// object's key and resourceVersion, enough to report exactly what changed: the objects go to the
// events, and whoever handles them keeps the one copy (and may lend it the versions as well).
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "watch/api_connection.h"
#include "watch/decoder.h"
#include "watch/object_versions.h"
#include "watch/objects.h"
#include "watch/rate_limiter.h"

namespace kipvs::watch {

struct ReflectorOptions {
    std::string labelSelector;  // kube-proxy's: "!service.kubernetes.io/service-proxy-name,..."
    std::string fieldSelector;  // "metadata.name=<node>" for the Node
    size_t pageSize = 500;
    std::chrono::milliseconds backoffInitial{800};
    std::chrono::milliseconds backoffMax{30000};
    std::chrono::seconds backoffReset{120};  // this long without trouble resets the backoff
    std::chrono::seconds minWatchTimeout{300};
    std::chrono::seconds maxWatchTimeout{600};
    ConnectionOptions connection;
    DecodeLimits limits;
    // Shared by the reflectors of one client; null: requests are not rate limited.
    std::shared_ptr<RateLimiter> rateLimiter;
    // Borrowed from the events' handler, which must outlive the reflector; null: the reflector
    // keeps its own.
    ObjectVersions* versions = nullptr;
};

// A server's Retry-After, held to the backoff's range: 0 would make a tight request loop, and
// 999999 would park the reflector for 11 days.
inline std::chrono::milliseconds clampRetryAfter(std::chrono::seconds retryAfter, const ReflectorOptions& options)
{
    return std::clamp<std::chrono::milliseconds>(retryAfter, options.backoffInitial, options.backoffMax);
}

template <typename T>
struct ReflectorEvents {
    std::function<void(const T&)> added;
    std::function<void(const T&)> updated;  // the new version
    std::function<void(const ObjectKey&)> deleted;
    std::function<void()> synced;  // after the first complete LIST
    std::function<void(const Rejection&)> rejected;  // an object skipped as invalid
    std::function<void(const Error&)> failed;  // one per failure; the reflector retries by itself
};

struct ReflectorCounters {
    uint64_t lists = 0;  // complete LISTs
    uint64_t relists = 0;  // LISTs forced by an expired resourceVersion
    uint64_t watches = 0;  // WATCH requests
    uint64_t restarts = 0;  // watches that ended other than by their timeout
    uint64_t rejected = 0;  // invalid objects skipped
    uint64_t decodeErrors = 0;
    uint64_t backoffs = 0;
    uint64_t throttled = 0;  // requests that waited for the client-side rate limit
};

template <typename T>
class Reflector {
public:
    // `credentials` and `pool` are borrowed and must outlive the reflector.
    Reflector(asio::io_context& io, ClusterAccess access, CredentialSource& credentials, StringPool& pool,
              ReflectorOptions options, ReflectorEvents<T> events);
    ~Reflector();
    Reflector(const Reflector&) = delete;
    Reflector& operator=(const Reflector&) = delete;

    void start();
    // Stops at once: the connection is closed and no event is delivered afterwards.
    void stop();

    // Each known object's resourceVersion, by key: the reflector's own or the lent ones.
    const ObjectVersions& versions() const;
    bool synced() const;
    const std::string& resourceVersion() const;
    const ReflectorCounters& counters() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

// The resource a reflector of T watches: "/api/v1/services" and so on.
template <typename T>
const char* resourcePath();

// Percent-encodes a query parameter value.
std::string queryEscape(const std::string& value);

}  // namespace kipvs::watch
