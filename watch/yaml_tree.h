// SPDX-License-Identifier: Apache-2.0
// YAML read the way Kubernetes' Go decoders read it, for every YAML input (manifests, kubeconfig,
// KubeProxyConfiguration): a key given twice in one mapping keeps its last value, and aliases
// are expanded within a budget, so a few hundred bytes cannot stand for billions of nodes.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "base/result.h"

namespace kipvs::watch {

// Aliases let a few hundred bytes stand for billions of nodes (a "billion laughs" bomb); without
// them a document has fewer nodes than bytes. A walk over a document takes one node of the
// budget per node it visits and stops past twice the text's size, or past a nesting no
// Kubernetes object needs.
class YamlBudget {
public:
    struct Exceeded : std::runtime_error {
        using std::runtime_error::runtime_error;
    };
    static constexpr size_t kMaxDepth = 64;

    explicit YamlBudget(size_t textBytes) : nodesLeft_(2 * textBytes + 1024) {}

    // Held while one node is visited: throws Exceeded when the walk goes past either bound.
    class Visit {
    public:
        explicit Visit(YamlBudget& budget);
        ~Visit() { --budget_.depth_; }
        Visit(const Visit&) = delete;
        Visit& operator=(const Visit&) = delete;

    private:
        YamlBudget& budget_;
    };

private:
    size_t nodesLeft_;
    size_t depth_ = 0;
};

// The one document in `text` as a tree whose mappings hold each key once, with its last value.
// Fails with EINVAL for YAML that does not parse, E2BIG past the budget.
Result<YAML::Node> loadYamlTree(const std::string& text);

// The documents of a YAML stream, split at its "---" and "..." markers and parsed one by one.
// yaml-cpp 0.7's LoadAll loops for ever, allocating, on some invalid streams (a lone ","):
// jbeder/yaml-cpp#1040, fixed upstream after Debian 12's version. Throws YAML::Exception for a
// document that does not parse.
std::vector<YAML::Node> loadYamlDocuments(const std::string& text);

}  // namespace kipvs::watch
