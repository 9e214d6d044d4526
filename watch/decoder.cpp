// SPDX-License-Identifier: Apache-2.0
// Decoding of Kubernetes JSON into the compact object model (see decoder.h).
#include "watch/decoder.h"

#include "watch/list_items.h"
#include "watch/object_decoders.h"

namespace kipvs::watch {

using namespace fields;

const char* kindName(Kind kind)
{
    switch (kind) {
    case Kind::Service:
        return "Service";
    case Kind::EndpointSlice:
        return "EndpointSlice";
    case Kind::Node:
        return "Node";
    case Kind::ServiceCidr:
        return "ServiceCIDR";
    }
    return "?";
}

namespace {

template <typename T>
void takeMetadata(ListPage<T>& page, const Value& metadata)
{
    page.resourceVersion = text(metadata, {"resourceVersion"});
    page.continueToken = text(metadata, {"continue"});
}

template <typename T>
void takeItem(ListPage<T>& page, const Value& item, StringPool& pool)
{
    auto decoded = decodeObject(item, pool, static_cast<T*>(nullptr));
    if (decoded)
        page.items.push_back(std::move(*decoded));
    else
        page.rejected.push_back(std::move(decoded.error()));
}

}  // namespace

template <typename T>
ListStream<T>::ListStream(StringPool& pool, DecodeLimits limits)
    : pool_(pool),
      limits_(limits),
      splitter_(limits.maxDocumentBytes, limits.maxObjectBytes, limits.maxDepth,
                {[this] {
                     page_.items.clear();
                     page_.rejected.clear();
                 },
                 [this](std::string& text) { return item(text); }})
{}

template <typename T>
Result<void> ListStream<T>::item(std::string& text)
{
    Document doc;
    KIPVS_TRY(parse(doc, text, limits_.maxObjectBytes, limits_.maxDepth));
    takeItem(page_, doc, pool_);
    return {};
}

// What is left once the items went by: the metadata, and whether it was a list at all.
template <typename T>
Result<ListPage<T>> ListStream<T>::finish()
{
    KIPVS_ASSIGN_OR_RETURN(auto rest, splitter_.finish());
    ListParts parts;
    parts.metadata = [this](const Value& metadata) { takeMetadata(page_, metadata); };
    parts.itemsBegin = [] {};  // "items": [], its elements decoded already
    parts.item = [this](const Value& item) { takeItem(page_, item, pool_); };
    KIPVS_ASSIGN_OR_RETURN(const auto shape, parseList(rest, limits_.maxDocumentBytes, limits_.maxDepth, parts));
    if (shape != ListShape::List)
        return fail(Error::Domain::Decode, EINVAL, "decode list", "", "not a Kubernetes list");
    return std::move(page_);
}

template class ListStream<Service>;
template class ListStream<EndpointSlice>;
template class ListStream<Node>;
template class ListStream<ServiceCidr>;

// The list is parsed in place in one pass, its items handed over one at a time: never the
// document of the whole list.
template <typename T>
Result<ListPage<T>> Decoder::list(std::string& json)
{
    ListPage<T> page;
    ListParts parts;
    parts.metadata = [&](const Value& metadata) { takeMetadata(page, metadata); };
    parts.itemsBegin = [&] {
        page.items.clear();
        page.rejected.clear();
    };
    parts.item = [&](const Value& item) { takeItem(page, item, pool_); };
    KIPVS_ASSIGN_OR_RETURN(const auto shape, parseList(json, limits_.maxDocumentBytes, limits_.maxDepth, parts));
    if (shape != ListShape::List)
        return fail(Error::Domain::Decode, EINVAL, "decode list", "", "not a Kubernetes list");
    return page;
}

template <typename T>
Result<WatchEvent<T>> Decoder::event(std::string& json)
{
    Document doc;
    KIPVS_TRY(parse(doc, json, limits_.maxObjectBytes, limits_.maxDepth));
    auto type = text(member(doc, "type"));
    const Value* object = member(doc, "object");
    if (!object || !object->IsObject())
        return fail(Error::Domain::Decode, EINVAL, "decode watch event", "", "the event has no object");
    WatchEvent<T> event;
    using Type = typename WatchEvent<T>::Type;
    if (type == "ADDED")
        event.type = Type::Added;
    else if (type == "MODIFIED")
        event.type = Type::Modified;
    else if (type == "DELETED")
        event.type = Type::Deleted;
    else if (type == "BOOKMARK")
        event.type = Type::Bookmark;
    else if (type == "ERROR")
        event.type = Type::Error;
    else
        return fail(Error::Domain::Decode, EINVAL, "decode watch event", "",
                    "unknown event type '" + std::string(type) + "'");

    event.resourceVersion = text(*object, {"metadata", "resourceVersion"});
    if (event.type == Type::Error) {
        event.status = decodeStatus(*object);
        return event;
    }
    if (event.type == Type::Bookmark) {
        event.initialEventsEnd = text(*object, {"metadata", "annotations", "k8s.io/initial-events-end"}) == "true";
        return event;
    }
    constexpr const char* kExpectedKind = std::is_same_v<T, Service>         ? "Service"
                                          : std::is_same_v<T, EndpointSlice> ? "EndpointSlice"
                                          : std::is_same_v<T, Node>          ? "Node"
                                                                             : "ServiceCIDR";
    auto kind = text(member(*object, "kind"));
    if (!kind.empty() && kind != kExpectedKind)
        return fail(Error::Domain::Decode, EINVAL, "decode watch event", "",
                    "object of kind '" + std::string(kind) + "' in a watch of " + kExpectedKind);
    auto decoded = decodeObject(*object, pool_, static_cast<T*>(nullptr));
    if (decoded)
        event.object = std::move(*decoded);
    else
        event.rejected = std::move(decoded.error());
    return event;
}

Result<ListPage<Service>> Decoder::serviceList(std::string& json)
{
    return list<Service>(json);
}
Result<ListPage<EndpointSlice>> Decoder::endpointSliceList(std::string& json)
{
    return list<EndpointSlice>(json);
}
Result<ListPage<Node>> Decoder::nodeList(std::string& json)
{
    return list<Node>(json);
}
Result<ListPage<ServiceCidr>> Decoder::serviceCidrList(std::string& json)
{
    return list<ServiceCidr>(json);
}
Result<WatchEvent<ServiceCidr>> Decoder::serviceCidrEvent(std::string& json)
{
    return event<ServiceCidr>(json);
}
Result<WatchEvent<Service>> Decoder::serviceEvent(std::string& json)
{
    return event<Service>(json);
}
Result<WatchEvent<EndpointSlice>> Decoder::endpointSliceEvent(std::string& json)
{
    return event<EndpointSlice>(json);
}
Result<WatchEvent<Node>> Decoder::nodeEvent(std::string& json)
{
    return event<Node>(json);
}

std::optional<Status> Decoder::status(std::string& json)
{
    Document doc;
    if (!parse(doc, json, limits_.maxObjectBytes, limits_.maxDepth) || text(member(doc, "kind")) != "Status")
        return std::nullopt;
    return decodeStatus(doc);
}

Result<std::vector<AnyObject>> Decoder::manifest(std::string& json, std::vector<Rejection>& rejected)
{
    Document doc;
    KIPVS_TRY(parse(doc, json, limits_.maxDocumentBytes, limits_.maxDepth));
    std::vector<AnyObject> out;
    auto one = [&](const Value& object) -> Result<void> {
        auto kind = text(member(object, "kind"));
        auto keep = [&](auto decoded) {
            if (decoded)
                out.emplace_back(std::move(*decoded));
            else
                rejected.push_back(std::move(decoded.error()));
        };
        if (kind == "Service")
            keep(decodeService(object, pool_));
        else if (kind == "EndpointSlice")
            keep(decodeEndpointSlice(object, pool_));
        else if (kind == "Node")
            keep(decodeNode(object, pool_));
        else if (kind == "ServiceCIDR")
            keep(decodeServiceCidr(object, pool_));
        else
            rejected.push_back(
                Rejector(object)("unknown-kind",
                                 "kind '" + std::string(kind) + "' is not Service, EndpointSlice, Node or ServiceCIDR")
                    .value());
        return {};
    };
    const Value* items = member(doc, "items");
    auto kind = text(member(doc, "kind"));
    if (items && items->IsArray() && (kind == "List" || kind.ends_with("List"))) {
        for (const auto& item : items->GetArray())
            one(item);
    } else if (doc.IsObject()) {
        one(doc);
    } else {
        return fail(Error::Domain::Decode, EINVAL, "decode manifest", "", "not a Kubernetes object or list");
    }
    return out;
}

}  // namespace kipvs::watch
