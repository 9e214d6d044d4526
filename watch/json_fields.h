// SPDX-License-Identifier: Apache-2.0
// The decoders' building blocks: bounded JSON parsing (size and depth), member look-ups, and
// typed fields (integers, IPs, ports, protocols, CIDRs, names) whose failure is a Rejection of
// the whole object. Internal to watch/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "base/inet_address.h"
#include "base/protocol.h"
#include "base/result.h"
#include "watch/decoder.h"
#include "watch/objects.h"
#include "watch/string_pool.h"

namespace kipvs::watch::fields {

using rapidjson::Document;
using rapidjson::Value;

// Parses `json` in place into `doc`: over `maxBytes` or nested deeper than `maxDepth` fails.
Result<void> parse(Document& doc, std::string& json, size_t maxBytes, unsigned maxDepth);

const Value* member(const Value& object, const char* name);
const Value* path(const Value& object, std::initializer_list<const char*> names);
// A string value, or empty for anything else.
std::string_view text(const Value* value);
std::string_view text(const Value& object, std::initializer_list<const char*> names);

// Builds the rejection of one object and carries it through the decoders.
class Rejector {
public:
    explicit Rejector(const Value& object);
    tl::unexpected<Rejection> operator()(const char* reason, std::string detail) const
    {
        return tl::unexpected<Rejection>(Rejection{name_, reason, std::move(detail)});
    }

private:
    std::string name_;
};

template <typename T>
using Decoded = tl::expected<T, Rejection>;

Decoded<std::optional<int64_t>> integer(const Value* value, const Rejector& reject, const char* field);
Decoded<InetAddress> address(std::string_view value, const Rejector& reject, const char* field);
Decoded<Protocol> protocol(const Value* value, const Rejector& reject, const char* field);
enum class ZeroPort { Refused, Allowed };
Decoded<uint16_t> port(const Value* value, const Rejector& reject, const char* field, ZeroPort zero);
Decoded<Cidr> cidr(std::string_view value, const Rejector& reject, const char* field);
enum class Scope { Cluster, Namespaced };
Decoded<ObjectKey> key(const Value& object, StringPool& pool, const Rejector& reject, Scope scope);
Decoded<std::vector<InetAddress>> addressList(const Value* list, const Rejector& reject, const char* field);

}  // namespace kipvs::watch::fields
