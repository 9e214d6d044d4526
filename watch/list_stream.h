// SPDX-License-Identifier: Apache-2.0
// Splits a Kubernetes list's text, as it arrives, into its items and the rest: each element of
// the top-level "items" array is handed over as a text of its own as soon as it is complete, and
// what remains (the list with "items": []) is kept for parseList(). A LIST is then decoded an
// item at a time while its body arrives and never held whole: the body of 100 EndpointSlices of
// 1,000 endpoints was twice the daemon's steady memory. Internal to watch/.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kipvs::watch {

class ListSplitter {
public:
    struct Handlers {
        std::function<void()> itemsBegin;  // a top-level "items" array begins (a later one replaces it)
        std::function<Result<void>(std::string& item)> item;  // one element's text, modifiable
    };
    // Over `maxBytes` in all, an element over `maxItemBytes`, nesting deeper than `maxDepth`, or
    // text that cannot be JSON (brackets that do not match, elements not separated by one comma)
    // fails; the splitter is unusable then.
    ListSplitter(size_t maxBytes, size_t maxItemBytes, unsigned maxDepth, Handlers handlers);

    Result<void> feed(std::string_view bytes);
    // The text ended: the list without its items' elements (still to be parsed: it may be
    // anything), or a failure when a bracket or string was left open.
    Result<std::string> finish();

private:
    Result<void> step(char c);
    Result<void> outsideStrings(char c);
    Result<void> betweenItems(char c);
    Result<void> endItem();
    Result<void> invalid(const std::string& what) const;
    bool atTop() const { return open_.size() == 1 && open_[0] == '{'; }
    bool inItemsArray() const { return inItems_ && open_.size() == 2; }
    void keep(char c) { (inItem_ ? item_ : rest_).push_back(c); }

    size_t maxBytes_, maxItemBytes_;
    unsigned maxDepth_;
    Handlers handlers_;
    size_t seen_ = 0;
    std::string rest_;  // the list but for its items' elements
    std::string item_;  // the element being read
    std::vector<char> open_;  // the brackets open, outermost first
    bool inString_ = false;
    bool escaped_ = false;
    // The top-level object's fields: a key is read after '{' or ',', its value after ':'.
    bool expectKey_ = false;
    bool readingKey_ = false;
    bool keyEscaped_ = false;
    bool atValue_ = false;
    std::string key_;
    bool inItems_ = false;  // inside the top-level "items" array
    bool inItem_ = false;  // inside one of its elements
    bool scalarItem_ = false;  // that element is not an object or array
    bool afterItem_ = false;  // an element ended: a ',' or the ']' comes next
    bool afterComma_ = false;  // a ',' came: an element comes next
};

}  // namespace kipvs::watch
