// SPDX-License-Identifier: Apache-2.0
// An address, a transport protocol and a port: a service's or an endpoint's "10.96.0.10 tcp 53".
#pragma once

#include <cstdint>

#include "base/inet_address.h"
#include "base/protocol.h"

namespace kipvs {

struct IpPort {
    InetAddress address;
    Protocol protocol = Protocol::Tcp;
    uint16_t port = 0;
    auto operator<=>(const IpPort&) const = default;
};

}  // namespace kipvs
