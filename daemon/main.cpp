// SPDX-License-Identifier: Apache-2.0
// kube-ipvsd: the Kubernetes service proxy in IPVS mode. Parses the command line (exit 2 on any
// invalid input), then runs the daemon or one of the one-shot commands.
#include <csignal>
#include <cstdio>
#include <exception>

#include "config/options.h"
#include "daemon/daemon.h"
#include "daemon/one_shot.h"
#include "daemon/process_settings.h"
#include "log/log.h"

namespace {

// What main() was doing when an exception escaped: reading the input (exit 2, as for any invalid
// input) or running (exit 1).
enum class Phase { ReadingInput, Running };

int run(int argc, char** argv, Phase& phase)
{
    using namespace kipvs::daemon;
    using kipvs::config::CommandLine;
    using kipvs::config::parseCommandLine;
    using kipvs::logging::Logger;
    auto commandLine = parseCommandLine(argc, argv);
    if (!commandLine) {
        std::fprintf(stderr, "kube-ipvsd: %s\n", commandLine.error().message().c_str());
        return 2;
    }
    if (commandLine->action != CommandLine::Action::Run) {
        std::fputs(commandLine->text.c_str(), stdout);
        return 0;
    }
    phase = Phase::Running;
    std::signal(SIGPIPE, SIG_IGN);  // a probe that hangs up mid-answer is not fatal
    const kipvs::config::Options& options = commandLine->options;
    Logger log(options.verbosity, options.loggingFormat);
    for (const auto& warning : options.warnings)
        log.warning(warning);
    if (!options.writeConfigTo.empty())
        return writeConfig(options, log);
    if (options.cleanup)
        return runCleanup(options, log);
    if (options.initOnly)
        return runInitOnly(options, log);
    keepFreedMemoryReturnable();
    if (options.oomScoreAdj && !options.dryRun)
        if (auto applied = applyOomScoreAdj(*options.oomScoreAdj); !applied)
            log.warning("Failed to apply OOMScore: " + applied.error().message() + ", ignoring");
    Daemon daemon(options, log);
    return daemon.run();
}

}  // namespace

int main(int argc, char** argv)
{
    Phase phase = Phase::ReadingInput;
    try {
        return run(argc, argv, phase);
    } catch (const std::exception& e) {
        // Every library call is meant to be caught where it is made; this is the last line.
        std::fprintf(stderr, "kube-ipvsd: %s: %s\n", phase == Phase::ReadingInput ? "invalid input" : "stopped",
                     e.what());
    } catch (...) {
        std::fprintf(stderr, "kube-ipvsd: stopped by an unknown exception\n");
    }
    return phase == Phase::ReadingInput ? 2 : 1;
}
