// SPDX-License-Identifier: Apache-2.0
// --manifests: parsing files of every shape, and following a folder with inotify.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "daemon/manifest_source.h"
#include "temp_dir.h"

using namespace kipvs;
using namespace kipvs::daemon;

namespace {

const char* kServiceYaml = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ports: [{name: http, port: 80, protocol: TCP}]
)";

std::string sliceYaml(const std::string& address)
{
    return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: default\n"
           "  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{name: http, port: 8080}]\n"
           "endpoints:\n- addresses: [" +
           address + "]\n";
}

// Records what the source delivers, as the daemon would see it.
struct RecordingSink : ObjectSink {
    std::map<std::string, watch::Service> services;
    std::map<std::string, watch::EndpointSlice> slices;
    std::vector<std::string> nodes;
    std::map<std::string, watch::ServiceCidr> ranges;
    std::vector<std::string> failures;
    std::vector<watch::Rejection> rejections;
    int syncedKinds = 0;
    int changes = 0;

    void upsert(const watch::Service& s) override { services.insert_or_assign(s.key.toString(), s), ++changes; }
    void upsert(const watch::EndpointSlice& s) override { slices.insert_or_assign(s.key.toString(), s), ++changes; }
    void upsert(const watch::Node& n) override { nodes.push_back(n.key.name), ++changes; }
    void upsert(const watch::ServiceCidr& r) override { ranges.insert_or_assign(r.key.name, r), ++changes; }
    void remove(watch::Kind kind, const watch::ObjectKey& key) override
    {
        if (kind == watch::Kind::Service)
            services.erase(key.toString());
        if (kind == watch::Kind::EndpointSlice)
            slices.erase(key.toString());
        if (kind == watch::Kind::ServiceCidr)
            ranges.erase(key.name);
        ++changes;
    }
    void synced(watch::Kind) override { ++syncedKinds; }
    void rejected(const std::string&, const watch::Rejection& r) override { rejections.push_back(r); }
    void sourceFailed(const Error& e) override { failures.push_back(e.message()); }
};

// Runs the loop until `done` holds or two seconds pass.
template <typename F>
bool runUntil(asio::io_context& io, F done)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
    }
    return done();
}

std::string firstEndpoint(const RecordingSink& sink)
{
    auto s = sink.slices.find("default/web-1");
    return s == sink.slices.end() || s->second.endpoints.empty() ? "" : s->second.endpoints[0].address.toString();
}

}  // namespace

TEST_CASE("Manifests: one JSON object, a JSON List, YAML documents; invalid objects rejected one by one", "[unit]")
{
    watch::StringPool pool;
    watch::Decoder decoder(pool);
    std::vector<watch::Rejection> rejected;

    auto one =
        parseManifest("a.json", R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a"}})", decoder, rejected);
    REQUIRE(one);
    REQUIRE(one->size() == 1);
    CHECK(std::get<watch::Node>(one->at(0)).key.name == "node-a");

    auto list =
        parseManifest("b.json",
                      R"({"kind":"List","items":[)" + std::string(R"({"kind":"Node","metadata":{"name":"n1"}},)") +
                          R"({"kind":"Node","metadata":{"name":"n2"}}]})",
                      decoder, rejected);
    REQUIRE(list);
    CHECK(list->size() == 2);

    auto yaml = parseManifest("c.yaml",
                              std::string(kServiceYaml) + "---\n" + sliceYaml("10.244.1.10") +
                                  "---\nkind: Service\nmetadata: {name: bad, namespace: default}\n"
                                  "spec: {clusterIP: 10.96.0.300, ports: [{port: 80}]}\n",
                              decoder, rejected);
    REQUIRE(yaml);
    CHECK(yaml->size() == 2);
    REQUIRE(rejected.size() == 1);
    CHECK(rejected[0].object == "default/bad");

    auto broken = parseManifest("d.yaml", "kind: [unclosed\n", decoder, rejected);
    REQUIRE(!broken);
    CHECK(broken.error().object == "d.yaml");
    auto notJson = parseManifest("e.json", "{", decoder, rejected);
    REQUIRE(!notJson);
    CHECK(notJson.error().object == "e.json");
}

TEST_CASE("A manifest folder is followed: edits, new files, invalid files kept at their last good state, removals",
          "[unit]")
{
    test::TempDir dir;
    dir.write("web.yaml", kServiceYaml);
    dir.write("web-slice.yml", sliceYaml("10.244.1.10"));
    dir.write("notes.txt", "not a manifest");
    asio::io_context io;
    watch::StringPool pool;
    RecordingSink sink;
    ManifestSource source(io, dir.path.string(), pool, sink);
    REQUIRE(source.start(ManifestSource::Mode::Follow));
    CHECK(sink.syncedKinds == 4);
    CHECK(sink.services.count("default/web") == 1);
    CHECK(firstEndpoint(sink) == "10.244.1.10");
    CHECK(sink.failures.empty());

    SECTION("an edited file delivers the change")
    {
        dir.write("web-slice.yml", sliceYaml("10.244.1.11"));
        CHECK(runUntil(io, [&] { return firstEndpoint(sink) == "10.244.1.11"; }));
    }
    SECTION("an unchanged rewrite delivers nothing")
    {
        const int before = sink.changes;
        dir.write("web.yaml", kServiceYaml);
        runUntil(io, [] { return false; });
        CHECK(sink.changes == before);
    }
    SECTION("a file that turns invalid is reported and keeps its objects")
    {
        dir.write("web-slice.yml", "endpoints: [unclosed\n");
        CHECK(runUntil(io, [&] { return !sink.failures.empty(); }));
        CHECK(sink.failures[0].find("web-slice.yml") != std::string::npos);
        CHECK(firstEndpoint(sink) == "10.244.1.10");
        dir.write("web-slice.yml", sliceYaml("10.244.1.12"));
        CHECK(runUntil(io, [&] { return firstEndpoint(sink) == "10.244.1.12"; }));
    }
    SECTION("a removed file removes its objects; a file moved in adds them")
    {
        std::filesystem::remove(dir.path / "web.yaml");
        CHECK(runUntil(io, [&] { return sink.services.empty(); }));
        dir.write(".staging", kServiceYaml);
        std::filesystem::rename(dir.path / ".staging", dir.path / "web.yaml");
        CHECK(runUntil(io, [&] { return sink.services.count("default/web") == 1; }));
    }
    source.stop();
}

TEST_CASE("A manifest folder that does not exist fails to start", "[unit]")
{
    asio::io_context io;
    watch::StringPool pool;
    RecordingSink sink;
    ManifestSource source(io, "/nonexistent/kipvs-manifests", pool, sink);
    auto started = source.start(ManifestSource::Mode::ReadOnce);
    REQUIRE(!started);
    CHECK(started.error().message().find("/nonexistent/kipvs-manifests") != std::string::npos);
}
