// SPDX-License-Identifier: Apache-2.0
// Transport protocols a service can use, numbered as the kernel numbers them.
#pragma once

#include <cstdint>

#include <netinet/in.h>

namespace kipvs {

enum class Protocol : uint8_t { Tcp = IPPROTO_TCP, Udp = IPPROTO_UDP, Sctp = IPPROTO_SCTP };

// "TCP", "UDP", "SCTP".
inline const char* protocolName(Protocol protocol)
{
    switch (protocol) {
    case Protocol::Tcp:
        return "TCP";
    case Protocol::Udp:
        return "UDP";
    case Protocol::Sctp:
        return "SCTP";
    }
    return "?";
}

}  // namespace kipvs
