// SPDX-License-Identifier: Apache-2.0
// /healthz, /livez, /metrics and /proxyMode (see status_server.h).
#include "status/status_server.h"

#include "config/options.h"

namespace kipvs::status {

namespace {

HttpAnswer healthAnswer(const proxy::HealthResponse& health)
{
    return {.status = static_cast<unsigned>(health.status),
            .contentType = "application/json",
            .body = health.body,
            .headers = {{"X-Content-Type-Options", "nosniff"}}};
}

HttpAnswer text(std::string body, std::string contentType = "text/plain; charset=utf-8")
{
    return {.status = 200, .contentType = std::move(contentType), .body = std::move(body), .headers = {}};
}

}  // namespace

std::unique_ptr<HttpListener> StatusServer::makeListener(HttpLoop& loop, const std::string& what,
                                                         const std::string& address, HttpRoutes routes,
                                                         logging::Logger& log, OnBindFailure onFailure)
{
    if (address.empty())
        return nullptr;
    auto bind = config::parseBindAddress(address);
    if (!bind) {  // the command line validated it already
        log.error(what + " server: " + bind.error().detail);
        return nullptr;
    }
    return std::make_unique<HttpListener>(loop, what, *bind, std::move(routes), log, onFailure);
}

StatusServer::StatusServer(HttpLoop& loop, const std::string& healthzAddress, const std::string& metricsAddress,
                           proxy::HealthMonitor& health, Metrics& metrics, logging::Logger& log,
                           OnBindFailure onFailure)
{
    healthz_ = makeListener(
        loop, "healthz", healthzAddress,
        [&health, &metrics](std::string_view path) -> std::optional<HttpAnswer> {
            if (path == "/healthz") {
                auto answer = health.healthz();
                metrics.healthzResponse(answer.status);
                return healthAnswer(answer);
            }
            if (path == "/livez") {
                auto answer = health.livez();
                metrics.livezResponse(answer.status);
                return healthAnswer(answer);
            }
            return std::nullopt;
        },
        log, onFailure);
    metrics_ = makeListener(
        loop, "metrics", metricsAddress,
        [&metrics](std::string_view path) -> std::optional<HttpAnswer> {
            if (path == "/metrics")
                return text(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
            if (path == "/proxyMode")
                return text("ipvs");
            if (path == "/healthz")
                return text("ok");
            return std::nullopt;
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
