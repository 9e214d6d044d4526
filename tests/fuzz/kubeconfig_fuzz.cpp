// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary bytes as a kubeconfig. Files it names are read only where they
// exist (relative ones under a folder that does not), each bounded in size.
// Properties: no crash, no leak, no hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "watch/cluster_access.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    (void)kipvs::watch::parseKubeconfig(text, "/nonexistent-kipvs-fuzz/kubeconfig");
    (void)kipvs::watch::parseKubeconfig(text, "/nonexistent-kipvs-fuzz/kubeconfig", "https://[fd00::1]:6443");
    return 0;
}
