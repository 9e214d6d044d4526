// SPDX-License-Identifier: Apache-2.0
// RFC 3339 timestamps, as the Kubernetes API and kube-proxy's JSON write them.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace kipvs {

// "2026-11-27T10:00:00Z", with optional fractions (ignored) or an offset, to a time point.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text);

// Go's RFC 3339 with nanoseconds: "2026-11-27T15:10:48.123456789Z".
std::string formatRfc3339(std::chrono::system_clock::time_point when);

}  // namespace kipvs
