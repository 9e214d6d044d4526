// SPDX-License-Identifier: Apache-2.0
// Catch2's main, compiled once for the unit, integration and VM suites: this one file costs about a
// minute of compiling, so each suite links it rather than building its own copy.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
