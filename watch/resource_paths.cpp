// SPDX-License-Identifier: Apache-2.0
// Where each resource lives on the API server, and escaping for query values (see reflector.h).
#include <cctype>

#include "watch/reflector.h"

namespace kipvs::watch {

template <>
const char* resourcePath<Service>()
{
    return "/api/v1/services";
}
template <>
const char* resourcePath<EndpointSlice>()
{
    return "/apis/discovery.k8s.io/v1/endpointslices";
}
template <>
const char* resourcePath<Node>()
{
    return "/api/v1/nodes";
}

template <>
const char* resourcePath<ServiceCidr>()
{
    return "/apis/networking.k8s.io/v1/servicecidrs";
}

std::string queryEscape(const std::string& value)
{
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace kipvs::watch
