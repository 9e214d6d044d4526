// SPDX-License-Identifier: Apache-2.0
// The API server as the object source: reflectors for Services and EndpointSlices (without the
// ones another proxy or no proxy handles, as kube-proxy selects them) and for this node's Node.
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
    // `pool` and `sink` are borrowed.
    ApiSource(watch::asio::io_context& io, const watch::ClusterAccess& access, const std::string& nodeName,
              watch::StringPool& pool, ObjectSink& sink);
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
    watch::Reflector<watch::Service> services_;
    watch::Reflector<watch::EndpointSlice> slices_;
    watch::Reflector<watch::Node> node_;
};

}  // namespace kipvs::daemon
