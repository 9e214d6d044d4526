// SPDX-License-Identifier: Apache-2.0
// klog-style and JSON log lines over spdlog (see log.h).
#include "log/log.h"

#include <cstdio>
#include <ctime>
#include <sys/syscall.h>
#include <unistd.h>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace kipvs::logging {

namespace {

void appendHex(std::string& out, char c)
{
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
    out += hex;
}

bool isControl(char c)
{
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

std::string escape(std::string_view value, char quote)
{
    std::string out;
    for (char c : value) {
        if (c == quote || c == '\\') {
            out += '\\';
            out += c;
        } else if (isControl(c)) {
            appendHex(out, c);
        } else {
            out += c;
        }
    }
    return out;
}

// Control characters as \xNN: whatever a message carries (an annotation with a newline), one
// entry stays one line.
std::string withoutControlCharacters(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (isControl(c))
            appendHex(out, c);
        else
            out += c;
    }
    return out;
}

std::string_view baseName(std::string_view path)
{
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string formatKlog(char severity, std::chrono::system_clock::time_point when, long thread, std::string_view file,
                       int line, std::string_view message)
{
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
    std::tm tm{};
    localtime_r(&seconds, &tm);
    char head[64];
    std::snprintf(head, sizeof head, "%c%02d%02d %02d:%02d:%02d.%06lld %ld ", severity, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros % 1000000), thread);
    return std::string(head) + std::string(baseName(file)) + ":" + std::to_string(line) + "] " +
           withoutControlCharacters(message);
}

std::string formatJson(char severity, std::chrono::system_clock::time_point when, std::string_view file, int line,
                       int verbosity, std::string_view message)
{
    const double ts = std::chrono::duration<double>(when.time_since_epoch()).count();
    char tsText[32];
    std::snprintf(tsText, sizeof tsText, "%.6f", ts);
    std::string out = "{\"ts\":" + std::string(tsText) + ",\"caller\":\"" + escape(baseName(file), '"') + ":" +
                      std::to_string(line) + "\",\"msg\":\"" + escape(message, '"') + "\"";
    if (severity == 'E')
        out += ",\"err\":true";
    else
        out += ",\"v\":" + std::to_string(verbosity);
    return out + "}";
}

std::string quoted(std::string_view value)
{
    return "'" + escape(value, '\'') + "'";
}

Logger::Logger(int verbosity, LogFormat format)
    : verbosity_(verbosity),
      format_(format),
      logger_(std::make_shared<spdlog::logger>("kube-ipvsd", std::make_shared<spdlog::sinks::stderr_sink_mt>()))
{
    logger_->set_pattern("%v");
    logger_->flush_on(spdlog::level::info);
}

Logger::Logger(int verbosity, LogFormat format, std::ostream& out)
    : verbosity_(verbosity),
      format_(format),
      logger_(
          std::make_shared<spdlog::logger>("kube-ipvsd", std::make_shared<spdlog::sinks::ostream_sink_mt>(out, true)))
{
    logger_->set_pattern("%v");
}

Logger::~Logger() = default;

void Logger::write(char severity, int level, std::string_view message, const std::source_location& where)
{
    const auto now = std::chrono::system_clock::now();
    const std::string line =
        format_ == LogFormat::Json
            ? formatJson(severity, now, where.file_name(), static_cast<int>(where.line()), level, message)
            : formatKlog(severity, now, static_cast<long>(syscall(SYS_gettid)), where.file_name(),
                         static_cast<int>(where.line()), message);
    logger_->info(line);
}

void Logger::info(int level, std::string_view message, std::source_location where)
{
    if (enabled(level))
        write('I', level, message, where);
}

void Logger::warning(std::string_view message, std::source_location where)
{
    write('W', 0, message, where);
}

void Logger::error(std::string_view message, std::source_location where)
{
    write('E', 0, message, where);
}

}  // namespace kipvs::logging
