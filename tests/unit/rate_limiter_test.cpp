// SPDX-License-Identifier: Apache-2.0
// The client-side rate limit: a burst at once, then qps per second; none below qps 0.
#include <catch2/catch.hpp>

#include "watch/rate_limiter.h"

using kipvs::watch::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("The token bucket lets a burst through, then spaces requests by 1/qps", "[unit]")
{
    const auto t0 = RateLimiter::Clock::time_point{} + 100s;
    RateLimiter limiter(20, 40, t0);  // --kube-api-qps=20 --kube-api-burst=40
    for (int i = 0; i < 40; ++i)
        CHECK(limiter.reserve(t0) == 0s);
    CHECK(limiter.reserve(t0) == 50ms);  // the 41st waits for one token
    CHECK(limiter.reserve(t0) == 100ms);  // and the next behind it
    // A second later 20 tokens came back, two of them already promised.
    for (int i = 0; i < 18; ++i)
        CHECK(limiter.reserve(t0 + 1s) == 0s);
    CHECK(limiter.reserve(t0 + 1s) == 50ms);
    // Idle for a long time: back to a full burst, never more.
    for (int i = 0; i < 40; ++i)
        CHECK(limiter.reserve(t0 + 1h) == 0s);
    CHECK(limiter.reserve(t0 + 1h) > 0s);
}

TEST_CASE("qps of 0 or below limits nothing; a burst of 0 is 1", "[unit]")
{
    const auto t0 = RateLimiter::Clock::time_point{} + 100s;
    RateLimiter none(-1, 10, t0);
    for (int i = 0; i < 1000; ++i)
        REQUIRE(none.reserve(t0) == 0s);
    RateLimiter single(5, 0, t0);
    CHECK(single.reserve(t0) == 0s);
    CHECK(single.reserve(t0) == 200ms);
}
