// SPDX-License-Identifier: Apache-2.0
// HTTPS to the API server on Beast (see api_connection.h).
#include "watch/api_connection.h"

#include <limits>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/inet_address.h"

namespace kipvs::watch {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::redirect_error;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

struct ApiConnection::Transport {
    explicit Transport(asio::io_context& io) : tcp(io) {}
    beast::tcp_stream tcp;
    std::unique_ptr<ssl::context> context;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream&>> tls;
    beast::flat_buffer buffer;
    bool open = false;

    beast::tcp_stream& lowest() { return tcp; }
    template <typename Operation>
    asio::awaitable<void> run(Operation operation);
};

namespace {

tl::unexpected<Error> netError(const char* operation, const std::string& object, const beast::error_code& ec,
                               const std::string& detail = {})
{
    int code = ec.category() == beast::system_category() || ec.category() == asio::error::get_system_category()
                   ? ec.value()
                   : EIO;
    if (ec == beast::error::timeout)
        code = ETIMEDOUT;
    std::string text = ec.message();
    if (!detail.empty())
        text += ": " + detail;
    return fail(Error::Domain::System, code, operation, object, text);
}

std::optional<std::chrono::seconds> parseRetryAfter(beast::string_view value)
{
    if (value.empty() || value.size() > 6)
        return std::nullopt;
    unsigned seconds = 0;
    for (char c : value) {
        if (c < '0' || c > '9')
            return std::nullopt;  // an HTTP date: treat as absent
        seconds = seconds * 10 + static_cast<unsigned>(c - '0');
    }
    return std::chrono::seconds(seconds);
}

bool isIpAddress(const std::string& host)
{
    return InetAddress::parse(host).has_value();
}

// The status and Retry-After of a response whose header has been read.
template <typename Message>
HttpResponse statusOf(const Message& message)
{
    HttpResponse response;
    response.status = message.result_int();
    response.retryAfter = parseRetryAfter(message[http::field::retry_after]);
    return response;
}

}  // namespace

ApiConnection::ApiConnection(asio::io_context& io, ClusterAccess access, CredentialSource& credentials,
                             ConnectionOptions options)
    : io_(io), access_(std::move(access)), credentials_(credentials), options_(std::move(options))
{}

ApiConnection::~ApiConnection() = default;

void ApiConnection::close()
{
    if (!transport_)
        return;
    beast::error_code ignored;
    transport_->tcp.socket().shutdown(tcp::socket::shutdown_both, ignored);
    transport_->tcp.socket().close(ignored);
    transport_->open = false;
}

asio::awaitable<Result<void>> ApiConnection::connect()
{
    const std::string object = access_.server.hostHeader();
    transport_ = std::make_unique<Transport>(io_);
    beast::error_code ec;

    tcp::resolver resolver(io_);
    auto endpoints =
        co_await resolver.async_resolve(access_.server.host, access_.server.port, redirect_error(use_awaitable, ec));
    if (ec)
        co_return netError("resolve API server", object, ec);
    transport_->tcp.expires_after(options_.connectTimeout);
    co_await transport_->tcp.async_connect(endpoints, redirect_error(use_awaitable, ec));
    if (ec)
        co_return netError("connect to API server", object, ec);
    transport_->tcp.socket().set_option(tcp::no_delay(true), ec);
    transport_->tcp.socket().set_option(asio::socket_base::keep_alive(true), ec);

    if (access_.server.tls) {
        auto credential = credentials_.current();
        if (!credential)
            co_return tl::unexpected(credential.error());
        auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
        // TLS 1.2 or newer only.
        SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
        if (!access_.caPem.empty()) {
            context->add_certificate_authority(asio::buffer(access_.caPem), ec);
            if (ec)
                co_return netError("load the API server's CA", access_.source, ec);
        } else {
            context->set_default_verify_paths(ec);
        }
        if (!credential->clientCertPem.empty()) {
            context->use_certificate_chain(asio::buffer(credential->clientCertPem), ec);
            if (!ec)
                context->use_private_key(asio::buffer(credential->clientKeyPem), ssl::context::pem, ec);
            if (ec)
                co_return netError("load the client certificate", access_.source, ec);
        }
        const std::string name = access_.tlsServerName.empty() ? access_.server.host : access_.tlsServerName;
        if (access_.insecureSkipVerify) {
            context->set_verify_mode(ssl::verify_none);
        } else {
            context->set_verify_mode(ssl::verify_peer);
            context->set_verify_callback(ssl::host_name_verification(name));
        }
        transport_->context = std::move(context);
        transport_->tls =
            std::make_unique<beast::ssl_stream<beast::tcp_stream&>>(transport_->tcp, *transport_->context);
        // SNI carries names only, never addresses (RFC 6066).
        if (!isIpAddress(name))
            SSL_set_tlsext_host_name(transport_->tls->native_handle(), name.c_str());
        transport_->tcp.expires_after(options_.connectTimeout);
        co_await transport_->tls->async_handshake(ssl::stream_base::client, redirect_error(use_awaitable, ec));
        if (ec) {
            long verify = SSL_get_verify_result(transport_->tls->native_handle());
            std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "";
            if (verify == X509_V_OK && ERR_GET_REASON(ec.value()) == SSL_R_CERTIFICATE_VERIFY_FAILED)
                why = "certificate does not match '" + name + "'";
            co_return netError("TLS handshake with API server", object, ec, why);
        }
    }
    transport_->open = true;
    co_return Result<void>{};
}

asio::awaitable<Result<HttpResponse>>
ApiConnection::stream(std::string target, std::function<Result<void>(std::string_view)> onBytes, BodyKind kind)
{
    const std::string object = access_.server.hostHeader() + target.substr(0, target.find('?'));
    if (auto sent = co_await send(std::move(target), object); !sent)
        co_return tl::unexpected(sent.error());
    co_return co_await readStream(object, onBytes, kind);
}

// Runs `operation(stream)` (a coroutine) on the TLS stream, or on plain TCP for an http:// server.
template <typename Operation>
asio::awaitable<void> ApiConnection::Transport::run(Operation operation)
{
    if (tls)
        co_await operation(*tls);
    else
        co_await operation(tcp);
}

// Connects if needed and writes the GET with the current credential.
asio::awaitable<Result<void>> ApiConnection::send(std::string target, const std::string& object)
{
    if (!transport_ || !transport_->open) {
        auto connected = co_await connect();
        if (!connected)
            co_return tl::unexpected(connected.error());
    }
    auto credential = credentials_.current();
    if (!credential)
        co_return tl::unexpected(credential.error());
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, access_.server.hostHeader());
    request.set(http::field::user_agent, options_.userAgent);
    request.set(http::field::accept, "application/json");
    if (!credential->token.empty())
        request.set(http::field::authorization, "Bearer " + credential->token);
    request.keep_alive(true);
    beast::error_code ec;
    transport_->tcp.expires_after(options_.requestTimeout);
    co_await transport_->run([&](auto& stream) -> asio::awaitable<void> {
        co_await http::async_write(stream, request, redirect_error(use_awaitable, ec));
    });
    if (ec) {
        close();
        co_return netError("send request to API server", object, ec);
    }
    co_return Result<void>{};
}

asio::awaitable<Result<HttpResponse>>
ApiConnection::readStream(const std::string& object, const std::function<Result<void>(std::string_view)>& onBytes,
                          BodyKind kind)
{
    const auto pause = kind == BodyKind::List ? options_.progressTimeout : options_.idleTimeout;
    size_t total = 0;
    beast::error_code ec;
    http::response_parser<http::buffer_body> parser;
    // A watch streams for as long as the server keeps it open. Not boost::none: Beast 1.74 then
    // refuses every body with a Content-Length (it compares `length > none`).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    co_await transport_->run([&](auto& stream) -> asio::awaitable<void> {
        co_await http::async_read_header(stream, transport_->buffer, parser, redirect_error(use_awaitable, ec));
    });
    if (ec) {
        close();
        co_return netError("read response from API server", object, ec);
    }
    HttpResponse response = statusOf(parser.get());
    std::string piece(size_t{64} * 1024, '\0');
    while (!parser.is_done()) {
        parser.get().body().data = piece.data();
        parser.get().body().size = piece.size();
        transport_->tcp.expires_after(pause);
        // Returns as soon as some body bytes arrived: a watch event must not wait for a full buffer.
        co_await transport_->run([&](auto& stream) -> asio::awaitable<void> {
            co_await http::async_read_some(stream, transport_->buffer, parser, redirect_error(use_awaitable, ec));
        });
        if (ec == http::error::need_buffer)
            ec = {};
        if (ec) {
            close();
            const bool list = kind == BodyKind::List;
            if (ec == beast::error::timeout)
                co_return fail(Error::Domain::System, ETIMEDOUT, list ? "read response from API server" : "watch",
                               object,
                               (list ? "no progress for " : "no data for ") + std::to_string(pause.count()) + " s");
            co_return netError(list ? "read response from API server" : "read watch stream", object, ec);
        }
        const size_t got = piece.size() - parser.get().body().size;
        total += got;
        if (kind == BodyKind::List && total > options_.maxBodyBytes) {
            close();
            co_return fail(Error::Domain::System, EFBIG, "read response from API server", object,
                           "body larger than " + std::to_string(options_.maxBodyBytes) + " bytes");
        }
        if (response.status != 200) {
            if (response.body.size() < (1u << 20))
                response.body.append(piece.data(), got);
            continue;
        }
        if (got > 0) {
            if (auto consumed = onBytes(std::string_view(piece.data(), got)); !consumed) {
                close();
                co_return tl::unexpected(consumed.error());
            }
        }
    }
    if (!parser.keep_alive())
        close();
    co_return response;
}

}  // namespace kipvs::watch
