// SPDX-License-Identifier: Apache-2.0
// The health-check node ports of LoadBalancer Services with externalTrafficPolicy Local: cloud
// load balancers probe them to send traffic only to nodes with a ready local endpoint. One
// listener per port and address, all on the one HttpLoop thread; kube-proxy's answer on any path: 200 when the Service
// has local endpoints and the proxy is healthy, else 503, with X-Load-Balancing-Endpoint-Weight and a JSON body.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "log/log.h"
#include "proxy/health.h"
#include "status/http_listener.h"

namespace kipvs::status {

struct HealthCheckService {
    std::string namespaceName;
    std::string name;
    size_t localEndpoints = 0;
    bool operator==(const HealthCheckService&) const = default;
};

// kube-proxy's response body: tab-indented {"service":{"namespace","name"},"localEndpoints","serviceProxyHealthy"}.
std::string healthCheckBody(const HealthCheckService& service, bool proxyHealthy);

class HealthCheckServers {
public:
    // `loop`, `health` and `log` are borrowed and must outlive the servers.
    HealthCheckServers(HttpLoop& loop, proxy::HealthMonitor& health, logging::Logger& log);
    ~HealthCheckServers();

    // Starts listeners for new ports, stops those no longer wanted (without waiting for their
    // clients), updates the counts. Each port listens on every one of `hosts` ("::" for all
    // addresses); a change of hosts reopens them all.
    void update(const std::map<uint16_t, HealthCheckService>& wanted, const std::vector<InetAddress>& hosts);
    // The bound port of `port`'s first listener (0 until bound): for tests.
    uint16_t boundPort(uint16_t port) const;

private:
    void open(uint16_t port, const HealthCheckService& service);

    // What the listeners answer from, on the loop's thread; shared so that it outlives them.
    struct Answers {
        std::mutex mutex;
        std::map<uint16_t, HealthCheckService> services;
    };

    HttpLoop& loop_;
    proxy::HealthMonitor& health_;
    logging::Logger& log_;
    std::vector<InetAddress> hosts_;
    std::shared_ptr<Answers> answers_ = std::make_shared<Answers>();
    std::map<uint16_t, std::vector<std::unique_ptr<HttpListener>>> listeners_;
};

}  // namespace kipvs::status
