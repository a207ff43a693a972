//! The scheduler: what whoever holds the I/O lock does next (a control,
//! a group, or a sync), how much one group takes, and how long a group or
//! a sync waits for the writers recent groups served. Call its functions
//! with the I/O lock held, except [`gather_for_sync`] (the sync thread's).

use std::sync::atomic::Ordering;
use std::sync::{Condvar, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::control::Control;
use crate::options::CommitOptions;
use crate::queue::{Queue, Request, Shared, pending_bytes, synced_or_submitted};

/// The longest [`gather`] waits, whatever the syncs take.
pub(crate) const MAX_GATHER: Duration = Duration::from_millis(2);

/// What the I/O thread does next.
pub(crate) enum Work {
    Control(Control),
    Group(Vec<Request>),
    /// Everything is written; sync what was written unsynced.
    Sync,
}

/// Takes the next control operation, else the next group (within the
/// group limits; a request is never split). Call with the I/O lock held.
pub(crate) fn take_work(shared: &Shared) -> Option<Work> {
    let mut q = shared.lock();
    if let Some(c) = q.controls.pop_front() {
        return Some(Work::Control(c));
    }
    q = gather(shared, q);
    if let Some(c) = q.controls.pop_front() {
        return Some(Work::Control(c));
    }
    take_group(&shared.options, &mut q)
        .map(Work::Group)
        .or_else(|| (q.sync_to > synced_or_submitted(shared, &q)).then_some(Work::Sync))
}

pub(crate) fn take_group(opts: &CommitOptions, q: &mut Queue) -> Option<Vec<Request>> {
    let mut group = Vec::new();
    let (mut records, mut bytes) = (0usize, 0usize);
    while let Some(front) = q.requests.front() {
        let fits = records + front.records.len() <= opts.max_group_records
            && bytes + front.bytes <= opts.max_group_bytes;
        if !group.is_empty() && !fits {
            break;
        }
        records += front.records.len();
        bytes += front.bytes;
        if let Some(r) = q.requests.pop_front() {
            group.push(r);
        }
    }
    if !group.is_empty() {
        q.writing = true;
        // Decays by a quarter per group, so a burst that is over stops
        // making groups wait within a few of them.
        q.writers = q.peak.max(q.writers * 3 / 4);
        q.peak = q.waiting;
    }
    (!group.is_empty()).then_some(group)
}

/// Before a group is taken, waits a little for the writers that recent
/// groups served and that are not queued yet: the callers the last sync
/// acknowledged come back with their next records within microseconds,
/// while the sync they would otherwise miss takes a whole disk flush.
/// Taking the group at once can split W steady writers into smaller
/// groups that take turns (one syncing while the other gathers): at
/// W = 16, 1 KiB, 9 records per sync without the wait, 14 with it.
///
/// Waits only while fewer callers wait than recent groups served (so a
/// lone writer, or a group that is already whole, never waits), at most
/// half the recent sync time, and not with `max_delay` (which waits on its
/// own terms) or when the group is full, a control is queued or the log
/// is closing. Call with the I/O lock held.
pub(crate) fn gather<'a>(
    shared: &'a Shared,
    mut q: MutexGuard<'a, Queue>,
) -> MutexGuard<'a, Queue> {
    let opts = &shared.options;
    if !opts.adaptive_delay || opts.max_delay.is_some() || q.requests.is_empty() {
        return q;
    }
    // A sync is in flight on the sync thread: the group cannot be synced
    // before it returns, so waiting would only delay the write.
    if q.sync_submitted > shared.watermark.durable() {
        return q;
    }
    let target = q.gather_target();
    if q.waiting >= target {
        return q;
    }
    let budget = gather_budget(shared);
    q.gathering += 1;
    q = wait_while(&shared.gathered, q, Instant::now() + budget, |q| {
        q.waiting < target
            && q.controls.is_empty()
            && !q.closing
            && q.requests.len() < opts.max_group_records
            && pending_bytes(&q.requests) < opts.max_group_bytes
    });
    q.gathering -= 1;
    q
}

/// Before the sync thread starts a sync, waits a little for the writers
/// the last sync acknowledged, as [`gather`] does before a group is
/// taken: until as many callers wait as recent groups served and none of
/// their records is still queued or being written (so the sync covers
/// them), at most half the recent sync time. Without it, W steady writers
/// split in two halves that take turns, one written while the other's
/// sync runs.
pub(crate) fn gather_for_sync(shared: &Shared) {
    let opts = &shared.options;
    if !opts.adaptive_delay || opts.max_delay.is_some() {
        return;
    }
    let mut q = shared.lock();
    let target = q.gather_target();
    let unwritten = |q: &Queue| !q.requests.is_empty() || q.writing;
    if q.waiting >= target && !unwritten(&q) {
        return;
    }
    let budget = gather_budget(shared);
    q.gathering += 1;
    q = wait_while(&shared.gathered, q, Instant::now() + budget, |q| {
        (q.waiting < target || unwritten(q)) && q.controls.is_empty() && !q.closing
    });
    q.gathering -= 1;
}

/// How long [`gather`] and [`gather_for_sync`] wait at most: half the
/// recent sync time, never more than [`MAX_GATHER`].
pub(crate) fn gather_budget(shared: &Shared) -> Duration {
    Duration::from_nanos(shared.sync_nanos.load(Ordering::Relaxed) / 2).min(MAX_GATHER)
}

/// Waits on `cond` while `waiting` holds, until `deadline` at the latest.
pub(crate) fn wait_while<'a>(
    cond: &Condvar,
    mut q: MutexGuard<'a, Queue>,
    deadline: Instant,
    waiting: impl Fn(&Queue) -> bool,
) -> MutexGuard<'a, Queue> {
    while waiting(&q) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        q = cond
            .wait_timeout(q, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    q
}
