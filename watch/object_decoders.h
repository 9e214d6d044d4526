// SPDX-License-Identifier: Apache-2.0
// One Kubernetes object's JSON into its compact form, or the Rejection saying why it is invalid.
// Internal to watch/: the Decoder is the public entry point.
#pragma once

#include "watch/json_fields.h"

namespace kipvs::watch::fields {

Decoded<Service> decodeService(const Value& object, StringPool& pool);
Decoded<EndpointSlice> decodeEndpointSlice(const Value& object, StringPool& pool);
Decoded<Node> decodeNode(const Value& object, StringPool& pool);
Decoded<ServiceCidr> decodeServiceCidr(const Value& object, StringPool& pool);
// A metav1.Status (an error from the API server, or a watch ERROR event).
Status decodeStatus(const Value& object);

inline Decoded<Service> decodeObject(const Value& v, StringPool& p, Service*)
{
    return decodeService(v, p);
}
inline Decoded<EndpointSlice> decodeObject(const Value& v, StringPool& p, EndpointSlice*)
{
    return decodeEndpointSlice(v, p);
}
inline Decoded<Node> decodeObject(const Value& v, StringPool& p, Node*)
{
    return decodeNode(v, p);
}

inline Decoded<ServiceCidr> decodeObject(const Value& v, StringPool& p, ServiceCidr*)
{
    return decodeServiceCidr(v, p);
}

}  // namespace kipvs::watch::fields
