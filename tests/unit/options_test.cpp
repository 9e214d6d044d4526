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
                     "--nodeport-addresses=192.168.0.0/16,10.0.0.0/8", "--masquerade-all=true", "--ipvs-scheduler=mh",
                     "--ipvs-sync-period=1m30s", "--ipvs-min-sync-period=500ms", "--ipvs-exclude-cidrs=10.200.0.0/16",
                     "--ipvs-strict-arp", "--ipvs-tcp-timeout=15m", "--ipvs-udp-timeout=30s"});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf");
    CHECK(o.verbosity == 2);
    CHECK(o.hostnameOverride == "node-a");
    CHECK(o.clusterCidrs.size() == 2);
    CHECK(o.nodePortAddresses.size() == 2);
    CHECK_FALSE(o.nodePortPrimary);
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

TEST_CASE("--service-cluster-ip-range takes the API server's value, dual-stack included, and survives --config",
          "[unit]")
{
    auto none = parse({"--proxy-mode=ipvs"});
    REQUIRE(none);
    CHECK(none->options.serviceRanges.empty());  // the ServiceCIDR objects decide
    auto cl = parse({"--service-cluster-ip-range=10.96.0.0/12,fd00:10:96::/112"});
    REQUIRE(cl);
    REQUIRE(cl->options.serviceRanges.size() == 2);
    CHECK(cl->options.serviceRanges[0].toString() == "10.96.0.0/12");
    CHECK(cl->options.serviceRanges[1].toString() == "fd00:10:96::/112");
    kipvs::test::TempDir dir;
    const std::string path = dir.write("config.yaml", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                                      "kind: KubeProxyConfiguration\nmode: ipvs\n");
    auto withFile = parse({"--config=" + path, "--service-cluster-ip-range=10.96.0.0/16"});
    REQUIRE(withFile);
    CHECK(withFile->options.serviceRanges == std::vector<Cidr>{*Cidr::parse("10.96.0.0/16")});
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
        {{"--service-node-port-range=32767-30000"}, "--service-node-port-range"},
        {{"--service-node-port-range=30000-70000"}, "not a port range"},
        {{"--service-node-port-range=30000"}, "not a port range"},
        {{"--service-node-port-range=30000+0"}, "not a port range"},
        {{"--service-node-port-range= 30000-32767"}, "not a port range"},
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

TEST_CASE("--service-node-port-range takes the API server's syntax and survives --config", "[unit]")
{
    auto dflt = parse({});
    REQUIRE(dflt);
    CHECK(dflt->options.nodePortRange == PortRange{30000, 32767});
    auto dash = parse({"--service-node-port-range=20000-22767"});
    REQUIRE(dash);
    CHECK(dash->options.nodePortRange == PortRange{20000, 22767});
    auto plus = parse({"--service-node-port-range", "30000+100"});
    REQUIRE(plus);
    CHECK(plus->options.nodePortRange == PortRange{30000, 30099});
    kipvs::test::TempDir dir;
    const std::string path = dir.write("config.yaml", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                                      "kind: KubeProxyConfiguration\nmode: ipvs\n");
    auto withFile = parse({"--config=" + path, "--service-node-port-range=1-1024"});
    REQUIRE(withFile);
    CHECK(withFile->options.nodePortRange == PortRange{1, 1024});
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
    auto lenient = parse({"--config=" + unknown});
    REQUIRE(lenient);  // as upstream: decoded leniently, with a warning
    REQUIRE(lenient->options.warnings.size() == 1);
    CHECK(lenient->options.warnings[0] ==
          "Using lenient decoding as strict decoding failed: unknown field \"ipvs.schedular\"");
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
    CHECK(*parseDuration("-1s") == -1000ms);  // Go parses it; validation refuses it where it matters
    CHECK(*parseDuration("24h0m0s") == 86400s);
    CHECK(*parseDuration("1500us") == 1ms);
    CHECK(*parseDuration(".5s") == 500ms);
    const std::string longNumber(400, '9');
    for (const std::string& bad :
         std::vector<std::string>{"", "30", "s", "10x", "1..5s", ".", ".s", "-.s", "1e400s", "99999999999999999h",
                                  longNumber + "s", "1" + longNumber + "ms"}) {
        INFO(bad);
        CHECK_FALSE(parseDuration(bad));
    }
    // The same through the command line and a config file: one line and exit 2, never an abort.
    CHECK_FALSE(parse({"--ipvs-sync-period=.s"}));
    CHECK_FALSE(parse({"--ipvs-sync-period=" + longNumber + "s"}));
    kipvs::test::TempDir dir;
    const std::string path =
        dir.write("config.yaml", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                 "kind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  syncPeriod: " +
                                     longNumber + "s\n");
    auto fromFile = parse({"--config=" + path});
    REQUIRE_FALSE(fromFile);
    CHECK(fromFile.error().message().find("syncPeriod") != std::string::npos);
}

namespace {

std::string dataFile(const char* name)
{
    return std::string(KIPVS_TEST_DATA) + "/" + name;
}

bool mentions(const std::vector<std::string>& lines, const std::string& text)
{
    return std::any_of(lines.begin(), lines.end(), [&](const auto& l) { return l.find(text) != std::string::npos; });
}

}  // namespace

TEST_CASE("kubeadm's default KubeProxyConfiguration, nulls and zeros included, gives kube-proxy's defaults", "[unit]")
{
    auto cl = parse({"--config=" + dataFile("kubeadm-kube-proxy-config.yaml")});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf");
    CHECK(o.masqueradeBit == 14);  // masqueradeBit: null
    CHECK_FALSE(o.masqueradeAll);
    CHECK(o.ipvsSyncPeriod == 30s);  // syncPeriod: 0s is unset
    CHECK(o.ipvsMinSyncPeriod == 0s);
    CHECK(o.ipvsScheduler.empty());
    CHECK(o.ipvsExcludeCidrs.empty());
    CHECK(o.conntrack.maxPerCore == 32768);  // maxPerCore: null
    CHECK(o.conntrack.min == 131072);
    CHECK(o.conntrack.tcpEstablishedTimeout == 24h);
    CHECK(o.conntrack.tcpCloseWaitTimeout == 1h);
    CHECK(o.conntrack.udpTimeout == 0s);
    CHECK_FALSE(o.conntrack.tcpBeLiberal);
    CHECK(o.oomScoreAdj == -999);  // oomScoreAdj: null
    CHECK(o.apiQps == 5);  // qps: 0
    CHECK(o.apiBurst == 10);
    CHECK(o.detectLocalMode == LocalDetector::ClusterCidr);
    CHECK(o.clusterCidrs.empty());
    CHECK_FALSE(o.bindAddress);
    CHECK(o.healthzBindAddress == "0.0.0.0:10256");  // healthzBindAddress: ""
    CHECK(o.metricsBindAddress == "127.0.0.1:10249");
    CHECK(o.nodePortAddresses.empty());
    CHECK_FALSE(o.nodePortPrimary);
    CHECK(o.warnings.empty());  // every field is known and at its zero value
}

TEST_CASE("A legacy hand-written config decodes leniently: its settings apply, removed fields are named", "[unit]")
{
    auto cl = parse({"--config=" + dataFile("legacy-kube-proxy-config.yaml"), "--v=2"});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.kubeconfig == "/etc/kubernetes/kube-proxy.kubeconfig");
    REQUIRE(o.bindAddress);
    CHECK(o.bindAddress->toString() == "192.168.1.11");
    CHECK(o.apiQps == 20);
    CHECK(o.apiBurst == 40);
    CHECK(o.conntrack.maxPerCore == 131072);
    CHECK(o.conntrack.tcpEstablishedTimeout == 2h);
    CHECK(o.clusterCidrs.size() == 1);
    CHECK(o.hostnameOverride == "Node-1");  // lower-cased where the node name is decided
    CHECK(o.ipvsScheduler == "wrr");
    CHECK(o.ipvsMinSyncPeriod == 5s);
    CHECK(o.ipvsExcludeCidrs.size() == 1);
    CHECK(o.oomScoreAdj == -998);
    CHECK(o.metricsBindAddress == "0.0.0.0:10249");
    CHECK(o.verbosity == 2);
    REQUIRE(o.warnings.size() == 2);
    CHECK(o.warnings[0] == "Using lenient decoding as strict decoding failed: unknown field \"conntrack.max\", "
                           "unknown field \"resourceContainer\", unknown field \"udpIdleTimeout\"");
    CHECK(mentions(o.warnings, "fields without effect in IPVS mode: configSyncPeriod, iptables.syncPeriod, "
                               "clientConnection.contentType"));
}

TEST_CASE("Command lines as deployment tools write them start, with upstream's meaning", "[unit]")
{
    auto cl = parse({"--conntrack-max-per-core=131072", "--oom-score-adj=-998", "--detect-local-mode=BridgeInterface",
                     "--pod-bridge-interface=cni0", "--bind-address=0.0.0.0", "--conntrack-tcp-timeout-established=24h",
                     "--conntrack-tcp-timeout-close-wait=1h0m0s", "--conntrack-tcp-be-liberal",
                     "--conntrack-udp-timeout=30s", "--conntrack-udp-timeout-stream=2m", "--conntrack-min=0",
                     "--kube-api-qps=20", "--kube-api-burst=40", "--config-sync-period=15m", "--profiling=false",
                     "--feature-gates=PreferSameTrafficDistribution=false,AllAlpha=false", "--bind-address-hard-fail"});
    REQUIRE(cl);
    const auto& o = cl->options;
    CHECK(o.conntrack.maxPerCore == 131072);
    CHECK(o.conntrack.min == 0);
    CHECK(o.conntrack.tcpEstablishedTimeout == 24h);
    CHECK(o.conntrack.tcpCloseWaitTimeout == 1h);
    CHECK(o.conntrack.tcpBeLiberal);
    CHECK(o.conntrack.udpTimeout == 30s);
    CHECK(o.conntrack.udpStreamTimeout == 2min);
    CHECK(o.oomScoreAdj == -998);
    CHECK(o.detectLocalMode == LocalDetector::BridgeInterface);
    CHECK(o.podBridgeInterface == "cni0");
    CHECK_FALSE(o.bindAddress);  // 0.0.0.0: the node's own idea of its primary IP
    CHECK(o.apiQps == 20);
    CHECK(o.apiBurst == 40);
    CHECK(o.bindAddressHardFail);
    CHECK_FALSE(featureEnabled(o, "PreferSameTrafficDistribution"));
    CHECK(mentions(o.warnings, "no effect here: --profiling, --config-sync-period"));
    CHECK(mentions(o.warnings, "feature gates without effect on kube-ipvsd: AllAlpha=false"));

    auto prefix = parse({"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=veth"});
    REQUIRE(prefix);
    CHECK(prefix->options.detectLocalMode == LocalDetector::InterfaceNamePrefix);
    CHECK(prefix->options.podInterfaceNamePrefix == "veth");
    CHECK(featureEnabled(prefix->options, "PreferSameTrafficDistribution"));  // v1.35's default

    auto v6 = parse({"--bind-address=fd00::11"});
    REQUIRE(v6);
    CHECK(v6->options.bindAddress->toString() == "fd00::11");
    CHECK(v6->options.healthzBindAddress == "[::]:10256");  // IPv6 defaults, as upstream
    CHECK(v6->options.metricsBindAddress == "[::1]:10249");
}

TEST_CASE("klog's removed flags and underscores are accepted with one warning", "[unit]")
{
    auto cl = parse({"--logtostderr=true", "--alsologtostderr", "--log-file=/var/log/kube-proxy.log",
                     "--log_dir=/var/log", "--v=2", "--stderrthreshold=2", "--skip-headers=false"});
    REQUIRE(cl);
    CHECK(cl->options.verbosity == 2);
    REQUIRE(cl->options.warnings.size() == 1);
    CHECK(cl->options.warnings[0] == "klog flags removed from Kubernetes in v1.26 are ignored: --log-dir, --log-file, "
                                     "--stderrthreshold, --logtostderr, --alsologtostderr, --skip-headers");
}

TEST_CASE("The deprecated --healthz-port and --metrics-port replace the ports; 0 disables", "[unit]")
{
    auto cl = parse({"--healthz-port=0", "--metrics-port=10999"});
    REQUIRE(cl);
    CHECK(cl->options.healthzBindAddress.empty());
    CHECK(cl->options.metricsBindAddress == "127.0.0.1:10999");
}

TEST_CASE("Upstream's validation: each invalid setting is one line naming it", "[unit]")
{
    struct Case {
        std::vector<std::string> args;
        const char* mentions;
    };
    const Case cases[] = {
        {{"--cluster-cidr=10.0.0.0/16,10.1.0.0/16"}, "one IPv4 and one IPv6"},
        {{"--cluster-cidr=10.0.0.0/16,fd00::/64,fd01::/64"}, "--cluster-cidr"},
        {{"--service-cluster-ip-range=10.96.0.0/12,10.100.0.0/16"}, "one IPv4 and one IPv6"},
        {{"--service-cluster-ip-range=10.0.0.0/7"}, "too wide: the mask must be at least /8"},
        {{"--service-cluster-ip-range=fd00::/48"}, "at least /64"},
        {{"--service-cluster-ip-range=10.96.0.0"}, "--service-cluster-ip-range"},
        {{"--nodeport-addresses=primary,10.0.0.0/8"}, "can't use both 'primary' and CIDRs"},
        {{"--detect-local-mode=Bridge"}, "is not ClusterCIDR, NodeCIDR"},
        {{"--detect-local-mode=BridgeInterface"}, "--pod-bridge-interface"},
        {{"--detect-local-mode=BridgeInterface", "--pod-bridge-interface=a/b"}, "'a/b' is not an interface name"},
        {{"--detect-local-mode=InterfaceNamePrefix"}, "--pod-interface-name-prefix"},
        {{"--conntrack-max-per-core=-1"}, "--conntrack-max-per-core"},
        {{"--conntrack-min=-5"}, "--conntrack-min"},
        {{"--conntrack-tcp-timeout-established=-1s"}, "greater than or equal to 0"},
        {{"--conntrack-udp-timeout=soon"}, "--conntrack-udp-timeout"},
        {{"--ipvs-min-sync-period=-1s"}, "greater than or equal to 0"},
        {{"--ipvs-tcp-timeout=-5s"}, "--ipvs-tcp-timeout"},
        {{"--oom-score-adj=-1001"}, "outside -1000..1000"},
        {{"--oom-score-adj=low"}, "--oom-score-adj"},
        {{"--kube-api-burst=-1"}, "--kube-api-burst"},
        {{"--kube-api-qps=fast"}, "--kube-api-qps"},
        {{"--bind-address=node-1"}, "--bind-address"},
        {{"--feature-gates=PreferSameTrafficDistribution"}, "Name=true"},
        {{"--feature-gates=A=maybe"}, "Name=true"},
        {{"--hostname-override=  "}, "empty hostname-override"},
        {{"--masquerade-all=maybe"}, "--masquerade-all"},
    };
    for (const auto& c : cases) {
        INFO(c.args.back());
        auto cl = parse(c.args);
        REQUIRE_FALSE(cl);
        CHECK(cl.error().domain == Error::Domain::Config);
        CHECK(cl.error().message().find(c.mentions) != std::string::npos);
        CHECK(cl.error().message().find('\n') == std::string::npos);
    }
}

TEST_CASE("A config field of the wrong type or with an invalid value fails naming the field", "[unit]")
{
    kipvs::test::TempDir dir;
    struct Case {
        const char* body;
        const char* mentions;
    };
    const Case cases[] = {
        {"iptables:\n  masqueradeBit: high\n", "iptables.masqueradeBit"},
        {"iptables:\n  masqueradeBit: 40\n", "0..31"},
        {"conntrack:\n  maxPerCore: [1]\n", "conntrack.maxPerCore"},
        {"conntrack:\n  tcpEstablishedTimeout: forever\n", "conntrack.tcpEstablishedTimeout"},
        {"ipvs:\n  syncPeriod: 30\n", "ipvs.syncPeriod"},
        {"ipvs: 5\n", "ipvs must be a mapping"},
        {"ipvs:\n  excludeCIDRs: 10.0.0.0/8\n", "ipvs.excludeCIDRs"},
        {"ipvs:\n  strictARP: sometimes\n", "ipvs.strictARP"},
        {"oomScoreAdj: 2000\n", "outside -1000..1000"},
        {"clusterCIDR: 10.0.0.0/8,10.1.0.0/16\n", "--cluster-cidr"},
        {"detectLocalMode: InterfaceNamePrefix\n", "--pod-interface-name-prefix"},
        {"bindAddress: somewhere\n", "bindAddress"},
        {"featureGates:\n  Foo: perhaps\n", "featureGates.Foo"},
        {"nodePortAddresses: [primary, 10.0.0.0/8]\n", "can't use both"},
        {"logging:\n  format: xml\n", "logging.format"},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        const std::string path = dir.write(
            "bad.yaml",
            std::string("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n") + c.body);
        auto cl = parse({"--config=" + path});
        REQUIRE_FALSE(cl);
        CHECK(cl.error().message().find(c.mentions) != std::string::npos);
    }
}

TEST_CASE("--write-config-to writes a config that reads back into the same settings", "[unit]")
{
    kipvs::test::TempDir dir;
    auto first = parse({"--cluster-cidr=10.244.0.0/16", "--detect-local-mode=InterfaceNamePrefix",
                        "--pod-interface-name-prefix=veth", "--conntrack-max-per-core=0", "--ipvs-scheduler=mh",
                        "--ipvs-min-sync-period=250ms", "--nodeport-addresses=primary", "--oom-score-adj=-500",
                        "--feature-gates=PreferSameTrafficDistribution=false", "--bind-address=192.168.1.11"});
    REQUIRE(first);
    const std::string path = dir.write("written.yaml", renderConfig(first->options));
    auto again = parse({"--config=" + path});
    REQUIRE(again);
    const auto& a = first->options;
    const auto& b = again->options;
    CHECK(b.clusterCidrs == a.clusterCidrs);
    CHECK(b.detectLocalMode == a.detectLocalMode);
    CHECK(b.podInterfaceNamePrefix == a.podInterfaceNamePrefix);
    CHECK(b.conntrack.maxPerCore == 0);
    CHECK(b.conntrack.tcpEstablishedTimeout == a.conntrack.tcpEstablishedTimeout);
    CHECK(b.ipvsScheduler == "mh");
    CHECK(b.ipvsMinSyncPeriod == 250ms);
    CHECK(b.nodePortPrimary);
    CHECK(b.oomScoreAdj == -500);
    CHECK(b.featureGates == a.featureGates);
    CHECK(b.bindAddress == a.bindAddress);
    CHECK(b.healthzBindAddress == a.healthzBindAddress);
    CHECK(b.warnings.empty());
}
