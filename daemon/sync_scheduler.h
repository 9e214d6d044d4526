// SPDX-License-Identifier: Apache-2.0
// When syncs run, as kube-proxy's bounded-frequency runner decides it: nothing before the
// sources have synced; a change starts a sync at once, or when --ipvs-min-sync-period has
// passed since the last one started; never two at a time; a full sync (drift check, host
// re-read) every --ipvs-sync-period. A sync that left work undone is retried with no new input,
// with exponential backoff: 1 s (or the minimum period, if longer) after the first failure,
// doubling with each consecutive one up to the sync period; a new change is not held back by it.
// The first sync starts once the sources synced, change or not, and reads the kernel itself (the
// next full sync is a period after it). A full sync's reads come first (Action::Read) and syncs
// go on while they run; the full sync starts once they are done, and its continuations (see
// SyncKind) follow it at once, each taking the changes made meanwhile.
// Pure: the caller passes the time, so tables test it.
#pragma once

#include <chrono>

namespace kipvs::daemon {

// An incremental sync programs what changed; a full one also re-reads the host's addresses and
// checks the kernel for drift, comparing a range of virtual servers; each FullContinued one after
// it is an incremental sync that also compares the next range, until all are compared.
enum class SyncKind { Incremental, Full, FullContinued };

class SyncScheduler {
public:
    using Clock = std::chrono::steady_clock;

    // `start` is when the daemon started: the first full sync is due one `fullInterval` later.
    SyncScheduler(Clock::duration minInterval, Clock::duration fullInterval, Clock::time_point start);

    // What the caller should do now.
    struct Decision {
        // Read: start a full sync's reads (readStarted(), then readFinished() when done).
        enum class Action { Nothing, Start, Read, WaitUntil };
        Action action = Action::Nothing;
        SyncKind kind = SyncKind::Incremental;  // with Start
        Clock::time_point at{};  // with WaitUntil: ask again then
        bool operator==(const Decision&) const = default;
    };
    Decision next(Clock::time_point now) const;

    // The sources delivered everything that existed at start: syncs may begin.
    void sourcesSynced() { ready_ = true; }
    // Something changed: an incremental sync is wanted.
    void changed() { changePending_ = true; }
    // The caller started the sync next() asked for.
    void started(SyncKind kind, Clock::time_point now);
    // The caller started a full sync's reads, which are done.
    void readStarted(Clock::time_point now);
    void readFinished();
    // The running full sync (or its continuation) left virtual servers to compare: the next
    // sync, at once, is a FullContinued one.
    void fullSyncContinues() { continues_ = true; }
    // The running sync finished; `retry`: it left work undone, so another one is wanted.
    enum class Outcome { Done, Retry };
    void finished(Outcome outcome);
    bool running() const { return running_; }
    // Failed syncs in a row (0 after a success).
    unsigned consecutiveFailures() const { return failures_; }

private:
    Clock::duration retryDelay() const;

    Clock::duration minInterval_;
    Clock::duration fullInterval_;
    Clock::time_point lastStart_{};
    Clock::time_point nextFull_;
    bool ready_ = false;
    bool running_ = false;
    bool changePending_ = false;
    bool retryPending_ = false;
    bool continues_ = false;
    enum class FullReads { NotDue, Running, Done };
    FullReads reads_ = FullReads::NotDue;
    unsigned failures_ = 0;
    bool startedOnce_ = false;
};

}  // namespace kipvs::daemon
