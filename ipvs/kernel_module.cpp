// SPDX-License-Identifier: Apache-2.0
// Loading kernel modules with modprobe (see kernel_module.h).
#include "ipvs/kernel_module.h"

#include <cerrno>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace kipvs::ipvs {

Result<void> loadModule(const std::string& name)
{
    pid_t pid;
    const char* argv[] = {"modprobe", "-q", name.c_str(), nullptr};
    if (const int error = posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char**>(argv), environ);
        error != 0)
        return fail(Error::Domain::System, error, "run modprobe", name);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(Error::Domain::System, ENOENT, "load kernel module", name, "modprobe failed");
    return {};
}

}  // namespace kipvs::ipvs
