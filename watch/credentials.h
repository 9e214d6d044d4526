// SPDX-License-Identifier: Apache-2.0
// The credential to present on the next request: a static token, a token file that rotates,
// an exec plugin's token or certificate, or a client certificate.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"
#include "watch/cluster_access.h"

namespace kipvs::watch {

struct Credential {
    std::string token;  // empty: no Authorization header
    std::string clientCertPem;
    std::string clientKeyPem;
};

class CredentialSource {
public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;

    // `execTimeout` bounds one run of an exec plugin.
    explicit CredentialSource(ClusterAccess access, Clock clock = std::chrono::system_clock::now,
                              std::chrono::milliseconds execTimeout = std::chrono::seconds(30));

    // The credential for the next request. A token file is re-read at most once a minute (and
    // after rejected()); an empty or missing file keeps the last good token. An exec plugin runs
    // when it has no unexpired credential. Fails only when there is no credential at all to use.
    Result<Credential> current();
    // The server answered 401: the next current() re-reads the token file or re-runs the plugin.
    void rejected();

private:
    Result<void> refreshTokenFile();
    Result<void> runExec();
    // Runs the plugin and returns its stdout; fails when it cannot start, times out or fails.
    Result<std::string> runPlugin(const ExecConfig& exec, const std::string& object);

    ClusterAccess access_;
    Clock clock_;
    std::chrono::milliseconds execTimeout_;
    std::string fileToken_;
    std::chrono::system_clock::time_point fileReadAt_{};
    bool fileStale_ = true;
    Credential execCredential_;
    std::chrono::system_clock::time_point execExpires_{};
    bool execValid_ = false;
};

}  // namespace kipvs::watch
