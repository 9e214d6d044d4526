// SPDX-License-Identifier: Apache-2.0
// nfnetlink set-element dumps over libnl (see set_element_dump.h).
#include "ipvs/netfilter/set_element_dump.h"

#include <algorithm>
#include <cerrno>
#include <memory>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

namespace kipvs::ipvs {

namespace {

struct MessageDeleter {
    void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};
using Message = std::unique_ptr<nl_msg, MessageDeleter>;

// libnl returns its own NLE_* codes; callers want the kernel's errno.
int toErrno(int nle)
{
    switch (nle < 0 ? -nle : nle) {
    case NLE_OBJ_NOTFOUND:
        return ENOENT;
    case NLE_PERM:
        return EPERM;
    case NLE_NOMEM:
        return ENOMEM;
    case NLE_DUMP_INTR:
        return EINTR;
    case NLE_INVAL:
        return EINVAL;
    case NLE_OPNOTSUPP:
        return EOPNOTSUPP;
    default:
        return EIO;
    }
}

// The bytes of an nft_data attribute (NFTA_DATA_VALUE inside); empty when absent.
Result<std::string> dataValue(nlattr* data)
{
    if (!data)
        return std::string();
    nlattr* fields[NFTA_DATA_MAX + 1];
    if (nla_parse_nested(fields, NFTA_DATA_MAX, data, nullptr) < 0 || !fields[NFTA_DATA_VALUE])
        return fail(Error::Domain::Decode, EINVAL, "decode set element", "", "key without a value");
    const auto* value = fields[NFTA_DATA_VALUE];
    return std::string(static_cast<const char*>(nla_data(value)), static_cast<size_t>(nla_len(value)));
}

Result<SetElement> decodeElement(nlattr* item)
{
    nlattr* fields[NFTA_SET_ELEM_MAX + 1];
    if (nla_parse_nested(fields, NFTA_SET_ELEM_MAX, item, nullptr) < 0 || !fields[NFTA_SET_ELEM_KEY])
        return fail(Error::Domain::Decode, EINVAL, "decode set element", "", "element without a key");
    if (fields[NFTA_SET_ELEM_FLAGS] && (ntohl(nla_get_u32(fields[NFTA_SET_ELEM_FLAGS])) & NFT_SET_ELEM_INTERVAL_END))
        return fail(Error::Domain::Decode, EOPNOTSUPP, "decode set element", "", "an interval's end marker");
    SetElement element;
    KIPVS_ASSIGN_OR_RETURN(element.key, dataValue(fields[NFTA_SET_ELEM_KEY]));
    KIPVS_ASSIGN_OR_RETURN(element.keyEnd, dataValue(fields[NFTA_SET_ELEM_KEY_END]));
    return canonicalElement(std::move(element));
}

struct DumpState {
    SetElements elements;
    std::optional<Error> error;
};

int onMessage(nl_msg* msg, void* arg)
{
    auto* state = static_cast<DumpState*>(arg);
    if (state->error)
        return NL_OK;  // the dump is still read to its end, for the next request's sake
    if (auto decoded = decodeSetElementMessage(nlmsg_hdr(msg), state->elements); !decoded) {
        state->error = decoded.error();
    }
    return NL_OK;
}

}  // namespace

Result<void> decodeSetElementMessage(const nlmsghdr* message, SetElements& out)
{
    nlattr* attributes[NFTA_SET_ELEM_LIST_MAX + 1];
    // libnl's parser takes a non-const header but only reads it.
    if (nlmsg_parse(const_cast<nlmsghdr*>(message), sizeof(nfgenmsg), attributes, NFTA_SET_ELEM_LIST_MAX, nullptr) < 0)
        return fail(Error::Domain::Decode, EINVAL, "decode set element dump", "", "malformed message");
    if (!attributes[NFTA_SET_ELEM_LIST_ELEMENTS])
        return {};
    nlattr* item = nullptr;
    int left = 0;
    nla_for_each_nested(item, attributes[NFTA_SET_ELEM_LIST_ELEMENTS], left)
    {
        KIPVS_ASSIGN_OR_RETURN(auto element, decodeElement(item));
        out.push_back(std::move(element));
    }
    return {};
}

Result<SetElementDump> SetElementDump::open()
{
    KIPVS_ASSIGN_OR_RETURN(auto socket, allocateNetlinkSocket());
    if (int err = nl_connect(socket.get(), NETLINK_NETFILTER); err < 0)
        return fail(Error::Domain::System, toErrno(err), "connect nfnetlink socket");
    nl_socket_disable_auto_ack(socket.get());
    return SetElementDump(std::move(socket));
}

Result<SetElements> SetElementDump::list(const std::string& table, const std::string& set)
{
    // A set changed while the kernel dumped it is simply asked again.
    auto listed = dumpOnce(table, set);
    for (int attempt = 1; attempt < 5 && !listed && listed.error().code == EINTR; ++attempt)
        listed = dumpOnce(table, set);
    // A failed exchange may leave replies on the socket: the next one starts on a fresh socket.
    if (!listed && listed.error().code != ENOENT)
        if (auto fresh = open())
            socket_ = std::move(fresh->socket_);
    return listed;
}

Result<SetElements> SetElementDump::dumpOnce(const std::string& table, const std::string& set)
{
    const std::string object = "inet " + table + " " + set;
    Message request(nlmsg_alloc_simple((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_DUMP));
    nfgenmsg header{NFPROTO_INET, NFNETLINK_V0, 0};
    if (!request || nlmsg_append(request.get(), &header, sizeof header, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(request.get(), NFTA_SET_ELEM_LIST_TABLE, table.c_str()) < 0 ||
        nla_put_string(request.get(), NFTA_SET_ELEM_LIST_SET, set.c_str()) < 0)
        return fail(Error::Domain::System, ENOMEM, "list set elements", object);
    if (int err = nl_send_auto(socket_.get(), request.get()); err < 0)
        return fail(Error::Domain::Kernel, toErrno(err), "list set elements", object);
    DumpState state;
    nl_socket_modify_cb(socket_.get(), NL_CB_VALID, NL_CB_CUSTOM, onMessage, &state);
    const int received = nl_recvmsgs_default(socket_.get());
    if (state.error)
        return tl::unexpected(*state.error);
    if (received < 0)
        return fail(Error::Domain::Kernel, toErrno(received), "list set elements", object);
    std::sort(state.elements.begin(), state.elements.end());
    return std::move(state.elements);
}

}  // namespace kipvs::ipvs
