// SPDX-License-Identifier: Apache-2.0
// The nftables table "inet kube-ipvsd" that completes IPVS into Services, as kube-proxy's IPVS
// mode does with iptables and ipsets: masquerade (off-cluster sources, NodePorts, external and
// load-balancer IPs unless their policy is Local, hairpin), loadBalancerSourceRanges, host
// protection for addresses on kube-ipvs0 and the service ranges, and FORWARD acceptance. The rules are fixed for a
// configuration; what changes with Services is only the content of named sets, so a Service
// change is a few set-element commands in one atomic transaction. Pure: values in, nft text out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/container/flat_set.hpp>

#include "base/inet_address.h"
#include "base/ip_port.h"

namespace kipvs::ipvs {

inline constexpr const char* kFirewallTable = "kube-ipvsd";  // family inet

// Which packets to a ClusterIP come from pods on this node, and are therefore not masqueraded:
// kube-proxy's --detect-local-mode. ClusterCIDR and NodeCIDR match the source against CIDRs, at
// most one per family (a family without one masquerades what a service address sends, as
// kube-proxy without a detector); BridgeInterface and InterfaceNamePrefix match the input
// interface ("cni0", or "veth*" for a prefix).
struct LocalTraffic {
    enum class Match { SourceCidr, InputInterface };
    Match match = Match::SourceCidr;
    std::vector<Cidr> cidrs;
    std::string interface;  // nft's iifname pattern: a name, or a prefix followed by '*'
    bool operator==(const LocalTraffic&) const = default;
};

struct FirewallConfig {
    uint32_t masqueradeMark = 1u << 14;  // --iptables-masquerade-bit, as kube-proxy's mark
    bool masqueradeAll = false;
    LocalTraffic local;
    // The service ranges routed as local on kube-ipvs0: host protection covers all of each (an
    // address no Service uses is refused like a port no Service uses).
    std::vector<Cidr> serviceRanges;
    bool operator==(const FirewallConfig&) const = default;
};

// What the Services ask of the table, over all Services. Each member is one named set per family.
// A set's elements in one sorted vector: the firewall table keeps every set's elements for as
// long as the daemon runs (33,000 at 10,000 Services), where std::set's nodes took three times
// the elements' size with malloc's overhead.
template <typename T>
using ElementSet = boost::container::flat_set<T>;

struct FirewallSets {
    ElementSet<IpPort> clusterIPs;  // ClusterIP:port
    ElementSet<IpPort> external;  // NodePort (node address:port), external and load-balancer IP:port
    ElementSet<IpPort> localPolicy;  // the `external` entries whose traffic policy is Local: not masqueraded
    ElementSet<IpPort> loadBalancers;  // load-balancer IP:port (allowed through host protection)
    ElementSet<IpPort> hairpin;  // endpoints on this node: a pod reaching itself is masqueraded
    ElementSet<IpPort> firewalled;  // load-balancer IP:port with loadBalancerSourceRanges
    ElementSet<std::pair<IpPort, Cidr>> allowedSources;  // (firewalled IP:port, allowed source range)
    ElementSet<uint16_t> healthCheckPorts;  // healthCheckNodePort of LoadBalancer + Local Services
    ElementSet<InetAddress> serviceAddresses;  // everything bound on kube-ipvs0: host protection
    bool operator==(const FirewallSets&) const = default;
};

// What a sync changes in the sets: the elements that are now in each (`present`) and those that
// are not (`absent`). An element may already be as said; applying them is idempotent.
struct FirewallSetChanges {
    FirewallSets present, absent;
};
// Applies `changes` to `sets`; returns the changes that took effect (each element in `present`
// was missing, each in `absent` was there). O(change).
FirewallSetChanges applyChanges(FirewallSets& sets, const FirewallSetChanges& changes);
// Adds `later` (effective changes made after `earlier`) to `earlier`: an element added then
// removed, or removed then added, cancels out.
void mergeChanges(FirewallSetChanges& earlier, const FirewallSetChanges& later);
// The changes that turn `before` into `after` (O(size): for tests and whole-set callers).
FirewallSetChanges changesBetween(const FirewallSets& before, const FirewallSets& after);

// The whole table, replacing any previous one in the same transaction (no moment without rules).
std::string renderFirewall(const FirewallConfig& config, const FirewallSets& sets);

// How many rules each chain of a table text written by renderFirewall holds, as the kernel will
// list them (one per line of the chain's block, its `type` line aside).
std::map<std::string, size_t> rulesPerChainOf(const std::string& tableText);

// The comment that marks kube-ipvsd's rules in chains it does not own.
inline constexpr const char* kForwardRuleComment = "kube-ipvsd: service traffic";

// The two rules inserted at the top of iptables-nft's FORWARD chain (table `family` filter),
// where a drop policy (Docker sets one) would otherwise drop forwarded service traffic: an
// accept in our own table cannot override a drop in another. They mirror kube-proxy's
// KUBE-FORWARD: accept packets carrying the masquerade mark, and established connections.
std::string renderForwardAccept(const char* family, uint32_t masqueradeMark);

// Removes the table; nothing when it does not exist.
std::string renderFirewallRemoval();

// Each set's elements as the table holds them, in nft's text syntax ("10.96.0.10 . tcp . 53"),
// keyed by set name: for comparing with what `nft -j list table` reports.
std::vector<std::pair<std::string, std::set<std::string>>> firewallElements(const FirewallSets& sets);
// The one member of `sets` that set `name` ("cluster-ips-v4") is made of; the others empty.
FirewallSets memberFor(const FirewallSets& sets, const std::string& name);

}  // namespace kipvs::ipvs
