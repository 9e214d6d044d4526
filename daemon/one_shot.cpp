// SPDX-License-Identifier: Apache-2.0
#include "daemon/one_shot.h"

#include <vector>

#include <sys/utsname.h>

#include "ipvs/client.h"
#include "ipvs/firewall_table.h"
#include "ipvs/nftables.h"
#include "ipvs/kernel_settings.h"
#include "ipvs/links.h"
#include "ipvs/ownership.h"
#include "ipvs/sysctl.h"

namespace kipvs::daemon {

int runCleanup(const Options& options, Logger& log)
{
    auto links = ipvs::LinkClient::open();
    if (!links) {
        log.error("cleanup: " + links.error().message());
        return 1;
    }
    ipvs::Ownership owned;
    owned.excluded = options.ipvsExcludeCidrs;
    auto index = links->linkIndex(ipvs::kDummyLinkName);
    if (!index) {
        log.error("cleanup: " + index.error().message());
        return 1;
    }
    if (*index != 0) {
        auto addresses = links->addresses(*index);
        if (!addresses) {
            log.error("cleanup: " + addresses.error().message());
            return 1;
        }
        owned.serviceAddresses = {addresses->begin(), addresses->end()};
    }
    auto nodeAddresses = links->nodeAddresses();
    if (!nodeAddresses) {
        log.error("cleanup: " + nodeAddresses.error().message());
        return 1;
    }
    for (const auto& a : *nodeAddresses)
        owned.nodeAddresses.insert(a.address);

    int status = 0;
    // No IPVS at all (the module is not loaded) means there is nothing of ours in it.
    auto client = ipvs::Client::open(ipvs::Client::Options{.loadModule = false});
    if (client) {
        auto services = client->services();
        if (!services) {
            log.error("cleanup: " + services.error().message());
            return 1;
        }
        std::vector<ipvs::Operation> deletes;
        for (const auto& s : *services)
            if (owned(s.key))
                deletes.push_back(ipvs::Operation::deleteService(s.key));
        auto applied = client->apply(deletes);
        if (!applied) {
            log.error("cleanup: " + applied.error().message());
            return 1;
        }
        for (const auto& failure : applied->failures) {
            log.error("cleanup: " + failure.error.message());
            status = 1;
        }
        log.info(0, "cleanup: removed " + std::to_string(deletes.size() - applied->failures.size()) + " virtual servers, left " +
                        std::to_string(services->size() - deletes.size()) + " that are not kube-ipvsd's");
    } else if (client.error().code != EPROTONOSUPPORT && client.error().code != ENOENT) {
        log.error("cleanup: " + client.error().message());
        return 1;
    }
    if (auto nft = ipvs::NftClient::open(); !nft) {
        log.error("cleanup: " + nft.error().message());
        status = 1;
    } else if (auto removed = ipvs::FirewallTable(std::move(*nft), {}).remove(); !removed) {
        log.error("cleanup: " + removed.error().message());
        status = 1;
    }
    if (auto removed = links->deleteLink(ipvs::kDummyLinkName); !removed) {
        log.error("cleanup: " + removed.error().message());
        status = 1;
    } else if (*index != 0) {
        log.info(0, std::string("cleanup: removed ") + ipvs::kDummyLinkName);
    }
    return status;
}

int runInitOnly(const Options& options, Logger& log)
{
    int status = 0;
    for (const auto& module : ipvs::ipvsModules(options.ipvsScheduler)) {
        if (auto loaded = ipvs::loadModule(module); !loaded) {
            log.error("init: " + loaded.error().message());
            status = 1;
        }
    }
    utsname host{};
    uname(&host);
    for (const auto& failure : ipvs::applySysctls(ipvs::Sysctls(), ipvs::ipvsSysctls(host.release, options.ipvsStrictArp))) {
        log.error("init: " + failure.message());
        status = 1;
    }
    if (status == 0)
        log.info(0, "init: IPVS modules loaded and sysctls applied");
    return status;
}

}  // namespace kipvs::daemon
