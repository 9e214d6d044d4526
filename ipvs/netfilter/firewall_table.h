// SPDX-License-Identifier: Apache-2.0
// Keeps the nftables table in the kernel equal to the wanted sets: the whole table on the first
// sync (replacing what an earlier process left atomically, with no moment without rules; a new
// table in parts), then only set-element changes. A verifying sync (the full resync) reads the table's
// structure back (its sets and the rules of each chain: cheap at any size) and the elements of
// one set in rotation (over nfnetlink, as key bytes: set_element_dump.h), and rebuilds
// the table when anything differs from what this process last wrote.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/netfilter/firewall.h"
#include "ipvs/netfilter/nftables.h"
#include "ipvs/netfilter/set_elements.h"

namespace kipvs::ipvs {

// What `nft -j list table inet kube-ipvsd` holds: each set's elements in nft's text syntax, and
// the number of rules per chain.
struct FirewallListing {
    std::map<std::string, std::set<std::string>> sets;
    std::map<std::string, size_t> rulesPerChain;
};
Result<FirewallListing> parseFirewallListing(const std::string& json);

// A verification to make apart from the syncs: the set to list, and what it was to hold then.
struct FirewallVerification {
    std::string set;
    FirewallSets wanted;  // only the member the set is made of (memberFor)
};
// The table as such a verification read it: its structure, and how one set differed. Read
// through a client of its own, on another thread while syncs go on.
struct FirewallSnapshot {
    std::optional<FirewallListing> structure;  // without elements; nullopt: there is no table
    std::string set;  // the set listed
    // Its elements either listed or wanted but not both; nullopt: no such set.
    std::optional<std::set<SetElement>> differing;
};
Result<FirewallSnapshot> readFirewallSnapshot(Nftables& client, const FirewallVerification& verification);

class FirewallTable {
public:
    FirewallTable(std::unique_ptr<Nftables> client, FirewallConfig config)
        : client_(std::move(client)), config_(std::move(config))
    {}

    // Verify reads the table back first and rebuilds it when it is missing or differs;
    // TrustLastWrite believes it holds what this process last wrote.
    enum class Check { TrustLastWrite, Verify };
    // Applies `changes` to the wanted sets; the next sync() sends them (until one succeeds).
    void want(const FirewallSetChanges& changes);
    // Makes the table hold the wanted sets: only the elements not yet sent, unless the table is
    // rebuilt. Returns whether it rebuilt the whole table.
    Result<bool> sync(Check check);
    // want() and sync() with the whole wanted sets (tests, benchmarks): O(size).
    Result<bool> sync(const FirewallSets& wanted, Check check)
    {
        want(changesBetween(wanted_, wanted));
        return sync(check);
    }
    // The verification of sync(Check::Verify) in two halves, so its reads and comparison can run
    // apart from the syncs: beginVerification() says what to verify (nullopt: nothing written
    // yet) and starts noting the elements syncs send; sync(snapshot) then takes the differences
    // found but for those elements (the listing may have seen them before or after they were
    // sent). A rebuild meanwhile makes the snapshot moot: that sync trusts the rebuild.
    std::optional<FirewallVerification> beginVerification();
    Result<bool> sync(const FirewallSnapshot& snapshot);
    // A changed configuration (a NodeCIDR detector learning the Node's pod CIDRs) rebuilds the
    // whole table at the next sync; an unchanged one does nothing.
    void configure(const FirewallConfig& config);
    // The service address:ports the table in the kernel holds as external (NodePorts on node
    // addresses among them): what an earlier process programmed. Empty without a table.
    Result<std::set<IpPort>> readExternal();
    // Deletes the table (for --cleanup); a missing table is success. Also takes our rules out of
    // iptables-nft's FORWARD chains.
    Result<void> remove();
    // Inserts renderForwardAccept()'s rules into `ip filter FORWARD` and `ip6 filter FORWARD`
    // when those chains exist and lack them. Returns how many chains it changed.
    Result<size_t> ensureForwardAccept();

private:
    Result<void> rebuild();
    Result<void> build(const std::string& structure);
    Result<void> sendUnsent();
    bool matches(const FirewallSnapshot& snapshot);
    void note(const FirewallSetChanges& changes);
    // Handles of our rules in FAMILY filter FORWARD; ENOENT when there is no such chain.
    Result<std::vector<long long>> forwardRuleHandles(const char* family);

    std::unique_ptr<Nftables> client_;
    FirewallConfig config_;
    FirewallSets wanted_;  // every set, as the syncs' changes made it
    FirewallSetChanges unsent_;  // wanted_ = the kernel's + these, when written_
    bool written_ = false;  // the kernel holds wanted_ less unsent_, as far as this process knows
    std::map<std::string, size_t> rulesPerChain_;  // as the last rebuild wrote them
    size_t rotation_ = 0;  // the set whose elements the next verification reads
    // While a verification's reads are under way: the set it lists, and that set's elements sent
    // since; none when no verification is under way or a rebuild made it moot.
    struct Noted {
        std::string set;
        std::set<SetElement> elements;
    };
    std::optional<Noted> noted_;
};

}  // namespace kipvs::ipvs
