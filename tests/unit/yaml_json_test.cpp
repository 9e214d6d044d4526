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
