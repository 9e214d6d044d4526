// SPDX-License-Identifier: Apache-2.0
// The token bucket (see rate_limiter.h).
#include "watch/rate_limiter.h"

#include <algorithm>

namespace kipvs::watch {

RateLimiter::RateLimiter(double qps, int burst, Clock::time_point now)
    : qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), last_(now)
{}

RateLimiter::Clock::duration RateLimiter::reserve(Clock::time_point now)
{
    if (qps_ <= 0)
        return Clock::duration::zero();
    if (now > last_) {
        const double elapsed = std::chrono::duration<double>(now - last_).count();
        tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
        last_ = now;
    }
    tokens_ -= 1;
    if (tokens_ >= 0)
        return Clock::duration::zero();
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

}  // namespace kipvs::watch
