// SPDX-License-Identifier: Apache-2.0
// Client-side rate limiting of API requests, as client-go's token bucket (--kube-api-qps,
// --kube-api-burst): up to `burst` requests at once, then `qps` per second. One limiter is shared
// by every reflector of a client. Pure: the caller waits the returned delay.
#pragma once

#include <chrono>

namespace kipvs::watch {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    // qps <= 0: no limit. A burst below 1 is 1.
    RateLimiter(double qps, int burst, Clock::time_point now);

    // Takes one token for a request starting now; returns how long the request must wait for
    // it (zero when a token is there). Tokens taken ahead make later requests wait longer.
    Clock::duration reserve(Clock::time_point now);

private:
    double qps_;
    double burst_;
    double tokens_;  // may go negative: requests already waiting
    Clock::time_point last_;
};

}  // namespace kipvs::watch
