// SPDX-License-Identifier: Apache-2.0
// Interning of repeated strings (see string_pool.h).
#include "watch/string_pool.h"

namespace kipvs::watch {

PooledString StringPool::intern(std::string_view text)
{
    if (text.empty())
        return {};
    auto found = strings_.find(text);
    if (found == strings_.end())
        found = strings_.emplace(text).first;
    return PooledString(&*found);
}

}  // namespace kipvs::watch
