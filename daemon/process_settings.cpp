// SPDX-License-Identifier: Apache-2.0
// --oom-score-adj and returning free memory (see process_settings.h).
#include "daemon/process_settings.h"

#include <cerrno>
#include <cstdint>
#include <fstream>

#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

namespace kipvs::daemon {

Result<void> applyOomScoreAdj(int value)
{
    std::ofstream file("/proc/self/oom_score_adj");
    file << value << "\n";
    file.close();
    if (!file)
        return fail(Error::Domain::Kernel, errno ? errno : EACCES, "write", "/proc/self/oom_score_adj",
                    std::to_string(value));
    return {};
}

void returnFreeMemory()
{
    malloc_trim(0);
}

void returnUnusedStack()
{
    pthread_attr_t attributes;
    if (pthread_getattr_np(pthread_self(), &attributes) != 0)
        return;
    void* lowest = nullptr;
    size_t size = 0;
    const int read = pthread_attr_getstack(&attributes, &lowest, &size);
    pthread_attr_destroy(&attributes);
    if (read != 0)
        return;
    // The stack grows down: what lies below this frame (and a margin for the calls below) is free.
    constexpr uintptr_t kMargin = uintptr_t{16} * 1024;
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    const uintptr_t from = (reinterpret_cast<uintptr_t>(lowest) + page - 1) & ~(page - 1);
    const uintptr_t to = here > kMargin ? (here - kMargin) & ~(page - 1) : 0;
    if (to > from)
        madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);  // NOLINT(performance-no-int-to-ptr)
}

void keepFreedMemoryReturnable()
{
    // glibc's own starting values, kept: blocks from 128 KiB are mapped apart and unmapped when
    // freed, and an arena gives back free space at its top beyond 128 KiB.
    constexpr int kThreshold = 128 * 1024;
    mallopt(M_MMAP_THRESHOLD, kThreshold);
    mallopt(M_TRIM_THRESHOLD, kThreshold);
    mallopt(M_ARENA_MAX, 1);
}

void nameThisThread(const char* name)
{
    pthread_setname_np(pthread_self(), name);  // only ERANGE, for a name too long: left unnamed
}

}  // namespace kipvs::daemon
