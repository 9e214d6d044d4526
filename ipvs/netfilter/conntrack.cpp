// SPDX-License-Identifier: Apache-2.0
// Stale UDP flows deleted over libnetfilter-conntrack (see conntrack.h).
#include "ipvs/netfilter/conntrack.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

namespace kipvs::ipvs {

namespace {

struct HandleDeleter {
    void operator()(nfct_handle* h) const { nfct_close(h); }
};
using Handle = std::unique_ptr<nfct_handle, HandleDeleter>;
struct ConntrackDeleter {
    void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using Conntrack = std::unique_ptr<nf_conntrack, ConntrackDeleter>;

InetAddress addressOf(const nf_conntrack* ct, int family, nf_conntrack_attr v4, nf_conntrack_attr v6)
{
    if (family == AF_INET) {
        std::array<uint8_t, 4> a{};
        std::memcpy(a.data(), nfct_get_attr(ct, v4), a.size());
        return InetAddress::v4(a);
    }
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), nfct_get_attr(ct, v6), a.size());
    return InetAddress::v6(a);
}

struct DumpState {
    int family;
    const std::vector<StaleFlow>* flows;
    std::vector<Conntrack> matches;
};

int onEntry(enum nf_conntrack_msg_type, nf_conntrack* ct, void* data)
{
    auto* state = static_cast<DumpState*>(data);
    if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
        return NFCT_CB_CONTINUE;
    const InetAddress service = addressOf(ct, state->family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
    const uint16_t port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    const InetAddress replier = addressOf(ct, state->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
    const StaleFlow flow{service, port, replier};
    if (std::binary_search(state->flows->begin(), state->flows->end(), flow))
        state->matches.emplace_back(nfct_clone(ct));
    return NFCT_CB_CONTINUE;
}

}  // namespace

Result<size_t> deleteStaleUdpFlows(const std::vector<StaleFlow>& unsorted)
{
    if (unsorted.empty())
        return 0;
    std::vector<StaleFlow> flows = unsorted;
    std::sort(flows.begin(), flows.end());
    Handle handle(nfct_open(CONNTRACK, 0));
    if (!handle)
        return fail(Error::Domain::Kernel, errno, "open conntrack netlink socket");
    size_t deleted = 0;
    for (int family : {AF_INET, AF_INET6}) {
        const bool wanted =
            std::any_of(flows.begin(), flows.end(), [&](const StaleFlow& f) { return f.service.family() == family; });
        if (!wanted)
            continue;
        DumpState state{family, &flows, {}};
        nfct_callback_register(handle.get(), NFCT_T_ALL, onEntry, &state);
        uint32_t dumpFamily = static_cast<uint32_t>(family);
        if (nfct_query(handle.get(), NFCT_Q_DUMP, &dumpFamily) < 0)
            return fail(Error::Domain::Kernel, errno, "dump conntrack table", family == AF_INET ? "IPv4" : "IPv6");
        nfct_callback_unregister(handle.get());
        for (const auto& ct : state.matches) {
            if (nfct_query(handle.get(), NFCT_Q_DESTROY, ct.get()) == 0)
                ++deleted;
            else if (errno != ENOENT)
                return fail(Error::Domain::Kernel, errno, "delete conntrack entry");
        }
    }
    return deleted;
}

}  // namespace kipvs::ipvs
