// SPDX-License-Identifier: Apache-2.0
// Parses a Kubernetes list in place, in one pass, handing over its metadata and each of its
// items as a document of its own: the document of a whole LIST took 1.5 times its text (50 MB
// for 10,000 EndpointSlices), the daemon's peak memory. Internal to watch/.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <rapidjson/document.h>

#include "base/result.h"

namespace kipvs::watch {

struct ListParts {
    // The list's metadata object; when given twice, called twice (the last wins).
    std::function<void(const rapidjson::Value&)> metadata;
    // An "items" array begins: what earlier items gave is dropped (the last "items" wins).
    std::function<void()> itemsBegin;
    // One item; null for an item that is neither an object nor an array.
    std::function<void(const rapidjson::Value&)> item;
};

enum class ListShape {
    List,  // an object whose "items" is an array, null or absent
    NotList,  // not an object, or "items" is something else
};

// `json` is modified. Over `maxBytes`, invalid JSON or nesting deeper than `maxDepth` fails.
Result<ListShape> parseList(std::string& json, size_t maxBytes, unsigned maxDepth, const ListParts& parts);

}  // namespace kipvs::watch
