// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary bytes through the watch-stream framer (split at a point taken
// from the input) and every decoder entry point. Properties: no crash, no leak, no hang, the
// framer yields the same documents whatever the split, and a list decoded as it arrives (in two
// pieces) is the same page as one decoded whole.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "watch/decoder.h"
#include "watch/json_stream.h"

using namespace kipvs::watch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const size_t cut = data[0] % size;
    const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

    std::vector<std::string> whole, split;
    JsonStreamSplitter a(1 << 16), b(1 << 16);
    const bool wholeOk = a.feed(bytes, whole).has_value();
    const bool splitOk = b.feed(std::string_view(bytes).substr(0, cut), split).has_value() &&
                         b.feed(std::string_view(bytes).substr(std::min(cut, bytes.size())), split).has_value();
    if (wholeOk != splitOk || (wholeOk && whole != split))
        __builtin_trap();

    StringPool pool;
    Decoder decoder(pool, DecodeLimits{1 << 20, 1 << 20, 64});
    for (auto document : whole) {
        auto copy = document;
        (void)decoder.serviceEvent(copy);
        copy = document;
        (void)decoder.endpointSliceEvent(copy);
        copy = document;
        (void)decoder.nodeEvent(copy);
        copy = document;
        (void)decoder.serviceCidrEvent(copy);
    }
    std::string copy = bytes;
    (void)decoder.serviceList(copy);
    copy = bytes;
    auto wholeList = decoder.endpointSliceList(copy);
    // The same list decoded as it arrives, in two pieces: where both succeed, the same page.
    auto stream = decoder.listStream<EndpointSlice>();
    const std::string_view view(bytes);
    kipvs::Result<ListPage<EndpointSlice>> streamed = tl::unexpected(kipvs::Error{});
    if (stream.feed(view.substr(0, cut)) && stream.feed(view.substr(std::min(cut, view.size()))))
        streamed = stream.finish();
    if (wholeList && streamed &&
        (wholeList->items.size() != streamed->items.size() || wholeList->rejected.size() != streamed->rejected.size() ||
         wholeList->resourceVersion != streamed->resourceVersion ||
         wholeList->continueToken != streamed->continueToken))
        __builtin_trap();
    copy = bytes;
    (void)decoder.serviceCidrList(copy);
    copy = bytes;
    std::vector<Rejection> rejected;
    (void)decoder.manifest(copy, rejected);
    return 0;
}
