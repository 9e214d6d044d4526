// SPDX-License-Identifier: Apache-2.0
// The libnl socket's owner (see netlink_socket.h).
#include "ipvs/netlink_socket.h"

#include <cerrno>

#include <netlink/socket.h>

namespace kipvs::ipvs {

void NetlinkSocketDeleter::operator()(nl_sock* sock) const
{
    nl_socket_free(sock);
}

Result<NetlinkSocket> allocateNetlinkSocket()
{
    NetlinkSocket socket(nl_socket_alloc());
    if (!socket)
        return fail(Error::Domain::System, ENOMEM, "allocate netlink socket");
    return socket;
}

}  // namespace kipvs::ipvs
