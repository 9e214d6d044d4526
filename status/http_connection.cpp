// SPDX-License-Identifier: Apache-2.0
// One bounded HTTP connection (see http_connection.h).
#include "status/http_connection.h"

#include <string>
#include <string_view>
#include <utility>

namespace kipvs::status {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

HttpConnection::HttpConnection(asio::ip::tcp::socket socket, std::shared_ptr<const HttpRoutes> routes,
                               const HttpLimits& limits, std::shared_ptr<std::atomic<size_t>> open)
    : stream_(std::move(socket)),
      buffer_(limits.headerBytes),
      routes_(std::move(routes)),
      limits_(limits),
      open_(std::move(open))
{
    ++*open_;
}

HttpConnection::~HttpConnection()
{
    if (!closed_)
        --*open_;
}

void HttpConnection::start()
{
    readRequest();
}

void HttpConnection::close()
{
    // A closed connection stops counting at once, not when its last handler has run: the cap
    // then holds at every moment, even while the loop is busy.
    if (closed_)
        return;
    closed_ = true;
    --*open_;
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
}

void HttpConnection::readRequest()
{
    waiting_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.headerBytes));
    // One deadline for the whole header, not an idle timeout: trickling bytes does not extend it.
    stream_.expires_after(limits_.requestTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->onHeader(ec); });
}

void HttpConnection::onHeader(beast::error_code ec)
{
    if (closed_)
        return;
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        refuse(http::status::request_header_fields_too_large, "request headers too large");
        return;
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
        close();
        return;
    }
    if (ec) {
        refuse(http::status::bad_request, "malformed request");
        return;
    }
    const auto& request = parser_->get();
    // Every route is GET-only: a body is never read, whatever its size.
    if (!parser_->is_done()) {
        refuse(http::status::payload_too_large, "request bodies are not accepted");
        return;
    }
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
        Response response{http::status::method_not_allowed, request.version()};
        response.set(http::field::allow, "GET, HEAD");
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.body() = "method not allowed\n";
        response.prepare_payload();
        send(std::move(response), AfterAnswer::Close);
        return;
    }
    send(answerTo(request), request.keep_alive() ? AfterAnswer::KeepOpen : AfterAnswer::Close);
}

HttpConnection::Response HttpConnection::answerTo(const http::request<http::empty_body>& request) const
{
    std::string_view path(request.target().data(), request.target().size());
    path = path.substr(0, path.find('?'));
    std::optional<HttpAnswer> answer;
    try {
        answer = (*routes_)(path);
    } catch (const std::exception&) {
        // A route that fails (out of memory, text it cannot encode) answers 500, never ends the loop.
        answer = HttpAnswer{
            .status = 500, .contentType = "text/plain; charset=utf-8", .body = "internal error\n", .headers = {}};
    }
    Response response{answer ? static_cast<http::status>(answer->status) : http::status::not_found, request.version()};
    response.set(http::field::content_type, answer ? answer->contentType : "text/plain; charset=utf-8");
    if (answer) {
        for (const auto& [name, value] : answer->headers)
            response.set(name, value);
        response.body() = answer->body;
    } else {
        response.body() = "404 page not found\n";
    }
    response.prepare_payload();
    // HEAD: the length of what GET would send, and no body.
    if (request.method() == http::verb::head)
        response.body().clear();
    return response;
}

void HttpConnection::refuse(http::status status, const char* reason)
{
    Response response{status, 11};
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = std::string(reason) + "\n";
    response.prepare_payload();
    send(std::move(response), AfterAnswer::Close);
}

void HttpConnection::send(Response response, AfterAnswer after)
{
    waiting_ = false;
    response_ = std::move(response);
    response_.keep_alive(after == AfterAnswer::KeepOpen);
    stream_.expires_after(limits_.writeTimeout);
    http::async_write(stream_, response_, [self = shared_from_this(), after](beast::error_code ec, size_t) {
        if (self->closed_)
            return;
        if (ec || after == AfterAnswer::Close) {
            self->close();
            return;
        }
        self->readRequest();
    });
}

}  // namespace kipvs::status
