// SPDX-License-Identifier: Apache-2.0
// The heap thresholds fixed at start (keepFreedMemoryReturnable): glibc no longer raises them
// once a large block is freed. A program of its own, so that it starts on an empty heap: in a
// heap other tests left free chunks in, a block is served from those whatever the thresholds.
// Exits 0 when a 1 MiB block is still mapped apart after a 4 MiB one was freed.
#include <cstdio>
#include <cstdlib>

#include <malloc.h>

#include "daemon/process_settings.h"

int main()
{
    kipvs::daemon::keepFreedMemoryReturnable();
    // Left to itself, glibc would raise its mapping threshold to 4 MiB here and grow the arena
    // for the next 1 MiB, whose pages then stay in the RSS once freed.
    void* large = std::malloc(4 << 20);
    if (!large)
        return 1;
    std::free(large);
    const size_t mappedBefore = mallinfo2().hblkhd;
    void* block = std::malloc(1 << 20);
    if (!block)
        return 1;
    const size_t mappedWith = mallinfo2().hblkhd;
    std::free(block);
    if (mappedWith >= mappedBefore + (1 << 20))
        return 0;
    std::fprintf(stderr, "a 1 MiB block came from the arena: %zu bytes mapped apart, %zu before\n", mappedWith,
                 mappedBefore);
    return 1;
}
