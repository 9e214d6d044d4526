// SPDX-License-Identifier: Apache-2.0
// A LIST decoded as its body arrives: the same page as the list decoded whole, whatever the
// pieces, each item handed over as soon as it is complete, and malformed text failing cleanly.
#include <catch2/catch.hpp>

#include <random>

#include "watch/decoder.h"
#include "watch/list_stream.h"

using namespace kipvs;
using namespace kipvs::watch;

namespace {

std::string service(const std::string& name, const std::string& spec, const std::string& extra = "")
{
    return R"({"kind":"Service","metadata":{"name":")" + name + R"(","namespace":"shop")" + extra + R"(},"spec":)" +
           spec + "}";
}

// Brackets and escaped quotes in strings, nested arrays, items that are not objects, the
// metadata after the items and given twice, "items" given twice (the last wins).
const std::vector<std::string> kLists = {
    R"({"kind":"ServiceList","metadata":{"resourceVersion":"100","continue":"tok"},"items":[)" +
        service("a", R"({"clusterIP":"10.0.0.1"})") + "," + service("b", R"({"clusterIP":"bad"})") + "]}",
    R"({"kind":"ServiceList","items":[)" + service("x", R"({"clusterIP":"10.0.0.9"})") + R"(],"items":[ )" +
        service("web", R"({"clusterIP":"10.0.0.1","x":[[1],{"y":"}]{["}]})",
                R"(,"annotations":{"note":"a \"}\" and a ]"})") +
        R"( , 7 ,["not","an","object"], "text" ,null,)" + service("b", R"({"clusterIP":"10.0.0.2"})") +
        R"(],"metadata":{"resourceVersion":"1"},"metadata":{"resourceVersion":"77","continue":"c"}})",
    R"({"kind":"ServiceList","metadata":{"resourceVersion":"3"},"items":null})",
    R"( {"items":[],"metadata":{"resourceVersion":"4"}} )",
};

Result<ListPage<Service>> streamed(Decoder& decoder, const std::string& text, const std::vector<size_t>& cuts)
{
    auto stream = decoder.listStream<Service>();
    size_t at = 0;
    for (size_t cut : cuts) {
        KIPVS_TRY(stream.feed(std::string_view(text).substr(at, cut - at)));
        at = cut;
    }
    KIPVS_TRY(stream.feed(std::string_view(text).substr(at)));
    return stream.finish();
}

void checkSame(const ListPage<Service>& a, const ListPage<Service>& b)
{
    CHECK(a.resourceVersion == b.resourceVersion);
    CHECK(a.continueToken == b.continueToken);
    REQUIRE(a.items.size() == b.items.size());
    for (size_t i = 0; i < a.items.size(); ++i) {
        CHECK(a.items[i].key == b.items[i].key);
        CHECK(a.items[i].clusterIPs == b.items[i].clusterIPs);
    }
    REQUIRE(a.rejected.size() == b.rejected.size());
    for (size_t i = 0; i < a.rejected.size(); ++i)
        CHECK(a.rejected[i].reason == b.rejected[i].reason);
}

}  // namespace

TEST_CASE("A list decoded as it arrives is the page decoded whole, however its bytes are cut", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool);
    std::mt19937 random(7);
    for (const auto& text : kLists) {
        INFO(text);
        std::string copy = text;
        auto whole = decoder.serviceList(copy);
        REQUIRE(whole);
        std::vector<size_t> everyByte;
        for (size_t i = 1; i < text.size(); ++i)
            everyByte.push_back(i);
        auto bytewise = streamed(decoder, text, everyByte);
        REQUIRE(bytewise);
        checkSame(*whole, *bytewise);
        for (int round = 0; round < 20; ++round) {
            std::vector<size_t> cuts;
            for (size_t at = random() % 40; at < text.size(); at += 1 + random() % 40)
                cuts.push_back(at);
            auto pieces = streamed(decoder, text, cuts);
            REQUIRE(pieces);
            checkSame(*whole, *pieces);
        }
    }
    // The second list, checked for itself: the second "items" won, its odd elements rejected.
    auto page = streamed(decoder, kLists[1], {});
    REQUIRE(page);
    CHECK(page->resourceVersion == "77");
    REQUIRE(page->items.size() == 2);
    CHECK(page->items[0].key.toString() == "shop/web");
    CHECK(page->rejected.size() == 4);  // 7, the array, the string, null
}

TEST_CASE("Each item is handed over as soon as it is complete, and the rest keeps an empty items array", "[unit]")
{
    std::vector<std::string> items;
    ListSplitter splitter(1 << 20, 1 << 10, 16,
                          {[&] { items.clear(); },
                           [&](std::string& item) -> Result<void> {
                               items.push_back(item);
                               return {};
                           }});
    REQUIRE(splitter.feed(R"({"metadata":{"resourceVersion":"9"},"items":[{"a":"]"} , [1,2],)"));
    CHECK(items == std::vector<std::string>{R"({"a":"]"})", "[1,2]"});
    REQUIRE(splitter.feed(R"(3 ]})"));
    CHECK(items.size() == 3);
    CHECK(items[2] == "3");
    auto rest = splitter.finish();
    REQUIRE(rest);
    CHECK(*rest == R"({"metadata":{"resourceVersion":"9"},"items":[]})");
}

TEST_CASE("Malformed or oversized lists fail as they arrive, as when decoded whole", "[unit]")
{
    StringPool pool;
    Decoder decoder(pool, DecodeLimits{1u << 16, 1u << 10, 8});
    const std::vector<std::string> malformed = {
        R"({"items":[{"a":1} {"b":2}]})",  // no comma between two items
        R"({"items":[,{}]})",
        R"({"items":[{},]})",
        R"({"items":[{},,{}]})",
        R"({"items":[{]}]})",
        R"({"items":[{"a":1}}]})",
        R"({"items":[nul l]})",
        R"({"items":[{}])",  // ends early
        R"({"items":[{"a":"open]})",
        R"({"items":[[[[[[[[[1]]]]]]]]]})",  // deeper than 8
        R"({"items":[]} {"items":[]})",
        R"({"items":[]},)",
    };
    for (const auto& text : malformed) {
        INFO(text);
        std::string copy = text;
        CHECK_FALSE(decoder.serviceList(copy));
        CHECK_FALSE(streamed(decoder, text, {text.size() / 2}));
    }
    // An item over maxObjectBytes, a list over maxDocumentBytes, and a field name with escapes
    // (never from an API server) fail the list too.
    const std::string big = R"({"items":[)" + service("big", "{}", R"(,"x":")" + std::string(2000, 'x') + "\"") + "]}";
    auto tooBig = streamed(decoder, big, {});
    REQUIRE_FALSE(tooBig);
    CHECK(tooBig.error().code == EMSGSIZE);
    std::string many = R"({"items":[)";
    for (int i = 0; i < 1000; ++i)
        many += service("s" + std::to_string(i), R"({"clusterIP":"10.0.0.1"})") + ",";
    many += "{}]}";
    auto tooMany = streamed(decoder, many, {100, 30000});
    REQUIRE_FALSE(tooMany);
    CHECK(tooMany.error().code == EMSGSIZE);
    CHECK_FALSE(streamed(decoder, R"({"ite\u006dms":[]})", {}));
}
