// SPDX-License-Identifier: Apache-2.0
// What a sync's outcome tells the world: only a sync that applied everything is a success.
#include <catch2/catch.hpp>

#include <sstream>
#include <tuple>

#include "daemon/sync_report.h"

using namespace kipvs;

namespace {

// The value of an unlabelled or ip_family="IPv4" sample of `name` in the metrics text.
double sample(const std::string& text, const std::string& name)
{
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with(name + " ") || line.starts_with(name + "{ip_family=\"IPv4\"} "))
            return std::stod(line.substr(line.rfind(' ') + 1));
    return -1;
}

// A reporter with its metrics, health and a log written to `logs`.
struct Rig {
    status::Metrics metrics;
    proxy::HealthMonitor health{std::chrono::seconds(30), {AF_INET, AF_INET6}};
    std::ostringstream logs;
    logging::Logger log{2, logging::LogFormat::Text, logs};
    daemon::SyncReporter reporter{metrics, health, log};
    auto parts() { return std::tie(metrics, logs, reporter); }
};

}  // namespace

TEST_CASE("A sync with refused operations is not a success; the pending count says what is left", "[unit]")
{
    Rig rig;
    auto [metrics, logs, reporter] = rig.parts();  // references into the rig
    const char* last = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";

    daemon::SyncOutcome refused;
    refused.ok = true;  // the sync ran to its end, but the kernel refused one operation
    refused.errors.push_back({Error::Domain::Kernel, ENOMEM, "add real server", "TCP 10.96.0.10:80", ""});
    refused.pendingKeys = 3;
    reporter.syncFinished(refused, 10);
    CHECK(sample(metrics.render(), last) == 0);
    CHECK(sample(metrics.render(), "kube_ipvsd_sync_pending_virtual_servers") == 3);
    CHECK(logs.str().find("add real server TCP 10.96.0.10:80") != std::string::npos);

    daemon::SyncOutcome failed;  // the sync as a whole failed (a dump, a send)
    failed.errors.push_back({Error::Domain::Netlink, ENOBUFS, "dump virtual servers", "", ""});
    failed.pendingKeys = 10;
    reporter.syncFinished(failed, 10);
    CHECK(sample(metrics.render(), last) == 0);
    CHECK(sample(metrics.render(), "kube_ipvsd_sync_pending_virtual_servers") == 10);

    daemon::SyncOutcome done;
    done.ok = true;
    reporter.syncFinished(done, 10);
    CHECK(sample(metrics.render(), last) > 0);
    CHECK(sample(metrics.render(), "kube_ipvsd_sync_pending_virtual_servers") == 0);
}

TEST_CASE("A sync with thousands of refusals logs ten of them and a count, and counts them all", "[unit]")
{
    status::Metrics metrics;
    proxy::HealthMonitor health(std::chrono::seconds(30), {AF_INET});
    std::ostringstream logs;
    logging::Logger log(2, logging::LogFormat::Text, logs);
    daemon::SyncReporter reporter(metrics, health, log);
    daemon::SyncOutcome flushed;
    flushed.ok = true;
    for (int i = 0; i < 3000; ++i)
        flushed.errors.push_back({Error::Domain::Kernel, ESRCH, "add real server", "TCP 10.100.0.1:80", ""});
    reporter.syncFinished(flushed, 1000);
    const std::string text = logs.str();
    size_t lines = 0;
    for (size_t at = text.find("add real server"); at != std::string::npos; at = text.find("add real server", at + 1))
        ++lines;
    CHECK(lines == 10);
    CHECK(text.find("and 2990 more errors in this sync") != std::string::npos);
    CHECK(metrics.render().find("kube_ipvsd_netlink_errors_total{command=\"add real server\",errno=\"ESRCH\"} 3000") !=
          std::string::npos);
}

TEST_CASE("The sync line names its steps, and the latency from the change once a sync succeeds", "[unit]")
{
    Rig rig;
    auto [metrics, logs, reporter] = rig.parts();  // references into the rig

    reporter.changed(daemon::ChangeKind::Endpoints, daemon::SyncReporter::Health::Queue);
    reporter.syncStarting({});
    daemon::SyncOutcome failed;
    failed.operationsByVerb["add real server"] = 1;
    failed.errors.push_back({Error::Domain::Kernel, ENOMEM, "add real server", "TCP 10.96.0.10:80", ""});
    failed.steps["IPVS"] = std::chrono::microseconds(2500);
    reporter.syncFinished(failed, 10);
    CHECK(logs.str().find("(IPVS 2.5ms): 1 IPVS operations") != std::string::npos);
    CHECK(logs.str().find("after the change") == std::string::npos);  // not yet in the kernel

    reporter.syncStarting({});  // the retry carries the same change
    daemon::SyncOutcome done;
    done.ok = true;
    done.operationsByVerb["add real server"] = 1;
    reporter.syncFinished(done, 10);
    CHECK(logs.str().find("ms after the change") != std::string::npos);
    logs.str("");
    reporter.syncStarting({});  // nothing changed since: no latency to tell
    reporter.syncFinished(done, 10);
    CHECK(logs.str().find("after the change") == std::string::npos);
}

TEST_CASE("Network programming latency: each change once, when a sync carrying it succeeds", "[unit]")
{
    Rig rig;
    auto [metrics, logs, reporter] = rig.parts();  // references into the rig
    const char* count = "kubeproxy_network_programming_duration_seconds_count";
    const auto changedAt = std::chrono::system_clock::now() - std::chrono::seconds(1);

    reporter.triggered(AF_INET, changedAt);
    reporter.syncStarting({});
    daemon::SyncOutcome failed;
    failed.errors.push_back({Error::Domain::Netlink, ENOBUFS, "dump virtual servers", "", ""});
    reporter.syncFinished(failed, 10);
    CHECK(sample(metrics.render(), count) <= 0);  // not in the kernel yet

    reporter.triggered(AF_INET, changedAt);  // a second change, while the first is carried over
    reporter.syncStarting({});
    daemon::SyncOutcome done;
    done.ok = true;
    reporter.syncFinished(done, 10);
    CHECK(sample(metrics.render(), count) == 2);

    reporter.syncStarting({});  // nothing new: nothing observed again
    reporter.syncFinished(done, 10);
    CHECK(sample(metrics.render(), count) == 2);
    reporter.triggered(AF_INET, changedAt);
    reporter.syncStarting({});
    reporter.syncFinished(done, 10);
    CHECK(sample(metrics.render(), count) == 3);
}
