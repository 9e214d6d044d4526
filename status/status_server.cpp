// SPDX-License-Identifier: Apache-2.0
// /healthz, /livez, /metrics and /proxyMode (see status_server.h).
#include "status/status_server.h"

#include <functional>

#include <httplib.h>

#include "config/options.h"
#include "status/http_listener.h"

namespace kipvs::status {

namespace {

void sendHealth(httplib::Response& res, const proxy::HealthResponse& health)
{
    res.status = health.status;
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(health.body, "application/json");
}

}  // namespace

std::unique_ptr<HttpListener> StatusServer::makeListener(const std::string& what, const std::string& address,
                                                         const Routes& routes, logging::Logger& log,
                                                         OnBindFailure onFailure)
{
    if (address.empty())
        return nullptr;
    auto bind = config::parseBindAddress(address);
    if (!bind) {  // the command line validated it already
        log.error(what + " server: " + bind.error().detail);
        return nullptr;
    }
    return std::make_unique<HttpListener>(what, *bind, routes, log, onFailure);
}

StatusServer::StatusServer(const std::string& healthzAddress, const std::string& metricsAddress,
                           proxy::HealthMonitor& health, Metrics& metrics, logging::Logger& log,
                           OnBindFailure onFailure)
{
    healthz_ = makeListener(
        "healthz", healthzAddress,
        [&health, &metrics](httplib::Server& s) {
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
        },
        log, onFailure);
    metrics_ = makeListener(
        "metrics", metricsAddress,
        [&metrics](httplib::Server& s) {
            s.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
                res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
            });
            s.Get("/proxyMode", [](const httplib::Request&, httplib::Response& res) {
                res.set_content("ipvs", "text/plain; charset=utf-8");
            });
            s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
                res.set_content("ok", "text/plain; charset=utf-8");
            });
        },
        log, onFailure);
}

StatusServer::~StatusServer() = default;

uint16_t StatusServer::healthzPort() const
{
    return healthz_ ? healthz_->port() : 0;
}
uint16_t StatusServer::metricsPort() const
{
    return metrics_ ? metrics_->port() : 0;
}

bool StatusServer::allBound() const
{
    return (!healthz_ || healthz_->port() != 0) && (!metrics_ || metrics_->port() != 0);
}

}  // namespace kipvs::status
