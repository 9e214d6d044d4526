// SPDX-License-Identifier: Apache-2.0
// The bounded-frequency sync decisions, as tables of events and the time they happen.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "daemon/sync_scheduler.h"

using namespace kipvs::daemon;
using namespace std::chrono_literals;
using Action = SyncScheduler::Decision::Action;
using Clock = SyncScheduler::Clock;

namespace {

const Clock::time_point t0 = Clock::time_point{} + 1000s;

struct Step {
    // "synced", "changed", "started", "started-full", "started-continued", "read-started",
    // "read-finished", "continues" (the running full sync has more to compare), "done", "retry", "ask"
    std::string event;
    Clock::duration at;
    // For "ask": what next() must say.
    SyncScheduler::Decision expected{};
};

SyncScheduler::Decision start(SyncKind kind)
{
    return {Action::Start, kind, {}};
}

// A full sync is due: its reads come first.
SyncScheduler::Decision readFull()
{
    return {Action::Read, SyncKind::Full, {}};
}

SyncScheduler::Decision waitUntil(Clock::duration at)
{
    return {Action::WaitUntil, SyncKind::Incremental, t0 + at};
}

void play(const std::vector<Step>& steps)
{
    // --ipvs-min-sync-period 1s, --ipvs-sync-period 30s
    SyncScheduler scheduler(1s, 30s, t0);
    for (const auto& step : steps) {
        INFO(step.event << " at " << std::chrono::duration_cast<std::chrono::milliseconds>(step.at).count() << " ms");
        const auto now = t0 + step.at;
        if (step.event == "synced")
            scheduler.sourcesSynced();
        else if (step.event == "changed")
            scheduler.changed();
        else if (step.event == "started")
            scheduler.started(SyncKind::Incremental, now);
        else if (step.event == "started-full")
            scheduler.started(SyncKind::Full, now);
        else if (step.event == "started-continued")
            scheduler.started(SyncKind::FullContinued, now);
        else if (step.event == "continues")
            scheduler.fullSyncContinues();
        else if (step.event == "read-started")
            scheduler.readStarted(now);
        else if (step.event == "read-finished")
            scheduler.readFinished();
        else if (step.event == "done")
            scheduler.finished(SyncScheduler::Outcome::Done);
        else if (step.event == "retry")
            scheduler.finished(SyncScheduler::Outcome::Retry);
        else if (step.event == "ask") {
            const auto got = scheduler.next(now);
            CHECK(static_cast<int>(got.action) == static_cast<int>(step.expected.action));
            if (got.action == Action::Start)
                CHECK(static_cast<int>(got.kind) == static_cast<int>(step.expected.kind));
            if (got.action == Action::WaitUntil)
                CHECK((got.at - t0) / 1ms == (step.expected.at - t0) / 1ms);
        } else
            FAIL("unknown event " << step.event);
    }
}

}  // namespace

TEST_CASE("Nothing syncs before the sources have synced, not even the periodic full sync; then the first sync, "
          "which reads everything itself: the full sync a period after it",
          "[unit]")
{
    play({{"changed", 0s},
          {"ask", 0s, {}},
          {"ask", 45s, {}},
          {"synced", 46s},
          {"ask", 46s, start(SyncKind::Incremental)},
          {"started", 46s},
          {"done", 70s},  // a first sync as long as at 50,000 Services
          {"ask", 70s, waitUntil(76s)},
          {"ask", 76s, readFull()}});
}

TEST_CASE("The first sync starts once the sources synced, change or not; a later change starts one at once", "[unit]")
{
    play({{"synced", 0s},
          {"ask", 0s, start(SyncKind::Incremental)},
          {"started", 0s},
          {"done", 1s},
          {"ask", 1s, waitUntil(30s)},
          {"changed", 2s},
          {"ask", 2s, start(SyncKind::Incremental)}});
}

TEST_CASE("Changes within the minimum period wait for it, counted from the last start", "[unit]")
{
    play({{"synced", 0s},
          {"changed", 0s},
          {"started", 0s},
          {"done", 100ms},
          {"changed", 200ms},
          {"ask", 200ms, waitUntil(1s)},
          {"changed", 500ms},
          {"ask", 500ms, waitUntil(1s)},
          {"ask", 1s, start(SyncKind::Incremental)}});
}

TEST_CASE("Never two syncs at once: changes during a sync are taken after it", "[unit]")
{
    play({{"synced", 0s},
          {"changed", 0s},
          {"started", 0s},
          {"changed", 3s},
          {"ask", 3s, {}},  // running: asked again when it finishes
          {"done", 5s},
          {"ask", 5s, start(SyncKind::Incremental)}});
}

TEST_CASE("A sync that took every change leaves nothing but the next full sync", "[unit]")
{
    play({{"synced", 0s}, {"changed", 0s}, {"started", 0s}, {"done", 1s}, {"ask", 5s, waitUntil(30s)}});
}

TEST_CASE("A sync with refused operations asks for another after the minimum period", "[unit]")
{
    play({{"synced", 0s},
          {"changed", 0s},
          {"started", 0s},
          {"retry", 200ms},
          {"ask", 200ms, waitUntil(1s)},
          {"ask", 1s, start(SyncKind::Incremental)}});
}

TEST_CASE("Failed syncs in a row back off: 1 s, 2 s, 4 s... up to the sync period; a success resets it", "[unit]")
{
    play({{"synced", 0s},
          {"changed", 0s},
          {"started", 0s},
          {"retry", 100ms},
          {"ask", 100ms, waitUntil(1s)},
          {"started", 1s},
          {"retry", 1100ms},
          {"ask", 1100ms, waitUntil(3s)},
          {"started", 3s},
          {"retry", 3100ms},
          {"ask", 3100ms, waitUntil(7s)},
          {"ask", 7s, start(SyncKind::Incremental)},
          {"started", 7s},
          {"retry", 7100ms},
          {"ask", 7100ms, waitUntil(15s)},
          {"started", 15s},
          {"retry", 15100ms},
          {"ask", 15100ms, waitUntil(30s)},  // 16 s would pass the full sync, due at 30 s
          {"started-full", 30s},
          {"retry", 30100ms},
          {"ask", 30100ms, waitUntil(60s)},  // capped at the sync period
          {"started-full", 60s},
          {"done", 60100ms},
          {"changed", 61s},
          {"ask", 61s, start(SyncKind::Incremental)},
          {"started", 61s},
          {"retry", 61100ms},
          {"ask", 61100ms, waitUntil(62s)}});  // the success reset the backoff
}

TEST_CASE("A new change during a backoff goes after the minimum period, not the backoff", "[unit]")
{
    play({{"synced", 0s},
          {"changed", 0s},
          {"started", 0s},
          {"retry", 100ms},
          {"started", 1s},
          {"retry", 1100ms},
          {"started", 3s},
          {"retry", 3100ms},
          {"changed", 3200ms},
          {"ask", 3200ms, waitUntil(4s)},
          {"ask", 4s, start(SyncKind::Incremental)}});
}

TEST_CASE("The full sync comes every sync period, counted from the last full start", "[unit]")
{
    play({{"synced", 0s},
          {"started", 0s},
          {"done", 1s},
          {"ask", 29s, waitUntil(30s)},
          {"ask", 30s, readFull()},
          {"read-started", 30s},
          {"read-finished", 31s},
          {"ask", 31s, start(SyncKind::Full)},
          {"started-full", 31s},
          {"done", 32s},
          {"ask", 32s, waitUntil(60s)},  // from the start of the reads
          {"changed", 59500ms},
          {"ask", 59500ms, start(SyncKind::Incremental)},
          {"started", 59500ms},
          {"done", 59600ms},
          {"ask", 60s, readFull()}});
}

TEST_CASE("A full sync due while one runs starts when it finishes, ahead of pending changes", "[unit]")
{
    play({{"synced", 0s},
          {"started", 0s},  // the first sync
          {"done", 100ms},
          {"changed", 29s},
          {"started", 29s},
          {"changed", 29500ms},
          {"ask", 30s, {}},
          {"done", 31s},
          {"ask", 31s, readFull()}});
}

TEST_CASE("A wait for the minimum period never passes the full sync's deadline", "[unit]")
{
    play({{"synced", 0s},
          {"started", 0s},  // the first sync
          {"done", 100ms},
          {"ask", 29900ms, waitUntil(30s)},
          {"changed", 29900ms},
          {"started", 29900ms},
          {"done", 29950ms},
          {"changed", 29960ms},
          {"ask", 29960ms, waitUntil(30s)},
          {"ask", 30s, readFull()}});
}

TEST_CASE("Changes sync while a full sync's reads run; the full sync starts once they are done, ahead of changes",
          "[unit]")
{
    play({{"synced", 0s},
          {"started", 0s},  // the first sync
          {"done", 100ms},
          {"ask", 30s, readFull()},
          {"read-started", 30s},
          {"ask", 30s, {}},  // nothing to do until a change comes or the reads are done
          {"changed", 30500ms},
          {"ask", 30500ms, start(SyncKind::Incremental)},
          {"started", 30500ms},
          {"done", 30510ms},
          {"changed", 30600ms},
          {"ask", 30600ms, waitUntil(31500ms)},  // the minimum period still holds
          {"ask", 31500ms, start(SyncKind::Incremental)},
          {"started", 31500ms},
          {"read-finished", 31600ms},
          {"ask", 31600ms, {}},  // a sync runs: the full sync waits for it
          {"changed", 31700ms},
          {"done", 31800ms},
          {"ask", 31800ms, start(SyncKind::Full)},
          {"started-full", 31800ms},
          {"done", 33s},
          {"ask", 33s, waitUntil(60s)},  // the full sync took the change that waited for it
          {"ask", 60s, readFull()}});
}

TEST_CASE("A full sync with more to compare is continued at once, past the minimum period and a retry's backoff, "
          "each continuation taking the changes made meanwhile; then the period holds again",
          "[unit]")
{
    play({{"synced", 0s},
          {"started", 0s},
          {"done", 100ms},
          {"ask", 30s, readFull()},
          {"read-started", 30s},
          {"read-finished", 30800ms},
          {"ask", 30800ms, start(SyncKind::Full)},
          {"started-full", 30800ms},
          {"changed", 30801ms},
          {"continues", 30802ms},
          {"done", 30802ms},
          {"ask", 30802ms, start(SyncKind::FullContinued)},  // not at 31.8 s, the minimum period
          {"started-continued", 30802ms},
          {"ask", 30802ms, {}},  // never two at a time
          {"continues", 30804ms},
          {"retry", 30804ms},  // a refused operation: the continuation retries it
          {"ask", 30804ms, start(SyncKind::FullContinued)},
          {"started-continued", 30804ms},
          {"done", 30806ms},  // the last range
          {"ask", 30806ms, waitUntil(60s)},  // it took the change, and the retry
          {"changed", 30900ms},
          {"ask", 30900ms, waitUntil(31804ms)},  // the minimum period, from the last start
          {"ask", 60s, readFull()}});  // a period after the reads started
}
