// SPDX-License-Identifier: Apache-2.0
// Reading and writing sysctls through /proc/sys, writing only when the value differs.
#pragma once

#include <string>
#include <vector>

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

struct SysctlSetting {
    std::string name;  // below /proc/sys: "net/ipv4/vs/conntrack"
    std::string value;
    bool operator==(const SysctlSetting&) const = default;
};

// Writes each setting that differs. Returns the failures (each with the sysctl's name); the
// caller decides whether they are fatal.
std::vector<Error> applySysctls(const Sysctls& sysctls, const std::vector<SysctlSetting>& settings);

}  // namespace kipvs::ipvs
