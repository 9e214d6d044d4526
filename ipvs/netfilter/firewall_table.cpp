// SPDX-License-Identifier: Apache-2.0
// Programming and verifying the nftables table (see firewall_table.h).
#include "ipvs/netfilter/firewall_table.h"

#include <algorithm>
#include <iterator>

#include <nlohmann/json.hpp>

namespace kipvs::ipvs {

namespace {

// Elements per batch when a table is built in parts (~300 KB of messages).
constexpr size_t kElementsPerBuild = 8192;

SetElementChange::Layout layoutOf(const std::string& set)
{
    return hasRanges(set) ? SetElementChange::Layout::Ranges : SetElementChange::Layout::Values;
}

std::string partText(const nlohmann::json& part)
{
    if (part.is_string())
        return part.get<std::string>();
    if (part.is_number())
        return std::to_string(part.get<long long>());
    if (part.is_object() && part.contains("prefix"))
        return partText(part["prefix"]["addr"]) + "/" + std::to_string(part["prefix"]["len"].get<int>());
    if (part.is_object() && part.contains("range"))
        return partText(part["range"][0]) + "-" + partText(part["range"][1]);
    if (part.is_object() && part.contains("concat")) {
        std::string out;
        for (const auto& p : part["concat"])
            out += (out.empty() ? "" : " . ") + partText(p);
        return out;
    }
    if (part.is_object() && part.contains("elem"))
        return partText(part["elem"]["val"]);
    return part.dump();
}

}  // namespace

Result<FirewallListing> parseFirewallListing(const std::string& json)
{
    FirewallListing out;
    try {
        const auto doc = nlohmann::json::parse(json);
        for (const auto& item : doc.at("nftables")) {
            if (item.contains("set")) {
                const auto& set = item["set"];
                auto& elements = out.sets[set.at("name").get<std::string>()];
                if (set.contains("elem"))
                    for (const auto& e : set["elem"])
                        elements.insert(partText(e));
            } else if (item.contains("rule")) {
                ++out.rulesPerChain[item["rule"].at("chain").get<std::string>()];
            } else if (item.contains("chain")) {
                out.rulesPerChain[item["chain"].at("name").get<std::string>()];
            }
        }
    } catch (const nlohmann::json::exception& e) {
        return fail(Error::Domain::Decode, EINVAL, "parse nftables listing", "inet kube-ipvsd", e.what());
    }
    return out;
}

Result<bool> FirewallTable::sync(Check check)
{
    if (check == Check::Verify && written_) {
        // What is not yet sent goes first: the verification made here then lists all of it.
        KIPVS_TRY(sendUnsent());
        auto verification = beginVerification();
        if (verification) {
            KIPVS_ASSIGN_OR_RETURN(auto snapshot, readFirewallSnapshot(*client_, *verification));
            return sync(snapshot);
        }
    }
    if (!written_ || check == Check::Verify)
        KIPVS_TRY(ensureForwardAccept());
    if (!written_) {
        KIPVS_TRY(rebuild());
        return true;
    }
    KIPVS_TRY(sendUnsent());
    return false;
}

Result<FirewallSnapshot> readFirewallSnapshot(Nftables& client, const FirewallVerification& verification)
{
    FirewallSnapshot snapshot;
    snapshot.set = verification.set;
    auto table = client.listTableStructureJson(kFirewallTable);
    if (!table)
        return table.error().code == ENOENT ? Result<FirewallSnapshot>(snapshot) : tl::unexpected(table.error());
    KIPVS_ASSIGN_OR_RETURN(snapshot.structure, parseFirewallListing(*table));
    auto listed = client.listSetElements(kFirewallTable, verification.set);
    if (!listed)
        return listed.error().code == ENOENT ? Result<FirewallSnapshot>(snapshot) : tl::unexpected(listed.error());
    const SetElements want = setElementsOf(verification.set, verification.wanted);
    snapshot.differing.emplace();
    std::set_symmetric_difference(want.begin(), want.end(), listed->begin(), listed->end(),
                                  std::inserter(*snapshot.differing, snapshot.differing->end()));
    return snapshot;
}

void FirewallTable::want(const FirewallSetChanges& changes)
{
    auto effective = applyChanges(wanted_, changes);
    if (noted_)
        note(effective);
    mergeChanges(unsent_, effective);
}

// The verified set's elements among `changes`.
void FirewallTable::note(const FirewallSetChanges& changes)
{
    for (const auto* sets : {&changes.present, &changes.absent})
        for (auto& e : setElementsOf(noted_->set, *sets))
            noted_->elements.insert(std::move(e));
}

std::optional<FirewallVerification> FirewallTable::beginVerification()
{
    noted_.reset();
    if (!written_)
        return std::nullopt;  // the next sync rebuilds anyway
    const auto names = firewallElements({});
    const std::string set = names[rotation_++ % names.size()].first;
    noted_ = Noted{set, {}};
    note(unsent_);  // not sent yet: the listing may or may not hold them when it runs
    return FirewallVerification{set, memberFor(wanted_, set)};
}

Result<bool> FirewallTable::sync(const FirewallSnapshot& snapshot)
{
    KIPVS_TRY(ensureForwardAccept());
    if (written_ && noted_ && noted_->set == snapshot.set)
        written_ = matches(snapshot);
    noted_.reset();
    if (!written_) {
        KIPVS_TRY(rebuild());
        return true;
    }
    KIPVS_TRY(sendUnsent());
    return false;
}

// The structure, and the listed set but for the elements sent while it was read.
bool FirewallTable::matches(const FirewallSnapshot& snapshot)
{
    if (!snapshot.structure || !snapshot.differing || snapshot.structure->rulesPerChain != rulesPerChain_)
        return false;
    for (const auto& [name, elements] : firewallElements({}))
        if (!snapshot.structure->sets.count(name))
            return false;
    return std::all_of(snapshot.differing->begin(), snapshot.differing->end(),
                       [this](const SetElement& e) { return noted_->elements.count(e) > 0; });
}

// The elements that left are taken out and those that came are put in: exactly these are sent.
Result<void> FirewallTable::sendUnsent()
{
    std::vector<SetElementChange> changes;
    for (const auto& [name, elements] : firewallElements({})) {
        SetElementChange change{name, layoutOf(name), setElementsOf(name, unsent_.absent),
                                setElementsOf(name, unsent_.present)};
        if (!change.removed.empty() || !change.added.empty())
            changes.push_back(std::move(change));
    }
    unsent_ = {};
    if (changes.empty())
        return {};
    if (auto applied = client_->changeSetElements(kFirewallTable, changes); !applied) {
        written_ = false;  // unknown now: the next sync rebuilds the whole table
        return tl::unexpected(applied.error());
    }
    return {};
}

void FirewallTable::configure(const FirewallConfig& config)
{
    if (config == config_)
        return;
    config_ = config;
    written_ = false;
}

// Over a table already there (an earlier process's, or one that drifted), one transaction
// replaces it: no moment without rules or with empty sets. With no table there is nothing to
// keep working meanwhile: build() writes it in parts. The structure later verifications compare
// with is the one written, counted from the text: reading it back would list every set element
// too (a third of the build's time at 10,000 Services in the VM).
Result<void> FirewallTable::rebuild()
{
    const std::string structure = renderFirewall(config_, {});
    auto existing = client_->listTableStructureJson(kFirewallTable);
    if (!existing && existing.error().code != ENOENT)
        return tl::unexpected(existing.error());
    if (existing)
        KIPVS_TRY(client_->run(renderFirewall(config_, wanted_)));
    else
        KIPVS_TRY(build(structure));
    written_ = true;
    noted_.reset();  // a verification under way read the table this replaced
    unsent_ = {};
    rulesPerChain_ = rulesPerChainOf(structure);
    return {};
}

// The rules and empty sets in one transaction, then each set's elements over nfnetlink, at most
// kElementsPerBuild a batch: libnftables' parse of the whole table was the first sync's peak
// memory (~20 MB at 10,000 Services). A failure leaves a table, which the next sync replaces.
Result<void> FirewallTable::build(const std::string& structure)
{
    KIPVS_TRY(client_->run(structure));
    for (const auto& [name, none] : firewallElements({})) {
        const SetElements elements = setElementsOf(name, wanted_);
        for (size_t at = 0; at < elements.size(); at += kElementsPerBuild) {
            const auto end =
                elements.begin() + static_cast<std::ptrdiff_t>(std::min(elements.size(), at + kElementsPerBuild));
            SetElementChange change{
                name, layoutOf(name), {}, SetElements(elements.begin() + static_cast<std::ptrdiff_t>(at), end)};
            KIPVS_TRY(client_->changeSetElements(kFirewallTable, {std::move(change)}));
        }
    }
    return {};
}

Result<std::set<IpPort>> FirewallTable::readExternal()
{
    std::set<IpPort> out;
    for (const char* name : {"external-v4", "external-v6"}) {
        auto set = client_->listSetElements(kFirewallTable, name);
        if (!set && set.error().code == ENOENT)
            continue;
        if (!set)
            return tl::unexpected(set.error());
        for (const auto& element : *set)
            if (auto decoded = decodeServiceElement(element))
                out.insert(*decoded);
    }
    return out;
}

Result<std::vector<long long>> FirewallTable::forwardRuleHandles(const char* family)
{
    KIPVS_ASSIGN_OR_RETURN(auto listed, client_->listChainJson(family, "filter", "FORWARD"));
    std::vector<long long> handles;
    try {
        const auto doc = nlohmann::json::parse(listed);  // kept alive: the loop walks inside it
        for (const auto& item : doc.at("nftables"))
            if (item.contains("rule") && item["rule"].value("comment", "") == kForwardRuleComment)
                handles.push_back(item["rule"].at("handle").get<long long>());
    } catch (const nlohmann::json::exception& e) {
        return fail(Error::Domain::Decode, EINVAL, "parse nftables listing", std::string(family) + " filter FORWARD",
                    e.what());
    }
    return handles;
}

Result<size_t> FirewallTable::ensureForwardAccept()
{
    size_t changed = 0;
    for (const char* family : {"ip", "ip6"}) {
        auto handles = forwardRuleHandles(family);
        if (!handles) {
            if (handles.error().code == ENOENT)
                continue;  // no iptables-nft FORWARD chain: nothing to open
            return tl::unexpected(handles.error());
        }
        if (handles->size() == 2)
            continue;
        std::string commands;
        for (auto h : *handles)
            commands += std::string("delete rule ") + family + " filter FORWARD handle " + std::to_string(h) + "\n";
        commands += renderForwardAccept(family, config_.masqueradeMark);
        KIPVS_TRY(client_->run(commands));
        ++changed;
    }
    return changed;
}

Result<void> FirewallTable::remove()
{
    written_ = false;
    for (const char* family : {"ip", "ip6"}) {
        auto handles = forwardRuleHandles(family);
        if (!handles)
            continue;
        for (auto h : *handles)
            if (auto removed =
                    client_->run(std::string("delete rule ") + family + " filter FORWARD handle " + std::to_string(h));
                !removed)
                return removed;
    }
    return client_->run(renderFirewallRemoval());
}

}  // namespace kipvs::ipvs
