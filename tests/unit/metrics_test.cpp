// SPDX-License-Identifier: Apache-2.0
// /metrics: kube-proxy's names, types, buckets and labels, and this daemon's own.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include "status/metrics.h"

using kipvs::status::Metrics;

namespace {

bool has(const std::string& text, const std::string& line)
{
    return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("kube-proxy's metric families with their types, buckets and labels", "[unit]")
{
    Metrics m;
    m.syncDuration(AF_INET, 0.003);
    m.networkProgramming(AF_INET6, 2.5);
    m.serviceChange();
    m.endpointChange();
    m.endpointChange();
    m.pendingChanges(1, 2);
    m.noLocalEndpoints("external", AF_INET, 3);
    m.healthzResponse(503);
    const auto text = m.render();

    CHECK(has(text, "# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram"));
    // ExponentialBuckets(0.001, 2, 15): 1 ms up to 16.384 s.
    CHECK(has(text, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"} 0"));
    CHECK(has(text, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.004\"} 1"));
    CHECK(has(text, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"16.384\"} 1"));
    CHECK(has(text, "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv6\",le=\"2\"} 0"));
    CHECK(has(text, "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv6\",le=\"3\"} 1"));
    CHECK(has(text, "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv6\",le=\"300\"} 1"));
    CHECK(has(text, "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge"));
    CHECK(has(text, "# TYPE kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds gauge"));
    CHECK(has(text, "kubeproxy_sync_proxy_rules_service_changes_total 1"));
    CHECK(has(text, "kubeproxy_sync_proxy_rules_endpoint_changes_total 2"));
    CHECK(has(text, "kubeproxy_sync_proxy_rules_service_changes_pending 1"));
    CHECK(has(text, "kubeproxy_sync_proxy_rules_endpoint_changes_pending 2"));
    CHECK(has(text,
              "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"external\"} 3"));
    CHECK(has(text,
              "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv6\",traffic_policy=\"internal\"} 0"));
    CHECK(has(text, "kubeproxy_proxy_healthz_total{code=\"503\"} 1"));
    CHECK(has(text, "# TYPE kubeproxy_sync_proxy_rules_iptables_restore_failures_total counter"));
    CHECK(has(text, "# TYPE process_cpu_seconds_total counter"));
    CHECK(has(text, "# TYPE process_resident_memory_bytes gauge"));
    CHECK(has(text, "process_open_fds "));
}

TEST_CASE("The daemon's own metrics: netlink operations and errors, watch totals, rejections", "[unit]")
{
    Metrics m;
    m.netlinkOperations("add real server", 3);
    m.netlinkOperations("add real server", 2);
    m.netlinkError("add virtual server", ENOENT);
    m.watchRestarts("services", 2);
    m.watchRestarts("services", 5);
    m.watchRestarts("services", 4);  // a total never goes back
    m.watchRelists("endpointslices", 1);
    m.objectRejected("services", "invalid-ip");
    m.driftRepairs(2);
    m.virtualServerConflicts(1);
    const auto text = m.render();
    CHECK(has(text, "kube_ipvsd_netlink_operations_total{command=\"add real server\"} 5"));
    CHECK(has(text, "kube_ipvsd_netlink_errors_total{command=\"add virtual server\",errno=\"ENOENT\"} 1"));
    CHECK(has(text, "kube_ipvsd_watch_restarts_total{resource=\"services\"} 5"));
    CHECK(has(text, "kube_ipvsd_watch_relists_total{resource=\"endpointslices\"} 1"));
    CHECK(has(text, "kube_ipvsd_objects_rejected_total{reason=\"invalid-ip\",resource=\"services\"} 1"));
    CHECK(has(text, "kube_ipvsd_drift_repairs_total 2"));
    CHECK(has(text, "kube_ipvsd_virtual_server_conflicts 1"));
}
