// SPDX-License-Identifier: Apache-2.0
// The listeners' loop, binding with retries, and accepting within a connection cap (see
// http_listener.h).
#include "status/http_listener.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <list>

#include <pthread.h>

#include "status/http_connection.h"

namespace kipvs::status {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

HttpLoop::HttpLoop()
    : work_(asio::make_work_guard(io_)), thread_([this] {
          pthread_setname_np(pthread_self(), "kipvs-http");  // as `ps -L` shows it
          // A handler that throws must not end the thread (and with it every probe's answer).
          for (;;) {
              try {
                  io_.run();
                  return;
              } catch (...) {}
          }
      })
{}

HttpLoop::~HttpLoop()
{
    work_.reset();
    io_.stop();
    thread_.join();
}

class HttpListener::State : public std::enable_shared_from_this<State> {
public:
    State(asio::io_context& io, std::string what, const config::BindAddress& address, HttpRoutes routes,
          logging::Logger& log, HttpLimits limits)
        : what_(std::move(what)),
          log_(log),
          limits_(limits),
          routes_(std::make_shared<const HttpRoutes>(std::move(routes))),
          endpoint_(asio::ip::make_address(address.host.toString()), address.port),
          acceptor_(io),
          retry_(io)
    {}

    // Binds and listens; on failure says why and leaves the acceptor closed.
    bool bind(error_code& ec)
    {
        acceptor_.open(endpoint_.protocol(), ec);
        if (!ec)
            acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec)
            acceptor_.bind(endpoint_, ec);
        if (!ec)
            acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        const auto local = ec ? tcp::endpoint{} : acceptor_.local_endpoint(ec);
        if (ec) {
            error_code ignored;
            acceptor_.close(ignored);
            return false;
        }
        port_ = local.port();
        return true;
    }

    void accept()
    {
        acceptor_.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
            if (self->closed_)
                return;
            if (ec) {
                // Out of descriptors or memory: try again shortly rather than spin.
                self->retry_.expires_after(std::chrono::milliseconds(100));
                self->retry_.async_wait([self](error_code waited) {
                    if (!waited && !self->closed_)
                        self->accept();
                });
                return;
            }
            self->admit(std::move(socket));
            self->accept();
        });
    }

    void retryBind()
    {
        retry_.expires_after(std::chrono::seconds(5));
        retry_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec || self->closed_)
                return;
            error_code bindError;
            if (!self->bind(bindError)) {
                self->retryBind();
                return;
            }
            self->log_.info(0, self->what_ + " server: listening on " + self->endpoint() + " after retrying");
            self->accept();
        });
    }

    void close()
    {
        closed_ = true;
        error_code ignored;
        retry_.cancel();
        acceptor_.close(ignored);
        for (auto& weak : connections_)
            if (auto connection = weak.lock())
                connection->close();
        connections_.clear();
    }

    std::string endpoint() const
    {
        const auto host = endpoint_.address().to_string();
        return (endpoint_.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(endpoint_.port());
    }

    std::string what_;
    logging::Logger& log_;
    std::atomic<uint16_t> port_{0};
    std::shared_ptr<std::atomic<size_t>> open_ = std::make_shared<std::atomic<size_t>>(0);

private:
    // Takes a new connection, first making room under the cap: the oldest connection still
    // waiting for its request goes (a probe asks at once, a slow client never finishes).
    void admit(tcp::socket socket)
    {
        connections_.remove_if([](const auto& weak) { return weak.expired(); });
        if (connections_.size() >= limits_.maxConnections) {
            auto oldest = std::find_if(connections_.begin(), connections_.end(), [](const auto& weak) {
                auto connection = weak.lock();
                return connection && connection->waitingForRequest();
            });
            if (oldest == connections_.end()) {
                error_code ignored;
                socket.close(ignored);
                return;
            }
            oldest->lock()->close();
            connections_.erase(oldest);
        }
        auto connection = std::make_shared<HttpConnection>(std::move(socket), routes_, limits_, open_);
        connections_.push_back(connection);
        connection->start();
    }

    HttpLimits limits_;
    std::shared_ptr<const HttpRoutes> routes_;
    tcp::endpoint endpoint_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_;
    std::list<std::weak_ptr<HttpConnection>> connections_;
    bool closed_ = false;
};

HttpListener::HttpListener(HttpLoop& loop, std::string what, const config::BindAddress& address, HttpRoutes routes,
                           logging::Logger& log, OnBindFailure onFailure, HttpLimits limits)
    : loop_(loop),
      state_(std::make_shared<State>(loop.context(), std::move(what), address, std::move(routes), log, limits))
{
    error_code ec;
    const bool bound = state_->bind(ec);
    if (!bound) {
        const bool retry = onFailure == OnBindFailure::Retry;
        log.error(state_->what_ + " server: cannot listen on " + state_->endpoint() + " (" + ec.message() + ")" +
                  (retry ? "; retrying every 5s" : ""));
        if (!retry)
            return;
    }
    asio::post(loop_.context(), [state = state_, bound] { bound ? state->accept() : state->retryBind(); });
}

HttpListener::~HttpListener()
{
    try {
        if (loop_.context().get_executor().running_in_this_thread()) {
            state_->close();
            return;
        }
        std::promise<void> closed;
        auto done = closed.get_future();
        asio::post(loop_.context(), [state = state_, &closed] {
            state->close();
            closed.set_value();
        });
        done.wait();
    } catch (...) {
        // Nothing here throws in practice (closing takes error codes; only the promise's own
        // bookkeeping could): the port would then close when the loop stops.
    }
}

uint16_t HttpListener::port() const
{
    return state_->port_.load();
}

size_t HttpListener::connections() const
{
    return state_->open_->load();
}

}  // namespace kipvs::status
