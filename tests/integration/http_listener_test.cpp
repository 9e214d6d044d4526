// SPDX-License-Identifier: Apache-2.0
// The bounded HTTP listener under hostile clients, over real sockets on loopback: bodies never
// read, header floods and slow clients cut, the connection cap keeping room for a probe, closing
// a port without waiting for its clients, and one thread for any number of listeners.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "status/http_listener.h"

using namespace kipvs::status;
using kipvs::logging::LogFormat;
using kipvs::logging::Logger;
using Clock = std::chrono::steady_clock;

namespace {

// A client socket on loopback, closed with the object.
class Client {
public:
    explicit Client(uint16_t port)
    {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    ~Client() { close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }
    // Sends what it can; false once the peer refused more (closed or reset).
    bool send(const std::string& bytes)
    {
        return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    }
    // Everything until the peer closes or `timeout` passes.
    std::string readAll(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
    {
        std::string out;
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0)
                break;
            char buffer[4096];
            const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            out.append(buffer, static_cast<size_t>(n));
        }
        return out;
    }
    // Whether the server closed the connection (EOF or reset) within `timeout`.
    bool closedByPeer(std::chrono::milliseconds timeout)
    {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
            return false;
        char buffer[256];
        return recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT) <= 0;
    }

private:
    int fd_ = -1;
    bool connected_ = false;
};

std::string get(const std::string& path, const std::string& extra = "")
{
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

std::optional<HttpAnswer> answerOk(std::string_view path)
{
    if (path != "/livez")
        return std::nullopt;
    return HttpAnswer{.status = 200, .contentType = "text/plain", .body = "ok", .headers = {}};
}

size_t threadsOfThisProcess()
{
    size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
        ++count;
    return count;
}

struct Fixture {
    std::ostringstream logs;
    Logger log{2, LogFormat::Text, logs};
    HttpLoop loop;
};

const kipvs::config::BindAddress kAnyLoopbackPort{*kipvs::InetAddress::parse("127.0.0.1"), 0};

}  // namespace

TEST_CASE("HTTP listener: GET and HEAD answered, keep-alive kept, other methods refused", "[integration]")
{
    Fixture f;
    HttpListener listener(f.loop, "test", kAnyLoopbackPort, answerOk, f.log);
    REQUIRE(listener.port() != 0);
    Client client(listener.port());
    REQUIRE(client.send(get("/livez?verbose") + get("/nothing")));
    std::string both = client.readAll(std::chrono::milliseconds(500));
    CHECK(both.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(both.find("Content-Length: 2\r\n\r\nok") != std::string::npos);
    CHECK(both.find("HTTP/1.1 404 Not Found\r\n") != std::string::npos);

    Client head(listener.port());
    REQUIRE(head.send("HEAD /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const auto headAnswer = head.readAll();
    CHECK(headAnswer.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(headAnswer.find("Content-Length: 2\r\n") != std::string::npos);
    CHECK(headAnswer.ends_with("\r\n\r\n"));

    Client del(listener.port());
    REQUIRE(del.send("DELETE /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto refused = del.readAll();
    CHECK(refused.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    CHECK(refused.find("Allow: GET, HEAD\r\n") != std::string::npos);
}

TEST_CASE("HTTP listener: a 1 GiB body is refused from its headers and never read", "[integration]")
{
    Fixture f;
    HttpListener listener(f.loop, "test", kAnyLoopbackPort, answerOk, f.log);
    Client client(listener.port());
    REQUIRE(client.send("POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"));
    // The server answers and closes; the sender soon finds the connection gone, long before 1 GiB.
    const std::string chunk(1 << 20, 'x');
    size_t sent = 0;
    while (sent < (size_t{1} << 30) && client.send(chunk))
        sent += chunk.size();
    CHECK(sent < (size_t{64} << 20));
    Client chunked(listener.port());
    REQUIRE(chunked.send("GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
    CHECK(chunked.readAll().starts_with("HTTP/1.1 413 Payload Too Large\r\n"));
}

TEST_CASE("HTTP listener: a header flood is answered 431 and closed", "[integration]")
{
    Fixture f;
    HttpListener listener(f.loop, "test", kAnyLoopbackPort, answerOk, f.log);
    Client client(listener.port());
    std::string flood = "GET /livez HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 2000; ++i)
        flood += "X-Flood-" + std::to_string(i) + ": " + std::string(20, 'a') + "\r\n";
    client.send(flood + "\r\n");
    CHECK(client.readAll().starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    Client after(listener.port());
    REQUIRE(after.send(get("/livez", "Connection: close\r\n")));
    CHECK(after.readAll().starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST_CASE("HTTP listener: a client trickling header bytes is cut at the request deadline", "[integration]")
{
    Fixture f;
    HttpLimits limits;
    limits.requestTimeout = std::chrono::milliseconds(600);
    HttpListener listener(f.loop, "test", kAnyLoopbackPort, answerOk, f.log, OnBindFailure::Retry, limits);
    Client slow(listener.port());
    REQUIRE(slow.send("GET /livez HTTP/1.1\r\n"));
    // A byte every 100 ms would keep an idle timeout alive forever; the deadline does not move.
    bool cut = false;
    const auto start = Clock::now();
    for (int i = 0; i < 40 && !cut; ++i) {
        cut = !slow.send("X") || slow.closedByPeer(std::chrono::milliseconds(100));
    }
    CHECK(cut);
    CHECK(Clock::now() - start < std::chrono::seconds(3));
    // An idle keep-alive connection is cut the same way.
    Client idle(listener.port());
    CHECK(idle.closedByPeer(std::chrono::milliseconds(3000)));
}

TEST_CASE("HTTP listener: at the connection cap a probe still gets in, the oldest waiting client goes", "[integration]")
{
    Fixture f;
    HttpLimits limits;
    limits.maxConnections = 8;
    HttpListener listener(f.loop, "test", kAnyLoopbackPort, answerOk, f.log, OnBindFailure::Retry, limits);
    std::vector<std::unique_ptr<Client>> slow;
    for (int i = 0; i < 200; ++i) {
        slow.push_back(std::make_unique<Client>(listener.port()));
        slow.back()->send("GET /livez HTTP/1.1\r\n");
    }
    // Every accepted slow client beyond the cap pushed out an older one.
    CHECK(listener.connections() <= limits.maxConnections);
    CHECK(slow.front()->closedByPeer(std::chrono::milliseconds(2000)));
    for (int round = 0; round < 5; ++round) {
        Client probe(listener.port());
        REQUIRE(probe.send(get("/livez", "Connection: close\r\n")));
        CHECK(probe.readAll(std::chrono::milliseconds(1000)).starts_with("HTTP/1.1 200 OK\r\n"));
    }
}

TEST_CASE("HTTP listener: closing a port does not wait for a client trickling bytes", "[integration]")
{
    Fixture f;
    auto listener = std::make_unique<HttpListener>(f.loop, "test", kAnyLoopbackPort, answerOk, f.log);
    const uint16_t port = listener->port();
    Client slow(port);
    REQUIRE(slow.send("GET /livez HTTP/1.1\r\n"));
    for (int i = 0; i < 50 && listener->connections() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(listener->connections() == 1);
    const auto start = Clock::now();
    listener.reset();
    CHECK(Clock::now() - start < std::chrono::milliseconds(500));
    CHECK(slow.closedByPeer(std::chrono::milliseconds(1000)));
    // The port is free again at once: a new listener binds it.
    HttpListener again(f.loop, "test", {kAnyLoopbackPort.host, port}, answerOk, f.log, OnBindFailure::GiveUp);
    CHECK(again.port() == port);
}

TEST_CASE("HTTP listener: a hundred listeners cost no thread beyond the loop's one", "[integration]")
{
    Fixture f;
    const size_t before = threadsOfThisProcess();
    std::vector<std::unique_ptr<HttpListener>> listeners;
    for (int i = 0; i < 100; ++i)
        listeners.push_back(std::make_unique<HttpListener>(f.loop, "test", kAnyLoopbackPort, answerOk, f.log));
    CHECK(threadsOfThisProcess() == before);
    Client last(listeners.back()->port());
    REQUIRE(last.send(get("/livez", "Connection: close\r\n")));
    CHECK(last.readAll().starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST_CASE("HTTP listener: a route that throws answers 500 and the loop keeps serving", "[integration]")
{
    Fixture f;
    HttpListener failing(
        f.loop, "test", kAnyLoopbackPort,
        [](std::string_view) -> std::optional<HttpAnswer> { throw std::runtime_error("cannot encode"); }, f.log);
    HttpListener healthy(f.loop, "test", kAnyLoopbackPort, answerOk, f.log);
    Client bad(failing.port());
    REQUIRE(bad.send(get("/", "Connection: close\r\n")));
    CHECK(bad.readAll().starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
    Client good(healthy.port());
    REQUIRE(good.send(get("/livez", "Connection: close\r\n")));
    CHECK(good.readAll().starts_with("HTTP/1.1 200 OK\r\n"));
}
