// SPDX-License-Identifier: Apache-2.0
// The API server as the object source: three reflectors feeding the ObjectSink (see api_source.h).
#include "daemon/api_source.h"

namespace kipvs::daemon {

namespace {

template <typename T>
watch::ReflectorEvents<T> eventsFor(ObjectSink& sink, watch::Kind kind, const char* resource)
{
    watch::ReflectorEvents<T> e;
    e.added = [&sink](const T& object) { sink.upsert(object); };
    e.updated = [&sink](const T& object) { sink.upsert(object); };
    e.deleted = [&sink, kind](const watch::ObjectKey& key) { sink.remove(kind, key); };
    e.synced = [&sink, kind] { sink.synced(kind); };
    e.rejected = [&sink, resource](const watch::Rejection& r) { sink.rejected(resource, r); };
    e.failed = [&sink](const Error& error) { sink.sourceFailed(error); };
    return e;
}

// A server without the ServiceCIDR API (before Kubernetes 1.33) answers 404; a ClusterRole not
// updated for it, 403. Either way there is no range to route: the daemon binds every service
// address, as before, says so once, and the reflector keeps trying in case the API appears.
watch::ReflectorEvents<watch::ServiceCidr> serviceCidrEvents(ObjectSink& sink)
{
    auto e = eventsFor<watch::ServiceCidr>(sink, watch::Kind::ServiceCidr, "servicecidrs");
    e.failed = [&sink, told = false](const Error& error) mutable {
        const bool unavailable = error.domain == Error::Domain::Http && (error.code == 404 || error.code == 403);
        if (!unavailable) {
            sink.sourceFailed(error);
            return;
        }
        if (told)
            return;
        told = true;
        auto said = error;
        said.detail += std::string(said.detail.empty() ? "" : "; ") +
                       "ServiceCIDR objects cannot be read: binding every ClusterIP on kube-ipvs0 (set "
                       "--service-cluster-ip-range, or allow list and watch on servicecidrs, to route the ranges)";
        sink.sourceFailed(said);
        sink.synced(watch::Kind::ServiceCidr);
    };
    return e;
}

watch::ReflectorOptions selecting(std::string labels, std::string fields,
                                  const std::shared_ptr<watch::RateLimiter>& limiter,
                                  watch::ObjectVersions* versions = nullptr)
{
    watch::ReflectorOptions o;
    o.labelSelector = std::move(labels);
    o.fieldSelector = std::move(fields);
    o.rateLimiter = limiter;
    o.versions = versions;
    return o;
}

}  // namespace

ApiSource::ApiSource(watch::asio::io_context& io, const watch::ClusterAccess& access, const std::string& nodeName,
                     watch::StringPool& pool, ObjectSink& sink, RateLimit limit, ServiceCidrs serviceCidrs)
    : credentials_(access),
      limiter_(std::make_shared<watch::RateLimiter>(limit.qps, limit.burst, watch::RateLimiter::Clock::now())),
      services_(io, access, credentials_, pool,
                selecting(kProxyLabelSelector, "", limiter_, sink.versionsOf(watch::Kind::Service)),
                eventsFor<watch::Service>(sink, watch::Kind::Service, "services")),
      slices_(io, access, credentials_, pool,
              selecting(kProxyLabelSelector, "", limiter_, sink.versionsOf(watch::Kind::EndpointSlice)),
              eventsFor<watch::EndpointSlice>(sink, watch::Kind::EndpointSlice, "endpointslices")),
      node_(io, access, credentials_, pool, selecting("", "metadata.name=" + nodeName, limiter_),
            eventsFor<watch::Node>(sink, watch::Kind::Node, "nodes"))
{
    if (serviceCidrs == ServiceCidrs::Watch)
        ranges_ = std::make_unique<watch::Reflector<watch::ServiceCidr>>(
            io, access, credentials_, pool, selecting("", "", limiter_), serviceCidrEvents(sink));
}

ApiSource::~ApiSource()
{
    stop();
}

void ApiSource::start()
{
    services_.start();
    slices_.start();
    node_.start();
    if (ranges_)
        ranges_->start();
}

void ApiSource::stop()
{
    services_.stop();
    slices_.stop();
    node_.stop();
    if (ranges_)
        ranges_->stop();
}

std::vector<ApiSource::Totals> ApiSource::totals() const
{
    std::vector<Totals> totals{
        {"services", services_.counters()}, {"endpointslices", slices_.counters()}, {"nodes", node_.counters()}};
    if (ranges_)
        totals.push_back({"servicecidrs", ranges_->counters()});
    return totals;
}

}  // namespace kipvs::daemon
