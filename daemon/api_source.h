// SPDX-License-Identifier: Apache-2.0
// The API server as the object source: reflectors for Services and EndpointSlices (without the
// ones another proxy or no proxy handles, as kube-proxy selects them), for this node's Node and,
// unless --service-cluster-ip-range names them, for the ServiceCIDRs.
#pragma once

#include <memory>
#include <string>

#include "daemon/object_sink.h"
#include "watch/credentials.h"
#include "watch/reflector.h"

namespace kipvs::daemon {

// kube-proxy's label selector for Services and EndpointSlices.
inline constexpr const char* kProxyLabelSelector =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

class ApiSource {
public:
    enum class ServiceCidrs { Watch, Ignore };
    // Requests of all the reflectors share one rate limit: `qps` per second after `burst`
    // (qps <= 0: none). `pool` and `sink` are borrowed.
    struct RateLimit {
        double qps = 5;
        int burst = 10;
    };
    ApiSource(watch::asio::io_context& io, const watch::ClusterAccess& access, const std::string& nodeName,
              watch::StringPool& pool, ObjectSink& sink, RateLimit limit, ServiceCidrs serviceCidrs);
    ~ApiSource();

    void start();
    void stop();

    // The reflectors' running totals, for the metrics: by resource name.
    struct Totals {
        std::string resource;
        watch::ReflectorCounters counters;
    };
    std::vector<Totals> totals() const;

private:
    watch::CredentialSource credentials_;
    std::shared_ptr<watch::RateLimiter> limiter_;
    watch::Reflector<watch::Service> services_;
    watch::Reflector<watch::EndpointSlice> slices_;
    watch::Reflector<watch::Node> node_;
    std::unique_ptr<watch::Reflector<watch::ServiceCidr>> ranges_;  // null: not watched
};

}  // namespace kipvs::daemon
