// SPDX-License-Identifier: Apache-2.0
// libnftables: runs nft commands in one transaction and lists tables as JSON.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

struct nft_ctx;

namespace kipvs::ipvs {

class NftClient {
public:
    static Result<NftClient> open();

    // Runs `commands` (nft syntax, one per line) as one atomic transaction. A failure names the
    // first command and carries nft's own message; nothing is applied then.
    Result<void> run(const std::string& commands);
    // `nft -j list table inet NAME` (with `terse`, without set elements: cheap at any size), or
    // an ENOENT error when there is no such table.
    Result<std::string> listTableJson(const std::string& name, bool terse);
    // `nft -j list set inet TABLE SET`, elements included.
    Result<std::string> listSetJson(const std::string& table, const std::string& set);
    // `nft -j list chain FAMILY TABLE CHAIN`, or an ENOENT error when there is no such chain.
    Result<std::string> listChainJson(const std::string& family, const std::string& table, const std::string& chain);

private:
    struct ContextDeleter {
        void operator()(nft_ctx* ctx) const;
    };
    explicit NftClient(std::unique_ptr<nft_ctx, ContextDeleter> ctx) : ctx_(std::move(ctx)) {}
    Result<std::string> listJson(const std::string& command, unsigned flags, const std::string& object);
    std::unique_ptr<nft_ctx, ContextDeleter> ctx_;
};

}  // namespace kipvs::ipvs
