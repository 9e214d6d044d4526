// SPDX-License-Identifier: Apache-2.0
// Interned strings: names that repeat across thousands of objects (node names, zones,
// namespaces) are stored once and referred to by an 8-byte handle.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

namespace kipvs::watch {

// A handle to a string owned by a StringPool; compares by content. An empty handle reads as "".
class PooledString {
public:
    PooledString() = default;
    std::string_view view() const { return text_ ? std::string_view(*text_) : std::string_view(); }
    bool empty() const { return !text_ || text_->empty(); }
    bool operator==(const PooledString& other) const { return view() == other.view(); }
    auto operator<=>(const PooledString& other) const { return view().compare(other.view()) <=> 0; }

private:
    friend class StringPool;
    explicit PooledString(const std::string* text) : text_(text) {}
    const std::string* text_ = nullptr;
};

// Owns interned strings; handles stay valid as long as the pool lives. Not thread-safe: one
// pool belongs to one event loop.
class StringPool {
public:
    PooledString intern(std::string_view text);
    size_t size() const { return strings_.size(); }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    struct Equal {
        using is_transparent = void;
        bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    };
    std::unordered_set<std::string, Hash, Equal> strings_;
};

}  // namespace kipvs::watch
