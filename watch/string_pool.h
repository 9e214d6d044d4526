// SPDX-License-Identifier: Apache-2.0
// Interned strings: names that repeat across thousands of objects (node names, zones,
// namespaces) are stored once and referred to by an 8-byte counted handle; a string no handle
// refers to any more is freed by the pool's next sweep.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace kipvs::watch {

// A handle to a string owned by a StringPool; compares by content. An empty handle reads as "".
// Handles may be copied and dropped on any thread (the count is atomic), and may outlive their
// pool (coroutine frames that the event loop destroys last hold some): the last one frees it.
class PooledString {
public:
    PooledString() = default;
    PooledString(const PooledString& other) : entry_(other.entry_) { retain(); }
    PooledString(PooledString&& other) noexcept : entry_(std::exchange(other.entry_, nullptr)) {}
    PooledString& operator=(PooledString other) noexcept
    {
        std::swap(entry_, other.entry_);
        return *this;
    }
    ~PooledString() { Entry::release(entry_); }

    std::string_view view() const { return entry_ ? std::string_view(entry_->text) : std::string_view(); }
    bool empty() const { return !entry_ || entry_->text.empty(); }
    bool operator==(const PooledString& other) const { return view() == other.view(); }
    auto operator<=>(const PooledString& other) const { return view().compare(other.view()) <=> 0; }

private:
    friend class StringPool;
    // Counted once for the pool that holds it and once for each handle: whoever drops the
    // count to zero deletes it.
    struct Entry {
        explicit Entry(std::string_view value) : text(value) {}
        static void release(Entry* entry)
        {
            if (entry && entry->users.fetch_sub(1, std::memory_order_acq_rel) == 1)
                delete entry;
        }
        std::atomic<uint32_t> users{1};
        std::string text;
    };
    explicit PooledString(Entry* entry) : entry_(entry) { retain(); }
    void retain()
    {
        if (entry_)
            entry_->users.fetch_add(1, std::memory_order_relaxed);
    }

    Entry* entry_ = nullptr;
};

// Owns interned strings. Not thread-safe: one pool belongs to one event loop, which alone
// interns and sweeps. Every decoder shares it, so it also knows the node this process proxies
// for: an endpoint is decoded into one bit, "on this node", not its node's name (as kube-proxy's
// endpoint cache keeps isLocal): 21 bytes an endpoint, not 32, at 100,000s of them.
class StringPool {
public:
    StringPool() = default;
    explicit StringPool(std::string localNode) : localNode_(std::move(localNode)) {}
    ~StringPool();
    StringPool(const StringPool&) = delete;
    StringPool& operator=(const StringPool&) = delete;

    PooledString intern(std::string_view text);
    // Frees the strings no handle refers to. intern() also sweeps whenever the pool has doubled
    // since the last sweep, so the pool stays within twice what is in use.
    void sweep();
    size_t size() const { return strings_.size(); }
    // Whether `nodeName` names this node (never when either is empty).
    bool isLocalNode(std::string_view nodeName) const { return !nodeName.empty() && nodeName == localNode_; }

private:
    // Each entry counts the pool as one of its users.
    std::unordered_map<std::string_view, PooledString::Entry*> strings_;
    size_t sweepAt_ = kMinimumSweep;
    std::string localNode_;
    static constexpr size_t kMinimumSweep = 1024;
};

}  // namespace kipvs::watch
