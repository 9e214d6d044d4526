// SPDX-License-Identifier: Apache-2.0
// Test support: runs fake_apiserver.py on loopback and drives its control port.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/asio.h"
#include "watch/cluster_access.h"

namespace kipvs::test {

// The test PKI (make-certs.sh), made once per test process.
std::string pkiDir();

struct FakeApiServerOptions {
    std::string certName = "server";  // server, other-server (another CA), wrong-name
    std::vector<std::string> tokens = {"good-token"};
    double bookmarkInterval = 0.5;
    double maxWatchSeconds = 600;
    bool serviceCidrs = true;  // false: 404 for them, as a server before Kubernetes 1.33
};

class FakeApiServer {
public:
    explicit FakeApiServer(FakeApiServerOptions options = {});
    ~FakeApiServer();

    int port() const { return port_; }
    // Access with the test CA and `token`.
    watch::ClusterAccess access(const std::string& token = "good-token") const;

    std::string apply(const std::string& objectJson);
    void remove(const std::string& kind, const std::string& ns, const std::string& name);
    void compact();
    void fault(const std::string& faultJson);
    void setTokens(const std::vector<std::string>& tokens);
    std::vector<std::string> requests();

private:
    std::string post(const std::string& path, const std::string& body);
    FakeApiServerOptions options_;
    std::string dir_;
    int pid_ = -1;
    int port_ = 0;
    int controlPort_ = 0;
};

// Runs `io` until `done` holds or `timeout` passes; returns whether `done` held.
bool runUntil(boost::asio::io_context& io, const std::function<bool()>& done,
              std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A Service with one TCP port, as the API would return it.
std::string serviceJson(const std::string& ns, const std::string& name, const std::string& clusterIP,
                        const std::string& labels = "{}");
// The file at `path` in base64, on one line (as kubeconfig "-data" fields hold it).
std::string runBase64(const std::string& path);
std::string sliceJson(const std::string& ns, const std::string& name, const std::string& service,
                      const std::string& ip);

}  // namespace kipvs::test
