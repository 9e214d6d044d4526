// SPDX-License-Identifier: Apache-2.0
// The nftables table rendered as nft text from the wanted sets (see firewall.h).
#include "ipvs/netfilter/firewall.h"

#include <cctype>

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
#include <map>

namespace kipvs::ipvs {

namespace {

// nft spells protocols in lower case: "tcp".
std::string protoName(Protocol p)
{
    std::string name = protocolName(p);
    for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

std::string element(const IpPort& e)
{
    return e.address.toString() + " . " + protoName(e.protocol) + " . " + std::to_string(e.port);
}

// "198.51.100.0/24" with the host bits cleared (the API allows "198.51.100.7/24"; nft does not).
std::string network(const Cidr& c)
{
    return c.network().toString();
}

const char* suffix(int family)
{
    return family == AF_INET6 ? "v6" : "v4";
}

std::pair<int, std::string> hairpinElement(const IpPort& e)
{
    return {e.address.family(), element(e) + " . " + e.address.toString()};
}

std::pair<int, std::string> allowedSourceElement(const std::pair<IpPort, Cidr>& e)
{
    return {e.first.address.family(), element(e.first) + " . " + network(e.second)};
}

// Set name and elements for each family: the full table's content, and what verification compares.
using Elements = std::map<std::string, std::set<std::string>>;

template <typename T, typename F>
void addByFamily(Elements& out, const std::string& name, const ElementSet<T>& values, F familyAndText)
{
    out[name + "-v4"];
    out[name + "-v6"];
    for (const auto& v : values) {
        auto [family, text] = familyAndText(v);
        out[name + "-" + suffix(family)].insert(text);
    }
}

Elements elementsOf(const FirewallSets& s)
{
    Elements out;
    auto ipPort = [](const IpPort& e) { return std::pair{e.address.family(), element(e)}; };
    addByFamily(out, "cluster-ips", s.clusterIPs, ipPort);
    addByFamily(out, "external", s.external, ipPort);
    addByFamily(out, "local-policy", s.localPolicy, ipPort);
    addByFamily(out, "load-balancers", s.loadBalancers, ipPort);
    addByFamily(out, "firewalled", s.firewalled, ipPort);
    addByFamily(out, "hairpin", s.hairpin, hairpinElement);
    addByFamily(out, "allowed-sources", s.allowedSources, allowedSourceElement);
    addByFamily(out, "service-addresses", s.serviceAddresses, [](const InetAddress& a) {
        return std::pair{a.family(), a.toString()};
    });
    auto& ports = out["health-check-ports"];
    for (auto p : s.healthCheckPorts)
        ports.insert(std::to_string(p));
    return out;
}

std::string hex(uint32_t value)
{
    char text[16];
    std::snprintf(text, sizeof text, "0x%x", value);
    return text;
}

// The set declarations of one family.
std::string setDeclarations(int family)
{
    const std::string addr = family == AF_INET6 ? "ipv6_addr" : "ipv4_addr";
    const std::string s = suffix(family);
    const std::string service = addr + " . inet_proto . inet_service";
    std::string out;
    for (const char* name : {"cluster-ips", "external", "local-policy", "load-balancers", "firewalled"})
        out += "  set " + std::string(name) + "-" + s + " { type " + service + "; }\n";
    out += "  set hairpin-" + s + " { type " + service + " . " + addr + "; }\n";
    out += "  set allowed-sources-" + s + " { type " + service + " . " + addr + "; flags interval; }\n";
    out += "  set service-addresses-" + s + " { type " + addr + "; }\n";
    out += "  set service-ranges-" + s + " { type " + addr + "; flags interval; }\n";
    return out;
}

// The rule that masquerades ClusterIP traffic not from this node's pods (kube-proxy's
// KUBE-SERVICES rule for KUBE-CLUSTER-IP).
std::string clusterIpMasquerade(const FirewallConfig& config, const std::string& ip)
{
    const std::string s = ip == "ip6" ? "v6" : "v4";
    const std::string toClusterIp = ip + " daddr . meta l4proto . th dport @cluster-ips-" + s;
    const std::string masquerade = " jump mark-for-masquerade";
    if (config.masqueradeAll)
        return toClusterIp + masquerade;
    const auto& local = config.local;
    if (local.match == LocalTraffic::Match::InputInterface)
        return "iifname != \"" + local.interface + "\" " + toClusterIp + masquerade;
    for (const auto& c : local.cidrs)
        if ((c.address.family() == AF_INET6) == (s == "v6"))
            return ip + " saddr != " + network(c) + " " + toClusterIp + masquerade;
    // No detector for this family: traffic sourced from a service address, as kube-proxy.
    return ip + " saddr . meta l4proto . th dport @cluster-ips-" + s + masquerade;
}

// Rules that give service traffic an identity DNAT binding. The kernel runs a hook's nat chains
// in priority order and stops at the first that binds the connection, so a later DNAT (a pod's
// hostPort on a ClusterIP's port: CNI-HOSTPORT-DNAT) can no longer take it, as kube-proxy's
// KUBE-SERVICES -j ACCEPT does (kubernetes #61938). IPVS still sees the service address.
std::string keepServiceDestination()
{
    std::string out;
    for (const std::string ip : {"ip", "ip6"}) {
        const std::string s = ip == "ip6" ? "v6" : "v4";
        const std::string key = ip + " daddr . meta l4proto . th dport";
        const std::string keep = " dnat " + ip + " to " + ip + " daddr\n";
        out += "    " + key + " @cluster-ips-" + s + keep;
        out += "    " + key + " @load-balancers-" + s + keep;
        // External IPs (on kube-ipvs0), not the NodePorts on the node's own addresses.
        out += "    " + ip + " daddr @service-addresses-" + s + " " + key + " @external-" + s + keep;
        out += "    " + ip + " daddr @service-ranges-" + s + " " + key + " @external-" + s + keep;
    }
    return out;
}

// add element commands for one set, in chunks so the whole table's 10,000s of elements stay
// commands of reasonable size.
void addElements(std::string& out, const std::string& set, const std::vector<std::string>& items)
{
    for (size_t i = 0; i < items.size(); i += 1000) {
        out += "add element inet kube-ipvsd " + set + " { ";
        for (size_t j = i; j < std::min(items.size(), i + 1000); ++j)
            out += (j > i ? ", " : "") + items[j];
        out += " }\n";
    }
}

}  // namespace

std::string renderFirewall(const FirewallConfig& config, const FirewallSets& sets)
{
    const std::string mark = hex(config.masqueradeMark);
    std::string t;
    t += "add table inet kube-ipvsd\ndelete table inet kube-ipvsd\n";
    t += "table inet kube-ipvsd {\n";
    t += setDeclarations(AF_INET) + setDeclarations(AF_INET6);
    t += "  set health-check-ports { type inet_service; }\n";

    t += "  chain mark-for-masquerade {\n    meta mark set meta mark | " + mark + "\n  }\n";
    // The first packet of each connection, before IPVS (which runs at LOCAL_IN and in OUTPUT).
    t += "  chain services {\n";
    t += "    ip saddr 127.0.0.0/8 return\n    ip6 saddr ::1 return\n";
    for (const char* ip : {"ip", "ip6"}) {
        const std::string s = std::string(ip) == "ip6" ? "v6" : "v4";
        const std::string key = std::string(ip) + " daddr . meta l4proto . th dport";
        t += "    " + key + " @local-policy-" + s + " return\n";
        t += "    " + key + " @external-" + s + " jump mark-for-masquerade\n";
        t += "    " + clusterIpMasquerade(config, ip) + "\n";
    }
    t += "  }\n";
    // Before every other nat chain (iptables-nft's and the CNI portmap plugin's run at -100):
    // the identity binding keeps them from DNATing service traffic (see keepServiceDestination).
    for (const char* hook : {"prerouting", "output"})
        t += std::string("  chain nat-") + hook + " {\n    type nat hook " + hook +
             " priority -110; policy accept;\n    jump services\n" + keepServiceDestination() + "  }\n";
    t += "  chain nat-postrouting {\n    type nat hook postrouting priority 100; policy accept;\n";
    t += "    ip daddr . meta l4proto . th dport . ip saddr @hairpin-v4 masquerade\n";
    t += "    ip6 daddr . meta l4proto . th dport . ip6 saddr @hairpin-v6 masquerade\n";
    t += "    meta mark & " + mark + " != " + mark + " return\n";
    t += "    meta mark set meta mark ^ " + mark + "\n";
    t += "    masquerade fully-random\n  }\n";
    // Before IPVS takes packets at LOCAL_IN (priority 98): source ranges, then host protection.
    // Inbound, forwarded and the node's own traffic to a firewalled load-balancer IP:port.
    const std::string firewalledJump = "    ip daddr . meta l4proto . th dport @firewalled-v4 jump source-ranges\n"
                                       "    ip6 daddr . meta l4proto . th dport @firewalled-v6 jump source-ranges\n";
    t += "  chain source-ranges {\n";
    t += "    ip daddr . meta l4proto . th dport . ip saddr @allowed-sources-v4 return\n";
    t += "    ip6 daddr . meta l4proto . th dport . ip6 saddr @allowed-sources-v6 return\n";
    t += "    drop\n  }\n";
    // The node's own connections: IPVS takes them in OUTPUT at priority -99, so they are
    // checked before that, while they still carry the load-balancer IP:port.
    t += "  chain filter-output {\n    type filter hook output priority -150; policy accept;\n";
    t += firewalledJump + "  }\n";
    t += "  chain host-protection {\n";
    for (const char* ip : {"ip", "ip6"}) {
        const std::string s = std::string(ip) == "ip6" ? "v6" : "v4";
        const std::string key = std::string(ip) + " daddr . meta l4proto . th dport";
        for (const char* set : {"cluster-ips", "external", "load-balancers"})
            t += "    " + key + " @" + set + "-" + s + " return\n";
    }
    t += "    th dport @health-check-ports return\n";
    t += "    meta l4proto tcp reject with tcp reset\n    reject\n  }\n";
    t += "  chain filter-input {\n    type filter hook input priority filter; policy accept;\n";
    t += firewalledJump;
    t += "    ct state new ip daddr @service-addresses-v4 jump host-protection\n";
    t += "    ct state new ip6 daddr @service-addresses-v6 jump host-protection\n";
    t += "    ct state new ip daddr @service-ranges-v4 jump host-protection\n";
    t += "    ct state new ip6 daddr @service-ranges-v6 jump host-protection\n";
    t += "    th dport @health-check-ports accept\n  }\n";
    t += "  chain filter-forward {\n    type filter hook forward priority filter; policy accept;\n";
    t += firewalledJump;
    t += "    meta mark & " + mark + " == " + mark + " accept\n";
    t += "    ct state related,established accept\n  }\n";
    t += "}\n";
    for (const auto& [set, items] : elementsOf(sets))
        addElements(t, set, {items.begin(), items.end()});
    std::map<std::string, std::vector<std::string>> ranges;
    for (const auto& range : config.serviceRanges)
        ranges[std::string("service-ranges-") + suffix(range.address.family())].push_back(network(range));
    for (const auto& [set, items] : ranges)
        addElements(t, set, items);
    return t;
}

std::map<std::string, size_t> rulesPerChainOf(const std::string& tableText)
{
    std::map<std::string, size_t> rules;
    size_t* chain = nullptr;
    size_t start = 0;
    while (start < tableText.size()) {
        size_t end = tableText.find('\n', start);
        end = end == std::string::npos ? tableText.size() : end;
        const std::string_view line(tableText.data() + start, end - start);
        start = end + 1;
        if (line.starts_with("  chain ") && line.ends_with(" {"))
            chain = &rules[std::string(line.substr(8, line.size() - 10))];
        else if (line == "  }")
            chain = nullptr;
        else if (chain && !line.starts_with("    type "))
            ++*chain;
    }
    return rules;
}

namespace {

// Up to this many elements a change goes in one at a time (each moves the vector's tail); a
// larger one (the first sync, a namespace deleted) is merged in one pass.
constexpr size_t kElementwiseChanges = 16;

template <typename T>
ElementSet<T> without(const ElementSet<T>& a, const ElementSet<T>& b)
{
    typename ElementSet<T>::sequence_type out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    ElementSet<T> set;
    set.adopt_sequence(boost::container::ordered_unique_range, std::move(out));
    return set;
}

template <typename T>
ElementSet<T> with(const ElementSet<T>& a, const ElementSet<T>& b)
{
    typename ElementSet<T>::sequence_type out;
    out.reserve(a.size() + b.size());
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    ElementSet<T> set;
    set.adopt_sequence(boost::container::ordered_unique_range, std::move(out));
    return set;
}

template <typename T>
void applyTo(ElementSet<T>& set, const ElementSet<T>& present, const ElementSet<T>& absent, ElementSet<T>& added,
             ElementSet<T>& removed)
{
    if (present.size() + absent.size() > kElementwiseChanges) {
        added = without(present, set);
        removed = without(absent, without(absent, set));
        set = with(without(set, absent), present);
        return;
    }
    for (const auto& e : present)
        if (set.insert(e).second)
            added.insert(e);
    for (const auto& e : absent)
        if (set.erase(e))
            removed.insert(e);
}

// `later`'s changes (`present`, `absent`) after `added` and `removed`: an element added then
// removed, or removed then added, cancels out.
template <typename T>
void mergeInto(ElementSet<T>& added, ElementSet<T>& removed, const ElementSet<T>& present, const ElementSet<T>& absent)
{
    if (present.size() + absent.size() > kElementwiseChanges) {
        auto addedThen = with(added, without(present, removed));
        removed = with(without(removed, present), without(absent, addedThen));
        added = without(addedThen, absent);
        return;
    }
    for (const auto& e : present)
        if (!removed.erase(e))
            added.insert(e);
    for (const auto& e : absent)
        if (!added.erase(e))
            removed.insert(e);
}

// Calls `f` with a pointer to each of FirewallSets' sets.
template <typename F>
void forEachSet(F f)
{
    f(&FirewallSets::clusterIPs);
    f(&FirewallSets::external);
    f(&FirewallSets::localPolicy);
    f(&FirewallSets::loadBalancers);
    f(&FirewallSets::hairpin);
    f(&FirewallSets::firewalled);
    f(&FirewallSets::allowedSources);
    f(&FirewallSets::healthCheckPorts);
    f(&FirewallSets::serviceAddresses);
}

}  // namespace

FirewallSetChanges applyChanges(FirewallSets& sets, const FirewallSetChanges& changes)
{
    FirewallSetChanges effective;
    forEachSet([&](auto member) {
        applyTo(sets.*member, changes.present.*member, changes.absent.*member, effective.present.*member,
                effective.absent.*member);
    });
    return effective;
}

void mergeChanges(FirewallSetChanges& earlier, const FirewallSetChanges& later)
{
    forEachSet([&](auto member) {
        mergeInto(earlier.present.*member, earlier.absent.*member, later.present.*member, later.absent.*member);
    });
}

FirewallSetChanges changesBetween(const FirewallSets& before, const FirewallSets& after)
{
    FirewallSetChanges changes;
    forEachSet([&](auto member) {
        changes.present.*member = after.*member;
        for (const auto& e : before.*member)
            if (!(after.*member).count(e))
                (changes.absent.*member).insert(e);
    });
    return changes;
}

std::string renderForwardAccept(const char* family, uint32_t masqueradeMark)
{
    const std::string mark = hex(masqueradeMark);
    const std::string chain = std::string("insert rule ") + family + " filter FORWARD ";
    return chain + "ct state related,established counter accept comment \"" + kForwardRuleComment + "\"\n" + chain +
           "meta mark & " + mark + " == " + mark + " counter accept comment \"" + kForwardRuleComment + "\"\n";
}

std::string renderFirewallRemoval()
{
    return "add table inet kube-ipvsd\ndelete table inet kube-ipvsd\n";
}

std::vector<std::pair<std::string, std::set<std::string>>> firewallElements(const FirewallSets& sets)
{
    auto e = elementsOf(sets);
    return {e.begin(), e.end()};
}

FirewallSets memberFor(const FirewallSets& sets, const std::string& name)
{
    const auto is = [&name](const char* prefix) {
        return name == prefix || name.starts_with(std::string(prefix) + "-");
    };
    FirewallSets part;
    if (is("cluster-ips"))
        part.clusterIPs = sets.clusterIPs;
    else if (is("external"))
        part.external = sets.external;
    else if (is("local-policy"))
        part.localPolicy = sets.localPolicy;
    else if (is("load-balancers"))
        part.loadBalancers = sets.loadBalancers;
    else if (is("firewalled"))
        part.firewalled = sets.firewalled;
    else if (is("hairpin"))
        part.hairpin = sets.hairpin;
    else if (is("allowed-sources"))
        part.allowedSources = sets.allowedSources;
    else if (is("service-addresses"))
        part.serviceAddresses = sets.serviceAddresses;
    else if (is("health-check-ports"))
        part.healthCheckPorts = sets.healthCheckPorts;
    return part;
}

}  // namespace kipvs::ipvs
