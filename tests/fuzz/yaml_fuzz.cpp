// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary bytes as a YAML manifest (to JSON, then the object decoder, as
// --manifests reads them) and as a YAML tree (as a kubeconfig or config file is read).
// Properties: no crash, no leak, no hang, no memory blow-up (aliases, nesting, bad UTF-8).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/yaml_json.h"
#include "watch/decoder.h"
#include "watch/yaml_tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    if (auto documents = kipvs::config::yamlDocumentsToJson(text)) {
        kipvs::watch::StringPool pool;
        kipvs::watch::Decoder decoder(pool);
        for (auto& document : *documents) {
            std::string copy = document;
            std::vector<kipvs::watch::Rejection> rejected;
            (void)decoder.manifest(copy, rejected);
        }
    }
    (void)kipvs::watch::loadYamlTree(text);
    return 0;
}
