// SPDX-License-Identifier: Apache-2.0
// --manifests DIR: Services, EndpointSlices and Nodes read from *.json, *.yaml and *.yml files
// (one object, a List, or several YAML documents per file) and followed with inotify. Each
// change of the folder's content reaches the sink as the same upserts and removals a watch
// would deliver. A file that cannot be read or parsed is reported and keeps its last good
// objects, so one bad edit never takes services down.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/asio.h"
#include "daemon/object_sink.h"
#include "watch/decoder.h"

namespace kipvs::daemon {

namespace asio = boost::asio;

// The objects of one manifest file's content; `path` picks the syntax (.json or YAML) and names
// the file in errors. Invalid objects go to `rejected`; a file that is not JSON/YAML fails.
Result<std::vector<watch::AnyObject>> parseManifest(const std::string& path, std::string content,
                                                    watch::Decoder& decoder, std::vector<watch::Rejection>& rejected);

class ManifestSource {
public:
    // `pool` and `sink` are borrowed.
    ManifestSource(asio::io_context& io, std::string directory, watch::StringPool& pool, ObjectSink& sink);
    ~ManifestSource();
    ManifestSource(const ManifestSource&) = delete;
    ManifestSource& operator=(const ManifestSource&) = delete;

    enum class Mode { ReadOnce, Follow };
    // Reads the folder, delivers everything and reports every kind synced; with Follow, then
    // watches the folder. A folder that cannot be read fails (nothing to serve).
    Result<void> start(Mode mode);
    void stop();
    // Reads the folder again and delivers the differences (what inotify triggers).
    void rescan();

private:
    using ObjectId = std::pair<watch::Kind, watch::ObjectKey>;
    struct FileState {
        // The content's size and hash, to tell an unchanged file (the text itself is not kept:
        // it can be hundreds of MB).
        std::pair<size_t, size_t> digest;
        std::map<ObjectId, watch::AnyObject> objects;
    };
    void readEvents();
    void deliver(const std::map<ObjectId, watch::AnyObject>& before, const std::map<ObjectId, watch::AnyObject>& after);
    std::map<ObjectId, watch::AnyObject> merged() const;

    asio::io_context& io_;
    std::string directory_;
    watch::Decoder decoder_;
    ObjectSink& sink_;
    std::map<std::string, FileState> files_;  // by file name
    std::unique_ptr<asio::posix::stream_descriptor> inotify_;
    asio::steady_timer settle_;
    std::array<char, 8192> events_{};
};

}  // namespace kipvs::daemon
