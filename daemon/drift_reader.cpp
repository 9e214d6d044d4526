// SPDX-License-Identifier: Apache-2.0
// A full sync's reads, apart from the syncs (see drift_reader.h).
#include "daemon/drift_reader.h"

#include "ipvs/virtual_servers/client.h"

namespace kipvs::daemon {

Result<DriftReader> DriftReader::open()
{
    KIPVS_ASSIGN_OR_RETURN(auto client, ipvs::Client::open());
    KIPVS_TRY(ipvs::NftClient::open());  // fails now, not at the first full sync
    return DriftReader(std::make_unique<ipvs::Client>(std::move(client)),
                       []() -> Result<std::unique_ptr<ipvs::Nftables>> {
                           KIPVS_ASSIGN_OR_RETURN(auto nft, ipvs::NftClient::open());
                           return std::make_unique<ipvs::NftClient>(std::move(nft));
                       });
}

DriftSnapshot DriftReader::read(const DriftReadPlan& plan)
{
    const auto started = std::chrono::steady_clock::now();
    DriftSnapshot snapshot{ipvs::readSnapshot(*ipvs_, plan.ipvs), std::nullopt, {}};
    if (plan.firewall) {
        auto nft = openNft_();
        snapshot.firewall = nft ? ipvs::readFirewallSnapshot(**nft, *plan.firewall)
                                : Result<ipvs::FirewallSnapshot>(tl::unexpected(nft.error()));
    }
    snapshot.elapsed = std::chrono::steady_clock::now() - started;
    return snapshot;
}

}  // namespace kipvs::daemon
