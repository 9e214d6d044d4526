// SPDX-License-Identifier: Apache-2.0
// Splits a byte stream of back-to-back JSON documents (a watch body) into whole documents,
// wherever the HTTP chunks or TLS records happen to cut it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace kipvs::watch {

class JsonStreamSplitter {
public:
    explicit JsonStreamSplitter(size_t maxDocumentBytes) : maxDocumentBytes_(maxDocumentBytes) {}

    // Appends `bytes` and moves every document they complete into `out`. Fails when a document
    // grows past the limit or the stream holds something that is not an object; the splitter
    // is then unusable (the connection should be dropped).
    Result<void> feed(std::string_view bytes, std::vector<std::string>& out);
    // Bytes of an incomplete document held back.
    size_t pending() const { return current_.size(); }

private:
    size_t maxDocumentBytes_;
    std::string current_;
    unsigned depth_ = 0;
    bool inString_ = false;
    bool escaped_ = false;
};

}  // namespace kipvs::watch
