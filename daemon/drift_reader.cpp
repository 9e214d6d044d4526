// SPDX-License-Identifier: Apache-2.0
// A full sync's reads, apart from the syncs (see drift_reader.h).
#include "daemon/drift_reader.h"

#include "ipvs/virtual_servers/client.h"

namespace kipvs::daemon {

Result<DriftReader> DriftReader::open()
{
    KIPVS_ASSIGN_OR_RETURN(auto client, ipvs::Client::open());
    KIPVS_ASSIGN_OR_RETURN(auto nft, ipvs::NftClient::open());
    return DriftReader(std::make_unique<ipvs::Client>(std::move(client)),
                       std::make_unique<ipvs::NftClient>(std::move(nft)));
}

DriftSnapshot DriftReader::read(const DriftReadPlan& plan)
{
    const auto started = std::chrono::steady_clock::now();
    DriftSnapshot snapshot{ipvs::readSnapshot(*ipvs_, plan.realServerKeys), std::nullopt, {}};
    if (plan.firewall)
        snapshot.firewall = ipvs::readFirewallSnapshot(*nft_, *plan.firewall);
    snapshot.elapsed = std::chrono::steady_clock::now() - started;
    return snapshot;
}

}  // namespace kipvs::daemon
