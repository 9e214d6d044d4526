// SPDX-License-Identifier: Apache-2.0
// Kubeconfig and in-cluster configuration (see cluster_access.h).
#include "watch/cluster_access.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include "watch/yaml_tree.h"

namespace kipvs::watch {

namespace {

tl::unexpected<Error> configError(const std::string& object, const std::string& detail)
{
    return fail(Error::Domain::Config, EINVAL, "load API server configuration", object, detail);
}

Result<std::string> base64Decode(const std::string& text, const std::string& field)
{
    std::string clean;
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ')
            clean.push_back(c);
    if (clean.size() % 4 != 0)
        return configError(field, "is not valid base64");
    std::string out(clean.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
    if (n < 0)
        return configError(field, "is not valid base64");
    // EVP_DecodeBlock counts the padding as zero bytes.
    size_t padding = clean.empty() ? 0 : (clean.back() == '=') + (clean.size() > 1 && clean[clean.size() - 2] == '=');
    out.resize(static_cast<size_t>(n) - padding);
    return out;
}

std::string scalar(const YAML::Node& node, const char* key)
{
    if (!node || !node.IsMap() || !node[key] || !node[key].IsScalar())
        return {};
    return node[key].as<std::string>();
}

// The named entry of a kubeconfig list ("clusters", "users", "contexts").
YAML::Node named(const YAML::Node& root, const char* list, const std::string& name, const char* inner)
{
    const YAML::Node entries = root[list];
    if (!entries || !entries.IsSequence())
        return {};
    for (const auto& entry : entries)
        if (scalar(entry, "name") == name)
            return entry[inner];
    return {};
}

// A value given inline (base64, field "<key>-data") or as a path ("<key>", relative to `dir`).
Result<std::string> pemField(const YAML::Node& node, const std::string& key, const std::filesystem::path& dir)
{
    std::string data = scalar(node, (key + "-data").c_str());
    if (!data.empty())
        return base64Decode(data, key + "-data");
    std::string file = scalar(node, key.c_str());
    if (file.empty())
        return std::string();
    std::filesystem::path path(file);
    if (path.is_relative())
        path = dir / path;
    return readFile(path.string());
}

}  // namespace

std::string ServerAddress::hostHeader() const
{
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    const bool defaultPort = (tls && port == "443") || (!tls && port == "80");
    return defaultPort ? h : h + ":" + port;
}

Result<ServerAddress> parseServerUrl(const std::string& url)
{
    ServerAddress out;
    std::string rest;
    if (url.rfind("https://", 0) == 0) {
        rest = url.substr(8);
    } else if (url.rfind("http://", 0) == 0) {
        out.tls = false;
        rest = url.substr(7);
    } else {
        return configError("'" + url + "'", "the server URL must start with https:// (or http://)");
    }
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
        if (rest.substr(slash) != "/")
            return configError("'" + url + "'", "a server URL with a path prefix is not supported");
        rest.resize(slash);
    }
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos)
            return configError("'" + url + "'", "unterminated IPv6 address");
        out.host = rest.substr(1, close - 1);
        rest = rest.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            return configError("'" + url + "'", "garbage after the IPv6 address");
        out.port = rest.empty() ? "" : rest.substr(1);
    } else {
        auto colon = rest.find(':');
        out.host = rest.substr(0, colon);
        out.port = colon == std::string::npos ? "" : rest.substr(colon + 1);
    }
    if (out.port.empty())
        out.port = out.tls ? "443" : "80";
    if (out.host.empty() || out.port.find_first_not_of("0123456789") != std::string::npos || out.port.size() > 5 ||
        std::stoi(out.port) == 0 || std::stoi(out.port) > 65535)
        return configError("'" + url + "'", "not a valid host and port");
    return out;
}

Result<std::string> readFile(const std::string& path, size_t maxBytes)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fail(Error::Domain::System, errno ? errno : ENOENT, "read", "'" + path + "'");
    std::string content;
    char buffer[65536];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        content.append(buffer, static_cast<size_t>(in.gcount()));
        if (content.size() > maxBytes)
            return fail(Error::Domain::System, EFBIG, "read", "'" + path + "'",
                        "larger than " + std::to_string(maxBytes) + " bytes");
    }
    return content;
}

Result<ClusterAccess> loadKubeconfig(const std::string& path, const std::string& master)
{
    KIPVS_ASSIGN_OR_RETURN(auto text, readFile(path));
    return parseKubeconfig(text, path, master);
}

Result<ClusterAccess> parseKubeconfig(const std::string& text, const std::string& path, const std::string& master)
{
    auto tree = loadYamlTree(text);
    if (!tree)
        return configError("kubeconfig '" + path + "'", "is not valid YAML: " + tree.error().detail);
    const YAML::Node& root = *tree;
    try {
        const auto dir = std::filesystem::absolute(path).parent_path();
        std::string contextName = scalar(root, "current-context");
        if (contextName.empty())
            return configError("kubeconfig '" + path + "'", "has no current-context");
        YAML::Node context = named(root, "contexts", contextName, "context");
        if (!context)
            return configError("kubeconfig '" + path + "'", "has no context '" + contextName + "'");
        YAML::Node cluster = named(root, "clusters", scalar(context, "cluster"), "cluster");
        YAML::Node user = named(root, "users", scalar(context, "user"), "user");
        if (!cluster)
            return configError("kubeconfig '" + path + "'", "has no cluster '" + scalar(context, "cluster") + "'");

        ClusterAccess access;
        access.source = "kubeconfig " + path;
        KIPVS_ASSIGN_OR_RETURN(auto server, parseServerUrl(master.empty() ? scalar(cluster, "server") : master));
        access.server = server;
        access.insecureSkipVerify = scalar(cluster, "insecure-skip-tls-verify") == "true";
        access.tlsServerName = scalar(cluster, "tls-server-name");
        KIPVS_ASSIGN_OR_RETURN(auto ca, pemField(cluster, "certificate-authority", dir));
        access.caPem = ca;
        // client-go refuses the combination rather than silently ignore the CA.
        if (access.insecureSkipVerify && !access.caPem.empty())
            return configError("cluster '" + scalar(context, "cluster") + "'",
                               "specifying a root certificates file with the insecure flag is not allowed");
        if (user) {
            auto cert = pemField(user, "client-certificate", dir);
            auto key = pemField(user, "client-key", dir);
            if (!cert)
                return tl::unexpected(cert.error());
            if (!key)
                return tl::unexpected(key.error());
            if (cert->empty() != key->empty())
                return configError("user '" + scalar(context, "user") + "'",
                                   "has a client certificate without its key, or the reverse");
            access.clientCertPem = *cert;
            access.clientKeyPem = *key;
            access.token = scalar(user, "token");
            access.tokenFile = scalar(user, "tokenFile");
            if (!access.tokenFile.empty() && std::filesystem::path(access.tokenFile).is_relative())
                access.tokenFile = (dir / access.tokenFile).string();
            if (const YAML::Node exec = user["exec"]; exec && exec.IsMap()) {
                ExecConfig e;
                e.command = scalar(exec, "command");
                e.apiVersion = scalar(exec, "apiVersion");
                if (e.command.empty())
                    return configError("user '" + scalar(context, "user") + "'", "exec has no command");
                // A command given as a relative path (with a slash) is relative to the kubeconfig.
                if (e.command.find('/') != std::string::npos && std::filesystem::path(e.command).is_relative())
                    e.command = (dir / e.command).string();
                if (exec["args"] && exec["args"].IsSequence())
                    for (const auto& arg : exec["args"])
                        e.args.push_back(arg.as<std::string>());
                if (exec["env"] && exec["env"].IsSequence())
                    for (const auto& var : exec["env"])
                        e.env.emplace_back(scalar(var, "name"), scalar(var, "value"));
                access.exec = std::move(e);
            }
        }
        return access;
    } catch (const YAML::Exception& e) {
        return configError("kubeconfig '" + path + "'", std::string("has an unexpected shape: ") + e.what());
    }
}

std::optional<std::string> processEnv(const std::string& name)
{
    const char* value = std::getenv(name.c_str());
    if (!value)
        return std::nullopt;
    return std::string(value);
}

Result<ClusterAccess> inClusterAccess(const EnvLookup& env, const std::string& serviceAccountDir)
{
    auto host = env("KUBERNETES_SERVICE_HOST");
    auto port = env("KUBERNETES_SERVICE_PORT");
    if (!host || !port || host->empty() || port->empty())
        return configError(
            "in-cluster configuration",
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: give --kubeconfig or --master");
    std::string bracketed = host->find(':') != std::string::npos ? "[" + *host + "]" : *host;
    KIPVS_ASSIGN_OR_RETURN(auto server, parseServerUrl("https://" + bracketed + ":" + *port));
    ClusterAccess access;
    access.source = "in-cluster";
    access.server = server;
    auto ca = readFile(serviceAccountDir + "/ca.crt");
    if (!ca)
        return configError("in-cluster configuration", "cannot read the service account's CA " + serviceAccountDir +
                                                           "/ca.crt; refusing to talk to an unverified server");
    access.caPem = *ca;
    access.tokenFile = serviceAccountDir + "/token";
    return access;
}

}  // namespace kipvs::watch
