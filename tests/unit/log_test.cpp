// SPDX-License-Identifier: Apache-2.0
// Log lines: klog's text header, JSON, --v levels, and quoting of user-controlled strings.
#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include "log/log.h"

using namespace kipvs::logging;

TEST_CASE("A klog line has kube-proxy's header: severity, date, time, thread, file:line", "[unit]")
{
    std::tm tm{};
    tm.tm_year = 126;
    tm.tm_mon = 10;
    tm.tm_mday = 27;
    tm.tm_hour = 15;
    tm.tm_min = 10;
    tm.tm_sec = 48;
    tm.tm_isdst = -1;
    auto when = std::chrono::system_clock::from_time_t(std::mktime(&tm)) + std::chrono::microseconds(123456);
    CHECK(formatKlog('I', when, 1, "/src/daemon/sync.cpp", 42, "Synced 3 services") ==
          "I1127 15:10:48.123456 1 sync.cpp:42] Synced 3 services");
}

TEST_CASE("JSON lines escape the message and carry the verbosity", "[unit]")
{
    auto line = formatJson('I', std::chrono::system_clock::time_point(std::chrono::seconds(1)), "a/b.cpp", 7, 2,
                           "say \"hi\"\n");
    CHECK(line == R"({"ts":1.000000,"caller":"b.cpp:7","msg":"say \"hi\"\x0a","v":2})");
    CHECK(formatJson('E', {}, "x.cpp", 1, 0, "bad").find("\"err\":true") != std::string::npos);
}

TEST_CASE("User-controlled strings are quoted so they cannot forge a line", "[unit]")
{
    CHECK(quoted("shop/web") == "'shop/web'");
    CHECK(quoted("it's\nI1127 fake] line") == "'it\\'s\\x0aI1127 fake] line'");
    // Every line escapes control characters, quoted or not: a forged entry cannot start a line.
    CHECK(formatKlog('W', {}, 1, "x.cpp", 1, "scheduler 'rr\nI1127 12:00:00.000000 1 fake.cpp:1] forged'").find('\n') ==
          std::string::npos);
    CHECK(formatKlog('W', {}, 1, "x.cpp", 1, "a\r\tb\x1b[31m").ends_with("] a\\x0d\\x09b\\x1b[31m"));
}

TEST_CASE("--v decides which info lines are written; warnings and errors always are", "[unit]")
{
    std::ostringstream out;
    {
        Logger log(2, LogFormat::Text, out);
        log.info(2, "summary");
        log.info(4, "per-object detail");
        log.warning("odd, ignoring");
        log.error("broken, will retry");
    }
    const std::string text = out.str();
    CHECK(text.find("summary") != std::string::npos);
    CHECK(text.find("per-object detail") == std::string::npos);
    CHECK(std::regex_search(
        text, std::regex(R"(^W\d{4} [\d:.]+ \d+ log_test\.cpp:\d+\] odd, ignoring$)", std::regex::multiline)));
    CHECK(std::regex_search(text, std::regex(R"(^E\d{4} .*broken, will retry$)", std::regex::multiline)));
}
