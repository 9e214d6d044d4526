// SPDX-License-Identifier: Apache-2.0
// One accepted HTTP connection of an HttpListener, on the HttpLoop's thread: reads requests with
// a header budget and a deadline, answers GET and HEAD from the routes, refuses any body, and
// closes on the first thing it does not like. Internal to status/.
#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "base/asio.h"
#include "status/http_listener.h"

namespace kipvs::status {

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
public:
    // `open` counts the listener's open connections: this one adds itself until destroyed.
    HttpConnection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const HttpRoutes> routes,
                   const HttpLimits& limits, std::shared_ptr<std::atomic<size_t>> open);
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    void start();
    // Closes the socket; pending reads and writes end, and no route runs for it any more.
    void close();
    // Whether it is waiting for (the rest of) a request rather than writing an answer.
    bool waitingForRequest() const { return waiting_; }

private:
    enum class AfterAnswer { KeepOpen, Close };
    using Response = boost::beast::http::response<boost::beast::http::string_body>;

    void readRequest();
    void onHeader(boost::beast::error_code ec);
    Response answerTo(const boost::beast::http::request<boost::beast::http::empty_body>& request) const;
    void refuse(boost::beast::http::status status, const char* reason);
    void send(Response response, AfterAnswer after);

    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> parser_;
    Response response_;
    std::shared_ptr<const HttpRoutes> routes_;
    HttpLimits limits_;
    std::shared_ptr<std::atomic<size_t>> open_;
    bool waiting_ = true;
    bool closed_ = false;
};

}  // namespace kipvs::status
