// SPDX-License-Identifier: Apache-2.0
// kube-ipvsd: the Kubernetes service proxy in IPVS mode. Parses the command line (exit 2 on any
// invalid input), then runs the daemon or one of the one-shot commands.
#include <csignal>
#include <cstdio>

#include "config/options.h"
#include "daemon/daemon.h"
#include "daemon/one_shot.h"
#include "daemon/process_settings.h"
#include "log/log.h"

int main(int argc, char** argv)
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
    if (options.oomScoreAdj && !options.dryRun)
        if (auto applied = applyOomScoreAdj(*options.oomScoreAdj); !applied)
            log.warning("Failed to apply OOMScore: " + applied.error().message() + ", ignoring");
    Daemon daemon(options, log);
    return daemon.run();
}
