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
    e.updated = [&sink](const T&, const T& after) { sink.upsert(after); };
    e.deleted = [&sink](const T& object) { sink.remove(object); };
    e.synced = [&sink, kind] { sink.synced(kind); };
    e.rejected = [&sink, resource](const watch::Rejection& r) { sink.rejected(resource, r); };
    e.failed = [&sink](const Error& error) { sink.sourceFailed(error); };
    return e;
}

watch::ReflectorOptions selecting(std::string labels, std::string fields,
                                  const std::shared_ptr<watch::RateLimiter>& limiter)
{
    watch::ReflectorOptions o;
    o.labelSelector = std::move(labels);
    o.fieldSelector = std::move(fields);
    o.rateLimiter = limiter;
    return o;
}

}  // namespace

ApiSource::ApiSource(watch::asio::io_context& io, const watch::ClusterAccess& access, const std::string& nodeName,
                     watch::StringPool& pool, ObjectSink& sink, RateLimit limit)
    : credentials_(access),
      limiter_(std::make_shared<watch::RateLimiter>(limit.qps, limit.burst, watch::RateLimiter::Clock::now())),
      services_(io, access, credentials_, pool, selecting(kProxyLabelSelector, "", limiter_),
                eventsFor<watch::Service>(sink, watch::Kind::Service, "services")),
      slices_(io, access, credentials_, pool, selecting(kProxyLabelSelector, "", limiter_),
              eventsFor<watch::EndpointSlice>(sink, watch::Kind::EndpointSlice, "endpointslices")),
      node_(io, access, credentials_, pool, selecting("", "metadata.name=" + nodeName, limiter_),
            eventsFor<watch::Node>(sink, watch::Kind::Node, "nodes"))
{}

ApiSource::~ApiSource()
{
    stop();
}

void ApiSource::start()
{
    services_.start();
    slices_.start();
    node_.start();
}

void ApiSource::stop()
{
    services_.stop();
    slices_.stop();
    node_.stop();
}

std::vector<ApiSource::Totals> ApiSource::totals() const
{
    return {{"services", services_.counters()}, {"endpointslices", slices_.counters()}, {"nodes", node_.counters()}};
}

}  // namespace kipvs::daemon
