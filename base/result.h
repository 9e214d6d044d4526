// SPDX-License-Identifier: Apache-2.0
// Errors as values: the Error type and Result<T> shared by the library modules.
#pragma once

#include <string>

#include <tl/expected.hpp>

namespace kipvs {

// One failure at a kernel or network edge, described well enough for one log line.
struct Error {
    enum class Domain { Kernel, System, Netlink, Decode, Config, Http };

    Domain domain = Domain::System;
    int code = 0;           // the kernel's errno for Kernel/System, an HTTP status for Http
    std::string operation;  // what was being done, in words: "add virtual server"
    std::string object;     // what it was done to: "TCP 10.96.0.10:53"
    std::string detail;     // extra context, may be empty

    // "add virtual server TCP 10.96.0.10:53: File exists (errno 17)".
    std::string message() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Error::Domain domain, int code, std::string operation,
                                  std::string object = {}, std::string detail = {})
{
    return tl::unexpected<Error>(Error{domain, code, std::move(operation), std::move(object),
                                       std::move(detail)});
}

}  // namespace kipvs
