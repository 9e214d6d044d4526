// SPDX-License-Identifier: Apache-2.0
// The heap thresholds fixed at start: glibc no longer raises them after a large block is freed.
#include <catch2/catch.hpp>

#include <cstdlib>

#include <malloc.h>

#include "daemon/process_settings.h"

// AddressSanitizer replaces malloc: mallopt and mallinfo2 then say nothing of the real heap.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("After the thresholds are fixed, a 1 MiB block is still mapped apart once a larger one was freed", "[unit]")
{
    kipvs::daemon::keepFreedMemoryReturnable();
    // Left to itself, glibc would raise its mapping threshold to 4 MiB here, and serve the next
    // 1 MiB from an arena, whose free pages then stay in the RSS.
    void* large = std::malloc(4 << 20);
    REQUIRE(large);
    std::free(large);
    const size_t mappedBefore = mallinfo2().hblkhd;
    void* block = std::malloc(1 << 20);
    REQUIRE(block);
    const size_t mappedWith = mallinfo2().hblkhd;
    std::free(block);
    CHECK(mappedWith >= mappedBefore + (1 << 20));
}
#endif
