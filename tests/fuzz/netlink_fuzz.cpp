// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary bytes as a datagram of netlink replies, read as the kernel's
// answers are: every IPVS reply decoder on each message (acknowledgements, virtual and real
// servers, info, timeouts), and rtnetlink address and link messages through libnl's parser into
// the caches the link client reads node addresses from.
// Properties: no crash, no out-of-bounds read, no leak, no hang.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <linux/netlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include "ipvs/host/address_dump.h"
#include "ipvs/virtual_servers/codec.h"

using namespace kipvs::ipvs;

namespace {

struct Caches {
    nl_cache* addresses = nullptr;
    nl_cache* links = nullptr;
    Caches()
    {
        nl_cache_alloc_name("route/addr", &addresses);
        nl_cache_alloc_name("route/link", &links);
    }
    ~Caches()
    {
        nl_cache_free(addresses);
        nl_cache_free(links);
    }
    Caches(const Caches&) = delete;
    Caches& operator=(const Caches&) = delete;
};

void parseInto(nl_cache* cache, nlmsghdr* message)
{
    if (!cache)
        return;
    nl_msg* msg = nlmsg_convert(message);
    if (!msg)
        return;
    (void)nl_cache_parse_and_add(cache, msg);
    nlmsg_free(msg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // The kernel's datagrams are aligned; the fuzzer's bytes need not be.
    std::vector<uint8_t> datagram(data, data + size);
    Caches caches;
    size_t offset = 0;
    // NLMSG_OK and NLMSG_NEXT, spelled out with unsigned lengths.
    while (datagram.size() - offset >= sizeof(nlmsghdr)) {
        auto* message = reinterpret_cast<nlmsghdr*>(datagram.data() + offset);
        if (message->nlmsg_len < sizeof(nlmsghdr) || message->nlmsg_len > datagram.size() - offset)
            break;
        (void)decodeAcknowledgement(message);
        (void)decodeVirtualServerMessage(message);
        (void)decodeRealServerMessage(message, AF_INET);
        (void)decodeRealServerMessage(message, AF_INET6);
        (void)decodeInfoMessage(message);
        (void)decodeTimeoutsMessage(message);
        parseInto(caches.addresses, message);
        parseInto(caches.links, message);
        offset += NLMSG_ALIGN(message->nlmsg_len);
        if (offset > datagram.size())
            break;
    }
    (void)addressesOn(caches.addresses, 1);
    (void)usableAddresses(caches.addresses, caches.links, "kube-ipvs0");
    return 0;
}
