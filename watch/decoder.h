// SPDX-License-Identifier: Apache-2.0
// JSON (RapidJSON) to the compact object model: LIST pages, watch events, single objects.
// One decoder for the API server's responses and for manifest files.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "watch/list_stream.h"
#include "watch/objects.h"
#include "watch/string_pool.h"

namespace kipvs::watch {

enum class Kind { Service, EndpointSlice, Node, ServiceCidr };
const char* kindName(Kind kind);  // "Service", "EndpointSlice", "Node", "ServiceCIDR"

struct DecodeLimits {
    size_t maxDocumentBytes = size_t{256} << 20;  // a whole LIST response, as the connection caps it
    size_t maxObjectBytes = 8u * 1024 * 1024;  // one watch event; the API server stores <= 3 MiB
    unsigned maxDepth = 100;  // nesting of arrays and objects
};

// An object skipped because a field it needs is invalid. The rest of its list or stream is kept.
struct Rejection {
    std::string object;  // "namespace/name", or "(unnamed)"
    std::string reason;  // a short label for metrics: "invalid-ip", "invalid-port", ...
    std::string detail;  // the offending field and value, for the log line
};

template <typename T>
struct ListPage {
    std::string resourceVersion;
    std::string continueToken;
    std::vector<T> items;
    std::vector<Rejection> rejected;
};

// A LIST page decoded while its body arrives, an item at a time, never held whole: feed() each
// piece as it comes, then finish(). The same page, rejections and failures as Decoder's *List
// functions, but that an item over maxObjectBytes fails the page too.
template <typename T>
class ListStream {
public:
    ListStream(StringPool& pool, DecodeLimits limits);
    ListStream(const ListStream&) = delete;  // the splitter calls back into it
    ListStream& operator=(const ListStream&) = delete;

    Result<void> feed(std::string_view bytes) { return splitter_.feed(bytes); }
    Result<ListPage<T>> finish();

private:
    Result<void> item(std::string& text);

    StringPool& pool_;
    DecodeLimits limits_;
    ListPage<T> page_;
    ListSplitter splitter_;
};

// A Kubernetes Status (the object of an ERROR event, or the body of an error response).
struct Status {
    int code = 0;
    std::string reason;  // "Expired", "Gone", "TooManyRequests"...
    std::string message;
    bool resourceVersionTooLarge = false;  // cause ResourceVersionTooLarge
};

template <typename T>
struct WatchEvent {
    enum class Type { Added, Modified, Deleted, Bookmark, Error };
    Type type = Type::Added;
    std::optional<T> object;  // Added/Modified/Deleted, unless rejected
    std::optional<Rejection> rejected;
    std::string resourceVersion;  // of the object or the bookmark
    Status status;  // Error
    bool initialEventsEnd = false;  // a bookmark ending a streaming list's initial events
};

// In Kind's order.
using AnyObject = std::variant<Service, EndpointSlice, Node, ServiceCidr>;

class Decoder {
public:
    explicit Decoder(StringPool& pool, DecodeLimits limits = {}) : pool_(pool), limits_(limits) {}

    // Each decodes `json` in place (the buffer is modified). A document that is not JSON,
    // too deep or too large fails as a whole; an invalid object inside it is a Rejection.
    Result<ListPage<Service>> serviceList(std::string& json);
    Result<ListPage<EndpointSlice>> endpointSliceList(std::string& json);
    Result<ListPage<Node>> nodeList(std::string& json);
    Result<WatchEvent<Service>> serviceEvent(std::string& json);
    Result<WatchEvent<EndpointSlice>> endpointSliceEvent(std::string& json);
    Result<WatchEvent<Node>> nodeEvent(std::string& json);
    Result<ListPage<ServiceCidr>> serviceCidrList(std::string& json);
    Result<WatchEvent<ServiceCidr>> serviceCidrEvent(std::string& json);
    template <typename T>
    ListStream<T> listStream()
    {
        return ListStream<T>(pool_, limits_);
    }
    // A Status body of an error response; nullopt when the body is not one.
    std::optional<Status> status(std::string& json);
    // One object of any of the four kinds, as found in a manifest file: by its "kind".
    // Lists ("List", "ServiceList"...) yield every item.
    Result<std::vector<AnyObject>> manifest(std::string& json, std::vector<Rejection>& rejected);

    const DecodeLimits& limits() const { return limits_; }

private:
    template <typename T>
    Result<ListPage<T>> list(std::string& json);
    template <typename T>
    Result<WatchEvent<T>> event(std::string& json);

    StringPool& pool_;
    DecodeLimits limits_;
};

}  // namespace kipvs::watch
