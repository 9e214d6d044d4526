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

// A line that starts or ends a document: "---" or "..." alone or followed by white space.
bool isMarker(std::string_view line, std::string_view marker)
{
    return line.starts_with(marker) &&
           (line.size() == 3 || std::string_view(" \t\r\n").find(line[3]) != std::string_view::npos);
}

// Whether a piece before a "---" holds no content: directives, comments and blank lines belong
// to the document that follows.
bool onlyPreamble(std::string_view piece)
{
    size_t start = 0;
    while (start < piece.size()) {
        size_t end = piece.find('\n', start);
        if (end == std::string_view::npos)
            end = piece.size();
        const auto line = piece.substr(start, end - start);
        const auto first = line.find_first_not_of(" \t\r");
        if (first != std::string_view::npos && line[first] != '#' && line[first] != '%')
            return false;
        start = end + 1;
    }
    return true;
}

}  // namespace

std::vector<YAML::Node> loadYamlDocuments(const std::string& text)
{
    std::vector<std::string> pieces{""};
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        end = end == std::string::npos ? text.size() : end + 1;
        const std::string_view line(text.data() + start, end - start);
        if (isMarker(line, "...")) {
            pieces.emplace_back();
        } else {
            if (isMarker(line, "---") && !onlyPreamble(pieces.back()))
                pieces.emplace_back();
            pieces.back().append(line);
        }
        start = end;
    }
    std::vector<YAML::Node> documents;
    documents.reserve(pieces.size());
    for (const auto& piece : pieces)
        documents.push_back(YAML::Load(piece));
    return documents;
}

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
