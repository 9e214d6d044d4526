// SPDX-License-Identifier: Apache-2.0
// Bounded HTTP listeners for the status endpoints and the health-check node ports, all served by
// one HttpLoop thread (Boost.Beast): anyone on the network can reach them, so every request is
// bounded in size and time, each listener in connections, and closing one never waits for its
// clients. A port that is busy at start is retried every 5 s until it frees up.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/asio.h"
#include "config/options.h"
#include "log/log.h"

namespace kipvs::status {

// The one thread and event loop that serves every listener; stopping it (the destructor) drops
// whatever connections are left. Handlers run on its thread.
class HttpLoop {
public:
    HttpLoop();
    ~HttpLoop();
    HttpLoop(const HttpLoop&) = delete;
    HttpLoop& operator=(const HttpLoop&) = delete;

    boost::asio::io_context& context() { return io_; }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::thread thread_;
};

struct HttpAnswer {
    unsigned status = 200;
    std::string contentType;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// Answers a GET or HEAD of `path` (the request target without its query); nullopt means 404.
// Runs on the HttpLoop's thread.
using HttpRoutes = std::function<std::optional<HttpAnswer>(std::string_view path)>;

struct HttpLimits {
    // The request line and headers together: more is answered 431 and the connection closed.
    size_t headerBytes = 8 * 1024;
    // From the connection's start (or its previous answer) to a complete request's headers: a
    // client that trickles bytes is cut here, however steadily it sends.
    std::chrono::milliseconds requestTimeout{10'000};
    std::chrono::milliseconds writeTimeout{10'000};
    // Open connections per listener; a new one beyond it closes the oldest still waiting for its
    // request, so slow clients cannot lock out a probe that asks at once.
    size_t maxConnections = 128;
};

// What a listener does when its port cannot be bound at start: retry every 5 s (kube-proxy's
// default), or give up at once so the caller can stop (--bind-address-hard-fail).
enum class OnBindFailure { Retry, GiveUp };

class HttpListener {
public:
    // Binds at once (see port()) and serves on `loop`. `what` names the listener in log lines;
    // `loop` and `log` are borrowed for the listener's lifetime and must outlive its handlers:
    // `routes` may still run on the loop until the destructor returns, never after.
    HttpListener(HttpLoop& loop, std::string what, const config::BindAddress& address, HttpRoutes routes,
                 logging::Logger& log, OnBindFailure onFailure = OnBindFailure::Retry, HttpLimits limits = {});
    // Closes the port and its connections; waits only for the loop to run that close, never for
    // a client.
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    // The bound port; 0 until bound (and for good after giving up).
    uint16_t port() const;
    // Connections open now: for tests.
    size_t connections() const;

    class State;

private:
    HttpLoop& loop_;
    std::shared_ptr<State> state_;
};

}  // namespace kipvs::status
