// SPDX-License-Identifier: Apache-2.0
// The conntrack start-up against folders standing in for /proc/sys and the module's parameters.
#include <catch2/catch.hpp>

#include "daemon/conntrack_settings.h"
#include "temp_dir.h"

using namespace kipvs;
using kipvs::test::TempDir;

namespace {

const proxy::ConntrackPolicy kPolicy{65536, 131072, std::chrono::hours(24), {}, false, {}, {}};

void writeDefaults(TempDir& sys, TempDir& module, const char* hashsize)
{
    sys.write("net/netfilter/nf_conntrack_max", "65536\n");
    sys.write("net/netfilter/nf_conntrack_tcp_timeout_established", "432000\n");
    module.write("hashsize", hashsize);
}

}  // namespace

TEST_CASE("Conntrack start-up: the sysctls, then the hash size raised to a quarter of the max", "[unit]")
{
    TempDir sys, module;
    writeDefaults(sys, module, "16384\n");
    auto applied =
        daemon::applyConntrackPolicy(kPolicy, 4, ipvs::Sysctls(sys.path.string()), ipvs::Sysctls(module.path.string()));
    REQUIRE(applied);
    CHECK(applied->empty());
    CHECK(sys.read("net/netfilter/nf_conntrack_max") == "262144\n");
    CHECK(sys.read("net/netfilter/nf_conntrack_tcp_timeout_established") == "86400\n");
    CHECK(module.read("hashsize") == "65536\n");
}

TEST_CASE("Conntrack start-up never lowers the hash size", "[unit]")
{
    TempDir sys, module;
    writeDefaults(sys, module, "1048576\n");
    REQUIRE(daemon::applyConntrackPolicy(kPolicy, 4, ipvs::Sysctls(sys.path.string()),
                                         ipvs::Sysctls(module.path.string())));
    CHECK(module.read("hashsize") == "1048576\n");
}

TEST_CASE("Conntrack start-up fails on a sysctl it cannot set, naming it", "[unit]")
{
    TempDir sys, module;
    module.write("hashsize", "16384\n");  // no nf_conntrack sysctls: the module is not loaded
    auto applied =
        daemon::applyConntrackPolicy(kPolicy, 4, ipvs::Sysctls(sys.path.string()), ipvs::Sysctls(module.path.string()));
    REQUIRE_FALSE(applied);
    CHECK(applied.error().message().find("net/netfilter/nf_conntrack_max") != std::string::npos);
    module.write("hashsize", "many\n");
    writeDefaults(sys, module, "many\n");
    auto garbled =
        daemon::applyConntrackPolicy(kPolicy, 4, ipvs::Sysctls(sys.path.string()), ipvs::Sysctls(module.path.string()));
    REQUIRE_FALSE(garbled);
    CHECK(garbled.error().message().find("hashsize") != std::string::npos);
}
