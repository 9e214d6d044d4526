// SPDX-License-Identifier: Apache-2.0
// YAML with the last of duplicate keys and a bounded expansion (see yaml_tree.h).
#include "watch/yaml_tree.h"

namespace kipvs::watch {

YamlBudget::Visit::Visit(YamlBudget& budget) : budget_(budget)
{
    ++budget_.depth_;
    if (budget_.nodesLeft_-- == 0)
        throw Exceeded("the document expands to more nodes than twice its size (aliases?)");
    if (budget_.depth_ > kMaxDepth)
        throw Exceeded("the document nests deeper than " + std::to_string(kMaxDepth) + " levels");
}

namespace {

YAML::Node lastKeysWin(const YAML::Node& node, YamlBudget& budget)
{
    const YamlBudget::Visit visit(budget);
    if (node.IsSequence()) {
        YAML::Node out(YAML::NodeType::Sequence);
        for (const auto& item : node)
            out.push_back(lastKeysWin(item, budget));
        return out;
    }
    if (node.IsMap()) {
        YAML::Node out(YAML::NodeType::Map);
        // Assigning a key again replaces its value: the last one stays, in its first place.
        for (const auto& entry : node)
            out[entry.first.as<std::string>()] = lastKeysWin(entry.second, budget);
        return out;
    }
    return node;
}

}  // namespace

Result<YAML::Node> loadYamlTree(const std::string& text)
{
    YamlBudget budget(text.size());
    try {
        return lastKeysWin(YAML::Load(text), budget);
    } catch (const YAML::Exception& e) {
        return fail(Error::Domain::Decode, EINVAL, "parse YAML", "", e.what());
    } catch (const YamlBudget::Exceeded& e) {
        return fail(Error::Domain::Decode, E2BIG, "parse YAML", "", e.what());
    }
}

}  // namespace kipvs::watch
