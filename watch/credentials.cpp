// SPDX-License-Identifier: Apache-2.0
// Token files, exec credential plugins and static credentials (see credentials.h).
#include "watch/credentials.h"

#include "base/rfc3339.h"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <rapidjson/document.h>

extern char** environ;

namespace kipvs::watch {

namespace {

constexpr auto kTokenFileRereadInterval = std::chrono::minutes(1);

std::string trim(std::string s)
{
    const char* space = " \t\r\n";
    s.erase(0, s.find_first_not_of(space));
    s.erase(s.find_last_not_of(space) + 1);
    return s;
}

struct Fd {
    int fd = -1;
    ~Fd()
    {
        if (fd >= 0)
            close(fd);
    }
};

}  // namespace

CredentialSource::CredentialSource(ClusterAccess access, Clock clock, std::chrono::milliseconds execTimeout)
    : access_(std::move(access)), clock_(std::move(clock)), execTimeout_(execTimeout)
{}

void CredentialSource::rejected()
{
    fileStale_ = true;
    execValid_ = false;
}

Result<void> CredentialSource::refreshTokenFile()
{
    auto content = readFile(access_.tokenFile);
    fileReadAt_ = clock_();
    fileStale_ = false;
    if (!content)
        return tl::unexpected(content.error());
    std::string token = trim(*content);
    // The kubelet swaps the file atomically, but a reader can still catch an empty one.
    if (token.empty())
        return fail(Error::Domain::Config, ENODATA, "read token file", "'" + access_.tokenFile + "'",
                    "the file is empty");
    fileToken_ = std::move(token);
    return {};
}

namespace {

// The plugin's command line and environment, as posix_spawn takes them: its own variables plus
// KUBERNETES_EXEC_INFO, which says it may not prompt.
struct PluginCommand {
    std::vector<std::string> argStore, envStore;
    std::vector<char*> argv, envp;

    explicit PluginCommand(const ExecConfig& exec)
    {
        argStore.push_back(exec.command);
        argStore.insert(argStore.end(), exec.args.begin(), exec.args.end());
        for (char** e = environ; *e; ++e)
            envStore.emplace_back(*e);
        for (const auto& [name, value] : exec.env)
            envStore.push_back(name + "=" + value);
        const std::string version = exec.apiVersion.empty() ? "client.authentication.k8s.io/v1" : exec.apiVersion;
        envStore.push_back("KUBERNETES_EXEC_INFO={\"apiVersion\":\"" + version +
                           "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}");
        for (auto& a : argStore)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        for (auto& e : envStore)
            envp.push_back(e.data());
        envp.push_back(nullptr);
    }
};

constexpr size_t kMaxPluginOutput = size_t{1} << 20;

enum class PluginEnd { Closed, TooLarge, TimedOut };

// The plugin's stdout until it closes it, writes more than 1 MiB, or `deadline` passes.
PluginEnd readOutput(int fd, std::chrono::steady_clock::time_point deadline, std::string& output)
{
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return PluginEnd::TimedOut;
        pollfd p{fd, POLLIN, 0};
        int ready = poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0)
            return PluginEnd::TimedOut;
        char buffer[4096];
        ssize_t n = ready < 0 ? -1 : read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PluginEnd::Closed;
        output.append(buffer, static_cast<size_t>(n));
        if (output.size() > kMaxPluginOutput)
            return PluginEnd::TooLarge;
    }
}

// Waits for `pid` to exit until `deadline`; then kills its whole process group (the plugin and
// anything it started) and reaps it. Returns its wait status, and whether it had to be killed.
std::pair<int, bool> reap(pid_t pid, std::chrono::steady_clock::time_point deadline, bool killNow)
{
    int status = 0;
    while (!killNow) {
        const pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR))
            return {status, false};
        if (std::chrono::steady_clock::now() >= deadline)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return {status, true};
}

}  // namespace

Result<std::string> CredentialSource::runPlugin(const ExecConfig& exec, const std::string& object)
{
    int pipeFds[2];
    if (pipe2(pipeFds, O_CLOEXEC) != 0)
        return fail(Error::Domain::System, errno, "run exec credential plugin", object);
    Fd readEnd{pipeFds[0]}, writeEnd{pipeFds[1]};
    PluginCommand command(exec);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, writeEnd.fd, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    // A process group of its own, so the deadline can kill whatever the plugin started too.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
    pid_t pid;
    int spawned =
        posix_spawnp(&pid, exec.command.c_str(), &actions, &attributes, command.argv.data(), command.envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0)
        return fail(Error::Domain::System, spawned, "run exec credential plugin", object);
    close(writeEnd.fd);
    writeEnd.fd = -1;
    // One hard deadline for the whole run: reading, and waiting for it to exit after it closed
    // its output (a plugin may close stdout and go on running).
    const auto deadline = std::chrono::steady_clock::now() + execTimeout_;
    std::string output;
    const PluginEnd end = readOutput(readEnd.fd, deadline, output);
    const auto [status, killed] = reap(pid, deadline, end != PluginEnd::Closed);
    if (end == PluginEnd::TooLarge)
        return fail(Error::Domain::System, E2BIG, "run exec credential plugin", object,
                    "it wrote more than 1 MiB; killed");
    if (killed)
        return fail(Error::Domain::System, ETIMEDOUT, "run exec credential plugin", object,
                    "no answer within " + std::to_string(execTimeout_.count()) + " ms; killed");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(Error::Domain::System, ECHILD, "run exec credential plugin", object,
                    "it exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1));
    return output;
}

Result<void> CredentialSource::runExec()
{
    const ExecConfig& exec = *access_.exec;
    const std::string object = "'" + exec.command + "'";
    KIPVS_ASSIGN_OR_RETURN(const std::string output, runPlugin(exec, object));
    rapidjson::Document doc;
    doc.Parse(output.c_str(), output.size());
    // Never echo the output: it holds the credential.
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("status") || !doc["status"].IsObject())
        return fail(Error::Domain::Decode, EINVAL, "run exec credential plugin", object,
                    "its output is not an ExecCredential");
    const auto& status = doc["status"];
    auto field = [&](const char* name) {
        return status.HasMember(name) && status[name].IsString() ? std::string(status[name].GetString())
                                                                 : std::string();
    };
    Credential credential{field("token"), field("clientCertificateData"), field("clientKeyData")};
    if (credential.token.empty() && (credential.clientCertPem.empty() || credential.clientKeyPem.empty()))
        return fail(Error::Domain::Decode, EINVAL, "run exec credential plugin", object,
                    "it returned neither a token nor a certificate");
    auto expiry = field("expirationTimestamp");
    execExpires_ = std::chrono::system_clock::time_point::max();
    if (!expiry.empty()) {
        auto parsed = parseRfc3339(expiry);
        if (!parsed)
            return fail(Error::Domain::Decode, EINVAL, "run exec credential plugin", object, "bad expirationTimestamp");
        execExpires_ = *parsed;
    }
    execCredential_ = std::move(credential);
    execValid_ = true;
    return {};
}

Result<Credential> CredentialSource::current()
{
    Credential out{access_.token, access_.clientCertPem, access_.clientKeyPem};
    if (access_.exec) {
        if (!execValid_ || clock_() >= execExpires_) {
            KIPVS_TRY(runExec());
            // An already expired credential is used once rather than looping on the plugin.
        }
        if (!execCredential_.token.empty())
            out.token = execCredential_.token;
        if (!execCredential_.clientCertPem.empty()) {
            out.clientCertPem = execCredential_.clientCertPem;
            out.clientKeyPem = execCredential_.clientKeyPem;
        }
        return out;
    }
    if (!access_.tokenFile.empty()) {
        if (fileStale_ || clock_() - fileReadAt_ >= kTokenFileRereadInterval) {
            auto refreshed = refreshTokenFile();
            if (!refreshed && fileToken_.empty() && access_.token.empty())
                return tl::unexpected(refreshed.error());
            // Otherwise keep the last good token (client-go logs "Unable to rotate token").
        }
        if (!fileToken_.empty())
            out.token = fileToken_;
    }
    return out;
}

}  // namespace kipvs::watch
