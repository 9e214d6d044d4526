// SPDX-License-Identifier: Apache-2.0
// Health-check node port servers with kube-proxy's answers (see health_check_servers.h).
#include "status/health_check_servers.h"

#include <nlohmann/json.hpp>

namespace kipvs::status {

std::string healthCheckBody(const HealthCheckService& service, bool proxyHealthy)
{
    nlohmann::ordered_json body;
    body["service"] = {{"namespace", service.namespaceName}, {"name", service.name}};
    body["localEndpoints"] = service.localEndpoints;
    body["serviceProxyHealthy"] = proxyHealthy;
    return body.dump(1, '\t');
}

HealthCheckServers::HealthCheckServers(HttpLoop& loop, proxy::HealthMonitor& health, logging::Logger& log)
    : loop_(loop), health_(health), log_(log)
{}

HealthCheckServers::~HealthCheckServers() = default;

void HealthCheckServers::update(const std::map<uint16_t, HealthCheckService>& wanted,
                                const std::vector<InetAddress>& hosts)
{
    {
        std::lock_guard lock(answers_->mutex);
        answers_->services = wanted;
    }
    if (hosts != hosts_) {
        listeners_.clear();
        hosts_ = hosts;
    }
    for (auto it = listeners_.begin(); it != listeners_.end();) {
        if (wanted.count(it->first)) {
            ++it;
            continue;
        }
        log_.info(2, "health-check node port " + std::to_string(it->first) + " closed");
        it = listeners_.erase(it);
    }
    for (const auto& [port, service] : wanted)
        if (!listeners_.count(port))
            open(port, service);
}

void HealthCheckServers::open(uint16_t port, const HealthCheckService& service)
{
    auto routes = [answers = answers_, &health = health_, port](std::string_view) -> std::optional<HttpAnswer> {
        HealthCheckService answer;
        {
            std::lock_guard lock(answers->mutex);
            auto found = answers->services.find(port);
            if (found != answers->services.end())
                answer = found->second;
        }
        const bool healthy = health.livez().status == 200;
        return HttpAnswer{.status = answer.localEndpoints > 0 && healthy ? 200u : 503u,
                          .contentType = "application/json",
                          .body = healthCheckBody(answer, healthy),
                          .headers = {{"X-Content-Type-Options", "nosniff"},
                                      {"X-Load-Balancing-Endpoint-Weight", std::to_string(answer.localEndpoints)}}};
    };
    auto& listeners = listeners_[port];
    for (const auto& host : hosts_)
        listeners.push_back(std::make_unique<HttpListener>(loop_, "health-check node port " + std::to_string(port),
                                                           config::BindAddress{host, port}, routes, log_));
    log_.info(2, "health-check node port " + std::to_string(port) + " serving " +
                     logging::quoted(service.namespaceName + "/" + service.name) + " on " +
                     std::to_string(hosts_.size()) + " addresses");
}

uint16_t HealthCheckServers::boundPort(uint16_t port) const
{
    auto found = listeners_.find(port);
    return found == listeners_.end() || found->second.empty() ? 0 : found->second.front()->port();
}

}  // namespace kipvs::status
