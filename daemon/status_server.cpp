// SPDX-License-Identifier: Apache-2.0
#include "daemon/status_server.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "daemon/options.h"

namespace kipvs::daemon {

class StatusServer::Listener {
public:
    Listener(std::string what, const BindAddress& address, const std::function<void(httplib::Server&)>& routes, Logger& log)
        : what_(std::move(what)), log_(log)
    {
        routes(server_);
        host_ = address.host.toString();
        requestedPort_ = address.port;
        if (!bind()) {
            log_.error(what_ + " server: cannot listen on " + endpoint() + " (" + std::strerror(errno) +
                       "); retrying every 5s");
        }
        thread_ = std::thread([this] { run(); });
    }

    ~Listener()
    {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        server_.stop();
        thread_.join();
    }

    uint16_t port() const { return port_.load(); }

private:
    bool bind()
    {
        const int port = requestedPort_ == 0 ? server_.bind_to_any_port(host_) : (server_.bind_to_port(host_, requestedPort_) ? requestedPort_ : -1);
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
    Logger& log_;
    httplib::Server server_;
    std::string host_;
    uint16_t requestedPort_ = 0;
    std::atomic<uint16_t> port_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

namespace {

void sendHealth(httplib::Response& res, const HealthResponse& health)
{
    res.status = health.status;
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(health.body, "application/json");
}

}  // namespace

std::unique_ptr<StatusServer::Listener> StatusServer::makeListener(const std::string& what, const std::string& address,
                                                                   const Routes& routes, Logger& log)
{
    if (address.empty())
        return nullptr;
    auto bind = parseBindAddress(address);
    if (!bind) {  // the command line validated it already
        log.error(what + " server: " + bind.error().detail);
        return nullptr;
    }
    return std::make_unique<StatusServer::Listener>(what, *bind, routes, log);
}

StatusServer::StatusServer(const std::string& healthzAddress, const std::string& metricsAddress, HealthMonitor& health,
                           Metrics& metrics, Logger& log)
{
    healthz_ = makeListener("healthz", healthzAddress, [&health, &metrics](httplib::Server& s) {
        s.Get("/healthz", [&health, &metrics](const httplib::Request&, httplib::Response& res) {
            auto answer = health.healthz();
            metrics.healthzResponse(answer.status);
            sendHealth(res, answer);
        });
        s.Get("/livez", [&health, &metrics](const httplib::Request&, httplib::Response& res) {
            auto answer = health.livez();
            metrics.livezResponse(answer.status);
            sendHealth(res, answer);
        });
    }, log);
    metrics_ = makeListener("metrics", metricsAddress, [&metrics](httplib::Server& s) {
        s.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
            res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
        });
        s.Get("/proxyMode", [](const httplib::Request&, httplib::Response& res) { res.set_content("ipvs", "text/plain; charset=utf-8"); });
        s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain; charset=utf-8"); });
    }, log);
}

StatusServer::~StatusServer() = default;

uint16_t StatusServer::healthzPort() const { return healthz_ ? healthz_->port() : 0; }
uint16_t StatusServer::metricsPort() const { return metrics_ ? metrics_->port() : 0; }

}  // namespace kipvs::daemon
