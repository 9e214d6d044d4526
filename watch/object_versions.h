// SPDX-License-Identifier: Apache-2.0
// What a reflector remembers of what it reported: each object's key and resourceVersion, enough
// to tell an add from an update, skip what a relist brings back unchanged, and find what vanished.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "watch/objects.h"

namespace kipvs::watch {

class ObjectVersions {
public:
    virtual ~ObjectVersions() = default;

    // The version last reported for `key`; null when it is not known (never reported, or deleted).
    virtual const std::string* versionOf(const ObjectKey& key) const = 0;
    // Every known key. `visit` must not change the set of keys.
    virtual void forEachKey(const std::function<void(const ObjectKey&)>& visit) const = 0;
    // Called just before the reflector reports `key` at `version`, or as deleted.
    virtual void reporting(const ObjectKey& key, const std::string& version) = 0;
    virtual void reportingDeleted(const ObjectKey& key) = 0;
};

// The reflector's own record: a map of keys to versions.
class VersionMap final : public ObjectVersions {
public:
    const std::string* versionOf(const ObjectKey& key) const override
    {
        auto found = versions_.find(key);
        return found == versions_.end() ? nullptr : &found->second;
    }
    void forEachKey(const std::function<void(const ObjectKey&)>& visit) const override
    {
        for (const auto& [key, version] : versions_)
            visit(key);
    }
    void reporting(const ObjectKey& key, const std::string& version) override { versions_[key] = version; }
    void reportingDeleted(const ObjectKey& key) override { versions_.erase(key); }

private:
    std::map<ObjectKey, std::string> versions_;
};

// The record of whoever handles the reflector's events, when it keeps every object it is given,
// with its version, and forgets every object reported deleted: the reflector then keeps no copy of
// the keys (~100 bytes an object; 10 MB at 50,000 Services and as many EndpointSlices).
class LentVersions : public ObjectVersions {
public:
    void reporting(const ObjectKey&, const std::string&) final {}
    void reportingDeleted(const ObjectKey&) final {}
};

}  // namespace kipvs::watch
