// SPDX-License-Identifier: Apache-2.0
// The watch-stream framer (see json_stream.h).
#include "watch/json_stream.h"

namespace kipvs::watch {

Result<void> JsonStreamSplitter::feed(std::string_view bytes, std::vector<std::string>& out)
{
    size_t start = 0;  // where the part of `bytes` belonging to current_ begins
    for (size_t i = 0; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (depth_ == 0) {
            // Between documents only whitespace may appear (the API server writes a newline).
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                start = i + 1;
                continue;
            }
            if (c != '{')
                return fail(Error::Domain::Decode, EINVAL, "split watch stream", "",
                            std::string("unexpected byte '") + c + "' between events");
            start = i;
            depth_ = 1;
            continue;
        }
        if (inString_) {
            if (escaped_)
                escaped_ = false;
            else if (c == '\\')
                escaped_ = true;
            else if (c == '"')
                inString_ = false;
            continue;
        }
        if (c == '"') {
            inString_ = true;
        } else if (c == '{' || c == '[') {
            ++depth_;
        } else if (c == '}' || c == ']') {
            if (--depth_ == 0) {
                current_.append(bytes.substr(start, i + 1 - start));
                out.push_back(std::move(current_));
                current_.clear();
                start = i + 1;
            }
        }
    }
    if (depth_ > 0 && start < bytes.size())
        current_.append(bytes.substr(start));
    if (current_.size() > maxDocumentBytes_)
        return fail(Error::Domain::Decode, EMSGSIZE, "split watch stream", "",
                    "an event exceeds " + std::to_string(maxDocumentBytes_) + " bytes");
    return {};
}

}  // namespace kipvs::watch
