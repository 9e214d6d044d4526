// SPDX-License-Identifier: Apache-2.0
// The daemon's own process settings that a unit test can see: thread names.
#include <catch2/catch.hpp>

#include <fstream>
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

}  // namespace

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
