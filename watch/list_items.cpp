// SPDX-License-Identifier: Apache-2.0
// One in-place pass over a list (see list_items.h).
#include "watch/list_items.h"

#include <cstdint>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace kipvs::watch {

namespace {

using rapidjson::Document;
using rapidjson::SizeType;

// One SAX event of the part being read. Strings point into the text, parsed in place.
struct Token {
    enum class Kind : uint8_t {
        Null,
        Bool,
        Int64,
        Uint64,
        Double,
        String,
        Key,
        StartObject,
        EndObject,
        StartArray,
        EndArray
    };
    Kind kind = Kind::Null;
    bool flag = false;
    SizeType length = 0;  // of a string or key; members or elements of an end
    union {
        int64_t i = 0;
        uint64_t u;
        double d;
        const char* s;
    };

    static Token of(Kind kind, SizeType length = 0)
    {
        Token t;
        t.kind = kind;
        t.length = length;
        return t;
    }
};

// Plays a part's events into a Document (RapidJSON's way to build one from SAX events).
struct Replay {
    const std::vector<Token>& tokens;

    bool operator()(Document& doc) const
    {
        for (const auto& t : tokens)
            if (!play(doc, t))
                return false;
        return true;
    }

    static bool play(Document& doc, const Token& t)
    {
        switch (t.kind) {
        case Token::Kind::Null:
            return doc.Null();
        case Token::Kind::Bool:
            return doc.Bool(t.flag);
        case Token::Kind::Int64:
            return doc.Int64(t.i);
        case Token::Kind::Uint64:
            return doc.Uint64(t.u);
        case Token::Kind::Double:
            return doc.Double(t.d);
        case Token::Kind::String:
            return doc.String(t.s, t.length, false);
        case Token::Kind::Key:
            return doc.Key(t.s, t.length, false);
        case Token::Kind::StartObject:
            return doc.StartObject();
        case Token::Kind::EndObject:
            return doc.EndObject(t.length);
        case Token::Kind::StartArray:
            return doc.StartArray();
        case Token::Kind::EndArray:
            return doc.EndArray(t.length);
        }
        return false;
    }
};

// The SAX events of the whole list: those of the metadata and of each item are kept until that
// part ends, then handed over as a document; nothing else is kept.
class PartsHandler {
public:
    PartsHandler(const ListParts& parts, unsigned maxDepth) : parts_(parts), maxDepth_(maxDepth) {}

    bool isObject = false;
    bool itemsInvalid = false;
    bool tooDeep = false;

    // RapidJSON's SAX handler interface names these methods.
    // NOLINTBEGIN(readability-identifier-naming)
    bool Null() { return scalar(ValueKind::Null, Token{}); }
    bool Bool(bool b) { return scalar(ValueKind::Scalar, withFlag(b)); }
    bool Int(int i) { return Int64(i); }
    bool Uint(unsigned u) { return Uint64(u); }
    bool Int64(int64_t i)
    {
        Token t = Token::of(Token::Kind::Int64);
        t.i = i;
        return scalar(ValueKind::Scalar, t);
    }
    bool Uint64(uint64_t u)
    {
        Token t = Token::of(Token::Kind::Uint64);
        t.u = u;
        return scalar(ValueKind::Scalar, t);
    }
    bool Double(double d)
    {
        Token t = Token::of(Token::Kind::Double);
        t.d = d;
        return scalar(ValueKind::Scalar, t);
    }
    bool RawNumber(const char*, SizeType, bool) { return false; }  // not asked for
    bool String(const char* s, SizeType length, bool)
    {
        return scalar(ValueKind::Scalar, text(Token::Kind::String, s, length));
    }
    bool Key(const char* s, SizeType length, bool)
    {
        if (depth_ == 1)
            key_ = topKey(std::string_view(s, length));
        record(text(Token::Kind::Key, s, length));
        return true;
    }
    bool StartObject() { return start(ValueKind::Object, Token::of(Token::Kind::StartObject)); }
    bool EndObject(SizeType members) { return end(Token::of(Token::Kind::EndObject, members)); }
    bool StartArray() { return start(ValueKind::Array, Token::of(Token::Kind::StartArray)); }
    bool EndArray(SizeType elements) { return end(Token::of(Token::Kind::EndArray, elements)); }
    // NOLINTEND(readability-identifier-naming)

private:
    enum class TopKey { Other, Metadata, Items };
    enum class ValueKind { Null, Scalar, Object, Array };

    static TopKey topKey(std::string_view name)
    {
        if (name == "metadata")
            return TopKey::Metadata;
        if (name == "items")
            return TopKey::Items;
        return TopKey::Other;
    }
    static Token withFlag(bool b)
    {
        Token t = Token::of(Token::Kind::Bool);
        t.flag = b;
        return t;
    }
    static Token text(Token::Kind kind, const char* s, SizeType length)
    {
        Token t = Token::of(kind, length);
        t.s = s;
        return t;
    }

    void record(const Token& t)
    {
        if (recording_)
            tokens_.push_back(t);
    }

    bool scalar(ValueKind kind, Token t)
    {
        if (depth_ == 1)
            topLevelValue(kind);
        else if (depth_ == 2 && inItems_)
            hand(parts_.item, {Token{}});  // not an object nor an array: null
        else
            record(t);
        return true;  // at depth 0 the root is not an object: isObject stays false
    }

    // The value of the top-level key just read begins.
    void topLevelValue(ValueKind kind)
    {
        if (key_ == TopKey::Metadata && kind == ValueKind::Object)
            recording_ = true;
        if (key_ != TopKey::Items)
            return;
        inItems_ = kind == ValueKind::Array;
        itemsInvalid = kind != ValueKind::Array && kind != ValueKind::Null;
        if (parts_.itemsBegin)
            parts_.itemsBegin();
    }

    bool start(ValueKind kind, const Token& t)
    {
        if (depth_ >= maxDepth_) {
            tooDeep = true;
            return false;
        }
        if (depth_ == 0)
            isObject = kind == ValueKind::Object;
        else if (depth_ == 1)
            topLevelValue(kind);
        else if (depth_ == 2 && inItems_)
            recording_ = true;
        record(t);
        ++depth_;
        return true;
    }

    bool end(const Token& t)
    {
        --depth_;
        record(t);
        if (depth_ == 1 && key_ == TopKey::Metadata && recording_)
            hand(parts_.metadata, tokens_);
        else if (depth_ == 1 && key_ == TopKey::Items)
            inItems_ = false;
        else if (depth_ == 2 && inItems_)
            hand(parts_.item, tokens_);
        return true;
    }

    // Builds the part's document and hands it over; the next part starts afresh.
    void hand(const std::function<void(const rapidjson::Value&)>& to, const std::vector<Token>& tokens)
    {
        if (to) {
            Document doc;
            const Replay replay{tokens};
            doc.Populate(replay);
            to(doc);
        }
        tokens_.clear();
        recording_ = false;
    }

    const ListParts& parts_;
    unsigned maxDepth_;
    unsigned depth_ = 0;
    TopKey key_ = TopKey::Other;
    bool inItems_ = false;  // inside the items array, at its top
    bool recording_ = false;  // inside the metadata or an item
    std::vector<Token> tokens_;
};

}  // namespace

Result<ListShape> parseList(std::string& json, size_t maxBytes, unsigned maxDepth, const ListParts& parts)
{
    if (json.size() > maxBytes)
        return fail(Error::Domain::Decode, EMSGSIZE, "decode JSON", "",
                    std::to_string(json.size()) + " bytes, over the limit of " + std::to_string(maxBytes));
    rapidjson::InsituStringStream stream(json.data());
    PartsHandler handler(parts, maxDepth);
    rapidjson::Reader reader;
    // Iterative: a hostile depth costs no stack.
    const auto result = reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag>(stream, handler);
    if (handler.tooDeep)
        return fail(Error::Domain::Decode, EINVAL, "decode JSON", "",
                    "nested deeper than " + std::to_string(maxDepth) + " levels");
    if (result.IsError())
        return fail(Error::Domain::Decode, EINVAL, "decode JSON", "",
                    std::string(rapidjson::GetParseError_En(result.Code())) + " at offset " +
                        std::to_string(result.Offset()));
    return handler.isObject && !handler.itemsInvalid ? ListShape::List : ListShape::NotList;
}

}  // namespace kipvs::watch
