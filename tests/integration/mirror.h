// SPDX-License-Identifier: Apache-2.0
// What the reflector tests share: a reflector whose events are recorded, and seeded Services.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "fake_apiserver.h"
#include "watch/reflector.h"

namespace kipvs::test {

using namespace kipvs::watch;

inline constexpr const char* kProxySelector =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

// A reflector of T with its events recorded.
template <typename T>
struct Mirror {
    Mirror(boost::asio::io_context& io, const ClusterAccess& access, ReflectorOptions options = fastOptions())
        : credentials(access),
          reflector(io, access, credentials, pool, std::move(options),
                    ReflectorEvents<T>{[this](const T& o) { added.push_back(o.key.toString()); },
                                       [this](const T&, const T& o) { updated.push_back(o.key.toString()); },
                                       [this](const T& o) { deleted.push_back(o.key.toString()); },
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
        for (const auto& [key, object] : reflector.store())
            out.insert(key.toString());
        return out;
    }

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
    for (const auto& [key, s] : m.reflector.store())
        if (key.toString() == ns + "/" + name)
            return s.clusterIPs.empty() ? "" : s.clusterIPs.front().toString();
    return "";
}

}  // namespace kipvs::test
