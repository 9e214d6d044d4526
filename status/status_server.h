// SPDX-License-Identifier: Apache-2.0
// The HTTP status endpoints, as kube-proxy serves them: /healthz and /livez on the healthz
// address; /metrics, /proxyMode and a plain /healthz on the metrics address.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "log/log.h"
#include "proxy/health.h"
#include "status/http_listener.h"
#include "status/metrics.h"

namespace kipvs::status {

class StatusServer {
public:
    // An empty address disables that listener. A listener that cannot bind (the port is taken)
    // logs why and, by default, retries every 5 s on its own thread, as kube-proxy's does; with
    // OnBindFailure::GiveUp it stays unbound (see allBound). `health`, `metrics` and `log` are
    // borrowed; `loop` serves the listeners and must outlive the server.
    StatusServer(HttpLoop& loop, const std::string& healthzAddress, const std::string& metricsAddress,
                 proxy::HealthMonitor& health, Metrics& metrics, logging::Logger& log,
                 OnBindFailure onFailure = OnBindFailure::Retry);
    ~StatusServer();
    StatusServer(const StatusServer&) = delete;
    StatusServer& operator=(const StatusServer&) = delete;

    // The bound ports (0 when disabled or not bound yet): an address with port 0 takes any free one.
    uint16_t healthzPort() const;
    uint16_t metricsPort() const;
    // Whether every enabled listener is bound.
    bool allBound() const;

private:
    static std::unique_ptr<HttpListener> makeListener(HttpLoop& loop, const std::string& what,
                                                      const std::string& address, HttpRoutes routes,
                                                      logging::Logger& log, OnBindFailure onFailure);

    std::unique_ptr<HttpListener> healthz_;
    std::unique_ptr<HttpListener> metrics_;
};

}  // namespace kipvs::status
