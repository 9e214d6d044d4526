// SPDX-License-Identifier: Apache-2.0
// /proc/sys access (see sysctl.h).
#include "ipvs/host/sysctl.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace kipvs::ipvs {

namespace {

struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

}  // namespace

Result<std::string> Sysctls::read(const std::string& name) const
{
    const std::string path = root_ + "/" + name;
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.fd < 0)
        return fail(Error::Domain::System, errno, "read sysctl", name);
    std::string value;
    char buffer[256];
    for (;;) {
        ssize_t n = ::read(file.fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(Error::Domain::System, errno, "read sysctl", name);
        if (n == 0)
            break;
        value.append(buffer, static_cast<size_t>(n));
    }
    while (!value.empty() && (value.back() == '\n' || value.back() == ' '))
        value.pop_back();
    return value;
}

Result<bool> Sysctls::ensure(const std::string& name, const std::string& value) const
{
    KIPVS_ASSIGN_OR_RETURN(auto current, read(name));
    if (current == value)
        return false;
    const std::string path = root_ + "/" + name;
    Fd file(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC));
    if (file.fd < 0)
        return fail(Error::Domain::System, errno, "write sysctl", name, "to '" + value + "'");
    const std::string line = value + "\n";
    ssize_t n;
    do {
        n = ::write(file.fd, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return fail(Error::Domain::System, errno, "write sysctl", name, "to '" + value + "'");
    return true;
}

std::vector<Error> applySysctls(const Sysctls& sysctls, const std::vector<SysctlSetting>& settings)
{
    std::vector<Error> failures;
    for (const auto& s : settings)
        if (auto written = sysctls.ensure(s.name, s.value); !written)
            failures.push_back(written.error());
    return failures;
}

}  // namespace kipvs::ipvs
