// SPDX-License-Identifier: Apache-2.0
// One HTTP listener on its own threads, retrying a busy port (see http_listener.h).
#include "status/http_listener.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <httplib.h>

namespace kipvs::status {

class HttpListener::Impl {
public:
    Impl(std::string what, const config::BindAddress& address, const std::function<void(httplib::Server&)>& routes,
         logging::Logger& log, OnBindFailure onFailure)
        : what_(std::move(what)), log_(log)
    {
        routes(server_);
        host_ = address.host.toString();
        requestedPort_ = address.port;
        if (!bind()) {
            const bool retry = onFailure == OnBindFailure::Retry;
            log_.error(what_ + " server: cannot listen on " + endpoint() + " (" + std::strerror(errno) + ")" +
                       (retry ? "; retrying every 5s" : ""));
            if (!retry)
                return;
        }
        thread_ = std::thread([this] { run(); });
    }

    ~Impl()
    {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        server_.stop();
        if (thread_.joinable())
            thread_.join();
    }

    uint16_t port() const { return port_.load(); }

private:
    bool bind()
    {
        const int port = requestedPort_ == 0 ? server_.bind_to_any_port(host_)
                                             : (server_.bind_to_port(host_, requestedPort_) ? requestedPort_ : -1);
        if (port <= 0)
            return false;
        port_ = static_cast<uint16_t>(port);
        return true;
    }

    void run()
    {
        while (port_ == 0) {
            std::unique_lock lock(mutex_);
            if (wake_.wait_for(lock, std::chrono::seconds(5), [this] { return stopping_; }))
                return;
            lock.unlock();
            if (bind())
                log_.info(0, what_ + " server: listening on " + endpoint() + " after retrying");
        }
        server_.listen_after_bind();
    }

    std::string endpoint() const
    {
        const bool v6 = host_.find(':') != std::string::npos;
        return (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(requestedPort_);
    }

    std::string what_;
    logging::Logger& log_;
    httplib::Server server_;
    std::string host_;
    uint16_t requestedPort_ = 0;
    std::atomic<uint16_t> port_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

HttpListener::HttpListener(std::string what, const config::BindAddress& address, const Routes& routes,
                           logging::Logger& log, OnBindFailure onFailure)
    : impl_(std::make_unique<Impl>(std::move(what), address, routes, log, onFailure))
{}

HttpListener::~HttpListener() = default;

uint16_t HttpListener::port() const
{
    return impl_->port();
}

}  // namespace kipvs::status
