// SPDX-License-Identifier: Apache-2.0
// One HTTP/1.1 keep-alive connection to the API server (TLS unless the server URL says http):
// each response's body as a byte stream, a LIST's as a WATCH's. Used from coroutines on one
// io_context.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/asio.h"
#include "base/result.h"
#include "watch/cluster_access.h"
#include "watch/credentials.h"

namespace kipvs::watch {

namespace asio = boost::asio;

struct HttpResponse {
    unsigned status = 0;
    std::string body;  // for a stream: only when the status is not 200
    std::optional<std::chrono::seconds> retryAfter;
};

struct ConnectionOptions {
    std::chrono::seconds connectTimeout{30};
    std::chrono::seconds requestTimeout{60};  // sending a request and reading its response's headers
    std::chrono::seconds progressTimeout{30};  // a response body with no bytes for this long is cut
    std::chrono::seconds idleTimeout{300};  // a watch with no bytes for this long is dropped
    // A response or a LIST page's body (decoded as it arrives, but bounded all the same): half
    // the DaemonSet's 512 MiB memory limit, so a hostile or broken server cannot OOM-kill the proxy. An unpaged list of
    // 50,000 Services. EndpointSlices (about 75 MB) fits.
    size_t maxBodyBytes = size_t{256} << 20;
    std::string userAgent = "kube-ipvsd/" KIPVS_VERSION " (linux)";
};

// A streamed body's kind: a watch may pause for minutes between events (idleTimeout), a LIST's
// body keeps coming (progressTimeout) and is bounded (maxBodyBytes).
enum class BodyKind { Watch, List };

class ApiConnection {
public:
    // `credentials` is borrowed for the connection's lifetime.
    ApiConnection(asio::io_context& io, ClusterAccess access, CredentialSource& credentials, ConnectionOptions options);
    ~ApiConnection();

    // GETs `target` and hands each piece of a 200 response's body to `onBytes` as it arrives.
    // Returns when the body ends, the connection fails or pauses past `kind`'s timeout, or
    // close() is called.
    asio::awaitable<Result<HttpResponse>> stream(std::string target,
                                                 std::function<Result<void>(std::string_view)> onBytes, BodyKind kind);
    // Drops the connection (and ends a pending request with an error). Safe at any time.
    void close();

private:
    struct Transport;
    asio::awaitable<Result<void>> connect();
    asio::awaitable<Result<void>> send(std::string target, const std::string& object);
    asio::awaitable<Result<HttpResponse>>
    readStream(const std::string& object, const std::function<Result<void>(std::string_view)>& onBytes, BodyKind kind);

    asio::io_context& io_;
    ClusterAccess access_;
    CredentialSource& credentials_;
    ConnectionOptions options_;
    std::unique_ptr<Transport> transport_;
};

}  // namespace kipvs::watch
