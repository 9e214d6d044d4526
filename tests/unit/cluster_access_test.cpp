// SPDX-License-Identifier: Apache-2.0
// Kubeconfig and in-cluster configuration, and token-file credentials.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"
#include "watch/cluster_access.h"
#include "watch/credentials.h"

using namespace kipvs::watch;
namespace fs = std::filesystem;

using kipvs::test::TempDir;

TEST_CASE("Server URLs: names, IPv4, bracketed IPv6, default ports", "[unit]")
{
    auto v6 = parseServerUrl("https://[fd00::1]:6443");
    REQUIRE(v6);
    CHECK(v6->host == "fd00::1");
    CHECK(v6->port == "6443");
    CHECK(v6->hostHeader() == "[fd00::1]:6443");
    auto name = parseServerUrl("https://api.example:443/");
    REQUIRE(name);
    CHECK(name->hostHeader() == "api.example");
    CHECK(parseServerUrl("https://10.0.0.1")->port == "443");
    CHECK_FALSE(parseServerUrl("https://10.0.0.1")->host.empty());
    CHECK(parseServerUrl("http://127.0.0.1:8080")->tls == false);
    for (const char* bad :
         {"10.0.0.1:6443", "https://", "https://[fd00::1", "https://h:70000", "https://h:x", "https://h/prefix"}) {
        INFO(bad);
        CHECK_FALSE(parseServerUrl(bad));
    }
}

TEST_CASE("A kubeconfig's current context, relative paths, inline data and --master", "[unit]")
{
    TempDir dir;
    dir.write("pki/ca.crt", "CA PEM");
    dir.write("pki/client.key", "KEY PEM");
    dir.write("token", "file-token\n");
    const std::string path = dir.write("conf/kubeconfig", R"(apiVersion: v1
kind: Config
current-context: proxy
clusters:
- name: other
  cluster: {server: "https://other:1"}
- name: main
  cluster:
    server: https://[fd00::1]:6443
    certificate-authority: ../pki/ca.crt
    tls-server-name: kubernetes.default
users:
- name: proxy
  user:
    client-certificate-data: Q0VSVCBQRU0=
    client-key: ../pki/client.key
    tokenFile: ../token
contexts:
- name: proxy
  context: {cluster: main, user: proxy}
)");
    auto access = loadKubeconfig(path);
    REQUIRE(access);
    CHECK(access->server.host == "fd00::1");
    CHECK(access->caPem == "CA PEM");
    CHECK(access->clientCertPem == "CERT PEM");
    CHECK(access->clientKeyPem == "KEY PEM");
    CHECK(access->tlsServerName == "kubernetes.default");
    CHECK(fs::path(access->tokenFile) == fs::absolute(dir.path / "conf/../token"));
    CHECK_FALSE(access->insecureSkipVerify);

    auto overridden = loadKubeconfig(path, "https://192.0.2.1:8443");
    REQUIRE(overridden);
    CHECK(overridden->server.host == "192.0.2.1");
}

TEST_CASE("insecure-skip-tls-verify with a CA is refused, as client-go refuses it; alone it is allowed", "[unit]")
{
    kipvs::test::TempDir dir;
    const char* both = R"(apiVersion: v1
kind: Config
current-context: c
clusters:
- name: main
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true, certificate-authority-data: Q0E=}
users:
- name: u
  user: {token: t}
contexts:
- name: c
  context: {cluster: main, user: u}
)";
    auto refused = loadKubeconfig(dir.write("both", both));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message().find("insecure flag is not allowed") != std::string::npos);
    std::string alone = both;
    alone.replace(alone.find(", certificate-authority-data: Q0E="), 34, "");
    auto allowed = loadKubeconfig(dir.write("alone", alone));
    REQUIRE(allowed);
    CHECK(allowed->insecureSkipVerify);
}

TEST_CASE("Broken kubeconfigs fail with one clear error", "[unit]")
{
    TempDir dir;
    CHECK(loadKubeconfig((dir.path / "missing").string()).error().code == ENOENT);
    auto bad = loadKubeconfig(dir.write("a", "clusters: [unclosed"));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("not valid YAML") != std::string::npos);
    CHECK_FALSE(loadKubeconfig(dir.write("b", "current-context: x\ncontexts: []\n")));
    auto halfCert = loadKubeconfig(dir.write("c", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h"}}]
users: [{name: u, user: {client-certificate-data: QQ==}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)"));
    REQUIRE_FALSE(halfCert);
    CHECK(halfCert.error().message().find("without its key") != std::string::npos);
}

TEST_CASE("In-cluster access brackets an IPv6 host and refuses a missing CA", "[unit]")
{
    TempDir dir;
    dir.write("sa/ca.crt", "CA");
    dir.write("sa/token", "t");
    auto env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "KUBERNETES_SERVICE_HOST")
            return "fd00::1";
        if (name == "KUBERNETES_SERVICE_PORT")
            return "443";
        return std::nullopt;
    };
    auto access = inClusterAccess(env, (dir.path / "sa").string());
    REQUIRE(access);
    CHECK(access->server.hostHeader() == "[fd00::1]");
    CHECK(access->tokenFile == (dir.path / "sa/token").string());
    auto noCa = inClusterAccess(env, (dir.path / "nothing").string());
    REQUIRE_FALSE(noCa);
    CHECK(noCa.error().message().find("refusing") != std::string::npos);
    auto noEnv = inClusterAccess([](const std::string&) { return std::optional<std::string>(); });
    REQUIRE_FALSE(noEnv);
}

TEST_CASE("A token file is re-read every minute, and an empty or missing file keeps the last token", "[unit]")
{
    TempDir dir;
    const std::string file = dir.write("token", "first\n");
    auto now = std::chrono::system_clock::time_point(std::chrono::hours(1000));
    ClusterAccess access;
    access.tokenFile = file;
    CredentialSource source(access, [&] { return now; });
    CHECK(source.current()->token == "first");

    dir.write("token", "second");
    now += std::chrono::seconds(30);
    CHECK(source.current()->token == "first");  // not yet a minute
    now += std::chrono::seconds(31);
    CHECK(source.current()->token == "second");

    dir.write("token", "");
    now += std::chrono::minutes(2);
    CHECK(source.current()->token == "second");  // empty: keep the last good one
    fs::remove(file);
    source.rejected();
    CHECK(source.current()->token == "second");  // missing: likewise
    dir.write("token", "third");
    source.rejected();  // a 401 makes the next request re-read at once
    CHECK(source.current()->token == "third");

    ClusterAccess nothing;
    nothing.tokenFile = (dir.path / "never").string();
    CredentialSource empty(nothing);
    CHECK_FALSE(empty.current());
}

TEST_CASE("Credential files are read within a bound: a CA at /dev/zero is refused, not read for ever", "[unit]")
{
    auto endless = readFile("/dev/zero", 1 << 20);
    REQUIRE_FALSE(endless);
    CHECK(endless.error().code == EFBIG);
    TempDir dir;
    const std::string path = dir.write("kubeconfig", R"(apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: "https://192.0.2.1:6443", certificate-authority: /dev/zero}}]
contexts: [{name: c, context: {cluster: k}}]
)");
    auto access = loadKubeconfig(path);
    REQUIRE_FALSE(access);
    CHECK(access.error().message().find("larger than 4194304 bytes") != std::string::npos);
}
