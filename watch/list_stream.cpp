// SPDX-License-Identifier: Apache-2.0
// Splitting a list's text into its items as it arrives (see list_stream.h).
#include "watch/list_stream.h"

namespace kipvs::watch {

namespace {

bool whitespace(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

}  // namespace

ListSplitter::ListSplitter(size_t maxBytes, size_t maxItemBytes, unsigned maxDepth, Handlers handlers)
    : maxBytes_(maxBytes), maxItemBytes_(maxItemBytes), maxDepth_(maxDepth), handlers_(std::move(handlers))
{}

Result<void> ListSplitter::invalid(const std::string& what) const
{
    return fail(Error::Domain::Decode, EINVAL, "parse list", "", what + " at offset " + std::to_string(seen_));
}

Result<void> ListSplitter::feed(std::string_view bytes)
{
    if (bytes.size() > maxBytes_ - std::min(seen_, maxBytes_))
        return fail(Error::Domain::Decode, EMSGSIZE, "parse list", "",
                    "the list exceeds " + std::to_string(maxBytes_) + " bytes");
    for (const char c : bytes) {
        KIPVS_TRY(step(c));
        ++seen_;
    }
    if (item_.size() > maxItemBytes_)
        return fail(Error::Domain::Decode, EMSGSIZE, "parse list", "",
                    "an item exceeds " + std::to_string(maxItemBytes_) + " bytes");
    return {};
}

Result<void> ListSplitter::step(char c)
{
    if (inString_) {
        if (escaped_) {
            escaped_ = false;
        } else if (c == '\\') {
            escaped_ = true;
            keyEscaped_ |= readingKey_;
        } else if (c == '"') {
            inString_ = false;
            readingKey_ = false;
        } else if (readingKey_) {
            key_.push_back(c);
        }
        keep(c);
        return {};
    }
    // A number, string, true, false or null as an element ends where the next token begins.
    if (inItem_ && scalarItem_ && open_.size() == 2 && (c == ',' || c == ']' || whitespace(c)))
        KIPVS_TRY(endItem());
    if (inItemsArray() && !inItem_)
        return betweenItems(c);
    return outsideStrings(c);
}

// In the items array, between its elements: each element begins, and one ',' between two.
Result<void> ListSplitter::betweenItems(char c)
{
    if (whitespace(c))
        return {};
    if (c == ',') {
        if (!afterItem_)
            return invalid("a ',' with no item before it");
        afterItem_ = false;
        afterComma_ = true;
        return {};
    }
    if (c == ']') {
        if (afterComma_)
            return invalid("a ',' before ']'");
        return outsideStrings(c);
    }
    if (afterItem_)
        return invalid("two items with no ',' between them");
    afterComma_ = false;
    inItem_ = true;
    scalarItem_ = c != '{' && c != '[';
    item_.clear();
    return outsideStrings(c);
}

Result<void> ListSplitter::endItem()
{
    inItem_ = false;
    afterItem_ = true;
    std::string item = std::move(item_);
    item_.clear();
    return handlers_.item(item);
}

Result<void> ListSplitter::outsideStrings(char c)
{
    if (atTop() && !inItem_ && !whitespace(c)) {
        const bool valueStarts = atValue_;
        atValue_ = c == ':';
        if (c == ',')
            expectKey_ = true;
        if (c == '"' && expectKey_) {
            expectKey_ = false;
            readingKey_ = true;
            keyEscaped_ = false;
            key_.clear();
        }
        if (c == ':' && keyEscaped_)
            return invalid("a field name with escapes");  // never from an API server
        if (c == '[' && valueStarts && key_ == "items") {
            inItems_ = true;
            afterItem_ = afterComma_ = false;
            if (handlers_.itemsBegin)
                handlers_.itemsBegin();
        }
    }
    if (c == '"') {
        inString_ = true;
    } else if (c == '{' || c == '[') {
        if (open_.size() >= maxDepth_)
            return invalid("nesting deeper than " + std::to_string(maxDepth_));
        open_.push_back(c);
        expectKey_ = atTop();
    } else if (c == '}' || c == ']') {
        if (open_.empty() || open_.back() != (c == '}' ? '{' : '['))
            return invalid(std::string("an unmatched '") + c + "'");
        open_.pop_back();
        if (inItems_ && open_.size() == 1)
            inItems_ = false;  // the items array closed
        keep(c);
        if (inItem_ && !scalarItem_ && open_.size() == 2)
            return endItem();
        return {};
    }
    keep(c);
    return {};
}

Result<std::string> ListSplitter::finish()
{
    if (inString_ || !open_.empty())
        return tl::unexpected(invalid("the list ends before it is complete").error());
    return std::move(rest_);
}

}  // namespace kipvs::watch
