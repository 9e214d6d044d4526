// SPDX-License-Identifier: Apache-2.0
// One rule for a key given twice in one object, on every input path: the last value wins, as
// Go's encoding/json (the API server's and client-go's decoder) and sigs.k8s.io/yaml read it.
#include <catch2/catch.hpp>

#include "config/options.h"
#include "config/yaml_json.h"
#include "temp_dir.h"
#include "watch/cluster_access.h"
#include "watch/decoder.h"

using namespace kipvs;
using namespace kipvs::watch;

namespace {

// The ClusterIP a Service manifest (JSON) decodes to.
std::string clusterIpOf(const std::string& json)
{
    StringPool pool;
    Decoder decoder(pool);
    std::string eventJson = R"({"type":"ADDED","object":)" + json + "}";
    auto event = decoder.serviceEvent(eventJson);
    REQUIRE(event);
    REQUIRE_FALSE(event->rejected);
    REQUIRE(event->object);
    REQUIRE(event->object->clusterIPs.size() == 1);
    return event->object->clusterIPs[0].toString();
}

}  // namespace

TEST_CASE("A key given twice keeps its last value: JSON objects", "[unit]")
{
    CHECK(clusterIpOf(R"({"kind":"Service","metadata":{"name":"web","namespace":"shop","name":"web2"},)"
                      R"("spec":{"clusterIP":"10.96.0.1","clusterIP":"10.96.0.2","ports":[{"port":80}]}})") ==
          "10.96.0.2");
    // The whole spec given twice: the second one is the object.
    CHECK(clusterIpOf(R"({"kind":"Service","metadata":{"name":"web","namespace":"shop"},)"
                      R"("spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]},)"
                      R"("spec":{"clusterIP":"10.96.0.3","ports":[{"port":81}]}})") == "10.96.0.3");
}

TEST_CASE("A key given twice keeps its last value: YAML manifests", "[unit]")
{
    auto json = config::yamlDocumentsToJson(R"(kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.1
  ports: [{port: 80}]
  clusterIP: 10.96.0.4
)");
    REQUIRE(json);
    REQUIRE(json->size() == 1);
    CHECK(clusterIpOf(json->front()) == "10.96.0.4");
}

TEST_CASE("A key given twice keeps its last value: kubeconfig and KubeProxyConfiguration", "[unit]")
{
    test::TempDir dir;
    const std::string kubeconfig = dir.write("kubeconfig", R"(apiVersion: v1
kind: Config
current-context: first
clusters:
- name: main
  cluster: {server: "https://192.0.2.1:6443", server: "https://192.0.2.2:6443"}
contexts:
- name: main
  context: {cluster: main}
current-context: main
)");
    auto access = loadKubeconfig(kubeconfig);
    REQUIRE(access);
    CHECK(access->server.host == "192.0.2.2");

    const std::string config = dir.write("config.yaml", R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
ipvs:
  scheduler: rr
  scheduler: lc
)");
    std::vector<const char*> argv{"kube-ipvsd", nullptr};
    const std::string flag = "--config=" + config;
    argv[1] = flag.c_str();
    auto cl = config::parseCommandLine(static_cast<int>(argv.size()), argv.data());
    REQUIRE(cl);
    CHECK(cl->options.ipvsScheduler == "lc");
}

TEST_CASE("YAML inputs stay bounded: an alias bomb in a kubeconfig fails with a reason", "[unit]")
{
    test::TempDir dir;
    // Nine levels of ten aliases each: 10^10 nodes from a few hundred bytes.
    std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char level = 'b'; level <= 'j'; ++level) {
        const std::string previous = std::string("*") + static_cast<char>(level - 1);
        bomb += std::string(1, level) + ": &" + level + " [" + previous;
        for (int i = 1; i < 10; ++i)
            bomb += ", " + previous;
        bomb += "]\n";
    }
    auto access = loadKubeconfig(dir.write("kubeconfig", bomb + "current-context: x\n"));
    REQUIRE_FALSE(access);
    CHECK(access.error().message().find("more nodes than twice its size") != std::string::npos);
}
