// SPDX-License-Identifier: Apache-2.0
// Bounded JSON parsing and typed fields (see json_fields.h).
#include "watch/json_fields.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace kipvs::watch::fields {

namespace {

using rapidjson::SizeType;

// Forwards SAX events to a Document and refuses documents nested deeper than `max`; with
// iterative parsing, a hostile depth costs neither stack nor more memory than its bytes.
struct DepthLimitedHandler {
    Document& doc;
    unsigned max;
    unsigned depth = 0;
    bool tooDeep = false;

    // RapidJSON's SAX handler interface names these methods.
    // NOLINTBEGIN(readability-identifier-naming)
    bool Null() { return doc.Null(); }
    bool Bool(bool b) { return doc.Bool(b); }
    bool Int(int i) { return doc.Int(i); }
    bool Uint(unsigned u) { return doc.Uint(u); }
    bool Int64(int64_t i) { return doc.Int64(i); }
    bool Uint64(uint64_t u) { return doc.Uint64(u); }
    bool Double(double d) { return doc.Double(d); }
    bool RawNumber(const char* s, SizeType n, bool copy) { return doc.RawNumber(s, n, copy); }
    bool String(const char* s, SizeType n, bool copy) { return doc.String(s, n, copy); }
    bool Key(const char* s, SizeType n, bool copy) { return doc.Key(s, n, copy); }
    bool StartObject() { return enter() && doc.StartObject(); }
    bool EndObject(SizeType members)
    {
        --depth;
        return doc.EndObject(members);
    }
    bool StartArray() { return enter() && doc.StartArray(); }
    bool EndArray(SizeType elements)
    {
        --depth;
        return doc.EndArray(elements);
    }

    // NOLINTEND(readability-identifier-naming)

    bool enter()
    {
        if (++depth > max) {
            tooDeep = true;
            return false;
        }
        return true;
    }
};

struct InsituGenerator {
    char* text;
    unsigned maxDepth;
    rapidjson::ParseResult result;
    bool tooDeep = false;

    bool operator()(Document& doc)
    {
        rapidjson::InsituStringStream stream(text);
        rapidjson::Reader reader;
        DepthLimitedHandler handler{doc, maxDepth};
        result = reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag>(stream, handler);
        tooDeep = handler.tooDeep;
        return !result.IsError();
    }
};

}  // namespace

Result<void> parse(Document& doc, std::string& json, size_t maxBytes, unsigned maxDepth)
{
    if (json.size() > maxBytes)
        return fail(Error::Domain::Decode, EMSGSIZE, "decode JSON", "",
                    std::to_string(json.size()) + " bytes, over the limit of " + std::to_string(maxBytes));
    InsituGenerator generator{json.data(), maxDepth, {}};
    doc.Populate(generator);
    if (generator.tooDeep)
        return fail(Error::Domain::Decode, EINVAL, "decode JSON", "",
                    "nested deeper than " + std::to_string(maxDepth) + " levels");
    if (generator.result.IsError())
        return fail(Error::Domain::Decode, EINVAL, "decode JSON", "",
                    std::string(rapidjson::GetParseError_En(generator.result.Code())) + " at offset " +
                        std::to_string(generator.result.Offset()));
    return {};
}

const Value* member(const Value& object, const char* name)
{
    if (!object.IsObject())
        return nullptr;
    // A key given twice keeps its last value, as Go's encoding/json and the YAML path read it.
    const std::string_view wanted(name);
    for (auto it = object.MemberEnd(); it != object.MemberBegin();) {
        --it;
        if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == wanted)
            return &it->value;
    }
    return nullptr;
}

const Value* path(const Value& object, std::initializer_list<const char*> names)
{
    const Value* at = &object;
    for (const char* name : names) {
        at = member(*at, name);
        if (!at)
            return nullptr;
    }
    return at;
}

std::string_view text(const Value* value)
{
    if (!value || !value->IsString())
        return {};
    return {value->GetString(), value->GetStringLength()};
}

std::string_view text(const Value& object, std::initializer_list<const char*> names)
{
    return text(path(object, names));
}

Rejector::Rejector(const Value& object)
{
    auto ns = text(object, {"metadata", "namespace"});
    auto name = text(object, {"metadata", "name"});
    name_ = name.empty() ? "(unnamed)" : (ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name));
}

Decoded<std::optional<int64_t>> integer(const Value* value, const Rejector& reject, const char* field)
{
    if (!value || value->IsNull())
        return std::optional<int64_t>();
    if (!value->IsInt64())
        return reject("invalid-field", std::string(field) + " is not an integer");
    return std::optional<int64_t>(value->GetInt64());
}

Decoded<InetAddress> address(std::string_view value, const Rejector& reject, const char* field)
{
    auto parsed = InetAddress::parse(value);
    if (!parsed)
        return reject("invalid-ip", std::string(field) + " '" + std::string(value) + "' is not an IP address");
    return *parsed;
}

Decoded<Protocol> protocol(const Value* value, const Rejector& reject, const char* field)
{
    auto name = text(value);
    if (name.empty() || name == "TCP")
        return Protocol::Tcp;
    if (name == "UDP")
        return Protocol::Udp;
    if (name == "SCTP")
        return Protocol::Sctp;
    return reject("invalid-protocol", std::string(field) + " '" + std::string(name) + "' is not TCP, UDP or SCTP");
}

Decoded<uint16_t> port(const Value* value, const Rejector& reject, const char* field, ZeroPort zero)
{
    KIPVS_ASSIGN_OR_RETURN(auto number, integer(value, reject, field));
    int64_t n = number.value_or(0);
    if (n < (zero == ZeroPort::Allowed ? 0 : 1) || n > 65535)
        return reject("invalid-port", std::string(field) + " " + std::to_string(n) + " is out of range");
    return static_cast<uint16_t>(n);
}

Decoded<Cidr> cidr(std::string_view value, const Rejector& reject, const char* field)
{
    // The API server trims spaces around source ranges (service validation, "TrimSpace").
    while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ')
        value.remove_suffix(1);
    auto parsed = Cidr::parse(value);
    if (!parsed)
        return reject("invalid-cidr", std::string(field) + " '" + std::string(value) + "' is not a CIDR");
    return *parsed;
}

Decoded<ObjectKey> key(const Value& object, StringPool& pool, const Rejector& reject, Scope scope)
{
    auto name = text(object, {"metadata", "name"});
    auto ns = text(object, {"metadata", "namespace"});
    if (name.empty() || (scope == Scope::Namespaced && ns.empty()))
        return reject("no-name", "metadata.name or metadata.namespace is missing");
    return ObjectKey{pool.intern(ns), std::string(name)};
}

Decoded<std::vector<InetAddress>> addressList(const Value* list, const Rejector& reject, const char* field)
{
    std::vector<InetAddress> out;
    if (!list || list->IsNull())
        return out;
    if (!list->IsArray())
        return reject("invalid-field", std::string(field) + " is not a list");
    for (const auto& item : list->GetArray()) {
        KIPVS_ASSIGN_OR_RETURN(auto a, address(text(&item), reject, field));
        out.push_back(a);
    }
    return out;
}

}  // namespace kipvs::watch::fields
