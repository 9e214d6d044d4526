// SPDX-License-Identifier: Apache-2.0
// The watch-stream framer gives the same documents however the bytes are split.
#include <catch2/catch.hpp>

#include <random>

#include "watch/json_stream.h"

using kipvs::watch::JsonStreamSplitter;

namespace {

const std::string kStream = "{\"type\":\"ADDED\",\"object\":{\"a\":\"}{\\\"\",\"b\":[1,{\"c\":\"]\"}]}}\n"
                            "{\"type\":\"BOOKMARK\",\"object\":{}}"
                            "  \r\n{\"type\":\"DELETED\",\"object\":{\"s\":\"\\\\\"}}\n";

std::vector<std::string> split(const std::vector<size_t>& cuts)
{
    JsonStreamSplitter splitter(1 << 20);
    std::vector<std::string> out;
    size_t at = 0;
    for (size_t cut : cuts) {
        REQUIRE(splitter.feed(std::string_view(kStream).substr(at, cut - at), out));
        at = cut;
    }
    REQUIRE(splitter.feed(std::string_view(kStream).substr(at), out));
    CHECK(splitter.pending() == 0);
    return out;
}

}  // namespace

TEST_CASE("Documents come out whole whatever the chunk boundaries", "[unit]")
{
    const auto whole = split({});
    REQUIRE(whole.size() == 3);
    CHECK(whole[0] == "{\"type\":\"ADDED\",\"object\":{\"a\":\"}{\\\"\",\"b\":[1,{\"c\":\"]\"}]}}");
    CHECK(whole[2] == "{\"type\":\"DELETED\",\"object\":{\"s\":\"\\\\\"}}");

    std::vector<size_t> everyByte;
    for (size_t i = 1; i < kStream.size(); ++i)
        everyByte.push_back(i);
    CHECK(split(everyByte) == whole);

    std::mt19937 random(42);
    for (int round = 0; round < 200; ++round) {
        std::vector<size_t> cuts;
        for (size_t i = 1; i < kStream.size(); ++i)
            if (random() % 7 == 0)
                cuts.push_back(i);
        CHECK(split(cuts) == whole);
    }
}

TEST_CASE("The framer refuses garbage between documents and oversized documents", "[unit]")
{
    std::vector<std::string> out;
    JsonStreamSplitter garbage(1024);
    CHECK_FALSE(garbage.feed("{\"a\":1} x", out));
    JsonStreamSplitter small(16);
    CHECK_FALSE(small.feed("{\"a\":\"0123456789abcdef", out));
}
