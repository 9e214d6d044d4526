// SPDX-License-Identifier: Apache-2.0
// A set kept as a sorted vector: for the small sets of which there is one per Service, where a
// std::set's 48-byte header and one 64-byte node per element were ~3 MB at 10,000 Services.
// Inserting and erasing are O(n): meant for small sets (a Service's addresses, its EndpointSlices).
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <vector>

namespace kipvs {

template <typename T>
class FlatSet {
public:
    using const_iterator = typename std::vector<T>::const_iterator;

    FlatSet() = default;
    FlatSet(std::initializer_list<T> items)
    {
        for (const auto& item : items)
            insert(item);
    }

    bool insert(const T& value)
    {
        auto at = std::lower_bound(items_.begin(), items_.end(), value);
        if (at != items_.end() && *at == value)
            return false;
        items_.insert(at, value);
        return true;
    }
    bool erase(const T& value)
    {
        auto at = std::lower_bound(items_.begin(), items_.end(), value);
        if (at == items_.end() || !(*at == value))
            return false;
        items_.erase(at);
        return true;
    }
    size_t count(const T& value) const { return std::binary_search(items_.begin(), items_.end(), value) ? 1 : 0; }
    const_iterator begin() const { return items_.begin(); }
    const_iterator end() const { return items_.end(); }
    size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }
    // Once built: gives back what growing left unused.
    void shrinkToFit() { items_.shrink_to_fit(); }

    bool operator==(const FlatSet&) const = default;

private:
    std::vector<T> items_;
};

}  // namespace kipvs
