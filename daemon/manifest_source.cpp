// SPDX-License-Identifier: Apache-2.0
// Manifest files as the object source, followed with inotify (see manifest_source.h).
#include "daemon/manifest_source.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include <sys/inotify.h>
#include <unistd.h>

#include "config/yaml_json.h"
#include "daemon/process_settings.h"
#include "watch/cluster_access.h"

namespace kipvs::daemon {

namespace {

namespace fs = std::filesystem;

// As large as an API response may be (watch/api_connection.h): under the pod's memory limit.
constexpr size_t kMaxManifestBytes = size_t{256} << 20;

bool isManifest(const std::string& name)
{
    if (name.starts_with("."))  // editors' swap files, kubelet's ..data links
        return false;
    return name.ends_with(".json") || name.ends_with(".yaml") || name.ends_with(".yml");
}

watch::Kind kindOf(const watch::AnyObject& object)
{
    return static_cast<watch::Kind>(object.index());
}

const watch::ObjectKey& keyOf(const watch::AnyObject& object)
{
    return std::visit([](const auto& o) -> const watch::ObjectKey& { return o.key; }, object);
}

}  // namespace

Result<std::vector<watch::AnyObject>> parseManifest(const std::string& path, std::string content,
                                                    watch::Decoder& decoder, std::vector<watch::Rejection>& rejected)
{
    auto named = [&](Error e) {
        e.object = path;
        return tl::unexpected(std::move(e));
    };
    std::vector<std::string> documents;
    if (path.ends_with(".json")) {
        documents.push_back(std::move(content));
    } else {
        auto converted = config::yamlDocumentsToJson(content);
        if (!converted)
            return named(converted.error());
        documents = std::move(*converted);
    }
    std::vector<watch::AnyObject> out;
    for (auto& document : documents) {
        auto objects = decoder.manifest(document, rejected);
        if (!objects)
            return named(objects.error());
        std::move(objects->begin(), objects->end(), std::back_inserter(out));
    }
    return out;
}

ManifestSource::ManifestSource(asio::io_context& io, std::string directory, watch::StringPool& pool, ObjectSink& sink)
    : io_(io), directory_(std::move(directory)), decoder_(pool), sink_(sink), settle_(io)
{}

ManifestSource::~ManifestSource()
{
    try {
        stop();
    } catch (const std::exception&) {
        // Cancelling a timer throws only when the reactor itself fails; a destructor must not.
    }
}

Result<void> ManifestSource::start(Mode mode)
{
    std::error_code ec;
    if (!fs::is_directory(directory_, ec))
        return fail(Error::Domain::Config, ENOTDIR, "read manifests", directory_, "not a readable folder");
    if (mode == Mode::Follow) {
        const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
            return fail(Error::Domain::System, errno, "inotify_init1", directory_);
        if (inotify_add_watch(fd, directory_.c_str(),
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0) {
            const int error = errno;
            close(fd);
            return fail(Error::Domain::System, error, "inotify_add_watch", directory_);
        }
        inotify_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
        readEvents();
    }
    rescan();
    for (auto kind : {watch::Kind::Service, watch::Kind::EndpointSlice, watch::Kind::Node, watch::Kind::ServiceCidr})
        sink_.synced(kind);
    return {};
}

void ManifestSource::stop()
{
    settle_.cancel();
    if (inotify_) {
        boost::system::error_code ignored;
        inotify_->close(ignored);
        inotify_.reset();
    }
}

void ManifestSource::readEvents()
{
    inotify_->async_read_some(asio::buffer(events_), [this](const boost::system::error_code& ec, size_t) {
        if (ec)
            return;  // closed by stop()
        // Editors and `kubectl`-style tools write in several steps: wait for the folder to settle.
        settle_.expires_after(std::chrono::milliseconds(100));
        settle_.async_wait([this](const boost::system::error_code& waited) {
            if (!waited)
                rescan();
        });
        readEvents();
    });
}

std::map<ManifestSource::ObjectId, watch::AnyObject> ManifestSource::merged() const
{
    // Files in name order; an object defined twice takes the later file's version.
    std::map<ObjectId, watch::AnyObject> all;
    for (const auto& [name, file] : files_)
        for (const auto& [id, object] : file.objects)
            all.insert_or_assign(id, object);
    return all;
}

void ManifestSource::rescan()
{
    const auto before = merged();
    std::map<std::string, FileState> next;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(directory_, ec)) {
        const std::string name = entry.path().filename().string();
        if (!isManifest(name) || !entry.is_regular_file(ec))
            continue;
        const std::string path = entry.path().string();
        auto content = watch::readFile(path, kMaxManifestBytes);
        auto previous = files_.find(name);
        if (!content) {
            sink_.sourceFailed(content.error());
            if (previous != files_.end())
                next.insert(*previous);  // keep its last good objects
            continue;
        }
        const std::pair digest{content->size(), std::hash<std::string>{}(*content)};
        if (previous != files_.end() && previous->second.digest == digest) {
            next.insert(*previous);
            continue;
        }
        std::vector<watch::Rejection> rejected;
        auto objects = parseManifest(path, *content, decoder_, rejected);
        if (!objects) {
            sink_.sourceFailed(objects.error());
            if (previous != files_.end())
                next.insert(*previous);
            continue;
        }
        for (const auto& r : rejected)
            sink_.rejected("manifests", r);
        FileState state{digest, {}};
        for (auto& object : *objects)
            state.objects.insert_or_assign(ObjectId{kindOf(object), keyOf(object)}, std::move(object));
        next.emplace(name, std::move(state));
    }
    if (ec)
        sink_.sourceFailed(Error{Error::Domain::System, ec.value(), "read manifests", directory_, ec.message()});
    files_ = std::move(next);
    deliver(before, merged());
    returnFreeMemory();  // the files' text and the parsed documents are gone
}

void ManifestSource::deliver(const std::map<ObjectId, watch::AnyObject>& before,
                             const std::map<ObjectId, watch::AnyObject>& after)
{
    for (const auto& [id, object] : before)
        if (!after.count(id))
            sink_.remove(static_cast<watch::Kind>(object.index()),
                         std::visit([](const auto& o) { return o.key; }, object));
    for (const auto& [id, object] : after) {
        auto old = before.find(id);
        if (old == before.end() || !(old->second == object))
            std::visit([this](const auto& o) { sink_.upsert(o); }, object);
    }
}

}  // namespace kipvs::daemon
