// SPDX-License-Identifier: Apache-2.0
// --cleanup and --init-only (see one_shot.h).
#include "daemon/one_shot.h"

#include "daemon/conntrack_settings.h"

#include <fstream>
#include <vector>

#include "daemon/kernel_worker.h"
#include "ipvs/host/links.h"
#include "ipvs/host/sysctl.h"
#include "ipvs/kernel_module.h"
#include "ipvs/netfilter/firewall_table.h"
#include "ipvs/netfilter/nftables.h"
#include "ipvs/virtual_servers/client.h"
#include "proxy/kernel_policy.h"
#include "proxy/owned_addresses.h"

namespace kipvs::daemon {

namespace {

// Deletes the owned virtual servers; 0, or 1 when the kernel refused some.
int removeVirtualServers(const proxy::OwnedAddresses& owned, logging::Logger& log)
{
    // No IPVS at all (the module is not loaded) means there is nothing of ours in it.
    auto client = ipvs::Client::open(ipvs::Client::Options{.loadModule = false});
    if (!client) {
        if (client.error().code == EPROTONOSUPPORT || client.error().code == ENOENT)
            return 0;
        log.error("cleanup: " + client.error().message());
        return 1;
    }
    auto present = client->virtualServers();
    if (!present) {
        log.error("cleanup: " + present.error().message());
        return 1;
    }
    std::vector<ipvs::Operation> deletes;
    for (const auto& s : *present)
        if (owned.owns(s.key))
            deletes.push_back(ipvs::Operation::deleteVirtualServer(s.key));
    auto applied = client->apply(deletes);
    if (!applied) {
        log.error("cleanup: " + applied.error().message());
        return 1;
    }
    for (const auto& failure : applied->failures)
        log.error("cleanup: " + failure.error.message());
    log.info(0, "cleanup: removed " + std::to_string(deletes.size() - applied->failures.size()) +
                    " virtual servers, left " + std::to_string(present->size() - deletes.size()) +
                    " that are not kube-ipvsd's");
    return applied->failures.empty() ? 0 : 1;
}

// The NodePorts the table recorded (their addresses may have left the node), then the table.
std::set<IpPort> readRecordedNodePorts(ipvs::FirewallTable& table, logging::Logger& log)
{
    auto recorded = table.readExternal();
    if (!recorded) {
        log.warning("cleanup: NodePorts on addresses that left the node stay: " + recorded.error().message());
        return {};
    }
    return *recorded;
}

// The service-range routes go with the virtual servers in them.
int removeServiceRoutes(ipvs::LinkClient& links, const proxy::OwnedAddresses& owned, logging::Logger& log)
{
    int status = 0;
    for (const auto& range : owned.serviceRanges) {
        if (auto removed = links.removeLocalRoute(range); !removed) {
            log.error("cleanup: " + removed.error().message());
            status = 1;
        } else {
            log.info(0, "cleanup: removed the local route of service range " + range.toString());
        }
    }
    return status;
}

int removeFirewallTable(ipvs::FirewallTable& table, logging::Logger& log)
{
    if (auto removed = table.remove(); !removed) {
        log.error("cleanup: " + removed.error().message());
        return 1;
    }
    return 0;
}

}  // namespace

int runCleanup(const config::Options& options, logging::Logger& log)
{
    auto links = ipvs::LinkClient::open();
    if (!links) {
        log.error("cleanup: " + links.error().message());
        return 1;
    }
    auto nft = ipvs::NftClient::open();
    if (!nft) {
        log.error("cleanup: " + nft.error().message());
        return 1;
    }
    ipvs::FirewallTable table(std::make_unique<ipvs::NftClient>(std::move(*nft)), {});
    auto owned = readOwnedAddresses(
        *links, {options.ipvsExcludeCidrs, options.nodePortRange, readRecordedNodePorts(table, log)});
    if (!owned) {
        log.error("cleanup: " + owned.error().message());
        return 1;
    }
    int status = removeVirtualServers(*owned, log);
    status |= removeServiceRoutes(*links, *owned, log);
    status |= removeFirewallTable(table, log);
    const bool hadLink = !owned->serviceAddresses.empty() || links->linkIndex(proxy::kServiceLinkName).value_or(0) != 0;
    if (auto removed = links->deleteLink(proxy::kServiceLinkName); !removed) {
        log.error("cleanup: " + removed.error().message());
        status = 1;
    } else if (hadLink) {
        log.info(0, std::string("cleanup: removed ") + proxy::kServiceLinkName);
    }
    return status;
}

int runInitOnly(const config::Options& options, logging::Logger& log)
{
    int status = 0;
    for (const auto& module : proxy::ipvsModules(options.ipvsScheduler)) {
        if (auto loaded = ipvs::loadModule(module); !loaded) {
            log.error("init: " + loaded.error().message());
            status = 1;
        }
    }
    for (const auto& failure :
         ipvs::applySysctls(ipvs::Sysctls(), proxy::ipvsSysctlsForThisKernel(options.ipvsStrictArp))) {
        log.error("init: " + failure.message());
        status = 1;
    }
    // kube-proxy's --init-only sets up conntrack too (its platformSetup), for a privileged
    // init container in front of an unprivileged proxy.
    if (auto conntrack = applyConntrackPolicy(conntrackPolicyOf(options.conntrack)); !conntrack) {
        log.error("init: " + conntrack.error().message());
        status = 1;
    } else {
        for (const auto& warning : *conntrack)
            log.warning("init: " + warning.message());
    }
    if (status == 0)
        log.info(0, "init: IPVS modules loaded, sysctls and conntrack limits applied");
    return status;
}

int writeConfig(const config::Options& options, logging::Logger& log)
{
    std::ofstream file(options.writeConfigTo, std::ios::trunc);
    file << config::renderConfig(options);
    file.close();
    if (!file) {
        log.error("cannot write --write-config-to '" + options.writeConfigTo + "'");
        return 1;
    }
    log.info(0, "Wrote configuration to '" + options.writeConfigTo + "'");
    return 0;
}

}  // namespace kipvs::daemon
