// SPDX-License-Identifier: Apache-2.0
// YAML documents to JSON with YAML 1.2 types (see yaml_json.h).
#include "config/yaml_json.h"

#include <regex>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "watch/yaml_tree.h"

namespace kipvs::config {

namespace {

nlohmann::json plainScalar(const std::string& text)
{
    static const std::regex integer("[-+]?[0-9]+");
    static const std::regex real("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
        return nullptr;
    if (text == "true" || text == "True" || text == "TRUE")
        return true;
    if (text == "false" || text == "False" || text == "FALSE")
        return false;
    try {
        if (std::regex_match(text, integer))
            return std::stoll(text);
        if (std::regex_match(text, real))
            return std::stod(text);
    } catch (const std::out_of_range&) {
        // Too large for a number: kept as text, which the decoder then rejects with a reason.
    }
    return text;
}

nlohmann::json toJson(const YAML::Node& node, watch::YamlBudget& budget)
{
    const watch::YamlBudget::Visit visit(budget);
    switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
        return nullptr;
    case YAML::NodeType::Scalar:
        // "?" marks a plain scalar; quoted ones and explicit !!str tags are strings.
        if (node.Tag() == "?")
            return plainScalar(node.Scalar());
        return node.Scalar();
    case YAML::NodeType::Sequence: {
        auto out = nlohmann::json::array();
        for (const auto& item : node)
            out.push_back(toJson(item, budget));
        return out;
    }
    case YAML::NodeType::Map: {
        auto out = nlohmann::json::object();
        for (const auto& entry : node)
            out[entry.first.as<std::string>()] = toJson(entry.second, budget);
        return out;
    }
    }
    return nullptr;
}

}  // namespace

Result<std::vector<std::string>> yamlDocumentsToJson(const std::string& yaml)
{
    std::vector<std::string> out;
    watch::YamlBudget budget(yaml.size());
    try {
        for (const auto& document : watch::loadYamlDocuments(yaml)) {
            if (document.IsNull())
                continue;
            out.push_back(toJson(document, budget).dump());
        }
    } catch (const YAML::Exception& e) {
        return fail(Error::Domain::Decode, EINVAL, "parse YAML", "", e.what());
    } catch (const nlohmann::json::exception& e) {
        // Text that is not UTF-8 (a Latin-1 byte) cannot become JSON.
        return fail(Error::Domain::Decode, EILSEQ, "parse YAML", "", e.what());
    } catch (const watch::YamlBudget::Exceeded& e) {
        return fail(Error::Domain::Decode, E2BIG, "parse YAML", "", e.what());
    }
    return out;
}

}  // namespace kipvs::config
