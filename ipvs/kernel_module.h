// SPDX-License-Identifier: Apache-2.0
// Loading kernel modules with modprobe.
#pragma once

#include <string>

#include "base/result.h"

namespace kipvs::ipvs {

// Runs `modprobe -q name`. Fails with the reason; a built-in module loads trivially.
Result<void> loadModule(const std::string& name);

}  // namespace kipvs::ipvs
