// SPDX-License-Identifier: Apache-2.0
// Strict parsing and canonical printing of IP addresses.
#include "base/inet_address.h"

#include <algorithm>

#include <arpa/inet.h>

namespace kipvs {

namespace {

// Four decimal fields of 1-3 digits each, value <= 255. inet_pton rejects leading zeros and
// inet_aton reads them as octal; the API server's legacy rule reads them as decimal.
std::optional<std::array<uint8_t, 4>> parseDottedQuad(std::string_view text)
{
    std::array<uint8_t, 4> out{};
    size_t field = 0, digits = 0;
    unsigned value = 0;
    for (char c : text) {
        if (c >= '0' && c <= '9') {
            if (++digits > 3)
                return std::nullopt;
            value = value * 10 + static_cast<unsigned>(c - '0');
        } else if (c == '.') {
            if (digits == 0 || value > 255 || field == 3)
                return std::nullopt;
            out[field++] = static_cast<uint8_t>(value);
            digits = 0;
            value = 0;
        } else {
            return std::nullopt;
        }
    }
    if (field != 3 || digits == 0 || value > 255)
        return std::nullopt;
    out[3] = static_cast<uint8_t>(value);
    return out;
}

}  // namespace

std::optional<InetAddress> InetAddress::parse(std::string_view text)
{
    if (text.empty() || text.size() > INET6_ADDRSTRLEN)
        return std::nullopt;
    if (text.find(':') == std::string_view::npos) {
        auto quad = parseDottedQuad(text);
        if (!quad)
            return std::nullopt;
        return v4(*quad);
    }
    // A zone ("fe80::1%eth0") is not an address the API accepts.
    std::string copy(text);
    std::array<uint8_t, 16> bytes{};
    if (inet_pton(AF_INET6, copy.c_str(), bytes.data()) != 1)
        return std::nullopt;
    return v6(bytes);
}

InetAddress InetAddress::v4(const std::array<uint8_t, 4>& bytes)
{
    InetAddress a;
    a.family_ = AF_INET;
    std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
    return a;
}

InetAddress InetAddress::v4(uint32_t hostOrder)
{
    return v4({static_cast<uint8_t>(hostOrder >> 24), static_cast<uint8_t>(hostOrder >> 16),
               static_cast<uint8_t>(hostOrder >> 8), static_cast<uint8_t>(hostOrder)});
}

InetAddress InetAddress::v6(const std::array<uint8_t, 16>& bytes)
{
    InetAddress a;
    a.family_ = AF_INET6;
    a.bytes_ = bytes;
    return a;
}

bool InetAddress::isUnspecified() const
{
    for (size_t i = 0; i < size(); ++i)
        if (bytes_[i] != 0)
            return false;
    return !empty();
}

bool InetAddress::isLoopback() const
{
    if (isV4())
        return bytes_[0] == 127;
    if (isV6()) {
        for (size_t i = 0; i < 15; ++i)
            if (bytes_[i] != 0)
                return false;
        return bytes_[15] == 1;
    }
    return false;
}

bool InetAddress::isLinkLocal() const
{
    if (isV4())
        return bytes_[0] == 169 && bytes_[1] == 254;
    if (isV6())
        return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
    return false;
}

std::optional<Cidr> Cidr::parse(std::string_view text)
{
    auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return std::nullopt;
    auto address = InetAddress::parse(text.substr(0, slash));
    auto bits = text.substr(slash + 1);
    if (!address || bits.empty() || bits.size() > 3)
        return std::nullopt;
    unsigned prefix = 0;
    for (char c : bits) {
        if (c < '0' || c > '9')
            return std::nullopt;
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
    }
    if (prefix > static_cast<unsigned>(address->hostPrefixLength()))
        return std::nullopt;
    return Cidr{*address, static_cast<uint8_t>(prefix)};
}

std::string Cidr::toString() const
{
    return address.toString() + "/" + std::to_string(prefixLength);
}

Cidr Cidr::network() const
{
    std::array<uint8_t, 16> bytes{};
    for (size_t i = 0; i < address.size(); ++i) {
        const int bits = std::clamp(static_cast<int>(prefixLength) - static_cast<int>(i) * 8, 0, 8);
        bytes[i] = address.data()[i] & static_cast<uint8_t>(0xff << (8 - bits));
    }
    InetAddress masked = address.isV4()
                             ? InetAddress::v4(std::array<uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]})
                             : InetAddress::v6(bytes);
    return Cidr{masked, prefixLength};
}

bool Cidr::contains(const InetAddress& a) const
{
    if (a.family() != address.family())
        return false;
    int bits = prefixLength;
    for (size_t i = 0; i < a.size() && bits > 0; ++i, bits -= 8) {
        const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
        if ((a.data()[i] & mask) != (address.data()[i] & mask))
            return false;
    }
    return true;
}

std::string InetAddress::toString() const
{
    if (empty())
        return "";
    char text[INET6_ADDRSTRLEN];
    // glibc's inet_ntop prints RFC 5952 form (lower case, longest zero run compressed).
    inet_ntop(family_, bytes_.data(), text, sizeof text);
    return text;
}

}  // namespace kipvs
