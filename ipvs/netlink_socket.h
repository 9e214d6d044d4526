// SPDX-License-Identifier: Apache-2.0
// The one owner of a libnl socket, shared by the IPVS and rtnetlink clients.
#pragma once

#include <memory>

#include "base/result.h"

struct nl_sock;

namespace kipvs::ipvs {

struct NetlinkSocketDeleter {
    void operator()(nl_sock* sock) const;
};
using NetlinkSocket = std::unique_ptr<nl_sock, NetlinkSocketDeleter>;

// A new, unconnected libnl socket; ENOMEM when libnl cannot allocate one.
Result<NetlinkSocket> allocateNetlinkSocket();

}  // namespace kipvs::ipvs
