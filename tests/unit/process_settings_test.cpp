// SPDX-License-Identifier: Apache-2.0
// The daemon's own process settings that a unit test can see: thread names, and a thread's stack
// pages given back.
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/process_settings.h"

namespace {

// The calling thread's name as `ps -L` reads it.
std::string ownThreadName()
{
    std::ifstream comm("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name;
}

// Kilobytes resident of the mapping that holds `address` (/proc/self/smaps); -1 when none does.
long residentKbAround(const void* address)
{
    const auto at = reinterpret_cast<uintptr_t>(address);
    std::ifstream smaps("/proc/self/smaps");
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        uintptr_t begin = 0, end = 0;
        char dash = 0;
        if (std::istringstream header(line); header >> std::hex >> begin >> dash >> end && dash == '-') {
            inside = begin <= at && at < end;
            continue;
        }
        if (inside && line.rfind("Rss:", 0) == 0)
            return std::stol(line.substr(4));
    }
    return -1;
}

// Touches a megabyte of the stack, one byte a page, as a deep call does.
__attribute__((noinline)) void touchStack()
{
    volatile char deep[1 << 20];
    for (size_t i = 0; i < sizeof deep; i += 4096)
        deep[i] = 1;
}

}  // namespace

TEST_CASE("A thread's stack pages below its frame are given back, and the thread goes on using them", "[unit]")
{
    long touched = 0, returned = 0, again = 0;
    std::thread([&] {
        const int anchor = 0;
        touchStack();
        touched = residentKbAround(&anchor);
        kipvs::daemon::returnUnusedStack();
        returned = residentKbAround(&anchor);
        touchStack();  // the pages come back, zeroed, as the thread needs them
        again = residentKbAround(&anchor);
    }).join();
    CHECK(touched >= 1024);
    CHECK(returned < 128);
    CHECK(again >= 1024);
}

TEST_CASE("A thread named by the daemon shows that name; one too long leaves the name as it was", "[unit]")
{
    std::string named, tooLong;
    std::thread([&] {
        kipvs::daemon::nameThisThread("kipvs-sync");
        named = ownThreadName();
        kipvs::daemon::nameThisThread("a-name-of-sixteen");
        tooLong = ownThreadName();
    }).join();
    CHECK(named == "kipvs-sync");
    CHECK(tooLong == "kipvs-sync");
}
