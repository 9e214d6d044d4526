// SPDX-License-Identifier: Apache-2.0
// The in-memory kernel (see fake_kernel.h).
#include "fake_kernel.h"

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "proxy/kernel_policy.h"

namespace kipvs::test {

namespace {

tl::unexpected<Error> failure(const Fault& fault, const char* what)
{
    return fail(Error::Domain::Kernel, fault.error, what, "", "injected fault");
}

std::vector<ipvs::RealServer>::iterator findReal(ipvs::VirtualServerState& state, const ipvs::RealServer& r)
{
    return std::find_if(state.realServers.begin(), state.realServers.end(),
                        [&](const ipvs::RealServer& x) { return x.address == r.address && x.port == r.port; });
}

}  // namespace

std::optional<Fault> FaultTable::take(Call call)
{
    const std::lock_guard lock(mutex_);
    auto it = std::find_if(faults_.begin(), faults_.end(), [&](const Fault& f) { return f.call == call; });
    if (it == faults_.end())
        return std::nullopt;
    if (it->after > 0) {
        --it->after;
        return std::nullopt;
    }
    const Fault taken = *it;
    if (--it->times <= 0)
        faults_.erase(it);
    return taken;
}

Result<std::vector<ipvs::VirtualServer>> FakeIpvs::virtualServers()
{
    if (const auto f = faults_.take(Call::DumpVirtualServers))
        return failure(*f, "dump virtual servers");
    std::vector<ipvs::VirtualServer> out;
    for (const auto& [key, state] : table)
        out.push_back(state.server);
    return out;
}

Result<std::optional<ipvs::VirtualServer>> FakeIpvs::virtualServer(const ipvs::VirtualServerKey& key)
{
    if (const auto f = faults_.take(Call::ReadVirtualServer))
        return failure(*f, "get virtual server");
    auto it = table.find(key);
    if (it == table.end())
        return std::optional<ipvs::VirtualServer>();
    return std::optional(it->second.server);
}

Result<std::vector<ipvs::RealServer>> FakeIpvs::realServers(const ipvs::VirtualServerKey& key)
{
    if (const auto f = faults_.take(Call::DumpRealServers))
        return failure(*f, "dump real servers");
    auto it = table.find(key);
    if (it == table.end())
        return fail(Error::Domain::Kernel, ESRCH, "dump real servers", key.toString(), "no such service");
    return it->second.realServers;
}

// The kernel's answer to one operation: 0 or an errno.
int FakeIpvs::carryOut(const ipvs::Operation& op)
{
    using Kind = ipvs::Operation::Kind;
    auto it = table.find(op.virtualServer.key);
    switch (op.kind) {
    case Kind::AddVirtualServer:
        if (it != table.end())
            return EEXIST;
        table.emplace(op.virtualServer.key, ipvs::VirtualServerState{op.virtualServer, {}});
        return 0;
    case Kind::EditVirtualServer:
        if (it == table.end())
            return ESRCH;
        it->second.server = op.virtualServer;
        return 0;
    case Kind::DeleteVirtualServer:
        if (it == table.end())
            return ESRCH;
        table.erase(it);
        return 0;
    case Kind::Flush:
        table.clear();
        return 0;
    case Kind::AddRealServer:
    case Kind::EditRealServer:
    case Kind::DeleteRealServer:
        break;
    default:
        return 0;  // timeouts and counters: nothing the tests look at
    }
    if (it == table.end())
        return ESRCH;
    auto real = findReal(it->second, op.realServer);
    if (op.kind == Kind::AddRealServer) {
        if (real != it->second.realServers.end())
            return EEXIST;
        it->second.realServers.push_back(op.realServer);
        return 0;
    }
    if (real == it->second.realServers.end())
        return ENOENT;
    if (op.kind == Kind::DeleteRealServer)
        it->second.realServers.erase(real);
    else
        *real = op.realServer;
    return 0;
}

Result<ipvs::BatchReport> FakeIpvs::apply(std::span<const ipvs::Operation> operations)
{
    if (beforeApply)
        beforeApply();
    const auto batch = faults_.take(Call::IpvsBatch);
    const auto refuse = faults_.take(Call::IpvsOperation);
    ipvs::BatchReport report;
    report.operations = operations.size();
    for (size_t i = 0; i < operations.size(); ++i) {
        if (batch && i >= batch->effective)
            break;
        const auto& op = operations[i];
        const int error = refuse && refuse->effective == i ? refuse->error : carryOut(op);
        ++attempts;
        if (error == 0)
            log.push_back(std::string(op.verb()) + " " + op.object());
        else if (!op.alreadyDone(error))
            report.failures.push_back({i, Error{Error::Domain::Kernel, error, op.verb(), op.object(), ""}});
    }
    if (batch)
        return failure(*batch, "read acknowledgements");
    return report;
}

Result<int> FakeHost::linkIndex(const std::string& name)
{
    auto it = links.find(name);
    return it == links.end() ? 0 : it->second;
}

Result<int> FakeHost::ensureDummyLink(const std::string& name)
{
    if (const auto f = faults_.take(Call::EnsureLink))
        return failure(*f, "create link");
    auto [it, added] = links.emplace(name, nextIndex_);
    if (added)
        linkAddresses[nextIndex_++];
    return it->second;
}

Result<std::vector<InetAddress>> FakeHost::addresses(int ifindex)
{
    if (const auto f = faults_.take(Call::ListAddresses))
        return failure(*f, "list addresses");
    auto it = linkAddresses.find(ifindex);
    if (it == linkAddresses.end())
        return std::vector<InetAddress>{};
    return std::vector<InetAddress>(it->second.begin(), it->second.end());
}

Result<void> FakeHost::addAddress(int ifindex, const InetAddress& address)
{
    if (const auto f = faults_.take(Call::AddAddress))
        return failure(*f, "add address");
    auto it = linkAddresses.find(ifindex);
    if (it == linkAddresses.end())
        return fail(Error::Domain::Kernel, ENODEV, "add address", address.toString(), "no such link");
    it->second.insert(address);
    return {};
}

Result<void> FakeHost::removeAddress(int ifindex, const InetAddress& address)
{
    if (const auto f = faults_.take(Call::RemoveAddress))
        return failure(*f, "remove address");
    auto it = linkAddresses.find(ifindex);
    if (it != linkAddresses.end())
        it->second.erase(address);
    return {};
}

Result<std::vector<Cidr>> FakeHost::localRoutes()
{
    if (const auto f = faults_.take(Call::ListRoutes))
        return failure(*f, "list routes");
    return std::vector<Cidr>(routes.begin(), routes.end());
}

Result<void> FakeHost::addLocalRoute(const Cidr& range)
{
    if (const auto f = faults_.take(Call::AddRoute))
        return failure(*f, "add local route");
    routes.insert(range.network());
    return {};
}

Result<void> FakeHost::removeLocalRoute(const Cidr& range)
{
    if (const auto f = faults_.take(Call::RemoveRoute))
        return failure(*f, "remove local route");
    routes.erase(range.network());
    return {};
}

Result<std::vector<ipvs::InterfaceAddress>> FakeHost::nodeAddresses(const std::string&)
{
    if (const auto f = faults_.take(Call::NodeAddresses))
        return failure(*f, "list node addresses");
    return node;
}

void FakeHost::deleteLink(const std::string& name)
{
    auto it = links.find(name);
    if (it == links.end())
        return;
    linkAddresses.erase(it->second);
    links.erase(it);
}

std::set<InetAddress> FakeHost::addressesOf(const std::string& link) const
{
    auto it = links.find(link);
    if (it == links.end())
        return {};
    auto found = linkAddresses.find(it->second);
    return found == linkAddresses.end() ? std::set<InetAddress>{} : found->second;
}

namespace {

// One field of an element's text as the kernel keys it: an address, a protocol ("tcp") or a
// port, or for a range (a CIDR) its first and last address.
std::pair<std::string, std::string> fieldKeys(const std::string& text)
{
    const auto bytes = [](const InetAddress& a) {
        return std::string(reinterpret_cast<const char*>(a.data()), a.isV6() ? 16 : 4);
    };
    if (auto range = Cidr::parse(text)) {
        std::string first = bytes(range->network().address), last = first;
        for (size_t bit = range->prefixLength; bit < last.size() * 8; ++bit)
            last[bit / 8] = static_cast<char>(last[bit / 8] | (0x80 >> (bit % 8)));
        return {first, last};
    }
    if (auto address = InetAddress::parse(text))
        return {bytes(*address), bytes(*address)};
    const std::map<std::string, int> protocols{{"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {"sctp", IPPROTO_SCTP}};
    if (auto p = protocols.find(text); p != protocols.end())
        return {std::string(1, static_cast<char>(p->second)), std::string(1, static_cast<char>(p->second))};
    const int port = std::stoi(text);
    const std::string key{static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
    return {key, key};
}

}  // namespace

ipvs::SetElement elementKeys(const std::string& text, ipvs::SetElementChange::Layout layout)
{
    std::vector<std::string> fields;
    for (size_t start = 0;;) {
        const auto dot = text.find(" . ", start);
        fields.push_back(text.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos)
            break;
        start = dot + 3;
    }
    ipvs::SetElement out;
    for (const auto& field : fields) {
        auto [first, last] = fieldKeys(field);
        const size_t padding = fields.size() > 1 ? (4 - first.size() % 4) % 4 : 0;
        out.key += first + std::string(padding, '\0');
        out.keyEnd += last + std::string(padding, '\0');
    }
    if (layout == ipvs::SetElementChange::Layout::Values)
        out.keyEnd.clear();
    return ipvs::canonicalElement(std::move(out));
}

namespace {

// "add element inet kube-ipvsd NAME { a, b }" -> NAME and its elements.
std::pair<std::string, std::vector<std::string>> elementCommand(const std::string& line, size_t prefix)
{
    const auto open = line.find(" { ", prefix);
    const auto close = line.rfind(" }");
    std::pair<std::string, std::vector<std::string>> out{line.substr(prefix, open - prefix), {}};
    std::string items = line.substr(open + 3, close - open - 3);
    for (size_t start = 0; start < items.size();) {
        const auto comma = items.find(", ", start);
        out.second.push_back(items.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        start = comma == std::string::npos ? items.size() : comma + 2;
    }
    return out;
}

}  // namespace

Result<void> FakeNftables::run(const std::string& commands)
{
    if (onTransaction)
        onTransaction();
    if (const auto f = faults_.take(Call::NftTransaction))
        return failure(*f, "nft transaction");
    bool exists = table;
    auto content = sets;  // atomic: applied to a copy, kept only when every command succeeds
    auto rules =
        commands.find("table inet kube-ipvsd {") != std::string::npos ? ipvs::rulesPerChainOf(commands) : rulesPerChain;
    std::istringstream in(commands);
    const std::string add = "add element inet kube-ipvsd ", del = "delete element inet kube-ipvsd ";
    for (std::string line; std::getline(in, line);) {
        const auto set = line.find("  set ");
        if (line == "add table inet kube-ipvsd" || line == "table inet kube-ipvsd {") {
            exists = true;
        } else if (line == "delete table inet kube-ipvsd") {
            exists = false, content.clear();
            if (commands.find("table inet kube-ipvsd {") == std::string::npos)
                rules.clear();
        } else if (set == 0 && exists) {
            content[line.substr(6, line.find(' ', 6) - 6)];
        } else if (line.starts_with(add) || line.starts_with(del)) {
            const bool adding = line.starts_with(add);
            auto [name, items] = elementCommand(line, (adding ? add : del).size());
            auto target = content.find(name);
            if (!exists || target == content.end())
                return fail(Error::Domain::Kernel, ENOENT, "nft transaction", name, "no such set");
            const auto layout =
                ipvs::hasRanges(name) ? ipvs::SetElementChange::Layout::Ranges : ipvs::SetElementChange::Layout::Values;
            for (const auto& item : items)
                adding ? (void)target->second.insert(elementKeys(item, layout))
                       : (void)target->second.erase(elementKeys(item, layout));
        }
    }
    table = exists;
    sets = std::move(content);
    rulesPerChain = std::move(rules);
    ++transactions;
    return {};
}

Result<std::string> FakeNftables::listTableStructureJson(const std::string& name)
{
    if (const auto f = faults_.take(Call::NftListing))
        return failure(*f, "list table");
    if (!table || name != "kube-ipvsd")
        return fail(Error::Domain::Kernel, ENOENT, "list table", name, "No such file or directory");
    nlohmann::json items = nlohmann::json::array();
    for (const auto& [set, elements] : sets)
        items.push_back({{"set", {{"name", set}}}});
    for (const auto& [chain, count] : rulesPerChain) {
        items.push_back({{"chain", {{"name", chain}}}});
        for (size_t i = 0; i < count; ++i)
            items.push_back({{"rule", {{"chain", chain}}}});
    }
    return nlohmann::json{{"nftables", items}}.dump();
}

Result<ipvs::SetElements> FakeNftables::listSetElements(const std::string&, const std::string& set)
{
    if (const auto f = faults_.take(Call::NftListing))
        return failure(*f, "list set");
    auto it = sets.find(set);
    if (!table || it == sets.end())
        return fail(Error::Domain::Kernel, ENOENT, "list set", set, "No such file or directory");
    return ipvs::SetElements(it->second.begin(), it->second.end());
}

// As the kernel runs a batch: every change or none; an element taken out that is not there, or
// a set that does not exist, fails it with ENOENT.
Result<void> FakeNftables::changeSetElements(const std::string&, const std::vector<ipvs::SetElementChange>& changes)
{
    if (onTransaction)
        onTransaction();
    if (const auto f = faults_.take(Call::NftTransaction))
        return failure(*f, "change set elements");
    auto content = sets;
    for (const auto& change : changes) {
        auto target = content.find(change.set);
        if (!table || target == content.end())
            return fail(Error::Domain::Kernel, ENOENT, "change set elements", change.set, "no such set");
        for (const auto& e : change.removed)
            if (target->second.erase(e) == 0)
                return fail(Error::Domain::Kernel, ENOENT, "change set elements", change.set, "no such element");
        target->second.insert(change.added.begin(), change.added.end());
    }
    sets = std::move(content);
    lastChanges = changes;
    ++transactions;
    return {};
}

Result<std::string> FakeNftables::listChainJson(const std::string& family, const std::string& table_,
                                                const std::string& chain)
{
    // No iptables-nft FORWARD chain on this node.
    return fail(Error::Domain::Kernel, ENOENT, "list chain", family + " " + table_ + " " + chain,
                "No such file or directory");
}

Result<std::vector<ipvs::ConntrackPass>> FakeConntrack::reconcileUdpFlows(const ipvs::ServedUdpFlows& served)
{
    if (const auto f = faults_.take(Call::ConntrackDump))
        return failure(*f, "dump conntrack");
    ipvs::ConntrackPass pass;
    for (auto it = flows.begin(); it != flows.end();) {
        auto repliers = served.find({it->destination, it->port});
        const bool stale = repliers != served.end() &&
                           !std::binary_search(repliers->second.begin(), repliers->second.end(), it->replySource);
        if (stale) {
            it = flows.erase(it);
            ++pass.deleted;
        } else {
            ++it;
        }
    }
    return std::vector<ipvs::ConntrackPass>{pass};
}

daemon::Kernel FakeKernel::kernel()
{
    auto i = std::make_unique<FakeIpvs>(faults);
    auto h = std::make_unique<FakeHost>(faults);
    auto n = std::make_unique<FakeNftables>(faults);
    auto c = std::make_unique<FakeConntrack>(faults);
    ipvs = i.get(), host = h.get(), nft = n.get(), conntrack = c.get();
    for (const auto& s : proxy::ipvsSysctlsForThisKernel(false))
        procSys.write(s.name, s.value + "\n");
    return {std::move(i), std::move(h), std::move(n), std::move(c), ipvs::Sysctls(procSys.path.string())};
}

}  // namespace kipvs::test
