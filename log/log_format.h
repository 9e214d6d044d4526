// SPDX-License-Identifier: Apache-2.0
// The two log formats (--logging-format), apart from the logger so that configuration code
// names them without the logger's headers.
#pragma once

namespace kipvs::logging {

enum class LogFormat { Text, Json };

}  // namespace kipvs::logging
