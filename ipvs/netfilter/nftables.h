// SPDX-License-Identifier: Apache-2.0
// libnftables: runs nft commands in one transaction and lists tables as JSON; set elements are
// read and changed over nfnetlink directly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipvs/netfilter/set_element_batch.h"
#include "ipvs/netfilter/set_element_dump.h"
#include "ipvs/netfilter/set_elements.h"

struct nft_ctx;

namespace kipvs::ipvs {

// nftables as the firewall table uses it: transactions, JSON listings and set elements. NftClient implements
// it; tests put an in-memory ruleset with chosen faults behind it.
class Nftables {
public:
    virtual ~Nftables() = default;

    // Runs `commands` (nft syntax, one per line) as one atomic transaction. A failure names the
    // first command and carries nft's own message; nothing is applied then.
    virtual Result<void> run(const std::string& commands) = 0;
    // The table inet NAME without its set elements, as `nft -j list table` prints it (sets,
    // chains, rules), or an ENOENT error when there is no such table.
    virtual Result<std::string> listTableStructureJson(const std::string& name) = 0;
    // The elements of set inet TABLE SET as the kernel keys them, sorted; ENOENT when there is
    // no such set.
    virtual Result<SetElements> listSetElements(const std::string& table, const std::string& set) = 0;
    // Takes elements out of and puts elements into sets of table inet TABLE, in one transaction.
    virtual Result<void> changeSetElements(const std::string& table, const std::vector<SetElementChange>& changes) = 0;
    // `nft -j list chain FAMILY TABLE CHAIN`, or an ENOENT error when there is no such chain.
    virtual Result<std::string> listChainJson(const std::string& family, const std::string& table,
                                              const std::string& chain) = 0;
};

// The objects of one table (FAMILY NAME) in a JSON listing of several (`nft -j list ruleset`),
// as a listing of their own; ENOENT when the table is not among them.
Result<std::string> tableOfRuleset(const std::string& listing, const std::string& family, const std::string& name);

class NftClient : public Nftables {
public:
    static Result<NftClient> open();

    Result<void> run(const std::string& commands) override;
    Result<std::string> listTableStructureJson(const std::string& name) override;
    Result<SetElements> listSetElements(const std::string& table, const std::string& set) override;
    Result<void> changeSetElements(const std::string& table, const std::vector<SetElementChange>& changes) override;
    Result<std::string> listChainJson(const std::string& family, const std::string& table,
                                      const std::string& chain) override;

private:
    struct ContextDeleter {
        void operator()(nft_ctx* ctx) const;
    };
    NftClient(std::unique_ptr<nft_ctx, ContextDeleter> ctx, SetElementDump elements, SetElementBatch changes)
        : ctx_(std::move(ctx)), elements_(std::move(elements)), changes_(std::move(changes))
    {}
    Result<std::string> listJson(const std::string& command, unsigned flags, const std::string& object);
    std::unique_ptr<nft_ctx, ContextDeleter> ctx_;
    SetElementDump elements_;  // set elements are read and changed without libnftables
    SetElementBatch changes_;
};

}  // namespace kipvs::ipvs
