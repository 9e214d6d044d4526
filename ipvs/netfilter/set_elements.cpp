// SPDX-License-Identifier: Apache-2.0
// The sets' elements as kernel keys (see set_elements.h).
#include "ipvs/netfilter/set_elements.h"

#include <algorithm>
#include <array>

namespace kipvs::ipvs {

namespace {

// One field of a key. A field of a concatenation takes whole 4-byte registers.
enum class Layout { Alone, Concatenated };

void appendField(std::string& key, const uint8_t* bytes, size_t size, Layout layout)
{
    key.append(reinterpret_cast<const char*>(bytes), size);
    if (layout == Layout::Concatenated)
        key.append((4 - size % 4) % 4, '\0');
}

void appendAddress(std::string& key, const InetAddress& address)
{
    appendField(key, address.data(), address.isV6() ? 16 : 4, Layout::Concatenated);  // 4 or 16: no padding
}

void appendPort(std::string& key, uint16_t port, Layout layout)
{
    const std::array<uint8_t, 2> bytes{static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
    appendField(key, bytes.data(), bytes.size(), layout);
}

// address . inet_proto . inet_service
std::string serviceKey(const IpPort& e)
{
    std::string key;
    appendAddress(key, e.address);
    const auto protocol = static_cast<uint8_t>(e.protocol);
    appendField(key, &protocol, 1, Layout::Concatenated);
    appendPort(key, e.port, Layout::Concatenated);
    return key;
}

// The last address of `range`: its network with every host bit set.
InetAddress lastAddress(const Cidr& range)
{
    const InetAddress first = range.network().address;
    std::array<uint8_t, 16> bytes{};
    const size_t size = first.isV6() ? 16 : 4;
    std::copy_n(first.data(), size, bytes.begin());
    for (size_t bit = range.prefixLength; bit < size * 8; ++bit)
        bytes[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    if (first.isV6())
        return InetAddress::v6(bytes);
    return InetAddress::v4(std::array<uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]});
}

SetElement allowedSourceElement(const std::pair<IpPort, Cidr>& e)
{
    SetElement element{serviceKey(e.first), serviceKey(e.first)};
    appendAddress(element.key, e.second.network().address);
    appendAddress(element.keyEnd, lastAddress(e.second));
    return canonicalElement(std::move(element));
}

// The members of `values` in the family that the set's "-v4"/"-v6" suffix names.
template <typename T, typename Family, typename Encode>
void addOfFamily(SetElements& out, const std::string& name, const ElementSet<T>& values, Family family, Encode encode)
{
    const int wanted = name.ends_with("-v6") ? AF_INET6 : AF_INET;
    for (const auto& v : values)
        if (family(v) == wanted)
            out.push_back(encode(v));
}

}  // namespace

SetElement canonicalElement(SetElement element)
{
    if (element.keyEnd == element.key)
        element.keyEnd.clear();
    return element;
}

SetElements setElementsOf(const std::string& name, const FirewallSets& sets)
{
    const FirewallSets member = memberFor(sets, name);
    SetElements out;
    const auto ofService = [](const IpPort& e) { return e.address.family(); };
    const auto service = [](const IpPort& e) { return SetElement{serviceKey(e), {}}; };
    for (const auto* values :
         {&member.clusterIPs, &member.external, &member.localPolicy, &member.loadBalancers, &member.firewalled})
        addOfFamily(out, name, *values, ofService, service);
    addOfFamily(out, name, member.hairpin, ofService, [](const IpPort& e) {
        SetElement element{serviceKey(e), {}};
        appendAddress(element.key, e.address);
        return element;
    });
    addOfFamily(
        out, name, member.allowedSources, [](const auto& e) { return e.first.address.family(); }, allowedSourceElement);
    addOfFamily(
        out, name, member.serviceAddresses, [](const InetAddress& a) { return a.family(); },
        [](const InetAddress& a) {
            SetElement element;
            appendAddress(element.key, a);
            return element;
        });
    for (uint16_t port : member.healthCheckPorts) {
        SetElement element;
        appendPort(element.key, port, Layout::Alone);
        out.push_back(std::move(element));
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool hasRanges(const std::string& name)
{
    return name.starts_with("allowed-sources-");
}

std::optional<IpPort> decodeServiceElement(const SetElement& element)
{
    const std::string& key = element.key;
    if (!element.keyEnd.empty() || (key.size() != 12 && key.size() != 24))
        return std::nullopt;
    const size_t size = key.size() - 8;
    const auto* bytes = reinterpret_cast<const uint8_t*>(key.data());
    IpPort out;
    if (size == 4) {
        out.address = InetAddress::v4(std::array<uint8_t, 4>{bytes[0], bytes[1], bytes[2], bytes[3]});
    } else {
        std::array<uint8_t, 16> v6{};
        std::copy_n(bytes, 16, v6.begin());
        out.address = InetAddress::v6(v6);
    }
    const uint8_t protocol = bytes[size];
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP && protocol != IPPROTO_SCTP)
        return std::nullopt;
    out.protocol = static_cast<Protocol>(protocol);
    out.port = static_cast<uint16_t>(bytes[size + 4] << 8 | bytes[size + 5]);
    return out;
}

}  // namespace kipvs::ipvs
