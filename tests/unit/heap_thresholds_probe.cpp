// SPDX-License-Identifier: Apache-2.0
// The heap thresholds fixed at start (keepFreedMemoryReturnable): glibc no longer raises them
// once a large block is freed. A program of its own, so that it starts on an empty heap: in a
// heap other tests left free chunks in, a block is served from those whatever the thresholds.
// Exits 0 when a 1 MiB block is still mapped apart after a 4 MiB one was freed, and a thread
// allocates from the one arena there is rather than from an arena of its own.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <malloc.h>

#include "daemon/process_settings.h"

namespace {

// The arenas glibc has (malloc_info writes a <heap nr="..."> element for each).
int arenas()
{
    char* text = nullptr;
    size_t size = 0;
    std::FILE* out = open_memstream(&text, &size);
    if (!out)
        return -1;
    malloc_info(0, out);
    std::fclose(out);
    int n = 0;
    for (const char* at = text; (at = std::strstr(at, "<heap nr=")) != nullptr; ++at)
        ++n;
    std::free(text);
    return n;
}

bool threadUsesTheOneArena()
{
    std::thread([] {
        void* first = std::malloc(1000);  // a thread's first allocation: glibc picks its arena now
        std::free(first);
    }).join();
    if (const int n = arenas(); n != 1) {
        std::fprintf(stderr, "%d arenas after a thread allocated; want 1\n", n);
        return false;
    }
    return true;
}

bool blockStaysMappedApart()
{
    // Left to itself, glibc would raise its mapping threshold to 4 MiB here and grow the arena
    // for the next 1 MiB, whose pages then stay in the RSS once freed.
    void* large = std::malloc(4 << 20);
    if (!large)
        return false;
    std::free(large);
    const size_t mappedBefore = mallinfo2().hblkhd;
    void* block = std::malloc(1 << 20);
    if (!block)
        return false;
    const size_t mappedWith = mallinfo2().hblkhd;
    std::free(block);
    if (mappedWith >= mappedBefore + (1 << 20))
        return true;
    std::fprintf(stderr, "a 1 MiB block came from the arena: %zu bytes mapped apart, %zu before\n", mappedWith,
                 mappedBefore);
    return false;
}

}  // namespace

int main()
{
    kipvs::daemon::keepFreedMemoryReturnable();
    const bool mapped = blockStaysMappedApart();
    const bool shared = threadUsesTheOneArena();
    return mapped && shared ? 0 : 1;
}
