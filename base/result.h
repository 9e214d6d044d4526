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
    int code = 0;  // the kernel's errno for Kernel/System, an HTTP status for Http
    std::string operation;  // what was being done, in words: "add virtual server"
    std::string object;  // what it was done to: "TCP 10.96.0.10:53"
    std::string detail;  // extra context, may be empty

    // "add virtual server TCP 10.96.0.10:53: File exists (errno 17)".
    std::string message() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Error::Domain domain, int code, std::string operation, std::string object = {},
                                  std::string detail = {})
{
    return tl::unexpected<Error>(Error{domain, code, std::move(operation), std::move(object), std::move(detail)});
}

}  // namespace kipvs

// Error propagation at the edges, where every step can fail:
//   KIPVS_TRY(client.flush());                                   // a Result<void> step
//   KIPVS_ASSIGN_OR_RETURN(auto socket, allocateNetlinkSocket());  // a Result<T> step
// On failure the enclosing function returns that Error (its return type is any Result<U>).
#define KIPVS_TRY(expr)                                                                                                \
    do {                                                                                                               \
        if (auto kipvs_try_result_ = (expr); !kipvs_try_result_)                                                       \
            return tl::unexpected(std::move(kipvs_try_result_).error());                                               \
    } while (false)
#define KIPVS_CONCAT_INNER(a, b) a##b
#define KIPVS_CONCAT(a, b) KIPVS_CONCAT_INNER(a, b)
#define KIPVS_ASSIGN_OR_RETURN(lhs, expr) KIPVS_ASSIGN_OR_RETURN_IMPL(KIPVS_CONCAT(kipvs_result_, __LINE__), lhs, expr)
#define KIPVS_ASSIGN_OR_RETURN_IMPL(result, lhs, expr)                                                                 \
    auto result = (expr);                                                                                              \
    if (!result)                                                                                                       \
        return tl::unexpected(std::move(result).error());                                                              \
    lhs = std::move(*result)
