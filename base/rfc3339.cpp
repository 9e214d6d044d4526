// SPDX-License-Identifier: Apache-2.0
// RFC 3339 timestamps as the API server writes them (see rfc3339.h).
#include "base/rfc3339.h"

#include <cstdio>
#include <ctime>

namespace kipvs {

std::optional<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text)
{
    std::tm tm{};
    const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return std::nullopt;
    if (*rest == '.')
        while (*++rest >= '0' && *rest <= '9') {}
    long offset = 0;
    if (*rest == '+' || *rest == '-') {
        int hours = 0, minutes = 0;
        if (std::sscanf(rest + 1, "%2d:%2d", &hours, &minutes) != 2)
            return std::nullopt;
        offset = (*rest == '+' ? 1 : -1) * (hours * 3600L + minutes * 60L);
    } else if (*rest != 'Z') {
        return std::nullopt;
    }
    // system_clock counts nanoseconds in 64 bits: anything past 2262 is "never" rather than an
    // overflow into the past.
    const auto seconds = static_cast<long long>(timegm(&tm)) - offset;
    const auto limit =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max()).count();
    if (seconds >= limit)
        return std::chrono::system_clock::time_point::max();
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

std::string formatRfc3339(std::chrono::system_clock::time_point when)
{
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(nanos / 1000000000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[48];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(nanos % 1000000000));
    return text;
}

}  // namespace kipvs
