// SPDX-License-Identifier: Apache-2.0
// Formatting of Error for log lines.
#include "base/result.h"

#include <cstring>

namespace kipvs {

std::string Error::message() const
{
    std::string text = operation;
    if (!object.empty())
        text += " " + object;
    text += ": ";
    switch (domain) {
    case Domain::Kernel:
    case Domain::System:
        text += std::strerror(code);
        text += " (errno " + std::to_string(code) + ")";
        break;
    case Domain::Http:
        text += "HTTP status " + std::to_string(code);
        break;
    default:
        break;
    }
    if (!detail.empty())
        text += (text.back() == ' ' ? "" : ": ") + detail;
    return text;
}

}  // namespace kipvs
