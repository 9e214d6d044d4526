// SPDX-License-Identifier: Apache-2.0
// Test support: the fake API server's process and control port (see fake_apiserver.h).
#include "fake_apiserver.h"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

extern char** environ;

namespace kipvs::test {

std::string pkiDir()
{
    static const std::string dir = [] {
        std::string d = "/tmp/kipvs-test-pki-" + std::to_string(getpid());
        std::string command = std::string(KIPVS_SOURCE_DIR) + "/tests/integration/make-certs.sh " + d;
        if (std::system(command.c_str()) != 0)
            throw std::runtime_error("cannot make the test PKI with openssl");
        return d;
    }();
    return dir;
}

FakeApiServer::FakeApiServer(FakeApiServerOptions options) : options_(std::move(options))
{
    char pattern[] = "/tmp/kipvs-fake-apiserver-XXXXXX";
    dir_ = mkdtemp(pattern);
    setTokens(options_.tokens);
    const std::string pki = pkiDir();
    std::vector<std::string> args = {"python3",
                                     std::string(KIPVS_SOURCE_DIR) + "/tests/integration/fake_apiserver.py",
                                     "--ports-file",
                                     dir_ + "/ports",
                                     "--cert",
                                     pki + "/" + options_.certName + ".crt",
                                     "--key",
                                     pki + "/" + options_.certName + ".key",
                                     "--client-ca",
                                     pki + "/ca.crt",
                                     "--tokens-file",
                                     dir_ + "/tokens",
                                     "--bookmark-interval",
                                     std::to_string(options_.bookmarkInterval),
                                     "--max-watch-seconds",
                                     std::to_string(options_.maxWatchSeconds)};
    if (!options_.serviceCidrs)
        args.push_back("--without-servicecidrs");
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("cannot start the fake API server");
    for (int i = 0; i < 200; ++i) {
        std::ifstream ports(dir_ + "/ports");
        if (ports >> port_ >> controlPort_)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("the fake API server did not start");
}

FakeApiServer::~FakeApiServer()
{
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    std::system(("rm -rf " + dir_).c_str());
}

watch::ClusterAccess FakeApiServer::access(const std::string& token) const
{
    watch::ClusterAccess a;
    a.server.host = "127.0.0.1";
    a.server.port = std::to_string(port_);
    a.caPem = *watch::readFile(pkiDir() + "/ca.crt");
    a.token = token;
    a.source = "test";
    return a;
}

std::string FakeApiServer::post(const std::string& path, const std::string& body)
{
    httplib::Client client("127.0.0.1", controlPort_);
    auto result = client.Post(path.c_str(), body, "application/json");
    if (!result || result->status != 200)
        throw std::runtime_error("fake API server control " + path + " failed");
    return result->body;
}

std::string FakeApiServer::apply(const std::string& objectJson)
{
    return post("/apply", objectJson);
}

void FakeApiServer::remove(const std::string& kind, const std::string& ns, const std::string& name)
{
    post("/delete", nlohmann::json{{"kind", kind}, {"namespace", ns}, {"name", name}}.dump());
}

void FakeApiServer::compact()
{
    post("/compact", "{}");
}

void FakeApiServer::fault(const std::string& faultJson)
{
    post("/fault", faultJson);
}

void FakeApiServer::setTokens(const std::vector<std::string>& tokens)
{
    std::ofstream out(dir_ + "/tokens.tmp");
    for (const auto& t : tokens)
        out << t << "\n";
    out.close();
    std::rename((dir_ + "/tokens.tmp").c_str(), (dir_ + "/tokens").c_str());
}

std::vector<std::string> FakeApiServer::requests()
{
    httplib::Client client("127.0.0.1", controlPort_);
    auto result = client.Get("/requests");
    if (!result)
        throw std::runtime_error("fake API server control /requests failed");
    return nlohmann::json::parse(result->body).get<std::vector<std::string>>();
}

std::string runBase64(const std::string& path)
{
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("base64 -w0 " + path).c_str(), "r"), pclose);
    char buffer[4096];
    size_t n;
    while (pipe && (n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0)
        out.append(buffer, n);
    return out;
}

bool runUntil(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        if (io.stopped())
            io.restart();
        io.run_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::string serviceJson(const std::string& ns, const std::string& name, const std::string& clusterIP,
                        const std::string& labels)
{
    return R"({"kind":"Service","apiVersion":"v1","metadata":{"name":")" + name + R"(","namespace":")" + ns +
           R"(","labels":)" + labels + R"(},"spec":{"type":"ClusterIP","clusterIP":")" + clusterIP +
           R"(","clusterIPs":[")" + clusterIP +
           R"("],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}})";
}

std::string sliceJson(const std::string& ns, const std::string& name, const std::string& service, const std::string& ip)
{
    return R"({"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","addressType":"IPv4","metadata":{"name":")" +
           name + R"(","namespace":")" + ns + R"(","labels":{"kubernetes.io/service-name":")" + service +
           R"("}},"endpoints":[{"addresses":[")" + ip +
           R"("],"conditions":{"ready":true},"nodeName":"node-a"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]})";
}

}  // namespace kipvs::test
