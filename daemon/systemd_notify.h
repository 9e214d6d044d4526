// SPDX-License-Identifier: Apache-2.0
// systemd's readiness protocol (sd_notify) without libsystemd: one datagram to $NOTIFY_SOCKET.
// Outside systemd (no NOTIFY_SOCKET) it does nothing.
#pragma once

#include <string_view>

namespace kipvs::daemon {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=..."); returns whether it was delivered.
bool notifySystemd(std::string_view state);

}  // namespace kipvs::daemon
