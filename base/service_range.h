// SPDX-License-Identifier: Apache-2.0
// Which service ranges may be routed as local on kube-ipvs0: every address in one becomes the
// node's own, so a range as wide as the node's network would swallow it.
#pragma once

#include <cstdint>

#include "base/inet_address.h"

namespace kipvs {

// kube-apiserver refuses IPv4 service ranges wider than a /8 (--service-cluster-ip-range); an
// IPv6 range wider than a /64 would cover whole subnets, so it is refused here too.
inline constexpr uint8_t kWidestIPv4ServiceRange = 8;
inline constexpr uint8_t kWidestIPv6ServiceRange = 64;

inline bool routableServiceRange(const Cidr& range)
{
    return range.prefixLength >= (range.address.isV4() ? kWidestIPv4ServiceRange : kWidestIPv6ServiceRange);
}

}  // namespace kipvs
