// SPDX-License-Identifier: Apache-2.0
// --oom-score-adj and returning free memory (see process_settings.h).
#include "daemon/process_settings.h"

#include <cerrno>
#include <fstream>

#include <malloc.h>
#include <pthread.h>

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
