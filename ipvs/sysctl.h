// SPDX-License-Identifier: Apache-2.0
// Reading and writing sysctls through /proc/sys, writing only when the value differs.
#pragma once

#include <string>

#include "base/result.h"

namespace kipvs::ipvs {

class Sysctls {
public:
    // `root` is /proc/sys on a real node; tests point it at a folder of their own.
    explicit Sysctls(std::string root = "/proc/sys") : root_(std::move(root)) {}

    // `name` is the path below the root, "net/ipv4/vs/conntrack". The value comes back
    // without its trailing newline.
    Result<std::string> read(const std::string& name) const;
    // Writes `value` unless the sysctl already holds it. Returns whether it wrote.
    Result<bool> ensure(const std::string& name, const std::string& value) const;

private:
    std::string root_;
};

}  // namespace kipvs::ipvs
