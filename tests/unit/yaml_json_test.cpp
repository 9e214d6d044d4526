// SPDX-License-Identifier: Apache-2.0
// YAML manifests to JSON: YAML 1.2 core-schema types for plain scalars, strings when quoted.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "config/yaml_json.h"

using kipvs::config::yamlDocumentsToJson;

TEST_CASE("Plain scalars get their types; quoted ones stay strings", "[unit]")
{
    auto docs = yamlDocumentsToJson(R"(
port: 80
big: 1.5e3
ready: true
off: False
nothing: ~
empty:
name: web
quoted: "80"
single: 'true'
tagged: !!str 53
ip: 10.96.0.10
list: [1, "2", x]
)");
    REQUIRE(docs);
    REQUIRE(docs->size() == 1);
    const auto j = nlohmann::json::parse(docs->at(0));
    CHECK(j["port"] == 80);
    CHECK(j["big"] == 1500.0);
    CHECK(j["ready"] == true);
    CHECK(j["off"] == false);
    CHECK(j["nothing"].is_null());
    CHECK(j["empty"].is_null());
    CHECK(j["name"] == "web");
    CHECK(j["quoted"] == "80");
    CHECK(j["single"] == "true");
    CHECK(j["tagged"] == "53");
    CHECK(j["ip"] == "10.96.0.10");
    CHECK(j["list"] == nlohmann::json::parse(R"([1, "2", "x"])"));
}

TEST_CASE("Several documents, empty ones skipped; invalid YAML fails with the parser's reason", "[unit]")
{
    auto docs = yamlDocumentsToJson("a: 1\n---\n---\n# only a comment\n---\nb: [x]\n");
    REQUIRE(docs);
    CHECK(*docs == std::vector<std::string>{R"({"a":1})", R"({"b":["x"]})"});

    auto bad = yamlDocumentsToJson("metadata: {name: [unclosed\n");
    REQUIRE(!bad);
    CHECK(bad.error().operation == "parse YAML");
    CHECK(!bad.error().detail.empty());
}

TEST_CASE("Hostile YAML fails with a reason, never an exception: bytes that are not UTF-8, alias bombs, deep nesting",
          "[unit]")
{
    // One Latin-1 byte (0xE9, "é") in a value.
    auto latin1 = yamlDocumentsToJson("kind: Service\nmetadata: {name: caf\xe9}\n");
    REQUIRE_FALSE(latin1);
    CHECK(latin1.error().code == EILSEQ);

    // A billion laughs in 352 bytes: nine levels of nine aliases each.
    std::string bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
    for (char c = 'b'; c <= 'i'; ++c) {
        const std::string prev(1, static_cast<char>(c - 1));
        bomb += std::string(1, c) + ": &" + std::string(1, c) + " [";
        for (int i = 0; i < 9; ++i)
            bomb += (i ? ",*" : "*") + prev;
        bomb += "]\n";
    }
    auto exploded = yamlDocumentsToJson(bomb);
    REQUIRE_FALSE(exploded);
    CHECK(exploded.error().code == E2BIG);

    // Aliases that stay small are fine (a manifest may use them).
    auto small = yamlDocumentsToJson("base: &b {port: 80}\nother: *b\n");
    REQUIRE(small);
    CHECK(nlohmann::json::parse(small->at(0))["other"]["port"] == 80);

    std::string deep(200, '[');
    deep += std::string(200, ']');
    auto nested = yamlDocumentsToJson("x: " + deep + "\n");
    REQUIRE_FALSE(nested);
}

TEST_CASE("A stream that made yaml-cpp's LoadAll loop for ever ends, its other documents read", "[unit]")
{
    // jbeder/yaml-cpp#1040: a lone "," made 0.7's LoadAll push null documents until memory ran out.
    auto comma = yamlDocumentsToJson(",");
    REQUIRE(comma);
    CHECK(comma->empty());
    auto mixed = yamlDocumentsToJson("a: 1\n---\n,\n...\n--- {b: 2}\n");
    REQUIRE(mixed);
    CHECK(*mixed == std::vector<std::string>{R"({"a":1})", R"({"b":2})"});
    // Directives and comments before a marker belong to the document after it.
    auto directive = yamlDocumentsToJson("%YAML 1.2\n# header\n---\nc: 3\n");
    REQUIRE(directive);
    CHECK(*directive == std::vector<std::string>{R"({"c":3})"});
    // A "---" that does not start a line is content.
    auto content = yamlDocumentsToJson("d: |\n  ---\n  x\ne: \"--- y\"\n");
    REQUIRE(content);
    CHECK(*content == std::vector<std::string>{R"({"d":"---\nx\n","e":"--- y"})"});
}
