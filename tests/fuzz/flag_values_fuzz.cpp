// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: arbitrary text as the value of each kind of flag (durations, CIDR lists,
// bind addresses, numbers, port ranges, detectors, feature gates), through the whole command
// line parser with its validation, and through the value parsers directly.
// Properties: no crash (an uncaught exception aborts), no leak, no hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/inet_address.h"
#include "config/options.h"

namespace {

// Flags that take a value and read no file: --config, --kubeconfig and --manifests are left out.
const char* const kFlags[] = {
    "--ipvs-sync-period",
    "--ipvs-min-sync-period",
    "--ipvs-tcp-timeout",
    "--ipvs-udp-timeout",
    "--cluster-cidr",
    "--ipvs-exclude-cidrs",
    "--nodeport-addresses",
    "--healthz-bind-address",
    "--metrics-bind-address",
    "--bind-address",
    "--service-node-port-range",
    "--oom-score-adj",
    "--kube-api-qps",
    "--kube-api-burst",
    "--conntrack-max-per-core",
    "--conntrack-min",
    "--v",
    "--detect-local-mode",
    "--feature-gates",
    "--ipvs-scheduler",
    "--config-sync-period",
    "--conntrack-tcp-timeout-established",
    "--healthz-port",
    "--metrics-port",
    "--pod-interface-name-prefix",
    "--pod-bridge-interface",
    "--hostname-override",
    "--logging-format",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    const std::string value(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::string flag = std::string(kFlags[data[0] % std::size(kFlags)]) + "=" + value;
    const std::vector<const char*> argv{"kube-ipvsd", flag.c_str()};
    (void)kipvs::config::parseCommandLine(static_cast<int>(argv.size()), argv.data());
    (void)kipvs::config::parseDuration(value);
    (void)kipvs::config::parseBindAddress(value);
    (void)kipvs::Cidr::parse(value);
    (void)kipvs::InetAddress::parse(value);
    return 0;
}
