// SPDX-License-Identifier: Apache-2.0
// FlatSet: a sorted vector that behaves as the std::set it replaces.
#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "base/flat_set.h"

using kipvs::FlatSet;

TEST_CASE("FlatSet: inserts in any order come out sorted and unique, as std::set", "[unit]")
{
    const std::vector<int> inserts{5, 1, 9, 1, 3, 9, 7, 0, 5};
    FlatSet<int> flat;
    std::set<int> reference;
    for (int v : inserts)
        CHECK(flat.insert(v) == reference.insert(v).second);
    CHECK(std::vector<int>(flat.begin(), flat.end()) == std::vector<int>(reference.begin(), reference.end()));
    CHECK(flat.size() == reference.size());
    for (int v = -1; v <= 10; ++v)
        CHECK(flat.count(v) == reference.count(v));
    flat.shrinkToFit();
    CHECK(flat == FlatSet<int>{0, 1, 3, 5, 7, 9});
    CHECK_FALSE(flat == FlatSet<int>{0, 1, 3, 5, 7});
    CHECK(FlatSet<int>().empty());
}
