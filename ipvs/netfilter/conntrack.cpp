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
    const ServedUdpFlows* served;
    std::vector<Conntrack> unserved;
};

int onEntry(enum nf_conntrack_msg_type, nf_conntrack* ct, void* data)
{
    auto* state = static_cast<DumpState*>(data);
    if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
        return NFCT_CB_CONTINUE;
    const InetAddress destination = addressOf(ct, state->family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST);
    const uint16_t port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    auto served = state->served->find({destination, port});
    if (served == state->served->end())
        return NFCT_CB_CONTINUE;  // not a UDP virtual server's flow
    const InetAddress replier = addressOf(ct, state->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC);
    if (!std::binary_search(served->second.begin(), served->second.end(), replier))
        state->unserved.emplace_back(nfct_clone(ct));
    return NFCT_CB_CONTINUE;
}

Result<size_t> reconcileFamily(nfct_handle* handle, int family, const ServedUdpFlows& served)
{
    DumpState state{family, &served, {}};
    nfct_callback_register(handle, NFCT_T_ALL, onEntry, &state);
    uint32_t dumpFamily = static_cast<uint32_t>(family);
    const int dumped = nfct_query(handle, NFCT_Q_DUMP, &dumpFamily);
    const int dumpError = errno;
    nfct_callback_unregister(handle);
    if (dumped < 0)
        return fail(Error::Domain::Kernel, dumpError, "dump conntrack table", family == AF_INET ? "IPv4" : "IPv6");
    size_t deleted = 0;
    for (const auto& ct : state.unserved) {
        if (nfct_query(handle, NFCT_Q_DESTROY, ct.get()) == 0)
            ++deleted;
        else if (errno != ENOENT)
            return fail(Error::Domain::Kernel, errno, "delete conntrack entry");
    }
    return deleted;
}

}  // namespace

Result<std::vector<ConntrackPass>> reconcileUdpFlows(const ServedUdpFlows& served)
{
    std::vector<ConntrackPass> passes;
    if (served.empty())
        return passes;
    Handle handle(nfct_open(CONNTRACK, 0));
    if (!handle)
        return fail(Error::Domain::Kernel, errno, "open conntrack netlink socket");
    for (int family : {AF_INET, AF_INET6}) {
        if (std::none_of(served.begin(), served.end(), [&](const auto& s) { return s.first.first.family() == family; }))
            continue;
        const auto started = std::chrono::steady_clock::now();
        KIPVS_ASSIGN_OR_RETURN(const size_t deleted, reconcileFamily(handle.get(), family, served));
        passes.push_back({family, deleted, std::chrono::steady_clock::now() - started});
    }
    return passes;
}

}  // namespace kipvs::ipvs
