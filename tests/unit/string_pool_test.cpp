// SPDX-License-Identifier: Apache-2.0
// Interned strings: shared while in use, freed once their last handle is gone.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "watch/string_pool.h"

using kipvs::watch::PooledString;
using kipvs::watch::StringPool;

TEST_CASE("Interned strings are shared while in use and freed after their last handle", "[unit]")
{
    StringPool pool;
    PooledString a = pool.intern("kube-system");
    PooledString b = pool.intern("kube-system");
    CHECK(a.view().data() == b.view().data());
    CHECK(pool.size() == 1);
    CHECK(pool.intern("").empty());
    CHECK(pool.size() == 1);

    PooledString copy = a;
    a = PooledString();
    b = PooledString();
    pool.sweep();
    REQUIRE(pool.size() == 1);
    CHECK(copy.view() == "kube-system");
    PooledString moved = std::move(copy);
    pool.sweep();
    CHECK(pool.size() == 1);
    moved = pool.intern("default");
    pool.sweep();
    CHECK(pool.size() == 1);
    CHECK(moved.view() == "default");
}

TEST_CASE("A pool whose strings come and go stays within twice what is in use", "[unit]")
{
    StringPool pool;
    std::vector<PooledString> kept;
    for (int i = 0; i < 100; ++i)
        kept.push_back(pool.intern("zone-" + std::to_string(i)));
    // 100,000 namespaces of deleted or rejected objects, each dropped at once.
    for (int i = 0; i < 100'000; ++i)
        (void)pool.intern("gone-" + std::to_string(i));
    CHECK(pool.size() <= 2 * 1024);
    pool.sweep();
    CHECK(pool.size() == 100);
    for (int i = 0; i < 100; ++i)
        CHECK(kept[static_cast<size_t>(i)].view() == "zone-" + std::to_string(i));
}

TEST_CASE("Handles copied and dropped on other threads keep the count right", "[unit]")
{
    StringPool pool;
    PooledString shared = pool.intern("node-a");
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&shared, &wrong] {
            for (int i = 0; i < 10'000; ++i) {
                PooledString copy = shared;
                wrong += copy.view() != "node-a";
            }
        });
    for (auto& thread : threads)
        thread.join();
    CHECK(wrong == 0);
    pool.sweep();
    CHECK(pool.size() == 1);
    shared = PooledString();
    pool.sweep();
    CHECK(pool.size() == 0);
}

TEST_CASE("A handle may outlive its pool: the last user frees the string", "[unit]")
{
    PooledString survivor;
    {
        StringPool pool;
        survivor = pool.intern("outlives-the-pool");
        (void)pool.intern("dropped-with-the-pool");
    }
    // Under AddressSanitizer, a read or a release of freed memory fails here.
    CHECK(survivor.view() == "outlives-the-pool");
    PooledString copy = survivor;
    survivor = PooledString();
    CHECK(copy.view() == "outlives-the-pool");
}
