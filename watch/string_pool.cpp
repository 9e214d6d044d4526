// SPDX-License-Identifier: Apache-2.0
// Interning of repeated strings (see string_pool.h).
#include "watch/string_pool.h"

#include <algorithm>

namespace kipvs::watch {

PooledString StringPool::intern(std::string_view text)
{
    if (text.empty())
        return {};
    auto found = strings_.find(text);
    if (found == strings_.end()) {
        if (strings_.size() >= sweepAt_)
            sweep();
        auto* entry = new PooledString::Entry(text);
        found = strings_.emplace(std::string_view(entry->text), entry).first;
    }
    return PooledString(found->second);
}

StringPool::~StringPool()
{
    for (const auto& [text, entry] : strings_)
        PooledString::Entry::release(entry);
}

void StringPool::sweep()
{
    // Only this thread creates handles from the pool; any other thread copies an existing one,
    // so an entry whose only user is the pool cannot gain one while it is being erased.
    std::erase_if(strings_, [](const auto& item) {
        if (item.second->users.load(std::memory_order_acquire) != 1)
            return false;
        PooledString::Entry::release(item.second);
        return true;
    });
    sweepAt_ = std::max(kMinimumSweep, 2 * strings_.size());
}

}  // namespace kipvs::watch
