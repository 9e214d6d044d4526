// SPDX-License-Identifier: Apache-2.0
// Where the API server is and how to authenticate: from a kubeconfig or the in-cluster
// service account.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace kipvs::watch {

struct ServerAddress {
    bool tls = true;
    std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
    std::string port;
    // "host:port" for the Host header, with brackets around an IPv6 address.
    std::string hostHeader() const;
};

// Parses "https://host[:port]" (IPv6 in brackets); the port defaults to 443 (80 for http).
Result<ServerAddress> parseServerUrl(const std::string& url);

struct ExecConfig {
    std::string command;
    std::vector<std::string> args;
    std::vector<std::pair<std::string, std::string>> env;
    std::string apiVersion;
};

struct ClusterAccess {
    ServerAddress server;
    std::string caPem;  // empty: the system's trust store
    bool insecureSkipVerify = false;
    std::string tlsServerName;  // checked against the certificate and sent as SNI; default: host
    std::string clientCertPem;
    std::string clientKeyPem;
    std::string token;
    std::string tokenFile;  // re-read periodically; takes precedence over `token` once read
    std::optional<ExecConfig> exec;
    std::string source;  // "kubeconfig /etc/kubernetes/kube-proxy.conf", "in-cluster"
};

// Loads the current context of a kubeconfig (v1). `master` overrides the cluster's server, as
// kube-proxy's --master does. Relative file paths resolve against the kubeconfig's folder.
Result<ClusterAccess> loadKubeconfig(const std::string& path, const std::string& master = "");
// The same from the kubeconfig's text; `path` names it and locates relative paths.
Result<ClusterAccess> parseKubeconfig(const std::string& text, const std::string& path, const std::string& master = "");

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> processEnv(const std::string& name);

// In-cluster access: KUBERNETES_SERVICE_HOST/PORT, the service account's token (re-read) and
// CA. A missing CA is an error: unlike client-go, never fall back to an unverified server.
Result<ClusterAccess>
inClusterAccess(const EnvLookup& env = processEnv,
                const std::string& serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Kubeconfigs, certificates, keys and tokens are a few KiB: a path naming something larger
// (or endless, such as /dev/zero) is refused rather than read into memory.
constexpr size_t kMaxCredentialFileBytes = size_t{4} << 20;

// The whole file, or an error naming it (EFBIG past `maxBytes`).
Result<std::string> readFile(const std::string& path, size_t maxBytes = kMaxCredentialFileBytes);

}  // namespace kipvs::watch
