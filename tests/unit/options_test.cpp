// SPDX-License-Identifier: Apache-2.0
// kube-proxy's flags and defaults, the KubeProxyConfiguration file, and clear refusals.
#include <catch2/catch.hpp>

#include "config/options.h"
#include "temp_dir.h"

using namespace kipvs;
using namespace kipvs::config;
using kipvs::logging::LogFormat;
using namespace std::chrono_literals;

namespace {

Result<CommandLine> parse(std::vector<std::string> args)
{
    args.insert(args.begin(), "kube-ipvsd");
    std::vector<const char*> argv;
    for (const auto& a : args)
        argv.push_back(a.c_str());
    return parseCommandLine(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("Defaults are kube-proxy's for IPVS mode", "[unit]")
{
    auto cl = parse({});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.proxyMode == "ipvs");
    CHECK(o.ipvsSyncPeriod == 30s);
    CHECK(o.ipvsMinSyncPeriod == 1s);
    CHECK(o.healthzBindAddress == "0.0.0.0:10256");
    CHECK(o.metricsBindAddress == "127.0.0.1:10249");  // loopback, as kube-proxy
    CHECK(o.masqueradeBit == 14);
    CHECK(o.ipvsScheduler.empty());
    CHECK_FALSE(o.masqueradeAll);
    CHECK(o.verbosity == 0);
}

TEST_CASE("Flags as a DaemonSet passes them, Go style", "[unit]")
{
    auto cl = parse({"--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf", "--proxy-mode=ipvs", "--v=2",
                     "--hostname-override=node-a", "--cluster-cidr=10.244.0.0/16,fd00:244::/56",
                     "--nodeport-addresses=192.168.0.0/16,primary", "--masquerade-all=true", "--ipvs-scheduler=mh",
                     "--ipvs-sync-period=1m30s", "--ipvs-min-sync-period=500ms", "--ipvs-exclude-cidrs=10.200.0.0/16",
                     "--ipvs-strict-arp", "--ipvs-tcp-timeout=15m", "--ipvs-udp-timeout=30s"});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf");
    CHECK(o.verbosity == 2);
    CHECK(o.hostnameOverride == "node-a");
    CHECK(o.clusterCidrs.size() == 2);
    CHECK(o.nodePortAddresses.size() == 1);
    CHECK(o.nodePortPrimary);
    CHECK(o.masqueradeAll);
    CHECK(o.ipvsScheduler == "mh");
    CHECK(o.ipvsSyncPeriod == 90s);
    CHECK(o.ipvsMinSyncPeriod == 500ms);
    CHECK(o.ipvsExcludeCidrs.size() == 1);
    CHECK(o.ipvsStrictArp);
    CHECK(o.ipvsTcpTimeout == 900s);
    CHECK(o.ipvsUdpTimeout == 30s);
    CHECK(o.ipvsTcpFinTimeout == 0s);
}

TEST_CASE("Every invalid value is refused with one line naming the flag", "[unit]")
{
    struct Case {
        std::vector<std::string> args;
        const char* mentions;
    };
    const Case cases[] = {
        {{"--proxy-mode=iptables"}, "run kube-proxy itself"},
        {{"--proxy-mode=nftables"}, "IPVS mode only"},
        {{"--bogus"}, "--bogus"},
        {{"--cluster-cidr=10.0.0.0/33"}, "--cluster-cidr"},
        {{"--ipvs-sync-period=soon"}, "--ipvs-sync-period"},
        {{"--ipvs-sync-period=0"}, "greater than 0"},
        {{"--ipvs-min-sync-period=1m"}, "must not exceed"},
        {{"--v=loud"}, "--v"},
        {{"--iptables-masquerade-bit=40"}, "0..31"},
        {{"--logging-format=xml"}, "text or json"},
        {{"--output=yaml"}, "ipvsadm or json"},
        {{"--config=/nonexistent/kube-proxy.yaml"}, "/nonexistent/kube-proxy.yaml"},
        {{"--healthz-bind-address=10256"}, "--healthz-bind-address"},
        {{"--healthz-bind-address=::1:10256"}, "needs brackets"},
        {{"--metrics-bind-address=[::1]:99999"}, "is not a port"},
        {{"--metrics-bind-address=localhost:10249"}, "is not an IP address"},
    };
    for (const auto& c : cases) {
        INFO(c.args[0]);
        auto cl = parse(c.args);
        REQUIRE_FALSE(cl);
        CHECK(cl.error().domain == Error::Domain::Config);
        CHECK(cl.error().message().find(c.mentions) != std::string::npos);
    }
}

TEST_CASE("Bind addresses: IPv4, bracketed IPv6, port 0 for any", "[unit]")
{
    auto v4 = parseBindAddress("0.0.0.0:10256");
    REQUIRE(v4);
    CHECK(v4->host.toString() == "0.0.0.0");
    CHECK(v4->port == 10256);
    auto v6 = parseBindAddress("[::]:0");
    REQUIRE(v6);
    CHECK(v6->host.family() == AF_INET6);
    CHECK(v6->port == 0);
    auto disabled = parse({"--healthz-bind-address=", "--metrics-bind-address="});
    REQUIRE(disabled);
    CHECK(disabled->options.healthzBindAddress.empty());
}

TEST_CASE("--help and --version", "[unit]")
{
    auto help = parse({"--help"});
    REQUIRE(help);
    CHECK(help->action == CommandLine::Action::Help);
    for (const char* flag :
         {"--kubeconfig", "--proxy-mode", "--ipvs-scheduler", "--ipvs-exclude-cidrs", "--healthz-bind-address",
          "--metrics-bind-address", "--cleanup", "--manifests", "--dry-run"})
        CHECK(help->text.find(flag) != std::string::npos);
    auto version = parse({"--version"});
    REQUIRE(version);
    CHECK(version->text == "kube-ipvsd " KIPVS_VERSION "\n");
}

TEST_CASE("A KubeProxyConfiguration file replaces the flags, except --v and --hostname-override", "[unit]")
{
    kipvs::test::TempDir dir;
    const std::string path = dir.write("config.yaml", R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.244.0.0/16
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
iptables:
  masqueradeAll: true
ipvs:
  scheduler: lc
  syncPeriod: 1m
  excludeCIDRs: ["10.200.0.0/16"]
  strictARP: true
  udpTimeout: 10s
nodePortAddresses: ["primary"]
metricsBindAddress: 0.0.0.0:10249
)");
    auto cl = parse({"--config=" + path, "--ipvs-scheduler=rr", "--v=4", "--hostname-override=node-b"});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.ipvsScheduler == "lc");  // the file wins over the flag
    CHECK(o.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf");
    CHECK(o.masqueradeAll);
    CHECK(o.ipvsSyncPeriod == 60s);
    CHECK(o.ipvsMinSyncPeriod == 0ms);  // v1alpha1 leaves it unset in ipvs mode: every change syncs
    CHECK(o.ipvsExcludeCidrs.size() == 1);
    CHECK(o.ipvsStrictArp);
    CHECK(o.ipvsUdpTimeout == 10s);
    CHECK(o.nodePortPrimary);
    CHECK(o.metricsBindAddress == "0.0.0.0:10249");
    CHECK(o.verbosity == 4);
    CHECK(o.hostnameOverride == "node-b");

    const std::string unknown = dir.write(
        "unknown.yaml",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs:\n  schedular: lc\n");
    auto bad = parse({"--config=" + unknown});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("unknown field 'ipvs.schedular'") != std::string::npos);
    const std::string mode = dir.write(
        "mode.yaml", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n");
    CHECK_FALSE(parse({"--config=" + mode}));
    const std::string wrongKind = dir.write("kind.yaml", "apiVersion: v1\nkind: ConfigMap\n");
    CHECK_FALSE(parse({"--config=" + wrongKind}));
}

TEST_CASE("Go durations", "[unit]")
{
    CHECK(*parseDuration("30s") == 30s);
    CHECK(*parseDuration("1h2m3s") == 3723s);
    CHECK(*parseDuration("1.5s") == 1500ms);
    CHECK(*parseDuration("250ms") == 250ms);
    CHECK(*parseDuration("0") == 0ms);
    for (const char* bad : {"", "30", "s", "10x", "-1s"}) {
        INFO(bad);
        CHECK_FALSE(parseDuration(bad));
    }
}
