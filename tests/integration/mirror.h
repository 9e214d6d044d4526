// SPDX-License-Identifier: Apache-2.0
// What the reflector tests share: a reflector whose events are recorded, and seeded Services.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fake_apiserver.h"
#include "watch/reflector.h"

namespace kipvs::test {

using namespace kipvs::watch;

inline constexpr const char* kProxySelector =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

// The versions of the objects a Mirror holds, as a daemon lends its store's to the reflector.
template <typename T>
class MirrorVersions final : public LentVersions {
public:
    explicit MirrorVersions(const std::map<std::string, T>& objects) : objects_(objects) {}
    const std::string* versionOf(const ObjectKey& key) const override
    {
        auto found = objects_.find(key.toString());
        return found == objects_.end() ? nullptr : &found->second.resourceVersion;
    }
    void forEachKey(const std::function<void(const ObjectKey&)>& visit) const override
    {
        for (const auto& [name, object] : objects_)
            visit(object.key);
    }

private:
    const std::map<std::string, T>& objects_;
};

// Whose record of versions the reflector uses: its own, or the Mirror's objects'.
enum class VersionRecord { Reflector, Lent };

// A reflector of T with its events recorded, and the objects as the events left them.
template <typename T>
struct Mirror {
    Mirror(boost::asio::io_context& io, const ClusterAccess& access, ReflectorOptions options = fastOptions(),
           VersionRecord record = VersionRecord::Reflector)
        : credentials(access),
          reflector(io, access, credentials, pool, lendIf(record, std::move(options)),
                    ReflectorEvents<T>{[this](const T& o) {
                                           added.push_back(o.key.toString());
                                           objects.insert_or_assign(o.key.toString(), o);
                                       },
                                       [this](const T& o) {
                                           updated.push_back(o.key.toString());
                                           objects.insert_or_assign(o.key.toString(), o);
                                       },
                                       [this](const ObjectKey& key) {
                                           deleted.push_back(key.toString());
                                           objects.erase(key.toString());
                                       },
                                       [this] { ++syncedCount; },
                                       [this](const Rejection& r) { rejected.push_back(r.object + " " + r.reason); },
                                       [this](const Error& e) {
                                           if (getenv("KIPVS_TEST_DEBUG"))
                                               fprintf(stderr, "reflector: %s\n", e.message().c_str());
                                           errors.push_back(e.message());
                                       }})
    {
        reflector.start();
    }

    ReflectorOptions lendIf(VersionRecord record, ReflectorOptions options)
    {
        if (record == VersionRecord::Lent)
            options.versions = &lent;
        return options;
    }

    static ReflectorOptions fastOptions()
    {
        ReflectorOptions o;
        o.labelSelector = kProxySelector;
        o.backoffInitial = std::chrono::milliseconds(50);
        o.backoffMax = std::chrono::milliseconds(400);
        o.connection.idleTimeout = std::chrono::seconds(30);
        return o;
    }

    std::set<std::string> names() const
    {
        std::set<std::string> out;
        for (const auto& [name, object] : objects)
            out.insert(name);
        return out;
    }

    std::map<std::string, T> objects;  // by "namespace/name"
    MirrorVersions<T> lent{objects};
    StringPool pool;
    CredentialSource credentials;
    Reflector<T> reflector;
    std::vector<std::string> added, updated, deleted, rejected, errors;

    int syncedCount = 0;
};

using Names = std::set<std::string>;

inline void seed(FakeApiServer& server, int count, const std::string& ns = "shop")
{
    for (int i = 0; i < count; ++i)
        server.apply(serviceJson(ns, "svc-" + std::to_string(i), "10.96.0." + std::to_string(i + 1)));
}

inline Names seeded(int count, const std::string& ns = "shop")
{
    Names out;
    for (int i = 0; i < count; ++i)
        out.insert(ns + "/svc-" + std::to_string(i));
    return out;
}

inline std::string clusterIPOf(const Mirror<Service>& m, const std::string& ns, const std::string& name)
{
    auto found = m.objects.find(ns + "/" + name);
    if (found == m.objects.end() || found->second.clusterIPs.empty())
        return "";
    return found->second.clusterIPs.front().toString();
}

}  // namespace kipvs::test
