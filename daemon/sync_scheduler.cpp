// SPDX-License-Identifier: Apache-2.0
// The bounded-frequency sync decisions (see sync_scheduler.h).
#include "daemon/sync_scheduler.h"

#include <algorithm>

namespace kipvs::daemon {

SyncScheduler::SyncScheduler(Clock::duration minInterval, Clock::duration fullInterval, Clock::time_point start)
    : minInterval_(minInterval), fullInterval_(fullInterval), nextFull_(start + fullInterval)
{}

SyncScheduler::Decision SyncScheduler::next(Clock::time_point now) const
{
    using Action = Decision::Action;
    if (!ready_ || running_)
        return {};  // asked again when the sources sync or the running sync finishes
    if (!startedOnce_)
        return {Action::Start, SyncKind::Incremental, {}};  // the first sync reads everything itself
    if (continues_)
        return {Action::Start, SyncKind::FullContinued, {}};
    if (reads_ == FullReads::Done)
        return {Action::Start, SyncKind::Full, {}};
    if (reads_ == FullReads::NotDue && now >= nextFull_)
        return {Action::Read, SyncKind::Full, {}};
    // While the reads run, only changes and retries start syncs (readFinished() asks again).
    const Clock::time_point full = reads_ == FullReads::Running ? Clock::time_point::max() : nextFull_;
    if (!changePending_ && !retryPending_)
        return full == Clock::time_point::max() ? Decision{} : Decision{Action::WaitUntil, SyncKind::Incremental, full};
    const Clock::duration wait = changePending_ ? minInterval_ : retryDelay();
    const Clock::time_point earliest = startedOnce_ ? lastStart_ + wait : now;
    if (now >= earliest)
        return {Action::Start, SyncKind::Incremental, {}};
    return {Action::WaitUntil, SyncKind::Incremental, earliest < full ? earliest : full};
}

void SyncScheduler::readStarted(Clock::time_point now)
{
    reads_ = FullReads::Running;
    nextFull_ = now + fullInterval_;
}

void SyncScheduler::readFinished()
{
    reads_ = FullReads::Done;
}

void SyncScheduler::started(SyncKind kind, Clock::time_point now)
{
    // The first sync reads the kernel as a full one does: the next full sync is a period later.
    if (!startedOnce_ || (kind == SyncKind::Full && reads_ != FullReads::Done))
        nextFull_ = now + fullInterval_;
    if (kind == SyncKind::Full)
        reads_ = FullReads::NotDue;
    continues_ = false;
    running_ = true;
    startedOnce_ = true;
    lastStart_ = now;
    changePending_ = false;  // a sync takes every change made before it started
    retryPending_ = false;
}

void SyncScheduler::finished(Outcome outcome)
{
    running_ = false;
    retryPending_ = outcome == Outcome::Retry;
    failures_ = outcome == Outcome::Retry ? failures_ + 1 : 0;
}

SyncScheduler::Clock::duration SyncScheduler::retryDelay() const
{
    Clock::duration delay = std::max<Clock::duration>(minInterval_, std::chrono::seconds(1));
    for (unsigned n = 1; n < failures_ && delay < fullInterval_; ++n)
        delay *= 2;
    return std::min(delay, std::max(fullInterval_, minInterval_));
}

}  // namespace kipvs::daemon
