// SPDX-License-Identifier: Apache-2.0
// The daemon's logging: klog-style lines ("I1127 15:10:48.123456 1 file.cpp:42] msg") or JSON,
// with kube-proxy's --v levels (summaries at 2, per-object detail at 4 and above). Library code
// does not log; the daemon turns its errors into one line each here.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <source_location>
#include <string>
#include <string_view>

#include "log/log_format.h"

namespace spdlog {
class logger;
}

namespace kipvs::logging {

// One log line, formatted: pure, for the sinks and for tests.
std::string formatKlog(char severity, std::chrono::system_clock::time_point when, long thread, std::string_view file,
                       int line, std::string_view message);
std::string formatJson(char severity, std::chrono::system_clock::time_point when, std::string_view file, int line,
                       int verbosity, std::string_view message);

// A user-controlled string quoted for a log line: 'value', with quotes and control characters
// escaped so a hostile name cannot forge a line.
std::string quoted(std::string_view value);

class Logger {
public:
    // Writes to stderr.
    Logger(int verbosity, LogFormat format);
    // Writes to `out` (tests).
    Logger(int verbosity, LogFormat format, std::ostream& out);
    ~Logger();

    bool enabled(int level) const { return level <= verbosity_; }
    // Info at verbosity `level` (0: always).
    void info(int level, std::string_view message, std::source_location where = std::source_location::current());
    void warning(std::string_view message, std::source_location where = std::source_location::current());
    void error(std::string_view message, std::source_location where = std::source_location::current());

private:
    void write(char severity, int level, std::string_view message, const std::source_location& where);

    int verbosity_;
    LogFormat format_;
    std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace kipvs::logging
