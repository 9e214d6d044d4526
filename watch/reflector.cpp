// SPDX-License-Identifier: Apache-2.0
// LIST+WATCH with paging, bookmarks, relists and backoff (see reflector.h).
#include "watch/reflector.h"

#include <type_traits>

#include <optional>
#include <random>
#include <set>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "watch/json_stream.h"

namespace kipvs::watch {

using asio::use_awaitable;

namespace {

template <typename T>
Result<WatchEvent<T>> decodeEvent(Decoder& d, std::string& json)
{
    if constexpr (std::is_same_v<T, Service>)
        return d.serviceEvent(json);
    else if constexpr (std::is_same_v<T, EndpointSlice>)
        return d.endpointSliceEvent(json);
    else if constexpr (std::is_same_v<T, Node>)
        return d.nodeEvent(json);
    else
        return d.serviceCidrEvent(json);
}

// How a request or a watch ended, and what to do next.
struct Outcome {
    enum class Next { Watch, WatchAfterBackoff, Relist, RelistAfterBackoff, Stop };
    Next next = Next::Watch;
    std::optional<std::chrono::seconds> retryAfter;
};

bool isExpired(const Status& status)
{
    return status.code == 410 || status.reason == "Expired" || status.reason == "Gone" ||
           status.resourceVersionTooLarge;
}

}  // namespace

template <typename T>
struct Reflector<T>::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::io_context& io_, ClusterAccess access, CredentialSource& credentials_, StringPool& pool,
         ReflectorOptions options_, ReflectorEvents<T> events_)
        : io(io_),
          credentials(credentials_),
          options(std::move(options_)),
          events(std::move(events_)),
          connection(io_, std::move(access), credentials_, options.connection),
          decoder(pool, options.limits),
          timer(io_),
          random(std::random_device{}()),
          versions(options.versions ? *options.versions : ownVersions)
    {}

    asio::io_context& io;
    CredentialSource& credentials;
    ReflectorOptions options;
    ReflectorEvents<T> events;
    ApiConnection connection;
    Decoder decoder;
    asio::steady_timer timer;
    std::mt19937_64 random;

    VersionMap ownVersions;
    ObjectVersions& versions;
    std::string resourceVersion;
    bool isSynced = false;
    bool stopped = false;
    ReflectorCounters counters;
    unsigned failures = 0;  // consecutive, for the backoff
    std::chrono::steady_clock::time_point lastFailure{};

    void report(const Error& error)
    {
        if (events.failed && !stopped)
            events.failed(error);
    }

    std::string selectors() const
    {
        std::string q;
        if (!options.labelSelector.empty())
            q += "&labelSelector=" + queryEscape(options.labelSelector);
        if (!options.fieldSelector.empty())
            q += "&fieldSelector=" + queryEscape(options.fieldSelector);
        return q;
    }

    // The status of an error response, in one Error.
    Error httpError(const char* operation, const HttpResponse& response)
    {
        Status status;
        if (auto decoded = decoder.status(const_cast<std::string&>(response.body)))
            status = *decoded;
        std::string detail = status.message.empty() ? "" : status.message;
        if (response.status == 401)
            detail = "unauthorized: the credential was refused" + (detail.empty() ? "" : " (" + detail + ")");
        if (response.status == 403)
            detail = "forbidden: the RBAC role must allow list and watch" + (detail.empty() ? "" : " (" + detail + ")");
        return Error{Error::Domain::Http, static_cast<int>(response.status), operation, resourcePath<T>(), detail};
    }

    Outcome afterHttpError(const char* operation, const HttpResponse& response, Outcome::Next retry)
    {
        report(httpError(operation, response));
        if (response.status == 401)
            credentials.rejected();
        if (response.status == 410)
            return {Outcome::Next::Relist, std::nullopt};
        return {retry, response.retryAfter};
    }

    // Reported as added, or as updated when its version moved. An object without a version (a
    // server that sets none) is always reported: nothing else tells its versions apart.
    void upsert(const T& object)
    {
        const std::string* known = versions.versionOf(object.key);
        if (known && !object.resourceVersion.empty() && *known == object.resourceVersion)
            return;
        const auto& report = known ? events.updated : events.added;
        versions.reporting(object.key, object.resourceVersion);
        if (report)
            report(object);
    }

    // `key` must not be the record's own: a lent record forgets it in events.deleted.
    void erase(const ObjectKey& key)
    {
        if (!versions.versionOf(key))
            return;
        versions.reportingDeleted(key);
        if (events.deleted)
            events.deleted(key);
    }

    void reject(const Rejection& rejection)
    {
        ++counters.rejected;
        if (events.rejected)
            events.rejected(rejection);
    }

    // The whole collection, page by page, each object reported as its page is decoded (no page
    // is held after it); then objects missing from it are reported deleted (a relist must leave no
    // ghost). Objects are not held back until the last page: each is a version that existed, and
    // syncs are level-triggered, so a relist's objects may reach the daemon as they come.
    asio::awaitable<Outcome> list(bool first)
    {
        std::set<ObjectKey> seen;
        std::set<std::string> rejectedNames;  // invalid now, known from before: keep the last good version
        std::string continueToken;
        std::string listVersion;
        for (;;) {
            // The first LIST may be served from the watch cache (resourceVersion=0, where the server
            // ignores limit); a relist reads the most recent state, paged.
            std::string target = std::string(resourcePath<T>()) + "?limit=" + std::to_string(options.pageSize);
            if (!continueToken.empty())
                target += "&continue=" + queryEscape(continueToken);
            else if (first)
                target += "&resourceVersion=0";
            target += selectors();
            co_await throttle();
            if (stopped)
                co_return Outcome{Outcome::Next::Stop, std::nullopt};
            // Decoded as it arrives, an item at a time: the page's body is never held whole.
            auto stream = decoder.listStream<T>();
            auto response = co_await connection.stream(
                target, [&stream](std::string_view bytes) { return stream.feed(bytes); }, BodyKind::List);
            if (stopped)
                co_return Outcome{Outcome::Next::Stop, std::nullopt};
            if (!response) {
                counters.decodeErrors += response.error().domain == Error::Domain::Decode;
                report(response.error());
                co_return Outcome{Outcome::Next::RelistAfterBackoff, std::nullopt};
            }
            if (response->status == 410 && !continueToken.empty()) {
                // The continue token expired: start over, so the sweep below sees one snapshot.
                continueToken.clear();
                seen.clear();
                rejectedNames.clear();
                first = false;
                continue;
            }
            if (response->status != 200)
                co_return afterHttpError("list", *response, Outcome::Next::RelistAfterBackoff);
            auto page = stream.finish();
            if (!page) {
                ++counters.decodeErrors;
                report(page.error());
                co_return Outcome{Outcome::Next::RelistAfterBackoff, std::nullopt};
            }
            for (auto& rejection : page->rejected) {
                rejectedNames.insert(rejection.object);
                reject(rejection);
            }
            for (const auto& item : page->items) {
                seen.insert(item.key);
                upsert(item);
            }
            listVersion = page->resourceVersion;
            continueToken = page->continueToken;
            if (continueToken.empty())
                break;
        }
        sweep(seen, rejectedNames);
        resourceVersion = listVersion;
        ++counters.lists;
        if (!isSynced) {
            isSynced = true;
            if (events.synced)
                events.synced();
        }
        co_return Outcome{Outcome::Next::Watch, std::nullopt};
    }

    // Reports deleted every object a complete LIST did not hold, except one it held but rejected.
    void sweep(const std::set<ObjectKey>& seen, const std::set<std::string>& rejectedNames)
    {
        std::vector<ObjectKey> gone;
        versions.forEachKey([&](const ObjectKey& key) {
            if (!seen.count(key) && !rejectedNames.count(key.toString()))
                gone.push_back(key);
        });
        for (const auto& key : gone)
            erase(key);
    }

    std::string watchTarget()
    {
        std::uniform_int_distribution<long> timeout(options.minWatchTimeout.count(), options.maxWatchTimeout.count());
        return std::string(resourcePath<T>()) +
               "?watch=1&allowWatchBookmarks=true&resourceVersion=" + queryEscape(resourceVersion) +
               "&timeoutSeconds=" + std::to_string(timeout(random)) + selectors();
    }

    // Applies one watch event; an ERROR event returns how the watch continues.
    std::optional<Outcome> apply(WatchEvent<T>& event)
    {
        using Type = typename WatchEvent<T>::Type;
        std::optional<Outcome> ended;
        switch (event.type) {
        case Type::Added:
        case Type::Modified:
            if (event.object)
                upsert(*event.object);
            else if (event.rejected)
                reject(*event.rejected);
            break;
        case Type::Deleted:
            if (event.object)
                erase(event.object->key);
            else if (event.rejected)
                eraseRejected(*event.rejected);
            break;
        case Type::Bookmark:
            break;
        case Type::Error:
            report(Error{Error::Domain::Http, event.status.code, "watch", resourcePath<T>(),
                         event.status.reason + (event.status.message.empty() ? "" : ": " + event.status.message)});
            ended = isExpired(event.status) ? Outcome{Outcome::Next::Relist, std::nullopt}
                                            : Outcome{Outcome::Next::RelistAfterBackoff, std::nullopt};
            break;
        }
        if (!event.resourceVersion.empty() && event.type != Type::Error)
            resourceVersion = event.resourceVersion;
        return ended;
    }

    // Even an invalid object must not linger once deleted.
    void eraseRejected(const Rejection& rejected)
    {
        reject(rejected);
        std::optional<ObjectKey> gone;
        versions.forEachKey([&](const ObjectKey& key) {
            if (!gone && key.toString() == rejected.object)
                gone = key;
        });
        if (gone)
            erase(*gone);
    }

    asio::awaitable<Outcome> watch()
    {
        const std::string target = watchTarget();
        ++counters.watches;
        JsonStreamSplitter splitter(options.limits.maxObjectBytes);
        std::vector<std::string> documents;
        std::optional<Outcome> ended;
        size_t eventCount = 0;
        const auto started = std::chrono::steady_clock::now();

        auto onBytes = [&](std::string_view bytes) -> Result<void> {
            if (auto split = splitter.feed(bytes, documents); !split) {
                ++counters.decodeErrors;
                return tl::unexpected(split.error());
            }
            for (auto& document : documents) {
                if (stopped || ended)
                    break;
                auto event = decodeEvent<T>(decoder, document);
                if (!event) {
                    // Undecodable: drop the connection and resume from the last good version, so
                    // the event is delivered again rather than lost.
                    ++counters.decodeErrors;
                    documents.clear();
                    return tl::unexpected(event.error());
                }
                ++eventCount;
                ended = apply(*event);
            }
            documents.clear();
            if (ended)  // the server closes after an ERROR event; do not wait for it
                return fail(Error::Domain::Http, 0, "watch", resourcePath<T>(), "ended by an ERROR event");
            return {};
        };

        co_await throttle();
        if (stopped)
            co_return Outcome{Outcome::Next::Stop, std::nullopt};
        auto response = co_await connection.stream(target, onBytes, BodyKind::Watch);
        if (stopped)
            co_return Outcome{Outcome::Next::Stop, std::nullopt};
        if (ended)
            co_return *ended;
        co_return afterWatch(response, eventCount, started);
    }

    Outcome afterWatch(const Result<HttpResponse>& response, size_t eventCount,
                       std::chrono::steady_clock::time_point started)
    {
        if (!response) {
            ++counters.restarts;
            // A watch with no data for the idle period is quietly resumed: bookmarks are not
            // guaranteed, so silence is not an error.
            if (response.error().code == ETIMEDOUT && response.error().operation == "watch")
                return Outcome{Outcome::Next::Watch, std::nullopt};
            report(response.error());
            return Outcome{Outcome::Next::WatchAfterBackoff, std::nullopt};
        }
        if (response->status != 200) {
            ++counters.restarts;
            return afterHttpError("watch", *response, Outcome::Next::WatchAfterBackoff);
        }
        // The server ended the watch (its timeout, or shutting down). A watch that ends at once
        // with nothing in it means something between us and the server is wrong: back off.
        if (eventCount == 0 && std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
            ++counters.restarts;
            return Outcome{Outcome::Next::WatchAfterBackoff, std::nullopt};
        }
        return Outcome{Outcome::Next::Watch, std::nullopt};
    }

    asio::awaitable<void> backoff(std::optional<std::chrono::seconds> retryAfter)
    {
        ++counters.backoffs;
        auto now = std::chrono::steady_clock::now();
        if (now - lastFailure > options.backoffReset)
            failures = 0;
        lastFailure = now;
        std::chrono::milliseconds delay;
        if (retryAfter) {
            delay = clampRetryAfter(*retryAfter, options);
        } else {
            delay = options.backoffInitial * (1u << std::min(failures, 16u));
            delay = std::min(delay, options.backoffMax);
            // Jitter as client-go's (factor 1.0): a random extra of up to the delay itself, so
            // thousands of daemons restarted together do not come back in step.
            std::uniform_real_distribution<double> jitter(0.0, 1.0);
            delay += std::chrono::milliseconds(static_cast<long>(static_cast<double>(delay.count()) * jitter(random)));
        }
        ++failures;
        timer.expires_after(delay);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }

    // Waits for the client-side rate limit (--kube-api-qps, --kube-api-burst).
    asio::awaitable<void> throttle()
    {
        if (!options.rateLimiter)
            co_return;
        const auto wait = options.rateLimiter->reserve(RateLimiter::Clock::now());
        if (wait <= RateLimiter::Clock::duration::zero())
            co_return;
        ++counters.throttled;
        timer.expires_after(wait);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }

    asio::awaitable<void> run()
    {
        bool first = true;
        bool needList = true;
        while (!stopped) {
            Outcome outcome;
            if (needList) {
                outcome = co_await list(first);
                if (outcome.next == Outcome::Next::Watch) {
                    first = false;
                    needList = false;
                    continue;
                }
            } else {
                outcome = co_await watch();
            }
            switch (outcome.next) {
            case Outcome::Next::Stop:
                co_return;
            case Outcome::Next::Watch:
                break;
            case Outcome::Next::WatchAfterBackoff:
                co_await backoff(outcome.retryAfter);
                break;
            case Outcome::Next::Relist:
                ++counters.relists;
                needList = true;
                break;
            case Outcome::Next::RelistAfterBackoff:
                if (!needList)
                    ++counters.relists;
                needList = true;
                co_await backoff(outcome.retryAfter);
                break;
            }
        }
    }
};

template <typename T>
Reflector<T>::Reflector(asio::io_context& io, ClusterAccess access, CredentialSource& credentials, StringPool& pool,
                        ReflectorOptions options, ReflectorEvents<T> events)
    : impl_(std::make_shared<Impl>(io, std::move(access), credentials, pool, std::move(options), std::move(events)))
{}

template <typename T>
Reflector<T>::~Reflector()
{
    stop();
}

template <typename T>
void Reflector<T>::start()
{
    auto impl = impl_;
    asio::co_spawn(
        impl->io, [impl]() { return impl->run(); }, asio::detached);
}

template <typename T>
void Reflector<T>::stop()
{
    impl_->stopped = true;
    impl_->connection.close();
    impl_->timer.cancel();
}

template <typename T>
const ObjectVersions& Reflector<T>::versions() const
{
    return impl_->versions;
}

template <typename T>
bool Reflector<T>::synced() const
{
    return impl_->isSynced;
}

template <typename T>
const std::string& Reflector<T>::resourceVersion() const
{
    return impl_->resourceVersion;
}

template <typename T>
const ReflectorCounters& Reflector<T>::counters() const
{
    return impl_->counters;
}

template class Reflector<Service>;
template class Reflector<EndpointSlice>;
template class Reflector<Node>;
template class Reflector<ServiceCidr>;

}  // namespace kipvs::watch
