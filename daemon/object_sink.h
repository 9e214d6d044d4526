// SPDX-License-Identifier: Apache-2.0
// Where the API objects go, whichever source reads them (the API server or manifest files):
// both sources report through this one interface, so the rest of the daemon cannot tell them apart.
#pragma once

#include <string>

#include "base/result.h"
#include "watch/decoder.h"
#include "watch/object_versions.h"
#include "watch/objects.h"

namespace kipvs::daemon {

class ObjectSink {
public:
    virtual ~ObjectSink() = default;

    virtual void upsert(const watch::Service& service) = 0;
    virtual void upsert(const watch::EndpointSlice& slice) = 0;
    virtual void upsert(const watch::Node& node) = 0;
    virtual void upsert(const watch::ServiceCidr& range) = 0;
    // The object of this kind and key is gone.
    virtual void remove(watch::Kind kind, const watch::ObjectKey& key) = 0;
    // Every object of `kind` that existed at start has been delivered.
    virtual void synced(watch::Kind kind) = 0;
    // An object skipped as invalid; the rest keeps working. `resource` labels the metric:
    // "services", "endpointslices", "nodes", "servicecidrs" or "manifests".
    virtual void rejected(const std::string& resource, const watch::Rejection& rejection) = 0;
    // A failure the source recovers from by itself (a dropped watch, an unreadable file).
    virtual void sourceFailed(const Error& error) = 0;
    // The objects of `kind` and their versions, when the sink keeps every one it is given and
    // forgets every one removed: a source's reflector then keeps no record of its own. Null otherwise.
    virtual watch::ObjectVersions* versionsOf(watch::Kind /*kind*/) { return nullptr; }
};

}  // namespace kipvs::daemon
