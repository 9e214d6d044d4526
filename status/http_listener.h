// SPDX-License-Identifier: Apache-2.0
// One HTTP listener on its own thread (cpp-httplib): the status endpoints and the health-check
// node ports are each one. A port that is busy is retried every 5 s until it frees up.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "config/options.h"
#include "log/log.h"

namespace httplib {
class Server;
}

namespace kipvs::status {

// What a listener does when its port cannot be bound at start: retry every 5 s (kube-proxy's
// default), or give up at once so the caller can stop (--bind-address-hard-fail).
enum class OnBindFailure { Retry, GiveUp };

class HttpListener {
public:
    using Routes = std::function<void(httplib::Server&)>;
    // `what` names the listener in log lines; `log` is borrowed.
    HttpListener(std::string what, const config::BindAddress& address, const Routes& routes, logging::Logger& log,
                 OnBindFailure onFailure = OnBindFailure::Retry);
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    // The bound port; 0 until bound (and for good after giving up).
    uint16_t port() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kipvs::status
