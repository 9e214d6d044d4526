// SPDX-License-Identifier: Apache-2.0
// IPv4 and IPv6 addresses held in binary, parsed strictly, printed canonically.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace kipvs {

class InetAddress {
public:
    InetAddress() = default;

    // Strict parse: dotted quad (leading zeros read as decimal, never octal, as the API
    // server's legacy rule) or RFC 4291 IPv6 text. Anything else is nullopt.
    static std::optional<InetAddress> parse(std::string_view text);
    static InetAddress v4(const std::array<uint8_t, 4>& bytes);
    static InetAddress v6(const std::array<uint8_t, 16>& bytes);
    static InetAddress v4(uint32_t hostOrder);

    int family() const { return family_; }  // AF_INET, AF_INET6, or AF_UNSPEC when empty
    bool isV4() const { return family_ == AF_INET; }
    bool isV6() const { return family_ == AF_INET6; }
    bool empty() const { return family_ == AF_UNSPEC; }
    // The address bytes in network order: 4 for IPv4, 16 for IPv6.
    const uint8_t* data() const { return bytes_.data(); }
    size_t size() const { return isV4() ? 4 : isV6() ? 16 : 0; }
    // Prefix length of a host route: 32 or 128.
    int hostPrefixLength() const { return isV4() ? 32 : 128; }
    bool isLoopback() const;
    bool isLinkLocal() const;
    bool isUnspecified() const;  // 0.0.0.0 or ::

    // Canonical text: dotted quad, or RFC 5952 compressed IPv6.
    std::string toString() const;

    auto operator<=>(const InetAddress&) const = default;
    bool operator==(const InetAddress&) const = default;

private:
    // One byte, not an int: 17 bytes in all, so IpPort, RealServer and VirtualServerKey (held
    // 100,000s of times, and in map nodes) shrink by the int's padding.
    uint8_t family_ = AF_UNSPEC;
    std::array<uint8_t, 16> bytes_{};  // IPv4 uses the first 4
};

// An address range: "10.96.0.0/12", "fd00::/108".
static_assert(sizeof(InetAddress) == 17);

struct Cidr {
    InetAddress address;
    uint8_t prefixLength = 0;

    // Strict: an address as InetAddress::parse takes it, a slash, a prefix length within the
    // family's bits. Host bits may be set ("10.0.0.1/8"), as the API allows.
    static std::optional<Cidr> parse(std::string_view text);
    bool contains(const InetAddress& a) const;
    Cidr network() const;  // the host bits cleared: "10.0.0.0/8"
    std::string toString() const;  // as given: "10.0.0.1/8"
    auto operator<=>(const Cidr&) const = default;
    bool operator==(const Cidr&) const = default;
};

}  // namespace kipvs

template <>
struct std::hash<kipvs::InetAddress> {
    size_t operator()(const kipvs::InetAddress& a) const noexcept
    {
        size_t h = static_cast<size_t>(a.family());
        for (size_t i = 0; i < a.size(); ++i)
            h = h * 131 + a.data()[i];
        return h;
    }
};
