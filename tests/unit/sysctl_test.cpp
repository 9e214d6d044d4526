// SPDX-License-Identifier: Apache-2.0
// Sysctl reads and write-only-when-different, against a folder standing in for /proc/sys.
#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "ipvs/host/sysctl.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using kipvs::ipvs::Sysctls;

using kipvs::test::TempDir;

TEST_CASE("A sysctl is written only when its value differs", "[unit]")
{
    TempDir tree;
    tree.write("net/ipv4/vs/conntrack", "0\n");
    Sysctls sysctls(tree.path.string());
    auto first = sysctls.ensure("net/ipv4/vs/conntrack", "1");
    REQUIRE(first);
    CHECK(*first);
    CHECK(tree.read("net/ipv4/vs/conntrack") == "1\n");
    auto second = sysctls.ensure("net/ipv4/vs/conntrack", "1");
    REQUIRE(second);
    CHECK_FALSE(*second);
    CHECK(*sysctls.read("net/ipv4/vs/conntrack") == "1");
}

TEST_CASE("A missing sysctl fails with the errno and its name", "[unit]")
{
    TempDir tree;
    Sysctls sysctls(tree.path.string());
    auto value = sysctls.ensure("net/ipv4/vs/nonexistent", "1");
    REQUIRE_FALSE(value);
    CHECK(value.error().code == ENOENT);
    CHECK(value.error().message().find("net/ipv4/vs/nonexistent") != std::string::npos);
}
